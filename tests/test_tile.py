"""Tiles and AnalogMatrix: ideal exactness, tile-size independence, noise, counts, kernels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from cimsim.hardware import HardwareConfig
from cimsim.kernels import bf16_gemm
from cimsim.tile import cells
from cimsim.tile.matrix import AnalogMatrix
from device_models import rng, ziggurat
from device_models.encoding import ENCODINGS
from device_models.errors import InvalidParameterError

#: The quantised ideal chip: every non-ideality off, 16-bit inputs and weights, 20-bit ADCs.
_QUANTISED_IDEAL = HardwareConfig.ideal().replace(
    tile=HardwareConfig.ideal().tile.replace(quantize=True))


def _hw(base: HardwareConfig | None = None, **tile) -> HardwareConfig:
    base = _QUANTISED_IDEAL if base is None else base
    return base.replace(tile=base.tile.replace(**tile))


def _sar_paths(m, x):
    """``m.matmul(x)`` four ways: the SAR look-up kernel where the columns allow it and the
    NumPy reference of the same, then the general (decision-by-decision) kernel and its NumPy
    reference."""
    from cimsim.tile import readout
    from device_models._jit import use_backend

    def both():
        fast = m.matmul(x, sample_offset=0)
        with use_backend("numpy"):
            ref = m.matmul(x, sample_offset=0)
        return fast, ref

    fast, ref = both()
    look_up = readout._sar_columns
    readout._sar_columns = lambda *a: None
    try:
        general, ref_general = both()
    finally:
        readout._sar_columns = look_up
    return fast, ref, general, ref_general


def _data(n_in, n_out, batch, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n_in, n_out)), rng.normal(size=(batch, n_in))


def _ideal_tolerance(m: AnalogMatrix, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Worst-case error bound of the ideal tile: input and weight rounding (half a step each)
    plus half an ADC step per tile partial sum (ADC full scale = calibrated max)."""
    enc = m.encoder
    xq = enc.codes(x) * enc.x_lsb
    w_lsb = m.w_max / (2 ** (m.hw.tile.weight_bits - 1) - 1)
    bound = 0.5 * enc.x_lsb * np.abs(w).sum(axis=0) + 0.5 * w_lsb * np.abs(xq).sum(axis=1)[:, None]
    adc = 0.0
    for _r0, _r1, block in m.blocks:
        for tile in block.tiles:
            lsb_weight = tile.i_fs_a.max() / 2 ** (m.hw.tile.adc_bits - 1)
            scale = np.max(tile.mapping.digital_weight) * enc.x_lsb * sum(
                1.0 / enc.plane_volts_per_code(p) for p in range(enc.n_planes))
            adc += 0.5 * lsb_weight * scale
    return bound + adc + 1e-12


# --- ideal mode ---------------------------------------------------------------------------


def test_ideal_equals_float_product_within_quantisation():
    w, x = _data(300, 70, 40)
    m = AnalogMatrix(w, _hw(rows=128, cols=64)).calibrate(x)
    y, ops = m.matmul(x)
    ref = x @ w
    assert np.all(np.abs(y - ref) <= _ideal_tolerance(m, x, w))
    # stated tolerance: 16-bit inputs/weights and 20-bit ADC give < 1e-4 of max |y|
    assert np.max(np.abs(y - ref)) < 1e-4 * np.max(np.abs(ref))
    # against the quantised operands the only error left is the 20-bit ADC
    enc = m.encoder
    yq = (enc.codes(x) * enc.x_lsb) @ m.weight_quantized
    assert np.max(np.abs(y - yq)) < 1e-5 * np.max(np.abs(ref))
    assert ops.macs == 40 * 300 * 70


@settings(max_examples=12)
@given(
    n_in=st.integers(1, 40),
    n_out=st.integers(1, 12),
    rows=st.integers(4, 48),
    cols=st.integers(8, 40),
    mapping=st.sampled_from(["differential", "offset"]),
    encoding=st.sampled_from(ENCODINGS),
    seed=st.integers(0, 1000),
)
def test_ideal_independent_of_tile_size(n_in, n_out, rows, cols, mapping, encoding, seed):
    w, x = _data(n_in, n_out, 5, seed)
    cols = cols - cols % 2
    big = AnalogMatrix(w, _hw(rows=64, cols=128, weight_mapping=mapping, adc_share=1,
                              input_encoding=encoding)).calibrate(x)
    small = AnalogMatrix(w, _hw(rows=rows, cols=cols, weight_mapping=mapping, adc_share=1,
                                input_encoding=encoding)).calibrate(x)
    yb, _ = big.matmul(x)
    ys, _ = small.matmul(x)
    tol = _ideal_tolerance(big, x, w) + _ideal_tolerance(small, x, w)
    assert np.all(np.abs(yb - ys) <= tol)
    assert np.all(np.abs(ys - x @ w) <= _ideal_tolerance(small, x, w))


def test_bit_sliced_weights_recombine_digitally():
    w, x = _data(50, 9, 8, seed=3)
    hw = _hw(weight_bits=12, bits_per_cell=3, rows=32, cols=32)
    m = AnalogMatrix(w, hw).calibrate(x)
    y, _ = m.matmul(x)
    enc = m.encoder
    yq = (enc.codes(x) * enc.x_lsb) @ m.weight_quantized
    assert np.max(np.abs(y - yq)) < 1e-5 * np.max(np.abs(yq))
    assert m.n_tiles == 2 * 3   # 4 slices × pair = 8 columns per output: 4 outputs per tile


# --- ideal mode with unquantised converters (HardwareConfig.ideal()) -----------------------


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize("encoding", [e for e in ENCODINGS if e != "bit_serial"])
def test_exact_ideal_equals_float_product(each_backend, mapping, encoding):
    """HardwareConfig.ideal(): no quantisation anywhere, so tiles give x @ W in float64 (up to
    rounding), still tiled (partial sums of 3 x 3 or more tiles added digitally), with honest
    counts."""
    w, x = _data(300, 70, 40)
    hw = HardwareConfig.ideal()
    assert not hw.tile.quantize
    hw = hw.replace(tile=hw.tile.replace(rows=128, cols=32, weight_mapping=mapping,
                                         input_encoding=encoding, adc_share=4))
    m = AnalogMatrix(w, hw).calibrate(x)
    y, ops = m.matmul(x)
    ref = x @ w
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref)))
    assert m.n_tiles > 1
    n_tiles_per_block = m.n_tiles // len(m.blocks)
    assert len(m.blocks) == 3 and n_tiles_per_block >= 3
    # converters are still counted: one driver event per used row (no input is zero; level
    # crossing: |code| events, here a fraction of one per row), one ADC per signal column
    assert ops.adc_conversions == 40 * sum(t.n_signal for t in m.tiles) == 40 * 70 * 3
    if encoding != "level_crossing":
        assert ops.row_drive_events == 40 * sum(t.rows_used for t in m.tiles)
    assert ops.adc_switching_energy_j > 0.0 and ops.cell_read_energy_j > 0.0


def test_exact_ideal_clips_at_the_calibrated_ranges():
    """Unbounded resolution, not unbounded range: inputs beyond the calibrated range clip at
    the DAC full scale and column signals beyond the calibrated currents at the ADC's."""
    w, x = _data(20, 3, 10, seed=5)
    m = AnalogMatrix(w, HardwareConfig.ideal()).calibrate(x)
    xmax = np.max(np.abs(x))
    y, _ = m.matmul(3.0 * x)
    y_dac, _ = m.matmul(np.clip(3.0 * x, -xmax, xmax))
    np.testing.assert_array_equal(y, y_dac)
    # the ADC range is the calibrated max |column signal|: outputs never exceed it
    tile = m.tiles[0]
    i_fs_out = tile.i_fs_a * tile.mapping.digital_weight * xmax / m.hw.tile.v_read_v
    assert np.all(np.abs(y) <= i_fs_out * (1 + 1e-12))
    assert np.sum(np.isclose(np.abs(y), i_fs_out, rtol=1e-12)) > 1   # ...which 3x inputs hit


@settings(max_examples=12)
@given(
    n_in=st.integers(1, 40),
    n_out=st.integers(1, 12),
    rows=st.integers(1, 48),
    cols=st.integers(3, 40),
    mapping=st.sampled_from(["differential", "offset"]),
    encoding=st.sampled_from([e for e in ENCODINGS if e != "bit_serial"]),
    seed=st.integers(0, 1000),
)
def test_exact_ideal_independent_of_tile_size(n_in, n_out, rows, cols, mapping, encoding,
                                              seed):
    w, x = _data(n_in, n_out, 5, seed)
    if mapping == "differential":
        cols = max(cols - cols % 2, 2)
    hw = HardwareConfig.ideal()
    big = AnalogMatrix(w, hw.replace(tile=hw.tile.replace(
        rows=64, cols=128, weight_mapping=mapping, input_encoding=encoding))).calibrate(x)
    small = AnalogMatrix(w, hw.replace(tile=hw.tile.replace(
        rows=rows, cols=cols, weight_mapping=mapping, input_encoding=encoding, adc_share=1))
    ).calibrate(x)
    yb, _ = big.matmul(x)
    ys, _ = small.matmul(x)
    scale = np.max(np.abs(x @ w)) + 1e-300
    np.testing.assert_allclose(ys, yb, rtol=1e-9, atol=1e-9 * scale)
    np.testing.assert_allclose(ys, x @ w, rtol=1e-9, atol=1e-9 * scale)


def test_unquantised_mode_rejects_what_needs_codes():
    from cimsim.config import ConfigError

    t = HardwareConfig.ideal().tile
    with pytest.raises(ConfigError, match="input_encoding.*quantize"):
        t.replace(input_encoding="bit_serial")
    with pytest.raises(ConfigError, match="bits_per_cell.*quantize"):
        t.replace(bits_per_cell=4)
    with pytest.raises(ConfigError, match="converter_noise.*quantize"):
        HardwareConfig.ideal(converter_noise=True)


# --- calibration, validation --------------------------------------------------------------


def test_matmul_requires_calibration_and_checks_shapes():
    w, x = _data(10, 3, 4)
    m = AnalogMatrix(w, _hw())
    with pytest.raises(InvalidParameterError, match="calibrate"):
        m.matmul(x)
    m.calibrate(x)
    with pytest.raises(InvalidParameterError, match=r"\(batch, 10\)"):
        m.matmul(np.ones((2, 9)))
    with pytest.raises(InvalidParameterError, match="finite"):
        m.matmul(np.full((1, 10), np.nan))
    with pytest.raises(InvalidParameterError, match="room for one output"):
        AnalogMatrix(w, _hw(cols=1, adc_share=1))


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(spike_input=np.ones(3)), "spike_input"),
    (dict(_shard=np.array([10.0, 0.0, 1.0])), "_shard"),
    (dict(_shard=(10, 0)), "_shard"),
    (dict(_shard=(10, 0, np.nan)), r"_shard\[2\].*finite"),
    (dict(_shard=(10, 0, np.inf, 8, 0)), r"_shard\[2\].*finite"),
    (dict(_shard=(5, 0, 1.0)), r"_shard\[0\]"),          # fewer rows than the block
    (dict(_shard=(12, 3, 1.0)), r"_shard\[1\]"),         # the block past the last row
    (dict(_shard=(10, 0, 1.0, 4, 2)), r"_shard\[4\]"),   # columns past the last output
    (dict(_shard=(10, 0, 1.0, "abc", 0)), r"_shard\[3\]"),
])
def test_matrix_arguments_are_checked(kwargs, match):
    """Each keyword argument of AnalogMatrix (the shard geometry a distributed matrix passes
    included) is checked: a clear InvalidParameterError naming it, not a NumPy error or a
    hang."""
    w, _ = _data(10, 3, 4)
    with pytest.raises(InvalidParameterError, match=match):
        AnalogMatrix(w, _hw(), **kwargs)


@pytest.mark.parametrize(("encoding", "converter_noise"), [
    ("amplitude", False),     # codes formed inside the row-drive kernel
    ("bit_serial", False),    # codes kernel, then one drive per bit plane
    ("amplitude", True),      # DAC table: codes kernel, then the float64 drive
])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_inputs_are_named_wherever_the_kernels_find_them(each_backend, encoding,
                                                                   converter_noise, bad):
    w, x = _data(70, 5, 300, seed=4)
    base = HardwareConfig(converter_noise=converter_noise)
    m = AnalogMatrix(w, base.replace(tile=base.tile.replace(
        rows=32, cols=16, input_encoding=encoding))).calibrate(x)
    x = x.copy()
    x[211, 45] = bad
    with pytest.raises(InvalidParameterError, match=r"finite.*at index \(211, 45\)"):
        m.matmul(x)


def test_bit_serial_unsigned_variance_on_v_itself(each_backend):
    """Unsigned bit-serial rows sit at 0 or V_read, so the variance GEMM takes v with
    V_read·σ² + K·w(V)/V·G (no squares array): the same read-noise variance as v² @ σ² plus
    the shot term K·w(v) @ G, and both backends give the same numbers."""
    w, x = _data(40, 6, 64, seed=5)
    x = np.abs(x)
    hw = HardwareConfig(converter_noise=False)
    hw = hw.replace(tile=hw.tile.replace(rows=32, cols=16, input_encoding="bit_serial"))
    m = AnalogMatrix(w, hw).calibrate(x)
    assert m._v_unit == hw.tile.v_read_v
    block = m.blocks[0][2]
    law = cells.array_read(block, hw.t_s, m.encoder, np.float64).noise_law
    vm = block.matrices(hw.t_s, np.float64, v_unit=m._v_unit, law=law)["variance"]
    assert vm.mode == "fold" and vm.k_shot > 0
    states = [t.state(hw.t_s) for t in block.tiles]
    var = np.concatenate([s["var_own_s2"] for s in states], axis=1)
    g = np.concatenate([s["g_own_s"] for s in states], axis=1)
    enc = m.encoder
    codes = enc.codes(x)
    for p in range(enc.n_planes):
        v = enc.drive(codes, p, np.float64, r0=0, r1=32)[0]
        np.testing.assert_allclose(v @ vm.own, (v * v) @ var + vm.k_shot * law(v) @ g,
                                   rtol=1e-12, atol=0)
    y, _ = m.matmul(x, sample_offset=0)
    ref = _REFERENCE.setdefault("bit_serial_unsigned", y)
    np.testing.assert_array_equal(y, ref)


def test_adc_clips_outside_the_calibrated_range():
    w, x = _data(20, 4, 16)
    m = AnalogMatrix(w, _hw(adc_bits=6, input_bits=8, weight_bits=8,
                            bits_per_cell=8)).calibrate(0.1 * x)
    y, _ = m.matmul(x)           # 10x larger than calibrated: inputs and ADC saturate
    assert np.max(np.abs(y)) < 0.2 * np.max(np.abs(x @ w))


# --- noise ---------------------------------------------------------------------------------


def _noisy_hw(**tile):
    hw = HardwareConfig(programming_noise=False, faults=False, drift=False,
                        converter_noise=False, read_noise=True)
    return _hw(hw, adc_bits=14, **tile)


def test_variance_identity_agrees_with_per_cell_sampling():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(16, 2))
    x = np.repeat(rng.normal(size=(1, 16)), 300, axis=0)    # 300 reads of one vector
    out = {}
    for model in ("variance", "per_cell"):
        for mapping in ("differential", "offset"):
            m = AnalogMatrix(w, _noisy_hw(rows=16, cols=8, weight_mapping=mapping,
                                          read_noise_model=model, adc_share=1))
            m.calibrate(x)
            out[model, mapping], _ = m.matmul(x)
    for mapping in ("differential", "offset"):
        a, b = out["variance", mapping], out["per_cell", mapping]
        assert np.std(a[:, 0]) > 0
        for j in range(2):
            assert stats.ks_2samp(a[:, j], b[:, j]).pvalue > 1e-3
        np.testing.assert_allclose(a.std(axis=0), b.std(axis=0), rtol=0.2)


def test_same_numbers_regardless_of_batch_split():
    w, x = _data(40, 6, 20)
    hw = HardwareConfig().replace(tile=HardwareConfig().tile.replace(rows=32, cols=16))
    m = AnalogMatrix(w, hw).calibrate(x)
    y_all, ops_all = m.matmul(x, sample_offset=0)
    y1, o1 = m.matmul(x[:7], sample_offset=0)
    y2, o2 = m.matmul(x[7:])
    np.testing.assert_array_equal(np.vstack([y1, y2]), y_all)
    assert (o1 + o2).adc_conversions == ops_all.adc_conversions
    # a fresh stream position gives fresh noise
    y3, _ = m.matmul(x)
    assert not np.array_equal(y3, y_all)


@pytest.mark.parametrize(("encoding", "mapping", "converter_noise", "quantize"), [
    ("amplitude", "differential", False, True),  # specialised kernel (ideal ADCs, no refs)
    ("amplitude", "offset", True, True),         # general kernel: references, SAR, noise
    ("bit_serial", "differential", True, True),
    ("pulse_width", "offset", False, True),
    ("amplitude", "offset", False, False),       # unquantised converters with read noise
])
def test_kernel_matches_numpy_reference(each_backend, encoding, mapping, converter_noise,
                                        quantize):
    """Full path (read noise, DAC, SAR mismatch, comparator noise) under both backends."""
    w, x = _data(24, 5, 6, seed=2)
    base = HardwareConfig(converter_noise=converter_noise)
    hw = base.replace(tile=base.tile.replace(
        rows=16, cols=16, input_encoding=encoding, weight_mapping=mapping, adc_share=4,
        quantize=quantize))
    y, ops = AnalogMatrix(w, hw).calibrate(x).matmul(x)
    ref = _REFERENCE.setdefault((encoding, mapping, converter_noise, quantize), (y, ops))
    np.testing.assert_allclose(y, ref[0], rtol=1e-12, atol=1e-12 * np.max(np.abs(y)))
    for field in ("adc_switching_energy_j", "cell_read_energy_j", "row_drive_v2"):
        assert getattr(ops, field) == pytest.approx(getattr(ref[1], field), rel=1e-12, abs=0.0)
    assert ops.cell_reads == ref[1].cell_reads


@pytest.mark.parametrize("mapping", ["differential", "offset"])
@pytest.mark.parametrize("sigma_c_lsb", [None, 0.0, 0.02, 0.2])
def test_sar_lookup_kernel_equals_its_numpy_reference(mapping, sigma_c_lsb):
    """The SAR read-out by look-up (readout._read_sar_kernel) gives its NumPy reference's
    codes bit for bit, with the card's comparator noise (None), none, a small one and one too
    wide for the look-up (0.2 LSB: the general kernel runs on both backends); sparse vectors
    skipped. The general kernel equals its own NumPy reference, and without comparator noise
    (nothing referred to the input) the look-up's codes are the search's, bit for bit."""
    from cimsim.tile import readout

    w, x = _data(40, 30, 300, seed=4)
    x[::7] = 0.0                                   # vectors that drive no row
    hw = _hw(HardwareConfig(), rows=32, cols=32, adc_bits=8, weight_mapping=mapping)
    m = AnalogMatrix(w, hw).calibrate(x)
    if sigma_c_lsb is not None:
        for _, _, block in m.blocks:
            block.adcs.sig_c[:] = sigma_c_lsb
    looked_up = readout._sar_columns(m.blocks[0][2].adcs, m.blocks[0][2].adc_of) is not None
    assert looked_up == (sigma_c_lsb != 0.2)
    (y_fast, o_fast), (y_np, o_np), (y_gen, o_gen), (y_gnp, o_gnp) = _sar_paths(m, x)
    np.testing.assert_array_equal(y_fast, y_np)
    np.testing.assert_array_equal(y_gen, y_gnp)
    if sigma_c_lsb in (0.0, 0.2):
        np.testing.assert_array_equal(y_fast, y_gen)
    else:       # other draws: the look-up refers the comparator noise to the input
        assert not np.array_equal(y_fast, y_gen)
    for o_a, o_b in ((o_fast, o_np), (o_gen, o_gnp)):
        assert o_a.adc_switching_energy_j == pytest.approx(o_b.adc_switching_energy_j,
                                                           rel=1e-12, abs=0.0)
        assert o_a.adc_conversions == o_b.adc_conversions == o_fast.adc_conversions


def test_sar_lookup_keeps_read_noise_without_converter_noise():
    """ADCs with neither sampling nor comparator noise (mismatch only) still see the cells'
    read noise in the look-up kernel: its codes equal the general kernel's and the NumPy
    reference's bit for bit (no comparator draw to differ), and they spread."""
    from cimsim.tile import readout

    w, x = _data(40, 30, 200, seed=6)
    hw = _hw(HardwareConfig(), rows=32, cols=32, adc_bits=8)
    m = AnalogMatrix(w, hw).calibrate(x)
    for _, _, block in m.blocks:
        block.adcs.sig_s[:] = 0.0
        block.adcs.sig_c[:] = 0.0
    assert readout._sar_columns(m.blocks[0][2].adcs, m.blocks[0][2].adc_of) is not None
    (y, _), (y_np, _), (y_gen, _), _ = _sar_paths(m, x)
    np.testing.assert_array_equal(y, y_gen)
    np.testing.assert_array_equal(y, y_np)
    y2, _ = m.matmul(x)                   # fresh draws: other codes
    assert not np.array_equal(y, y2)


@pytest.mark.parametrize("sigma_c_lsb", [0.03, 0.05])
def test_sar_lookup_flips_as_often_as_the_search(sigma_c_lsb):
    """The look-up's one input-referred comparator draw moves a code as often as the search's
    per-decision draws: inputs at d = 0, 0.5σ, 1σ and 2σ below an upper level E_{c+1} and
    above a lower level E_c of each ADC (no read or sampling noise) give c + 1 (c − 1) with
    probability Φ(−d/σ) = 1/2, 0.31, 0.16, 0.023 under both kernels, each within 5 binomial
    σ of 20,000 reads (the readout section comment's argument)."""
    from cimsim.tile import readout

    hw = HardwareConfig()
    adcs = readout.ColumnAdcs(hw, 3, seed_tag="flip_test")
    adcs.sig_c[:] = sigma_c_lsb
    adcs.sig_s[:] = 0.0
    n_b, bits = 20000, adcs.bits
    half = float(2 ** (bits - 1))
    d = np.array([0.0, 0.5, 1.0, 2.0]) * sigma_c_lsb
    codes = np.array([37, 128, 201])
    # columns: ADC a, code c, distance d, below E_{c+1} (side 0) or above E_c (side 1)
    a_j, c_j, d_j, s_j = (v.ravel() for v in np.meshgrid(np.arange(3), codes, d, [0, 1],
                                                         indexing="ij"))
    n_s = a_j.size
    level = np.where(s_j == 0, adcs.levels[a_j, c_j + 1] - d_j, adcs.levels[a_j, c_j] + d_j)
    mean = np.broadcast_to(level + adcs.offset[a_j] - half - 0.5, (n_b, n_s)).copy()
    assert readout._sar_columns(adcs, a_j) is not None       # the look-up's condition holds
    found = {}
    for look_up in (True, False):
        coef, out, e_out = np.ones(n_s), np.zeros((n_b, n_s)), np.zeros(n_b)
        patch = readout._sar_columns
        if not look_up:
            readout._sar_columns = lambda *a: None
        try:
            readout.analog_read(mean, np.zeros((n_b, 0)), np.zeros((n_b, 0)), np.full(n_s, -1),
                                np.ones(n_s), coef, np.arange(n_s), a_j, adcs, key=11,
                                key_ref=12, key_c=13, sample0=0, plane=0, n_planes=1, col0=0,
                                ref0=0, out=out, e_out=e_out)
        finally:
            readout._sar_columns = patch
        code = out + half
        moved = np.where(s_j == 0, code == c_j + 1, code == c_j - 1).mean(axis=0)
        assert np.all((code == c_j) | (code == c_j + 1) | (code == c_j - 1))
        found[look_up] = moved
    p = stats.norm.sf(d_j / sigma_c_lsb)
    tol = 5 * np.sqrt(p * (1 - p) / n_b)
    for look_up, moved in found.items():
        assert np.all(np.abs(moved - p) <= tol), (look_up, moved, p)


@given(st.integers(0, 2**31 - 1), st.floats(0.0, 0.05))
@settings(max_examples=25)
def test_sar_decision_levels_count_the_noise_free_code(seed, mismatch):
    """decision_levels: a noise-free SAR search over increasing levels returns the number of
    levels at or below its input (every ADC of a random mismatch), and the narrowest code
    is the smallest level spacing."""
    from cimsim.tile.readout import decision_levels
    from device_models.adc import SarAdc

    adcs = [SarAdc(6, unit_cap_mismatch=mismatch, seed=seed + a) for a in range(3)]
    tabs = [a.decision_tables() for a in adcs]
    t0 = np.array([t[0] for t in tabs])
    up, dn, trial = (np.stack([t[i] for t in tabs]) for i in (1, 2, 3))
    levels, min_width = decision_levels(t0, up, dn, trial)
    xs = np.random.default_rng(seed).uniform(-0.1, 1.1, 200)
    for a in range(3):
        lv = levels[a, 1:-1]
        for xv in xs:
            acc, code = t0[a], 0
            for k in range(5, -1, -1):
                hi = xv >= acc + trial[a, k]
                code |= int(hi) << k
                acc += up[a, k] if hi else dn[a, k]
            if np.all(np.diff(lv) > 0):
                assert code == np.count_nonzero(lv <= xv)
        if np.all(np.diff(lv) > 0):
            assert min_width[a] == np.min(np.diff(lv))
        else:
            assert min_width[a] == -np.inf


@given(st.integers(0, 2**31 - 1), st.floats(0.0, 0.05), st.integers(2, 8))
@settings(max_examples=25)
def test_sar_window_guess_brackets_the_noise_free_code(seed, mismatch, bits):
    """readout._window_guess: where it accepts an ADC, the guess g of every input (random, at
    the levels and just below them) leaves its noise-free code in {g, g + 1}; levels with a
    step of two code widths at mid-scale are refused."""
    from cimsim.tile.readout import _window_guess, decision_levels
    from device_models.adc import SarAdc

    m = 1 << bits
    adcs = [SarAdc(bits, unit_cap_mismatch=mismatch, seed=seed + a) for a in range(3)]
    tabs = [a.decision_tables() for a in adcs]
    t0 = np.array([t[0] for t in tabs])
    up, dn, trial = (np.stack([t[i] for t in tabs]) for i in (1, 2, 3))
    levels, _ = decision_levels(t0, up, dn, trial)
    e0, inv_w, ok = _window_guess(levels, m)
    gen = np.random.default_rng(seed)
    for a in np.flatnonzero(ok):
        lv = levels[a, 1:-1]
        if not np.all(np.diff(lv) > 0):
            continue
        xs = np.concatenate([gen.uniform(lv[0] - 2.0, lv[-1] + 2.0, 300), lv,
                             np.nextafter(lv, -np.inf)])
        g = np.clip(np.floor((xs - e0[a]) * inv_w[a]), 0.0, m - 2)
        code = np.searchsorted(lv, xs, side="right")
        assert np.all((code == g) | (code == g + 1))
    if m >= 8:
        bent = levels.copy()
        bent[:, m // 2 + 1:m] += 2.0 * (bent[:, m - 1:m] - bent[:, 1:2]) / (m - 2)
        assert not np.any(_window_guess(bent, m)[2])


def test_sar_lookup_kernel_scattered_outputs():
    """Weights sliced over two cells per weight (outputs not in column order: the shift-add
    scatters): the look-up kernel gives its NumPy reference's numbers, and without comparator
    noise the general kernel's."""
    from cimsim.tile import readout

    w, x = _data(40, 12, 50, seed=3)
    x[::9] = 0.0
    hw = _hw(HardwareConfig(), rows=32, cols=32, weight_bits=8, bits_per_cell=4, adc_share=4)
    m = AnalogMatrix(w, hw).calibrate(x)
    assert not any(m._ident)
    assert readout._sar_columns(m.blocks[0][2].adcs, m.blocks[0][2].adc_of) is not None
    (y, ops), (y_np, ops_np), _, _ = _sar_paths(m, x)
    np.testing.assert_array_equal(y, y_np)
    assert ops.adc_switching_energy_j == pytest.approx(ops_np.adc_switching_energy_j, rel=1e-12,
                                                       abs=0.0)
    for _, _, block in m.blocks:
        block.adcs.sig_c[:] = 0.0
    (y, _), _, (y_gen, _), _ = _sar_paths(m, x)
    np.testing.assert_array_equal(y, y_gen)


def test_sar_lookup_refuses_levels_off_its_guess():
    """ADCs whose levels stray from the look-up's linear guess (a step of two code widths at
    mid-scale) leave the read-out to the general kernel (_sar_columns gives None), which
    gives the NumPy reference's numbers."""
    from cimsim.tile import readout
    from device_models._jit import use_backend

    w, x = _data(16, 6, 40, seed=5)
    hw = _hw(HardwareConfig(), rows=16, cols=16, adc_bits=8, adc_share=4)
    m = AnalogMatrix(w, hw).calibrate(x)
    adcs, adc_of = m.blocks[0][2].adcs, m.blocks[0][2].adc_of
    assert readout._sar_columns(adcs, adc_of) is not None
    with pytest.raises(ValueError, match="read-only"):     # the cached set's tables
        adcs.levels[:, 128] += 0.5
    width = (adcs.levels[:, 255:256] - adcs.levels[:, 1:2]) / 254
    adcs.levels = np.ascontiguousarray(adcs.levels + np.where(np.arange(257) > 128, 2.0, 0.0)
                                       * width)
    assert readout._sar_columns(adcs, adc_of) is None    # the cached set is not reused
    y, _ = m.matmul(x, sample_offset=0)
    with use_backend("numpy"):
        y_np, _ = m.matmul(x, sample_offset=0)
    np.testing.assert_array_equal(y, y_np)


def test_read_noise_normal_stream(each_backend):
    """The float32 ziggurat stream of the read path: normal (KS, moments, both tails, the
    exactly sampled tail beyond r), counter-based (a block equals the same draws taken at
    an offset), and identical under both backends."""
    key = rng.derive_key(7, "test")
    n_rows = 60 if each_backend == "numpy" else 400
    z = ziggurat.row_normals(key, np.arange(n_rows), 1000)
    assert z.dtype == np.float32
    zz = z.astype(np.float64).ravel()
    assert stats.kstest(zz, "norm").pvalue > 1e-3
    assert abs(zz.mean()) < 5 / np.sqrt(zz.size) and abs(zz.var() - 1) < 8 / np.sqrt(zz.size)
    tail = np.mean(np.abs(zz) > 3.0) / (2 * stats.norm.sf(3.0))
    assert 0.8 < tail < 1.2
    part = ziggurat.row_normals(key, [3, 7], 100, col0=250)
    np.testing.assert_array_equal(part, z[[3, 7], 250:350])
    _REFERENCE.setdefault("row_normals", z[:60])
    np.testing.assert_array_equal(z[:60], _REFERENCE["row_normals"])
    # neighbouring rows and columns are uncorrelated
    assert abs(np.corrcoef(zz.reshape(z.shape)[:, :-1].ravel(),
                           zz.reshape(z.shape)[:, 1:].ravel())[0, 1]) < 5 / np.sqrt(zz.size)


@pytest.mark.slow
def test_read_noise_normal_stream_tail_beyond_r():
    """The base strip's tail (|z| > r ≈ 4.2, sampled by Marsaglia's exact method) has the
    normal's mass, on 1e8 draws (expected count ≈ 2600)."""
    key = rng.derive_key(11, "tail")
    count, n = 0, 0
    for r0 in range(0, 100_000, 10_000):
        z = ziggurat.row_normals(key, np.arange(r0, r0 + 10_000), 1000)
        count += int(np.count_nonzero(np.abs(z) > ziggurat.ZIG_R))
        n += z.size
    expected = n * 2 * stats.norm.sf(ziggurat.ZIG_R)
    assert abs(count - expected) < 5 * np.sqrt(expected)


def test_ziggurat_tables_close_and_cores_lie_inside_their_layers():
    """The layer recursion closes (f(x_N) = 1 at the top), every layer has area v, and each
    accepted core value (2m + 1)·2^-21·x_l lies below x_{l+1} (the first rejected above)."""
    x, v = ziggurat._X, ziggurat.ZIG_V
    n = ziggurat.N_LAYERS
    f = np.exp(-0.5 * x * x)
    assert abs(v / x[n - 1] + f[n - 1] - 1.0) < 1e-9
    np.testing.assert_allclose(x[1:n] * (f[2:n + 1] - f[1:n]), v, rtol=1e-9)
    k = ziggurat._K
    step = 2.0 ** -(ziggurat.MAG_BITS + 1)
    assert np.all((2 * (k[1:] - 1) + 1) * step * x[1:n] < x[2:])
    assert np.all((2 * k + 1) * step * x[:n] >= x[1:])


_REFERENCE: dict = {}


def test_public_hash_primitive_is_the_uniform_stream():
    """rng.hash_bits / rng.hash_at (the bits the ziggurat uses) are the bits of rng.uniform."""
    from device_models._jit import jit

    key = rng.derive_key(3, "hash")
    h = rng.hash_bits(key, np.arange(10, 1010, dtype=np.uint64))
    u = ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53
    np.testing.assert_array_equal(u, rng.uniform(key, 1000, offset=10))

    @jit
    def bits(k, c):
        return rng.hash_at(k, c)

    assert all(bits(np.uint64(key), np.uint64(c)) == h[c - 10] for c in (10, 11, 500, 1009))


# --- counts ---------------------------------------------------------------------------------


def test_op_counts_follow_from_the_run():
    w, x = _data(20, 3, 5)
    x[0, :5] = 0.0
    hw = _hw(rows=16, cols=8, adc_share=2, adc_bits=8, input_bits=8, weight_bits=8,
             bits_per_cell=8)
    m = AnalogMatrix(w, hw).calibrate(x)
    y, ops = m.matmul(x)
    t = hw.tile
    assert m.n_tiles == 2
    enc = m.encoder
    v = np.sign(enc.codes(x)) * enc.levels_v[np.abs(enc.codes(x))]
    e = 0.0
    reads = 0
    for r0, r1, block in m.blocks:
        for tile in block.tiles:
            g = tile.conductances(0.0)
            vb = v[:, r0:r1]
            e += np.sum((vb ** 2)[:, :, None] * g[None, :, :]) * t.t_read_s   # Σ V·I·t
            reads += np.count_nonzero(vb) * g.shape[1]
    assert ops.cell_read_energy_j == pytest.approx(e, rel=1e-9, abs=0.0)
    assert ops.cell_reads == reads
    assert ops.row_drive_v2 == pytest.approx(np.sum(v ** 2), rel=1e-6)
    assert ops.cycles == 5 * 2
    nonzero = np.count_nonzero(enc.codes(x))
    assert nonzero == 5 * 20 - 5        # skip_zero_inputs: the five zeros cost nothing
    assert ops.dac_conversions == nonzero
    assert ops.adc_conversions == 5 * 3 * 2 == ops.shift_adds
    # 8 columns / share 2 = 4 ADCs; 3 pairs = 6 columns -> 2 columns per ADC -> 1 pair round
    assert ops.adc_rounds == 5 * 1
    assert ops.sram_read_bits == nonzero * 8
    assert ops.adc_switching_energy_j > 0
    assert m.utilisation == pytest.approx((16 * 6 + 4 * 6) / (2 * 16 * 8))


@pytest.mark.parametrize(("mapping", "outputs", "share", "rounds"),
                         [("differential", 4, 8, 4), ("differential", 5, 8, 4),
                          ("differential", 3, 4, 2), ("offset", 5, 8, 5),
                          ("differential", 32, 8, 4)])
def test_adc_rounds_count_the_conversions_of_the_busiest_adc(mapping, outputs, share, rounds):
    """A partly filled tile's columns sit on its first mux groups: the ADC rounds are the
    conversions of the busiest ADC (4 differential pairs on ADC 0 with share 8), not the
    signal columns spread evenly over all ADCs."""
    w, x = _data(8, outputs, 3)
    m = AnalogMatrix(w, _hw(rows=32, cols=64, adc_share=share, weight_mapping=mapping))
    m.calibrate(x)
    (tile,) = m.tiles
    per_adc = np.bincount(tile.adc_of, minlength=tile.n_adcs)
    assert per_adc.max() == rounds == tile.adc_rounds_per_cycle
    assert per_adc.sum() == tile.n_signal == outputs
    _, ops = m.matmul(x)
    assert ops.adc_rounds == 3 * rounds


def test_bit_serial_counts_one_cycle_per_plane():
    w, x = _data(8, 2, 3)
    m = AnalogMatrix(w, _hw(input_encoding="bit_serial", input_bits=8)).calibrate(x)
    _, ops = m.matmul(x)
    assert m.encoder.n_planes == 7                 # signed: 7 magnitude bits
    assert ops.cycles == 3 * 7 and ops.adc_conversions == 3 * 7 * 2
    m2 = AnalogMatrix(w, _hw(input_encoding="bit_serial", input_bits=8)).calibrate(np.abs(x))
    assert m2.encoder.n_planes == 8                # unsigned inputs use all 8 bits



def test_accumulator_grows_with_ceil_log2_of_the_row_blocks():
    """The output accumulator holds the ADC code plus ceil(log2(row blocks)) carry bits when
    the blocks' partial sums are added: 8-bit codes, one slice, one plane and 1 … 5 blocks of
    8 rows give 8, 9, 10, 10, 11 bits."""
    hw = _hw(rows=8, cols=16, adc_bits=8, input_bits=8, weight_bits=8, bits_per_cell=8)
    bits = []
    for n_in in (8, 16, 24, 32, 40):
        w, _ = _data(n_in, 3, 1)
        m = AnalogMatrix(w, hw)
        assert len(m.blocks) == n_in // 8
        bits.append(m.accumulator_bits)
    assert bits == [8, 9, 10, 10, 11]


def test_a_tile_has_ceil_cols_over_share_adcs():
    """60 columns, one ADC per 8: ceil(60/8) = 8 ADCs (the last one serves 4 columns); the
    30 differential outputs fill them, 4 pairs on each of the first 7: 4 rounds per cycle."""
    from cimsim.ppa.energy import components

    hw = _hw(rows=32, cols=60, adc_share=8)
    w, _ = _data(20, 30, 1)
    m = AnalogMatrix(w, hw)
    tile = m.tiles[0]
    assert m.n_tiles == 1 and tile.n_phys == 60
    assert tile.n_adcs == 8
    assert tile.adc_rounds_per_cycle == 4
    assert components(hw).n_adcs_per_tile == 8


def test_event_driven_cycles_count_every_tile_and_rounds_the_critical_path():
    """Spike inputs on 3 row blocks × 3 column tiles (4, 4, 2 outputs): of 6 steps, 3 carry a
    spike (in blocks {0}, {1, 2} and {0, 2}); each costs all 9 tiles a cycle (27) but one
    critical path of 2 rounds (8 columns on 2 ADCs: 2 pairs each), 6, not × 9; only the
    tiles with an event convert, 10 + 20 + 20 columns; the 3 active steps write 10 results."""
    w, _ = _data(24, 10, 1)
    hw = _hw(rows=8, cols=8, adc_share=4)
    m = AnalogMatrix(w, hw, spike_input=True).calibrate(np.ones((4, 24)))
    assert m.event_driven and m.n_tiles == 9 and m.adc_rounds_per_cycle == 2
    x = np.zeros((6, 24))
    x[0, 1] = x[2, 9] = x[2, 17] = x[5, 3] = x[5, 20] = 1.0
    _, ops = m.matmul(x)
    assert ops.cycles == 3 * 9
    assert ops.adc_rounds == 3 * 2
    assert ops.adc_conversions == 10 + 20 + 20 == ops.shift_adds
    assert ops.sram_write_bits == 3 * 10 * m.accumulator_bits
    assert ops.row_pulses == 5 * 3

# --- device physics through the tile --------------------------------------------------------


def test_programming_faults_and_drift_reach_the_result():
    w, x = _data(32, 4, 10)
    hw = HardwareConfig(read_noise=False, converter_noise=False).replace(
        tile=HardwareConfig().tile.replace(rows=32, cols=8, adc_bits=12))
    m = AnalogMatrix(w, hw).calibrate(x)
    assert m.program_counts.program_pulses > 0 and m.program_counts.program_energy_j > 0
    tile = m.tiles[0]
    assert not np.array_equal(tile.conductances(0.0), tile.mapping.g_target_s)
    y0, _ = m.matmul(x, t_s=0.0)
    y1, _ = m.matmul(x, t_s=1e6)
    assert not np.allclose(y0, y1)
    ideal = AnalogMatrix(w, _hw(rows=32, cols=8)).calibrate(x)
    assert np.all(ideal.tiles[0].conductances(0.0) == ideal.tiles[0].mapping.g_target_s)


# --- IR drop ---------------------------------------------------------------------------------


def test_ir_drop_uses_the_exact_crossbar_solution():
    from cimsim.array.crossbar import column_currents

    w, x = _data(8, 3, 6, seed=4)
    hw = _hw(rows=8, cols=8, r_wire_row_ohm=40.0, r_wire_col_ohm=60.0)
    m = AnalogMatrix(w, hw).calibrate(x)
    tile = m.tiles[0]
    g = tile.conductances(0.0)
    full = np.full((8, 8), tile.mapping.g_min_s)
    full[:, : g.shape[1]] = g
    v = np.random.default_rng(0).uniform(0, 0.2, (4, 8))
    cur = column_currents(full, v, r_wire_row_ohm=40.0, r_wire_col_ohm=60.0)
    mp = tile.mapping
    expected = cur[:, mp.pos_col] - cur[:, mp.neg_col]
    np.testing.assert_allclose(v @ tile.state(0.0)["signal_s"], expected, rtol=1e-9,
                               atol=1e-12 * np.abs(expected).max())
    # the wire drop shrinks the product: the digital result moves away from x @ W
    y, _ = m.matmul(x)
    y0, _ = AnalogMatrix(w, _hw(rows=8, cols=8)).calibrate(x).matmul(x)
    assert np.max(np.abs(y - y0)) > 1e-3 * np.max(np.abs(y0))


def _pair_closed_form(g0, g1, r_r, r_c):
    """Column currents per row volt of a 1 x 2 array: driver -r_r- A -r_r- B on the row, each
    cell to its column node, each column node -r_c- ground."""
    h0, h1 = 1 / (1 / g0 + r_c), 1 / (1 / g1 + r_c)
    k1 = 1 / (r_r + 1 / h1)
    v_a = 1 / (1 + r_r * (h0 + k1))
    return np.array([v_a * h0, v_a * k1])


@pytest.mark.parametrize("temperature_k", [250.0, 300.0, 400.0])
def test_wire_resistance_follows_temperature(temperature_k):
    """r(T) = r·(1 + α(T − 300 K)) enters G_eff: hotter wires drop more and the IR-dropped
    currents equal the closed form of a 1 x 2 array at r(T)."""
    w = np.array([[0.7]])
    r_r, r_c = 2e3, 3e3
    hw = _hw(rows=1, cols=2, adc_share=1, r_wire_row_ohm=r_r, r_wire_col_ohm=r_c)
    hw = hw.replace(temperature_k=temperature_k)
    tile = AnalogMatrix(w, hw).tiles[0]
    alpha = hw.tile.r_wire_tc_per_k
    assert alpha == pytest.approx(3.9e-3)
    f = 1 + alpha * (temperature_k - 300.0)
    assert tile.wire_resistances_ohm() == pytest.approx((r_r * f, r_c * f), rel=1e-15)
    g = tile.conductances(0.0)[0]
    expected = _pair_closed_form(g[0], g[1], r_r * f, r_c * f)
    np.testing.assert_allclose(tile.state(0.0)["g_read_s"][0], expected, rtol=1e-9)
    at_300 = _pair_closed_form(g[0], g[1], r_r, r_c)
    if temperature_k > 300.0:
        assert np.all(expected < at_300)
    elif temperature_k < 300.0:
        assert np.all(expected > at_300)
    # without the coefficient the temperature does not reach the wires
    hw0 = hw.replace(tile=hw.tile.replace(r_wire_tc_per_k=0.0))
    tile0 = AnalogMatrix(w, hw0).tiles[0]
    np.testing.assert_allclose(tile0.state(0.0)["g_read_s"][0], at_300, rtol=1e-9)


def test_per_column_adc_range_resolves_small_columns():
    rng_ = np.random.default_rng(5)
    w = rng_.normal(size=(32, 4)) * np.array([1.0, 1.0, 0.02, 0.02])   # two weak outputs
    x = rng_.normal(size=(64, 32))
    ref = x @ w
    err = {}
    for rng_mode in ("per_tile", "per_column"):
        m = AnalogMatrix(w, _hw(rows=32, cols=8, adc_bits=6, adc_range=rng_mode,
                                adc_share=1)).calibrate(x)
        y, _ = m.matmul(x)
        err[rng_mode] = np.abs(y - ref)[:, 2:].max() / np.abs(ref[:, 2:]).max()
        if rng_mode == "per_column":
            i_fs = m.tiles[0].i_fs_a
            assert i_fs[2] < 0.1 * i_fs[0]           # weak columns get a small range
    assert err["per_column"] < 0.2 * err["per_tile"]


def test_pulse_width_energy_is_linear_in_the_code():
    w, x = _data(12, 2, 3)
    hw = _hw(rows=16, cols=8, input_encoding="pulse_width", input_bits=8)
    m = AnalogMatrix(w, hw).calibrate(x)
    _, ops = m.matmul(x)
    codes = m.encoder.codes(x)
    t = hw.tile
    g = m.tiles[0].conductances(0.0)
    t_i = np.abs(codes) / m.encoder.c_max * t.t_read_s          # pulse widths [s]
    expected = t.v_read_v ** 2 * np.sum(t_i @ g)                # Σ V·(G V)·t
    assert ops.cell_read_energy_j == pytest.approx(expected, rel=1e-9, abs=0.0)
    assert ops.row_drive_v2 == pytest.approx(t.v_read_v ** 2 * np.count_nonzero(codes))


def test_same_numbers_regardless_of_thread_count():
    import numba

    from cimsim.tile.matrix import CHUNK_VECTORS

    w, x = _data(64, 40, 2 * CHUNK_VECTORS + 17, seed=6)
    hw = HardwareConfig(converter_noise=False).replace(
        tile=HardwareConfig().tile.replace(rows=64, cols=128))
    m = AnalogMatrix(w, hw).calibrate(x)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        y1, _ = m.matmul(x, sample_offset=0)      # three chunks, one thread
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        y2, _ = m.matmul(x, sample_offset=0)      # three chunks, parallel kernels
        y3, _ = m.matmul(x[:100], sample_offset=0)   # one chunk
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y3, y1[:100])


def test_slice_bounds_keep_the_old_cut_and_honour_the_minimum():
    import math

    from cimsim.kernels.parallel import _slice_bounds

    def old(n_rows, n, k, align):      # the cut before min_rows existed
        per = math.ceil(math.ceil(n_rows / (n * k)) / align) * align
        if n == 1 or n_rows <= per or per == 0:
            return [(0, n_rows)]
        return [(b0, min(b0 + per, n_rows)) for b0 in range(0, n_rows, per)]

    for n_rows in [0, 1, 63, 64, 65, 517, 1000, 1024, 2049]:
        for n in (1, 2, 3, 8):
            for k in (1, 2, 7):
                assert _slice_bounds(n_rows, n, slices_per_thread=k) == old(n_rows, n, k, 64)
            for min_rows in (0, 1, 128, 512, 4096):
                b = _slice_bounds(n_rows, n, min_rows=min_rows)
                assert b[0][0] == 0 and b[-1][1] == n_rows
                assert all(b0 % 64 == 0 and b1 > b0 for b0, b1 in b if n_rows)
                assert all(p[1] == q[0] for p, q in zip(b, b[1:], strict=False))
                assert len(b) <= max(1, 2 * n)
                # as many threads busy as with one slice each
                assert len(b) >= len(_slice_bounds(n_rows, n, slices_per_thread=1))
                if len(b) > n:                        # more than one each: none too short
                    assert all(b1 - b0 >= min_rows for b0, b1 in b[:-1])
    assert _slice_bounds(1024, 2, min_rows=512) == [(0, 512), (512, 1024)]
    assert _slice_bounds(1024, 2) == [(0, 256), (256, 512), (512, 768), (768, 1024)]
    assert _slice_bounds(4096, 2, min_rows=512) == [(0, 1024), (1024, 2048), (2048, 3072),
                                                   (3072, 4096)]
    assert _slice_bounds(600, 2, min_rows=512) == [(0, 320), (320, 600)]
    assert _slice_bounds(1024, 1, min_rows=512) == [(0, 1024)]


@pytest.mark.parametrize("setup", ["bit_serial", "default"])
def test_same_numbers_for_any_slicing_and_thread_count(setup, monkeypatch):
    """Bit-serial look-up reads and the shipped chip (converter noise, SAR read-out): the
    outputs and every count are the same for one or two threads, the old cut into short
    slices, the minimum slice and short chunks, at an odd batch size."""
    import dataclasses

    import numba

    import cimsim.tile.matrix as matrix

    w, x = _data(48, 24, 517, seed=8)
    if setup == "bit_serial":
        x = np.abs(x)
        base = HardwareConfig(converter_noise=False, drift=False)
        hw = base.replace(tile=base.tile.replace(rows=48, cols=48, input_encoding="bit_serial",
                                                 weight_mapping="differential"))
    else:
        hw = HardwareConfig().replace_path("tile.cell", "linear").replace(
            tile=HardwareConfig().tile.replace(rows=32, cols=64, cell="linear"))
    m = AnalogMatrix(w, hw).calibrate(x)
    old = numba.get_num_threads()
    runs = []
    try:
        for threads, min_slice, chunk in [(1, 512, 1024), (2, 0, 1024), (2, 512, 1024),
                                          (2, 128, 1024), (2, 0, 128),
                                          (1, 0, 128)]:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            monkeypatch.setattr(matrix, "MIN_SLICE_VECTORS", min_slice)
            monkeypatch.setattr(matrix, "CHUNK_VECTORS", chunk)
            y, ops = m.matmul(x, sample_offset=0)
            runs.append((y, dataclasses.asdict(ops)))
    finally:
        numba.set_num_threads(old)
    for y, ops in runs[1:]:
        np.testing.assert_array_equal(y, runs[0][0])
        assert ops == runs[0][1]


def test_row_slices_cover_every_row_once_and_fused_drive_is_the_same():
    from cimsim.kernels.parallel import for_row_slices
    from cimsim.tile.encode import InputEncoder

    seen = np.zeros(1000, dtype=int)

    def mark(b0, b1):
        assert b0 % 64 == 0
        seen[b0:b1] += 1

    for_row_slices(mark, 1000)
    assert np.all(seen == 1)
    for_row_slices(mark, 0)
    seen[:] = 0
    for_row_slices(mark, 1000, slices_per_thread=7)
    assert np.all(seen == 1)
    # codes formed inside the drive pass == codes(x) then drive, values and statistics
    x = np.random.default_rng(1).normal(size=(300, 40))
    enc = InputEncoder(float(np.max(np.abs(x))), True, HardwareConfig())
    v, v2, st = (a.copy() for a in enc.drive(enc.codes(x), 0, np.float32, r0=5, r1=33,
                                             squares=True))
    fv, fv2, fst = enc.drive(None, 0, np.float32, r0=5, r1=33, squares=True, x=x)
    np.testing.assert_array_equal(fv, v)
    np.testing.assert_array_equal(fv2, v2)
    np.testing.assert_array_equal(fst, st)


@pytest.mark.parametrize("converter_noise", [False, True])      # linear levels, DAC card
@pytest.mark.parametrize("signed", [False, True])
def test_drive_code_table_and_fused_codes(each_backend, converter_noise, signed):
    """Codes formed inside the drive pass (linear levels and DAC-card levels) give the drive
    of ``codes(x)``, and a code table hands back ``table[code − lo]`` in place of ``v²``, on
    both backends; the numbers are the same on the two backends."""
    from cimsim.tile.encode import InputEncoder

    x = np.random.default_rng(2).normal(size=(150, 40))
    if not signed:
        x = np.abs(x)
    hw = HardwareConfig(converter_noise=converter_noise)
    enc = InputEncoder(float(np.max(np.abs(x))), signed, hw)
    assert enc.linear_levels is not converter_noise
    codes = enc.codes(x)
    lo = -enc.c_max if signed else 0
    table = np.random.default_rng(3).normal(size=enc.code_count).astype(np.float32)
    v, v2, st = (a.copy() for a in enc.drive(codes, 0, np.float32, r0=5, r1=33,
                                             squares=True))
    np.testing.assert_array_equal(v2, v * v)
    np.testing.assert_array_equal(v[:, :4], enc.code_volts(np.float32)[codes[:, 5:9] - lo])
    for src in (dict(codes=codes), dict(codes=None, x=x)):
        nz = np.empty(150, dtype=np.int32)
        fv, ft, fst = (a.copy() for a in enc.drive(
            src.pop("codes"), 0, np.float32, r0=5, r1=33, code_table=table, nz=nz, **src))
        np.testing.assert_array_equal(fv, v)
        np.testing.assert_array_equal(ft, table[codes[:, 5:33] - lo])
        np.testing.assert_array_equal(fst, st)
        np.testing.assert_array_equal(nz, np.count_nonzero(codes[:, 5:33], axis=1))
    with pytest.raises(InvalidParameterError, match="code_table"):
        enc.drive(codes, 0, np.float32, code_table=table[:-1])


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("zero_code", [None, 3, -2])
def test_drive_driven_rows_by_level_where_a_dac_level_is_zero(signed, zero_code):
    """The DAC-level drive counts a row as driven where its level is not 0 (the reference's
    events): by the codes where only code 0 has level 0 (the kernel's shortcut), by the
    levels where another code's level is 0 too; kernel and NumPy reference agree in both."""
    from cimsim.tile.encode import InputEncoder
    from device_models._jit import use_backend

    x = np.random.default_rng(7).normal(size=(200, 30)) * 0.1
    if not signed:
        x = np.abs(x)
    enc = InputEncoder(float(np.max(np.abs(x))), signed, HardwareConfig())
    assert not enc.linear_levels
    if zero_code is not None:
        if zero_code < 0 and not signed:
            return
        enc.levels_v[abs(zero_code)] = 0.0           # a level that rounds to 0 V
    assert enc._levels_on_by_code is (zero_code is None)
    codes = enc.codes(x)
    if zero_code is not None:
        assert np.any(np.abs(codes) == abs(zero_code))
    got = {}
    for which in ("numba", "numpy"):
        for src in (dict(codes=codes), dict(codes=None, x=x)):
            nz = np.empty(200, dtype=np.int32)
            with use_backend(which):
                v, _, acc = enc.drive(src.get("codes"), 0, np.float64, x=src.get("x"),
                                      nz=nz)
            got[which, len(src)] = (v.copy(), acc, nz)
    ref = got["numpy", 1]
    levels = enc.code_volts(np.float64)[codes - (-enc.c_max if signed else 0)]
    np.testing.assert_array_equal(ref[2], np.count_nonzero(levels, axis=1))
    for k, (v, acc, nz) in got.items():       # the kernels' levels within 1e-12 of encode's
        np.testing.assert_allclose(v, ref[0], rtol=1e-12, atol=0.0, err_msg=str(k))
        np.testing.assert_allclose(acc[:, 0], ref[1][:, 0], rtol=1e-12, err_msg=str(k))
        np.testing.assert_array_equal(acc[:, 1:], ref[1][:, 1:], err_msg=str(k))
        np.testing.assert_array_equal(nz, ref[2], err_msg=str(k))
    for a, b in zip(got["numba", 1], got["numba", 2], strict=True):    # codes or x
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("converter_noise", [False, True])      # linear levels, DAC card
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("batch, r1", [(150, 33), (13, 40), (64, 6)])
def test_drive_packed_operand_is_the_packed_code_table(each_backend, converter_noise, signed,
                                                       batch, r1):
    """The row drive writing a code table's bfloat16 bits straight into the variance GEMM's
    packed layout (``packed``) gives the panels that packing the looked-up operand gives
    (odd columns and partial row blocks padded with zeros), and the same voltages, sums and
    driven-row counts as the drive with the table, on both backends."""
    from cimsim.kernels import bf16_gemm
    from cimsim.tile.encode import InputEncoder

    x = np.random.default_rng(batch + r1).normal(size=(batch, 40))
    if not signed:
        x = np.abs(x)
    enc = InputEncoder(float(np.max(np.abs(x))), signed, HardwareConfig(
        converter_noise=converter_noise))
    codes = enc.codes(x)
    table = np.abs(np.random.default_rng(4).normal(size=enc.code_count)).astype(np.float32)
    b = bf16_gemm.pack(np.random.default_rng(5).uniform(0.0, 1e-12, (r1 - 5, 7)))
    bits = bf16_gemm.operand_bits(table, b)
    want = np.empty((-(-batch // 8), -(-(r1 - 5) // 2), 8, 2), dtype=np.uint16)
    for src in (dict(codes=codes), dict(codes=None, x=x)):
        nz, nz_p = np.empty(batch, dtype=np.int32), np.empty(batch, dtype=np.int32)
        v, op, st = (a.copy() for a in enc.drive(
            src.get("codes"), 0, np.float32, r0=5, r1=r1, code_table=table, nz=nz,
            x=src.get("x")))
        bf16_gemm._pack_a_kernel(op, np.float32(np.ldexp(1.0, -b.exp)), want)
        packed = bf16_gemm.PackedOperand(np.full_like(want, 0xFFFF), batch, r1 - 5, b.exp)
        pv, got, pst = enc.drive(src.get("codes"), 0, np.float32, r0=5, r1=r1,
                                 code_table=bits, packed=packed, nz=nz_p, x=src.get("x"))
        assert got is packed
        np.testing.assert_array_equal(packed.panels, want)
        np.testing.assert_array_equal(pv, v)
        np.testing.assert_array_equal(pst, st)
        np.testing.assert_array_equal(nz_p, nz)
    with pytest.raises(InvalidParameterError, match="code_table"):
        enc.drive(codes, 0, np.float32, r0=5, r1=r1, code_table=table, packed=packed)
    with pytest.raises(InvalidParameterError, match="packed"):
        enc.drive(codes, 0, np.float32, r0=5, r1=r1, packed=packed)
    with pytest.raises(InvalidParameterError, match="packed"):
        enc.drive(codes, 0, np.float32, r0=4, r1=r1, code_table=bits, packed=packed)


@pytest.mark.parametrize("encoding, cell", [("amplitude", "linear"), ("bit_serial", "linear"),
                                            ("amplitude", None)])
def test_currents_var_add_is_the_pass_after_the_read(each_backend, encoding, cell):
    """Per-column variances handed to the array read (``var_add``: the front ends' noise) give
    bit for bit the read's variances plus a pass adding them, whether the variance GEMM adds
    them as it writes its sums (linear cells, bfloat16 kernel) or a pass does (bit-plane
    look-up, nonlinear cells)."""
    from cimsim.kernels.bf16_gemm import add_columns

    w, x = _data(70, 20, 45, seed=9)
    hw = HardwareConfig().replace_path("tile.input_encoding", encoding)
    if cell is not None:
        hw = hw.replace_path("tile.cell", cell)
    m = AnalogMatrix(w, hw).calibrate(x)
    enc = m.encoder
    r0, r1, block = m.blocks[0]
    read = cells.array_read(block, m.hw.t_s, enc, m._dtype)
    add = np.random.default_rng(1).uniform(0.0, 1e-13, read.n_signal)
    codes = enc.codes(x) if enc.n_planes > 1 else None
    for p in range(min(enc.n_planes, 2)):
        v, v2, _ = (a.copy() for a in enc.drive(codes, p, m._dtype, r0=r0, r1=r1, x=x,
                                                 squares=read.squares(False)))
        kw = dict(x=x[:, r0:r1], codes=None if codes is None else codes[:, r0:r1])
        ref = [a.copy() for a in read.currents(v, v2, p, **kw)]
        add_columns(ref[1], add.astype(ref[1].dtype))
        got = read.currents(v, v2, p, var_add=add, **kw)
        assert ref[1].shape[1] == read.n_signal
        for a, b in zip(got, ref, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("converter_noise", [False, True])
def test_read_noise_operand_by_code_table_is_the_operand_pass(each_backend, converter_noise):
    """The 'shared' read-noise operand looked up per input code (the row drive's code table)
    is bit for bit the operand pass over the row voltages, so the variances and the read
    are unchanged."""
    from cimsim.tile import variance

    w, x = _data(70, 20, 130, seed=8)
    m = AnalogMatrix(w, HardwareConfig(converter_noise=converter_noise).replace_path(
        "tile.cell", "linear")).calibrate(x)
    enc = m.encoder
    read = cells.array_read(m.blocks[0][2], m.hw.t_s, enc, m._dtype)
    table = read.operand_table(False)
    assert read.mats["variance"].mode == "shared" and table is not None
    assert read.operand_table(True) is None         # per-cell noise: no operand
    r0, r1 = m.blocks[0][0], m.blocks[0][1]
    v, op, _ = (a.copy() for a in enc.drive(None, 0, m._dtype, r0=r0, r1=r1, x=x,
                                             code_table=table))
    vm = read.mats["variance"]
    np.testing.assert_array_equal(op, variance.operand(v, vm))
    got = variance.variances(v, None, vm, read.n_signal, read.n_refs, binary=False, op=op)
    ref = variance.variances(v, None, vm, read.n_signal, read.n_refs, binary=False)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidParameterError, match="'shared'"):
        variance.variances(v, None, vm, read.n_signal, read.n_refs, binary=False, op=op[1:])
    # the operand's bfloat16 bits written by the drive straight into the GEMM's layout
    packing = read.packed_operand(False, x.shape[0])
    assert read.packed_operand(True, x.shape[0]) is None
    if packing is None:      # NumPy backend or no bfloat16 kernel: the drive's array
        assert each_backend == "numpy" or not bf16_gemm.kernel_available()
        return
    vp, pk, _ = enc.drive(None, 0, m._dtype, r0=r0, r1=r1, x=x, code_table=packing[0],
                          packed=packing[1])
    np.testing.assert_array_equal(vp, v)
    got = variance.variances(vp, None, vm, read.n_signal, read.n_refs, binary=False, op=pk)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("dv", "dc"), [(np.float32, np.float64), (np.float32, np.float32),
                                       (np.float64, np.float64)])
def test_per_column_add_kernel_is_numpy_add(dv, dc):
    """bf16_gemm.add_columns (the per-column constants added to the variances: the thermal
    terms and the front end's noise) gives NumPy's ``var += c`` bit for bit, the mixed
    float32 + float64 case included (the sum in float64, one rounding to float32)."""
    from cimsim.kernels import bf16_gemm

    g = np.random.default_rng(5)
    var = (g.random((70, 33)) * 10.0 ** g.integers(-22, -8, (70, 33))).astype(dv)
    c = (g.random(33) * 10.0 ** g.integers(-22, -8, 33)).astype(dc)
    ref = var.copy()
    ref += c
    got = var.copy()
    bf16_gemm.add_columns(got, c)
    np.testing.assert_array_equal(got, ref)
    bf16_gemm._add_columns_py(var, c)      # the kernel's Python form, the same loop
    np.testing.assert_array_equal(var, ref)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("encoding", ["amplitude", "bit_serial", "level_crossing"])
def test_row_drive_kernel_equals_numpy_reference(encoding, signed, bits):
    """Levels and per-chunk sums of the Numba drive kernel (int32 counts for bit-planes,
    integer-exact float64 sums for linear levels) equal the NumPy reference
    (device_models.encoding.encode itself) for every cycle, up to the widest inputs (16-bit
    codes: chunk counts near 64·(2**16 − 1))."""
    from device_models._jit import use_backend

    hw = _hw(input_encoding=encoding, input_bits=bits)
    r = np.random.default_rng(bits)
    c_max = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
    codes = r.integers(-c_max if signed else 0, c_max + 1, size=(150, 37)).astype(np.int32)
    codes[:64, 3] = c_max                  # a full chunk at the largest code
    enc = AnalogMatrix(np.ones((37, 1)), hw).calibrate(
        np.array([[-1.0 if signed else 0.0] * 37, [1.0] * 37])).encoder
    assert enc.c_max == c_max
    for p in range(enc.n_planes):
        got = []
        for which in ("numba", "numpy"):
            nz = np.empty(150, dtype=np.int32)
            with use_backend(which):
                v, v2, acc = (a.copy() for a in enc.drive(codes, p, np.float64, r0=2, r1=35,
                                                          squares=True, nz=nz))
            got.append((v, v2, acc, nz))
        (v, v2, acc, nz), (v_ref, v2_ref, acc_ref, nz_ref) = got
        np.testing.assert_allclose(v, v_ref, rtol=1e-15, atol=0.0)
        np.testing.assert_allclose(v2, v2_ref, rtol=1e-14, atol=0.0)
        np.testing.assert_allclose(acc, acc_ref, rtol=1e-13, atol=0.0)
        np.testing.assert_array_equal(acc[:, 1:], acc_ref[:, 1:])     # integer counts
        np.testing.assert_array_equal(nz, nz_ref)
    if encoding == "bit_serial":     # every plane's sums in one pass: the planes' sums
        want_acc = np.full((3, 3, 33), 0.25)
        want_nz = np.empty((enc.n_planes, 150), dtype=np.int32)
        with use_backend("numba"):
            for p in range(enc.n_planes):
                enc.drive(codes, p, np.float32, r0=2, r1=35, acc=want_acc, nz=want_nz[p])
        for which in ("numba", "numpy"):
            acc = np.full((3, 3, 33), 0.25)
            nz = np.full((enc.n_planes, 150), 9, dtype=np.int32)
            with use_backend(which):
                enc.drive_planes(codes, r0=2, r1=35, acc=acc, nz=nz)
            if which == "numba":
                np.testing.assert_array_equal(acc, want_acc)
            np.testing.assert_allclose(acc, want_acc, rtol=1e-13, atol=0.0)
            np.testing.assert_array_equal(acc[:, 1:], want_acc[:, 1:])
            np.testing.assert_array_equal(nz, want_nz)
        with pytest.raises(InvalidParameterError, match="nz"):
            enc.drive_planes(codes, acc=acc, nz=nz[:, :5])


@pytest.mark.parametrize("converter_noise", [False, True])
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_row_drive_kernels_execute_device_models_encoding(each_backend, encoding, signed,
                                                          converter_noise):
    """The tile's drive kernels execute device_models.encoding: per cycle, the row voltages
    are the encoding's amplitude-equivalent drive (V·t_on over the window; DAC-card levels
    for amplitude inputs with converter noise), the energy sums are its V²·t_on, V² per event
    and events, and each vector's count of driven rows is right."""
    base = HardwareConfig(read_noise=False, programming_noise=False, faults=False, drift=False,
                          converter_noise=converter_noise)
    hw = _hw(base, input_encoding=encoding, input_bits=6, adc_bits=8, t_read_s=63e-9)
    r = np.random.default_rng(5)
    x = r.integers(-31 if signed else 0, 32 if signed else 64, size=(150, 23)).astype(float)
    x[:70, :] *= r.random((70, 23)) < 0.3        # sparse vectors, some all zero
    x[3] = 0.0
    x[0, 0] = -31.0 if signed else 63.0          # fixes the input range: codes = x
    m = AnalogMatrix(np.ones((23, 2)), hw).calibrate(x)
    enc = m.encoder
    codes = enc.codes(x)
    np.testing.assert_array_equal(codes, x)
    ref = enc.encoded(codes)
    assert enc.n_planes == ref.n_cycles
    linear = np.arange(enc.c_max + 1) * enc.plane_volts_per_code(0)
    dac_levels = converter_noise and encoding == "amplitude"   # time-coded drive: no DAC
    assert np.allclose(enc.levels_v, linear, rtol=1e-12, atol=0.0) != dac_levels
    for p in range(enc.n_planes):
        nz = np.empty(150, dtype=np.int32)
        v, _, acc = (a.copy() for a in enc.drive(codes, p, np.float64, nz=nz))
        np.testing.assert_allclose(v, ref.v_eq_v[p], rtol=1e-12, atol=1e-18)
        stats = enc.row_stats(acc)
        np.testing.assert_allclose(stats[0], ref.cell_v2s[p].sum(axis=0), rtol=1e-12, atol=1e-30)
        np.testing.assert_allclose(stats[1], ref.wire_v2[p].sum(axis=0), rtol=1e-12, atol=1e-30)
        np.testing.assert_array_equal(stats[2], np.count_nonzero(ref.events[p], axis=0))
        np.testing.assert_array_equal(stats[3], ref.events[p].sum(axis=0))
        np.testing.assert_array_equal(nz, np.count_nonzero(ref.events[p], axis=1))
    np.testing.assert_allclose(
        [enc.plane_volts_per_code(0) / enc.plane_volts_per_code(p) for p in range(enc.n_planes)],
        ref.cycle_weights / ref.cycle_weights[0])


def test_sar_comparator_noise_blurs_only_near_a_transition():
    from cimsim.tile.readout import ColumnAdcs, analog_read
    from device_models.adc import SarAdc

    hw = _hw(HardwareConfig(converter_noise=True), adc_bits=8)
    adc0 = SarAdc.from_card(hw.adc_card, bits=8, temperature_k=hw.temperature_k,
                            seed=rng.derive_key(hw.seed, "column_adc", 0, 0),
                            comparator_noise_v=0.0, ktc_noise=False)
    u_thr = adc0.transition_levels_v()[100 - 1] / adc0.lsb_v      # code 99 -> 100 [LSB]
    n = 4000
    one = np.ones(1)
    for sigma_lsb, shift in ((0.3, 0.0), (0.05, 3.5)):
        adcs = ColumnAdcs(hw, 1)
        adcs.sig_s[:] = 0.0
        adcs.sig_c[:] = sigma_lsb
        mean = np.full((n, 1), u_thr + shift - 128.5)             # gain 1: u = mean + 128.5
        out = np.zeros((n, 1))
        analog_read(mean, np.zeros((n, 0)), np.zeros((n, 0)), np.full(1, -1), one, one,
                    np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), adcs, key=1,
                    key_ref=2, key_c=3, sample0=0, plane=0, n_planes=1, col0=0, ref0=0,
                    out=out, e_out=np.zeros(n))
        codes = out[:, 0] + 128.0
        if shift == 0.0:          # at a transition: a coin flip between 99 and 100
            assert 0.4 <= np.mean(codes >= 100) <= 0.6
        else:                     # 10 sigma from every threshold: the noise-free code
            expected = adc0.convert((u_thr + shift) * adc0.lsb_v)
            assert np.all(codes == expected)


# --- activation sparsity, events and the column front end ------------------------------------


def test_ninety_percent_zero_inputs_cut_dac_conversions_tenfold():
    """skip_zero_inputs (the default): zero inputs need no DAC conversion and no input-buffer
    read; the sparsity is the run's own data."""
    w, x = _data(256, 32, 200, seed=11)
    sparse = x * (np.random.default_rng(12).random(x.shape) < 0.1)
    hw = HardwareConfig(converter_noise=False)
    hw = hw.replace(tile=hw.tile.replace(rows=128, cols=64))
    m = AnalogMatrix(w, hw).calibrate(x)
    _, dense_ops = m.matmul(x)
    _, sparse_ops = m.matmul(sparse)
    ratio = dense_ops.dac_conversions / sparse_ops.dac_conversions
    assert 8.5 < ratio < 11.5
    assert sparse_ops.dac_conversions * m.n_tiles // len(m.blocks) == pytest.approx(
        np.count_nonzero(m.encoder.codes(sparse)) * m.n_tiles / len(m.blocks))
    assert dense_ops.sram_read_bits / sparse_ops.sram_read_bits == pytest.approx(ratio)
    assert sparse_ops.cell_read_energy_j < 0.2 * dense_ops.cell_read_energy_j
    # without skipping, every used row converts in every cycle whatever its value
    off = AnalogMatrix(w, hw.replace_path("tile.skip_zero_inputs", False)).calibrate(x)
    _, a = off.matmul(x)
    _, b = off.matmul(sparse)
    assert a.dac_conversions == b.dac_conversions == 200 * sum(t.rows_used for t in off.tiles)
    assert a.adc_conversions == b.adc_conversions


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_no_event_no_energy(encoding):
    """An all-zero input drives no row, so it costs no driver event, no cell read, no wire
    charge, no ADC conversion (the tiles skip them) and no input read; its output is zero even
    with comparator noise and offsets, and the event-driven lines of the energy breakdown are
    zero."""
    from cimsim.ppa.energy import components, energy_breakdown

    w, x = _data(40, 6, 8, seed=2)
    hw = _hw(HardwareConfig(), input_encoding=encoding, rows=16, cols=16, adc_bits=8)
    m = AnalogMatrix(w, hw).calibrate(x)
    y, ops = m.matmul(np.zeros((3, 40)))
    np.testing.assert_array_equal(y, 0.0)
    for name in ("dac_conversions", "row_pulses", "cell_reads", "cell_read_energy_j",
                 "row_drive_v2",
                 "adc_conversions", "adc_switching_energy_j", "shift_adds", "sram_read_bits"):
        assert getattr(ops, name) == 0, name
    parts = energy_breakdown(ops, components(hw))
    for name in ("array_read", "wire_charging", "dac", "row_driver", "integrator", "adc",
                 "shift_add"):
        assert parts[name] == 0.0, name
    # one non-zero input: a handful of events, all in the first row block
    x1 = np.zeros((1, 40))
    x1[0, 3] = x[0, 3]
    _, one = m.matmul(x1)
    assert 0 < one.row_drive_events <= m.encoder.c_max * len(m.blocks[0][2].tiles)
    assert one.adc_conversions == m.encoder.n_planes * m.blocks[0][2].n_signal or (
        encoding == "bit_serial" and one.adc_conversions < m.encoder.n_planes
        * m.blocks[0][2].n_signal)


def test_a_tile_with_only_zero_inputs_skips_its_conversions():
    w, x = _data(64, 10, 20, seed=4)
    hw = _hw(HardwareConfig(converter_noise=True), rows=32, cols=32, adc_bits=8)
    m = AnalogMatrix(w, hw).calibrate(x)
    assert len(m.blocks) == 2
    x2 = x.copy()
    x2[:, 32:] = 0.0                  # the second row block sees only zeros
    y, ops = m.matmul(x2)
    first = m.blocks[0][2].n_signal
    assert ops.adc_conversions == 20 * first == ops.shift_adds
    # with ideal ADCs and no read noise (an undriven column still carries its cells' thermal
    # noise) an undriven tile reads exactly zero, so skipping changes no number
    hw = _hw(HardwareConfig(converter_noise=False, read_noise=False), rows=32, cols=32,
             adc_bits=8)
    on = AnalogMatrix(w, hw).calibrate(x)
    off = AnalogMatrix(w, hw.replace_path("tile.skip_zero_inputs", False)).calibrate(x)
    y_on, ops_on = on.matmul(x2)
    y_off, ops_off = off.matmul(x2)
    np.testing.assert_array_equal(y_on, y_off)
    assert ops_on.adc_conversions * 2 == ops_off.adc_conversions
    assert ops_on.adc_switching_energy_j < ops_off.adc_switching_energy_j


def test_front_end_is_the_device_models_circuit():
    """The tile's column front end is device_models.frontend's charge integrator (or TIA),
    calibrated by its calibrate_range; the tile output is the ideal ADC code of that
    circuit's output voltage, recombined digitally."""
    from device_models.frontend import ChargeIntegrator, Tia, calibrate_range

    w, x = _data(30, 5, 50, seed=8)
    for front_end in ("integrator", "tia"):
        hw = _hw(input_bits=8, weight_bits=8, bits_per_cell=8, adc_bits=14, rows=32, cols=16,
                 adc_range="per_column", adc_calibration="percentile", adc_percentile=99.0,
                 front_end=front_end)
        m = AnalogMatrix(w, hw).calibrate(x)
        tile, enc = m.tiles[0], m.encoder
        assert isinstance(tile.front_end, ChargeIntegrator if front_end == "integrator" else Tia)
        v, _, _ = enc.drive(enc.codes(x), 0, np.float64)
        i = v @ tile.state(0.0)["signal_s"]
        np.testing.assert_allclose(tile.i_fs_a, calibrate_range(i, "percentile", 99.0, axis=0))
        lsb = tile.adcs.lsb_v
        code = np.clip(np.floor(tile.front_end.output_v(i) / lsb + 0.5), 0, 2 ** 14 - 1)
        gain = np.asarray(tile.front_end.gain_ohm) / lsb
        y_ref = ((code - 2 ** 13) / gain * tile.mapping.digital_weight
                 * enc.x_lsb / enc.plane_volts_per_code(0))
        y, _ = m.matmul(x)
        np.testing.assert_allclose(y, y_ref, rtol=1e-9, atol=1e-12)
    from cimsim.config import ConfigError

    with pytest.raises(ConfigError, match="front_end"):
        _hw(input_encoding="pulse_width", front_end="tia")



@pytest.mark.parametrize("adc_range", ["per_tile", "per_column"])
def test_a_tile_without_calibration_signal_gets_one_full_cell_current(adc_range):
    """The second row block sees only zeros in calibration: its columns get the current of one
    fully driven cell, V_read·(G_max − G_min) = 0.2 V · (20 − 2) µS = 3.6 µA (the card's
    G_min > 0 counted), the first block its own calibrated range."""
    w, x = _data(32, 4, 20)
    x[:, 16:] = 0.0
    m = AnalogMatrix(w, _hw(rows=16, cols=16, adc_range=adc_range)).calibrate(x)
    first, second = (block.tiles[0] for _r0, _r1, block in m.blocks)
    assert second.mapping.g_min_s == 2e-6 and second.mapping.g_max_s == 2e-5
    np.testing.assert_allclose(second.i_fs_a, 0.2 * 18e-6, rtol=1e-12, atol=0.0)
    assert np.all(first.i_fs_a != 3.6e-6) and np.all(first.i_fs_a > 0.0)

# --- time series: level crossing sends only the changes --------------------------------------


def _series(steps=12, batch=6, n_in=40, seed=0):
    r = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, steps)[:, None, None]
    return np.sin(2 * np.pi * (0.3 * t + r.random((1, batch, n_in)))) * r.uniform(
        0.5, 1.0, (1, batch, n_in))


@pytest.mark.parametrize("encoding", [e for e in ENCODINGS if e != "bit_serial"])
def test_series_in_ideal_mode_is_x_at_w_at_every_step(encoding):
    w = np.random.default_rng(1).normal(size=(40, 7))
    x = _series()
    hw = HardwareConfig.ideal()
    hw = hw.replace(tile=hw.tile.replace(rows=16, cols=8, input_encoding=encoding))
    m = AnalogMatrix(w, hw).calibrate(x.reshape(-1, 40))
    y, ops = m.matmul_series(x)
    ref = x @ w
    np.testing.assert_allclose(y, ref, rtol=1e-9, atol=1e-9 * np.max(np.abs(ref)))
    assert ops.macs == 12 * 6 * 40 * 7


def test_level_crossing_series_equals_static_reads_and_counts_only_changes():
    w = np.random.default_rng(2).normal(size=(40, 7))
    x = _series(steps=10)
    hw = _hw(input_encoding="level_crossing", input_bits=8, rows=32, cols=16)
    m = AnalogMatrix(w, hw).calibrate(x.reshape(-1, 40))
    y, ops = m.matmul_series(x, sample_offset=0)
    # noise-free: the held charge at step s is the read of D_s
    for s in range(10):
        ys, _ = m.matmul(x[s], sample_offset=s * 6)
        np.testing.assert_allclose(y[s], ys, rtol=1e-12, atol=1e-12)
    codes = m.encoder.codes(x.reshape(-1, 40)).reshape(10, 6, 40)
    changes = np.abs(np.diff(codes, axis=0, prepend=0)).sum(axis=(1, 2))
    n_row_tiles = [len(b.tiles) for _, _, b in m.blocks]
    assert len(set(n_row_tiles)) == 1
    assert ops.row_pulses == changes.sum() * n_row_tiles[0]     # one pulse per event
    assert ops.dac_conversions == 0
    _, static = m.matmul(x.reshape(-1, 40))
    assert ops.row_pulses < 0.5 * static.row_pulses       # slow signal: few events
    # a constant series: events at the first step only, the result held, one conversion
    const = np.repeat(x[:1], 5, axis=0)
    m2 = AnalogMatrix(w, _hw(HardwareConfig(converter_noise=True), input_encoding=
                             "level_crossing", rows=32, cols=16)).calibrate(x.reshape(-1, 40))
    yc, oc = m2.matmul_series(const)
    _, o1 = m2.matmul(const[0])
    assert np.all(yc == yc[:1])
    # one step per call, continuing the series state: the same numbers and counts
    st: dict = {}
    parts = [m2.matmul_series(const[k:k + 1], state=st, sample_offset=k * 6) for k in range(5)]
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), yc)
    assert sum(p[1].row_pulses for p in parts) == oc.row_pulses
    assert oc.row_pulses == o1.row_pulses
    assert oc.adc_conversions == o1.adc_conversions
    assert oc.cell_read_energy_j == pytest.approx(o1.cell_read_energy_j, rel=1e-6, abs=0.0)


def test_level_crossing_noise_accumulates_on_the_held_charge():
    """Read noise of every step's events stays on the integrator: up to D, down to 0 and up
    to D again is three times the noise variance of going up once."""
    w = np.random.default_rng(3).normal(size=(16, 3))
    hw = _hw(HardwareConfig(programming_noise=False, faults=False, drift=False,
                            converter_noise=False), input_encoding="level_crossing",
             input_bits=8, adc_bits=14, rows=16, cols=8, adc_calibration="minmax")
    x0 = np.abs(np.random.default_rng(4).normal(size=16))
    x = np.stack([np.tile(x0, (3000, 1)), np.zeros((3000, 16)), np.tile(x0, (3000, 1))])
    m = AnalogMatrix(w, hw).calibrate(np.stack([x0, 1.5 * x0]))   # ADC headroom: no clip
    y, _ = m.matmul_series(x)
    ratio = y[2].var(axis=0) / y[0].var(axis=0)
    assert np.all(np.abs(ratio - 3.0) < 0.5)
    np.testing.assert_allclose(y[2].mean(axis=0), y[0].mean(axis=0),
                               atol=4 * np.sqrt(y[2].var(axis=0).max() / 3000))
    with pytest.raises(InvalidParameterError, match="per_cell"):
        AnalogMatrix(w, hw.replace_path("tile.read_noise_model", "per_cell")).calibrate(
            x[0]).matmul_series(x)
