r"""The SAR look-up read-out of :mod:`cimsim.tile.readout` as one LLVM IR kernel (AVX-512).

:func:`cimsim.tile.readout._read_sar_py` converts each vector in Numba passes over its
columns. The kernel here runs the same arithmetic over chunks of :data:`CH` columns in passes
whose scratch stays in the L1 cache: vector passes of :data:`W` columns with the arithmetic,
and scalar passes with the table look-ups (one load each: vector gathers are slower than
scalar loads on some cores, AMD Zen 4 among them):

1. (vector) the draw bits ``h = L(L(col ⊕ lo) ⊕ hi)`` of each conversion's one normal (read,
   sampling and input-referred comparator noise;
   :func:`device_models.ziggurat.fill_row_normals`);
2. (scalar) their ziggurat layer words;
3. (vector) the core values ``z`` (a draw outside its core finished exactly, see below), the
   ADC input ``x = h0 + μ·g + sqrt(s² + max(σ², 0)·g²)·z − offset`` and the guess
   ``g = clip(floor((x − e0)·inv_w), 0, M − 2)``;
4. (scalar) the code ``c = g + [x ≥ E_{g+1}]``;
5. (vector) the shift-add ``(c − half)·coef`` into the output row; then (scalar) the
   switching energy ``e_flat[ebase + c]`` in the four partial sums of
   :func:`cimsim.tile.readout._code_energy_rows`.

Every floating-point operation is the Numba passes' own, in the same order and precision (IR
``fmul``/``fadd`` without fast-math flags: no contraction into FMA, no reassociation), so the
results are bitwise those of the passes. A draw outside its ziggurat core (about 0.23 % of
draws) is finished by a call of :func:`device_models.ziggurat._slow` (a Numba C callback)
with the stream counter the passes use, in a branch that groups without such draws skip.

Only where :mod:`cimsim.kernels._llvm` compiles it (AVX-512F/BW/DQ/VL cores, not with
``CIMSIM_FORCE_BLAS=1``): elsewhere the passes run.

References
----------
.. [1] G. Marsaglia and W. W. Tsang, "The ziggurat method for generating random variables",
   J. Stat. Softw. 5(8), 2000. doi:10.18637/jss.v005.i08
.. [2] Intel 64 and IA-32 Architectures Software Developer's Manual, vol. 2 (VPCMPD, masked
   loads and stores).
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from device_models import rng as _rng
from device_models import ziggurat as _zig

from . import _llvm

__all__ = ["CH", "W", "kernel_available"]

#: Columns per vector step (float64 lanes of one 512-bit register) [-].
W = 8
#: Columns per chunk: the scratch of the passes over one chunk stays in the L1 cache [-].
CH = 64

_FEATURES = ("avx512f", "avx512bw", "avx512dq", "avx512vl")
_STATES: dict = {}
_SLOW: dict = {}
_SLOW_LOCK = threading.Lock()

#: The kernel's arguments (LLVM type, name); rows ``b0 … b1 − 1``; addresses as i64.
_SIG = [("i64", n) for n in ("b0", "b1", "n_s", "mean", "ldm", "var", "ldv", "gain", "s2",
                             "off", "e0", "inv_w", "lbase", "coef", "levels", "e_flat", "ebase",
                             "words", "keys", "active", "slow_fn", "sample0", "n_planes",
                             "plane")] + [
    ("i32", n) for n in ("skip", "assign", "col0")] + [
    ("double", n) for n in ("h0", "g_top", "half")] + [
    ("i64", n) for n in ("out", "ldo", "e_out")]
_PTRS = {"mean", "var", "gain", "s2", "off", "e0", "inv_w", "lbase", "coef", "levels",
         "e_flat", "ebase", "words", "keys", "active", "slow_fn", "out", "e_out"}
_C = {"i64": ctypes.c_int64, "i32": ctypes.c_int32, "double": ctypes.c_double}
_ARGS = [_C[t] for t, _ in _SIG]


def kernel_available() -> bool:
    """Whether the kernel runs on this core (and is not forced off)."""
    return kernel(True, True, np.float32) is not None


def kernel(shot: bool, noisy: bool, dtype):
    """The compiled ``sar_read`` for read noise on or off (``shot``), a variance matrix or
    not (``noisy``) and means/variances of ``dtype`` (float32, float64), as a ctypes
    function, or None (use the passes): ``CIMSIM_FORCE_BLAS=1``, a core without AVX-512, or
    a failure to compile. Arguments: see ``_SIG`` and :func:`cimsim.tile.readout`."""
    if _llvm.force_blas():
        return None
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        return None
    key = (bool(shot), bool(noisy) and bool(shot), dt.str)
    state = _STATES.setdefault(key, {})
    mty = "float" if dt == np.float32 else "double"
    return _llvm.compiled_function(state, lambda: _ir(key[0], key[1], mty), "sar_read", _ARGS,
                                   _FEATURES, "the fused SAR read-out kernel",
                                   "the Numba passes", optimize=True)


def slow_draw_address() -> int:
    """Address of a C callback ``float z(uint32 h, uint64 slow_row, uint64 counter)``: the
    exact finish of a draw outside its ziggurat core,
    :func:`device_models.ziggurat._slow` (compiled once per process)."""
    if "addr" not in _SLOW:
        with _SLOW_LOCK:
            if "addr" not in _SLOW:
                import numba

                @numba.cfunc("float32(uint32, uint64, uint64)", cache=True, nopython=True)
                def _slow_c(h, slow_row, counter):  # pragma: no cover - runs as machine code
                    return _zig._slow(h, slow_row, counter)

                _SLOW["cfunc"] = _slow_c
                _SLOW["addr"] = int(_slow_c.address)
    return _SLOW["addr"]


# --- IR generator ---------------------------------------------------------------------------


def _v(t: str, w: int = W) -> str:
    return f"<{w} x {t}>"


def _const(t: str, v, w: int = W) -> str:
    return f"<{', '.join(f'{t} {v}' for _ in range(w))}>"


def _iota(w: int = W) -> str:
    return f"<{', '.join(f'i32 {i}' for i in range(w))}>"


class _B:
    """IR lines with fresh value names, the block being written, and the lanes ``w`` of the
    vector steps (:data:`W` unless given); :meth:`v`, :meth:`const`, :meth:`iota` are
    :func:`_v`, :func:`_const`, :func:`_iota` of that width."""

    def __init__(self, w: int = W):
        self.w = w          # lanes of the vector steps
        self.lines: list[str] = []
        self.n = 0
        self.block = "entry"

    def __call__(self, rhs: str) -> str:
        self.n += 1
        v = f"%t{self.n}"
        self.lines.append(f"  {v} = {rhs}")
        return v

    def v(self, t: str) -> str:
        return _v(t, self.w)

    def const(self, t: str, v) -> str:
        return _const(t, v, self.w)

    def iota(self) -> str:
        return _iota(self.w)

    def fresh(self, stem: str) -> str:
        self.n += 1
        return f"{stem}{self.n}"

    def raw(self, *lines: str) -> None:
        for line in lines:
            self.lines.append(line)
            if line.endswith(":") and not line.startswith(" "):
                self.block = line[:-1]

    def splat(self, t: str, v: str) -> str:
        ins = self(f"insertelement {self.v(t)} poison, {t} {v}, i64 0")
        return self(f"shufflevector {self.v(t)} {ins}, {self.v(t)} poison, "
                    f"{self.v('i32')} zeroinitializer")

    def vload(self, t: str, base: str, off: str, mask: str | None = None) -> str:
        """``w`` elements of type ``t`` from ``base + off`` (masked: zero in the lanes off)."""
        p = self(f"getelementptr {t}, ptr {base}, i64 {off}")
        if mask is None or mask == _all_lanes(self):
            return self(f"load {self.v(t)}, ptr {p}, align 4")
        sfx = {"double": "f64", "float": "f32", "i64": "i64", "i32": "i32"}[t]
        return self(f"call {self.v(t)} @llvm.masked.load.v{self.w}{sfx}.p0(ptr {p}, i32 1, "
                    f"{self.v('i1')} {mask}, {self.v(t)} zeroinitializer)")

    def vstore(self, t: str, val: str, base: str, off: str, mask: str | None = None) -> None:
        p = self(f"getelementptr {t}, ptr {base}, i64 {off}")
        if mask is None or mask == _all_lanes(self):
            self.raw(f"  store {self.v(t)} {val}, ptr {p}, align 4")
        else:
            self.raw(f"  call void @llvm.masked.store.v{self.w}f64.p0({self.v(t)} {val}, ptr {p}, "
                     f"i32 1, {self.v('i1')} {mask})")

    def sload(self, t: str, base: str, idx: str) -> str:
        p = self(f"getelementptr {t}, ptr {base}, i64 {idx}")
        return self(f"load {t}, ptr {p}")

    def sstore(self, t: str, val: str, base: str, idx: str) -> None:
        p = self(f"getelementptr {t}, ptr {base}, i64 {idx}")
        self.raw(f"  store {t} {val}, ptr {p}")


def _lowbias(b: _B, x: str) -> str:
    i32 = b.v("i32")
    x = b(f"xor {i32} {x}, " + b(f"lshr {i32} {x}, {b.const('i32', 16)}"))
    x = b(f"mul {i32} {x}, {b.const('i32', _s32(int(_zig._M1)))}")
    x = b(f"xor {i32} {x}, " + b(f"lshr {i32} {x}, {b.const('i32', 15)}"))
    x = b(f"mul {i32} {x}, {b.const('i32', _s32(int(_zig._M2)))}")
    return b(f"xor {i32} {x}, " + b(f"lshr {i32} {x}, {b.const('i32', 16)}"))


def _bits32(b: _B, lo: str, hi: str, col: str) -> str:
    """:func:`device_models.ziggurat._bits32` on W lanes."""
    i32 = b.v("i32")
    return _lowbias(b, b(f"xor {i32} " + _lowbias(b, b(f"xor {i32} {col}, {lo}")) + f", {hi}"))


def _core(b: _B, h: str, w: str) -> tuple[str, str]:
    """(float32 core value, accepted) of draw bits ``h`` with layer word ``w``
    (:func:`device_models.ziggurat._core_of_word`)."""
    i32, i64, f32 = b.v("i32"), b.v("i64"), b.v("float")
    scale = b(f"bitcast {i32} " + b(f"trunc {i64} {w} to {i32}") + f" to {f32}")
    bound = b(f"bitcast {i32} " + b(f"trunc {i64} " + b(f"lshr {i64} {w}, {b.const('i64', 32)}")
                                     + f" to {i32}") + f" to {f32}")
    q = b(f"sitofp {i32} " + b(f"or {i32} " + b(f"shl {i32} " + b(
        f"lshr {i32} {h}, {b.const('i32', 12)}") + f", {b.const('i32', 1)}")
        + f", {b.const('i32', 1)}") + f" to {f32}")
    sgn = b(f"uitofp {i32} " + b(f"and {i32} " + b(f"lshr {i32} {h}, {b.const('i32', 11)}")
                                 + f", {b.const('i32', 1)}") + f" to {f32}")
    fac = b(f"fsub {f32} {b.const('float', '1.0')}, "
            + b(f"fmul {f32} {b.const('float', '2.0')}, {sgn}"))
    z = b(f"fmul {f32} " + b(f"fmul {f32} {q}, {scale}") + f", {fac}")
    return z, b(f"fcmp olt {f32} {q}, {bound}")


def _finish(b: _B, z: str, need: str, h: str, slow_row: str, counter) -> str:
    """``z`` with the lanes ``need`` replaced by the exact finish of their draws (bits ``h``)
    by the slow-path callback; ``counter(lane)`` emits the lane's stream counter (i64). The
    loop over the lanes runs only where a lane needs it."""
    f32, i1 = b.v("float"), b.v("i1")
    tag = b.fresh("f")
    start = b.block
    anyl = b(f"call i1 @llvm.vector.reduce.or.v{b.w}i1({i1} {need})")
    b.raw(f"  br i1 {anyl}, label %{tag}_loop, label %{tag}_end",
          f"{tag}_loop:",
          f"  %{tag}_i = phi i32 [0, %{start}], [%{tag}_in, %{tag}_next]",
          f"  %{tag}_z = phi {f32} [{z}, %{start}], [%{tag}_zn, %{tag}_next]")
    lane_need = b(f"extractelement {i1} {need}, i32 %{tag}_i")
    b.raw(f"  br i1 {lane_need}, label %{tag}_call, label %{tag}_next", f"{tag}_call:")
    hl = b(f"extractelement {b.v('i32')} {h}, i32 %{tag}_i")
    cnt = counter(f"%{tag}_i")
    zs = b(f"call float %slow_fn(i32 {hl}, i64 {slow_row}, i64 {cnt})")
    zi = b(f"insertelement {f32} %{tag}_z, float {zs}, i32 %{tag}_i")
    b.raw(f"  br label %{tag}_next",
          f"{tag}_next:",
          f"  %{tag}_zn = phi {f32} [%{tag}_z, %{tag}_loop], [{zi}, %{tag}_call]",
          f"  %{tag}_in = add i32 %{tag}_i, 1",
          f"  %{tag}_more = icmp ult i32 %{tag}_in, {b.w}",
          f"  br i1 %{tag}_more, label %{tag}_loop, label %{tag}_done",
          f"{tag}_done:",
          f"  br label %{tag}_end",
          f"{tag}_end:",
          f"  %{tag}_zf = phi {f32} [{z}, %{start}], [%{tag}_zn, %{tag}_done]")
    return f"%{tag}_zf"


def _vec_loop(b: _B, name: str, nxt: str, body) -> None:
    """A loop over the chunk's ``%nf`` whole groups of W columns, then its partial group if
    any; ``body(off, j, mask)`` emits one (``off`` within the chunk, ``j`` the global column,
    ``mask`` the lanes in the row: :func:`_all_lanes` in a whole group, whose loads and
    stores are then plain ones)."""
    prev = b.block
    b.raw(f"  br i1 %any_full, label %{name}, label %{name}_t0", f"{name}:",
          f"  %{name}_g = phi i64 [0, %{prev}], [%{name}_gn, %{name}_latch]")
    off = b(f"mul i64 %{name}_g, {b.w}")
    body(off, b(f"add i64 %j0, {off}"), _all_lanes(b))
    b.raw(f"  br label %{name}_latch", f"{name}_latch:",
          f"  %{name}_gn = add i64 %{name}_g, 1",
          f"  %{name}_more = icmp ult i64 %{name}_gn, %nf",
          f"  br i1 %{name}_more, label %{name}, label %{name}_t0",
          f"{name}_t0:",
          f"  br i1 %any_part, label %{name}_t, label %{nxt}",
          f"{name}_t:")
    rem = b.splat("i32", b("sub i32 %nc32, " + b("trunc i64 %off_part to i32")))
    body("%off_part", b("add i64 %j0, %off_part"),
         b(f"icmp slt {b.v('i32')} {b.iota()}, {rem}"))
    b.raw(f"  br label %{nxt}", f"{nxt}:")


def _all_lanes(b: _B) -> str:
    """The mask of all lanes."""
    return b.const("i1", "true")


#: Metadata of the look-up loops: not vectorised into gathers.
_LOOP_MD = {"l1": 1, "l2": 2}


def _scalar_loop(b: _B, name: str, nxt: str, body) -> None:
    """A loop over the chunk's ``%nc`` columns; ``body(i)`` emits one (``i`` in the chunk)."""
    prev = b.block
    b.raw(f"  br label %{name}", f"{name}:",
          f"  %{name}_i = phi i64 [0, %{prev}], [%{name}_in, %{name}]")
    body(f"%{name}_i")
    b.raw(f"  %{name}_in = add i64 %{name}_i, 1",
          f"  %{name}_more = icmp ult i64 %{name}_in, %nc",
          f"  br i1 %{name}_more, label %{name}, label %{nxt}, !llvm.loop !{_LOOP_MD[name]}",
          f"{nxt}:")


def _lanes(b: _B, j: str) -> str:
    """The columns ``j, j + 1, …`` of a group's lanes (i32)."""
    return b(f"add {b.v('i32')} " + b.splat("i32", b(f"trunc i64 {j} to i32")) + f", {b.iota()}")


def _draw_passes(b: _B) -> None:
    """Passes 1 and 2 of a chunk: the read-noise draw bits of its columns into ``%s_h`` (row
    hash halves ``%lo``, ``%hi``, stream columns ``%col0 + j``) and their layer words into
    ``%s_w``; continues at block ``v2p``."""
    def v1(off, j, mask):
        col = b(f"add {b.v('i32')} " + b.splat("i32", "%col0") + f", {_lanes(b, j)}")
        b.vstore("i32", _bits32(b, b.splat("i32", "%lo"), b.splat("i32", "%hi"), col),
                 "%s_h", off)
    _vec_loop(b, "v1", "l1p", v1)

    def l1(i):
        h = b.sload("i32", "%s_h", i)
        lay = b("zext i32 " + b(f"and i32 {h}, 2047") + " to i64")
        b.sstore("i64", b.sload("i64", "%words", lay), "%s_w", i)
    _scalar_loop(b, "l1", "v2p", l1)


def _read_normals(b: _B, off: str, j: str, mask: str) -> str:
    """The float32 read-noise normals of a group
    (:func:`device_models.ziggurat.fill_row_normals`) from :func:`_draw_passes`' scratch; a
    draw outside its core finished by the callback with the slow row hash ``%slow_rn``."""
    i32, i1 = b.v("i32"), b.v("i1")
    h = b.vload("i32", "%s_h", off)
    z, ok = _core(b, h, b.vload("i64", "%s_w", off))
    need = b(f"and {i1} " + b(f"xor {i1} {ok}, {b.const('i1', 'true')}") + f", {mask}")
    col = b(f"add {i32} " + b.splat("i32", "%col0") + f", {_lanes(b, j)}")

    def counter(lane):      # fill_row_normals: the uint32 column
        return b("zext i32 " + b(f"extractelement {i32} {col}, i32 {lane}") + " to i64")
    return _finish(b, z, need, h, "%slow_rn", counter)


def _shift_add(b: _B, code: str, j: str, mask: str) -> None:
    """``(code − half)·coef`` of a group into the output row ``%orow`` (written with
    ``%asg``, else added): :func:`cimsim.tile.readout._shift_add`'s arithmetic."""
    d = b.v("double")
    val = b(f"fmul {d} " + b(f"fsub {d} " + b(f"sitofp {b.v('i32')} {code} to {d}") + ", "
                             + b.splat("double", "%half")) + ", "
            + b.vload("double", "%coef", j, mask))
    o = b.vload("double", "%orow", j, mask)
    b.vstore("double", b(f"select i1 %asg, {d} {val}, {d} " + b(f"fadd {d} {o}, {val}")),
             "%orow", j, mask)


def _chunk(b: _B, shot: bool, noisy: bool, mty: str) -> None:
    """The passes over one chunk of columns ``%j0 …`` (``%nc`` columns)."""
    d, i64, i32, i1 = b.v("double"), b.v("i64"), b.v("i32"), b.v("i1")

    if shot:
        _draw_passes(b)

    def v2(off, j, mask):
        mv = b.vload(mty, "%mrow", j, mask)
        if mty == "float":
            mv = b(f"fpext {b.v('float')} {mv} to {d}")
        g = b.vload("double", "%gain", j, mask)
        u = b(f"fadd {d} " + b.splat("double", "%h0") + ", " + b(f"fmul {d} {mv}, {g}"))
        if shot:
            z = _read_normals(b, off, j, mask)
            var = b.vload("double", "%s2", j, mask)
            if noisy:
                vv = b.vload(mty, "%vrow", j, mask)
                if mty == "float":
                    vv = b(f"fpext {b.v('float')} {vv} to {d}")
                neg = b(f"fcmp ogt {d} zeroinitializer, {vv}")     # Numba's max(vv, 0.0)
                vv = b(f"select {i1} {neg}, {d} zeroinitializer, {d} {vv}")
                var = b(f"fadd {d} {var}, " + b(f"fmul {d} {vv}, " + b(f"fmul {d} {g}, {g}")))
            sd = b(f"call {d} @llvm.sqrt.v{b.w}f64({d} {var})")
            u = b(f"fadd {d} {u}, " + b(f"fmul {d} {sd}, "
                                        + b(f"fpext {b.v('float')} {z} to {d}")))
        x = b(f"fsub {d} {u}, " + b.vload("double", "%off", j, mask))
        e0 = b.vload("double", "%e0", j, mask)
        iw = b.vload("double", "%inv_w", j, mask)
        qf = b(f"call {d} @llvm.floor.v{b.w}f64({d} "
               + b(f"fmul {d} " + b(f"fsub {d} {x}, {e0}") + f", {iw}") + ")")
        qf = b(f"select {i1} " + b(f"fcmp ogt {d} {qf}, zeroinitializer")
               + f", {d} {qf}, {d} zeroinitializer")
        gt = b.splat("double", "%g_top")
        qf = b(f"select {i1} " + b(f"fcmp olt {d} {qf}, {gt}") + f", {d} {qf}, {d} {gt}")
        qi = b(f"fptosi {d} {qf} to {i64}")
        b.vstore("double", x, "%s_x", off)
        b.vstore("i64", b(f"add {i64} " + b.vload("i64", "%lbase", j, mask) + f", {qi}"),
                 "%s_k", off)
        b.vstore("i32", b(f"trunc {i64} {qi} to {i32}"), "%s_q", off)
    _vec_loop(b, "v2", "l2p", v2)

    def l2(i):
        x = b.sload("double", "%s_x", i)
        mid = b.sload("double", "%levels", b("add i64 " + b.sload("i64", "%s_k", i) + ", 1"))
        up = b(f"fcmp oge double {x}, {mid}")
        b.sstore("i32", b("add i32 " + b.sload("i32", "%s_q", i) + ", "
                          + b(f"zext i1 {up} to i32")), "%s_c", i)
    _scalar_loop(b, "l2", "v3p", l2)

    def v3(off, j, mask):
        _shift_add(b, b.vload("i32", "%s_c", off), j, mask)
    _vec_loop(b, "v3", "l3p", v3)

    def en(i):
        idx = b("add i64 " + b.sload("i64", "%ebase", b(f"add i64 %j0, {i}")) + ", "
                + b("sext i32 " + b.sload("i32", "%s_c", i) + " to i64"))
        return b("fpext float " + b.sload("float", "%e_flat", idx) + " to double")
    _energy_sums(b, en)


def _energy_sums(b: _B, en) -> None:
    """The energy of a chunk's codes (``en(i)`` emits the energy of its column ``i``, double)
    added to the row's four partial sums ``%acc0 … %acc3`` into ``%nacc0 … %nacc3`` at block
    ``chunk_end``, as :func:`cimsim.tile.readout._code_energy` sums: a chunk is whole quads,
    so column j goes to sum j mod 4 as in the row; the last chunk's columns past its last
    whole quad go to the first sum."""
    prev = b.block
    b.raw("  %nc4 = and i64 %nc, -4",
          "  %has4 = icmp ugt i64 %nc4, 0",
          "  br i1 %has4, label %e4, label %e4_done",
          "e4:",
          f"  %e4i = phi i64 [0, %{prev}], [%e4in, %e4]")
    for q in range(4):
        b.raw(f"  %ea{q} = phi double [%acc{q}, %{prev}], [%eb{q}, %e4]")
    for q in range(4):
        b.raw(f"  %eb{q} = fadd double %ea{q}, " + en(b(f"add i64 %e4i, {q}")))
    b.raw("  %e4in = add i64 %e4i, 4",
          "  %e4more = icmp ult i64 %e4in, %nc4",
          "  br i1 %e4more, label %e4, label %e4_done",
          "e4_done:")
    for q in range(4):
        b.raw(f"  %ec{q} = phi double [%acc{q}, %{prev}], [%eb{q}, %e4]")
    b.raw("  %has1 = icmp ult i64 %nc4, %nc",
          "  br i1 %has1, label %e1, label %chunk_end",
          "e1:",
          "  %e1i = phi i64 [%nc4, %e4_done], [%e1in, %e1]",
          "  %ed = phi double [%ec0, %e4_done], [%edn, %e1]")
    b.raw(f"  %edn = fadd double %ed, {en('%e1i')}",
          "  %e1in = add i64 %e1i, 1",
          "  %e1more = icmp ult i64 %e1in, %nc",
          "  br i1 %e1more, label %e1, label %chunk_end",
          "chunk_end:",
          "  %nacc0 = phi double [%ec0, %e4_done], [%edn, %e1]",
          "  %nacc1 = phi double [%ec1, %e4_done], [%ec1, %e1]",
          "  %nacc2 = phi double [%ec2, %e4_done], [%ec2, %e1]",
          "  %nacc3 = phi double [%ec3, %e4_done], [%ec3, %e1]")


def _row_hash(name: str, key: str, row: str) -> list[str]:
    """IR of ``%name = rng.hash_at(key, row)`` (:mod:`device_models.rng`: two rounds of the
    SplitMix64 finaliser)."""
    def mix(src, tag):
        return [f"  %{tag}a = lshr i64 {src}, 30", f"  %{tag}b = xor i64 {src}, %{tag}a",
                f"  %{tag}c = mul i64 %{tag}b, {_s64(_rng._M1)}",
                f"  %{tag}d = lshr i64 %{tag}c, 27", f"  %{tag}e = xor i64 %{tag}c, %{tag}d",
                f"  %{tag}f = mul i64 %{tag}e, {_s64(_rng._M2)}",
                f"  %{tag}g = lshr i64 %{tag}f, 31", f"  %{tag} = xor i64 %{tag}f, %{tag}g"]
    return [f"  %{name}_m = mul i64 {row}, {_s64(_rng._GOLDEN)}",
            f"  %{name}_s = add i64 {key}, %{name}_m",
            *mix(f"%{name}_s", f"{name}_x"),
            f"  %{name}_y = xor i64 %{name}_x, {key}",
            *mix(f"%{name}_y", f"{name}_z"),
            f"  %{name} = add i64 %{name}_z, 0"]


def _s64(u: int) -> int:
    """A 64-bit constant as LLVM's signed literal."""
    return u - (1 << 64) if u >= 1 << 63 else u


def _s32(u: int) -> int:
    """A 32-bit constant as LLVM's signed literal."""
    return u - (1 << 32) if u >= 1 << 31 else u


_SCRATCH = (("s_h", "i32"), ("s_w", "i64"), ("s_x", "double"), ("s_k", "i64"), ("s_q", "i32"),
            ("s_c", "i32"))


def _read_module(name: str, sig: list, ptrs: set, scratch, decls: list[str],
                 setup: list[str], row_setup: list[str], chunk, w: int = W,
                 ch: int = CH) -> str:
    """The IR module of a read-out kernel ``name(sig…)`` over rows ``%b0 … %b1 − 1``.

    Per row ``b``: with ``%skip`` and ``active[b] == 0`` no conversion (with ``%assign`` the
    output row and energy zeroed); else ``%mrow``, ``%vrow`` (rows of ``%mean``, ``%var``,
    strides ``%ldm``, ``%ldv`` in bytes), the stream row ``%row_n = (sample0 + b)·n_planes +
    plane`` and the lines ``row_setup``, then ``chunk(b)`` for each chunk of ``ch``
    columns ``%j0 …`` (``%nc`` columns, ``%nf`` whole groups of ``w`` lanes; the chunk's
    energy added to the partial sums ``%acc*`` into ``%nacc*`` at block ``chunk_end``), and
    the row's energy ``(acc0 + acc1) + (acc2 + acc3)`` written (``%assign``) or added to
    ``e_out[b]``.
    ``ptrs`` names the arguments that are addresses, ``scratch`` the (name, type) of the
    chunk's scratch arrays, ``setup`` the entry block's own lines."""
    b = _B(w)
    b.raw(*decls,
          f"define void @{name}(" + ", ".join(f"{t} %{n}{'_a' if n in ptrs else ''}"
                                              for t, n in sig) + ") {",
          "entry:",
          *[f"  %{n} = inttoptr i64 %{n}_a to ptr" for n in sorted(ptrs)])
    for sname, t in scratch:
        b.raw(f"  %{sname} = alloca {t}, i64 {ch}, align 64")
    b.raw(*setup,
          "  %asg = icmp ne i32 %assign, 0",
          "  %do_skip = icmp ne i32 %skip, 0",
          "  %any_row = icmp ult i64 %b0, %b1",
          "  br i1 %any_row, label %row, label %exit",
          "row:",
          "  %b = phi i64 [%b0, %entry], [%bn, %row_end]",
          "  %ob = mul i64 %b, %ldo",
          "  %orow = getelementptr double, ptr %out, i64 %ob",
          "  %pe = getelementptr double, ptr %e_out, i64 %b",
          "  br i1 %do_skip, label %chk, label %go",
          "chk:",
          "  %pa = getelementptr i32, ptr %active, i64 %b",
          "  %act = load i32, ptr %pa",
          "  %idle = icmp eq i32 %act, 0",
          "  br i1 %idle, label %idle_row, label %go",
          "idle_row:",          # no row driven: nothing converted (assign: zeros)
          "  br i1 %asg, label %zero, label %row_end",
          "zero:",
          "  %zj = phi i64 [0, %idle_row], [%zjn, %zero]",
          "  %pz = getelementptr double, ptr %orow, i64 %zj",
          "  store double 0.0, ptr %pz",
          "  %zjn = add i64 %zj, 1",
          "  %zmore = icmp ult i64 %zjn, %n_s",
          "  br i1 %zmore, label %zero, label %zero_done",
          "zero_done:",
          "  store double 0.0, ptr %pe",
          "  br label %row_end",
          "go:",
          "  %mo = mul i64 %b, %ldm",
          "  %mrow = getelementptr i8, ptr %mean, i64 %mo",
          "  %vo = mul i64 %b, %ldv",
          "  %vrow = getelementptr i8, ptr %var, i64 %vo",
          "  %rsum = add i64 %sample0, %b",
          "  %rmul = mul i64 %rsum, %n_planes",
          "  %row_n = add i64 %rmul, %plane",
          *row_setup,
          "  br label %chunk",
          "chunk:",
          "  %j0 = phi i64 [0, %go], [%j0n, %chunk_end]",
          *[f"  %acc{q} = phi double [0.0, %go], [%nacc{q}, %chunk_end]" for q in range(4)],
          "  %ncr = sub i64 %n_s, %j0",
          f"  %ncs = icmp slt i64 %ncr, {ch}",
          f"  %nc = select i1 %ncs, i64 %ncr, i64 {ch}",
          "  %nc32 = trunc i64 %nc to i32",
          f"  %nf = udiv i64 %nc, {w}",
          "  %any_full = icmp ugt i64 %nf, 0",
          f"  %off_part = mul i64 %nf, {w}",
          "  %any_part = icmp ult i64 %off_part, %nc")
    chunk(b)
    b.raw(f"  %j0n = add i64 %j0, {ch}",
          "  %cmore = icmp ult i64 %j0n, %n_s",
          "  br i1 %cmore, label %chunk, label %row_done",
          "row_done:",
          "  %e01 = fadd double %nacc0, %nacc1",
          "  %e23 = fadd double %nacc2, %nacc3",
          "  %etot = fadd double %e01, %e23",
          "  %eold = load double, ptr %pe",
          "  %esum = fadd double %eold, %etot",
          "  %enew = select i1 %asg, double %etot, double %esum",
          "  store double %enew, ptr %pe",
          "  br label %row_end",
          "row_end:",
          "  %bn = add i64 %b, 1",
          "  %bmore = icmp ult i64 %bn, %b1",
          "  br i1 %bmore, label %row, label %exit",
          "exit:",
          "  ret void",
          "}",
          "!0 = !{!\"llvm.loop.vectorize.enable\", i1 false}",
          *[f"!{m} = distinct !{{!{m}, !0}}" for m in _LOOP_MD.values()])
    return "\n".join(b.lines)


def _common_decls(*types: str, w: int = W) -> list[str]:
    """Declarations of the masked loads of ``w`` elements of ``types``, the masked store of
    ``w`` doubles and the lane reduction of :func:`_finish`."""
    sfx = {"double": "f64", "float": "f32", "i64": "i64", "i32": "i32"}
    i1 = _v("i1", w)
    return [f"declare {_v(t, w)} @llvm.masked.load.v{w}{sfx[t]}.p0(ptr, i32, {i1}, {_v(t, w)})"
            for t in types] + [
        f"declare void @llvm.masked.store.v{w}f64.p0({_v('double', w)}, ptr, i32, {i1})",
        f"declare i1 @llvm.vector.reduce.or.v{w}i1({i1})"]


def _ir(shot: bool, noisy: bool, mty: str) -> str:
    """The module of ``sar_read`` (see the module docstring)."""
    d = _v("double")
    decls = [*_common_decls("double", "float", "i64"),
             f"declare {d} @llvm.sqrt.v{W}f64({d})",
             f"declare {d} @llvm.floor.v{W}f64({d})"]
    setup = [line for q in (0, 1) for line in (
        f"  %pk{q} = getelementptr i64, ptr %keys, i64 {q}", f"  %k{q} = load i64, ptr %pk{q}")]
    row_setup = [*_row_hash("rbits", "%k0", "%row_n"),
                 "  %lo = trunc i64 %rbits to i32",
                 "  %rbh = lshr i64 %rbits, 32",
                 "  %hi = trunc i64 %rbh to i32",
                 *_row_hash("slow_rn", "%k1", "%row_n")]
    return _read_module("sar_read", _SIG, _PTRS, _SCRATCH, decls, setup, row_setup,
                        lambda b: _chunk(b, shot, noisy, mty))
