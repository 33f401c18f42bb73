"""Bench record for the sequence models (loaded by scripts/bench.py as a plugin).

``charlm_transformer_tokens``: the bundled character transformer (``charlm_transformer``) on
the default HardwareConfig, predicting every next character of a batch of held-out windows
(64 characters each). All sequences and heads go through each layer together: the projections
as one batched tile call over every token, QKᵀ and A·V as batched GEMMs over sequences and
heads (no Python loop per token or head). Reports tokens/s on the tiles,
``ratio_vs_float_network`` = (time of the same network in float NumPy, :meth:`Network.forward`)
/ (time on tiles), and ``ratio_vs_numpy_gemm`` = (summed time of float32 GEMMs of the
network's tile matrices at this batch of tokens) / (time on tiles).
"""

from __future__ import annotations

import numpy as np
from bench import BenchContext, best_of, register


@register("charlm_transformer_tokens",
          "bundled character transformer on default tiles: tokens/s, ratio to float NumPy")
def bench_charlm_tokens(ctx: BenchContext) -> list[dict]:
    from cimsim.hardware import HardwareConfig
    from cimsim.nn.models import load_bundled
    from cimsim.nn.seqdata import char_windows, load_tempest

    net = load_bundled("charlm_transformer")
    t = net.input_shape[0]
    x, y = char_windows(load_tempest()["test"], t)
    batch = 16 if ctx.quick else 128
    x, y = x[:batch], y[:batch]
    net.compile(HardwareConfig())
    repeat = min(ctx.repeat, 3)
    t_analog = best_of(lambda: net.run(x, batch_size=batch), repeat=repeat)
    t_float = best_of(lambda: net.forward(x), repeat=max(ctx.repeat, 5))
    tokens = batch * t
    shapes = [(tokens, a, b) for m in net.mapping for a, b in m.matrix_shapes]
    t_gemm = float(sum(ctx.gemm_time(*s) for s in shapes))
    acc = float(np.mean(net.run(x).argmax(-1) == y))
    return [{
        "name": "charlm_transformer_tokens",
        "ratio_vs_numpy_gemm": t_gemm / t_analog,
        "time_s": t_analog,
        "gemm_time_s": t_gemm,
        "gemm_shapes": [list(s) for s in shapes],
        "tokens_per_s": tokens / t_analog,
        "float_tokens_per_s": tokens / t_float,
        "float_time_s": t_float,
        "ratio_vs_float_network": t_float / t_analog,
        "batch_sequences": batch,
        "tokens": tokens,
        "analog_next_char_accuracy": acc,
    }]
