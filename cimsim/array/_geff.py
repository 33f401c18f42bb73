r"""Exact ``G_eff`` of an ohmic crossbar with row and column wires, by merging Schur complements.

The network is that of :mod:`cimsim.array._mna`: row wire ``i`` is driven at column 0 through
one segment ``r_row``, column wire ``j`` is held at 0 V below its last row through one segment
``r_col``, neighbouring cells are one segment apart, and cell ``(i, j)`` (conductance
:math:`g_{ij}`) joins row node ``(i, j)`` to column node ``(i, j)``. It is linear, so with the
driver and ground terminals as the only kept nodes

.. math:: \begin{pmatrix} I_{\mathrm{in}} \\ I_{\mathrm{out}} \end{pmatrix}
          = Y \begin{pmatrix} V \\ 0 \end{pmatrix}, \qquad
          G_{\mathrm{eff}}[i, j]\,[\mathrm{S}] = -Y[\mathrm{in}_i, \mathrm{out}_j],

with :math:`Y` [S] the Schur complement of the nodal matrix onto the ``rows + cols``
terminals (the current a column delivers into its virtual ground is minus the current
injected there).

:math:`Y` is formed by nested dissection of the grid into rectangles, bottom-up. Every wire
segment between two cells is split in two halves at a *port* (its midpoint), so a rectangle
owns its cells and the half segments up to the ports on its edge, and its state is the
Schur complement of its nodes onto those ports: one per row wire on its left and right edges
and one per column wire on its top and bottom edges (none at the open right end of a row
wire or the open top end of a column wire; the driver and ground terminals are the ports of
the array's left and bottom edges, joined to the edge cells by a whole segment). A cell is
a leaf with two inner nodes, eliminated in closed form; two neighbouring rectangles share
the ports of their common edge, so they merge by adding their complements and eliminating
the shared ports (a dense Cholesky step on that block, :math:`S = M_{kk} - W^\top W`,
:math:`W = L^{-1} M_{ek}`, :math:`L L^\top = M_{ee}`). The work is that of a
nested-dissection factorisation of the grid, :math:`O((\mathrm{rows}\cdot
\mathrm{cols})^{3/2})`; at the root only the block :math:`Y[\mathrm{in}, \mathrm{out}]` is
formed. Rectangles of at most :data:`BLOCK_CELLS` cells are computed from their cells up in
one pass of a Numba kernel (one rectangle per thread, its merge tree in private scratch, no
level-by-level arrays of tiny complements); small merges of one pattern run batched in a
Numba kernel (one rectangle per thread); larger ones call LAPACK/BLAS (single-threaded) on the
blocks of the assembled matrix in place (:mod:`cimsim.kernels._blas`: Cholesky, triangular
solve, symmetric rank-k update, lower triangles only), many of one pattern in one parallel
kernel, a few side by side, and a level's few largest cut into fixed panels of kept ports
(:class:`_PanelMerge`); which path a merge takes depends on the sizes alone, so the result
has the same bits for any thread count. Driver and ground terminals are never eliminated, so
their blocks with themselves (``Y[in, in]``, ``Y[out, out]``) are never formed in the
panelled merges. On the Numba path a complement is stored as its lower triangle packed by
rows, and each level's complements go into one of two arenas (odd and even levels: a level
is read only by the level above), so a level writes into memory already touched below it.

References
----------
.. [1] A. George, "Nested dissection of a regular finite element mesh", SIAM J. Numer. Anal.
   10(2), 345-363, 1973. doi:10.1137/0710032
.. [2] I. S. Duff and J. K. Reid, "The multifrontal solution of indefinite sparse symmetric
   linear equations", ACM Trans. Math. Softw. 9(3), 302-325, 1983.
   doi:10.1145/356044.356047
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import scipy.linalg.lapack as lapack

from device_models._jit import backend, jit, prange

from ..kernels._blas import chol_lower, gemm_nt_sub, syrk_lower_sub, trsm_lower_right

__all__ = ["effective_conductance", "terminal_admittance"]

#: Assembled size [nodes] from which a merge runs on LAPACK/BLAS (one rectangle per thread)
#: instead of the batched Numba kernel.
BLAS_NODES = 160

#: Kept ports from which a LAPACK/BLAS merge is split into panels of this many ports (its
#: triangular solve and update run as several tasks side by side).
PANEL = 256

#: A level with at most this many LAPACK/BLAS merges cuts each into panels of
#: :data:`PANEL` kept ports (tasks side by side); more run one rectangle per thread.
PANEL_MERGES = 2

#: Row ranges a panelled merge's matrix is assembled in (tasks side by side).
ASSEMBLY_PARTS = 2

#: Rectangles of at most this many cells are computed from their cells up in one pass, one
#: rectangle per thread (:func:`_block_py`), with no level-by-level arrays below them
#: (32 × 16 cells: its last merge is the batched kernel's :func:`_schur_py` on the block's own
#: cache-warm scratch instead of the level arena, same bits, about 2 % less CPU at 512 × 1024
#: than 16 × 16).
BLOCK_CELLS = 512


#: Ports from which a complement is added into an assembled matrix run by run
#: (:func:`_add_runs`) rather than entry by entry.
RUN_PORTS = 64


def _is_block(shape) -> bool:
    return shape.h * shape.w <= BLOCK_CELLS


@dataclasses.dataclass(frozen=True)
class _Shape:
    """A rectangle's size and which open wire ends it touches (its port pattern)."""

    h: int
    w: int
    open_right: bool     # its right column is the array's last: row-wire ends are open
    open_top: bool       # its top row is the array's first: column-wire ends are open

    def ports(self) -> list[tuple[str, int, int]]:
        """Ports in the canonical order (local coordinates): left ``("r", i, 0)``, right
        ``("r", i, w)``, top ``("c", 0, j)``, bottom ``("c", h, j)``."""
        out = [("r", i, 0) for i in range(self.h)]
        if not self.open_right:
            out += [("r", i, self.w) for i in range(self.h)]
        if not self.open_top:
            out += [("c", 0, j) for j in range(self.w)]
        out += [("c", self.h, j) for j in range(self.w)]
        return out


def _split(shape: _Shape) -> tuple[str, _Shape, _Shape, int]:
    """Split a rectangle across its longer side: ``("v", left, right, offset)`` (a vertical
    cut, between columns) or ``("h", top, bottom, offset)``."""
    if shape.w >= shape.h:
        wa = shape.w // 2
        return ("v", _Shape(shape.h, wa, False, shape.open_top),
                _Shape(shape.h, shape.w - wa, shape.open_right, shape.open_top), wa)
    ha = shape.h // 2
    return ("h", _Shape(ha, shape.w, shape.open_right, shape.open_top),
            _Shape(shape.h - ha, shape.w, shape.open_right, False), ha)


def _port_codes(shape: _Shape, oi: int, oj: int, h: int, w: int) -> np.ndarray:
    """:meth:`_Shape.ports` of ``shape`` placed at ``(oi, oj)`` in an ``h × w`` frame, as
    integers (a row-wire port ``(i, j)``: ``i (w + 1) + j``; a column-wire port ``(i, j)``:
    ``h (w + 1) + i w + j``), in the canonical order."""
    rows = np.arange(oi, oi + shape.h, dtype=np.int64) * (w + 1)
    cols = np.arange(oj, oj + shape.w, dtype=np.int64) + h * (w + 1)
    parts = [rows + oj]
    if not shape.open_right:
        parts.append(rows + oj + shape.w)
    if not shape.open_top:
        parts.append(cols + oi * w)
    parts.append(cols + (oi + shape.h) * w)
    return np.concatenate(parts)


@functools.lru_cache(maxsize=1024)
def _pattern(shape: _Shape):
    """The merge of the two halves of ``shape``: positions of each half's ports in the
    assembled matrix (the ports of ``shape`` first, in its canonical order, then the shared
    ones), and the number of kept ports. (Ports as integer codes, :func:`_port_codes`: the
    root's 2,048 ports took 10 ms as tuples in sets and dicts, on one thread.)"""
    kind, a, b, off = _split(shape)
    h, w = shape.h, shape.w
    ka = _port_codes(a, 0, 0, h, w)
    kb = _port_codes(b, 0, off, h, w) if kind == "v" else _port_codes(b, off, 0, h, w)
    keep = _port_codes(shape, 0, 0, h, w)
    shared = ka[np.isin(ka, kb)]
    every = np.concatenate([keep, shared])
    order = np.argsort(every, kind="stable")
    code = every[order]
    assert np.array_equal(code, np.union1d(ka, kb)), "halves do not tile the rectangle"
    pos_a = order[np.searchsorted(code, ka)]
    pos_b = order[np.searchsorted(code, kb)]
    return kind, a, b, off, pos_a, pos_b, keep.size, every.size


def _schur_py(m, n_keep, n_all, w):
    r"""In place, the lower triangle of ``m[:n_keep, :n_keep]`` becomes the complement
    :math:`S = M_{kk} - W^\top W`, :math:`W = L^{-1} M_{sk}`, :math:`L L^\top = M_{ss}`, of
    the symmetric ``m[:n_all, :n_all]`` (lower triangle read) onto its first ``n_keep``
    indices (``w``: scratch of at least ``(n_all - n_keep, n_keep)``). The update runs one
    kept row at a time, so that row stays in cache for every eliminated index."""
    e = n_all - n_keep
    for p in range(e):                    # Cholesky of M_ss in place (lower triangle)
        a = n_keep + p
        for q in range(p):
            b = n_keep + q
            acc = m[a, b]
            for r in range(q):
                acc -= m[a, n_keep + r] * m[b, n_keep + r]
            m[a, b] = acc / m[b, b]
        acc = m[a, a]
        for r in range(p):
            acc -= m[a, n_keep + r] * m[a, n_keep + r]
        m[a, a] = np.sqrt(acc)
    for p in range(e):                    # W = L⁻¹ M_sk, row by row
        a = n_keep + p
        for j in range(n_keep):
            w[p, j] = m[a, j]
        for q in range(p):
            lv = m[a, n_keep + q]
            for j in range(n_keep):
                w[p, j] -= lv * w[q, j]
        inv = 1.0 / m[a, a]
        for j in range(n_keep):
            w[p, j] *= inv
    e4 = e - e % 4                        # (no row views: each costs a reference count)
    for i in range(n_keep):               # S = M_kk − WᵀW, lower triangle, 4 p at a time
        for p in range(0, e4, 4):
            f0, f1, f2, f3 = w[p, i], w[p + 1, i], w[p + 2, i], w[p + 3, i]
            for j in range(i + 1):
                m[i, j] -= (f0 * w[p, j] + f1 * w[p + 1, j]) + (f2 * w[p + 2, j]
                                                                 + f3 * w[p + 3, j])
        for p in range(e4, e):
            f = w[p, i]
            for j in range(i + 1):
                m[i, j] -= f * w[p, j]


_schur_kernel = jit(_schur_py)


@jit(inline="always")
def _run_starts(pos):
    """Starts of the runs of consecutive positions in ``pos`` (local indices), followed by
    ``pos.size``: an array of ``n_runs + 1`` (its unused tail is not read) and ``n_runs``."""
    n = pos.size
    rs = np.empty(n + 1, dtype=np.int64)
    nr = 0
    for p in range(n):
        if p == 0 or pos[p] != pos[p - 1] + 1:
            rs[nr] = p
            nr += 1
    rs[nr] = n
    return rs, nr


@jit(inline="always")
def _add_runs(m, s, pos, r0, r1):
    """Add the symmetric block ``s``, its lower triangle packed by rows (:func:`_packed`),
    into rows ``r0:r1`` of the lower triangle of ``m`` at the positions ``pos``. The
    positions come in runs of consecutive indices, so row ``p``'s part in a run lands in one
    contiguous piece of a row of ``m`` (a vector add) where it lies left of the diagonal,
    else in a piece of a column. Each entry of ``m`` receives at most one entry of ``s``: the
    order (and a split into row ranges) changes no bits."""
    rs, nr = _run_starts(pos)
    for rp in range(nr):
        for p in range(rs[rp], rs[rp + 1]):
            ip = pos[p]
            o = p * (p + 1) // 2
            row = r0 <= ip < r1
            for rq in range(rp + 1):
                q0 = rs[rq]
                q1 = rs[rq + 1] if rq < rp else p + 1
                g0 = pos[q0] - q0                 # position of q is g0 + q in this run
                split = min(max(ip + 1 - g0, q0), q1)
                if row:
                    for q in range(q0, split):    # left of the diagonal: along row ip
                        m[ip, g0 + q] += s[o + q]
                for q in range(max(split, r0 - g0), min(q1, r1 - g0)):
                    m[g0 + q, ip] += s[o + q]     # right of it: down column ip


@jit(inline="always")
def _add_packed(m, s, pos):
    """Add the symmetric block ``s``, its lower triangle packed by rows (:func:`_packed`),
    into the lower triangle of ``m`` at the positions ``pos`` (:func:`_add_runs` from
    :data:`RUN_PORTS` ports, where its vector adds pay for finding the runs)."""
    n = pos.size
    if n >= RUN_PORTS:
        _add_runs(m, s, pos, 0, m.shape[0])
        return
    o = 0
    for p in range(n):
        ip = pos[p]
        for q in range(p + 1):
            iq = pos[q]
            if ip >= iq:
                m[ip, iq] += s[o]
            else:
                m[iq, ip] += s[o]
            o += 1


@jit(inline="always")
def _to_packed(m, n, out):
    """The lower triangle of ``m[:n, :n]``, packed by rows, into ``out``."""
    o = 0
    for i in range(n):
        for j in range(i + 1):
            out[o] = m[i, j]
            o += 1


@jit(inline="always")
def _ld(n):
    """Row stride [entries] of an assembled ``n × n`` matrix: ``n`` rounded up to whole
    64-byte lines plus, if needed, one line, so a row spans an odd number of lines. With a
    power-of-two stride (n = 512, 1024, 2048 ...) the rows of a column all fall into the same
    few cache sets, and walking down a column (a block added below the diagonal, BLAS on
    blocks) misses the cache at every row."""
    ld = (n + 7) // 8 * 8
    if (ld // 8) % 2 == 0:
        ld += 8
    return ld


def _packed(k: int) -> int:
    """Entries of a symmetric ``k × k`` complement stored on the Numba path: its lower
    triangle packed by rows, ``(i, j)`` (``j <= i``) at ``i (i + 1) / 2 + j``."""
    return k * (k + 1) // 2


def _merge_batch_py(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out):
    """Merge the pairs of complements ``sa[ia[t]]``, ``sb[ib[t]]`` (packed, :func:`_packed`;
    contiguous chunks of rectangles per thread): assemble, eliminate the shared ports
    ``n_keep … n_all − 1`` (:func:`_schur_py`), write the kept block packed."""
    n = ia.size
    n_chunks = min(n, 256)
    for c in prange(n_chunks):
        m = np.empty((n_all, _ld(n_all)))
        w = np.empty((n_all - n_keep, n_keep))
        for t in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _assemble_lower_kernel(sa[ia[t]], sb[ib[t]], pos_a, pos_b, m)
            _schur_kernel(m, n_keep, n_all, w)
            _to_packed(m, n_keep, out[t])


_merge_batch_kernel = jit(_merge_batch_py, parallel=True)


@jit(inline="always")
def _zero_lower(m):
    for i in range(m.shape[0]):
        for j in range(i + 1):
            m[i, j] = 0.0


def _assemble_lower_py(sa, sb, pos_a, pos_b, m):
    """The lower triangle of ``m`` := the packed complements ``sa``, ``sb`` added at their
    positions (the upper triangle is not touched)."""
    _zero_lower(m)
    _add_packed(m, sa, pos_a)
    _add_packed(m, sb, pos_b)


_assemble_lower_kernel = jit(_assemble_lower_py)


def _assemble_rows_py(sa, sb, pos_a, pos_b, m, r0, r1):
    """Rows ``r0:r1`` of :func:`_assemble_lower_py` (run by run, :func:`_add_runs`): the
    row ranges of one matrix can be assembled side by side, with the same bits."""
    for i in range(r0, r1):
        for j in range(i + 1):
            m[i, j] = 0.0
    _add_runs(m, sa, pos_a, r0, r1)
    _add_runs(m, sb, pos_b, r0, r1)


_assemble_rows_kernel = jit(_assemble_rows_py)


def _assemble(sa, sb, pos_a, pos_b, n_all) -> np.ndarray:
    """NumPy reference assembly: ``M`` (n_all, n_all) with both complements (both
    triangles) added at their positions."""
    m = np.zeros((n_all, n_all))
    m[np.ix_(pos_a, pos_a)] += sa
    m[np.ix_(pos_b, pos_b)] += sb
    return m


def _eliminate(m: np.ndarray, n_keep: int) -> np.ndarray:
    """``W = L⁻¹ M_ek`` (e, k), F-ordered, with ``L Lᵀ = M_ee`` (LAPACK)."""
    # m is symmetric: the transpose of a C-ordered block is the F-ordered block itself
    low, info = lapack.dpotrf(np.ascontiguousarray(m[n_keep:, n_keep:]).T, lower=1, clean=1,
                              overwrite_a=1)
    if info != 0:                   # pragma: no cover - an SPD network matrix
        raise RuntimeError(f"dpotrf failed ({info}) on a symmetric positive definite block")
    w, info = lapack.dtrtrs(low, np.ascontiguousarray(m[:n_keep, n_keep:]).T, lower=1,
                            overwrite_b=1)
    if info != 0:                   # pragma: no cover
        raise RuntimeError(f"dtrtrs failed ({info})")
    return w


def _merge_one(sa, sb, pos_a, pos_b, n_keep, n_all) -> np.ndarray:
    """NumPy reference of one merge on LAPACK/BLAS: ``S = M_kk − WᵀW`` (symmetric)."""
    m = _assemble(sa, sb, pos_a, pos_b, n_all)
    wt = _eliminate(m, n_keep).T          # (k, e), C-ordered
    s = wt @ wt.T                         # NumPy runs Wᵀ·W as a symmetric rank-k update
    np.subtract(m[:n_keep, :n_keep], s, out=s)
    return s


@jit(inline="always")
def _eliminate_in_place(m, n_keep, e):
    r"""In place on the lower triangle of ``m`` (n_all, n_all): Cholesky ``L Lᵀ = M_ee`` of
    the shared block, ``W = L⁻¹ M_ek`` over ``M_ek``, ``M_kk −= WᵀW`` (LAPACK/BLAS on the
    blocks, :mod:`cimsim.kernels._blas`). A failed Cholesky (never for the SPD network
    matrix) leaves NaN."""
    if chol_lower(m, n_keep, e) != 0:     # pragma: no cover
        m[:, :] = np.nan
        return
    trsm_lower_right(m, n_keep, e, 0, n_keep)
    syrk_lower_sub(m, n_keep, e, 0, n_keep, n_keep)


def _merge_in_py(sa, sb, pos_a, pos_b, n_keep, n_all, buf, out):
    """One merge on single-threaded BLAS in place, in the scratch ``buf`` (flat, at least
    ``n_all²``): assemble the packed complements, eliminate (:func:`_eliminate_in_place`),
    the kept block packed into ``out``."""
    ld = _ld(n_all)                                     # the upper triangle is never read
    m = buf[:n_all * ld].reshape((n_all, ld))
    _assemble_lower_kernel(sa, sb, pos_a, pos_b, m)
    _eliminate_in_place(m, n_keep, n_all - n_keep)
    _to_packed(m, n_keep, out)


_merge_in_kernel = jit(_merge_in_py)


def _merge_blas_py(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, n_chunks, out):
    """The merges of :func:`_merge_batch_py` on BLAS (:func:`_merge_in_py`), contiguous
    chunks of rectangles per thread, one scratch matrix per chunk."""
    n = ia.size
    n_chunks = min(n, n_chunks)
    for c in prange(n_chunks):
        buf = np.empty(n_all * _ld(n_all))
        for t in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            _merge_in_kernel(sa[ia[t]], sb[ib[t]], pos_a, pos_b, n_keep, n_all, buf, out[t])


_merge_blas_kernel = jit(_merge_blas_py, parallel=True)


class _Buffers:
    """Flat float64 scratch matrices of ``size`` elements, reused by the merges of one
    ``G_eff`` (a fresh large array costs a page fault per 4 KiB on first touch)."""

    def __init__(self, size: int):
        import threading

        self.size, self.free, self.lock = size, [], threading.Lock()

    def get(self) -> np.ndarray:
        from ..kernels.parallel import fresh_scratch

        with self.lock:
            return self.free.pop() if self.free else fresh_scratch(self.size)

    def put(self, buf: np.ndarray) -> None:
        with self.lock:
            self.free.append(buf)


def _merge_task(bufs: _Buffers, sa, sb, pos_a, pos_b, n_keep, n_all, out) -> None:
    buf = bufs.get()
    try:
        _merge_in_kernel(sa, sb, pos_a, pos_b, n_keep, n_all, buf, out)
    finally:
        bufs.put(buf)


def _rows_to_packed_py(m, r0, r1, c1, out):
    """Rows ``r0:r1`` of the lower triangle of ``m`` into the packed ``out``: columns below
    ``c1`` copied, the rest (a terminal block with itself, never read) zero."""
    for i in range(r0, r1):
        o = i * (i + 1) // 2
        for j in range(i + 1):
            out[o + j] = m[i, j] if j < c1 else 0.0


_rows_to_packed_kernel = jit(_rows_to_packed_py)


class _PanelMerge:
    """One large merge in three phases, each a list of tasks for :func:`_run_side_by_side`,
    in place on one assembled matrix (lower triangle, :mod:`cimsim.kernels._blas`):
    :meth:`assemble` (in :data:`ASSEMBLY_PARTS` row ranges, the last also the Cholesky
    ``L Lᵀ = M_ee``), :meth:`solve` (``W = L⁻¹ M_ek``,
    one panel of :data:`PANEL` kept ports per task) and :meth:`update` (``S = M_kk − WᵀW``
    one row panel per task, copied to ``out``, packed by rows). The panels are fixed by the
    sizes alone, so the bits do not depend on the thread count. ``terminal`` lists the kept-port
    ranges that are driver or ground terminals: their blocks with themselves are never read
    again (a terminal is never eliminated; the root keeps only ``Y[in, out]``) and are left at
    zero. With ``n_in`` set it is the root merge and forms only ``Y[in, out]`` (``in`` = the
    first ``n_in`` kept ports) into ``out`` (n_in, n_keep − n_in)."""

    def __init__(self, bufs, out, sa, sb, pos_a, pos_b, n_keep, n_all, terminal=(),
                 n_in=None):
        self.bufs, self.buf = bufs, None
        self.out, self.sa, self.sb = out, sa, sb
        self.pos_a, self.pos_b, self.n_keep, self.n_all = pos_a, pos_b, n_keep, n_all
        self.terminal, self.n_in = terminal, n_in
        self.m = None
        k = n_keep
        self.col_panels = [(r, min(r + PANEL, k)) for r in range(0, k, PANEL)]
        if n_in is not None:      # root: panels of output ports
            self.row_panels = [(r, min(r + PANEL, k), 0, n_in) for r in range(n_in, k, PANEL)]
            return
        # row panels inside each block of ports; a terminal block skips its own columns
        bounds = sorted({0, k} | {b for rng in terminal for b in rng})
        self.row_panels = []
        for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
            term = (b0, b1) in terminal
            for r in range(b0, b1, PANEL):
                r1 = min(r + PANEL, b1)
                self.row_panels.append((r, r1, 0, b0 if term else r1))

    def take(self) -> None:
        """The scratch matrix (row stride :func:`_ld`; the upper triangle is never read)."""
        self.buf = self.bufs.get()
        ld = _ld(self.n_all)
        self.m = self.buf[:self.n_all * ld].reshape(self.n_all, ld)

    def row_parts(self) -> list[tuple[int, int]]:
        """:data:`ASSEMBLY_PARTS` row ranges of the assembled matrix with lower triangles of
        about equal size (sizes alone decide), the last holding all the shared ports."""
        n, parts = self.n_all, ASSEMBLY_PARTS
        cuts = [min(int(round(n * np.sqrt(i / parts))), self.n_keep) for i in range(parts)]
        return list(zip(cuts, cuts[1:] + [n], strict=True))

    def assemble(self, r0: int, r1: int) -> None:
        """Rows ``r0:r1`` of the assembled matrix; the part holding the last row then
        factors the shared block (its rows are all in that part): ``L Lᵀ = M_ee``."""
        _assemble_rows_kernel(self.sa, self.sb, self.pos_a, self.pos_b, self.m, r0, r1)
        if r1 == self.n_all:
            info = chol_lower(self.m, self.n_keep, self.n_all - self.n_keep)
            if info != 0:           # pragma: no cover - an SPD network matrix
                raise RuntimeError(f"dpotrf failed ({info}) on a symmetric positive "
                                   "definite block")

    def solve(self, c0: int, c1: int) -> None:
        trsm_lower_right(self.m, self.n_keep, self.n_all - self.n_keep, c0, c1)

    def update(self, r0: int, r1: int, c0: int, c1: int) -> None:
        m, out, k, e = self.m, self.out, self.n_keep, self.n_all - self.n_keep
        if self.n_in is not None:                 # root: Y[in, out] for outputs r0:r1
            gemm_nt_sub(m, k, e, c0, c1, r0, r1)
            out[:, r0 - c1:r1 - c1] = m[r0:r1, c0:c1].T
            return
        syrk_lower_sub(m, k, e, r0, r1, c1)
        _rows_to_packed_kernel(m, r0, r1, c1, out)

    def release(self) -> None:
        self.m = None
        if self.buf is not None:
            self.bufs.put(self.buf)
            self.buf = None


def _run_panel_merges(merges) -> None:
    """The three phases of the ``merges`` (:class:`_PanelMerge`), each phase's tasks side by
    side."""
    for mg in merges:
        mg.take()
    _run_side_by_side([functools.partial(mg.assemble, r0, r1)
                       for mg in merges for r0, r1 in mg.row_parts()])
    for mg in merges:
        mg.sa = mg.sb = None
    _run_side_by_side([functools.partial(mg.solve, c0, c1)
                       for mg in merges for c0, c1 in mg.col_panels])
    _run_side_by_side([functools.partial(mg.update, *p) for mg in merges for p in mg.row_panels])
    for mg in merges:
        mg.release()


def _merge_root(sa, sb, pos_a, pos_b, n_keep, n_all, n_in) -> np.ndarray:
    """The last merge: only the block ``Y[in, out]`` = ``M_io − W_iᵀ W_o``."""
    m = _assemble(sa, sb, pos_a, pos_b, n_all)
    w = _eliminate(m, n_keep)
    return m[:n_in, n_in:n_keep] - w[:, :n_in].T @ w[:, n_in:]


def _run_side_by_side(tasks) -> None:
    """Run the callables ``tasks`` (large merges, largest first) on the kernel threads, each
    on single-threaded BLAS, so every rectangle's bits are independent of the thread count."""
    from ..kernels.parallel import side_by_side

    side_by_side(tasks)


def _merge_batch_numpy(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out):
    """NumPy reference of the batched kernel (the LAPACK merge, one rectangle at a time)."""
    for t in range(ia.size):
        out[t] = _merge_one(sa[ia[t]], sb[ib[t]], pos_a, pos_b, n_keep, n_all)


def _leaf_ports(shape: _Shape) -> np.ndarray:
    """Inner node of each port of a 1×1 rectangle, in canonical order (0: the row node, 1:
    the column node): left, right (unless open), top (unless open), bottom."""
    node = [0] + ([] if shape.open_right else [0]) + ([] if shape.open_top else [1]) + [1]
    return np.array(node, dtype=np.int64)


@functools.lru_cache(maxsize=64)
def _block_program(shape: _Shape):
    """The whole merge tree of ``shape`` down to its cells, flattened for
    :func:`_block_py`: every cell (local row, column, first port's slot, port nodes) and
    every merge in post-order (slots of the two halves and of the result, positions of each
    half's ports, kept and assembled sizes). A slot is an offset into one scratch buffer
    holding each complement as a dense (n, n) block; the last merge's slot is the result."""
    leaves, merges, size = [], [], [0]

    def alloc(n):
        size[0] += n * n
        return size[0] - n * n

    def walk(sh, oi, oj):
        if sh.h == 1 and sh.w == 1:
            node = _leaf_ports(sh)
            slot = alloc(node.size)
            leaves.append((oi, oj, slot, node))
            return slot
        kind, a, b, off, pos_a, pos_b, n_keep, n_all = _pattern(sh)
        sa = walk(a, oi, oj)
        sb = walk(b, oi, oj + off) if kind == "v" else walk(b, oi + off, oj)
        slot = alloc(n_keep)
        merges.append((sa, sb, slot, pos_a, pos_b, n_keep, n_all))
        return slot

    walk(shape, 0, 0)
    leaf_ij = np.array([[i, j] for i, j, _, _ in leaves], dtype=np.int64).reshape(-1, 2)
    leaf_slot = np.array([s for _, _, s, _ in leaves], dtype=np.int64)
    leaf_node = np.full((len(leaves), 4), -1, dtype=np.int64)
    for t, (_, _, _, node) in enumerate(leaves):
        leaf_node[t, :node.size] = node
    n_m = len(merges)
    mg = np.zeros((n_m, 7), dtype=np.int64)     # slot a, slot b, slot out, pos offset a, b
    pos = []                                    # (offset b + len b), n_keep, n_all
    at = 0
    for k, (sa, sb, so, pa, pb, n_keep, n_all) in enumerate(merges):
        mg[k] = (sa, sb, so, at, at + pa.size, n_keep, n_all)
        pos += [pa, pb]
        at += pa.size + pb.size
    pos_all = np.concatenate(pos) if pos else np.zeros(0, dtype=np.int64)
    pos_end = np.append(mg[1:, 3], at) if n_m else np.zeros(0, dtype=np.int64)
    n_max = int(mg[:, 6].max()) if n_m else 1
    return leaf_ij, leaf_slot, leaf_node, mg, pos_all, pos_end, size[0], n_max


@jit(inline="always")
def _add_lower(m, buf, s0, n, pos_all, o0):
    """Add the lower triangle of the symmetric ``n × n`` block at ``buf[s0:]`` (row-major) into
    the lower triangle of ``m`` at the positions ``pos_all[o0:o0 + n]``."""
    for p in range(n):
        ip = pos_all[o0 + p]
        for q in range(p + 1):
            iq = pos_all[o0 + q]
            if ip >= iq:
                m[ip, iq] += buf[s0 + p * n + q]
            else:
                m[iq, ip] += buf[s0 + p * n + q]


def _block_py(g, g_row, g_col, corners, leaf_ij, leaf_slot, leaf_node, mg, pos_all, pos_end,
              n_scratch, n_max, out):
    r"""Complements ``out`` (n, k, k) of the rectangles at ``corners`` (n, 2), all of one
    shape, each computed from its cells up in one pass (one rectangle per thread, its whole
    merge tree in a private scratch buffer): the cells' closed-form complements
    (:func:`_leaf_numpy`), then the merges of the flattened tree (:func:`_block_program`) by
    elimination of the shared ports (:func:`_schur_py`)."""
    rows = g.shape[0]
    n = corners.shape[0]
    n_leaf = leaf_ij.shape[0]
    n_merge = mg.shape[0]
    for t in prange(n):
        buf = np.empty(n_scratch)
        m = np.empty((n_max, n_max))
        w = np.empty((n_max, n_max))
        c = np.empty(4)
        for lf in range(n_leaf):
            gi = corners[t, 0] + leaf_ij[lf, 0]
            gj = corners[t, 1] + leaf_ij[lf, 1]
            gc = g[gi, gj]
            n_p = 0
            du = gc
            dv = gc
            for p in range(4):
                nd = leaf_node[lf, p]
                if nd < 0:
                    break
                if nd == 0:          # left (a whole segment to the driver) or right
                    c[p] = g_row if (p == 0 and gj == 0) else 2.0 * g_row
                    du += c[p]
                else:                # top or bottom (a whole segment to ground)
                    last = p + 1 == 4 or leaf_node[lf, p + 1] < 0
                    c[p] = g_col if (last and gi == rows - 1) else 2.0 * g_col
                    dv += c[p]
                n_p += 1
            det = du * dv - gc * gc
            s0 = leaf_slot[lf]
            for p in range(n_p):
                for q in range(n_p):
                    np_, nq = leaf_node[lf, p], leaf_node[lf, q]
                    if np_ != nq:
                        k = gc / det
                    elif np_ == 0:
                        k = dv / det
                    else:
                        k = du / det
                    buf[s0 + p * n_p + q] = -c[p] * c[q] * k
                buf[s0 + p * n_p + p] += c[p]
        for km in range(n_merge):
            sa, sb, so = mg[km, 0], mg[km, 1], mg[km, 2]
            oa, ob = mg[km, 3], mg[km, 4]
            n_keep, n_all = mg[km, 5], mg[km, 6]
            na = ob - oa
            nb = pos_end[km] - ob
            for i in range(n_all):        # lower triangles only (all are symmetric)
                for j in range(i + 1):
                    m[i, j] = 0.0
            _add_lower(m, buf, sa, na, pos_all, oa)
            _add_lower(m, buf, sb, nb, pos_all, ob)
            _schur_kernel(m, n_keep, n_all, w)
            if km == n_merge - 1:
                _to_packed(m, n_keep, out[t])
            else:
                for i in range(n_keep):
                    for j in range(i + 1):
                        buf[so + i * n_keep + j] = m[i, j]
        if n_merge == 0:                 # a single cell
            n_p = 0
            for p in range(4):
                if leaf_node[0, p] >= 0:
                    n_p += 1
            o = 0
            for i in range(n_p):
                for j in range(i + 1):
                    out[t, o] = buf[i * n_p + j]
                    o += 1


_block_kernel = jit(_block_py, parallel=True)


def _blocks(g: np.ndarray, g_row: float, g_col: float, shape: _Shape,
            corners: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Complements (n, k, k) of the rectangles of ``shape`` at ``corners``: the fused kernel
    (:func:`_block_py`), or with the NumPy backend the cells' complements merged level by
    level (:func:`_leaf_numpy`, :func:`_merge_one`). Given ``out``, into it: packed (n,
    k (k + 1) / 2) on the Numba path (:func:`_packed`), (n, k, k) on the NumPy path."""
    k = len(shape.ports())
    if backend() != "numpy":
        packed = np.empty((len(corners), _packed(k))) if out is None else out
        _block_kernel(g, g_row, g_col, corners, *_block_program(shape), packed)
        if out is not None:
            return out
        full = np.zeros((len(corners), k, k))
        ii, jj = np.tril_indices(k)
        full[:, ii, jj] = packed
        return full + np.tril(full, -1).transpose(0, 2, 1)
    if out is None:
        out = np.empty((len(corners), k, k))
    for t, (ci, cj) in enumerate(corners):
        out[t] = _block_numpy(g, g_row, g_col, shape, int(ci), int(cj))
    return out


def _block_numpy(g, g_row, g_col, shape, ci, cj) -> np.ndarray:
    """Reference of one rectangle's complement: recursive halves, cells by
    :func:`_leaf_numpy`, merges on LAPACK (:func:`_merge_one`)."""
    if shape.h == 1 and shape.w == 1:
        node = _leaf_ports(shape)
        rows = g.shape[0]
        c = np.where(node == 0, 2.0 * g_row, 2.0 * g_col)
        if cj == 0:
            c[0] = g_row
        if ci == rows - 1:
            c[-1] = g_col
        y = np.empty((1, node.size, node.size))
        _leaf_numpy(np.array([g[ci, cj]]), c[None, :], node, y)
        return y[0]
    kind, a, b, off, pos_a, pos_b, n_keep, n_all = _pattern(shape)
    sa = _block_numpy(g, g_row, g_col, a, ci, cj)
    sb = (_block_numpy(g, g_row, g_col, b, ci, cj + off) if kind == "v"
          else _block_numpy(g, g_row, g_col, b, ci + off, cj))
    return _merge_one(sa, sb, pos_a, pos_b, n_keep, n_all)


def _leaf_numpy(gc, c, node, y):
    r"""Complements ``y`` (n, m, m) of single cells ``gc`` (n,) [S] onto their ports: the
    row node ``u`` joins the left and right ports (half segments of ``2 g_row``; a whole
    segment ``g_row`` to the driver in column 0), the column node ``v`` the top and bottom
    ports (``2 g_col``; ``g_col`` to ground in the last row), the cell joins ``u`` and ``v``.
    With port conductances ``c_p`` (n, m) on inner nodes ``node`` (m,) (0: ``u``, 1: ``v``):

    .. math:: Y_{pq} = c_p \delta_{pq} - c_p c_q (K^{-1})_{n(p) n(q)}, \quad
              K = \begin{pmatrix} d_u & -g \\ -g & d_v \end{pmatrix},

    :math:`d_u = \sum_{n(p) = u} c_p + g`, :math:`d_v = \sum_{n(p) = v} c_p + g`."""
    d = np.stack([c[:, node == 0].sum(axis=1) + gc, c[:, node == 1].sum(axis=1) + gc], axis=1)
    det = d[:, 0] * d[:, 1] - gc * gc
    kinv = np.empty((gc.size, 2, 2))
    kinv[:, 0, 0] = d[:, 1] / det
    kinv[:, 1, 1] = d[:, 0] / det
    kinv[:, 0, 1] = kinv[:, 1, 0] = gc / det
    y[:] = -c[:, :, None] * c[:, None, :] * kinv[:, node[:, None], node[None, :]]
    y[:, np.arange(node.size), np.arange(node.size)] += c


def terminal_admittance(g_s: np.ndarray, r_row_ohm: float, r_col_ohm: float) -> np.ndarray:
    """Block ``Y[in, out]`` (rows, cols) [S] of the admittance matrix of the crossbar onto its
    driver and ground terminals (both wire resistances > 0)."""
    from ..kernels.parallel import fresh_scratch, n_threads

    g = np.ascontiguousarray(g_s, dtype=np.float64)
    rows, cols = g.shape
    g_row, g_col = 1.0 / float(r_row_ohm), 1.0 / float(r_col_ohm)
    root = _Shape(rows, cols, True, True)
    if _is_block(root):
        y = _blocks(g, g_row, g_col, root, np.zeros((1, 2), dtype=np.int64))[0]
        return y[:rows, rows:]
    # the rectangles of every level, top-down: shape -> corners (n, 2)
    levels = [{root: np.zeros((1, 2), dtype=np.int64)}]
    while True:
        nxt: dict[_Shape, list] = {}
        for shape, corners in levels[-1].items():
            if _is_block(shape):
                continue
            kind, a, b, off = _split(shape)
            shift = np.array([0, off] if kind == "v" else [off, 0], dtype=np.int64)
            nxt.setdefault(a, []).append(corners)
            nxt.setdefault(b, []).append(corners + shift)
        if not nxt:
            break
        levels.append({k: np.concatenate(v) for k, v in nxt.items()})
    # per (shape, depth): the sorted corner codes (i·cols + j), the index of each, and the
    # stacked complements (a table over all rows·cols codes cost a fresh 8 bytes per cell for
    # every shape and depth); the rectangles of a depth are all consumed by the merges of the
    # depth above
    done: dict[tuple[_Shape, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def store(shape, depth, corners, arr):
        code = corners[:, 0] * cols + corners[:, 1]
        order = np.argsort(code)
        done[shape, depth] = (code[order], order, arr)

    def fetch(shape, depth, corners):
        code, order, arr = done[shape, depth]
        return arr, order[np.searchsorted(code, corners[:, 0] * cols + corners[:, 1])]

    numpy = backend() == "numpy"
    n_big = max(_pattern(shape)[7] for level in levels for shape in level
                if not _is_block(shape))
    bufs = _Buffers(n_big * _ld(n_big))
    # the complements of a level (merged, or blocks from their cells) are read only by the
    # level above: two arenas, one for the odd and one for the even levels, so each level
    # writes into memory that the level below it has already touched
    def entries(k: int) -> int:       # stored entries of a k-port complement
        return k * k if numpy else _packed(k)

    sizes = [sum(len(c) * entries(len(sh.ports()) if _is_block(sh) else _pattern(sh)[6])
                 for sh, c in level.items()) for level in levels]
    arenas = [fresh_scratch(max(sizes[d::2], default=0)) for d in (0, 1)]
    for depth in range(len(levels) - 1, -1, -1):
        level, arena, used = levels[depth], arenas[depth % 2], 0
        for shape, corners in level.items():
            if _is_block(shape):
                k = len(shape.ports())
                out = arena[used:used + len(corners) * entries(k)].reshape(
                    (-1, k, k) if numpy else (-1, entries(k)))
                used += out.size
                store(shape, depth, corners, _blocks(g, g_row, g_col, shape, corners, out))
        merged, tasks, panel_merges = [], [], []
        todo = []
        for shape, corners in level.items():
            if _is_block(shape):
                continue
            kind, a, b, off, pos_a, pos_b, n_keep, n_all = _pattern(shape)
            sa, ia = fetch(a, depth + 1, corners)
            sb, ib = fetch(b, depth + 1, corners + np.array([0, off] if kind == "v"
                                                            else [off, 0], dtype=np.int64))
            todo.append((shape, corners, sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all))
        # few large merges: each cut into panels (tasks side by side); decided by the sizes
        # alone, so the bits do not depend on the thread count
        n_large = sum(len(it[1]) for it in todo if it[9] >= BLAS_NODES)
        for shape, corners, sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all in todo:
            if shape == root:
                if numpy:
                    return _merge_root(sa[ia[0]], sb[ib[0]], pos_a, pos_b, n_keep, n_all, rows)
                y = np.empty((rows, n_keep - rows))
                _run_panel_merges([_PanelMerge(bufs, y, sa[ia[0]], sb[ib[0]], pos_a, pos_b,
                                               n_keep, n_all, n_in=rows)])
                return y
            out = arena[used:used + len(corners) * entries(n_keep)].reshape(
                (-1, n_keep, n_keep) if numpy else (-1, entries(n_keep)))
            used += out.size
            if numpy:
                _merge_batch_numpy(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out)
            elif n_all < BLAS_NODES:
                _merge_batch_kernel(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out)
            elif n_large <= PANEL_MERGES:
                for t, (ci, cj) in enumerate(corners):
                    term = ([(0, shape.h)] if cj == 0 else []) + (
                        [(n_keep - shape.w, n_keep)] if ci + shape.h == rows else [])
                    panel_merges.append(_PanelMerge(bufs, out[t], sa[ia[t]], sb[ib[t]], pos_a,
                                                    pos_b, n_keep, n_all, tuple(term)))
            elif len(corners) >= 4 * n_threads():
                _merge_blas_kernel(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all,
                                   2 * n_threads(), out)
            else:                          # a few of this pattern: side by side below
                tasks += [(n_all, functools.partial(
                    _merge_task, bufs, sa[ia[t]], sb[ib[t]], pos_a, pos_b, n_keep, n_all,
                    out[t])) for t in range(len(corners))]
            merged.append((shape, corners, out))
        _run_side_by_side([task for _, task in sorted(tasks, key=lambda nt: -nt[0])])
        _run_panel_merges(panel_merges)
        for key in [key for key in done if key[1] == depth + 1]:
            del done[key]                          # consumed
        for shape, corners, out in merged:
            store(shape, depth, corners, out)
    raise AssertionError("the root merge returns")  # pragma: no cover


def effective_conductance(g_s: np.ndarray, r_row_ohm: float, r_col_ohm: float) -> np.ndarray:
    """``G_eff`` [S] (rows, cols) ``= −Y[in, out]`` (both resistances > 0; BLAS limited to
    one thread inside, for the same bits at any thread count)."""
    from ..kernels.parallel import blas_single_thread

    with blas_single_thread():
        y = terminal_admittance(g_s, r_row_ohm, r_col_ohm)
    if not y.flags.c_contiguous:          # a block's view (NumPy 2.4 negates some strided
        return -y                         # (n, 1) views in place wrongly)
    return np.negative(y, out=y)          # a fresh array: no copy of rows x cols
