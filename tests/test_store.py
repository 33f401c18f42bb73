"""The HDF5 sweep store on its own: create, write durably, reopen, refuse, no duplicates."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from cimsim.study.store import DONE, FAILED, PENDING, PointRecord, SweepStore, load
from device_models.errors import StoreError


def _make(path, n=5, spec="{\"a\":1}"):
    configs = [json.dumps({"index": i, "x": i * 0.5}) for i in range(n)]
    return SweepStore.open_or_create(
        path, spec_json=spec, job="j", configs=configs,
        fields={"x": [i * 0.5 for i in range(n)], "name": [f"p{i}" for i in range(n)],
                "flag": [i % 2 == 0 for i in range(n)]},
        seeds=list(range(10, 10 + n)))


def test_write_reopen_and_load(tmp_path):
    path = tmp_path / "s.h5"
    st = _make(path)
    assert st.summary() == {"total": 5, "done": 0, "failed": 0, "pending": 5}
    st.write([PointRecord(index=3, status=DONE, metrics={"m": 2.5, "k": 1.0}, host="h",
                          worker="w", elapsed_s=0.1, finished_utc=123.0)])
    st.write([PointRecord(index=1, status=FAILED, error="boom")])
    again = _make(path)  # same spec → resume
    assert again.pending() == [0, 1, 2, 4]
    res = load(path)
    assert res.status.tolist() == [PENDING, FAILED, PENDING, DONE, PENDING]
    np.testing.assert_array_equal(res.metrics["m"], [np.nan, np.nan, np.nan, 2.5, np.nan])
    assert res.fields["x"].dtype == np.float64 and res.fields["name"][2] == "p2"
    assert res.fields["flag"].dtype == bool
    assert res.provenance["seed"].tolist() == [10, 11, 12, 13, 14]
    assert res.provenance["error"][1] == "boom" and res.provenance["host"][3] == "h"
    assert res.configs[4] == {"index": 4, "x": 2.0}
    assert res.column("m")[3] == 2.5
    with pytest.raises(StoreError, match="no field or metric 'nope'"):
        res.column("nope")


def test_done_point_is_never_rewritten(tmp_path):
    path = tmp_path / "s.h5"
    st = _make(path)
    st.write([PointRecord(index=0, status=DONE, metrics={"m": 1.0})])
    st.write([PointRecord(index=0, status=DONE, metrics={"m": 99.0})])  # duplicate result
    assert load(path).metrics["m"][0] == 1.0


def test_crash_mid_write_leaves_the_last_complete_file(tmp_path):
    """A driver killed mid-write leaves only a temporary copy: the file is the previous
    complete version, and the next driver removes the orphan."""
    path = tmp_path / "s.h5"
    st = _make(path)
    st.write([PointRecord(index=2, status=DONE, metrics={"m": 1.0})])
    before = path.read_bytes()
    orphan = tmp_path / ".s.h5.999999999.tmp"  # pid that cannot exist
    orphan.write_bytes(before[:100])
    st2 = _make(path)
    assert not orphan.exists()
    assert path.read_bytes() == before and st2.pending() == [0, 1, 3, 4]


def test_refusals_leave_files_untouched(tmp_path):
    path = tmp_path / "s.h5"
    _make(path)
    data = path.read_bytes()
    with pytest.raises(StoreError, match="different sweep spec"):
        _make(path, spec="{\"a\":2}")
    with pytest.raises(StoreError, match="already exists"):
        SweepStore.create(path, spec_json="{}", job="j", configs=[], fields={}, seeds=[])
    assert path.read_bytes() == data
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) - 700])
    with pytest.raises(StoreError, match="truncated"):
        _make(cut)
    assert cut.read_bytes() == data[: len(data) - 700]
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as fh:
        fh.attrs["format"] = "something-else"
    with pytest.raises(StoreError, match="not a cimsim sweep"):
        load(other)
    with pytest.raises(StoreError, match="no such sweep file"):
        load(tmp_path / "missing.h5")
    os.mkdir(tmp_path / "dir.h5")
    with pytest.raises(StoreError, match="not a regular file"):
        load(tmp_path / "dir.h5")
