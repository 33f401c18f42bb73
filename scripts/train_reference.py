"""Train the small reference networks shipped in ``cimsim/data`` (pure NumPy, a few minutes).

Models (all float64 training with Adam through the explicit backward of :mod:`cimsim.nn.layers`):

* ``digits_mlp_relu``      — 64-64-10 MLP on scikit-learn's 8×8 digits;
* ``digits_cnn_relu``      — conv(8,3×3)-pool-conv(16,3×3)-pool-linear CNN on digits (the demo);
* ``digits_cnn_swish``, ``digits_cnn_softplus`` — the same CNN with smooth activations;
* ``digits_cnn_relu_noise`` — the ReLU CNN with noise-aware training (weight noise 5 % of
  max|W| injected at every step);
* ``mnist_cnn_relu``, ``mnist_cnn_swish`` — conv(8,5×5)-pool-conv(16,5×5)-pool-linear on the
  bundled 10 000-image MNIST subset (8 000 train / 2 000 held out).

All seven train in about two CPU-minutes (the digits models in seconds each; BLAS runs
single-threaded inside ``Network.fit``), deterministically: the same script reproduces the
shipped weights.

It also writes ``digits_split.npz`` (the fixed train / held-out split of the 1 797 digits,
stratified per class, 20 % held out, raw 0..16 pixel values as uint8). Each model file keeps
64 training images as its calibration set and its float held-out accuracy in the metadata.

Usage::

    python scripts/train_reference.py [--out-dir cimsim/data] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from cimsim.nn.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Softplus, Swish
from cimsim.nn.models import load_mnist, save_model
from cimsim.nn.network import Network
from device_models import rng

SEED = 2024
ROOT = Path(__file__).resolve().parents[1]


def write_digits_split(out_dir: Path, test_fraction: float = 0.2) -> Path:
    """Stratified split of sklearn's digits, keyed by the counter-based RNG."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.images.astype(np.uint8)[:, None]  # (1797, 1, 8, 8), values 0..16
    y = d.target.astype(np.uint8)
    test = np.zeros(len(y), dtype=bool)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        order = idx[np.argsort(rng.uniform(rng.derive_key(SEED, "digits_split", c), len(idx)))]
        test[order[: round(test_fraction * len(idx))]] = True
    path = out_dir / "digits_split.npz"
    np.savez_compressed(path, x_train=x[~test], y_train=y[~test], x_test=x[test],
                        y_test=y[test])
    return path


def _he(name: str, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    return rng.standard_normal(rng.derive_key(SEED, "init", name), shape) * math.sqrt(2 / fan_in)


def linear(name: str, n_in: int, n_out: int) -> Linear:
    return Linear(_he(name, (n_out, n_in), n_in), np.zeros(n_out), name=name)


def conv(name: str, c_in: int, c_out: int, k: int, padding: int = 0) -> Conv2d:
    return Conv2d(_he(name, (c_out, c_in, k, k), c_in * k * k), np.zeros(c_out),
                  padding=padding, name=name)


def act(kind: str, name: str):
    return {"relu": ReLU, "swish": Swish, "softplus": Softplus}[kind](name=name)


def digits_mlp(kind: str) -> list:
    return [Flatten(name="flatten"), linear("fc1", 64, 64), act(kind, "act1"),
            linear("fc2", 64, 10)]


def digits_cnn(kind: str) -> list:
    return [conv("conv1", 1, 8, 3, padding=1), act(kind, "act1"), MaxPool2d(2, name="pool1"),
            conv("conv2", 8, 16, 3, padding=1), act(kind, "act2"), MaxPool2d(2, name="pool2"),
            Flatten(name="flatten"), linear("fc", 64, 10)]


def mnist_cnn(kind: str) -> list:
    return [conv("conv1", 1, 8, 5), act(kind, "act1"), MaxPool2d(2, name="pool1"),
            conv("conv2", 8, 16, 5), act(kind, "act2"), MaxPool2d(2, name="pool2"),
            Flatten(name="flatten"), linear("fc", 256, 10)]


# name -> (data set, layer builder, activation, epochs, lr, weight noise)
RECIPES = {
    "digits_mlp_relu": ("digits", digits_mlp, "relu", 40, 3e-3, 0.0),
    "digits_cnn_relu": ("digits", digits_cnn, "relu", 40, 3e-3, 0.0),
    "digits_cnn_swish": ("digits", digits_cnn, "swish", 40, 3e-3, 0.0),
    "digits_cnn_softplus": ("digits", digits_cnn, "softplus", 40, 3e-3, 0.0),
    "digits_cnn_relu_noise": ("digits", digits_cnn, "relu", 40, 3e-3, 0.05),
    "mnist_cnn_relu": ("mnist", mnist_cnn, "relu", 8, 2e-3, 0.0),
    "mnist_cnn_swish": ("mnist", mnist_cnn, "swish", 8, 2e-3, 0.0),
}


def _digits(out_dir: Path) -> dict[str, np.ndarray]:
    with np.load(out_dir / "digits_split.npz") as d:
        return {"x_train": d["x_train"] / 16.0, "y_train": d["y_train"].astype(np.int64),
                "x_test": d["x_test"] / 16.0, "y_test": d["y_test"].astype(np.int64)}


def train(name: str, data: dict[str, np.ndarray], out_dir: Path) -> dict:
    dataset, builder, kind, epochs, lr, noise = RECIPES[name]
    shape = data["x_train"].shape[1:]
    net = Network(builder(kind), shape, name=name)
    t0 = time.perf_counter()
    losses = net.fit(data["x_train"], data["y_train"], epochs=epochs, lr=lr, batch_size=32,
                     weight_noise=noise, seed=SEED, progress=True)
    elapsed = time.perf_counter() - t0
    acc = net.float_accuracy(data["x_test"], data["y_test"])
    net.calibration = data["x_train"][:64]
    net.metadata = {
        "dataset": dataset, "activation": kind, "epochs": epochs, "lr": lr,
        "batch_size": 32, "optimizer": "adam", "weight_noise": noise, "seed": SEED,
        "final_loss": losses[-1], "float_test_accuracy": acc,
        "n_test": len(data["y_test"]), "trained_by": "scripts/train_reference.py",
    }
    path = save_model(net, out_dir / f"{name}.npz")
    return {"name": name, "accuracy": acc, "seconds": elapsed, "bytes": path.stat().st_size}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "cimsim" / "data")
    parser.add_argument("--only", nargs="*", choices=sorted(RECIPES), default=None)
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_digits_split(args.out_dir)
    sets = {"digits": _digits(args.out_dir)}
    for name in args.only or RECIPES:
        dataset = RECIPES[name][0]
        if dataset not in sets:
            sets[dataset] = load_mnist()
        r = train(name, sets[dataset], args.out_dir)
        print(f"{r['name']:<24} float held-out accuracy {r['accuracy']:.4f}  "
              f"({r['seconds']:.1f} s, {r['bytes'] / 1024:.1f} KiB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
