"""Joshi et al. 2020: PCM statistical model, drift, and global drift compensation (GDC).

Inputs from the paper
---------------------
* Device: the statistical PCM model of the paper's Methods, card ``joshi2020_pcm``
  (programming noise σ_P(G_T), per-device drift exponent ν ~ N(μ_ν(G), σ_ν(G)) with t0 = 20 s,
  1/f read noise growing with ln t; G_max = 25 µS).
* Mapping: each weight on a differential PCM pair, G = G⁺ − G⁻, scaled so that the layer's
  max|W| maps to G_max (``weight_mapping="differential"``, analog programming: 8-bit targets).
* Training: Gaussian weight-noise injection with η_tr = 3.8 % of max|W| per layer, starting
  from a pretrained network (the paper's recipe).
* GDC: one factor per array, α(t) = Σ|y(t_ref)| / Σ|y(t)| for a fixed calibration input, applied
  to the array outputs (:class:`validation._mnist.GlobalDriftCompensation`).
* Converters: 8-bit inputs and 8-bit ADCs (the paper finds 8 bits adequate).

What cimsim does
----------------
The paper's networks are ResNets on CIFAR-10 / ImageNet; here the PCM model is applied to a
small MNIST CNN (the five-layer mCNN architecture of ``yao2020_mcnn``, fine-tuned with the
paper's noise injection: ``cimsim/data/joshi2020_mnist_cnn.npz``). The network is programmed
on :data:`N_CHIPS` chips (seeds 0, 1, …) of 256×256 PCM tiles and each is evaluated on the
2,000 held-out images at read times from 1 s to 1 year after programming, with and without
GDC; the comparisons use the accuracies averaged over the chips (one chip's differences of
accuracies move by several tenths of a point with the noise realisation alone). Drift, read
noise and the ADC ranges (calibrated at programming) are cimsim's; nothing is fitted.

Comparisons: the paper's claim that compensation holds the accuracy over one day (its
ResNet-32 hardware experiment: 93.75 % at 25 s, above 93.5 % after one day), and the small
loss of a noise-trained network right after programming (93.87 % software → 93.75 %). Both
are differences of accuracies, so they transfer from CIFAR-10 to MNIST only as a claim about
the model's behaviour, not as a number the MNIST network must hit.

Known gap: the paper's best one-day retention uses AdaBS (re-estimating batch-norm
statistics); the MNIST CNN has no batch norm, so only GDC is modelled (the paper reports
>92.6 % after one day with GDC alone on ResNet-32).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.plotting import pyplot

from ._base import Comparison, Reproduction
from ._mnist import (
    GlobalDriftCompensation,
    binomial_se,
    chip_accuracy,
    held_out_accuracy,
    load_network,
    mnist,
)
from ._plots import save_figure

NAME = "joshi2020_pcm_drift"
CITATION = (
    "V. Joshi, M. Le Gallo, S. Haefeli, I. Boybat, S. R. Nandakumar, C. Piveteau, M. Dazzi, "
    "B. Rajendran, A. Sebastian, E. Eleftheriou, \"Accurate deep neural network inference using "
    "computational phase-change memory\", Nat. Commun. 11, 2473 (2020), "
    "doi:10.1038/s41467-020-16108-9."
)
SLOW = True

# Published (ResNet-32 on CIFAR-10, weights on PCM hardware) [%].
PUBLISHED_T0 = 93.75  # accuracy 25 s after programming (Fig. 4)
PUBLISHED_SOFTWARE = 93.87  # software accuracy of the noise-trained network (Fig. 3c)
PUBLISHED_ONE_DAY = 93.5  # abstract: "above 93.5 % retained over a one-day period"
SOURCE = "Joshi et al. 2020, abstract and Figs. 3c, 4, 5b (ResNet-32, CIFAR-10, PCM hardware)"

MODEL = "joshi2020_mnist_cnn"
SEED = 0
N_CHIPS = 4  # chips (seeds SEED, SEED + 1, ...) averaged in the comparisons
T_FIRST_S = 25.0  # first inference after programming, as in the paper
DAY_S = 86400.0
YEAR_S = 365.25 * DAY_S
TIMES_S = (1.0, T_FIRST_S, 3600.0, DAY_S, 30 * DAY_S, YEAR_S)
TOL_DAY = 0.5
TOL_T0 = 0.5

KNOWN_FAILURES = {
    "accuracy loss 25 s -> 1 day with drift compensation": (
        "Model gap, not a fitted miss: the published few tenths of a point are the paper's "
        "result with AdaBS (batch-norm statistics re-estimated over time), which this CNN "
        "cannot use (it has no batch norm); with GDC alone the simulated chips lose 0.6-1.2 pt "
        "over one day (0.9 pt on average over 4 chips). A single chip passed at the tolerance "
        "edge with an earlier noise stream: one chip's value is not a stable basis."),
    "accuracy loss at programming (software -> PCM at 25 s)": (
        "Workload and training gap, not a fitted miss: the tiny MNIST CNN (C1 columns sum only "
        "9 products, 936 convolution weights) averages the PCM programming and 1/f read noise "
        "far less than ResNet-32, and it was trained without the paper's weight clipping at "
        "2-2.5 σ_W, so its mapped weights use a small part of G_max where the relative noise is "
        "largest; the four simulated chips lose 0.35-1.35 pt (0.75 pt on average)."),
}


def hardware(seed: int = SEED, **changes) -> HardwareConfig:
    """256×256 PCM tiles, differential pairs, 8-bit inputs and ADCs."""
    tile = TileConfig(rows=256, cols=256, weight_mapping="differential", weight_bits=8,
                      bits_per_cell=8, input_encoding="amplitude", input_bits=8, adc_bits=8)
    return HardwareConfig(device_card="joshi2020_pcm", tile=tile, seed=seed, **changes)


def accuracy_at(net, data, t_s: float, **changes) -> float:
    """Analog accuracy at one read time on a chip with ``changes`` (no compensation)."""
    return chip_accuracy(net, hardware(SEED, **changes), data, t_s=t_s)


def accuracy_vs_time(net, data, times_s=TIMES_S, seed: int = SEED) -> dict:
    """Analog accuracy at each read time, with and without GDC [fraction]."""
    net.compile(hardware(seed), net.calibration)
    gdc = GlobalDriftCompensation(net, net.calibration[:8], t_ref_s=T_FIRST_S)
    out = {"t_s": list(times_s), "raw": [], "gdc": []}
    for t in times_s:
        for key, on in (("raw", False), ("gdc", True)):
            gdc.enabled = on
            logits = net.run(data["x_test"], t_s=t)
            out[key].append(held_out_accuracy(logits, data))
    gdc.enabled = False
    return out


def _plot(out_dir: Path, res: dict, software: float) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    t = np.array(res["t_s"])
    ax.semilogx(t, 100 * np.array(res["raw"]), "o-", label="no compensation")
    ax.semilogx(t, 100 * np.array(res["gdc"]), "s-", label="global drift compensation")
    ax.axhline(100 * software, color="k", ls=":", lw=1, label="software (float)")
    for x, lab in ((T_FIRST_S, "25 s"), (DAY_S, "1 day"), (YEAR_S, "1 year")):
        ax.axvline(x, color="0.8", lw=0.8)
        ax.text(x, ax.get_ylim()[0], lab, fontsize=7, rotation=90, va="bottom")
    ax.set_xlabel("time since programming [s]")
    ax.set_ylabel("MNIST accuracy [%]")
    ax.set_title("Joshi 2020 PCM model: MNIST CNN accuracy vs time", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, NAME)


def run(out_dir: Path | None = None) -> Reproduction:
    t_start = time.perf_counter()
    data = mnist()
    net = load_network(MODEL)
    n = len(data["y_test"])
    software = net.float_accuracy(data["x_test"], data["y_test"])
    chips = [accuracy_vs_time(net, data, seed=SEED + k) for k in range(N_CHIPS)]
    res = {"t_s": chips[0]["t_s"],
           **{key: list(np.mean([c[key] for c in chips], axis=0)) for key in ("raw", "gdc")}}
    sens = {"no stuck-at faults": accuracy_at(net, data, T_FIRST_S, faults=False),
            "no read noise": accuracy_at(net, data, T_FIRST_S, read_noise=False),
            "no programming noise": accuracy_at(net, data, T_FIRST_S, programming_noise=False)}
    i0, iday, iyear = (res["t_s"].index(x) for x in (T_FIRST_S, DAY_S, YEAR_S))
    # Differences of accuracies on n images are multiples of 100/n points: round away the
    # floating-point residue so that a loss exactly at the tolerance edge is judged as such.
    loss_day = round(100 * (res["gdc"][i0] - res["gdc"][iday]), 6)
    loss_t0 = round(100 * (software - res["gdc"][i0]), 6)
    se = 100 * binomial_se(res["gdc"][i0], n)
    per_chip_day = [100 * (c["gdc"][i0] - c["gdc"][iday]) for c in chips]
    per_chip_t0 = [100 * (software - c["gdc"][i0]) for c in chips]
    table = "; ".join(f"{t:.3g} s: {100 * a:.2f} / {100 * b:.2f} %"
                      for t, a, b in zip(res["t_s"], res["raw"], res["gdc"], strict=True))
    comparisons = [
        Comparison(
            quantity="accuracy loss 25 s -> 1 day with drift compensation",
            published=PUBLISHED_T0 - PUBLISHED_ONE_DAY, simulated=loss_day,
            tolerance=TOL_DAY, unit="pt", relative=False, source=SOURCE,
            why="The paper's claim is a loss of a few tenths of a point over one day; ±0.5 pt "
                "accepts losses up to 0.75 pt (or a small gain), wider than the noise of a "
                f"difference of 2,000-image accuracies averaged over {N_CHIPS} chips.",
            note=(f"mean of {N_CHIPS} chips (per chip: "
                  + ", ".join(f"{v:.2f}" for v in per_chip_day) + " pt); "
                  f"MNIST CNN with GDC: {100 * res['gdc'][i0]:.2f} % at 25 s, "
                  f"{100 * res['gdc'][iday]:.2f} % at 1 day, {100 * res['gdc'][iyear]:.2f} % at "
                  f"1 year (without GDC {100 * res['raw'][iday]:.2f} % and "
                  f"{100 * res['raw'][iyear]:.2f} %); the paper's few-tenths value is with AdaBS "
                  "(batch-norm re-calibration, not modelled: this CNN has no batch norm); with "
                  "GDC alone its ResNet-32 kept >92.6 %, a loss of about 1.1 pt; accuracy "
                  "(raw / GDC) per time: " + table)),
        Comparison(
            quantity="accuracy loss at programming (software -> PCM at 25 s)",
            published=PUBLISHED_SOFTWARE - PUBLISHED_T0, simulated=loss_t0,
            tolerance=TOL_T0, unit="pt", relative=False, source=SOURCE,
            why="A noise-trained network should lose only about a tenth of a point when "
                "programmed; ±0.5 pt covers the ±0.45 pt sampling noise of 2,000 test images.",
            note=f"software {100 * software:.2f} %, PCM at 25 s {100 * res['gdc'][i0]:.2f} % "
                 f"(mean of {N_CHIPS} chips, per chip "
                 + ", ".join(f"{v:.2f}" for v in per_chip_t0)
                 + f" pt; binomial s.e. of one chip {se:.2f} pt); at 25 s with one effect "
                 "removed (chip 0): "
                 + ", ".join(f"{k} {100 * v:.2f} %" for k, v in sens.items())
                 + "; the paper also clipped weights at 2-2.5 σ_W in training (not done here), "
                   "which raises the mapped weights' signal-to-noise ratio."),
    ]
    figures = [_plot(out_dir, res, software)] if out_dir is not None else []
    summary = (f"MNIST CNN (noise-trained, η_tr = 3.8 %) on 256×256 PCM tiles, accuracy from "
               f"1 s to 1 year with and without global drift compensation; "
               f"{time.perf_counter() - t_start:.0f} s.")
    return Reproduction(NAME, CITATION, comparisons, figures, summary)
