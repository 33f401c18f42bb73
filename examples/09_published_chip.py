"""
09 · Reproducing a published chip from the Python API
=====================================================

Hung et al. (Nature Electronics 2021, doi:10.1038/s41928-021-00676-9) report a 22 nm RRAM
compute-in-memory macro at 194.4 TOPS/W and 5.2 ns for binary dot products and 15.2 TOPS/W
and 15.2 ns for 8-bit inputs and weights (card ``hung2021_rram_cim_macro``). This script
builds both operating points as :class:`~cimsim.hardware.HardwareConfig` values (a 256×256
tile with 22 nm digital energies, ``dennard_scaled_22nm``), prices one tile MVM of each with
:func:`cimsim.ppa.report.standard_tile_report`, and, since the macro's 8-bit circuits are not
published in detail, tries three cimsim architectures for the 8-bit mode and keeps the one
whose latency ratio matches the paper's (15.2/5.2). The efficiency ratio is then compared,
not fitted. The end prints the reproduction's registered rows as ``cimsim validate`` reports
them (``validation.load("hung2021_rram_macro").run()``).

What to look at:

* **Left**: the binary/8-bit latency ratio of each candidate against the published ratio:
  this is what picks the architecture (orange).
* **Middle**: the binary/8-bit TOPS/W ratio of each candidate against the published 12.5
  (band: the registered tolerance): the chosen architecture's ratio is the comparison.
* **Right**: where the energy of one MVM goes in each mode. The absolute numbers are those of
  cimsim's generic tile (a SAR converter card from another chip), which is why the absolute
  TOPS/W are declared known failures while the ratio holds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import validation
from cimsim import HardwareConfig, TileConfig
from cimsim.plotting import pyplot, save_png
from cimsim.ppa.report import standard_tile_report
from device_models import cards

BINARY = dict(weight_bits=1, bits_per_cell=1, input_bits=1, input_encoding="bit_serial",
              adc_bits=1)
CANDIDATES = {
    "amplitude,\nmerged weights": dict(weight_bits=8, bits_per_cell=8, input_bits=8,
                                       input_encoding="amplitude", adc_bits=8),
    "bit-serial,\nmerged weights": dict(weight_bits=8, bits_per_cell=8, input_bits=8,
                                        input_encoding="bit_serial", adc_bits=8),
    "bit-serial,\nbit-sliced": dict(weight_bits=8, bits_per_cell=1, input_bits=8,
                                    input_encoding="bit_serial", adc_bits=8),
}
PUBLISHED_TOPS_W = {"binary": 194.4, "8-bit": 15.6}   # abstract


def chip(tile: dict) -> HardwareConfig:
    """The macro's operating point on cimsim's tile: operation counts only (no noise)."""
    return HardwareConfig(tech_card="dennard_scaled_22nm",
                          tile=TileConfig(rows=256, cols=256, **tile),
                          programming_noise=False, read_noise=False, faults=False,
                          drift=False, converter_noise=False)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="Reproducing a published chip.")
    ap.add_argument("--quick", action="store_true", help="smaller batch of MVMs")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    batch = 4 if args.quick else 16
    macro = cards.load("hung2021_rram_cim_macro")
    lat_pub = macro.latency_s[1] / macro.latency_s[0]
    eff_pub = PUBLISHED_TOPS_W["binary"] / PUBLISHED_TOPS_W["8-bit"]
    binary = standard_tile_report(chip(BINARY), batch=batch)
    reports = {name: standard_tile_report(chip(tile), batch=batch)
               for name, tile in CANDIDATES.items()}
    lat = {n: r.latency_per_inference_s / binary.latency_per_inference_s
           for n, r in reports.items()}
    eff = {n: binary.tops_per_w / r.tops_per_w for n, r in reports.items()}
    chosen = min(CANDIDATES, key=lambda n: abs(lat[n] / lat_pub - 1.0))

    plt = pyplot()
    fig, (ax_l, ax_r, ax_e) = plt.subplots(1, 3, figsize=(16, 4.6))
    names = list(CANDIDATES)
    colors = ["C1" if n == chosen else "0.6" for n in names]
    for ax, values, pub, what in ((ax_l, lat, lat_pub, "latency 8-bit / binary"),
                                  (ax_r, eff, eff_pub, "TOPS/W binary / 8-bit")):
        ax.bar(range(len(names)), [values[n] for n in names], color=colors)
        ax.axhline(pub, color="C0", label=f"published {pub:.2f}")
        ax.axhspan(0.8 * pub, 1.2 * pub, color="C0", alpha=0.15, label="±20 % tolerance")
        ax.set_xticks(range(len(names)), names, fontsize=8)
        ax.set(yscale="log", ylim=(1.0, None), ylabel=what, title=f"Hung 2021 macro: {what}")
        ax.legend(fontsize=8)
    modes = {"binary": binary, "8-bit\n(" + chosen.replace("\n", " ") + ")": reports[chosen]}
    lines = [k for k in binary.breakdown_per_inference_j
             if max(r.breakdown_per_inference_j[k] for r in modes.values()) > 0]
    bottom = np.zeros(len(modes))
    for i, line in enumerate(lines):
        vals = np.array([r.breakdown_per_inference_j[line] for r in modes.values()]) * 1e12
        ax_e.bar(list(modes), vals, bottom=bottom, label=line, color=plt.get_cmap("tab20")(i))
        bottom += vals
    ax_e.set(ylabel="energy per 256×256 MVM [pJ]",
             title=f"cimsim: {binary.tops_per_w:.0f} and {reports[chosen].tops_per_w:.0f} "
                   f"TOPS/W (published {PUBLISHED_TOPS_W['binary']:.0f} and "
                   f"{PUBLISHED_TOPS_W['8-bit']:.1f})")
    ax_e.legend(fontsize=7, loc="upper left")
    png = save_png(fig, args.out / "09_published_chip.png")

    rep = validation.load("hung2021_rram_macro").run()
    print(f"{rep.name}: {rep.summary}")
    for c in rep.comparisons:
        print(f"  {c.quantity:<45} published {c.published:9.4g}  simulated {c.simulated:9.4g}"
              f"  {c.kind:<11} {c.status}")
    return png


if __name__ == "__main__":
    print(main())
