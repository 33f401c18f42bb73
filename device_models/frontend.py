r"""Column front end: column current → ADC input voltage, and ADC range calibration.

Two read-out circuits map a column current :math:`I` [A] to a voltage the ADC digitises on its
[0, FS] scale:

* transimpedance amplifier (TIA): :math:`V = V_\mathrm{os} + R_f\,I`;
* charge integrator (switched-capacitor, reset before each read):
  :math:`V = V_\mathrm{os} + I\,t_\mathrm{int}/C_\mathrm{int}`;

each clipped to the amplifier's output swing :math:`[V_\mathrm{min}, V_\mathrm{max}]`; and,
for read-outs that take a current (current-mode sense amplifiers, CCO ADCs), a calibrated
current mirror :math:`I_\mathrm{out} = I_\mathrm{os} + r\,I`, clipped to
:math:`[0, I_\mathrm{max}]` (:class:`CurrentMirror`; its ratio error and noise are those of
:mod:`device_models.current_mirror`). A signed
column signal (differential weights, :math:`I^+ - I^-`) is centred by an offset at mid-range.

Each circuit's own noise, referred to its input current (``input_noise_a2``, variance over a
read [A²]) at the temperature :math:`T`, adds to the column's read noise:

* integrator: the reset switch leaves the kT/C noise :math:`\sqrt{k_B T/C_\mathrm{int}}` on
  the capacitor at the start of every integration (no correlated double sampling), which is
  the output error of a current :math:`C_\mathrm{int}/t_\mathrm{int}` times as large:
  :math:`\sigma_I^2 = k_B T\,C_\mathrm{int}/t_\mathrm{int}^2`
  (:func:`device_models.noise.ktc_rms`) [3]_;
* TIA: the Johnson noise of its feedback resistor over the read's noise bandwidth
  :math:`\Delta f`, :math:`\sigma_I^2 = 4 k_B T \Delta f / R_f`
  (:func:`device_models.noise.johnson_psd`) [1]_;
* current mirror: none here (the mirror's noise depends on the currents it copies,
  :func:`device_models.current_mirror.noise_psd_a2_per_hz`; the tile adds it with the cells').

Range calibration picks the gain so that a calibration set of column signals fills the ADC
range: ``"minmax"`` maps the largest magnitude to full scale; ``"percentile"`` maps the
p-th percentile of the magnitudes, clipping the rare larger values in exchange for a finer
LSB (the usual choice in CIM, e.g. Le Gallo et al. 2023). Gains may be per column: a
circuit's ``r_f_ohm`` / ``c_int_f`` (and ``v_offset_v``) may be arrays, one entry per column.

The tiles use these circuits as their column front end (:mod:`cimsim.tile.frontend`): a charge
integrator over the cycle's window (every input encoding) or a TIA (voltage-coded inputs), its
gain set by :func:`calibrate_range` and :meth:`ChargeIntegrator.for_range`.

References
----------
.. [1] B. Razavi, *Design of Integrated Circuits for Optical Communications*, 2nd ed., Wiley
   (2012), ch. 4 (transimpedance amplifiers).
.. [2] M. Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based on
   phase-change memory for deep neural network inference", Nature Electronics 6, 680–693
   (2023), doi:10.1038/s41928-023-01010-1 (per-column ADC range calibration).
.. [3] R. Sarpeshkar, T. Delbrück, C. A. Mead, "White noise in MOS transistors and
   resistors", IEEE Circuits and Devices Magazine 9(6), 23–29 (1993),
   doi:10.1109/101.261888 (kT/C noise of a reset capacitor).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._checks import check_array, check_bool, check_choice, check_scalar, fail

__all__ = [
    "ChargeIntegrator",
    "CurrentMirror",
    "Tia",
    "calibrate_range",
    "gain_for_range",
]


def _gain(name, value, caller):
    """A positive scalar (float) or per-column array of a circuit parameter."""
    if not _is_array(value):
        return check_scalar(name, value, caller, lo=0.0, lo_open=True)
    return check_array(name, value, caller, ndim=1, positive=True)


def _is_array(value) -> bool:
    return isinstance(value, (list, tuple)) or isinstance(value, np.ndarray) and value.ndim > 0


def _offset(value, caller):
    if not _is_array(value):
        return check_scalar("v_offset_v", value, caller)
    return check_array("v_offset_v", value, caller, ndim=1)


@dataclasses.dataclass(frozen=True, eq=False)
class Tia:
    """Transimpedance amplifier: V = clip(v_offset_v + r_f_ohm·I, v_min_v, v_max_v).

    Parameters
    ----------
    r_f_ohm : float or ndarray
        Feedback (transimpedance) resistance, scalar or one per column [ohm].
    v_offset_v : float or ndarray
        Output at zero current [V] (mid-range for signed column signals).
    v_min_v, v_max_v : float
        Output swing [V].
    """

    r_f_ohm: float
    v_offset_v: float = 0.0
    v_min_v: float = 0.0
    v_max_v: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "r_f_ohm", _gain("r_f_ohm", self.r_f_ohm, "Tia"))
        object.__setattr__(self, "v_offset_v", _offset(self.v_offset_v, "Tia"))
        check_scalar("v_min_v", self.v_min_v, "Tia")
        if check_scalar("v_max_v", self.v_max_v, "Tia") <= self.v_min_v:
            fail("v_max_v", "Tia", f"> v_min_v ({self.v_min_v})", self.v_max_v)

    def output_v(self, i_a) -> np.ndarray:
        """Output voltage for column currents ``i_a`` [A] (any shape) [V]."""
        i = check_array("i_a", i_a, "Tia.output_v")
        return np.clip(self.v_offset_v + self.r_f_ohm * i, self.v_min_v, self.v_max_v)

    @property
    def gain_ohm(self):
        """Transimpedance r_f [ohm] (scalar or per column)."""
        return self.r_f_ohm

    def input_noise_a2(self, temperature_k: float, bandwidth_hz: float) -> np.ndarray:
        r"""Johnson noise of the feedback resistor referred to the input current over the
        noise bandwidth, :math:`4 k_B T \Delta f / R_f` [A²] (one per column).

        Parameters
        ----------
        temperature_k : float
            Temperature of the resistor [K].
        bandwidth_hz : float
            Noise bandwidth Δf of the read [Hz].

        References
        ----------
        Nyquist (1928), doi:10.1103/PhysRev.32.110.
        """
        from .noise import johnson_psd

        who = "Tia.input_noise_a2"
        t = check_scalar("temperature_k", temperature_k, who, lo=0.0, lo_open=True)
        bw = check_scalar("bandwidth_hz", bandwidth_hz, who, lo=0.0, lo_open=True)
        return johnson_psd(1.0 / np.asarray(self.r_f_ohm, dtype=np.float64), t) * bw

    @classmethod
    def for_range(cls, i_max_a, full_scale_v: float, *, signed: bool = False) -> Tia:
        """TIA mapping [0, i_max] (or [−i_max, i_max] if ``signed``) onto [0, FS]; ``i_max_a``
        scalar or one per column [A]."""
        r, off = gain_for_range(i_max_a, full_scale_v, signed=signed)
        return cls(r_f_ohm=r, v_offset_v=off, v_min_v=0.0, v_max_v=full_scale_v)


@dataclasses.dataclass(frozen=True, eq=False)
class ChargeIntegrator:
    """Charge integrator: V = clip(v_offset_v + I·t_int_s/c_int_f, v_min_v, v_max_v).

    ``I`` is the mean column current over the window (the integrated charge over ``t_int_s``).

    Parameters
    ----------
    c_int_f : float or ndarray
        Integration capacitor, scalar or one per column [F].
    t_int_s : float
        Integration time [s].
    v_offset_v : float
        Output after reset [V].
    v_min_v, v_max_v : float
        Output swing [V].
    """

    c_int_f: float
    t_int_s: float
    v_offset_v: float = 0.0
    v_min_v: float = 0.0
    v_max_v: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "c_int_f", _gain("c_int_f", self.c_int_f, "ChargeIntegrator"))
        check_scalar("t_int_s", self.t_int_s, "ChargeIntegrator", lo=0.0, lo_open=True)
        object.__setattr__(self, "v_offset_v", _offset(self.v_offset_v, "ChargeIntegrator"))
        check_scalar("v_min_v", self.v_min_v, "ChargeIntegrator")
        if check_scalar("v_max_v", self.v_max_v, "ChargeIntegrator") <= self.v_min_v:
            fail("v_max_v", "ChargeIntegrator", f"> v_min_v ({self.v_min_v})", self.v_max_v)

    @property
    def gain_ohm(self):
        """Equivalent transimpedance t_int/C_int [ohm] (scalar or per column)."""
        return self.t_int_s / self.c_int_f

    def reset_noise_v(self, temperature_k: float) -> np.ndarray:
        r"""rms kT/C noise the reset leaves on the capacitor, :math:`\sqrt{k_B T/C_\mathrm{int}}`
        [V] (one per column; :func:`device_models.noise.ktc_rms`).

        References
        ----------
        Sarpeshkar, Delbrück & Mead (1993), doi:10.1109/101.261888.
        """
        from .noise import ktc_rms

        t = check_scalar("temperature_k", temperature_k, "ChargeIntegrator.reset_noise_v",
                         lo=0.0, lo_open=True)
        return ktc_rms(self.c_int_f, t)

    def input_noise_a2(self, temperature_k: float, bandwidth_hz: float | None = None
                       ) -> np.ndarray:
        r"""The reset's kT/C noise referred to the mean input current over the window,
        :math:`(C_\mathrm{int}/t_\mathrm{int})^2\,k_B T/C_\mathrm{int}
        = k_B T\,C_\mathrm{int}/t_\mathrm{int}^2` [A²] (one per column; the whole spectrum,
        so ``bandwidth_hz`` is not used).

        References
        ----------
        Sarpeshkar, Delbrück & Mead (1993), doi:10.1109/101.261888.
        """
        if bandwidth_hz is not None:
            check_scalar("bandwidth_hz", bandwidth_hz, "ChargeIntegrator.input_noise_a2",
                         lo=0.0, lo_open=True)
        v = self.reset_noise_v(temperature_k)
        return (v * (np.asarray(self.c_int_f, dtype=np.float64) / self.t_int_s)) ** 2

    def output_v(self, i_a) -> np.ndarray:
        """Output voltage after integrating ``i_a`` [A] for t_int [V]."""
        i = check_array("i_a", i_a, "ChargeIntegrator.output_v")
        return np.clip(self.v_offset_v + i * self.gain_ohm, self.v_min_v, self.v_max_v)

    @classmethod
    def for_range(cls, i_max_a, full_scale_v: float, t_int_s: float, *,
                  signed: bool = False) -> ChargeIntegrator:
        """Integrator whose capacitor maps [0, i_max] (or ±i_max) onto [0, FS] in t_int;
        ``i_max_a`` scalar or one per column [A]."""
        r, off = gain_for_range(i_max_a, full_scale_v, signed=signed)
        t = check_scalar("t_int_s", t_int_s, "ChargeIntegrator.for_range", lo=0.0, lo_open=True)
        return cls(c_int_f=t / r, t_int_s=t, v_offset_v=off, v_min_v=0.0, v_max_v=full_scale_v)


@dataclasses.dataclass(frozen=True, eq=False)
class CurrentMirror:
    """Calibrated current mirror: I_out = clip(i_offset_a + ratio·I, 0, i_max_a).

    Feeds a current-input read-out with the column current scaled onto its range; a signed
    column signal is centred by the offset current at mid-range.

    Parameters
    ----------
    ratio : float or ndarray
        Current gain r, scalar or one per column [-].
    i_offset_a : float or ndarray
        Output at zero input (mid-range for signed column signals) [A].
    i_max_a : float
        Largest output, the read-out's full scale [A].
    """

    ratio: float
    i_offset_a: float = 0.0
    i_max_a: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "ratio", _gain("ratio", self.ratio, "CurrentMirror"))
        object.__setattr__(self, "i_offset_a", _offset(self.i_offset_a, "CurrentMirror"))
        check_scalar("i_max_a", self.i_max_a, "CurrentMirror", lo=0.0, lo_open=True)

    def output_a(self, i_a) -> np.ndarray:
        """Output current for column currents ``i_a`` [A] (any shape) [A]."""
        i = check_array("i_a", i_a, "CurrentMirror.output_a")
        return np.clip(self.i_offset_a + self.ratio * i, 0.0, self.i_max_a)

    @property
    def gain(self):
        """Current gain r [-] (scalar or per column)."""
        return self.ratio

    def input_noise_a2(self, temperature_k: float, bandwidth_hz: float | None = None
                       ) -> np.ndarray:
        """Zeros [A²] (one per column): the mirror's noise depends on the currents it copies,
        and the tile adds it with the cells' (module docstring)."""
        check_scalar("temperature_k", temperature_k, "CurrentMirror.input_noise_a2", lo=0.0,
                     lo_open=True)
        return np.zeros(np.shape(self.ratio))

    @classmethod
    def for_range(cls, i_max_a, full_scale_a: float, *, signed: bool = False) -> CurrentMirror:
        """Mirror mapping [0, i_max] (or ±i_max if ``signed``) onto [0, full_scale_a];
        ``i_max_a`` scalar or one per column [A]."""
        r, off = gain_for_range(i_max_a, full_scale_a, signed=signed)
        return cls(ratio=r, i_offset_a=off, i_max_a=full_scale_a)


def gain_for_range(i_max_a, full_scale_v: float, *, signed: bool = False) -> tuple:
    """Transimpedance [ohm] and output offset [V] that map the signal range onto [0, FS].

    Unsigned: [0, i_max] → [0, FS], gain FS/i_max, offset 0. Signed: [−i_max, i_max] →
    [0, FS], gain FS/(2·i_max), offset FS/2. ``i_max_a`` [A] may be one value per column (the
    gain is then an array).
    """
    i_max = _gain("i_max_a", i_max_a, "gain_for_range")
    fs = check_scalar("full_scale_v", full_scale_v, "gain_for_range", lo=0.0, lo_open=True)
    if check_bool("signed", signed, "gain_for_range"):
        return fs / (2.0 * i_max), 0.5 * fs
    return fs / i_max, 0.0


def calibrate_range(signal, method: str = "percentile", percentile: float = 99.99, *,
                    axis=None, floor: float | None = None) -> np.ndarray:
    """Signal magnitude to map to full scale, from calibration samples.

    Parameters
    ----------
    signal : array_like
        Calibration column signals (currents [A], charges or voltages), any shape.
    method : {"minmax", "percentile"}
        ``"minmax"``: ``max |signal|``; ``"percentile"``: the given percentile of ``|signal|``.
    percentile : float
        Percentile for ``"percentile"`` [%], in [50, 100].
    axis : int or tuple of int, optional
        Axes reduced (e.g. ``0`` for one range per column); None reduces all.
    floor : float, optional
        Range given to entries with no signal (e.g. the signal of one fully driven cell);
        default the largest range found, or 1 if the whole set is zero.

    Returns
    -------
    numpy.ndarray
        Range (same unit as ``signal``), > 0, so the gain stays finite.
    """
    who = "calibrate_range"
    check_choice("method", method, who, ("minmax", "percentile"))
    p = check_scalar("percentile", percentile, who, lo=50.0, hi=100.0)
    s = np.abs(check_array("signal", signal, who))
    if axis is not None:
        axes = axis if isinstance(axis, tuple) else (axis,)
        if not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool)
                   and -s.ndim <= a < s.ndim for a in axes) or len(set(axes)) != len(axes):
            fail("axis", who, f"None, or an axis (or tuple of distinct axes) of the "
                 f"{s.ndim}-dimensional signal", axis)
    if s.size == 0:
        fail("signal", who, "non-empty", "an empty array")
    r = np.max(s, axis=axis) if method == "minmax" else np.percentile(s, p, axis=axis)
    r = np.asarray(r, dtype=np.float64)
    good = r > 0
    if floor is not None:
        fallback = check_scalar("floor", floor, who, lo=0.0, lo_open=True)
    else:
        fallback = float(r[good].max()) if np.any(good) else 1.0
    return np.where(good, r, fallback)
