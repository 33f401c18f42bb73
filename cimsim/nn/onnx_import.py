"""Import an ONNX model as a :class:`~cimsim.nn.network.Network` (needs the ``onnx`` extra).

The graph is walked in order and mapped onto a chain of cimsim layers, tracking where each
value sits in the chain and the axis layout of sequences (batch-first ``NTF`` or the ONNX
recurrent operators' time-first ``TNF``):

==========================  ==================================================================
ONNX                        cimsim
==========================  ==================================================================
Gemm, MatMul (+ Add bias)   :class:`Linear` (MatMul by a constant matrix; a following Add of a
                            constant vector becomes its bias)
Conv (2-D)                  :class:`Conv2d` (symmetric pads, no dilation)
MaxPool, AveragePool        :class:`MaxPool2d`, :class:`AvgPool2d` (no ceil mode; average with
                            ``count_include_pad=1`` or no padding)
Relu, Sigmoid, Tanh, Gelu,  activations; :class:`Softmax` over the last axis
Softplus, Softmax
Flatten (axis 1)            :class:`Flatten`
LSTM, GRU                   :class:`LSTM`, :class:`GRU` (forward, one layer, default
                            activations, zero initial state; GRU with ``linear_before_reset=1``);
                            ONNX gate orders (iofc, zrh) are reordered to PyTorch's
LayerNormalization          :class:`LayerNorm` (last axis)
Add of two chain values     :class:`Residual` (the chain's value + an earlier value of it)
Transpose / Squeeze         layout only: time-first ↔ batch-first, the direction axis
Gather (axis = time, −1)    :class:`SequencePool` ``"last"``
ReduceMean (axis = time)    :class:`SequencePool` ``"mean"``
Shape, Constant, Gather /   shape arithmetic feeding the recurrent operators' initial states
Unsqueeze / Concat on       (their zero state is what the layers use)
constants, ConstantOfShape
Identity, Dropout           dropped
==========================  ==================================================================

Every node that cannot be mapped is listed, with its index, name and operator, in one
:class:`~device_models.errors.UnknownNameError`.
"""

from __future__ import annotations

from pathlib import Path

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
    Conv2d,
    Flatten,
    Layer,
    LayerNorm,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
    SequencePool,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .network import Network

__all__ = ["from_onnx"]

_SIMPLE = {"Relu": ReLU, "Sigmoid": Sigmoid, "Tanh": Tanh, "Softplus": Softplus}
_GLUE = {"Shape", "Constant", "Gather", "Unsqueeze", "Concat", "ConstantOfShape", "Cast",
         "Squeeze", "Slice", "Reshape", "Identity"}


class _Chain:
    """A value on the chain: output of ``layers[:pos]`` in axis layout ``layout``."""

    def __init__(self, pos: int, layout: str = "") -> None:
        self.pos, self.layout = pos, layout


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def from_onnx(model, input_shape=None, *, name: str = "") -> Network:
    """Convert an ONNX model (a path or an ``onnx.ModelProto``) into a :class:`Network`.

    Parameters
    ----------
    model : str, Path or onnx.ModelProto
    input_shape : tuple of int, optional
        Shape of one sample (without the batch axis); default the graph input's static
        dimensions after the first.
    name : str

    Returns
    -------
    Network
        Float weights as stored in the model; sequences batch-first ``(N, T, F)``.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:  # pragma: no cover - exercised only without onnx
        raise MissingDependencyError(
            "from_onnx needs the onnx package: pip install 'cimsim[onnx]'.") from None
    if isinstance(model, (str, Path)):
        try:
            model = onnx.load(str(model))
        except Exception as exc:  # onnx raises several kinds on a bad file
            raise InvalidParameterError(
                f"The 'model' parameter of from_onnx must be a readable ONNX file. Got "
                f"{str(model)!r} ({exc}).") from None
    if not isinstance(model, onnx.ModelProto):
        raise InvalidParameterError(
            f"The 'model' parameter of from_onnx must be a path or an onnx.ModelProto. Got "
            f"{type(model).__name__}.")
    g = model.graph
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64)
              if numpy_helper.to_array(t).dtype.kind == "f" else numpy_helper.to_array(t)
              for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise InvalidParameterError(
            f"from_onnx: the graph must have one data input. Got {[i.name for i in inputs]}.")
    if input_shape is None:
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim][1:]
        if not dims or any(d <= 0 for d in dims):
            raise InvalidParameterError(
                "from_onnx: the input has symbolic dimensions; pass input_shape.")
        input_shape = tuple(dims)
    ndim = len(tuple(input_shape)) + 1
    vals: dict = {inputs[0].name: _Chain(0, "NTF" if ndim == 3 else "")}
    glue: set = set()        # values computed from shapes and constants only
    layers: list[Layer] = []
    problems: list[str] = []

    for i, node in enumerate(g.node):
        op, a = node.op_type, _attrs(node)
        lname = (node.name or f"{op.lower()}{i}").strip("/").replace("/", "_").replace(".", "_")
        where = f"node {i} {node.name or node.output[0]!r} ({op})"
        ins = [vals.get(x) for x in node.input]
        chain_in = [v for v in ins if isinstance(v, _Chain)]
        out = node.output[0] if node.output else ""

        def bad(why: str, where=where):
            problems.append(f"{where}: {why}")

        def const(k: int, node=node):
            name_k = node.input[k] if k < len(node.input) else ""
            if name_k in consts:
                return consts[name_k]
            if name_k in vals and isinstance(vals[name_k], np.ndarray):
                return vals[name_k]
            return None

        def push(layer: Layer | None, layout: str | None = None, out=out, chain_in=chain_in):
            if layer is not None:
                layers.append(layer)
            vals[out] = _Chain(len(layers), chain_in[0].layout if layout is None else layout)

        if op == "Constant":
            v = a.get("value")
            vals[out] = numpy_helper.to_array(v) if v is not None else None
            continue
        if op == "Shape" or (op in _GLUE and not chain_in):
            for o in node.output:
                glue.add(o)
                vals.setdefault(o, None)
            continue
        if not chain_in:
            bad("an operation on constants only")
            continue
        src = chain_in[0]
        if src.pos != len(layers) and op != "Add":
            bad("its input is not the running value of the chain (only residual adds branch)")
            continue
        try:
            if op in ("Identity", "Dropout"):
                push(None)
            elif op in _SIMPLE:
                push(_SIMPLE[op](name=lname))
            elif op == "Gelu":
                push(GELU("tanh" if a.get("approximate", b"none") in (b"tanh", "tanh")
                          else "none", name=lname))
            elif op == "Softmax":
                axis = a.get("axis", -1)
                if axis not in (-1, ndim - 1):
                    bad(f"softmax over axis {axis} (only the last)")
                    continue
                push(Softmax(name=lname))
            elif op == "Flatten":
                if a.get("axis", 1) != 1:
                    bad("only Flatten(axis=1)")
                    continue
                push(Flatten(name=lname))
            elif op == "Gemm":
                w, b = const(1), const(2)
                if w is None or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 \
                        or a.get("transA", 0):
                    bad("only Gemm(x, W, b) with constant W, alpha = beta = 1, no transA")
                    continue
                push(Linear(w if a.get("transB", 0) else w.T, b, name=lname))
            elif op == "MatMul":
                w = const(1)
                if w is None or w.ndim != 2:
                    bad("only MatMul(x, W) by a constant matrix")
                    continue
                push(Linear(w.T, None, name=lname))
            elif op == "Add" and len(chain_in) == 1:
                b = const(1) if isinstance(ins[0], _Chain) else const(0)
                last = layers[-1] if layers else None
                if (b is None or b.ndim != 1 or not isinstance(last, Linear)
                        or last.bias is not None or src.pos != len(layers)
                        or b.shape[0] != last.out_features):
                    bad("an Add of a constant that is not the bias of a preceding MatMul")
                    continue
                last.bias = b.astype(np.float64)
                push(None)
            elif op == "Add":
                pa, pb = (v.pos for v in chain_in[:2])
                n = len(layers)
                if (pa != n and pb != n) or pa == pb:
                    bad("an Add that is not a residual connection")
                    continue
                skip = pb if pa == n else pa
                body = layers[skip:]
                del layers[skip:]
                layers.append(Residual(body, name=lname))
                vals[out] = _Chain(len(layers), src.layout)
            elif op == "Conv":
                w, b = const(1), const(2)
                pads = list(a.get("pads", [0, 0, 0, 0]))
                if w is None or w.ndim != 4 or pads[:2] != pads[2:] or any(
                        d != 1 for d in a.get("dilations", [1, 1])):
                    bad("only 2-D Conv with constant weights, symmetric pads, no dilation")
                    continue
                push(Conv2d(w, b, stride=tuple(a.get("strides", [1, 1])),
                            padding=tuple(pads[:2]), groups=a.get("group", 1), name=lname))
            elif op in ("MaxPool", "AveragePool"):
                pads = list(a.get("pads", [0, 0, 0, 0]))
                if a.get("ceil_mode", 0) or pads[:2] != pads[2:] or (
                        op == "AveragePool" and any(pads) and not a.get("count_include_pad", 0)):
                    bad("pooling with ceil_mode, asymmetric pads or padding not counted")
                    continue
                cls = MaxPool2d if op == "MaxPool" else AvgPool2d
                push(cls(tuple(a["kernel_shape"]), tuple(a.get("strides", a["kernel_shape"])),
                         tuple(pads[:2]), name=lname))
            elif op == "LayerNormalization":
                if a.get("axis", -1) not in (-1, ndim - 1):
                    bad("LayerNormalization over other than the last axis")
                    continue
                push(LayerNorm(const(1), const(2), eps=a.get("epsilon", 1e-5), name=lname))
            elif op == "Transpose":
                perm = list(a.get("perm", []))
                if src.layout in ("NTF", "TNF") and perm == [1, 0, 2]:
                    push(None, "TNF" if src.layout == "NTF" else "NTF")
                else:
                    bad(f"transpose {perm} of a value in layout {src.layout or '?'!r}")
            elif op == "Squeeze":
                axes = const(1) if len(node.input) > 1 else a.get("axes")
                if src.layout == "TDNF" and axes is not None and list(np.ravel(axes)) == [1]:
                    push(None, "TNF")
                else:
                    bad("squeeze other than the direction axis of a recurrent output")
            elif op in ("LSTM", "GRU"):
                layer = _recurrent(op, a, const, node, glue, src.layout, lname)
                if isinstance(layer, str):
                    bad(layer)
                    continue
                layers.append(layer)
                out_layout = "NTF" if a.get("layout", 0) else "TDNF"
                vals[node.output[0]] = _Chain(len(layers), out_layout)
                for o in node.output[1:]:
                    vals[o] = None       # final states: unsupported if used (no chain value)
            elif op == "Gather":
                idx = const(1)
                axis = a.get("axis", 0)
                time_axis = {"NTF": 1, "TNF": 0}.get(src.layout)
                t_len = input_shape[0]
                if (idx is not None and np.ndim(idx) == 0 and axis == time_axis
                        and int(idx) in (-1, t_len - 1)):
                    push(SequencePool("last", name=lname), "NF")
                else:
                    bad("Gather other than the last time step of a sequence")
            elif op == "ReduceMean":
                axes = const(1) if len(node.input) > 1 else a.get("axes")
                time_axis = {"NTF": 1, "TNF": 0}.get(src.layout)
                if axes is not None and list(np.ravel(axes)) == [time_axis] \
                        and not a.get("keepdims", 1):
                    push(SequencePool("mean", name=lname), "NF")
                else:
                    bad("ReduceMean other than over time without keepdims")
            else:
                bad("unsupported operator")
        except (InvalidParameterError, UnknownNameError, KeyError, TypeError) as exc:
            bad(str(exc))
    outs = [vals.get(o.name) for o in g.output]
    if not problems and (len(outs) != 1 or not isinstance(outs[0], _Chain)
                         or outs[0].pos != len(layers)):
        problems.append("graph output: not the chain's last value (one output is supported)")
    if any(isinstance(v, _Chain) and v.layout in ("TNF", "TDNF") for v in outs):
        problems.append("graph output: a time-first sequence (transpose it to batch-first)")
    if problems:
        raise UnknownNameError(
            f"from_onnx: {len(problems)} node(s) of the ONNX graph cannot be mapped to cimsim "
            "layers:\n  " + "\n  ".join(problems))
    return Network(layers, input_shape, name=name or g.name, metadata={"source": "onnx"})


def _recurrent(op, a, const, node, glue, layout, lname):
    """A cimsim LSTM / GRU from an ONNX LSTM / GRU node, or the reason it cannot be one."""
    if layout != ("NTF" if a.get("layout", 0) else "TNF"):
        return f"{op} input in layout {layout!r} (needs time-first, or layout=1 batch-first)"
    if a.get("direction", b"forward") not in (b"forward", "forward"):
        return f"{op} direction {a.get('direction')!r} (only forward)"
    if a.get("activations") or a.get("clip") is not None or a.get("input_forget", 0):
        return f"{op} with custom activations, clip or input_forget"
    if op == "GRU" and a.get("linear_before_reset", 0) != 1:
        return "GRU needs linear_before_reset=1 (PyTorch's form)"
    w, r, b = const(1), const(2), const(3)
    if w is None or r is None or w.shape[0] != 1:
        return f"{op} weights must be constants of one direction"
    for k in range(4, len(node.input)):
        name = node.input[k]
        if name and name not in glue:
            return f"{op} input {k} ({name!r}): only sequence lengths or zero initial " \
                   "states computed from the input shape"
    h = int(a["hidden_size"])
    g = 4 if op == "LSTM" else 3
    order = [0, 2, 3, 1] if op == "LSTM" else [1, 0, 2]   # ONNX iofc / zrh -> torch
    idx = np.concatenate([np.arange(k * h, (k + 1) * h) for k in order])
    w_ih, w_hh = w[0][idx], r[0][idx]
    if b is None:
        b_ih = b_hh = np.zeros(g * h)
    else:
        b_ih, b_hh = b[0][: g * h][idx], b[0][g * h:][idx]
    cls = LSTM if op == "LSTM" else GRU
    return cls(w_ih, w_hh, b_ih, b_hh, name=lname)
