"""Periphery energies (cimsim.ppa.periphery) and their lines in the energy account."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.ops import OpCounts
from cimsim.ppa import periphery
from cimsim.ppa.energy import (
    ENERGY_KINDS,
    components,
    energy_breakdown,
    load_tech,
    op_energy_j,
)
from device_models import cards, logic
from device_models.errors import InvalidParameterError


def pwm_hw(read_phases: int = 1, **tile) -> HardwareConfig:
    """A chip with pulse-width inputs from a driver card and the HERMES periphery card."""
    drv = cards.load("khaddamaljameh2022_pwm_driver")
    kw = dict(rows=64, cols=32, weight_bits=8, bits_per_cell=8, input_encoding="pulse_width",
              input_bits=drv.bits + 1, t_read_s=2**drv.bits * drv.t_clk_s,
              read_phases=read_phases, front_end="mirror", adc_bits=8, adc_share=2)
    kw.update(tile)
    return HardwareConfig(device_card="joshi2020_pcm", tech_card="dennard_scaled_14nm",
                          periphery_card="khaddamaljameh2022_hermes_periphery",
                          adc_card="khaddamaljameh2022_cco_adc",
                          dac_card="khaddamaljameh2022_pwm_driver", tile=TileConfig(**kw))


def test_clock_ticks_whole_window_and_floor_of_one():
    assert periphery.clock_ticks(128e-9, 1e-9) == 128      # a window of whole ticks
    assert periphery.clock_ticks(128.5e-9, 1e-9) == 129
    assert periphery.clock_ticks(73e-12, 1e-9) == 1         # shorter than a tick: one
    with pytest.raises(InvalidParameterError, match="'t_clk_s'.*stays finite"):
        periphery.clock_ticks(1e-9, 5e-324)                 # the count overflows a float
    assert periphery.clock_ticks(0.0, 1e-9) == 1


def test_no_energy_is_zero_where_other_factors_overflow():
    """A zero count or energy gives 0 J even where the other factors' product overflows
    (inf·0 was NaN); otherwise the same product, bit for bit."""
    assert periphery.output_scaling_energy_j(1e308, 1e308, 0.0, 0.0) == 0.0
    assert periphery.clock_energy_j(0.0, 1e308, 1e308, 1e308, 1e300) == 0.0
    assert periphery.read_supply_energy_j(0.0, 1e-300, 1e308) == 0.0
    assert periphery.output_scaling_energy_j(3.0, 2.0, 1e-12, 2e-13) == 3.0 * 2.0 * 1.2e-12
    assert periphery.output_scaling_energy_j(1e308, 1e308, 1e-12, 0.0) == math.inf


@settings(max_examples=40)
@given(n=st.integers(0, 10_000), ff=st.floats(0, 1e5), e=st.floats(0, 1e-14),
       c=st.floats(0, 1e-12), v=st.floats(0, 2.0))
def test_clock_energy_closed_form_and_linear_in_periods(n, ff, e, c, v):
    one = periphery.clock_energy_j(1, ff, e, c, v)
    assert one == pytest.approx(ff * e + c * v * v, rel=1e-12, abs=0.0)
    assert periphery.clock_energy_j(n, ff, e, c, v) == pytest.approx(n * one, rel=1e-12,
                                                                      abs=1e-300)


@settings(max_examples=40)
@example(g=1e-4, v_read=0.375, extra=1e-13, t=6e-8)     # a supply 1e-13 V above the rail
@given(g=st.floats(1e-7, 1e-4), v_read=st.floats(0.05, 0.5), extra=st.floats(0.0, 2.0),
       t=st.floats(1e-10, 1e-6))
def test_read_supply_is_the_drop_times_the_charge(g, v_read, extra, t):
    v_sup = v_read + extra
    e_cells = g * v_read**2 * t          # a linear cell at V_read for t: V·I·t
    q = g * v_read * t                   # its charge
    assert periphery.read_supply_energy_j(e_cells, v_read, v_sup) == pytest.approx(
        (v_sup - v_read) * q, rel=1e-9, abs=1e-30)
    assert periphery.read_supply_energy_j(e_cells, v_read, None) == 0.0
    assert periphery.read_supply_energy_j(e_cells, v_read, v_read) == 0.0


def test_bad_arguments_refused():
    with pytest.raises(InvalidParameterError):
        periphery.read_supply_factor(0.2, 0.1)          # a supply below the read voltage
    with pytest.raises(InvalidParameterError):
        periphery.clock_energy_j(-1, 1, 1e-15)
    with pytest.raises(InvalidParameterError):
        periphery.clock_ticks(1e-9, 0.0)
    with pytest.raises(InvalidParameterError):
        periphery.output_scaling_energy_j(1, -1, 1e-15, 1e-15)


def test_components_price_the_pwm_counters_through_the_window():
    hw1, hw4 = pwm_hw(1), pwm_hw(4)
    c1, c4 = components(hw1), components(hw4)
    drv = cards.load("khaddamaljameh2022_pwm_driver")
    tech = "dennard_scaled_14nm"
    e_ff = periphery.GATES_FLIP_FLOP_CLOCK * logic.gate_energy_j(tech)
    vdd = cards.load(tech).vdd_v
    c_rows = 64 * c1.cell_pitch_m * c1.c_wire_f_per_m
    c_cols = 32 * c1.cell_pitch_m * c1.c_wire_f_per_m
    ticks = 2**drv.bits   # one window of 128 ticks, no input registers (the counter holds it)
    want = ticks * (64 * drv.bits * e_ff + c_rows * vdd**2) + c_cols * vdd**2
    assert c1.e_clock_cycle_j == pytest.approx(want, rel=1e-12, abs=0.0)
    # four windows: the counters tick four times as long, the output spine once
    want4 = 4 * ticks * (64 * drv.bits * e_ff + c_rows * vdd**2) + c_cols * vdd**2
    assert c4.e_clock_cycle_j == pytest.approx(want4, rel=1e-12, abs=0.0)
    assert c1.e_clock_conversion_j == pytest.approx(8 * e_ff, rel=1e-12, abs=0.0)
    assert c1.read_supply_factor == pytest.approx(0.8 / 0.2 - 1.0, rel=1e-12)
    assert c1.e_output_scaling_j == pytest.approx(
        op_energy_j(load_tech(tech), "mult", c1.digital_word_bits)
        + op_energy_j(load_tech(tech), "add", c1.digital_word_bits), rel=1e-12, abs=0.0)


def test_breakdown_lines_from_counts():
    comp = components(pwm_hw(1))
    counts = OpCounts(cycles=10, adc_conversions=160, shift_adds=160,
                      cell_read_energy_j=3e-12)
    e = energy_breakdown(counts, comp)
    assert list(e)[:len(ENERGY_KINDS)] == list(ENERGY_KINDS)
    assert e["read_supply"] == pytest.approx(3e-12 * 3.0, rel=1e-12, abs=0.0)
    assert e["clock"] == pytest.approx(10 * comp.e_clock_cycle_j
                                       + 160 * comp.e_clock_conversion_j
                                       + 160 * comp.e_clock_shift_add_j, rel=1e-12, abs=0.0)
    assert e["output_scaling"] == pytest.approx(160 * comp.e_output_scaling_j, rel=1e-12, abs=0.0)
    assert all(math.isfinite(v) and v >= 0.0 for v in e.values())
    # nothing runs, nothing is spent
    assert all(v == 0.0 for v in energy_breakdown(OpCounts(), comp).values())


def test_default_chip_has_a_clock_but_no_read_supply_or_scaling():
    comp = components(HardwareConfig())
    assert comp.read_supply_factor == 0.0 and comp.e_output_scaling_j == 0.0
    # a DAC-driven tile latches every row's input code each cycle
    e_ff = periphery.GATES_FLIP_FLOP_CLOCK * logic.gate_energy_j(HardwareConfig().tech_card)
    t = HardwareConfig().tile
    assert comp.e_clock_cycle_j > t.rows * t.input_bits * e_ff


def test_periphery_lines_reach_the_report():
    from cimsim.ppa.report import standard_tile_report

    rep = standard_tile_report(pwm_hw(1), batch=2)
    parts = rep.breakdown_per_inference_j
    for line in ("read_supply", "clock", "output_scaling"):
        assert parts[line] > 0.0, line
    assert parts["read_supply"] == pytest.approx(3.0 * parts["array_read"], rel=1e-12, abs=0.0)


def test_bit_serial_rows_shift_their_input_word_and_tick_their_counter_through_the_window():
    from validation.hung2021_rram_macro import macro_hw

    hw = macro_hw("8-bit")
    comp = components(hw)
    drv = cards.load(hw.dac_card)
    tech = load_tech(hw.tech_card)
    e_ff = periphery.GATES_FLIP_FLOP_CLOCK * logic.gate_energy_j(tech)
    t = hw.tile
    c_rows = t.rows * comp.cell_pitch_m * tech.c_wire_f_per_m
    c_cols = t.cols * comp.cell_pitch_m * tech.c_wire_f_per_m
    # a 1.25 ns window (settling and eight decisions) spans two 1 ns ticks
    assert 1.0 < comp.t_read_s / drv.t_clk_s < 2.0
    want = (2 * (t.rows * drv.bits * e_ff + c_rows * tech.vdd_v**2)  # the counters, 2 ticks
            + t.rows * t.input_bits * e_ff                            # input shift registers
            + c_cols * tech.vdd_v**2)
    assert comp.e_clock_cycle_j == pytest.approx(want, rel=1e-12, abs=0.0)
    assert comp.read_supply_factor == pytest.approx(cards.load(hw.periphery_card).read_supply_v
                                                    / t.v_read_v - 1.0, rel=1e-12)
