r"""Graded (non-spiking) subthreshold neurons: a transistor stage as the activation, in the
analog domain between two crossbars.

The activation is the transfer curve of one transistor stage per neuron: its input sets the
gate voltage, its drain current is the output (EKV model, :mod:`device_models.mosfet`),

.. math::

    y = \frac{I_D(V_{T0} + V_\mathrm{off} + g\,x,\ V_{DS})}{I_1}, \qquad
    I_1 = I_D(V_{T0} + V_\mathrm{off} + g,\ V_{DS}),

    I_D = I_\mathrm{spec}\,(1 + \lambda V_{DS})\left[\ln^2\!\bigl(1 + e^{x_f}\bigr)
          - \ln^2\!\bigl(1 + e^{x_r}\bigr)\right],\quad
    x_f = \frac{V_G - V_{T0} + \eta V_{DS}}{2 n U_T},\ x_r = x_f - \frac{V_{DS}}{2 U_T},

exponential below threshold (:math:`y \propto e^{g x/(n U_T)}`), smooth through moderate
inversion and quadratic above (Enz, Krummenacher & Vittoz 1995).

On the chip (:meth:`SubthresholdActivation.attach_hardware`)
------------------------------------------------------------
* **Input.** When the layer before is an analog Linear/Conv2d with unsliced weights, its
  column currents are not converted: each column's integrator holds
  :math:`V = Q/C_\mathrm{int}` over the read window, and that voltage, level-shifted by the
  stage's bias :math:`V_{T0} + V_\mathrm{off}` (plus the layer's bias as a static gate offset
  of each stage), is the stage's gate voltage, :math:`C_\mathrm{int}` sized so one unit of the
  pre-activation is :math:`g` volts. The read noise of the column comes with it, and the
  reset of the integrator leaves its kT/C noise on the gate (with ``read_noise``, at the
  chip's ``temperature_k``): :math:`\sigma_V^2 = k_B T/C_\mathrm{int}` with
  :math:`C_\mathrm{int} = A\,t_\mathrm{read}/g` (:math:`A` the column current per unit of
  the pre-activation), so :math:`\sigma_x^2 = k_B T/(A\,t_\mathrm{read}\,g)` per
  evaluation in units of the pre-activation (:func:`device_models.noise.ktc_rms`). No ADC, no
  shift-add. Otherwise (a digital or bit-sliced layer before it) the digital pre-activation
  sets the gate through a row DAC (one conversion per neuron).
* **Stage.** One transistor per neuron (one per output channel of a convolution, shared by
  its positions over time) at the chip's ``temperature_k``, with Pelgrom mismatch
  (``converter_noise``); the gate bias is generated from the design-temperature
  :math:`V_{T0}`, so :math:`U_T`, :math:`V_T(T)` and :math:`\mu(T)` move the curve. It draws
  :math:`V_{DD} I_D t_\mathrm{read}` per evaluation (``analog_neuron`` energy).
* **Output.** The drain current charges the sampling capacitor of the column ADC over the
  read window (or enters a current-input read-out), and the read-out of ``adc_card``
  (:mod:`device_models.converters`) converts it once: the tile's column read-outs, as many
  stages per read-out as the tile converts outputs per read-out in a cycle (with a digital
  input, a bank of ``adc_share`` stages per read-out), the range calibrated to the largest
  output over the calibration inputs, :math:`y = \mathrm{code}\cdot y_{fs}/(2^N - 1)` with
  the code rounded to nearest. The digital result drives the next layer's rows like any
  activation. Per evaluation one integrator (the gate's hold) and one conversion (energy of
  the code from the read-out model, comparator and logic from the card), one word written
  to the output buffer; the conversions are ADC rounds of the layer's latency. An
  unquantised (ideal) chip keeps the stage's output exact.

References
----------
.. [1] C. C. Enz, F. Krummenacher, E. A. Vittoz, "An analytical MOS transistor model valid in
   all regions of operation and dedicated to low-voltage and low-current applications",
   Analog Integrated Circuits and Signal Processing 8, 83–114 (1995),
   doi:10.1007/BF01239381.
.. [2] G. Indiveri et al., "Neuromorphic silicon neuron circuits", Frontiers in Neuroscience
   5, 73 (2011), doi:10.3389/fnins.2011.00073 (subthreshold circuits as neural transfer
   functions).
.. [3] M. J. M. Pelgrom, A. C. J. Duinmaijer, A. P. G. Welbers, IEEE J. Solid-State Circuits
   24(5), 1433–1439 (1989), doi:10.1109/JSSC.1989.572629 (stage mismatch).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from device_models import rng
from device_models._checks import check_array, check_scalar, fail

from ..ops import OpCounts
from .layers import Layer

__all__ = ["SubthresholdActivation"]


@dataclasses.dataclass
class _Chip:
    """The stages and converters of one chip (built by ``attach_hardware``)."""

    temperature_k: float
    dvt_v: np.ndarray          # per stage [V]
    beta_scale: np.ndarray     # per stage [-]
    t_read_s: float
    vdd_v: float
    analog_input: bool         # gate from the column integrator (else from a row DAC)
    conv: bool                 # stages per channel of a (N, C, H, W) input
    adcs: list                 # one SarAdc per group of ``share`` stages
    share: int
    quantize: bool
    bits: int
    y_fs: float | None = None  # calibrated ADC range [-]
    upstream: tuple = ()       # the analog matrices whose column integrators hold the gates
    noise_key: int | None = None   # stream of the integrators' reset noise (None: no noise)


class SubthresholdActivation(Layer):
    r"""Graded (non-spiking) neuron: the transfer curve of a subthreshold transistor stage
    (module docstring :mod:`cimsim.nn.graded`).

    Parameters
    ----------
    card : str
        MOSFET card of the stage.
    gate_v_per_unit : float
        Gate volts per unit of input, :math:`g` [V].
    gate_offset_v : float
        Gate bias above :math:`V_{T0}` at zero input, :math:`V_\mathrm{off}` [V].
    v_ds_v : float
        Drain–source voltage of the stage [V].
    temperature_k : float
        Design temperature (the float curve and the normalisation :math:`I_1`) [K].

    The derivative is :math:`g\,g_m/I_1` (trainable through :meth:`Network.fit
    <cimsim.nn.network.Network.fit>`).
    """

    kind = "SubthresholdActivation"

    def __init__(self, card: str = "ptm2006_65nm_nmos", gate_v_per_unit: float = 0.1,
                 gate_offset_v: float = 0.0, v_ds_v: float = 0.3, temperature_k: float = 300.0,
                 name: str = "") -> None:
        from device_models import cards

        super().__init__(name)
        caller = f"SubthresholdActivation {name!r}"
        self.card = cards.load(card, kinds=("mosfet",), field="card", caller=caller).name
        self.gate_v_per_unit = check_scalar("gate_v_per_unit", gate_v_per_unit, caller,
                                            lo=0.0, lo_open=True, hi=2.0)
        self.gate_offset_v = check_scalar("gate_offset_v", gate_offset_v, caller, lo=-1.5,
                                          hi=1.5)
        self.v_ds_v = check_scalar("v_ds_v", v_ds_v, caller, lo=0.0, lo_open=True, hi=5.0)
        self.temperature_k = check_scalar("temperature_k", temperature_k, caller, lo=0.0,
                                          lo_open=True, hi=1000.0)
        self._chip: _Chip | None = None
        self._i1 = float(self._current(np.ones(1), self.temperature_k)[0][0])

    def config(self) -> dict[str, Any]:
        return {"card": self.card, "gate_v_per_unit": self.gate_v_per_unit,
                "gate_offset_v": self.gate_offset_v, "v_ds_v": self.v_ds_v,
                "temperature_k": self.temperature_k}

    @classmethod
    def from_spec(cls, get, arr, name: str) -> SubthresholdActivation:
        """Rebuild from a model-file entry (:mod:`cimsim.nn.model_files`)."""
        return cls(get("card", "ptm2006_65nm_nmos"), get("gate_v_per_unit", 0.1),
                   get("gate_offset_v", 0.0), get("v_ds_v", 0.3), get("temperature_k", 300.0),
                   name=name)

    def copy(self) -> SubthresholdActivation:
        new = super().copy()
        new._chip = None
        return new

    @property
    def i1_a(self) -> float:
        """Normalisation current :math:`I_1`, the stage's current at input 1 [A]."""
        return self._i1

    def gate_voltage_v(self, x) -> np.ndarray:
        """Gate voltage of the stage for input ``x``: :math:`V_{T0}(T_\\mathrm{design}) +
        V_\\mathrm{off} + g x` [V]."""
        from device_models.mosfet import ekv_params

        vt0 = ekv_params(self.card, self.temperature_k).vt0_v
        return vt0 + self.gate_offset_v + self.gate_v_per_unit * np.asarray(x)

    def _current(self, x, temperature_k, dvt=0.0, beta=1.0):
        from device_models.mosfet import mosfet_small_signal

        i_d, gm, _ = mosfet_small_signal(self.gate_voltage_v(x), self.v_ds_v, self.card,
                                         temperature_k, dvt_v=dvt, beta_scale=beta)
        return i_d, gm

    def forward(self, x, *, train=False, matmul=None):
        from .spiking import _on_chip

        x = check_array("x", x, f"SubthresholdActivation {self.name!r}")
        if not train and self._chip is not None and _on_chip(matmul):
            y, counts = self._chip_forward(x, matmul)
            matmul.add_counts(self.name, counts)
            return y
        i_d, gm = self._current(x, self.temperature_k)
        if train:
            self._cache = gm * self.gate_v_per_unit / self._i1
        return i_d / self._i1

    def backward(self, grad):
        return grad * self._cache

    # -- on the chip --------------------------------------------------------------------------
    def attach_hardware(self, hw, *, seed_tag: int, upstream=None, in_shape=()) -> None:
        """Build the stages and output converters of chip ``hw`` (module docstring): the
        upstream analog matrices hand their column currents over when their weights are
        unsliced, else the gates are driven from the digital pre-activation."""
        from device_models import cards
        from device_models.converters import build_converter
        from device_models.mosfet import sample_mismatch

        from ..array.mapping import n_slices
        from ..tile.readout import _nominal_adc

        tc = hw.tile
        conv = len(in_shape) == 3
        size = int(in_shape[0]) if conv else (int(np.prod(in_shape)) if in_shape else 1)
        if hw.converter_noise:
            mm = sample_mismatch(self.card, (size,), seed=rng.derive_key(
                hw.seed, "subthreshold_activation", seed_tag))
            dvt, beta = mm.dvt_v, mm.beta_scale
        else:
            dvt, beta = np.zeros(size), np.ones(size)
        analog = bool(upstream) and n_slices(tc.weight_bits, tc.bits_per_cell,
                                             tc.weight_mapping, tc.quantize) == 1
        if analog:    # the tile's own column ADCs convert the stages, spread as its outputs
            for m in upstream:
                m.use_analog_output()
            share = max(m.adc_rounds_per_cycle for m in upstream)
        else:         # a bank of ADCs, each muxed over adc_share stages
            share = int(tc.adc_share)
        n_adc = -(-size // share)
        if hw.converter_noise and tc.quantize:
            window = tc.t_read_s * tc.read_phases
            adcs = [build_converter(hw.adc_card, tc.adc_bits, window_s=window,
                                    temperature_k=hw.temperature_k,
                                    seed=rng.derive_key(hw.seed, "graded_adc", seed_tag, a))
                    for a in range(n_adc)]
        else:
            adcs = [_nominal_adc(hw.adc_card, tc.adc_bits, hw.temperature_k,
                                 tc.t_read_s * tc.read_phases)] * n_adc
        self._chip = _Chip(hw.temperature_k, dvt, beta, tc.t_read_s, cards.load(self.card).vdd_v,
                           analog, conv, adcs, share, bool(tc.quantize), int(tc.adc_bits),
                           upstream=tuple(upstream) if analog else (),
                           noise_key=(rng.derive_key(hw.seed, "graded_reset", seed_tag)
                                      if analog and hw.read_noise else None))

    def reset_noise_per_unit(self) -> np.ndarray | None:
        """rms kT/C noise of the column integrators on the gates, in units of the
        pre-activation, one per stage (module docstring; None without analog input or read
        noise, or before the upstream matrices are calibrated) [-]."""
        from device_models.noise import ktc_rms

        chip = self._chip
        if chip is None or chip.noise_key is None or any(m.encoder is None
                                                         for m in chip.upstream):
            return None
        size = chip.dvt_v.size
        amps = np.concatenate([np.full(m.out_features, m.amps_per_unit)
                               for m in chip.upstream])
        if amps.size != size:       # one current scale for every stage
            amps = np.full(size, float(np.max(amps)))
        c_int = amps * chip.t_read_s / self.gate_v_per_unit
        return ktc_rms(c_int, chip.temperature_k) / self.gate_v_per_unit

    @property
    def analog_input(self) -> bool | None:
        """Whether the stages take the column currents of the layer before directly (None
        before :meth:`attach_hardware`)."""
        return None if self._chip is None else self._chip.analog_input

    def _chip_forward(self, x, matmul):
        chip = self._chip
        if chip.conv:           # (N, C, H, W): one stage per channel, positions as rows
            if x.ndim != 4 or x.shape[1] != chip.dvt_v.size:
                fail("x", f"SubthresholdActivation {self.name!r}",
                     f"(N, {chip.dvt_v.size}, H, W) as compiled", f"array of shape {x.shape}")
            rows = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
        else:
            rows = x.reshape(x.shape[0], -1)
        per_sample = rows.shape[0] // max(x.shape[0], 1)
        r0 = (matmul.first * per_sample)
        sigma = self.reset_noise_per_unit()
        if sigma is not None:         # the integrators' reset noise on the gates
            rows = rows + sigma * rng.standard_normal(
                chip.noise_key, rows.shape, offset=matmul.offset + r0 * rows.shape[1])
        i_d, _ = self._current(rows, chip.temperature_k, chip.dvt_v, chip.beta_scale)
        y = i_d / self._i1
        if chip.y_fs is None:        # the calibration pass: the range of the converters
            top = float(np.max(y)) if y.size else 0.0
            chip.y_fs = top if top > 0.0 else 1.0
        n_codes = (1 << chip.bits) - 1
        lsb_y = chip.y_fs / n_codes
        e_sw = 0.0
        y_out = np.empty_like(y)
        for a, adc in enumerate(chip.adcs):
            c0, c1 = a * chip.share, min((a + 1) * chip.share, y.shape[1])
            u = y[:, c0:c1] / lsb_y
            codes = adc.convert((u + 0.5) * adc.lsb,
                                offset=matmul.offset + r0 * (c1 - c0))
            e_sw += float(adc.code_energy_j[codes].sum())
            y_out[:, c0:c1] = codes * lsb_y if chip.quantize else y[:, c0:c1]
        n = int(y.size)
        counts = OpCounts(
            neuron_energy_j=chip.vdd_v * chip.t_read_s * float(np.abs(i_d).sum()),
            adc_conversions=n, adc_switching_energy_j=e_sw,
            adc_rounds=rows.shape[0] * min(chip.share, y.shape[1]),
            sram_write_bits=n * chip.bits,
            dac_conversions=0 if chip.analog_input else n)
        if chip.conv:
            n_b, c, h, w = x.shape
            y_out = np.moveaxis(y_out.reshape(n_b, h, w, c), -1, 1)
        return y_out.reshape(x.shape), counts
