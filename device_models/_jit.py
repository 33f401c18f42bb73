"""The house JIT decorator and the NumPy/Numba backend switch.

Every hot path in the project is a private Numba kernel (``_name_kernel``) with a plain-NumPy
reference beside it. Public functions ask :func:`backend` which one to run:

* ``"numba"`` (default): the compiled kernels;
* ``"numpy"``: the reference path; selected by the environment variable
  ``CIMSIM_DISABLE_JIT=1`` or, inside a block, by ``with use_backend("numpy"):``.

Tests run the same checks under both and compare kernel with reference to 1e-12 relative.

:func:`prefetch` is a cache hint for kernels (it changes no number): inside compiled code it
asks the core to start loading a cache line that a later iteration reads, where the
hardware prefetcher would miss it (a new row of a strided array starts a new page).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numba
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

__all__ = ["backend", "jit", "prange", "prefetch", "use_backend"]

prange = numba.prange

_BACKENDS = ("numba", "numpy")
_state = {
    "backend": "numpy"
    if os.environ.get("CIMSIM_DISABLE_JIT", "0").lower() not in ("", "0", "false", "no")
    else "numba"
}


def jit(*signatures, parallel: bool = False, **options) -> Callable:
    """Compile a kernel with the project's options.

    ``cache=True`` (compiled code survives the process), ``nogil=True``,
    ``error_model="numpy"`` (division by zero gives inf/NaN as in NumPy rather than raising) and
    ``fastmath=False`` (kernels must agree with their NumPy references to 1e-12).
    ``parallel=True`` is opt-in where a kernel's outer loop pays for the threads.
    """
    opts = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": False}
    opts.update(options)
    if parallel:
        opts["parallel"] = True
    if len(signatures) == 1 and callable(signatures[0]) and not options and not parallel:
        return numba.njit(**opts)(signatures[0])
    if signatures:
        return numba.njit(*signatures, **opts)
    return numba.njit(**opts)


def backend() -> str:
    """Return the active backend, ``"numba"`` or ``"numpy"``."""
    return _state["backend"]


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Run a block with the given backend (``"numba"`` or ``"numpy"``), then restore."""
    if name not in _BACKENDS:
        from ._checks import fail  # _checks does not import this module back at load time
        from .errors import UnknownNameError

        fail("name", "use_backend", f"one of {list(_BACKENDS)}", name, exc=UnknownNameError)
    old = _state["backend"]
    _state["backend"] = name
    try:
        yield
    finally:
        _state["backend"] = old


def prefetch(a, i, j) -> None:
    """Start loading the cache line that holds ``a[i, j]`` (2-D array, indices in range)
    into every cache level, for a read soon after (``llvm.prefetch``: read, locality 3,
    data). A hint only: no number changes, and outside compiled code it does nothing."""


@intrinsic
def _prefetch_line(typingctx, a, i, j):
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None
    sig = types.void(a, i, j)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [context.cast(builder, v, t, types.intp)
               for v, t in zip(args[1:], signature.args[1:], strict=True)]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, idx)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@overload(prefetch, inline="always")
def _prefetch_impl(a, i, j):
    def impl(a, i, j):
        _prefetch_line(a, i, j)

    return impl
