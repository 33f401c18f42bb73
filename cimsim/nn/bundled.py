"""Bundled models and data sets shipped in ``cimsim/data``."""

from __future__ import annotations

from importlib import resources

import numpy as np

from device_models._checks import fail
from device_models.errors import UnknownNameError

from .model_files import load_model
from .network import Network

__all__ = ["bundled_models", "load_bundled", "load_digits_split", "load_mnist"]

#: Data sets (not models) in cimsim/data.
_DATA_FILES = ("digits_split.npz", "mnist10k.npz")


def _data_dir():
    return resources.files("cimsim").joinpath("data")


def _data_file(filename: str):
    return _data_dir().joinpath(filename)


def bundled_models() -> list[str]:
    """Names of the trained networks shipped in ``cimsim/data`` (every ``.npz`` there except
    the data sets ``digits_split`` and ``mnist10k``)."""
    return sorted(p.name[: -len(".npz")] for p in _data_dir().iterdir()
                  if p.name.endswith(".npz") and p.name not in _DATA_FILES)


def load_bundled(name: str) -> Network:
    """Load a bundled reference network by name (see :func:`bundled_models`)."""
    names = bundled_models()
    if not isinstance(name, str) or name not in names:
        fail("name", "load_bundled", f"one of the bundled models ({', '.join(names)})", name,
             exc=UnknownNameError)
    with resources.as_file(_data_file(f"{name}.npz")) as p:
        return load_model(p)


def load_digits_split() -> dict[str, np.ndarray]:
    """The scikit-learn digits split used by the bundled digits models.

    Returns ``{"x_train", "y_train", "x_test", "y_test"}``; images are (N, 1, 8, 8) float64 in
    [0, 1] (pixel value / 16), labels int64. ``x_test`` is the held-out split (never trained
    on); it is stored in the package, so no download is needed.
    """
    with resources.as_file(_data_file("digits_split.npz")) as p, np.load(p) as d:
        return {
            "x_train": d["x_train"].astype(np.float64) / 16.0,
            "y_train": d["y_train"].astype(np.int64),
            "x_test": d["x_test"].astype(np.float64) / 16.0,
            "y_test": d["y_test"].astype(np.int64),
        }


def load_mnist() -> dict[str, np.ndarray]:
    """The bundled 10 000-image MNIST subset (see ``cimsim/data/mnist10k.LICENSE``).

    Returns ``{"x_train", "y_train", "x_test", "y_test"}``: the first 8 000 images for
    training, the last 2 000 held out; (N, 1, 28, 28) float64 in [0, 1], labels int64.
    """
    with resources.as_file(_data_file("mnist10k.npz")) as p, np.load(p) as d:
        x = d["images"].astype(np.float64)[:, None] / 255.0
        y = d["labels"].astype(np.int64)
    return {"x_train": x[:8000], "y_train": y[:8000], "x_test": x[8000:], "y_test": y[8000:]}

