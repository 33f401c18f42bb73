r"""Bulk MOSFET in every inversion region: the charge-based EKV model.

The drain current is the difference of a forward and a reverse component, each an
interpolation between the exponential (weak-inversion) and square-law (strong-inversion)
limits that is smooth (C-infinity) through moderate inversion:

.. math::

    I_D &= I_\mathrm{spec}\,\bigl[i_f - i_r\bigr]\,\bigl(1 + \lambda\,|V_{DS}|\bigr) \\
    i_{f} &= \ln^2\!\bigl(1 + e^{V_P / (2U_T)}\bigr), \qquad
    i_{r} = \ln^2\!\bigl(1 + e^{(V_P - V_{DS}) / (2U_T)}\bigr) \\
    V_P &= \frac{V_{GS} - V_T}{n}, \qquad V_T = V_{T0} + \alpha_T\,(T - T_0) - \eta\,V_{DS} \\
    I_\mathrm{spec} &= 2\,n\,\mu(T)\,C_{ox}\,\frac{W}{L}\,U_T^2, \qquad
    \mu(T) = \mu_0\,(T/T_0)^{-k}, \qquad U_T = k_B T / q

with all voltages referred to the source and the bulk tied to the source (no body effect),
``T_0 = T_REF_K = 300 K``. The interpolation :math:`i = \ln^2(1 + e^{v/2})` of the normalised
forward/reverse currents is the one of Enz, Krummenacher & Vittoz (1995) (also Enz & Vittoz
2006, the EKV book). Its limits:

* weak inversion (:math:`V_P \ll -U_T`): :math:`I_D = I_\mathrm{spec}\,e^{(V_{GS}-V_T)/(nU_T)}
  (1 - e^{-V_{DS}/U_T})`, so the subthreshold swing is :math:`S = n\,U_T\ln 10` and
  :math:`g_m/I_D = 1/(n U_T)`;
* strong inversion, saturation (:math:`V_P \gg U_T`, :math:`V_{DS} > V_P`):
  :math:`I_D = \frac{\beta}{2n}(V_{GS} - V_T)^2` with :math:`\beta = \mu C_{ox} W/L`
  (the square law *with* the slope factor, not the textbook :math:`\beta/2` form).

DIBL enters as a threshold shift linear in :math:`V_{DS}` (the parameter :math:`\eta`);
channel-length modulation as the factor :math:`(1 + \lambda|V_{DS}|)`, which is C¹ at
:math:`V_{DS} = 0` because :math:`i_f - i_r` vanishes there. The ``softplus``
:math:`\ln(1 + e^x) = \max(x, 0) + \ln(1 + e^{-|x|})` is evaluated in that overflow-free form.

Polarity: cards have ``polarity = "n"`` or ``"p"``. A PMOS card holds magnitudes (``vt0_v`` > 0
for an enhancement device) and is evaluated by the sign convention
:math:`I_D^{(p)}(V_{GS}, V_{DS}) = -I_D^{(n)}(-V_{GS}, -V_{DS})`: pass the physical (negative)
V_GS and V_DS of a conducting PMOS and receive a negative drain current (flowing out of the
drain); :math:`g_m` and :math:`g_{ds}` are returned as :math:`\partial I_D/\partial V_{GS}` and
:math:`\partial I_D/\partial V_{DS}`, both positive. :class:`EkvParams` and the scalar kernel
are polarity-free (NMOS convention).

Mismatch follows Pelgrom, Duinmaijer & Welbers (1989):
:math:`\sigma(\Delta V_T) = A_{VT}/\sqrt{WL}` and
:math:`\sigma(\Delta\beta/\beta) = A_\beta/\sqrt{WL}`.

References
----------
.. [1] C. C. Enz, F. Krummenacher, E. A. Vittoz, "An analytical MOS transistor model valid in
   all regions of operation and dedicated to low-voltage and low-current applications",
   Analog Integrated Circuits and Signal Processing 8, 83–114 (1995),
   doi:10.1007/BF01239381.
.. [2] C. C. Enz, E. A. Vittoz, *Charge-Based MOS Transistor Modeling: The EKV Model for
   Low-Power and RF IC Design*, Wiley (2006), doi:10.1002/0470855460.
.. [3] M. J. M. Pelgrom, A. C. J. Duinmaijer, A. P. G. Welbers, "Matching properties of MOS
   transistors", IEEE J. Solid-State Circuits 24(5), 1433–1439 (1989),
   doi:10.1109/JSSC.1989.572629.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from . import cards as _cards
from . import rng
from ._checks import check_array, check_scalar, check_seed, fail
from ._jit import backend, jit, prange
from .constants import T_REF_K, V_TERMINAL_MAX_V, thermal_voltage_v

__all__ = [
    "EkvParams",
    "Mismatch",
    "ekv_numpy",
    "ekv_params",
    "ekv_scalar",
    "gm_over_id",
    "mismatch_sigma",
    "mosfet_current",
    "mosfet_small_signal",
    "sample_mismatch",
    "subthreshold_swing",
]

#: Below ``|V_DS|/(2·U_T) = SMALL_VDS_UT`` the kernel forms softplus(x_f) − softplus(x_r) as
#: log1p(σ(x_r)·expm1(V_DS/2U_T)) instead of by subtraction (no cancellation; above it the
#: plain difference loses at most a factor 1/(1 − e^−1) of relative precision) [-].
SMALL_VDS_UT = 1.0

#: Forward inversion coefficient i_f at which :func:`subthreshold_swing` evaluates by default
#: ("deep weak inversion": the swing is within 0.5 % of n·U_T·ln10 there) [-].
WEAK_INVERSION_IC = 1e-4

#: Lowest temperature :func:`ekv_params` accepts [K]: its mobility power law μ ∝ T^−k and
#: U_T = k_BT/q have no meaning near 0 K (and T^−k overflows there); 1 K is far below the
#: carrier freeze-out (~40 K) where bulk CMOS already leaves the model.
EKV_MIN_TEMPERATURE_K = 1.0


class EkvParams(NamedTuple):
    """EKV parameters of one transistor at one temperature (NMOS convention, SI units).

    Attributes
    ----------
    vt0_v : float
        Threshold voltage at V_DS -> 0 at the evaluation temperature [V].
    n : float
        Slope factor [-].
    i_spec_a : float
        Specific current I_spec = 2·n·μ(T)·C_ox·(W/L)·U_T² [A].
    ut_v : float
        Thermal voltage k_B·T/q [V].
    dibl_v_per_v : float
        DIBL coefficient η: V_T = vt0_v − η·V_DS [V/V].
    clm_per_v : float
        Channel-length modulation λ [1/V].
    """

    vt0_v: float
    n: float
    i_spec_a: float
    ut_v: float
    dibl_v_per_v: float
    clm_per_v: float


class Mismatch(NamedTuple):
    """Sampled Pelgrom mismatch of a population of transistors.

    Attributes
    ----------
    dvt_v : ndarray
        Threshold-voltage shift ΔV_T of each device [V].
    beta_scale : ndarray
        Current-factor multiplier 1 + Δβ/β of each device [-].
    """

    dvt_v: np.ndarray
    beta_scale: np.ndarray


# --- card → parameters ----------------------------------------------------------------------


def _as_mosfet_card(card_or_params: Any, caller: str):
    if isinstance(card_or_params, str):
        card_or_params = _cards.load(card_or_params)
    if not isinstance(card_or_params, _cards.Card) or card_or_params.kind != "mosfet":
        fail("card_or_params", caller, "a MOSFET card, a card name or an EkvParams",
             card_or_params)
    return card_or_params


def ekv_params(
    card_or_params: Any,
    temperature_k: float = T_REF_K,
    w_m: float | None = None,
    l_m: float | None = None,
) -> EkvParams:
    r"""EKV parameters of a card's transistor at ``temperature_k``.

    .. math::

        V_{T0}(T) = V_{T0} + \alpha_T (T - T_0), \quad \mu(T) = \mu_0 (T/T_0)^{-k}, \quad
        I_\mathrm{spec} = 2 n \mu(T) C_{ox} (W/L) U_T^2

    Parameters
    ----------
    card_or_params : Card, str or EkvParams
        A MOSFET card (or its name). An :class:`EkvParams` is returned unchanged (it already
        holds a temperature and a geometry; ``w_m``/``l_m`` must then be None).
    temperature_k : float
        Temperature T [K], at least :data:`EKV_MIN_TEMPERATURE_K` (the mobility power law and
        U_T = k_BT/q describe bulk CMOS far above carrier freeze-out; at T → 0 they divide
        by zero).
    w_m, l_m : float, optional
        Channel width and length [m]; default the card's ``w_m`` and ``l_m``.

    Returns
    -------
    EkvParams
        ``(vt0_v, n, i_spec_a, ut_v, dibl_v_per_v, clm_per_v)``, magnitudes for a PMOS card.

    References
    ----------
    .. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    caller = "ekv_params"
    if isinstance(card_or_params, EkvParams):
        if w_m is not None or l_m is not None:
            fail("w_m", caller, "None when an EkvParams is given (its I_spec fixes W/L)", w_m)
        return card_or_params
    card = _as_mosfet_card(card_or_params, caller)
    t = check_scalar("temperature_k", temperature_k, caller, lo=EKV_MIN_TEMPERATURE_K)
    w = card.w_m if w_m is None else check_scalar("w_m", w_m, caller, lo=0.0, lo_open=True)
    length = card.l_m if l_m is None else check_scalar("l_m", l_m, caller, lo=0.0,
                                                       lo_open=True)
    ut = float(thermal_voltage_v(t))
    mu = card.mobility_m2_per_vs * (t / T_REF_K) ** (-card.mobility_temp_exponent)
    n = card.slope_factor_n
    i_spec = 2.0 * n * mu * card.cox_f_per_m2 * (w / length) * ut * ut
    vt = card.vt0_v + card.vt0_tc_v_per_k * (t - T_REF_K)
    return EkvParams(
        vt0_v=float(vt),
        n=float(n),
        i_spec_a=float(i_spec),
        ut_v=ut,
        dibl_v_per_v=float(card.dibl_v_per_v),
        clm_per_v=float(card.get("clm_per_v", 0.0)),
    )


# --- kernels --------------------------------------------------------------------------------


@jit
def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@jit
def _logistic(x):
    e = math.exp(-abs(x))
    if x >= 0.0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


@jit
def ekv_scalar(vgs_v, vds_v, vt0_v, n, i_spec_a, ut_v, dibl, clm):
    """EKV drain current and its derivatives at one bias point (NMOS convention).

    Returns ``(id_a, gm_s, gds_s)``: I_D [A], ∂I_D/∂V_GS [S], ∂I_D/∂V_DS [S]. Arguments as
    :class:`EkvParams` (``dibl`` = η [V/V], ``clm`` = λ [1/V]). Numba scalar, the
    kernel-level primitive other kernels call (e.g. the 1T1R cell law); no input checks.

    The differences i_f − i_r and σ(x_f) − σ(x_r) are formed without cancellation (see
    :data:`SMALL_VDS_UT`), so I_D stays accurate and monotonic as V_DS → 0 in strong inversion.
    """
    two_ut = 2.0 * ut_v
    vp = (vgs_v - vt0_v + dibl * vds_v) / n
    xf = vp / two_ut
    xr = (vp - vds_v) / two_ut
    d = vds_v / two_ut  # x_f - x_r
    sf = _softplus(xf)
    sr = _softplus(xr)
    lf = _logistic(xf)
    lr = _logistic(xr)
    if abs(d) < SMALL_VDS_UT:
        # softplus(x_f) - softplus(x_r) = log1p(σ(x_r)·expm1(x_f - x_r))
        ds = math.log1p(lr * math.expm1(d))
    else:
        ds = sf - sr
    dl = lf * _logistic(-xr) * -math.expm1(-d)  # σ(x_f) - σ(x_r)
    diff = ds * (sf + sr)  # i_f - i_r
    m = 1.0 + clm * abs(vds_v)
    id_a = i_spec_a * diff * m
    # d(i_f - i_r)/dx = 2(s_f σ_f - s_r σ_r) = 2(Δs·σ_f + s_r·Δσ)
    gm = i_spec_a * m * 2.0 * (ds * lf + sr * dl) / (n * two_ut)
    sgn = 1.0 if vds_v > 0.0 else (-1.0 if vds_v < 0.0 else 0.0)
    dif = 2.0 * sf * lf  # d i_f / d x_f
    dir_ = 2.0 * sr * lr  # d i_r / d x_r
    gds = i_spec_a * (
        m * (dif * dibl / n - dir_ * (dibl / n - 1.0)) / two_ut + diff * clm * sgn
    )
    return id_a, gm, gds


@jit(parallel=True)
def _ekv_kernel(vgs, vds, vt0, i_spec, n, ut, dibl, clm, id_out, gm_out, gds_out):
    for i in prange(vgs.size):
        a, b, c = ekv_scalar(vgs[i], vds[i], vt0[i], n, i_spec[i], ut, dibl, clm)
        id_out[i] = a
        gm_out[i] = b
        gds_out[i] = c


def _softplus_np(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def _logistic_np(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def ekv_numpy(vgs, vds, vt0, i_spec, n, ut, dibl, clm):
    """NumPy reference of :func:`_ekv_kernel` (same equations, same order), arrays in and out.

    Note the argument order (``i_spec`` before ``n``) differs from :func:`ekv_scalar`'s. No
    input checks: the NumPy references of other kernels (1T1R) call it directly.
    """
    two_ut = 2.0 * ut
    vp = (vgs - vt0 + dibl * vds) / n
    xf = vp / two_ut
    xr = (vp - vds) / two_ut
    d = vds / two_ut
    sf = _softplus_np(xf)
    sr = _softplus_np(xr)
    lf = _logistic_np(xf)
    lr = _logistic_np(xr)
    small = np.abs(d) < SMALL_VDS_UT
    with np.errstate(over="ignore", invalid="ignore"):
        ds = np.where(small, np.log1p(lr * np.expm1(np.where(small, d, 0.0))), sf - sr)
    dl = lf * _logistic_np(-xr) * -np.expm1(-d)
    diff = ds * (sf + sr)
    m = 1.0 + clm * np.abs(vds)
    id_a = i_spec * diff * m
    gm = i_spec * m * 2.0 * (ds * lf + sr * dl) / (n * two_ut)
    dif = 2.0 * sf * lf
    dir_ = 2.0 * sr * lr
    gds = i_spec * (m * (dif * dibl / n - dir_ * (dibl / n - 1.0)) / two_ut
                    + diff * clm * np.sign(vds))
    return id_a, gm, gds


# --- public API -----------------------------------------------------------------------------


def _resolve(card_or_params, temperature_k, caller, w_m=None, l_m=None):
    """(EkvParams, polarity sign) for a card, card name or EkvParams."""
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    if isinstance(card_or_params, EkvParams):
        p = card_or_params
        for name, value in (("w_m", w_m), ("l_m", l_m)):
            if value is not None:
                fail(name, caller, "None when an EkvParams is given (its I_spec fixes W/L)",
                     value)
        t_p = p.ut_v / thermal_voltage_v(1.0)
        if t != T_REF_K and abs(t - t_p) > 1e-6 * t_p:
            fail("temperature_k", caller,
                 f"the temperature the EkvParams were made at ({t_p:.6g} K) or left at its "
                 "default", temperature_k)
        vals = [check_scalar(f"card_or_params.{k}", getattr(p, k), caller)
                for k in EkvParams._fields]
        p = EkvParams(*vals)
        if p.n <= 0 or p.i_spec_a <= 0 or p.ut_v <= 0 or p.clm_per_v < 0:
            fail("card_or_params", caller, "EkvParams with n, i_spec_a, ut_v > 0 and "
                 "clm_per_v >= 0", card_or_params)
        return p, 1.0
    card = _as_mosfet_card(card_or_params, caller)
    w = None if w_m is None else check_scalar("w_m", w_m, caller, lo=0.0, lo_open=True)
    length = None if l_m is None else check_scalar("l_m", l_m, caller, lo=0.0, lo_open=True)
    return ekv_params(card, t, w, length), (-1.0 if card.polarity == "p" else 1.0)


def _evaluate(caller, vgs, vds, card_or_params, temperature_k, w_m, l_m, dvt_v, beta_scale):
    vmax = V_TERMINAL_MAX_V
    vgs = check_array("vgs", vgs, caller, lo=-vmax, hi=vmax)
    vds = check_array("vds", vds, caller, lo=-vmax, hi=vmax)
    dvt = check_array("dvt_v", dvt_v, caller, lo=-vmax, hi=vmax)
    beta = check_array("beta_scale", beta_scale, caller, positive=True)
    p, sign = _resolve(card_or_params, temperature_k, caller, w_m, l_m)
    try:
        shape = np.broadcast_shapes(vgs.shape, vds.shape, dvt.shape, beta.shape)
    except ValueError:
        for name, arr in (("vds", vds), ("dvt_v", dvt), ("beta_scale", beta)):
            try:
                np.broadcast_shapes(vgs.shape, arr.shape)
            except ValueError:
                fail(name, caller, f"broadcastable with 'vgs' of shape {vgs.shape}",
                     f"array of shape {arr.shape}")
        fail("beta_scale", caller, "broadcastable with vgs, vds and dvt_v",
             f"array of shape {beta.shape}")
    g = np.ascontiguousarray(np.broadcast_to(sign * vgs, shape)).ravel()
    d = np.ascontiguousarray(np.broadcast_to(sign * vds, shape)).ravel()
    # A PMOS ΔV_T adds to |V_T| like an NMOS one does to V_T (magnitudes on the card).
    vt0 = np.ascontiguousarray(np.broadcast_to(p.vt0_v + dvt, shape)).ravel()
    ispec = np.ascontiguousarray(np.broadcast_to(p.i_spec_a * beta, shape)).ravel()
    if backend() == "numpy":
        i_d, gm, gds = ekv_numpy(g, d, vt0, ispec, p.n, p.ut_v, p.dibl_v_per_v, p.clm_per_v)
    else:
        i_d = np.empty(g.size)
        gm = np.empty(g.size)
        gds = np.empty(g.size)
        _ekv_kernel(g, d, vt0, ispec, float(p.n), float(p.ut_v), float(p.dibl_v_per_v),
                    float(p.clm_per_v), i_d, gm, gds)
    return (sign * i_d).reshape(shape), gm.reshape(shape), gds.reshape(shape)


def mosfet_small_signal(
    vgs,
    vds,
    card_or_params,
    temperature_k: float = T_REF_K,
    *,
    w_m: float | None = None,
    l_m: float | None = None,
    dvt_v=0.0,
    beta_scale=1.0,
):
    r"""Drain current and small-signal conductances of the EKV model (module docstring).

    Parameters
    ----------
    vgs, vds : array_like
        Gate–source and drain–source voltages [V]; broadcast together like a ufunc.
    card_or_params : Card, str or EkvParams
        MOSFET card (or name) evaluated at ``temperature_k``, or parameters from
        :func:`ekv_params` (which already hold their temperature; ``temperature_k`` must then
        be left at its default or equal that temperature).
    temperature_k : float
        Temperature [K].
    w_m, l_m : float, optional
        Channel width / length [m] (card only); default the card's.
    dvt_v, beta_scale : array_like
        Per-device threshold shift [V] and current-factor multiplier [-] (e.g. from
        :func:`sample_mismatch`); broadcast with ``vgs`` and ``vds``.

    Returns
    -------
    id_a, gm_s, gds_s : ndarray
        I_D [A], g_m = ∂I_D/∂V_GS [S] and g_ds = ∂I_D/∂V_DS [S], shape of the broadcast.

    References
    ----------
    .. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    return _evaluate("mosfet_small_signal", vgs, vds, card_or_params, temperature_k, w_m, l_m,
                     dvt_v, beta_scale)


def mosfet_current(
    vgs,
    vds,
    card_or_params,
    temperature_k: float = T_REF_K,
    *,
    w_m: float | None = None,
    l_m: float | None = None,
    dvt_v=0.0,
    beta_scale=1.0,
):
    r"""Drain current I_D [A] of the charge-based EKV model, valid in all inversion regions.

    .. math::

        I_D = 2 n \mu(T) C_{ox} \tfrac{W}{L} U_T^2
              \Bigl[\ln^2\bigl(1 + e^{V_P/2U_T}\bigr)
                  - \ln^2\bigl(1 + e^{(V_P - V_{DS})/2U_T}\bigr)\Bigr](1 + \lambda|V_{DS}|),
        \quad V_P = \frac{V_{GS} - V_{T0}(T) + \eta V_{DS}}{n}

    Parameters
    ----------
    vgs, vds : array_like
        Gate–source and drain–source voltages [V]; broadcast together like a ufunc.
    card_or_params : Card, str or EkvParams
        MOSFET card (or its name), or :class:`EkvParams` from :func:`ekv_params`.
    temperature_k : float
        Temperature [K] at which a card is evaluated (U_T, V_T0(T), μ(T)). With
        :class:`EkvParams` it must be the default or the params' own temperature.
    w_m, l_m : float, optional
        Channel width and length [m]; default the card's.
    dvt_v, beta_scale : array_like
        Per-device ΔV_T [V] and β multiplier [-] (mismatch), broadcast with the voltages.

    Returns
    -------
    ndarray
        Drain current [A] (negative for a conducting PMOS), shape of the broadcast inputs.

    Raises
    ------
    InvalidParameterError
        NaN/inf voltages, T <= 0, non-positive W or L, shapes that do not broadcast.

    Notes
    -----
    Saturation in strong inversion follows I_D = β/(2n)·(V_GS − V_T)², β = μ C_ox W/L.

    References
    ----------
    .. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    .. [2] Enz & Vittoz (2006), doi:10.1002/0470855460.
    """
    return _evaluate("mosfet_current", vgs, vds, card_or_params, temperature_k, w_m, l_m,
                     dvt_v, beta_scale)[0]


def gm_over_id(vgs, vds, card_or_params, temperature_k: float = T_REF_K, *, w_m=None, l_m=None):
    r"""Transconductance efficiency ``g_m/|I_D|`` [1/V].

    Tends to 1/(n·U_T) in weak inversion and to 2/(V_GS − V_T) in strong-inversion
    saturation. Undefined (NaN) where I_D = 0, i.e. at V_DS = 0.

    Parameters
    ----------
    vgs, vds : array_like
        Gate–source and drain–source voltages [V].
    card_or_params : Card, str or EkvParams
        The transistor.
    temperature_k : float
        Temperature [K].
    w_m, l_m : float, optional
        Geometry [m] (does not change g_m/I_D, which is size-independent in this model).

    Returns
    -------
    ndarray
        ``g_m/|I_D|`` [1/V].

    References
    ----------
    .. [1] Enz & Vittoz (2006), ch. 3 (inversion-coefficient design), doi:10.1002/0470855460.
    """
    i_d, gm, _ = _evaluate("gm_over_id", vgs, vds, card_or_params, temperature_k, w_m, l_m,
                           0.0, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return gm / np.abs(i_d)


def subthreshold_swing(
    card_or_params,
    temperature_k: float = T_REF_K,
    *,
    vgs_v: float | None = None,
    vds_v: float | None = None,
) -> float:
    r"""Subthreshold swing S = ln(10)·I_D/g_m [V/decade] of the model at one bias point.

    In weak inversion S → n·U_T·ln 10 (about 60 mV/dec·n at 300 K).

    Parameters
    ----------
    card_or_params : Card, str or EkvParams
        The transistor.
    temperature_k : float
        Temperature [K].
    vgs_v : float, optional
        Gate–source voltage [V] (NMOS convention: magnitude for PMOS). Default: the V_GS at
        which the forward inversion coefficient is ``WEAK_INVERSION_IC`` = 1e-4 (deep weak
        inversion).
    vds_v : float, optional
        Drain–source voltage [V] (magnitude). Default: the card's V_DD; required with
        :class:`EkvParams`.

    Returns
    -------
    float
        Subthreshold swing [V/decade].

    References
    ----------
    .. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    caller = "subthreshold_swing"
    p, _ = _resolve(card_or_params, temperature_k, caller)
    if vds_v is None:
        if isinstance(card_or_params, EkvParams):
            fail("vds_v", caller, "given when card_or_params is an EkvParams", vds_v)
        vds_v = _as_mosfet_card(card_or_params, caller).vdd_v
    vds = check_scalar("vds_v", vds_v, caller)
    if vgs_v is None:
        # i_f = ln²(1 + e^x) = IC  →  x = ln(e^√IC − 1);  V_GS = V_T + n·2U_T·x.
        x = math.log(math.expm1(math.sqrt(WEAK_INVERSION_IC)))
        vgs = p.vt0_v - p.dibl_v_per_v * vds + p.n * 2.0 * p.ut_v * x
    else:
        vgs = check_scalar("vgs_v", vgs_v, caller)
    # p already holds the temperature; T_REF_K is the "default" that _resolve accepts.
    i_d, gm, _ = _evaluate(caller, vgs, vds, p, T_REF_K, None, None, 0.0, 1.0)
    if not gm > 0:
        fail("vgs_v", caller, "a bias point with non-zero g_m", vgs)
    return float(math.log(10.0) * abs(i_d) / gm)


# --- Pelgrom mismatch -----------------------------------------------------------------------


def mismatch_sigma(card, w_m: float | None = None, l_m: float | None = None):
    r"""Pelgrom standard deviations for one device of area W·L.

    .. math::

        \sigma(\Delta V_T) = \frac{A_{VT}}{\sqrt{WL}}, \qquad
        \sigma(\Delta\beta/\beta) = \frac{A_\beta}{\sqrt{WL}}

    Parameters
    ----------
    card : Card or str
        MOSFET card with ``avt_v_m`` [V·m] and ``abeta_m`` [m].
    w_m, l_m : float, optional
        Width and length [m]; default the card's.

    Returns
    -------
    sigma_vt_v, sigma_beta_rel : float
        σ(ΔV_T) [V] and σ(Δβ/β) [-].

    References
    ----------
    .. [1] Pelgrom, Duinmaijer & Welbers (1989), doi:10.1109/JSSC.1989.572629.
    """
    return _pelgrom_sigmas(card, w_m, l_m, "mismatch_sigma")


def _pelgrom_sigmas(card, w_m, l_m, caller: str) -> tuple[float, float]:
    """:func:`mismatch_sigma` with its arguments checked for ``caller``."""
    card = _as_mosfet_card(card, caller)
    w = card.w_m if w_m is None else check_scalar("w_m", w_m, caller, lo=0.0, lo_open=True)
    length = card.l_m if l_m is None else check_scalar("l_m", l_m, caller, lo=0.0,
                                                       lo_open=True)
    root = math.sqrt(w * length)
    sig_vt, sig_beta = ((card.avt_v_m / root, card.abeta_m / root) if root > 0.0
                        else (math.inf, math.inf))
    if not (math.isfinite(sig_vt) and math.isfinite(sig_beta)):     # W·L below the doubles
        which, value = ("l_m", l_m) if l_m is not None else ("w_m", w_m)
        fail(which, caller, f"a size whose area W·L ({w!r} m × {length!r} m) gives finite "
             "Pelgrom sigmas", value)
    return sig_vt, sig_beta


def sample_mismatch(card, shape, *, w_m: float | None = None, l_m: float | None = None,
                    seed=0) -> Mismatch:
    """Draw Pelgrom mismatch for ``shape`` devices (Gaussian ΔV_T and Δβ/β, independent).

    Parameters
    ----------
    card : Card or str
        MOSFET card.
    shape : int or tuple of int
        Number / array shape of devices.
    w_m, l_m : float, optional
        Width and length [m]; default the card's.
    seed : int or numpy.random.Generator
        Seed of the counter-based streams ``("pelgrom_vt",)`` and ``("pelgrom_beta",)``;
        device ``i`` (C order) always gets the same draw.

    Returns
    -------
    Mismatch
        ``dvt_v`` [V] and ``beta_scale`` = 1 + Δβ/β [-], arrays of ``shape``; pass them to
        :func:`mosfet_current` as ``dvt_v=`` and ``beta_scale=``.

    References
    ----------
    .. [1] Pelgrom, Duinmaijer & Welbers (1989), doi:10.1109/JSSC.1989.572629.
    """
    caller = "sample_mismatch"
    s_vt, s_b = _pelgrom_sigmas(card, w_m, l_m, caller)
    seed = check_seed("seed", seed, caller)
    dvt = s_vt * rng.standard_normal(rng.derive_key(seed, "pelgrom_vt"), shape)
    beta = 1.0 + s_b * rng.standard_normal(rng.derive_key(seed, "pelgrom_beta"), shape)
    # A Gaussian β factor can cross zero only for absurdly small devices (σ > 20 %): refuse.
    if beta.size and beta.min() <= 0.0:
        fail("w_m", caller, "large enough that 1 + Δβ/β stays positive "
             f"(σ(Δβ/β) = {s_b:.3g})", w_m)
    return Mismatch(dvt_v=dvt, beta_scale=beta)
