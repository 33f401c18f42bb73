"""Noise sources against their closed forms; sampled statistics; counter-based reproducibility."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad

from device_models import cards
from device_models.constants import K_B_J_PER_K, Q_E_C
from device_models.errors import InvalidParameterError, UnknownNameError
from device_models.noise import (
    flicker_psd,
    flicker_rms,
    flicker_sample,
    johnson_psd,
    johnson_rms,
    johnson_sample,
    ktc_psd,
    ktc_rms,
    ktc_sample,
    shot_psd,
    shot_rms,
    shot_sample,
)

CARD = "mosis2001_tsmc180_nmos"
N = 200_000  # sampled variance has relative standard error sqrt(2/N) = 0.3 %


def test_johnson_closed_form():
    g = np.array([1e-6, 1e-4, 1e-3])
    for t in (250.0, 300.0, 400.0):
        np.testing.assert_allclose(johnson_psd(g, t), 4 * K_B_J_PER_K * t * g, rtol=1e-15)
        np.testing.assert_allclose(johnson_psd(g, t, form="voltage"), 4 * K_B_J_PER_K * t / g,
                                   rtol=1e-15)
        np.testing.assert_allclose(johnson_rms(g, 1e6, t),
                                   np.sqrt(4 * K_B_J_PER_K * t * g * 1e6), rtol=1e-15)
    # textbook number: 1 kΩ at 300 K has 4.07 nV/√Hz
    assert math.sqrt(johnson_psd(1e-3, 300.0, form="voltage")) == pytest.approx(4.07e-9, rel=1e-3,
                                                                                abs=0.0)


def test_shot_closed_form():
    i = np.array([-1e-6, 1e-9, 1e-3])
    np.testing.assert_allclose(shot_psd(i), 2 * Q_E_C * np.abs(i), rtol=1e-15)
    np.testing.assert_allclose(shot_rms(i, 1e4), np.sqrt(2 * Q_E_C * np.abs(i) * 1e4), rtol=1e-15)
    # 1 µA in 1 Hz: 0.566 pA
    assert shot_rms(1e-6, 1.0) == pytest.approx(5.66e-13, rel=1e-3, abs=0.0)


def test_ktc_closed_form_and_integral():
    c, r, t = 1e-12, 1e3, 300.0
    assert ktc_rms(c, t) == pytest.approx(math.sqrt(K_B_J_PER_K * t / c), rel=1e-15, abs=0.0)
    assert ktc_rms(1e-12, 300.0) == pytest.approx(64.4e-6, rel=1e-3)  # 64 µV on 1 pF
    f_c = 1 / (2 * math.pi * r * c)
    # integrate in u = f / f_c so quad sees the Lorentzian on a unit scale
    total, _ = quad(lambda u: ktc_psd(u * f_c, c, r, t) * f_c, 0, np.inf, limit=200, epsabs=0.0)
    assert total == pytest.approx(K_B_J_PER_K * t / c, rel=1e-7, abs=0.0)
    band, _ = quad(lambda f: ktc_psd(f, c, r, t), 0, 2 * f_c, epsabs=0.0)
    assert ktc_rms(c, t, bandwidth_hz=2 * f_c, r_ohm=r) ** 2 == pytest.approx(band, rel=1e-9,
                                                                              abs=0.0)
    # the low-frequency limit is the Johnson noise of R
    assert ktc_psd(0.0, c, r, t) == pytest.approx(johnson_psd(1 / r, t, form="voltage"), rel=1e-6,
                                                  abs=0.0)
    # 4kTR and (2πfRC)² both beyond the doubles (inf / inf was NaN): the closed form with R
    # divided out, 4kT / (1/R + (2πfC)²R); a PSD that is itself beyond the doubles stays inf
    big = ktc_psd(0.2, 0.2, 1e308, 1e308)
    w_c = 2 * np.pi * 0.2 * 0.2
    assert big == pytest.approx(4 * K_B_J_PER_K * 1e308 / (1e-308 + w_c**2 * 1e308), rel=1e-12,
                                abs=0.0)
    assert np.isfinite(big) and big > 0.0
    assert np.array_equal(ktc_psd(np.array([0.0, 1e300]), 1e10, 1e300, 1e300), [np.inf, 0.0])


def test_flicker_closed_form_and_integral():
    card = cards.load(CARD)
    area = card.w_m * card.l_m
    k = card.kf_v2_f / (card.cox_f_per_m2 * area)
    f = np.logspace(0, 6, 7)
    np.testing.assert_allclose(flicker_psd(f, card), k / f, rtol=1e-15)
    for f1, f2 in ((1.0, 1e3), (10.0, 1e6)):
        numeric, _ = quad(lambda x: flicker_psd(x, card), f1, f2, limit=200, epsabs=0.0)
        assert flicker_rms(f1, f2, card) ** 2 == pytest.approx(numeric, rel=1e-8, abs=0.0)
        assert flicker_rms(f1, f2, card) ** 2 == pytest.approx(k * math.log(f2 / f1), rel=1e-14,
                                                               abs=0.0)
    # equal noise per decade; 1/(W·L) area scaling
    assert flicker_rms(1, 10, card) == pytest.approx(flicker_rms(1e5, 1e6, card), rel=1e-12,
                                                     abs=0.0)
    assert flicker_rms(1, 1e3, card, w_m=4 * card.w_m) == pytest.approx(
        flicker_rms(1, 1e3, card) / 2, rel=1e-12, abs=0.0)


@pytest.mark.parametrize(
    ("draw", "expected_rms"),
    [
        (lambda s: johnson_sample(1e-4, 1e6, 350.0, shape=N, seed=s),
         johnson_rms(1e-4, 1e6, 350.0)),
        (lambda s: shot_sample(2e-6, 1e7, shape=N, seed=s), shot_rms(2e-6, 1e7)),
        (lambda s: ktc_sample(50e-15, 300.0, shape=N, seed=s), ktc_rms(50e-15, 300.0)),
        (lambda s: flicker_sample(1.0, 1e4, CARD, shape=N, seed=s), flicker_rms(1.0, 1e4, CARD)),
    ],
    ids=["johnson", "shot", "ktc", "flicker"],
)
def test_sampled_variance_matches(draw, expected_rms, each_backend):
    x = draw(3)
    assert x.shape == (N,)
    assert np.var(x) == pytest.approx(expected_rms**2, rel=0.02, abs=0.0)
    assert abs(np.mean(x)) < 5 * expected_rms / math.sqrt(N)


def test_samples_broadcast_per_element_rms():
    g = np.array([1e-6, 1e-4])[:, None]
    x = johnson_sample(g, 1e6, shape=(2, 50_000), seed=1)
    np.testing.assert_allclose(x.std(axis=1), johnson_rms(g, 1e6).ravel(), rtol=0.03)
    assert johnson_sample(g, 1e6, seed=1).shape == (2, 1)
    with pytest.raises(InvalidParameterError, match="'shape'"):
        johnson_sample(g, 1e6, shape=(3, 4), seed=1)


def test_samples_counter_based():
    a = ktc_sample(1e-12, shape=10_000, seed=5)
    np.testing.assert_array_equal(a, ktc_sample(1e-12, shape=10_000, seed=5))
    np.testing.assert_array_equal(a[:1000], ktc_sample(1e-12, shape=1000, seed=5))
    assert not np.array_equal(a, ktc_sample(1e-12, shape=10_000, seed=6))
    # different sources use different streams
    assert not np.allclose(a / ktc_rms(1e-12), shot_sample(1e-6, 1.0, shape=10_000, seed=5)
                           / shot_rms(1e-6, 1.0))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = ktc_sample(1e-12, shape=10_000, seed=5)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a, single)


def test_samples_same_under_both_backends():
    from device_models._jit import use_backend

    with use_backend("numba"):
        a = shot_sample(1e-6, 1e6, shape=(40, 25), seed=9)
    with use_backend("numpy"):
        b = shot_sample(1e-6, 1e6, shape=(40, 25), seed=9)
    np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: johnson_psd(-1e-3), "g_s"),
        (lambda: johnson_psd(0.0, form="voltage"), "g_s"),
        (lambda: johnson_psd(np.nan), "g_s"),
        (lambda: johnson_psd(1e-3, 0.0), "temperature_k"),
        (lambda: johnson_rms(1e-3, 0.0), "bandwidth_hz"),
        (lambda: johnson_rms(np.ones(3), np.ones(4)), "bandwidth_hz"),
        (lambda: shot_psd(np.inf), "i_a"),
        (lambda: shot_rms(1e-6, -1.0), "bandwidth_hz"),
        (lambda: flicker_psd(0.0, CARD), "f_hz"),
        (lambda: flicker_rms(10.0, 1.0, CARD), "f2_hz"),
        (lambda: flicker_rms(1.0, 10.0, CARD, w_m=-1e-6), "w_m"),
        (lambda: flicker_rms(1.0, 10.0, 5.0), "card"),
        (lambda: ktc_rms(0.0), "c_f"),
        (lambda: ktc_rms(1e-12, -3.0), "temperature_k"),
        (lambda: ktc_rms(1e-12, bandwidth_hz=1e6), "r_ohm"),
        (lambda: ktc_psd(1.0, 1e-12, np.zeros(2) + 1e3, np.ones(3) * 300), "temperature_k"),
        (lambda: ktc_sample(1e-12, seed=-1), "seed"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        call()


def test_unknown_names():
    with pytest.raises(UnknownNameError, match="'form'"):
        johnson_psd(1e-3, form="power")
    with pytest.raises(UnknownNameError):
        flicker_psd(1.0, "no_such_card")


# --- biased conductor and integrator bandwidth ----------------------------------------------


def test_conductor_psd_limits():
    """4kTG at zero bias for any Fano factor; 4kTG(1-F) + 2qF|I| far above kT/q; F = 0 is a
    plain resistor (Johnson only); x coth x matches its closed form and series."""
    from device_models.noise import conductor_psd, x_coth_x

    g = np.array([1e-6, 2e-5, 4e-5])
    for t in (250.0, 300.0, 400.0):
        for f in (0.0, 0.3, 1.0):
            np.testing.assert_allclose(conductor_psd(g, 0.0, t, fano=f), johnson_psd(g, t),
                                       rtol=1e-15)
        far = 60 * K_B_J_PER_K * t / Q_E_C            # qV/2kT = 30: coth = 1 to 1e-26
        np.testing.assert_allclose(conductor_psd(g, far, t, fano=1.0), shot_psd(g * far),
                                   rtol=1e-14)
        np.testing.assert_allclose(conductor_psd(g, -far, t, fano=0.4),
                                   0.6 * johnson_psd(g, t) + 0.4 * shot_psd(g * far),
                                   rtol=1e-14)
        np.testing.assert_allclose(conductor_psd(g, 0.2, t, fano=0.0), johnson_psd(g, t),
                                   rtol=1e-15)
    x = np.array([1e-9, 5e-4, 1e-3, 2e-3, 0.1, 1.0, 5.0, 40.0])
    ref = np.array([1.0 + v * v / 3 if v < 1e-4 else v / math.tanh(v) for v in x])
    np.testing.assert_allclose(x_coth_x(x), ref, rtol=1e-13)
    np.testing.assert_allclose(x_coth_x(-x), ref, rtol=1e-13)


@settings(max_examples=60)
@given(g=st.floats(0.0, 1e-3), v=st.floats(-2.0, 2.0), t=st.floats(1.0, 1000.0),
       f=st.floats(0.0, 1.0))
def test_conductor_psd_bounded_by_its_limits(g, v, t, f):
    """Never below the thermal value, never below the shot value, and at most their sum
    (thermal and shot are not both counted in full); a relative 1e-12 of slack either way
    for rounding (the sum is reached at small V, where s = th + f·shot to the last digit) and
    1e-300 A²/Hz for the subnormal results of conductances near the smallest doubles."""
    from device_models.noise import conductor_psd

    s = float(conductor_psd(g, v, t, fano=f))
    th, sh = float(johnson_psd(g, t)), f * float(shot_psd(g * v)) + (1 - f) * float(
        johnson_psd(g, t))
    assert s >= th * (1 - 1e-12) - 1e-300 and s >= sh * (1 - 1e-12) - 1e-300
    assert s <= (th + f * float(shot_psd(g * v))) * (1 + 1e-12) + 1e-300


def test_integrator_bandwidth_is_the_boxcar_noise_bandwidth():
    """Δf = 1/(2T): the integral of |sinc(πfT)|² over f, and the variance of white noise
    averaged over T (sampled: PSD S at rate fs has variance S·fs/2 per sample)."""
    from device_models.noise import integrator_bandwidth_hz

    t_int = 10e-9
    assert float(integrator_bandwidth_hz(t_int)) == 0.5 / t_int
    # ∫ sin²(πu)/(πu)² du over u = fT, in unit steps of u (the integrand's lobes)
    total = sum(quad(lambda u: (math.sin(math.pi * u) / (math.pi * u)) ** 2 if u else 1.0,
                     k, k + 1)[0] for k in range(2000))
    assert total / t_int == pytest.approx(float(integrator_bandwidth_hz(t_int)), rel=2e-3)
    s, fs, n_avg = 4e-24, 1e10, 100            # PSD [A²/Hz], sample rate, samples per T
    z = np.random.default_rng(0).standard_normal((40_000, n_avg)) * math.sqrt(s * fs / 2)
    var = z.mean(axis=1).var()
    assert var == pytest.approx(s * float(integrator_bandwidth_hz(n_avg / fs)), rel=0.03, abs=0.0)
    with pytest.raises(InvalidParameterError, match="t_int_s"):
        integrator_bandwidth_hz(0.0)
