"""The fused ideal-ADC read-out kernel (cimsim.kernels.plain_read) against the Numba passes of
cimsim.tile.readout._read_plain_py, bit for bit: outputs and switching energies."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_sar_read import _skip_without_kernel as _skip_without_sar_kernel

from cimsim.kernels import plain_read
from cimsim.tile import readout
from device_models import ziggurat as zig


def _skip_without_kernel():
    """Skip where the kernel does not run by design (as the SAR kernel's tests); where it
    should, it must compile."""
    _skip_without_sar_kernel()
    assert plain_read.kernel_address(np.float32) and plain_read.kernel_address(np.float64)


def _case(seed, n_b, n_s, dtype, noisy, bits=8, spread=1.0):
    """Random inputs of one read (mean, variance, gains in the means' dtype), codes spread
    over the whole range and past both ends."""
    g = np.random.default_rng(seed)
    dt = np.dtype(dtype).type
    half = float(2 ** (bits - 1))
    mean = (g.uniform(-1.2, 1.2, (n_b, n_s)) * half * spread).astype(dtype)
    var = (g.uniform(-0.5, 3.0, (n_b, n_s)) if noisy else np.zeros((n_b, 0))).astype(dtype)
    gain = g.uniform(0.8, 1.2, n_s).astype(dtype)
    coef = g.normal(size=n_s)
    e_table = g.uniform(0.0, 1e-13, 1 << bits)
    keys = (np.uint64(g.integers(0, 2**63)), np.uint64(g.integers(0, 2**63)))
    active = (g.random(n_b) > 0.2).astype(np.int32)
    args = (mean, var, gain, gain * gain, dt(half + 0.5), dt((1 << bits) - 1), coef)
    return args, e_table, half, keys, active


def _both(args, e_table, half, keys, active, *, col0, sample0, assign, skip):
    """(out, e_out) of the fused kernel (None where it declines) and of the passes, from the
    same starting outputs."""
    n_b, n_s = args[0].shape
    g = np.random.default_rng(1)
    start_out, start_e = g.normal(size=(n_b, n_s)), g.uniform(0, 1e-12, n_b)
    act = active if skip else np.ones(1, np.int32)
    results = []
    for fused in (True, False):
        out, e_out = start_out.copy(), start_e.copy()
        tail = (assign, e_table, half, *keys, sample0, 2, 3, col0, out, e_out, act, skip)
        if fused:
            if not readout._read_plain_fused(*args, True, *tail):
                assert np.array_equal(out, start_out) and np.array_equal(e_out, start_e)
                out = e_out = None
        else:
            readout._read_plain_kernel(*args, np.arange(n_s), True, *tail, zig._CORE64)
        results.append((out, e_out))
    return results


@given(seed=st.integers(0, 2**31 - 1), n_b=st.integers(1, 9), n_s=st.integers(1, 300),
       dtype=st.sampled_from([np.float32, np.float64]), assign=st.booleans(),
       skip=st.booleans(), col0=st.sampled_from([0, 77, 2**32 - 70]))
@settings(max_examples=60)
def test_fused_read_matches_the_passes(seed, n_b, n_s, dtype, assign, skip, col0):
    """Any column count (whole chunks, partial groups), either dtype, written or added, idle
    rows skipped, stream columns across the 32-bit wrap of the hash counter: the same bits
    as the passes."""
    _skip_without_kernel()
    (o1, e1), (o2, e2) = _both(*_case(seed, n_b, n_s, dtype, True), col0=col0,
                               sample0=seed % 1000, assign=assign, skip=skip)
    assert o1 is not None
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(e1, e2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_read_finishes_slow_draws_exactly(dtype):
    """Enough conversions that read-noise draws outside their ziggurat cores occur: still the
    same bits as the passes, whose slow path finishes them."""
    _skip_without_kernel()
    case = _case(3, 40, 301, dtype, True, spread=0.02)
    rows = (np.arange(40, dtype=np.uint64) + np.uint64(5)) * np.uint64(3) + np.uint64(2)
    # how many draws lie outside their cores (the NumPy form of the hash)
    rb = zig.rng.hash_bits(int(case[3][0]), rows)
    lo = (rb & zig._U32_MASK).astype(np.uint32)[:, None]
    hi = (rb >> zig._S32).astype(np.uint32)[:, None]
    h = zig._lowbias32_np(zig._lowbias32_np(np.arange(301, dtype=np.uint32)[None, :] ^ lo) ^ hi)
    layer = (h & np.uint32(zig.N_LAYERS - 1)).astype(np.int64)
    assert np.count_nonzero((h >> np.uint32(zig.LAYER_BITS + 1)) >= zig._K[layer]) > 5
    for assign in (False, True):
        (o1, e1), (o2, e2) = _both(*case, col0=0, sample0=5, assign=assign, skip=False)
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(e1, e2)


def test_fused_read_declines_what_it_does_not_run():
    """Reads without read noise, scattered outputs and operands of mixed dtypes stay with
    the passes (nothing written)."""
    _skip_without_kernel()
    args, e_table, half, keys, active = _case(0, 3, 20, np.float32, True)
    clean = (args[0], np.zeros((3, 0), np.float32), *args[2:])
    mixed = (args[0], args[1].astype(np.float64), *args[2:])
    out, e_out = np.zeros((3, 20)), np.zeros(3)
    tail = (True, e_table, half, *keys, 0, 0, 1, 0, out, e_out, active, False)
    assert not readout._read_plain_fused(*clean, True, *tail)
    assert not readout._read_plain_fused(*args, False, *tail)
    assert not readout._read_plain_fused(*mixed, True, *tail)
    assert not readout._read_plain_fused(*args, True, True, e_table[:-1], *tail[2:])
    assert not out.any() and not e_out.any()


def test_force_blas_turns_the_kernel_off(monkeypatch):
    monkeypatch.setenv("CIMSIM_FORCE_BLAS", "1")
    assert plain_read.kernel(np.float32) is None
    assert plain_read.kernel_address(np.float32) == 0
