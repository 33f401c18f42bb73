"""The house JIT helpers of device_models._jit."""

import numba
import numpy as np
import pytest

from device_models._jit import prefetch


def _strided_sum(a, ahead):
    s = 0.0
    for i in range(a.shape[0]):
        if i + ahead < a.shape[0]:
            for j in range(0, a.shape[1], 4):
                prefetch(a, i + ahead, j)
        for j in range(a.shape[1]):
            s += a[i, j]
    return s


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_prefetch_changes_no_number(dtype):
    """A cache hint only: the compiled loop gives the sum of the plain Python loop, for
    contiguous and strided arrays of several dtypes, and the hint is in the compiled IR."""
    kernel = numba.njit(cache=False)(_strided_sum)
    a = np.arange(7 * 10, dtype=dtype).reshape(7, 10) * dtype(3)
    for arr in (a, a[:, ::3], a[1:, 2:]):
        for ahead in (0, 1, 2, 9):
            assert kernel(arr, ahead) == _strided_sum(arr, ahead) == float(arr.sum())
    ir = next(iter(kernel.inspect_llvm().values()))
    assert "llvm.prefetch" in ir


def test_prefetch_outside_compiled_code_is_a_no_op():
    a = np.ones((2, 2))
    assert prefetch(a, 1, 1) is None
    assert np.array_equal(a, np.ones((2, 2)))
