"""One exception family for the whole project.

Every error cimsim raises on bad input derives from :class:`CimSimError`; the ones about a
wrong value also derive from :class:`ValueError`, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = [
    "CardError",
    "CimSimError",
    "ClusterError",
    "ConfigError",
    "InvalidParameterError",
    "MissingDependencyError",
    "OutOfMemoryError",
    "StoreError",
    "UnknownNameError",
]


class CimSimError(Exception):
    """Base class of every error raised by cimsim and device_models."""


class InvalidParameterError(CimSimError, ValueError):
    """A function argument is outside its allowed values (NaN, wrong shape, out of range...)."""


class ConfigError(CimSimError, ValueError):
    """A configuration dataclass or TOML spec holds a wrong field or value."""


class CardError(CimSimError, ValueError):
    """A parameter card is malformed, misses a field, has a wrong unit or an unphysical value."""


class UnknownNameError(CimSimError, ValueError):
    """A name (card, model, layer, encoding...) is not one of the known names."""


class MissingDependencyError(CimSimError, ImportError):
    """An optional package (or data set) a function needs is not installed; the message says
    what to install."""


class OutOfMemoryError(CimSimError, MemoryError):
    """An output the arguments ask for does not fit in memory; the message names the argument
    and the size."""


class StoreError(CimSimError, OSError):
    """A result file (HDF5) is truncated, foreign or otherwise unusable."""


class ClusterError(CimSimError, ConnectionError):
    """A Dask scheduler or cluster cannot be reached or used."""
