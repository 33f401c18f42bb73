"""cimsim: analog compute-in-memory crossbar simulator.

Tiled crossbars of resistive memory executing neural-network layers, with the device and
converter physics of :mod:`device_models` and an energy/latency/area account of every operation.
"""

from ._version import __version__
from .config import Config, param
from .hardware import HardwareConfig, TileConfig
from .ops import OpCounts
from .report import Report, build_report, load_report

__all__ = [
    "Config",
    "HardwareConfig",
    "OpCounts",
    "Report",
    "TileConfig",
    "__version__",
    "build_report",
    "load_report",
    "param",
]
