r"""Line relaxation of a crossbar with nonlinear cells (private engine of
:mod:`cimsim.array.crossbar`, ``method="lines"``).

The network of :mod:`cimsim.array.crossbar`: row wire ``i`` is a chain of nodes
:math:`U_{ij}` driven at its column-0 end through one segment ``r_row``; column wire ``j`` a
chain of nodes :math:`W_{ij}` held at 0 V below its last row through one segment ``r_col``;
cell :math:`(i, j)` carries :math:`F(g_{ij}, U_{ij} - W_{ij})` from the row to the column
node. Each row wire, with the column-node voltages held fixed, is a tridiagonal system, and so
is each column wire with the row-node voltages fixed. The cells are split into a chord
conductance :math:`c_{ij}` and the rest, :math:`F(g, V) = c\,V + n(V)`, and one *sweep*
solves all row wires and then all column wires exactly, with the rest :math:`n` taken at the
voltages the previous sweep left:

.. math::

    \Bigl(\tfrac{2}{r_{row}} + c_{ij}\Bigr) U_{ij} - \tfrac{U_{i,j-1} + U_{i,j+1}}{r_{row}}
        = c_{ij} W_{ij} - n_{ij} \;(+ v_i/r_{row} \text{ at } j = 0), \\
    \Bigl(\tfrac{2}{r_{col}} + c_{ij}\Bigr) W_{ij} - \tfrac{W_{i-1,j} + W_{i+1,j}}{r_{col}}
        = c_{ij} U_{ij} + n_{ij}

(one segment fewer at the open far end of a row and the open top of a column). This is a
block Gauss-Seidel iteration over the two wire families combined with a chord iteration on
the cells; every step solves an M-matrix system, and it contracts at a rate set by how
strongly the two wire families couple through the cells (:math:`r g n^2`) and by the spread
of :math:`\mathrm{d}F/\mathrm{d}V` about :math:`c` (the mid-range of each cell's slope over
the read voltages). The factors of every line are computed once per array; a sweep is two
passes over the array (rows and the downward elimination of the columns; the upward
substitution of the columns and the cell law), with no sparse factorisation. The iteration
stops when the estimated remaining error of the node voltages,
:math:`\Delta_k\,\rho/(1-\rho)` with :math:`\Delta_k` the largest change of sweep :math:`k`
and :math:`\rho = \Delta_k/\Delta_{k-1}`, is below the tolerance.

The cell law enters as a separable expansion :math:`F(g, V) = \sum_r a_r(g)\,P_r(V)`
(:mod:`cimsim.array.expansion`; a separable law is one term) whose voltage functions
:math:`P_r` are polynomials in :math:`V/V_s` fitted on the cells' voltage range
:math:`\pm V_s`; the fit's measured error adds to the iteration's. The sweeps run in float32
on groups of :data:`GROUP` input vectors, the vectors innermost, so that one pass over the
array's parameters serves the whole group and the inner loops are vector instructions; the
column currents are summed in float64.

References
----------
.. [1] R. S. Varga, *Matrix Iterative Analysis*, 2nd ed., Springer (2000), ch. 3 (block and
   line Gauss-Seidel iterations for M-matrices). doi:10.1007/978-3-642-05156-2
.. [2] A. Chen, "A comprehensive crossbar array model with solutions for line resistance and
   nonlinear device characteristics", IEEE Trans. Electron Devices 60(4), 1318-1326 (2013).
   doi:10.1109/TED.2013.2246791
"""

from __future__ import annotations

import numpy as np

from device_models._jit import backend, jit

__all__ = ["GROUP", "MAX_SWEEPS", "LineSolver", "fit_polynomials"]

#: Input vectors relaxed together (innermost dimension of the sweep arrays) [-].
GROUP = 16
#: Sweeps allowed per group [-].
MAX_SWEEPS = 200
#: Largest polynomial degree tried for the voltage functions of the law [-].
MAX_DEGREE = 40


def _tridiag_factors(diag: np.ndarray, off: float) -> tuple[np.ndarray, np.ndarray]:
    """Thomas factors along the last axis of systems ``diag_j x_j + off (x_{j-1} + x_{j+1})``:
    ``inv_j = 1/m_j`` and ``cp_j = off/m_j`` (float64)."""
    n = diag.shape[-1]
    inv = np.empty_like(diag)
    cp = np.empty_like(diag)
    m = diag[..., 0]
    inv[..., 0] = 1.0 / m
    cp[..., 0] = off / m
    for j in range(1, n):
        m = diag[..., j] - off * cp[..., j - 1]
        inv[..., j] = 1.0 / m
        cp[..., j] = off / m
    return inv, cp


def fit_polynomials(basis_fn, v_scale: float, rtol: float) -> tuple[np.ndarray, float]:
    """Monomial coefficients (K, deg + 1), highest first, of polynomials in ``t = V/v_scale``
    fitting the functions ``basis_fn(V) -> (K, n)`` on ``[-v_scale, v_scale]``, and the
    largest error of the fit on a grid twice as fine as the fitting one (in the units of the
    functions). The degree grows until that error is below ``rtol`` of the largest value."""
    from numpy.polynomial import chebyshev as cheb

    t_fit = np.cos(np.pi * (np.arange(257) + 0.5) / 257)          # Chebyshev points
    t_chk = np.linspace(-1.0, 1.0, 1025)
    y_fit = np.atleast_2d(basis_fn(t_fit * v_scale))
    y_chk = np.atleast_2d(basis_fn(t_chk * v_scale))
    top = float(np.max(np.abs(y_chk))) or 1.0
    err = np.inf
    for deg in range(3, MAX_DEGREE + 1):
        c = cheb.chebfit(t_fit, y_fit.T, deg)                      # (deg+1, K)
        mono = np.stack([cheb.cheb2poly(c[:, k]) for k in range(c.shape[1])])
        approx = np.stack([np.polyval(m[::-1], t_chk) for m in mono])
        err = float(np.max(np.abs(approx - y_chk)))
        if err <= rtol * top:
            break
    return np.ascontiguousarray(mono[:, ::-1]), err


# --------------------------------------------------------------------------------------------
# Kernel
# --------------------------------------------------------------------------------------------


def _sweeps_py(v, inv_vs, poly, coef, gc, g_row, g_col, inv_r, cp_r, inv_c, cp_c, tol,
               max_sweeps, u, w, nl, yc, yr, out, info):
    """Relax one group (see the module docstring). ``v`` (GROUP, R) row drives [V]; ``poly``
    (K, deg+1) float32 monomials in ``t = V·inv_vs``, highest first; ``coef`` (K, R, C),
    ``gc``, ``inv_*``, ``cp_*`` (R, C) float32; ``u, w`` (R, C, GROUP) float32 node voltages
    (set here to the ideal-wire start); ``nl, yc`` (R, C, GROUP) and ``yr`` (C, GROUP)
    float32 work arrays; ``out`` (C, GROUP) float64 column currents; ``info`` (sweeps, error).
    The loops over the group are innermost, of fixed length and branch-free (vector
    instructions); a short last group is padded with idle vectors."""
    n_r = v.shape[1]
    n_c = gc.shape[1]
    n_k, n_p = poly.shape
    f32 = np.float32
    gr = f32(g_row)
    gcol = f32(g_col)
    s = f32(inv_vs)
    f = np.empty(GROUP, dtype=np.float32)
    t = np.empty(GROUP, dtype=np.float32)
    pp = np.empty(GROUP, dtype=np.float32)
    vi = np.empty(GROUP, dtype=np.float32)
    dmax = np.zeros(GROUP, dtype=np.float32)
    carry = np.empty(GROUP, dtype=np.float32)
    # start: ideal wires (every cell at its row voltage), and the law's rest there
    for i in range(n_r):
        for b in range(GROUP):
            vi[b] = f32(v[b, i])
            t[b] = vi[b] * s
        for j in range(n_c):
            for b in range(GROUP):
                f[b] = 0.0
            for k in range(n_k):
                a = coef[k, i, j]
                for b in range(GROUP):
                    pp[b] = poly[k, 0]
                for q in range(1, n_p):
                    pk = poly[k, q]
                    for b in range(GROUP):
                        pp[b] = pp[b] * t[b] + pk
                for b in range(GROUP):
                    f[b] += a * pp[b]
            c = gc[i, j]
            for b in range(GROUP):
                u[i, j, b] = vi[b]
                w[i, j, b] = 0.0
                nl[i, j, b] = f[b] - c * vi[b]
    prev = np.inf
    est = np.inf
    sweeps = 0
    last = n_c - 1
    for _ in range(max_sweeps):
        sweeps += 1
        dmax[:] = 0.0
        # pass 1 (top to bottom): each row wire, then the column elimination of that row
        for i in range(n_r):
            if g_row > 0.0:
                for b in range(GROUP):
                    vi[b] = gr * f32(v[b, i])
                c = gc[i, 0]
                ir = inv_r[i, 0]
                for b in range(GROUP):          # (the carried value in a separate array:
                    x = (c * w[i, 0, b] - nl[i, 0, b] + vi[b]) * ir    # no aliasing to
                    yr[0, b] = x                                        # prove)
                    carry[b] = x
                for j in range(1, n_c):
                    c = gc[i, j]
                    ir = inv_r[i, j]
                    for b in range(GROUP):
                        x = (c * w[i, j, b] - nl[i, j, b] + gr * carry[b]) * ir
                        yr[j, b] = x
                        carry[b] = x
                for b in range(GROUP):
                    x = yr[last, b]
                    d = abs(x - u[i, last, b])
                    dmax[b] = d if d > dmax[b] else dmax[b]
                    u[i, last, b] = x
                    carry[b] = x
                for j in range(n_c - 2, -1, -1):
                    cp = cp_r[i, j]
                    for b in range(GROUP):
                        x = yr[j, b] - cp * carry[b]
                        d = abs(x - u[i, j, b])
                        dmax[b] = d if d > dmax[b] else dmax[b]
                        u[i, j, b] = x
                        carry[b] = x
            if g_col > 0.0:
                if i == 0:
                    for j in range(n_c):
                        c = gc[0, j]
                        ic = inv_c[0, j]
                        for b in range(GROUP):
                            yc[0, j, b] = (c * u[0, j, b] + nl[0, j, b]) * ic
                else:
                    for j in range(n_c):
                        c = gc[i, j]
                        ic = inv_c[i, j]
                        for b in range(GROUP):
                            yc[i, j, b] = (c * u[i, j, b] + nl[i, j, b]
                                           + gcol * yc[i - 1, j, b]) * ic
        # pass 2 (bottom to top): column substitution, then the law at the new voltages
        for j in range(n_c):
            for b in range(GROUP):
                out[j, b] = 0.0
        for i in range(n_r - 1, -1, -1):
            for j in range(n_c):
                if g_col > 0.0:
                    if i == n_r - 1:
                        for b in range(GROUP):
                            x = yc[i, j, b]
                            d = abs(x - w[i, j, b])
                            dmax[b] = d if d > dmax[b] else dmax[b]
                            w[i, j, b] = x
                    else:
                        cp = cp_c[i, j]
                        for b in range(GROUP):
                            x = yc[i, j, b] - cp * w[i + 1, j, b]
                            d = abs(x - w[i, j, b])
                            dmax[b] = d if d > dmax[b] else dmax[b]
                            w[i, j, b] = x
                for b in range(GROUP):
                    t[b] = (u[i, j, b] - w[i, j, b]) * s
                    f[b] = 0.0
                for k in range(n_k):
                    a = coef[k, i, j]
                    for b in range(GROUP):
                        pp[b] = poly[k, 0]
                    for q in range(1, n_p):
                        pk = poly[k, q]
                        for b in range(GROUP):
                            pp[b] = pp[b] * t[b] + pk
                    for b in range(GROUP):
                        f[b] += a * pp[b]
                c = gc[i, j]
                for b in range(GROUP):
                    nl[i, j, b] = f[b] - c * (u[i, j, b] - w[i, j, b])
                    out[j, b] += f[b]
        delta = 0.0
        for b in range(GROUP):
            delta = max(delta, float(dmax[b]))
        if g_row == 0.0 and g_col == 0.0:
            est = 0.0
            break
        rho = delta / prev if prev > 0.0 else 0.0
        prev = delta
        if delta == 0.0:
            est = 0.0
            break
        if rho < 1.0:
            est = delta * rho / (1.0 - rho)
            if est <= tol and sweeps > 1:
                break
    info[0] = sweeps
    info[1] = est


#: FMA contraction and no NaN/inf special cases let the group loops vectorise (no
#: reassociation: every sum keeps its order, so results do not depend on the batch split).
_sweeps_kernel = jit(_sweeps_py, fastmath={"contract", "nnan", "ninf"})


def _sweeps_numpy(v, inv_vs, poly, coef, gc, g_row, g_col, inv_r, cp_r, inv_c, cp_c, tol,
                  max_sweeps, u, w, nl, yc, yr, out, info):
    """NumPy reference of :func:`_sweeps_kernel`: the same sweeps in the same precision,
    vectorised over the lines and the group."""
    f32 = np.float32
    n_r, n_c = gc.shape
    c3 = gc[:, :, None]

    def law(vc):
        t = vc * f32(inv_vs)
        f = np.zeros_like(vc)
        for k in range(poly.shape[0]):
            p = np.full_like(vc, poly[k, 0])
            for q in range(1, poly.shape[1]):
                p = p * t + poly[k, q]
            f += coef[k][:, :, None] * p
        return f

    u[...] = v.T.astype(np.float32)[:, None, :]
    w[...] = 0.0
    nl[...] = law(u) - c3 * u
    prev, est, sweeps = np.inf, np.inf, 0
    for _ in range(max_sweeps):
        sweeps += 1
        delta = 0.0
        if g_row > 0.0:
            d = c3 * w - nl
            d[:, 0, :] += f32(g_row) * v.T.astype(np.float32)
            y = np.empty_like(u)
            y[:, 0] = d[:, 0] * inv_r[:, 0, None]
            for j in range(1, n_c):
                y[:, j] = (d[:, j] + f32(g_row) * y[:, j - 1]) * inv_r[:, j, None]
            new = np.empty_like(u)
            new[:, -1] = y[:, -1]
            for j in range(n_c - 2, -1, -1):
                new[:, j] = y[:, j] - cp_r[:, j, None] * new[:, j + 1]
            delta = max(delta, float(np.max(np.abs(new - u))))
            u[...] = new
        if g_col > 0.0:
            d = c3 * u + nl
            yc[0] = d[0] * inv_c[0][:, None]
            for i in range(1, n_r):
                yc[i] = (d[i] + f32(g_col) * yc[i - 1]) * inv_c[i][:, None]
            new = np.empty_like(w)
            new[-1] = yc[-1]
            for i in range(n_r - 2, -1, -1):
                new[i] = yc[i] - cp_c[i][:, None] * new[i + 1]
            delta = max(delta, float(np.max(np.abs(new - w))))
            w[...] = new
        vc = u - w
        f = law(vc)
        nl[...] = f - c3 * vc
        out[...] = f.astype(np.float64).sum(axis=0)
        if g_row == 0.0 and g_col == 0.0:
            est = 0.0
            break
        rho = delta / prev if prev > 0.0 else 0.0
        prev = delta
        if delta == 0.0:
            est = 0.0
            break
        if rho < 1.0:
            est = delta * rho / (1.0 - rho)
            if est <= tol and sweeps > 1:
                break
    info[0] = sweeps
    info[1] = est


# --------------------------------------------------------------------------------------------
# Solver
# --------------------------------------------------------------------------------------------


class LineSolver:
    """Line relaxation of one crossbar with an expanded cell law (module docstring).

    Parameters
    ----------
    g_s : ndarray (rows, cols)
        Cell conductances [S] (shape only).
    r_row_ohm, r_col_ohm : float
        Wire resistance per pitch [ohm] (0: ideal wire).
    coef : ndarray (K, rows, cols)
        Per-cell coefficients of the law's expansion [A].
    poly : ndarray (K, deg + 1)
        Monomial coefficients, highest first, of the voltage functions in ``t = V/v_scale``.
    v_scale : float
        Voltage scale of the polynomials [V].
    chord_s : ndarray (rows, cols)
        Chord conductance of every cell [S].
    """

    def __init__(self, g_s, r_row_ohm, r_col_ohm, coef, poly, v_scale, chord_s):
        self.shape = g_s.shape
        n_r, n_c = g_s.shape
        f32 = np.float32
        self.g_row = 1.0 / r_row_ohm if r_row_ohm > 0.0 else 0.0
        self.g_col = 1.0 / r_col_ohm if r_col_ohm > 0.0 else 0.0
        self.coef = np.ascontiguousarray(coef, dtype=f32)
        self.poly = np.ascontiguousarray(poly, dtype=f32)
        self.inv_vs = 1.0 / float(v_scale)
        gc = np.asarray(chord_s, dtype=np.float64)
        self.gc = np.ascontiguousarray(gc, dtype=f32)
        zeros = np.zeros((n_r, n_c), dtype=f32)
        self.inv_r = self.cp_r = self.inv_c = self.cp_c = zeros
        if self.g_row > 0.0:
            diag = 2.0 * self.g_row + gc
            diag[:, -1] -= self.g_row                     # open far end of each row
            inv, cp = _tridiag_factors(diag, -self.g_row)
            self.inv_r, self.cp_r = inv.astype(f32), cp.astype(f32)
        if self.g_col > 0.0:
            diag = (2.0 * self.g_col + gc).T.copy()
            diag[:, 0] -= self.g_col                      # open top of each column
            inv, cp = _tridiag_factors(diag, -self.g_col)
            self.inv_c = np.ascontiguousarray(inv.T, dtype=f32)
            self.cp_c = np.ascontiguousarray(cp.T, dtype=f32)

    def column_currents(self, v: np.ndarray, tol_v: float) -> tuple[np.ndarray, int, float]:
        """Column currents [A] (batch, cols) for row voltages ``v`` (batch, rows) [V], the
        most sweeps any group took and the largest estimated node-voltage error [V]."""
        n_b = v.shape[0]
        n_r, n_c = self.shape
        out = np.empty((n_b, n_c))
        sweeps, err = 0, 0.0
        fn = _sweeps_numpy if backend() == "numpy" else _sweeps_kernel
        info = np.zeros(2)
        f32 = np.float32
        u = np.empty((n_r, n_c, GROUP), dtype=f32)
        w = np.empty((n_r, n_c, GROUP), dtype=f32)
        nl = np.empty((n_r, n_c, GROUP), dtype=f32)
        yc = np.empty((n_r, n_c, GROUP), dtype=f32)
        yr = np.empty((n_c, GROUP), dtype=f32)
        ob = np.empty((n_c, GROUP))
        vb = np.zeros((GROUP, n_r))
        for b0 in range(0, n_b, GROUP):
            nb = min(GROUP, n_b - b0)
            vb[:nb] = v[b0:b0 + nb]
            vb[nb:] = 0.0                               # a short group: idle vectors at 0 V
            fn(vb, self.inv_vs, self.poly, self.coef, self.gc, self.g_row, self.g_col,
               self.inv_r, self.cp_r, self.inv_c, self.cp_c, float(tol_v), MAX_SWEEPS, u, w,
               nl, yc, yr, ob, info)
            out[b0:b0 + nb] = ob[:, :nb].T
            sweeps = max(sweeps, int(info[0]))
            err = max(err, float(info[1]))
        return out, sweeps, err
