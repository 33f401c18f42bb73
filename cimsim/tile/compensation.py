r"""Drift compensation of a programmed chip: global scales, per-column ADC recalibration, refresh.

Conductances drift after programming (PCM power-law drift, RRAM relaxation,
:func:`device_models.memory.age`), so the column currents of a tile read at time :math:`t`
no longer match the ranges and the weights calibrated at programming. Chips counter this with
reads of known inputs (``HardwareConfig.drift_compensation``):

``"global"``
    A reference read at programming (time ``drift_reference_t_s``) of the reference vectors
    :math:`x_{ref}` (the matrix's own calibration inputs, :data:`REFERENCE_VECTORS` of them),
    recording every converted column's digital value :math:`y^{ref}_j`; at every read time
    the same vectors are read again and each tile's outputs are multiplied by one scale

    .. math:: \alpha_{tile}(t) = \frac{\sum_{j \in tile}\sum_b |y^{ref}_{bj}|}
                                      {\sum_{j \in tile}\sum_b |y_{bj}(t)|}

    applied digitally (Joshi et al. 2020, one factor per array,
    :func:`device_models.pcm.drift_compensation_scale`).
``"column"``
    Per-column affine ADC recalibration: each column's reference reads at the
    recalibration time (``drift_recalibration_t_s``, or every read time when None) are fitted
    to those at programming, :math:`y^{ref}_j \approx a_j\,y_j(t) + b_j` (least squares over
    the reference vectors); the column's front-end gain is multiplied by :math:`a_j` (the ADC
    range follows the drifted current, so no resolution is lost) and :math:`b_j` is added to
    its output digitally.

Every reference read is a real read of the tiles (drive, array, noise, ADCs) whose
:class:`~cimsim.ops.OpCounts` are returned beside the inference counts (the energy account
charges them); the one at programming is charged with the programming energy.

Refresh (``HardwareConfig.refresh_threshold``): each tile predicts from the card's model the
rms conductance error it will have at time :math:`t` after programming, once a global scale is
applied (:func:`device_models.memory.predicted_drift_error`), and is reprogrammed whenever the
prediction reaches the threshold: with :math:`\tau` the first time the predicted error reaches
it (:func:`refresh_period_s`), a tile read at time :math:`t` has been reprogrammed
:math:`n = \lfloor t/\tau \rfloor` times and is :math:`t - n\tau` old; each reprogramming costs
the tile's programming energy and draws new programming noise and drift exponents (the same
stuck cells).

Stream positions: the reference read that goes with read ``k`` of a chip (see
:meth:`cimsim.nn.network.Network.run`) uses positions ``k·READ_STRIDE + REFERENCE_OFFSET``;
the one at programming and the fixed-time recalibration use read indices beyond
:data:`MAX_READS`, so no reference read shares a noise number with an inference.

References
----------
.. [1] V. Joshi et al., "Accurate deep neural network inference using computational
   phase-change memory", Nat. Commun. 11, 2473 (2020), "Global drift compensation".
   doi:10.1038/s41467-020-16108-9
.. [2] M. Le Gallo et al., Nat. Electron. 6, 680–693 (2023). doi:10.1038/s41928-023-01010-1
   (per-column affine correction of the ADC outputs).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from device_models._checks import check_scalar

__all__ = [
    "COMPENSATION_MODES",
    "MAX_READS",
    "READ_STRIDE",
    "REFERENCE_OFFSET",
    "REFERENCE_VECTORS",
    "Factors",
    "affine_factors",
    "global_factors",
    "reference_plan",
    "refresh_period_s",
]

#: Values of ``HardwareConfig.drift_compensation``.
COMPENSATION_MODES = ("none", "global", "column")

#: Stream positions (input vectors) reserved for one read of the chip: read ``k`` takes its
#: read-noise numbers from ``k·READ_STRIDE + sample`` (2**40 vectors per read) [-].
READ_STRIDE = 1 << 40

#: Reads of one programmed chip (their stream positions stay below 2**56, with room for
#: bit-planes) [-].
MAX_READS = 1 << 16

#: Offset of a read's reference vectors inside its stream region [-].
REFERENCE_OFFSET = READ_STRIDE >> 1

#: Read index of the reference read at programming, and of the fixed-time recalibration [-].
PROGRAMMING_READ = MAX_READS
RECALIBRATION_READ = MAX_READS + 1

#: Reference vectors per matrix (evenly spaced among its calibration inputs) [-].
REFERENCE_VECTORS = 64

#: Longest refresh period searched [s] (a threshold never reached: no refresh).
REFRESH_HORIZON_S = 1e12


@dataclasses.dataclass
class Factors:
    """Compensation of one row block: per converted column a front-end gain factor ``gain``
    and a digital factor ``digital`` [-], and per column an output offset ``offset`` added
    digitally (same units as the outputs)."""

    gain: np.ndarray
    digital: np.ndarray
    offset: np.ndarray


def reference_plan(hw, t_s: float, sample0: int) -> tuple[tuple, float, int]:
    """The reference read that compensates a read of ``hw``'s chip at ``t_s`` [s] starting at
    stream position ``sample0``: its key (``(t_s, read)``, read ``sample0 // READ_STRIDE``,
    or ``("recalibration",)`` for the one fixed-time recalibration of ``"column"``), the
    time it reads at [s] and the stream position of its first reference vector."""
    read = int(sample0 // READ_STRIDE)
    if hw.drift_compensation == "column" and hw.drift_recalibration_t_s is not None:
        return (("recalibration",), float(hw.drift_recalibration_t_s),
                RECALIBRATION_READ * READ_STRIDE + REFERENCE_OFFSET)
    return (float(t_s), read), float(t_s), read * READ_STRIDE + REFERENCE_OFFSET


def global_factors(ref: np.ndarray, now: np.ndarray, tile_sizes: list[int]) -> Factors:
    """One scale per tile, :math:`\\alpha = \\sum|y^{ref}| / \\sum|y(t)|` over the tile's columns
    and the reference vectors (1 where the tile reads all zeros).

    Parameters
    ----------
    ref, now : ndarray (vectors, columns)
        Column reads at programming and now.
    tile_sizes : list of int
        Converted columns of each tile, in column order.
    """
    digital = np.ones(ref.shape[1])
    c = 0
    for n in tile_sizes:
        num = float(np.abs(ref[:, c:c + n]).sum())
        den = float(np.abs(now[:, c:c + n]).sum())
        digital[c:c + n] = num / den if den > 0.0 else 1.0
        c += n
    return Factors(np.ones(ref.shape[1]), digital, np.zeros(ref.shape[1]))


def affine_factors(ref: np.ndarray, now: np.ndarray) -> Factors:
    """Per column the least-squares fit :math:`y^{ref} \\approx a\\,y(t) + b` over the
    reference vectors: front-end gain factor ``a`` and offset ``b``. ``a = 1`` for a column
    whose reads do not vary (spread no larger than the rounding of their mean, n·ε·max|y|
    for n vectors) and where the fit gives ``a ≤ 0`` (a sign flip is noise, not drift)."""
    n = now.shape[0]
    mu_r, mu_n = ref.mean(axis=0), now.mean(axis=0)
    dn = now - mu_n
    var = (dn * dn).sum(axis=0)
    cov = (dn * (ref - mu_r)).sum(axis=0)
    rounding = n * np.finfo(mu_n.dtype).eps * np.abs(now).max(axis=0, initial=0.0)
    varies = var > n * rounding * rounding
    a = np.where(varies, cov / np.where(varies, var, 1.0), 1.0)
    a = np.where(a > 0.0, a, 1.0)          # a sign flip is noise, not drift
    return Factors(a, np.ones(ref.shape[1]), mu_r - a * mu_n)


def refresh_period_s(card, g_s, threshold: float, temperature_k: float) -> float | None:
    """First time after programming at which the predicted error of
    :func:`device_models.memory.predicted_drift_error` reaches ``threshold`` [s] (bisection in
    log time; the error grows with time), or None if it stays below it up to
    :data:`REFRESH_HORIZON_S`.

    Parameters
    ----------
    card : Card
        Memory card.
    g_s : ndarray
        Programmed conductances of the tile [S].
    threshold : float
        Predicted rms error relative to the conductance window [-], > 0.
    temperature_k : float
        Storage temperature [K].
    """
    from device_models.memory import predicted_drift_error

    threshold = check_scalar("threshold", threshold, "refresh_period_s", lo=0.0, lo_open=True)

    def err(t):
        return predicted_drift_error(card, g_s, t_s=t, temperature_k=temperature_k)

    if err(REFRESH_HORIZON_S) < threshold:
        return None
    lo, hi = -3.0, math.log10(REFRESH_HORIZON_S)
    if err(10.0 ** lo) >= threshold:
        return 10.0 ** lo
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if err(10.0 ** mid) >= threshold:
            hi = mid
        else:
            lo = mid
    return 10.0 ** hi
