r"""Array read of a tile: the cell law times the wires (stage 2 of the tile pipeline).

encode (:mod:`cimsim.tile.encode`) → **array read** (this module) → noise, front end, ADC,
shift-add (:mod:`cimsim.tile.readout`). One cycle's row drive becomes the signal currents of
the converted columns and their read-noise variances,

.. math::

    I_j = \sum_i \bigl[F(g_{i p_j}, V_{i p_j}) - F(g_{i n_j}, V_{i n_j})\bigr], \qquad
    \mathrm{Var}[I_j] = \sum_i \Bigl[\Bigl(\frac{\partial F}{\partial g}\Bigr)^2
        \sigma^2\Bigr]_{i p_j} + \Bigl[\ldots\Bigr]_{i n_j}

[A, A²], with :math:`F(g, V)` the cell law of ``TileConfig.cell`` and :math:`V` the voltage
across the cell. The laws are those of :mod:`device_models` (this module calls them, it
never restates them):

* ``"linear"``: :math:`F = gV`;
* ``"sinh"``: :math:`F = g\,v_0\sinh(V/v_0)`, :class:`device_models.SinhIV` with the card's
  ``v0_v``;
* ``"1t1r"``: the sinh RRAM in series with the access NMOS of the card's ``mosfet_card``
  (EKV in every inversion region at ``hw.temperature_k``, gate at ``tile.v_gate_v``), solved
  per cell by :class:`device_models.OneTOneRIV`;
* ``"auto"``: ``"1t1r"`` for a 1t1r card, ``"sinh"`` for rram and pcm cards.

**Read noise through the law.** The card's read noise is a conductance fluctuation
:math:`\sigma_g` (:func:`device_models.memory.read_sigma_s`); it reaches the current as
:math:`\sigma_I = |\partial F/\partial g|\,\sigma_g` (``current_and_g_derivative`` of the
law): exactly :math:`V\sigma_g` and :math:`v_0\sinh(V/v_0)\sigma_g` for the linear and sinh
laws, to first order in :math:`\sigma_g/g` for 1T1R, where the transistor's share of the
series pair attenuates it. Independent cells add variances (the identity of
:mod:`cimsim.tile.state`). Beside it every cell carries white noise
(:mod:`cimsim.tile.variance`): thermal noise :math:`4k_BT\,G_0\Delta f` on the cell's zero-bias
conductance :math:`G_0 = \mathrm{d}F/\mathrm{d}V(0)` (one constant per column) and shot noise
on the read current per volt at the full read voltage, :math:`|F(g, V_{read})|/V_{read}`
(exact at a pulse, and for linear cells; a transistor-limited 1T1R cell carries, and so
shot-noises, far less than :math:`gV`).

**Temperature.** The read law takes ``hw.temperature_k`` (U_T, V_T, mobility of the access
transistor); the conductances themselves scale by
:func:`device_models.iv.conductance_temperature_factor` from the programming temperature
``hw.program_temperature_k`` to the read temperature (the card's ``g_tc_per_k``).

**Programming for the law** (:mod:`cimsim.tile.laws`). Write-verify verifies the cell's read
current at the tile's full read voltage ``V_read`` under the verify conditions (gate
``tile.v_gate_verify_v``, default the read gate; the programming temperature):
:func:`cimsim.tile.laws.program_targets` programs each cell to :math:`g^\ast` with
:math:`F_\mathrm{verify}(g^\ast, V_\mathrm{read}) = g_t V_\mathrm{read}` for the mapped
target :math:`g_t` (:func:`device_models.iv.conductance_for_current`), so a chip read as
verified computes ``x @ W`` exactly at full-scale drive and in the small-signal limit
:math:`V_\mathrm{read} \ll v_0`.

How the sums are formed (``TileConfig.array_solver = "fast"``, the default):

* **Linear cells**: one GEMM for the mean and one for the variance, ``v @ (G+ − G−)`` and
  ``v² @ σ²`` (integer and bfloat16 kernels of :mod:`cimsim.kernels`); with wires,
  ``G_eff`` (exact for linear cells).
* **Pulses** (``bit_serial``, ``pulse_width``): a driven row carries the one pulse amplitude
  :math:`\pm V_\mathrm{read}` (for a time :math:`|c|/c_{max}\,t_\mathrm{read}` with pulse
  widths), so the charge is exactly ``v⁺ @ S⁺ + v⁻ @ S⁻`` with :math:`S^\pm =
  F(G, \pm V_\mathrm{read})/(\pm V_\mathrm{read})` evaluated once per programmed state and
  ``v`` the signal-equivalent drive: the GEMMs (and kernels) of linear cells. An odd law
  (sinh), or unsigned inputs, needs one of the two terms. Both terms (signed drives on a
  law that is not odd, 1T1R: the transistor's source changes sides with the polarity, so
  :math:`S^+ \ne S^-`) are one product of twice the depth, whose integer split has two
  digits instead of three (:data:`POLARITY_DIGITS`): each :math:`S^\pm` within
  :data:`POLARITY_SPLIT_RTOL` (1.55e-5) of :math:`\max|S|`, a column sum within that
  times :math:`\max|S|\sum_i|v_i|`, far below an ADC step and the programming spread.
* **Amplitude inputs**: the rows sit on the DAC levels :math:`L_k`. Separable laws
  (:math:`F = g\,h(V)`, sinh) are exactly one GEMM on :math:`h(L)`. Other laws (1T1R) are
  expanded, :math:`F(g, L_k) \approx \sum_{r<R} a_r(g)\,b_r(L_k)`
  (:func:`cimsim.array.expansion.expand`): the table of :math:`F` on Chebyshev nodes in
  :math:`g` (over the programmed range) and on every level is factorised by an SVD;
  :math:`b_r` is exact on the levels and :math:`a_r(g)` is the barycentric Chebyshev
  interpolant of the left factor, evaluated once per cell. Then the mean is ``R`` GEMMs,
  one concatenated product ``[b_0(v) … b_{R-1}(v)] @ [A_0; …]``. ``R`` is the smallest
  rank whose error, measured on the nodes and on a check grid interleaved with them (the
  nodes are doubled until the check grid passes), is at most :data:`TABLE_RTOL` of the
  largest cell current: every cell current is then within
  ``bound_a`` (:attr:`ArrayRead.bound_a`) of the law, and a column sum of ``n`` rows within
  ``n·bound_a``. The variance uses the same expansion of :math:`(\partial F/\partial g)^2`
  at :data:`VARIANCE_RTOL`.
* **Wires with nonlinear cells**: the line relaxation of :mod:`cimsim.array._lines`
  (:meth:`cimsim.array.crossbar.Crossbar.column_currents` with ``method="lines"``, to an
  estimated error of every column current of :data:`LINES_RTOL` of the column's current
  magnitude with ideal wires) for the mean, on each read (time-coded inputs: one solve per
  distinct switching time); the noise variance and the energy as without wires.

``array_solver = "exact"`` is the reference: the law of every cell at every read (no table),
and with wires the converged Newton solve of :func:`cimsim.array.crossbar.column_currents`
(pulse widths: the rows switch off one group at a time, each interval solved). Both give the
output of :func:`cimsim.array.crossbar.column_currents` with ``cell=`` the tile's law on the
tile's conductances, recombined digitally.

**Energy.** The cells' read energy is :math:`\sum V_{row} I_{cell} t` from the same law at the
row voltage (wire drops neglected, as for linear cells): per row, the row current
:math:`\sum_j F(g_{ij}, V)` at each level from the expansion (amplitude) or exactly at
:math:`\pm V_\mathrm{read}` (pulses), times the pulse time.

References
----------
.. [1] P.-Y. Chen and S. Yu, "Compact modeling of RRAM devices and its applications in 1T1R
   and 1S1R array design", IEEE Trans. Electron Devices 62(12), 4022-4028 (2015).
   doi:10.1109/TED.2015.2492421
.. [2] L. N. Trefethen, *Approximation Theory and Approximation Practice*, SIAM (2013),
   ch. 5 (barycentric Chebyshev interpolation). doi:10.1137/1.9781611975949
.. [3] A. Chen, "A comprehensive crossbar array model with solutions for line resistance and
   nonlinear device characteristics", IEEE Trans. Electron Devices 60(4), 1318-1326 (2013).
   doi:10.1109/TED.2013.2246791
"""

from __future__ import annotations

import numpy as np

from device_models._checks import fail
from device_models._jit import backend, jit

from ..array.expansion import G_NODES, chebyshev_nodes, expand
from ..kernels import bf16_gemm, int8_gemm, lut_gemm
from ..kernels.bf16_gemm import _bf16_high
from ..kernels.parallel import for_row_slices, workspace
from . import variance as _variance
from .encode import _code_of_x

__all__ = [
    "LINES_RTOL",
    "POLARITY_DIGITS",
    "POLARITY_SPLIT_RTOL",
    "TABLE_RTOL",
    "VARIANCE_RTOL",
    "ArrayRead",
    "array_read",
]

#: Largest error of the amplitude-input expansion of the cell current, relative to the
#: largest cell current on the table [-].
TABLE_RTOL = 1e-5
#: Largest error of the expansion of (∂F/∂g)² (read-noise variance), relative to its
#: largest value [-].
VARIANCE_RTOL = 1e-3
#: Digits of the integer split (:func:`cimsim.kernels.int8_gemm.split`) of the pulse plan's
#: two-polarity signal matrix ``[S₊; S₋]`` (a law that is not odd, signed drives): two of
#: base 254, so that each cell's ``S±`` is represented within
#: :data:`POLARITY_SPLIT_RTOL` of ``max|S|`` and the doubled depth costs 4/3 of the integer
#: work of one polarity's three digits, not twice it [-].
POLARITY_DIGITS = 2
#: Largest error of one entry of the pulse plan's two-polarity signal matrix on the integer
#: path, relative to the largest entry: half a unit of the second base-254 digit,
#: ``1/(2·127·254)`` [-].
POLARITY_SPLIT_RTOL = 1.0 / (2 * 127 * 254)
#: Fits tried per rank for the pulse plan's read-noise variance (:meth:`ArrayRead.
#: _pulse_variance`), each reweighting the cells by their errors (Lawson's iteration towards
#: the smallest largest error) [-].
VARIANCE_FIT_STEPS = 12
#: Tolerance of the line relaxation of wires with nonlinear cells: estimated error of every
#: column current relative to the column's current magnitude with ideal wires,
#: ``Σ_i |F(g_ij, v_i)|`` [-] (:mod:`cimsim.array._lines`); a sixteenth of the step of an
#: 8-bit ADC whose range is that magnitude (±), about a fifth of its rms quantisation error.
LINES_RTOL = 5e-4
#: Largest number of input codes for which the cells' read energy is summed through a per-row
#: histogram of the codes (exact integers; wider inputs gather per vector) [-].
ENERGY_TABLE_CODES = 4097
#: Points of the uniform code grid on which unquantised inputs (``tile.quantize = False``)
#: interpolate the expansion linearly [-].
UNQUANTIZED_GRID = 4097


# --------------------------------------------------------------------------------------------
# Kernels: codes → basis values, sign split
# --------------------------------------------------------------------------------------------


def _lookup_int_py(codes, lo, tab, out):
    """``out[b, r·n + i] = tab[r, codes[b, i] − lo]`` (quantised codes)."""
    n_b, n_r = codes.shape
    for b in range(n_b):
        for r in range(tab.shape[0]):
            base = r * n_r
            for i in range(n_r):
                out[b, base + i] = tab[r, codes[b, i] - lo]


def _lookup_float_py(codes, lo, inv_h, tab, out):
    """Linear interpolation of ``tab`` on a uniform code grid starting at ``lo``."""
    n_b, n_r = codes.shape
    k_max = tab.shape[1] - 2
    for b in range(n_b):
        for r in range(tab.shape[0]):
            base = r * n_r
            for i in range(n_r):
                pos = (codes[b, i] - lo) * inv_h
                k = int(np.floor(pos))
                k = 0 if k < 0 else (k_max if k > k_max else k)
                w = pos - k
                out[b, base + i] = tab[r, k] * (1.0 - w) + tab[r, k + 1] * w


@jit(inline="always")
def _add_on_time(c, bits, i, total, pos):
    """Add the on-time units of code ``c`` on row ``i`` (``|c|``, or with ``bits`` its set
    bits) to ``total[i]``, and to ``pos[i]`` when ``c > 0``."""
    a = c if c > 0 else -c
    if bits:
        k = 0
        while a:
            k += a & 1
            a >>= 1
        a = k
    total[i] += a
    pos[i] += a if c > 0 else 0


def _pulse_on_time_x_py(x, codes_per_x, lo, hi, bits, total, pos):
    """:func:`_pulse_on_time_py` of the input codes of ``x`` (those of
    :meth:`~cimsim.tile.encode.InputEncoder.codes`), formed in passing."""
    n_b, n_r = x.shape
    for b in range(n_b):
        for i in range(n_r):
            _add_on_time(np.int64(_code_of_x(x[b, i], codes_per_x, lo, hi)), bits, i,
                         total, pos)


def _split_signs_py(v, pm):
    """``pm = [max(v, 0) | min(v, 0)]``."""
    n_b, n_r = v.shape
    zero = v.dtype.type(0.0)
    for b in range(n_b):
        for i in range(n_r):
            x = v[b, i]
            p = x if x > zero else zero
            pm[b, i] = p
            pm[b, n_r + i] = x - p


def _histogram_py(codes, lo, counts):
    """``counts[i, c − lo] += 1`` for every code ``c`` of row ``i`` (int64, exact)."""
    n_b, n_r = codes.shape
    for b in range(n_b):
        for i in range(n_r):
            counts[i, codes[b, i] - lo] += 1


def _pulse_operands_py(v, w, phi):
    """``phi[b, r·n + i] = Σ_k w[k, r]·u_k(v[b, i])`` with the drive functions
    ``u = (max(v, 0)², min(v, 0)², |v|, max(v, 0), −min(v, 0))`` (float64 weights, the
    operand in ``phi``'s dtype): the read-noise operand of the pulse plan."""
    n_b, n = v.shape
    for r in range(w.shape[1]):
        w0, w1, w2, w3, w4 = w[0, r], w[1, r], w[2, r], w[3, r], w[4, r]
        base = r * n
        for b in range(n_b):
            for i in range(n):
                x = np.float64(v[b, i])
                p = x if x > 0.0 else 0.0
                q = x - p
                phi[b, base + i] = w0 * p * p + w1 * q * q + w2 * (p - q) + w3 * p - w4 * q


def _pulse_operands_fill_py(v, w, scale, apk):
    """:func:`_pulse_operands_py` written straight into the packed operand of
    :func:`cimsim.kernels.bf16_gemm.matmul_filled`: ``apk[b // 8, k // 2, b % 8, k % 2]``
    = bfloat16 bits of ``phi[b, k]·scale`` (``phi`` rounded to ``v``'s dtype first, as the
    two-step path stores it), every entry written, the padding zero."""
    n_b, n = v.shape
    nib, kp = apk.shape[0], apk.shape[1]
    row = np.zeros(2 * kp, dtype=np.float32)
    bits = row.view(np.uint32)
    for b in range(nib * 8):
        ib, i8 = b // 8, b % 8
        if b < n_b:
            for r in range(w.shape[1]):
                w0, w1, w2, w3, w4 = w[0, r], w[1, r], w[2, r], w[3, r], w[4, r]
                base = r * n
                for i in range(n):
                    x = np.float64(v[b, i])
                    p = x if x > 0.0 else 0.0
                    q = x - p
                    phi = v.dtype.type(w0 * p * p + w1 * q * q + w2 * (p - q) + w3 * p
                                       - w4 * q)
                    row[base + i] = np.float32(phi * scale)
        else:
            row[:] = 0.0
        for k in range(2 * kp):
            apk[ib, k >> 1, i8, k & 1] = np.uint16(_bf16_high(bits[k]))


def _pulse_on_time_py(codes, bits, total, pos):
    """Per row: on-time units of the drives, ``Σ_b |c|`` (``bits``: the set bits of
    ``|c|``, the bit-planes a row is on) into ``total`` and those of positive codes into
    ``pos`` (int64, exact)."""
    n_b, n_r = codes.shape
    for b in range(n_b):
        for i in range(n_r):
            _add_on_time(codes[b, i], bits, i, total, pos)


_histogram_kernel = jit(_histogram_py)
_pulse_operands_kernel = jit(_pulse_operands_py)
_pulse_operands_fill_kernel = jit(_pulse_operands_fill_py)
_pulse_on_time_kernel = jit(_pulse_on_time_py)
_pulse_on_time_x_kernel = jit(_pulse_on_time_x_py)
_lookup_int_kernel = jit(_lookup_int_py)
_lookup_float_kernel = jit(_lookup_float_py)
_split_signs_kernel = jit(_split_signs_py)


def _lookup(codes: np.ndarray, grid, tab: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Basis values of ``codes`` into ``out`` (n_b, R·n_r); ``grid = (lo, inv_h)``
    (``inv_h = None``: integer codes, exact)."""
    lo, inv_h = grid
    if backend() == "numpy":
        if inv_h is None:
            vals = tab[:, codes - int(lo)]                     # (R, n_b, n_r)
        else:
            pos = (codes - lo) * inv_h
            k = np.clip(np.floor(pos).astype(np.int64), 0, tab.shape[1] - 2)
            w = pos - k
            vals = tab[:, k] * (1.0 - w) + tab[:, k + 1] * w
        out[...] = vals.transpose(1, 0, 2).reshape(out.shape)
        return out
    if inv_h is None:
        _lookup_int_kernel(codes, int(lo), tab, out)
    else:
        _lookup_float_kernel(codes, float(lo), float(inv_h), tab, out)
    return out


def _histogram(codes: np.ndarray, lo: int, n_codes: int) -> np.ndarray:
    """Per row, how often each code occurs: (rows, n_codes) int64."""
    n_r = codes.shape[1]
    if backend() == "numpy":
        flat = (np.arange(n_r)[None, :] * n_codes + (codes - lo)).ravel()
        return np.bincount(flat, minlength=n_r * n_codes).reshape(n_r, n_codes)
    counts = np.zeros((n_r, n_codes), dtype=np.int64)
    _histogram_kernel(np.ascontiguousarray(codes, dtype=np.int32), int(lo), counts)
    return counts


def _cone_basis(x: np.ndarray, rank: int,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A non-negative rank-``rank`` (1 or 2) factorisation ``x ≈ c @ q.T`` of a non-negative
    matrix (rows: cells, columns: terms), ``q`` (terms, rank) and ``c`` (rows, rank) both
    >= 0: rank 1 is the leading right singular vector of the rows weighted by ``weights``
    (default: all 1); rank 2 the two extreme rays of the rows projected on the leading
    singular plane (every projected row is a non-negative combination of them), each
    clipped at zero, and the rows' least-squares coordinates in that basis, clipped at
    zero. The caller measures the error of the result."""
    gram = (x if weights is None else x * weights[:, None]).T @ x     # Σ w_i x_i x_iᵀ
    vecs = np.linalg.eigh(gram)[1][:, ::-1]      # right singular vectors, largest first
    v1 = vecs[:, 0] * np.sign(np.sum(vecs[:, 0]))     # the Perron vector (non-negative x)
    if rank == 1:
        q = np.maximum(v1, 0.0)[:, None]
    else:
        v2 = vecs[:, 1]
        ang = np.arctan2(x @ v2, x @ v1)
        q = np.stack([np.cos(a) * v1 + np.sin(a) * v2 for a in (ang.min(), ang.max())], axis=1)
        q = np.maximum(q, 0.0)
    q = q / np.maximum(np.linalg.norm(q, axis=0), np.finfo(float).tiny)
    c = np.linalg.lstsq(q, x.T, rcond=None)[0].T
    return q, np.maximum(c, 0.0)


def _pulse_operands(v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The read-noise operand of the pulse plan (:func:`_pulse_operands_py`): a per-thread
    scratch array (batch, R·rows) of ``v``'s dtype."""
    n_b, n = v.shape
    phi = workspace("cells_phi", (n_b, w.shape[1] * n), v.dtype)
    if backend() == "numpy":
        x = v.astype(np.float64)
        p = np.maximum(x, 0.0)
        q = x - p
        u = (p * p, q * q, p - q, p, -q)
        for r in range(w.shape[1]):
            phi[:, r * n:(r + 1) * n] = sum(w[k, r] * u[k] for k in range(5))
        return phi
    _pulse_operands_kernel(v, np.ascontiguousarray(w, dtype=np.float64), phi)
    return phi


def _pulse_variance_gemm(v: np.ndarray, w: np.ndarray, mat, out: np.ndarray) -> np.ndarray:
    """``out = φ(v) @ mat`` with the pulse plan's read-noise operand ``φ``
    (:func:`_pulse_operands`): on the bfloat16 kernel ``φ`` is formed inside the operand's
    packing (:func:`_pulse_operands_fill_py`: one pass, no ``φ`` array), elsewhere in the
    two steps (the reference; bitwise the same)."""
    w64 = np.ascontiguousarray(w, dtype=np.float64)
    return bf16_gemm.matmul_filled(
        v.shape[0], lambda scale, apk: _pulse_operands_fill_kernel(v, w64, scale, apk),
        lambda: _pulse_operands(v, w), mat, out)


def _pulse_on_time_of_x(enc, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_pulse_on_time` of ``enc.codes(x)`` (quantised codes): the codes formed in the
    same pass, on the row-slice threads, without storing them (per-slice integer sums, so
    the same numbers for any thread count)."""
    bits = enc.encoding == "bit_serial"
    if backend() == "numpy":
        return _pulse_on_time(enc.codes(x), bits)
    x = np.asarray(x, dtype=np.float64)
    lo, hi = enc._lo_hi
    n_r = x.shape[1]
    parts = []

    def rows(b0, b1):
        t, p = np.zeros(n_r, dtype=np.int64), np.zeros(n_r, dtype=np.int64)
        _pulse_on_time_x_kernel(x[b0:b1], enc.codes_per_x, lo, hi, bool(bits), t, p)
        parts.append((t, p))

    for_row_slices(rows, x.shape[0])
    total = np.sum([t for t, _ in parts], axis=0, dtype=np.int64)
    pos = np.sum([p for _, p in parts], axis=0, dtype=np.int64)
    return total.astype(np.float64), pos.astype(np.float64)


def _pulse_on_time(codes: np.ndarray, bits: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row: total and positive on-time units (:func:`_pulse_on_time_py`), float64."""
    n_r = codes.shape[1]
    if backend() == "numpy":
        a = np.abs(np.asarray(codes, dtype=np.int64))
        if bits:
            a = np.bitwise_count(a)
        return (a.sum(axis=0).astype(np.float64),
                np.where(np.asarray(codes) > 0, a, 0).sum(axis=0).astype(np.float64))
    total = np.zeros(n_r, dtype=np.int64)
    pos = np.zeros(n_r, dtype=np.int64)
    _pulse_on_time_kernel(np.ascontiguousarray(codes, dtype=np.int32), bool(bits), total, pos)
    return total.astype(np.float64), pos.astype(np.float64)


def _split_signs(v: np.ndarray) -> np.ndarray:
    """``[max(v, 0) | min(v, 0)]``: a per-thread scratch array (batch, 2·rows)."""
    n_b, n_r = v.shape
    pm = workspace("cells_pm", (n_b, 2 * n_r), v.dtype)
    if backend() == "numpy":
        p = np.maximum(v, 0)
        pm[:, :n_r], pm[:, n_r:] = p, v - p
        return pm
    _split_signs_kernel(v, pm)
    return pm


# --------------------------------------------------------------------------------------------
# GEMMs of the array read
# --------------------------------------------------------------------------------------------


def signal_gemm(v: np.ndarray, mat, step_v: float | None, signed: bool,
                out: np.ndarray, *, split_signs: bool = False) -> np.ndarray:
    """``out = v @ S``: integer arithmetic for a split (float32-mode) matrix and row drives in
    integer steps ``step_v`` [V], else BLAS. ``split_signs``: the operand is
    ``[max(v, 0) | min(v, 0)]`` (the pulse plan's two polarities), which the integer path
    packs straight from ``v``."""
    if isinstance(mat, int8_gemm.SplitMatrix):
        if step_v is not None:
            return int8_gemm.matmul(v, step_v, signed, mat, out, split_signs=split_signs)
        mat = mat.rounded
    return np.matmul(_split_signs(v) if split_signs else v, mat, out=out)


def variance_gemm(v2: np.ndarray, mat, out: np.ndarray) -> np.ndarray:
    """``out = v² @ Σ²``: the bfloat16 kernel for a packed (float32-mode) matrix, else BLAS."""
    if isinstance(mat, bf16_gemm.PackedMatrix):
        return bf16_gemm.matmul(v2, mat, out)
    return np.matmul(v2, mat, out=out)


# --------------------------------------------------------------------------------------------
# The array read of one row block
# --------------------------------------------------------------------------------------------


def array_read(block, t_s: float, enc, dtype, *, cache: bool = True,
               noise: bool = True) -> ArrayRead:
    """The array-read stage of a :class:`~cimsim.tile.state.RowBlock` at read time ``t_s`` for
    the calibrated input encoder ``enc`` in ``dtype`` (cached on the block: one at a time).

    ``cache=False`` builds a one-off read (a calibration) that the block does not keep, with
    the read-noise matrices only if ``noise``."""
    key = (float(t_s), id(enc), np.dtype(dtype).str)
    cached = getattr(block, "_array_read", None)
    if cached is not None and cached[0] == key and cached[1].enc is enc:
        return cached[1]
    if not cache:
        return ArrayRead(block, float(t_s), enc, dtype, cache=False, noise=noise)
    block._array_read = None           # the previous read goes before the next is built
    read = ArrayRead(block, float(t_s), enc, dtype)
    block._array_read = (key, read)
    return read


def _plan(enc, law, wires: bool, solver: str) -> str:
    if law is None:
        return "linear"
    if solver == "exact" or wires:
        return "exact" if solver == "exact" else "wires_fast"
    if enc.encoding != "amplitude":      # time-coded: every driven row at ±V_read
        return "pulse"
    return "separable" if getattr(law, "is_separable", False) else "table"


class ArrayRead:
    """Array read of one row block (its tiles' columns concatenated) for one input encoder.

    Built by :func:`array_read`; see the module docstring for the plans. :meth:`currents`
    runs on the calling thread (the tile's batch slices are split across threads by the
    caller).

    Attributes
    ----------
    plan : str
        ``"linear"``, ``"pulse"``, ``"separable"``, ``"table"``, ``"exact"`` or
        ``"wires_fast"``.
    bound_a : float
        Largest error of one cell current of the amplitude expansion [A] (0 where the plan
        is exact).
    rank : int
        Terms of the expansion (1 for separable laws and linear cells, 2 for pulses on a
        non-odd law with signed inputs).
    var_rank, var_bound_a2 : int, float
        Pulse plan with read noise: operands of the variance GEMM and the largest error of
        one cell's variance [A²] (:meth:`_pulse_variance`; 0 at full rank).
    """

    def __init__(self, block, t_s: float, enc, dtype, *, cache: bool = True,
                 noise: bool = True):
        self.block = block
        self.t_s = t_s
        self.enc = enc
        self.dtype = np.dtype(dtype)
        tiles = block.tiles
        self.tiles = tiles
        hw = tiles[0].hw
        self.hw = hw
        self.law = tiles[0].law
        self.noisy = hw.read_noise and noise
        self.n_signal = block.n_signal
        self.n_refs = block.n_refs
        self.rows = tiles[0].rows_used
        r_row, r_col = tiles[0].wire_resistances_ohm()
        self.wires = r_row > 0.0 or r_col > 0.0
        self.plan = _plan(enc, self.law, self.wires, hw.tile.array_solver)
        self.bound_a = 0.0
        self.rank = 1
        self.var_rank, self.var_bound_a2 = 0, 0.0
        f32 = self.dtype == np.float32
        self.v_unit = (enc.v_read_v if enc.encoding == "bit_serial" and not enc.signed
                       else None)
        #: Drive law of the white (thermal + shot) read noise, :mod:`cimsim.tile.variance`.
        self.noise_law = (_variance.drive_law(enc.encoding, enc.v_read_v,
                                              float(np.max(np.abs(enc.levels_v))),
                                              hw.temperature_k) if self.noisy else None)
        if self.plan == "linear":
            self.mats = block.matrices(t_s, self.dtype, v_unit=self.v_unit, law=self.noise_law,
                                       integer_drive=enc.int_step_v(0) is not None,
                                       noise=self.noisy, cache=cache)
            return
        #: Read-time states of the tiles (the other plans form their matrices from them).
        self.states = [t.state(t_s) for t in tiles]
        #: White read noise of the cells beside the excess noise the plan forms through the
        #: law: thermal (per column) and shot noise on the law's conductances.
        self._white_eff = self._white_states() if self.noisy else None
        self.white = (_variance.build(self._white_eff, self.noise_law, None, self.dtype,
                                      excess=False) if self.noisy else None)
        self._grid_setup()
        #: The wire-free plan that gives the noise variance and the energy (wire drops are
        #: neglected there, as for linear cells); the mean too unless the wires are solved.
        self.base = (_plan(enc, self.law, False, "fast") if self.plan != "exact"
                     else "exact")
        #: Whether the plan's variances include the white noise (the pulse plan folds it).
        self.white_folded = self.base == "pulse"
        if self.base == "pulse":
            self._pulse_setup(f32)
        elif self.base in ("separable", "table"):
            self._table_setup()
        else:
            self._var_setup_table()      # exact: the law at the row voltage, every read
        self._white_eff = None

    # --- set-up ---------------------------------------------------------------------------

    def _white_states(self) -> list[dict]:
        r"""The tiles' white-noise terms with the law's conductances in place of ``g``: shot
        noise on the read current per volt at the full read voltage,
        :math:`|F(g, \pm V_{read})|/V_{read}` (averaged over the two polarities for signed
        inputs), so that it is :math:`2qF` at a pulse; thermal noise on the zero-bias
        conductance :math:`\mathrm{d}F/\mathrm{d}V(0)` of the cell (the tile's unused rows
        as cells at ``g_min``)."""
        v = self.enc.v_read_v
        sides = (v, -v) if self.enc.signed else (v,)
        out = []
        for tile, st in zip(self.tiles, self.states, strict=True):
            g = st["g_cell_s"]
            shot = np.mean([np.abs(self.law.current(s_, g)) / v for s_ in sides], axis=0)
            g0 = self.law.current_and_derivative(0.0, g)[1]
            g0_min = float(self.law.current_and_derivative(0.0, tile.card.g_min_s)[1])
            m = tile.mapping
            unused = (self.hw.tile.rows - tile.rows_used) * g0_min
            k_th = st["k_thermal_a2_per_s"]
            eff = dict(st)
            n_own = m.own_columns(np.ones((1, m.n_phys)), tile.merge)[0]
            eff["g_own_s"] = m.own_columns(shot, tile.merge)
            eff["c_own_a2"] = (k_th * (m.own_columns(g0, tile.merge).sum(axis=0)
                                       + n_own * unused) + st.get("c_mirror_a2", 0.0))
            eff["g_ref_s"] = shot[:, m.ref_cols]
            eff["c_ref_a2"] = k_th * (g0[:, m.ref_cols].sum(axis=0) + unused)
            out.append(eff)
        return out

    def _grid_setup(self) -> None:
        """Codes and the voltages the cells see on the code grid (amplitude inputs)."""
        enc = self.enc
        lo = -enc.c_max if enc.signed else 0
        if enc.quantize:
            codes = np.arange(lo, enc.c_max + 1)
            self.grid = (lo, None)
            mag = enc.levels_v[np.abs(codes)]
        else:
            codes = np.linspace(lo, 1.0, UNQUANTIZED_GRID)
            self.grid = (float(lo), (UNQUANTIZED_GRID - 1) / (1.0 - lo))
            mag = np.abs(codes) * enc.v_read_v
        self.grid_codes = codes
        self.grid_volts = np.sign(codes) * mag

    def _cells(self):
        """Per tile: (g [S], σ² [S²] or None) of its used cells."""
        return [(st["g_s"], st.get("var_s2")) for st in self.states]

    def _g_range(self) -> tuple[float, float]:
        gs = [st["g_s"] for st in self.states]
        return (float(min(np.min(g) for g in gs)), float(max(np.max(g) for g in gs)))

    def _signal_of(self, per_tile) -> np.ndarray:
        """Concatenated signal matrix ``X[:, pos] − X[:, neg]`` from per-tile cell arrays."""
        return np.concatenate([t.mapping.signal_columns(x, t.merge)
                               for t, x in zip(self.tiles, per_tile, strict=True)], axis=1)

    def _var_of(self, per_tile) -> tuple[np.ndarray, np.ndarray]:
        own, ref = [], []
        for t, x in zip(self.tiles, per_tile, strict=True):
            m = t.mapping
            own.append(m.own_columns(x, t.merge))
            ref.append(x[:, m.ref_cols])
        return np.concatenate(own, axis=1), np.concatenate(ref, axis=1)

    def _pack(self, signal, var_own, var_ref, f32: bool, digits: int) -> dict:
        mats = {"signal": int8_gemm.split(signal, digits)
                if f32 and signal.shape[0] <= int8_gemm.K_MAX
                else np.ascontiguousarray(signal, dtype=self.dtype)}
        if var_own is not None:
            for name, var in (("var_own", var_own), ("var_ref", var_ref)):
                mats[name] = (bf16_gemm.pack(var) if f32
                              else np.ascontiguousarray(var, dtype=self.dtype))
        return mats

    def _pulse_setup(self, f32: bool) -> None:
        """S± = F(G, ±V)/(±V) and Σ± = (∂F/∂g(G, ±V)/V)²·σ² per cell, exactly."""
        enc, law = self.enc, self.law
        v = enc.v_read_v
        sides = [v] if not enc.signed else [v, -v]
        sig, var_own, var_ref, row_i = [], [], [], []
        for s in sides:
            per_s, per_v, per_r = [], [], []
            for g, var in self._cells():
                i, didg = law.current_and_g_derivative(s, g)
                per_s.append(i / s)
                per_r.append(i.sum(axis=1))
                if var is not None:
                    per_v.append((didg / v) ** 2 * var)
            sig.append(self._signal_of(per_s))
            row_i.append(np.sum(per_r, axis=0))
            if self.noisy:
                o, r = self._var_of(per_v)
                var_own.append(o)
                var_ref.append(r)
        self.row_current_a = row_i           # per side: Σ_j F(g_ij, ±V) per row [A]
        if len(sides) == 2 and np.array_equal(sig[0], sig[1]):
            sig = sig[:1]                                               # odd law
        self.split = len(sig) == 2
        self.rank = len(sig)
        var = self._pulse_variance(var_own, var_ref) if self.noisy else (None, None)
        self.mats = self._pack(np.concatenate(sig, axis=0), *var, f32,
                               POLARITY_DIGITS if self.split else int8_gemm.N_DIGITS)

    def _pulse_variance(self, var_own: list, var_ref: list) -> tuple[np.ndarray, np.ndarray]:
        r"""The pulse plan's read-noise matrices, the cells' white noise folded in.

        Per cell the variance of a read is a sum of terms in the drive ``v`` (signal-equivalent
        amplitude, ``|v| ≤ V``): :math:`v_+^2\Sigma_+ + v_-^2\Sigma_- + K|v|G_{shot}` (the
        excess noise through the law on each polarity, shot noise on the time-averaged law
        current; binary drives, ``v ∈ {0, ±V}``, have :math:`v_\pm^2 = V|v_\pm|`). With the
        terms' cell matrices scaled to full drive, :math:`X` (cells × terms), the variance is
        :math:`u(v)^\top X` with the drive functions :math:`u` scaled to at most 1. The
        smallest rank ``R`` of :math:`X \approx C Q^\top` (:func:`_cone_basis`; ``Q`` the
        identity and ``C = X`` at full rank, exact) whose error, bounded per cell and polarity
        by :math:`\sum_k |E_k|` over the polarity's terms (every :math:`|u_k| \le 1`), is at
        most :data:`VARIANCE_RTOL` of the largest cell variance at full drive, gives ``R``
        operands :math:`u(v)^\top Q_r` (one pass, :func:`_pulse_operands`; each rank fitted
        up to :data:`VARIANCE_FIT_STEPS` times, the cells reweighted by their errors) and one
        GEMM of ``R·rows`` against :math:`[C_1; …]`. ``Q`` and the coordinates are kept
        non-negative (:func:`_cone_basis`), so no variance can come out negative. Sets
        ``var_rank`` and ``var_bound_a2`` (the measured bound of one cell's variance [A²]: a
        column of ``n`` cells is within ``n·var_bound_a2``); the thermal constants are added
        per read."""
        v = float(self.enc.v_read_v)
        binary = self.enc.encoding == "bit_serial"
        signed = len(var_own) == 2
        white = self.white
        slope = (white.k_shot * float(self.noise_law(v)) / v
                 if white is not None and white.mode != "none" else 0.0)
        eff = self._white_eff
        shot_own = slope * np.concatenate([e["g_own_s"] for e in eff], axis=1)
        shot_ref = slope * np.concatenate([e["g_ref_s"] for e in eff], axis=1)
        # terms (cells matrices at full drive, scaled) and their drive functions u_k (index
        # into _pulse_operands' functions) with the scale that brings u_k to at most 1
        terms = []
        for side, (o, r) in enumerate(zip(var_own, var_ref, strict=True)):
            if binary:       # v² = V|v|: the excess and shot terms share the operand |v_±|
                terms.append((v * (v * o + shot_own), v * (v * r + shot_ref), 3 + side, v))
            else:
                terms.append((v * v * o, v * v * r, side, v * v))
        if not binary:
            terms.append((v * shot_own, v * shot_ref, 2, v))
        k = len(terms)
        x = np.concatenate([np.stack([t[0].ravel() for t in terms], axis=1),
                            np.stack([t[1].ravel() for t in terms], axis=1)])
        # polarities: the terms a drive of each sign excites
        pols = [[0] + ([k - 1] if not binary else [])]
        if signed:
            pols.append([1] + ([k - 1] if not binary else []))
        top = max(float(np.max(x[:, pol].sum(axis=1))) for pol in pols) if x.size else 0.0
        q, coords, bound = np.eye(k), x, 0.0
        for rank in range(1, k if top > 0.0 else 0):
            weights = None
            for _ in range(VARIANCE_FIT_STEPS):      # Lawson: reweight by the cells' errors
                qr, cr = _cone_basis(x, rank, weights)
                err = np.abs(x - cr @ qr.T)
                per = np.max([err[:, pol].sum(axis=1) for pol in pols], axis=0)
                b = float(np.max(per)) / top
                if b <= VARIANCE_RTOL:
                    break
                weights = per if weights is None else weights * per
                weights = weights / np.max(weights)
            if b <= VARIANCE_RTOL:
                q, coords, bound = qr, cr, b
                break
        self.var_rank = q.shape[1]
        self.var_bound_a2 = bound * top
        w = np.zeros((5, self.var_rank))
        for j, t in enumerate(terms):
            w[t[2]] = q[j] / t[3]
        self.var_w = w
        n_own = terms[0][0].size
        shape_own, shape_ref = terms[0][0].shape, terms[0][1].shape
        own = [coords[:n_own, r].reshape(shape_own) for r in range(self.var_rank)]
        ref = [coords[n_own:, r].reshape(shape_ref) for r in range(self.var_rank)]
        return np.concatenate(own, axis=0), np.concatenate(ref, axis=0)

    def _table_setup(self) -> None:
        """Amplitude inputs: the mean (and variance) as Σ_r b_r(code) @ A_r."""
        law = self.law
        volts = self.grid_volts
        cells = self._cells()
        if self.base == "separable":
            h = np.asarray(law.drive(volts), dtype=np.float64)
            self.mean_tab = h[None, :]
            coefs = [g[None] for g, _ in cells]
            var_tab = (h * h)[None, :]
            var_coefs = [var[None] if var is not None else None for _, var in cells]
        else:
            g_lo, g_hi = self._g_range()
            ex = expand(lambda g, v: law.current(v, g), g_lo, g_hi, volts, TABLE_RTOL)
            self.expansion = ex
            self.bound_a = ex.bound
            self.mean_tab = ex.basis
            coefs = [ex.coefficients(g) for g, _ in cells]
            var_tab, var_coefs = None, None
            if self.noisy:
                exv = expand(lambda g, v: law.current_and_g_derivative(v, g)[1] ** 2, g_lo,
                             g_hi, volts, VARIANCE_RTOL)
                self.var_expansion = exv
                var_tab = exv.basis
                var_coefs = [exv.coefficients(g) * var[None] for (g, var) in cells]
        if self.grid[1] is not None:     # unquantised codes: linear interpolation between
            self.bound_a += self._interp_error()     # the grid voltages adds its own error
        self.rank = self.mean_tab.shape[0]
        # row currents at every level for the energy account: Σ_j a_r(g_ij) per row
        self.row_coef = np.sum([c.sum(axis=2) for c in coefs], axis=0)     # (R, rows)
        self.mean_mat = np.ascontiguousarray(np.concatenate(
            [self._signal_of([c[r] for c in coefs]) for r in range(self.rank)], axis=0),
            dtype=self.dtype)
        if self.noisy:
            self.var_tab = var_tab
            own, ref = zip(*[self._var_of([c[r] for c in var_coefs])
                             for r in range(var_tab.shape[0])], strict=True)
            self.var_own_mat = np.ascontiguousarray(np.concatenate(own, axis=0),
                                                    dtype=self.dtype)
            self.var_ref_mat = np.ascontiguousarray(np.concatenate(ref, axis=0),
                                                    dtype=self.dtype)

    def _interp_error(self) -> float:
        """Largest error [A] of interpolating the cell current linearly between neighbouring
        voltages of the unquantised code grid, over Chebyshev nodes of the conductance range
        (the current is smooth in V: the error is ``h²/8·max|∂²F/∂V²|``, measured here)."""
        g_lo, g_hi = self._g_range()
        g = chebyshev_nodes(g_lo, g_hi, G_NODES)[:, None]
        v = self.grid_volts
        mid = 0.5 * (v[1:] + v[:-1])
        f = self.law.current(v[None, :], g)
        return float(np.max(np.abs(self.law.current(mid[None, :], g)
                                   - 0.5 * (f[:, 1:] + f[:, :-1]))))

    def _var_setup_table(self) -> None:
        """Exact and wire plans: energy row currents and the noise variance at the row
        voltage (wire drops neglected in the noise), evaluated per read."""
        if self.enc.encoding == "amplitude":
            return
        v = self.enc.v_read_v
        sides = [v, -v] if self.enc.signed else [v]
        self.row_current_a = [np.sum([self.law.current(s, g).sum(axis=1)
                                      for g, _ in self._cells()], axis=0) for s in sides]

    # --- per cycle ------------------------------------------------------------------------

    def squares(self, per_cell: bool) -> bool:
        """Whether :meth:`currents` needs ``v²`` from the row drive."""
        return (self.plan == "linear" and self.noisy and not per_cell
                and self.v_unit is None and self.mats["variance"].mode == "none")

    def operand_table(self, per_cell: bool) -> np.ndarray | None:
        """The read-noise GEMM's operand per input code (quantised amplitude inputs, linear
        cells, ``"shared"`` variance form; :func:`cimsim.tile.variance.operand_table` on the
        codes' row voltages), for the row drive to look up in place of a pass over its
        voltages (:meth:`~cimsim.tile.encode.InputEncoder.drive`'s ``code_table``); None
        where the operand is formed otherwise."""
        enc = self.enc
        if (self.plan != "linear" or not self.noisy or per_cell or self.v_unit is not None
                or enc.encoding != "amplitude" or not enc.quantize):
            return None
        got = self.__dict__.get("_operand_table", False)
        if got is False:
            got = _variance.operand_table(self.mats["variance"], enc.code_volts(self.dtype))
            self._operand_table = got
        return got

    def packed_operand(self, per_cell: bool, n_b: int):
        """The :meth:`operand_table` as bfloat16 bits (uint16,
        :func:`cimsim.kernels.bf16_gemm.operand_bits`) and a packed operand of ``n_b`` rows
        (:func:`cimsim.kernels.bf16_gemm.packed_operand`) for the row drive to fill
        (:meth:`~cimsim.tile.encode.InputEncoder.drive`'s ``code_table`` and ``packed``),
        where the read-noise GEMMs run the bfloat16 kernel with one exponent; else None (the
        drive then looks up :meth:`operand_table` itself)."""
        table = self.operand_table(per_cell)
        if table is None:
            return None
        vm = self.mats["variance"]
        mats = [vm.own, vm.ref] if self.n_refs else [vm.own]
        if not all(isinstance(m, bf16_gemm.PackedMatrix) and m.exp == vm.own.exp
                   for m in mats):
            return None
        packed = bf16_gemm.packed_operand(n_b, vm.own)
        if packed is None:
            return None
        bits = self.__dict__.get("_operand_bits")
        if bits is None:
            bits = self._operand_bits = bf16_gemm.operand_bits(table, vm.own)
        return bits, packed

    def plane_patterns(self, codes: np.ndarray | None, per_cell: bool) -> np.ndarray | None:
        """The look-up patterns of every bit-plane of ``codes`` (these rows' input codes),
        formed in one pass for :meth:`currents` (``patterns``), whose row drive then need
        not form voltages; None where the plane reads take the voltages (no table look-up,
        per-cell noise, no codes)."""
        if (codes is None or per_cell or self.plan != "linear" or "lut" not in self.mats
                or codes.dtype != np.int32):
            return None
        return lut_gemm.code_patterns(codes, self.enc.n_planes, self.mats["lut"])

    def plane_sums(self, codes: np.ndarray, patterns: np.ndarray,
                   n_on: dict) -> lut_gemm.PlaneSums:
        """The exact sums of the bit-planes ``n_on`` (plane → its number of driven (row,
        vector) pairs, or None) of ``codes`` from their :meth:`plane_patterns`, the look-up
        tables read once for all of them (:func:`~cimsim.kernels.lut_gemm.plane_sums`), for
        :meth:`plane_currents`."""
        return lut_gemm.plane_sums(codes, n_on, float(self.dtype.type(self.v_unit)),
                                   self.mats["lut"], patterns)

    def plane_currents(self, sums: lut_gemm.PlaneSums, p: int, b0: int, b1: int,
                       noisy: bool | None = None, var_add: np.ndarray | None = None):
        """:meth:`currents` of bit-plane ``p`` for vectors ``b0 … b1`` of :meth:`plane_sums`
        (``b0`` a multiple of 16; ``var_add`` as there): the same numbers (per-thread
        scratch arrays)."""
        noisy = self.noisy if noisy is None else noisy
        if not noisy:
            return self._lut_currents(lut_gemm.plane_matmul(sums, p, b0, b1), False)
        adds = (self.mats["variance"].c_own.astype(np.float32, copy=False),)   # as written
        if var_add is not None:
            adds += (var_add.astype(np.float32),)
        out = lut_gemm.plane_matmul(sums, p, b0, b1, col_add=(None, adds))
        return out[0], out[1], np.zeros((b1 - b0, 0), dtype=out.dtype)

    def _lut_currents(self, sums: np.ndarray, noisy: bool):
        """Signal currents and variances from the rounded sums of a bit-plane: the signal,
        and the read-noise GEMM plus the thermal constants."""
        empty = np.zeros((sums.shape[1], 0), dtype=sums.dtype)
        if not noisy:
            return sums[0], empty, empty
        var_own = sums[1]
        bf16_gemm.add_columns(var_own, self.mats["variance"].c_own)
        return sums[0], var_own, empty

    def currents(self, v: np.ndarray, v2: np.ndarray, p: int, *, x: np.ndarray,
                 codes: np.ndarray | None, per_cell: bool = False, per_cell_args=None,
                 noisy: bool | None = None, operand: bool = False,
                 patterns: np.ndarray | None = None, n_on: int | None = None,
                 var_add: np.ndarray | None = None):
        """Signal currents and variances of cycle ``p`` for row drive ``v`` (batch, rows).

        Parameters
        ----------
        v, v2 : ndarray
            Row drive [V] and its squares [V²] (when :meth:`squares`) from
            :meth:`~cimsim.tile.encode.InputEncoder.drive`.
        p : int
            Cycle (bit-plane) index.
        x : ndarray
            The inputs of these rows (amplitude tables form their codes from them when
            ``codes`` is None).
        codes : ndarray or None
            Input codes of these rows, if the caller has them.
        per_cell : bool
            Draw read noise per cell and read (linear cells: the exact reference of the
            variance identity).
        noisy : bool, optional
            Read noise (default: the hardware's ``read_noise``).
        operand : bool
            ``v2`` holds the read-noise GEMM's operand, looked up in :meth:`operand_table`
            (an array, or the :class:`~cimsim.kernels.bf16_gemm.PackedOperand` of
            :meth:`packed_operand`).
        patterns : ndarray, optional
            :meth:`plane_patterns` of ``codes``: the plane's bits are taken from the codes
            (``v`` may then be (batch, 0): :meth:`~cimsim.tile.encode.InputEncoder.drive_planes`
            gives the sums without voltages); ``n_on``, if given, is the plane's number of
            driven (row, vector) pairs.
        var_add : ndarray, optional
            Per signal column, variances [A²] added last to ``var_own`` (``var_own +=
            var_add.astype(var_own.dtype)``; the front ends' noise): the variance GEMM of the
            linear plan adds them as it writes its sums, other plans in a pass.

        Returns
        -------
        mean : ndarray (batch, n_signal)
            Noise-free signal currents [A] (a per-thread scratch array).
        var_own, var_ref : ndarray
            Read-noise variances [A²] of the signal and reference columns (no columns: no
            noise).
        """
        noisy = self.noisy if noisy is None else noisy
        in_gemm = (var_add is not None and noisy and self.plan == "linear" and not per_cell
                   and "lut" not in self.mats)
        mean, var_own, var_ref = self._currents(
            v, v2, p, x=x, codes=codes, per_cell=per_cell, per_cell_args=per_cell_args,
            noisy=noisy, operand=operand, patterns=patterns, n_on=n_on,
            var_add=var_add if in_gemm else None)
        if var_add is not None and not in_gemm and var_own.shape[1]:
            bf16_gemm.add_columns(var_own, var_add.astype(var_own.dtype))
        return mean, var_own, var_ref

    def _currents(self, v, v2, p, *, x, codes, per_cell, per_cell_args, noisy, operand,
                  patterns, n_on, var_add):
        """:meth:`currents` (``var_add`` given only for the linear plan's variance GEMM)."""
        dt = self.dtype if v.dtype == self.dtype else v.dtype
        n_b = v.shape[0]
        empty = np.zeros((n_b, 0), dtype=dt)
        enc = self.enc
        if self.plan == "linear":
            mats = self.mats
            if per_cell:
                mean = self.block.per_cell_currents(v, self.t_s, law=self.noise_law,
                                                    **per_cell_args)
                return mean, empty, empty
            if "lut" in mats:      # a bit-plane: both sums by one table look-up
                if patterns is not None:
                    return self.plane_currents(self.plane_sums(codes, patterns, {p: n_on}),
                                               p, 0, n_b, noisy)
                return self._lut_currents(lut_gemm.matmul(v, self.v_unit, mats["lut"]), noisy)
            mean = signal_gemm(v, mats["signal"], enc.int_step_v(p), enc.signed,
                               workspace("mean", (n_b, self.n_signal), dt))
            if not noisy:
                return mean, empty, empty
            var_own, var_ref = _variance.variances(
                v, v2, mats["variance"], self.n_signal, self.n_refs,
                binary=self.v_unit is not None, op=v2 if operand else None,
                var_add=None if var_add is None else var_add.astype(dt))
            return mean, var_own, var_ref
        if per_cell:
            fail("tile.read_noise_model", "ArrayRead.currents", "'variance' for nonlinear "
                 "cells (per-cell noise samples are drawn for linear cells only)", "per_cell")
        if self.plan == "pulse":
            out = self._pulse_currents(v, p, noisy, n_b, dt, empty)
        elif self.plan in ("separable", "table"):
            if codes is None:
                codes = enc.codes(x, parallel=False)
            out = self._table_currents(codes, noisy, n_b, dt, empty)
        elif self.plan == "wires_fast":
            mean = self._solved_currents(v, x, codes, p, False, n_b, dt, empty)[0].copy()
            if not noisy:
                return mean, empty, empty
            if self.base == "pulse":
                _, var_own, var_ref = self._pulse_currents(v, p, True, n_b, dt, empty)
            else:
                if codes is None:
                    codes = enc.codes(x, parallel=False)
                _, var_own, var_ref = self._table_currents(codes, True, n_b, dt, empty)
            out = (mean, var_own, var_ref)
        else:
            out = self._solved_currents(v, x, codes, p, noisy, n_b, dt, empty)
        if noisy and not self.white_folded:
            _variance.add_white(np.ascontiguousarray(v, dtype=out[1].dtype), self.white,
                                out[1], out[2])
        return out

    def _pulse_currents(self, v, p, noisy, n_b, dt, empty):
        """The pulse plan: ``[v₊ | v₋] @ [S₊; S₋]`` (one term for an odd law or unsigned
        drives) and the variance GEMM of :meth:`_pulse_variance` with the thermal constants."""
        enc, mats = self.enc, self.mats
        mean = signal_gemm(v, mats["signal"], enc.int_step_v(p), enc.signed,
                           workspace("mean", (n_b, self.n_signal), dt),
                           split_signs=self.split)
        if not noisy:
            return mean, empty, empty
        var_own = _pulse_variance_gemm(v, self.var_w, mats["var_own"],
                                       workspace("var", (n_b, self.n_signal), dt))
        var_own += self.white.c_own.astype(dt, copy=False)
        var_ref = empty
        if self.n_refs:
            var_ref = _pulse_variance_gemm(v, self.var_w, mats["var_ref"],
                                           np.empty((n_b, self.n_refs), dt))
            var_ref += self.white.c_ref.astype(dt, copy=False)
        return mean, var_own, var_ref

    def _table_currents(self, codes, noisy, n_b, dt, empty):
        n_r = codes.shape[1]
        phi = _lookup(codes, self.grid, self.mean_tab,
                      workspace("cells_phi", (n_b, self.rank * n_r), dt))
        mean = np.matmul(phi, self.mean_mat.astype(dt, copy=False),
                         out=workspace("mean", (n_b, self.n_signal), dt))
        if not noisy:
            return mean, empty, empty
        rv = self.var_tab.shape[0]
        psi = _lookup(codes, self.grid, self.var_tab,
                      workspace("cells_psi", (n_b, rv * n_r), dt))
        var_own = np.matmul(psi, self.var_own_mat.astype(dt, copy=False),
                            out=workspace("var", (n_b, self.n_signal), dt))
        var_ref = (np.matmul(psi, self.var_ref_mat.astype(dt, copy=False))
                   if self.n_refs else empty)
        return mean, var_own, var_ref

    # --- exact and wire plans -------------------------------------------------------------

    def _cell_volts(self, v, x, codes):
        """Row voltages [V] (float64): the DAC level of amplitude codes; the drive itself
        (signal-equivalent amplitude) of the time-coded encodings."""
        if self.enc.encoding != "amplitude":
            return np.asarray(v, dtype=np.float64)
        if codes is None:
            codes = self.enc.codes(x, parallel=False)
        lo, inv_h = self.grid
        if inv_h is None:
            return self.grid_volts[np.asarray(codes) - lo]
        return np.asarray(codes, dtype=np.float64) * self.enc.v_read_v

    def _crossbar(self, tile, st):
        xb = st.get("crossbar")
        if xb is None:
            from ..array.crossbar import Crossbar

            tc = self.hw.tile
            r_row, r_col = tile.wire_resistances_ohm()
            full = np.full((tc.rows, tc.cols), tile.card.g_min_s)
            full[: tile.rows_used, : tile.n_phys] = st["g_s"]
            xb = Crossbar(full, r_wire_row_ohm=r_row, r_wire_col_ohm=r_col, cell=self.law)
            st["crossbar"] = xb
        return xb

    def _column_currents(self, vr: np.ndarray, weight: np.ndarray | None = None):
        """Per tile: physical column currents [A] (batch, n_phys) for cell-row voltages
        ``vr`` (batch, rows) [V], by the plan's solver; without wires each cell's current may
        be weighted by ``weight`` (batch, rows) (the pulse-time fraction)."""
        out = []
        for tile, st in zip(self.tiles, self.states, strict=True):
            if not self.wires:
                g = st["g_s"]
                cur = np.empty((vr.shape[0], g.shape[1]))
                for b in range(vr.shape[0]):
                    i = self.law.current(vr[b][:, None], g)
                    cur[b] = (i if weight is None else weight[b][:, None] * i).sum(axis=0)
            else:
                xb = self._crossbar(tile, st)
                full = np.zeros((vr.shape[0], self.hw.tile.rows))
                full[:, : vr.shape[1]] = vr
                if self.plan == "exact":
                    cur = xb.column_currents(full, method="exact")
                else:
                    cur = xb.column_currents(full, method="lines", rtol=LINES_RTOL)
                    self.lines_info = xb.lines_info
                cur = cur[:, : tile.n_phys]
            out.append(cur)
        return out

    def _pwm_wire_currents(self, vr: np.ndarray, frac: np.ndarray):
        """Time-coded drive with wires: row ``i`` is on for the fraction ``frac_i`` of the
        cycle, and the rows on at once are always those of the largest fractions (pulse
        widths end, TTFS spikes start, level-crossing events run up to the code, in order of
        ``|c|``). Between two consecutive fractions the drive is static and solved alone.
        Returns per tile the charge / cycle time of each physical column [A]."""
        cols = [np.zeros((vr.shape[0], t.n_phys)) for t in self.tiles]
        for b in range(vr.shape[0]):
            prev = 0.0
            for end in np.unique(frac[b][frac[b] > 0.0]):
                parts = self._column_currents((vr[b] * (frac[b] >= end))[None, :])
                for c, part in zip(cols, parts, strict=True):
                    c[b] += (end - prev) * part[0]
                prev = end
        return cols

    def _solved_currents(self, v, x, codes, p, noisy, n_b, dt, empty):
        enc = self.enc
        vr = self._cell_volts(v, x, codes)
        frac = None
        if enc.encoding != "amplitude":
            # time-coded drive: each row on at ±V_read for the fraction |v|/V_read of the
            # cycle (bit-serial: 0 or 1); the rows on at any instant are those of the largest
            # fractions, so with wires the cycle splits into static intervals
            frac = np.abs(vr) / enc.v_read_v
            vr = np.sign(vr) * enc.v_read_v
            cols = (self._pwm_wire_currents(vr, frac) if self.wires
                    else self._column_currents(vr, frac))
        else:
            cols = self._column_currents(vr)
        mean = np.ascontiguousarray(np.concatenate(
            [t.mapping.signal_columns(c, t.merge)
             for t, c in zip(self.tiles, cols, strict=True)], axis=1), dtype=dt)
        if not noisy:
            return mean, empty, empty
        var_own = np.zeros((n_b, self.n_signal))
        var_ref = np.zeros((n_b, self.n_refs))
        for b in range(n_b):
            per_v = []
            for g, var in self._cells():
                _, didg = self.law.current_and_g_derivative(vr[b][:, None], g)
                if frac is not None:
                    didg = didg * frac[b][:, None]
                per_v.append(didg * didg * var)
            own, ref = self._var_of(per_v)
            var_own[b] = own.sum(axis=0)
            if self.n_refs:
                var_ref[b] = ref.sum(axis=0)
        return (mean, np.ascontiguousarray(var_own, dtype=dt),
                np.ascontiguousarray(var_ref, dtype=dt) if self.n_refs else empty)

    # --- energy ---------------------------------------------------------------------------

    def energy_j(self, stats: np.ndarray, x: np.ndarray, *, codes: bool = False) -> float:
        r"""Read energy of the cells [J] for the inputs ``x`` of these rows (their codes if
        ``codes``), whose row-drive sums (:meth:`~cimsim.tile.encode.InputEncoder.row_stats`)
        are ``stats``.

        Linear cells: ``Σ_batch V_row·V_cell·t @ rowsum(G)``. Time-coded inputs: the cells
        conduct ``I(±V_read)`` while on, so ``stats[0] = Σ V_read²·t_on`` per row weighs the
        row's conductance at the pulse, :math:`\sum_j F(g_{ij}, \pm V)/(\pm V)`, split by
        the sign of the drive (the share of on-time of positive codes). Amplitude inputs:
        ``Σ V·I·t`` with the row current at each row's level from the expansion (separable
        laws: exact), or the law itself for the exact plans.
        """
        if self.plan == "linear":
            return float(sum(float(stats[0] @ r) for r in self.mats["rowsum"]))
        enc = self.enc
        if enc.encoding != "amplitude":
            amp = enc.v_read_v
            g_pos = self.row_current_a[0] / amp
            if len(self.row_current_a) == 1:
                return float(stats[0] @ g_pos)
            g_neg = self.row_current_a[1] / -amp
            if enc.quantize and not codes:      # on-time units per row, exact integers
                total, pos = _pulse_on_time_of_x(enc, x)
            elif enc.quantize:
                total, pos = _pulse_on_time(x, enc.encoding == "bit_serial")
            else:
                c = x if codes else enc.codes(x)
                a = np.abs(np.asarray(c, dtype=np.float64))
                total = a.sum(axis=0)
                pos = np.where(np.asarray(c) > 0, a, 0.0).sum(axis=0)
            share = np.divide(pos, total, out=np.zeros_like(total), where=total > 0)
            return float(stats[0] @ (share * g_pos + (1.0 - share) * g_neg))
        c = x if codes else enc.codes(x)
        hist = None
        if enc.quantize and 2 * enc.c_max + 1 <= ENERGY_TABLE_CODES:
            lo = -enc.c_max if enc.signed else 0
            hist = _histogram(c, lo, enc.c_max + 1 - lo)     # (rows, codes), exact
        t = enc.t_read_s
        if self.base not in ("separable", "table"):       # exact plan: the law itself
            vr = self._cell_volts(None, None, c)
            e = 0.0
            for g, _ in self._cells():
                for b in range(vr.shape[0]):
                    e += float(vr[b] @ self.law.current(vr[b][:, None], g).sum(axis=1))
            return e * t
        w = self.mean_tab * (self.grid_volts * t)[None, :]     # (R, K): V·b_r(V)·t
        if hist is not None:      # Σ_i Σ_k counts[i, k] · Σ_r row_coef[r, i]·w[r, k]
            return float(np.sum(hist * (self.row_coef.T @ w)))
        lo, inv_h = self.grid
        if inv_h is None:
            idx = np.asarray(c, dtype=np.int64) - lo
            return float(sum(float(w[r][idx].sum(axis=0) @ self.row_coef[r])
                             for r in range(w.shape[0])))
        n_b, n_r = c.shape
        vals = _lookup(np.asarray(c, dtype=np.float64), self.grid, w,
                       np.empty((n_b, w.shape[0] * n_r)))
        per_row = vals.reshape(n_b, w.shape[0], n_r).sum(axis=0)       # (R, rows)
        return float(np.sum(per_row * self.row_coef))
