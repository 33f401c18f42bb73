"""Le Gallo et al. 2023: throughput and TOPS/W of the 64-core 14 nm PCM chip in both read modes.

Published (abstract): for 8-bit input/output MVMs, 16.1 TOPS at 2.48 TOPS/W in the four-phase
(high-precision) read mode and 63.1 TOPS at 9.76 TOPS/W in the one-phase (low-precision) mode.
Compared (``validation/targets.toml``): the four numbers and the efficiency ratio of the two
modes, each a *prediction*: no model parameter is taken from this paper's results.

Model
-----
Every core is the HERMES core of :mod:`validation.khaddamaljameh2022_hermes_core` (its circuits
from Khaddam-Aljameh et al., JSSC 2022: PCM differential pairs, 8-bit PWM inputs over a 128 ns
window of 1 GHz ticks, one CCO ADC per weight column, 14 nm digital energies), run through
cimsim's tile, latency and energy models (:func:`cimsim.ppa.report.standard_tile_report`).
The read mode is ``TileConfig.read_phases``: in the four-phase mode the four sign quadrants
(input polarity × weight polarity) are read in four sequential 128 ns windows, every driven
row pulsing in each and every device conducting in one; the CCO ADC counts over all four
(Le Gallo et al. 2023, Extended Data Fig. 4). All 64 cores work in parallel:

.. math:: \\mathrm{throughput} = n_\\mathrm{cores}\\,\\frac{2 · 256 · 256}{t_\\mathrm{MVM}},
          \\qquad \\mathrm{TOPS/W} = \\frac{2 · 256 · 256}{E_\\mathrm{MVM}}

with t_MVM the tile cycle (driver settling, p·128 ns, counter read-out, one clock) and
E_MVM the run's energy breakdown of one core, its periphery included (read supply, the PWM
counters' clock through every window, the local digital unit's output scaling; the chip's
network and digital processing units are not modelled, so the chip's TOPS/W is a core's).

Assumed values the results depend on: one 1 GHz clock per PWM tick and one each for driver
settling and counter read-out (throughput), the CCO's full-scale current and the PCM read
voltage (TOPS/W); see the core reproduction's sensitivity rows.
"""

from __future__ import annotations

from pathlib import Path

from cimsim.plotting import pyplot
from device_models import cards

from . import khaddamaljameh2022_hermes_core as core
from ._base import Reproduction, assumed_values
from ._plots import save_figure
from ._targets import target

NAME = "legallo2023_hermes"
CITATION = (
    "M. Le Gallo et al., \"A 64-core mixed-signal in-memory compute chip based on phase-change "
    "memory for deep neural network inference\", Nature Electronics 6 (2023), "
    "doi:10.1038/s41928-023-01010-1; core: R. Khaddam-Aljameh et al., \"HERMES-Core\", IEEE "
    "JSSC 57(4) (2022), doi:10.1109/JSSC.2022.3140414."
)
SLOW = False

CARDS = ("legallo2023_hermes_chip", *core.CARDS)

#: Read phases of each mode and the keys of its targets (validation/targets.toml).
MODES = {4: ("throughput_4phase", "tops_w_4phase"), 1: ("throughput_1phase", "tops_w_1phase")}


def evaluate() -> dict[int, dict[str, float]]:
    """Chip throughput [TOPS], TOPS/W, MVM latency [s] and energy [J] in each read mode."""
    chip = cards.load("legallo2023_hermes_chip")
    ops = 2 * chip.rows * chip.cols
    out = {}
    for phases in MODES:
        res = core.evaluate(phases)
        out[phases] = {"tops": chip.n_cores * ops / res["latency_s"] / 1e12,
                       "tops_per_w": res["tops_per_w"], "latency_s": res["latency_s"],
                       "energy_j": res["energy_j"], "parts": res["parts"]}
    return out


def _plot(out_dir: Path, rows) -> Path:
    plt = pyplot()

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    labels = [f"{p}-phase" for p, *_ in rows]
    for ax, i, unit in ((axes[0], 1, "TOPS"), (axes[1], 3, "TOPS/W")):
        pub = [r[i] for r in rows]
        sim = [r[i + 1] for r in rows]
        x = range(len(rows))
        ax.bar([v - 0.2 for v in x], pub, 0.4, label="published")
        ax.bar([v + 0.2 for v in x], sim, 0.4, label="cimsim")
        ax.set_xticks(list(x), labels)
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)
    fig.suptitle("Le Gallo 2023, 64-core PCM chip, 8-bit MVMs (cores from their circuits)",
                 fontsize=10)
    return save_figure(fig, out_dir, NAME)


def run(out_dir: Path | None = None) -> Reproduction:
    res = evaluate()
    comparisons, rows = [], []
    for phases, (key_tops, key_eff) in MODES.items():
        r = res[phases]
        tgt_tops, tgt_eff = target(NAME, key_tops), target(NAME, key_eff)
        rows.append((phases, tgt_tops.published, r["tops"], tgt_eff.published,
                     r["tops_per_w"]))
        parts = ", ".join(f"{k} {v * 1e12:.0f} pJ" for k, v in
                          sorted(r["parts"].items(), key=lambda kv: -kv[1]) if v > 1e-11)
        comparisons.append(tgt_tops.compare(
            r["tops"], note=f"t_MVM = {r['latency_s'] * 1e9:.1f} ns per core, 64 cores"))
        comparisons.append(tgt_eff.compare(
            r["tops_per_w"], note=f"{r['energy_j'] * 1e12:.0f} pJ per core MVM ({parts})"))
    ratio = res[1]["tops_per_w"] / res[4]["tops_per_w"]
    comparisons.append(target(NAME, "tops_w_phase_ratio").compare(
        ratio, note=(f"ADC energy x{res[4]['parts']['adc'] / res[1]['parts']['adc']:.2f} "
                     f"(counting over four windows), cells' read energy "
                     f"x{res[4]['parts']['array_read'] / res[1]['parts']['array_read']:.2f} "
                     "(each device conducts in one phase)")))
    figures = [_plot(out_dir, rows)] if out_dir is not None else []
    return Reproduction(
        name=NAME, citation=CITATION, comparisons=comparisons, figures=figures,
        summary=("64 HERMES cores, each a cimsim tile built from the core's circuits "
                 "(khaddamaljameh2022_hermes_core), read in four phases or one: throughput "
                 "from the tile's latency model, TOPS/W from its energy model."),
        assumed=assumed_values(CARDS))
