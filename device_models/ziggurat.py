r"""Counter-based float32 standard normals: a 2048-layer ziggurat on a 32-bit keyed hash.

The hot path of a tile read needs one normal number per converted column per read. Here the
number at *(row, col)* of stream ``key`` is a pure function of the three, so results do not
depend on thread count or batch split (see :mod:`device_models.rng`), and it costs about what
a vectorised multiply-add costs:

* once per row: ``b = rng.hash_at(key, row)`` (64 bits), split into halves ``lo``, ``hi``;
* per column: ``h = L(L(col ⊕ lo) ⊕ hi)`` with ``L`` the 32-bit "lowbias32" integer hash
  (two xor-shift-multiply rounds, C. Wellons' hash prospector), 4 vector multiplies;
* ``h`` gives the ziggurat layer ``l`` (11 bits), the sign (1 bit) and a magnitude
  ``m`` (20 bits); when ``m < K[l]`` the draw lies inside its layer's rectangle core and is

  .. math:: z = \pm (2m + 1)\, 2^{-21} x_l

  (float32, one rounding); the other ~0.23 % of draws (wedges and the tail, ``x > r``) are
  finished exactly by Marsaglia & Tsang's rejection steps in float64, with uniforms of the
  per-row slow stream ``rng.uniform_at(rng.hash_at(key_slow, row), col·256 + t)``.

The distribution is the standard normal up to the 2^-20 quantisation of the magnitude inside
a layer and the float32 rounding of the result. Layer edges ``x_0 … x_2048`` solve
``x_l (f(x_{l-1}) − f(x_l)) = v`` from ``x_1 = r`` with ``f(x) = exp(−x²/2)``, ``v = r f(r)
+ ∫_r^∞ f`` (each layer, the base strip with its tail included, has area ``v``) and ``r =
4.216370409511896``, found by bisection so that the recursion closes at ``x_2048 = 0``.

References
----------
.. [1] G. Marsaglia and W. W. Tsang, "The ziggurat method for generating random variables",
   J. Stat. Softw. 5(8), 2000. doi:10.18637/jss.v005.i08
.. [2] J. K. Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011.
   doi:10.1145/2063384.2063405 (counter-based streams)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import rng
from ._checks import check_int
from ._jit import backend, jit

__all__ = ["MAX_COLS", "fill_row_normals", "normal32", "row_normals", "slow_key"]

#: Layers of the ziggurat [-] (11 bits of the 32-bit hash pick one; more layers, fewer
#: draws outside the cores: 2.8 % with 128, 1.5 % with 256, 0.43 % with 1024, 0.23 % here).
N_LAYERS = 2048
LAYER_BITS = 11
#: Right edge of the base strip, where the tail starts [-].
ZIG_R = 4.216370409511896
#: Area of every layer (rectangle, or base strip plus tail) [-].
ZIG_V = ZIG_R * math.exp(-0.5 * ZIG_R * ZIG_R) + math.sqrt(math.pi / 2.0) * math.erfc(
    ZIG_R / math.sqrt(2.0))
#: Magnitude bits of a draw [-]: ``2m + 1 < 2**21`` is exact in float32.
MAG_BITS = 20
#: Counter stride of a draw's slow-path uniforms [-].
SLOW_STRIDE = 256
#: Columns of one row of a stream (the 32-bit hash takes a 32-bit column index) [-].
MAX_COLS = 1 << 32


def _tables():
    x = np.zeros(N_LAYERS + 1)
    x[1] = ZIG_R
    x[0] = ZIG_V / math.exp(-0.5 * ZIG_R * ZIG_R)
    for i in range(1, N_LAYERS - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(ZIG_V / x[i] + math.exp(-0.5 * x[i] * x[i])))
    x[N_LAYERS] = 0.0
    f = np.exp(-0.5 * x * x)
    # core: (2m+1)·2^-21·x_l < x_{l+1}  <=>  m < (x_{l+1}/x_l·2^21 − 1)/2
    bound = (x[1:] / x[:-1] * 2.0 ** (MAG_BITS + 1) - 1.0) / 2.0
    k = np.maximum(np.ceil(bound), 0.0).astype(np.int32)
    # per layer, side by side (one cache line): the float32 scale 2^-21·x_l and the core bound
    # 2·K_l, compared with 2m + 1 (both exact in float32)
    core = np.empty((N_LAYERS, 2), dtype=np.float32)
    core[:, 0] = x[:-1] * 2.0 ** -(MAG_BITS + 1)
    core[:, 1] = 2 * k
    return x, f, k, core


_X, _F, _K, _CORE = _tables()

#: The layer table read as one 64-bit word per layer (its float32 scale and core bound side
#: by side, copied together), so that a draw's layer costs one load. The kernels take it as
#: an argument, not as a global: a global array is a constant that cannot alias their
#: outputs, and LLVM then turns a loop of look-ups into vector gathers, 2.7x slower than
#: scalar loads on the cores measured (AMD Zen 4: 0.79 against 0.29 ns per look-up).
_CORE64 = _CORE.view(np.uint64).ravel()

_U32_MASK = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_M1 = np.uint32(0x7FEB352D)
_M2 = np.uint32(0x846CA68B)
_U16 = np.uint32(16)
_U15 = np.uint32(15)
_USIGN = np.uint32(LAYER_BITS)
_UMAG = np.uint32(LAYER_BITS + 1)
_U1 = np.uint32(1)
_ULAYER = np.uint32(N_LAYERS - 1)
_STEP = 2.0 ** -(MAG_BITS + 1)
_F32_1 = np.float32(1.0)
_F32_2 = np.float32(2.0)
_NAN32 = np.float32(np.nan)


@jit(inline="always")
def _lowbias32(x):
    x = np.uint32(x ^ (x >> _U16))
    x = np.uint32(x * _M1)
    x = np.uint32(x ^ (x >> _U15))
    x = np.uint32(x * _M2)
    return np.uint32(x ^ (x >> _U16))


@jit(inline="always")
def _bits32(lo, hi, col):
    """The 32 random bits of column ``col`` in a row whose 64-bit row hash is ``(hi, lo)``."""
    return _lowbias32(np.uint32(_lowbias32(np.uint32(np.uint32(col) ^ lo)) ^ hi))


@jit(inline="always")
def _core(h):
    """(float32 core value, accepted) of draw bits ``h``."""
    layer = np.int32(h & _ULAYER)
    q = np.float32(2 * np.int32(h >> _UMAG) + 1)
    z = (q * _CORE[layer, 0]) * (_F32_1 - _F32_2 * np.float32((h >> _USIGN) & _U1))
    return z, q < _CORE[layer, 1]


@jit
def _slow(h, slow_row, col):
    """Exact rejection finish of a draw outside its layer's core (float64 arithmetic)."""
    t = np.uint64(0)
    base = np.uint64(col) * np.uint64(SLOW_STRIDE)
    layer = np.int64(h & _ULAYER)
    sign = 1.0 - 2.0 * np.float64((h >> _USIGN) & _U1)
    x = np.float64(2 * np.int64(h >> _UMAG) + 1) * _STEP * _X[layer]
    while True:
        if layer == 0:   # the tail beyond r
            while True:
                a = -math.log(rng.uniform_at(slow_row, base + t)) / ZIG_R
                b = -math.log(rng.uniform_at(slow_row, base + t + np.uint64(1)))
                t += np.uint64(2)
                if b + b >= a * a:
                    return np.float32((ZIG_R + a) * sign)
        y = _F[layer] + rng.uniform_at(slow_row, base + t) * (_F[layer + 1] - _F[layer])
        t += np.uint64(1)
        if y < math.exp(-0.5 * x * x):
            return np.float32(x * sign)
        w = rng.uniform_at(slow_row, base + t)   # a fresh draw: 32 new bits
        t += np.uint64(1)
        nb = np.uint32(np.int64(w * 4294967296.0))
        layer = np.int64(nb & _ULAYER)
        sign = 1.0 - 2.0 * np.float64((nb >> _USIGN) & _U1)
        m = np.int64(nb >> _UMAG)
        x = np.float64(2 * m + 1) * _STEP * _X[layer]
        if m < _K[layer]:
            return np.float32(x * sign)


@jit(inline="always")
def normal32(row_bits, key_slow, row, col):
    """Standard normal (float32) at ``(row, col)`` of the stream whose row hash
    ``rng.hash_at(key, row)`` is ``row_bits`` (uint64); Numba only."""
    lo = np.uint32(row_bits & _U32_MASK)
    hi = np.uint32(row_bits >> _S32)
    h = _bits32(lo, hi, col)
    z, ok = _core(h)
    if ok:
        return z
    return _slow(h, rng.hash_at(key_slow, row), col)


@jit
def _hash_row(lo, hi, col0, hb):
    """``hb[j]`` = the draw bits of column ``col0 + j`` (a loop of its own: LLVM vectorises it
    here, not when inlined beside the 64-bit row hash)."""
    for j in range(hb.size):
        hb[j] = _bits32(lo, hi, np.uint32(col0 + j))


@jit
def _layer_words(hb, table, ent):
    """``ent[j]`` = the word of ``table`` (:data:`_CORE64`, passed in) of the layer of draw
    bits ``hb[j]`` (uint64), one scalar load each. Numba only."""
    for j in range(hb.size):
        ent[j] = table[hb[j] & _ULAYER]


@jit(inline="always")
def _core_of_word(h, e32, j):
    """(float32 core value, accepted) of draw bits ``h`` whose layer word is ``ent[j]``, read
    as ``e32 = ent.view(np.float32)``: the arithmetic of :func:`_core`."""
    q = np.float32(2 * np.int32(h >> _UMAG) + 1)
    z = (q * e32[2 * j]) * (_F32_1 - _F32_2 * np.float32((h >> _USIGN) & _U1))
    return z, q < e32[2 * j + 1]


@jit
def fill_row_normals(key, key_slow, row, col0, hb, ent, z, words):
    """``z[j]`` = normal at ``(row, col0 + j)`` of stream ``key`` (float32), in passes the
    compiler vectorises or keeps branch-free: hashes into the scratch ``hb`` (uint32), the
    layers' words of ``words`` (:data:`_CORE64`, passed in) into the scratch ``ent``
    (uint64), the core values (a rejected draw marked NaN), then the rare rejections, between
    the first and the last. Scratch arrays hold at least ``len(z)`` entries. Numba only."""
    n = z.size
    row_bits = rng.hash_at(key, row)
    lo = np.uint32(row_bits & _U32_MASK)
    hi = np.uint32(row_bits >> _S32)
    _hash_row(lo, hi, np.int64(col0), hb[:n])
    _layer_words(hb[:n], words, ent[:n])
    e32 = ent.view(np.float32)
    first = np.int64(n)      # the first and last rejected draw (min/max: vectorisable)
    last = np.int64(-1)
    for j in range(n):       # core values; a rejected draw marked NaN until finished
        v, ok = _core_of_word(hb[j], e32, j)
        z[j] = v if ok else _NAN32
        okj = np.int64(ok)
        first = min(first, j + n * okj)
        last = max(last, j - (n + 1) * okj)
    if last < 0:
        return
    slow_row = rng.hash_at(key_slow, row)
    for j in range(first, last + 1):
        if z[j] != z[j]:
            z[j] = _slow(hb[j], slow_row, np.uint32(np.int64(col0) + j))


@jit
def _rows_kernel(key, key_slow, rows, col0, hb, ent, out, words):
    for r in range(rows.size):
        fill_row_normals(key, key_slow, rows[r], col0, hb, ent, out[r], words)


@functools.lru_cache(maxsize=1024)
def _slow_key(key: int) -> int:
    return rng.derive_key(0, "ziggurat_slow_path", key)


def slow_key(key: int) -> int:
    """Key of the slow-path stream that belongs to stream ``key``."""
    return _slow_key(check_int("key", key, "slow_key", lo=0, hi=(1 << 64) - 1))


# --- NumPy reference ------------------------------------------------------------------------


def _lowbias32_np(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def _slow_py(h: int, slow_row: int, col: int) -> np.float32:
    """Pure-Python form of :func:`_slow` (same arithmetic)."""
    def uni(c):
        return float(rng.uniform(slow_row, 1, offset=c)[0])

    t, base = 0, col * SLOW_STRIDE
    layer, sign = h & (N_LAYERS - 1), 1.0 - 2.0 * ((h >> LAYER_BITS) & 1)
    x = float(2 * (h >> (LAYER_BITS + 1)) + 1) * _STEP * _X[layer]
    while True:
        if layer == 0:
            while True:
                a = -math.log(uni(base + t)) / ZIG_R
                b = -math.log(uni(base + t + 1))
                t += 2
                if b + b >= a * a:
                    return np.float32((ZIG_R + a) * sign)
        y = _F[layer] + uni(base + t) * (_F[layer + 1] - _F[layer])
        t += 1
        if y < math.exp(-0.5 * x * x):
            return np.float32(x * sign)
        nb = int(np.uint32(np.int64(uni(base + t) * 4294967296.0)))
        t += 1
        layer, sign = nb & (N_LAYERS - 1), 1.0 - 2.0 * ((nb >> LAYER_BITS) & 1)
        m = nb >> (LAYER_BITS + 1)
        x = float(2 * m + 1) * _STEP * _X[layer]
        if m < _K[layer]:
            return np.float32(x * sign)


def normals_np(key: int, key_slow: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """NumPy reference: float32 normals at ``rows[:, None]``, ``cols[None, :]`` (bitwise
    identical to the kernels)."""
    rows = np.asarray(rows, dtype=np.uint64).reshape(-1)
    cols = np.asarray(cols, dtype=np.uint64).reshape(-1)
    rb = rng.hash_bits(key, rows)
    lo = (rb & _U32_MASK).astype(np.uint32)[:, None]
    hi = (rb >> _S32).astype(np.uint32)[:, None]
    c = cols.astype(np.uint32)[None, :]
    h = _lowbias32_np(_lowbias32_np(c ^ lo) ^ hi)
    layer = (h & np.uint32(N_LAYERS - 1)).astype(np.int64)
    m = (h >> np.uint32(LAYER_BITS + 1)).astype(np.int64)
    z = ((2 * m + 1).astype(np.float32) * _CORE[layer, 0]) * (
        np.float32(1.0) - np.float32(2.0) * ((h >> np.uint32(LAYER_BITS)) & np.uint32(1)).astype(
            np.float32))
    for r, j in zip(*np.nonzero(m >= _K[layer]), strict=True):
        slow_row = int(rng.hash_bits(key_slow, rows[r:r + 1])[0])
        z[r, j] = _slow_py(int(h[r, j]), slow_row, int(cols[j]))
    return z


def row_normals(key: int, rows, n_cols: int, col0: int = 0) -> np.ndarray:
    """Standard normals (float32) at rows ``rows`` and columns ``col0 … col0 + n_cols − 1``
    of stream ``key``.

    Parameters
    ----------
    key : int
        Stream key from :func:`device_models.rng.derive_key`.
    rows : int or array_like of int
        Row counters (>= 0); a scalar gives one row.
    n_cols, col0 : int
        Number of columns and the first column (``col0 + n_cols <= 2**32``).

    Returns
    -------
    ndarray, shape (len(rows), n_cols), float32
        Element ``[r, j]`` depends only on ``(key, rows[r], col0 + j)``.
    """
    caller = "row_normals"
    key = check_int("key", key, caller, lo=0, hi=(1 << 64) - 1)
    n_cols = check_int("n_cols", n_cols, caller, lo=0)
    col0 = check_int("col0", col0, caller, lo=0, hi=MAX_COLS - max(n_cols, 1))
    rows = np.atleast_1d(np.asarray(rows))
    if rows.ndim != 1 or (rows.size and (not np.issubdtype(rows.dtype, np.integer)
                                         or rows.min() < 0)):
        from ._checks import fail

        fail("rows", caller, "a non-negative integer or 1-D array of them", rows)
    rows = rows.astype(np.uint64)
    ks = slow_key(key)
    if backend() == "numpy":
        return normals_np(key, ks, rows, np.arange(col0, col0 + n_cols, dtype=np.uint64))
    out = np.empty((rows.size, n_cols), dtype=np.float32)
    hb = np.empty(n_cols, dtype=np.uint32)
    ent = np.empty(n_cols, dtype=np.uint64)
    _rows_kernel(np.uint64(key), np.uint64(ks), rows, np.int64(col0), hb, ent, out, _CORE64)
    return out
