"""One large matrix over many machines: an :class:`~cimsim.tile.matrix.AnalogMatrix` whose
tiles live on Dask workers, split by row blocks (partial sums passed on) and by tile columns.

A matrix of ``K = ⌈in_features / tile.rows⌉`` row blocks computes, for each vector ``x``,

.. math::

    y = \\sum_{k=0}^{K-1} y_k, \\qquad
    y_k[o] = \\sum_{c \\in C_k(o)} \\mathrm{coef}_c \\, \\mathrm{ADC}_c\\big(I_c(x_{r_k})\\big),

where row block ``k`` reads the inputs ``x_{r_k}`` (rows ``k·rows … (k+1)·rows − 1``) on its
tiles and ``C_k(o)`` are its converted columns (slices, bit-planes) of output ``o``. The chip
adds the digitised columns into one accumulator, block after block, column after column; the
float sum is evaluated in exactly that order. :class:`ShardedMatrix` splits the ``K`` blocks
into ``S`` contiguous shards ``[k_s, k_{s+1})``, one per worker (round robin), and keeps the
order: shard ``s`` receives the accumulator left by shards ``0 … s−1`` (outputs, ADC
switching energy per vector and the counts so far) and adds its own blocks into it,

.. math::

    A_{s+1} = A_s + \\sum_{k=k_s}^{k_{s+1}-1} y_k \\quad(\\text{added in that order}),
    \\qquad y = A_S,

as the partial sums of a chip travel from one group of tiles to the next. The result, and
every count and energy, are the numbers of the local matrix (the same float operations in
the same order). Batches longer than ``batch_size`` run in chunks that pipeline through the
shards (chunk ``j`` on shard ``s`` while chunk ``j+1`` is on shard ``s−1``); they equal local
:meth:`~cimsim.tile.matrix.AnalogMatrix.matmul` calls on the same chunks.

Column groups (``col_shards``): the tile columns split into ``G`` contiguous runs, each
group's outputs ``y[:, o_g … o_{g+1})`` computed by its own chain of row shards, side by side;
the result is their concatenation, their counts added in group order. An output is a sum
over its own converted columns only, with the local tiles' streams (indices, stream columns,
ADCs), so a group's outputs are the local matrix's as far as the array read of a narrower
block gives the same column currents: with float64 work (converters finer than
:data:`~cimsim.tile.state.FLOAT32_MAX_BITS` bits or unquantised) and differential pairs they
are bit for bit; with float32 work the fast kernels scale each row block's matrices by
block-wide maxima (int8 digit split, bfloat16 and fixed-point variances) and BLAS rounds a
narrower product differently, so about one ADC code in a few thousand flips. Integer counts
are the local ones; the float sums over the columns of several groups
(``adc_switching_energy_j``, ``cell_read_energy_j``, ``row_drive_v2``) are regrouped, equal
to rounding. Row shards alone (``col_shards = 1``) keep every number bit for bit.

Each worker builds only its piece's tiles (from its rows and columns of the weight, the
matrix's full scale ``max|W|`` and the tile indices of the whole matrix: the counter-based
streams of programming, mismatch and read noise, keyed by seed, matrix, tile and sample, make
them the local matrix's tiles), and calibrates them on its rows of the calibration set with
the whole set's input range ``max|x_cal|`` (each block's front-end gains depend only on its
own rows), so the driver never holds a tile (it keeps a :class:`TileSummary` of each). A row
shard receives only its rows of every input chunk (``x[:, r_s … r_{s+1})``), its column
groups share them.

Drift compensation (``HardwareConfig.drift_compensation``) works as on one chip: the
reference read at programming and the reference read of every read time are reads of the
whole matrix whose counts travel from shard to shard like the accumulator; each piece keeps
the factors of its own tiles (``"global"``: one scale per tile, ``"column"``: per column,
both from that tile's reference columns only), and the ``"column"`` offsets are added after
the last row shard's blocks, in block order, as the local matrix adds them. Event-driven
spike inputs and analog outputs to neuron circuits are not sharded.
"""

from __future__ import annotations

import dataclasses
import uuid

import numpy as np

from device_models import rng
from device_models._checks import check_array, check_int, check_scalar, fail

from ..array.mapping import outputs_per_tile
from ..hardware import HardwareConfig
from ..ops import OpCounts
from .compensation import reference_plan
from .matrix import CHUNK_VECTORS, _read_energy_j, input_range

__all__ = ["ShardedMatrix", "TileSummary"]

#: The pieces built in this worker process, by (matrix token, piece).
_SHARDS: dict[tuple[str, int], object] = {}


@dataclasses.dataclass(frozen=True)
class TileSummary:
    """What the driver keeps of one tile of a sharded matrix (the tile stays on its worker):
    its index in the whole matrix, driven rows and physical columns [-], the fraction of its
    cells used [-] and its programming pulses [-] and energy [J]."""

    index: int
    rows_used: int
    n_phys: int
    utilisation: float
    program_pulses: int
    program_energy_j: float


def _shard_blocks(n_blocks: int, n_shards: int) -> list[tuple[int, int]]:
    """``[(k0, k1), …]``: ``n_shards`` contiguous runs of row blocks covering ``n_blocks``,
    sizes differing by at most one."""
    base, extra = divmod(n_blocks, n_shards)
    bounds, k = [], 0
    for s in range(n_shards):
        n = base + (1 if s < extra else 0)
        bounds.append((k, k + n))
        k += n
    return bounds


def _build(token: str, p: int, part: np.ndarray, hw, shard: tuple, name: str, seed_tag):
    """Worker task: build piece ``p`` (its tiles only); its geometry and its tiles' summaries."""
    from .matrix import AnalogMatrix

    m = AnalogMatrix(part, hw, name=name, seed_tag=seed_tag, _shard=shard)
    _SHARDS[(token, p)] = m
    tiles = [TileSummary(t.index, t.rows_used, t.n_phys, float(t.utilisation),
                         int(t.program_pulses), float(t.program_energy_j)) for t in m.tiles]
    return m._geometry(), tiles


def _calibrate(token: str, p: int, x_cal: np.ndarray, t_s, x_range: tuple[float, bool],
               geometry: dict[str, int] | None):
    """Worker task: calibrate piece ``p`` on its rows of the calibration set with the whole
    set's input range; give it the whole matrix's per-vector counts (``geometry``), or none
    (a column group after the first: counted once, by the first)."""
    m = _SHARDS[(token, p)]
    m._calibrate(x_cal, m.hw.t_s if t_s is None else t_s, *x_range)
    m._per_vector = {} if geometry is None else m._counts_per_vector(geometry)


def _reference_at_programming(token: str, p: int, x_cal: np.ndarray, carry):
    """Worker task: piece ``p``'s reference read at programming, continuing ``carry``."""
    return _SHARDS[(token, p)]._reference_at_programming(
        x_cal, carry=(None, None, None) if carry is None else carry)


def _reference_read(token: str, p: int, t_s: float, sample0: int, carry):
    """Worker task: piece ``p``'s reference read of the read at ``t_s`` starting at
    ``sample0`` (its compensation factors, kept), continuing ``carry``."""
    return _SHARDS[(token, p)]._reference_read(
        t_s, sample0, carry=(None, None, None) if carry is None else carry)[2]


def _run(token: str, p: int, x: np.ndarray, carry, t_s: float, sample0: int, last: bool,
         _after=None):
    """Worker task: piece ``p`` on ``x`` (stream positions ``sample0 …``), continuing the
    accumulator ``carry = (out, e_out, ops, offsets)`` of the row shards before it (None for
    the first). Drift compensation: this piece's factors (from its reference read,
    ``_after``), and their output offsets, added after the last row shard's blocks in block
    order, as a local matrix adds them after its last block."""
    m = _SHARDS[(token, p)]
    factors = m._compensation(t_s, sample0)
    out, e_out, ops = m._execute(x, t_s, sample0, factors,
                                 carry=(None, None, None) if carry is None else carry[:3])
    offsets = [] if carry is None else carry[3]
    if factors is not None:
        offsets = offsets + [(b.out_index, f.offset) for (_, _, b), f in
                             zip(m.blocks, factors, strict=True)]
    if last:
        for index, off in offsets:
            np.add.at(out.T, index, np.broadcast_to(off[:, None], (off.size, out.shape[0])))
        offsets = []
    return out, e_out, ops, offsets


def _refresh(token: str, p: int, t_s: float) -> list[tuple[int, int, float]]:
    """Worker task: per tile of piece ``p``, its index and its refreshes before ``t_s``."""
    return [(t.index, *t.refresh_counts(t_s)) for t in _SHARDS[(token, p)].tiles]


def _drop(token: str) -> int:
    """Worker task: forget the pieces of ``token``; how many there were."""
    keys = [k for k in _SHARDS if k[0] == token]
    for k in keys:
        del _SHARDS[k]
    return len(keys)


class ShardedMatrix:
    """``y = x @ W`` on an analog matrix whose tiles are built and run on the workers of a
    Dask cluster (module docstring): the numbers of :class:`~cimsim.tile.matrix.AnalogMatrix`
    ``(weight, hw, name=name, seed_tag=seed_tag)``.

    Parameters
    ----------
    weight : array_like, shape (in_features, out_features)
        Weight matrix [-]; each piece's rows and columns are sent to its worker.
    hw : HardwareConfig
        The chip.
    client : distributed.Client
        The cluster; piece ``p = g·n_shards + s`` (row shard ``s`` of column group ``g``)
        lives on worker ``(p + first_worker) mod n_workers`` (workers sorted by address).
    n_shards : int, optional
        Contiguous runs of row blocks, ``1 … ⌈in_features / tile.rows⌉`` (default: one per
        worker, at most one per row block).
    col_shards : int, optional
        Contiguous runs of tile columns (column groups), ``1 … ⌈out_features /
        outputs per tile⌉`` (default 1). Column groups run in parallel on every chunk.
    batch_size : int or None
        Default of :meth:`matmul`'s ``batch_size`` (None: every call one chunk, the numbers
        of one local ``matmul`` call).
    first_worker : int
        Worker of piece 0 (several matrices spread over the workers, e.g. a network's).
    name : str
        Label.
    seed_tag : int or str
        As :class:`~cimsim.tile.matrix.AnalogMatrix`'s.

    Notes
    -----
    Call :meth:`calibrate` before :meth:`matmul`, and :meth:`close` (or use ``with``) to free
    the workers' tiles. The driver keeps a :class:`TileSummary` of every tile
    (:attr:`tiles`), enough for a network's floorplan and programming counts.
    """

    def __init__(self, weight, hw: HardwareConfig, *, client, n_shards: int | None = None,
                 col_shards: int | None = None, batch_size: int | None = CHUNK_VECTORS,
                 first_worker: int = 0, name: str = "", seed_tag=0):
        from distributed import Client

        caller = "ShardedMatrix"
        if not isinstance(client, Client):
            fail("client", caller, "a distributed.Client", client)
        if not isinstance(hw, HardwareConfig):
            fail("hw", caller, "a HardwareConfig", hw)
        w = check_array("weight", weight, caller, ndim=2)
        if w.shape[0] == 0 or w.shape[1] == 0:
            fail("weight", caller, "non-empty", f"array of shape {w.shape}")
        workers = sorted(client.scheduler_info().get("workers", {}))
        if not workers:
            fail("client", caller, "a client of a cluster with workers", client)
        t = hw.tile
        per_tile = outputs_per_tile(t.cols, t.weight_bits, t.bits_per_cell, t.weight_mapping,
                                    t.quantize, t.stacking)
        if per_tile < 1:      # AnalogMatrix's message
            from .matrix import AnalogMatrix

            AnalogMatrix(w[:1, :1], hw)
        n_blocks = -(-w.shape[0] // t.rows)
        n_tc = -(-w.shape[1] // per_tile)
        n_shards = min(len(workers), n_blocks) if n_shards is None else n_shards
        n_shards = check_int("n_shards", n_shards, caller, lo=1, hi=n_blocks)
        col_shards = check_int("col_shards", 1 if col_shards is None else col_shards, caller,
                               lo=1, hi=n_tc)
        if batch_size is not None:
            batch_size = check_int("batch_size", batch_size, caller, lo=1)
        first_worker = check_int("first_worker", first_worker, caller, lo=0)
        self.hw, self.name, self.seed_tag = hw, str(name), seed_tag
        self.batch_size = batch_size
        self.in_features, self.out_features = w.shape
        self.shard_blocks = _shard_blocks(n_blocks, n_shards)
        #: Output columns ``[o0, o1)`` of each column group.
        self.col_groups = [(j0 * per_tile, min(j1 * per_tile, w.shape[1]))
                           for j0, j1 in _shard_blocks(n_tc, col_shards)]
        n_pieces = n_shards * col_shards
        self.workers = [workers[(p + first_worker) % len(workers)] for p in range(n_pieces)]
        self._client = client
        self._token = uuid.uuid4().hex
        w_max = float(np.max(np.abs(w)))
        futures = []
        for p, addr in enumerate(self.workers):
            g, s = divmod(p, n_shards)
            (k0, k1), (o0, o1) = self.shard_blocks[s], self.col_groups[g]
            r0, r1 = k0 * t.rows, min(k1 * t.rows, self.in_features)
            part = client.scatter(np.ascontiguousarray(w[r0:r1, o0:o1]), workers=[addr],
                                  hash=False)
            futures.append(client.submit(
                _build, self._token, p, part, hw, (self.in_features, r0, w_max,
                                                   self.out_features, o0),
                self.name, seed_tag, workers=[addr], pure=False))
        built = client.gather(futures)
        geos = [g for g, _ in built]
        #: The tiles' geometry summed over the pieces (the largest ADC rounds).
        self.geometry = {k: sum(g[k] for g in geos) for k in ("rows", "signal", "n_tiles")}
        self.geometry["adc_rounds"] = max(g["adc_rounds"] for g in geos)
        #: One :class:`TileSummary` per tile, in the local matrix's tile order.
        self.tiles = sorted((ts for _, tl in built for ts in tl), key=lambda ts: ts.index)
        self._calibrated = False
        self._sample = 0
        self._reference_energy_j = 0.0
        self._comp_counts: dict = {}
        self._comp_done: dict = {}

    # --- the local matrix's properties --------------------------------------------------------

    @property
    def n_shards(self) -> int:
        """Row shards [-]."""
        return len(self.shard_blocks)

    @property
    def n_tiles(self) -> int:
        """Number of tiles of the whole matrix [-]."""
        return self.geometry["n_tiles"]

    @property
    def utilisation(self) -> float:
        """Fraction of the tiles' cells that hold weights or references [-]."""
        return float(np.mean([t.utilisation for t in self.tiles]))

    @property
    def program_counts(self) -> OpCounts:
        """Programming cost of all tiles, with the reference read at programming (as
        :attr:`AnalogMatrix.program_counts <cimsim.tile.matrix.AnalogMatrix.program_counts>`)."""
        return OpCounts(program_pulses=sum(t.program_pulses for t in self.tiles),
                        program_energy_j=float(sum(t.program_energy_j for t in self.tiles))
                        + self._reference_energy_j)

    def refresh_counts(self, t_s: float) -> OpCounts:
        """Programming pulses and energy of the tiles' refreshes before ``t_s`` [s]."""
        t_s = check_scalar("t_s", t_s, "ShardedMatrix.refresh_counts", lo=0.0)
        per_tile = sorted(r for rs in self._client.gather([
            self._client.submit(_refresh, self._token, p, t_s, workers=[a], pure=False)
            for p, a in enumerate(self.workers)]) for r in rs)
        pulses, energy = 0, 0.0
        for _, p, e in per_tile:
            pulses += p
            energy += e
        return OpCounts(program_pulses=pulses, program_energy_j=energy)

    def compensation_counts(self, t_s: float, read: int = 0) -> OpCounts:
        """Counts of the reference read that compensates read ``read`` at ``t_s`` (as
        :meth:`AnalogMatrix.compensation_counts
        <cimsim.tile.matrix.AnalogMatrix.compensation_counts>`)."""
        caller = "ShardedMatrix.compensation_counts"
        key = (check_scalar("t_s", t_s, caller, lo=0.0), check_int("read", read, caller, lo=0))
        return self._comp_counts.get(key, OpCounts())

    # --- running ------------------------------------------------------------------------------

    def _x(self, x, name: str, caller: str) -> np.ndarray:
        x = check_array(name, x, caller, ndim=(1, 2))
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != self.in_features:
            fail(name, caller, f"of shape (batch, {self.in_features})",
                 f"array of shape {x.shape}")
        return x

    def _rows(self, s: int) -> tuple[int, int]:
        """Input rows ``[r0, r1)`` of row shard ``s``."""
        (k0, k1), rows = self.shard_blocks[s], self.hw.tile.rows
        return k0 * rows, min(k1 * rows, self.in_features)

    def _row_parts(self, x: np.ndarray) -> list:
        """Per row shard, the future of its rows of ``x`` (each shard reads only its own)."""
        return [self._client.scatter(np.ascontiguousarray(x[:, slice(*self._rows(s))]),
                                     hash=False) for s in range(self.n_shards)]

    def _chains(self, task, *args, parts=None) -> list:
        """Per column group, the future of ``task(token, p, [part,] *args, carry)`` run over
        its row shards in order (each continuing the previous one's carry; ``part``: the row
        shard's entry of ``parts``); all the futures, by piece."""
        futures = [None] * len(self.workers)
        for g in range(len(self.col_groups)):
            carry = None
            for s in range(self.n_shards):
                p = g * self.n_shards + s
                head = () if parts is None else (parts[s],)
                carry = futures[p] = self._client.submit(
                    task, self._token, p, *head, *args, carry, workers=[self.workers[p]],
                    pure=False)
        return futures

    def _chain_counts(self, futures) -> OpCounts:
        """The counts of the last row shard of each column group, added in group order."""
        ops = OpCounts()
        for g in range(len(self.col_groups)):
            ops += futures[(g + 1) * self.n_shards - 1].result()[2]
        return ops

    def calibrate(self, x_cal, *, t_s: float | None = None) -> ShardedMatrix:
        """Calibrate every piece on its rows of ``x_cal`` (the same input range and column
        ranges as :meth:`AnalogMatrix.calibrate <cimsim.tile.matrix.AnalogMatrix.calibrate>`,
        and with drift compensation the reference read at programming, its counts carried
        from shard to shard); returns ``self``."""
        caller = "ShardedMatrix.calibrate"
        x = self._x(x_cal, "x_cal", caller)
        if t_s is not None:
            t_s = check_scalar("t_s", t_s, caller, lo=0.0)
        x_range = input_range(x, caller)
        client = self._client
        parts = self._row_parts(x)
        client.gather([
            client.submit(_calibrate, self._token, p, parts[p % self.n_shards], t_s, x_range,
                          self.geometry if p == 0 else None, workers=[addr], pure=False)
            for p, addr in enumerate(self.workers)])
        self._reference_energy_j = 0.0
        self._comp_counts, self._comp_done = {}, {}
        if self.hw.drift_compensation != "none":
            counts = self._chain_counts(self._chains(_reference_at_programming, parts=parts))
            self._reference_energy_j = _read_energy_j(counts, self.hw)
        self._calibrated = True
        return self

    def _compensation(self, t_s: float, sample0: int) -> list | None:
        """The futures of the reference read compensating a read at ``t_s`` from ``sample0``
        (by piece; run once per key, as a local matrix's), or None without compensation."""
        if self.hw.drift_compensation == "none":
            return None
        key = reference_plan(self.hw, t_s, sample0)[0]
        if key not in self._comp_done:
            futures = self._chains(_reference_read, t_s, sample0)
            counts = self._chain_counts(futures)
            if key[0] == "recalibration":    # the one recalibration read: programming
                self._reference_energy_j += _read_energy_j(counts, self.hw)
            else:
                self._comp_counts[key] = counts
            self._comp_done[key] = futures
        return self._comp_done[key]

    def matmul(self, x, *, t_s: float | None = None, sample_offset: int | None = None,
               batch_size: int | None = None):
        """Compute ``x @ W`` over the pieces.

        Parameters
        ----------
        x : array_like, shape (batch, in_features) or (in_features,)
            Inputs [-].
        t_s : float, optional
            Read time after programming [s] (default ``hw.t_s``).
        sample_offset : int, optional
            Stream position of ``x[0]`` (default: continue after the previous call).
        batch_size : int, optional
            Vectors per pipelined chunk (default the matrix's ``batch_size``; None there:
            the whole call).

        Returns
        -------
        y : ndarray, shape (batch, out_features)
            Digital result [-]: the local matrix's ``matmul`` on the same chunks.
        ops : OpCounts
            Operations of this call (the sum of the chunks' counts, each chunk's column
            groups added in order).
        """
        caller = "ShardedMatrix.matmul"
        if not self._calibrated:
            fail("x", caller, "preceded by calibrate(x_cal) (input and ADC ranges unset)",
                 "an uncalibrated matrix")
        x = self._x(x, "x", caller)
        t_s = self.hw.t_s if t_s is None else check_scalar("t_s", t_s, caller, lo=0.0)
        if sample_offset is not None:
            self._sample = rng.check_offset("sample_offset", sample_offset, caller)
        if batch_size is None:
            batch_size = self.batch_size or max(1, x.shape[0])
        batch_size = check_int("batch_size", batch_size, caller, lo=1)
        client, n = self._client, x.shape[0]
        ready = self._compensation(t_s, self._sample)
        finals = []
        for a in range(0, n, batch_size):     # every chunk pipelines through the row shards
            parts = self._row_parts(x[a:a + batch_size])
            ends = []
            for g in range(len(self.col_groups)):
                carry = None
                for s in range(self.n_shards):
                    p = g * self.n_shards + s
                    carry = client.submit(_run, self._token, p, parts[s], carry, t_s,
                                          self._sample + a, s == self.n_shards - 1,
                                          None if ready is None else ready[p],
                                          workers=[self.workers[p]], pure=False)
                ends.append(carry)
            finals.append((a, ends))
        y = np.empty((n, self.out_features))
        ops = OpCounts()
        for a, ends in finals:
            for (o0, o1), f in zip(self.col_groups, ends, strict=True):
                out, _, o, _ = f.result()
                y[a:a + out.shape[0], o0:o1] = out
                ops += o
                f.release()
        self._sample += n
        return y, ops

    def close(self) -> None:
        """Free the pieces' tiles on the workers."""
        self._comp_done = {}
        self._client.run(_drop, self._token)

    def __enter__(self) -> ShardedMatrix:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ShardedMatrix(name={self.name!r}, shape=({self.in_features}, "
                f"{self.out_features}), n_shards={self.n_shards}, "
                f"col_shards={len(self.col_groups)})")
