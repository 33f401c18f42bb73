"""Tile benchmarks (plugin of scripts/bench.py): whole analog tile MVMs against float32 GEMM.

Records (each also carries ``n_tiles``, the relative error of the result against the float
product, and the set-up time):

* ``standard_tile_mvm``: 512×512 weights on one 512-row × 1024-column tile, differential pairs,
  8-bit amplitude inputs, read noise by the variance identity, 8-bit ideal column ADCs,
  batch 1024 (``signal_gemm`` and ``variance_gemm`` say whether the integer signal GEMM and
  the bfloat16 variance GEMM ran on their AVX-512 kernels or on float32 BLAS,
  :mod:`cimsim.kernels.int8_gemm`, :mod:`cimsim.kernels.bf16_gemm`);
* ``standard_tile_mvm_converter_noise``: the same with the ADC card's capacitor mismatch,
  comparator offset and noise, and kT/C (SAR binary search per conversion);
* ``default_tile_mvm``: 512×512 weights on ``HardwareConfig()`` as shipped (its tile geometry,
  converter noise, DAC card levels, drift and faults) with linear cells (``tile.cell =
  "linear"``), batch 1024;
* ``bitserial_tile_mvm``: 8 bit-planes of non-negative 8-bit inputs, one ADC conversion per
  plane (both sums of a plane by the table look-up of :mod:`cimsim.kernels.lut_gemm`,
  ``signal_gemm = variance_gemm = "lut_avx512f"``);
* ``ir_drop_linear_tile_mvm``: the standard tile with exact IR drop (row and column wires of
  1 Ω per cell), after the one-off ``G_eff``. Its set-up (programming, calibration, ``G_eff``)
  is reported as ``geff_setup_gemm_equivalents`` (the best of :data:`SETUP_REPEAT` tiles with
  different weights, each one listed in ``setup_s_each``), timed after a 128×128 tile of the same
  configuration has loaded the set-up's Numba kernels (a cost paid once per process, not per
  tile; that first tile's time is ``kernel_load_s``), after the bench's quiet spell
  (``bench.SETTLE_S``: no BLAS worker of the first tile's calibration still spinning).
"""

from __future__ import annotations

import time

import numpy as np
from bench import SETTLE_S, BenchContext, register

_R_WIRE_OHM = 1.0
#: Tiles whose set-up the IR-drop record times; it reports the best [-].
SETUP_REPEAT = 3


def _setup(ctx: BenchContext, tag: int, *, encoding="amplitude", converter_noise=False,
           r_wire_ohm=0.0, nonneg=False, n=None):
    from cimsim.hardware import HardwareConfig
    from cimsim.tile.matrix import AnalogMatrix

    n = n or (32 if ctx.quick else 512)
    batch = 16 if ctx.quick else 1024
    rng = ctx.rng(tag)
    w = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.standard_normal((batch, n))
    if nonneg:
        x = np.abs(x)
    base = HardwareConfig(converter_noise=converter_noise, drift=False)
    hw = base.replace(tile=base.tile.replace(
        rows=n, cols=2 * n, adc_bits=8, input_bits=8, weight_bits=8, bits_per_cell=8,
        input_encoding=encoding, weight_mapping="differential",
        r_wire_row_ohm=r_wire_ohm, r_wire_col_ohm=r_wire_ohm))
    # the set-up is timed after the bench's quiet spell, like every other timing: OpenBLAS
    # worker threads spin for ~0.1 s after a multi-threaded GEMM (the calibration of a tile
    # set up just before), and on 2 cores a spinning worker takes a core from the set-up's
    # kernels (IR-drop tile, measured under load: 20-160 ms more CPU and a write-verify
    # 1.2-1.9x slower right after the 128x128 tile than after the quiet spell)
    time.sleep(SETTLE_S)
    t0 = time.perf_counter()
    m = AnalogMatrix(w, hw, name="bench")
    m.calibrate(x)        # builds the read state (and G_eff) at hw.t_s
    setup = time.perf_counter() - t0
    return m, x, w, setup, (batch, n, n)


def _run(ctx: BenchContext, name: str, m, x, w, setup, shape, **extra) -> dict:
    t, t_gemm = ctx.time_pair(lambda: m.matmul(x), shape)
    y, _ = m.matmul(x, sample_offset=0)
    ref = x @ w
    from cimsim.kernels import bf16_gemm, int8_gemm, lut_gemm

    signal = ("avx512_vnni" if int8_gemm.kernel_available()
              and m.encoder.int_step_v(0) is not None else "blas_float32")
    variance = "avx512_bf16" if bf16_gemm.kernel_available() else "blas_float32"
    if "lut" in m.blocks[0][2]._mats:      # bit-planes: both sums by one table look-up
        signal = variance = ("lut_avx512f" if lut_gemm.kernel_available()
                             else "lut_blas_float64")
    rec = ctx.record(name, t, shape, t_gemm, n_tiles=m.n_tiles, setup_s=setup,
                     rel_rms_error_vs_float=float(np.sqrt(np.mean((y - ref) ** 2)
                                                          / np.mean(ref ** 2))),
                     signal_gemm=signal, variance_gemm=variance, **extra)
    return rec


@register("standard_tile_mvm",
          "512x512 differential tile, 8-bit amplitude inputs, read noise, 8-bit ADC, batch 1024")
def bench_standard(ctx: BenchContext) -> list[dict]:
    m, x, w, setup, shape = _setup(ctx, 21)
    return [_run(ctx, "standard_tile_mvm", m, x, w, setup, shape)]


@register("standard_tile_mvm_converter_noise",
          "standard tile with SAR mismatch, comparator noise/offset and kT/C per the ADC card")
def bench_standard_converter_noise(ctx: BenchContext) -> list[dict]:
    m, x, w, setup, shape = _setup(ctx, 22, converter_noise=True)
    return [_run(ctx, "standard_tile_mvm_converter_noise", m, x, w, setup, shape)]


@register("default_tile_mvm",
          "512x512 weights on HardwareConfig() as shipped with linear cells, batch 1024")
def bench_default(ctx: BenchContext) -> list[dict]:
    from cimsim.hardware import HardwareConfig
    from cimsim.tile.matrix import AnalogMatrix

    n = 32 if ctx.quick else 512
    batch = 16 if ctx.quick else 1024
    rng = ctx.rng(25)
    w = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.standard_normal((batch, n))
    hw = HardwareConfig().replace_path("tile.cell", "linear")
    t0 = time.perf_counter()
    m = AnalogMatrix(w, hw, name="bench")
    m.calibrate(x)
    setup = time.perf_counter() - t0
    return [_run(ctx, "default_tile_mvm", m, x, w, setup, (batch, n, n),
                 tile_rows=hw.tile.rows, tile_cols=hw.tile.cols)]


@register("bitserial_tile_mvm", "standard tile, 8 bit-planes of 8-bit inputs, 1 ADC each")
def bench_bitserial(ctx: BenchContext) -> list[dict]:
    m, x, w, setup, shape = _setup(ctx, 23, encoding="bit_serial", nonneg=True)
    return [_run(ctx, "bitserial_tile_mvm", m, x, w, setup, shape,
                 bit_planes=m.encoder.n_planes)]


@register("ir_drop_linear_tile_mvm",
          "standard tile with exact IR drop (1 ohm per cell pitch), after the one-off G_eff")
def bench_ir_drop_tile(ctx: BenchContext) -> list[dict]:
    # a small tile of the same configuration first: it loads the set-up's Numba kernels (once
    # per process, not per tile), reported as kernel_load_s; the timed set-up is that of a tile
    t0 = time.perf_counter()
    _setup(ctx, 26, r_wire_ohm=_R_WIRE_OHM, n=16 if ctx.quick else 128)
    kernel_load = time.perf_counter() - t0
    m, x, w, setup, shape = _setup(ctx, 24, r_wire_ohm=_R_WIRE_OHM)
    # the set-up is one-off, so one timing carries the machine's noise whole: it is the best of
    # SETUP_REPEAT tiles of the same size and configuration, as the GEMM it is divided by is a
    # best of several; their weights differ (tags 24, 27, 28, ...), so no set-up finds a
    # G_eff already computed (the crossbar cache is keyed by the conductances)
    setups = [setup] + [_setup(ctx, 27 + i, r_wire_ohm=_R_WIRE_OHM)[3]
                        for i in range(0 if ctx.quick else SETUP_REPEAT - 1)]
    rec = _run(ctx, "ir_drop_linear_tile_mvm", m, x, w, min(setups), shape,
               r_wire_ohm=_R_WIRE_OHM, kernel_load_s=kernel_load,
               setup_s_each=[round(s, 4) for s in setups])
    rec["geff_setup_gemm_equivalents"] = min(setups) / rec["gemm_time_s"]
    return [rec]
