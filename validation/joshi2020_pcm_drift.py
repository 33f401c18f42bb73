"""Joshi et al. 2020: PCM statistical model, drift, global drift compensation (GDC) and AdaBS.

Inputs from the paper
---------------------
* Device: the statistical PCM model of the paper's Methods, card ``joshi2020_pcm``
  (programming noise σ_P(G_T), per-device drift exponent ν ~ N(μ_ν(G), σ_ν(G)) with t0 = 20 s,
  1/f read noise growing with ln t; G_max = 25 µS).
* Mapping: each weight on a differential PCM pair, G = G⁺ − G⁻, scaled so that the layer's
  max|W| maps to G_max (``weight_mapping="differential"``, analog programming: 8-bit targets).
* Training: Gaussian weight-noise injection with η_tr = 3.8 % of max|W| per layer, starting
  from a pretrained network, weights clipped at 2.5 σ_W (the paper's recipe).
* GDC: one factor per array, α(t) = Σ|y(t_ref)| / Σ|y(t)| for a fixed calibration input, applied
  to the array outputs (``HardwareConfig.drift_compensation = "global"``,
  :mod:`cimsim.tile.compensation`, with the reference read 25 s after programming).
* AdaBS: the batch-norm statistics re-estimated on calibration images at the read time, the
  trained scale and shift kept (:class:`validation._mnist.AdaptiveBatchStatistics`); the
  network therefore has batch norm after each convolution.
* Converters: 8-bit inputs and 8-bit ADCs (the paper finds 8 bits adequate).

What cimsim does
----------------
The paper's networks are ResNets on CIFAR-10 / ImageNet; here the PCM model is applied to a
small MNIST CNN (the five-layer mCNN architecture of ``yao2020_mcnn`` with batch norm after
C1 and C3, fine-tuned with the paper's noise injection and clipping:
``cimsim/data/joshi2020_mnist_cnn.npz``). The network is programmed on :data:`N_CHIPS` chips
(seeds 0, 1, …) of 256×256 PCM tiles and evaluated on the MNIST test images at read times from
25 s to 1 year after programming, without compensation, with GDC and with GDC plus AdaBS (chip
0 at every read time, the others at 25 s and one day, the compared times); the comparisons
use the losses averaged over the chips (one chip's differences of accuracies move by several
tenths of a point with the noise realisation alone). Drift, read noise and the ADC ranges
(calibrated at programming) are cimsim's; nothing is fitted.

What the published numbers are, and what an MNIST substitute can show
---------------------------------------------------------------------
Every number compared here is the paper's ResNet-32 on CIFAR-10, measured with weights read
from PCM hardware: 93.87 % software (Fig. 3c), 93.75 % 25 s after programming (Fig. 4),
above 92.6 % after one day with global drift compensation alone and above 93.5 % with AdaBS
(Figs. 4d, 5b). The simulation runs a five-layer CNN on MNIST, so its accuracies cannot be
compared with these; what can be compared are *losses* the device physics causes (at
programming, over one day with GDC or with AdaBS) and the gain of AdaBS over GDC, and even
those only as a check that the PCM model
behaves as the paper's claim says: a small MNIST CNN averages device noise over far fewer
products per output than ResNet-32 and sits at a different point of its accuracy curve (an
MNIST CNN at 97-99 % has far fewer test images near its decision boundaries than ResNet-32 at
93.8 % on CIFAR-10, so the same weight perturbation costs it fewer points). What the
substitute can show: that drift, GDC and AdaBS act in the model with the sign and roughly the
size the paper reports. What it cannot show: the ResNet-32 numbers themselves. The rows are
therefore ``consistency`` rows (targets in ``validation/targets.toml``), not predictions.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.plotting import pyplot

from ._base import Reproduction, Sensitivity, assumed_values, difference_tolerance_pt
from ._mnist import (
    AdaptiveBatchStatistics,
    chip_accuracy,
    load_network,
    mnist,
)
from ._plots import save_figure
from ._targets import target

NAME = "joshi2020_pcm_drift"
CITATION = (
    "V. Joshi, M. Le Gallo, S. Haefeli, I. Boybat, S. R. Nandakumar, C. Piveteau, M. Dazzi, "
    "B. Rajendran, A. Sebastian, E. Eleftheriou, \"Accurate deep neural network inference using "
    "computational phase-change memory\", Nat. Commun. 11, 2473 (2020), "
    "doi:10.1038/s41467-020-16108-9."
)
SLOW = True

MODEL = "joshi2020_mnist_cnn"
SEED = 0
N_CHIPS = 5  # chips (seeds SEED, SEED + 1, ...) averaged in the comparisons
T_FIRST_S = 25.0  # first inference after programming, as in the paper
DAY_S = 86400.0
YEAR_S = 365.25 * DAY_S
TIMES_S = (T_FIRST_S, 3600.0, DAY_S, YEAR_S)
#: Test images of the sensitivity rows (the first ones of the test set) [-].
N_SENSITIVITY = 2000
#: Training images on which AdaBS re-estimates the batch-norm statistics (the paper used
#: 2,600 of CIFAR-10's 50,000 training images) [-].
N_ADABS = 1000
CARDS = ("joshi2020_pcm", "liu2010_sar_10b", "johns1997_cap_dac_8b")
#: Images of the paper's test set (CIFAR-10 test set) [-].
N_TEST_PUBLISHED = 10_000


def hardware(seed: int = SEED, **changes) -> HardwareConfig:
    """256×256 PCM tiles, differential pairs, 8-bit inputs and ADCs."""
    tile = TileConfig(rows=256, cols=256, weight_mapping="differential", weight_bits=8,
                      bits_per_cell=8, input_encoding="amplitude", input_bits=8, adc_bits=8)
    return HardwareConfig(device_card="joshi2020_pcm", tile=tile, seed=seed, **changes)


def accuracy_at(net, data, t_s: float, **changes) -> float:
    """Analog accuracy at one read time on a chip with ``changes`` (no compensation)."""
    return chip_accuracy(net, hardware(SEED, **changes), data, t_s=t_s)


def accuracy_vs_time(net, data, times_s=TIMES_S, seed: int = SEED,
                     modes=("raw", "gdc", "adabs")) -> dict:
    """Per-image correctness at each read time: without compensation (``raw``), with global
    drift compensation (``gdc``: ``HardwareConfig.drift_compensation = "global"`` with the
    reference read at 25 s, :mod:`cimsim.tile.compensation`) and with AdaBS on top of it
    (``adabs``: the batch-norm statistics re-estimated on :data:`N_ADABS` training images at
    each read time; GDC still scales the FC layer, which has no batch norm). The raw and the
    compensated chip are the same programmed chip (same seed); the compensation's reference
    reads use noise positions of their own."""
    out = {"t_s": list(times_s), **{m: [] for m in modes}}
    if "raw" in modes:
        net.compile(hardware(seed), net.calibration)
        out["raw"] = [net.run(data["x_test"], t_s=t).argmax(axis=1) == data["y_test"]
                      for t in times_s]
    compensated = [m for m in modes if m != "raw"]
    if not compensated:
        return out
    net.compile(hardware(seed, drift_compensation="global", drift_reference_t_s=T_FIRST_S),
                net.calibration)
    adabs = AdaptiveBatchStatistics(net, data["x_train"][-N_ADABS:])
    for t in times_s:
        for mode in compensated:
            adabs.enabled = mode == "adabs"
            if adabs.enabled:
                adabs.recalibrate(t)
            logits = net.run(data["x_test"], t_s=t)
            out[mode].append(logits.argmax(axis=1) == data["y_test"])
    adabs.enabled = False
    return out


def _plot(out_dir: Path, res: dict, software: float) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    t = np.array(res["t_s"])
    for key, style, label in (("raw", "o-", "no compensation"),
                              ("gdc", "s-", "global drift compensation (GDC)"),
                              ("adabs", "^-", "GDC + AdaBS")):
        ax.semilogx(t, 100 * np.array(res[key]), style, label=label)
    ax.axhline(100 * software, color="k", ls=":", lw=1, label="software (float)")
    for x, lab in ((T_FIRST_S, "25 s"), (DAY_S, "1 day"), (YEAR_S, "1 year")):
        ax.axvline(x, color="0.8", lw=0.8)
        ax.text(x, ax.get_ylim()[0], lab, fontsize=7, rotation=90, va="bottom")
    ax.set_xlabel("time since programming [s]")
    ax.set_ylabel("MNIST accuracy [%]")
    ax.set_title(f"Joshi 2020 PCM model: MNIST CNN with batch norm, chip {SEED}", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, NAME)


def _loss(a, b) -> float:
    return 100.0 * (float(np.mean(a)) - float(np.mean(b)))


def tolerance_rules(chips: list[dict], software_correct: np.ndarray) -> dict[str, float]:
    """The tolerances :func:`validation._base.difference_tolerance_pt` gives for this run's
    chips [points]."""
    n = len(software_correct)
    k = len(chips)
    i0, iday = (chips[0]["t_s"].index(x) for x in (T_FIRST_S, DAY_S))
    pairs = {"gdc_day_loss": lambda c: (c["gdc"][i0], c["gdc"][iday]),
             "adabs_day_loss": lambda c: (c["adabs"][i0], c["adabs"][iday]),
             "adabs_gain_day": lambda c: (c["adabs"][iday], c["gdc"][iday]),
             "programming_loss": lambda c: (software_correct, c["gdc"][i0])}
    out = {}
    for key, pair in pairs.items():
        d = np.array([_loss(*pair(c)) for c in chips])
        q = float(np.mean([np.mean(pair(c)[0] != pair(c)[1]) for c in chips]))
        out[key] = difference_tolerance_pt(q, N_TEST_PUBLISHED, n, float(d.std(ddof=1)), k)
    return out


def run(out_dir: Path | None = None) -> Reproduction:
    t_start = time.perf_counter()
    data = mnist()
    net = load_network(MODEL)
    soft_ok = net.predict_float(data["x_test"]) == data["y_test"]
    software = float(soft_ok.mean())
    # Chip SEED carries the whole curve (figure); the others the two compared read times.
    chips = [accuracy_vs_time(net, data, seed=SEED)]
    chips += [accuracy_vs_time(net, data, times_s=(T_FIRST_S, DAY_S), seed=SEED + k,
                               modes=("gdc", "adabs")) for k in range(1, N_CHIPS)]
    i0, iday = 0, 1  # positions of 25 s and one day in every chip's times
    sub = [{"t_s": [T_FIRST_S, DAY_S],
            **{m: [c[m][c["t_s"].index(T_FIRST_S)], c[m][c["t_s"].index(DAY_S)]]
               for m in ("gdc", "adabs")}} for c in chips]
    rules = tolerance_rules(sub, soft_ok)

    def mean_loss(a_key, ia, b_key, ib) -> tuple[float, list[float]]:
        per = [_loss(c[a_key][ia], c[b_key][ib]) for c in sub]
        return float(np.mean(per)), per

    day_gdc, per_gdc = mean_loss("gdc", i0, "gdc", iday)
    day_ada, per_ada = mean_loss("adabs", i0, "adabs", iday)
    gain_ada, per_gain = mean_loss("adabs", iday, "gdc", iday)
    per_t0 = [_loss(soft_ok, c["gdc"][i0]) for c in sub]
    curve = {"t_s": chips[0]["t_s"], **{m: [float(np.mean(a)) for a in chips[0][m]]
                                        for m in ("raw", "gdc", "adabs")}}
    few = {"x_test": data["x_test"][:N_SENSITIVITY], "y_test": data["y_test"][:N_SENSITIVITY]}
    base = chip_accuracy(net, hardware(SEED), few, t_s=T_FIRST_S)
    sensitivities = [
        Sensitivity(f"{what} off (chip {SEED})",
                    f"accuracy at 25 s (no compensation, first {N_SENSITIVITY} test images)",
                    100 * base, 100 * accuracy_at(net, few, T_FIRST_S, **{flag: False}), "%")
        for what, flag in (("joshi2020_pcm stuck-at faults (rates assumed)", "faults"),
                           ("read noise", "read_noise"),
                           ("programming noise", "programming_noise"))]
    table = "; ".join(f"{t:.3g} s: {100 * a:.2f} / {100 * b:.2f} / {100 * c:.2f} %"
                      for t, a, b, c in zip(curve["t_s"], curve["raw"], curve["gdc"],
                                            curve["adabs"], strict=True))

    def fmt(values) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    def rule(key: str) -> str:
        return f"the tolerance rule gives {rules[key]:.2f} pt for this run"

    comparisons = [
        target(NAME, "gdc_day_loss").compare(
            day_gdc, note=(f"mean of {N_CHIPS} chips (per chip {fmt(per_gdc)} pt); chip {SEED} "
                           "accuracy (raw / GDC / GDC + AdaBS) per read time: " + table
                           + f"; {rule('gdc_day_loss')}.")),
        target(NAME, "adabs_day_loss").compare(
            day_ada, note=(f"mean of {N_CHIPS} chips (per chip {fmt(per_ada)} pt); statistics "
                           f"re-estimated on {N_ADABS} training images at each read time; "
                           f"{rule('adabs_day_loss')}.")),
        target(NAME, "adabs_gain_day").compare(
            gain_ada, note=(f"mean of {N_CHIPS} chips (per chip {fmt(per_gain)} pt); "
                            f"{rule('adabs_gain_day')}.")),
        target(NAME, "programming_loss").compare(
            float(np.mean(per_t0)),
            note=(f"software {100 * software:.2f} %, PCM with GDC at 25 s (mean of {N_CHIPS} "
                  f"chips, per chip {fmt(per_t0)} pt); {rule('programming_loss')}.")),
    ]
    figures = [_plot(out_dir, curve, software)] if out_dir is not None else []
    summary = (f"MNIST CNN with batch norm (noise-trained, eta_tr = 3.8 %, weights clipped at "
               f"2.5 sigma) on 256x256 PCM tiles, {N_CHIPS} chips, {data['source']}; "
               f"{time.perf_counter() - t_start:.0f} s. The published numbers are ResNet-32 on "
               "CIFAR-10: every row is a consistency check of the PCM model's behaviour, not a "
               "prediction.")
    return Reproduction(NAME, CITATION, comparisons, figures, summary,
                        sensitivities=sensitivities, assumed=assumed_values(CARDS),
                        rules=rules)
