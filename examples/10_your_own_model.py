"""
10 · Bringing your own trained model (PyTorch → npz → chip)
===========================================================

Train a small convolutional network in PyTorch on the training split of the bundled digits,
import it with :func:`cimsim.from_torch` (``nn.Sequential`` or any module that ``torch.fx``
traces), save it as a cimsim model file (:func:`cimsim.save_model`, a plain ``.npz`` of the
architecture and the PyTorch-layout weights, which other tools can write too), load it back
(:func:`cimsim.load_model`) and run it on simulated chips with 4- to 8-bit column ADCs. The
same route takes an ONNX graph (:func:`cimsim.models.from_onnx`). Needs PyTorch (``pip
install -e '.[torch]'``).

What to look at:

* **Left**: the training loss of the PyTorch model (float, on the CPU, a few seconds).
* **Right**: held-out accuracy of the model in PyTorch, of the imported network in float
  (identical: the import is exact), and on the chip against the ADC resolution (mean and
  spread over chips): at 4 bits the column read-out costs accuracy; from 5 bits on the chip
  is within its chip-to-chip spread of the float model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import cimsim
from cimsim.nn.models import load_digits_split
from cimsim.plotting import pyplot, save_png


def train(x: np.ndarray, y: np.ndarray, epochs: int):
    """A small CNN trained with Adam on (N, 1, 8, 8) digits; returns the module and losses."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 32), nn.ReLU(), nn.Linear(32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        total = 0.0
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(xt))
    return model.eval(), losses


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="Bring your own trained model.")
    ap.add_argument("--quick", action="store_true", help="fewer epochs, chips and ADC points")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG and .npz")
    args = ap.parse_args(argv)

    import torch

    data = load_digits_split()
    x_tr, y_tr, x_te, y_te = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    model, losses = train(x_tr, y_tr, epochs=6 if args.quick else 25)
    with torch.no_grad():
        torch_acc = float((model(torch.tensor(x_te, dtype=torch.float32)).argmax(1).numpy()
                           == y_te).mean())
    net = cimsim.from_torch(model, input_shape=(1, 8, 8), name="my_digits_cnn")
    net.calibration = x_tr[:256]                          # ADC ranges from training inputs
    path = cimsim.save_model(net, args.out / "10_my_digits_cnn.npz")
    net = cimsim.load_model(path)
    float_acc = float((net.forward(x_te).argmax(-1) == y_te).mean())
    bits = (4, 6, 8) if args.quick else (4, 5, 6, 7, 8)
    chips = 1 if args.quick else 4
    acc = np.zeros((len(bits), chips))
    for i, b in enumerate(bits):
        for c in range(chips):
            net.compile(cimsim.HardwareConfig(seed=c).replace_path("tile.adc_bits", b))
            acc[i, c] = net.evaluate(x_te, y_te).accuracy
    print(f"PyTorch {torch_acc:.2%}, imported (float) {float_acc:.2%}, chip by ADC bits: "
          + ", ".join(f"{b}: {a:.2%}" for b, a in zip(bits, acc.mean(1), strict=True)))

    plt = pyplot()
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(12, 4.3))
    ax_l.plot(np.arange(1, len(losses) + 1), losses, "o-")
    ax_l.set(xlabel="epoch", ylabel="cross-entropy (training)", yscale="log",
             title=f"PyTorch training, {len(x_tr)} digits")
    ax_a.errorbar(bits, 100 * acc.mean(1), yerr=100 * acc.std(1), marker="o", capsize=3,
                  label=f"on the chip ({chips} chip(s))")
    ax_a.axhline(100 * torch_acc, color="k", ls="--", label=f"PyTorch {torch_acc:.1%}")
    ax_a.axhline(100 * float_acc, color="C1", ls=":", lw=2,
                 label=f"imported from {path.name}, float {float_acc:.1%}")
    ax_a.set(xlabel="column ADC resolution [bit]", ylabel="accuracy [%]", xticks=bits,
             title=f"{len(y_te)} held-out digits, default chip")
    ax_a.legend(fontsize=8, loc="lower right")
    return save_png(fig, args.out / "10_your_own_model.png")


if __name__ == "__main__":
    print(main())
