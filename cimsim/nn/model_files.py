"""Model files: save and load networks (.npz / HDF5).

File layout (format ``cimsim-network-1``)
-----------------------------------------
Both containers hold the same three things:

``architecture`` — a JSON object::

    {"name": "digits_cnn_relu", "input_shape": [1, 8, 8],
     "layers": [{"type": "Conv2d", "name": "conv1", "in_channels": 1, "out_channels": 8,
                 "kernel_size": [3, 3], "stride": [1, 1], "padding": [1, 1], "groups": 1,
                 "bias": true},
                {"type": "ReLU", "name": "act1"}, ...,
                {"type": "Residual", "name": "res1", "layers": [ ...nested layers... ]}],
     "metadata": {...free-form...}}

  ``type`` is one of :data:`cimsim.nn.layers.LAYER_TYPES` (Linear, Conv2d, MaxPool2d, AvgPool2d,
  Flatten, BatchNorm, ReLU, Swish, Softplus, GELU, Tanh, Sigmoid, Softmax, Residual, and the
  sequence layers LSTM, GRU, DiagonalSSM, MultiHeadAttention, LayerNorm, Embedding,
  PositionalEncoding, SequencePool); the other keys are that layer's hyper-parameters
  (``Layer.config()``). Layer names are unique, without ``/``.

parameter arrays — float, one per ``<layer name>/<parameter>``, in PyTorch layouts:
  ``Linear``: ``weight`` (out_features, in_features), ``bias`` (out_features,) if ``bias``;
  ``Conv2d``: ``weight`` (out_channels, in_channels/groups, kh, kw), ``bias`` (out_channels,);
  ``BatchNorm``: ``gamma``, ``beta``, ``running_mean``, ``running_var``, each (num_features,);
  sequence layers: their ``param_names`` in the layouts of their docstrings (PyTorch's).

calibration inputs (optional) — ``__calibration__``, shape ``(N, *input_shape)``: training-set
inputs used by :meth:`cimsim.nn.network.Network.compile` to set the ADC ranges.

In ``.npz`` the architecture is the 0-d string array ``__architecture__`` and the format tag
``__format__``; arrays are keys ``"<layer>/<param>"``. In HDF5 (``.h5``/``.hdf5``) they are the
root attributes ``architecture`` and ``format`` and datasets ``/<layer>/<param>``.

A missing or extra array, a wrong shape, NaN/inf weights, an unknown layer type or
inconsistent layer shapes raise :class:`~device_models.errors.InvalidParameterError` /
:class:`~device_models.errors.UnknownNameError` naming the file, the layer and the array.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from device_models._checks import check_bool, check_instance, check_path, fail
from device_models.errors import InvalidParameterError, UnknownNameError

from .layers import (
    GELU,
    LAYER_TYPES,
    BatchNorm,
    Conv2d,
    Layer,
    Linear,
    Residual,
    iter_layers,
)
from .network import Network

__all__ = ["FORMAT", "load_model", "save_model"]

FORMAT = "cimsim-network-1"


def _bad(source: str, msg: str) -> InvalidParameterError:
    return InvalidParameterError(f"Model file {source}: {msg}")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def _layer_spec(layer: Layer) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": layer.kind, "name": layer.name}
    spec.update(layer.config())
    if isinstance(layer, Residual):
        spec["layers"] = [_layer_spec(b) for b in layer.body]
    return spec


def _architecture(net: Network) -> dict[str, Any]:
    return {"name": net.name, "input_shape": list(net.input_shape),
            "layers": [_layer_spec(lay) for lay in net.layers], "metadata": net.metadata}


def _arrays(net: Network) -> dict[str, np.ndarray]:
    out = {}
    for layer in iter_layers(net.layers):
        if "/" in layer.name:
            raise InvalidParameterError(
                f"The 'net' parameter of save_model must have layer names without '/' (model "
                f"files reserve it). Got layer {layer.name!r}.")
        for k, v in layer.params().items():
            out[f"{layer.name}/{k}"] = np.asarray(v)
    return out


def save_model(net: Network, path: str | Path, *, dtype=np.float32,
               include_calibration: bool = True) -> Path:
    """Write ``net`` to ``path`` (``.npz``, or ``.h5``/``.hdf5`` for HDF5) in the layout above.

    ``dtype`` is the storage type of the parameter arrays (float32 halves the size).
    """
    path = check_path("path", path, "save_model")
    check_instance("net", net, "save_model", Network)
    include_calibration = check_bool("include_calibration", include_calibration, "save_model")
    try:
        store = np.dtype(dtype)
    except (TypeError, ValueError):
        store = None
    if store is None or store.kind != "f":
        fail("dtype", "save_model", "a floating-point dtype (float16, float32, float64)",
             dtype)
    dtype = store
    arch = json.dumps(_architecture(net))
    arrays = {k: v.astype(dtype) for k, v in _arrays(net).items()}
    cal = net.calibration if include_calibration else None
    if path.suffix == ".npz":
        extra = {"__format__": np.array(FORMAT), "__architecture__": np.array(arch)}
        if cal is not None:
            extra["__calibration__"] = cal.astype(dtype)
        np.savez_compressed(path, **arrays, **extra)
    elif path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "w") as fh:
            fh.attrs["format"] = FORMAT
            fh.attrs["architecture"] = arch
            for k, v in arrays.items():
                fh.create_dataset(k, data=v)
            if cal is not None:
                fh.create_dataset("__calibration__", data=cal.astype(dtype),
                                  compression="gzip")
    else:
        raise InvalidParameterError(
            f"The 'path' parameter of save_model must end in .npz, .h5 or .hdf5. Got {path}.")
    return path


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def _read(path: Path) -> tuple[str, str, dict[str, np.ndarray], np.ndarray | None]:
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                content = {k: data[k] for k in data.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise _bad(str(path), f"not a readable .npz archive (truncated or damaged? "
                                  f"{exc}).") from None
        fmt = str(content.pop("__format__", ""))
        arch = content.pop("__architecture__", None)
        if arch is None:
            raise _bad(str(path), "has no '__architecture__' entry (not a cimsim model).")
        cal = content.pop("__calibration__", None)
        return fmt, str(arch), content, cal
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        try:
            fh = h5py.File(path, "r")
        except OSError as exc:
            raise _bad(str(path), f"not a readable HDF5 file ({exc}).") from None
        with fh:
            fmt = str(fh.attrs.get("format", ""))
            arch = fh.attrs.get("architecture")
            if arch is None:
                raise _bad(str(path), "has no 'architecture' attribute (not a cimsim model).")
            content: dict[str, np.ndarray] = {}

            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    content[name] = obj[()]

            fh.visititems(visit)
        cal = content.pop("__calibration__", None)
        return fmt, arch.decode() if isinstance(arch, bytes) else str(arch), content, cal
    raise InvalidParameterError(
        f"The 'path' parameter of load_model must end in .npz, .h5 or .hdf5. Got {path}.")


def _get(spec: dict, key: str, source: str, where: str, default: Any = ...):
    if key in spec:
        return spec[key]
    if default is ...:
        raise _bad(source, f"{where} has no '{key}' entry.")
    return default


def _build_layer(spec: Any, arrays: dict[str, np.ndarray], used: set[str],
                 source: str) -> Layer:
    if not isinstance(spec, dict) or "type" not in spec or "name" not in spec:
        raise _bad(source, f"every layer entry needs 'type' and 'name'. Got {spec!r}.")
    kind, name = spec["type"], str(spec["name"])
    where = f"layer {name!r} ({kind})"
    if kind not in LAYER_TYPES:
        raise UnknownNameError(
            f"Model file {source}: layer {name!r} has unsupported type {kind!r}. "
            f"Supported: {sorted(LAYER_TYPES)}.")

    def arr(pname: str, shape: tuple[int, ...], required: bool = True):
        key = f"{name}/{pname}"
        if key not in arrays:
            if required:
                raise _bad(source, f"{where} is missing array {key!r}.")
            return None
        a = arrays[key]
        used.add(key)
        if a.dtype.kind not in "fiu":
            raise _bad(source, f"array {key!r} must be numeric. Got dtype {a.dtype}.")
        if tuple(a.shape) != tuple(shape):
            raise _bad(source, f"array {key!r} has shape {tuple(a.shape)}; {where} needs "
                               f"{tuple(shape)}.")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise _bad(source, f"array {key!r} holds NaN or inf.")
        return a

    g = lambda key, default=...: _get(spec, key, source, where, default)  # noqa: E731
    try:
        from_spec = getattr(LAYER_TYPES[kind], "from_spec", None)
        if from_spec is not None:      # sequence layers rebuild themselves from their entry
            return from_spec(g, arr, name)
        if kind == "Linear":
            i, o = int(g("in_features")), int(g("out_features"))
            return Linear(arr("weight", (o, i)), arr("bias", (o,)) if g("bias", True) else None,
                          name=name)
        if kind == "Conv2d":
            ci, co, groups = int(g("in_channels")), int(g("out_channels")), int(g("groups", 1))
            k = g("kernel_size")
            kh, kw = (k, k) if isinstance(k, int) else k
            if ci % groups or co % groups:
                raise _bad(source, f"{where}: groups={groups} must divide in_channels={ci} and "
                                   f"out_channels={co}.")
            return Conv2d(arr("weight", (co, ci // groups, kh, kw)),
                          arr("bias", (co,)) if g("bias", True) else None,
                          stride=g("stride", 1), padding=g("padding", 0), groups=groups,
                          name=name)
        if kind == "BatchNorm":
            c = int(g("num_features"))
            return BatchNorm(arr("gamma", (c,)), arr("beta", (c,)), arr("running_mean", (c,)),
                             arr("running_var", (c,)), eps=g("eps", 1e-5), name=name)
        if kind in ("MaxPool2d", "AvgPool2d"):
            return LAYER_TYPES[kind](g("kernel_size"), g("stride", None), g("padding", 0),
                                     name=name)
        if kind in ("Swish", "Softplus"):
            return LAYER_TYPES[kind](g("beta", 1.0), name=name)
        if kind == "GELU":
            return GELU(g("approximate", "none"), name=name)
        if kind == "Residual":
            body = g("layers")
            if not isinstance(body, list):
                raise _bad(source, f"{where}: 'layers' must be a list.")
            return Residual([_build_layer(b, arrays, used, source) for b in body], name=name)
        return LAYER_TYPES[kind](name=name)
    except InvalidParameterError as exc:
        if str(exc).startswith("Model file"):
            raise
        raise _bad(source, f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise _bad(source, f"{where}: malformed entry ({exc}).") from None


def _network_from(fmt: str, arch_text: str, arrays: dict[str, np.ndarray],
                  cal: np.ndarray | None, source: str) -> Network:
    if fmt and fmt != FORMAT:
        raise _bad(source, f"format {fmt!r} is not {FORMAT!r}.")
    try:
        arch = json.loads(arch_text)
    except json.JSONDecodeError as exc:
        raise _bad(source, f"architecture is not valid JSON ({exc}).") from None
    if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
        raise _bad(source, "architecture must be an object with a 'layers' list.")
    if "input_shape" not in arch:
        raise _bad(source, "architecture has no 'input_shape'.")
    used: set[str] = set()
    layers = [_build_layer(s, arrays, used, source) for s in arch["layers"]]
    extra = sorted(set(arrays) - used)
    if extra:
        names = sorted({k.split("/")[0] for k in extra})
        raise _bad(source, f"arrays {extra} belong to no layer of the architecture (missing "
                           f"layer(s) {names}?).")
    try:
        return Network(layers, arch["input_shape"], name=str(arch.get("name", "")),
                       calibration=None if cal is None else cal.astype(np.float64),
                       metadata=arch.get("metadata", {}))
    except InvalidParameterError as exc:
        raise _bad(source, str(exc)) from None


def load_model(path: str | Path) -> Network:
    """Read a network written by :func:`save_model` (``.npz`` or HDF5), checking everything."""
    path = check_path("path", path, "load_model")
    if not path.exists():
        raise InvalidParameterError(
            f"The 'path' parameter of load_model must be an existing file. Got {str(path)!r}.")
    fmt, arch, arrays, cal = _read(path)
    return _network_from(fmt, arch, arrays, cal, str(path))

