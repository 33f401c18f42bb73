"""EKV MOSFET: closed-form limits, smoothness, DIBL, temperature, mismatch, kernels, checks."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from device_models import cards
from device_models._jit import jit, use_backend
from device_models.constants import thermal_voltage_v
from device_models.errors import InvalidParameterError, UnknownNameError
from device_models.mosfet import (
    EkvParams,
    _ekv_kernel,
    ekv_numpy,
    ekv_params,
    ekv_scalar,
    gm_over_id,
    mismatch_sigma,
    mosfet_current,
    mosfet_small_signal,
    sample_mismatch,
    subthreshold_swing,
)

MOSFET_CARDS = [n for n in cards.names() if cards.load(n).kind == "mosfet"]
CARD = "mosis2001_tsmc180_nmos"
TEMPERATURES_K = (250.0, 300.0, 350.0, 400.0)


def test_at_least_two_mosfet_cards_with_sources():
    assert len(MOSFET_CARDS) >= 2
    for name in MOSFET_CARDS:
        card = cards.load(name)
        assert card.source.authors and card.source.figure
        # every value says where it came from
        assert set(card.notes) == set(card.values), name


# --- closed-form limits ---------------------------------------------------------------------


@pytest.mark.parametrize("name", MOSFET_CARDS)
@pytest.mark.parametrize("temperature_k", TEMPERATURES_K)
def test_subthreshold_swing_weak_inversion(name, temperature_k, each_backend):
    card = cards.load(name)
    ideal = card.slope_factor_n * thermal_voltage_v(temperature_k) * math.log(10.0)
    swing = subthreshold_swing(card, temperature_k)
    assert swing == pytest.approx(ideal, rel=0.01)
    # deeper still, it converges to the closed form
    p = ekv_params(card, temperature_k)
    vt = p.vt0_v - p.dibl_v_per_v * card.vdd_v  # V_T at the default V_DS = V_DD
    deep = subthreshold_swing(card, temperature_k, vgs_v=vt - 20 * p.n * p.ut_v)
    assert deep == pytest.approx(ideal, rel=1e-4)  # error ~ exp(-10)/2
    # and it is not the closed form in strong inversion (the test can fail)
    strong = subthreshold_swing(card, temperature_k, vgs_v=vt + 0.3)
    assert strong > 1.5 * ideal


@pytest.mark.parametrize("name", MOSFET_CARDS)
def test_gm_over_id_weak_inversion_limit(name, each_backend):
    card = cards.load(name)
    for t in TEMPERATURES_K:
        p = ekv_params(card, t)
        vt = p.vt0_v - p.dibl_v_per_v * card.vdd_v
        vgs = vt - np.array([10.0, 15.0, 20.0]) * p.n * p.ut_v
        ratio = gm_over_id(vgs, card.vdd_v, card, t)
        np.testing.assert_allclose(ratio, 1.0 / (p.n * p.ut_v), rtol=0.01)
    # strong inversion: well below the weak-inversion maximum, near 2/(V_GS - V_T)
    p = ekv_params(card)
    vov = 0.5
    strong = gm_over_id(p.vt0_v - p.dibl_v_per_v * card.vdd_v + vov, card.vdd_v, card)
    assert strong == pytest.approx(2.0 / vov, rel=0.1)


@pytest.mark.parametrize("name", MOSFET_CARDS)
def test_strong_inversion_square_law(name, each_backend):
    # EKV's strong-inversion saturation limit is I = beta/(2n)·(V_GS - V_T)^2, beta = mu·Cox·W/L
    card = cards.load(name).replace(clm_per_v=0.0)
    vds = card.vdd_v
    p = ekv_params(card)
    beta = card.mobility_m2_per_vs * card.cox_f_per_m2 * card.w_m / card.l_m
    vt = p.vt0_v - p.dibl_v_per_v * vds
    vov = np.array([0.3, 0.4, 0.5])
    i_d = mosfet_current(vt + vov, vds, card)
    ekv_limit = beta / (2 * p.n) * vov**2
    np.testing.assert_allclose(i_d, ekv_limit, rtol=0.05)
    # the slope-factor-free textbook form beta/2·V_ov^2 does not match (n > 1.3)
    assert np.all(np.abs(i_d / (beta / 2 * vov**2) - 1) > 0.05)


def test_linear_region_is_odd_in_vds():
    card = cards.load(CARD).replace(dibl_v_per_v=0.0, clm_per_v=0.0)
    vgs = np.linspace(-0.2, 1.8, 21)
    assert np.all(mosfet_current(vgs, 0.0, card) == 0.0)
    d = 1e-6  # deep linear region: I = g_ds0·V_DS, odd in V_DS to first order
    fwd = mosfet_current(vgs, d, card)
    rev = mosfet_current(vgs, -d, card)
    np.testing.assert_allclose(rev, -fwd, rtol=1e-4)
    assert np.all(fwd > 0)


# --- smoothness, monotonicity, derivatives --------------------------------------------------


@settings(max_examples=60)
@given(
    vgs=st.floats(-0.5, 2.0),
    vds=st.floats(0.0, 2.0),
    dv=st.floats(1e-6, 0.05),
    name=st.sampled_from(MOSFET_CARDS),
)
def test_current_continuous_and_monotonic(vgs, vds, dv, name):
    card = cards.load(name)
    i0, gm, gds = mosfet_small_signal(vgs, vds, card)
    assert mosfet_current(vgs + dv, vds, card) >= i0
    assert mosfet_current(vgs, vds + dv, card) >= i0
    assert gm >= 0 and gds >= 0
    # continuity: a tiny step changes the current by about gm·step
    h = 1e-9
    step = mosfet_current(vgs + h, vds, card) - i0
    assert abs(step) <= 2 * h * gm + 1e-12 * abs(i0) + 1e-30


@pytest.mark.parametrize("name", MOSFET_CARDS)
def test_tiny_vds_in_strong_inversion_has_no_cancellation(name, each_backend):
    # found by hypothesis: i_f - i_r computed by subtraction lost all digits at V_DS ~ 1e-15 V
    card = cards.load(name)
    vds = np.logspace(-15, -3, 61)
    for vgs in (0.2, card.vdd_v - 0.1, 5.0):
        i_d, gm, gds = mosfet_small_signal(vgs, vds, card)
        assert np.all(np.diff(i_d) > 0)
        # linear region: I_D = g_ds0·V_DS, g_m ∝ V_DS
        np.testing.assert_allclose(i_d[:20] / vds[:20], gds[0], rtol=1e-6)
        np.testing.assert_allclose(gm[:20] / vds[:20], gm[0] / vds[0], rtol=1e-6)
    assert mosfet_current(0.9, 1e-300, card) > 0


@pytest.mark.parametrize("name", MOSFET_CARDS)
def test_gm_gds_match_finite_differences(name):
    card = cards.load(name)
    vgs = np.linspace(-0.2, card.vdd_v, 23)[:, None]
    vds = np.array([0.05, 0.3, card.vdd_v])[None, :]
    i_d, gm, gds = mosfet_small_signal(vgs, vds, card)
    h = 1e-6
    fd_gm = (mosfet_current(vgs + h, vds, card) - mosfet_current(vgs - h, vds, card)) / (2 * h)
    fd_gds = (mosfet_current(vgs, vds + h, card) - mosfet_current(vgs, vds - h, card)) / (2 * h)
    np.testing.assert_allclose(gm, fd_gm, rtol=1e-5, atol=1e-18)
    np.testing.assert_allclose(gds, fd_gds, rtol=1e-5, atol=1e-18)


@pytest.mark.parametrize("name", MOSFET_CARDS)
def test_dibl_shifts_curve_by_eta_delta_vds(name):
    card = cards.load(name).replace(clm_per_v=0.0)
    eta = card.dibl_v_per_v
    for target_a in (1e-11, 1e-9, 1e-7):
        def vgs_at(vds, target=target_a):
            return brentq(lambda v: math.log(mosfet_current(v, vds, card) / target), -1.0, 2.0,
                          xtol=1e-14)
        shift = vgs_at(0.4) - vgs_at(1.0)
        assert shift == pytest.approx(eta * 0.6, rel=1e-4, abs=1e-9)


def test_temperature_dependence_follows_card():
    card = cards.load(CARD)
    p300 = ekv_params(card, 300.0)
    p400 = ekv_params(card, 400.0)
    assert p400.vt0_v - p300.vt0_v == pytest.approx(100 * card.vt0_tc_v_per_k)
    k = card.mobility_temp_exponent
    # I_spec ∝ mu(T)·U_T^2 ∝ T^(2-k)
    assert p400.i_spec_a / p300.i_spec_a == pytest.approx((400 / 300) ** (2 - k), rel=1e-12)
    assert p400.ut_v / p300.ut_v == pytest.approx(400 / 300)
    # off current rises with temperature (lower V_T, larger U_T)
    assert mosfet_current(0.0, 1.0, card, 400.0) > 10 * mosfet_current(0.0, 1.0, card, 300.0)


# --- parameters, PMOS, scalar kernel --------------------------------------------------------


def test_ekv_params_route_equals_card_route():
    card = cards.load(CARD)
    vgs = np.linspace(0, 1.8, 7)
    for t in (250.0, 350.0):
        p = ekv_params(card, t)
        by_card = mosfet_current(vgs, 1.0, card, t)
        np.testing.assert_array_equal(mosfet_current(vgs, 1.0, p), by_card)
        np.testing.assert_array_equal(mosfet_current(vgs, 1.0, p, t),
                                      mosfet_current(vgs, 1.0, card, t))
        with pytest.raises(InvalidParameterError, match="'temperature_k'"):
            mosfet_current(vgs, 1.0, p, t + 10.0)
    # geometry
    wide = mosfet_current(vgs, 1.0, card, w_m=2 * card.w_m)
    np.testing.assert_allclose(wide, 2 * mosfet_current(vgs, 1.0, card), rtol=1e-12)


def test_pmos_sign_convention():
    n_card = cards.load(CARD)
    p_card = n_card.replace(polarity="p")
    vgs = np.linspace(0, 1.8, 9)
    i_n, gm_n, gds_n = mosfet_small_signal(vgs, 1.2, n_card)
    i_p, gm_p, gds_p = mosfet_small_signal(-vgs, -1.2, p_card)
    np.testing.assert_array_equal(i_p, -i_n)
    np.testing.assert_array_equal(gm_p, gm_n)
    np.testing.assert_array_equal(gds_p, gds_n)
    assert np.all(i_p[1:] < 0)


def test_scalar_kernel_callable_from_other_kernels():
    p = ekv_params(CARD)

    @jit
    def newton_like(vgs, vds, vt0, n, ispec, ut, dibl, clm):
        i, gm, gds = ekv_scalar(vgs, vds, vt0, n, ispec, ut, dibl, clm)
        return i + gm * 0.0 + gds * 0.0

    got = newton_like(0.9, 1.0, *p)
    ref = ekv_numpy(np.array([0.9]), np.array([1.0]), p.vt0_v, p.i_spec_a, p.n, p.ut_v,
                     p.dibl_v_per_v, p.clm_per_v)[0][0]
    assert got == pytest.approx(ref, rel=1e-12, abs=0.0)
    assert EkvParams._fields == ("vt0_v", "n", "i_spec_a", "ut_v", "dibl_v_per_v", "clm_per_v")


@pytest.mark.parametrize("name", MOSFET_CARDS)
def test_kernel_equals_numpy_reference(name):
    card = cards.load(name).replace(clm_per_v=0.3)
    rng_np = np.random.default_rng(0)
    vgs = np.concatenate([rng_np.uniform(-2, 3, 2000), [-50.0, 50.0, 0.0]])
    vds = np.concatenate([rng_np.uniform(-2, 3, 2000), [1.0, 1.0, 0.0]])
    dvt = rng_np.normal(0, 0.02, vgs.size)
    beta = 1 + rng_np.normal(0, 0.02, vgs.size)
    for t in TEMPERATURES_K:
        with use_backend("numba"):
            a = mosfet_small_signal(vgs, vds, card, t, dvt_v=dvt, beta_scale=beta)
        with use_backend("numpy"):
            b = mosfet_small_signal(vgs, vds, card, t, dvt_v=dvt, beta_scale=beta)
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-12, atol=0)
    assert np.isfinite(a[0]).all() and np.isfinite(a[1]).all()


def test_results_independent_of_thread_count():
    p = ekv_params(CARD)
    n = 100_001
    vgs = np.linspace(-0.5, 1.8, n)
    vds = np.full(n, 1.0)
    vt0 = np.full(n, p.vt0_v)
    ispec = np.full(n, p.i_spec_a)
    outs = []
    old = numba.get_num_threads()
    try:
        for threads in sorted({1, old}):
            numba.set_num_threads(threads)
            o = [np.empty(n) for _ in range(3)]
            _ekv_kernel(vgs, vds, vt0, ispec, p.n, p.ut_v, p.dibl_v_per_v, p.clm_per_v, *o)
            outs.append(o)
    finally:
        numba.set_num_threads(old)
    for x, y in zip(outs[0], outs[-1], strict=True):
        np.testing.assert_array_equal(x, y)


def test_broadcasting_like_a_ufunc():
    card = cards.load(CARD)
    vgs = np.linspace(0, 1.8, 5)[:, None, None]
    vds = np.linspace(0, 1.8, 4)[None, :, None]
    dvt = np.zeros((1, 1, 3))
    out = mosfet_current(vgs, vds, card, dvt_v=dvt)
    assert out.shape == (5, 4, 3)
    assert np.ndim(mosfet_current(0.5, 1.0, card)) == 0
    np.testing.assert_array_equal(out[:, :, 0], mosfet_current(vgs[:, :, 0], vds[:, :, 0], card))


# --- Pelgrom mismatch -----------------------------------------------------------------------


def test_pelgrom_sigma_scales_with_inverse_sqrt_area():
    card = cards.load(CARD)
    n = 20_000
    measured = []
    for scale in (1.0, 4.0, 16.0):
        w, length = card.w_m * scale, card.l_m
        m = sample_mismatch(card, n, w_m=w, l_m=length, seed=42)
        s_vt, s_b = mismatch_sigma(card, w, length)
        assert s_vt == pytest.approx(card.avt_v_m / math.sqrt(w * length))
        assert np.std(m.dvt_v) == pytest.approx(s_vt, rel=0.03)
        assert np.std(m.beta_scale - 1) == pytest.approx(s_b, rel=0.03)
        assert abs(np.mean(m.dvt_v)) < 4 * s_vt / math.sqrt(n)
        measured.append(np.std(m.dvt_v))
    # 4x the area halves sigma
    assert measured[0] / measured[1] == pytest.approx(2.0, rel=0.05)
    assert measured[1] / measured[2] == pytest.approx(2.0, rel=0.05)
    # dV_T and dbeta are independent
    m = sample_mismatch(card, n, seed=1)
    assert abs(np.corrcoef(m.dvt_v, m.beta_scale)[0, 1]) < 0.03


def test_pelgrom_sigma_of_an_area_below_the_doubles_is_refused():
    """W·L underflowing to 0 raised ZeroDivisionError; now an error naming the size."""
    card = cards.load(CARD)
    with pytest.raises(InvalidParameterError, match="'l_m' parameter of mismatch_sigma"):
        mismatch_sigma(card, l_m=5e-324)
    with pytest.raises(InvalidParameterError, match="'w_m' parameter of sample_mismatch"):
        sample_mismatch(card, 4, w_m=1e-320, seed=0)
    s_vt, _ = mismatch_sigma(card, 1e-160, 1e-160)        # tiny but finite: the closed form
    assert s_vt == card.avt_v_m / math.sqrt(1e-160 * 1e-160)


def test_mismatch_is_reproducible_and_prefix_stable():
    a = sample_mismatch(CARD, 1000, seed=7)
    b = sample_mismatch(CARD, 1000, seed=7)
    c = sample_mismatch(CARD, 100, seed=7)
    d = sample_mismatch(CARD, 1000, seed=8)
    np.testing.assert_array_equal(a.dvt_v, b.dvt_v)
    np.testing.assert_array_equal(a.dvt_v[:100], c.dvt_v)
    assert not np.array_equal(a.dvt_v, d.dvt_v)
    # mismatch feeds the current: a higher V_T gives less current
    card = cards.load(CARD)
    i = mosfet_current(0.6, 1.0, card, dvt_v=a.dvt_v, beta_scale=a.beta_scale)
    assert i.shape == (1000,)
    assert np.corrcoef(a.dvt_v, np.log(i))[0, 1] < -0.9


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"vgs": np.nan}, "vgs"),
        ({"vgs": [0.1, np.inf]}, "vgs"),
        ({"vds": np.nan}, "vds"),
        ({"temperature_k": 0.0}, "temperature_k"),
        ({"temperature_k": -5.0}, "temperature_k"),
        ({"temperature_k": np.nan}, "temperature_k"),
        ({"w_m": -1e-6}, "w_m"),
        ({"l_m": 0.0}, "l_m"),
        ({"vgs": np.zeros(3), "vds": np.zeros(4)}, "vds"),
        ({"beta_scale": -1.0}, "beta_scale"),
        ({"card_or_params": 3.0}, "card_or_params"),
    ],
)
def test_bad_input_names_the_argument(kwargs, name):
    args = {"vgs": 0.5, "vds": 1.0, "card_or_params": CARD}
    args.update(kwargs)
    vgs, vds, card = args.pop("vgs"), args.pop("vds"), args.pop("card_or_params")
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        mosfet_current(vgs, vds, card, **args)


def test_bad_input_elsewhere():
    with pytest.raises(UnknownNameError):
        mosfet_current(0.5, 1.0, "no_such_card")
    for t in (0.0, 5e-324, 0.5):    # near 0 K the mobility law T^-k overflowed
        with pytest.raises(InvalidParameterError, match="'temperature_k'.*>= 1"):
            ekv_params(CARD, t)
    assert ekv_params(CARD, 1.0).ut_v > 0.0
    with pytest.raises(InvalidParameterError, match="'w_m'"):
        sample_mismatch(CARD, 10, w_m=-1.0)
    with pytest.raises(InvalidParameterError, match="'vds_v'"):
        subthreshold_swing(ekv_params(CARD))
    with pytest.raises(InvalidParameterError, match="'temperature_k'"):
        gm_over_id(0.3, 1.0, CARD, temperature_k=-1)
    bad = ekv_params(CARD)._replace(n=float("nan"))
    with pytest.raises(InvalidParameterError, match="card_or_params.n"):
        mosfet_current(0.5, 1.0, bad)


# --- figures of merit and the CLI ----------------------------------------------------------


def test_devices_command_json_and_png(tmp_path, capsys):
    import json

    from cimsim.cli import main
    from cimsim.commands.devices import figures_of_merit, vgs_at_current

    assert main(["devices", "--json", "--out", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["card"] for r in data["devices"]} == set(MOSFET_CARDS)
    for path in data["png"]:
        assert (tmp_path / path.split("/")[-1]).stat().st_size > 10_000
    for row in data["devices"]:
        card = cards.load(row["card"])
        assert row["on_off_ratio"] == pytest.approx(row["i_on_a"] / row["i_off_a"])
        assert row["i_on_a"] == pytest.approx(mosfet_current(card.vdd_v, card.vdd_v, card))
        assert row["gm_over_id_max_per_v"] == pytest.approx(row["gm_over_id_weak_limit_per_v"],
                                                            rel=1e-3)
        # lin/sat DIBL includes the linear-region current drop, so it exceeds eta
        assert row["dibl_v_per_v"] > card.dibl_v_per_v
    # between two saturated drain biases the extracted DIBL is the card's eta
    card = cards.load(CARD)
    shift = vgs_at_current(card, 1e-8, 0.9) - vgs_at_current(card, 1e-8, 1.8)
    assert shift / 0.9 == pytest.approx(card.dibl_v_per_v, rel=1e-4)
    assert figures_of_merit(CARD)["swing_v_per_dec"] == subthreshold_swing(CARD)


def test_plot_devices_script_writes_pngs(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "plot_devices.py"
    spec = importlib.util.spec_from_file_location("plot_devices", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path), "--cards", CARD]) == 0
    for name in ("mosfet_id_vgs.png", "mosfet_gm_id.png"):
        assert (tmp_path / name).stat().st_size > 10_000
