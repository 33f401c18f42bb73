"""
04 · IR-drop map of a crossbar, linear and nonlinear cells
==========================================================

The exact node voltages of a crossbar with wire resistance (modified nodal analysis,
:func:`cimsim.array.crossbar.solve_crossbar`): every row driven at the full read voltage from its
left end, every column held at virtual ground below its last row, one wire segment of
``r`` per cell pitch on both wires. The cells are the TaOx/HfOx 1T1R cells of
``yao2020_taox_1t1r`` at random programmed conductances in their window, read at the tile's
0.2 V, first as ohmic conductors, then with the card's sinh I–V law
(:class:`device_models.SinhIV`, I = g·v0·sinh(V/v0)) solved by Newton's method.

What to look at:

* **Left, middle**: the voltage across each cell. It is largest at the bottom-left corner,
  next to the row drivers and to the columns' ground ends, and falls towards the far
  top-right: the drop accumulates along each row (away from its driver) and along each column
  (towards its far end, through the currents of all rows below). With sinh cells the cells
  draw more current than ohmic ones of the same small-signal conductance, so the drop is
  slightly deeper.
* **Right**: the error of each column current against the ideal product V·G, for ohmic and
  sinh cells and three wire resistances, with every row driven. Far columns lose the most,
  and the loss grows with ``r`` (less than linearly: a lower current drops less).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cimsim import HardwareConfig
from cimsim.array.crossbar import solve_crossbar
from cimsim.plotting import pyplot, save_png
from device_models import SinhIV, cards

#: Wire resistance per cell pitch [ohm]: a range around 1 ohm (assumed: thin local copper at a
#: sub-micrometre cell pitch), and the map at the largest.
R_WIRES_OHM = (0.5, 1.0, 2.5)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="IR-drop map of a crossbar.")
    ap.add_argument("--quick", action="store_true", help="a 64x64 array instead of 256x256")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    size = 64 if args.quick else 256
    hw = HardwareConfig()
    card = cards.load("yao2020_taox_1t1r")
    v_read = hw.tile.v_read_v
    g = np.random.default_rng(0).uniform(card.g_min_s, card.g_max_s, (size, size))
    v = np.full((1, size), v_read)
    sinh = SinhIV(v0_v=card.v0_v)
    r_map = R_WIRES_OHM[-1]
    lin = solve_crossbar(g, v, r_map)
    nl = solve_crossbar(g, v, r_map, cell=sinh)
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    v_lin, v_nl = lin.cell_voltages_v[0], nl.cell_voltages_v[0]
    lo = min(v_lin.min(), v_nl.min())
    for ax, data, title in ((axes[0], v_lin, "ohmic cells"),
                            (axes[1], v_nl, f"sinh cells, v0 = {card.v0_v} V")):
        im = ax.imshow(data, cmap="viridis", vmin=lo, vmax=v_read, aspect="auto")
        ax.set(xlabel="column (driver at the left)", ylabel="row (ground below the last row)",
               title=f"V across each cell, {title}\n{size}×{size}, r = {r_map} Ω/pitch, "
                     f"rows at {v_read} V")
        fig.colorbar(im, ax=ax, label="V_cell [V]")
    ax = axes[2]
    ideal_lin = v @ g
    ideal_nl = sinh.current(v[:, :, None], g[None]).sum(axis=1)
    for k, r in enumerate(R_WIRES_OHM):
        i_lin = solve_crossbar(g, v, r).column_currents_a if r != r_map else lin.column_currents_a
        i_nl = (solve_crossbar(g, v, r, cell=sinh).column_currents_a if r != r_map
                else nl.column_currents_a)
        ax.plot(100 * (i_lin[0] / ideal_lin[0] - 1), color=f"C{k}", label=f"ohmic, r = {r} Ω")
        ax.plot(100 * (i_nl[0] / ideal_nl[0] - 1), color=f"C{k}", ls="--",
                label=f"sinh, r = {r} Ω")
    ax.set(xlabel="column", ylabel="column current error vs ideal wires [%]",
           title="Column currents lost to the wires")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return save_png(fig, args.out / "04_ir_drop_map.png")


if __name__ == "__main__":
    print(main())
