"""
02 · Write-verify programming statistics of an array
====================================================

Every cell of an array is programmed to one of the device's conductance levels by
:func:`device_models.program_write_verify`: stochastic SET/RESET pulses, each followed by a
noisy verify read, until the read lands within the tolerance of the target. The device is the
TaOx/HfOx 1T1R cell of Yao et al. (Nature 2020, card ``yao2020_taox_1t1r``).

What to look at:

* **Left**: the achieved conductances, one histogram per target level (dashed lines). Each
  level is a narrow peak whose width is set by the verify tolerance and the read noise, not by
  the broad spread of a single pulse; a few cells land outside when they run out of pulses.
* **Middle**: pulses needed per cell: a long, roughly geometric tail, and a spike at the
  pulse limit (cells that never verified).
* **Right**: the programming error for two tolerances. A loose window stops each cell as soon
  as it enters, so the error piles up on the side the pulses approach from; a tight window
  centres and narrows the levels at the cost of more pulses and energy (legend).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cimsim.plotting import pyplot, save_png
from device_models import cards, program_write_verify

CARD = "yao2020_taox_1t1r"


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="Write-verify programming statistics.")
    ap.add_argument("--quick", action="store_true", help="fewer cells")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    card = cards.load(CARD)
    n_per_level = 300 if args.quick else 4000
    levels = np.linspace(card.g_min_s, card.g_max_s, card.n_levels)
    targets = np.repeat(levels, n_per_level)
    step = levels[1] - levels[0]
    plt = pyplot()
    fig, (ax_h, ax_p, ax_e) = plt.subplots(1, 3, figsize=(14, 4.2))
    results = {}
    for frac in (0.5, 0.15):                 # tolerance as a fraction of the level spacing
        res = program_write_verify(card, targets, tolerance_s=frac * step, seed=1)
        results[frac] = res
        err = (res.g_s - targets) / step
        ax_e.hist(err, bins=120, range=(-1.0, 1.0), histtype="step", density=True,
                  label=f"tol ±{frac:.2f} step: {res.pulses.mean():.1f} pulses, "
                        f"{res.energy_j.mean() * 1e12:.1f} pJ / cell")
    res = results[0.15]
    bins = np.linspace(card.g_min_s - step, card.g_max_s + step, 240)
    for g in levels:
        sel = targets == g
        ax_h.hist(res.g_s[sel] * 1e6, bins=bins * 1e6, histtype="stepfilled", alpha=0.6)
        ax_h.axvline(g * 1e6, color="k", ls="--", lw=0.6)
    ax_h.set(xlabel="conductance [µS]", ylabel="cells",
             title=f"{card.name}: {card.n_levels} levels, tol ±0.15 step")
    ax_p.hist(res.pulses, bins=np.arange(res.pulses.max() + 2) - 0.5, color="C1")
    ax_p.set(xlabel="pulses per cell", ylabel="cells", yscale="log",
             title=f"pulses (mean {res.pulses.mean():.1f}, max {res.pulses.max()})")
    ax_e.set(xlabel="(G − G_target) / level step", ylabel="density", yscale="log",
             title="programming error")
    ax_e.legend(fontsize=7, loc="lower center")
    return save_png(fig, args.out / "02_write_verify.png")


if __name__ == "__main__":
    print(main())
