"""Leaky integrators for state-space recurrences: a capacitor discharged through a transistor.

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

The circuit is the analog membrane of :mod:`device_models.neuron` without a comparator:
:func:`leak_integrators` builds an :class:`~device_models.neuron.AnalogMembrane` whose
transistors each have their own gate bias (one decay rate per state), and
:func:`~device_models.neuron.integrate_membrane` integrates it (one RK4 kernel for both).
This module sizes the gates: :func:`leak_conductance_s` and its inverse
:func:`leak_gate_for_conductance_v` (the gate bias for a small-signal conductance at
``V_DS = 0``; a neuron's leak is sized for a current at its threshold voltage instead,
:func:`device_models.neuron.leak_gate_for_current_v`).

References
----------
.. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381 (EKV model).
.. [2] Mead, "Neuromorphic electronic systems", Proc. IEEE 78, 1629 (1990),
   doi:10.1109/5.58356 (subthreshold transistors as leak conductances).
"""

from __future__ import annotations

import numpy as np

from ._checks import check_array, check_scalar, fail
from .constants import T_REF_K
from .mosfet import ekv_params, mosfet_small_signal

__all__ = ["leak_conductance_s", "leak_gate_for_conductance_v", "leak_integrators"]


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


def leak_gate_for_conductance_v(g_target_s, card, temperature_k: float = T_REF_K, *,
                                w_m=None, l_m=None, v_lo_v: float = -1.0,
                                v_hi_v: float = 3.0) -> np.ndarray:
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
    caller = "leak_gate_for_conductance_v"
    g = check_array("g_target_s", g_target_s, caller, positive=True)
    lo = np.full(g.shape, check_scalar("v_lo_v", v_lo_v, caller))
    hi = np.full(g.shape, check_scalar("v_hi_v", v_hi_v, caller))
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


def leak_integrators(v_gate_v, card, c_f: float, temperature_k: float = T_REF_K, *,
                     vdd_v: float = 1.0, w_m=None, l_m=None):
    """Leaky integrators with per-element gate biases, as an analog membrane population.

    The EKV current depends on the gate only through ``V_G − V_T0``, so the gate bias of
    element ``j`` enters as a threshold shift ``ΔV_T,j = −V_G,j`` of a transistor whose gate sits
    at the reference; no comparator (threshold at infinity), rails at ``±vdd_v``.

    Parameters
    ----------
    v_gate_v : array_like, shape (P,)
        Gate biases above the reference node [V].
    card : Card or str
        MOSFET card of the leak transistors (NMOS).
    c_f : float
        Capacitance of each integrator [F].
    temperature_k : float
        Operating temperature [K].
    vdd_v : float
        Supply: the rails are ``±vdd_v`` [V].
    w_m, l_m : float, optional
        Channel width and length [m]; default the card's.

    Returns
    -------
    AnalogMembrane
        Integrate with :func:`device_models.neuron.integrate_membrane`.

    References
    ----------
    Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    import math

    from .constants import K_B_J_PER_K
    from .neuron import AnalogMembrane

    caller = "leak_integrators"
    vg = check_array("v_gate_v", v_gate_v, caller, ndim=1)
    c = check_scalar("c_f", c_f, caller, lo=0.0, lo_open=True)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    vdd = check_scalar("vdd_v", vdd_v, caller, lo=0.0, lo_open=True)
    p = ekv_params(card, t, w_m, l_m)
    return AnalogMembrane(
        c_f=c, v_threshold_v=math.inf, v_lo_v=-vdd, v_hi_v=vdd, leak="transistor",
        r_leak_ohm=math.inf, v_gate_v=0.0, transistor=p, dvt_v=-vg.copy(),
        beta_scale=np.ones_like(vg), comparator_offset_v=np.zeros_like(vg),
        reset_sigma_v=math.sqrt(K_B_J_PER_K * t / c), vdd_v=vdd, e_spike_j=0.0)
