"""1T1R cell: series transistor + RRAM solve, compliance, subthreshold mode (issue 4)."""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from device_models import CellIV, InvalidParameterError, SinhIV, cards
from device_models._jit import use_backend
from device_models.constants import thermal_voltage_v
from device_models.mosfet import mosfet_current
from device_models.one_t_one_r import (
    OneTOneRIV,
    solve_1t1r,
    subthreshold_slope_v_per_decade,
    subthreshold_temperature_coefficient,
)
from device_models.programming import compliance, program_write_verify

CARD = "yao2020_taox_1t1r"


def _grid():
    v = np.linspace(-1.0, 1.0, 21)
    vg = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.2, 1.8, 3.0])
    g = np.geomspace(1e-7, 1e-3, 7)
    return np.meshgrid(v, vg, g, indexing="ij")


@pytest.mark.parametrize("temperature_k", [250.0, 300.0, 400.0])
def test_kcl_holds_in_every_region(each_backend, temperature_k):
    card = cards.load(CARD)
    v, vg, g = _grid()
    sol = solve_1t1r(card, v, g, v_gate_v=vg, temperature_k=temperature_k)
    i_t = mosfet_current(vg, v - sol.v_rram_v, card.mosfet_card, temperature_k,
                         w_m=card.w_m, l_m=card.l_m)
    i_r = SinhIV(card.v0_v).current(sol.v_rram_v, g)
    nz = np.abs(i_r) > 0
    assert np.all(nz[v != 0])
    rel = np.abs(i_r - i_t)[nz] / np.abs(i_r[nz])
    assert rel.max() < 1e-9
    np.testing.assert_allclose(sol.i_a, i_r, rtol=1e-15)
    # The RRAM voltage lies between 0 and V, with the sign of V.
    assert np.all(np.abs(sol.v_rram_v) <= np.abs(v)) and np.all(sol.v_rram_v * v >= 0)
    assert np.all(sol.di_dv_s >= 0)


def test_strongly_on_reduces_to_rram_alone():
    card = cards.load(CARD)
    v = np.linspace(0.02, 0.3, 8)
    law = SinhIV(card.v0_v)
    errs = []
    for vg in (2.0, 4.0, 8.0):
        for g in (1e-6, 2e-5):
            i = solve_1t1r(card, v, g, v_gate_v=vg).i_a
            errs.append(np.max(np.abs(i / law.current(v, g) - 1.0)))
    errs = np.array(errs).reshape(3, 2)  # (gate voltage, conductance)
    assert np.all(np.diff(errs, axis=0) < 0)  # converges as the gate opens
    assert errs[-1].max() < 5e-3  # within 0.5 % of the RRAM alone at V_G = 8 V
    # The on-resistance approximation I ≈ V/(1/g + 1/g_ch) holds to first order.
    i = solve_1t1r(card, 1e-4, 2e-5, v_gate_v=8.0).i_a
    g_ch = mosfet_current(8.0, 1e-6, card.mosfet_card, w_m=card.w_m, l_m=card.l_m) / 1e-6
    assert i == pytest.approx(1e-4 / (1 / 2e-5 + 1 / g_ch), rel=1e-3, abs=0.0)


@pytest.mark.parametrize("temperature_k", [250.0, 300.0, 350.0])
def test_subthreshold_slope_is_n_ut_ln10_per_decade(temperature_k):
    card = cards.load(CARD)
    n = cards.load(card.mosfet_card).slope_factor_n
    expected = n * thermal_voltage_v(temperature_k) * math.log(10.0)
    assert subthreshold_slope_v_per_decade(card, temperature_k) == pytest.approx(expected)
    vg = np.linspace(-0.1, 0.1, 9)  # deep weak inversion of the access transistor
    i = solve_1t1r(card, card.v_read_v, 2e-5, v_gate_v=vg, temperature_k=temperature_k).i_a
    swing = np.diff(vg) / np.diff(np.log10(i))
    np.testing.assert_allclose(swing, expected, rtol=0.01)


def test_subthreshold_temperature_sensitivity_is_exposed():
    card = cards.load(CARD)
    sub = subthreshold_temperature_coefficient(card, 0.1, 2e-5)
    on = subthreshold_temperature_coefficient(card, card.v_gate_read_v, 2e-5)
    assert sub > 0.02  # several percent per kelvin in weak inversion
    assert abs(on) < 0.1 * sub  # strongly on, the RRAM sets the current
    # Deeper below threshold, more sensitive.
    deeper = subthreshold_temperature_coefficient(card, -0.1, 2e-5)
    assert deeper > sub
    # no cell current (g = 0 or no cell voltage): ln 0 − ln 0 was NaN; now refused by name
    with pytest.raises(InvalidParameterError, match="'g_s' parameter .* other than 0 A"):
        subthreshold_temperature_coefficient(card, 0.1, np.array([2e-5, 0.0]))
    with pytest.raises(InvalidParameterError, match="'v_v' parameter .* other than 0 A"):
        subthreshold_temperature_coefficient(card, 0.1, 2e-5, v_v=0.0)


def test_subthreshold_temperature_coefficient_is_d_ln_i_d_t():
    """The coefficient is d ln|I|/dT of the cell current: an independent central difference of
    ln I over T ± 0.05 K of solve_1t1r at the same bias agrees (default half-step 0.5 K)."""
    card = cards.load(CARD)
    vg = np.array([-0.1, 0.1, card.v_gate_read_v])
    i_hi, i_lo = (solve_1t1r(card, card.v_read_v, 2e-5, v_gate_v=vg, temperature_k=t).i_a
                  for t in (300.05, 299.95))
    expected = (np.log(i_hi) - np.log(i_lo)) / 0.1
    got = subthreshold_temperature_coefficient(card, vg, 2e-5)
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_kernel_equals_reference():
    card = cards.load(CARD)
    v, vg, g = _grid()
    with use_backend("numba"):
        a = solve_1t1r(card, v, g, v_gate_v=vg)
    with use_backend("numpy"):
        b = solve_1t1r(card, v, g, v_gate_v=vg)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-300)


def test_thread_count_independent():
    card = cards.load(CARD)
    v, vg, g = _grid()
    a = solve_1t1r(card, v, g, v_gate_v=vg)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        b = solve_1t1r(card, v, g, v_gate_v=vg)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(a.i_a, b.i_a)


def test_cell_law_follows_protocol_and_derivative():
    card = cards.load(CARD)
    law = OneTOneRIV.from_card(card)
    assert isinstance(law, CellIV) and not law.is_linear
    v = np.linspace(-0.5, 0.5, 11)[:, None]
    g = np.array([2e-6, 2e-5, 2e-4])
    i, d = law.current_and_derivative(v, g)
    np.testing.assert_array_equal(i, law.current(v, g))
    h = 1e-6
    fd = (law.current(v + h, g) - law.current(v - h, g)) / (2 * h)
    np.testing.assert_allclose(d, fd, rtol=1e-5)
    # Low gate voltage: the transistor, not the RRAM, limits the cell.
    weak = OneTOneRIV.from_card(card, v_gate_v=0.3).current(0.2, g)
    assert weak[2] < 1.5 * weak[0]


def test_set_compliance_follows_gate_voltage():
    card = cards.load(CARD)
    comps = [compliance(card, v_gate_set_v=vg)[1] for vg in (0.55, 0.65, 0.75, 0.9)]
    assert np.all(np.diff(comps) > 0)
    i_comp, g_comp = compliance(card, v_gate_set_v=0.6)
    assert g_comp < 15e-6
    res = program_write_verify(card, np.full(2000, 15e-6), 0.3e-6, seed=1, v_gate_set_v=0.6)
    assert not res.converged.any()
    assert np.median(res.g_s) < g_comp
    ok = program_write_verify(card, np.full(2000, 15e-6), 0.3e-6, seed=1)
    assert ok.converged.mean() > 0.97
    assert compliance("wan2022_hfox_rram") == (math.inf, math.inf)
    # Below the zero-temperature-coefficient point (about 0.45-0.5 V for this card, as for the
    # BSIM3 card it follows) V_T(T) dominates (hotter: more current); well above it the
    # mobility does (hotter: less current) -- the compliance moves with temperature either way.
    def hot_over_cold(vg):
        return (compliance(card, v_gate_set_v=vg, temperature_k=350.0)[0]
                / compliance(card, v_gate_set_v=vg)[0])

    assert hot_over_cold(0.4) > 1.0 > hot_over_cold(1.5)


def test_bad_inputs():
    card = cards.load(CARD)
    with pytest.raises(InvalidParameterError, match="1t1r card"):
        solve_1t1r("wan2022_hfox_rram", 0.1, 1e-5)
    with pytest.raises(InvalidParameterError, match="v_v.*finite"):
        solve_1t1r(card, np.nan, 1e-5)
    with pytest.raises(InvalidParameterError, match="g_s.*>= 0"):
        solve_1t1r(card, 0.1, -1e-5)
    with pytest.raises(InvalidParameterError, match="temperature_k"):
        solve_1t1r(card, 0.1, 1e-5, temperature_k=0.0)
    with pytest.raises(InvalidParameterError, match="g_s.*broadcastable"):
        solve_1t1r(card, np.zeros(3), np.ones(4) * 1e-5)
    with pytest.raises(InvalidParameterError, match="NMOS"):
        solve_1t1r(card.replace(mosfet_card="horowitz2014_45nm"), 0.1, 1e-5)


def test_cell_law_in_crossbar_solver():
    from cimsim.array.crossbar import column_currents

    law = OneTOneRIV.from_card(CARD)
    rng = np.random.default_rng(0)
    g = rng.uniform(2e-6, 20e-6, (16, 8))
    v = rng.uniform(0.0, 0.2, (3, 16))
    ideal = column_currents(g, v, 0.0, cell=law)
    np.testing.assert_allclose(ideal, law.current(v[:, :, None], g[None]).sum(axis=1),
                               rtol=1e-12)
    wired = column_currents(g, v, 2.0, cell=law)
    assert np.all(wired < ideal) and np.all(wired > 0.9 * ideal)
