"""Train the small networks the validation reproductions run on.

Each network is trained once on full MNIST (60,000 training images;
:func:`cimsim.nn.mnist.load_full_mnist`, the ``[data]`` extra) and saved in ``cimsim/data`` so
that ``cimsim validate`` does not retrain. The Yao and Joshi networks are trained in NumPy by
:meth:`cimsim.nn.network.Network.fit`; the Wan network in PyTorch (the ``[torch]`` extra), as
its 50 epochs would take about ten minutes each in ``Network.fit`` on one core and take half a
minute to a minute in PyTorch; it is then converted to the cimsim layers (the script prints the
test accuracy of both, which agree):

* ``yao2020_mcnn`` — the five-layer mCNN of Yao et al., Nature 577, 641 (2020): C1 8 kernels
  1×3×3, S2 2×2 max pooling, C3 12 kernels 8×3×3, S4 3×3 max pooling (stride 3, padding 1, so
  that 12·4·4 = 192 features reach the FC layer), FC 192→10. Trained ex situ without noise
  (as in the paper, TensorFlow); the pooling type and S4 geometry are not given in the paper's
  text (assumption, see ``validation/yao2020_mnist_cnn.py``).
* ``joshi2020_mnist_cnn`` — the same architecture with batch normalisation after C1 and C3
  (the paper's AdaBS re-estimates batch-norm statistics, so the network needs them). Built
  from the trained ``yao2020_mcnn``: each BatchNorm starts as the identity with the channel
  statistics of the training images (running mean and variance measured, gamma = sqrt(var +
  eps), beta = mean); then the whole network, gamma and beta included, is fine-tuned with
  Gaussian weight-noise injection of η_tr = 3.8 % of max|W| per layer and the weights are
  clipped at 2.5 standard deviations per layer after each pass (Joshi et al., Nat. Commun. 11,
  2473 (2020): pretrained initialisation, η_tr = 3.8 %, clipping at 2-2.5 σ_W).
* ``wan2022_mnist_cnn`` — the network and recipe of the authors' released code (``weierwan/
  Neurram_48core``, ``mnist_cnn/mnist_training.ipynb`` and ``cifar10_resnet/layer_utils.py``):
  six 3×3 'same' convolutions (8, 8, 16, 16, 32, 32 channels) with 2×2 max pooling after every
  second one (28 → 14 → 7 → 4; the last pooling pads one row and column on each side, where
  Keras' 'same' pads only after), a dense 512→10 layer, 3-bit inputs (images quantised to 8
  levels of [0, 1]) and 3-bit activations (``activation_quant(3, 3)``: ReLU clipped at a
  trainable level initialised at 3 and quantised to 3 bits with the straight-through gradient;
  the trained levels go into :class:`cimsim.nn.layers.QuantReLU`), weight-noise injection of
  15 % of max|W| per layer on weights and biases in every step (``noise_train=0.15``, the
  released checkpoint ``mnist_cnn_7layer_input_3bit_wnoise0.15``), Glorot-uniform
  initialisation, Adam at 1e-3 for 50 epochs of batches of 128 on 50,000 images (no learning
  rate schedule, no augmentation), keeping the epoch with the best accuracy on the 10,000
  held-out images (their ``ModelCheckpoint(save_best_only=True, monitor='val_accuracy')``).

Usage::

    python scripts/train_validation_models.py [--only NAME ...] [--out-dir cimsim/data]
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from pathlib import Path

import numpy as np

from cimsim.nn.layers import (
    BatchNorm,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    QuantReLU,
    ReLU,
    WeightedLayer,
)
from cimsim.nn.mnist import load_full_mnist
from cimsim.nn.models import load_model, save_model
from cimsim.nn.network import Network
from device_models import rng
from device_models.errors import MissingDependencyError

SEED = 2020
ROOT = Path(__file__).resolve().parents[1]
#: Wan et al.: input and activation resolution [bit] and the activation clipping level.
WAN_BITS, WAN_RELU_MAX = 3, 3.0
#: Wan et al.'s training recipe: epochs, Adam learning rate, batch, weight noise [-], and the
#: validation images held out of the 60,000 for picking the best epoch.
WAN_EPOCHS, WAN_LR, WAN_BATCH, WAN_NOISE, WAN_VAL = 50, 1e-3, 128, 0.15, 10_000
#: Joshi et al.: weight-noise injection and clipping of the noise-aware fine-tuning.
JOSHI_ETA, JOSHI_CLIP_SIGMA = 0.038, 2.5
BN_EPS = 1e-5


def _he(name: str, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return rng.standard_normal(rng.derive_key(SEED, "init", name), shape) * math.sqrt(2 / fan_in)


def _conv(name: str, c_in: int, c_out: int, k: int = 3, padding: int = 0) -> Conv2d:
    return Conv2d(_he(name, (c_out, c_in, k, k), c_in * k * k), np.zeros(c_out),
                  padding=padding, name=name)


def _linear(name: str, n_in: int, n_out: int) -> Linear:
    return Linear(_he(name, (n_out, n_in), n_in), np.zeros(n_out), name=name)


def mcnn() -> list:
    """Yao et al. 2020 five-layer mCNN (C1, S2, C3, S4, FC)."""
    return [_conv("c1", 1, 8), ReLU(name="r1"), MaxPool2d(2, name="s2"),
            _conv("c3", 8, 12), ReLU(name="r3"), MaxPool2d(3, padding=1, name="s4"),
            Flatten(name="flatten"), _linear("fc", 192, 10)]


def wan_cnn() -> list:
    """The seven weighted layers of Wan et al.'s released MNIST network."""
    def q(i):
        return QuantReLU(WAN_RELU_MAX, WAN_BITS, name=f"q{i}")

    return [_conv("conv1", 1, 8, padding=1), q(1), _conv("conv2", 8, 8, padding=1), q(2),
            MaxPool2d(2, name="pool1"),
            _conv("conv3", 8, 16, padding=1), q(3), _conv("conv4", 16, 16, padding=1), q(4),
            MaxPool2d(2, name="pool2"),
            _conv("conv5", 16, 32, padding=1), q(5), _conv("conv6", 32, 32, padding=1), q(6),
            MaxPool2d(2, padding=1, name="pool3"),
            Flatten(name="flatten"), _linear("dense", 512, 10)]


def quantise_inputs(x: np.ndarray, bits: int = WAN_BITS) -> np.ndarray:
    """Images on 2**bits uniform levels of [0, 1] (the authors' quantize_unsigned/rescale)."""
    steps = 2.0**bits - 1.0
    return np.round(np.clip(x, 0.0, 1.0) * steps) / steps


def _fit(net: Network, x, y, *, epochs, lr, batch, noise, seed) -> list[float]:
    return net.fit(x, y, epochs=epochs, lr=lr, batch_size=batch, weight_noise=noise,
                   seed=seed, progress=True)


def _with_batchnorm(net: Network, x_stats: np.ndarray) -> Network:
    """``net`` with an identity BatchNorm after every Conv2d, its running statistics those of
    the conv outputs on ``x_stats``."""
    layers = []
    h = x_stats
    for lay in net.layers:
        layers.append(lay.copy())
        h = lay.forward(h)
        if isinstance(lay, Conv2d):
            mean = h.mean(axis=(0, 2, 3))
            var = h.var(axis=(0, 2, 3))
            layers.append(BatchNorm(np.sqrt(var + BN_EPS), mean.copy(), mean, var, eps=BN_EPS,
                                    name=f"bn_{lay.name}"))
    return Network(layers, net.input_shape, name=net.name)


def _clip_weights(net: Network, n_sigma: float) -> None:
    for lay in net.layers:
        if isinstance(lay, WeightedLayer):
            s = float(lay.weight.std())
            lay.weight = np.clip(lay.weight, -n_sigma * s, n_sigma * s)


def train_yao(data, out_dir: Path) -> Network:
    net = Network(mcnn(), data["x_train"].shape[1:], name="yao2020_mcnn")
    losses = _fit(net, data["x_train"], data["y_train"], epochs=3, lr=3e-3, batch=32, noise=0.0,
                  seed=SEED)
    losses += _fit(net, data["x_train"], data["y_train"], epochs=1, lr=1e-3, batch=32,
                   noise=0.0, seed=SEED + 1)
    net.metadata = {"schedule": [(3, 3e-3), (1, 1e-3)], "batch_size": 32, "weight_noise": 0.0,
                    "final_loss": losses[-1]}
    net.calibration = data["x_train"][:64]
    return net


def train_joshi(data, out_dir: Path) -> Network:
    base = load_model(out_dir / "yao2020_mcnn.npz")
    net = _with_batchnorm(base, data["x_train"][:10_000])
    net.name = "joshi2020_mnist_cnn"
    losses = []
    n, chunk = len(data["x_train"]), 10_000
    for k in range(0, 2 * n, chunk):  # two epochs as 12 chunks, clipping after each
        sl = slice(k % n, k % n + chunk)
        losses += _fit(net, data["x_train"][sl], data["y_train"][sl], epochs=1, lr=5e-4,
                       batch=32, noise=JOSHI_ETA, seed=SEED + 10 + k // chunk)
        _clip_weights(net, JOSHI_CLIP_SIGMA)
    net.metadata = {"initialised_from": "yao2020_mcnn", "batch_norm": "identity at the "
                    "training-set statistics, then fine-tuned", "weight_noise": JOSHI_ETA,
                    "clip_sigma": JOSHI_CLIP_SIGMA, "epochs": 2, "lr": 5e-4, "batch_size": 32,
                    "final_loss": losses[-1]}
    net.calibration = data["x_train"][:64]
    return net


def _wan_torch_model(torch):
    """The PyTorch twin of :func:`wan_cnn` for training: the authors' ``conv2d_noise`` /
    ``dense_noise`` (weights and biases perturbed by Gaussian noise of ``noise * max|W|`` in
    every training step, the gradient flowing through ``max|W|`` as in their TensorFlow graph)
    and ``activation_quant`` (ReLU clipped at a trainable level initialised at 3, quantised to
    3 bits with the straight-through gradient). Convolutions and the dense layer start Glorot
    uniform with zero biases (Keras defaults). At inference (``eval()``) it computes what
    :func:`wan_cnn` computes with the trained clipping levels."""
    nn, F = torch.nn, torch.nn.functional

    class QuantAct(nn.Module):
        def __init__(self, max_value: float, bits: int) -> None:
            super().__init__()
            self.relux = nn.Parameter(torch.tensor(float(max_value)))
            self.steps = 2.0**bits - 1.0

        def forward(self, x):
            act = torch.minimum(torch.relu(x), self.relux)
            q = torch.round(act * (self.steps / self.relux)) * (self.relux / self.steps)
            return act + (q - act).detach()

    def noisy(w, b, noise):
        s = noise * w.abs().max()
        return w + s * torch.randn_like(w), b + s * torch.randn_like(b)

    class NoisyConv(nn.Conv2d):
        noise = 0.0

        def forward(self, x):
            w, b = self.weight, self.bias
            if self.training and self.noise > 0:
                w, b = noisy(w, b, self.noise)
            return F.conv2d(x, w, b, padding=1)

    class NoisyLinear(nn.Linear):
        noise = 0.0

        def forward(self, x):
            w, b = self.weight, self.bias
            if self.training and self.noise > 0:
                w, b = noisy(w, b, self.noise)
            return F.linear(x, w, b)

    layers, c_in = [], 1
    for i, c in enumerate((8, 8, 16, 16, 32, 32)):
        layers += [NoisyConv(c_in, c, 3, padding=1), QuantAct(WAN_RELU_MAX, WAN_BITS)]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2, padding=1 if i == 5 else 0))
        c_in = c
    layers += [nn.Flatten(), NoisyLinear(512, 10)]
    for m in layers:
        if isinstance(m, NoisyConv | NoisyLinear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
            m.noise = WAN_NOISE
    return nn.Sequential(*layers)


def _wan_from_torch(model) -> Network:
    """The trained PyTorch model as the cimsim :func:`wan_cnn` network (float64 weights, the
    trained clipping levels in the QuantReLU layers)."""
    params = [m for m in model if hasattr(m, "weight")]
    clips = [float(m.relux.detach()) for m in model if hasattr(m, "relux")]
    net = Network(wan_cnn(), (1, 28, 28), name="wan2022_mnist_cnn")
    for lay, m in zip(net.weighted_layers, params, strict=True):
        lay.weight = m.weight.detach().double().numpy().copy()
        lay.bias = m.bias.detach().double().numpy().copy()
    quant = [lay for lay in net.layers if isinstance(lay, QuantReLU)]
    for lay, a in zip(quant, clips, strict=True):
        lay.max_value = a
    return net


def train_wan(data, out_dir: Path) -> Network:
    """The authors' recipe (``mnist_training.ipynb``) in PyTorch: 50,000 training / 10,000
    validation images, Adam at 1e-3 (Keras' epsilon 1e-7) for 50 epochs of batches of 128, no
    schedule or augmentation, 15 % weight noise, the weights of the epoch with the best
    validation accuracy kept (their ``ModelCheckpoint(save_best_only=True,
    monitor='val_accuracy')``)."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError(
            "train_wan needs PyTorch (pip install 'cimsim[torch]')") from exc
    torch.set_num_threads(1)  # small convolutions: threads only contend
    torch.manual_seed(SEED)
    x_all = quantise_inputs(data["x_train"])
    order = np.argsort(rng.uniform(rng.derive_key(SEED, "wan_validation_split"), len(x_all)))
    val, tr = order[:WAN_VAL], order[WAN_VAL:]
    xt = torch.tensor(x_all[tr], dtype=torch.float32)
    yt = torch.tensor(data["y_train"][tr])
    xv = torch.tensor(x_all[val], dtype=torch.float32)
    yv = torch.tensor(data["y_train"][val])
    model = _wan_torch_model(torch)
    opt = torch.optim.Adam(model.parameters(), lr=WAN_LR, eps=1e-7)
    gen = torch.Generator().manual_seed(SEED)

    def accuracy(x, y) -> float:
        model.eval()
        with torch.no_grad():
            return float((model(x).argmax(1) == y).double().mean())

    # SIGTERM or SIGINT ends the training early at the end of the running batch: the best
    # epoch so far is kept and the metadata says how many epochs ran.
    stop = []
    handlers = {sig: signal.signal(sig, lambda *_: stop.append(True))
                for sig in (signal.SIGTERM, signal.SIGINT)}
    best, history = (-1.0, 0, None), []
    try:
        for epoch in range(WAN_EPOCHS):
            t0 = time.perf_counter()
            model.train()
            perm = torch.randperm(len(xt), generator=gen)
            losses = []
            for i in range(0, len(xt), WAN_BATCH):
                if stop:
                    break
                idx = perm[i: i + WAN_BATCH]
                loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            if stop:
                print(f"wan: stopped during epoch {epoch + 1}; keeping epoch {best[1]}",
                      file=sys.stderr, flush=True)
                break
            acc = accuracy(xv, yv)
            history.append((float(np.mean(losses)), acc))
            if acc > best[0]:
                best = (acc, epoch + 1, {k: v.clone() for k, v in model.state_dict().items()})
            print(f"wan epoch {epoch + 1}/{WAN_EPOCHS}: loss {history[-1][0]:.4f}, validation "
                  f"accuracy {acc:.4f} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr,
                  flush=True)
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
    if best[2] is None:
        raise KeyboardInterrupt("wan: stopped before the first epoch ended")
    model.load_state_dict(best[2])
    net = _wan_from_torch(model)
    x_test = quantise_inputs(data["x_test"])
    torch_acc = accuracy(torch.tensor(x_test, dtype=torch.float32),
                         torch.tensor(data["y_test"]))
    net.metadata = {"backend": f"pytorch {torch.__version__} (float32)", "epochs": WAN_EPOCHS,
                    "epochs_run": len(history), "lr": WAN_LR, "batch_size": WAN_BATCH,
                    "weight_noise": WAN_NOISE,
                    "weight_noise_on": "weights and biases, std noise*max|W| per layer and step",
                    "init": "glorot uniform, zero biases",
                    "validation_split": [len(tr), WAN_VAL], "best_epoch": best[1],
                    "validation_accuracy": best[0], "torch_test_accuracy": torch_acc,
                    "input_bits": WAN_BITS, "activation_bits": WAN_BITS,
                    "activation_max_init": WAN_RELU_MAX,
                    "activation_max": [lay.max_value for lay in net.layers
                                       if isinstance(lay, QuantReLU)],
                    "history": history, "final_loss": history[-1][0]}
    net.calibration = x_all[:64]
    return net


RECIPES = {"yao2020_mcnn": train_yao, "joshi2020_mnist_cnn": train_joshi,
           "wan2022_mnist_cnn": train_wan}


def train(name: str, data: dict, out_dir: Path) -> dict:
    t0 = time.perf_counter()
    net = RECIPES[name](data, out_dir)
    elapsed = time.perf_counter() - t0
    x_test = quantise_inputs(data["x_test"]) if name == "wan2022_mnist_cnn" else data["x_test"]
    acc = net.float_accuracy(x_test, data["y_test"])
    net.metadata.update({"dataset": "MNIST 60,000 training / 10,000 test images",
                         "optimizer": "adam", "seed": SEED, "float_test_accuracy": acc,
                         "n_test": len(data["y_test"]),
                         "trained_by": "scripts/train_validation_models.py"})
    if "torch_test_accuracy" in net.metadata:  # the trained network is what cimsim computes
        print(f"{name}: test accuracy in PyTorch (float32) "
              f"{net.metadata['torch_test_accuracy']:.4f}, in cimsim (float64) {acc:.4f}",
              file=sys.stderr)
    path = save_model(net, out_dir / f"{name}.npz")
    return {"name": name, "accuracy": acc, "seconds": elapsed, "bytes": path.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "cimsim" / "data")
    parser.add_argument("--only", nargs="*", choices=sorted(RECIPES), default=None)
    args = parser.parse_args(argv)
    data = load_full_mnist()
    for name in args.only or RECIPES:
        r = train(name, data, args.out_dir)
        print(f"{r['name']:<24} float test accuracy {r['accuracy']:.4f}  "
              f"({r['seconds']:.1f} s, {r['bytes'] / 1024:.1f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
