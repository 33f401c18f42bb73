"""Static power and speed of the periphery at the operating temperature, from the EKV MOSFET.

Leakage. Every transistor of the periphery that is off with the supply across it conducts
the subthreshold current of the EKV model at V_GS = 0, V_DS = V_DD
(:func:`device_models.mosfet_current`), so the static power of a block of
:math:`N_{off}` such devices of width :math:`W` is

.. math:: P_{leak}(T) = N_{off}\\, I_D(V_{GS}=0, V_{DS}=V_{DD}; W, T)\\, V_{DD}

(the architectural form :math:`P = V_{CC} N k_{design} I_{leak}` of Butts & Sohi, with the
off devices counted from each block's topology instead of a design factor). The current
rises steeply with temperature: :math:`U_T = k_BT/q` grows and :math:`V_T(T)` falls, both in
the exponent :math:`e^{(\\eta V_{DD} - V_T)/(nU_T)}`. The devices are counted per block:

* an SRAM bit holding a value: one pull-down and one pull-up of its cross-coupled inverters
  and the access transistor on the side of the precharged bit line are off with V_DD across
  them (``leak_devices_per_sram_bit`` on the periphery card, 3 for the 6T cell);
* logic: :data:`OFF_DEVICES_PER_GATE` of the four transistors of a NAND2-equivalent gate are
  off (half; the stack effect, which lowers the leakage of series devices, is ignored, an
  upper bound); blocks are counted in NAND2 equivalents from their transistor counts
  (:data:`GATES_FULL_ADDER`, :data:`GATES_FLIP_FLOP`, :data:`GATES_AND2`) or from the cards
  (row driver, integrator, SAR comparator and logic);
* one tile: its buffer bits, ``rows`` row drivers, ``cols`` integrators, its ADCs and one
  shift-and-add accumulator (full adder + flip-flop per bit) per ADC;
* the digital unit: per lane, a w×w array multiplier (w² AND gates and full adders), a 32-bit
  adder and a 32-bit accumulator register.

PMOS devices are taken to leak as much per width as the card's NMOS (only one polarity is
carried per technology); every leaking device has the tech card's ``leak_width_m``. The chip
leaks for the whole run: :func:`cimsim.ppa.report.build_report` integrates the power of every
physical tile and of the digital unit over the batch time (``leakage`` line).

Speed. The periphery's delays are those of gates charging their loads, ``t ∝ C·V_DD/I_on``,
so every timing of a card (stated at :data:`device_models.constants.T_REF_K`) scales with
:func:`drive_speed_factor`, :math:`I_{on}(T)/I_{on}(T_{ref})` at V_GS = V_DS = V_DD: the SAR
clock (with the ADC card's transistor at its supply), the row drivers' settling, the
shift-and-add and the digital unit's clock. The read window ``t_read_s`` is a timed design
choice (a counter of the clock sets it, and the integrator's gain is calibrated to it), so it
does not scale. In this long-channel EKV model the mobility (∝ T^-k) dominates I_on well above
threshold, so circuits slow down when hot; near threshold the falling V_T wins and they speed
up (temperature inversion), which the same formula gives.

References
----------
.. [1] J. A. Butts, G. S. Sohi, "A static power model for architects", Proc. 33rd IEEE/ACM
   International Symposium on Microarchitecture (MICRO-33), pp. 191–201 (2000).
.. [2] C. C. Enz, F. Krummenacher, E. A. Vittoz, "An analytical MOS transistor model valid in
   all regions of operation", Analog Integr. Circ. Sig. Process. 8, 83–114 (1995),
   doi:10.1007/BF01239381.
.. [3] N. H. E. Weste, D. M. Harris, *CMOS VLSI Design*, 4th ed., Addison-Wesley (2010),
   ch. 11 (28-transistor mirror adder) and ch. 10 (flip-flops): the transistor counts of
   the NAND2 equivalents below.
"""

from __future__ import annotations

from device_models import cards
from device_models._checks import check_scalar, fail
from device_models.constants import T_REF_K
from device_models.errors import CardError
from device_models.mosfet import mosfet_current

__all__ = [
    "GATES_AND2",
    "GATES_FLIP_FLOP",
    "GATES_FULL_ADDER",
    "OFF_DEVICES_PER_GATE",
    "digital_unit_off_devices",
    "drive_speed_factor",
    "leakage_power_w",
    "off_current_a",
    "tech_mosfet",
    "tile_off_devices",
]

#: NAND2 equivalents (4 transistors each) of a 28-transistor mirror full adder [-].
GATES_FULL_ADDER = 7.0
#: NAND2 equivalents of a 24-transistor master-slave D flip-flop with its clock inverters [-].
GATES_FLIP_FLOP = 6.0
#: NAND2 equivalents of an AND2 (NAND2 + inverter, 6 transistors) [-].
GATES_AND2 = 1.5
#: Transistors of a NAND2 equivalent that are off with V_DD across them: half of four [-].
OFF_DEVICES_PER_GATE = 2.0


def _mosfet(name_or_card, caller: str):
    return cards.load(name_or_card, kinds=("mosfet",), field="mosfet_card", caller=caller)


def off_current_a(mosfet_card, vdd_v: float, temperature_k: float, w_m: float) -> float:
    """Subthreshold current of one off transistor, |I_D(V_GS = 0, V_DS = V_DD)| [A].

    Parameters
    ----------
    mosfet_card : str or Card
        MOSFET card (EKV parameters; its own channel length).
    vdd_v : float
        Supply across the off device [V].
    temperature_k : float
        Temperature [K].
    w_m : float
        Channel width [m].

    Returns
    -------
    float
        Off current [A].

    References
    ----------
    .. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    caller = "off_current_a"
    card = _mosfet(mosfet_card, caller)
    vdd_v = check_scalar("vdd_v", vdd_v, caller, lo=0.0, lo_open=True)
    w_m = check_scalar("w_m", w_m, caller, lo=0.0, lo_open=True)
    sign = -1.0 if card.polarity == "p" else 1.0
    return abs(float(mosfet_current(0.0, sign * vdd_v, card, temperature_k, w_m=w_m)))


def leakage_power_w(n_off: float, mosfet_card, vdd_v: float, temperature_k: float,
                    w_m: float) -> float:
    """Static power of ``n_off`` off transistors of width ``w_m`` at ``temperature_k`` [W].

    .. math:: P = N_{off}\\, I_{off}(W, V_{DD}, T)\\, V_{DD}

    References
    ----------
    .. [1] Butts & Sohi, MICRO-33 (2000), pp. 191–201.
    .. [2] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    n_off = check_scalar("n_off", n_off, "leakage_power_w", lo=0.0)
    return n_off * off_current_a(mosfet_card, vdd_v, temperature_k, w_m) * vdd_v


def drive_speed_factor(mosfet_card, vdd_v: float, temperature_k: float) -> float:
    """Speed of the logic at ``temperature_k`` relative to ``T_REF_K`` [-].

    .. math:: s(T) = I_{on}(T) / I_{on}(T_{ref}), \\quad I_{on} = |I_D(V_{DD}, V_{DD})|

    Gate delays scale as C·V_DD/I_on, so a card timing t (stated at T_REF_K) becomes t/s(T).

    References
    ----------
    .. [1] Enz, Krummenacher & Vittoz (1995), doi:10.1007/BF01239381.
    """
    caller = "drive_speed_factor"
    card = _mosfet(mosfet_card, caller)
    vdd_v = check_scalar("vdd_v", vdd_v, caller, lo=0.0, lo_open=True)
    sign = -1.0 if card.polarity == "p" else 1.0
    v = sign * vdd_v
    return abs(float(mosfet_current(v, v, card, temperature_k))) / abs(
        float(mosfet_current(v, v, card, T_REF_K)))


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
    return _mosfet(name, "tech_mosfet"), float(w)
