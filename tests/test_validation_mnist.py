"""Fast checks of the MNIST reproductions' building blocks (the full runs are slow tests)."""

from __future__ import annotations

import numpy as np
import pytest

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.nn.layers import BatchNorm, Flatten, Linear, QuantReLU
from cimsim.nn.models import load_model, save_model
from cimsim.nn.network import Network, PlacementConfig
from validation import (
    joshi2020_pcm_drift,
    narayanan2021_pcm_mlp,
    wan2022_neurram_mnist,
    yao2020_mnist_cnn,
)
from validation._mnist import (
    AdaptiveBatchStatistics,
    ColumnCalibration,
    load_network,
    matrix_weights,
)


def _tiny_net() -> Network:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 32))
    net = Network([Flatten(name="flat"), Linear(w, np.zeros(6), name="fc")], (32,))
    net.calibration = rng.uniform(0, 1, size=(16, 32))
    return net


def test_yao_network_occupies_seven_of_eight_2048_cell_arrays():
    net = load_network(yao2020_mnist_cnn.MODEL)
    hw = yao2020_mnist_cnn.hardware(0)
    assert hw.tile.rows * hw.tile.cols == 2048
    conv, fc = yao2020_mnist_cnn._split(net)
    assert [m.shape for m in conv.weighted_layers[0].matrices()] == [(9, 8)]
    assert [m.shape for m in conv.weighted_layers[1].matrices()] == [(72, 12)]
    assert fc.weight.shape == (10, 192)
    # 936 convolution weights (Extended Data Fig. 7 of the paper).
    assert sum(lay.weight.size for lay in conv.weighted_layers) == 936
    x = net.calibration[:4]
    net.compile(hw, x, placement=PlacementConfig(pack_tiles=False))   # the paper's mapping
    assert net.n_tiles == 7
    net.compile(hw, x)          # packed: blocks of small layers share arrays
    assert net.n_tiles < 7


def test_shipped_models_are_small_and_trained():
    for name in (yao2020_mnist_cnn.MODEL, joshi2020_pcm_drift.MODEL,
                 wan2022_neurram_mnist.MODEL):
        net = load_network(name)
        assert net.metadata["float_test_accuracy"] > 0.9
        assert net.calibration is not None and len(net.calibration) == 64
        assert net.metadata["trained_by"] == "scripts/train_validation_models.py"
    assert load_network(joshi2020_pcm_drift.MODEL).metadata["weight_noise"] == pytest.approx(
        0.038)


def test_gdc_is_identity_at_reference_time_and_undoes_uniform_drift():
    """Joshi's GDC is the chip's own global compensation with the reference read at 25 s."""
    net = _tiny_net()
    tile = TileConfig(rows=32, cols=64, weight_bits=8, bits_per_cell=8, input_bits=8,
                      adc_bits=12)
    hw = HardwareConfig(device_card="joshi2020_pcm", tile=tile, programming_noise=False,
                        read_noise=False, faults=False, converter_noise=False)
    x = net.calibration
    net.compile(hw, x)
    y_ref = net.run(x, t_s=25.0)
    y_late_raw = net.run(x, t_s=1e6)
    net.compile(hw.replace(drift_compensation="global", drift_reference_t_s=25.0), x)
    y_ref_gdc = net.run(x, t_s=25.0)
    y_late_gdc = net.run(x, t_s=1e6)
    np.testing.assert_allclose(y_ref_gdc, y_ref, rtol=1e-12, atol=1e-12)
    err_raw = np.linalg.norm(y_late_raw - y_ref)
    err_gdc = np.linalg.norm(y_late_gdc - y_ref)
    assert err_raw > 0.1 * np.linalg.norm(y_ref)  # drift shrinks the outputs
    assert err_gdc < 0.5 * err_raw  # one global factor removes most of it
    assert joshi2020_pcm_drift.hardware(0, drift_compensation="global").drift_compensation \
        == "global"


def test_reproduction_metadata():
    for mod in (yao2020_mnist_cnn, joshi2020_pcm_drift, wan2022_neurram_mnist):
        assert mod.SLOW
        assert "doi:10.1038/" in mod.CITATION
    assert wan2022_neurram_mnist.hardware().tile.input_bits == 3
    assert not wan2022_neurram_mnist.hardware().faults  # unformed and leaky rows are skipped
    assert yao2020_mnist_cnn.hardware().tile.input_encoding == "bit_serial"


def test_wan_network_is_the_released_one():
    net = load_network(wan2022_neurram_mnist.MODEL)
    convs = [lay for lay in net.weighted_layers if lay.kind == "Conv2d"]
    assert [c.out_channels for c in convs] == [8, 8, 16, 16, 32, 32]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    dense = net.weighted_layers[-1]
    assert dense.weight.shape == (10, 512)
    q = [lay for lay in net.layers if isinstance(lay, QuantReLU)]
    assert len(q) == 6 and all(a.bits == 3 for a in q)
    # the clipping levels were trained from 3 (the authors' activation_quant(3, 3))
    assert [a.max_value for a in q] == net.metadata["activation_max"]
    assert all(1.0 < a.max_value < 6.0 for a in q)
    assert net.metadata["weight_noise"] == pytest.approx(0.15)
    assert net.metadata["epochs"] == 50 and net.metadata["batch_size"] == 128
    assert net.metadata["lr"] == pytest.approx(1e-3)
    # converted without change: cimsim's float network scores what PyTorch scored
    assert net.metadata["float_test_accuracy"] == pytest.approx(
        net.metadata["torch_test_accuracy"], abs=3e-4)
    # 3-bit inputs: the stored calibration images sit on the 8-level grid.
    np.testing.assert_allclose(net.calibration * 7, np.round(net.calibration * 7), atol=1e-12)


def _training_script():
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "train_validation_models.py"
    spec = importlib.util.spec_from_file_location("train_validation_models_t", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_wan_torch_twin_computes_the_cimsim_network():
    """The PyTorch model the Wan network is trained in computes, at inference, what the
    converted cimsim network computes (clipping levels, pooling, flatten order included); in
    training it injects fresh weight noise and passes straight-through gradients."""
    torch = pytest.importorskip("torch")
    mod = _training_script()
    torch.manual_seed(0)
    model = mod._wan_torch_model(torch).double()
    with torch.no_grad():
        for i, m in enumerate(m for m in model if hasattr(m, "relux")):
            m.relux.fill_(2.0 + 0.3 * i)
            # biases too, so that every layer's activations reach the clipping level
        for m in model:
            if hasattr(m, "bias") and m.bias is not None:
                m.bias.uniform_(0.0, 0.5)
    net = mod._wan_from_torch(model)
    assert [lay.max_value for lay in net.layers if isinstance(lay, QuantReLU)] == \
        pytest.approx([2.0 + 0.3 * i for i in range(6)])
    x = load_network(wan2022_neurram_mnist.MODEL).calibration[:8]
    model.eval()
    with torch.no_grad():
        y_torch = model(torch.tensor(x)).numpy()
    np.testing.assert_allclose(net.forward(x), y_torch, rtol=1e-9, atol=1e-9)
    model.train()
    with torch.no_grad():
        a, b = model(torch.tensor(x)).numpy(), model(torch.tensor(x)).numpy()
    assert not np.allclose(a, y_torch) and not np.allclose(a, b)   # fresh noise each step
    q = model[1]
    v = torch.tensor([-1.0, 0.5, 1.0, 1.9, 2.5, 4.0], dtype=torch.float64, requires_grad=True)
    q(v).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [0, 1, 1, 1, 0, 0])   # clip level 2.0
    assert float(q.relux.grad) == 2.0          # the two inputs above the clipping level


def test_wan_clipping_saturates_the_top_five_percent():
    net = load_network(wan2022_neurram_mnist.MODEL)
    clip = wan2022_neurram_mnist.clipped(net)
    for a, b in zip(net.weighted_layers, clip.weighted_layers, strict=True):
        w_max = np.percentile(np.abs(a.weight), 95)
        assert np.abs(b.weight).max() == pytest.approx(w_max)
        assert np.mean(np.abs(a.weight) > w_max) == pytest.approx(0.05, abs=0.02)


def test_quant_relu_levels_straight_through_gradient_and_file_round_trip(tmp_path):
    q = QuantReLU(3.0, 3, name="q")
    x = np.array([[-1.0, 0.1, 0.3, 1.0, 2.9, 3.0, 5.0]])
    y = q.forward(x, train=True)
    np.testing.assert_allclose(y * 7 / 3, np.round(y * 7 / 3), atol=1e-12)
    np.testing.assert_allclose(y, [[0.0, 0.0, 3 / 7, 6 / 7, 3.0, 3.0, 3.0]])
    np.testing.assert_array_equal(q.backward(np.ones_like(x)), [[0, 1, 1, 1, 1, 0, 0]])
    net = Network([Flatten(name="f"), Linear(np.eye(7), np.zeros(7), name="l"), q], (7,))
    save_model(net, tmp_path / "q.npz")
    back = load_model(tmp_path / "q.npz")
    np.testing.assert_array_equal(back.predict_float(x), net.predict_float(x))
    with pytest.raises(ValueError, match="bits"):
        QuantReLU(3.0, 0)


def _drift_only_pcm_chip() -> HardwareConfig:
    tile = TileConfig(rows=32, cols=64, weight_bits=8, bits_per_cell=8, input_bits=8,
                      adc_bits=12)
    return HardwareConfig(device_card="joshi2020_pcm", tile=tile, programming_noise=False,
                          read_noise=False, faults=False, converter_noise=False)


def test_column_calibration_removes_gain_and_offset_errors():
    net = _tiny_net()
    net.compile(_drift_only_pcm_chip(), net.calibration)
    x = net.calibration
    ideal = x @ net.layers[1].weight.T + net.layers[1].bias
    raw = net.run(x, t_s=1e6)
    ColumnCalibration(net, x, t_s=1e6)
    fixed = net.run(x, t_s=1e6)
    err_raw = np.linalg.norm(raw - ideal)
    err_fixed = np.linalg.norm(fixed - ideal)
    assert err_raw > 0.1 * np.linalg.norm(ideal)  # drift shrinks the outputs
    assert err_fixed < 0.2 * err_raw
    assert set(matrix_weights(net)) == {"fc[0]"}


def test_adabs_restores_the_batch_norm_statistics_at_the_read_time():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(6, 32))
    x = rng.uniform(0, 1, size=(64, 32))
    h = x @ w.T
    bn = BatchNorm(np.full(6, 2.0), np.full(6, 0.5), h.mean(axis=0), h.var(axis=0), name="bn")
    net = Network([Flatten(name="flat"), Linear(w, np.zeros(6), name="fc"), bn], (32,),
                  calibration=x)
    net.compile(_drift_only_pcm_chip(), x)
    drifted = net.run(x, t_s=1e6)
    assert np.max(np.abs(drifted.mean(axis=0) - 0.5)) > 0.5  # drift moved the statistics
    ada = AdaptiveBatchStatistics(net, x)
    ada.recalibrate(1e6)
    ada.enabled = True
    out = net.run(x, t_s=1e6)
    np.testing.assert_allclose(out.mean(axis=0), 0.5, atol=1e-9)
    np.testing.assert_allclose(out.std(axis=0), 2.0, rtol=1e-4)
    with pytest.raises(ValueError, match="batch-norm"):
        AdaptiveBatchStatistics(_compiled_tiny(), x)


def _compiled_tiny() -> Network:
    net = _tiny_net()
    net.compile(_drift_only_pcm_chip(), net.calibration)
    return net


def test_narayanan_device_sigma_reproduces_the_measured_weight_error():
    """sigma_d = (sqrt(pi)/2) eps G_max: with both devices of a pair away from zero (no
    clipping) the mean absolute weight error is eps (Monte Carlo, 200,000 pairs)."""
    from device_models.memory import program

    eps = 0.03
    card = narayanan2021_pcm_mlp.device_card(eps)
    sigma = narayanan2021_pcm_mlp.programming_sigma_s(eps, card.g_max_s)
    assert sigma == pytest.approx(0.5 * np.sqrt(np.pi) * eps * card.g_max_s, rel=1e-12, abs=0.0)
    assert card.prog_noise_coeffs_s == (sigma,)
    t = np.full(200_000, 0.5 * card.g_max_s)
    err = np.abs(program(card, t, seed=1).g_s - program(card, t, seed=2).g_s) / card.g_max_s
    assert err.mean() == pytest.approx(eps, rel=0.02)
    # zero targets (the idle side of each pair) can only err upwards: the realised error of a
    # network's weights lies below eps and grows with it
    net = load_network(narayanan2021_pcm_mlp.MODEL)
    low = narayanan2021_pcm_mlp.realized_weight_error(net, eps)
    assert 0.6 * eps < low < eps
    assert narayanan2021_pcm_mlp.realized_weight_error(net, 2 * eps) > 1.5 * low


def test_narayanan_chip_follows_its_card():
    hw = narayanan2021_pcm_mlp.hardware()
    assert (hw.tile.rows, hw.tile.cols) == (512, 512)
    assert hw.tile.input_encoding == "pulse_width" and hw.tile.weight_mapping == "differential"
    assert hw.t_s == hw.card().t0_s and not hw.faults
    assert narayanan2021_pcm_mlp.SLOW
    assert "doi:10.1109/TED.2021.3115993" in narayanan2021_pcm_mlp.CITATION
