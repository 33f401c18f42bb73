"""Memory-device figures: programmed-level histograms, PCM drift, 1T1R I–V.

Usage::

    python scripts/plot_memory.py [--out DIR] [--seed N]

Writes to DIR (default ``./out``):

* ``memory_levels.png`` — write-verify programmed-conductance histograms per level for the
  RRAM cards (2,048 cells per level, as in one array of Yao et al. 2020), pulse-count
  distributions, and the relaxation of the Wan et al. 2022 card after 1 s and 1 day;
* ``memory_pcm_drift.png`` — PCM conductance vs time (log axes), median and 5–95 % band per
  level, raw and with global drift compensation; read-noise σ vs time;
* ``memory_1t1r_iv.png`` — 1T1R I–V at several gate voltages, at several temperatures, and
  the subthreshold (input-on-gate) transfer curve at several temperatures.

Every number plotted comes from the models in ``device_models``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cimsim.plotting import pyplot, save_png
from device_models import cards, memory
from device_models.one_t_one_r import solve_1t1r, subthreshold_slope_v_per_decade
from device_models.pcm import drift_compensation_scale

plt = pyplot()

RRAM_CARDS = ("yao2020_taox_1t1r", "wan2022_hfox_rram")
PCM_CARD = "joshi2020_pcm"
ONE_T_ONE_R_CARD = "yao2020_taox_1t1r"
CELLS_PER_LEVEL = 2048


def _targets(card, per_level: int) -> tuple[np.ndarray, np.ndarray]:
    levels = np.linspace(card.g_min_s, card.g_max_s, card.n_levels)
    return levels, np.repeat(levels, per_level)


def plot_levels(out: Path, seed: int) -> Path:
    """Histograms of programmed conductance per level, pulse counts, relaxation."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    colors = plt.cm.viridis(np.linspace(0, 0.9, 16))
    for ax, name in zip(axes[0], RRAM_CARDS, strict=True):
        card = cards.load(name)
        levels, g_t = _targets(card, CELLS_PER_LEVEL)
        res = memory.program(card, g_t, seed=seed)
        bins = np.linspace(0, card.g_max_s * 1.15, 240) * 1e6
        for k, lv in enumerate(levels):
            sel = res.g_s[k * CELLS_PER_LEVEL:(k + 1) * CELLS_PER_LEVEL]
            ax.hist(sel * 1e6, bins=bins, color=colors[2 * k % 16], alpha=0.8,
                    label=f"{lv * 1e6:.1f} µS: σ={np.std(sel) * 1e6:.2f} µS")
        tol = card.tolerance_frac * (card.g_max_s - card.g_min_s)
        ax.set_title(f"{name}: write-verify, tol ±{tol * 1e6:.2f} µS\n"
                     f"mean {res.pulses.mean():.1f} pulses/cell, "
                     f"{res.converged.mean() * 100:.1f} % converged", fontsize=9)
        ax.set_xlabel("conductance [µS]")
        ax.set_ylabel("cells")
        ax.legend(fontsize=6, ncol=2)
        axes[1, 0].hist(res.pulses, bins=np.arange(0, 101, 2), histtype="step", lw=1.5,
                        label=f"{name} (median {np.median(res.pulses):.0f})")
    axes[1, 0].set_yscale("log")
    axes[1, 0].set_xlabel("SET + RESET pulses per cell")
    axes[1, 0].set_ylabel("cells")
    axes[1, 0].set_title("Pulse-count distribution (all levels)", fontsize=9)
    axes[1, 0].legend(fontsize=7)

    card = cards.load(RRAM_CARDS[1])
    levels, g_t = _targets(card, CELLS_PER_LEVEL)
    res = memory.program(card, g_t, seed=seed)
    ax = axes[1, 1]
    bins = np.linspace(0, card.g_max_s * 1.2, 240) * 1e6
    for t_s, label, c in ((0.0, "after write-verify", "k"), (1.0, "1 s", "tab:blue"),
                          (86400.0, "1 day", "tab:red"), (86400.0 * 365, "1 year", "tab:orange")):
        g = memory.age(card, res.g_s, t_s=t_s, seed=seed) if t_s > 0 else res.g_s
        ax.hist(g * 1e6, bins=bins, histtype="step", color=c, label=label)
    ax.set_title(f"{card.name}: relaxation (spread ∝ log t), 300 K", fontsize=9)
    ax.set_xlabel("conductance [µS]")
    ax.set_ylabel("cells")
    ax.legend(fontsize=7)
    return save_png(fig, out / "memory_levels.png", dpi=120)


def plot_pcm_drift(out: Path, seed: int) -> Path:
    """PCM conductance vs time, raw and globally compensated; read-noise σ vs time."""
    card = cards.load(PCM_CARD)
    per = 2000
    fracs = np.array([0.1, 0.25, 0.5, 0.75, 1.0])
    g_t = np.repeat(fracs * card.g_max_s, per)
    g0 = memory.program(card, g_t, seed=seed).g_s
    times = np.geomspace(card.t0_s, 1e8, 40)
    aged = np.stack([memory.age(card, g0, t_s=t, seed=seed) for t in times])
    alpha = np.array([drift_compensation_scale(g0, a) for a in aged])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    colors = plt.cm.plasma(np.linspace(0, 0.85, fracs.size))
    for k, f in enumerate(fracs):
        sl = slice(k * per, (k + 1) * per)
        for ax, data in ((axes[0], aged[:, sl]), (axes[1], alpha[:, None] * aged[:, sl])):
            q5, q50, q95 = np.percentile(data, [5, 50, 95], axis=1) * 1e6
            ax.plot(times, q50, color=colors[k], label=f"G_T = {f * card.g_max_s * 1e6:.2g} µS")
            ax.fill_between(times, q5, q95, color=colors[k], alpha=0.25)
        g_med = np.median(aged[:, sl], axis=1)  # read noise of the drifted median cell
        sig_t = np.array([memory.read_sigma_s(card, [gm], t_s=t)[0]
                          for gm, t in zip(g_med, times, strict=True)])
        axes[2].plot(times, sig_t * 1e9, color=colors[k])
    for ax, title in ((axes[0], "drift G(t) = G(t0)(t/t0)^-ν, ν per device"),
                      (axes[1], "with global drift compensation α(t)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("time since programming [s]")
        ax.set_ylabel("conductance [µS] (median, 5–95 %)")
        ax.set_title(f"{card.name}: {title}", fontsize=9)
    axes[0].legend(fontsize=7)
    axes[2].set_xscale("log")
    axes[2].set_xlabel("time since programming [s]")
    axes[2].set_ylabel("read-noise σ of the median cell [nS]")
    axes[2].set_title("1/f read noise: ∝ sqrt(ln t), on the drifting G(t)", fontsize=9)
    return save_png(fig, out / "memory_pcm_drift.png", dpi=120)


def plot_1t1r(out: Path) -> Path:
    """1T1R I–V at several gate voltages and temperatures; subthreshold transfer curve."""
    card = cards.load(ONE_T_ONE_R_CARD)
    g = 10e-6
    v = np.linspace(0.0, 1.2, 241)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    for vg in (0.5, 0.6, 0.7, 0.9, 1.8):
        i = solve_1t1r(card, v, g, v_gate_v=vg).i_a
        axes[0].plot(v, i * 1e6, label=f"V_G = {vg} V")
    axes[0].plot(v, g * card.v0_v * np.sinh(v / card.v0_v) * 1e6, "k--", lw=1,
                 label="RRAM alone (sinh)")
    axes[0].set_title(f"{card.name}: 1T1R I–V, G = {g * 1e6:.0f} µS, 300 K", fontsize=9)
    axes[0].set_xlabel("cell voltage V_BL [V]")
    axes[0].set_ylabel("cell current [µA]")
    axes[0].legend(fontsize=7)
    temps = (250.0, 300.0, 350.0, 400.0)
    colors = plt.cm.coolwarm(np.linspace(0, 1, len(temps)))
    for t, c in zip(temps, colors, strict=True):
        for vg, ls in ((0.6, "-"), (1.8, "--")):
            i = solve_1t1r(card, v, g, v_gate_v=vg, temperature_k=t).i_a
            axes[1].plot(v, i * 1e6, ls, color=c,
                         label=f"{t:.0f} K, V_G = {vg} V")
    axes[1].set_title("temperature: transistor-limited (solid) vs RRAM-limited (dashed)",
                      fontsize=9)
    axes[1].set_xlabel("cell voltage V_BL [V]")
    axes[1].set_ylabel("cell current [µA]")
    axes[1].legend(fontsize=6, ncol=2)
    vg = np.linspace(-0.2, 1.2, 281)
    for t, c in zip(temps, colors, strict=True):
        i = solve_1t1r(card, card.v_read_v, g, v_gate_v=vg, temperature_k=t).i_a
        s = subthreshold_slope_v_per_decade(card, t)
        axes[2].semilogy(vg, i, color=c, label=f"{t:.0f} K: n·U_T·ln10 = {s * 1e3:.0f} mV/dec")
    axes[2].set_title(f"subthreshold mode: input on the gate, V_BL = {card.v_read_v} V",
                      fontsize=9)
    axes[2].set_xlabel("gate voltage V_G [V]")
    axes[2].set_ylabel("cell current [A]")
    axes[2].legend(fontsize=7)
    return save_png(fig, out / "memory_1t1r_iv.png", dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="Output directory (default ./out).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of every random stream.")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path in (plot_levels(out, args.seed), plot_pcm_drift(out, args.seed), plot_1t1r(out)):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
