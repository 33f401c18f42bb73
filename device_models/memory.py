r"""One interface over every memory kind (``rram``, ``1t1r``, ``pcm``) for the tile.

The tile (``cimsim.tile.state``) programs, faults, ages and reads conductances through these four
functions, whatever the device card is:

* :func:`program` — write-verify (:func:`~device_models.programming.program_write_verify`)
  for RRAM / 1T1R; the programming-noise model (:func:`~device_models.pcm.program_pcm`) for
  PCM;
* :func:`apply_faults` — stuck-at-G_max / stuck-at-G_min cells at the card's rates;
* :func:`age` — RRAM relaxation (:func:`~device_models.rram.relax`) or PCM power-law drift
  (:func:`~device_models.pcm.drift`) at ``t_s`` and ``temperature_k``;
* :func:`read_sigma_s` — the card's own (empirical) per-cell read-noise σ [S];
* :func:`read_noise` — the read noise a tile sees: the card's excess (1/f, random-telegraph)
  conductance noise beside the thermal and shot noise of the cell at the tile's integration
  time and temperature (:class:`ReadNoise`, combined by the variance identity in the tile);
* :func:`cell_iv` — the card's cell I–V law for nonlinear crossbar solves (sinh RRAM/PCM, or
  the series transistor + RRAM of a 1T1R cell).

Read noise of one array read
    A cell of conductance G read at row voltage v through an integrator of duration
    :math:`t_{int}` contributes a current of variance

    .. math::

        \sigma_I^2 = v^2\,\sigma_{ex}^2(G) + S_I(G, v, T)\,\Delta f, \qquad
        \Delta f = \frac{1}{2 t_{int}}, \qquad
        S_I = 4k_BTG\,\bigl[(1 - F) + F\,x\coth x\bigr],\ x = \frac{qv}{2k_BT}

    (A²; :func:`device_models.noise.conductor_psd`,
    :func:`~device_models.noise.integrator_bandwidth_hz`).
    The white part holds the thermal noise (4kTG at v = 0) and the shot noise (2qF|I| for
    :math:`qv \gg k_BT`) in one expression, so neither is counted twice; F is the card's
    ``shot_noise_fano`` (default 1, Poissonian). The excess part :math:`\sigma_{ex}` is the
    card's conductance noise beyond the white floor:

    * PCM: the 1/f noise of the card's model (:func:`device_models.pcm.read_sigma_pcm`)
      integrated up to the tile's own noise bandwidth :math:`1/(2t_{int})`;
    * RRAM / 1T1R: the card's empirical figure σ(G) (:func:`device_models.rram.read_sigma_rram`)
      is a measured total at the card's read (``v_read_v``, ``t_read_s``, at 300 K), so the white
      noise of that read is taken out, :math:`\sigma_{ex}^2 = \max(\sigma^2 - S_I(G, V_c,
      300\,\mathrm{K})\,\Delta f_c / V_c^2,\ 0)`: at the card's own read the total equals the
      card's figure, and the white part then follows the tile's bandwidth and temperature.

    A read conductance is never negative: a cell reads :math:`\tilde G = \max(G + \sigma_{ex}
    z, 0)`, whose mean and variance (rectified Gaussian)

    .. math::

        E[\tilde G] = G\Phi(a) + \sigma_{ex}\phi(a), \quad
        E[\tilde G^2] = (G^2 + \sigma_{ex}^2)\Phi(a) + G\sigma_{ex}\phi(a), \quad
        a = G/\sigma_{ex}

    are what the tile's variance identity uses (equal to G and :math:`\sigma_{ex}^2` when
    :math:`\sigma_{ex} \ll G`).

References
----------
.. [1] P. Yao et al., Nature 577, 641 (2020). doi:10.1038/s41586-020-1942-4
.. [2] V. Joshi et al., Nat. Commun. 11, 2473 (2020). doi:10.1038/s41467-020-16108-9
.. [3] Ya. M. Blanter, M. Büttiker, Phys. Rep. 336, 1 (2000).
   doi:10.1016/S0370-1573(99)00123-4
.. [4] D. Ielmini, F. Nardi, C. Cagli, "Resistance-dependent amplitude of random
   telegraph-signal noise in resistive switching memories", Appl. Phys. Lett. 96, 053503
   (2010). doi:10.1063/1.3304167
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import ndtr

from . import cards as _cards
from . import noise as _noise
from . import pcm as _pcm
from . import rram as _rram
from ._checks import check_array, check_scalar, fail
from ._jit import backend, jit, prange
from .constants import T_REF_K
from .iv import SinhIV
from .programming import ProgramResult, program_write_verify

__all__ = [
    "MEMORY_KINDS",
    "ProgramResult",
    "ReadNoise",
    "age",
    "apply_faults",
    "cell_iv",
    "program",
    "predicted_drift_error",
    "read_noise",
    "read_sigma_s",
]

#: Card kinds these functions accept.
MEMORY_KINDS = ("rram", "1t1r", "pcm")


def _memory_card(card, caller: str):
    if isinstance(card, str):
        card = _cards.load(card)
    if not isinstance(card, _cards.Card):
        fail("card", caller, "a Card or a card name", card)
    if card.kind not in MEMORY_KINDS:
        fail("card", caller, f"a memory card of kind {list(MEMORY_KINDS)}",
             f"card {card.name!r} of kind {card.kind!r}")
    return card


def program(card, g_target_s, *, seed=0, tolerance_s=None,
            temperature_k: float = T_REF_K) -> ProgramResult:
    """Program target conductances on a memory card's cells.

    Parameters
    ----------
    card : Card or str
        Memory card (kind ``rram``, ``1t1r`` or ``pcm``).
    g_target_s : array_like
        Targets [S] inside the card's ``[g_min_s, g_max_s]``.
    seed : int or numpy.random.Generator
        Seed of every random stream of the programming.
    tolerance_s : float or array_like, optional
        RRAM/1T1R write-verify acceptance half-width [S]; default
        ``card.tolerance_frac·(g_max_s − g_min_s)``. Must be None for PCM (its noise model is
        the residual of the chip's own iterative scheme).
    temperature_k : float
        Temperature during programming [K] (1T1R compliance current).

    Returns
    -------
    ProgramResult
        ``.g_s``, ``.pulses``, ``.energy_j``, ``.time_s``, ``.converged`` (per cell).
    """
    caller = "program"
    card = _memory_card(card, caller)
    if card.kind == "pcm":
        if tolerance_s is not None:
            fail("tolerance_s", caller, "None for a PCM card (no write-verify tolerance)",
                 tolerance_s)
        check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
        return _pcm.program_pcm(card, g_target_s, seed=seed)
    if tolerance_s is None:
        tolerance_s = card.tolerance_frac * (card.g_max_s - card.g_min_s)
    return program_write_verify(card, g_target_s, tolerance_s, seed,
                                temperature_k=temperature_k)


def apply_faults(card, g_s, *, seed=0):
    """Stuck-at-G_max / stuck-at-G_min cells at the card's rates (see
    :func:`device_models.rram.stuck_at_faults`) [S]."""
    return _rram.stuck_at_faults(_memory_card(card, "apply_faults"), g_s, seed=seed)


def age(card, g_s, *, t_s, temperature_k: float = T_REF_K, seed=0):
    """Conductances ``t_s`` seconds after programming at ``temperature_k`` [S].

    RRAM/1T1R: log-time relaxation with Arrhenius acceleration
    (:func:`device_models.rram.relax`); PCM: power-law drift with per-device exponents
    (:func:`device_models.pcm.drift`).
    """
    card = _memory_card(card, "age")
    if card.kind == "pcm":
        return _pcm.drift(card, g_s, t_s=t_s, temperature_k=temperature_k, seed=seed)
    return _rram.relax(card, g_s, t_s=t_s, temperature_k=temperature_k, seed=seed)


def read_sigma_s(card, g_s, *, t_s: float = 0.0):
    """The card's own per-cell read-noise σ [S] at conductances ``g_s`` (``t_s`` for PCM 1/f
    noise), as published for the card's read (see :func:`read_noise` for the noise of a tile's
    read).

    RRAM/1T1R: :func:`device_models.rram.read_sigma_rram` (``t_s`` is validated, unused);
    PCM: :func:`device_models.pcm.read_sigma_pcm` at the card's ``t_read_s``.
    """
    caller = "read_sigma_s"
    card = _memory_card(card, caller)
    if card.kind == "pcm":
        return _pcm.read_sigma_pcm(card, g_s, t_s=t_s)
    check_scalar("t_s", t_s, caller, lo=0.0)
    return _rram.read_sigma_rram(card, g_s)


def predicted_drift_error(card, g_s, *, t_s: float, temperature_k: float = T_REF_K) -> float:
    r"""Expected rms conductance error ``t_s`` after programming, once a global (per-array)
    drift scale is applied, relative to the window :math:`G_{max} - G_{min}` [-].

    What a chip's controller can predict from the card's model and the programmed targets,
    without reading the array (the refresh policy of :mod:`cimsim.tile.compensation`):

    * RRAM / 1T1R: the relaxation random walk has zero mean, so no scale removes it:
      :math:`\epsilon^2 = \langle\sigma_r^2(G, t)\rangle / \Delta G^2`
      (:func:`device_models.rram.relaxation_sigma_s`);
    * PCM: :math:`G(t) = G\,r^{-\nu}`, :math:`r = t_{eff}/t_0`, with
      :math:`\nu \sim N(\mu_\nu, \sigma_\nu^2)`, so :math:`m_k = E[r^{-k\nu}] =
      \exp(-k\mu_\nu L + k^2\sigma_\nu^2L^2/2)`, :math:`L = \ln r`; with the array scale
      :math:`\alpha = \sum G / \sum G\,m_1`,
      :math:`\epsilon^2 = \langle G^2(\alpha^2 m_2 - 2\alpha m_1 + 1)\rangle/\Delta G^2`.

    Parameters
    ----------
    card : Card or str
        Memory card.
    g_s : array_like
        Programmed conductances [S].
    t_s : float
        Time since programming [s].
    temperature_k : float
        Storage temperature [K] (Arrhenius acceleration).

    Returns
    -------
    float
        ε [-].

    References
    ----------
    .. [1] V. Joshi et al., Nat. Commun. 11, 2473 (2020). doi:10.1038/s41467-020-16108-9
    .. [2] W. Wan et al., Nature 608, 504 (2022). doi:10.1038/s41586-022-04992-8
    """
    caller = "predicted_drift_error"
    card = _memory_card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    check_scalar("t_s", t_s, caller, lo=0.0)
    span = card.g_max_s - card.g_min_s
    if g.size == 0:
        return 0.0
    if card.kind != "pcm":
        sig = _rram.relaxation_sigma_s(card, g, t_s=t_s, temperature_k=temperature_k)
        return float(np.sqrt(np.mean(sig * sig)) / span)
    mu, sd = _pcm.drift_exponent_stats(card, g)
    lr = np.log(_pcm.drift_time_ratio(card, t_s, temperature_k))
    m1 = np.exp(-mu * lr + 0.5 * (sd * lr) ** 2)
    m2 = np.exp(-2.0 * mu * lr + 2.0 * (sd * lr) ** 2)
    den = float(np.sum(g * m1))
    alpha = float(np.sum(g)) / den if den > 0.0 else 1.0
    err2 = g * g * np.maximum(alpha * alpha * m2 - 2.0 * alpha * m1 + 1.0, 0.0)
    return float(np.sqrt(np.mean(err2)) / span)


@dataclasses.dataclass(frozen=True)
class ReadNoise:
    """Per-cell read-noise terms of one array read (see the module docstring).

    Attributes
    ----------
    g_s : ndarray
        Cell conductances G [S] (thermal and shot noise).
    sigma_s : ndarray
        σ of the Gaussian excess conductance noise before rectification [S].
    g_mean_s, var_s2 : ndarray
        Mean [S] and variance [S²] of the read conductance max(G + σz, 0).
    fano : float
        Shot-noise Fano factor F [-].
    bandwidth_hz : float
        Noise bandwidth Δf = 1/(2·t_int) of the read [Hz].
    temperature_k : float
        Temperature [K].
    """

    g_s: np.ndarray
    sigma_s: np.ndarray
    g_mean_s: np.ndarray
    var_s2: np.ndarray
    fano: float
    bandwidth_hz: float
    temperature_k: float

    def white_variance_a2(self, v_v) -> np.ndarray:
        """Thermal + shot noise variance of each cell's averaged current at row voltage
        ``v_v``, :math:`S_I(G, v, T)·Δf` [A²] (:func:`device_models.noise.conductor_psd`)."""
        return _noise.conductor_psd(self.g_s, v_v, self.temperature_k,
                                    fano=self.fano) * self.bandwidth_hz

    def current_variance_a2(self, v_v) -> np.ndarray:
        """Total read-noise variance of each cell's averaged current at a constant row voltage
        ``v_v``: :math:`v^2 \\mathrm{Var}[\\tilde G] + S_I Δf` [A²]."""
        v = check_array("v_v", v_v, "ReadNoise.current_variance_a2")
        return v * v * self.var_s2 + self.white_variance_a2(v)


def _rectified_numpy(g, sigma):
    """Mean and variance of max(G + σz, 0), z standard normal (σ = 0: G and 0); NumPy
    reference of :func:`_rectified`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.where(sigma > 0.0, g / sigma, np.inf)
    cdf = ndtr(a)
    pdf = np.where(np.isfinite(a), np.exp(-0.5 * np.minimum(a * a, 1e300)), 0.0) / np.sqrt(
        2.0 * np.pi)
    mean = g * cdf + sigma * pdf
    second = (g * g + sigma * sigma) * cdf + g * sigma * pdf
    return mean, np.maximum(second - mean * mean, 0.0)


def _register_ndtr():
    """SciPy's ``ndtr`` (the function behind ``scipy.special.ndtr``) under the symbol
    ``cimsim_ndtr``, called by name so Numba's on-disk cache stays valid in every process;
    None where SciPy does not export it under that name (then :func:`_rectified` runs its
    NumPy reference, with the same numbers)."""
    import llvmlite.binding as ll
    from numba import types
    from numba.extending import get_cython_function_address

    try:
        address = get_cython_function_address("scipy.special.cython_special",
                                              "__pyx_fuse_1ndtr")
    except (ValueError, AttributeError, ImportError):
        return None
    ll.add_symbol("cimsim_ndtr", address)
    return types.ExternalFunction("cimsim_ndtr", types.float64(types.float64, types.intc))


_ndtr = _register_ndtr()
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


@jit(parallel=True)
def _rectified_cdf_kernel(g, sigma, cdf, t):
    """First pass of :func:`_rectified`: ``cdf = Φ(a)`` and the exponent ``t = −a²/2``
    (a²  capped at 1e300) of ``φ(a)``, ``a = G/σ`` (inf where σ = 0)."""
    for i in prange(g.size):
        a = g[i] / sigma[i] if sigma[i] > 0.0 else np.inf
        cdf[i] = _ndtr(a, 0)
        t[i] = -0.5 * min(a * a, 1e300)


@jit(parallel=True)
def _rectified_moments_kernel(g, sigma, cdf, e, mean, var):
    """Second pass of :func:`_rectified`: ``e`` = exp(t) from NumPy (``φ(a)·√(2π)``)."""
    for i in prange(g.size):
        gi, si = g[i], sigma[i]
        a = gi / si if si > 0.0 else np.inf
        pdf = (e[i] if np.isfinite(a) else 0.0) / _SQRT_2PI
        m = gi * cdf[i] + si * pdf
        d = ((gi * gi + si * si) * cdf[i] + gi * si * pdf) - m * m
        mean[i] = m
        var[i] = d if (d > 0.0 or d != d) else 0.0        # np.maximum(d, 0.0)


def _rectified(g, sigma):
    """Mean and variance of max(G + σz, 0), z standard normal (σ = 0: G and 0): two
    parallel passes around NumPy's ``exp`` (its own SIMD exp, which differs from the C
    library's in the last bit), so the numbers are those of :func:`_rectified_numpy`."""
    if backend() == "numpy" or _ndtr is None:
        return _rectified_numpy(g, sigma)
    g, sigma = np.broadcast_arrays(np.asarray(g, dtype=np.float64),
                                   np.asarray(sigma, dtype=np.float64))
    shape = g.shape
    g, sigma = np.ascontiguousarray(g).ravel(), np.ascontiguousarray(sigma).ravel()
    cdf, t = np.empty(g.size), np.empty(g.size)
    _rectified_cdf_kernel(g, sigma, cdf, t)
    np.exp(t, out=t)
    mean = np.empty(g.size)
    _rectified_moments_kernel(g, sigma, cdf, t, mean, cdf)     # var into cdf's memory
    return mean.reshape(shape), cdf.reshape(shape)


def read_noise(card, g_s, *, t_int_s: float, t_s: float = 0.0,
               temperature_k: float = T_REF_K) -> ReadNoise:
    """Per-cell read-noise terms of a read of integration time ``t_int_s`` (module docstring).

    Parameters
    ----------
    card : Card or str
        Memory card (``shot_noise_fano`` optional, default 1).
    g_s : array_like
        Cell conductances at the read [S], >= 0.
    t_int_s : float
        Integration time of the read [s] (noise bandwidth 1/(2·t_int_s)).
    t_s : float
        Time since programming [s] (PCM 1/f noise).
    temperature_k : float
        Temperature of the read [K] (thermal and shot noise).

    Returns
    -------
    ReadNoise

    References
    ----------
    .. [1] Blanter & Büttiker (2000), doi:10.1016/S0370-1573(99)00123-4.
    .. [2] V. Joshi et al., Nat. Commun. 11, 2473 (2020). doi:10.1038/s41467-020-16108-9
    """
    caller = "read_noise"
    card = _memory_card(card, caller)
    g = check_array("g_s", g_s, caller, nonneg=True)
    t_int = check_scalar("t_int_s", t_int_s, caller, lo=0.0, lo_open=True)
    temp = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    fano = float(card.get("shot_noise_fano", 1.0))
    bw = float(_noise.integrator_bandwidth_hz(t_int))
    if card.kind == "pcm":
        sigma = _pcm.read_sigma_pcm(card, g, t_s=t_s, t_read_s=t_int)
    else:
        check_scalar("t_s", t_s, caller, lo=0.0)
        v_c = card.v_read_v
        white_c = _noise.conductor_psd(g, v_c, T_REF_K, fano=fano) * float(
            _noise.integrator_bandwidth_hz(card.t_read_s)) / (v_c * v_c)
        sigma = np.sqrt(np.maximum(_rram.read_sigma_rram(card, g) ** 2 - white_c, 0.0))
    mean, var = _rectified(g, np.asarray(sigma, dtype=np.float64))
    return ReadNoise(g_s=g, sigma_s=np.asarray(sigma, dtype=np.float64), g_mean_s=mean,
                     var_s2=var, fano=fano, bandwidth_hz=bw, temperature_k=temp)


def cell_iv(card, *, v_gate_v=None, temperature_k: float = T_REF_K):
    """The card's cell I–V law (:class:`device_models.iv.CellIV` protocol).

    ``rram`` and ``pcm``: :class:`device_models.iv.SinhIV` with the card's ``v0_v``;
    ``1t1r``: :class:`device_models.one_t_one_r.OneTOneRIV` at ``temperature_k`` with gate
    voltage ``v_gate_v`` (default the card's ``v_gate_read_v``).

    References
    ----------
    .. [1] P.-Y. Chen and S. Yu, IEEE Trans. Electron Devices 62(12), 4022 (2015).
       doi:10.1109/TED.2015.2492421
    """
    caller = "cell_iv"
    card = _memory_card(card, caller)
    if card.kind == "1t1r":
        from .one_t_one_r import OneTOneRIV

        return OneTOneRIV.from_card(card, v_gate_v=v_gate_v, temperature_k=temperature_k)
    if v_gate_v is not None:
        fail("v_gate_v", caller, f"None for a {card.kind!r} card (no access transistor)",
             v_gate_v)
    check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    return SinhIV(card.v0_v)
