"""Networks: model files (npz / HDF5 / torch), training, volatility, compilation on tiles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.nn.layers import (
    BatchNorm,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
    Swish,
)
from cimsim.nn.models import (
    bundled_models,
    from_torch,
    load_bundled,
    load_digits_split,
    load_model,
    save_model,
)
from cimsim.nn.network import Network, PlacementConfig
from cimsim.ops import OpCounts
from device_models.errors import ConfigError, InvalidParameterError, UnknownNameError


def _rand(seed, *shape, scale=1.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def small_net() -> Network:
    """Conv + BN + residual + pool + linear: every structural feature in one small net."""
    layers = [
        Conv2d(_rand(1, 4, 1, 3, 3, scale=0.5), _rand(2, 4, scale=0.1), padding=1, name="conv1"),
        BatchNorm(1 + 0.1 * _rand(3, 4), 0.1 * _rand(4, 4), 0.1 * _rand(5, 4),
                  1 + 0.1 * np.abs(_rand(6, 4)), name="bn1"),
        ReLU(name="act1"),
        Residual([Conv2d(_rand(7, 4, 2, 3, 3, scale=0.3), None, padding=1, groups=2,
                         name="conv2"), Swish(name="act2")], name="res"),
        MaxPool2d(2, name="pool"),
        Flatten(name="flat"),
        Linear(_rand(8, 10, 64, scale=0.2), _rand(9, 10, scale=0.1), name="fc"),
    ]
    return Network(layers, (1, 8, 8), name="small",
                   calibration=np.abs(_rand(10, 16, 1, 8, 8)))


# -------------------------------------------------------------------------------------------
# model files
# -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".npz", ".h5"])
def test_model_file_round_trip(tmp_path, suffix):
    net = small_net()
    path = save_model(net, tmp_path / f"m{suffix}", dtype=np.float64)
    back = load_model(path)
    x = np.abs(_rand(11, 5, 1, 8, 8))
    np.testing.assert_array_equal(back.forward(x), net.forward(x))
    assert [lay.name for lay in back.weighted_layers] == ["conv1", "conv2", "fc"]
    np.testing.assert_array_equal(back.calibration, net.calibration)


@pytest.mark.parametrize("suffix", [".npz", ".hdf5"])
def test_every_layer_type_round_trips(tmp_path, suffix):
    from cimsim.nn.layers import (
        GELU,
        LAYER_TYPES,
        AvgPool2d,
        QuantReLU,
        Sigmoid,
        Softmax,
        Softplus,
        Tanh,
        iter_layers,
    )

    layers = [
        Conv2d(_rand(1, 4, 1, 2, 3, scale=0.5), None, stride=(1, 2), padding=(1, 0),
               name="c"),
        BatchNorm(1 + 0.1 * _rand(2, 4), _rand(3, 4), _rand(4, 4), 1 + np.abs(_rand(5, 4)),
                  eps=1e-3, name="bn"),
        Swish(0.7, name="sw"), AvgPool2d(2, 1, 1, name="ap"), GELU("tanh", name="ge"),
        MaxPool2d((2, 1), name="mp"), Tanh(name="th"),
        Residual([Conv2d(_rand(6, 4, 4, 1, 1, scale=0.3), _rand(7, 4), name="c2"),
                  Softplus(2.0, name="sp")], name="res"),
        QuantReLU(1.5, 3, name="q"),
        Flatten(name="fl"), Linear(_rand(8, 6, 80, scale=0.2), None, name="l1"), ReLU(name="r"),
        Linear(_rand(9, 3, 6), _rand(10, 3), name="l2"), Sigmoid(name="sg"),
        BatchNorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(3), name="bn2"),
        GELU(name="ge2"), Softmax(name="sm"),
    ]
    net = Network(layers, (1, 7, 9))
    from cimsim.nn.sequence import SequenceLayer
    from cimsim.nn.spiking import SPIKING_TYPES

    image_kinds = {k for k, c in LAYER_TYPES.items()
                   if not issubclass(c, SequenceLayer) and k not in SPIKING_TYPES}
    # (sequence layers: tests/test_sequence; spiking layers: tests/test_spiking)
    assert {lay.kind for lay in iter_layers(net.layers)} == image_kinds
    back = load_model(save_model(net, tmp_path / f"all{suffix}", dtype=np.float64))
    assert [repr(a) for a in back.layers] == [repr(a) for a in net.layers]
    x = _rand(11, 3, 1, 7, 9)
    np.testing.assert_array_equal(back.forward(x), net.forward(x))


def _npz_content(path):
    with np.load(path) as d:
        return {k: d[k] for k in d.files}


def _rewrite(path, content):
    np.savez(path, **content)
    return path


def test_bad_model_files(tmp_path):
    good = save_model(small_net(), tmp_path / "good.npz")
    base = _npz_content(good)

    c = dict(base)
    del c["fc/weight"]
    with pytest.raises(InvalidParameterError, match=r"layer 'fc' .* missing array 'fc/weight'"):
        load_model(_rewrite(tmp_path / "missing.npz", c))

    c = dict(base)
    c["conv1/weight"] = np.ones((4, 1, 5, 5))
    with pytest.raises(InvalidParameterError, match=r"'conv1/weight' has shape \(4, 1, 5, 5\)"):
        load_model(_rewrite(tmp_path / "shape.npz", c))

    c = dict(base)
    w = c["fc/weight"].copy()
    w[3, 7] = np.nan
    c["fc/weight"] = w
    with pytest.raises(InvalidParameterError, match="'fc/weight' holds NaN"):
        load_model(_rewrite(tmp_path / "nan.npz", c))

    arch = json.loads(str(base["__architecture__"]))
    arch["layers"].insert(2, {"type": "Capsule", "name": "caps"})
    c = dict(base, __architecture__=np.array(json.dumps(arch)))
    with pytest.raises(UnknownNameError, match="unsupported type 'Capsule'.*Supported"):
        load_model(_rewrite(tmp_path / "caps.npz", c))

    # a layer dropped from the architecture: its arrays are orphans
    arch = json.loads(str(base["__architecture__"]))
    arch["layers"] = [s for s in arch["layers"] if s["name"] != "fc"]
    c = dict(base, __architecture__=np.array(json.dumps(arch)))
    with pytest.raises(InvalidParameterError, match=r"missing layer\(s\) \['fc'\]"):
        load_model(_rewrite(tmp_path / "droplayer.npz", c))

    # inconsistent layer sizes
    arch = json.loads(str(base["__architecture__"]))
    arch["layers"][-1]["in_features"] = 32
    c = dict(base, __architecture__=np.array(json.dumps(arch)))
    c["fc/weight"] = np.ones((10, 32))
    with pytest.raises(InvalidParameterError, match="Linear 'fc' expects inputs of shape"):
        load_model(_rewrite(tmp_path / "inconsistent.npz", c))

    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InvalidParameterError, match="not a readable"):
        load_model(tmp_path / "junk.npz")
    with pytest.raises(InvalidParameterError, match="existing file"):
        load_model(tmp_path / "nope.npz")
    with pytest.raises(InvalidParameterError, match=r"\.npz, \.h5 or \.hdf5"):
        save_model(small_net(), tmp_path / "m.pt")


def test_bad_hdf5_file(tmp_path):
    import h5py

    path = save_model(small_net(), tmp_path / "m.h5")
    with h5py.File(path, "a") as fh:
        del fh["conv1/bias"]
    with pytest.raises(InvalidParameterError, match="missing array 'conv1/bias'"):
        load_model(path)
    with h5py.File(tmp_path / "empty.h5", "w"):
        pass
    with pytest.raises(InvalidParameterError, match="no 'architecture'"):
        load_model(tmp_path / "empty.h5")


def test_torch_import():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.SiLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=2), nn.GELU(), nn.MaxPool2d(2),
        nn.AvgPool2d(1), nn.Sequential(nn.Flatten(), nn.Dropout(0.1)), nn.Linear(16, 12),
        nn.BatchNorm1d(12), nn.Softplus(), nn.Linear(12, 10), nn.Tanh(), nn.Sigmoid(),
        nn.ReLU(),
    )
    with torch.no_grad():
        for bn in (model[1], model[9]):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    model.eval()
    net = from_torch(model, (1, 8, 8))
    x = np.abs(_rand(3, 6, 1, 8, 8))
    with torch.no_grad():
        ref = model(torch.tensor(x, dtype=torch.float64).float()).double().numpy()
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(UnknownNameError, match="unsupported type 'LSTM'"):
        from_torch(nn.Sequential(nn.LSTM(4, 4)), (4,))


# -------------------------------------------------------------------------------------------
# training and volatility
# -------------------------------------------------------------------------------------------


def test_fit_learns_and_is_reproducible():
    data = load_digits_split()
    x, y = data["x_train"][:400], data["y_train"][:400]

    def make():
        return Network([Flatten(name="f"), Linear(_rand(0, 10, 64, scale=0.05), np.zeros(10),
                                                  name="fc")], (1, 8, 8))

    a, b = make(), make()
    ha = a.fit(x, y, epochs=3, lr=1e-2, batch_size=16, weight_noise=0.05, seed=3)
    hb = b.fit(x, y, epochs=3, lr=1e-2, batch_size=16, weight_noise=0.05, seed=3)
    assert ha == hb and ha[-1] < 0.5 * ha[0]
    np.testing.assert_array_equal(a.weighted_layers[0].weight, b.weighted_layers[0].weight)
    acc = np.mean(a.predict_float(data["x_test"]) == data["y_test"])
    assert acc > 0.8


def test_volatility_scores():
    net = load_bundled("digits_cnn_relu")
    data = load_digits_split()
    x, y = np.roll(data["x_train"][:64], 1, axis=3), data["y_train"][:64]
    before = [w.weight.copy() for w in net.weighted_layers]
    scores = net.volatility(x, y, epochs=1, seed=1)
    assert [s.name for s in scores] == ["conv1", "conv2", "fc"]
    top = max(scores, key=lambda s: s.score)
    placement = PlacementConfig.from_volatility(scores, max_score=0.999 * top.score)
    assert placement.digital == (top.name,)
    for s in scores:
        assert s.relative_change > 0 and s.sensitivity > 0 and 0 <= s.reprogram_fraction <= 1
        assert s.score == pytest.approx(s.relative_change * s.sensitivity)
    assert scores == net.volatility(x, y, epochs=1, seed=1)
    for w, w0 in zip(net.weighted_layers, before, strict=True):
        np.testing.assert_array_equal(w.weight, w0)


def test_bundled_models_and_data():
    names = bundled_models()
    assert {"digits_cnn_relu", "digits_mlp_relu", "digits_cnn_swish",
            "mnist_cnn_relu"} <= set(names)
    total = sum(p.stat().st_size for p in
                (Path(__file__).parents[1] / "cimsim" / "data").glob("*.npz")
                if p.name.startswith(("digits_", "mnist_")))  # this models
    assert total < 1_000_000
    data = load_digits_split()
    assert data["x_test"].shape == (359, 1, 8, 8) and data["x_train"].shape[0] == 1438
    for name in names:
        if name.startswith("digits"):
            net = load_bundled(name)
            acc = np.mean(net.predict_float(data["x_test"]) == data["y_test"])
            assert acc == pytest.approx(net.metadata["float_test_accuracy"], abs=1e-2)
            assert acc > 0.9
    with pytest.raises(UnknownNameError, match="bundled models"):
        load_bundled("resnet50")


def test_placement_config():
    p = PlacementConfig(default="analog", digital=["fc"])
    assert p.placement_of("fc") == "digital" and p.placement_of("conv1") == "analog"
    with pytest.raises(ConfigError):
        PlacementConfig(analog=("fc",), digital=("fc",))
    with pytest.raises(ConfigError):
        PlacementConfig(default="optical")


# -------------------------------------------------------------------------------------------
# compilation on tiles (cimsim.tile.matrix.AnalogMatrix)
# -------------------------------------------------------------------------------------------


def _ideal(bits: int) -> HardwareConfig:
    return HardwareConfig.ideal(tile=TileConfig(
        rows=32, cols=16, weight_bits=bits, bits_per_cell=bits, input_bits=bits, adc_bits=20,
        adc_share=1, adc_calibration="minmax"))


def test_ideal_hardware_reproduces_float():
    """Ideal tiles (every non-ideality off) still quantise inputs and weights to at most 16
    bits (TileConfig's limit) and outputs to 20-bit ADC codes, so the network matches the
    float reference to the quantisation limit, not to 1e-6: three quantised layers give a
    max error of ~5e-5 of the output range at 16 bits, and 16x more at 12 bits (error
    ∝ 2^-bits, which shows nothing but quantisation is left)."""
    x = np.abs(_rand(12, 20, 1, 8, 8))
    errs = {}
    for bits in (12, 16):
        net = small_net().compile(_ideal(bits), x)  # minmax ranges from these very inputs
        ref = net.forward(x)
        out = net.run(x, batch_size=7)
        errs[bits] = np.max(np.abs(out - ref)) / np.max(np.abs(ref))
        # a batch split does not change the result
        np.testing.assert_array_equal(out, net.run(x, batch_size=20))
    assert errs[16] < 1.5e-4, errs
    assert 4 < errs[12] / errs[16] < 64, errs
    assert set(net.last_counts) == {"conv1", "conv2", "fc"}
    assert all(isinstance(c, OpCounts) and c.macs > 0 for c in net.last_counts.values())
    # MACs counted on tiles = the layer's MACs per sample × samples
    for m in net.mapping:
        assert net.last_counts[m.name].macs == m.macs_per_sample * len(x)
        assert m.n_tiles >= 1 and 0 < m.utilisation <= 1
    # packing (on by default) puts blocks of several layers on one physical tile
    assert 1 <= net.n_tiles <= sum(m.n_tiles for m in net.mapping)
    assert net.n_tiles == net.floorplan.n_tiles


def test_ideal_hardware_reproduces_float_to_1e6():
    """HardwareConfig.ideal() (unquantised ideal converters, tile.quantize=False) reproduces the
    float network to 1e-6 relative (issue 7), on several tiles per layer."""
    x = np.abs(_rand(12, 20, 1, 8, 8))
    hw = HardwareConfig.ideal()
    hw = hw.replace(tile=hw.tile.replace(rows=32, cols=16, adc_share=1))
    net = small_net().compile(hw, x)      # ranges from these very inputs: nothing clips
    assert sum(m.n_tiles for m in net.mapping) > len(net.mapping)
    ref = net.forward(x)
    out = net.run(x, batch_size=7)
    assert np.max(np.abs(out - ref)) <= 1e-6 * np.max(np.abs(ref))
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6 * np.max(np.abs(ref)))


def test_hybrid_placement_digital_layer_is_exact():
    net = small_net()
    hw = HardwareConfig.ideal()
    net.compile(hw, placement={"default": "digital", "analog": ["fc"]})
    x = np.abs(_rand(13, 4, 1, 8, 8))
    net.run(x)
    assert set(net.last_counts) == {"fc"}
    assert set(net.last_digital_macs) == {"conv1", "conv2"}
    assert [m.placement for m in net.mapping] == ["digital", "digital", "analog"]
    with pytest.raises(UnknownNameError, match="weighted layers"):
        net.compile(hw, placement={"digital": ["nope"]})


def test_run_needs_compile_and_checks_input():
    net = small_net()
    with pytest.raises(InvalidParameterError, match="compile"):
        net.run(np.zeros((1, 1, 8, 8)))
    net.compile(HardwareConfig.ideal())
    with pytest.raises(InvalidParameterError, match=r"of shape \(N, 1, 8, 8\)"):
        net.run(np.zeros((1, 64)))


def _noisy_card(tmp_path, scale: float) -> str:
    from device_models import cards

    src = Path(cards.load("yao2020_taox_1t1r").path).read_text()
    base = cards.load("yao2020_taox_1t1r").read_noise_rel
    text, n = re.subn(r"(?m)^read_noise_rel\s*=\s*\{\s*value\s*=\s*[^,]+",
                      f"read_noise_rel = {{ value = {base * scale!r}", src)
    assert n == 1
    path = tmp_path / f"noisy_{scale:g}.toml"
    path.write_text(text)
    return str(path)


def _accuracy_vs_read_noise(tmp_path, model, n, scales, seeds):
    net = load_bundled(model)
    data = load_digits_split()
    x, y = data["x_test"][:n], data["y_test"][:n]
    accs = []
    for scale in scales:
        hw = HardwareConfig(device_card=_noisy_card(tmp_path, scale), programming_noise=False,
                            faults=False, drift=False)
        accs.append(np.mean([net.compile(hw.replace(seed=s)).evaluate(x, y).analog_accuracy
                             for s in seeds]))
    return np.array(accs), n * len(seeds)


def _assert_falls(accs, m):
    assert accs[0] > 0.85, accs
    # the drop from the lowest to the highest noise must exceed 3 sampling standard errors
    se = np.sqrt(accs[0] * (1 - accs[0]) / m + accs[-1] * (1 - accs[-1]) / m)
    assert accs[0] - accs[-1] > 3 * se, accs
    for a, b in zip(accs[:-1], accs[1:], strict=True):
        assert b <= a + 3 * se, accs


def test_accuracy_falls_as_read_noise_rises(tmp_path):
    accs, m = _accuracy_vs_read_noise(tmp_path, "digits_mlp_relu", 150, (1.0, 60.0), (0, 1))
    _assert_falls(accs, m)


@pytest.mark.slow
def test_cnn_accuracy_falls_as_read_noise_rises(tmp_path):
    accs, m = _accuracy_vs_read_noise(tmp_path, "digits_cnn_relu", 359, (1.0, 10.0, 30.0, 100.0),
                                      (0, 1, 2))
    _assert_falls(accs, m)


def test_evaluate_and_report_default_hardware():
    net = load_bundled("digits_cnn_relu")
    data = load_digits_split()
    ev = net.compile(HardwareConfig()).evaluate(data["x_test"][:60], data["y_test"][:60])
    # noisy run: the noise streams follow the sample index, not the batch split
    logits = net.run(data["x_test"][:60], batch_size=60)
    np.testing.assert_array_equal(net.run(data["x_test"][:60], batch_size=13), logits)
    assert not np.array_equal(logits, net.forward(data["x_test"][:60]))
    assert ev.float_accuracy > 0.9 and ev.analog_accuracy > 0.7
    rep = net.report(ev)
    assert rep.energy_per_inference_j > 0 and rep.latency_per_inference_s > 0


def test_demo_command_json(capsys):
    from cimsim.cli import main

    assert main(["demo", "--json", "--n", "40", "--no-volatility"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("float_accuracy", "analog_accuracy", "energy_per_inference_j",
                "latency_per_inference_s", "energy_breakdown_per_inference_j", "layers"):
        assert key in out
    assert out["n_test"] == 40 and 0.5 < out["analog_accuracy"] <= 1.0
    assert out["energy_per_inference_j"] > 0 and out["latency_per_inference_s"] > 0
    assert [lay["name"] for lay in out["layers"]] == ["conv1", "conv2", "fc"]
    assert main(["demo", "--model", "mnist_cnn_relu"]) == 2  # not a digits model


def test_train_reference_reproduces_bundled_mlp(tmp_path):
    """scripts/train_reference.py is deterministic: retraining the MLP gives the shipped
    weights (same split, same counter-based seeds; bit for bit on the machine that trained
    them, a small tolerance allows another BLAS's summation order)."""
    import importlib.util

    path = Path(__file__).parents[1] / "scripts" / "train_reference.py"
    spec = importlib.util.spec_from_file_location("train_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out-dir", str(tmp_path), "--only", "digits_mlp_relu"]) == 0
    new, shipped = load_model(tmp_path / "digits_mlp_relu.npz"), load_bundled("digits_mlp_relu")
    for a, b in zip(new.weighted_layers, shipped.weighted_layers, strict=True):
        np.testing.assert_allclose(a.weight, b.weight, rtol=1e-4, atol=1e-5)
    with np.load(tmp_path / "digits_split.npz") as d:
        np.testing.assert_array_equal(d["y_test"], load_digits_split()["y_test"])
