"""Energy of tile operations: component models that turn :class:`~cimsim.ops.OpCounts` into joules.

Nothing here assumes an energy per MAC. Each operation type has its own physical model, fed by
the run (the array's Σ V·I·t, the SAR ADC's switching energy of the codes actually produced)
and by the component cards named in :class:`~cimsim.hardware.HardwareConfig`:

================  =================================================================  =============
operation         model                                                              from
================  =================================================================  =============
array_read        Σ V·I·t over the cells read (``OpCounts.cell_read_energy_j``)      run
read_supply       (V_sup/V_read − 1)·E_cells: the read rail's regulator or clamp     run + periph
                  drop at the cells' current (:mod:`cimsim.ppa.periphery`)
wire_charging     C_row·Σ V_row², C_row = cols · pitch · c_wire                      run + cards
dac               DAC conversions · mean E_DAC (device_models.dac model)             DAC card
row_driver        binary pulses · g_pulse · E_gate (the pulse driver's switching),   tech + periph
                  or · mean E_pulse of a ``pulse_driver`` card's model               or driver
clock             flip-flops clocked per period · g_clk E_gate + spine c_wire L V²:  tech + periph
                  row input registers or pulse-width counters (every tick of the     + driver
                  window), output registers, accumulators
                  (:mod:`cimsim.ppa.periphery`)
integrator        column read-outs · E_int                                           periphery
adc               Σ E_switch(code) + conversions · (E_comp + E_logic)                run + ADC
output_scaling    conversions · k · (E_mult(b) + E_add(b)): digital gain/offset      tech + periph
                  correction of each code, b = digital word
shift_add         adds · E_add(accumulator bits)                                     tech card
sram              (read + write bits) · E_SRAM(8 kB, 64 b)/64                        tech card
interconnect      output bits · hops · tile pitch · α · c_wire · V_DD²               tech + periph
kv_cache          attention K/V cache (read + write bits) · E_SRAM(8 kB, 64 b)/64    run + tech
analog_state      charge drawn by analog state capacitors (leaky integrators)        run
digital           MACs · (E_mult(b_w) + E_add(acc bits))                             tech card
analog_neuron     Σ analog neuron energies (``OpCounts.neuron_energy_j``)            run + neuron
bias ... softmax  Σ_ops count · (m_op·E_mult(b) + a_op·E_add(b)), b = digital word   tech + periph
                  (:data:`DIGITAL_OPS`: each operation as m multiplies and a adds),
                  one line each: bias, activation, pooling, residual, batch_norm,
                  softmax
================  =================================================================  =============

Programming (write-verify) energy is kept apart (:attr:`OpCounts.program_energy_j`).

Row drives are priced by what drives the row. A multi-level ``amplitude`` input is a DAC
conversion (``OpCounts.dac_conversions``, the DAC model's mean energy per conversion). A
binary pulse of one amplitude (a spike, a bit-serial plane, a pulse-width or TTFS pulse, a
level-crossing event, a one-bit input; ``OpCounts.row_pulses``) has no DAC: a switch connects
the row to the read rail, and the pulse costs the switch driver's own gates,
``pulse_driver_gates`` NAND2 equivalents of the periphery card at the tech card's gate energy
(:func:`device_models.logic.gate_energy_j`). Both charge the row wire, :math:`C_{row}V^2`
per event (``wire_charging``).

The digital operations between the analog products (bias adds, activations, pooling,
residual adds, unfolded batch norm, softmax) are declared by each layer
(:meth:`cimsim.nn.layers.Layer.digital_ops`: breakdown line → operation → count) and priced
by :func:`digital_op_energy_j`: every operation of :data:`DIGITAL_OPS` is decomposed into the
multiplies and adds of the tech card at the digital word width (range reduction plus a short
polynomial for exp and log, Newton–Raphson for reciprocals; Muller 2016). Each line is its own
entry of the breakdown.

Digital energies come from a technology card: Horowitz's 45 nm table, or a card scaled from it
by a stated rule (:func:`load_tech`). Energies at bit widths between the table's 8- and 32-bit
entries follow the power law through the two published points (:func:`op_energy_j`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from types import MappingProxyType

from device_models import cards, logic
from device_models._checks import check_choice, check_int, check_scalar, fail
from device_models.errors import CardError, InvalidParameterError

from ..hardware import HardwareConfig
from ..ops import OpCounts
from . import leakage, periphery

__all__ = [
    "DIGITAL_LINES",
    "DIGITAL_OPS",
    "ENERGY_KINDS",
    "Components",
    "breakdown_total",
    "check_digital_ops",
    "components",
    "digital_op_cycles",
    "digital_op_energy_j",
    "digital_ops_cycles",
    "energy_breakdown",
    "load_tech",
    "op_area_m2",
    "op_energy_j",
    "tile_area_m2",
]

#: Breakdown lines of the digital operations the bundled layers declare, in display order (a
#: layer may declare others; they are added after these).
DIGITAL_LINES = ("bias", "activation", "pooling", "residual", "batch_norm", "softmax")

#: Operation types of the inference energy breakdown, in display order.
ENERGY_KINDS = (
    "array_read", "read_supply", "wire_charging", "dac", "row_driver", "clock", "integrator", "adc",
    "output_scaling", "shift_add", "sram",
    "interconnect", "kv_cache", "analog_state", "analog_neuron", "digital", *DIGITAL_LINES,
)

#: Digital operations a layer can declare, each as ``(multiplies, adds)`` of the digital word
#: width (a comparison is a subtraction: one add). The decompositions, after Muller (2016):
#:
#: * ``exp``: x·log2(e) (1 m), split into integer k and fraction f (free), 2^f on [0, 1) by a
#:   degree-3 polynomial in Horner form (3 m, 3 a; about 13 bits), 2^k a shift (free);
#: * ``log``: normalise to m·2^k, m in [1, 2) (leading-zero count and shift, free), log2(m)
#:   by a degree-4 polynomial (4 m, 4 a), + k (1 a), × ln 2 (1 m);
#: * ``recip``: seed from a small table (free), two Newton–Raphson steps r ← r(2 − x·r)
#:   (2 m, 1 a each); ``div`` = recip + 1 m; ``rsqrt``: two steps r ← r(3 − x·r²)/2
#:   (3 m, 1 a each; the halving is a shift);
#: * ``sigmoid`` = 1/(1 + exp(−x)): exp + 1 a + recip; ``tanh`` = 2·sigmoid(2x) − 1: sigmoid
#:   + 1 a (the doublings are shifts); ``swish`` = x·sigmoid(βx): 2 m + sigmoid;
#:   ``softplus`` = log(1 + exp(βx))/β: 2 m + exp + 1 a + log;
#: * ``gelu_tanh`` = ½x(1 + tanh(√(2/π)(x + 0.044715x³))): x², x³, ×0.044715, ×√(2/π), ×x
#:   (5 m), two adds, tanh; ``gelu`` (erf form) by Abramowitz & Stegun 7.1.26:
#:   t = 1/(1 + p|x|/√2) (1 m, 1 a, recip), a degree-5 polynomial in t (5 m, 4 a),
#:   exp(−x²/2) (1 m for x², the halving a shift; exp), its product with the polynomial
#:   (1 m), 1 − · (1 a), ½x(1 + erf) (1 m, 1 a).
DIGITAL_OPS: Mapping[str, tuple[int, int]] = MappingProxyType({
    "add": (0, 1), "compare": (0, 1), "relu": (0, 1), "mult": (1, 0), "mac": (1, 1),
    "exp": (4, 3), "log": (5, 5), "recip": (4, 2), "div": (5, 2), "rsqrt": (6, 2),
    "sigmoid": (8, 6), "tanh": (8, 7), "swish": (10, 6), "softplus": (11, 9),
    "gelu_tanh": (13, 9), "gelu": (17, 12),
})

_TECH_TABLE = (
    "e_add_int8_j", "e_add_int32_j", "e_mult_int8_j", "e_mult_int32_j", "e_add_fp16_j",
    "e_add_fp32_j", "e_mult_fp16_j", "e_mult_fp32_j", "e_sram_64b_8kb_j", "e_sram_64b_32kb_j",
    "e_sram_64b_1mb_j", "e_dram_64b_j",
)
_TECH_AREAS = (
    "a_add_int8_m2", "a_add_int32_m2", "a_mult_int8_m2", "a_mult_int32_m2", "a_add_fp16_m2",
    "a_add_fp32_m2", "a_mult_fp16_m2", "a_mult_fp32_m2", "a_sram_bit_m2",
)


def load_tech(name_or_card) -> cards.Card:
    """Load a technology card, resolving a scaled card against its base.

    A card with ``base_card`` and ``scaling_rule = "dennard_cv2"`` takes the base card's table
    and scales it to its own node F and supply V:

    .. math::

        E(F, V) = E_0 \\cdot \\frac{F}{F_0} \\left(\\frac{V}{V_0}\\right)^2, \\qquad
        A(F) = A_0 \\left(\\frac{F}{F_0}\\right)^2

    (switching energy C·V² with gate capacitance ∝ F; areas ∝ F²; wire capacitance per length
    unchanged; the leaking-device width ∝ F; the base's MOSFET card is kept).

    Parameters
    ----------
    name_or_card : str or Card
        Tech card name or card.

    Returns
    -------
    Card
        A tech card holding the full table (energies [J], areas [m^2]) at its node.

    References
    ----------
    Dennard et al., IEEE JSSC 9, 256 (1974), doi:10.1109/JSSC.1974.1050511.
    Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323.
    Stillmaker & Baas, Integration 58, 74 (2017), doi:10.1016/j.vlsi.2017.02.002 (why the
    classical rule is only first-order below 45 nm).
    """
    card = cards.load(name_or_card, kinds=("tech",), field="name_or_card", caller="load_tech")
    base_name = card.get("base_card")
    if base_name is None:
        missing = [k for k in ("e_add_int8_j", "e_add_int32_j", "e_mult_int8_j",
                               "e_mult_int32_j", "e_sram_64b_8kb_j") if card.get(k) is None]
        if missing:
            raise CardError(f"tech card {card.name!r} has neither a base_card nor {missing}")
        return card
    base = load_tech(base_name)
    rule = card.get("scaling_rule", "dennard_cv2")
    if rule != "dennard_cv2":  # pragma: no cover - the kind only allows this rule
        raise CardError(f"tech card {card.name!r}: unknown scaling_rule {rule!r}")
    f_ratio = card.node_m / base.node_m
    e_scale = f_ratio * (card.vdd_v / base.vdd_v) ** 2
    a_scale = f_ratio**2
    changes = {}
    for key in _TECH_TABLE:
        if base.get(key) is not None and card.get(key) is None:
            changes[key] = base.get(key) * e_scale
    for key in _TECH_AREAS:
        if base.get(key) is not None and card.get(key) is None:
            changes[key] = base.get(key) * a_scale
    if base.get("c_wire_f_per_m") is not None and card.get("c_wire_f_per_m") is None:
        changes["c_wire_f_per_m"] = base.c_wire_f_per_m
    if base.get("mosfet_card") is not None and card.get("mosfet_card") is None:
        changes["mosfet_card"] = base.mosfet_card
    if base.get("leak_width_m") is not None and card.get("leak_width_m") is None:
        changes["leak_width_m"] = base.leak_width_m * f_ratio
    values = dict(card.values)
    values.update(changes)
    values.pop("base_card", None)
    values.pop("scaling_rule", None)
    spec = cards.kind_spec("tech")
    units = {k: spec[k].unit for k in values}
    return dataclasses.replace(
        card, values=MappingProxyType(values), units=MappingProxyType(units),
        path=f"{card.path} (scaled from {base.name})",
    )


def _power_law(e8: float, e32: float, bits: float) -> float:
    """Value at ``bits`` of the power law through (8, e8) and (32, e32)."""
    if e8 <= 0.0 or e32 <= 0.0:
        return e8 * bits / 8.0
    p = math.log(e32 / e8) / math.log(4.0)
    return e8 * (bits / 8.0) ** p


def op_energy_j(tech, op: str, bits: int) -> float:
    """Energy of one integer ``op`` ("add" or "mult") of ``bits`` width from a tech card.

    .. math:: E(n) = E_8 \\, (n/8)^{p}, \\quad p = \\ln(E_{32}/E_8) / \\ln 4

    the power law through the card's published 8- and 32-bit points (exact at 8 and 32 bits;
    p ≈ 0.87 for Horowitz's adders, ≈ 1.98 for his multipliers).

    Parameters
    ----------
    tech : Card
        Tech card (see :func:`load_tech`).
    op : {"add", "mult"}
        Operation.
    bits : int
        Operand width [bit].

    Returns
    -------
    float
        Energy per operation [J].

    References
    ----------
    Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323.
    """
    bits = check_int("bits", bits, "op_energy_j", lo=1, hi=128)
    check_choice("op", op, "op_energy_j", ("add", "mult"),
                 exc=InvalidParameterError)
    tech = cards.load(tech, kinds=("tech",), field="tech", caller="op_energy_j")
    return _power_law(tech.get(f"e_{op}_int8_j"), tech.get(f"e_{op}_int32_j"), bits)


def op_area_m2(tech, op: str, bits: int) -> float:
    """Area of one integer ``op`` unit of ``bits`` width (power law through 8/32-bit) [m^2]."""
    bits = check_int("bits", bits, "op_area_m2", lo=1, hi=128)
    check_choice("op", op, "op_area_m2", ("add", "mult"),
                 exc=InvalidParameterError)
    tech = cards.load(tech, kinds=("tech",), field="tech", caller="op_area_m2")
    a8, a32 = tech.get(f"a_{op}_int8_m2"), tech.get(f"a_{op}_int32_m2")
    if a8 is None or a32 is None:
        raise CardError(f"tech card {tech.name!r} has no areas for {op!r} units")
    return _power_law(a8, a32, bits)


def _first(card, names: tuple[str, ...], default=None):
    for n in names:
        v = card.get(n)
        if v is not None:
            return v
    return default


@dataclasses.dataclass(frozen=True)
class Components:
    """Resolved per-event energies, times and areas of one hardware configuration (SI units).

    Built by :func:`components` from the cards named in a :class:`HardwareConfig`; every field
    carries its unit in its name. ``e_comparator_j`` and ``e_adc_logic_j`` are per conversion
    (at the tile's ADC resolution, :meth:`device_models.adc.SarAdc.from_card`); ``e_dac_j`` is
    the DAC model's mean energy per conversion; ``e_pulse_driver_j`` the switching energy of
    the driver of one binary row pulse (no DAC). ``e_word_add_j`` and ``e_word_mult_j`` are one
    add and one multiply at ``digital_word_bits``, the width of the digital operations
    (:data:`DIGITAL_OPS`). At ``temperature_k`` the timings are the cards' divided by the
    speed factors ``logic_speed`` (row drivers, shift-add, digital unit) and ``adc_speed``
    (SAR clock), and ``p_leak_tile_w`` / ``p_leak_digital_w`` are the static power of one
    tile's periphery and of the digital unit (:mod:`cimsim.ppa.leakage`). ``t_read_s`` is the
    cycle's whole read window, ``tile.read_phases`` windows of ``tile.t_read_s``, in each of
    which a driven row is driven again (``drive_phases``: ``e_dac_j`` and ``e_pulse_driver_j``
    cover all of a row's drives, wire charging is multiplied by it). With a ``pulse_driver``
    card as ``dac_card``, ``e_pulse_driver_j`` is that driver model's mean energy per pulse
    instead of the periphery card's ``pulse_driver_gates``.

    Periphery (:mod:`cimsim.ppa.periphery`): ``read_supply_factor`` is
    :math:`V_{sup}/V_{read} - 1` (0 without the periphery card's ``read_supply_v``);
    ``e_clock_cycle_j`` the clock energy of one array cycle (row input registers or the
    pulse-width counters ticking through the window, and the clock spines),
    ``e_clock_conversion_j`` and ``e_clock_shift_add_j`` those of the output register of one
    conversion and of the accumulator of one shift-add; ``e_output_scaling_j`` the digital
    gain and offset correction of one conversion.
    """

    vdd_v: float
    c_wire_f_per_m: float
    cell_pitch_m: float
    cell_area_m2: float
    e_dac_j: float
    e_pulse_driver_j: float
    a_dac_m2: float
    e_integrator_j: float
    a_integrator_m2: float
    e_comparator_j: float
    e_adc_logic_j: float
    t_adc_conversion_s: float
    a_adc_m2: float
    e_shift_add_j: float
    a_shift_add_m2: float
    accumulator_bits: int
    e_sram_bit_j: float
    a_sram_bit_m2: float
    buffer_bits_per_tile: float
    e_digital_mac_j: float
    digital_mac_rate_per_s: float
    a_digital_m2: float
    wire_activity: float
    interconnect_hops_tiles: float
    t_dac_settle_s: float
    t_read_s: float
    t_shift_add_s: float
    rows: int
    cols: int
    adc_share: int
    adc_bits: int
    digital_word_bits: int
    e_word_add_j: float
    e_word_mult_j: float
    temperature_k: float
    logic_speed: float
    adc_speed: float
    p_leak_tile_w: float
    p_leak_digital_w: float
    drive_phases: int = 1
    read_supply_factor: float = 0.0
    e_clock_cycle_j: float = 0.0
    e_clock_conversion_j: float = 0.0
    e_clock_shift_add_j: float = 0.0
    e_output_scaling_j: float = 0.0

    @property
    def n_adcs_per_tile(self) -> int:
        """ADCs per tile: ceil(cols / adc_share) [-]."""
        return -(-self.cols // self.adc_share)

    @property
    def c_row_f(self) -> float:
        """Capacitance of one row wire across the tile: cols · pitch · c_wire [F]."""
        return self.cols * self.cell_pitch_m * self.c_wire_f_per_m


def _adc_numbers(card_name, bits: int, window_s: float) -> tuple[float, float, float, float]:
    """(E_comparator, E_logic per conversion [J], t_conv [s], area [m^2]) of the read-out.

    Taken from the read-out model of the card's kind (:func:`device_models.converters.
    build_converter`) at the tile's resolution and read window, so the converter model's own
    rules apply (SAR: comparator and logic energy ∝ decisions, N + 1 clocks per conversion;
    sense amplifier: latches and logic; CCO: counter read-out). ``t_conv`` is the part of a
    conversion that follows the read window (a current-mode read-out senses inside it), at
    the card's reference temperature.
    """
    from device_models.converters import build_converter

    adc = build_converter(card_name, bits, window_s=window_s)
    if adc.area_m2 is None:
        raise CardError(f"ADC card {getattr(card_name, 'name', card_name)!r} has no area_m2, "
                        "needed by the area model")
    return (float(adc.e_comparator_j), float(adc.e_logic_j), float(adc.time_after_window_s),
            float(adc.area_m2))


def _adc_gates(card, bits: int) -> float:
    """NAND2-equivalent size of one read-out at ``bits``, for leakage (its model's count)."""
    from device_models.converters import CONVERTER_KINDS

    return CONVERTER_KINDS[card.kind].leak_gates(card, bits)


def _dac_numbers(card, bits: int, v_ref_v: float,
                 encoding: str = "amplitude") -> tuple[float, float, float]:
    """(energy per conversion [J], settling time [s], area [m^2]) of the row driver card.

    The energy is the driver model's mean per conversion: a DAC's mean over codes
    (:attr:`device_models.dac.Dac.mean_energy_j`) at the tile's input resolution, with the
    tile's read voltage as reference; a pulse driver's mean per pulse over its non-zero pulse
    widths (:attr:`device_models.pulse_driver.PulseDriver.mean_energy_j`; one-tick pulses for
    bit-serial inputs), which prices the tile's binary row pulses.
    """
    from device_models.converters import build_driver

    if card.kind == "pulse_driver":
        drv = build_driver(card, 1 if encoding == "bit_serial" else 0, v_ref_v=v_ref_v)
        if drv.area_m2 is None:
            raise CardError(f"driver card {card.name!r} lacks area_m2, needed by the area "
                            "model")
        return float(drv.mean_energy_j), float(drv.t_settle_s), float(drv.area_m2)
    e = float(build_driver(card, bits, v_ref_v=v_ref_v).mean_energy_j)
    t = card.get("t_settle_s")
    a = card.get("area_m2")
    if t is None or a is None:
        raise CardError(f"DAC card {card.name!r} lacks t_settle_s or area_m2, needed by the "
                        f"latency and area models")
    return e, float(t), float(a)


def components(hw: HardwareConfig) -> Components:
    """Resolve the cards of ``hw`` into per-event energies, times and areas.

    Parameters
    ----------
    hw : HardwareConfig
        The chip; its ``device_card``, ``adc_card``, ``dac_card``, ``tech_card`` and
        ``periphery_card`` are loaded.

    Returns
    -------
    Components
    """
    if not isinstance(hw, HardwareConfig):
        fail("hw", "components", "a HardwareConfig", hw)
    tile = hw.tile
    tech = load_tech(hw.tech_card)
    per = cards.load(hw.periphery_card)
    dev = cards.load(hw.device_card)
    dac = cards.load(hw.dac_card)
    f_m = dev.get("node_m", per.array_node_m)
    cell_area_m2 = dev.get("cell_area_f2", per.cell_area_f2) * f_m**2
    window = tile.t_read_s * tile.read_phases
    e_comp, e_logic, t_conv, a_adc = _adc_numbers(hw.adc_card, tile.adc_bits, window)
    e_dac, t_settle, a_dac = _dac_numbers(dac, tile.input_bits, tile.v_read_v,
                                          tile.input_encoding)
    # a current-input read-out takes the column current through its mirror: no integrator
    # (the mirror's output current is the read-out's input, priced by its energy per code)
    e_int, a_int = ((0.0, 0.0) if tile.front_end == "mirror"
                    else (per.e_integrator_j, per.a_integrator_m2))
    # Accumulator: ADC code, shifted by the input bit-planes (bit-serial) and weight slices.
    acc = tile.adc_bits
    if tile.input_encoding == "bit_serial":
        acc += tile.input_bits
    acc += tile.weight_bits - tile.bits_per_cell
    acc = int(min(max(acc, 8), 32))
    w_bits = int(min(max(tile.weight_bits, 1), 32))
    e_mac = op_energy_j(tech, "mult", w_bits) + op_energy_j(tech, "add", 32)
    word = int(per.get("digital_word_bits", acc))
    a_mac = op_area_m2(tech, "mult", w_bits) + op_area_m2(tech, "add", 32)
    # Temperature: logic speed from the on current, leakage from the off current (EKV).
    t_k = hw.temperature_k
    mos, w_leak = leakage.tech_mosfet(tech)
    speed = logic.drive_speed_factor(mos, tech.vdd_v, t_k)
    adc_card = cards.load(hw.adc_card, kinds=("adc", "sense_amp", "cco_adc"),
                          field="adc_card", caller="components")
    if adc_card.get("mosfet_card") is not None:
        # the converter's supply: its DAC reference (rail-to-rail CDAC switching)
        adc_speed = logic.drive_speed_factor(adc_card.mosfet_card, adc_card.v_ref_v, t_k)
    else:
        adc_speed = speed
    n_adcs = -(-tile.cols // tile.adc_share)
    missing = [k for k in ("leak_devices_per_sram_bit", "row_driver_gates", "integrator_gates")
               if per.get(k) is None]
    if missing:
        raise CardError(f"periphery card {per.name!r} needs {missing} for the leakage model")
    n_tile = leakage.tile_off_devices(
        rows=tile.rows, cols=tile.cols, n_adcs=n_adcs, adc_gates=_adc_gates(adc_card,
                                                                              tile.adc_bits),
        accumulator_bits=acc, buffer_bits=per.buffer_bits_per_tile,
        sram_bit_devices=per.leak_devices_per_sram_bit, row_driver_gates=per.row_driver_gates,
        integrator_gates=per.integrator_gates)
    n_dig = leakage.digital_unit_off_devices(lanes=per.digital_macs_per_cycle,
                                             weight_bits=w_bits)
    p_off = logic.leakage_power_w(1.0, mos, tech.vdd_v, t_k, w_leak)
    if dac.kind == "pulse_driver":
        # the driver card's own model prices a pulse (down-counter and buffer); it makes no
        # multi-level conversion
        e_pulse, e_dac = e_dac, 0.0
    else:
        if per.get("pulse_driver_gates") is None:
            raise CardError(f"periphery card {per.name!r} needs pulse_driver_gates for the "
                            "energy of binary row pulses")
        e_pulse = per.pulse_driver_gates * logic.gate_energy_j(hw.tech_card)
    # a driven row is driven again in every read phase
    e_dac *= tile.read_phases
    e_pulse *= tile.read_phases
    # periphery: clocked registers and counters, the read supply, digital output scaling
    pitch_m = math.sqrt(cell_area_m2)
    e_ff_clk = periphery.GATES_FLIP_FLOP_CLOCK * logic.gate_energy_j(tech)
    c_rows = tile.rows * pitch_m * tech.c_wire_f_per_m
    c_cols = tile.cols * pitch_m * tech.c_wire_f_per_m
    e_cycle = periphery.clock_energy_j(1, 0.0, e_ff_clk, c_cols, tech.vdd_v)
    if dac.kind == "pulse_driver":
        # the row's down-counter holds the code and runs through the whole window
        ticks = periphery.clock_ticks(window, dac.t_clk_s)
        e_cycle += periphery.clock_energy_j(ticks, tile.rows * dac.bits, e_ff_clk, c_rows,
                                            tech.vdd_v)
        reg_bits = tile.input_bits if tile.input_encoding == "bit_serial" else 0
    else:
        e_cycle += periphery.clock_energy_j(1, 0.0, e_ff_clk, c_rows, tech.vdd_v)
        reg_bits = tile.input_bits
    # row input registers: the code of a multi-level drive, the word a bit-serial drive shifts
    e_cycle += periphery.clock_energy_j(1, tile.rows * reg_bits, e_ff_clk)
    word_mult, word_add = op_energy_j(tech, "mult", word), op_energy_j(tech, "add", word)
    e_scale = periphery.output_scaling_energy_j(1, per.get("output_scaling_ops", 0.0),
                                                word_mult, word_add)
    return Components(
        vdd_v=tech.vdd_v,
        c_wire_f_per_m=tech.c_wire_f_per_m,
        cell_pitch_m=pitch_m,
        cell_area_m2=cell_area_m2,
        e_dac_j=e_dac,
        e_pulse_driver_j=e_pulse,
        a_dac_m2=a_dac,
        e_integrator_j=e_int,
        a_integrator_m2=a_int,
        e_comparator_j=e_comp,
        e_adc_logic_j=e_logic,
        t_adc_conversion_s=t_conv / adc_speed,
        a_adc_m2=a_adc,
        e_shift_add_j=op_energy_j(tech, "add", acc),
        a_shift_add_m2=op_area_m2(tech, "add", acc),
        accumulator_bits=acc,
        e_sram_bit_j=tech.e_sram_64b_8kb_j / 64.0,
        a_sram_bit_m2=tech.a_sram_bit_m2,
        buffer_bits_per_tile=per.buffer_bits_per_tile,
        e_digital_mac_j=e_mac,
        digital_mac_rate_per_s=per.digital_clock_hz * per.digital_macs_per_cycle * speed,
        a_digital_m2=a_mac * per.digital_macs_per_cycle,
        wire_activity=per.wire_activity,
        interconnect_hops_tiles=per.interconnect_hops_tiles,
        t_dac_settle_s=t_settle / speed,
        t_read_s=window,
        drive_phases=tile.read_phases,
        t_shift_add_s=per.t_shift_add_s / speed,
        rows=tile.rows,
        cols=tile.cols,
        adc_share=tile.adc_share,
        adc_bits=tile.adc_bits,
        digital_word_bits=word,
        e_word_add_j=word_add,
        e_word_mult_j=word_mult,
        temperature_k=t_k,
        logic_speed=speed,
        adc_speed=adc_speed,
        p_leak_tile_w=n_tile * p_off,
        p_leak_digital_w=n_dig * p_off,
        read_supply_factor=periphery.read_supply_factor(tile.v_read_v,
                                                        per.get("read_supply_v")),
        e_clock_cycle_j=e_cycle,
        e_clock_conversion_j=tile.adc_bits * e_ff_clk,
        e_clock_shift_add_j=acc * e_ff_clk,
        e_output_scaling_j=e_scale,
    )


def tile_area_m2(comp: Components) -> float:
    """Area of one tile [m^2]: cells + ADCs + row drivers + integrators + shift-add + buffer.

    .. math::

        A = R·C·A_{cell} + \\lceil C/s \\rceil (A_{ADC} + A_{add}) + R·A_{DAC} + C·A_{int}
            + B·A_{SRAM bit}

    with R rows, C columns, s columns per ADC and B buffer bits per tile.

    References
    ----------
    Shafiee et al., ISCA 2016, doi:10.1109/ISCA.2016.12 (tile composition: crossbar, shared
    ADCs, DACs, sample-and-hold, shift-add, buffers).
    """
    return (
        comp.rows * comp.cols * comp.cell_area_m2
        + comp.n_adcs_per_tile * (comp.a_adc_m2 + comp.a_shift_add_m2)
        + comp.rows * comp.a_dac_m2
        + comp.cols * comp.a_integrator_m2
        + comp.buffer_bits_per_tile * comp.a_sram_bit_m2
    )


def check_digital_ops(ops, caller: str, name: str = "digital_ops") -> dict[str, dict[str, float]]:
    """``ops`` (breakdown line → operation → count) as plain dicts, checked.

    Every operation must be one of :data:`DIGITAL_OPS`; counts are finite and >= 0 [-].
    """
    if ops is None:
        return {}
    if not isinstance(ops, Mapping):
        fail(name, caller, "a mapping of breakdown line to {operation: count}", ops)
    out: dict[str, dict[str, float]] = {}
    for line, per_op in ops.items():
        if not isinstance(line, str) or not line:
            fail(name, caller, "keyed by non-empty line names", line)
        if not isinstance(per_op, Mapping):
            fail(f"{name}[{line!r}]", caller, "a mapping of operation to count", per_op)
        row = out.setdefault(line, {})
        for op, count in per_op.items():
            if op not in DIGITAL_OPS:
                fail(f"{name}[{line!r}]", caller, f"operations among {sorted(DIGITAL_OPS)}", op)
            c = check_scalar(f"{name}[{line!r}][{op!r}]", count, caller, lo=0.0)
            row[op] = row.get(op, 0.0) + float(c)
    return out


def digital_op_energy_j(comp: Components, op: str) -> float:
    """Energy of one digital operation ``op`` (:data:`DIGITAL_OPS`) [J].

    .. math:: E_{op} = m_{op} E_{mult}(b) + a_{op} E_{add}(b)

    with ``(m_op, a_op)`` the operation's multiplies and adds and ``b`` =
    ``comp.digital_word_bits``.

    References
    ----------
    Muller, *Elementary Functions: Algorithms and Implementation*, 3rd ed., Birkhäuser (2016),
    doi:10.1007/978-1-4899-7983-4 (range reduction, polynomial approximation, Newton–Raphson).
    Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323 (add and multiply energies).
    """
    if not isinstance(op, str) or op not in DIGITAL_OPS:
        fail("op", "digital_op_energy_j", f"one of {sorted(DIGITAL_OPS)}", op)
    m, a = DIGITAL_OPS[op]
    return m * comp.e_word_mult_j + a * comp.e_word_add_j


def digital_op_cycles(op: str) -> int:
    """Lane clock cycles of one ``op`` on the digital unit [-]: ``max(m_op, a_op)``.

    Each lane of the digital unit is one multiplier and one adder (a MAC unit) issuing one of
    each per clock, with many independent elements in flight (throughput, not the latency of
    one dependency chain).
    """
    if not isinstance(op, str) or op not in DIGITAL_OPS:
        fail("op", "digital_op_cycles", f"one of {sorted(DIGITAL_OPS)}", op)
    return max(DIGITAL_OPS[op])


def digital_ops_cycles(ops: Mapping[str, Mapping[str, float]]) -> float:
    """Lane clock cycles of all operations in ``ops`` (line → operation → count) [-]."""
    ops = check_digital_ops(ops, "digital_ops_cycles", "ops")
    return float(sum(c * digital_op_cycles(op) for per in ops.values() for op, c in per.items()))


def energy_breakdown(
    counts: OpCounts, comp: Components, *, digital_macs: int = 0,
    digital_ops: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, float]:
    """Inference energy of ``counts`` per operation type [J] (keys :data:`ENERGY_KINDS`).

    .. math::

        E_{wire} = C_{row} \\sum V_{row}^2, \\quad
        E_{drive} = N_{DAC} \\bar E_{DAC} + N_{pulse}\\, g_{pulse} E_{gate}, \\quad
        E_{ADC} = \\sum_{codes} E_{sw} + N_{conv}(E_{comp} + E_{logic}), \\quad
        E_{ic} = N_{out\\,bits} · h · \\sqrt{A_{tile}} · α · c_{wire} · V_{DD}^2

    and the periphery lines of :mod:`cimsim.ppa.periphery`:
    :math:`E_{sup} = (V_{sup}/V_{read} - 1) E_{cells}`,
    :math:`E_{clk} = N_{cyc} E_{clk,cyc} + N_{conv} b_{ADC} E_{ff,clk}
    + N_{add} b_{acc} E_{ff,clk}` and :math:`E_{scale} = N_{conv} k (E_{mult} + E_{add})`

    Parameters
    ----------
    counts : OpCounts
        What the tiles did (summed over tiles and vectors).
    comp : Components
        Resolved component numbers (:func:`components`).
    digital_macs : int, optional
        MACs executed on the digital unit (layers placed digitally) [-].
    digital_ops : Mapping[str, Mapping[str, float]], optional
        Digital operations between the products: breakdown line (``"activation"``,
        ``"pooling"``, ...) → operation of :data:`DIGITAL_OPS` → count [-]; each line is
        priced by :func:`digital_op_energy_j`.

    Returns
    -------
    dict[str, float]
        Operation type → energy [J] (the keys of :data:`ENERGY_KINDS`, then any other line of
        ``digital_ops``); programming energy is not included.

    References
    ----------
    Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323 (digital, SRAM).
    Shafiee et al., ISCA 2016, doi:10.1109/ISCA.2016.12 (integrator / sample-and-hold).
    """
    if not isinstance(counts, OpCounts):
        fail("counts", "energy_breakdown", "an OpCounts", counts)
    digital_macs = check_int("digital_macs", digital_macs, "energy_breakdown", lo=0)
    tile_pitch_m = math.sqrt(tile_area_m2(comp))
    e_bit_mm = comp.wire_activity * comp.c_wire_f_per_m * comp.vdd_v**2  # [J/(bit·m)]
    out = {
        "array_read": float(counts.cell_read_energy_j),
        "read_supply": float(counts.cell_read_energy_j) * comp.read_supply_factor,
        "wire_charging": float(counts.row_drive_v2) * comp.c_row_f * comp.drive_phases,
        "dac": counts.dac_conversions * comp.e_dac_j,
        "row_driver": counts.row_pulses * comp.e_pulse_driver_j,
        "clock": counts.cycles * comp.e_clock_cycle_j
        + counts.adc_conversions * comp.e_clock_conversion_j
        + counts.shift_adds * comp.e_clock_shift_add_j,
        "integrator": counts.adc_conversions * comp.e_integrator_j,
        "adc": float(counts.adc_switching_energy_j)
        + counts.adc_conversions * (comp.e_comparator_j + comp.e_adc_logic_j),
        "output_scaling": counts.adc_conversions * comp.e_output_scaling_j,
        "shift_add": counts.shift_adds * comp.e_shift_add_j,
        "sram": (counts.sram_read_bits + counts.sram_write_bits) * comp.e_sram_bit_j,
        "interconnect": counts.sram_write_bits * comp.interconnect_hops_tiles * tile_pitch_m
        * e_bit_mm,
        "kv_cache": (counts.kv_cache_read_bits + counts.kv_cache_write_bits)
        * comp.e_sram_bit_j,
        "analog_state": float(counts.analog_state_energy_j),
        "analog_neuron": float(counts.neuron_energy_j),
        "digital": digital_macs * comp.e_digital_mac_j,
    }
    out.update(dict.fromkeys(DIGITAL_LINES, 0.0))
    for line, per_op in check_digital_ops(digital_ops, "energy_breakdown").items():
        out[line] = out.get(line, 0.0) + sum(c * digital_op_energy_j(comp, op)
                                             for op, c in per_op.items())
    for key, val in out.items():
        if not (math.isfinite(val) and val >= 0.0):
            fail("counts", "energy_breakdown", f"non-negative and finite ({key})", val)
    return out


def breakdown_total(parts: Mapping[str, float]) -> float:
    """Sum of a breakdown [J]."""
    return float(sum(parts.values()))
