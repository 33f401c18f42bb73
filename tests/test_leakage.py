"""Static (leakage) power and temperature-dependent speed of the periphery (device_models.logic,
cimsim.ppa.leakage)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_energy import make_components

from cimsim.hardware import HardwareConfig
from cimsim.ops import OpCounts
from cimsim.ppa import leakage
from cimsim.ppa.energy import components, load_tech
from cimsim.ppa.report import build_report
from device_models import cards, logic
from device_models.constants import T_REF_K, thermal_voltage_v
from device_models.errors import CardError, InvalidParameterError
from device_models.mosfet import ekv_params

PTM65 = cards.load("ptm2006_65nm_nmos")


def _counts() -> OpCounts:
    return OpCounts(macs=256 * 128 * 8, cycles=8, dac_conversions=2048, cell_reads=8 * 65536,
                    cell_read_energy_j=2e-11, row_drive_v2=80.0, adc_conversions=2048,
                    adc_switching_energy_j=5e-12, adc_rounds=64, shift_adds=2048,
                    sram_read_bits=16384, sram_write_bits=8192)


@pytest.mark.parametrize("t_k", [250.0, 300.0, 400.0])
def test_off_current_is_the_weak_inversion_limit(t_k):
    """I_off → I_spec·exp((η·V_DD − V_T)/(n·U_T))·(1 − exp(−V_DD/U_T)) in weak inversion; the
    first neglected term of ln²(1 + z), z = exp(V_P/2U_T), is a relative −z."""
    vdd, w = 0.9, 90e-9
    p = ekv_params(PTM65, t_k, w_m=w)
    ut = float(thermal_voltage_v(t_k))
    closed = (p.i_spec_a * math.exp((p.dibl_v_per_v * vdd - p.vt0_v) / (p.n * ut))
              * -math.expm1(-vdd / ut))
    z = math.exp((p.dibl_v_per_v * vdd - p.vt0_v) / (2.0 * p.n * ut))
    i_off = logic.off_current_a(PTM65, vdd, t_k, w)
    assert abs(i_off / closed - 1.0 + z) <= z * z      # z² is the next order
    assert z < 0.07
    # linear in width and in the number of devices; P = N·I_off·V_DD
    assert logic.off_current_a(PTM65, vdd, t_k, 2 * w) == pytest.approx(2 * i_off, rel=1e-12,
                                                                        abs=0.0)
    assert logic.leakage_power_w(1e5, PTM65, vdd, t_k, w) == pytest.approx(
        1e5 * logic.off_current_a(PTM65, vdd, t_k, w) * vdd, rel=1e-12, abs=0.0)


def test_off_current_rises_steeply_with_temperature():
    temps = np.linspace(230.0, 420.0, 9)
    i = [logic.off_current_a(PTM65, 0.9, t, 90e-9) for t in temps]
    assert np.all(np.diff(np.log(i)) > 0)
    assert i[-1] / i[0] > 100.0     # more than two decades over 190 K


def test_drive_speed_factor_and_temperature_inversion():
    assert logic.drive_speed_factor(PTM65, 0.9, T_REF_K) == pytest.approx(1.0, rel=1e-12)
    # well above threshold the mobility wins: slower when hot
    assert logic.drive_speed_factor(PTM65, 0.9, 400.0) < 1.0 < logic.drive_speed_factor(
        PTM65, 0.9, 250.0)
    # just above V_T (0.423 V) the falling threshold wins: faster when hot
    assert logic.drive_speed_factor(PTM65, 0.45, 400.0) > 1.0


def test_off_device_counts_by_hand():
    n = leakage.tile_off_devices(rows=4, cols=8, n_adcs=2, adc_gates=10.0, accumulator_bits=3,
                                 buffer_bits=100.0, sram_bit_devices=3.0, row_driver_gates=5.0,
                                 integrator_gates=1.0)
    assert n == 100 * 3 + 2 * (4 * 5 + 8 * 1 + 2 * (10 + 3 * (7 + 6)))
    assert leakage.digital_unit_off_devices(lanes=2, weight_bits=4) == 2 * 2 * (
        16 * (1.5 + 7) + 32 * (7 + 6))


def test_leakage_line_by_hand():
    comp = make_components(p_leak_tile_w=2e-4, p_leak_digital_w=1e-4)
    rep = build_report({"l": _counts()}, HardwareConfig(), batch=4, n_tiles={"l": 2},
                       comp=comp)
    assert rep.n_tiles_total == 2
    assert rep.leakage_j == pytest.approx((2 * 2e-4 + 1e-4) * rep.batch_time_s, rel=1e-12, abs=0.0)
    assert rep.energy_breakdown_j["leakage"] == rep.leakage_j
    assert rep.energy_j == pytest.approx(sum(rep.energy_breakdown_j.values()), rel=1e-12, abs=0.0)
    more = build_report({"l": _counts()}, HardwareConfig(), batch=4, n_tiles={"l": 2},
                        comp=comp, n_tiles_total=5)
    assert more.leakage_j == pytest.approx((5 * 2e-4 + 1e-4) * rep.batch_time_s, rel=1e-12, abs=0.0)
    with pytest.raises(InvalidParameterError, match="n_tiles_total"):
        build_report({"l": _counts()}, HardwareConfig(), batch=4, n_tiles={"l": 2},
                     comp=comp, n_tiles_total=-1)


def test_energy_and_latency_rise_with_temperature():
    """Same run counts on the default chip at 250…400 K: the leakage line, the total energy
    and the latency all rise with temperature (at 0.9 V the periphery slows down when hot)."""
    leak, total, lat = [], [], []
    for t_k in (250.0, 300.0, 350.0, 400.0):
        hw = HardwareConfig(temperature_k=t_k)
        rep = build_report({"l": _counts()}, hw, batch=16, n_tiles={"l": 1})
        leak.append(rep.leakage_j)
        total.append(rep.energy_j)
        lat.append(rep.latency_per_inference_s)
        # the breakdown still adds up to the total
        assert rep.energy_j == pytest.approx(sum(rep.energy_breakdown_j.values()), rel=1e-12,
                                             abs=0.0)
    assert np.all(np.diff(leak) > 0) and np.all(np.diff(total) > 0)
    assert np.all(np.diff(lat) > 0)
    assert leak[-1] / leak[1] > 10.0


def test_components_scale_the_card_timings():
    c300 = components(HardwareConfig())
    c400 = components(HardwareConfig(temperature_k=400.0))
    assert c300.logic_speed == pytest.approx(1.0) and c300.adc_speed == pytest.approx(1.0)
    assert c400.t_shift_add_s == pytest.approx(c300.t_shift_add_s / c400.logic_speed, rel=1e-6,
                                               abs=0.0)
    assert c400.t_dac_settle_s == pytest.approx(c300.t_dac_settle_s / c400.logic_speed, rel=1e-6,
                                                abs=0.0)
    assert c400.digital_mac_rate_per_s == pytest.approx(
        c300.digital_mac_rate_per_s * c400.logic_speed)
    assert c400.t_adc_conversion_s == pytest.approx(c300.t_adc_conversion_s / c400.adc_speed,
                                                    rel=1e-6, abs=0.0)
    assert c400.t_read_s == c300.t_read_s        # the read window is a timed design choice
    assert c400.p_leak_tile_w > 10 * c300.p_leak_tile_w


def test_scaled_tech_cards_carry_the_leakage_fields():
    base = load_tech("horowitz2014_45nm")
    for name in ("dennard_scaled_22nm", "dennard_scaled_14nm"):
        card = load_tech(name)
        assert card.mosfet_card == base.mosfet_card
        assert card.leak_width_m == pytest.approx(base.leak_width_m * card.node_m / base.node_m,
                                                  rel=1e-6, abs=0.0)
    with pytest.raises(CardError, match="mosfet_card"):
        leakage.tech_mosfet(_without(base, "mosfet_card"))


def _without(card, key):
    import dataclasses
    from types import MappingProxyType

    values = {k: v for k, v in card.values.items() if k != key}
    return dataclasses.replace(card, values=MappingProxyType(values))
