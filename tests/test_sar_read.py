"""The fused SAR read-out kernel (cimsim.kernels.sar_read) against the Numba passes of
cimsim.tile.readout._read_sar_py, bit for bit: outputs and switching energies."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.hardware import HardwareConfig
from cimsim.kernels import sar_read
from cimsim.tile import readout
from device_models import ziggurat as zig
from device_models._jit import backend


def _skip_without_kernel():
    """Skip where the kernel does not run by design; where it should, it must compile."""
    import llvmlite.binding as llvm

    from cimsim.kernels import _llvm

    if backend() == "numpy":
        pytest.skip("the kernels compare Numba paths")
    if _llvm.force_blas():
        pytest.skip("CIMSIM_FORCE_BLAS is set")
    llvm.initialize_native_target()
    host = llvm.get_host_cpu_features()
    if not all(host.get(f) for f in sar_read._FEATURES):
        pytest.skip("no AVX-512 core")
    assert sar_read.kernel_available()


@functools.cache
def _adcs(n_adcs: int = 5):
    return readout.ColumnAdcs(HardwareConfig(), n_adcs, seed_tag="sar_read_test")


def _case(seed, n_b, n_s, dtype, noisy, shot, spread=1.0):
    """Random inputs of one read, in LSB units (gain 1) around mid-range."""
    g = np.random.default_rng(seed)
    adcs = _adcs()
    adc_of = np.arange(n_s) % adcs.t0.size
    cols = dict(readout._sar_columns(adcs, adc_of))
    if not shot:       # no sampling noise: the read-noise draws are not taken
        cols["shot"] = False
    half = float(2 ** (adcs.bits - 1))
    mean = (g.uniform(-1.1, 1.1, (n_b, n_s)) * half * spread).astype(dtype)
    var = (g.uniform(-0.5, 3.0, (n_b, n_s)) if noisy else np.zeros((n_b, 0))).astype(dtype)
    gain = g.uniform(0.8, 1.2, n_s)
    coef = g.normal(size=n_s)
    keys = np.array([int(k) for k in g.integers(0, 2**63, 6, dtype=np.int64)], dtype=np.uint64)
    active = (g.random(n_b) > 0.2).astype(np.int32)
    return adcs, cols, half, mean, var, gain, coef, keys, active


def _both(adcs, cols, half, mean, var, gain, coef, keys, active, *, col0, sample0, assign,
          skip):
    """(out, e_out) of the fused kernel and of the passes, from the same starting outputs."""
    n_b, n_s = mean.shape
    g = np.random.default_rng(1)
    start_out, start_e = g.normal(size=(n_b, n_s)), g.uniform(0, 1e-12, n_b)
    results = []
    for fused in (True, False):
        out, e_out = start_out.copy(), start_e.copy()
        if fused:
            done = readout._read_sar_fused(mean, var, np.zeros((n_b, 0), mean.dtype), gain,
                                           coef, adcs.bits, half, cols, keys, sample0, 2, 3,
                                           col0, True, assign, out, e_out, active, skip)
            assert done
        else:
            readout._read_sar_kernel(
                mean, var, np.zeros((n_b, 0), mean.dtype), np.full(n_s, -1), gain, coef,
                np.arange(n_s), adcs.bits, half, cols["shot"], cols["s2"], cols["off"],
                cols["levels"], cols["lbase"], cols["e0"],
                cols["inv_w"], cols["e_flat"], cols["ebase"], keys, sample0, 2, 3, col0, 0,
                True, assign, out, e_out, active if skip else np.ones(1, np.int32), skip,
                zig._CORE64)
        results.append((out, e_out))
    return results


@given(seed=st.integers(0, 2**31 - 1), n_b=st.integers(1, 9), n_s=st.integers(1, 150),
       dtype=st.sampled_from([np.float32, np.float64]), noisy=st.booleans(),
       shot=st.booleans(), assign=st.booleans(), skip=st.booleans(),
       col0=st.sampled_from([0, 77, 2**32 - 70]))
@settings(max_examples=60)
def test_fused_read_matches_the_passes(seed, n_b, n_s, dtype, noisy, shot, assign, skip, col0):
    """Any column count (whole chunks, partial groups), either dtype, read noise on or off,
    with and without a variance matrix, written or added, idle rows skipped, stream columns
    across the 32-bit wrap of the hash counter: the same bits as the passes."""
    _skip_without_kernel()
    case = _case(seed, n_b, n_s, dtype, noisy, shot)
    (o1, e1), (o2, e2) = _both(*case, col0=col0, sample0=seed % 1000, assign=assign, skip=skip)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(e1, e2)


def test_fused_read_finishes_slow_draws_exactly():
    """Enough conversions that draws outside their ziggurat cores occur: still the same bits
    as the passes, whose slow paths finish those draws."""
    _skip_without_kernel()
    case = _case(3, 40, 300, np.float32, True, True, spread=0.2)
    adcs, cols, half, mean, var, gain, coef, keys, active = case
    rows = (np.arange(40, dtype=np.uint64) + np.uint64(5)) * np.uint64(3) + np.uint64(2)
    # how many read-noise draws lie outside their cores (the NumPy form of the hash)
    rb = zig.rng.hash_bits(int(keys[0]), rows)
    lo = (rb & zig._U32_MASK).astype(np.uint32)[:, None]
    hi = (rb >> zig._S32).astype(np.uint32)[:, None]
    h = zig._lowbias32_np(zig._lowbias32_np(np.arange(300, dtype=np.uint32)[None, :] ^ lo) ^ hi)
    layer = (h & np.uint32(zig.N_LAYERS - 1)).astype(np.int64)
    assert np.count_nonzero((h >> np.uint32(zig.LAYER_BITS + 1)) >= zig._K[layer]) > 5
    (o1, e1), (o2, e2) = _both(*case, col0=0, sample0=5, assign=False, skip=False)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(e1, e2)


def test_fused_read_declines_what_it_does_not_run():
    """Scattered outputs and reference columns stay with the passes (nothing written), and
    CIMSIM_FORCE_BLAS=1 turns the kernel off."""
    _skip_without_kernel()
    adcs, cols, half, mean, var, gain, coef, keys, active = _case(0, 3, 20, np.float32, True,
                                                                  True)
    out, e_out = np.zeros((3, 20)), np.zeros(3)
    assert not readout._read_sar_fused(mean, var, np.zeros((3, 0), np.float32), gain, coef,
                                       adcs.bits, half, cols, keys, 0, 0, 1, 0, False, True,
                                       out, e_out, active, False)
    assert not readout._read_sar_fused(mean, var, np.ones((3, 2), np.float32), gain, coef,
                                       adcs.bits, half, cols, keys, 0, 0, 1, 0, True, True,
                                       out, e_out, active, False)
    assert not out.any() and not e_out.any()


def test_force_blas_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv("CIMSIM_FORCE_BLAS", "1")
    assert sar_read.kernel(True, True, np.float32) is None
    assert not sar_read.kernel_available()
