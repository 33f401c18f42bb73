"""Yao et al. 2020: five-layer memristor CNN on MNIST, direct transfer and hybrid training.

Inputs from the paper
---------------------
* Network (Fig. 2a, Methods): C1 = 8 kernels 1×3×3, S2 pooling, C3 = 12 kernels 8×3×3, S4
  pooling, FC 192→10 (the 936 convolution weights of Extended Data Fig. 7 = 8·9 + 12·72),
  ReLU activations, trained ex situ in software without noise.
* Arrays: eight 1T1R arrays of 2,048 cells (128 × 16); a signed weight is the differential
  conductance of a cell pair (G⁺ row with positive pulses, G⁻ row with negative pulses), so
  one array holds 128 inputs × 8 signed outputs: ``TileConfig(rows=128, cols=16,
  weight_mapping="differential")``. The mCNN then occupies 7 arrays (C1: 1, C3: 2, FC: 4).
* Weights: 15 levels (differential pair of 8-level cells, Methods / Extended Data Fig. 3):
  ``weight_bits=4`` (codes −7…7), programmed by closed-loop write-verify with the
  ``yao2020_taox_1t1r`` card; inputs 8-bit, applied bit-serially as 0.2 V read pulses, each
  bit-plane digitised and shifted-and-added (Extended Data Fig. 2): ``input_encoding=
  "bit_serial"``, ``input_bits=8``, ``v_read_v=0.2``; 8-bit ADCs.
* Hybrid training (Fig. 3): after transfer, only the FC weights are re-trained on the chip's
  own convolution outputs for a subset of the training images (10 % of the training set,
  Extended Data Fig. 6c), then written again to the arrays.

What cimsim does
----------------
The network shipped as ``cimsim/data/yao2020_mcnn.npz`` was trained with
:meth:`cimsim.nn.network.Network.fit` on the 60,000 MNIST training images
(``scripts/train_validation_models.py``). The convolution layers are compiled onto tiles
(chip seed ``seed``) and run on the 10,000 test images and on 10 % of the training images
(6,000), giving the simulated chip's 192 features per image. *Direct transfer*: the FC layer
programmed on its 4 tiles classifies the test features. *Hybrid training*: the FC layer is
fine-tuned in software (Adam, from the transferred weights) on the chip features of the
training images, then programmed again (fresh write-verify) and evaluated. Five chips (seeds
0-4) are simulated; their means are compared and their spread sets the tolerances (with the
binomial error of both test sets, :func:`validation._base.accuracy_tolerance_pt`).

Compared (targets in ``validation/targets.toml``): the absolute accuracies after transfer and
after hybrid training, and the two differences the physics controls: the transfer loss
(software − transfer) and the hybrid-training gain (hybrid − transfer). A noise-free chip has
neither a loss nor a gain, so the difference rows fail for it where the absolute rows might
not. The software accuracy is a consistency row (it checks the training, not the chip).

Assumptions (not given in the paper's text) and their effect
------------------------------------------------------------
* Pooling: max pooling; S2 = 2×2; S4 = 3×3 window, stride 3, padding 1 (the only simple
  geometry mapping the 11×11 C3 maps onto 4×4, i.e. 192 FC inputs). Changing it needs
  retraining; not swept.
* The card's programming and read-noise parameters marked as assumptions in
  ``device_models/cards/yao2020_taox_1t1r.toml`` (acceptance tolerance 2.5 % of the window, 1 %
  read noise) set the transfer loss. Sensitivity rows re-run chip 0 (on the first 2,000 test
  images) with the acceptance tolerance doubled and with the conductance window's upper end
  doubled (G_max 20 -> 40 uS: the window is an approximate reading of Fig. 1c, an assumed
  value the result could be sensitive to).
* Fine-tuning recipe of the FC layer (epochs, learning rate) is ours (Adam, 20 epochs, 1e-3).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.nn.layers import Flatten, Linear
from cimsim.nn.network import Network
from cimsim.plotting import pyplot
from cimsim.tile.matrix import AnalogMatrix
from device_models import cards
from device_models._checks import fail

from ._base import (
    Reproduction,
    Sensitivity,
    accuracy_tolerance_pt,
    assumed_values,
    difference_tolerance_pt,
)
from ._mnist import load_network, mnist
from ._plots import save_figure
from ._targets import target

NAME = "yao2020_mnist_cnn"
CITATION = (
    "P. Yao, H. Wu, B. Gao, J. Tang, Q. Zhang, W. Zhang, J. J. Yang, H. Qian, \"Fully "
    "hardware-implemented memristor convolutional neural network\", Nature 577, 641-646 (2020), "
    "doi:10.1038/s41586-020-1942-4."
)
SLOW = True

MODEL = "yao2020_mcnn"
SEEDS = (0, 1, 2, 3, 4)
HYBRID_FRACTION = 0.10  # Extended Data Fig. 6c: hybrid training with 10 % of the training data
FT_EPOCHS, FT_LR = 20, 1e-3
CARD = "yao2020_taox_1t1r"
CARDS = (CARD, "mosis2001_tsmc180_nmos", "liu2010_sar_10b", "johns1997_cap_dac_8b")
#: Images of the paper's test set (MNIST test set) [-].
N_TEST_PUBLISHED = 10_000
#: Test images of the sensitivity rows [-].
N_SENSITIVITY = 2000
#: Sensitivity runs on chip SEEDS[0]: card field -> factor.
SENSITIVITY = {"tolerance_frac": 2.0, "g_max_s": 2.0}


def hardware(seed: int = 0, device_card: str | cards.Card = CARD) -> HardwareConfig:
    """The mCNN chip: 128×16 1T1R arrays with the paper's encoding (see module docstring)."""
    tile = TileConfig(rows=128, cols=16, weight_mapping="differential", weight_bits=4,
                      bits_per_cell=4, input_encoding="bit_serial", input_bits=8,
                      v_read_v=0.2, adc_bits=8)
    return HardwareConfig(device_card=device_card, tile=tile, seed=seed)


def scaled_card(factors: dict[str, float]) -> cards.Card:
    """The card with the named values multiplied by ``factors`` (a card value, usable as
    ``device_card``; its provenance lists the modified fields)."""
    card = cards.load(CARD)
    return card.replace(**{key: getattr(card, key) * f for key, f in factors.items()})


def _split(net: Network) -> tuple[Network, Linear]:
    idx = next(i for i, lay in enumerate(net.layers) if isinstance(lay, Flatten))
    conv = Network([lay.copy() for lay in net.layers[: idx + 1]], net.input_shape,
                   name=f"{net.name}_conv")
    fc = net.layers[idx + 1]
    if len(net.layers) != idx + 2 or not isinstance(fc, Linear):
        fail("net", "yao2020_mnist_cnn", "a network ending in Flatten then one Linear layer",
             net.name)
    return conv, fc.copy()


def _fc_on_chip(w_out_in: np.ndarray, bias: np.ndarray, hw: HardwareConfig, f_cal, f_test,
                seed_tag) -> tuple[np.ndarray, int]:
    am = AnalogMatrix(w_out_in.T, hw, name="fc", seed_tag=seed_tag).calibrate(f_cal)
    y, _ = am.matmul(f_test, sample_offset=0)
    return y + bias, am.n_tiles


def _finetune(fc: Linear, feats: np.ndarray, labels: np.ndarray, seed: int) -> Linear:
    head = Network([fc.copy()], (feats.shape[1],), name="fc_hybrid")
    head.fit(feats, labels, epochs=FT_EPOCHS, lr=FT_LR, batch_size=32, seed=seed)
    return head.layers[0]


def chip(seed: int, net: Network, data: dict, device_card: str | cards.Card = CARD) -> dict:
    """One simulated chip: per-image correctness after transfer and after hybrid training."""
    hw = hardware(seed, device_card)
    conv, fc = _split(net)
    x_cal = net.calibration
    conv.compile(hw, x_cal)
    n_tr = int(round(HYBRID_FRACTION * len(data["x_train"])))
    f_cal = conv.run(x_cal)  # the features the FC layer is calibrated on in Network.compile
    feats = conv.run(np.concatenate([data["x_test"], data["x_train"][:n_tr]]))
    n_te = len(data["x_test"])
    f_test, f_train = feats[:n_te], feats[n_te:]
    # Direct transfer: the FC layer as trained, on the chip (same seed tag as Network.compile).
    logits, fc_tiles = _fc_on_chip(fc.weight, fc.bias, hw, f_cal, f_test, seed_tag=2000)
    transfer = logits.argmax(axis=1) == data["y_test"]
    # Hybrid: FC re-trained on the chip's features, then written again (fresh programming).
    tuned = _finetune(fc, f_train, data["y_train"][:n_tr], seed)
    logits, _ = _fc_on_chip(tuned.weight, tuned.bias, hw, f_cal, f_test, seed_tag="fc_hybrid")
    hybrid = logits.argmax(axis=1) == data["y_test"]
    n_tiles = sum(m.n_tiles for m in conv.mapping) + fc_tiles
    return {"seed": seed, "transfer": transfer, "hybrid": hybrid, "n_tiles": n_tiles}


def _plot(out_dir: Path, software: float, chips: list[dict]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    stages = ["software", "direct transfer", "hybrid training"]
    pub = [target(NAME, k).published for k in ("software_accuracy", "transfer_accuracy",
                                              "hybrid_accuracy")]
    x = np.arange(3)
    ax.bar(x - 0.2, pub, 0.4, label="published (Yao 2020)", color="tab:gray")
    sim = [100 * software, 100 * np.mean([c["transfer"].mean() for c in chips]),
           100 * np.mean([c["hybrid"].mean() for c in chips])]
    ax.bar(x + 0.2, sim, 0.4, label="cimsim (mean of chips)", color="tab:blue")
    for c in chips:
        ax.plot([1.2, 2.2], [100 * c["transfer"].mean(), 100 * c["hybrid"].mean()], "k.", ms=5)
    ax.set_xticks(x, stages)
    ax.set_ylim(90, 100)
    ax.set_ylabel("MNIST accuracy [%]")
    ax.set_title("Yao 2020 mCNN on 1T1R arrays (dots: individual simulated chips)", fontsize=9)
    ax.legend(fontsize=8, loc="lower left")
    return save_figure(fig, out_dir, NAME)


def tolerance_rules(chips: list[dict], software_correct: np.ndarray) -> dict[str, float]:
    """The tolerances :mod:`validation._base`'s rules give for this run's chips [points]:
    what each registered accuracy tolerance must follow."""
    n = len(software_correct)
    transfer = np.array([c["transfer"].mean() for c in chips])
    hybrid = np.array([c["hybrid"].mean() for c in chips])
    loss = 100 * (software_correct.mean() - transfer)
    gain = 100 * (hybrid - transfer)
    q_loss = float(np.mean([np.mean(c["transfer"] != software_correct) for c in chips]))
    q_gain = float(np.mean([np.mean(c["transfer"] != c["hybrid"]) for c in chips]))
    k = len(chips)
    return {
        "transfer_accuracy": accuracy_tolerance_pt(
            float(transfer.mean()), N_TEST_PUBLISHED, n, 100 * transfer.std(ddof=1), k),
        "hybrid_accuracy": accuracy_tolerance_pt(
            float(hybrid.mean()), N_TEST_PUBLISHED, n, 100 * hybrid.std(ddof=1), k),
        "transfer_loss": difference_tolerance_pt(q_loss, N_TEST_PUBLISHED, n,
                                                 float(loss.std(ddof=1)), k),
        "hybrid_gain": difference_tolerance_pt(q_gain, N_TEST_PUBLISHED, n,
                                               float(gain.std(ddof=1)), k),
    }


def run(out_dir: Path | None = None) -> Reproduction:
    t0 = time.perf_counter()
    data = mnist()
    net = load_network(MODEL)
    n_test = len(data["y_test"])
    soft_ok = net.predict_float(data["x_test"]) == data["y_test"]
    software = float(soft_ok.mean())
    chips = [chip(s, net, data) for s in SEEDS]
    transfer = np.array([c["transfer"].mean() for c in chips])
    hybrid = np.array([c["hybrid"].mean() for c in chips])
    loss = 100 * (software - transfer)
    gain = 100 * (hybrid - transfer)
    rules = tolerance_rules(chips, soft_ok)
    sensitivities = []
    # Sensitivity rows: chip SEEDS[0] on the first N_SENSITIVITY test images and as many
    # hybrid-training images, as is and with one assumed card value changed.
    few = {"x_test": data["x_test"][:N_SENSITIVITY], "y_test": data["y_test"][:N_SENSITIVITY],
           "x_train": data["x_train"][:N_SENSITIVITY * 10],
           "y_train": data["y_train"][:N_SENSITIVITY * 10]}
    soft_few = 100 * float(soft_ok[:N_SENSITIVITY].mean())
    base = chip(SEEDS[0], net, few)
    for field, factor in SENSITIVITY.items():
        sens = chip(SEEDS[0], net, few, device_card=scaled_card({field: factor}))
        old = getattr(cards.load(CARD), field)
        label = f"{CARD}.{field} {old:g} -> {old * factor:g}"
        t_base, t_new = 100 * base["transfer"].mean(), 100 * sens["transfer"].mean()
        where = f"(chip {SEEDS[0]}, first {N_SENSITIVITY} test images)"
        sensitivities += [
            Sensitivity(label, f"accuracy after direct weight transfer {where}", t_base,
                        t_new, "%"),
            Sensitivity(label, f"transfer loss {where}", soft_few - t_base, soft_few - t_new,
                        "pt"),
            Sensitivity(label, f"hybrid-training gain {where}",
                        100 * base["hybrid"].mean() - t_base,
                        100 * sens["hybrid"].mean() - t_new, "pt"),
        ]

    def per_chip(values) -> str:
        return ", ".join(f"{v:.2f}" for v in values)

    def rule(key: str) -> str:
        return (f"the tolerance rule gives {rules[key]:.2f} pt for this run "
                f"({len(SEEDS)} chips, {n_test} test images)")

    comparisons = [
        target(NAME, "software_accuracy").compare(
            100 * software, note="float forward of cimsim/data/yao2020_mcnn.npz (no analog "
                                 f"effects), {n_test} test images."),
        target(NAME, "transfer_accuracy").compare(
            100 * transfer.mean(),
            note=f"chips {per_chip(100 * transfer)} %; {chips[0]['n_tiles']} arrays of "
                 f"128x16; {rule('transfer_accuracy')}."),
        target(NAME, "hybrid_accuracy").compare(
            100 * hybrid.mean(),
            note=f"chips {per_chip(100 * hybrid)} %; FC fine-tuned on "
                 f"{int(round(HYBRID_FRACTION * len(data['x_train'])))} chip feature vectors "
                 f"(10 % of the training split); {rule('hybrid_accuracy')}."),
        target(NAME, "transfer_loss").compare(
            loss.mean(), note=f"chips {per_chip(loss)} pt; {rule('transfer_loss')}."),
        target(NAME, "hybrid_gain").compare(
            gain.mean(), note=f"chips {per_chip(gain)} pt; {rule('hybrid_gain')}."),
    ]
    figures = [_plot(out_dir, software, chips)] if out_dir is not None else []
    summary = (f"Five-layer mCNN on {chips[0]['n_tiles']} simulated 128x16 1T1R arrays "
               f"({len(SEEDS)} chips), 15-level weights, 8-bit bit-serial inputs, "
               f"{data['source']}; {time.perf_counter() - t0:.0f} s.")
    return Reproduction(NAME, CITATION, comparisons, figures, summary,
                        sensitivities=sensitivities, assumed=assumed_values(CARDS),
                        rules=rules)
