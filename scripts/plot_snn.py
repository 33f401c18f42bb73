"""Spiking networks against their ANNs on the same chip, over the number of time steps.

For each bundled spiking model (``digits_snn_lif``, ``mnist_snn_lif``) and each number of
time steps, runs the held-out images on the default chip with digital and with analog
membranes (:func:`cimsim.ppa.spiking.compare_with_ann`, the ANN named in the model's
metadata beside it) and writes

* ``snn_vs_ann.png``: accuracy (float and chip), spikes, energy and latency per inference
  against time steps, with the ANN on the same chip as a horizontal line (the spiking energy
  and latency are event-driven: a tile reads only in the steps that carry a spike);
* ``snn_vs_ann.md``: the same numbers as a table (accuracy, spikes per inference, energy,
  latency, EDP), and the ANN's.

Usage::

    python scripts/plot_snn.py [--out DIR] [--steps 2 4 8 16 32] [--models NAME ...]
                               [--n N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cimsim.hardware import HardwareConfig
from cimsim.nn.models import load_bundled, load_digits_split, load_mnist
from cimsim.nn.snn_convert import set_timesteps
from cimsim.plotting import pyplot, save_png
from cimsim.ppa.spiking import compare_with_ann


def _run(model: str, steps: list[int], n: int | None) -> dict:
    snn = load_bundled(model)
    data = load_digits_split() if snn.input_shape == (1, 8, 8) else load_mnist()
    x, y = data["x_test"][:n], data["y_test"][:n]
    ann = load_bundled(snn.metadata["ann_model"])
    rows = []
    for membrane in ("digital", "analog"):
        hw = HardwareConfig().replace_path("neuron.membrane", membrane)
        for t in steps:
            set_timesteps(snn, t)
            res = compare_with_ann(snn, hw, x, y, ann=ann)
            rows.append({"membrane": membrane, "timesteps": t, **res.snn})
            print(f"{model} {membrane} T={t}: chip {res.snn['chip_accuracy']:.4f}, "
                  f"{res.snn['energy_per_inference_j']:.3g} J", file=sys.stderr)
    return {"model": model, "ann_model": ann.name, "rows": rows, "ann": res.ann,
            "trained_steps": load_bundled(model).timesteps, "n": len(y)}


def _table(r: dict) -> str:
    lines = [f"### {r['model']} ({r['n']} held-out images; trained at {r['trained_steps']} "
             f"steps) vs {r['ann_model']} on the same chip", "",
             "| membrane | steps | float acc. | chip acc. | spikes / inf. (input + neurons) | "
             "neuron activity | energy / inf. | energy / ANN's | latency / inf. | EDP [J·s] |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    a = r["ann"]
    for row in r["rows"]:
        lines.append(
            f"| {row['membrane']} | {row['timesteps']} | {row['float_accuracy']:.4f} | "
            f"{row['chip_accuracy']:.4f} | {row['spikes_per_inference']:.0f} "
            f"({row['input_spikes_per_inference']:.0f} + "
            f"{row['neuron_spikes_per_inference']:.0f}) | "
            f"{row['neuron_activity']:.1%} | {row['energy_per_inference_j'] * 1e12:.0f} pJ | "
            f"{row['energy_per_inference_j'] / a['energy_per_inference_j']:.2f}x | "
            f"{row['latency_per_inference_s'] * 1e9:.0f} ns | {row['edp_js']:.3g} |")
    lines.append(f"| ANN | - | {a['float_accuracy']:.4f} | {a['chip_accuracy']:.4f} | - | - | "
                 f"{a['energy_per_inference_j'] * 1e12:.0f} pJ | 1 | "
                 f"{a['latency_per_inference_s'] * 1e9:.0f} ns | {a['edp_js']:.3g} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="Output directory (default ./out).")
    parser.add_argument("--steps", type=int, nargs="*", default=[2, 4, 8, 16, 32])
    parser.add_argument("--models", nargs="*", default=["digits_snn_lif", "mnist_snn_lif"])
    parser.add_argument("--n", type=int, default=None, help="First N held-out images only.")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = [_run(m, args.steps, args.n) for m in args.models]
    plt = pyplot()
    fig, axes = plt.subplots(4, len(results), figsize=(5.2 * len(results), 13.2),
                             squeeze=False)
    for j, r in enumerate(results):
        ax_a, ax_s, ax_e, ax_t = axes[0, j], axes[1, j], axes[2, j], axes[3, j]
        for membrane, style in (("digital", "o-"), ("analog", "s-")):
            rows = [row for row in r["rows"] if row["membrane"] == membrane]
            t = [row["timesteps"] for row in rows]
            ax_a.plot(t, [row["chip_accuracy"] for row in rows], style,
                      label=f"SNN on chip, {membrane} membranes")
            ax_s.plot(t, [row["neuron_spikes_per_inference"] for row in rows], style,
                      label=f"neuron spikes, {membrane} membranes")
            ax_e.plot(t, [row["energy_per_inference_j"] for row in rows], style,
                      label=f"SNN, {membrane} membranes")
            ax_t.plot(t, [row["latency_per_inference_s"] for row in rows], style,
                      label=f"SNN, {membrane} membranes")
        rows = [row for row in r["rows"] if row["membrane"] == "digital"]
        ax_s.plot([row["timesteps"] for row in rows],
                  [row["input_spikes_per_inference"] for row in rows], "k:",
                  label="input spikes (encoder)")
        ax_a.plot([row["timesteps"] for row in rows], [row["float_accuracy"] for row in rows],
                  "k:", label="SNN float")
        ax_a.axhline(r["ann"]["chip_accuracy"], color="tab:red", ls="--",
                     label=f"ANN on chip ({r['ann_model']})")
        ax_e.axhline(r["ann"]["energy_per_inference_j"], color="tab:red", ls="--",
                     label=f"ANN ({r['ann_model']})")
        ax_t.axhline(r["ann"]["latency_per_inference_s"], color="tab:red", ls="--",
                     label=f"ANN ({r['ann_model']})")
        ax_a.set_title(f"{r['model']}: accuracy ({r['n']} held-out)", fontsize=10)
        ax_s.set_title(f"{r['model']}: spikes per inference", fontsize=10)
        ax_e.set_title(f"{r['model']}: energy per inference", fontsize=10)
        ax_t.set_title(f"{r['model']}: latency per inference", fontsize=10)
        for ax in (ax_a, ax_s, ax_e, ax_t):
            ax.set_xscale("log", base=2)
            ax.set_xlabel("time steps")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
        ax_a.set_ylabel("accuracy")
        ax_s.set_ylabel("spikes per inference")
        ax_s.set_yscale("log")
        ax_e.set_ylabel("energy per inference [J]")
        ax_e.set_yscale("log")
        ax_t.set_ylabel("latency per inference [s]")
        ax_t.set_yscale("log")
    print(save_png(fig, out / "snn_vs_ann.png", dpi=120))
    table = "\n\n".join(_table(r) for r in results) + "\n"
    (out / "snn_vs_ann.md").write_text(table, encoding="utf-8")
    print(out / "snn_vs_ann.md")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
