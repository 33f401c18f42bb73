r"""Periphery energies of a tile that no converter or cell model holds: clock, read supply, scaling.

Three physical components of the energy account (:func:`cimsim.ppa.energy.energy_breakdown`
lines ``clock``, ``read_supply`` and ``output_scaling``), resolved per tile by
:func:`cimsim.ppa.energy.components` from the cards of a
:class:`~cimsim.hardware.HardwareConfig`:

Clock. Every clocked flip-flop charges and discharges its clock load once per clock period,
and the clock spine that reaches a bank of flip-flops laid along an array edge of length
:math:`L` charges :math:`c_{wire} L`:

.. math::

    E_{clk} = n_{per}\,\bigl(N_{ff}\,E_{ff,clk} + c_{wire} L\,V_{DD}^2\bigr), \qquad
    E_{ff,clk} = g_{clk}\,E_{gate}

with :math:`g_{clk}` = :data:`GATES_FLIP_FLOP_CLOCK` NAND2 equivalents of clock load per
flip-flop and :math:`E_{gate}` the technology's gate energy at its node and supply
(:func:`device_models.logic.gate_energy_j`, the constant-field rule). Clocked in a tile: the
input registers of the rows (``rows × input_bits`` per array cycle, unless the row's
pulse-width counter holds the code); a pulse-width driver's down-counters, clocked every
tick through the whole read window, :math:`n_{per} = \lceil T_w / t_{clk}\rceil` per array
cycle for ``rows × bits`` flip-flops (the window runs whether a row's pulse has ended or not:
no per-row clock gating); the output register of every conversion (ADC bits) and the
accumulator of every shift-add (accumulator bits); the spine along the rows
(rows · cell pitch) with each tick or cycle, the one along the read-outs (columns · cell pitch)
with each cycle.

Read supply. The cells' current is drawn from a supply :math:`V_{sup}` above the read
voltage: a linear regulator that derives the read rail from the core supply, or the clamp
device of a current-mode read-out, drops :math:`V_{sup} - V_{read}` at the same current, so
the supply delivers :math:`V_{sup} Q` where the cells take :math:`V_{read} Q`:

.. math:: E_{sup} = (V_{sup} - V_{read})\,Q = \Bigl(\frac{V_{sup}}{V_{read}} - 1\Bigr) E_{cells}

exact for rows driven at :math:`V_{read}` (binary pulses: bit-serial, pulse-width, spikes)
with linear cells and no wire drop; a lower bound for multi-level (``amplitude``) drives,
whose rows sit below :math:`V_{read}` and carry more charge per joule in the cells.

Output scaling. A read-out whose gain and offset are corrected digitally (per-column
calibration: :math:`y = a\,c + b`) spends one multiply and one add of the digital word per
conversion and correction:

.. math:: E_{scale} = N_{conv}\,k\,\bigl(E_{mult}(b) + E_{add}(b)\bigr)

with :math:`k` corrections per conversion (the periphery card's ``output_scaling_ops``) and
the tech card's energies at the word width :math:`b` (:func:`cimsim.ppa.energy.op_energy_j`).

References
----------
.. [1] N. H. E. Weste, D. M. Harris, *CMOS VLSI Design*, 4th ed., Addison-Wesley (2010),
   ch. 10 (the transmission-gate master-slave flip-flop and its clock load) and ch. 13
   (clock distribution: the clock's energy C·V² per period), ISBN 978-0-321-54774-3.
.. [2] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
   doi:10.1109/ISSCC.2014.6757323 (gate, add and multiply energies; wire capacitance).
.. [3] R. H. Dennard et al., IEEE J. Solid-State Circuits 9(5), 256–268 (1974),
   doi:10.1109/JSSC.1974.1050511 (constant-field scaling of the energies).
.. [4] G. A. Rincón-Mora, P. E. Allen, "A low-voltage, low quiescent current, low drop-out
   regulator", IEEE J. Solid-State Circuits 33(1), 36–44 (1998), doi:10.1109/4.654935 (a
   linear regulator's pass device drops V_in − V_out at the load current).
"""

from __future__ import annotations

import math

from device_models._checks import check_scalar, fail

__all__ = [
    "GATES_FLIP_FLOP_CLOCK",
    "clock_energy_j",
    "clock_ticks",
    "output_scaling_energy_j",
    "read_supply_energy_j",
    "read_supply_factor",
]

#: NAND2 equivalents of clock load of one transmission-gate master-slave flip-flop [-]: the
#: clock pin drives the local inverter (2 gates), its complement the four transmission gates'
#: one device each and the second inverter (6 gates), the buffered clock the four others
#: (4 gates): 12 transistor gates switched per period, 3 NAND2 equivalents of 4 (Weste &
#: Harris ch. 10). Its E_gate per operation of random data is taken as one charge and
#: discharge of that load: the clock's activity of 1 makes this a lower bound.
GATES_FLIP_FLOP_CLOCK = 3.0


def clock_ticks(window_s: float, t_clk_s: float) -> int:
    """Clock periods of a counter running through a window, :math:`\\lceil T_w/t_{clk}\\rceil`
    (at least 1) [-].

    A relative slack of 1e-9 absorbs the rounding of a window that is a whole number of ticks.
    """
    w = check_scalar("window_s", window_s, "clock_ticks", lo=0.0)
    t = check_scalar("t_clk_s", t_clk_s, "clock_ticks", lo=0.0, lo_open=True)
    n = w / t * (1.0 - 1e-9)
    if not math.isfinite(n):
        fail("t_clk_s", "clock_ticks", f"long enough that window_s / t_clk_s stays finite "
             f"(window_s={w!r})", t)
    return max(1, math.ceil(n))


def clock_energy_j(periods: float, flip_flops: float, e_ff_clock_j: float,
                   c_spine_f: float = 0.0, vdd_v: float = 0.0) -> float:
    """Energy of ``periods`` clock periods of a bank of flip-flops and its spine [J].

    .. math:: E = n_{per}\\,(N_{ff} E_{ff,clk} + C_{spine} V_{DD}^2)

    Parameters
    ----------
    periods : float
        Clock periods [-].
    flip_flops : float
        Flip-flops clocked each period [-].
    e_ff_clock_j : float
        Clock energy of one flip-flop per period, :data:`GATES_FLIP_FLOP_CLOCK` · E_gate [J].
    c_spine_f : float
        Capacitance of the clock wire reaching the bank [F].
    vdd_v : float
        Clock swing, the supply [V].

    Returns
    -------
    float
        Energy [J].

    References
    ----------
    Weste & Harris, *CMOS VLSI Design*, 4th ed. (2010), ch. 10 and 13.
    """
    who = "clock_energy_j"
    n = check_scalar("periods", periods, who, lo=0.0)
    ff = check_scalar("flip_flops", flip_flops, who, lo=0.0)
    e = check_scalar("e_ff_clock_j", e_ff_clock_j, who, lo=0.0)
    c = check_scalar("c_spine_f", c_spine_f, who, lo=0.0)
    v = check_scalar("vdd_v", vdd_v, who, lo=0.0)
    return _times(n, _times(ff, e) + _times(c, v, v))


def read_supply_factor(v_read_v: float, v_supply_v: float | None) -> float:
    """:math:`V_{sup}/V_{read} - 1`: supply loss per joule taken by the cells [-]
    (0 without a stated supply)."""
    who = "read_supply_factor"
    v_read = check_scalar("v_read_v", v_read_v, who, lo=0.0, lo_open=True)
    if v_supply_v is None:
        return 0.0
    v_sup = check_scalar("v_supply_v", v_supply_v, who, lo=v_read)
    # the drop first: exact for a supply within 2x of the rail (Sterbenz), where V_sup/V_read
    # - 1 would keep only the rounding of a quotient near 1
    return (v_sup - v_read) / v_read


def read_supply_energy_j(cell_energy_j: float, v_read_v: float,
                         v_supply_v: float | None) -> float:
    """Energy dropped between the supply and the cells' read rail [J].

    .. math:: E_{sup} = (V_{sup}/V_{read} - 1)\\,E_{cells}

    Parameters
    ----------
    cell_energy_j : float
        The cells' Σ V·I·t over the reads [J].
    v_read_v : float
        Read voltage of the driven rows [V].
    v_supply_v : float or None
        Supply the read current is drawn from [V] (>= v_read_v); None: the read rail is a
        supply of its own (no loss).

    References
    ----------
    Rincón-Mora & Allen, IEEE JSSC 33(1) 1998, doi:10.1109/4.654935.
    """
    e = check_scalar("cell_energy_j", cell_energy_j, "read_supply_energy_j", lo=0.0)
    return _times(e, read_supply_factor(v_read_v, v_supply_v))


def output_scaling_energy_j(conversions: float, ops_per_conversion: float,
                            e_mult_j: float, e_add_j: float) -> float:
    """Digital gain and offset correction of read-out codes [J].

    .. math:: E = N_{conv}\\,k\\,(E_{mult} + E_{add})

    Parameters
    ----------
    conversions : float
        Conversions corrected [-].
    ops_per_conversion : float
        Affine corrections per conversion, k [-].
    e_mult_j, e_add_j : float
        One multiply and one add at the digital word width [J].

    References
    ----------
    Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323.
    """
    who = "output_scaling_energy_j"
    n = check_scalar("conversions", conversions, who, lo=0.0)
    k = check_scalar("ops_per_conversion", ops_per_conversion, who, lo=0.0)
    m = check_scalar("e_mult_j", e_mult_j, who, lo=0.0)
    a = check_scalar("e_add_j", e_add_j, who, lo=0.0)
    return _times(n, k, m + a)


def _times(*factors: float) -> float:
    """The product of non-negative factors, left to right, and exactly 0 if one of them is 0
    (no energy), also where the others overflow (inf·0 would be NaN)."""
    return 0.0 if 0.0 in factors else math.prod(factors)
