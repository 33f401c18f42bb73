"""Parameter sweeps: a TOML spec → validated point configs → Dask workers → one HDF5 file.

A sweep spec is a TOML file::

    [sweep]
    job = "adc_enob"          # a registered job (see jobs()) or "package.module:function"
    seed = 0                  # seed of random sampling and of per-point seeds
    seeding = "shared"        # "shared": every point uses the hardware seed as configured
                              # (common random numbers); "per_point": seed derived from the
                              # point index
    [base]                    # HardwareConfig fields (its dict form), e.g.
    temperature_k = 300.0
    [base.tile]
    adc_bits = 8
    [card]                    # value overrides of the device card (also [adc_card] ...)
    read_noise_rel = 0.02
    [options]                 # options of the job
    n_samples = 4096

    [grid]                    # cartesian product, first field varies slowest
    "tile.adc_bits" = [4, 6, 8]
    "temperature_k" = [250.0, 300.0, 350.0]

or, instead of ``[grid]``, an explicit list ``[[list]]`` of assignments, or a seeded random
sample::

    [random]
    samples = 16
    "tile.adc_bits" = { choices = [4, 6, 8] }
    "t_s" = { low = 1.0, high = 1e6, log = true }
    "tile.rows" = { low = 64, high = 512, integer = true }

A field path is a dotted path into :class:`~cimsim.hardware.HardwareConfig` (``"t_s"``,
``"tile.adc_bits"``), a card value (``"card.<field>"`` for the device card,
``"adc_card.<field>"``, ``"dac_card.<field>"``, ``"tech_card.<field>"``) or a job option
(``"options.<name>"``). Every point's configuration is built and validated before anything
runs: a bad field name or value raises :class:`~device_models.errors.ConfigError` /
:class:`~device_models.errors.CardError` naming the field and the point.

A job is a function ``job(config: PointConfig) -> dict`` of scalar metrics (nested dicts are
flattened to dotted names). Points are keyed and seeded by their index, so results do not
depend on the number of workers, the completion order or an interruption and resume.

Execution (:func:`run_sweep`): a Dask ``LocalCluster`` of single-threaded worker processes by
default, an existing cluster by scheduler address, or in-process (``workers=0``, or when
``dask.distributed`` is not installed) with the same store. Each finished point is written to
the HDF5 store (:mod:`cimsim.study.store`) durably before it is reported done; rerunning the same
spec on the same file resumes, skipping finished points. At most one point runs per alive worker
thread; a point whose worker died while running it alone is retried up to ``max_attempts`` times,
points failed together by one worker death are not charged but rerun one at a time, and every
point is recorded exactly once.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import functools
import importlib
import itertools
import json
import math
import os
import socket
import sys
import tempfile
import time
import traceback
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from device_models import cards as _cards
from device_models import rng
from device_models.errors import CardError, ConfigError, UnknownNameError

from .._version import __version__
from ..config import Config, param
from ..hardware import HardwareConfig
from .store import DONE, FAILED, PointRecord, SweepStore, load, spec_sha256, writer_lock

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "Job",
    "PointConfig",
    "SweepSpec",
    "get_job",
    "jobs",
    "load",
    "register_job",
    "run_sweep",
]

#: Card namespaces of field paths → the HardwareConfig field holding that card's name.
CARD_FIELDS = {"card": "device_card"} | {
    f.name: f.name for f in dataclasses.fields(HardwareConfig) if f.name.endswith("_card")
}
_SPEC_KEYS = {"sweep", "base", "options", "grid", "list", "random", *CARD_FIELDS}
_SWEEP_KEYS = {"job", "seed", "seeding", "name", "description"}


# ---------------------------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Job:
    """A point function and what it needs.

    Attributes
    ----------
    name : str
        Registry name (or ``"module:function"`` reference).
    func : callable
        ``func(config: PointConfig) -> Mapping[str, float]`` (nested mappings are flattened).
    options : type[Config] or None
        Config class of the job's options (validated up front); None → a plain dict.
    cards : tuple of str
        HardwareConfig card fields (``"adc_card"``...) the job loads; loaded and checked for
        every point before the sweep runs.
    doc : str
        One line for listings.
    """

    name: str
    func: Callable[[PointConfig], Mapping[str, Any]]
    options: type[Config] | None = None
    cards: tuple[str, ...] = ()
    doc: str = ""


_JOBS: dict[str, Job] = {}


def register_job(
    name: str,
    func: Callable | None = None,
    *,
    options: type[Config] | None = None,
    cards: Sequence[str] = (),
    doc: str = "",
):
    """Register ``func`` as sweep job ``name`` (usable as a decorator)."""
    def deco(f: Callable) -> Callable:
        bad = [c for c in cards if c not in CARD_FIELDS.values()]
        if bad:
            raise UnknownNameError(f"Unknown card field(s) {bad}; use {sorted(CARD_FIELDS)}.")
        _JOBS[name] = Job(name, f, options, tuple(cards), doc or (f.__doc__ or "").strip()
                          .split("\n")[0])
        return f

    return deco(func) if func is not None else deco


def jobs() -> list[str]:
    """Names of the registered jobs."""
    return sorted(_JOBS)


def get_job(ref: str) -> Job:
    """The job registered as ``ref``, or the function at ``"package.module:function"``.

    A referenced function may carry ``options`` (a Config class) and ``cards`` attributes,
    or be a :class:`Job` itself.
    """
    if ref in _JOBS:
        return _JOBS[ref]
    if ":" in ref:
        mod_name, _, attr = ref.partition(":")
        try:
            obj = getattr(importlib.import_module(mod_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownNameError(f"Cannot import sweep job {ref!r}: {exc}") from None
        if isinstance(obj, Job):
            return obj
        if not callable(obj):
            raise UnknownNameError(f"Sweep job {ref!r} is not callable.")
        return Job(ref, obj, getattr(obj, "options", None), tuple(getattr(obj, "cards", ())))
    raise UnknownNameError(
        f"Unknown sweep job {ref!r}. Known jobs: {jobs()} (or give 'package.module:function')."
    )


# ---------------------------------------------------------------------------------------------
# Point configuration
# ---------------------------------------------------------------------------------------------


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise CardError(f"Cannot write card value {v!r} to TOML.")


def _card_toml(card: _cards.Card) -> str:
    d = card.to_dict()
    lines = [f"kind = {_toml_value(d['kind'])}", "", "[source]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in d["source"].items()]
    lines += ["", "[values]"]
    lines += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in d["values"].items()]
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class PointConfig:
    """The full configuration of one sweep point, as passed to a job.

    Attributes
    ----------
    job : str
        Job reference.
    index : int
        Point index (its key in the store).
    hardware : HardwareConfig
        The chip of this point (its ``seed`` is the point's seed).
    options : Config or dict
        The job's options (an instance of the job's options class).
    card_overrides : dict[str, dict[str, Any]]
        HardwareConfig card field (``"device_card"``...) → card values replaced for this point.
    """

    job: str
    index: int
    hardware: HardwareConfig
    options: Any
    card_overrides: Mapping[str, Mapping[str, Any]]

    @property
    def seed(self) -> int:
        """Seed of this point's random streams (``hardware.seed``)."""
        return self.hardware.seed

    def card(self, field: str = "device_card") -> _cards.Card:
        """The card named by ``hardware.<field>``, with this point's overrides applied."""
        field = CARD_FIELDS.get(field, field)
        if field not in CARD_FIELDS.values():
            raise UnknownNameError(f"Unknown card field {field!r}; use {sorted(CARD_FIELDS)}.")
        card = _cards.load(getattr(self.hardware, field))
        changes = self.card_overrides.get(field, {})
        return card.replace(**changes) if changes else card

    @contextlib.contextmanager
    def resolved_hardware(self) -> Iterator[HardwareConfig]:
        """The hardware config with overridden cards written to temporary TOML files.

        Code that loads cards by name (``cards.load(hw.device_card)``) then sees the point's
        overridden values; the files are removed on exit.
        """
        if not any(self.card_overrides.values()):
            yield self.hardware
            return
        with tempfile.TemporaryDirectory(prefix="cimsim-point-") as tmp:
            hw = self.hardware
            for field, changes in self.card_overrides.items():
                if not changes:
                    continue
                card = self.card(field)
                path = Path(tmp) / f"{card.name}.toml"
                path.write_text(_card_toml(card), encoding="utf-8")
                hw = hw.replace(**{field: str(path)})
            yield hw

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (stored for every point)."""
        opts = self.options.to_dict() if isinstance(self.options, Config) else dict(self.options)
        return {
            "job": self.job,
            "index": self.index,
            "hardware": self.hardware.to_dict(),
            "options": opts,
            "card_overrides": {k: dict(v) for k, v in self.card_overrides.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PointConfig:
        """Rebuild from :meth:`to_dict` (validates hardware and options)."""
        job = get_job(data["job"])
        opts = data.get("options", {})
        options = job.options.from_dict(opts) if job.options is not None else dict(opts)
        return cls(
            job=data["job"],
            index=int(data["index"]),
            hardware=HardwareConfig.from_dict(data["hardware"]),
            options=options,
            card_overrides={k: dict(v) for k, v in data.get("card_overrides", {}).items()},
        )


def _config_field_type(cls: type[Config], name: str) -> Any:
    return typing.get_type_hints(cls).get(name)


def _check_hw_path(path: str) -> None:
    """ConfigError naming ``path`` unless it is a field path of HardwareConfig."""
    cls: Any = HardwareConfig
    parts = path.split(".")
    for k, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(cls)]
        if part not in names:
            where = ".".join(parts[:k]) or "HardwareConfig"
            raise ConfigError(
                f"Unknown field {path!r}: {where!r} has no field {part!r}. Fields: {names}; or "
                f"use 'card.<field>', 'adc_card.<field>', 'options.<name>'."
            )
        hint = _config_field_type(cls, part)
        if k < len(parts) - 1:
            if not (isinstance(hint, type) and issubclass(hint, Config)):
                raise ConfigError(f"Unknown field {path!r}: {part!r} has no sub-fields.")
            cls = hint


def _set_path(tree: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    node = tree
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            node[part] = nxt
        node = nxt
    node[parts[-1]] = value


# ---------------------------------------------------------------------------------------------
# Spec
# ---------------------------------------------------------------------------------------------


def _canonical(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"sweep spec: {where} holds a value JSON cannot store: {exc}") from None


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep spec (see the module docstring for the TOML form).

    Attributes
    ----------
    raw : dict
        The spec as given (canonical JSON form), stored in the HDF5 file and compared on resume.
    job : str
    seed : int
    seeding : str
    assignments : list[dict[str, Any]]
        The swept field values of each point, in point order.
    """

    raw: dict
    job: str
    seed: int
    seeding: str
    assignments: list[dict[str, Any]]

    @property
    def fields(self) -> list[str]:
        """The swept field paths, in spec order."""
        seen: dict[str, None] = {}
        for a in self.assignments:
            seen.update(dict.fromkeys(a))
        return list(seen)

    @property
    def json(self) -> str:
        """Canonical JSON of :attr:`raw` (what the store compares)."""
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":"))

    def __len__(self) -> int:
        return len(self.assignments)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> SweepSpec:
        """Read and check a spec file; ConfigError names a malformed entry."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: malformed TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the sweep spec: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSpec:
        """Check a spec given as a dict (the TOML form)."""
        raw = _canonical(dict(data), "the spec")
        unknown = sorted(set(raw) - _SPEC_KEYS)
        if unknown:
            raise ConfigError(
                f"sweep spec: unknown table(s) {unknown}. Known: {sorted(_SPEC_KEYS)}."
            )
        sweep = raw.get("sweep", {})
        if not isinstance(sweep, dict) or "job" not in sweep:
            raise ConfigError("sweep spec: the [sweep] table must name a 'job'. "
                              f"Known jobs: {jobs()}.")
        bad = sorted(set(sweep) - _SWEEP_KEYS)
        if bad:
            raise ConfigError(f"sweep spec: unknown key(s) {bad} in [sweep]. "
                              f"Known: {sorted(_SWEEP_KEYS)}.")
        seed = sweep.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"sweep spec: 'sweep.seed' must be an integer >= 0. Got {seed!r}.")
        seeding = sweep.get("seeding", "shared")
        if seeding not in ("shared", "per_point"):
            raise ConfigError(
                f"sweep spec: 'sweep.seeding' must be 'shared' or 'per_point'. Got {seeding!r}."
            )
        for key in ("base", "options", *CARD_FIELDS):
            if key in raw and not isinstance(raw[key], dict):
                raise ConfigError(f"sweep spec: [{key}] must be a table. Got {raw[key]!r}.")
        modes = [m for m in ("grid", "list", "random") if m in raw]
        if len(modes) > 1:
            raise ConfigError(f"sweep spec: give one of [grid], [[list]], [random]. Got {modes}.")
        if not modes:
            assignments: list[dict[str, Any]] = [{}]
        elif modes[0] == "grid":
            assignments = _grid(raw["grid"])
        elif modes[0] == "list":
            assignments = _listed(raw["list"])
        else:
            assignments = _random(raw["random"], seed)
        for a in assignments:
            for path in a:
                _check_field_path(path)
        return cls(raw=raw, job=str(sweep["job"]), seed=seed, seeding=seeding,
                   assignments=assignments)

    # --- expansion -----------------------------------------------------------------------

    def points(self) -> list[PointConfig]:
        """Every point's configuration, all validated (nothing runs before this succeeds).

        Raises
        ------
        UnknownNameError
            Unknown job or card.
        ConfigError, CardError
            A field name or value is wrong; the message names the field and the point.
        """
        job = get_job(self.job)
        base_hw = self.raw.get("base", {})
        base_cards = {CARD_FIELDS[k]: dict(self.raw[k]) for k in CARD_FIELDS if k in self.raw}
        base_opts = self.raw.get("options", {})
        out = []
        card_cache: dict[str, _cards.Card] = {}
        for i, assign in enumerate(self.assignments):
            where = f"sweep spec, point {i} ({_describe(assign)})"
            hw_tree = copy.deepcopy(base_hw)
            overrides = {k: dict(v) for k, v in base_cards.items()}
            opts = dict(base_opts)
            for path, value in assign.items():
                head, _, rest = path.partition(".")
                if head in CARD_FIELDS and rest:
                    overrides.setdefault(CARD_FIELDS[head], {})[rest] = value
                elif head == "options":
                    opts[rest] = value
                else:
                    _set_path(hw_tree, path, value)
            try:
                hw = HardwareConfig.from_dict(hw_tree)
                if self.seeding == "per_point":
                    seed = rng.derive_key(hw.seed, self.seed, "sweep-point", i) >> 2
                    hw = hw.replace(seed=seed)
                options = job.options.from_dict(opts) if job.options is not None else opts
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            point = PointConfig(job=self.job, index=i, hardware=hw, options=options,
                                card_overrides=overrides)
            for field in sorted(set(job.cards) | set(overrides)):
                name = getattr(hw, field)
                try:
                    if name not in card_cache:
                        card_cache[name] = _cards.load(name)
                    changes = overrides.get(field)
                    if changes:
                        card_cache[name].replace(**changes)
                except CardError as exc:
                    raise CardError(f"{where}: {field} {name!r}: {exc}") from None
                except UnknownNameError as exc:
                    raise UnknownNameError(f"{where}: {field}: {exc}") from None
            out.append(point)
        return out


def _describe(assign: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in assign.items()) or "base"


def _check_field_path(path: str) -> None:
    if not isinstance(path, str) or not path:
        raise ConfigError(f"sweep spec: bad field path {path!r}.")
    head, _, rest = path.partition(".")
    if head in CARD_FIELDS and rest:
        return  # checked against the card's kind when points are built
    if head == "options":
        if not rest:
            raise ConfigError("sweep spec: field 'options' needs a name: 'options.<name>'.")
        return
    _check_hw_path(path)


def _grid(grid: Any) -> list[dict[str, Any]]:
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("sweep spec: [grid] must map field paths to lists of values.")
    for path, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"sweep spec: grid field {path!r} must be a non-empty list of values. "
                f"Got {values!r}."
            )
    names = list(grid)
    return [dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(grid[n] for n in names))]


def _listed(items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, list) or not items or not all(isinstance(x, dict) for x in items):
        raise ConfigError("sweep spec: [[list]] must be a list of tables of field = value.")
    return [dict(x) for x in items]


def _random(table: Any, seed: int) -> list[dict[str, Any]]:
    if not isinstance(table, dict):
        raise ConfigError("sweep spec: [random] must be a table.")
    n = table.get("samples")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"sweep spec: 'random.samples' must be an integer >= 1. Got {n!r}.")
    columns: dict[str, list[Any]] = {}
    for path, dist in table.items():
        if path == "samples":
            continue
        if not isinstance(dist, dict):
            raise ConfigError(f"sweep spec: random field {path!r} must be a table "
                              f"{{choices = [...]}} or {{low, high[, log, integer]}}.")
        u = rng.uniform(rng.derive_key(seed, "sweep-random", path), (n,))
        unknown = sorted(set(dist) - {"choices", "low", "high", "log", "integer"})
        if unknown:
            raise ConfigError(f"sweep spec: random field {path!r} has unknown key(s) {unknown}.")
        if "choices" in dist:
            ch = dist["choices"]
            if not isinstance(ch, list) or not ch:
                raise ConfigError(f"sweep spec: random field {path!r}: 'choices' must be a "
                                  "non-empty list.")
            columns[path] = [ch[min(int(x * len(ch)), len(ch) - 1)] for x in u]
            continue
        lo, hi = dist.get("low"), dist.get("high")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi)) \
                or not lo <= hi:
            raise ConfigError(f"sweep spec: random field {path!r} needs numbers low <= high. "
                              f"Got low={lo!r}, high={hi!r}.")
        if dist.get("integer", False):
            columns[path] = [int(min(math.floor(lo + x * (hi - lo + 1)), hi)) for x in u]
        elif dist.get("log", False):
            if lo <= 0:
                raise ConfigError(f"sweep spec: random field {path!r} with log = true needs "
                                  f"low > 0. Got {lo!r}.")
            columns[path] = [float(math.exp(math.log(lo) + x * math.log(hi / lo))) for x in u]
        else:
            columns[path] = [float(lo + x * (hi - lo)) for x in u]
    if not columns:
        raise ConfigError("sweep spec: [random] names no field to sample.")
    return [{p: columns[p][i] for p in columns} for i in range(n)]


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------


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
            raise TypeError(f"metric {name!r} must be a real scalar. Got {value!r}.")
        out[name] = float(value)
    return out


def execute_point(point: Mapping[str, Any], attempt: int = 1) -> dict[str, Any]:
    """Run one point (on a worker): rebuild its config, call the job, time it.

    Never raises for a failing job: the traceback is returned as the point's error.
    """
    t0 = time.perf_counter()
    out: dict[str, Any] = {"index": int(point["index"]), "attempts": attempt,
                           "host": socket.gethostname(), "pid": os.getpid()}
    try:
        config = PointConfig.from_dict(point)
        out["seed"] = config.seed
        metrics = get_job(config.job).func(config)
        if not isinstance(metrics, Mapping):
            raise TypeError(f"job {config.job!r} must return a mapping of metrics. "
                            f"Got {type(metrics).__name__}.")
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
) -> dict[str, Any]:
    """Run (or resume) a sweep into the HDF5 file ``out``.

    Parameters
    ----------
    spec : SweepSpec, path to a TOML spec, or dict
        What to sweep; every point is validated before anything runs.
    out : path
        The sweep's HDF5 file. If it exists it must hold the same spec: finished points are
        skipped, pending and failed ones run.
    workers : int, optional
        Worker processes of the LocalCluster (1 thread each); default: CPU count. ``0`` runs
        in-process (also the fallback when ``dask.distributed`` is not installed).
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:8786``) instead of a LocalCluster.
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

    Returns
    -------
    dict
        ``{"total", "done", "failed", "pending", "path", "elapsed_s", "executor"}``.
    """
    t0 = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = (SweepSpec.from_dict(spec) if isinstance(spec, Mapping)
                else SweepSpec.from_toml(spec))
    points = spec.points()
    point_dicts = [p.to_dict() for p in points]
    configs = [json.dumps(d, sort_keys=True) for d in point_dicts]
    seeds = [p.seed for p in points]
    fields = {f: [a.get(f) for a in spec.assignments] for f in spec.fields}
    with writer_lock(out):
        store = SweepStore.open_or_create(out, spec_json=spec.json, job=spec.job,
                                          configs=configs, fields=fields, seeds=seeds)
        executor = _execute(store, spec, point_dicts, seeds, workers=workers,
                            scheduler=scheduler, client=client, progress=progress,
                            on_point=on_point, max_attempts=max_attempts)
    summary = store.summary()
    summary.update(path=str(store.path), elapsed_s=time.perf_counter() - t0, executor=executor)
    return summary


def _execute(store, spec, point_dicts, seeds, *, workers, scheduler, client, progress, on_point,
             max_attempts) -> str:
    todo = store.pending()
    executor = "none"
    if todo:
        bar = _Progress(store, progress, on_point)
        try:
            use_dask = client is not None or scheduler is not None or (
                workers != 0 and _have_distributed())
            if not use_dask:
                executor = "in-process"
                _run_in_process(todo, point_dicts, seeds, store, bar)
            else:
                tag = spec_sha256(spec.json)[:12]
                with _dask_client(client, scheduler, workers) as (cl, executor):
                    _run_dask(cl, todo, point_dicts, seeds, store, bar, tag, max_attempts)
        finally:
            bar.close()
    return executor


@contextlib.contextmanager
def _dask_client(client, scheduler, workers):
    if client is not None:
        yield client, "dask:client"
        return
    import logging

    import dask
    from distributed import Client, LocalCluster

    if scheduler is not None:
        with Client(scheduler, timeout="30s") as cl:
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


# ---------------------------------------------------------------------------------------------
# Built-in jobs
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AdcEnobOptions(Config):
    """Options of the ``adc_enob`` job."""

    n_samples: int = param(4096, lo=64, hi=1 << 22,
                           doc="Samples of the coherent sine test, a power of two [-].")

    def validate(self) -> None:
        if self.n_samples & (self.n_samples - 1):
            self._fail("n_samples", "a power of two", self.n_samples)


@register_job("adc_enob", options=AdcEnobOptions, cards=("adc_card",))
def adc_enob_job(config: PointConfig) -> dict[str, float]:
    """ENOB and energy of the tile's SAR ADC: ``hardware.adc_card`` at ``tile.adc_bits``.

    Builds :meth:`device_models.SarAdc.from_card` (with the point's ``adc_card.<field>``
    overrides) at ``hardware.temperature_k``; with ``hardware.converter_noise`` off, mismatch,
    offset, comparator and kT/C noise are zero. Measures a coherent sine with
    :func:`device_models.measure_enob`.

    Returns
    -------
    dict
        ``enob`` [bit], ``sinad_db``, ``snr_db``, ``sfdr_db``, ``thd_db`` [dB];
        ``energy_per_conversion_j``: CDAC switching energy averaged over uniformly distributed
        codes plus comparator and logic energy [J]; ``conversion_time_s`` [s];
        ``walden_fom_j``: energy / 2**enob, per conversion step [J].
    """
    from device_models.adc import SarAdc
    from device_models.measure import measure_enob

    hw = config.hardware
    ideal = {} if hw.converter_noise else {
        "comparator_noise_v": 0.0, "comparator_offset_v": 0.0, "unit_cap_mismatch": 0.0,
        "ktc_noise": False}
    adc = SarAdc.from_card(config.card("adc_card"), bits=hw.tile.adc_bits,
                           seed=rng.derive_key(hw.seed, "adc_enob"),
                           temperature_k=hw.temperature_k, **ideal)
    res = measure_enob(adc, n_samples=config.options.n_samples)
    energy = float(np.mean(adc.code_energy_j)) + adc.e_comparator_j + adc.e_logic_j
    return {
        "enob": res.enob, "sinad_db": res.sinad_db, "snr_db": res.snr_db,
        "sfdr_db": res.sfdr_db, "thd_db": res.thd_db,
        "energy_per_conversion_j": energy, "conversion_time_s": adc.conversion_time_s,
        "walden_fom_j": energy / 2.0 ** res.enob,
    }


@dataclasses.dataclass(frozen=True)
class DeviceArrayOptions(Config):
    """Options of the ``device_array`` job."""

    cells: int = param(4096, lo=1, hi=1 << 22, doc="Cells programmed [-].")
    levels: int = param(16, lo=2, hi=1 << 16,
                        doc="Equally spaced target levels in [g_min_s, g_max_s] [-].")


@register_job("device_array", options=DeviceArrayOptions, cards=("device_card",))
def device_array_job(config: PointConfig) -> dict[str, float]:
    """Program, fault, age and read an array of memory cells; conductance-error statistics.

    Targets are ``levels`` equally spaced conductances in [G_min, G_max] of the device card
    (drawn per cell from the point's seed). Programming (write-verify or the PCM noise model,
    if ``hardware.programming_noise``), stuck-at faults (``hardware.faults``) and relaxation or
    drift to ``hardware.t_s`` at ``hardware.temperature_k`` (``hardware.drift``) use
    :mod:`device_models.memory`; one read adds Gaussian read noise of σ from
    :func:`device_models.memory.read_sigma_s` (``hardware.read_noise``).

    Returns
    -------
    dict
        ``program_rms_error_rel`` and ``read_rms_error_rel``: rms of G − G_target after
        programming and of one read after ageing, relative to G_max − G_min [-];
        ``read_sigma_rel_mean``: mean read-noise σ relative to G_max − G_min [-];
        ``level_error_rate``: fraction of cells whose read is nearest a wrong level [-];
        ``pulses_per_cell`` [-], ``program_energy_per_cell_j`` [J],
        ``program_time_per_cell_s`` [s].
    """
    from device_models import memory

    hw, opts = config.hardware, config.options
    card = config.card("device_card")
    n, levels = opts.cells, opts.levels
    g_min, g_max = card.g_min_s, card.g_max_s
    span = g_max - g_min
    level = np.minimum(
        np.floor(rng.uniform(rng.derive_key(hw.seed, "device_array", "targets"), (n,)) * levels),
        levels - 1,
    )
    g_target = g_min + level / (levels - 1) * span
    pulses = energy = time_s = 0.0
    g = g_target
    if hw.programming_noise:
        res = memory.program(card, g_target, seed=rng.derive_key(hw.seed, "device_array", "prog"),
                             temperature_k=hw.temperature_k)
        g = res.g_s
        pulses, energy, time_s = (float(np.mean(res.pulses)), float(np.mean(res.energy_j)),
                                  float(np.mean(res.time_s)))
    if hw.faults:
        g = memory.apply_faults(card, g, seed=rng.derive_key(hw.seed, "device_array", "faults"))
    g_programmed = g
    if hw.drift:
        g = memory.age(card, g, t_s=hw.t_s, temperature_k=hw.temperature_k,
                       seed=rng.derive_key(hw.seed, "device_array", "age"))
    sigma = memory.read_sigma_s(card, g, t_s=hw.t_s) if hw.read_noise else np.zeros(n)
    z = rng.standard_normal(rng.derive_key(hw.seed, "device_array", "read"), (n,))
    g_read = g + sigma * z
    level_read = np.clip(np.rint((g_read - g_min) / span * (levels - 1)), 0, levels - 1)
    return {
        "program_rms_error_rel": float(np.sqrt(np.mean((g_programmed - g_target) ** 2)) / span),
        "read_rms_error_rel": float(np.sqrt(np.mean((g_read - g_target) ** 2)) / span),
        "read_sigma_rel_mean": float(np.mean(sigma) / span),
        "level_error_rate": float(np.mean(level_read != level)),
        "pulses_per_cell": pulses,
        "program_energy_per_cell_j": energy,
        "program_time_per_cell_s": time_s,
    }


@dataclasses.dataclass(frozen=True)
class DemoOptions(Config):
    """Options of the ``demo`` job."""

    model: str = param("digits_cnn_relu", doc="Bundled digits model (cimsim.nn.models).")
    n_test: int = param(360, lo=1, doc="Held-out images evaluated (the first n_test) [-].")
    placement: str = param("analog", choices=("analog", "digital"),
                           doc="Placement of the weighted layers not listed below.")
    digital_layers: tuple = param((), doc="Weighted layers kept digital (exact).")
    analog_layers: tuple = param((), doc="Weighted layers forced onto analog tiles.")

    def validate(self) -> None:
        from ..nn.models import bundled_models

        names = bundled_models()
        if self.model not in names:
            self._fail("model", f"one of {names}", self.model)
        layers = _weighted_layer_names(self.model)
        for field in ("digital_layers", "analog_layers"):
            bad = [x for x in getattr(self, field) if x not in layers]
            if bad:
                self._fail(field, f"a list of weighted layers of {self.model} {list(layers)}",
                           bad)


@functools.lru_cache(maxsize=16)
def _weighted_layer_names(model: str) -> tuple[str, ...]:
    from ..nn.models import load_bundled

    return tuple(layer.name for layer in load_bundled(model).weighted_layers)


@register_job("demo", options=DemoOptions, cards=tuple(sorted(set(CARD_FIELDS.values()))))
def demo_job(config: PointConfig) -> dict[str, float]:
    """The ``cimsim demo`` network on the point's chip: accuracy, energy, latency, TOPS/W, EDP.

    Compiles the bundled digits network onto ``config.hardware`` (with the point's card
    overrides and the options' analog/digital layer placement), runs the first ``n_test``
    held-out digits at ``hardware.t_s`` and returns ``float_accuracy``, ``analog_accuracy``,
    ``energy_per_inference_j``, ``latency_per_inference_s``, the report metrics
    (``tops_per_w``, ``edp_js``, ...) and the per-inference energy breakdown
    (``energy.<component>_j``).
    """
    from ..nn.models import load_bundled, load_digits_split
    from ..nn.network import PlacementConfig

    opts = config.options
    data = load_digits_split()
    placement = PlacementConfig(default=opts.placement, analog=opts.analog_layers,
                                digital=opts.digital_layers)
    with config.resolved_hardware() as hw:
        net = load_bundled(opts.model)
        net.compile(hw, placement=placement)
        ev = net.evaluate(data["x_test"][: opts.n_test], data["y_test"][: opts.n_test])
        rep = net.report(ev)
    out: dict[str, Any] = {
        "float_accuracy": ev.float_accuracy,
        "analog_accuracy": ev.analog_accuracy,
        "energy_per_inference_j": rep.energy_per_inference_j,
        "latency_per_inference_s": rep.latency_per_inference_s,
    }
    out.update({k: v for k, v in rep.metrics().items() if k not in out})
    out["energy"] = {f"{k}_j": v for k, v in rep.breakdown_per_inference_j.items()}
    return out
