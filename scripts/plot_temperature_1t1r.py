"""The demo against temperature with 1T1R cells in strong inversion and in subthreshold.

Usage::

    python scripts/plot_temperature_1t1r.py [--out DIR] [--seed N] [--n N]

Writes ``DIR/demo_1t1r_temperature.png`` (default DIR ``./out``): the ``cimsim demo`` job
(the bundled ``digits_cnn_relu`` on the default chip, every non-ideality on) with
``tile.cell = "1t1r"``, programmed (write-verify on the read current, under the read
conditions) at ``program_temperature_k`` = 300 K and read at 250-400 K, for a word line in
strong inversion (:data:`V_GATE_STRONG_V`) and in subthreshold (:data:`V_GATE_SUB_V`, below
the access transistor's V_T of 0.52 V at 300 K), each at the demo's read voltage and at a
read voltage of two thermal voltages (:data:`V_READ_LOW_V`, where a subthreshold transistor
still acts as a resistor rather than a current source). Panels: held-out analog accuracy,
energy per inference (the report's total) and the cells' share of it (``array_read``).
Every number comes from :meth:`cimsim.nn.network.Network.evaluate` and
:meth:`~cimsim.nn.network.Network.report`, as in ``cimsim demo --set tile.cell=1t1r --set
tile.v_gate_v=... --set temperature_k=...``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cimsim.hardware import HardwareConfig
from cimsim.nn.models import load_bundled, load_digits_split
from cimsim.plotting import pyplot, save_png

plt = pyplot()

#: Word-line voltage in strong inversion: the card's verify gate voltage [V].
V_GATE_STRONG_V = 1.8
#: Word-line voltage in subthreshold, 70 mV (about 1.9 n·U_T) below V_T at 300 K [V].
V_GATE_SUB_V = 0.45
#: Low read voltage, about two thermal voltages at 300 K [V].
V_READ_LOW_V = 0.05
#: Read temperatures [K].
TEMPERATURES_K = np.arange(250.0, 401.0, 25.0)


def run(seed: int, n: int | None) -> dict:
    net = load_bundled("digits_cnn_relu")
    data = load_digits_split()
    x, y = data["x_test"], data["y_test"]
    if n is not None:
        x, y = x[:n], y[:n]
    v_read_demo = HardwareConfig().tile.v_read_v
    curves = {}
    for vg in (V_GATE_STRONG_V, V_GATE_SUB_V):
        for vr in (v_read_demo, V_READ_LOW_V):
            acc, e_tot, e_cell = [], [], []
            for t in TEMPERATURES_K:
                hw = HardwareConfig(seed=seed, temperature_k=float(t))
                hw = hw.replace(tile=hw.tile.replace(cell="1t1r", v_gate_v=vg, v_read_v=vr))
                net.compile(hw)
                ev = net.evaluate(x, y)
                rep = net.report(ev)
                acc.append(ev.analog_accuracy)
                e_tot.append(rep.energy_per_inference_j)
                e_cell.append(rep.breakdown_per_inference_j.get("array_read", np.nan))
                print(f"V_G = {vg:.2f} V, V_read = {vr:.2f} V, T = {t:.0f} K: accuracy "
                      f"{acc[-1]:.3f}, energy {e_tot[-1]:.3g} J, cells {e_cell[-1]:.3g} J",
                      flush=True)
            curves[vg, vr] = (np.array(acc), np.array(e_tot), np.array(e_cell))
    return {"curves": curves, "float_accuracy": ev.float_accuracy, "v_read_demo": v_read_demo}


def plot(res: dict, out: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    colors = {V_GATE_STRONG_V: "tab:blue", V_GATE_SUB_V: "tab:red"}
    for (vg, vr), (acc, e_tot, e_cell) in res["curves"].items():
        style = "-" if vr == res["v_read_demo"] else "--"
        region = "strong inversion" if vg == V_GATE_STRONG_V else "subthreshold"
        label = f"V_G = {vg:.2f} V ({region}), V_read = {vr:.2f} V"
        kw = dict(color=colors[vg], ls=style, marker="o", ms=4, label=label)
        axes[0].plot(TEMPERATURES_K, acc, **kw)
        axes[1].semilogy(TEMPERATURES_K, e_tot, **kw)
        axes[2].semilogy(TEMPERATURES_K, e_cell, **kw)
    axes[0].axhline(res["float_accuracy"], color="0.5", lw=1, ls=":", label="float model")
    axes[0].axhline(0.1, color="0.8", lw=1, ls=":", label="chance")
    for ax in axes:
        ax.axvline(300.0, color="0.85", lw=1)
        ax.set_xlabel("read temperature [K] (programmed at 300 K)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("held-out analog accuracy")
    axes[0].set_ylim(0.0, 1.02)
    axes[1].set_ylabel("energy per inference [J]")
    axes[2].set_ylabel("cells' read energy per inference [J]")
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle("cimsim demo (digits CNN) on 1T1R tiles: Yao 2020 TaOx card, MOSIS 0.18 um "
                 "access NMOS (EKV at the read temperature)", fontsize=10)
    return save_png(fig, out / "demo_1t1r_temperature.png")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="out", help="output directory")
    p.add_argument("--seed", type=int, default=0, help="chip seed")
    p.add_argument("--n", type=int, default=None, help="held-out images (default all)")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = plot(run(args.seed, args.n), out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
