r"""Weighted current mirrors: column currents merged in the analog domain (current stacking).

A weight stored on K slices of b bits (binary cells: b = 1) occupies K column pairs. Instead of
digitising every slice and adding the results × 2^{bk} digitally, current stacking copies each
slice's column current with a ratio :math:`r_k` and sums the copies on one node, which a single
read-out converts:

.. math:: I_\mathrm{out} = \sum_{k=0}^{K-1} r_k\,I_k, \qquad
          r_k = 2^{\,b(k - K + 1)} \quad [A]

(the most significant slice at ratio 1, the others scaled down: the down-scaling weighted
current translator of the predecessor macros of Hung et al. 2021 [1]_, [2]_). Two ways to
realise the ratios (:data:`WEIGHTINGS`):

``"mirror"`` (device sizing)
    Slice k feeds a current mirror whose input device is :math:`n_\mathrm{in}` unit
    transistors and whose output device is :math:`n_k = r_k n_\mathrm{in}` units
    (:func:`mirror_units`: the smallest output is one unit). With Pelgrom mismatch of the
    unit's threshold, :math:`\sigma_{V_T} = A_{VT}/\sqrt{WL}`, two devices of n and m
    parallel units copy with the relative gain error

    .. math:: \frac{\sigma_r}{r} = \frac{g_m}{I_D}\,\frac{A_{VT}}{\sqrt{WL}}
              \sqrt{\frac{1}{n_\mathrm{in}} + \frac{1}{n_k}} \quad [-]

    (strong- or moderate-inversion saturation, :math:`\delta I/I = (g_m/I_D)\,\delta V_T`;
    :func:`ratio_sigma`), a static error drawn once per programmed chip. The drain-current
    noise :math:`4k_BT\gamma g_m` of both devices (the input device's copied with gain
    :math:`r_k`), with :math:`g_m = (g_m/I_D)\,I` in each, gives the output noise density

    .. math:: S_I = 4k_BT\gamma\,\frac{g_m}{I_D}\,r_k\,(1 + r_k)\,I_k \quad [A^2/Hz]

    (:func:`noise_psd_a2_per_hz`). The input device sinks the column current, which the row
    drivers source through the cells (the cells' read energy); the output device draws
    :math:`r_k I_k` from the supply while the read-out senses: :math:`E = V_{DD} r_k Q_k` for a
    charge :math:`Q_k` through the slice's column (:func:`supply_energy_j`). The copies add up
    to the read-out's input current, so a read-out whose energy follows its input current
    (:mod:`device_models.sense_amp`, :mod:`device_models.cco_adc`) already holds this term.
``"parallel"`` (parallel columns)
    Slice k is stored on :math:`2^{bk}` columns wired to one node: the ratios are exact (the
    replicas' cells are independent, so their programming and read noise average), there is
    no mirror, and the column count per weight grows from K to :math:`2^{bK} - 1`
    (:func:`parallel_copies`).

References
----------
.. [1] J.-M. Hung et al., "A four-megabit compute-in-memory macro with eight-bit precision
   based on CMOS and resistive random-access memory for AI edge devices", Nature Electronics
   4, 921–930 (2021), doi:10.1038/s41928-021-00676-9 (binary ReRAM cells, calibrated and
   weighted current-to-voltage stacking read-out).
.. [2] S. Yu et al., "Compute-in-memory chips for deep learning: recent trends and
   prospects", IEEE Circuits and Systems Magazine 21(3), 31–56 (2021),
   doi:10.1109/MCAS.2021.3092533 (p. 41: multi-bit weights on binary cells of one row, bit-line
   currents weighted by current mirrors and a down-scaling current translator).
.. [3] M. J. M. Pelgrom, A. C. J. Duinmaijer, A. P. G. Welbers, "Matching properties of MOS
   transistors", IEEE J. Solid-State Circuits 24(5), 1433–1439 (1989),
   doi:10.1109/JSSC.1989.572629.
.. [4] B. Razavi, *Design of Analog CMOS Integrated Circuits*, 2nd ed., McGraw-Hill (2017),
   ch. 5 (current mirrors) and ch. 7 (noise), ISBN 978-0-07-252493-2.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_array, check_broadcast, check_choice, check_int, check_scalar, fail
from .constants import K_B_J_PER_K

__all__ = [
    "WEIGHTINGS",
    "mirror_units",
    "noise_psd_a2_per_hz",
    "parallel_copies",
    "ratio_sigma",
    "stacking_ratios",
    "supply_energy_j",
]

#: How the 2^{bk} weights of current stacking are realised (module docstring).
WEIGHTINGS = ("mirror", "parallel")


def stacking_ratios(n_slices: int, bits_per_cell: int) -> np.ndarray:
    r"""Copy ratios :math:`r_k = 2^{b(k-K+1)}` of the K slices, least significant first [-].

    Parameters
    ----------
    n_slices : int
        Slices K per weight [-].
    bits_per_cell : int
        Bits b per slice [bit].

    Returns
    -------
    ndarray (n_slices,)
        Ratios, 1 for the most significant slice [-].
    """
    k = check_int("n_slices", n_slices, "stacking_ratios", lo=1, hi=64)
    b = check_int("bits_per_cell", bits_per_cell, "stacking_ratios", lo=1, hi=16)
    return 2.0 ** (b * (np.arange(k) - (k - 1)))


def mirror_units(ratios) -> tuple[int, np.ndarray]:
    """Unit transistors of the mirrors realising ``ratios`` by device sizing.

    The input device of every slice has ``n_in = 1 / min(ratios)`` units (rounded up) and
    slice k's output device ``n_k = ratios[k]·n_in`` units, so the smallest copy is one unit.

    Returns
    -------
    n_in : int
        Units of each input device [-].
    n_out : ndarray of float
        Units of each output device [-].
    """
    r = check_array("ratios", ratios, "mirror_units", ndim=1, positive=True)
    if r.size == 0:
        fail("ratios", "mirror_units", "at least one copy ratio", ratios)
    n_in = int(math.ceil(1.0 / float(r.min()) - 1e-9))
    return n_in, r * n_in


def ratio_sigma(ratios, gm_over_id_per_v: float, a_vt_v_m: float, unit_area_m2: float):
    r"""Relative standard deviation of each mirror's copy ratio (module docstring) [-].

    .. math:: \sigma_r/r = (g_m/I_D)\,A_{VT}/\sqrt{WL}\,\sqrt{1/n_\mathrm{in} + 1/n_k}

    Parameters
    ----------
    ratios : array_like
        Copy ratios r_k [-].
    gm_over_id_per_v : float
        Transconductance efficiency of the mirror devices [1/V].
    a_vt_v_m : float
        Pelgrom threshold-matching coefficient A_VT [V·m].
    unit_area_m2 : float
        Gate area W·L of one unit transistor [m^2].

    Returns
    -------
    ndarray
        σ_r / r per ratio [-].

    References
    ----------
    .. [1] Pelgrom, Duinmaijer & Welbers (1989), doi:10.1109/JSSC.1989.572629.
    """
    caller = "ratio_sigma"
    gm = check_scalar("gm_over_id_per_v", gm_over_id_per_v, caller, lo=0.0, lo_open=True)
    avt = check_scalar("a_vt_v_m", a_vt_v_m, caller, lo=0.0)
    area = check_scalar("unit_area_m2", unit_area_m2, caller, lo=0.0, lo_open=True)
    n_in, n_out = mirror_units(ratios)
    return gm * avt / math.sqrt(area) * np.sqrt(1.0 / n_in + 1.0 / n_out)


def noise_psd_a2_per_hz(ratio, current_a, gm_over_id_per_v: float, temperature_k: float,
                        gamma: float = 2.0 / 3.0):
    r"""Output current-noise density of a mirror copying ``current_a`` with ``ratio``.

    .. math:: S_I = 4k_BT\gamma\,(g_m/I_D)\,r\,(1 + r)\,I \quad [A^2/Hz]

    Parameters
    ----------
    ratio : float or array_like
        Copy ratio r [-].
    current_a : float or array_like
        Input current I (its magnitude) [A].
    gm_over_id_per_v : float
        g_m/I_D of both devices [1/V].
    temperature_k : float
        Temperature [K].
    gamma : float
        Excess noise factor γ of the devices [-] (2/3: long channel, saturation).

    References
    ----------
    .. [1] Razavi (2017), ch. 7, ISBN 978-0-07-252493-2.
    """
    caller = "noise_psd_a2_per_hz"
    r = check_array("ratio", ratio, caller, nonneg=True)
    i = np.abs(check_array("current_a", current_a, caller))
    gm = check_scalar("gm_over_id_per_v", gm_over_id_per_v, caller, lo=0.0, lo_open=True)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    g = check_scalar("gamma", gamma, caller, lo=0.0, lo_open=True)
    check_broadcast(caller, ratio=r, current_a=i)
    # r·I before (1 + r): no current, no noise, even where r(1 + r) alone overflows
    return 4.0 * K_B_J_PER_K * t * g * gm * (r * i) * (1.0 + r)


def supply_energy_j(ratio, charge_c, vdd_v: float):
    r"""Supply energy of a mirror copying the charge ``charge_c`` with ratio ``ratio`` [J].

    .. math:: E = V_{DD}\,r\,Q

    (the input branch sinks the column's charge Q, sourced by the row drivers; the output
    branch draws r·Q from the supply).
    """
    caller = "supply_energy_j"
    r = check_array("ratio", ratio, caller, nonneg=True)
    q = np.abs(check_array("charge_c", charge_c, caller))
    v = check_scalar("vdd_v", vdd_v, caller, lo=0.0, lo_open=True)
    check_broadcast(caller, ratio=r, charge_c=q)
    return v * r * q


def parallel_copies(n_slices: int, bits_per_cell: int, weighting: str = "parallel") -> np.ndarray:
    """Columns per slice: ``2**(b·k)`` for ``"parallel"`` weighting, 1 for ``"mirror"`` [-]."""
    check_choice("weighting", weighting, "parallel_copies", WEIGHTINGS)
    k = check_int("n_slices", n_slices, "parallel_copies", lo=1, hi=64)
    b = check_int("bits_per_cell", bits_per_cell, "parallel_copies", lo=1, hi=16)
    if weighting == "mirror":
        return np.ones(k, dtype=np.int64)
    return (2 ** (b * np.arange(k))).astype(np.int64)
