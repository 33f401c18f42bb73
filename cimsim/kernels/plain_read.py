r"""The ideal-ADC read-out with read noise of :mod:`cimsim.tile.readout` as one LLVM IR
kernel (AVX-512).

:func:`cimsim.tile.readout._read_plain_py` converts each vector in Numba passes over its
columns (the read-noise normals of :func:`device_models.ziggurat.fill_row_normals`, the
codes, their switching energy, the shift-add). The kernel here runs the same arithmetic over
chunks of :data:`CH` columns whose scratch stays in the L1 cache,
with the helpers of :mod:`cimsim.kernels.sar_read`, in vector steps of :data:`LANES` columns:

1. (vector) the read-noise draw bits ``h = L(L(col ⊕ lo) ⊕ hi)``;
2. (scalar) their ziggurat layer words;
3. (vector) the core values ``z`` (a draw outside its core finished exactly by the callback
   :func:`~cimsim.kernels.sar_read.slow_draw_address`), the code ``clip(floor(h0 + μ·g +
   sqrt(max(σ²·g², 0))·z), 0, M − 1)`` in the dtype of the means (float32 or float64, as
   :func:`cimsim.tile.readout._codes_noisy`), and the shift-add ``(code − half)·coef`` into
   the output row;
4. (scalar) the switching energy ``e_table[code]`` in the four partial sums of
   :func:`cimsim.tile.readout._code_energy`.

Every floating-point operation is the passes' own, in the same order and precision (no
fast-math flags), so the results are bitwise those of the passes. Reads without read noise
run the passes (:func:`cimsim.tile.readout._codes_clean`: no draws, and the passes are as
fast), and so does every read where :mod:`cimsim.kernels._llvm` does not compile the kernel
(cores without AVX-512F/BW/DQ/VL, ``CIMSIM_FORCE_BLAS=1``).
"""

from __future__ import annotations

import numpy as np

from . import _llvm
from .sar_read import (
    _B,
    _C,
    _FEATURES,
    W,
    _common_decls,
    _draw_passes,
    _energy_sums,
    _read_module,
    _read_normals,
    _row_hash,
    _shift_add,
    _v,
    _vec_loop,
)

__all__ = ["CH", "LANES"]

_STATES: dict = {}
_ADDRESS: dict = {}

#: The kernel's arguments (LLVM type, name); rows ``b0 … b1 − 1``; addresses as i64; ``h0``
#: and ``code_max`` are values of the means' dtype, passed as double.
_SIG = [("i64", n) for n in ("b0", "b1", "n_s", "mean", "ldm", "var", "ldv", "gain",
                             "gain2", "coef", "e_table", "words", "active", "slow_fn", "key",
                             "key_slow", "sample0", "n_planes", "plane")] + [
    ("i32", n) for n in ("skip", "assign", "col0")] + [
    ("double", n) for n in ("h0", "cmax", "half")] + [
    ("i64", n) for n in ("out", "ldo", "e_out")]
_PTRS = {"mean", "var", "gain", "gain2", "coef", "e_table", "words", "active", "slow_fn",
         "out", "e_out"}
_ARGS = [_C[t] for t, _ in _SIG]
_SCRATCH = (("s_h", "i32"), ("s_w", "i64"), ("s_code", "i32"))
#: Columns per vector step: the float32 lanes of one 512-bit register [-].
LANES = 2 * W
#: Columns per chunk (its scratch, 2 KiB, stays in the L1 cache) [-].
CH = 128
#: Intrinsic suffix of LANES elements of each dtype.
_SFX = {"float": f"{LANES}f32", "double": f"{LANES}f64"}


def kernel(dtype):
    """The compiled ``plain_read`` for means and variances of ``dtype`` (float32, float64),
    as a ctypes function, or None (use the passes): ``CIMSIM_FORCE_BLAS=1``, a core without
    AVX-512, or a failure to compile. Arguments: see ``_SIG`` and
    :func:`cimsim.tile.readout._read_plain_fused`."""
    if _llvm.force_blas():
        return None
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        return None
    state = _STATES.setdefault(dt.str, {})
    mty = "float" if dt == np.float32 else "double"
    return _llvm.compiled_function(state, lambda: _ir(mty), "plain_read", _ARGS, _FEATURES,
                                   "the fused ideal-ADC read-out kernel", "the Numba passes",
                                   optimize=True)


def kernel_address(dtype) -> int:
    """The machine-code address of :func:`kernel` ``(dtype)`` (for a call from compiled code,
    :func:`cimsim.kernels._llvm.call_void`), 0 where it does not run."""
    if _llvm.force_blas():
        return 0
    dt = np.dtype(dtype)
    addr = _ADDRESS.get(dt)
    if addr is None:
        fn = kernel(dt)
        addr = _ADDRESS[dt] = 0 if fn is None else _llvm.function_address(fn)
    return addr


def _chunk(b: _B, mty: str) -> None:
    """The passes over one chunk of columns ``%j0 …`` (``%nc`` columns)."""
    t, i1 = b.v(mty), b.v("i1")
    sfx = "f" if mty == "float" else ""     # h0, code_max in the means' dtype

    def splat(name):
        return b.splat(mty, name + sfx)

    _draw_passes(b)

    def v2(off, j, mask):
        # _codes_noisy: h0 + μ·g + sqrt(max(σ²·g², 0))·z, floor, clip, in the means' dtype
        z = _read_normals(b, off, j, mask)
        if mty == "double":
            z = b(f"fpext {b.v('float')} {z} to {t}")
        u = b(f"fadd {t} " + splat("%h0") + ", " + b(
            f"fmul {t} " + b.vload(mty, "%mrow", j, mask) + ", " + b.vload(mty, "%gain", j, mask)))
        vv = b(f"fmul {t} " + b.vload(mty, "%vrow", j, mask) + ", "
               + b.vload(mty, "%gain2", j, mask))
        vv = b(f"select {i1} " + b(f"fcmp ogt {t} {vv}, zeroinitializer")
               + f", {t} {vv}, {t} zeroinitializer")
        sd = b(f"call {t} @llvm.sqrt.v{_SFX[mty]}({t} {vv})")
        u = b(f"fadd {t} {u}, " + b(f"fmul {t} {sd}, {z}"))
        u = b(f"call {t} @llvm.floor.v{_SFX[mty]}({t} {u})")
        u = b(f"select {i1} " + b(f"fcmp ogt {t} {u}, zeroinitializer")
              + f", {t} {u}, {t} zeroinitializer")
        cm = splat("%cmax")
        u = b(f"select {i1} " + b(f"fcmp olt {t} {u}, {cm}") + f", {t} {u}, {t} {cm}")
        code = b(f"fptosi {t} {u} to {b.v('i32')}")
        _shift_add(b, code, j, mask)
        b.vstore("i32", code, "%s_code", off)
    _vec_loop(b, "v2", "l2p", v2)

    def en(i):      # e_table[uint32(code)]
        return b.sload("double", "%e_table",
                       b("zext i32 " + b.sload("i32", "%s_code", i) + " to i64"))
    _energy_sums(b, en)


def _ir(mty: str) -> str:
    """The module of ``plain_read`` (see the module docstring)."""
    t = _v(mty, LANES)
    decls = [*_common_decls("double", "float", "i64", w=LANES),
             f"declare {t} @llvm.sqrt.v{_SFX[mty]}({t})",
             f"declare {t} @llvm.floor.v{_SFX[mty]}({t})"]
    setup = (["  %h0f = fptrunc double %h0 to float", "  %cmaxf = fptrunc double %cmax to float"]
             if mty == "float" else [])
    row_setup = [*_row_hash("rbits", "%key", "%row_n"),
                 "  %lo = trunc i64 %rbits to i32",
                 "  %rbh = lshr i64 %rbits, 32",
                 "  %hi = trunc i64 %rbh to i32",
                 *_row_hash("slow_rn", "%key_slow", "%row_n")]
    return _read_module("plain_read", _SIG, _PTRS, _SCRATCH, decls, setup, row_setup,
                        lambda b: _chunk(b, mty), LANES, CH)
