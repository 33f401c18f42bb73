r"""Line relaxation of a crossbar with nonlinear cells (private engine of
:mod:`cimsim.array.crossbar`, ``method="lines"``).

The network of :mod:`cimsim.array.crossbar`: row wire ``i`` is a chain of nodes
:math:`U_{ij}` driven at its column-0 end through one segment ``r_row``; column wire ``j`` a
chain of nodes :math:`W_{ij}` held at 0 V below its last row through one segment ``r_col``;
cell :math:`(i, j)` carries :math:`I_{ij} = F(g_{ij}, U_{ij} - W_{ij})` from the row to the
column node. Given the cell currents, both wires are known in closed form: a segment carries
the currents of the cells beyond it, so

.. math::

    U_{ij} = v_i - r_{row}\sum_l I_{il}\,(\min(j, l) + 1), \qquad
    W_{ij} = r_{col}\sum_l I_{lj}\,(n_r - \max(i, l)) \quad [V].

**The state is the cell currents** (one float32 per cell and input vector). One *pass* visits
the rows from the top (row 0) down. At row ``i`` the column voltages are taken from the new
currents of the rows above and the previous currents of row ``i`` and below (Gauss-Seidel
over the rows: :math:`W_{ij} = r_{col}[(n_r - i)A_j + B_j - Q_j]` with the running sums
:math:`A_j = \sum_{l<i} I^{new}_{lj}`, :math:`Q_j = \sum_{l<i}(n_r - l)I^{old}_{lj}` and the
previous pass's total :math:`B_j = \sum_l (n_r - l)I^{old}_{lj}`, one running array
:math:`B_j - Q_j` in the kernel), and the row wire is solved
exactly with the cells split into a chord conductance :math:`c_{ij}` and the rest,
:math:`F(g, V) = cV + n(V)`:

.. math::

    \Bigl(\tfrac{2}{r_{row}} + c_{ij}\Bigr) U_{ij} - \tfrac{U_{i,j-1} + U_{i,j+1}}{r_{row}}
        = c_{ij} W_{ij} - n_{ij} \;(+ v_i/r_{row} \text{ at } j = 0)

(one segment fewer at the open far end), one tridiagonal (Thomas) solve with factors computed
once per array, the rest :math:`n` taken at the row voltages the previous currents give
(:math:`U` above, from two running sums along the row) and the new currents
:math:`I = c(U - W) + n`; the row's total current, for the next pass, is the current of its
first segment, :math:`(v_i - U_{i0})/r_{row}`. Without row resistance the row voltages are
the drives and the new currents the law itself. A pass reads and writes the state once; its
two loops along the row run on 16 input vectors at a time as vector instructions (an LLVM
IR kernel with unaliased operands, :mod:`cimsim.kernels._llvm`; the NumPy reference
:func:`_pass_numpy` is the same arithmetic). The first pass starts from the currents of ideal
wires, :math:`F(g_{ij}, v_i)`, whose weighted column totals :math:`B` come from one matrix
product.

**Linear reference.** The same passes on the *linear* network, every cell at its
small-signal conductance :math:`g^{lin}_{ij} = \partial F/\partial V|_0` (``g`` for sinh
cells), are a map linear in the drives: :math:`k` passes from ideal wires give
:math:`v M_k` (:math:`M_0 = g^{lin}`), while that network's exact column currents are
:math:`v G_{eff}` (:mod:`cimsim.array._geff`). Both matrices are formed once per solver
(:math:`M_k` from the passes on each row driven alone), and the column currents reported
after :math:`k` passes are

.. math::

    C_k = A^{(k)} + v\,(G_{eff} - M_k) \quad [A],

the nonlinear passes corrected by the linear passes' known error. The error of
:math:`C_k` is the difference of the two networks' errors after :math:`k` passes, which
differ only through the cells' nonlinearity (:math:`F - g^{lin}V` and the spread of
:math:`\partial F/\partial V` about :math:`g^{lin}`): for 256 × 512 sinh cells (up to 20 µS,
:math:`v_0` = 0.5 V, drives up to 0.2 V) with 1 Ω per pitch, one pass leaves 1.3e-4 of the
column current magnitude where the plain pass leaves 3.3e-3 (two corrected passes: 4e-6).

**Stopping rule and error estimate.** With
:math:`\Delta_k = \max_{j} |C_k - C_{k-1}|_j / s_j` relative to the column's current
magnitude with ideal wires, :math:`s_j = \sum_i |F(g_{ij}, v_i)|`, and the contraction
:math:`\rho`, the largest ratio :math:`\Delta_k / \Delta_{k-1}` seen so far, the remaining
error of the column currents is estimated as :math:`\Delta_k\,\rho/(1-\rho)` (a geometric
series), and the passes stop when that estimate is at most ``rtol`` (only while
:math:`\rho \le` :data:`CONTRACTION`, where the estimate is at most the last change;
:func:`remaining_error`; :attr:`LineSolver.last_info` keeps the estimate). A solver with a
linear reference starts :math:`\rho` at a prior: :data:`PRIOR_MARGIN` times the largest
ratio of :data:`PROBE_PASSES` passes on :data:`GROUP` probe drives uniform in
:math:`\pm v_{max}` (a fixed seed; once per solver), so a group may stop after one pass
(0.14 on the array above, whose groups then stop after one pass with an estimate of
2-5e-4 against a measured error of 1-2e-4); without one, at least two passes run. A
contraction :math:`\rho \ge 1` after :data:`MAX_PASSES` passes raises
:class:`~cimsim.array.crossbar.ConvergenceError`. The contraction per pass is set by how
strongly the column wires couple the rows through the cells (:math:`r_{col}\,g\,n_r^2`) and
by the spread of :math:`\mathrm{d}F/\mathrm{d}V` about :math:`c`: about 0.03 for the plain
passes on the array above. Column currents are summed in float32 (rounding at most
:math:`n_r\,2^{-24}` of :math:`s_j`).

**Cost.** On 256 × 512 cells a pass costs about 0.8 ms per group of 16 input vectors (one
core) when it is the first and writes no state, 1.3-1.7 ms when it reads or writes the
state (8 MB per group): a pass predicted to be the last writes none (the first pass then
reads none either; a group whose first pass falls short runs it again, storing). The tile
MVM of ``ir_drop_nonlinear_tile_mvm`` (batch 256) runs one pass on all but about one group
in sixteen (two on that one) where the plain passes needed two, each writing the state.

The cell law enters as a separable expansion :math:`F(g, V) = \sum_r a_r(g)\,P_r(V)`
(:mod:`cimsim.array.expansion`; a separable law is one term) whose voltage functions
:math:`P_r` are polynomials in :math:`V/V_s` fitted on the cells' voltage range
:math:`\pm V_s`; the fit's measured error adds to the iteration's (an odd law, sinh, has odd
polynomials, evaluated as :math:`V\,Q(V^2)`).

References
----------
.. [1] R. S. Varga, *Matrix Iterative Analysis*, 2nd ed., Springer (2000), ch. 3 (block and
   line Gauss-Seidel iterations for M-matrices). doi:10.1007/978-3-642-05156-2
.. [2] A. Chen, "A comprehensive crossbar array model with solutions for line resistance and
   nonlinear device characteristics", IEEE Trans. Electron Devices 60(4), 1318-1326 (2013).
   doi:10.1109/TED.2013.2246791
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

from device_models._jit import backend

from ..kernels import _llvm
from ..kernels.parallel import workspace

__all__ = ["CONTRACTION", "GROUP", "MAX_PASSES", "LineSolver", "fit_polynomials",
           "kernel_available", "remaining_error"]

#: Input vectors relaxed together (the vector lanes of the kernel) [-].
GROUP = 16
#: Passes allowed per group [-].
MAX_PASSES = 100
#: Largest ratio of consecutive changes from which the remaining error is extrapolated
#: (:func:`remaining_error`; the estimate is then at most the last change) [-].
CONTRACTION = 0.5
#: Largest polynomial degree tried for the voltage functions of the law [-].
MAX_DEGREE = 40
#: Passes of the probe that sets the prior contraction of a solver with a linear reference
#: (:meth:`LineSolver._calibrate`) [-].
PROBE_PASSES = 3
#: Seed of the probe drives [-].
PROBE_SEED = 20261204
#: Factor on the probe's largest ratio of consecutive changes: the prior contraction (the
#: probe drives are not the group's) [-].
PRIOR_MARGIN = 1.25
#: Pass counts whose linear-reference corrections are computed together [-].
LINEAR_PASSES = 3


def remaining_error(delta: float, rho: float) -> float:
    r"""Estimated error left after a pass whose change is ``delta`` (relative) when the passes
    contract by ``rho`` (the largest ratio of consecutive changes seen): the rest of the
    geometric series, :math:`\Delta_k\rho/(1-\rho)` (at most ``delta``), or inf when
    ``rho`` exceeds :data:`CONTRACTION` (the contraction is not regular enough to
    extrapolate) [-]."""
    if rho > CONTRACTION:
        return np.inf
    return delta * rho / (1.0 - rho)


def _tridiag_factors(diag: np.ndarray, off: float) -> tuple[np.ndarray, np.ndarray]:
    """Thomas factors along the last axis of systems ``diag_j x_j + off (x_{j-1} + x_{j+1})``:
    ``inv_j = 1/m_j`` and ``cp_j = off/m_j`` (float64)."""
    n = diag.shape[-1]
    inv = np.empty_like(diag)
    cp = np.empty_like(diag)
    m = diag[..., 0]
    inv[..., 0] = 1.0 / m
    cp[..., 0] = off / m
    for j in range(1, n):
        m = diag[..., j] - off * cp[..., j - 1]
        inv[..., j] = 1.0 / m
        cp[..., j] = off / m
    return inv, cp


def fit_polynomials(basis_fn, v_scale: float, rtol: float) -> tuple[np.ndarray, float]:
    """Monomial coefficients (K, deg + 1), highest first, of polynomials in ``t = V/v_scale``
    fitting the functions ``basis_fn(V) -> (K, n)`` on ``[-v_scale, v_scale]``, and the
    largest error of the fit on a grid twice as fine as the fitting one (in the units of the
    functions). The degree grows until that error is below ``rtol`` of the largest value."""
    from numpy.polynomial import chebyshev as cheb

    t_fit = np.cos(np.pi * (np.arange(257) + 0.5) / 257)          # Chebyshev points
    t_chk = np.linspace(-1.0, 1.0, 1025)
    y_fit = np.atleast_2d(basis_fn(t_fit * v_scale))
    y_chk = np.atleast_2d(basis_fn(t_chk * v_scale))
    top = float(np.max(np.abs(y_chk))) or 1.0
    err = np.inf
    for deg in range(3, MAX_DEGREE + 1):
        c = cheb.chebfit(t_fit, y_fit.T, deg)                      # (deg+1, K)
        mono = np.stack([cheb.cheb2poly(c[:, k]) for k in range(c.shape[1])])
        approx = np.stack([np.polyval(m[::-1], t_chk) for m in mono])
        err = float(np.max(np.abs(approx - y_chk)))
        if err <= rtol * top:
            break
    return np.ascontiguousarray(mono[:, ::-1]), err


# --------------------------------------------------------------------------------------------
# One pass: NumPy reference
# --------------------------------------------------------------------------------------------


def _horner(poly_k: np.ndarray, x: np.ndarray, odd: bool = False) -> np.ndarray:
    """``poly_k`` (highest first) at ``x``; ``odd``: an odd polynomial (every other
    coefficient zero), evaluated as ``x·Q(x²)``."""
    h = np.full_like(x, poly_k[0])
    if odd:
        x2 = x * x
        for q in range(2, poly_k.size, 2):
            h = h * x2 + poly_k[q]
        return h * x
    for q in range(1, poly_k.size):
        h = h * x + poly_k[q]
    return h


def _pass_numpy(first, rowwire, store, vt, poly, coef, csum, gc, gcu, irp, cpr, st, tt, wk,
                bt, ra, rn, gr, rrow, rcol, odd=False):
    r"""One downward pass over the rows (module docstring), float32, on ``GROUP`` lanes.

    ``vt`` (n_r, G) row drives [V]; ``poly`` (K, P) monomials in V, highest first; ``coef``
    (K, n_r, n_c) per-cell coefficients [A]; ``csum`` (K, n_r) their row sums; ``gc`` (n_r,
    n_c) the chord [S]; ``gcu = gc·r_row``, ``irp = g_row/m_j`` and ``cpr = −g_row/m_j`` the
    Thomas factors of the row wires scaled by ``g_row`` (the recurrences carry ``g_row·y`` and
    ``g_row·U``); ``st`` (n_r, n_c, G) the cell currents [A] (read unless ``first``; written
    if ``store``) and ``tt`` (n_r, G) their row sums; ``wk`` (n_c, 2, G) row work; ``bt``
    (n_c, G) the previous currents' column totals :math:`r_{col}\sum_l (n_r - l) I_l` [V],
    consumed: at row ``i`` it holds :math:`B_j - Q_j`, the rows ``l >= i`` of the sum;
    ``ra``, ``rn`` (n_c, G), zeroed: on return the new column currents [A] and the next
    pass's ``bt`` [V]. Scalars
    ``gr = 1/r_row`` [S], ``rrow``, ``rcol`` [ohm] (0: ideal wire)."""
    f32 = np.float32
    n_r, n_c = gc.shape
    n_k = poly.shape[0]
    gr, rrow, rcol = f32(gr), f32(rrow), f32(rcol)
    for i in range(n_r):
        mrc = f32(n_r - i) * rcol
        vrow = vt[i]
        if first:
            pv = [_horner(poly[k], vrow, odd) for k in range(n_k)]
            total = _terms([csum[k, i] for k in range(n_k)], pv)
            old = _terms([coef[k, i][:, None] for k in range(n_k)], [p[None, :] for p in pv])
        else:
            total = tt[i]
            old = st[i].copy()
        w = mrc * ra + bt
        bt -= mrc * old
        if rowwire:
            v1 = np.empty_like(old)
            srun = rrow * total
            vj = vrow
            for j in range(n_c):
                vj = vj - srun
                v1[j] = vj
                srun = srun - rrow * old[j]
        else:
            v1 = np.broadcast_to(vrow, old.shape)
        vc = v1 - w
        f = _terms([coef[k, i][:, None] for k in range(n_k)],
                   [_horner(poly[k], vc, odd) for k in range(n_k)])
        if rowwire:
            z = f - gc[i][:, None] * v1
            y = gr * vrow
            for j in range(n_c):
                y = (y - z[j]) * irp[i, j]
                wk[j, 0], wk[j, 1] = z[j], y
            u = np.zeros_like(vrow)
            new = np.empty_like(old)
            for j in range(n_c - 1, -1, -1):
                u = wk[j, 1] - cpr[i, j] * u
                new[j] = gcu[i, j] * u + wk[j, 0]
            acc = gr * vrow - u      # the row current through its first segment
        else:
            new = f
            acc = np.zeros_like(vrow)
            for j in range(n_c):
                acc = acc + new[j]
        if store:
            st[i] = new
            tt[i] = acc
        ra += new
        rn += mrc * new


def _terms(a: list, b: list) -> np.ndarray:
    """``Σ_k a_k·b_k`` accumulated in the kernel's order (float32)."""
    acc = a[0] * b[0]
    for ak, bk in zip(a[1:], b[1:], strict=True):
        acc = ak * bk + acc
    return acc


# --------------------------------------------------------------------------------------------
# One pass: LLVM IR kernel
# --------------------------------------------------------------------------------------------

_V = f"<{GROUP} x float>"
_PTRS = ("vt", "poly", "coef", "csum", "gc", "gcu", "irp", "cpr", "st", "tt", "wk", "bt", "ra",
         "rn")
_ARGS = ["i64 %n_r", "i64 %n_c"] + [f"ptr noalias %{p}" for p in _PTRS] + [
    "float %gr", "float %rrow", "float %rcol"]
_ARGTYPES = [ctypes.c_int64] * 2 + [ctypes.c_void_p] * len(_PTRS) + [ctypes.c_float] * 3


class _Ir:
    """A small emitter of vector IR lines (``<GROUP x float>`` values)."""

    def __init__(self):
        self.lines: list[str] = []
        self.n = 0

    def __call__(self, line: str) -> None:
        self.lines.append(line)

    def tmp(self) -> str:
        self.n += 1
        return f"%x{self.n}"

    def op(self, code: str, a: str, b: str) -> str:
        r = self.tmp()
        self(f"  {r} = {code} {_V} {a}, {b}")
        return r

    def fma(self, a: str, b: str, c: str) -> str:
        r = self.tmp()
        self(f"  {r} = call {_V} @llvm.fma.v{GROUP}f32({_V} {a}, {_V} {b}, {_V} {c})")
        return r

    def neg(self, a: str) -> str:
        r = self.tmp()
        self(f"  {r} = fneg {_V} {a}")
        return r

    def splat(self, scalar: str) -> str:
        r = self.tmp()
        self(f"  {r}i = insertelement {_V} poison, float {scalar}, i64 0")
        self(f"  {r} = shufflevector {_V} {r}i, {_V} poison, <{GROUP} x i32> zeroinitializer")
        return r

    def gep(self, base: str, index: str) -> str:
        r = self.tmp()
        self(f"  {r} = getelementptr float, ptr %{base}, i64 {index}")
        return r

    def load(self, base: str, index: str) -> str:
        p = self.gep(base, index)
        r = self.tmp()
        self(f"  {r} = load {_V}, ptr {p}, align 4")
        return r

    def store(self, value: str, base: str, index: str) -> None:
        p = self.gep(base, index)
        self(f"  store {_V} {value}, ptr {p}, align 4")

    def scalar(self, base: str, index: str) -> str:
        """Broadcast of the float ``base[index]``."""
        p = self.gep(base, index)
        r = self.tmp()
        self(f"  {r} = load float, ptr {p}")
        return self.splat(r)

    def i64(self, expr: str) -> str:
        r = self.tmp()
        self(f"  {r} = {expr}")
        return r


def _pass_ir(n_k: int, n_p: int, first: bool, rowwire: bool, store: bool,
             odd: bool = False) -> str:
    """IR of ``@relax`` for ``n_k`` law terms of ``n_p`` polynomial coefficients (``odd``:
    odd polynomials, :func:`_horner`): the pass of :func:`_pass_numpy` (the same arguments as
    pointers; the flags fixed)."""
    e = _Ir()
    G = GROUP
    e(f"declare {_V} @llvm.fma.v{G}f32({_V}, {_V}, {_V})")
    e(f"define void @relax({', '.join(_ARGS)}) {{")
    e("entry:")
    pk = [[e.scalar("poly", str(k * n_p + q)) for q in range(n_p)] for k in range(n_k)]
    gr, rrow = e.splat("%gr"), e.splat("%rrow")
    nrrow = e.neg(rrow)
    ncr = e.i64("mul i64 %n_r, %n_c")
    e("  br label %row")

    def horner(k, x):
        h = pk[k][0]
        if odd:
            x2 = e.op("fmul", x, x)
            for q in range(2, n_p, 2):
                h = e.fma(h, x2, pk[k][q])
            return e.op("fmul", h, x)
        for q in range(1, n_p):
            h = e.fma(h, x, pk[k][q])
        return h

    def terms(pairs):
        acc = None
        for a, b in pairs:
            acc = e.op("fmul", a, b) if acc is None else e.fma(a, b, acc)
        return acc

    def coef_at(k, cell):
        return e.scalar("coef", e.i64(f"add i64 {e.i64(f'mul i64 {ncr}, {k}')}, {cell}"))

    def old_current(cell, cell16):
        if not first:
            return e.load("st", cell16)
        return terms((coef_at(k, cell), pv[k]) for k in range(n_k))

    def update_sums(j16, new):
        e.store(e.op("fadd", e.load("ra", j16), new), "ra", j16)
        e.store(e.fma(mrc, new, e.load("rn", j16)), "rn", j16)

    # ---- row loop (downward)
    e("row:")
    e("  %i = phi i64 [0, %entry], [%inext, %rowend]")
    mf = e.tmp()
    e(f"  {mf} = uitofp i64 {e.i64('sub i64 %n_r, %i')} to float")
    mrc_s = e.tmp()
    e(f"  {mrc_s} = fmul float {mf}, %rcol")
    mrc = e.splat(mrc_s)
    nmrc = e.neg(mrc)
    i16 = e.i64(f"mul i64 %i, {G}")
    vrow = e.load("vt", i16)
    rowoff = e.i64("mul i64 %i, %n_c")
    if first:
        pv = [horner(k, vrow) for k in range(n_k)]
        cs = [e.scalar("csum", e.i64(f"add i64 {e.i64(f'mul i64 %n_r, {k}')}, %i"))
              for k in range(n_k)]
        total = terms(zip(cs, pv, strict=True))
    else:
        total = e.load("tt", i16)
    if rowwire:
        s0 = e.op("fmul", rrow, total)
        y0 = e.op("fmul", gr, vrow)
    e("  br label %asc")

    # ---- ascending: row voltages from the previous currents, column voltages, law, forward
    e("asc:")
    e("  %j = phi i64 [0, %row], [%jnext, %asc]")
    if rowwire:
        e(f"  %srun = phi {_V} [{s0}, %row], [%srunn, %asc]")
        e(f"  %v1p = phi {_V} [{vrow}, %row], [%v1, %asc]")
        e(f"  %y = phi {_V} [{y0}, %row], [%yn, %asc]")
    else:
        e(f"  %tacc = phi {_V} [zeroinitializer, %row], [%taccn, %asc]")
    cell = e.i64(f"add i64 {rowoff}, %j")
    cell16 = e.i64(f"mul i64 {cell}, {G}")
    j16 = e.i64(f"mul i64 %j, {G}")
    old = old_current(cell, cell16)
    ra_j = e.load("ra", j16)
    bt_j = e.load("bt", j16)
    w = e.fma(mrc, ra_j, bt_j)
    e.store(e.fma(nmrc, old, bt_j), "bt", j16)        # B − Q: the rows below this one
    if rowwire:
        e(f"  %v1 = fsub {_V} %v1p, %srun")        # the row voltage: one drop further
        v1 = "%v1"
        e(f"  %srunn = call {_V} @llvm.fma.v{G}f32({_V} {nrrow}, {_V} {old}, {_V} %srun)")
    else:
        v1 = vrow
    vc = e.op("fsub", v1, w)
    f = terms((coef_at(k, cell), horner(k, vc)) for k in range(n_k))
    if rowwire:
        c = e.scalar("gc", cell)
        z = e.fma(e.neg(c), v1, f)
        e(f"  %yn = fmul {_V} {e.op('fsub', '%y', z)}, {e.scalar('irp', cell)}")
        q0 = e.i64(f"mul i64 %j, {2 * G}")
        e.store(z, "wk", q0)
        e.store("%yn", "wk", e.i64(f"add i64 {q0}, {G}"))
    else:
        if store:
            e.store(f, "st", cell16)
        e(f"  %taccn = fadd {_V} %tacc, {f}")
        e.store(e.op("fadd", ra_j, f), "ra", j16)
        e.store(e.fma(mrc, f, e.load("rn", j16)), "rn", j16)
    e("  %jnext = add i64 %j, 1")
    e("  %amore = icmp ult i64 %jnext, %n_c")
    e(f"  br i1 %amore, label %asc, label %{'desc_in' if rowwire else 'rowend'}")
    if rowwire:
        # ---- descending: back substitution, new currents, running sums
        e("desc_in:")
        e("  %jlast = sub i64 %n_c, 1")
        e("  br label %desc")
        e("desc:")
        e("  %k = phi i64 [%jlast, %desc_in], [%knext, %desc]")
        e(f"  %u = phi {_V} [zeroinitializer, %desc_in], [%un, %desc]")
        cl = e.i64(f"add i64 {rowoff}, %k")
        cl16 = e.i64(f"mul i64 {cl}, {G}")
        k16 = e.i64(f"mul i64 %k, {G}")
        q0 = e.i64(f"mul i64 %k, {2 * G}")
        z = e.load("wk", q0)
        y = e.load("wk", e.i64(f"add i64 {q0}, {G}"))
        e(f"  %un = call {_V} @llvm.fma.v{G}f32({_V} {e.neg(e.scalar('cpr', cl))}, {_V} %u, "
          f"{_V} {y})")
        new = e.fma(e.scalar("gcu", cl), "%un", z)
        if store:
            e.store(new, "st", cl16)
        update_sums(k16, new)
        e("  %knext = sub i64 %k, 1")
        e("  %dmore = icmp sgt i64 %k, 0")
        e("  br i1 %dmore, label %desc, label %rowend")
    e("rowend:")
    if store:
        if rowwire:     # the row's current through its first segment: g_row (v − U_0)
            e(f"  %ufin = phi {_V} [%un, %desc]")
            e.store(e.op("fsub", y0, "%ufin"), "tt", i16)
        else:
            e(f"  %tfin = phi {_V} [%taccn, %asc]")
            e.store("%tfin", "tt", i16)
    e("  %inext = add i64 %i, 1")
    e("  %rmore = icmp ult i64 %inext, %n_r")
    e("  br i1 %rmore, label %row, label %exit")
    e("exit:")
    e("  ret void")
    e("}")
    return "\n".join(e.lines)


_KERNELS: dict = {}
_KERNELS_LOCK = threading.Lock()
#: Guards the solvers' one-time linear-reference set-up (shared by the tile's threads).
_SOLVER_LOCK = threading.RLock()


def _kernel(n_k: int, n_p: int, first: bool, rowwire: bool, store: bool, odd: bool = False):
    """The compiled pass for these shapes and flags (once per process), or None."""
    key = (n_k, n_p, bool(first), bool(rowwire), bool(store), bool(odd))
    with _KERNELS_LOCK:
        state = _KERNELS.setdefault(key, {})
    return _llvm.compiled_function(state, lambda: _pass_ir(*key), "relax", _ARGTYPES, (),
                                   "the line-relaxation kernel", "the NumPy reference")


def kernel_available() -> bool:
    """Whether the line-relaxation passes run on the compiled kernel here."""
    return backend() == "numba" and _kernel(1, 4, False, True, True) is not None


# --------------------------------------------------------------------------------------------
# Solver
# --------------------------------------------------------------------------------------------


class LineSolver:
    """Line relaxation of one crossbar with an expanded cell law (module docstring).

    Parameters
    ----------
    g_s : ndarray (rows, cols)
        Cell conductances [S] (shape only).
    r_row_ohm, r_col_ohm : float
        Wire resistance per pitch [ohm] (0: ideal wire).
    coef : ndarray (K, rows, cols)
        Per-cell coefficients of the law's expansion [A].
    poly : ndarray (K, deg + 1)
        Monomial coefficients, highest first, of the voltage functions in ``t = V/v_scale``.
    v_scale : float
        Voltage scale of the polynomials [V].
    chord_s : ndarray (rows, cols)
        Chord conductance of every cell [S].
    """

    def __init__(self, g_s, r_row_ohm, r_col_ohm, coef, poly, v_scale, chord_s, *,
                 g_lin_s=None, g_eff_s=None):
        self.shape = g_s.shape
        n_r, n_c = g_s.shape
        f32 = np.float32
        self.r_row = float(r_row_ohm)
        self.r_col = float(r_col_ohm)
        self.g_row = 1.0 / r_row_ohm if r_row_ohm > 0.0 else 0.0
        k = coef.shape[0]
        self.coef = np.ascontiguousarray(coef, dtype=f32)
        # the polynomials in V itself: coefficient q of degree P-1-q times (1/V_s)^(P-1-q)
        poly = np.asarray(poly, dtype=np.float64)
        deg = poly.shape[1] - 1
        self.poly_t = poly
        self.inv_vs = 1.0 / float(v_scale)
        self.poly = np.ascontiguousarray(poly * self.inv_vs ** np.arange(deg, -1, -1), dtype=f32)
        #: Odd voltage functions (every coefficient of even degree zero; an odd polynomial
        #: has an odd degree): evaluated as ``V·Q(V²)``.
        self.odd = bool(deg % 2 == 1 and not np.any(poly[:, 1::2]))
        self.csum = np.ascontiguousarray(self.coef.sum(axis=2, dtype=np.float64), dtype=f32)
        # the coefficients beside their (n_r - l)-weighted copy: the ideal column currents and
        # the first pass's column totals in one product
        w = (n_r - np.arange(n_r, dtype=np.float64))[:, None]
        flat = np.asarray(coef, dtype=np.float64).reshape(k * n_r, n_c)
        self._coef_tw = np.ascontiguousarray(np.concatenate([flat, flat * np.tile(w, (k, 1))],
                                                            axis=1), dtype=f32)
        gc = np.asarray(chord_s, dtype=np.float64)
        self.gc = np.ascontiguousarray(gc, dtype=f32)
        zeros = np.zeros((n_r, n_c), dtype=f32)
        self.gcu = self.irp = self.cpr = zeros
        if self.g_row > 0.0:
            diag = 2.0 * self.g_row + gc
            diag[:, -1] -= self.g_row                     # open far end of each row
            inv, cp = _tridiag_factors(diag, -self.g_row)
            self.irp = (self.g_row * inv).astype(f32)
            self.cpr = cp.astype(f32)
            self.gcu = (gc * self.r_row).astype(f32)
        #: Diagnostics of the last :meth:`column_currents` call.
        self.last_info: dict = {}
        # the linear reference network (module docstring): cells of conductance g_lin, its
        # exact column map G_eff and, per pass count k, G_eff − M_k
        self._lin = None
        self._k_mats: dict[int, np.ndarray] = {}
        self._kk = None
        self._fixed_ptrs = None
        self.rho_prior: float | None = None
        if g_lin_s is not None and (self.g_row > 0.0 or self.r_col > 0.0):
            self._lin = LineSolver(g_s, r_row_ohm, r_col_ohm, np.asarray(g_lin_s)[None],
                                   np.array([[float(v_scale), 0.0]]), v_scale, chord_s)
            self._g_lin = np.asarray(g_lin_s, dtype=np.float64)
            self._g_eff = np.asarray(g_eff_s, dtype=np.float64)
            self._k_mats[0] = self._g_eff - self._g_lin

    def _basis(self, v: np.ndarray) -> np.ndarray:
        """``P_k(v/V_s)`` for row voltages ``v`` (batch, rows): (batch, K·rows), float32."""
        t = v * self.inv_vs
        return np.concatenate([np.polyval(p, t) for p in self.poly_t], axis=1).astype(
            np.float32)

    def _start(self, v: np.ndarray):
        """For row voltages ``v`` (batch, rows) [V]: the column currents with ideal wires
        :math:`\\sum_i F(g_{ij}, v_i)` [A], the first pass's column totals
        :math:`r_{col}\\sum_i (n_r - i) F(g_{ij}, v_i)` [V] and the column magnitudes
        :math:`\\sum_i |F(g_{ij}, v_i)|` [A] (a passive cell's current has the sign of its
        voltage), float64, from two matrix products."""
        n_c = self.shape[1]
        basis = self._basis(v)
        both = (basis @ self._coef_tw).astype(np.float64)
        signs = np.tile(np.sign(v), self.poly.shape[0]).astype(np.float32)
        scale = ((basis * signs) @ self._coef_tw[:, :n_c]).astype(np.float64)
        return both[:, :n_c], both[:, n_c:] * self.r_col, scale

    def _correction(self, k: int) -> np.ndarray:
        """``G_eff − M_k`` (rows, cols) [S]: the error of ``k`` passes on the linear reference
        network (``M_0``: its ideal wires), computed once."""
        mats = self._k_mats
        if k not in mats:
            with _SOLVER_LOCK:
                if k not in mats:
                    self._linear_response(max(k, LINEAR_PASSES))
        return mats[k]

    def _linear_response(self, k_max: int) -> None:
        """``M_k`` for ``k = 1 … k_max``: ``k`` passes of the linear reference network from
        ideal wires on each row driven alone (its pass map is linear in the drives), stored
        as ``G_eff − M_k``."""
        lin = self._lin
        n_r, n_c = self.shape
        G, f32 = GROUP, np.float32
        v_u = 0.5 / lin.inv_vs                       # the drive: v_max [V]
        st = np.zeros((n_r, n_c, G), f32)
        tt = np.zeros((n_r, G), f32)
        wk = np.zeros((n_c, 2, G), f32)
        bt, ra, rn = (np.zeros((n_c, G), f32) for _ in range(3))
        vt = np.zeros((n_r, G), f32)
        resp = np.zeros((k_max, n_r, n_c))
        for i0 in range(0, n_r, G):
            nb = min(G, n_r - i0)
            drive = np.zeros((nb, n_r))
            drive[np.arange(nb), i0 + np.arange(nb)] = v_u
            vt[...] = 0.0
            vt[:, :nb] = drive.T
            bt[...] = 0.0
            bt[:, :nb] = lin._start(drive)[1].T
            for p in range(k_max):
                ra[...] = 0.0
                rn[...] = 0.0
                lin._pass(p == 0, p + 1 < k_max, vt, st, tt, wk, bt, ra, rn)
                resp[p, i0:i0 + nb] = ra[:, :nb].T / v_u
                bt[...] = rn
        for p in range(k_max):
            self._k_mats.setdefault(p + 1, self._g_eff - resp[p])

    def _calibrate(self) -> float:
        """The prior contraction of the corrected passes (module docstring): the largest ratio
        of consecutive changes in :data:`PROBE_PASSES` passes on :data:`GROUP` probe drives
        uniform in ±v_max (a fixed seed), computed once per solver."""
        with _SOLVER_LOCK:
            if self.rho_prior is None:
                n_r, n_c = self.shape
                G, f32 = GROUP, np.float32
                v = np.random.default_rng(PROBE_SEED).uniform(-1.0, 1.0, (G, n_r)) * (
                    0.5 / self.inv_vs)
                ideal, totals, scale = self._start(v)
                sums = np.zeros((4, n_c, G), f32)
                sums[0] = totals.T
                res = self._relax_group(
                    np.ascontiguousarray(v.T, dtype=f32), np.zeros((n_r, n_c, G), f32),
                    np.zeros((n_r, G), f32), np.zeros((n_c, 2, G), f32), sums, v, ideal.T,
                    scale.T, G, np.inf, min_passes=PROBE_PASSES, prior=0.0)
                self.rho_prior = PRIOR_MARGIN * float(res[3])
        return self.rho_prior

    def column_currents(self, v: np.ndarray, rtol: float) -> tuple[np.ndarray, int, float]:
        """Column currents [A] (batch, cols) for row voltages ``v`` (batch, rows) [V], the most
        passes any group took and the largest estimated error of a column current relative to
        the column's current magnitude with ideal wires (module docstring).

        Raises ``RuntimeError`` (named by the crossbar) when a group does not converge within
        :data:`MAX_PASSES`."""
        n_b = v.shape[0]
        n_r, n_c = self.shape
        out = np.empty((n_b, n_c))
        ideal, totals, scale = self._start(v)
        if self.g_row == 0.0 and self.r_col == 0.0:
            self.last_info = {"passes": 0, "rel_error_est": 0.0}
            return ideal, 0, 0.0
        prior = corr = None
        if self._lin is not None:
            prior = self._calibrate()
            if self._kk is None:     # [G_eff − M_0 | G_eff − M_1], float32: one product
                self._kk = np.concatenate([self._correction(0), self._correction(1)],
                                          axis=1).astype(np.float32)
            corr = (v.astype(np.float32) @ self._kk).astype(np.float64)
        f32 = np.float32
        G = GROUP
        st = workspace("lines_state", (n_r, n_c, G), f32)
        tt = workspace("lines_rowsum", (n_r, G), f32)
        wk = workspace("lines_row", (n_c, 2, G), f32)
        sums = workspace("lines_sums", (4, n_c, G), f32)     # bt, A, next bt, spare bt
        vt = workspace("lines_drive", (n_r, G), f32)
        passes, worst, last = 0, 0.0, 1
        for b0 in range(0, n_b, G):
            nb = min(G, n_b - b0)
            vt[...] = 0.0                              # a short group: idle lanes at 0 V
            vt[:, :nb] = v[b0:b0 + nb].T
            bt = sums[0]
            bt[...] = 0.0
            bt[:, :nb] = totals[b0:b0 + nb].T
            res = self._relax_group(vt, st, tt, wk, sums, v[b0:b0 + nb], ideal[b0:b0 + nb].T,
                                    scale[b0:b0 + nb].T, nb, rtol, prior=prior,
                                    one_pass_guess=last == 1,
                                    corr=None if corr is None else corr[b0:b0 + nb].T)
            out[b0:b0 + nb] = res[0].T
            last = res[1]
            passes = max(passes, res[1])
            worst = max(worst, res[2])
        self.last_info = {"passes": passes, "rel_error_est": worst}
        return out, passes, worst

    def _relax_group(self, vt, st, tt, wk, sums, v, prev, sc, nb, rtol, *, min_passes=1,
                     prior=None, one_pass_guess=False, corr=None):
        """Passes over one group until the estimated remaining error is at most ``rtol``
        (:func:`remaining_error`; module docstring): (currents (cols, nb), passes, estimate,
        largest ratio of consecutive changes). ``v`` (nb, rows) are the group's drives [V]
        (the linear reference's correction, when the solver has one); ``prior`` the prior
        contraction (None: at least two passes). A pass predicted to be the last (the
        contraction applied once more gives an estimate below ``rtol / 2``; the first pass
        when ``one_pass_guess``) runs without writing the state, and again with it if it was
        not. ``corr`` (2·cols, nb): the drives times ``G_eff − M_0`` and ``G_eff − M_1``, if
        already formed."""
        bt, ra, rn, spare = sums
        live = sc > 0.0
        inv_sc = np.divide(1.0, sc, out=np.zeros_like(sc), where=live)   # 0: no current
        lin = self._lin is not None
        n_c = self.shape[1]
        if lin:
            if corr is None:
                corr = np.concatenate([(v @ self._correction(k)).T for k in (0, 1)])
            prev = prev + corr[:n_c]
        deltas: list[float] = []
        rho = 0.0 if prior is None else prior      # the largest ratio of consecutive changes
        for p in range(MAX_PASSES):
            if p == 0:
                final_guess = prior is not None and one_pass_guess and min_passes <= 1
            else:
                final_guess = ((p >= 2 or prior is not None) and p + 1 >= min_passes
                               and remaining_error(rho * deltas[-1], rho) <= 0.5 * rtol)
            if final_guess:
                spare[...] = bt                  # the pass consumes bt; kept for a rerun
            for store in ((False, True) if final_guess else (True,)):
                if store and final_guess:
                    bt[...] = spare
                ra[...] = 0.0
                rn[...] = 0.0
                self._pass(p == 0, store, vt, st, tt, wk, bt, ra, rn)
                cur = ra[:, :nb].astype(np.float64)
                if lin:
                    cur += corr[n_c:] if p == 0 else (v @ self._correction(p + 1)).T
                delta = float(np.max(np.abs(cur - prev) * inv_sc, initial=0.0))
                ratio = (delta / deltas[-1] if deltas[-1] > 0.0 else np.inf) if p else 0.0
                known = p > 0 or prior is not None
                est = (0.0 if delta == 0.0 else
                       remaining_error(delta, max(rho, ratio)) if known else np.inf)
                done = est <= rtol and p + 1 >= min_passes
                if done or store:
                    break
            rho = max(rho, ratio)
            if done:
                return cur, p + 1, est, rho
            deltas.append(delta)
            prev = cur
            bt[...] = rn
        self.last_info = {"passes": MAX_PASSES, "rel_error_est": deltas[-1]}
        raise RuntimeError(f"line relaxation did not converge in {MAX_PASSES} passes "
                           f"(last changes {[float(f'{d:.3g}') for d in deltas[-3:]]} of the "
                           f"column currents, relative)")

    def _pass(self, first, store, vt, st, tt, wk, bt, ra, rn) -> None:
        rowwire = self.g_row > 0.0
        args = (vt, self.poly, self.coef, self.csum, self.gc, self.gcu, self.irp, self.cpr, st,
                tt, wk, bt, ra, rn)
        scal = (self.g_row, self.r_row, self.r_col)
        fn = None
        if backend() == "numba":
            fn = _kernel(self.poly.shape[0], self.poly.shape[1], first, rowwire, store,
                         self.odd)
        if fn is None:
            _pass_numpy(first, rowwire, store, *args, *scal, odd=self.odd)
            return
        if self._fixed_ptrs is None:     # the solver's own arrays: addresses taken once
            self._fixed_ptrs = tuple(a.ctypes.data for a in args[1:8])
        n_r, n_c = self.shape
        fn(n_r, n_c, vt.ctypes.data, *self._fixed_ptrs, *(a.ctypes.data for a in args[8:]),
           *scal)
