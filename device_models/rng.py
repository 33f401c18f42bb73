"""Counter-based random numbers: every draw is a pure function of (key, index).

A stream is identified by a 64-bit *key* derived from the user's seed and a few tags naming
what the numbers are for (``derive_key(seed, "write_verify", layer)``); the *n*-th number of
the stream is ``hash(key, n)``. Nothing is sequential, so a result does not depend on thread
count, chunking, batch split or the number of sweep workers: element ``i`` always receives the
same number.

The hash is two rounds of the SplitMix64 finaliser (Steele, Lea & Flood 2014) over the Weyl
sequence ``key + n·φ``; uniforms keep the top 53 bits; normals use the Box–Muller transform
of two uniforms drawn at indices ``2n`` and ``2n + 1``.

References
----------
.. [1] G. L. Steele, D. Lea, C. H. Flood, "Fast splittable pseudorandom number generators",
   OOPSLA 2014, doi:10.1145/2660193.2660195.
.. [2] J. K. Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011,
   doi:10.1145/2063384.2063405 (the counter-based idea).
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_int, check_seed, check_shape, fail
from ._jit import backend, jit, prange
from .errors import OutOfMemoryError

__all__ = [
    "MAX_OFFSET",
    "check_offset",
    "derive_key",
    "hash_at",
    "hash_bits",
    "normal_at",
    "normals_at",
    "standard_normal",
    "uniform",
    "uniform_at",
]

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_TWO_PI = 2.0 * math.pi
_INV_2_53 = 1.0 / 9007199254740992.0


def _mix_py(z: int) -> int:
    z &= _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _tag_int(tag) -> int:
    if isinstance(tag, (int, np.integer)) and not isinstance(tag, bool):
        return int(tag) & _MASK
    # FNV-1a over the UTF-8 bytes: stable across processes (unlike hash()).
    h = 0xCBF29CE484222325
    for byte in str(tag).encode():
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return h


def derive_key(seed, *tags) -> int:
    """Return the 64-bit stream key for ``seed`` (int or Generator) and ``tags`` (int or str)."""
    h = _mix_py(check_seed("seed", seed, "derive_key") + _GOLDEN)
    for tag in tags:
        h = _mix_py(h ^ _mix_py(_tag_int(tag) + _GOLDEN))
    return h


# --- Numba scalar primitives (callable from any other kernel) ------------------------------

_U_GOLDEN = np.uint64(_GOLDEN)
_U_M1 = np.uint64(_M1)
_U_M2 = np.uint64(_M2)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)


@jit
def _mix(z):
    z = (z ^ (z >> _S30)) * _U_M1
    z = (z ^ (z >> _S27)) * _U_M2
    return z ^ (z >> _S31)


@jit
def _hash(key, counter):
    return _mix(_mix(key + counter * _U_GOLDEN) ^ key)


@jit
def hash_at(key, counter):
    """The 64 random bits at ``counter`` of stream ``key`` (both uint64); Numba only.

    The kernel-level primitive behind :func:`uniform_at` and :func:`normal_at`, for kernels
    that build their own distributions from raw bits (e.g. the per-row keys of
    :mod:`device_models.ziggurat`). :func:`hash_bits` is its NumPy form.
    """
    return _hash(key, counter)


@jit
def uniform_at(key, counter):
    """Uniform number in (0, 1) at ``counter`` of stream ``key`` (both uint64); Numba only."""
    return ((_hash(key, counter) >> _S11) + 0.5) * _INV_2_53


@jit
def normal_at(key, counter):
    """Standard normal number at ``counter`` of stream ``key`` (both uint64); Numba only."""
    c = counter * np.uint64(2)
    u1 = uniform_at(key, c)
    u2 = uniform_at(key, c + np.uint64(1))
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


@jit(parallel=True)
def _uniform_kernel(key, offset, out):
    for i in prange(out.size):
        out[i] = uniform_at(key, np.uint64(offset + i))


@jit(parallel=True)
def _normal_kernel(key, offset, out):
    for i in prange(out.size):
        out[i] = normal_at(key, np.uint64(offset + i))


# --- NumPy reference ------------------------------------------------------------------------


def _mix_np(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def hash_bits(key: int, counters) -> np.ndarray:
    """The 64 random bits (uint64) at each of ``counters`` of stream ``key``.

    NumPy form of :func:`hash_at` (bitwise identical); ``uniform(key, n, offset)[i]`` is
    ``((hash_bits(key, offset + i) >> 11) + 0.5) * 2**-53``.
    """
    k = np.uint64(key)
    with np.errstate(over="ignore"):
        return _mix_np(_mix_np(k + np.asarray(counters).astype(np.uint64)
                               * np.uint64(_GOLDEN)) ^ k)


def _uniform_np(key: int, counters: np.ndarray) -> np.ndarray:
    h = hash_bits(key, counters)
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * _INV_2_53


def normals_at(key: int, counters: np.ndarray) -> np.ndarray:
    """Standard normal numbers at each of ``counters`` (uint64 array) of stream ``key``.

    NumPy form of :func:`normal_at` (bitwise identical), for the NumPy references of kernels
    that draw at their own counters; ``standard_normal(key, n, offset)`` is
    ``normals_at(key, offset + arange(n))``.
    """
    c = counters.astype(np.uint64) * np.uint64(2)
    u1 = _uniform_np(key, c)
    u2 = _uniform_np(key, c + np.uint64(1))
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(_TWO_PI * u2)


#: Largest stream position accepted as an offset [-]: with a batch of up to 2**40 elements
#: and up to 64 draws each, every counter stays inside 64 bits (no wrap-around, which would
#: repeat numbers silently).
MAX_OFFSET = 1 << 58


def check_offset(name: str, value, caller: str) -> int:
    """``value`` as an int stream position in ``[0, MAX_OFFSET]``, else InvalidParameterError."""
    return check_int(name, value, caller, lo=0, hi=MAX_OFFSET)


def _draw(kind: str, key: int, shape, offset: int) -> np.ndarray:
    key = check_int("key", key, kind, lo=0, hi=_MASK)
    shape = check_shape("shape", shape, kind, max_size=MAX_OFFSET)
    n = 1
    for s in shape:
        n *= s
    offset = check_offset("offset", offset, kind)
    try:
        out = np.empty(n, dtype=np.float64)
    except MemoryError:
        fail("shape", kind, f"a size whose {n} float64 draws ({n * 8 / 2**30:.3g} GiB) fit in "
             "memory", shape, exc=OutOfMemoryError)
    if backend() == "numpy":
        counters = np.arange(offset, offset + n, dtype=np.uint64)
        fn = _uniform_np if kind == "uniform" else normals_at
        out[:] = fn(int(key), counters)
        return out.reshape(shape)
    kern = _uniform_kernel if kind == "uniform" else _normal_kernel
    kern(np.uint64(key), np.uint64(offset), out)
    return out.reshape(shape)


def uniform(key: int, shape, offset: int = 0) -> np.ndarray:
    """Uniform numbers in (0, 1) for stream ``key`` at indices ``offset .. offset+size-1``.

    Parameters
    ----------
    key : int
        Stream key from :func:`derive_key`.
    shape : int or tuple of int
        Output shape; elements are numbered in C order.
    offset : int
        Index of the first element, so a draw can be split into chunks that together equal
        one draw.
    """
    return _draw("uniform", key, shape, offset)


def standard_normal(key: int, shape, offset: int = 0) -> np.ndarray:
    """Standard normal numbers for stream ``key``; same indexing rules as :func:`uniform`."""
    return _draw("standard_normal", key, shape, offset)
