"""Narayanan et al. 2021: a two-layer MNIST network fully on IBM's 14 nm PCM test chip.

Published (abstract): a 14 nm analog-AI test chip whose phase-change-memory arrays each hold
512 × 512 weights; a closed-loop tuning (CLT) algorithm programs the four PCM conductances of
every weight to less than 3 % average weight error; excitations travel between arrays as
durations. A two-layer MNIST network run fully on chip loses about 0.6 % accuracy against
software. Compared (``validation/targets.toml``): that loss, a *prediction*: the device model
takes the paper's measured weight error, and nothing is chosen from the accuracy.

Model
-----
* **Programming error from the measured weight error.** cimsim holds a signed weight on a
  differential pair, :math:`W \\propto G^+ - G^-` with the largest weight at G_max (the chip's
  four devices, two per polarity, act as one device per polarity whose conductance is their
  sum, tuned together by CLT). Independent Gaussian device errors of σ_d give a weight error
  of σ_W = √2 σ_d, whose mean absolute value is σ_W √(2/π). A mean absolute weight error ε
  (card ``narayanan2021_pcm_chip``, ``weight_error`` = 0.03 of the largest weight) therefore
  sets

  .. math:: \\sigma_d = \\frac{\\sqrt{\\pi}}{2}\\, \\varepsilon\\, G_{max}

  (0.66 µS at G_max = 25 µS), constant over the conductance range
  (:func:`programming_sigma_s`). A device cannot go below zero conductance, so one whose
  target is zero (the idle side of every pair) errs upwards only, and on this network's
  weights the realised mean weight error is 2.5 % (:func:`realized_weight_error`), inside the
  published bound; a sensitivity row raises σ_d until it reaches 3 %.
  It replaces the programming noise of the ``joshi2020_pcm``
  card, whose drift and 1/f read noise (the same group's doped-Ge2Sb2Te5 PCM, measured by
  Joshi et al. 2020) are kept: the abstract gives neither, so they are assumed to carry over.
* **Arrays**: 512 × 512 tiles (the 784 inputs of the first layer span two row blocks, summed
  digitally), differential weights, no stuck devices (CLT tunes four devices per weight, so the
  measured weight error already contains the devices that do not move; a sensitivity row puts
  the card's assumed stuck rate back).
* **Duration-format inputs**: 8-bit pulse widths of one 1 ns tick (``input_encoding =
  "pulse_width"``, a 256 ns window), assumed; the outputs' integration and conversion back to
  durations as an 8-bit read-out (the default SAR card), assumed.
* **Read time**: 20 s after programming, the drift model's reference (``t0_s`` of the card):
  the abstract gives no time, so the chip is read as soon as the drift model allows; a
  sensitivity row reads it after one hour.
* **Network**: the paper's network is not described in the abstract; the bundled two-layer
  ReLU MLP ``mnist_mlp_relu`` (784-128-10, trained in software without noise) stands in for it.

The loss is the software accuracy minus the mean accuracy of five simulated chips (seeds), on
the 10,000 MNIST test images (full MNIST when the ``[data]`` extra is installed). Its
tolerance follows :func:`validation._base.difference_tolerance_pt`; the rule's value for the
run is reported (``Reproduction.rules``).

References
----------
.. [1] P. Narayanan et al., IEEE Trans. Electron Devices 68(12), 6629-6636 (2021),
   doi:10.1109/TED.2021.3115993.
.. [2] V. Joshi et al., Nat. Commun. 11, 2473 (2020), doi:10.1038/s41467-020-16108-9.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.plotting import pyplot
from device_models import cards

from ._base import Reproduction, Sensitivity, assumed_values, difference_tolerance_pt
from ._mnist import load_network, mnist
from ._plots import save_figure
from ._targets import target

NAME = "narayanan2021_pcm_mlp"
CITATION = (
    "P. Narayanan, S. Ambrogio, A. Okazaki, K. Hosokawa, H. Tsai, A. Nomura, T. Yasuda, "
    "C. Mackin, S. C. Lewis, A. Friz, M. Ishii, Y. Kohda, H. Mori, K. Spoon, R. Khaddam-Aljameh, "
    "N. Saulnier, M. Bergendahl, J. Demarest, K. W. Brew, V. Chan, S. Choi, I. Ok, I. Ahsan, "
    "F. L. Lie, W. Haensch, V. Narayanan, G. W. Burr, \"Fully on-chip MAC at 14 nm enabled by "
    "accurate row-wise programming of PCM-based weights and parallel vector-transport in "
    "duration-format\", IEEE Trans. Electron Devices 68(12), 6629-6636 (2021), "
    "doi:10.1109/TED.2021.3115993."
)
SLOW = True

CHIP = "narayanan2021_pcm_chip"
DEVICE = "joshi2020_pcm"
CARDS = (CHIP, DEVICE, "liu2010_sar_10b", "johns1997_cap_dac_8b")
MODEL = "mnist_mlp_relu"
SEEDS = (0, 1, 2, 3, 4)
#: Input duration resolution [bit] and tick [s] (assumed, module docstring).
INPUT_BITS = 8
T_TICK_S = 1e-9
#: Images of the paper's test set (MNIST test set) [-].
N_TEST_PUBLISHED = 10_000


def programming_sigma_s(weight_error: float, g_max_s: float) -> float:
    """Device programming σ [S] that gives a mean absolute weight error ``weight_error``
    [fraction of the largest weight] on a differential pair whose largest weight is at
    ``g_max_s`` [S]: σ_d = (√π/2) ε G_max (module docstring)."""
    return 0.5 * math.sqrt(math.pi) * weight_error * g_max_s


def device_card(weight_error: float | None = None):
    """The ``joshi2020_pcm`` card with the programming noise the chip's measured weight error
    implies (``weight_error`` default: the chip card's)."""
    chip = cards.load(CHIP)
    dev = cards.load(DEVICE)
    eps = chip.weight_error if weight_error is None else weight_error
    return dev.replace(prog_noise_coeffs_s=[programming_sigma_s(eps, dev.g_max_s)])


def realized_weight_error(net, weight_error: float | None = None, seed: int = 0) -> float:
    """Mean absolute weight error [fraction of each layer's largest weight] of ``net``'s
    weights programmed with :func:`device_card` ``(weight_error)``: both devices of each pair
    drawn by the card's programming model (:func:`device_models.memory.program`), which keeps
    every conductance at or above zero, so a device whose target is zero errs upwards only and
    the realised error lies below ``weight_error`` (8-bit weight quantisation left out)."""
    from cimsim.nn.layers import WeightedLayer
    from device_models.memory import program

    card = device_card(weight_error)
    errs = []
    for i, lay in enumerate(x for x in net.layers if isinstance(x, WeightedLayer)):
        w = lay.weight / np.abs(lay.weight).max()
        t_pos = np.clip(w, 0.0, None) * card.g_max_s
        t_neg = np.clip(-w, 0.0, None) * card.g_max_s
        g_pos = program(card, t_pos, seed=seed + 2 * i).g_s
        g_neg = program(card, t_neg, seed=seed + 2 * i + 1).g_s
        errs.append(np.abs((g_pos - g_neg) - (t_pos - t_neg)).ravel() / card.g_max_s)
    return float(np.concatenate(errs).mean())


def hardware(seed: int = 0, *, weight_error: float | None = None, **changes) -> HardwareConfig:
    """The test chip as a cimsim chip (module docstring)."""
    chip = cards.load(CHIP)
    dev = device_card(weight_error)
    tile = TileConfig(rows=chip.rows, cols=chip.cols, weight_mapping="differential",
                      weight_bits=8, bits_per_cell=8, input_encoding="pulse_width",
                      input_bits=INPUT_BITS, t_read_s=2**INPUT_BITS * T_TICK_S, adc_bits=8)
    return HardwareConfig(**{"device_card": dev, "tile": tile, "seed": seed, "t_s": dev.t0_s,
                             "faults": False, **changes})


def chip_correct(net, hw: HardwareConfig, data: dict) -> np.ndarray:
    """Per-image correctness of ``net`` programmed on chip ``hw`` [bool]."""
    net.compile(hw, net.calibration)
    return net.run(data["x_test"]).argmax(axis=1) == data["y_test"]


#: Short labels of the sensitivity rows in the figure, in their order in :func:`run`.
_SHORT = ("weight error 1.5 %", "realised error 3 %", "stuck devices", "read after 1 h")


def _plot(out_dir: Path, software: float, chips: np.ndarray, sens: list[Sensitivity]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    tgt = target(NAME, "mnist_loss")
    losses = 100 * (software - chips)
    labels = (["published"] + [f"chip {s}" for s in SEEDS]
              + [f"chip {SEEDS[0]}: {short}" for short in _SHORT][:len(sens)])
    vals = [tgt.published, *losses, *[s.changed for s in sens]]
    colors = ["tab:gray"] + ["tab:blue"] * len(SEEDS) + ["tab:orange"] * len(sens)
    ax.bar(range(len(vals)), vals, color=colors)
    ax.axhline(float(losses.mean()), color="tab:blue", ls="--", lw=1,
               label=f"mean of {len(SEEDS)} chips {losses.mean():.2f} pt")
    ax.axhspan(tgt.published - tgt.tolerance, tgt.published + tgt.tolerance, color="tab:green",
               alpha=0.12, label=f"published ±{tgt.tolerance:g} pt")
    ax.set_xticks(range(len(vals)), labels, fontsize=6, rotation=30, ha="right")
    ax.set_ylabel("accuracy loss [pt]")
    ax.set_title("Narayanan 2021, 14 nm PCM chip: MNIST two-layer network, software - chip",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out_dir, NAME)


def run(out_dir: Path | None = None) -> Reproduction:
    t0 = time.perf_counter()
    data = mnist()
    net = load_network(MODEL)
    n = len(data["y_test"])
    soft_ok = net.predict_float(data["x_test"]) == data["y_test"]
    software = float(soft_ok.mean())
    correct = [chip_correct(net, hardware(s), data) for s in SEEDS]
    chips = np.array([c.mean() for c in correct])
    losses = 100 * (software - chips)
    q = float(np.mean([np.mean(c != soft_ok) for c in correct]))
    rule = difference_tolerance_pt(q, N_TEST_PUBLISHED, n, float(losses.std(ddof=1)),
                                   len(SEEDS))
    quantity = f"{target(NAME, 'mnist_loss').quantity} (chip {SEEDS[0]})"
    chip = cards.load(CHIP)
    dev = cards.load(DEVICE)
    realized = realized_weight_error(net)
    at_bound = chip.weight_error * chip.weight_error / realized
    variants = {
        f"{CHIP}.weight_error {chip.weight_error:g} -> {chip.weight_error / 2:g} (a chip "
        "below the published bound)": hardware(SEEDS[0], weight_error=chip.weight_error / 2),
        f"{CHIP}.weight_error {chip.weight_error:g} -> {at_bound:.4f} (the realised mean "
        "weight error at the published 3 % bound)": hardware(SEEDS[0], weight_error=at_bound),
        f"{DEVICE} stuck-at faults at the card's assumed rates (CLT not compensating)":
            hardware(SEEDS[0], faults=True),
        f"read {dev.t0_s:g} s -> 1 h after programming (assumed read time; drift of the "
        f"{DEVICE} card)": hardware(SEEDS[0], t_s=3600.0),
    }
    sensitivities = [Sensitivity(label, quantity, float(losses[0]),
                                 100 * (software - float(chip_correct(net, hw, data).mean())),
                                 "pt")
                     for label, hw in variants.items()]
    sigma = programming_sigma_s(chip.weight_error, dev.g_max_s)
    comparisons = [target(NAME, "mnist_loss").compare(
        float(losses.mean()),
        note=(f"software {100 * software:.2f} %, PCM chips "
              + ", ".join(f"{100 * c:.2f}" for c in chips)
              + f" % (device programming sigma {sigma * 1e6:.2f} uS from the measured "
              f"{100 * chip.weight_error:g} % weight error, which on this network's weights "
              f"realises a mean weight error of {100 * realized:.2f} %, inside the published "
              f"bound, because no device goes below zero conductance); the tolerance rule gives "
              f"{rule:.2f} pt for this run ({len(SEEDS)} chips, {n} test images, "
              f"{100 * q:.2f} % of images classified differently from software)."))]
    figures = [_plot(out_dir, software, chips, sensitivities)] if out_dir is not None else []
    summary = (f"A two-layer ReLU MLP (784-128-10) on 512x512 PCM tiles whose programming error "
               f"is the paper's measured weight error, 8-bit duration inputs, read "
               f"{dev.t0_s:g} s after programming, {len(SEEDS)} chips, {data['source']}; "
               f"{time.perf_counter() - t0:.0f} s.")
    return Reproduction(NAME, CITATION, comparisons, figures, summary,
                        sensitivities=sensitivities, assumed=assumed_values(CARDS),
                        rules={"mnist_loss": rule})
