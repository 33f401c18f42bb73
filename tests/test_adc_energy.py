"""SAR ADC comparator and logic energy from component models (device_models.adc, .logic)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.hardware import HardwareConfig
from cimsim.ppa.energy import components, load_tech
from device_models import cards, gm_over_id, logic
from device_models.adc import (
    COMPARATOR_GAMMA,
    SarAdc,
    comparator_energy_j,
    sar_logic_energy_j,
)
from device_models.constants import K_B_J_PER_K, T_REF_K
from device_models.errors import CardError, InvalidParameterError

LIU = cards.load("liu2010_sar_10b")


def test_comparator_energy_hand_worked_and_noise_round_trip():
    sigma, vdd, gm_id, t = 0.5e-3, 1.2, 15.0, 300.0
    c = 4 * K_B_J_PER_K * t * (2 / 3) / (gm_id * 0.6 * sigma**2)      # [F]
    e = comparator_energy_j(sigma, vdd, gm_id, t)
    assert e == pytest.approx(c * vdd * (vdd + 0.6), rel=1e-12, abs=0.0)
    assert 1e-15 < c < 1e-14                      # a few fF for 0.5 mV at 300 K
    # the capacitance that energy pays for has exactly the requested noise
    c_back = e / (vdd * (vdd + 0.6))
    assert math.sqrt(4 * K_B_J_PER_K * t * COMPARATOR_GAMMA / (gm_id * c_back * 0.6)) == \
        pytest.approx(sigma, rel=1e-12, abs=0.0)


@settings(max_examples=40)
@given(sigma=st.floats(1e-5, 1e-2), gm_id=st.floats(1.0, 35.0), t=st.floats(50.0, 500.0),
       k=st.floats(1.1, 10.0))
def test_comparator_energy_noise_trade_off(sigma, gm_id, t, k):
    """E ∝ kT/σ² and ∝ 1/(g_m/I_D): halving the noise costs four times the energy."""
    e = comparator_energy_j(sigma, 1.0, gm_id, t)
    assert e > 0.0
    assert comparator_energy_j(sigma / k, 1.0, gm_id, t) == pytest.approx(e * k * k, rel=1e-9,
                                                                          abs=0.0)
    assert comparator_energy_j(sigma, 1.0, gm_id * k, t) == pytest.approx(e / k, rel=1e-9, abs=0.0)
    assert comparator_energy_j(sigma, 1.0, gm_id, t * k) == pytest.approx(e * k, rel=1e-9, abs=0.0)


def test_logic_energy_and_gate_energy_by_hand():
    assert sar_logic_energy_j(8, 20.0, 2e-15) == pytest.approx(9 * 8 * 20 * 2e-15, rel=1e-12,
                                                               abs=0.0)
    e45 = logic.gate_energy_j("horowitz2014_45nm")
    assert e45 == pytest.approx(0.1e-12 / (32 * 7), rel=1e-12, abs=0.0)
    assert logic.gate_energy_j("horowitz2014_45nm", 130e-9, 1.2) == pytest.approx(
        e45 * (130 / 45) * (1.2 / 0.9) ** 2, rel=1e-12, abs=0.0)
    # a scaled card resolves through its base: the same as load_tech's scaled adder
    t22 = load_tech("dennard_scaled_22nm")
    assert logic.gate_energy_j("dennard_scaled_22nm") == pytest.approx(
        t22.e_add_int32_j / (32 * 7), rel=1e-12, abs=0.0)
    with pytest.raises(InvalidParameterError, match="'bits'"):
        sar_logic_energy_j(0, 20.0, 1e-15)


@pytest.mark.parametrize("bits", [1, 4, 8, 10])
def test_card_energies_come_from_the_models(bits):
    adc = SarAdc.from_card(LIU, bits=bits)
    v = LIU.v_ref_v
    gm_id = float(gm_over_id(0.5 * v, v, LIU.mosfet_card))
    e_dec = comparator_energy_j(LIU.comparator_noise_v * 2.0, v, gm_id, T_REF_K)
    assert adc.e_comparator_j == pytest.approx(bits * e_dec, rel=1e-12, abs=0.0)
    e_gate = logic.gate_energy_j(LIU.tech_card, LIU.node_m, v)
    assert adc.e_logic_j == pytest.approx((bits + 1) * bits * LIU.logic_gates_per_bit * e_gate,
                                          rel=1e-12, abs=0.0)
    # designed once at the reference temperature: the energy does not follow T
    hot = SarAdc.from_card(LIU, bits=bits, temperature_k=400.0)
    assert hot.e_comparator_j == adc.e_comparator_j and hot.e_logic_j == adc.e_logic_j


def test_card_values_override_the_models():
    card = LIU.replace(e_comparator_j=5e-12, e_logic_j=10e-12)
    adc = SarAdc.from_card(card)
    assert adc.e_comparator_j == 5e-12 and adc.e_logic_j == 10e-12
    a8 = SarAdc.from_card(card, bits=8)
    assert a8.e_comparator_j == pytest.approx(4e-12, rel=1e-6, abs=0.0)
    assert a8.e_logic_j == pytest.approx(8e-12, rel=1e-6, abs=0.0)
    assert SarAdc.from_card(LIU, e_logic_j=1e-13).e_logic_j == 1e-13
    with pytest.raises(CardError, match="comparator_noise_v > 0 and mosfet_card"):
        SarAdc.from_card(LIU.replace(comparator_noise_v=0.0))
    with pytest.raises(CardError, match="logic_gates_per_bit, tech_card and node_m"):
        SarAdc.from_card(_without(LIU, "tech_card"))


def test_tile_converter_energy_is_mostly_logic_and_below_the_old_split():
    """At the default 8 bits: logic ≫ comparator (a few fF latch), and the derived sum is below
    the 12.6 pJ the former fixed card split charged per conversion."""
    comp = components(HardwareConfig())
    assert comp.e_adc_logic_j > 10 * comp.e_comparator_j
    assert comp.e_comparator_j + comp.e_adc_logic_j < 12.6e-12


def _without(card, key):
    import dataclasses
    from types import MappingProxyType

    return dataclasses.replace(card, values=MappingProxyType(
        {k: v for k, v in card.values.items() if k != key}))
