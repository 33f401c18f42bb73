"""Durable HDF5 store of one parameter sweep: spec, point configs, metrics and provenance.

One sweep is one HDF5 file (format ``"cimsim-sweep"``)::

    /                     attrs: format, format_version, spec_json, spec_sha256, job, total,
                                 created_utc, cimsim_version, fields_json, cards_json,
                                 cards_sha256
    /points/config        (N,) bytes full configuration of each point (UTF-8 JSON, gzip)
    /points/status        (N,) int8  0 pending, 1 done, 2 failed
    /points/error         (N,) str   traceback of a failed point
    /points/seed          (N,) int64 seed of the point's random streams
    /points/finished_utc  (N,) f8    POSIX time the point finished [s]
    /points/elapsed_s     (N,) f8    wall time of the point on its worker [s]
    /points/host, worker, cimsim_version   (N,) str   where and with what it ran
    /points/attempts      (N,) int32 executions needed (> 1 after a worker died)
    /fields/<path>        (N,)       value of each swept field (e.g. ``tile.adc_bits``)
    /metrics/<name>       (N,) f8    metric of each point (NaN until done)

``cards_json`` records every card the points name (name → ``sha256`` of its values, the file
it was read from and its full content): a resume whose cards differ is refused. Every dataset
carries an HDF5 Fletcher-32 checksum, verified on every read, and the header attributes are
checked against their SHA-256; strings are stored as fixed-width UTF-8 bytes so the checksums
cover them. A damaged byte raises :class:`~device_models.errors.StoreError`, never a wrong
number.

Durability: every update is written to a temporary copy in the same directory, flushed,
``fsync``-ed and atomically renamed over the file (then the directory is ``fsync``-ed). The
file on disk is therefore always a complete, consistent version: a crash (of the driver, a
worker or the machine) loses no point whose write returned, and never leaves a half-written
file. Only the driver process writes. Readers (``cimsim sweep-status``) may open the file at any
time and see the last complete version.

A file that is not HDF5, is truncated, or is an HDF5 file of something else raises
:class:`~device_models.errors.StoreError` and is never overwritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from device_models._checks import check_path
from device_models.errors import MissingDependencyError, StoreError

from .._version import __version__

__all__ = [
    "DONE",
    "FAILED",
    "FORMAT",
    "FORMAT_VERSION",
    "PENDING",
    "PointRecord",
    "SweepResults",
    "SweepStore",
    "load",
    "writer_lock",
]

FORMAT = "cimsim-sweep"
FORMAT_VERSION = 2
PENDING, DONE, FAILED = 0, 1, 2
_STATUS_NAMES = {PENDING: "pending", DONE: "done", FAILED: "failed"}
_PROV_STR = ("host", "worker", "cimsim_version")
_PROV_NUM = {"seed": (np.int64, 0), "finished_utc": (np.float64, np.nan),
             "elapsed_s": (np.float64, np.nan), "attempts": (np.int32, 0)}


@dataclasses.dataclass
class PointRecord:
    """Outcome of one point, as the driver writes it.

    Attributes
    ----------
    index : int
        Point index in the sweep (its key; independent of completion order).
    status : int
        :data:`DONE` or :data:`FAILED`.
    metrics : Mapping[str, float]
        Metric name → value (only for DONE points).
    error : str
        Traceback or reason (only for FAILED points).
    seed, finished_utc, elapsed_s, host, worker, attempts, cimsim_version
        Provenance: seed of the point (None keeps the one stored at creation), POSIX finish
        time [s], wall time [s], host name, worker address, number of executions, package
        version that computed it.
    """

    index: int
    status: int
    metrics: Mapping[str, float] = dataclasses.field(default_factory=dict)
    error: str = ""
    seed: int | None = None
    finished_utc: float = math.nan
    elapsed_s: float = math.nan
    host: str = ""
    worker: str = ""
    attempts: int = 1
    cimsim_version: str = __version__


def spec_sha256(spec_json: str) -> str:
    """Hex SHA-256 of a canonical spec JSON string."""
    return hashlib.sha256(spec_json.encode()).hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse directory fsync
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _column(values: Sequence[Any]) -> np.ndarray:
    """Best NumPy column for a list of swept values (bool, int, float or str)."""
    if all(isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=bool)
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
           for v in values):
        return np.asarray(values, dtype=np.float64)
    return np.asarray([v if isinstance(v, str) else json.dumps(v) for v in values], dtype=object)


def _bytes(values: Sequence[str]) -> np.ndarray:
    """UTF-8 strings as one fixed-width bytes column (checksummed, unlike variable-length
    strings, whose bytes live outside the dataset)."""
    encoded = [v.encode() for v in values]
    width = max((len(b) for b in encoded), default=1) or 1
    return np.asarray(encoded, dtype=f"S{width}")


def _dataset(group: h5py.Group, name: str, data: np.ndarray, **kw) -> h5py.Dataset:
    """A chunked dataset with a Fletcher-32 checksum (verified by HDF5 on every read)."""
    n = max(int(data.shape[0]) if data.ndim else 1, 1)
    return group.create_dataset(name, data=data, chunks=(min(n, 1024),), fletcher32=True, **kw)


def _set_str(group: h5py.Group, name: str, i: int, value: str) -> None:
    """Set entry ``i`` of a fixed-width bytes column, widening the column if needed."""
    ds = group[name]
    raw = value.encode()
    if len(raw) > ds.dtype.itemsize:
        data = ds[()].astype(f"S{len(raw)}")
        del group[name]
        ds = _dataset(group, name, data)
    ds[i] = raw


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise StoreError(f"{path}: no such sweep file.")
    if not path.is_file():
        raise StoreError(f"{path}: is not a regular file.")
    try:
        is_h5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read: {exc}") from None
    if not is_h5:
        raise StoreError(
            f"{path}: is not an HDF5 file (foreign or truncated); refusing to use or overwrite it."
        )


@contextlib.contextmanager
def _open_h5(path: Path, mode: str = "r"):
    """Open with h5py, turning library errors into StoreError."""
    try:
        fh = h5py.File(path, mode, locking=False) if mode == "r" else h5py.File(path, mode)
    except (OSError, RuntimeError, ValueError) as exc:
        raise StoreError(
            f"{path}: cannot be opened as HDF5 (truncated or damaged?): {exc}. "
            "Refusing to overwrite it."
        ) from None
    try:
        yield fh
    finally:
        fh.close()


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if not isinstance(value, str):
        raise TypeError(f"expected a string attribute, got {type(value).__name__}")
    return value


def _read_header(fh: h5py.File, path: Path) -> dict[str, Any]:
    attrs = fh.attrs
    fmt = attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT:
        raise StoreError(
            f"{path}: is an HDF5 file but not a cimsim sweep (attribute 'format' is {fmt!r}, "
            f"expected {FORMAT!r}); refusing to use or overwrite it."
        )
    try:
        version = int(attrs.get("format_version", -1))
    except (OSError, RuntimeError, ValueError, TypeError) as exc:
        raise StoreError(f"{path}: damaged cimsim sweep file ({exc}).") from None
    if version != FORMAT_VERSION:
        raise StoreError(
            f"{path}: sweep format version {version} is not supported (this cimsim reads "
            f"version {FORMAT_VERSION}); rerun the sweep into a new file."
        )
    try:
        header = {
            "spec_json": _text(attrs["spec_json"]),
            "spec_sha256": _text(attrs["spec_sha256"]),
            "job": _text(attrs["job"]),
            "total": int(attrs["total"]),
            "created_utc": _text(attrs["created_utc"]),
            "cimsim_version": _text(attrs["cimsim_version"]),
            "fields": json.loads(_text(attrs["fields_json"])),
            "cards_json": _text(attrs["cards_json"]),
            "cards_sha256": _text(attrs["cards_sha256"]),
        }
        status = np.asarray(fh["points/status"][()], dtype=np.int8)
    except (KeyError, OSError, RuntimeError, ValueError, TypeError) as exc:
        raise StoreError(f"{path}: damaged cimsim sweep file ({exc}).") from None
    for key in ("spec", "cards"):
        try:
            ok = spec_sha256(header[f"{key}_json"]) == header[f"{key}_sha256"]
        except UnicodeError:
            ok = False
        if not ok:
            raise StoreError(f"{path}: damaged cimsim sweep file (attribute {key}_json does not "
                             f"match its SHA-256).")
    if not isinstance(header["fields"], list) or header["total"] < 0:
        raise StoreError(f"{path}: damaged cimsim sweep file (bad fields_json or total).")
    if status.shape != (header["total"],):
        raise StoreError(
            f"{path}: damaged cimsim sweep file (status has shape {status.shape}, expected "
            f"({header['total']},))."
        )
    header["status"] = status
    return header


class SweepStore:
    """The HDF5 file of one sweep, opened by the driver (the only writer).

    Use :meth:`open_or_create` to start or resume a sweep, :meth:`write` to record finished
    points durably, and :func:`load` to read results.
    """

    def __init__(self, path: Path, header: dict[str, Any]):
        self.path = Path(path)
        self.spec_json: str = header["spec_json"]
        self.cards_json: str = header["cards_json"]
        self.job: str = header["job"]
        self.total: int = header["total"]
        self.fields: list[str] = list(header["fields"])
        self.status: np.ndarray = header["status"].copy()

    # --- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike) -> SweepStore:
        """Open an existing sweep file; StoreError if missing, foreign, truncated or damaged."""
        path = check_path("path", path, "SweepStore.open")
        _check_readable(path)
        with _open_h5(path) as fh:
            header = _read_header(fh, path)
        return cls(path, header)

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        *,
        spec_json: str,
        job: str,
        configs: Sequence[str],
        fields: Mapping[str, Sequence[Any]],
        seeds: Sequence[int],
        cards_json: str = "{}",
    ) -> SweepStore:
        """Create a new sweep file (atomically); StoreError if ``path`` already exists."""
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path}: already exists; refusing to overwrite it.")
        n = len(configs)
        if len(seeds) != n or any(len(v) != n for v in fields.values()):
            raise StoreError("configs, seeds and every field column must have one entry per point.")
        _mkdir(path)
        with _replacing(path) as tmp:
            with _writing(tmp, "w") as fh:
                a = fh.attrs
                a["format"] = FORMAT
                a["format_version"] = FORMAT_VERSION
                a["spec_json"] = spec_json
                a["spec_sha256"] = spec_sha256(spec_json)
                a["job"] = job
                a["total"] = n
                a["created_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                a["cimsim_version"] = __version__
                a["fields_json"] = json.dumps(list(fields))
                a["cards_json"] = cards_json
                a["cards_sha256"] = spec_sha256(cards_json)
                pts = fh.create_group("points")
                # fixed-length UTF-8 bytes so that gzip compresses the text itself
                _dataset(pts, "config", _bytes(configs), compression="gzip", shuffle=True)
                _dataset(pts, "status", np.zeros(n, np.int8))
                for name in ("error", *_PROV_STR):
                    _dataset(pts, name, _bytes([""] * n))
                for name, (dtype, fill) in _PROV_NUM.items():
                    _dataset(pts, name, np.full(n, fill, dtype=dtype))
                pts["seed"][...] = np.asarray(seeds, dtype=np.int64)
                grp = fh.create_group("fields")
                for name, values in fields.items():
                    col = _column(list(values))
                    _dataset(grp, name, _bytes(list(col)) if col.dtype == object else col)
                fh.create_group("metrics")
        return cls.open(path)

    @classmethod
    def open_or_create(
        cls,
        path: str | os.PathLike,
        *,
        spec_json: str,
        job: str,
        configs: Sequence[str],
        fields: Mapping[str, Sequence[Any]],
        seeds: Sequence[int],
        cards_json: str = "{}",
    ) -> SweepStore:
        """Resume the sweep in ``path`` if it holds the same spec and cards, else create it.

        Raises
        ------
        StoreError
            If ``path`` exists and is not a cimsim sweep file (foreign, truncated, damaged), or
            holds a different spec, or cards whose values differ from the cards now loaded
            (an edited card, or one shadowed through ``CIMSIM_CARDS_PATH``), or the same spec
            now expands to different point configurations (e.g. changed package defaults).
            The file is left untouched.
        """
        path = Path(path)
        _remove_stale_tmp(path)
        if not path.exists():
            return cls.create(path, spec_json=spec_json, job=job, configs=configs,
                              fields=fields, seeds=seeds, cards_json=cards_json)
        store = cls.open(path)
        if store.spec_json != spec_json:
            raise StoreError(
                f"{path}: holds a different sweep spec (stored sha256 "
                f"{spec_sha256(store.spec_json)[:12]}, given {spec_sha256(spec_json)[:12]}); "
                "refusing to resume or overwrite it. Use another --out file."
            )
        _compare_cards(path, store.cards_json, cards_json)
        if store.total != len(configs):
            raise StoreError(f"{path}: holds {store.total} points, the spec gives {len(configs)}.")
        stored = store.read_configs()
        for i, (old, new) in enumerate(zip(stored, configs, strict=True)):
            if old != new:
                raise StoreError(
                    f"{path}: point {i} was stored with a different configuration than the spec "
                    "now gives (package defaults or cards changed?); refusing to mix them. "
                    "Use another --out file."
                )
        return store

    # --- reading -------------------------------------------------------------------------

    def read_configs(self) -> list[str]:
        """Each point's configuration JSON, as stored."""
        with _open_h5(self.path) as fh:
            try:
                raw = fh["points/config"][()]
            except (KeyError, OSError, RuntimeError) as exc:
                raise StoreError(f"{self.path}: damaged cimsim sweep file ({exc}).") from None
        return list(_as_str_array(raw))

    def pending(self) -> list[int]:
        """Indices of points not yet done (pending or failed)."""
        return [int(i) for i in np.flatnonzero(self.status != DONE)]

    def summary(self) -> dict[str, Any]:
        """Counts: total, done, failed, pending."""
        return _counts(self.status)

    # --- writing -------------------------------------------------------------------------

    def write(self, records: Sequence[PointRecord]) -> None:
        """Record finished points durably (copy, update, fsync, atomic rename).

        When this returns, the points are on disk; a crash afterwards cannot lose them. A point
        already DONE in the file is never rewritten (no duplicates).
        """
        records = [r for r in records if self.status[r.index] != DONE]
        if not records:
            return
        with _replacing(self.path) as tmp:
            try:
                shutil.copyfile(self.path, tmp)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot write a new version of the sweep file "
                                 f"beside it: {exc}") from None
            with _writing(tmp, "r+") as fh:
                pts, mets = fh["points"], fh["metrics"]
                for r in records:
                    i = r.index
                    if not 0 <= i < self.total:
                        raise StoreError(f"point index {i} outside [0, {self.total}).")
                    for name, value in r.metrics.items():
                        if name not in mets:
                            _dataset(mets, name, np.full(self.total, np.nan))
                        mets[name][i] = value
                    _set_str(pts, "error", i, r.error)
                    if r.seed is not None:  # else keep the seed stored at creation
                        pts["seed"][i] = r.seed
                    pts["finished_utc"][i] = r.finished_utc
                    pts["elapsed_s"][i] = r.elapsed_s
                    _set_str(pts, "host", i, r.host)
                    _set_str(pts, "worker", i, r.worker)
                    pts["attempts"][i] = r.attempts
                    _set_str(pts, "cimsim_version", i, r.cimsim_version)
                    pts["status"][i] = r.status
        for r in records:
            self.status[r.index] = r.status


def _compare_cards(path: Path, stored_json: str, given_json: str) -> None:
    """StoreError naming each card whose values differ between the file and now."""
    if stored_json == given_json:
        return
    stored, given = json.loads(stored_json), json.loads(given_json)
    lines = []
    for name in sorted(set(stored) | set(given)):
        old, new = stored.get(name), given.get(name)
        if old is None or new is None:
            lines.append(f"{name}: {'not used' if old is None else 'used'} when the file was "
                         f"made, {'used' if new is not None else 'not used'} now")
            continue
        if old["sha256"] == new["sha256"]:
            continue
        ov, nv = old["content"]["values"], new["content"]["values"]
        diff = [f"{k} {ov.get(k, {}).get('value')!r} -> {nv.get(k, {}).get('value')!r}"
                for k in sorted(set(ov) | set(nv)) if ov.get(k) != nv.get(k)
                and (ov.get(k) or {}).get("value") != (nv.get(k) or {}).get("value")]
        where = (f" (now read from {new['path']}, then from {old['path']})"
                 if old.get("path") != new.get("path") else "")
        lines.append(f"{name}{where}: {', '.join(diff) or 'units differ'}")
    if lines:
        raise StoreError(
            f"{path}: the cards now loaded differ from those the sweep was started with; "
            f"resuming would mix card versions. Changed: {'; '.join(lines)}. Restore the "
            "cards or use another --out file.")


def _mkdir(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"{path}: cannot create its folder: {exc}") from None


@contextlib.contextmanager
def _writing(path: Path, mode: str):
    """h5py.File for writing; an OS or HDF5 failure becomes StoreError naming the file."""
    try:
        fh = h5py.File(path, mode)
    except (OSError, RuntimeError) as exc:
        raise StoreError(f"{path}: cannot be written: {exc}") from None
    with fh:
        yield fh


@contextlib.contextmanager
def _replacing(path: Path):
    """Yield the temporary path ``.<name>.<pid>.tmp`` beside ``path``; when the block ends
    without error, fsync it and atomically rename it onto ``path`` (then fsync the folder).
    The temporary file never outlives the block."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        try:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreError(f"{path}: cannot be written: {exc}") from None
        _fsync_dir(path.parent)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@contextlib.contextmanager
def writer_lock(path: str | os.PathLike):
    """Hold the single-writer lock of sweep file ``path`` (StoreError if another driver has it).

    An advisory ``fcntl`` lock on the hidden file ``.<name>.lock`` beside ``path``; the lock
    dies with its process, so a killed driver never leaves the file locked. ``path`` is
    resolved first: a symbolic link locks (and the sweep writes) the file it points to.
    """
    path = Path(path).resolve()
    _mkdir(path)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no advisory lock
        yield
        return
    lock_path = path.with_name(f".{path.name}.lock")
    try:
        fh = open(lock_path, "a")  # held (and locked) for the duration of the context
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the sweep's lock file {lock_path.name} "
                         f"beside it: {exc}") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StoreError(
                f"{path}: another cimsim sweep is writing this file (lock {lock_path.name} is "
                "held); wait for it or use another --out file."
            ) from None
        yield
    finally:
        fh.close()


def _remove_stale_tmp(path: Path) -> None:
    """Delete temporary copies left by a driver that died mid-write (its pid is gone)."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            pid = int(tmp.name[len(path.name) + 2:-4])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except PermissionError:  # alive, another user's process
            continue


def _counts(status: np.ndarray) -> dict[str, int]:
    return {
        "total": int(status.size),
        "done": int(np.count_nonzero(status == DONE)),
        "failed": int(np.count_nonzero(status == FAILED)),
        "pending": int(np.count_nonzero(status == PENDING)),
    }


@dataclasses.dataclass
class SweepResults:
    """A sweep file loaded into NumPy arrays (one entry per point, in index order).

    Attributes
    ----------
    path : Path
    spec : dict
        The sweep spec as given (parsed TOML).
    job : str
    status : ndarray of int8
        0 pending, 1 done, 2 failed (see :attr:`status_names`).
    fields : dict[str, ndarray]
        Swept field path → values.
    metrics : dict[str, ndarray of float64]
        Metric name → values (NaN where the point is not done).
    provenance : dict[str, ndarray]
        seed, finished_utc [s], elapsed_s [s], host, worker, attempts, cimsim_version, error.
    configs : list[dict]
        Each point's full configuration.
    cards : dict[str, dict]
        Every card the points name: card name → ``{"sha256", "path", "content"}`` (the card's
        values, units, notes and citation when the sweep was started).
    """

    path: Path
    spec: dict
    job: str
    created_utc: str
    cimsim_version: str
    status: np.ndarray
    fields: dict[str, np.ndarray]
    metrics: dict[str, np.ndarray]
    provenance: dict[str, np.ndarray]
    configs: list[dict]
    cards: dict = dataclasses.field(default_factory=dict)

    @property
    def status_names(self) -> np.ndarray:
        """Status of each point as a string: 'pending', 'done' or 'failed'."""
        return np.asarray([_STATUS_NAMES[int(s)] for s in self.status], dtype=object)

    @property
    def done(self) -> np.ndarray:
        """Boolean mask of finished points."""
        return self.status == DONE

    def summary(self) -> dict[str, Any]:
        """Counts (total, done, failed, pending) plus job, fields and metric names."""
        out: dict[str, Any] = _counts(self.status)
        out.update(job=self.job, fields=list(self.fields), metrics=sorted(self.metrics),
                   created_utc=self.created_utc, cimsim_version=self.cimsim_version,
                   path=str(self.path))
        return out

    def column(self, name: str) -> np.ndarray:
        """A field, metric or provenance column by name; StoreError listing the names."""
        for table in (self.fields, self.metrics, self.provenance):
            if name in table:
                return table[name]
        raise StoreError(
            f"{self.path}: no field or metric {name!r}. Fields: {list(self.fields)}; "
            f"metrics: {sorted(self.metrics)}."
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of columns: index, status, every field, metric and provenance column."""
        out: dict[str, np.ndarray] = {"index": np.arange(self.status.size),
                                      "status": self.status_names}
        out.update(self.fields)
        out.update(self.metrics)
        out.update(self.provenance)
        return out

    def to_dataframe(self):
        """The columns of :meth:`to_arrays` as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise MissingDependencyError(
                "SweepResults.to_dataframe needs pandas; use to_arrays() without it."
            ) from None
        return pd.DataFrame(self.to_arrays())

    def to_xarray(self):
        """The metrics as an ``xarray.Dataset`` labelled by the swept fields (needs xarray:
        ``pip install 'cimsim[xarray]'``).

        A grid sweep (every combination of the fields' values present once, as ``[grid]``
        gives) has one dimension per swept field, in the spec's order, with the values as
        coordinates: ``ds["analog_accuracy"].sel({"tile.adc_bits": 6})``. Any other sweep
        (``[list]``, ``[random]``) has one dimension ``point`` with the swept fields as
        coordinates along it. Every metric is a data variable (NaN where the point is not
        done), as is ``status`` ('pending', 'done', 'failed'); the job, spec, creation time
        and cimsim version are attributes.
        """
        try:
            import xarray as xr
        except ImportError:  # pragma: no cover - depends on the environment
            raise MissingDependencyError(
                "SweepResults.to_xarray needs xarray (pip install 'cimsim[xarray]'); "
                "to_arrays() gives the columns without it.") from None
        n = self.status.size
        names = list(self.fields)
        values = {name: list(dict.fromkeys(self.fields[name].tolist())) for name in names}
        shape = tuple(len(values[name]) for name in names)
        columns = [self.fields[name].tolist() for name in names]
        combos = set(zip(*columns, strict=True)) if names else set()
        data = {"status": self.status_names, **self.metrics}
        attrs = {"job": self.job, "spec_json": json.dumps(self.spec),
                 "created_utc": self.created_utc, "cimsim_version": self.cimsim_version,
                 "path": str(self.path)}
        if names and math.prod(shape) == n and len(combos) == n:
            pos = {name: {v: i for i, v in enumerate(values[name])} for name in names}
            flat = np.ravel_multi_index(
                [[pos[name][v] for v in self.fields[name].tolist()] for name in names], shape)
            out = {}
            for key, col in data.items():
                grid = np.empty(shape, dtype=col.dtype).reshape(-1)
                grid[flat] = col
                out[key] = (names, grid.reshape(shape))
            coords = {name: np.asarray(values[name]) for name in names}
            return xr.Dataset(out, coords=coords, attrs=attrs)
        coords = {"point": np.arange(n), **{name: ("point", self.fields[name]) for name in names}}
        return xr.Dataset({key: ("point", col) for key, col in data.items()}, coords=coords,
                          attrs=attrs)


def _as_str_array(raw: np.ndarray) -> np.ndarray:
    return np.asarray([v.decode() if isinstance(v, (bytes, np.bytes_)) else str(v) for v in raw],
                      dtype=object)


def load(path: str | os.PathLike) -> SweepResults:
    """Load a sweep file (finished or not) as NumPy arrays.

    Raises
    ------
    StoreError
        If the file is missing, not HDF5, truncated, or not a cimsim sweep.
    """
    path = check_path("path", path, "load")
    _check_readable(path)
    with _open_h5(path) as fh:
        header = _read_header(fh, path)
        try:
            fields = {}
            for name in header["fields"]:
                raw = fh["fields"][name][()]
                fields[name] = _as_str_array(raw) if raw.dtype.kind in "OS" else raw
            metrics = {name: np.asarray(ds[()], dtype=np.float64)
                       for name, ds in fh["metrics"].items()}
            pts = fh["points"]
            prov: dict[str, np.ndarray] = {}
            for name in _PROV_NUM:
                prov[name] = pts[name][()]
            for name in (*_PROV_STR, "error"):
                prov[name] = _as_str_array(pts[name][()])
            configs = [json.loads(v) for v in _as_str_array(pts["config"][()])]
        except (KeyError, OSError, RuntimeError, ValueError, TypeError) as exc:
            raise StoreError(f"{path}: damaged cimsim sweep file ({exc}).") from None
    return SweepResults(
        path=path, spec=json.loads(header["spec_json"]), job=header["job"],
        created_utc=header["created_utc"], cimsim_version=header["cimsim_version"],
        status=header["status"], fields=fields, metrics=metrics, provenance=prov,
        configs=configs, cards=json.loads(header["cards_json"]),
    )
