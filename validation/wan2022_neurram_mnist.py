"""Wan et al. 2022 (NeuRRAM): MNIST accuracy of a CNN with 4-bit weights on the RRAM model.

Inputs from the paper
---------------------
* Device: HfOx RRAM programmed by incremental-pulse write-verify, card ``wan2022_hfox_rram``
  (40 µS window of the published conductance fits; relaxation statistics of Extended Data
  Fig. 3).
* Cores: 256 × 256 RRAM arrays; signed weights as the differential conductance of two cells
  (two RRAMs per weight), weights quantised to 4 bits (``weight_bits=4``: codes −7…7).
* Inputs applied as pulses, multi-bit inputs as several pulses (bit-serial here).
* Training with Gaussian noise injected on the weights (noise-resilient training).
* Read time: inference after the conductances have relaxed; the paper shows the programmed
  distributions 30 min after programming, so ``t_s = 1800 s``.

Assumptions (not in the accessible text) and their sensitivity
--------------------------------------------------------------
* The MNIST network is a "7-layer CNN" in the paper; its exact layers are not in the accessible
  text. Assumed: conv(8, 3×3)-pool-conv(16, 3×3)-pool-conv(32, 3×3)-FC(64)-FC(10), ReLU,
  max pooling (``cimsim/data/wan2022_mnist_cnn.npz``, trained on the bundled 8,000 MNIST
  training images, the last stages on images shifted by up to ±2 pixels; the paper used the
  60,000-image training set).
* Injected training noise: 5 % of max|W| per layer, the card's relaxation σ at the first read
  (≈2 µS mid-window, Extended Data Fig. 3d) relative to its 39 µS window — a value derived from
  the device data before running, not tuned.
* Input precision 4 bits (bit-serial) and 8-bit ADCs; the 8-bit-input run is reported as a
  sensitivity, as are a second chip seed and a run without the card's stuck-at faults (their
  0.1 % + 0.1 % rates are an assumption of the card, not published).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.plotting import pyplot

from ._base import Reproduction, Sensitivity, accuracy_tolerance_pt, assumed_values
from ._mnist import chip_accuracy, load_network, mnist
from ._plots import save_figure
from ._targets import target

NAME = "wan2022_neurram_mnist"
CITATION = (
    "W. Wan, R. Kubendran, C. Schaefer, S. B. Eryilmaz, W. Zhang, D. Wu, S. Deiss, P. Raina, "
    "H. Qian, B. Gao, S. Joshi, H. Wu, H.-S. P. Wong, G. Cauwenberghs, \"A compute-in-memory "
    "chip based on resistive random-access memory\", Nature 608, 504-512 (2022), "
    "doi:10.1038/s41586-022-04992-8."
)
SLOW = True

MODEL = "wan2022_mnist_cnn"
T_READ_S = 1800.0
INPUT_BITS = 4
SEEDS = (0, 1, 2, 3, 4)
CARDS = ("wan2022_hfox_rram", "liu2010_sar_10b", "johns1997_cap_dac_8b")
#: Images of the paper's test set (MNIST test set) [-].
N_TEST_PUBLISHED = 10_000


def hardware(seed: int = 0, input_bits: int = INPUT_BITS, faults: bool = True) -> HardwareConfig:
    """NeuRRAM-like cores: 256×256 RRAM, differential 4-bit weights, bit-serial inputs."""
    tile = TileConfig(rows=256, cols=256, weight_mapping="differential", weight_bits=4,
                      bits_per_cell=4, input_encoding="bit_serial", input_bits=input_bits,
                      adc_bits=8)
    return HardwareConfig(device_card="wan2022_hfox_rram", tile=tile, seed=seed, t_s=T_READ_S,
                          faults=faults)


def quantised_software(seed: int = 0) -> HardwareConfig:
    """Ideal tiles with 4-bit weights only (the paper's 4-bit software reference)."""
    tile = TileConfig(weight_bits=4, bits_per_cell=4, input_bits=16, adc_bits=20,
                      adc_calibration="minmax")
    return HardwareConfig.ideal(tile=tile, seed=seed)


def _plot(out_dir: Path, bars: list[tuple[str, float]]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    labels = [b[0] for b in bars]
    vals = [b[1] for b in bars]
    colors = ["tab:gray"] + ["tab:blue"] * (len(bars) - 1)
    ax.bar(range(len(bars)), vals, color=colors)
    for i, v in enumerate(vals):
        ax.text(i, v + 0.05, f"{v:.2f}", ha="center", fontsize=8)
    tgt = target(NAME, "mnist_accuracy")
    ax.axhspan(tgt.published - tgt.tolerance, tgt.published + tgt.tolerance, color="tab:green",
               alpha=0.12, label=f"published ±{tgt.tolerance:g} pt")
    ax.set_xticks(range(len(bars)), labels, fontsize=7)
    ax.set_ylim(95, 100.5)
    ax.set_ylabel("MNIST accuracy [%]")
    ax.set_title("NeuRRAM (Wan 2022): CNN with 4-bit weights on the RRAM model", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, out_dir, NAME)


def run(out_dir: Path | None = None) -> Reproduction:
    t0 = time.perf_counter()
    data = mnist()
    net = load_network(MODEL)
    n = len(data["y_test"])
    software = net.float_accuracy(data["x_test"], data["y_test"])
    soft4 = chip_accuracy(net, quantised_software(), data)
    chips = np.array([chip_accuracy(net, hardware(s), data) for s in SEEDS])
    rule = accuracy_tolerance_pt(float(chips.mean()), N_TEST_PUBLISHED, n,
                                 100 * float(chips.std(ddof=1)), len(SEEDS))
    in8 = chip_accuracy(net, hardware(SEEDS[0], input_bits=8), data)
    no_faults = chip_accuracy(net, hardware(SEEDS[0], faults=False), data)
    quantity = target(NAME, "mnist_accuracy").quantity
    sensitivities = [
        Sensitivity(f"input_bits {INPUT_BITS} -> 8 (assumed, chip 0)", quantity,
                    100 * chips[0], 100 * in8, "%"),
        Sensitivity("wan2022_hfox_rram stuck-at faults (assumed rates) off (chip 0)", quantity,
                    100 * chips[0], 100 * no_faults, "%"),
    ]
    comparisons = [target(NAME, "mnist_accuracy").compare(
        100 * chips.mean(),
        note=(f"float software {100 * software:.2f} %, 4-bit-weight software "
              f"{100 * soft4:.2f} %; RRAM chips " + ", ".join(f"{100 * c:.2f}" for c in chips)
              + f" %, read at {T_READ_S:.0f} s after programming; the tolerance rule gives "
              f"{rule:.2f} pt for this run ({len(SEEDS)} chips, {n} test images)."))]
    bars = [("published\n(NeuRRAM)", target(NAME, "mnist_accuracy").published),
            ("float\nsoftware", 100 * software), ("4-bit w\nsoftware", 100 * soft4),
            ("RRAM chips\n(mean)", 100 * chips.mean()), ("chip 0\n8-bit inputs", 100 * in8),
            ("chip 0\nno faults", 100 * no_faults)]
    figures = [_plot(out_dir, bars)] if out_dir is not None else []
    summary = (f"Seven-layer CNN, 4-bit differential weights on 256x256 HfOx RRAM cores, "
               f"{INPUT_BITS}-bit bit-serial inputs, read {T_READ_S:.0f} s after programming, "
               f"{len(SEEDS)} chips, {data['source']}; {time.perf_counter() - t0:.0f} s.")
    return Reproduction(NAME, CITATION, comparisons, figures, summary,
                        sensitivities=sensitivities, assumed=assumed_values(CARDS),
                        rules={"mnist_accuracy": rule})
