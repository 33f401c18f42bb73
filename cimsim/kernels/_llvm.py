"""Register-blocked GEMM kernels on AVX-512 dot-product instructions, in LLVM IR.

The tiles' two GEMMs have operands narrower than float32 (integer row codes, bfloat16
variances). NumPy's BLAS has no GEMM for them, and Numba cannot emit the instructions that
multiply them (``vdpbf16ps``, ``vpdpbusd``), so :mod:`cimsim.kernels.bf16_gemm` and
:mod:`cimsim.kernels.int8_gemm` describe their kernels here as LLVM IR, which llvmlite (Numba's code
generator) compiles for the host core once per process.

Every kernel is ``gemm(nib, njb, kq, A, sa, B, sb, C, ldc, extras…)``: for each panel ``jb`` of
:data:`NR` columns of ``B`` and each panel ``ib`` of :data:`MR` rows of ``A`` it keeps an
``MR × NR`` block of sums in registers over ``kq`` groups of ``K``; one group of a row of ``A``
is 32 bits (two bfloat16 or four bytes), broadcast and multiplied with one 64-byte vector per
16 columns of ``B`` by the dot-product instruction. ``A`` is packed as (nib, kq, MR, group)
with panel stride ``sa`` bytes, ``B`` as (njb, kq, NR, group) with stride ``sb``; ``C`` is
float32 with row stride ``ldc``. The start of the sums and what is done with them at the end
are the kernel's own (``init`` and ``finish``).

Safety. The kernels write through raw pointers, so their callers check every operand's shape
against the packed matrix before packing or calling (:func:`check_operands`). A kernel is
used only where it compiled: any failure to compile (an llvmlite or LLVM that rejects the IR,
a core without the instructions) leaves the caller on NumPy's BLAS, with a warning for an
unexpected failure; the ``llvmlite`` pin of ``pyproject.toml`` (≥ 0.45, LLVM 20) meets
:data:`LLVM_MIN`. Setting the environment variable ``CIMSIM_FORCE_BLAS=1`` forces the BLAS
path everywhere (read on every call), so the code that runs on cores without AVX-512 is
tested on any machine (``.ci/run`` runs the tile tests once that way).

References
----------
.. [1] K. Goto and R. A. van de Geijn, "Anatomy of high-performance matrix multiplication",
   ACM Trans. Math. Softw. 34, 12 (2008). doi:10.1145/1356052.1356053 (packed panels,
   register-blocked micro-kernel).
.. [2] Intel 64 and IA-32 Architectures Software Developer's Manual, vol. 2 (VDPBF16PS,
   VPDPBUSD).
"""

from __future__ import annotations

import ctypes
import os
import threading
import warnings
from collections.abc import Callable

import numpy as np
from llvmlite import ir as llir
from numba.core import cgutils, types
from numba.extending import intrinsic, overload

from .parallel import workspace

__all__ = ["FORCE_BLAS_ENV", "LLVM_MIN", "MR", "NR", "call_void", "check_operands",
           "compiled_function", "compiled_gemm", "force_blas", "function_address", "gemm_ir",
           "output_blocks"]

#: Register block: rows of ``A`` × columns of ``B`` [-].
MR, NR = 8, 32
#: LLVM release whose IR has the ``bfloat`` vector types used here [-].
LLVM_MIN = (17, 0, 0)

#: Environment variable that, set to anything but "" or "0", forces the BLAS path.
FORCE_BLAS_ENV = "CIMSIM_FORCE_BLAS"

_LOCK = threading.Lock()


def force_blas() -> bool:
    """Whether ``CIMSIM_FORCE_BLAS`` asks for the BLAS path (read on every call)."""
    return os.environ.get(FORCE_BLAS_ENV, "").strip() not in ("", "0")


def check_operands(caller: str, a: np.ndarray, a_name: str, k: int, out: np.ndarray,
                   n: int) -> None:
    """Refuse operands that do not fit a packed ``(k, n)`` right-hand matrix: ``a`` must be
    2-D float32 or float64 with ``k`` columns, ``out`` of shape ``(len(a), n)``. Called before
    any kernel writes (the kernels index without bounds checks)."""
    from device_models._checks import fail

    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.dtype not in (np.float32,
                                                                       np.float64):
        fail(a_name, caller, "a 2-D float32 or float64 array", getattr(a, "shape", a))
    if a.shape[1] != k:
        fail(a_name, caller, f"of shape (batch, {k}) to match the matrix",
             f"array of shape {a.shape}")
    if not isinstance(out, np.ndarray) or out.shape != (a.shape[0], n):
        fail("out", caller, f"an array of shape {(a.shape[0], n)}", getattr(out, "shape", out))


def output_blocks(out: np.ndarray, nib: int, njb: int) -> np.ndarray:
    """Where the kernel writes ``out``: ``out`` itself when it is whole ``MR × NR`` blocks of
    C-contiguous float32, else a per-thread padded scratch to copy back from
    (``out[...] = c[:m, :n]``)."""
    if (out.shape == (nib * MR, njb * NR) and out.dtype == np.float32
            and out.flags.c_contiguous):
        return out
    return workspace("llvm_gemm_c", (nib * MR, njb * NR), np.float32)


def gemm_ir(dot: str, acc_ty: str, op_ty: str, init: Callable[[int, int], list[str]],
            finish: Callable[[int, int], list[str]],
            extras: list[tuple[str, str, int | None]]) -> str:
    """LLVM IR of a ``gemm`` entry point (see the module docstring).

    Parameters
    ----------
    dot : str
        The intrinsic, ``declare <16 x acc_ty> dot(<16 x acc_ty>, op_ty, op_ty)``.
    acc_ty, op_ty : str
        Element type of the sums (``float``, ``i32``) and the vector type of the operands.
    init, finish : callable
        ``init(i, v)`` gives IR lines that define ``%z{i}_{v}`` (the sums' start of row ``i``,
        vector ``v`` of the block), ``finish(i, v)`` lines that use the sums ``%n{i}_{v}``;
        both may use ``%p{i}_{v}`` (the block's address in ``C``) and the extras.
    extras : list of (type, name, stride)
        Further arguments of ``gemm`` and of the micro-kernel: a ``ptr`` with ``stride`` bytes
        per column panel (advanced with ``jb``) or a scalar (``stride`` None).
    """
    nv = NR // 16
    vt = f"<16 x {acc_ty}>"
    blk = [(i, v) for i in range(MR) for v in range(nv)]
    xs = ", ".join(f"{t} %{n}" for t, n, _ in extras)
    s = [f"declare {vt} {dot}({vt}, {op_ty}, {op_ty})",
         "define internal void @ukr(i64 %kq, ptr noalias %a, ptr noalias %b, ptr noalias %c, "
         f"i64 %ldc, {xs}) alwaysinline {{", "entry:"]
    for i, v in blk:
        s += [f"  %o{i}_{v}a = mul i64 %ldc, {i}", f"  %o{i}_{v} = add i64 %o{i}_{v}a, {16 * v}",
              f"  %p{i}_{v} = getelementptr float, ptr %c, i64 %o{i}_{v}"]
        s += init(i, v)
    s += ["  br label %loop", "loop:", "  %p = phi i64 [0, %entry], [%pn, %loop]"]
    s += [f"  %s{i}_{v} = phi {vt} [%z{i}_{v}, %entry], [%n{i}_{v}, %loop]" for i, v in blk]
    for v in range(nv):
        s += [f"  %bi{v}a = mul i64 %p, {nv * 64}", f"  %bi{v} = add i64 %bi{v}a, {64 * v}",
              f"  %bq{v} = getelementptr i8, ptr %b, i64 %bi{v}",
              f"  %b{v} = load {op_ty}, ptr %bq{v}, align 1"]
    for i in range(MR):
        s += [f"  %ai{i}a = mul i64 %p, {MR}", f"  %ai{i} = add i64 %ai{i}a, {i}",
              f"  %aq{i} = getelementptr i32, ptr %a, i64 %ai{i}",
              f"  %a{i} = load i32, ptr %aq{i}, align 1",
              f"  %av{i} = insertelement <16 x i32> poison, i32 %a{i}, i64 0",
              f"  %as{i} = shufflevector <16 x i32> %av{i}, <16 x i32> poison,"
              " <16 x i32> zeroinitializer",
              f"  %ab{i} = bitcast <16 x i32> %as{i} to {op_ty}"]
        s += [f"  %n{i}_{v} = call {vt} {dot}({vt} %s{i}_{v}, {op_ty} %ab{i}, {op_ty} %b{v})"
              for v in range(nv)]
    s += ["  %pn = add i64 %p, 1", "  %more = icmp ult i64 %pn, %kq",
          "  br i1 %more, label %loop, label %done", "done:"]
    for i, v in blk:
        s += finish(i, v)
    s += ["  ret void", "}", ""]
    call = [f"{t} %{n}" if stride is None else f"ptr %{n}_j" for t, n, stride in extras]
    s += ["define void @gemm(i64 %nib, i64 %njb, i64 %kq, ptr %a, i64 %sa, ptr %b, i64 %sb, "
          f"ptr %c, i64 %ldc, {xs}) {{", "entry:", "  br label %jl",
          "jl:", "  %jb = phi i64 [0, %entry], [%jbn, %jn]",
          "  %bo = mul i64 %jb, %sb", "  %bptr = getelementptr i8, ptr %b, i64 %bo",
          f"  %cj = mul i64 %jb, {NR}"]
    for _t, n, stride in extras:
        if stride is not None:
            s += [f"  %{n}_off = mul i64 %jb, {stride}",
                  f"  %{n}_j = getelementptr i8, ptr %{n}, i64 %{n}_off"]
    s += ["  br label %il",
          "il:", "  %ib = phi i64 [0, %jl], [%ibn, %il]",
          "  %ao = mul i64 %ib, %sa", "  %aptr = getelementptr i8, ptr %a, i64 %ao",
          f"  %ci = mul i64 %ib, {MR}", "  %cr = mul i64 %ci, %ldc",
          "  %co = add i64 %cr, %cj", "  %cptr = getelementptr float, ptr %c, i64 %co",
          "  call void @ukr(i64 %kq, ptr %aptr, ptr %bptr, ptr %cptr, i64 %ldc, "
          f"{', '.join(call)})",
          "  %ibn = add i64 %ib, 1", "  %imore = icmp ult i64 %ibn, %nib",
          "  br i1 %imore, label %il, label %jn",
          "jn:", "  %jbn = add i64 %jb, 1", "  %jmore = icmp ult i64 %jbn, %njb",
          "  br i1 %jmore, label %jl, label %exit",
          "exit:", "  ret void", "}"]
    return "\n".join(s)


_C_TYPES = {"i64": ctypes.c_int64, "i32": ctypes.c_int32, "i1": ctypes.c_bool,
            "float": ctypes.c_float, "ptr": ctypes.c_void_p}


def compiled_gemm(state: dict, ir: Callable[[], str], extras: list[tuple[str, str, int | None]],
                  features: tuple[str, ...]):
    """The ``gemm`` of ``ir()`` compiled for the host core, as a ctypes function (it releases
    the GIL while it runs), or None (use BLAS) where ``CIMSIM_FORCE_BLAS`` is set, the core
    lacks one of ``features``, llvmlite's LLVM predates :data:`LLVM_MIN` or compiling fails
    (a :class:`RuntimeWarning` says why). Compiled once per process under a lock; ``state``
    keeps the function and the execution engine that owns its machine code."""
    if force_blas():
        return None
    if "fn" in state:        # compiled (or refused) before: no argument list to build
        return state["fn"]
    args = [ctypes.c_int64] * 3 + [ctypes.c_void_p, ctypes.c_int64] * 2 + [
        ctypes.c_void_p, ctypes.c_int64] + [_C_TYPES[t] for t, _, _ in extras]
    return compiled_function(state, ir, "gemm", args, features,
                             "the AVX-512 GEMM kernel", "BLAS")


def compiled_function(state: dict, ir: Callable[[], str], name: str, argtypes: list,
                      features: tuple[str, ...], what: str, instead: str,
                      optimize: bool = False):
    """The function ``name`` of the IR module ``ir()`` compiled for the host core, as a
    ctypes function taking ``argtypes`` (it releases the GIL while it runs), or None where the
    core lacks one of ``features``, llvmlite's LLVM predates :data:`LLVM_MIN` or compiling
    fails (a :class:`RuntimeWarning` names ``what`` and the path used ``instead``). Compiled
    once per ``state`` under a lock; ``state`` keeps the function and the execution engine
    that owns its machine code. With ``optimize`` the module first runs LLVM's ``O3`` IR
    pipeline (inlining, instruction combining; IR without fast-math flags keeps its
    floating-point operations as written), else only code generation's own optimisation."""
    if "fn" not in state:
        with _LOCK:
            if "fn" not in state:
                state["fn"] = _compile(state, ir, name, argtypes, features, what, instead,
                                       optimize)
    return state["fn"]


def function_address(fn) -> int:
    """The machine-code address of a ctypes function of :func:`compiled_function`."""
    return int(ctypes.cast(fn, ctypes.c_void_p).value)


def call_void(addr, args) -> None:
    """Inside Numba-compiled code: call the function at address ``addr``
    (:func:`function_address`) with the tuple ``args`` (int64, int32, float64 and array
    addresses ``a.ctypes.data``, in the function's order and types), returning nothing.
    A call from compiled code costs far less than a ctypes call with many arguments."""
    raise NotImplementedError("call_void runs in Numba-compiled code only")


@intrinsic
def _call_void(typingctx, addr, args):
    if not (isinstance(addr, types.Integer) and isinstance(args, types.BaseTuple)):
        return None
    sig = types.void(addr, args)

    def codegen(context, builder, signature, llargs):
        vals = cgutils.unpack_tuple(builder, llargs[1])
        fnty = llir.FunctionType(llir.VoidType(), [v.type for v in vals])
        builder.call(builder.inttoptr(llargs[0], fnty.as_pointer()), vals)
        return context.get_dummy_value()

    return sig, codegen


@overload(call_void, inline="always")
def _call_void_impl(addr, args):
    def impl(addr, args):
        _call_void(addr, args)

    return impl


def _compile(state, ir, name, argtypes, features, what, instead, optimize=False):
    try:
        return _build(state, ir, name, argtypes, features, optimize)
    except Exception as exc:   # any failure: the caller's other path, not a broken kernel
        state.pop("engine", None)
        warnings.warn(f"cimsim: {what} did not compile ({type(exc).__name__}: {exc}); using "
                      f"{instead} instead", RuntimeWarning, stacklevel=4)
        return None


def _build(state, ir, name, argtypes, features, optimize=False):
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    host = llvm.get_host_cpu_features()
    if tuple(llvm.llvm_version_info) < LLVM_MIN or not all(host.get(f) for f in features):
        return None
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=host.flatten(), opt=3)
    mod = llvm.parse_assembly(ir())
    mod.verify()
    if optimize:
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
        pb.getModulePassManager().run(mod, pb)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    state["engine"] = engine
    return ctypes.CFUNCTYPE(None, *argtypes)(engine.get_function_address(name))
