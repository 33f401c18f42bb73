"""Bench records for whole networks (loaded by scripts/bench.py as a plugin).

``digits_cnn_analog``: the bundled digits CNN (``digits_cnn_relu``) compiled on the default
HardwareConfig (Yao 2020 1T1R, 8-bit ADCs, all noise on) classifying a batch of held-out
digits. Reports images/s on the analog tiles, ``ratio_vs_float_network`` = (time of the same
network in float NumPy, :meth:`Network.forward`) / (time on tiles), and
``ratio_vs_numpy_gemm`` = (summed time of float32 GEMMs of every lowered MVM shape of the
network at this batch) / (time on tiles).

``network_inference_mnist``: the bundled MNIST CNN (``mnist_cnn_relu``) on the default
HardwareConfig with linear cells (``tile.cell = "linear"``), 1024 held-out images in one
batch. ``ratio_vs_numpy_gemm`` (and ``gemm_time_s``) here is against the float network,
``ratio_vs_float_network``: (time of the same network in
float NumPy) / (time on tiles); ``ratio_default_cell_vs_float_network`` is the same with the
default cell law (``tile.cell`` as shipped), beside it.
"""

from __future__ import annotations

import numpy as np
from bench import BenchContext, best_of, register


@register("digits_cnn_analog",
          "bundled digits CNN on default analog tiles: images/s, ratio to float NumPy network")
def bench_digits_cnn(ctx: BenchContext) -> list[dict]:
    from cimsim.hardware import HardwareConfig
    from cimsim.nn.models import load_bundled, load_digits_split

    net = load_bundled("digits_cnn_relu")
    data = load_digits_split()
    batch = 32 if ctx.quick else 359
    x = data["x_test"][:batch]
    net.compile(HardwareConfig())
    repeat = min(ctx.repeat, 3)
    t_analog = best_of(lambda: net.run(x, batch_size=batch), repeat=repeat)
    t_float = best_of(lambda: net.forward(x), repeat=max(ctx.repeat, 5))
    shapes = []
    for m in net.mapping:
        positions = m.macs_per_sample // sum(a * b for a, b in m.matrix_shapes)
        shapes += [(batch * positions, a, b) for a, b in m.matrix_shapes]
    t_gemm = float(sum(ctx.gemm_time(*s) for s in shapes))
    acc = float(np.mean(net.run(x).argmax(axis=1) == data["y_test"][:batch]))
    return [{
        "name": "digits_cnn_analog",
        "ratio_vs_numpy_gemm": t_gemm / t_analog,
        "time_s": t_analog,
        "gemm_time_s": t_gemm,
        "gemm_shapes": [list(s) for s in shapes],
        "images_per_s": batch / t_analog,
        "float_images_per_s": batch / t_float,
        "float_time_s": t_float,
        "ratio_vs_float_network": t_float / t_analog,
        "batch": batch,
        "analog_accuracy": acc,
    }]


def _interleaved(fn_a, fn_b, repeat: int) -> tuple[float, float]:
    """Best times [s] of ``fn_a`` and ``fn_b``, measured in alternating rounds (after the
    bench's quiet spell) so both see the same machine load."""
    import math
    import time

    from bench import SETTLE_S

    t_a = t_b = math.inf
    for _ in range(repeat):
        time.sleep(SETTLE_S)
        t_a = min(t_a, best_of(fn_a, repeat=1))
        time.sleep(SETTLE_S)
        t_b = min(t_b, best_of(fn_b, repeat=3))
    return t_a, t_b


@register("network_inference_mnist",
          "bundled MNIST CNN on the default chip (linear cells), batch 1024, vs float NumPy")
def bench_mnist_cnn(ctx: BenchContext) -> list[dict]:
    from cimsim.hardware import HardwareConfig
    from cimsim.nn.models import load_bundled, load_mnist

    data = load_mnist()
    batch = 32 if ctx.quick else 1024
    x = data["x_test"][:batch]
    y = data["y_test"][:batch]
    float_net = load_bundled("mnist_cnn_relu")
    times, accs, t_float = {}, {}, []
    base = HardwareConfig()
    for label, hw in (("linear", base.replace_path("tile.cell", "linear")), ("default", base)):
        net = load_bundled("mnist_cnn_relu")
        net.compile(hw)
        t, tf = _interleaved(lambda n=net: n.run(x, batch_size=batch),
                             lambda: float_net.forward(x), min(ctx.repeat, 3))
        times[label] = t
        t_float.append(tf)
        accs[label] = float(np.mean(net.run(x, batch_size=batch).argmax(axis=1) == y))
    tf = min(t_float)
    rec = {
        "name": "network_inference_mnist",
        "ratio_vs_numpy_gemm": tf / times["linear"],
        "time_s": times["linear"],
        "gemm_time_s": tf,
        "ratio_vs_float_network": tf / times["linear"],
        "float_time_s": tf,
        "batch": batch,
        "default_cell": base.tile.cell,
        "default_cell_time_s": times["default"],
        "ratio_default_cell_vs_float_network": tf / times["default"],
        "analog_accuracy": accs["linear"],
        "analog_accuracy_default_cell": accs["default"],
        "float_accuracy": float(np.mean(float_net.forward(x).argmax(axis=1) == y)),
    }
    return [rec]
