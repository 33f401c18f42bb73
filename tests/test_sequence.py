"""Sequence layers: float forward against independent references, ideal tiles equal float,
closed forms of the state-space recurrence and of the leaky integrator, causal masking,
model files, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cimsim.layers import (
    GRU,
    LSTM,
    DiagonalSSM,
    Embedding,
    LayerNorm,
    Linear,
    MultiHeadAttention,
    PositionalEncoding,
    Residual,
    SequencePool,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from cimsim import HardwareConfig, Network, load_model, save_model
from device_models.errors import CimSimError, InvalidParameterError

R = np.random.default_rng(7)


def _w(*shape, s=0.5):
    return R.normal(size=shape) * s


def _sig(z):
    return 1.0 / (1.0 + math.exp(-z))


# --- independent references: one sample, one unit at a time ---------------------------------


def _lstm_ref(layer: LSTM, x: np.ndarray) -> np.ndarray:
    hs = layer.hidden_size
    out = np.zeros((x.shape[0], hs))
    h, c = [0.0] * hs, [0.0] * hs
    for t in range(x.shape[0]):
        pre = [sum(layer.weight_ih[r, k] * x[t, k] for k in range(x.shape[1]))
               + sum(layer.weight_hh[r, k] * h[k] for k in range(hs))
               + layer.bias_ih[r] + layer.bias_hh[r] for r in range(4 * hs)]
        c = [_sig(pre[hs + j]) * c[j] + _sig(pre[j]) * math.tanh(pre[2 * hs + j])
             for j in range(hs)]
        h = [_sig(pre[3 * hs + j]) * math.tanh(c[j]) for j in range(hs)]
        out[t] = h
    return out


def _gru_ref(layer: GRU, x: np.ndarray) -> np.ndarray:
    hs = layer.hidden_size
    h = [0.0] * hs
    out = np.zeros((x.shape[0], hs))
    for t in range(x.shape[0]):
        gi = [sum(layer.weight_ih[r, k] * x[t, k] for k in range(x.shape[1]))
              + layer.bias_ih[r] for r in range(3 * hs)]
        gh = [sum(layer.weight_hh[r, k] * h[k] for k in range(hs)) + layer.bias_hh[r]
              for r in range(3 * hs)]
        new = []
        for j in range(hs):
            r = _sig(gi[j] + gh[j])
            z = _sig(gi[hs + j] + gh[hs + j])
            n = math.tanh(gi[2 * hs + j] + r * gh[2 * hs + j])
            new.append((1 - z) * n + z * h[j])
        h = new
        out[t] = h
    return out


def _mha_ref(layer: MultiHeadAttention, x: np.ndarray) -> np.ndarray:
    t, d = x.shape
    h, dh = layer.num_heads, layer.head_dim
    qkv = x @ layer.in_proj_weight.T + layer.in_proj_bias
    q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
    o = np.zeros((t, d))
    for hd in range(h):
        sl = slice(hd * dh, (hd + 1) * dh)
        for i in range(t):
            keys = range(i + 1) if layer.causal else range(t)
            sc = {j: float(q[i, sl] @ k[j, sl]) / math.sqrt(dh) for j in keys}
            if layer.top_k is not None:
                kth = sorted(sc.values(), reverse=True)[min(layer.top_k, len(sc)) - 1]
                sc = {j: s for j, s in sc.items() if s >= kth}
            m = max(sc.values())
            e = {j: math.exp(s - m) for j, s in sc.items()}
            tot = sum(e.values())
            o[i, sl] = sum(e[j] / tot * v[j, sl] for j in e)
    return o @ layer.out_proj_weight.T + layer.out_proj_bias


def _lstm(f=3, hs=4):
    return LSTM(_w(4 * hs, f), _w(4 * hs, hs), _w(4 * hs, s=0.1), _w(4 * hs, s=0.1))


def _gru(f=3, hs=4):
    return GRU(_w(3 * hs, f), _w(3 * hs, hs), _w(3 * hs, s=0.1), _w(3 * hs, s=0.1))


def _mha(d=8, h=2, **kw):
    return MultiHeadAttention(_w(3 * d, d, s=0.4), _w(3 * d, s=0.1), _w(d, d, s=0.4),
                              _w(d, s=0.1), num_heads=h, **kw)


def _ssm(f=3, p=4, fo=2, complex_=False):
    s = 2 * p if complex_ else p
    return DiagonalSSM(_w(s, f), _w(fo, s), R.normal(size=p) - 1.0,
                       R.uniform(-1, 1, p) if complex_ else None, _w(fo, s=0.1))


def test_recurrent_float_forward_equals_reference():
    x = _w(2, 5, 3, s=1.0)
    lstm, gru = _lstm(), _gru()
    for layer, ref in ((lstm, _lstm_ref), (gru, _gru_ref)):
        y = layer.forward(x)
        for n in range(2):
            np.testing.assert_allclose(y[n], ref(layer, x[n]), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kw", [{"causal": True}, {"causal": False},
                                {"causal": True, "top_k": 2}, {"causal": False, "top_k": 3}])
def test_attention_float_forward_equals_reference(kw):
    layer = _mha(**kw)
    x = _w(3, 6, 8, s=1.0)
    y = layer.forward(x)
    for n in range(3):
        np.testing.assert_allclose(y[n], _mha_ref(layer, x[n]), rtol=1e-10, atol=1e-12)


def test_layernorm_embedding_positions_reference():
    ln = LayerNorm(_w(6, s=1.0), _w(6, s=1.0), eps=1e-5)
    x = _w(2, 3, 6, s=2.0)
    mu = x.mean(-1, keepdims=True)
    sd = np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(ln.forward(x), (x - mu) / sd * ln.weight + ln.bias, rtol=1e-12)
    emb = Embedding(_w(5, 4))
    ids = np.array([[0.0, 4.0, 2.0]])
    np.testing.assert_array_equal(emb.forward(ids)[0], emb.weight[[0, 4, 2]])
    pe = PositionalEncoding(6, 10).table(3)
    assert pe[0, 0] == 0.0 and pe[0, 1] == 1.0
    assert pe[2, 2] == pytest.approx(math.sin(2 / 10000 ** (2 / 6)))
    assert pe[2, 5] == pytest.approx(math.cos(2 / 10000 ** (4 / 6)))


def test_float_forward_equals_torch():
    torch = pytest.importorskip("torch", reason="torch (optional extra) not installed")
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8, dtype=torch.float64)

    def p(t):
        return t.detach().numpy()

    lt = torch.nn.LSTM(8, 6, batch_first=True).double()
    gt = torch.nn.GRU(8, 6, batch_first=True).double()
    for t_layer, cls in ((lt, LSTM), (gt, GRU)):
        ours = cls(p(t_layer.weight_ih_l0), p(t_layer.weight_hh_l0), p(t_layer.bias_ih_l0),
                   p(t_layer.bias_hh_l0))
        np.testing.assert_allclose(ours.forward(p(x)), p(t_layer(x)[0]), rtol=1e-10,
                                   atol=1e-12)
    mt = torch.nn.MultiheadAttention(8, 2, batch_first=True).double()
    mask = torch.triu(torch.full((5, 5), float("-inf"), dtype=torch.float64), diagonal=1)
    ours = MultiHeadAttention(p(mt.in_proj_weight), p(mt.in_proj_bias),
                              p(mt.out_proj.weight), p(mt.out_proj.bias), num_heads=2)
    np.testing.assert_allclose(ours.forward(p(x)),
                               p(mt(x, x, x, attn_mask=mask, need_weights=False)[0]),
                               rtol=1e-10, atol=1e-12)
    ln = torch.nn.LayerNorm(8).double()
    np.testing.assert_allclose(LayerNorm(p(ln.weight), p(ln.bias)).forward(p(x)), p(ln(x)),
                               rtol=1e-10, atol=1e-12)


# --- state-space closed forms ------------------------------------------------------------------


@pytest.mark.parametrize("complex_", [False, True])
def test_ssm_impulse_response_closed_form(complex_):
    layer = _ssm(complex_=complex_)
    t_len = 12
    x = np.zeros((1, t_len, 3))
    x0 = np.array([1.0, -0.5, 2.0])
    x[0, 0] = x0
    y = layer.forward(x)[0] - layer.bias
    lam = layer.eigenvalues()
    p = layer.state_size
    b = layer.weight_in[:p] + (1j * layer.weight_in[p:] if complex_ else 0)
    c = layer.weight_out[:, :p] - (1j * layer.weight_out[:, p:] if complex_ else 0)
    for t in range(t_len):
        expect = np.real(c @ (lam**t * (b @ x0)))
        np.testing.assert_allclose(y[t], expect, rtol=1e-10, atol=1e-12)
    assert np.all(np.abs(lam) < 1.0)


def test_leaky_integrator_small_signal_and_saturation():
    from device_models.integrator import (
        leak_conductance_s,
        leak_gate_for_conductance_v,
        leak_integrators,
    )
    from device_models.neuron import integrate_membrane

    card = "mosis2001_tsmc180_nmos"
    g0 = np.array([1e-11, 1e-10])
    vg = leak_gate_for_conductance_v(g0, card)
    np.testing.assert_allclose(leak_conductance_s(vg, card), g0, rtol=1e-6)
    c_f, dt = 1e-13, 1e-3
    mem = leak_integrators(vg, card, c_f)

    def leak(v0):
        return integrate_membrane(v0, np.zeros_like(v0), mem, 0.0, dt, substeps=16)

    v0 = np.array([1e-4, -1e-4])          # |v| << U_T: linear leak, v0·exp(-g0·t/C)
    np.testing.assert_allclose(leak(v0), v0 * np.exp(-g0 * dt / c_f), rtol=2e-3)
    # |v| >> U_T: the subthreshold current saturates, the decay is slower than exponential
    assert np.all(leak(np.array([0.3, 0.3])) > 0.3 * np.exp(-g0 * dt / c_f))
    # a hotter chip leaks more at the same gate bias (U_T, V_T(T), mobility)
    assert np.all(leak_conductance_s(vg, card, 350.0) > g0 * 2)


def test_ssm_analog_integrator_matches_digital_at_nominal_temperature():
    layer = _ssm(p=3, complex_=False)
    layer.recurrence = "analog"
    u = _w(2, 10, 3, s=1.0)
    digital = layer.scan(u)
    analog = layer.analog_scan(u, "mosis2001_tsmc180_nmos", 300.0)
    # 1 mV per unit: states of a few units stay well below U_T, so the leak is nearly linear
    # (relative error of the subthreshold current about v / 2U_T)
    err = np.max(np.abs(analog - digital))
    assert err < 0.05 * np.max(np.abs(digital))
    hot = layer.analog_scan(u, "mosis2001_tsmc180_nmos", 340.0)
    assert np.max(np.abs(hot - digital)) > 5 * err
    noisy = layer.analog_scan(u, "mosis2001_tsmc180_nmos", 300.0, seed=3)
    assert 0 < np.max(np.abs(noisy - analog)) < 1.0          # kT/C of 1 pF: 64 uV = 0.06 unit


@pytest.mark.parametrize("temperature_k", [250.0, 400.0])
def test_ssm_analog_integrator_noise_is_kT_over_C(temperature_k):
    """Zero input: the integrator holds only its leak's thermal noise, an Ornstein-Uhlenbeck
    process whose variance after t steps is (kT/C)(1 − e^{−2 g_0 t Δt / C}) at the chip's
    temperature (µV states: the subthreshold leak is linear)."""
    from device_models.constants import K_B_J_PER_K
    from device_models.integrator import leak_conductance_s

    card = "mosis2001_tsmc180_nmos"
    layer = _ssm(p=3, complex_=False)
    layer.recurrence = "analog"
    n, steps = 6000, 6
    s = layer.analog_scan(np.zeros((n, steps, 3)), card, temperature_k, seed=5)
    c, dt, k = layer.integrator_c_f, layer.integrator_dt_s, layer.integrator_v_per_unit
    g0 = leak_conductance_s(layer.integrator_gates_v(card), card, temperature_k)
    for t in (1, steps - 1):
        want = K_B_J_PER_K * temperature_k / c * -np.expm1(-2.0 * g0 * t * dt / c) / k ** 2
        np.testing.assert_allclose(s[:, t].var(axis=0), want, rtol=0.07)


# --- networks on tiles ---------------------------------------------------------------------------


def _seq_net(d=8, t=6, f=3):
    return Network([
        _lstm(f, 5), _gru(5, 4), _ssm(4, 4, d, complex_=True),
        Residual([LayerNorm(np.ones(d), np.zeros(d)), _mha(d, 2, top_k=3)]),
        Linear(_w(3, d)), SequencePool("mean")], (t, f))


def test_ideal_hardware_equals_float():
    net = _seq_net()
    x = _w(9, 6, 3, s=1.0)
    net.compile(HardwareConfig.ideal(), x)
    np.testing.assert_allclose(net.run(x), net.forward(x), rtol=1e-9, atol=1e-11)
    lm = Network([Embedding(_w(7, 8)), PositionalEncoding(8, 16),
                  Residual([LayerNorm(np.ones(8), np.zeros(8)), _mha(8, 4)]),
                  Linear(_w(7, 8))], (5,))
    ids = R.integers(0, 7, (4, 5)).astype(float)
    lm.compile(HardwareConfig.ideal(), ids)
    np.testing.assert_allclose(lm.run(ids), lm.forward(ids), rtol=1e-9, atol=1e-11)


def test_evaluate_with_a_label_per_token():
    lm = Network([Embedding(_w(7, 8)), Residual([LayerNorm(np.ones(8), np.zeros(8)),
                                                  _mha(8, 2)]), Linear(_w(7, 8))], (5,))
    ids = R.integers(0, 7, (6, 5)).astype(float)
    y = R.integers(0, 7, (6, 5))
    lm.compile(HardwareConfig.ideal(), ids)
    ev = lm.evaluate(ids, y)
    assert ev.analog_accuracy == ev.float_accuracy == np.mean(lm.forward(ids).argmax(-1) == y)
    with pytest.raises(InvalidParameterError, match=r"of shape \(6, 5\)"):
        lm.evaluate(ids, y[:, 0])


def test_recurrent_run_independent_of_batch_split():
    net = Network([_lstm(3, 6), SequencePool("last"), Linear(_w(2, 6))], (7, 3))
    x = _w(10, 7, 3, s=1.0)
    net.compile(HardwareConfig(), x)
    a = net.run(x, batch_size=10)
    b = net.run(x, batch_size=3)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
    assert not np.allclose(a, net.forward(x), atol=1e-6)   # noise reached the output


@settings(max_examples=15)
@given(t=st.integers(2, 9), pos=st.integers(0, 8), top_k=st.one_of(st.none(),
                                                                   st.integers(1, 4)))
def test_causal_output_never_depends_on_later_tokens(t, pos, top_k):
    pos = min(pos, t - 1)
    layer = _mha(8, 2, causal=True, top_k=top_k)
    x = _w(1, t, 8, s=1.0)
    x2 = x.copy()
    x2[0, pos:] += _w(t - pos, 8, s=3.0)
    np.testing.assert_array_equal(layer.forward(x)[0, :pos], layer.forward(x2)[0, :pos])


def test_causal_on_tiles():
    net = Network([_mha(8, 2, causal=True)], (6, 8))
    x = _w(2, 6, 8, s=1.0)
    net.compile(HardwareConfig(), x)
    x2 = x.copy()
    x2[:, 4:] += 5.0
    a, b = net.run(x), net.run(x2)
    np.testing.assert_array_equal(a[:, :4], b[:, :4])


def test_save_load_round_trip(tmp_path):
    net = _seq_net()
    x = _w(3, 6, 3, s=1.0)
    for suffix in (".npz", ".h5"):
        path = save_model(net, tmp_path / f"seq{suffix}", dtype=np.float64)
        back = load_model(path)
        np.testing.assert_array_equal(back.forward(x), net.forward(x))
        assert [lay.kind for lay in back.layers] == [lay.kind for lay in net.layers]


def test_attention_kv_cache_and_digital_ops():
    layer = _mha(8, 2, causal=True)
    kv = layer.kv_cache(5)
    assert kv["write"] == 2 * 5 * 8 and kv["size"] == 2 * 5 * 8
    assert kv["read"] == 8 * 2 * 15             # K and V rows 1 + 2 + ... + 5
    assert layer.digital_ops((5, 8))["attention"]["mac"] == 2 * 4 * 2 * 15
    sparse = _mha(8, 2, causal=True, top_k=2)
    assert sparse.digital_ops((5, 8))["attention"]["mac"] == 2 * 4 * (15 + 1 + 2 + 2 + 2 + 2)
    assert sparse.kv_cache(5)["read"] == 8 * (15 + 9)
    net = Network([layer], (5, 8))
    x = _w(3, 5, 8, s=1.0)
    hw = HardwareConfig()
    net.compile(hw, x)
    net.run(x)
    c = net.last_counts[layer.name]
    assert c.kv_cache_write_bits == 3 * kv["write"] * hw.tile.input_bits
    assert c.kv_cache_read_bits == 3 * kv["read"] * hw.tile.input_bits
    e = net.report().breakdown_per_inference_j
    assert e["kv_cache"] > 0 and e["softmax"] > 0 and e["attention"] > 0



def test_kv_cache_energy_is_reads_plus_writes_per_bit():
    """Causal attention, T = 5, d = 8: 80 values written and 240 read per sequence, at the
    tile's 8-bit input resolution 2560 bits, each at E_SRAM(8 kB, 64 b)/64 = 10 pJ/64 of the
    45 nm card: 0.4 nJ per sequence."""
    layer = _mha(8, 2, causal=True)
    net = Network([layer], (5, 8))
    x = _w(3, 5, 8, s=1.0)
    hw = HardwareConfig()
    assert hw.tile.input_bits == 8 and hw.tech_card == "horowitz2014_45nm"
    net.compile(hw, x)
    net.run(x)
    rep = net.report()
    assert rep.breakdown_per_inference_j["kv_cache"] == pytest.approx(
        (80 + 240) * 8 * 10e-12 / 64, rel=1e-12, abs=0.0)
    assert rep.layers[layer.name].energy_j["kv_cache"] == pytest.approx(3 * 0.4e-9, rel=1e-12,
                                                                        abs=0.0)

def test_attention_scores_on_tiles_count_their_writes():
    from cimsim.nn.accounting import sequence_account

    layer = _mha(8, 2, causal=True, scores="tiles")
    net = Network([layer], (6, 8))
    x = _w(2, 6, 8, s=1.0)
    net.compile(HardwareConfig.ideal(), x)
    np.testing.assert_allclose(net.run(x), net.forward(x), rtol=1e-9, atol=1e-11)
    net.compile(HardwareConfig(), x)
    y = net.run(x)
    assert np.max(np.abs(y - net.forward(x))) < 0.5 * np.max(np.abs(net.forward(x)))
    acct = sequence_account(net, net.report(), 6)
    rw = acct["rewrites"][layer.name]
    # per sequence and head: K^T (4 x 6) and V (6 x 4) written, differential pairs of cells
    assert rw["cells_written_per_sequence"] == 2 * 2 * (4 * 6 * 2)
    assert rw["pulses_per_sequence"] >= rw["cells_written_per_sequence"]
    assert rw["program_energy_per_sequence_j"] > 0 and rw["write_time_per_sequence_s"] > 0
    assert acct["energy_split_per_token_j"]["tile_writes"] > 0
    assert acct["kv_cache_bytes"] == 0 and net.last_counts[layer.name].kv_cache_read_bits == 0


# --- bad input -------------------------------------------------------------------------------


def test_bad_input_is_named():
    lstm = _lstm(3, 4)
    with pytest.raises(InvalidParameterError, match="at least one time step"):
        lstm.forward(np.zeros((2, 0, 3)))
    with pytest.raises(InvalidParameterError, match=r"\(N, T, 3\)"):
        lstm.forward(np.zeros((2, 4, 5)))
    with pytest.raises(InvalidParameterError, match="T >= 1"):
        Network([lstm], (0, 3))
    with pytest.raises(InvalidParameterError, match="expects inputs of shape"):
        Network([_lstm(3, 4)], (5, 4))
    with pytest.raises(InvalidParameterError, match="token ids"):
        Embedding(_w(4, 2)).forward(np.array([[0.0, 4.0]]))
    with pytest.raises(InvalidParameterError, match="token ids"):
        Embedding(_w(4, 2)).forward(np.array([[0.5]]))
    with pytest.raises(InvalidParameterError, match="divisor"):
        _mha(8, 3)
    with pytest.raises(InvalidParameterError, match="complex"):
        DiagonalSSM(_w(4, 3), _w(2, 4), np.zeros(2), np.zeros(2), recurrence="analog")
    with pytest.raises(CimSimError, match="NumPy backward"):
        lstm.backward(np.zeros((1, 1, 4)))
