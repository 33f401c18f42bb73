r"""Column read-out: read noise, SAR ADCs and digital reconstruction (shift-add).

For vector ``b`` and signal column ``j`` converted by ADC ``a``, a read of the array gives

.. math:: I = \mu + \sqrt{\sigma^2_{own}}\, z - \sqrt{\sigma^2_{ref}}\, z_{ref} \quad [A]

(``μ = v @ (G+ − G−)`` and ``σ² = v² @ (σ+² + σ−²)`` from the tile's two GEMMs: the variance
identity for independent Gaussian cells; :mod:`cimsim.kernels.bf16_gemm` for the second; for
time-coded inputs ``I`` is the mean current over the window, the integrated charge over
``t_read``). The column front end (:mod:`cimsim.tile.frontend`, the circuits of
:mod:`device_models.frontend`) maps it onto the ADC input, ``V = V_FS/2 + R·I``; in LSB units
``u = V/LSB + 1/2 = 2^{N-1} + 1/2 + I·gain`` (``gain = R/LSB = 2^{N-1} / I_fs`` [1/A], so
``±I_fs`` spans the range and the 1/2 puts zero on a code centre), and the ADC returns
``floor(u)`` clipped to ``[0, 2^N − 1]`` (ideal) or the code of its SAR binary search
with its own decision levels, comparator offset and per-decision comparator noise. The
digital back end adds ``(code − 2^{N-1})·coef[j]`` to output ``out_index[j]`` and the
conversion's switching energy (from the ADC model, per code) to ``e_out[b]``.

Normal numbers come from :mod:`device_models.ziggurat` streams, keyed by the vector's read
``row = (sample0 + b)·n_planes + plane`` and the column (``col0 + j`` for read noise, ``ref0 + r``
for reference columns, ``(col0 + j)·N + s`` for comparator decision ``s``), so a result is a
pure function of the seed and the vector's position: thread count and batch split do not
change it. The common case (ideal ADCs, no reference columns) runs a specialised kernel in
the GEMMs' precision (float32 for ADCs up to 12 bits) in vectorised passes. SAR ADCs whose
codes are all wider than the comparator-noise window (:data:`COMPARATOR_SKIP_SIGMAS` σ) run
the look-up kernel: only one decision of a conversion can then flip, so its comparator
noise is referred to the input and joins the read and sampling noise in one draw, and the
code is looked up in the ADC's decision levels; the same code distribution as the search
decision by decision to ~1e-13 (the section comment), with other draws (stream column
``col0 + j``, one per conversion). The general kernel (everything else, float64) runs that
search. On cores with AVX-512 the look-up kernel's passes run fused in one LLVM IR kernel
(:mod:`cimsim.kernels.sar_read`; outputs in column order, no reference columns), and so do
the specialised kernel's passes with read noise (:mod:`cimsim.kernels.plain_read`), with the
same arithmetic and numbers. Each kernel has a NumPy reference with the same arithmetic.

References
----------
.. [1] A. Shafiee et al., "ISAAC", ISCA 2016. doi:10.1145/3007787.3001139 (column ADCs
   shared through a mux, shift-and-add).
.. [2] M. Le Gallo et al., Nature Electronics 6, 680-693 (2023).
   doi:10.1038/s41928-023-01010-1 (ADC range calibration).
"""

from __future__ import annotations

import math

import numpy as np

from device_models import rng
from device_models import ziggurat as zig
from device_models._jit import backend, jit

from ..hardware import HardwareConfig
from ..kernels import plain_read, sar_read
from ..kernels._llvm import call_void

__all__ = [
    "COMPARATOR_SKIP_SIGMAS",
    "MISMATCH_ENERGY_MAX_BITS",
    "ColumnAdcs",
    "analog_read",
]


class ColumnAdcs:
    """The column read-outs of a set of tiles, flattened for the fused read kernel.

    Each tile has ``ceil(cols / adc_share)`` read-outs, read-out ``a`` serving physical
    columns ``a·adc_share … (a+1)·adc_share − 1`` through the mux. The read-out is the model
    of ``hw.adc_card``'s kind (:mod:`device_models.converters`): a SAR ADC
    (:class:`~device_models.adc.SarAdc`, voltage input), a current-mode sense-amplifier
    read-out (:class:`~device_models.sense_amp.CurrentSenseAmp`) or a CCO ADC
    (:class:`~device_models.cco_adc.CcoAdc`), current input; each is a binary search over
    its decision levels. With ``converter_noise`` every read-out is built with its own seed
    (its own mismatch, offset and noise at ``temperature_k``) and conversions run that search;
    without it the read-outs are ideal (``code = floor(x / LSB)``) and share the card's
    nominal energy table. ``full_scale`` and ``lsb`` are in the read-out's input unit (volts
    or amperes, ``input_kind``). The tables a SAR read derives its look-up from (``levels``,
    ``min_width``, ``e_table``, ``e_row``) turn read-only at that read: assign new arrays to
    change them.
    """

    def __init__(self, hw: HardwareConfig, n_adcs: int, seed_tag=0, first_index: int = 0):
        from device_models.converters import build_converter

        bits = hw.tile.adc_bits
        window = hw.tile.t_read_s * hw.tile.read_phases
        self.bits = bits
        self.sar = bool(hw.converter_noise)
        nominal = _nominal_adc(hw.adc_card, bits, hw.temperature_k, window)
        self.input_kind = nominal.input_kind
        self.full_scale = self.full_scale_v = nominal.full_scale
        self.conversion_time_s = nominal.conversion_time_s
        self.lsb = self.lsb_v = lsb = nominal.lsb
        n = max(int(n_adcs), 1)
        self.t0 = np.zeros(n)
        self.up = np.zeros((n, bits))
        self.dn = np.zeros((n, bits))
        self.trial = np.zeros((n, bits))
        self.offset = np.zeros(n)
        self.sig_s = np.zeros(n)
        self.sig_c = np.zeros(n)
        self.levels = np.zeros((n, 0))
        self.min_width = np.zeros(n)
        if self.sar:
            self.e_row = np.arange(n, dtype=np.int64)
            tables = (np.empty((n, 1 << bits), dtype=ENERGY_TABLE_DTYPE)
                      if bits <= MISMATCH_ENERGY_MAX_BITS else None)
            for a in range(n):
                adc = build_converter(
                    hw.adc_card, bits, window_s=window, temperature_k=hw.temperature_k,
                    seed=rng.derive_key(hw.seed, "column_adc", seed_tag, first_index + a))
                t0, up, dn, trial = adc.decision_tables()
                self.t0[a] = t0 / lsb
                self.up[a] = up / lsb
                self.dn[a] = dn / lsb
                self.trial[a] = trial / lsb
                self.offset[a] = adc.offset / lsb
                self.sig_s[a] = adc.sampling_sigma / lsb
                self.sig_c[a] = adc.decision_noise / lsb
                if tables is not None:
                    tables[a] = adc.code_energy_j
            self.levels, self.min_width = decision_levels(self.t0, self.up, self.dn,
                                                          self.trial)
            if tables is not None:
                self.e_table = tables
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
        out.input_kind = parts[0].input_kind
        out.full_scale = out.full_scale_v = parts[0].full_scale
        out.lsb = out.lsb_v = parts[0].lsb
        out.conversion_time_s = parts[0].conversion_time_s
        for name in ("t0", "up", "dn", "trial", "offset", "sig_s", "sig_c", "levels",
                     "min_width"):
            setattr(out, name, np.ascontiguousarray(np.concatenate([getattr(p, name)
                                                                    for p in parts])))
        if out.sar and out.bits <= MISMATCH_ENERGY_MAX_BITS:     # one table per ADC
            out.e_table = np.ascontiguousarray(np.concatenate([p.e_table for p in parts]))
            out.e_row = np.arange(out.e_table.shape[0], dtype=np.int64)
        else:
            out.e_table = parts[0].e_table
            out.e_row = np.zeros(out.t0.size, dtype=np.int64)
        return out

    def view(self, lo: int, hi: int) -> ColumnAdcs:
        """ADCs ``lo … hi − 1`` of this set, their tables views of this set's (no copy)."""
        out = object.__new__(type(self))
        out.bits, out.sar = self.bits, self.sar
        out.input_kind = self.input_kind
        out.full_scale = out.full_scale_v = self.full_scale
        out.lsb = out.lsb_v = self.lsb
        out.conversion_time_s = self.conversion_time_s
        for name in ("t0", "up", "dn", "trial", "offset", "sig_s", "sig_c", "levels",
                     "min_width"):
            setattr(out, name, getattr(self, name)[lo:hi])
        if self.sar and self.bits <= MISMATCH_ENERGY_MAX_BITS:     # one table per ADC
            out.e_table = self.e_table[lo:hi]
            out.e_row = np.arange(hi - lo, dtype=np.int64)
        else:
            out.e_table = self.e_table
            out.e_row = np.zeros(hi - lo, dtype=np.int64)
        return out


def decision_levels(t0, up, dn, trial) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free transition levels of SAR ADCs and their narrowest code [LSB].

    Row ``a`` is ``[-inf, E_1, …, E_{M-1}, +inf]`` (``M = 2**N``), ``E_c`` the threshold of the
    decision on the lowest set bit of code ``c`` with the higher bits of ``c`` decided,
    accumulated in the order of the binary search (``t0``, then ``up`` or ``dn`` per decided
    bit, then ``trial``) so that a comparison with ``E_c`` agrees bitwise with the search's.
    Where the levels increase, the noise-free code of an input ``x`` is the number of levels
    at or below it. The second array holds each ADC's narrowest code ``min(E_{c+1} − E_c)``
    (−inf where the levels do not increase: the search is then not a look-up).
    """
    n, bits = up.shape
    m = 1 << bits
    codes = np.arange(1, m, dtype=np.int64)
    low = np.zeros(codes.size, dtype=np.int64)       # lowest set bit of each code
    rem = codes.copy()
    while np.any((rem & 1) == 0):
        z = (rem & 1) == 0
        low[z] += 1
        rem[z] >>= 1
    acc = np.repeat(np.asarray(t0, dtype=np.float64)[:, None], codes.size, axis=1)
    for k in range(bits - 1, -1, -1):
        above = k > low
        bit = ((codes >> k) & 1).astype(bool)
        step = np.where(bit[None, :], up[:, k:k + 1], dn[:, k:k + 1])
        acc = np.where(above[None, :], acc + step, acc)
    levels = np.empty((n, m + 1))
    levels[:, 0] = -np.inf
    levels[:, m] = np.inf
    levels[:, 1:m] = acc + trial[:, low]
    width = np.diff(levels[:, 1:m], axis=1)
    min_width = width.min(axis=1) if width.shape[1] else np.full(n, np.inf)
    return levels, np.where(np.all(width > 0.0, axis=1), min_width, -np.inf)


#: Above this resolution every ADC shares the nominal switching-energy table (a per-ADC
#: table of 2**bits entries would dominate memory and set-up time) [bit].
MISMATCH_ENERGY_MAX_BITS = 12

#: Storage of the per-ADC switching-energy tables [J per code]: float32 (a relative 6e-8 of
#: each code's energy, far below the capacitor-mismatch spread the tables resolve; at one
#: table of 2**bits entries per ADC they are as large as the decision levels). The sums over
#: conversions run in float64.
ENERGY_TABLE_DTYPE = np.float32

#: Comparator decisions whose input is farther than this many σ of comparator noise from
#: the threshold are taken without drawing the noise: the flip probability there is below
#: 1e-23, so the result is exact in distribution, and most decisions of a conversion skip
#: the draw (counter-based streams: skipping a draw shifts no other number) [-].
COMPARATOR_SKIP_SIGMAS = 10.0

_NOMINAL: dict = {}


def _nominal_adc(card: str, bits: int, temperature_k: float, window_s: float):
    """The card's read-out without mismatch or noise (energy table, timing), cached."""
    from device_models.converters import build_converter

    key = (card, bits, temperature_k, window_s)
    if key not in _NOMINAL:
        _NOMINAL[key] = build_converter(card, bits, window_s=window_s,
                                        temperature_k=temperature_k, ideal=True)
        _NOMINAL[key].code_energy_j  # noqa: B018 - build the table once
    return _NOMINAL[key]


# --------------------------------------------------------------------------------------------
# General kernel (SAR ADCs, reference columns, unquantised converters): float64
# --------------------------------------------------------------------------------------------


def _analog_read_py(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, half,
                    sar, exact, t0, up, dn, trial, offset, sig_s, sig_c, e_table, e_row, keys,
                    sample0, plane, n_planes, col0, ref0, out, e_out, active, skip):
    # Per vector: the front end of every column, then the SAR search one decision at a time
    # across all columns (the columns' searches are independent, so the core overlaps them;
    # column by column, each search is a chain of dependent decisions), then the back end.
    n_b, n_s = mean.shape
    bits = up.shape[1]
    code_max = float((1 << bits) - 1)
    noisy = var_own.shape[1] == n_s
    has_ref = var_ref.shape[1] > 0
    any_sig_s = sar and np.any(sig_s > 0.0)
    any_sig_c = sar and np.any(sig_c > 0.0)
    u_adc = np.empty(n_s)      # ADC input [LSB] (SAR: less the comparator offset)
    sig = np.empty(n_s)        # signal [LSB] (unquantised output)
    dac = np.empty(n_s)        # SAR: DAC level reached so far [LSB]
    codes = np.empty(n_s, dtype=np.int64)
    thr = np.empty(n_s)        # SAR: this decision's threshold [LSB]
    x_cmp = np.empty(n_s)      # SAR: comparator input with its noise [LSB]
    near = np.empty(n_s, dtype=np.int64)
    # each column's ADC tables by decision, and how near its threshold a decision draws the
    # comparator noise (see the constant; never without noise)
    trial_j, up_j, dn_j = np.empty((bits, n_s)), np.empty((bits, n_s)), np.empty((bits, n_s))
    lim = np.full(n_s, -1.0)
    if sar:
        for j in range(n_s):
            a = adc_of[j]
            for k in range(bits):
                trial_j[k, j] = trial[a, k]
                up_j[k, j] = up[a, k]
                dn_j[k, j] = dn[a, k]
            if any_sig_c:
                lim[j] = COMPARATOR_SKIP_SIGMAS * sig_c[a]
    for b in range(n_b):
        if skip and active[b] == 0:     # no row driven: no conversion, nothing to add
            continue
        row = np.uint64((sample0 + b) * n_planes + plane)
        rb = rng.hash_at(keys[0], row)
        rb_ref = rng.hash_at(keys[2], row)
        rb_c = rng.hash_at(keys[4], row)
        for j in range(n_s):
            a = adc_of[j]
            g = gain[j]
            sx = np.float64(mean[b, j]) * g
            u = half + 0.5 + sx
            if noisy or any_sig_s:
                var = sig_s[a] * sig_s[a] if sar else 0.0
                if noisy:
                    var += max(np.float64(var_own[b, j]), 0.0) * (g * g)
                dz = math.sqrt(var) * np.float64(zig.normal32(rb, keys[1], row, col0 + j))
                u += dz
                sx += dz
            r = ref_idx[j]
            if noisy and has_ref and r >= 0:
                dz = math.sqrt(max(np.float64(var_ref[b, r]), 0.0)) * g * np.float64(
                    zig.normal32(rb_ref, keys[3], row, ref0 + r))
                u -= dz
                sx -= dz
            sig[j] = sx
            if sar:
                u_adc[j] = u - offset[a]
                dac[j] = t0[a]
                codes[j] = 0
            else:
                code = math.floor(u)
                if code < 0.0:
                    code = 0.0
                elif code > code_max:
                    code = code_max
                codes[j] = int(code)
        if sar:
            for s in range(bits):
                k = bits - 1 - s
                n_near = 0
                for j in range(n_s):      # thresholds; columns near theirs (no branches)
                    x = u_adc[j]
                    t = dac[j] + trial_j[k, j]
                    thr[j] = t
                    x_cmp[j] = x
                    near[n_near] = j
                    n_near += np.int64(abs(x - t) < lim[j])
                for q in range(n_near):   # their comparator noise
                    j = near[q]
                    x_cmp[j] += sig_c[adc_of[j]] * np.float64(
                        zig.normal32(rb_c, keys[5], row, (col0 + j) * bits + s))
                for j in range(n_s):      # decisions
                    hi = x_cmp[j] >= thr[j]
                    codes[j] |= np.int64(hi) << k
                    dac[j] += up_j[k, j] if hi else dn_j[k, j]
        e = 0.0
        for j in range(n_s):
            c = codes[j]
            e += e_table[e_row[adc_of[j]], c]
            if exact:   # unquantised ideal ADC: the signal itself, clipped to the range
                out[b, out_index[j]] += min(max(sig[j], -half), half) * coef[j]
            else:
                out[b, out_index[j]] += (float(c) - half) * coef[j]
        e_out[b] += e


_analog_read_kernel = jit(_analog_read_py)


# --------------------------------------------------------------------------------------------
# SAR kernel: look-up of the code, comparator noise referred to the input
# --------------------------------------------------------------------------------------------
#
# Equal in distribution to the general kernel, found another way. Without comparator noise a
# SAR search over increasing decision levels E_1 < … < E_{M-1} (:func:`decision_levels`)
# returns the number of levels at or below its input x, and every decision of the search
# compares x with one level: the decision on bit k of code c with E_{(c >> k) << k | 1 << k}.
# Along the noise-free path to c (E_c <= x < E_{c+1}) only two levels are within a code width
# of x: E_c (the decision on the lowest set bit of c) and E_{c+1} (that of c + 1); every other
# level of the path is another code's edge, at least one code width away. If every code of the
# ADC is at least ``lim`` = COMPARATOR_SKIP_SIGMAS·σ_c wide, the general kernel draws the
# comparator noise of those two decisions only (:data:`COMPARATOR_SKIP_SIGMAS`), and its code
# is c − 1 if the decision at E_c flips (x + σ_c·z_lo < E_c), c + 1 if the one at E_{c+1}
# flips (x + σ_c·z_hi >= E_{c+1}), else c; a flipped first decision leaves every later one at
# least a code width away. With d_lo = x − E_c, d_hi = E_{c+1} − x (d_lo + d_hi >= lim):
#
#   P(c − 1) = Φ(−d_lo/σ_c),   P(c + 1) = Φ(−d_hi/σ_c)
#
# up to both flipping, Φ(−d_lo/σ_c)·Φ(−d_hi/σ_c) <= Φ(−5)² ≈ 8e-14. One comparator draw z
# referred to the input, the code of x + σ_c·z by look-up, has these probabilities too (a step
# past E_{c−1} or E_{c+2} takes z beyond 10, < 8e-24), and since the read noise, the sampling
# noise and this draw are independent Gaussians they are one draw of the summed variance:
# ``s² = σ_s² + σ_c²`` in :func:`_sar_input`. So one normal per conversion instead of three,
# and the same code distribution as the decision-by-decision search to ~1e-13 (the draws, and
# so each realised code, differ from the general kernel's). The general kernel keeps the
# search for ADCs with narrower codes, where several decisions can flip.
#
# The look-up: a linear guess g of c from the ADC's mean code width (:func:`_window_guess`),
# whose ADCs are checked once to keep every c within {g, g + 1}; the level E_{g+1} then gives
# c = g + [x >= E_{g+1}] with one comparison.


@jit(inline="always")
def _sar_input(mv, vv, noisy, shot, g, s2, zj, h0):
    """ADC input [LSB] of one column before reference columns and comparator offset: ``h0 +
    μ·g + sqrt(s² + max(σ², 0)·g²)·z`` (mean ``mv`` and variance ``vv`` in the GEMMs' dtype,
    ``s²`` the column's sampling and comparator noise [LSB²])."""
    u = h0 + np.float64(mv) * g
    if shot:
        var = s2
        if noisy:
            var += max(np.float64(vv), 0.0) * (g * g)
        u += math.sqrt(var) * np.float64(zj)
    return u


@jit(inline="always")
def _guess_index(xv, e0, inv_w, g_top, lbase):
    """The guess ``g = clip(floor((x − e0)·inv_w), 0, M − 2)`` of a column's code
    (:func:`_window_guess`; ``g_top = M − 2``), as an index into the flat level table."""
    q = np.floor((xv - e0) * inv_w)
    q = q if q > 0.0 else 0.0
    q = q if q < g_top else g_top
    return lbase + np.int64(q)


@jit
def _sar_inputs(mrow, vrow, noisy, shot, gain, s2, z, h0, x):
    """ADC inputs [LSB] before reference columns and comparator offset (:func:`_sar_input`)."""
    for j in range(x.size):
        x[j] = _sar_input(mrow[j], vrow[j if noisy else 0], noisy, shot, gain[j], s2[j], z[j],
                          h0)


@jit
def _sar_inputs_guess(mrow, vrow, noisy, shot, gain, s2, off, z, h0, e0, inv_w, g_top, lbase,
                      x, k):
    """Without reference columns, in one pass: the ADC inputs less the comparator offset
    (:func:`_sar_input`, then ``− off``) and the first guess of each
    column's code (:func:`_guess_index`)."""
    for j in range(x.size):
        xv = _sar_input(mrow[j], vrow[j if noisy else 0], noisy, shot, gain[j], s2[j], z[j],
                        h0) - off[j]
        x[j] = xv
        k[j] = _guess_index(xv, e0[j], inv_w[j], g_top, lbase[j])


@jit
def _sar_refs(vref, gain, ref_idx, zr, x):
    """Reference-column noise taken off the ADC inputs (offset mapping)."""
    for j in range(x.size):
        r = ref_idx[j]
        if r >= 0:
            x[j] -= math.sqrt(max(np.float64(vref[r]), 0.0)) * gain[j] * np.float64(zr[r])


@jit
def _sar_offset_guess(off, e0, inv_w, g_top, lbase, x, k):
    """The comparator offset taken off the ADC inputs, and the first guess of each column's
    code (:func:`_guess_index`)."""
    for j in range(x.size):
        xv = x[j] - off[j]
        x[j] = xv
        k[j] = _guess_index(xv, e0[j], inv_w[j], g_top, lbase[j])


@jit
def _sar_pick(x, k, lbase, levels, c):
    """Codes ``c = g + [x ≥ E_{g+1}]`` from the guesses ``k = lbase + g`` (one scalar load
    each; ``k >= 0`` taken unsigned, so that no load carries the wrap-around of a negative
    index)."""
    for j in range(x.size):
        i = np.uint64(k[j]) + np.uint64(1)
        c[j] = np.int32(k[j] - lbase[j]) + np.int32(x[j] >= levels[i])


@jit
def _code_energy_rows(codes, e_flat, ebase):
    """Σ e_flat[ebase[j] + codes[j]] [J] in four partial sums (indices >= 0, unsigned)."""
    e0 = e1 = e2 = e3 = 0.0
    n = codes.size
    n4 = n - n % 4
    for j in range(0, n4, 4):
        e0 += e_flat[np.uint64(ebase[j] + codes[j])]
        e1 += e_flat[np.uint64(ebase[j + 1] + codes[j + 1])]
        e2 += e_flat[np.uint64(ebase[j + 2] + codes[j + 2])]
        e3 += e_flat[np.uint64(ebase[j + 3] + codes[j + 3])]
    for j in range(n4, n):
        e0 += e_flat[np.uint64(ebase[j] + codes[j])]
    return (e0 + e1) + (e2 + e3)


def _read_sar_py(mean, var_own, var_ref, ref_idx, gain, coef, out_index, bits, half, shot,
                 s2, off, levels, lbase, e0, inv_w, e_flat, ebase, keys, sample0, plane,
                 n_planes, col0, ref0, ident, assign, out, e_out, active, skip, words):
    """SAR ADCs whose codes are all at least ``lim`` wide (see the section comment): per
    vector, passes over the columns (the one normal of each conversion, ADC input and guess,
    look-up), then energy and shift-add."""
    n_b, n_s = mean.shape
    m = 1 << bits
    noisy = var_own.shape[1] == n_s
    shot = shot or noisy        # one draw whenever any noise is on (the ADCs' or the read's)
    n_ref = var_ref.shape[1]
    has_ref = noisy and n_ref > 0
    h0 = half + 0.5
    g_top = float(m - 2)
    hb = np.empty(max(n_s, n_ref), dtype=np.uint32)
    ent = np.empty(max(n_s, n_ref), dtype=np.uint64)
    z = np.empty(n_s, dtype=np.float32)
    zr = np.empty(n_ref, dtype=np.float32)
    x = np.empty(n_s)
    c = np.empty(n_s, dtype=np.int32)
    k = np.empty(n_s, dtype=np.int64)
    dummy = np.zeros(1, dtype=var_own.dtype)
    for b in range(n_b):
        if skip and active[b] == 0:
            if assign and ident:
                out[b, :] = 0.0
                e_out[b] = 0.0
            continue
        row = np.uint64((sample0 + b) * n_planes + plane)
        if shot:
            zig.fill_row_normals(keys[0], keys[1], row, col0, hb, ent, z, words)
        vrow = var_own[b] if noisy else dummy
        if has_ref:
            _sar_inputs(mean[b], vrow, noisy, shot, gain, s2, z, h0, x)
            zig.fill_row_normals(keys[2], keys[3], row, ref0, hb, ent, zr, words)
            _sar_refs(var_ref[b], gain, ref_idx, zr, x)
            _sar_offset_guess(off, e0, inv_w, g_top, lbase, x, k)
        else:
            _sar_inputs_guess(mean[b], vrow, noisy, shot, gain, s2, off, z, h0, e0, inv_w,
                              g_top, lbase, x, k)
        _sar_pick(x, k, lbase, levels, c)
        e = _code_energy_rows(c, e_flat, ebase)
        e_out[b] = e if (assign and ident) else e_out[b] + e
        _shift_add(c, coef, half, out_index, ident, assign, out[b])


# --------------------------------------------------------------------------------------------
# Specialised kernel (ideal ADCs, no reference columns): the GEMMs' precision, vector passes
# --------------------------------------------------------------------------------------------


@jit
def _codes_noisy(mrow, vrow, gain, gain2, z, h0, code_max, codes):
    zero = h0 - h0
    for j in range(mrow.size):
        vv = vrow[j] * gain2[j]
        vv = vv if vv > zero else zero
        u = np.floor(h0 + mrow[j] * gain[j] + np.sqrt(vv) * z[j])
        u = u if u > zero else zero
        u = u if u < code_max else code_max
        codes[j] = np.int32(u)


@jit
def _codes_clean(mrow, gain, h0, code_max, codes):
    zero = h0 - h0
    for j in range(mrow.size):
        u = np.floor(h0 + mrow[j] * gain[j])
        u = u if u > zero else zero
        u = u if u < code_max else code_max
        codes[j] = np.int32(u)


@jit
def _code_energy(codes, e_table):
    """Σ e_table[codes] [J] in four partial sums (no serial add chain; codes >= 0, taken
    unsigned)."""
    e0 = e1 = e2 = e3 = 0.0
    n = codes.size
    n4 = n - n % 4
    for j in range(0, n4, 4):
        e0 += e_table[np.uint32(codes[j])]
        e1 += e_table[np.uint32(codes[j + 1])]
        e2 += e_table[np.uint32(codes[j + 2])]
        e3 += e_table[np.uint32(codes[j + 3])]
    for j in range(n4, n):
        e0 += e_table[np.uint32(codes[j])]
    return (e0 + e1) + (e2 + e3)


@jit
def _shift_add(codes, coef, half, out_index, ident, assign, orow):
    if ident and assign:     # the row's first contribution: no read of the output
        for j in range(codes.size):
            orow[j] = (np.float64(codes[j]) - half) * coef[j]
    elif ident:
        for j in range(codes.size):
            orow[j] += (np.float64(codes[j]) - half) * coef[j]
    else:
        for j in range(codes.size):
            orow[out_index[j]] += (np.float64(codes[j]) - half) * coef[j]


def _read_plain_py(mean, var_own, gain, gain2, h0, code_max, coef, out_index, ident, assign,
                   e_table, half, key, key_slow, sample0, plane, n_planes, col0, out, e_out,
                   active, skip, words):
    """Ideal ADCs, no reference columns: per vector, the row's normal numbers
    (:func:`device_models.ziggurat.fill_row_normals`), then noise + front end + ADC in the
    dtype of ``mean`` (``gain``, ``gain2 = gain·gain``, ``h0 = half + 1/2`` and ``code_max``
    in that dtype), switching energy, and shift-add; each pass a loop of its own. With
    ``assign`` (and ``ident``) the outputs and energies are written, not added. With
    ``skip``, vectors with ``active[b] == 0`` (no row driven) are not converted."""
    n_b, n_s = mean.shape
    noisy = var_own.shape[1] == n_s
    hb = np.empty(n_s, dtype=np.uint32)
    ent = np.empty(n_s, dtype=np.uint64)
    z = np.empty(n_s, dtype=np.float32)
    codes = np.empty(n_s, dtype=np.int32)
    for b in range(n_b):
        if skip and active[b] == 0:
            if assign and ident:
                out[b, :] = 0.0
                e_out[b] = 0.0
            continue
        if noisy:
            row = np.uint64((sample0 + b) * n_planes + plane)
            zig.fill_row_normals(key, key_slow, row, col0, hb, ent, z, words)
            _codes_noisy(mean[b], var_own[b], gain, gain2, z, h0, code_max, codes)
        else:
            _codes_clean(mean[b], gain, h0, code_max, codes)
        e = _code_energy(codes, e_table)
        e_out[b] = e if (assign and ident) else e_out[b] + e
        _shift_add(codes, coef, half, out_index, ident, assign, out[b])


_read_plain_kernel = jit(_read_plain_py)


@jit
def _plain_fused_call(fn, slow_fn, mean, vv, gain, gain2, coef, e_table, words, active, out,
                      e_out, key, key_slow, sample0, n_planes, plane, skip, assign, col0, h0,
                      code_max, half):
    """The call of the :mod:`cimsim.kernels.plain_read` kernel at address ``fn`` (operands
    checked by :func:`_read_plain_fused`): from compiled code, without the cost of a ctypes
    call's argument conversions."""
    i4 = np.int32
    call_void(fn, (np.int64(0), np.int64(mean.shape[0]), np.int64(mean.shape[1]),
                   mean.ctypes.data, mean.strides[0], vv.ctypes.data, vv.strides[0],
                   gain.ctypes.data, gain2.ctypes.data, coef.ctypes.data, e_table.ctypes.data,
                   words.ctypes.data, active.ctypes.data, np.int64(slow_fn), np.int64(key),
                   np.int64(key_slow), np.int64(sample0), np.int64(n_planes), np.int64(plane),
                   i4(skip), i4(assign), i4(col0), np.float64(h0), np.float64(code_max),
                   np.float64(half), out.ctypes.data, np.int64(out.strides[0] // 8),
                   e_out.ctypes.data))


def _read_plain_fused(mean, var_own, gain, gain2, h0, code_max, coef, ident, assign, e_table,
                      half, key, key_slow, sample0, plane, n_planes, col0, out, e_out, active,
                      skip) -> bool:
    """:func:`_read_plain_py` (its arguments but ``out_index`` and ``words``) by the kernel
    of :mod:`cimsim.kernels.plain_read` (the same arithmetic in one LLVM IR kernel: the same
    numbers). False (nothing done) where that kernel does not run (no AVX-512,
    ``CIMSIM_FORCE_BLAS=1``) or the operands are not its kind: no read noise (no variance
    matrix), scattered outputs, means, variances and gains not all of one dtype and shape,
    rows not contiguous, an energy table that is not float64 of ``code_max + 1`` entries.
    Every operand's shape and layout is checked here: the kernel indexes through raw
    addresses."""
    n_b, n_s = mean.shape
    dt = mean.dtype
    f8 = np.dtype(np.float64)
    if (not ident or n_b == 0 or n_s == 0 or dt not in (np.float32, np.float64)
            or var_own.shape != mean.shape or var_own.dtype != dt
            or mean.strides[1] != mean.itemsize or mean.strides[0] < 0
            or var_own.strides[1] != var_own.itemsize or var_own.strides[0] < 0
            or any(a.shape != (n_s,) or a.dtype != dt or not a.flags.c_contiguous
                   for a in (gain, gain2))
            or np.dtype(type(h0)) != dt or np.dtype(type(code_max)) != dt
            or e_table.ndim != 1 or e_table.dtype != f8 or not e_table.flags.c_contiguous
            or not (0.0 <= float(code_max) == e_table.size - 1)
            or coef.shape != (n_s,) or out.shape != (n_b, n_s)
            or out.dtype != f8 or out.strides[1] != 8 or out.strides[0] % 8
            or e_out.shape != (n_b,) or e_out.dtype != f8 or not e_out.flags.c_contiguous
            or (skip and active.shape != (n_b,))):
        return False
    fn = plain_read.kernel_address(dt)
    if not fn:
        return False
    _plain_fused_call(fn, sar_read.slow_draw_address(), mean, var_own, gain, gain2,
                      np.ascontiguousarray(coef, dtype=np.float64), e_table, zig._CORE64,
                      np.ascontiguousarray(active, dtype=np.int32), out, e_out,
                      sar_read._s64(int(key)), sar_read._s64(int(key_slow)), int(sample0),
                      int(n_planes), int(plane), int(bool(skip)), int(bool(assign)),
                      sar_read._s32(int(col0) & 0xFFFFFFFF), float(h0), float(code_max),
                      float(half))
    return True


_read_sar_kernel = jit(_read_sar_py)


# --------------------------------------------------------------------------------------------
# NumPy reference
# --------------------------------------------------------------------------------------------


def _noise_np(key: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return zig.normals_np(key, zig.slow_key(key), rows, cols)


def _read_plain_numpy(mean, var_own, gain, coef, out_index, e_table, half, key, rows, col0,
                      out, e_out, on):
    dt = mean.dtype.type
    g = gain.astype(dt)
    h0, code_max = dt(half + 0.5), dt(e_table.size - 1)
    u = h0 + mean * g
    if var_own.shape[1] == mean.shape[1]:
        vv = var_own * (g * g)
        vv = np.where(vv > 0, vv, dt(0))
        z = _noise_np(key, rows, np.arange(col0, col0 + mean.shape[1])).astype(dt)
        u = u + np.sqrt(vv) * z
    code = np.clip(np.floor(u), dt(0), code_max).astype(np.int64)
    e_out += np.where(on, e_table[code].sum(axis=1, dtype=np.float64), 0.0)
    np.add.at(out.T, out_index, ((code - half) * coef[None, :] * on[:, None]).T)


def _read_sar_numpy(mean, var_own, var_ref, ref_idx, gain, coef, out_index, half, cols, keys,
                    rows, col0, ref0, out, e_out, on):
    """:func:`_read_sar_py` in NumPy, the same arithmetic (the look-up's guess included)."""
    n_b, n_s = mean.shape
    keys = [int(k) for k in keys]
    noisy = var_own.shape[1] == n_s
    x = (half + 0.5) + mean.astype(np.float64) * gain[None, :]
    if cols["shot"] or noisy:
        var = np.broadcast_to(cols["s2"], (n_b, n_s))
        if noisy:
            var = var + np.maximum(var_own.astype(np.float64), 0.0) * (gain * gain)[None, :]
        z = _noise_np(keys[0], rows, np.arange(col0, col0 + n_s)).astype(np.float64)
        x = x + np.sqrt(var) * z
    if noisy and var_ref.shape[1] > 0:
        zr = _noise_np(keys[2], rows, np.arange(ref0, ref0 + var_ref.shape[1])).astype(
            np.float64)
        has = ref_idx >= 0
        r = ref_idx[has]
        x[:, has] -= (np.sqrt(np.maximum(var_ref[:, r].astype(np.float64), 0.0))
                      * gain[None, has] * zr[:, r])
    x = x - cols["off"][None, :]
    q = np.floor((x - cols["e0"][None, :]) * cols["inv_w"][None, :])
    q = np.where(q > 0.0, q, 0.0)
    q = np.where(q < cols["g_top"], q, cols["g_top"]).astype(np.int64)
    c = q + (x >= cols["levels"][cols["lbase"][None, :] + q + 1])
    e = cols["e_flat"][cols["ebase"][None, :] + c].astype(np.float64).sum(axis=1)
    e_out += np.where(on, e, 0.0)
    np.add.at(out.T, out_index, ((c - half) * coef[None, :] * on[:, None]).T)


def _analog_read_numpy(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, half,
                       sar, exact, t0, up, dn, trial, offset, sig_s, sig_c, e_table, e_row, keys,
                       rows, col0, ref0, out, e_out, on):
    n_b, n_s = mean.shape
    bits = up.shape[1]
    keys = [int(k) for k in keys]
    sx = mean.astype(np.float64) * gain[None, :]
    u = half + 0.5 + sx
    cols = np.arange(col0, col0 + n_s)
    noisy = var_own.shape[1] == n_s
    any_sig_s = sar and np.any(sig_s > 0.0)
    if noisy or any_sig_s:
        var = np.zeros((n_b, n_s))
        if sar:
            var = var + (sig_s[adc_of] ** 2)[None, :]
        if noisy:
            var = var + np.maximum(var_own.astype(np.float64), 0.0) * (gain * gain)[None, :]
        z = _noise_np(keys[0], rows, cols).astype(np.float64)
        u = u + np.sqrt(var) * z
        sx = sx + np.sqrt(var) * z
    if noisy and var_ref.shape[1] > 0:
        zr = _noise_np(keys[2], rows, np.arange(ref0, ref0 + var_ref.shape[1])).astype(
            np.float64)
        nr = np.sqrt(np.maximum(var_ref.astype(np.float64), 0.0)) * zr
        has = ref_idx >= 0
        u[:, has] -= nr[:, ref_idx[has]] * gain[None, has]
        sx[:, has] -= nr[:, ref_idx[has]] * gain[None, has]
    if sar:
        a = adc_of[None, :]
        vs = u - offset[a]
        acc = np.broadcast_to(t0[a], u.shape).copy()
        c = np.zeros(u.shape, dtype=np.int64)
        zc = (_noise_np(keys[4], rows, (cols[:, None] * bits + np.arange(bits)).ravel())
              .astype(np.float64).reshape(n_b, n_s, bits) if np.any(sig_c > 0.0) else None)
        for s in range(bits):
            k = bits - 1 - s
            x = vs
            thr = acc + trial[a, k]
            if zc is not None:
                near = np.abs(vs - thr) < COMPARATOR_SKIP_SIGMAS * sig_c[a]
                x = np.where(near, vs + sig_c[a] * zc[:, :, s], vs)
            hit = x >= thr
            c |= hit.astype(np.int64) << k
            acc = acc + np.where(hit, up[a, k], dn[a, k])
        code = c.astype(np.float64)
    else:
        code = np.clip(np.floor(u), 0.0, float((1 << bits) - 1))
        c = code.astype(np.int64)
    e_out += np.where(on, e_table[e_row[adc_of][None, :], c].sum(axis=1, dtype=np.float64), 0.0)
    val = np.clip(sx, -half, half) if exact else code - half
    np.add.at(out.T, out_index, (val * coef[None, :] * on[:, None]).T)


def _window_guess(levels: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear guess of the SAR kernel's look-up for ADCs with levels ``levels``
    (:func:`decision_levels`, ``m = 2**N`` codes, one ADC per row) and whether it serves.

    ``inv_w = (M − 2)/(E_{M−1} − E_1)`` is the inverse mean code width [1/LSB] and ``e0 = E_1
    − 1/(2·inv_w)`` [LSB] puts each code's centre half-way into its guess, so that
    ``g(x) = clip(floor((x − e0)·inv_w), 0, M − 2)`` (:func:`_guess_index`, the same float64
    arithmetic) is c or c − 1 for the noise-free code c of x while the levels stay within
    about half a code width of the line. ``ok`` marks the ADCs where that holds for every x:
    g is non-decreasing in x, so it is checked at the ends of each code's interval,
    ``g(E_c) ≥ c − 1`` and ``g(x) ≤ c`` for the largest float64 x below ``E_{c+1}``.
    """
    n = levels.shape[0]
    if m < 2:
        return np.zeros(n), np.ones(n), np.zeros(n, dtype=bool)
    width = levels[:, m - 1] - levels[:, 1]
    inv_w = np.where(width > 0.0, (m - 2) / np.where(width > 0.0, width, 1.0), 1.0)
    e0 = levels[:, 1] - 0.5 / inv_w

    def guess(x):
        return np.clip(np.floor((x - e0[:, None]) * inv_w[:, None]), 0.0, m - 2)

    c = np.arange(1, m)
    ok = (np.all(guess(levels[:, 1:m]) >= c - 1, axis=1)
          & np.all(guess(np.nextafter(levels[:, 1:m], -np.inf)) <= c - 1, axis=1))
    return e0, inv_w, ok


def _sar_columns(adcs: ColumnAdcs, adc_of: np.ndarray) -> dict | None:
    """Per-column arrays of :func:`_read_sar_py` for the columns' ADCs, or None when some
    ADC's codes are not all wider than its comparator-noise window (or its levels do not
    increase), or its levels stray too far from a line for the look-up's guess
    (:func:`_window_guess`): the general kernel then runs."""
    bits = adcs.bits
    m = 1 << bits
    # a column set cached for these noise figures passed the checks below when it was made
    # from these very tables, made read-only then: replace a table to change it
    key = (id(adc_of), adc_of.size, hash(adcs.sig_c.tobytes()), hash(adcs.sig_s.tobytes()),
           hash(adcs.offset.tobytes()))
    src = (adcs.levels, adcs.min_width, adcs.e_table, adcs.e_row)
    cache = adcs.__dict__.setdefault("_sar_cols", {})
    got = cache.get(key)
    if (got is not None and got["adc_of"] is adc_of
            and all(a is b for a, b in zip(got["src"], src, strict=True))):
        return got
    any_sig_c = bool(np.any(adcs.sig_c > 0.0))
    lim_a = COMPARATOR_SKIP_SIGMAS * adcs.sig_c if any_sig_c else np.full(adcs.sig_c.size, -1.0)
    if adcs.levels.shape[1] != m + 1 or not np.all(adcs.min_width >= lim_a):
        return None
    lv = adcs.levels
    e0, inv_w, ok = _window_guess(lv, m)
    if not np.all(ok):
        return None
    for table in src:
        table.setflags(write=False)
    cols = {
        "adc_of": adc_of,
        "src": src,
        "shot": bool(np.any(adcs.sig_s > 0.0) or any_sig_c),    # the ADCs' own noise
        # sampling and comparator noise, one input-referred variance (the section comment)
        "s2": np.ascontiguousarray((adcs.sig_s * adcs.sig_s + adcs.sig_c * adcs.sig_c)[adc_of]),
        "off": np.ascontiguousarray(adcs.offset[adc_of]),
        "levels": np.ascontiguousarray(lv).ravel(),
        "g_top": float(m - 2),
        "lbase": np.ascontiguousarray(adc_of * (m + 1), dtype=np.int64),
        "e0": np.ascontiguousarray(e0[adc_of]),
        "inv_w": np.ascontiguousarray(inv_w[adc_of]),
        "e_flat": np.ascontiguousarray(adcs.e_table).ravel(),
        "ebase": np.ascontiguousarray(adcs.e_row[adc_of] * adcs.e_table.shape[1],
                                      dtype=np.int64),
    }
    cache.clear()          # one column set per ADC set (a block's)
    cache[key] = cols
    return cols


def _read_sar_fused(mean, var_own, var_ref, gain, coef, bits, half, cols, keys, sample0, plane,
                    n_planes, col0, ident, assign, out, e_out, active, skip) -> bool:
    """:func:`_read_sar_py` by the kernel of :mod:`cimsim.kernels.sar_read` (the same
    arithmetic in one LLVM IR kernel: the same numbers). False (nothing done) where that
    kernel does not run (no AVX-512, ``CIMSIM_FORCE_BLAS=1``) or the operands are not its
    kind: scattered outputs, reference columns, a float64 energy table, mean and variances
    of different dtypes or shapes, rows not contiguous. Every operand's shape and layout is
    checked here: the kernel indexes through raw addresses."""
    n_b, n_s = mean.shape
    noisy = var_own.shape[1] == n_s
    shot = bool(cols["shot"]) or noisy      # as _read_sar_py
    f8 = np.dtype(np.float64)
    if (not ident or (noisy and var_ref.shape[1] > 0) or n_b == 0 or n_s == 0
            or mean.strides[1] != mean.itemsize or mean.strides[0] < 0
            or (noisy and (var_own.shape != mean.shape or var_own.dtype != mean.dtype
                           or var_own.strides[1] != var_own.itemsize
                           or var_own.strides[0] < 0))
            or cols["e_flat"].dtype != np.float32 or out.shape != (n_b, n_s)
            or out.dtype != f8 or out.strides[1] != 8 or out.strides[0] % 8
            or e_out.shape != (n_b,) or e_out.dtype != f8 or not e_out.flags.c_contiguous
            or gain.shape != (n_s,) or coef.shape != (n_s,) or cols["off"].shape != (n_s,)
            or (skip and active.shape != (n_b,)) or keys.shape != (6,)
            or keys.dtype != np.uint64 or not keys.flags.c_contiguous):
        return False
    fn = sar_read.kernel(shot, noisy, mean.dtype)
    if fn is None:
        return False
    act = np.ascontiguousarray(active, dtype=np.int32)
    gain = np.ascontiguousarray(gain, dtype=np.float64)
    coef = np.ascontiguousarray(coef, dtype=np.float64)
    vv = var_own if noisy else mean
    fn(0, n_b, n_s, mean.ctypes.data, mean.strides[0], vv.ctypes.data, vv.strides[0],
       gain.ctypes.data, cols["s2"].ctypes.data, cols["off"].ctypes.data,
       cols["e0"].ctypes.data, cols["inv_w"].ctypes.data, cols["lbase"].ctypes.data,
       coef.ctypes.data, cols["levels"].ctypes.data, cols["e_flat"].ctypes.data,
       cols["ebase"].ctypes.data, zig._CORE64.ctypes.data, keys.ctypes.data, act.ctypes.data,
       sar_read.slow_draw_address(), int(sample0), int(n_planes), int(plane),
       int(bool(skip)), int(bool(assign)), sar_read._s32(int(col0) & 0xFFFFFFFF),
       half + 0.5, float((1 << bits) - 2), half, out.ctypes.data, out.strides[0] // 8,
       e_out.ctypes.data)
    return True


# --------------------------------------------------------------------------------------------
# Public entry
# --------------------------------------------------------------------------------------------


def analog_read(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, adcs: ColumnAdcs,
                *, key, key_ref, key_c, sample0, plane, n_planes, col0, ref0, out, e_out,
                exact=False, assign=False, ident=None, active=None):
    """Noise, front end, ADC and digital reconstruction of a block of signal currents.

    Parameters
    ----------
    mean : ndarray (batch, n_signal), float32 or float64
        Noise-free signal currents [A].
    var_own, var_ref : ndarray
        Read-noise variances [A²] of the signal columns and of the reference columns (no
        columns: no such noise).
    ref_idx : ndarray of int
        Reference column of each signal column (−1: none).
    gain : ndarray (n_signal,)
        Front-end gain [1/A] (ADC LSBs per ampere).
    coef : ndarray (n_signal,)
        Digital weight of one ADC LSB of each column in the output.
    out_index, adc_of : ndarray of int
        Output column and ADC of each signal column.
    adcs : ColumnAdcs
        The ADCs.
    key, key_ref, key_c : int
        Stream keys of read noise, reference-column noise and comparator noise.
    sample0, plane, n_planes : int
        Stream position of ``mean[0]`` and the cycle (see the module docstring).
    col0, ref0 : int
        Stream columns of the first signal and reference column.
    out, e_out : ndarray
        Accumulated in place: outputs (batch, n_out) and switching energy per vector [J];
        with ``assign`` their previous contents are discarded first (the first read of a
        batch: no separate zeroing pass).
    ident : bool, optional
        Whether ``out_index`` is ``arange(out.shape[1])`` (found here if not given).
    exact : bool
        Unquantised ideal ADC (``tile.quantize = False``): the output is the signal itself,
        ``clip(u − half − 1/2, −half, half)·coef``; the energy is that of the code an ideal
        ADC of ``bits`` would give.
    active : ndarray (batch,) of int32, optional
        Driven rows of each vector in this cycle; a vector with none is not converted (no
        output, no energy: ``TileConfig.skip_zero_inputs``). None: every vector converts.

    Runs serially on the calling thread (callers split the batch; the kernels release the
    GIL).
    """
    half = float(2 ** (adcs.bits - 1))
    n_b = mean.shape[0]
    skip = active is not None
    if not skip:
        active = np.ones(1, dtype=np.int32)
    plain = not adcs.sar and not exact and var_ref.shape[1] == 0
    if ident is None:
        ident = out_index.size == out.shape[1] and bool(
            np.array_equal(out_index, np.arange(out_index.size)))
    cols = _sar_columns(adcs, adc_of) if adcs.sar and not exact else None
    fast = backend() != "numpy" and (plain or cols is not None)
    if assign and not (fast and ident):
        out[...] = 0.0
        e_out[...] = 0.0
        assign = False
    if backend() == "numpy":
        rows = ((np.arange(n_b, dtype=np.uint64) + np.uint64(sample0)) * np.uint64(n_planes)
                + np.uint64(plane))
        on = active != 0 if skip else np.ones(n_b, dtype=bool)
        if plain:
            _read_plain_numpy(mean, var_own, gain, coef, out_index, adcs.e_table[0], half, key,
                              rows, col0, out, e_out, on)
            return
        keys = [key, zig.slow_key(key), key_ref, zig.slow_key(key_ref), key_c,
                zig.slow_key(key_c)]
        if cols is not None:
            _read_sar_numpy(mean, var_own, var_ref, ref_idx, gain, coef, out_index, half, cols,
                            keys, rows, col0, ref0, out, e_out, on)
            return
        _analog_read_numpy(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, half,
                           bool(adcs.sar), bool(exact), adcs.t0, adcs.up, adcs.dn, adcs.trial,
                           adcs.offset, adcs.sig_s, adcs.sig_c, adcs.e_table, adcs.e_row, keys,
                           rows, col0, ref0, out, e_out, on)
        return
    if plain:
        dt = mean.dtype.type
        g = np.ascontiguousarray(gain, dtype=dt)
        args = (mean, var_own, g, g * g, dt(half + 0.5), dt(adcs.e_table.shape[1] - 1), coef)
        tail = (assign, adcs.e_table[0], half, np.uint64(key), np.uint64(zig.slow_key(key)),
                int(sample0), int(plane), int(n_planes), int(col0), out, e_out, active, skip)
        if not _read_plain_fused(*args, ident, *tail):
            _read_plain_kernel(*args, out_index, ident, *tail, zig._CORE64)
        return
    keys = np.array([key, zig.slow_key(key), key_ref, zig.slow_key(key_ref), key_c,
                     zig.slow_key(key_c)], dtype=np.uint64)
    if cols is not None and _read_sar_fused(mean, var_own, var_ref, gain, coef, int(adcs.bits),
                                            half, cols, keys, int(sample0), int(plane),
                                            int(n_planes), int(col0), ident, assign, out, e_out,
                                            active, skip):
        return
    if cols is not None:
        _read_sar_kernel(mean, var_own, var_ref, ref_idx, np.ascontiguousarray(gain,
                         dtype=np.float64), coef, out_index, int(adcs.bits), half, cols["shot"],
                         cols["s2"], cols["off"], cols["levels"],
                         cols["lbase"], cols["e0"], cols["inv_w"], cols["e_flat"],
                         cols["ebase"], keys, int(sample0), int(plane), int(n_planes),
                         int(col0), int(ref0), bool(ident), bool(assign), out, e_out, active,
                         skip, zig._CORE64)
        return
    _analog_read_kernel(mean, var_own, var_ref, ref_idx, gain, coef, out_index, adc_of, half,
                        bool(adcs.sar), bool(exact), adcs.t0, adcs.up, adcs.dn, adcs.trial,
                        adcs.offset, adcs.sig_s, adcs.sig_c, adcs.e_table, adcs.e_row, keys,
                        int(sample0), int(plane), int(n_planes), int(col0), int(ref0), out,
                        e_out, active, skip)
