"""The registry of sweep jobs: :func:`register_job`, :func:`get_job`, :func:`jobs`.

A job is a function ``job(config: PointConfig) -> dict`` of scalar metrics (nested dicts are
flattened to dotted names); the built-in ones are in :mod:`cimsim.study.builtin_jobs`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from device_models._checks import fail
from device_models.errors import UnknownNameError

from ..config import Config
from .point import CARD_FIELDS, PointConfig

__all__ = ["Job", "get_job", "jobs", "register_job"]


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
            raise UnknownNameError(f"The 'cards' parameter of register_job must list card fields "
                                   f"of {sorted(set(CARD_FIELDS.values()))}. Got {bad}.")
        _JOBS[name] = Job(name, f, options, tuple(cards), doc or (f.__doc__ or "").strip()
                          .split("\n")[0])
        return f

    return deco(func) if func is not None else deco


def _builtin() -> None:
    """Register the built-in jobs (their module registers itself on import)."""
    from . import builtin_jobs  # noqa: F401


def jobs() -> list[str]:
    """Names of the registered jobs."""
    _builtin()
    return sorted(_JOBS)


def get_job(ref: str) -> Job:
    """The job registered as ``ref``, or the function at ``"package.module:function"``.

    A referenced function may carry ``options`` (a Config class) and ``cards`` attributes,
    or be a :class:`Job` itself.
    """
    _builtin()
    if not isinstance(ref, str):
        fail("ref", "get_job", "a job name or 'package.module:function'", ref,
             exc=UnknownNameError)
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
            raise UnknownNameError(f"The 'ref' parameter of get_job must name a callable job. "
                                   f"Got {ref!r}, a {type(obj).__name__}.")
        return Job(ref, obj, getattr(obj, "options", None), tuple(getattr(obj, "cards", ())))
    raise UnknownNameError(
        f"Unknown sweep job {ref!r}. Known jobs: {jobs()} (or give 'package.module:function')."
    )
