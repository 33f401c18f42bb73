"""The in-place LAPACK/BLAS block operations of cimsim.kernels._blas against NumPy, and the
scratch and task helpers of cimsim.kernels.parallel that the G_eff merges use."""

from __future__ import annotations

import numpy as np
import pytest

from cimsim.kernels import _blas as blas


def _spd(n: int, seed: int) -> np.ndarray:
    a = np.random.default_rng(seed).standard_normal((n, n))
    return a @ a.T + n * np.eye(n)


@pytest.mark.parametrize(("k", "e"), [(1, 1), (7, 3), (25, 15), (40, 64)])
def test_elimination_steps_equal_numpy(k, e):
    """Cholesky of the shared block, W = L⁻¹ M_ek in panels, and M_kk − WᵀW by row panels
    (lower triangle, the part left of the diagonal block alone too) and by a block below the
    diagonal: each against NumPy, and nothing outside its block written."""
    n = k + e
    full = _spd(n, k * 100 + e)
    m = full.copy()
    assert blas.chol_lower(m, k, e) == 0
    low = np.tril(m[k:, k:])
    assert np.allclose(low @ low.T, full[k:, k:], rtol=1e-13, atol=1e-12 * n)
    assert np.array_equal(np.triu(m[k:, k:], 1), np.triu(full[k:, k:], 1))
    cut = k // 2
    blas.trsm_lower_right(m, k, e, 0, cut)
    blas.trsm_lower_right(m, k, e, cut, k)
    w = np.linalg.solve(low, full[k:, :k])
    assert np.allclose(m[k:, :k], w, rtol=1e-12, atol=1e-13)
    s = full[:k, :k] - w.T @ w
    lower = np.tril(np.ones((k, k), dtype=bool))

    panels = m.copy()
    blas.syrk_lower_sub(panels, k, e, 0, cut, cut)
    blas.syrk_lower_sub(panels, k, e, cut, k, k)
    assert np.allclose(panels[:k, :k][lower], s[lower], rtol=1e-12, atol=1e-12 * n)
    assert np.array_equal(panels[:k, :k][~lower], full[:k, :k][~lower])

    left = m.copy()
    blas.syrk_lower_sub(left, k, e, cut, k, cut)          # only columns left of row cut
    d = left[:k, :k] - full[:k, :k]
    assert np.allclose(d[cut:, :cut], (s - full[:k, :k])[cut:, :cut], rtol=1e-12,
                       atol=1e-12 * n)
    d[cut:, :cut] = 0.0
    assert not d.any()

    blk = m.copy()
    blas.gemm_nt_sub(blk, k, e, 0, cut, cut, k)
    d = blk[:k, :k] - full[:k, :k]
    assert np.allclose(d[cut:, :cut], (s - full[:k, :k])[cut:, :cut], rtol=1e-12,
                       atol=1e-12 * n)
    d[cut:, :cut] = 0.0
    assert not d.any()


def test_cholesky_reports_a_matrix_that_is_not_positive_definite():
    m = np.eye(4)
    m[3, 3] = -1.0
    assert blas.chol_lower(m, 0, 4) == 4


def test_fresh_scratch_and_side_by_side():
    """fresh_scratch gives a float64 array of the size asked for and leaves NumPy's huge-page
    setting as it was; side_by_side runs every task exactly once."""
    from numpy._core.multiarray import _get_madvise_hugepage

    from cimsim.kernels.parallel import fresh_scratch, side_by_side

    before = _get_madvise_hugepage()
    a = fresh_scratch(1 << 20)
    assert a.dtype == np.float64 and a.shape == (1 << 20,)
    assert _get_madvise_hugepage() == before
    done: list[int] = []
    side_by_side([lambda i=i: done.append(i) for i in range(7)])
    assert sorted(done) == list(range(7))
