"""Tiles on the cells' physics: cell laws, programming for the law, temperature, wires."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.array.crossbar import column_currents
from cimsim.array.expansion import expand
from cimsim.hardware import HardwareConfig
from cimsim.tile import cells, laws
from cimsim.tile.matrix import AnalogMatrix
from device_models import SinhIV, cards
from device_models.errors import ConfigError
from device_models.iv import LinearIV, conductance_for_current, conductance_temperature_factor
from device_models.one_t_one_r import OneTOneRIV, subthreshold_slope_v_per_decade

CARD = "yao2020_taox_1t1r"


def _hw(base: HardwareConfig | None = None, **tile) -> HardwareConfig:
    base = HardwareConfig.ideal() if base is None else base
    return base.replace(tile=base.tile.replace(**tile))


def _data(n_in, n_out, batch, seed=0, signed=True):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0 if signed else 0.0, 1.0, (batch, n_in))
    return rng.normal(size=(n_in, n_out)), x


def _recombine(m: AnalogMatrix, x: np.ndarray, **wires) -> np.ndarray:
    """Digital recombination of ``column_currents(..., cell=tile.law)`` on the programmed
    conductances of a one-tile unquantised matrix with amplitude inputs."""
    (tile,) = m.tiles
    tc = m.hw.tile
    enc = m.encoder
    g = tile.conductances(m.hw.t_s)
    v = enc.codes(x) * enc.v_read_v        # unquantised codes in [-1, 1] (c_max = 1)
    if wires:
        full = np.full((tc.rows, tc.cols), tile.card.g_min_s)
        full[: g.shape[0], : g.shape[1]] = g
        vf = np.zeros((v.shape[0], tc.rows))
        vf[:, : v.shape[1]] = v
        cur = column_currents(full, vf, cell=tile.law, **wires)[:, : g.shape[1]]
    else:
        cur = column_currents(g, v, cell=tile.law)
    mp = tile.mapping
    sig = cur[:, mp.pos_col] - cur[:, mp.neg_col]
    y = np.zeros((x.shape[0], m.out_features))
    coef = mp.digital_weight * enc.x_lsb / enc.plane_volts_per_code(0)
    np.add.at(y.T, mp.out_index, (sig * coef).T)
    return y


def _bound(m: AnalogMatrix) -> float:
    """Output error allowed by the stated bound of the array read's expansion: two cells per
    signal column, every row at the bound, times the digital weight."""
    read = cells.array_read(m.blocks[0][2], m.hw.t_s, m.encoder, np.float64)
    coef = np.max(np.abs(m.tiles[0].mapping.digital_weight)) * m.encoder.x_lsb / (
        m.encoder.plane_volts_per_code(0))
    return 2 * m.tiles[0].rows_used * read.bound_a * coef


# --- configuration and bad input ---------------------------------------------------------


def test_cell_fields_validate_and_name_the_field():
    with pytest.raises(ConfigError, match="'cell'.*'linear', 'sinh', '1t1r', 'auto'"):
        HardwareConfig().replace_path("tile.cell", "diode")
    with pytest.raises(ConfigError, match="'v_gate_v'.*in \\[0.0, 5.0\\]"):
        HardwareConfig().replace_path("tile.cell", "1t1r").replace_path("tile.v_gate_v", 7.0)
    with pytest.raises(ConfigError, match="'v_gate_v'.*None when cell is 'sinh'"):
        HardwareConfig().replace_path("tile.cell", "sinh").replace_path("tile.v_gate_v", 0.5)
    with pytest.raises(ConfigError, match="'v_gate_verify_v'.*None when cell is 'linear'"):
        HardwareConfig().replace_path("tile.v_gate_verify_v", 0.5)
    with pytest.raises(ConfigError, match="'tile.cell'.*1t1r device card.*'rram'"):
        HardwareConfig(device_card="wan2022_hfox_rram").replace_path("tile.cell", "1t1r")
    with pytest.raises(ConfigError, match="'tile.v_gate_v'.*1t1r device card"):
        HardwareConfig(device_card="joshi2020_pcm").replace_path(
            "tile.cell", "auto").replace_path("tile.v_gate_v", 0.5)
    # above the access transistor's supply: named when the tile is built
    hw = _hw(cell="1t1r", v_gate_v=2.5, rows=8, cols=8)
    with pytest.raises(ConfigError, match="'tile.v_gate_v'.*vdd_v.*mosis2001"):
        AnalogMatrix(np.ones((4, 2)), hw)
    hw = HardwareConfig().replace_path("tile.cell", "1t1r").replace_path("tile.v_gate_v", 0.4)
    assert HardwareConfig.from_dict(hw.to_dict()) == hw


def test_auto_follows_the_card():
    w = np.ones((4, 2))
    assert isinstance(AnalogMatrix(w, _hw(cell="auto", rows=8, cols=8)).tiles[0].law,
                      OneTOneRIV)
    hw = _hw(HardwareConfig.ideal(device_card="wan2022_hfox_rram"), cell="auto", rows=8,
             cols=8)
    law = AnalogMatrix(w, hw).tiles[0].law
    assert isinstance(law, SinhIV) and law.v0_v == cards.load("wan2022_hfox_rram").v0_v
    assert AnalogMatrix(w, _hw(rows=8, cols=8)).tiles[0].law is None      # default: linear


# --- device-model additions --------------------------------------------------------------


@pytest.mark.parametrize("vg", [1.8, 0.6, 0.45, 0.3])
def test_g_derivative_of_every_law_is_the_finite_difference(vg):
    g = np.array([1e-6, 5e-6, 2e-5])
    for law in (LinearIV(), SinhIV(0.3), OneTOneRIV.from_card(CARD, v_gate_v=vg)):
        for v in (0.2, -0.15):
            i, d = law.current_and_g_derivative(v, g)
            h = 1e-4 * g
            fd = (law.current(v, g + h) - law.current(v, g - h)) / (2 * h)
            np.testing.assert_allclose(i, law.current(v, g), rtol=1e-14)
            np.testing.assert_allclose(d, fd, rtol=1e-6)


@settings(max_examples=30)
@given(vg=st.floats(0.3, 1.8), v=st.floats(0.05, 0.3), frac=st.floats(0.05, 1.0))
def test_conductance_for_current_inverts_the_1t1r_law(vg, v, frac):
    law = OneTOneRIV.from_card(CARD, v_gate_v=vg)
    g_max = 1e-4
    reach = float(law.current(v, g_max))
    i = frac * reach * np.array([0.1, 0.5, 0.99])
    g = conductance_for_current(law, i, v, g_max_s=g_max)
    np.testing.assert_allclose(law.current(v, g), i, rtol=1e-9)
    # beyond the transistor's current: saturates at the cap
    assert conductance_for_current(law, np.array([2 * reach]), v, g_max_s=g_max)[0] == g_max


def test_conductance_temperature_factor_reads_the_card_field(tmp_path):
    card = cards.load(CARD)
    assert conductance_temperature_factor(card, 400.0, 300.0) == pytest.approx(
        np.exp(100.0 * card.g_tc_per_k), rel=1e-15)
    c = cards.load(str(_card_with_tc(tmp_path, 2e-3)))
    assert conductance_temperature_factor(c, 350.0, 300.0) == pytest.approx(np.exp(0.1))
    assert conductance_temperature_factor(c, 300.0, 300.0) == 1.0


def _card_with_tc(tmp_path, alpha):
    """A copy of the 1T1R card with ``g_tc_per_k = alpha``."""
    lines = (cards.card_dirs()[0] / f"{CARD}.toml").read_text(encoding="utf-8").splitlines()
    lines = [ln for ln in lines if not ln.startswith("g_tc_per_k")]
    lines.append(f'g_tc_per_k = {{ value = {alpha!r}, unit = "1/K", note = "test" }}')
    path = tmp_path / f"tc_{alpha:g}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- expansion --------------------------------------------------------------------------


@pytest.mark.parametrize("vg", [1.8, 0.6, 0.5, 0.4])
def test_expansion_error_stays_within_its_bound(vg):
    law = OneTOneRIV.from_card(CARD, v_gate_v=vg)
    volts = np.linspace(-0.2, 0.2, 255)
    ex = expand(lambda g, v: law.current(v, g), 1.8e-6, 2.2e-5, volts, cells.TABLE_RTOL)
    assert ex.bound <= cells.TABLE_RTOL * ex.scale
    g = np.random.default_rng(1).uniform(1.8e-6, 2.2e-5, 200)
    err = np.abs(ex.values(g) - law.current(volts[None, :], g[:, None]))
    assert err.max() <= 2.0 * ex.bound + 1e-12 * ex.scale
    assert ex.rank <= 12


def test_separable_law_is_exact_in_one_term():
    law = SinhIV(0.4)
    volts = np.linspace(0.0, 0.2, 33)
    ex = expand(lambda g, v: law.current(v, g), 1e-6, 2e-5, volts, cells.TABLE_RTOL)
    assert ex.rank == 1 and ex.bound <= 1e-14 * ex.scale


def test_lookup_histogram_and_sign_split_kernels_equal_their_references(each_backend):
    rng = np.random.default_rng(2)
    tab = rng.normal(size=(3, 11))
    codes = rng.integers(-5, 6, (7, 9)).astype(np.int32)
    out = np.empty((7, 27))
    cells._lookup(codes, (-5, None), tab, out)
    np.testing.assert_array_equal(out.reshape(7, 3, 9).transpose(1, 0, 2),
                                  tab[:, codes + 5])
    fc = rng.uniform(-1, 1, (7, 9))
    cells._lookup(fc, (-1.0, 5.0), tab, out)
    pos = (fc + 1.0) * 5.0
    k = np.minimum(np.floor(pos).astype(int), 9)
    ref = tab[:, k] * (1 - (pos - k)) + tab[:, k + 1] * (pos - k)
    np.testing.assert_allclose(out.reshape(7, 3, 9).transpose(1, 0, 2), ref, rtol=1e-14)
    hist = cells._histogram(codes, -5, 11)
    np.testing.assert_array_equal(hist, [np.bincount(codes[:, i] + 5, minlength=11)
                                         for i in range(9)])
    v = rng.normal(size=(5, 6)).astype(np.float32)
    pm = cells._split_signs(v)
    np.testing.assert_array_equal(pm[:, :6] + pm[:, 6:], v)
    assert np.all(pm[:, :6] >= 0) and np.all(pm[:, 6:] <= 0)
    w = rng.normal(size=(5, 2))
    phi = cells._pulse_operands(v, w).reshape(5, 2, 6)
    x = v.astype(np.float64)
    u = [np.maximum(x, 0) ** 2, np.minimum(x, 0) ** 2, np.abs(x), np.maximum(x, 0),
         -np.minimum(x, 0)]
    for r in range(2):
        np.testing.assert_allclose(phi[:, r], sum(w[k, r] * u[k] for k in range(5)),
                                   rtol=1e-6, atol=1e-6)
    # the read-noise operand packed for the bfloat16 kernel in one pass: bitwise the packing
    # of the two-step operand, padding included, and the same GEMM on every path
    from cimsim.kernels import bf16_gemm

    for n_b, n in ((5, 6), (13, 7)):
        vv = rng.normal(size=(n_b, n)).astype(np.float32)
        ww = np.abs(rng.normal(size=(5, 2)))
        kp = -(-2 * n // 2)
        got = np.full((-(-n_b // 8), kp, 8, 2), 7, dtype=np.uint16)
        ref = np.full_like(got, 7)
        scale = np.float32(2.0 ** 5)
        cells._pulse_operands_fill_kernel(vv, ww, scale, got)
        bf16_gemm._pack_a_kernel(cells._pulse_operands(vv, ww).copy(), scale, ref)
        np.testing.assert_array_equal(got, ref)
        mat = bf16_gemm.pack(np.abs(rng.normal(size=(2 * n, 3))))
        np.testing.assert_array_equal(
            cells._pulse_variance_gemm(vv, ww, mat, np.empty((n_b, 3), np.float32)),
            cells.variance_gemm(cells._pulse_operands(vv, ww).copy(), mat,
                                np.empty((n_b, 3), np.float32)))
    for bits in (False, True):
        total, pos = cells._pulse_on_time(codes, bits)
        mag = np.bitwise_count(np.abs(codes)) if bits else np.abs(codes)
        np.testing.assert_array_equal(total, mag.sum(axis=0))
        np.testing.assert_array_equal(pos, np.where(codes > 0, mag, 0).sum(axis=0))


# --- small-signal limits and regions ----------------------------------------------------


def test_sinh_small_signal_limit_and_deviation_near_v0():
    w, x = _data(24, 6, 16, seed=3)
    v0 = cards.load(CARD).v0_v
    err = {}
    for v_read in (0.005, v0):
        m = AnalogMatrix(w, _hw(cell="sinh", rows=32, cols=16, v_read_v=v_read)).calibrate(x)
        y, _ = m.matmul(x)
        ref = x @ m.weight_quantized
        err[v_read] = np.max(np.abs(y - ref)) / np.max(np.abs(ref))
    assert err[0.005] < 1e-3
    assert err[v0] > 2e-2         # I/(g V) varies by sinh(1)/1 - 1 = 18 % across the levels


def test_1t1r_in_strong_inversion_matches_linear_cells():
    w, x = _data(24, 6, 16, seed=4)
    lin = AnalogMatrix(w, _hw(rows=32, cols=16)).calibrate(x).matmul(x)[0]
    y = AnalogMatrix(w, _hw(cell="1t1r", rows=32, cols=16)).calibrate(x).matmul(x)[0]
    assert np.max(np.abs(y - lin)) < 0.04 * np.max(np.abs(lin))


def test_programming_targets_the_verify_current():
    """Verify at full read voltage: the programmed cell carries g_t·V_read there, for targets
    mapped onto the window of read currents the card's conductance window gives."""
    hw = _hw(cell="1t1r", rows=8, cols=8)
    card = cards.load(CARD)
    g_lo, g_hi = laws.current_window(hw, card)
    g_t = np.linspace(g_lo, g_hi, 9)
    g, tol = laws.program_targets(hw, card, g_t)
    law = laws.verify_law(hw, card)
    assert np.all((g >= card.g_min_s) & (g <= card.g_max_s))
    np.testing.assert_allclose(g[[0, -1]], [card.g_min_s, card.g_max_s], rtol=1e-9)
    np.testing.assert_allclose(law.current(hw.tile.v_read_v, g), g_t * hw.tile.v_read_v,
                               rtol=1e-9)
    assert np.all(tol > 0)
    # an ideal chip read as verified gives x @ W in the small-signal limit
    w, x = _data(16, 4, 8, seed=14)
    for v_read, tol_rel in ((0.01, 1e-3), (0.2, 5e-2)):
        m = AnalogMatrix(w, _hw(cell="1t1r", rows=16, cols=8, v_read_v=v_read)).calibrate(x)
        ref = x @ m.weight_quantized
        assert np.max(np.abs(m.matmul(x)[0] - ref)) < tol_rel * np.max(np.abs(ref))


def test_subthreshold_falls_one_decade_per_swing():
    """Below V_T the cells are transistor-limited: every cell current, hence the cells' read
    energy, falls one decade per n·U_T·ln 10 of gate voltage; the differential output,
    whose conductance contrast also fades, falls at least as fast."""
    w, x = _data(24, 6, 16, seed=5, signed=False)
    s = subthreshold_slope_v_per_decade(CARD, 300.0)
    e, y = [], []
    for vg in (0.32, 0.32 - s):       # programmed (verified) at 1.8 V, read at vg
        hw = _hw(cell="1t1r", v_gate_v=vg, v_gate_verify_v=1.8, rows=32, cols=16)
        m = AnalogMatrix(w, hw).calibrate(x)
        out, ops = m.matmul(x)
        e.append(ops.cell_read_energy_j)
        y.append(np.abs(out).mean())
    # DIBL (the card's 0.023 V/V) ties V_T to the transistor's V_DS, which shifts with the
    # RRAM's share of the drop as the current falls: one decade within 7 %.
    assert e[0] / e[1] == pytest.approx(10.0, rel=0.07)
    assert y[0] / y[1] > 9.3


def test_subthreshold_chip_computes_at_its_programming_temperature_only(tmp_path):
    """Verified and read at a subthreshold gate voltage with pulse-width inputs (one read
    voltage, the verify voltage): x @ W at the programming temperature (weights mapped onto
    the narrow window of subthreshold currents), far off 20 K away; in strong inversion the
    same 20 K barely matter."""
    w, x = _data(24, 6, 16, seed=16, signed=False)
    card = str(_card_with_tc(tmp_path, 0.0))
    err = {}
    for vg in (0.45, 1.8):
        for t in (300.0, 320.0):
            hw = _hw(HardwareConfig.ideal(device_card=card, temperature_k=t), cell="1t1r",
                     v_gate_v=vg, rows=32, cols=16, input_encoding="pulse_width")
            m = AnalogMatrix(w, hw).calibrate(x)
            ref = x @ m.weight_quantized
            err[vg, t] = np.max(np.abs(m.matmul(x)[0] - ref)) / np.max(np.abs(ref))
            if vg == 0.45:
                g_lo, g_hi = laws.current_window(hw, cards.load(card))
                assert g_hi < 0.5 * cards.load(card).g_max_s       # transistor-limited
    assert err[0.45, 300.0] < 1e-3 and err[1.8, 300.0] < 1e-3
    assert err[0.45, 320.0] > 0.2
    assert err[1.8, 320.0] < 0.01


def test_temperature_reaches_the_output_through_the_transistor(tmp_path):
    """Conductances without a temperature coefficient: linear cells read the same at any
    temperature, 1T1R cells (programmed at 300 K) move with their transistor."""
    w, x = _data(24, 6, 16, seed=6)
    card = str(_card_with_tc(tmp_path, 0.0))
    out = {}
    for cell in ("linear", "1t1r"):
        for t in (250.0, 400.0):
            hw = _hw(HardwareConfig.ideal(device_card=card), cell=cell, rows=32, cols=16,
                     v_gate_v=0.6 if cell == "1t1r" else None)
            m = AnalogMatrix(w, hw.replace(temperature_k=t)).calibrate(x)
            out[cell, t] = m.matmul(x)[0]
            if cell == "1t1r":
                assert m.tiles[0].law.ut_v == pytest.approx(t * 8.617333e-5, rel=1e-6)
                ref = _recombine(m, x)
                np.testing.assert_allclose(out[cell, t], ref, rtol=0,
                                           atol=_bound(m) + 1e-9 * np.abs(ref).max())
    np.testing.assert_array_equal(out["linear", 250.0], out["linear", 400.0])
    d = np.max(np.abs(out["1t1r", 250.0] - out["1t1r", 400.0]))
    assert d > 0.01 * np.max(np.abs(out["1t1r", 250.0]))


def test_conductance_temperature_coefficient_scales_the_read(tmp_path):
    path = _card_with_tc(tmp_path, 1e-3)
    w, x = _data(12, 4, 8, seed=7)
    ys = {}
    for t in (300.0, 350.0):
        hw = _hw(HardwareConfig.ideal(device_card=str(path), temperature_k=t), rows=16,
                 cols=8)
        ys[t] = AnalogMatrix(w, hw).calibrate(x).matmul(x)[0]
    np.testing.assert_allclose(ys[350.0], ys[300.0] * np.exp(0.05), rtol=1e-12)


# --- the tile equals the crossbar solve ---------------------------------------------------


@pytest.mark.parametrize("cell,vg", [("sinh", None), ("1t1r", None), ("1t1r", 0.55),
                                     ("1t1r", 0.4)])
@pytest.mark.parametrize("solver", ["fast", "exact"])
def test_tile_equals_recombined_column_currents(cell, vg, solver):
    w, x = _data(20, 5, 12, seed=8)
    hw = _hw(cell=cell, v_gate_v=vg, rows=24, cols=16, array_solver=solver)
    m = AnalogMatrix(w, hw).calibrate(x)
    y = m.matmul(x)[0]
    ref = _recombine(m, x)
    read = cells.array_read(m.blocks[0][2], 0.0, m.encoder, np.float64)
    assert read.plan == ({"sinh": "separable", "1t1r": "table"}[cell] if solver == "fast"
                         else "exact")
    np.testing.assert_allclose(y, ref, rtol=0, atol=_bound(m) + 1e-9 * np.abs(ref).max())


@pytest.mark.parametrize("cell", ["sinh", "1t1r"])
def test_tile_with_wires_equals_recombined_newton_solve(cell):
    w, x = _data(12, 4, 6, seed=9)
    r = dict(r_wire_row_ohm=300.0, r_wire_col_ohm=200.0)
    hw = _hw(cell=cell, rows=16, cols=12, array_solver="exact", **r)
    m = AnalogMatrix(w, hw).calibrate(x)
    y = m.matmul(x)[0]
    ref = _recombine(m, x, **r)
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    y_ideal = AnalogMatrix(w, hw.replace(tile=hw.tile.replace(
        r_wire_row_ohm=0.0, r_wire_col_ohm=0.0))).calibrate(x).matmul(x)[0]
    assert np.max(np.abs(y - y_ideal)) > 1e-3 * np.max(np.abs(y_ideal))
    fast = AnalogMatrix(w, hw.replace(tile=hw.tile.replace(array_solver="fast"))).calibrate(
        x).matmul(x)[0]
    assert np.max(np.abs(fast - y)) < 1e-3 * np.max(np.abs(y))


@pytest.mark.parametrize("encoding", ["pulse_width", "bit_serial", "ttfs", "level_crossing"])
@pytest.mark.parametrize("cell,vg", [("sinh", None), ("1t1r", 0.55)])
def test_pulses_read_the_law_at_the_pulse_amplitude(encoding, cell, vg):
    w, x = _data(16, 4, 10, seed=10)
    base = HardwareConfig.ideal().replace(tile=HardwareConfig.ideal().tile.replace(
        quantize=True, input_bits=6))
    hw = _hw(base, cell=cell, v_gate_v=vg, rows=16, cols=8, input_encoding=encoding)
    fast = AnalogMatrix(w, hw).calibrate(x)
    exact = AnalogMatrix(w, hw.replace(tile=hw.tile.replace(array_solver="exact"))).calibrate(x)
    yf, of = fast.matmul(x)
    ye, oe = exact.matmul(x)
    np.testing.assert_allclose(yf, ye, rtol=1e-9, atol=1e-9 * np.abs(ye).max())
    assert of.cell_read_energy_j == pytest.approx(oe.cell_read_energy_j, rel=1e-12, abs=0.0)
    read = cells.array_read(fast.blocks[0][2], 0.0, fast.encoder, np.float32)
    assert read.plan == "pulse" and read.rank == (1 if cell == "sinh" else 2)


@pytest.mark.parametrize("encoding", ["pulse_width", "bit_serial"])
def test_two_polarity_pulse_signal_within_its_split_bound(encoding, each_backend):
    """float32 tiles, 1T1R (a law that is not odd), signed drives: the signal matrix
    [S₊; S₋] is split into POLARITY_DIGITS digits, and the noise-free currents stay within
    POLARITY_SPLIT_RTOL·max|S|·Σ|v| (plus float32 rounding) of the law's exact sum, beyond
    what three digits would give (the bound is the one in use)."""
    w, x = _data(40, 12, 33, seed=21)
    base = HardwareConfig(read_noise=False, drift=False, converter_noise=False)
    hw = _hw(base, cell="1t1r", v_gate_v=0.56, rows=48, cols=32, input_bits=8,
             input_encoding=encoding)
    m = AnalogMatrix(w, hw).calibrate(x)
    read = cells.array_read(m.blocks[0][2], m.hw.t_s, m.encoder, np.float32)
    assert read.plan == "pulse" and read.rank == 2
    sig = read.mats["signal"]
    assert sig.n_digits == cells.POLARITY_DIGITS == 2
    enc, tile = m.encoder, m.tiles[0]
    codes = enc.codes(x)
    g = read.states[0]["g_s"]
    s_pm = [tile.mapping.signal_columns(tile.law.current(a, g) / a, tile.merge)
            for a in (enc.v_read_v, -enc.v_read_v)]
    top = max(np.max(np.abs(s_)) for s_ in s_pm)
    worst = 0.0
    for p in range(enc.n_planes):
        v = enc.drive(codes, p, np.float32)[0].copy()
        mean = read.currents(v, None, p, x=x, codes=codes, noisy=False)[0].astype(float)
        v64 = v.astype(np.float64)
        exact = np.maximum(v64, 0.0) @ s_pm[0] + np.minimum(v64, 0.0) @ s_pm[1]
        scale = top * np.abs(v64).sum(axis=1, keepdims=True)
        assert np.all(np.abs(mean - exact) <= (cells.POLARITY_SPLIT_RTOL + 8 * 2.0 ** -24)
                      * scale)
        worst = max(worst, float(np.max(np.abs(mean - exact) / np.maximum(scale, 1e-300))))
    assert worst > 1.0 / (2 * 127 * 128 ** 2)


def test_pulse_width_with_wires_switches_rows_off_in_time():
    """Tiny wires: the time-sliced solve equals the wire-free pulse read."""
    w, x = _data(10, 3, 4, seed=11)
    base = HardwareConfig.ideal().replace(tile=HardwareConfig.ideal().tile.replace(
        quantize=True, input_bits=4))
    hw = _hw(base, cell="1t1r", v_gate_v=0.55, rows=12, cols=8, input_encoding="pulse_width")
    y0 = AnalogMatrix(w, hw).calibrate(x).matmul(x)[0]
    wired = hw.replace(tile=hw.tile.replace(array_solver="exact", r_wire_row_ohm=1e-6,
                                            r_wire_col_ohm=1e-6))
    y1 = AnalogMatrix(w, wired).calibrate(x).matmul(x)[0]
    np.testing.assert_allclose(y1, y0, rtol=1e-6, atol=1e-9 * np.abs(y0).max())


def _pulse_variances(encoding, cell, vg, signed, solver):
    """Read-noise variances of one bit plane / pulse cycle of a noisy 1-tile matrix."""
    w, x = _data(16, 4, 7, seed=14, signed=signed)
    base = HardwareConfig.ideal(read_noise=True)
    hw = _hw(base, quantize=True, input_bits=6, cell=cell, v_gate_v=vg, rows=16, cols=10,
             input_encoding=encoding, weight_mapping="offset", array_solver=solver)
    m = AnalogMatrix(w, hw).calibrate(x)
    read = cells.array_read(m.blocks[0][2], 0.0, m.encoder, np.float64, cache=False)
    codes = m.encoder.codes(x)
    p = 2 if encoding == "bit_serial" else 0       # a pulse-width read is one cycle
    v = m.encoder.drive(codes, p, np.float64)[0].copy()
    _, var_own, var_ref = read.currents(v, v * v, 0, x=x, codes=codes)
    tile = m.tiles[0]
    n_own = tile.mapping.own_columns(np.ones((tile.rows_used, tile.mapping.n_phys)),
                                     tile.merge).sum(axis=0)       # cells per column
    return read, var_own.copy(), var_ref.copy(), n_own, tile.rows_used


@pytest.mark.parametrize("encoding", ["pulse_width", "bit_serial"])
@pytest.mark.parametrize("cell,vg,signed", [("sinh", None, True), ("1t1r", 0.5, True),
                                            ("1t1r", 0.5, False)])
def test_pulse_read_noise_equals_the_exact_plan(encoding, cell, vg, signed, monkeypatch):
    """The pulse plan's variance GEMM (excess noise through the law, shot and thermal noise
    folded in) equals the exact plan's per-read law; with the tolerance raised, its reduced
    rank stays within the stated per-cell bound."""
    exact = _pulse_variances(encoding, cell, vg, signed, "exact")
    read, own, ref, _, _ = _pulse_variances(encoding, cell, vg, signed, "fast")
    assert read.plan == "pulse" and ref.shape[1] == 1
    np.testing.assert_allclose(own, exact[1], rtol=1e-9)
    np.testing.assert_allclose(ref, exact[2], rtol=1e-9)
    monkeypatch.setattr(cells, "VARIANCE_RTOL", 0.05)
    read, own, ref, n_own, rows = _pulse_variances(encoding, cell, vg, signed, "fast")
    if cell == "1t1r" and signed and encoding == "pulse_width":     # three terms, rank 2
        assert read.var_rank == 2 and read.var_bound_a2 > 0.0
        assert np.max(np.abs(own - exact[1])) > 1e-6 * np.max(exact[1])
    assert np.all(np.abs(own - exact[1]) <= n_own * read.var_bound_a2 + 1e-12 * exact[1])
    assert np.all(np.abs(ref - exact[2]) <= rows * read.var_bound_a2 + 1e-12 * exact[2])
    assert np.all(own > 0.0) and np.all(ref > 0.0)


def test_read_noise_maps_through_the_law():
    """Variance of a cell = (∂F/∂g)²·σ_g²: for sinh cells h(V)²·σ²."""
    hw = _hw(HardwareConfig.ideal(read_noise=True), cell="sinh", rows=8, cols=8)
    w, x = _data(6, 2, 5, seed=12)
    m = AnalogMatrix(w, hw).calibrate(x)
    read = cells.array_read(m.blocks[0][2], 0.0, m.encoder, np.float64)
    v = m.encoder.codes(x) * m.encoder.v_read_v
    _, var_own, _ = read.currents(v, v * v, 0, x=x, codes=None)
    tile = m.tiles[0]
    st_ = tile.state(0.0)
    h = tile.law.drive(v)
    mp = tile.mapping
    expected = (h * h) @ (st_["var_s2"][:, mp.pos_col] + st_["var_s2"][:, mp.neg_col])
    # plus the white noise of every cell (cimsim.tile.variance): thermal on dF/dV(0) = g,
    # shot noise on the read current per volt at V_read, g·h(V_read)/V_read
    white = read.white
    vr = m.encoder.v_read_v
    secant = float(tile.law.drive(vr)) / vr
    expected += white.k_shot * read.noise_law(v) @ (secant * st_["g_own_s"]) + white.c_own
    np.testing.assert_allclose(var_own, expected, rtol=1e-6)   # unquantised grid


def test_cell_read_energy_is_v_times_the_law_current():
    w, x = _data(10, 3, 6, seed=13)
    hw = _hw(cell="1t1r", v_gate_v=0.55, rows=12, cols=8)
    m = AnalogMatrix(w, hw).calibrate(x)
    _, ops = m.matmul(x)
    tile = m.tiles[0]
    v = m.encoder.codes(x) * m.encoder.v_read_v
    i_row = tile.law.current(v[:, :, None], tile.conductances(0.0)[None]).sum(axis=2)
    expected = float(np.sum(v * i_row)) * hw.tile.t_read_s
    assert ops.cell_read_energy_j == pytest.approx(expected, rel=1e-6, abs=0.0)


@pytest.mark.parametrize("encoding", ["pulse_width", "bit_serial"])
def test_on_time_from_inputs_equals_that_of_the_codes(encoding, each_backend):
    """The pulse energy's per-row on-time, formed from the inputs in one pass on the row-slice
    threads, equals that of the stored codes (exact integers)."""
    w, x = _data(9, 3, 300, seed=16)
    hw = _hw(cell="1t1r", v_gate_v=0.55, rows=12, cols=8, input_encoding=encoding,
             quantize=True, input_bits=6)
    m = AnalogMatrix(w, hw).calibrate(x)
    enc = m.encoder
    got = cells._pulse_on_time_of_x(enc, x)
    ref = cells._pulse_on_time(enc.codes(x), encoding == "bit_serial")
    for g, r in zip(got, ref, strict=True):
        np.testing.assert_array_equal(g, r)
    assert got[1].sum() > 0 and np.all(got[1] <= got[0])


def test_level_crossing_series_reads_the_law():
    """A series of one step equals the static read; events of a nonlinear law cost the
    law's energy."""
    w, x = _data(12, 3, 6, seed=15)
    base = HardwareConfig.ideal().replace(tile=HardwareConfig.ideal().tile.replace(
        quantize=True, input_bits=5))
    hw = _hw(base, cell="1t1r", v_gate_v=0.55, rows=12, cols=8,
             input_encoding="level_crossing")
    m = AnalogMatrix(w, hw).calibrate(x)
    y, ops = m.matmul(x)
    ys, ops_s = m.matmul_series(x[None])
    np.testing.assert_allclose(ys[0], y, rtol=1e-9, atol=1e-12 * np.abs(y).max())
    assert ops_s.cell_read_energy_j == pytest.approx(ops.cell_read_energy_j, rel=1e-9, abs=0.0)


# --- command line ----------------------------------------------------------------------


def test_demo_set_overrides_hardware_fields(capsys):
    import json

    from cimsim.cli import main

    args = ["demo", "--json", "--n", "12", "--no-volatility", "--set", "tile.cell=1t1r",
            "--set", "tile.v_gate_v=0.5", "--set", "temperature_k=350",
            "--set", "read_noise=false"]
    assert main(args) == 0
    hw = json.loads(capsys.readouterr().out)["hardware"]
    assert hw["tile"]["cell"] == "1t1r" and hw["tile"]["v_gate_v"] == 0.5
    assert hw["temperature_k"] == 350.0 and hw["read_noise"] is False


@pytest.mark.parametrize("item,message", [
    ("tile.cel=1t1r", "Unknown field 'cel' in TileConfig"),
    ("tile.v_gate_v=abc", "'abc' is not a number"),
    ("temperature_k", "needs PATH=VALUE"),
    ("tile.adc_bits=0", "'adc_bits' field of TileConfig must be in"),
    ("read_noise=maybe", "not true or false"),
    ("seed.x=1", "has no sub-field"),
])
def test_demo_set_rejects_bad_paths_and_values_in_one_line(capsys, item, message):
    from cimsim.cli import main

    assert main(["demo", "--n", "2", "--no-volatility", "--set", item]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bench_smoke_runs_the_cell_records(capsys):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("bench_smoke_cells", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_smoke_cells"] = bench
    spec.loader.exec_module(bench)
    names = ["nonlinear_tile_mvm", "pwm_nonlinear_tile_mvm", "ir_drop_nonlinear_tile_mvm"]
    argv = ["--quick", "--json", "--repeat", "1"] + [a for n in names for a in ("--only", n)]
    assert bench.main(argv) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(records) == set(names)
    assert records["nonlinear_tile_mvm"]["plan"] == "table"
    assert records["pwm_nonlinear_tile_mvm"]["plan"] == "pulse"
    ir = records["ir_drop_nonlinear_tile_mvm"]
    assert ir["plan"] == "wires_fast"
    assert ir["max_rel_error_vs_exact"] < 1e-3 < ir["linear_cell_model_max_rel_error"]
    assert ir["ratio_exact_vs_numpy_gemm"] > 0


def test_white_noise_follows_the_law_current():
    """Shot noise of a transistor-limited 1T1R cell is on the current it carries, far below
    g·V; in strong inversion the two agree within the series drop."""
    w, x = _data(12, 4, 6, seed=19, signed=False)
    ratio = {}
    for vg in (1.8, 0.45):
        hw = _hw(HardwareConfig.ideal(read_noise=True), cell="1t1r", v_gate_v=vg,
                 v_gate_verify_v=1.8, rows=16, cols=8)
        m = AnalogMatrix(w, hw).calibrate(x)
        read = cells.array_read(m.blocks[0][2], 0.0, m.encoder, np.float64)
        law_states = read._white_states()
        ratio[vg] = float(np.sum(law_states[0]["g_own_s"]) / np.sum(read.states[0]["g_own_s"]))
    assert 0.9 < ratio[1.8] < 1.1
    assert ratio[0.45] < 0.3
