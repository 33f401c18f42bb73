"""Hung et al. 2021: the 22 nm RRAM CIM macro's TOPS/W and latency from its circuits.

Published (abstract): 194.4 TOPS/W and 5.2 ns for binary dot products, 15.6 TOPS/W and
15.2 ns for 8-bit-input 8-bit-weight dot products. Compared (``validation/targets.toml``): the
four absolute numbers and the two ratios, each a *prediction*: the architecture follows the
paper's circuit description and no parameter is taken from its latencies or efficiencies.

Model
-----
Both operating points run on cimsim's own tile, latency and energy models
(:func:`cimsim.ppa.report.standard_tile_report`, 16 MVMs of N(0, 1) weights and post-ReLU
inputs), with the macro's circuits as the abstract describes them:

* cells: binary ReRAM (``yao2020_taox_1t1r`` used at its two extreme levels), a signed weight
  as a differential pair of columns, 256 rows per sub-array;
* weights: 8-bit weights as binary cells whose column currents are weighted and merged
  before one read-out (the calibrated-and-weighted current stacking, CWCVS):
  ``TileConfig.stacking = "mirror"``, the sign by the pair and 7 magnitude slices whose
  copies are scaled 2^(k-6) by sized mirrors (:mod:`device_models.current_mirror`);
* inputs: bit-serial planes of one-bit word-line pulses (card ``hung2021_wl_driver_22nm``;
  the asymmetric input modulation AMIC is not described in accessible text, so its cycle
  saving is not modelled);
* read-out: one current-mode sense-amplifier read-out per output behind the column's
  calibrated current copy (card ``hung2021_current_sa_22nm``: N latched decisions against a
  binary-weighted reference current), 1 bit for binary dot products, 8 bits for 8-bit ones;
* read window: the bit line settling through the clamp device to half an LSB plus the N
  decisions, :math:`t_{read} = (C_{BL}/g_m)\\ln 2^{N+1} + N t_{dec}` with
  :math:`C_{BL}` = 256 cell pitches of wire (:meth:`device_models.sense_amp.CurrentSenseAmp.
  settling_time_s`): the sense amplifier works while the rows are driven;
* periphery at 22 nm by stated rules: digital energies (buffers, shift-add, latch and SAR
  logic, driver gates) by constant-field scaling of Horowitz's 45 nm table
  (``dennard_scaled_22nm``); the sense amplifier's capacitances and latch time constant
  proportional to the node, its matching coefficient to the oxide thickness (card notes); one
  1 GHz control clock to load a row and one to shift-add;
* periphery card ``hung2021_periphery_22nm``: each bit line held at the read voltage by the
  read-out's clamp, which draws the cells' current from the read-out's assumed 0.8 V supply
  (:mod:`cimsim.ppa.periphery`, sensitivity row); the clock of the rows' input shift
  registers and word-line counters, the output registers and accumulators.

Known gaps: the macro's AMIC input modulation, input shaping (IN-S), reference and bias
generation, and its 4 Mb organisation (word-line and bit-line lengths, multiplexing) are not
in accessible text; the read-out full-scale current (100 µA) and the sense node are assumed
(sensitivity rows). Non-idealities (noise, faults, drift) are off: they do not change the
operation counts.
"""

from __future__ import annotations

from pathlib import Path

from cimsim.array.mapping import outputs_per_tile
from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.plotting import pyplot
from cimsim.ppa.energy import components
from cimsim.ppa.report import standard_tile_report
from device_models import cards
from device_models.converters import build_converter

from ._base import Reproduction, Sensitivity, assumed_values
from ._plots import save_figure
from ._targets import target

NAME = "hung2021_rram_macro"
CITATION = (
    "J.-M. Hung et al., \"A four-megabit compute-in-memory macro with eight-bit precision based "
    "on CMOS and resistive random-access memory for AI edge devices\", Nature Electronics 4 "
    "(2021), doi:10.1038/s41928-021-00676-9."
)
SLOW = False

SA_CARD = "hung2021_current_sa_22nm"
PERIPHERY = "hung2021_periphery_22nm"
CARDS = ("hung2021_rram_cim_macro", SA_CARD, "hung2021_wl_driver_22nm", "yao2020_taox_1t1r",
         "dennard_scaled_22nm", "hung2021_periphery_22nm")

ROWS = COLS = 256
#: Input vectors of each simulated run.
BATCH = 16

#: The two operating points: weight bits (binary cells, stacked), input bit planes and the
#: sense amplifier's resolution.
MODES = {"binary": dict(weight_bits=1, input_bits=1, adc_bits=1),
         "8-bit": dict(weight_bits=8, input_bits=8, adc_bits=8)}


def macro_hw(mode: str, *, sa_card=SA_CARD, periphery_card=PERIPHERY) -> HardwareConfig:
    """The macro in ``mode`` (:data:`MODES`) as a cimsim chip (module docstring)."""
    m = MODES[mode]
    stacking = "mirror" if m["weight_bits"] > 1 else "digital"
    outs = outputs_per_tile(COLS, m["weight_bits"], 1, "differential", stacking=stacking)

    def hw(t_read_s: float) -> HardwareConfig:
        return HardwareConfig(
            device_card="yao2020_taox_1t1r", adc_card=sa_card,
            dac_card="hung2021_wl_driver_22nm", tech_card="dennard_scaled_22nm",
            periphery_card=periphery_card,
            tile=TileConfig(rows=ROWS, cols=COLS, weight_bits=m["weight_bits"],
                            bits_per_cell=1, input_encoding="bit_serial",
                            input_bits=m["input_bits"], t_read_s=t_read_s, front_end="mirror",
                            stacking=stacking, adc_bits=m["adc_bits"],
                            adc_share=COLS // outs),
            programming_noise=False, read_noise=False, faults=False, drift=False,
            converter_noise=False)

    sa = build_converter(sa_card, m["adc_bits"], ideal=True)
    comp = components(hw(1e-9))
    c_bitline = ROWS * comp.cell_pitch_m * comp.c_wire_f_per_m
    return hw(sa.settling_time_s(c_bitline) + sa.conversion_time_s)


def evaluate(*, sa_card=SA_CARD, periphery_card=PERIPHERY) -> dict[str, dict]:
    """TOPS/W, latency [s], read window [s] and energy by component [J] of each mode."""
    out = {}
    for mode in MODES:
        hw = macro_hw(mode, sa_card=sa_card, periphery_card=periphery_card)
        rep = standard_tile_report(hw, batch=BATCH)
        out[mode] = {"tops_per_w": rep.tops_per_w, "latency_s": rep.latency_per_inference_s,
                     "t_read_s": hw.tile.t_read_s, "energy_j": rep.energy_per_inference_j,
                     "parts": {k: v for k, v in rep.breakdown_per_inference_j.items() if v}}
    return out


def _plot(out_dir: Path, res) -> Path:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    pub = {"tops_per_w": (target(NAME, "tops_w_binary").published,
                          target(NAME, "tops_w_8bit").published),
           "latency_s": (target(NAME, "latency_binary").published,
                         target(NAME, "latency_8bit").published)}
    for ax, key, unit, scale in ((axes[0], "tops_per_w", "TOPS/W", 1.0),
                                 (axes[1], "latency_s", "latency [ns]", 1e9)):
        sim = [res[m][key] * scale for m in MODES]
        x = range(len(MODES))
        ax.bar([v - 0.2 for v in x], pub[key], 0.4, label="published")
        ax.bar([v + 0.2 for v in x], sim, 0.4, label="cimsim")
        ax.set_xticks(list(x), list(MODES))
        ax.set_yscale("log")
        ax.set_ylabel(unit)
        ax.legend(fontsize=8)
    fig.suptitle("Hung 2021 RRAM macro from its circuits (22 nm)", fontsize=10)
    return save_figure(fig, out_dir, NAME)


def _parts(r) -> str:
    return ", ".join(f"{k} {v * 1e12:.3g} pJ" for k, v in
                     sorted(r["parts"].items(), key=lambda kv: -kv[1])[:4])


def run(out_dir: Path | None = None) -> Reproduction:
    res = evaluate()
    b, e = res["binary"], res["8-bit"]
    window = {m: f"read window {res[m]['t_read_s'] * 1e9:.3g} ns" for m in MODES}
    comparisons = [
        target(NAME, "tops_w_ratio").compare(b["tops_per_w"] / e["tops_per_w"]),
        target(NAME, "latency_ratio").compare(e["latency_s"] / b["latency_s"]),
        target(NAME, "latency_binary").compare(
            b["latency_s"] * 1e9, note=f"1 ns row load + {window['binary']} + 1 ns shift-add"),
        target(NAME, "latency_8bit").compare(
            e["latency_s"] * 1e9, note=f"8 bit planes, each 1 ns row load + "
                                       f"{window['8-bit']} + 1 ns shift-add"),
        target(NAME, "tops_w_binary").compare(
            b["tops_per_w"], note=f"{b['energy_j'] * 1e12:.3g} pJ per MVM ({_parts(b)})"),
        target(NAME, "tops_w_8bit").compare(
            e["tops_per_w"], note=f"{e['energy_j'] * 1e12:.3g} pJ per MVM ({_parts(e)})"),
    ]
    sa = cards.load(SA_CARD)
    sensitivities = []
    for field, scale in (("full_scale_a", 0.1), ("c_sense_f", 10.0)):
        card = sa.replace(**{field: sa.get(field) * scale})
        alt = evaluate(sa_card=card)
        for mode, key in (("binary", "tops_w_binary"), ("8-bit", "tops_w_8bit")):
            sensitivities.append(Sensitivity(
                f"{SA_CARD}.{field} x{scale:g}", target(NAME, key).quantity,
                res[mode]["tops_per_w"], alt[mode]["tops_per_w"], "TOPS/W"))
        for mode, key in (("binary", "latency_binary"), ("8-bit", "latency_8bit")):
            sensitivities.append(Sensitivity(
                f"{SA_CARD}.{field} x{scale:g}", target(NAME, key).quantity,
                res[mode]["latency_s"] * 1e9, alt[mode]["latency_s"] * 1e9, "ns"))
    per = cards.load(PERIPHERY)
    v_read = macro_hw("8-bit").tile.v_read_v
    alt = evaluate(periphery_card=per.replace(read_supply_v=v_read))
    for mode, key in (("binary", "tops_w_binary"), ("8-bit", "tops_w_8bit")):
        sensitivities.append(Sensitivity(
            f"{PERIPHERY}.read_supply_v {per.read_supply_v:g} -> {v_read:g} V (no clamp drop)",
            target(NAME, key).quantity, res[mode]["tops_per_w"], alt[mode]["tops_per_w"],
            "TOPS/W"))
    figures = [_plot(out_dir, res)] if out_dir is not None else []
    return Reproduction(
        name=NAME, citation=CITATION, comparisons=comparisons, figures=figures,
        summary=("The macro from its circuit description on cimsim's tile at 22 nm: binary "
                 "cells, 8-bit weights by weighted current stacking, bit-serial word-line "
                 "pulses, a current-mode sense-amplifier read-out per output sensing inside "
                 "the read window; every row is a prediction."),
        sensitivities=sensitivities, assumed=assumed_values(CARDS))
