"""Neural-network layers: float forward, backward (for training), and lowering to MVMs.

Every layer works on float64 NumPy arrays, images in ``(N, C, H, W)`` layout and vectors in
``(N, F)``. The weighted layers (:class:`Linear`, :class:`Conv2d`) compute through one or more
matrix–vector products ``y = patches @ W`` with ``W`` of shape ``(in, out)``: a Linear layer has
one such matrix, a grouped convolution one per group (lowered by im2col). The ``matmul`` hook of
their ``forward`` decides who computes that product: plain NumPy (the float reference) or the
analog tiles of :class:`cimsim.tile.matrix.AnalogMatrix` (see
:class:`cimsim.nn.network.Network`), so the float and the analog paths share all the lowering code.

Weight layouts follow PyTorch, so imported models need no transposition:
``Linear.weight`` is ``(out_features, in_features)``, ``Conv2d.weight`` is
``(out_channels, in_channels // groups, kh, kw)``.

``backward`` is an explicit (autograd-free) gradient of the last ``forward(..., train=True)``;
it is what :mod:`scripts.train_reference` and the fine-tuning of the volatility score use.

Digital work. Everything a layer computes outside the analog products (bias adds,
activations, pooling, residual adds, unfolded batch norm, softmax, state updates) runs on the
chip's digital unit and costs energy and time. A layer declares it in
:meth:`Layer.digital_ops`: for one sample of a given input shape, breakdown line (e.g.
``"activation"``, ``"pooling"``) → operation of :data:`cimsim.ppa.energy.DIGITAL_OPS`
(``"add"``, ``"mult"``, ``"compare"``, ``"exp"``, ``"sigmoid"``, ...) → count. A layer whose
work depends on the data (spikes, early exits) overrides :meth:`Layer.count_digital_ops`,
which sees the actual input and output of a forward pass. :func:`run_digital_ops` is what the
network calls after each layer; the energy report prices every line with the tech card.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import erf, expit

from device_models._checks import check_array, check_choice, check_int, check_scalar, fail
from device_models.errors import InvalidParameterError

__all__ = [
    "GELU",
    "GRU",
    "LSTM",
    "LAYER_TYPES",
    "LIF",
    "AvgPool2d",
    "BatchNorm",
    "Conv2d",
    "DiagonalSSM",
    "Embedding",
    "Flatten",
    "Layer",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "MultiHeadAttention",
    "PositionalEncoding",
    "QuantReLU",
    "ReLU",
    "Residual",
    "SequencePool",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "SpikeEncoder",
    "SubthresholdActivation",
    "Swish",
    "Tanh",
    "WeightedLayer",
    "add_ops",
    "fold_batchnorm",
    "im2col",
    "iter_layers",
    "run_digital_ops",
    "scale_ops",
    "softmax_ops",
]

#: ``matmul(layer, group, patches) -> y``: computes ``patches @ layer.matrices()[group]``.
MatMul = Callable[["Layer", int, np.ndarray], np.ndarray]


def _pair(value: Any, name: str, caller: str, lo: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            fail(name, caller, "an integer or a pair of integers", value)
        return (check_int(name, value[0], caller, lo=lo), check_int(name, value[1], caller, lo=lo))
    v = check_int(name, value, caller, lo=lo)
    return (v, v)


def _check_input(layer: Layer, x: Any, ndim: int) -> np.ndarray:
    caller = f"{type(layer).__name__} {layer.name!r}"
    return check_array("x", x, caller, ndim=ndim)


# --------------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------------


class Layer:
    """Base class: a named layer with parameters, a float forward and a backward.

    Subclasses define ``kind`` (the type name used in model files), ``param_names`` (the arrays
    stored in model files) and :meth:`config` (the hyper-parameters stored beside them).
    """

    kind: ClassVar[str] = ""
    param_names: ClassVar[tuple[str, ...]] = ()
    trainable: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str = "") -> None:
        self.name = str(name)
        self.grads: dict[str, np.ndarray] = {}
        self._cache: Any = None

    # -- interface ----------------------------------------------------------------------------
    def forward(self, x: np.ndarray, *, train: bool = False, matmul: MatMul | None = None):
        raise NotImplementedError

    def backward(self, grad: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one sample's output for one sample's input shape (no batch axis)."""
        return tuple(input_shape)

    def config(self) -> dict[str, Any]:
        """Hyper-parameters (JSON-able) that, with the arrays, rebuild the layer."""
        return {}

    def digital_ops(self, input_shape: tuple[int, ...]) -> dict[str, dict[str, float]]:
        """Digital operations of one sample with input shape ``input_shape`` [-].

        Returns breakdown line → operation (a name of :data:`cimsim.ppa.energy.DIGITAL_OPS`)
        → count, e.g. ``{"activation": {"relu": 512}}``. Default: none (reshapes, the analog
        products themselves, whose energy the tiles count).
        """
        return {}

    def count_digital_ops(self, x: np.ndarray, y: np.ndarray) -> dict[str, dict[str, float]]:
        """Digital operations of one forward pass from the batch ``x`` to its output ``y`` [-].

        Default: ``len(x)`` times :meth:`digital_ops` of one sample. Layers whose digital work
        depends on the data override this.
        """
        return scale_ops(self.digital_ops(tuple(x.shape[1:])), x.shape[0])

    def params(self) -> dict[str, np.ndarray]:
        """Parameter arrays by name (the live arrays, not copies)."""
        return {k: getattr(self, k) for k in self.param_names if getattr(self, k) is not None}

    def set_params(self, arrays: dict[str, np.ndarray]) -> None:
        for k, v in arrays.items():
            setattr(self, k, np.array(v, dtype=np.float64))

    def copy(self) -> Layer:
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.grads = {}
        new._cache = None
        for k in self.param_names:
            v = getattr(self, k)
            setattr(new, k, None if v is None else v.copy())
        return new

    def __repr__(self) -> str:
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({cfg}{', ' if cfg else ''}name={self.name!r})"


class WeightedLayer(Layer):
    """A layer computed through matrix products (Linear, Conv2d)."""

    param_names = ("weight", "bias")
    trainable = ("weight", "bias")
    weight: np.ndarray
    bias: np.ndarray | None

    @property
    def groups(self) -> int:
        return 1

    def matrices(self) -> list[np.ndarray]:
        """The ``(in, out)`` matrix of each group, ``y_g = patches_g @ W_g``."""
        raise NotImplementedError

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    def digital_ops(self, input_shape):
        """One bias add per output element (``"bias"`` line), when the layer has a bias."""
        if self.bias is None:
            return {}
        return {"bias": {"add": float(np.prod(self.output_shape(input_shape)))}}

    def scale_output(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """Fold a per-output affine map ``y -> scale * y + shift`` into weight and bias."""
        shape = (-1,) + (1,) * (self.weight.ndim - 1)
        bias = self.bias if self.bias is not None else np.zeros(self.n_out)
        self.weight = self.weight * scale.reshape(shape)
        self.bias = bias * scale + shift


# --------------------------------------------------------------------------------------------
# Linear and convolution
# --------------------------------------------------------------------------------------------


class Linear(WeightedLayer):
    """Fully connected layer, ``y = x @ weight.T + bias``, on the last axis: ``(N, F)`` or
    ``(N, ..., F)`` (e.g. every token of a ``(N, T, F)`` sequence in one product).

    Parameters
    ----------
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), or None
    """

    kind = "Linear"

    def __init__(self, weight, bias=None, name: str = "") -> None:
        super().__init__(name)
        caller = f"Linear {name!r}"
        self.weight = check_array("weight", weight, caller, ndim=2)
        self.bias = None if bias is None else check_array("bias", bias, caller, ndim=1)
        if self.bias is not None and self.bias.shape[0] != self.weight.shape[0]:
            fail("bias", caller, f"of length out_features={self.weight.shape[0]}",
                 f"array of shape {self.bias.shape}")

    @property
    def in_features(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight.shape[0])

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None}

    def output_shape(self, input_shape):
        if not input_shape or tuple(input_shape)[-1] != self.in_features:
            raise InvalidParameterError(
                f"Linear {self.name!r} expects inputs of shape (..., {self.in_features}). "
                f"Got {tuple(input_shape)}.")
        return (*tuple(input_shape)[:-1], self.out_features)

    def matrices(self) -> list[np.ndarray]:
        return [self.weight.T]

    def forward(self, x, *, train=False, matmul=None):
        x = check_array("x", x, f"Linear {self.name!r}")
        if x.ndim < 2 or x.shape[-1] != self.in_features:
            fail("x", f"Linear {self.name!r}", f"of shape (N, ..., {self.in_features})",
                 f"array of shape {x.shape}")
        lead = x.shape[:-1]
        x = x.reshape(-1, self.in_features)
        y = x @ self.weight.T if matmul is None else matmul(self, 0, x)
        if self.bias is not None:
            y = y + self.bias
        if train:
            self._cache = (x, lead)
        return y.reshape(*lead, self.out_features)

    def backward(self, grad):
        x, lead = self._cache
        grad = grad.reshape(-1, self.out_features)
        self.grads = {"weight": grad.T @ x}
        if self.bias is not None:
            self.grads["bias"] = grad.sum(axis=0)
        return (grad @ self.weight).reshape(*lead, self.in_features)


def _window_out_hw(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
                   padding: tuple[int, int]) -> tuple[int, int]:
    """Output height and width of a sliding window (convolution or pooling) [-]."""
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int]) -> np.ndarray:
    """Lower an image batch to convolution patches.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel, stride, padding : (int, int)

    Returns
    -------
    ndarray, shape (N, OH, OW, C, kh, kw)
        ``out[n, i, j, c, a, b] = xpad[n, c, i*sh + a, j*sw + b]``; reshaping the last three
        axes to ``C*kh*kw`` matches the flattening of a PyTorch weight ``(out, C, kh, kw)``.
    """
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype.kind not in "fiub":
        fail("x", "im2col", "a real 4-D array (N, C, H, W)", x)
    kernel, stride, padding = (_pair(v, name, "im2col", lo) for name, v, lo in (
        ("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0)))
    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    if kernel[0] > x.shape[2] or kernel[1] > x.shape[3]:
        fail("kernel", "im2col", f"at most the padded image size {x.shape[2:]}", kernel)
    win = sliding_window_view(x, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]
    return win.transpose(0, 2, 3, 1, 4, 5)


def _col2im(cols: np.ndarray, x_shape: tuple[int, ...], kernel, stride, padding) -> np.ndarray:
    """Adjoint of :func:`im2col`: scatter-add patch gradients back onto the image."""
    n, c, h, w = x_shape
    ph, pw = padding
    kh, kw = kernel
    sh, sw = stride
    _, oh, ow = cols.shape[:3]
    out = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
    cols = cols.transpose(0, 3, 4, 5, 1, 2)  # (N, C, kh, kw, OH, OW)
    for a in range(kh):
        for b in range(kw):
            out[:, :, a: a + sh * oh: sh, b: b + sw * ow: sw] += cols[:, :, a, b]
    return out[:, :, ph: ph + h, pw: pw + w]


class Conv2d(WeightedLayer):
    """2-D convolution (cross-correlation, as in PyTorch) lowered to MVMs by im2col.

    Parameters
    ----------
    weight : ndarray, shape (out_channels, in_channels // groups, kh, kw)
    bias : ndarray, shape (out_channels,), or None
    stride, padding : int or (int, int)
        Zero padding on each side.
    groups : int
        Input and output channels split into ``groups`` independent convolutions; each group is
        one ``(in_channels/groups * kh * kw, out_channels/groups)`` matrix on the tiles.
    """

    kind = "Conv2d"

    def __init__(self, weight, bias=None, *, stride=1, padding=0, groups=1, name: str = ""):
        super().__init__(name)
        caller = f"Conv2d {name!r}"
        self.weight = check_array("weight", weight, caller, ndim=4)
        self.bias = None if bias is None else check_array("bias", bias, caller, ndim=1)
        self.stride = _pair(stride, "stride", caller, 1)
        self.padding = _pair(padding, "padding", caller, 0)
        self._groups = check_int("groups", groups, caller, lo=1)
        if self.weight.shape[0] % self._groups:
            fail("groups", caller, f"a divisor of out_channels={self.weight.shape[0]}", groups)
        if self.bias is not None and self.bias.shape[0] != self.weight.shape[0]:
            fail("bias", caller, f"of length out_channels={self.weight.shape[0]}",
                 f"array of shape {self.bias.shape}")

    @property
    def groups(self) -> int:
        return self._groups

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[1] * self._groups)

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def kernel_size(self) -> tuple[int, int]:
        return (int(self.weight.shape[2]), int(self.weight.shape[3]))

    def config(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "groups": self.groups,
                "bias": self.bias is not None}

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.in_channels:
            raise InvalidParameterError(
                f"Conv2d {self.name!r} expects inputs of shape ({self.in_channels}, H, W). "
                f"Got {tuple(input_shape)}.")
        _, h, w = input_shape
        ph, pw = self.padding
        oh, ow = _window_out_hw(h, w, self.kernel_size, self.stride, self.padding)
        if oh < 1 or ow < 1:
            raise InvalidParameterError(
                f"Conv2d {self.name!r}: kernel {self.kernel_size} larger than the padded input "
                f"{(h + 2 * ph, w + 2 * pw)}.")
        return (self.out_channels, oh, ow)

    def matrices(self) -> list[np.ndarray]:
        g = self._groups
        og = self.out_channels // g
        return [self.weight[i * og: (i + 1) * og].reshape(og, -1).T for i in range(g)]

    def forward(self, x, *, train=False, matmul=None):
        x = _check_input(self, x, 4)
        n = x.shape[0]
        _, oh, ow = self.output_shape(x.shape[1:])
        cols = im2col(x, self.kernel_size, self.stride, self.padding)
        g = self._groups
        cg = self.in_channels // g
        mats = self.matrices() if matmul is None else None
        ys = []
        for i in range(g):
            p = cols[:, :, :, i * cg: (i + 1) * cg].reshape(n * oh * ow, -1)
            ys.append(p @ mats[i] if matmul is None else matmul(self, i, p))
        y = ys[0] if g == 1 else np.concatenate(ys, axis=1)
        if self.bias is not None:
            y = y + self.bias
        y = y.reshape(n, oh, ow, self.out_channels).transpose(0, 3, 1, 2)
        if train:
            self._cache = (x.shape, cols)
        return y

    def backward(self, grad):
        x_shape, cols = self._cache
        n, _, oh, ow = grad.shape
        g = self._groups
        cg, og = self.in_channels // g, self.out_channels // g
        gy = grad.transpose(0, 2, 3, 1).reshape(n * oh * ow, self.out_channels)
        dw = np.empty_like(self.weight)
        dcols = np.empty(cols.shape)
        mats = self.matrices()
        for i in range(g):
            p = cols[:, :, :, i * cg: (i + 1) * cg].reshape(n * oh * ow, -1)
            gyi = gy[:, i * og: (i + 1) * og]
            dw[i * og: (i + 1) * og] = (gyi.T @ p).reshape(og, cg, *self.kernel_size)
            dcols[:, :, :, i * cg: (i + 1) * cg] = (gyi @ mats[i].T).reshape(
                n, oh, ow, cg, *self.kernel_size)
        self.grads = {"weight": dw}
        if self.bias is not None:
            self.grads["bias"] = gy.sum(axis=0)
        return _col2im(dcols, x_shape, self.kernel_size, self.stride, self.padding)


# --------------------------------------------------------------------------------------------
# Pooling, flatten, batch norm
# --------------------------------------------------------------------------------------------


class _Pool2d(Layer):
    def __init__(self, kernel_size, stride=None, padding=0, name: str = "") -> None:
        super().__init__(name)
        caller = f"{type(self).__name__} {name!r}"
        self.kernel_size = _pair(kernel_size, "kernel_size", caller, 1)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", caller, 1)
        self.padding = _pair(padding, "padding", caller, 0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size, strict=True)):
            fail("padding", caller, "at most half the kernel size", padding)

    def config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding)}

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise InvalidParameterError(
                f"{type(self).__name__} {self.name!r} expects (C, H, W) inputs. "
                f"Got {tuple(input_shape)}.")
        c, h, w = input_shape
        oh, ow = _window_out_hw(h, w, self.kernel_size, self.stride, self.padding)
        if oh < 1 or ow < 1:
            raise InvalidParameterError(
                f"{type(self).__name__} {self.name!r}: kernel larger than input {(h, w)}.")
        return (c, oh, ow)

    def _windows(self, x, fill):
        ph, pw = self.padding
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=fill)
        return sliding_window_view(x, self.kernel_size, axis=(2, 3))[
            :, :, :: self.stride[0], :: self.stride[1]]

    def _scatter(self, per_offset, x_shape):
        n, c, h, w = x_shape
        ph, pw = self.padding
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        oh, ow = per_offset.shape[2:4]
        out = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
        for a in range(kh):
            for b in range(kw):
                out[:, :, a: a + sh * oh: sh, b: b + sw * ow: sw] += per_offset[..., a, b]
        return out[:, :, ph: ph + h, pw: pw + w]


class MaxPool2d(_Pool2d):
    """Max pooling over ``kernel_size`` windows (padding with -inf, as in PyTorch)."""

    kind = "MaxPool2d"

    def digital_ops(self, input_shape):
        """kh·kw − 1 comparisons per output (``"pooling"`` line)."""
        n_out = float(np.prod(self.output_shape(input_shape)))
        kh, kw = self.kernel_size
        return {"pooling": {"compare": n_out * (kh * kw - 1)}}

    def forward(self, x, *, train=False, matmul=None):
        x = _check_input(self, x, 4)
        self.output_shape(x.shape[1:])
        win = self._windows(x, -np.inf)
        if not train:
            return win.max(axis=(-1, -2))
        n, c, oh, ow, kh, kw = win.shape
        flat = win.reshape(n, c, oh, ow, kh * kw)
        idx = flat.argmax(axis=-1)
        self._cache = (x.shape, idx)
        return np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]

    def backward(self, grad):
        x_shape, idx = self._cache
        kh, kw = self.kernel_size
        onehot = (idx[..., None] == np.arange(kh * kw)) * grad[..., None]
        return self._scatter(onehot.reshape(*grad.shape, kh, kw), x_shape)


class AvgPool2d(_Pool2d):
    """Average pooling; zero padding counts in the average (PyTorch ``count_include_pad``)."""

    kind = "AvgPool2d"

    def digital_ops(self, input_shape):
        """kh·kw − 1 adds and one multiply by 1/(kh·kw) per output (``"pooling"`` line)."""
        n_out = float(np.prod(self.output_shape(input_shape)))
        kh, kw = self.kernel_size
        return {"pooling": {"add": n_out * (kh * kw - 1), "mult": n_out}}

    def forward(self, x, *, train=False, matmul=None):
        x = _check_input(self, x, 4)
        self.output_shape(x.shape[1:])
        win = self._windows(x, 0.0)
        kh, kw = self.kernel_size
        if train:
            self._cache = x.shape
        return win.sum(axis=(-1, -2)) / (kh * kw)

    def backward(self, grad):
        kh, kw = self.kernel_size
        per = np.broadcast_to((grad / (kh * kw))[..., None, None], (*grad.shape, kh, kw))
        return self._scatter(per, self._cache)


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)`` in C order (as PyTorch ``nn.Flatten``)."""

    kind = "Flatten"

    def output_shape(self, input_shape):
        return (int(np.prod(input_shape)),)

    def forward(self, x, *, train=False, matmul=None):
        x = np.asarray(x, dtype=np.float64)
        if train:
            self._cache = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad):
        return grad.reshape(self._cache)


class BatchNorm(Layer):
    """Batch normalisation in inference form, per channel (axis 1)::

        y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta

    Works on ``(N, C)`` and ``(N, C, H, W)``. Statistics are fixed (inference); when it follows
    a Linear or Conv2d, :func:`fold_batchnorm` merges it into that layer's weight and bias.
    """

    kind = "BatchNorm"
    param_names = ("gamma", "beta", "running_mean", "running_var")
    trainable = ("gamma", "beta")

    def __init__(self, gamma, beta, running_mean, running_var, *, eps: float = 1e-5,
                 name: str = "") -> None:
        super().__init__(name)
        caller = f"BatchNorm {name!r}"
        self.gamma = check_array("gamma", gamma, caller, ndim=1)
        c = self.gamma.shape[0]
        self.beta = check_array("beta", beta, caller, ndim=1)
        self.running_mean = check_array("running_mean", running_mean, caller, ndim=1)
        self.running_var = check_array("running_var", running_var, caller, ndim=1, nonneg=True)
        for k in ("beta", "running_mean", "running_var"):
            if getattr(self, k).shape != (c,):
                fail(k, caller, f"of shape ({c},) like gamma", f"array of shape "
                     f"{getattr(self, k).shape}")
        self.eps = check_scalar("eps", eps, caller, lo=0.0, lo_open=True)

    @property
    def num_features(self) -> int:
        return int(self.gamma.shape[0])

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps}

    def digital_ops(self, input_shape):
        """One multiply and one add per element (``"batch_norm"`` line); a BatchNorm folded
        into the preceding layer (:func:`fold_batchnorm`) costs nothing."""
        n = float(np.prod(self.output_shape(input_shape)))
        return {"batch_norm": {"mult": n, "add": n}}

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scale, shift)`` with ``y = scale * x + shift`` per channel."""
        scale = self.gamma / np.sqrt(self.running_var + self.eps)
        return scale, self.beta - self.running_mean * scale

    def _shape(self, x):
        return (1, -1) + (1,) * (x.ndim - 2)

    def output_shape(self, input_shape):
        if input_shape[0] != self.num_features:
            raise InvalidParameterError(
                f"BatchNorm {self.name!r} has {self.num_features} channels; input has shape "
                f"{tuple(input_shape)}.")
        return tuple(input_shape)

    def forward(self, x, *, train=False, matmul=None):
        x = _check_input(self, x, (2, 4))
        scale, shift = self.affine()
        if train:
            self._cache = x
        return x * scale.reshape(self._shape(x)) + shift.reshape(self._shape(x))

    def backward(self, grad):
        x = self._cache
        axes = (0,) + tuple(range(2, x.ndim))
        inv = 1.0 / np.sqrt(self.running_var + self.eps)
        xhat = (x - self.running_mean.reshape(self._shape(x))) * inv.reshape(self._shape(x))
        self.grads = {"gamma": (grad * xhat).sum(axis=axes), "beta": grad.sum(axis=axes)}
        return grad * (self.gamma * inv).reshape(self._shape(x))


# --------------------------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------------------------


class _Activation(Layer):
    #: Operation of :data:`cimsim.ppa.energy.DIGITAL_OPS` one element costs.
    digital_op: ClassVar[str] = ""

    def digital_ops(self, input_shape):
        """One :attr:`digital_op` per element (``"activation"`` line)."""
        return {"activation": {self.digital_op: float(np.prod(input_shape))}}

    def forward(self, x, *, train=False, matmul=None):
        x = np.asarray(x, dtype=np.float64)
        if train:
            self._cache = x
        return self._f(x)

    def backward(self, grad):
        return grad * self._df(self._cache)


class ReLU(_Activation):
    """``max(x, 0)``."""

    kind = "ReLU"
    digital_op = "relu"

    def _f(self, x):
        return np.maximum(x, 0.0)

    def _df(self, x):
        return (x > 0).astype(np.float64)


class QuantReLU(_Activation):
    r"""ReLU clipped at ``max_value`` and quantised to ``bits`` uniform levels (activation
    quantisation for low-precision inputs of the next analog layer):

    .. math:: y = \frac{m}{2^b - 1}\,\mathrm{round}\!\left(\frac{(2^b - 1)\,
              \min(\max(x, 0), m)}{m}\right)

    The backward pass is the straight-through estimator of the clipped ReLU (gradient 1 on
    0 < x < m, else 0), as in quantisation-aware training.

    Parameters
    ----------
    max_value : float
        Clipping level m, the largest output [same unit as x].
    bits : int
        Output resolution b: 2**b levels from 0 to m [bit].

    References
    ----------
    .. [1] B. Jacob et al., "Quantization and training of neural networks for efficient
       integer-arithmetic-only inference", CVPR 2018, doi:10.1109/CVPR.2018.00286.
    .. [2] Y. Bengio, N. Léonard, A. Courville, "Estimating or propagating gradients through
       stochastic neurons for conditional computation", arXiv:1308.3432 (2013).
    """

    kind = "QuantReLU"
    digital_op = "relu"

    def __init__(self, max_value: float, bits: int, name: str = "") -> None:
        super().__init__(name)
        caller = f"QuantReLU {name!r}"
        self.max_value = check_scalar("max_value", max_value, caller, lo=0.0, lo_open=True)
        self.bits = check_int("bits", bits, caller, lo=1, hi=16)

    def config(self):
        return {"max_value": self.max_value, "bits": self.bits}

    @classmethod
    def from_spec(cls, get, arr, name):
        return cls(float(get("max_value")), int(get("bits")), name=name)

    def _f(self, x):
        steps = 2.0**self.bits - 1.0
        return np.round(np.clip(x, 0.0, self.max_value) * (steps / self.max_value)) * (
            self.max_value / steps)

    def _df(self, x):
        return ((x > 0) & (x < self.max_value)).astype(np.float64)


class Swish(_Activation):
    """Swish / SiLU, ``x * sigmoid(beta * x)`` (``beta = 1`` is PyTorch ``nn.SiLU``)."""

    kind = "Swish"
    digital_op = "swish"

    def __init__(self, beta: float = 1.0, name: str = "") -> None:
        super().__init__(name)
        self.beta = check_scalar("beta", beta, f"Swish {name!r}")

    def config(self):
        return {"beta": self.beta}

    def _f(self, x):
        return x * expit(self.beta * x)

    def _df(self, x):
        s = expit(self.beta * x)
        return s + self.beta * x * s * (1.0 - s)


class Softplus(_Activation):
    """``log(1 + exp(beta * x)) / beta``, evaluated stably (``logaddexp``)."""

    kind = "Softplus"
    digital_op = "softplus"

    def __init__(self, beta: float = 1.0, name: str = "") -> None:
        super().__init__(name)
        self.beta = check_scalar("beta", beta, f"Softplus {name!r}", lo=0.0, lo_open=True)

    def config(self):
        return {"beta": self.beta}

    def _f(self, x):
        return np.logaddexp(0.0, self.beta * x) / self.beta

    def _df(self, x):
        return expit(self.beta * x)


class GELU(_Activation):
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate="tanh"`` uses the tanh form
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` (as PyTorch)."""

    kind = "GELU"
    _C = math.sqrt(2.0 / math.pi)

    @property
    def digital_op(self) -> str:
        return "gelu_tanh" if self.approximate == "tanh" else "gelu"

    def __init__(self, approximate: str = "none", name: str = "") -> None:
        super().__init__(name)
        check_choice("approximate", approximate, f"GELU {name!r}", ("none", "tanh"),
                     exc=InvalidParameterError)
        self.approximate = approximate

    def config(self):
        return {"approximate": self.approximate}

    def _f(self, x):
        if self.approximate == "tanh":
            return 0.5 * x * (1.0 + np.tanh(self._C * (x + 0.044715 * x**3)))
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))

    def _df(self, x):
        if self.approximate == "tanh":
            t = np.tanh(self._C * (x + 0.044715 * x**3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * self._C * (1 + 3 * 0.044715 * x * x)
        return 0.5 * (1.0 + erf(x / math.sqrt(2.0))) + x * np.exp(-0.5 * x * x) / math.sqrt(
            2.0 * math.pi)


class Tanh(_Activation):
    """``tanh(x)``."""

    kind = "Tanh"
    digital_op = "tanh"

    def _f(self, x):
        return np.tanh(x)

    def _df(self, x):
        return 1.0 - np.tanh(x) ** 2


class Sigmoid(_Activation):
    """Logistic sigmoid ``1 / (1 + exp(-x))``."""

    kind = "Sigmoid"
    digital_op = "sigmoid"

    def _f(self, x):
        return expit(x)

    def _df(self, x):
        s = expit(x)
        return s * (1.0 - s)


class Softmax(Layer):
    """``exp(x_i) / Σ_j exp(x_j)`` over the last axis (evaluated as ``exp(x - max x)``)."""

    kind = "Softmax"

    def digital_ops(self, input_shape):
        """:func:`softmax_ops` over the last axis (``"softmax"`` line)."""
        shape = tuple(input_shape)
        return {"softmax": softmax_ops(float(np.prod(shape[:-1])), float(shape[-1]))}

    def forward(self, x, *, train=False, matmul=None):
        x = np.asarray(x, dtype=np.float64)
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        y = e / e.sum(axis=-1, keepdims=True)
        if train:
            self._cache = y
        return y

    def backward(self, grad):
        y = self._cache
        return y * (grad - (grad * y).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------------------------
# Residual block
# --------------------------------------------------------------------------------------------


class Residual(Layer):
    """Residual block ``y = x + body(x)``; ``body`` is a list of layers whose output shape
    equals its input shape. The add is digital; analog layers inside ``body`` run on tiles."""

    kind = "Residual"

    def __init__(self, body: Sequence[Layer], name: str = "") -> None:
        super().__init__(name)
        self.body = check_layers("body", body, f"Residual {name!r}")

    def output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.body:
            shape = layer.output_shape(shape)
        if shape != tuple(input_shape):
            raise InvalidParameterError(
                f"Residual {self.name!r}: body maps {tuple(input_shape)} to {shape}; "
                "a residual add needs equal shapes.")
        return shape

    def digital_ops(self, input_shape):
        """One add per element (``"residual"`` line); the body's layers declare their own."""
        return {"residual": {"add": float(np.prod(input_shape))}}

    def forward(self, x, *, train=False, matmul=None):
        y = np.asarray(x, dtype=np.float64)
        for layer in self.body:
            y = layer.forward(y, train=train, matmul=matmul)
        return x + y

    def backward(self, grad):
        g = grad
        for layer in reversed(self.body):
            g = layer.backward(g)
        return grad + g

    def copy(self):
        new = Residual([b.copy() for b in self.body], name=self.name)
        return new


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls
    for cls in (Linear, Conv2d, MaxPool2d, AvgPool2d, Flatten, BatchNorm, ReLU, QuantReLU, Swish,
                Softplus, GELU, Tanh, Sigmoid, Softmax, Residual)
}


def scale_ops(ops: dict[str, dict[str, float]], k: float) -> dict[str, dict[str, float]]:
    """``ops`` (line → operation → count) with every count times ``k``."""
    return {line: {op: c * k for op, c in per.items()} for line, per in ops.items()}


def add_ops(total: dict[str, dict[str, float]], ops: dict[str, dict[str, float]]) -> None:
    """Add ``ops`` into ``total`` (line → operation → count), in place."""
    for line, per in ops.items():
        row = total.setdefault(line, {})
        for op, c in per.items():
            row[op] = row.get(op, 0.0) + c


def softmax_ops(rows: float, n: float) -> dict[str, float]:
    """Operations of a softmax over ``rows`` vectors of ``n`` values [-].

    Per value: a comparison (running maximum), a subtraction of the maximum, an exp, an add to
    the sum and a multiply by the reciprocal of the sum; per vector, one reciprocal. For a
    layer's ``digital_ops`` under the ``"softmax"`` line.
    """
    v = float(rows) * float(n)
    return {"compare": v, "add": 2.0 * v, "exp": v, "mult": v, "recip": float(rows)}


def run_digital_ops(layer: Layer, x: np.ndarray,
                    y: np.ndarray) -> dict[str, dict[str, dict[str, float]]]:
    """Digital operations of one forward pass of ``layer`` from ``x`` to ``y``, per layer name.

    The layer's own :meth:`Layer.count_digital_ops`; a :class:`Residual` adds its body's
    layers under their own names (from their input shapes).
    """
    out = {layer.name: layer.count_digital_ops(x, y)}
    if isinstance(layer, Residual):
        n = x.shape[0]

        def walk(seq, shape):
            for lay in seq:
                add_ops(out.setdefault(lay.name, {}), scale_ops(lay.digital_ops(shape), n))
                if isinstance(lay, Residual):
                    walk(lay.body, shape)
                shape = lay.output_shape(shape)

        walk(layer.body, tuple(x.shape[1:]))
    return out


def iter_layers(layers: Sequence[Layer]):
    """Every layer, depth first, descending into residual bodies."""
    for layer in layers:
        yield layer
        if isinstance(layer, Residual):
            yield from iter_layers(layer.body)


def check_layers(name: str, value, caller: str) -> list[Layer]:
    """``value`` as a non-empty list of :class:`Layer` objects, else InvalidParameterError."""
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(b, Layer) for b in value):
        fail(name, caller, "a non-empty list of Layer objects", value)
    return list(value)


def fold_batchnorm(layers: Sequence[Layer]) -> list[Layer]:
    """Copy of ``layers`` with each BatchNorm that directly follows a Linear/Conv2d folded in.

    For per-channel ``scale = gamma / sqrt(var + eps)``, ``shift = beta - mean * scale``:
    ``W' = scale[o] * W[o, ...]``, ``b' = scale * b + shift`` — exact in real arithmetic, so
    ``fold(conv, bn)(x) == bn(conv(x))`` to rounding. A BatchNorm after anything else stays as
    a digital per-channel affine layer. Residual bodies are folded recursively.
    """
    out: list[Layer] = []
    for layer in check_layers("layers", layers, "fold_batchnorm"):
        if isinstance(layer, BatchNorm) and out and isinstance(out[-1], (Linear, Conv2d)) \
                and out[-1].n_out == layer.num_features:
            prev = out[-1]
            scale, shift = layer.affine()
            prev.scale_output(scale, shift)
            continue
        if isinstance(layer, Residual):
            out.append(Residual(fold_batchnorm(layer.body), name=layer.name))
        else:
            out.append(layer.copy())
    return out


# Sequence layers live in their own modules; they are part of this module's public names.
from .attention import Embedding, LayerNorm, MultiHeadAttention, PositionalEncoding  # noqa: E402
from .recurrent import GRU, LSTM  # noqa: E402
from .sequence import SequencePool  # noqa: E402
from .ssm import DiagonalSSM  # noqa: E402

LAYER_TYPES.update({cls.kind: cls for cls in (
    LSTM, GRU, DiagonalSSM, MultiHeadAttention, LayerNorm, Embedding, PositionalEncoding,
    SequencePool)})

# Spiking and graded subthreshold neurons live in their own module (they need the classes
# above); they are layers of this module too, and of the model files.
from .spiking import LIF, SPIKING_TYPES, SpikeEncoder, SubthresholdActivation  # noqa: E402

LAYER_TYPES.update(SPIKING_TYPES)
