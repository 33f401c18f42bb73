r"""Converter measurements: ENOB from a coherently sampled sine, INL/DNL from code density.

Dynamic test (:func:`measure_enob`, IEEE Std 1241). A sine of amplitude A centred at
mid-scale is sampled coherently: :math:`M` cycles in :math:`N_s` samples with :math:`M` prime
(hence coprime with a power-of-two :math:`N_s`), so every sample falls at a distinct phase,
the tone lands in a single FFT bin and no window is needed. From the one-sided power spectrum
of the output codes (DC removed), with :math:`P_s` the tone bin, :math:`P_h` the first
harmonics (aliased) and :math:`P_n` everything else:

.. math::

    \mathrm{SINAD} = 10\log_{10}\frac{P_s}{P_n + P_h}, \quad
    \mathrm{SNR} = 10\log_{10}\frac{P_s}{P_n}, \quad
    \mathrm{THD} = 10\log_{10}\frac{P_h}{P_s}, \quad
    \mathrm{SFDR} = 10\log_{10}\frac{P_s}{\max_{k \ne k_s} P_k}, \quad
    \mathrm{ENOB} = \frac{\mathrm{SINAD} - 1.76}{6.02}

(all in dB; ENOB in bits). For an ideal N-bit quantiser and a full-scale sine
SINAD = 6.02 N + 1.76 dB. With Gaussian noise σ at the input the expected
:math:`\mathrm{SNR} = (A^2/2)/(\mathrm{LSB}^2/12 + \sigma^2)` (see :func:`enob_closed_form`).

Static test (:func:`measure_inl_dnl`): the code-density (histogram) method. A slow linear ramp
over the full scale puts into each code a number of samples proportional to its width, so
:math:`\mathrm{DNL}_c = H_c/\bar H - 1` over the inner codes (the end codes absorb the
over-range and are excluded) and :math:`\mathrm{INL}_c = \sum_{j \le c} \mathrm{DNL}_j`
(end-point fit: first and last inner transitions on the line). With ``stimulus="sine"`` the
histogram of a sine is divided by the arcsine density instead (Doernberg et al. 1984).

References
----------
.. [1] IEEE Std 1241-2010, "IEEE Standard for Terminology and Test Methods for
   Analog-to-Digital Converters", doi:10.1109/IEEESTD.2011.5692956.
.. [2] J. Doernberg, H.-S. Lee, D. A. Hodges, "Full-speed testing of A/D converters",
   IEEE J. Solid-State Circuits 19(6), 820–827 (1984), doi:10.1109/JSSC.1984.1052232.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._checks import check_choice, check_int, check_scalar, fail

__all__ = [
    "EnobResult",
    "InlDnlResult",
    "coherent_cycles",
    "enob_closed_form",
    "measure_enob",
    "measure_inl_dnl",
    "sine_stimulus",
]

#: Over-range of the INL/DNL ramp at each end, as a fraction of full scale [-].
RAMP_OVERDRIVE = 0.02

#: Number of harmonics (2nd … 1+N_HARMONICS-th) counted as distortion for SNR/THD [-].
N_HARMONICS = 5


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    return all(n % p for p in range(2, int(math.isqrt(n)) + 1))


#: Longest test record accepted [-] (a stimulus of 2**24 float64 samples is 128 MiB).
MAX_SAMPLES = 1 << 24


def _check_converter(adc, who: str) -> None:
    """InvalidParameterError unless ``adc`` is a converter: ``bits`` (int >= 1),
    ``full_scale_v`` (> 0) and a callable ``convert``."""
    ok = callable(getattr(adc, "convert", None)) and not isinstance(adc, type)
    try:
        ok = ok and int(adc.bits) >= 1 and float(adc.full_scale_v) > 0.0
    except (AttributeError, TypeError, ValueError):
        ok = False
    if not ok:
        fail("adc", who, "a converter with bits, full_scale_v and convert(v, offset=...) "
             "(e.g. device_models.SarAdc)", adc)


def coherent_cycles(n_samples: int, fraction: float = 0.1) -> int:
    """Largest prime number of cycles at or below ``fraction * n_samples`` (at least 3).

    Parameters
    ----------
    n_samples : int
        Record length [-].
    fraction : float
        Target input frequency as a fraction of the sampling rate [-] (< 0.5).

    Returns
    -------
    int
        Prime M, coprime with power-of-two record lengths.
    """
    n = check_int("n_samples", n_samples, "coherent_cycles", lo=8, hi=MAX_SAMPLES)
    f = check_scalar("fraction", fraction, "coherent_cycles", lo=0.0, hi=0.5, lo_open=True,
                     hi_open=True)
    m = max(int(f * n), 3)
    while m > 2 and (not _is_prime(m) or math.gcd(m, n) != 1):
        m -= 1
    return m


def sine_stimulus(n_samples: int, n_cycles: int, full_scale_v: float,
                  amplitude_fraction: float = 0.999) -> np.ndarray:
    """Coherent sine centred at mid-scale: FS/2·(1 + a·sin(2π M i / N_s)) [V]."""
    who = "sine_stimulus"
    n_samples = check_int("n_samples", n_samples, who, lo=1, hi=MAX_SAMPLES)
    n_cycles = check_int("n_cycles", n_cycles, who, lo=0)
    full_scale_v = check_scalar("full_scale_v", full_scale_v, who, lo=0.0, lo_open=True)
    amplitude_fraction = check_scalar("amplitude_fraction", amplitude_fraction, who, lo=0.0,
                                      hi=1.0)
    i = np.arange(n_samples)
    a = 0.5 * full_scale_v * amplitude_fraction
    return 0.5 * full_scale_v + a * np.sin(2.0 * np.pi * n_cycles * i / n_samples)


@dataclasses.dataclass(frozen=True)
class EnobResult:
    """Result of :func:`measure_enob`.

    Attributes
    ----------
    enob : float
        Effective number of bits (SINAD − 1.76)/6.02 [bit].
    sinad_db, snr_db, sfdr_db, thd_db : float
        Signal-to-noise-and-distortion, signal-to-noise, spurious-free dynamic range and total
        harmonic distortion [dB].
    n_samples, n_cycles : int
        Record length and number of sine cycles (prime) [-].
    amplitude_v : float
        Sine amplitude [V].
    freqs, power_dbfs : numpy.ndarray
        Normalised frequency f/f_s and one-sided spectrum relative to the tone [dB] (for
        plots).
    """

    enob: float
    sinad_db: float
    snr_db: float
    sfdr_db: float
    thd_db: float
    n_samples: int
    n_cycles: int
    amplitude_v: float
    freqs: np.ndarray = dataclasses.field(repr=False)
    power_dbfs: np.ndarray = dataclasses.field(repr=False)


def _spectrum_metrics(x: np.ndarray, m: int) -> tuple[float, float, float, float, np.ndarray]:
    n = x.size
    spec = np.fft.rfft(x - x.mean())
    p = np.abs(spec) ** 2
    p[0] = 0.0
    ps = p[m]
    harm_bins = set()
    for h in range(2, 2 + N_HARMONICS):
        k = (h * m) % n
        if k > n // 2:
            k = n - k
        if k not in (0, m):
            harm_bins.add(k)
    harm = np.array(sorted(harm_bins), dtype=np.int64)
    total = p.sum()
    ph = p[harm].sum() if harm.size else 0.0
    pn_all = total - ps
    pn = pn_all - ph
    others = p.copy()
    others[m] = 0.0
    tiny = np.finfo(float).tiny
    ps = max(ps, tiny)  # no power at the test frequency: -inf dB would be a domain error
    sinad = 10.0 * math.log10(ps / max(pn_all, tiny))
    snr = 10.0 * math.log10(ps / max(pn, tiny))
    thd = 10.0 * math.log10(max(ph, tiny) / ps)
    sfdr = 10.0 * math.log10(ps / max(others.max(), tiny))
    rel = 10.0 * np.log10(np.maximum(p, tiny) / ps)
    return sinad, snr, thd, sfdr, rel


def measure_enob(adc, n_samples: int = 4096, *, n_cycles: int | None = None,
                 amplitude_fraction: float = 0.999, offset: int = 0) -> EnobResult:
    """Measure ENOB, SINAD, SNR, SFDR and THD of ``adc`` with a coherent sine.

    Parameters
    ----------
    adc : object
        Converter with ``full_scale_v``, ``bits`` and ``convert(v, offset=...)`` (e.g.
        :class:`~device_models.adc.SarAdc`).
    n_samples : int
        Record length, a power of two ≥ 64 [-].
    n_cycles : int, optional
        Sine cycles in the record; default :func:`coherent_cycles` (prime, ≈ 0.1·n_samples).
    amplitude_fraction : float
        Amplitude as a fraction of half the full scale, in (0, 1] [-].
    offset : int
        Noise-stream counter of the first sample (see ``SarAdc.convert``).

    Returns
    -------
    EnobResult
        ``.enob`` [bit], ``.sinad_db``, ``.snr_db``, ``.sfdr_db``, ``.thd_db`` [dB] and the
        spectrum.

    References
    ----------
    .. [1] IEEE Std 1241-2010, doi:10.1109/IEEESTD.2011.5692956 (coherent sampling, SINAD, ENOB).
    """
    who = "measure_enob"
    _check_converter(adc, who)
    n = check_int("n_samples", n_samples, who, lo=64, hi=MAX_SAMPLES)
    if n & (n - 1):
        fail("n_samples", who, "a power of two", n_samples)
    m = coherent_cycles(n) if n_cycles is None else check_int("n_cycles", n_cycles, who, lo=1,
                                                              hi=n // 2 - 1)
    if math.gcd(m, n) != 1:
        fail("n_cycles", who, f"coprime with n_samples ({n})", n_cycles)
    frac = check_scalar("amplitude_fraction", amplitude_fraction, who, lo=0.0, hi=1.0,
                        lo_open=True)
    fs = float(adc.full_scale_v)
    v = sine_stimulus(n, m, fs, frac)
    codes = np.asarray(adc.convert(v, offset=offset), dtype=np.float64)
    _check_not_saturated(codes, adc, who, "test sine")
    sinad, snr, thd, sfdr, rel = _spectrum_metrics(codes, m)
    freqs = np.arange(rel.size) / n
    return EnobResult(
        enob=(sinad - 1.76) / 6.02, sinad_db=sinad, snr_db=snr, sfdr_db=sfdr, thd_db=thd,
        n_samples=n, n_cycles=m, amplitude_v=0.5 * fs * frac, freqs=freqs, power_dbfs=rel,
    )


def _check_not_saturated(codes, adc, who: str, stimulus: str, n_codes: int | None = None) -> None:
    """InvalidParameterError if the converter did not follow the stimulus at all: every sample
    gave one code, or (histogram tests, ``n_codes`` given) no sample reached an inner code
    (a saturated converter, e.g. an offset beyond full scale)."""
    c = np.asarray(codes).ravel()
    if c.size and n_codes is not None:
        inner = np.count_nonzero((c >= 1) & (c <= n_codes - 2))
    else:
        inner = int(c.size and np.ptp(c) > 0)
    if not inner:
        got = f"every sample converted to code {int(c[0])}" if c.size and np.ptp(c) == 0 \
            else "no sample converted to an inner code"
        fail("adc", who, f"a converter that follows the {stimulus} (saturated: check its "
             "offset and full scale)", f"{type(adc).__name__} with {got}")


def enob_closed_form(bits: int, full_scale_v: float, sigma_v: float,
                     amplitude_fraction: float = 0.999) -> float:
    r"""ENOB of an ideal quantiser with Gaussian input noise σ, for a sine of amplitude A.

    .. math::

        \mathrm{SNR} = \frac{A^2/2}{\mathrm{LSB}^2/12 + \sigma^2}, \qquad
        \mathrm{ENOB} = \frac{10\log_{10}\mathrm{SNR} - 1.76}{6.02}

    Parameters
    ----------
    bits : int
        Resolution N [bit].
    full_scale_v : float
        Full scale; LSB = FS/2**N [V].
    sigma_v : float
        rms input noise [V].
    amplitude_fraction : float
        A as a fraction of FS/2 [-].

    Returns
    -------
    float
        ENOB [bit].

    References
    ----------
    .. [1] W. R. Bennett, "Spectra of quantized signals", Bell Syst. Tech. J. 27(3), 446–472
       (1948), doi:10.1002/j.1538-7305.1948.tb01340.x (LSB²/12).
    """
    n = check_int("bits", bits, "enob_closed_form", lo=1, hi=32)
    fs = check_scalar("full_scale_v", full_scale_v, "enob_closed_form", lo=0.0, lo_open=True)
    s = check_scalar("sigma_v", sigma_v, "enob_closed_form", lo=0.0)
    frac = check_scalar("amplitude_fraction", amplitude_fraction, "enob_closed_form",
                        lo=0.0, lo_open=True, hi=1.0)
    a = 0.5 * fs * frac
    lsb = fs / 2**n
    snr = (a * a / 2.0) / (lsb * lsb / 12.0 + s * s)
    return (10.0 * math.log10(snr) - 1.76) / 6.02


@dataclasses.dataclass(frozen=True)
class InlDnlResult:
    """Result of :func:`measure_inl_dnl`.

    Attributes
    ----------
    codes : numpy.ndarray
        Inner codes 1 … 2**N − 2 the DNL/INL refer to [-].
    dnl_lsb, inl_lsb : numpy.ndarray
        Differential and integral non-linearity per inner code [LSB].
    max_dnl_lsb, max_inl_lsb : float
        Largest absolute values [LSB].
    missing_codes : numpy.ndarray
        Inner codes that never occurred [-].
    histogram : numpy.ndarray
        Hits per code, all 2**N codes [-].
    """

    codes: np.ndarray
    dnl_lsb: np.ndarray
    inl_lsb: np.ndarray
    max_dnl_lsb: float
    max_inl_lsb: float
    missing_codes: np.ndarray
    histogram: np.ndarray


def measure_inl_dnl(adc, *, samples_per_code: int = 64, stimulus: str = "ramp",
                    offset: int = 0) -> InlDnlResult:
    """Code-density (histogram) INL/DNL test of ``adc``.

    Parameters
    ----------
    adc : object
        Converter with ``bits``, ``full_scale_v`` and ``convert(v, offset=...)``.
    samples_per_code : int
        Hits per ideal code width [-].
    stimulus : {"ramp", "sine"}
        Uniform ramp over [−2 %, 102 %] of FS (samples at bin centres; the end codes absorb
        the over-range), or a slightly over-driven coherent sine (histogram corrected by the
        arcsine density) [-].
    offset : int
        Noise-stream counter of the first sample.

    Returns
    -------
    InlDnlResult
        DNL and INL per inner code [LSB], their maxima, missing codes, the histogram.

    References
    ----------
    .. [1] IEEE Std 1241-2010, doi:10.1109/IEEESTD.2011.5692956, §5.5 (histogram test method).
    .. [2] J. Doernberg, H.-S. Lee, D. A. Hodges, IEEE JSSC 19(6), 820–827 (1984),
       doi:10.1109/JSSC.1984.1052232 (sine histogram).
    """
    who = "measure_inl_dnl"
    _check_converter(adc, who)
    spc = check_int("samples_per_code", samples_per_code, who, lo=4, hi=1 << 16)
    check_choice("stimulus", stimulus, who, ("ramp", "sine"))
    bits = int(adc.bits)
    if (1 << min(bits, 63)) * spc > MAX_SAMPLES:
        fail("samples_per_code", who, f"at most {MAX_SAMPLES} samples in all (2**bits x "
             f"samples_per_code, {bits} bits)", samples_per_code)
    if bits < 2:
        fail("adc", who, "a converter of at least 2 bits", f"{bits} bits")
    n_codes = 1 << bits
    n = n_codes * spc
    fs = float(adc.full_scale_v)
    if stimulus == "ramp":
        # Over-drive both ends by a whole number of LSBs (≈ 2 % of FS) so that offsets do not
        # starve the end codes; samples sit at bin centres, spc per ideal code.
        lsb = fs / n_codes
        m = max(1, int(np.ceil(RAMP_OVERDRIVE * n_codes)))
        n_ramp = (n_codes + 2 * m) * spc
        v = -m * lsb + (np.arange(n_ramp) + 0.5) * (lsb / spc)
        codes = adc.convert(v, offset=offset)
        _check_not_saturated(codes, adc, who, "ramp", n_codes)
        hist = np.bincount(np.asarray(codes).ravel(), minlength=n_codes).astype(np.float64)
        inner = hist[1:-1]
        dnl = inner / inner.mean() - 1.0
    else:
        # Slight overdrive so both end codes are hit; the arcsine CDF gives the ideal share.
        m = coherent_cycles(n, 0.37)
        amp = 0.5 * fs * 1.02
        i = np.arange(n)
        v = np.clip(0.5 * fs + amp * np.sin(2.0 * np.pi * m * i / n), 0.0, fs)
        codes = adc.convert(v, offset=offset)
        _check_not_saturated(codes, adc, who, "sine", n_codes)
        hist = np.bincount(np.asarray(codes).ravel(), minlength=n_codes).astype(np.float64)
        # Transition estimates from the cumulative histogram (Doernberg 1984, eq. 4).
        cum = np.cumsum(hist)[:-1] / n
        t = 0.5 * fs - amp * np.cos(np.pi * cum)
        widths = np.diff(t)  # codes 1 … 2**N-2
        dnl = widths / widths.mean() - 1.0
    inl = np.cumsum(dnl)
    inl = inl - np.linspace(0.0, inl[-1], inl.size)  # end-point fit
    return InlDnlResult(
        codes=np.arange(1, n_codes - 1), dnl_lsb=dnl, inl_lsb=inl,
        max_dnl_lsb=float(np.max(np.abs(dnl))), max_inl_lsb=float(np.max(np.abs(inl))),
        missing_codes=np.flatnonzero(hist[1:-1] == 0) + 1, histogram=hist,
    )
