"""Parameter cards: one TOML file per published device, with units and a citation.

A card lives in ``device_models/cards/<name>.toml`` (or any directory listed in the
environment variable ``CIMSIM_CARDS_PATH``, ``os.pathsep``-separated, or is given by path)::

    kind = "mosfet"

    [source]
    authors = "..."
    title = "..."
    venue = "..."
    year = 2008
    figure = "Table 2"       # figure or table the numbers come from
    doi = "10.xxxx/yyyy"     # optional

    [values]
    vt0_v = { value = 0.45, unit = "V", note = "Table 2, NMOS" }

The fields a kind accepts, their units and physical ranges are themselves data, in
``device_models/cards/kinds/<kind>.toml``. Loading checks every card against its kind: an
unknown card name lists the known names; malformed TOML, a missing field, a wrong or missing
unit, or a value out of its physical range raises :class:`~device_models.errors.CardError`
naming the file, the field and the value.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import CardError, UnknownNameError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "Card",
    "FieldSpec",
    "Source",
    "card_dirs",
    "check_memory_card",
    "kind_spec",
    "kinds",
    "load",
    "names",
]

_HERE = Path(__file__).parent
_KINDS_DIR = _HERE / "kinds"
_SOURCE_REQUIRED = ("authors", "title", "venue", "year", "figure")
_SOURCE_OPTIONAL = ("doi", "url", "note")
_TYPES = ("float", "int", "float_list", "str")


@dataclasses.dataclass(frozen=True)
class Source:
    """Citation of the paper a card's numbers come from."""

    authors: str
    title: str
    venue: str
    year: int
    figure: str
    doi: str | None = None
    url: str | None = None
    note: str | None = None

    def __str__(self) -> str:
        doi = f", doi:{self.doi}" if self.doi else ""
        return f"{self.authors}, \"{self.title}\", {self.venue} ({self.year}){doi}; {self.figure}"


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """What a kind accepts for one field: unit, type, physical range, whether required."""

    name: str
    unit: str
    doc: str
    type: str = "float"
    required: bool = True
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] | None = None

    def check(self, value: Any, where: str) -> Any:
        """Return ``value`` coerced to this field's type, or raise CardError naming it."""
        def bad(why: str) -> CardError:
            return CardError(f"{where}: field {self.name!r} {why}. Got {value!r}.")

        if self.type == "str":
            if not isinstance(value, str):
                raise bad("must be a string")
            if self.choices and value not in self.choices:
                raise bad(f"must be one of {list(self.choices)}")
            return value
        if self.type == "float_list":
            if not isinstance(value, list) or not value:
                raise bad("must be a non-empty list of numbers")
            return tuple(self._number(v, bad) for v in value)
        x = self._number(value, bad)
        if self.type == "int":
            if not float(x).is_integer():
                raise bad("must be an integer")
            return int(x)
        return x

    def _number(self, value: Any, bad) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("must be a number")
        x = float(value)
        if not math.isfinite(x):
            raise bad("must be finite")
        if self.min is not None and x < self.min:
            raise bad(f"is out of its physical range: must be >= {self.min!r} {self.unit}")
        if self.max is not None and x > self.max:
            raise bad(f"is out of its physical range: must be <= {self.max!r} {self.unit}")
        return x


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CardError(f"{path}: malformed TOML: {exc}") from None
    except OSError as exc:
        raise CardError(f"{path}: cannot be read: {exc}") from None


def kind_spec(kind: str) -> Mapping[str, FieldSpec]:
    """Return the field specifications of ``kind`` (from ``cards/kinds/<kind>.toml``)."""
    from .._checks import fail

    if not isinstance(kind, str) or kind not in kinds():
        fail("kind", "kind_spec", f"a card kind ({', '.join(kinds())})", kind,
             exc=UnknownNameError)
    return _kind_spec(kind)


@functools.cache
def _kind_spec(kind: str) -> Mapping[str, FieldSpec]:
    path = _KINDS_DIR / f"{kind}.toml"
    if not path.is_file():
        raise UnknownNameError(f"Unknown card kind {kind!r}. Known kinds: {kinds()}.")
    data = _read_toml(path)
    specs = {}
    for name, raw in data.get("fields", {}).items():
        extra = set(raw) - {f.name for f in dataclasses.fields(FieldSpec)}
        if extra:
            raise CardError(f"{path}: field {name!r} has unknown keys {sorted(extra)}")
        if raw.get("type", "float") not in _TYPES:
            raise CardError(f"{path}: field {name!r} has type {raw.get('type')!r}; use {_TYPES}")
        raw = dict(raw)
        if "choices" in raw:
            raw["choices"] = tuple(raw["choices"])
        try:
            specs[name] = FieldSpec(name=name, **raw)
        except TypeError as exc:
            raise CardError(f"{path}: field {name!r}: {exc}") from None
    return MappingProxyType(specs)


def kinds() -> list[str]:
    """Names of the card kinds that have a field specification."""
    return sorted(p.stem for p in _KINDS_DIR.glob("*.toml"))


def card_dirs() -> list[Path]:
    """Directories searched for cards: ``CIMSIM_CARDS_PATH`` entries first, then the bundled."""
    extra = [Path(p) for p in os.environ.get("CIMSIM_CARDS_PATH", "").split(os.pathsep) if p]
    return [*extra, _HERE]


def _index() -> dict[str, Path]:
    """Card name → file, over :func:`card_dirs` (earlier directories override later ones);
    rebuilt when a directory's modification time changes (a card added, removed or renamed)."""
    stamp = []
    for d in card_dirs():
        try:
            stamp.append((str(d), d.stat().st_mtime_ns))
        except OSError:
            stamp.append((str(d), None))
    return dict(_index_of(tuple(stamp)))


@functools.lru_cache(maxsize=8)
def _index_of(stamp: tuple) -> tuple[tuple[str, Path], ...]:
    found: dict[str, Path] = {}
    for d, _ in reversed(stamp):
        for p in sorted(Path(d).glob("*.toml")):
            found[p.stem] = p.resolve()
    return tuple(found.items())


def names() -> list[str]:
    """Sorted names of every available card."""
    return sorted(_index())


@dataclasses.dataclass(frozen=True, eq=False)
class Card:
    """A validated parameter card; values are attributes in SI units (``card.g_min_s``).

    A card is a value: :meth:`replace` gives a validated copy with some values changed (in
    memory, no file), and anything that takes a card name also takes a card
    (``HardwareConfig(device_card=card)``, :func:`load`). Two cards are equal when their name,
    kind and values (with units) are; :attr:`sha256` identifies the values.

    Attributes
    ----------
    name, kind : str
        Card name (file stem) and kind (``"mosfet"``, ``"rram"``, ``"1t1r"``, ``"pcm"``...).
    source : Source
        The citation of the paper the values come from.
    values : Mapping[str, Any]
        Field name → value in SI units (the unit is in the name and in :attr:`units`).
    units, notes : Mapping[str, str]
        Field name → unit string, and → where in the paper the value is from (if given).
    path : str
        File the card was read from (kept by :meth:`replace`; ``"<dict>"`` if built from a dict).
    modified : tuple of str
        Fields whose values :meth:`replace` changed from those of :attr:`path` (sorted).
    """

    name: str
    kind: str
    source: Source
    values: Mapping[str, Any]
    units: Mapping[str, str]
    notes: Mapping[str, str]
    path: str
    modified: tuple[str, ...] = ()

    def __getattr__(self, item: str) -> Any:
        values = object.__getattribute__(self, "values")
        if item in values:
            return values[item]
        raise AttributeError(
            f"Card {object.__getattribute__(self, 'name')!r} has no field {item!r}. "
            f"Fields: {sorted(values)}"
        )

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.values))

    def __repr__(self) -> str:
        mod = f", modified={list(self.modified)}" if self.modified else ""
        return f"Card({self.name!r}, kind={self.kind!r}, sha256={self.sha256[:12]!r}{mod})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Card):
            return NotImplemented
        return self.name == other.name and self.sha256 == other.sha256

    def __hash__(self) -> int:
        return hash((self.name, self.sha256))

    def _repr_html_(self) -> str:
        """HTML table for notebooks: the citation, then every field's value, unit and note."""
        from .._html import html_table

        mod = f"; modified: {', '.join(self.modified)}" if self.modified else ""
        rows = [(k, v, self.units[k], self.notes.get(k, "")) for k, v in self.values.items()]
        return html_table(("field", "value", "unit", "note"), rows,
                          f"{self.name} ({self.kind}{mod}): {self.source}")

    def get(self, item: str, default: Any = None) -> Any:
        """Value of an optional field, or ``default`` when the card does not set it."""
        if not isinstance(item, str):
            raise CardError(f"The 'item' parameter of Card.get must be a field name (str). "
                            f"Got {item!r}.")
        return self.values.get(item, default)

    @functools.cached_property
    def sha256(self) -> str:
        """Hex SHA-256 of the card's kind and values with units (canonical JSON): what a
        result depends on; notes and the citation do not enter it."""
        body = {"kind": self.kind,
                "values": {k: [list(v) if isinstance(v, tuple) else v, self.units[k]]
                           for k, v in sorted(self.values.items())}}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def replace(self, **changes: Any) -> Card:
        """A copy with some values changed, validated against the kind: a card in memory (no
        file), with the changed fields listed in :attr:`modified` and their notes saying so.

        Raises
        ------
        CardError
            A field the kind does not have, or a value of the wrong type or out of its range.
        """
        spec = kind_spec(self.kind)
        values, notes = dict(self.values), dict(self.notes)
        where = f"card {self.name!r} (replace)"
        changed = set(self.modified)
        for key, val in changes.items():
            if key not in spec:
                raise CardError(f"{where}: unknown field {key!r} for kind {self.kind!r}. "
                                f"Fields: {sorted(spec)}")
            new = spec[key].check(list(val) if isinstance(val, tuple) else val, where)
            if key in values and values[key] == new:
                continue
            notes[key] = (f"modified: {self.name} has {values[key]!r}" if key in values
                          else f"modified: not set in {self.name}")
            values[key] = new
            changed.add(key)
        if changed == set(self.modified):
            return self
        units = dict(self.units)
        units.update({k: spec[k].unit for k in changes})
        return dataclasses.replace(
            self, values=MappingProxyType(values), units=MappingProxyType(units),
            notes=MappingProxyType(notes), modified=tuple(sorted(changed)))

    def to_dict(self) -> dict:
        """Plain-dict form (TOML/JSON-able): name, kind, source, ``{field: {value, unit}}``,
        plus ``modified`` (if any) and ``sha256``; :meth:`from_dict` reads it back."""
        src = {k: v for k, v in dataclasses.asdict(self.source).items() if v is not None}
        vals = {}
        for k, v in self.values.items():
            vals[k] = {"value": list(v) if isinstance(v, tuple) else v, "unit": self.units[k]}
            if k in self.notes:
                vals[k]["note"] = self.notes[k]
        out = {"name": self.name, "kind": self.kind, "source": src, "values": vals}
        if self.modified:
            out["modified"] = list(self.modified)
        out["sha256"] = self.sha256
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "<dict>") -> Card:
        """Build and validate a card from the TOML/dict form (see module docstring).

        A ``sha256`` entry (as :meth:`to_dict` writes) must match the values: CardError if not
        (the values were altered after they were recorded).
        """
        if not isinstance(data, Mapping):
            raise CardError(f"{where}: a card must be a table/dict. Got {type(data).__name__}.")
        data = dict(data)
        sha = data.pop("sha256", None)
        modified = data.pop("modified", ())
        if not isinstance(modified, (list, tuple)) or not all(isinstance(m, str)
                                                              for m in modified):
            raise CardError(f"{where}: field 'modified' must be a list of field names. "
                            f"Got {modified!r}.")
        name = data.get("name", "<dict>")
        if not isinstance(name, str) or not name:
            raise CardError(f"{where}: field 'name' must be a non-empty string. Got {name!r}.")
        card = _build(data, name, where)
        if modified:
            card = dataclasses.replace(card, modified=tuple(sorted(modified)))
        if sha is not None and sha != card.sha256:
            raise CardError(f"{where}: card {name!r} has sha256 {str(sha)[:12]}... but its values "
                            f"hash to {card.sha256[:12]}...: the values were altered after they "
                            "were recorded.")
        return card


def _build(data: dict, name: str, where: str) -> Card:
    for key in ("kind", "source", "values"):
        if key not in data:
            raise CardError(f"{where}: missing top-level field {key!r}")
    unknown = set(data) - {"kind", "source", "values", "name"}
    if unknown:
        raise CardError(f"{where}: unknown top-level fields {sorted(unknown)}")
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in kinds():
        raise CardError(f"{where}: field 'kind' must be one of {kinds()}. Got {kind!r}.")
    src = data["source"]
    if not isinstance(src, dict):
        raise CardError(f"{where}: field 'source' must be a table. Got {src!r}.")
    for key in _SOURCE_REQUIRED:
        if key not in src or src[key] in ("", None):
            raise CardError(f"{where}: missing field 'source.{key}'")
    extra = set(src) - set(_SOURCE_REQUIRED) - set(_SOURCE_OPTIONAL)
    if extra:
        raise CardError(f"{where}: unknown fields in 'source': {sorted(extra)}")
    if not isinstance(src["year"], int) or not 1900 <= src["year"] <= 2100:
        raise CardError(f"{where}: field 'source.year' must be a year. Got {src['year']!r}.")
    source = Source(**{k: src[k] for k in src})

    spec = kind_spec(kind)
    raw_values = data["values"]
    if not isinstance(raw_values, dict):
        raise CardError(f"{where}: field 'values' must be a table. Got {raw_values!r}.")
    values, units, notes = {}, {}, {}
    for key, entry in raw_values.items():
        if key not in spec:
            raise CardError(
                f"{where}: unknown field {key!r} for kind {kind!r}. Fields: {sorted(spec)}"
            )
        fs = spec[key]
        if not isinstance(entry, dict) or "value" not in entry:
            raise CardError(
                f"{where}: field {key!r} must be a table {{ value = ..., unit = {fs.unit!r} }}. "
                f"Got {entry!r}."
            )
        if "unit" not in entry:
            raise CardError(f"{where}: field {key!r} has no unit; expected unit {fs.unit!r}.")
        if entry["unit"] != fs.unit:
            raise CardError(
                f"{where}: field {key!r} has wrong unit {entry['unit']!r}; expected {fs.unit!r}."
            )
        extra = set(entry) - {"value", "unit", "note"}
        if extra:
            raise CardError(f"{where}: field {key!r} has unknown keys {sorted(extra)}")
        values[key] = fs.check(entry["value"], where)
        units[key] = fs.unit
        if "note" in entry:
            notes[key] = str(entry["note"])
    missing = [k for k, fs in spec.items() if fs.required and k not in values]
    if missing:
        raise CardError(f"{where}: missing required field(s) {missing} for kind {kind!r}")
    return Card(
        name=name,
        kind=kind,
        source=source,
        values=MappingProxyType(values),
        units=MappingProxyType(units),
        notes=MappingProxyType(notes),
        path=where,
    )


@functools.lru_cache(maxsize=256)
def _load_path(path: str, mtime: float) -> Card:
    p = Path(path)
    return _build(_read_toml(p), p.stem, str(p))


def load(
    name: str | os.PathLike | Card,
    *,
    kinds: tuple[str, ...] | None = None,
    field: str = "card",
    caller: str = "cards.load",
) -> Card:
    """Load and validate a card by name (see :func:`names`), by path to a ``.toml`` file, or
    return a :class:`Card` given as such (a value, e.g. from :meth:`Card.replace`).

    ``kinds``, if given, are the card kinds the caller accepts; a card of another kind raises
    :class:`~device_models.errors.InvalidParameterError` naming ``field`` of ``caller``.

    Raises
    ------
    UnknownNameError
        If ``name`` is neither a known card nor an existing file; the message lists the names.
    CardError
        If the file is malformed or a field is missing, mis-united or out of range.
    InvalidParameterError
        If the card's kind is not one of ``kinds``, or ``name`` is neither a card, a str nor
        a path.
    """
    if kinds is not None and (not isinstance(kinds, (tuple, list)) or not kinds
                              or not all(isinstance(k, str) for k in kinds)):
        from .._checks import fail

        fail("kinds", "cards.load", "None or a non-empty tuple of card kinds", kinds)
    card = _load(name, field, caller)
    return card if kinds is None else _check_kind(field, card, caller, kinds)


def _load(name: Any, field: str, caller: str) -> Card:
    if isinstance(name, Card):
        return name
    if not isinstance(name, (str, os.PathLike)):
        from .._checks import fail

        fail(field, caller, "a Card, a card name or a path to a .toml card", name)
    text = os.fspath(name)
    p = Path(text)
    if text.endswith(".toml") and p.is_file():
        path = p.resolve()
    else:
        index = _index()
        if text not in index:
            raise UnknownNameError(f"Unknown card {text!r}. Known cards: {sorted(index)}.")
        path = index[text]
    try:
        mtime = path.stat().st_mtime_ns
    except OSError as exc:
        raise CardError(f"{path}: cannot be read: {exc}") from None
    return _load_path(str(path), mtime)


def _check_kind(name: str, card: Card, caller: str, kinds: tuple[str, ...]) -> Card:
    from .._checks import fail

    if card.kind not in kinds:
        wanted = repr(kinds[0]) if len(kinds) == 1 else str(list(kinds))
        fail(name, caller, f"a card of kind {wanted}", f"{card.name} (kind {card.kind!r})")
    return card


def check_memory_card(name: str, value: Any, caller: str, kinds: tuple[str, ...]) -> Card:
    """Return the memory-device Card ``value`` (a name is loaded) if its kind is one of
    ``kinds`` and its conductance window is non-empty (``g_min_s < g_max_s``); else raise."""
    from .._checks import fail

    value = load(value, kinds=tuple(kinds) if isinstance(kinds, list) else kinds, field=name,
                 caller=caller)
    if value.get("g_min_s") is None or value.get("g_max_s") is None:
        fail(name, caller, "a memory card (with g_min_s and g_max_s)",
             f"{value.name} (kind {value.kind!r})")
    if not value.g_min_s < value.g_max_s:
        fail(name, caller, "a card with g_min_s < g_max_s",
             f"g_min_s={value.g_min_s!r}, g_max_s={value.g_max_s!r}")
    return value
