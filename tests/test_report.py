"""cimsim.ppa.report: figures per operation, layer and network; export; hand-worked tile MVM."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_energy import make_components

from cimsim.hardware import HardwareConfig
from cimsim.ops import OpCounts
from cimsim.ppa.energy import ENERGY_KINDS
from cimsim.ppa.report import (
    Report,
    build_report,
    energy_delay_distance,
    energy_delay_sum,
    load_report,
    standard_tile_report,
)
from device_models.errors import InvalidParameterError, StoreError

HW = HardwareConfig()


def scaled(c: OpCounts, k: int) -> OpCounts:
    return OpCounts(**{f.name: getattr(c, f.name) * k for f in dataclasses.fields(c)})


def two_layer_counts() -> dict[str, OpCounts]:
    a = OpCounts(macs=256 * 128 * 4, cycles=4, dac_conversions=1024, cell_reads=4 * 65536,
                 cell_read_energy_j=2e-11, row_drive_v2=40.0, adc_conversions=1024,
                 adc_switching_energy_j=3e-12, adc_rounds=32, shift_adds=1024,
                 sram_read_bits=8192, sram_write_bits=4096)
    b = OpCounts(macs=128 * 10 * 4, cycles=4, dac_conversions=512, cell_reads=4 * 2560,
                 cell_read_energy_j=1e-12, row_drive_v2=20.0, adc_conversions=80,
                 adc_switching_energy_j=2e-13, adc_rounds=32, shift_adds=80,
                 sram_read_bits=4096, sram_write_bits=320)
    return {"fc1": a, "fc2": b}


def report_of(counts, batch=4, **kw) -> Report:
    return build_report(counts, HW, batch=batch, n_tiles={"fc1": 1, "fc2": 1},
                        comp=make_components(), **kw)


def test_hand_worked_256x256_tile_mvm():
    """One 256x256 tile, one 8-bit amplitude-encoded vector, worked by hand."""
    rng = np.random.default_rng(0)
    g_s = rng.uniform(1e-6, 50e-6, size=(256, 256))  # [S]
    codes = rng.integers(0, 256, size=256)
    v_read_v, t_read_s = 0.2, 10e-9
    v = v_read_v * codes / 255.0  # row voltages [V]
    # Σ V·I·t over every cell: each cell carries I = G·V for the read time.
    e_cells = float(np.sum(v[:, None] ** 2 * g_s) * t_read_s)
    active = int(np.count_nonzero(codes))
    counts = OpCounts(
        macs=256 * 128,  # differential: 128 logical outputs
        cycles=1, dac_conversions=active, cell_reads=active * 256,
        cell_read_energy_j=e_cells, row_drive_v2=float(np.sum(v**2)),
        adc_conversions=256, adc_switching_energy_j=256 * 0.4e-12, adc_rounds=8,
        shift_adds=128, sram_read_bits=256 * 8, sram_write_bits=128 * 8,
    )
    comp = make_components(t_read_s=t_read_s)
    rep = build_report({"tile": counts}, HW, batch=1, n_tiles={"tile": 1}, comp=comp)
    e = rep.energy_breakdown_j
    # By hand, with the numbers of make_components():
    c_row = 256 * 100e-9 * 2e-10  # cols · pitch · c_wire [F] = 5.12 fF
    by_hand = {
        "array_read": e_cells,
        "wire_charging": c_row * float(np.sum(v**2)),
        "dac": active * 50e-15,
        "integrator": 256 * 1e-15,
        "adc": 256 * 0.4e-12 + 256 * (20e-15 + 100e-15),
        "shift_add": 128 * 0.05e-12,
        "sram": (2048 + 1024) * 10e-12 / 64,
        "digital": 0.0,
    }
    a_tile = (65536 * 1e-14 + 32 * (1e-9 + 80e-12) + 256 * 1e-11 + 256 * 4e-14
              + 65536 * 0.346e-12)
    by_hand["interconnect"] = 1024 * math.sqrt(a_tile) * 0.5 * 2e-10 * 0.9**2
    for k, val in by_hand.items():
        assert e[k] == pytest.approx(val, rel=1e-12, abs=1e-30), k
    t_cycle = 1e-9 + t_read_s + 8 * 10e-9 + 1e-9  # DAC + read + 8 ADC rounds + shift-add
    assert rep.latency_per_inference_s == pytest.approx(t_cycle, rel=1e-12, abs=0.0)
    # the tile and the chip's digital unit (64 lanes of make_components())
    assert rep.area_m2 == pytest.approx(a_tile + 64 * 419e-12, rel=1e-12, abs=0.0)
    assert rep.layers["tile"].area_m2 == pytest.approx(a_tile, rel=1e-12, abs=0.0)
    total = sum(by_hand.values())
    assert rep.energy_per_inference_j == pytest.approx(total, rel=1e-12, abs=0.0)
    assert rep.tops_per_w == pytest.approx(2 * 256 * 128 / total / 1e12, rel=1e-12)
    assert rep.tops == pytest.approx(2 * 256 * 128 / t_cycle / 1e12, rel=1e-12)
    assert rep.tops_per_mm2 == pytest.approx(rep.tops / (rep.area_m2 * 1e6), rel=1e-12)
    assert rep.edp_js == pytest.approx(total * t_cycle, rel=1e-12, abs=0.0)


def test_additivity_network_layers_operations():
    counts = two_layer_counts()
    rep = report_of(counts, digital_macs={"fc2": 100, "softmax_head": 50})
    assert list(rep.layers) == ["fc1", "fc2", "softmax_head"]
    by_layers = sum(lay.energy_total_j for lay in rep.layers.values())
    by_ops = sum(rep.energy_breakdown_j.values())
    assert rep.energy_j == pytest.approx(by_layers, rel=1e-12, abs=0.0)
    assert rep.energy_j == pytest.approx(by_ops, rel=1e-12, abs=0.0)
    for k in ENERGY_KINDS:
        assert rep.energy_breakdown_j[k] == pytest.approx(
            sum(lay.energy_j[k] for lay in rep.layers.values()), rel=1e-12, abs=1e-30)
    assert rep.macs == sum(c.macs for c in counts.values()) + 150
    assert rep.latency_per_inference_s == pytest.approx(
        sum(lay.latency_per_inference_s for lay in rep.layers.values()), rel=1e-12, abs=0.0)
    assert rep.area_m2 == pytest.approx(sum(lay.area_m2 for lay in rep.layers.values())
                                        + rep.digital_area_m2, rel=1e-6, abs=0.0)
    # A layer's counts split in two calls give the same report as the summed counts.
    half = {"fc1": counts["fc1"], "fc2": counts["fc2"]}
    rep2 = report_of({k: v + OpCounts() for k, v in half.items()})
    assert rep2.energy_j == pytest.approx(report_of(counts).energy_j, rel=1e-12, abs=0.0)


def test_linear_scaling_with_batch():
    counts = two_layer_counts()
    r1 = report_of(counts, batch=4)
    r3 = report_of({k: scaled(v, 3) for k, v in counts.items()}, batch=12)
    assert r3.energy_j == pytest.approx(3 * r1.energy_j, rel=1e-12, abs=0.0)
    assert r3.energy_per_inference_j == pytest.approx(r1.energy_per_inference_j, rel=1e-12, abs=0.0)
    assert r3.latency_per_inference_s == pytest.approx(r1.latency_per_inference_s, rel=1e-12,
                                                       abs=0.0)
    assert r3.ops == 3 * r1.ops
    assert r3.tops_per_w == pytest.approx(r1.tops_per_w, rel=1e-12)
    for k in ENERGY_KINDS:
        assert r3.energy_breakdown_j[k] == pytest.approx(3 * r1.energy_breakdown_j[k],
                                                         rel=1e-12, abs=1e-30)
    # Pipelining: a bigger batch amortises the fill, so throughput does not fall.
    assert r3.throughput_per_s >= r1.throughput_per_s



def test_layer_reference_is_per_inference_and_eds_invariant_to_batch():
    """A layer's EDS/EDD reference is its MACs per inference on the digital unit:
    fc1 = 131072 MACs over a batch of 4 = 32768 per inference, 32768 · 0.3 pJ and
    32768 / 64 G/s = 512 ns; so scaling the counts and the batch together leaves EDS and EDD
    (of each layer and of the network) unchanged."""
    counts = two_layer_counts()
    r1 = report_of(counts, batch=4)
    fc1 = r1.layers["fc1"]
    assert fc1.macs == 131072
    assert fc1.energy_ref_j == pytest.approx(32768 * 0.3e-12, rel=1e-12, abs=0.0)
    assert fc1.delay_ref_s == pytest.approx(512e-9, rel=1e-12, abs=0.0)
    r3 = report_of({k: scaled(v, 3) for k, v in counts.items()}, batch=12)
    for name in ("fc1", "fc2"):
        a, b = r1.layers[name], r3.layers[name]
        assert b.energy_ref_j == pytest.approx(a.energy_ref_j, rel=1e-12, abs=0.0), name
        assert b.eds() == pytest.approx(a.eds(), rel=1e-12, abs=0.0), name
        assert b.edd() == pytest.approx(a.edd(), rel=1e-12, abs=0.0), name
    assert r3.eds() == pytest.approx(r1.eds(), rel=1e-12, abs=0.0)
    assert r3.edd() == pytest.approx(r1.edd(), rel=1e-12, abs=0.0)


def test_slow_digital_unit_sets_the_pipeline_stage():
    """The digital unit runs every layer's digital work: two digital heads of 3840 MACs per
    inference at 64 G/s (60 ns each) load it for 120 ns per inference, more than the analog
    layer's 4·12 ns + 32·10 ns over 4 inferences = 92 ns or any one layer; so the stage is
    120 ns and the batch of 4 takes Σ T_l + 3·T_stage = 212 ns + 360 ns."""
    fc = OpCounts(macs=4 * 1000, cycles=4, adc_rounds=32)
    rep = build_report({"fc": fc}, HW, batch=4, n_tiles={"fc": 1},
                       digital_macs={"head1": 4 * 3840, "head2": 4 * 3840},
                       comp=make_components())
    assert rep.layers["fc"].latency_per_inference_s == pytest.approx(92e-9, rel=1e-12,
                                                                     abs=0.0)
    assert rep.layers["head1"].latency_per_inference_s == pytest.approx(60e-9, rel=1e-12,
                                                                        abs=0.0)
    assert rep.latency_per_inference_s == pytest.approx(212e-9, rel=1e-12, abs=0.0)
    assert rep.stage_time_s == pytest.approx(120e-9, rel=1e-12, abs=0.0)
    assert rep.batch_time_s == pytest.approx(212e-9 + 3 * 120e-9, rel=1e-12, abs=0.0)


def test_program_energy_is_summed_over_layers():
    """Programming energy and pulses of the network are the sums over its layers."""
    prog = {"fc1": OpCounts(program_pulses=5, program_energy_j=1e-9),
            "fc2": OpCounts(program_pulses=7, program_energy_j=2e-9)}
    rep = report_of(two_layer_counts(), program_counts=prog)
    assert rep.program_energy_j == pytest.approx(3e-9, rel=1e-12, abs=0.0)
    assert rep.program_pulses == 12
    assert rep.metrics()["program_energy_j"] == pytest.approx(3e-9, rel=1e-12, abs=0.0)

def test_adc_share_trade_off_in_report():
    """Sharing more columns per ADC: less area, more latency (same counts otherwise)."""
    areas, lats = [], []
    for share in (2, 8, 32):
        c = OpCounts(macs=256 * 256, cycles=1, adc_conversions=256, adc_rounds=share)
        rep = build_report({"t": c}, HW, batch=1, n_tiles={"t": 1},
                           comp=make_components(adc_share=share))
        areas.append(rep.area_m2)
        lats.append(rep.latency_per_inference_s)
    assert areas[0] > areas[1] > areas[2]
    assert lats[0] < lats[1] < lats[2]


counts_strategy = st.builds(
    OpCounts,
    macs=st.integers(0, 10**9), cycles=st.integers(0, 10**6),
    dac_conversions=st.integers(0, 10**8), cell_reads=st.integers(0, 10**10),
    cell_read_energy_j=st.floats(0, 1e-3), row_drive_v2=st.floats(0, 1e6),
    adc_conversions=st.integers(0, 10**8), adc_switching_energy_j=st.floats(0, 1e-3),
    adc_rounds=st.integers(0, 10**8), shift_adds=st.integers(0, 10**8),
    sram_read_bits=st.integers(0, 10**9), sram_write_bits=st.integers(0, 10**9),
    program_pulses=st.integers(0, 10**6), program_energy_j=st.floats(0, 1e-3),
)


@settings(max_examples=60)
@given(c=counts_strategy, batch=st.integers(1, 1000), tiles=st.integers(1, 64),
       dmacs=st.integers(0, 10**7))
def test_non_negative_and_finite(c, batch, tiles, dmacs):
    rep = build_report({"l": c}, HW, batch=batch, n_tiles={"l": tiles},
                       digital_macs={"l": dmacs}, program_counts=c, comp=make_components())
    for v in rep.energy_breakdown_j.values():
        assert v >= 0.0 and math.isfinite(v)
    m = rep.metrics()
    for k, v in m.items():
        assert math.isfinite(v) and v >= 0.0, k
    assert rep.program_energy_j == c.program_energy_j
    # Programming energy is reported apart from inference energy.
    assert rep.energy_j == pytest.approx(sum(rep.energy_breakdown_j.values()), rel=1e-9, abs=1e-30)


def test_eds_edd_definitions():
    assert energy_delay_sum(2.0, 3.0, energy_ref_j=4.0, delay_ref_s=6.0) == pytest.approx(0.5)
    assert energy_delay_sum(2.0, 3.0, energy_ref_j=4.0, delay_ref_s=6.0, w_energy=1.0,
                            w_delay=0.0) == pytest.approx(0.5)
    assert energy_delay_distance(3.0, 4.0, energy_ref_j=1.0, delay_ref_s=1.0) == 5.0
    with pytest.raises(InvalidParameterError, match="energy_ref_j"):
        energy_delay_sum(1.0, 1.0, energy_ref_j=0.0, delay_ref_s=1.0)
    # the energy and delay are checked like the references (a path raised TypeError)
    with pytest.raises(InvalidParameterError, match="'energy_j' parameter of energy_delay_sum"):
        energy_delay_sum(Path("e"), 0.0, energy_ref_j=1.0, delay_ref_s=1.0)
    with pytest.raises(InvalidParameterError, match="'delay_s' parameter of energy_delay_sum"):
        energy_delay_sum(1.0, -1.0, energy_ref_j=1.0, delay_ref_s=1.0)
    rep = report_of(two_layer_counts())
    m = rep.metrics()
    e_rel = rep.energy_per_inference_j / m["energy_ref_j"]
    d_rel = rep.latency_per_inference_s / m["delay_ref_s"]
    assert rep.eds() == pytest.approx(0.5 * e_rel + 0.5 * d_rel, rel=1e-12)
    assert rep.edd() == pytest.approx(math.hypot(e_rel, d_rel), rel=1e-12)
    fixed = report_of(two_layer_counts(), energy_ref_j=1e-9, delay_ref_s=1e-6)
    assert fixed.edd() == pytest.approx(
        math.hypot(rep.energy_per_inference_j / 1e-9, rep.latency_per_inference_s / 1e-6))


def test_round_trips_dict_and_hdf5(tmp_path):
    rep = report_of(two_layer_counts(), digital_macs={"head": 77},
                    program_counts={"fc1": OpCounts(program_pulses=5, program_energy_j=1e-9)})
    d = rep.to_dict()
    json.dumps(d)  # JSON-able
    back = Report.from_dict(d)
    assert back.metrics() == pytest.approx(rep.metrics(), rel=1e-12, abs=0.0)
    path = rep.to_hdf5(tmp_path / "r.h5")
    with h5py.File(path, "r") as fh:
        assert fh.attrs["tops_per_w"] == pytest.approx(rep.tops_per_w)
        assert list(fh["breakdown_j"].attrs["kinds"]) == [*ENERGY_KINDS, "leakage"]
        assert "fc1" in fh["layers"]
    loaded = load_report(path)
    assert loaded.metrics() == pytest.approx(rep.metrics(), rel=1e-12, abs=0.0)
    assert loaded.program_pulses == 5


def test_bad_inputs(tmp_path):
    counts = two_layer_counts()
    with pytest.raises(InvalidParameterError, match="'batch' parameter of build_report"):
        build_report(counts, HW, batch=0, n_tiles={"fc1": 1, "fc2": 1}, comp=make_components())
    with pytest.raises(InvalidParameterError, match="n_tiles"):
        build_report(counts, HW, batch=1, n_tiles={"fc1": 1}, comp=make_components())
    with pytest.raises(InvalidParameterError, match="'hw' parameter"):
        build_report(counts, {"tile": 1}, batch=1, comp=make_components())
    with pytest.raises(InvalidParameterError, match="Report.from_dict"):
        Report.from_dict({"format": "nope"})
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(StoreError, match="cannot be read"):
        load_report(bad)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as fh:
        fh.attrs["x"] = 1
    with pytest.raises(StoreError, match="not a cimsim report"):
        load_report(other)


def test_table_and_plot(tmp_path):
    rep = report_of(two_layer_counts(), digital_macs={"head": 500})
    text = rep.table()
    for word in ("fc1", "fc2", "head", "network", "array_read", "adc", "TOPS/W", "EDD"):
        assert word in text
    png = rep.plot(tmp_path / "breakdown.png")
    assert png.stat().st_size > 1000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def small_hw(**tile_changes) -> HardwareConfig:
    from cimsim.hardware import TileConfig

    return HardwareConfig(tile=TileConfig(rows=64, cols=64, **tile_changes))


def test_standard_tile_report_from_a_real_run():
    from cimsim.ppa.energy import components

    hw = small_hw()
    rep = standard_tile_report(hw, batch=8)
    comp = components(hw)
    lay = rep.layers["tile"]
    assert lay.n_tiles == 1 and lay.macs == 8 * 64 * 32  # differential: 32 outputs
    e = rep.energy_breakdown_j
    assert e["array_read"] > 0 and e["adc"] > 0 and e["dac"] > 0
    # The ADC term holds the converter model's switching energy plus comparator and logic.
    assert e["adc"] > e["integrator"] / comp.e_integrator_j * (comp.e_comparator_j
                                                                + comp.e_adc_logic_j)
    assert rep.tops_per_w > 0 and rep.program_energy_j > 0
    assert rep.energy_j == pytest.approx(sum(e.values()), rel=1e-12, abs=0.0)


def test_adc_share_in_real_tile_runs():
    r_few = standard_tile_report(small_hw(adc_share=16), batch=4)
    r_many = standard_tile_report(small_hw(adc_share=2), batch=4)
    assert r_few.area_m2 < r_many.area_m2
    assert r_few.latency_per_inference_s > r_many.latency_per_inference_s


def test_report_command(tmp_path, capsys):
    from cimsim.cli import main

    path = report_of(two_layer_counts()).to_hdf5(tmp_path / "r.h5")
    assert main(["report", str(path), "--plot", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert "fc1" in out and "TOPS/W" in out
    assert (tmp_path / "b.png").stat().st_size > 1000
    assert main(["report", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["network"]["tops_per_w"] == pytest.approx(load_report(path).tops_per_w)
    assert main(["report"]) == 2  # neither a file nor --tile: a clear error, exit code 2
    assert "must be given" in capsys.readouterr().err
