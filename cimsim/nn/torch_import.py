"""Import a PyTorch ``nn.Sequential`` as a :class:`~cimsim.nn.network.Network`."""

from __future__ import annotations

import numpy as np

from device_models.errors import (
    InvalidParameterError,
    MissingDependencyError,
    UnknownNameError,
)

from .layers import (
    GELU,
    GRU,
    LSTM,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Embedding,
    Flatten,
    Layer,
    LayerNorm,
    Linear,
    MaxPool2d,
    MultiHeadAttention,
    ReLU,
    Residual,
    SequencePool,
    Sigmoid,
    Softmax,
    Softplus,
    Swish,
    Tanh,
)
from .network import Network

__all__ = ["from_torch"]

_TORCH_SUPPORTED = ("Linear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "SiLU", "Softplus",
                    "GELU", "Tanh", "Sigmoid", "Softmax", "MaxPool2d", "AvgPool2d", "Flatten",
                    "LSTM", "GRU", "LayerNorm", "Embedding", "MultiheadAttention", "Dropout",
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


def _convert(m, lname: str, nn) -> Layer | None:
    """The cimsim layer of one supported PyTorch module (None: dropped at inference)."""

    def unsupported(why: str):
        return InvalidParameterError(f"from_torch: layer {lname!r} ({m!r}): {why}.")

    if isinstance(m, nn.Linear):
        return Linear(_np(m.weight), None if m.bias is None else _np(m.bias), name=lname)
    if isinstance(m, nn.Conv2d):
        if tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" or isinstance(
                m.padding, str):
            raise unsupported("only zero padding given as integers and no dilation")
        return Conv2d(_np(m.weight), None if m.bias is None else _np(m.bias),
                      stride=tuple(m.stride), padding=tuple(m.padding), groups=m.groups,
                      name=lname)
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if m.running_mean is None:
            raise unsupported("needs running statistics (track_running_stats=True)")
        c = m.num_features
        gamma = _np(m.weight) if m.affine else np.ones(c)
        beta = _np(m.bias) if m.affine else np.zeros(c)
        return BatchNorm(gamma, beta, _np(m.running_mean), _np(m.running_var), eps=m.eps,
                         name=lname)
    simple = {nn.ReLU: ReLU, nn.Tanh: Tanh, nn.Sigmoid: Sigmoid}
    for cls, ours in simple.items():
        if isinstance(m, cls):
            return ours(name=lname)
    if isinstance(m, nn.SiLU):
        return Swish(1.0, name=lname)
    if isinstance(m, nn.Softplus):
        return Softplus(float(m.beta), name=lname)
    if isinstance(m, nn.GELU):
        return GELU(m.approximate, name=lname)
    if isinstance(m, nn.Softmax):
        if m.dim not in (-1, None):
            raise unsupported("only a softmax over the last axis (dim=-1)")
        return Softmax(name=lname)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if m.ceil_mode:
            raise unsupported("ceil_mode is not supported")
        if isinstance(m, nn.MaxPool2d):
            if m.dilation not in (1, (1, 1)):
                raise unsupported("dilation is not supported")
            return MaxPool2d(m.kernel_size, m.stride, m.padding, name=lname)
        if not m.count_include_pad or m.divisor_override is not None:
            raise unsupported("only count_include_pad=True without divisor_override")
        return AvgPool2d(m.kernel_size, m.stride, m.padding, name=lname)
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise unsupported("only Flatten(start_dim=1, end_dim=-1)")
        return Flatten(name=lname)
    if isinstance(m, (nn.LSTM, nn.GRU)):
        if (m.num_layers != 1 or m.bidirectional or not m.batch_first
                or getattr(m, "proj_size", 0)):
            raise unsupported("only one layer, one direction, batch_first=True, no projection")
        cls = LSTM if isinstance(m, nn.LSTM) else GRU
        return cls(_np(m.weight_ih_l0), _np(m.weight_hh_l0),
                   _np(m.bias_ih_l0) if m.bias else None,
                   _np(m.bias_hh_l0) if m.bias else None, name=lname)
    if isinstance(m, nn.LayerNorm):
        if len(m.normalized_shape) != 1:
            raise unsupported("only a LayerNorm over the last axis")
        f = m.normalized_shape[0]
        return LayerNorm(_np(m.weight) if m.weight is not None else np.ones(f),
                         _np(m.bias) if m.bias is not None else None, eps=m.eps, name=lname)
    if isinstance(m, nn.Embedding):
        return Embedding(_np(m.weight), name=lname)
    if isinstance(m, (nn.Dropout, nn.Identity)):
        return None
    raise UnknownNameError(
        f"from_torch: layer {lname!r} has unsupported type {type(m).__name__!r}. "
        f"Supported: {list(_TORCH_SUPPORTED)}.")


def from_torch(module, input_shape, *, name: str = "") -> Network:
    """Convert a PyTorch model into a :class:`Network`.

    An ``nn.Sequential`` is converted child by child. Any other ``nn.Module`` is traced with
    ``torch.fx`` (:func:`torch.fx.symbolic_trace`) and its graph mapped node by node
    (:func:`_from_graph`): a chain of supported modules and functions, residual connections
    (an add of the chain's value and an earlier value of the chain → :class:`Residual`),
    recurrent layers (``nn.LSTM`` / ``nn.GRU`` with ``batch_first=True`` and their output
    sequence ``[0]``), self-attention (``nn.MultiheadAttention`` called as ``m(h, h, h)``,
    ``batch_first=True``, with no mask, ``is_causal=True`` or a causal ``attn_mask`` buffer,
    and its output ``[0]``) and the time reductions ``x[:, -1]`` / ``x.mean(1)``
    (:class:`SequencePool`). Every node that cannot be mapped is listed in one
    :class:`UnknownNameError` with its index, name and target in the graph.

    Supported modules: Linear, Conv2d (zero padding, no dilation), BatchNorm1d/2d (running
    stats), ReLU, SiLU (→ Swish, beta=1), Softplus (its linear regime above ``threshold``
    differs from the exact form by < exp(-threshold)), GELU, Tanh, Sigmoid, Softmax (last
    axis), MaxPool2d / AvgPool2d (no ceil_mode, no dilation), Flatten (start_dim=1), LSTM, GRU,
    LayerNorm, Embedding, MultiheadAttention; Dropout and Identity are dropped (inference).
    Requires the ``torch`` extra.
    """
    try:
        import torch.nn as nn
    except ImportError:  # pragma: no cover - exercised only without torch
        raise MissingDependencyError(
            "from_torch needs PyTorch: pip install 'cimsim[torch]'.") from None
    if not isinstance(module, nn.Module):
        raise InvalidParameterError(
            f"The 'module' parameter of from_torch must be a torch.nn.Module. "
            f"Got {type(module).__name__}.")
    if not isinstance(module, nn.Sequential):
        return _from_graph(module, input_shape, name, nn)
    layers: list[Layer] = []
    for lname, m in _torch_children(module):
        if isinstance(m, (nn.LSTM, nn.GRU, nn.MultiheadAttention)):
            raise UnknownNameError(
                f"from_torch: layer {lname!r} has unsupported type {type(m).__name__!r} "
                "inside an nn.Sequential (it returns a tuple); wrap the model in an nn.Module "
                "that takes its output [0] and pass that (traced with torch.fx).")
        layer = _convert(m, f"{type(m).__name__.lower()}_{lname}", nn)
        if layer is not None:
            layers.append(layer)
    return Network(layers, input_shape, name=name, metadata={"source": "torch"})


def _causal_mask(mask) -> bool:
    """Whether an attention mask tensor (float −inf / bool True above the diagonal) is the
    causal mask."""
    import torch

    t = mask.shape[-1]
    if mask.ndim != 2 or mask.shape[0] != t:
        return False
    upper = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
    if mask.dtype == torch.bool:
        return bool(torch.equal(mask, upper))
    return bool(torch.all(torch.isneginf(mask[upper])) and torch.all(mask[~upper] == 0))


def _from_graph(module, input_shape, name: str, nn) -> Network:
    """Map the ``torch.fx`` graph of ``module`` onto cimsim layers (see :func:`from_torch`)."""
    import operator

    import torch
    import torch.fx as fx
    import torch.nn.functional as F

    try:
        gm = fx.symbolic_trace(module)
    except Exception as exc:  # torch.fx raises many kinds of error here
        raise InvalidParameterError(
            f"from_torch: torch.fx cannot trace {type(module).__name__} ({exc}).") from None
    mods = dict(gm.named_modules())
    layers: list[Layer] = []
    pos: dict = {}          # node -> number of chain layers whose output the node's value is
    tuples: dict = {}       # node -> chain length after a tuple-returning module
    problems: list[str] = []
    activ = {F.relu: ReLU, torch.relu: ReLU, torch.tanh: Tanh, torch.sigmoid: Sigmoid,
             F.silu: lambda name: Swish(1.0, name=name), F.gelu: GELU}
    meth = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
    out_node = None

    def where(i, node):
        return f"node {i} {node.name!r} ({node.op} {getattr(node.target, '__name__', node.target)})"

    def head(node, i) -> bool:
        """The node consumes the current chain value (else it is a branch we cannot map)."""
        src = node.args[0] if node.args else None
        if not isinstance(src, fx.Node) or pos.get(src) != len(layers):
            problems.append(f"{where(i, node)}: its input is not the running value of the "
                            "chain (branches other than residual adds are not supported)")
            return False
        return True

    for i, node in enumerate(gm.graph.nodes):
        lname = node.name
        try:
            if node.op == "placeholder":
                if pos:
                    problems.append(f"{where(i, node)}: a second input")
                pos[node] = 0
            elif node.op == "output":
                out_node = node.args[0]
            elif node.op == "get_attr":
                continue                          # constants: used by the nodes that read them
            elif node.op == "call_module":
                m = mods[node.target]
                if not head(node, i):
                    continue
                if isinstance(m, nn.MultiheadAttention):
                    q = node.args[0]
                    if len(node.args) < 3 or node.args[1] is not q or node.args[2] is not q:
                        problems.append(f"{where(i, node)}: only self-attention m(h, h, h)")
                        continue
                    if not m.batch_first or m.bias_k is not None or not m._qkv_same_embed_dim:
                        problems.append(f"{where(i, node)}: only batch_first=True, no bias_k/v,"
                                        " equal q/k/v sizes")
                        continue
                    mask = node.kwargs.get("attn_mask", node.args[5] if len(node.args) > 5
                                           else None)
                    causal = bool(node.kwargs.get("is_causal", False))
                    if isinstance(mask, fx.Node):
                        if mask.op != "get_attr":
                            problems.append(f"{where(i, node)}: attn_mask must be a stored "
                                            "buffer (causal) or absent")
                            continue
                        tensor = gm.get_buffer(mask.target) if mask.target in dict(
                            gm.named_buffers()) else getattr(gm, mask.target)
                        if not _causal_mask(tensor):
                            problems.append(f"{where(i, node)}: attn_mask is not causal")
                            continue
                        causal = True
                    b = m.in_proj_bias
                    layers.append(MultiHeadAttention(
                        _np(m.in_proj_weight), None if b is None else _np(b),
                        _np(m.out_proj.weight),
                        None if m.out_proj.bias is None else _np(m.out_proj.bias),
                        num_heads=m.num_heads, causal=causal, name=lname))
                    tuples[node] = len(layers)
                    continue
                layer = _convert(m, lname, nn)
                if layer is not None:
                    layers.append(layer)
                if isinstance(m, (nn.LSTM, nn.GRU)):
                    tuples[node] = len(layers)
                else:
                    pos[node] = len(layers)
            elif node.op == "call_function" and node.target is operator.getitem:
                src, idx = node.args
                if src in tuples:
                    if idx == 0:
                        pos[node] = tuples[src]
                    else:
                        problems.append(f"{where(i, node)}: only the output sequence [0] of "
                                        "a recurrent or attention layer is supported")
                    continue
                if not head(node, i):
                    continue
                if (isinstance(idx, tuple) and len(idx) == 2 and idx[0] == slice(None)
                        and idx[1] == -1):
                    layers.append(SequencePool("last", name=lname))
                    pos[node] = len(layers)
                else:
                    problems.append(f"{where(i, node)}: indexing {idx!r} (only x[:, -1])")
            elif node.op == "call_function" and node.target in (operator.add, torch.add):
                a, b = node.args[:2]
                pa, pb = pos.get(a), pos.get(b)
                n = len(layers)
                if pa is None or pb is None or (pa != n and pb != n) or pa == pb:
                    problems.append(f"{where(i, node)}: an add that is not a residual "
                                    "connection (the chain's value + an earlier value of it)")
                    continue
                skip = pb if pa == n else pa
                body = layers[skip:]
                del layers[skip:]
                layers.append(Residual(body, name=lname))
                pos[node] = len(layers)
            elif node.op == "call_function" and node.target in activ:
                if head(node, i):
                    if node.target is F.gelu:
                        layers.append(GELU(node.kwargs.get("approximate", "none"), name=lname))
                    else:
                        layers.append(activ[node.target](name=lname))
                    pos[node] = len(layers)
            elif node.op == "call_function" and node.target is torch.flatten:
                if head(node, i):
                    if tuple(node.args[1:]) + tuple(node.kwargs.values()) not in ((1,), (1, -1)):
                        problems.append(f"{where(i, node)}: only flatten(x, 1)")
                        continue
                    layers.append(Flatten(name=lname))
                    pos[node] = len(layers)
            elif node.op == "call_method" and node.target in meth:
                if head(node, i):
                    layers.append(meth[node.target](name=lname))
                    pos[node] = len(layers)
            elif node.op == "call_method" and node.target == "mean":
                if head(node, i):
                    dims = node.args[1:] or (node.kwargs.get("dim"),)
                    if tuple(dims) != (1,) or node.kwargs.get("keepdim", False):
                        problems.append(f"{where(i, node)}: only x.mean(1) over time")
                        continue
                    layers.append(SequencePool("mean", name=lname))
                    pos[node] = len(layers)
            elif node.op == "call_method" and node.target == "flatten":
                if head(node, i):
                    if tuple(node.args[1:]) not in ((1,), (1, -1)):
                        problems.append(f"{where(i, node)}: only x.flatten(1)")
                        continue
                    layers.append(Flatten(name=lname))
                    pos[node] = len(layers)
            else:
                problems.append(f"{where(i, node)}: unsupported operation")
        except (InvalidParameterError, UnknownNameError) as exc:
            problems.append(f"{where(i, node)}: {exc}")
    if out_node is not None and not problems and pos.get(out_node) != len(layers):
        problems.append(f"output {out_node!r}: is not the chain's last value")
    if problems:
        raise UnknownNameError(
            f"from_torch: {len(problems)} operation(s) of the torch.fx graph of "
            f"{type(module).__name__} cannot be mapped to cimsim layers:\n  "
            + "\n  ".join(problems))
    return Network(layers, input_shape, name=name, metadata={"source": "torch.fx"})
