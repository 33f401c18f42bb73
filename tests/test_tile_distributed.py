"""A matrix whose row blocks of tiles live on Dask workers gives the local matrix's numbers."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.ops import OpCounts
from cimsim.tile import distributed
from cimsim.tile.distributed import ShardedMatrix
from cimsim.tile.matrix import AnalogMatrix
from cimsim.tile.state import work_dtype
from device_models.errors import CimSimError


def _problem(tile_changes=None, hw_changes=None, n_in=300, n_out=90, n=40, seed=3):
    r = np.random.default_rng(seed)
    hw = HardwareConfig(tile=TileConfig(rows=64, cols=64, **(tile_changes or {})),
                        **(hw_changes or {}))
    w = r.normal(size=(n_in, n_out)) * 0.3
    x_cal = r.uniform(-1.0, 1.0, size=(64, n_in))
    x = r.uniform(-1.0, 1.0, size=(n, n_in))
    x[:, :70] *= 0.0 if n > 1 else 1.0      # a row block without drive on some vectors
    return hw, w, x_cal, x


def test_shards_are_contiguous_runs_of_row_blocks():
    for n_blocks, n_shards in [(5, 2), (16, 3), (4, 4), (1, 1), (7, 1)]:
        b = distributed._shard_blocks(n_blocks, n_shards)
        assert len(b) == n_shards and b[0][0] == 0 and b[-1][1] == n_blocks
        assert all(b[i][1] == b[i + 1][0] and b[i][1] > b[i][0] for i in range(n_shards - 1))
        assert max(k1 - k0 for k0, k1 in b) - min(k1 - k0 for k0, k1 in b) <= 1


def test_a_shard_built_alone_is_the_local_matrix_s_blocks():
    """The tiles of rows 128 … of a shard are the local matrix's: same tile indices, stream
    columns and programmed conductances."""
    hw, w, x_cal, _ = _problem()
    full = AnalogMatrix(w, hw, seed_tag=5)
    part = AnalogMatrix(w[128:256], hw, seed_tag=5, _shard=(w.shape[0], 128, full.w_max))
    assert [b.col0 for _, _, b in part.blocks] == [b.col0 for _, _, b in full.blocks[2:4]]
    assert [b.ref0 for _, _, b in part.blocks] == [b.ref0 for _, _, b in full.blocks[2:4]]
    # a shard reads only its rows: its blocks' rows count from its first row
    assert [(r0 + 128, r1 + 128) for r0, r1, _ in part.blocks] == \
        [(r0, r1) for r0, r1, _ in full.blocks[2:4]]
    k = len(full.blocks[0][2].tiles)
    for a, b in zip(part.tiles, full.tiles[2 * k:4 * k], strict=True):
        np.testing.assert_array_equal(a.mapping.q, b.mapping.q)
        np.testing.assert_array_equal(a.g_programmed_s, b.g_programmed_s)


def test_a_column_piece_built_alone_is_the_local_matrix_s_tiles():
    """Rows 64 … and the second tile column (outputs 32 … of a differential 8-bit tile of 64
    columns) of a piece: the local tiles' indices, stream columns and conductances."""
    hw, w, _, _ = _problem(hw_changes={"drift_compensation": "global"})
    full = AnalogMatrix(w, hw, seed_tag=5)
    per = full.outputs_per_tile
    part = AnalogMatrix(w[64:192, per:2 * per], hw, seed_tag=5,
                        _shard=(w.shape[0], 64, full.w_max, w.shape[1], per))
    n_tc = len(full.blocks[0][2].tiles)
    local = [full.blocks[k][2].tiles[1] for k in (1, 2)]
    assert [t.index for t in part.tiles] == [t.index for t in local] == [n_tc + 1, 2 * n_tc + 1]
    for (_, _, b), k in zip(part.blocks, (1, 2), strict=True):
        lb = full.blocks[k][2]
        assert b.col0 == lb.col0 + lb.tiles[0].n_signal
        assert b.ref0 == lb.ref0 + lb.tiles[0].mapping.ref_cols.size
    for a, b in zip(part.tiles, local, strict=True):
        np.testing.assert_array_equal(a.g_programmed_s, b.g_programmed_s)
        np.testing.assert_array_equal(a.adcs.t0, b.adcs.t0)


def test_reference_read_counts_every_row_block_s_conversions():
    """The reference read of drift compensation (per-block columns) spends the ADC energy of
    the same conversions as a read of the outputs (every block's, not only the last's)."""
    hw, w, x_cal, _ = _problem(hw_changes={"drift_compensation": "global"})
    m = AnalogMatrix(w, hw).calibrate(x_cal)
    _, by_columns = m._execute(m._x_ref, 1.0, 5, None, columns=True)
    _, by_outputs = m._execute(m._x_ref, 1.0, 5, None)
    assert by_columns == by_outputs and by_columns.adc_switching_energy_j > 0.0


def _local(hw, w, x_cal, x, chunk, t_s=None):
    m = AnalogMatrix(w, hw, seed_tag=7).calibrate(x_cal)
    ys, ops = [], OpCounts()
    for a in range(0, len(x), chunk):
        y, o = m.matmul(x[a:a + chunk], t_s=t_s)
        ys.append(y)
        ops += o
    return np.concatenate(ys), ops, m


def assert_counts_equal(ops, ref, *, exact: bool) -> None:
    """Every count equal; with ``exact`` False (column groups) the float sums (energies,
    V²), regrouped over the groups, to rounding."""
    if exact:
        assert ops == ref
        return
    for f, v in vars(ref).items():
        if isinstance(v, float):
            assert getattr(ops, f) == pytest.approx(v, rel=1e-12, abs=0.0), f
        else:
            assert getattr(ops, f) == v, f


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR, env=env) as cluster, \
            Client(cluster) as c:
        yield c


def assert_outputs_equal(y, ref, *, exact: bool) -> None:
    """Bit for bit; or (column groups on float32 work, whose block-wide kernel scales differ
    from the whole block's) at most one output in a thousand moved."""
    if exact:
        np.testing.assert_array_equal(y, ref)
    else:
        assert np.count_nonzero(y != ref) <= y.size // 1000


@pytest.mark.parametrize("tile_changes, hw_changes, n_shards, col_shards, chunk", [
    ({}, {}, None, None, 64),                             # the default chip: SAR, noise
    ({}, {}, 3, 1, 16),                                   # pipelined chunks, 3 shards
    ({"input_encoding": "bit_serial"}, {}, 2, 2, 64),     # bit-planes, 2 x 2 pieces
    ({"weight_mapping": "offset"}, {"read_noise": False}, 5, 1, 64),   # reference columns
    ({"adc_bits": 14}, {}, 2, 3, 40),                     # 3 column groups, float64 work
    ({"weight_mapping": "offset"}, {}, 1, 2, 64),         # column groups, reference columns
])
def test_two_worker_processes_give_the_local_numbers(client, tile_changes, hw_changes,
                                                      n_shards, col_shards, chunk):
    hw, w, x_cal, x = _problem(tile_changes, hw_changes)
    y_ref, ops_ref, local = _local(hw, w, x_cal, x, chunk)
    rows_only = col_shards in (None, 1)
    with ShardedMatrix(w, hw, client=client, n_shards=n_shards, col_shards=col_shards,
                       seed_tag=7) as m:
        m.calibrate(x_cal)
        assert m.n_tiles == local.n_tiles
        assert [t.index for t in m.tiles] == [t.index for t in local.tiles]
        assert m.program_counts == local.program_counts
        assert m.utilisation == local.utilisation
        y, ops = m.matmul(x, batch_size=chunk)
        assert_outputs_equal(y, y_ref, exact=rows_only or work_dtype(hw) == np.float64)
        if rows_only or np.array_equal(y, y_ref):
            assert_counts_equal(ops, ops_ref, exact=rows_only)
        # the next call continues the stream (fresh read noise), as the local matrix's
        y2, _ = m.matmul(x[:5])
        y3, _ = m.matmul(x[:5], sample_offset=len(x))
        np.testing.assert_array_equal(y2, y3)
        token = m._token
    assert sum(client.run(distributed._drop, token).values()) == 0     # closed


def test_errors_have_the_project_shape(client):
    hw, w, x_cal, x = _problem()
    with pytest.raises(CimSimError, match="'client' parameter of ShardedMatrix"):
        ShardedMatrix(w, hw, client="tcp://127.0.0.1:1")
    with pytest.raises(CimSimError, match="'n_shards' parameter of ShardedMatrix"):
        ShardedMatrix(w, hw, client=client, n_shards=6)       # 5 row blocks
    with pytest.raises(CimSimError, match="'n_shards'"):
        ShardedMatrix(w, hw, client=client, n_shards=0)
    with pytest.raises(CimSimError, match="'col_shards' parameter of ShardedMatrix"):
        ShardedMatrix(w, hw, client=client, col_shards=4)       # 3 tile columns
    with ShardedMatrix(w, hw, client=client) as m:
        with pytest.raises(CimSimError, match="calibrate"):
            m.matmul(x)
        m.calibrate(x_cal)
        with pytest.raises(CimSimError, match="'x' parameter of ShardedMatrix.matmul"):
            m.matmul(x[:, :10])
        with pytest.raises(CimSimError, match="'batch_size'"):
            m.matmul(x, batch_size=0)


@pytest.mark.parametrize("tile_changes, hw_changes, col_shards", [
    ({}, {"drift_compensation": "global"}, 1),
    ({}, {"drift_compensation": "column"}, 1),
    ({"adc_bits": 14}, {"drift_compensation": "column", "drift_recalibration_t_s": 3600.0}, 2),
])
def test_drift_compensation_over_shards_is_the_local_one(client, tile_changes, hw_changes,
                                                         col_shards):
    """A PCM chip read a day after programming: the reference reads (at programming and at
    each read time) combine their counts over the shards as one chip's; outputs and counts
    equal the local matrix's, compensation and programming energy included (column groups:
    float64 work, whose outputs are bit for bit)."""
    hw, w, x_cal, x = _problem(tile_changes, {"device_card": "joshi2020_pcm", **hw_changes},
                               n=24)
    y_ref, ops_ref, local = _local(hw, w, x_cal, x, 24, t_s=86400.0)
    with ShardedMatrix(w, hw, client=client, n_shards=3, col_shards=col_shards,
                       seed_tag=7) as m:
        m.calibrate(x_cal)
        y, ops = m.matmul(x, t_s=86400.0, batch_size=24)
        exact = col_shards == 1
        np.testing.assert_array_equal(y, y_ref)
        assert_counts_equal(ops, ops_ref, exact=exact)
        assert_counts_equal(m.compensation_counts(86400.0), local.compensation_counts(86400.0),
                            exact=exact)
        assert_counts_equal(m.program_counts, local.program_counts, exact=exact)
        assert m.refresh_counts(86400.0) == local.refresh_counts(86400.0)


def _digits(n=48):
    from cimsim.nn.models import load_digits_split

    d = load_digits_split()
    return d["x_test"][:n], d["y_test"][:n]


def test_a_network_with_sharded_layers_gives_the_local_numbers(client):
    """The digits CNN on 32-row tiles (conv2: 3 row blocks, fc: 2) with its layers sharded
    over two worker processes, on a PCM chip with global drift compensation read at two
    times: logits, accuracy, every count, compensation and programming counts and the
    report's energy are the local network's."""
    import cimsim

    hw = HardwareConfig(tile=TileConfig(rows=32, cols=64), device_card="joshi2020_pcm",
                        drift_compensation="global")
    x, y = _digits()
    times = [20.0, 86400.0]
    local = cimsim.load_bundled("digits_cnn_relu").compile(hw)
    ev_local = local.evaluate(x, y, t_s=times, batch_size=32)
    net = cimsim.load_bundled("digits_cnn_relu")
    net.compile(hw, client=client, shard={"conv2": (2, 1), "fc": (2, 1)})
    try:
        assert net.sharded and type(net._analog["conv2"][0]).__name__ == "ShardedMatrix"
        assert net.program_counts == local.program_counts
        assert net.n_tiles == local.n_tiles and net.mapping == local.mapping
        ev = net.evaluate(x, y, t_s=times, batch_size=32)
        assert ev == ev_local
        assert net.report(ev[1]).energy_per_inference_j == \
            local.report(ev_local[1]).energy_per_inference_j
        with pytest.raises(CimSimError, match="compile\\(client=...\\)"):
            net.evaluate(x, y, client=client)          # batch sharding: a local chip only
    finally:
        net.close_shards()
    assert not net.sharded and not net.compiled


def test_network_shard_options_are_checked(client):
    import cimsim

    net = cimsim.load_bundled("digits_cnn_relu")
    hw = HardwareConfig(tile=TileConfig(rows=32, cols=64))
    with pytest.raises(CimSimError, match="'shard' parameter of Network.compile"):
        net.compile(hw, shard=["fc"])                  # no client
    with pytest.raises(CimSimError, match="'client' parameter of Network.compile"):
        net.compile(hw, client="tcp://127.0.0.1:1")
    with pytest.raises(CimSimError, match="'shard'.*nope"):
        net.compile(hw, client=client, shard=["nope"])
    with pytest.raises(CimSimError, match="'shard'"):
        net.compile(hw, client=client, shard={"fc": 2})
    x, _ = _digits(8)
    local = cimsim.load_bundled("digits_cnn_relu").compile(hw).run(x)
    net.compile(hw, client=client)       # by default every analog layer, rows over workers
    try:
        ms = [m for ms in net._analog.values() for m in ms]
        assert all(type(m).__name__ == "ShardedMatrix" for m in ms)
        # conv1 one piece (9 rows), conv2 and fc two row shards each: the pieces go round
        # the workers, matrix after matrix
        addrs = [a for m in ms for a in m.workers]
        assert len(set(addrs)) == 2
        assert all(a != b for a, b in zip(addrs[:-1], addrs[1:], strict=True))
        np.testing.assert_array_equal(net.run(x), local)
    finally:
        net.close_shards()


@pytest.mark.slow
def test_bench_sharded_matrix_record_quick(capsys):
    """``scripts/bench.py --only sharded_matrix --quick``: three records, the 2-row-shard one
    bit for bit the 1-worker one, speed-ups and memory per worker from their own timings."""
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("bench_shard_smoke", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_shard_smoke"] = bench
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--json", "--only", "sharded_matrix", "--repeat", "1"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    one, two = records["sharded_matrix_1_worker"], records["sharded_matrix_2_workers"]
    assert set(records) == {"sharded_matrix_1_worker", "sharded_matrix_2_workers",
                            "sharded_matrix_2_workers_columns"}
    assert two["results_identical"] and two["n_shards"] == 2 and two["workers"] == 2
    assert two["speedup_vs_1_worker"] == pytest.approx(one["time_s"] / two["time_s"])
    for r in records.values():
        assert r["peak_worker_bytes_per_weight"] > 0.0
        assert r["peak_total_bytes_per_weight"] >= r["peak_worker_bytes_per_weight"]
