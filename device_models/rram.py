r"""RRAM read noise, stuck-at faults and post-programming relaxation (retention).

Read noise
    Per-cell Gaussian, state-dependent:
    :math:`\sigma_\mathrm{read}(G) = r\,G_{max}\,(G/G_{max})^{\beta}` [S], with ``r`` =
    ``read_noise_rel`` (σ/G at G_max) and β = ``read_noise_exponent`` (1: purely relative,
    0.5: shot-noise-like, 0: constant).
Faults
    Each cell is independently stuck at G_max with probability ``stuck_on_rate`` and at
    G_min with probability ``stuck_off_rate`` (one uniform number per cell index).
Relaxation
    After write-verify the filament relaxes: the conductance performs a random walk whose
    spread grows with the logarithm of time,
    :math:`G(t) = G_0 + \sigma_r(G_0, t)\,z_i`,
    :math:`\sigma_r = \rho\,\Delta G\,s(G_0)\,\log_{10}(1 + t_\mathrm{eff}/t_r)`,
    with :math:`z_i` fixed per cell (so one cell's trajectory is consistent across ages),
    state factor :math:`s(G) = 1 - a + 4a\,x(1-x)`, :math:`x = (G-G_{min})/\Delta G`, and
    Arrhenius time acceleration
    :math:`t_\mathrm{eff} = t\,\exp[E_a/k_B\,(1/T_\mathrm{ref} - 1/T)]`.

References
----------
.. [1] W. Wan et al., "A compute-in-memory chip based on resistive random-access memory",
   Nature 608, 504–512 (2022), Extended Data Fig. 3d (relaxation spread vs time and state).
   doi:10.1038/s41586-022-04992-8
.. [2] P. Yao et al., "Fully hardware-implemented memristor convolutional neural network",
   Nature 577, 641–646 (2020), Extended Data Fig. 3 (drift of weights over 30 days).
   doi:10.1038/s41586-020-1942-4
.. [3] A. Fantini et al., "Intrinsic program instability in HfO2 RRAM and consequences on
   program algorithms", IEDM 2015, 7.5.1. doi:10.1109/IEDM.2015.7409648
"""

from __future__ import annotations

import math

import numpy as np

from . import cards, rng
from ._checks import check_array, check_scalar, check_seed, fail
from .constants import K_B_EV_PER_K, LOG_FLOAT_MAX, T_REF_K

__all__ = [
    "arrhenius_factor",
    "read_sigma_rram",
    "relax",
    "relaxation_sigma_s",
    "stuck_at_faults",
]

_KINDS = ("rram", "1t1r")


def _card(card, caller: str, kinds=_KINDS):
    return cards.check_memory_card("card", card, caller, kinds)


def read_sigma_rram(card, g_s) -> np.ndarray:
    r"""Per-cell read-noise standard deviation of an RRAM/1T1R cell [S].

    .. math:: \sigma(G)\,[\mathrm{S}] = r\,G_{max}\,(G/G_{max})^{\beta}

    Parameters
    ----------
    card : Card or str
        An ``rram`` or ``1t1r`` card (``read_noise_rel`` = r, ``read_noise_exponent`` = β).
    g_s : array_like
        Cell conductances [S], >= 0.

    Returns
    -------
    ndarray
        σ [S], the shape of ``g_s``.

    References
    ----------
    .. [1] D. Ielmini et al., "Resistance-dependent amplitude of random telegraph-signal
       noise in resistive switching memories", Appl. Phys. Lett. 96, 053503 (2010).
       doi:10.1063/1.3304167
    """
    caller = "read_sigma_rram"
    card = _card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    return card.read_noise_rel * card.g_max_s * (g / card.g_max_s) ** card.read_noise_exponent


def stuck_at_faults(card, g_s, *, seed=0) -> np.ndarray:
    """Return ``g_s`` with stuck-at-G_max / stuck-at-G_min cells at the card's rates [S].

    Cell *k* (C order) is stuck at ``g_max_s`` if ``u_k > 1 − stuck_on_rate`` and at
    ``g_min_s`` if ``u_k < stuck_off_rate``, with ``u_k`` the uniform number of stream
    (seed, "stuck_at") at index *k*: the same cells fail for the same seed whatever the
    chunking. Works for every memory kind (rram, 1t1r, pcm).

    Parameters
    ----------
    card : Card or str
        A memory card with ``stuck_on_rate`` and ``stuck_off_rate`` [-].
    g_s : array_like
        Conductances [S], >= 0.
    seed : int or numpy.random.Generator
        Seed of the fault map.

    References
    ----------
    .. [1] C.-Y. Chen et al., "RRAM defect modeling and failure analysis based on march test
       and a novel squeeze-search scheme", IEEE Trans. Computers 64(1), 180–190 (2015).
       doi:10.1109/TC.2014.12
    """
    caller = "apply_faults"
    card = _card(card, caller, kinds=("rram", "1t1r", "pcm"))
    g = check_array("g_s", g_s, caller, nonneg=True)
    p_on, p_off = card.stuck_on_rate, card.stuck_off_rate
    if p_on + p_off > 1.0:
        fail("card", caller, "a card with stuck_on_rate + stuck_off_rate <= 1",
             f"{p_on!r} + {p_off!r}")
    seed = check_seed("seed", seed, caller)
    u = rng.uniform(rng.derive_key(seed, "stuck_at"), g.shape)
    out = np.where(u > 1.0 - p_on, card.g_max_s, g)
    return np.where(u < p_off, card.g_min_s, out)


def arrhenius_factor(ea_ev: float, temperature_k: float, t_ref_k: float = T_REF_K) -> float:
    r"""Time-acceleration factor of a thermally activated process.

    .. math:: A = \exp\!\left[\frac{E_a}{k_B}\left(\frac{1}{T_\mathrm{ref}} - \frac{1}{T}
              \right)\right]

    so that ageing for ``t`` at ``T`` equals ageing for ``A·t`` at ``T_ref``.

    Parameters
    ----------
    ea_ev : float
        Activation energy [eV], >= 0.
    temperature_k, t_ref_k : float
        Operating and reference temperatures [K], > 0.

    References
    ----------
    .. [1] JEDEC JEP122H, "Failure mechanisms and models for semiconductor devices" (2016),
       Arrhenius acceleration.
    """
    caller = "arrhenius_factor"
    ea = check_scalar("ea_ev", ea_ev, caller, lo=0.0)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    tr = check_scalar("t_ref_k", t_ref_k, caller, lo=0.0, lo_open=True)
    if ea == 0.0 or t == tr:        # exactly 1 (also where 1/T overflows, 0·inf)
        return 1.0
    inv = 1.0 / tr - 1.0 / t
    if math.isnan(inv):             # both reciprocals overflow (subnormal temperatures)
        inv = (t - tr) / t / tr
    arg = ea / K_B_EV_PER_K * inv
    if arg > LOG_FLOAT_MAX:         # a factor beyond 1.8e308: no ageing is that fast
        fail("ea_ev", caller, f"small enough that exp(E_a/k_B·(1/{tr!r} K − 1/{t!r} K)) "
             "stays finite", ea)
    return math.exp(arg)


def relaxation_sigma_s(card, g_s, *, t_s, temperature_k: float = T_REF_K) -> np.ndarray:
    r"""Spread of relaxation at time ``t_s`` after programming [S] (see module docstring).

    .. math:: \sigma_r = \rho\,\Delta G\,s(G)\,\log_{10}(1 + t_\mathrm{eff}/t_r)

    Parameters
    ----------
    card : Card or str
        An ``rram`` or ``1t1r`` card.
    g_s : array_like
        Programmed conductances [S].
    t_s : float
        Time since programming [s], >= 0.
    temperature_k : float
        Storage / operating temperature [K].

    References
    ----------
    .. [1] W. Wan et al., Nature 608, 504 (2022), Extended Data Fig. 3d.
       doi:10.1038/s41586-022-04992-8
    """
    caller = "relaxation_sigma_s"
    card = _card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    t = check_scalar("t_s", t_s, caller, lo=0.0)
    acc = arrhenius_factor(card.ea_ev, temperature_k, card.get("relax_t_ref_k", T_REF_K))
    dg = card.g_max_s - card.g_min_s
    x = np.clip((g - card.g_min_s) / dg, 0.0, 1.0)
    a = card.relax_state_dependence
    shape = 1.0 - a + 4.0 * a * x * (1.0 - x)
    return card.relax_sigma_frac * dg * shape * math.log10(1.0 + t * acc / card.relax_t0_s)


def relax(card, g_s, *, t_s, temperature_k: float = T_REF_K, seed=0) -> np.ndarray:
    """Conductances after relaxing for ``t_s`` at ``temperature_k`` [S].

    ``G = max(G_0 + σ_r(G_0, t)·z_k, 0)`` with ``z_k`` the normal number of stream
    (seed, "relaxation") at cell index *k*; see :func:`relaxation_sigma_s`.

    Parameters
    ----------
    card : Card or str
        An ``rram`` or ``1t1r`` card.
    g_s : array_like
        Conductances right after programming [S], >= 0.
    t_s : float
        Time since programming [s], >= 0.
    temperature_k : float
        Temperature [K] (Arrhenius acceleration with the card's ``ea_ev``).
    seed : int or numpy.random.Generator
        Seed of the per-cell relaxation directions.

    References
    ----------
    .. [1] W. Wan et al., Nature 608, 504 (2022), Extended Data Fig. 3.
       doi:10.1038/s41586-022-04992-8
    """
    caller = "age"
    card = _card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    seed = check_seed("seed", seed, caller)
    sig = relaxation_sigma_s(card, g, t_s=t_s, temperature_k=temperature_k)
    z = rng.standard_normal(rng.derive_key(seed, "relaxation"), g.shape)
    return np.maximum(g + sig * z, 0.0)
