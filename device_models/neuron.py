r"""Integrate-and-fire neurons: closed forms and the analog membrane circuit.

Leaky integrate-and-fire (LIF) neuron (Lapicque 1907, in the modern form of Gerstner et al.
2014): a membrane of capacitance :math:`C` and leak resistance :math:`R`
(:math:`\tau = RC`) integrates an input current; when the membrane voltage reaches the
threshold :math:`\theta` the neuron emits a spike, is reset and stays silent for a refractory
time :math:`t_\mathrm{ref}`:

.. math::

    \tau \frac{dV}{dt} = -V + R\,I(t), \qquad V(t) = R I + (V_0 - R I)\,e^{-t/\tau}
    \quad (I\ \mathrm{constant})

From :math:`V_0 = 0` with a constant current the first spike comes at
:math:`t^* = \tau \ln\frac{RI}{RI - \theta}` (never if :math:`RI \le \theta`), so the firing
rate with reset to zero is

.. math:: f = \frac{1}{t_\mathrm{ref} + \tau \ln\frac{RI}{RI - \theta}}.

Analog membrane (silicon neuron; Indiveri et al. 2011): the column current :math:`I_\mathrm{in}`
charges a capacitor :math:`C` during the read window, a leak element discharges it towards the
rest level, and a comparator compares it with :math:`V_\theta`. Voltages are measured from the
rest level :math:`V_\mathrm{rest}` and clamped to the rails :math:`[-V_\mathrm{rest},
V_{DD} - V_\mathrm{rest}]`:

.. math:: C \frac{dV}{dt} = I_\mathrm{in}(t) - I_\mathrm{leak}(V)

with three leak laws: none; a resistor, :math:`I_\mathrm{leak} = V/R` (the RC neuron above);
or a transistor biased at gate voltage :math:`V_G` (source at the rest level, drain on the
membrane), :math:`I_\mathrm{leak} = I_D(V_G, V_{DS}=V)` from the EKV model of
:mod:`device_models.mosfet` at the operating temperature. Below threshold the transistor
leak is, in the weak-inversion limit without DIBL,

.. math::

    I_\mathrm{leak} = I_0 \left(1 - e^{-V/U_T}\right), \qquad
    I_0 = I_\mathrm{spec}\, e^{(V_G - V_{T0})/(n U_T)},

a current source for :math:`V \gg U_T` whose size moves exponentially with gate bias and
temperature. With :math:`w = e^{V/U_T}` the membrane equation becomes linear,
:math:`\dot w = \alpha w + \beta` with :math:`\alpha = (I - I_0)/(C U_T)`,
:math:`\beta = I_0/(C U_T)`, so for a constant input

.. math::

    V(t) = U_T \ln\!\left[\Bigl(w_0 + \frac{\beta}{\alpha}\Bigr) e^{\alpha t}
           - \frac{\beta}{\alpha}\right] \quad (\alpha \ne 0), \qquad
    V(t) = U_T \ln(w_0 + \beta t) \quad (\alpha = 0).

The simulated circuit integrates the ODE with the full EKV current (DIBL, moderate inversion,
per-device mismatch) by classical Runge–Kutta (RK4) sub-steps; the closed forms above are
what it is tested against. The comparator has a static input offset from Pelgrom mismatch of
its input pair, :math:`\sigma = \sqrt{2} A_{VT}/\sqrt{WL}`, and every reset leaves kT/C noise
:math:`\sigma_V = \sqrt{k_B T / C}` on the membrane.

References
----------
.. [1] N. Brunel, M. C. W. van Rossum, "Lapicque's 1907 paper: from frogs to integrate-and-fire",
   Biological Cybernetics 97, 337–339 (2007), doi:10.1007/s00422-007-0190-0.
.. [2] W. Gerstner, W. M. Kistler, R. Naud, L. Paninski, *Neuronal Dynamics*, Cambridge
   University Press (2014), ch. 1.3, doi:10.1017/CBO9781107447615.
.. [3] G. Indiveri et al., "Neuromorphic silicon neuron circuits", Frontiers in Neuroscience 5,
   73 (2011), doi:10.3389/fnins.2011.00073.
.. [4] C. C. Enz, F. Krummenacher, E. A. Vittoz, Analog Integrated Circuits and Signal
   Processing 8, 83–114 (1995), doi:10.1007/BF01239381 (EKV model).
.. [5] M. J. M. Pelgrom, A. C. J. Duinmaijer, A. P. G. Welbers, IEEE J. Solid-State Circuits
   24(5), 1433–1439 (1989), doi:10.1109/JSSC.1989.572629 (offset of the comparator pair).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import cards, rng
from ._checks import (
    check_array,
    check_broadcast,
    check_choice,
    check_instance,
    check_int,
    check_scalar,
    fail,
)
from ._jit import backend, jit, prange
from .constants import K_B_J_PER_K, LOG_FLOAT_MAX
from .mosfet import EkvParams, ekv_numpy, ekv_params, ekv_scalar, mismatch_sigma

__all__ = [
    "LEAKS",
    "AnalogMembrane",
    "analog_membrane",
    "integrate_membrane",
    "leak_gate_for_current_v",
    "lif_first_spike_time_s",
    "lif_rate_hz",
    "rc_membrane_v",
    "subthreshold_membrane_v",
]

#: Leak laws of the analog membrane.
LEAKS = ("none", "resistor", "transistor")
_LEAK_CODE = {"none": 0, "resistor": 1, "transistor": 2}

#: RK4 sub-steps per phase (read window, rest of the step) of :func:`integrate_membrane` [-].
MEMBRANE_SUBSTEPS = 4

#: Bisection steps of :func:`leak_gate_for_current_v` (the 2 V bracket shrinks below 1e-15 V)
#: [-].
GATE_BISECTION_STEPS = 64


# --- closed forms ----------------------------------------------------------------------------


def lif_first_spike_time_s(i_a, r_ohm: float, tau_s: float, threshold_v: float, v0_v=0.0):
    r"""Time for a LIF membrane starting at ``v0_v`` to reach threshold at constant current [s].

    .. math:: t^* = \tau \ln\frac{R I - V_0}{R I - \theta}

    Parameters
    ----------
    i_a : array_like
        Input current I [A].
    r_ohm, tau_s, threshold_v : float
        Leak resistance R [Ω], membrane time constant τ [s], threshold θ [V] (> 0).
    v0_v : array_like
        Initial membrane voltage V_0 < θ [V].

    Returns
    -------
    ndarray
        :math:`t^*` [s]; ``inf`` where :math:`RI \le \theta` (the membrane saturates below
        threshold).

    References
    ----------
    .. [1] Gerstner et al. (2014), doi:10.1017/CBO9781107447615, eq. (1.11).
    """
    who = "lif_first_spike_time_s"
    i = check_array("i_a", i_a, who)
    r = check_scalar("r_ohm", r_ohm, who, lo=0.0, lo_open=True)
    tau = check_scalar("tau_s", tau_s, who, lo=0.0, lo_open=True)
    th = check_scalar("threshold_v", threshold_v, who, lo=0.0, lo_open=True)
    v0 = check_array("v0_v", v0_v, who, hi=th)
    check_broadcast(who, i_a=i, v0_v=v0)
    ri = r * i
    with np.errstate(divide="ignore", invalid="ignore"):
        t = tau * np.log((ri - v0) / (ri - th))
    return np.where(ri > th, t, np.inf)


def lif_rate_hz(i_a, r_ohm: float, tau_s: float, threshold_v: float, t_ref_s: float = 0.0):
    r"""Firing rate of a LIF neuron (reset to zero) at constant input current [Hz].

    .. math:: f = \frac{1}{t_\mathrm{ref} + \tau \ln\frac{RI}{RI - \theta}}

    Parameters
    ----------
    i_a : array_like
        Input current I [A].
    r_ohm, tau_s, threshold_v : float
        Leak resistance [Ω], membrane time constant [s], threshold [V].
    t_ref_s : float
        Refractory time [s].

    Returns
    -------
    ndarray
        Rate [Hz]; 0 where :math:`RI \le \theta`.

    References
    ----------
    .. [1] Gerstner et al. (2014), doi:10.1017/CBO9781107447615, eq. (1.12).
    """
    t_ref = check_scalar("t_ref_s", t_ref_s, "lif_rate_hz", lo=0.0)
    t = lif_first_spike_time_s(i_a, r_ohm, tau_s, threshold_v)
    return np.where(np.isfinite(t), 1.0 / (t_ref + t), 0.0)


def rc_membrane_v(t_s, i_a: float, r_ohm: float, c_f: float, v0_v: float = 0.0):
    r"""Membrane voltage of the RC membrane at constant input current, no threshold [V].

    .. math:: V(t) = R I + (V_0 - R I)\, e^{-t/RC} = V_0 e^{-t/RC} + R I (1 - e^{-t/RC})

    Parameters
    ----------
    t_s : array_like
        Times [s] (>= 0).
    i_a, r_ohm, c_f, v0_v : float
        Input current [A], leak resistance [Ω], capacitance [F], initial voltage [V].

    References
    ----------
    .. [1] Gerstner et al. (2014), doi:10.1017/CBO9781107447615, eq. (1.8).
    """
    who = "rc_membrane_v"
    t = check_array("t_s", t_s, who, nonneg=True)
    i = check_scalar("i_a", i_a, who)
    r = check_scalar("r_ohm", r_ohm, who, lo=0.0, lo_open=True)
    c = check_scalar("c_f", c_f, who, lo=0.0, lo_open=True)
    v0 = check_scalar("v0_v", v0_v, who)
    v_inf, tau = r * i, r * c
    if not math.isfinite(v_inf):
        fail("i_a", who, f"such that the steady state R·I stays finite with r_ohm={r!r}", i)
    if tau == 0.0:
        fail("c_f", who, f"such that the time constant R·C does not underflow to 0 with "
             f"r_ohm={r!r}", c)
    x = -t / tau
    return v0 * np.exp(x) - v_inf * np.expm1(x)     # no inf − inf for |V0 − R I| > 1.8e308


def subthreshold_membrane_v(t_s, i_a: float, i0_a: float, c_f: float, ut_v: float,
                            v0_v: float = 0.0):
    r"""Membrane voltage with a weak-inversion transistor leak at constant input current [V].

    Solves :math:`C\,dV/dt = I - I_0 (1 - e^{-V/U_T})` exactly (module docstring):

    .. math::

        V(t) = U_T \ln\!\left[\Bigl(w_0 + \frac{\beta}{\alpha}\Bigr) e^{\alpha t}
        - \frac{\beta}{\alpha}\right], \quad w_0 = e^{V_0/U_T},\ \alpha = \frac{I - I_0}{C U_T},
        \ \beta = \frac{I_0}{C U_T}

    Parameters
    ----------
    t_s : array_like
        Times [s] (>= 0).
    i_a : float
        Input current I [A] (>= 0).
    i0_a : float
        Saturated leak current :math:`I_0 = I_\mathrm{spec} e^{(V_G - V_{T0})/(nU_T)}` [A] (> 0).
    c_f, ut_v : float
        Capacitance [F] and thermal voltage U_T [V].
    v0_v : float
        Initial voltage [V].

    References
    ----------
    .. [1] Indiveri et al. (2011), doi:10.3389/fnins.2011.00073 (subthreshold leak).
    .. [2] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381 (weak-inversion limit).
    """
    who = "subthreshold_membrane_v"
    t = check_array("t_s", t_s, who, nonneg=True)
    i = check_scalar("i_a", i_a, who, lo=0.0)
    i0 = check_scalar("i0_a", i0_a, who, lo=0.0, lo_open=True)
    c = check_scalar("c_f", c_f, who, lo=0.0, lo_open=True)
    ut = check_scalar("ut_v", ut_v, who, lo=0.0, lo_open=True)
    v0 = check_scalar("v0_v", v0_v, who)
    if v0 / ut > LOG_FLOAT_MAX:
        fail("v0_v", who, f"an initial voltage with exp(V0/U_T) inside the doubles "
             f"(V0 <= {LOG_FLOAT_MAX * ut!r} V at U_T = {ut!r} V)", v0)
    alpha = (i - i0) / (c * ut)
    beta = i0 / (c * ut)
    w0 = math.exp(v0 / ut)
    # rates beyond the doubles (C·U_T tiny against the currents): t = 0 stays at V0 (no
    # inf·0), β/α is taken as I0/(I − I0), and e^{αt} is 0 or inf for t > 0 (the steady
    # state at once, or a voltage beyond the doubles)
    fast = not (math.isfinite(alpha) and math.isfinite(beta))
    with np.errstate(invalid="ignore", over="ignore"):
        if alpha == 0.0:
            bt = np.where(t > 0.0, beta * t, 0.0) if fast else beta * t
            return ut * np.log(w0 + bt)
        ratio = i0 / (i - i0) if fast else beta / alpha
        at = np.where(t > 0.0, alpha * t, 0.0) if fast else alpha * t
        return ut * np.log((w0 + ratio) * np.exp(at) - ratio)


# --- the membrane ODE ------------------------------------------------------------------------


@jit
def _leak_scalar(v, mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm):
    if mode == 1:
        return v / r_ohm
    if mode == 2:
        return ekv_scalar(vg, v, vt0, n, ispec, ut, dibl, clm)[0]
    return 0.0


@jit
def _rk4_phase(v, i_in, t, n_sub, c, mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm, lo, hi):
    if t <= 0.0:
        return v
    h = t / n_sub
    for _ in range(n_sub):
        k1 = (i_in - _leak_scalar(v, mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm)) / c
        v2 = v + 0.5 * h * k1
        k2 = (i_in - _leak_scalar(v2, mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm)) / c
        v3 = v + 0.5 * h * k2
        k3 = (i_in - _leak_scalar(v3, mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm)) / c
        v4 = v + h * k3
        k4 = (i_in - _leak_scalar(v4, mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm)) / c
        v = v + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        v = min(max(v, lo), hi)
    return v


@jit(parallel=True)
def _membrane_kernel(v, i_in, t_on, t_off, n_sub, c, mode, r_ohm, vg, vt0, ispec, n, ut, dibl,
                     clm, lo, hi, out):
    for j in prange(v.size):
        x = _rk4_phase(v[j], i_in[j], t_on, n_sub, c, mode, r_ohm, vg, vt0[j], ispec[j], n, ut,
                       dibl, clm, lo, hi)
        out[j] = _rk4_phase(x, 0.0, t_off, n_sub, c, mode, r_ohm, vg, vt0[j], ispec[j], n, ut,
                            dibl, clm, lo, hi)


def _leak_numpy(v, mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm):
    if mode == 1:
        return v / r_ohm
    if mode == 2:
        return ekv_numpy(np.full(v.shape, vg), v, vt0, ispec, n, ut, dibl, clm)[0]
    return np.zeros(v.shape)


def _membrane_numpy(v, i_in, t_on, t_off, n_sub, c, mode, r_ohm, vg, vt0, ispec, n, ut, dibl,
                    clm, lo, hi):
    """NumPy reference of :func:`_membrane_kernel` (same RK4 arithmetic, same order)."""
    args = (mode, r_ohm, vg, vt0, ispec, n, ut, dibl, clm)
    for cur, t in ((i_in, t_on), (np.zeros(v.shape), t_off)):
        if t <= 0.0:
            continue
        h = t / n_sub
        for _ in range(n_sub):
            k1 = (cur - _leak_numpy(v, *args)) / c
            k2 = (cur - _leak_numpy(v + 0.5 * h * k1, *args)) / c
            k3 = (cur - _leak_numpy(v + 0.5 * h * k2, *args)) / c
            k4 = (cur - _leak_numpy(v + h * k3, *args)) / c
            v = np.minimum(np.maximum(v + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0, lo), hi)
    return v


def leak_gate_for_current_v(i_target_a: float, v_ds_v: float, params: EkvParams) -> float:
    """Gate bias at which the leak transistor conducts ``i_target_a`` at ``v_ds_v`` [V].

    Inverts :math:`I_D(V_G, V_{DS})` of the EKV model (monotonic in :math:`V_G`) by bisection
    on :math:`[V_{T0} - 1\\,\\mathrm{V}, V_{T0} + 1\\,\\mathrm{V}]`.

    Parameters
    ----------
    i_target_a : float
        Leak current wanted [A] (> 0).
    v_ds_v : float
        Drain–source voltage at which it is wanted [V] (> 0).
    params : EkvParams
        The leak transistor at the calibration temperature.

    References
    ----------
    .. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    who = "leak_gate_for_current_v"
    target = check_scalar("i_target_a", i_target_a, who, lo=0.0, lo_open=True)
    vds = check_scalar("v_ds_v", v_ds_v, who, lo=0.0, lo_open=True)
    check_instance("params", params, who, EkvParams)
    lo, hi = params.vt0_v - 1.0, params.vt0_v + 1.0
    args = (params.vt0_v, params.n, params.i_spec_a, params.ut_v, params.dibl_v_per_v,
            params.clm_per_v)
    if not ekv_scalar(lo, vds, *args)[0] < target < ekv_scalar(hi, vds, *args)[0]:
        fail("i_target_a", who, "between the leak currents at V_T0 -/+ 1 V "
             f"({ekv_scalar(lo, vds, *args)[0]:.3g} to {ekv_scalar(hi, vds, *args)[0]:.3g} A)",
             i_target_a)
    for _ in range(GATE_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if ekv_scalar(mid, vds, *args)[0] < target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@dataclasses.dataclass(frozen=True)
class AnalogMembrane:
    """The analog membranes of a population of neurons (one circuit per neuron).

    Build with :func:`analog_membrane`. Voltages are measured from the rest level.

    Attributes
    ----------
    c_f : float
        Membrane capacitance [F].
    v_threshold_v : float
        Comparator threshold above rest [V].
    v_lo_v, v_hi_v : float
        Rails: the membrane is clamped to [v_lo_v, v_hi_v] [V].
    leak : str
        One of :data:`LEAKS`.
    r_leak_ohm : float
        Leak resistance (``leak = "resistor"``) [Ω].
    v_gate_v : float
        Leak-transistor gate bias above rest (``leak = "transistor"``) [V].
    transistor : EkvParams
        Leak transistor at the operating temperature.
    dvt_v, beta_scale : ndarray
        Per-neuron threshold shift [V] and current-factor multiplier [-] of the leak
        transistor (Pelgrom mismatch).
    comparator_offset_v : ndarray
        Per-neuron comparator input offset [V].
    reset_sigma_v : float
        kT/C noise left on the membrane by each reset, sqrt(k_B·T/C) [V].
    vdd_v : float
        Supply of the input current mirror [V].
    e_spike_j : float
        Energy of one spike event (comparator firing and reset) [J].
    """

    c_f: float
    v_threshold_v: float
    v_lo_v: float
    v_hi_v: float
    leak: str
    r_leak_ohm: float
    v_gate_v: float
    transistor: EkvParams
    dvt_v: np.ndarray
    beta_scale: np.ndarray
    comparator_offset_v: np.ndarray
    reset_sigma_v: float
    vdd_v: float
    e_spike_j: float

    @property
    def size(self) -> int:
        """Number of neurons [-]."""
        return int(self.dvt_v.size)

    def _args(self):
        p = self.transistor
        vt0 = np.ascontiguousarray(p.vt0_v + self.dvt_v, dtype=np.float64)
        ispec = np.ascontiguousarray(p.i_spec_a * self.beta_scale, dtype=np.float64)
        return (float(self.c_f), _LEAK_CODE[self.leak], float(self.r_leak_ohm),
                float(self.v_gate_v), vt0, ispec, float(p.n), float(p.ut_v),
                float(p.dibl_v_per_v), float(p.clm_per_v), float(self.v_lo_v),
                float(self.v_hi_v))

    def leak_current_a(self, v_v) -> np.ndarray:
        """Leak current of each neuron at membrane voltage ``v_v`` (shape (..., size)) [A]."""
        v = check_array("v_v", v_v, "AnalogMembrane.leak_current_a")
        c, mode, r, vg, vt0, ispec, n, ut, dibl, clm, _, _ = self._args()
        vb = np.broadcast_to(v, np.broadcast_shapes(v.shape, vt0.shape))
        return _leak_numpy(vb, mode, r, vg, np.broadcast_to(vt0, vb.shape),
                           np.broadcast_to(ispec, vb.shape), n, ut, dibl, clm)

    def integrate(self, v_v, i_in_a, t_on_s: float, t_off_s: float,
                  substeps: int = MEMBRANE_SUBSTEPS) -> np.ndarray:
        """Membrane voltages after one time step (see :func:`integrate_membrane`) [V].

        ``v_v`` and ``i_in_a`` have shape (batch, size) or (size,).
        """
        return integrate_membrane(v_v, i_in_a, self, t_on_s, t_off_s, substeps=substeps)

    def fires(self, v_v) -> np.ndarray:
        """Comparator decisions: ``v ≥ V_θ + offset`` per neuron (bool, shape of ``v_v``)."""
        return np.asarray(v_v) >= self.v_threshold_v + self.comparator_offset_v

    def reset_noise_v(self, key: int, counters) -> np.ndarray:
        """kT/C noise left by a reset: σ_V·z, z standard normal at stream ``key``,
        ``counters`` (one per reset event) [V]."""
        return self.reset_sigma_v * rng.normals_at(key, np.asarray(counters, dtype=np.uint64))


def integrate_membrane(v_v, i_in_a, membrane: AnalogMembrane, t_on_s: float, t_off_s: float,
                       *, substeps: int = MEMBRANE_SUBSTEPS) -> np.ndarray:
    r"""Integrate :math:`C\,dV/dt = I_\mathrm{in} - I_\mathrm{leak}(V)` over one time step.

    The input current flows for ``t_on_s`` (the read window), then the membrane only leaks
    for ``t_off_s`` (the rest of the step). Each phase is ``substeps`` classical RK4 steps;
    the voltage is clamped to the rails after each.

    Parameters
    ----------
    v_v : array_like, shape (..., membrane.size)
        Membrane voltages above rest at the start of the step [V].
    i_in_a : array_like, same shape
        Input currents during the read window [A].
    membrane : AnalogMembrane
        The circuits.
    t_on_s, t_off_s : float
        Durations of the two phases [s] (>= 0).
    substeps : int
        RK4 steps per phase [-].

    Returns
    -------
    ndarray
        Membrane voltages at the end of the step [V].

    References
    ----------
    .. [1] Indiveri et al. (2011), doi:10.3389/fnins.2011.00073.
    """
    who = "integrate_membrane"
    if not isinstance(membrane, AnalogMembrane):
        fail("membrane", who, "an AnalogMembrane", membrane)
    v = check_array("v_v", v_v, who)
    i_in = check_array("i_in_a", i_in_a, who)
    if v.shape != i_in.shape or v.ndim < 1 or v.shape[-1] != membrane.size:
        fail("i_in_a", who, f"of the shape of 'v_v' with a last axis of {membrane.size}",
             f"array of shape {i_in.shape} (v_v {v.shape})")
    t_on = check_scalar("t_on_s", t_on_s, who, lo=0.0)
    t_off = check_scalar("t_off_s", t_off_s, who, lo=0.0)
    n_sub = check_int("substeps", substeps, who, lo=1, hi=1 << 16)
    c, mode, r, vg, vt0, ispec, n, ut, dibl, clm, lo, hi = membrane._args()
    shape = v.shape
    vt0 = np.ascontiguousarray(np.broadcast_to(vt0, shape)).ravel()
    ispec = np.ascontiguousarray(np.broadcast_to(ispec, shape)).ravel()
    vf = np.ascontiguousarray(v).ravel()
    cf = np.ascontiguousarray(i_in).ravel()
    if backend() == "numpy":
        out = _membrane_numpy(vf, cf, t_on, t_off, n_sub, c, mode, r, vg, vt0, ispec, n, ut,
                              dibl, clm, lo, hi)
    else:
        out = np.empty(vf.size)
        _membrane_kernel(vf, cf, t_on, t_off, n_sub, c, mode, r, vg, vt0, ispec, n, ut, dibl,
                         clm, lo, hi, out)
    return out.reshape(shape)


def analog_membrane(card, size: int, *, c_f: float, temperature_k: float, leak: str,
                    leak_current_a: float = 0.0, r_leak_ohm: float = math.inf,
                    mismatch: bool = True, seed: int = 0) -> AnalogMembrane:
    r"""Build the analog membranes of ``size`` neurons from a neuron card.

    The transistor leak's gate bias is set once, at the card's calibration temperature
    ``t_cal_k``, so that the leak current at threshold is ``leak_current_a``
    (:func:`leak_gate_for_current_v`; gate at rest, i.e. off, when it is 0); at any other
    operating temperature the same bias gives the EKV current of that temperature: :math:`U_T`,
    :math:`V_{T0}(T)` and :math:`\mu(T)` all move. Mismatch of the leak transistor and of the
    comparator pair is drawn per neuron from ``seed`` (Pelgrom, with the areas on the card).

    Parameters
    ----------
    card : Card or str
        Neuron card (kind ``"neuron"``).
    size : int
        Number of neurons [-].
    c_f : float
        Membrane capacitance [F].
    temperature_k : float
        Operating temperature [K].
    leak : str
        One of :data:`LEAKS`.
    leak_current_a : float
        Transistor leak: current at threshold at the calibration temperature [A] (>= 0).
    r_leak_ohm : float
        Resistor leak: resistance [Ω].
    mismatch : bool
        Draw device mismatch (else every neuron is nominal).
    seed : int
        Seed of the mismatch draws.

    Returns
    -------
    AnalogMembrane

    References
    ----------
    .. [1] Indiveri et al. (2011), doi:10.3389/fnins.2011.00073.
    .. [2] Pelgrom, Duinmaijer & Welbers (1989), doi:10.1109/JSSC.1989.572629.
    """
    who = "analog_membrane"
    card = cards.load(card, kinds=("neuron",), field="card", caller=who)
    size = check_int("size", size, who, lo=1)
    c = check_scalar("c_f", c_f, who, lo=0.0, lo_open=True)
    t = check_scalar("temperature_k", temperature_k, who, lo=0.0, lo_open=True)
    leak = check_choice("leak", leak, who, LEAKS)
    i_leak = check_scalar("leak_current_a", leak_current_a, who, lo=0.0)
    r_leak = float(r_leak_ohm)
    if leak == "resistor":
        r_leak = check_scalar("r_leak_ohm", r_leak_ohm, who, lo=0.0, lo_open=True)
    seed = check_int("seed", seed, who, lo=0)
    mos = cards.load(card.leak_mosfet_card, kinds=("mosfet",), field="card.leak_mosfet_card",
                     caller=who)
    w, length = card.leak_w_m, card.leak_l_m
    at_t = ekv_params(mos, t, w, length)
    v_th = card.v_threshold_v
    v_gate = 0.0
    if leak == "transistor" and i_leak > 0.0:
        v_gate = leak_gate_for_current_v(i_leak, v_th, ekv_params(mos, card.t_cal_k, w, length))
    if mismatch:
        s_vt, s_beta = mismatch_sigma(mos, w, length)
        s_cmp = math.sqrt(2.0) * mismatch_sigma(mos, card.comparator_w_m,
                                                card.comparator_l_m)[0]
        z = rng.standard_normal(rng.derive_key(seed, "analog_membrane"), (3, size))
        dvt, beta, off = s_vt * z[0], np.maximum(1.0 + s_beta * z[1], 1e-3), s_cmp * z[2]
    else:
        dvt, beta, off = np.zeros(size), np.ones(size), np.zeros(size)
    return AnalogMembrane(
        c_f=c, v_threshold_v=v_th, v_lo_v=-card.v_rest_v, v_hi_v=card.vdd_v - card.v_rest_v,
        leak=leak, r_leak_ohm=r_leak, v_gate_v=v_gate, transistor=at_t, dvt_v=dvt,
        beta_scale=beta, comparator_offset_v=off, reset_sigma_v=math.sqrt(K_B_J_PER_K * t / c),
        vdd_v=card.vdd_v, e_spike_j=card.e_spike_j)
