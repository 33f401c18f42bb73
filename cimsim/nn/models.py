"""Model files, PyTorch import, bundled models and data: one public module for all three.

The implementations live in :mod:`cimsim.nn.model_files` (save and load, the file layout),
:mod:`cimsim.nn.torch_import` (:func:`from_torch`), :mod:`cimsim.nn.onnx_import`
(:func:`from_onnx`) and :mod:`cimsim.nn.bundled` (the shipped
networks and data sets). ``cimsim.models`` is this module.
"""

from __future__ import annotations

from .bundled import bundled_models, load_bundled, load_digits_split, load_mnist
from .model_files import FORMAT, load_model, save_model
from .onnx_import import from_onnx
from .torch_import import from_torch

__all__ = [
    "FORMAT",
    "bundled_models",
    "from_onnx",
    "from_torch",
    "load_bundled",
    "load_digits_split",
    "load_mnist",
    "load_model",
    "save_model",
]
