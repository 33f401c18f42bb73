r"""Separable expansion of a cell law tabulated on a set of voltages.

:func:`expand` writes a two-variable function, the cell current :math:`F(g, V)` or its
derivatives, as :math:`F(g, V_k) \approx \sum_{r<R} a_r(g)\,b_r[k]` for conductances
:math:`g \in [g_{lo}, g_{hi}]` and given voltages :math:`V_k`: the table of :math:`F` on
Chebyshev nodes in :math:`g` is factorised by a truncated SVD, :math:`b_r` is exact on the
voltages and :math:`a_r` is the barycentric Chebyshev interpolant of the left factor. The
error of the whole expansion is measured on the nodes and on their midpoints; the nodes are
doubled until it is within the requested tolerance, and the measured error is the
expansion's ``bound``. A cell law then costs ``R`` matrix products per read
(:mod:`cimsim.tile.cells`) or ``R`` table look-ups per cell and iteration
(:mod:`cimsim.array._lines`).

References
----------
.. [1] L. N. Trefethen, *Approximation Theory and Approximation Practice*, SIAM (2013),
   ch. 5 (barycentric Chebyshev interpolation) and ch. 8 (convergence for analytic
   functions). doi:10.1137/1.9781611975949
.. [2] G. H. Golub and C. F. Van Loan, *Matrix Computations*, 4th ed., Johns Hopkins (2013),
   sec. 2.4 (the SVD gives the best rank-R approximation). ISBN 978-1-4214-0794-4
"""

from __future__ import annotations

import dataclasses

import numpy as np

from device_models._checks import check_array, check_int, check_scalar, fail

__all__ = ["G_NODES", "G_NODES_MAX", "Expansion", "chebyshev_nodes", "expand"]

#: Chebyshev nodes in g of the first expansion attempt (doubled while the check grid fails).
G_NODES = 16
#: Most Chebyshev nodes tried [-].
G_NODES_MAX = 256


def chebyshev_nodes(lo: float, hi: float, m: int) -> np.ndarray:
    """Chebyshev points of the second kind on [lo, hi] (ascending)."""
    lo = check_scalar("lo", lo, "chebyshev_nodes")
    hi = check_scalar("hi", hi, "chebyshev_nodes")
    m = check_int("m", m, "chebyshev_nodes", lo=1, hi=1 << 20)
    if m == 1 or hi <= lo:
        return np.array([0.5 * (lo + hi)])
    x = -np.cos(np.pi * np.arange(m) / (m - 1))
    return 0.5 * (lo + hi) + 0.5 * (hi - lo) * x


def _bary_weights(m: int) -> np.ndarray:
    w = (-1.0) ** np.arange(m)
    if m > 1:
        w[0] *= 0.5
        w[-1] *= 0.5
    return w


def _bary_matrix(x: np.ndarray, nodes: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rows of barycentric interpolation weights at points ``x`` (n,) → (n, M)."""
    if nodes.size == 1:
        return np.ones((x.size, 1))
    d = x[:, None] - nodes[None, :]
    exact = d == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        q = w[None, :] / d
        q = q / q.sum(axis=1, keepdims=True)
    hit = exact.any(axis=1)
    if hit.any():
        q[hit] = exact[hit].astype(np.float64)
    return q


@dataclasses.dataclass(frozen=True)
class Expansion:
    r"""A table :math:`f(g, V_k) \approx \sum_{r<R} a_r(g)\,b_r[k]` (see :func:`expand`).

    Attributes
    ----------
    nodes : ndarray (M,)
        Chebyshev nodes in g [S].
    node_coef : ndarray (M, R)
        :math:`a_r` at the nodes (units of f).
    basis : ndarray (R, K)
        :math:`b_r` on the K voltages [-].
    bound : float
        Largest error measured on the nodes and the check grid (units of f).
    scale : float
        Largest :math:`|f|` on the table (units of f).
    """

    nodes: np.ndarray
    node_coef: np.ndarray
    basis: np.ndarray
    bound: float
    scale: float

    @property
    def rank(self) -> int:
        return self.basis.shape[0]

    def coefficients(self, g: np.ndarray) -> np.ndarray:
        """:math:`a_r(g)` at conductances ``g`` [S] → ``(R, *g.shape)``."""
        flat = np.asarray(g, dtype=np.float64).ravel()
        if flat.size > 4096:             # exactly programmed arrays repeat a few values
            uniq, where = np.unique(flat, return_inverse=True)
            if uniq.size <= flat.size // 8:
                return self.coefficients(uniq)[:, where].reshape((self.rank,) + np.shape(g))
        out = np.empty((self.rank, flat.size))
        w = _bary_weights(self.nodes.size)
        step = 1 << 15
        for s in range(0, flat.size, step):
            out[:, s:s + step] = (_bary_matrix(flat[s:s + step], self.nodes, w)
                                  @ self.node_coef).T
        return out.reshape((self.rank,) + np.shape(g))

    def values(self, g: np.ndarray) -> np.ndarray:
        """The expansion at conductances ``g`` (n,) on all K voltages → (n, K)."""
        return self.coefficients(np.asarray(g, dtype=np.float64)).T @ self.basis


def expand(fn, g_lo: float, g_hi: float, volts: np.ndarray, rtol: float) -> Expansion:
    r"""Separable expansion of ``fn(g, V)`` on ``g ∈ [g_lo, g_hi]`` and the voltages ``volts``.

    ``fn(g[:, None], volts[None, :])`` tabulates the function on :math:`M` Chebyshev nodes;
    the SVD :math:`T = U\Sigma V^\top` truncated to the smallest rank ``R`` whose largest
    entry error is at most ``rtol/2`` of :math:`\max|T|` gives :math:`b_r = V_r` and
    :math:`a_r(g_m) = U_{mr}\Sigma_r`. Between nodes :math:`a_r` is the barycentric
    interpolant; the error of the whole expansion is measured again on the midpoints of
    the nodes, and ``M`` doubles (to :data:`G_NODES_MAX`) until it is within ``rtol`` of
    :math:`\max|T|`. The measured error (nodes and midpoints) is ``bound``.
    """
    caller = "expand"
    if not callable(fn):
        fail("fn", caller, "a callable fn(g, V)", fn)
    g_lo = check_scalar("g_lo", g_lo, caller)
    g_hi = check_scalar("g_hi", g_hi, caller, lo=g_lo)
    volts = check_array("volts", volts, caller, ndim=1)
    rtol = check_scalar("rtol", rtol, caller, lo=0.0, lo_open=True)
    m = G_NODES if g_hi > g_lo else 1
    while True:
        nodes = chebyshev_nodes(g_lo, g_hi, m)
        table = np.asarray(fn(nodes[:, None], volts[None, :]), dtype=np.float64)
        scale = float(np.max(np.abs(table))) if table.size else 0.0
        if scale == 0.0:
            return Expansion(nodes, np.zeros((m, 1)), np.zeros((1, volts.size)), 0.0, 0.0)
        u, s, vt = np.linalg.svd(table, full_matrices=False)
        rank, err_nodes = s.size, 0.0
        for r in range(1, s.size + 1):
            approx = (u[:, :r] * s[:r]) @ vt[:r]
            err_nodes = float(np.max(np.abs(table - approx)))
            if err_nodes <= 0.5 * rtol * scale:
                rank = r
                break
        coef = u[:, :rank] * s[:rank]
        basis = vt[:rank]
        exp = Expansion(nodes, coef, basis, err_nodes, scale)
        if m == 1:
            return exp
        mids = 0.5 * (nodes[1:] + nodes[:-1])
        check = np.asarray(fn(mids[:, None], volts[None, :]), dtype=np.float64)
        err_mid = float(np.max(np.abs(check - exp.values(mids))))
        bound = max(err_nodes, err_mid)
        if err_mid <= rtol * scale or 2 * m > G_NODES_MAX:
            return dataclasses.replace(exp, bound=bound)
        m *= 2
