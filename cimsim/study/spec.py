"""The sweep spec: a TOML file parsed into :class:`SweepSpec` and expanded into points.

See :mod:`cimsim.study.sweep` for the TOML form.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

from device_models import cards as _cards
from device_models import rng
from device_models.errors import CardError, ConfigError, UnknownNameError

from ..hardware import HardwareConfig
from .jobs import get_job, jobs
from .point import CARD_FIELDS, PointConfig, _check_hw_path, _set_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["SweepSpec"]


_SPEC_KEYS = {"sweep", "base", "options", "grid", "list", "random", *CARD_FIELDS}
_SWEEP_KEYS = {"job", "seed", "seeding", "name", "description"}

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

