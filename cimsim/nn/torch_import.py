"""Import a PyTorch ``nn.Sequential`` as a :class:`~cimsim.nn.network.Network`."""

from __future__ import annotations

import numpy as np

from device_models.errors import InvalidParameterError, UnknownNameError

from .layers import (
    GELU,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Softplus,
    Swish,
    Tanh,
)
from .network import Network

__all__ = ["from_torch"]

_TORCH_SUPPORTED = ("Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "SiLU", "Softplus",
                    "GELU", "Tanh", "Sigmoid", "MaxPool2d", "AvgPool2d", "Flatten", "Dropout",
                    "Identity", "Sequential")


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy().copy()


def _torch_children(module):
    import torch.nn as nn

    for name, child in module.named_children():
        if isinstance(child, nn.Sequential):
            for sub_name, sub in _torch_children(child):
                yield f"{name}.{sub_name}".replace(".", "_"), sub
        else:
            yield name.replace(".", "_"), child


def from_torch(module, input_shape, *, name: str = "") -> Network:
    """Convert a PyTorch ``nn.Sequential`` of supported layers into a :class:`Network`.

    Supported: Linear, Conv2d (zero padding, no dilation), BatchNorm1d/2d (running stats),
    ReLU, SiLU (→ Swish, beta=1), Softplus (its linear regime above ``threshold`` differs from
    the exact form by < exp(-threshold)), GELU, Tanh, Sigmoid, MaxPool2d / AvgPool2d (no
    ceil_mode, no dilation), Flatten (start_dim=1); Dropout and Identity are dropped
    (inference). Anything else raises :class:`UnknownNameError`. Requires the ``torch`` extra.
    """
    try:
        import torch.nn as nn
    except ImportError:  # pragma: no cover - exercised only without torch
        raise InvalidParameterError(
            "from_torch needs PyTorch: pip install 'cimsim[torch]'.") from None
    if not isinstance(module, nn.Sequential):
        raise InvalidParameterError(
            f"The 'module' parameter of from_torch must be a torch.nn.Sequential. "
            f"Got {type(module).__name__}.")
    layers: list[Layer] = []
    for lname, m in _torch_children(module):
        lname = f"{type(m).__name__.lower()}_{lname}"

        def unsupported(why: str, lname=lname, m=m):
            return InvalidParameterError(f"from_torch: layer {lname!r} ({m!r}): {why}.")

        if isinstance(m, nn.Linear):
            layers.append(Linear(_np(m.weight), None if m.bias is None else _np(m.bias),
                                 name=lname))
        elif isinstance(m, nn.Conv2d):
            if tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" or isinstance(
                    m.padding, str):
                raise unsupported("only zero padding given as integers and no dilation")
            layers.append(Conv2d(_np(m.weight), None if m.bias is None else _np(m.bias),
                                 stride=tuple(m.stride), padding=tuple(m.padding),
                                 groups=m.groups, name=lname))
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if m.running_mean is None:
                raise unsupported("needs running statistics (track_running_stats=True)")
            c = m.num_features
            gamma = _np(m.weight) if m.affine else np.ones(c)
            beta = _np(m.bias) if m.affine else np.zeros(c)
            layers.append(BatchNorm(gamma, beta, _np(m.running_mean), _np(m.running_var),
                                    eps=m.eps, name=lname))
        elif isinstance(m, nn.ReLU):
            layers.append(ReLU(name=lname))
        elif isinstance(m, nn.SiLU):
            layers.append(Swish(1.0, name=lname))
        elif isinstance(m, nn.Softplus):
            layers.append(Softplus(float(m.beta), name=lname))
        elif isinstance(m, nn.GELU):
            layers.append(GELU(m.approximate, name=lname))
        elif isinstance(m, nn.Tanh):
            layers.append(Tanh(name=lname))
        elif isinstance(m, nn.Sigmoid):
            layers.append(Sigmoid(name=lname))
        elif isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            if m.ceil_mode:
                raise unsupported("ceil_mode is not supported")
            if isinstance(m, nn.MaxPool2d):
                if m.dilation not in (1, (1, 1)):
                    raise unsupported("dilation is not supported")
                layers.append(MaxPool2d(m.kernel_size, m.stride, m.padding, name=lname))
            else:
                if not m.count_include_pad or m.divisor_override is not None:
                    raise unsupported("only count_include_pad=True without divisor_override")
                layers.append(AvgPool2d(m.kernel_size, m.stride, m.padding, name=lname))
        elif isinstance(m, nn.Flatten):
            if m.start_dim != 1 or m.end_dim != -1:
                raise unsupported("only Flatten(start_dim=1, end_dim=-1)")
            layers.append(Flatten(name=lname))
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            continue
        else:
            raise UnknownNameError(
                f"from_torch: layer {lname!r} has unsupported type {type(m).__name__!r}. "
                f"Supported: {list(_TORCH_SUPPORTED)}.")
    return Network(layers, input_shape, name=name, metadata={"source": "torch"})

