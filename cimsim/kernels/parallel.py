"""How tile work shares the cores: row slices on plain threads, per-thread scratch, BLAS limits.

A tile MVM is a pipeline per batch slice (row drive → two GEMMs → read-out). Each of
``numba.get_num_threads()`` threads takes contiguous slices of the batch from a shared queue
and runs the whole pipeline on each with single-threaded BLAS (:class:`blas_single_thread`),
so no thread waits for another between the phases and no BLAS worker spins on a core that a
kernel needs (OpenBLAS workers busy-wait for about 0.1 s after a multi-threaded call before
they sleep).
"""

from __future__ import annotations

import math
import os
import threading

import numpy as np

__all__ = ["LINE", "aligned_empty", "blas_single_thread", "for_row_slices", "fresh_scratch",
           "n_threads", "side_by_side", "workspace"]

#: Bytes of a cache line (and of an AVX-512 register): where :func:`aligned_empty` starts [-].
LINE = 64


_SCRATCH = threading.local()


def aligned_empty(shape, dtype) -> np.ndarray:
    """An uninitialised C-contiguous array starting on a multiple of :data:`LINE` bytes, so
    a kernel's 64-byte loads and stores of it never straddle two cache lines (NumPy aligns
    to 16 bytes)."""
    dt = np.dtype(dtype)
    n = math.prod(shape) if isinstance(shape, tuple) else int(shape)
    raw = np.empty(n * dt.itemsize + LINE, dtype=np.uint8)
    off = -raw.ctypes.data % LINE
    return raw[off:off + n * dt.itemsize].view(dt).reshape(shape)


def workspace(name: str, shape: tuple, dtype) -> np.ndarray:
    """A per-thread scratch array reused across calls (fresh large arrays cost a page fault
    per 4 KiB on first touch, a sizeable part of a tile MVM), starting on a cache line
    (:func:`aligned_empty`). Valid until the same thread asks for ``name`` again; never
    returned to callers."""
    try:
        bufs = _SCRATCH.bufs
    except AttributeError:
        bufs = _SCRATCH.bufs = {}
    shape = tuple(shape)
    view = bufs.get((name, shape, dtype))
    if view is not None:
        return view
    dt = np.dtype(dtype)
    need = math.prod(shape)
    base = bufs.get((name, dt.str))
    if base is None or base.size < need:
        base = aligned_empty(max(need, 1), dt)
        bufs[(name, dt.str)] = base
        for k in [k for k in bufs if len(k) == 3 and k[0] == name]:   # views of the old base
            del bufs[k]
    view = base[:need].reshape(shape)
    if len(bufs) > _MAX_VIEWS:       # many distinct shapes: forget the cached views
        for k in [k for k in bufs if len(k) == 3]:
            del bufs[k]
    bufs[(name, shape, dtype)] = view
    return view


def fresh_scratch(size: int) -> np.ndarray:
    """A new float64 array of ``size`` elements allocated without NumPy's advice to back it
    with transparent huge pages (NumPy gives it to arrays of 4 MiB or more on Linux).

    For large scratch written once, whose cost is its first touch: a huge-page fault zeroes
    2 MiB at once and may have to compact memory first, which on the 2-core benchmark
    machine made the first touch of an ``G_eff``'s scratch take from 0.1 to 0.6 s of system
    time from run to run (4 KiB pages: 0.07–0.09 s)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:                                  # pragma: no cover - other NumPy
        return np.empty(size)
    with _ALLOC_LOCK:
        old = _set_madvise_hugepage(False)
        try:
            return np.empty(size)
        finally:
            _set_madvise_hugepage(old)


_ALLOC_LOCK = threading.Lock()


#: Cached views per thread before :func:`workspace` forgets them (bases are kept) [-].
_MAX_VIEWS = 256


_POOL: dict = {}


def _row_pool(n: int, name: str = "rows"):
    """The thread pool ``name`` of this process (rebuilt after a fork or a thread-count
    change: a forked child inherits the pool object but not its threads). ``"rows"`` serves
    :func:`for_row_slices`, ``"tasks"`` :func:`side_by_side` (two pools, so neither waits on
    work queued behind its own)."""
    from concurrent.futures import ThreadPoolExecutor

    key = "pool_" + name
    if _POOL.get(key + "_n") != n or _POOL.get(key + "_pid") != os.getpid():
        _POOL[key + "_n"], _POOL[key + "_pid"] = n, os.getpid()
        _POOL[key] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="cimsim-" + name)
    return _POOL[key]


def _drain(items, run, n: int, pool: str) -> None:
    """``run(item)`` for every item (none of them None), on the calling thread and ``n − 1``
    threads of the pool ``pool`` (:func:`_row_pool`), each taking the next item from one
    shared queue until none is left; an exception in any thread is raised here."""
    queue = iter(items)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                item = next(queue, None)
            if item is None:
                return
            run(item)

    futures = [_row_pool(n - 1, pool).submit(worker) for _ in range(n - 1)]
    try:
        worker()
    finally:
        for f in futures:
            f.result()


def side_by_side(tasks) -> None:
    """Run the callables ``tasks`` on :func:`n_threads` threads (the calling thread and
    pool threads that live as long as the process), taking them in the given order from a
    shared queue. Each task should release the GIL (Numba kernels, BLAS); the threads' BLAS
    is whatever the caller set (e.g. :class:`blas_single_thread`)."""
    tasks = list(tasks)
    n = min(n_threads(), len(tasks))
    if n <= 1:
        for task in tasks:
            task()
        return
    _drain(tasks, lambda task: task(), n, "tasks")


def n_threads() -> int:
    """Threads the tile kernels use: ``numba.get_num_threads()`` [-]."""
    import numba

    return max(1, int(numba.get_num_threads()))


def for_row_slices(fn, n_rows: int, *, parallel: bool = True, align: int = 64,
                   slices_per_thread: int | None = None, min_rows: int = 0) -> None:
    """Run ``fn(b0, b1)`` over contiguous slices of ``n_rows`` batch rows, side by side.

    The batch is cut into :func:`_slice_bounds` slices (about ``slices_per_thread``, default
    :data:`SLICES_PER_THREAD`, per :func:`n_threads` thread, each starting on a multiple of
    ``align``, none shorter than ``min_rows`` unless that would leave a thread idle); the
    calling thread and ``n − 1`` pool threads take slices from a shared queue until none is
    left, so a core that runs slower (another process, a busy hypervisor neighbour) simply
    takes fewer. ``fn`` calls Numba kernels and GEMMs that release the GIL.
    """
    n = n_threads() if parallel else 1
    bounds = _slice_bounds(n_rows, n, align=align, slices_per_thread=slices_per_thread,
                          min_rows=min_rows)
    if len(bounds) <= 1:
        fn(0, n_rows)
        return
    _drain(bounds, lambda b: fn(*b), n, "rows")


def _slice_bounds(n_rows: int, n: int, *, align: int = 64, slices_per_thread: int | None = None,
                 min_rows: int = 0) -> list[tuple[int, int]]:
    """The slices ``[(b0, b1), …]`` of :func:`for_row_slices` for ``n`` threads: ``s`` slices
    of ``per`` rows (the last shorter), ``per`` a multiple of ``align``, ``s`` at most
    ``n × slices_per_thread`` and at most ``n_rows // min_rows`` (slices of at least
    ``min_rows``: a kernel that sweeps a large table once per call, such as the bit-plane
    look-up GEMM, reads it once per slice, and two cores sweeping it for short slices contend
    for the shared cache), but at least ``n`` while every thread can have ``align`` rows; one
    slice for one thread. A pure function of its arguments, so the slices never depend on
    timing."""
    n = max(1, int(n))
    k = SLICES_PER_THREAD if slices_per_thread is None else max(1, int(slices_per_thread))
    if n == 1 or n_rows <= 0:
        return [(0, n_rows)]
    s = n * k
    if min_rows > 0:
        s = min(s, n_rows // int(min_rows))
    s = max(s, min(n, -(-n_rows // align)), 1)
    per = math.ceil(math.ceil(n_rows / s) / align) * align
    return [(b0, min(b0 + per, n_rows)) for b0 in range(0, n_rows, per)]


#: Slices per thread of :func:`for_row_slices` (dynamic load balance) [-].
SLICES_PER_THREAD = 2


def _blas_libs():
    """threadpoolctl's controllers of the BLAS libraries loaded in this process (found once,
    and again if a BLAS library loads later)."""
    import sys

    n_mods = len(sys.modules)
    if _POOL.get("blas_mods") != n_mods:
        from threadpoolctl import ThreadpoolController

        _POOL["blas_mods"] = n_mods
        _POOL["blas"] = [lc for lc in ThreadpoolController().lib_controllers
                         if lc.user_api == "blas"]
    return _POOL["blas"]


class blas_single_thread:
    """Limit BLAS to one thread inside the block (threadpoolctl's library controllers; a few
    microseconds to enter and leave)."""

    def __enter__(self):
        self._old = []
        for lc in _blas_libs():
            n = lc.get_num_threads()
            self._old.append((lc, n))
            if n != 1:
                lc.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        for lc, n in self._old:
            if n != 1:
                lc.set_num_threads(n)
        return False
