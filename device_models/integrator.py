"""Leaky integrator: a capacitor discharged through a subthreshold transistor.

The state is the voltage ``v`` [V] of a capacitor ``C`` [F] measured from a reference node. A
transistor (gate at ``v_gate_v``, bulk and source at the reference) connects the capacitor to
the reference and sets the leak; its current is the EKV drain current of
:func:`device_models.mosfet_current` at ``temperature_k``, so the leak follows the
temperature and the gate bias as the transistor does:

.. math::

    C \\frac{dv}{dt} = -I_D(V_G, v; T), \\qquad
    g_0 = \\left.\\frac{\\partial I_D}{\\partial V_{DS}}\\right|_{V_{DS}=0}, \\qquad
    \\tau = C / g_0

For ``|v| ≪ U_T`` the transistor is a linear conductance ``g_0`` and the capacitor decays as
``v(t) = v(0) e^{-t/τ}``; in weak inversion ``g_0 = I_{D,sat} / U_T`` rises by ``e`` per
``n·U_T`` of gate voltage. For ``|v| ≫ U_T`` the current saturates and the decay becomes
linear in time (the integrator's large-signal nonlinearity).

References
----------
.. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381 (EKV model).
.. [2] Mead, "Neuromorphic electronic systems", Proc. IEEE 78, 1629 (1990),
   doi:10.1109/5.58356 (subthreshold transistors as leak conductances).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_array, check_int, check_scalar, fail
from ._jit import backend, jit, prange
from .constants import T_REF_K
from .mosfet import ekv_numpy, ekv_params, ekv_scalar, mosfet_small_signal

__all__ = ["integrate_leak", "leak_conductance_s", "leak_gate_voltage_v"]


def leak_conductance_s(v_gate_v, card, temperature_k: float = T_REF_K, *, w_m=None,
                       l_m=None) -> np.ndarray:
    """Small-signal leak conductance ``g_0 = ∂I_D/∂V_DS`` at ``V_DS = 0`` [S].

    Parameters
    ----------
    v_gate_v : array_like
        Gate voltage of the leak transistor above the reference node [V].
    card : Card or str
        MOSFET card.
    temperature_k : float
        Temperature [K].
    w_m, l_m : float, optional
        Channel width and length [m]; default the card's.

    Returns
    -------
    ndarray
        ``g_0`` [S], shape of ``v_gate_v``.

    References
    ----------
    Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    vg = check_array("v_gate_v", v_gate_v, "leak_conductance_s")
    return mosfet_small_signal(vg, np.zeros_like(vg), card, temperature_k, w_m=w_m,
                               l_m=l_m)[2]


def leak_gate_voltage_v(g_target_s, card, temperature_k: float = T_REF_K, *, w_m=None,
                        l_m=None, v_lo_v: float = -1.0, v_hi_v: float = 3.0) -> np.ndarray:
    """Gate voltage that sets the leak conductance ``g_0`` to ``g_target_s`` [V].

    ``g_0(V_G)`` rises monotonically; the root is found by bisection in
    ``[v_lo_v, v_hi_v]`` to 1e-9 V.

    Parameters
    ----------
    g_target_s : array_like
        Target leak conductances [S], > 0.
    card, temperature_k, w_m, l_m
        As :func:`leak_conductance_s`.
    v_lo_v, v_hi_v : float
        Search interval of the gate voltage [V].

    Returns
    -------
    ndarray
        Gate voltages [V], shape of ``g_target_s``.
    """
    caller = "leak_gate_voltage_v"
    g = check_array("g_target_s", g_target_s, caller, positive=True)
    lo = np.full(g.shape, float(v_lo_v))
    hi = np.full(g.shape, float(v_hi_v))
    g_lo = leak_conductance_s(lo, card, temperature_k, w_m=w_m, l_m=l_m)
    g_hi = leak_conductance_s(hi, card, temperature_k, w_m=w_m, l_m=l_m)
    bad = (g < g_lo) | (g > g_hi)
    if np.any(bad):
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        fail("g_target_s", caller, f"between g_0({v_lo_v} V) and g_0({v_hi_v} V) "
             f"[{float(g_lo.flat[0]):.3g}, {float(g_hi.flat[0]):.3g}] S", float(g[i]))
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        up = leak_conductance_s(mid, card, temperature_k, w_m=w_m, l_m=l_m) < g
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
        if float(np.max(hi - lo)) < 1e-9:
            break
    return 0.5 * (lo + hi)


def integrate_leak(v_v, dt_s: float, c_f: float, v_gate_v, card,
                   temperature_k: float = T_REF_K, *, w_m=None, l_m=None,
                   n_sub: int | None = None) -> np.ndarray:
    """Capacitor voltage after leaking for ``dt_s`` through the transistor [V].

    Integrates ``C dv/dt = -I_D(V_G, v; T)`` with ``n_sub`` classical Runge-Kutta (RK4)
    steps (default: enough that each step is at most a quarter of the fastest small-signal
    time constant ``C/g_0``, at least 4); ``I_D`` is the EKV current (source and bulk at the
    reference node, so a negative ``v`` leaks back with the source and drain roles swapped).

    Parameters
    ----------
    v_v : array_like
        Capacitor voltages above the reference [V].
    dt_s : float
        Leak time [s].
    c_f : float
        Capacitance [F].
    v_gate_v : array_like
        Gate voltages [V], broadcast with ``v_v``.
    card, temperature_k, w_m, l_m
        As :func:`leak_conductance_s`.
    n_sub : int, optional
        RK4 sub-steps [-].

    Returns
    -------
    ndarray
        Voltages after ``dt_s`` [V], shape of the broadcast.

    References
    ----------
    Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    caller = "integrate_leak"
    v = check_array("v_v", v_v, caller)
    vg = check_array("v_gate_v", v_gate_v, caller)
    dt_s = check_scalar("dt_s", dt_s, caller, lo=0.0)
    c_f = check_scalar("c_f", c_f, caller, lo=0.0, lo_open=True)
    if n_sub is None:
        g0 = float(np.max(leak_conductance_s(vg, card, temperature_k, w_m=w_m, l_m=l_m)))
        n_sub = int(min(max(4, np.ceil(4.0 * g0 * dt_s / c_f)), 10_000))
    n_sub = check_int("n_sub", n_sub, caller, lo=1)
    p = ekv_params(card, check_scalar("temperature_k", temperature_k, caller, lo=0.0,
                                      lo_open=True), w_m, l_m)
    vg = np.broadcast_to(vg, np.broadcast_shapes(vg.shape, v.shape))
    v = np.array(np.broadcast_to(v, vg.shape), dtype=np.float64)

    vg = np.ascontiguousarray(vg, dtype=np.float64).ravel()
    out = np.empty_like(vg)
    args = (float(dt_s), float(c_f), int(n_sub), float(p.vt0_v), float(p.i_spec_a), float(p.n),
            float(p.ut_v), float(p.dibl_v_per_v), float(p.clm_per_v))
    if backend() == "numpy":
        out[:] = _integrate_leak_np(v.ravel(), vg, *args)
    else:
        _integrate_leak_kernel(v.ravel(), vg, *args, out)
    return out.reshape(v.shape)


def _integrate_leak_np(v, vg, dt, c, n_sub, vt0, i_spec, n, ut, dibl, clm):
    """NumPy reference of :func:`_integrate_leak_kernel` (same RK4 steps, same order)."""

    def rate(x):
        return -ekv_numpy(vg, x, vt0, i_spec, n, ut, dibl, clm)[0] / c

    h = dt / n_sub
    for _ in range(n_sub):
        k1 = rate(v)
        k2 = rate(v + 0.5 * h * k1)
        k3 = rate(v + 0.5 * h * k2)
        k4 = rate(v + h * k3)
        v = v + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return v


@jit
def _leak_rate(vg, x, c, vt0, i_spec, n, ut, dibl, clm):
    return -ekv_scalar(vg, x, vt0, n, i_spec, ut, dibl, clm)[0] / c


@jit(parallel=True)
def _integrate_leak_kernel(v, vg, dt, c, n_sub, vt0, i_spec, n, ut, dibl, clm, out):
    h = dt / n_sub
    for i in prange(v.size):
        x = v[i]
        g = vg[i]
        for _ in range(n_sub):
            k1 = _leak_rate(g, x, c, vt0, i_spec, n, ut, dibl, clm)
            k2 = _leak_rate(g, x + 0.5 * h * k1, c, vt0, i_spec, n, ut, dibl, clm)
            k3 = _leak_rate(g, x + 0.5 * h * k2, c, vt0, i_spec, n, ut, dibl, clm)
            k4 = _leak_rate(g, x + h * k3, c, vt0, i_spec, n, ut, dibl, clm)
            x = x + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        out[i] = x
