r"""Signal GEMM in integers: row codes times a three-digit split of the signal matrix.

Where a cycle drives every row at an integer multiple of one step, ``v_i = n_i·Δv`` with
``|n_i| ≤ 255`` (quantised inputs of up to 8 bits on linear DAC levels; bit-serial planes),
the signal currents are ``μ = Δv · n @ S``. The tiles take that product with the signal
matrix split once into three signed base-128 digits,

.. math:: S_{ij} \approx u\,\bigl(D^{(0)}_{ij} + D^{(1)}_{ij}/128 + D^{(2)}_{ij}/128^2\bigr),
          \qquad u = \max|S| / 127 \quad [S]

(``D⁽⁰⁾ = rint(S/u)`` in [−127, 127], each further digit the rounded remainder times 128, in
[−64, 64]), so ``|S − Ŝ| ≤ u / (2·128²) ≈ 2.4·10⁻⁷·max|S|`` per cell, and the three integer
products ``n @ D⁽ˢ⁾`` are exact in int32 (``|Σ| ≤ 255·127·K``). The currents are then

.. math:: \mu_j = \sum_{s=2,1,0} \mathrm{f32}(R^{(s)}_j)\cdot \mathrm{f32}(\Delta v\,u\,128^{-s})
          \quad [A]

summed in float32 from the smallest digit up. The error against the exact ``v @ S`` is at most
``2.4·10⁻⁷·max|S|·Σ|v|`` from the split plus the float32 rounding of three terms: comparable
to a float32 GEMM's own rounding of a few-hundred-row sum, and far below an ADC step.

``split(S, digits=2)`` takes two digits of base 254 instead (``D⁽¹⁾`` in [−127, 127]):
``|S − Ŝ| ≤ u/(2·254) ≈ 1.55·10⁻⁵·max|S|`` per cell for two thirds of the integer work, for
matrices whose depth is already doubled (the two drive polarities of a nonlinear cell law,
:mod:`cimsim.tile.cells`).

On cores with AVX-512 VNNI (``vpdpbusd``: 64 byte products per instruction, four times the
float32 FMA rate) the three products run on the kernel of :mod:`cimsim.kernels._llvm` (unsigned
codes times signed digits; signed codes are offset by 128 and the offset's column sums taken
off in the kernel). Elsewhere (or with ``CIMSIM_FORCE_BLAS=1``, or if the kernel does not
compile) the tiles use a float32 BLAS GEMM with ``Ŝ``; the NumPy backend runs the same
integer arithmetic as the kernel in NumPy. Every path checks the operands' shapes first and
refuses row voltages off the integer grid (:func:`matmul`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from device_models._checks import fail
from device_models._jit import backend, jit

from . import _llvm
from ._llvm import MR, NR
from .parallel import workspace

__all__ = ["SplitMatrix", "integer_matrix", "kernel_available", "matmul", "rounded", "split"]

#: Digits of the split and their base [-].
N_DIGITS, BASE = 3, 128
#: Base of each digit count :func:`split` offers: three digits of base 128 (the default), or
#: two of base 254 (every digit within ±127) [-].
BASES = {3: BASE, 2: 254}
#: Largest ``|code|`` of a row drive the kernel takes (unsigned bytes) [-].
CODE_MAX = 255
#: Rows of ``K`` that keep ``|n @ D|`` within int32 [-].
K_MAX = (2 ** 31 - 1) // (CODE_MAX * 127)


@dataclasses.dataclass(frozen=True, eq=False)
class SplitMatrix:
    """A signal matrix split into digits (:func:`split`).

    Attributes
    ----------
    k, n : int
        Shape [-].
    unit_s : float
        ``u``, the value of one unit of the leading digit [S].
    panels : ndarray (digits, ceil(n/32), ceil(k/4), 32, 4), int8
        The digits in the kernel's layout, zero-padded.
    offset_sums : ndarray (2, digits, 32·ceil(n/32)), int32
        ``128·Σ_i D⁽ˢ⁾_ij`` (taken off the products of codes offset by 128), and zeros (codes
        without offset).
    rounded : ndarray (k, n), float32
        ``Ŝ``, the matrix the digits represent [S] (the BLAS path), formed from the digits on
        first use (only the digits are kept otherwise).
    """

    k: int
    n: int
    unit_s: float
    panels: np.ndarray
    offset_sums: np.ndarray
    #: Base of the digits [-] (:data:`BASES`).
    base: int = BASE

    @property
    def n_digits(self) -> int:
        """Digits of the split [-]."""
        return int(self.panels.shape[0])

    @property
    def rounded(self) -> np.ndarray:
        got = self.__dict__.get("_rounded")
        if got is None:
            got = _rounded(self.digits, self.unit_s, self.base)
            object.__setattr__(self, "_rounded", got)
        return got

    def __post_init__(self):
        # the kernel's pointers: digit panels, then offset sums (signed) and zeros (unsigned)
        ptrs = tuple(int(p.ctypes.data) for p in self.panels) + tuple(
            int(z.ctypes.data) for z in self.offset_sums.reshape(-1, self.offset_sums.shape[-1]))
        object.__setattr__(self, "_ptrs", ptrs)

    @property
    def digits(self) -> np.ndarray:
        """``D⁽⁰⁾, D⁽¹⁾, …``, (digits, k, n) int8 (a view of the panels, unpadded)."""
        p = self.panels
        full = p.transpose(0, 2, 4, 1, 3).reshape(p.shape[0], 4 * p.shape[2], NR * p.shape[1])
        return full[:, :self.k, :self.n]


def _check_rows(s, caller: str) -> np.ndarray:
    s = np.asarray(s, dtype=np.float64)
    if s.shape[0] > K_MAX:
        fail("s", caller, f"at most {K_MAX} rows (exact int32 sums)",
             f"array of shape {s.shape}")
    return s


def _base(digits: int, caller: str) -> int:
    if digits not in BASES:
        fail("digits", caller, f"one of {sorted(BASES)}", digits)
    return BASES[digits]


def _digit_planes(s: np.ndarray, digits: int = N_DIGITS, base: int = BASE):
    """``unit`` and an iterator over the float64 digits ``D⁽ᵈ⁾`` of ``S = unit·Σ_d D⁽ᵈ⁾·B⁻ᵈ``
    (``q₀ = S/unit``, ``D⁽ᵈ⁾ = rint(q_d)``, ``q_{d+1} = (q_d − D⁽ᵈ⁾)·B``, ``B = base``,
    ``digits`` of them), each yielded in
    one scratch array that the next step overwrites (two arrays of ``S``'s size in all; the
    consumer may change it)."""
    top = float(np.max(np.abs(s))) if s.size else 0.0
    unit = top / 127.0 if top > 0.0 else 1.0

    def planes():
        q = s / unit
        di = np.empty_like(q)
        for _ in range(digits):
            np.rint(q, out=di)
            np.subtract(q, di, out=q)
            np.multiply(q, base, out=q)
            yield di
    return unit, planes()


def split(s, digits: int = N_DIGITS) -> SplitMatrix:
    """Split a finite ``(k, n)`` signal matrix ``S`` [S] into ``digits`` signed digits: three
    of base 128 (the default; ``|S − Ŝ| ≤ u/(2·128²)`` per entry) or two of base 254
    (``|S − Ŝ| ≤ u/(2·254)``, two thirds of the integer work), ``u = max|S|/127``."""
    base = _base(digits, "int8_gemm.split")
    s = _check_rows(s, "int8_gemm.split")
    k, n = s.shape
    unit, planes = _digit_planes(s, digits, base)
    kq, njb = -(-k // 4), -(-n // NR)
    padded = np.zeros((digits, 4 * kq, NR * njb), dtype=np.int8)
    for d, di in enumerate(planes):
        padded[d, :k, :n] = di
    panels = np.ascontiguousarray(
        padded.reshape(digits, kq, 4, njb, NR).transpose(0, 3, 1, 4, 2))
    sums = np.zeros((2, digits, NR * njb), dtype=np.int32)
    sums[0] = padded.astype(np.int32).sum(axis=1) * 128
    return SplitMatrix(k, n, unit, panels, sums, base)


def rounded(s) -> np.ndarray:
    """``Ŝ`` of a ``(k, n)`` signal matrix ``S`` [S] (float32): the matrix its base-128 digits
    represent (:func:`split`), without forming the digits' panels (the same numbers as
    ``split(s).rounded``)."""
    s = _check_rows(s, "int8_gemm.rounded")
    unit, planes = _digit_planes(s)
    value = np.zeros(s.shape)
    for d, di in enumerate(planes):
        np.multiply(di, BASE ** -d, out=di)
        value += di
    value *= unit
    return np.ascontiguousarray(value.astype(np.float32))


def integer_matrix(s) -> tuple[float, np.ndarray]:
    """The split of a ``(k, n)`` signal matrix ``S`` [S] as one integer matrix: ``T = 128²·D⁽⁰⁾ +
    128·D⁽¹⁾ + D⁽²⁾`` (int64, ``|T| ≤ 127·128² + 64·128 + 64``) and the value of one unit of
    ``T``, ``u / 128²`` [S]: ``Ŝ = (u/128²)·T`` exactly, the matrix :func:`split` represents
    (for the look-up GEMM of bit-planes, :mod:`cimsim.kernels.lut_gemm`)."""
    s = _check_rows(s, "int8_gemm.integer_matrix")
    unit, planes = _digit_planes(s)
    t = np.zeros(s.shape, dtype=np.int64)
    for d, di in enumerate(planes):
        t += di.astype(np.int64) * BASE ** (N_DIGITS - 1 - d)
    return unit / BASE ** (N_DIGITS - 1), t


def _rounded(digits: np.ndarray, unit: float, base: int = BASE) -> np.ndarray:
    value = sum(digits[d].astype(np.float64) * base ** -d for d in range(digits.shape[0]))
    return np.ascontiguousarray((unit * value).astype(np.float32))


def matmul(v: np.ndarray, step_v: float, signed: bool, m: SplitMatrix,
           out: np.ndarray, *, split_signs: bool = False) -> np.ndarray:
    """``out = μ = Δv · n @ Ŝ`` for row voltages ``v = n·Δv`` (see the module docstring).

    Parameters
    ----------
    v : ndarray (batch, k), float32 or float64
        Row voltages [V], each an integer multiple of ``step_v`` within ±255 (0…255 unless
        ``signed``, then within ±127).
    step_v : float
        ``Δv`` [V].
    signed : bool
        Whether the multiples may be negative.
    m : SplitMatrix
        The signal matrix [S].
    out : ndarray (batch, n), float32
        Receives the currents [A].
    split_signs : bool
        Take ``[max(v, 0) | min(v, 0)]`` (batch, 2k) as the left operand, ``m`` of ``2k``
        rows (one row block per polarity): the kernel packs the two halves' codes straight
        from ``v``, the same integers as packing the split array (so the same numbers).

    Returns
    -------
    ndarray
        ``out``.

    Raises
    ------
    InvalidParameterError
        If ``v`` is not (batch, k) or ``out`` not (batch, n), or a row voltage is off the
        integer grid (not finite, not a multiple of ``step_v``, or beyond the code range), on
        every path.
    """
    if split_signs:
        if m.k % 2:
            fail("m", "int8_gemm.matmul", "a matrix of an even number of rows (split_signs)",
                 f"matrix of shape {(m.k, m.n)}")
        _llvm.check_operands("int8_gemm.matmul", v, "v", m.k // 2, out, m.n)
        if backend() != "numba" or _kernel() is None:    # the reference: the split array
            p = np.maximum(v, 0)
            return matmul(np.concatenate([p, v - p], axis=1), step_v, signed, m, out)
    else:
        _llvm.check_operands("int8_gemm.matmul", v, "v", m.k, out, m.n)
    n_b = v.shape[0]
    if n_b == 0 or m.n == 0:
        return out
    if m.k == 0:
        out[...] = 0.0
        return out
    jit_on = backend() == "numba"
    fn = _kernel() if jit_on else None
    unit_a = float(step_v) * m.unit_s          # A per unit of the leading digit
    n_dig = m.n_digits
    scales = [unit_a * float(m.base) ** -d for d in range(n_dig)]   # float32 in the kernel
    off = 128 if signed else 0
    if not jit_on:
        if np.any(_off_grid(v, step_v, off)):
            _refuse_off_grid(v, step_v, off)
        codes = np.rint(v / step_v) + off
        acc = np.zeros(out.shape, dtype=np.float32)
        digits = m.digits
        for d in range(n_dig - 1, -1, -1):      # integer sums, exact in float64
            r = (codes @ digits[d].astype(np.float64)).astype(np.int64)
            if signed:
                r = r - m.offset_sums[0, d, :m.n]
            acc = acc + r.astype(np.float32) * np.float32(scales[d])
        out[...] = acc
        return out
    if fn is None:
        if _count_off_grid_kernel(v, 1.0 / float(step_v), off):
            _refuse_off_grid(v, step_v, off)
        return np.matmul(v, m.rounded, out=out)
    nib, njb, kq = -(-n_b // MR), m.panels.shape[1], m.panels.shape[2]
    apk = workspace("int8_a", (nib, kq, MR, 4), np.uint8)
    pack = _pack_split_codes_kernel if split_signs else _pack_codes_kernel
    if pack(v, 1.0 / float(step_v), off, apk):
        _refuse_off_grid(v, step_v, off)
    c = _llvm.output_blocks(out, nib, njb)
    pa, pc, ptrs = apk.ctypes.data, c.ctypes.data, m._ptrs
    sums0 = n_dig * (1 if signed else 2)
    for d in range(n_dig - 1, -1, -1):     # smallest digit first; the first pass assigns
        fn(nib, njb, kq, pa, 4 * MR * kq, ptrs[d], 4 * NR * kq, pc, njb * NR,
           ptrs[sums0 + d], scales[d], d == n_dig - 1)
    if c is not out:
        out[...] = c[:n_b, :m.n]
    return out


#: Largest distance of ``v / Δv`` from an integer that still counts as on the grid [-]
#: (float32 row voltages are within 1e-7·|n| of it).
_OFF_GRID = 1e-3


@jit(inline="always")
def _grid_ok(t, q):
    """Whether ``t`` (a row voltage in steps, plus the offset) is the integer ``q = rint(t)``
    within [0, 255] (False for NaN and inf)."""
    return (abs(t - q) <= _OFF_GRID) & (q >= 0.0) & (q <= CODE_MAX)


@jit
def _count_off_grid_kernel(v, per_step, off):
    """Entries of ``v`` off the integer grid (the BLAS path's check, as the packing's)."""
    n_b, k = v.shape
    bad = 0
    for r in range(n_b):
        for c in range(k):
            t = v[r, c] * per_step + off
            bad += np.int64(not _grid_ok(t, np.rint(t)))
    return bad


@jit
def _pack_codes_kernel(v, per_step, off, apk):
    """``apk[i // 8, k // 4, i % 8, k % 4] = rint(v[i, k]·per_step) + off`` as bytes,
    zero-padded (zero: no contribution). Returns the number of entries that are not an
    integer multiple within [0, 255] after the offset, or not finite (then ``apk`` is not to
    be used)."""
    n_b, k = v.shape
    apk[...] = 0
    row = np.empty(k, dtype=np.int32)
    bad = 0
    for r in range(n_b):
        ib, i = r // MR, r % MR
        for c in range(k):        # codes and the grid check, in a pass the compiler vectorises
            t = v[r, c] * per_step + off
            q = np.rint(t)
            bad += np.int64(not _grid_ok(t, q))
            row[c] = np.int32(q)
        for c in range(k):
            apk[ib, c >> 2, i, c & 3] = np.uint8(row[c])
    return bad


@jit
def _pack_split_codes_kernel(v, per_step, off, apk):
    """:func:`_pack_codes_kernel` of ``[max(v, 0) | min(v, 0)]`` (batch, 2k) read from ``v``
    (batch, k): column ``c`` of the positive half and ``k + c`` of the negative half, the
    half that is not driven at the offset itself (a zero drive). Returns the entries of
    ``v`` off the grid."""
    n_b, k = v.shape
    apk[...] = 0
    row = np.empty(2 * k, dtype=np.int32)
    bad = 0
    zero = np.int32(off)
    for r in range(n_b):
        ib, i = r // MR, r % MR
        for c in range(k):        # codes and the grid check, in a pass the compiler vectorises
            x = v[r, c]
            t = x * per_step + off
            q = np.rint(t)
            bad += np.int64(not _grid_ok(t, q))
            pos = x > 0
            row[c] = np.int32(q) if pos else zero
            row[k + c] = zero if pos else np.int32(q)
        for c in range(2 * k):
            apk[ib, c >> 2, i, c & 3] = np.uint8(row[c])
    return bad


def _off_grid(v: np.ndarray, step_v: float, off: int) -> np.ndarray:
    """Where ``v / step_v + off`` is not an integer in [0, 255] (or not finite: the NumPy
    check)."""
    t = v / step_v + off
    q = np.rint(t)
    with np.errstate(invalid="ignore"):          # inf - inf: NaN, off the grid
        return ~((np.abs(t - q) <= _OFF_GRID) & (q >= 0) & (q <= CODE_MAX))


def _refuse_off_grid(v: np.ndarray, step_v: float, off: int):
    idx = tuple(int(i) for i in np.argwhere(_off_grid(v, step_v, off))[0])
    fail("v", "int8_gemm.matmul", f"integer multiples of step_v = {step_v:g} V within "
         f"{'±127' if off else '0…255'}", f"array with {float(v[idx])!r} V at {idx}")


# --- the AVX-512 VNNI kernel ---------------------------------------------------------------

_STATE: dict = {}
#: Column offsets of the panel [int32], scale of this digit [A per unit], 1: assign C.
_EXTRAS = [("ptr", "sums", 4 * NR), ("float", "scale", None), ("i64", "first", None)]


def kernel_available() -> bool:
    """Whether this core runs the AVX-512 VNNI kernel (else :func:`matmul` uses BLAS)."""
    return _kernel() is not None


def _kernel():
    """The compiled ``gemm`` (:mod:`cimsim.kernels._llvm`), or None where the core lacks AVX-512
    VNNI or llvmlite's LLVM is too old. Compiled once per process."""
    return _llvm.compiled_gemm(_STATE, _ir, _EXTRAS, ("avx512f", "avx512bw", "avx512vnni"))


def _ir() -> str:
    """``C = [C +] f32(n @ D − sums)·scale`` on groups of four bytes, int32 sums."""

    def init(i, v):
        return [f"  %z{i}_{v} = bitcast <16 x i32> zeroinitializer to <16 x i32>"]

    def finish(i, v):
        return [f"  %cq{i}_{v} = getelementptr i32, ptr %sums, i64 {16 * v}",
                f"  %cv{i}_{v} = load <16 x i32>, ptr %cq{i}_{v}, align 4",
                f"  %d{i}_{v} = sub <16 x i32> %n{i}_{v}, %cv{i}_{v}",
                f"  %f{i}_{v} = sitofp <16 x i32> %d{i}_{v} to <16 x float>",
                f"  %si{i}_{v} = insertelement <16 x float> poison, float %scale, i64 0",
                f"  %sv{i}_{v} = shufflevector <16 x float> %si{i}_{v}, <16 x float> poison,"
                " <16 x i32> zeroinitializer",
                f"  %m{i}_{v} = fmul <16 x float> %f{i}_{v}, %sv{i}_{v}",
                f"  %l{i}_{v} = load <16 x float>, ptr %p{i}_{v}, align 4",
                f"  %fi{i}_{v} = icmp ne i64 %first, 0",
                f"  %ob{i}_{v} = select i1 %fi{i}_{v}, <16 x float> zeroinitializer,"
                f" <16 x float> %l{i}_{v}",
                f"  %r{i}_{v} = fadd <16 x float> %ob{i}_{v}, %m{i}_{v}",
                f"  store <16 x float> %r{i}_{v}, ptr %p{i}_{v}, align 4"]

    return _llvm.gemm_ir("@llvm.x86.avx512.vpdpbusd.512", "i32", "<16 x i32>", init, finish,
                         _EXTRAS)
