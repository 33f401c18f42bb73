"""Tile packing: small matrices share physical tiles (cimsim.array.packing, Network.compile)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_energy import make_components
from test_network import small_net

from cimsim.array.packing import Block, pack_blocks
from cimsim.hardware import HardwareConfig
from cimsim.nn.models import load_bundled, load_digits_split
from cimsim.nn.network import PlacementConfig
from cimsim.ops import OpCounts
from cimsim.ppa.energy import tile_area_m2
from cimsim.ppa.report import build_report
from device_models.errors import InvalidParameterError


def test_first_fit_decreasing_by_hand():
    blocks = [Block("a", 0, 0, 9, 16), Block("b", 0, 0, 72, 32), Block("b", 0, 1, 72, 32),
              Block("c", 0, 0, 200, 20), Block("d", 0, 0, 64, 20)]
    plan = pack_blocks(blocks, 256, 64)
    # decreasing heights 200, 72, 72, 64, 9: tile A gets 200 (56 left) then 9; tile B gets
    # 72 + 72 + 64 = 208
    assert plan.n_tiles == 2
    by = {(b.layer, b.index): (t, r) for b, t, r in zip(plan.blocks, plan.tile_of, plan.row0,
                                                        strict=True)}
    assert by[("c", 0)][0] == by[("a", 0)][0] != by[("b", 0)][0]
    assert by[("b", 0)][0] == by[("b", 1)][0] == by[("d", 0)][0]
    assert plan.tile_of[0] == 0          # tiles numbered in network order
    assert plan.serialisation("b") == 2 and plan.serialisation("a") == 1
    assert plan.tiles_of("b") == [by[("b", 0)][0]]
    assert sum(plan.share(n) for n in plan.layers()) == pytest.approx(plan.n_tiles)
    used = sum(b.rows * b.cols for b in blocks)
    assert plan.utilisation == pytest.approx(used / (2 * 256 * 64))
    unpacked = pack_blocks(blocks, 256, 64, pack=False)
    assert unpacked.n_tiles == 5 and unpacked.serialisation("b") == 1
    assert unpacked.share("b") == pytest.approx(2.0)
    with pytest.raises(InvalidParameterError, match="blocks of 1..256 rows"):
        pack_blocks([Block("x", 0, 0, 300, 4)], 256, 64)


@settings(max_examples=60)
@given(heights=st.lists(st.integers(1, 64), min_size=1, max_size=40),
       widths=st.lists(st.integers(1, 32), min_size=40, max_size=40))
def test_packing_is_a_valid_floorplan(heights, widths):
    """Blocks on a tile never share a word line and fit its rows; the tile count lies between
    the area bound and one tile per block."""
    blocks = [Block(f"l{i % 5}", 0, i, h, widths[i]) for i, h in enumerate(heights)]
    plan = pack_blocks(blocks, 64, 32)
    for t in range(plan.n_tiles):
        spans = sorted((r, r + b.rows) for b, tt, r in zip(plan.blocks, plan.tile_of,
                                                           plan.row0, strict=True) if tt == t)
        assert spans and spans[-1][1] <= 64
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert math.ceil(sum(heights) / 64) <= plan.n_tiles <= len(blocks)
    assert sum(plan.share(n) for n in plan.layers()) == pytest.approx(plan.n_tiles)
    assert 0 < plan.utilisation <= 1


def test_packed_and_unpacked_outputs_agree_in_ideal_mode():
    net = small_net()
    x = np.abs(np.random.default_rng(12).standard_normal((10, 1, 8, 8)))
    hw = HardwareConfig.ideal()
    hw = hw.replace(tile=hw.tile.replace(rows=32, cols=16, adc_share=1))
    outs, tiles = {}, {}
    for pack in (False, True):
        net.compile(hw, x, placement=PlacementConfig(pack_tiles=pack))
        outs[pack] = net.run(x)
        tiles[pack] = net.n_tiles
    assert tiles[True] < tiles[False] == sum(m.n_tiles for m in net.mapping)
    np.testing.assert_array_equal(outs[True], outs[False])
    np.testing.assert_allclose(outs[True], net.forward(x), rtol=1e-6,
                               atol=1e-6 * np.abs(outs[False]).max())


def test_packing_lowers_the_demo_tile_count_area_and_leakage():
    net = load_bundled("digits_cnn_relu")
    data = load_digits_split()
    x, y = data["x_test"][:40], data["y_test"][:40]
    rep, ev = {}, {}
    for pack in (False, True):
        net.compile(HardwareConfig(), placement=PlacementConfig(pack_tiles=pack))
        ev[pack] = net.evaluate(x, y)
        rep[pack] = net.report(ev[pack])
    assert rep[False].n_tiles_total == 3 and rep[True].n_tiles_total == 1
    assert ev[True].analog_accuracy == ev[False].analog_accuracy   # same programmed cells
    assert rep[True].area_m2 < rep[False].area_m2 / 2
    assert rep[True].leakage_j < rep[False].leakage_j
    # one inference is no slower; a batch is: the shared tile serialises the three layers
    assert rep[True].latency_per_inference_s == pytest.approx(
        rep[False].latency_per_inference_s, rel=1e-12, abs=0.0)
    assert rep[True].batch_time_s > rep[False].batch_time_s
    assert net.utilisation == pytest.approx(
        sum(m.utilisation for m in net.mapping), rel=1e-12)   # all three on the one tile


def test_report_of_a_packed_floorplan_by_hand():
    """Two blocks of layer 'a' and one of 'b' on one tile: 'a' is read twice over, the tile
    is one pipeline stage for both, the area is one tile split by used cells."""
    plan = pack_blocks([Block("a", 0, 0, 64, 100), Block("a", 0, 1, 64, 100),
                        Block("b", 0, 0, 128, 50)], 256, 256)
    assert plan.n_tiles == 1 and plan.serialisation("a") == 2
    comp = make_components()
    c = OpCounts(macs=1000, cycles=2, adc_rounds=8)    # two blocks in parallel, one vector
    cb = OpCounts(macs=500, cycles=1, adc_rounds=8)
    rep = build_report({"a": c, "b": cb}, HardwareConfig(), batch=1, n_tiles={"a": 2, "b": 1},
                       comp=comp, floorplan=plan)
    t_block = 1e-9 + 10e-9 + 1e-9 + 8 * 10e-9       # DAC + read + shift-add + 8 rounds
    assert rep.layers["a"].time_s == pytest.approx(2 * t_block, rel=1e-12, abs=0.0)
    assert rep.layers["b"].time_s == pytest.approx(t_block, rel=1e-12, abs=0.0)
    assert rep.stage_time_s == pytest.approx(3 * t_block, rel=1e-12, abs=0.0)
    a_tile = tile_area_m2(comp)
    assert rep.layers["a"].area_m2 == pytest.approx(a_tile * 12800 / 19200, rel=1e-12, abs=0.0)
    assert rep.area_m2 == pytest.approx(a_tile + comp.a_digital_m2, rel=1e-12, abs=0.0)
    assert rep.n_tiles_total == 1
    rep4 = build_report({"a": c.__class__(**{k: 4 * v for k, v in c.to_dict().items()}),
                         "b": cb.__class__(**{k: 4 * v for k, v in cb.to_dict().items()})},
                        HardwareConfig(), batch=4, n_tiles={"a": 2, "b": 1}, comp=comp,
                        floorplan=plan)
    assert rep4.batch_time_s == pytest.approx(3 * t_block + 3 * 3 * t_block, rel=1e-12, abs=0.0)


# -------------------------------------------------------------------------------------------
# automatic hybrid placement
# -------------------------------------------------------------------------------------------


def _score(name, score):
    from cimsim.nn.network import VolatilityScore

    return VolatilityScore(name, 0.0, 0.0, 0.0, score)


def test_budget_moves_the_most_volatile_layers_that_fit():
    macs = {"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0}
    scores = [_score("a", 0.1), _score("b", 0.5), _score("c", 0.3), _score("d", 0.0)]
    pick = {b: PlacementConfig.from_budget(scores, macs, digital_mac_budget=b).digital
            for b in (0.0, 0.1, 0.3, 0.45, 0.5, 1.0)}
    assert pick[0.0] == ()
    assert pick[0.1] == ()                       # b (30 %) and c (15 %) do not fit
    assert pick[0.3] == ("b",)                   # most volatile first
    assert pick[0.45] == ("b", "c")
    assert pick[0.5] == ("b", "c")               # a (50 %) no longer fits; d has score 0
    assert pick[1.0] == ("b", "c", "a")          # a zero score never moves
    pl = PlacementConfig.from_budget(scores, macs, digital_mac_budget=0.3, pack_tiles=False)
    assert pl.pack_tiles is False and pl.placement_of("b") == "digital"
    with pytest.raises(InvalidParameterError, match="digital_mac_budget"):
        PlacementConfig.from_budget(scores, macs, digital_mac_budget=1.5)


def test_demo_json_reports_tiles_and_the_placement_tradeoff(capsys):
    import json

    from cimsim.cli import main

    assert main(["demo", "--json", "--n", "40"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_tiles_total"] == 1                    # packed: the three layers on one tile
    assert sum(lay["n_tiles"] for lay in out["layers"]) == 3
    assert all(lay["physical_tiles"] == [0] for lay in out["layers"])
    assert 0.0 < out["utilisation"] < 1.0
    assert out["energy_breakdown_per_inference_j"]["leakage"] > 0.0
    rows = out["placement_tradeoff"]
    assert [r["digital_mac_budget"] for r in rows] == [0.0, 0.05, 0.25, 1.0]
    assert rows[0]["digital_layers"] == [] and rows[0]["analog_accuracy"] == \
        out["analog_accuracy"]
    for r in rows:
        assert r["digital_mac_share"] <= r["digital_mac_budget"] + 1e-12
        assert r["energy_per_inference_j"] > 0.0 and 0.0 < r["analog_accuracy"] <= 1.0
    assert rows[-1]["n_tiles_total"] == 0 and rows[-1]["analog_accuracy"] == \
        out["float_accuracy"]                           # all digital: the float network
