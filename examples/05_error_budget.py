"""
05 · Error budget of a tile MVM: which non-ideality costs how much
==================================================================

Start from an ideal chip with 8-bit converters and weights (quantisation only) and switch on
one non-ideality of the default chip at a time, then all of them together: write-verify
programming error, read noise (the card's excess noise plus thermal and shot noise of every
cell), stuck-at faults, one day of conductance relaxation, converter mismatch and noise,
1 Ω per pitch of wire resistance (IR drop) and the 1T1R cells' own I–V law ("all together"
keeps ohmic cells: 1T1R cells with wires take the slow Newton-solved array read). Each
configuration is a :class:`~cimsim.hardware.HardwareConfig` built with ``replace``; the
device is the ``yao2020_taox_1t1r`` card.

What to look at:

* **Left**: the relative RMS error of ``x @ W`` computed by :class:`cimsim.AnalogMatrix`
  (a 512×128 Gaussian weight matrix on two 256-row tiles, uniform inputs), against the float
  product. The bars show which effect dominates (with every row driven, the wires of a
  512-row product lose the most); the error of all together is close to the root sum of
  squares of its parts (dotted line), since they are mostly independent.
* **Right**: what that costs in accuracy: the bundled digits CNN on the 359 held-out digits,
  mean and spread over several simulated chips (seeds). Its layers are small (at most 72
  rows of a tile), so the IR drop that dominates the large product costs it nothing, while
  programming error and relaxation, which every cell carries, cost the most.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cimsim import AnalogMatrix, HardwareConfig, load_bundled
from cimsim.nn.models import load_digits_split
from cimsim.plotting import pyplot, save_png


def configurations() -> dict[str, HardwareConfig]:
    """The quantised ideal chip, each non-ideality alone, and all of them together."""
    base = HardwareConfig.ideal()
    base = base.replace(tile=base.tile.replace(quantize=True, weight_bits=8, bits_per_cell=8,
                                               input_bits=8, adc_bits=8,
                                               adc_calibration="percentile"))
    alone = {
        "8-bit quantisation only": base,
        "+ programming error": base.replace(programming_noise=True),
        "+ read noise": base.replace(read_noise=True),
        "+ stuck-at faults": base.replace(faults=True),
        "+ 1 day relaxation": base.replace(drift=True, t_s=86400.0),
        "+ converter noise": base.replace(converter_noise=True),
        "+ IR drop (1 Ω/pitch)": base.replace_path("tile.r_wire_row_ohm", 1.0)
                                     .replace_path("tile.r_wire_col_ohm", 1.0),
        "+ 1T1R cell law": base.replace_path("tile.cell", "1t1r"),
    }
    # the default chip with every effect above; ohmic cells (1T1R cells with wires take the
    # Newton-solved array read, minutes for the network here)
    everything = HardwareConfig(t_s=86400.0).replace_path("tile.r_wire_row_ohm", 1.0) \
        .replace_path("tile.r_wire_col_ohm", 1.0)
    return {**alone, "all together": everything}


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="Error budget of a tile MVM.")
    ap.add_argument("--quick", action="store_true", help="smaller matrix, fewer chips")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    rows, cols, batch = (256, 32, 64) if args.quick else (512, 128, 256)
    chips = 1 if args.quick else 4
    rng = np.random.default_rng(0)
    w = rng.normal(size=(rows, cols))
    x = rng.uniform(0.0, 1.0, (batch, rows))
    exact = x @ w
    data = load_digits_split()
    net = load_bundled("digits_cnn_relu")
    configs = configurations()
    mvm_err, acc = {}, {}
    for name, hw in configs.items():
        m = AnalogMatrix(w, hw).calibrate(x)
        y, _ = m.matmul(x)
        mvm_err[name] = float(np.sqrt(np.mean((y - exact) ** 2) / np.mean(exact ** 2)))
        acc[name] = []
        for seed in range(chips):
            net.compile(hw.replace(seed=seed))
            acc[name].append(net.evaluate(data["x_test"], data["y_test"]).accuracy)
        print(f"{name:<26} MVM error {mvm_err[name]:8.2%}   accuracy "
              f"{np.mean(acc[name]):.2%} ± {np.std(acc[name]):.2%}")
    names = list(configs)
    plt = pyplot()
    fig, (ax_e, ax_a) = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    pos = np.arange(len(names))[::-1]
    colors = ["0.6"] + ["C0"] * (len(names) - 2) + ["C3"]
    ax_e.barh(pos, [100 * mvm_err[n] for n in names], color=colors)
    parts = [mvm_err[n] ** 2 - mvm_err[names[0]] ** 2 for n in names[1:-2]]   # not the law
    rss = np.sqrt(mvm_err[names[0]] ** 2 + np.sum(np.clip(parts, 0.0, None)))
    ax_e.axvline(100 * rss, color="C3", ls=":", label="root sum of squares of the parts")
    ax_e.set(xlabel="relative RMS error of x @ W [%]", yticks=pos,
             yticklabels=names, title=f"Tile MVM ({rows}×{cols}, batch {batch})")
    ax_e.legend(fontsize=8)
    ideal_acc = net.compile(HardwareConfig.ideal()).evaluate(data["x_test"],
                                                              data["y_test"]).accuracy
    means = [100 * np.mean(acc[n]) for n in names]
    spread = [100 * np.std(acc[n]) for n in names]
    ax_a.barh(pos, means, xerr=spread, color=colors)
    ax_a.axvline(100 * ideal_acc, color="k", ls="--", lw=0.8, label="ideal float chip")
    lo = min(means) - 3 * max(spread) - 1.0
    ax_a.set(xlim=(lo, 100.0), xlabel="accuracy [%]",
             title=f"digits_cnn_relu, 359 held-out digits, {chips} chips")
    ax_a.legend(fontsize=8, loc="lower left")
    return save_png(fig, args.out / "05_error_budget.png")


if __name__ == "__main__":
    print(main())
