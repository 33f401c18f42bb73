"""SAR ADC and its measurements: ENOB, noise, mismatch, INL/DNL, energy, kernels, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_models import cards
from device_models._jit import use_backend
from device_models.adc import SarAdc, closed_form_average_energy
from device_models.constants import K_B_J_PER_K
from device_models.errors import InvalidParameterError, UnknownNameError
from device_models.measure import (
    coherent_cycles,
    enob_closed_form,
    measure_enob,
    measure_inl_dnl,
)

SCHEMES = ("conventional", "monotonic")

# Published average switching energies at N = 10 [C_u·V_ref²] (Liu et al., JSSC 2010, Sec. II,
# doi:10.1109/JSSC.2010.2042254; the conventional one after Ginsburg & Chandrakasan 2007).
LIU2010_E_CONV_10B = 1363.3
LIU2010_E_MONO_10B = 255.5


# --- ideal converter ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", range(4, 13))
@pytest.mark.parametrize("switching", SCHEMES)
def test_ideal_enob(bits, switching):
    r = measure_enob(SarAdc(bits, switching=switching))
    assert bits - 0.1 <= r.enob <= bits + 0.05
    assert r.sfdr_db > r.sinad_db


@pytest.mark.parametrize("switching", SCHEMES)
def test_ideal_transfer_is_floor(switching):
    adc = SarAdc(8, full_scale_v=0.8, switching=switching)
    v = np.random.default_rng(0).uniform(-0.1, 0.9, 20_000)  # off the exact thresholds
    expect = np.clip(np.floor(v / adc.lsb_v), 0, 255).astype(np.int64)
    assert np.array_equal(adc.convert(v), expect)
    assert np.allclose(adc.transition_levels_v(), np.arange(1, 256) * adc.lsb_v)
    assert adc.convert(v).dtype == np.int64


@settings(max_examples=30)
@given(
    bits=st.integers(1, 14),
    switching=st.sampled_from(SCHEMES),
    v=st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=2, max_size=50),
)
def test_codes_monotonic_in_input(bits, switching, v):
    adc = SarAdc(bits, switching=switching)
    vs = np.sort(np.asarray(v))
    c = adc.convert(vs)
    assert np.all(np.diff(c) >= 0)
    assert c.min() >= 0 and c.max() < 2**bits


def test_ideal_inl_dnl_zero():
    r = measure_inl_dnl(SarAdc(8))
    assert r.max_dnl_lsb < 1e-12 and r.max_inl_lsb < 1e-12
    assert r.missing_codes.size == 0
    rs = measure_inl_dnl(SarAdc(8), stimulus="sine", samples_per_code=256)
    assert rs.max_dnl_lsb < 0.1 and rs.max_inl_lsb < 0.1


# --- noise -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma_lsb", [0.25, 0.5, 1.0, 2.0])
def test_input_noise_matches_closed_form(sigma_lsb):
    adc = SarAdc(8, input_noise_v=sigma_lsb / 256)
    r = measure_enob(adc, n_samples=16384)
    assert abs(r.enob - enob_closed_form(8, 1.0, sigma_lsb / 256)) < 0.1


@pytest.mark.parametrize("sigma_lsb", [0.25, 0.5, 1.0])
def test_comparator_noise_costs_about_as_much_slightly_less(sigma_lsb):
    s = sigma_lsb / 256
    e_in = measure_enob(SarAdc(8, input_noise_v=s), n_samples=16384).enob
    e_cmp = measure_enob(SarAdc(8, comparator_noise_v=s), n_samples=16384).enob
    ideal = measure_enob(SarAdc(8), n_samples=16384).enob
    assert e_cmp < ideal - 0.1 * sigma_lsb  # it costs
    assert e_in - 0.03 <= e_cmp <= e_in + 0.3  # about as much, never more


def test_enob_falls_monotonically_with_noise_and_mismatch():
    sig = [0.0, 0.3, 0.6, 1.2, 2.4]
    e = [measure_enob(SarAdc(8, comparator_noise_v=s / 256), n_samples=8192).enob for s in sig]
    assert np.all(np.diff(e) < 0)
    mm = [0.0, 0.02, 0.05, 0.1, 0.2]
    # average over instances: mismatch is a per-instance draw
    em = [np.mean([measure_enob(SarAdc(8, unit_cap_mismatch=m, seed=k)).enob for k in range(6)])
          for m in mm]
    assert np.all(np.diff(em) < 0)


def test_ktc_noise_from_total_capacitance():
    adc = SarAdc(10, unit_cap_f=1e-15, ktc_noise=True, temperature_k=300.0)
    c_side = 1024e-15
    assert adc.ktc_sigma_v == pytest.approx(np.sqrt(2 * K_B_J_PER_K * 300 / c_side) / 2)
    mono = SarAdc(10, unit_cap_f=1e-15, ktc_noise=True, switching="monotonic")
    assert mono.ktc_sigma_v == pytest.approx(adc.ktc_sigma_v * np.sqrt(2))
    hot = SarAdc(10, unit_cap_f=1e-15, ktc_noise=True, temperature_k=600.0)
    assert hot.ktc_sigma_v == pytest.approx(adc.ktc_sigma_v * np.sqrt(2))
    assert SarAdc(10).ktc_sigma_v == 0.0
    # a tiny array is kT/C limited: ENOB follows the closed form with sigma = kT/C
    small = SarAdc(10, unit_cap_f=1e-18, ktc_noise=True)
    r = measure_enob(small, n_samples=16384)
    assert abs(r.enob - enob_closed_form(10, 1.0, small.ktc_sigma_v)) < 0.1


def test_noise_deterministic_and_chunk_independent(each_backend):
    adc = SarAdc(8, comparator_noise_v=1e-3, input_noise_v=1e-3, unit_cap_mismatch=0.02, seed=5)
    v = np.random.default_rng(1).uniform(0, 1, 1000)
    whole = adc.convert(v)
    parts = np.concatenate([adc.convert(v[:300]), adc.convert(v[300:], offset=300)])
    assert np.array_equal(whole, parts)
    assert np.array_equal(whole, adc.convert(v))
    assert not np.array_equal(whole, adc.convert(v, offset=1000))
    other = SarAdc(8, comparator_noise_v=1e-3, input_noise_v=1e-3, unit_cap_mismatch=0.02, seed=6)
    assert not np.array_equal(whole, other.convert(v))


def test_noise_independent_of_thread_count():
    import numba

    adc = SarAdc(10, comparator_noise_v=5e-4, input_noise_v=5e-4, seed=9)
    v = np.random.default_rng(5).uniform(0, 1, 50_000)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = adc.convert(v)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = adc.convert(v)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(one, many)


# --- mismatch --------------------------------------------------------------------------------


@pytest.mark.parametrize("switching", SCHEMES)
def test_mismatch_dnl_largest_at_msb_and_scales_with_sigma(switching):
    bits = 8
    msb_code = 2 ** (bits - 1) - 1  # the code whose upper edge is the MSB transition
    rms = {}
    for sigma in (0.01, 0.02):
        dnl = np.array([
            measure_inl_dnl(SarAdc(bits, unit_cap_mismatch=sigma, seed=k, switching=switching),
                            samples_per_code=16).dnl_lsb
            for k in range(48)
        ])
        per_code = np.sqrt(np.mean(dnl**2, axis=0))
        # conventional: the code below the MSB transition; monotonic: the MSB decision has no
        # capacitor, so the P/N array mismatch shows on both codes around it (same variance)
        adjacent = (msb_code,) if switching == "conventional" else (msb_code, msb_code + 1)
        assert np.argmax(per_code) + 1 in adjacent
        rms[sigma] = max(per_code[c - 1] for c in adjacent)
    assert rms[0.02] / rms[0.01] == pytest.approx(2.0, rel=0.15)
    # analytic: conventional DNL_MSB std = sigma_u*sqrt(2**N - 1)/sqrt(2) (two arrays averaged)
    if switching == "conventional":
        assert rms[0.02] == pytest.approx(0.02 * np.sqrt((2**bits - 1) / 2), rel=0.25)


def test_mismatch_instance_reproducible():
    a = SarAdc(10, unit_cap_mismatch=0.02, seed=3)
    b = SarAdc(10, unit_cap_mismatch=0.02, seed=3)
    c = SarAdc(10, unit_cap_mismatch=0.02, seed=4)
    assert np.array_equal(a.transition_levels_v(), b.transition_levels_v())
    assert not np.array_equal(a.transition_levels_v(), c.transition_levels_v())


# --- energy ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [3, 6, 8, 10, 12])
@pytest.mark.parametrize("switching", SCHEMES)
def test_mean_code_energy_equals_closed_form(bits, switching):
    adc = SarAdc(bits, switching=switching, unit_cap_f=1.0, full_scale_v=1.0)
    assert adc.code_energy_j.mean() == pytest.approx(closed_form_average_energy(bits, switching),
                                                     rel=1e-12)


def test_published_switching_energy_over_random_inputs():
    """Average over many random conversions vs the published 10-bit numbers."""
    v = np.random.default_rng(0).uniform(0, 1, 200_000)
    for switching, published in (("conventional", LIU2010_E_CONV_10B),
                                 ("monotonic", LIU2010_E_MONO_10B)):
        adc = SarAdc(10, switching=switching, unit_cap_f=1.0, comparator_noise_v=1e-4,
                     unit_cap_mismatch=0.01, seed=2)
        codes, e = adc.convert(v, return_energy=True)
        assert e.mean() == pytest.approx(published, rel=0.02)
        assert adc.switching_energy_j(codes) == pytest.approx(e.sum(), rel=1e-12)
    ratio = closed_form_average_energy(10, "monotonic") / closed_form_average_energy(
        10, "conventional")
    assert ratio == pytest.approx(1 - 0.81, abs=0.01)  # "81 % less" (Liu 2010)


def test_energy_scales_with_cv2_and_includes_comparator_logic():
    a = SarAdc(8, unit_cap_f=1e-15, v_ref_v=1.0)
    b = SarAdc(8, unit_cap_f=2e-15, v_ref_v=0.5, full_scale_v=3.0)
    assert np.allclose(b.code_energy_j, a.code_energy_j * 0.5, atol=0.0)
    c = SarAdc(8, e_comparator_j=1e-13, e_logic_j=2e-13)
    codes = c.convert(np.array([0.1, 0.5, 0.9]))
    assert c.conversion_energy_j(codes) == pytest.approx(
        c.code_energy_j[codes].sum() + 3 * 3e-13, rel=1e-6, abs=0.0)
    assert c.energy_per_conversion_j == pytest.approx(c.code_energy_j.mean() + 3e-13, rel=1e-6,
                                                      abs=0.0)
    # LSB decision is free: codes 2m and 2m+1 share one switching sequence
    assert np.array_equal(a.code_energy_j[0::2], a.code_energy_j[1::2])


def test_conversion_time_is_n_plus_one_cycles():
    assert SarAdc(8, f_clk_hz=1e9).conversion_time_s == pytest.approx(9e-9, rel=1e-6, abs=0.0)


# --- card ------------------------------------------------------------------------------------


def test_card_adc_realistic():
    card = cards.load("liu2010_sar_10b")
    adc = SarAdc.from_card(card)
    assert adc.bits == 10 and adc.switching == "monotonic" and adc.ktc_noise
    r = measure_enob(adc, n_samples=16384)
    assert 8.5 < r.enob < 10.0
    # the modelled parts (CDAC, comparator, logic) stay below the published P / f_s, which
    # also pays for clocking, sampling switches and the reference (5.9 of 16.5 pJ)
    assert 0.2 < adc.energy_per_conversion_j / (card.power_w / card.f_sample_hz) < 1.0
    assert adc.conversion_time_s == pytest.approx(1 / card.f_sample_hz, rel=1e-9, abs=0.0)
    a8 = SarAdc.from_card("liu2010_sar_10b", bits=8, full_scale_v=0.6, seed=1)
    assert a8.bits == 8 and a8.full_scale_v == 0.6
    assert a8.comparator_noise_v == pytest.approx(card.comparator_noise_v * 0.5)
    with pytest.raises(InvalidParameterError, match="kind 'adc'"):
        SarAdc.from_card("johns1997_cap_dac_8b")


# --- kernels and bad input -------------------------------------------------------------------


@pytest.mark.parametrize("switching", SCHEMES)
@pytest.mark.parametrize("kw", [
    {}, {"input_noise_v": 2e-3}, {"comparator_noise_v": 2e-3, "comparator_offset_v": 1e-3},
    {"unit_cap_mismatch": 0.05, "comparator_noise_v": 1e-3, "input_noise_v": 1e-3},
    {"unit_cap_mismatch": 0.3},  # non-monotonic DAC: binary search path
])
def test_kernel_equals_numpy_reference(switching, kw):
    adc = SarAdc(9, switching=switching, seed=7, **kw)
    v = np.random.default_rng(2).uniform(-0.05, 1.05, 20_000).reshape(100, 200)
    with use_backend("numba"):
        a = adc.convert(v, offset=17)
    with use_backend("numpy"):
        b = adc.convert(v, offset=17)
    assert a.shape == v.shape and np.array_equal(a, b)


def test_lookup_path_equals_binary_search():
    from device_models import adc as adc_mod

    adc = SarAdc(10, unit_cap_mismatch=0.03, seed=11, input_noise_v=1e-3)
    assert adc._lookup_levels is not None
    v = np.random.default_rng(3).uniform(-0.1, 1.1, 50_000)
    fast = adc.convert(v)
    slow = np.empty(v.size, dtype=np.int64)
    adc_mod._convert_kernel(v, slow, adc.bits, adc._t0, adc._up, adc._dn, adc._trial,
                            adc.sampling_sigma_v, 0.0, 0.0, np.uint64(adc._key_s),
                            np.uint64(adc._key_c), 0)
    assert np.array_equal(fast, slow)


@pytest.mark.parametrize("switching", SCHEMES)
def test_input_on_a_transition_level_takes_the_upper_code(each_backend, switching):
    """The comparator decides 1 on a tie (v >= T_k): a mismatched converter fed exactly its
    transition levels returns codes 1…2^N-1, and one ulp below them codes 0…2^N-2, on the
    table look-up path of convert and on the binary search itself."""
    from device_models import adc as adc_mod

    adc = SarAdc(8, unit_cap_mismatch=0.02, seed=5, switching=switching)
    assert adc._lookup_levels is not None  # monotonic DAC: convert takes the look-up path
    levels = adc.transition_levels_v()
    below = np.nextafter(levels, -np.inf)
    assert not np.allclose(levels, np.arange(1, 256) * adc.lsb_v, rtol=0, atol=1e-3 * adc.lsb_v)
    upper, lower = np.arange(1, 256), np.arange(0, 255)
    assert np.array_equal(adc.convert(levels), upper)
    assert np.array_equal(adc.convert(below), lower)
    args = (adc.bits, adc._t0, adc._up, adc._dn, adc._trial, 0.0, 0.0, 0.0)
    keys = (np.uint64(adc._key_s), np.uint64(adc._key_c))
    for v, expected in ((levels, upper), (below, lower)):
        if each_backend == "numpy":
            codes = adc_mod._convert_numpy(v, *args, *keys, 0)
        else:
            codes = np.empty(v.size, dtype=np.int64)
            adc_mod._convert_kernel(v, codes, *args, *keys, 0)
        assert np.array_equal(codes, expected)


@pytest.mark.parametrize("kw, match", [
    ({"bits": 0}, "'bits'"), ({"bits": 21}, "'bits'"), ({"bits": 2.5}, "'bits'"),
    ({"bits": 8, "comparator_noise_v": -1e-3}, "'comparator_noise_v'"),
    ({"bits": 8, "input_noise_v": -1.0}, "'input_noise_v'"),
    ({"bits": 8, "full_scale_v": 0.0}, "'full_scale_v'"),
    ({"bits": 8, "unit_cap_mismatch": -0.1}, "'unit_cap_mismatch'"),
    ({"bits": 8, "comparator_offset_v": float("nan")}, "'comparator_offset_v'"),
    ({"bits": 8, "ktc_noise": "yes"}, "'ktc_noise'"),
])
def test_bad_parameters(kw, match):
    with pytest.raises(InvalidParameterError, match=match):
        SarAdc(**kw)


def test_bad_inputs():
    adc = SarAdc(8)
    with pytest.raises(InvalidParameterError, match="'v'.*finite"):
        adc.convert([0.1, np.nan])
    with pytest.raises(InvalidParameterError, match="'v'.*finite"):
        adc.convert(np.array([np.inf]))
    with pytest.raises(InvalidParameterError, match="'offset'"):
        adc.convert([0.1], offset=-1)
    with pytest.raises(UnknownNameError, match="conventional"):
        SarAdc(8, switching="merged")
    with pytest.raises(InvalidParameterError, match="'codes'"):
        adc.switching_energy_j([256])
    with pytest.raises(InvalidParameterError, match="power of two"):
        measure_enob(adc, n_samples=1000)
    with pytest.raises(UnknownNameError, match="'stimulus'.*ramp"):
        measure_inl_dnl(adc, stimulus="triangle")


def test_coherent_cycles_prime_and_coprime():
    for n in (64, 1024, 4096, 16384):
        m = coherent_cycles(n)
        assert m >= 3 and all(m % p for p in range(2, int(m**0.5) + 1)) and np.gcd(m, n) == 1


def test_decision_tables_reproduce_convert():
    adc = SarAdc(6, unit_cap_mismatch=0.05, seed=2, switching="monotonic", comparator_offset_v=3e-3)
    t0, up, dn, trial = adc.decision_tables()
    v = np.random.default_rng(4).uniform(0, 1, 2000)
    acc = np.full(v.size, t0)
    code = np.zeros(v.size, dtype=np.int64)
    for k in range(5, -1, -1):
        hit = v - adc.comparator_offset_v >= acc + trial[k]
        code |= hit.astype(np.int64) << k
        acc = acc + np.where(hit, up[k], dn[k])
    assert np.array_equal(code, adc.convert(v))


def test_card_comparator_noise_and_ktc_follow_temperature():
    """A card's comparator noise is stated at its noise_t_ref_k (300 K) and scales as
    sqrt(T/T_ref) (thermal latch noise, Nuzzo et al. 2008); kT/C scales the same way."""
    from device_models.adc import comparator_noise_at

    card = cards.load("liu2010_sar_10b")
    cold = SarAdc.from_card(card, temperature_k=250.0)
    ref = SarAdc.from_card(card, temperature_k=300.0)
    hot = SarAdc.from_card(card, temperature_k=400.0)
    assert ref.comparator_noise_v == pytest.approx(card.comparator_noise_v, rel=1e-12, abs=0.0)
    for adc, t in ((cold, 250.0), (hot, 400.0)):
        assert adc.comparator_noise_v == pytest.approx(
            card.comparator_noise_v * np.sqrt(t / 300.0), rel=1e-12, abs=0.0)
        assert adc.ktc_sigma_v == pytest.approx(ref.ktc_sigma_v * np.sqrt(t / 300.0), rel=1e-12,
                                                abs=0.0)
    shifted = SarAdc.from_card(card.replace(noise_t_ref_k=400.0), temperature_k=400.0)
    assert shifted.comparator_noise_v == pytest.approx(card.comparator_noise_v, rel=1e-12, abs=0.0)
    assert comparator_noise_at(1e-3, 1200.0, 300.0) == pytest.approx(2e-3, rel=1e-12, abs=0.0)
    with pytest.raises(InvalidParameterError, match="temperature_k"):
        comparator_noise_at(1e-3, 0.0)


def test_code_to_voltage_is_the_code_centre():
    """Ideal reconstruction puts code c at (c + 1/2)·LSB: on a dense ramp through an ideal
    converter the error has zero mean and the uniform quantiser's rms LSB/√12."""
    adc = SarAdc(8, full_scale_v=0.8)
    lsb = 0.8 / 256
    np.testing.assert_allclose(adc.code_to_voltage([0, 1, 255]),
                               np.array([0.5, 1.5, 255.5]) * lsb, rtol=1e-15)
    v = (np.arange(256 * 64) + 0.5) / (256 * 64) * 0.8
    err = adc.code_to_voltage(adc.convert(v)) - v
    assert abs(err.mean()) < 1e-3 * lsb
    assert err.std() == pytest.approx(lsb / np.sqrt(12.0), rel=1e-3)
