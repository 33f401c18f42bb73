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
formed. Small merges of one pattern run batched in a Numba kernel (one rectangle per thread);
large ones on single-threaded LAPACK/BLAS, several side by side, so the result has the same
bits for any thread count.

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

__all__ = ["effective_conductance", "terminal_admittance"]

#: Assembled size [nodes] from which a merge runs on LAPACK/BLAS (one rectangle per thread)
#: instead of the batched Numba kernel.
BLAS_NODES = 160


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


def _pattern(shape: _Shape):
    """The merge of the two halves of ``shape``: positions of each half's ports in the
    assembled matrix (the ports of ``shape`` first, in its canonical order, then the shared
    ones), and the number of kept ports."""
    kind, a, b, off = _split(shape)
    ka = a.ports()
    if kind == "v":
        kb = [(t, i, j + off) for t, i, j in b.ports()]
    else:
        kb = [(t, i + off, j) for t, i, j in b.ports()]
    keep = shape.ports()
    in_b = set(kb)
    shared = [n for n in ka if n in in_b]
    assert set(ka) | set(kb) == set(keep) | set(shared) and not set(keep) & set(shared)
    where = {n: p for p, n in enumerate(keep + shared)}
    pos_a = np.array([where[n] for n in ka], dtype=np.int64)
    pos_b = np.array([where[n] for n in kb], dtype=np.int64)
    return kind, a, b, off, pos_a, pos_b, len(keep), len(keep) + len(shared)


def _merge_batch_py(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out):
    """Merge the pairs of complements ``sa[ia[t]]``, ``sb[ib[t]]`` (contiguous chunks of
    rectangles per thread): assemble, eliminate the shared ports ``n_all − 1 … n_keep`` by
    symmetric Gaussian elimination on the lower triangle, write the kept block (both
    triangles)."""
    n = ia.size
    n_chunks = min(n, 256)
    for c in prange(n_chunks):
        m = np.empty((n_all, n_all))
        row = np.empty(n_all)
        for t in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            m[:] = 0.0
            for p in range(pos_a.size):
                for q in range(pos_a.size):
                    m[pos_a[p], pos_a[q]] += sa[ia[t], p, q]
            for p in range(pos_b.size):
                for q in range(pos_b.size):
                    m[pos_b[p], pos_b[q]] += sb[ib[t], p, q]
            for e in range(n_all - 1, n_keep - 1, -1):
                inv = 1.0 / m[e, e]
                for j in range(e):
                    row[j] = m[e, j]
                for i in range(e):
                    f = row[i] * inv
                    mi = m[i]
                    for j in range(i + 1):
                        mi[j] -= f * row[j]
            for i in range(n_keep):
                for j in range(i + 1):
                    out[t, i, j] = m[i, j]
                    out[t, j, i] = m[i, j]


_merge_batch_kernel = jit(_merge_batch_py, parallel=True)


def _assemble_py(sa, sb, pos_a, pos_b, m):
    """``m`` (zeroed) += the complements ``sa``, ``sb`` at their positions."""
    for p in range(pos_a.size):
        for q in range(pos_a.size):
            m[pos_a[p], pos_a[q]] += sa[p, q]
    for p in range(pos_b.size):
        for q in range(pos_b.size):
            m[pos_b[p], pos_b[q]] += sb[p, q]


_assemble_kernel = jit(_assemble_py)


def _assemble(sa, sb, pos_a, pos_b, n_all) -> np.ndarray:
    m = np.zeros((n_all, n_all))
    if backend() == "numpy":
        m[np.ix_(pos_a, pos_a)] += sa
        m[np.ix_(pos_b, pos_b)] += sb
    else:
        _assemble_kernel(sa, sb, pos_a, pos_b, m)
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
    """One merge on LAPACK/BLAS: ``S = M_kk − WᵀW`` (symmetric)."""
    m = _assemble(sa, sb, pos_a, pos_b, n_all)
    wt = _eliminate(m, n_keep).T          # (k, e), C-ordered
    s = wt @ wt.T                         # NumPy runs Wᵀ·W as a symmetric rank-k update
    np.subtract(m[:n_keep, :n_keep], s, out=s)
    return s


def _merge_into(out, t, sa, sb, pos_a, pos_b, n_keep, n_all) -> None:
    out[t] = _merge_one(sa, sb, pos_a, pos_b, n_keep, n_all)


def _merge_root(sa, sb, pos_a, pos_b, n_keep, n_all, n_in) -> np.ndarray:
    """The last merge: only the block ``Y[in, out]`` = ``M_io − W_iᵀ W_o``."""
    m = _assemble(sa, sb, pos_a, pos_b, n_all)
    w = _eliminate(m, n_keep)
    return m[:n_in, n_in:n_keep] - w[:, :n_in].T @ w[:, n_in:]


def _run_side_by_side(tasks) -> None:
    """Run the callables ``tasks`` (large merges, largest first) on the kernel threads, each
    on single-threaded BLAS, so every rectangle's bits are independent of the thread count."""
    from concurrent.futures import ThreadPoolExecutor

    from ..kernels.parallel import n_threads

    n = min(n_threads(), len(tasks))
    if n <= 1:
        for task in tasks:
            task()
        return
    with ThreadPoolExecutor(max_workers=n) as pool:
        for f in [pool.submit(task) for task in tasks]:
            f.result()


def _merge_batch_numpy(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out):
    """NumPy reference of the batched kernel (the LAPACK merge, one rectangle at a time)."""
    for t in range(ia.size):
        out[t] = _merge_one(sa[ia[t]], sb[ib[t]], pos_a, pos_b, n_keep, n_all)


def _leaves(g: np.ndarray, g_row: float, g_col: float) -> dict:
    r"""Every cell as a 1×1 rectangle: the complement onto its ports (left, right, top,
    bottom, those present) of its row node ``u`` (half segments of ``2 g_row`` to the left
    and right ports; a whole segment to the driver in column 0) and column node ``v`` (``2
    g_col`` to the top and bottom ports; a whole segment to ground in the last row), joined
    by the cell ``g``. With port conductances ``c_p`` on inner node ``n(p)``:

    .. math:: Y_{pq} = c_p \delta_{pq} - c_p c_q (K^{-1})_{n(p) n(q)}, \quad
              K = \begin{pmatrix} d_u & -g \\ -g & d_v \end{pmatrix},

    :math:`d_u = \sum_{n(p) = u} c_p + g`, :math:`d_v = \sum_{n(p) = v} c_p + g`.
    Returns ``{shape: (corners (n, 2), complements (n, m, m))}``."""
    rows, cols = g.shape
    out = {}
    for top in (True, False):
        for right in (True, False):
            ii = np.arange(rows)[(np.arange(rows) == 0) == top]
            jj = np.arange(cols)[(np.arange(cols) == cols - 1) == right]
            if ii.size == 0 or jj.size == 0:
                continue
            ci, cj = (a.ravel() for a in np.meshgrid(ii, jj, indexing="ij"))
            gc = g[ci, cj]
            c_left = np.where(cj == 0, g_row, 2.0 * g_row)
            c_bottom = np.where(ci == rows - 1, g_col, 2.0 * g_col)
            cs, node = [c_left], [0]
            if not right:
                cs.append(np.full(ci.size, 2.0 * g_row))
                node.append(0)
            if not top:
                cs.append(np.full(ci.size, 2.0 * g_col))
                node.append(1)
            cs.append(c_bottom)
            node.append(1)
            c = np.stack(cs, axis=1)                               # (n, m)
            node = np.array(node, dtype=np.int64)
            y = np.empty((ci.size, node.size, node.size))
            (_leaf_numpy if backend() == "numpy" else _leaf_kernel)(gc, c, node, y)
            out[_Shape(1, 1, right, top)] = (np.stack([ci, cj], axis=1).astype(np.int64), y)
    return out


def _leaf_numpy(gc, c, node, y):
    """Leaf complements ``y`` (n, m, m) of cells ``gc`` (n,) with port conductances ``c``
    (n, m) on inner nodes ``node`` (m,) (0: row node, 1: column node)."""
    d = np.stack([c[:, node == 0].sum(axis=1) + gc, c[:, node == 1].sum(axis=1) + gc], axis=1)
    det = d[:, 0] * d[:, 1] - gc * gc
    kinv = np.empty((gc.size, 2, 2))
    kinv[:, 0, 0] = d[:, 1] / det
    kinv[:, 1, 1] = d[:, 0] / det
    kinv[:, 0, 1] = kinv[:, 1, 0] = gc / det
    y[:] = -c[:, :, None] * c[:, None, :] * kinv[:, node[:, None], node[None, :]]
    y[:, np.arange(node.size), np.arange(node.size)] += c


def _leaf_py(gc, c, node, y):
    """Kernel of :func:`_leaf_numpy`."""
    m = node.size
    for t in prange(gc.size):
        du = gc[t]
        dv = gc[t]
        for p in range(m):
            if node[p] == 0:
                du += c[t, p]
            else:
                dv += c[t, p]
        det = du * dv - gc[t] * gc[t]
        for p in range(m):
            for q in range(m):
                if node[p] != node[q]:
                    k = gc[t] / det
                elif node[p] == 0:
                    k = dv / det
                else:
                    k = du / det
                y[t, p, q] = -c[t, p] * c[t, q] * k
            y[t, p, p] += c[t, p]


_leaf_kernel = jit(_leaf_py, parallel=True)


def terminal_admittance(g_s: np.ndarray, r_row_ohm: float, r_col_ohm: float) -> np.ndarray:
    """Block ``Y[in, out]`` (rows, cols) [S] of the admittance matrix of the crossbar onto its
    driver and ground terminals (both wire resistances > 0)."""
    g = np.ascontiguousarray(g_s, dtype=np.float64)
    rows, cols = g.shape
    g_row, g_col = 1.0 / float(r_row_ohm), 1.0 / float(r_col_ohm)
    root = _Shape(rows, cols, True, True)
    if rows == 1 and cols == 1:
        y = _leaves(g, g_row, g_col)[root][1][0]
        return y[:1, 1:]
    # the rectangles of every level, top-down: shape -> corners (n, 2)
    levels = [{root: np.zeros((1, 2), dtype=np.int64)}]
    while True:
        nxt: dict[_Shape, list] = {}
        for shape, corners in levels[-1].items():
            if shape.h == 1 and shape.w == 1:
                continue
            kind, a, b, off = _split(shape)
            shift = np.array([0, off] if kind == "v" else [off, 0], dtype=np.int64)
            nxt.setdefault(a, []).append(corners)
            nxt.setdefault(b, []).append(corners + shift)
        if not nxt:
            break
        levels.append({k: np.concatenate(v) for k, v in nxt.items()})
    # how many rectangles of each shape the merges consume (dropped once all are)
    uses: dict[_Shape, int] = {}
    for level in levels:
        for shape, corners in level.items():
            if shape.h == 1 and shape.w == 1:
                continue
            _, a, b, _ = _split(shape)
            uses[a] = uses.get(a, 0) + len(corners)
            uses[b] = uses.get(b, 0) + len(corners)
    # per shape: a look-up corner code (i·cols + j) -> index (written where used only), the
    # stacked complements, rectangles used
    done: dict[_Shape, list] = {}

    def store(shape, corners, arr):
        codes = corners[:, 0] * cols + corners[:, 1]
        if shape in done:                          # the same shape at another level
            lut, old, used = done[shape]
            lut[codes] = old.shape[0] + np.arange(len(codes))
            done[shape] = [lut, np.concatenate([old, arr]), used]
        else:
            lut = np.empty(rows * cols, dtype=np.int64)
            lut[codes] = np.arange(len(codes))
            done[shape] = [lut, arr, 0]

    def fetch(shape, corners):
        lut, arr, _ = done[shape]
        return arr, lut[corners[:, 0] * cols + corners[:, 1]]

    for shape, (corners, y) in _leaves(g, g_row, g_col).items():
        store(shape, corners, y)
    for level in reversed(levels):
        merged, tasks = [], []
        for shape, corners in level.items():
            if shape.h == 1 and shape.w == 1:
                continue
            kind, a, b, off, pos_a, pos_b, n_keep, n_all = _pattern(shape)
            sa, ia = fetch(a, corners)
            sb, ib = fetch(b, corners + np.array([0, off] if kind == "v" else [off, 0],
                                             dtype=np.int64))
            if shape == root:
                return _merge_root(sa[ia[0]], sb[ib[0]], pos_a, pos_b, n_keep, n_all, rows)
            out = np.empty((len(corners), n_keep, n_keep))
            if backend() == "numpy":
                _merge_batch_numpy(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out)
            elif n_all >= BLAS_NODES:     # the level's large merges run side by side below
                tasks += [(n_all, functools.partial(_merge_into, out, t, sa[ia[t]], sb[ib[t]],
                                                    pos_a, pos_b, n_keep, n_all))
                          for t in range(len(corners))]
            else:
                _merge_batch_kernel(sa, ia, sb, ib, pos_a, pos_b, n_keep, n_all, out)
            merged.append((shape, a, b, corners, out))
        _run_side_by_side([task for _, task in sorted(tasks, key=lambda nt: -nt[0])])
        for shape, a, b, corners, out in merged:
            for child in (a, b):                   # consumed: drop a shape used up
                done[child][2] += len(corners)
                if done[child][2] >= uses[child]:
                    del done[child]
            store(shape, corners, out)
    raise AssertionError("the root merge returns")  # pragma: no cover


def effective_conductance(g_s: np.ndarray, r_row_ohm: float, r_col_ohm: float) -> np.ndarray:
    """``G_eff`` [S] (rows, cols) ``= −Y[in, out]`` (both resistances > 0; BLAS limited to
    one thread inside, for the same bits at any thread count)."""
    from ..kernels.parallel import blas_single_thread

    with blas_single_thread():
        return -terminal_admittance(g_s, r_row_ohm, r_col_ohm)
