"""One tile: a programmed crossbar, its input drivers, column front end, SAR ADCs, shift-add.

A :class:`Tile` holds one weight block mapped by :mod:`cimsim.array.mapping`, programmed through the
device model (write-verify noise and device-to-device variation, stuck-at faults), aged to the
read time ``t_s`` at ``temperature_k`` (drift / relaxation), and read with the read noise of
:func:`device_models.memory.read_noise` (the card's excess conductance noise, never giving a
negative conductance, and the thermal and shot noise of every cell over the noise bandwidth
``1/(2·tile.t_read_s)``). One array read of the row-voltage vector ``v`` [V] gives the signal
currents

.. math:: I_j = \\sum_i v_i \\,(\\bar G_{i,p_j} - \\bar G_{i,n_j}) + \\epsilon_j, \\qquad
          \\mathrm{Var}[\\epsilon_j] = \\sum_i v_i^2 (\\sigma_{i,p_j}^2 + \\sigma_{i,n_j}^2)
          + \\text{white terms}

(A, with :math:`\\bar G` and :math:`\\sigma^2` the mean and variance of the read conductance;
the variance identity for independent cells: one GEMM for the mean and one for the variance,
whose white terms :mod:`cimsim.tile.variance` folds into the same GEMM). With wire
resistance the conductances are replaced by the exact effective matrix ``G_eff`` of
:func:`cimsim.array.crossbar.effective_conductance` (``I = V @ G_eff``), computed
once per programmed array and read time. The row drive is :mod:`cimsim.tile.encode`, the
column front end :mod:`cimsim.tile.frontend`; the noise, SAR ADCs and shift-add are
:mod:`cimsim.tile.readout`.

Execution is shared by tiles reading the same inputs (a :class:`RowBlock`): their matrices
are concatenated, so every block and cycle is one row-drive pass, two float GEMMs (mean
``v @ (G+ − G−)`` and variance ``v² @ (σ+² + σ−²)``) and one read-out pass, run by each thread
on its own slice of the batch (:mod:`cimsim.kernels.parallel`). In float32 mode (ADCs up to 12 bits)
the mean GEMM of integer row drives is exact integer arithmetic on a three-digit split of the
signal matrix (:mod:`cimsim.kernels.int8_gemm`: float32-grade, at 4/3 of the float32 rate on AVX-512
VNNI cores) and the variance GEMM takes bfloat16 operands with float32 sums
(:mod:`cimsim.kernels.bf16_gemm`: the noise amplitude within 0.4 %, at twice the float32 rate on
AVX-512 BF16 cores). (Where BLAS does the float32 mean GEMM it rounds differently for
different slice shapes, which can move a rare ADC decision sitting within float32 rounding
of a code boundary.)

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

import numpy as np

from device_models import rng
from device_models._checks import check_array, check_int, check_scalar, fail
from device_models.constants import K_B_J_PER_K
from device_models.iv import conductance_temperature_factor

from ..array.mapping import WeightMapping, map_weights
from ..hardware import HardwareConfig
from ..kernels import int8_gemm, lut_gemm
from . import variance as _variance
from .laws import current_window, program_targets, read_law
from .readout import ColumnAdcs

__all__ = ["FLOAT32_MAX_BITS", "RowBlock", "Tile", "work_dtype"]


#: ADC resolution above which the GEMMs run in float64 (float32 keeps ~24 bits, which a
#: 13-bit or finer ADC and fine inputs could resolve) [bit].
FLOAT32_MAX_BITS = 12


def work_dtype(hw: HardwareConfig) -> type:
    """The precision a chip is read in: float32 for quantised converters of up to
    :data:`FLOAT32_MAX_BITS` bits (ADCs and inputs), float64 otherwise (finer converters, and
    unquantised ideal ones, whose output is the float64 product). Programmed conductances
    are stored in it."""
    t = hw.tile
    if not t.quantize or max(t.adc_bits, t.input_bits) > FLOAT32_MAX_BITS:
        return np.float64
    return np.float32


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
        :class:`~cimsim.tile.matrix.AnalogMatrix` passes its global value so all tiles agree.
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
        self.index = check_int("index", index, caller, lo=0)
        self.seed_tag = seed_tag
        self.card = _device(hw.device_card)
        #: Cell law at read (None: linear cells), :func:`cimsim.tile.laws.read_law`.
        self.law = read_law(hw, self.card)
        g_lo, g_hi = current_window(hw, self.card)   # verify current per volt [S]
        self.mapping: WeightMapping = map_weights(
            weight, g_lo, g_hi, weight_bits=t.weight_bits,
            bits_per_cell=t.bits_per_cell, mapping=t.weight_mapping, w_max=w_max,
            quantize=t.quantize, stacking=t.stacking)
        if self.mapping.n_phys > t.cols:
            fail("weight", caller,
                 f"at most {t.cols} physical columns once mapped ({self.mapping.n_phys} needed)",
                 f"array of shape {weight.shape}")
        self.rows_used = weight.shape[0]
        self.outputs = weight.shape[1]
        self.program_pulses = 0
        self.program_energy_j = 0.0
        #: Programmed conductances [S], in the chip's :func:`work_dtype` (see :meth:`_program`).
        self.g_programmed_s = self._program()
        self._epochs: dict[int, np.ndarray] = {0: self.g_programmed_s}
        #: Refresh period [s] (``hw.refresh_threshold``, :func:`cimsim.tile.compensation.
        #: refresh_period_s` on the programmed targets), None without refresh.
        self.refresh_period_s: float | None = None
        if hw.refresh_threshold is not None and hw.drift:
            from .compensation import refresh_period_s

            self.refresh_period_s = refresh_period_s(
                self.card, self.mapping.g_target_s, hw.refresh_threshold, hw.temperature_k)
        #: Current stacking: the weights of the analog sum of each output's slices, with
        #: the mirrors' static ratio errors (None without stacking; :meth:`_stacking`).
        self.merge: np.ndarray | None = self._stacking()
        self.adcs = ColumnAdcs(hw, self.n_adcs, seed_tag, first_index=self.index * self.n_adcs)
        #: ADC (within the tile) converting each signal column: the mux group of its column.
        self.adc_of = (self.mapping.pos_col // t.adc_share).astype(np.int64)
        self._check_sensing_window()
        self._states: dict[float, dict] = {}
        self.i_fs_a: np.ndarray | None = None   # calibrated full-scale current per signal col
        self.front_end = None       # column front-end circuit (cimsim.tile.frontend.calibrate)

    # --- current stacking and the mirror front end ----------------------------------------

    def _mirror_params(self) -> tuple[float, float, float] | None:
        """(g_m/I_D [1/V], A_VT [V·m], unit area [m^2]) of the column mirrors, from the
        read-out card (a ``sense_amp`` card's devices), or None (ideal mirrors)."""
        if self.hw.tile.front_end != "mirror":
            return None
        from device_models import cards

        c = cards.load(self.hw.adc_card)
        if c.get("copy_unit_area_m2") is None or c.get("gm_over_id_per_v") is None:
            return None
        return float(c.gm_over_id_per_v), float(c.a_vt_v_m), float(c.copy_unit_area_m2)

    def _stacking(self) -> np.ndarray | None:
        r"""The stacking weights of the programmed chip: the mapping's ratios
        :math:`r_k`, each mirror off by its static ratio error
        :math:`\epsilon \sim N(0, \sigma_r/r)` (:func:`device_models.current_mirror.
        ratio_sigma`, drawn per chip with ``converter_noise`` for ``"mirror"`` stacking;
        parallel columns have exact ratios)."""
        m = self.mapping
        if m.merge is None:
            return None
        merge = m.merge.copy()
        par = self._mirror_params()
        if m.stacking == "mirror" and self.hw.converter_noise and par is not None:
            from device_models.current_mirror import ratio_sigma

            ratio = merge.sum(axis=1)                    # each cell-level column's r_k
            rel = ratio_sigma(ratio, *par)
            z = rng.standard_normal(self._key("mirror_ratio"), ratio.size)
            merge *= (1.0 + rel * z)[:, None]
        return merge

    def _check_sensing_window(self) -> None:
        """A current-input read-out reads while the rows are driven: a sense amplifier's
        sequential conversions must fit the read window, and a CCO ADC, which counts its
        column's current during the window, cannot be shared by signal columns."""
        t = self.hw.tile
        if t.front_end != "mirror":
            return
        from device_models.converters import build_converter

        conv = build_converter(self.hw.adc_card, t.adc_bits,
                               window_s=t.t_read_s * t.read_phases, ideal=True)
        rounds = self.adc_rounds_per_cycle
        if conv.time_after_window_s == 0.0 and t.t_read_s * t.read_phases < rounds * (
                conv.conversion_time_s * (1.0 - 1e-9)):
            fail("hw", "Tile", f"tile.t_read_s >= {rounds * conv.conversion_time_s:.4g} s "
                 f"(the sense amplifier's {rounds} conversion(s) of "
                 f"{conv.conversion_time_s:.4g} s each happen while the rows are driven)",
                 f"tile.t_read_s = {t.t_read_s!r}")
        if conv.time_after_window_s > 0.0 and rounds > 1:
            fail("hw", "Tile", "one CCO read-out per signal column (tile.adc_share at most "
                 f"{self.mapping.cols_per_signal}: each oscillator counts its column's "
                 "current during the read window)", f"tile.adc_share = {t.adc_share}")

    # --- device physics ------------------------------------------------------------------

    def _key(self, what: str, epoch: int = 0) -> int:
        """Stream key of ``what`` for the tile's programming ``epoch`` (0: the first; epoch
        ``n`` is the n-th refresh)."""
        if epoch:
            return rng.derive_key(self.hw.seed, what, self.seed_tag, self.index, "refresh",
                                  epoch)
        return rng.derive_key(self.hw.seed, what, self.seed_tag, self.index)

    def _program(self, epoch: int = 0) -> np.ndarray:
        """Program the mapped targets for the cell law (the verify read current at the read
        voltage, :func:`cimsim.tile.laws.program_targets`) at ``hw.program_temperature_k``
        (``epoch`` > 0: a refresh, with its own programming noise and the same stuck cells).

        Kept in the chip's :func:`work_dtype`: float32 where the reads run in float32 (a
        relative 6e-8 of each conductance, 1e5 times below the write-verify tolerance and as
        fine as the float32 signal GEMM's own rounding), float64 otherwise; every read-time
        model takes them as float64."""
        hw = self.hw
        g, tol = program_targets(hw, self.card, self.mapping.g_target_s.copy())
        if hw.programming_noise:
            from device_models.memory import program

            res = program(self.card, g, seed=self._key("program", epoch), tolerance_s=tol,
                          temperature_k=hw.program_temperature_k)
            g = np.asarray(res.g_s, dtype=np.float64)
            if epoch == 0:
                self.program_pulses = int(np.sum(res.pulses))
                self.program_energy_j = float(np.sum(res.energy_j))
        if hw.faults:
            from device_models.memory import apply_faults

            g = np.asarray(apply_faults(self.card, g, seed=self._key("faults")), dtype=np.float64)
        return np.asarray(g, dtype=work_dtype(hw))

    def conductances(self, t_s: float) -> np.ndarray:
        """Conductances [S] of the used cells at ``t_s`` [s] after programming."""
        return self.state(t_s)["g_s"]

    def epoch_at(self, t_s: float) -> tuple[int, float]:
        """Refreshes before time ``t_s`` after the first programming and the age of the
        cells then [s] (``(0, t_s)`` without refresh; :mod:`cimsim.tile.compensation`)."""
        tau = self.refresh_period_s
        if tau is None or t_s < tau:
            return 0, t_s
        n = int(math.floor(t_s / tau))
        return n, t_s - n * tau

    def refresh_counts(self, t_s: float) -> tuple[int, float]:
        """Programming pulses and energy [J] of the refreshes before ``t_s`` (each refresh
        costs the tile's programming)."""
        n = self.epoch_at(t_s)[0]
        return n * self.program_pulses, n * self.program_energy_j

    def state(self, t_s: float) -> dict:
        """Read-time state at ``t_s`` (cached): conductances, signal matrices, noise variances."""
        t_s = check_scalar("t_s", t_s, "Tile.state", lo=0.0)
        st = self._states.get(t_s)
        if st is not None:
            return st
        hw = self.hw
        m = self.mapping
        epoch, age_s = self.epoch_at(t_s)
        g = self._epochs.get(epoch)
        if g is None:                                    # keep the first and the latest
            g = self._program(epoch)
            self._epochs = {0: self.g_programmed_s, epoch: g}
        g = g.astype(np.float64)
        if hw.drift and age_s > 0.0:
            from device_models.memory import age

            g = np.asarray(age(self.card, g, t_s=age_s, temperature_k=hw.temperature_k,
                               seed=self._key("age", epoch)), dtype=np.float64)
        factor = conductance_temperature_factor(self.card, hw.temperature_k,
                                                hw.program_temperature_k)
        if factor != 1.0:
            g = g * factor
        g_dev, rn = g, None
        if hw.read_noise:
            from device_models.memory import read_noise

            rn = read_noise(self.card, g, t_int_s=hw.tile.t_read_s, t_s=age_s,
                            temperature_k=hw.temperature_k)
            g = rn.g_mean_s    # the mean read conductance (a read is never negative)
        g_read = g
        tc = hw.tile
        r_row_ohm, r_col_ohm = self.wire_resistances_ohm()
        if self.law is None and (r_row_ohm > 0.0 or r_col_ohm > 0.0):
            from ..array.crossbar import effective_conductance

            if g.shape == (tc.rows, tc.cols):           # a full tile: no padded copy
                full = g
            else:
                full = np.full((tc.rows, tc.cols), self.card.g_min_s)
                full[: self.rows_used, : m.n_phys] = g
            g_eff = effective_conductance(full, r_row_ohm, r_col_ohm)
            g_read = np.asarray(g_eff)[: self.rows_used, : m.n_phys]
        st = {"g_s": g_dev, "g_read_s": g_read,
              "signal_s": m.signal_columns(g_read, self.merge),
              "rowsum_s": g.sum(axis=1)}
        if rn is not None:
            st.update(self._noise_state(rn))
        self._states = {t_s: st}   # keep one read time (RowBlock.matrices releases it)
        return st

    def release_state(self) -> None:
        """Forget the cached read-time state (its arrays are several times the programmed
        conductances; a :class:`RowBlock` keeps the matrices it builds from them)."""
        self._states = {}

    def _noise_state(self, rn) -> dict:
        """Read-noise terms per signal / reference column (see :mod:`cimsim.tile.variance`)."""
        m = self.mapping
        var, g = rn.var_s2, rn.g_s
        k_th = 4.0 * K_B_J_PER_K * self.hw.temperature_k * rn.bandwidth_hz   # 4kTΔf [A²/S]
        unused = (self.hw.tile.rows - self.rows_used) * m.g_min_s            # per column [S]
        st = {"var_s2": var, "sigma_s": rn.sigma_s, "g_cell_s": g, "k_thermal_a2_per_s": k_th,
              "k_shot_a2_per_s": rn.fano * k_th, "g_unused_s": unused}
        # own columns: a pair's two columns (or a data column), weighted by the squared
        # stacking weights when the slices are merged
        st["var_own_s2"] = m.own_columns(var, self.merge)
        gs = m.own_columns(g, self.merge)
        st["g_own_s"] = gs
        n_own = m.own_columns(np.ones((1, m.n_phys)), self.merge)[0]
        st["c_mirror_a2"] = self._mirror_noise_a2(g, rn.bandwidth_hz)
        st["c_own_a2"] = k_th * (gs.sum(axis=0) + n_own * unused) + st["c_mirror_a2"]
        refs = m.ref_cols
        st["var_ref_s2"] = var[:, refs]
        st["g_ref_s"] = g[:, refs]
        st["c_ref_a2"] = k_th * (g[:, refs].sum(axis=0) + unused)
        return st

    def _mirror_noise_a2(self, g: np.ndarray, bandwidth_hz: float) -> np.ndarray | float:
        """Current noise variance the column mirrors add to each signal column [A²]:
        :func:`device_models.current_mirror.noise_psd_a2_per_hz` of every cell-level column
        (both sides of a pair, each at its fully driven current ``V_read·Σ_i G_i``, an upper
        bound) over the read bandwidth, summed into its signal column; 0 without mirrors."""
        par = self._mirror_params()
        if par is None:
            return 0.0
        from device_models.current_mirror import noise_psd_a2_per_hz

        m = self.mapping
        ratio = (m.merge.sum(axis=1) if m.merge is not None
                 else np.ones(m.cells_pos.size))
        v = self.hw.tile.v_read_v
        i_pos = v * g[:, m.cells_pos].sum(axis=0)
        i_neg = v * g[:, m.cells_neg].sum(axis=0)
        t = self.hw.temperature_k
        s = (noise_psd_a2_per_hz(ratio, i_pos, par[0], t)
             + noise_psd_a2_per_hz(ratio, i_neg, par[0], t)) * bandwidth_hz
        if m.merge is None:
            return s
        return s @ (m.merge != 0.0).astype(np.float64)

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
        """Sequential conversions per ADC per array cycle [-]: the most signal columns one
        ADC converts (:attr:`adc_of`, the mux group of each signal column's physical column;
        a partly filled tile uses its first groups, not all of them)."""
        if self.n_signal == 0:
            return 1
        return int(np.bincount(self.adc_of).max())

    @property
    def utilisation(self) -> float:
        """Fraction of the tile's cells holding weights or references [-]."""
        t = self.hw.tile
        return self.rows_used * self.n_phys / (t.rows * t.cols)


#: Read-time state entries a row block's matrices are built from.
_BLOCK_KEYS = ("signal_s", "rowsum_s", "var_own_s2", "var_ref_s2", "g_own_s", "g_ref_s",
               "c_own_a2", "c_ref_a2", "k_shot_a2_per_s")


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
        a0 = 0
        for t in tiles:            # the tiles' ADCs become views of the block's (one copy)
            n = t.adcs.t0.size
            t.adcs = self.adcs.view(a0, a0 + n)
            a0 += n
        self._cache_key = None
        self._mats: dict = {}

    def matrices(self, t_s: float, dtype, *, v_unit: float | None = None,
                 law: _variance.DriveLaw | None = None, integer_drive: bool = True,
                 noise: bool = True, cache: bool = True) -> dict:
        """Concatenated signal and read-noise matrices at ``t_s`` (cached per read time).

        ``"signal"``: in float32 for row drives in integer steps (``integer_drive``) the
        :class:`~cimsim.kernels.int8_gemm.SplitMatrix` of the integer signal GEMM where its
        kernel runs, else the float32 matrix its digits represent
        (:func:`~cimsim.kernels.int8_gemm.rounded`, the same numbers on the BLAS path).
        ``"lut"`` instead of ``"signal"`` for bit-planes in float32 (``v_unit`` given, no
        reference columns): the :class:`~cimsim.kernels.lut_gemm.LutMatrix` of the split's
        integers and, with read noise, of the variance GEMM's matrix in 10-bit fixed point
        (two columns per table entry; each entry within max/2046 of the matrix's largest, the
        sums within 0.1 % where the bfloat16 GEMM it replaces was within 0.4 %; the variance
        then holds only the thermal constants), table look-ups for both sums of a bit-plane
        (:mod:`cimsim.kernels.lut_gemm`).
        ``"variance"`` (with read noise and ``noise``): the
        :class:`~cimsim.tile.variance.VarianceMatrices` for the encoding's drive ``law``; with
        ``v_unit`` [V] (binary row drives: every row at 0 or ``v_unit``, so ``v² = v_unit·v``)
        they are taken with ``v`` itself, with no squares array. ``"rowsum"``: per tile,
        ``Σ_j G_ij`` of each row [S] (the cells' read energy). The tiles' read-time states
        are released once the matrices are built; ``cache=False`` keeps no copy here either
        (a one-off read such as a calibration).
        """
        key = (t_s, np.dtype(dtype).str, v_unit, law, bool(integer_drive), bool(noise))
        if self._cache_key == key:
            return self._mats
        if cache:                      # the previous read time's matrices go first
            self._cache_key, self._mats = None, {}
        states = []
        for t in self.tiles:     # one tile's full read-time state at a time
            st = t.state(t_s)
            states.append({k: st[k] for k in _BLOCK_KEYS if k in st})
            t.release_state()
        # each part goes once it is concatenated (the block's transient stays one copy)
        signal = np.concatenate([s.pop("signal_s") for s in states], axis=1)
        f32 = np.dtype(dtype) == np.float32
        noisy = noise and "var_own_s2" in states[0]
        lut = None
        if f32 and v_unit is not None and integer_drive and self.n_refs == 0:
            unit_s, t_int = int8_gemm.integer_matrix(signal)
            if lut_gemm.fits(t_int.shape[0], float(np.max(np.abs(t_int), initial=0))):
                lut = ([t_int], [unit_s])
        if lut is not None:
            mats = {}
        elif not f32:
            mats = {"signal": np.ascontiguousarray(signal, dtype=dtype)}
        elif integer_drive and int8_gemm.kernel_available():
            mats = {"signal": int8_gemm.split(signal)}
        else:
            mats = {"signal": int8_gemm.rounded(signal)}
        del signal
        mats["rowsum"] = [s["rowsum_s"] for s in states]
        if noisy:
            vm = _variance.build(states, law, v_unit, dtype, consume=True, dense=lut is not None)
            if lut is not None:      # the variance GEMM joins the signal's look-up tables
                unit_v, q = lut_gemm.fixed_point(vm.own, narrow=True)
                lut[0].append(q)
                lut[1].append(unit_v)
                vm.own = vm.ref = None
            mats["variance"] = vm
        del states
        if lut is not None:
            mats["lut"] = lut_gemm.pack(*lut, narrow=[False, True][:len(lut[0])])
            del lut
        if cache:
            self._cache_key, self._mats = key, mats
        return mats

    def per_cell_currents(self, v, t_s: float, *, seed: int, seed_tag, sample0: int,
                          plane: int, n_planes: int,
                          law: _variance.DriveLaw | None = None) -> np.ndarray:
        """Signal currents [A] with read noise drawn for every cell on every read.

        The exact reference of the variance identity: for vector ``b`` every cell reads the
        conductance ``max(G + σ·z, 0)`` with a fresh standard normal ``z`` per cell and read
        (counter-based on the tile, the vector ``sample0 + b`` and the cycle), and adds its own
        white current noise of variance :math:`4k_BT\\Delta f\\,G\\,[1 + F\\,w(v_i)]` (a
        second fresh normal per cell; ``law`` gives w, :mod:`cimsim.tile.variance`), and each
        converted column the thermal noise of its cells on unused rows;
        ``I = v_b @ (G_p − G_n) + noise``. Costs two random numbers per cell per read: for
        tests and small studies. Wire resistance is ignored here (ideal wires).
        """
        cols = []
        for tile in self.tiles:
            st = tile.state(t_s)
            m = tile.mapping
            g, sd = st["g_cell_s"], st["sigma_s"]
            key = rng.derive_key(seed, "read_noise_cell", seed_tag, tile.index)
            key_w = rng.derive_key(seed, "white_noise_cell", seed_tag, tile.index)
            key_u = rng.derive_key(seed, "unused_rows_noise", seed_tag, tile.index)
            n_cell, n_phys = g.size, g.shape[1]
            k_th, k_sh = st["k_thermal_a2_per_s"], st["k_shot_a2_per_s"]
            sd_unused = np.sqrt(k_th * st["g_unused_s"])
            mirror = tile._mirror_noise_a2(g, st["k_thermal_a2_per_s"] / (
                4.0 * K_B_J_PER_K * tile.hw.temperature_k))
            sd_mirror = None if np.isscalar(mirror) else np.sqrt(mirror)
            key_m = rng.derive_key(seed, "mirror_noise_cell", seed_tag, tile.index)
            cur = np.empty((v.shape[0], m.n_signal))
            for b in range(v.shape[0]):
                off = ((sample0 + b) * n_planes + plane) * n_cell
                vb = v[b].astype(np.float64)
                gn = np.maximum(g + sd * rng.standard_normal(key, g.shape, offset=off), 0.0)
                w = 0.0 if law is None else law(vb)[:, None]
                white = np.sqrt(k_th * g + k_sh * w * g) * rng.standard_normal(
                    key_w, g.shape, offset=off)
                cur[b] = m.signal_columns(vb @ gn, tile.merge)
                cur[b] += m.signal_columns(white.sum(axis=0), tile.merge)
                u = sd_unused * rng.standard_normal(
                    key_u, n_phys, offset=((sample0 + b) * n_planes + plane) * n_phys)
                cur[b] += m.signal_columns(u, tile.merge)
                if sd_mirror is not None:
                    cur[b] += sd_mirror * rng.standard_normal(
                        key_m, m.n_signal, offset=(sample0 + b) * n_planes + plane)
            cols.append(cur)
        return np.concatenate(cols, axis=1)
