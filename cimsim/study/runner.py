"""Running a sweep: :func:`run_sweep` on Dask workers or in-process, into one HDF5 store.

Execution: a Dask ``LocalCluster`` of single-threaded worker processes by default, an existing
cluster by scheduler address, or in-process (``workers=0``, or when ``dask.distributed`` is not
installed) with the same store. Each finished point is written to the HDF5 store
(:mod:`cimsim.study.store`) durably before it is reported done; rerunning the same spec on the
same file resumes, skipping finished points. At most one point runs per alive worker thread; a
point whose worker died while running it alone is retried up to ``max_attempts`` times, points
failed together by one worker death are not charged but rerun one at a time, and every point is
recorded exactly once.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import math
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from device_models import cards as _cards
from device_models._checks import check_int, fail
from device_models.errors import ClusterError, StoreError

from .._version import __version__
from ..hardware import CARD_KINDS
from .jobs import get_job
from .point import PointConfig
from .spec import DEFAULT_MAX_POINTS, SweepSpec
from .store import DONE, FAILED, PointRecord, SweepStore, spec_sha256, writer_lock

__all__ = ["execute_point", "run_sweep"]


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, name + "."))
            continue
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        if isinstance(value, (bool, np.bool_)):
            value = float(value)
        if not isinstance(value, (int, float, np.integer, np.floating)):
            fail(f"metric {name}", "the sweep job", "a real scalar", value)
        out[name] = float(value)
    return out


def execute_point(point: Mapping[str, Any], attempt: int = 1) -> dict[str, Any]:
    """Run one point (on a worker): rebuild its config, call the job, time it.

    Never raises for a failing job: the traceback is returned as the point's error.
    """
    if not isinstance(point, Mapping) or not isinstance(point.get("index"), int) \
            or isinstance(point.get("index"), bool):
        fail("point", "execute_point", "a point dict (PointConfig.to_dict()) with an integer "
             "'index'", point)
    attempt = check_int("attempt", attempt, "execute_point", lo=1)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"index": int(point["index"]), "attempts": attempt,
                           "host": socket.gethostname(), "pid": os.getpid()}
    try:
        config = PointConfig.from_dict(point)
        out["seed"] = config.seed
        for field, sha in point.get("cards", {}).items():
            card = config.hardware.card(field)
            if card.sha256 != sha:
                raise StoreError(
                    f"{field} {card.name!r} on this worker ({card.path}) has values (sha256 "
                    f"{card.sha256[:12]}) other than those the sweep was started with "
                    f"({sha[:12]}): the worker sees another version of the card.")
        metrics = get_job(config.job).func(config)
        if not isinstance(metrics, Mapping):
            fail("result", f"job {config.job!r}", "a mapping of metric names to numbers",
                 metrics)
        out["metrics"] = _flatten(metrics)
        out["status"] = DONE
    except Exception:  # a failing point is recorded, the sweep goes on
        out["status"] = FAILED
        out["error"] = traceback.format_exc()
    out["elapsed_s"] = time.perf_counter() - t0
    out["finished_utc"] = time.time()
    try:
        from distributed import get_worker

        out["worker"] = get_worker().address
    except (ImportError, ValueError):
        out["worker"] = f"in-process:{os.getpid()}"
    return out


def _record(res: Mapping[str, Any], seed: int) -> PointRecord:
    return PointRecord(
        index=res["index"], status=res["status"], metrics=res.get("metrics", {}),
        error=res.get("error", ""), seed=res.get("seed", seed),
        finished_utc=res["finished_utc"], elapsed_s=res["elapsed_s"], host=res["host"],
        worker=res["worker"], attempts=res["attempts"], cimsim_version=__version__,
    )


def _have_distributed() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


class _Progress:
    """Progress bar (tqdm, stderr) and the per-point callback, after each durable write."""

    def __init__(self, store: SweepStore, enabled: bool, callback: Callable | None):
        from tqdm.auto import tqdm

        s = store.summary()
        self.done, self.failed = s["done"], 0
        self.callback = callback
        self.bar = tqdm(total=s["total"], initial=s["done"], desc="sweep", unit="pt",
                        file=sys.stderr, disable=not enabled, dynamic_ncols=True)
        self.bar.set_postfix(done=self.done, failed=self.failed)

    def report(self, records: Sequence[PointRecord]) -> None:
        for r in records:
            if r.status == DONE:
                self.done += 1
            else:
                self.failed += 1
        self.bar.set_postfix(done=self.done, failed=self.failed, refresh=False)
        self.bar.update(len(records))
        if self.callback is not None:
            for r in records:
                self.callback(r)

    def close(self) -> None:
        self.bar.close()


def _run_in_process(todo, point_dicts, seeds, store, progress) -> None:
    for i in todo:
        rec = _record(execute_point(point_dicts[i]), seeds[i])
        store.write([rec])
        progress.report([rec])


#: Seconds between checks of the alive worker threads while points run.
_POLL_S = 1.0


def _alive_threads(client) -> int:
    """Threads of the workers the scheduler knows now (0 while every worker is restarting)."""
    return int(sum(client.nthreads().values()))


def _killed_by(fut) -> str | None:
    """Address of the worker whose death failed ``fut`` (a KilledWorker error), else None."""
    if fut.status != "error":
        return None
    from distributed import KilledWorker

    exc = fut.exception()
    if not isinstance(exc, KilledWorker):
        return None
    last = exc.last_worker
    return str(getattr(last, "address", last))


async def _loop_barrier() -> None:
    """Nothing; run on the client's event loop it returns after the messages being handled."""


def _run_dask(client, todo, point_dicts, seeds, store, progress, tag, max_attempts) -> None:
    """Run the points ``todo`` on a Dask cluster; write each outcome as it arrives.

    A point is charged an attempt only for a failure it plausibly caused:

    * At most as many points are in flight as the cluster has alive worker threads (asked of
      the scheduler every ``_POLL_S`` and after every failed task, so after a worker died
      fewer run until its replacement joins): the scheduler gives each point an idle worker,
      and a dying worker takes no queued point with it.
    * A point whose worker died (KilledWorker) while it was the only point failed by that
      death is charged an attempt and resubmitted, up to ``max_attempts``, then recorded
      FAILED.
    * If one worker death fails several points at once (a worker held more than one point:
      a race with a restarting worker, or a multi-threaded worker), none of them is charged:
      each is rerun alone, with no other point in flight, so the next death is its own.
    * Any other error of the task (not of the job, which :func:`execute_point` records) is
      charged.

    Results are keyed by point index, so the order and the retries do not change them. Only
    this driver writes the store, and each outcome is written before it is reported.
    """
    import queue

    ready = collections.deque((i, 1) for i in todo)  # (index, attempt) to run
    suspects: collections.deque[tuple[int, int]] = collections.deque()  # to run alone
    inflight: dict[Any, tuple[int, int]] = {}
    woken: queue.SimpleQueue = queue.SimpleQueue()
    serial = itertools.count()
    threads, asked = 0, -math.inf  # alive worker threads, when last asked [s]

    def submit(i: int, attempt: int) -> None:
        fut = client.submit(execute_point, point_dicts[i], attempt,
                            key=f"cimsim-point-{tag}-{i}-a{attempt}-s{next(serial)}",
                            pure=False)
        inflight[fut] = (i, attempt)
        fut.add_done_callback(woken.put)

    while ready or suspects or inflight:
        if suspects:
            if not inflight:
                submit(*suspects.popleft())
        elif ready:
            if time.monotonic() - asked >= _POLL_S:
                threads, asked = _alive_threads(client), time.monotonic()
            free = max(1, threads) - len(inflight)
            for _ in range(min(free, len(ready))):
                submit(*ready.popleft())
        try:
            woken.get(timeout=_POLL_S)
        except queue.Empty:
            continue  # nothing finished: look again at the alive workers
        # The scheduler reports every point failed by one worker death in one message batch;
        # a no-op on the client's event loop waits until that batch is fully applied, so the
        # scan below sees all of them together.
        client.sync(_loop_barrier)
        finished = [f for f in inflight if f.status != "pending"]
        victims = collections.Counter(_killed_by(f) for f in finished)
        if any(f.status != "finished" for f in finished):
            asked = -math.inf  # a worker may have died: ask again before submitting
        records = []
        for fut in finished:
            i, attempt = inflight.pop(fut)
            died_on = _killed_by(fut)
            if fut.status == "finished":
                records.append(_record(fut.result(), seeds[i]))
            elif died_on is not None and victims[died_on] > 1:
                suspects.append((i, attempt))  # died with others: not charged, run alone
            elif attempt < max_attempts:
                ready.appendleft((i, attempt + 1))
            else:
                exc = fut.exception() if fut.status == "error" else fut.status
                why = ("its worker died while running only this point: "
                       if died_on is not None else "")
                records.append(PointRecord(
                    index=i, status=FAILED, seed=seeds[i], attempts=attempt,
                    error=f"gave up after {attempt} attempts: {why}{exc!r}",
                    finished_utc=time.time()))
            fut.release()
        if records:
            store.write(records)
            progress.report(records)


def run_sweep(
    spec: SweepSpec | str | os.PathLike | Mapping[str, Any],
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    client: Any = None,
    progress: bool = True,
    on_point: Callable[[PointRecord], None] | None = None,
    max_attempts: int = 3,
    max_points: int = DEFAULT_MAX_POINTS,
) -> dict[str, Any]:
    """Run (or resume) a sweep into the HDF5 file ``out``.

    Parameters
    ----------
    spec : SweepSpec, path to a TOML spec, or dict
        What to sweep; every point is validated before anything runs.
    out : path
        The sweep's HDF5 file. If it exists it must hold the same spec and the same card
        values: finished points are skipped, pending and failed ones run. A symbolic link is
        followed (the file it points to is locked and written).
    workers : int, optional
        Worker processes of the LocalCluster (1 thread each); default: CPU count. ``0`` runs
        in-process (also the fallback when ``dask.distributed`` is not installed).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a LocalCluster;
        one that does not answer within ``_CONNECT_TIMEOUT_S`` raises ClusterError before any
        file is created.
    client : distributed.Client, optional
        An existing client (takes precedence over ``workers`` and ``scheduler``).
    progress : bool
        Show a tqdm progress bar (done, failed, rate) on stderr.
    on_point : callable, optional
        Called with each :class:`~cimsim.study.store.PointRecord` after it is durably written.
    max_attempts : int
        Executions of a point whose worker died while running only that point, before the point
        is recorded as failed. Points failed together by one worker death are not charged; they
        are rerun one at a time. On a cluster of your own, deaths surface to this driver only
        after the scheduler's ``distributed.scheduler.allowed-failures`` retries (the
        LocalCluster started here sets it to 0, so each death counts here).
    max_points : int
        Largest number of points accepted (ConfigError beyond it, before anything is
        expanded); default :data:`~cimsim.study.spec.DEFAULT_MAX_POINTS`.

    Returns
    -------
    dict
        ``{"total", "done", "failed", "pending", "path", "elapsed_s", "executor"}``.
    """
    t0 = time.perf_counter()
    caller = "run_sweep"
    if workers is not None:
        workers = check_int("workers", workers, caller, lo=0)
    max_attempts = check_int("max_attempts", max_attempts, caller, lo=1)
    if scheduler is not None and (not isinstance(scheduler, str) or not scheduler):
        fail("scheduler", caller, "a scheduler address such as 'tcp://host:8786'", scheduler)
    if not isinstance(out, (str, os.PathLike)) or not os.fspath(out):
        fail("out", caller, "a path", out)
    if not isinstance(spec, SweepSpec):
        spec = (SweepSpec.from_dict(spec, max_points=max_points) if isinstance(spec, Mapping)
                else SweepSpec.from_toml(spec, max_points=max_points))
    else:
        spec.check_size(max_points)
    points = spec.points()
    point_dicts = [p.to_dict() for p in points]
    cards_json = _cards_record(points, point_dicts)
    configs = [json.dumps(d, sort_keys=True) for d in point_dicts]
    seeds = [p.seed for p in points]
    fields = {f: [a.get(f) for a in spec.assignments] for f in spec.fields}
    path = Path(out).resolve()  # a symlink: lock and write the file it points to
    todo_known = _nothing_pending(path)
    tag = spec_sha256(spec.json)[:12]
    with contextlib.ExitStack() as stack:
        # connect first: an unreachable scheduler fails before any file is made
        cl, executor = (None, "none") if todo_known else stack.enter_context(
            _executor(client, scheduler, workers))
        stack.enter_context(writer_lock(path))
        store = SweepStore.open_or_create(path, spec_json=spec.json, job=spec.job,
                                          configs=configs, fields=fields, seeds=seeds,
                                          cards_json=cards_json)
        todo = store.pending()
        if not todo:
            executor = "none"
        else:
            if executor == "none":  # the file changed since it was looked at
                cl, executor = stack.enter_context(_executor(client, scheduler, workers))
            bar = _Progress(store, progress, on_point)
            try:
                if cl is None:
                    _run_in_process(todo, point_dicts, seeds, store, bar)
                else:
                    _run_dask(cl, todo, point_dicts, seeds, store, bar, tag, max_attempts)
            finally:
                bar.close()
    summary = store.summary()
    summary.update(path=str(store.path), elapsed_s=time.perf_counter() - t0, executor=executor)
    return summary


def _cards_record(points: Sequence[PointConfig], point_dicts: list[dict]) -> str:
    """JSON of every card the points use, by name: ``{"sha256", "path", "content"}``; a card
    replaced for a point is recorded by the card it was replaced from (its own values are in
    the point's configuration). Each point dict gets ``"cards"``: field → sha256 of the card
    the point uses, which :func:`execute_point` checks on the worker."""
    record: dict[str, dict[str, Any]] = {}
    for p, d in zip(points, point_dicts, strict=True):
        hw = p.hardware
        used = {}
        for field in CARD_KINDS:
            card = hw.card(field)
            used[field] = card.sha256
            base = card if not card.modified else _cards.load(card.name)
            if base.name not in record:
                record[base.name] = {"sha256": base.sha256, "path": base.path,
                                     "content": base.to_dict()}
            elif record[base.name]["sha256"] != base.sha256:
                raise StoreError(f"card {base.name!r} changed while the sweep was being "
                                 "prepared; try again.")
        d["cards"] = used
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def _nothing_pending(path: Path) -> bool:
    """True if ``path`` is a readable sweep file with every point done (no cluster needed)."""
    if not path.is_file():
        return False
    try:
        return not SweepStore.open(path).pending()
    except StoreError:
        return False  # reported, with the lock held, by SweepStore.open_or_create


#: Seconds to wait for a Dask scheduler given by address before ClusterError.
_CONNECT_TIMEOUT_S = 10.0


def _unreachable(scheduler: str, exc: BaseException) -> ClusterError:
    if isinstance(exc, (OSError, TimeoutError, ValueError)):
        what = f"cannot reach the Dask scheduler at {scheduler!r}"
    else:  # a server answered, but not as a Dask scheduler
        what = f"the server at {scheduler!r} does not answer as a Dask scheduler"
    return ClusterError(
        f"{what} ({type(exc).__name__}: {str(exc)[:200]}; waited at most "
        f"{_CONNECT_TIMEOUT_S:g} s); start it, check the address (e.g. tcp://host:8786), or "
        "run with --workers N.")


def _probe_scheduler(scheduler: str) -> None:
    """ClusterError at once if a TCP scheduler address refuses connections or does not
    resolve (the Dask client would retry until its timeout)."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, loc = parse_address(scheduler)
        if scheme not in ("tcp", "tls"):
            return  # other transports: the client's own connect decides
        host, port = parse_host_port(loc)
        socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S).close()
    except Exception as exc:  # a malformed address, refused, unresolved
        raise _unreachable(scheduler, exc) from None


@contextlib.contextmanager
def _executor(client, scheduler, workers):
    """Yield ``(client or None, executor name)``: None runs in-process."""
    use_dask = client is not None or scheduler is not None or (
        workers != 0 and _have_distributed())
    if not use_dask:
        yield None, "in-process"
        return
    with _dask_client(client, scheduler, workers) as pair:
        yield pair


@contextlib.contextmanager
def _dask_client(client, scheduler, workers):
    if client is not None:
        yield client, "dask:client"
        return
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        _probe_scheduler(scheduler)
        try:
            cl = Client(scheduler, timeout=f"{_CONNECT_TIMEOUT_S}s")
        except Exception as exc:  # whatever answers there is no scheduler
            raise _unreachable(scheduler, exc) from None
        with cl:
            yield cl, f"dask:{scheduler}"
        return
    n = workers or os.cpu_count() or 1
    env = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    # allowed-failures 0: every worker death reaches the driver, which decides whom to charge
    # (_run_dask); worker-saturation 1.0: no worker is sent more points than it has threads
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0}), \
            LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                         dashboard_address=None, silence_logs=logging.ERROR, env=env) as cluster, \
            Client(cluster) as cl:
        yield cl, f"dask:local:{n}"
