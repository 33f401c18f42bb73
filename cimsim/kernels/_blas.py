"""Cholesky and level-3 BLAS on sub-blocks of C-ordered matrices, callable inside Numba kernels.

A dense elimination step works on blocks of one assembled matrix. NumPy's and SciPy's Python
wrappers take whole contiguous arrays, so each block would be copied out and back; Numba's
``np.dot`` likewise. The kernels here call SciPy's LAPACK/BLAS (``scipy.linalg.cython_lapack``,
``scipy.linalg.cython_blas``) directly with a leading dimension, on blocks in place, from
nopython code and without the GIL, so many small eliminations run in one ``prange`` loop and
large ones as tasks side by side.

The functions are registered with LLVM under ``cimsim_<name>`` when this module is imported,
and the kernels call them by that name, so Numba's on-disk cache stays valid in every process
(an address baked into compiled code would not). Every operand is a C-ordered ``(n, n)``
float64 matrix ``m`` (row stride ``n``); a C-ordered block is the transpose of the
Fortran-ordered block at the same address, so the lower triangle in C order is LAPACK's upper
triangle. BLAS runs on the caller's thread: callers that want the same bits for any thread
count hold :class:`cimsim.kernels.parallel.blas_single_thread`.

Every function here is a pure wrapper (no arithmetic of its own); its result is tested against
NumPy (``tests/test_kernels_blas.py``). The functions write through raw addresses without
bounds checks: callers pass blocks that lie inside ``m`` (a private module for that reason).

References
----------
.. [1] E. Anderson et al., *LAPACK Users' Guide*, 3rd ed., SIAM, 1999.
   doi:10.1137/1.9780898719604 (``dpotrf``, ``dtrsm``, ``dsyrk``, ``dgemm``).
"""

from __future__ import annotations

import llvmlite.binding as ll
import numpy as np
from numba import types
from numba.extending import get_cython_function_address

from device_models._jit import jit

__all__ = ["chol_lower", "gemm_nt_sub", "syrk_lower_sub", "trsm_lower_right"]


def _register() -> None:
    for module, names in (("scipy.linalg.cython_blas", ("dgemm", "dsyrk", "dtrsm")),
                          ("scipy.linalg.cython_lapack", ("dpotrf",))):
        for name in names:
            ll.add_symbol("cimsim_" + name, get_cython_function_address(module, name))


_register()

_P = types.intp          # every argument is a pointer (Fortran calling convention)
_dgemm = types.ExternalFunction("cimsim_dgemm", types.void(*([_P] * 13)))
_dsyrk = types.ExternalFunction("cimsim_dsyrk", types.void(*([_P] * 10)))
_dtrsm = types.ExternalFunction("cimsim_dtrsm", types.void(*([_P] * 11)))
_dpotrf = types.ExternalFunction("cimsim_dpotrf", types.void(*([_P] * 5)))

_F8 = 8                  # bytes per float64
_I4 = 4                  # bytes per LAPACK int (LP64)


@jit(inline="always")
def _args(ints, floats):
    """Scratch holding the scalar arguments: int32 and float64 arrays and the five option
    letters ``U L N T R`` (by address)."""
    iv = np.empty(ints, dtype=np.int32)
    fv = np.empty(floats)
    ch = np.empty(5, dtype=np.uint8)
    ch[0], ch[1], ch[2], ch[3], ch[4] = 85, 76, 78, 84, 82      # U L N T R
    return iv, fv, ch


@jit(inline="always")
def _done(iv, fv, ch) -> int:
    """A use of the scratch after the call: Numba frees an array after its last use, and
    the BLAS call reads it only through an address."""
    return iv.size + fv.size + ch.size


@jit
def chol_lower(m, r0, e) -> int:
    """In place, ``L`` with ``L Lᵀ = m[r0:r0+e, r0:r0+e]`` in that block's lower triangle
    (C order; only the lower triangle is read). Returns LAPACK's ``info`` (0: success)."""
    n = m.shape[1]
    iv, fv, ch = _args(3, 0)
    iv[0], iv[1], iv[2] = e, n, 0
    ip = iv.ctypes.data
    _dpotrf(ch.ctypes.data, ip, m.ctypes.data + _F8 * (r0 * n + r0), ip + _I4, ip + 2 * _I4)
    info = iv[2]
    _done(iv, fv, ch)
    return info


@jit
def trsm_lower_right(m, k, e, c0, c1) -> int:
    """In place, ``m[k:k+e, c0:c1] := L⁻¹ m[k:k+e, c0:c1]`` with ``L`` the lower triangle of
    ``m[k:k+e, k:k+e]`` (as left by :func:`chol_lower`)."""
    if c1 <= c0 or e == 0:
        return 0
    n = m.shape[1]
    iv, fv, ch = _args(3, 1)
    iv[0], iv[1], iv[2] = c1 - c0, e, n
    fv[0] = 1.0
    ip, cp, base = iv.ctypes.data, ch.ctypes.data, m.ctypes.data
    # Fortran view: B (c1-c0, e) at row c0, column k; B := B U⁻¹ with U = Lᵀ upper
    _dtrsm(cp + 4, cp, cp + 2, cp + 2, ip, ip + _I4, fv.ctypes.data,
           base + _F8 * (k * n + k), ip + 2 * _I4, base + _F8 * (k * n + c0), ip + 2 * _I4)
    return _done(iv, fv, ch)


@jit
def syrk_lower_sub(m, k, e, r0, r1, c1) -> int:
    """In place, for rows ``r0:r1`` and columns ``0:min(c1, r+1)`` (lower triangle):
    ``m[r, c] -= Σ_a W[a, r] W[a, c]`` with ``W = m[k:k+e, :k]`` (C order). ``c1`` is ``r1``
    for the whole lower part of the row panel, or at most ``r0`` for its part left of the
    diagonal block."""
    if r1 <= r0 or e == 0 or c1 <= 0:
        return 0
    n = m.shape[1]
    iv, fv, ch = _args(5, 2)
    left = min(r0, c1)
    iv[0], iv[1], iv[2], iv[3], iv[4] = left, r1 - r0, e, n, r1 - r0
    fv[0], fv[1] = -1.0, 1.0
    ip, cp, fp, base = iv.ctypes.data, ch.ctypes.data, fv.ctypes.data, m.ctypes.data
    wk = base + _F8 * (k * n)
    if left > 0:          # Fortran view: C[0:left, r0:r1] -= B[0:left] B[r0:r1]ᵀ
        _dgemm(cp + 2, cp + 3, ip, ip + _I4, ip + 2 * _I4, fp, wk, ip + 3 * _I4,
               wk + _F8 * r0, ip + 3 * _I4, fp + _F8, base + _F8 * (r0 * n), ip + 3 * _I4)
    if c1 > r0:           # the diagonal block: upper triangle of the Fortran view
        _dsyrk(cp, cp + 2, ip + 4 * _I4, ip + 2 * _I4, fp, wk + _F8 * r0, ip + 3 * _I4,
               fp + _F8, base + _F8 * (r0 * n + r0), ip + 3 * _I4)
    return _done(iv, fv, ch)


@jit
def gemm_nt_sub(m, k, e, i0, i1, j0, j1) -> int:
    """In place, ``m[j, i] -= Σ_a W[a, i] W[a, j]`` for ``i`` in ``i0:i1``, ``j`` in
    ``j0:j1`` (``j0 >= i1``: a block of the lower triangle), ``W = m[k:k+e, :k]``."""
    if i1 <= i0 or j1 <= j0 or e == 0:
        return 0
    n = m.shape[1]
    iv, fv, ch = _args(4, 2)
    iv[0], iv[1], iv[2], iv[3] = i1 - i0, j1 - j0, e, n
    fv[0], fv[1] = -1.0, 1.0
    ip, cp, fp, base = iv.ctypes.data, ch.ctypes.data, fv.ctypes.data, m.ctypes.data
    wk = base + _F8 * (k * n)
    _dgemm(cp + 2, cp + 3, ip, ip + _I4, ip + 2 * _I4, fp, wk + _F8 * i0, ip + 3 * _I4,
           wk + _F8 * j0, ip + 3 * _I4, fp + _F8, base + _F8 * (j0 * n + i0), ip + 3 * _I4)
    return _done(iv, fv, ch)
