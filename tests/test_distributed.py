"""One evaluation sharded over Dask workers gives the numbers of the local run."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import cimsim
from cimsim.hardware import HardwareConfig
from cimsim.nn import distributed
from cimsim.nn.models import load_digits_split
from device_models.errors import CimSimError


def test_shards_start_on_chunk_boundaries_and_cover_the_batch():
    for n, bs, k in [(300, 64, 4), (64, 64, 3), (1, 8, 2), (1000, 7, 6), (10, 100, 4)]:
        b = distributed._shard_bounds(n, bs, k)
        assert b[0][0] == 0 and b[-1][1] == n and len(b) <= k
        assert all(a % bs == 0 for a, _ in b)
        assert all(b[i][1] == b[i + 1][0] for i in range(len(b) - 1))


def test_evaluate_refuses_a_client_it_cannot_use():
    net = cimsim.load_bundled("digits_cnn_relu")
    d = load_digits_split()
    net.compile(HardwareConfig(read_noise=False))
    with pytest.raises(CimSimError, match="client"):
        net.evaluate(d["x_test"][:4], d["y_test"][:4], client="tcp://127.0.0.1:1")


def _same_numbers_on(processes: bool, n: int):
    """Workers (processes or threads of one process) rebuild the chip from the seed and run
    shards of the batch; the logits, accuracies, every count and energy, and a second read at
    another time equal the local run's."""
    from distributed import Client, LocalCluster

    net = cimsim.load_bundled("digits_cnn_relu")
    d = load_digits_split()
    x, y = d["x_test"][:n], d["y_test"][:n]
    net.compile(HardwareConfig())
    local = net.evaluate(x, y, t_s=[0.0, 3600.0], batch_size=32)
    logits = [net.run(x, t_s=t, batch_size=32, read=k) for k, t in enumerate((0.0, 3600.0))]
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    distributed._COMPILED.clear()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                      dashboard_address=None, silence_logs=logging.ERROR,
                      **({"env": env} if processes else {})) as cluster, \
            Client(cluster) as client:
        remote = net.evaluate(x, y, t_s=[0.0, 3600.0], batch_size=32, client=client)
        reads = distributed.run_reads(net, x, [0.0, 3600.0], 32, client)
        built = {r for r in client.run(lambda: len(distributed._COMPILED)).values()}
    assert built == {1}                 # every worker rebuilt the chip
    for a, b in zip(local, remote, strict=True):
        assert a.analog_accuracy == b.analog_accuracy and a.t_s == b.t_s
        assert a.counts == b.counts
        assert a.digital_ops == b.digital_ops and a.digital_macs == b.digital_macs
        assert a.compensation_counts == b.compensation_counts
        assert net.report(a).energy_per_inference_j == net.report(b).energy_per_inference_j
    for k, (chunks, _, _) in enumerate(reads):
        np.testing.assert_array_equal(net._combine_chunks(chunks, len(x)), logits[k])
    assert not np.array_equal(logits[0], logits[1])


def test_two_threaded_workers_give_the_local_numbers():
    _same_numbers_on(False, 96)


@pytest.mark.slow
def test_local_cluster_of_two_worker_processes_gives_the_local_numbers():
    _same_numbers_on(True, 150)


def test_demo_on_a_scheduler_prints_the_local_numbers(capsys):
    """``cimsim demo --scheduler ADDRESS`` evaluates on the scheduler's workers (here threads
    of an in-process cluster) and prints the local run's accuracy and energy."""
    import json

    from distributed import LocalCluster

    from cimsim.cli import main

    args = ["demo", "--json", "--n", "24", "--no-volatility"]
    assert main(args) == 0
    local = json.loads(capsys.readouterr().out)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        assert main(args + ["--scheduler", cluster.scheduler_address]) == 0
        remote = json.loads(capsys.readouterr().out)
        # the chip's matrices sharded over the workers instead of the images
        assert main(args + ["--scheduler", cluster.scheduler_address, "--shard"]) == 0
        sharded = json.loads(capsys.readouterr().out)
    assert remote["scheduler"] == cluster.scheduler_address and local["scheduler"] is None
    assert sharded["sharded_matrices"] and not remote["sharded_matrices"]
    for key in ("analog_accuracy", "energy_per_inference_j", "latency_per_inference_s",
                "energy_breakdown_per_inference_j"):
        assert remote[key] == local[key] == sharded[key]
    assert main(["demo", "--shard", "--n", "4"]) == 2          # --shard needs --scheduler
