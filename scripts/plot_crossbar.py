"""Crossbar IR-drop figures: voltage across every cell, and column-current error.

Usage::

    python scripts/plot_crossbar.py [--out DIR] [--seed N] [--size N]

Writes to DIR (default ``./out``):

* ``crossbar_cell_voltage.png`` — voltage across each cell of a ``size × size`` array with
  every row driven at the full-scale read voltage, for ohmic cells and for sinh cells
  (``SinhIV(v0_v=0.25)``), with wire resistance per pitch ``r`` on both wires;
* ``crossbar_column_error.png`` — per-column relative error of the column current against the
  ideal product ``V @ G`` for several wire resistances (ohmic cells, exact ``G_eff``), and
  for sinh cells (exact solve and the fast approximation) at the largest resistance.

Conductances are random weights mapped linearly onto [g_min_s, g_max_s] of the default device
card (``HardwareConfig().device_card``); the read voltage is ``TileConfig().v_read_v``. Every
number plotted comes from :mod:`cimsim.array.crossbar`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cimsim.array.crossbar import Crossbar, solve_crossbar
from cimsim.hardware import HardwareConfig
from cimsim.plotting import pyplot, save_png
from device_models import SinhIV, cards

plt = pyplot()

R_WIRES_OHM = (0.5, 1.0, 2.5)  # wire resistance per cell pitch, swept [ohm]
V0_V = 0.25  # sinh nonlinearity voltage scale of the nonlinear panels [V]


def _array(size: int, seed: int) -> tuple[np.ndarray, float]:
    hw = HardwareConfig()
    card = cards.load(hw.device_card)
    w = np.random.default_rng(seed).uniform(0.0, 1.0, (size, size))
    g = card.g_min_s + w * (card.g_max_s - card.g_min_s)
    return g, hw.tile.v_read_v


def plot_cell_voltage(out: Path, size: int, seed: int) -> Path:
    g, v_read = _array(size, seed)
    v = np.full((1, size), v_read)
    r = R_WIRES_OHM[-1]
    lin = solve_crossbar(g, v, r).cell_voltages_v[0]
    nl = solve_crossbar(g, v, r, cell=SinhIV(v0_v=V0_V)).cell_voltages_v[0]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    vmin, vmax = min(lin.min(), nl.min()), v_read
    for ax, data, title in ((axes[0], lin, "ohmic cells"),
                            (axes[1], nl, f"sinh cells, v0 = {V0_V} V")):
        im = ax.imshow(data, cmap="viridis", vmin=vmin, vmax=vmax, origin="upper",
                       aspect="auto")
        ax.set_title(f"Voltage across each cell, {title}\n{size}×{size}, r = {r} Ω/pitch, "
                     f"all rows at {v_read} V", fontsize=10)
        ax.set_xlabel("column j (driver at left, j = 0)")
        ax.set_ylabel("row i (virtual ground below last row)")
        fig.colorbar(im, ax=ax, label="V_cell [V]")
    ax = axes[2]
    for i, ls in ((0, "-"), (size // 2, "--"), (size - 1, ":")):
        ax.plot(lin[i], ls, color="C0", label=f"ohmic, row {i}")
        ax.plot(nl[i], ls, color="C3", label=f"sinh, row {i}")
    ax.set_xlabel("column j")
    ax.set_ylabel("V_cell [V]")
    ax.set_title("Cell voltage along rows", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return save_png(fig, out / "crossbar_cell_voltage.png", dpi=120)


def plot_column_error(out: Path, size: int, seed: int) -> Path:
    g, v_read = _array(size, seed)
    rng = np.random.default_rng(seed + 1)
    v = rng.uniform(0.0, v_read, (16, size))
    ideal = v @ g
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.6))
    ax = axes[0]
    for k, r in enumerate(R_WIRES_OHM):
        i = Crossbar(g, r).column_currents(v)
        err = (i - ideal) / ideal
        ax.plot(err.mean(axis=0) * 100, color=f"C{k}", label=f"ohmic, r = {r} Ω")
        ax.fill_between(np.arange(size), err.min(axis=0) * 100, err.max(axis=0) * 100,
                        color=f"C{k}", alpha=0.2)
    ax.set_xlabel("column j")
    ax.set_ylabel("(I_j − (V·G)_j) / (V·G)_j [%]")
    ax.set_title(f"Column-current error vs ideal product, {size}×{size}, 16 random inputs\n"
                 "line: mean, band: min–max over inputs", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax = axes[1]
    r = R_WIRES_OHM[-1]
    xb = Crossbar(g, r, cell=SinhIV(v0_v=V0_V))
    vs = v[:4]
    exact = xb.column_currents(vs)
    fast = xb.column_currents(vs, method="fast")
    ideal_nl = SinhIV(v0_v=V0_V).current(vs[:, :, None], g[None]).sum(axis=1)
    lin = Crossbar(g, r).column_currents(vs)
    ax.plot(((exact - ideal[:4]) / ideal[:4]).mean(0) * 100, "C3",
            label="sinh cells (exact solve) vs V·G")
    ax.plot(((exact - ideal_nl) / ideal_nl).mean(0) * 100, "C4",
            label="sinh cells vs sinh cells with ideal wires")
    ax.plot(((lin - ideal[:4]) / ideal[:4]).mean(0) * 100, "C2", label="ohmic cells vs V·G")
    ax2 = ax.twinx()
    ax2.semilogy(np.max(np.abs(fast - exact) / exact, axis=0), "k.", ms=3,
                 label="fast approx. rel. error (right)")
    ax2.set_ylabel("|I_fast − I_exact| / I_exact (max over inputs)")
    ax.set_xlabel("column j")
    ax.set_ylabel("mean relative error [%]")
    ax.set_title(f"Nonlinear cells, r = {r} Ω, 4 inputs", fontsize=10)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    return save_png(fig, out / "crossbar_column_error.png", dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out"), help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random array")
    parser.add_argument("--size", type=int, default=128, help="array rows = cols")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in (plot_cell_voltage(args.out, args.size, args.seed),
                 plot_column_error(args.out, args.size, args.seed)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
