r"""The cell law of a tile and the programming targets set for it.

``TileConfig.cell`` names the law the array read (:mod:`cimsim.tile.cells`) evaluates:
``"linear"``, ``"sinh"`` (:class:`device_models.SinhIV` with the card's ``v0_v``), ``"1t1r"``
(:class:`device_models.OneTOneRIV`: the card's access MOSFET, EKV at ``hw.temperature_k``, gate
at ``tile.v_gate_v``, in series with the RRAM) or ``"auto"`` (the card's own law). Write-verify
verifies the read current under the verify conditions (gate ``tile.v_gate_verify_v``, default
the read gate, at ``hw.program_temperature_k``): the weights are mapped onto the window of
verify currents the card's conductance window gives (:func:`current_window`) and each cell is
programmed to the conductance that carries its target current at the full read voltage
(:func:`program_targets`), so that an ideal chip read as verified computes ``x @ W``.

References
----------
.. [1] F. Alibart, L. Gao, B. D. Hoskins and D. B. Strukov, "High precision tuning of state
   for memristive devices by adaptable variation-tolerant algorithm", Nanotechnology 23,
   075201 (2012). doi:10.1088/0957-4484/23/7/075201
.. [2] P.-Y. Chen and S. Yu, "Compact modeling of RRAM devices and its applications in 1T1R
   and 1S1R array design", IEEE Trans. Electron Devices 62(12), 4022-4028 (2015).
   doi:10.1109/TED.2015.2492421
"""

from __future__ import annotations

import numpy as np

from device_models.errors import ConfigError

from ..hardware import HardwareConfig

__all__ = ["CELL_KINDS", "cell_kind", "current_window", "program_targets", "read_law",
           "verify_law"]

#: Cell laws a tile resolves ``TileConfig.cell`` to.
CELL_KINDS = ("linear", "sinh", "1t1r")




def cell_kind(hw: HardwareConfig, card) -> str:
    """The cell law a tile of ``hw`` uses with memory card ``card`` (resolves ``"auto"``).

    Raises :class:`~device_models.errors.ConfigError` naming ``tile.cell`` or
    ``tile.v_gate_v`` for a law that does not fit the card, or a gate voltage above the access
    transistor's ``vdd_v``.
    """
    t = hw.tile
    kind = t.cell
    if kind == "auto":
        kind = "1t1r" if card.kind == "1t1r" else "sinh"
    gates = [(n, getattr(t, n)) for n in ("v_gate_v", "v_gate_verify_v")
             if getattr(t, n) is not None]
    if kind == "1t1r":
        if card.kind != "1t1r":
            raise ConfigError(
                f"The 'tile.cell' field of HardwareConfig must be used with a 1t1r device card "
                f"(card {card.name!r} is of kind {card.kind!r}). Got {t.cell!r}.")
        if gates:
            from device_models import cards

            vdd = cards.load(card.mosfet_card).get("vdd_v", None)
            for name, value in gates:
                if vdd is not None and value > vdd:
                    raise ConfigError(
                        f"The 'tile.{name}' field of HardwareConfig must be in [0, {vdd!r}] V "
                        f"(vdd_v of the access transistor card {card.mosfet_card!r}). "
                        f"Got {value!r}.")
    elif gates:
        name, value = gates[0]
        raise ConfigError(
            f"The 'tile.{name}' field of HardwareConfig must be None for {kind!r} cells on "
            f"card {card.name!r} (no access transistor). Got {value!r}.")
    return kind


def read_law(hw: HardwareConfig, card):
    """The tile's cell law at read: None for linear cells, else a
    :class:`device_models.iv.CellIV` at ``hw.temperature_k`` (1T1R gate ``tile.v_gate_v``)."""
    from device_models.iv import SinhIV
    from device_models.memory import cell_iv

    kind = cell_kind(hw, card)
    if kind == "linear":
        return None
    if kind == "sinh":
        return SinhIV(card.v0_v)
    return cell_iv(card, v_gate_v=hw.tile.v_gate_v, temperature_k=hw.temperature_k)


def verify_law(hw: HardwareConfig, card):
    """The cell law under the verify conditions: gate ``tile.v_gate_verify_v`` (default the
    read gate ``tile.v_gate_v``, itself defaulting to the card's ``v_gate_read_v``) at
    ``hw.program_temperature_k``; None for linear cells."""
    from device_models.iv import SinhIV
    from device_models.memory import cell_iv

    kind = cell_kind(hw, card)
    if kind == "linear":
        return None
    if kind == "sinh":
        return SinhIV(card.v0_v)
    t = hw.tile
    gate = t.v_gate_verify_v if t.v_gate_verify_v is not None else t.v_gate_v
    return cell_iv(card, v_gate_v=gate, temperature_k=hw.program_temperature_k)


def current_window(hw: HardwareConfig, card) -> tuple[float, float]:
    r"""The window of verify read currents per volt the weights are mapped onto [S].

    :math:`[F(g_{min}, V_\mathrm{read}),\ F(g_{max}, V_\mathrm{read})]/V_\mathrm{read}`
    under the verify conditions (:func:`verify_law`): every mapped target current is then
    reachable inside the card's programming window. Linear cells: ``(g_min_s, g_max_s)``.
    """
    law = verify_law(hw, card)
    if law is None:
        return float(card.g_min_s), float(card.g_max_s)
    v = hw.tile.v_read_v
    i = law.current(v, np.array([card.g_min_s, card.g_max_s]))
    return float(i[0] / v), float(i[1] / v)


def program_targets(hw: HardwareConfig, card, g_target_s: np.ndarray):
    r"""Conductances to program so that each cell's verify read current at ``tile.v_read_v``
    is ``g_target·v_read`` [S], and the write-verify tolerance [S] (None: the card default).

    For a law :math:`F` under verify conditions, :math:`g^\ast` solves
    :math:`F(g^\ast, V_\mathrm{read}) = g_t V_\mathrm{read}`
    (:func:`device_models.iv.conductance_for_current`; the targets lie in
    :func:`current_window`, so :math:`g^\ast` lies in the card's ``[g_min_s, g_max_s]``).
    The acceptance half-width of the verify current, the card's fraction of the window of
    verify currents, ``δI = tolerance_frac·(I_max − I_min)`` [A], becomes
    :math:`\delta g = \delta I / (\partial F/\partial g)` at :math:`g^\ast` (RRAM and 1T1R
    cards; PCM programming has no tolerance). Linear cells: the targets unchanged.
    """
    law = verify_law(hw, card)
    if law is None:
        return g_target_s, None
    from device_models.iv import conductance_for_current

    v = hw.tile.v_read_v
    # quantised weights take few distinct targets: solve each once
    targets, where = np.unique(np.asarray(g_target_s, dtype=np.float64), return_inverse=True)
    g = conductance_for_current(law, targets * v, v, g_max_s=card.g_max_s)
    g = np.clip(g, card.g_min_s, card.g_max_s)      # rounding at the window's edges
    shape = np.shape(g_target_s)
    if card.kind == "pcm":
        return g[where].reshape(shape), None
    _, didg = law.current_and_g_derivative(v, g)
    g_lo, g_hi = current_window(hw, card)
    tol_i = card.tolerance_frac * (g_hi - g_lo) * v
    tol = tol_i / np.maximum(np.abs(didg), 1e-3 * abs(v))
    return g[where].reshape(shape), tol[where].reshape(shape)
