"""Train the bundled spiking and graded-neuron networks and the ANN partner of the MNIST one
(pure NumPy).

Models:

* ``digits_snn_lif`` — rate-coded LIF network 64-64-10 (τ = 16 steps, reset by subtraction,
  16 steps, spike-count read-out) on the bundled digits split, trained from scratch by
  surrogate gradients through time (BPTT with the fast-sigmoid pseudo-derivative,
  :mod:`cimsim.nn.spiking`). Its ANN partner on the same tiles is the bundled
  ``digits_mlp_relu`` (the same 64-64-10 shapes, trained as an ANN by
  ``scripts/train_reference.py``).
* ``digits_mlp_graded`` — 64-64-10 network whose hidden neurons are graded subthreshold
  transistor stages (:class:`cimsim.nn.graded.SubthresholdActivation`, 65 nm NMOS card,
  g = 0.1 V per unit, gate bias 0.3 V below V_T0: the stages run in weak inversion for almost
  every input), trained with the EKV transfer curve in the loop (backpropagation through
  g·g_m/I_1, Adam). Its first layer has no bias (on the chip its column currents drive the
  stages' gates directly). ANN partner: ``digits_mlp_relu``.
* ``mnist_mlp_relu`` — ReLU MLP 784-128-10 on the bundled 10 000-image MNIST subset (8 000
  train / 2 000 held out).
* ``mnist_snn_lif`` — ``mnist_mlp_relu`` converted to a rate-coded spiking network with
  data-based threshold balancing (99.9th percentile, :mod:`cimsim.nn.snn_convert`), then
  fine-tuned by surrogate gradients through time at 16 steps with a membrane leak of
  τ = 64 steps (hybrid conversion and spike-based training).

Everything is seeded by counter-based streams (initial weights, shuffling), so rerunning the
script reproduces the shipped files. Each file keeps 64 training images as its calibration
set and its float held-out accuracy in the metadata; weights are stored as float16 to keep the
package small (the metadata accuracy is that of the stored weights).

Usage::

    python scripts/train_snn.py [--out-dir cimsim/data] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from cimsim.nn.layers import LIF, Flatten, Linear, ReLU, SpikeEncoder, SubthresholdActivation
from cimsim.nn.models import load_digits_split, load_mnist, load_model, save_model
from cimsim.nn.network import Network
from cimsim.nn.snn_convert import convert_to_snn
from device_models import rng

SEED = 2026
ROOT = Path(__file__).resolve().parents[1]
STEPS = 16


def _he(out_f: int, in_f: int, tag: str) -> np.ndarray:
    return rng.standard_normal(rng.derive_key(SEED, "init", tag), (out_f, in_f)) * np.sqrt(
        2.0 / in_f)


def _finish(net: Network, x_test, y_test, path: Path, meta: dict) -> Network:
    """Store as float16, reload, record the stored model's held-out accuracy."""
    save_model(net, path, dtype=np.float16)
    stored = load_model(path)
    acc = stored.float_accuracy(x_test, y_test)
    stored.metadata.update(meta, float_test_accuracy=acc, n_test=int(len(y_test)),
                           trained_by="scripts/train_snn.py", seed=SEED)
    save_model(stored, path, dtype=np.float16)
    print(f"{path.name}: float held-out accuracy {acc:.4f}", file=sys.stderr)
    return stored


def digits_snn_lif(out_dir: Path) -> Network:
    d = load_digits_split()
    layers = [SpikeEncoder(STEPS, "rate", 8, name="encoder"), Flatten(name="flatten"),
              Linear(_he(64, 64, "digits.fc1"), np.zeros(64), name="fc1"),
              LIF(1.0, 16.0, "subtract", 0, STEPS, "spikes", name="lif1"),
              Linear(_he(10, 64, "digits.fc2"), np.zeros(10), name="fc2"),
              LIF(1.0, 16.0, "subtract", 0, STEPS, "count", name="readout")]
    net = Network(layers, (1, 8, 8), name="digits_snn_lif", calibration=d["x_train"][:64])
    epochs, lr = 30, 2e-3
    hist = net.fit(d["x_train"], d["y_train"], epochs=epochs, lr=lr, batch_size=32, seed=SEED)
    meta = {"dataset": "digits", "method": "surrogate-gradient BPTT from scratch "
            "(fast sigmoid, slope 5, reset not differentiated)", "timesteps": STEPS,
            "coding": "rate", "epochs": epochs, "lr": lr, "batch_size": 32, "optimizer": "adam",
            "final_loss": hist[-1], "ann_model": "digits_mlp_relu"}
    return _finish(net, d["x_test"], d["y_test"], out_dir / "digits_snn_lif.npz", meta)


def digits_mlp_graded(out_dir: Path) -> Network:
    d = load_digits_split()
    g, off = 0.1, -0.3
    layers = [Flatten(name="flatten"), Linear(_he(64, 64, "graded.fc1"), None, name="fc1"),
              SubthresholdActivation("ptm2006_65nm_nmos", g, off, 0.3, 300.0, name="graded"),
              Linear(_he(10, 64, "graded.fc2"), np.zeros(10), name="fc2")]
    net = Network(layers, (1, 8, 8), name="digits_mlp_graded", calibration=d["x_train"][:64])
    epochs, lr = 30, 2e-3
    hist = net.fit(d["x_train"], d["y_train"], epochs=epochs, lr=lr, batch_size=32, seed=SEED)
    meta = {"dataset": "digits", "activation": "subthreshold transistor stage (EKV, "
            "ptm2006_65nm_nmos, g = 0.1 V/unit, gate offset -0.3 V, V_DS = 0.3 V, 300 K)",
            "method": "backpropagation with the transfer curve in the loop", "epochs": epochs,
            "lr": lr, "batch_size": 32, "optimizer": "adam", "final_loss": hist[-1],
            "ann_model": "digits_mlp_relu"}
    return _finish(net, d["x_test"], d["y_test"], out_dir / "digits_mlp_graded.npz", meta)


def mnist_mlp_relu(out_dir: Path) -> Network:
    d = load_mnist()
    layers = [Flatten(name="flatten"), Linear(_he(128, 784, "mnist.fc1"), np.zeros(128),
                                              name="fc1"),
              ReLU(name="act1"), Linear(_he(10, 128, "mnist.fc2"), np.zeros(10), name="fc2")]
    net = Network(layers, (1, 28, 28), name="mnist_mlp_relu", calibration=d["x_train"][:64])
    epochs, lr = 12, 2e-3
    hist = net.fit(d["x_train"], d["y_train"], epochs=epochs, lr=lr, batch_size=32, seed=SEED)
    meta = {"dataset": "mnist10k (8000 train / 2000 held out)", "activation": "relu",
            "epochs": epochs, "lr": lr, "batch_size": 32, "optimizer": "adam",
            "final_loss": hist[-1]}
    return _finish(net, d["x_test"], d["y_test"], out_dir / "mnist_mlp_relu.npz", meta)


def mnist_snn_lif(out_dir: Path) -> Network:
    d = load_mnist()
    ann_path = out_dir / "mnist_mlp_relu.npz"
    ann = load_model(ann_path) if ann_path.exists() else mnist_mlp_relu(out_dir)
    snn = convert_to_snn(ann, d["x_train"], timesteps=STEPS, percentile=99.9,
                         name="mnist_snn_lif")
    converted = snn.float_accuracy(d["x_test"], d["y_test"])
    for layer in snn.layers:
        if isinstance(layer, LIF):
            layer.tau_steps = 64.0
    epochs, lr = 2, 2e-4
    hist = snn.fit(d["x_train"], d["y_train"], epochs=epochs, lr=lr, batch_size=32, seed=SEED)
    meta = {"method": "conversion with data-based threshold balancing (99.9th percentile) of "
            "mnist_mlp_relu, then surrogate-gradient BPTT fine-tuning with leak tau = 64 steps",
            "converted_float_test_accuracy": converted, "finetune_epochs": epochs,
            "finetune_lr": lr, "final_loss": hist[-1], "timesteps": STEPS, "coding": "rate",
            "ann_model": "mnist_mlp_relu"}
    return _finish(snn, d["x_test"], d["y_test"], out_dir / "mnist_snn_lif.npz", meta)


MODELS = {"digits_snn_lif": digits_snn_lif, "digits_mlp_graded": digits_mlp_graded,
          "mnist_mlp_relu": mnist_mlp_relu,
          "mnist_snn_lif": mnist_snn_lif}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out-dir", default=str(ROOT / "cimsim" / "data"))
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS), default=None)
    args = ap.parse_args(argv)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(MODELS):
        t0 = time.perf_counter()
        MODELS[name](out)
        print(f"  ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
