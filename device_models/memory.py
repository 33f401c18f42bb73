"""One interface over every memory kind (``rram``, ``1t1r``, ``pcm``) for the tile.

The tile (``cimsim.tile.state``) programs, faults, ages and reads conductances through these four
functions, whatever the device card is:

* :func:`program` — write-verify (:func:`~device_models.programming.program_write_verify`)
  for RRAM / 1T1R; the programming-noise model (:func:`~device_models.pcm.program_pcm`) for
  PCM;
* :func:`apply_faults` — stuck-at-G_max / stuck-at-G_min cells at the card's rates;
* :func:`age` — RRAM relaxation (:func:`~device_models.rram.relax`) or PCM power-law drift
  (:func:`~device_models.pcm.drift`) at ``t_s`` and ``temperature_k``;
* :func:`read_sigma_s` — the per-cell Gaussian read-noise σ [S] (to be combined by the
  variance identity ``v² @ σ²`` in the tile);
* :func:`cell_iv` — the card's cell I–V law for nonlinear crossbar solves (sinh RRAM/PCM, or
  the series transistor + RRAM of a 1T1R cell).

References
----------
.. [1] P. Yao et al., Nature 577, 641 (2020). doi:10.1038/s41586-020-1942-4
.. [2] V. Joshi et al., Nat. Commun. 11, 2473 (2020). doi:10.1038/s41467-020-16108-9
"""

from __future__ import annotations

from . import cards as _cards
from . import pcm as _pcm
from . import rram as _rram
from ._checks import check_scalar, fail
from .constants import T_REF_K
from .iv import SinhIV
from .programming import ProgramResult, program_write_verify

__all__ = [
    "MEMORY_KINDS",
    "ProgramResult",
    "age",
    "apply_faults",
    "cell_iv",
    "program",
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
    """Per-cell Gaussian read-noise σ [S] at conductances ``g_s`` (``t_s`` for PCM 1/f noise).

    RRAM/1T1R: :func:`device_models.rram.read_sigma_rram` (``t_s`` is validated, unused);
    PCM: :func:`device_models.pcm.read_sigma_pcm`.
    """
    caller = "read_sigma_s"
    card = _memory_card(card, caller)
    if card.kind == "pcm":
        return _pcm.read_sigma_pcm(card, g_s, t_s=t_s)
    check_scalar("t_s", t_s, caller, lo=0.0)
    return _rram.read_sigma_rram(card, g_s)


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
