"""Sequence data sets shipped in ``cimsim/data``: sequential MNIST and a character corpus.

* :func:`load_smnist` — the bundled 10 000-image MNIST subset as sequences: each image is 28
  time steps of 28 pixels (its rows, top to bottom), ``(N, 28, 28)`` in [0, 1].
* :func:`load_tempest` — Shakespeare's *The Tempest* (public domain; ``tempest.LICENSE``) as
  character ids over its sorted character set, split 90 % / 10 % (train / held out), and
  :func:`char_windows` cuts it into next-character prediction windows.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from device_models._checks import check_array, check_int, fail

__all__ = ["char_windows", "load_smnist", "load_tempest"]


def load_smnist() -> dict[str, np.ndarray]:
    """Sequential MNIST: ``{"x_train", "y_train", "x_test", "y_test"}``, images as (N, 28, 28)
    sequences of rows (8 000 train, 2 000 held out; see :func:`cimsim.nn.models.load_mnist`)."""
    from .models import load_mnist

    d = load_mnist()
    return {"x_train": d["x_train"][:, 0], "y_train": d["y_train"],
            "x_test": d["x_test"][:, 0], "y_test": d["y_test"]}


def load_tempest() -> dict:
    """*The Tempest* as character ids.

    Returns
    -------
    dict
        ``"vocab"`` (str: the sorted characters; id = index), ``"train"`` and ``"test"``
        (int64 id arrays: the first 90 % and the last 10 % of the text).
    """
    text = resources.files("cimsim").joinpath("data", "tempest.txt").read_text("ascii")
    vocab = "".join(sorted(set(text)))
    ids = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    lut = np.zeros(256, dtype=np.int64)
    lut[np.frombuffer(vocab.encode("ascii"), dtype=np.uint8)] = np.arange(len(vocab))
    ids = lut[ids]
    cut = int(0.9 * len(ids))
    return {"vocab": vocab, "train": ids[:cut], "test": ids[cut:]}


def char_windows(ids: np.ndarray, length: int, *, stride: int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``length`` ids and their next-character targets.

    Parameters
    ----------
    ids : ndarray of int
        Character ids.
    length : int
        Window length [characters].
    stride : int, optional
        Start-to-start distance (default ``length``: non-overlapping).

    Returns
    -------
    x, y : ndarray, shape (W, length)
        Inputs (float64 ids, the layout :class:`~cimsim.nn.attention.Embedding` takes) and
        targets ``y[w, t] = ids[start + t + 1]`` (int64).
    """
    length = check_int("length", length, "char_windows", lo=1)
    stride = length if stride is None else check_int("stride", stride, "char_windows", lo=1)
    ids = check_array("ids", ids, "char_windows", ndim=1)
    if np.any(ids != np.floor(ids)) or np.any(ids < 0):
        fail("ids", "char_windows", "non-negative integer character ids", "array with others")
    ids = ids.astype(np.int64)
    starts = np.arange(0, len(ids) - length - 1 + 1, stride)
    idx = starts[:, None] + np.arange(length)
    return ids[idx].astype(np.float64), ids[idx + 1]
