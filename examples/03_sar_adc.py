"""
03 · SAR ADC: spectrum, ENOB, INL and DNL with mismatch
=======================================================

An 8-bit SAR ADC (:class:`device_models.SarAdc`) measured as a converter test bench would:
a coherently sampled full-scale sine for the spectrum and ENOB (:func:`device_models.measure_enob`)
and a code-density ramp for INL and DNL (:func:`device_models.measure_inl_dnl`). The ideal
converter is compared with one whose binary-weighted capacitor DAC has 2 % unit-capacitor
mismatch and whose comparator has 1 mV rms noise.

What to look at:

* **Left**: the spectra (tone near f_s/10, its harmonics dotted). Even the ideal converter's
  quantisation error of a coherent sine shows as a comb of small spurs; mismatch raises the
  harmonics and lowers SFDR, comparator noise lifts the floor. ENOB and SFDR are in the
  legend (an ideal 8-bit converter: SINAD 6.02·8 + 1.76 dB, ENOB ≈ 8).
* **Middle / right**: DNL and INL per code. Mismatch shows as a step at mid-scale (code 128),
  where the MSB capacitor switches against all the others, and smaller ones at the other
  major carries; comparator noise adds code-to-code jitter.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cimsim.plotting import pyplot, save_png
from device_models import SarAdc, measure_enob, measure_inl_dnl

BITS = 8
HOLD_BINS = 16   # the spectrum is drawn as the peak of every 16 FFT bins (a peak-hold display)


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description="SAR ADC spectrum, ENOB, INL and DNL.")
    ap.add_argument("--quick", action="store_true", help="shorter records")
    ap.add_argument("--out", type=Path, default=Path("."), help="folder of the PNG")
    args = ap.parse_args(argv)

    n_samples = 2048 if args.quick else 16384
    per_code = 16 if args.quick else 256
    adcs = {
        "ideal": SarAdc(BITS),
        "2 % cap mismatch": SarAdc(BITS, unit_cap_mismatch=0.02, seed=3),
        "2 % mismatch + 1 mV noise": SarAdc(BITS, unit_cap_mismatch=0.02,
                                            comparator_noise_v=1e-3, seed=3),
    }
    plt = pyplot()
    fig, (ax_s, ax_d, ax_i) = plt.subplots(1, 3, figsize=(15, 4.2))
    colors = {"ideal": "k", "2 % cap mismatch": "C1", "2 % mismatch + 1 mV noise": "C2"}
    for k, (name, adc) in reversed(list(enumerate(adcs.items()))):
        enob = measure_enob(adc, n_samples)
        f_held, p_held = _peak_hold(enob.freqs, enob.power_dbfs, HOLD_BINS)
        ax_s.plot(f_held, p_held, lw=0.9, color=colors[name],
                  label=f"{name}: ENOB {enob.enob:.2f}, SFDR {enob.sfdr_db:.1f} dB")
        tone = enob.n_cycles / enob.n_samples
        if k == 0:
            for h in range(2, 6):
                f = abs(((h * tone + 0.5) % 1.0) - 0.5)     # aliased harmonic
                ax_s.axvline(f, color="0.5", lw=0.6, ls=":")
            continue
        lin = measure_inl_dnl(adc, samples_per_code=per_code)
        ax_d.plot(lin.codes, lin.dnl_lsb, lw=0.8, color=colors[name],
                  label=f"{name}: max {lin.max_dnl_lsb:.2f} LSB")
        ax_i.plot(lin.codes, lin.inl_lsb, lw=0.8, color=colors[name],
                  label=f"{name}: max {lin.max_inl_lsb:.2f} LSB")
    ax_s.set(xlabel="f / f_s", ylabel="power [dB re tone]", ylim=(-110, 5),
             title=f"{BITS}-bit SAR ADC, {n_samples}-point FFT (peak of {HOLD_BINS} bins)")
    handles, labels = ax_s.get_legend_handles_labels()
    ax_s.legend(handles[::-1], labels[::-1], fontsize=7, loc="lower right")
    for ax, what in ((ax_d, "DNL"), (ax_i, "INL")):
        ax.set(xlabel="code", ylabel=f"{what} [LSB]", title=what)
        for c in (64, 128, 192):
            ax.axvline(c, color="0.7", lw=0.6, ls=":")
        ax.legend(fontsize=7)
    return save_png(fig, args.out / "03_sar_adc.png")


def _peak_hold(freqs, power_db, n):
    """Largest value of every ``n`` consecutive bins, at the groups' mean frequency."""
    m = (freqs.size // n) * n
    return freqs[:m].reshape(-1, n).mean(1), power_db[:m].reshape(-1, n).max(1)


if __name__ == "__main__":
    print(main())
