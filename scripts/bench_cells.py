"""Cell-law benchmarks (plugin of scripts/bench.py): tiles on the cells' physics.

Records (each with ``n_tiles``, the relative error against the float product, the set-up
time, the array-read ``plan`` and the expansion ``rank``):

* ``nonlinear_tile_mvm``: the ``standard_tile_mvm`` tile (512×512 weights, differential,
  8-bit amplitude inputs, read and programming noise, 8-bit ADC, batch 1024) with 1T1R cells
  whose access transistor is in moderate inversion (gate at :data:`V_GATE_MODERATE_V`, the
  inversion coefficient about 1 with the Yao 2020 card's MOSIS 0.18 µm NMOS): the cell law
  expanded on the DAC levels (``rank`` GEMMs) with its stated ``bound_a``;
* ``pwm_nonlinear_tile_mvm``: the same with pulse-width inputs (the law at the one pulse
  amplitude: the GEMMs of linear cells, two of each for signed inputs on a law that is not
  odd);
* ``ir_drop_nonlinear_tile_mvm``: 256×256 weights on a 256×512 tile of sinh cells with
  1 Ω row and column wire per pitch, batch 256: the fast method (``ratio_vs_numpy_gemm``)
  against the exact Newton solve (``ratio_exact_vs_numpy_gemm``), with the fast method's
  largest error relative to the exact column currents, ``max_rel_error_vs_exact``, measured
  in the same run.
"""

from __future__ import annotations

import time

import numpy as np
from bench import BenchContext, register

#: Gate voltage of the moderate-inversion 1T1R benches [V] (V_T = 0.52 V, n·U_T = 37 mV).
V_GATE_MODERATE_V = 0.56


def _matrix(ctx: BenchContext, tag: int, n: int, batch: int, **tile):
    from cimsim.hardware import HardwareConfig
    from cimsim.tile.matrix import AnalogMatrix

    rng = ctx.rng(tag)
    w = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.standard_normal((batch, n))
    base = HardwareConfig(converter_noise=False, drift=False)
    hw = base.replace(tile=base.tile.replace(
        rows=n, cols=2 * n, adc_bits=8, input_bits=8, weight_bits=8, bits_per_cell=8,
        weight_mapping="differential", **tile))
    t0 = time.perf_counter()
    m = AnalogMatrix(w, hw, name="bench")
    m.calibrate(x)
    return m, x, w, time.perf_counter() - t0


def _record(ctx: BenchContext, name: str, m, x, w, setup, **extra) -> dict:
    from cimsim.tile import cells

    shape = (x.shape[0], w.shape[0], w.shape[1])
    t, t_gemm = ctx.time_pair(lambda: m.matmul(x), shape)
    y, _ = m.matmul(x, sample_offset=0)
    ref = x @ w
    read = cells.array_read(m.blocks[0][2], m.hw.t_s, m.encoder, m._dtype)
    return ctx.record(name, t, shape, t_gemm, n_tiles=m.n_tiles, setup_s=setup,
                      rel_rms_error_vs_float=float(np.sqrt(np.mean((y - ref) ** 2)
                                                           / np.mean(ref ** 2))),
                      plan=read.plan, rank=read.rank, bound_a=read.bound_a, **extra)


@register("nonlinear_tile_mvm",
          "standard tile with 1T1R cells, gate in moderate inversion, amplitude inputs")
def bench_nonlinear(ctx: BenchContext) -> list[dict]:
    n, batch = (32, 16) if ctx.quick else (512, 1024)
    m, x, w, setup = _matrix(ctx, 31, n, batch, cell="1t1r", v_gate_v=V_GATE_MODERATE_V)
    return [_record(ctx, "nonlinear_tile_mvm", m, x, w, setup, v_gate_v=V_GATE_MODERATE_V)]


@register("pwm_nonlinear_tile_mvm",
          "standard tile with 1T1R cells in moderate inversion, pulse-width inputs")
def bench_pwm_nonlinear(ctx: BenchContext) -> list[dict]:
    n, batch = (32, 16) if ctx.quick else (512, 1024)
    m, x, w, setup = _matrix(ctx, 32, n, batch, cell="1t1r", v_gate_v=V_GATE_MODERATE_V,
                             input_encoding="pulse_width")
    return [_record(ctx, "pwm_nonlinear_tile_mvm", m, x, w, setup,
                    v_gate_v=V_GATE_MODERATE_V)]


_R_WIRE_OHM = 1.0
#: Vectors on which the exact Newton solve is timed and compared (it costs seconds each) [-].
EXACT_VECTORS = 8


@register("ir_drop_nonlinear_tile_mvm",
          "256x256 weights on a 256x512 tile of sinh cells, 1 ohm wires: fast vs exact")
def bench_ir_drop_nonlinear(ctx: BenchContext) -> list[dict]:
    """Tile MVM with sinh cells (the card's v0) and 1 Ω of row and column wire per pitch.
    ``ratio_vs_numpy_gemm``: the whole tile MVM with the fast method (line relaxation,
    :mod:`cimsim.array._lines`); ``ratio_exact_vs_numpy_gemm``: the array read by the exact
    Newton solve of :mod:`cimsim.array.crossbar` on :data:`EXACT_VECTORS` vectors (against the
    GEMM of that many vectors); ``max_rel_error_vs_exact``: the largest difference of a
    physical column current between the two, relative to the column's wire-free current
    magnitude ``Σ_i |F(g_ij, v_i)|``, on the same vectors."""
    from cimsim.tile import cells

    n, batch = (32, 16) if ctx.quick else (256, 256)
    m, x, w, setup = _matrix(ctx, 33, n, batch, cell="sinh", r_wire_row_ohm=_R_WIRE_OHM,
                             r_wire_col_ohm=_R_WIRE_OHM)
    rec = _record(ctx, "ir_drop_nonlinear_tile_mvm", m, x, w, setup, r_wire_ohm=_R_WIRE_OHM)
    # the array read alone: fast against exact on the same row voltages
    read = cells.array_read(m.blocks[0][2], m.hw.t_s, m.encoder, m._dtype)
    tile, st = m.tiles[0], read.states[0]
    xb = read._crossbar(tile, st)
    nv = min(EXACT_VECTORS, batch)
    codes = m.encoder.codes(x[:nv])
    v = np.zeros((nv, m.hw.tile.rows))
    v[:, :n] = read._cell_volts(None, None, codes)
    t0 = time.perf_counter()
    exact = xb.column_currents(v, method="exact")
    t_exact = time.perf_counter() - t0
    fast = xb.column_currents(v, method="lines", rtol=cells.LINES_RTOL)
    info = dict(xb.lines_info)
    scale = np.abs(tile.law.current(v[:, :, None], xb.g_s[None])).sum(axis=1)
    t_gemm_nv = ctx.gemm_time(nv, n, n)
    rec.update(
        max_rel_error_vs_exact=float(np.max(np.abs(fast - exact) / scale)),
        max_error_rel_full_scale=float(np.max(np.abs(fast - exact)) / np.max(np.abs(exact))),
        exact_time_s=t_exact, exact_vectors=nv,
        ratio_exact_vs_numpy_gemm=t_gemm_nv / t_exact,
        passes=info["passes"], rel_error_est=info["rel_error_est"],
        table_bound_a=info["table_bound_a"],
        linear_cell_model_max_rel_error=float(np.max(np.abs(
            v @ np.asarray(xb.g_s) - exact) / scale)),
        v0_v=float(tile.law.v0_v), rows=n, cols=2 * n, batch=batch)
    return [rec]
