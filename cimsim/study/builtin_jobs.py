"""The built-in sweep jobs: ``adc_enob``, ``device_array`` and ``demo``."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np

from device_models import rng

from ..config import Config, param
from .jobs import register_job
from .point import CARD_FIELDS, PointConfig


@dataclasses.dataclass(frozen=True)
class AdcEnobOptions(Config):
    """Options of the ``adc_enob`` job."""

    n_samples: int = param(4096, lo=64, hi=1 << 22,
                           doc="Samples of the coherent sine test, a power of two [-].")

    def validate(self) -> None:
        if self.n_samples & (self.n_samples - 1):
            self._fail("n_samples", "a power of two", self.n_samples)


@register_job("adc_enob", options=AdcEnobOptions, cards=("adc_card",))
def adc_enob_job(config: PointConfig) -> dict[str, float]:
    """ENOB and energy of the tile's SAR ADC: ``hardware.adc_card`` at ``tile.adc_bits``.

    Builds :meth:`device_models.SarAdc.from_card` (with the point's ``adc_card.<field>``
    overrides) at ``hardware.temperature_k``; with ``hardware.converter_noise`` off, mismatch,
    offset, comparator and kT/C noise are zero. Measures a coherent sine with
    :func:`device_models.measure_enob`.

    Returns
    -------
    dict
        ``enob`` [bit], ``sinad_db``, ``snr_db``, ``sfdr_db``, ``thd_db`` [dB];
        ``energy_per_conversion_j``: CDAC switching energy averaged over uniformly distributed
        codes plus comparator and logic energy [J]; ``conversion_time_s`` [s];
        ``walden_fom_j``: energy / 2**enob, per conversion step [J].
    """
    from device_models.adc import SarAdc
    from device_models.measure import measure_enob

    hw = config.hardware
    ideal = {} if hw.converter_noise else {
        "comparator_noise_v": 0.0, "comparator_offset_v": 0.0, "unit_cap_mismatch": 0.0,
        "ktc_noise": False}
    adc = SarAdc.from_card(config.card("adc_card"), bits=hw.tile.adc_bits,
                           seed=rng.derive_key(hw.seed, "adc_enob"),
                           temperature_k=hw.temperature_k, **ideal)
    res = measure_enob(adc, n_samples=config.options.n_samples)
    energy = float(np.mean(adc.code_energy_j)) + adc.e_comparator_j + adc.e_logic_j
    return {
        "enob": res.enob, "sinad_db": res.sinad_db, "snr_db": res.snr_db,
        "sfdr_db": res.sfdr_db, "thd_db": res.thd_db,
        "energy_per_conversion_j": energy, "conversion_time_s": adc.conversion_time_s,
        "walden_fom_j": energy / 2.0 ** res.enob,
    }


@dataclasses.dataclass(frozen=True)
class DeviceArrayOptions(Config):
    """Options of the ``device_array`` job."""

    cells: int = param(4096, lo=1, hi=1 << 22, doc="Cells programmed [-].")
    levels: int = param(16, lo=2, hi=1 << 16,
                        doc="Equally spaced target levels in [g_min_s, g_max_s] [-].")


@register_job("device_array", options=DeviceArrayOptions, cards=("device_card",))
def device_array_job(config: PointConfig) -> dict[str, float]:
    """Program, fault, age and read an array of memory cells; conductance-error statistics.

    Targets are ``levels`` equally spaced conductances in [G_min, G_max] of the device card
    (drawn per cell from the point's seed). Programming (write-verify or the PCM noise model,
    if ``hardware.programming_noise``), stuck-at faults (``hardware.faults``) and relaxation or
    drift to ``hardware.t_s`` at ``hardware.temperature_k`` (``hardware.drift``) use
    :mod:`device_models.memory`; one read (``hardware.read_noise``) at the tile's read voltage
    ``tile.v_read_v`` and integration time ``tile.t_read_s``, at ``hardware.temperature_k``,
    gives ``max(G + σ_ex·z, 0) + σ_w·z'``: the card's excess noise σ_ex and the thermal and
    shot noise of the cell as a conductance, σ_w² = S_I·Δf / V² (both from
    :func:`device_models.memory.read_noise`).

    Returns
    -------
    dict
        ``program_rms_error_rel`` and ``read_rms_error_rel``: rms of G − G_target after
        programming and of one read after ageing, relative to G_max − G_min [-];
        ``read_sigma_rel_mean``: mean read-noise σ, sqrt(σ_ex² + σ_w²), relative to
        G_max − G_min [-];
        ``level_error_rate``: fraction of cells whose read is nearest a wrong level [-];
        ``pulses_per_cell`` [-], ``program_energy_per_cell_j`` [J],
        ``program_time_per_cell_s`` [s].
    """
    from device_models import memory

    hw, opts = config.hardware, config.options
    card = config.card("device_card")
    n, levels = opts.cells, opts.levels
    g_min, g_max = card.g_min_s, card.g_max_s
    span = g_max - g_min
    level = np.minimum(
        np.floor(rng.uniform(rng.derive_key(hw.seed, "device_array", "targets"), (n,)) * levels),
        levels - 1,
    )
    g_target = g_min + level / (levels - 1) * span
    pulses = energy = time_s = 0.0
    g = g_target
    if hw.programming_noise:
        res = memory.program(card, g_target, seed=rng.derive_key(hw.seed, "device_array", "prog"),
                             temperature_k=hw.temperature_k)
        g = res.g_s
        pulses, energy, time_s = (float(np.mean(res.pulses)), float(np.mean(res.energy_j)),
                                  float(np.mean(res.time_s)))
    if hw.faults:
        g = memory.apply_faults(card, g, seed=rng.derive_key(hw.seed, "device_array", "faults"))
    g_programmed = g
    if hw.drift:
        g = memory.age(card, g, t_s=hw.t_s, temperature_k=hw.temperature_k,
                       seed=rng.derive_key(hw.seed, "device_array", "age"))
    sigma, g_read = np.zeros(n), g
    if hw.read_noise:
        rn = memory.read_noise(card, g, t_int_s=hw.tile.t_read_s, t_s=hw.t_s,
                               temperature_k=hw.temperature_k)
        v = hw.tile.v_read_v
        sigma_w = np.sqrt(rn.white_variance_a2(v)) / v
        sigma = np.hypot(rn.sigma_s, sigma_w)
        z = rng.standard_normal(rng.derive_key(hw.seed, "device_array", "read"), (n,))
        z_w = rng.standard_normal(rng.derive_key(hw.seed, "device_array", "read_white"), (n,))
        g_read = np.maximum(g + rn.sigma_s * z, 0.0) + sigma_w * z_w
    level_read = np.clip(np.rint((g_read - g_min) / span * (levels - 1)), 0, levels - 1)
    return {
        "program_rms_error_rel": float(np.sqrt(np.mean((g_programmed - g_target) ** 2)) / span),
        "read_rms_error_rel": float(np.sqrt(np.mean((g_read - g_target) ** 2)) / span),
        "read_sigma_rel_mean": float(np.mean(sigma) / span),
        "level_error_rate": float(np.mean(level_read != level)),
        "pulses_per_cell": pulses,
        "program_energy_per_cell_j": energy,
        "program_time_per_cell_s": time_s,
    }


@dataclasses.dataclass(frozen=True)
class DemoOptions(Config):
    """Options of the ``demo`` job."""

    model: str = param("digits_cnn_relu", doc="Bundled digits model (cimsim.nn.models).")
    n_test: int = param(360, lo=1, doc="Held-out images evaluated (the first n_test) [-].")
    placement: str = param("analog", choices=("analog", "digital"),
                           doc="Placement of the weighted layers not listed below.")
    digital_layers: tuple[str, ...] = param((), doc="Weighted layers kept digital (exact).")
    analog_layers: tuple[str, ...] = param((), doc="Weighted layers forced onto analog tiles.")

    def validate(self) -> None:
        from ..nn.models import bundled_models

        names = bundled_models()
        if self.model not in names:
            self._fail("model", f"one of {names}", self.model)
        if self.n_test > _n_held_out():
            self._fail("n_test", f"<= {_n_held_out()} (the held-out digits)", self.n_test)
        layers = _weighted_layer_names(self.model)
        for field in ("digital_layers", "analog_layers"):
            bad = [x for x in getattr(self, field) if x not in layers]
            if bad:
                self._fail(field, f"a list of weighted layers of {self.model} {list(layers)}",
                           bad)


@functools.cache
def _n_held_out() -> int:
    from ..nn.models import load_digits_split

    return int(len(load_digits_split()["y_test"]))


@functools.cache
def _n_test_images(model: str) -> tuple[int, str]:
    """Test images the spiking job has for ``model`` (digits or MNIST, by its input)."""
    from ..nn.models import load_bundled, load_digits_split, load_mnist

    if load_bundled(model).input_shape == (1, 8, 8):
        return int(len(load_digits_split()["y_test"])), "held-out digits"
    return int(len(load_mnist()["y_test"])), "bundled MNIST"


@functools.lru_cache(maxsize=16)
def _weighted_layer_names(model: str) -> tuple[str, ...]:
    from ..nn.models import load_bundled

    return tuple(layer.name for layer in load_bundled(model).weighted_layers)


@register_job("demo", options=DemoOptions, cards=tuple(sorted(set(CARD_FIELDS.values()))))
def demo_job(config: PointConfig) -> dict[str, float]:
    """The ``cimsim demo`` network on the point's chip: accuracy, energy, latency, TOPS/W, EDP.

    Compiles the bundled digits network onto ``config.hardware`` (with the point's card
    overrides and the options' analog/digital layer placement), runs the first ``n_test``
    held-out digits at ``hardware.t_s`` and returns ``float_accuracy``, ``analog_accuracy``,
    ``energy_per_inference_j``, ``latency_per_inference_s``, the report metrics
    (``tops_per_w``, ``edp_js``, ...) and the per-inference energy breakdown
    (``energy.<component>_j``).
    """
    from ..nn.models import load_bundled, load_digits_split
    from ..nn.network import PlacementConfig

    opts = config.options
    data = load_digits_split()
    placement = PlacementConfig(default=opts.placement, analog=opts.analog_layers,
                                digital=opts.digital_layers)
    net = load_bundled(opts.model)
    net.compile(config.hardware, placement=placement)
    ev = net.evaluate(data["x_test"][: opts.n_test], data["y_test"][: opts.n_test])
    rep = net.report(ev)
    out: dict[str, Any] = {
        "float_accuracy": ev.float_accuracy,
        "analog_accuracy": ev.analog_accuracy,
        "energy_per_inference_j": rep.energy_per_inference_j,
        "latency_per_inference_s": rep.latency_per_inference_s,
    }
    out.update({k: v for k, v in rep.metrics().items() if k not in out})
    out["energy"] = {f"{k}_j": v for k, v in rep.breakdown_per_inference_j.items()}
    return out



@dataclasses.dataclass(frozen=True)
class SpikingOptions(Config):
    """Options of the ``spiking`` job."""

    model: str = param("digits_snn_lif", doc="Bundled spiking model (cimsim.nn.models).")
    n_test: int = param(359, lo=1, doc="Held-out images evaluated (the first n_test) [-].")
    timesteps: int = param(0, lo=0, hi=1 << 16,
                           doc="Time steps per inference; 0 keeps the model's [-].")
    threshold_scale: float = param(1.0, lo=0.0, lo_open=True,
                                   doc="Factor on every LIF threshold of the model [-].")
    ann: bool = param(False, doc="Also run the model's ANN on the same chip (ann.* metrics).")

    def validate(self) -> None:
        from ..nn.models import bundled_models

        names = [n for n in bundled_models() if "snn" in n]
        if self.model not in names:
            self._fail("model", f"one of the bundled spiking models {names}", self.model)
        n, which = _n_test_images(self.model)
        if self.n_test > n:
            self._fail("n_test", f"<= {n} (the {which} test images of {self.model})",
                       self.n_test)


@register_job("spiking", options=SpikingOptions,
              cards=tuple(sorted(set(CARD_FIELDS.values()))))
def spiking_job(config: PointConfig) -> dict[str, Any]:
    """A bundled spiking network on the point's chip at the options' time steps and threshold.

    Sets ``timesteps`` of every spiking layer and scales every LIF threshold
    (:mod:`cimsim.nn.snn_convert`), compiles onto ``config.hardware``, runs the first
    ``n_test`` held-out images (digits or MNIST, by the model's input) and returns
    ``float_accuracy``, ``analog_accuracy``, ``energy_per_inference_j``,
    ``latency_per_inference_s``, ``spikes_per_inference`` (and ``input_spikes_per_inference``,
    ``neuron_spikes_per_inference``, ``neuron_activity``), ``timesteps``, the report metrics,
    the energy breakdown (``energy.<component>_j``) and, with ``ann``, the ANN's figures on the
    same chip (``ann.*``, :func:`cimsim.ppa.spiking.compare_with_ann`).
    """
    from ..nn.models import load_bundled, load_digits_split, load_mnist
    from ..nn.snn_convert import scale_thresholds, set_timesteps
    from ..ppa.spiking import compare_with_ann, neuron_steps, spikes_per_inference

    opts = config.options
    net = load_bundled(opts.model)
    if opts.timesteps:
        set_timesteps(net, opts.timesteps)
    scale_thresholds(net, opts.threshold_scale)
    data = load_digits_split() if net.input_shape == (1, 8, 8) else load_mnist()
    x, y = data["x_test"][: opts.n_test], data["y_test"][: opts.n_test]
    if opts.ann:
        ann_name = net.metadata.get("ann_model")
        cmp = compare_with_ann(net, config.hardware, x, y,
                               ann=load_bundled(ann_name) if ann_name else None)
        ev, rep = cmp.snn_evaluation, cmp.snn_report
        spikes = {"total": cmp.snn["spikes_per_inference"],
                  "input": cmp.snn["input_spikes_per_inference"],
                  "neurons": cmp.snn["neuron_spikes_per_inference"]}
        activity = cmp.snn["neuron_activity"]
    else:
        net.compile(config.hardware)
        ev = net.evaluate(x, y)
        rep = net.report(ev)
        spikes = spikes_per_inference(ev, net)
        steps = neuron_steps(net)
        activity = spikes["neurons"] / steps if steps else 0.0
    out: dict[str, Any] = {
        "float_accuracy": ev.float_accuracy,
        "analog_accuracy": ev.analog_accuracy,
        "energy_per_inference_j": rep.energy_per_inference_j,
        "latency_per_inference_s": rep.latency_per_inference_s,
        "timesteps": int(net.timesteps),
        "spikes_per_inference": spikes["total"],
        "input_spikes_per_inference": spikes["input"],
        "neuron_spikes_per_inference": spikes["neurons"],
        "neuron_activity": activity,
    }
    out.update({k: v for k, v in rep.metrics().items() if k not in out})
    out["energy"] = {f"{k}_j": v for k, v in rep.breakdown_per_inference_j.items()}
    if opts.ann:
        out["ann"] = {k: v for k, v in cmp.ann.items()
                      if k != "energy_breakdown_per_inference_j"}
    return out
