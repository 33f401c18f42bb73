"""Device level: each MOSFET card's model figures against the numbers its source publishes.

Compared only where the card's source publishes a figure of merit (subthreshold swing, DIBL,
on/off current):

* ``mosis2001_tsmc180_nmos`` (MOSIS run T16X): the report publishes the off current of the
  WIDE 20.0/0.18 device, Ids0 = 21.1 pA/µm, at V_GS = 0, V_DS = V_DD = 1.8 V, and the
  saturation current Idss = 577 µA/µm of the SHORT 20.0/0.18 device at V_GS = V_DS = 1.8 V.
  It publishes neither swing nor DIBL.

  - I_off is compared on a log scale (decades). The card's weak-inversion parameters (slope
    factor, DIBL, threshold temperature coefficient) are derived from DC simulations of
    MOSIS' own BSIM3 card of the same lot (``tests/test_spice.py`` checks the EKV card
    against it); the card's EKV off current equals the BSIM3 card's (11.1 pA/um at this
    geometry) within a few percent, 0.28 decade below the measured lot average.
  - I_on is **not** compared: the card's EKV model is long-channel (no velocity saturation,
    no source/drain series resistance, no vertical-field mobility degradation), so at
    L = 0.18 µm it over-predicts the saturation current (about +87 %); that is outside the
    model's scope, and the number is reported in the summary instead of being tested.

* ``ptm2006_65nm_nmos`` (Zhao & Cao 2006): the PTM model card publishes model parameters, not
  measured figures of merit, so nothing is compared.

The default SAR ADC (card ``liu2010_sar_10b``, Liu et al., JSSC 2010):

* ENOB of the card's converter at its own 10 bits, simulated with :func:`measure_enob` from the
  card's (partly assumed) mismatch and comparator noise, against the published SNDR of 57.0 dB
  (ENOB 9.18). A *prediction*: the mismatch and comparator noise are assumed, not fitted.
* The Walden figure of merit E_conv/2^ENOB of the same converter at 10 bits against the
  published 29 fJ/conversion-step, a *prediction* of the converter's energy models: the CDAC,
  comparator and logic models (:meth:`device_models.SarAdc.from_card`) give 5.9 of the 16.5 pJ
  the published P/f_s implies; clocking, sampling switches and the reference are not modelled
  (a declared known failure).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from cimsim.plotting import pyplot
from device_models import SarAdc, cards, measure_enob
from device_models.mosfet import mosfet_current

from ._base import Reproduction, assumed_values
from ._plots import save_figure
from ._targets import target

NAME = "device_level"
CITATION = (
    "MOSIS Service, \"MOSIS Parametric Test Results, run T16X, TSMC SCN018 (0.18 um)\", MOSIS "
    "wafer acceptance report (2001), transistor-parameter table; W. Zhao, Y. Cao, \"New "
    "generation of Predictive Technology Model for sub-45 nm early design exploration\", IEEE "
    "TED 53(11) (2006), doi:10.1109/TED.2006.884077 (model card only, no published figures)."
)
SLOW = False

CARDS = ("mosis2001_tsmc180_nmos", "liu2010_sar_10b")

#: MOSIS T16X transistor-parameter table, N-channel column: Idss of the SHORT 20.0/0.18
#: device (reported in the summary, not compared: outside the long-channel model's scope).
MOSIS_ION_A_PER_UM = 577e-6
#: Geometry of the WIDE and SHORT devices of the report [-].
MOSIS_W_OVER_L = 20.0 / 0.18


def _per_um(card, vgs_v: float, vds_v: float) -> float:
    """Model current per µm of width of a W/L = 20/0.18 device of ``card`` [A/µm]."""
    w_m = MOSIS_W_OVER_L * card.l_m
    return float(mosfet_current(vgs_v, vds_v, card, w_m=w_m)) / (w_m * 1e6)


def run(out_dir: Path | None = None) -> Reproduction:
    card = cards.load("mosis2001_tsmc180_nmos")
    i_off = _per_um(card, 0.0, card.vdd_v)
    i_on = _per_um(card, card.vdd_v, card.vdd_v)
    comparisons = [
        target(NAME, "mosis_ioff").compare(
            math.log10(i_off),
            note="The BSIM3 card of one wafer of the lot gives 11.1 pA/um (log10 -10.955) at "
                 "this bias and geometry: the card follows it; the measured lot average lies "
                 "0.28 decade above both."),
        *_adc_comparisons(),
    ]
    figures = []
    if out_dir is not None:
        figures.append(_figure(card, Path(out_dir)))
    summary = (
        f"Not compared (outside the long-channel EKV model's scope): I_on of the 20/0.18 "
        f"device, published {MOSIS_ION_A_PER_UM * 1e6:.0f} uA/um, model "
        f"{i_on * 1e6:.0f} uA/um ({i_on / MOSIS_ION_A_PER_UM - 1:+.0%}; no velocity "
        "saturation, series resistance or mobility degradation). Neither source publishes "
        "swing or DIBL; the PTM 65 nm card's source publishes no figures of merit."
    )
    return Reproduction(NAME, CITATION, comparisons, figures, summary,
                        assumed=assumed_values(CARDS))


def _adc_comparisons() -> list:
    """ENOB and Walden FoM of the Liu 2010 card at its own 10 bits."""
    card = cards.load("liu2010_sar_10b")
    adc10 = SarAdc.from_card(card, seed=0)
    enob10 = measure_enob(adc10).enob
    fom_j = adc10.energy_per_conversion_j / 2.0**enob10
    return [
        target(NAME, "liu2010_enob").compare(
            enob10, note="Simulated with a coherent sine (measure_enob, 4096 samples), seed 0."),
        target(NAME, "liu2010_walden_fom").compare(
            fom_j * 1e15,
            note=f"E_conv = {adc10.energy_per_conversion_j * 1e12:.2f} pJ (the card's split of "
                 f"the published P/f_s), ENOB = {enob10:.2f}."),
    ]


def _figure(card, out_dir: Path) -> Path:
    plt = pyplot()

    out_dir.mkdir(parents=True, exist_ok=True)
    vgs = np.linspace(0.0, card.vdd_v, 300)
    w_m = MOSIS_W_OVER_L * card.l_m
    i_d = mosfet_current(vgs, card.vdd_v, card, w_m=w_m) / (w_m * 1e6)
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.semilogy(vgs, i_d, label="EKV model, V_DS = 1.8 V")
    ax.semilogy([0.0], [10 ** target(NAME, "mosis_ioff").published], "o", color="C3",
                label="MOSIS I_off (compared)")
    ax.semilogy([card.vdd_v], [MOSIS_ION_A_PER_UM], "s", mfc="none", color="C3",
                label="MOSIS I_on (not compared)")
    ax.set_xlabel("V_GS [V]")
    ax.set_ylabel("I_D / W [A/µm]")
    ax.set_title(f"{card.name}, 20/0.18 µm, 300 K", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, "device_level_mosis180")
