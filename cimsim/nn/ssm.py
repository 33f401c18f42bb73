r"""Diagonal linear state-space layer (S4D / LRU style) with its projections on tiles.

For each of ``P`` state dimensions with eigenvalue :math:`\lambda_p`,

.. math::

    u_t = B x_t, \qquad s_t = \lambda \odot s_{t-1} + u_t, \qquad
    y_t = \mathrm{Re}(C s_t) + b, \qquad
    \lambda_p = \exp\bigl(-e^{\nu_p} + i\,\theta_p\bigr)

so :math:`|\lambda_p| = e^{-e^{\nu_p}} < 1` (stable for any ``log_rate`` ν) and the
impulse response of input ``x_0`` is :math:`y_t = \mathrm{Re}(C\,\mathrm{diag}(\lambda^t) B
x_0)`. A real recurrence (``angle`` None) has :math:`\lambda_p \in (0, 1)`.

The input projection ``B`` (group 0) and the output projection ``C`` (group 1) run on tiles,
each in one batched call over all time steps. For a complex recurrence they are stored as real
matrices: ``weight_in`` (2P, F_in) stacks Re B over Im B, ``weight_out`` (F_out, 2P) is
[Re C, −Im C], so ``y = weight_out @ [Re s; Im s]``.

The recurrence runs digitally (``recurrence="digital"``, a multiply and an add per real state
and step), or — real recurrences only — on an analog leaky integrator per state
(``recurrence="analog"``): the state is the voltage of a capacitor ``integrator_c_f`` charged by
``integrator_v_per_unit`` volts per unit of input and discharged between tokens (``dt_s``)
through a subthreshold transistor (:mod:`device_models.integrator`). Each transistor's gate is
biased at ``integrator_t_nominal_k`` so that its small-signal leak gives
:math:`\lambda_p = e^{-g_0 \Delta t / C}`; at any other chip temperature, and for states large
against U_T, the decay departs from the trained one as the device dictates. Charging costs
``C · V_DD · |Δv|`` per state and step (``analog_state`` in the energy breakdown).

References
----------
Gu, Goel, Gupta & Ré, "On the parameterization and initialization of diagonal state space
models" (S4D), NeurIPS 2022, doi:10.48550/arXiv.2206.11893.
Orvieto et al., "Resurrecting recurrent neural networks for long sequences" (LRU), ICML 2023,
doi:10.48550/arXiv.2303.06349.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from device_models._checks import check_array, check_choice, check_scalar, fail
from device_models.errors import InvalidParameterError

from ..ops import OpCounts
from .sequence import SequenceWeighted, check_sample_shape, check_sequence

__all__ = ["DiagonalSSM"]


class DiagonalSSM(SequenceWeighted):
    """Diagonal linear state-space layer (see the module docstring).

    Parameters
    ----------
    weight_in : ndarray, shape (P, F_in) real or (2P, F_in) complex
        Input projection B.
    weight_out : ndarray, shape (F_out, P) or (F_out, 2P)
        Output projection C.
    log_rate : ndarray, shape (P,)
        ν: :math:`|\\lambda| = \\exp(-e^\\nu)`.
    angle : ndarray, shape (P,), or None
        θ [rad]: a complex recurrence; None for a real one.
    bias : ndarray, shape (F_out,), or None
    recurrence : {"digital", "analog"}
        Where the recurrence runs on the chip (the float forward is exact either way).
    integrator_c_f : float
        Capacitance of an analog state [F].
    integrator_dt_s : float
        Time between tokens over which an analog state leaks [s].
    integrator_v_per_unit : float
        Capacitor voltage per unit of state [V].
    integrator_t_nominal_k : float
        Temperature at which the leak transistors' gates are biased [K].

    Notes
    -----
    The integrator defaults (1 pF, 1 µs between tokens, 1 mV per unit of state) are design
    choices, not values of a published circuit: 1 mV per unit keeps states of a few units far
    below U_T (the leak stays nearly linear, relative error about v/2U_T) while the kT/C noise
    of 1 pF (64 µV rms at 300 K) is 0.06 unit.
    """

    kind = "DiagonalSSM"
    param_names = ("weight_in", "weight_out", "log_rate", "angle", "bias")
    weight_param = "weight_in"

    def __init__(self, weight_in, weight_out, log_rate, angle=None, bias=None, *,
                 recurrence: str = "digital", integrator_c_f: float = 1e-12,
                 integrator_dt_s: float = 1e-6, integrator_v_per_unit: float = 1e-3,
                 integrator_t_nominal_k: float = 300.0, name: str = "") -> None:
        super().__init__(name)
        caller = f"DiagonalSSM {name!r}"
        self.log_rate = check_array("log_rate", log_rate, caller, ndim=1)
        p = self.log_rate.shape[0]
        self.angle = None if angle is None else check_array("angle", angle, caller, ndim=1)
        if self.angle is not None and self.angle.shape != (p,):
            fail("angle", caller, f"of shape ({p},) like log_rate",
                 f"array of shape {self.angle.shape}")
        s = p if self.angle is None else 2 * p
        self.weight_in = check_array("weight_in", weight_in, caller, ndim=2)
        if self.weight_in.shape[0] != s:
            fail("weight_in", caller, f"of shape ({s}, F_in)",
                 f"array of shape {self.weight_in.shape}")
        self.weight_out = check_array("weight_out", weight_out, caller, ndim=2)
        if self.weight_out.shape[1] != s:
            fail("weight_out", caller, f"of shape (F_out, {s})",
                 f"array of shape {self.weight_out.shape}")
        self.bias = None if bias is None else check_array("bias", bias, caller, ndim=1)
        if self.bias is not None and self.bias.shape != (self.weight_out.shape[0],):
            fail("bias", caller, f"of shape ({self.weight_out.shape[0]},)",
                 f"array of shape {self.bias.shape}")
        check_choice("recurrence", recurrence, caller, ("digital", "analog"),
                     exc=InvalidParameterError)
        if recurrence == "analog" and self.angle is not None:
            fail("recurrence", caller, "'digital' for a complex recurrence (an RC integrator "
                 "has a real decay)", recurrence)
        self.recurrence = recurrence
        self.integrator_c_f = check_scalar("integrator_c_f", integrator_c_f, caller, lo=0.0,
                                           lo_open=True)
        self.integrator_dt_s = check_scalar("integrator_dt_s", integrator_dt_s, caller,
                                            lo=0.0, lo_open=True)
        self.integrator_v_per_unit = check_scalar("integrator_v_per_unit",
                                                  integrator_v_per_unit, caller, lo=0.0,
                                                  lo_open=True)
        self.integrator_t_nominal_k = check_scalar("integrator_t_nominal_k",
                                                   integrator_t_nominal_k, caller, lo=0.0,
                                                   lo_open=True)

    # -- shapes and parameters ------------------------------------------------------------------
    @property
    def state_size(self) -> int:
        return int(self.log_rate.shape[0])

    @property
    def complex(self) -> bool:
        return self.angle is not None

    @property
    def in_features(self) -> int:
        return int(self.weight_in.shape[1])

    @property
    def out_features(self) -> int:
        return int(self.weight_out.shape[0])

    @property
    def n_out(self) -> int:
        return self.out_features

    def eigenvalues(self) -> np.ndarray:
        """λ (complex, or real in (0, 1)), shape (P,)."""
        mag = np.exp(-np.exp(self.log_rate))
        return mag if self.angle is None else mag * np.exp(1j * self.angle)

    def config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features,
                "state_size": self.state_size, "complex": self.complex,
                "bias": self.bias is not None, "recurrence": self.recurrence,
                "integrator_c_f": self.integrator_c_f, "integrator_dt_s": self.integrator_dt_s,
                "integrator_v_per_unit": self.integrator_v_per_unit,
                "integrator_t_nominal_k": self.integrator_t_nominal_k}

    def matrices(self) -> list[np.ndarray]:
        return [self.weight_in.T, self.weight_out.T]

    def output_shape(self, input_shape):
        t, _ = check_sample_shape(self, input_shape, self.in_features)
        return (t, self.out_features)

    # -- forward ------------------------------------------------------------------------------
    def scan(self, u: np.ndarray) -> np.ndarray:
        """Exact digital recurrence ``s_t = λ s_{t-1} + u_t`` on real-stacked inputs
        ``u`` (N, T, S); returns the states in the same layout."""
        lam = self.eigenvalues()
        p = self.state_size
        s = np.empty_like(u)
        if self.complex:
            uc = u[..., :p] + 1j * u[..., p:]
            st = np.zeros(uc.shape[::2], dtype=complex)
            for t in range(u.shape[1]):
                st = lam * st + uc[:, t]
                s[:, t, :p], s[:, t, p:] = st.real, st.imag
        else:
            st = np.zeros((u.shape[0], p))
            for t in range(u.shape[1]):
                st = lam * st + u[:, t]
                s[:, t] = st
        return s

    def integrator_gates_v(self, card: str) -> np.ndarray:
        """Gate voltages of the leak transistors that give λ at the nominal temperature [V]."""
        from device_models.integrator import leak_gate_for_conductance_v

        g0 = self.integrator_c_f * np.exp(self.log_rate) / self.integrator_dt_s
        return leak_gate_for_conductance_v(g0, card, self.integrator_t_nominal_k)

    def analog_scan(self, u: np.ndarray, card: str, temperature_k: float, *,
                    seed: int | None = None, first: int = 0) -> np.ndarray:
        """The recurrence on leaky integrators.

        Each step charges the capacitor by ``u_t · v_per_unit`` (its state is read then, as
        ``v / v_per_unit``), then lets it leak for ``dt_s`` through its transistor at
        ``temperature_k`` (:func:`device_models.integrator.leak_integrators` with
        :func:`device_models.neuron.integrate_membrane`, RK4 sub-steps of at most a quarter
        of the fastest small-signal time constant) and adds the leak's thermal noise: the
        exact discretisation of the RC node's Ornstein-Uhlenbeck process, variance
        ``kT/C · (1 − e^{−2 g_0 Δt / C})`` per step (stationary ``kT/C``,
        :func:`device_models.noise.ktc_rms`); ``seed`` None leaves it out. Stream:
        ``(seed, "ssm_ktc", name, t)`` at element ``(first + n)·P + p``.

        References
        ----------
        Sarpeshkar, Delbrück & Mead (1993), doi:10.1109/101.261888 (kT/C noise).
        """
        from device_models import rng
        from device_models.integrator import leak_conductance_s, leak_integrators
        from device_models.neuron import integrate_membrane
        from device_models.noise import ktc_rms

        vg = self.integrator_gates_v(card)
        c, dt, k = self.integrator_c_f, self.integrator_dt_s, self.integrator_v_per_unit
        g0 = leak_conductance_s(vg, card, temperature_k)
        sub = int(min(max(4, np.ceil(4.0 * float(np.max(g0)) * dt / c)), 1 << 16))
        mem = leak_integrators(vg, card, c, temperature_k)
        sigma = float(ktc_rms(c, temperature_k)) * np.sqrt(-np.expm1(-2.0 * g0 * dt / c))
        n, p = u.shape[0], self.state_size
        v = np.zeros((n, p))
        s = np.empty_like(u)
        zero = np.zeros((n, p))
        for t in range(u.shape[1]):
            if t:
                v = integrate_membrane(v, zero, mem, 0.0, dt, substeps=sub)
                if seed is not None:
                    key = rng.derive_key(seed, "ssm_ktc", self.name, t)
                    v = v + sigma * rng.standard_normal(key, (n, p), offset=first * p)
            v = v + k * u[:, t]
            s[:, t] = v / k
        return s

    def forward(self, x, *, train=False, matmul=None):
        x = check_sequence(self, x, self.in_features)
        n, t, f = x.shape
        u = self._mm(matmul, 0, x.reshape(n * t, f)).reshape(n, t, -1)
        hw = getattr(matmul, "hardware", None) if matmul is not None else None
        if self.recurrence == "analog" and hw is not None:
            mos = _leak_transistor_card(hw)
            noise = hw.read_noise      # the chip's analog noise switch
            s = self.analog_scan(u, mos, hw.temperature_k, seed=hw.seed if noise else None,
                                 first=int(getattr(matmul, "first", 0)))
            add = getattr(matmul, "add_counts", None)
            if add is not None:
                from ..ppa.energy import load_tech

                # each step charges C by k·u_t from the supply: E = C · V_DD · |k·u_t|
                vdd = float(load_tech(hw.tech_card).vdd_v)
                e = self.integrator_c_f * vdd * self.integrator_v_per_unit * np.abs(u).sum()
                add(self.name, OpCounts(analog_state_energy_j=float(e)))
        else:
            s = self.scan(u)
        y = self._mm(matmul, 1, s.reshape(n * t, -1)).reshape(n, t, -1)
        return y if self.bias is None else y + self.bias

    def digital_ops(self, input_shape):
        """Bias adds; a digital recurrence costs per step and state λ·s + u (real: 1 mult,
        1 add; complex: 4 mults, 4 adds) on the ``"recurrence"`` line. The analog recurrence
        is counted as ``analog_state`` energy instead."""
        t = int(input_shape[0])
        out = {"bias": {"add": float(t * self.out_features)}} if self.bias is not None else {}
        if self.recurrence == "digital":
            m = float(t * (4 if self.complex else 1) * self.state_size)
            out["recurrence"] = {"mult": m, "add": m}
        return out

    @classmethod
    def from_spec(cls, get, arr, name):
        fi, fo, p = int(get("in_features")), int(get("out_features")), int(get("state_size"))
        cplx = bool(get("complex", False))
        s = 2 * p if cplx else p
        return cls(arr("weight_in", (s, fi)), arr("weight_out", (fo, s)),
                   arr("log_rate", (p,)), arr("angle", (p,)) if cplx else None,
                   arr("bias", (fo,)) if get("bias", True) else None,
                   recurrence=get("recurrence", "digital"),
                   integrator_c_f=get("integrator_c_f", 1e-12),
                   integrator_dt_s=get("integrator_dt_s", 1e-6),
                   integrator_v_per_unit=get("integrator_v_per_unit", 1e-3),
                   integrator_t_nominal_k=get("integrator_t_nominal_k", 300.0), name=name)


def _leak_transistor_card(hw) -> str:
    """MOSFET card of the leak transistors: the device card's access transistor (its
    ``mosfet_card``), else the periphery card's."""
    from device_models import cards

    for name in (hw.device_card, hw.periphery_card):
        card = cards.load(name)
        mos = card.get("mosfet_card")
        if mos is not None:
            return str(mos)
    raise InvalidParameterError(
        "DiagonalSSM: recurrence='analog' needs a MOSFET card for the leak transistors; "
        f"neither {hw.device_card!r} nor {hw.periphery_card!r} names a mosfet_card.")
