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
    assert [(r0, r1) for r0, r1, _ in part.blocks] == [(r0, r1) for r0, r1, _ in full.blocks[2:4]]
    k = len(full.blocks[0][2].tiles)
    for a, b in zip(part.tiles, full.tiles[2 * k:4 * k], strict=True):
        np.testing.assert_array_equal(a.mapping.q, b.mapping.q)
        np.testing.assert_array_equal(a.g_programmed_s, b.g_programmed_s)


def _local(hw, w, x_cal, x, chunk, t_s=None):
    m = AnalogMatrix(w, hw, seed_tag=7).calibrate(x_cal)
    ys, ops = [], OpCounts()
    for a in range(0, len(x), chunk):
        y, o = m.matmul(x[a:a + chunk], t_s=t_s)
        ys.append(y)
        ops += o
    return np.concatenate(ys), ops


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR, env=env) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.mark.parametrize("tile_changes, hw_changes, n_shards, chunk", [
    ({}, {}, None, 64),                                   # the default chip: SAR, noise
    ({}, {}, 3, 16),                                      # pipelined chunks, 3 shards
    ({"input_encoding": "bit_serial"}, {}, 2, 64),        # bit-planes
    ({"weight_mapping": "offset"}, {"read_noise": False}, 5, 64),   # reference columns
])
def test_two_worker_processes_give_the_local_numbers(client, tile_changes, hw_changes,
                                                      n_shards, chunk):
    hw, w, x_cal, x = _problem(tile_changes, hw_changes)
    y_ref, ops_ref = _local(hw, w, x_cal, x, chunk)
    with ShardedMatrix(w, hw, client=client, n_shards=n_shards, seed_tag=7) as m:
        m.calibrate(x_cal)
        assert m.n_tiles == AnalogMatrix(w, hw).n_tiles
        y, ops = m.matmul(x, batch_size=chunk)
        np.testing.assert_array_equal(y, y_ref)
        assert ops == ops_ref
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
    with pytest.raises(CimSimError, match="drift_compensation"):
        ShardedMatrix(w, HardwareConfig(drift_compensation="global"), client=client)
    with ShardedMatrix(w, hw, client=client) as m:
        with pytest.raises(CimSimError, match="calibrate"):
            m.matmul(x)
        m.calibrate(x_cal)
        with pytest.raises(CimSimError, match="'x' parameter of ShardedMatrix.matmul"):
            m.matmul(x[:, :10])
        with pytest.raises(CimSimError, match="'batch_size'"):
            m.matmul(x, batch_size=0)
