"""The sweep spec: a TOML file parsed into :class:`SweepSpec` and expanded into points.

See :mod:`cimsim.study.sweep` for the TOML form.
"""

from __future__ import annotations

import collections.abc
import copy
import dataclasses
import json
import math
import operator
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from device_models import rng
from device_models.errors import CardError, ConfigError, UnknownNameError

from ..hardware import HardwareConfig
from .jobs import get_job, jobs
from .point import CARD_FIELDS, PointConfig, _check_hw_path, _set_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["DEFAULT_MAX_POINTS", "SweepSpec"]


_SPEC_KEYS = {"sweep", "base", "options", "grid", "list", "random", *CARD_FIELDS}
_SWEEP_KEYS = {"job", "seed", "seeding", "name", "description"}
#: Default limit on the points of one sweep (``cimsim sweep --max-points`` raises it).
DEFAULT_MAX_POINTS = 100_000


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
    assignments : Sequence[dict[str, Any]]
        The swept field values of each point, in point order, computed on demand.
    max_points : int
        The point limit the spec was checked against.
    """

    raw: dict
    job: str
    seed: int
    seeding: str
    assignments: Sequence[dict[str, Any]]
    max_points: int = DEFAULT_MAX_POINTS

    @property
    def fields(self) -> list[str]:
        """The swept field paths, in spec order."""
        return list(self.assignments.fields)

    @property
    def size(self) -> int:
        """Number of points."""
        return self.assignments.size

    @property
    def json(self) -> str:
        """Canonical JSON of :attr:`raw` (what the store compares)."""
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":"))

    def __len__(self) -> int:
        return len(self.assignments)

    @classmethod
    def from_toml(cls, path: str | os.PathLike, *,
                  max_points: int = DEFAULT_MAX_POINTS) -> SweepSpec:
        """Read and check a spec file; ConfigError names a malformed entry."""
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: malformed TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the sweep spec: {exc}") from None
        return cls.from_dict(data, max_points=max_points)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *,
                  max_points: int = DEFAULT_MAX_POINTS) -> SweepSpec:
        """Check a spec given as a dict (the TOML form).

        Raises
        ------
        ConfigError
            A malformed entry (named), or more points than ``max_points``.
        """
        if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 1:
            raise ConfigError(f"The 'max_points' parameter of SweepSpec must be an integer "
                              f">= 1. Got {max_points!r}.")
        if not isinstance(data, Mapping):
            raise ConfigError(f"sweep spec: must be a table/dict. Got {type(data).__name__}.")
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
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise ConfigError(f"sweep spec: 'sweep.seed' must be an integer in [0, 2**64). "
                              f"Got {seed!r}.")
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
            assignments: _Assignments = _Base()
        elif modes[0] == "grid":
            assignments = _Grid(raw["grid"])
        elif modes[0] == "list":
            assignments = _Listed(raw["list"])
        else:
            assignments = _Random(raw["random"], seed)
        for path in assignments.fields:
            _check_field_path(path)
        spec = cls(raw=raw, job=str(sweep["job"]), seed=seed, seeding=seeding,
                   assignments=assignments, max_points=max_points)
        spec.check_size(max_points)
        return spec

    def check_size(self, max_points: int) -> None:
        """ConfigError unless the spec has at most ``max_points`` points."""
        if self.size > max_points:
            raise ConfigError(
                f"sweep spec: gives {self.size:,} points, more than the limit of "
                f"{max_points:,} (every point is validated and stored before the sweep "
                "starts); shrink the grid or the sample, or raise the limit with "
                "`cimsim sweep --max-points N` (run_sweep(..., max_points=N)).")

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
            except (ConfigError, CardError, UnknownNameError) as exc:
                raise type(exc)(f"{where}: {exc}") from None
            for field, changes in sorted(overrides.items()):
                if not changes:
                    continue
                try:
                    hw = hw.replace(**{field: hw.card(field).replace(**changes)})
                except (CardError, ConfigError) as exc:
                    raise type(exc)(f"{where}: {field}: {exc}") from None
            point = PointConfig(job=self.job, index=i, hardware=hw, options=options,
                                card_overrides=overrides)
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


class _Assignments(collections.abc.Sequence):
    """The swept values of every point, computed on demand (a grid of 10**10 points is not
    expanded; :attr:`size` is exact even beyond ``sys.maxsize``)."""

    size: int
    fields: list[str]

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(self.size))]
        i = operator.index(i)
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(f"point {i} outside [0, {self.size})")
        return self._at(i)

    def __iter__(self):
        return (self._at(i) for i in range(self.size))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str):
            return NotImplemented
        return self.size == len(other) and all(a == b for a, b in zip(self, other,
                                                                       strict=True))

    __hash__ = None  # type: ignore[assignment]

    def _at(self, i: int) -> dict[str, Any]:
        raise NotImplementedError


class _Base(_Assignments):
    size = 1
    fields: list[str] = []

    def _at(self, i: int) -> dict[str, Any]:
        return {}


class _Grid(_Assignments):
    """Cartesian product, first field varying slowest."""

    def __init__(self, grid: Any):
        if not isinstance(grid, dict) or not grid:
            raise ConfigError("sweep spec: [grid] must map field paths to lists of values.")
        for path, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(
                    f"sweep spec: grid field {path!r} must be a non-empty list of values. "
                    f"Got {values!r}."
                )
        self.grid = grid
        self.fields = list(grid)
        self.size = math.prod(len(v) for v in grid.values())

    def _at(self, i: int) -> dict[str, Any]:
        out = {}
        for name in reversed(self.fields):
            values = self.grid[name]
            i, k = divmod(i, len(values))
            out[name] = values[k]
        return {name: out[name] for name in self.fields}


class _Listed(_Assignments):
    def __init__(self, items: Any):
        if not isinstance(items, list) or not items or not all(isinstance(x, dict)
                                                                for x in items):
            raise ConfigError("sweep spec: [[list]] must be a list of tables of field = value.")
        self.items = [dict(x) for x in items]
        self.size = len(self.items)
        self.fields = list({k: None for x in self.items for k in x})

    def _at(self, i: int) -> dict[str, Any]:
        return dict(self.items[i])


class _Random(_Assignments):
    """Seeded random sample: point i's value of a field is drawn from counter i of the field's
    own stream, so any point is computed alone, equal to a draw of all of them."""

    def __init__(self, table: Any, seed: int):
        if not isinstance(table, dict):
            raise ConfigError("sweep spec: [random] must be a table.")
        n = table.get("samples")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(
                f"sweep spec: 'random.samples' must be an integer >= 1. Got {n!r}.")
        self.size = n
        self.dists: dict[str, tuple[int, dict]] = {}
        for path, dist in table.items():
            if path == "samples":
                continue
            if not isinstance(dist, dict):
                raise ConfigError(f"sweep spec: random field {path!r} must be a table "
                                  f"{{choices = [...]}} or {{low, high[, log, integer]}}.")
            unknown = sorted(set(dist) - {"choices", "low", "high", "log", "integer"})
            if unknown:
                raise ConfigError(
                    f"sweep spec: random field {path!r} has unknown key(s) {unknown}.")
            if "choices" in dist:
                ch = dist["choices"]
                if not isinstance(ch, list) or not ch:
                    raise ConfigError(f"sweep spec: random field {path!r}: 'choices' must be "
                                      "a non-empty list.")
            else:
                lo, hi = dist.get("low"), dist.get("high")
                if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                           and math.isfinite(v) for v in (lo, hi)) or not lo <= hi:
                    raise ConfigError(f"sweep spec: random field {path!r} needs finite numbers "
                                      f"low <= high. Got low={lo!r}, high={hi!r}.")
                if dist.get("log", False) and lo <= 0:
                    raise ConfigError(f"sweep spec: random field {path!r} with log = true "
                                      f"needs low > 0. Got {lo!r}.")
            self.dists[path] = (rng.derive_key(seed, "sweep-random", path), dist)
        if not self.dists:
            raise ConfigError("sweep spec: [random] names no field to sample.")
        self.fields = list(self.dists)

    def _at(self, i: int) -> dict[str, Any]:
        out = {}
        for path, (key, dist) in self.dists.items():
            x = float(rng.uniform(key, (1,), offset=i)[0])
            if "choices" in dist:
                ch = dist["choices"]
                out[path] = ch[min(int(x * len(ch)), len(ch) - 1)]
                continue
            lo, hi = dist["low"], dist["high"]
            if dist.get("integer", False):
                out[path] = int(min(math.floor(lo + x * (hi - lo + 1)), hi))
            elif dist.get("log", False):
                out[path] = float(math.exp(math.log(lo) + x * math.log(hi / lo)))
            else:
                out[path] = float(lo + x * (hi - lo))
        return out
