"""Wan et al. 2022 (NeuRRAM): MNIST on the RRAM chip, following the authors' released code.

The authors released the training and chip-inference code of their MNIST experiment
(repository ``weierwan/Neurram_48core``, folder ``mnist_cnn/``: ``mnist_training.ipynb``,
``mnist_chip_inference.ipynb``, and ``cifar10_resnet/layer_utils.py``, ``python/nn_layers.py``
for the layers and the weight mapping). This reproduction follows it:

* **Network** (``cimsim/data/wan2022_mnist_cnn.npz``): six 3×3 'same' convolutions with 8, 8,
  16, 16, 32, 32 filters, 2×2 max pooling after every second one (28 → 14 → 7 → 4), a dense
  512→10 layer; seven weighted layers, as in the checkpoint
  ``mnist_cnn_7layer_input_3bit_wnoise0.15``.
* **3-bit inputs and activations**: images quantised to 8 levels of [0, 1]
  (``quantize_unsigned(x, 3, 1.0)``); activations ReLU-clipped and quantised to 3 bits
  (``activation_quant(3, 3)``: the clipping level is trained from 3;
  :class:`cimsim.nn.layers.QuantReLU` holds the trained levels). On the chip the inputs
  are applied bit-serially with ``input_bits = 3`` (the code's ``input_num_bits = 3``); the
  tiles' input range is calibrated to the activations' 3-bit grid.
* **Weight-noise training**: Gaussian noise of 15 % of ``max|W|`` per layer added to the weights
  and biases in every training step (``noise_train``, checkpoint ``wnoise0.15``), Adam at 1e-3,
  batches of 128, 50 epochs on 50,000 images, the epoch with the best accuracy on the 10,000
  held-out ones kept, as in ``mnist_training.ipynb`` (``scripts/train_validation_models.py``,
  in PyTorch, converted to the cimsim layers).
* **Conductance window and tolerance**: ``g_max = 4e-5``, ``g_min = 1e-6``, ``g_tol = 1e-6``
  S (the card ``wan2022_hfox_rram``: 1-40 µS, write-verify acceptance 1 µS), at most 50
  write-verify iterations (``iteration_limit=50``).
* **Weight clipping**: ``weight_mapping(W, g_max, scheme='sign', w_max_percentile=95)`` scales
  each layer so that the 95th percentile of ``|W|`` maps to G_max, positive weights on one row of
  a differential pair and negative ones on the other; larger weights saturate. Here each
  layer's weights are clipped at their 95th percentile of ``|W|`` before mapping, so the tile's
  ``max|W|`` -> G_max mapping is that scale (``weight_mapping="differential"``).
* **Unformed or leaky rows are skipped**: the code maps each layer only onto rows of a core
  that are neither unformed nor leaky (``die_info[...]['unformed']``, ``['leaky']``), so no
  used cell is stuck: the chips here have no stuck-at faults (``faults=False``); a sensitivity
  row puts the card's assumed fault rates back.
* **Column calibration**: the code fits each output column's chip result linearly against
  the expected product (slope and intercept, ``np.polyfit``) and divides it out; here the same
  fit is made on 256 training images (the code fitted on the test images themselves)
  (:class:`validation._mnist.ColumnCalibration`).

Not from the code (assumptions): the read time, 30 min after programming (``t_s = 1800 s``:
the paper shows the conductances relaxed after 30 min); 8-bit ADCs (NeuRRAM's neurons
integrate and count; the code reads multi-bit outputs); biases added digitally (the code puts
them on extra rows driven at the largest input code); weights mapped on an 8-bit grid (the
code programs continuous targets; the 1 µS acceptance is coarser than the 0.16 µS grid step).

Compared: the MNIST accuracy measured on the chip, 99.0 % (a prediction: nothing was chosen
from the paper's results; inputs are the authors' network, code and device data).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.nn.layers import WeightedLayer
from cimsim.nn.network import Network
from cimsim.plotting import pyplot

from ._base import Reproduction, Sensitivity, accuracy_tolerance_pt, assumed_values
from ._mnist import ColumnCalibration, load_network, matrix_weights, mnist
from ._plots import save_figure
from ._targets import target

NAME = "wan2022_neurram_mnist"
CITATION = (
    "W. Wan, R. Kubendran, C. Schaefer, S. B. Eryilmaz, W. Zhang, D. Wu, S. Deiss, P. Raina, "
    "H. Qian, B. Gao, S. Joshi, H. Wu, H.-S. P. Wong, G. Cauwenberghs, \"A compute-in-memory "
    "chip based on resistive random-access memory\", Nature 608, 504-512 (2022), "
    "doi:10.1038/s41586-022-04992-8; code: github.com/weierwan/Neurram_48core (mnist_cnn/)."
)
SLOW = True

MODEL = "wan2022_mnist_cnn"
T_READ_S = 1800.0
INPUT_BITS = 3
W_MAX_PERCENTILE = 95.0
SEEDS = (0, 1, 2, 3, 4)
N_COLUMN_CAL = 256
#: Test images of the sensitivity rows (the first ones of the test set) [-].
N_SENSITIVITY = 2000
CARDS = ("wan2022_hfox_rram", "liu2010_sar_10b", "johns1997_cap_dac_8b")
#: Images of the paper's test set (MNIST test set) [-].
N_TEST_PUBLISHED = 10_000


def hardware(seed: int = 0, *, input_bits: int = INPUT_BITS, faults: bool = False,
             **changes) -> HardwareConfig:
    """NeuRRAM cores as the code uses them: 256×256 RRAM, differential weights, 3-bit
    bit-serial inputs, no faulty cell in a used row."""
    tile = TileConfig(rows=256, cols=256, weight_mapping="differential", weight_bits=8,
                      bits_per_cell=8, input_encoding="bit_serial", input_bits=input_bits,
                      adc_bits=8)
    return HardwareConfig(**{"device_card": "wan2022_hfox_rram", "tile": tile, "seed": seed,
                             "t_s": T_READ_S, "faults": faults, **changes})


def quantise_inputs(x: np.ndarray, bits: int = INPUT_BITS) -> np.ndarray:
    """Images on 2**bits levels of [0, 1] (the code's quantize_unsigned and rescale)."""
    steps = 2.0**bits - 1.0
    return np.round(np.clip(x, 0.0, 1.0) * steps) / steps


def clipped(net: Network, percentile: float = W_MAX_PERCENTILE) -> Network:
    """Copy of ``net`` with each weighted layer's weights clipped at the ``percentile`` of
    ``|W|`` (the code's ``w_max_percentile``)."""
    out = net.copy()
    for lay in out.layers:
        if isinstance(lay, WeightedLayer):
            w_max = float(np.percentile(np.abs(lay.weight), percentile))
            lay.weight = np.clip(lay.weight, -w_max, w_max)
    out.calibration = net.calibration
    return out


def chip_correct(net: Network, hw: HardwareConfig, data: dict, *,
                 percentile: float = W_MAX_PERCENTILE, column_cal: bool = True) -> np.ndarray:
    """Per-image correctness of ``net`` on chip ``hw``: clipped weights programmed, column
    calibration on training images, 3-bit test images."""
    chip = clipped(net, percentile)
    chip.compile(hw, net.calibration)
    if column_cal:
        ColumnCalibration(chip, quantise_inputs(data["x_train"][-N_COLUMN_CAL:]),
                          weights=matrix_weights(net))
    return chip.run(quantise_inputs(data["x_test"])).argmax(axis=1) == data["y_test"]


def _plot(out_dir: Path, bars: list[tuple[str, float]]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 3.6))
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
    ax.set_title("NeuRRAM (Wan 2022): the authors' MNIST CNN on the RRAM model", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, out_dir, NAME)


def run(out_dir: Path | None = None) -> Reproduction:
    t0 = time.perf_counter()
    data = mnist()
    net = load_network(MODEL)
    n = len(data["y_test"])
    x_test = quantise_inputs(data["x_test"])
    software = net.float_accuracy(x_test, data["y_test"])
    soft_clip = clipped(net).float_accuracy(x_test, data["y_test"])
    chips = np.array([chip_correct(net, hardware(s), data).mean() for s in SEEDS])
    rule = accuracy_tolerance_pt(float(chips.mean()), N_TEST_PUBLISHED, n,
                                 100 * float(chips.std(ddof=1)), len(SEEDS))
    quantity = (f"{target(NAME, 'mnist_accuracy').quantity} (chip {SEEDS[0]}, first "
                f"{N_SENSITIVITY} test images)")
    few = {**data, "x_test": data["x_test"][:N_SENSITIVITY],
           "y_test": data["y_test"][:N_SENSITIVITY]}
    base = float(chip_correct(net, hardware(SEEDS[0]), few).mean())
    variants = {
        "wan2022_hfox_rram stuck-at faults at the card's assumed rates (rows not skipped)":
            chip_correct(net, hardware(SEEDS[0], faults=True), few),
        "no column calibration": chip_correct(net, hardware(SEEDS[0]), few, column_cal=False),
        "t_s 1800 s -> 1 day (assumed read time)":
            chip_correct(net, hardware(SEEDS[0], t_s=86400.0), few),
    }
    sensitivities = [Sensitivity(label, quantity, 100 * base, 100 * float(v.mean()), "%")
                     for label, v in variants.items()]
    comparisons = [target(NAME, "mnist_accuracy").compare(
        100 * chips.mean(),
        note=(f"software (3-bit inputs and activations) {100 * software:.2f} %, with weights "
              f"clipped at their 95th percentile {100 * soft_clip:.2f} %; RRAM chips "
              + ", ".join(f"{100 * c:.2f}" for c in chips)
              + f" %, read {T_READ_S:.0f} s after programming; the tolerance rule gives "
              f"{rule:.2f} pt for this run ({len(SEEDS)} chips, {n} test images)."))]
    bars = [("published\n(NeuRRAM)", target(NAME, "mnist_accuracy").published),
            ("software\n3-bit", 100 * software), ("software\nclipped", 100 * soft_clip),
            ("RRAM chips\n(mean)", 100 * chips.mean()),
            *[(label.split(" (")[0].split(" at ")[0].replace("wan2022_hfox_rram ", "")[:18]
               + "\n(chip 0)", s.changed) for label, s in zip(variants, sensitivities,
                                                              strict=True)]]
    figures = [_plot(out_dir, bars)] if out_dir is not None else []
    summary = (f"The authors' seven-layer CNN (3-bit inputs and activations, 15 % weight-noise "
               f"training) on 256x256 HfOx RRAM cores (1-40 uS, 1 uS write-verify acceptance, "
               f"weights clipped at the 95th percentile, column calibration), read "
               f"{T_READ_S:.0f} s after programming, {len(SEEDS)} chips, {data['source']}; "
               f"{time.perf_counter() - t0:.0f} s.")
    return Reproduction(NAME, CITATION, comparisons, figures, summary,
                        sensitivities=sensitivities, assumed=assumed_values(CARDS),
                        rules={"mnist_accuracy": rule})
