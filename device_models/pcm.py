r"""Phase-change memory: programming noise, power-law drift, 1/f read noise, compensation.

The statistical PCM model of Nandakumar et al. (2019), used by Joshi et al. (2020) for
inference on a million-device PCM array. With :math:`x = G_T/G_{max}` (the target relative
to the card's G_max):

Programming noise
    :math:`G_P = G_T + \sigma_P(x)\,z`, :math:`\sigma_P = \sum_k c_k x^k` [S].
Drift
    :math:`G(t) = G_P\,(t/t_0)^{-\nu}` for :math:`t \ge t_0` (``G_P`` is the state at the first
    read :math:`t_0`), with one exponent per device,
    :math:`\nu = |\mu_\nu(x) + \sigma_\nu(x)\,z'|`,
    :math:`\mu_\nu = \mathrm{clip}(a_0 + a_1 \ln x)`, :math:`\sigma_\nu = \mathrm{clip}(b_0 +
    b_1\ln x)`.
Read noise (1/f, grows with time)
    :math:`\sigma_R = |G(t)|\,Q_s(x)\,\sqrt{\ln\frac{t + t_r}{2 t_r}}`,
    :math:`Q_s = \min(q/x^{e}, Q_{max})`.
Global drift compensation
    One scale factor per array, :math:`\alpha = \sum G(t_0) / \sum G(t)`, measured with a
    known input and applied to the outputs.

References
----------
.. [1] V. Joshi et al., "Accurate deep neural network inference using computational
   phase-change memory", Nat. Commun. 11, 2473 (2020), Methods. doi:10.1038/s41467-020-16108-9
.. [2] S. R. Nandakumar et al., "Phase-change memory models for deep learning training and
   inference", IEEE ICECS 2019, 727–730. doi:10.1109/ICECS46596.2019.8964852
.. [3] M. Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based on
   phase-change memory for deep neural network inference", Nat. Electron. 6, 680 (2023).
   doi:10.1038/s41928-023-01010-1
"""

from __future__ import annotations

import numpy as np

from . import cards, rng
from ._checks import check_array, check_scalar, check_seed, fail
from .constants import T_REF_K
from .programming import ProgramResult
from .rram import arrhenius_factor

__all__ = [
    "drift",
    "drift_compensation_scale",
    "drift_exponent_stats",
    "drift_exponents",
    "drift_time_ratio",
    "prog_sigma_pcm",
    "program_pcm",
    "read_sigma_pcm",
]

#: Smallest G/G_max used inside logarithms and power laws of the model [-].
_X_FLOOR = 1e-7


def _card(card, caller: str):
    return cards.check_memory_card("card", card, caller, ("pcm",))


def _x(card, g):
    return np.maximum(np.abs(g) / card.g_max_s, _X_FLOOR)


def prog_sigma_pcm(card, g_target_s) -> np.ndarray:
    r"""Programming-noise σ [S] at target conductances: :math:`\sum_k c_k (G_T/G_{max})^k`.

    Parameters
    ----------
    card : Card or str
        A ``pcm`` card (``prog_noise_coeffs_s``).
    g_target_s : array_like
        Targets [S], >= 0.

    References
    ----------
    .. [1] V. Joshi et al., Nat. Commun. 11, 2473 (2020), Methods. doi:10.1038/s41467-020-16108-9
    """
    caller = "prog_sigma_pcm"
    card = _card(card, caller)
    g = check_array("g_target_s", g_target_s, caller, nonneg=True)
    x = g / card.g_max_s
    sig = np.zeros_like(x)
    for k, c in enumerate(card.prog_noise_coeffs_s):
        sig = sig + c * x**k
    return np.maximum(sig, 0.0)


def program_pcm(card, g_target_s, *, seed=0) -> ProgramResult:
    """Program PCM cells: targets plus programming noise (see module docstring).

    The card's ``prog_pulses`` iterations of the chip's iterative programming are counted
    per cell, each costing ``e_prog_pulse_j`` and ``t_prog_pulse_s``; the noise model is the
    measured residual of that scheme, so every cell ends "converged".

    Parameters
    ----------
    card : Card or str
        A ``pcm`` card.
    g_target_s : array_like
        Targets [S] inside ``[g_min_s, g_max_s]``.
    seed : int or numpy.random.Generator
        Seed of the programming-noise stream (keyed by cell index).

    Returns
    -------
    ProgramResult

    References
    ----------
    .. [1] V. Joshi et al., Nat. Commun. 11, 2473 (2020). doi:10.1038/s41467-020-16108-9
    """
    caller = "program_pcm"
    card = _card(card, caller)
    g = check_array("g_target_s", g_target_s, caller, lo=card.g_min_s, hi=card.g_max_s)
    seed = check_seed("seed", seed, caller)
    z = rng.standard_normal(rng.derive_key(seed, "pcm_program"), g.shape)
    g_p = np.maximum(g + prog_sigma_pcm(card, g) * z, 0.0)
    n = card.prog_pulses
    return ProgramResult(
        g_s=g_p,
        pulses=np.full(g.shape, n, dtype=np.int64),
        energy_j=np.full(g.shape, n * card.e_prog_pulse_j),
        time_s=np.full(g.shape, n * card.t_prog_pulse_s),
        converged=np.ones(g.shape, dtype=bool),
    )


def drift_exponents(card, g_s, *, seed=0) -> np.ndarray:
    r"""Drift exponent ν of each device, drawn once per cell index [-].

    .. math:: \nu = |\mu_\nu(x) + \sigma_\nu(x) z|, \quad x = G/G_{max}

    Parameters
    ----------
    card : Card or str
        A ``pcm`` card (``nu_mean_*``, ``nu_sigma_*``).
    g_s : array_like
        Programmed conductances [S] (the state the exponent depends on).
    seed : int or numpy.random.Generator
        Seed of the per-device exponents.

    References
    ----------
    .. [1] S. R. Nandakumar et al., IEEE ICECS 2019. doi:10.1109/ICECS46596.2019.8964852
    """
    caller = "drift_exponents"
    card = _card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    seed = check_seed("seed", seed, caller)
    mu, sd = drift_exponent_stats(card, g)
    z = rng.standard_normal(rng.derive_key(seed, "pcm_drift_nu"), g.shape)
    return np.abs(mu + sd * z)


def drift_exponent_stats(card, g_s) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and device-to-device σ of the drift exponent at conductances ``g_s`` [-].

    .. math:: \mu_\nu = \mathrm{clip}(a_0 + a_1 \ln x), \quad
              \sigma_\nu = \mathrm{clip}(b_0 + b_1 \ln x), \quad x = G/G_{max}

    References
    ----------
    .. [1] S. R. Nandakumar et al., IEEE ICECS 2019. doi:10.1109/ICECS46596.2019.8964852
    """
    caller = "drift_exponent_stats"
    card = _card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    lx = np.log(_x(card, g))
    a = card.nu_mean_coeffs
    b = card.nu_sigma_coeffs
    mu = np.clip(a[0] + (a[1] if len(a) > 1 else 0.0) * lx, card.nu_mean_min, card.nu_mean_max)
    sd = np.clip(b[0] + (b[1] if len(b) > 1 else 0.0) * lx, card.nu_sigma_min,
                 card.nu_sigma_max)
    return mu, sd


def drift_time_ratio(card, t_s: float, temperature_k: float = T_REF_K) -> float:
    """:math:`\\max(t_{eff}, t_0)/t_0` of the drift law at ``t_s`` and ``temperature_k`` [-]
    (:math:`t_{eff}` Arrhenius-accelerated with the card's ``drift_ea_ev``)."""
    card = _card(card, "drift_time_ratio")
    t = _t_eff(card, t_s, temperature_k, "drift_time_ratio")
    return max(t, card.t0_s) / card.t0_s


def _t_eff(card, t_s, temperature_k, caller):
    t = check_scalar("t_s", t_s, caller, lo=0.0)
    ea = card.get("drift_ea_ev")
    if ea is None:
        check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
        return t
    return t * arrhenius_factor(ea, temperature_k, card.get("drift_t_ref_k", T_REF_K))


def drift(card, g_s, *, t_s, temperature_k: float = T_REF_K, seed=0) -> np.ndarray:
    r"""Conductance at ``t_s`` after programming: :math:`G\,(\max(t, t_0)/t_0)^{-\nu}` [S].

    ``g_s`` is the programmed state (read at :math:`t_0`); ν per device from
    :func:`drift_exponents` with the same seed. With a card ``drift_ea_ev`` the time is
    Arrhenius-accelerated at ``temperature_k``; without it drift is temperature-independent.

    Parameters
    ----------
    card : Card or str
        A ``pcm`` card.
    g_s : array_like
        Programmed conductances [S], >= 0.
    t_s : float
        Time since programming [s], >= 0.
    temperature_k : float
        Temperature [K].
    seed : int or numpy.random.Generator
        Seed of the drift exponents.

    References
    ----------
    .. [1] D. Ielmini, A. L. Lacaita and D. Mantegazza, "Recovery and drift dynamics of
       resistance and threshold voltages in phase-change memories", IEEE Trans. Electron
       Devices 54(2), 308–315 (2007). doi:10.1109/TED.2006.888752
    .. [2] V. Joshi et al., Nat. Commun. 11, 2473 (2020). doi:10.1038/s41467-020-16108-9
    """
    caller = "age"
    card = _card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    ratio = drift_time_ratio(card, t_s, temperature_k)
    nu = drift_exponents(card, g, seed=seed)
    return g * ratio ** (-nu)


def read_sigma_pcm(card, g_s, *, t_s: float = 0.0, t_read_s: float | None = None) -> np.ndarray:
    r"""1/f read-noise σ [S] of PCM cells at ``t_s`` after programming.

    .. math:: \sigma_R = |G|\,\min(q/x^{e}, Q_{max})\sqrt{\ln\frac{t + t_r}{2 t_r}}, \quad
              t = \max(t_s, t_0)

    The square root is the 1/f spectrum :math:`G^2Q_s^2/f` integrated from the lowest frequency
    a read at age t sees, :math:`\sim 1/t`, up to the integrator's noise bandwidth
    :math:`1/(2t_r)` (:func:`device_models.noise.integrator_bandwidth_hz`), so ``t_read_s``
    is the read's integration time [s] (default the card's ``t_read_s``, the read of the chip
    the model was fitted on).

    References
    ----------
    .. [1] V. Joshi et al., Nat. Commun. 11, 2473 (2020), Methods. doi:10.1038/s41467-020-16108-9
    """
    caller = "read_sigma_s"
    card = _card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    t = max(check_scalar("t_s", t_s, caller, lo=0.0), card.t0_s)
    q = np.minimum(card.read_noise_q_coeff / _x(card, g) ** card.read_noise_q_exponent,
                   card.read_noise_q_max)
    tr = card.t_read_s if t_read_s is None else check_scalar("t_read_s", t_read_s, caller,
                                                              lo=0.0, lo_open=True)
    return np.abs(g) * q * np.sqrt(np.log((t + tr) / (2.0 * tr)))


def drift_compensation_scale(reference, measured) -> float:
    r"""Global drift-compensation factor :math:`\alpha = \sum |y_0| / \sum |y(t)|` [-].

    ``reference`` are the outputs (or conductances) for a known calibration input right
    after programming, ``measured`` the same quantity now; multiplying the array's outputs
    by α undoes the average drift (one factor per array).

    References
    ----------
    .. [1] V. Joshi et al., Nat. Commun. 11, 2473 (2020), "global drift compensation".
       doi:10.1038/s41467-020-16108-9
    """
    caller = "drift_compensation_scale"
    ref = check_array("reference", reference, caller)
    mea = check_array("measured", measured, caller)
    if ref.shape != mea.shape:
        fail("measured", caller, f"an array of the reference's shape {ref.shape}",
             f"array of shape {mea.shape}")
    # both sums in units of the largest magnitude, so huge finite inputs cannot overflow
    scale = max(float(np.abs(ref).max(initial=0.0)), float(np.abs(mea).max(initial=0.0)))
    den = float((np.abs(mea) / scale).sum()) if scale > 0.0 else 0.0
    if den <= 0.0:
        fail("measured", caller, "not all zero", "all-zero array")
    return float((np.abs(ref) / scale).sum()) / den
