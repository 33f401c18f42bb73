"""
09 · Reproducing a published chip from the Python API
=====================================================

Hung et al. (Nature Electronics 2021, doi:10.1038/s41928-021-00676-9) report a 22 nm RRAM
compute-in-memory macro at 194.4 TOPS/W and 5.2 ns for binary dot products and 15.6 TOPS/W
and 15.2 ns for 8-bit inputs and weights (card ``hung2021_rram_cim_macro``). This script
builds both operating points as :class:`~cimsim.hardware.HardwareConfig` values from the
macro's circuit description (``validation.hung2021_rram_macro.macro_hw``: binary ReRAM cells,
8-bit weights by weighted current stacking, bit-serial word-line pulses, a current-mode
sense-amplifier read-out per output at 22 nm), prices one tile MVM of each with
:func:`cimsim.ppa.report.standard_tile_report`, and prints the reproduction's registered
rows as ``cimsim validate`` reports them (``validation.load("hung2021_rram_macro").run()``).

What to look at:

* **Left**: TOPS/W of each mode, published against simulated (log scale).
* **Right**: where the energy of one MVM goes in each mode: the buffers dominate the binary
  mode, whose one-bit sense decisions take tens of picoseconds at the read-out's assumed
  full-scale current; the published macro spends far more per binary MVM in circuits the
  model does not hold (its rows are declared known failures with these numbers). In the
  8-bit mode the bit-line clamps' drop from the read-out's supply (``read_supply``, three
  times the cells' own ``array_read`` at 0.8 V over 0.2 V) is the largest line, then the
  buffers, the cells and the read-outs; that mode's TOPS/W is within its tolerance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import validation
from cimsim.plotting import pyplot, save_png
from cimsim.ppa.report import standard_tile_report
from validation.hung2021_rram_macro import MODES, macro_hw

PUBLISHED_TOPS_W = {"binary": 194.4, "8-bit": 15.6}   # abstract


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="Reproducing a published chip.")
    ap.add_argument("--quick", action="store_true", help="smaller batch of MVMs")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    batch = 4 if args.quick else 16
    reports = {mode: standard_tile_report(macro_hw(mode), batch=batch) for mode in MODES}

    plt = pyplot()
    fig, (ax_t, ax_e) = plt.subplots(1, 2, figsize=(11, 4.4))
    x = np.arange(len(MODES))
    ax_t.bar(x - 0.2, [PUBLISHED_TOPS_W[m] for m in MODES], 0.4, label="published")
    ax_t.bar(x + 0.2, [reports[m].tops_per_w for m in MODES], 0.4, label="cimsim")
    ax_t.set_xticks(x, list(MODES))
    ax_t.set(yscale="log", ylabel="TOPS/W", title="Hung 2021 macro: energy efficiency")
    ax_t.legend(fontsize=8)
    lines = [k for k in reports["binary"].breakdown_per_inference_j
             if max(r.breakdown_per_inference_j[k] for r in reports.values()) > 0]
    bottom = np.zeros(len(MODES))
    for i, line in enumerate(lines):
        vals = np.array([reports[m].breakdown_per_inference_j[line] for m in MODES]) * 1e12
        ax_e.bar(list(MODES), vals, bottom=bottom, label=line, color=plt.get_cmap("tab20")(i))
        bottom += vals
    ax_e.set(ylabel="energy per tile MVM [pJ]",
             title=f"cimsim: {reports['binary'].tops_per_w:.0f} and "
                   f"{reports['8-bit'].tops_per_w:.1f} TOPS/W")
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
