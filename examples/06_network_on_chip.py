"""
06 · A network on the chip: accuracy, energy breakdown and placement
====================================================================

The bundled MNIST CNN (``mnist_cnn_relu``) compiled onto the default chip (Yao et al. 2020
1T1R cells programmed by write-verify, 256×256 tiles, 8-bit inputs, weights and SAR ADCs,
read noise, faults) with :meth:`cimsim.Network.compile`, run on held-out MNIST images with
:meth:`~cimsim.Network.evaluate`, and accounted by :meth:`~cimsim.Network.report`. Small
layers share physical tiles (tile packing), so the floorplan has fewer tiles than layers
would need one by one.

What to look at:

* **Left**: energy per inference of each layer, split by operation: array reads, DACs,
  integrators, ADCs, shift-adds, SRAM buffers, interconnect and the digital work between the
  products (bias, activation, pooling), plus the whole chip's leakage. In this small network
  the converters and the buffers, not the array itself, dominate.
* **Right**: the packed floorplan. Each physical tile is a column of 256 word lines; the
  coloured blocks are the layers' weight blocks stacked along the word lines, the grey rest is
  unused. The title gives accuracy (float vs chip), energy, TOPS/W and utilisation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cimsim import HardwareConfig, load_bundled
from cimsim.nn.bundled import load_mnist
from cimsim.plotting import pyplot, save_png

MODEL = "mnist_cnn_relu"


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="A network on the chip.")
    ap.add_argument("--quick", action="store_true", help="200 test images instead of 2000")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    data = load_mnist()
    n = 200 if args.quick else 2000
    x, y = data["x_test"][:n], data["y_test"][:n]
    net = load_bundled(MODEL)
    float_acc = float(np.mean(net.forward(x).argmax(-1) == y))
    net.compile(HardwareConfig(seed=0))
    ev = net.evaluate(x, y)
    report = net.report(ev)
    print(report.table())

    plt = pyplot()
    fig, (ax_e, ax_f) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [3, 2]})
    layers = list(report.layers)
    lines = [k for k, v in report.breakdown_per_inference_j.items() if v > 0 and k != "leakage"]
    bottom = np.zeros(len(layers) + 1)
    cmap = plt.get_cmap("tab20")
    for i, line in enumerate([*lines, "leakage"]):
        vals = [report.layers[name].energy_j.get(line, 0.0) / report.batch for name in layers]
        vals.append(report.leakage_j / report.batch if line == "leakage" else 0.0)
        ax_e.bar([*layers, "chip"], np.asarray(vals) * 1e9, bottom=bottom, label=line,
                 color=cmap(i % 20))
        bottom += np.asarray(vals) * 1e9
    ax_e.set(ylabel="energy per inference [nJ]",
             title=f"{MODEL}: {report.energy_per_inference_j * 1e9:.2f} nJ / inference, "
                   f"{report.tops_per_w:.1f} TOPS/W, "
                   f"{report.latency_per_inference_s * 1e6:.2f} µs latency")
    ax_e.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    plan = net.floorplan
    colors = {name: f"C{k}" for k, name in enumerate(plan.layers())}
    for t in range(plan.n_tiles):
        ax_f.bar(t, plan.rows, color="0.9", edgecolor="0.5", width=0.8)
    for block, tile, row0 in zip(plan.blocks, plan.tile_of, plan.row0, strict=True):
        ax_f.bar(tile, block.rows, bottom=row0, width=0.8 * block.cols / plan.cols,
                 align="center", color=colors[block.layer], edgecolor="k", lw=0.5,
                 label=block.layer)
    handles, labels = ax_f.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax_f.legend(unique.values(), unique.keys(), fontsize=8, loc="upper right")
    ax_f.set(xlabel="physical tile", ylabel="word line", xticks=range(plan.n_tiles),
             ylim=(plan.rows, 0),
             title=f"{plan.n_tiles} tiles of {plan.rows}×{plan.cols}, utilisation "
                   f"{plan.utilisation:.1%}\naccuracy {float_acc:.1%} float, "
                   f"{ev.accuracy:.1%} on the chip ({n} images)")
    return save_png(fig, args.out / "06_network_on_chip.png")


if __name__ == "__main__":
    print(main())
