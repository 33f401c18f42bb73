r"""CMOS logic from the technology and MOSFET cards: gate energy, leakage and speed.

Blocks are sized in NAND2 equivalents (four transistors each) from the transistor counts of the
standard CMOS cells (:data:`GATES_FULL_ADDER`, :data:`GATES_FLIP_FLOP`, :data:`GATES_AND2`).

Gate energy. A technology card publishes the energy of a 32-bit integer add (Horowitz 2014);
a ripple-carry adder is 32 full adders of :data:`GATES_FULL_ADDER` NAND2 equivalents each, so
one NAND2 equivalent spends, per operation on random data (its switching activity included),

.. math::

    E_{gate} = \frac{E_{add,32}}{32\,g_{FA}} \cdot \frac{F}{F_0}\left(\frac{V}{V_0}\right)^2

at node F and supply V, scaled from the card's node F_0 and supply V_0 by the constant-field
rule (C ∝ F, E = C·V², as :func:`cimsim.ppa.energy.load_tech`).

Leakage. A transistor that is off with the supply across it conducts the subthreshold current
of the EKV model at V_GS = 0, V_DS = V_DD (:func:`device_models.mosfet.mosfet_current`), so
:math:`N_{off}` such devices of width W dissipate

.. math:: P_{leak}(T) = N_{off}\, I_D(V_{GS}=0, V_{DS}=V_{DD}; W, T)\, V_{DD},

the architectural form :math:`P = V_{CC} N k_{design} I_{leak}` of Butts & Sohi with the off
devices counted from each block's topology: :data:`OFF_DEVICES_PER_GATE` of a NAND2
equivalent's four transistors are off (half; the stack effect, which lowers the leakage of
series devices, is ignored: an upper bound). The current rises steeply with temperature,
:math:`U_T = k_BT/q` growing and :math:`V_T(T)` falling in the exponent
:math:`e^{(\eta V_{DD} - V_T)/(nU_T)}`.

Speed. A gate delay is C·V_DD/I_on, so a timing stated at ``T_REF_K`` becomes
:math:`t / s(T)` with :math:`s(T) = I_{on}(T)/I_{on}(T_{ref})`, I_on at V_GS = V_DS = V_DD
(:func:`drive_speed_factor`). In the long-channel EKV model the mobility (∝ T^-k) dominates
well above threshold, so logic slows down when hot; near threshold the falling V_T wins and it
speeds up (temperature inversion).

References
----------
.. [1] M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
   doi:10.1109/ISSCC.2014.6757323 (add energies).
.. [2] J. A. Butts, G. S. Sohi, "A static power model for architects", Proc. 33rd IEEE/ACM
   International Symposium on Microarchitecture (MICRO-33), pp. 191–201 (2000).
.. [3] C. C. Enz, F. Krummenacher, E. A. Vittoz, "An analytical MOS transistor model valid in
   all regions of operation", Analog Integr. Circ. Sig. Process. 8, 83–114 (1995),
   doi:10.1007/BF01239381.
.. [4] R. H. Dennard et al., "Design of ion-implanted MOSFET's with very small physical
   dimensions", IEEE J. Solid-State Circuits 9(5), 256–268 (1974),
   doi:10.1109/JSSC.1974.1050511 (constant-field scaling).
.. [5] N. H. E. Weste, D. M. Harris, *CMOS VLSI Design*, 4th ed., Addison-Wesley (2010),
   ch. 11 (28-transistor mirror adder) and ch. 10 (flip-flops): the transistor counts of the
   NAND2 equivalents.
"""

from __future__ import annotations

from . import cards
from ._checks import check_scalar
from .constants import T_REF_K
from .errors import CardError
from .mosfet import mosfet_current

__all__ = [
    "GATES_AND2",
    "GATES_FLIP_FLOP",
    "GATES_FULL_ADDER",
    "OFF_DEVICES_PER_GATE",
    "drive_speed_factor",
    "gate_energy_j",
    "leakage_power_w",
    "off_current_a",
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


def _sign(card) -> float:
    return -1.0 if card.polarity == "p" else 1.0


def off_current_a(mosfet_card, vdd_v: float, temperature_k: float, w_m: float) -> float:
    """Subthreshold current of one off transistor, ``|I_D(V_GS = 0, V_DS = V_DD)|`` [A].

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
    return abs(float(mosfet_current(0.0, _sign(card) * vdd_v, card, temperature_k, w_m=w_m)))


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
    v = _sign(card) * check_scalar("vdd_v", vdd_v, caller, lo=0.0, lo_open=True)
    return abs(float(mosfet_current(v, v, card, temperature_k))) / abs(
        float(mosfet_current(v, v, card, T_REF_K)))


def gate_energy_j(tech_card, node_m: float | None = None, vdd_v: float | None = None) -> float:
    """Energy of one NAND2-equivalent gate per operation (module docstring) [J].

    .. math:: E_{gate} = \\frac{E_{add,32}}{32 g_{FA}} \\frac{F}{F_0} (V/V_0)^2

    Parameters
    ----------
    tech_card : str or Card
        Technology card; a scaled card (``base_card``) is followed to the card holding the
        table (the constant-field rule composes, so scaling from there is the same).
    node_m, vdd_v : float, optional
        Node F [m] and supply V [V] to evaluate at; default the card's own.

    Returns
    -------
    float
        Energy per gate per operation [J].

    References
    ----------
    .. [1] Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323.
    .. [2] Dennard et al. (1974), doi:10.1109/JSSC.1974.1050511.
    """
    caller = "gate_energy_j"
    card = cards.load(tech_card, kinds=("tech",), field="tech_card", caller=caller)
    f = card.node_m if node_m is None else check_scalar("node_m", node_m, caller, lo=0.0,
                                                         lo_open=True)
    v = card.vdd_v if vdd_v is None else check_scalar("vdd_v", vdd_v, caller, lo=0.0,
                                                       lo_open=True)
    table, seen = card, set()
    while table.get("e_add_int32_j") is None:
        base = table.get("base_card")
        if base is None or base in seen:
            raise CardError(f"tech card {card.name!r} has no e_add_int32_j (nor a base card "
                            "that has one), needed by the gate energy")
        seen.add(base)
        table = cards.load(base, kinds=("tech",), field="base_card", caller=caller)
    e0 = table.e_add_int32_j / (32.0 * GATES_FULL_ADDER)
    return e0 * (f / table.node_m) * (v / table.vdd_v) ** 2
