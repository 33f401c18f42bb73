"""The look-up GEMM of bit-planes (cimsim.kernels.lut_gemm): exact integer sums on every path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim.kernels import int8_gemm, lut_gemm
from device_models._jit import backend, use_backend
from device_models.errors import InvalidParameterError


def _exact(bits: np.ndarray, q: np.ndarray, scale: float) -> np.ndarray:
    """b @ Q in Python integers (object arrays), times the scale, rounded once to float32."""
    r = bits.astype(object) @ q.astype(object)
    return np.array([[float(x) * scale for x in row] for row in r]).astype(np.float32)


@settings(max_examples=25)
@given(k=st.integers(1, 70), n=st.integers(1, 45), n_b=st.integers(0, 40),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 2 ** 16))
def test_kernel_and_reference_give_the_exact_sums(k, n, n_b, density, seed):
    rng = np.random.default_rng(seed)
    top = lut_gemm._I32 // k
    q1 = rng.integers(-top, top + 1, (k, n))
    q2 = rng.integers(0, lut_gemm.NARROW_MAX + 1, (k, n))
    lut = lut_gemm.pack([q1, q2], [1e-7, 3e-12], narrow=[False, True])
    v_unit = 0.2
    bits = rng.random((n_b, k)) < density
    v = np.where(bits, np.float32(v_unit), np.float32(0.0)).astype(np.float32)
    u = float(np.float32(v_unit))
    want = [_exact(bits, q1, u * 1e-7), _exact(bits, q2, u * 3e-12)]
    for name in ("numba", "numpy"):
        with use_backend(name):
            got = lut_gemm.matmul(v, v_unit, lut).copy()
        assert got.shape == (2, n_b, n)
        for m in range(2):
            np.testing.assert_array_equal(got[m], want[m].reshape(n_b, n))


@pytest.mark.parametrize("k, n, n_b, density", [
    (300, 37, 70, 0.6), (lut_gemm.GROUP * lut_gemm.PANEL, 16, 32, 0.6),
    (2 * lut_gemm.GROUP * lut_gemm.PANEL + 1, 17, 133, 0.6),
    (300, 150, 21, 0.05), (300, 37, 70, 0.0)])
def test_sums_over_several_panels_and_column_blocks(k, n, n_b, density):
    """Rows over several panels of groups (the last one partial, the narrow chunks too),
    columns over several transpose blocks and vectors over several register blocks; at a low
    density the rows added up one by one, over several column blocks."""
    rng = np.random.default_rng(k + n)
    top = lut_gemm._I32 // k
    q1 = rng.integers(-top, top + 1, (k, n))
    q2 = rng.integers(0, lut_gemm.NARROW_MAX + 1, (k, n))
    lut = lut_gemm.pack([q1, q2], [1e-7, 3e-12], narrow=[False, True])
    bits = rng.random((n_b, k)) < density
    v = np.where(bits, np.float32(0.2), np.float32(0.0)).astype(np.float32)
    u = float(np.float32(0.2))
    got = lut_gemm.matmul(v, 0.2, lut)
    assert got.shape == (2, n_b, n)
    np.testing.assert_array_equal(got[0], _exact(bits, q1, u * 1e-7))
    np.testing.assert_array_equal(got[1], _exact(bits, q2, u * 3e-12))


def test_largest_entries_every_row_driven():
    """Every entry at its largest (int32 sums at the limit; a narrow matrix's packed halves at
    their largest over each panel) and every row driven: still the exact sums."""
    k, n, n_b = 2 * lut_gemm.GROUP * lut_gemm.PANEL + 3, 40, 70
    q1 = np.full((k, n), lut_gemm._I32 // k)
    q1[:, 1::2] *= -1
    q2 = np.full((k, n), lut_gemm.NARROW_MAX)
    lut = lut_gemm.pack([q1, q2], [1e-7, 3e-12], narrow=[False, True])
    bits = np.ones((n_b, k), dtype=bool)
    bits[5] = False
    v = np.where(bits, np.float32(0.2), np.float32(0.0)).astype(np.float32)
    u = float(np.float32(0.2))
    got = lut_gemm.matmul(v, 0.2, lut)
    np.testing.assert_array_equal(got[0], _exact(bits, q1, u * 1e-7))
    np.testing.assert_array_equal(got[1], _exact(bits, q2, u * 3e-12))


def _from_tables(lut, m):
    """Q read back from the tables' one-bit patterns (packed columns split if narrow)."""
    one = [2 ** q for q in range(lut_gemm.GROUP)]
    t = lut.tables[m][:, :, :, one].astype(np.int64)     # (jb, g, c, q)
    if lut.narrow[m]:
        t = np.concatenate([t & 0xFFFF, t >> 16], axis=2)
    q = t.transpose(1, 3, 0, 2).reshape(lut_gemm.GROUP * t.shape[1], t.shape[2] * t.shape[0])
    return q[:lut.k, :lut.n]


def test_integers_read_back_from_the_tables():
    rng = np.random.default_rng(3)
    q = rng.integers(-1000, 1000, (37, 19))
    lut = lut_gemm.pack([q], [1.0])
    np.testing.assert_array_equal(lut.integers(0), q)
    np.testing.assert_array_equal(_from_tables(lut, 0), q)
    n_pad = -(-19 // lut_gemm.CB) * lut_gemm.CB
    n_g = -(-37 // lut_gemm.GROUP)
    assert lut.tables[0].shape == (n_pad // lut_gemm.J, n_g, lut_gemm.J, lut_gemm.PATTERNS)
    qn = rng.integers(0, lut_gemm.NARROW_MAX + 1, (37, 19))
    lut = lut_gemm.pack([q + 1000, qn], [1.0, 1.0], narrow=[False, True])
    np.testing.assert_array_equal(lut.integers(1), qn)
    np.testing.assert_array_equal(lut.integers(0), q + 1000)
    np.testing.assert_array_equal(_from_tables(lut, 1), qn)
    np.testing.assert_array_equal(_from_tables(lut, 0), q + 1000)
    assert lut.tables[1].shape == (n_pad // (2 * lut_gemm.JN), n_g, lut_gemm.JN,
                                   lut_gemm.PATTERNS)
    for bad in (-1, lut_gemm.NARROW_MAX + 1):
        with pytest.raises(InvalidParameterError, match="narrow"):
            lut_gemm.pack([np.full((4, 2), bad)], [1.0], narrow=[True])


def test_fixed_point_keeps_sums_in_int32_within_half_a_unit():
    rng = np.random.default_rng(4)
    b = rng.random((512, 64)) * 3e-9
    unit, q = lut_gemm.fixed_point(b)
    assert np.max(np.abs(b - unit * q)) <= 0.5 * unit * (1 + 1e-12)
    assert lut_gemm.fits(512, np.max(np.abs(q)))
    assert not lut_gemm.fits(513, np.max(np.abs(q)))
    # more rows than int32 holds: no overflow of the float conversion, the same criterion
    assert lut_gemm.fits(10**400, 0.0) and not lut_gemm.fits(10**400, 0.5)
    assert lut_gemm.fits(2**40, 1e-12) and not lut_gemm.fits(2**40, 1e-2)
    assert np.max(q) >= 2 ** 22 - 1          # 22 bits for 512 rows
    with pytest.raises(InvalidParameterError, match="int32"):
        lut_gemm.pack([np.full((600, 2), 2 ** 22)], [1.0])


def test_integer_matrix_is_the_split():
    """T/128² times the split's unit is the matrix the three base-128 digits represent."""
    rng = np.random.default_rng(5)
    s = rng.standard_normal((50, 30)) * 1e-5
    unit, t = int8_gemm.integer_matrix(s)
    np.testing.assert_array_equal((unit * t).astype(np.float32), int8_gemm.rounded(s))
    assert np.max(np.abs(t)) <= 127 * 128 ** 2 + 64 * 128 + 64


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("bad", [0.1, np.nan, np.inf])
def test_refuses_rows_off_the_bit_plane(backend, bad):
    lut = lut_gemm.pack([np.ones((8, 3), dtype=np.int64)], [1.0])
    v = np.zeros((5, 8), dtype=np.float32)
    v[3, 6] = bad
    with use_backend(backend), pytest.raises(InvalidParameterError, match=r"at \(3, 6\)"):
        lut_gemm.matmul(v, 0.2, lut)
    with pytest.raises(InvalidParameterError, match="shape"):
        lut_gemm.matmul(np.zeros((5, 7), dtype=np.float32), 0.2, lut)


def test_kernel_compiles_where_the_core_has_avx512f():
    """A kernel that fails to compile falls back to the float64 reference with the same
    numbers, so every other test would still pass: on an AVX-512 core the kernels must be
    there."""
    import llvmlite.binding as llvm

    from cimsim.kernels import _llvm

    if _llvm.force_blas():
        pytest.skip("CIMSIM_FORCE_BLAS is set")
    llvm.initialize_native_target()
    if (not llvm.get_host_cpu_features().get("avx512f")
            or tuple(llvm.llvm_version_info) < _llvm.LLVM_MIN):
        pytest.skip("no AVX-512F core, or llvmlite's LLVM too old (reference path only)")
    assert lut_gemm.kernel_available()


def test_forced_blas_runs_the_reference_with_the_same_numbers(monkeypatch):
    rng = np.random.default_rng(6)
    lut = lut_gemm.pack([rng.integers(-99, 99, (40, 33))], [2e-6])
    v = np.where(rng.random((21, 40)) < 0.5, np.float32(0.3), np.float32(0)).astype(np.float32)
    fast = lut_gemm.matmul(v, 0.3, lut).copy()
    monkeypatch.setenv("CIMSIM_FORCE_BLAS", "1")
    assert not lut_gemm.kernel_available()
    np.testing.assert_array_equal(lut_gemm.matmul(v, 0.3, lut), fast)


def test_bit_plane_reads_of_a_tile_match_the_float64_read():
    """A bit-serial tile in float32 takes both sums of a plane from the tables: the mean within
    the split's error of the float64 read (2.4e-7·max|S| per driven cell, plus one float32
    rounding) and the read-noise variance within the fixed point's error (half a unit of
    max/q_max per driven cell)."""
    from cimsim.hardware import HardwareConfig
    from cimsim.tile import cells
    from cimsim.tile.matrix import AnalogMatrix

    rng = np.random.default_rng(7)
    w = rng.standard_normal((48, 20)) / 7
    x = np.abs(rng.standard_normal((64, 48)))
    hw = HardwareConfig(converter_noise=False)
    hw = hw.replace(tile=hw.tile.replace(rows=48, cols=40, input_encoding="bit_serial"))
    m = AnalogMatrix(w, hw).calibrate(x)
    block = m.blocks[0][2]
    enc = m.encoder
    read32 = cells.array_read(block, hw.t_s, enc, np.float32)
    assert "lut" in read32.mats and "signal" not in read32.mats
    read64 = cells.ArrayRead(block, hw.t_s, enc, np.float64, cache=False)
    s64 = read64.mats["signal"]
    top = float(np.max(np.abs(s64)))
    codes = enc.codes(x)
    for p in range(enc.n_planes):
        v32 = enc.drive(codes, p, np.float32, r0=0, r1=48)[0].copy()
        mean, var, ref = read32.currents(v32, None, p, x=x, codes=codes)
        mean, var = mean.copy(), var.copy()
        v64 = v32.astype(np.float64)
        mean64, var64, _ = read64.currents(v64, None, p, x=x, codes=codes)
        n_on = (v64 != 0).sum(axis=1, keepdims=True)
        tol = 2.5e-7 * top * n_on * enc.v_read_v + 1.2e-7 * np.abs(mean64)
        assert np.all(np.abs(mean - mean64) <= tol)
        assert ref.shape == (64, 0)
        n_on = n_on.ravel()[:, None]
        unit_v = lut_gemm.fixed_point(read64.mats["variance"].own, narrow=True)[0]
        assert np.all(np.abs(var - var64) <= 0.5 * unit_v * enc.v_read_v * n_on * (1 + 1e-6)
                      + 1e-6 * var64)
        assert np.all(np.abs(var - var64) <= 4e-3 * var64)   # the bf16 GEMM bound it replaces


def test_pattern_passes_equal_their_python_references():
    """The jitted bit, pattern and row passes give what their Python references give (the
    patterns interleaved by blocks of 64 vectors, zero for the padding vectors)."""
    rng = np.random.default_rng(8)
    n_b, k = 70, 23
    n_g = -(-k // lut_gemm.GROUP)
    v = np.where(rng.random((n_b, k)) < 0.4, np.float32(0.2), np.float32(0)).astype(np.float32)
    unit = np.float32(0.2)
    outs = []
    for bits_fn, pat_fn, rows_fn in ((lut_gemm._bits_kernel, lut_gemm._patterns_kernel,
                                      lut_gemm._set_rows_kernel),
                                     (lut_gemm._bits_py, lut_gemm._patterns_py,
                                      lut_gemm._set_rows_py)):
        bits = np.full((n_b, lut_gemm.GROUP * n_g), 7, dtype=np.uint8)
        counts = bits_fn(v, unit, bits)
        idx = np.full((n_g, 128), 99, dtype=np.uint8)
        pat_fn(bits, idx)
        ptr = np.zeros(n_b + 1, dtype=np.int64)
        rows = np.zeros(int(counts[1]), dtype=np.int32)
        rows_fn(bits, k, ptr, rows)
        outs.append((tuple(int(c) for c in counts), bits, idx, ptr, rows))
    assert outs[0][0] == outs[1][0] == (0, int(np.count_nonzero(v)))
    for a, b in zip(outs[0][1:], outs[1][1:], strict=True):
        np.testing.assert_array_equal(a, b)
    idx = outs[0][2]
    b = np.arange(128)
    at = b - b % 64 + 4 * (b % 16) + (b % 64) // 16
    weights = 2 ** np.arange(lut_gemm.GROUP)
    want = np.zeros((n_g, 128), dtype=np.int64)
    want[:, :n_b] = (outs[0][1].reshape(n_b, n_g, lut_gemm.GROUP) @ weights).T
    np.testing.assert_array_equal(idx[:, at], want)


@pytest.mark.parametrize("n_planes", [1, 8, 11])
def test_code_pattern_pass_equals_its_python_reference_and_the_bits(n_planes):
    """All planes' patterns from the codes in one pass (kernel and its Python form) are the
    patterns of each plane's bits (interleaved by blocks of 64 vectors, zero padding), the
    codes of up to 16 bits taken a byte at a time; the rows of a plane from the codes too."""
    rng = np.random.default_rng(n_planes)
    n_b, k = 70, 23
    n_g = -(-k // lut_gemm.GROUP)
    codes = rng.integers(0, 2 ** n_planes, (n_b, k)).astype(np.int32)
    codes[0] = 2 ** n_planes - 1
    outs = []
    for fn in (lut_gemm._code_patterns_kernel, lut_gemm._code_patterns_py):
        idx = np.full((n_planes, n_g, 128), 99, dtype=np.uint8)
        t8 = np.full((lut_gemm.GROUP * n_g, 64), 7, dtype=np.uint8)
        fn(codes, idx, idx.view(np.int64), t8, t8.view(np.int64))
        outs.append(idx)
    np.testing.assert_array_equal(outs[0], outs[1])
    b = np.arange(128)
    at = b - b % 64 + 4 * (b % 16) + (b % 64) // 16
    weights = 2 ** np.arange(lut_gemm.GROUP)
    for p in range(n_planes):
        bits = np.zeros((n_b, lut_gemm.GROUP * n_g), dtype=np.int64)
        bits[:, :k] = (codes >> p) & 1
        want = np.zeros((n_g, 128), dtype=np.int64)
        want[:, :n_b] = (bits.reshape(n_b, n_g, lut_gemm.GROUP) @ weights).T
        np.testing.assert_array_equal(outs[0][p][:, at], want)
        n_on = int(bits.sum())
        got = []
        for fn in (lut_gemm._set_rows_codes_kernel, lut_gemm._set_rows_codes_py):
            ptr = np.zeros(n_b + 1, dtype=np.int64)
            rows = np.zeros(n_on, dtype=np.int32)
            assert fn(codes, p, ptr, rows) == n_on
            got.append((ptr, rows))
        np.testing.assert_array_equal(got[0][0], got[1][0])
        np.testing.assert_array_equal(got[0][1], got[1][1])
        nzr = np.nonzero(bits[:, :k])
        np.testing.assert_array_equal(got[0][1], nzr[1])
        np.testing.assert_array_equal(np.diff(got[0][0]), bits.sum(axis=1))


@pytest.mark.parametrize("k, n, n_b", [(23, 37, 70), (300, 150, 130), (7, 5, 0)])
def test_plane_reads_from_the_codes_equal_the_reads_of_the_voltages(monkeypatch, k, n, n_b):
    """matmul_codes of every plane (dense ones by the one-pass patterns, sparse ones row by
    row) gives matmul's numbers for that plane's voltages, on the kernel, NumPy and forced
    BLAS paths."""
    rng = np.random.default_rng(k + n_b)
    top = lut_gemm._I32 // k
    lut = lut_gemm.pack([rng.integers(-top, top + 1, (k, n)),
                         rng.integers(0, lut_gemm.NARROW_MAX + 1, (k, n))], [1e-7, 3e-12],
                        narrow=[False, True])
    codes = (rng.random((n_b, k)) ** 3 * 256).astype(np.int32)     # sparse high planes
    u = np.float32(0.2)
    pats = lut_gemm.code_patterns(codes, 8, lut)
    fast = lut_gemm.kernel_available() and backend() == "numba" and n_b > 0
    assert pats.shape[:2] == ((8, -(-k // lut_gemm.GROUP)) if fast else (0, 0))
    for p in range(8):
        v = np.where((codes >> p) & 1, u, np.float32(0)).astype(np.float32)
        want = lut_gemm.matmul(v, 0.2, lut).copy()
        np.testing.assert_array_equal(lut_gemm.matmul_codes(codes, p, float(u), lut, pats),
                                      want)
        n_on = int(np.count_nonzero(v))
        np.testing.assert_array_equal(
            lut_gemm.matmul_codes(codes, p, float(u), lut, pats, n_on), want)
        with use_backend("numpy"):
            np.testing.assert_array_equal(lut_gemm.matmul_codes(
                codes, p, float(u), lut, lut_gemm.code_patterns(codes, 8, lut)), want)
    monkeypatch.setenv("CIMSIM_FORCE_BLAS", "1")
    assert lut_gemm.code_patterns(codes, 8, lut).size == 0
    v = np.where(codes & 1, u, np.float32(0)).astype(np.float32)
    np.testing.assert_array_equal(
        lut_gemm.matmul_codes(codes, 0, float(u), lut, lut_gemm.code_patterns(codes, 8, lut)),
        lut_gemm.matmul(v, 0.2, lut))
    with pytest.raises(InvalidParameterError, match="codes"):
        lut_gemm.matmul_codes(codes.astype(np.int64), 0, float(u), lut, pats)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("k, n, n_b", [(0, 5, 3), (7, 0, 3), (7, 5, 0), (0, 0, 0)])
def test_empty_operands_give_zeros(backend, k, n, n_b):
    lut = lut_gemm.pack([np.ones((k, n), dtype=np.int64)], [1.0])
    v = np.full((n_b, k), np.float32(0.2))
    with use_backend(backend):
        got = lut_gemm.matmul(v, 0.2, lut)
    assert got.shape == (1, n_b, n)
    assert not np.any(got)


def test_tile_reads_planes_from_the_codes_with_the_numbers_of_the_voltages(monkeypatch):
    """A bit-serial matrix over two row blocks (patterns of a block's columns of the codes,
    a drive without voltages) gives the outputs and counts of the reads of the voltages."""
    from cimsim.hardware import HardwareConfig
    from cimsim.tile import cells
    from cimsim.tile.matrix import AnalogMatrix

    rng = np.random.default_rng(9)
    w = rng.standard_normal((70, 20)) / 7
    x = np.abs(rng.standard_normal((90, 70))) ** 3
    hw = HardwareConfig(converter_noise=False)
    hw = hw.replace(tile=hw.tile.replace(rows=48, cols=40, input_encoding="bit_serial"))
    m = AnalogMatrix(w, hw).calibrate(x)
    seen = []
    own = cells.ArrayRead.plane_patterns
    monkeypatch.setattr(cells.ArrayRead, "plane_patterns",
                        lambda self, codes, per_cell: seen.append(own(self, codes, per_cell))
                        or seen[-1])
    y, ops = m.matmul(x, sample_offset=0)
    assert len(m.blocks) == 2 and len(seen) >= 2 and all(s is not None for s in seen)
    monkeypatch.setattr(cells.ArrayRead, "plane_patterns", lambda self, codes, per_cell: None)
    y_v, ops_v = m.matmul(x, sample_offset=0)
    np.testing.assert_array_equal(y, y_v)
    assert vars(ops) == vars(ops_v)


@settings(max_examples=20)
@given(k=st.integers(1, 60), n=st.integers(1, 40), n_b=st.integers(1, 150),
       planes=st.sets(st.integers(0, 7), min_size=1), counted=st.booleans(),
       cuts=st.lists(st.integers(0, 9), min_size=1, max_size=4), seed=st.integers(0, 2 ** 16))
def test_plane_sums_of_any_planes_and_runs_of_vectors_equal_the_reads_of_the_voltages(
        k, n, n_b, planes, counted, cuts, seed):
    """plane_sums of any set of planes (dense ones in one pass over the tables, sparse ones
    row by row), rounded by plane_matmul for any runs of vectors (starting on multiples of
    16), gives matmul's numbers for those vectors of each plane's voltages, on the kernel and
    NumPy paths."""
    rng = np.random.default_rng(seed)
    top = lut_gemm._I32 // k
    lut = lut_gemm.pack([rng.integers(-top, top + 1, (k, n)),
                         rng.integers(0, lut_gemm.NARROW_MAX + 1, (k, n))], [1e-7, 3e-12],
                        narrow=[False, True])
    codes = (rng.random((n_b, k)) ** rng.uniform(0.3, 4) * 256).astype(np.int32)
    u = np.float32(0.2)
    want = {p: lut_gemm.matmul(np.where((codes >> p) & 1, u, np.float32(0)), 0.2, lut).copy()
            for p in planes}
    bounds = sorted({0, n_b, *(min(16 * c, n_b) for c in cuts)})
    adds = [(rng.standard_normal(n) * s).astype(np.float32) for s in (1e-7, 1e-13, 1e-12)]
    for be in ("numba", "numpy"):
        with use_backend(be):
            pats = lut_gemm.code_patterns(codes, 8, lut)
            n_on = {p: int(np.count_nonzero((codes >> p) & 1)) if counted else None
                    for p in planes}
            sums = lut_gemm.plane_sums(codes, n_on, float(u), lut, pats)
            for b0, b1 in zip(bounds[:-1], bounds[1:], strict=True):
                for p in sorted(planes):
                    np.testing.assert_array_equal(lut_gemm.plane_matmul(sums, p, b0, b1),
                                                  want[p][:, b0:b1])
                    # column constants added in float32 as the sums are written, in turn
                    got = lut_gemm.plane_matmul(sums, p, b0, b1,
                                                col_add=(adds[:1], adds[1:]))
                    np.testing.assert_array_equal(got[0], want[p][0, b0:b1] + adds[0])
                    np.testing.assert_array_equal(got[1], (want[p][1, b0:b1] + adds[1])
                                                  + adds[2])
                    np.testing.assert_array_equal(lut_gemm.plane_matmul(sums, p, b0, b1),
                                                  want[p][:, b0:b1])


def test_plane_sums_refuse_other_planes_and_runs_off_the_blocks():
    rng = np.random.default_rng(4)
    lut = lut_gemm.pack([rng.integers(-99, 99, (30, 20))], [1.0])
    codes = rng.integers(0, 256, (40, 30)).astype(np.int32)
    sums = lut_gemm.plane_sums(codes, {0: None}, 0.2, lut, lut_gemm.code_patterns(codes, 8, lut))
    if lut_gemm.kernel_available() and backend() == "numba":
        with pytest.raises(InvalidParameterError, match="b0"):
            lut_gemm.plane_matmul(sums, 0, 8, 20)
        with pytest.raises(InvalidParameterError, match="p"):
            lut_gemm.plane_matmul(sums, 3, 0, 20)
    with pytest.raises(InvalidParameterError, match="b1"):
        lut_gemm.plane_matmul(sums, 0, 16, 41)


@pytest.mark.parametrize("skip", [True, False])
def test_runs_of_vectors_read_out_plane_by_plane_give_the_numbers_of_a_whole_batch(
        monkeypatch, skip):
    """A bit-serial matrix (two row blocks, read noise) gives the same outputs and counts
    whether each run of 64 vectors has its planes read out in turn or the whole batch is
    read one plane at a time."""
    from cimsim.hardware import HardwareConfig
    from cimsim.tile import matrix
    from cimsim.tile.matrix import AnalogMatrix

    rng = np.random.default_rng(12)
    w = rng.standard_normal((70, 30)) / 7
    x = np.abs(rng.standard_normal((200, 70))) ** 2
    x[5] = 0.0
    hw = HardwareConfig(converter_noise=False)
    hw = hw.replace(tile=hw.tile.replace(rows=48, cols=64, input_encoding="bit_serial",
                                         skip_zero_inputs=skip))
    m = AnalogMatrix(w, hw).calibrate(x)
    got = []
    for run in (64, 10 ** 6):
        monkeypatch.setattr(matrix, "PLANE_BLOCK_VECTORS", run)
        y, ops = m.matmul(x, sample_offset=3)
        got.append((y, vars(ops)))
    np.testing.assert_array_equal(got[0][0], got[1][0])
    assert got[0][1] == got[1][1]
