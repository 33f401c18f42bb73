r"""N-bit charge-redistribution DAC (crossbar row driver) with gain, offset and INL errors.

The DAC is a binary-weighted array of :math:`2^N` unit capacitors :math:`C_u` (weights
:math:`2^{N-1} \dots 1` plus a unit terminating capacitor) whose bottom plates are switched
between :math:`V_\mathrm{ref}` and ground; the floating top plate settles at

.. math::

    V_\mathrm{out}(D) = (1 + \epsilon_g)\Bigl[D\,\mathrm{LSB}
        + \mathrm{INL}_\mathrm{pk}\,\mathrm{LSB}\;4x(1-x)\Bigr] + V_\mathrm{os},
    \qquad \mathrm{LSB} = V_\mathrm{ref}/2^N, \quad x = D/(2^N - 1)

for code :math:`D`: gain error :math:`\epsilon_g`, offset :math:`V_\mathrm{os}` and a
bow-shaped (second-order) integral non-linearity of peak :math:`\mathrm{INL}_\mathrm{pk}` LSB at
mid-scale, zero at both end codes (end-point INL), the typical shape of a mismatched or
voltage-dependent capacitor array.

Energy. Starting each conversion from the reset state (all bottom plates grounded), raising
the capacitors of the set bits :math:`C(D) = D\,C_u` to :math:`V_\mathrm{ref}` draws from the
reference (charge conservation on the floating top plate, total :math:`C_\mathrm{tot} = 2^N C_u`)

.. math::

    E(D) = V_\mathrm{ref}^2\Bigl[C(D) - \frac{C(D)^2}{C_\mathrm{tot}}\Bigr]
         = C_u V_\mathrm{ref}^2\,D\Bigl(1 - \frac{D}{2^N}\Bigr),

zero at :math:`D = 0`, largest (:math:`C_\mathrm{tot}V_\mathrm{ref}^2/4`) at mid-scale; the
card adds a driver (buffer) energy per conversion. :attr:`Dac.code_energy_j` tabulates it per
code, so a tile sums ``dac.code_energy_j[codes].sum()``.

References
----------
.. [1] J. L. McCreary, P. R. Gray, "All-MOS charge redistribution analog-to-digital conversion
   techniques — Part I", IEEE J. Solid-State Circuits 10(6), 371–379 (1975),
   doi:10.1109/JSSC.1975.1050629.
.. [2] D. A. Johns, K. Martin, *Analog Integrated Circuit Design*, Wiley (1997), ch. 12,
   ISBN 978-0-471-14448-9 (charge-redistribution D/A converters; INL and gain/offset errors).
"""

from __future__ import annotations

import functools

import numpy as np

from . import cards
from ._checks import check_array, check_int, check_scalar

__all__ = ["Dac"]


class Dac:
    r"""N-bit capacitive DAC: ``convert(codes) -> volts`` with its energy per code.

    Parameters
    ----------
    bits : int
        Resolution N, 1…20 [bit].
    v_ref_v : float
        Reference voltage; the ideal output is V_ref·D/2**N [V].
    gain_error : float
        Relative gain error ε_g [-].
    offset_v : float
        Output offset [V].
    inl_lsb : float
        Peak of the bow-shaped INL at mid-scale [LSB].
    unit_cap_f : float
        Unit capacitor C_u [F].
    e_driver_j : float
        Driver / buffer energy per conversion [J].
    t_settle_s : float
        Settling time of one conversion [s].
    area_m2 : float, optional
        Layout area [m²].

    Attributes
    ----------
    code_energy_j : numpy.ndarray
        Capacitor switching energy of each code, C_u·V_ref²·D·(1 − D/2**N) [J], shape
        (2**bits,).
    """

    def __init__(self, bits, v_ref_v=1.0, *, gain_error=0.0, offset_v=0.0, inl_lsb=0.0,
                 unit_cap_f=1e-15, e_driver_j=0.0, t_settle_s=0.0, area_m2=None):
        who = "Dac"
        self.bits = check_int("bits", bits, who, lo=1, hi=20)
        self.v_ref_v = check_scalar("v_ref_v", v_ref_v, who, lo=0.0, lo_open=True)
        self.gain_error = check_scalar("gain_error", gain_error, who, lo=-0.5, hi=0.5)
        self.offset_v = check_scalar("offset_v", offset_v, who)
        self.inl_lsb = check_scalar("inl_lsb", inl_lsb, who)
        self.unit_cap_f = check_scalar("unit_cap_f", unit_cap_f, who, lo=0.0, lo_open=True)
        self.e_driver_j = check_scalar("e_driver_j", e_driver_j, who, lo=0.0)
        self.t_settle_s = check_scalar("t_settle_s", t_settle_s, who, lo=0.0)
        self.area_m2 = None if area_m2 is None else check_scalar("area_m2", area_m2, who, lo=0.0)

    @classmethod
    def from_card(cls, card, bits=None, v_ref_v=None, **overrides) -> Dac:
        """Build a DAC from a ``dac`` card; ``bits``/``v_ref_v``/keywords override the card.

        The INL peak in LSB and the driver energy are kept when ``bits`` changes.
        """
        c = cards.load(card, kinds=("dac",), field="card", caller="Dac.from_card")
        kw = dict(
            bits=c.bits if bits is None else bits,
            v_ref_v=c.v_ref_v if v_ref_v is None else v_ref_v,
            gain_error=c.get("gain_error", 0.0),
            offset_v=c.get("offset_v", 0.0),
            inl_lsb=c.get("inl_lsb", 0.0),
            unit_cap_f=c.unit_cap_f,
            e_driver_j=c.get("e_driver_j", 0.0),
            t_settle_s=c.get("t_settle_s", 0.0),
            area_m2=c.get("area_m2"),
        )
        kw.update(overrides)
        return cls(**kw)

    @property
    def n_codes(self) -> int:
        """Number of input codes 2**bits [-]."""
        return 1 << self.bits

    @property
    def lsb_v(self) -> float:
        """Ideal step V_ref/2**N [V]."""
        return self.v_ref_v / self.n_codes

    @property
    def full_scale_v(self) -> float:
        """Ideal output at the top code, V_ref·(2**N − 1)/2**N [V]."""
        return self.lsb_v * (self.n_codes - 1)

    def _codes(self, codes, who):
        return check_array("codes", codes, who, dtype=np.int64, lo=0, hi=self.n_codes - 1)

    def convert(self, codes) -> np.ndarray:
        """Output voltage of each code (any shape) with gain, offset and INL errors [V]."""
        d = self._codes(codes, "Dac.convert").astype(np.float64)
        top = max(self.n_codes - 1, 1)
        x = d / top
        ideal = d + self.inl_lsb * 4.0 * x * (1.0 - x)
        return (1.0 + self.gain_error) * ideal * self.lsb_v + self.offset_v

    def quantize(self, x) -> np.ndarray:
        """Codes for normalised inputs ``x`` in [0, 1]: round(x·(2**N − 1)) [-]."""
        arr = check_array("x", x, "Dac.quantize", lo=0.0, hi=1.0)
        return np.rint(arr * (self.n_codes - 1)).astype(np.int64)

    @functools.cached_property
    def code_energy_j(self) -> np.ndarray:
        """Switching energy of each code from the reset state [J], shape (2**bits,)."""
        d = np.arange(self.n_codes, dtype=np.float64)
        e = self.unit_cap_f * self.v_ref_v**2 * d * (1.0 - d / self.n_codes)
        e.setflags(write=False)
        return e

    @property
    def mean_energy_j(self) -> float:
        """Energy per conversion averaged over uniform codes, switching + driver [J]."""
        return float(self.code_energy_j.mean()) + self.e_driver_j

    def energy_j(self, codes) -> float:
        """Total energy (switching + driver) of converting ``codes`` [J]."""
        c = self._codes(codes, "Dac.energy_j")
        hist = np.bincount(c.ravel(), minlength=self.n_codes)
        return float(hist @ self.code_energy_j) + c.size * self.e_driver_j

    def __repr__(self) -> str:
        return (f"Dac(bits={self.bits}, v_ref_v={self.v_ref_v!r}, gain_error={self.gain_error!r},"
                f" offset_v={self.offset_v!r}, inl_lsb={self.inl_lsb!r})")
