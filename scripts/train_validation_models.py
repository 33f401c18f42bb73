"""Train the small networks the validation reproductions run on (pure NumPy, minutes each).

Each network is trained once with :meth:`cimsim.nn.network.Network.fit` on the bundled MNIST
subset (:func:`cimsim.nn.models.load_mnist`: 8 000 training images, 2 000 held out) and saved in
``cimsim/data`` so that ``cimsim validate`` does not retrain:

* ``yao2020_mcnn`` — the five-layer mCNN of Yao et al., Nature 577, 641 (2020): C1 8 kernels
  1×3×3, S2 2×2 max pooling, C3 12 kernels 8×3×3, S4 3×3 max pooling (stride 3, padding 1, so
  that 12·4·4 = 192 features reach the FC layer), FC 192→10. Trained ex situ without noise
  (as in the paper, TensorFlow); the pooling type and S4 geometry are not given in the accessible
  text (assumption, see ``validation/yao2020_mnist_cnn.py``).
* ``joshi2020_mnist_cnn`` — the same architecture, initialised from the trained
  ``yao2020_mcnn`` weights and fine-tuned with Gaussian weight-noise injection of relative
  strength η_tr = 3.8 % of max|W| per layer (pretrained initialisation and noise level as in
  Joshi et al., Nat. Commun. 11, 2473 (2020)).
* ``wan2022_mnist_cnn`` — a seven-layer CNN (conv-pool-conv-pool-conv-FC-FC) for the NeuRRAM
  MNIST reproduction, trained with weight-noise injection (see
  ``validation/wan2022_neurram_mnist.py`` for the assumed architecture and noise level); its
  last stages see randomly shifted images (±2 pixels, a fresh shift per image and epoch),
  because with 8,000 training images the plain schedule stays about a point below the
  software baselines of the paper.

Usage::

    python scripts/train_validation_models.py [--only NAME ...] [--out-dir cimsim/data]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from cimsim.nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from cimsim.nn.models import load_mnist, load_model, save_model
from cimsim.nn.network import Network
from device_models import rng

SEED = 2020
ROOT = Path(__file__).resolve().parents[1]


def _he(name: str, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return rng.standard_normal(rng.derive_key(SEED, "init", name), shape) * math.sqrt(2 / fan_in)


def _conv(name: str, c_in: int, c_out: int, k: int = 3) -> Conv2d:
    return Conv2d(_he(name, (c_out, c_in, k, k), c_in * k * k), np.zeros(c_out), name=name)


def _linear(name: str, n_in: int, n_out: int) -> Linear:
    return Linear(_he(name, (n_out, n_in), n_in), np.zeros(n_out), name=name)


def mcnn() -> list:
    """Yao et al. 2020 five-layer mCNN (C1, S2, C3, S4, FC)."""
    return [_conv("c1", 1, 8), ReLU(name="r1"), MaxPool2d(2, name="s2"),
            _conv("c3", 8, 12), ReLU(name="r3"), MaxPool2d(3, padding=1, name="s4"),
            Flatten(name="flatten"), _linear("fc", 192, 10)]


def cnn7() -> list:
    """Seven-layer CNN for the NeuRRAM MNIST reproduction (assumed architecture)."""
    return [_conv("conv1", 1, 8), ReLU(name="r1"), MaxPool2d(2, name="pool1"),
            _conv("conv2", 8, 16), ReLU(name="r2"), MaxPool2d(2, name="pool2"),
            _conv("conv3", 16, 32), ReLU(name="r3"), Flatten(name="flatten"),
            _linear("fc1", 288, 64), ReLU(name="r4"), _linear("fc2", 64, 10)]


# name -> (builder, [(epochs, lr, shift_px), ...], weight noise relative to max|W|,
#          initialise from)
RECIPES = {
    "yao2020_mcnn": (mcnn, [(5, 3e-3, 0), (2, 1e-3, 0)], 0.0, None),
    "joshi2020_mnist_cnn": (mcnn, [(3, 1e-3, 0)], 0.038, "yao2020_mcnn"),
    "wan2022_mnist_cnn": (cnn7, [(4, 3e-3, 0), (2, 1e-3, 0), (4, 1e-3, 2), (2, 3e-4, 2)], 0.05,
                          None),
}


def shifted(x: np.ndarray, max_px: int, key: int) -> np.ndarray:
    """Each image moved by a random whole-pixel shift in [-max_px, max_px]² (zero fill)."""
    n, _, h, w = x.shape
    d = np.floor(rng.uniform(key, (n, 2)) * (2 * max_px + 1)).astype(np.int64) - max_px
    pad = np.pad(x, ((0, 0), (0, 0), (max_px, max_px), (max_px, max_px)))
    out = np.empty_like(x)
    for i, (dy, dx) in enumerate(d):
        out[i] = pad[i, :, max_px + dy: max_px + dy + h, max_px + dx: max_px + dx + w]
    return out


def train(name: str, data: dict[str, np.ndarray], out_dir: Path, from_stage: int = 0) -> dict:
    """Train ``name``; ``from_stage > 0`` resumes from ``out_dir/<name>.npz`` as left after
    that many stages (the stages are deterministic, so this equals a run from scratch)."""
    builder, schedule, noise, init = RECIPES[name]
    if from_stage:
        net = load_model(out_dir / f"{name}.npz")
    elif init is None:
        net = Network(builder(), data["x_train"].shape[1:], name=name)
    else:
        net = load_model(out_dir / f"{init}.npz")
        net.name = name
    t0 = time.perf_counter()
    losses = []
    for stage, (epochs, lr, shift_px) in enumerate(schedule):
        if stage < from_stage:
            continue
        for epoch in range(epochs if shift_px else 1):
            x = data["x_train"]
            if shift_px:
                x = shifted(x, shift_px, rng.derive_key(SEED, "shift", stage, epoch))
            losses += net.fit(x, data["y_train"], epochs=1 if shift_px else epochs, lr=lr,
                              batch_size=32, weight_noise=noise,
                              seed=SEED + 100 * stage + epoch if shift_px else SEED + stage,
                              progress=True)
    elapsed = time.perf_counter() - t0
    acc = net.float_accuracy(data["x_test"], data["y_test"])
    net.calibration = data["x_train"][:64]
    net.metadata = {
        "dataset": "mnist10k (8000 train / 2000 held out)", "schedule": schedule,
        "batch_size": 32, "optimizer": "adam", "weight_noise": noise, "seed": SEED,
        "initialised_from": init,
        "final_loss": losses[-1], "float_test_accuracy": acc, "n_test": len(data["y_test"]),
        "trained_by": "scripts/train_validation_models.py",
    }
    path = save_model(net, out_dir / f"{name}.npz")
    return {"name": name, "accuracy": acc, "seconds": elapsed, "bytes": path.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "cimsim" / "data")
    parser.add_argument("--only", nargs="*", choices=sorted(RECIPES), default=None)
    parser.add_argument("--from-stage", type=int, default=0,
                        help="Resume each model from its saved file after this many stages.")
    args = parser.parse_args(argv)
    data = load_mnist()
    for name in args.only or RECIPES:
        r = train(name, data, args.out_dir, from_stage=args.from_stage)
        print(f"{r['name']:<24} float held-out accuracy {r['accuracy']:.4f}  "
              f"({r['seconds']:.1f} s, {r['bytes'] / 1024:.1f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
