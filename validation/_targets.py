"""The pre-registered targets of the reproductions, read from ``validation/targets.toml``.

One table per compared number, ``[<reproduction>.<key>]``::

    [yao2020_mnist_cnn.transfer_accuracy]
    quantity = "accuracy after direct weight transfer"
    published = 95.07
    unit = "%"
    locator = "Fig. 3f: test error 4.93 % right after weight transfer"
    tolerance = 0.9
    relative = false
    why = "2 x sqrt(binomial s.e. of both test sets + chip-to-chip spread over 5 chips) ..."
    kind = "prediction"
    calibrated_from = []                          # required (non-empty) for "calibrated"
    known = { range = [93.0, 94.5], why = "..." }   # only for a declared known failure
    paper = "Yao et al. 2020"                     # optional: the compared paper, for the
                                                  # count of papers with passing predictions
                                                  # (default: the reproduction's name)

A target is registered before the comparison it governs is run, and a tolerance is changed
only in a commit of its own that says why. :func:`target` is the only way a module builds a
:class:`~validation._base.Comparison`, so the published value, tolerance, kind and known range
in the report are always the registered ones.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
from pathlib import Path

from device_models.errors import ConfigError, UnknownNameError

from ._base import KINDS, Comparison

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["TARGETS_PATH", "Target", "load_targets", "target", "targets_for"]

#: The data file of every pre-registered target.
TARGETS_PATH = Path(__file__).with_name("targets.toml")

_FIELDS = {"quantity": str, "published": float, "unit": str, "locator": str,
           "tolerance": float, "relative": bool, "why": str, "kind": str,
           "calibrated_from": list, "known": dict, "paper": str}
_REQUIRED = ("quantity", "published", "unit", "locator", "tolerance", "relative", "why", "kind")


@dataclasses.dataclass(frozen=True)
class Target:
    """One pre-registered comparison (see the module docstring for the fields)."""

    reproduction: str
    key: str
    quantity: str
    published: float
    unit: str
    locator: str
    tolerance: float
    relative: bool
    why: str
    kind: str
    calibrated_from: tuple[str, ...] = ()
    known_range: tuple[float, float] | None = None
    known_why: str = ""
    paper: str = ""

    def compare(self, simulated: float, note: str = "") -> Comparison:
        """The comparison of ``simulated`` against this target."""
        return Comparison(
            quantity=self.quantity, published=self.published, simulated=float(simulated),
            tolerance=self.tolerance, unit=self.unit, relative=self.relative,
            source=self.locator, why=self.why, note=note, key=self.key, kind=self.kind,
            calibrated_from=self.calibrated_from, known_range=self.known_range,
            known_why=self.known_why, paper=self.paper or self.reproduction)


def _bad(where: str, msg: str) -> ConfigError:
    return ConfigError(f"{TARGETS_PATH.name} [{where}]: {msg}")


def _target(repro: str, key: str, raw: dict) -> Target:
    where = f"{repro}.{key}"
    unknown = set(raw) - set(_FIELDS)
    if unknown:
        raise _bad(where, f"unknown fields {sorted(unknown)}; allowed {sorted(_FIELDS)}")
    missing = [f for f in _REQUIRED if f not in raw]
    if missing:
        raise _bad(where, f"missing fields {missing}")
    for name, typ in _FIELDS.items():
        if name in raw and not isinstance(raw[name], typ if typ is not float else (int, float)):
            raise _bad(where, f"field {name!r} must be {typ.__name__}. Got {raw[name]!r}.")
    if raw["kind"] not in KINDS:
        raise _bad(where, f"field 'kind' must be one of {list(KINDS)}. Got {raw['kind']!r}.")
    calibrated_from = tuple(str(x) for x in raw.get("calibrated_from", []))
    if (raw["kind"] == "calibrated") != bool(calibrated_from):
        raise _bad(where, "'calibrated_from' must name the parameters taken from the same "
                          "paper's results exactly when kind is 'calibrated'. Got "
                          f"kind {raw['kind']!r}, calibrated_from {list(calibrated_from)!r}.")
    tol, pub = float(raw["tolerance"]), float(raw["published"])
    if not (math.isfinite(tol) and tol > 0 and math.isfinite(pub)):
        raise _bad(where, f"needs a finite published value and a positive tolerance. Got "
                          f"published {pub!r}, tolerance {tol!r}.")
    if not raw["why"].strip() or not raw["locator"].strip():
        raise _bad(where, "'why' (tolerance rationale) and 'locator' (figure/table) must not "
                          "be empty")
    known_range, known_why = None, ""
    if "known" in raw:
        known = raw["known"]
        rng = known.get("range")
        if (set(known) != {"range", "why"} or not isinstance(rng, list) or len(rng) != 2
                or not all(isinstance(v, (int, float)) for v in rng) or not rng[0] < rng[1]
                or not str(known["why"]).strip()):
            raise _bad(where, "'known' must be { range = [lo, hi] (lo < hi), why = \"...\" }. "
                              f"Got {known!r}.")
        known_range, known_why = (float(rng[0]), float(rng[1])), str(known["why"])
    paper = raw.get("paper", repro).strip()
    if not paper:
        raise _bad(where, "'paper' must not be empty (leave it out to use the reproduction)")
    return Target(repro, key, raw["quantity"], pub, raw["unit"], raw["locator"], tol,
                  bool(raw["relative"]), raw["why"], raw["kind"], calibrated_from,
                  known_range, known_why, paper)


@functools.lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> dict[str, dict[str, Target]]:
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{Path(path).name}: malformed TOML: {exc}") from None
    out: dict[str, dict[str, Target]] = {}
    for repro, table in data.items():
        if not isinstance(table, dict):
            raise _bad(repro, "must be a table of targets")
        out[repro] = {key: _target(repro, key, raw) for key, raw in table.items()}
        quantities = [t.quantity for t in out[repro].values()]
        if len(set(quantities)) != len(quantities):
            raise _bad(repro, "two targets share a quantity")
    return out


def load_targets(path: str | Path | None = None) -> dict[str, dict[str, Target]]:
    """Every target: ``{reproduction: {key: Target}}`` (validated)."""
    p = Path(TARGETS_PATH if path is None else path)
    return _load(str(p), p.stat().st_mtime)


def targets_for(reproduction: str) -> dict[str, Target]:
    """The targets of one reproduction (``{key: Target}``, file order)."""
    all_targets = load_targets()
    if reproduction not in all_targets:
        raise UnknownNameError(f"No targets for reproduction {reproduction!r} in "
                               f"{TARGETS_PATH.name}. Reproductions: {sorted(all_targets)}.")
    return all_targets[reproduction]


def target(reproduction: str, key: str) -> Target:
    """One registered target; unknown keys list the reproduction's keys."""
    table = targets_for(reproduction)
    if key not in table:
        raise UnknownNameError(f"No target {key!r} for {reproduction!r}. Targets: "
                               f"{list(table)}.")
    return table[key]
