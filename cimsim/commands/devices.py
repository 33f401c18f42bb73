"""``cimsim devices``: figures of merit of the bundled MOSFET cards, computed from the model.

For every MOSFET card: subthreshold swing at 300 K, on current (V_GS = V_DS = V_DD), off
current (V_GS = 0, V_DS = V_DD), on/off ratio, DIBL extracted from the model's transfer curves
at constant current, the maximum g_m/I_D, and the Pelgrom σ(V_T) of the card's default W·L.
Writes a PNG with I_D–V_GS at four temperatures (log axis) and g_m/I_D against I_D.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import brentq

from device_models import cards
from device_models.mosfet import (
    ekv_params,
    gm_over_id,
    mismatch_sigma,
    mosfet_current,
    subthreshold_swing,
)

NAME = "devices"
HELP = "Table of MOSFET figures (swing, I_on, I_off, DIBL, gm/ID, sigma V_T) and a PNG."

#: Temperatures of the I_D–V_GS figure [K].
PLOT_TEMPERATURES_K = (250.0, 300.0, 350.0, 400.0)
#: Constant-current threshold criterion: I_D = I_CC_A·W/L [A] (the industry's 100 nA·W/L).
I_CC_A = 100e-9
#: Low drain bias of the DIBL extraction [V].
VDS_LIN_V = 0.05


def mosfet_card_names() -> list[str]:
    """Names of the available MOSFET cards."""
    return [n for n in cards.names() if cards.load(n).kind == "mosfet"]


def vgs_at_current(card, i_target_a: float, vds_v: float, temperature_k: float = 300.0) -> float:
    """V_GS [V] at which the model's ``|I_D|`` equals ``i_target_a`` [A] at ``vds_v`` [V]."""
    sign = -1.0 if card.polarity == "p" else 1.0

    def f(v):
        return math.log(abs(mosfet_current(sign * v, sign * vds_v, card, temperature_k))
                        / i_target_a)

    return brentq(f, -3.0, 5.0, xtol=1e-12)


def figures_of_merit(card, temperature_k: float = 300.0) -> dict:
    """Figures of merit of one MOSFET card from the EKV model (SI units).

    Returns a dict with ``swing_v_per_dec``, ``i_on_a``, ``i_off_a``, ``on_off_ratio``,
    ``i_on_a_per_m`` and ``i_off_a_per_m`` (per width), ``vt_cc_v`` (constant-current V_T at
    V_DS = V_DD), ``dibl_v_per_v`` (extracted from the curves), ``gm_over_id_max_per_v``
    and ``sigma_vt_v`` (Pelgrom, default W·L).
    """
    card = cards.load(card)
    sign = -1.0 if card.polarity == "p" else 1.0
    vdd = card.vdd_v
    i_on = abs(float(mosfet_current(sign * vdd, sign * vdd, card, temperature_k)))
    i_off = abs(float(mosfet_current(0.0, sign * vdd, card, temperature_k)))
    i_cc = I_CC_A * card.w_m / card.l_m
    vt_lin = vgs_at_current(card, i_cc, VDS_LIN_V, temperature_k)
    vt_sat = vgs_at_current(card, i_cc, vdd, temperature_k)
    vgs = np.linspace(-0.5, vdd, 2001)
    gm_id = gm_over_id(sign * vgs, sign * vdd, card, temperature_k)
    p = ekv_params(card, temperature_k)
    return {
        "card": card.name,
        "temperature_k": temperature_k,
        "vdd_v": vdd,
        "w_m": card.w_m,
        "l_m": card.l_m,
        "swing_v_per_dec": subthreshold_swing(card, temperature_k),
        "i_on_a": i_on,
        "i_off_a": i_off,
        "i_on_a_per_m": i_on / card.w_m,
        "i_off_a_per_m": i_off / card.w_m,
        "on_off_ratio": i_on / i_off,
        "vt_cc_v": vt_sat,
        "dibl_v_per_v": (vt_lin - vt_sat) / (vdd - VDS_LIN_V),
        "gm_over_id_max_per_v": float(np.nanmax(gm_id)),
        "gm_over_id_weak_limit_per_v": 1.0 / (p.n * p.ut_v),
        "sigma_vt_v": mismatch_sigma(card)[0],
    }


def plot_mosfet_figures(names, out_dir) -> list[Path]:
    """Write ``mosfet_id_vgs.png`` (I_D–V_GS, log axis, four temperatures, every card) and
    ``mosfet_gm_id.png`` (g_m/I_D against I_D) to ``out_dir``; return their paths."""
    from ..plotting import pyplot, save_png

    plt = pyplot()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    loaded = [cards.load(n) for n in names]

    fig, axes = plt.subplots(1, len(loaded), figsize=(5.2 * len(loaded), 4.2), squeeze=False)
    colors = plt.cm.coolwarm(np.linspace(0, 1, len(PLOT_TEMPERATURES_K)))
    for ax, card in zip(axes[0], loaded, strict=True):
        sign = -1.0 if card.polarity == "p" else 1.0
        vgs = np.linspace(0.0, card.vdd_v, 400)
        for t, c in zip(PLOT_TEMPERATURES_K, colors, strict=True):
            for vds, style in ((VDS_LIN_V, "--"), (card.vdd_v, "-")):
                i_d = np.abs(mosfet_current(sign * vgs, sign * vds, card, t))
                label = f"{t:.0f} K" if style == "-" else None
                ax.semilogy(vgs, i_d / card.w_m * 1e-6, style, color=c, label=label)
        ax.set_xlabel("|V_GS| [V]")
        ax.set_ylabel("|I_D| / W [A/µm]")
        ax.set_title(f"{card.name}\nsolid V_DS = {card.vdd_v:g} V, dashed {VDS_LIN_V:g} V",
                     fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    p1 = save_png(fig, out / "mosfet_id_vgs.png", dpi=120)

    fig, ax = plt.subplots(figsize=(6, 4.2))
    for k, card in enumerate(loaded):
        color = f"C{k}"
        sign = -1.0 if card.polarity == "p" else 1.0
        vgs = np.linspace(-0.3, card.vdd_v, 600)
        for t, style in ((300.0, "-"), (400.0, ":")):
            i_d = np.abs(mosfet_current(sign * vgs, sign * card.vdd_v, card, t))
            ratio = gm_over_id(sign * vgs, sign * card.vdd_v, card, t)
            ax.semilogx(i_d / card.w_m * 1e-6, ratio, style, color=color,
                        label=f"{card.name}, {t:.0f} K")
            if style == "-":
                p = ekv_params(card, t)
                ax.axhline(1 / (p.n * p.ut_v), color=color, lw=0.6, ls="--")
    ax.set_xlabel("|I_D| / W [A/µm]  (V_DS = V_DD)")
    ax.set_ylabel("g_m / I_D [1/V]")
    ax.set_title("g_m/I_D; dashed: weak-inversion limit 1/(n·U_T) at 300 K", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    p2 = save_png(fig, out / "mosfet_gm_id.png", dpi=120)
    return [p1, p2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--out", default="out", help="Directory for the PNGs (default ./out).")
    parser.add_argument("--cards", nargs="*", default=None,
                        help="MOSFET card names (default: every bundled MOSFET card).")


def run(args: argparse.Namespace) -> int:
    names = args.cards or mosfet_card_names()
    for n in names:  # a clear error for a card of another kind (or an unknown name)
        cards.load(n, kinds=("mosfet",), field="--cards", caller="cimsim devices")
    rows = [figures_of_merit(n) for n in names]
    pngs = plot_mosfet_figures(names, args.out)
    if args.json:
        print(json.dumps({"devices": rows, "png": [str(p) for p in pngs]}, indent=1))
        return 0
    head = (f"{'card':<26} {'SS@300K':>9} {'I_on':>10} {'I_off':>10} {'on/off':>8} "
            f"{'DIBL':>7} {'gm/ID max':>9} {'sigma V_T':>9}")
    units = (f"{'':<26} {'[mV/dec]':>9} {'[uA/um]':>10} {'[pA/um]':>10} {'[-]':>8} "
             f"{'[mV/V]':>7} {'[1/V]':>9} {'[mV]':>9}")
    print(head)
    print(units)
    for r in rows:
        print(f"{r['card']:<26} {r['swing_v_per_dec'] * 1e3:9.1f} "
              f"{r['i_on_a_per_m'] * 1e-6 * 1e6:10.1f} {r['i_off_a_per_m'] * 1e-6 * 1e12:10.3g} "
              f"{r['on_off_ratio']:8.2e} {r['dibl_v_per_v'] * 1e3:7.1f} "
              f"{r['gm_over_id_max_per_v']:9.1f} {r['sigma_vt_v'] * 1e3:9.2f}")
    print("(V_DS = V_DD; I_on at V_GS = V_DD, I_off at V_GS = 0; DIBL = shift of the "
          "constant-current V_T (100 nA*W/L) between V_DS = 50 mV and V_DD; sigma V_T for the "
          "card's W*L; long-channel EKV: no velocity saturation, I_on overestimated at short L)")
    for p in pngs:
        print(f"wrote {p}", file=sys.stderr)
    return 0
