"""Documentation checks: every public name is documented; every physics module cites sources.

Physics modules state their equations with units and a reference (numpydoc ``References``
section with a DOI) in the module docstring or in the docstrings of their public functions.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import cimsim
import device_models

PHYSICS_MODULES = [
    "device_models.mosfet", "device_models.noise", "device_models.iv", "device_models.rram",
    "device_models.programming", "device_models.one_t_one_r", "device_models.pcm",
    "device_models.adc", "device_models.dac", "device_models.encoding",
    "device_models.frontend", "device_models.measure", "device_models.rng",
    "device_models.current_mirror", "device_models.sense_amp", "device_models.cco_adc",
    "device_models.pulse_driver",
    "device_models.ziggurat",
    "cimsim.array.crossbar", "cimsim.array.mapping", "cimsim.tile.state", "cimsim.tile.encode",
    "cimsim.tile.readout", "cimsim.tile.frontend",
    "cimsim.ppa.energy", "cimsim.ppa.latency",
    "cimsim.ppa.report",
]


def _public_modules():
    for pkg in (device_models, cimsim):
        for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{pkg.__name__}."):
            parts = info.name.split(".")
            if not any(p.startswith("_") for p in parts) and "commands" not in parts:
                yield info.name


@pytest.mark.parametrize("name", sorted(_public_modules()))
def test_public_names_have_docstrings(name):
    mod = importlib.import_module(name)
    assert (mod.__doc__ or "").strip(), f"{name} has no module docstring"
    for attr in getattr(mod, "__all__", []):
        obj = getattr(mod, attr)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert (obj.__doc__ or "").strip(), f"{name}.{attr} has no docstring"


@pytest.mark.parametrize("name", PHYSICS_MODULES)
def test_physics_modules_cite_references(name):
    mod = importlib.import_module(name)
    docs = [mod.__doc__ or ""] + [
        getattr(mod, a).__doc__ or "" for a in getattr(mod, "__all__", [])
        if hasattr(getattr(mod, a), "__doc__")
    ]
    text = "\n".join(docs)
    assert "References" in text, f"{name} cites no References"
    assert "doi" in text.lower(), f"{name} gives no DOI"
