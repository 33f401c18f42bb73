"""Fast checks of the MNIST reproductions' building blocks (the full runs are slow tests)."""

from __future__ import annotations

import numpy as np
import pytest

from cimsim.hardware import HardwareConfig, TileConfig
from cimsim.nn.layers import Flatten, Linear
from cimsim.nn.network import Network, PlacementConfig
from validation import joshi2020_pcm_drift, wan2022_neurram_mnist, yao2020_mnist_cnn
from validation._mnist import GlobalDriftCompensation, load_network


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
    net = _tiny_net()
    tile = TileConfig(rows=32, cols=64, weight_bits=8, bits_per_cell=8, input_bits=8,
                      adc_bits=12)
    hw = HardwareConfig(device_card="joshi2020_pcm", tile=tile, programming_noise=False,
                        read_noise=False, faults=False, converter_noise=False)
    net.compile(hw, net.calibration)
    x = net.calibration
    y_ref = net.run(x, t_s=25.0)
    y_late_raw = net.run(x, t_s=1e6)
    gdc = GlobalDriftCompensation(net, x[:4], t_ref_s=25.0)
    gdc.enabled = True
    y_ref_gdc = net.run(x, t_s=25.0)
    y_late_gdc = net.run(x, t_s=1e6)
    np.testing.assert_allclose(y_ref_gdc, y_ref, rtol=1e-12, atol=1e-12)
    err_raw = np.linalg.norm(y_late_raw - y_ref)
    err_gdc = np.linalg.norm(y_late_gdc - y_ref)
    assert err_raw > 0.1 * np.linalg.norm(y_ref)  # drift shrinks the outputs
    assert err_gdc < 0.5 * err_raw  # one global factor removes most of it
    gdc.enabled = False
    np.testing.assert_allclose(net.run(x, t_s=1e6), y_late_raw)


def test_reproduction_metadata():
    for mod in (yao2020_mnist_cnn, joshi2020_pcm_drift, wan2022_neurram_mnist):
        assert mod.SLOW
        assert "doi:10.1038/" in mod.CITATION
    assert wan2022_neurram_mnist.hardware().tile.weight_bits == 4
    assert yao2020_mnist_cnn.hardware().tile.input_encoding == "bit_serial"
