"""Static power and speed of the chip's periphery: which devices leak, block by block.

The physics (EKV off and on currents, NAND2 equivalents) is :mod:`device_models.logic`; this
module counts the off devices of each block of the chip:

* an SRAM bit holding a value: one pull-down and one pull-up of its cross-coupled inverters
  and the access transistor on the side of the precharged bit line are off with V_DD across
  them (``leak_devices_per_sram_bit`` on the periphery card, 3 for the 6T cell);
* logic: :data:`~device_models.logic.OFF_DEVICES_PER_GATE` per NAND2 equivalent; blocks are
  counted in NAND2 equivalents from their transistor counts or from the cards (row driver,
  integrator, SAR comparator and logic);
* one tile: its buffer bits, ``rows`` row drivers, ``cols`` integrators, its ADCs and one
  shift-and-add accumulator (full adder + flip-flop per bit) per ADC;
* the digital unit: per lane, a w×w array multiplier (w² AND gates and full adders), a 32-bit
  adder and a 32-bit accumulator register.

PMOS devices are taken to leak as much per width as the card's NMOS (one polarity is carried
per technology); every leaking device has the tech card's ``leak_width_m``. The chip leaks for
the whole run: :func:`cimsim.ppa.report.build_report` integrates the power of every physical
tile and of the digital unit over the batch time (the ``leakage`` line).

Speed: every timing of a card (stated at ``T_REF_K``) is divided by
:func:`device_models.logic.drive_speed_factor`: the SAR clock (with the ADC card's transistor
at its supply), the row drivers' settling, the shift-and-add and the digital unit's clock. The
read window ``t_read_s`` is a timed design choice (a counter of the clock sets it, and the
integrator's gain is calibrated to it), so it does not scale.

References
----------
.. [1] J. A. Butts, G. S. Sohi, "A static power model for architects", Proc. 33rd IEEE/ACM
   International Symposium on Microarchitecture (MICRO-33), pp. 191–201 (2000).
.. [2] C. C. Enz, F. Krummenacher, E. A. Vittoz, "An analytical MOS transistor model valid in
   all regions of operation", Analog Integr. Circ. Sig. Process. 8, 83–114 (1995),
   doi:10.1007/BF01239381.
"""

from __future__ import annotations

from device_models import cards
from device_models._checks import fail
from device_models.errors import CardError
from device_models.logic import (
    GATES_AND2,
    GATES_FLIP_FLOP,
    GATES_FULL_ADDER,
    OFF_DEVICES_PER_GATE,
)

__all__ = ["digital_unit_off_devices", "tech_mosfet", "tile_off_devices"]

def tile_off_devices(*, rows: int, cols: int, n_adcs: int, adc_gates: float,
                     accumulator_bits: int, buffer_bits: float, sram_bit_devices: float,
                     row_driver_gates: float, integrator_gates: float) -> float:
    """Off transistors of one tile's periphery (module docstring) [-].

    .. math::

        N = B\\,d_{SRAM} + 2\\,[R g_{row} + C g_{int}
            + n_{ADC}(g_{ADC} + b_{acc}(g_{FA} + g_{FF}))]
    """
    gates = (rows * row_driver_gates + cols * integrator_gates
             + n_adcs * (adc_gates + accumulator_bits * (GATES_FULL_ADDER + GATES_FLIP_FLOP)))
    return buffer_bits * sram_bit_devices + OFF_DEVICES_PER_GATE * gates


def digital_unit_off_devices(*, lanes: float, weight_bits: int) -> float:
    """Off transistors of the digital unit (module docstring) [-].

    .. math:: N = 2\\,L\\,[w^2 (g_{AND} + g_{FA}) + 32 (g_{FA} + g_{FF})]
    """
    per_lane = (weight_bits**2 * (GATES_AND2 + GATES_FULL_ADDER)
                + 32 * (GATES_FULL_ADDER + GATES_FLIP_FLOP))
    return OFF_DEVICES_PER_GATE * lanes * per_lane


def tech_mosfet(tech) -> tuple[object, float]:
    """``(MOSFET card, leaking-device width [m])`` of a tech card (for leakage and speed)."""
    name, w = tech.get("mosfet_card"), tech.get("leak_width_m")
    if name is None or w is None:
        raise CardError(f"tech card {tech.name!r} needs mosfet_card and leak_width_m for the "
                        "leakage and speed models")
    if not isinstance(name, str):  # pragma: no cover - the kind makes it a string
        fail("mosfet_card", "tech_mosfet", "a card name", name)
    return (cards.load(name, kinds=("mosfet",), field="mosfet_card", caller="tech_mosfet"),
            float(w))
