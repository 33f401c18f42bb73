"""Input validation with one message shape for the whole project.

Every public function validates its arguments here before any kernel runs, so bad input
raises :class:`~device_models.errors.InvalidParameterError` (a ``ValueError``) of the form::

    The 'vgs' parameter of mosfet_current must be finite. Got array with NaN at index (3,).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import InvalidParameterError, UnknownNameError

__all__ = [
    "check_array",
    "check_binary",
    "check_bool",
    "check_choice",
    "check_instance",
    "check_int",
    "check_labels",
    "check_path",
    "check_scalar",
    "check_shape",
    "check_seed",
    "fail",
]


#: NumPy's warning for a complex-to-real cast (numpy.exceptions since 1.25).
_ComplexWarning = getattr(np, "exceptions", np).ComplexWarning


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(name: str, caller: str, constraint: str, got: Any, *, exc=InvalidParameterError):
    """Raise ``exc`` with the project's message shape; ``got`` is shown with ``repr``."""
    shown = got if isinstance(got, str) and got.startswith("array") else _describe(got)
    # a caller or name that holds a bad value (a layer name, or what a public checker such
    # as check_digital_ops was given) is shortened like the value
    label = repr(name) if isinstance(name, str) else _describe(name)
    caller = str(caller)
    if len(label) > 80:
        label = label[:77] + "..."
    if len(caller) > 80:
        caller = caller[:77] + "..."
    raise exc(f"The {label} parameter of {caller} must be {constraint}. Got {shown}.")


def _first_bad(mask: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(mask)[0])
    return str(idx)


def check_array(
    name: str,
    value: Any,
    caller: str,
    *,
    finite: bool = True,
    nonneg: bool = False,
    positive: bool = False,
    lo: float | None = None,
    hi: float | None = None,
    ndim: int | tuple[int, ...] | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """Return ``value`` as an ndarray of ``dtype`` after checking it.

    Raises
    ------
    InvalidParameterError
        If the value cannot be converted, has the wrong number of dimensions, holds NaN or
        inf (when ``finite``), negative (``nonneg``) or non-positive (``positive``) entries,
        or entries outside ``[lo, hi]``.
    """
    want = np.dtype(dtype)
    if type(value) is np.ndarray and value.dtype == want:
        arr = value         # what np.asarray gives it (no conversion to check)
    else:
        if want.kind != "c" and _is_complex(value):
            fail(name, caller, "real (complex numbers are not accepted)", _complex_got(value))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", _ComplexWarning)
                arr = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError, OverflowError, _ComplexWarning):
            fail(name, caller, f"convertible to an array of {want.name}", value)
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            fail(name, caller, f"an array with {want} dimensions", f"array of shape {arr.shape}")
    if arr.dtype.kind in "fc":
        # a finite sum proves every entry finite (NaN and ±inf propagate); only a non-finite
        # sum (or an overflow of finite entries) pays for the element-wise test
        if finite:
            with np.errstate(all="ignore"):
                total = np.add.reduce(arr, axis=None)
        if finite and not np.isfinite(total) and not np.all(np.isfinite(arr)):
            bad = ~np.isfinite(arr)
            what = "NaN" if np.any(np.isnan(arr)) else "inf"
            loc = _first_bad(bad) if arr.ndim else "()"
            fail(name, caller, "finite (no NaN or inf)", f"array with {what} at index {loc}")
    if nonneg and np.any(arr < 0):
        fail(name, caller, ">= 0", f"array with {arr.min()!r} at index {_first_bad(arr < 0)}"
             if arr.ndim else arr.item())
    if positive and np.any(arr <= 0):
        fail(name, caller, "> 0", f"array with {arr.min()!r} at index {_first_bad(arr <= 0)}"
             if arr.ndim else arr.item())
    if lo is not None and np.any(arr < lo):
        fail(name, caller, f">= {lo!r}", f"array with {arr.min()!r}" if arr.ndim else arr.item())
    if hi is not None and np.any(arr > hi):
        fail(name, caller, f"<= {hi!r}", f"array with {arr.max()!r}" if arr.ndim else arr.item())
    return arr


def _is_complex(value: Any) -> bool:
    """True for complex numbers and arrays or lists of them (their imaginary parts would be
    dropped silently by a float conversion)."""
    if isinstance(value, (complex, np.complexfloating)):
        return True
    dt = getattr(value, "dtype", None)
    if dt is not None:
        return np.dtype(dt).kind == "c"
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value).dtype.kind == "c"
        except (TypeError, ValueError, OverflowError):
            return False
    return False


def _complex_got(value: Any) -> str:
    if isinstance(value, (complex, np.complexfloating)):
        return repr(complex(value))
    return f"array of dtype {np.asarray(value).dtype}"


def check_scalar(
    name: str,
    value: Any,
    caller: str,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the given bounds, else raise."""
    if isinstance(value, (bool, np.bool_, str, bytes)) or _is_complex(value) \
            or not isinstance(value, (int, float, np.number, np.ndarray)) \
            or isinstance(value, np.ndarray) and value.ndim != 0:
        fail(name, caller, "a real number", value)
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        fail(name, caller, "a real number", value)
    if not np.isfinite(x):
        fail(name, caller, "finite", value)
    if lo is not None and (x <= lo if lo_open else x < lo):
        fail(name, caller, f"{'>' if lo_open else '>='} {lo!r}", value)
    if hi is not None and (x >= hi if hi_open else x > hi):
        fail(name, caller, f"{'<' if hi_open else '<='} {hi!r}", value)
    return x


def check_int(
    name: str, value: Any, caller: str, *, lo: int | None = None, hi: int | None = None
) -> int:
    """Return ``value`` as an int inside ``[lo, hi]``; floats with a fraction are rejected."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            fail(name, caller, "an integer", value)
    v = int(value)
    if lo is not None and v < lo or hi is not None and v > hi:
        lo_s = "-inf" if lo is None else str(lo)
        hi_s = "inf" if hi is None else str(hi)
        fail(name, caller, f"an integer in [{lo_s}, {hi_s}]", value)
    return v


def check_bool(name: str, value: Any, caller: str) -> bool:
    """Return ``value`` if it is True or False (a NumPy bool too), else raise."""
    if not isinstance(value, (bool, np.bool_)):
        fail(name, caller, "True or False", value)
    return bool(value)


def check_binary(name: str, value: Any, caller: str, *,
                 what: str = "binary values (every entry 0 or 1)") -> np.ndarray:
    """Return ``value`` (an ndarray; real arrays are not copied) if every entry is 0 or 1,
    else raise naming the first other entry and its index (``what`` describes the allowed
    values)."""
    if not (isinstance(value, np.ndarray) and value.dtype.kind in "biuf"):
        value = check_array(name, value, caller, finite=False)
    bad = (value != 0) & (value != 1)
    if np.any(bad):
        first = value[np.unravel_index(int(np.argmax(bad)), value.shape)]
        fail(name, caller, what, f"array with {first.item()!r} at index {_first_bad(bad)}"
             if value.ndim else value.item())
    return value


def check_labels(name: str, value: Any, caller: str, n_classes: int) -> np.ndarray:
    """Return class labels ``value`` as a 1-D int64 array of whole numbers in
    ``[0, n_classes)``; floats with a fraction, NaN and out-of-range labels are refused (they
    would otherwise be truncated, cast to INT_MIN or silently count as wrong)."""
    arr = check_array(name, value, caller, ndim=1)
    frac = arr != np.floor(arr)
    if np.any(frac):
        fail(name, caller, "whole numbers (class indices)",
             f"array with {float(arr[frac][0])!r} at index {_first_bad(frac)}")
    bad = (arr < 0) | (arr >= n_classes)
    if np.any(bad):
        fail(name, caller, f"class indices in [0, {n_classes - 1}]",
             f"array with {float(arr[bad][0])!r} at index {_first_bad(bad)}")
    return arr.astype(np.int64)


def check_choice(name: str, value: Any, caller: str, choices: Iterable[str], *,
                 exc=UnknownNameError) -> str:
    """Return ``value`` if it is one of ``choices``; else raise ``exc`` listing the valid
    names."""
    options = list(choices)
    try:
        known = isinstance(value, (str, int, float, type(None))) and value in options
    except (TypeError, ValueError):
        known = False
    if not known:
        fail(name, caller, f"one of {options}", value, exc=exc)
    return value


def check_instance(name: str, value: Any, caller: str, types: type | tuple[type, ...],
                   what: str | None = None) -> Any:
    """Return ``value`` if it is an instance of ``types``; else raise naming ``what`` (default:
    the type names)."""
    if not isinstance(value, types):
        tt = types if isinstance(types, tuple) else (types,)
        want = what or " or ".join(f"a {t.__name__}" for t in tt)
        fail(name, caller, want, f"a {type(value).__name__}" if not isinstance(
            value, (int, float, str)) else value)
    return value


def check_path(name: str, value: Any, caller: str):
    """Return ``value`` as a :class:`pathlib.Path` if it is a str or os.PathLike."""
    import os
    from pathlib import Path

    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        fail(name, caller, "a path (str or os.PathLike)", value)
    return Path(value)


def check_broadcast(caller: str, **arrays: np.ndarray) -> tuple[int, ...]:
    """The broadcast shape of the named ``arrays`` (keyword order), else raise naming the
    first one that does not broadcast with the first (or the last, if only all together
    fail)."""
    names = list(arrays)
    try:
        return np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        first = names[0]
        for name in names[1:]:
            try:
                np.broadcast_shapes(arrays[first].shape, arrays[name].shape)
            except ValueError:
                fail(name, caller, f"broadcastable with {first!r} of shape "
                     f"{arrays[first].shape}", f"array of shape {arrays[name].shape}")
        fail(names[-1], caller, "broadcastable with the other arguments",
             f"array of shape {arrays[names[-1]].shape}")


def check_shape(name: str, value: Any, caller: str, *, max_size: int = 1 << 40,
                nonempty: bool = False) -> tuple:
    """Return ``value`` (an int, a sequence of ints >= 0 or a 1-D integer array) as a shape
    tuple, refusing more than ``max_size`` elements in all, or in its non-zero axes (an empty
    array of shape (2**60, 0) cannot be made either) and, with ``nonempty``, the empty shape
    ``()``."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (value,)
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or (nonempty and len(value) == 0):
        fail(name, caller, "an int or a " + ("non-empty " if nonempty else "")
             + "sequence of ints >= 0", value)
    shape = tuple(check_int(name, s, caller, lo=0) for s in value)
    size = 1
    for s in shape:
        size *= max(s, 1)
    if size > max_size:
        fail(name, caller, f"at most {max_size} elements (counting the non-zero axes)", shape)
    return shape


def check_seed(name: str, value: Any, caller: str) -> int:
    """Return a non-negative int seed from an int or a ``numpy.random.Generator``.

    A Generator is consumed for one 63-bit integer, so passing the same Generator state
    gives the same seed.
    """
    if isinstance(value, np.random.Generator):
        return int(value.integers(0, 2**63 - 1))
    return check_int(name, value, caller, lo=0, hi=2**64 - 1)


def __getattr__(attr: str):
    # Card loading lives in the cards package: ``cards.load(value, kinds=..., field=...,
    # caller=...)`` and ``cards.check_memory_card``; the old names here forward to them.
    from . import cards

    if attr == "check_memory_card":
        return cards.check_memory_card
    if attr == "load_card":
        return lambda name, value, caller, kinds: cards.load(value, kinds=kinds, field=name,
                                                             caller=caller)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
