"""The integer signal GEMM: the digit split, the AVX-512 VNNI kernel against its NumPy
reference, the error bound against the exact product, and its use by the tiles."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.hardware import HardwareConfig
from cimsim.kernels import _llvm
from cimsim.kernels import int8_gemm as ig
from cimsim.tile.matrix import AnalogMatrix
from device_models._jit import use_backend

#: |S − Ŝ| per cell over max|S| (half a unit of the last digit) [-].
SPLIT_REL = 1.0 / (2 * 127 * 128 ** 2)


def _host_has_vnni() -> bool:
    import llvmlite.binding as llvm

    return (bool(llvm.get_host_cpu_features().get("avx512vnni"))
            and llvm.llvm_version_info >= _llvm.LLVM_MIN)


def _drive(n_b, k, signed, seed, step=0.2 / 255):
    rng = np.random.default_rng(seed)
    lo, hi = (-127, 128) if signed else (0, 256)
    return (rng.integers(lo, hi, (n_b, k)) * step).astype(np.float32), step


def _run(v, step, signed, m, which):
    out = np.full((v.shape[0], m.n), np.nan, dtype=np.float32)
    with use_backend(which):
        return ig.matmul(v, step, signed, m, out)


def test_split_digits_and_error():
    s = np.random.default_rng(1).standard_normal((70, 45)) * 1e-5
    m = ig.split(s)
    assert np.abs(m.digits[0]).max() == 127
    assert np.abs(m.digits[1:]).max() <= 64
    value = sum(m.digits[d].astype(np.float64) * 128.0 ** -d for d in range(3)) * m.unit_s
    assert np.max(np.abs(value - s)) <= SPLIT_REL * np.max(np.abs(s)) * (1 + 1e-9)
    np.testing.assert_allclose(m.rounded, value, rtol=2.0 ** -24)
    np.testing.assert_array_equal(m.offset_sums[0, :, :45],
                                  128 * m.digits.astype(np.int32).sum(axis=1))
    assert not m.offset_sums[0, :, 45:].any() and not m.offset_sums[1].any()
    assert not ig.split(np.zeros((3, 4))).digits.any()


def test_two_digit_split_digits_error_and_kernel():
    """Two digits of base 254: every digit within ±127, each entry within u/(2·254), the
    kernel bitwise equal to the NumPy reference, the product within its bound."""
    rng = np.random.default_rng(6)
    s = rng.standard_normal((130, 45)) * 1e-5
    m = ig.split(s, 2)
    assert m.n_digits == 2 and m.base == 254 and m.digits.shape == (2, 130, 45)
    assert np.abs(m.digits[0]).max() == 127 and np.abs(m.digits[1]).max() <= 127
    value = (m.digits[0] + m.digits[1] / 254.0) * m.unit_s
    err = np.max(np.abs(value - s)) / np.max(np.abs(s))
    assert SPLIT_REL < err <= 1.0 / (2 * 127 * 254) * (1 + 1e-9)
    np.testing.assert_allclose(m.rounded, value, rtol=2.0 ** -24)
    np.testing.assert_array_equal(m.offset_sums[0, :, :45],
                                  128 * m.digits.astype(np.int32).sum(axis=1))
    with pytest.raises(ValueError, match="digits"):
        ig.split(s, 4)
    for signed in (False, True):
        v, step = _drive(21, 130, signed, seed=7)
        ref = _run(v, step, signed, m, "numpy")
        if ig.kernel_available():
            np.testing.assert_array_equal(_run(v, step, signed, m, "numba"), ref)
        exact = v.astype(np.float64) @ s
        bound = (1.0 / (2 * 127 * 254) + 8 * 2.0 ** -24) * np.max(np.abs(s)) * np.abs(
            v).astype(np.float64).sum(axis=1, keepdims=True)
        assert np.all(np.abs(ref - exact) <= bound)


@pytest.mark.parametrize("shape", [(1, 1, 1), (13, 5, 40), (64, 300, 33)])
@pytest.mark.parametrize("which", ["numba", "numpy"])
def test_split_signs_equals_the_split_operand(shape, which):
    """split_signs packs [max(v, 0) | min(v, 0)] straight from v: bitwise the product of the
    explicit split array (two and three digits); off-grid drives and an odd depth refused."""
    n_b, k, n = shape
    v, step = _drive(n_b, k, True, seed=sum(shape))
    p = np.maximum(v, 0)
    pm = np.concatenate([p, v - p], axis=1)
    for digits in (2, 3):
        m = ig.split(np.random.default_rng(n).standard_normal((2 * k, n)) * 1e-5, digits)
        out = np.full((n_b, n), np.nan, dtype=np.float32)
        with use_backend(which):
            got = ig.matmul(v, step, True, m, out, split_signs=True)
        np.testing.assert_array_equal(got, _run(pm, step, True, m, which))
    bad = v.copy()
    bad[0, 0] = 0.5 * step
    with use_backend(which), pytest.raises(ValueError, match="integer multiples"):
        ig.matmul(bad, step, True, m, out, split_signs=True)
    odd = ig.split(np.ones((2 * k + 1, n)))
    with pytest.raises(ValueError, match="even number of rows"):
        ig.matmul(v, step, True, odd, out, split_signs=True)


def test_rounded_is_the_split_matrix_value_bitwise():
    # rounded() forms Ŝ without the digit panels: the same float32 numbers as split().rounded
    s = np.random.default_rng(4).standard_normal((37, 29)) * 1e-5
    s[0, :3] = (0.0, -0.0, -1e-30)
    r = ig.rounded(s)
    assert r.dtype == np.float32
    assert r.tobytes() == ig.split(s).rounded.tobytes()
    with pytest.raises(ValueError, match="int32"):
        ig.rounded(np.zeros((ig.K_MAX + 1, 1)))


def test_split_refuses_rows_beyond_int32_sums():
    with pytest.raises(ValueError, match="int32"):
        ig.split(np.zeros((ig.K_MAX + 1, 1)))


def test_kernel_compiles_where_the_core_has_avx512_vnni():
    if _llvm.force_blas():
        pytest.skip("CIMSIM_FORCE_BLAS is set")
    if not _host_has_vnni():
        pytest.skip("no AVX-512 VNNI core, or llvmlite on LLVM < 17 (BLAS path only)")
    assert ig.kernel_available()


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 5), (8, 4, 32), (256, 512, 512),
                                   (9, 1030, 33), (40, 600, 64)])
@pytest.mark.parametrize("signed", [False, True])
def test_kernel_equals_numpy_reference(shape, signed):
    if not ig.kernel_available():
        pytest.skip("this core has no AVX-512 VNNI kernel")
    n_b, k, n = shape
    v, step = _drive(n_b, k, signed, seed=sum(shape))
    m = ig.split(np.random.default_rng(n).standard_normal((k, n)) * 1e-5)
    # the same integer sums, combined by the same float32 operations: bit for bit
    np.testing.assert_array_equal(_run(v, step, signed, m, "numba"),
                                  _run(v, step, signed, m, "numpy"))


@settings(max_examples=40)
@given(n_b=st.integers(1, 40), k=st.integers(1, 700), n=st.integers(1, 70),
       seed=st.integers(0, 2 ** 16), signed=st.booleans(),
       which=st.sampled_from(["numba", "numpy"]))
def test_error_bound_against_the_exact_product(n_b, k, n, seed, signed, which):
    v, step = _drive(n_b, k, signed, seed)
    s = np.random.default_rng(seed + 1).standard_normal((k, n)) * 1e-5
    exact = v.astype(np.float64) @ s
    got = _run(v, step, signed, ig.split(s), which).astype(np.float64)
    # split error plus float32 rounding of the conversions, products and sums of 3 digits
    bound = (SPLIT_REL + 8 * 2.0 ** -24) * np.max(np.abs(s)) * np.abs(v).astype(
        np.float64).sum(axis=1, keepdims=True)
    assert np.all(np.abs(got - exact) <= bound)


def test_blas_path_uses_the_represented_matrix(monkeypatch):
    v, step = _drive(37, 300, True, seed=4)
    m = ig.split(np.random.default_rng(5).standard_normal((300, 45)) * 1e-5)
    monkeypatch.setitem(ig._STATE, "fn", None)
    np.testing.assert_array_equal(_run(v, step, True, m, "numba"), v @ m.rounded)


def _matrix(encoding="amplitude", signed=True, converter_noise=False):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((96, 40)) / 10
    x = rng.standard_normal((300, 96))
    if not signed:
        x = np.abs(x)
    base = HardwareConfig(read_noise=False, drift=False, converter_noise=converter_noise)
    hw = base.replace(tile=base.tile.replace(rows=64, cols=64, input_encoding=encoding))
    return AnalogMatrix(w, hw).calibrate(x), x


@pytest.mark.parametrize("encoding,signed", [("amplitude", True), ("amplitude", False),
                                             ("bit_serial", False), ("bit_serial", True),
                                             ("pulse_width", True)])
def test_tiles_use_integer_steps_and_match_blas(monkeypatch, encoding, signed):
    m, x = _matrix(encoding, signed)
    enc = m.encoder
    assert all(enc.int_step_v(p) is not None for p in range(enc.n_planes))
    y_int, _ = m.matmul(x, sample_offset=0)
    monkeypatch.setitem(ig._STATE, "fn", None)
    y_blas, _ = m.matmul(x, sample_offset=0)
    # float32-grade either way: only ADC decisions within float32 rounding of a boundary move
    lsb = np.max(np.abs(y_int)) / 2 ** (m.hw.tile.adc_bits - 1)
    assert np.mean(y_int != y_blas) < 1e-3
    assert np.max(np.abs(y_int - y_blas)) <= 2 ** enc.n_planes * lsb


def test_dac_card_levels_are_not_integer_steps():
    m, _ = _matrix(converter_noise=True)
    assert m.encoder.int_step_v(0) is None


def test_output_into_float64_and_strided_arrays():
    v, step = _drive(16, 64, False, seed=9)
    m = ig.split(np.random.default_rng(2).standard_normal((64, 32)) * 1e-5)
    ref = _run(v, step, False, m, "numba").astype(np.float64)
    out64 = np.zeros((16, 32))
    np.testing.assert_array_equal(ig.matmul(v, step, False, m, out64), ref)
    wide = np.zeros((16, 64), dtype=np.float32)
    ig.matmul(v, step, False, m, wide[:, ::2])
    np.testing.assert_array_equal(wide[:, ::2], ref)
    assert not wide[:, 1::2].any()


@pytest.mark.parametrize("which", ["numba", "numpy"])
@pytest.mark.parametrize("bad", [0.5, 256.0, -1.0, np.nan, np.inf])
def test_row_voltages_off_the_grid_are_refused(which, bad):
    v, step = _drive(9, 20, False, seed=6)
    v[3, 7] = bad * step
    m = ig.split(np.ones((20, 5)))
    with pytest.raises(ValueError, match="integer multiples of step_v"):
        _run(v, step, False, m, which)


# --- safety: shapes, the forced BLAS path, compile failures ----------------------------------


def test_shapes_are_checked_before_any_write():
    v, step = _drive(16, 64, False, seed=9)
    m = ig.split(np.random.default_rng(2).standard_normal((64, 32)) * 1e-5)
    out = np.full((16, 32), np.nan, dtype=np.float32)
    for which in ("numba", "numpy"):
        with use_backend(which):
            with pytest.raises(ValueError, match=r"'v' parameter.*\(batch, 64\)"):
                ig.matmul(np.zeros((16, 65), np.float32), step, False, m, out)
            with pytest.raises(ValueError, match="'out' parameter"):
                ig.matmul(v, step, False, m, np.zeros((16, 31), np.float32))
            with pytest.raises(ValueError, match="'out' parameter"):
                ig.matmul(v, step, False, m, np.zeros((15, 32), np.float32))
            with pytest.raises(ValueError, match="'v' parameter"):
                ig.matmul(v[0], step, False, m, out)
    assert np.isnan(out).all()


def test_force_blas_environment_variable(monkeypatch):
    """CIMSIM_FORCE_BLAS=1: no AVX-512 kernel, the float32 BLAS product of Ŝ, and the grid
    check still refuses off-grid row voltages."""
    v, step = _drive(21, 130, True, seed=7)
    m = ig.split(np.random.default_rng(8).standard_normal((130, 40)) * 1e-5)
    monkeypatch.setenv("CIMSIM_FORCE_BLAS", "1")
    assert _llvm.force_blas() and not ig.kernel_available()
    np.testing.assert_array_equal(_run(v, step, True, m, "numba"), v @ m.rounded)
    for bad in (0.5, 300.0, np.nan):
        w = v.copy()
        w[4, 9] = bad * step
        with pytest.raises(ValueError, match="integer multiples of step_v"):
            _run(w, step, True, m, "numba")
    monkeypatch.setenv("CIMSIM_FORCE_BLAS", "0")
    assert not _llvm.force_blas()
    assert ig.kernel_available() == _host_has_vnni()


def test_a_kernel_that_does_not_compile_falls_back_to_blas(monkeypatch):
    monkeypatch.delenv("CIMSIM_FORCE_BLAS", raising=False)
    def broken_ir():
        return "define void @gemm( this is not LLVM IR"

    state: dict = {}
    with pytest.warns(RuntimeWarning, match="using BLAS"):
        fn = _llvm.compiled_gemm(state, broken_ir, ig._EXTRAS, ())
    assert fn is None and state["fn"] is None
    assert _llvm.compiled_gemm(state, broken_ir, ig._EXTRAS, ()) is None   # cached


def test_llvmlite_pin_guarantees_the_llvm_the_kernels_need():
    """pyproject's llvmlite floor ships an LLVM at least LLVM_MIN (llvmlite 0.45: LLVM 20)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    floor = re.search(r'"llvmlite>=(\d+)\.(\d+)', text)
    assert floor and (int(floor[1]), int(floor[2])) >= (0, 45)
    assert _llvm.LLVM_MIN <= (20, 0, 0)
