"""Time and temperature through a whole run: one programmed chip read at several times."""

from __future__ import annotations

import numpy as np
import pytest

from cimsim.hardware import HardwareConfig
from cimsim.nn.models import load_bundled, load_digits_split
from cimsim.nn.network import Evaluation
from device_models.errors import InvalidParameterError

N_IMG = 48


@pytest.fixture(scope="module")
def digits():
    d = load_digits_split()
    return d["x_test"][:N_IMG], d["y_test"][:N_IMG]


def _pcm_net(**changes):
    net = load_bundled("digits_cnn_relu")
    net.compile(HardwareConfig(device_card="joshi2020_pcm", **changes))
    return net


def test_time_series_is_one_chip_read_at_each_time(digits):
    x, y = digits
    net = _pcm_net()
    times = [20.0, 86400.0, 3.15e7]
    g_day = [t.conductances(86400.0).copy() for ams in net._analog.values() for am in ams
             for t in am.tiles]
    evs = net.evaluate(x, y, t_s=times)
    assert isinstance(evs, list) and len(evs) == 3
    assert all(isinstance(e, Evaluation) for e in evs)
    assert [e.t_s for e in evs] == times
    single = net.evaluate(x, y, t_s=times[0])
    assert single.analog_accuracy == evs[0].analog_accuracy
    assert single.counts == evs[0].counts
    # the devices (drift exponents, programming, faults) are the same at every read
    g_again = [t.conductances(86400.0) for ams in net._analog.values() for am in ams
               for t in am.tiles]
    for a, b in zip(g_day, g_again, strict=True):
        np.testing.assert_array_equal(a, b)
    # PCM conductances fall with time, so the cell read energy does too
    e_read = [sum(c.cell_read_energy_j for c in e.counts.values()) for e in evs]
    assert e_read[0] > e_read[1] > e_read[2]


def test_every_read_draws_fresh_noise(digits):
    x, _ = digits
    net = _pcm_net()
    a0 = net.run(x, t_s=100.0, read=0)
    np.testing.assert_array_equal(a0, net.run(x, t_s=100.0, read=0))
    a1 = net.run(x, t_s=100.0, read=1)
    assert not np.array_equal(a0, a1)
    quiet = _pcm_net(read_noise=False, converter_noise=False)
    np.testing.assert_array_equal(quiet.run(x, t_s=100.0, read=0),
                                  quiet.run(x, t_s=100.0, read=1))


def test_time_series_bad_input(digits):
    x, y = digits
    net = _pcm_net()
    with pytest.raises(InvalidParameterError, match="t_s"):
        net.evaluate(x, y, t_s=[])
    with pytest.raises(InvalidParameterError, match="t_s"):
        net.evaluate(x, y, t_s=[1.0, -1.0])
    with pytest.raises(InvalidParameterError, match="read"):
        net.run(x, read=-1)


# --- read noise from physics in the tile -----------------------------------------------------


def _white_only_card(fano=1.0):
    """The Wan 2022 RRAM card with no excess (RTN) read noise: only thermal and shot noise."""
    from device_models import cards

    return cards.load("wan2022_hfox_rram").replace(read_noise_rel=0.0, shot_noise_fano=fano)


@pytest.mark.parametrize("temperature_k", [250.0, 400.0])
def test_tile_read_noise_follows_4kTG_and_2qI(temperature_k):
    """Noise-only chip (ideal converters, exact targets, no excess noise): the variance of the
    column reads is 4kT·ΣG·Δf with (nearly) undriven rows (thermal: every cell of the column, the
    unused rows at G_min included) and Δf·Σ S_I(G, V) ≈ 2q·ΣI·Δf with every row at
    V = 0.16 V (shot noise dominates above kT/q), Δf = 1/(2·t_read); each beside the column
    integrator's reset noise kT·C_int/t_read² (kT/C on C_int, referred to the current)."""
    from cimsim.tile.matrix import AnalogMatrix
    from device_models.constants import K_B_J_PER_K, Q_E_C
    from device_models.noise import conductor_psd

    rows, n_out, n = 12, 3, 6000
    hw = HardwareConfig.ideal(read_noise=True, device_card=_white_only_card(),
                              temperature_k=temperature_k)
    hw = hw.replace(tile=hw.tile.replace(rows=16, cols=8, adc_share=1))
    w = np.random.default_rng(0).uniform(0.2, 1, (rows, n_out))
    m = AnalogMatrix(w, hw).calibrate(np.full((4, rows), 1.25))   # reads stay in range
    tile = m.tiles[0]
    st = tile.state(0.0)
    mp = tile.mapping
    g, bw = st["g_cell_s"], 0.5 / hw.tile.t_read_s
    y_per_a = (mp.digital_weight * m.encoder.x_lsb / m.encoder.plane_volts_per_code(0))
    unused = (16 - rows) * mp.g_min_s
    # rows at 0 V but one at 8 mV (qV/2kT <= 0.19): thermal noise of every cell of the pair
    x0 = np.zeros((n, rows))
    x0[:, 0] = 0.05
    y0, _ = m.matmul(x0, sample_offset=0)
    g_col = g[:, mp.pos_col].sum(0) + g[:, mp.neg_col].sum(0) + 2 * unused
    thermal = 4 * K_B_J_PER_K * temperature_k * g_col * bw
    c_int = tile.front_end.c_int_f
    ktc = K_B_J_PER_K * temperature_k * c_int / hw.tile.t_read_s ** 2
    np.testing.assert_allclose(m._fe_var[0], ktc, rtol=1e-12)
    assert np.all(ktc > 0.1 * thermal)      # the reset noise is a visible part of the read
    np.testing.assert_allclose(y0.var(axis=0) / y_per_a ** 2, thermal + ktc, rtol=0.06)
    # every row at 0.8 V_read: S_I(G, V) of the driven cells, thermal of the unused rows
    v = 0.8 * hw.tile.v_read_v
    y1, _ = m.matmul(np.ones((n, rows)), sample_offset=n)
    s_drv = (conductor_psd(g[:, mp.pos_col], v, temperature_k).sum(0)
             + conductor_psd(g[:, mp.neg_col], v, temperature_k).sum(0))
    expected = (s_drv + 4 * K_B_J_PER_K * temperature_k * 2 * unused) * bw
    measured = y1.var(axis=0) / y_per_a ** 2 - ktc
    np.testing.assert_allclose(measured, expected, rtol=0.06)
    i_abs = v * (g[:, mp.pos_col].sum(0) + g[:, mp.neg_col].sum(0))
    shot = 2 * Q_E_C * i_abs * bw
    assert np.all(np.abs(measured / shot - 1) < 0.1)       # ≈ 2qIΔf (qV/2kT ≥ 2.3)
    assert np.all(measured > 1.5 * y0.var(axis=0) / y_per_a ** 2)


@pytest.mark.parametrize(("card", "encoding", "fano", "mode"), [
    ("yao2020_taox_1t1r", "amplitude", 1.0, "shared"),     # σ² ∝ G: one GEMM on G
    ("wan2022_hfox_rram", "amplitude", 1.0, "concat"),     # σ² ∝ G²: [v², w] @ [σ²; K·G]
    ("joshi2020_pcm", "pulse_width", 1.0, "concat"),       # linear (duty) drive law
    ("wan2022_hfox_rram", "bit_serial", 1.0, "fold"),      # binary rows
    ("wan2022_hfox_rram", "amplitude", 0.0, "none"),       # no shot noise
])
def test_variance_gemm_forms_equal_the_sum_over_cells(each_backend, card, encoding, fano,
                                                       mode):
    """Whatever form the variance GEMM takes, it equals Σ_i v_i²σ²_ij + K·w(v_i)·G_ij plus the
    per-column thermal constant, cell by cell (w from the closed form)."""
    from cimsim.tile import cells, variance
    from cimsim.tile.matrix import AnalogMatrix
    from device_models import cards

    hw = HardwareConfig(device_card=cards.load(card).replace(shot_noise_fano=fano),
                        converter_noise=False)
    hw = hw.replace(tile=hw.tile.replace(rows=32, cols=16, input_encoding=encoding,
                                         adc_bits=14))           # float64 GEMMs
    rng = np.random.default_rng(4)
    w, x = rng.standard_normal((40, 6)), np.abs(rng.standard_normal((50, 40)))
    m = AnalogMatrix(w, hw).calibrate(x)
    enc = m.encoder
    codes = enc.codes(x)
    for r0, r1, block in m.blocks:
        law = cells.array_read(block, 0.0, enc, np.float64).noise_law
        vm = block.matrices(0.0, np.float64, v_unit=m._v_unit, law=law)["variance"]
        assert vm.mode == mode
        states = [t.state(0.0) for t in block.tiles]
        var = np.concatenate([s["var_own_s2"] for s in states], axis=1)
        g = np.concatenate([s["g_own_s"] for s in states], axis=1)
        for p in range(enc.n_planes):
            v = enc.drive(codes, p, np.float64, r0=r0, r1=r1)[0].copy()
            op = {"none": v * v, "fold": v}.get(mode)
            op = variance.operand(v, vm) if op is None else op
            got = op @ vm.own + vm.c_own
            want = (v * v) @ var + vm.k_shot * law(v) @ g + vm.c_own
            np.testing.assert_allclose(got, want, rtol=2e-7)


# --- drift compensation and refresh ----------------------------------------------------------

YEAR_S = 3.15e7


def test_global_drift_compensation_improves_pcm_accuracy_at_one_year(digits):
    """PCM conductances fall as t^-ν: at one year the uncompensated chip loses accuracy; a
    reference read per tile and read restores the scale (Joshi et al. 2020)."""
    x, y = load_digits_split()["x_test"][:200], load_digits_split()["y_test"][:200]
    acc = {}
    for mode in ("none", "global"):
        net = _pcm_net(drift_compensation=mode)
        acc[mode] = [e.analog_accuracy for e in net.evaluate(x, y, t_s=[20.0, YEAR_S])]
    assert acc["none"][1] < acc["none"][0] - 0.05           # drift costs accuracy ...
    assert acc["global"][1] > acc["none"][1] + 0.05         # ... and compensation wins it back
    assert acc["global"][1] > acc["global"][0] - 0.05


def test_compensation_reads_are_counted(digits):
    """The reference read of every read time is charged to that evaluation (its DAC, array and
    ADC operations on the reference vectors), the one at programming to the programming
    energy."""
    from cimsim.tile.compensation import REFERENCE_VECTORS

    x, y = digits
    plain, comp = _pcm_net(), _pcm_net(drift_compensation="global")
    ev0, ev1 = plain.evaluate(x, y, t_s=1e4), comp.evaluate(x, y, t_s=1e4)
    assert ev0.compensation_counts == {} and set(ev1.compensation_counts) == set(ev1.counts)
    for name, c in ev1.compensation_counts.items():
        am = comp._analog[name][0]
        n_ref = am._x_ref.shape[0]
        assert 0 < n_ref <= REFERENCE_VECTORS
        assert c.macs == n_ref * am.in_features * am.out_features * len(comp._analog[name])
        assert c.adc_conversions > 0 and c.cell_read_energy_j > 0
    r0, r1 = plain.report(ev0), comp.report(ev1)
    assert r1.energy_per_inference_j > r0.energy_per_inference_j
    assert r1.program_energy_j > r0.program_energy_j      # the reference read at programming


def test_compensation_factor_fits():
    """global: one scale per tile, Σ|y_ref|/Σ|y|; column: the least-squares affine map."""
    from cimsim.tile.compensation import affine_factors, global_factors

    rng = np.random.default_rng(2)
    ref = rng.normal(size=(64, 5))
    f = global_factors(ref, 0.8 * ref, [2, 3])
    np.testing.assert_allclose(f.digital, 1.25, rtol=1e-12)
    f = global_factors(ref, np.concatenate([0.5 * ref[:, :2], 2.0 * ref[:, 2:]], 1), [2, 3])
    np.testing.assert_allclose(f.digital, [2, 2, 0.5, 0.5, 0.5], rtol=1e-12)
    a, b = np.array([1.3, 0.7, 1.0, 2.0, 1.1]), np.array([0.1, -0.2, 0.0, 0.3, 0.05])
    f = affine_factors(ref, (ref - b) / a)
    np.testing.assert_allclose(f.gain, a, rtol=1e-12)
    np.testing.assert_allclose(f.offset, b, atol=1e-12)


def test_affine_factors_keep_unit_gain_where_the_fit_is_not_drift():
    """A column whose reads went anti-correlated (fit a = −1), whose reference reads are
    constant (a = 0) or whose reads now do not vary keeps gain 1 and the shift of the means
    as offset; a drifted column, y_ref = 1.5·y + 0.5, is fitted."""
    from cimsim.tile.compensation import affine_factors

    ref = np.array([[1.0, 0.5, 1.0, 0.5], [2.0, 0.5, 2.0, 3.5], [4.0, 0.5, 3.0, 6.5]])
    now = np.array([[-1.0, 1.0, 0.5, 0.0], [-2.0, 2.0, 0.5, 2.0], [-4.0, 4.0, 0.5, 4.0]])
    f = affine_factors(ref, now)
    np.testing.assert_allclose(f.gain, [1.0, 1.0, 1.0, 1.5], rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(f.offset, [7 / 3 + 7 / 3, 0.5 - 7 / 3, 2.0 - 0.5, 0.5],
                               rtol=1e-12, atol=0.0)
    np.testing.assert_array_equal(f.digital, 1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_constant_column_keeps_unit_gain_despite_the_rounding_of_its_mean(dtype):
    """Reads that do not vary are not drift even where the mean of equal floats rounds away
    from them (three 0.1s average to 0.10000000000000002, a spread of ~1e-17): gain 1 and
    the shift of the means as offset, for 64 vectors at random levels."""
    from cimsim.tile.compensation import affine_factors

    f = affine_factors(np.array([[0.1], [0.1], [0.4]]), np.full((3, 1), 0.1, dtype=dtype))
    assert f.gain[0] == 1.0
    assert f.offset[0] == pytest.approx(0.2 - 0.1, rel=1e-6, abs=0.0)
    rng = np.random.default_rng(5)
    levels = rng.normal(size=500).astype(dtype)
    f = affine_factors(rng.normal(size=(64, 500)), np.broadcast_to(levels, (64, 500)).copy())
    np.testing.assert_array_equal(f.gain, 1.0)


def test_column_recalibration_at_a_fixed_time(digits):
    """'column' with a recalibration time fits once (charged to programming), and the reads
    before and after use the same factors."""
    x, y = digits
    net = _pcm_net(drift_compensation="column", drift_recalibration_t_s=86400.0)
    evs = net.evaluate(x, y, t_s=[86400.0, YEAR_S])
    am = net._analog[next(iter(net._analog))][0]
    assert list(am._factors) == [("recalibration",)]
    assert all(e.compensation_counts == {} for e in evs)
    assert evs[1].analog_accuracy > _pcm_net().evaluate(x, y, t_s=YEAR_S).analog_accuracy - 0.03


def test_predicted_drift_error_matches_monte_carlo():
    """PCM: the expected rms error after a global scale, from the lognormal moments of t^-ν,
    equals the sampled one (ν per device, N(μ, σ²) far from the fold at 0)."""
    from device_models import cards, memory
    from device_models.pcm import drift, drift_exponents

    card = cards.load("joshi2020_pcm")
    g = np.linspace(0.3, 1.0, 40_000) * card.g_max_s
    for t in (3600.0, YEAR_S):
        gt = drift(card, g, t_s=t, seed=5)
        alpha = g.sum() / gt.sum()
        mc = np.sqrt(np.mean((alpha * gt - g) ** 2)) / (card.g_max_s - card.g_min_s)
        assert memory.predicted_drift_error(card, g, t_s=t) == pytest.approx(mc, rel=0.03)
    assert np.all(drift_exponents(card, g, seed=5) > 0)
    rram = cards.load("wan2022_hfox_rram")
    gr = np.linspace(rram.g_min_s, rram.g_max_s, 100)
    from device_models.rram import relaxation_sigma_s

    assert memory.predicted_drift_error(rram, gr, t_s=3600.0) == pytest.approx(
        np.sqrt(np.mean(relaxation_sigma_s(rram, gr, t_s=3600.0) ** 2))
        / (rram.g_max_s - rram.g_min_s), rel=1e-12)


def test_refresh_reprograms_when_the_predicted_error_reaches_the_threshold(digits):
    """Each tile is reprogrammed every τ (the first time its predicted error reaches the
    threshold): at time t it has been refreshed floor(t/τ) times, each costing its programming
    energy, and its cells are t mod τ old."""
    from device_models import memory

    x, y = digits
    hw = HardwareConfig(device_card="wan2022_hfox_rram", refresh_threshold=0.03)
    net = load_bundled("digits_cnn_relu")
    net.compile(hw)
    tile = next(iter(net._analog.values()))[0].tiles[0]
    tau = tile.refresh_period_s
    assert tau is not None and 10.0 < tau < 1e5
    err = memory.predicted_drift_error(tile.card, tile.mapping.g_target_s, t_s=tau)
    assert err == pytest.approx(0.03, rel=1e-6)
    assert tile.epoch_at(2.5 * tau) == (2, pytest.approx(0.5 * tau))
    ev = net.evaluate(x, y, t_s=2.5 * tau)
    energy = sum(c.program_energy_j for c in ev.refresh_counts.values())
    expected = sum(2 * t.program_energy_j for ams in net._analog.values() for am in ams
                   for t in am.tiles if t.epoch_at(2.5 * tau)[0] == 2)
    assert energy >= expected > 0
    assert net.report(ev).program_energy_j > net.report(net.evaluate(x, y, t_s=1.0)) \
        .program_energy_j
    # the refreshed chip at one year reads like a young one; without refresh it has decayed
    young = net.evaluate(x, y, t_s=0.5 * tau).analog_accuracy
    old = net.evaluate(x, y, t_s=YEAR_S).analog_accuracy
    stale = load_bundled("digits_cnn_relu").compile(
        hw.replace(refresh_threshold=None)).evaluate(x, y, t_s=YEAR_S).analog_accuracy
    assert old > stale and old >= young - 0.1


def test_demo_time_series(capsys):
    """cimsim demo --t-s T1,T2,...: accuracy and energy against time from one programming (the
    first entry is the single-time demo); bad lists are one-line errors."""
    import json

    from cimsim.cli import main

    args = ["demo", "--json", "--n", "40", "--no-volatility", "--set",
            "device_card=joshi2020_pcm"]
    assert main([*args, "--t-s", "20,86400,31536000"]) == 0
    out = json.loads(capsys.readouterr().out)
    series = out["time_series"]
    assert [r["t_s"] for r in series] == [20.0, 86400.0, 31536000.0]
    assert series[0]["analog_accuracy"] == out["analog_accuracy"]
    assert all(r["energy_per_inference_j"] > 0 for r in series)
    assert main([*args, "--t-s", "20"]) == 0
    single = json.loads(capsys.readouterr().out)
    assert single["analog_accuracy"] == out["analog_accuracy"] and single["time_series"] == []
    assert main(["demo", "--n", "5", "--t-s", "1,-3"]) == 2
    assert "--t-s" in capsys.readouterr().err


def test_device_array_read_noise_and_plot_follow_temperature(tmp_path):
    """The device_array job's read noise moves with temperature (thermal noise), and
    cimsim plot draws several metrics in one figure (one panel each)."""
    from cimsim.cli import main
    from cimsim.study import sweep
    from cimsim.study.store import load

    spec = {"sweep": {"job": "device_array", "seed": 1},
            "base": {"faults": False, "drift": False, "programming_noise": False},
            "options": {"cells": 256},
            "grid": {"temperature_k": [250.0, 400.0]}}
    out = tmp_path / "t.h5"
    sweep.run_sweep(spec, out, workers=0, progress=False)
    res = load(out)
    sig = res.column("read_sigma_rel_mean")
    assert sig[1] > sig[0]
    png = tmp_path / "t.png"
    assert main(["plot", str(out), "--x", "temperature_k", "--y",
                 "read_sigma_rel_mean,read_rms_error_rel", "--y", "level_error_rate",
                 "--logy-for", "read_sigma_rel_mean", "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    assert imread(png).shape[0] > 600             # three stacked panels


@pytest.mark.parametrize("mode", ["global", "column"])
def test_drift_compensation_applies_to_level_crossing_series(mode):
    """A level-crossing series is compensated as static reads are: noise-free, every step of
    a drifted PCM matrix read one year after programming equals matmul of that step (the same
    factors), and compensation brings the series closer to x @ W than no compensation."""
    from cimsim.tile.matrix import AnalogMatrix

    rng = np.random.default_rng(7)
    w = rng.normal(size=(24, 5))
    x = np.cumsum(rng.normal(scale=0.3, size=(6, 8, 24)), axis=0) + 1.0
    year = 3.1536e7
    ys = {}
    for m_ in ("none", mode):
        hw = HardwareConfig(device_card="joshi2020_pcm", read_noise=False,
                            converter_noise=False, faults=False, drift_compensation=m_)
        hw = hw.replace(tile=hw.tile.replace(rows=32, cols=16, input_encoding="level_crossing"))
        m = AnalogMatrix(w, hw).calibrate(x.reshape(-1, 24))
        y, _ = m.matmul_series(x, t_s=year, sample_offset=0)
        for s in range(x.shape[0]):
            np.testing.assert_allclose(y[s], m.matmul(x[s], t_s=year, sample_offset=s * 8)[0],
                                       rtol=1e-9, atol=1e-9 * np.max(np.abs(y)))
        ys[m_] = y
    ref = x @ w
    err = {k: np.sqrt(np.mean((v - ref) ** 2)) for k, v in ys.items()}
    assert err[mode] < 0.5 * err["none"]


@pytest.mark.parametrize("front_end", ["integrator", "tia"])
def test_front_end_noise_follows_temperature(front_end):
    """The column front end's own noise at temperature_k, referred to the column current: the
    integrator's reset kT/C, k_B·T·C_int/t_read², or the TIA's 4k_B·T·Δf/R_f; the per-cell
    reference draws it too (same column variance as the variance path)."""
    from cimsim.tile.matrix import AnalogMatrix
    from device_models.constants import K_B_J_PER_K

    w = np.random.default_rng(1).uniform(0.2, 1, (12, 3))
    for t_k in (250.0, 400.0):
        hw = HardwareConfig.ideal(read_noise=True, device_card=_white_only_card(),
                                  temperature_k=t_k)
        hw = hw.replace(tile=hw.tile.replace(rows=16, cols=8, adc_share=1, front_end=front_end))
        m = AnalogMatrix(w, hw).calibrate(np.full((4, 12), 1.25))
        fe = m.tiles[0].front_end
        t_read = hw.tile.t_read_s
        if front_end == "integrator":
            want = K_B_J_PER_K * t_k * fe.c_int_f / t_read ** 2
        else:
            want = 4 * K_B_J_PER_K * t_k * (0.5 / t_read) / fe.r_f_ohm
        np.testing.assert_allclose(m._fe_var[0], want, rtol=1e-12)
        # the same circuit at twice the temperature: twice the variance
        np.testing.assert_allclose(fe.input_noise_a2(2 * t_k, 0.5 / t_read), 2 * want,
                                   rtol=1e-12)
        x = np.full((3000, 12), 0.5)
        y_var = m.matmul(x, sample_offset=0)[0].var(axis=0)
        cell = AnalogMatrix(w, hw.replace_path("tile.read_noise_model", "per_cell")).calibrate(
            np.full((4, 12), 1.25))
        y_cell = cell.matmul(x, sample_offset=0)[0].var(axis=0)
        np.testing.assert_allclose(y_cell, y_var, rtol=0.12)
