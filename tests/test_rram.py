"""RRAM / 1T1R write-verify, read noise, sinh I–V, faults and relaxation (issue 4)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest
from scipy import stats

from device_models import (
    InvalidParameterError,
    SinhIV,
    UnknownNameError,
    cards,
    memory,
    program_write_verify,
)
from device_models._jit import use_backend
from device_models.constants import K_B_EV_PER_K, ZERO_CELSIUS_K
from device_models.rram import (
    arrhenius_factor,
    read_sigma_rram,
    relax,
    relaxation_sigma_s,
    stuck_at_faults,
)

RRAM_CARDS = ["yao2020_taox_1t1r", "wan2022_hfox_rram"]
MEMORY_CARDS = [*RRAM_CARDS, "joshi2020_pcm"]


def _levels(card, n_cells):
    """Targets cycling over the card's levels, the top level excluded (it sits on the soft
    bound and is deliberately hard to reach)."""
    lv = np.linspace(card.g_min_s, card.g_max_s, card.n_levels)[:-1]
    return lv[np.arange(n_cells) % lv.size]


# --- cards ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MEMORY_CARDS)
def test_card_has_source_and_a_note_per_value(name):
    card = cards.load(name)
    assert card.kind in memory.MEMORY_KINDS
    assert card.source.doi and card.source.figure
    missing = sorted(set(card.values) - set(card.notes))
    assert not missing, f"values without a note: {missing}"
    assert 0.0 <= card.g_min_s < card.g_max_s


# --- write-verify --------------------------------------------------------------------------


@pytest.mark.parametrize("name", RRAM_CARDS)
def test_write_verify_converges_inside_tolerance(name):
    card = cards.load(name)
    g_t = _levels(card, 20_000)
    tol = card.tolerance_frac * (card.g_max_s - card.g_min_s)
    res = program_write_verify(card, g_t, tol, seed=1)
    assert res.g_s.shape == g_t.shape
    assert res.converged.mean() > 0.97
    # Accepted cells are inside the window up to the verify read's own noise.
    sig = read_sigma_rram(card, g_t)
    err = np.abs(res.g_s - g_t)[res.converged]
    assert np.mean(err <= tol + 4.0 * sig[res.converged]) > 0.999
    assert np.all(res.pulses[~res.converged] == card.max_pulses)


def test_spread_shrinks_and_pulses_grow_as_tolerance_tightens():
    card = cards.load("yao2020_taox_1t1r")
    g_t = _levels(card, 20_000)
    window = card.g_max_s - card.g_min_s
    spreads, pulses = [], []
    for frac in (0.08, 0.04, 0.02, 0.01):
        res = program_write_verify(card, g_t, frac * window, seed=2)
        spreads.append(np.std(res.g_s - g_t))
        pulses.append(res.pulses.mean())
    assert np.all(np.diff(spreads) < 0), spreads
    assert np.all(np.diff(pulses) > 0), pulses
    # Loose tolerance: spread of a uniform fill of the window (tol/sqrt(3)) plus read noise.
    assert spreads[0] < 0.08 * window


@pytest.mark.parametrize("name", RRAM_CARDS)
def test_pulse_counts_and_energy_are_plausible(name):
    card = cards.load(name)
    g_t = _levels(card, 10_000)
    res = memory.program(card, g_t, seed=3)
    mean_pulses = res.pulses.mean()
    # Distance from G_min to the mean target over the mean step sets the scale of the count.
    assert 2.0 < mean_pulses < 60.0
    # Energy bounded above by every pulse at G_max·(1 + 5 sigma window) and every read too.
    g_hi = card.g_max_s * (1.0 + 5.0 * card.window_d2d_sigma)
    e_pulse = max(card.v_set_v**2 * t for t in (card.t_set_s,)) * g_hi
    e_pulse = max(e_pulse, card.v_reset_v**2 * card.t_reset_s * g_hi)
    e_read = card.v_read_v**2 * card.t_read_s * g_hi
    assert np.all(res.energy_j <= res.pulses * e_pulse + (res.pulses + 1) * e_read)
    assert np.all(res.energy_j > 0.0)
    assert 1e-14 < res.energy_j.mean() < 1e-9
    t_min = (res.pulses + 1) * card.t_read_s + res.pulses * min(card.t_set_s, card.t_reset_s)
    assert np.all(res.time_s >= t_min * (1 - 1e-12))
    assert res.total_pulses == int(res.pulses.sum())


def test_set_pulse_energy_is_capped_at_the_compliance_current(each_backend):
    """A SET pulse costs V_set·min(G·V_set, I_comp)·t_set at the pre-pulse G: a noise-free
    1T1R cell at its RESET bound G_lo = G_min − mΔG_w, one pulse at a 0.4 V gate (I_comp
    below G_lo·V_set), verify reads V_read²·G·t_read before and after it."""
    from device_models.programming import compliance

    card = cards.load("yao2020_taox_1t1r").replace(
        step_c2c_sigma=0.0, step_d2d_sigma=0.0, window_d2d_sigma=0.0, read_noise_rel=0.0)
    i_comp, g_comp = compliance(card, v_gate_set_v=0.40)
    w = card.g_max_s - card.g_min_s
    g_lo = card.g_min_s - card.bound_margin_frac * w
    assert i_comp < g_lo * card.v_set_v          # the cap is what sets this pulse's current
    g_hi = min(card.g_max_s + card.bound_margin_frac * w, g_comp)
    g_1 = g_lo + card.dg_set_frac * w * ((g_hi - g_lo) / w) ** card.step_nonlinearity
    e_pulse = card.v_set_v * i_comp * card.t_set_s
    e_reads = card.v_read_v**2 * card.t_read_s * (g_lo + g_1)
    res = program_write_verify(card, [10e-6], 0.45e-6, max_pulses=1, v_gate_set_v=0.40)
    assert res.pulses[0] == 1
    assert res.g_s[0] == pytest.approx(g_1, rel=1e-12, abs=0.0)
    assert res.energy_j[0] == pytest.approx(e_pulse + e_reads, rel=1e-12, abs=0.0)


def test_step_backoff_saves_pulses_at_a_tight_tolerance(each_backend):
    """Shrinking the pulse amplitude after each reversal (step_backoff 0.7) lets a tolerance
    well below the step size converge in fewer pulses than a fixed amplitude (1.0), which
    keeps overshooting: the same seed and targets, a tenth of the card's tolerance. (At the
    card's own tolerance the two need about the same count.)"""
    card = cards.load("yao2020_taox_1t1r")
    g_t = _levels(card, 2000)
    tol = 0.1 * card.tolerance_frac * (card.g_max_s - card.g_min_s)
    backed, fixed = (program_write_verify(card.replace(step_backoff=b), g_t, tol, seed=1)
                     for b in (0.7, 1.0))
    assert backed.pulses.mean() < 0.9 * fixed.pulses.mean()
    assert backed.converged.mean() >= fixed.converged.mean()


@pytest.mark.parametrize(("shape", "offset", "changes"), [
    ((30, 100), 0, {}),
    ((1,), 0, {}),
    ((0, 4), 0, {}),
    ((7, 3), 123_456_789, {"step_nonlinearity": 1.7, "read_noise_exponent": 0.3}),
])
def test_write_verify_kernel_equals_reference(shape, offset, changes):
    """Kernel and NumPy reference bit for bit (the same ziggurat draws; the C library's exp
    and pow in both), edge shapes, a far index offset, and exponents off the fast paths."""
    card = cards.load("yao2020_taox_1t1r")
    if changes:
        card = card.replace(**changes)
    g_t = _levels(card, int(np.prod(shape))).reshape(shape)
    kw = {"seed": 4, "index_offset": offset}
    with use_backend("numba"):
        a = program_write_verify(card, g_t, 0.3e-6, **kw)
    with use_backend("numpy"):
        b = program_write_verify(card, g_t, 0.3e-6, **kw)
    for field in ("g_s", "energy_j", "time_s", "pulses", "converged"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        assert getattr(a, field).shape == shape


def test_write_verify_normals_are_standard_normal():
    """The normals write-verify draws (ziggurat, device_models.programming._wv_normals_np:
    the kernel draws the same ones, test_write_verify_kernel_equals_reference) are N(0, 1) in
    each stream: KS, mean, variance, the 3-sigma tails, and no correlation between
    neighbouring pulses or between the streams at the same (cell, pulse)."""
    from device_models import rng
    from device_models import ziggurat as zig
    from device_models.programming import _wv_normals_np

    keys = [rng.derive_key(9, "write_verify", tag) for tag in ("device", "read", "step")]
    keys = tuple(keys + [zig.slow_key(k) for k in keys])
    cells = np.arange(40_000, dtype=np.uint64)
    draws = {}
    for stream, cols in ((0, range(3)), (1, range(12)), (2, range(12))):
        z = np.stack([_wv_normals_np(keys, stream, cells, c) for c in cols], axis=1)
        zz = z.ravel()
        assert zz.dtype == np.float64
        assert stats.kstest(zz, "norm").pvalue > 1e-3, stream
        assert abs(zz.mean()) < 5 / np.sqrt(zz.size)
        assert abs(zz.var() - 1.0) < 8 / np.sqrt(zz.size)
        tail = np.mean(np.abs(zz) > 3.0) / (2 * stats.norm.sf(3.0))
        assert 0.85 < tail < 1.15
        assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < 5 / np.sqrt(zz.size)
        draws[stream] = z
    r = np.corrcoef(draws[1].ravel(), draws[2].ravel())[0, 1]
    assert abs(r) < 5 / np.sqrt(draws[1].size)
    # the device draws of a cell at columns 0-2 are those of its own row, whatever the chunk
    part = _wv_normals_np(keys, 0, cells[1000:1010], 2)
    np.testing.assert_array_equal(part, draws[0][1000:1010, 2])


def test_write_verify_independent_of_threads_and_chunks(each_backend):
    card = cards.load("wan2022_hfox_rram")
    g_t = _levels(card, 4000)
    ref = program_write_verify(card, g_t, 1e-6, seed=5)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = program_write_verify(card, g_t, 1e-6, seed=5)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(ref.g_s, one.g_s)
    parts = [program_write_verify(card, g_t[a:b], 1e-6, seed=5, index_offset=a)
             for a, b in ((0, 1234), (1234, 4000))]
    np.testing.assert_array_equal(ref.g_s, np.concatenate([p.g_s for p in parts]))
    np.testing.assert_array_equal(ref.pulses, np.concatenate([p.pulses for p in parts]))
    other = program_write_verify(card, g_t, 1e-6, seed=6)
    assert not np.array_equal(ref.g_s, other.g_s)


def test_seed_may_be_a_generator():
    g_t = np.full(10, 10e-6)
    a = program_write_verify("yao2020_taox_1t1r", g_t, 1e-6, seed=np.random.default_rng(7))
    b = program_write_verify("yao2020_taox_1t1r", g_t, 1e-6, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(a.g_s, b.g_s)


# --- read: sinh I–V and read noise -----------------------------------------------------------


@pytest.mark.parametrize("name", RRAM_CARDS)
def test_sinh_small_signal_limit_and_odd_symmetry(name):
    card = cards.load(name)
    law = SinhIV(card.v0_v)
    g = np.array([card.g_min_s, 0.5 * (card.g_min_s + card.g_max_s), card.g_max_s])
    v = 1e-6 * card.v0_v
    np.testing.assert_allclose(law.current(v, g) / v, g, rtol=1e-10)
    vs = np.linspace(0.0, 3.0 * card.v0_v, 31)[:, None]
    np.testing.assert_array_equal(law.current(-vs, g), -law.current(vs, g))
    # Super-linear above v0: I/(gV) = sinh(x)/x > 1.
    assert np.all(law.current(vs[1:], g) / (g * vs[1:]) > 1.0)


def test_read_sigma_follows_card_state_dependence():
    card = cards.load("yao2020_taox_1t1r")
    g = np.array([card.g_max_s, card.g_max_s / 4.0])
    sig = memory.read_sigma_s(card, g)
    assert sig[0] == pytest.approx(card.read_noise_rel * card.g_max_s, rel=1e-12, abs=0.0)
    assert sig[1] / sig[0] == pytest.approx(0.25**card.read_noise_exponent, rel=1e-12)


# --- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize("p_on,p_off", [(0.02, 0.05), (0.0005, 0.0005)])
def test_stuck_at_rates_match_card_binomial(p_on, p_off):
    card = cards.load("yao2020_taox_1t1r").replace(stuck_on_rate=p_on, stuck_off_rate=p_off)
    n = 400_000
    g = np.full(n, 0.5 * (card.g_min_s + card.g_max_s))
    out = memory.apply_faults(card, g, seed=11)
    k_on = int(np.sum(out == card.g_max_s))
    k_off = int(np.sum(out == card.g_min_s))
    assert stats.binomtest(k_on, n, p_on).pvalue > 1e-3
    assert stats.binomtest(k_off, n, p_off).pvalue > 1e-3
    healthy = (out != card.g_max_s) & (out != card.g_min_s)
    np.testing.assert_array_equal(out[healthy], g[healthy])
    # Same seed, same faulty cells; the map does not depend on the values.
    np.testing.assert_array_equal(stuck_at_faults(card, 0.9 * g, seed=11) == card.g_max_s,
                                  out == card.g_max_s)


# --- relaxation / retention ------------------------------------------------------------------


def test_relaxation_spread_grows_with_log_time():
    card = cards.load("wan2022_hfox_rram")
    g0 = np.full(200_000, 0.5 * (card.g_min_s + card.g_max_s))
    sig = [np.std(relax(card, g0, t_s=t, seed=1) - g0) for t in (1e2, 1e4, 1e6)]
    assert sig[0] < sig[1] < sig[2]
    expected = [relaxation_sigma_s(card, g0[:1], t_s=t)[0] for t in (1e2, 1e4, 1e6)]
    np.testing.assert_allclose(sig, expected, rtol=0.02)
    # Linear in log10(t) for t >> t0: equal increments per two decades.
    assert expected[2] - expected[1] == pytest.approx(expected[1] - expected[0], rel=0.01)
    np.testing.assert_array_equal(memory.age(card, g0, t_s=0.0), g0)


def test_relaxation_sigma_is_rho_dg_per_decade_with_a_mid_window_peak():
    """σ_r = ρ·ΔG·s(G)·log10(1 + t/t_r): at t = 9·t_r (one decade) a mid-window cell has
    σ_r = ρ·ΔG (s(1/2) = 1), at 99·t_r twice that, and the edges of the window relax
    1 − a times as much, s = 1 − a + 4a·x(1 − x)."""
    card = cards.load("wan2022_hfox_rram").replace(relax_t0_s=10.0)
    a, rho = card.relax_state_dependence, card.relax_sigma_frac
    dg = card.g_max_s - card.g_min_s
    x = np.array([0.0, 0.25, 0.5, 1.0])
    g = card.g_min_s + x * dg
    sig = relaxation_sigma_s(card, g, t_s=9.0 * card.relax_t0_s)
    np.testing.assert_allclose(sig, rho * dg * (1.0 - a + 4.0 * a * x * (1.0 - x)), rtol=1e-12)
    assert sig[2] == pytest.approx(rho * dg, rel=1e-12, abs=0.0)
    assert sig[2] / sig[0] == pytest.approx(1.0 / (1.0 - a), rel=1e-12)
    assert sig[2] / sig[3] == pytest.approx(2.0, rel=1e-12)       # a = 0.5 on this card
    two_decades = relaxation_sigma_s(card, g, t_s=99.0 * card.relax_t0_s)
    np.testing.assert_allclose(two_decades, 2.0 * sig, rtol=1e-12)


def test_arrhenius_85c_equals_25c_at_scaled_time():
    card = cards.load("yao2020_taox_1t1r")
    g0 = _levels(card, 5000)
    t1 = 25.0 + ZERO_CELSIUS_K
    t2 = 85.0 + ZERO_CELSIUS_K
    t_hot = 3600.0
    scale = math.exp(card.ea_ev / K_B_EV_PER_K * (1.0 / t1 - 1.0 / t2))
    hot = memory.age(card, g0, t_s=t_hot, temperature_k=t2, seed=9)
    cold = memory.age(card, g0, t_s=t_hot * scale, temperature_k=t1, seed=9)
    np.testing.assert_allclose(hot, cold, rtol=1e-12)
    assert scale > 100.0  # 1 eV from 25 to 85 C: two to three orders of magnitude
    assert arrhenius_factor(card.ea_ev, 300.0) == 1.0
    # a factor beyond the doubles is refused by name; one below them is 0 (no ageing)
    with pytest.raises(InvalidParameterError, match="'ea_ev'.*stays finite"):
        arrhenius_factor(1e300, 400.0)
    assert arrhenius_factor(1e300, 200.0) == 0.0
    # temperatures whose reciprocals overflow: 1/T − 1/T_ref was inf − inf (NaN)
    assert arrhenius_factor(0.5, 5e-324, 5e-324) == 1.0
    assert arrhenius_factor(0.0, 5e-324, 300.0) == 1.0          # no activation: 0·inf
    assert arrhenius_factor(0.5, 5e-324, 1e-323) == 0.0         # colder: no ageing
    with pytest.raises(InvalidParameterError, match="'ea_ev'.*stays finite"):
        arrhenius_factor(0.5, 1e-323, 5e-324)


# --- bad input -------------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors():
    card = cards.load("yao2020_taox_1t1r")
    ok = np.full(4, 10e-6)
    with pytest.raises(InvalidParameterError, match="g_target_s.*finite"):
        program_write_verify(card, [np.nan, 1e-5], 1e-6)
    with pytest.raises(InvalidParameterError, match="g_target_s.*>="):
        program_write_verify(card, [-1e-6], 1e-6)
    with pytest.raises(InvalidParameterError, match="g_target_s.*<="):
        program_write_verify(card, [2 * card.g_max_s], 1e-6)
    with pytest.raises(InvalidParameterError, match="tolerance_s.*> 0"):
        program_write_verify(card, ok, 0.0)
    with pytest.raises(InvalidParameterError, match="tolerance_s.*> 0"):
        program_write_verify(card, ok, -1e-6)
    with pytest.raises(InvalidParameterError, match="tolerance_s"):
        program_write_verify(card, ok, np.ones(3) * 1e-6)
    with pytest.raises(InvalidParameterError, match="g_min_s < g_max_s"):
        program_write_verify(card.replace(g_min_s=card.g_max_s), ok, 1e-6)
    with pytest.raises(UnknownNameError, match="Known cards"):
        memory.program("no_such_card", ok)
    with pytest.raises(InvalidParameterError, match="memory card"):
        memory.program(card.mosfet_card, ok)
    with pytest.raises(InvalidParameterError, match="g_s.*>= 0"):
        memory.read_sigma_s(card, [-1e-6])
    with pytest.raises(InvalidParameterError, match="g_s.*finite"):
        memory.apply_faults(card, [np.inf])
    with pytest.raises(InvalidParameterError, match="t_s"):
        memory.age(card, ok, t_s=-1.0)
    with pytest.raises(InvalidParameterError, match="seed"):
        memory.program(card, ok, seed=-3)
    with pytest.raises(InvalidParameterError, match="max_pulses"):
        program_write_verify(card, ok, 1e-6, max_pulses=0)


# --- read noise of a tile's read (device_models.memory.read_noise) --------------------------


@pytest.mark.parametrize("name", RRAM_CARDS)
def test_read_noise_equals_the_card_figure_at_the_cards_own_read(name):
    """The excess noise is the card's figure less the white noise of the card's own read, so
    at that read (v_read_v, t_read_s, 300 K) the total current variance is the card's figure;
    the white part then follows the read's bandwidth and temperature."""
    from device_models.constants import K_B_J_PER_K
    from device_models.noise import conductor_psd

    card = cards.load(name)
    g = np.linspace(card.g_min_s, card.g_max_s, 50)
    rn = memory.read_noise(card, g, t_int_s=card.t_read_s, temperature_k=300.0)
    v = card.v_read_v
    np.testing.assert_allclose(rn.current_variance_a2(v), (v * read_sigma_rram(card, g)) ** 2,
                               rtol=1e-9)
    assert np.all(rn.sigma_s < read_sigma_rram(card, g))
    np.testing.assert_array_equal(rn.g_mean_s, g)   # 1 % noise: no rectification at all
    fast = memory.read_noise(card, g, t_int_s=card.t_read_s / 10, temperature_k=400.0)
    np.testing.assert_allclose(fast.sigma_s, rn.sigma_s, rtol=1e-15)
    np.testing.assert_allclose(fast.white_variance_a2(0.0),
                               4 * K_B_J_PER_K * 400.0 * g * 5.0 / card.t_read_s, rtol=1e-12)
    np.testing.assert_allclose(fast.white_variance_a2(v),
                               conductor_psd(g, v, 400.0) * 5.0 / card.t_read_s, rtol=1e-12)


def test_read_conductance_is_never_negative():
    """PCM at a low state: the 1/f noise is a large fraction of G; the read conductance
    max(G + σz, 0) has the rectified-Gaussian mean and variance the tile uses."""
    card = cards.load("joshi2020_pcm")
    g = np.array([0.0, 2e-8, 1e-7, 5e-7, 5e-6, 2e-5])
    rn = memory.read_noise(card, g, t_int_s=10e-9, t_s=1e5)
    assert np.all(rn.g_mean_s >= g) and np.all(rn.var_s2 <= rn.sigma_s ** 2 * (1 + 1e-12))
    z = np.random.default_rng(3).standard_normal((400_000, 1))
    draws = np.maximum(g + rn.sigma_s * z, 0.0)
    assert draws.min() == 0.0 and rn.sigma_s[1] > 0.5 * g[1]
    np.testing.assert_allclose(draws.mean(axis=0), rn.g_mean_s, rtol=5e-3, atol=1e-12)
    np.testing.assert_allclose(draws.var(axis=0), rn.var_s2, rtol=2e-2, atol=1e-24)
    assert rn.g_mean_s[0] == 0.0 and rn.var_s2[0] == 0.0
    # PCM 1/f noise integrated up to the read's own bandwidth 1/(2 t_int)
    np.testing.assert_allclose(
        rn.sigma_s[2:], memory.read_sigma_s(card, g, t_s=1e5)[2:] * np.sqrt(
            math.log((1e5 + 1e-8) / 2e-8) / math.log((1e5 + card.t_read_s) / (2 * card.t_read_s))),
        rtol=1e-12)


def test_rectified_kernel_equals_its_reference_bit_for_bit():
    """The rectified-Gaussian mean and variance of the two parallel passes (SciPy's ndtr by
    symbol, NumPy's exp between them) have the bits of the NumPy reference, on 1 and 2
    threads: no noise (σ = 0), no signal (G = 0), a ≫ 1 and a ≪ 1, subnormal G, σ = 1e-300
    (a² capped)."""
    rng = np.random.default_rng(5)
    g = rng.uniform(0.0, 1e-4, (37, 29))
    sigma = g * rng.uniform(0.0, 3.0, g.shape)
    sigma[0, :5], g[1, :5], sigma[2, :3], g[3, :3] = 0.0, 0.0, 1e-300, 1e-320
    sigma[4] = g[4] * 1e-3
    with use_backend("numpy"), np.errstate(over="ignore"):      # a² of a ~ 1e296
        ref = memory._rectified(g, sigma)
    old = numba.get_num_threads()
    try:
        for n in (1, 2):
            numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
            out = memory._rectified(g, sigma)
            for a, b in zip(out, ref, strict=True):
                assert a.shape == g.shape
                assert np.array_equal(a.view(np.int64), b.view(np.int64))
    finally:
        numba.set_num_threads(old)
    assert memory._ndtr is not None        # SciPy exports its ndtr: the kernels ran above


def test_rectified_without_scipys_ndtr_symbol_runs_the_reference(monkeypatch):
    """Where SciPy does not export ``ndtr`` by that name, the NumPy reference gives the terms."""
    g = np.array([1e-5, 2e-5, 0.0])
    sigma = np.array([1e-6, 0.0, 1e-6])
    with use_backend("numpy"):
        ref = memory._rectified(g, sigma)
    monkeypatch.setattr(memory, "_ndtr", None)
    for a, b in zip(memory._rectified(g, sigma), ref, strict=True):
        assert np.array_equal(a, b)
