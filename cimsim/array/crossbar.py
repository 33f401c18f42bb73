r"""One physical crossbar array with wire parasitics: exact IR drop, linear and nonlinear cells.

Geometry (DESIGN.md contract): ``g_s`` has shape ``(rows, cols)``. Row wire ``i`` is driven at
its column-0 end by an ideal source ``v_rows[i]``, with one wire segment of ``r_row`` between
the driver and the first cell and one between neighbouring cells (far end open). Column wire
``j`` is held at 0 V (the column front end's virtual ground) beyond its last row through one
segment of ``r_col``, with one segment between neighbouring cells (top end open). The column
current is the current through that last segment into the virtual ground.

Solvers
-------
* Linear cells (``cell=None``): the network is linear, so :math:`I = V\,G_{\mathrm{eff}}`
  exactly. :func:`effective_conductance` computes :math:`G_{\mathrm{eff}}` once per
  programmed array as the driver-to-ground block of the network's admittance matrix onto its
  ``rows + cols`` terminals, formed by merging the Schur complements of rectangles of the
  grid (nested dissection; see :mod:`cimsim.array._geff`). Every later batch is one GEMM.
* Nonlinear cells (``cell=device_models.SinhIV(...)`` or any law with the
  :class:`device_models.CellIV` protocol). All methods start from the small-signal solution
  and take relaxed chord steps :math:`x \leftarrow x - \omega A_0^{-1} F(x)` that reuse the one
  factorisation :math:`A_0` of the zero-bias (small-signal, :math:`g_0 = dI/dV(0)`) network
  for the whole batch. With the cells' incremental conductance between :math:`c_{\min} g_0`
  and :math:`c_{\max} g_0` (per input vector, over the cells at the current iterate),
  :math:`\omega = 2/(c_{\min}+c_{\max})` makes a step contract the error by about
  :math:`(c_{\max}-c_{\min})/(c_{\max}+c_{\min})`.

  - ``method="newton"``: two chord steps, then Newton's method with a backtracking line search
    on the same sparse structure, per input vector, to a node-voltage step below ``xtol_v``
    (the Jacobian is refactorised whenever a step contracts by less than
    ``_REUSE_CONTRACTION``, so it is usually factorised once per vector).
  - ``method="exact"`` (default): chord steps while they contract by at least
    ``_CHORD_CONTRACTION`` per step, until a step is below ``xtol_v`` (then the error is below
    that step), and Newton as above for every vector that has not converged that way. Same
    solution and tolerance as ``"newton"``; much faster when the cells are mildly nonlinear.
  - ``method="fast"``: the documented approximation, exactly ``n_fast`` chord steps. A few
    steps suffice for read voltages below ~v0 (error ~1e-4 after 3 steps for sinh cells at
    V/v0 = 0.8); strongly nonlinear operation needs ``"exact"``.
  - ``method="lines"``: the line relaxation of :mod:`cimsim.array._lines` (the cell currents
    as the state, Gauss-Seidel over the rows with exact chord solves of the row wires, 16
    input vectors per vector instruction), which the tiles use: the passes' column currents
    corrected by the known error of the same passes on the linear network of the cells'
    small-signal conductances (its exact :math:`G_{\mathrm{eff}}`, built once per array),
    until the estimated error of every column current is at most ``rtol`` of the column's
    current magnitude with ideal wires; :attr:`Crossbar.lines_info` keeps the passes and the
    estimate.

  ``scripts/bench.py`` prints its error against the exact solve.

References
----------
.. [1] A. Chen, "A comprehensive crossbar array model with solutions for line resistance and
   nonlinear device characteristics", IEEE Trans. Electron Devices 60(4), 1318–1326, 2013.
   doi:10.1109/TED.2013.2246791
.. [2] C.-W. Ho, A. E. Ruehli and P. A. Brennan, "The modified nodal approach to network
   analysis", IEEE Trans. Circuits and Systems 22(6), 504–509, 1975.
   doi:10.1109/TCS.1975.1084079
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import NamedTuple

import numpy as np

from device_models._checks import check_array, check_choice, check_int, check_scalar, fail
from device_models.errors import CimSimError

from ..kernels.parallel import blas_single_thread, for_row_slices
from ._mna import Network

__all__ = [
    "ConvergenceError",
    "Crossbar",
    "CrossbarSolution",
    "cell_voltages",
    "column_currents",
    "effective_conductance",
    "solve_crossbar",
]

_METHODS = ("exact", "newton", "fast", "lines")
#: Largest error of the expanded cell law of ``method="lines"`` (expansion and polynomial
#: fit), relative to its largest current over the cells' voltage range [-].
LINES_RTOL = 1e-6
#: Default tolerance of ``method="lines"``: estimated error of every column current relative
#: to the column's current magnitude with ideal wires, ``Σ_i |F(g_ij, v_i)|`` [-].
LINES_RTOL_DEFAULT = 1e-4
_CACHE_SIZE = 4
_CHUNK_ELEMENTS = 1 << 24  # max node-voltage elements held per batch chunk
R_WIRE_MIN_OHM = 1e-9
"""Smallest non-zero wire resistance per pitch accepted [ohm]: below it the wire-to-cell
conductance ratio would exceed ~1e12 and the nodal matrix lose its accuracy; use 0 instead."""
G_R_MAX = 1e12
"""Largest cell-conductance × wire-resistance product accepted [-]: beyond it the nodal matrix
(wire conductances 1/r beside cell conductances g) loses its accuracy or becomes singular in
float64 (the counterpart of :data:`R_WIRE_MIN_OHM` for large conductances)."""
_FAST_KCL_RTOL = 0.1  # method='fast' refuses a result violating KCL by more than this fraction
_KCL_RTOL = 1e-6  # a tiny Newton step counts as converged only with KCL met to this fraction
_FTOL = 1e-15  # Newton also stops when max |KCL residual| <= _FTOL x the node current scale
_REUSE_CONTRACTION = 0.05  # reuse Newton factors while each step shrinks by this factor
_CHORD_MAX = 60  # chord steps allowed before Newton in method="exact"
_CHORD_CONTRACTION = 0.5  # "exact" leaves the chord for Newton when steps shrink slower


class ConvergenceError(CimSimError, RuntimeError):
    """Newton's method did not converge for a nonlinear crossbar solve."""


class CrossbarSolution(NamedTuple):
    """Node voltages and column currents of a crossbar solve.

    Attributes
    ----------
    v_row_nodes_v : ndarray, shape (batch, rows, cols)
        Row-wire voltage at each cell [V].
    v_col_nodes_v : ndarray, shape (batch, rows, cols)
        Column-wire voltage at each cell [V].
    column_currents_a : ndarray, shape (batch, cols)
        Current of each column into its virtual ground [A].
    iterations : int
        Newton (``exact``) or chord (``fast``) iterations used; 0 for linear cells.
    """

    v_row_nodes_v: np.ndarray
    v_col_nodes_v: np.ndarray
    column_currents_a: np.ndarray
    iterations: int

    @property
    def cell_voltages_v(self) -> np.ndarray:
        """Voltage across each cell, row node minus column node (batch, rows, cols) [V]."""
        return self.v_row_nodes_v - self.v_col_nodes_v


def _check_r(name: str, value, caller: str) -> float:
    r = check_scalar(name, value, caller, lo=0.0)
    if 0.0 < r < R_WIRE_MIN_OHM:
        fail(name, caller, f"0 (ideal wire) or >= {R_WIRE_MIN_OHM!r} ohm", value)
    return r


def _resolve_r(r_wire_ohm, r_wire_row_ohm, r_wire_col_ohm, caller) -> tuple[float, float]:
    r = _check_r("r_wire_ohm", r_wire_ohm, caller)
    rr = r if r_wire_row_ohm is None else _check_r("r_wire_row_ohm", r_wire_row_ohm, caller)
    rc = r if r_wire_col_ohm is None else _check_r("r_wire_col_ohm", r_wire_col_ohm, caller)
    return rr, rc


def _check_g(g_s, caller: str) -> np.ndarray:
    g = check_array("g_s", g_s, caller, nonneg=True, ndim=2)
    if g.shape[0] == 0 or g.shape[1] == 0:
        fail("g_s", caller, "a non-empty (rows, cols) array", f"array of shape {g.shape}")
    return np.ascontiguousarray(g)


def _check_cell(cell, caller: str):
    if cell is None or getattr(cell, "is_linear", False):
        return None
    if not (callable(getattr(cell, "current", None))
            and callable(getattr(cell, "current_and_derivative", None))):
        fail("cell", caller, "None or a cell law with current() and current_and_derivative() "
             "(device_models.CellIV)", cell)
    return cell


def _check_v(v_rows, rows: int, caller: str) -> tuple[np.ndarray, bool]:
    dtype = np.float32 if getattr(v_rows, "dtype", None) == np.float32 else np.float64
    v = check_array("v_rows", v_rows, caller, ndim=(1, 2), dtype=dtype)
    if v.shape[-1] != rows:
        fail("v_rows", caller, f"of shape (rows,) or (batch, rows) with rows = {rows}",
             f"array of shape {v.shape}")
    return (v[None, :], True) if v.ndim == 1 else (v, False)


#: Rows of ``v`` per GEMM in :func:`_fixed_chunk_gemm` [-].
_GEMM_ROWS = 256


def _fixed_chunk_gemm(v: np.ndarray, g: np.ndarray) -> np.ndarray:
    """``v @ g`` in fixed chunks of :data:`_GEMM_ROWS` rows, each a single-threaded BLAS GEMM,
    the chunks shared among the threads: every GEMM has the same shape whatever the thread
    count, so the result is the same to the bit for any number of threads."""
    out = np.empty((v.shape[0], g.shape[1]), dtype=np.result_type(v, g))

    def job(b0, b1):
        for c0 in range(b0, b1, _GEMM_ROWS):
            c1 = min(c0 + _GEMM_ROWS, b1)
            np.matmul(v[c0:c1], g, out=out[c0:c1])

    with blas_single_thread(), np.errstate(over="ignore", invalid="ignore"):
        for_row_slices(job, v.shape[0], align=_GEMM_ROWS)  # overflow: _check_finite_currents
    return out


def _check_finite_currents(out: np.ndarray, g: np.ndarray, v: np.ndarray, caller: str) -> None:
    """InvalidParameterError if finite inputs gave non-finite currents (float64 overflow)."""
    if not np.all(np.isfinite(out)):
        fail("v_rows", caller, "small enough that the column currents stay finite in float64 "
             f"(g_s up to {float(g.max())!r} S)", f"array with |v| up to "
             f"{float(np.max(np.abs(v))) if v.size else 0.0!r}")


class Crossbar:
    r"""One programmed crossbar array: caches its factorisation and :math:`G_{\mathrm{eff}}`.

    Parameters
    ----------
    g_s : array_like, shape (rows, cols)
        Cell small-signal conductances [S], >= 0.
    r_wire_ohm : float
        Wire resistance per cell pitch for both wires [ohm], >= 0.
    r_wire_row_ohm, r_wire_col_ohm : float, optional
        Row / column wire resistance per cell pitch [ohm]; override ``r_wire_ohm``.
    cell : CellIV or None
        Cell I–V law; ``None`` (or a law with ``is_linear = True``) means ohmic cells.

    Notes
    -----
    The array is immutable once built (a copy of ``g_s`` is kept): reprogramming means a new
    ``Crossbar``. :attr:`g_eff_s` costs one sparse factorisation of the network and a dense
    inverse of size ``rows + cols``; later linear batches are one GEMM.
    """

    def __init__(self, g_s, r_wire_ohm=0.0, *, r_wire_row_ohm=None, r_wire_col_ohm=None,
                 cell=None) -> None:
        caller = "Crossbar"
        g = _check_g(g_s, caller).copy()
        g.flags.writeable = False
        self.g_s = g
        self.r_wire_row_ohm, self.r_wire_col_ohm = _resolve_r(
            r_wire_ohm, r_wire_row_ohm, r_wire_col_ohm, caller)
        self.cell = _check_cell(cell, caller)
        r_max = max(self.r_wire_row_ohm, self.r_wire_col_ohm)
        if r_max > 0.0 and float(g.max()) * r_max > G_R_MAX:
            fail("g_s", caller, f"<= {G_R_MAX / r_max:.3g} S with wires of {r_max!r} ohm per "
                 f"pitch (cell-to-wire conductance ratio at most {G_R_MAX:g})",
                 f"array with {float(g.max())!r}")
        self._net = Network(g, self.r_wire_row_ohm, self.r_wire_col_ohm)
        self._g_eff = None
        self._g_eff32 = None
        self._ss = None
        self._lines = None
        #: Diagnostics of the last ``method="lines"`` call: passes, estimated error of the
        #: column currents relative to their magnitude with ideal wires, error bound of the
        #: expanded law per cell [A].
        self.lines_info: dict = {}

    @property
    def shape(self) -> tuple[int, int]:
        return self.g_s.shape

    @property
    def g_eff_s(self) -> np.ndarray:
        r"""Exact effective conductance matrix (rows, cols) [S]: :math:`I = V G_{\mathrm{eff}}`
        for ohmic cells (read-only, computed once)."""
        if self._g_eff is None:
            had_factors = self._net._lu_linear is not None
            with blas_single_thread():  # the same G_eff bits for any BLAS thread count
                ge = self._net.effective_conductance()
            if not had_factors:  # free the (large) sparse factors unless already in use
                self._net._lu_linear = None
            ge.flags.writeable = False
            self._g_eff = ge
        return self._g_eff

    # --------------------------------------------------------------- public API
    def column_currents(self, v_rows, *, method: str = "exact", n_fast: int = 3,
                        xtol_v: float = 1e-12, max_iter: int = 50,
                        rtol: float = LINES_RTOL_DEFAULT) -> np.ndarray:
        """Column currents [A], shape (batch, cols) (or (cols,) for 1-D ``v_rows`` [V]).

        Ohmic cells: ``v_rows @ g_eff_s`` (float32 GEMM when ``v_rows`` is float32).
        Nonlinear cells: see :func:`column_currents` for ``method``, ``n_fast``, ``xtol_v``,
        ``rtol``.
        """
        caller = "Crossbar.column_currents"
        v, squeeze = _check_v(v_rows, self.shape[0], caller)
        if self.cell is None:
            if v.dtype == np.float32:
                if self._g_eff32 is None:
                    self._g_eff32 = self.g_eff_s.astype(np.float32)
                ge = self._g_eff32
            else:
                ge = self.g_eff_s
            out = _fixed_chunk_gemm(v, ge)
        elif method == "lines":
            rtol = check_scalar("rtol", rtol, caller, lo=0.0, lo_open=True)
            out = self._lines_currents(np.asarray(v, dtype=np.float64), rtol)
        else:
            out = self._solve(v, method, n_fast, xtol_v, max_iter, caller).column_currents_a
        _check_finite_currents(out, self.g_s, v, caller)
        return out[0] if squeeze else out

    def _lines_solver(self, v_max: float):
        """The line-relaxation solver for row voltages within ±``v_max`` (cached; rebuilt
        for a wider range). Cell voltages of a passive array lie within ±2·v_max."""
        cached = self._lines
        if cached is not None and cached[0] >= v_max:
            return cached[1]
        from ._lines import LineSolver, fit_polynomials
        from .expansion import expand

        law, g = self.cell, self.g_s
        vm = v_max if v_max > 0.0 else 1.0
        vs = 2.0 * vm                      # cell voltages of a passive array: within ±2·v_max
        if getattr(law, "is_separable", False):
            coef = g[None]
            poly, _ = fit_polynomials(lambda vv: law.drive(vv)[None], vs, LINES_RTOL)
            probe = np.linspace(0.0, vs, 65)
            if poly.shape[1] % 2 == 0 and np.array_equal(law.drive(-probe), -law.drive(probe)):
                poly[:, 1::2] = 0.0        # an odd law (sinh): odd polynomials (V·Q(V²))
        else:
            grid = vs * np.cos(np.pi * (np.arange(129) + 0.5) / 129)
            ex = expand(lambda gg, vv: law.current(vv, gg), float(g.min()), float(g.max()),
                        grid, LINES_RTOL)
            coef = ex.coefficients(g)
            norm2 = np.sum(ex.node_coef ** 2, axis=0)          # singular values squared

            def basis(vv):      # b_r(V) = Σ_m a_r(g_m) F(g_m, V) / σ_r²: exact projection
                f = law.current(np.atleast_1d(vv)[None, :], ex.nodes[:, None])
                return (ex.node_coef.T @ f) / norm2[:, None]

            poly, _ = fit_polynomials(basis, vs, LINES_RTOL)
        # chord conductance: the mid-range of the cells' slope over ±v_max
        probe = np.linspace(-vm, vm, 9)
        slopes = np.stack([law.current_and_derivative(p, g)[1] for p in probe])
        chord = 0.5 * (slopes.min(axis=0) + slopes.max(axis=0))
        # the linear reference network: every cell at its small-signal conductance at 0 V
        g_lin = law.current_and_derivative(np.zeros_like(g), g)[1]
        if max(self.r_wire_row_ohm, self.r_wire_col_ohm) == 0.0:
            g_lin = g_eff = None
        elif np.array_equal(g_lin, g):
            g_eff = self.g_eff_s
        else:
            with blas_single_thread():
                g_eff = Network(g_lin, self.r_wire_row_ohm,
                                self.r_wire_col_ohm).effective_conductance()
        solver = LineSolver(g, self.r_wire_row_ohm, self.r_wire_col_ohm, coef, poly, vs, chord,
                            g_lin_s=g_lin, g_eff_s=g_eff)
        # measured error of the law as the solver evaluates it, on sampled cells and voltages
        pick = np.unique(np.linspace(0, g.size - 1, 64).astype(np.int64))
        gi = np.sort(g.ravel())[pick]
        vv = np.linspace(-vs, vs, 801)
        t = vv / vs
        pv = np.stack([np.polyval(p.astype(np.float64), t) for p in poly])      # (K, n)
        ci = coef.reshape(coef.shape[0], -1)[:, np.argsort(g.ravel())[pick]]   # (K, m)
        model = ci.T @ pv
        solver.table_bound_a = float(np.max(np.abs(model - law.current(vv[None, :],
                                                                        gi[:, None]))))
        self._lines = (vm, solver)
        return solver

    def _lines_currents(self, v: np.ndarray, rtol: float) -> np.ndarray:
        scale = float(np.max(np.abs(v))) if v.size else 0.0
        if scale == 0.0:
            return np.zeros((v.shape[0], self.shape[1]))
        solver = self._lines_solver(scale)
        try:
            out, passes, err = solver.column_currents(v, rtol)
        except RuntimeError as exc:
            raise ConvergenceError(f"Crossbar.column_currents(method='lines'): {exc}; "
                                   "use method='exact'") from None
        self.lines_info = {"passes": passes, "rel_error_est": err,
                           "table_bound_a": solver.table_bound_a,
                           "rho_prior": solver.rho_prior}
        return out

    def solve(self, v_rows, *, method: str = "exact", n_fast: int = 3, xtol_v: float = 1e-12,
              max_iter: int = 50) -> CrossbarSolution:
        """Node voltages and column currents for row voltages ``v_rows`` (batch, rows) [V]."""
        caller = "Crossbar.solve"
        v, _ = _check_v(v_rows, self.shape[0], caller)
        sol = self._solve(v.astype(np.float64), method, n_fast, xtol_v, max_iter, caller)
        _check_finite_currents(sol.column_currents_a, self.g_s, v, caller)
        return sol

    # --------------------------------------------------------------- internals
    def _solve(self, v, method, n_fast, xtol_v, max_iter, caller) -> CrossbarSolution:
        check_choice("method", method, caller, _METHODS)
        n_fast = check_int("n_fast", n_fast, caller, lo=0)
        xtol_v = check_scalar("xtol_v", xtol_v, caller, lo=0.0, lo_open=True)
        max_iter = check_int("max_iter", max_iter, caller, lo=1)
        v = np.asarray(v, dtype=np.float64)
        net = self._net
        chunk = max(1, _CHUNK_ELEMENTS // max(net.n, 1))
        if v.shape[0] == 0:
            rows, cols = self.shape
            empty = np.zeros((0, rows, cols))
            return CrossbarSolution(empty, empty.copy(), np.zeros((0, cols)), 0)
        parts = []
        for s in range(0, v.shape[0], chunk):
            vb = v[s:s + chunk]
            if self.cell is None:
                vr, vc = net.solve_linear(vb)
                i_cell = self.g_s * (vr - vc)
                parts.append((vr, vc, net.output_currents(vc, i_cell), 0))
            else:
                # an exponential cell law may overflow on the way; non-finite iterates end in
                # ConvergenceError, so NumPy's overflow warnings are not news to the caller
                try:
                    with np.errstate(over="ignore", invalid="ignore"):
                        parts.append(self._solve_nonlinear(vb, method, n_fast, xtol_v,
                                                           max_iter))
                except RuntimeError as exc:  # SuperLU: a Jacobian singular in float64
                    if isinstance(exc, ConvergenceError):
                        raise
                    raise ConvergenceError(
                        f"Newton's method for the crossbar met a Jacobian that is singular in "
                        f"float64 ({exc}; cell currents overflowed at |V| up to "
                        f"{float(np.max(np.abs(vb))):.3g} V); reduce the wire resistance or "
                        "the input voltage.") from None
        if len(parts) == 1:
            vr, vc, i, it = parts[0]
            return CrossbarSolution(np.array(vr), np.array(vc), i, it)
        return CrossbarSolution(
            np.concatenate([np.asarray(p[0]) for p in parts]),
            np.concatenate([np.asarray(p[1]) for p in parts]),
            np.concatenate([p[2] for p in parts]),
            max(p[3] for p in parts),
        )

    def _residual(self, x: np.ndarray, v: np.ndarray, a_wire, b_drv, derivative: bool = True):
        """KCL residual (n, batch) [A], node voltages, cell currents (and dI/dV) at ``x``."""
        net = self._net
        vr, vc = net.expand(x, v)
        if derivative:
            i_cell, di = self.cell.current_and_derivative(vr - vc, self.g_s)
        else:
            i_cell, di = self.cell.current(vr - vc, self.g_s), None
        f = a_wire @ x - b_drv
        flat = i_cell.reshape(i_cell.shape[0], -1).T
        if net.has_row:
            f[: net.n_row] += flat
        if net.has_col:
            f[net.n_row:] -= flat
        return f, vr, vc, i_cell, di

    def _small_signal(self):
        """Zero-bias cell conductances g0 = dI/dV(0) [S] and the factors of that network."""
        if self._ss is None:
            g0 = self.cell.current_and_derivative(np.zeros(self.g_s.shape), self.g_s)[1]
            g0 = np.asarray(g0, dtype=np.float64)
            if np.allclose(g0, self.g_s, rtol=1e-12, atol=0.0):
                self._ss = (self.g_s, self._net.lu_linear)
            else:
                self._ss = (g0, self._net.factorize(g0.ravel()))
        return self._ss

    @staticmethod
    def _relaxation(di: np.ndarray, g0: np.ndarray) -> np.ndarray:
        """Per-vector ω = 2/(c_min + c_max), c = (dI/dV)/g0 over the cells (and 1 at 0 V)."""
        pos = g0 > 0
        if not np.any(pos):
            return np.ones(di.shape[0])
        c = di[:, pos] / g0[pos]
        c_min = np.minimum(c.min(axis=1), 1.0)
        c_max = np.maximum(c.max(axis=1), 1.0)
        return 2.0 / (c_min + c_max)

    def _solve_nonlinear(self, v, method, n_fast, xtol_v, max_iter):
        net = self._net
        batch = v.shape[0]
        if net.n == 0:  # ideal wires: each cell sees its row voltage
            vr, vc = net.expand(np.zeros((0, batch)), v)
            i_cell = self.cell.current(vr - vc, self.g_s)
            return vr, vc, net.output_currents(vc, i_cell), 0
        a_wire = net.matrix(np.zeros(net.rows * net.cols))
        b_drv = np.zeros((net.n, batch))
        if net.has_row:
            b_drv[np.arange(net.rows) * net.cols] = v.T / net.r_row_ohm
        # Chord iterations with the factors A0 of the zero-bias (small-signal) network: a full
        # step from x = 0 (the small-signal solution), then relaxed steps.
        g0, lu0 = self._small_signal()
        x = np.zeros((net.n, batch))
        x = x - net.solve(lu0, self._residual(x, v, a_wire, b_drv, False)[0])
        if method == "fast":
            n_chord = n_fast
        elif method == "newton":
            n_chord = max(n_fast, 2)
        else:  # exact: chord while it contracts fast, to the Newton tolerance
            n_chord = _CHORD_MAX
        scale = np.maximum(np.max(np.abs(v), axis=1), 1e-300)
        prev = np.full(batch, np.inf)
        done = np.zeros(batch, dtype=bool)
        n_done = 0
        abs_a = abs(a_wire)
        for _ in range(n_chord):
            n_done += 1
            f, _, _, i_cell, di = self._residual(x, v, a_wire, b_drv)
            omega = self._relaxation(di, g0)
            dx = omega[None, :] * net.solve(lu0, f)
            x = x - dx
            if method != "exact":
                continue
            step = np.max(np.abs(dx), axis=0)
            # converged: tiny step while contracting (error <= step for ratio <= 1/2), with KCL
            # met (a tiny step can also come from a tiny relaxation factor far from the root)
            with np.errstate(over="ignore", invalid="ignore"):
                i_flat = np.abs(i_cell.reshape(batch, -1))
                f_scale = np.max(abs_a @ np.abs(x + dx), axis=0) + np.max(i_flat, axis=1)
                kcl = np.max(np.abs(f), axis=0) <= _KCL_RTOL * f_scale
            done |= (step <= xtol_v * scale) & (step <= _CHORD_CONTRACTION * prev) & kcl
            slow = step > _CHORD_CONTRACTION * prev
            prev = step
            if np.all(done | slow):
                break
        if method == "fast":
            f, vr, vc, i_cell, _ = self._residual(x, v, a_wire, b_drv, False)
            f_scale = np.max(abs_a @ np.abs(x), axis=0) + np.max(
                np.abs(i_cell.reshape(batch, -1)), axis=1)
            bad = ~(np.max(np.abs(f), axis=0) <= _FAST_KCL_RTOL * f_scale)
            if np.any(bad):
                raise ConvergenceError(
                    f"method='fast' ({n_fast} chord steps) is far from the solution: KCL is "
                    f"violated by more than {_FAST_KCL_RTOL:.0%} of the node currents for "
                    f"{int(bad.sum())} of {batch} input vectors (|V| up to "
                    f"{float(np.max(np.abs(v))):.3g} V); use method='exact'.")
            return vr, vc, net.output_currents(vc, i_cell), n_fast
        iters = 0
        for k in np.flatnonzero(~done):
            x[:, k], it = self._newton(x[:, k].copy(), v[k:k + 1], a_wire, b_drv[:, k:k + 1],
                                       xtol_v, max_iter)
            iters = max(iters, it)
        iters += n_done
        _, vr, vc, i_cell, _ = self._residual(x, v, a_wire, b_drv, False)
        return vr, vc, net.output_currents(vc, i_cell), iters

    def _newton(self, x, v, a_wire, b_drv, xtol_v, max_iter):
        """Damped Newton (line search, Jacobian reuse) for one input vector -> (x, iterations)."""
        net = self._net
        scale = max(float(np.max(np.abs(v))), 1e-300)
        f, _, _, i_cell, di = self._residual(x[:, None], v, a_wire, b_drv)
        fnorm = float(np.linalg.norm(f))
        abs_a = abs(a_wire)
        step = prev_step = np.inf
        lu = None
        for it in range(1, max_iter + 1):
            # Newton with Jacobian reuse (Shamanskii): refactorise unless the last step with
            # these factors contracted the error by at least _REUSE_CONTRACTION.
            if lu is None or step > _REUSE_CONTRACTION * prev_step:
                lu = net.factorize(di.ravel())
            dx = -net.solve(lu, f[:, 0])
            t = 1.0
            while True:
                x_new = x + t * dx
                f_new, _, _, i_new, di_new = self._residual(x_new[:, None], v, a_wire, b_drv)
                fn_new = float(np.linalg.norm(f_new))
                if fn_new <= (1.0 - 1e-4 * t) * fnorm or t < 1e-6 or fnorm == 0.0:
                    break
                t *= 0.5
            prev_step, step = step, float(np.max(np.abs(t * dx))) if dx.size else 0.0
            if t < 1.0:
                lu = None
            x, f, fnorm, di, i_cell = x_new, f_new, fn_new, di_new, i_new
            if not np.isfinite(fnorm):
                break
            # KCL residual scale at this iterate: the largest current meeting at a node [A]
            # (at the start it can be astronomically larger than at the solution)
            f_scale = float(np.max(abs_a @ np.abs(x))) + float(np.max(np.abs(i_cell)))
            if np.max(np.abs(f)) <= _FTOL * f_scale or (
                    step <= xtol_v * scale and np.max(np.abs(f)) <= _KCL_RTOL * f_scale):
                return x, it
        raise ConvergenceError(
            f"Newton's method for the crossbar did not converge in {max_iter} iterations "
            f"(last step {step:.3g} V, KCL residual {fnorm:.3g} A); reduce the wire resistance "
            f"or the input voltage, or raise max_iter."
        )


# ------------------------------------------------------------------- functional API
_cache: OrderedDict = OrderedDict()


def _crossbar_for(g_s, r_row, r_col, cell, caller) -> Crossbar:
    g = _check_g(g_s, caller)
    cell = _check_cell(cell, caller)
    # SHA-256 straight from the array's buffer (SHA extensions: 2 ms for 4 MB; BLAKE2b of a
    # bytes copy took 6 ms of the IR-drop tile's one-off set-up)
    digest = hashlib.sha256(g).hexdigest()
    key = (g.shape, digest, r_row, r_col, cell)
    try:
        hash(key)
    except TypeError:  # unhashable cell law: no caching
        return Crossbar(g, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=cell)
    xb = _cache.get(key)
    if xb is None:
        xb = Crossbar(g, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=cell)
        _cache[key] = xb
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    else:
        _cache.move_to_end(key)
    return xb


def effective_conductance(g_s, r_wire_row_ohm=0.0, r_wire_col_ohm=0.0) -> np.ndarray:
    r"""Exact effective conductance of an ohmic crossbar with wire resistance.

    .. math:: I_j\,[\mathrm{A}] = \sum_i V_i\,[\mathrm{V}]\; G_{\mathrm{eff}}[i, j]\,[\mathrm{S}]

    for the network of the module docstring (driver at column 0, virtual ground below the last
    row). With both wires resistive, :math:`G_{\mathrm{eff}} = -Y[\mathrm{in}, \mathrm{out}]`
    with :math:`Y` the Schur complement of the nodal matrix onto the ``rows + cols`` driver and
    ground terminals, merged up from the cells by nested dissection
    (:mod:`cimsim.array._geff`); with one wire ideal, one solve of the independent chains.

    Parameters
    ----------
    g_s : array_like, shape (rows, cols)
        Cell conductances [S], >= 0.
    r_wire_row_ohm, r_wire_col_ohm : float
        Row / column wire resistance per cell pitch [ohm], >= 0.

    Returns
    -------
    ndarray, shape (rows, cols)
        :math:`G_{\mathrm{eff}}` [S]; equals ``g_s`` when both resistances are 0.

    References
    ----------
    .. [1] A. Chen, IEEE Trans. Electron Devices 60(4), 1318–1326, 2013.
       doi:10.1109/TED.2013.2246791
    """
    caller = "effective_conductance"
    rr = _check_r("r_wire_row_ohm", r_wire_row_ohm, caller)
    rc = _check_r("r_wire_col_ohm", r_wire_col_ohm, caller)
    return np.array(_crossbar_for(g_s, rr, rc, None, caller).g_eff_s)


def column_currents(g_s, v_rows, r_wire_ohm=0.0, *, r_wire_row_ohm=None, r_wire_col_ohm=None,
                    cell=None, method: str = "exact", n_fast: int = 3,
                    xtol_v: float = 1e-12, max_iter: int = 50,
                    rtol: float = LINES_RTOL_DEFAULT) -> np.ndarray:
    r"""Column currents of a crossbar with wire resistance and (optionally) nonlinear cells.

    .. math:: I_j\,[\mathrm{A}] = \frac{V^{\mathrm{col}}_{\mathrm{rows}-1,\,j}}{r_{col}}
              \quad\text{(current into the virtual ground)},

    with the node voltages solving KCL of the network of the module docstring; with ohmic cells
    this is exactly ``v_rows @ effective_conductance(g_s, r_row, r_col)``, and with
    ``r = 0`` it is ``v_rows @ g_s``.

    Parameters
    ----------
    g_s : array_like, shape (rows, cols)
        Cell (small-signal) conductances [S], >= 0.
    v_rows : array_like, shape (batch, rows) or (rows,)
        Row driver voltages [V].
    r_wire_ohm : float
        Wire resistance per cell pitch of row and column wires [ohm], >= 0.
    r_wire_row_ohm, r_wire_col_ohm : float, optional
        Separate row / column wire resistance per cell pitch [ohm]; override ``r_wire_ohm``.
    cell : CellIV or None
        Cell law, e.g. ``device_models.SinhIV(v0_v=0.25)``; ``None`` means ohmic.
    method : {"exact", "newton", "fast", "lines"}
        Nonlinear cells only: converged solve (chord steps, then damped Newton where needed),
        per-vector damped Newton, ``n_fast`` relaxed chord steps from the small-signal
        solution, or the line relaxation to the estimated tolerance ``rtol`` (see the module
        docstring).
    n_fast : int
        Chord steps of the fast approximation [-].
    xtol_v : float
        Convergence when the largest node-voltage step is below ``xtol_v · max|v_rows|`` [-].
    max_iter : int
        Newton iterations allowed per input vector before :class:`ConvergenceError`.
    rtol : float
        ``method="lines"``: passes stop when the estimated error of every column current is
        at most ``rtol`` of the column's current magnitude with ideal wires,
        :math:`\sum_i |F(g_{ij}, v_i)|` [-].

    Returns
    -------
    ndarray, shape (batch, cols) (or (cols,) for 1-D ``v_rows``)
        Column currents [A].

    Notes
    -----
    Factorisations and :math:`G_{\mathrm{eff}}` are cached for the last few arrays (keyed by a
    hash of ``g_s`` and the resistances); use :class:`Crossbar` to hold them explicitly.

    References
    ----------
    .. [1] A. Chen, IEEE Trans. Electron Devices 60(4), 1318–1326, 2013.
       doi:10.1109/TED.2013.2246791
    """
    caller = "column_currents"
    rr, rc = _resolve_r(r_wire_ohm, r_wire_row_ohm, r_wire_col_ohm, caller)
    xb = _crossbar_for(g_s, rr, rc, cell, caller)
    return xb.column_currents(v_rows, method=method, n_fast=n_fast, xtol_v=xtol_v,
                              max_iter=max_iter, rtol=rtol)


def solve_crossbar(g_s, v_rows, r_wire_ohm=0.0, *, r_wire_row_ohm=None, r_wire_col_ohm=None,
                   cell=None, method: str = "exact", n_fast: int = 3, xtol_v: float = 1e-12,
                   max_iter: int = 50) -> CrossbarSolution:
    """Full solve: node voltages of both wires and column currents (see :func:`column_currents`
    for the parameters). ``v_rows`` of shape (rows,) is treated as a batch of one.
    """
    caller = "solve_crossbar"
    rr, rc = _resolve_r(r_wire_ohm, r_wire_row_ohm, r_wire_col_ohm, caller)
    xb = _crossbar_for(g_s, rr, rc, cell, caller)
    return xb.solve(v_rows, method=method, n_fast=n_fast, xtol_v=xtol_v, max_iter=max_iter)


def cell_voltages(g_s, v_rows, r_wire_ohm=0.0, *, r_wire_row_ohm=None, r_wire_col_ohm=None,
                  cell=None, method: str = "exact") -> np.ndarray:
    """Voltage across every cell, shape (batch, rows, cols) [V] (the IR-drop map)."""
    return solve_crossbar(g_s, v_rows, r_wire_ohm, r_wire_row_ohm=r_wire_row_ohm,
                          r_wire_col_ohm=r_wire_col_ohm, cell=cell,
                          method=method).cell_voltages_v
