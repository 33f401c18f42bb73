"""A weight matrix spread over analog tiles: ``y = x @ W`` on the simulated chip.

:class:`AnalogMatrix` splits ``W`` (in_features × out_features) into blocks of at most
``tile.rows`` inputs and as many outputs as the tile's columns hold once mapped (differential
pairs or offset columns, times the bit-slices), programs each block onto a
:class:`~cimsim.tile.state.Tile`, and on every call drives the rows, digitises each tile's
partial sums with its column ADCs and adds them digitally, as chips do. Every call returns an
:class:`~cimsim.ops.OpCounts` of what it did.

Counting conventions (per call, summed over tiles unless stated; the per-event laws of each
input encoding are :mod:`device_models.encoding`'s):

* ``macs`` = batch × in_features × out_features (logical);
* ``cycles`` = Σ_tiles batch × cycles per vector (bit-planes for bit-serial, else 1); for
  event-driven spike inputs (``spike_input``, below) only the vector-cycles in which some
  row of the matrix has a spike, times the tiles;
* ``dac_conversions`` (multi-level ``amplitude`` drives) or ``row_pulses`` (binary pulses of
  one amplitude: spikes, bit-serial planes, pulse-width, TTFS and level-crossing pulses,
  one-bit inputs) = Σ_tiles row-driver events: with ``tile.skip_zero_inputs`` (default)
  one per row and cycle with a non-zero drive (for ``level_crossing`` one per event,
  ``|code|`` for a static vector), so zero inputs cost none; without it every used row
  converts in every cycle;
* ``cell_reads`` = Σ_tiles Σ_cycles (rows with non-zero drive) × used physical columns
  (including reference columns);
* ``cell_read_energy_j`` = Σ V_row·I_cell·t_on over cycles and cells, from the actual drive
  voltages, on-times and (drifted) conductances, ``(Σ_batch V²·t_on) @ rowsum(G)`` (ignores
  the wire drop);
* ``row_drive_v2`` = Σ V_row² per driver event (each event charges the row wire once);
* ``adc_conversions`` = Σ_tiles cycles × signal columns, without the (tile, vector, cycle)
  reads that drive no row when ``skip_zero_inputs`` (the tile skips them);
  ``adc_switching_energy_j`` from the ADC model summed over the actual output codes;
* ``adc_rounds`` = the critical path: batch × cycles per vector × max over tiles of the
  sequential conversions per ADC per cycle (tiles of one matrix convert in parallel); for
  event-driven spike inputs only over the vector-cycles with a spike;
* ``shift_adds`` = one shift-and-accumulate per digitised value (per ADC conversion);
* ``sram_read_bits`` = Σ_tiles input_bits × inputs read (each tile reads its inputs; with
  ``skip_zero_inputs`` only the non-zero ones, the zeros being skipped by a zero flag);
  ``sram_write_bits`` = batch × out_features × accumulator width (event-driven spike
  inputs: only the vectors with a spike write a result; the others are flagged zero).

Spike inputs (``spike_input=True``, set by :meth:`cimsim.nn.network.Network.compile` for the
layers after a spiking layer) are events: each spike drives its row as a binary pulse, and
with ``skip_zero_inputs`` the read is event-driven in time as well as in energy: a
vector-cycle (a time step) in which no row of any of the matrix's tiles has a spike is not a
read cycle at all (no settling, read window, conversion, shift-add or result written: the
step's result is flagged zero, as a skipped input is), so the matrix's array time and
energy follow the steps that carry events. Its tiles read in parallel, so a step in which any
of them has an event costs all of them one cycle of time (the critical path) while only the
tiles with an event convert. A consumer that needs the step clock regardless (an analog
membrane with a leak, whose decay is calibrated per step period) keeps the matrix clocked
(:meth:`use_analog_output` with ``step_clock``).
"""

from __future__ import annotations

import math

import numpy as np

from device_models import rng
from device_models import ziggurat as zig
from device_models._checks import (
    check_array,
    check_binary,
    check_bool,
    check_int,
    check_scalar,
    fail,
)
from device_models._jit import backend

from ..array.mapping import map_weights, n_slices, outputs_per_tile
from ..hardware import HardwareConfig
from ..kernels.parallel import blas_single_thread, for_row_slices, workspace
from ..ops import OpCounts
from . import frontend
from .cells import array_read
from .encode import CHUNK, InputEncoder, NonFiniteInput
from .readout import analog_read
from .state import RowBlock, Tile, work_dtype

__all__ = ["AnalogMatrix"]

#: Vectors per work chunk of one thread's batch slice (bounds the per-thread scratch arrays:
#: row drive, squares, mean and variance, ``CHUNK_VECTORS × rows`` each) [-].
CHUNK_VECTORS = 1024

#: Fewest vectors per thread slice of a call while each thread still gets one
#: (:func:`~cimsim.kernels.parallel._slice_bounds`): every slice pays the per-call sweeps of
#: the tiles' tables (the bit-plane look-up GEMM reads its tables once per call, for any
#: number of vectors), so 1,024 vectors on two threads run as two slices of 512, not four of
#: 256 [-].
MIN_SLICE_VECTORS = 512

#: Vectors per run of the bit-plane read-out (:meth:`AnalogMatrix._read_planes`): every
#: plane's sums of a slice are taken at once, then each run of this many vectors has its
#: planes read out in turn, so its outputs (float64, 1 MiB for 512 columns) stay in a core's
#: L2 cache from plane to plane instead of passing through memory once per plane; runs of 128
#: cost more in calls than they save (512 × 512, 8 planes); a multiple of 64 (the look-up's
#: blocks of vectors) [-].
PLANE_BLOCK_VECTORS = 256

#: Smallest non-zero full scale of weights or inputs, max|w| or max|x_cal|: 2^64 times the
#: smallest normal float64, so that an LSB (full scale / 2^bits) stays a normal number [-].
SCALE_MIN = float(np.finfo(np.float64).tiny) * 2.0**64


def input_range(x: np.ndarray, caller: str) -> tuple[float, bool]:
    """The input full scale ``max|x|`` of calibration inputs ``x`` (batch, rows) and whether
    any is negative (signed codes); refuses an empty, all-zero or too small set."""
    if x.shape[0] == 0:
        fail("x_cal", caller, "at least one calibration vector", f"array of shape {x.shape}")
    x_max = float(np.max(np.abs(x)))
    if not x_max > 0.0:
        fail("x_cal", caller, "not all zero (the input full scale is max|x_cal|)",
             f"an all-zero array of shape {x.shape}")
    if x_max < SCALE_MIN:
        fail("x_cal", caller, f"of full scale max|x_cal| >= {SCALE_MIN:.3g} (a smaller "
             "scale has no normal-float LSB)", f"max|x_cal| = {x_max!r}")
    return x_max, bool(np.any(x < 0))


def _read_energy_j(counts: OpCounts, hw: HardwareConfig) -> float:
    """Energy of a reference read of drift compensation with ``counts`` on ``hw`` [J]
    (:func:`cimsim.ppa.energy.energy_breakdown` summed)."""
    from ..ppa.energy import components, energy_breakdown

    return float(sum(energy_breakdown(counts, components(hw)).values()))


def _tile_columns(hw: HardwareConfig, outputs: int) -> tuple[int, int]:
    """Signal and reference columns of a tile of ``hw`` holding ``outputs`` outputs (they do
    not depend on the weights' values)."""
    t = hw.tile
    m = map_weights(np.zeros((1, outputs)), 0.0, 1.0, weight_bits=t.weight_bits,
                    bits_per_cell=t.bits_per_cell, mapping=t.weight_mapping, w_max=1.0,
                    quantize=t.quantize, stacking=t.stacking)
    return m.n_signal, int(m.ref_cols.size)


def _check_shard(shard, shape: tuple[int, int], caller: str) -> tuple:
    """``(in_features, row0, w_max, out_total, out0)`` of a shard's ``_shard`` tuple
    ``(in_features, row0, w_max[, out_total, out0])`` (:mod:`cimsim.tile.distributed`), its
    weight block of ``shape`` inside the whole matrix."""
    if not isinstance(shard, tuple) or len(shard) not in (3, 5):
        fail("_shard", caller, "a tuple (in_features, row0, w_max[, out_total, out0])", shard)
    n_in = check_int("_shard[0] (in_features)", shard[0], caller, lo=shape[0])
    row0 = check_int("_shard[1] (row0)", shard[1], caller, lo=0, hi=n_in - shape[0])
    w_max = check_scalar("_shard[2] (w_max)", shard[2], caller, lo=0.0)
    n_out, out0 = shape[1], 0
    if len(shard) == 5:
        n_out = check_int("_shard[3] (out_total)", shard[3], caller, lo=shape[1])
        out0 = check_int("_shard[4] (out0)", shard[4], caller, lo=0, hi=n_out - shape[1])
    return n_in, row0, w_max, n_out, out0


class AnalogMatrix:
    """``y = x @ W`` executed on analog tiles.

    Parameters
    ----------
    weight : array_like, shape (in_features, out_features)
        Weight matrix [-].
    hw : HardwareConfig
        The chip (device / converter cards, tile geometry, non-idealities, ``t_s``,
        ``temperature_k``, ``seed``).
    name : str
        Label (reports).
    seed_tag : int or str
        Separates the random streams of matrices sharing ``hw.seed``.
    spike_input : bool
        The inputs are binary spikes (module docstring): row pulses, event-driven reads;
        :meth:`matmul` raises for any other input value.

    Notes
    -----
    Call :meth:`calibrate` with representative inputs before :meth:`matmul`: it fixes the
    input range (DAC full scale) and the column-ADC ranges. Results are a pure function of
    ``hw.seed``, ``seed_tag``, the inputs and their position in the stream of vectors this
    matrix has processed, so ``matmul(x)`` equals ``matmul(x[:k])`` followed by
    ``matmul(x[k:])`` (see ``sample_offset``).
    """

    def __init__(self, weight, hw: HardwareConfig, *, name: str = "", seed_tag=0,
                 spike_input: bool = False, _shard: tuple | None = None):
        caller = "AnalogMatrix"
        if not isinstance(hw, HardwareConfig):
            fail("hw", caller, "a HardwareConfig", hw)
        w = check_array("weight", weight, caller, ndim=2)
        if w.shape[0] == 0 or w.shape[1] == 0:
            fail("weight", caller, "non-empty", f"array of shape {w.shape}")
        self.hw = hw
        self.name = str(name)
        self.seed_tag = seed_tag
        self.in_features, self.out_features = w.shape
        # a shard (cimsim.tile.distributed): ``weight`` holds rows row0 … and columns out0 … of
        # a matrix of in_features × out_total and full scale w_max; only those tiles are
        # built, with the tile indices and stream columns they have in the whole matrix
        row0 = out0 = 0
        #: Outputs of the whole matrix (a column shard's per-vector counts are the whole's).
        self._out_total = self.out_features
        if _shard is not None:
            self.in_features, row0, w_max, self._out_total, out0 = _check_shard(
                _shard, w.shape, caller)
        self._sharded = _shard is not None
        t = hw.tile
        per_tile = outputs_per_tile(t.cols, t.weight_bits, t.bits_per_cell, t.weight_mapping,
                                    t.quantize, t.stacking)
        if per_tile < 1:
            k = n_slices(t.weight_bits, t.bits_per_cell, t.weight_mapping, t.quantize)
            fail("hw", caller, f"a tile with room for one output ({k} slices, "
                 f"{t.weight_mapping} mapping)", f"tile.cols = {t.cols}")
        self.outputs_per_tile = per_tile
        self.w_max = float(np.max(np.abs(w))) if _shard is None else w_max
        if 0.0 < self.w_max < SCALE_MIN:
            fail("weight", caller, f"all zero or with max|weight| >= {SCALE_MIN:.3g} (a "
                 "smaller scale has no normal-float LSB)", f"max|weight| = {self.w_max!r}")
        self.tiles: list[Tile] = []
        self.blocks: list[tuple[int, int, RowBlock]] = []
        col0 = ref0 = 0
        n_tc = -(-self._out_total // per_tile)      # tile columns of the whole matrix
        if _shard is not None:
            # every row block has the same columns (a tile's columns do not depend on its
            # rows): per tile column of the whole matrix, its signal and reference columns
            cols = [_tile_columns(hw, min(per_tile, self._out_total - c0))
                    for c0 in range(0, self._out_total, per_tile)]
            j0 = out0 // per_tile
            sig_block = sum(c[0] for c in cols)
            ref_block = sum(c[1] for c in cols)
            sig_before = sum(c[0] for c in cols[:j0])
            ref_before = sum(c[1] for c in cols[:j0])
        for r0 in range(row0, row0 + w.shape[0], t.rows):
            r1 = min(r0 + t.rows, self.in_features)
            k = r0 // t.rows
            idx = k * n_tc + out0 // per_tile     # the first tile's index in the whole
            if _shard is not None:
                col0 = k * sig_block + sig_before
                ref0 = k * ref_block + ref_before
            row_tiles, offsets = [], []
            for c0 in range(0, self.out_features, per_tile):
                c1 = min(c0 + per_tile, self.out_features)
                tile = Tile(w[r0 - row0:r1 - row0, c0:c1], hw, w_max=self.w_max or None,
                            index=idx, seed_tag=seed_tag)
                idx += 1
                row_tiles.append(tile)
                offsets.append(c0)
            block = RowBlock(row_tiles, offsets, col0, ref0)
            col0 += block.n_signal
            ref0 += block.n_refs
            self.tiles.extend(row_tiles)
            # a shard reads only its rows of the inputs: its blocks' rows count from row0
            self.blocks.append((r0 - row0, r1 - row0, block))
        if _shard is not None:     # the whole matrix's stream columns
            n_blocks = -(-self.in_features // t.rows)
            col0, ref0 = n_blocks * sig_block, n_blocks * ref_block
        if (col0 + ref0) * t.adc_bits >= zig.MAX_COLS:
            fail("weight", caller, f"mapped onto fewer than {zig.MAX_COLS // t.adc_bits} "
                 "converted columns (random-stream columns)", f"array of shape {w.shape}")
        self.encoder: InputEncoder | None = None
        #: Counts per input vector that do not depend on its values (set by calibrate).
        self._per_vector: dict[str, int] = {}
        self._sample = 0
        self._key = rng.derive_key(hw.seed, "read_noise", seed_tag)
        self._key_ref = rng.derive_key(hw.seed, "read_noise_ref", seed_tag)
        self._key_c = rng.derive_key(hw.seed, "comparator_noise", seed_tag)
        self._key_fe = rng.derive_key(hw.seed, "front_end_noise", seed_tag)
        #: Per row block: its outputs are all of the matrix's, in order (plain shift-add).
        self._ident = [b.out_index.size == self.out_features and bool(
            np.array_equal(b.out_index, np.arange(self.out_features))) for _, _, b in self.blocks]
        bits = t.adc_bits
        self._half = float(2 ** (bits - 1))
        self._dtype = work_dtype(hw)
        self._gain: list[np.ndarray] = []
        #: Per row block the front ends' own noise per signal column [A²] (read noise on).
        self._fe_var: list[np.ndarray] = []
        #: Column currents go to analog consumers (neuron membranes), not to the ADCs.
        self.analog_output = False
        #: The inputs are spikes: binary row pulses, read only in cycles with an event.
        self.spike_input = check_bool("spike_input", spike_input, caller)
        self._step_clock = False
        #: Drift compensation (cimsim.tile.compensation): reference vectors, their column
        #: reads at programming (per block), the factors and the reference-read counts of each
        #: read, and the energy of the reference read at programming [J].
        self._x_ref: np.ndarray | None = None
        self._ref_cols: list[np.ndarray] | None = None
        self._factors: dict = {}
        self._comp_counts: dict = {}
        self._reference_energy_j = 0.0

    # --- properties ----------------------------------------------------------------------

    @property
    def n_tiles(self) -> int:
        """Number of tiles the matrix occupies [-]."""
        return len(self.tiles)

    @property
    def utilisation(self) -> float:
        """Fraction of the occupied tiles' cells that hold weights or references [-]."""
        return float(np.mean([t.utilisation for t in self.tiles]))

    @property
    def program_counts(self) -> OpCounts:
        """Programming cost of all tiles (pulses, energy), separate from inference; with drift
        compensation it includes the energy of the reference read at programming."""
        return OpCounts(program_pulses=sum(t.program_pulses for t in self.tiles),
                        program_energy_j=float(sum(t.program_energy_j for t in self.tiles))
                        + self._reference_energy_j)

    def refresh_counts(self, t_s: float) -> OpCounts:
        """Programming pulses and energy of the tiles' refreshes before ``t_s`` [s]
        (``hw.refresh_threshold``, :mod:`cimsim.tile.compensation`)."""
        pulses, energy = 0, 0.0
        for tile in self.tiles:
            p, e = tile.refresh_counts(t_s)
            pulses += p
            energy += e
        return OpCounts(program_pulses=pulses, program_energy_j=energy)

    def compensation_counts(self, t_s: float, read: int = 0) -> OpCounts:
        """Counts of the reference read that compensates read ``read`` at ``t_s`` (an empty
        :class:`~cimsim.ops.OpCounts` without compensation or for a fixed-time recalibration,
        whose one read is charged where it happens)."""
        caller = "AnalogMatrix.compensation_counts"
        key = (check_scalar("t_s", t_s, caller, lo=0.0), check_int("read", read, caller, lo=0))
        return self._comp_counts.get(key, OpCounts())

    @property
    def weight_quantized(self) -> np.ndarray:
        """The quantised weights the tiles represent, ``q · w_lsb`` (in × out) [-]."""
        out = np.zeros((self.in_features, self.out_features))
        for r0, r1, block in self.blocks:
            for tile, c0 in zip(block.tiles, block.out_offsets, strict=True):
                m = tile.mapping
                out[r0:r1, c0:c0 + tile.outputs] = m.q * m.w_lsb
        return out

    # --- calibration ---------------------------------------------------------------------

    def _check_x(self, x, caller: str, *, finite: bool = True) -> np.ndarray:
        x = check_array("x", x, caller, ndim=(1, 2), finite=finite)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != self.in_features:
            fail("x", caller, f"of shape (batch, {self.in_features})",
                 f"array of shape {x.shape}")
        return x

    def calibrate(self, x_cal, *, t_s: float | None = None) -> AnalogMatrix:
        """Set the input range and the column front-end and ADC ranges from calibration inputs.

        The input full scale is ``max|x_cal|`` (signed codes if any input is negative; an
        empty or all-zero ``x_cal`` is refused, as it defines no range). The
        column front ends are calibrated by :func:`cimsim.tile.frontend.calibrate` on the
        noise-free column signals over calibration vectors and cycles at read time ``t_s``
        (default ``hw.t_s``).

        Returns
        -------
        AnalogMatrix
            ``self``.
        """
        caller = "AnalogMatrix.calibrate"
        x = self._check_x(x_cal, caller)
        x_max, signed = input_range(x, caller)
        t_s = self.hw.t_s if t_s is None else check_scalar("t_s", t_s, caller, lo=0.0)
        return self._calibrate(x, t_s, x_max, signed)

    def _calibrate(self, x: np.ndarray, t_s: float, x_max: float, signed: bool) -> AnalogMatrix:
        """:meth:`calibrate` on checked inputs ``x`` (a shard: its rows of the calibration
        set) with the input range of the whole set, ``max|x_cal|`` and its sign."""
        enc = InputEncoder(x_max, signed, self.hw)
        codes = enc.codes(x)
        self._gain, self._fe_var = [], []
        for r0, r1, block in self.blocks:
            read = array_read(block, t_s, enc, np.float64, cache=False, noise=False)
            cur = []
            for p in range(enc.n_planes):
                c = read.currents(enc.drive(codes, p, np.float64, r0=r0, r1=r1)[0], None, p,
                                  x=x[:, r0:r1], codes=codes[:, r0:r1], noisy=False)[0]
                cur.append(c if enc.n_planes == 1 else c.copy())   # c: a scratch array
            cur = cur[0] if enc.n_planes == 1 else np.concatenate(cur)
            del read
            gains, c = [], 0
            for tile in block.tiles:
                gains.append(frontend.calibrate(tile, cur[:, c:c + tile.n_signal]))
                c += tile.n_signal
            self._gain.append(np.concatenate(gains))
            self._fe_var.append(np.concatenate([frontend.noise_a2(t) for t in block.tiles]))
        self.encoder = enc
        self._per_vector = self._counts_per_vector()
        self._factors, self._comp_counts = {}, {}
        if self.hw.drift_compensation != "none" and not self._sharded:
            self._reference_at_programming(x)     # a sharded matrix chains its shards'
        return self

    def use_analog_output(self, *, step_clock: bool = False) -> AnalogMatrix:
        """Hand the column currents to analog circuits (neuron membranes) instead of the ADCs.

        ``step_clock``: the consumer needs every time step to last a read cycle, with or
        without events (an analog membrane whose leak is calibrated per step), so spike
        inputs are not skipped in time (their energy stays event-driven).

        :meth:`matmul` then returns the analog column signal in weight units, the read noise
        included and clipped to the calibrated range, without quantisation; it counts no ADC
        conversion, shift-add or output-buffer write (the consumer counts what it does).
        Needs unsliced weights (one column pair per output, ``bits_per_cell`` covering the
        weight) so every output is one physical current.
        """
        tc = self.hw.tile
        step_clock = check_bool("step_clock", step_clock, "AnalogMatrix.use_analog_output")
        if n_slices(tc.weight_bits, tc.bits_per_cell, tc.weight_mapping, tc.quantize) > 1:
            fail("hw", "AnalogMatrix.use_analog_output", "a tile with unsliced weights "
                 "(bits_per_cell large enough for weight_bits)",
                 f"weight_bits={tc.weight_bits}, bits_per_cell={tc.bits_per_cell}")
        self.analog_output = True
        self._step_clock = bool(step_clock)
        if self.encoder is not None:
            self._per_vector = self._counts_per_vector()
        return self

    @property
    def event_driven(self) -> bool:
        """Whether a vector-cycle without any driven row costs no read cycle in time: spike
        inputs with ``skip_zero_inputs``, unless a consumer keeps the step clock."""
        return self.spike_input and self.hw.tile.skip_zero_inputs and not self._step_clock

    @property
    def _drive_count(self) -> str:
        """The OpCounts field of this matrix's row-driver events: ``"dac_conversions"`` for
        multi-level amplitude drives, ``"row_pulses"`` for binary pulses."""
        enc = self.encoder
        pulses = (self.spike_input or enc.encoding != "amplitude"
                  or (enc.quantize and enc.c_max <= 1))
        return "row_pulses" if pulses else "dac_conversions"

    @property
    def amps_per_unit(self) -> float:
        """Signal current of a column per unit of its output, ``y = I / amps_per_unit`` [A]
        (after :meth:`calibrate`): row volts per unit input over the digital weight of the
        column (:class:`~cimsim.array.mapping.WeightMapping`)."""
        if self.encoder is None:
            raise fail("x", "AnalogMatrix.amps_per_unit", "preceded by calibrate(x_cal)",
                       "an uncalibrated matrix")
        enc = self.encoder
        volts_per_unit = enc.plane_volts_per_code(0) / enc.x_lsb
        return float(volts_per_unit / self.tiles[0].mapping.digital_weight[0])

    # --- drift compensation ------------------------------------------------------------------

    def _reference_at_programming(self, x_cal: np.ndarray, carry: tuple | None = None):
        """Pick the reference vectors among the calibration inputs and read them at
        ``hw.drift_reference_t_s``; charge that read's energy to programming. A shard
        (``carry``, as :meth:`_execute`'s) continues the counts of the shards before it and
        returns ``(None, e_out, ops)`` (the sharded matrix charges the energy)."""
        from .compensation import (
            PROGRAMMING_READ,
            READ_STRIDE,
            REFERENCE_OFFSET,
            REFERENCE_VECTORS,
        )

        n = x_cal.shape[0]
        rows = np.unique(np.linspace(0, n - 1, min(n, REFERENCE_VECTORS)).astype(np.int64))
        self._x_ref = np.ascontiguousarray(x_cal[rows])
        self._ref_cols, *counts = self._execute(
            self._x_ref, self.hw.drift_reference_t_s,
            PROGRAMMING_READ * READ_STRIDE + REFERENCE_OFFSET, None, columns=True, carry=carry)
        if carry is not None:
            return (None, *counts)
        self._reference_energy_j = _read_energy_j(counts[0], self.hw)
        return None

    def _reference_read(self, t_s: float, sample0: int, carry: tuple | None = None):
        """The reference read that compensates a read at ``t_s`` starting at stream position
        ``sample0`` (:func:`cimsim.tile.compensation.reference_plan`): its cache key, the
        factors per block and its counts (with ``carry``, as :meth:`_execute`'s, the
        continued ``(None, e_out, ops)`` of a shard)."""
        from . import compensation as comp

        key, t_read, position = comp.reference_plan(self.hw, t_s, sample0)
        now, *counts = self._execute(self._x_ref, t_read, position, None, columns=True,
                                     carry=carry)
        factors = []
        for ref, cur, (_r0, _r1, block) in zip(self._ref_cols, now, self.blocks, strict=True):
            if self.hw.drift_compensation == "global":
                factors.append(comp.global_factors(ref, cur, [t.n_signal for t in block.tiles]))
            else:
                factors.append(comp.affine_factors(ref, cur))
        self._factors[key] = factors
        return key, factors, (counts[0] if carry is None else (None, *counts))

    def _compensation(self, t_s: float, sample0: int) -> list | None:
        """The compensation factors (per block) for a read at ``t_s`` starting at stream
        position ``sample0`` (its read index ``sample0 // READ_STRIDE``), computed once."""
        from . import compensation as comp

        if self.hw.drift_compensation == "none":
            return None
        key = comp.reference_plan(self.hw, t_s, sample0)[0]
        if key not in self._factors:
            _key, _factors, counts = self._reference_read(t_s, sample0)
            if key[0] == "recalibration":     # the one recalibration read: programming
                self._reference_energy_j += _read_energy_j(counts, self.hw)
            else:
                self._comp_counts[key] = counts
        return self._factors[key]

    def _front_end_var(self, k: int, factors) -> np.ndarray | None:
        """The front ends' own noise of row block ``k`` per signal column [A²]
        (:func:`cimsim.tile.frontend.noise_a2`), None without read noise or for analog
        consumers. A recalibrated gain ``a`` (per-column compensation) is a capacitor
        ``C_int/a``: its kT/C noise referred to the current is ``1/a`` times as large."""
        if not self.hw.read_noise or self.analog_output or not self._fe_var:
            return None
        var = self._fe_var[k]
        return var if factors is None else var / factors[k].gain

    @property
    def adc_rounds_per_cycle(self) -> int:
        """Sequential conversions per ADC in one cycle, the largest over the tiles [-]."""
        return max(t.adc_rounds_per_cycle for t in self.tiles)

    def _geometry(self) -> dict[str, int]:
        """What the per-vector counts need of the tiles: driven rows and converted columns
        summed over the tiles, their number and the largest sequential conversions per ADC
        (a sharded matrix adds its shards', :mod:`cimsim.tile.distributed`)."""
        return {"rows": sum(t.rows_used for t in self.tiles),
                "signal": sum(t.n_signal for t in self.tiles),
                "n_tiles": self.n_tiles, "adc_rounds": self.adc_rounds_per_cycle}

    def _counts_per_vector(self, geometry: dict[str, int] | None = None) -> dict[str, int]:
        """The counts of one input vector that do not depend on its values (see the module
        docstring), for the calibrated encoder and the tiles' ``geometry`` (default this
        matrix's, :meth:`_geometry`)."""
        planes = self.encoder.n_planes
        geo = self._geometry() if geometry is None else geometry
        rows = geo["rows"]            # driven rows, over all tiles
        signal = geo["signal"]        # converted columns
        fixed = {"macs": self.in_features * self._out_total}
        if not self.event_driven:       # else counted per vector (-cycle) with an event
            fixed.update(cycles=planes * geo["n_tiles"],
                         adc_rounds=planes * geo["adc_rounds"],
                         sram_write_bits=self._out_total * self.accumulator_bits)
        if not self.hw.tile.skip_zero_inputs:      # every row and column, every cycle
            fixed.update(adc_conversions=planes * signal, shift_adds=planes * signal,
                         sram_read_bits=rows * self.hw.tile.input_bits)
            if self.encoder.encoding != "level_crossing":
                fixed[self._drive_count] = planes * rows
        if self.analog_output:     # the column currents go to analog consumers
            fixed.update(adc_conversions=0, shift_adds=0, adc_rounds=0, sram_write_bits=0)
        return fixed

    # --- execution -----------------------------------------------------------------------

    def matmul(self, x, *, t_s: float | None = None, sample_offset: int | None = None):
        """Compute ``x @ W`` on the tiles.

        Parameters
        ----------
        x : array_like, shape (batch, in_features) or (in_features,)
            Inputs [-] (a 1-D vector is a batch of one; the result is then (1, out)).
        t_s : float, optional
            Read time after programming [s] (default ``hw.t_s``).
        sample_offset : int, optional
            Position of ``x[0]`` in this matrix's stream of vectors (selects the read-noise
            numbers), an integer in ``[0, device_models.rng.MAX_OFFSET]``; default: continue
            after the previous call.

        Returns
        -------
        y : ndarray, shape (batch, out_features)
            Digital result [-].
        ops : OpCounts
            Operations of this call.

        Notes
        -----
        Each of ``numba.get_num_threads()`` threads runs the whole pipeline (row drive, GEMMs
        on single-threaded BLAS, read-out) on its own slice of the batch, in chunks of at
        most :data:`CHUNK_VECTORS` vectors (:mod:`cimsim.kernels.parallel`); every vector's result
        depends only on its inputs and stream position, so chunking and thread count do not
        change the numbers (up to BLAS rounding, see :mod:`cimsim.tile.state`), and the counts are
        sums over fixed chunks of vectors.
        """
        caller = "AnalogMatrix.matmul"
        if self.encoder is None:
            raise fail("x", caller, "preceded by calibrate(x_cal) (input and ADC ranges unset)",
                       "an uncalibrated matrix")
        # quantised inputs on the Numba kernels: the row-drive kernels notice NaN / inf in
        # passing (then the full check below names the entry); elsewhere check first
        in_kernel = backend() == "numba" and self.hw.tile.quantize
        x_in = x
        x = self._check_x(x, caller, finite=not in_kernel)
        if self.spike_input:    # a spike drives its row as one pulse: 0 or 1 only
            check_binary("x", x, f"{caller} (spike input{', ' + self.name if self.name else ''})",
                         what="binary spikes (every entry 0 or 1)")
        t_s = self.hw.t_s if t_s is None else check_scalar("t_s", t_s, caller, lo=0.0)
        if sample_offset is not None:
            self._sample = rng.check_offset("sample_offset", sample_offset, caller)
        factors = self._compensation(t_s, self._sample)
        try:
            out, ops = self._execute(x, t_s, self._sample, factors)
        except NonFiniteInput:
            self._check_x(x_in, caller)     # raises, naming the first NaN / inf
            raise
        self._sample += x.shape[0]
        return out, ops

    def _execute(self, x, t_s: float, sample0: int, factors, *, columns: bool = False,
                 carry: tuple | None = None):
        """Run vectors ``x`` (stream positions ``sample0 …``) on the tiles at ``t_s`` with the
        compensation ``factors`` (None: none): the outputs (batch, out) and their counts, or
        with ``columns`` per row block the digital value of every converted column
        (batch, n_signal), before the columns are added into the outputs.

        ``carry = (out, e_out, ops)``: the accumulators and counts left by the row blocks
        before this matrix's (a shard, :mod:`cimsim.tile.distributed`); its blocks add into
        them in order, as the next blocks of one matrix would; ``(None, None, None)`` starts
        them (the first shard). With ``carry`` it returns ``(out, e_out, ops)`` and leaves the
        compensation offsets to the caller (added after the last shard's blocks, as after a
        local matrix's); with ``columns`` only ``e_out`` and ``ops`` are carried.
        """
        chained = carry is not None and carry[2] is not None
        enc = self.encoder
        n_b = x.shape[0]
        x = np.ascontiguousarray(x)
        cells = [array_read(block, t_s, enc, self._dtype)   # built before threading
                 for _r0, _r1, block in self.blocks]
        if columns:    # the first block's first read assigns e_out (and its columns)
            out = [np.zeros((n_b, block.n_signal)) for _, _, block in self.blocks]
        elif chained:
            out = np.array(carry[0])     # a writable copy
        else:
            out = np.empty((n_b, self.out_features))  # the first read of each chunk assigns
        e_out = np.array(carry[1]) if chained else np.empty(n_b)
        n_ch = -(-n_b // CHUNK)
        accs = [np.zeros((n_ch, 3, r1 - r0)) for r0, r1, _ in self.blocks]
        # per block and chunk: vector-cycles that drive a row, non-zero inputs (integers)
        reads = np.zeros((len(self.blocks), 2, n_ch), dtype=np.int64)
        # per chunk: vector-cycles and vectors in which a row of any block is driven
        # (event-driven reads)
        steps = np.zeros((n_ch, 2), dtype=np.int64) if self.event_driven else None

        def job(b0, b1):     # one thread's slice, b0 on a CHUNK boundary
            for c0 in range(b0, b1, CHUNK_VECTORS):
                c1 = min(c0 + CHUNK_VECTORS, b1)
                part = ([o[c0:c1] for o in out] if columns else out[c0:c1])
                self._run(x[c0:c1], part, e_out[c0:c1],
                          [a[c0 // CHUNK: -(-c1 // CHUNK)] for a in accs],
                          reads[:, :, c0 // CHUNK], t_s, sample0 + c0, factors, columns,
                          None if steps is None else steps[c0 // CHUNK: c0 // CHUNK + 1],
                          carried=chained)

        with blas_single_thread():
            for_row_slices(job, n_b, align=CHUNK, min_rows=MIN_SLICE_VECTORS)
        if factors is not None and not columns and carry is None:
            for (_r0, _r1, block), f in zip(self.blocks, factors, strict=True):
                np.add.at(out.T, block.out_index, np.broadcast_to(f.offset[:, None],
                                                                  (f.offset.size, n_b)))
        ops = (OpCounts(**vars(carry[2])) if chained
               else OpCounts(**{k: n_b * v for k, v in self._per_vector.items()}))
        if steps is not None:     # event-driven: only the vector-cycles with a spike
            active, vectors = (int(v) for v in steps.sum(axis=0))
            ops.cycles = active * self.n_tiles
            if not self.analog_output:
                ops.adc_rounds = active * self.adc_rounds_per_cycle
                ops.sram_write_bits = vectors * self.out_features * self.accumulator_bits
        skip = self.hw.tile.skip_zero_inputs
        drive = self._drive_count
        for k, ((r0, r1, block), acc) in enumerate(zip(self.blocks, accs, strict=True)):
            stats = enc.row_stats(acc)
            tot = stats.sum(axis=1)      # each row's sum as stats[k].sum() gives it
            driven = int(round(float(tot[2])))
            events = int(round(float(tot[3])))
            v2 = float(tot[1])
            n_t = len(block.tiles)
            ops.cell_read_energy_j += cells[k].energy_j(stats, x[:, r0:r1])
            for tile in block.tiles:
                ops.row_drive_v2 += v2
                ops.cell_reads += driven * tile.n_phys
            if skip or enc.encoding == "level_crossing":
                setattr(ops, drive, getattr(ops, drive) + events * n_t)
            if skip:
                if not self.analog_output:
                    active = int(reads[k, 0].sum())
                    ops.adc_conversions += active * block.n_signal
                    ops.shift_adds += active * block.n_signal
                nonzero = int(reads[k, 1].sum()) if enc.n_planes > 1 else driven
                ops.sram_read_bits += nonzero * self.hw.tile.input_bits * n_t
        ops.adc_switching_energy_j = 0.0 if self.analog_output else float(e_out.sum())
        return (out, ops) if carry is None else (out, e_out, ops)

    def _run(self, x, out, e_out, accs, reads, t_s, sample0, factors=None, columns=False,
             steps=None, carried=False):
        """Drive, GEMMs and read-out of a sub-batch (vectors ``sample0 …``) on the calling
        thread: outputs into ``out``/``e_out`` (with ``columns``, ``out`` is a list of per-block
        column arrays), row-drive sums into ``accs`` (per block), and per block the
        vector-cycles that drive a row and the non-zero inputs into ``reads`` (blocks × 2).
        ``factors`` (per block, :class:`~cimsim.tile.compensation.Factors`) multiply each
        column's front-end gain and its digital weight. ``steps`` (one-element view), if
        given, receives the vector-cycles and the vectors in which a row of any block is
        driven. ``carried``: ``out`` and ``e_out`` hold earlier row blocks' sums (add to them)."""
        hw, tc, enc = self.hw, self.hw.tile, self.encoder
        n_b = x.shape[0]
        dtype = self._dtype
        # single-cycle encodings form the codes inside the row-drive pass
        codes = enc.codes(x, parallel=False) if enc.n_planes > 1 else None
        noisy = hw.read_noise
        skip = tc.skip_zero_inputs
        per_cell = noisy and tc.read_noise_model == "per_cell"
        nz = workspace("nz", (n_b,), np.int32)
        if steps is not None:
            anyrow = np.zeros((enc.n_planes, n_b), dtype=bool)
        for k, ((r0, r1, block), gain, acc, ident) in enumerate(
                zip(self.blocks, self._gain, accs, self._ident, strict=True)):
            cells = array_read(block, t_s, enc, dtype)     # array read: cell law × wires
            coef0 = np.concatenate([t.mapping.digital_weight for t in block.tiles]) / gain
            fe_var = self._front_end_var(k, factors)
            if factors is not None:     # drift compensation: recalibrated gain, digital scale
                gain = gain * factors[k].gain
                coef0 = coef0 * factors[k].digital
            dest, index = ((out[k], np.arange(block.n_signal)) if columns
                           else (out, block.out_index))
            first = k == 0 and not carried     # assigns out (columns: out[0]) and e_out
            xr = x[:, r0:r1]
            cr = None if codes is None else codes[:, r0:r1]
            if skip and codes is not None:
                reads[k, 1] += np.count_nonzero(cr)
            table = cells.operand_table(per_cell) if noisy else None
            # the operand's bfloat16 bits straight into the variance GEMM's packed layout
            packing = cells.packed_operand(per_cell, n_b) if table is not None else None
            # bit-planes read by table look-up: every plane's patterns from the codes at once,
            # and all planes' row-drive sums in one pass, without voltages
            pats = cells.plane_patterns(cr, per_cell) if codes is not None else None
            if pats is not None:
                nz_planes = workspace("nz_planes", (enc.n_planes, n_b), np.int32)
                enc.drive_planes(codes, r0=r0, r1=r1, acc=acc, nz=nz_planes)
                self._read_planes(cells, block, cr, pats, nz_planes, gain, coef0, fe_var, dest,
                                  index, ident or columns, first, e_out, reads[k],
                                  anyrow if steps is not None else None, sample0)
                continue
            for p in range(enc.n_planes):
                v, v2, _ = enc.drive(codes, p, dtype, r0=r0, r1=r1,
                                     squares=noisy and cells.squares(per_cell), x=x,
                                     acc=acc, nz=nz,
                                     code_table=table if packing is None else packing[0],
                                     packed=None if packing is None else packing[1])
                if skip:
                    reads[k, 0] += np.count_nonzero(nz)
                if steps is not None:
                    anyrow[p] |= nz != 0
                mean, var_own, var_ref = cells.currents(
                    v, v2, p, x=xr, codes=cr, noisy=noisy, per_cell=per_cell,
                    per_cell_args=dict(seed=hw.seed, seed_tag=self.seed_tag, sample0=sample0,
                                       plane=p, n_planes=enc.n_planes),
                    operand=table is not None, var_add=None if per_cell else fe_var)
                # the front end's own noise (reset kT/C, R_f): var_add above, or per cell
                if fe_var is not None and per_cell:
                    rows = (np.arange(sample0, sample0 + n_b, dtype=np.uint64)
                            * np.uint64(enc.n_planes) + np.uint64(p))
                    cols = np.arange(block.col0, block.col0 + block.n_signal)
                    mean = mean + np.sqrt(fe_var).astype(mean.dtype) * zig.normals_np(
                        self._key_fe, zig.slow_key(self._key_fe), rows, cols)
                coef = coef0 * (enc.x_lsb / enc.plane_volts_per_code(p))
                analog_read(mean, var_own, var_ref, block.ref_idx, gain, coef, index,
                            block.adc_of, block.adcs, key=self._key, key_ref=self._key_ref,
                            key_c=self._key_c, sample0=sample0, plane=p,
                            n_planes=enc.n_planes, col0=block.col0, ref0=block.ref0, out=dest,
                            e_out=e_out, exact=not tc.quantize or self.analog_output,
                            assign=first and p == 0, ident=ident or columns,
                            active=nz if skip else None)
        if steps is not None:
            steps[0, 0] += np.count_nonzero(anyrow)
            steps[0, 1] += np.count_nonzero(anyrow.any(axis=0))

    def _read_planes(self, cells, block, codes, pats, nz_planes, gain, coef0, fe_var, dest,
                     index, ident, first, e_out, reads, anyrow, sample0):
        """The bit-planes of one row block read from their look-up patterns ``pats``
        (:meth:`_run`'s arguments of the block): every plane's exact sums in one pass over
        the tables (:meth:`~cimsim.tile.cells.ArrayRead.plane_sums`), then, for each run of
        :data:`PLANE_BLOCK_VECTORS` vectors, each plane's currents and read-out in plane
        order, while those vectors' sums and outputs are in the cache. Every vector's
        numbers (noise stream position, plane order of its shift-adds and energies) are those
        of a read of the whole batch one plane at a time."""
        enc, tc = self.encoder, self.hw.tile
        n_b = codes.shape[0]
        skip = tc.skip_zero_inputs
        for p in range(enc.n_planes):
            if skip:
                reads[0] += np.count_nonzero(nz_planes[p])
            if anyrow is not None:
                anyrow[p] |= nz_planes[p] != 0
        sums = cells.plane_sums(codes, pats, {p: int(nz_planes[p].sum())
                                              for p in range(enc.n_planes)})
        coefs = [coef0 * (enc.x_lsb / enc.plane_volts_per_code(p)) for p in range(enc.n_planes)]
        exact = not tc.quantize or self.analog_output
        for b0 in range(0, n_b, PLANE_BLOCK_VECTORS):
            b1 = min(b0 + PLANE_BLOCK_VECTORS, n_b)
            for p in range(enc.n_planes):
                mean, var_own, var_ref = cells.plane_currents(   # with the front ends' noise
                    sums, p, b0, b1, self.hw.read_noise, var_add=fe_var)
                analog_read(mean, var_own, var_ref, block.ref_idx, gain, coefs[p], index,
                            block.adc_of, block.adcs, key=self._key, key_ref=self._key_ref,
                            key_c=self._key_c, sample0=sample0 + b0, plane=p,
                            n_planes=enc.n_planes, col0=block.col0, ref0=block.ref0,
                            out=dest[b0:b1], e_out=e_out[b0:b1],
                            exact=exact, assign=first and p == 0, ident=ident,
                            active=nz_planes[p, b0:b1] if skip else None)

    def matmul_series(self, x_seq, *, t_s: float | None = None,
                      sample_offset: int | None = None, state: dict | None = None):
        """Compute ``x_s @ W`` for every step ``s`` of a time series of input vectors.

        With ``tile.input_encoding = "level_crossing"`` the rows send only the changes: at step
        ``s`` each row fires ``|D_s − D_{s−1}|`` events (``D_{−1} = 0``,
        :mod:`device_models.encoding`), and the column integrators are not reset between
        steps, so they hold the charge of every event so far, ``Σ_{s'≤s} ΔD_{s'} = D_s``: the
        ADC reads the current value at every step while energy is spent only on changes. The
        read noise of the events accumulates on the held charge (each step's events add
        ``(ΔD_s·V̄)² @ σ²`` of variance, drawn once and carried on, beside the integrators'
        reset noise, drawn once when a series starts). A tile whose rows see no event in a
        step does not convert (``skip_zero_inputs``): its previous result stands. Drift
        compensation (``hw.drift_compensation``) applies as in :meth:`matmul`: the factors of
        the read at ``t_s`` that starts at the series' first stream position.
        Other encodings read every step afresh (the same numbers as :meth:`matmul` called
        step after step).

        Parameters
        ----------
        x_seq : array_like, shape (steps, batch, in_features)
            Inputs [-].
        t_s : float, optional
            Read time after programming [s] (default ``hw.t_s``).
        sample_offset : int, optional
            Stream position of ``x_seq[0, 0]``; vector ``b`` of step ``s`` is position
            ``sample_offset + s·batch + b`` (as :meth:`matmul` per step).
        state : dict, optional
            Level crossing: a series to continue, updated in place (the last codes, the
            integrators' held noise and the results of each tile); pass ``{}`` to start one
            and the same dict with the next steps (e.g. one step per call from a recurrent
            layer). Default: a new series from code 0.

        Returns
        -------
        y : ndarray, shape (steps, batch, out_features)
            Digital results [-].
        ops : OpCounts
            Operations of the whole series.
        """
        caller = "AnalogMatrix.matmul_series"
        if self.encoder is None:
            raise fail("x_seq", caller, "preceded by calibrate(x_cal) (input and ADC ranges "
                       "unset)", "an uncalibrated matrix")
        x_seq = check_array("x_seq", x_seq, caller, ndim=3)
        if x_seq.shape[2] != self.in_features:
            fail("x_seq", caller, f"of shape (steps, batch, {self.in_features})",
                 f"array of shape {x_seq.shape}")
        t_s = self.hw.t_s if t_s is None else check_scalar("t_s", t_s, caller, lo=0.0)
        if sample_offset is not None:
            self._sample = int(sample_offset)
        n_steps, n_b = x_seq.shape[:2]
        if self.encoder.encoding != "level_crossing":
            ys, ops = [], OpCounts()
            for s in range(n_steps):
                y, o = self.matmul(x_seq[s], t_s=t_s)
                ys.append(y)
                ops += o
            return np.stack(ys) if ys else np.zeros((0, n_b, self.out_features)), ops
        if self.hw.read_noise and self.hw.tile.read_noise_model == "per_cell":
            fail("hw", caller, "read_noise_model 'variance' for a level-crossing series",
                 "'per_cell'")
        return self._series_level_crossing(x_seq, t_s, {} if state is None else state)

    def _series_level_crossing(self, x_seq, t_s, state):
        """:meth:`matmul_series` for level-crossing inputs (float64, NumPy and BLAS)."""
        hw, tc, enc = self.hw, self.hw.tile, self.encoder
        n_steps, n_b = x_seq.shape[:2]
        skip = tc.skip_zero_inputs
        sample0 = self._sample
        factors = self._compensation(t_s, sample0)
        key = rng.derive_key(hw.seed, "level_crossing_noise", self.seed_tag)
        key_ref = rng.derive_key(hw.seed, "level_crossing_noise_ref", self.seed_tag)
        y = np.zeros((n_steps, n_b, self.out_features))
        if not state:
            state.update(
                codes=np.zeros((n_b, self.in_features), dtype=enc.codes(x_seq[0, :0]).dtype),
                results=np.zeros((len(self.blocks), n_b, self.out_features)),
                held=[np.zeros((n_b, b.n_signal)) for _, _, b in self.blocks],   # noise [A]
                held_ref=[np.zeros((n_b, b.n_refs)) for _, _, b in self.blocks])
            rows = np.arange(sample0, sample0 + n_b, dtype=np.uint64)
            for k, (_r0, _r1, block) in enumerate(self.blocks):   # the integrators' reset
                fe_var = self._front_end_var(k, factors)
                if fe_var is not None:
                    cols = np.arange(block.col0, block.col0 + block.n_signal)
                    state["held"][k] += np.sqrt(fe_var) * zig.normals_np(
                        self._key_fe, zig.slow_key(self._key_fe), rows, cols)
        if state["codes"].shape != (n_b, self.in_features):
            fail("state", "AnalogMatrix.matmul_series", f"a series of batch {n_b}",
                 f"one of batch {state['codes'].shape[0]}")
        contrib, held, held_ref = state["results"], state["held"], state["held_ref"]
        empty = np.zeros((n_b, 0))
        prev = state["codes"]
        ops = OpCounts(**{k: n_b * n_steps * v for k, v in self._per_vector.items()})
        for s in range(n_steps):
            codes = enc.codes(x_seq[s])
            prev_codes, prev = prev, codes
            delta = codes - prev_codes
            first = sample0 + s * n_b
            rows = np.arange(first, first + n_b, dtype=np.uint64)
            e_out = np.zeros(n_b)
            for k, ((r0, r1, block), gain) in enumerate(zip(self.blocks, self._gain,
                                                            strict=True)):
                cells = array_read(block, t_s, enc, np.float64)
                nz = np.empty(n_b, dtype=np.int32)
                acc = np.zeros((-(-n_b // CHUNK), 3, r1 - r0))
                v_delta = enc.drive(codes, 0, np.float64, r0=r0, r1=r1, acc=acc, nz=nz,
                                    prev=prev_codes)[0].copy()
                v_codes = enc.drive(codes, 0, np.float64, r0=r0, r1=r1)[0]
                mean = cells.currents(v_codes, None, 0, x=None, codes=codes[:, r0:r1],
                                      noisy=False)[0].copy()
                if hw.read_noise:     # this step's events add their noise to the held charge
                    _, var_own, var_ref = cells.currents(
                        v_delta, v_delta * v_delta, 0, x=None, codes=delta[:, r0:r1])
                    cols = np.arange(block.col0, block.col0 + block.n_signal)
                    held[k] += np.sqrt(var_own) * zig.normals_np(
                        key, zig.slow_key(key), rows, cols)
                    if block.n_refs:
                        refs = np.arange(block.ref0, block.ref0 + block.n_refs)
                        held_ref[k] += np.sqrt(var_ref) * (
                            zig.normals_np(key_ref, zig.slow_key(key_ref), rows, refs))
                    has = block.ref_idx >= 0
                    mean = mean + held[k]
                    mean[:, has] -= held_ref[k][:, block.ref_idx[has]]
                coef = (np.concatenate([t.mapping.digital_weight for t in block.tiles]) / gain
                        * (enc.x_lsb / enc.plane_volts_per_code(0)))
                if factors is not None:   # drift compensation: recalibrated gain, digital scale
                    gain = gain * factors[k].gain
                    coef = coef * factors[k].digital
                part = np.zeros((n_b, self.out_features))
                analog_read(np.ascontiguousarray(mean), empty, empty, block.ref_idx, gain, coef,
                            block.out_index, block.adc_of, block.adcs, key=self._key,
                            key_ref=self._key_ref, key_c=self._key_c, sample0=first, plane=0,
                            n_planes=1, col0=block.col0, ref0=block.ref0, out=part,
                            e_out=e_out, exact=not tc.quantize, ident=self._ident[k],
                            active=nz if skip else None)
                if factors is not None:
                    np.add.at(part.T, block.out_index, np.broadcast_to(
                        factors[k].offset[:, None], (factors[k].offset.size, n_b)))
                # no event in this step: the integrators hold, the previous result stands
                conv = nz != 0 if skip else np.ones(n_b, dtype=bool)
                contrib[k][conv] = part[conv]
                stats = enc.row_stats(acc)
                n_t = len(block.tiles)
                ops.cell_read_energy_j += cells.energy_j(stats, delta[:, r0:r1], codes=True)
                for tile in block.tiles:
                    ops.row_drive_v2 += float(stats[1].sum())
                    ops.cell_reads += int(round(float(stats[2].sum()))) * tile.n_phys
                drive = self._drive_count
                setattr(ops, drive, getattr(ops, drive) + int(round(float(stats[3].sum()))) * n_t)
                if skip:
                    n_conv = int(np.count_nonzero(conv))
                    ops.adc_conversions += n_conv * block.n_signal
                    ops.shift_adds += n_conv * block.n_signal
                    ops.sram_read_bits += (int(np.count_nonzero(delta[:, r0:r1]))
                                           * tc.input_bits * n_t)
            y[s] = contrib.sum(axis=0)
            ops.adc_switching_energy_j += float(e_out.sum())
        state["codes"] = prev
        self._sample += n_b * n_steps
        return y, ops

    @property
    def _v_unit(self) -> float | None:
        """Row voltage [V] of a driven row when every drive is 0 or that voltage (bit-serial
        cycles of unsigned inputs), else None."""
        enc = self.encoder
        if enc is not None and enc.encoding == "bit_serial" and not enc.signed:
            return enc.v_read_v
        return None

    @property
    def accumulator_bits(self) -> int:
        """Width of the digital output accumulator [bit]: ADC code plus the growth from
        slice significance, bit-planes and the number of row blocks."""
        tc = self.hw.tile
        k = n_slices(tc.weight_bits, tc.bits_per_cell, tc.weight_mapping, tc.quantize)
        planes = self.encoder.n_planes if self.encoder is not None else 1
        return (tc.adc_bits + tc.bits_per_cell * (k - 1) + (planes - 1)
                + math.ceil(math.log2(-(-self.in_features // tc.rows)))
                + (1 if k > 1 or planes > 1 else 0))

    def __repr__(self) -> str:
        return (f"AnalogMatrix(name={self.name!r}, shape=({self.in_features}, "
                f"{self.out_features}), n_tiles={self.n_tiles})")
