"""
01 · MOSFET I–V across inversion regions and temperature
========================================================

The EKV transistor model of :func:`device_models.mosfet_current` on the MOSIS TSMC 0.18 µm
NMOS card, from weak to strong inversion, at four temperatures.

What to look at:

* **Left** (log scale): below threshold the current is exponential in V_GS, a straight line
  whose slope is the subthreshold swing (printed in the legend, mV/decade); it grows with
  temperature (n·U_T·ln 10) and the off current rises by orders of magnitude.
* The curves cross near one gate voltage: the zero-temperature-coefficient point, where the
  falling mobility (strong inversion) balances the falling threshold voltage.
* **Right**: the transconductance efficiency g_m/I_D against I_D. It is flat at its maximum
  1/(n·U_T) in weak inversion and falls as 1/√I_D in strong inversion; the shaded bands mark
  the inversion regions at 300 K by the inversion coefficient (IC < 0.1, 0.1–10, > 10).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cimsim.plotting import pyplot, save_png
from device_models import cards, ekv_params, gm_over_id, mosfet_current, subthreshold_swing

CARD = "mosis2001_tsmc180_nmos"
TEMPERATURES_K = (250.0, 300.0, 350.0, 400.0)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="MOSFET I-V across inversion and temperature.")
    ap.add_argument("--quick", action="store_true", help="fewer bias points")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    card = cards.load(CARD)
    vdd = card.vdd_v
    vgs = np.linspace(0.0, vdd, 60 if args.quick else 361)
    plt = pyplot()
    fig, (ax_iv, ax_gm) = plt.subplots(1, 2, figsize=(11, 4.4))
    colors = plt.get_cmap("coolwarm")(np.linspace(0.0, 1.0, len(TEMPERATURES_K)))
    for t_k, color in zip(TEMPERATURES_K, colors, strict=True):
        i_d = mosfet_current(vgs, vdd, card, temperature_k=t_k)
        swing = subthreshold_swing(card, temperature_k=t_k)
        ax_iv.semilogy(vgs, i_d, color=color,
                       label=f"{t_k:.0f} K (S = {swing * 1e3:.0f} mV/dec)")
        ax_gm.semilogx(i_d, gm_over_id(vgs, vdd, card, temperature_k=t_k), color=color,
                       label=f"{t_k:.0f} K")
    # inversion regions at 300 K: IC = I_D / I_spec, I_spec = 2 n β U_T² (EKV)
    i_300 = mosfet_current(vgs, vdd, card, temperature_k=300.0)
    i_spec = _specific_current_a(card)
    for lo, hi, name, shade in ((None, 0.1, "weak", "0.93"), (0.1, 10.0, "moderate", "0.97"),
                                (10.0, None, "strong", "0.90")):
        x0 = i_300.min() if lo is None else lo * i_spec
        x1 = i_300.max() if hi is None else hi * i_spec
        ax_gm.axvspan(x0, x1, color=shade, zorder=0)
        ax_gm.text(np.sqrt(x0 * x1), 2.0, name, ha="center", fontsize=8)
    ax_iv.set(xlabel="V_GS [V]", ylabel="I_D [A]",
              title=f"{card.name}: I_D at V_DS = {vdd:g} V")
    ax_iv.legend(fontsize=8)
    ax_iv.grid(True, which="major", alpha=0.3)
    ax_gm.set(xlabel="I_D [A]", ylabel="g_m / I_D [1/V]", ylim=(0.0, None),
              title="Transconductance efficiency (regions at 300 K)")
    ax_gm.legend(fontsize=8)
    return save_png(fig, args.out / "01_mosfet_iv.png")


def _specific_current_a(card) -> float:
    """EKV specific current I_spec = 2·n·μ·C_ox·(W/L)·U_T² at 300 K [A] (where IC = 1)."""
    return ekv_params(card, temperature_k=300.0).i_spec_a


if __name__ == "__main__":
    print(main())
