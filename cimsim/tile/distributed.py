"""One large matrix over many machines: an :class:`~cimsim.tile.matrix.AnalogMatrix` whose
row blocks of tiles live on Dask workers.

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

Each worker builds only its shard's tiles (from its rows of the weight, the matrix's full
scale ``max|W|`` and the tile indices of the whole matrix: the counter-based streams of
programming, mismatch and read noise, keyed by seed, matrix, tile and sample, make them the
local matrix's tiles), and calibrates them on the whole calibration set (the input range is
``max|x_cal|`` over all rows; each block's front-end gains depend only on its own rows), so
the driver never holds a tile. Drift compensation and event-driven spike inputs couple the
blocks beyond the accumulator and are not sharded (refused).
"""

from __future__ import annotations

import uuid

import numpy as np

from device_models import rng
from device_models._checks import check_array, check_int, check_scalar, fail

from ..hardware import HardwareConfig
from ..ops import OpCounts
from .matrix import CHUNK_VECTORS

__all__ = ["ShardedMatrix"]

#: The shards built in this worker process, by (matrix token, shard).
_SHARDS: dict[tuple[str, int], object] = {}

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


def _build(token: str, s: int, rows: np.ndarray, hw, in_features: int, row0: int,
           w_max: float, name: str, seed_tag) -> dict[str, int]:
    """Worker task: build shard ``s`` (its tiles only); its geometry."""
    from .matrix import AnalogMatrix

    m = AnalogMatrix(rows, hw, name=name, seed_tag=seed_tag, _shard=(in_features, row0, w_max))
    _SHARDS[(token, s)] = m
    return m._geometry()


def _calibrate(token: str, s: int, x_cal: np.ndarray, t_s, geometry: dict[str, int]) -> None:
    """Worker task: calibrate shard ``s`` and give it the whole matrix's per-vector counts."""
    m = _SHARDS[(token, s)]
    m.calibrate(x_cal, t_s=t_s)
    m._per_vector = m._counts_per_vector(geometry)


def _run(token: str, s: int, x: np.ndarray, carry, t_s: float, sample0: int):
    """Worker task: shard ``s`` on ``x`` (stream positions ``sample0 …``), continuing the
    accumulator ``carry`` of the shards before it (None for shard 0)."""
    return _SHARDS[(token, s)]._execute(x, t_s, sample0, None,
                                        carry=(None, None, None) if carry is None else carry)


def _drop(token: str) -> int:
    """Worker task: forget the shards of ``token``; how many there were."""
    keys = [k for k in _SHARDS if k[0] == token]
    for k in keys:
        del _SHARDS[k]
    return len(keys)


class ShardedMatrix:
    """``y = x @ W`` on an analog matrix whose row blocks of tiles are built and run on the
    workers of a Dask cluster (module docstring): the numbers of
    :class:`~cimsim.tile.matrix.AnalogMatrix` ``(weight, hw, name=name, seed_tag=seed_tag)``.

    Parameters
    ----------
    weight : array_like, shape (in_features, out_features)
        Weight matrix [-]; each shard's rows are sent to its worker.
    hw : HardwareConfig
        The chip (``drift_compensation = "none"``).
    client : distributed.Client
        The cluster; shard ``s`` lives on its ``s % n_workers``-th worker (by address).
    n_shards : int, optional
        Contiguous runs of row blocks, ``1 … ⌈in_features / tile.rows⌉`` (default: one per
        worker).
    name : str
        Label.
    seed_tag : int or str
        As :class:`~cimsim.tile.matrix.AnalogMatrix`'s.

    Notes
    -----
    Call :meth:`calibrate` before :meth:`matmul`, and :meth:`close` (or use ``with``) to free
    the workers' tiles.
    """

    def __init__(self, weight, hw: HardwareConfig, *, client, n_shards: int | None = None,
                 name: str = "", seed_tag=0):
        from distributed import Client

        caller = "ShardedMatrix"
        if not isinstance(client, Client):
            fail("client", caller, "a distributed.Client", client)
        if not isinstance(hw, HardwareConfig):
            fail("hw", caller, "a HardwareConfig", hw)
        if hw.drift_compensation != "none":
            fail("hw", caller, "drift_compensation 'none' (compensation couples the row "
                 "blocks; it is not sharded)", f"drift_compensation={hw.drift_compensation!r}")
        w = check_array("weight", weight, caller, ndim=2)
        if w.shape[0] == 0 or w.shape[1] == 0:
            fail("weight", caller, "non-empty", f"array of shape {w.shape}")
        workers = sorted(client.scheduler_info().get("workers", {}))
        if not workers:
            fail("client", caller, "a client of a cluster with workers", client)
        rows = hw.tile.rows
        n_blocks = -(-w.shape[0] // rows)
        n_shards = len(workers) if n_shards is None else n_shards
        n_shards = check_int("n_shards", n_shards, caller, lo=1, hi=n_blocks)
        self.hw, self.name, self.seed_tag = hw, str(name), seed_tag
        self.in_features, self.out_features = w.shape
        self.shard_blocks = _shard_blocks(n_blocks, n_shards)
        self.workers = [workers[s % len(workers)] for s in range(n_shards)]
        self._client = client
        self._token = uuid.uuid4().hex
        w_max = float(np.max(np.abs(w)))
        futures = []
        for s, ((k0, k1), addr) in enumerate(zip(self.shard_blocks, self.workers, strict=True)):
            r0, r1 = k0 * rows, min(k1 * rows, self.in_features)
            part = client.scatter(np.ascontiguousarray(w[r0:r1]), workers=[addr], hash=False)
            futures.append(client.submit(_build, self._token, s, part, hw, self.in_features, r0,
                                         w_max, self.name, seed_tag, workers=[addr],
                                         pure=False))
        geos = client.gather(futures)
        #: The tiles' geometry summed over the shards (the largest ADC rounds).
        self.geometry = {k: sum(g[k] for g in geos) for k in ("rows", "signal", "n_tiles")}
        self.geometry["adc_rounds"] = max(g["adc_rounds"] for g in geos)
        self._calibrated = False
        self._sample = 0

    @property
    def n_tiles(self) -> int:
        """Number of tiles of the whole matrix [-]."""
        return self.geometry["n_tiles"]

    def _x(self, x, name: str, caller: str) -> np.ndarray:
        x = check_array(name, x, caller, ndim=(1, 2))
        if x.ndim == 1:
            x = x[None, :]
        if x.shape[1] != self.in_features:
            fail(name, caller, f"of shape (batch, {self.in_features})",
                 f"array of shape {x.shape}")
        return x

    def calibrate(self, x_cal, *, t_s: float | None = None) -> ShardedMatrix:
        """Calibrate every shard on the whole ``x_cal`` (the same input range and column
        ranges as :meth:`AnalogMatrix.calibrate <cimsim.tile.matrix.AnalogMatrix.calibrate>`);
        returns ``self``."""
        caller = "ShardedMatrix.calibrate"
        x = self._x(x_cal, "x_cal", caller)
        if t_s is not None:
            t_s = check_scalar("t_s", t_s, caller, lo=0.0)
        xf = self._client.scatter(x, broadcast=True, hash=False)
        self._client.gather([
            self._client.submit(_calibrate, self._token, s, xf, t_s, self.geometry,
                                workers=[addr], pure=False)
            for s, addr in enumerate(self.workers)])
        self._calibrated = True
        return self

    def matmul(self, x, *, t_s: float | None = None, sample_offset: int | None = None,
               batch_size: int = CHUNK_VECTORS):
        """Compute ``x @ W`` over the shards.

        Parameters
        ----------
        x : array_like, shape (batch, in_features) or (in_features,)
            Inputs [-].
        t_s : float, optional
            Read time after programming [s] (default ``hw.t_s``).
        sample_offset : int, optional
            Stream position of ``x[0]`` (default: continue after the previous call).
        batch_size : int
            Vectors per pipelined chunk.

        Returns
        -------
        y : ndarray, shape (batch, out_features)
            Digital result [-]: the local matrix's ``matmul`` on the same chunks.
        ops : OpCounts
            Operations of this call (the sum of the chunks' counts).
        """
        caller = "ShardedMatrix.matmul"
        if not self._calibrated:
            fail("x", caller, "preceded by calibrate(x_cal) (input and ADC ranges unset)",
                 "an uncalibrated matrix")
        x = self._x(x, "x", caller)
        t_s = self.hw.t_s if t_s is None else check_scalar("t_s", t_s, caller, lo=0.0)
        if sample_offset is not None:
            self._sample = rng.check_offset("sample_offset", sample_offset, caller)
        batch_size = check_int("batch_size", batch_size, caller, lo=1)
        client, n = self._client, x.shape[0]
        finals = []
        for a in range(0, n, batch_size):     # every chunk pipelines through the shards
            xf = client.scatter(np.ascontiguousarray(x[a:a + batch_size]), hash=False)
            carry = None
            for s, addr in enumerate(self.workers):
                carry = client.submit(_run, self._token, s, xf, carry, t_s, self._sample + a,
                                      workers=[addr], pure=False)
            finals.append((a, carry))
        y = np.empty((n, self.out_features))
        ops = OpCounts()
        for a, f in finals:
            out, _, o = f.result()
            y[a:a + out.shape[0]] = out
            ops += o
            f.release()
        self._sample += n
        return y, ops

    def close(self) -> None:
        """Free the shards' tiles on the workers."""
        self._client.run(_drop, self._token)

    def __enter__(self) -> ShardedMatrix:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"ShardedMatrix(name={self.name!r}, shape=({self.in_features}, "
                f"{self.out_features}), n_shards={len(self.workers)})")
