"""PCM programming noise, drift, read noise, drift compensation; the memory interface."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device_models import InvalidParameterError, cards, memory
from device_models.constants import K_B_EV_PER_K
from device_models.pcm import (
    drift,
    drift_compensation_scale,
    drift_exponent_stats,
    drift_exponents,
    prog_sigma_pcm,
    program_pcm,
    read_sigma_pcm,
)

CARD = "joshi2020_pcm"


def test_programming_noise_matches_card_polynomial():
    card = cards.load(CARD)
    for x in (0.2, 0.5, 0.9):
        g_t = np.full(100_000, x * card.g_max_s)
        res = memory.program(card, g_t, seed=1)
        c = card.prog_noise_coeffs_s
        sigma = c[0] + c[1] * x + c[2] * x * x
        assert np.std(res.g_s - g_t) == pytest.approx(sigma, rel=0.02, abs=0.0)
        assert abs(np.mean(res.g_s - g_t)) < 4 * sigma / math.sqrt(g_t.size)
        assert prog_sigma_pcm(card, g_t[:1])[0] == pytest.approx(sigma, rel=1e-12, abs=0.0)
    assert np.all(res.pulses == card.prog_pulses)
    assert res.energy_j.sum() == pytest.approx(g_t.size * card.prog_pulses * card.e_prog_pulse_j)


def test_drift_exponent_recovered_by_log_log_fit():
    card = cards.load(CARD)
    g0 = np.full(50_000, 0.5 * card.g_max_s)
    times = np.geomspace(1e2, 1e7, 6)
    log_g = np.stack([np.log(drift(card, g0, t_s=t, seed=3)) for t in times])
    lt = np.log(times) - np.log(times).mean()
    slope = lt @ (log_g - log_g.mean(axis=0)) / (lt @ lt)
    nu = drift_exponents(card, g0, seed=3)
    np.testing.assert_allclose(-slope, nu, rtol=1e-9)
    # Population statistics recover the card's state-dependent mean and spread.
    x = 0.5
    mu = np.clip(card.nu_mean_coeffs[0] + card.nu_mean_coeffs[1] * math.log(x),
                 card.nu_mean_min, card.nu_mean_max)
    sd = np.clip(card.nu_sigma_coeffs[0] + card.nu_sigma_coeffs[1] * math.log(x),
                 card.nu_sigma_min, card.nu_sigma_max)
    assert abs(np.mean(-slope) - mu) < 4 * sd / math.sqrt(g0.size)
    assert np.std(-slope) == pytest.approx(sd, rel=0.03)


def test_drift_exponent_stats_are_linear_in_ln_x_inside_the_clips():
    """μ_ν = a0 + a1·ln x and σ_ν = b0 + b1·ln x (natural log, Nandakumar et al. 2019) where
    neither is clipped: x = 0.1 gives (0.0601, 0.0229) on the card; at x = 1 and 1e-3 the
    clips hold."""
    card = cards.load(CARD)
    (a0, a1), (b0, b1) = card.nu_mean_coeffs, card.nu_sigma_coeffs
    mu, sd = drift_exponent_stats(card, np.array([1e-3, 0.1, 1.0]) * card.g_max_s)
    assert mu[1] == pytest.approx(a0 + a1 * math.log(0.1), rel=1e-12)
    assert sd[1] == pytest.approx(b0 + b1 * math.log(0.1), rel=1e-12)
    assert card.nu_mean_min < mu[1] < card.nu_mean_max          # the unclipped branch
    assert card.nu_sigma_min < sd[1] < card.nu_sigma_max
    assert (mu[1], sd[1]) == (pytest.approx(0.06009, rel=1e-3), pytest.approx(0.02288, rel=1e-3))
    assert (mu[0], sd[0]) == (card.nu_mean_max, card.nu_sigma_max)  # low G: clipped high
    assert (mu[2], sd[2]) == (card.nu_mean_min, card.nu_sigma_min)  # G_max: clipped low


def test_drift_is_state_dependent_and_starts_at_t0():
    card = cards.load(CARD)
    low = drift_exponents(card, np.full(20_000, 0.02 * card.g_max_s), seed=1).mean()
    high = drift_exponents(card, np.full(20_000, card.g_max_s), seed=1).mean()
    assert low > high  # low-conductance (more amorphous) states drift faster
    g0 = np.linspace(1e-6, card.g_max_s, 100)
    np.testing.assert_array_equal(memory.age(card, g0, t_s=0.0), g0)
    np.testing.assert_array_equal(memory.age(card, g0, t_s=card.t0_s), g0)
    later = memory.age(card, g0, t_s=1e6)
    assert np.all(later < g0)


def test_read_noise_grows_with_time():
    card = cards.load(CARD)
    g = np.array([0.1, 0.5, 1.0]) * card.g_max_s
    sig = [memory.read_sigma_s(card, g, t_s=t) for t in (0.0, 1e3, 1e6)]
    assert np.all(sig[0] < sig[1]) and np.all(sig[1] < sig[2])
    tr = card.t_read_s
    ratio = math.sqrt(math.log((1e6 + tr) / (2 * tr)) / math.log((card.t0_s + tr) / (2 * tr)))
    np.testing.assert_allclose(sig[2] / sig[0], ratio, rtol=1e-12)
    q = min(card.read_noise_q_coeff / 0.5**card.read_noise_q_exponent, card.read_noise_q_max)
    assert read_sigma_pcm(card, g[1:2], t_s=1e3)[0] == pytest.approx(
        g[1] * q * math.sqrt(math.log((1e3 + tr) / (2 * tr))), rel=1e-12, abs=0.0)


def test_global_drift_compensation_restores_the_array_scale():
    card = cards.load(CARD)
    rng = np.random.default_rng(0)
    g0 = rng.uniform(0.05, 1.0, 20_000) * card.g_max_s
    x = rng.uniform(0.0, 1.0, (8, 100))
    g_t = memory.age(card, g0, t_s=86400.0 * 30, seed=2)
    w0, wt = g0.reshape(100, 200), g_t.reshape(100, 200)
    alpha = drift_compensation_scale(x @ w0, x @ wt)
    assert alpha > 1.0
    err_raw = np.abs(x @ wt - x @ w0).mean()
    err_comp = np.abs(alpha * (x @ wt) - x @ w0).mean()
    assert err_comp < 0.2 * err_raw


def test_pcm_drift_arrhenius_when_card_has_activation_energy():
    card = cards.load(CARD).replace(drift_ea_ev=0.5)
    g0 = np.full(1000, 10e-6)
    scale = math.exp(0.5 / K_B_EV_PER_K * (1 / 300.0 - 1 / 360.0))
    hot = memory.age(card, g0, t_s=1e3, temperature_k=360.0, seed=4)
    cold = memory.age(card, g0, t_s=1e3 * scale, temperature_k=300.0, seed=4)
    np.testing.assert_allclose(hot, cold, rtol=1e-12)
    plain = cards.load(CARD).replace(drift_ea_ev=0.0)  # no activation: T-independent drift
    np.testing.assert_array_equal(memory.age(plain, g0, t_s=1e3, temperature_k=360.0),
                                  memory.age(plain, g0, t_s=1e3))


def test_bundled_pcm_card_drift_accelerates_with_temperature():
    """The bundled card's drift is Arrhenius-accelerated: one day at 358 K ages the devices
    as A(358 K)·1 day at 300 K, A = exp[Ea/k·(1/300 − 1/358)], so every device ends lower."""
    card = cards.load(CARD)
    assert card.drift_ea_ev > 0.0
    g0 = np.linspace(0.1, 1.0, 2000) * card.g_max_s
    a = math.exp(card.drift_ea_ev / K_B_EV_PER_K * (1 / card.drift_t_ref_k - 1 / 358.0))
    hot = memory.age(card, g0, t_s=86400.0, temperature_k=358.0, seed=2)
    room = memory.age(card, g0, t_s=86400.0, temperature_k=300.0, seed=2)
    np.testing.assert_allclose(hot, memory.age(card, g0, t_s=86400.0 * a, seed=2), rtol=1e-12)
    assert np.all(hot < room)
    nu = drift_exponents(card, g0, seed=2)
    np.testing.assert_allclose(hot / room, a ** (-nu), rtol=1e-10)


@pytest.mark.parametrize("name", ["yao2020_taox_1t1r", "wan2022_hfox_rram", CARD])
def test_memory_interface_every_kind(name):
    card = cards.load(name)
    lv = np.linspace(card.g_min_s, card.g_max_s, card.n_levels)
    g_t = lv[np.arange(64 * 32) % lv.size].reshape(64, 32)
    a = memory.program(card, g_t, seed=5)
    b = memory.program(card, g_t, seed=5)
    c = memory.program(card, g_t, seed=6)
    for r in (a, b, c):
        assert r.g_s.shape == r.pulses.shape == r.energy_j.shape == r.time_s.shape == g_t.shape
        assert np.all(r.g_s >= 0)
    np.testing.assert_array_equal(a.g_s, b.g_s)
    assert not np.array_equal(a.g_s, c.g_s)
    f = memory.apply_faults(card, a.g_s, seed=1)
    aged = memory.age(card, f, t_s=3600.0, temperature_k=330.0, seed=1)
    sig = memory.read_sigma_s(card, aged, t_s=3600.0)
    assert aged.shape == sig.shape == g_t.shape
    assert np.all(np.isfinite(sig)) and np.all(sig >= 0)


def test_pcm_bad_inputs():
    card = cards.load(CARD)
    with pytest.raises(InvalidParameterError, match="tolerance_s.*None"):
        memory.program(card, [1e-5], tolerance_s=1e-6)
    with pytest.raises(InvalidParameterError, match="g_target_s.*<="):
        program_pcm(card, [2 * card.g_max_s])
    with pytest.raises(InvalidParameterError, match="g_target_s.*finite"):
        program_pcm(card, [np.nan])
    with pytest.raises(InvalidParameterError, match="t_s"):
        memory.age(card, [1e-5], t_s=-1.0)
    with pytest.raises(InvalidParameterError, match="t_s"):
        memory.read_sigma_s(card, [1e-5], t_s=np.inf)
    with pytest.raises(InvalidParameterError, match="kind 'pcm'"):
        drift("yao2020_taox_1t1r", [1e-5], t_s=1.0)
    with pytest.raises(InvalidParameterError, match="shape"):
        drift_compensation_scale(np.ones(3), np.ones(4))
    with pytest.raises(InvalidParameterError, match="not all zero"):
        drift_compensation_scale(np.ones(3), np.zeros(3))
    with pytest.raises(InvalidParameterError, match="g_min_s < g_max_s"):
        program_pcm(card.replace(g_max_s=1e-9, g_min_s=1e-9), [1e-9])


def test_cell_iv_per_kind():
    from device_models import CellIV, SinhIV
    from device_models.one_t_one_r import OneTOneRIV

    for name in ("wan2022_hfox_rram", CARD):
        law = memory.cell_iv(name)
        assert isinstance(law, SinhIV) and law.v0_v == cards.load(name).v0_v
    law = memory.cell_iv("yao2020_taox_1t1r", temperature_k=350.0)
    assert isinstance(law, OneTOneRIV) and isinstance(law, CellIV)
    with pytest.raises(InvalidParameterError, match="v_gate_v"):
        memory.cell_iv(CARD, v_gate_v=1.0)
