"""Khaddam-Aljameh et al. 2022: one HERMES core (256x256 PCM, 14 nm, CCO ADCs) from its circuits.

Published (abstract and main text): a 256×256 in-memory compute core in 14 nm CMOS with
back-end PCM, 256 linearised CCO-based ADCs (300 ps/LSB, 4 µm pitch), 8-bit inputs applied
as pulse widths with a 128 ns integration, main clock 1 GHz; measured 10.5 TOPS/W, a peak of
1.008 TOPS at 1 GHz and 0.8 V (one 256×256 MVM, 2 operations per MAC, every 130 ns) and
1.59 TOPS/mm². Compared (``validation/targets.toml``): the MVM latency, the energy efficiency
and the performance density, each a *prediction*: no model parameter is taken from them.

Model
-----
One core is one cimsim tile (:func:`cimsim.ppa.report.standard_tile_report`, 16 MVMs of
N(0, 1) weights and post-ReLU inputs), built from the core's circuits:

* array: 256 rows × 256 signed weights, each weight a differential pair of PCM devices
  (``joshi2020_pcm``: the same group's doped-GST devices, G_max = 25 µS) on its own column
  pair, 512 physical columns (the core's 8T4R unit cell keeps four devices per weight, two per
  polarity; cimsim's differential pair holds their sum);
* inputs: 8-bit pulse widths from the PWM row driver card ``khaddamaljameh2022_pwm_driver``
  (sign and 7 magnitude bits, one tick per 1 GHz clock), so the integration window is
  2^7 ticks = 128 ns, one read phase (all four sign quadrants in one MVM step);
* front end and read-out: the column pair's current through the calibrated current mirror
  into one CCO ADC per weight column (``khaddamaljameh2022_cco_adc``: 8 bits, 300 ps/LSB,
  counting over the window, counter read-out in one clock), 256 per core;
* digital: 14 nm energies (``dennard_scaled_14nm``, constant-field scaling of Horowitz's
  45 nm table); periphery card ``khaddamaljameh2022_hermes_periphery``: the local digital
  unit's affine scaling of every ADC output (one multiply and add of the 16-bit word), the
  read rail derived from the 0.8 V core supply (assumed linear regulation: the supply
  delivers 0.8 V times the cells' charge), buffers, shift-add and interconnect as the
  default card;
* clock (:mod:`cimsim.ppa.periphery`): the rows' PWM down-counters clocked at 1 GHz through
  the whole window, the output registers and accumulators, and the clock spines.

Latency is the tile's cycle (:func:`cimsim.ppa.latency.cycle_time_s`: driver settling, the
window, the counter read-out, one shift-add clock); energy is the run's breakdown
(:func:`cimsim.ppa.energy.energy_breakdown`: cells' V·I·t and the read supply's drop, CCO
ring and counter per count, pulse drivers, clock, output scaling, buffers, leakage); area is
:func:`cimsim.ppa.energy.tile_area_m2`.

Assumed values the results depend on (sensitivity rows in the report): the CCO's full-scale
current (100 µA: the ADC's energy per count is V_DD·I_FS·T_c/2^N, so the ADC energy scales
with it), the PCM read voltage (0.2 V) and the read rail's regulation from the core supply
(sensitivity row), one clock each for driver settling and counter
read-out, and the cell and ADC areas of the cards.
"""

from __future__ import annotations

from pathlib import Path

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.plotting import pyplot
from cimsim.ppa.report import standard_tile_report
from device_models import cards

from ._base import Reproduction, Sensitivity, assumed_values
from ._plots import save_figure
from ._targets import target

NAME = "khaddamaljameh2022_hermes_core"
CITATION = (
    "R. Khaddam-Aljameh et al., \"HERMES-Core - A 1.59-TOPS/mm2 PCM on 14-nm CMOS in-memory "
    "compute core using 300-ps/LSB linearized CCO-based ADCs\", IEEE J. Solid-State Circuits "
    "57(4), 1027-1038 (2022), doi:10.1109/JSSC.2022.3140414."
)
SLOW = False

CARDS = ("khaddamaljameh2022_hermes_core", "khaddamaljameh2022_cco_adc",
         "khaddamaljameh2022_pwm_driver", "khaddamaljameh2022_hermes_periphery",
         "joshi2020_pcm", "dennard_scaled_14nm")

#: Input vectors of each simulated run.
BATCH = 16


PERIPHERY = "khaddamaljameh2022_hermes_periphery"


def core_hw(read_phases: int = 1, *, adc_card=None, periphery_card=None) -> HardwareConfig:
    """The HERMES core as a cimsim chip (module docstring): ``read_phases`` windows of 128 ns
    per MVM (1: the core's mode; 4: the four-phase mode of the 64-core chip)."""
    core = cards.load("khaddamaljameh2022_hermes_core")
    drv = cards.load("khaddamaljameh2022_pwm_driver")
    window = 2**drv.bits * drv.t_clk_s  # 2^7 ticks of one 1 GHz clock: 128 ns
    return HardwareConfig(
        device_card="joshi2020_pcm", tech_card="dennard_scaled_14nm",
        periphery_card=PERIPHERY if periphery_card is None else periphery_card,
        adc_card="khaddamaljameh2022_cco_adc" if adc_card is None else adc_card,
        dac_card="khaddamaljameh2022_pwm_driver",
        tile=TileConfig(rows=core.rows, cols=2 * core.cols, weight_bits=8, bits_per_cell=8,
                        input_encoding="pulse_width", input_bits=drv.bits + 1,
                        t_read_s=window, read_phases=read_phases, front_end="mirror",
                        adc_bits=8, adc_share=2 * core.cols // core.adcs_per_core),
        programming_noise=False, read_noise=False, faults=False, drift=False,
        converter_noise=False)


def evaluate(read_phases: int = 1, *, adc_card=None, periphery_card=None) -> dict[str, float]:
    """Latency [s], TOPS/W, TOPS/mm² and energy by component [J] of one core MVM."""
    rep = standard_tile_report(core_hw(read_phases, adc_card=adc_card,
                                       periphery_card=periphery_card), batch=BATCH)
    parts = {k: v for k, v in rep.breakdown_per_inference_j.items() if v}
    return {"latency_s": rep.latency_per_inference_s, "tops_per_w": rep.tops_per_w,
            "tops_per_mm2": rep.tops_per_mm2, "energy_j": rep.energy_per_inference_j,
            "adc_j": parts.get("adc", 0.0), "parts": parts}


def _plot(out_dir: Path, res) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    parts = res["parts"]
    names = sorted(parts, key=parts.get, reverse=True)
    ax.barh(range(len(names)), [parts[n] * 1e12 for n in names], color="tab:orange")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.invert_yaxis()
    pub = 2 * 256 * 256 / (target(NAME, "tops_w").published * 1e12) * 1e12
    ax.axvline(pub, color="tab:blue", label=f"published total {pub:.0f} pJ (10.5 TOPS/W)")
    ax.set_xlabel("energy per 256x256 MVM [pJ]")
    ax.set_title(f"HERMES core, simulated: {res['energy_j'] * 1e12:.0f} pJ per MVM",
                 fontsize=10)
    ax.legend(fontsize=8)
    return save_figure(fig, out_dir, NAME)


def run(out_dir: Path | None = None) -> Reproduction:
    res = evaluate(1)
    cco = cards.load("khaddamaljameh2022_cco_adc")
    n_adc = cards.load("khaddamaljameh2022_hermes_core").adcs_per_core
    e_conv = res["adc_j"] / n_adc
    parts = ", ".join(f"{k} {v * 1e12:.0f} pJ" for k, v in
                      sorted(res["parts"].items(), key=lambda kv: -kv[1]) if v > 1e-12)
    comparisons = [
        target(NAME, "mvm_latency").compare(
            res["latency_s"] * 1e9,
            note="1 clock driver settling + 128 ns PWM window + 1 clock counter read-out + "
                 "1 clock shift-add"),
        target(NAME, "tops_w").compare(
            res["tops_per_w"],
            note=(f"{res['energy_j'] * 1e12:.0f} pJ per MVM ({parts}); CCO ADC "
                  f"{e_conv * 1e12:.2f} pJ per conversion")),
        target(NAME, "tops_mm2").compare(res["tops_per_mm2"]),
    ]
    sensitivities = []
    for scale in (0.25, 4.0):
        card = cco.replace(full_scale_a=cco.full_scale_a * scale)
        alt = evaluate(1, adc_card=card)
        sensitivities.append(Sensitivity(
            f"{cco.name}.full_scale_a {cco.full_scale_a * 1e6:g} -> "
            f"{card.full_scale_a * 1e6:g} uA", target(NAME, "tops_w").quantity,
            res["tops_per_w"], alt["tops_per_w"], "TOPS/W"))
    per = cards.load(PERIPHERY)
    v_read = core_hw().tile.v_read_v
    alt = evaluate(1, periphery_card=per.replace(read_supply_v=v_read))
    sensitivities.append(Sensitivity(
        f"{PERIPHERY}.read_supply_v {per.read_supply_v:g} -> {v_read:g} V (the read rail a "
        "supply of its own)", target(NAME, "tops_w").quantity, res["tops_per_w"],
        alt["tops_per_w"], "TOPS/W"))
    figures = [_plot(out_dir, res)] if out_dir is not None else []
    return Reproduction(
        name=NAME, citation=CITATION, comparisons=comparisons, figures=figures,
        summary=("One HERMES core as a cimsim tile: PCM differential pairs, PWM inputs over "
                 "a 128 ns window, one CCO ADC per weight column behind the calibrated "
                 "mirror, 14 nm digital energies; latency, energy and area from cimsim's "
                 "latency, energy and area models (all rows are predictions)."),
        sensitivities=sensitivities, assumed=assumed_values(CARDS))
