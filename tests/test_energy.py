"""Energy, latency and area component models (cimsim.ppa.energy, cimsim.ppa.latency)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from cimsim.hardware import HardwareConfig
from cimsim.ops import OpCounts
from cimsim.ppa.energy import (
    ENERGY_KINDS,
    Components,
    energy_breakdown,
    load_tech,
    op_area_m2,
    op_energy_j,
    tile_area_m2,
)
from cimsim.ppa.latency import layer_time_s, pipeline_time_s, tile_cycle_time_s
from device_models import cards
from device_models.errors import InvalidParameterError

# Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323: energy and area tables at 45 nm, 0.9 V
# (published in pJ and um^2; checked here in SI units).
HOROWITZ_PJ = {
    "e_add_int8_j": 0.03, "e_add_int32_j": 0.1, "e_mult_int8_j": 0.2, "e_mult_int32_j": 3.1,
    "e_add_fp16_j": 0.4, "e_add_fp32_j": 0.9, "e_mult_fp16_j": 1.1, "e_mult_fp32_j": 3.7,
    "e_sram_64b_8kb_j": 10.0, "e_sram_64b_32kb_j": 20.0, "e_sram_64b_1mb_j": 100.0,
    "e_dram_64b_j": 1300.0,
}
HOROWITZ_UM2 = {
    "a_add_int8_m2": 36.0, "a_add_int32_m2": 137.0, "a_mult_int8_m2": 282.0,
    "a_mult_int32_m2": 3495.0, "a_add_fp16_m2": 1360.0, "a_add_fp32_m2": 4184.0,
    "a_mult_fp16_m2": 1640.0, "a_mult_fp32_m2": 7700.0,
}


def make_components(**changes) -> Components:
    """A fully specified component set (numbers chosen for hand arithmetic)."""
    base = dict(
        vdd_v=0.9, c_wire_f_per_m=2e-10, cell_pitch_m=100e-9, cell_area_m2=1e-14,
        e_dac_j=50e-15, e_pulse_driver_j=2e-15, a_dac_m2=1e-11, e_integrator_j=1e-15,
        a_integrator_m2=4e-14,
        e_comparator_j=20e-15, e_adc_logic_j=100e-15, t_adc_conversion_s=10e-9,
        a_adc_m2=1e-9, e_shift_add_j=0.05e-12, a_shift_add_m2=80e-12, accumulator_bits=16,
        e_sram_bit_j=10e-12 / 64, a_sram_bit_m2=0.346e-12, buffer_bits_per_tile=65536.0,
        e_digital_mac_j=0.3e-12, digital_mac_rate_per_s=64e9, a_digital_m2=64 * 419e-12,
        wire_activity=0.5, interconnect_hops_tiles=1.0, t_dac_settle_s=1e-9, t_read_s=10e-9,
        t_shift_add_s=1e-9, rows=256, cols=256, adc_share=8, adc_bits=8,
        digital_word_bits=16, e_word_add_j=0.05e-12, e_word_mult_j=0.7e-12,
        temperature_k=300.0, logic_speed=1.0, adc_speed=1.0, p_leak_tile_w=0.0,
        p_leak_digital_w=0.0,
    )
    base.update(changes)
    return Components(**base)


def test_horowitz_table_reproduced_exactly():
    card = cards.load("horowitz2014_45nm")
    assert card.kind == "tech"
    assert card.node_m == 45e-9 and card.vdd_v == 0.9
    for key, pj in HOROWITZ_PJ.items():
        assert getattr(card, key) == pytest.approx(pj * 1e-12, rel=1e-12, abs=0.0), key
    for key, um2 in HOROWITZ_UM2.items():
        assert getattr(card, key) == pytest.approx(um2 * 1e-12, rel=1e-12, abs=0.0), key
    assert "Horowitz" in card.source.authors and card.source.doi == "10.1109/ISSCC.2014.6757323"


def test_op_energy_hits_published_points_and_is_monotone():
    tech = load_tech("horowitz2014_45nm")
    assert op_energy_j(tech, "add", 8) == pytest.approx(0.03e-12, rel=1e-12, abs=0.0)
    assert op_energy_j(tech, "add", 32) == pytest.approx(0.1e-12, rel=1e-12, abs=0.0)
    assert op_energy_j(tech, "mult", 8) == pytest.approx(0.2e-12, rel=1e-12, abs=0.0)
    assert op_energy_j(tech, "mult", 32) == pytest.approx(3.1e-12, rel=1e-12, abs=0.0)
    assert op_area_m2(tech, "mult", 32) == pytest.approx(3495e-12, rel=1e-12, abs=0.0)
    e = [op_energy_j(tech, "mult", b) for b in range(1, 33)]
    assert np.all(np.diff(e) > 0)
    with pytest.raises(InvalidParameterError, match="'op' parameter of op_energy_j"):
        op_energy_j(tech, "div", 8)
    with pytest.raises(InvalidParameterError, match="'bits'"):
        op_energy_j(tech, "add", 0)


@pytest.mark.parametrize("name", ["dennard_scaled_22nm", "dennard_scaled_14nm"])
def test_scaled_tech_follows_cv2_rule(name):
    base = load_tech("horowitz2014_45nm")
    card = load_tech(name)
    raw = cards.load(name)
    e_scale = (raw.node_m / 45e-9) * (raw.vdd_v / 0.9) ** 2
    a_scale = (raw.node_m / 45e-9) ** 2
    assert card.e_mult_int8_j == pytest.approx(base.e_mult_int8_j * e_scale, rel=1e-12, abs=0.0)
    assert card.e_sram_64b_8kb_j == pytest.approx(base.e_sram_64b_8kb_j * e_scale, rel=1e-12,
                                                  abs=0.0)
    assert card.a_add_int32_m2 == pytest.approx(base.a_add_int32_m2 * a_scale, rel=1e-12, abs=0.0)
    assert card.c_wire_f_per_m == base.c_wire_f_per_m
    assert card.e_add_int8_j < base.e_add_int8_j


def test_energy_breakdown_hand_worked():
    comp = make_components()
    c = OpCounts(macs=1000, cycles=2, dac_conversions=10, row_pulses=6, cell_reads=100,
                 cell_read_energy_j=3e-12, row_drive_v2=0.5, adc_conversions=20,
                 adc_switching_energy_j=2e-12, adc_rounds=16, shift_adds=40,
                 sram_read_bits=640, sram_write_bits=128)
    e = energy_breakdown(c, comp, digital_macs=7)
    assert list(e) == list(ENERGY_KINDS)
    assert e["array_read"] == 3e-12
    assert e["wire_charging"] == pytest.approx(0.5 * 256 * 100e-9 * 2e-10, rel=1e-12, abs=0.0)
    assert e["dac"] == pytest.approx(10 * 50e-15, rel=1e-12, abs=0.0)
    assert e["row_driver"] == pytest.approx(6 * 2e-15, rel=1e-12, abs=0.0)
    assert e["integrator"] == pytest.approx(20 * 1e-15, rel=1e-12, abs=0.0)
    assert e["adc"] == pytest.approx(2e-12 + 20 * (20e-15 + 100e-15), rel=1e-12, abs=0.0)
    assert e["shift_add"] == pytest.approx(40 * 0.05e-12, rel=1e-12, abs=0.0)
    assert e["sram"] == pytest.approx(768 * 10e-12 / 64, rel=1e-12, abs=0.0)
    pitch = math.sqrt(tile_area_m2(comp))
    assert e["interconnect"] == pytest.approx(128 * pitch * 0.5 * 2e-10 * 0.81, rel=1e-12, abs=0.0)
    assert e["digital"] == pytest.approx(7 * 0.3e-12, rel=1e-12, abs=0.0)



def test_interconnect_energy_is_linear_in_the_hops():
    """Each output bit crosses interconnect_hops_tiles tile pitches: twice the hops, twice the
    interconnect energy (128 bits · h · √A_tile · α · c_wire · V_DD²)."""
    c = OpCounts(sram_write_bits=128)
    pitch = math.sqrt(tile_area_m2(make_components()))
    e = {h: energy_breakdown(c, make_components(interconnect_hops_tiles=h))["interconnect"]
         for h in (1.0, 2.0, 3.0)}
    for h, val in e.items():
        assert val == pytest.approx(128 * h * pitch * 0.5 * 2e-10 * 0.9**2, rel=1e-12, abs=0.0), h
    assert e[2.0] == pytest.approx(2 * e[1.0], rel=1e-12, abs=0.0)


def test_kv_cache_energy_counts_reads_and_writes():
    """The attention K/V cache costs E_SRAM(8 kB, 64 b)/64 per bit read or written."""
    c = OpCounts(kv_cache_read_bits=640, kv_cache_write_bits=128)
    e = energy_breakdown(c, make_components())
    assert e["kv_cache"] == pytest.approx((640 + 128) * 10e-12 / 64, rel=1e-12, abs=0.0)
    assert e["sram"] == 0.0

def test_tile_cycle_and_layer_time():
    comp = make_components()
    assert tile_cycle_time_s(comp) == pytest.approx(1e-9 + 10e-9 + 8 * 10e-9 + 1e-9, rel=1e-6,
                                                    abs=0.0)
    # Two tiles, 3 vectors each, one cycle per vector: 6 cycles summed over tiles; the ADC
    # rounds are the critical path, 3 vectors x 8 sequential conversions.
    c = OpCounts(cycles=6, adc_rounds=24)
    t = layer_time_s(c, comp, n_tiles=2)
    assert t == pytest.approx(3 * tile_cycle_time_s(comp), rel=1e-12, abs=0.0)
    t_digital = layer_time_s(OpCounts(), comp, n_tiles=0, digital_macs=640)
    assert t_digital == pytest.approx(1e-8, rel=1e-6, abs=0.0)
    with pytest.raises(InvalidParameterError, match="n_tiles"):
        layer_time_s(c, comp, n_tiles=0)
    assert pipeline_time_s([1.0, 3.0, 2.0], 1) == 6.0
    assert pipeline_time_s([1.0, 3.0, 2.0], 5) == 6.0 + 4 * 3.0



def test_serialised_blocks_multiply_only_the_array_time():
    """serial = s blocks sharing one tile: T = s·T_array + T_digital. Two tiles, 6 cycles,
    24 ADC rounds: T_array = 3·12 ns + 24·10 ns = 276 ns; 640 digital MACs at 64 G/s = 10 ns."""
    comp = make_components()
    c = OpCounts(cycles=6, adc_rounds=24)
    one = layer_time_s(c, comp, n_tiles=2, digital_macs=640)
    assert one == pytest.approx(276e-9 + 10e-9, rel=1e-12, abs=0.0)
    three = layer_time_s(c, comp, n_tiles=2, digital_macs=640, serial=3)
    assert three == pytest.approx(3 * 276e-9 + 10e-9, rel=1e-12, abs=0.0)

def test_more_columns_per_adc_lowers_area_and_raises_latency():
    areas, times = [], []
    for share in (1, 4, 16, 64):
        comp = make_components(adc_share=share)
        counts = OpCounts(cycles=1, adc_rounds=share)
        areas.append(tile_area_m2(comp))
        times.append(layer_time_s(counts, comp, n_tiles=1))
    assert np.all(np.diff(areas) < 0)
    assert np.all(np.diff(times) > 0)


def test_tile_area_hand_worked():
    comp = make_components()
    expected = (256 * 256 * 1e-14 + 32 * (1e-9 + 80e-12) + 256 * 1e-11 + 256 * 4e-14
                + 65536 * 0.346e-12)
    assert tile_area_m2(comp) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_energy_breakdown_rejects_bad_input():
    comp = make_components()
    with pytest.raises(InvalidParameterError, match="'counts' parameter of energy_breakdown"):
        energy_breakdown({"macs": 1}, comp)
    with pytest.raises(InvalidParameterError, match="non-negative"):
        energy_breakdown(OpCounts(cell_read_energy_j=-1.0), comp)
    with pytest.raises(InvalidParameterError, match="digital_macs"):
        energy_breakdown(OpCounts(), comp, digital_macs=-3)


def test_components_dataclass_is_frozen():
    comp = make_components()
    with pytest.raises(dataclasses.FrozenInstanceError):
        comp.rows = 3
    assert comp.n_adcs_per_tile == 32
    assert comp.c_row_f == pytest.approx(256 * 100e-9 * 2e-10, rel=1e-6, abs=0.0)


def test_legallo_timing_and_energy_through_the_tile_models():
    """One core MVM = settle + p·2^7 PWM ticks + counter read-out + shift-add at 1 ns each, from
    cimsim's latency model; the CCO ADCs count over p windows, so their energy grows p-fold
    (E_cyc = V_DD I_FS T_c / 2^N at the same mean count) while the cells' V·I·t does not."""
    from validation import legallo2023_hermes as lg

    res = lg.evaluate()
    assert res[1]["latency_s"] == pytest.approx((1 + 128 + 1 + 1) * 1e-9, rel=1e-9, abs=0.0)
    assert res[4]["latency_s"] == pytest.approx((1 + 512 + 1 + 1) * 1e-9, rel=1e-9, abs=0.0)
    assert res[1]["tops"] == pytest.approx(64 * 2 * 65536 / 131e-9 / 1e12, rel=1e-9)
    adc_ratio = res[4]["parts"]["adc"] / res[1]["parts"]["adc"]
    assert 3.8 < adc_ratio < 4.0  # the counter read-out per conversion does not scale
    assert res[4]["parts"]["array_read"] == pytest.approx(res[1]["parts"]["array_read"],
                                                          rel=1e-9, abs=0.0)


@pytest.mark.parametrize("encoding,bits,field", [
    ("amplitude", 8, "dac_conversions"), ("amplitude", 1, "row_pulses"),
    ("bit_serial", 8, "row_pulses"), ("pulse_width", 8, "row_pulses"),
    ("ttfs", 8, "row_pulses"), ("level_crossing", 8, "row_pulses")])
def test_row_drives_priced_by_what_drives_the_row(encoding, bits, field):
    """Multi-level amplitude inputs are DAC conversions (the DAC model's mean energy); binary
    pulses (one-bit inputs, bit planes, pulse-width, TTFS and level-crossing pulses) have no
    DAC: each costs the pulse driver's gates at the tech card's gate energy. Both charge the
    row wire, C_row·V² per event."""
    from cimsim.tile.matrix import AnalogMatrix
    from device_models import logic

    hw = HardwareConfig(read_noise=False, converter_noise=False)
    hw = hw.replace(tile=hw.tile.replace(rows=32, cols=16, input_encoding=encoding,
                                         input_bits=bits))
    w = np.random.default_rng(1).normal(size=(20, 4))
    x = np.random.default_rng(2).random((6, 20))
    m = AnalogMatrix(w, hw).calibrate(x)
    _, ops = m.matmul(x)
    other = "row_pulses" if field == "dac_conversions" else "dac_conversions"
    n = getattr(ops, field)
    assert n > 0 and getattr(ops, other) == 0 and ops.row_drive_events == n
    from cimsim.ppa.energy import components

    comp = components(hw)
    e = energy_breakdown(ops, comp)
    g_pulse = cards.load(hw.periphery_card).pulse_driver_gates
    assert comp.e_pulse_driver_j == pytest.approx(g_pulse * logic.gate_energy_j(hw.tech_card),
                                                  rel=1e-6, abs=0.0)
    if field == "dac_conversions":
        assert e["dac"] == pytest.approx(n * comp.e_dac_j, rel=1e-6, abs=0.0)
        assert e["row_driver"] == 0.0
    else:
        assert e["row_driver"] == pytest.approx(n * comp.e_pulse_driver_j, rel=1e-6, abs=0.0)
        assert e["dac"] == 0.0
        assert comp.e_pulse_driver_j < comp.e_dac_j      # a switch driver, not a converter
    assert e["wire_charging"] == pytest.approx(ops.row_drive_v2 * comp.c_row_f, rel=1e-6, abs=0.0)


def test_dac_energy_counts_every_read_phase():
    """A multi-level DAC drives its row again in each of tile.read_phases windows: e_dac_j is
    read_phases times the DAC model's mean energy per conversion. Johns 1997 8-bit capacitive
    DAC at V_ref = 0.2 V: mean over codes of C_u V² D(1 − D/256) + the driver's 5 fJ."""
    from cimsim.ppa.energy import components

    sum_d, sum_d2 = 255 * 256 / 2, 255 * 256 * 511 / 6
    e_one = 1e-15 * 0.2**2 * (sum_d - sum_d2 / 256) / 256 + 5e-15      # 6.7066 fJ
    hw = HardwareConfig()
    assert hw.dac_card == "johns1997_cap_dac_8b" and hw.tile.input_encoding == "amplitude"
    for phases in (1, 3):
        comp = components(hw.replace_path("tile.read_phases", phases))
        assert comp.e_dac_j == pytest.approx(phases * e_one, rel=1e-12, abs=0.0), phases
        e = energy_breakdown(OpCounts(dac_conversions=10), comp)
        assert e["dac"] == pytest.approx(10 * phases * e_one, rel=1e-12, abs=0.0), phases


def test_digital_mac_is_a_weight_width_multiply_and_a_32_bit_add():
    """The digital unit's MAC: an 8-bit multiply (0.2 pJ) and a 32-bit accumulate (0.1 pJ) at
    Horowitz's 45 nm, 0.3 pJ; at 16-bit weights the multiply is the power law's
    0.2 pJ · 2^p, p = ln(3.1/0.2)/ln 4."""
    from cimsim.ppa.energy import components

    hw = HardwareConfig()
    assert hw.tech_card == "horowitz2014_45nm" and hw.tile.weight_bits == 8
    assert components(hw).e_digital_mac_j == pytest.approx(0.3e-12, rel=1e-12, abs=0.0)
    p = math.log(3.1 / 0.2) / math.log(4.0)
    hw16 = hw.replace_path("tile.weight_bits", 16)
    assert components(hw16).e_digital_mac_j == pytest.approx(0.2e-12 * 2**p + 0.1e-12,
                                                             rel=1e-12, abs=0.0)
