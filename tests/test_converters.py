"""DAC, input encodings and column front end."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from device_models import cards
from device_models.dac import Dac
from device_models.encoding import (
    ENCODINGS,
    LC_DUTY,
    code_max,
    decode,
    drive_totals,
    encode,
    quantize_inputs,
    volts_per_code,
)
from device_models.errors import InvalidParameterError, UnknownNameError
from device_models.frontend import ChargeIntegrator, Tia, calibrate_range, gain_for_range

# --- DAC -------------------------------------------------------------------------------------


def test_dac_ideal_levels_and_errors():
    d = Dac(4, v_ref_v=1.6)
    codes = np.arange(16)
    assert np.allclose(d.convert(codes), codes * 0.1)
    assert d.full_scale_v == pytest.approx(1.5)
    e = Dac(4, v_ref_v=1.6, gain_error=0.01, offset_v=0.02, inl_lsb=0.5)
    v = e.convert(codes)
    ideal = codes * 0.1
    inl = (v - 0.02) / 1.01 / 0.1 - codes  # recovered INL [LSB]
    assert inl[0] == pytest.approx(0.0, abs=1e-12) and inl[-1] == pytest.approx(0.0, abs=1e-12)
    assert np.max(inl) == pytest.approx(0.5, rel=0.01)  # peak at mid-scale
    assert abs(np.argmax(inl) - 7.5) <= 0.5
    assert v[0] == pytest.approx(0.02) and not np.allclose(v, ideal)


def test_dac_energy_from_switched_capacitance():
    d = Dac(8, v_ref_v=1.0, unit_cap_f=1e-15)
    e = d.code_energy_j
    assert e[0] == 0.0
    c_tot = 256e-15
    assert e.max() == pytest.approx(c_tot / 4, rel=1e-6, abs=0.0)  # C_tot·V²/4 at mid-scale
    assert np.argmax(e) == 128
    # mean over codes: C_u V² Σ D(1 − D/2^N)/2^N
    dd = np.arange(256)
    assert e.mean() == pytest.approx(1e-15 * np.mean(dd * (1 - dd / 256)), rel=1e-6, abs=0.0)
    d2 = Dac(8, v_ref_v=2.0, unit_cap_f=1e-15, e_driver_j=1e-15)
    codes = np.array([[0, 128], [255, 3]])
    assert d2.energy_j(codes) == pytest.approx(4 * e[codes].sum() + 4e-15, rel=1e-6, abs=0.0)
    assert d2.mean_energy_j == pytest.approx(4 * e.mean() + 1e-15, rel=1e-6, abs=0.0)


def test_dac_card_and_quantize():
    card = cards.load("johns1997_cap_dac_8b")
    d = Dac.from_card(card)
    assert d.bits == card.bits and d.v_ref_v == card.v_ref_v
    assert Dac.from_card(card, bits=4, v_ref_v=0.5).lsb_v == pytest.approx(0.5 / 16)
    assert np.array_equal(d.quantize([0.0, 1.0, 0.5]), [0, 255, 128])
    with pytest.raises(InvalidParameterError, match="kind 'dac'"):
        Dac.from_card("liu2010_sar_10b")


def test_dac_bad_input():
    with pytest.raises(InvalidParameterError, match="'bits'"):
        Dac(0)
    with pytest.raises(InvalidParameterError, match="'v_ref_v'"):
        Dac(8, v_ref_v=-1.0)
    d = Dac(8)
    with pytest.raises(InvalidParameterError, match="'codes'"):
        d.convert([256])
    with pytest.raises(InvalidParameterError, match="'codes'"):
        d.convert([-1])
    with pytest.raises(InvalidParameterError, match="'x'"):
        d.quantize([np.nan])


# --- encodings -------------------------------------------------------------------------------


@settings(max_examples=25)
@given(
    bits=st.integers(1, 10),
    scheme=st.sampled_from(ENCODINGS),
    data=st.data(),
)
def test_encodings_exactly_invertible(bits, scheme, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=6))
    codes = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 2**bits - 1)))
    enc = encode(codes, scheme, bits=bits, v_read_v=0.3, t_read_s=5e-9, t_clk_s=1e-9)
    assert np.array_equal(decode(enc), codes)
    assert enc.v_rows_v.shape == (enc.n_cycles, *codes.shape) or scheme == "level_crossing"
    assert enc.duration_s > 0 and enc.n_cycles >= 1
    assert np.all(np.abs(enc.v_rows_v) <= 0.3 + 1e-15)


def test_encoding_cycles_and_durations():
    codes = np.array([[0, 1, 200, 255]])
    amp = encode(codes, "amplitude", bits=8, v_read_v=0.2, t_read_s=10e-9)
    assert amp.n_cycles == 1 and amp.duration_s == pytest.approx(10e-9, rel=1e-6, abs=0.0)
    assert amp.v_rows_v[0, 0, 3] == pytest.approx(0.2)
    bs = encode(codes, "bit_serial", bits=8, v_read_v=0.2, t_read_s=10e-9)
    assert bs.n_cycles == 8 and bs.duration_s == pytest.approx(80e-9, rel=1e-6, abs=0.0)
    # shift-add of the per-cycle volt-seconds reproduces the amplitude code
    q = np.tensordot(bs.cycle_weights, bs.drive_vs, axes=1) / (0.2 * 10e-9)
    assert np.allclose(q, codes)
    pw = encode(codes, "pulse_width", bits=8, v_read_v=0.2, t_clk_s=1e-9)
    assert pw.n_cycles == 1 and pw.n_clock_ticks == 255
    assert pw.duration_s == pytest.approx(255e-9, rel=1e-6, abs=0.0)
    assert np.allclose(pw.drive_vs[0] / (0.2 * 1e-9), codes)  # charge ∝ value
    ttfs = encode(codes, "ttfs", bits=8, t_clk_s=1e-9)
    assert ttfs.t_start_s[0, 0, 3] == 0.0  # largest value spikes first
    assert ttfs.t_start_s[0, 0, 1] == pytest.approx(254e-9, rel=1e-6, abs=0.0)
    assert ttfs.v_rows_v[0, 0, 0] == 0.0  # zero: no spike
    series = np.array([0, 3, 3, 1, 5])
    lc = encode(series, "level_crossing", bits=3, t_clk_s=1e-9)
    assert lc.n_cycles == 5
    assert np.array_equal(np.sign(lc.v_rows_v) * lc.events, [0, 3, 0, -2, 4])
    # return-to-zero events: each drives its row for LC_DUTY of a clock period
    assert np.allclose(lc.t_on_s, LC_DUTY * np.abs([0, 3, 0, -2, 4]) * 1e-9, atol=0.0)
    assert np.array_equal(decode(lc), series)


@settings(max_examples=25)
@given(bits=st.integers(2, 9), scheme=st.sampled_from(ENCODINGS), signed=st.booleans(),
       data=st.data())
def test_signed_encodings_invertible_and_linear_in_charge(bits, scheme, signed, data):
    """Signed codes set the drive polarity; every scheme's amplitude-equivalent drive
    (charge over the window) recombined with the cycle weights is linear in the code, and the
    energy totals from three sums (what the tiles' kernels keep) equal the encoding's own."""
    top = code_max(bits, signed)
    codes = data.draw(hnp.arrays(np.int64, (3, 5), elements=st.integers(-top if signed else 0,
                                                                          top)))
    enc = encode(codes, scheme, bits=bits, signed=signed, v_read_v=0.3, t_read_s=7e-9)
    assert np.array_equal(decode(enc), codes)
    per_code = [volts_per_code(scheme, 0.3, top, c, signed=signed) for c in range(enc.n_cycles)]
    if scheme == "level_crossing":      # a static vector: the one-step series from 0
        enc = encode(codes[None], scheme, bits=bits, signed=signed, v_read_v=0.3,
                     t_read_s=7e-9)
    q = sum(enc.v_eq_v[c] / per_code[c] for c in range(enc.n_cycles))
    np.testing.assert_allclose(q, codes, atol=1e-9)
    assert enc.t_window_s == pytest.approx(7e-9, rel=1e-6, abs=0.0)
    assert np.all(enc.t_start_s + enc.t_on_s <= enc.t_window_s * (1 + 1e-12))
    for c in range(enc.n_cycles):
        v_eq = enc.v_eq_v[c]
        cell, wire, events = drive_totals(
            scheme, (v_eq ** 2).sum(), np.count_nonzero(v_eq), np.abs(codes).sum(), c_max=top,
            signed=signed, v_read_v=0.3, t_read_s=7e-9)
        assert cell == pytest.approx(enc.cell_v2s[c].sum(), rel=1e-12, abs=1e-30)
        assert wire == pytest.approx(enc.wire_v2[c].sum(), rel=1e-12, abs=1e-30)
        assert events == enc.events[c].sum()
    # no event, no energy: a zero code drives nothing
    zero = codes == 0
    assert np.all(enc.events[:, zero] == 0) and np.all(enc.cell_v2s[:, zero] == 0.0)


def test_ttfs_spike_latches_the_row_to_the_window_end():
    enc = encode(np.array([0, 1, 100, 255]), "ttfs", bits=8, t_read_s=255e-9)
    assert enc.t_clk_s == pytest.approx(1e-9, rel=1e-6, abs=0.0)
    np.testing.assert_allclose(enc.t_start_s[0], [0.0, 254e-9, 155e-9, 0.0])
    np.testing.assert_allclose(enc.t_start_s[0] + enc.t_on_s[0], [0.0, 255e-9, 255e-9, 255e-9])
    assert np.array_equal(enc.events[0], [0, 1, 1, 1])     # one spike per non-zero input


def test_amplitude_levels_from_a_dac_table():
    dac = Dac(4, v_ref_v=0.2 * 16 / 15, inl_lsb=0.8, gain_error=0.01)
    levels = np.asarray(dac.convert(np.arange(16)))
    levels[0] = 0.0
    enc = encode(np.array([0, 3, -7, 15]), "amplitude", bits=5, signed=True, v_read_v=0.2,
                 levels_v=levels)
    np.testing.assert_allclose(enc.v_rows_v[0], [0.0, levels[3], -levels[7], levels[15]])
    assert np.array_equal(decode(enc), [0, 3, -7, 15])
    with pytest.raises(InvalidParameterError, match="'levels_v'"):
        encode([1], "amplitude", bits=4, levels_v=np.ones(16))


def test_quantize_inputs_and_bad_encoding_input():
    assert np.array_equal(quantize_inputs([0.0, 0.5, 1.0], 4), [0, 8, 15])
    with pytest.raises(UnknownNameError, match="bit_serial"):
        encode([1], "morse", bits=4)
    with pytest.raises(InvalidParameterError, match="'codes'"):
        encode([16], "amplitude", bits=4)
    with pytest.raises(InvalidParameterError, match="'v_read_v'"):
        encode([1], "amplitude", bits=4, v_read_v=0.0)
    with pytest.raises(InvalidParameterError, match="'x'"):
        quantize_inputs([1.5], 4)


# --- front end -------------------------------------------------------------------------------


def test_tia_and_integrator_gain_clip_offset():
    t = Tia(r_f_ohm=1e4, v_offset_v=0.1, v_min_v=0.0, v_max_v=1.0)
    assert np.allclose(t.output_v([0.0, 5e-5, 1e-3, -1e-3]), [0.1, 0.6, 1.0, 0.0])
    ci = ChargeIntegrator(c_int_f=1e-12, t_int_s=10e-9)
    assert ci.gain_ohm == pytest.approx(1e4)
    assert ci.output_v([5e-5])[0] == pytest.approx(0.5)
    # signed range maps [-i, i] onto [0, FS]
    ts = Tia.for_range(1e-4, 0.8, signed=True)
    assert np.allclose(ts.output_v([-1e-4, 0.0, 1e-4]), [0.0, 0.4, 0.8])
    ci2 = ChargeIntegrator.for_range(2e-5, 1.0, 10e-9)
    assert ci2.output_v([2e-5])[0] == pytest.approx(1.0)
    assert gain_for_range(1e-4, 1.0) == (pytest.approx(1e4), 0.0)


def test_integrator_input_noise_is_kt_c_over_t_squared():
    """The reset's kT/C noise referred to the mean input current over the window:
    σ_I² = (C/t)²·k_B·T/C = k_B·T·C/t² [A²], per column, linear in T and in C."""
    from device_models.constants import K_B_J_PER_K

    c = np.array([0.5e-12, 1e-12, 4e-12])
    ci = ChargeIntegrator(c_int_f=c, t_int_s=10e-9)
    for t_k in (250.0, 300.0, 400.0):
        np.testing.assert_allclose(ci.input_noise_a2(t_k), K_B_J_PER_K * t_k * c / 10e-9**2,
                                   rtol=1e-12, atol=0.0)
    one = ChargeIntegrator(c_int_f=1e-12, t_int_s=10e-9).input_noise_a2(300.0, 5e7)
    assert one == pytest.approx(K_B_J_PER_K * 300.0 * 1e-12 / 1e-16, rel=1e-12, abs=0.0)
    assert one == pytest.approx(4.142e-17, rel=1e-3, abs=0.0)      # (6.4 nA)²


def test_calibrate_range():
    x = np.concatenate([np.linspace(-1, 1, 10001), [50.0]])
    assert calibrate_range(x, "minmax") == pytest.approx(50.0)
    assert calibrate_range(x, "percentile", 99.0) == pytest.approx(0.99, rel=0.01)
    cols = np.array([[1.0, 0.0, -3.0], [2.0, 0.0, 1.0]])
    r = calibrate_range(cols, "minmax", axis=0)
    assert np.allclose(r, [2.0, 3.0, 3.0])  # the all-zero column gets the largest range
    with pytest.raises(UnknownNameError, match="minmax"):
        calibrate_range(x, "mean")
    with pytest.raises(InvalidParameterError, match="'signal'"):
        calibrate_range([np.nan])
    with pytest.raises(InvalidParameterError, match="'v_max_v'"):
        Tia(r_f_ohm=1.0, v_min_v=1.0, v_max_v=0.5)
    with pytest.raises(InvalidParameterError, match="'r_f_ohm'"):
        Tia(r_f_ohm=0.0)
