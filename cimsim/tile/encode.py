"""Row drive of a tile: input codes and the row drive of every cycle, executing
:mod:`device_models.encoding`.

The encodings themselves (code ranges, level laws, clocks and windows, cycle weights, events
and the energy each costs) are defined once, in :mod:`device_models.encoding`.
:class:`InputEncoder` quantises the inputs to codes and runs the kernels that produce, per
cycle, the amplitude-equivalent row voltages ``V̄ = V·t_on/T`` the column integrator sees
(:attr:`device_models.encoding.EncodedInput.v_eq_v`), with the per-row sums that
:func:`device_models.encoding.drive_totals` turns into the energy account. The kernels are
tested equal to :func:`device_models.encoding.encode` (``tests/test_tile.py``). They form codes,
levels and sums in passes over a row that the compiler vectorises, with the sums kept per
chunk of :data:`CHUNK` vectors so that totals do not depend on how a batch is split across
threads, and they count the driven rows of every vector (a vector that drives no row of a tile
in a cycle skips the tile's conversions, ``TileConfig.skip_zero_inputs``).

References
----------
.. [1] A. Shafiee et al., "ISAAC", ISCA 2016. doi:10.1145/3007787.3001139 (bit-serial
   inputs, one cycle per input bit).
.. [2] M. Le Gallo et al., Nature Electronics 6, 680-693 (2023).
   doi:10.1038/s41928-023-01010-1 (pulse-width modulated inputs).
"""

from __future__ import annotations

import dataclasses
import functools
import sys

import numpy as np

from device_models import encoding as enc_law
from device_models._checks import fail
from device_models._jit import backend, jit, prefetch
from device_models.errors import InvalidParameterError

from ..hardware import HardwareConfig
from ..kernels import bf16_gemm, int8_gemm
from ..kernels.parallel import for_row_slices, workspace

__all__ = ["CHUNK", "InputEncoder", "NonFiniteInput"]

#: Vectors per partial-sum chunk of the row-drive sums (fixed, so totals do not depend on the
#: thread count; a batch slice handed to one thread starts on a chunk boundary) [-].
CHUNK = 64


class NonFiniteInput(InvalidParameterError):
    """The inputs handed to a kernel held NaN or inf (found in passing by the kernel that
    reads them; the caller re-checks the whole input for a message naming the entry)."""


#: Vectors ahead whose inputs the drive kernels ask the cache for while they drive one (a
#: vector's row slice starts a new page, where the hardware prefetcher loses the stream) [-].
AHEAD = 2

#: Level laws of the drive kernel: linear in the code, a DAC table, one bit of the code.
_LINEAR, _TABLE, _BIT = 0, 1, 2


class InputEncoder:
    """Digital inputs → row drive: quantisation and per-cycle row voltages.

    Inputs are quantised to ``input_bits`` with a range ``x_max`` fixed at calibration:
    signed codes in ``[-c_max, c_max]``, ``c_max = 2**(b-1) - 1``, if any calibration input is
    negative, else unsigned codes in ``[0, 2**b - 1]``
    (:func:`device_models.encoding.code_max`). Each encoding drives the rows as
    :func:`device_models.encoding.encode` defines it, with the cycle window ``t_read_s``; the
    kernels give the amplitude-equivalent voltage of each row and cycle:

    * ``amplitude``: ``sign(c)·L(|c|)``, linear levels or, with ``converter_noise``, the
      levels of the row DAC card (gain, offset, INL);
    * ``bit_serial``: ``±V_read`` where bit ``p`` of ``|c|`` is set, digital weight ``2**p``;
    * ``pulse_width``, ``ttfs``: ``c·V_read/c_max`` (``V_read`` for ``|c|·t_clk`` of the
      window ``t_read = c_max·t_clk``; the time-coded drive has no DAC levels);
    * ``level_crossing``: ``c·δ·V_read/S`` (``|c|`` return-to-zero events of duty ``δ`` from
      0 to the code, a static vector being a one-step series).

    With ``tile.quantize = False`` (ideal converters) the codes are not rounded: ``c =
    clip(x / x_max, lo, 1)`` (float, ``c_max = 1``) and the drive is linear in ``c``.
    """

    def __init__(self, x_max: float, signed: bool, hw: HardwareConfig):
        t = hw.tile
        self.encoding = t.input_encoding
        self.signed = bool(signed)
        self.quantize = bool(t.quantize)
        self.bits = t.input_bits
        self.c_max = enc_law.code_max(t.input_bits, self.signed) if self.quantize else 1
        self.x_max = float(x_max) if x_max > 0 else 1.0
        self.x_lsb = self.x_max / self.c_max
        #: Codes per unit input, ``1 / x_lsb``: a code is ``rint(x · codes_per_x)`` clipped.
        self.codes_per_x = 1.0 / self.x_lsb
        self.v_read_v = t.v_read_v
        self.t_read_s = t.t_read_s
        self.n_planes = enc_law.n_cycles(self.encoding, self.c_max)
        #: Clock of the time-coded encodings (the window ``t_read_s`` in ``c_max`` ticks) [s].
        self.t_clk_s = enc_law.clock_s(self.encoding, self.t_read_s, self.c_max, self.signed)
        # Amplitude levels [V] for |code| = 0..c_max: linear or, with converter_noise, the
        # row DAC of hw.dac_card (gain, offset, INL) scaled so code c_max gives ~V_read.
        # Code 0 leaves the row undriven (0 V); negative inputs use the mirrored levels.
        codes = np.arange(self.c_max + 1, dtype=np.int64)
        self.linear_levels = not (hw.converter_noise and self.quantize
                                  and self.encoding == "amplitude")
        if not self.linear_levels:
            from device_models.dac import Dac

            n_bits = int(self.c_max).bit_length()
            dac = Dac.from_card(hw.dac_card, bits=n_bits,
                                v_ref_v=self.v_read_v * 2 ** n_bits / self.c_max)
            self.levels_v = np.asarray(dac.convert(codes), dtype=np.float64)
            self.levels_v[0] = 0.0
        else:
            self.levels_v = codes * self.plane_volts_per_code(0)

    @functools.cached_property
    def _signed_levels(self) -> np.ndarray:
        """The level [V] of every code ``lo … c_max``, ``sign(c)·L(|c|)`` in float64 (the
        drive kernel's table; exact: a sign flip)."""
        return self.code_volts(np.float64)

    @functools.cached_property
    def _levels_on_by_code(self) -> bool:
        """Whether :attr:`_signed_levels` is 0 at code 0 and nowhere else (a row is driven
        exactly where its code is not 0; the drive kernel then counts driven rows from the
        codes)."""
        lv = self._signed_levels
        lo = int(self._lo_hi[0])
        return bool(lv[-lo] == 0.0 and np.count_nonzero(lv) == lv.size - 1)

    @property
    def _lo_hi(self) -> tuple[float, float]:
        return float(-self.c_max if self.signed else 0), float(self.c_max)

    @property
    def code_count(self) -> int:
        """Number of input codes, ``c_max − lo + 1`` [-] (quantised inputs)."""
        lo, hi = self._lo_hi
        return int(hi - lo) + 1

    def code_volts(self, dtype) -> np.ndarray:
        """The row voltage [V] of every quantised amplitude code ``lo … c_max`` in ``dtype``,
        as the drive kernels give it (``sign(c)·L(|c|)``)."""
        lo, hi = self._lo_hi
        c = np.arange(int(lo), int(hi) + 1)
        if self.linear_levels:
            return (c.astype(np.float64) * self.plane_volts_per_code(0)).astype(dtype)
        return (self.levels_v[np.abs(c)] * np.where(c < 0, -1.0, 1.0)).astype(dtype)

    def codes(self, x: np.ndarray, *, parallel: bool = True) -> np.ndarray:
        """Input codes (int32; float64 unquantised) of ``x`` (clipped to the calibrated range)."""
        lo, hi = self._lo_hi
        x = np.ascontiguousarray(x, dtype=np.float64)
        if not self.quantize:
            return np.clip(x / self.x_lsb, lo, hi)
        if backend() == "numpy":
            return np.clip(np.rint(x * self.codes_per_x), lo, hi).astype(np.int32)
        out = np.empty(x.shape, dtype=np.int32)
        bad = np.zeros(x.shape[0])

        def rows(b0, b1):
            _codes_kernel(x[b0:b1], self.codes_per_x, lo, hi, out[b0:b1], bad[b0:b1])

        for_row_slices(rows, x.shape[0], parallel=parallel)
        if bad.any():
            raise NonFiniteInput("The inputs hold NaN or inf.")
        return out

    def encoded(self, codes, prev=None) -> enc_law.EncodedInput:
        """The reference drive of quantised ``codes`` (batch, rows) by
        :func:`device_models.encoding.encode` (with this encoder's levels and window): what
        the kernels of :meth:`drive` execute. Level crossing: the step from ``prev`` (default
        0) to ``codes``, as the last step of the series ``[prev, codes]``."""
        c = np.asarray(codes, dtype=np.int64)
        if self.encoding == "level_crossing":
            c = c[None] if prev is None else np.stack([np.asarray(prev, dtype=np.int64), c])
        enc = enc_law.encode(c, self.encoding, bits=self.bits, signed=self.signed,
                             v_read_v=self.v_read_v, t_read_s=self.t_read_s,
                             levels_v=None if self.linear_levels else self.levels_v)
        if prev is not None and self.encoding == "level_crossing":
            enc = dataclasses.replace(enc, **{f: getattr(enc, f)[1:] for f in (
                "v_rows_v", "t_on_s", "t_start_s", "events", "cycle_weights")}, n_cycles=1)
        return enc

    def plane_volts_per_code(self, p: int) -> float:
        """Amplitude-equivalent row volts per unit input code of cycle ``p`` (the digital
        weight of the cycle; :func:`device_models.encoding.volts_per_code`), kept per cycle
        (asked for several times per cycle of every read)."""
        memo = self.__dict__.setdefault("_volts_per_code", {})
        got = memo.get(p)
        if got is None:
            got = memo[p] = enc_law.volts_per_code(self.encoding, self.v_read_v, self.c_max,
                                                   p, signed=self.signed)
        return got

    def int_step_v(self, p: int) -> float | None:
        """``Δv`` [V] if every row voltage of cycle ``p`` is ``n·Δv`` with an integer ``|n| ≤
        255`` (quantised inputs of up to 8 bits on linear levels, or a bit-plane), else None
        (DAC-card levels, unquantised or wider inputs)."""
        if not self.quantize:
            return None
        if self.encoding == "bit_serial":
            return self.v_read_v
        if not self.linear_levels:
            return None
        return self.plane_volts_per_code(p) if self.c_max <= int8_gemm.CODE_MAX else None

    def drive(self, codes: np.ndarray | None, p: int, dtype, *, r0: int = 0,
              r1: int | None = None, squares: bool = False, x: np.ndarray | None = None,
              acc: np.ndarray | None = None, nz: np.ndarray | None = None,
              prev: np.ndarray | None = None, code_table: np.ndarray | None = None,
              packed: bf16_gemm.PackedOperand | None = None):
        """Row voltages of cycle ``p`` for ``codes[:, r0:r1]``, with per-row sums.

        ``codes=None, x=inputs`` forms the codes of ``x`` on the fly (one pass fewer; the
        same numbers as ``drive(codes(x), ...)``). Runs on the calling thread. Inputs with
        NaN or inf raise :class:`NonFiniteInput` (the kernels notice them in passing).
        Level crossing: ``prev`` (the codes of the previous step of a series) drives the
        events from ``prev`` to ``codes`` instead of those from 0.
        ``code_table`` (amplitude inputs, quantised): a value per input code, indexed by
        ``code − lo`` (``lo = −c_max`` for signed codes, else 0), of ``dtype``; the second
        array returned is then ``code_table[code − lo]`` instead of ``v²`` (any function of
        the row voltage, e.g. the read-noise GEMM's operand, tabulated once per code).
        ``packed`` (with ``code_table``: bfloat16 bits, uint16, from
        :func:`cimsim.kernels.bf16_gemm.operand_bits`): the looked-up bits go straight into
        ``packed`` (rows ``batch``, columns ``r1 − r0``) in the GEMM kernel's layout, and
        ``packed`` is returned in place of ``v2``: the read-noise GEMM then need not pack its
        operand.

        Returns
        -------
        v : ndarray (batch, rows) of ``dtype``
            Amplitude-equivalent row voltages [V]; a per-thread scratch array, valid until
            this thread's next call.
        v2 : ndarray
            ``v*v`` in ``dtype`` [V²] if ``squares`` (for the variance GEMM), else empty.
        acc : ndarray (ceil(batch / CHUNK), 3, rows) of float64
            Per chunk of :data:`CHUNK` vectors and row: ``Σ v²`` [V²], the number of driven
            (non-zero) cycles and ``Σ |c|``; added into ``acc`` when given (it must have that
            shape). :meth:`row_stats` turns the sums into energy-account figures.

        ``nz`` (batch,) int32, if given, receives each vector's number of driven rows.
        """
        if not 0 <= p < self.n_planes:
            fail("p", "InputEncoder.drive", f"a cycle index in [0, {self.n_planes})", p)
        if code_table is not None:
            if self.encoding != "amplitude" or not self.quantize or prev is not None:
                fail("code_table", "InputEncoder.drive", "None unless the inputs are "
                     "quantised amplitude codes", "a table")
            want = np.dtype(np.uint16 if packed is not None else dtype)
            if code_table.shape != (self.code_count,) or code_table.dtype != want:
                fail("code_table", "InputEncoder.drive", f"a {want} array of shape "
                     f"({self.code_count},)", f"array of shape {code_table.shape} and dtype "
                     f"{code_table.dtype}")
        elif packed is not None:
            fail("packed", "InputEncoder.drive", "None unless a code_table of bfloat16 bits "
                 "is given", "a packed operand")
        if prev is not None:
            if self.encoding != "level_crossing" or codes is None:
                fail("prev", "InputEncoder.drive", "None unless the encoding is "
                     "'level_crossing' and codes are given", prev)
            if backend() == "numpy":
                codes = np.asarray(codes)
                pr = np.asarray(prev)[:, r0:r1]
            else:        # the kernels drive the change itself (integer codes, any sign)
                codes, pr = np.ascontiguousarray(codes - prev), None
        else:
            pr = None
        src = x if codes is None else codes
        r1 = src.shape[1] if r1 is None else r1
        n_b, n_r = src.shape[0], r1 - r0
        if packed is not None and (not isinstance(packed, bf16_gemm.PackedOperand)
                                   or packed.shape != (n_b, n_r)):
            fail("packed", "InputEncoder.drive", f"a PackedOperand of shape {(n_b, n_r)}",
                 getattr(packed, "shape", packed))
        n_ch = -(-n_b // CHUNK)
        if acc is None:
            acc = np.zeros((n_ch, 3, n_r))
        elif acc.shape != (n_ch, 3, n_r):
            fail("acc", "InputEncoder.drive", f"of shape {(n_ch, 3, n_r)}",
                 f"array of shape {acc.shape}")
        if nz is None:
            nz = workspace("drive_nz", (n_b,), np.int32)
        elif nz.shape != (n_b,) or nz.dtype != np.int32:
            fail("nz", "InputEncoder.drive", f"an int32 array of shape {(n_b,)}",
                 f"array of shape {nz.shape} and dtype {nz.dtype}")
        from_x = codes is None
        if self.encoding == "bit_serial":
            mode = _BIT
        elif self.linear_levels:
            mode = _LINEAR
        else:
            mode = _TABLE
        if not self.quantize or mode == _BIT or backend() == "numpy":
            if from_x:       # the fused pass serves quantised amplitude levels only
                codes, from_x = self.codes(x, parallel=False), False
        step = self.plane_volts_per_code(0)
        lo, hi = self._lo_hi
        if backend() == "numpy":
            v, v2 = self._drive_reference(codes[:, r0:r1], int(p), dtype, squares, acc, nz, pr)
            if code_table is not None:
                v2 = code_table[np.asarray(codes[:, r0:r1], dtype=np.int64) - int(lo)]
            if packed is not None:
                bf16_gemm.panels_of_bits(v2, packed.panels)
                v2 = packed
            return v, v2, acc
        second = squares or code_table is not None
        v = workspace("drive_v", (n_b, n_r), dtype)
        v2 = workspace("drive_v2", (n_b, n_r) if second and packed is None else (0, 0), dtype)
        # the packed operand as pairs of bfloat16 (one uint32 per pair of columns)
        pk = (_NO_PACK if packed is None
              else packed.panels.reshape(-1).view(np.uint32))
        xs = np.ascontiguousarray(x, dtype=np.float64) if from_x else _NO_X
        cs = _NO_CODES if from_x else codes
        if self.quantize and mode != _TABLE:
            finite = _drive_int_kernel(cs, xs, from_x, self.codes_per_x, lo, hi, mode == _BIT,
                                       step, self.v_read_v, int(p), r0, r1, v, v2, squares,
                                       acc, nz)
            if code_table is not None:
                _code_table_kernel(v, 1.0 / step, lo, code_table, v2, pk, packed is not None)
        else:
            tab2 = _NO_TABLE.astype(dtype) if code_table is None else code_table
            finite = _drive_f64_kernel(cs, xs, from_x, self.codes_per_x, lo, hi,
                                       self._signed_levels, self.quantize, step, r0, r1, v, v2,
                                       squares, tab2, code_table is not None, acc, nz, pk,
                                       packed is not None, self._levels_on_by_code)
        if not finite:
            raise NonFiniteInput("The inputs hold NaN or inf.")
        return v, (v2 if packed is None else packed), acc

    def drive_planes(self, codes: np.ndarray, *, r0: int = 0, r1: int | None = None,
                     acc: np.ndarray, nz: np.ndarray) -> None:
        """The sums of :meth:`drive` for every bit-plane of bit-serial ``codes[:, r0:r1]``
        at once, without voltages (for readers that take the bits from the codes): ``acc``
        receives what ``drive(codes, p, ..., acc=acc)`` adds for ``p = 0, 1, …`` in turn
        (the same numbers), and ``nz[p]`` (``nz``: (planes, batch) int32) plane ``p``'s
        driven rows per vector. One pass over the codes instead of one per plane."""
        if self.encoding != "bit_serial" or not self.quantize:
            fail("encoding", "InputEncoder.drive_planes", "'bit_serial' with quantised inputs",
                 self.encoding)
        r1 = codes.shape[1] if r1 is None else r1
        n_b = codes.shape[0]
        if nz.shape != (self.n_planes, n_b) or nz.dtype != np.int32:
            fail("nz", "InputEncoder.drive_planes", f"an int32 array of shape "
                 f"{(self.n_planes, n_b)}", f"array of shape {nz.shape} and dtype {nz.dtype}")
        if acc.shape != (-(-n_b // CHUNK), 3, r1 - r0):
            fail("acc", "InputEncoder.drive_planes", f"of shape {(-(-n_b // CHUNK), 3, r1 - r0)}",
                 f"array of shape {acc.shape}")
        if backend() == "numpy":
            for p in range(self.n_planes):
                self.drive(codes, p, np.float64, r0=r0, r1=r1, acc=acc, nz=nz[p])
            return
        _drive_planes_kernel(codes, r0, r1, self.v_read_v, acc, nz)

    def _drive_reference(self, codes, p, dtype, squares, acc, nz, prev=None):
        """The NumPy reference of the drive kernels: :func:`device_models.encoding.encode`
        itself (the linear law ``c·V̄`` per unit code for unquantised codes), with the same
        per-chunk sums and driven-row counts."""
        mag = np.abs(np.asarray(codes) - (0 if prev is None else prev)).astype(np.float64)
        if self.quantize:
            ref = self.encoded(codes, prev)
            v, on = ref.v_eq_v[p], ref.events[p] != 0
        else:
            d = np.asarray(codes, dtype=np.float64) - (0.0 if prev is None else prev)
            v = d * self.plane_volts_per_code(p)
            on = v != 0.0
        for k, q in enumerate((v * v, on.astype(np.float64), mag)):
            acc[:, k] += _chunk_sums(q, acc.shape[0])
        nz[...] = np.count_nonzero(on, axis=1)
        v = v.astype(dtype)
        return v, (v * v if squares else np.empty((0, 0), dtype=dtype))

    def row_stats(self, acc: np.ndarray) -> np.ndarray:
        """Energy-account sums per row from :meth:`drive`'s ``acc`` (summed over chunks).

        Returns
        -------
        ndarray (4, rows)
            Summed over the batch and cycles, by :func:`device_models.encoding.drive_totals`:
            ``Σ V²·t_on`` [V²·s] (times ``Σ_j G_ij`` gives V·I·t [J]), ``Σ V²`` per driver
            event [V²], the number of driven (row, cycle) pairs, and driver events [-].
        """
        tot = acc.sum(axis=0) if acc.ndim == 3 else acc
        cell, wire, events = enc_law.drive_totals(
            self.encoding, tot[0], tot[1], tot[2], c_max=self.c_max, signed=self.signed,
            v_read_v=self.v_read_v, t_read_s=self.t_read_s)
        return np.array([cell, wire, tot[1], events])


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


# The quantised kernel walks the vectors of a chunk one after the other, each a loop over the
# rows that the compiler vectorises, and keeps the per-row sums of the chunk exact: integers in
# float64 for linear levels (Σ c², Σ [driven], Σ |c|), int32 counts for a bit-plane (Σ bit,
# Σ |c|: at most CHUNK·(2**16 − 1)). A chunk's sums are a few rows of numbers that stay in L1.


@jit(inline="always")
def _prefetch_row(a, b, c0, c1):
    """Ask the cache for ``a[b, c0:c1]`` (a cache line at a time), if row ``b`` exists."""
    if b < a.shape[0]:
        for j in range(c0, c1, max(1, 64 // a.itemsize)):
            prefetch(a, b, j)


@jit(inline="always")
def _sums_finite(acc):
    """Whether every ``Σ |c|`` of ``acc`` (``acc[:, 2]``) is finite: inputs coded by the
    kernels add ``x − x`` to it, NaN for a NaN or inf input."""
    for ch in range(acc.shape[0]):
        for i in range(acc.shape[2]):
            s = acc[ch, 2, i]
            if s - s != 0.0:
                return False
    return True


@jit(inline="always")
def _code_of_x(xv, codes_per_x, lo, hi):
    q = np.rint(xv * codes_per_x)
    q = q if q > lo else lo
    return q if q < hi else hi


def _codes_py(x, codes_per_x, lo, hi, out, bad):
    """Codes of ``x``; ``bad[b]`` counts the row's NaN / inf entries (``x − x ≠ 0``)."""
    n_b, n_r = x.shape
    for b in range(n_b):
        nonfinite = 0.0
        for i in range(n_r):
            xv = x[b, i]
            out[b, i] = np.int32(_code_of_x(xv, codes_per_x, lo, hi))
            nonfinite += np.float64(xv - xv != 0.0)
        bad[b] = nonfinite


_codes_kernel = jit(_codes_py)


@jit
def _vector_x_linear(xr, codes_per_x, lo, hi, step, vr, s_sq, s_on, s_mag):
    # ``x − x`` is 0 for finite inputs and NaN otherwise: a NaN or inf input makes the row's
    # Σ |c| NaN, which the caller checks (no separate pass over the inputs). Returns the
    # number of driven rows (an integer sum: it keeps the loop vectorised without fastmath).
    n = 0
    for i in range(vr.size):
        xv = xr[i]
        q = _code_of_x(xv, codes_per_x, lo, hi)
        vr[i] = q * step
        s_sq[i] += q * q
        s_on[i] += np.float64(q != 0.0)
        s_mag[i] += abs(q) + (xv - xv)
        n += np.int64(q != 0.0)
    return n


@jit
def _vector_codes(crow, step, vrow, s_sq, s_on, s_mag):
    n = 0
    for i in range(vrow.size):
        c = np.float64(crow[i])
        vrow[i] = c * step
        s_sq[i] += c * c
        s_on[i] += np.float64(c != 0.0)
        s_mag[i] += abs(c)
        n += np.int64(crow[i] != 0)
    return n


@jit
def _vector_bit(crow, p, v_read, vrow, n_on, n_mag):
    # int32 throughout: bit p of |c|, its sign, and per-chunk counts (≤ CHUNK·(2**16 − 1))
    sh = np.int32(p)
    one = np.int32(1)
    vr = vrow.dtype.type(v_read)
    n = np.int32(0)
    for i in range(vrow.size):
        c = crow[i]
        m = abs(c)
        bit = (m >> sh) & one
        vrow[i] = vr * vrow.dtype.type(bit * (one - np.int32(2) * np.int32(c < 0)))
        n_on[i] += bit
        n_mag[i] += m
        n += bit
    return n


@jit
def _squares(vrow, v2row):
    for i in range(vrow.size):
        v2row[i] = vrow[i] * vrow[i]


def _drive_int_py(codes, x, from_x, codes_per_x, lo, hi, bit_mode, step, v_read, p, r0, r1,
                  v, v2, squares, acc, nz):
    """Quantised codes with linear levels (``v = c·step``) or one bit per cycle (``v =
    ±v_read·bit_p(|c|)``); ``acc[ch] += (Σ level², Σ driven, Σ |c|)`` per chunk and row;
    ``nz[b]`` = driven rows of vector ``b``. Returns False if ``from_x`` and an input was
    NaN or inf (:func:`_sums_finite`), else True."""
    n_b = v.shape[0]
    n_r = r1 - r0
    sums = np.zeros((3, n_r))
    counts = np.zeros((2, n_r), dtype=np.int32)      # bit mode: Σ bit, Σ |c|
    for ch in range(acc.shape[0]):
        sums[:] = 0.0
        counts[:] = 0
        for b in range(ch * CHUNK, min((ch + 1) * CHUNK, n_b)):
            if from_x:
                nz[b] = np.int32(_vector_x_linear(x[b, r0:r1], codes_per_x, lo, hi, step, v[b],
                                                  sums[0], sums[1], sums[2]))
            elif bit_mode:
                nz[b] = _vector_bit(codes[b, r0:r1], p, v_read, v[b], counts[0], counts[1])
            else:
                nz[b] = np.int32(_vector_codes(codes[b, r0:r1], step, v[b], sums[0], sums[1],
                                               sums[2]))
            if squares:
                _squares(v[b], v2[b])
        if bit_mode:
            for i in range(n_r):
                acc[ch, 0, i] += v_read * v_read * np.float64(counts[0, i])
                acc[ch, 1, i] += np.float64(counts[0, i])
                acc[ch, 2, i] += np.float64(counts[1, i])
        else:
            for i in range(n_r):
                acc[ch, 0, i] += step * step * sums[0, i]
                acc[ch, 1, i] += sums[1, i]
                acc[ch, 2, i] += sums[2, i]
    return _sums_finite(acc) if from_x else True


def _drive_planes_py(codes, r0, r1, v_read, acc, nz):
    """:func:`_drive_int_py`'s bit-mode sums of planes ``p < nz.shape[0]`` without voltages,
    a vector's codes read once for all planes: per chunk and row, int32 counts of each plane's
    bits and ``Σ |c|``, then ``acc[ch] += (v_read²·Σ bit_p, Σ bit_p, Σ |c|)`` for ``p = 0, 1,
    …`` in turn, as the per-plane passes add them."""
    n_p, n_b = nz.shape
    n_r = r1 - r0
    counts = np.zeros((n_p, n_r), dtype=np.int32)
    mag = np.zeros(n_r, dtype=np.int32)
    one = np.int32(1)
    for ch in range(acc.shape[0]):
        counts[:] = 0
        mag[:] = 0
        for b in range(ch * CHUNK, min((ch + 1) * CHUNK, n_b)):
            crow = codes[b, r0:r1]
            for i in range(n_r):
                mag[i] += abs(crow[i])
            for p in range(n_p):
                sh = np.int32(p)
                cp = counts[p]
                n = np.int32(0)
                for i in range(n_r):
                    bit = (abs(crow[i]) >> sh) & one
                    cp[i] += bit
                    n += bit
                nz[p, b] = n
        for p in range(n_p):
            for i in range(n_r):
                acc[ch, 0, i] += v_read * v_read * np.float64(counts[p, i])
                acc[ch, 1, i] += np.float64(counts[p, i])
                acc[ch, 2, i] += np.float64(mag[i])


@jit(inline="always")
def _pack_pair(tab2, k0, k1):
    """One uint32 of a packed operand: bits ``tab2[k0]`` at column ``2j``, ``tab2[k1]`` at
    ``2j + 1`` (:data:`_SH_LO`, :data:`_SH_HI`: the shifts that put them at the lower and
    higher address)."""
    return (np.uint32(tab2[k0]) << _SH_LO) | (np.uint32(tab2[k1]) << _SH_HI)


@jit(inline="always")     # a call per row cost ~50 ns (its many array arguments)
def _row_table(crow, xr, from_x, codes_per_x, lo, hi, table, quantized, step, vrow, v2row,
               squares, tab2, second, a_sq, a_on, a_mag, cbuf, lvbuf, pkrow, packed,
               on_by_code):
    n = 0
    if not quantized:           # float codes: v = c·step
        for i in range(vrow.size):
            c = np.float64(crow[i])
            m = abs(c)
            lvl = m * step
            vrow[i] = lvl * (1.0 - 2.0 * np.float64(c < 0.0))
            a_sq[i] += lvl * lvl
            a_on[i] += np.float64(lvl != 0.0)
            a_mag[i] += m
            n += np.int64(lvl != 0.0)
    else:
        # the integer codes as table indices code − lo (>= 0: codes are clipped to [lo, hi];
        # from_x: formed here, ``x − x`` making Σ |c| NaN for a NaN or inf input, as in
        # _vector_x_linear), with the driven rows where the table is 0 at code 0 only
        # (``on_by_code``: level ≠ 0 ⇔ code ≠ 0), then the look-ups and the other sums
        # (a loop per case: a test of on_by_code inside made LLVM mask the loop's loads and
        # stores instead of unswitching it; 1.0 or 0.0 added, a select, not a conversion)
        off = np.int32(lo)
        if from_x and on_by_code:
            for i in range(vrow.size):
                xv = xr[i]
                c = _code_of_x(xv, codes_per_x, lo, hi)
                cbuf[i] = np.uint32(np.int32(c) - off)
                a_mag[i] += abs(c) + (xv - xv)
                on = c != 0.0
                a_on[i] += 1.0 if on else 0.0
                n += np.int64(on)
        elif from_x:
            for i in range(vrow.size):
                xv = xr[i]
                c = _code_of_x(xv, codes_per_x, lo, hi)
                cbuf[i] = np.uint32(np.int32(c) - off)
                a_mag[i] += abs(c) + (xv - xv)
        elif on_by_code:
            for i in range(vrow.size):
                ci = np.int32(crow[i])
                cbuf[i] = np.uint32(ci - off)
                a_mag[i] += abs(np.float64(ci))
                on = ci != 0
                a_on[i] += 1.0 if on else 0.0
                n += np.int64(on)
        else:
            for i in range(vrow.size):
                ci = np.int32(crow[i])
                cbuf[i] = np.uint32(ci - off)
                a_mag[i] += abs(np.float64(ci))
        # the look-ups by code in a loop of scalar loads (the tables are arguments: LLVM
        # keeps the loads scalar, faster here than vector gathers); every index of the pair
        # loop unsigned (uint64 constants), so that no access carries the wrap-around of a
        # negative index (with it, the pair loop took 1.6x as long)
        n_r = vrow.size
        if packed:          # the second table's bits, a pair of columns per store
            for j in range(n_r >> 1):
                u = np.uint64(j)
                k0 = np.uint64(cbuf[_U2 * u])
                k1 = np.uint64(cbuf[_U2 * u + _U1])
                lvbuf[_U2 * u] = table[k0]
                lvbuf[_U2 * u + _U1] = table[k1]
                pkrow[_UMR * u] = _pack_pair(tab2, k0, k1)
            if n_r % 2:
                k0 = np.uint64(cbuf[n_r - 1])
                lvbuf[n_r - 1] = table[k0]
                pkrow[(n_r >> 1) * _MR] = np.uint32(tab2[k0]) << _SH_LO
        elif second:
            for i in range(n_r):
                k = np.uint64(cbuf[i])
                lvbuf[i] = table[k]
                v2row[i] = tab2[k]
        else:
            for i in range(n_r):
                lvbuf[i] = table[np.uint64(cbuf[i])]
        if on_by_code:
            for i in range(n_r):
                lvl = lvbuf[i]
                vrow[i] = lvl
                a_sq[i] += lvl * lvl
        else:
            for i in range(n_r):
                lvl = lvbuf[i]
                vrow[i] = lvl
                a_sq[i] += lvl * lvl
                on = lvl != 0.0
                a_on[i] += np.float64(on)
                n += np.int64(on)
    if squares and not second:
        for i in range(vrow.size):
            v2row[i] = vrow[i] * vrow[i]
    return n


@jit(inline="always")
def _zero_pad_rows(pk, n_b, n_r):
    """Zero the rows ``n_b …`` of a packed operand's last block of ``_MR`` rows."""
    kp = (n_r + 1) // 2
    for b in range(n_b, -(-n_b // _MR) * _MR):
        base = (b // _MR) * kp * _MR + b % _MR
        for j in range(kp):
            pk[base + j * _MR] = np.uint32(0)


def _drive_f64_py(codes, x, from_x, codes_per_x, lo, hi, table, quantized, step, r0, r1, v,
                  v2, squares, tab2, second, acc, nz, pk, packed, on_by_code):
    """DAC level tables (quantised codes, or inputs ``x`` coded here; ``v = table[code −
    lo]``, the signed levels of :meth:`InputEncoder.code_volts`) or unquantised float codes
    (``v = c·step``); ``second``: ``v2 = tab2[code − lo]`` (else ``v²`` if ``squares``), or
    with ``packed`` the bits ``tab2[code − lo]`` (uint16) into the packed operand ``pk``
    (:class:`cimsim.kernels.bf16_gemm.PackedOperand`'s panels as uint32 pairs) instead.
    ``on_by_code``: the table is 0 at code 0 and nowhere else (a row is driven where its
    code is not 0). Returns as :func:`_drive_int_py`."""
    n_b = v.shape[0]
    n_r = r1 - r0
    cbuf = np.empty(n_r, dtype=np.uint32)
    lvbuf = np.empty(n_r)
    kp = (n_r + 1) // 2
    for ch in range(acc.shape[0]):
        for b in range(ch * CHUNK, min((ch + 1) * CHUNK, n_b)):
            if from_x:
                _prefetch_row(x, b + AHEAD, r0, r1)
            else:
                _prefetch_row(codes, b + AHEAD, r0, r1)
            crow = codes[0, :0] if from_x else codes[b, r0:r1]
            xr = x[b, r0:r1] if from_x else x[0, :0]
            # the row's pairs in the packed operand: pkrow[j·MR] (block b // MR, row b % MR)
            pkrow = pk[(b // _MR) * kp * _MR + b % _MR:] if packed else pk
            nz[b] = np.int32(_row_table(crow, xr, from_x, codes_per_x, lo, hi, table,
                                        quantized, step, v[b],
                                        v2[b] if (squares or second) and not packed else v[b],
                                        squares, tab2, second, acc[ch, 0], acc[ch, 1],
                                        acc[ch, 2], cbuf, lvbuf, pkrow, packed, on_by_code))
    if packed:
        _zero_pad_rows(pk, n_b, n_r)
    return _sums_finite(acc) if from_x else True


@jit
def _code_indices(vrow, per_step, lo, kbuf):
    """``kbuf[i] = rint(v_i / step) − lo`` (the code's table index) for a row on the code
    grid."""
    for i in range(vrow.size):
        kbuf[i] = np.uint32(np.int64(np.rint(np.float64(vrow[i]) * per_step) - lo))


def _code_table_py(v, per_step, lo, tab2, out, pk, packed):
    """``out = tab2[rint(v / step) − lo]`` for linear levels (``v`` on the code grid), or with
    ``packed`` the bits ``tab2[…]`` (uint16) into the packed operand ``pk`` (as
    :func:`_drive_f64_py`)."""
    n_b, n_r = v.shape
    kp = (n_r + 1) // 2
    if packed:       # a row's indices in a vectorised pass, then the pairs' look-ups
        kbuf = np.zeros(2 * kp, dtype=np.uint32)     # an odd row's last pair: index 0
        for b in range(n_b):
            _code_indices(v[b], per_step, lo, kbuf)
            pkrow = pk[(b // _MR) * kp * _MR + b % _MR:]
            for j in range(n_r // 2):
                u = np.uint64(j)
                pkrow[_UMR * u] = _pack_pair(tab2, kbuf[_U2 * u], kbuf[_U2 * u + _U1])
            if n_r % 2:
                pkrow[(n_r // 2) * _MR] = np.uint32(tab2[kbuf[n_r - 1]]) << _SH_LO
        _zero_pad_rows(pk, n_b, n_r)
        return
    for b in range(n_b):
        for i in range(n_r):
            out[b, i] = tab2[np.int64(np.rint(np.float64(v[b, i]) * per_step) - lo)]


#: Placeholder second table of the drive kernel (none given).
_NO_TABLE = np.zeros(1)
#: Placeholder packed operand of the drive kernels (none given).
_NO_PACK = np.zeros(1, dtype=np.uint32)
#: Placeholder inputs and codes of the drive kernels (the other one given).
_NO_X = np.zeros((1, 1))
_NO_CODES = np.zeros((1, 1), dtype=np.int32)
#: Rows per block of a packed operand (the bfloat16 kernel's register block) [-].
_MR = bf16_gemm.MR
#: Shifts of the lower- and higher-addressed uint16 of a uint32 (byte order of this machine).
_SH_LO, _SH_HI = (np.uint32(s) for s in ((0, 16) if sys.byteorder == "little" else (16, 0)))
#: Unsigned index arithmetic of the pair loops (an int64 literal would make it float64).
_U1, _U2, _UMR = np.uint64(1), np.uint64(2), np.uint64(_MR)

_drive_int_kernel = jit(_drive_int_py)
_drive_planes_kernel = jit(_drive_planes_py)
_drive_f64_kernel = jit(_drive_f64_py)
_code_table_kernel = jit(_code_table_py)


def _chunk_sums(q: np.ndarray, n_ch: int) -> np.ndarray:
    """Sums over chunks of :data:`CHUNK` rows, (n_ch, cols)."""
    pad = n_ch * CHUNK - q.shape[0]
    return np.concatenate([q, np.zeros((pad, q.shape[1]), dtype=q.dtype)]).reshape(
        n_ch, CHUNK, q.shape[1]).sum(axis=1)
