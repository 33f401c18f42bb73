"""
07 · A temperature sweep with ``cimsim sweep``
==============================================

Runs the sweep spec ``examples/temperature_sweep.toml`` through the command line
(``cimsim sweep SPEC --out FILE.h5``): the bundled digits CNN on 1T1R chips programmed at
300 K and read one hour later at 250–400 K, three chips per temperature. One field,
``temperature_k``, moves every temperature-dependent model at once: the access transistors
(EKV threshold and mobility), thermal and shot read noise, relaxation (Arrhenius), the
periphery's leakage and speed. The results are read back as an ``xarray.Dataset`` labelled
by the swept fields (:meth:`cimsim.study.store.SweepResults.to_xarray`), or as NumPy arrays
when xarray is not installed.

What to look at:

* **Left**: accuracy against temperature (mean and spread of the three chips). It falls as
  the chip warms: relaxation speeds up (Arrhenius), thermal and shot noise grow, and the
  access transistors' currents move away from those the cells were verified at; cold reads
  lose little.
* **Middle**: energy per inference, split into the chip's leakage and the rest. The
  periphery's off current grows exponentially with temperature (leakage, log scale); the
  rest grows too, more slowly.
* **Right**: latency per inference: the periphery slows as its on current falls when hot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cimsim.cli import main as cimsim_cli
from cimsim.plotting import pyplot, save_png
from cimsim.study.sweep import load

try:
    SPEC = Path(__file__).resolve().parent / "temperature_sweep.toml"
except NameError:   # executed by the docs' gallery, from the examples folder
    SPEC = Path("temperature_sweep.toml").resolve()

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="A temperature sweep with cimsim sweep.")
    ap.add_argument("--quick", action="store_true", help="3 temperatures, 1 chip, 60 images")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG and .h5")
    ap.add_argument("--workers", type=int, default=0,
                    help="sweep workers (0: in this process; N: a local Dask cluster)")
    args = ap.parse_args(argv)

    spec = SPEC
    if args.quick:   # the same spec on fewer points: written next to the results
        text = SPEC.read_text()
        text = text.replace("n_test = 359", "n_test = 60")
        text = text.replace("temperature_k = [250.0, 280.0, 310.0, 340.0, 370.0, 400.0]",
                            "temperature_k = [250.0, 325.0, 400.0]")
        text = text.replace("seed = [0, 1, 2]", "seed = [0]")
        tomllib.loads(text)
        spec = args.out / "temperature_sweep_quick.toml"
        spec.write_text(text)
    h5 = args.out / ("07_temperature_quick.h5" if args.quick else "07_temperature.h5")
    h5.unlink(missing_ok=True)
    code = cimsim_cli(["sweep", str(spec), "--out", str(h5), "--workers", str(args.workers),
                       "--no-progress"])
    if code != 0:
        raise SystemExit(code)
    res = load(h5)
    try:
        ds = res.to_xarray()       # dims: temperature_k × seed
        t_k = ds["temperature_k"].values
        acc = ds["analog_accuracy"].values
        energy = ds["energy_per_inference_j"].values
        latency = ds["latency_per_inference_s"].values
        leak = ds["energy.leakage_j"].values / ds["energy_j"].values * energy   # per inference
    except ImportError:            # the same numbers from the arrays
        t_k = np.unique(res.fields["temperature_k"])
        col = {name: res.column(name).reshape(t_k.size, -1) for name in (
            "analog_accuracy", "energy_per_inference_j", "latency_per_inference_s",
            "energy.leakage_j", "energy_j")}
        acc, energy = col["analog_accuracy"], col["energy_per_inference_j"]
        latency = col["latency_per_inference_s"]
        leak = col["energy.leakage_j"] / col["energy_j"] * energy
    plt = pyplot()
    fig, (ax_a, ax_e, ax_l) = plt.subplots(1, 3, figsize=(15, 4.3))
    ax_a.errorbar(t_k, 100 * acc.mean(1), yerr=100 * acc.std(1), marker="o", capsize=3)
    ax_a.axvline(300.0, color="0.6", ls=":", label="programmed at 300 K")
    ax_a.set(xlabel="temperature [K]", ylabel="accuracy [%]",
             title=f"digits CNN on 1T1R chips ({acc.shape[1]} chip(s) per point)")
    ax_a.set_ylim(top=min(ax_a.get_ylim()[1], 100.5))   # no accuracy above 100 %
    ax_a.legend(fontsize=8)
    ax_e.plot(t_k, 1e9 * (energy - leak).mean(1), "o-", label="everything but leakage")
    ax_e.plot(t_k, 1e9 * leak.mean(1), "s-", label="leakage")
    ax_e.set(xlabel="temperature [K]", ylabel="energy per inference [nJ]", yscale="log",
             title="energy per inference")
    ax_e.legend(fontsize=8)
    ax_l.plot(t_k, 1e6 * latency.mean(1), "o-", color="C2")
    ax_l.set(xlabel="temperature [K]", ylabel="latency per inference [µs]",
             title="latency per inference")
    return save_png(fig, args.out / "07_temperature_sweep.png")


if __name__ == "__main__":
    print(main())
