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
from .memory import ProgramResult, age, apply_faults, program, read_sigma_s
from .programming import program_write_verify

__all__ = [
    "CardError",
    "CellIV",
    "CimSimError",
    "ConfigError",
    "InvalidParameterError",
    "LinearIV",
    "ProgramResult",
    "SinhIV",
    "StoreError",
    "UnknownNameError",
    "age",
    "apply_faults",
    "cards",
    "constants",
    "program",
    "program_write_verify",
    "read_sigma_s",
    "rng",
]
