"""Converter figures: SAR ADC transfer curve, DNL/INL, and the FFT spectrum of the ENOB test.

Usage::

    python scripts/plot_converters.py [--out DIR] [--card NAME] [--bits N] [--seed S]

Writes to DIR (default ``./out``):

* ``adc_transfer.png`` — codes vs input near mid-scale for an ideal converter and the card's
  converter (mismatch, offset and noise), with the ideal staircase;
* ``adc_dnl_inl.png`` — code-density DNL and INL of the card's converter;
* ``adc_spectrum.png`` — output spectrum of the coherent-sine ENOB test, ideal vs card;
* ``adc_energy.png`` — CDAC switching energy per output code, conventional vs monotonic.

Every number shown is computed by ``device_models`` from the card; nothing is typed in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from cimsim.plotting import pyplot, save_png
from device_models import cards
from device_models.adc import SarAdc
from device_models.measure import measure_enob, measure_inl_dnl

plt = pyplot()


def plot_transfer(ideal: SarAdc, real: SarAdc, path: Path) -> Path:
    lsb = ideal.lsb_v
    mid = 0.5 * ideal.full_scale_v
    v = np.linspace(mid - 12 * lsb, mid + 12 * lsb, 4001)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    ax.step(v / lsb, ideal.convert(v), where="post", color="k", lw=1.2, label="ideal")
    ax.plot(v / lsb, real.convert(v, offset=10_000), ".", ms=1.5, alpha=0.6,
            label=f"{real.switching}, card (noise, mismatch, offset)")
    levels = real.transition_levels_v()
    sel = (levels > v[0]) & (levels < v[-1])
    codes = np.arange(1, real.n_codes)[sel]
    ax.step(levels[sel] / lsb, codes, where="post", color="C3", lw=1.0,
            label="card, noise-free decision levels")
    ax.set_xlabel("input v / LSB")
    ax.set_ylabel("output code")
    ax.set_title(f"{real.bits}-bit SAR ADC transfer around mid-scale (MSB transition)")
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return save_png(fig, path, dpi=130)


def plot_dnl_inl(real: SarAdc, path: Path) -> Path:
    r = measure_inl_dnl(real, samples_per_code=64)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6.4, 5.2), sharex=True)
    a1.plot(r.codes, r.dnl_lsb, lw=0.7)
    a1.set_ylabel("DNL [LSB]")
    a1.set_title(f"Code-density test, {real.bits}-bit {real.switching} SAR "
                 f"(σ_u = {real.unit_cap_mismatch:g})\nmax |DNL| = {r.max_dnl_lsb:.2f}, "
                 f"max |INL| = {r.max_inl_lsb:.2f} LSB", fontsize=9)
    a2.plot(r.codes, r.inl_lsb, lw=0.9, color="C1")
    a2.set_ylabel("INL [LSB]")
    a2.set_xlabel("code")
    for a in (a1, a2):
        a.axvline(real.n_codes // 2, color="k", lw=0.5, ls=":")
        a.grid(alpha=0.3)
    return save_png(fig, path, dpi=130)


def plot_spectrum(ideal: SarAdc, real: SarAdc, path: Path, n_samples: int = 8192) -> Path:
    ri = measure_enob(ideal, n_samples=n_samples)
    rr = measure_enob(real, n_samples=n_samples)
    fig, ax = plt.subplots(figsize=(6.8, 4.2))
    ax.plot(ri.freqs, ri.power_dbfs, lw=0.5, color="0.6",
            label=f"ideal: ENOB {ri.enob:.2f}, SFDR {ri.sfdr_db:.1f} dB")
    ax.plot(rr.freqs, rr.power_dbfs, lw=0.5, color="C0",
            label=f"card: ENOB {rr.enob:.2f}, SNR {rr.snr_db:.1f} dB, "
                  f"SFDR {rr.sfdr_db:.1f} dB, THD {rr.thd_db:.1f} dB")
    ax.set_xlabel("frequency f / f_s")
    ax.set_ylabel("power relative to the tone [dB]")
    ax.set_title(f"Coherent sine, {rr.n_cycles} cycles in {rr.n_samples} samples, "
                 f"{real.bits}-bit SAR", fontsize=10)
    ax.set_ylim(-160, 5)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return save_png(fig, path, dpi=130)


def plot_energy(bits: int, unit_cap_f: float, v_ref_v: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for sw in ("conventional", "monotonic"):
        a = SarAdc(bits, switching=sw, unit_cap_f=unit_cap_f, v_ref_v=v_ref_v)
        e = a.code_energy_j
        ax.plot(np.arange(e.size), e * 1e12, lw=0.8,
                label=f"{sw}: mean {e.mean() * 1e12:.3f} pJ")
    ax.set_xlabel("output code")
    ax.set_ylabel("CDAC switching energy [pJ]")
    ax.set_title(f"{bits}-bit CDAC, C_u = {unit_cap_f * 1e15:g} fF, V_ref = {v_ref_v:g} V",
                 fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return save_png(fig, path, dpi=130)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="Output directory (default ./out).")
    parser.add_argument("--card", default="liu2010_sar_10b", help="ADC card name.")
    parser.add_argument("--bits", type=int, default=None, help="Resolution (default: card).")
    parser.add_argument("--seed", type=int, default=0, help="Instance seed (mismatch draw).")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    card = cards.load(args.card)
    real = SarAdc.from_card(card, bits=args.bits, seed=args.seed)
    ideal = SarAdc(real.bits, full_scale_v=real.full_scale_v, switching=real.switching)
    paths = [
        plot_transfer(ideal, real, out / "adc_transfer.png"),
        plot_dnl_inl(real, out / "adc_dnl_inl.png"),
        plot_spectrum(ideal, real, out / "adc_spectrum.png"),
        plot_energy(real.bits, real.unit_cap_f, real.v_ref_v, out / "adc_energy.png"),
    ]
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
