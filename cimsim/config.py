"""Declarative configuration: frozen dataclasses validated on construction.

A config class declares each field with :func:`param`, stating its unit, range or choices and
a one-line doc; construction checks every field and raises
:class:`~device_models.errors.ConfigError` naming the field, the value and the allowed range.
Configs round-trip through ``to_dict``/``from_dict`` and load from TOML, so the exact config
can be stored beside every result, and save to TOML (:meth:`Config.to_toml`)::

    @dataclasses.dataclass(frozen=True)
    class AdcConfig(Config):
        bits: int = param(8, lo=1, hi=20, doc="Resolution [bit].")
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from device_models._html import html_table
from device_models.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["Config", "param"]

C = TypeVar("C", bound="Config")


def param(
    default: Any = dataclasses.MISSING,
    *,
    unit: str = "",
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
    choices: tuple | None = None,
    doc: str = "",
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """Declare a config field with its unit, allowed range or choices, and a doc line."""
    meta = {
        "unit": unit, "lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open,
        "choices": choices, "doc": doc,
    }
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _allowed(meta: Mapping[str, Any]) -> str:
    if meta.get("choices") is not None:
        return f"one of {list(meta['choices'])}"
    lo, hi = meta.get("lo"), meta.get("hi")
    left = "(" if meta.get("lo_open") else "["
    right = ")" if meta.get("hi_open") else "]"
    lo_s = "-inf" if lo is None else repr(lo)
    hi_s = "inf" if hi is None else repr(hi)
    return f"in {left}{lo_s}, {hi_s}{right}"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every cimsim configuration (frozen, validated, round-trippable)."""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            coerced = self._check_field(f, hints.get(f.name, Any), value)
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; subclasses override and call :meth:`_fail` on a violation."""

    def _fail(self, name: str, constraint: str, value: Any) -> typing.NoReturn:
        got = repr(value)
        got = got if len(got) <= 80 else got[:77] + "..."
        raise ConfigError(
            f"The {name!r} field of {type(self).__name__} must be {constraint}. Got {got}."
        )

    def _check_field(self, f: dataclasses.Field, hint: Any, value: Any) -> Any:
        meta = f.metadata
        origin = typing.get_origin(hint)
        args = typing.get_args(hint)
        if isinstance(hint, type) and issubclass(hint, Config):
            if isinstance(value, Mapping):
                return hint.from_dict(value)
            if not isinstance(value, hint):
                self._fail(f.name, f"a {hint.__name__}", value)
            return value
        if hint is bool:
            if not isinstance(value, bool):
                self._fail(f.name, "True or False", value)
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                else:
                    self._fail(f.name, f"an integer {_allowed(meta)}", value)
        elif hint is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._fail(f.name, f"a real number {_allowed(meta)}", value)
            try:
                value = float(value)
            except OverflowError:  # an int beyond the float range
                self._fail(f.name, f"finite {_allowed(meta)}", value)
            if not math.isfinite(value):
                self._fail(f.name, f"finite {_allowed(meta)}", value)
        elif hint is str:
            if not isinstance(value, str):
                self._fail(f.name, "a string", value)
        elif origin is tuple or hint is tuple:
            if isinstance(value, list):
                value = tuple(value)
            if not isinstance(value, tuple):
                self._fail(f.name, "a tuple", value)
            # tuple[T, ...]: every entry a T (names of layers: tuple[str, ...])
            if (len(args) == 2 and args[1] is Ellipsis and isinstance(args[0], type)
                    and not all(isinstance(v, args[0]) for v in value)):
                self._fail(f.name, f"a tuple of {args[0].__name__} values", value)
        elif origin is typing.Union and type(None) in args and value is None:
            return value
        if meta.get("choices") is not None and value not in meta["choices"]:
            self._fail(f.name, _allowed(meta), value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            lo, hi = meta.get("lo"), meta.get("hi")
            if lo is not None and (value <= lo if meta.get("lo_open") else value < lo):
                self._fail(f.name, _allowed(meta), value)
            if hi is not None and (value >= hi if meta.get("hi_open") else value > hi):
                self._fail(f.name, _allowed(meta), value)
        return value

    # --- round trips ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Nested plain-dict form (TOML/JSON-able)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Config) or hasattr(v, "to_dict"):  # a Config or a Card value
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build from the dict form; an unknown key raises ConfigError naming it."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"{cls.__name__} must be built from a table/dict. Got {data!r}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"Unknown field(s) {unknown} for {cls.__name__}. Fields: {sorted(known)}."
            )
        return cls(**dict(data))

    @classmethod
    def from_toml(cls: type[C], path: str | Path) -> C:
        """Load from a TOML file holding the dict form."""
        if not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"The 'path' parameter of {cls.__name__}.from_toml must be a "
                              f"path. Got {path!r}.")
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: malformed TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration: {exc}") from None
        return cls.from_dict(data)

    def to_toml(self, path: str | Path | None = None) -> str:
        """Write the dict form as TOML to ``path`` (if given) and return the text.

        :meth:`from_toml` reads it back to an equal configuration: card values (a
        :class:`~device_models.cards.Card` in a card field) are written with their full content
        and hash, fields that are ``None`` are left out (they are ``None`` by default).

        Raises
        ------
        ConfigError
            If the text would not read back to this configuration (a ``None`` field whose
            default is not ``None``), or ``path`` cannot be written.
        """
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise ConfigError(f"The 'path' parameter of {type(self).__name__}.to_toml must be a "
                              f"path or None. Got {path!r}.")
        text = _toml_text(self.to_dict())
        if type(self).from_dict(tomllib.loads(text)) != self:
            raise ConfigError(f"{type(self).__name__}.to_toml: the TOML form does not read back "
                              "to the same configuration (a field set to None whose default is "
                              "not None).")
        if path is not None:
            try:
                Path(path).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{path}: cannot be written: {exc}") from None
        return text

    def _repr_html_(self) -> str:
        """HTML table of the fields (value, unit, doc) for notebooks; nested configs nest."""
        rows = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Config):
                shown = value._repr_html_()
            elif hasattr(value, "_repr_html_"):   # a card value: its name and changed fields
                mod = f" (modified: {', '.join(value.modified)})" if value.modified else ""
                shown = _escape(f"{value.name}{mod}")
            else:
                shown = _escape(_shown(value))
            rows.append((f.name, shown, f.metadata.get("unit", ""), f.metadata.get("doc", "")))
        return html_table(("field", "value", "unit", "doc"), rows, type(self).__name__,
                          raw_columns=(1,))

    def replace(self: C, **changes: Any) -> C:
        """Copy with top-level fields changed (validated); see :meth:`replace_path` for nested."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(
                f"Unknown field(s) {unknown} for {type(self).__name__}. Fields: {sorted(known)}.")
        return dataclasses.replace(self, **changes)

    def replace_path(self: C, path: str, value: Any) -> C:
        """Copy with the field at dotted ``path`` (e.g. ``"tile.adc_bits"``) set to ``value``."""
        if not isinstance(path, str):
            raise ConfigError(f"The 'path' parameter of {type(self).__name__}.replace_path must "
                              f"be a dotted field path such as 'tile.adc_bits'. Got {path!r}.")
        head, _, rest = path.partition(".")
        known = {f.name for f in dataclasses.fields(self)}
        if head not in known:
            raise ConfigError(
                f"Unknown field {head!r} in {type(self).__name__} (path {path!r}). "
                f"Fields: {sorted(known)}."
            )
        if not rest:
            return dataclasses.replace(self, **{head: value})
        inner = getattr(self, head)
        if not isinstance(inner, Config):
            raise ConfigError(f"Field {head!r} of {type(self).__name__} has no sub-field {rest!r}.")
        return dataclasses.replace(self, **{head: inner.replace_path(rest, value)})

    @classmethod
    def describe(cls) -> list[tuple[str, str, str, str]]:
        """(name, unit, allowed, doc) for each field: for CLIs and docs."""
        return [
            (f.name, f.metadata.get("unit", ""), _allowed(f.metadata), f.metadata.get("doc", ""))
            for f in dataclasses.fields(cls)
        ]


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _shown(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _toml_value(value: Any) -> str:
    """One TOML value: a boolean, number, string, array or inline table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)   # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()
                 if v is not None]
        return "{ " + ", ".join(items) + " }" if items else "{}"
    raise ConfigError(f"to_toml: no TOML form for {value!r} ({type(value).__name__}).")


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _is_leaf(table: Mapping[str, Any]) -> bool:
    """A table written inline (one line): no value in it is itself a table of tables."""
    return all(not isinstance(v, Mapping) for v in table.values())


def _toml_text(data: Mapping[str, Any], prefix: str = "") -> str:
    """TOML text of a nested dict: scalars first, then one ``[table]`` per sub-dict; a dict of
    scalars under a table of many (a card's ``values``) is written as inline tables."""
    lines: list[str] = []
    tables: list[tuple[str, Mapping[str, Any]]] = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping) and not (prefix and _is_leaf(value) and
                                               prefix.endswith(".values")):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    text = "\n".join(lines)
    for key, table in tables:
        name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        body = _toml_text(table, name)
        text += ("\n\n" if text else "") + f"[{name}]" + ("\n" + body if body else "")
    return text + ("\n" if not prefix else "")
