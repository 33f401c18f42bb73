r"""Binary-row GEMM by table look-up: the bit-plane reads of a tile, exact in integers.

A bit-plane (unsigned bit-serial inputs) drives every row at 0 or one voltage ``V``, so the
column sums it needs are ``V·b @ M`` with ``b`` a 0/1 matrix. For matrices held as integers,
``M ≈ unit·Q`` (``Q`` int, see :func:`fixed_point`; the signal matrix as the integer form of
its base-128 split, :func:`cimsim.kernels.int8_gemm.integer_matrix`), the method of the four
Russians [1]_ [2]_ takes the product without a multiplication: the rows are taken in groups
of :data:`GROUP` = 4 and, for each group ``g`` and each of the 16 patterns ``e`` of four bits,
the table

.. math:: L_{g,e,j} = \sum_{q=0}^{3} e_q\, Q_{4g+q,\,j}

is formed once (int32). A vector's sum is then one table row per group,

.. math:: R_j = \sum_g L_{g,\,e_g(b),\,j} = (b\,Q)_j \quad \text{exactly (int32)}, \qquad
          y_j = \mathrm{f32}\bigl(\mathrm{f64}(R_j)\cdot V\,\mathrm{unit}\bigr),

a quarter of the additions of ``b @ Q`` and no multiplication; ``|R| ≤ k·max|Q| < 2^31`` is
checked when the tables are built. A *narrow* matrix (entries in [0, :data:`NARROW_MAX`],
10 bits: a read-noise variance, whose GEMM needs only a noise amplitude's precision) packs
two columns into each int32 table entry (16 bits each), so one look-up serves two columns;
its packed sums are split into two int32 sums every :data:`CHUNK_G` groups, before a half
can exceed 16 bits. Several matrices (the signal and the read-noise variance
of a tile) share the patterns: each vector's 4-bit pattern of each group is formed once per
call. The result is the exact product rounded once, so every path gives the same numbers:
the kernel (LLVM IR compiled by :mod:`cimsim.kernels._llvm` for cores with AVX-512F) keeps
the 16 entries of one column and group in a register and looks up 16 vectors' patterns in one
``vpermd``, adding them to int32 sums of :data:`J` columns × :data:`VB` blocks of 16 vectors
held in registers, then transposes the block into the rows of the output; elsewhere (the
NumPy backend, ``CIMSIM_FORCE_BLAS=1``, a core without AVX-512F or a kernel that does not
compile) the reference takes ``b @ Q`` as a float64 BLAS GEMM (integer sums below 2^31,
exact in float64) times the same scale.

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
from .parallel import workspace

__all__ = ["CHUNK_G", "GROUP", "J", "JN", "NARROW_MAX", "VB", "LutMatrix", "fits", "fixed_point",
           "kernel_available", "matmul", "pack"]

#: Rows per look-up (16 patterns per group) [-].
GROUP = 4
#: Columns per block of the kernel (one table of 16 patterns per column in a register) [-].
J = 8
#: Blocks of 16 vectors per register block of the kernel [-].
VB = 2
#: Column pairs per block of the narrow kernel (two columns per int32 entry) [-].
JN = 4
#: Largest entry of a narrow matrix (non-negative): its table entries (sums of 4) over
#: :data:`CHUNK_G` groups stay within 16 bits, 4·16·1023 = 65472 [-].
NARROW_MAX = 1023
#: Groups per chunk of the narrow kernel's packed sums [-].
CHUNK_G = 16
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
    tables : tuple of ndarray
        ``L`` of each matrix, int32, zero-padded to ``ceil(k/4)`` groups and a multiple of
        ``2·JN = J`` columns: (n/J, groups, J, 16), or narrow (n/(2·JN), groups, JN, 16) with
        column ``c`` of a block in the low and ``JN + c`` in the high 16 bits.
    """

    k: int
    n: int
    units: tuple
    narrow: tuple
    tables: tuple

    @property
    def n_mats(self) -> int:
        return len(self.units)

    def integers(self, m: int) -> np.ndarray:
        """``Q_m`` (k, n) as float64 (exact), read back from the tables' one-bit patterns."""
        t = self.tables[m][:, :, :, [1, 2, 4, 8]].astype(np.int64)     # (jb, g, c, q)
        if self.narrow[m]:
            t = np.concatenate([t & 0xFFFF, t >> 16], axis=2)
        q = t.transpose(1, 3, 0, 2).reshape(GROUP * t.shape[1], t.shape[2] * t.shape[0])
        return q[:self.k, :self.n].astype(np.float64)


def fits(k: int, top: float) -> bool:
    """Whether ``k`` rows of integers up to ``|top|`` keep every sum within int32."""
    k = check_int("k", k, "lut_gemm.fits", lo=0)
    top = check_scalar("top", top, "lut_gemm.fits", lo=0.0)
    return k * top <= _I32


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
    n_g, n_pad = -(-k // GROUP), -(-n // J) * J
    tables = []
    for q, nar in zip(ints, narrow, strict=True):
        pad = np.zeros((GROUP * n_g, n_pad), dtype=np.int32)
        pad[:k, :n] = q
        rows = pad.reshape(n_g, GROUP, n_pad // J, J).transpose(2, 0, 3, 1)   # (jb, g, c, q)
        tab = np.zeros(rows.shape[:3] + (16,), dtype=np.int32)
        for e in range(1, 16):
            low = e & -e                                   # lowest set bit: e = low + rest
            tab[..., e] = tab[..., e ^ low] + rows[..., low.bit_length() - 1]
        if nar:         # columns c and JN + c of a block share an entry
            tab = tab[:, :, :JN] | (tab[:, :, JN:] << 16)
        tables.append(np.ascontiguousarray(tab))
    return LutMatrix(k, n, tuple(float(u) for u in units), tuple(narrow), tuple(tables))


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
    n_g = lut.tables[0].shape[1]
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
    step = 16 * VB
    nb_pad = -(-max(n_b, 1) // step) * step
    idx = workspace("lut_idx", (n_g, nb_pad), np.uint8)
    bits = workspace("lut_bits", (n_b, GROUP * n_g), np.uint8)
    if _nibbles_kernel(v, unit, idx, bits):
        _refuse(v, unit)
    n_pad = J * lut.tables[0].shape[0] * (2 if lut.narrow[0] else 1)
    out = workspace("lut_out", (lut.n_mats, nb_pad, n_pad), np.float32)
    for m in range(lut.n_mats):
        tab = lut.tables[m]
        fn[lut.narrow[m]](nb_pad, n_g, tab.shape[0], idx.ctypes.data, tab.ctypes.data,
                          out[m].ctypes.data, n_pad, scales[m])
    if n_b == nb_pad and lut.n == n_pad:
        return out
    return np.ascontiguousarray(out[:, :n_b, :lut.n])


def _refuse(v: np.ndarray, unit) -> None:
    bad = tuple(int(i) for i in np.argwhere((v != unit) & (v != 0))[0])
    fail("v", "lut_gemm.matmul", f"0 or {float(unit):g} V in every entry (a bit-plane)",
         f"array with {float(v[bad])!r} V at {bad}")


def _nibbles_py(v, unit, idx, bits):
    """``idx[g, b] = Σ_q [v[b, 4g+q] = unit]·2^q`` (zero-padded vectors and groups), in
    passes the compiler vectorises: the bits as bytes (``bits``, (batch, 4·groups) uint8
    scratch), then per group the four bytes read as one little-endian word ``x`` whose bits
    0, 8, 16, 24 are gathered into bits 24…27 by ``x·0x01020408`` (their products land on
    distinct bits, so no carry). Returns the number of entries other than 0 and ``unit``
    (NaN included)."""
    n_b, k = v.shape
    n_g, nb_pad = idx.shape
    bad = 0
    for b in range(n_b):
        row = bits[b]
        for c in range(k):
            x = v[b, c]
            on = x == unit
            bad += np.int64(not on and x != 0)
            row[c] = np.uint8(on)
        for c in range(k, GROUP * n_g):
            row[c] = 0
    words = bits.view(np.uint32)
    for g in range(n_g):
        out = idx[g]
        for b in range(n_b):
            out[b] = np.uint8((words[b, g] * np.uint32(0x01020408)) >> np.uint32(24))
        for b in range(n_b, nb_pad):
            out[b] = 0
    return bad


_nibbles_kernel = jit(_nibbles_py)


# --- the kernel ----------------------------------------------------------------------------

_STATES: tuple = ({}, {})


def kernel_available() -> bool:
    """Whether the look-up kernel compiled (else :func:`matmul` runs the float64 reference)."""
    return _kernel() is not None


def _kernel():
    """The compiled ``lut`` and ``lutn`` (ctypes; wide, narrow), or None (the reference path) where
    ``CIMSIM_FORCE_BLAS`` is set, the core lacks AVX-512F or the IR does not compile."""
    if _llvm.force_blas():
        return None
    args = [ctypes.c_int64] * 3 + [ctypes.c_void_p] * 3 + [ctypes.c_int64, ctypes.c_double]
    fns = tuple(_llvm.compiled_function(st, ir, name, args, ("avx512f",),
                                        "the look-up GEMM kernel", "the float64 reference")
                for st, ir, name in ((_STATES[0], _ir, "lut"),
                                     (_STATES[1], _ir_narrow, "lutn")))
    return None if None in fns else fns


def _group_lookup(n_cols: int, perm: str) -> list[str]:
    """IR of one group of four rows: load the group's ``n_cols`` tables of 16 patterns, then
    for each of the :data:`VB` blocks of 16 vectors look up their patterns (``perm``) and add
    them to the running sums ``%s{u}_{c}`` as ``%n{u}_{c}``."""
    s = [f"  %go = mul i64 %g, {n_cols * 64}", "  %tg = getelementptr i8, ptr %tj, i64 %go",
         "  %ir = mul i64 %g, %nb", "  %ib = add i64 %ir, %b"]
    for c in range(n_cols):
        s += [f"  %tq{c} = getelementptr i8, ptr %tg, i64 {64 * c}",
              f"  %t{c} = load <16 x i32>, ptr %tq{c}, align 4"]
    for u in range(VB):
        s += [f"  %iu{u} = add i64 %ib, {16 * u}",
              f"  %iq{u} = getelementptr i8, ptr %idx, i64 %iu{u}",
              f"  %ix{u} = load <16 x i8>, ptr %iq{u}, align 1",
              f"  %iz{u} = zext <16 x i8> %ix{u} to <16 x i32>"]
        for c in range(n_cols):
            s += [f"  %e{u}_{c} = call <16 x i32> {perm}(<16 x i32> %t{c}, <16 x i32> %iz{u})",
                  f"  %n{u}_{c} = add <16 x i32> %s{u}_{c}, %e{u}_{c}"]
    return s


def _ir() -> str:
    """``lut(nb, ng, njb, idx, tab, out, ldo, scale)``: for each block of ``J`` columns and
    each block of ``16·VB`` vectors, over the groups ``g``: one register per column holds the
    column's 16 patterns of group ``g`` and one per 16 vectors their patterns, ``vpermd``
    looks up each vector's entry of each column and adds it to int32 sums (lanes = vectors);
    at the end ``f32(f64(R)·scale)`` is transposed into ``out[b, j]`` (row stride ``ldo``)."""
    perm = "@llvm.x86.avx512.permvar.si.512"
    blk = [(u, c) for u in range(VB) for c in range(J)]
    s = [f"declare <16 x i32> {perm}(<16 x i32>, <16 x i32>)",
         "define void @lut(i64 %nb, i64 %ng, i64 %njb, ptr noalias %idx, ptr noalias %tab, "
         "ptr noalias %out, i64 %ldo, double %scale) {", "entry:",
         "  %sci = insertelement <16 x double> poison, double %scale, i64 0",
         "  %scv = shufflevector <16 x double> %sci, <16 x double> poison, "
         "<16 x i32> zeroinitializer",
         f"  %gstride = mul i64 %ng, {J * 64}", "  br label %jl",
         "jl:", "  %jb = phi i64 [0, %entry], [%jbn, %bdone]",
         "  %to = mul i64 %jb, %gstride", "  %tj = getelementptr i8, ptr %tab, i64 %to",
         f"  %col = mul i64 %jb, {J}", "  br label %bl",
         "bl:", "  %b = phi i64 [0, %jl], [%bn, %gdone]", "  br label %gl",
         "gl:", "  %g = phi i64 [0, %bl], [%gn, %gl]"]
    s += [f"  %s{u}_{c} = phi <16 x i32> [zeroinitializer, %bl], [%n{u}_{c}, %gl]"
          for u, c in blk]
    s += _group_lookup(J, perm)
    s += ["  %gn = add i64 %g, 1", "  %gmore = icmp ult i64 %gn, %ng",
          "  br i1 %gmore, label %gl, label %gdone", "gdone:"]
    for u, c in blk:
        s += [f"  %f{u}_{c} = sitofp <16 x i32> %n{u}_{c} to <16 x double>",
              f"  %y{u}_{c} = fmul <16 x double> %f{u}_{c}, %scv",
              f"  %h{u}_{c} = fptrunc <16 x double> %y{u}_{c} to <16 x float>"]
    for u in range(VB):
        s += _store_rows(u, [f"%h{u}_{c}" for c in range(J)])
    s += [f"  %bn = add i64 %b, {16 * VB}", "  %bmore = icmp ult i64 %bn, %nb",
          "  br i1 %bmore, label %bl, label %bdone",
          "bdone:", "  %jbn = add i64 %jb, 1", "  %jmore = icmp ult i64 %jbn, %njb",
          "  br i1 %jmore, label %jl, label %exit", "exit:", "  ret void", "}"]
    return "\n".join(s)



def _store_rows(u: int, vecs: list[str]) -> list[str]:
    """IR storing the float vectors ``vecs`` (one per column, lanes = the 16 vectors of block
    ``u``) side by side into the vectors' rows of ``out`` from column ``%col`` on."""
    s = []
    n = len(vecs)
    prev, width = vecs[0], 16
    for c in range(1, n):       # concatenate the column vectors (widths 16·(c+1))
        a = f"%cat{u}_{c}"
        if width == 16:
            s += [f"  {a} = shufflevector <16 x float> {prev}, <16 x float> {vecs[c]}, "
                  f"<32 x i32> <{', '.join(f'i32 {x}' for x in range(32))}>"]
        else:
            wid = f"%wd{u}_{c}"
            s += [f"  {wid} = shufflevector <16 x float> {vecs[c]}, <16 x float> poison, "
                  f"<{width} x i32> <"
                  + ", ".join(f"i32 {x}" if x < 16 else "i32 poison" for x in range(width))
                  + ">",
                  f"  {a} = shufflevector <{width} x float> {prev}, <{width} x float> {wid}, "
                  f"<{width + 16} x i32> <"
                  + ", ".join(f"i32 {x}" for x in range(width + 16)) + ">"]
        prev, width = a, width + 16
    for lane in range(16):
        mask = ", ".join(f"i32 {16 * c + lane}" for c in range(n))
        s += [f"  %r{u}_{lane} = shufflevector <{width} x float> {prev}, "
              f"<{width} x float> poison, <{n} x i32> <{mask}>",
              f"  %rb{u}_{lane} = add i64 %b, {16 * u + lane}",
              f"  %ro{u}_{lane} = mul i64 %rb{u}_{lane}, %ldo",
              f"  %rc{u}_{lane} = add i64 %ro{u}_{lane}, %col",
              f"  %rp{u}_{lane} = getelementptr float, ptr %out, i64 %rc{u}_{lane}",
              f"  store <{n} x float> %r{u}_{lane}, ptr %rp{u}_{lane}, align 4"]
    return s


def _ir_narrow() -> str:
    """``lutn(nb, ng, njb, idx, tab, out, ldo, scale)`` for a narrow matrix: each int32 table
    entry holds two columns' entries (column ``c`` in bits 0-15, column ``JN + c`` in bits
    16-31 of a block of ``2J`` columns), so one ``vpermd`` looks up two columns; the packed
    sums run over chunks of :data:`CHUNK_G` groups (a half never exceeds 16 bits), then are
    split into two int32 sums per column pair."""
    perm = "@llvm.x86.avx512.permvar.si.512"
    blk = [(u, c) for u in range(VB) for c in range(JN)]
    wide = [(u, c, h) for u in range(VB) for c in range(JN) for h in range(2)]
    s = [f"declare <16 x i32> {perm}(<16 x i32>, <16 x i32>)",
         "define void @lutn(i64 %nb, i64 %ng, i64 %njb, ptr noalias %idx, ptr noalias %tab, "
         "ptr noalias %out, i64 %ldo, double %scale) {", "entry:",
         "  %sci = insertelement <16 x double> poison, double %scale, i64 0",
         "  %scv = shufflevector <16 x double> %sci, <16 x double> poison, "
         "<16 x i32> zeroinitializer",
         "  %mi = insertelement <16 x i32> poison, i32 65535, i64 0",
         "  %mask = shufflevector <16 x i32> %mi, <16 x i32> poison, <16 x i32> zeroinitializer",
         "  %shi = insertelement <16 x i32> poison, i32 16, i64 0",
         "  %sh = shufflevector <16 x i32> %shi, <16 x i32> poison, <16 x i32> zeroinitializer",
         f"  %gstride = mul i64 %ng, {JN * 64}", "  br label %jl",
         "jl:", "  %jb = phi i64 [0, %entry], [%jbn, %bdone]",
         "  %to = mul i64 %jb, %gstride", "  %tj = getelementptr i8, ptr %tab, i64 %to",
         f"  %col = mul i64 %jb, {2 * JN}", "  br label %bl",
         "bl:", "  %b = phi i64 [0, %jl], [%bn, %cdone]", "  br label %cl",
         "cl:", "  %g0 = phi i64 [0, %bl], [%g1, %gdone]"]
    s += [f"  %w{u}_{c}_{h} = phi <16 x i32> [zeroinitializer, %bl], [%x{u}_{c}_{h}, %gdone]"
          for u, c, h in wide]
    s += [f"  %g1a = add i64 %g0, {CHUNK_G}", "  %g1lt = icmp ult i64 %g1a, %ng",
          "  %g1 = select i1 %g1lt, i64 %g1a, i64 %ng", "  br label %gl",
          "gl:", "  %g = phi i64 [%g0, %cl], [%gn, %gl]"]
    s += [f"  %s{u}_{c} = phi <16 x i32> [zeroinitializer, %cl], [%n{u}_{c}, %gl]"
          for u, c in blk]
    s += _group_lookup(JN, perm)
    s += ["  %gn = add i64 %g, 1", "  %gmore = icmp ult i64 %gn, %g1",
          "  br i1 %gmore, label %gl, label %gdone", "gdone:"]
    for u, c in blk:
        s += [f"  %lo{u}_{c} = and <16 x i32> %n{u}_{c}, %mask",
              f"  %hi{u}_{c} = lshr <16 x i32> %n{u}_{c}, %sh",
              f"  %x{u}_{c}_0 = add <16 x i32> %w{u}_{c}_0, %lo{u}_{c}",
              f"  %x{u}_{c}_1 = add <16 x i32> %w{u}_{c}_1, %hi{u}_{c}"]
    s += ["  %cmore = icmp ult i64 %g1, %ng", "  br i1 %cmore, label %cl, label %cdone",
          "cdone:"]
    for u, c, h in wide:
        s += [f"  %f{u}_{c}_{h} = sitofp <16 x i32> %x{u}_{c}_{h} to <16 x double>",
              f"  %y{u}_{c}_{h} = fmul <16 x double> %f{u}_{c}_{h}, %scv",
              f"  %h{u}_{c}_{h} = fptrunc <16 x double> %y{u}_{c}_{h} to <16 x float>"]
    for u in range(VB):
        s += _store_rows(u, [f"%h{u}_{c}_{h}" for h in range(2) for c in range(JN)])
    s += [f"  %bn = add i64 %b, {16 * VB}", "  %bmore = icmp ult i64 %bn, %nb",
          "  br i1 %bmore, label %bl, label %bdone",
          "bdone:", "  %jbn = add i64 %jb, 1", "  %jmore = icmp ult i64 %jbn, %njb",
          "  br i1 %jmore, label %jl, label %exit", "exit:", "  ret void", "}"]
    return "\n".join(s)
