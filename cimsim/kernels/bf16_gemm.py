r"""bfloat16 GEMM with float32 sums: the tiles' read-noise variance GEMM.

The variance identity of the read-out (:mod:`cimsim.tile.readout`) needs ``σ² = v² @ Σ²`` for
every vector, a second GEMM as large as the signal one, but only to the precision of a noise
amplitude. In float32 mode the tiles take it with both operands rounded to bfloat16 (8
significant bits, round to nearest even) and the products summed in float32:

.. math:: \tilde\sigma^2_j = \sum_i \mathrm{bf16}(v_i^2\, 2^{-e})\;
          \mathrm{bf16}(\Sigma^2_{ij}\, 2^{e}) \quad [\mathrm{A^2}]

where the power of two ``2^e`` halves the binary exponent of ``max Σ²`` (exact), so that both
operands are normal numbers wherever their products are (bfloat16 kernels flush subnormals to
zero). Each rounding is within ``u = 2^-8`` relative and
every term is non-negative, so ``|σ̃² − σ²| ≤ (2u + u² + K·2^-23)·σ²`` for ``K`` rows: the
noise amplitude ``σ̃`` is within 0.4 % of ``σ`` at worst (``K ≤ 2048``), and typically within
``u/√(3K)`` ≈ 0.01 % since the roundings of the many terms average out; both are far inside
what a device card knows of its read noise [2]_.

On cores with AVX-512 BF16 (``vdpbf16ps``: 32 products per instruction, twice the float32 FMA
rate [1]_) the product runs on the register-blocked kernel of :mod:`cimsim.kernels._llvm`, with
``A`` and ``B`` packed as pairs of bfloat16 along ``K`` and float32 sums. Elsewhere (or with
``CIMSIM_FORCE_BLAS=1``, or if the kernel does not compile), and with the NumPy backend, it is
a float32 BLAS GEMM of the same rounded operands, so the numbers
agree to the float32 rounding of the sums on every machine.

References
----------
.. [1] Intel, "BFLOAT16 - Hardware Numerics Definition", white paper 338302-001 (2018)
   (the format, round to nearest even, VDPBF16PS).
.. [2] D. Ielmini and H.-S. P. Wong, "In-memory computing with resistive switching devices",
   Nature Electronics 1, 333-343 (2018). doi:10.1038/s41928-018-0092-2 (read-noise spread of
   RRAM cells).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from device_models._checks import check_array, fail
from device_models._jit import backend, jit

from . import _llvm
from ._llvm import MR, NR
from .parallel import workspace

__all__ = ["PackedMatrix", "PackedOperand", "add_columns", "kernel_available", "matmul",
           "matmul_filled", "operand_bits", "pack", "packed_operand", "panels_of_bits",
           "round_bf16"]

#: Row pairs of ``K`` per pass over a packed panel of ``B`` (256 pairs = 32 KiB of ``B``,
#: one core's L1 data cache) [-].
KC = 256


@dataclasses.dataclass(frozen=True, eq=False)
class PackedMatrix:
    """The ``B`` operand of :func:`matmul`, rounded and packed once.

    Attributes
    ----------
    k, n : int
        Shape of the original matrix [-].
    exp : int
        ``e`` of the scale ``2^e`` applied to ``B`` (and ``2^-e`` to ``A``) [-].
    panels : ndarray, shape (ceil(n/32), ceil(k/2), 32, 2), uint16
        ``bf16(B·2^e)`` as bfloat16 bit patterns, zero-padded, in the kernel's layout.
    rounded : ndarray, shape (k, n), float32
        The same values as float32 (the BLAS path), unpacked from the panels on first use
        (only the panels are kept otherwise: half the memory).
    """

    k: int
    n: int
    exp: int
    panels: np.ndarray

    @property
    def rounded(self) -> np.ndarray:
        got = self.__dict__.get("_rounded")
        if got is None:
            p = self.panels
            bits = p.transpose(1, 3, 0, 2).reshape(2 * p.shape[1], NR * p.shape[0])
            got = np.ascontiguousarray(
                (bits[:self.k, :self.n].astype(np.uint32) << np.uint32(16)).view(np.float32))
            object.__setattr__(self, "_rounded", got)
        return got


@dataclasses.dataclass(frozen=True, eq=False)
class PackedOperand:
    """A left operand ``A`` (m, k) of :func:`matmul` written straight into the kernel's packed
    layout by its producer (from :func:`packed_operand`; the entries are bits from
    :func:`operand_bits`), so that :func:`matmul` does not pack it.

    Attributes
    ----------
    panels : ndarray, shape (ceil(m/8), ceil(k/2), 8, 2), uint16
        ``panels[i // 8, k // 2, i % 8, k % 2]`` = bfloat16 bits of ``A[i, k]·2^-e``
        (as :func:`matmul` packs ``A``), the padding zero: a per-thread scratch array.
    m, k : int
        Shape of ``A`` [-].
    exp : int
        ``e`` of the :class:`PackedMatrix` the operand is for [-].
    """

    panels: np.ndarray
    m: int
    k: int
    exp: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.m, self.k)


def packed_operand(m: int, b: PackedMatrix) -> PackedOperand | None:
    """A :class:`PackedOperand` of ``m`` rows for ``b`` to fill (a per-thread scratch array,
    valid until this thread's next call), or None where :func:`matmul` does not run the
    kernel (NumPy backend, BLAS), which then takes ``A`` as an array."""
    if not (isinstance(b, PackedMatrix) and backend() == "numba" and _kernel() is not None):
        return None
    apk = workspace("bf16_a_operand", (-(-m // MR), -(-b.k // 2), MR, 2), np.uint16)
    return PackedOperand(apk, int(m), b.k, b.exp)


def operand_bits(values, b: PackedMatrix) -> np.ndarray:
    """The bfloat16 bits (uint16) that :func:`matmul` packs for entries ``values`` (float32)
    of ``A`` against ``b``: ``values·2^-e`` in float32, rounded to nearest, ties to even (as
    :func:`_pack_a_kernel`); a table for producers of a :class:`PackedOperand`."""
    v = check_array("values", values, "bf16_gemm.operand_bits", dtype=np.float32)
    u = (v * np.float32(np.ldexp(1.0, -b.exp))).astype(np.float32).view(np.uint32)
    return ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1)))
            >> np.uint32(16)).astype(np.uint16)


def panels_of_bits(bits: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[i // 8, k // 2, i % 8, k % 2] = bits[i, k]``, the padding zero: the layout of
    :class:`PackedOperand` formed from a (m, k) array of bfloat16 bits (NumPy)."""
    nib, kp = out.shape[0], out.shape[1]
    full = np.zeros((nib * MR, 2 * kp), dtype=np.uint16)
    full[:bits.shape[0], :bits.shape[1]] = bits
    out[...] = full.reshape(nib, MR, kp, 2).transpose(0, 2, 1, 3)
    return out


def round_bf16(x) -> np.ndarray:
    """``x`` rounded to bfloat16 (nearest, ties to even), as float32 [same unit as ``x``]."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return r.view(np.float32)


def pack(b) -> PackedMatrix:
    """Round and pack a finite, non-negative ``(k, n)`` matrix ``B`` for :func:`matmul`."""
    b = check_array("b", b, "bf16_gemm.pack", ndim=2, nonneg=True)
    k, n = b.shape
    top = float(np.max(b)) if b.size else 0.0
    exp = -(int(np.frexp(top)[1]) // 2) if top > 0.0 else 0
    rounded = round_bf16(np.ldexp(b, exp))
    bits = np.zeros((2 * (-(-k // 2)), NR * (-(-n // NR))), dtype=np.uint16)
    bits[:k, :n] = rounded.view(np.uint32) >> np.uint32(16)
    panels = np.ascontiguousarray(
        bits.reshape(bits.shape[0] // 2, 2, bits.shape[1] // NR, NR).transpose(2, 0, 3, 1))
    return PackedMatrix(k, n, exp, panels)


def matmul(a: np.ndarray, b: PackedMatrix, out: np.ndarray, *, col_add=()) -> np.ndarray:
    """``out = bf16(a·2^-e) @ bf16(B·2^e)`` with float32 sums (see the module docstring),
    plus per-column constants: for each ``c`` of ``col_add`` in turn, ``out += c`` in NumPy's
    arithmetic (the kernel adds a float32 or float64 vector and a float32 one after it as it
    writes its sums, with the same numbers).

    Parameters
    ----------
    a : ndarray, shape (m, k), float32, or PackedOperand
        Finite, non-negative left operand (``v²``) [V²], or one already packed for ``b``.
    b : PackedMatrix
        Right operand from :func:`pack` [S²].
    out : ndarray, shape (m, n), float32, C-contiguous
        Receives the product [A²].
    col_add : sequence of ndarray, shape (n,)
        Per-column constants added to the product in turn [A²].

    Returns
    -------
    ndarray
        ``out``.

    Raises
    ------
    InvalidParameterError
        If ``a`` is not (m, k) or ``out`` not (m, n) (checked before any kernel writes).
    """
    for c in col_add:
        if not isinstance(c, np.ndarray) or c.shape != (b.n,):
            fail("col_add", "bf16_gemm.matmul", f"arrays of shape ({b.n},)",
                 getattr(c, "shape", c))
    if isinstance(a, PackedOperand):
        if a.k != b.k or a.exp != b.exp:
            fail("a", "bf16_gemm.matmul", f"an operand packed for a ({b.k}, {b.n}) matrix "
                 f"of exponent {b.exp}", f"one of k = {a.k}, exponent {a.exp}")
        if not isinstance(out, np.ndarray) or out.shape != (a.m, b.n):
            fail("out", "bf16_gemm.matmul", f"an array of shape {(a.m, b.n)}",
                 getattr(out, "shape", out))
        if a.m == 0 or b.n == 0:
            return out
        if b.k == 0:
            out[...] = 0.0
            return add_columns(out, *col_add)
        fn = _kernel() if backend() == "numba" else None
        if fn is None:       # BLAS on the operand's rounded values
            p = a.panels
            bits = p.transpose(0, 2, 1, 3).reshape(MR * p.shape[0], 2 * p.shape[1])
            a_r = (bits[:a.m, :a.k].astype(np.uint32) << np.uint32(16)).view(np.float32)
            return add_columns(np.matmul(a_r, b.rounded, out=out), *col_add)
        return _product(fn, a.panels, a.m, b, out, col_add)
    _llvm.check_operands("bf16_gemm.matmul", a, "a", b.k, out, b.n)
    m = a.shape[0]
    if m == 0 or b.n == 0:
        return out
    if b.k == 0:
        out[...] = 0.0
        return add_columns(out, *col_add)
    jit_on = backend() == "numba"
    fn = _kernel() if jit_on else None
    scale = np.float32(np.ldexp(1.0, -b.exp))
    if fn is None:
        if not jit_on:
            return add_columns(np.matmul(round_bf16(a * scale), b.rounded, out=out),
                               *col_add)
        a_r = workspace("bf16_a32", a.shape, np.float32)
        _round_kernel(a, scale, a_r.view(np.uint32))
        return add_columns(np.matmul(a_r, b.rounded, out=out), *col_add)
    apk = workspace("bf16_a", (-(-m // MR), b.panels.shape[1], MR, 2), np.uint16)
    _pack_a_kernel(a, scale, apk)
    return _product(fn, apk, m, b, out, col_add)


def matmul_filled(m: int, fill, operand, b, out: np.ndarray) -> np.ndarray:
    """:func:`matmul` of an operand ``A`` (m, b.k) that ``fill(scale, apk)`` writes straight
    into the kernel's packed layout, so that an operand formed in one pass over its inputs
    is not stored first: ``apk[i // 8, k // 2, i % 8, k % 2]`` = bfloat16 bits of
    ``A[i, k]·scale`` (nearest, ties to even, as :func:`_pack_a_kernel`), every entry
    written, the padding zero. Where the kernel does not run (NumPy backend, BLAS, a plain
    matrix ``b``) it is ``matmul(operand(), b, out)`` (BLAS for a plain ``b``): the
    reference that a ``fill`` equals bitwise.
    """
    if not (isinstance(b, PackedMatrix) and backend() == "numba" and _kernel() is not None):
        a = operand()
        return matmul(a, b, out) if isinstance(b, PackedMatrix) else np.matmul(a, b, out=out)
    if not isinstance(out, np.ndarray) or out.shape != (m, b.n):
        fail("out", "bf16_gemm.matmul_filled", f"an array of shape {(m, b.n)}",
             getattr(out, "shape", out))
    if m == 0 or b.n == 0:
        return out
    if b.k == 0:
        out[...] = 0.0
        return out
    apk = workspace("bf16_a", (-(-m // MR), b.panels.shape[1], MR, 2), np.uint16)
    fill(np.float32(np.ldexp(1.0, -b.exp)), apk)
    return _product(_kernel(), apk, m, b, out)


def _product(fn, apk: np.ndarray, m: int, b: PackedMatrix, out: np.ndarray,
             col_add=()) -> np.ndarray:
    """The kernel's ``out = A @ B`` for the packed ``A`` (``m`` rows) in ``apk``, then the
    per-column ``col_add`` (:func:`matmul`): a float32 or float64 vector and a float32 one
    after it are added by the kernel as it writes the sums of the last pass over ``K``,
    others after."""
    nib, kp = apk.shape[0], apk.shape[1]
    njb = b.panels.shape[0]
    c = _llvm.output_blocks(out, nib, njb)
    cad = workspace("bf16_cadd", (njb * NR,), np.float64)
    fad = workspace("bf16_fadd", (njb * NR,), np.float32)
    # the first vector added in float64 and rounded: for a float32 one that is the float32
    # sum (double rounding is exact for a sum when 53 >= 2·24 + 2 bits)
    kinds = ((np.float32, np.float64), (np.float32,))
    fused = len(col_add) <= 2 and all(
        v.dtype in k for v, k in zip(col_add, kinds, strict=False))
    adds = len(col_add) if fused else 0
    cad[:] = 0.0
    fad[:] = 0.0
    if adds >= 1:
        cad[:b.n] = col_add[0]
    if adds == 2:
        fad[:b.n] = col_add[1]
    pa, pb = apk.ctypes.data, b.panels.ctypes.data
    pc, pcad, pfad = c.ctypes.data, cad.ctypes.data, fad.ctypes.data
    for p0 in range(0, kp, KC):      # 4 bytes per row pair of A and per column pair of B
        fn(nib, njb, min(KC, kp - p0), pa + 4 * MR * p0, 4 * MR * kp, pb + 4 * NR * p0,
           4 * NR * kp, pc, njb * NR, p0, pcad, pfad, adds if p0 + KC >= kp else 0)
    if c is not out:
        out[...] = c[:m, :b.n]
    if not fused:
        add_columns(out, *col_add)
    return out


def _add_columns_py(out, c):
    """``out[b, j] += c[j]`` in NumPy's arithmetic: the sum in the wider dtype of the two,
    rounded to ``out``'s."""
    n_b, n_c = out.shape
    for b in range(n_b):
        for j in range(n_c):
            out[b, j] = out[b, j] + c[j]


_add_columns_kernel = jit(_add_columns_py)


def add_columns(out: np.ndarray, *cs: np.ndarray) -> np.ndarray:
    """``out += c`` for each per-column vector ``c`` in turn (batch, columns; in place), with
    NumPy's numbers (the sum in the wider dtype of the two, rounded to ``out``'s), in one
    vectorised pass per ``c`` (NumPy's mixed float32 + float64 add costs several times as
    much). Returns ``out``."""
    for c in cs:
        c = np.asarray(c)
        if (backend() == "numpy" or out.ndim != 2 or not out.flags.c_contiguous
                or c.ndim != 1 or c.shape[0] != out.shape[1]):
            out += c
        else:
            _add_columns_kernel(out, np.ascontiguousarray(c))
    return out


@jit(inline="always")
def _bf16_high(u):
    """The bfloat16 bits (the high 16, as uint32) of float32 bits ``u`` rounded to nearest,
    ties to even (as :func:`round_bf16`)."""
    return (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)


@jit
def _pack_a_kernel(a, scale, apk):
    """``apk[i // 8, k // 2, i % 8, k % 2]`` = bfloat16 bits of ``a[i, k]·scale`` (nearest,
    ties to even), zero-padded."""
    m, k = a.shape
    nib, kp = apk.shape[0], apk.shape[1]
    row = np.zeros(2 * kp, dtype=np.float32)
    bits = row.view(np.uint32)
    for r in range(nib * MR):
        ib, i = r // MR, r % MR
        if r < m:
            for c in range(k):
                row[c] = np.float32(a[r, c] * scale)
        else:
            row[:] = 0.0
        for c in range(2 * kp):
            apk[ib, c >> 1, i, c & 1] = np.uint16(_bf16_high(bits[c]))


@jit
def _round_kernel(a, scale, out_bits):
    """``out_bits`` = float32 bits of ``bf16(a·scale)`` (the BLAS path; one pass)."""
    m, k = a.shape
    row = np.zeros(k, dtype=np.float32)
    bits = row.view(np.uint32)
    for r in range(m):
        for c in range(k):
            row[c] = np.float32(a[r, c] * scale)
        for c in range(k):
            out_bits[r, c] = _bf16_high(bits[c]) << np.uint32(16)


# --- the AVX-512 BF16 kernel ---------------------------------------------------------------

_STATE: dict = {}
#: 0: start the sums at zero, else at C; per column, float64 then float32 constants added to
#: the sums as they are written (``adds``: 0 none, 1 the float64 ones, 2 both).
_EXTRAS = [("i64", "acc", None), ("ptr", "cadd", 8 * NR), ("ptr", "fadd", 4 * NR),
           ("i64", "adds", None)]


def kernel_available() -> bool:
    """Whether this core runs the AVX-512 BF16 kernel (else :func:`matmul` uses BLAS)."""
    return _kernel() is not None


def _kernel():
    """The compiled ``gemm`` (:mod:`cimsim.kernels._llvm`), or None where the core lacks
    AVX-512 BF16 or llvmlite's LLVM is too old. Compiled once per process (~20 ms)."""
    return _llvm.compiled_gemm(_STATE, _ir, _EXTRAS, ("avx512f", "avx512bw", "avx512bf16"))


def _ir() -> str:
    """``C = A @ B`` (``acc = 0``) or ``C += A @ B`` on pairs of bfloat16, float32 sums; with
    ``adds``, each column's ``f32(f32(s + cadd_j) + fadd_j)`` (``cadd`` float64, added in
    float64 and rounded, as NumPy adds a float64 vector to float32) in place of ``s``."""

    def init(i, v):
        return [f"  %f{i}_{v} = icmp ne i64 %acc, 0",
                f"  %l{i}_{v} = load <16 x float>, ptr %p{i}_{v}, align 4",
                f"  %z{i}_{v} = select i1 %f{i}_{v}, <16 x float> %l{i}_{v},"
                " <16 x float> zeroinitializer"]

    nv = NR // 16

    def added(i, v):        # the sums of row i, vector v with the column constants added
        t = f"{i}_{v}"
        return [f"  %e{t} = fpext <16 x float> %n{t} to <16 x double>",
                f"  %d{t} = fadd <16 x double> %e{t}, %cv{v}",
                f"  %r{t} = fptrunc <16 x double> %d{t} to <16 x float>",
                f"  %fs{t} = fadd <16 x float> %r{t}, %fv{v}",
                f"  %a{t} = select i1 %hf, <16 x float> %fs{t}, <16 x float> %r{t}",
                f"  store <16 x float> %a{t}, ptr %p{t}, align 4"]

    def finish(i, v):
        # called for (0, 0) first (gemm_ir's order): that call branches on ``adds`` and
        # holds the whole plain path (stores of the sums, return); the constants, loaded
        # once per vector of columns, and every block's adds follow, one (i, v) per call
        if (i, v) != (0, 0):
            return added(i, v)
        plain = [f"  store <16 x float> %n{r}_{c}, ptr %p{r}_{c}, align 4"
                 for r in range(MR) for c in range(nv)]
        load = []
        for c in range(nv):
            load += [f"  %cq{c} = getelementptr double, ptr %cadd, i64 {16 * c}",
                     f"  %cv{c} = load <16 x double>, ptr %cq{c}, align 8",
                     f"  %fq{c} = getelementptr float, ptr %fadd, i64 {16 * c}",
                     f"  %fv{c} = load <16 x float>, ptr %fq{c}, align 4"]
        return (["  %hc = icmp ne i64 %adds, 0", "  %hf = icmp ugt i64 %adds, 1",
                 "  br i1 %hc, label %withadds, label %plain", "plain:"] + plain
                + ["  ret void", "withadds:"] + load + added(0, 0))

    return _llvm.gemm_ir("@llvm.x86.avx512bf16.dpbf16ps.512", "float", "<32 x bfloat>", init,
                         finish, _EXTRAS)
