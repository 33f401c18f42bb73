"""One tile: a programmed crossbar, its input drivers, column front end, SAR ADCs, shift-add.

A :class:`Tile` holds one weight block mapped by :mod:`cimsim.mapping`, programmed through the
device model (write-verify noise and device-to-device variation, stuck-at faults), aged to the
read time ``t_s`` at ``temperature_k`` (drift / relaxation), and read with per-cell Gaussian
read noise. One array read of the row-voltage vector ``v`` [V] gives the signal currents

.. math:: I_j = \\sum_i v_i \\,(G_{i,p_j} - G_{i,n_j}) + \\epsilon_j, \\qquad
          \\mathrm{Var}[\\epsilon_j] = \\sum_i v_i^2 (\\sigma_{i,p_j}^2 + \\sigma_{i,n_j}^2)

(A, the variance identity for independent Gaussian cells: one GEMM for the mean and one for
the variance). With wire resistance the conductances are replaced by the exact effective matrix
``G_eff`` of :func:`cimsim.crossbar.effective_conductance` (``I = V @ G_eff``), computed once per
programmed array and read time. The column front end maps ``I`` to the ADC input
``V_adc = FS/2 + I · FS / (2 I_fs)`` [V] with ``I_fs`` calibrated from calibration inputs; the SAR
ADC digitises it and the shift-add recombines slices, bit-planes and tiles digitally.

Execution is shared by tiles reading the same inputs (a *row block*): their matrices are
concatenated so that every block and cycle is one Numba pass for the row drive, two float GEMMs
(multi-threaded BLAS: mean ``v @ (G+ − G−)`` and variance ``v² @ (σ+² + σ−²)``) and one fused
Numba pass (noise, front end, ADC, reconstruction, switching energy) with no temporaries
beyond one row; the Numba passes run on row slices side by side (:func:`for_row_slices`).
Normal numbers come from a counter-based ziggurat (:func:`fast_standard_normal`): about one
hash per two numbers, so a result is a pure function of the seed and the vector's position.
(The float32 GEMMs themselves round differently for different batch shapes in BLAS, which can
move a rare ADC decision sitting within float32 rounding of a code boundary.)

References
----------
.. [1] M. Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based on
   phase-change memory for deep neural network inference", Nature Electronics 6, 680-693
   (2023). doi:10.1038/s41928-023-01010-1 (tile structure, ADC range calibration).
.. [2] A. Shafiee et al., "ISAAC", ISCA 2016. doi:10.1145/3007787.3001139 (bit-serial inputs,
   ADC sharing across columns, shift-and-add).
.. [3] M. Hu et al., Proc. 53rd DAC, 2016. doi:10.1145/2897937.2898010.
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np

from device_models import rng
from device_models._checks import check_array, check_scalar, fail
from device_models._jit import backend, jit, prange

from .hardware import HardwareConfig
from .mapping import WeightMapping, map_weights

__all__ = [
    "for_row_slices",
    "InputEncoder",
    "RowBlock",
    "Tile",
    "ColumnAdcs",
    "analog_read",
    "workspace",
]


# --------------------------------------------------------------------------------------------
# Per-thread scratch buffers
# --------------------------------------------------------------------------------------------

_SCRATCH = threading.local()


def workspace(name: str, shape: tuple, dtype) -> np.ndarray:
    """A per-thread scratch array reused across calls (fresh large arrays cost a page fault
    per 4 KiB on first touch, a sizeable part of a tile MVM). Valid until the same thread
    asks for ``name`` again; never returned to callers."""
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    dtype = np.dtype(dtype)
    need = int(np.prod(shape))
    buf = bufs.get((name, dtype.str))
    if buf is None or buf.size < need:
        buf = np.empty(max(need, 1), dtype=dtype)
        bufs[(name, dtype.str)] = buf
    return buf[:need].reshape(shape)


_POOL: dict = {}


def _row_pool(n: int):
    """The row-slice thread pool of this process (rebuilt after a fork or a thread-count
    change: a forked child inherits the pool object but not its threads)."""
    from concurrent.futures import ThreadPoolExecutor

    if _POOL.get("n") != n or _POOL.get("pid") != os.getpid():
        _POOL["n"], _POOL["pid"] = n, os.getpid()
        _POOL["pool"] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="cimsim-rows")
    return _POOL["pool"]


def for_row_slices(fn, n_rows: int, *, parallel: bool = True, align: int = 64) -> None:
    """Run ``fn(b0, b1)`` over contiguous slices of ``n_rows`` batch rows, side by side.

    :data:`SLICES_PER_THREAD` slices per ``numba.get_num_threads()`` thread (slice starts
    are multiples of ``align``), taken from a queue by the calling thread and
    ``numba.get_num_threads()`` pool threads; ``fn`` calls serial Numba kernels that release
    the GIL. Plain threads rather than a Numba parallel region: the GEMMs between kernels
    run on BLAS threads, and OpenMP and BLAS workers spin-waiting after their regions would
    take turns stealing the cores from each other; small slices taken dynamically keep the
    cores busy when another thread (a spinning BLAS worker, another process) takes a share.
    """
    import numba

    n = max(1, int(numba.get_num_threads())) if parallel else 1
    per = math.ceil(math.ceil(n_rows / (n * SLICES_PER_THREAD)) / align) * align
    if n == 1 or n_rows <= per or per == 0:
        fn(0, n_rows)
        return
    slices = [(b0, min(b0 + per, n_rows)) for b0 in range(0, n_rows, per)]
    futures = [_row_pool(n).submit(fn, b0, b1) for b0, b1 in slices[1:]]
    fn(*slices[0])
    for f in futures:
        f.result()


#: Row slices per thread of :func:`for_row_slices` (dynamic load balance) [-].
SLICES_PER_THREAD = 4


# --------------------------------------------------------------------------------------------
# Input encoding
# --------------------------------------------------------------------------------------------


class InputEncoder:
    """Digital inputs → row drive: quantisation, DAC levels and per-cycle row voltages.

    Inputs are quantised to ``input_bits`` with a range ``x_max`` fixed at calibration:
    signed codes in ``[-(2**(b-1)-1), 2**(b-1)-1]`` if any calibration input is negative, else
    unsigned codes in ``[0, 2**b - 1]``. The encodings drive the rows as

    * ``amplitude``: one cycle, ``v = sign(c)·level(|c|)``, level ``= |c| · V_read / c_max`` [V]
      (with ``converter_noise``: the levels of the row DAC card, with gain, offset and INL);
    * ``pulse_width``: one cycle at ``±V_read`` for ``t = |c| / c_max · t_read`` [s] (the
      integrated signal equals the amplitude case; energy is linear in ``|c|``);
    * ``bit_serial``: one cycle per magnitude bit ``p`` at ``±V_read`` where bit ``p`` of
      ``|c|`` is set; digital weight ``2**p``.

    With ``tile.quantize = False`` (ideal converters) the codes are not rounded: ``c =
    clip(x / x_max, lo, 1)`` (float, ``c_max = 1``) and the drive is linear in ``c``.
    """

    def __init__(self, x_max: float, signed: bool, hw: HardwareConfig):
        t = hw.tile
        self.encoding = t.input_encoding
        self.signed = bool(signed)
        self.quantize = bool(t.quantize)
        bits = t.input_bits
        self.c_max = max(2 ** (bits - 1) - 1, 1) if signed else 2 ** bits - 1
        if not self.quantize:
            self.c_max = 1
        self.x_max = float(x_max) if x_max > 0 else 1.0
        self.x_lsb = self.x_max / self.c_max
        self.v_read_v = t.v_read_v
        self.t_read_s = t.t_read_s
        self.n_planes = int(self.c_max).bit_length() if self.encoding == "bit_serial" else 1
        # DAC levels [V] for |code| = 0..c_max: ideal (linear) or, with converter_noise, the
        # row DAC of hw.dac_card (gain, offset, INL) scaled so code c_max gives ~V_read.
        # Code 0 leaves the row undriven (0 V); negative inputs use the mirrored levels.
        codes = np.arange(self.c_max + 1, dtype=np.int64)
        if hw.converter_noise and self.quantize:
            from device_models.dac import Dac

            n_bits = int(self.c_max).bit_length()
            dac = Dac.from_card(hw.dac_card, bits=n_bits,
                                v_ref_v=self.v_read_v * 2 ** n_bits / self.c_max)
            self.levels_v = np.asarray(dac.convert(codes), dtype=np.float64)
            self.levels_v[0] = 0.0
        else:
            self.levels_v = codes * (self.v_read_v / self.c_max)

    def codes(self, x: np.ndarray, *, parallel: bool = True) -> np.ndarray:
        """Input codes (int32; float64 unquantised) of ``x`` (clipped to the calibrated range)."""
        lo = -self.c_max if self.signed else 0
        x = np.ascontiguousarray(x, dtype=np.float64)
        if not self.quantize:
            return np.clip(x / self.x_lsb, lo, self.c_max)
        if backend() == "numpy":
            return np.clip(np.rint(x / self.x_lsb), lo, self.c_max).astype(np.int32)
        out = np.empty(x.shape, dtype=np.int32)
        lo, hi, x_lsb = float(lo), float(self.c_max), self.x_lsb

        def rows(b0, b1):
            _codes_kernel(x[b0:b1], x_lsb, lo, hi, out[b0:b1])

        for_row_slices(rows, x.shape[0], parallel=parallel)
        return out

    def plane_volts_per_code(self, p: int) -> float:
        """Row volts per unit input code of cycle ``p`` (the digital weight of the cycle)."""
        if self.encoding == "bit_serial":
            return self.v_read_v / 2 ** p
        return self.v_read_v / self.c_max

    def drive(self, codes: np.ndarray | None, p: int, dtype, *, r0: int = 0,
              r1: int | None = None, squares: bool = False, parallel: bool = True,
              x: np.ndarray | None = None):
        """Row voltages of cycle ``p`` for ``codes[:, r0:r1]``, with per-row counts.

        ``codes=None, x=inputs`` forms the codes of ``x`` on the fly (one pass fewer; the
        same numbers as ``drive(codes(x), ...)``).

        Returns
        -------
        v : ndarray (batch, rows) of ``dtype``
            Row voltages [V] (signal-equivalent amplitude for pulse width).
        v2 : ndarray
            ``v*v`` in ``dtype`` [V²] if ``squares`` (for the variance GEMM), else empty.
        stats : ndarray (3, rows) of float64
            Per row, summed over the batch: ``Σ V_row·V_cell·t`` [V²·s] (times ``Σ_j G_ij``
            gives V·I·t [J]), ``Σ V_row²`` [V²] and the number of driven (non-zero) cycles.
        """
        fused = codes is None and self.quantize and backend() != "numpy"
        if codes is None and not fused:
            codes = self.codes(x, parallel=parallel)
        src = x if fused else codes
        r1 = src.shape[1] if r1 is None else r1
        n_b, n_r = src.shape[0], r1 - r0
        table = self.plane_levels_v(p)
        if not self.quantize:
            v, v2, acc = _drive_numpy(codes[:, r0:r1], None, dtype, squares,
                                      v_per_code=self.v_read_v / self.c_max)
        elif backend() == "numpy":
            v, v2, acc = _drive_numpy(codes[:, r0:r1], table, dtype, squares)
        else:
            v = workspace("drive_v", (n_b, n_r), dtype)
            v2 = workspace("drive_v2", (n_b, n_r) if squares else (0, 0), dtype)
            acc = np.zeros((-(-n_b // _CHUNK), 3, n_r))

            if fused:
                xs = np.ascontiguousarray(x, dtype=np.float64)
                cs = np.zeros((0, 0), dtype=np.int32)
            else:
                xs = np.zeros((0, 0))
                cs = codes
            lo = float(-self.c_max if self.signed else 0)
            hi = float(self.c_max)

            def rows(b0, b1):
                _drive_kernel(cs[b0:b1] if cs.shape[0] else cs, xs[b0:b1] if fused else xs,
                              self.x_lsb, lo, hi, r0, r1, table, v[b0:b1],
                              v2[b0:b1] if squares else v2, acc[b0 // _CHUNK:-(-b1 // _CHUNK)])

            for_row_slices(rows, n_b, parallel=parallel, align=_CHUNK)
            acc = acc.sum(axis=0)
        stats = np.empty((3, n_r))
        if self.encoding == "pulse_width":
            stats[0] = acc[2] * (self.v_read_v ** 2 * self.t_read_s / self.c_max)
            stats[1] = acc[1] * self.v_read_v ** 2
        else:
            stats[0] = acc[0] * self.t_read_s
            stats[1] = acc[0]
        stats[2] = acc[1]
        return v, v2, stats

    def plane_levels_v(self, p: int) -> np.ndarray:
        """Row-voltage magnitude [V] for each ``|code|`` in cycle ``p``."""
        if self.encoding == "bit_serial":
            m = np.arange(self.c_max + 1)
            return self.v_read_v * ((m >> p) & 1).astype(np.float64)
        return self.levels_v


#: Batch rows per partial-sum chunk of the drive kernel (fixed: results do not depend on
#: the thread count).
_CHUNK = 64


def _codes_py(x, x_lsb, lo, hi, out):
    n_b, n_r = x.shape
    for b in prange(n_b):
        for i in range(n_r):
            c = np.rint(x[b, i] / x_lsb)
            out[b, i] = np.int32(min(max(c, lo), hi))


def _drive_py(codes, x, x_lsb, lo, hi, r0, r1, table, v, v2, acc):
    n_b = v.shape[0]
    n_r = r1 - r0
    squares = v2.shape[0] == n_b
    from_x = x.shape[0] == n_b     # codes formed on the fly, as _codes_py forms them
    for ch in prange(acc.shape[0]):
        a_sq = np.zeros(n_r)
        a_on = np.zeros(n_r)
        a_mag = np.zeros(n_r)
        cbuf = np.empty(n_r if from_x else 0, dtype=np.int32)
        for b in range(ch * _CHUNK, min((ch + 1) * _CHUNK, n_b)):
            if from_x:
                xrow = x[b, r0:r1]
                for i in range(n_r):
                    cbuf[i] = np.int32(min(max(np.rint(xrow[i] / x_lsb), lo), hi))
                crow = cbuf
            else:
                crow = codes[b, r0:r1]
            vrow = v[b]
            for i in range(n_r):     # branch-free (input signs are random); vectorises
                c = crow[i]
                vrow[i] = table[abs(c)] * (1.0 - 2.0 * (c < 0))
            for i in range(n_r):
                q = np.float64(vrow[i])
                a_sq[i] += q * q
                a_on[i] += np.float64(q != 0.0)
                a_mag[i] += np.float64(abs(crow[i]))
            if squares:
                v2row = v2[b]
                for i in range(n_r):
                    v2row[i] = vrow[i] * vrow[i]
        acc[ch, 0] = a_sq
        acc[ch, 1] = a_on
        acc[ch, 2] = a_mag


_codes_kernel = jit(_codes_py)
_drive_kernel = jit(_drive_py)


def _drive_numpy(codes, table, dtype, squares, v_per_code=None):
    m = np.abs(codes)
    lvl = table[m] if v_per_code is None else m * v_per_code
    v = np.where(codes >= 0, lvl, -lvl).astype(dtype)
    v2 = v * v if squares else np.empty((0, 0), dtype=dtype)
    q = v.astype(np.float64)
    acc = np.stack([(q * q).sum(axis=0), (lvl != 0.0).sum(axis=0).astype(np.float64),
                    m.sum(axis=0).astype(np.float64)])
    return v, v2, acc


# --------------------------------------------------------------------------------------------
# Counter-based ziggurat normals (the hot path's random numbers)
# --------------------------------------------------------------------------------------------

#: Ziggurat layers (Marsaglia & Tsang 2000: 128 layers, right edge r, layer area v).
_ZIG_N = 128
_ZIG_R = 3.442619855899
_ZIG_V = 9.91256303526217e-3
#: Magnitude bits of a fast-path draw; two 32-bit draws come from one 64-bit hash.
_ZIG_BITS = 24
_ZIG_SCALE = 1.0 / (1 << _ZIG_BITS)
#: Counter stride of the slow-path stream (extra uniforms of a rejected draw).
_ZIG_SLOW_STRIDE = 256


def _ziggurat_tables() -> tuple[np.ndarray, np.ndarray]:
    """Layer edges x[0..128] and f(x) = exp(-x²/2) at them (x[0] = v/f(r), x[128] = 0)."""
    x = np.zeros(_ZIG_N + 1)
    f = np.ones(_ZIG_N + 1)
    x[1] = _ZIG_R
    x[0] = _ZIG_V / math.exp(-0.5 * _ZIG_R * _ZIG_R)
    for i in range(1, _ZIG_N):
        x[i + 1] = math.sqrt(-2.0 * math.log(_ZIG_V / x[i] + math.exp(-0.5 * x[i] * x[i])))
    x[_ZIG_N] = 0.0
    f[:] = np.exp(-0.5 * x * x)
    return x, f


_ZIG_X, _ZIG_F = _ziggurat_tables()


@jit(inline="always")
def _zig_from_bits(bits, key_slow, counter):
    """Standard normal from 32 random bits (layer 7, sign 1, magnitude 24); rejected draws
    (about 1.2 %) continue on the slow-path uniforms ``(key_slow, counter·256 + t)``."""
    layer = bits & 127
    x = ((bits >> 8) + 0.5) * _ZIG_SCALE * _ZIG_X[layer]
    sign = 1.0 - 2.0 * ((bits >> 7) & 1)     # branch-free: a random branch mispredicts
    if x < _ZIG_X[layer + 1]:
        return x * sign
    return _zig_slow(layer, x, sign, key_slow, counter)


@jit
def _zig_slow(layer, x, sign, key_slow, counter):
    """Ziggurat wedge / tail rejection for a draw outside its layer's core."""
    t = np.uint64(0)
    base = counter * np.uint64(_ZIG_SLOW_STRIDE)
    while True:
        if layer == 0:
            while True:
                a = -math.log(rng.uniform_at(key_slow, base + t)) / _ZIG_R
                b = -math.log(rng.uniform_at(key_slow, base + t + np.uint64(1)))
                t += np.uint64(2)
                if b + b >= a * a:
                    break
            return (_ZIG_R + a) * sign
        y = _ZIG_F[layer] + rng.uniform_at(key_slow, base + t) * (_ZIG_F[layer + 1] - _ZIG_F[layer])
        t += np.uint64(1)
        if y < math.exp(-0.5 * x * x):
            return x * sign
        w = rng.uniform_at(key_slow, base + t)
        t += np.uint64(1)
        nb = np.int64(w * 4294967296.0)   # 32 fresh bits
        layer = nb & 127
        sign = 1.0 - 2.0 * ((nb >> 7) & 1)
        x = ((nb >> 8) + 0.5) * _ZIG_SCALE * _ZIG_X[layer]
        if x < _ZIG_X[layer + 1]:
            return x * sign


@jit(inline="always")
def _pair_bits(key, pair):
    """The 64 random bits behind ``rng.uniform_at(key, pair)`` (same counter-based hash)."""
    return rng.hash_at(key, pair)


@jit(inline="always")
def fast_normal_at(key, key_slow, counter):
    """Standard normal number ``counter`` of a counter-based ziggurat stream (Numba only).

    Draws ``2k`` and ``2k+1`` share the 64-bit hash behind ``rng.uniform_at(key, k)`` (low and
    high 32 bits); see :func:`fast_standard_normal` for the NumPy form.
    """
    h = _pair_bits(key, counter >> np.uint64(1))
    if counter & np.uint64(1):
        h = h >> np.uint64(32)
    return _zig_from_bits(np.int64(h & np.uint64(0xFFFFFFFF)), key_slow, counter)


@jit(parallel=True)
def _fast_normal_kernel(key, key_slow, offset, out):
    for i in prange(out.size):
        out[i] = fast_normal_at(key, key_slow, np.uint64(offset + i))


def _fast_normal_np(key: int, key_slow: int, counters: np.ndarray) -> np.ndarray:
    """NumPy reference of :func:`fast_normal_at` over an array of counters."""
    counters = counters.astype(np.uint64)
    h = rng.hash_bits(key, counters >> np.uint64(1))
    h = np.where((counters & np.uint64(1)).astype(bool), h >> np.uint64(32), h)
    bits = (h & np.uint64(0xFFFFFFFF)).astype(np.int64)
    layer = bits & 127
    neg = (bits >> 7) & 1
    x = ((bits >> 8) + 0.5) * _ZIG_SCALE * _ZIG_X[layer]
    out = x * (1.0 - 2.0 * neg)
    for i in np.flatnonzero(x >= _ZIG_X[layer + 1]):
        out[i] = _zig_scalar_py(int(bits[i]), key_slow, int(counters[i]))
    return out


def _zig_scalar_py(bits: int, key_slow: int, counter: int) -> float:
    """Pure-Python form of :func:`_zig_from_bits` (same arithmetic), for rejected draws."""
    def uni(c):
        return float(rng.uniform(key_slow, 1, offset=c)[0])

    layer = bits & 127
    x = ((bits >> 8) + 0.5) * _ZIG_SCALE * _ZIG_X[layer]
    sign = 1.0 - 2.0 * ((bits >> 7) & 1)
    if x < _ZIG_X[layer + 1]:
        return x * sign
    t = 0
    base = counter * _ZIG_SLOW_STRIDE
    while True:
        if layer == 0:
            while True:
                a = -math.log(uni(base + t)) / _ZIG_R
                b = -math.log(uni(base + t + 1))
                t += 2
                if b + b >= a * a:
                    break
            return (_ZIG_R + a) * sign
        y = _ZIG_F[layer] + uni(base + t) * (_ZIG_F[layer + 1] - _ZIG_F[layer])
        t += 1
        if y < math.exp(-0.5 * x * x):
            return x * sign
        nb = int(uni(base + t) * 4294967296.0)
        t += 1
        layer = nb & 127
        sign = 1.0 - 2.0 * ((nb >> 7) & 1)
        x = ((nb >> 8) + 0.5) * _ZIG_SCALE * _ZIG_X[layer]
        if x < _ZIG_X[layer + 1]:
            return x * sign


def slow_key(key: int) -> int:
    """Key of the slow-path stream that belongs to fast-normal stream ``key``."""
    return rng.derive_key(0, "ziggurat_slow_path", int(key))


def fast_standard_normal(key: int, shape, offset: int = 0) -> np.ndarray:
    r"""Standard normal numbers of a counter-based ziggurat stream.

    Element ``n`` (C order, from ``offset``) is a pure function of ``(key, n)`` as in
    :mod:`device_models.rng`, but costs about one hash per two numbers instead of two hashes,
    a logarithm, a root and a cosine (Box–Muller): draws ``2k`` and ``2k+1`` take the low and
    high 32 bits of the 64-bit hash behind ``rng.uniform_at(key, k)``, each split into a layer
    index (7 bits), a sign and a 24-bit magnitude for the 128-layer ziggurat; the ~1.2 % of
    draws outside the rectangles' cores are finished exactly by rejection with uniforms of a
    second stream. The distribution is the exact normal up to the 2^-24 quantisation of the
    magnitude within a layer.

    References
    ----------
    .. [1] G. Marsaglia and W. W. Tsang, "The ziggurat method for generating random
       variables", J. Stat. Softw. 5(8), 2000. doi:10.18637/jss.v005.i08
    """
    shape = (shape,) if np.isscalar(shape) else tuple(shape)
    n = int(np.prod(shape)) if shape else 1
    ks = slow_key(key)
    if backend() == "numpy":
        return _fast_normal_np(key, ks, np.arange(offset, offset + n, dtype=np.uint64)
                               ).reshape(shape)
    out = np.empty(n)
    _fast_normal_kernel(np.uint64(key), np.uint64(ks), np.uint64(offset), out)
    return out.reshape(shape)


# --------------------------------------------------------------------------------------------
# Fused noise + front end + ADC + reconstruction
# --------------------------------------------------------------------------------------------


class ColumnAdcs:
    """The SAR ADCs of a set of tiles, flattened for the fused read kernel.

    Each tile has ``ceil(cols / adc_share)`` ADCs, ADC ``a`` serving physical columns
    ``a·adc_share … (a+1)·adc_share − 1`` through the mux. With ``converter_noise`` every ADC
    is a :class:`device_models.adc.SarAdc` built from ``hw.adc_card`` with its own seed (its
    own capacitor mismatch, comparator offset and noise, kT/C sampling noise at
    ``temperature_k``), and conversions run the SAR binary search with those decision
    levels; without it the ADCs are ideal (``code = floor(v / LSB)``) and share the card's
    nominal switching-energy table.
    """

    def __init__(self, hw: HardwareConfig, n_adcs: int, seed_tag=0, first_index: int = 0):
        from device_models.adc import SarAdc

        bits = hw.tile.adc_bits
        self.bits = bits
        self.sar = bool(hw.converter_noise)
        nominal = _nominal_adc(hw.adc_card, bits, hw.temperature_k)
        self.full_scale_v = nominal.full_scale_v
        self.conversion_time_s = nominal.conversion_time_s
        lsb = nominal.lsb_v
        n = max(int(n_adcs), 1)
        self.t0 = np.zeros(n)
        self.up = np.zeros((n, bits))
        self.dn = np.zeros((n, bits))
        self.trial = np.zeros((n, bits))
        self.offset = np.zeros(n)
        self.sig_s = np.zeros(n)
        self.sig_c = np.zeros(n)
        if self.sar:
            self.e_row = np.arange(n, dtype=np.int64)
            tables = []
            for a in range(n):
                adc = SarAdc.from_card(
                    hw.adc_card, bits=bits, temperature_k=hw.temperature_k,
                    seed=rng.derive_key(hw.seed, "column_adc", seed_tag, first_index + a))
                t0, up, dn, trial = adc.decision_tables()
                self.t0[a] = t0 / lsb
                self.up[a] = up / lsb
                self.dn[a] = dn / lsb
                self.trial[a] = trial / lsb
                self.offset[a] = adc.comparator_offset_v / lsb
                self.sig_s[a] = adc.sampling_sigma_v / lsb
                self.sig_c[a] = adc.comparator_noise_v / lsb
                if bits <= MISMATCH_ENERGY_MAX_BITS:
                    tables.append(adc.code_energy_j)
            if tables:
                self.e_table = np.ascontiguousarray(np.stack(tables))
            else:   # fine ADCs: the nominal table (mismatch moves energy by ~σ_u relative)
                self.e_row = np.zeros(n, dtype=np.int64)
                self.e_table = np.ascontiguousarray(nominal.code_energy_j[None, :])
        else:
            self.e_row = np.zeros(n, dtype=np.int64)
            self.e_table = np.ascontiguousarray(nominal.code_energy_j[None, :])

    @classmethod
    def concatenate(cls, parts: list[ColumnAdcs]) -> ColumnAdcs:
        """One flat set of ADCs from several tiles' sets (same hardware config)."""
        out = object.__new__(cls)
        out.bits, out.sar = parts[0].bits, parts[0].sar
        out.full_scale_v = parts[0].full_scale_v
        out.conversion_time_s = parts[0].conversion_time_s
        for name in ("t0", "up", "dn", "trial", "offset", "sig_s", "sig_c"):
            setattr(out, name, np.ascontiguousarray(np.concatenate([getattr(p, name)
                                                                    for p in parts])))
        if out.sar and out.bits <= MISMATCH_ENERGY_MAX_BITS:     # one table per ADC
            out.e_table = np.ascontiguousarray(np.concatenate([p.e_table for p in parts]))
            out.e_row = np.arange(out.e_table.shape[0], dtype=np.int64)
        else:
            out.e_table = parts[0].e_table
            out.e_row = np.zeros(out.t0.size, dtype=np.int64)
        return out


#: Above this resolution every ADC shares the nominal switching-energy table (a per-ADC
#: table of 2**bits entries would dominate memory and set-up time) [bit].
MISMATCH_ENERGY_MAX_BITS = 12

#: Comparator decisions whose input is farther than this many σ of comparator noise from
#: the threshold are taken without drawing the noise: the flip probability there is below
#: 1e-23, so the result is exact in distribution, and most decisions of a conversion skip
#: the draw (counter-based streams: skipping a draw shifts no other number) [-].
COMPARATOR_SKIP_SIGMAS = 10.0

_NOMINAL: dict = {}


def _nominal_adc(card: str, bits: int, temperature_k: float):
    """The card's ADC without mismatch or noise (energy table, timing), cached."""
    from device_models.adc import SarAdc

    key = (card, bits, temperature_k)
    if key not in _NOMINAL:
        _NOMINAL[key] = SarAdc.from_card(
            card, bits=bits, temperature_k=temperature_k, comparator_noise_v=0.0,
            comparator_offset_v=0.0, unit_cap_mismatch=0.0, ktc_noise=False)
        _NOMINAL[key].code_energy_j  # noqa: B018 - build the table once
    return _NOMINAL[key]


def _analog_read_py(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, half,
                        sar, exact, t0, up, dn, trial, offset, sig_s, sig_c, e_table, e_row, keys,
                        sample0, plane, n_planes, col0, n_cols, ref0, n_refs, out, e_out):
    n_b, n_s = mean.shape
    bits = up.shape[1]
    code_max = float((1 << bits) - 1)
    noisy = var_own.shape[1] == n_s
    has_ref = var_ref.shape[1] > 0
    any_sig_s = sar and np.any(sig_s > 0.0)
    any_sig_c = sar and np.any(sig_c > 0.0)
    mask32 = np.uint64(0xFFFFFFFF)
    one = np.uint64(1)
    for b in prange(n_b):
        e = 0.0
        base = np.uint64((sample0 + b) * n_planes + plane)
        cbase = base * np.uint64(n_cols) + np.uint64(col0)
        rbase = base * np.uint64(n_refs) + np.uint64(ref0)
        last_pair = np.uint64(0xFFFFFFFFFFFFFFFF)
        h = np.uint64(0)
        for j in range(n_s):
            a = adc_of[j]
            g = gain[j]
            sx = np.float64(mean[b, j]) * g
            u = half + 0.5 + sx
            if noisy or any_sig_s:
                var = sig_s[a] * sig_s[a] if sar else 0.0
                if noisy:
                    var += max(np.float64(var_own[b, j]), 0.0) * (g * g)
                cnt = cbase + np.uint64(j)
                pair = cnt >> one
                if pair != last_pair:
                    h = rng.hash_at(keys[0], pair)
                    last_pair = pair
                hb = (h >> np.uint64(32)) if (cnt & one) else h
                dz = math.sqrt(var) * _zig_from_bits(np.int64(hb & mask32), keys[1], cnt)
                u += dz
                sx += dz
            r = ref_idx[j]
            if noisy and has_ref and r >= 0:
                dz = math.sqrt(max(np.float64(var_ref[b, r]), 0.0)) * g * fast_normal_at(
                    keys[2], keys[3], rbase + np.uint64(r))
                u -= dz
                sx -= dz
            if sar:
                vs = u - offset[a]
                acc = t0[a]
                c = 0
                cc = (cbase + np.uint64(j)) * np.uint64(bits)
                for s in range(bits):
                    k = bits - 1 - s
                    x = vs
                    thr = acc + trial[a, k]
                    if any_sig_c and abs(x - thr) < COMPARATOR_SKIP_SIGMAS * sig_c[a]:
                        x += sig_c[a] * fast_normal_at(keys[4], keys[5], cc + np.uint64(s))
                    if x >= thr:
                        c |= 1 << k
                        acc += up[a, k]
                    else:
                        acc += dn[a, k]
                code = float(c)
            else:
                code = math.floor(u)
                if code < 0.0:
                    code = 0.0
                elif code > code_max:
                    code = code_max
                c = int(code)
            e += e_table[e_row[a], c]
            if exact:   # unquantised ideal ADC: the signal itself, clipped to the range
                out[b, out_index[j]] += min(max(sx, -half), half) * coef[j]
            else:
                out[b, out_index[j]] += (code - half) * coef[j]
        e_out[b] += e


#: Batch rows per task of the fused read kernel (scratch arrays are allocated per task).
_READ_ROWS = 8


def _read_plain_py(mean, var_own, gain, coef, out_index, ident, e_table, half, key, key_slow,
                   sample0, plane, n_planes, col0, n_cols, out, e_out):
    """Specialisation of :func:`_analog_read_py` for ideal ADCs and no reference columns
    (the common differential case): the same numbers, in passes over a row that the compiler
    vectorises (hash, ziggurat core, rare rejections, noise + front end + ADC, then energy
    and reconstruction). Needs even ``col0`` and ``n_cols`` so that columns ``2k, 2k+1``
    share one hash; ``ident`` means ``out_index == arange`` (contiguous accumulation)."""
    n_b, n_s = mean.shape
    code_max = float(e_table.size - 1)
    noisy = var_own.shape[1] == n_s
    mask32 = np.uint64(0xFFFFFFFF)
    s32 = np.uint64(32)
    u8 = np.uint32(8)
    u7 = np.uint32(7)
    u127 = np.uint32(127)
    u1 = np.uint32(1)
    n_pair = (n_s + 1) // 2
    n_z = 2 * n_pair
    h0 = half + 0.5
    gain2 = gain * gain
    n_task = (n_b + _READ_ROWS - 1) // _READ_ROWS
    for task in prange(n_task):
        z = np.zeros(n_z)
        hb = np.empty(n_z, dtype=np.uint32)
        rej = np.empty(n_z)
        codes = np.empty(n_s)
        for b in range(task * _READ_ROWS, min(n_b, (task + 1) * _READ_ROWS)):
            mrow = mean[b]
            if noisy:
                vrow = var_own[b]
                # the row's normal numbers: one hash per two columns (low, high 32 bits) ...
                base = np.uint64((sample0 + b) * n_planes + plane)
                cbase = base * np.uint64(n_cols) + np.uint64(col0)
                pbase = cbase >> np.uint64(1)
                for k in range(n_pair):
                    h = rng.hash_at(key, pbase + np.uint64(k))
                    hb[2 * k] = np.uint32(h & mask32)
                    hb[2 * k + 1] = np.uint32(h >> s32)
                # ... the ziggurat core (same arithmetic as _zig_from_bits) ...
                for i in range(n_z):
                    bits = hb[i]
                    layer = bits & u127
                    x = (np.float64(bits >> u8) + 0.5) * _ZIG_SCALE * _ZIG_X[layer]
                    z[i] = x * (1.0 - 2.0 * np.float64((bits >> u7) & u1))
                    rej[i] = x - _ZIG_X[layer + 1]
                # ... and the ~1.2 % of draws outside the cores, finished exactly
                for i in range(n_z):
                    if rej[i] >= 0.0:
                        z[i] = _zig_from_bits(np.int64(hb[i]), key_slow, cbase + np.uint64(i))
                for j in range(n_s):
                    u = h0 + np.float64(mrow[j]) * gain[j]
                    u += math.sqrt(max(np.float64(vrow[j]), 0.0) * gain2[j]) * z[j]
                    codes[j] = min(max(math.floor(u), 0.0), code_max)
            else:
                for j in range(n_s):
                    u = h0 + np.float64(mrow[j]) * gain[j]
                    codes[j] = min(max(math.floor(u), 0.0), code_max)
            # switching energy (four partial sums: no serial add chain) and reconstruction
            e0 = e1 = e2 = e3 = 0.0
            j4 = n_s - n_s % 4
            for j in range(0, j4, 4):
                e0 += e_table[int(codes[j])]
                e1 += e_table[int(codes[j + 1])]
                e2 += e_table[int(codes[j + 2])]
                e3 += e_table[int(codes[j + 3])]
            for j in range(j4, n_s):
                e0 += e_table[int(codes[j])]
            e_out[b] += (e0 + e1) + (e2 + e3)
            orow = out[b]
            if ident:
                for j in range(n_s):
                    orow[j] += (codes[j] - half) * coef[j]
            else:
                for j in range(n_s):
                    orow[out_index[j]] += (codes[j] - half) * coef[j]


_read_plain_kernel = jit(_read_plain_py)
_analog_read_kernel = jit(_analog_read_py)


def _analog_read_numpy(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, half,
                       sar, exact, t0, up, dn, trial, offset, sig_s, sig_c, e_table, e_row, keys,
                       sample0, plane, n_planes, col0, n_cols, ref0, n_refs, out, e_out):
    n_b, n_s = mean.shape
    bits = up.shape[1]
    keys = [int(k) for k in keys]
    sx = mean.astype(np.float64) * gain[None, :]
    u = half + 0.5 + sx
    base = (np.arange(sample0, sample0 + n_b, dtype=np.uint64) * np.uint64(n_planes)
            + np.uint64(plane))
    cnt = base[:, None] * np.uint64(n_cols) + np.uint64(col0) + np.arange(
        n_s, dtype=np.uint64)[None, :]
    noisy = var_own.shape[1] == n_s
    any_sig_s = sar and np.any(sig_s > 0.0)
    if noisy or any_sig_s:
        var = np.zeros((n_b, n_s))
        if sar:
            var = var + (sig_s[adc_of] ** 2)[None, :]
        if noisy:
            var = var + np.maximum(var_own.astype(np.float64), 0.0) * (gain * gain)[None, :]
        z = _fast_normal_np(keys[0], keys[1], cnt.ravel()).reshape(n_b, n_s)
        u = u + np.sqrt(var) * z
        sx = sx + np.sqrt(var) * z
    if noisy and var_ref.shape[1] > 0:
        rc = base[:, None] * np.uint64(n_refs) + np.uint64(ref0) + np.arange(
            var_ref.shape[1], dtype=np.uint64)[None, :]
        zr = _fast_normal_np(keys[2], keys[3], rc.ravel()).reshape(n_b, -1)
        nr = np.sqrt(np.maximum(var_ref.astype(np.float64), 0.0)) * zr
        has = ref_idx >= 0
        u[:, has] -= nr[:, ref_idx[has]] * gain[None, has]
        sx[:, has] -= nr[:, ref_idx[has]] * gain[None, has]
    if sar:
        a = adc_of[None, :]
        vs = u - offset[a]
        acc = np.broadcast_to(t0[a], u.shape).copy()
        c = np.zeros(u.shape, dtype=np.int64)
        for s in range(bits):
            k = bits - 1 - s
            x = vs
            thr = acc + trial[a, k]
            if np.any(sig_c > 0.0):
                near = np.abs(vs - thr) < COMPARATOR_SKIP_SIGMAS * sig_c[a]
                zc = np.zeros(u.shape)
                zc[near] = _fast_normal_np(keys[4], keys[5],
                                           (cnt * np.uint64(bits) + np.uint64(s))[near])
                x = np.where(near, vs + sig_c[a] * zc, vs)
            hit = x >= thr
            c |= hit.astype(np.int64) << k
            acc = acc + np.where(hit, up[a, k], dn[a, k])
        code = c.astype(np.float64)
    else:
        code = np.clip(np.floor(u), 0.0, float((1 << bits) - 1))
        c = code.astype(np.int64)
    e_out += e_table[e_row[adc_of][None, :], c].sum(axis=1)
    val = np.clip(sx, -half, half) if exact else code - half
    np.add.at(out.T, out_index, (val * coef[None, :]).T)


def analog_read(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, adcs: ColumnAdcs,
                *, key, key_ref, key_c, sample0, plane, n_planes, col0, n_cols, ref0, n_refs,
                out, e_out, parallel=True, exact=False):
    """Noise, front end, ADC and digital reconstruction of a block of signal currents.

    For vector ``b`` and signal column ``j`` with ADC ``a = adc_of[j]``:

    * signal ``I = mean + sqrt(var_own)·z − sqrt(var_ref[ref_idx])·z_ref`` [A] (read noise
      by the variance identity; ``var_own`` with zero columns means no read noise);
    * front end ``u = V_adc / LSB = half + 1/2 + I·gain`` (``gain`` [1/A] maps ``±I_fs`` onto
      the ADC range with zero on a code centre) plus the ADC's sampling noise (combined with
      the read noise into one Gaussian: independent Gaussians add in variance);
    * ADC code: ideal ``floor(u)`` clipped to the range, or the SAR binary search with the
      ADC's decision levels, offset and per-decision comparator noise;
    * ``out[b, out_index[j]] += (code − half)·coef[j]``; ``e_out[b] += e_table[a][code]`` [J];
      with ``exact`` (unquantised ideal ADC, ``tile.quantize = False``) the output is the
      signal itself, ``clip(u − half − 1/2, −half, half)·coef[j]``, and the energy is that of
      the code an ideal ADC of ``bits`` would give.

    Normal numbers come from :func:`fast_standard_normal` streams (counter-based ziggurat):
    vector ``sample0 + b``, cycle ``plane`` of ``n_planes``, column ``col0 + j`` of ``n_cols``
    (reference ``ref0 + r`` of ``n_refs``; comparator decision ``s`` of each conversion), so
    results do not depend on batch split or thread count.
    """
    half = float(2 ** (adcs.bits - 1))
    keys = np.array([key, slow_key(key), key_ref, slow_key(key_ref), key_c, slow_key(key_c)],
                    dtype=np.uint64)
    args = (mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, half,
            bool(adcs.sar), bool(exact), adcs.t0, adcs.up, adcs.dn, adcs.trial, adcs.offset,
            adcs.sig_s, adcs.sig_c, adcs.e_table, adcs.e_row, keys, int(sample0), int(plane),
            int(n_planes), int(col0), int(n_cols), int(ref0), int(n_refs), out, e_out)
    if backend() == "numpy":
        _analog_read_numpy(*args)
        return
    if (not adcs.sar and not exact and var_ref.shape[1] == 0 and col0 % 2 == 0
            and n_cols % 2 == 0):
        ident = out_index.size == out.shape[1] and bool(
            np.array_equal(out_index, np.arange(out_index.size)))
        e_tab = adcs.e_table[0]

        def rows(b0, b1):
            _read_plain_kernel(mean[b0:b1], var_own[b0:b1] if var_own.shape[1] else var_own,
                               gain, coef, out_index, ident, e_tab, half, keys[0], keys[1],
                               int(sample0) + b0, int(plane), int(n_planes), int(col0),
                               int(n_cols), out[b0:b1], e_out[b0:b1])
    else:
        def rows(b0, b1):
            _analog_read_kernel(
                mean[b0:b1], var_own[b0:b1] if var_own.shape[1] else var_own,
                var_ref[b0:b1] if var_ref.shape[1] else var_ref, *args[3:21],
                int(sample0) + b0, *args[22:28], out[b0:b1], e_out[b0:b1])

    for_row_slices(rows, mean.shape[0], parallel=parallel, align=_READ_ROWS)


# --------------------------------------------------------------------------------------------
# Tile
# --------------------------------------------------------------------------------------------


def _device(name: str):
    """The memory-device card (kinds rram / 1t1r / pcm)."""
    from device_models import cards

    return cards.load(name)


class Tile:
    """One crossbar tile holding a weight block (rows × outputs).

    Parameters
    ----------
    weight : array_like, shape (rows, outputs)
        Weight block; ``rows <= hw.tile.rows`` and its mapped columns must fit ``hw.tile.cols``.
    hw : HardwareConfig
        Chip description (cards, tile geometry, non-ideality switches, ``t_s``, temperature).
    w_max : float, optional
        Weight mapped to full conductance (default ``max|weight|``); an
        :class:`~cimsim.tiled.AnalogMatrix` passes its global value so all tiles agree.
    index : int
        Tile number, used in the random-stream keys.
    seed_tag : int or str
        Extra tag separating the random streams of different matrices.
    """

    def __init__(self, weight, hw: HardwareConfig, *, w_max: float | None = None,
                 index: int = 0, seed_tag=0):
        caller = "Tile"
        if not isinstance(hw, HardwareConfig):
            fail("hw", caller, "a HardwareConfig", hw)
        weight = check_array("weight", weight, caller, ndim=2)
        t = hw.tile
        if weight.shape[0] > t.rows:
            fail("weight", caller, f"at most tile.rows = {t.rows} rows",
                 f"array of shape {weight.shape}")
        self.hw = hw
        self.index = int(index)
        self.seed_tag = seed_tag
        self.card = _device(hw.device_card)
        self.mapping: WeightMapping = map_weights(
            weight, self.card.g_min_s, self.card.g_max_s, weight_bits=t.weight_bits,
            bits_per_cell=t.bits_per_cell, mapping=t.weight_mapping, w_max=w_max,
            quantize=t.quantize)
        if self.mapping.n_phys > t.cols:
            fail("weight", caller,
                 f"at most {t.cols} physical columns once mapped ({self.mapping.n_phys} needed)",
                 f"array of shape {weight.shape}")
        self.rows_used = weight.shape[0]
        self.outputs = weight.shape[1]
        self.program_pulses = 0
        self.program_energy_j = 0.0
        self.g_programmed_s = self._program()
        self.adcs = ColumnAdcs(hw, self.n_adcs, seed_tag, first_index=self.index * self.n_adcs)
        #: ADC (within the tile) converting each signal column: the mux group of its column.
        self.adc_of = (self.mapping.pos_col // t.adc_share).astype(np.int64)
        self._states: dict[float, dict] = {}
        self.i_fs_a: np.ndarray | None = None   # calibrated full-scale current per signal col

    # --- device physics ------------------------------------------------------------------

    def _key(self, what: str) -> int:
        return rng.derive_key(self.hw.seed, what, self.seed_tag, self.index)

    def _program(self) -> np.ndarray:
        hw = self.hw
        g = self.mapping.g_target_s.copy()
        if hw.programming_noise:
            from device_models.memory import program

            res = program(self.card, g, seed=self._key("program"),
                          temperature_k=hw.temperature_k)
            g = np.asarray(res.g_s, dtype=np.float64)
            self.program_pulses = int(np.sum(res.pulses))
            self.program_energy_j = float(np.sum(res.energy_j))
        if hw.faults:
            from device_models.memory import apply_faults

            g = np.asarray(apply_faults(self.card, g, seed=self._key("faults")), dtype=np.float64)
        return g

    def conductances(self, t_s: float) -> np.ndarray:
        """Conductances [S] of the used cells at ``t_s`` [s] after programming."""
        return self.state(t_s)["g_s"]

    def state(self, t_s: float) -> dict:
        """Read-time state at ``t_s`` (cached): conductances, signal matrices, noise variances."""
        t_s = check_scalar("t_s", t_s, "Tile.state", lo=0.0)
        st = self._states.get(t_s)
        if st is not None:
            return st
        hw = self.hw
        m = self.mapping
        g = self.g_programmed_s
        if hw.drift and t_s > 0.0:
            from device_models.memory import age

            g = np.asarray(age(self.card, g, t_s=t_s, temperature_k=hw.temperature_k,
                               seed=self._key("age")), dtype=np.float64)
        g_read = g
        tc = hw.tile
        r_row_ohm, r_col_ohm = self.wire_resistances_ohm()
        if r_row_ohm > 0.0 or r_col_ohm > 0.0:
            from .crossbar import effective_conductance

            full = np.full((tc.rows, tc.cols), m.g_min_s)
            full[: self.rows_used, : m.n_phys] = g
            g_eff = effective_conductance(full, r_row_ohm, r_col_ohm)
            g_read = np.asarray(g_eff)[: self.rows_used, : m.n_phys]
        st = {"g_s": g, "g_read_s": g_read,
              "signal_s": g_read[:, m.pos_col] - g_read[:, m.neg_col],
              "rowsum_s": g.sum(axis=1)}
        if hw.read_noise:
            from device_models.memory import read_sigma_s

            var = np.asarray(read_sigma_s(self.card, g, t_s=t_s), dtype=np.float64) ** 2
            st["var_s2"] = var
            if m.mapping == "differential":
                st["var_own_s2"] = var[:, m.pos_col] + var[:, m.neg_col]
                st["var_ref_s2"] = np.zeros((self.rows_used, 0))
            else:
                st["var_own_s2"] = var[:, m.pos_col]
                st["var_ref_s2"] = var[:, m.ref_cols]
        self._states = {t_s: st}   # keep one read time: memory stays one array per tile
        return st

    def wire_resistances_ohm(self) -> tuple[float, float]:
        r"""Row- and column-wire resistance per cell pitch at ``hw.temperature_k`` [ohm].

        .. math:: r(T) = r_{300} \,\max\bigl(0,\; 1 + \alpha\,(T - 300\,\mathrm{K})\bigr)

        with ``r_300`` = ``tile.r_wire_row_ohm`` / ``tile.r_wire_col_ohm`` [ohm] and ``α`` =
        ``tile.r_wire_tc_per_k`` [1/K] (linear near room temperature; floored at zero far
        below it, where a metal's resistivity falls to its small residual value).

        References
        ----------
        .. [1] R. A. Matula, "Electrical resistivity of copper, gold, palladium, and silver",
           J. Phys. Chem. Ref. Data 8, 1147 (1979). doi:10.1063/1.555614
        """
        tc = self.hw.tile
        factor = max(0.0, 1.0 + tc.r_wire_tc_per_k * (self.hw.temperature_k - 300.0))
        return tc.r_wire_row_ohm * factor, tc.r_wire_col_ohm * factor

    # --- geometry and counts -------------------------------------------------------------

    @property
    def n_signal(self) -> int:
        """Converted (signal) columns [-]."""
        return self.mapping.n_signal

    @property
    def n_phys(self) -> int:
        """Physical columns used, including reference columns [-]."""
        return self.mapping.n_phys

    @property
    def n_adcs(self) -> int:
        """ADCs of the tile, one per ``adc_share`` physical columns [-]."""
        return math.ceil(self.hw.tile.cols / self.hw.tile.adc_share)

    @property
    def adc_rounds_per_cycle(self) -> int:
        """Sequential conversions per ADC per array cycle [-]."""
        per_signal = 2 if self.mapping.mapping == "differential" else 1
        cols_per_adc = math.ceil(self.n_signal * per_signal / self.n_adcs)
        return max(1, math.ceil(cols_per_adc / per_signal))

    @property
    def utilisation(self) -> float:
        """Fraction of the tile's cells holding weights or references [-]."""
        t = self.hw.tile
        return self.rows_used * self.n_phys / (t.rows * t.cols)


class RowBlock:
    """Tiles that read the same input rows, executed together (concatenated matrices).

    Parameters
    ----------
    tiles : list of Tile
        Tiles of the same row range; their outputs go to columns ``out_offsets[k] + o``.
    out_offsets : list of int
        First output column of each tile in the full output.
    col0 : int
        Index of this block's first signal column among all signal columns of the matrix
        (random-stream counter), and ``ref0`` likewise for reference columns.
    """

    def __init__(self, tiles: list[Tile], out_offsets: list[int], col0: int, ref0: int):
        self.tiles = tiles
        self.out_offsets = out_offsets
        self.col0 = int(col0)
        self.ref0 = int(ref0)
        self.n_signal = sum(t.n_signal for t in tiles)
        self.n_refs = sum(t.mapping.ref_cols.size for t in tiles)
        out_index, ref_idx, adc_of = [], [], []
        r0 = a0 = 0
        for t, off in zip(tiles, out_offsets, strict=True):
            m = t.mapping
            out_index.append(m.out_index + off)
            adc_of.append(t.adc_of + a0)
            a0 += t.adcs.t0.size
            if m.mapping == "offset":
                ref_idx.append(np.searchsorted(m.ref_cols, m.neg_col) + r0)
            else:
                ref_idx.append(np.full(m.n_signal, -1, dtype=np.int64))
            r0 += m.ref_cols.size
        self.out_index = np.concatenate(out_index).astype(np.int64)
        self.ref_idx = np.concatenate(ref_idx).astype(np.int64)
        self.adc_of = np.concatenate(adc_of).astype(np.int64)
        self.adcs = ColumnAdcs.concatenate([t.adcs for t in tiles])
        self._cache_key = None
        self._mats: dict = {}

    def matrices(self, t_s: float, dtype) -> dict:
        """Concatenated signal and variance matrices at ``t_s`` (cached per read time)."""
        key = (t_s, np.dtype(dtype).str)
        if self._cache_key == key:
            return self._mats
        states = [t.state(t_s) for t in self.tiles]
        mats = {"signal": np.ascontiguousarray(
            np.concatenate([s["signal_s"] for s in states], axis=1), dtype=dtype)}
        if "var_own_s2" in states[0]:
            mats["var_own"] = np.ascontiguousarray(
                np.concatenate([s["var_own_s2"] for s in states], axis=1), dtype=dtype)
            mats["var_ref"] = np.ascontiguousarray(
                np.concatenate([s["var_ref_s2"] for s in states], axis=1), dtype=dtype)
        self._cache_key, self._mats = key, mats
        return mats

    def per_cell_currents(self, v, t_s: float, *, seed: int, seed_tag, sample0: int,
                          plane: int, n_planes: int) -> np.ndarray:
        """Signal currents [A] with read noise drawn for every cell on every read.

        The exact reference of the variance identity: for vector ``b`` every cell reads
        ``G + σ·z`` with a fresh standard normal ``z`` per cell and read (counter-based on the
        tile, the vector ``sample0 + b`` and the cycle), and ``I = v_b @ (G_p − G_n)``. Costs
        one random number per cell per read: for tests and small studies.
        """
        cols = []
        for tile in self.tiles:
            st = tile.state(t_s)
            m = tile.mapping
            g, sd = st["g_read_s"], np.sqrt(st["var_s2"])
            key = rng.derive_key(seed, "read_noise_cell", seed_tag, tile.index)
            n_cell = g.size
            cur = np.empty((v.shape[0], m.n_signal))
            for b in range(v.shape[0]):
                off = ((sample0 + b) * n_planes + plane) * n_cell
                gn = g + sd * rng.standard_normal(key, g.shape, offset=off)
                cur[b] = v[b].astype(np.float64) @ (gn[:, m.pos_col] - gn[:, m.neg_col])
            cols.append(cur)
        return np.concatenate(cols, axis=1)
