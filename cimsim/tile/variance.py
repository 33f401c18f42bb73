r"""Read-noise variance of a column read: the card's excess noise and the white noise, one GEMM.

Every cell of a column contributes an independent current noise to a read (the terms of
:func:`device_models.memory.read_noise`; ``v_i`` the row voltage, ``G`` the cell conductance):

.. math::

    \mathrm{Var}[I_j] = \underbrace{\sum_i v_i^2\,\sigma^2_{ij}}_{\text{excess (1/f, RTN)}}
      + \underbrace{4k_BT\Delta f\sum_i G_{ij}}_{\text{thermal, every cell}}
      + \underbrace{F\,4k_BT\Delta f\sum_i w(v_i)\,G_{ij}}_{\text{shot (bias-dependent)}}
      \quad [\mathrm{A^2}]

with :math:`\Delta f = 1/(2t_{read})` and the drive law :math:`w(v)` of the encoding:

* amplitude (the row sits at ``v`` for the whole read): :math:`w = \psi(qv/2k_BT) - 1`,
  :math:`\psi(x) = x\coth x`, so the white part is exactly
  :func:`device_models.noise.conductor_psd` of every cell;
* pulse width and bit-serial (the row sits at :math:`V_{read}` for the fraction
  :math:`|v|/V_{read}` of the read, else at 0 V): the time average
  :math:`w = (\psi(qV_{read}/2k_BT) - 1)\,|v|/V_{read}`.

The thermal sum does not depend on the drive: it is one constant per column (the column's used
cells and, at ``G_min``, the cells of the tile's unused rows, whose rows are held at 0 V),
added to the GEMM's result. The two drive-dependent sums are evaluated in one GEMM, whichever
of these exact forms applies (chosen per row block, in this order):

``"none"``
    no shot noise (F = 0): the GEMM is ``v² @ σ²`` as before;
``"fold"``
    binary rows (unsigned bit-serial, ``v`` in {0, V}): :math:`v^2 = Vv` and :math:`w = w(V)\,
    v/V`, so ``v @ (V σ² + K w(V)/V · G)`` with :math:`K = F\,4k_BT\Delta f`;
``"shared"``
    every cell's excess variance is one multiple κ of its conductance (:math:`\sigma \propto
    \sqrt G`, e.g. a read-noise exponent of 1/2): ``u @ G`` with the operand
    :math:`u_i = \kappa v_i^2 + K w(v_i)`;
``"concat"``
    otherwise: the operand ``[v², w(v)]`` against the stacked matrix ``[σ²; K·G]`` (one GEMM of
    twice the depth).

The operand is built by one pass over the row voltages (a Numba kernel with a NumPy
reference): the duty law in closed form; the amplitude law tabulated on a uniform grid of
:data:`LAW_POINTS` voltages and interpolated linearly (error below :math:`h^2a^2/12` with
:math:`a = q/2k_BT` and :math:`h` the grid step, a relative 1e-7 of the shot term).

References
----------
.. [1] Ya. M. Blanter, M. Büttiker, Phys. Rep. 336, 1 (2000).
   doi:10.1016/S0370-1573(99)00123-4 (thermal and shot noise of a biased conductor).
.. [2] S. O. Rice, Bell Syst. Tech. J. 23, 282 (1944).
   doi:10.1002/j.1538-7305.1944.tb00874.x (noise bandwidth of an integrator).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from device_models._checks import fail
from device_models._jit import backend, jit
from device_models.constants import K_B_J_PER_K, Q_E_C
from device_models.noise import x_coth_x

from ..kernels import bf16_gemm
from ..kernels.parallel import workspace

__all__ = ["LAW_POINTS", "DriveLaw", "VarianceMatrices", "add_white", "build", "drive_law",
           "operand", "operand_table", "variances"]

#: Grid points of the tabulated drive law ``w(|v|)`` on [0, v_max] [-].
LAW_POINTS = 4097

#: Relative tolerance within which every cell's excess variance is taken as one multiple of its
#: conductance (the ``"shared"`` form) [-].
SHARED_RTOL = 1e-9


@dataclasses.dataclass(frozen=True)
class DriveLaw:
    """The drive-dependent factor w(v) of the white noise for one encoding and temperature.

    Attributes
    ----------
    kind : str
        ``"amplitude"`` (``w = ψ(q|v|/2kT) − 1``) or ``"duty"`` (``w = (ψ(qV/2kT) − 1)|v|/V``).
    v_read_v : float
        Full-scale row voltage V [V].
    v_max_v : float
        Largest ``|v|`` the table covers [V] (larger drives use the last entry).
    temperature_k : float
        Temperature [K].
    """

    kind: str
    v_read_v: float
    v_max_v: float
    temperature_k: float

    @property
    def a_per_v(self) -> float:
        """q / (2 k_B T) [1/V]."""
        return Q_E_C / (2.0 * K_B_J_PER_K * self.temperature_k)

    def __call__(self, v) -> np.ndarray:
        """w(v) in closed form [-] (the reference of the table)."""
        v = np.abs(np.asarray(v, dtype=np.float64))
        if self.kind == "amplitude":
            return x_coth_x(self.a_per_v * v) - 1.0
        return (float(x_coth_x(self.a_per_v * self.v_read_v)) - 1.0) * v / self.v_read_v

    @property
    def table(self) -> np.ndarray:
        """w on the grid ``k·v_max/(LAW_POINTS − 1)`` [-]."""
        return self(np.linspace(0.0, self.v_max_v, LAW_POINTS))

    @property
    def inv_step(self) -> float:
        """Grid points per volt [1/V]."""
        return (LAW_POINTS - 1) / self.v_max_v


def drive_law(encoding: str, v_read_v: float, v_max_v: float, temperature_k: float) -> DriveLaw:
    """The :class:`DriveLaw` of a tile's input encoding."""
    kind = "amplitude" if encoding == "amplitude" else "duty"
    return DriveLaw(kind, float(v_read_v), float(max(v_max_v, v_read_v)), float(temperature_k))


@dataclasses.dataclass
class VarianceMatrices:
    """A row block's read-noise matrices for one read time and drive law.

    Attributes
    ----------
    mode : str
        ``"none"``, ``"fold"``, ``"shared"`` or ``"concat"`` (module docstring).
    own, ref : ndarray or PackedMatrix
        GEMM matrices of the signal and reference columns.
    c_own, c_ref : ndarray
        Per-column constant variance (thermal) [A²], added to the GEMM results.
    kappa : float
        Excess variance per siemens of conductance (``"shared"``) [S].
    k_shot : float
        F·4k_BT·Δf [A²/S].
    law : DriveLaw or None
    table : ndarray or None
        The operand's tabulated w (times ``k_shot`` for ``"shared"``) of the amplitude law.
    slope : float
        ``dw/d|v|`` of a linear (duty) law, same scaling [1/V]; -1 for a tabulated law.
    """

    mode: str
    own: object
    ref: object
    c_own: np.ndarray
    c_ref: np.ndarray
    kappa: float
    k_shot: float
    law: DriveLaw | None
    table: np.ndarray | None = None
    slope: float = -1.0

    @property
    def operand_depth(self) -> int:
        """Operand columns per matrix row (2 for ``"concat"``) [-]."""
        return 2 if self.mode == "concat" else 1


def _common_kappa(var: list[np.ndarray], g: list[np.ndarray]) -> float | None:
    """κ with var = κ·g for every cell (g > 0; var = 0 where g = 0), else None."""
    num = den = 0.0
    for v, c in zip(var, g, strict=True):
        num += float(np.sum(v * c))
        den += float(np.sum(c * c))
    if den <= 0.0:
        return None
    kappa = num / den
    for v, c in zip(var, g, strict=True):
        if not np.allclose(v, kappa * c, rtol=SHARED_RTOL, atol=0.0):
            return None
    return kappa


def build(states: list[dict], law: DriveLaw | None, v_unit: float | None,
          dtype, *, excess: bool = True, consume: bool = False,
          dense: bool = False) -> VarianceMatrices:
    """Read-noise matrices of a row block from its tiles' read-time states.

    Parameters
    ----------
    states : list of dict
        :meth:`cimsim.tile.state.Tile.state` of each tile (with read noise on).
    law : DriveLaw or None
        The encoding's drive law (None: no bias-dependent white term is evaluated).
    v_unit : float or None
        Row voltage of binary (unsigned bit-serial) drives [V], else None.
    dtype : numpy dtype
        float32 (matrices packed for the bfloat16 GEMM) or float64.
    excess : bool
        Include the excess (v² σ²) term; False gives the white terms alone (cell laws whose
        excess term the array read forms itself, :mod:`cimsim.tile.cells`).
    consume : bool
        Take the per-tile arrays out of ``states`` as they are concatenated (the caller's
        dicts are emptied of them; the tiles' parts and the block's copy are not all kept at
        once).
    dense : bool
        Keep ``own`` and ``ref`` as float64 arrays (not packed), for a caller that forms its
        own GEMM operand from them (the bit-plane look-up tables of
        :meth:`cimsim.tile.state.RowBlock.matrices`).
    """
    f32 = np.dtype(dtype) == np.float32

    def cat(name):
        return np.concatenate([s.pop(name) if consume else s[name] for s in states], axis=1)

    var_own, var_ref = cat("var_own_s2"), cat("var_ref_s2")
    if not excess:
        var_own, var_ref = np.zeros_like(var_own), np.zeros_like(var_ref)
    g_own, g_ref = cat("g_own_s"), cat("g_ref_s")
    c_own = np.concatenate([s["c_own_a2"] for s in states]).astype(dtype)
    c_ref = np.concatenate([s["c_ref_a2"] for s in states]).astype(dtype)
    k_shot = float(states[0]["k_shot_a2_per_s"])
    kappa = 0.0
    if k_shot == 0.0 or law is None:
        mode = "none"
        scale = 1.0 if v_unit is None else float(v_unit)
        own, ref = scale * var_own, scale * var_ref
    elif v_unit is not None:
        mode = "fold"
        kw = k_shot * float(law(v_unit)) / v_unit
        own, ref = v_unit * var_own + kw * g_own, v_unit * var_ref + kw * g_ref
    else:
        kappa_or_none = _common_kappa([var_own, var_ref], [g_own, g_ref])
        if kappa_or_none is not None:
            mode, kappa = "shared", kappa_or_none
            own, ref = g_own, g_ref
        else:
            mode = "concat"
            own = np.concatenate([var_own, k_shot * g_own])
            ref = np.concatenate([var_ref, k_shot * g_ref])
    del var_own, var_ref, g_own, g_ref      # own/ref hold what the packing needs
    if f32 and not dense:
        own, ref = bf16_gemm.pack(own), bf16_gemm.pack(ref)
    else:
        keep = np.float64 if dense else dtype
        own = np.ascontiguousarray(own, dtype=keep)
        ref = np.ascontiguousarray(ref, dtype=keep)
    table, slope = None, -1.0
    if mode in ("shared", "concat"):
        scale = k_shot if mode == "shared" else 1.0
        if law.kind == "duty":      # w = slope·|v| exactly: no table
            slope = scale * float(law(law.v_read_v)) / law.v_read_v
        else:
            table = law.table * scale
    return VarianceMatrices(mode, own, ref, c_own, c_ref, kappa, k_shot, law, table, slope)


# --------------------------------------------------------------------------------------------
# The operand: one pass over the row voltages
# --------------------------------------------------------------------------------------------


def _operand_py(v, kappa, inv_step, table, slope, concat, out):
    """``out = κv² + w(v)`` (``concat`` False) or ``out = [v², w(v)]`` (True), with
    ``w = slope·|v|`` for a linear law (``slope`` >= 0) or else the linear interpolation of
    ``table`` at ``|v|·inv_step`` (constant beyond its last entry)."""
    n_b, n_r = v.shape
    top = table.size - 2
    linear = slope >= 0.0
    for b in range(n_b):
        for i in range(n_r):
            x = np.float64(v[b, i])
            if linear:
                w = slope * abs(x)
            else:
                a = abs(x) * inv_step
                j = min(int(a), top)
                f = min(a - j, 1.0)
                w = table[j] + f * (table[j + 1] - table[j])
            if concat:
                out[b, i] = x * x
                out[b, n_r + i] = w
            else:
                out[b, i] = kappa * x * x + w


_operand_kernel = jit(_operand_py)

#: Placeholder table of a linear law (the kernels take an array either way).
_NO_TABLE = np.zeros(2)


def _operand_numpy(v, kappa, inv_step, table, slope, concat, out):
    x = v.astype(np.float64)
    if slope >= 0.0:
        w = slope * np.abs(x)
    else:
        a = np.abs(x) * inv_step
        j = np.minimum(a.astype(np.int64), table.size - 2)
        f = np.minimum(a - j, 1.0)
        w = table[j] + f * (table[j + 1] - table[j])
    n_r = v.shape[1]
    if concat:
        out[:, :n_r] = x * x
        out[:, n_r:] = w
    else:
        out[...] = kappa * x * x + w


def operand(v: np.ndarray, vm: VarianceMatrices) -> np.ndarray:
    """The variance GEMM's left operand for row voltages ``v`` (``"shared"`` and ``"concat"``
    modes; the others use ``v²`` or ``v`` directly): a per-thread scratch array of ``v``'s
    dtype, valid until this thread's next call."""
    concat = vm.mode == "concat"
    n_b, n_r = v.shape
    out = workspace("variance_operand", (n_b, n_r * (2 if concat else 1)), v.dtype)
    table = _NO_TABLE if vm.table is None else vm.table
    args = (v, float(vm.kappa), float(vm.law.inv_step), table, float(vm.slope), bool(concat),
            out)
    if backend() == "numpy":
        _operand_numpy(*args)
    else:
        _operand_kernel(*args)
    return out


def _gemm(op: np.ndarray, mat, out: np.ndarray) -> np.ndarray:
    if isinstance(mat, bf16_gemm.PackedMatrix):
        return bf16_gemm.matmul(op, mat, out)
    return np.matmul(op, mat.astype(op.dtype, copy=False), out=out)


def operand_table(vm: VarianceMatrices, volts: np.ndarray) -> np.ndarray | None:
    """The ``"shared"`` operand ``κv² + w(v)`` of each of a few row voltages ``volts`` (1-D,
    e.g. one per input code), by :func:`operand` itself (so a look-up in it gives the numbers
    :func:`operand` gives for those voltages), or None for the other modes."""
    if vm.mode != "shared":
        return None
    return operand(np.ascontiguousarray(volts)[None, :], vm)[0].copy()


def variances(v: np.ndarray, v2: np.ndarray | None, vm: VarianceMatrices, n_signal: int,
              n_refs: int, *, binary: bool, op: np.ndarray | None = None,
              var_add: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read-noise variances [A²] of the signal and reference columns for row voltages ``v``
    (``v2 = v²`` when the mode is ``"none"`` and the rows are not binary): the one variance
    GEMM in the block's form plus the per-column thermal constants. ``op``: the operand of
    the ``"shared"`` mode already formed (by a look-up in :func:`operand_table`, or packed
    for the bfloat16 kernel). ``var_add`` (signal columns, in ``v``'s dtype): further
    variances added to the signal columns' after the thermal constants (the bfloat16 kernel
    adds both as it writes its sums; the same numbers as two passes)."""
    n_b, dt = v.shape[0], v.dtype
    if op is not None:
        if vm.mode != "shared" or op.shape != v.shape:
            fail("op", "variances", f"None unless the mode is 'shared' (is {vm.mode!r}) and "
                 f"of v's shape {v.shape}", f"array of shape {op.shape}")
    elif vm.mode in ("shared", "concat"):
        op = operand(v, vm)
    else:
        op = v if binary else v2
    var_own = workspace("var", (n_b, n_signal), dt)
    adds = (np.asarray(vm.c_own),) + (() if var_add is None else (var_add,))
    if isinstance(vm.own, bf16_gemm.PackedMatrix):
        bf16_gemm.matmul(op, vm.own, var_own, col_add=adds)
    else:
        _gemm(op, vm.own, var_own)
        bf16_gemm.add_columns(var_own, *adds)
    var_ref = np.zeros((n_b, 0), dtype=dt)
    if n_refs:
        var_ref = _gemm(op, vm.ref, np.empty((n_b, n_refs), dt))
        var_ref += vm.c_ref
    return var_own, var_ref


def add_white(v: np.ndarray, vm: VarianceMatrices, var_own: np.ndarray,
              var_ref: np.ndarray) -> None:
    """Add the white terms of a block built with ``excess=False`` to variances [A²] formed by
    the array read (in place): ``K·w(v) @ G`` and the thermal constants."""
    if vm.mode == "shared":
        op = operand(v, vm)
        var_own += _gemm(op, vm.own, np.empty(var_own.shape, var_own.dtype))
        if var_ref.shape[1]:
            var_ref += _gemm(op, vm.ref, np.empty(var_ref.shape, var_ref.dtype))
    var_own += vm.c_own.astype(var_own.dtype, copy=False)
    if var_ref.shape[1]:
        var_ref += vm.c_ref.astype(var_ref.dtype, copy=False)
