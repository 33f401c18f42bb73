"""Digital operations between the analog products: declared by layers, priced by the tech card."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax
from test_energy import make_components
from test_layers import _grad_check
from test_network import small_net

from cimsim.hardware import HardwareConfig
from cimsim.nn.layers import (
    GELU,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
    Softmax,
    Softplus,
    Swish,
    run_digital_ops,
)
from cimsim.ops import OpCounts
from cimsim.ppa.energy import (
    DIGITAL_LINES,
    DIGITAL_OPS,
    ENERGY_KINDS,
    digital_op_cycles,
    digital_op_energy_j,
    energy_breakdown,
)
from cimsim.ppa.latency import layer_time_s
from cimsim.ppa.report import build_report
from device_models.errors import InvalidParameterError

HW = HardwareConfig()


def _rand(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape)


def test_layers_declare_their_operations_per_sample():
    shape = (4, 6, 6)
    assert ReLU().digital_ops(shape) == {"activation": {"relu": 144.0}}
    assert Swish().digital_ops((10,)) == {"activation": {"swish": 10.0}}
    assert Softplus().digital_ops((10,)) == {"activation": {"softplus": 10.0}}
    assert GELU().digital_ops((3,)) == {"activation": {"gelu": 3.0}}
    assert GELU("tanh").digital_ops((3,)) == {"activation": {"gelu_tanh": 3.0}}
    # 2x2 windows, stride 2: 4·3·3 outputs, 3 comparisons each
    assert MaxPool2d(2).digital_ops(shape) == {"pooling": {"compare": 36.0 * 3}}
    # 3x3 windows, stride 3: 4·2·2 outputs, 8 adds and one scaling each
    assert AvgPool2d(3).digital_ops(shape) == {"pooling": {"add": 16.0 * 8, "mult": 16.0}}
    bn = BatchNorm(np.ones(4), np.zeros(4), np.zeros(4), np.ones(4))
    assert bn.digital_ops(shape) == {"batch_norm": {"mult": 144.0, "add": 144.0}}
    assert Flatten().digital_ops(shape) == {}
    conv = Conv2d(_rand(1, 5, 4, 3, 3), np.zeros(5), padding=1)
    assert conv.digital_ops(shape) == {"bias": {"add": 5.0 * 36}}
    assert Conv2d(_rand(1, 5, 4, 3, 3), None).digital_ops(shape) == {}
    assert Linear(_rand(2, 3, 7), np.zeros(3)).digital_ops((7,)) == {"bias": {"add": 3.0}}
    # softmax over rows of 5: per value compare, 2 adds, exp, mult; one reciprocal per row
    assert Softmax().digital_ops((2, 5)) == {"softmax": {
        "compare": 10.0, "add": 20.0, "exp": 10.0, "mult": 10.0, "recip": 2.0}}


def test_every_declared_operation_is_priced():
    for layer, shape in ((ReLU(), (3,)), (Swish(), (3,)), (Softplus(), (3,)), (GELU(), (3,)),
                         (GELU("tanh"), (3,)), (MaxPool2d(2), (1, 4, 4)),
                         (AvgPool2d(2), (1, 4, 4)), (Softmax(), (4,))):
        for per in layer.digital_ops(shape).values():
            assert set(per) <= set(DIGITAL_OPS)


def test_residual_counts_its_add_and_its_body_under_their_names():
    body = [Conv2d(_rand(3, 2, 2, 3, 3), None, padding=1, name="c"), ReLU(name="r")]
    res = Residual(body, name="res")
    x = _rand(4, 5, 2, 4, 4)
    ops = run_digital_ops(res, x, res.forward(x))
    assert ops == {"res": {"residual": {"add": 5.0 * 32}}, "c": {},
                   "r": {"activation": {"relu": 5.0 * 32}}}


def test_softmax_layer_forward_and_backward():
    x = _rand(5, 3, 7)
    np.testing.assert_allclose(Softmax().forward(x), softmax(x, axis=-1), rtol=1e-13)
    assert Softmax().forward(np.array([[1000.0, 0.0]]))[0, 0] == 1.0   # no overflow
    _grad_check(Softmax(), _rand(6, 3, 4))


def test_decompositions_compose():
    """The composite operations are the sums their decompositions state (DIGITAL_OPS)."""
    def plus(*names_or_pairs):
        m = a = 0
        for x in names_or_pairs:
            dm, da = DIGITAL_OPS[x] if isinstance(x, str) else x
            m, a = m + dm, a + da
        return (m, a)

    assert DIGITAL_OPS["sigmoid"] == plus("exp", "add", "recip")
    assert DIGITAL_OPS["tanh"] == plus("sigmoid", "add")
    assert DIGITAL_OPS["swish"] == plus("mult", "sigmoid", "mult")
    assert DIGITAL_OPS["softplus"] == plus("mult", "exp", "add", "log", "mult")
    assert DIGITAL_OPS["div"] == plus("recip", "mult")
    assert DIGITAL_OPS["gelu_tanh"] == plus((5, 2), "tanh")
    assert DIGITAL_OPS["gelu"] == plus((1, 1), "recip", (5, 4), (1, 0), "exp", (1, 1), (1, 1))
    assert digital_op_cycles("exp") == 4 and digital_op_cycles("relu") == 1


def test_breakdown_lines_hand_worked():
    comp = make_components()   # E_mult = 0.7 pJ, E_add = 0.05 pJ at 16 bits
    ops = {"activation": {"sigmoid": 10.0}, "pooling": {"compare": 30.0},
           "neuron": {"mult": 2.0, "add": 4.0}}
    e = energy_breakdown(OpCounts(), comp, digital_ops=ops)
    assert e["activation"] == pytest.approx(10 * (8 * 0.7e-12 + 6 * 0.05e-12), rel=1e-12, abs=0.0)
    assert e["pooling"] == pytest.approx(30 * 0.05e-12, rel=1e-12, abs=0.0)
    assert e["neuron"] == pytest.approx(2 * 0.7e-12 + 4 * 0.05e-12, rel=1e-12, abs=0.0)
    assert list(e)[:len(ENERGY_KINDS)] == list(ENERGY_KINDS) and list(e)[-1] == "neuron"
    assert all(e[k] == 0.0 for k in ("residual", "batch_norm", "softmax"))
    assert digital_op_energy_j(comp, "exp") == pytest.approx(4 * 0.7e-12 + 3 * 0.05e-12, rel=1e-6,
                                                             abs=0.0)
    # time: lane cycles max(m, a) over the digital unit's 64 lanes at 1 GHz
    t = layer_time_s(OpCounts(), comp, n_tiles=0, digital_ops=ops)
    assert t == pytest.approx((10 * 8 + 30 * 1 + 2 + 4) / 64e9, rel=1e-12, abs=0.0)


def test_bad_operations_are_named():
    comp = make_components()
    with pytest.raises(InvalidParameterError, match="operations among"):
        energy_breakdown(OpCounts(), comp, digital_ops={"activation": {"cosh": 1.0}})
    with pytest.raises(InvalidParameterError, match=r"digital_ops\['activation'\]\['relu'\]"):
        energy_breakdown(OpCounts(), comp, digital_ops={"activation": {"relu": -1.0}})
    with pytest.raises(InvalidParameterError, match="'op' parameter"):
        digital_op_energy_j(comp, "cosh")


ops_strategy = st.dictionaries(
    st.sampled_from(("activation", "pooling", "softmax", "neuron")),
    st.dictionaries(st.sampled_from(sorted(DIGITAL_OPS)), st.floats(0.0, 1e9), max_size=4),
    max_size=3)


@settings(max_examples=60)
@given(a=ops_strategy, b=ops_strategy, batch=st.integers(1, 100))
def test_digital_energy_is_non_negative_and_additive(a, b, batch):
    """E(a + b) = E(a) + E(b) line by line, every line >= 0, and the report adds up."""
    comp = make_components()
    both: dict = {}
    for ops in (a, b):
        for line, per in ops.items():
            for op, c in per.items():
                both.setdefault(line, {})[op] = both.get(line, {}).get(op, 0.0) + c
    ea = energy_breakdown(OpCounts(), comp, digital_ops=a)
    eb = energy_breakdown(OpCounts(), comp, digital_ops=b)
    eab = energy_breakdown(OpCounts(), comp, digital_ops=both)
    for k, v in eab.items():
        assert v >= 0.0 and math.isfinite(v)
        assert v == pytest.approx(ea.get(k, 0.0) + eb.get(k, 0.0), rel=1e-9, abs=1e-30)
    rep = build_report({}, HW, batch=batch, digital_ops={"x": a, "y": b}, comp=comp)
    assert rep.energy_j == pytest.approx(sum(rep.energy_breakdown_j.values()), rel=1e-9, abs=1e-30)
    assert rep.energy_j == pytest.approx(sum(eab.values()), rel=1e-9, abs=1e-30)


def test_network_run_counts_and_reports_digital_work():
    net = small_net()
    x = np.abs(_rand(12, 6, 1, 8, 8))
    net.compile(HardwareConfig.ideal(), x)
    ev = net.evaluate(x, np.zeros(6, dtype=np.int64))
    n = len(x)
    assert ev.digital_ops == net.last_digital_ops
    # bn1 is folded into conv1 (costs nothing); every other layer declares its work
    assert ev.digital_ops["act1"] == {"activation": {"relu": n * 4 * 64.0}}
    assert ev.digital_ops["res"] == {"residual": {"add": n * 4 * 64.0}}
    assert ev.digital_ops["act2"] == {"activation": {"swish": n * 4 * 64.0}}
    assert ev.digital_ops["pool"] == {"pooling": {"compare": n * 4 * 16 * 3.0}}
    assert ev.digital_ops["conv1"] == {"bias": {"add": n * 4 * 64.0}}
    assert ev.digital_ops["fc"] == {"bias": {"add": n * 10.0}}
    assert "bn1" not in ev.digital_ops and "conv2" not in ev.digital_ops
    rep = net.report(ev)
    assert list(rep.layers) == ["conv1", "act1", "res", "conv2", "act2", "pool", "fc"]
    b = rep.energy_breakdown_j
    for line in ("bias", "activation", "pooling", "residual"):
        assert b[line] > 0.0
    assert set(DIGITAL_LINES) <= set(b)
    assert rep.energy_j == pytest.approx(sum(b.values()), rel=1e-12, abs=0.0)
    assert rep.energy_j == pytest.approx(
        sum(la.energy_total_j for la in rep.layers.values()) + rep.leakage_j, rel=1e-12, abs=0.0)
    assert rep.layers["act2"].time_s > 0.0 and rep.layers["act2"].macs == 0
    assert "-" in rep.table()
