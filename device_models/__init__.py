"""device_models: device and circuit physics for analog compute-in-memory.

Pure, vectorised functions (NumPy API over Numba kernels) and TOML parameter cards; nothing
here knows about layers or networks. Re-exports are written by hand below.
"""

from . import cards, constants, rng
from .errors import (
    CardError,
    CimSimError,
    ConfigError,
    InvalidParameterError,
    StoreError,
    UnknownNameError,
)
from .iv import CellIV, LinearIV, SinhIV

__all__ = [
    "CardError",
    "CellIV",
    "CimSimError",
    "ConfigError",
    "InvalidParameterError",
    "LinearIV",
    "SinhIV",
    "StoreError",
    "UnknownNameError",
    "cards",
    "constants",
    "rng",
]
