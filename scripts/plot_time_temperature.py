"""Temperature and time on the demo network: an RRAM and a PCM chip from 250 K to 400 K, and
each memory card's chip read from one second to ten years after programming.

Usage::

    python scripts/plot_time_temperature.py [--out DIR] [--chips N] [--n N]

Writes to DIR (default ``./out``):

* ``temperature_accuracy_energy.png`` — accuracy, energy per inference and latency of the
  bundled digits CNN against ``temperature_k`` (250–400 K; programmed at 300 K, read one hour
  later), for the Yao 2020 1T1R RRAM card (1T1R cell law, the access transistor at
  ``temperature_k``) and the Joshi 2020 PCM card: mean ± std over the chips;
* ``time_drift_compensation.png`` — accuracy against time after programming (1 s to 10 years,
  one programmed chip read at every time, ``Network.evaluate(t_s=[...])``, on the default chip
  with each memory card, at 300 K) without drift
  compensation, with global compensation and with per-column ADC recalibration, for the two
  RRAM cards (Yao 2020 1T1R, Wan 2022) and the PCM card (Joshi 2020), and the energy per
  inference of the compensated PCM chip (its reference reads counted) against time.

Also prints the numbers plotted. Every number comes from a simulated run (``Network.evaluate``
and ``Network.report``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from cimsim.hardware import HardwareConfig
from cimsim.nn.models import load_bundled, load_digits_split
from cimsim.plotting import pyplot, save_png

plt = pyplot()

MODEL = "digits_cnn_relu"
TEMPERATURES_K = (250.0, 275.0, 300.0, 325.0, 350.0, 375.0, 400.0)
TEMPERATURE_CARDS = ("yao2020_taox_1t1r", "joshi2020_pcm")
TIME_CARDS = ("yao2020_taox_1t1r", "wan2022_hfox_rram", "joshi2020_pcm")
TIMES_S = (1.0, 60.0, 3600.0, 86400.0, 2.592e6, 3.1536e7, 3.1536e8)
MODES = ("none", "global", "column")
YEAR_S = 3.1536e7


def temperature_runs(chips: int, n: int) -> dict:
    """{card: {"acc": (T, chips), "energy": (T, chips), "latency": (T, chips)}}."""
    data = load_digits_split()
    x, y = data["x_test"][:n], data["y_test"][:n]
    out = {}
    for card in TEMPERATURE_CARDS:
        res = {k: np.zeros((len(TEMPERATURES_K), chips)) for k in ("acc", "energy", "latency")}
        for i, t_k in enumerate(TEMPERATURES_K):
            for c in range(chips):
                hw = HardwareConfig(device_card=card, temperature_k=t_k, t_s=3600.0, seed=c)
                net = load_bundled(MODEL).compile(hw.replace_path("tile.cell", "auto"))
                ev = net.evaluate(x, y)
                rep = net.report(ev)
                res["acc"][i, c] = ev.analog_accuracy
                res["energy"][i, c] = rep.energy_per_inference_j
                res["latency"][i, c] = rep.latency_per_inference_s
        out[card] = res
    return out


def time_runs(chips: int, n: int) -> dict:
    """{(card, mode): {"acc": (times, chips), "energy": (times, chips)}}."""
    data = load_digits_split()
    x, y = data["x_test"][:n], data["y_test"][:n]
    out = {}
    for card in TIME_CARDS:
        for mode in MODES:
            acc = np.zeros((len(TIMES_S), chips))
            energy = np.zeros((len(TIMES_S), chips))
            for c in range(chips):
                net = load_bundled(MODEL).compile(
                    HardwareConfig(device_card=card, drift_compensation=mode, seed=c))
                evs = net.evaluate(x, y, t_s=list(TIMES_S))
                acc[:, c] = [e.analog_accuracy for e in evs]
                energy[:, c] = [net.report(e).energy_per_inference_j for e in evs]
            out[card, mode] = {"acc": acc, "energy": energy}
    return out


def _band(ax, xs, values, label, marker="o", scale=1.0):
    m, s = values.mean(axis=1) * scale, values.std(axis=1) * scale
    line, = ax.plot(xs, m, marker=marker, label=label)
    ax.fill_between(xs, m - s, m + s, color=line.get_color(), alpha=0.2, lw=0)


def plot_temperature(out: Path, res: dict, chips: int, n: int) -> Path:
    fig, axes = plt.subplots(3, 1, figsize=(6.4, 8.6), sharex=True)
    labels = {"yao2020_taox_1t1r": "RRAM (Yao 2020 TaOx 1T1R)",
              "joshi2020_pcm": "PCM (Joshi 2020)"}
    for card, r in res.items():
        _band(axes[0], TEMPERATURES_K, r["acc"], labels[card], scale=100.0)
        _band(axes[1], TEMPERATURES_K, r["energy"], labels[card], scale=1e9)
        _band(axes[2], TEMPERATURES_K, r["latency"], labels[card], scale=1e6)
    axes[0].set_ylabel("accuracy [%]")
    axes[1].set_ylabel("energy / inference [nJ]")
    axes[2].set_ylabel("latency / inference [µs]")
    axes[2].set_xlabel("temperature [K] (programmed at 300 K, read 1 h later)")
    axes[0].set_title(f"digits CNN on tiles vs temperature ({chips} chips × {n} images, "
                      "mean ± std)", fontsize=9)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_png(fig, out / "temperature_accuracy_energy.png", dpi=120)


def plot_time(out: Path, res: dict, chips: int, n: int) -> Path:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.6), sharex=True)
    titles = {"yao2020_taox_1t1r": "RRAM: Yao 2020 TaOx 1T1R",
              "wan2022_hfox_rram": "RRAM: Wan 2022 HfOx",
              "joshi2020_pcm": "PCM: Joshi 2020"}
    names = {"none": "no compensation", "global": "global (scale per tile and read)",
             "column": "per-column ADC recalibration"}
    for ax, card in zip(axes.ravel(), TIME_CARDS, strict=False):
        for mode, marker in zip(MODES, "osd", strict=True):
            _band(ax, TIMES_S, res[card, mode]["acc"], names[mode], marker=marker, scale=100.0)
        ax.set_title(titles[card], fontsize=9)
        ax.set_ylabel("accuracy [%]")
    ax = axes[1, 1]
    for mode, marker in zip(MODES, "osd", strict=True):
        _band(ax, TIMES_S, res["joshi2020_pcm", mode]["energy"], names[mode], marker=marker,
              scale=1e9)
    ax.set_title("PCM: energy per inference (reference reads counted)", fontsize=9)
    ax.set_ylabel("energy / inference [nJ]")
    for ax in axes.ravel():
        ax.set_xscale("log")
        ax.grid(True, alpha=0.3)
        for t, lab in ((3600.0, "1 h"), (86400.0, "1 d"), (YEAR_S, "1 y")):
            ax.axvline(t, color="0.8", lw=0.8, zorder=0)
            ax.text(t, 0.02, f" {lab}", transform=ax.get_xaxis_transform(), fontsize=7,
                    ha="right", va="bottom", rotation=90, color="0.4")
    for ax in axes[1]:
        ax.set_xlabel("time since programming [s]")
    axes[0, 0].legend(fontsize=8, loc="lower left")
    fig.suptitle(f"digits CNN, one programmed chip read over time ({chips} chips × {n} images, "
                 "mean ± std)", fontsize=10)
    return save_png(fig, out / "time_drift_compensation.png", dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="Output directory (default ./out).")
    parser.add_argument("--chips", type=int, default=3, help="Chips (seeds) per point.")
    parser.add_argument("--n", type=int, default=359, help="Held-out digits per read.")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    temp = temperature_runs(args.chips, args.n)
    print("temperature [K]:", " ".join(f"{t:7.0f}" for t in TEMPERATURES_K))
    for card, r in temp.items():
        print(f"{card:>20} accuracy %:", " ".join(f"{v:7.2f}" for v in 100 * r["acc"].mean(1)))
        print(f"{card:>20} energy nJ: ", " ".join(f"{v:7.3f}" for v in 1e9 * r["energy"].mean(1)))
        print(f"{card:>20} latency µs:", " ".join(f"{v:7.3f}" for v in 1e6 * r["latency"].mean(1)))
    print(plot_temperature(out, temp, args.chips, args.n))
    tim = time_runs(args.chips, args.n)
    print("time [s]:", " ".join(f"{t:9.3g}" for t in TIMES_S))
    for (card, mode), r in tim.items():
        print(f"{card:>20} {mode:>7} accuracy %:",
              " ".join(f"{v:9.2f}" for v in 100 * r["acc"].mean(1)))
    print(plot_time(out, tim, args.chips, args.n))
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
