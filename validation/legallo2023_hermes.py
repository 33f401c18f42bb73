"""Le Gallo et al. 2023: throughput and TOPS/W of the 64-core 14 nm PCM chip in both read modes.

Inputs (cards ``legallo2023_hermes_chip`` and ``khaddamaljameh2022_hermes_core``): 64 cores of
256×256 PCM unit cells, 8-bit inputs applied by pulse-width modulation (PWM), one CCO-based ADC
per column (256 per core, 300 ps/LSB), main clock 1 GHz, the core's measured 10.5 TOPS/W; four
read phases per MVM in the high-precision mode and one in the low-precision mode.

Model
-----
One MVM of a core is one tile cycle (:func:`cimsim.ppa.latency.cycle_time_s`):

.. math:: t_{MVM} = t_{DAC} + p · 2^{b_x - 1} t_{u} + t_{conv} + t_{LDPU}

with p read phases, b_x = 8 input bits of which 7 set the pulse width (the sign selects the
polarity), t_u the PWM time unit, the CCO conversion overlapped with the integration window
(its 2^8 · 300 ps = 76.8 ns fit inside the 128-unit window; only the counter read-out adds a
clock), and one clock each for row-driver settling and the local digital unit. All cores work
in parallel: throughput = 64 · 2 · 256 · 256 / t_MVM.

Energy: the CCO ADCs oscillate, and the PWM drivers and bias circuits are active, for the
whole integration window, so a core's energy is taken proportional to its busy time,
E = P_core · t_MVM, with P_core from the single-core measurement (10.5 TOPS/W at the one-phase
timing). Hence TOPS/W(p) = 10.5 · t_MVM(1)/t_MVM(p).

Assumptions (not found in accessible text) and their effect:

* PWM unit = one 1 GHz clock period (1 ns); overheads = 1 clock each. Sensitivity: 0–10 clocks
  of total overhead move the one-phase throughput between 65.5 and 60.8 TOPS (−4 % … +4 %).
* The 10.5 TOPS/W core figure is taken at the one-phase timing; so the one-phase TOPS/W
  comparison is close to circular (same team's core measurement) and the chip-level overheads
  (on-chip network, digital processing units) are not modelled. The four-phase TOPS/W tests
  the time-proportional energy model: an event-proportional model (energy per conversion, as
  for a SAR ADC) would predict the same TOPS/W in both modes, +323 % off in four-phase mode.
"""

from __future__ import annotations

from pathlib import Path

from cimsim.plotting import pyplot
from cimsim.ppa.latency import cycle_time_s
from device_models import cards

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

CARDS = ("legallo2023_hermes_chip", "khaddamaljameh2022_hermes_core")

#: Read phases of each mode and the keys of its targets (validation/targets.toml).
MODES = {4: ("throughput_4phase", "tops_w_4phase"), 1: ("throughput_1phase", "tops_w_1phase")}

#: Assumed PWM time unit and fixed overheads, in main-clock periods (see module docstring).
PWM_UNIT_CLOCKS = 1.0
OVERHEAD_CLOCKS = {"dac_settle": 1.0, "adc_readout": 1.0, "ldpu": 1.0}


def mvm_time_s(phases: float, *, chip=None, core=None, overhead_clocks=None) -> float:
    """Latency of one core MVM with ``phases`` read phases [s] (see module docstring)."""
    chip = cards.load("legallo2023_hermes_chip") if chip is None else chip
    core = cards.load("khaddamaljameh2022_hermes_core") if core is None else core
    oh = OVERHEAD_CLOCKS if overhead_clocks is None else overhead_clocks
    t_clk = 1.0 / core.clock_hz
    t_unit = PWM_UNIT_CLOCKS * t_clk
    window = phases * 2 ** (chip.input_bits - 1) * t_unit
    t_cco = 2**chip.output_bits * core.t_adc_lsb_s
    if t_cco > window:  # the CCO count no longer fits in the integration window
        readout = t_cco - window + oh["adc_readout"] * t_clk
    else:
        readout = oh["adc_readout"] * t_clk
    return cycle_time_s(oh["dac_settle"] * t_clk, window, chip.cols // core.adcs_per_core,
                        readout, oh["ldpu"] * t_clk)


def throughput_tops(phases: float, **kw) -> float:
    """Chip throughput with all cores busy [TOPS] (1 MAC = 2 ops)."""
    chip = cards.load("legallo2023_hermes_chip")
    ops = chip.n_cores * 2 * chip.rows * chip.cols
    return ops / mvm_time_s(phases, **kw) / 1e12


def efficiency_tops_per_w(phases: float, **kw) -> float:
    """Chip TOPS/W with core energy proportional to busy time [TOPS/W]."""
    core = cards.load("khaddamaljameh2022_hermes_core")
    return core.tops_per_w * mvm_time_s(1.0, **kw) / mvm_time_s(phases, **kw)


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
    fig.suptitle("Le Gallo 2023, 64-core PCM chip, 8-bit MVMs", fontsize=10)
    return save_figure(fig, out_dir, NAME)


def run(out_dir: Path | None = None) -> Reproduction:
    comparisons = []
    rows = []
    lo = {"dac_settle": 0.0, "adc_readout": 0.0, "ldpu": 0.0}
    hi = {"dac_settle": 4.0, "adc_readout": 3.0, "ldpu": 3.0}
    for phases, (key_tops, key_eff) in MODES.items():
        tops = throughput_tops(phases)
        eff = efficiency_tops_per_w(phases)
        t_lo, t_hi = throughput_tops(phases, overhead_clocks=hi), throughput_tops(
            phases, overhead_clocks=lo)
        tgt_tops, tgt_eff = target(NAME, key_tops), target(NAME, key_eff)
        rows.append((phases, tgt_tops.published, tops, tgt_eff.published, eff))
        comparisons.append(tgt_tops.compare(
            tops, note=f"t_MVM = {mvm_time_s(phases) * 1e9:.1f} ns; 0-10 overhead clocks give "
                       f"{t_lo:.1f}-{t_hi:.1f} TOPS."))
        comparisons.append(tgt_eff.compare(
            eff, note=("returns its input: the 10.5 TOPS/W core measurement at the one-phase "
                       "timing" if phases == 1 else
                       "the core measurement scaled by busy time; an energy-per-conversion "
                       "model would give the one-phase value here")))
    figures = [_plot(out_dir, rows)] if out_dir is not None else []
    return Reproduction(
        name=NAME, citation=CITATION, comparisons=comparisons, figures=figures,
        summary=("Throughput from the PWM window (2^7 units of one 1 GHz clock per phase) plus "
                 "3 clocks of overhead; TOPS/W from the HERMES core's 10.5 TOPS/W with energy "
                 "proportional to busy time. Neither uses cimsim's tile, ADC or energy models: "
                 "all four rows are consistency checks."),
        assumed=assumed_values(CARDS))
