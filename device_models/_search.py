"""Shared machinery of converters whose conversion is a binary search over weighted references.

A current-mode sense-amplifier read-out (:mod:`device_models.sense_amp`) searches its input
against a binary-weighted reference current; an oscillator-based converter
(:mod:`device_models.cco_adc`) counts, which is the uniform quantiser the same decision tables
describe. Both expose the interface the tiles' read-out uses for every converter kind
(:class:`device_models.adc.SarAdc` has it too):

* ``input_kind`` (``"voltage"`` or ``"current"``), ``full_scale`` and ``lsb`` in that unit;
* ``decision_tables()`` → ``(t0, up, dn, trial)``: bit k is 1 when
  ``x + n_s − offset + n_c ≥ acc + trial[k]``, then ``acc += up[k]`` else ``acc += dn[k]``;
* ``offset``, ``sampling_sigma`` (one draw per conversion), ``decision_noise`` (one draw per
  decision), all in the input unit;
* ``code_energy_j`` (per output code), ``e_comparator_j`` and ``e_logic_j`` (per conversion),
  ``conversion_time_s``, ``area_m2``.

Conversions run the search kernels of :mod:`device_models.adc` (one implementation).
"""

from __future__ import annotations

import functools

import numpy as np

from . import rng
from ._checks import check_array
from ._jit import backend

__all__: list[str] = []


def binary_weights(bits: int, unit_mismatch: float, seed: int, tag: str) -> np.ndarray:
    r"""Weights of a binary-weighted reference (bit k: :math:`2^k` units) normalised to the
    nominal total :math:`2^N` units, with each unit's relative mismatch ``unit_mismatch``
    (:math:`\sigma(w_k) = \sigma_u\sqrt{2^k}/2^N`, independent units) [-]."""
    m = 2.0 ** np.arange(bits)
    if unit_mismatch > 0.0:
        z = rng.normals_at(rng.derive_key(seed, tag), np.arange(bits, dtype=np.uint64))
        m = m * (1.0 + unit_mismatch * z / np.sqrt(m))
    return np.maximum(m, 0.0) / 2.0**bits


class SearchConverter:
    """Base of the binary-search converters (module docstring); subclasses set the tables.

    Subclasses call :meth:`_set_tables` with the weights of their reference and define
    ``code_energy_j``, ``e_comparator_j``, ``e_logic_j`` and ``conversion_time_s``.
    """

    input_kind = "current"
    bits: int
    full_scale: float
    offset: float = 0.0
    sampling_sigma: float = 0.0
    decision_noise: float = 0.0
    area_m2: float | None = None
    seed: int = 0

    def _set_tables(self, weights: np.ndarray) -> None:
        fs = self.full_scale
        n = self.bits
        self._t0 = 0.0
        self._up = fs * np.asarray(weights, dtype=np.float64)
        self._dn = np.zeros(n)
        self._trial = self._up.copy()
        self._key_s = rng.derive_key(self.seed, type(self).__name__, "sample")
        self._key_c = rng.derive_key(self.seed, type(self).__name__, "decision")

    @property
    def n_codes(self) -> int:
        """Number of output codes, 2**bits [-]."""
        return 1 << self.bits

    @property
    def lsb(self) -> float:
        """Ideal code width full_scale / 2**bits (input unit)."""
        return self.full_scale / self.n_codes

    def decision_tables(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """``(t0, up, dn, trial)`` of the search (module docstring), in the input unit."""
        return self._t0, self._up.copy(), self._dn.copy(), self._trial.copy()

    @functools.cached_property
    def thresholds(self) -> np.ndarray:
        """Threshold of each decision along the search path of each code, shape
        (2**bits, bits), column k the decision on bit k (input unit)."""
        n = self.bits
        codes = np.arange(self.n_codes, dtype=np.int64)
        out = np.empty((codes.size, n))
        acc = np.full(codes.size, self._t0)
        for k in range(n - 1, -1, -1):
            out[:, k] = acc + self._trial[k]
            bit = ((codes >> k) & 1).astype(bool)
            acc = acc + np.where(bit, self._up[k], self._dn[k])
        return out

    def convert(self, x, *, offset: int = 0) -> np.ndarray:
        """Codes in [0, 2**bits) of inputs ``x`` (input unit, any shape), with this
        instance's offset, sampling noise and per-decision noise; ``offset`` is the counter
        of the first sample in the noise streams (advance it for fresh noise)."""
        from .adc import _convert_kernel, _convert_numpy

        who = f"{type(self).__name__}.convert"
        arr = check_array("x", x, who)
        base = rng.check_offset("offset", offset, who)
        flat = np.ascontiguousarray(arr.ravel())
        args = (self.bits, self._t0, self._up, self._dn, self._trial, self.sampling_sigma,
                self.decision_noise, self.offset)
        if backend() == "numpy":
            codes = _convert_numpy(flat, *args, self._key_s, self._key_c, base)
        else:
            codes = np.empty(flat.size, dtype=np.int64)
            _convert_kernel(flat, codes, *args, np.uint64(self._key_s), np.uint64(self._key_c),
                            base)
        return codes.reshape(arr.shape)

    def conversion_energy_j(self, codes) -> np.ndarray:
        """Energy of each conversion that produced ``codes``: code table + fixed parts [J]."""
        c = check_array("codes", codes, f"{type(self).__name__}.conversion_energy_j",
                        dtype=np.int64, lo=0, hi=self.n_codes - 1)
        return self.code_energy_j[c] + (self.e_comparator_j + self.e_logic_j)
