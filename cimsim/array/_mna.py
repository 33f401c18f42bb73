"""Modified nodal analysis of a resistive crossbar (private engine of :mod:`cimsim.array.crossbar`).

The network (DESIGN.md contract): ``rows × cols`` cells; row wire ``i`` is driven at its
column-0 end through one segment ``r_row`` and has one segment between neighbouring cells;
column wire ``j`` is held at 0 V beyond its last row through one segment ``r_col`` and has one
segment between neighbouring cells. Cell ``(i, j)`` joins row node ``(i, j)`` to column node
``(i, j)``. Node voltages are the unknowns of Kirchhoff's current law (KCL)

.. math:: F(x) = A_w x - b(V) + P^\\top f(P x + P_V V) = 0,

with :math:`A_w` the wire conductance Laplacian (including the driver and ground segments),
:math:`b` the driver injections :math:`V_i / r_{row}` and :math:`f` the cell law. A zero wire
resistance removes that wire's nodes (they equal the driver voltage, or 0 V).

Ordering and factorisation: the unknowns of both wires are ordered by geometric nested
dissection of the ``rows × cols`` grid (a separator is one column of row-wire nodes or one row
of column-wire nodes), with the *boundary* nodes — the row nodes next to the drivers and the
column nodes next to ground — numbered last. SuperLU then factorises with that ordering and no
pivoting (the matrix is a symmetric, diagonally dominant M-matrix); the factors serve the
solves of the nonlinear methods. The transfer matrix :math:`G_{\\mathrm{eff}}` of ohmic cells
with both wires resistive comes from :mod:`cimsim.array._geff` (dense Schur complements of
rectangles merged up the same dissection, no sparse factorisation).

References
----------
.. [1] C.-W. Ho, A. E. Ruehli and P. A. Brennan, "The modified nodal approach to network
   analysis", IEEE Trans. Circuits and Systems 22(6), 504–509, 1975.
   doi:10.1109/TCS.1975.1084079
.. [2] A. George, "Nested dissection of a regular finite element mesh", SIAM J. Numer. Anal.
   10(2), 345–363, 1973. doi:10.1137/0710032
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from device_models._jit import backend, jit

__all__ = ["Factor", "Network"]

_LEAF = 8  # side of the leaf blocks of the nested dissection [grid points]


def _nested_dissection(rows: int, cols: int, has_row: bool, has_col: bool) -> np.ndarray:
    """Return a fill-reducing order of the unknown nodes, boundary nodes last.

    Node indices: row node ``(i, j)`` → ``i*cols + j``; column node → ``rows*cols + i*cols + j``
    (both present only when the matching wire has resistance; see :class:`Network`).
    """
    rc = rows * cols
    out: list[np.ndarray] = []

    def block(i0: int, i1: int, j0: int, j1: int) -> None:
        ii, jj = np.mgrid[i0:i1, j0:j1]
        p = (ii * cols + jj).ravel()
        out.append(np.concatenate([p, rc + p]))

    def rec(i0: int, i1: int, j0: int, j1: int) -> None:
        h, w = i1 - i0, j1 - j0
        if h <= 0 or w <= 0:
            return
        if h * w <= _LEAF * _LEAF:
            block(i0, i1, j0, j1)
            return
        if w >= h:
            m = (j0 + j1) // 2
            rec(i0, i1, j0, m)
            rec(i0, i1, m + 1, j1)
            ii = np.arange(i0, i1)
            out.append(rc + ii * cols + m)  # column wire m: an isolated chain once cut
            out.append(ii * cols + m)  # separator: row nodes of column m
        else:
            m = (i0 + i1) // 2
            rec(i0, m, j0, j1)
            rec(m + 1, i1, j0, j1)
            jj = np.arange(j0, j1)
            out.append(m * cols + jj)  # row wire m
            out.append(rc + m * cols + jj)  # separator: column nodes of row m

    rec(0, rows, 0, cols)
    order = np.concatenate(out) if out else np.zeros(0, np.int64)
    bmask = np.zeros(2 * rc, dtype=bool)
    bmask[np.arange(rows) * cols] = True  # row nodes beside the drivers
    bmask[rc + (rows - 1) * cols + np.arange(cols)] = True  # column nodes beside ground
    order = np.concatenate([order[~bmask[order]], np.flatnonzero(bmask)])
    # keep only the nodes that are unknowns, renumbered to the compact layout
    keep = np.zeros(2 * rc, dtype=bool)
    if has_row:
        keep[:rc] = True
    if has_col:
        keep[rc:] = True
    compact = np.cumsum(keep) - 1
    order = order[keep[order]]
    return compact[order]


@jit
def _lu_solve_kernel(l_ptr, l_idx, l_val, u_ptr, u_idx, u_val, u_diag, b):
    """Solve ``L U x = b`` in place for unit-lower ``L`` and upper ``U`` in CSC; b (n, k)."""
    n, k = b.shape
    for j in range(n):
        for p in range(l_ptr[j], l_ptr[j + 1]):
            i = l_idx[p]
            if i > j:
                lv = l_val[p]
                for c in range(k):
                    b[i, c] -= lv * b[j, c]
    for j in range(n - 1, -1, -1):
        d = u_diag[j]
        for c in range(k):
            b[j, c] /= d
        for p in range(u_ptr[j], u_ptr[j + 1]):
            i = u_idx[p]
            if i < j:
                uv = u_val[p]
                for c in range(k):
                    b[i, c] -= uv * b[j, c]


def _lu_solve_numpy(lu, b: np.ndarray) -> np.ndarray:
    """Reference path of :func:`_lu_solve_kernel`: SuperLU's own triangular solves."""
    return lu.solve(np.asfortranarray(b))


class Factor:
    """SuperLU factors of a nodal matrix (no pivoting) with a batched triangular solve.

    SuperLU's multi-right-hand-side solve is slow (it is organised per right-hand side), so
    batches go through :func:`_lu_solve_kernel`, which streams each factor entry once over a
    row-major block of right-hand sides.
    """

    def __init__(self, lu) -> None:
        self.lu = lu
        n = lu.shape[0]
        ident = np.arange(n)
        self.unpivoted = bool(np.array_equal(lu.perm_r, ident)
                              and np.array_equal(lu.perm_c, ident))
        self._csc = None

    def _arrays(self):
        if self._csc is None:
            lo, up = self.lu.L.tocsc(), self.lu.U.tocsc()
            self._csc = (lo.indptr.astype(np.int64), lo.indices.astype(np.int64), lo.data,
                         up.indptr.astype(np.int64), up.indices.astype(np.int64), up.data,
                         up.diagonal().copy())
        return self._csc

    def solve(self, b: np.ndarray) -> np.ndarray:
        """Solution of ``A x = b`` for ``b`` of shape (n,) or (n, k)."""
        if b.ndim == 1 or b.shape[1] == 1 or backend() == "numpy" or not self.unpivoted:
            return _lu_solve_numpy(self.lu, b) if b.ndim == 2 else self.lu.solve(b)
        x = np.array(b, dtype=np.float64, order="C")
        _lu_solve_kernel(*self._arrays(), x)
        return x


class Network:
    """Sparse MNA of one crossbar: matrices, right-hand sides, factorisations.

    Parameters
    ----------
    g_s : ndarray, shape (rows, cols)
        Cell (small-signal) conductances [S], validated by the caller.
    r_row_ohm, r_col_ohm : float
        Row / column wire resistance per cell pitch [ohm], >= 0.
    """

    def __init__(self, g_s: np.ndarray, r_row_ohm: float, r_col_ohm: float) -> None:
        self.g_s = g_s
        self.rows, self.cols = g_s.shape
        self.r_row_ohm = float(r_row_ohm)
        self.r_col_ohm = float(r_col_ohm)
        self.has_row = self.r_row_ohm > 0.0
        self.has_col = self.r_col_ohm > 0.0
        rc = self.rows * self.cols
        self.n_row = rc if self.has_row else 0
        self.n_col = rc if self.has_col else 0
        self.n = self.n_row + self.n_col
        self._lu_linear = None
        self._order = None
        self._base_data = None      # the sparse structure, built on first use (G_eff needs none)

    # ------------------------------------------------------------------ structure
    def _build_wire(self) -> None:
        rows, cols = self.rows, self.cols
        idx = np.arange(rows * cols).reshape(rows, cols)
        r_i, c_i, vals = [], [], []
        diag = np.zeros(self.n)
        if self.has_row:
            gr = 1.0 / self.r_row_ohm
            a, b = idx[:, :-1].ravel(), idx[:, 1:].ravel()
            r_i += [a, b]
            c_i += [b, a]
            vals += [np.full(a.size, -gr)] * 2
            diag[: self.n_row] += gr * 2.0
            diag[idx[:, -1]] -= gr  # open far end: one segment only (column 0: driver + next)
        if self.has_col:
            gc = 1.0 / self.r_col_ohm
            off = self.n_row
            a, b = off + idx[:-1, :].ravel(), off + idx[1:, :].ravel()
            r_i += [a, b]
            c_i += [b, a]
            vals += [np.full(a.size, -gc)] * 2
            diag[off:] += gc * 2.0
            diag[off + idx[0, :]] -= gc  # open top end
        r_i.append(np.arange(self.n))
        c_i.append(np.arange(self.n))
        vals.append(diag)
        # cell stamps (values set per call): row-row, col-col, row-col, col-row
        rc = rows * cols
        cell = np.arange(rc)
        stamps_r, stamps_c = [], []
        if self.has_row:
            stamps_r.append(cell)
            stamps_c.append(cell)
        if self.has_col:
            stamps_r.append(self.n_row + cell)
            stamps_c.append(self.n_row + cell)
        if self.has_row and self.has_col:
            stamps_r += [cell, self.n_row + cell]
            stamps_c += [self.n_row + cell, cell]
        n_stamp = len(stamps_r)
        self._stamp_sign = np.array([1.0, 1.0, -1.0, -1.0][:n_stamp]) if n_stamp else None
        rows_all = np.concatenate(r_i + stamps_r).astype(np.int64)
        cols_all = np.concatenate(c_i + stamps_c).astype(np.int64)
        n_wire = sum(v.size for v in vals)
        # Sum duplicates once and remember where each stamp lands in the CSC data array.
        key = cols_all * max(self.n, 1) + rows_all
        uniq, inverse = np.unique(key, return_inverse=True)
        self._csc_indices = (uniq % max(self.n, 1)).astype(np.int32)
        col_of = uniq // max(self.n, 1)
        self._csc_indptr = np.searchsorted(col_of, np.arange(self.n + 1)).astype(np.int32)
        base = np.zeros(uniq.size)
        np.add.at(base, inverse[:n_wire], np.concatenate(vals))
        self._base_data = base
        self._stamp_pos = inverse[n_wire:].reshape(n_stamp, rc) if n_stamp else None

    def matrix(self, gcell_s: np.ndarray) -> sp.csc_matrix:
        """KCL matrix (or Newton Jacobian) with cell conductances ``gcell_s`` (rows*cols,) [S]."""
        if self._base_data is None:
            self._build_wire()
        data = self._base_data.copy()
        if self._stamp_pos is not None:
            for k in range(self._stamp_pos.shape[0]):  # positions are distinct within a stamp
                data[self._stamp_pos[k]] += self._stamp_sign[k] * gcell_s
        return sp.csc_matrix((data, self._csc_indices, self._csc_indptr), shape=(self.n, self.n))

    @property
    def order(self) -> np.ndarray:
        if self._order is None:
            self._order = _nested_dissection(self.rows, self.cols, self.has_row, self.has_col)
        return self._order

    def factorize(self, gcell_s: np.ndarray):
        """SuperLU factors of :meth:`matrix` in nested-dissection order, without pivoting."""
        p = self.order
        a = self.matrix(gcell_s)[p][:, p].tocsc()
        return Factor(spla.splu(
            a, permc_spec="NATURAL", diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        ))

    def solve(self, factor: Factor, rhs: np.ndarray) -> np.ndarray:
        """Solve with factors from :meth:`factorize`; ``rhs`` shape (n,) or (n, k)."""
        p = self.order
        x = np.empty_like(rhs)
        x[p] = factor.solve(rhs[p])
        return x

    @property
    def lu_linear(self):
        """Cached factors of the linear network (cells of conductance ``g_s``)."""
        if self._lu_linear is None:
            self._lu_linear = self.factorize(self.g_s.ravel())
        return self._lu_linear

    # ------------------------------------------------------------------ linear network
    def rhs_linear(self, v: np.ndarray) -> np.ndarray:
        """Right-hand side (n, batch) of the linear KCL for row voltages ``v`` (batch, rows)."""
        batch = v.shape[0]
        rows, cols = self.rows, self.cols
        b = np.zeros((self.n, batch))
        if self.has_row:
            b[np.arange(rows) * cols] = v.T / self.r_row_ohm
        else:  # row nodes are the drivers: cells inject g*V into the column nodes
            b[self.n_row:] = (self.g_s[None, :, :] * v[:, :, None]).reshape(batch, -1).T
        return b

    def expand(self, x: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row- and column-node voltages (batch, rows, cols) from unknowns ``x`` (n, batch)."""
        batch = v.shape[0]
        shape = (batch, self.rows, self.cols)
        if self.has_row:
            vr = x[: self.n_row].T.reshape(shape)
        else:
            vr = np.broadcast_to(v[:, :, None], shape)
        if self.has_col:
            vc = x[self.n_row:].T.reshape(shape)
        else:
            vc = np.zeros(shape)
        return vr, vc

    def output_currents(self, vc: np.ndarray, i_cell: np.ndarray) -> np.ndarray:
        """Column currents into ground (batch, cols) [A].

        By KCL on the column wire this is the sum of the column's cell currents, which is
        what is returned: reading ``V[rows-1, j] / r_col`` instead would amplify node-voltage
        rounding (and solver tolerance) by ``1 / r_col``.
        """
        return i_cell.sum(axis=1)

    def solve_linear(self, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Node voltages of the linear network for ``v`` (batch, rows)."""
        if self.n == 0:
            return self.expand(np.zeros((0, v.shape[0])), v)
        x = self.solve(self.lu_linear, self.rhs_linear(v))
        return self.expand(x, v)

    def effective_conductance(self) -> np.ndarray:
        """Exact transfer matrix ``G_eff`` (rows, cols) [S] with ``I = V @ G_eff``."""
        g = self.g_s
        rows, cols = self.rows, self.cols
        if self.n == 0:
            return g.copy()
        if not (self.has_row and self.has_col):
            # Independent wire chains: one right-hand side excites every chain at once.
            b = np.zeros(self.n)
            if self.has_row:
                b[np.arange(rows) * cols] = 1.0 / self.r_row_ohm
            else:
                b[(rows - 1) * cols + np.arange(cols)] = 1.0 / self.r_col_ohm
            x = self.solve(self.lu_linear, b)
            return g * x.reshape(rows, cols)
        # both wires: the Schur complement onto the terminals by nested dissection (_geff)
        from ._geff import effective_conductance

        return effective_conductance(g, self.r_row_ohm, self.r_col_ohm)
