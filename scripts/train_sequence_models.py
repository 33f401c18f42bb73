"""Train the bundled sequence models with PyTorch and export them to ``cimsim/data``.

Models:

* ``smnist_lstm`` — LSTM(28 → 96) over the 28 rows of each image, last hidden state →
  Linear(96 → 10); bundled 10k MNIST subset (8 000 train / 2 000 held out).
* ``smnist_ssm`` — two real diagonal state-space layers (28 → 128 states → 64, GELU;
  64 → 128 states → 64, GELU), mean over time → Linear(64 → 10); same data.
* ``charlm_transformer`` — character-level transformer language model on *The Tempest*
  (``cimsim/data/tempest.LICENSE``): embedding (d = 48) + sinusoidal positions, two pre-norm
  blocks (4-head causal attention, feed-forward 48 → 192 → 48 with GELU), final LayerNorm,
  Linear(48 → vocabulary); windows of 64 characters.

Training: Adam, cross-entropy, fixed seeds and single-threaded PyTorch (the same script and
PyTorch version reproduce the shipped weights); noise-aware: at every step each weight matrix
gets Gaussian noise of ``WEIGHT_NOISE`` × max|W| for the forward and backward pass (the clean
weights are updated), which makes the models tolerate the tiles' programming and read noise.
The cimsim networks are built from the trained PyTorch modules' parameters (PyTorch layouts,
see :mod:`cimsim.nn.recurrent`, :mod:`cimsim.nn.ssm`, :mod:`cimsim.nn.attention`) and their
float accuracy is measured with cimsim's own forward and stored in the metadata.

PyTorch is needed only here (``pip install torch``); cimsim itself does not use it.

Usage::

    python scripts/train_sequence_models.py [--only NAME ...] [--out-dir cimsim/data]
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from cimsim.nn.attention import Embedding, LayerNorm, MultiHeadAttention, PositionalEncoding
from cimsim.nn.layers import GELU, Linear, Residual
from cimsim.nn.models import save_model
from cimsim.nn.network import Network
from cimsim.nn.recurrent import LSTM
from cimsim.nn.seqdata import char_windows, load_smnist, load_tempest
from cimsim.nn.sequence import SequencePool
from cimsim.nn.ssm import DiagonalSSM

SEED = 2024
ROOT = Path(__file__).resolve().parents[1]
WEIGHT_NOISE = 0.02


def _np(t) -> np.ndarray:
    return t.detach().double().numpy().copy()


def _noisy_step(model, loss_fn, opt, torch):
    """One Adam step with the gradient taken at noise-perturbed weight matrices."""
    mats = [p for p in model.parameters() if p.ndim == 2]
    saved = [p.detach().clone() for p in mats]
    with torch.no_grad():
        for p in mats:
            p.add_(torch.randn_like(p) * WEIGHT_NOISE * p.abs().max())
    opt.zero_grad()
    loss = loss_fn()
    loss.backward()
    with torch.no_grad():
        for p, s in zip(mats, saved, strict=True):
            p.copy_(s)
    opt.step()
    return float(loss.detach())


# --------------------------------------------------------------------------------------------
# Sequential MNIST
# --------------------------------------------------------------------------------------------


def _train_classifier(model, data, *, epochs, lr, batch, torch, name):
    x = torch.tensor(data["x_train"], dtype=torch.float32)
    y = torch.tensor(data["y_train"])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    gen = torch.Generator().manual_seed(SEED)
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        losses = []
        for i in range(0, len(x), batch):
            idx = order[i: i + batch]
            losses.append(_noisy_step(
                model, lambda idx=idx: torch.nn.functional.cross_entropy(model(x[idx]), y[idx]),
                opt, torch))
        sched.step()
        if epoch % 5 == 4 or epoch == epochs - 1:
            model.eval()
            with torch.no_grad():
                acc = (model(torch.tensor(data["x_test"], dtype=torch.float32)).argmax(1)
                       == torch.tensor(data["y_test"])).float().mean()
            print(f"{name} epoch {epoch + 1}: loss {np.mean(losses):.4f}, held-out {acc:.4f}",
                  flush=True)


def smnist_lstm(torch) -> Network:
    nn = torch.nn
    data = load_smnist()

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(28, 96, batch_first=True)
            self.head = nn.Linear(96, 10)

        def forward(self, x):
            return self.head(self.lstm(x)[0][:, -1])

    model = Model()
    _train_classifier(model, data, epochs=40, lr=3e-3, batch=64, torch=torch,
                      name="smnist_lstm")
    lstm = model.lstm
    layers = [LSTM(_np(lstm.weight_ih_l0), _np(lstm.weight_hh_l0), _np(lstm.bias_ih_l0),
                   _np(lstm.bias_hh_l0), name="lstm"),
              SequencePool("last", name="last"),
              Linear(_np(model.head.weight), _np(model.head.bias), name="head")]
    return _finish_classifier(layers, data, "smnist_lstm", "LSTM(28->96), last state, "
                              "Linear(96->10); Adam lr 3e-3 cosine, 40 epochs, batch 64")


class _TorchSSM:
    """PyTorch twin of :class:`cimsim.nn.ssm.DiagonalSSM` (real recurrence), built lazily."""

    @staticmethod
    def make(torch, f_in, p, f_out, gen):
        nn = torch.nn

        class SSM(nn.Module):
            def __init__(self):
                super().__init__()
                self.b = nn.Linear(f_in, p, bias=False)
                self.c = nn.Linear(p, f_out)
                lam = torch.linspace(0.5, 0.99, p)         # initial |λ| spread over (0.5, 0.99)
                self.log_rate = nn.Parameter(torch.log(-torch.log(lam)))

            def forward(self, x):
                u = self.b(x)
                lam = torch.exp(-torch.exp(self.log_rate))
                t = x.shape[1]
                # s_t = Σ_k λ^(t-k) u_k as one product with the (T, T) decay kernel
                k = torch.arange(t)
                e = (k[:, None] - k[None, :]).clamp(min=0).float()
                kern = lam[None, None, :] ** e[:, :, None] * (k[:, None] >= k[None, :])[..., None]
                s = torch.einsum("tkp,nkp->ntp", kern, u)
                return self.c(s)

        return SSM()


def smnist_ssm(torch) -> Network:
    nn = torch.nn
    data = load_smnist()
    gen = torch.Generator().manual_seed(SEED)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.ssm1 = _TorchSSM.make(torch, 28, 128, 64, gen)
            self.ssm2 = _TorchSSM.make(torch, 64, 128, 64, gen)
            self.head = nn.Linear(64, 10)

        def forward(self, x):
            g = nn.functional.gelu
            return self.head(g(self.ssm2(g(self.ssm1(x)))).mean(dim=1))

    model = Model()
    _train_classifier(model, data, epochs=40, lr=3e-3, batch=64, torch=torch,
                      name="smnist_ssm")

    def ssm(m, name):
        return DiagonalSSM(_np(m.b.weight), _np(m.c.weight), _np(m.log_rate), None,
                           _np(m.c.bias), name=name)

    layers = [ssm(model.ssm1, "ssm1"), GELU(name="act1"), ssm(model.ssm2, "ssm2"),
              GELU(name="act2"), SequencePool("mean", name="mean"),
              Linear(_np(model.head.weight), _np(model.head.bias), name="head")]
    return _finish_classifier(layers, data, "smnist_ssm", "DiagonalSSM(28->128 real->64), "
                              "GELU, DiagonalSSM(64->128->64), GELU, mean over time, "
                              "Linear(64->10); Adam lr 3e-3 cosine, 40 epochs, batch 64")


def _finish_classifier(layers, data, name, recipe) -> Network:
    net = Network(layers, (28, 28), name=name, calibration=data["x_train"][:32])
    acc = float(np.mean(net.forward(data["x_test"]).argmax(1) == data["y_test"]))
    net.metadata = {"dataset": "mnist10k as 28 steps of 28 pixels (load_smnist)",
                    "train": "first 8000 images", "test": "last 2000 images",
                    "recipe": recipe + f"; weight noise {WEIGHT_NOISE} x max|W|; seed {SEED}",
                    "float_accuracy": acc, "script": "scripts/train_sequence_models.py"}
    print(f"{name}: float held-out accuracy (cimsim forward) {acc:.4f}", flush=True)
    return net


# --------------------------------------------------------------------------------------------
# Character-level transformer
# --------------------------------------------------------------------------------------------

CONTEXT = 64
D_MODEL, HEADS, FF, BLOCKS = 48, 4, 192, 2


def charlm_transformer(torch) -> Network:
    nn = torch.nn
    text = load_tempest()
    vocab = len(text["vocab"])
    pe = torch.tensor(PositionalEncoding(D_MODEL, CONTEXT).table(CONTEXT), dtype=torch.float32)
    mask = torch.triu(torch.full((CONTEXT, CONTEXT), float("-inf")), diagonal=1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(D_MODEL), nn.LayerNorm(D_MODEL)
            self.attn = nn.MultiheadAttention(D_MODEL, HEADS, batch_first=True)
            self.ff1, self.ff2 = nn.Linear(D_MODEL, FF), nn.Linear(FF, D_MODEL)

        def forward(self, x):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask[: x.shape[1], : x.shape[1]],
                              need_weights=False)[0]
            return x + self.ff2(nn.functional.gelu(self.ff1(self.ln2(x))))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(vocab, D_MODEL)
            self.blocks = nn.ModuleList(Block() for _ in range(BLOCKS))
            self.ln = nn.LayerNorm(D_MODEL)
            self.head = nn.Linear(D_MODEL, vocab)

        def forward(self, ids):
            x = self.emb(ids) + pe[: ids.shape[1]]
            for b in self.blocks:
                x = b(x)
            return self.head(self.ln(x))

    model = Model()
    ids = torch.tensor(text["train"])
    steps, batch = 3000, 32
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    gen = torch.Generator().manual_seed(SEED)
    xt, yt = char_windows(text["test"], CONTEXT)
    xt, yt = torch.tensor(xt, dtype=torch.long), torch.tensor(yt)
    for step in range(steps):
        model.train()
        start = torch.randint(0, len(ids) - CONTEXT - 1, (batch,), generator=gen)
        idx = start[:, None] + torch.arange(CONTEXT)
        x, y = ids[idx], ids[idx + 1]
        loss = _noisy_step(model, lambda x=x, y=y: nn.functional.cross_entropy(
            model(x).reshape(-1, vocab), y.reshape(-1)), opt, torch)
        sched.step()
        if step % 500 == 499 or step == steps - 1:
            model.eval()
            with torch.no_grad():
                logits = model(xt)
                ce = float(nn.functional.cross_entropy(logits.reshape(-1, vocab),
                                                       yt.reshape(-1)))
                acc = float((logits.argmax(-1) == yt).float().mean())
            print(f"charlm step {step + 1}: loss {loss:.3f}, held-out {ce / math.log(2):.3f} "
                  f"bit/char, accuracy {acc:.4f}", flush=True)

    layers = [Embedding(_np(model.emb.weight), name="embed"),
              PositionalEncoding(D_MODEL, CONTEXT, name="pos")]
    for i, b in enumerate(model.blocks):
        a = b.attn
        layers.append(Residual([
            LayerNorm(_np(b.ln1.weight), _np(b.ln1.bias), name=f"b{i}_ln1"),
            MultiHeadAttention(_np(a.in_proj_weight), _np(a.in_proj_bias),
                               _np(a.out_proj.weight), _np(a.out_proj.bias), num_heads=HEADS,
                               causal=True, name=f"b{i}_attn")], name=f"b{i}_res1"))
        layers.append(Residual([
            LayerNorm(_np(b.ln2.weight), _np(b.ln2.bias), name=f"b{i}_ln2"),
            Linear(_np(b.ff1.weight), _np(b.ff1.bias), name=f"b{i}_ff1"),
            GELU(name=f"b{i}_gelu"),
            Linear(_np(b.ff2.weight), _np(b.ff2.bias), name=f"b{i}_ff2")], name=f"b{i}_res2"))
    layers += [LayerNorm(_np(model.ln.weight), _np(model.ln.bias), name="ln_f"),
               Linear(_np(model.head.weight), _np(model.head.bias), name="head")]
    xtr, _ = char_windows(text["train"], CONTEXT, stride=CONTEXT * 41)
    net = Network(layers, (CONTEXT,), name="charlm_transformer", calibration=xtr[:32])
    logits = net.forward(xt.numpy().astype(np.float64))
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    y_np = yt.numpy()
    bpc = float(-np.take_along_axis(logp, y_np[..., None], -1).mean() / math.log(2))
    acc = float(np.mean(logits.argmax(-1) == y_np))
    net.metadata = {
        "dataset": "The Tempest (cimsim/data/tempest.txt, public domain), character ids over "
                   "its sorted character set", "vocab": text["vocab"],
        "train": "first 90 % of the characters", "test": "last 10 %, windows of 64",
        "recipe": f"d={D_MODEL}, {HEADS} heads, FF {FF}, {BLOCKS} pre-norm blocks, context "
                  f"{CONTEXT}; AdamW lr 3e-3 one-cycle, wd 0.01, {steps} steps of {batch} "
                  f"random windows; weight noise {WEIGHT_NOISE} x max|W|; seed {SEED}",
        "float_accuracy": acc, "float_bits_per_char": bpc,
        "script": "scripts/train_sequence_models.py"}
    print(f"charlm_transformer: float held-out next-char accuracy {acc:.4f}, {bpc:.3f} bit/char",
          flush=True)
    return net


MODELS = {"smnist_lstm": smnist_lstm, "smnist_ssm": smnist_ssm,
          "charlm_transformer": charlm_transformer}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=ROOT / "cimsim" / "data")
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS), default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for name in args.only or MODELS:
        torch.manual_seed(SEED)
        t0 = time.perf_counter()
        net = MODELS[name](torch)
        path = save_model(net, args.out_dir / f"{name}.npz")
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} kB) in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
