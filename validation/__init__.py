"""Reproductions of published chips and devices, run by ``cimsim validate``.

Each module here (not starting with ``_``) is one reproduction; see :mod:`validation._base`
for what a module defines and returns.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from device_models.errors import UnknownNameError

from ._base import Comparison, Reproduction

__all__ = ["Comparison", "Reproduction", "load", "names"]


def _modules() -> dict[str, str]:
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        found[info.name] = f"{__name__}.{info.name}"
    return found


def names() -> list[str]:
    """Names of every reproduction module, sorted."""
    return sorted(_modules())


def load(name: str) -> ModuleType:
    """Import the reproduction module ``name``; unknown names list the known ones."""
    mods = _modules()
    if name not in mods:
        raise UnknownNameError(f"Unknown reproduction {name!r}. Known reproductions: {names()}.")
    mod = importlib.import_module(mods[name])
    for attr in ("NAME", "CITATION", "SLOW", "run"):
        if not hasattr(mod, attr):
            raise UnknownNameError(f"validation module {name!r} does not define {attr!r}.")
    return mod
