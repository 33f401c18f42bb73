r"""Pulse-width row driver: a code becomes a word-line pulse of :math:`|D|` clock ticks.

Each row holds an N-bit down-counter. A conversion loads the code magnitude :math:`|D|`
(N flip-flops written), raises the row's driver, counts down one step per clock tick of
:math:`t_\mathrm{clk}` and lowers the driver when the count reaches zero, so the row is on for
:math:`|D|\,t_\mathrm{clk}` (the ``pulse_width`` encoding of :mod:`device_models.encoding`,
whose window is :math:`D_\mathrm{max} t_\mathrm{clk}`); the sign selects the polarity. A
one-bit driver (N = 1) gives the one-tick pulses of bit-serial inputs. Counting down from
:math:`|D|` to 0 toggles :math:`\sum_{j\ge0}\lfloor |D|/2^j \rfloor < 2|D|` flip-flops, so

.. math::

    E(D) = N E_\mathrm{ff} + E_\mathrm{ff}\sum_{j\ge0}\left\lfloor\frac{|D|}{2^j}\right\rfloor
           + g_\mathrm{drv} E_\mathrm{gate} \quad [J]\quad (D \ne 0)

with :math:`E_\mathrm{ff}` = 6 NAND2-equivalent gate energies (a flip-flop) and
:math:`g_\mathrm{drv}` the gate equivalents of the word-line buffer's input (both edges), all
at the card technology's gate energy for its node and supply
(:func:`device_models.logic.gate_energy_j`, the constant-field rule). The row wire itself is
charged by the driver's output stage, :math:`C_\mathrm{row}V^2` per event, which the tile
counts as wire charging. The load takes one clock (:attr:`PulseDriver.t_settle_s`).

References
----------
.. [1] M. Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based on phase-change
   memory for deep neural network inference", Nature Electronics 6, 680–693 (2023),
   doi:10.1038/s41928-023-01010-1 (8-bit inputs applied as pulse-width-modulated pulses).
.. [2] N. H. E. Weste, D. M. Harris, *CMOS VLSI Design*, 4th ed., Addison-Wesley (2010),
   ch. 11 (counters), ISBN 978-0-321-54774-3.
.. [3] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
   doi:10.1109/ISSCC.2014.6757323 (gate energies behind E_gate).
"""

from __future__ import annotations

import functools

import numpy as np

from . import cards
from ._checks import check_array, check_int, check_scalar

__all__ = ["PulseDriver"]


class PulseDriver:
    """N-bit pulse-width row driver (module docstring for the energy law).

    Parameters
    ----------
    bits : int
        Magnitude bits N of the down-counter [bit].
    t_clk_s : float
        Clock tick: the pulse lasts :math:`|D|` ticks [s].
    e_flip_flop_j : float
        Energy of one flip-flop toggle or write [J].
    e_driver_j : float
        Energy of the word-line buffer's input stage per pulse (both edges) [J].
    area_m2 : float, optional
        Layout area of one row driver [m^2].
    """

    def __init__(self, bits, t_clk_s, *, e_flip_flop_j=0.0, e_driver_j=0.0, area_m2=None):
        who = "PulseDriver"
        self.bits = check_int("bits", bits, who, lo=1, hi=16)
        self.t_clk_s = check_scalar("t_clk_s", t_clk_s, who, lo=0.0, lo_open=True)
        self.e_flip_flop_j = check_scalar("e_flip_flop_j", e_flip_flop_j, who, lo=0.0)
        self.e_driver_j = check_scalar("e_driver_j", e_driver_j, who, lo=0.0)
        self.area_m2 = None if area_m2 is None else check_scalar("area_m2", area_m2, who,
                                                                 lo=0.0)

    @classmethod
    def from_card(cls, card, bits=None, **overrides) -> PulseDriver:
        """Build the driver from a ``pulse_driver`` card; gate energies from its
        ``tech_card`` at its ``node_m`` and ``vdd_v``; ``bits`` overrides the card's."""
        from .logic import GATES_FLIP_FLOP, gate_energy_j

        c = cards.load(card, kinds=("pulse_driver",), field="card",
                       caller="PulseDriver.from_card")
        e_gate = gate_energy_j(c.tech_card, c.node_m, c.vdd_v)
        kw = dict(bits=c.bits if bits is None else bits, t_clk_s=c.t_clk_s,
                  e_flip_flop_j=GATES_FLIP_FLOP * e_gate,
                  e_driver_j=c.driver_gates * e_gate, area_m2=c.get("area_m2"))
        kw.update(overrides)
        return cls(**kw)

    @property
    def n_codes(self) -> int:
        """Code magnitudes 0 … 2**N − 1 [-]."""
        return 1 << self.bits

    @property
    def t_settle_s(self) -> float:
        """Loading the code takes one clock [s]."""
        return self.t_clk_s

    @functools.cached_property
    def code_energy_j(self) -> np.ndarray:
        """Energy of a pulse of each magnitude :math:`|D|` = 0 … 2**N − 1 [J] (0 for no pulse)."""
        d = np.arange(self.n_codes, dtype=np.int64)
        toggles = np.zeros(d.size)
        for j in range(self.bits):
            toggles += d >> j
        e = self.bits * self.e_flip_flop_j + self.e_flip_flop_j * toggles + self.e_driver_j
        e[0] = 0.0
        e.setflags(write=False)
        return e

    @property
    def mean_energy_j(self) -> float:
        """Energy per pulse averaged over the non-zero magnitudes [J] (a zero code sends no
        pulse and is not a conversion)."""
        return float(self.code_energy_j[1:].mean())

    def energy_j(self, codes) -> float:
        """Total energy of the pulses of signed ``codes`` (:math:`|D| < 2^N`) [J]."""
        c = np.abs(check_array("codes", codes, "PulseDriver.energy_j", dtype=np.int64,
                               lo=-(self.n_codes - 1), hi=self.n_codes - 1))
        hist = np.bincount(c.ravel(), minlength=self.n_codes)
        return float(hist @ self.code_energy_j)

    @staticmethod
    def leak_gates(card, bits: int) -> float:
        """NAND2 equivalents of one driver (counter + buffer input), for leakage [-]."""
        from .logic import GATES_FLIP_FLOP

        card = cards.load(card, kinds=("pulse_driver",), field="card",
                          caller="PulseDriver.leak_gates")
        bits = check_int("bits", bits, "PulseDriver.leak_gates", lo=1, hi=16)
        return GATES_FLIP_FLOP * bits + float(card.driver_gates)

    def __repr__(self) -> str:
        return f"PulseDriver(bits={self.bits}, t_clk_s={self.t_clk_s!r})"
