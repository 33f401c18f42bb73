"""Cell current–voltage laws for crossbar solves.

A *cell law* is any object with two vectorised methods (the :class:`CellIV` protocol):

* ``current(v_v, g_s) -> i_a``: the current through a cell [A] with voltage ``v_v`` across it
  [V] and programmed small-signal conductance ``g_s`` [S];
* ``current_and_derivative(v_v, g_s) -> (i_a, di_dv_s)``: the current and its derivative with
  respect to the voltage [S], which Newton's method in :mod:`cimsim.array.crossbar` needs.

Both broadcast over ``v_v`` and ``g_s`` like a NumPy ufunc. They do not validate their
arguments (they sit in the inner loop of the nonlinear crossbar solve); the public functions
that call them validate once. A law may set ``is_linear = True`` to tell solvers that
``current(v, g) == g * v`` exactly, so the linear (one factorisation, one GEMM) path applies.
Laws with ``current(0, g) == 0`` and ``di_dv >= 0`` (passive, monotone) are what the crossbar
solver's convergence argument assumes.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from ._checks import check_scalar

__all__ = ["CellIV", "LinearIV", "SinhIV"]


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

    def current(self, v_v, g_s) -> np.ndarray:
        """Cell current [A] for voltage ``v_v`` [V] across a cell of conductance ``g_s`` [S]."""
        return np.multiply(g_s, v_v, dtype=np.float64)

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
