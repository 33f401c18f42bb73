"""The bfloat16 variance GEMM: rounding, the AVX-512 kernel against its NumPy reference, and
the error bound against the exact product."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.kernels import _llvm
from cimsim.kernels import bf16_gemm as bg
from device_models._jit import use_backend

U = 2.0 ** -8     # unit roundoff of bfloat16 (8 significant bits)


def _host_has_bf16() -> bool:
    import llvmlite.binding as llvm

    return (bool(llvm.get_host_cpu_features().get("avx512bf16"))
            and llvm.llvm_version_info >= _llvm.LLVM_MIN)


def _operands(m, k, n, seed, a_scale=1e-3, b_scale=1e-12):
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 256, (m, k)) ** 2 * (a_scale / 255 ** 2)).astype(np.float32)
    b = rng.uniform(0.01, 1.0, (k, n)) * b_scale
    b[rng.random((k, n)) < 0.1] = 0.0
    return a, b


def _run(a, packed, which):
    out = np.full((a.shape[0], packed.n), np.nan, dtype=np.float32)
    with use_backend(which):
        return bg.matmul(a, packed, out)


def test_round_bf16_nearest_ties_to_even():
    ulp = 2.0 ** -7          # spacing of bfloat16 in [1, 2)
    x = np.array([1.0, 1 + ulp / 2, 1 + 1.5 * ulp, 1 + 0.49 * ulp, 1 + 0.51 * ulp, 3.0, 0.0,
                  -1 - 0.51 * ulp], dtype=np.float32)
    want = np.array([1.0, 1.0, 1 + 2 * ulp, 1.0, 1 + ulp, 3.0, 0.0, -1 - ulp],
                    dtype=np.float32)
    np.testing.assert_array_equal(bg.round_bf16(x), want)


@settings(max_examples=200)
@given(st.lists(st.floats(2.0 ** -100, 2.0 ** 100, width=32), min_size=1, max_size=50))
def test_round_bf16_within_half_an_ulp_and_monotonic(values):
    x = np.sort(np.array(values, dtype=np.float32))
    r = bg.round_bf16(x)
    assert np.all(r.view(np.uint32) & 0xFFFF == 0)          # a bfloat16 value
    assert np.all(np.abs(r.astype(np.float64) - x) <= U * x)
    assert np.all(np.diff(r) >= 0)


def test_kernel_compiles_where_the_core_has_avx512_bf16():
    if _llvm.force_blas():
        pytest.skip("CIMSIM_FORCE_BLAS is set")
    if not _host_has_bf16():
        pytest.skip("no AVX-512 BF16 core, or llvmlite on LLVM < 17 (BLAS path only)")
    assert bg.kernel_available()


@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 3, 5), (8, 2, 32), (256, 512, 512),
                                   (9, 1030, 33), (40, 600, 64)])
def test_kernel_equals_numpy_reference(shape):
    if not bg.kernel_available():
        pytest.skip("this core has no AVX-512 BF16 kernel")
    m, k, n = shape
    a, b = _operands(m, k, n, seed=sum(shape))
    packed = bg.pack(b)
    got, ref = _run(a, packed, "numba"), _run(a, packed, "numpy")
    # the same exact products, summed in float32 in another order (all terms >= 0)
    np.testing.assert_allclose(got, ref, rtol=k * 2.0 ** -23, atol=0.0)


@settings(max_examples=40)
@given(m=st.integers(1, 40), k=st.integers(1, 700), n=st.integers(1, 70),
       seed=st.integers(0, 2 ** 16), a_exp=st.integers(-3, 1), b_exp=st.integers(-20, -6),
       which=st.sampled_from(["numba", "numpy"]))
def test_error_bound_against_the_exact_product(m, k, n, seed, a_exp, b_exp, which):
    # physical ranges (v² [V²] from 1.5e-8 up, Σ² [S²] from 1e-22 up): normal products
    a, b = _operands(m, k, n, seed, a_scale=10.0 ** a_exp, b_scale=10.0 ** b_exp)
    exact = a.astype(np.float64) @ b
    got = _run(a, bg.pack(b), which).astype(np.float64)
    bound = (2 * U + U * U + k * 2.0 ** -23) * exact
    assert np.all(np.abs(got - exact) <= bound)       # zero columns come out exactly zero


def test_pack_scales_by_a_power_of_two_and_pads():
    _, b = _operands(5, 37, 50, seed=3, b_scale=1e-14)
    p = bg.pack(b)
    top = np.frexp(np.max(b))[1]              # max(B) in [2^(E-1), 2^E): scaled by 2^-(E//2)
    assert p.exp == -(top // 2)
    np.testing.assert_allclose(np.ldexp(p.rounded.astype(np.float64), -p.exp), b, rtol=U)
    assert p.panels.shape == (2, 19, bg.NR, 2)
    bits = p.panels.transpose(1, 3, 0, 2).reshape(38, 64)
    np.testing.assert_array_equal(bits[:37, :50], p.rounded.view(np.uint32) >> 16)
    assert not bits[37:].any() and not bits[:, 50:].any()


def test_blas_path_rounds_like_the_reference(monkeypatch):
    """Cores without AVX-512 BF16: the Numba rounding pass and BLAS, same numbers."""
    a, b = _operands(37, 300, 45, seed=5)
    packed = bg.pack(b)
    ref = _run(a, packed, "numpy")
    monkeypatch.setitem(bg._STATE, "fn", None)
    np.testing.assert_array_equal(_run(a, packed, "numba"), ref)


@pytest.mark.parametrize("bad", [-1e-12, np.nan, np.inf])
def test_pack_refuses_negative_or_nonfinite_variances(bad):
    b = np.full((4, 3), 1e-12)
    b[2, 1] = bad
    with pytest.raises(ValueError, match="'b' parameter of bf16_gemm.pack"):
        bg.pack(b)


def test_shapes_checked_and_force_blas(monkeypatch):
    a, b = _operands(19, 70, 33, seed=3)
    packed = bg.pack(b)
    out = np.full((19, 33), np.nan, dtype=np.float32)
    with pytest.raises(ValueError, match=r"'a' parameter.*\(batch, 70\)"):
        bg.matmul(np.zeros((19, 71), np.float32), packed, out)
    with pytest.raises(ValueError, match="'out' parameter"):
        bg.matmul(a, packed, np.zeros((19, 34), np.float32))
    assert np.isnan(out).all()
    ref = _run(a, packed, "numpy")
    monkeypatch.setenv("CIMSIM_FORCE_BLAS", "1")
    assert not bg.kernel_available()
    np.testing.assert_array_equal(_run(a, packed, "numba"), ref)


@pytest.mark.parametrize("shape", [(1, 1, 1), (13, 7, 40), (64, 300, 33)])
def test_filled_operand_equals_the_packed_operand(shape, monkeypatch):
    """matmul_filled with a fill that packs A itself gives matmul's numbers bitwise on every
    path; where the kernel does not run it takes the operand instead of the fill."""
    m, k, n = shape
    a, b = _operands(m, k, n, seed=sum(shape))
    packed = bg.pack(b)

    def fill(scale, apk):
        bg._pack_a_kernel(a, scale, apk)

    for which in ("numba", "numpy"):
        out = np.full((m, n), np.nan, dtype=np.float32)
        with use_backend(which):
            got = bg.matmul_filled(m, fill, lambda: a, packed, out)
        np.testing.assert_array_equal(got, _run(a, packed, which))
    monkeypatch.setitem(bg._STATE, "fn", None)           # BLAS: the operand, never the fill
    out = np.empty((m, n), dtype=np.float32)
    got = bg.matmul_filled(m, None, lambda: a, packed, out)
    np.testing.assert_array_equal(got, _run(a, packed, "numba"))
    plain = bg.matmul_filled(m, None, lambda: a, b.astype(np.float32), out.copy())
    np.testing.assert_array_equal(plain, a @ b.astype(np.float32))


@settings(max_examples=25)
@given(m=st.integers(1, 40), k=st.integers(1, 70), n=st.integers(1, 40),
       seed=st.integers(0, 2 ** 16))
def test_packed_operand_equals_the_array_operand(m, k, n, seed):
    """An operand written straight into the packed layout (bits from operand_bits, laid out
    as panels_of_bits lays them) gives matmul's numbers for the array bitwise, on the kernel
    and on the BLAS fallback; operand_bits are the bits _pack_a_kernel packs."""
    a, b = _operands(m, k, n, seed)
    packed = bg.pack(b)
    bits = bg.operand_bits(a.ravel(), packed).reshape(m, k)
    apk = np.full((-(-m // 8), -(-k // 2), 8, 2), 0xFFFF, dtype=np.uint16)
    bg._pack_a_kernel(a, np.float32(np.ldexp(1.0, -packed.exp)), apk)
    ours = bg.panels_of_bits(bits, np.full_like(apk, 0xFFFF))
    np.testing.assert_array_equal(ours, apk)
    op = bg.PackedOperand(ours, m, k, packed.exp)
    assert op.shape == (m, k)
    for which in ("numba", "numpy"):
        out = np.full((m, n), np.nan, dtype=np.float32)
        with use_backend(which):
            np.testing.assert_array_equal(bg.matmul(op, packed, out), _run(a, packed, which))


def test_packed_operand_workspace_and_checks(monkeypatch):
    a, b = _operands(19, 70, 33, seed=4)
    packed = bg.pack(b)
    with use_backend("numpy"):
        assert bg.packed_operand(19, packed) is None       # the reference takes arrays
    op = bg.packed_operand(19, packed)
    if not bg.kernel_available():
        assert op is None
        return
    assert op.panels.shape == (3, 35, 8, 2) and op.panels.dtype == np.uint16
    bg.panels_of_bits(bg.operand_bits(a.ravel(), packed).reshape(a.shape), op.panels)
    out = np.empty((19, 33), np.float32)
    np.testing.assert_array_equal(bg.matmul(op, packed, out), _run(a, packed, "numba"))
    other = bg.pack(b * 2.0 ** 40)            # another exponent
    with pytest.raises(ValueError, match="'a' parameter of bf16_gemm.matmul"):
        bg.matmul(op, other, out)
    with pytest.raises(ValueError, match="'out' parameter of bf16_gemm.matmul"):
        bg.matmul(op, packed, np.empty((18, 33), np.float32))
    monkeypatch.setitem(bg._STATE, "fn", None)           # BLAS on the operand's values
    assert bg.packed_operand(19, packed) is None
    np.testing.assert_array_equal(bg.matmul(op, packed, out), _run(a, packed, "numba"))


@pytest.mark.parametrize("shape", [(37, 300, 45), (64, 1100, 64), (8, 6, 32)])
@pytest.mark.parametrize("kinds", [("f8", "f4"), ("f4", "f4"), ("f8",), ("f4",), ("f8", "f8"),
                                   ("f4", "f4", "f4"), ()])
def test_column_adds_are_the_numpy_adds_after_the_product(shape, kinds, monkeypatch):
    """col_add gives bit for bit the product followed by ``out += c`` for each vector in
    turn (float32/float64 then float32 added by the kernel as it writes the sums, over
    several passes of K and padded blocks; other combinations after it), on every path."""
    m, k, n = shape
    a, b = _operands(m, k, n, seed=m + k)
    packed = bg.pack(b)
    rng = np.random.default_rng(n)
    adds = tuple((rng.uniform(0.0, 3e-14, n) * (1 + 1e-9 * rng.random(n))).astype(t)
                 for t in kinds)
    for which in ("numba", "numpy"):
        ref = _run(a, packed, which)
        for c in adds:
            ref += c
        out = np.full((m, n), np.nan, dtype=np.float32)
        with use_backend(which):
            np.testing.assert_array_equal(bg.matmul(a, packed, out, col_add=adds), ref)
    monkeypatch.setitem(bg._STATE, "fn", None)
    ref = _run(a, packed, "numba")
    for c in adds:
        ref += c
    np.testing.assert_array_equal(bg.matmul(a, packed, np.empty((m, n), np.float32),
                                            col_add=adds), ref)
    with pytest.raises(ValueError, match="'col_add' parameter of bf16_gemm.matmul"):
        bg.matmul(a, packed, out, col_add=(np.zeros(n + 1),))
