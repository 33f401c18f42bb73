"""Importing sequence models (torch.fx, ONNX) and the bundled sequence models with their demo."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cimsim.models import from_onnx

from cimsim import HardwareConfig, from_torch, load_bundled
from cimsim.nn.seqdata import char_windows, load_smnist, load_tempest
from device_models.errors import UnknownNameError

R = np.random.default_rng(11)

# --- torch.fx -------------------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch", reason="torch (optional extra) not installed: "
                                               "pip install 'cimsim[torch]'")


def test_fx_residual_net_equals_torch():
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(0)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(64, 16)
            self.fc2 = nn.Linear(16, 16)
            self.out = nn.Linear(16, 10)

        def forward(self, x):
            h = torch.relu(self.bn(self.conv(x)))
            h = h + self.conv2(h)                       # residual around a convolution
            h = torch.flatten(self.pool(h), 1)
            h = torch.tanh(self.fc(h))
            h = h + nn.functional.gelu(self.fc2(h))     # residual around Linear + GELU
            return self.out(h)

    model = ResNet().eval()
    with torch.no_grad():
        model.bn.running_var.uniform_(0.5, 1.5)
    net = from_torch(model, (1, 8, 8))
    assert [lay.kind for lay in net.layers].count("Residual") == 2
    x = R.normal(size=(5, 1, 8, 8))
    with torch.no_grad():
        ref = model(torch.tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-4, atol=1e-5)
    net.compile(HardwareConfig.ideal(), x)
    np.testing.assert_allclose(net.run(x), net.forward(x), rtol=1e-9, atol=1e-11)


def test_fx_recurrent_attention_net_equals_torch():
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(1)

    class SeqNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(5, 8, batch_first=True)
            self.ln = nn.LayerNorm(8)
            self.att = nn.MultiheadAttention(8, 2, batch_first=True)
            self.register_buffer("mask", torch.triu(torch.full((6, 6), float("-inf")), 1))
            self.gru = nn.GRU(8, 8, batch_first=True)
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            h = self.lstm(x)[0]
            a = self.ln(h)
            h = h + self.att(a, a, a, attn_mask=self.mask, need_weights=False)[0]
            h = self.gru(h)[0]
            return self.fc(h[:, -1])

    model = SeqNet().eval()
    net = from_torch(model, (6, 5))
    kinds = [lay.kind for lay in net.layers]
    assert kinds == ["LSTM", "Residual", "GRU", "SequencePool", "Linear"]
    assert net.layers[1].body[1].causal
    x = R.normal(size=(4, 6, 5))
    with torch.no_grad():
        ref = model(torch.tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(net.forward(x), ref, rtol=1e-4, atol=1e-5)


def test_fx_unsupported_ops_are_all_listed():
    torch = _torch()
    nn = torch.nn

    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return torch.sin(self.fc(x)) * 2.0

    with pytest.raises(UnknownNameError) as info:
        from_torch(Odd(), (4,))
    msg = str(info.value)
    assert "2 operation(s)" in msg and "node 2 'sin'" in msg and "node 3 'mul'" in msg


# --- ONNX ------------------------------------------------------------------------------------


def _onnx_lstm_model(cell: str, t: int, f: int, h: int, seed: int):
    """A batch-first recurrent classifier in the layout exporters write: Transpose → LSTM/GRU
    (time-first, zero initial state from the input's shape) → Squeeze → Transpose → Gather
    (last step) → Gemm; built with onnx.helper."""
    onnx = pytest.importorskip("onnx", reason="onnx (optional extra) not installed: "
                                              "pip install 'cimsim[onnx]'")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    g = 4 if cell == "LSTM" else 3
    w = (rng.normal(size=(1, g * h, f)) * 0.5).astype(np.float32)
    r = (rng.normal(size=(1, g * h, h)) * 0.5).astype(np.float32)
    b = (rng.normal(size=(1, 2 * g * h)) * 0.1).astype(np.float32)
    wo = (rng.normal(size=(3, h))).astype(np.float32)
    bo = (rng.normal(size=3)).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((w, "W"), (r, "R"), (b, "B"), (wo, "Wo"), (bo, "Bo"),
              (np.array([1], np.int64), "ax1"), (np.array(-1, np.int64), "last"),
              (np.array([1], np.int64), "one"), (np.array([h], np.int64), "hid"),
              (np.array([0], np.int64), "idx0"))]
    rec_attrs = {"hidden_size": h}
    if cell == "GRU":
        rec_attrs["linear_before_reset"] = 1
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "idx0"], ["n"], axis=0),
        helper.make_node("Concat", ["one", "n", "hid"], ["hshape"], axis=0),
        helper.make_node("ConstantOfShape", ["hshape"], ["h0"]),
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
        helper.make_node(cell, ["xt", "W", "R", "B", "", "h0"] + (["h0"] if cell == "LSTM"
                                                                 else []),
                         ["y", "yh"], **rec_attrs),
        helper.make_node("Squeeze", ["y", "ax1"], ["ys"]),
        helper.make_node("Transpose", ["ys"], ["yb"], perm=[1, 0, 2]),
        helper.make_node("Gather", ["yb", "last"], ["hl"], axis=1),
        helper.make_node("Gemm", ["hl", "Wo", "Bo"], ["out"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", t, f])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_onnx_recurrent_equals_onnxruntime(cell):
    model = _onnx_lstm_model(cell, 7, 5, 6, seed=3)
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (optional extra) not "
                                                    "installed: pip install 'cimsim[onnx]'")
    net = from_onnx(model, (7, 5))
    assert [lay.kind for lay in net.layers] == [cell, "SequencePool", "Linear"]
    x = R.normal(size=(4, 7, 5)).astype(np.float32)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {"x": x})[0]
    np.testing.assert_allclose(net.forward(x.astype(np.float64)), ref, rtol=1e-4, atol=1e-5)


def test_onnx_conv_pool_layernorm_residual_equal_onnxruntime():
    pytest.importorskip("onnx", reason="onnx (optional extra) not installed")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime (optional extra) not installed")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(5)

    def arr(name, *shape, s=0.5):
        return numpy_helper.from_array((rng.normal(size=shape) * s).astype(np.float32), name)

    image = helper.make_graph([
        helper.make_node("Conv", ["x", "Wc", "bc"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "Wg", "bg"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["y"], axis=-1)], "img",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
        [arr("Wc", 2, 1, 3, 3), arr("bc", 2), arr("Wg", 4, 18), arr("bg", 4)])
    seq = helper.make_graph([
        helper.make_node("LayerNormalization", ["x", "ga", "be"], ["ln"], axis=-1,
                         epsilon=1e-5),
        helper.make_node("MatMul", ["ln", "Wm"], ["mm"]),
        helper.make_node("Add", ["mm", "bm"], ["lin"]),
        helper.make_node("Tanh", ["lin"], ["t"]),
        helper.make_node("Add", ["x", "t"], ["res"]),
        helper.make_node("ReduceMean", ["res", "ax"], ["mean"], keepdims=0),
        helper.make_node("Gemm", ["mean", "Wg", "bg"], ["y"], transB=1)], "seq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 5, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        [arr("ga", 6), arr("be", 6), arr("Wm", 6, 6), arr("bm", 6), arr("Wg", 3, 6),
         arr("bg", 3), numpy_helper.from_array(np.array([1], np.int64), "ax")])
    for graph, shape, kinds in (
            (image, (1, 6, 6), ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear", "Softmax"]),
            (seq, (5, 6), ["Residual", "SequencePool", "Linear"])):
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        model.ir_version = 8
        net = from_onnx(model, shape)
        assert [lay.kind for lay in net.layers] == kinds
        x = rng.normal(size=(3, *shape)).astype(np.float32)
        sess = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        np.testing.assert_allclose(net.forward(x.astype(np.float64)),
                                   sess.run(None, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_onnx_unsupported_op_is_listed():
    onnx = pytest.importorskip("onnx", reason="onnx (optional extra) not installed")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["a"]), helper.make_node("Sin", ["a"], ["b"]),
         helper.make_node("Erf", ["b"], ["c"])], "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 4])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnknownNameError) as info:
        from_onnx(model)
    msg = str(info.value)
    assert "2 node(s)" in msg and "node 1 'b' (Sin)" in msg and "node 2 'c' (Erf)" in msg
    assert onnx is not None


# --- bundled models ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["smnist_lstm", "smnist_ssm", "charlm_transformer"])
def test_bundled_sequence_models(name):
    from importlib import resources

    path = resources.files("cimsim").joinpath("data", f"{name}.npz")
    assert path.stat().st_size < 300_000
    net = load_bundled(name)
    if name == "charlm_transformer":
        x, y = char_windows(load_tempest()["test"], net.input_shape[0])
        acc = float(np.mean(net.forward(x).argmax(-1) == y))
    else:
        d = load_smnist()
        acc = float(np.mean(net.forward(d["x_test"]).argmax(-1) == d["y_test"]))
    assert acc == pytest.approx(net.metadata["float_accuracy"], abs=1e-3)
    if name == "smnist_lstm":
        assert acc >= 0.97


def test_demo_sequence_model_json(capsys):
    from cimsim.cli import main

    assert main(["demo", "--json", "--model", "smnist_lstm", "--n", "24"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["energy_per_token_j"] == pytest.approx(out["energy_per_inference_j"] / 28, rel=1e-6,
                                                      abs=0.0)
    assert out["latency_per_token_s"] == pytest.approx(out["latency_per_inference_s"] / 28,
                                                       rel=1e-6, abs=0.0)
    split = out["energy_split_per_token_j"]
    assert sum(split.values()) == pytest.approx(out["energy_per_token_j"], rel=1e-9, abs=0.0)
    assert split["digital"] > 0 and split["tiles"] > 0
    assert 0.0 <= out["analog_accuracy"] <= 1.0 and out["n_tiles_total"] >= 2
    assert main(["demo", "--json", "--model", "charlm_transformer", "--n", "2"]) == 0
    lm = json.loads(capsys.readouterr().out)
    assert lm["kv_cache_bytes"] > 0 and lm["energy_split_per_token_j"]["kv_cache"] > 0
    assert lm["analog_bits_per_char"] > 0 and 0 <= lm["analog_accuracy"] <= 1
