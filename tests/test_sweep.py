"""Sweeps: spec validation, deterministic execution on real Dask clusters, crash and resume.

The infrastructure tests use the built-in ``device_array`` job (write-verify programming,
faults, relaxation and read noise of the device card: real physics, a few ms per point) and,
where a point must take a controlled time (to kill a process mid-sweep), a small job module
written to a temporary directory and referenced as ``"module:function"``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import cimsim
from cimsim.cli import main
from cimsim.study import runner, sweep
from cimsim.study.store import DONE, FAILED, load
from device_models.errors import CardError, ConfigError, UnknownNameError

DEVICE_SPEC = {
    "sweep": {"job": "device_array", "seeding": "per_point", "seed": 3},
    "base": {"faults": False},
    "options": {"cells": 512},
    "grid": {"card.tolerance_frac": [0.01, 0.04], "t_s": [1.0, 1e5], "temperature_k": [300.0]},
}

JOB_SRC = '''
"""Test job: a seeded Gaussian sum, an optional delay, an execution log, chosen failures."""
import os
import time

from device_models import rng


def job(config):
    opts = config.options
    log = opts.get("log")
    if log:
        with open(log, "a") as fh:
            fh.write(f"start {config.index} {os.getpid()}\\n")
    time.sleep(opts.get("delay_s", 0.0))
    if config.index in opts.get("die", []):
        os.kill(os.getpid(), 9)  # the worker process dies on this point, every time
    if config.index in opts.get("fail", []):
        raise RuntimeError(f"point {config.index} fails on purpose")
    x = rng.standard_normal(rng.derive_key(config.seed, "test-job"), (256,))
    hw = config.hardware
    value = float(x.sum()) * hw.temperature_k / hw.tile.adc_bits
    if log:
        with open(log, "a") as fh:
            fh.write(f"end {config.index} {os.getpid()}\\n")
    return {"value": value, "stats": {"bits": hw.tile.adc_bits}}
'''


@pytest.fixture(scope="module")
def jobmod(tmp_path_factory):
    """A job module importable here, by worker processes and by CLI subprocesses."""
    d = tmp_path_factory.mktemp("jobs")
    (d / "cimsim_sweep_testjob.py").write_text(JOB_SRC)
    sys.path.insert(0, str(d))
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(d), old) if p)
    yield "cimsim_sweep_testjob:job"
    sys.path.remove(str(d))
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def _spec(job: str, n_bits: int = 3, n_temp: int = 2, **options) -> dict:
    return {
        "sweep": {"job": job, "seeding": "per_point", "seed": 7},
        "options": options,
        "grid": {"tile.adc_bits": [4, 6, 8, 10, 12][:n_bits],
                 "temperature_k": [250.0, 300.0, 350.0, 400.0][:n_temp]},
    }


def _write_toml(path: Path, spec: dict) -> Path:
    lines = []
    for table, body in spec.items():
        lines.append(f"[{table}]")
        for k, v in body.items():
            lines.append(f"{json.dumps(k)} = {json.dumps(v)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _same_results(a, b) -> None:
    assert np.array_equal(a.status, b.status)
    assert sorted(a.metrics) == sorted(b.metrics)
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name], err_msg=name)
    assert a.configs == b.configs
    np.testing.assert_array_equal(a.provenance["seed"], b.provenance["seed"])


# --- spec ----------------------------------------------------------------------------------


def test_grid_expands_in_order_and_validates_every_point():
    spec = sweep.SweepSpec.from_dict(DEVICE_SPEC)
    assert len(spec) == 4
    assert spec.fields == ["card.tolerance_frac", "t_s", "temperature_k"]
    points = spec.points()
    assert [p.card("card").tolerance_frac for p in points] == [0.01, 0.01, 0.04, 0.04]
    assert [p.hardware.t_s for p in points] == [1.0, 1e5, 1.0, 1e5]
    assert len({p.seed for p in points}) == 4  # per_point seeds differ
    again = sweep.SweepSpec.from_dict(DEVICE_SPEC).points()
    assert [p.to_dict() for p in points] == [p.to_dict() for p in again]
    # round trip of the stored configuration
    assert sweep.PointConfig.from_dict(points[1].to_dict()) == points[1]


def test_random_and_list_modes_are_seeded():
    raw = {"sweep": {"job": "device_array", "seed": 11},
           "random": {"samples": 6, "t_s": {"low": 1.0, "high": 1e6, "log": True},
                      "tile.adc_bits": {"choices": [4, 6, 8]},
                      "tile.rows": {"low": 64, "high": 128, "integer": True}}}
    a = sweep.SweepSpec.from_dict(raw)
    assert a.assignments == sweep.SweepSpec.from_dict(raw).assignments
    raw2 = json.loads(json.dumps(raw))
    raw2["sweep"]["seed"] = 12
    assert a.assignments != sweep.SweepSpec.from_dict(raw2).assignments
    for point in a.points():
        assert 1.0 <= point.hardware.t_s <= 1e6
        assert point.hardware.tile.adc_bits in (4, 6, 8)
        assert 64 <= point.hardware.tile.rows <= 128
    listed = sweep.SweepSpec.from_dict(
        {"sweep": {"job": "device_array"}, "list": [{"t_s": 1.0}, {"t_s": 2.0, "seed": 5}]})
    pts = listed.points()
    assert [p.hardware.t_s for p in pts] == [1.0, 2.0]
    assert [p.seed for p in pts] == [0, 5]  # seeding = "shared": the configured seed


@pytest.mark.parametrize(
    ("grid", "exc", "named"),
    [
        ({"tile.adc_bitz": [4]}, ConfigError, "adc_bitz"),
        ({"temprature_k": [300.0]}, ConfigError, "temprature_k"),
        ({"t_s.x": [1.0]}, ConfigError, "t_s.x"),
        ({"tile.adc_bits": [4, 0]}, ConfigError, "adc_bits"),
        ({"temperature_k": [300.0, -1.0]}, ConfigError, "temperature_k"),
        ({"card.tolerance_fracc": [0.01]}, CardError, "tolerance_fracc"),
        ({"card.tolerance_frac": [-0.5]}, CardError, "tolerance_frac"),
        ({"device_card": ["no_such_card"]}, UnknownNameError, "no_such_card"),
        ({"options.cellz": [10]}, ConfigError, "cellz"),
        ({"options.cells": [0]}, ConfigError, "cells"),
    ],
)
def test_bad_field_fails_before_running_and_names_it(tmp_path, grid, exc, named):
    raw = {"sweep": {"job": "device_array"}, "grid": grid}
    out = tmp_path / "never.h5"
    with pytest.raises(exc, match=named):
        sweep.run_sweep(raw, out, workers=0, progress=False)
    assert not out.exists()


def test_bad_spec_structure():
    with pytest.raises(ConfigError, match="job"):
        sweep.SweepSpec.from_dict({"grid": {"t_s": [1.0]}})
    with pytest.raises(ConfigError, match="gird"):
        sweep.SweepSpec.from_dict({"sweep": {"job": "device_array"}, "gird": {}})
    with pytest.raises(ConfigError, match="one of"):
        sweep.SweepSpec.from_dict({"sweep": {"job": "device_array"}, "grid": {"t_s": [1.0]},
                                   "list": [{"t_s": 1.0}]})
    with pytest.raises(UnknownNameError, match="device_array"):
        sweep.SweepSpec.from_dict({"sweep": {"job": "nope"}}).points()


# --- in-process runs, resume, store ----------------------------------------------------------


def test_in_process_sweep_resume_and_status(tmp_path, capsys):
    out = tmp_path / "dev.h5"
    seen = []
    s = sweep.run_sweep(DEVICE_SPEC, out, workers=0, progress=False, on_point=seen.append)
    assert (s["total"], s["done"], s["failed"], s["executor"]) == (4, 4, 0, "in-process")
    assert sorted(r.index for r in seen) == [0, 1, 2, 3]
    res = load(out)
    assert np.all(res.status == DONE)
    assert res.spec == DEVICE_SPEC
    # tighter write-verify tolerance → smaller programming error (same t_s)
    err = res.metrics["program_rms_error_rel"]
    assert err[0] < err[2] and err[1] < err[3]
    assert np.all(res.metrics["pulses_per_cell"] > 0)
    np.testing.assert_array_equal(res.fields["t_s"], [1.0, 1e5, 1.0, 1e5])
    assert res.configs[3]["card_overrides"] == {"device_card": {"tolerance_frac": 0.04}}
    assert set(res.provenance["cimsim_version"]) == {cimsim.__version__}
    before = out.read_bytes()
    again = sweep.run_sweep(DEVICE_SPEC, out, workers=0, progress=False)
    assert again["done"] == 4 and again["executor"] == "none"
    assert out.read_bytes() == before  # nothing recomputed or rewritten
    assert main(["sweep-status", str(out), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {k: status[k] for k in ("total", "done", "failed", "pending")} == {
        "total": 4, "done": 4, "failed": 0, "pending": 0}
    assert "read_rms_error_rel" in status["metrics"]
    arrays = res.to_arrays()
    assert arrays["index"].tolist() == [0, 1, 2, 3] and arrays["status"][0] == "done"


def test_without_distributed_runs_in_process_with_the_same_store(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_have_distributed", lambda: False)
    out = tmp_path / "nodask.h5"
    s = sweep.run_sweep(DEVICE_SPEC, out, progress=False)  # workers=None: would be a cluster
    assert s["executor"] == "in-process" and s["done"] == 4
    assert load(out).summary()["done"] == 4


def test_results_as_dataframe(tmp_path):
    pd = pytest.importorskip("pandas")
    out = tmp_path / "dev.h5"
    sweep.run_sweep(DEVICE_SPEC, out, workers=0, progress=False)
    df = load(out).to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert {"t_s", "card.tolerance_frac", "read_rms_error_rel", "status"} <= set(df.columns)


def test_failed_points_are_recorded_and_retried_on_rerun(tmp_path, jobmod):
    out = tmp_path / "fail.h5"
    spec = _spec(jobmod, fail=[1, 4])
    s = sweep.run_sweep(spec, out, workers=0, progress=False)
    assert (s["done"], s["failed"]) == (4, 2)
    res = load(out)
    assert res.status.tolist() == [DONE, FAILED, DONE, DONE, FAILED, DONE]
    assert "fails on purpose" in res.provenance["error"][1]
    assert np.isnan(res.metrics["value"][1]) and np.isfinite(res.metrics["value"][0])
    assert res.metrics["stats.bits"][0] == 4.0
    # the same spec reruns exactly the failed points (they fail again, deterministically)
    t_done = res.provenance["finished_utc"].copy()
    s2 = sweep.run_sweep(spec, out, workers=0, progress=False)
    assert (s2["done"], s2["failed"]) == (4, 2)
    again = load(out)
    ok = again.status == DONE
    np.testing.assert_array_equal(again.provenance["finished_utc"][ok], t_done[ok])


def test_refuses_truncated_foreign_and_different_files(tmp_path):
    import h5py

    from device_models.errors import StoreError

    good = tmp_path / "good.h5"
    sweep.run_sweep(DEVICE_SPEC, good, workers=0, progress=False)
    data = good.read_bytes()

    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(data[: len(data) // 2])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as fh:
        fh["x"] = np.arange(3)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5 at all\n")
    other_spec = json.loads(json.dumps(DEVICE_SPEC))
    other_spec["options"]["cells"] = 256

    cases = [(truncated, DEVICE_SPEC, "truncated"), (foreign, DEVICE_SPEC, "not a cimsim sweep"),
             (text, DEVICE_SPEC, "not an HDF5 file"), (good, other_spec, "different sweep spec")]
    for path, spec, why in cases:
        before = path.read_bytes()
        with pytest.raises(StoreError, match=why):
            sweep.run_sweep(spec, path, workers=0, progress=False)
        assert path.read_bytes() == before, path  # nothing overwritten
        if path is not good:
            with pytest.raises(StoreError):
                load(path)
    # the CLI reports it as an error, not a traceback
    assert main(["sweep-status", str(truncated)]) == 2


def test_second_driver_on_the_same_file_is_refused(tmp_path):
    from cimsim.study.store import writer_lock
    from device_models.errors import StoreError

    out = tmp_path / "busy.h5"
    with writer_lock(out), pytest.raises(StoreError, match="another cimsim sweep"):
        sweep.run_sweep(DEVICE_SPEC, out, workers=0, progress=False)
    assert not out.exists()
    assert sweep.run_sweep(DEVICE_SPEC, out, workers=0, progress=False)["done"] == 4


def test_plot_command_writes_png(tmp_path):
    out = tmp_path / "dev.h5"
    sweep.run_sweep(DEVICE_SPEC, out, workers=0, progress=False)
    png = tmp_path / "p.png"
    assert main(["plot", str(out), "--x", "t_s", "--y", "read_rms_error_rel",
                 "--hue", "card.tolerance_frac", "--out", str(png), "--logx"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", str(out), "--x", "t_s", "--y", "no_such_metric"]) == 2


# --- Dask: determinism, killed worker, killed driver ----------------------------------------


def test_local_cluster_matches_in_process(tmp_path):
    """Same numbers with 2 worker processes as in-process (points keyed by index)."""
    ref = tmp_path / "ref.h5"
    sweep.run_sweep(DEVICE_SPEC, ref, workers=0, progress=False)
    out = tmp_path / "dask.h5"
    s = sweep.run_sweep(DEVICE_SPEC, out, workers=2, progress=False)
    assert s["executor"] == "dask:local:2" and s["done"] == 4
    res = load(out)
    _same_results(load(ref), res)
    assert all(w.startswith("tcp://") for w in res.provenance["worker"])


@pytest.mark.slow
def test_one_and_two_workers_agree(tmp_path, jobmod):
    spec = _spec(jobmod, n_bits=4, n_temp=2)
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    sweep.run_sweep(spec, one, workers=1, progress=False)
    sweep.run_sweep(spec, two, workers=2, progress=False)
    _same_results(load(one), load(two))


@pytest.mark.slow
def test_killed_worker_points_are_retried_exactly_once(tmp_path, jobmod):
    from distributed import Client, LocalCluster

    log = tmp_path / "exec.log"
    spec = _spec(jobmod, n_bits=5, n_temp=2, delay_s=0.4, log=str(log))
    ref_spec = _spec(jobmod, n_bits=5, n_temp=2, delay_s=0.0, log=str(tmp_path / "ref.log"))
    ref = tmp_path / "ref.h5"
    sweep.run_sweep(ref_spec, ref, workers=0, progress=False)
    out = tmp_path / "killed.h5"
    killed: list[int] = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)

        def on_point(record):
            # kill a worker whose log shows a point started and not ended (a key the scheduler
            # lists as processing may not have started on the worker yet)
            if killed or not log.exists():
                return
            lines = [ln.split() for ln in log.read_text().splitlines()]
            lines = [ln for ln in lines if len(ln) == 3]        # a line being written
            busy = {p for p in pids.values()
                    if sum(ln[0] == "start" and int(ln[2]) == p for ln in lines)
                    > sum(ln[0] == "end" and int(ln[2]) == p for ln in lines)}
            running = [p for p in pids.values() if p in busy]
            if running:
                killed.append(running[0])
                os.kill(running[0], signal.SIGKILL)

        s = sweep.run_sweep(spec, out, client=client, progress=False, on_point=on_point)
    assert killed
    assert (s["total"], s["done"], s["failed"]) == (10, 10, 0)
    lines = [ln.split() for ln in log.read_text().splitlines()]
    started_on_killed = {int(i) for what, i, pid in lines
                         if what == "start" and int(pid) == killed[0]}
    ended_on_killed = {int(i) for what, i, pid in lines if what == "end" and int(pid) == killed[0]}
    lost = started_on_killed - ended_on_killed
    assert lost, "the killed worker was running a point"
    ends = [int(i) for what, i, _ in lines if what == "end"]
    assert all(ends.count(i) == 1 for i in lost)  # re-executed once elsewhere
    res = load(out)
    assert np.all(res.status == DONE)
    ref_res = load(ref)
    for name in ref_res.metrics:
        np.testing.assert_array_equal(res.metrics[name], ref_res.metrics[name])


@pytest.mark.slow
def test_point_that_always_kills_its_worker_is_recorded_failed(tmp_path, jobmod):
    import dask
    from distributed import Client, LocalCluster

    spec = _spec(jobmod, n_bits=2, n_temp=2, die=[1])
    out = tmp_path / "poison.h5"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        s = sweep.run_sweep(spec, out, client=client, progress=False, max_attempts=2)
    assert (s["done"], s["failed"]) == (3, 1)
    res = load(out)
    assert res.status[1] == FAILED and res.provenance["attempts"][1] == 2
    assert "gave up after 2 attempts" in res.provenance["error"][1]
    assert "KilledWorker" in res.provenance["error"][1]
    # the points that shared a worker with the poison point were not charged for its deaths
    assert res.provenance["attempts"][[0, 2, 3]].tolist() == [1, 1, 1]


@pytest.mark.slow
def test_points_killed_together_are_not_charged_and_run_alone(tmp_path, jobmod):
    """One worker of 2 threads holds 2 points: the poison point (after 0.1 s, time for its
    neighbour to start) dies while an innocent one sleeps beside it (0.6 s). Neither is charged
    for that shared death; rerun alone, the innocent finishes once with 1 attempt and the
    poison point is charged only for deaths on its own."""
    import dask
    from distributed import Client, LocalCluster

    log = tmp_path / "exec.log"
    n = 5
    spec = {"sweep": {"job": jobmod, "seeding": "per_point"},
            "options": {"die": [1], "log": str(log)},
            "list": [{"tile.adc_bits": 4 + i, "options.delay_s": 0.1 if i == 1 else 0.6}
                     for i in range(n)]}
    out = tmp_path / "shared.h5"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                         dashboard_address=None) as cluster, Client(cluster) as client:
        s = sweep.run_sweep(spec, out, client=client, progress=False, max_attempts=2)
    assert (s["done"], s["failed"]) == (n - 1, 1)
    res = load(out)
    assert res.status[1] == FAILED and res.provenance["attempts"][1] == 2
    assert "while running only this point" in res.provenance["error"][1]
    innocent = [i for i in range(n) if i != 1]
    assert res.provenance["attempts"][innocent].tolist() == [1] * (n - 1)
    lines = [(what, int(i), int(pid)) for what, i, pid in
             (ln.split() for ln in log.read_text().splitlines())]
    ends = [i for what, i, _ in lines if what == "end"]
    assert sorted(ends) == innocent  # every healthy point finished exactly once
    poison_pids = {pid for what, i, pid in lines if what == "start" and i == 1}
    killed_beside = {i for what, i, pid in lines if what == "start" and i != 1
                     and pid in poison_pids and ("end", i, pid) not in lines}
    assert killed_beside, "the poison point's death took an innocent point with it"


@pytest.mark.slow
def test_killed_driver_resumes_to_the_uninterrupted_result(tmp_path, jobmod):
    spec = _spec(jobmod, n_bits=5, n_temp=3, delay_s=0.5)
    toml = _write_toml(tmp_path / "spec.toml", spec)
    ref = tmp_path / "ref.h5"
    sweep.run_sweep(_spec(jobmod, n_bits=5, n_temp=3, delay_s=0.0), ref, workers=0,
                    progress=False)
    out = tmp_path / "run.h5"
    cmd = [sys.executable, "-m", "cimsim", "sweep", str(toml), "--out", str(out),
           "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    done = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists():
                done = int(np.count_nonzero(load(out).status == DONE))
                if done >= 3:
                    break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its LocalCluster processes
        proc.wait()
    assert 3 <= done < 15, proc.stderr.read().decode()[-2000:]
    first = load(out)
    kept = first.status == DONE
    assert kept.sum() >= done
    rerun = subprocess.run(cmd + ["--json"], capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    final = load(out)
    assert json.loads(rerun.stdout)["done"] == 15
    # points finished before the kill were kept, not recomputed
    np.testing.assert_array_equal(final.provenance["finished_utc"][kept],
                                  first.provenance["finished_utc"][kept])
    ref_res = load(ref)
    assert np.all(final.status == DONE)
    for name in ref_res.metrics:
        np.testing.assert_array_equal(final.metrics[name], ref_res.metrics[name])
    assert not list(tmp_path.glob(".run.h5.*.tmp"))


@pytest.mark.slow
def test_existing_scheduler_by_address(tmp_path):
    """--scheduler ADDRESS: a separately started dask scheduler and worker processes."""
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
         "--port", "0", "--no-dashboard", "--scheduler-file", str(sched_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(sched_file), "--nthreads", "1", "--nworkers", "2", "--no-dashboard"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        address = json.loads(sched_file.read_text())["address"]
        out = tmp_path / "remote.h5"
        s = sweep.run_sweep(DEVICE_SPEC, out, scheduler=address, progress=False)
        assert s["executor"] == f"dask:{address}" and s["done"] == 4
    finally:
        for p in reversed(procs):
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
    ref = tmp_path / "ref.h5"
    sweep.run_sweep(DEVICE_SPEC, ref, workers=0, progress=False)
    _same_results(load(ref), load(out))


def test_job_reference_and_spec_from_toml(tmp_path, jobmod):
    toml = _write_toml(tmp_path / "s.toml", _spec(jobmod, n_bits=2, n_temp=1))
    spec = sweep.SweepSpec.from_toml(toml)
    assert spec.job == jobmod and len(spec) == 2
    out = tmp_path / "s.h5"
    assert main(["sweep", str(toml), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    assert load(out).metrics["stats.bits"].tolist() == [4.0, 6.0]
    (tmp_path / "bad.toml").write_text("[sweep\njob = 1\n")
    with pytest.raises(ConfigError, match="malformed TOML"):
        sweep.SweepSpec.from_toml(tmp_path / "bad.toml")


# --- built-in jobs --------------------------------------------------------------------------


def test_adc_enob_job_ideal_and_noisy(tmp_path):
    """An ideal SAR ADC reaches its resolution; the card's mismatch and noise cost ENOB."""
    raw = {"sweep": {"job": "adc_enob"}, "options": {"n_samples": 2048},
           "grid": {"converter_noise": [False, True], "tile.adc_bits": [6, 10]}}
    out = tmp_path / "adc.h5"
    s = sweep.run_sweep(raw, out, workers=0, progress=False)
    assert s["done"] == 4
    res = load(out)
    enob = res.metrics["enob"]
    np.testing.assert_allclose(enob[:2], [6.0, 10.0], atol=0.15)  # ideal quantiser
    assert enob[3] < enob[1] - 0.1  # noisy 10-bit below ideal 10-bit
    energy = res.metrics["energy_per_conversion_j"]
    assert energy[1] > energy[0] > 0  # more bits, more CDAC switching
    with pytest.raises(ConfigError, match="n_samples"):
        sweep.SweepSpec.from_dict({"sweep": {"job": "adc_enob"},
                                   "options": {"n_samples": 1000}}).points()


@pytest.mark.slow
def test_demo_job_and_example_spec(tmp_path):
    """The demo network as a sweep job; the example spec expands and validates."""
    example = Path(__file__).parents[1] / "examples" / "adc_bits_sweep.toml"
    spec = sweep.SweepSpec.from_toml(example)
    assert spec.job == "demo" and len(spec) >= 25
    assert len(spec.points()) == len(spec)
    raw = {"sweep": {"job": "demo"}, "options": {"n_test": 120},
           "list": [{"tile.adc_bits": 8}, {"tile.adc_bits": 2},
                    {"tile.adc_bits": 2, "options.digital_layers": ["conv1", "conv2", "fc"]}]}
    out = tmp_path / "demo.h5"
    assert sweep.run_sweep(raw, out, workers=0, progress=False)["done"] == 3
    res = load(out)
    m = res.metrics
    # every weighted layer digital: the 2-bit ADCs are unused, the result is exact
    assert m["analog_accuracy"][2] == m["float_accuracy"][2]
    assert json.loads(res.fields["options.digital_layers"][2]) == ["conv1", "conv2", "fc"]
    assert m["analog_accuracy"][0] > m["analog_accuracy"][1]
    assert m["float_accuracy"][0] == m["float_accuracy"][1] > 0.9
    for name in ("energy_per_inference_j", "latency_per_inference_s", "tops_per_w", "edp_js",
                 "energy.adc_j"):
        assert np.all(m[name][:2] > 0), name
    assert m["energy.adc_j"][0] > m["energy.adc_j"][1] > m["energy.adc_j"][2] == 0.0


@pytest.mark.slow
def test_bench_sweep_record_quick(capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("bench_sweep_smoke", path)
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_sweep_smoke"] = bench
    spec.loader.exec_module(bench)
    assert bench.main(["--quick", "--json", "--only", "sweep_example"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    two = records["sweep_example_2_workers"]
    assert two["results_identical"] and two["points"] == records["sweep_example_1_worker"]["points"]
    assert two["speedup_vs_1_worker"] == pytest.approx(
        records["sweep_example_1_worker"]["time_s"] / two["time_s"])
