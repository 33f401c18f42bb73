"""The published SAR ADC chips of validation.sar_adc_chips: cards, targets and physics.

The rows themselves (registered targets, known ranges, golden values) are checked for every
reproduction by tests/test_validation.py; here: that each card and its targets state the same
published numbers, and that the ENOB and energy the rows compare move with the assumed values
as the physics says (closed forms and limits).
"""

from __future__ import annotations

import math

import pytest

from device_models import SarAdc, cards
from device_models.constants import K_B_J_PER_K
from validation import sar_adc_chips as m
from validation._targets import targets_for


def test_cards_and_targets_state_the_same_published_numbers():
    t = targets_for(m.NAME)
    harpe, zhang = cards.load(m.HARPE), cards.load(m.ZHANG)
    assert t["harpe2011_enob"].published == harpe.enob_published
    assert t["zhang2012_enob"].published == zhang.enob_published
    # energy per conversion = published power / published sampling rate
    assert t["harpe2011_energy"].published == pytest.approx(
        harpe.power_w / harpe.f_sample_hz * 1e12, rel=1e-3)
    assert {x.kind for x in t.values()} == {"prediction"}
    hong, verma = cards.load(m.HONG), cards.load(m.VERMA)
    assert t["hong2007_enob"].published == hong.enob_published
    assert t["verma2007_enob"].published == verma.enob_published
    assert t["hong2007_energy"].published == pytest.approx(
        hong.power_w / hong.f_sample_hz * 1e12, rel=1e-3)
    # ENOB from the published SNDR: (SNDR - 1.76 dB) / 6.02 dB
    assert hong.enob_published == pytest.approx((47.4 - 1.76) / 6.02, abs=1e-4)
    # the comparator noise is the stated 0.2 LSB rms of each converter's own LSB
    for card in (harpe, zhang, hong, verma):
        assert card.comparator_noise_v / (card.v_ref_v / 2**card.bits) == pytest.approx(
            0.2, rel=0.01)


def test_ktc_noise_of_the_published_unit_capacitor():
    """sigma = sqrt(2kT / C_side) FS / (2 V_ref), C_side = 2^N C_u for conventional switching."""
    adc = SarAdc.from_card(m.HARPE, seed=0)
    c_side = 2**8 * 0.5e-15
    expected = math.sqrt(2 * K_B_J_PER_K * 300.0 / c_side) * 1.0 / 2.0
    assert adc.ktc_sigma_v == pytest.approx(expected, rel=1e-3)
    assert adc.ktc_sigma_v / adc.lsb_v < 0.05  # negligible against 1 V / 256


def test_enob_falls_with_the_assumed_noise_and_mismatch():
    card = cards.load(m.HARPE)
    quiet = card.replace(comparator_noise_v=0.01 * card.v_ref_v / 2**card.bits,
                         unit_cap_mismatch=0.0)
    e_quiet = m.enob(quiet)[0]
    # an ideal 8-bit quantiser with a near-full-scale sine: ENOB close to 8
    assert 7.85 < e_quiet <= 8.05
    e_card = m.enob(card)[0]
    e_noisy = m.enob(card.replace(comparator_noise_v=2 * card.comparator_noise_v))[0]
    assert e_noisy < e_card < e_quiet
    # comparator noise costs at most what the same sampling noise would:
    # ENOB >= N_q - 0.5 log2(1 + 12 sigma^2) with sigma in LSB (0.2 -> 0.28 bit)
    assert e_card >= e_quiet - 0.5 * math.log2(1 + 12 * 0.2**2) - 0.05


def test_energy_of_the_converter_parts():
    card = cards.load(m.HARPE)
    conv = SarAdc.from_card(card, seed=0)
    mono = SarAdc.from_card(card.replace(switching="monotonic"), seed=0)
    # monotonic switching needs less CDAC energy for the same unit capacitor (Liu 2010)
    assert mono.mean_switching_energy_j < conv.mean_switching_energy_j
    assert conv.energy_per_conversion_j == pytest.approx(
        conv.mean_switching_energy_j + conv.e_comparator_j + conv.e_logic_j, rel=1e-6, abs=0.0)
    # the logic model is linear in the gate count
    double = SarAdc.from_card(card.replace(logic_gates_per_bit=2 * card.logic_gates_per_bit),
                              seed=0)
    assert double.e_logic_j == pytest.approx(2 * conv.e_logic_j, rel=1e-6, abs=0.0)


def test_ktc_noise_of_the_12_bit_arrays():
    """Verma's assumed 2 fF unit: 2^12 units per side (8.2 pF), kT/C well below an LSB."""
    adc = SarAdc.from_card(m.VERMA, seed=0)
    c_side = 2**12 * 2e-15
    expected = math.sqrt(2 * K_B_J_PER_K * 300.0 / c_side) * 1.0 / 2.0
    assert adc.ktc_sigma_v == pytest.approx(expected, rel=1e-3)
    assert 0.05 < adc.ktc_sigma_v / adc.lsb_v < 0.08


def test_which_enob_rows_an_ideal_converter_would_pass():
    """The 8-bit Hong row is quantisation-dominated (an ideal converter passes it, as its
    registered reason says); the 12-bit Verma row is not (an ideal converter misses by
    about 1.45 bit)."""
    t = targets_for(m.NAME)
    for key, name, passes in (("hong2007_enob", m.HONG, True),
                              ("verma2007_enob", m.VERMA, False)):
        card = cards.load(name)
        ideal = card.replace(comparator_noise_v=1e-4 * card.v_ref_v / 2**card.bits,
                             unit_cap_mismatch=0.0)
        e_ideal = m.enob(ideal)[0]
        assert card.bits - 0.1 < e_ideal <= card.bits + 0.05
        assert t[key].compare(e_ideal).passed is passes


def test_verma_mismatch_gives_the_published_order_of_static_nonlinearity():
    """1 % per 2 fF unit at 12 bit: the largest DNL of an instance is a fraction of an LSB to
    about one LSB (the MSB capacitor's error is sqrt(2^11) x 1 % = 0.45 LSB rms)."""
    from device_models.measure import measure_inl_dnl

    card = cards.load(m.VERMA)
    dnl = [measure_inl_dnl(SarAdc.from_card(card.replace(comparator_noise_v=1e-9), seed=s))
           .max_dnl_lsb for s in range(3)]
    assert all(0.1 < d < 1.5 for d in dnl)
    # without mismatch only the ramp histogram's counting error remains (64 samples a code)
    ideal = measure_inl_dnl(SarAdc.from_card(card.replace(
        comparator_noise_v=1e-9, unit_cap_mismatch=0.0), seed=0)).max_dnl_lsb
    assert ideal < 0.25 and max(dnl) > 2 * ideal
