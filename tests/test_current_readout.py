"""Current-input read-outs and current stacking: the physics of device_models.current_mirror,
sense_amp, cco_adc and pulse_driver against closed forms and limits, and their use by tiles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.array.mapping import map_weights, outputs_per_tile
from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.ppa.energy import components, energy_breakdown
from cimsim.ppa.latency import tile_cycle_time_s
from cimsim.tile.matrix import AnalogMatrix
from device_models import cards
from device_models.cco_adc import CcoAdc
from device_models.constants import K_B_J_PER_K
from device_models.converters import build_converter, build_driver
from device_models.current_mirror import (
    mirror_units,
    noise_psd_a2_per_hz,
    parallel_copies,
    ratio_sigma,
    stacking_ratios,
    supply_energy_j,
)
from device_models.errors import ConfigError, InvalidParameterError
from device_models.frontend import CurrentMirror
from device_models.pulse_driver import PulseDriver
from device_models.sense_amp import CurrentSenseAmp

SA = "hung2021_current_sa_22nm"
CCO = "khaddamaljameh2022_cco_adc"
PWM = "khaddamaljameh2022_pwm_driver"
WL = "hung2021_wl_driver_22nm"


# --- weighted current mirrors ------------------------------------------------------------------


def test_stacking_ratios_and_units():
    r = stacking_ratios(8, 1)
    assert np.allclose(r, 2.0 ** (np.arange(8) - 7))
    assert np.allclose(stacking_ratios(3, 2), [1 / 16, 1 / 4, 1])
    n_in, n_out = mirror_units(r)
    assert n_in == 128 and n_out.min() == pytest.approx(1.0)
    assert np.allclose(n_out, 2.0 ** np.arange(8))
    assert np.array_equal(parallel_copies(4, 1), [1, 2, 4, 8])
    assert np.array_equal(parallel_copies(4, 1, "mirror"), [1, 1, 1, 1])


def test_ratio_sigma_pelgrom_closed_form():
    r = np.array([0.25, 0.5, 1.0])
    s = ratio_sigma(r, 10.0, 2e-9, 1e-13)
    s_vt = 2e-9 / math.sqrt(1e-13)
    assert np.allclose(s, 10.0 * s_vt * np.sqrt(1 / 4 + 1 / np.array([1, 2, 4])))
    # quadrupling the unit area halves the error; a perfect process has none
    assert np.allclose(ratio_sigma(r, 10.0, 2e-9, 4e-13), s / 2)
    assert np.all(ratio_sigma(r, 10.0, 0.0, 1e-13) == 0.0)


def test_mirror_noise_and_energy_closed_forms():
    kt = K_B_J_PER_K * 300.0
    s = noise_psd_a2_per_hz(0.5, 1e-5, 12.0, 300.0, gamma=1.0)
    assert s == pytest.approx(4 * kt * 12.0 * 0.5 * 1.5 * 1e-5, rel=1e-12, abs=0.0)
    assert noise_psd_a2_per_hz(0.0, 1e-5, 12.0, 300.0) == 0.0       # no copy, no noise
    assert supply_energy_j(0.25, 4e-12, 0.8) == pytest.approx(0.8 * 0.25 * 4e-12, rel=1e-12,
                                                              abs=0.0)


def test_mirror_noise_counts_both_devices():
    """S_I = 4kTγ(g_m/I_D)·r(1 + r)·I: the output device's own noise (r) plus the input
    device's copied with gain r (r²); at r = 1, I = 1 µA, g_m/I_D = 15 /V, 300 K, γ = 2/3
    that is 3.31e-25 A²/Hz, and halving r divides it by 2/(0.5·1.5) = 8/3."""
    s1 = noise_psd_a2_per_hz(1.0, 1e-6, 15.0, 300.0)    # default γ = 2/3
    expected = 4.0 * K_B_J_PER_K * 300.0 * (2.0 / 3.0) * 15.0 * (1.0 * 2.0) * 1e-6
    assert s1 == pytest.approx(expected, rel=1e-12, abs=0.0)
    assert s1 == pytest.approx(3.3136e-25, rel=1e-4, abs=0.0)
    assert s1 / noise_psd_a2_per_hz(0.5, 1e-6, 15.0, 300.0) == pytest.approx(8.0 / 3.0, rel=1e-12)
    # no current, no noise, at any ratio (r(1 + r) alone overflows at r = 1e308)
    np.testing.assert_array_equal(noise_psd_a2_per_hz([1.0, 1e308], 0.0, 0.2, 300.0), 0.0)


def test_current_mirror_front_end_maps_signed_range():
    m = CurrentMirror.for_range(2e-5, 1e-4, signed=True)
    assert m.gain == pytest.approx(2.5)
    assert np.allclose(m.output_a([-2e-5, 0.0, 2e-5, 1e-3]), [0.0, 5e-5, 1e-4, 1e-4], atol=1e-18)


@settings(max_examples=25)
@given(st.integers(1, 8), st.integers(1, 3), st.sampled_from(["mirror", "parallel"]),
       st.integers(0, 10_000))
def test_stacked_mapping_recovers_the_quantised_product(wb, bpc, stacking, seed):
    """Merged slice currents, scaled by the output's digital weight, are exactly x @ q·w_lsb
    (ideal cells), the same as the digital shift-add of the slices."""
    if bpc > max(wb - 1, 1):
        bpc = max(wb - 1, 1)
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(12, 3))
    x = rng.uniform(size=(5, 12))
    try:
        m = map_weights(w, 1e-6, 21e-6, weight_bits=wb, bits_per_cell=bpc, stacking=stacking)
    except InvalidParameterError:
        assert stacking == "parallel"            # slice weights not integer multiples
        return
    sig = m.signal_columns(x @ m.g_target_s)
    assert sig.shape == (5, 3)
    y = sig * m.digital_weight
    assert np.allclose(y, x @ (m.q * m.w_lsb), rtol=1e-9, atol=1e-12)
    d = map_weights(w, 1e-6, 21e-6, weight_bits=wb, bits_per_cell=bpc)
    yd = np.zeros((5, 3))
    np.add.at(yd.T, d.out_index, (d.signal_columns(x @ d.g_target_s) * d.digital_weight).T)
    assert np.allclose(y, yd, rtol=1e-9, atol=1e-12)


def test_parallel_stacking_replicates_columns():
    w = np.array([[0.5, -1.0], [1.0, 0.25]])
    m = map_weights(w, 0.0, 1e-5, weight_bits=4, bits_per_cell=1, stacking="parallel")
    assert m.n_phys == 2 * 2 * (1 + 2 + 4)
    assert outputs_per_tile(28, 4, 1, stacking="parallel") == 2
    assert np.all(m.merge[m.merge != 0] == 1.0)
    with pytest.raises(InvalidParameterError, match="differential"):
        map_weights(w, 0.0, 1e-5, weight_bits=4, bits_per_cell=1, mapping="offset",
                    stacking="mirror")


# --- current-mode sense amplifier ---------------------------------------------------------------


def test_sense_amp_timing_noise_offset_closed_forms():
    sa = CurrentSenseAmp(6, 64e-6, vdd_v=0.8, c_sense_f=2e-15, v_resolve_v=0.01,
                         tau_latch_s=1e-11, gm_over_id_per_v=10.0, a_vt_v_m=1e-9,
                         pair_area_m2=1e-13, gamma=1.0, temperature_k=300.0,
                         mismatch=False, noise=True)
    i_lsb = 1e-6
    assert sa.lsb_a == pytest.approx(i_lsb)
    assert sa.t_develop_s == pytest.approx(2e-15 * 0.01 / (i_lsb / 2), rel=1e-6, abs=0.0)
    assert sa.t_regenerate_s == pytest.approx(1e-11 * math.log(80.0), rel=1e-6, abs=0.0)
    assert sa.conversion_time_s == pytest.approx(6 * (sa.t_develop_s + sa.t_regenerate_s),
                                                 rel=1e-6, abs=0.0)
    gm = 10.0 * 32e-6
    assert sa.noise_sigma_a == pytest.approx(
        math.sqrt(8 * K_B_J_PER_K * 300.0 * gm / (2 * sa.t_develop_s)), rel=1e-6, abs=0.0)
    assert sa.offset_sigma_a == pytest.approx(math.sqrt(2) * 10.0 * 1e-9 / math.sqrt(1e-13)
                                              * 32e-6)
    assert sa.offset == 0.0                                   # mismatch off
    assert sa.settling_time_s(10e-15) == pytest.approx(10e-15 / gm * 7 * math.log(2), rel=1e-6,
                                                       abs=0.0)


def test_sense_amp_ideal_is_a_uniform_quantiser():
    sa = CurrentSenseAmp.from_card(SA, bits=5, ideal=True)
    x = np.linspace(0.0, sa.full_scale_a * (1 - 1e-9), 1001)
    assert np.array_equal(sa.convert(x), np.floor(x / sa.lsb_a).astype(np.int64))


def test_sense_amp_energy_per_code_closed_form_one_bit():
    sa = CurrentSenseAmp.from_card(SA, bits=1, ideal=True)
    t, v, fs = sa.t_decision_s, sa.vdd_v, sa.full_scale_a
    # one decision against I_FS/2, input current (c + 1/2) I_FS/2
    assert sa.code_energy_j == pytest.approx([v * t * (0.25 * fs + 0.5 * fs),
                                              v * t * (0.75 * fs + 0.5 * fs)], rel=1e-6, abs=0.0)
    card = cards.load(SA)
    from device_models.logic import gate_energy_j

    e_gate = gate_energy_j(card.tech_card, card.node_m, card.vdd_v)
    assert sa.e_comparator_j == pytest.approx(card.comparator_gates * e_gate, rel=1e-6, abs=0.0)
    assert sa.e_logic_j == pytest.approx(2 * card.logic_gates_per_bit * e_gate, rel=1e-6, abs=0.0)


def test_sense_amp_offset_and_decision_noise_statistics():
    offs = np.array([CurrentSenseAmp.from_card(SA, bits=4, seed=s).offset for s in range(400)])
    sa = CurrentSenseAmp.from_card(SA, bits=4)
    want = sa.offset_residual * sa.offset_sigma_a
    assert offs.std() == pytest.approx(want, rel=0.15, abs=0.0)
    # one decision: P(1) at a distance δ above the threshold is Φ(δ/σ)
    one = CurrentSenseAmp.from_card(SA, bits=1, mismatch=False)
    sig = one.decision_noise
    thr = one.full_scale_a / 2
    x = np.full(20000, thr + 0.5 * sig)
    p = one.convert(x).mean()
    assert p == pytest.approx(0.5 * (1 + math.erf(0.5 / math.sqrt(2))), abs=0.015)


# --- CCO ADC -----------------------------------------------------------------------------------


def test_cco_count_window_energy_and_jitter():
    c = CcoAdc(8, 1e-4, 127e-9, t_lsb_s=3e-10, vdd_v=0.8, e_flip_flop_j=1e-16,
               v_char_v=0.2, eta=1.0, mismatch=False, noise=False, t_readout_s=1e-9)
    # 256·0.3 ns fits the window
    assert c.count_window_s == pytest.approx(127e-9, rel=1e-6, abs=0.0)
    assert c.time_after_window_s == pytest.approx(1e-9, rel=1e-6, abs=0.0)
    assert c.f_full_scale_hz == pytest.approx(256 / 127e-9)
    short = CcoAdc(8, 1e-4, 50e-9, t_lsb_s=3e-10, mismatch=False, noise=False)
    assert short.count_window_s == pytest.approx(76.8e-9, rel=1e-6, abs=0.0)
    assert short.time_after_window_s == pytest.approx(26.8e-9, rel=1e-6, abs=0.0)
    # the ring is starved by its input: c·E_cyc = V_DD·I·T_c for the count of I
    i = 0.3e-4
    code = int(c.convert(i))
    assert code == math.floor(i / 1e-4 * 256)
    assert code * c.e_cycle_j == pytest.approx(0.8 * i * 127e-9, rel=1 / code, abs=0.0)
    assert c.code_energy_j[code] == pytest.approx(code * (c.e_cycle_j + 2e-16), rel=1e-6, abs=0.0)
    # jitter variance grows linearly with the counted cycles (white FM noise)
    assert c.count_variance_lsb2(200) == pytest.approx(2 * c.count_variance_lsb2(100))
    xi = 8 / 3 * K_B_J_PER_K * 300.0 * 0.8 / (c.e_cycle_j * 0.2)
    assert c.count_variance_lsb2(1) == pytest.approx(xi)


def test_cco_noisy_count_spread_matches_jitter():
    c = CcoAdc.from_card(CCO, window_s=127e-9, full_scale_a=1e-8)   # a small, noisy ring
    assert c.sampling_sigma > 0.5 * c.lsb
    x = np.full(20000, 0.5 * c.full_scale_a + 0.3 * c.lsb)
    codes = c.convert(x)
    sd = math.sqrt(c.count_variance_lsb2(128))
    assert codes.std() == pytest.approx(math.sqrt(sd**2 + 1 / 12), rel=0.1)


# --- pulse driver --------------------------------------------------------------------------------


def test_pulse_driver_energy_counts_down_counter_toggles():
    d = PulseDriver(4, 1e-9, e_flip_flop_j=1e-16, e_driver_j=5e-16)
    toggles = np.array([sum(k >> j for j in range(4)) for k in range(16)])
    assert np.all(toggles <= 2 * np.arange(16))
    want = 4e-16 + 1e-16 * toggles + 5e-16
    want[0] = 0.0
    np.testing.assert_allclose(d.code_energy_j, want, rtol=1e-12, atol=0.0)
    assert d.mean_energy_j == pytest.approx(want[1:].mean(), rel=1e-12, abs=0.0)
    assert d.energy_j([[-3, 0], [15, 3]]) == pytest.approx(2 * want[3] + want[15], rel=1e-12,
                                                            abs=0.0)
    assert d.t_settle_s == 1e-9
    card = build_driver(PWM, 8, v_ref_v=0.2)
    assert card.bits == 7 and build_driver(PWM, 1, v_ref_v=0.2).bits == 1


def test_pulse_driver_code_energy_and_mean_over_pulses():
    """E(D) = N·E_ff + E_ff·Σ_j ⌊|D|/2^j⌋ + E_drv: at N = 4, D = 5 that is 4 + (5 + 2 + 1)
    = 12 flip-flop energies plus the buffer; the mean is over the 2^N − 1 non-zero codes
    (a zero code sends no pulse)."""
    e_ff, e_drv = 1e-16, 5e-16
    d = PulseDriver(4, 1e-9, e_flip_flop_j=e_ff, e_driver_j=e_drv)
    assert d.code_energy_j[5] == pytest.approx(12 * e_ff + e_drv, rel=1e-12, abs=0.0)
    assert d.code_energy_j[0] == 0.0
    # Σ_j ⌊D/2^j⌋ = 2D − popcount(D); summed over D = 1…15: 2·120 − 32 = 208 toggles
    total = sum(4 * e_ff + (2 * k - bin(k).count("1")) * e_ff + e_drv for k in range(1, 16))
    assert total == pytest.approx((15 * 4 + 208) * e_ff + 15 * e_drv, rel=1e-12, abs=0.0)
    assert d.mean_energy_j == pytest.approx(total / 15, rel=1e-12, abs=0.0)


# --- tiles ----------------------------------------------------------------------------------------


def _hw(tile: dict, adc=SA, dac=WL, noise=False, **kw) -> HardwareConfig:
    return HardwareConfig(adc_card=adc, dac_card=dac, tile=TileConfig(**tile),
                          programming_noise=noise, read_noise=noise, faults=False, drift=False,
                          converter_noise=noise, **kw)


BASE = dict(rows=32, cols=128, weight_bits=6, bits_per_cell=1, input_bits=4,
            input_encoding="bit_serial", adc_bits=9, front_end="mirror", adc_share=10,
            t_read_s=60e-9)


@pytest.mark.parametrize("stacking", ["mirror", "parallel"])
def test_stacked_tile_matches_digital_slicing_and_converts_once_per_output(stacking):
    rng = np.random.default_rng(3)
    w = rng.normal(size=(32, 4))
    x = rng.uniform(size=(16, 32))
    cols = 128 if stacking == "mirror" else 256
    share = 10 if stacking == "mirror" else 62
    fine = {**BASE, "adc_bits": 12, "t_read_s": 250e-9, "adc_calibration": "minmax"}
    stacked = AnalogMatrix(w, _hw({**fine, "cols": cols, "stacking": stacking,
                                   "adc_share": share}))
    stacked.calibrate(x)
    y, ops = stacked.matmul(x)
    enc = stacked.encoder
    ref = enc.codes(x) * enc.x_lsb @ stacked.weight_quantized       # quantised inputs
    # four input planes, each within an LSB of 2**11 over the calibrated range
    assert np.abs(y - ref).max() < 4 * 2.0**-11 * np.abs(ref).max()
    digital = AnalogMatrix(w, _hw({**BASE, "adc_share": 2, "t_read_s": 60e-9}))
    digital.calibrate(x)
    _, ops_d = digital.matmul(x)
    k = 5                                    # 6-bit differential weights: 5 magnitude slices
    assert ops_d.adc_conversions == k * ops.adc_conversions


def test_stacking_mismatch_and_mirror_noise_change_results_only_when_on():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(32, 4))
    x = rng.uniform(size=(64, 32))
    tile = {**BASE, "stacking": "mirror"}
    ideal = AnalogMatrix(w, _hw(tile)).calibrate(x)
    noisy = AnalogMatrix(w, _hw(tile, noise=True)).calibrate(x)
    assert np.all(ideal.tiles[0].merge == ideal.tiles[0].mapping.merge)
    rel = noisy.tiles[0].merge.sum(axis=1) / noisy.tiles[0].mapping.merge.sum(axis=1) - 1
    card = cards.load(SA)
    sig = ratio_sigma(noisy.tiles[0].mapping.merge.sum(axis=1), card.gm_over_id_per_v,
                      card.a_vt_v_m, card.copy_unit_area_m2)
    assert np.all(np.abs(rel) < 6 * sig) and np.any(rel != 0.0)
    st_noisy = noisy.tiles[0].state(0.0)
    assert np.all(st_noisy["c_own_a2"] > 0.0)
    y1, _ = ideal.matmul(x)
    y2, _ = noisy.matmul(x)
    assert not np.allclose(y1, y2)


def test_sense_amp_window_and_cco_sharing_are_checked():
    with pytest.raises(InvalidParameterError, match="t_read_s"):
        AnalogMatrix(np.ones((4, 2)), _hw({**BASE, "t_read_s": 1e-9}))
    tile = dict(rows=16, cols=64, weight_bits=8, bits_per_cell=8, input_bits=8,
                input_encoding="pulse_width", adc_bits=8, front_end="mirror", adc_share=4,
                t_read_s=127e-9)
    with pytest.raises(InvalidParameterError, match="one CCO read-out per signal column"):
        AnalogMatrix(np.ones((16, 32)), _hw(tile, adc=CCO, dac=PWM))


def test_config_refuses_mismatched_front_end_converter_and_driver():
    with pytest.raises(ConfigError, match="'mirror' for a current-input read-out"):
        _hw({**BASE, "front_end": "integrator"})
    with pytest.raises(ConfigError, match="voltage-input read-out"):
        _hw(BASE, adc="liu2010_sar_10b", dac="johns1997_cap_dac_8b")
    with pytest.raises(ConfigError, match="pulse driver"):
        _hw({**BASE, "input_encoding": "amplitude"})
    with pytest.raises(ConfigError, match="stacking"):
        TileConfig(stacking="mirror")              # needs the mirror front end


def test_cco_tile_energy_and_latency_through_the_models():
    tile = dict(rows=64, cols=64, weight_bits=8, bits_per_cell=8, input_bits=8,
                input_encoding="pulse_width", adc_bits=8, front_end="mirror", adc_share=2,
                t_read_s=127e-9)
    hw = _hw(tile, adc=CCO, dac=PWM, device_card="joshi2020_pcm",
             tech_card="dennard_scaled_14nm")
    rng = np.random.default_rng(5)
    mat = AnalogMatrix(rng.normal(size=(64, 32)), hw).calibrate(rng.normal(size=(64, 64)))
    x = rng.normal(size=(8, 64))
    y, ops = mat.matmul(x)
    ref = x @ mat.weight_quantized
    assert np.abs(y - ref).max() < 0.03 * np.abs(ref).max()
    comp = components(hw)
    conv = build_converter(CCO, 8, window_s=127e-9, ideal=True)
    assert comp.e_integrator_j == 0.0
    assert comp.e_adc_logic_j == pytest.approx(conv.e_logic_j, rel=1e-6, abs=0.0)
    assert comp.t_adc_conversion_s == pytest.approx(conv.time_after_window_s, rel=1e-6, abs=0.0)
    drv = PulseDriver.from_card(PWM)
    assert comp.e_pulse_driver_j == pytest.approx(drv.mean_energy_j, rel=1e-6, abs=0.0)
    assert comp.e_dac_j == 0.0 and ops.dac_conversions == 0 and ops.row_pulses > 0
    assert tile_cycle_time_s(comp) == pytest.approx(1e-9 + 127e-9 + 2 * 1e-9 + 1e-9, rel=1e-6,
                                                    abs=0.0)
    e = energy_breakdown(ops, comp)
    assert e["adc"] == pytest.approx(ops.adc_switching_energy_j
                                     + ops.adc_conversions * conv.e_logic_j, rel=1e-6, abs=0.0)
    # four read phases: four windows, four pulses per driven row, the same cell energy
    hw4 = _hw({**tile, "read_phases": 4}, adc=CCO, dac=PWM, device_card="joshi2020_pcm",
              tech_card="dennard_scaled_14nm")
    comp4 = components(hw4)
    assert comp4.t_read_s == pytest.approx(4 * 127e-9, rel=1e-6, abs=0.0)
    assert comp4.e_pulse_driver_j == pytest.approx(4 * comp.e_pulse_driver_j, rel=1e-6, abs=0.0)
    mat4 = AnalogMatrix(mat.weight_quantized, hw4).calibrate(rng.normal(size=(64, 64)))
    _, ops4 = mat4.matmul(x)
    e4 = energy_breakdown(ops4, comp4)
    assert e4["wire_charging"] == pytest.approx(4 * float(ops4.row_drive_v2) * comp4.c_row_f,
                                                rel=1e-6, abs=0.0)


def test_mirror_functions_name_arguments_that_do_not_broadcast():
    """Copy ratios and currents or charges of shapes that do not broadcast: an error naming
    the argument, not NumPy's."""
    with pytest.raises(InvalidParameterError, match="current_a.*broadcastable with 'ratio'"):
        noise_psd_a2_per_hz(np.ones(4), np.ones(2), 10.0, 300.0)
    with pytest.raises(InvalidParameterError, match="charge_c.*broadcastable with 'ratio'"):
        supply_energy_j(np.ones(4), np.ones(3), 0.8)
    assert noise_psd_a2_per_hz(np.ones((4, 1)), np.ones(2), 10.0, 300.0).shape == (4, 2)


def test_current_mirror_output_clips_at_zero_and_full_scale():
    """A mirror sources no negative current and saturates at i_max: i_out = clip(i_offset +
    r·i, 0, i_max)."""
    m = CurrentMirror(ratio=1.0, i_offset_a=0.5e-6, i_max_a=1e-6)
    np.testing.assert_allclose(m.output_a([-2e-6, 0.2e-6, 2e-6]), [0.0, 0.7e-6, 1e-6],
                               rtol=1e-15, atol=0.0)


def test_cco_count_offset_adds_counts():
    """A count offset of +k LSB adds k to every mid-range count of a nominal CCO ADC."""
    nominal = CcoAdc(8, 1e-6, 1e-6, noise=False, mismatch=False)
    shifted = CcoAdc(8, 1e-6, 1e-6, count_offset_lsb=3, noise=False, mismatch=False)
    i = (np.array([76, 128, 200]) + 0.5) * nominal.lsb
    np.testing.assert_array_equal(nominal.convert(i), [76, 128, 200])
    np.testing.assert_array_equal(shifted.convert(i), [79, 131, 203])
