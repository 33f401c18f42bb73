"""What the sequence layers share: the ``(N, T, F)`` layout, the tile hook, digital counts.

Sequences are float64 arrays of shape ``(N, T, F)`` (batch, time steps, features); token ids
(for :class:`~cimsim.nn.attention.Embedding`) are ``(N, T)``. A layer's ``output_shape``
works on one sample's shape ``(T, F)``.

The tile hook
-------------
A sequence layer computes its weight products through the ``matmul`` hook of
:meth:`Layer.forward`, like :class:`~cimsim.nn.layers.Linear`, with one addition:
``matmul(layer, group, patches, step=t)`` names the time step of a recurrent product, so each
step reads fresh read-noise numbers (the stream position is ``t·STEP_STRIDE +`` the sample's
index, independent of how the run is split into batches). When the hook carries
``calibrating = True`` (the calibration pass of :meth:`cimsim.nn.network.Network.compile`), a
recurrent layer first passes the states of a float recurrence (driven by the analog input
products) to its recurrent matrix, which the network calibrates on its first call of the pass.

Digital work
------------
Each layer declares its digital operations per sample with ``digital_ops`` (breakdown line →
operation of :data:`cimsim.ppa.energy.DIGITAL_OPS` → count), priced by the technology card.
Memory traffic that depends on the chip (KV cache, embedding and position tables) and the
analog state energy are added to the layer's :class:`~cimsim.ops.OpCounts` during a run through
the hook's ``add_counts(name, counts)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from device_models._checks import check_array, check_choice, fail
from device_models.errors import InvalidParameterError

from .layers import Layer, WeightedLayer

__all__ = ["STEP_STRIDE", "SequenceLayer", "SequencePool", "SequenceWeighted"]

#: Stream positions reserved per time step: step ``t`` of sample ``i`` reads noise at
#: ``t·STEP_STRIDE + i`` (runs of up to 2**24 samples; 2**16 steps stay below one read of
#: the chip, :data:`cimsim.nn.network.READ_STRIDE`) [-].
STEP_STRIDE = 1 << 24


def check_sequence(layer: Layer, x: Any, features: int | None, *, ndim: int = 3) -> np.ndarray:
    """``x`` as float64 ``(N, T, F)`` with ``T >= 1`` and ``F == features``."""
    caller = f"{type(layer).__name__} {layer.name!r}"
    x = check_array("x", x, caller, ndim=ndim)
    if x.shape[1] == 0:
        fail("x", caller, "a sequence of at least one time step", f"array of shape {x.shape}")
    if features is not None and x.shape[-1] != features:
        fail("x", caller, f"of shape (N, T, {features})", f"array of shape {x.shape}")
    return x


def check_sample_shape(layer: Layer, shape: tuple[int, ...], features: int | None,
                       ndim: int = 2) -> tuple[int, ...]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != ndim or (features is not None and shape[-1] != features) or shape[0] < 1:
        want = "(T, F)" if features is None else f"(T, {features})"
        if ndim == 1:
            want = "(T,)"
        raise InvalidParameterError(
            f"{type(layer).__name__} {layer.name!r} expects inputs of shape {want} with T >= 1. "
            f"Got {shape}.")
    return shape


class SequenceLayer(Layer):
    """A layer over ``(N, T, F)`` sequences (see the module docstring)."""

    @staticmethod
    def _add_counts(matmul, name: str, **counts) -> None:
        """Add run counts (OpCounts fields) through the hook, if it takes them."""
        add = getattr(matmul, "add_counts", None) if matmul is not None else None
        if add is not None:
            from ..ops import OpCounts

            add(name, OpCounts(**counts))

    def backward(self, grad):
        raise InvalidParameterError(
            f"{type(self).__name__} {self.name!r} has no NumPy backward: train sequence models "
            "with PyTorch (scripts/train_sequence_models.py) and import them.")

    @classmethod
    def from_spec(cls, get: Callable, arr: Callable, name: str) -> Layer:
        """Rebuild from a model-file entry: ``get(key[, default])`` reads a hyper-parameter,
        ``arr(param, shape[, required])`` a checked array (:mod:`cimsim.nn.models`)."""
        raise NotImplementedError


class SequenceWeighted(WeightedLayer, SequenceLayer):
    """A sequence layer whose weight products run on tiles (one matrix per group)."""

    #: Parameter holding the ``weight`` of :class:`WeightedLayer` users (noise-aware
    #: training, volatility): the first matrix's.
    weight_param: ClassVar[str] = ""

    @property
    def weight(self) -> np.ndarray:
        return getattr(self, self.weight_param)

    @weight.setter
    def weight(self, value: np.ndarray) -> None:
        setattr(self, self.weight_param, value)

    @property
    def groups(self) -> int:
        return len(self.matrices())

    def scale_output(self, scale, shift):
        raise InvalidParameterError(
            f"{type(self).__name__} {self.name!r}: a BatchNorm cannot be folded into it.")

    def macs_per_sample(self, input_shape: tuple[int, ...]) -> int:
        """Multiply-accumulates on the layer's matrices for one sample [-]."""
        t = int(input_shape[0])
        return t * sum(m.shape[0] * m.shape[1] for m in self.matrices())

    def _mm(self, matmul, g: int, x2d: np.ndarray, step: int = 0) -> np.ndarray:
        """``x2d @ matrices()[g]`` in float or through the tile hook."""
        if matmul is None:
            return x2d @ self.matrices()[g]
        return matmul(self, g, x2d, step=step)


class SequencePool(SequenceLayer):
    """Reduce a sequence over time: the last step (``mode="last"``) or the mean (``"mean"``).

    ``(N, T, F) -> (N, F)``; digital.
    """

    kind = "SequencePool"

    def __init__(self, mode: str = "last", name: str = "") -> None:
        super().__init__(name)
        check_choice("mode", mode, f"SequencePool {name!r}", ("last", "mean"),
                     exc=InvalidParameterError)
        self.mode = mode

    def config(self):
        return {"mode": self.mode}

    def output_shape(self, input_shape):
        shape = check_sample_shape(self, input_shape, None)
        return (shape[1],)

    def forward(self, x, *, train=False, matmul=None):
        x = check_sequence(self, x, None)
        return x[:, -1] if self.mode == "last" else x.mean(axis=1)

    def digital_ops(self, input_shape):
        t, f = input_shape
        if self.mode == "last":
            return {}
        return {"pooling": {"add": float((t - 1) * f), "mult": float(f)}}

    @classmethod
    def from_spec(cls, get, arr, name):
        return cls(get("mode", "last"), name=name)
