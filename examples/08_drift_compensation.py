"""
08 · Drift over time, with and without compensation
===================================================

One programmed chip read from one second to ten years after programming
(``Network.evaluate(x, y, t_s=[...])``: the same cells, fresh read noise at every read), for
a phase-change memory (``joshi2020_pcm``: conductance drift G(t) = G₀·(t/t₀)^(−ν) with a
device-to-device spread of ν) and the TaOx 1T1R RRAM of ``yao2020_taox_1t1r`` (conductance
relaxation), each without compensation and with the two compensations of
``HardwareConfig.drift_compensation``:

* ``"global"``: a reference read at programming, then one digital scale per tile and read;
* ``"column"``: every column's ADC gain and offset recalibrated against the reference read.

The compensations' own reference reads are counted in the energy.

What to look at:

* **Left (PCM)**: without compensation the accuracy falls steadily after about a day, as
  every conductance decays by the power law and the outputs shrink against the ADC ranges
  calibrated at programming. Both compensations hold most of it for years; what remains is
  the device-to-device spread of the drift exponent, which no scale removes.
* **Right (RRAM)**: relaxation is a random change around the programmed value with little
  mean shift, so a global scale does nothing; the per-column recalibration recovers a little
  (it also corrects each column's offset). What is lost is noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cimsim import HardwareConfig, load_bundled
from cimsim.nn.models import load_digits_split
from cimsim.plotting import pyplot, save_png

CARDS = {"joshi2020_pcm": "PCM (Joshi 2020)", "yao2020_taox_1t1r": "RRAM 1T1R (Yao 2020)"}
MODES = ("none", "global", "column")


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="Drift over time, with and without compensation.")
    ap.add_argument("--quick", action="store_true", help="4 read times, 1 chip, 120 images")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    times_s = np.logspace(0, 8.5, 4 if args.quick else 10)      # 1 s ... 10 years
    chips = 1 if args.quick else 3
    data = load_digits_split()
    n = 120 if args.quick else len(data["y_test"])
    x, y = data["x_test"][:n], data["y_test"][:n]
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6), sharey=True)
    for ax, (card, label) in zip(axes, CARDS.items(), strict=True):
        for k, mode in enumerate(MODES):
            acc = np.zeros((times_s.size, chips))
            for c in range(chips):
                hw = HardwareConfig(device_card=card, drift_compensation=mode, seed=c)
                net = load_bundled("digits_cnn_relu").compile(hw)
                evs = net.evaluate(x, y, t_s=list(times_s))
                acc[:, c] = [e.accuracy for e in evs]
            mean, std = 100 * acc.mean(1), 100 * acc.std(1)
            ax.semilogx(times_s, mean, "o-", color=f"C{k}", label=f"compensation: {mode}")
            ax.fill_between(times_s, mean - std, mean + std, color=f"C{k}", alpha=0.2, lw=0)
            print(f"{card:<20} {mode:<7} " + " ".join(f"{a:5.1f}" for a in mean))
        for t, name in ((3600.0, "1 h"), (86400.0, "1 d"), (3.15e7, "1 y")):
            ax.axvline(t, color="0.7", ls=":", lw=0.8)
            ax.text(t, 61.0, name, fontsize=8, ha="center")
        ax.set(xlabel="time after programming [s]", ylim=(60.0, 100.0),
               title=f"{label}: digits CNN, {chips} chip(s) × {n} images")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0].set_ylabel("accuracy [%]")
    return save_png(fig, args.out / "08_drift_compensation.png")


if __name__ == "__main__":
    print(main())
