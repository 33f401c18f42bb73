"""Bench records for whole networks (loaded by scripts/bench.py as a plugin).

``digits_cnn_analog``: the bundled digits CNN (``digits_cnn_relu``) compiled on the default
HardwareConfig (Yao 2020 1T1R, 8-bit ADCs, all noise on) classifying a batch of held-out
digits. Reports images/s on the analog tiles, ``ratio_vs_float_network`` = (time of the same
network in float NumPy, :meth:`Network.forward`) / (time on tiles), and
``ratio_vs_numpy_gemm`` = (summed time of float32 GEMMs of every lowered MVM shape of the
network at this batch) / (time on tiles).
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
