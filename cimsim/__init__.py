"""cimsim: analog compute-in-memory crossbar simulator.

Tiled crossbars of resistive memory executing neural-network layers, with the device and
converter physics of :mod:`device_models` and an energy/latency/area account of every operation.
"""

from ._version import __version__
from .config import Config, param
from .crossbar import Crossbar
from .hardware import HardwareConfig, TileConfig
from .models import from_torch, load_bundled, load_model, save_model
from .network import Network, PlacementConfig
from .ops import OpCounts
from .report import Report, build_report, load_report
from .tile import Tile
from .tiled import AnalogMatrix

__all__ = [
    "AnalogMatrix",
    "Config",
    "Crossbar",
    "HardwareConfig",
    "Network",
    "OpCounts",
    "PlacementConfig",
    "Report",
    "Tile",
    "TileConfig",
    "__version__",
    "build_report",
    "from_torch",
    "load_bundled",
    "load_model",
    "load_report",
    "param",
    "save_model",
]
