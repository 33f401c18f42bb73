"""Foundation: counter-based randomness, input checks, configs and parameter cards."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from cimsim.config import Config, param
from cimsim.hardware import HardwareConfig, TileConfig
from device_models import cards, rng
from device_models._checks import check_array, check_int, check_scalar
from device_models._jit import use_backend
from device_models.errors import CardError, ConfigError, InvalidParameterError, UnknownNameError

# --- randomness -----------------------------------------------------------------------------


def test_rng_kernel_equals_numpy_reference():
    key = rng.derive_key(7, "test")
    a = rng.uniform(key, (50, 41), offset=3)
    z = rng.standard_normal(key, (50, 41), offset=3)
    with use_backend("numpy"):
        b = rng.uniform(key, (50, 41), offset=3)
        zb = rng.standard_normal(key, (50, 41), offset=3)
    np.testing.assert_array_equal(a, b)        # integer hashing: bit for bit
    # Box-Muller: NumPy's SIMD log / cos (AVX-512 cores) and libm may differ in the last bit
    np.testing.assert_allclose(z, zb, rtol=1e-12, atol=0.0)


def test_rng_independent_of_chunking_and_threads():
    import numba

    key = rng.derive_key(11, "chunks")
    whole = rng.standard_normal(key, 10_000)
    parts = np.concatenate([rng.standard_normal(key, 3_333),
                            rng.standard_normal(key, 6_667, offset=3_333)])
    np.testing.assert_array_equal(whole, parts)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = rng.standard_normal(key, 10_000)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(whole, single)


def test_rng_statistics():
    z = rng.standard_normal(rng.derive_key(1), 200_000)
    assert abs(z.mean()) < 0.01
    assert abs(z.std() - 1.0) < 0.01
    assert abs(np.mean(z**4) - 3.0) < 0.05  # Gaussian kurtosis
    u = rng.uniform(rng.derive_key(2), 200_000)
    assert 0.0 < u.min() and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 0.005


def test_draws_that_do_not_fit_in_memory_name_the_shape():
    """2**50 draws (8 PiB) pass the size check (below MAX_OFFSET) but cannot be allocated: an
    error naming the shape and the size, still a MemoryError."""
    from device_models.errors import OutOfMemoryError

    for draw in (rng.standard_normal, rng.uniform):
        with pytest.raises(OutOfMemoryError, match=r"'shape' parameter .*8\.39e\+06 GiB"):
            draw(1, (2**25, 2**25))
    assert issubclass(OutOfMemoryError, MemoryError)


@pytest.mark.parametrize("shape", [(2**60, 0), (0, 2**59, 2**3)])
def test_an_empty_shape_with_an_oversized_axis_is_refused_by_name(shape):
    """NumPy cannot make an empty array whose non-zero axes hold more elements than it can
    address ((2**60, 0) raises its own ValueError): the size check counts them."""
    for draw in (rng.standard_normal, rng.uniform):
        with pytest.raises(InvalidParameterError, match=r"'shape' .*non-zero axes"):
            draw(1, shape)
    assert rng.uniform(1, (2**20, 0)).shape == (2**20, 0)


def test_keys_differ_by_seed_and_tag_and_accept_generator():
    assert rng.derive_key(1, "a") != rng.derive_key(1, "b")
    assert rng.derive_key(1, "a") != rng.derive_key(2, "a")
    assert rng.derive_key(np.random.default_rng(5)) == rng.derive_key(np.random.default_rng(5))
    with pytest.raises(InvalidParameterError, match="'seed'"):
        rng.derive_key(-1)


# --- checks ---------------------------------------------------------------------------------


def test_checks_name_the_argument():
    with pytest.raises(InvalidParameterError, match=r"'vgs' parameter of f must be finite"):
        check_array("vgs", [0.0, np.nan], "f")
    with pytest.raises(InvalidParameterError, match=r"'w_m' parameter of f must be > 0"):
        check_array("w_m", [-1.0], "f", positive=True)
    with pytest.raises(InvalidParameterError, match=r"'t' parameter of f must be > 0"):
        check_scalar("t", 0.0, "f", lo=0.0, lo_open=True)
    with pytest.raises(InvalidParameterError, match=r"'bits' parameter of f"):
        check_int("bits", 2.5, "f")
    from device_models._checks import check_binary

    x = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    assert check_binary("s", x, "f") is x                     # no copy of a real array
    with pytest.raises(InvalidParameterError, match=r"'s' parameter of f .* 2\.0 at index "
                                                    r"\(1, 0\)"):
        check_binary("s", [[0, 1], [2, 0]], "f")
    with pytest.raises(InvalidParameterError, match="nan at index"):
        check_binary("s", [1.0, np.nan], "f")



def test_check_messages_stay_short_for_a_name_that_is_a_value():
    """Public checkers pass their ``name``/``caller`` through (check_digital_ops); a huge
    value there is shown as a value is, not printed whole."""
    from cimsim.ppa.energy import check_digital_ops

    with pytest.raises(InvalidParameterError, match=r"The array of shape \(300, 300\) "
                                                    r"parameter of f") as info:
        check_digital_ops(np.zeros(3), "f", np.zeros((300, 300)))
    assert len(str(info.value)) < 300
    with pytest.raises(InvalidParameterError, match=r"The 'xxxx.*\.\.\. parameter"):
        check_scalar("x" * 500, np.nan, "f")


# --- configs --------------------------------------------------------------------------------


def test_config_round_trip_and_errors(tmp_path):
    hw = HardwareConfig().replace_path("tile.adc_bits", 6)
    assert HardwareConfig.from_dict(hw.to_dict()) == hw
    with pytest.raises(ConfigError, match=r"'adc_bits' field of TileConfig must be in \[1, 20\]"):
        TileConfig(adc_bits=0)
    with pytest.raises(ConfigError, match="Unknown field"):
        HardwareConfig.from_dict({"temperature": 300})
    with pytest.raises(ConfigError, match="'input_encoding'"):
        TileConfig(input_encoding="morse")
    with pytest.raises(ConfigError, match="'bits_per_cell'"):
        TileConfig(weight_bits=4, bits_per_cell=8)
    path = tmp_path / "hw.toml"
    path.write_text('temperature_k = 350.0\n[tile]\nrows = 128\n')
    hw2 = HardwareConfig.from_toml(path)
    assert hw2.temperature_k == 350.0 and hw2.tile.rows == 128
    path.write_text("temperature_k = = 3")
    with pytest.raises(ConfigError, match="malformed TOML"):
        HardwareConfig.from_toml(path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.temperature_k = 1.0


def test_config_subclass_declares_units_and_ranges():
    @dataclasses.dataclass(frozen=True)
    class Demo(Config):
        v_v: float = param(0.5, unit="V", lo=0.0, hi=1.0, doc="A voltage [V].")

    assert Demo().v_v == 0.5
    with pytest.raises(ConfigError, match=r"'v_v' field of Demo must be a real number in \[0.0"):
        Demo(v_v="x")
    assert Demo.describe()[0][:2] == ("v_v", "V")


def test_config_tuple_of_names_checks_its_entries():
    """A ``tuple[str, ...]`` field takes a list or tuple of strings (a nested list made the
    placement's set operations raise TypeError: unhashable type)."""
    from cimsim.nn.network import PlacementConfig

    assert PlacementConfig(digital=["fc"]).digital == ("fc",)
    with pytest.raises(ConfigError, match=r"'digital' field of PlacementConfig must be a tuple "
                                          r"of str values"):
        PlacementConfig(digital=[[1.0, 2.0], [3.0]])
    with pytest.raises(ConfigError, match="'analog' field"):
        PlacementConfig(analog=("fc", 3))
    assert PlacementConfig.from_dict(PlacementConfig(digital=("a", "b")).to_dict()).digital == (
        "a", "b")


# --- cards ----------------------------------------------------------------------------------


def test_every_bundled_card_loads_with_source_and_units():
    assert cards.names(), "no cards bundled"
    for name in cards.names():
        card = cards.load(name)
        assert card.kind in cards.kinds()
        for f in ("authors", "title", "venue", "year", "figure"):
            assert getattr(card.source, f)
        spec = cards.kind_spec(card.kind)
        for key in card.values:
            assert card.units[key] == spec[key].unit
        assert cards.Card.from_dict(card.to_dict()).values == card.values


#: Phrases that tell how or when a value was looked up (a note cites where the value comes from
#: and whether it is measured, derived or assumed; it does not narrate the look-up).
_NARRATION = ("search tool", "this session", "find_string", "re-checked", "re-verified",
              "cross-checked", "not checked", "not verified", "verified with", "digest",
              "accessible", "retrieved", "found with", "not found", "available to us", "mirror")


def test_card_notes_cite_and_do_not_narrate():
    bundled = Path(cards.__file__).parent
    for path in [*bundled.glob("*.toml"), *bundled.glob("kinds/*.toml")]:
        text = path.read_text(encoding="utf-8").lower()
        text = text.replace("digest of technical papers", "")  # an ISSCC venue name
        bad = [w for w in _NARRATION if w in text]
        assert not bad, f"{path.name}: {bad}"


def test_unknown_card_lists_known_names():
    with pytest.raises(UnknownNameError, match="Known cards"):
        cards.load("no_such_card")


_GOOD = """kind = "mosfet"
[source]
authors = "A. Author"
title = "T"
venue = "V"
year = 2000
figure = "Table 1"
[values]
polarity = { value = "n", unit = "-" }
node_m = { value = 180e-9, unit = "m" }
vdd_v = { value = 1.8, unit = "V" }
w_m = { value = 1e-6, unit = "m" }
l_m = { value = 1e-6, unit = "m" }
vt0_v = { value = 0.45, unit = "V" }
vt0_tc_v_per_k = { value = -1e-3, unit = "V/K" }
slope_factor_n = { value = 1.3, unit = "-" }
mobility_m2_per_vs = { value = 0.03, unit = "m^2/(V*s)" }
mobility_temp_exponent = { value = 1.5, unit = "-" }
cox_f_per_m2 = { value = 8.5e-3, unit = "F/m^2" }
dibl_v_per_v = { value = 0.02, unit = "V/V" }
avt_v_m = { value = 5e-9, unit = "V*m" }
abeta_m = { value = 1e-8, unit = "m" }
kf_v2_f = { value = 1e-25, unit = "V^2*F" }
"""


_VT = 'vt0_v = { value = 0.45, unit = "V" }'


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s.replace("year = 2000", "year = = 2000"), "malformed TOML"),
        (lambda s: s.replace(_VT + "\n", ""), r"missing required.*vt0_v"),
        (lambda s: s.replace(_VT, _VT.replace('"V"', '"mV"')), r"'vt0_v' has wrong unit 'mV'"),
        (lambda s: s.replace(_VT, "vt0_v = { value = 0.45 }"), r"'vt0_v' has no unit"),
        (lambda s: s.replace("value = 1.3,", "value = 0.5,"),
         r"'slope_factor_n' is out of its physical range.*0.5"),
        (lambda s: s.replace('figure = "Table 1"\n', ""), r"missing field 'source.figure'"),
        (lambda s: s.replace('kind = "mosfet"', 'kind = "flux"'), r"'kind' must be one of"),
    ],
)
def test_bad_cards_name_file_field_and_value(tmp_path, edit, match):
    good = tmp_path / "good_card.toml"
    good.write_text(_GOOD)
    assert cards.load(str(good)).vt0_v == 0.45
    bad = tmp_path / "bad_card.toml"
    bad.write_text(edit(_GOOD))
    with pytest.raises(CardError, match=match) as info:
        cards.load(str(bad))
    assert "bad_card.toml" in str(info.value)


def test_card_replace_validates():
    import pathlib
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = pathlib.Path(d) / "c.toml"
        p.write_text(_GOOD)
        card = cards.load(str(p))
    assert card.replace(vt0_v=0.5).vt0_v == 0.5
    with pytest.raises(CardError, match="slope_factor_n"):
        card.replace(slope_factor_n=0.1)
    with pytest.raises(CardError, match="unknown field"):
        card.replace(nonsense=1.0)


def test_contract_module_names_are_the_wing_modules():
    """DESIGN.md's public names ``cimsim.crossbar``, ``cimsim.layers`` and ``cimsim.models``
    import, and are the very modules of the array and nn wings."""
    import importlib

    import cimsim.array.crossbar
    import cimsim.nn.layers
    import cimsim.nn.models

    for public, wing in (("cimsim.crossbar", cimsim.array.crossbar),
                         ("cimsim.layers", cimsim.nn.layers),
                         ("cimsim.models", cimsim.nn.models)):
        assert importlib.import_module(public) is wing
    from cimsim.crossbar import column_currents
    from cimsim.models import load_digits_split

    assert callable(column_currents) and callable(load_digits_split)
