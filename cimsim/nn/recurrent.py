"""Recurrent layers: :class:`LSTM` and :class:`GRU` with their weight products on tiles.

Both follow PyTorch's equations, parameter names and gate order (one layer, one direction,
``batch_first``, zero initial state), so ``torch.nn.LSTM`` / ``GRU`` weights load unchanged.
The input matrix ``W_ih`` (group 0) and the recurrent matrix ``W_hh`` (group 1) run on tiles:
the input products of all time steps in one batched call, the recurrent product once per step.
Biases, gate nonlinearities and the state updates are digital (``digital_ops``: the
``"bias"`` and ``"recurrent"`` lines of the energy breakdown).

LSTM (gates i, f, g, o stacked in this order)::

    [i, f, g, o] = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),   h_t = σ(o) ⊙ tanh(c_t)

GRU (gates r, z, n)::

    r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}

References
----------
Hochreiter & Schmidhuber, Neural Computation 9, 1735 (1997), doi:10.1162/neco.1997.9.8.1735.
Cho et al., EMNLP 2014, doi:10.3115/v1/D14-1179 (GRU).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit

from device_models._checks import check_array, fail

from .sequence import SequenceWeighted, check_sample_shape, check_sequence

__all__ = ["GRU", "LSTM"]


class _Recurrent(SequenceWeighted):
    param_names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    weight_param = "weight_ih"
    n_gates = 1

    def __init__(self, weight_ih, weight_hh, bias_ih=None, bias_hh=None, name: str = ""):
        super().__init__(name)
        caller = f"{type(self).__name__} {name!r}"
        self.weight_ih = check_array("weight_ih", weight_ih, caller, ndim=2)
        self.weight_hh = check_array("weight_hh", weight_hh, caller, ndim=2)
        g = self.weight_ih.shape[0]
        if g % self.n_gates or g == 0:
            fail("weight_ih", caller, f"of shape ({self.n_gates}·hidden_size, input_size)",
                 f"array of shape {self.weight_ih.shape}")
        h = g // self.n_gates
        if self.weight_hh.shape != (g, h):
            fail("weight_hh", caller, f"of shape ({g}, {h})",
                 f"array of shape {self.weight_hh.shape}")
        self.bias_ih = None if bias_ih is None else check_array("bias_ih", bias_ih, caller,
                                                                ndim=1)
        self.bias_hh = None if bias_hh is None else check_array("bias_hh", bias_hh, caller,
                                                                ndim=1)
        for k in ("bias_ih", "bias_hh"):
            b = getattr(self, k)
            if b is not None and b.shape != (g,):
                fail(k, caller, f"of shape ({g},)", f"array of shape {b.shape}")
        self.bias = None

    @property
    def input_size(self) -> int:
        return int(self.weight_ih.shape[1])

    @property
    def hidden_size(self) -> int:
        return int(self.weight_hh.shape[1])

    @property
    def n_out(self) -> int:
        return self.hidden_size

    def config(self) -> dict[str, Any]:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "bias": self.bias_ih is not None}

    def matrices(self) -> list[np.ndarray]:
        return [self.weight_ih.T, self.weight_hh.T]

    def output_shape(self, input_shape):
        t, _ = check_sample_shape(self, input_shape, self.input_size)
        return (t, self.hidden_size)

    def _biases(self):
        g = self.weight_ih.shape[0]
        b_ih = np.zeros(g) if self.bias_ih is None else self.bias_ih
        b_hh = np.zeros(g) if self.bias_hh is None else self.bias_hh
        return b_ih, b_hh

    def _bias_ops(self, t: int) -> dict:
        g = self.weight_ih.shape[0]
        return {"bias": {"add": float(t * 2 * g)}} if self.bias_ih is not None else {}

    def _input_products(self, x, matmul):
        n, t, f = x.shape
        return self._mm(matmul, 0, x.reshape(n * t, f)).reshape(n, t, -1) + self._biases()[0]

    def forward(self, x, *, train=False, matmul=None):
        x = check_sequence(self, x, self.input_size)
        xi = self._input_products(x, matmul)
        b_hh = self._biases()[1]
        if matmul is not None and getattr(matmul, "calibrating", False):
            # calibrate W_hh on the states of the float recurrence driven by the analog xi
            states = self._run(xi, lambda h, _t: h @ self.weight_hh.T + b_hh)
            prev = np.concatenate([np.zeros_like(states[:, :1]), states[:, :-1]], axis=1)
            self._mm(matmul, 1, prev.reshape(-1, self.hidden_size))
        return self._run(xi, lambda h, t: self._mm(matmul, 1, h, step=t) + b_hh)

    @classmethod
    def from_spec(cls, get, arr, name):
        i, h = int(get("input_size")), int(get("hidden_size"))
        g = cls.n_gates * h
        bias = bool(get("bias", True))
        return cls(arr("weight_ih", (g, i)), arr("weight_hh", (g, h)),
                   arr("bias_ih", (g,)) if bias else None,
                   arr("bias_hh", (g,)) if bias else None, name=name)


class LSTM(_Recurrent):
    """Long short-term memory layer (PyTorch ``nn.LSTM`` with ``batch_first=True``).

    Parameters
    ----------
    weight_ih : ndarray, shape (4·hidden_size, input_size)
    weight_hh : ndarray, shape (4·hidden_size, hidden_size)
    bias_ih, bias_hh : ndarray, shape (4·hidden_size,), or None

    Input ``(N, T, input_size)``, output the hidden states ``(N, T, hidden_size)``.
    """

    kind = "LSTM"
    n_gates = 4

    def _run(self, xi, rec):
        n, t_len, _ = xi.shape
        hs = self.hidden_size
        h = np.zeros((n, hs))
        c = np.zeros((n, hs))
        out = np.empty((n, t_len, hs))
        for t in range(t_len):
            z = xi[:, t] + rec(h, t)
            i, f = expit(z[:, :hs]), expit(z[:, hs:2 * hs])
            g, o = np.tanh(z[:, 2 * hs:3 * hs]), expit(z[:, 3 * hs:])
            c = f * c + i * g
            h = o * np.tanh(c)
            out[:, t] = h
        return out

    def digital_ops(self, input_shape):
        """Bias adds; per step the sum of the two products, 3 sigmoids, 2 tanh, f·c, i·g,
        o·tanh(c) and the cell-state add (``"recurrent"`` line)."""
        t, hs = int(input_shape[0]), self.hidden_size
        g = 4 * hs
        return {**self._bias_ops(t),
                "recurrent": {"add": float(t * (g + hs)), "sigmoid": float(t * 3 * hs),
                              "tanh": float(t * 2 * hs), "mult": float(t * 3 * hs)}}


class GRU(_Recurrent):
    """Gated recurrent unit (PyTorch ``nn.GRU`` with ``batch_first=True``).

    Parameters
    ----------
    weight_ih : ndarray, shape (3·hidden_size, input_size)
    weight_hh : ndarray, shape (3·hidden_size, hidden_size)
    bias_ih, bias_hh : ndarray, shape (3·hidden_size,), or None
    """

    kind = "GRU"
    n_gates = 3

    def _run(self, xi, rec):
        n, t_len, _ = xi.shape
        hs = self.hidden_size
        h = np.zeros((n, hs))
        out = np.empty((n, t_len, hs))
        for t in range(t_len):
            zh = rec(h, t)
            zx = xi[:, t]
            r = expit(zx[:, :hs] + zh[:, :hs])
            z = expit(zx[:, hs:2 * hs] + zh[:, hs:2 * hs])
            nn_ = np.tanh(zx[:, 2 * hs:] + r * zh[:, 2 * hs:])
            h = (1.0 - z) * nn_ + z * h
            out[:, t] = h
        return out

    def digital_ops(self, input_shape):
        """Bias adds; per step the r and z sums, 2 sigmoids, r·(W_hn h + b_hn) and its add,
        tanh, 1 − z, (1 − z)·n, z·h and their add (``"recurrent"`` line)."""
        t, hs = int(input_shape[0]), self.hidden_size
        return {**self._bias_ops(t),
                "recurrent": {"add": float(t * 5 * hs), "sigmoid": float(t * 2 * hs),
                              "tanh": float(t * hs), "mult": float(t * 3 * hs)}}
