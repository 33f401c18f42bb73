r"""Cell current–voltage laws for crossbar solves.

A *cell law* is any object with two vectorised methods (the :class:`CellIV` protocol):

* ``current(v_v, g_s) -> i_a``: the current through a cell [A] with voltage ``v_v`` across it
  [V] and programmed small-signal conductance ``g_s`` [S];
* ``current_and_derivative(v_v, g_s) -> (i_a, di_dv_s)``: the current and its derivative with
  respect to the voltage [S], which Newton's method in :mod:`cimsim.array.crossbar` needs;
* ``current_and_g_derivative(v_v, g_s) -> (i_a, di_dg_v)``: the current and its derivative
  with respect to the conductance [V], through which a conductance fluctuation (read noise)
  becomes a current fluctuation, :math:`\sigma_I = |\partial I/\partial g|\,\sigma_g`.

Both broadcast over ``v_v`` and ``g_s`` like a NumPy ufunc. They do not validate their
arguments (they sit in the inner loop of the nonlinear crossbar solve); the public functions
that call them validate once. A law may set ``is_linear = True`` to tell solvers that
``current(v, g) == g * v`` exactly, so the linear (one factorisation, one GEMM) path applies.
Laws with ``current(0, g) == 0`` and ``di_dv >= 0`` (passive, monotone) are what the crossbar
solver's convergence argument assumes. A *separable* law, :math:`I = g\,h(V)`, says so with
``is_separable = True`` and a method ``drive(v_v) -> h`` [V]: a tile then reads it with one
matrix product on ``h(v)`` (:mod:`cimsim.tile.cells`).

:func:`conductance_for_current` inverts any law in ``g`` at one voltage: the conductance a
cell must be programmed to so that it carries a given read current (write-verify on the read
current, as chips do).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from ._checks import check_array, check_scalar, fail
from .constants import T_REF_K

__all__ = [
    "CellIV",
    "LinearIV",
    "SinhIV",
    "conductance_for_current",
    "conductance_temperature_factor",
]

#: Relative tolerance on the current at which :func:`conductance_for_current` stops [-].
INVERSE_RTOL = 1e-12
#: Iterations allowed to :func:`conductance_for_current` (safeguarded Newton in g) [-].
_INVERSE_MAX_ITER = 200


@runtime_checkable
class CellIV(Protocol):
    """Protocol of a crossbar cell I–V law (see the module docstring)."""

    def current(self, v_v, g_s) -> np.ndarray:  # pragma: no cover - protocol
        ...

    def current_and_derivative(self, v_v, g_s) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        ...


@dataclasses.dataclass(frozen=True)
class LinearIV:
    r"""Ohmic cell, :math:`I = g\,V`.

    .. math:: I\,[\mathrm{A}] = g\,[\mathrm{S}] \cdot V\,[\mathrm{V}]

    The reference law of every crossbar model; ``cell=None`` in
    :func:`cimsim.array.crossbar.column_currents` means this law.

    References
    ----------
    .. [1] M. Hu et al., "Dot-product engine for neuromorphic computing: programming 1T1M
       crossbar to accelerate matrix-vector multiplication", Proc. 53rd DAC, 2016.
       doi:10.1145/2897937.2898010
    """

    is_linear: ClassVar[bool] = True
    is_separable: ClassVar[bool] = True

    def current(self, v_v, g_s) -> np.ndarray:
        """Cell current [A] for voltage ``v_v`` [V] across a cell of conductance ``g_s`` [S]."""
        return np.multiply(g_s, v_v, dtype=np.float64)

    def drive(self, v_v) -> np.ndarray:
        """Voltage factor ``h(V) = V`` [V] of the separable law ``I = g·h(V)``."""
        return np.asarray(v_v, dtype=np.float64)

    def current_and_g_derivative(self, v_v, g_s) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(i_a, di_dg_v)``: current [A] and dI/dg = V [V]."""
        v, g = np.broadcast_arrays(np.asarray(v_v, dtype=np.float64),
                                   np.asarray(g_s, dtype=np.float64))
        return g * v, v.copy()

    def current_and_derivative(self, v_v, g_s) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(i_a, di_dv_s)``: current [A] and dI/dV [S] (equal to ``g_s``)."""
        v = np.asarray(v_v, dtype=np.float64)
        g = np.asarray(g_s, dtype=np.float64)
        i = g * v
        return i, np.broadcast_to(g, i.shape).copy()


@dataclasses.dataclass(frozen=True)
class SinhIV:
    r"""Hyperbolic-sine cell nonlinearity of filamentary oxide RRAM.

    .. math::

        I\,[\mathrm{A}] = g\,v_0 \sinh\!\left(\frac{V}{v_0}\right), \qquad
        \frac{\mathrm{d}I}{\mathrm{d}V}\,[\mathrm{S}] = g \cosh\!\left(\frac{V}{v_0}\right)

    ``g`` [S] is the small-signal (zero-bias) conductance the cell was programmed to, so for
    :math:`|V| \ll v_0` the cell is ohmic, :math:`I \approx g V`; ``v0_v`` [V] sets the voltage
    scale of the nonlinearity (the current grows faster than ohmic above it). This is the
    read-regime form of the tunnelling-gap compact model :math:`I = I_0 e^{-\mathrm{gap}/g_0}
    \sinh(V/V_0)` of Yu and co-workers [1]_ [2]_, with :math:`I_0 e^{-\mathrm{gap}/g_0} = g v_0`.

    Parameters
    ----------
    v0_v : float
        Nonlinearity voltage scale :math:`v_0` [V], > 0. Typical oxide RRAM: 0.2–0.5 V.

    Notes
    -----
    The law is odd, passive (:math:`I(0) = 0`) and strictly monotone
    (:math:`\mathrm{d}I/\mathrm{d}V \ge g > 0`), which keeps the Newton solve of a crossbar of
    such cells well posed (the Jacobian is a symmetric M-matrix).

    References
    ----------
    .. [1] X. Guan, S. Yu and H.-S. P. Wong, "A SPICE compact model of metal oxide resistive
       switching memory with variations", IEEE Electron Device Letters 33(10), 1405–1407, 2012.
       doi:10.1109/LED.2012.2210856
    .. [2] P.-Y. Chen and S. Yu, "Compact modeling of RRAM devices and its applications in 1T1R
       and 1S1R array design", IEEE Trans. Electron Devices 62(12), 4022–4028, 2015.
       doi:10.1109/TED.2015.2492421
    """

    v0_v: float = 0.25
    is_linear: ClassVar[bool] = False
    is_separable: ClassVar[bool] = True

    def __post_init__(self) -> None:
        v0 = check_scalar("v0_v", self.v0_v, "SinhIV", lo=0.0, lo_open=True)
        object.__setattr__(self, "v0_v", v0)

    def current(self, v_v, g_s) -> np.ndarray:
        """Cell current [A] for voltage ``v_v`` [V] across a cell of conductance ``g_s`` [S]."""
        v0 = self.v0_v
        return np.multiply(g_s, v0 * np.sinh(np.divide(v_v, v0, dtype=np.float64)))

    def current_and_derivative(self, v_v, g_s) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(i_a, di_dv_s)``: current [A] and dI/dV [S] at voltage ``v_v`` [V]."""
        v0 = self.v0_v
        sh = np.sinh(np.divide(v_v, v0, dtype=np.float64))
        g = np.asarray(g_s, dtype=np.float64)
        ch = np.sqrt(1.0 + sh * sh)  # cosh from sinh: one transcendental call instead of two
        return g * (v0 * sh), g * ch

    def drive(self, v_v) -> np.ndarray:
        """Voltage factor ``h(V) = v0·sinh(V/v0)`` [V] of the separable law ``I = g·h(V)``."""
        v0 = self.v0_v
        return v0 * np.sinh(np.divide(v_v, v0, dtype=np.float64))

    def current_and_g_derivative(self, v_v, g_s) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(i_a, di_dg_v)``: current [A] and dI/dg = v0·sinh(V/v0) [V]."""
        h, g = np.broadcast_arrays(self.drive(v_v), np.asarray(g_s, dtype=np.float64))
        return g * h, h.copy()


def conductance_for_current(law, i_a, v_v, *, g_max_s: float) -> np.ndarray:
    r"""Conductance a cell must hold to carry the current ``i_a`` at the voltage ``v_v``.

    Solves, per cell, :math:`F(g, V) = I` for :math:`g \in [0, g_{max}]` where :math:`F` is
    the cell law (any :class:`CellIV` with ``current_and_g_derivative``), increasing in
    :math:`g`. Separable laws :math:`F = g\,h(V)` give :math:`g = I/h(V)` directly; other laws
    (the 1T1R series pair) by Newton's method in :math:`g`, safeguarded by bisection on the
    bracket, to a current within ``INVERSE_RTOL`` relative. A current the cell cannot carry
    below ``g_max_s`` (e.g. more than the access transistor passes) returns ``g_max_s``.

    Parameters
    ----------
    law : CellIV
        Cell law with ``current_and_g_derivative``.
    i_a : array_like
        Target currents [A], with the sign of ``v_v``.
    v_v : float
        Read (verify) voltage [V], non-zero.
    g_max_s : float
        Largest conductance the solution may take [S].

    Returns
    -------
    ndarray
        Conductances [S] of the shape of ``i_a``.

    References
    ----------
    .. [1] F. Alibart, L. Gao, B. D. Hoskins and D. B. Strukov, "High precision tuning of
       state for memristive devices by adaptable variation-tolerant algorithm",
       Nanotechnology 23, 075201 (2012). doi:10.1088/0957-4484/23/7/075201 (programming to a
       target read current at the read voltage).
    """
    caller = "conductance_for_current"
    if not callable(getattr(law, "current_and_g_derivative", None)) or isinstance(law, type):
        fail("law", caller, "a cell law with current_and_g_derivative() (device_models.CellIV)",
             law)
    v = check_scalar("v_v", v_v, caller)
    if v == 0.0:
        fail("v_v", caller, "non-zero", v_v)
    i = check_array("i_a", i_a, caller)
    if np.any(i * v < 0.0):
        fail("i_a", caller, "of the sign of v_v", i_a)
    g_hi = check_scalar("g_max_s", g_max_s, caller, lo=0.0, lo_open=True)
    if getattr(law, "is_separable", False):
        return np.clip(i / float(law.drive(v)), 0.0, g_hi)
    target = np.abs(i).ravel()
    sgn = 1.0 if v > 0.0 else -1.0
    lo = np.zeros_like(target)
    hi = np.full_like(target, g_hi)
    i_hi = sgn * law.current(v, hi)
    reach = i_hi > target
    g = np.where(reach, np.minimum(target / abs(v), g_hi), g_hi)
    active = reach & (target > 0.0)
    g[target == 0.0] = 0.0
    for _ in range(_INVERSE_MAX_ITER):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        f, dfdg = law.current_and_g_derivative(v, g[a])
        f = sgn * f - target[a]
        dfdg = sgn * dfdg
        done = np.abs(f) <= INVERSE_RTOL * target[a]
        lo[a] = np.where(f < 0.0, g[a], lo[a])
        hi[a] = np.where(f > 0.0, g[a], hi[a])
        with np.errstate(divide="ignore", invalid="ignore"):
            gn = g[a] - f / dfdg
        mid = 0.5 * (lo[a] + hi[a])
        gn = np.where(np.isfinite(gn) & (gn > lo[a]) & (gn < hi[a]), gn, mid)
        done |= gn == g[a]
        g[a] = np.where(done, g[a], gn)
        active[a[done]] = False
    return g.reshape(i.shape)


def conductance_temperature_factor(card, temperature_k: float,
                                   reference_k: float = T_REF_K) -> float:
    r"""Read conductance at ``temperature_k`` relative to its value at ``reference_k`` [-].

    .. math:: \frac{G(T)}{G(T_\mathrm{ref})} = \exp\bigl(\alpha\,(T - T_\mathrm{ref})\bigr),
              \qquad \alpha = \frac{\mathrm{d}\ln G}{\mathrm{d}T}

    with :math:`\alpha` = the card's ``g_tc_per_k`` [1/K] (0 when the card has none). ``ln G``
    linear in ``T`` is the first-order expansion, about the programming temperature, of
    both a thermally activated conduction (:math:`\alpha = E_a/(k_B T^2) > 0`, hopping in
    the disordered oxide of intermediate RRAM states or amorphous PCM) and a metallic one
    (:math:`\alpha < 0`, a fully formed filament); the exponential form keeps the
    conductance positive over wide sweeps. Programmed conductances are taken as their values
    at the programming temperature ``reference_k``.

    Parameters
    ----------
    card : Card
        Memory card (kinds ``rram``, ``1t1r``, ``pcm``), optional field ``g_tc_per_k``.
    temperature_k : float
        Read temperature [K].
    reference_k : float
        Temperature at which the conductances were programmed [K].

    References
    ----------
    .. [1] H. Xu, Y. Sun, Y. Zhu, X. Wang and G. Qin, "Statistical temperature coefficient
       distribution in analog RRAM array: impact on neuromorphic system and mitigation
       method", arXiv:2105.05534 (2021). doi:10.48550/arXiv.2105.05534 (state-dependent
       conductance temperature coefficients of analog HfOx RRAM).
    .. [2] M. Le Gallo, D. Krebs, F. Zipoli, M. Salinga and A. Sebastian, "The complete
       time/temperature dependence of I-V drift in PCM devices", IEEE International
       Reliability Physics Symposium (IRPS) 2016 (DOI not verified; activated conduction of
       amorphous PCM from 180 K to 400 K).
    """
    caller = "conductance_temperature_factor"
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    t0 = check_scalar("reference_k", reference_k, caller, lo=0.0, lo_open=True)
    from . import cards

    card = cards.load(card, kinds=("rram", "1t1r", "pcm"), field="card", caller=caller)
    alpha = float(card.get("g_tc_per_k", 0.0))
    return float(np.exp(alpha * (t - t0)))
