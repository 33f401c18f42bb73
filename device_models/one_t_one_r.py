r"""1T1R cell: an RRAM in series with its access NMOS, solved exactly in every region.

The bit line drives ``V`` [V] across the series pair (RRAM on the bit-line side, transistor
source on the grounded source line), the word line sets the gate voltage ``V_G`` [V]. The
voltage :math:`x` across the RRAM solves Kirchhoff's current law at the internal node,

.. math::

    f(x) = g\,v_0 \sinh(x/v_0) - I_D(V_G, V - x) = 0, \qquad
    f'(x) = g\cosh(x/v_0) + g_{ds}(V_G, V - x) > 0,

with :math:`I_D` the EKV drain current (:func:`device_models.mosfet.ekv_scalar`, valid from
weak to strong inversion). :math:`f` is strictly increasing and changes sign on
:math:`[\min(0,V), \max(0,V)]`, so a Newton iteration safeguarded by bisection on that
bracket converges in every inversion region; it stops when KCL holds to ``1e-13`` relative.
The cell's small-signal conductance seen by the crossbar is the series combination
:math:`\mathrm{d}I/\mathrm{d}V = g_r g_{ds}/(g_r + g_{ds})`, :math:`g_r = g\cosh(x/v_0)`.

Strongly on (large V_G) the transistor is a small series resistance and the cell reduces to
the RRAM alone. With the *input on the gate* (subthreshold mode) the transistor limits the
current, :math:`I \propto \exp(V_G/(n U_T))`: one decade per :math:`n U_T \ln 10` of gate
voltage, and a strong temperature dependence through :math:`U_T` and :math:`V_T(T)`
(:func:`subthreshold_temperature_coefficient`).

References
----------
.. [1] C. C. Enz, F. Krummenacher and E. A. Vittoz, "An analytical MOS transistor model valid
   in all regions of operation and dedicated to low-voltage and low-current applications",
   Analog Integr. Circuits Signal Process. 8, 83–114 (1995). doi:10.1007/BF01239381
.. [2] P.-Y. Chen and S. Yu, "Compact modeling of RRAM devices and its applications in 1T1R
   and 1S1R array design", IEEE Trans. Electron Devices 62(12), 4022–4028 (2015).
   doi:10.1109/TED.2015.2492421
.. [3] F. Nakhle, A. H. Harfouche, H. Karam and V. Tserolas, "Exploring subthreshold
   processing for next-generation TinyAI", Front. Comput. Neurosci. 19, 1638782 (2025)
   (motivation of the subthreshold mode; no numbers are taken from it).
   doi:10.3389/fncom.2025.1638782
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, NamedTuple

import numpy as np

from . import cards as _cards
from ._checks import check_array, check_scalar, fail
from ._jit import backend, jit, prange
from .constants import NEWTON_MAX_ITER, T_REF_K, thermal_voltage_v
from .mosfet import ekv_numpy, ekv_params, ekv_scalar

__all__ = [
    "OneTOneRIV",
    "OneTOneRSolution",
    "solve_1t1r",
    "subthreshold_slope_v_per_decade",
    "subthreshold_temperature_coefficient",
]

#: KCL residual, relative to the branch current, at which the Newton iteration stops [-].
KCL_RTOL = 1e-13
#: Iteration cap: Newton steps plus bisection fall-backs (bisection alone needs ~1100 steps to
#: exhaust a float64 bracket, Newton needs a handful) [-].
_MAX_ITER = 4 * NEWTON_MAX_ITER


class OneTOneRSolution(NamedTuple):
    """Solved operating point of 1T1R cells (arrays of the broadcast shape).

    Attributes
    ----------
    i_a : ndarray
        Cell current [A].
    di_dv_s : ndarray
        dI/dV of the series pair at fixed gate voltage [S].
    v_rram_v : ndarray
        Voltage across the RRAM [V] (the rest drops across the transistor).
    """

    i_a: np.ndarray
    di_dv_s: np.ndarray
    v_rram_v: np.ndarray


@jit
def _solve_scalar(v, vg, g, v0, vt0, n, i_spec, ut, dibl, clm):
    lo = min(0.0, v)
    hi = max(0.0, v)
    if v == 0.0:
        _, _, gds0 = ekv_scalar(vg, 0.0, vt0, n, i_spec, ut, dibl, clm)
        gr = g
        den = gr + gds0
        return 0.0, (gr * gds0 / den if den > 0.0 else 0.0), 0.0
    _, _, gch = ekv_scalar(vg, 0.0, vt0, n, i_spec, ut, dibl, clm)
    den = g + gch
    x = v * gch / den if den > 0.0 else 0.5 * v
    if not lo < x < hi:
        x = 0.5 * (lo + hi)
    for _ in range(_MAX_ITER):
        ir = g * v0 * math.sinh(x / v0)
        it, _, gds = ekv_scalar(vg, v - x, vt0, n, i_spec, ut, dibl, clm)
        fx = ir - it
        scale = max(abs(ir), abs(it))
        if abs(fx) <= KCL_RTOL * scale:
            break
        if fx > 0.0:
            hi = x
        else:
            lo = x
        dfx = g * math.cosh(x / v0) + gds
        xn = x - fx / dfx if dfx > 0.0 else 0.5 * (lo + hi)
        if not lo < xn < hi:
            xn = 0.5 * (lo + hi)
        if xn == x:
            break
        x = xn
    ir = g * v0 * math.sinh(x / v0)
    _, _, gds = ekv_scalar(vg, v - x, vt0, n, i_spec, ut, dibl, clm)
    gr = g * math.cosh(x / v0)
    den = gr + gds
    return ir, (gr * gds / den if den > 0.0 else 0.0), x


@jit(parallel=True)
def _solve_kernel(v, vg, g, v0, vt0, n, i_spec, ut, dibl, clm, i_out, d_out, x_out):
    for k in prange(v.size):
        a, b, c = _solve_scalar(v[k], vg[k], g[k], v0, vt0, n, i_spec, ut, dibl, clm)
        i_out[k] = a
        d_out[k] = b
        x_out[k] = c


def _solve_numpy(v, vg, g, v0, vt0, n, i_spec, ut, dibl, clm):
    """NumPy reference of :func:`_solve_kernel`: the same safeguarded Newton, vectorised."""
    zeros = np.zeros_like(v)
    lo = np.minimum(0.0, v)
    hi = np.maximum(0.0, v)
    _, _, gch = ekv_numpy(vg, zeros, vt0, i_spec, n, ut, dibl, clm)
    den = g + gch
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(den > 0.0, v * gch / den, 0.5 * v)
    x = np.where((lo < x) & (x < hi), x, 0.5 * (lo + hi))
    active = v != 0.0
    x = np.where(active, x, 0.0)
    for _ in range(_MAX_ITER):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        xa, va, ga, vga = x[a], v[a], g[a], vg[a]
        ir = ga * v0 * np.sinh(xa / v0)
        it, _, gds = ekv_numpy(vga, va - xa, vt0, i_spec, n, ut, dibl, clm)
        fx = ir - it
        done = np.abs(fx) <= KCL_RTOL * np.maximum(np.abs(ir), np.abs(it))
        la = np.where(fx > 0.0, lo[a], xa)
        ha = np.where(fx > 0.0, xa, hi[a])
        lo[a], hi[a] = la, ha
        dfx = ga * np.cosh(xa / v0) + gds
        mid = 0.5 * (la + ha)
        with np.errstate(invalid="ignore", divide="ignore"):
            xn = np.where(dfx > 0.0, xa - fx / dfx, mid)
        xn = np.where((la < xn) & (xn < ha), xn, mid)
        done |= xn == xa
        x[a] = np.where(done, xa, xn)
        active[a[done]] = False
    ir = g * v0 * np.sinh(x / v0)
    _, _, gds = ekv_numpy(vg, v - x, vt0, i_spec, n, ut, dibl, clm)
    gr = g * np.cosh(x / v0)
    den = gr + gds
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.where(den > 0.0, gr * gds / den, 0.0)
    return ir, d, x


def _one_t_one_r_card(card, caller):
    if isinstance(card, str):
        card = _cards.load(card)
    if not isinstance(card, _cards.Card) or card.kind != "1t1r":
        fail("card", caller, "a 1t1r card or its name", card)
    mos = _cards.load(card.mosfet_card)
    if mos.kind != "mosfet" or mos.polarity != "n":
        fail("card", caller, "a 1t1r card whose mosfet_card is an NMOS card",
             f"mosfet_card {card.mosfet_card!r}")
    return card


@dataclasses.dataclass(frozen=True)
class OneTOneRIV:
    r"""1T1R cell law for crossbar solves (the :class:`device_models.iv.CellIV` protocol).

    .. math:: I = g\,v_0\sinh(x/v_0) = I_D(V_G, V - x)

    ``current(v_v, g_s)`` and ``current_and_derivative(v_v, g_s)`` solve the series pair
    (module docstring) for voltage ``v_v`` [V] across the cell and RRAM small-signal
    conductance ``g_s`` [S], at the law's gate voltage ``v_gate_v`` (a scalar, or an array
    broadcasting with ``v_v`` and ``g_s``). Build it with :meth:`from_card`.

    Parameters
    ----------
    v0_v : float
        RRAM sinh voltage scale [V].
    v_gate_v : float or ndarray
        Gate (word-line) voltage [V].
    vt0_v, n, i_spec_a, ut_v, dibl_v_per_v, clm_per_v : float
        EKV parameters of the access transistor at the operating temperature
        (:class:`device_models.mosfet.EkvParams`).

    References
    ----------
    .. [1] C. C. Enz, F. Krummenacher and E. A. Vittoz (1995). doi:10.1007/BF01239381
    """

    v0_v: float
    v_gate_v: float | np.ndarray
    vt0_v: float
    n: float
    i_spec_a: float
    ut_v: float
    dibl_v_per_v: float
    clm_per_v: float
    is_linear: ClassVar[bool] = False

    @classmethod
    def from_card(cls, card, *, v_gate_v=None, temperature_k: float = T_REF_K) -> OneTOneRIV:
        """Cell law of a ``1t1r`` card at ``temperature_k`` [K]; gate voltage default the
        card's ``v_gate_read_v`` [V]."""
        caller = "OneTOneRIV.from_card"
        card = _one_t_one_r_card(card, caller)
        t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
        vg = card.v_gate_read_v if v_gate_v is None else check_array(
            "v_gate_v", v_gate_v, caller, lo=-10.0, hi=10.0)
        if np.ndim(vg) == 0:
            vg = float(vg)
        p = ekv_params(card.mosfet_card, t, w_m=card.w_m, l_m=card.l_m)
        return cls(v0_v=float(card.v0_v), v_gate_v=vg, vt0_v=p.vt0_v, n=p.n,
                   i_spec_a=p.i_spec_a, ut_v=p.ut_v, dibl_v_per_v=p.dibl_v_per_v,
                   clm_per_v=p.clm_per_v)

    def solve(self, v_v, g_s) -> OneTOneRSolution:
        """Operating point (current [A], dI/dV [S], RRAM voltage [V]) of cells at ``v_v``."""
        v, vg, g = np.broadcast_arrays(np.asarray(v_v, dtype=np.float64),
                                       np.asarray(self.v_gate_v, dtype=np.float64),
                                       np.asarray(g_s, dtype=np.float64))
        shape = v.shape
        v, vg, g = (np.ascontiguousarray(a.ravel()) for a in (v, vg, g))
        args = (self.v0_v, self.vt0_v, self.n, self.i_spec_a, self.ut_v, self.dibl_v_per_v,
                self.clm_per_v)
        if backend() == "numpy":
            i, d, x = _solve_numpy(v, vg, g, *args)
        else:
            i, d, x = np.empty(v.size), np.empty(v.size), np.empty(v.size)
            _solve_kernel(v, vg, g, *args, i, d, x)
        return OneTOneRSolution(i.reshape(shape), d.reshape(shape), x.reshape(shape))

    def current(self, v_v, g_s) -> np.ndarray:
        """Cell current [A] for ``v_v`` [V] across the cell and RRAM conductance ``g_s`` [S]."""
        return self.solve(v_v, g_s).i_a

    def current_and_derivative(self, v_v, g_s) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(i_a, di_dv_s)``: cell current [A] and dI/dV [S]."""
        s = self.solve(v_v, g_s)
        return s.i_a, s.di_dv_s

    def current_and_g_derivative(self, v_v, g_s) -> tuple[np.ndarray, np.ndarray]:
        r"""Return ``(i_a, di_dg_v)``: cell current [A] and its derivative in the RRAM
        conductance [V] at fixed cell and gate voltage.

        Differentiating :math:`g v_0\sinh(x/v_0) = I_D(V_G, V - x)` in :math:`g`:

        .. math:: \frac{\partial I}{\partial g} = v_0\sinh(x/v_0)\,
                  \frac{g_{ds}}{g_r + g_{ds}}
                  = \frac{I}{g}\,\frac{\mathrm{d}I/\mathrm{d}V}{g_r},
                  \qquad g_r = g\cosh(x/v_0),

        so a conductance fluctuation of the RRAM reaches the current attenuated by the
        transistor's share of the series pair (fully in strong inversion, hardly at all when
        the transistor limits the current). At :math:`g = 0` the limit is
        :math:`v_0\sinh(V/v0)`.
        """
        v, vg, g = np.broadcast_arrays(np.asarray(v_v, dtype=np.float64),
                                       np.asarray(self.v_gate_v, dtype=np.float64),
                                       np.asarray(g_s, dtype=np.float64))
        s = self.solve(v, g)
        v0 = self.v0_v
        with np.errstate(divide="ignore", invalid="ignore"):
            gr = g * np.cosh(s.v_rram_v / v0)
            d = np.where(g > 0.0, v0 * np.sinh(s.v_rram_v / v0) * s.di_dv_s / gr,
                         v0 * np.sinh(v / v0))
        return s.i_a, np.where(np.isfinite(d), d, 0.0)


def solve_1t1r(card, v_v, g_s, *, v_gate_v=None,
               temperature_k: float = T_REF_K) -> OneTOneRSolution:
    """Solve 1T1R cells of a card (validated public entry to :class:`OneTOneRIV`).

    Parameters
    ----------
    card : Card or str
        A ``1t1r`` card.
    v_v : array_like
        Voltage across the cell (bit line to source line) [V].
    g_s : array_like
        RRAM small-signal conductances [S], >= 0.
    v_gate_v : float or array_like, optional
        Gate voltage [V]; default the card's ``v_gate_read_v``. An array drives each cell's
        gate separately (subthreshold input mode).
    temperature_k : float
        Temperature [K] of the transistor (U_T, V_T, mobility).

    Returns
    -------
    OneTOneRSolution
        ``(i_a, di_dv_s, v_rram_v)`` broadcast over the three inputs.

    References
    ----------
    .. [1] P.-Y. Chen and S. Yu (2015). doi:10.1109/TED.2015.2492421
    """
    caller = "solve_1t1r"
    v = check_array("v_v", v_v, caller, lo=-10.0, hi=10.0)
    g = check_array("g_s", g_s, caller, nonneg=True)
    law = OneTOneRIV.from_card(card, v_gate_v=v_gate_v, temperature_k=temperature_k)
    try:
        np.broadcast_shapes(v.shape, g.shape, np.shape(law.v_gate_v))
    except ValueError:
        fail("g_s", caller, f"broadcastable with v_v {v.shape} and v_gate_v",
             f"array of shape {g.shape}")
    return law.solve(v, g)


def subthreshold_slope_v_per_decade(card, temperature_k: float = T_REF_K) -> float:
    r"""Gate-voltage swing per decade of cell current in subthreshold mode [V/decade].

    .. math:: S = n\,U_T \ln 10, \quad U_T = k_B T / q

    Parameters
    ----------
    card : Card or str
        A ``1t1r`` card (its access transistor's slope factor n).
    temperature_k : float
        Temperature [K].

    References
    ----------
    .. [1] Y. Tsividis and C. McAndrew, Operation and Modeling of the MOS Transistor, 3rd ed.,
       Oxford Univ. Press (2011), weak inversion. ISBN 978-0-19-517015-3
    """
    caller = "subthreshold_slope_v_per_decade"
    card = _one_t_one_r_card(card, caller)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    n = _cards.load(card.mosfet_card).slope_factor_n
    return float(n * thermal_voltage_v(t) * math.log(10.0))


def subthreshold_temperature_coefficient(card, v_gate_v, g_s, *, v_v=None,
                                         temperature_k: float = T_REF_K,
                                         dt_k: float = 0.5) -> np.ndarray:
    r"""Relative temperature sensitivity of the cell current, :math:`\partial\ln I/\partial T`
    [1/K], by a central difference of the full model (transistor U_T, V_T(T), μ(T)).

    In weak inversion :math:`I \propto \mu(T) U_T^2 \exp((V_G - V_T(T))/(n U_T))`, so the
    sensitivity is large (several %/K) and grows as the gate voltage drops below V_T: the
    price of the subthreshold operating point.

    Parameters
    ----------
    card : Card or str
        A ``1t1r`` card.
    v_gate_v : float or array_like
        Gate voltage(s) [V] (the input in subthreshold mode).
    g_s : float or array_like
        RRAM conductance(s) [S].
    v_v : float, optional
        Cell voltage [V]; default the card's ``v_read_v``.
    temperature_k : float
        Temperature [K].
    dt_k : float
        Half-step of the central difference [K].

    References
    ----------
    .. [1] C. C. Enz, F. Krummenacher and E. A. Vittoz (1995). doi:10.1007/BF01239381
    """
    caller = "subthreshold_temperature_coefficient"
    card = _one_t_one_r_card(card, caller)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    dt = check_scalar("dt_k", dt_k, caller, lo=0.0, lo_open=True, hi=0.5 * t)
    v = card.v_read_v if v_v is None else v_v
    i_hi = solve_1t1r(card, v, g_s, v_gate_v=v_gate_v, temperature_k=t + dt).i_a
    i_lo = solve_1t1r(card, v, g_s, v_gate_v=v_gate_v, temperature_k=t - dt).i_a
    if np.any((i_hi == 0.0) | (i_lo == 0.0)):     # ln 0 − ln 0: no relative change of 0 A
        g = np.asarray(g_s, dtype=np.float64)
        name, got = ("g_s", g_s) if np.any(g == 0.0) else ("v_v", v)
        fail(name, caller, "a value that gives a cell current other than 0 A (the relative "
             "temperature coefficient of no current is undefined)", got)
    return (np.log(np.abs(i_hi)) - np.log(np.abs(i_lo))) / (2.0 * dt)
