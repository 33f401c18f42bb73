r"""bfloat16 GEMM with float32 sums: the tiles' read-noise variance GEMM.

The variance identity of the read-out (:mod:`cimsim.readout`) needs ``σ² = v² @ Σ²`` for
every vector, a second GEMM as large as the signal one, but only to the precision of a noise
amplitude. In float32 mode the tiles take it with both operands rounded to bfloat16 (8
significant bits, round to nearest even) and the products summed in float32:

.. math:: \tilde\sigma^2_j = \sum_i \mathrm{bf16}(v_i^2\, 2^{-e})\;
          \mathrm{bf16}(\Sigma^2_{ij}\, 2^{e}) \quad [\mathrm{A^2}]

where the power of two ``2^e`` halves the binary exponent of ``max Σ²`` (exact), so that both
operands are normal numbers wherever their products are (bfloat16 kernels flush subnormals to
zero). Each rounding is within ``u = 2^-8`` relative and
every term is non-negative, so ``|σ̃² − σ²| ≤ (2u + u² + K·2^-23)·σ²`` for ``K`` rows: the
noise amplitude ``σ̃`` is within 0.4 % of ``σ`` at worst (``K ≤ 2048``), and typically within
``u/√(3K)`` ≈ 0.01 % since the roundings of the many terms average out; both are far inside
what a device card knows of its read noise [2]_.

On cores with AVX-512 BF16 (``vdpbf16ps``: 32 products per instruction, twice the float32 FMA
rate [1]_) the product runs on a kernel written here in LLVM IR and compiled by llvmlite
(Numba's code generator): an 8 × 32 register block of float32 sums over pairs of rows, with
``A`` and ``B`` packed as pairs of bfloat16 along ``K``. Elsewhere, and with the NumPy
backend, it is a float32 BLAS GEMM of the same rounded operands, so the numbers agree to the
float32 rounding of the sums on every machine.

References
----------
.. [1] Intel, "BFLOAT16 - Hardware Numerics Definition", white paper 338302-001 (2018)
   (the format, round to nearest even, VDPBF16PS).
.. [2] D. Ielmini and H.-S. P. Wong, "In-memory computing with resistive switching devices",
   Nature Electronics 1, 333-343 (2018). doi:10.1038/s41928-018-0092-2 (read-noise spread of
   RRAM cells).
"""

from __future__ import annotations

import ctypes
import dataclasses
import threading

import numpy as np

from device_models._jit import backend, jit

from .parallel import workspace

__all__ = ["PackedMatrix", "kernel_available", "matmul", "pack", "round_bf16"]

#: Register block of the kernel: rows of ``A`` × columns of ``B`` per call [-].
MR, NR = 8, 32
#: Row pairs of ``K`` per pass over a packed panel of ``B`` (256 pairs = 32 KiB of ``B``,
#: one core's L1 data cache) [-].
KC = 256


@dataclasses.dataclass(frozen=True, eq=False)
class PackedMatrix:
    """The ``B`` operand of :func:`matmul`, rounded and packed once.

    Attributes
    ----------
    k, n : int
        Shape of the original matrix [-].
    exp : int
        ``e`` of the scale ``2^e`` applied to ``B`` (and ``2^-e`` to ``A``) [-].
    rounded : ndarray, shape (k, n), float32
        ``bf16(B·2^e)`` as float32 (the BLAS path).
    panels : ndarray, shape (ceil(n/32), ceil(k/2), 32, 2), uint16
        The same values as bfloat16 bit patterns, zero-padded, in the kernel's layout.
    """

    k: int
    n: int
    exp: int
    rounded: np.ndarray
    panels: np.ndarray


def round_bf16(x) -> np.ndarray:
    """``x`` rounded to bfloat16 (nearest, ties to even), as float32 [same unit as ``x``]."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    r = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return r.view(np.float32)


def pack(b) -> PackedMatrix:
    """Round and pack a finite, non-negative ``(k, n)`` matrix ``B`` for :func:`matmul`."""
    b = np.asarray(b, dtype=np.float64)
    k, n = b.shape
    top = float(np.max(b)) if b.size else 0.0
    exp = -(int(np.frexp(top)[1]) // 2) if top > 0.0 else 0
    rounded = round_bf16(np.ldexp(b, exp))
    bits = np.zeros((2 * (-(-k // 2)), NR * (-(-n // NR))), dtype=np.uint16)
    bits[:k, :n] = rounded.view(np.uint32) >> np.uint32(16)
    panels = np.ascontiguousarray(
        bits.reshape(bits.shape[0] // 2, 2, bits.shape[1] // NR, NR).transpose(2, 0, 3, 1))
    return PackedMatrix(k, n, exp, rounded, panels)


def matmul(a: np.ndarray, b: PackedMatrix, out: np.ndarray) -> np.ndarray:
    """``out = bf16(a·2^-e) @ bf16(B·2^e)`` with float32 sums (see the module docstring).

    Parameters
    ----------
    a : ndarray, shape (m, k), float32
        Finite, non-negative left operand (``v²``) [V²].
    b : PackedMatrix
        Right operand from :func:`pack` [S²].
    out : ndarray, shape (m, n), float32, C-contiguous
        Receives the product [A²].

    Returns
    -------
    ndarray
        ``out``.
    """
    m = a.shape[0]
    if m == 0 or b.n == 0:
        return out
    if b.k == 0:
        out[...] = 0.0
        return out
    jit_on = backend() == "numba"
    fn = _kernel() if jit_on else None
    scale = np.float32(np.ldexp(1.0, -b.exp))
    if fn is None:
        if not jit_on:
            return np.matmul(round_bf16(a * scale), b.rounded, out=out)
        a_r = workspace("bf16_a32", a.shape, np.float32)
        _round_kernel(a, scale, a_r.view(np.uint32))
        return np.matmul(a_r, b.rounded, out=out)
    nib, kp = -(-m // MR), b.panels.shape[1]
    n_pad = b.panels.shape[0] * NR
    apk = workspace("bf16_a", (nib, kp, MR, 2), np.uint16)
    _pack_a_kernel(a, scale, apk)
    direct = m % MR == 0 and n_pad == b.n and out.flags.c_contiguous
    c = out if direct else workspace("bf16_c", (nib * MR, n_pad), np.float32)
    fn(nib, b.panels.shape[0], kp, apk.ctypes.data, b.panels.ctypes.data, c.ctypes.data, n_pad)
    if not direct:
        out[...] = c[:m, :b.n]
    return out


@jit
def _pack_a_kernel(a, scale, apk):
    """``apk[i // 8, k // 2, i % 8, k % 2]`` = bfloat16 bits of ``a[i, k]·scale`` (nearest,
    ties to even), zero-padded."""
    m, k = a.shape
    nib, kp = apk.shape[0], apk.shape[1]
    row = np.zeros(2 * kp, dtype=np.float32)
    bits = row.view(np.uint32)
    for r in range(nib * MR):
        ib, i = r // MR, r % MR
        if r < m:
            for c in range(k):
                row[c] = np.float32(a[r, c] * scale)
        else:
            row[:] = 0.0
        for c in range(2 * kp):
            u = bits[c]
            apk[ib, c >> 1, i, c & 1] = np.uint16(
                (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))


@jit
def _round_kernel(a, scale, out_bits):
    """``out_bits`` = float32 bits of ``bf16(a·scale)`` (the BLAS path; one pass)."""
    m, k = a.shape
    row = np.zeros(k, dtype=np.float32)
    bits = row.view(np.uint32)
    for r in range(m):
        for c in range(k):
            row[c] = np.float32(a[r, c] * scale)
        for c in range(k):
            u = bits[c]
            out_bits[r, c] = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) \
                & np.uint32(0xFFFF0000)


# --- the AVX-512 BF16 kernel ---------------------------------------------------------------

#: LLVM release whose IR has the ``bfloat`` vector form of ``vdpbf16ps`` used here [-].
LLVM_MIN = (17, 0, 0)

_STATE: dict = {}
_LOCK = threading.Lock()


def kernel_available() -> bool:
    """Whether this core runs the AVX-512 BF16 kernel (else :func:`matmul` uses BLAS)."""
    return _kernel() is not None


def _kernel():
    """The compiled ``gemm`` entry point (a ctypes function; it releases the GIL), or None
    where the core lacks AVX-512 BF16 or llvmlite's LLVM predates :data:`LLVM_MIN`.
    Compiled once per process (~20 ms)."""
    if "fn" in _STATE:
        return _STATE["fn"]
    with _LOCK:
        if "fn" not in _STATE:
            _STATE["fn"] = _compile()
    return _STATE["fn"]


def _compile():
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    features = llvm.get_host_cpu_features()
    if not (features.get("avx512f") and features.get("avx512bw")
            and features.get("avx512bf16")) or llvm.llvm_version_info < LLVM_MIN:
        return None
    tm = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=features.flatten(), opt=3)
    mod = llvm.parse_assembly(_ir())
    mod.verify()
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    _STATE["engine"] = engine          # owns the machine code
    proto = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 3, *[ctypes.c_void_p] * 3,
                             ctypes.c_int64)
    return proto(engine.get_function_address("gemm"))


def _ir() -> str:
    """LLVM IR of ``gemm(nib, njb, kp, A, B, C, ldc)``: ``C[8·nib, 32·njb] = A @ B`` over
    ``kp`` row pairs, ``A`` packed (nib, kp, 8, 2) and ``B`` (njb, kp, 32, 2) as bfloat16,
    ``C`` float32 with row stride ``ldc``."""
    nv = NR // 16
    blk = [(i, v) for i in range(MR) for v in range(nv)]
    dp = "@llvm.x86.avx512bf16.dpbf16ps.512"
    s = [f"declare <16 x float> {dp}(<16 x float>, <32 x bfloat>, <32 x bfloat>)",
         "define internal void @ukr(i64 %kp, ptr noalias %a, ptr noalias %b, ptr noalias %c,"
         " i64 %ldc, i1 %acc) alwaysinline {",
         "entry:"]
    for i, v in blk:     # C block: load (later K passes) or zeros
        s += [f"  %o{i}_{v}a = mul i64 %ldc, {i}",
              f"  %o{i}_{v} = add i64 %o{i}_{v}a, {16 * v}",
              f"  %p{i}_{v} = getelementptr float, ptr %c, i64 %o{i}_{v}",
              f"  %l{i}_{v} = load <16 x float>, ptr %p{i}_{v}, align 4",
              f"  %z{i}_{v} = select i1 %acc, <16 x float> %l{i}_{v}, <16 x float> zeroinitializer"]
    s += ["  br label %loop", "loop:", "  %p = phi i64 [0, %entry], [%pn, %loop]"]
    s += [f"  %s{i}_{v} = phi <16 x float> [%z{i}_{v}, %entry], [%n{i}_{v}, %loop]"
          for i, v in blk]
    for v in range(nv):
        s += [f"  %bi{v}a = mul i64 %p, {nv}",
              f"  %bi{v} = add i64 %bi{v}a, {v}",
              f"  %bq{v} = getelementptr <32 x bfloat>, ptr %b, i64 %bi{v}",
              f"  %b{v} = load <32 x bfloat>, ptr %bq{v}, align 2"]
    for i in range(MR):
        s += [f"  %ai{i}a = mul i64 %p, {MR}",
              f"  %ai{i} = add i64 %ai{i}a, {i}",
              f"  %aq{i} = getelementptr i32, ptr %a, i64 %ai{i}",
              f"  %a{i} = load i32, ptr %aq{i}, align 4",
              f"  %av{i} = insertelement <16 x i32> poison, i32 %a{i}, i64 0",
              f"  %as{i} = shufflevector <16 x i32> %av{i}, <16 x i32> poison,"
              " <16 x i32> zeroinitializer",
              f"  %ab{i} = bitcast <16 x i32> %as{i} to <32 x bfloat>"]
        s += [f"  %n{i}_{v} = call <16 x float> {dp}(<16 x float> %s{i}_{v},"
              f" <32 x bfloat> %ab{i}, <32 x bfloat> %b{v})" for v in range(nv)]
    s += ["  %pn = add i64 %p, 1", "  %more = icmp ult i64 %pn, %kp",
          "  br i1 %more, label %loop, label %done", "done:"]
    s += [f"  store <16 x float> %n{i}_{v}, ptr %p{i}_{v}, align 4" for i, v in blk]
    s += ["  ret void", "}", ""]
    # driver: K passes of KC pairs, then column panels of B, then row panels of A
    s += ["define void @gemm(i64 %nib, i64 %njb, i64 %kp, ptr %a, ptr %b, ptr %c, i64 %ldc) {",
          "entry:", "  br label %kl",
          "kl:", "  %p0 = phi i64 [0, %entry], [%p0n, %kn]",
          "  %rest = sub i64 %kp, %p0",
          f"  %short = icmp ult i64 %rest, {KC}",
          f"  %kc = select i1 %short, i64 %rest, i64 {KC}",
          "  %acc = icmp ne i64 %p0, 0", "  br label %jl",
          "jl:", "  %jb = phi i64 [0, %kl], [%jbn, %jn]",
          "  %bj = mul i64 %jb, %kp", "  %bjp = add i64 %bj, %p0",
          f"  %bo = mul i64 %bjp, {NR * 2}",
          "  %bptr = getelementptr i16, ptr %b, i64 %bo",
          f"  %cj = mul i64 %jb, {NR}", "  br label %il",
          "il:", "  %ib = phi i64 [0, %jl], [%ibn, %il]",
          "  %ai = mul i64 %ib, %kp", "  %aip = add i64 %ai, %p0",
          f"  %ao = mul i64 %aip, {MR}",
          "  %aptr = getelementptr i32, ptr %a, i64 %ao",
          f"  %ci = mul i64 %ib, {MR}", "  %cr = mul i64 %ci, %ldc",
          "  %co = add i64 %cr, %cj", "  %cptr = getelementptr float, ptr %c, i64 %co",
          "  call void @ukr(i64 %kc, ptr %aptr, ptr %bptr, ptr %cptr, i64 %ldc, i1 %acc)",
          "  %ibn = add i64 %ib, 1", "  %imore = icmp ult i64 %ibn, %nib",
          "  br i1 %imore, label %il, label %jn",
          "jn:", "  %jbn = add i64 %jb, 1", "  %jmore = icmp ult i64 %jbn, %njb",
          "  br i1 %jmore, label %jl, label %kn",
          "kn:", f"  %p0n = add i64 %p0, {KC}", "  %kmore = icmp ult i64 %p0n, %kp",
          "  br i1 %kmore, label %kl, label %exit",
          "exit:", "  ret void", "}"]
    return "\n".join(s)
