"""Bench records of parameter sweeps: the example sweep on 1 and on 2 Dask workers.

``python scripts/bench.py --only sweep_example`` runs ``examples/adc_bits_sweep.toml`` (ADC bits
× read noise on the demo network) on a LocalCluster of 1 and then of 2 single-threaded worker
processes, each into a fresh HDF5 file, and reports the wall times (cluster start-up, every
point, every durable write) and the speed-up. ``--quick`` sweeps a 2 × 2 subset on 60 images.

The harness wants a ratio against NumPy float32 GEMM: it is taken against a GEMM of the same
number of multiply-accumulates as all the sweep's analog inferences (shape (B, 256, 256) with
B·256·256 ≥ Σ MACs), so it states how far a full chip simulation with compilation,
programming and calibration is from the bare arithmetic; the figure of interest here is
``speedup_vs_1_worker``.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from bench import BenchContext, register

_EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "adc_bits_sweep.toml"


def _spec(quick: bool):
    from cimsim.study.sweep import SweepSpec

    spec = SweepSpec.from_toml(_EXAMPLE)
    if not quick:
        return spec
    raw = dict(spec.raw)
    raw["options"] = {**raw.get("options", {}), "n_test": 60}
    raw["grid"] = {k: v[:2] for k, v in raw["grid"].items()}
    return SweepSpec.from_dict(raw)


@register("sweep_example", "examples/adc_bits_sweep.toml on 1 and on 2 Dask workers: speed-up")
def bench_sweep_example(ctx: BenchContext) -> list[dict]:
    import logging
    import time

    from distributed import Client, LocalCluster

    from cimsim.study.store import load
    from cimsim.study.sweep import run_sweep

    spec = _spec(ctx.quick)
    times, starts, macs = {}, {}, 0.0
    with tempfile.TemporaryDirectory(prefix="cimsim-bench-sweep-") as tmp:
        for workers in (1, 2):
            out = Path(tmp) / f"w{workers}.h5"
            t0 = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=None, silence_logs=logging.ERROR,
                              env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
                    Client(cluster) as client:
                client.wait_for_workers(workers)
                starts[workers] = time.perf_counter() - t0
                summary = run_sweep(spec, out, client=client, progress=False)
            if summary["done"] != len(spec):
                raise RuntimeError(f"sweep bench: {summary}")
            times[workers] = summary["elapsed_s"]
            res = load(out)
            macs = float(res.metrics["macs"].sum())
            if workers == 1:
                first = res.metrics
            else:
                same = all((first[k] == res.metrics[k]).all() for k in first)
    batch = max(1, math.ceil(macs / (256 * 256)))
    shape = (batch, 256, 256)
    common = dict(points=len(spec), total_macs=macs, results_identical=bool(same),
                  spec=str(_EXAMPLE.name) + (" (quick subset)" if ctx.quick else ""))
    recs = []
    for w, name in ((1, "sweep_example_1_worker"), (2, "sweep_example_2_workers")):
        rec = ctx.record(name, times[w], shape, workers=w, points_per_s=len(spec) / times[w],
                         cluster_start_s=starts[w], wall_with_start_s=times[w] + starts[w],
                         **common)
        if w == 2:
            rec["speedup_vs_1_worker"] = times[1] / times[2]
            rec["speedup_with_start_vs_1_worker"] = (times[1] + starts[1]) / (times[2] + starts[2])
        recs.append(rec)
    return recs
