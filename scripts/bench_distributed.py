"""Bench records of one large matrix sharded over Dask workers (plugin of scripts/bench.py).

``python scripts/bench.py --only sharded_matrix`` builds a 2048×2048
:class:`~cimsim.tile.distributed.ShardedMatrix` on ``HardwareConfig()`` as shipped (tile.cell
``"linear"``, 256×256 tiles: 8 row blocks × 16 tile columns) on a LocalCluster of 1 and then
of 2 single-threaded worker processes, calibrates it on 1,024 vectors and times ``matmul`` of
1,024 vectors in pipelined chunks of 256 (best of ``--repeat`` calls, each a fresh stretch of
the read-noise stream). Three records:

* ``sharded_matrix_1_worker``: every row block on one worker (one shard);
* ``sharded_matrix_2_workers``: two row shards, one per worker; the chunks pipeline (chunk
  ``j+1`` on shard 0 while chunk ``j`` is on shard 1), the result bit for bit the 1-worker
  one (``results_identical``);
* ``sharded_matrix_2_workers_columns``: one row shard, two column groups side by side.

Memory: ``peak_worker_bytes_per_weight`` is the largest, over the workers, of the process's
peak resident memory during build, calibrate and the timed calls less its resident memory
before them (``/proc/self/status`` VmHWM, reset through ``/proc/self/clear_refs``), over the
matrix's weights: what one machine must hold. ``speedup_vs_1_worker`` is the 1-worker time
over this record's. ``ratio_vs_numpy_gemm`` is the float32 GEMM of the same shapes over the
``matmul`` (the GEMM measured in the driver, while the workers idle). ``--quick``: 512×512
on 128×128 tiles, 64 vectors.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
from bench import BenchContext, register


def _rss(field: str) -> int:
    """This process's ``field`` of /proc/self/status [bytes] (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _reset_peak() -> int:
    """Worker task: reset the peak resident size to the current one; the current one."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _rss("VmRSS")


def _peak() -> int:
    """Worker task: the peak resident size since the last reset [bytes]."""
    return _rss("VmHWM")


def _warm(hw) -> None:
    """Worker task: compile the kernels on a small matrix (not the matrix's memory)."""
    from cimsim.tile.matrix import AnalogMatrix

    r = np.random.default_rng(1)
    x = r.uniform(-1.0, 1.0, (8, 64))
    AnalogMatrix(r.normal(size=(64, 64)), hw).calibrate(x).matmul(x)


def _run_case(hw, w, x, workers: int, n_shards: int, col_shards: int, chunk: int,
              repeat: int) -> dict:
    from distributed import Client, LocalCluster

    from cimsim.tile.distributed import ShardedMatrix

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR, env=env) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(_warm, hw)
        base = client.run(_reset_peak)
        t0 = time.perf_counter()
        m = ShardedMatrix(w, hw, client=client, n_shards=n_shards, col_shards=col_shards,
                          batch_size=chunk)
        t1 = time.perf_counter()
        m.calibrate(x)
        t2 = time.perf_counter()
        best, y = math.inf, None
        for k in range(repeat):
            ta = time.perf_counter()
            out, _ = m.matmul(x, sample_offset=k * x.shape[0])
            best = min(best, time.perf_counter() - ta)
            if y is None:
                y = out
        peak = client.run(_peak)
        m.close()
    per_worker = [peak[a] - base[a] for a in base]
    return dict(time_s=best, y=y, build_s=t1 - t0, calibrate_s=t2 - t1,
                peak_worker_bytes=max(per_worker), peak_total_bytes=sum(per_worker))


@register("sharded_matrix", "2048x2048 ShardedMatrix on the default chip: matmul of 1024 "
                            "vectors on 1 and 2 Dask workers, speed-up and peak memory per worker")
def bench_sharded_matrix(ctx: BenchContext) -> list[dict]:
    from cimsim.hardware import HardwareConfig

    n, batch, chunk = (512, 64, 16) if ctx.quick else (2048, 1024, 256)
    hw = HardwareConfig().replace_path("tile.cell", "linear")
    if ctx.quick:
        hw = hw.replace_path("tile.rows", 128).replace_path("tile.cols", 128)
    rng = ctx.rng(7)
    w = rng.standard_normal((n, n)) / np.sqrt(n)
    x = rng.uniform(-1.0, 1.0, (batch, n))
    repeat = max(1, min(ctx.repeat, 3))
    cases = [("sharded_matrix_1_worker", 1, 1, 1), ("sharded_matrix_2_workers", 2, 2, 1),
             ("sharded_matrix_2_workers_columns", 2, 1, 2)]
    res = {name: _run_case(hw, w, x, wk, s, c, chunk, repeat) for name, wk, s, c in cases}
    t_gemm = ctx.gemm_time(batch, n, n)
    one = res["sharded_matrix_1_worker"]
    recs = []
    for name, wk, s, c in cases:
        r = res[name]
        recs.append(ctx.record(
            name, r["time_s"], (batch, n, n), t_gemm, workers=wk, n_shards=s, col_shards=c,
            rows=n, cols=n, batch=batch, chunk=chunk,
            speedup_vs_1_worker=one["time_s"] / r["time_s"],
            results_identical=bool(np.array_equal(r["y"], one["y"])),
            peak_worker_bytes_per_weight=r["peak_worker_bytes"] / w.size,
            peak_total_bytes_per_weight=r["peak_total_bytes"] / w.size,
            build_s=r["build_s"], calibrate_s=r["calibrate_s"]))
    return recs
