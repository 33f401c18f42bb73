"""device_models: device and circuit physics for analog compute-in-memory.

Pure, vectorised functions (NumPy API over Numba kernels) and TOML parameter cards; nothing
here knows about layers or networks. Re-exports are written by hand below.
"""

from . import cards, constants, noise, rng
from .adc import SarAdc
from .dac import Dac
from .errors import (
    CardError,
    CimSimError,
    ClusterError,
    ConfigError,
    InvalidParameterError,
    MissingDependencyError,
    OutOfMemoryError,
    StoreError,
    UnknownNameError,
)
from .iv import CellIV, LinearIV, SinhIV
from .measure import measure_enob, measure_inl_dnl
from .memory import ProgramResult, age, apply_faults, program, read_sigma_s
from .mosfet import (
    EkvParams,
    ekv_params,
    gm_over_id,
    mosfet_current,
    mosfet_small_signal,
    sample_mismatch,
    subthreshold_swing,
)
from .one_t_one_r import OneTOneRIV, solve_1t1r
from .programming import program_write_verify

__all__ = [
    "CardError",
    "CellIV",
    "CimSimError",
    "ClusterError",
    "ConfigError",
    "Dac",
    "EkvParams",
    "InvalidParameterError",
    "MissingDependencyError",
    "OutOfMemoryError",
    "LinearIV",
    "OneTOneRIV",
    "ProgramResult",
    "SarAdc",
    "SinhIV",
    "StoreError",
    "UnknownNameError",
    "age",
    "apply_faults",
    "cards",
    "constants",
    "ekv_params",
    "gm_over_id",
    "measure_enob",
    "measure_inl_dnl",
    "mosfet_current",
    "mosfet_small_signal",
    "noise",
    "program",
    "program_write_verify",
    "read_sigma_s",
    "rng",
    "sample_mismatch",
    "solve_1t1r",
    "subthreshold_swing",
]
