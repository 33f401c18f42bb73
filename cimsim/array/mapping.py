"""Weights → conductances: quantisation, bit-slicing, differential and offset mapping.

A signed weight block ``W`` (rows × outputs) becomes target conductances of one crossbar in
four steps:

1. **Quantise** to ``weight_bits`` signed levels: ``q = round(W / w_lsb)`` with
   ``w_lsb = w_max / n_mag`` and ``n_mag = 2**(weight_bits - 1) - 1`` (``n_mag = 1`` for one
   bit: ternary weights), so ``W ≈ q · w_lsb``.
2. **Encode the sign**: *differential* stores ``|q|`` on the ``G+`` column of a pair when
   ``q > 0`` and on ``G−`` when ``q < 0`` (the other cell stays at ``G_min``); the pair's current
   difference ``I+ − I−`` is signed. *Offset* stores the unsigned code ``u = q + 2**(bits-1)``
   in one column and subtracts the current of a reference column holding the offset code, so
   ``I − I_ref ∝ q``.
3. **Bit-slice** the stored code into ``n_slices = ceil(stored_bits / bits_per_cell)`` digits
   of ``bits_per_cell`` bits, least significant first; slice ``k`` is one more (pair of)
   column(s), and its digitised result is weighted by ``2**(bits_per_cell·k)`` in the
   digital shift-add.
4. **Map linearly**: slice code ``s`` with largest possible value ``s_max`` goes to
   ``G = G_min + s · (G_max − G_min) / s_max`` [S].

5. **Merge the slices** (``stacking``, optional): instead of digitising every slice, the
   slices' column currents are weighted ``2**(b·k)`` and summed in the analog domain before
   one read-out per output (current stacking, :mod:`device_models.current_mirror`):
   ``"mirror"`` copies slice k with ratio ``r_k = 2**(b(k − K + 1))`` (sized mirrors),
   ``"parallel"`` stores slice k on ``2**(b·k)`` columns wired together. The mapping's signal
   columns are then the outputs; ``merge`` (cell-level signal columns × outputs) holds the
   weights of the sum.

The column current of signal column ``j`` (slice ``k`` of output ``o``) for row voltages ``v``
[V] is ``I_j = v @ (G[:, pos_j] − G[:, neg_j])`` [A] and the weight product is recovered
digitally as ``y_o = Σ_k 2**(b·k) · I_(o,k) / (step_k · v_lsb) · x_lsb · w_lsb``.

References
----------
.. [1] M. Hu et al., "Dot-product engine for neuromorphic computing: programming 1T1M
   crossbar to accelerate matrix-vector multiplication", Proc. 53rd DAC, 2016.
   doi:10.1145/2897937.2898010 (differential pairs, linear conductance mapping).
.. [2] A. Shafiee et al., "ISAAC: a convolutional neural network accelerator with in-situ
   analog arithmetic in crossbars", ISCA 2016. doi:10.1145/3007787.3001139 (bit-slicing of
   weights over 2-bit cells, offset encoding with digital/reference subtraction).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from device_models._checks import check_array, check_choice, check_int, check_scalar, fail

__all__ = [
    "STACKINGS",
    "WeightMapping",
    "map_weights",
    "n_slices",
    "outputs_per_tile",
    "quantize_weights",
    "slice_codes",
]

_MAPPINGS = ("differential", "offset")

#: How the slices of a weight reach the read-out: ``"digital"`` (each slice digitised, the
#: results shifted and added), or merged in the analog domain by current stacking with
#: ``"mirror"`` (sized mirrors) or ``"parallel"`` (parallel columns) weighting.
STACKINGS = ("digital", "mirror", "parallel")


def _n_mag(weight_bits: int) -> int:
    return max(2 ** (weight_bits - 1) - 1, 1)


def _stored_bits(weight_bits: int, mapping: str) -> int:
    """Bits of the code a cell column stores: |q| (differential) or q + 2**(bits-1) (offset)."""
    if mapping == "differential":
        return max(weight_bits - 1, 1)
    return max(weight_bits, 2)


def _check_slicing(weight_bits, bits_per_cell, mapping, quantize, caller) -> tuple[int, int]:
    wb = check_int("weight_bits", weight_bits, caller, lo=1, hi=32)
    bpc = check_int("bits_per_cell", bits_per_cell, caller, lo=1, hi=32)
    check_choice("mapping", mapping, caller, ("differential", "offset"))
    if not isinstance(quantize, (bool, np.bool_)):
        fail("quantize", caller, "True or False", quantize)
    return wb, bpc


def _check_stacking(stacking, mapping, quantize, caller) -> str:
    """``stacking`` checked: one of :data:`STACKINGS`, and 'digital' unless the mapping is
    differential and quantised."""
    stacking = check_choice("stacking", stacking, caller, STACKINGS)
    if stacking != "digital" and (mapping != "differential" or not quantize):
        fail("stacking", caller, "'digital' unless the mapping is differential and quantised",
             stacking)
    return stacking


def n_slices(weight_bits: int, bits_per_cell: int, mapping: str = "differential",
             quantize: bool = True) -> int:
    """Number of cell columns (slices) one weight is split over [-] (1 when unquantised)."""
    weight_bits, bits_per_cell = _check_slicing(weight_bits, bits_per_cell, mapping, quantize,
                                                "n_slices")
    if not quantize:
        return 1
    return math.ceil(_stored_bits(weight_bits, mapping) / bits_per_cell)


def _slice_max(weight_bits: int, bits_per_cell: int, mapping: str) -> np.ndarray:
    """Largest code each slice can hold (the top slice may hold fewer bits)."""
    stored = _stored_bits(weight_bits, mapping)
    n = n_slices(weight_bits, bits_per_cell, mapping)
    top = stored - bits_per_cell * (n - 1)
    out = np.full(n, 2 ** bits_per_cell - 1, dtype=np.int64)
    out[-1] = 2 ** top - 1
    if mapping == "differential":
        out[-1] = min(out[-1], _n_mag(weight_bits) >> (bits_per_cell * (n - 1)))
    return out


def _ref_codes(weight_bits: int, bits_per_cell: int) -> np.ndarray:
    """Offset-mapping reference code of each slice: the slices of 2**(weight_bits-1)."""
    n = n_slices(weight_bits, bits_per_cell, "offset")
    off = 2 ** (weight_bits - 1)
    return np.array([(off >> (bits_per_cell * k)) & (2 ** bits_per_cell - 1) for k in range(n)],
                    dtype=np.int64)


def _slice_copies(weight_bits: int, bits_per_cell: int, stacking: str) -> np.ndarray:
    """Columns each slice occupies per side: 1, or ``2**(b·k)`` relative to the least
    significant slice for ``"parallel"`` stacking (integer multiples of its digital weight)."""
    k_n = n_slices(weight_bits, bits_per_cell, "differential")
    if stacking != "parallel":
        return np.ones(k_n, dtype=np.int64)
    smax = _slice_max(weight_bits, bits_per_cell, "differential").astype(np.float64)
    rel = 2.0 ** (bits_per_cell * np.arange(k_n)) * smax / smax[0]
    copies = np.rint(rel).astype(np.int64)
    if not np.allclose(copies, rel):
        fail("bits_per_cell", "map_weights", "a slicing whose slice weights are integer "
             "multiples of the least significant one (parallel stacking)", bits_per_cell)
    return copies


def outputs_per_tile(cols: int, weight_bits: int, bits_per_cell: int,
                     mapping: str = "differential", quantize: bool = True,
                     stacking: str = "digital") -> int:
    """How many weight columns (outputs) fit in ``cols`` physical columns [-]."""
    caller = "outputs_per_tile"
    cols = check_int("cols", cols, caller, lo=0)
    _check_slicing(weight_bits, bits_per_cell, mapping, quantize, caller)
    stacking = _check_stacking(stacking, mapping, quantize, caller)
    k = n_slices(weight_bits, bits_per_cell, mapping, quantize)
    if stacking == "parallel" and quantize:
        return cols // (2 * int(_slice_copies(weight_bits, bits_per_cell, stacking).sum()))
    if mapping == "differential":
        return cols // (2 * k)
    n_ref = len(set(_ref_codes(weight_bits, bits_per_cell).tolist())) if quantize else 1
    return max((cols - n_ref) // k, 0)


def quantize_weights(w, weight_bits: int, w_max: float | None = None):
    r"""Symmetric uniform quantisation of signed weights.

    .. math:: q = \mathrm{clip}(\mathrm{round}(w / w_\mathrm{lsb}), -n, n), \quad
              w_\mathrm{lsb} = w_\mathrm{max} / n, \quad n = 2^{b-1} - 1

    Parameters
    ----------
    w : array_like
        Weights [-].
    weight_bits : int
        Signed resolution ``b`` [bit] (1 bit gives ternary levels {-1, 0, 1}).
    w_max : float, optional
        Weight mapped to the largest code; default ``max|w|`` [-].

    Returns
    -------
    q : ndarray of int64
        Integer codes in ``[-n, n]``.
    w_lsb : float
        Weight of one code step [-] (``w ≈ q · w_lsb``); 0.0 for an all-zero ``w`` (every
        code is 0 and the digital scale of the columns is 0: an all-zero matrix, e.g. a pruned
        layer, outputs exactly 0, never its cells' noise scaled by an arbitrary weight).
    """
    caller = "quantize_weights"
    w = check_array("w", w, caller)
    bits = check_int("weight_bits", weight_bits, caller, lo=1, hi=32)
    n = _n_mag(bits)
    if w_max is None:
        w_max = float(np.max(np.abs(w))) if w.size else 0.0
    else:
        w_max = check_scalar("w_max", w_max, caller, lo=0.0)
    if w_max == 0.0:
        return np.zeros(w.shape, dtype=np.int64), 0.0
    w_lsb = w_max / n
    q = np.clip(np.rint(w / w_lsb), -n, n).astype(np.int64)
    return q, w_lsb


def slice_codes(codes, bits_per_cell: int, count: int) -> np.ndarray:
    """Split non-negative integer ``codes`` into ``count`` digits of ``bits_per_cell`` bits.

    Returns an int64 array of shape ``(count,) + codes.shape``, least significant digit first,
    with ``codes == Σ_k 2**(bits_per_cell·k) · out[k]``.
    """
    caller = "slice_codes"
    try:
        codes = np.asarray(codes)
    except (TypeError, ValueError, OverflowError):      # ragged nesting, huge integers
        fail("codes", caller, "an integer array", codes)
    if codes.dtype.kind not in "iu":
        fail("codes", caller, "an integer array", f"array of dtype {codes.dtype}")
    if np.any(codes < 0):
        fail("codes", caller, ">= 0", f"array with {codes.min()!r}")
    b = check_int("bits_per_cell", bits_per_cell, caller, lo=1, hi=32)
    count = check_int("count", count, caller, lo=1)
    mask = (1 << b) - 1
    c = codes.astype(np.int64)
    return np.stack([(c >> (b * k)) & mask for k in range(count)])


@dataclasses.dataclass(frozen=True)
class WeightMapping:
    """Target conductances of one crossbar and how its columns recombine into outputs.

    Only the weight codes ``q`` are stored (as a chip stores its weights); the code of every
    cell (:attr:`cell_codes`, its slice code or the reference code) and the target
    conductances (:attr:`g_target_s`) are formed from them on each use.

    Attributes
    ----------
    pos_col, neg_col : ndarray of int64, shape (n_signal,)
        Physical column of the positive side and of the subtracted side (the pair's ``G−``
        column, or the reference column) of each signal column.
    out_index : ndarray of int64, shape (n_signal,)
        Weight column (output) each signal column contributes to.
    slice_index : ndarray of int64, shape (n_signal,)
        Slice (digit) index ``k`` of each signal column.
    digital_weight : ndarray of float64, shape (n_signal,)
        Factor turning the signal current per unit row voltage into weight units:
        ``2**(b·k) · w_lsb / step_k`` [1/S].
    ref_cols : ndarray of int64
        Physical reference columns (offset mapping; empty for differential).
    w_lsb : float
        Weight of one quantisation step [-].
    g_min_s, g_max_s : float
        Conductance range of the mapping [S].
    mapping : str
        ``"differential"`` or ``"offset"``.
    n_slices : int
        Slices per weight [-].
    q : ndarray of int (int8 to int32 by ``weight_bits``; float64 if unquantised)
        Quantised weight codes, shape (rows, outputs) (the ideal product is
        ``x @ q · w_lsb``).
    weight_bits, bits_per_cell : int
        Resolution of ``q`` and bits per cell [bit] (unused if unquantised).
    quantized : bool
        Whether ``q`` holds integer codes (False: ``w / w_max``, ``quantize=False``).
    stacking : str
        One of :data:`STACKINGS`.
    merge : ndarray (n_cell_signal, n_signal) or None
        Current stacking: weight of each cell-level signal column (a slice of an output, or
        one of its parallel copies) in the merged signal column it joins (the copy ratio
        ``r_k``); None without stacking.
    cell_pos_col, cell_neg_col : ndarray of int64 or None
        Current stacking: the physical ``G+`` and ``G−`` columns of every cell-level signal
        column; ``pos_col``/``neg_col`` then name each output's most significant pair (where
        its read-out sits).
    col_source : ndarray of int64 or None
        Parallel stacking: the column of the sliced mapping each physical column repeats.
    """

    pos_col: np.ndarray
    neg_col: np.ndarray
    out_index: np.ndarray
    slice_index: np.ndarray
    digital_weight: np.ndarray
    ref_cols: np.ndarray
    w_lsb: float
    g_min_s: float
    g_max_s: float
    mapping: str
    n_slices: int
    q: np.ndarray
    weight_bits: int = 8
    bits_per_cell: int = 8
    quantized: bool = True
    stacking: str = "digital"
    merge: np.ndarray | None = None
    cell_pos_col: np.ndarray | None = None
    cell_neg_col: np.ndarray | None = None
    col_source: np.ndarray | None = None

    @property
    def cells_pos(self) -> np.ndarray:
        """Physical ``G+`` (or data) column of every cell-level signal column."""
        return self.pos_col if self.cell_pos_col is None else self.cell_pos_col

    @property
    def cells_neg(self) -> np.ndarray:
        """Physical subtracted column of every cell-level signal column."""
        return self.neg_col if self.cell_neg_col is None else self.cell_neg_col

    @property
    def cols_per_signal(self) -> int:
        """Physical columns that feed one converted signal column [-]."""
        if self.merge is not None:
            return 2 * (self.cells_pos.size // max(self.n_signal, 1))
        return 2 if self.mapping == "differential" else 1

    def signal_columns(self, x: np.ndarray, merge: np.ndarray | None = None) -> np.ndarray:
        """Signal columns of per-physical-column values ``x`` (..., n_phys):
        ``x[..., pos] − x[..., neg]``, summed with the stacking weights (``merge``, default
        the mapping's) into one column per output when stacked."""
        x, m = self._columns_args(x, merge, "WeightMapping.signal_columns")
        sig = x[..., _as_slice(self.cells_pos)] - x[..., _as_slice(self.cells_neg)]
        return sig if m is None else sig @ m

    def own_columns(self, x: np.ndarray, merge: np.ndarray | None = None) -> np.ndarray:
        """Variance-like sum of per-physical-column values ``x`` over each signal column's own
        columns (``G+`` and ``G−`` of a pair, or the data column), weighted by the squared
        stacking weights when stacked (independent noises add in quadrature)."""
        x, m = self._columns_args(x, merge, "WeightMapping.own_columns")
        if self.mapping == "differential":
            own = x[..., _as_slice(self.cells_pos)] + x[..., _as_slice(self.cells_neg)]
        else:
            own = x[..., self.cells_pos]
        return own if m is None else own @ (m * m)

    def _columns_args(self, x, merge, caller: str):
        """``x`` (..., n_phys) and the stacking weights, checked."""
        x = check_array("x", x, caller, finite=False)
        if x.ndim < 1 or x.shape[-1] != self.n_phys:
            fail("x", caller, f"an array whose last axis has n_phys = {self.n_phys} entries",
                 f"array of shape {x.shape}")
        m = self.merge if merge is None else check_array("merge", merge, caller, ndim=2)
        if m is not None and m.shape != (self.cells_pos.size, self.n_signal):
            fail("merge", caller, f"of shape {(self.cells_pos.size, self.n_signal)}",
                 f"array of shape {m.shape}")
        return x, m

    @property
    def n_signal(self) -> int:
        """Signal (converted) columns [-]."""
        return int(self.pos_col.size)

    @property
    def n_phys(self) -> int:
        """Physical columns used, including reference columns [-]."""
        if self.cell_pos_col is not None:          # stacked: every cell-level pair
            return int(self.cell_pos_col.size + self.cell_neg_col.size)
        return int(self.pos_col.size + (self.neg_col.size if self.mapping == "differential"
                                        else self.ref_cols.size))

    @property
    def cell_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, step)``: the code of every used cell (rows, n_phys) (uint8 or uint16;
        float64 if unquantised) [-] and the conductance per code step of each physical
        column (n_phys,) [S]."""
        if not self.quantized:
            return _unquantized_codes(self.q, self.mapping, self.g_max_s - self.g_min_s)
        codes, step = _cell_codes(self.q, self.mapping, self.weight_bits, self.bits_per_cell,
                                  self.g_min_s, self.g_max_s)
        if self.col_source is not None:              # parallel stacking: repeated columns
            return codes[:, self.col_source], step[self.col_source]
        return codes, step

    @property
    def g_target_s(self) -> np.ndarray:
        """Target conductance of every used cell, ``G_min + code · step`` [S] (rows, n_phys)
        (formed on each use)."""
        codes, step = self.cell_codes
        return self.g_min_s + codes.astype(np.float64) * step[None, :]


def _as_slice(idx: np.ndarray) -> slice | np.ndarray:
    """``idx`` (1-D, int) as a slice when its entries step evenly upwards (a pair's ``G+``
    columns 0, 2, 4 …): indexing with it gives a view instead of a gathered copy, the same
    numbers (a 512 x 1024 tile's signal and own columns: 2 MB gathers fewer per call)."""
    if idx.size < 2:
        return idx
    step = int(idx[1] - idx[0])
    if step <= 0 or not np.array_equal(np.diff(idx), np.full(idx.size - 1, step)):
        return idx
    return slice(int(idx[0]), int(idx[-1]) + 1, step)


def _small_uint(codes: np.ndarray, top: int) -> np.ndarray:
    """Non-negative integer codes up to ``top`` in the smallest unsigned dtype."""
    return codes.astype(np.uint8 if top <= 0xFF else np.uint16 if top <= 0xFFFF else np.uint32)


def _small_int(q: np.ndarray, top: int) -> np.ndarray:
    """Signed integer codes within ``±top`` in the smallest signed dtype."""
    return q.astype(np.int8 if top <= 0x7F else np.int16 if top <= 0x7FFF else np.int32)


def map_weights(w, g_min_s: float, g_max_s: float, *, weight_bits: int = 8,
                bits_per_cell: int = 8, mapping: str = "differential",
                w_max: float | None = None, quantize: bool = True,
                stacking: str = "digital") -> WeightMapping:
    r"""Map a signed weight block onto crossbar conductances.

    .. math:: G = G_\mathrm{min} + s_k \, \frac{G_\mathrm{max} - G_\mathrm{min}}{s_{k,\max}}

    Parameters
    ----------
    w : array_like, shape (rows, outputs)
        Weights [-].
    g_min_s, g_max_s : float
        Lowest and highest programmable conductance [S], ``0 <= g_min_s < g_max_s``.
    weight_bits : int
        Signed weight resolution [bit].
    bits_per_cell : int
        Bits stored per cell [bit]; fewer than the stored code's bits bit-slices it.
    mapping : {"differential", "offset"}
        Sign encoding (see the module docstring).
    w_max : float, optional
        Weight mapped to the largest code (default ``max|w|``) [-].
    quantize : bool
        False maps the weights without quantisation (ideal-mode checks): ``q = w / w_max``
        clipped to [-1, 1] (float), ``w_lsb = w_max``, one slice; differential
        ``G± = G_min + max(±q, 0)·(G_max − G_min)``, offset ``G = G_min + (q + 1)·(G_max −
        G_min)/2`` against a reference column at mid-range. ``weight_bits`` and
        ``bits_per_cell`` are then ignored.
    stacking : {"digital", "mirror", "parallel"}
        How an output's slices reach its read-out (:data:`STACKINGS`, module docstring);
        current stacking needs the differential mapping and quantised weights.

    Returns
    -------
    WeightMapping

    References
    ----------
    .. [1] A. Shafiee et al., ISCA 2016, doi:10.1145/3007787.3001139.
    """
    caller = "map_weights"
    w = check_array("w", w, caller, ndim=2)
    g_min = check_scalar("g_min_s", g_min_s, caller, lo=0.0)
    g_max = check_scalar("g_max_s", g_max_s, caller, lo=0.0)
    if not g_max > g_min:
        fail("g_max_s", caller, f"> g_min_s ({g_min!r})", g_max_s)
    mapping = check_choice("mapping", mapping, caller, _MAPPINGS)
    wb = check_int("weight_bits", weight_bits, caller, lo=1, hi=32)
    bpc = check_int("bits_per_cell", bits_per_cell, caller, lo=1, hi=32)
    stacking = _check_stacking(stacking, mapping, quantize, caller)
    if not quantize:
        return _map_unquantized(w, g_min, g_max, mapping, w_max)
    q, w_lsb = quantize_weights(w, wb, w_max)
    rows, outs = q.shape
    k_n = n_slices(wb, bpc, mapping)
    smax = _slice_max(wb, bpc, mapping)
    step = (g_max - g_min) / smax.astype(np.float64)           # [S] per slice code
    signif = 2.0 ** (bpc * np.arange(k_n))
    n_sig = outs * k_n
    out_index = np.repeat(np.arange(outs, dtype=np.int64), k_n)
    slice_index = np.tile(np.arange(k_n, dtype=np.int64), outs)
    digital_weight = signif[slice_index] * w_lsb / step[slice_index]
    if mapping == "differential":
        pos_col = 2 * np.arange(n_sig, dtype=np.int64)
        neg_col = pos_col + 1
        ref_cols = np.zeros(0, dtype=np.int64)
    else:
        refc = _ref_codes(wb, bpc)
        distinct = sorted(set(refc.tolist()))
        ref_cols = n_sig + np.arange(len(distinct), dtype=np.int64)
        ref_of_slice = np.array([ref_cols[distinct.index(int(c))] for c in refc], dtype=np.int64)
        pos_col = np.arange(n_sig, dtype=np.int64)
        neg_col = ref_of_slice[slice_index]
    sliced = WeightMapping(
        pos_col=pos_col, neg_col=neg_col, out_index=out_index,
        slice_index=slice_index, digital_weight=digital_weight, ref_cols=ref_cols,
        w_lsb=float(w_lsb), g_min_s=g_min, g_max_s=g_max, mapping=mapping, n_slices=k_n,
        q=_small_int(q, _n_mag(wb)), weight_bits=wb, bits_per_cell=bpc,
    )
    if stacking == "digital":
        return sliced
    return _stack(sliced, stacking)


def _stack(m: WeightMapping, stacking: str) -> WeightMapping:
    r"""Merge the slices of every output of the sliced differential mapping ``m``.

    ``"mirror"``: the physical columns stay; cell-level signal column j (slice k of output o)
    joins output o with the ratio :math:`r_k = d_k / d_{K-1}` of its digital weight to the
    most significant slice's, and the output's digital weight is :math:`d_{K-1}`.
    ``"parallel"``: slice k's pair is repeated :math:`d_k/d_0` times (integer), every copy
    joins with weight 1, and the output's digital weight is :math:`d_0`.
    """
    k_n = m.n_slices
    outs = m.q.shape[1]
    d = m.digital_weight[:k_n]                       # the same pattern for every output
    source = None
    if stacking == "mirror":
        cell_pos, cell_neg = m.pos_col, m.neg_col
        weights = np.tile(d / d[-1], outs)
        out_of = m.out_index
        top = np.arange(outs) * k_n + (k_n - 1)
        pos_col, neg_col = cell_pos[top], cell_neg[top]
        dw = np.full(outs, d[-1])
    else:
        copies = _slice_copies(m.weight_bits, m.bits_per_cell, stacking)
        src, out_of = [], []
        for o in range(outs):
            for k in range(k_n):
                j = o * k_n + k
                for _ in range(int(copies[k])):
                    src += [m.pos_col[j], m.neg_col[j]]
                    out_of.append(o)
        source = np.asarray(src, dtype=np.int64)
        out_of = np.asarray(out_of, dtype=np.int64)
        cell_pos = 2 * np.arange(out_of.size, dtype=np.int64)
        cell_neg = cell_pos + 1
        weights = np.ones(cell_pos.size)
        last = np.r_[np.flatnonzero(np.diff(out_of)), out_of.size - 1]
        pos_col, neg_col = cell_pos[last], cell_neg[last]
        dw = np.full(outs, d[0])
    merge = np.zeros((cell_pos.size, outs))
    merge[np.arange(cell_pos.size), out_of] = weights
    return dataclasses.replace(
        m, pos_col=pos_col, neg_col=neg_col, out_index=np.arange(outs, dtype=np.int64),
        slice_index=np.zeros(outs, dtype=np.int64), digital_weight=dw, stacking=stacking,
        merge=merge, cell_pos_col=np.asarray(cell_pos, dtype=np.int64),
        cell_neg_col=np.asarray(cell_neg, dtype=np.int64), col_source=source)


def _cell_codes(q: np.ndarray, mapping: str, wb: int, bpc: int, g_min: float,
                g_max: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell codes and column steps of quantised weight codes (:attr:`WeightMapping.cell_codes`)."""
    rows, outs = q.shape
    k_n = n_slices(wb, bpc, mapping)
    smax = _slice_max(wb, bpc, mapping)
    step = (g_max - g_min) / smax.astype(np.float64)           # [S] per slice code
    n_sig = outs * k_n
    top = int(smax.max()) if mapping == "differential" else 2 ** bpc - 1
    dtype = _small_uint(np.zeros(0), top).dtype
    q = q.astype(np.int64)
    if mapping == "differential":
        mag = slice_codes(np.abs(q), bpc, k_n)                # (k, rows, outs)
        codes = np.zeros((rows, 2 * n_sig), dtype=dtype)
        col_step = np.empty(2 * n_sig)
        for k in range(k_n):
            codes[:, 2 * k::2 * k_n] = np.where(q > 0, mag[k], 0)
            codes[:, 2 * k + 1::2 * k_n] = np.where(q < 0, mag[k], 0)
            col_step[2 * k::2 * k_n] = step[k]
            col_step[2 * k + 1::2 * k_n] = step[k]
        return codes, col_step
    refc = _ref_codes(wb, bpc)
    u = slice_codes(q + 2 ** (wb - 1), bpc, k_n)            # (k, rows, outs)
    distinct = sorted(set(refc.tolist()))
    codes = np.zeros((rows, n_sig + len(distinct)), dtype=dtype)
    col_step = np.empty(n_sig + len(distinct))
    for k in range(k_n):
        codes[:, k:n_sig:k_n] = u[k]
        col_step[k:n_sig:k_n] = step[k]
    # Only the top slice of the offset 2**(bits-1) is non-zero, so a reference code is
    # never shared by slices of different conductance step (code 0 is G_min for all).
    for r, code in enumerate(distinct):
        k_top = max(k for k in range(k_n) if refc[k] == code)
        codes[:, n_sig + r] = code
        col_step[n_sig + r] = step[k_top]
    return codes, col_step


def _unquantized_codes(q: np.ndarray, mapping: str, dg: float) -> tuple[np.ndarray, np.ndarray]:
    """Cell codes (float) and column steps of unquantised weights (``q = w / w_max``)."""
    rows, outs = q.shape
    if mapping == "differential":
        codes = np.empty((rows, 2 * outs))
        codes[:, 0::2] = np.maximum(q, 0.0)
        codes[:, 1::2] = np.maximum(-q, 0.0)
        return codes, np.full(2 * outs, dg)
    codes = np.empty((rows, outs + 1))
    codes[:, :outs] = q + 1.0
    codes[:, outs] = 1.0
    return codes, np.full(outs + 1, dg / 2.0)


def _map_unquantized(w: np.ndarray, g_min: float, g_max: float, mapping: str,
                     w_max: float | None) -> WeightMapping:
    """Linear mapping of unquantised weights (see ``quantize`` of :func:`map_weights`)."""
    if w_max is None:
        w_max = float(np.max(np.abs(w))) if w.size else 0.0
    else:
        w_max = check_scalar("w_max", w_max, "map_weights", lo=0.0)
    w_lsb = w_max  # 0.0 for all-zero weights: q = 0 and a zero digital scale (exact 0 out)
    q = np.clip(w / w_lsb, -1.0, 1.0) if w_lsb > 0.0 else np.zeros_like(w)
    outs = q.shape[1]
    out_index = np.arange(outs, dtype=np.int64)
    slice_index = np.zeros(outs, dtype=np.int64)
    dg = g_max - g_min
    if mapping == "differential":
        pos_col = 2 * np.arange(outs, dtype=np.int64)
        neg_col = pos_col + 1
        ref_cols = np.zeros(0, dtype=np.int64)
        step = dg
    else:
        step = dg / 2.0
        pos_col = np.arange(outs, dtype=np.int64)
        ref_cols = np.array([outs], dtype=np.int64)
        neg_col = np.full(outs, outs, dtype=np.int64)
    return WeightMapping(
        pos_col=pos_col, neg_col=neg_col, out_index=out_index, slice_index=slice_index,
        digital_weight=np.full(outs, w_lsb / step), ref_cols=ref_cols, w_lsb=float(w_lsb),
        g_min_s=g_min, g_max_s=g_max, mapping=mapping, n_slices=1, q=q, quantized=False,
    )
