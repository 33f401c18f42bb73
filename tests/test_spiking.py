"""Spiking and graded subthreshold neurons on crossbars: LIF closed form, coding and decoding,
surrogate gradients, conversion, the chip (ideal equals float, analog membranes, events,
determinism), model files and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cimsim
from cimsim.hardware import HardwareConfig
from cimsim.nn.layers import LIF, Flatten, Linear, ReLU, SpikeEncoder, SubthresholdActivation
from cimsim.nn.network import Network
from cimsim.nn.snn_convert import (
    convert_to_snn,
    equivalent_ann,
    scale_thresholds,
    set_timesteps,
)
from cimsim.ppa.energy import components, energy_breakdown
from cimsim.ppa.spiking import compare_with_ann, neuron_steps, spikes_per_inference
from device_models import rng
from device_models.errors import InvalidParameterError, UnknownNameError
from device_models.mosfet import ekv_params
from device_models.neuron import lif_first_spike_time_s, lif_rate_hz


def _w(o, i, tag):
    return rng.standard_normal(rng.derive_key(7, tag), (o, i)) * math.sqrt(2.0 / i)


def _small_snn(steps=8, tau=None, hidden=12, output="count"):
    layers = [SpikeEncoder(steps, name="enc"), Flatten(name="flat"),
              Linear(_w(hidden, 16, "a"), np.zeros(hidden), name="fc1"),
              LIF(1.0, tau, "subtract", 0, steps, "spikes", name="lif1"),
              Linear(_w(3, hidden, "b"), np.zeros(3), name="fc2"),
              LIF(1.0, tau, "subtract", 0, steps, output, name="out")]
    x = rng.uniform(rng.derive_key(3, "x"), (40, 1, 4, 4))
    return Network(layers, (1, 4, 4), calibration=x), x


# --- the LIF neuron ---------------------------------------------------------------------------


def _isi(lif: LIF, current: float, steps: int) -> np.ndarray:
    lif.timesteps = steps
    s = lif.forward(np.full((steps, 1), current))[:, 0]
    return np.diff(np.flatnonzero(s))


@settings(max_examples=40)
@given(ri_over_theta=st.floats(1.05, 20.0), tau_steps=st.floats(2.0, 200.0),
       refractory=st.integers(0, 5))
def test_lif_rate_matches_closed_form(ri_over_theta, tau_steps, refractory):
    """Constant input: the discrete LIF (reset to zero) fires every r + ceil(t*) steps, with
    t* = τ ln(RI/(RI − θ)) of the continuous neuron (RI = I/(1 − β)); so its rate is the
    closed form 1/(t_ref + τ ln(RI/(RI − θ))) up to the step quantisation of the spike time."""
    theta = 0.7
    lif = LIF(theta, tau_steps, "zero", refractory, 1)
    beta = lif.beta
    current = ri_over_theta * theta * (1.0 - beta)         # per-step input: RI (1 − β)
    t_star = float(lif_first_spike_time_s(ri_over_theta * theta, 1.0, tau_steps, theta))
    if abs(t_star - round(t_star)) < 1e-6:
        return                                              # a spike time on a step edge
    isi = _isi(lif, current, 3000)
    assert isi.size > 2
    assert np.all(isi == refractory + math.ceil(t_star))
    f_closed = float(lif_rate_hz(ri_over_theta * theta, 1.0, tau_steps, theta, refractory))
    assert abs(1.0 / isi.mean() - f_closed) <= f_closed * f_closed * 1.0 + 1e-12


def test_lif_rate_converges_to_closed_form_with_finer_steps():
    """Fixed τ, I, θ in seconds; steps of dt → 0: the rate tends to the closed form."""
    tau_s, theta, ri, t_ref = 1e-3, 1.0, 1.6, 2e-4
    f = float(lif_rate_hz(ri, 1.0, tau_s, theta, t_ref))
    errors = []
    for dt in (1e-4, 1e-5, 1e-6):
        lif = LIF(theta, tau_s / dt, "zero", round(t_ref / dt), 1)
        isi = _isi(lif, ri * (1.0 - lif.beta), int(20 / (f * dt)))
        errors.append(abs(1.0 / (isi.mean() * dt) - f) / f)
    assert errors[0] > errors[1] > errors[2] and errors[2] < 2e-3


def test_integrate_and_fire_subtract_reset_conserves_charge():
    lif = LIF(1.0, None, "subtract", 0, 50, "count")
    i = rng.uniform(rng.derive_key(1, "i"), (3 * 50, 4)) * 0.9
    score = lif.forward(i)
    total = i.reshape(3, 50, 4).sum(axis=1)
    np.testing.assert_allclose(score, total, rtol=1e-12)


def test_ttfs_ordering_larger_input_fires_earlier():
    enc = SpikeEncoder(16, "ttfs", 8)
    x = np.linspace(0.0, 1.0, 33)[None, :]
    s = enc.encode(x)[0]                                    # (T, 33)
    assert s.sum(axis=0)[0] == 0 and np.all(s.sum(axis=0)[1:] == 1)
    first = s.argmax(axis=0)[1:]
    assert np.all(np.diff(first) <= 0) and first[-1] == 0 and first[0] == 15
    # LIF neurons: a larger constant current reaches threshold first (first-spike decoding)
    lif = LIF(1.0, 8.0, "zero", 0, 16, "first_spike")
    currents = np.array([0.15, 0.2, 0.4, 0.9])
    score = lif.forward(np.tile(currents, (16, 1)))[0]
    assert np.all(np.diff(score) > 0)


@settings(max_examples=30)
@given(x=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8), steps=st.integers(1, 40))
def test_rate_encoder_counts(x, steps):
    enc = SpikeEncoder(steps, "rate", 8)
    s = enc.encode(np.array([x]))[0]
    codes = np.rint(np.array(x) * 255).astype(np.int64)
    assert np.all(np.isin(s, (0.0, 1.0)))
    np.testing.assert_array_equal(s.sum(axis=0), (steps * codes) // 255)


def test_poisson_rate_code_statistics_and_streams():
    """The stochastic rate code: a Bernoulli spike with p = D/D_max per step, so the count of
    T steps is binomial (mean T·p, variance T·p(1 − p)); the trains are a function of the
    seed and the sample's position only (any batch split), another seed draws others."""
    from device_models.encoding import rate_spikes

    codes = np.array([0, 13, 64, 128, 200, 255])
    p = codes / 255.0
    steps, n = 64, 400
    batch = np.tile(codes, (n, 1))
    s = rate_spikes(batch, 255, steps, seed=5)
    assert s.shape == (steps, n, codes.size) and np.all(np.isin(s, (0.0, 1.0)))
    counts = s.sum(axis=0)                                   # (n, 6)
    mean, var = counts.mean(axis=0), counts.var(axis=0)
    se = np.sqrt(steps * p * (1 - p) / n)
    assert np.all(np.abs(mean - steps * p) <= 5 * se + 1e-12)
    inner = (p > 0) & (p < 1)
    np.testing.assert_allclose(var[inner], steps * p[inner] * (1 - p[inner]), rtol=0.25)
    assert counts[:, 0].max() == 0 and counts[:, -1].min() == steps
    # positions, not batches: two halves at their positions equal the whole
    halves = np.concatenate([rate_spikes(batch[:150], 255, steps, seed=5),
                             rate_spikes(batch[150:], 255, steps, seed=5, sample0=150)], axis=1)
    np.testing.assert_array_equal(halves, s)
    assert not np.array_equal(rate_spikes(batch, 255, steps, seed=6), s)
    with pytest.raises(InvalidParameterError, match="'sample0'"):
        rate_spikes(batch, 255, steps, seed=5, sample0=-1)


def test_regular_rate_code_at_the_largest_code_range_is_exact():
    """The regular code counts (S·D) // D_max spikes in integers: at the largest D_max whose
    S·D_max fits an int64 the count is exact, and one more is refused by name (an int64
    overflow, or NumPy's OverflowError beyond 2**63, otherwise)."""
    from device_models.encoding import rate_spikes

    steps = 1 << 20
    top = np.iinfo(np.int64).max // steps
    d = np.array([top, top // 3, 1])
    counts = rate_spikes(d, top, steps).sum(axis=0)
    np.testing.assert_array_equal(counts, [steps, (steps * (top // 3)) // top, 0])
    for c_max in (top + 1, 2**63):
        with pytest.raises(InvalidParameterError, match="'c_max'"):
            rate_spikes(d, c_max, steps)


def test_poisson_encoder_on_the_chip_uses_the_chip_seed():
    layers = [SpikeEncoder(8, "poisson", seed=11, name="enc"), Flatten(name="flat"),
              Linear(_w(6, 16, "a"), np.zeros(6), name="fc1"),
              LIF(1.0, 6.0, "subtract", 0, 8, "count", name="out")]
    x = rng.uniform(rng.derive_key(3, "x"), (30, 1, 4, 4))
    net = Network(layers, (1, 4, 4), calibration=x)
    assert net.layers[0].config()["seed"] == 11
    # float: positions within the run, any batch split
    np.testing.assert_array_equal(net.predict_float(x, batch_size=7),
                                  net.predict_float(x, batch_size=30))
    ideal = HardwareConfig.ideal(seed=11)
    a = net.compile(ideal, x).run(x, batch_size=30)
    np.testing.assert_allclose(a, net.forward(x), rtol=1e-9, atol=1e-12)   # chip seed = 11
    np.testing.assert_array_equal(net.compile(ideal, x).run(x, batch_size=7), a)
    other = net.compile(HardwareConfig.ideal(seed=12), x).run(x)
    assert not np.array_equal(other, a)
    # a second read of the same chip draws fresh trains
    net.compile(ideal, x)
    r0, r1 = net.evaluate(x, np.zeros(len(x), dtype=np.int64), t_s=[0.0, 0.0])
    assert r0.counts["enc"].spikes != r1.counts["enc"].spikes


def test_count_and_first_spike_decoding():
    lif = LIF(1.0, None, "subtract", 0, 4, "count")
    cur = np.array([[0.6], [0.6], [0.6], [0.6]])          # fires at steps 1 and 3
    assert lif.forward(cur)[0, 0] == pytest.approx(2.4)
    lif.output = "first_spike"
    assert lif.forward(cur)[0, 0] == pytest.approx(4 - 1 + 0.2)
    assert lif.forward(np.full((4, 1), 0.1))[0, 0] == pytest.approx(0.4)   # never fires


def test_surrogate_gradient_matches_bptt_closed_form():
    """Sub-threshold membrane (no spikes): d(count + V_T/θ)/dI_t = Σ_{t'≥t} β^{t'−t}
    (σ'(V_t') + [t' = T−1]/θ) with σ' the fast-sigmoid surrogate."""
    steps, theta, k = 6, 2.0, 5.0
    lif = LIF(theta, 4.0, "subtract", 0, steps, "count", surrogate_slope=k)
    cur = rng.uniform(rng.derive_key(2, "c"), (steps, 3)) * 0.3
    lif.forward(cur, train=True)
    g = lif.backward(np.ones((1, 3)))
    beta = lif.beta
    v = np.zeros(3)
    vs = []
    for t in range(steps):
        v = beta * v + cur[t]
        vs.append(v.copy())
    sig = [1.0 / (theta * (1.0 + k * np.abs(vv / theta - 1.0)) ** 2) for vv in vs]
    want = np.zeros((steps, 3))
    for t in range(steps):
        for tp in range(t, steps):
            want[t] += beta ** (tp - t) * (sig[tp] + (tp == steps - 1) / theta)
    np.testing.assert_allclose(g, want, rtol=1e-12)


def test_bptt_trains_a_spiking_network():
    net, x = _small_snn(steps=6, tau=8.0)
    y = (x.reshape(40, -1)[:, :8].sum(axis=1) > x.reshape(40, -1)[:, 8:].sum(axis=1)).astype(
        np.int64)
    hist = net.fit(x, y, epochs=25, lr=5e-3, batch_size=8, seed=1)
    assert hist[-1] < 0.7 * hist[0]


# --- graded subthreshold neuron ---------------------------------------------------------------


def test_subthreshold_activation_transfer_curve():
    act = SubthresholdActivation("ptm2006_65nm_nmos", gate_v_per_unit=0.05)
    p = ekv_params("ptm2006_65nm_nmos", 300.0)
    assert act.forward(np.array([[1.0]]))[0, 0] == pytest.approx(1.0)
    # deep subthreshold: exponential with slope g / (n U_T) per unit input
    x = np.array([[-20.0, -19.0]])
    y = act.forward(x)[0]
    assert math.log(y[1] / y[0]) == pytest.approx(0.05 / (p.n * p.ut_v), rel=1e-3)
    # smooth and increasing; gradient equals the finite difference
    xs = np.linspace(-4, 4, 41)[None, :]
    ys = act.forward(xs, train=True)[0]
    assert np.all(np.diff(ys) > 0)
    g = act.backward(np.ones_like(xs))[0]
    fd = (act.forward(xs + 1e-6)[0] - act.forward(xs - 1e-6)[0]) / 2e-6
    np.testing.assert_allclose(g, fd, rtol=1e-5)


def test_subthreshold_activation_closed_form_exponential_and_smooth():
    """The stage's curve is the EKV interpolation, ln²(1 + e^xf) − ln²(1 + e^xr) with
    x_f = (V_G − V_T0 + ηV_DS)/(2nU_T), x_r = x_f − V_DS/(2U_T), over its value at input 1;
    d ln y/dx falls smoothly from g/(nU_T) (exponential below threshold) towards the
    square law's 2g/(V_G − V_T0 + ηV_DS) above it, with no kink."""
    g, off, vds = 0.05, -0.1, 1.0                  # V_DS holds saturation up to x = 10
    act = SubthresholdActivation("ptm2006_65nm_nmos", gate_v_per_unit=g, gate_offset_v=off,
                                 v_ds_v=vds)
    p = ekv_params("ptm2006_65nm_nmos", 300.0)

    def closed(x):
        xf = (off + g * x + p.dibl_v_per_v * vds) / (2 * p.n * p.ut_v)
        xr = xf - vds / (2 * p.ut_v)
        return np.log1p(np.exp(xf)) ** 2 - np.log1p(np.exp(xr)) ** 2

    xs = np.linspace(-30.0, 10.0, 401)
    y = act.forward(xs[None, :])[0]
    np.testing.assert_allclose(y, closed(xs) / closed(1.0), rtol=1e-10)
    assert act.i1_a == pytest.approx(p.i_spec_a * (1 + p.clm_per_v * vds) * closed(1.0),
                                     rel=1e-10, abs=0.0)
    slope = np.gradient(np.log(y), xs)
    assert slope[0] == pytest.approx(g / (p.n * p.ut_v), rel=1e-3)      # exponential
    assert np.all(np.diff(slope) < 0)                                    # smooth, no kink
    v_on = off + g * xs[-1] + p.dibl_v_per_v * vds
    assert slope[-1] == pytest.approx(2 * g / v_on, rel=0.03)            # square law
    assert np.max(np.abs(np.diff(slope, 2))) < 1e-3 * slope[0]


def test_graded_stage_on_the_chip_takes_the_column_current():
    """On the default chip the Linear layer before the stage converts nothing: its column
    currents drive the stages, whose outputs the column ADCs convert once (the conversions,
    their switching energy from the codes, one buffer word each, ADC rounds); quantised
    ideal converters give the float curve to half an LSB of the calibrated range. A
    bit-sliced layer before it keeps its ADCs and drives the stages through row DACs."""
    layers = [Flatten(name="f"), Linear(_w(6, 16, "g"), None, name="fc"),
              SubthresholdActivation(gate_v_per_unit=0.05, gate_offset_v=-0.05,
                                     name="graded")]
    x = rng.uniform(rng.derive_key(4, "x"), (20, 1, 4, 4))
    net = Network(layers, (1, 4, 4), calibration=x)
    hw = HardwareConfig.ideal()
    hw = hw.replace(tile=hw.tile.replace(quantize=True, adc_bits=8, input_bits=8,
                                         weight_bits=8, bits_per_cell=8))
    y = net.compile(hw).run(x)
    stage = net._plan[2]
    assert stage.analog_input
    ref = net.forward(x)
    lsb = stage._chip.y_fs / 255
    assert stage._chip.y_fs == pytest.approx(ref.max(), rel=0.05)
    assert np.max(np.abs(y - ref)) <= 0.5 * lsb + 0.02 * ref.max()
    np.testing.assert_allclose(np.rint(y / lsb), y / lsb, atol=1e-9)     # on the code grid
    c, up = net.last_counts["graded"], net.last_counts["fc"]
    assert up.adc_conversions == 0 and up.shift_adds == 0 and up.sram_write_bits == 0
    assert c.adc_conversions == 20 * 6 and c.dac_conversions == 0
    # the tile's own ADCs convert the stages, as many per ADC as it converts outputs: six
    # pairs in mux groups of eight columns, four on the first ADC
    per_adc = net._analog["fc"][0].adc_rounds_per_cycle
    assert c.sram_write_bits == 20 * 6 * 8 and c.adc_rounds == 20 * per_adc == 20 * 4
    codes = np.rint(y / lsb).astype(np.int64)
    adc = stage._chip.adcs[0]
    assert c.adc_switching_energy_j == pytest.approx(float(adc.code_energy_j[codes].sum()),
                                                     rel=1e-6, abs=0.0)
    e = net.report().breakdown_per_inference_j
    assert e["adc"] > 0 and e["integrator"] > 0 and e["analog_neuron"] > 0
    # sliced weights: the pre-activation is converted, the stage's gate set by a row DAC
    sliced = hw.replace(tile=hw.tile.replace(bits_per_cell=4))
    net.compile(sliced).run(x)
    assert not net._plan[2].analog_input
    assert net.last_counts["fc"].adc_conversions > 0
    assert net.last_counts["graded"].dac_conversions == 20 * 6
    assert net.last_counts["graded"].adc_rounds == 20 * 6     # one bank ADC for 6 stages


@pytest.mark.parametrize("temperature_k", [250.0, 400.0])
def test_graded_gate_carries_the_integrator_kT_over_C(temperature_k):
    """The column integrator holding a stage's gate leaves k_B·T/C_int on it at every reset,
    C_int = A·t_read/g: in pre-activation units σ² = k_B·T/(A·t_read·g), drawn per evaluation
    (only with read noise)."""
    from types import SimpleNamespace

    layers = [Flatten(name="f"), Linear(_w(6, 16, "g"), None, name="fc"),
              SubthresholdActivation(gate_v_per_unit=0.05, gate_offset_v=-0.05,
                                     name="graded")]
    x = rng.uniform(rng.derive_key(4, "x"), (20, 1, 4, 4))
    net = Network(layers, (1, 4, 4), calibration=x)
    hw = HardwareConfig.ideal(read_noise=True, temperature_k=temperature_k)
    hw = hw.replace(tile=hw.tile.replace(quantize=True, adc_bits=8, input_bits=8,
                                         weight_bits=8, bits_per_cell=8))
    net.compile(hw)
    stage = net._plan[2]
    amps = net._analog["fc"][0].amps_per_unit
    t_read, g = hw.tile.t_read_s, stage.gate_v_per_unit
    want = math.sqrt(1.380649e-23 * temperature_k / (amps * t_read * g))
    np.testing.assert_allclose(stage.reset_noise_per_unit(), want, rtol=1e-12)
    seen = []
    current = stage._current
    stage._current = lambda rows, *a: (seen.append(rows), current(rows, *a))[1]
    stage._chip_forward(np.full((20000, 6), 0.3), SimpleNamespace(first=0, offset=0))
    np.testing.assert_allclose(seen[0].std(axis=0), want, rtol=0.03)
    np.testing.assert_allclose(seen[0].mean(axis=0), 0.3, atol=4 * want / math.sqrt(20000))
    quiet = Network(layers, (1, 4, 4), calibration=x).compile(hw.replace(read_noise=False))
    assert quiet._plan[2].reset_noise_per_unit() is None


def test_subthreshold_activation_on_chip_temperature_and_energy():
    layers = [Flatten(name="f"), Linear(_w(6, 16, "g"), np.zeros(6), name="fc"),
              SubthresholdActivation(gate_v_per_unit=0.05, name="graded"),
              Linear(_w(3, 6, "h"), np.zeros(3), name="out")]
    x = rng.uniform(rng.derive_key(4, "x"), (20, 1, 4, 4))
    net = Network(layers, (1, 4, 4), calibration=x)
    ideal = HardwareConfig.ideal()
    net.compile(ideal)
    np.testing.assert_allclose(net.run(x), net.forward(x), rtol=1e-9, atol=1e-12)
    c = net.last_counts["graded"]
    # energy: V_DD · I_D · t_read per evaluation, from the currents of the run
    act = net.layers[2]
    i1 = act._i1
    pre = net.layers[1].forward(net.layers[0].forward(x))
    vdd = 1.1   # ptm2006_65nm_nmos card
    want = vdd * ideal.tile.t_read_s * float(np.abs(act.forward(pre) * i1).sum())
    assert c.neuron_energy_j == pytest.approx(want, rel=1e-9, abs=0.0)
    e_neuron = net.report().breakdown_per_inference_j["analog_neuron"]
    assert e_neuron == pytest.approx(want / 20, rel=1e-6, abs=0.0)
    hot = net.compile(ideal.replace(temperature_k=360.0)).run(x)
    assert not np.allclose(hot, net.forward(x), rtol=1e-3)


# --- conversion -------------------------------------------------------------------------------


def test_conversion_with_threshold_balancing_tracks_the_ann():
    d = cimsim.models.load_digits_split()
    ann = cimsim.load_bundled("digits_mlp_relu")
    acc_ann = ann.float_accuracy(d["x_test"], d["y_test"])
    snn = convert_to_snn(ann, d["x_train"], timesteps=32)
    assert snn.timesteps == 32 and snn.metadata["conversion"]["percentile"] == 99.9
    assert snn.float_accuracy(d["x_test"], d["y_test"]) > acc_ann - 0.015
    # its equivalent ANN is the source network up to per-layer scales: same decisions
    eq = equivalent_ann(snn)
    np.testing.assert_array_equal(eq.predict_float(d["x_test"]), ann.predict_float(d["x_test"]))
    set_timesteps(snn, 4)
    assert all(lay.timesteps == 4 for lay in snn.layers if hasattr(lay, "timesteps"))
    scale_thresholds(snn, 2.0)
    assert {lay.threshold for lay in snn.layers if isinstance(lay, LIF)} == {2.0}


# --- on the chip ------------------------------------------------------------------------------


def test_ideal_hardware_equals_float_snn():
    net, x = _small_snn(steps=8, tau=6.0)
    net.compile(HardwareConfig.ideal(), x)
    np.testing.assert_allclose(net.run(x), net.forward(x), rtol=1e-9, atol=1e-12)
    # the bundled model too (calibrated on the inputs it runs)
    d = cimsim.models.load_digits_split()
    snn = cimsim.load_bundled("digits_snn_lif")
    xs = d["x_test"][:60]
    snn.compile(HardwareConfig.ideal(), xs)
    np.testing.assert_allclose(snn.run(xs), snn.forward(xs), rtol=1e-9, atol=1e-12)


def test_spike_layers_get_a_one_bit_drive_and_count_spikes():
    net, x = _small_snn(steps=8)
    net.compile(HardwareConfig(), x)
    assert net.timesteps == 8
    assert net._analog["fc1"][0].hw.tile.input_bits == 1
    assert net._analog["fc1"][0].encoder.n_planes == 1
    ev = net.evaluate(x, np.zeros(len(x), dtype=np.int64))
    sp = spikes_per_inference(ev, net)
    enc_spikes = net.layers[0].forward(x).sum() / len(x)
    assert sp["input"] == pytest.approx(enc_spikes)
    assert sp["total"] == pytest.approx(sp["input"] + sp["neurons"])
    assert ev.counts["fc1"].macs == len(x) * 8 * 16 * 12     # one GEMM per step


def test_determinism_by_seed_and_batch_split():
    net, x = _small_snn(steps=8, tau=5.0)
    hw = HardwareConfig(seed=3).replace_path("neuron.membrane", "analog")
    a = net.compile(hw, x).run(x, batch_size=40)
    ca = net.last_counts
    b = net.compile(hw, x).run(x, batch_size=7)
    np.testing.assert_array_equal(a, b)
    assert ca["out"].neuron_energy_j == pytest.approx(net.last_counts["out"].neuron_energy_j,
                                                      rel=1e-12, abs=0.0)
    c = net.compile(hw.replace(seed=4), x).run(x)
    assert not np.array_equal(a, c)


def test_analog_membrane_without_leak_equals_digital():
    """Within the rails (excitatory weights, under θ per step) an analog membrane without
    leak integrates exactly as the digital one."""
    net, x = _small_snn(steps=8)
    for lay, scale in ((net.layers[2], 0.4), (net.layers[4], 0.3)):
        lay.weight = np.abs(lay.weight) * scale / np.abs(lay.weight).sum(axis=1, keepdims=True)
    ideal = HardwareConfig.ideal()
    digital = net.compile(ideal, x).run(x)
    analog = net.compile(ideal.replace_path("neuron.membrane", "analog")
                         .replace_path("neuron.leak", "resistor"), x).run(x)
    np.testing.assert_allclose(analog, digital, rtol=1e-6, atol=1e-6)
    mem = net._plan[-1].membrane
    assert mem is not None and mem.leak == "resistor"
    counts = net.last_counts
    assert counts["fc1"].adc_conversions == 0 and counts["out"].neuron_energy_j > 0


def test_analog_leak_follows_temperature():
    """The chip's membranes: C sized so θ is the card's threshold voltage; the subthreshold
    leak trimmed at 300 K to lose (1 − β) of the threshold charge per step; hotter, the same
    gate bias leaks more (this strong a leak biases the transistor near threshold, where the
    temperature moves the current less than deep in weak inversion, tests/test_neuron.py)."""
    net, x = _small_snn(steps=12, tau=6.0)
    base = HardwareConfig.ideal().replace_path("neuron.membrane", "analog")
    leaks, trims = [], []
    for t in (300.0, 420.0):
        net.compile(base.replace(temperature_k=t), x).run(x)
        lif = net._plan[3]
        mem = lif.membrane
        comp = components(net.hardware)
        t_step = comp.t_dac_settle_s + comp.t_read_s
        trims.append((1 - math.exp(-1 / 6.0)) * mem.c_f * mem.v_threshold_v / t_step)
        leaks.append(float(mem.leak_current_a(np.full((1, mem.size), mem.v_threshold_v))[0, 0]))
        assert mem.c_f == pytest.approx(
            lif.threshold * net._analog["fc1"][0].amps_per_unit * comp.t_read_s
            / mem.v_threshold_v, rel=1e-6, abs=0.0)
        # each reset leaves kT/C on the membrane at the chip's temperature
        assert mem.reset_sigma_v == pytest.approx(math.sqrt(1.380649e-23 * t / mem.c_f),
                                                  rel=1e-12, abs=0.0)
    assert leaks[0] == pytest.approx(trims[0], rel=1e-6, abs=0.0)
    assert leaks[1] > 1.2 * leaks[0]


def test_event_energy_proportional_to_spikes():
    """Uniform inputs at rate 1/4 and 1/2: twice the input spikes drive twice the rows in
    twice the steps, and every energy line of the layer (row drives, wire charging, cell
    reads, conversions, shift-adds, result words, interconnect) doubles exactly; with no
    spike the layer costs nothing (only events cost)."""
    layers = [SpikeEncoder(16, name="enc"), Flatten(name="flat"),
              Linear(np.abs(_w(4, 16, "p")), None, name="fc"),
              LIF(1e9, None, "subtract", 0, 16, "count", name="out")]
    net = Network(layers, (1, 4, 4))
    hw = HardwareConfig(read_noise=False, converter_noise=False)
    comp = components(hw)
    net.compile(hw, np.full((5, 1, 4, 4), 1.0))
    m = net._analog["fc"][0]
    lines = []
    for p, active in ((0.0, 0), (0.25, 4), (0.5, 8)):
        net.run(np.full((5, 1, 4, 4), p))
        c = net.last_counts["fc"]
        e = energy_breakdown(c, comp)
        assert c.dac_conversions == 0 and e["dac"] == 0.0      # spikes are pulses, no DAC
        assert c.sram_write_bits == 5 * active * m.out_features * m.accumulator_bits
        assert c.row_pulses == 5 * active * 16
        lines.append((e, c.row_pulses, net.last_counts["enc"].spikes))
    assert sum(lines[0][0].values()) == 0.0 and lines[0][1] == 0
    (ea, pa, sa), (eb, pb, sb) = lines[1:]
    assert pb == 2 * pa and sb == 2 * sa
    assert {k for k, v in ea.items() if v} >= {"row_driver", "wire_charging", "array_read",
                                                "adc", "shift_add", "sram"}
    for k in ea:
        assert eb[k] == pytest.approx(2 * ea[k], rel=1e-9, abs=1e-30), k


@pytest.mark.parametrize("membrane", ["digital", "analog"])
def test_neurons_write_one_bit_per_spike(membrane):
    """The spike buffer holds events: a spiking layer writes one bit per spike, a decoding
    layer one ceil(log2(T+1))-bit word per neuron and sample."""
    net, x = _small_snn(steps=8)
    net.compile(HardwareConfig().replace_path("neuron.membrane", membrane), x)
    net.run(x)
    hid, out = net.last_counts["lif1"], net.last_counts["out"]
    assert 0 < hid.spikes < len(x) * 8 * 12
    assert hid.sram_write_bits == hid.spikes
    assert out.sram_write_bits == len(x) * 3 * 4


def test_event_driven_latency_follows_the_active_steps():
    """A read cycle only in the steps that carry a spike: uniform inputs at rates 1/4 and 1/2
    (the regular code puts every row's spikes in the same 4 and 8 of 16 steps) give array
    time in proportion to the active steps; no spike at all leaves only the fixed costs, the
    encoder's and neurons' per-step updates on the digital unit. A leaking analog membrane
    keeps the step clock (every step lasts a cycle, events or not)."""
    steps = 16
    layers = [SpikeEncoder(steps, name="enc"), Flatten(name="flat"),
              Linear(np.abs(_w(4, 16, "p")), None, name="fc"),
              LIF(1e9, None, "subtract", 0, steps, "count", name="out")]
    net = Network(layers, (1, 4, 4))
    hw = HardwareConfig(read_noise=False, converter_noise=False)
    net.compile(hw, np.full((5, 1, 4, 4), 1.0))
    assert all(m.event_driven for m in net._analog["fc"])
    lat, fc, cycles = [], [], []
    for p, active in ((0.0, 0), (0.25, 4), (0.5, 8)):
        net.run(np.full((5, 1, 4, 4), p))
        rep = net.report()
        lat.append(rep.latency_per_inference_s)
        fc.append(rep.layers["fc"].latency_per_inference_s)
        c = net.last_counts["fc"]
        assert c.cycles == 5 * active * net.mapping[0].n_tiles
        assert c.adc_rounds == 5 * active * net._analog["fc"][0].adc_rounds_per_cycle
        cycles.append(c.cycles)
    assert fc[0] == 0.0 and fc[1] > 0.0
    assert fc[2] == pytest.approx(2.0 * fc[1], rel=1e-12, abs=0.0)
    fixed = sum(lay.latency_per_inference_s for name, lay in rep.layers.items() if name != "fc")
    assert fixed > 0.0 and lat[0] == pytest.approx(fixed, rel=1e-12, abs=0.0)
    assert lat[2] - lat[0] == pytest.approx(2.0 * (lat[1] - lat[0]), rel=1e-12, abs=0.0)
    # the clocked reference: every step a cycle
    comp = components(hw)
    t_cycle = comp.t_dac_settle_s + comp.t_read_s + comp.t_shift_add_s
    assert fc[2] == pytest.approx(8 * t_cycle + 8 * net._analog["fc"][0].adc_rounds_per_cycle
                                  * comp.t_adc_conversion_s, rel=1e-12, abs=0.0)
    # an analog membrane that leaks decays per step period: the steps keep their clock
    leaky = [SpikeEncoder(steps, name="enc"), Flatten(name="flat"),
             Linear(np.abs(_w(4, 16, "p")), None, name="fc"),
             LIF(2.0, 8.0, "subtract", 0, steps, "count", name="out")]
    net = Network(leaky, (1, 4, 4))
    net.compile(hw.replace_path("neuron.membrane", "analog"), np.full((5, 1, 4, 4), 1.0))
    assert not net._analog["fc"][0].event_driven
    net.run(np.full((5, 1, 4, 4), 0.25))
    assert net.last_counts["fc"].cycles == 5 * steps * net.mapping[0].n_tiles


def test_compare_with_ann_side_by_side():
    d = cimsim.models.load_digits_split()
    snn = cimsim.load_bundled("digits_snn_lif")
    ann = cimsim.load_bundled(snn.metadata["ann_model"])
    res = compare_with_ann(snn, HardwareConfig(), d["x_test"][:40], d["y_test"][:40], ann=ann)
    assert res.timesteps == snn.timesteps
    assert res.snn["spikes_per_inference"] > 0 and 0 < res.snn["neuron_activity"] < 1
    for row in (res.snn, res.ann):
        assert row["energy_per_inference_j"] > 0 and row["latency_per_inference_s"] > 0
        assert row["edp_js"] == pytest.approx(row["energy_per_inference_j"]
                                              * row["latency_per_inference_s"], rel=1e-6, abs=0.0)
    assert "spikes / inference" in res.table()
    assert res.to_dict()["ann_name"] == "digits_mlp_relu"



def test_snn_activity_per_neuron_step_and_figures_against_the_ann_reference():
    """neuron_activity = neuron spikes per inference / neuron-steps per inference, the
    neuron-steps of _small_snn being (12 + 3) neurons × 8 steps = 120; the SNN's EDS and EDD
    are normalised by the ANN's MACs on the digital unit: 16·12 + 12·3 = 228 MACs (the ReLU
    layer, without MACs, adds none), at 0.3 pJ and 64 G MAC/s."""
    snn, x = _small_snn(steps=8)
    y = np.arange(10) % 3
    res = compare_with_ann(snn, HardwareConfig(), x[:10], y, ann=equivalent_ann(snn))
    assert neuron_steps(snn) == 120
    ev = res.snn_evaluation
    spikes = (ev.counts["lif1"].spikes + ev.counts["out"].spikes) / 10
    assert res.snn["neuron_spikes_per_inference"] == pytest.approx(spikes, rel=1e-12)
    assert 0 < res.snn["neuron_activity"] < 1
    assert res.snn["neuron_activity"] == pytest.approx(spikes / 120, rel=1e-12)
    e_ref, d_ref = 228 * 0.3e-12, 228 / 64e9
    for row in (res.snn, res.ann):
        e_rel = row["energy_per_inference_j"] / e_ref
        d_rel = row["latency_per_inference_s"] / d_ref
        assert row["eds"] == pytest.approx(0.5 * e_rel + 0.5 * d_rel, rel=1e-9)
        assert row["edd"] == pytest.approx(math.hypot(e_rel, d_rel), rel=1e-9)


# --- model files ------------------------------------------------------------------------------


def test_spiking_layers_round_trip_through_model_files(tmp_path):
    net, x = _small_snn(steps=5, tau=3.0)
    net.layers.insert(3, SubthresholdActivation(gate_v_per_unit=0.08, name="graded"))
    net = Network(net.layers, (1, 4, 4), calibration=x)
    path = cimsim.save_model(net, tmp_path / "snn.npz", dtype=np.float64)
    back = cimsim.load_model(path)
    assert [lay.config() for lay in back.layers] == [lay.config() for lay in net.layers]
    np.testing.assert_allclose(back.forward(x), net.forward(x), rtol=1e-12)


def test_bundled_spiking_models():
    names = cimsim.models.bundled_models()
    for name in ("digits_snn_lif", "mnist_snn_lif"):
        assert name in names
        net = cimsim.load_bundled(name)
        assert net.timesteps and net.metadata["ann_model"] in names
        assert net.metadata["trained_by"] == "scripts/train_snn.py"
    graded = cimsim.load_bundled("digits_mlp_graded")
    assert graded.metadata["ann_model"] == "digits_mlp_relu"
    assert any(isinstance(lay, SubthresholdActivation) for lay in graded.layers)
    d = cimsim.models.load_digits_split()
    xs = d["x_test"][:40]
    graded.compile(HardwareConfig.ideal(), xs)
    assert graded._plan[2].analog_input
    np.testing.assert_allclose(graded.run(xs), graded.forward(xs), rtol=1e-9, atol=1e-9)


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("steps", [0, -3])
def test_bad_timesteps(steps):
    with pytest.raises(InvalidParameterError, match="'timesteps'"):
        LIF(timesteps=steps)
    with pytest.raises(InvalidParameterError, match="'timesteps'"):
        SpikeEncoder(steps)


@pytest.mark.parametrize("theta", [0.0, -1.0, float("nan")])
def test_bad_threshold(theta):
    with pytest.raises(InvalidParameterError, match="'threshold'"):
        LIF(theta)


def test_bad_spiking_input():
    class HalfSpikes(SpikeEncoder):
        def forward(self, x, *, train=False, matmul=None):
            return 0.5 * super().forward(x)

    layers = [HalfSpikes(4, name="enc"), Flatten(name="f"),
              Linear(_w(3, 16, "q"), None, name="fc"), LIF(1.0, timesteps=4, output="count")]
    net = Network(layers, (1, 4, 4))
    x = np.full((2, 1, 4, 4), 0.5)
    with pytest.raises(InvalidParameterError, match="binary spikes"):
        net.compile(HardwareConfig(), x)
    # a matrix built for spike input takes nothing else, called directly too
    from cimsim.tile.matrix import AnalogMatrix

    am = AnalogMatrix(_w(3, 16, "q").T.copy(), HardwareConfig(), spike_input=True)
    am.calibrate(np.ones((2, 16)))
    am.matmul(np.eye(16)[:3])
    bad = np.eye(16)[:3]
    bad[1, 5] = 0.5
    with pytest.raises(InvalidParameterError, match=r"binary spikes.*0\.5 at index \(1, 5\)"):
        am.matmul(bad)
    enc = SpikeEncoder(4)
    with pytest.raises(InvalidParameterError, match="'x'"):
        enc.forward(np.full((1, 3), 1.5))
    with pytest.raises(InvalidParameterError, match="whole samples"):
        LIF(1.0, timesteps=4).forward(np.zeros((6, 2)))
    with pytest.raises(UnknownNameError, match="'reset'"):
        LIF(reset="half")
    with pytest.raises(UnknownNameError, match="'coding'"):
        SpikeEncoder(4, "morse")
    with pytest.raises(InvalidParameterError, match="'layers'"):
        Network([SpikeEncoder(4), Flatten(), Linear(np.ones((2, 16))),
                 LIF(timesteps=5, output="count")], (1, 4, 4))
    lif = LIF(1.0, timesteps=2, output="first_spike")
    lif.forward(np.zeros((2, 1)), train=True)
    with pytest.raises(InvalidParameterError, match="first-spike"):
        lif.backward(np.ones((1, 1)))
    with pytest.raises(InvalidParameterError, match="spiking Network"):
        equivalent_ann(Network([Flatten(), Linear(np.ones((2, 16)))], (1, 4, 4)))
    with pytest.raises(InvalidParameterError, match="ReLU"):
        convert_to_snn(Network([Flatten(), Linear(np.ones((2, 16))), Linear(np.ones((2, 2)))],
                               (1, 4, 4)), np.zeros((1, 1, 4, 4)))


def test_analog_membrane_needs_an_analog_layer_before_it():
    net, x = _small_snn(steps=4)
    hw = HardwareConfig().replace_path("neuron.membrane", "analog")
    with pytest.raises(InvalidParameterError, match="analog Linear/Conv2d"):
        net.compile(hw, x, placement={"digital": ("fc1",)})
    relu_net = Network([Flatten(), Linear(np.ones((2, 16))), ReLU()], (1, 4, 4))
    assert relu_net.timesteps is None


# --- CLI and sweeps ---------------------------------------------------------------------------


def test_demo_json_for_spiking_model(capsys):
    import json

    from cimsim.cli import main

    assert main(["demo", "--model", "digits_snn_lif", "--json", "--n", "40"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["timesteps"] == 16 and out["spikes_per_inference"] > 0
    for key in ("float_accuracy", "analog_accuracy", "energy_per_inference_j",
                "latency_per_inference_s", "energy_breakdown_per_inference_j", "n_tiles_total"):
        assert key in out
    for key in ("tops_per_w", "edp_js", "eds", "edd"):
        assert key in out["metrics"]
    assert out["ann"]["model"] == "digits_mlp_relu" and out["ann"]["energy_per_inference_j"] > 0


def test_spiking_sweep_job_and_example_spec(tmp_path):
    from pathlib import Path

    from cimsim.study import sweep
    from cimsim.study.store import load

    example = Path(__file__).parents[1] / "examples" / "snn_timesteps_threshold.toml"
    spec = sweep.SweepSpec.from_toml(example)
    assert spec.job == "spiking" and len(spec.points()) == 25
    raw = {"sweep": {"job": "spiking"}, "options": {"n_test": 40},
           "list": [{"options.timesteps": 4}, {"options.timesteps": 16},
                    {"options.timesteps": 16, "options.threshold_scale": 2.0,
                     "options.ann": True}]}
    out = tmp_path / "snn.h5"
    assert sweep.run_sweep(raw, out, workers=0, progress=False)["done"] == 3
    m = load(out).metrics
    assert list(m["timesteps"]) == [4, 16, 16]
    assert m["energy_per_inference_j"][1] > m["energy_per_inference_j"][0]
    assert m["spikes_per_inference"][2] < m["spikes_per_inference"][1]    # higher threshold
    assert m["ann.energy_per_inference_j"][2] > 0


def test_plot_snn_script_writes_the_closing_table_and_png(tmp_path):
    """scripts/plot_snn.py: one PNG and a table whose rows are compare_with_ann's figures."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "plot_snn.py"
    spec = importlib.util.spec_from_file_location("plot_snn", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--out", str(tmp_path), "--steps", "2", "8", "--models",
                     "digits_snn_lif", "--n", "24"]) == 0
    assert (tmp_path / "snn_vs_ann.png").stat().st_size > 20_000
    table = (tmp_path / "snn_vs_ann.md").read_text(encoding="utf-8")
    rows = [line for line in table.splitlines() if line.startswith(("| digital", "| analog"))]
    assert len(rows) == 4 and "| ANN |" in table
    d = cimsim.models.load_digits_split()
    snn = cimsim.load_bundled("digits_snn_lif")
    set_timesteps(snn, 8)
    res = compare_with_ann(snn, HardwareConfig(), d["x_test"][:24], d["y_test"][:24],
                           ann=cimsim.load_bundled("digits_mlp_relu"))
    cells = [c.strip() for c in rows[1].split("|")[1:-1]]
    assert cells[:2] == ["digital", "8"]
    assert cells[3] == f"{res.snn['chip_accuracy']:.4f}"
    assert cells[4].startswith(f"{res.snn['spikes_per_inference']:.0f} ")
    assert cells[6] == f"{res.snn['energy_per_inference_j'] * 1e12:.0f} pJ"
