"""Interfaces for scientific Python: TOML save/load, notebook HTML, pandas and xarray views."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from cimsim import HardwareConfig, TileConfig
from cimsim.config import Config, param
from cimsim.ppa.report import standard_tile_report
from cimsim.study import sweep
from cimsim.study.store import load
from device_models import cards
from device_models.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


# --- TOML ----------------------------------------------------------------------------------

@pytest.mark.parametrize("hw", [
    HardwareConfig(),
    HardwareConfig.ideal(temperature_k=350.0, t_s=3600.0),
    HardwareConfig(device_card=cards.load("yao2020_taox_1t1r").replace(tolerance_frac=0.05,
                                                                      v0_v=0.4))
    .replace_path("tile.cell", "1t1r").replace_path("tile.v_gate_v", 0.7),
    HardwareConfig(device_card="joshi2020_pcm", adc_card=cards.load("liu2010_sar_10b")),
], ids=["default", "ideal", "card-value-1t1r", "pcm"])
def test_hardware_config_round_trips_through_toml(tmp_path, hw):
    path = tmp_path / "chip.toml"
    text = hw.to_toml(path)
    assert path.read_text() == text
    back = HardwareConfig.from_toml(path)
    assert back == hw
    assert back.card() == hw.card() and back.card().sha256 == hw.card().sha256
    tomllib.loads(text)   # plain TOML that any reader takes


def test_card_values_keep_their_modified_fields_in_toml(tmp_path):
    card = cards.load("yao2020_taox_1t1r").replace(tolerance_frac=0.05)
    HardwareConfig(device_card=card).to_toml(tmp_path / "c.toml")
    back = HardwareConfig.from_toml(tmp_path / "c.toml")
    assert back.card().modified == ("tolerance_frac",) and back.card().tolerance_frac == 0.05


def test_to_toml_refuses_what_would_not_read_back():
    @dataclasses.dataclass(frozen=True)
    class Opt(Config):
        limit: float | None = param(1.0, doc="A limit, or None for none.")

    assert Opt.from_dict(tomllib.loads(Opt().to_toml())) == Opt()
    with pytest.raises(ConfigError, match="does not read back"):
        Opt(limit=None).to_toml()


def test_to_toml_names_an_unwritable_path(tmp_path):
    with pytest.raises(ConfigError, match="cannot be written"):
        TileConfig().to_toml(tmp_path / "missing" / "tile.toml")


def test_example_chip_file_loads_and_saves_unchanged(tmp_path):
    hw = HardwareConfig.from_toml(EXAMPLES / "chip_1t1r.toml")
    assert hw.tile.cell == "1t1r" and hw.card().kind == "1t1r"
    hw.to_toml(tmp_path / "again.toml")
    assert HardwareConfig.from_toml(tmp_path / "again.toml") == hw


# --- notebook HTML ---------------------------------------------------------------------------

def test_card_html_lists_every_value_with_unit_and_source():
    card = cards.load("liu2010_sar_10b")
    html = card._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == len(card.values) + 1
    for field, unit in card.units.items():
        assert f"<td style='text-align:left'>{field}</td>" in html
        assert unit.replace("&", "&amp;") in html
    assert str(card.source.year) in html and card.name in html


def test_config_html_nests_sub_configs_and_names_card_values():
    card = cards.load("yao2020_taox_1t1r").replace(tolerance_frac=0.05)
    html = HardwareConfig(device_card=card)._repr_html_()
    assert html.count("<table>") == 3          # the chip, its tile and its neurons
    assert "modified: tolerance_frac" in html and "adc_bits" in html and "[K]" in html


def test_html_escapes_text():
    @dataclasses.dataclass(frozen=True)
    class Opt(Config):
        mode: str = param("a<b", doc="Either a<b or c&d.")

    html = Opt()._repr_html_()
    assert "<caption style='text-align:left'>Opt</caption>" in html
    assert "a&lt;b" in html and "c&amp;d" in html and "a<b" not in html


def test_report_html_and_dataframe_agree_with_the_report():
    pd = pytest.importorskip("pandas")
    rep = standard_tile_report(batch=16)
    html = rep._repr_html_()
    assert "network" in html and "energy per inference by line" in html
    df = rep.to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.index) == [*rep.layers, "chip"]
    assert math.isclose(df["energy_per_inference_j"].sum(), rep.energy_per_inference_j,
                        rel_tol=1e-12)
    assert math.isclose(df["area_m2"].sum(), rep.area_m2, rel_tol=1e-12)
    for line, e in rep.breakdown_per_inference_j.items():
        assert math.isclose(df[f"energy_{line}_j"].sum(), e, rel_tol=1e-12, abs_tol=1e-30)
    assert df.loc["tile", "macs"] == rep.macs / rep.batch


# --- xarray --------------------------------------------------------------------------------

GRID = {
    "sweep": {"job": "adc_enob", "seed": 1},
    "options": {"n_samples": 256},
    "grid": {"tile.adc_bits": [4, 6, 8], "temperature_k": [250.0, 350.0]},
}


def test_grid_sweep_as_xarray_is_labelled_by_its_fields(tmp_path):
    xr = pytest.importorskip("xarray")
    out = tmp_path / "grid.h5"
    sweep.run_sweep(GRID, out, workers=0, progress=False)
    res = load(out)
    ds = res.to_xarray()
    assert isinstance(ds, xr.Dataset)
    assert ds["enob"].dims == ("tile.adc_bits", "temperature_k")
    assert ds["tile.adc_bits"].values.tolist() == [4, 6, 8]
    assert ds["temperature_k"].values.tolist() == [250.0, 350.0]
    for i in range(res.status.size):
        bits, temp = res.fields["tile.adc_bits"][i], res.fields["temperature_k"][i]
        point = ds.sel({"tile.adc_bits": bits, "temperature_k": temp})
        for name, col in res.metrics.items():
            assert point[name].item() == col[i]
        assert point["status"].item() == "done"
    assert ds.attrs["job"] == "adc_enob"
    # ENOB grows with the converter's bits at either temperature
    assert np.all(np.diff(ds["enob"].values, axis=0) > 0)


def test_list_sweep_as_xarray_has_one_point_dimension(tmp_path):
    pytest.importorskip("xarray")
    spec = {"sweep": {"job": "adc_enob", "seed": 1}, "options": {"n_samples": 256},
            "list": [{"tile.adc_bits": 4, "temperature_k": 300.0},
                     {"tile.adc_bits": 6, "temperature_k": 300.0},
                     {"tile.adc_bits": 6, "temperature_k": 350.0}]}
    out = tmp_path / "list.h5"
    sweep.run_sweep(spec, out, workers=0, progress=False)
    ds = load(out).to_xarray()
    assert ds["enob"].dims == ("point",) and ds.sizes["point"] == 3
    assert ds["tile.adc_bits"].values.tolist() == [4, 6, 6]
