"""Published SAR ADC chips from their circuits: ENOB and energy per conversion.

Five converters whose abstracts publish circuit parameters the SAR model takes, each an
``adc`` card built from the abstract alone:

* ``harpe2011_sar_8b`` (Harpe et al. 2011): 8 bit, custom 0.5 fF unit capacitors, 1 V supply,
  90 nm, 10.24 MS/s; measured ENOB 7.77 bit and 26.3 µW (2.57 pJ per conversion).
* ``zhang2012_sar_10b`` (Zhang, Bhide & Alvandpour 2012): 10 bit, 1.0 V analog supply,
  0.13 µm, 1 kS/s; measured ENOB 9.1 bit.
* ``brenna2014_sar_10b`` (Brenna, Bonfanti & Lacaita 2014): 10 bit, monotonic switching,
  0.5 V supply, 0.13 µm, 200 kS/s; measured ENOB 8.45 bit and 420 nW (2.1 pJ per conversion).
* ``hong2007_sar_8b`` (Hong & Lee 2007): 8 bit, 0.9 V supply, 0.18 µm, 200 kS/s; measured
  peak SNDR 47.4 dB (ENOB 7.58 bit) and 2.47 µW (12.35 pJ per conversion).
* ``verma2007_sar_12b`` (Verma & Chandrakasan 2007): 12 bit, 1 V supply, 0.18 µm, 100 kS/s;
  measured Nyquist SNDR 65 dB (ENOB 10.55 bit).

What the abstracts do not give (capacitor mismatch, comparator noise, the switching procedure
of all but Brenna's, the unit capacitance of all but Harpe's) is assumed by the rules of the
``liu2010_sar_10b`` card (comparator noise 0.2 LSB rms; 1 % mismatch per 2 fF unit, scaled by
the area law; the nearest bundled MOSFET card), never from the compared results, so every row
is a *prediction*.

Model
-----
Each converter is :meth:`device_models.SarAdc.from_card` (differential binary-weighted CDAC
with per-unit mismatch σ_u/√m, kT/C noise of the sampling arrays 2kT/C_side, comparator noise
per decision). ENOB is :func:`device_models.measure_enob` (coherent sine of 4096 samples,
SINAD → ENOB = (SINAD − 1.76)/6.02), averaged over :data:`N_INSTANCES` instances (mismatch
draws and noise streams, seeds 0 … 4); the energy is the converter's component models (CDAC
switching energy averaged over the codes, comparator sized for its noise, SAR logic from gate
energies): :attr:`~device_models.SarAdc.energy_per_conversion_j`.

The quantisation noise alone (LSB²/12) gives N − 0.0 bit; comparator noise σ_c adds at most
σ_c² (it only matters near a decision), so the assumed 0.2 LSB costs up to
½·log2(1 + 12·0.04) = 0.28 bit; mismatch adds its INL/DNL power. The sensitivity rows show
how each assumed value moves the result.

The 8-bit ENOB rows (Harpe, Hong) are quantisation-dominated: an ideal 8-bit converter
(8.0 bit) would pass them too; the 10- and 12-bit rows are not (an ideal converter misses
Verma's 10.55 bit by 1.45 bit).

Not compared: Zhang's energy (its switching procedure, 0.4 V logic supply and leakage, a
quarter of its 53 nW, are outside the converter energy model) and Verma's (its 25 µW include
a preamplifier ahead of the latch and the reference generation, outside the model too); dynamic
errors at the measured input frequency (settling, jitter) are not modelled for any chip.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimsim.plotting import pyplot
from device_models import SarAdc, cards, measure_enob

from ._base import Reproduction, Sensitivity, assumed_values
from ._plots import save_figure
from ._targets import target

NAME = "sar_adc_chips"
CITATION = (
    "P. J. A. Harpe et al., \"A 26 uW 8 bit 10 MS/s asynchronous SAR ADC for low energy "
    "radios\", IEEE J. Solid-State Circuits (2011); D. Zhang, A. Bhide, A. Alvandpour, "
    "\"A 53-nW 9.1-ENOB 1-kS/s SAR ADC in 0.13-um CMOS for medical implant devices\", IEEE J. "
    "Solid-State Circuits 47(7), 1585-1593 (2012); S. Brenna, A. Bonfanti, A. L. Lacaita, "
    "\"A 6-fJ/conversion-step 200-kSps asynchronous SAR ADC with attenuation capacitor in "
    "130-nm CMOS\", Analog Integr. Circ. Sig. Process. (2014); H.-C. Hong, G.-M. Lee, \"A "
    "65-fJ/conversion-step 0.9-V 200-kS/s rail-to-rail 8-bit successive approximation ADC\", "
    "IEEE J. Solid-State Circuits 42(10), 2161 (2007); N. Verma, A. P. Chandrakasan, \"An "
    "ultra low energy 12-bit rate-resolution scalable SAR ADC for wireless sensor nodes\", "
    "IEEE J. Solid-State Circuits 42(6), 1196 (2007)."
)
SLOW = False

HARPE, ZHANG, BRENNA = "harpe2011_sar_8b", "zhang2012_sar_10b", "brenna2014_sar_10b"
HONG, VERMA = "hong2007_sar_8b", "verma2007_sar_12b"
CARDS = (HARPE, ZHANG, BRENNA, HONG, VERMA, "ptm2006_65nm_nmos", "mosis2001_tsmc180_nmos",
         "horowitz2014_45nm")

#: Converter instances (seeds 0 … N-1: mismatch draw and noise streams) averaged per ENOB.
N_INSTANCES = 5


def enob(card, **overrides) -> tuple[float, float]:
    """Mean and standard deviation of the ENOB of :data:`N_INSTANCES` instances of ``card``
    [bit] (``overrides`` replace :class:`~device_models.SarAdc` arguments)."""
    vals = [measure_enob(SarAdc.from_card(card, seed=s, **overrides)).enob
            for s in range(N_INSTANCES)]
    return float(np.mean(vals)), float(np.std(vals, ddof=1))


def _noise_lsb(card) -> float:
    c = cards.load(card)
    return c.comparator_noise_v / (c.v_ref_v / 2**c.bits)


def run(out_dir: Path | None = None) -> Reproduction:
    harpe, zhang, brenna = cards.load(HARPE), cards.load(ZHANG), cards.load(BRENNA)
    hong, verma = cards.load(HONG), cards.load(VERMA)
    h_enob, h_sd = enob(harpe)
    z_enob, z_sd = enob(zhang)
    b_enob, b_sd = enob(brenna)
    g_enob, g_sd = enob(hong)
    v_enob, v_sd = enob(verma)
    adc = SarAdc.from_card(harpe, seed=0)
    b_adc = SarAdc.from_card(brenna, seed=0)
    g_adc = SarAdc.from_card(hong, seed=0)
    v_adc = SarAdc.from_card(verma, seed=0)
    comparisons = [
        target(NAME, "harpe2011_enob").compare(
            h_enob, note=_enob_note(h_sd, harpe, adc)),
        target(NAME, "harpe2011_energy").compare(
            adc.energy_per_conversion_j * 1e12,
            note=_energy_note(adc)),
        target(NAME, "zhang2012_enob").compare(
            z_enob, note=_enob_note(z_sd, zhang)),
        target(NAME, "brenna2014_enob").compare(
            b_enob, note=_enob_note(b_sd, brenna, b_adc)),
        target(NAME, "brenna2014_energy").compare(
            b_adc.energy_per_conversion_j * 1e12, note=_energy_note(b_adc)),
        target(NAME, "hong2007_enob").compare(
            g_enob, note=_enob_note(g_sd, hong, g_adc)
            + "; an ideal 8-bit converter gives 8.0 bit"),
        target(NAME, "hong2007_energy").compare(
            g_adc.energy_per_conversion_j * 1e12, note=_energy_note(g_adc)),
        target(NAME, "verma2007_enob").compare(
            v_enob, note=_enob_note(v_sd, verma, v_adc)),
    ]
    q_h = target(NAME, "harpe2011_enob").quantity
    q_e = target(NAME, "harpe2011_energy").quantity
    q_z = target(NAME, "zhang2012_enob").quantity
    q_b = target(NAME, "brenna2014_enob").quantity
    q_be = target(NAME, "brenna2014_energy").quantity
    q_g = target(NAME, "hong2007_enob").quantity
    q_ge = target(NAME, "hong2007_energy").quantity
    q_v = target(NAME, "verma2007_enob").quantity
    sens = []
    for card, base, q in ((harpe, h_enob, q_h), (zhang, z_enob, q_z), (brenna, b_enob, q_b),
                          (hong, g_enob, q_g), (verma, v_enob, q_v)):
        for scale in (0.5, 2.0):
            alt = card.replace(comparator_noise_v=card.comparator_noise_v * scale)
            sens.append(Sensitivity(
                f"{card.name}.comparator_noise_v {card.comparator_noise_v * 1e3:g} -> "
                f"{alt.comparator_noise_v * 1e3:g} mV", q, base, enob(alt)[0], "bit"))
        alt = card.replace(unit_cap_mismatch=card.unit_cap_mismatch * 2.0)
        sens.append(Sensitivity(
            f"{card.name}.unit_cap_mismatch {card.unit_cap_mismatch:g} -> "
            f"{alt.unit_cap_mismatch:g}", q, base, enob(alt)[0], "bit"))
    alt = zhang.replace(unit_cap_f=0.5e-15)
    sens.append(Sensitivity(f"{ZHANG}.unit_cap_f 2 -> 0.5 fF", q_z, z_enob, enob(alt)[0], "bit"))
    mono = SarAdc.from_card(harpe.replace(switching="monotonic"), seed=0)
    sens.append(Sensitivity(f"{HARPE}.switching conventional -> monotonic", q_e,
                            adc.energy_per_conversion_j * 1e12,
                            mono.energy_per_conversion_j * 1e12, "pJ"))
    alt = verma.replace(unit_cap_f=verma.unit_cap_f * 4.0)
    sens.append(Sensitivity(f"{VERMA}.unit_cap_f 2 -> 8 fF (mismatch by the area law: 1 -> "
                            f"0.5 %)", q_v, v_enob,
                            enob(alt.replace(unit_cap_mismatch=verma.unit_cap_mismatch / 2))[0],
                            "bit"))
    mono = SarAdc.from_card(hong.replace(switching="monotonic"), seed=0)
    sens.append(Sensitivity(f"{HONG}.switching conventional -> monotonic", q_ge,
                            g_adc.energy_per_conversion_j * 1e12,
                            mono.energy_per_conversion_j * 1e12, "pJ"))
    alt = hong.replace(unit_cap_f=hong.unit_cap_f * 2.0)
    sens.append(Sensitivity(f"{HONG}.unit_cap_f 2 -> 4 fF", q_ge,
                            g_adc.energy_per_conversion_j * 1e12,
                            SarAdc.from_card(alt, seed=0).energy_per_conversion_j * 1e12, "pJ"))
    for card, conv, q in ((harpe, adc, q_e), (brenna, b_adc, q_be), (hong, g_adc, q_ge)):
        for scale in (0.5, 2.0):
            alt = card.replace(logic_gates_per_bit=card.logic_gates_per_bit * scale)
            sens.append(Sensitivity(
                f"{card.name}.logic_gates_per_bit {card.logic_gates_per_bit:g} -> "
                f"{alt.logic_gates_per_bit:g}", q, conv.energy_per_conversion_j * 1e12,
                SarAdc.from_card(alt, seed=0).energy_per_conversion_j * 1e12, "pJ"))
    alt = brenna.replace(unit_cap_f=brenna.unit_cap_f * 2.0)
    sens.append(Sensitivity(f"{BRENNA}.unit_cap_f 2 -> 4 fF", q_be,
                            b_adc.energy_per_conversion_j * 1e12,
                            SarAdc.from_card(alt, seed=0).energy_per_conversion_j * 1e12, "pJ"))
    figures = ([_figure(Path(out_dir), harpe, zhang, brenna, hong, verma)]
               if out_dir is not None else [])
    return Reproduction(
        name=NAME, citation=CITATION, comparisons=comparisons, figures=figures,
        summary=("Five published SAR ADCs as cimsim converters built from their abstracts' "
                 "circuit parameters (resolution, switching, unit capacitor, supply); mismatch and "
                 "comparator noise assumed by the liu2010_sar_10b card's rules; all rows are "
                 "predictions. The 8-bit ENOB rows (Harpe, Hong) are quantisation-dominated: an "
                 "ideal converter would pass them too. Zhang's energy is not compared (its "
                 "switching procedure, 0.4 V logic and 25 % leakage are outside the converter "
                 "energy model), nor Verma's (a preamplifier ahead of the latch and the reference "
                 "generation are in its 25 uW)."),
        sensitivities=sens, assumed=assumed_values(CARDS))


def _enob_note(sd: float, card, adc=None) -> str:
    """The note of an ENOB row: the instances' spread, the kT/C noise of ``adc`` (if given)
    and the card's assumed comparator noise, in LSB rms."""
    ktc = "" if adc is None else f"kT/C {adc.ktc_sigma_v / adc.lsb_v:.3f} LSB rms, "
    return (f"mean of {N_INSTANCES} instances (sd {sd:.3f} bit); {ktc}comparator "
            f"{_noise_lsb(card):.2f} LSB rms (assumed)")


def _energy_note(adc) -> str:
    return (f"CDAC switching {adc.mean_switching_energy_j * 1e12:.3f} pJ, comparator "
            f"{adc.e_comparator_j * 1e12:.3f} pJ, logic {adc.e_logic_j * 1e12:.3f} pJ")


def _figure(out_dir: Path, *chips) -> Path:
    """ENOB against the assumed comparator noise [LSB rms], published ENOB as lines."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    lsb_noise = np.array([0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0])
    for i, card in enumerate(chips):
        color = f"C{i}"
        lsb = card.v_ref_v / 2**card.bits
        vals = [enob(card.replace(comparator_noise_v=x * lsb))[0] for x in lsb_noise]
        ax.plot(lsb_noise, vals, "o-", color=color, label=f"{card.name} (simulated)")
        ax.axhline(card.enob_published, color=color, ls="--",
                   label=f"published {card.enob_published:.2f} bit")
        ax.axvline(_noise_lsb(card), color=color, ls=":", lw=0.8)
    ax.set_xlabel("comparator noise [LSB rms] (card value dotted)")
    ax.set_ylabel("ENOB [bit]")
    ax.set_title("Published SAR ADCs: ENOB against the assumed comparator noise", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_figure(fig, out_dir, NAME)
