"""Integrate-and-fire neurons: LIF closed forms, the analog membrane against its RC and
subthreshold-leak solutions, temperature and gate bias, kernels, bad input."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device_models import cards
from device_models._jit import use_backend
from device_models.constants import thermal_voltage_v
from device_models.errors import InvalidParameterError, UnknownNameError
from device_models.mosfet import EkvParams, ekv_params, mosfet_current
from device_models.neuron import (
    AnalogMembrane,
    analog_membrane,
    integrate_membrane,
    leak_gate_for_current_v,
    lif_first_spike_time_s,
    lif_rate_hz,
    rc_membrane_v,
    subthreshold_membrane_v,
)

CARD = "besrour2024_lif_28nm"


def _membrane(leak="none", *, c_f=100e-15, r_ohm=math.inf, transistor=None, vg=0.0, size=3,
              lo=-10.0, hi=10.0):
    p = transistor or ekv_params("ptm2006_65nm_nmos", 300.0)
    return AnalogMembrane(
        c_f=c_f, v_threshold_v=0.3, v_lo_v=lo, v_hi_v=hi, leak=leak, r_leak_ohm=r_ohm,
        v_gate_v=vg, transistor=p, dvt_v=np.zeros(size), beta_scale=np.ones(size),
        comparator_offset_v=np.zeros(size), reset_sigma_v=0.0, vdd_v=0.9, e_spike_j=0.0)


def test_neuron_card_loads_with_source():
    card = cards.load(CARD)
    assert card.kind == "neuron"
    assert card.source.year == 2024 and "28 nm" in card.source.title
    assert card.e_spike_j == pytest.approx(1.61e-15, rel=1e-6, abs=0.0)
    assert cards.load(card.leak_mosfet_card).kind == "mosfet"


@settings(max_examples=30)
@given(ri_over_theta=st.floats(1.01, 50.0), tau=st.floats(1e-6, 1e-1),
       t_ref=st.floats(0.0, 1e-2))
def test_lif_rate_closed_form_properties(ri_over_theta, tau, t_ref):
    r, th = 1e6, 0.3
    i = ri_over_theta * th / r
    f = float(lif_rate_hz(i, r, tau, th, t_ref))
    t_star = float(lif_first_spike_time_s(i, r, tau, th))
    # the membrane reaches θ exactly at t*
    assert float(rc_membrane_v(t_star, i, r, tau / r)) == pytest.approx(th, rel=1e-9)
    assert f == pytest.approx(1.0 / (t_ref + tau * math.log(ri_over_theta /
                                                            (ri_over_theta - 1.0))))
    # monotonic in the current; large-current limit 1/(t_ref + θ C / I)
    assert float(lif_rate_hz(2 * i, r, tau, th, t_ref)) > f
    big = 1e6 * i
    assert float(lif_rate_hz(big, r, tau, th, t_ref)) == pytest.approx(
        1.0 / (t_ref + th * (tau / r) / big), rel=1e-5)


def test_lif_first_spike_time_from_a_nonzero_start():
    """From V0 ≠ 0 the membrane V(t) = RI + (V0 − RI)e^{−t/τ} reaches θ at t*(V0), and the
    passage time composes: t*(0) = t(0 → V0) + t*(V0)."""
    r, tau, th, i = 1e6, 1e-3, 0.3, 0.5e-6      # RI = 0.5 V
    v0 = np.array([0.1, -0.2, 0.25])
    t_star = lif_first_spike_time_s(i, r, tau, th, v0_v=v0)
    np.testing.assert_allclose(r * i + (v0 - r * i) * np.exp(-t_star / tau), th, rtol=1e-12)
    assert t_star[0] == pytest.approx(tau * math.log(2.0), rel=1e-12, abs=0.0)   # ln(0.4/0.2)
    t_to_v0 = float(lif_first_spike_time_s(i, r, tau, 0.1))               # 0 → 0.1 V
    t_from_0 = float(lif_first_spike_time_s(i, r, tau, th))
    assert t_from_0 == pytest.approx(t_to_v0 + t_star[0], rel=1e-12, abs=0.0)
    assert t_from_0 == pytest.approx(tau * math.log(2.5), rel=1e-12, abs=0.0)


def test_lif_first_spike_time_refuses_shapes_that_do_not_broadcast():
    """Currents and start voltages of shapes that do not broadcast are refused by name (a
    CimSimError, not NumPy's broadcast error from inside the formula)."""
    from device_models.errors import CimSimError

    with pytest.raises(CimSimError, match="v0_v.*broadcastable with 'i_a'"):
        lif_first_spike_time_s(np.array([1e-6, 2e-6]), 1e6, 1e-3, 0.3, v0_v=[])
    with pytest.raises(CimSimError, match="v0_v.*broadcastable"):
        lif_first_spike_time_s(np.ones(3) * 1e-6, 1e6, 1e-3, 0.3, v0_v=np.zeros(2))
    assert lif_first_spike_time_s(np.ones((2, 1)) * 1e-6, 1e6, 1e-3, 0.3,
                                  v0_v=np.zeros(3)).shape == (2, 3)


def test_lif_rate_zero_below_rheobase():
    assert float(lif_rate_hz(0.29e-6, 1e6, 1e-3, 0.3)) == 0.0
    assert np.isinf(lif_first_spike_time_s(0.3e-6, 1e6, 1e-3, 0.3))


def test_rc_membrane_matches_closed_form(each_backend):
    r, c = 2e6, 100e-15                      # τ = 200 ns
    mem = _membrane("resistor", c_f=c, r_ohm=r, size=2)
    i = np.array([[0.1e-6, 0.4e-6]])
    v = np.zeros((1, 2))
    t_on, t_off = 10e-9, 40e-9
    for step in range(1, 11):
        v = integrate_membrane(v, i, mem, t_on, t_off)
        # exact: charge phase from v0, then free decay
        if step == 1:
            ref = np.array([float(rc_membrane_v(t_on, ii, r, c)) for ii in i[0]])
            ref = ref * math.exp(-t_off / (r * c))
            # RK4, 4 sub-steps of h = 10 ns per phase against τ = 200 ns: relative error
            # about 4·(h/τ)^5/120 ≈ 1e-8 (the 1e-9 of 16 sub-steps no longer holds)
            np.testing.assert_allclose(v[0], ref, rtol=5e-8)
    # after many steps: periodic steady state of the two-phase drive, exactly
    a_on, a_off = math.exp(-t_on / (r * c)), math.exp(-t_off / (r * c))
    v_ss = i[0] * r * (1 - a_on) * a_off / (1 - a_on * a_off)
    vv = v.copy()
    for _ in range(200):
        vv = integrate_membrane(vv, i, mem, t_on, t_off)
    # the per-step RK4 error (above) accumulates to ~5e-8 in the periodic steady state
    np.testing.assert_allclose(vv[0], v_ss, rtol=2e-7)


def test_subthreshold_leak_matches_closed_form(each_backend):
    """Deep weak inversion, no DIBL: the EKV leak is I_0 (1 − e^{−V/U_T}) to ~1e-5, and the
    integrated membrane follows the exact solution of C dV/dt = I − I_0(1 − e^{−V/U_T})."""
    base = ekv_params("ptm2006_65nm_nmos", 300.0)
    p = base._replace(dibl_v_per_v=0.0, clm_per_v=0.0)
    vg = p.vt0_v - 0.9                     # (V_G − V_T)/(2 n U_T) ≈ −11.6
    i0 = p.i_spec_a * math.exp((vg - p.vt0_v) / (p.n * p.ut_v))
    c = 1e-15
    mem = _membrane("transistor", c_f=c, transistor=p, vg=vg, size=1)
    # leak current law
    v = np.array([0.005, 0.02, 0.1, 0.3])
    np.testing.assert_allclose(mem.leak_current_a(v[:, None])[:, 0],
                               i0 * (1 - np.exp(-v / p.ut_v)), rtol=2e-5)
    # charge at constant current I > I_0, then decay from 0.3 V with no input
    t_on = 20.0 * c * 0.3 / i0
    i_in = 2.0 * i0
    got = integrate_membrane(np.zeros((1, 1)), np.full((1, 1), i_in), mem, t_on, 0.0,
                             substeps=400)
    ref = float(subthreshold_membrane_v(t_on, i_in, i0, c, p.ut_v))
    assert got[0, 0] == pytest.approx(ref, rel=5e-5)
    t_off = 0.5 * c * 0.3 / i0
    got = integrate_membrane(np.full((1, 1), 0.3), np.zeros((1, 1)), mem, 0.0, t_off,
                             substeps=100)
    ref = float(subthreshold_membrane_v(t_off, 0.0, i0, c, p.ut_v, v0_v=0.3))
    assert got[0, 0] == pytest.approx(ref, rel=5e-5)
    # far above U_T the leak is a current source: linear decay
    assert got[0, 0] == pytest.approx(0.3 - i0 * t_off / c, rel=2e-3)


def test_subthreshold_closed_form_solves_its_ode():
    i, i0, c, ut = 3e-12, 1e-12, 1e-15, 0.0259
    t = np.linspace(0.0, 1e-3, 201)
    v = subthreshold_membrane_v(t, i, i0, c, ut, v0_v=0.05)
    dvdt = np.gradient(v, t)
    rhs = (i - i0 * (1 - np.exp(-v / ut))) / c
    np.testing.assert_allclose(dvdt[1:-1], rhs[1:-1], rtol=2e-3)
    # α = 0 branch (I = I_0) is the limit of the general one
    a = subthreshold_membrane_v(1e-4, i0, i0, c, ut)
    b = subthreshold_membrane_v(1e-4, i0 * (1 + 1e-7), i0, c, ut)
    assert float(a) == pytest.approx(float(b), rel=1e-6)

    # rates beyond the doubles (I0/(C·U_T) overflows; inf·0 at t = 0 gave NaN): V0 at t = 0,
    # then at once the steady state U_T·ln(I0/(I0 − I)), or a voltage beyond the doubles
    fast = subthreshold_membrane_v(np.array([0.0, 1.0]), 0.5e308, 1e308, 1e-300, 0.2,
                                   v0_v=0.1)
    assert fast[0] == pytest.approx(0.1, rel=1e-15)
    assert fast[1] == pytest.approx(0.2 * math.log(2.0), rel=1e-12)
    assert np.array_equal(subthreshold_membrane_v(np.array([0.0, 1.0]), 1e308, 1e308, 1e-300,
                                                  0.2), [0.0, np.inf])
    with pytest.raises(InvalidParameterError, match="'v0_v' parameter .* inside the doubles"):
        subthreshold_membrane_v(0.0, 0.0, 1.0, 1.0, 0.01, v0_v=8.0)


def test_kernel_equals_numpy_reference():
    mem = analog_membrane(CARD, 50, c_f=50e-15, temperature_k=330.0, leak="transistor",
                          leak_current_a=5e-8, seed=3)
    gen = np.random.default_rng(0)
    v = gen.uniform(-0.3, 0.6, (4, 50))
    i = gen.uniform(-2e-6, 4e-6, (4, 50))
    with use_backend("numba"):
        a = mem.integrate(v, i, 10e-9, 30e-9)
    with use_backend("numpy"):
        b = mem.integrate(v, i, 10e-9, 30e-9)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert np.all(a >= mem.v_lo_v) and np.all(a <= mem.v_hi_v)


def test_leak_gate_voltage_inverts_ekv():
    p = ekv_params("ptm2006_65nm_nmos", 300.0, 0.2e-6, 1e-6)
    for target in (1e-12, 1e-9, 1e-7):
        vg = leak_gate_for_current_v(target, 0.3, p)
        assert float(mosfet_current(vg, 0.3, p)) == pytest.approx(target, rel=1e-9, abs=0.0)
    with pytest.raises(InvalidParameterError, match="'i_target_a'"):
        leak_gate_for_current_v(1.0, 0.3, p)


def test_leak_moves_with_temperature_and_gate_bias():
    """Same trimmed gate bias, hotter chip: more leak (exponential in U_T and V_T(T)); a
    higher gate bias leaks more. The effective time constant C·V_θ/I_leak moves inversely."""
    leaks = []
    for t in (250.0, 300.0, 350.0, 400.0):
        m = analog_membrane(CARD, 1, c_f=100e-15, temperature_k=t, leak="transistor",
                            leak_current_a=1e-9, mismatch=False)
        leaks.append(float(m.leak_current_a(np.array([0.3]))[0]))
    assert leaks[1] == pytest.approx(1e-9, rel=1e-6, abs=0.0)       # trimmed at t_cal_k = 300 K
    assert all(b > a for a, b in zip(leaks, leaks[1:], strict=False))
    assert leaks[-1] > 5 * leaks[1]
    lo = analog_membrane(CARD, 1, c_f=100e-15, temperature_k=300.0, leak="transistor",
                         leak_current_a=1e-10, mismatch=False)
    assert lo.v_gate_v < analog_membrane(CARD, 1, c_f=100e-15, temperature_k=300.0,
                                         leak="transistor", leak_current_a=1e-9,
                                         mismatch=False).v_gate_v
    # an "off" leak (gate at rest) still conducts the off-current, which rises with T
    off = [float(analog_membrane(CARD, 1, c_f=100e-15, temperature_k=t, leak="transistor",
                                 mismatch=False).leak_current_a(np.array([0.3]))[0])
           for t in (300.0, 400.0)]
    assert 0.0 < off[0] < off[1]


def test_mismatch_is_seeded_and_sized_by_pelgrom():
    a = analog_membrane(CARD, 4000, c_f=100e-15, temperature_k=300.0, leak="transistor",
                        leak_current_a=1e-9, seed=7)
    b = analog_membrane(CARD, 4000, c_f=100e-15, temperature_k=300.0, leak="transistor",
                        leak_current_a=1e-9, seed=7)
    np.testing.assert_array_equal(a.comparator_offset_v, b.comparator_offset_v)
    card = cards.load(CARD)
    avt = cards.load(card.leak_mosfet_card).avt_v_m
    want = math.sqrt(2) * avt / math.sqrt(card.comparator_w_m * card.comparator_l_m)
    assert np.std(a.comparator_offset_v) == pytest.approx(want, rel=0.05)
    assert a.reset_sigma_v == pytest.approx(math.sqrt(1.380649e-23 * 300 / 100e-15))
    assert a.fires(np.full(4000, 0.3 + 0.1)).all()


def test_reset_noise_is_counter_based():
    m = analog_membrane(CARD, 2, c_f=10e-15, temperature_k=300.0, leak="none")
    a = m.reset_noise_v(5, np.arange(10))
    b = m.reset_noise_v(5, np.arange(5, 10))
    np.testing.assert_array_equal(a[5:], b)
    assert np.std(m.reset_noise_v(5, np.arange(20000))) == pytest.approx(m.reset_sigma_v,
                                                                         rel=0.03)


def test_bad_input():
    mem = _membrane(size=3)
    with pytest.raises(InvalidParameterError, match="'i_in_a'"):
        integrate_membrane(np.zeros((2, 3)), np.zeros((2, 4)), mem, 1e-9, 1e-9)
    with pytest.raises(InvalidParameterError, match="'v_v'"):
        integrate_membrane(np.full((1, 3), np.nan), np.zeros((1, 3)), mem, 1e-9, 1e-9)
    with pytest.raises(InvalidParameterError, match="'t_on_s'"):
        integrate_membrane(np.zeros((1, 3)), np.zeros((1, 3)), mem, -1e-9, 1e-9)
    with pytest.raises(InvalidParameterError, match="'membrane'"):
        integrate_membrane(np.zeros((1, 3)), np.zeros((1, 3)), "mem", 1e-9, 1e-9)
    with pytest.raises(InvalidParameterError, match="'threshold_v'"):
        lif_rate_hz(1e-6, 1e6, 1e-3, 0.0)
    with pytest.raises(InvalidParameterError, match="'card'"):
        analog_membrane("ptm2006_65nm_nmos", 2, c_f=1e-15, temperature_k=300.0, leak="none")
    with pytest.raises(UnknownNameError, match="'leak'"):
        analog_membrane(CARD, 2, c_f=1e-15, temperature_k=300.0, leak="diode")
    with pytest.raises(InvalidParameterError, match="'r_leak_ohm'"):
        analog_membrane(CARD, 2, c_f=1e-15, temperature_k=300.0, leak="resistor")
    assert dataclasses.is_dataclass(mem)
    assert isinstance(mem.transistor, EkvParams)
    assert thermal_voltage_v(300.0) == pytest.approx(mem.transistor.ut_v)


def test_rc_membrane_v_limits_and_extremes():
    """V(0) = V0 and V(∞) = R I; a steady state or a time constant the doubles cannot hold is
    refused by name; V0 and R I of opposite sign near the largest double give no NaN."""
    t = np.array([0.0, 1e-3, 1e3])
    v = rc_membrane_v(t, 1e-6, 1e5, 1e-9, v0_v=0.3)
    assert v[0] == 0.3 and v[2] == pytest.approx(0.1, rel=1e-15)
    assert v[1] == pytest.approx(0.1 + 0.2 * math.exp(-1e-3 / 1e-4), rel=1e-14)
    with pytest.raises(InvalidParameterError, match="'i_a'.*R·I stays finite"):
        rc_membrane_v(0.0, 1e308, 1e308, 0.2)
    with pytest.raises(InvalidParameterError, match="'c_f'.*underflow"):
        rc_membrane_v(0.0, 1.0, 1e-200, 1e-200)
    v = rc_membrane_v(np.array([0.0, 1.0, 1e9]), -1e4, 1e304, 1e-300, v0_v=1e308)
    assert np.all(np.isfinite(v)) and v[0] == 1e308 and v[2] == -1e308
