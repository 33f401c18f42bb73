"""Weight mapping: quantisation, bit-slicing, differential and offset columns."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.array.mapping import (
    map_weights,
    n_slices,
    outputs_per_tile,
    quantize_weights,
    slice_codes,
)
from cimsim.hardware import HardwareConfig, TileConfig
from device_models.errors import ConfigError, InvalidParameterError, UnknownNameError

G_MIN, G_MAX = 1e-6, 1e-4


def _recombine(m, outs):
    """Σ over signal columns of (G_p − G_n) · digital weight, per output: should be q·w_lsb."""
    g = m.g_target_s
    d = (g[:, m.pos_col] - g[:, m.neg_col]) * m.digital_weight
    y = np.zeros((g.shape[0], outs))
    np.add.at(y.T, m.out_index, d.T)
    return y


@settings(max_examples=40)
@given(
    wb=st.integers(1, 12),
    bpc=st.integers(1, 12),
    mapping=st.sampled_from(["differential", "offset"]),
    shape=st.tuples(st.integers(1, 6), st.integers(1, 5)),
    seed=st.integers(0, 2**31),
)
def test_slices_recombine_to_quantised_weights(wb, bpc, mapping, shape, seed):
    bpc = min(bpc, wb)
    w = np.random.default_rng(seed).normal(size=shape)
    m = map_weights(w, G_MIN, G_MAX, weight_bits=wb, bits_per_cell=bpc, mapping=mapping)
    assert m.n_slices == n_slices(wb, bpc, mapping)
    assert np.all(m.g_target_s >= G_MIN - 1e-18) and np.all(m.g_target_s <= G_MAX + 1e-18)
    np.testing.assert_allclose(_recombine(m, shape[1]), m.q * m.w_lsb, rtol=0, atol=1e-12)
    # Quantisation error at most half a step (weights inside the range).
    assert np.max(np.abs(w - m.q * m.w_lsb)) <= 0.5 * m.w_lsb * (1 + 1e-9) or wb == 1


def test_differential_pair_keeps_one_side_at_gmin():
    w = np.array([[0.5, -1.0, 0.0]])
    m = map_weights(w, G_MIN, G_MAX, weight_bits=8, bits_per_cell=8)
    g = m.g_target_s[0]
    assert g[0] > G_MIN and g[1] == G_MIN         # positive weight on G+
    assert g[2] == G_MIN and g[3] == pytest.approx(G_MAX)   # -max on G-: full window
    assert g[4] == G_MIN and g[5] == G_MIN          # zero weight: both at G_min


def test_offset_reference_column_sits_at_offset_code():
    w = np.array([[1.0], [-1.0], [0.0]])
    m = map_weights(w, G_MIN, G_MAX, weight_bits=4, bits_per_cell=4, mapping="offset")
    assert m.ref_cols.size == 1
    ref = m.g_target_s[:, m.ref_cols[0]]
    step = (G_MAX - G_MIN) / 15
    np.testing.assert_allclose(ref, G_MIN + 8 * step)
    np.testing.assert_allclose(m.g_target_s[:, 0], G_MIN + np.array([15, 1, 8]) * step)


def test_bit_sliced_significance():
    w = np.array([[127.0]])   # 8-bit signed: |q| = 127 = 0b1111111 over 2-bit cells
    m = map_weights(w, G_MIN, G_MAX, weight_bits=8, bits_per_cell=2)
    assert m.n_slices == 4
    np.testing.assert_array_equal(m.slice_index, [0, 1, 2, 3])
    codes = slice_codes(np.array([127]), 2, 4)[:, 0]
    np.testing.assert_array_equal(codes, [3, 3, 3, 1])
    # the top slice holds one bit, so its step is the full window
    g = m.g_target_s[0]
    assert g[6] == pytest.approx(G_MAX)


def test_quantize_weights_levels_and_zero():
    q, lsb = quantize_weights([1.0, -1.0, 0.26], 3)   # n_mag = 3
    np.testing.assert_array_equal(q, [3, -3, 1])
    assert lsb == pytest.approx(1 / 3)
    q0, lsb0 = quantize_weights(np.zeros(4), 8)
    assert np.all(q0 == 0) and lsb0 == 0.0  # zero scale: an all-zero matrix outputs exactly 0


def test_outputs_per_tile():
    assert outputs_per_tile(256, 8, 8) == 128
    assert outputs_per_tile(256, 8, 2) == 32          # 4 slices × pair
    assert outputs_per_tile(256, 8, 8, "offset") == 255  # one reference column
    assert outputs_per_tile(1, 8, 8) == 0


def test_outputs_per_tile_checks_stacking():
    """The stacking is checked as map_weights checks it (not compared with strings only)."""
    with pytest.raises(UnknownNameError, match="stacking"):
        outputs_per_tile(1, 1, 1, stacking=np.zeros(4))
    with pytest.raises(UnknownNameError, match="parallel"):
        outputs_per_tile(64, 8, 2, stacking="paralel")
    with pytest.raises(InvalidParameterError, match="'digital' unless"):
        outputs_per_tile(64, 8, 2, "offset", stacking="parallel")
    with pytest.raises(InvalidParameterError, match="'digital' unless"):
        outputs_per_tile(64, 8, 8, quantize=False, stacking="mirror")


def test_bad_input():
    with pytest.raises(InvalidParameterError, match="g_max_s"):
        map_weights(np.ones((2, 2)), 1e-4, 1e-6)
    with pytest.raises(UnknownNameError, match="differential"):
        map_weights(np.ones((2, 2)), G_MIN, G_MAX, mapping="bipolar")
    with pytest.raises(InvalidParameterError, match="finite"):
        map_weights(np.array([[np.nan]]), G_MIN, G_MAX)
    with pytest.raises(InvalidParameterError, match="dimensions"):
        map_weights(np.ones(3), G_MIN, G_MAX)
    with pytest.raises(InvalidParameterError, match="integer"):
        slice_codes(np.array([1.5]), 2, 2)
    with pytest.raises(InvalidParameterError, match="integer array"):    # ragged nesting
        slice_codes([[1, 2], [3]], 1, 1)


def test_tile_config_validation_names_field_and_range():
    with pytest.raises(ConfigError, match=r"'bits_per_cell'.*<= weight_bits"):
        TileConfig(weight_bits=4, bits_per_cell=8)
    with pytest.raises(ConfigError, match=r"'adc_bits'.*\[1, 20\].*Got 0"):
        TileConfig(adc_bits=0)
    with pytest.raises(ConfigError, match="read_noise_model"):
        TileConfig(read_noise_model="exact")
    hw = HardwareConfig.ideal()
    assert HardwareConfig.from_dict(hw.to_dict()) == hw


@pytest.mark.parametrize("mapping", ["differential", "offset"])
def test_unquantised_mapping_recombines_the_float_weights(mapping):
    w = np.random.default_rng(4).normal(size=(7, 5))
    m = map_weights(w, G_MIN, G_MAX, mapping=mapping, quantize=False)
    np.testing.assert_allclose(_recombine(m, 5), w, rtol=1e-12, atol=1e-12)
    assert m.n_slices == 1 and G_MIN <= m.g_target_s.min() and m.g_target_s.max() <= G_MAX
    assert np.isclose(m.g_target_s.max(), G_MAX, atol=0.0)    # max |w| reaches full conductance
    assert m.n_phys == (10 if mapping == "differential" else 6)
    assert outputs_per_tile(64, 8, 2, mapping, quantize=False) == (
        32 if mapping == "differential" else 63)


@pytest.mark.parametrize(("mapping", "bpc", "stacking"), [
    ("differential", 8, "digital"), ("differential", 2, "digital"), ("offset", 8, "digital"),
    ("offset", 3, "digital"), ("differential", 1, "parallel"), ("differential", 4, "mirror")])
def test_signal_and_own_columns_equal_the_gathered_columns(mapping, bpc, stacking):
    """Signal and own columns read evenly stepped columns as strided views (_as_slice): the
    same numbers, bit for bit, as gathering them by index."""
    from cimsim.array.mapping import _as_slice

    m = map_weights(np.random.default_rng(3).standard_normal((5, 7)), G_MIN, G_MAX,
                    weight_bits=8, bits_per_cell=bpc, mapping=mapping, stacking=stacking)
    x = np.random.default_rng(4).standard_normal((3, 4, m.n_phys))
    pos, neg = m.cells_pos, m.cells_neg
    sig = x[..., pos] - x[..., neg]
    own = x[..., pos] + x[..., neg] if mapping == "differential" else x[..., pos]
    if m.merge is not None:
        sig, own = sig @ m.merge, own @ (m.merge * m.merge)
    np.testing.assert_array_equal(m.signal_columns(x), sig)
    np.testing.assert_array_equal(m.own_columns(x), own)
    for idx in (np.array([0, 2, 4, 6]), np.array([3]), np.array([], dtype=np.int64),
                np.array([1, 2, 4]), np.array([5, 3, 1]), np.array([2, 2, 2])):
        np.testing.assert_array_equal(x[..., _as_slice(idx)], x[..., idx])
    assert _as_slice(np.array([0, 2, 4, 6])) == slice(0, 7, 2)
