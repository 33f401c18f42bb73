"""cimsim: analog compute-in-memory crossbar simulator.

Tiled crossbars of resistive memory executing neural-network layers, with the device and
converter physics of :mod:`device_models` and an energy/latency/area account of every operation.
"""

import sys

from ._version import __version__
from .array import crossbar
from .array.crossbar import Crossbar
from .config import Config, param
from .hardware import HardwareConfig, TileConfig
from .nn import layers, models
from .nn.models import from_torch, load_bundled, load_model, save_model
from .nn.network import Network, PlacementConfig
from .ops import OpCounts
from .ppa.report import Report, build_report, load_report
from .tile.matrix import AnalogMatrix
from .tile.state import Tile

# Contract module names (DESIGN.md): ``cimsim.crossbar``, ``cimsim.layers`` and ``cimsim.models``
# are the modules of the array and nn wings under their public names.
for _mod in (crossbar, layers, models):
    sys.modules[f"{__name__}.{_mod.__name__.rsplit('.', 1)[1]}"] = _mod
del _mod

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
