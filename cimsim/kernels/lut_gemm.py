r"""Binary-row GEMM by table look-up: the bit-plane reads of a tile, exact in integers.

A bit-plane (unsigned bit-serial inputs) drives every row at 0 or one voltage ``V``, so the
column sums it needs are ``V·b @ M`` with ``b`` a 0/1 matrix. For matrices held as integers,
``M ≈ unit·Q`` (``Q`` int, see :func:`fixed_point`; the signal matrix as the integer form of
its base-128 split, :func:`cimsim.kernels.int8_gemm.integer_matrix`), the method of the four
Russians [1]_ [2]_ takes the product without a multiplication: the rows are taken in groups
of :data:`GROUP` = 5 and, for each group ``g`` and each of the 32 patterns ``e`` of five bits,
the table

.. math:: L_{g,e,j} = \sum_{q=0}^{4} e_q\, Q_{5g+q,\,j}

is formed once (int32). A vector's sum is then one table row per group,

.. math:: R_j = \sum_g L_{g,\,e_g(b),\,j} = (b\,Q)_j \quad \text{exactly (int32)}, \qquad
          y_j = \mathrm{f32}\bigl(\mathrm{f64}(R_j)\cdot V\,\mathrm{unit}\bigr),

a fifth of the additions of ``b @ Q`` and no multiplication; ``|R| ≤ k·max|Q| < 2^31`` is
checked when the tables are built. A *narrow* matrix (entries in [0, :data:`NARROW_MAX`], 10
bits: a read-noise variance, whose GEMM needs only a noise amplitude's precision) packs two
columns into each int32 table entry (16 bits each), so one look-up serves two columns; its
packed sums are split into two int32 sums every :data:`CHUNK_G` groups, before a half can
exceed 16 bits. Several matrices (the signal and the read-noise variance of a tile) share the
patterns: each vector's 5-bit pattern of each group is formed once per call. The result is the
exact product rounded once, so every path gives the same numbers: the kernels (LLVM IR
compiled by :mod:`cimsim.kernels._llvm` for cores with AVX-512F) keep the 32 entries of one
column and group in two registers and look up 16 vectors' patterns in one two-table permute
(``vpermi2d``, which reads the low five bits of each index, so four blocks of 16 vectors'
patterns come in one 64-byte load, a byte each), adding them to int32 sums of a block of
columns × blocks of 16 vectors held in registers, over panels of groups whose tables stay in
the L1 cache (the sums kept in a scratch between panels); a last pass converts the sums and
transposes blocks of 16 vectors × :data:`CB` columns into the rows of the output, one 64-byte
row segment per vector. Elsewhere (the NumPy backend, ``CIMSIM_FORCE_BLAS=1``, a core without
AVX-512F or a kernel that does not compile) the reference takes ``b @ Q`` as a float64 BLAS
GEMM (integer sums below 2^31, exact in float64) times the same scale. A plane with few driven
rows (at most :data:`SPARSE_DENSITY` of a call's rows, as the high planes of small inputs) is
summed row by row instead: each vector's driven rows of ``Q`` added up in int32, the same
exact sums. A tile's bit-planes of one set of input codes take :func:`code_patterns` (every
plane's patterns in one pass over the codes) and :func:`plane_sums` (all planes' exact sums
from them, each block of columns' tables read from memory once for every plane: 10 MiB of
tables for 512 × 512, which no longer pass through memory once per plane) then
:func:`plane_matmul` (a plane's rounded sums for a run of vectors), or :func:`matmul_codes`
(one plane), instead of a pass over each plane's voltages: the same numbers.

References
----------
.. [1] V. L. Arlazarov, E. A. Dinic, M. A. Kronrod and I. A. Faradzev, "On economical
   construction of the transitive closure of an oriented graph", Soviet Math. Dokl. 11,
   1209-1210 (1970) (the method of the four Russians).
.. [2] M. Albrecht, G. Bard and W. Hart, "Algorithm 898: Efficient multiplication of dense
   matrices over GF(2)", ACM Trans. Math. Softw. 37, 9 (2010). doi:10.1145/1644001.1644010
   (tables of row combinations, blocked for the cache).
"""

from __future__ import annotations

import ctypes
import dataclasses

import numpy as np

from device_models._checks import check_int, check_scalar, fail
from device_models._jit import backend, jit

from . import _llvm
from .parallel import aligned_empty, workspace

__all__ = ["CB", "CHUNK_G", "GROUP", "J", "JN", "NARROW_MAX", "PANEL", "PATTERNS", "SPARSE_COLS",
           "SPARSE_DENSITY", "VB", "LutMatrix", "PlaneSums", "code_patterns", "fits",
           "fixed_point", "kernel_available", "matmul", "matmul_codes", "pack", "plane_matmul",
           "plane_sums"]

#: Rows per look-up (32 patterns per group) [-].
GROUP = 5
#: Patterns per group, ``2**GROUP``: a table of one column and group fills two registers [-].
PATTERNS = 2 ** GROUP
#: Columns per block of the kernel (one table of 32 patterns per column in two registers) [-].
J = 4
#: Blocks of 16 vectors per register block of the kernels (one 64-byte load of patterns,
#: one byte per block) [-].
VB = 4
#: Column pairs per block of the narrow kernel (two columns per int32 entry) [-].
JN = 4
#: Largest entry of a narrow matrix (non-negative): its table entries (sums of 5) over
#: :data:`CHUNK_G` groups stay within 16 bits, 5·12·1023 = 61380 [-].
NARROW_MAX = 1023
#: Groups per panel of the narrow kernel, whose packed sums are split into two int32 sums at
#: the end of each panel [-].
CHUNK_G = 12
#: Groups per panel of the wide kernel: the tables of a block of columns and a panel
#: (32·J·128 B = 16 KiB) stay in the L1 cache while every block of vectors passes [-].
PANEL = 32
#: Columns (and vectors) per block of the finishing transpose: one 64-byte row per vector [-].
CB = 16
#: Largest fraction of driven rows (over a call's vectors) at which a bit-plane's sums are
#: taken row by row (the integer rows of the driven rows added up) instead of by look-up:
#: the same exact sums; the two cost the same near a tenth (512 x 512, AVX-512) [-].
SPARSE_DENSITY = 1 / 16
#: Columns per block of the row-by-row sums (eight registers of int32 sums per vector) [-].
SPARSE_COLS = 128
#: Most bit-planes :func:`code_patterns` takes (codes of up to 16 bits) [-].
_MAX_PLANES = 16
#: Largest |sum| the int32 sums may reach [-].
_I32 = 2 ** 31 - 1


@dataclasses.dataclass(frozen=True, eq=False)
class LutMatrix:
    """Integer matrices ``Q_m`` (each ``M_m ≈ units[m]·Q_m``) tabulated for :func:`matmul`.

    Attributes
    ----------
    k, n : int
        Shape of each matrix [-].
    units : tuple of float
        Value of one integer unit of each matrix (its own unit, e.g. [S] or [S²·V]).
    narrow : tuple of bool
        Whether matrix ``m`` is narrow (entries in [0, :data:`NARROW_MAX`], two columns per
        table entry).
    rows : tuple of ndarray
        ``Q`` of each matrix, row-major and zero-padded to a multiple of :data:`SPARSE_COLS`
        columns, int32 (int16 if narrow): the rows the sparse path adds up.
    tables : tuple of ndarray
        ``L`` of each matrix, int32, zero-padded to ``ceil(k/5)`` groups and a multiple of
        :data:`CB` columns: (n/J, groups, J, 32), or narrow (n/(2·JN), groups, JN, 32) with
        column ``c`` of a block in the low and ``JN + c`` in the high 16 bits; 128 bytes
        per column (narrow: column pair) and group, 25.6 (12.8) bytes per entry of ``Q``.
    """

    k: int
    n: int
    units: tuple
    narrow: tuple
    rows: tuple
    tables: tuple

    @property
    def n_mats(self) -> int:
        return len(self.units)

    def integers(self, m: int) -> np.ndarray:
        """``Q_m`` (k, n) as float64 (exact)."""
        return self.rows[m][:, :self.n].astype(np.float64)


def fits(k: int, top: float) -> bool:
    """Whether ``k`` rows of integers up to ``|top|`` keep every sum within int32."""
    k = check_int("k", k, "lut_gemm.fits", lo=0)
    top = check_scalar("top", top, "lut_gemm.fits", lo=0.0)
    # k · top <= 2^31 − 1; for more rows than that, as top <= (2^31 − 1)/k (Python divides
    # integers of any size; k · top would overflow the float conversion of k)
    return k * top <= _I32 if k <= _I32 else top <= _I32 / k


def fixed_point(b: np.ndarray, *, narrow: bool = False) -> tuple[float, np.ndarray]:
    """``unit`` and ``Q = rint(B/unit)`` (int64) with ``unit = max|B| / q_max``, ``q_max =
    (2^31 − 1) // k`` (the largest that keeps every sum of ``k`` rows within int32; at least
    22 bits for ``k`` ≤ 512) or, ``narrow`` (``B`` ≥ 0), :data:`NARROW_MAX` (10 bits):
    ``|B − unit·Q| ≤ unit/2`` per entry [unit of ``B``]."""
    b = np.asarray(b, dtype=np.float64)
    k = max(b.shape[0], 1)
    top = float(np.max(np.abs(b))) if b.size else 0.0
    q_max = NARROW_MAX if narrow else _I32 // k
    unit = top / q_max if top > 0.0 else 1.0
    return unit, np.rint(b / unit).astype(np.int64)


def pack(ints: list[np.ndarray], units: list[float],
         narrow: list[bool] | None = None) -> LutMatrix:
    """Tabulate integer matrices ``Q_m`` (k, n) with values of one unit ``units[m]``;
    ``narrow[m]``: entries in [0, :data:`NARROW_MAX`], two columns per table entry."""
    k, n = ints[0].shape
    narrow = [False] * len(ints) if narrow is None else [bool(x) for x in narrow]
    for q, nar in zip(ints, narrow, strict=True):
        top = float(np.max(np.abs(q))) if q.size else 0.0
        ok = (q.shape == (k, n) and fits(k, top)
              and (not nar or (top <= NARROW_MAX and (q.size == 0 or np.min(q) >= 0))))
        if not ok:
            fail("ints", "lut_gemm.pack", f"integer matrices of shape {(k, n)} whose sums of "
                 f"{k} rows stay within int32 (narrow ones within [0, {NARROW_MAX}])",
                 f"array of shape {q.shape}")
    n_g, n_pad = -(-k // GROUP), -(-n // CB) * CB
    tables, rows_q = [], []
    for q, nar in zip(ints, narrow, strict=True):
        pad = np.zeros((GROUP * n_g, n_pad), dtype=np.int32)
        pad[:k, :n] = q
        row = np.zeros((k, -(-n // SPARSE_COLS) * SPARSE_COLS),
                       dtype=np.int16 if nar else np.int32)
        row[:, :n] = q
        rows_q.append(row)
        width = 2 * JN if nar else J
        rows = pad.reshape(n_g, GROUP, n_pad // width, width).transpose(2, 0, 3, 1)
        tab = np.zeros(rows.shape[:3] + (PATTERNS,), dtype=np.int32)    # (jb, g, c, e)
        for e in range(1, PATTERNS):
            low = e & -e                                   # lowest set bit: e = low + rest
            tab[..., e] = tab[..., e ^ low] + rows[..., low.bit_length() - 1]
        if nar:         # columns c and JN + c of a block share an entry
            tab = tab[:, :, :JN] | (tab[:, :, JN:] << 16)
        tables.append(aligned_empty(tab.shape, np.int32))     # 64-byte loads of whole lines
        tables[-1][...] = tab
    return LutMatrix(k, n, tuple(float(u) for u in units), tuple(narrow), tuple(rows_q),
                     tuple(tables))


def matmul(v: np.ndarray, unit_v: float, lut: LutMatrix) -> np.ndarray:
    """``out[m] = f32(f64(b @ Q_m)·unit_v·units[m])`` for row voltages ``v = unit_v·b``.

    Parameters
    ----------
    v : ndarray (batch, k), float32 or float64
        Row voltages [V], each exactly 0 or ``unit_v`` (in ``v``'s dtype).
    unit_v : float
        The row voltage of a driven row [V].
    lut : LutMatrix
        The tabulated matrices.

    Returns
    -------
    ndarray (n_mats, batch, n), float32
        The products [unit of ``units[m]`` × V]; a per-thread scratch array (or a view of
        one), valid until this thread's next call.

    Raises
    ------
    InvalidParameterError
        If ``v`` is not (batch, k) or holds an entry other than 0 and ``unit_v``.
    """
    caller = "lut_gemm.matmul"
    if not isinstance(v, np.ndarray) or v.ndim != 2 or v.shape[1] != lut.k:
        fail("v", caller, f"a 2-D array of shape (batch, {lut.k})", getattr(v, "shape", v))
    n_b = v.shape[0]
    unit = v.dtype.type(unit_v)
    scales = [float(unit) * u for u in lut.units]
    fn = _kernel() if backend() == "numba" else None
    if fn is None:
        bits = v == unit
        if not np.all(bits | (v == 0)):
            _refuse(v, unit)
        out = workspace("lut_out", (lut.n_mats, n_b, lut.n), np.float32)
        b = bits.astype(np.float64)
        for m in range(lut.n_mats):
            out[m] = (b @ lut.integers(m) * scales[m]).astype(np.float32)
        return out
    if n_b == 0 or lut.k == 0 or lut.n == 0:       # nothing to sum: the kernels' loops run
        bits = v == unit                             # at least once, so they are not called
        if not np.all(bits | (v == 0)):
            _refuse(v, unit)
        return np.zeros((lut.n_mats, n_b, lut.n), dtype=np.float32)
    step = 16 * VB
    nb_pad = -(-n_b // step) * step
    n_g = lut.tables[0].shape[1]
    bits = workspace("lut_bits", (n_b, GROUP * n_g), np.uint8)
    bad, n_on = _bits_kernel(v, unit, bits)
    if bad:
        _refuse(v, unit)
    if 0 < n_b and n_on <= SPARSE_DENSITY * n_b * lut.k:    # few driven rows: add them up
        ptr = workspace("lut_ptr", (n_b + 1,), np.int64)
        rows = workspace("lut_rows", (n_on,), np.int32)
        _set_rows_kernel(bits, lut.k, ptr, rows)
        return _sparse(fn, n_b, ptr, rows, lut, scales)
    idx = workspace("lut_idx", (n_g, nb_pad), np.uint8)
    _patterns_kernel(bits, idx)
    return _dense(fn, n_b, idx, lut, scales)


def _sparse(fn, n_b, ptr, rows, lut, scales, name="lut_out"):
    """The sums of the driven rows ``rows[ptr[b]:ptr[b+1]]`` of each vector, rounded (into
    the per-thread scratch ``name``)."""
    n_sp = lut.rows[0].shape[1]
    out = workspace(name, (lut.n_mats, n_b, n_sp), np.float32)
    for m in range(lut.n_mats):
        fn[3 + lut.narrow[m]](n_b, ptr.ctypes.data, rows.ctypes.data,
                              lut.rows[m].ctypes.data, n_sp // SPARSE_COLS,
                              out[m].ctypes.data, scales[m])
    return out if lut.n == out.shape[2] else np.ascontiguousarray(out[:, :, :lut.n])


def _dense(fn, n_b, idx, lut, scales):
    """The sums by look-up of the patterns ``idx`` (groups, padded vectors), rounded."""
    acc = _look_up(fn, idx, np.zeros(1, dtype=np.int64), lut)
    return _finish(fn, acc, 0, idx.shape[1], 0, n_b, lut, scales)


def _look_up(fn, idx, offsets, lut):
    """The int32 sums by look-up of the patterns of ``len(offsets)`` planes (plane ``i``'s
    at byte ``offsets[i]`` of ``idx``, each (groups, padded vectors)): (n_mats, planes,
    sums), each plane's laid out as the kernels' ``acc``; every block of columns' tables is
    read once for all the planes (a per-thread scratch array)."""
    n_g, nb_pad = idx.shape[-2:]
    n_pad = -(-lut.n // CB) * CB
    acc = workspace("lut_acc", (lut.n_mats, offsets.size, n_pad * nb_pad), np.int32)
    for m in range(lut.n_mats):
        tab = lut.tables[m]
        fn[lut.narrow[m]](nb_pad, n_g, tab.shape[0], idx.ctypes.data, tab.ctypes.data,
                          acc[m].ctypes.data, offsets.size, offsets.ctypes.data,
                          4 * n_pad * nb_pad)
    return acc


def _finish(fn, acc, slot, nb_pad, b0, b1, lut, scales, col_add=None):
    """Vectors ``b0 … b1`` (``b0`` a multiple of 16) of plane ``slot`` of :func:`_look_up`'s
    sums (``nb_pad`` padded vectors), rounded, with ``col_add`` (:func:`plane_matmul`) added:
    (n_mats, b1 − b0, n) float32."""
    n_pad = -(-lut.n // CB) * CB
    n_lb = -(-(b1 - b0) // 16)
    out = workspace("lut_out", (lut.n_mats, 16 * n_lb, n_pad), np.float32)
    adds = workspace("lut_add", (lut.n_mats, 2, n_pad), np.float32)
    for m in range(lut.n_mats):
        vecs = () if col_add is None or col_add[m] is None else col_add[m]
        for i, a in enumerate(vecs):
            adds[m, i, :lut.n] = a
        fn[2](n_lb, n_pad // CB, acc[m, slot].ctypes.data + 4 * n_pad * b0, out[m].ctypes.data,
              n_pad, scales[m], adds[m].ctypes.data, len(vecs))
    if b1 - b0 == out.shape[1] and lut.n == n_pad:
        return out
    return np.ascontiguousarray(out[:, :b1 - b0, :lut.n])


def code_patterns(codes: np.ndarray, n_planes: int, lut: LutMatrix) -> np.ndarray:
    """The look-up patterns of every bit-plane ``p < n_planes`` of non-negative integer
    ``codes`` (batch, k), in one pass over the codes, for :func:`matmul_codes`.

    Returns
    -------
    ndarray (n_planes, groups, padded batch), uint8
        Plane ``p``'s patterns, laid out as :func:`matmul`'s (a per-thread scratch array,
        valid until this thread's next call); an empty array where the look-up kernel does
        not run (:func:`matmul_codes` then takes the reference from the codes).
    """
    codes = _check_codes(codes, lut, "lut_gemm.code_patterns")
    n_planes = check_int("n_planes", n_planes, "lut_gemm.code_patterns", lo=1, hi=_MAX_PLANES)
    n_b = codes.shape[0]
    if backend() != "numba" or _kernel() is None or n_b == 0 or lut.k == 0 or lut.n == 0:
        return np.zeros((0, 0, 0), dtype=np.uint8)
    nb_pad = -(-n_b // (16 * VB)) * (16 * VB)
    n_g = lut.tables[0].shape[1]
    idx = workspace("lut_pidx", (n_planes, n_g, nb_pad), np.uint8)
    t8 = workspace("lut_pt", (GROUP * n_g, 64), np.uint8)
    _code_patterns_kernel(codes, idx, idx.view(np.int64), t8, t8.view(np.int64))
    return idx


def matmul_codes(codes: np.ndarray, p: int, unit_v: float, lut: LutMatrix,
                 patterns: np.ndarray, n_on: int | None = None) -> np.ndarray:
    """:func:`matmul` of bit-plane ``p`` of non-negative integer ``codes`` (batch, k): the
    row voltages ``v = unit_v·((codes >> p) & 1)`` (``unit_v`` as ``v``'s dtype holds it,
    e.g. ``float(np.float32(V))``), the same numbers, from ``patterns``
    (:func:`code_patterns` of these codes) instead of a pass over ``v``. ``n_on`` (the
    plane's number of ones, if the caller counted them) picks the row-by-row path as
    :func:`matmul` does; the sums are exact either way. One plane of :func:`plane_sums`."""
    p = check_int("p", p, "lut_gemm.matmul_codes", lo=0, hi=_MAX_PLANES - 1)
    sums = plane_sums(codes, {p: n_on}, unit_v, lut, patterns, caller="lut_gemm.matmul_codes")
    return plane_matmul(sums, p, 0, codes.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class PlaneSums:
    """The exact sums of several bit-planes of one block of input codes (:func:`plane_sums`),
    rounded a range of vectors at a time by :func:`plane_matmul`.

    Attributes
    ----------
    codes : ndarray (batch, k), int32
        The input codes.
    lut : LutMatrix
        The tabulated matrices.
    scales : tuple of float
        ``unit_v·units[m]`` of each matrix.
    dense : dict
        Plane → its slot in ``acc`` (the planes summed by look-up).
    acc : ndarray or None
        Their int32 sums, (n_mats, planes, sums), laid out as the kernels' (a per-thread
        scratch array).
    sparse : dict
        Plane → its rounded sums, (n_mats, batch, n) float32 (the planes summed row by row,
        each vector's driven rows added up; a per-thread scratch array).
    nb_pad : int
        Vectors of ``acc``, padded [-].
    """

    codes: np.ndarray
    lut: LutMatrix
    scales: tuple
    dense: dict
    acc: np.ndarray | None
    sparse: dict
    nb_pad: int


def plane_sums(codes: np.ndarray, planes: dict, unit_v: float, lut: LutMatrix,
               patterns: np.ndarray, *, caller: str = "lut_gemm.plane_sums") -> PlaneSums:
    """The exact sums of the bit-planes ``planes`` (plane → its number of ones, or None
    to count them) of non-negative integer ``codes`` (batch, k) with row voltage ``unit_v``
    (as :func:`matmul_codes`), from ``patterns`` (:func:`code_patterns` of these codes).

    The planes with many driven rows are summed by look-up in one pass of the kernel over
    the tables: each block of columns' tables is read once for all of them (not once per
    plane), their int32 sums kept; the others row by row, as :func:`matmul` picks. Nothing
    is rounded yet: :func:`plane_matmul` gives any range of vectors of any of the planes,
    so a caller can take the read-out of a few vectors' planes while their sums are in
    the cache. Valid until this thread's next call of a function of this module."""
    codes = _check_codes(codes, lut, caller)
    unit_v = check_scalar("unit_v", unit_v, caller)
    if not isinstance(patterns, np.ndarray) or patterns.dtype != np.uint8:
        fail("patterns", caller, "code_patterns of these codes (uint8)",
             type(patterns).__name__)
    if not isinstance(planes, dict):
        fail("planes", caller, "a dict of planes and their numbers of ones (or None)",
             type(planes).__name__)
    planes = {check_int("p", p, caller, lo=0, hi=_MAX_PLANES - 1):
              None if n_on is None else check_int("n_on", n_on, caller, lo=0)
              for p, n_on in planes.items()}
    n_b = codes.shape[0]
    scales = tuple(float(unit_v) * u for u in lut.units)
    fn = _kernel() if backend() == "numba" else None
    if fn is None or patterns.size == 0:
        return PlaneSums(codes, lut, scales, {}, None, {}, 0)
    dense, sparse = [], {}
    for p, n_on in planes.items():
        if n_on is None:
            n_on = int(np.count_nonzero((np.abs(codes) >> p) & 1))
        if n_on > SPARSE_DENSITY * n_b * lut.k:
            dense.append(p)
            continue
        ptr = workspace("lut_ptr", (n_b + 1,), np.int64)     # few driven rows: add them up
        rows = workspace("lut_rows", (n_on,), np.int32)
        if _set_rows_codes_kernel(codes, p, ptr, rows) != n_on:
            fail("n_on", caller, "the number of ones of the plane", n_on)
        sparse[p] = _sparse(fn, n_b, ptr, rows, lut, scales, f"lut_sp{p}")
    nb_pad = patterns.shape[2] if patterns.ndim == 3 else 0
    if dense and (patterns.ndim != 3 or patterns.shape[0] <= max(dense) or nb_pad < n_b
                  or not patterns.flags.c_contiguous):
        fail("patterns", caller, f"code_patterns of these codes (planes {sorted(dense)})",
             f"array of shape {patterns.shape}")
    acc = None
    if dense:
        offsets = workspace("lut_poff", (len(dense),), np.int64)
        offsets[:] = [p * patterns.shape[1] * nb_pad for p in dense]
        acc = _look_up(fn, patterns, offsets, lut)
    return PlaneSums(codes, lut, scales, {p: i for i, p in enumerate(dense)}, acc, sparse,
                     nb_pad)


def plane_matmul(sums: PlaneSums, p: int, b0: int, b1: int,
                 col_add: tuple | None = None) -> np.ndarray:
    """Vectors ``b0 … b1`` of bit-plane ``p`` of :func:`plane_sums`: :func:`matmul_codes`'s
    numbers for those vectors, (n_mats, b1 − b0, n) float32 (a per-thread scratch array,
    valid until this thread's next call). ``b0`` is a multiple of 16 where the plane was
    summed by look-up. ``col_add`` (per matrix None or up to two float32 vectors of ``n``
    column constants) adds each vector in turn to every row, in float32, as the sums are
    written: ``(out[m] + col_add[m][0]) + col_add[m][1]``."""
    caller = "lut_gemm.plane_matmul"
    if not isinstance(sums, PlaneSums):
        fail("sums", caller, "a PlaneSums (lut_gemm.plane_sums)", type(sums).__name__)
    p = check_int("p", p, caller, lo=0, hi=_MAX_PLANES - 1)
    lut, codes = sums.lut, sums.codes
    n_b = codes.shape[0]
    b0 = check_int("b0", b0, caller, lo=0, hi=n_b)
    b1 = check_int("b1", b1, caller, lo=b0, hi=n_b)
    if col_add is not None and (not isinstance(col_add, (tuple, list))
                                or len(col_add) != lut.n_mats or not all(
            a is None or (isinstance(a, (tuple, list)) and len(a) <= 2 and all(
                isinstance(v, np.ndarray) and v.dtype == np.float32 and v.shape == (lut.n,)
                for v in a)) for a in col_add)):
        fail("col_add", caller, f"per matrix None or up to two float32 vectors of {lut.n} "
             "columns", type(col_add).__name__)
    if p in sums.dense:
        if b0 % 16:
            fail("b0", caller, "a multiple of 16 (a plane summed by look-up)", b0)
        return _finish(_kernel(), sums.acc, sums.dense[p], sums.nb_pad, b0, b1, lut,
                       sums.scales, col_add)
    if p in sums.sparse:
        out = sums.sparse[p][:, b0:b1]
    elif sums.acc is not None or sums.sparse:
        fail("p", caller, f"one of the planes summed ({sorted([*sums.dense, *sums.sparse])})",
             p)
    else:
        b = ((np.abs(codes[b0:b1]) >> p) & 1).astype(np.float64)   # the reference path
        out = workspace("lut_out", (lut.n_mats, b1 - b0, lut.n), np.float32)
        for m in range(lut.n_mats):
            out[m] = (b @ lut.integers(m) * sums.scales[m]).astype(np.float32)
    if col_add is not None and any(a for a in col_add):
        out = np.array(out)     # a copy: the sparse planes' sums stay as they were
        for m, vecs in enumerate(col_add):
            for a in vecs or ():
                out[m] += a
    return out


def _check_codes(codes, lut, caller):
    if not isinstance(lut, LutMatrix):
        fail("lut", caller, "a LutMatrix (lut_gemm.pack)", type(lut).__name__)
    if (not isinstance(codes, np.ndarray) or codes.ndim != 2 or codes.shape[1] != lut.k
            or codes.dtype != np.int32):
        fail("codes", caller, f"an int32 array of shape (batch, {lut.k})",
             getattr(codes, "shape", codes))
    return codes


def _refuse(v: np.ndarray, unit) -> None:
    bad = tuple(int(i) for i in np.argwhere((v != unit) & (v != 0))[0])
    fail("v", "lut_gemm.matmul", f"0 or {float(unit):g} V in every entry (a bit-plane)",
         f"array with {float(v[bad])!r} V at {bad}")


def _bits_py(v, unit, bits):
    """``bits[b, c] = [v[b, c] = unit]`` (uint8, zero-padded to whole groups); returns the
    number of entries other than 0 and ``unit`` (NaN included) and the number of ones."""
    n_b, k = v.shape
    bad = 0
    n_on = 0
    for b in range(n_b):
        row = bits[b]
        for c in range(k):
            x = v[b, c]
            on = x == unit
            bad += np.int64(not on and x != 0)
            n_on += np.int64(on)
            row[c] = np.uint8(on)
        for c in range(k, bits.shape[1]):
            row[c] = 0
    return bad, n_on


def _patterns_py(bits, idx):
    """The pattern ``Σ_q bits[b, 5g+q]·2^q`` of each group ``g`` and vector ``b`` (zero-padded
    vectors) into ``idx[g]``, interleaved by blocks of 64 vectors: vector ``64a + 16u + i`` at
    byte ``64a + 4i + u`` (byte ``u`` of lane ``i`` of the kernels' 64-byte loads)."""
    n_b = bits.shape[0]
    n_g, nb_pad = idx.shape
    for b in range(nb_pad):
        r = b & 63
        at = b - r + 4 * (r & 15) + (r >> 4)
        if b < n_b:
            row = bits[b]
            for g in range(n_g):
                c = GROUP * g
                idx[g, at] = (row[c] | (row[c + 1] << 1) | (row[c + 2] << 2)
                              | (row[c + 3] << 3) | (row[c + 4] << 4))
        else:
            for g in range(n_g):
                idx[g, at] = 0


def _set_rows_py(bits, k, ptr, rows):
    """The driven rows of each vector: ``rows[ptr[b]:ptr[b+1]]`` (ascending)."""
    i = 0
    for b in range(bits.shape[0]):
        ptr[b] = i
        for c in range(k):
            if bits[b, c]:
                rows[i] = c
                i += 1
    ptr[bits.shape[0]] = i


def _code_patterns_py(codes, idx, idx64, t8, t64):
    """The patterns of every plane ``p`` (``idx.shape[0]`` of them) of the codes ``c``:
    ``Σ_q bit_p(|c[b, 5g+q]|)·2^q`` into ``idx[p, g]``, laid out as :func:`_patterns_py`.
    Per block of 64 vectors and byte ``h`` of the codes (bits ``8h … 8h+7``): the bytes go
    into ``t8`` (rows × 64, the vectors in the patterns' order; rows past ``k`` zero), then
    eight vectors at a time in one integer (``t64``, ``idx64``: int64 views of ``t8`` and
    ``idx``), ``Σ_q ((t_{5g+q} >> s) & 0x01…01) << q`` is plane ``8h + s``'s patterns of
    group ``g``, a byte each."""
    n_b, k = codes.shape
    n_p, n_g, nb_pad = idx.shape
    lsb = np.int64(0x0101010101010101)
    for c in range(k, t8.shape[0]):
        for j in range(64):
            t8[c, j] = 0
    for a in range(0, nb_pad, 64):
        for h in range(0, n_p, 8):
            for r in range(64):
                b = a + r
                j = 4 * (r & 15) + (r >> 4)
                if b < n_b:
                    for c in range(k):
                        t8[c, j] = np.uint8((abs(codes[b, c]) >> h) & 255)
                else:
                    for c in range(k):
                        t8[c, j] = 0
            for g in range(n_g):
                c = GROUP * g
                for p in range(h, min(h + 8, n_p)):
                    s = np.int64(p - h)
                    for w in range(8):
                        idx64[p, g, a // 8 + w] = (
                            ((t64[c, w] >> s) & lsb)
                            | (((t64[c + 1, w] >> s) & lsb) << np.int64(1))
                            | (((t64[c + 2, w] >> s) & lsb) << np.int64(2))
                            | (((t64[c + 3, w] >> s) & lsb) << np.int64(3))
                            | (((t64[c + 4, w] >> s) & lsb) << np.int64(4)))


def _set_rows_codes_py(codes, p, ptr, rows):
    """The rows with bit ``p`` of the code set, per vector: ``rows[ptr[b]:ptr[b+1]]``
    (ascending); returns their number."""
    i = 0
    for b in range(codes.shape[0]):
        ptr[b] = i
        for c in range(codes.shape[1]):
            if (abs(codes[b, c]) >> p) & 1:
                if i < rows.size:
                    rows[i] = c
                i += 1
    ptr[codes.shape[0]] = i
    return i


_bits_kernel = jit(_bits_py)
_patterns_kernel = jit(_patterns_py)
_set_rows_kernel = jit(_set_rows_py)
_code_patterns_kernel = jit(_code_patterns_py)
_set_rows_codes_kernel = jit(_set_rows_codes_py)



# --- the kernel ----------------------------------------------------------------------------

_STATES: tuple = ({}, {}, {}, {}, {})


def kernel_available() -> bool:
    """Whether the look-up kernel compiled (else :func:`matmul` runs the float64 reference)."""
    return _kernel() is not None


def _kernel():
    """The compiled ``lut``, ``lutn``, ``lutf``, ``lsp`` and ``lspn`` (ctypes; wide, narrow,
    finish, sparse wide and narrow), or None (the
    reference path) where ``CIMSIM_FORCE_BLAS`` is set, the core lacks AVX-512F or the IR does
    not compile."""
    if _llvm.force_blas():
        return None
    args = [ctypes.c_int64] * 3 + [ctypes.c_void_p] * 3 + [ctypes.c_int64, ctypes.c_void_p,
                                                           ctypes.c_int64]
    fin = [ctypes.c_int64] * 2 + [ctypes.c_void_p] * 2 + [ctypes.c_int64, ctypes.c_double,
                                                           ctypes.c_void_p, ctypes.c_int64]
    sps = [ctypes.c_int64] + [ctypes.c_void_p] * 3 + [ctypes.c_int64, ctypes.c_void_p,
                                                       ctypes.c_double]
    fns = tuple(_llvm.compiled_function(st, ir, name, a, ("avx512f",),
                                        "the look-up GEMM kernel", "the float64 reference")
                for st, ir, name, a in ((_STATES[0], _ir, "lut", args),
                                        (_STATES[1], _ir_narrow, "lutn", args),
                                        (_STATES[2], _ir_finish, "lutf", fin),
                                        (_STATES[3], _ir_sparse, "lsp", sps),
                                        (_STATES[4], _ir_sparse_narrow, "lspn", sps)))
    return None if None in fns else fns


#: The two-table permute: lane ``i`` takes entry ``idx[i] mod 32`` of the 32 entries of its
#: first (0-15) and third (16-31) operands (``vpermi2d``).
_PERM = "@llvm.x86.avx512.vpermi2var.d.512"
_PREFETCH = "declare void @llvm.prefetch.p0(ptr, i32, i32, i32)"


def _splat(x: int) -> str:
    """The constant <16 x i32> of ``x`` in every lane."""
    return "<" + ", ".join([f"i32 {x}"] * 16) + ">"


def _group_lookup(n_cols: int, panel: int) -> list[str]:
    """IR of one group of five rows: load the group's ``n_cols`` tables of 32 patterns (two
    registers each), then for each of the :data:`VB` = 4 blocks of 16 vectors look up their
    patterns (``vpermi2d``; block ``u``'s in byte ``u`` of the lanes of one 64-byte load, see
    :func:`_patterns_py`) and add them to the running sums ``%s{u}_{c}`` as ``%n{u}_{c}``.
    One cache line of the tables ``panel`` groups on (the next panel's, or the next block
    of columns') is prefetched, line ``(b/64) mod 8`` of the group's ``2·n_cols`` lines: the
    tables come from memory once per call while the present panel's are looked up."""
    lines = 2 * n_cols
    s = [f"  %go = mul i64 %g, {n_cols * 128}", "  %tg = getelementptr i8, ptr %tj, i64 %go",
         "  %ir = mul i64 %g, %nb", "  %ib = add i64 %ir, %b",
         "  %pfb = lshr i64 %b, 6", f"  %pfl = urem i64 %pfb, {lines}",
         "  %pfo = shl i64 %pfl, 6", f"  %pfo2 = add i64 %pfo, {panel * n_cols * 128}",
         "  %pfa = getelementptr i8, ptr %tg, i64 %pfo2",
         "  call void @llvm.prefetch.p0(ptr %pfa, i32 0, i32 3, i32 1)"]
    for c in range(n_cols):
        for h in range(2):
            s += [f"  %tq{c}_{h} = getelementptr i8, ptr %tg, i64 {128 * c + 64 * h}",
                  f"  %t{c}_{h} = load <16 x i32>, ptr %tq{c}_{h}, align 4"]
    s += ["  %iq = getelementptr i8, ptr %idxq, i64 %ib",
          "  %iz0 = load <16 x i32>, ptr %iq, align 4"]
    for u in range(VB):
        if u:        # byte u of each lane: the permute reads the low five bits
            s += [f"  %iz{u} = lshr <16 x i32> %iz0, {_splat(8 * u)}"]
        for c in range(n_cols):
            s += [f"  %e{u}_{c} = call <16 x i32> {_PERM}(<16 x i32> %t{c}_0, <16 x i32> %iz{u}, "
                  f"<16 x i32> %t{c}_1)",
                  f"  %n{u}_{c} = add <16 x i32> %s{u}_{c}, %e{u}_{c}"]
    return s


def _panel_loops(width: int, entries: int, step: int, panel: int,
                 sums: list[tuple[str, int, int]], body: list[str]) -> list[str]:
    """IR of the loops around a kernel's group loop ``body``: blocks ``%jb`` of ``width`` columns
    (tables ``%tj``, ``entries`` tables of 32 patterns per group), then each of the ``%npl``
    planes ``%q`` (patterns ``%idxq`` at byte ``poff[q]`` of ``%idx``, sums ``%accq`` at
    ``q·astride`` of ``%acc``: a block of columns' tables, read from memory once, serves every
    plane from the cache), panels ``[%p0, %p1)`` of ``panel`` groups, blocks ``%b`` of
    ``step`` vectors. Each sum (``sums``: its name, its block of 16 vectors ``u`` (at
    ``%abu{u}``) and its byte offset there, its place in ``%accq``; <16 x i32> values,
    ``%a…`` at the start of a panel, ``%x…`` defined by ``body`` at its end) starts at zero
    in the first panel (the scratch is not read) and is stored in ``%accq`` after each (a
    body that keeps its sums in ``acc`` itself passes no ``sums``; ``%first`` says whether
    the panel is the first): a plane's ``acc`` holds int32 blocks of :data:`CB` columns × 16
    vectors, (nb/16, n/CB, CB, 16), so a run of vectors' sums is one stretch of memory."""
    s = [f"  %gstride = mul i64 %ng, {entries * 128}", "  br label %jl",
         "jl:", "  %jb = phi i64 [0, %entry], [%jbn, %qdone]",
         "  %to = mul i64 %jb, %gstride", "  %tj = getelementptr i8, ptr %tab, i64 %to",
         f"  %cbk = udiv i64 %jb, {CB // width}", f"  %cin = urem i64 %jb, {CB // width}",
         f"  %cbb = mul i64 %cbk, {CB * 64}", f"  %lbs = mul i64 %njb, {width * 64}",
         f"  %cio = mul i64 %cin, {width * 64}", "  %cb0 = add i64 %cbb, %cio",
         "  br label %ql",
         # plane q: patterns at byte poff[q] of %idx, sums at q·%astride of %acc
         "ql:", "  %q = phi i64 [0, %jl], [%qn, %pdone]",
         "  %poq = getelementptr i64, ptr %poff, i64 %q", "  %po = load i64, ptr %poq, align 8",
         "  %idxq = getelementptr i8, ptr %idx, i64 %po", "  %aoq = mul i64 %q, %astride",
         "  %accq = getelementptr i8, ptr %acc, i64 %aoq",
         "  br label %pl",
         "pl:", "  %p0 = phi i64 [0, %ql], [%p1, %bdone]",
         f"  %p1a = add i64 %p0, {panel}", "  %p1lt = icmp ult i64 %p1a, %ng",
         "  %p1 = select i1 %p1lt, i64 %p1a, i64 %ng", "  %first = icmp eq i64 %p0, 0",
         "  br label %bl",
         "bl:", "  %b = phi i64 [0, %pl], [%bn, %bdone0]",
         "  %bl16 = lshr i64 %b, 4", "  %bo = mul i64 %bl16, %lbs", "  %ao = add i64 %cb0, %bo",
         "  %ab = getelementptr i8, ptr %accq, i64 %ao"]
    for u in range(step // 16):     # lane block b/16 + u of the sums
        s += [f"  %luo{u} = mul i64 %lbs, {u}",
              f"  %abu{u} = getelementptr i8, ptr %ab, i64 %luo{u}"]
    s += [f"  %aq{a} = getelementptr i8, ptr %abu{u}, i64 {off}" for a, u, off in sums]
    # the sums start at zero in panel 0 (not read: the scratch holds the last call's sums)
    s += ["  br i1 %first, label %bz, label %bs", "bs:"]
    s += [f"  %al{a} = load <16 x i32>, ptr %aq{a}, align 4" for a, _, _ in sums]
    s += ["  br label %bj", "bz:", "  br label %bj", "bj:"]
    s += [f"  %a{a} = phi <16 x i32> [%al{a}, %bs], [zeroinitializer, %bz]" for a, _, _ in sums]
    s += body
    s += [f"  store <16 x i32> %x{a}, ptr %aq{a}, align 4" for a, _, _ in sums]
    s += ["  br label %bdone0",
          "bdone0:", f"  %bn = add i64 %b, {step}", "  %bmore = icmp ult i64 %bn, %nb",
          "  br i1 %bmore, label %bl, label %bdone",
          "bdone:", "  %pmore = icmp ult i64 %p1, %ng", "  br i1 %pmore, label %pl, label %pdone",
          "pdone:", "  %qn = add i64 %q, 1", "  %qmore = icmp ult i64 %qn, %npl",
          "  br i1 %qmore, label %ql, label %qdone",
          "qdone:", "  %jbn = add i64 %jb, 1", "  %jmore = icmp ult i64 %jbn, %njb",
          "  br i1 %jmore, label %jl, label %exit", "exit:", "  ret void", "}"]
    return s


_HEAD = ("(i64 %nb, i64 %ng, i64 %njb, ptr noalias %idx, ptr noalias %tab, ptr noalias %acc, "
         "i64 %npl, ptr noalias %poff, i64 %astride) {")


def _ir() -> str:
    """``lut(nb, ng, njb, idx, tab, acc, npl, poff, astride)``: for each block of ``J``
    columns, plane (:func:`_panel_loops`), panel of :data:`PANEL` groups and block of
    ``16·VB`` vectors, over the groups ``g``: two registers
    per column hold the column's 32 patterns of group ``g`` and one per 16 vectors their
    patterns, ``vpermi2d`` looks up each vector's entry of each column and adds it to int32
    sums (lanes = vectors), kept in ``acc`` (blocks of :data:`CB` columns × 16 vectors, see
    :func:`_ir_finish`)."""
    blk = [(u, c) for u in range(VB) for c in range(J)]
    s = [f"declare <16 x i32> {_PERM}(<16 x i32>, <16 x i32>, <16 x i32>)", _PREFETCH,
         "define void @lut" + _HEAD, "entry:"]
    body = ["  br label %gl", "gl:", "  %g = phi i64 [%p0, %bj], [%gn, %gl]"]
    body += [f"  %s{u}_{c} = phi <16 x i32> [%a{u}_{c}, %bj], [%n{u}_{c}, %gl]"
             for u, c in blk]
    body += _group_lookup(J, PANEL)
    body += ["  %gn = add i64 %g, 1", "  %gmore = icmp ult i64 %gn, %p1",
             "  br i1 %gmore, label %gl, label %gdone", "gdone:"]
    body += [f"  %x{u}_{c} = add <16 x i32> %n{u}_{c}, zeroinitializer" for u, c in blk]
    # lane block b/16 + u, column c of the CB-block
    s += _panel_loops(J, J, 16 * VB, PANEL, [(f"{u}_{c}", u, 64 * c) for u, c in blk], body)
    return "\n".join(s)


def _ir_narrow() -> str:
    """``lutn(nb, ng, njb, idx, tab, acc, npl, poff, astride)`` for a narrow matrix: each
    int32 table entry holds
    two columns' entries (column ``c`` in bits 0-15, column ``JN + c`` in bits 16-31 of a
    block of ``2·JN`` columns), so one ``vpermi2d`` looks up two columns; the packed sums
    ``P = lo + 2^16·hi`` run over panels of :data:`CHUNK_G` groups (a half never exceeds 16
    bits), then ``acc`` takes ``Σ P`` (mod 2^32) for column ``c`` and ``Σ hi`` for column
    ``JN + c``; after the last panel ``Σ lo = Σ P − 2^16·Σ hi`` (exact: below 2^31). ``acc``
    as :func:`_ir`'s."""
    blk = [(u, c) for u in range(VB) for c in range(JN)]
    wide = [(u, c, h) for u in range(VB) for c in range(JN) for h in range(2)]
    s = [f"declare <16 x i32> {_PERM}(<16 x i32>, <16 x i32>, <16 x i32>)", _PREFETCH,
         "define void @lutn" + _HEAD, "entry:"]
    body = ["  br label %gl", "gl:", "  %g = phi i64 [%p0, %bj], [%gn, %gl]"]
    body += [f"  %s{u}_{c} = phi <16 x i32> [zeroinitializer, %bj], [%n{u}_{c}, %gl]"
             for u, c in blk]
    body += _group_lookup(JN, CHUNK_G)
    body += ["  %gn = add i64 %g, 1", "  %gmore = icmp ult i64 %gn, %p1",
             "  br i1 %gmore, label %gl, label %gdone", "gdone:",
             "  %last = icmp eq i64 %p1, %ng", "  br i1 %first, label %f0, label %f1",
             "f0:", "  br i1 %last, label %fin11, label %fin10",
             "f1:", "  br i1 %last, label %fin01, label %fin00"]
    # lane block b/16 + u, column h·JN + c of the 2·JN-block
    off = {(u, c, h): 64 * (h * JN + c) for u, c, h in wide}
    for first in (0, 1):
        for last in (0, 1):
            t = f"{first}{last}"
            body.append(f"fin{t}:")
            for u, c in blk:
                v = f"{u}_{c}_{t}"
                body += [f"  %aq{v}_{h} = getelementptr i8, ptr %abu{u}, i64 {off[u, c, h]}"
                         for h in range(2)]
                body += [f"  %hi{v} = lshr <16 x i32> %n{u}_{c}, {_splat(16)}"]
                if first:
                    body += [f"  %y{v} = add <16 x i32> %n{u}_{c}, zeroinitializer",
                             f"  %x{v}_1 = add <16 x i32> %hi{v}, zeroinitializer"]
                else:
                    body += [f"  %a{v}_{h} = load <16 x i32>, ptr %aq{v}_{h}, align 4"
                             for h in range(2)]
                    body += [f"  %y{v} = add <16 x i32> %a{v}_0, %n{u}_{c}",
                             f"  %x{v}_1 = add <16 x i32> %a{v}_1, %hi{v}"]
                if last:
                    body += [f"  %hs{v} = shl <16 x i32> %x{v}_1, {_splat(16)}",
                             f"  %x{v}_0 = sub <16 x i32> %y{v}, %hs{v}"]
                else:
                    body += [f"  %x{v}_0 = add <16 x i32> %y{v}, zeroinitializer"]
                body += [f"  store <16 x i32> %x{v}_{h}, ptr %aq{v}_{h}, align 4"
                         for h in range(2)]
            body.append("  br label %bdone0")
    body.pop()                       # the last block's branch is the panel loop's
    s += _panel_loops(2 * JN, JN, 16 * VB, CHUNK_G, [], body)
    return "\n".join(s)


def _mask(idx) -> str:
    return "<" + ", ".join(f"i32 {i}" for i in idx) + ">"


def _lanes(a: int, b: int, c: int, d: int) -> str:
    """Mask of the 128-bit lanes ``a, b`` of the first and ``c, d`` of the second vector."""
    return _mask([4 * q + x for q in (a, b) for x in range(4)]
                 + [16 + 4 * q + x for q in (c, d) for x in range(4)])


#: IR lines that broadcast the kernel's ``double %scale`` argument into ``%scv``.
_SPLAT_SCALE = ("  %sci = insertelement <16 x double> poison, double %scale, i64 0",
                "  %scv = shufflevector <16 x double> %sci, <16 x double> poison, "
                "<16 x i32> zeroinitializer")


def _to_f32(src: str, k: int) -> list[str]:
    """IR lines ``%h{k} = f32(f64(src)·scale)`` of 16 int32 sums ``src``: the one rounding of
    an exact sum to the float output, shared by the table path and the sparse path."""
    return [f"  %f{k} = sitofp <16 x i32> {src} to <16 x double>",
            f"  %y{k} = fmul <16 x double> %f{k}, %scv",
            f"  %h{k} = fptrunc <16 x double> %y{k} to <16 x float>"]


#: Bytes ahead of the sums being converted that :func:`_ir_finish` prefetches (into the L2
#: cache; the hardware's streams stop at 4 KiB pages) [-].
_FINISH_AHEAD = 16384


def _ir_finish() -> str:
    """``lutf(nlb, ncb, acc, out, ldo, scale)``: for each block of 16 vectors and each block
    of :data:`CB` columns in ``acc`` (int32, (nlb, ncb, CB, 16): lanes = vectors, read in
    order, :data:`_FINISH_AHEAD` bytes prefetched ahead into the L2 cache: sums of several
    planes come from memory), ``f32(f64(R)·scale)`` transposed (in-lane unpacks of 32 and
    64 bits, then two shuffles of 128-bit lanes) into 16 rows of 16 floats, each stored as
    one 64-byte row segment of ``out`` (row stride ``ldo``). Whole row segments keep the
    stores of a block from evicting each other in the L1 cache (rows of 2 KiB, as 512
    columns, share two sets)."""
    lo32 = [4 * q + x for q in range(4) for x in (0, 16, 1, 17)]
    hi32 = [4 * q + x for q in range(4) for x in (2, 18, 3, 19)]
    lo64 = [4 * q + x for q in range(4) for x in (0, 1, 16, 17)]
    hi64 = [4 * q + x for q in range(4) for x in (2, 3, 18, 19)]
    s = [_PREFETCH,
         "define void @lutf(i64 %nlb, i64 %ncb, ptr noalias %acc, ptr noalias %out, i64 %ldo, "
         "double %scale, ptr noalias %add, i64 %nadd) {", "entry:",
         *_SPLAT_SCALE, "  %has0 = icmp ugt i64 %nadd, 0", "  %has1 = icmp ugt i64 %nadd, 1",
         "  br label %ll",
         "ll:", "  %l = phi i64 [0, %entry], [%ln, %cdone]",
         "  %lo = mul i64 %l, %ncb", "  %row0 = shl i64 %l, 4", "  br label %cl",
         "cl:", "  %cb = phi i64 [0, %ll], [%cbn, %cl]",
         f"  %col = mul i64 %cb, {CB}", "  %lc = add i64 %lo, %cb",
         f"  %lb = mul i64 %lc, {CB * 64}",
         "  %ap = getelementptr i8, ptr %acc, i64 %lb"]
    for c in range(CB):       # the sums 4 KiB on, from memory while these are converted
        s += [f"  %pf{c} = getelementptr i8, ptr %ap, i64 {_FINISH_AHEAD + 64 * c}",
              f"  call void @llvm.prefetch.p0(ptr %pf{c}, i32 0, i32 2, i32 1)"]
    for c in range(CB):
        s += [f"  %q{c} = getelementptr i8, ptr %ap, i64 {64 * c}",
              f"  %i{c} = load <16 x i32>, ptr %q{c}, align 4", *_to_f32(f"%i{c}", c)]
    sh = []
    for k in range(CB // 2):      # lane q: columns 2k, 2k+1 of vectors 4q, 4q+1 / 4q+2, 4q+3
        for nm, m in (("a", lo32), ("b", hi32)):
            s.append(f"  %{nm}{k} = shufflevector <16 x float> %h{2 * k}, "
                     f"<16 x float> %h{2 * k + 1}, <16 x i32> {_mask(m)}")
    for m4 in range(CB // 4):     # r{m}_{r}: lane q holds vector 4q + r, columns 4m … 4m+3
        for r, (src, msk) in enumerate((("a", lo64), ("a", hi64), ("b", lo64), ("b", hi64))):
            s.append(f"  %r{m4}_{r} = shufflevector <16 x float> %{src}{2 * m4}, "
                     f"<16 x float> %{src}{2 * m4 + 1}, <16 x i32> {_mask(msk)}")
    for r in range(4):            # 4×4 transpose of 128-bit lanes: vector 4q + r in one row
        s += [f"  %A{r} = shufflevector <16 x float> %r0_{r}, <16 x float> %r1_{r}, "
              f"<16 x i32> {_lanes(0, 2, 0, 2)}",
              f"  %B{r} = shufflevector <16 x float> %r0_{r}, <16 x float> %r1_{r}, "
              f"<16 x i32> {_lanes(1, 3, 1, 3)}",
              f"  %C{r} = shufflevector <16 x float> %r2_{r}, <16 x float> %r3_{r}, "
              f"<16 x i32> {_lanes(0, 2, 0, 2)}",
              f"  %D{r} = shufflevector <16 x float> %r2_{r}, <16 x float> %r3_{r}, "
              f"<16 x i32> {_lanes(1, 3, 1, 3)}"]
        for q, (x, y, a, b) in enumerate((("A", "C", 0, 2), ("B", "D", 0, 2),
                                          ("A", "C", 1, 3), ("B", "D", 1, 3))):
            sh.append((4 * q + r, f"  %v{4 * q + r} = shufflevector <16 x float> %{x}{r}, "
                       f"<16 x float> %{y}{r}, <16 x i32> {_lanes(a, b, a, b)}"))
    # the column constants add[0], then add[1] (rows of ldo floats), each where nadd says
    s += ["  %ad0 = getelementptr float, ptr %add, i64 %col", "  %col1 = add i64 %col, %ldo",
          "  %ad1 = getelementptr float, ptr %add, i64 %col1",
          "  %kc0 = load <16 x float>, ptr %ad0, align 4",
          "  %kc1 = load <16 x float>, ptr %ad1, align 4"]
    for i, line in sorted(sh):
        s += [line, f"  %kw{i} = fadd <16 x float> %v{i}, %kc0",
              f"  %kx{i} = select i1 %has0, <16 x float> %kw{i}, <16 x float> %v{i}",
              f"  %ky{i} = fadd <16 x float> %kx{i}, %kc1",
              f"  %kz{i} = select i1 %has1, <16 x float> %ky{i}, <16 x float> %kx{i}",
              f"  %rr{i} = add i64 %row0, {i}", f"  %ro{i} = mul i64 %rr{i}, %ldo",
              f"  %rc{i} = add i64 %ro{i}, %col",
              f"  %rp{i} = getelementptr float, ptr %out, i64 %rc{i}",
              f"  store <16 x float> %kz{i}, ptr %rp{i}, align 4"]
    s += ["  %cbn = add i64 %cb, 1", "  %cmore = icmp ult i64 %cbn, %ncb",
          "  br i1 %cmore, label %cl, label %cdone",
          "cdone:", "  %ln = add i64 %l, 1", "  %lmore = icmp ult i64 %ln, %nlb",
          "  br i1 %lmore, label %ll, label %exit", "exit:", "  ret void", "}"]
    return "\n".join(s)


def _ir_sparse(narrow: bool = False) -> str:
    """``lsp(nb, ptr, rows, q, ncb, out, scale)`` (``lspn`` for int16 rows): for each block of
    :data:`SPARSE_COLS` columns and each vector ``b``, the rows ``q[r]`` (``ncb·SPARSE_COLS``
    columns) of its driven rows ``r = rows[ptr[b]:ptr[b+1]]`` added up in eight registers of
    int32 sums, then ``f32(f64(R)·scale)`` stored into ``out[b]`` (row length as ``q``'s)."""
    nv = SPARSE_COLS // 16
    ety, size = ("i16", 2) if narrow else ("i32", 4)
    name = "lspn" if narrow else "lsp"
    s = [f"define void @{name}(i64 %nb, ptr noalias %ptr, ptr noalias %rows, ptr noalias %q, "
         "i64 %ncb, ptr noalias %out, double %scale) {", "entry:",
         *_SPLAT_SCALE,
         f"  %ldq = mul i64 %ncb, {SPARSE_COLS}", "  br label %cl",
         "cl:", "  %cb = phi i64 [0, %entry], [%cbn, %bdone]",
         f"  %col = mul i64 %cb, {SPARSE_COLS}", "  br label %bl",
         "bl:", "  %b = phi i64 [0, %cl], [%bn, %fin]",
         "  %pp0 = getelementptr i64, ptr %ptr, i64 %b", "  %i0 = load i64, ptr %pp0, align 8",
         "  %b1 = add i64 %b, 1", "  %pp1 = getelementptr i64, ptr %ptr, i64 %b1",
         "  %i1 = load i64, ptr %pp1, align 8", "  %any = icmp ult i64 %i0, %i1",
         "  br i1 %any, label %rl, label %fin",
         "rl:", "  %i = phi i64 [%i0, %bl], [%in, %rl]"]
    s += [f"  %s{k} = phi <16 x i32> [zeroinitializer, %bl], [%n{k}, %rl]" for k in range(nv)]
    s += ["  %rp = getelementptr i32, ptr %rows, i64 %i", "  %r32 = load i32, ptr %rp, align 4",
          "  %r = sext i32 %r32 to i64", "  %ro = mul i64 %r, %ldq", "  %qo = add i64 %ro, %col",
          f"  %qp = getelementptr {ety}, ptr %q, i64 %qo"]
    for k in range(nv):
        s += [f"  %qk{k} = getelementptr i8, ptr %qp, i64 {16 * size * k}",
              f"  %v{k} = load <16 x {ety}>, ptr %qk{k}, align {size}"]
        if narrow:
            s += [f"  %w{k} = sext <16 x i16> %v{k} to <16 x i32>",
                  f"  %n{k} = add <16 x i32> %s{k}, %w{k}"]
        else:
            s += [f"  %n{k} = add <16 x i32> %s{k}, %v{k}"]
    s += ["  %in = add i64 %i, 1", "  %more = icmp ult i64 %in, %i1",
          "  br i1 %more, label %rl, label %fin", "fin:"]
    s += [f"  %t{k} = phi <16 x i32> [zeroinitializer, %bl], [%n{k}, %rl]" for k in range(nv)]
    s += ["  %orow = mul i64 %b, %ldq", "  %oo = add i64 %orow, %col",
          "  %op = getelementptr float, ptr %out, i64 %oo"]
    for k in range(nv):
        s += [*_to_f32(f"%t{k}", k),
              f"  %ok{k} = getelementptr float, ptr %op, i64 {16 * k}",
              f"  store <16 x float> %h{k}, ptr %ok{k}, align 4"]
    s += ["  %bn = add i64 %b, 1", "  %bmore = icmp ult i64 %bn, %nb",
          "  br i1 %bmore, label %bl, label %bdone",
          "bdone:", "  %cbn = add i64 %cb, 1", "  %cmore = icmp ult i64 %cbn, %ncb",
          "  br i1 %cmore, label %cl, label %exit", "exit:", "  ret void", "}"]
    return "\n".join(s)


def _ir_sparse_narrow() -> str:
    return _ir_sparse(narrow=True)
