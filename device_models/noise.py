r"""Electronic noise: Johnson (thermal), shot, biased conductor, flicker (1/f) and kT/C.

Every source has the same three functions:

* ``<source>_psd(...)``: one-sided power spectral density (A²/Hz or V²/Hz);
* ``<source>_rms(...)``: the rms value over a band, the square root of the PSD integrated in
  closed form;
* ``<source>_sample(..., seed=0)``: Gaussian draws with that rms, one per element of the
  broadcast shape of the arguments (or of ``shape``), from the counter-based streams of
  :mod:`device_models.rng` keyed by ``(seed, "<source>")``; element ``i`` always receives the
  same number whatever the thread count or chunking.

Draws are independent between elements. For the white sources (Johnson, shot) this is exactly
the statistics of the noise band-limited to ``bandwidth_hz`` and sampled every
``1/(2·bandwidth_hz)``; for flicker noise a draw is the band-integrated fluctuation of one
realisation (no correlation in time is modelled); a kT/C draw is the voltage frozen on a
capacitor when its switch opens.

A biased conductor (``conductor_*``) carries thermal and shot noise at once; its PSD
interpolates between the Johnson value 4kTG at zero bias and the (Fano-reduced) Schottky value
2qF|I| far above kT/q, so adding :func:`johnson_psd` and :func:`shot_psd` of the same
conductor would count the thermal part twice [5]_. An ideal integrator of duration t_int sees
white noise of one-sided PSD S as a variance S·Δf of its averaged current, with the
equivalent noise bandwidth Δf = 1/(2·t_int) (:func:`integrator_bandwidth_hz`).

All functions broadcast their array arguments like NumPy ufuncs and validate them; bad input
raises :class:`~device_models.errors.InvalidParameterError` naming the argument.

References
----------
.. [1] J. B. Johnson, "Thermal agitation of electricity in conductors", Phys. Rev. 32, 97
   (1928), doi:10.1103/PhysRev.32.97; H. Nyquist, "Thermal agitation of electric charge in
   conductors", Phys. Rev. 32, 110 (1928), doi:10.1103/PhysRev.32.110.
.. [2] W. Schottky, "Über spontane Stromschwankungen in verschiedenen Elektrizitätsleitern",
   Ann. Phys. 362, 541 (1918), doi:10.1002/andp.19183622304.
.. [3] A. L. McWhorter's number-fluctuation model as used for the MOSFET gate-referred 1/f
   noise K_f/(C_ox W L f): K. K. Hung, P. K. Ko, C. Hu, Y. C. Cheng, "A unified model for the
   flicker noise in metal-oxide-semiconductor field-effect transistors", IEEE Trans. Electron
   Devices 37(3), 654 (1990), doi:10.1109/16.47770.
.. [4] R. Sarpeshkar, T. Delbrück, C. A. Mead, "White noise in MOS transistors and
   resistors", IEEE Circuits and Devices Magazine 9(6), 23 (1993), doi:10.1109/101.261888
   (shot and thermal noise; kT/C).
.. [5] Ya. M. Blanter, M. Büttiker, "Shot noise in mesoscopic conductors", Phys. Rep. 336,
   1–166 (2000), doi:10.1016/S0370-1573(99)00123-4 (thermal-to-shot crossover of a biased
   conductor, Fano factor).
.. [6] S. O. Rice, "Mathematical analysis of random noise", Bell Syst. Tech. J. 23, 282–332
   (1944), doi:10.1002/j.1538-7305.1944.tb00874.x (noise through a linear filter; the
   boxcar integrator's noise bandwidth 1/(2T)).
"""

from __future__ import annotations

import math

import numpy as np

from . import cards as _cards
from . import rng
from ._checks import (
    check_array,
    check_broadcast,
    check_choice,
    check_scalar,
    check_seed,
    check_shape,
    fail,
)
from .constants import K_B_J_PER_K, Q_E_C, T_REF_K

__all__ = [
    "conductor_psd",
    "conductor_rms",
    "conductor_sample",
    "flicker_psd",
    "flicker_rms",
    "flicker_sample",
    "johnson_psd",
    "johnson_rms",
    "johnson_sample",
    "ktc_psd",
    "ktc_rms",
    "ktc_sample",
    "shot_psd",
    "shot_rms",
    "shot_sample",
    "integrator_bandwidth_hz",
    "x_coth_x",
]


# --- helpers --------------------------------------------------------------------------------


def _temperature(value, caller: str) -> np.ndarray:
    return check_array("temperature_k", value, caller, positive=True)


def _draw(rms: np.ndarray, shape, seed, tag: str, caller: str) -> np.ndarray:
    seed = check_seed("seed", seed, caller)
    if shape is None:
        out_shape = rms.shape
    else:
        out_shape = check_shape("shape", shape, caller)
        try:
            np.broadcast_to(rms, out_shape)
        except ValueError:
            fail("shape", caller, f"a shape the parameters (shape {rms.shape}) broadcast to",
                 shape)
    z = rng.standard_normal(rng.derive_key(seed, tag), out_shape)
    return rms * z


# --- Johnson (thermal) noise ----------------------------------------------------------------


def johnson_psd(g_s, temperature_k=T_REF_K, *, form: str = "current"):
    r"""One-sided thermal-noise PSD of a conductance G.

    .. math::

        S_I = 4 k_B T G \ [\mathrm{A^2/Hz}] \quad (\text{form} = \text{"current"}),
        \qquad
        S_V = 4 k_B T / G = 4 k_B T R \ [\mathrm{V^2/Hz}] \quad (\text{form} = \text{"voltage"})

    Parameters
    ----------
    g_s : array_like
        Conductance G [S], >= 0 (> 0 for the voltage form).
    temperature_k : array_like
        Temperature T [K], > 0.
    form : {"current", "voltage"}
        Norton current-noise PSD or Thévenin voltage-noise PSD.

    Returns
    -------
    ndarray
        PSD [A²/Hz] or [V²/Hz].

    References
    ----------
    .. [1] Nyquist (1928), doi:10.1103/PhysRev.32.110.
    """
    caller = "johnson_psd"
    form = check_choice("form", form, caller, ("current", "voltage"))
    g = check_array("g_s", g_s, caller, nonneg=form == "current", positive=form == "voltage")
    t = _temperature(temperature_k, caller)
    check_broadcast(caller, g_s=g, temperature_k=t)
    four_kt = 4.0 * K_B_J_PER_K * t
    return four_kt * g if form == "current" else four_kt / g


def johnson_rms(g_s, bandwidth_hz, temperature_k=T_REF_K, *, form: str = "current"):
    r"""Thermal-noise rms over a bandwidth Δf: :math:`\sqrt{4 k_B T G \Delta f}` [A] or
    :math:`\sqrt{4 k_B T \Delta f / G}` [V].

    Parameters
    ----------
    g_s : array_like
        Conductance [S].
    bandwidth_hz : array_like
        Noise bandwidth Δf [Hz], > 0.
    temperature_k : array_like
        Temperature [K].
    form : {"current", "voltage"}
        As in :func:`johnson_psd`.

    Returns
    -------
    ndarray
        rms current [A] or voltage [V].

    References
    ----------
    .. [1] Johnson (1928), doi:10.1103/PhysRev.32.97.
    """
    caller = "johnson_rms"
    bw = check_array("bandwidth_hz", bandwidth_hz, caller, positive=True)
    psd = johnson_psd(g_s, temperature_k, form=form)
    check_broadcast(caller, g_s=psd, bandwidth_hz=bw)
    return np.sqrt(psd * bw)


def johnson_sample(g_s, bandwidth_hz, temperature_k=T_REF_K, *, form: str = "current",
                   shape=None, seed=0):
    """Gaussian thermal-noise draws with the rms of :func:`johnson_rms` [A] or [V].

    Parameters
    ----------
    g_s, bandwidth_hz, temperature_k, form
        As in :func:`johnson_rms`.
    shape : int or tuple of int, optional
        Output shape (the parameters must broadcast to it); default their broadcast shape.
    seed : int or numpy.random.Generator
        Seed of the counter-based stream ``(seed, "johnson")``.

    Returns
    -------
    ndarray
        Zero-mean noise samples [A] or [V].

    References
    ----------
    .. [1] Nyquist (1928), doi:10.1103/PhysRev.32.110.
    """
    rms = johnson_rms(g_s, bandwidth_hz, temperature_k, form=form)
    return _draw(rms, shape, seed, "johnson", "johnson_sample")


# --- shot noise -----------------------------------------------------------------------------


def shot_psd(i_a):
    r"""One-sided shot-noise PSD :math:`S_I = 2 q |I|` [A²/Hz] of a DC current I [A].

    Parameters
    ----------
    i_a : array_like
        Current [A] (sign ignored).

    Returns
    -------
    ndarray
        PSD [A²/Hz].

    References
    ----------
    .. [1] Schottky (1918), doi:10.1002/andp.19183622304.
    """
    i = check_array("i_a", i_a, "shot_psd")
    return 2.0 * Q_E_C * np.abs(i)


def shot_rms(i_a, bandwidth_hz):
    r"""Shot-noise rms current :math:`\sqrt{2 q |I| \Delta f}` [A].

    Parameters
    ----------
    i_a : array_like
        Current [A].
    bandwidth_hz : array_like
        Noise bandwidth Δf [Hz], > 0.

    Returns
    -------
    ndarray
        rms current [A].

    References
    ----------
    .. [1] Schottky (1918), doi:10.1002/andp.19183622304.
    """
    caller = "shot_rms"
    i = check_array("i_a", i_a, caller)
    bw = check_array("bandwidth_hz", bandwidth_hz, caller, positive=True)
    check_broadcast(caller, i_a=i, bandwidth_hz=bw)
    return np.sqrt(2.0 * Q_E_C * np.abs(i) * bw)


def shot_sample(i_a, bandwidth_hz, *, shape=None, seed=0):
    """Gaussian shot-noise draws with the rms of :func:`shot_rms` [A].

    Parameters
    ----------
    i_a, bandwidth_hz
        As in :func:`shot_rms`.
    shape : int or tuple of int, optional
        Output shape; default the broadcast shape of the parameters.
    seed : int or numpy.random.Generator
        Seed of the stream ``(seed, "shot")``.

    Returns
    -------
    ndarray
        Zero-mean current noise [A].

    References
    ----------
    .. [1] Schottky (1918), doi:10.1002/andp.19183622304.
    """
    return _draw(shot_rms(i_a, bandwidth_hz), shape, seed, "shot", "shot_sample")


# --- biased conductor: thermal and shot noise together ---------------------------------------


def x_coth_x(x):
    r""":math:`\psi(x) = x\coth x` [-], even in x, with :math:`\psi(0) = 1` [-].

    Evaluated as :math:`|x|(1 + e^{-2|x|})/(1 - e^{-2|x|})` (with ``expm1``), and by its series
    :math:`1 + x^2/3 - x^4/45` below :math:`|x| = 10^{-3}` (relative error < 1e-16).

    Parameters
    ----------
    x : array_like
        Argument [-].

    Returns
    -------
    ndarray
        :math:`x\coth x` [-], ``>= max(1, |x|)``.
    """
    a = np.abs(check_array("x", x, "x_coth_x"))
    small = a < 1e-3
    m = np.expm1(-2.0 * np.where(small, 1.0, a))     # e^{-2|x|} - 1, exact near 0
    a2 = a * a
    return np.where(small, 1.0 + a2 / 3.0 - a2 * a2 / 45.0, a * (2.0 + m) / -m)


def conductor_psd(g_s, v_v, temperature_k=T_REF_K, *, fano=1.0):
    r"""One-sided current-noise PSD of a conductance G biased at a voltage V.

    .. math::

        S_I = 4 k_B T G\,\Bigl[(1 - F) + F\,x\coth x\Bigr], \qquad
        x = \frac{q V}{2 k_B T} \quad [\mathrm{A^2/Hz}]

    At zero bias :math:`S_I = 4k_BTG` (:func:`johnson_psd`) whatever F; far above
    :math:`k_BT/q`, :math:`S_I \to 4k_BTG(1-F) + 2qF|I|` with :math:`I = GV`
    (:func:`shot_psd` times F). F = 1 is full (Poissonian) shot noise, F = 0 a macroscopic
    ohmic conductor with thermal noise only.

    Parameters
    ----------
    g_s : array_like
        Conductance G [S], >= 0.
    v_v : array_like
        Bias voltage V [V] (sign ignored).
    temperature_k : array_like
        Temperature T [K], > 0.
    fano : float
        Fano factor F of the shot noise, in [0, 1] [-].

    Returns
    -------
    ndarray
        PSD [A²/Hz].

    References
    ----------
    .. [1] Blanter & Büttiker (2000), Eq. (61), doi:10.1016/S0370-1573(99)00123-4.
    """
    caller = "conductor_psd"
    g = check_array("g_s", g_s, caller, nonneg=True)
    v = check_array("v_v", v_v, caller)
    t = _temperature(temperature_k, caller)
    f = check_scalar("fano", fano, caller, lo=0.0, hi=1.0)
    check_broadcast(caller, g_s=g, v_v=v, temperature_k=t)
    x = Q_E_C * v / (2.0 * K_B_J_PER_K * t)
    # G last: 4kT·G alone underflows for G near the smallest doubles while 2qGV does not
    return johnson_psd(1.0, t) * ((1.0 - f) + f * x_coth_x(x)) * g


def conductor_rms(g_s, v_v, bandwidth_hz, temperature_k=T_REF_K, *, fano=1.0):
    r"""rms current noise :math:`\sqrt{S_I\,\Delta f}` of a biased conductor [A]
    (:func:`conductor_psd` over the noise bandwidth Δf).

    Parameters
    ----------
    g_s, v_v, temperature_k, fano
        As in :func:`conductor_psd`.
    bandwidth_hz : array_like
        Noise bandwidth Δf [Hz], > 0.

    Returns
    -------
    ndarray
        rms current [A].

    References
    ----------
    .. [1] Blanter & Büttiker (2000), doi:10.1016/S0370-1573(99)00123-4.
    """
    caller = "conductor_rms"
    bw = check_array("bandwidth_hz", bandwidth_hz, caller, positive=True)
    psd = conductor_psd(g_s, v_v, temperature_k, fano=fano)
    check_broadcast(caller, g_s=psd, bandwidth_hz=bw)
    return np.sqrt(psd * bw)


def conductor_sample(g_s, v_v, bandwidth_hz, temperature_k=T_REF_K, *, fano=1.0, shape=None,
                     seed=0):
    """Gaussian current-noise draws with the rms of :func:`conductor_rms` [A].

    Parameters
    ----------
    g_s, v_v, bandwidth_hz, temperature_k, fano
        As in :func:`conductor_rms`.
    shape : int or tuple of int, optional
        Output shape; default the broadcast shape of the parameters.
    seed : int or numpy.random.Generator
        Seed of the stream ``(seed, "conductor")``.

    Returns
    -------
    ndarray
        Zero-mean current noise [A].

    References
    ----------
    .. [1] Blanter & Büttiker (2000), doi:10.1016/S0370-1573(99)00123-4.
    """
    rms = conductor_rms(g_s, v_v, bandwidth_hz, temperature_k, fano=fano)
    return _draw(rms, shape, seed, "conductor", "conductor_sample")


def integrator_bandwidth_hz(t_int_s):
    r"""Equivalent noise bandwidth of an ideal integrator of duration :math:`t_{int}` [Hz].

    .. math:: \Delta f = \int_0^\infty \Bigl|\frac{\sin(\pi f t_{int})}{\pi f t_{int}}
              \Bigr|^2 df = \frac{1}{2\,t_{int}}

    The average of a current over :math:`t_{int}` (integrate and dump) is white noise of
    one-sided PSD S filtered by the boxcar's transfer function; its variance is
    :math:`S\,\Delta f`.

    Parameters
    ----------
    t_int_s : array_like
        Integration time [s], > 0.

    Returns
    -------
    ndarray
        Δf [Hz].

    References
    ----------
    .. [1] Rice (1944), doi:10.1002/j.1538-7305.1944.tb00874.x.
    """
    t = check_array("t_int_s", t_int_s, "integrator_bandwidth_hz", positive=True)
    return 0.5 / t


# --- flicker (1/f) noise --------------------------------------------------------------------


def _flicker_area(card, w_m, l_m, caller):
    if isinstance(card, str):
        card = _cards.load(card)
    if not isinstance(card, _cards.Card) or card.kind != "mosfet":
        fail("card", caller, "a MOSFET card or card name", card)
    w = card.w_m if w_m is None else check_array("w_m", w_m, caller, positive=True)
    length = card.l_m if l_m is None else check_array("l_m", l_m, caller, positive=True)
    check_broadcast(caller, w_m=np.asarray(w), l_m=np.asarray(length))
    return card.kf_v2_f / (card.cox_f_per_m2 * np.asarray(w) * np.asarray(length))


def flicker_psd(f_hz, card, *, w_m=None, l_m=None):
    r"""Gate-referred flicker-noise PSD of a MOSFET.

    .. math:: S_{V_g}(f) = \frac{K_f}{C_{ox}\,W\,L\,f} \ [\mathrm{V^2/Hz}]

    Parameters
    ----------
    f_hz : array_like
        Frequency f [Hz], > 0.
    card : Card or str
        MOSFET card providing ``kf_v2_f`` [V²·F] and ``cox_f_per_m2`` [F/m²].
    w_m, l_m : array_like, optional
        Gate width and length [m]; default the card's.

    Returns
    -------
    ndarray
        PSD [V²/Hz].

    References
    ----------
    .. [1] Hung, Ko, Hu & Cheng (1990), doi:10.1109/16.47770.
    """
    caller = "flicker_psd"
    f = check_array("f_hz", f_hz, caller, positive=True)
    k = _flicker_area(card, w_m, l_m, caller)
    check_broadcast(caller, f_hz=f, w_m=np.asarray(k))
    return k / f


def flicker_rms(f1_hz, f2_hz, card, *, w_m=None, l_m=None):
    r"""Gate-referred flicker-noise rms over the band [f1, f2], in closed form.

    .. math::

        v_\mathrm{rms} = \sqrt{\int_{f_1}^{f_2} \frac{K_f}{C_{ox} W L f}\,df}
                       = \sqrt{\frac{K_f}{C_{ox} W L}\,\ln\frac{f_2}{f_1}} \ [\mathrm{V}]

    Parameters
    ----------
    f1_hz, f2_hz : array_like
        Band edges [Hz], 0 < f1 < f2.
    card : Card or str
        MOSFET card.
    w_m, l_m : array_like, optional
        Gate width and length [m]; default the card's.

    Returns
    -------
    ndarray
        rms gate voltage [V].

    References
    ----------
    .. [1] Hung, Ko, Hu & Cheng (1990), doi:10.1109/16.47770.
    """
    caller = "flicker_rms"
    f1 = check_array("f1_hz", f1_hz, caller, positive=True)
    f2 = check_array("f2_hz", f2_hz, caller, positive=True)
    check_broadcast(caller, f1_hz=f1, f2_hz=f2)
    if np.any(f2 <= f1):
        fail("f2_hz", caller, "> f1_hz everywhere", "array with f2_hz <= f1_hz"
             if f2.ndim or f1.ndim else float(f2))
    k = _flicker_area(card, w_m, l_m, caller)
    check_broadcast(caller, f1_hz=f1, w_m=np.asarray(k))
    return np.sqrt(k * np.log(f2 / f1))


def flicker_sample(f1_hz, f2_hz, card, *, w_m=None, l_m=None, shape=None, seed=0):
    """Gaussian draws of the band-integrated flicker noise of :func:`flicker_rms` [V].

    Parameters
    ----------
    f1_hz, f2_hz, card, w_m, l_m
        As in :func:`flicker_rms`.
    shape : int or tuple of int, optional
        Output shape; default the broadcast shape of the parameters.
    seed : int or numpy.random.Generator
        Seed of the stream ``(seed, "flicker")``.

    Returns
    -------
    ndarray
        Zero-mean gate-referred noise voltages [V] (independent draws).

    References
    ----------
    .. [1] Hung, Ko, Hu & Cheng (1990), doi:10.1109/16.47770.
    """
    rms = flicker_rms(f1_hz, f2_hz, card, w_m=w_m, l_m=l_m)
    return _draw(rms, shape, seed, "flicker", "flicker_sample")


# --- kT/C noise -----------------------------------------------------------------------------


def ktc_psd(f_hz, c_f, r_ohm, temperature_k=T_REF_K):
    r"""Voltage-noise PSD on a capacitor C charged through a resistor R (thermal noise of R
    low-pass filtered by RC).

    .. math:: S_V(f) = \frac{4 k_B T R}{1 + (2\pi f R C)^2} \ [\mathrm{V^2/Hz}]

    Its integral over all frequencies is k_B·T/C, independent of R.

    Parameters
    ----------
    f_hz : array_like
        Frequency [Hz], >= 0.
    c_f : array_like
        Capacitance C [F], > 0.
    r_ohm : array_like
        Series resistance R [Ω], > 0.
    temperature_k : array_like
        Temperature [K].

    Returns
    -------
    ndarray
        PSD [V²/Hz].

    References
    ----------
    .. [1] Sarpeshkar, Delbrück & Mead (1993), doi:10.1109/101.261888.
    """
    caller = "ktc_psd"
    f = check_array("f_hz", f_hz, caller, nonneg=True)
    c = check_array("c_f", c_f, caller, positive=True)
    r = check_array("r_ohm", r_ohm, caller, positive=True)
    t = _temperature(temperature_k, caller)
    check_broadcast(caller, f_hz=f, c_f=c, r_ohm=r, temperature_k=t)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        s = 4.0 * K_B_J_PER_K * t * r / (1.0 + (2.0 * math.pi * f * r * c) ** 2)
        if np.all(np.isfinite(s)):
            return s
        # 4kTR or (2πfRC)² beyond the doubles (inf / inf): 4kT / (1/R + (2πfC)²·R), the
        # same PSD with R divided out, where the direct form is not finite
        w_c = 2.0 * math.pi * f * c
        return np.where(np.isfinite(s), s,
                        4.0 * K_B_J_PER_K * t / (1.0 / r + w_c * w_c * r))[()]


def ktc_rms(c_f, temperature_k=T_REF_K, *, bandwidth_hz=None, r_ohm=None):
    r"""kT/C noise rms voltage [V].

    .. math::

        v_\mathrm{rms} = \sqrt{k_B T / C} \quad (\text{whole spectrum}), \qquad
        v_\mathrm{rms}(B) = \sqrt{\frac{k_B T}{C}\,\frac{2}{\pi}\arctan(2\pi B R C)}
        \quad (\text{band } [0, B])

    Parameters
    ----------
    c_f : array_like
        Capacitance [F], > 0.
    temperature_k : array_like
        Temperature [K].
    bandwidth_hz : array_like, optional
        Upper band edge B [Hz]; needs ``r_ohm``. Default: the whole spectrum (R-independent).
    r_ohm : array_like, optional
        Series resistance [Ω] (only with ``bandwidth_hz``).

    Returns
    -------
    ndarray
        rms voltage [V].

    References
    ----------
    .. [1] Sarpeshkar, Delbrück & Mead (1993), doi:10.1109/101.261888.
    """
    caller = "ktc_rms"
    c = check_array("c_f", c_f, caller, positive=True)
    t = _temperature(temperature_k, caller)
    check_broadcast(caller, c_f=c, temperature_k=t)
    total = K_B_J_PER_K * t / c
    if bandwidth_hz is None and r_ohm is None:
        return np.sqrt(total)
    if bandwidth_hz is None or r_ohm is None:
        missing = "bandwidth_hz" if bandwidth_hz is None else "r_ohm"
        fail(missing, caller, "given together with "
             f"{'r_ohm' if missing == 'bandwidth_hz' else 'bandwidth_hz'}", None)
    b = check_array("bandwidth_hz", bandwidth_hz, caller, positive=True)
    r = check_array("r_ohm", r_ohm, caller, positive=True)
    check_broadcast(caller, c_f=c, bandwidth_hz=b, r_ohm=r, temperature_k=t)
    return np.sqrt(total * (2.0 / math.pi) * np.arctan(2.0 * math.pi * b * r * c))


def ktc_sample(c_f, temperature_k=T_REF_K, *, shape=None, seed=0):
    """Gaussian kT/C voltages sampled on capacitors C [V] (rms √(k_B T/C)).

    Parameters
    ----------
    c_f : array_like
        Capacitance [F].
    temperature_k : array_like
        Temperature [K].
    shape : int or tuple of int, optional
        Output shape; default the broadcast shape of the parameters.
    seed : int or numpy.random.Generator
        Seed of the stream ``(seed, "ktc")``.

    Returns
    -------
    ndarray
        Zero-mean sampled noise voltages [V].

    References
    ----------
    .. [1] Sarpeshkar, Delbrück & Mead (1993), doi:10.1109/101.261888.
    """
    return _draw(ktc_rms(c_f, temperature_k), shape, seed, "ktc", "ktc_sample")
