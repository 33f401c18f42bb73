r"""Spiking and graded subthreshold neurons: input coding, LIF layers, decoding, and the
circuits that run them on the chip.

Time
----
A spiking network works over ``timesteps`` steps per inference. Between layers, time is folded
into the batch axis, sample-major: N samples over T steps form a ``(N·T, *F)`` array whose row
``n·T + t`` is sample n at step t. A weighted layer (Linear, Conv2d) after a spiking layer
therefore runs one GEMM per step, its rows driven by that step's spikes as binary pulses of one
amplitude (:class:`~cimsim.nn.network.Network` compiles it with a 1-bit row drive), and the
tiles' read-noise streams, indexed by row position, do not depend on how a run is split into
batches. :class:`SpikeEncoder` expands ``(N, *F)`` inputs in [0, 1] to ``(N·T, *F)`` spikes; a
:class:`LIF` layer with ``output="count"`` or ``"first_spike"`` folds time back to ``(N, *F)``.

The LIF neuron in discrete time
-------------------------------
With input :math:`I_t` per step (the column result of the step, in weight units), threshold
:math:`\theta > 0` and per-step decay :math:`\beta = e^{-1/\tau}` (:math:`\tau` = ``tau_steps``,
the membrane time constant in steps; no leak, :math:`\beta = 1`, when it is None):

.. math::

    V_t = \beta V_{t-1} + I_t, \qquad s_t = H(V_t - \theta), \qquad
    V_t \leftarrow \begin{cases} 0 & \text{reset "zero"} \\ V_t - \theta s_t &
    \text{reset "subtract"} \end{cases}

after which a neuron that fired ignores its input and holds its membrane for
``refractory_steps`` steps. This is the exact solution of :math:`\tau\,dV/dt = -V + RI(t)`
sampled once per step when each step's input charge arrives at its start, so a constant input
:math:`I` fires at the rate of :func:`device_models.neuron.lif_rate_hz` with
:math:`RI = I/(1-\beta)` up to the step quantisation of the spike times.

Decoding. ``count``: the spike count of each output neuron, ties broken by the membrane left
at the end, :math:`c + \mathrm{clip}(V_T/\theta, 0, 1-\epsilon)` (for reset by subtraction
without leak this is exactly the total input over :math:`\theta`). ``first_spike``:
:math:`T - t_\mathrm{first} + \mathrm{clip}(V_{t_\mathrm{first}}/\theta - 1, 0, 1-\epsilon)`,
earlier is larger; a neuron that never fires scores :math:`\mathrm{clip}(V_T/\theta, 0,
1-\epsilon) < 1`.

Training. Surrogate gradients through time (BPTT): the Heaviside's derivative is replaced by
the fast-sigmoid pseudo-derivative
:math:`\partial s/\partial V \approx \theta^{-1}(1 + k|V/\theta - 1|)^{-2}` (SuperSpike) with
the reset treated as a constant (not differentiated), so :meth:`Network.fit
<cimsim.nn.network.Network.fit>` trains spiking networks with Adam; or conversion of a trained
ReLU network (:mod:`cimsim.nn.snn_convert`).

On the chip
-----------
Digital membranes (``hw.neuron.membrane = "digital"``) compute the equations above in an
accumulator; their adds, multiplies and comparisons are digital operations of the layer.
Analog membranes (``"analog"``) are :class:`device_models.neuron.AnalogMembrane` circuits: the
preceding layer's column current, without an ADC, charges a capacitor during the read window
(sized so that :math:`\theta` in weight units is the card's threshold voltage), a subthreshold
transistor (EKV at ``temperature_k``) or a resistor discharges it, and a comparator with a
mismatch offset fires; each reset leaves kT/C noise. The rails clamp the membrane to
:math:`[-V_\mathrm{rest}, V_{DD} - V_\mathrm{rest}]` (the float model is unbounded), and the
transistor leak is nearly a constant current above a few :math:`U_T` (the float leak is
proportional to :math:`V`): trimmed to the float leak at threshold, it leaks more below it.
Their energy is the current mirror's :math:`V_{DD}|I|t_\mathrm{read}` per step (it copies the
column current onto the capacitor) and the card's energy per spike. Either membrane writes
its output to the buffer the next layer reads as events: one bit per spike (the zeros are
flagged, as the next layer's skipped inputs are), or, decoded, one
:math:`\lceil\log_2(T+1)\rceil`-bit word per neuron and sample. The graded neuron
:class:`SubthresholdActivation` (:mod:`cimsim.nn.graded`) is the
transfer curve of a subthreshold transistor stage driven by the column current of the layer
before it, its output converted once by the column ADC.

Events and time. A weighted layer fed by spikes drives each spike as a binary row pulse (no
DAC; ``OpCounts.row_pulses``) and reads event-driven (:mod:`cimsim.tile.matrix`): a time step
in which no row of its tiles has a spike costs no read cycle, no conversion and no time, so
its array time is (steps with a spike) × the cycle time. The neurons' updates set the floor:
a digital membrane updates every neuron in every step (its adds, compares and leak
multiplies run on the digital unit and add their time whether or not a spike arrived), and an
analog membrane with a leak keeps the step clock (its decay is trimmed per step period, so
every step lasts a read cycle; without a leak its idle steps are skipped as well). With no
spike at all, a spiking network's latency is the encoder's and the neurons' per-step work.

References
----------
.. [1] E. O. Neftci, H. Mostafa, F. Zenke, "Surrogate gradient learning in spiking neural
   networks", IEEE Signal Processing Magazine 36(6), 51–63 (2019),
   doi:10.1109/MSP.2019.2931595.
.. [2] F. Zenke, S. Ganguli, "SuperSpike: supervised learning in multilayer spiking neural
   networks", Neural Computation 30(6), 1514–1541 (2018), doi:10.1162/neco_a_01086.
.. [3] S. Thorpe, A. Delorme, R. Van Rullen, "Spike-based strategies for rapid processing",
   Neural Networks 14(6–7), 715–725 (2001), doi:10.1016/S0893-6080(01)00083-1.
.. [4] W. Gerstner, W. M. Kistler, R. Naud, L. Paninski, *Neuronal Dynamics*, Cambridge
   University Press (2014), doi:10.1017/CBO9781107447615.
.. [5] G. Indiveri et al., "Neuromorphic silicon neuron circuits", Frontiers in Neuroscience 5,
   73 (2011), doi:10.3389/fnins.2011.00073.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from device_models import rng
from device_models._checks import (
    check_array,
    check_binary,
    check_choice,
    check_int,
    check_scalar,
    fail,
)
from device_models.encoding import encode, quantize_inputs, rate_spikes
from device_models.errors import InvalidParameterError

from ..ops import OpCounts
from .graded import SubthresholdActivation
from .layers import Flatten, Layer, MaxPool2d, WeightedLayer

__all__ = [
    "CODINGS",
    "LIF",
    "OUTPUTS",
    "RESETS",
    "SPIKING_TYPES",
    "SpikeEncoder",
    "SubthresholdActivation",
    "binary_input_layers",
    "check_spikes",
    "network_timesteps",
    "spike_drive",
]

#: Input codings of :class:`SpikeEncoder`.
CODINGS = ("rate", "poisson", "ttfs")
#: Reset modes of :class:`LIF`.
RESETS = ("zero", "subtract")
#: What a spike tensor holds (error messages).
SPIKES = "binary spikes (every entry 0 or 1)"
#: Outputs of :class:`LIF`: spikes per step, or decoded per sample.
OUTPUTS = ("spikes", "count", "first_spike")

#: Largest fraction the residual membrane adds to a decoded score (keeps it below the next
#: whole spike count) [-].
_RESIDUE_MAX = 1.0 - 2.0 ** -20


def check_spikes(x: np.ndarray, caller: str, name: str = "x") -> np.ndarray:
    """Return ``x`` if every entry is 0 or 1 (a spike tensor), else raise naming the first
    other value."""
    return check_binary(name, x, caller, what=SPIKES)


def _on_chip(matmul) -> bool:
    """Whether ``matmul`` is a compiled network's tile hook (it carries the hardware and
    takes counts, :mod:`cimsim.nn.sequence`)."""
    return getattr(matmul, "hardware", None) is not None and hasattr(matmul, "add_counts")


def _add_counts(matmul, name: str, **counts) -> None:
    """Add run counts (OpCounts fields) through the tile hook, if it takes them."""
    if _on_chip(matmul):
        matmul.add_counts(name, OpCounts(**counts))


def _fold(x: np.ndarray, steps: int, caller: str) -> np.ndarray:
    """``(N·T, *F)`` → ``(N, T, *F)``."""
    if x.shape[0] % steps:
        fail("x", caller, f"a batch of whole samples of timesteps={steps} steps (N·T rows)",
             f"array of shape {x.shape}")
    return x.reshape(x.shape[0] // steps, steps, *x.shape[1:])


# --------------------------------------------------------------------------------------------
# Input coding
# --------------------------------------------------------------------------------------------


class SpikeEncoder(Layer):
    r"""Turn inputs in [0, 1] into binary spike trains over ``timesteps`` steps.

    Inputs are quantised to ``bits`` (:func:`device_models.encoding.quantize_inputs`), then

    * ``rate``: the regular rate code of :func:`device_models.encoding.rate_spikes`,
      :math:`\lfloor T\,D/(2^N-1)\rfloor` spikes evenly spread over the T steps;
    * ``poisson``: the stochastic rate code of :func:`device_models.encoding.rate_spikes`,
      a spike with probability :math:`p = D/(2^N-1)` in each step (Bernoulli, the discrete
      Poisson train; binomial count, mean :math:`Tp`), from the counter-based stream of a
      seed at the sample's position: ``seed`` in float runs, the chip's
      ``HardwareConfig.seed`` on the chip, so the same seed gives the same trains for any
      batch split, and a chip whose seed equals ``seed`` sees the float network's trains
      (read 0; later reads of the chip draw afresh);
    * ``ttfs``: the time-to-first-spike code of :mod:`device_models.encoding`
      (``scheme="ttfs"``, one spike at tick :math:`D_\mathrm{max}-D` of the
      :math:`D_\mathrm{max} = 2^N-1` ticks of its window) sampled by the step clock: the
      spike lands in step :math:`\lfloor (D_\mathrm{max}-D)\,T/D_\mathrm{max}\rfloor`, so a
      larger input fires earlier; zero never fires.

    Output ``(N·T, *F)`` binary (module docstring). The ``rate`` and ``ttfs`` codes are
    deterministic. On the chip every input costs one add and one comparison per step (an
    accumulator and a comparator per input; for ``poisson`` one pseudo-random word, an LFSR
    step priced as one add, and the comparison; digital operations, line ``"encoder"``).

    References
    ----------
    .. [1] E. D. Adrian, Y. Zotterman, J. Physiol. 61(2), 151–171 (1926),
       doi:10.1113/jphysiol.1926.sp002281 (rate code).
    .. [2] P. U. Diehl et al., IJCNN 2015, doi:10.1109/IJCNN.2015.7280696 (Poisson input
       trains of converted networks).
    .. [3] S. Thorpe, A. Delorme, R. Van Rullen, Neural Networks 14(6–7), 715–725 (2001),
       doi:10.1016/S0893-6080(01)00083-1 (time to first spike).
    """

    kind = "SpikeEncoder"
    emits_binary = True
    #: :meth:`forward` takes the stream position of its first sample (``first``).
    takes_position = True

    def __init__(self, timesteps: int = 16, coding: str = "rate", bits: int = 8,
                 name: str = "", seed: int = 0) -> None:
        super().__init__(name)
        caller = f"SpikeEncoder {name!r}"
        self.timesteps = check_int("timesteps", timesteps, caller, lo=1, hi=1 << 16)
        self.coding = check_choice("coding", coding, caller, CODINGS)
        self.bits = check_int("bits", bits, caller, lo=1, hi=16)
        self.seed = check_int("seed", seed, caller, lo=0, hi=(1 << 63) - 1)
        self._chip_seed: int | None = None

    def config(self) -> dict[str, Any]:
        out = {"timesteps": self.timesteps, "coding": self.coding, "bits": self.bits}
        if self.coding == "poisson":
            out["seed"] = self.seed
        return out

    @classmethod
    def from_spec(cls, get, arr, name: str) -> SpikeEncoder:
        """Rebuild from a model-file entry (:mod:`cimsim.nn.model_files`)."""
        return cls(get("timesteps", 16), get("coding", "rate"), get("bits", 8), name=name,
                   seed=get("seed", 0))

    def copy(self) -> SpikeEncoder:
        new = super().copy()
        new._chip_seed = None
        return new

    def attach_hardware(self, hw, *, seed_tag: int, upstream=None, in_shape=()) -> None:
        """On chip ``hw`` the stochastic code draws from the chip's seed."""
        self._chip_seed = int(hw.seed)

    def encode(self, x: np.ndarray, *, seed: int | None = None,
               first: int = 0) -> np.ndarray:
        """Spikes of ``x`` ``(N, *F)`` as ``(N, T, *F)``; ``poisson`` draws from ``seed``
        (default the layer's) with ``x[0]`` at stream position ``first``."""
        caller = f"SpikeEncoder {self.name!r}"
        x = check_array("x", x, caller, lo=0.0, hi=1.0)
        if x.ndim < 2:
            fail("x", caller, "a batch (N, *features)", f"array of shape {x.shape}")
        codes = quantize_inputs(x, self.bits)
        top = (1 << self.bits) - 1
        steps = self.timesteps
        if self.coding == "rate":
            spikes = rate_spikes(codes, top, steps)            # (T, N, *F)
        elif self.coding == "poisson":
            spikes = rate_spikes(codes, top, steps, self.seed if seed is None else seed,
                                 sample0=first)
        else:
            enc = encode(codes, "ttfs", bits=self.bits)
            ticks = np.rint(enc.t_start_s[0] / enc.t_clk_s).astype(np.int64)
            step = (ticks * steps) // enc.n_clock_ticks
            fired = enc.v_rows_v[0] > 0
            spikes = (np.arange(steps).reshape((steps,) + (1,) * codes.ndim) == step) & fired
            spikes = spikes.astype(np.float64)
        return np.moveaxis(spikes, 0, 1)

    def forward(self, x, *, train=False, matmul=None, first: int = 0):
        """Spikes ``(N·T, *F)`` of ``x``; ``first`` is the stream position of ``x[0]`` in a
        float run (on the chip: the tile hook's sample position, and the chip's seed with
        the read, so every read of the chip draws its own trains)."""
        seed = None
        if _on_chip(matmul) and self._chip_seed is not None:
            first = matmul.first
            seed = (rng.derive_key(self._chip_seed, "spike_encoder_read", matmul.offset)
                    if matmul.offset else self._chip_seed)
        s = self.encode(x, seed=seed, first=first)
        if train:
            self._cache = s.shape
        _add_counts(matmul, self.name, spikes=int(s.sum()))
        return s.reshape(s.shape[0] * s.shape[1], *s.shape[2:])

    def backward(self, grad):
        """Straight-through: the input's gradient is the sum over steps of the spikes'."""
        n, steps = self._cache[:2]
        return grad.reshape(n, steps, *grad.shape[1:]).sum(axis=1)

    def count_digital_ops(self, x, y):
        """One add and one comparison per input per step (line ``"encoder"``)."""
        n = float(x.size * self.timesteps)
        return {"encoder": {"add": n, "compare": n}}



# --------------------------------------------------------------------------------------------
# LIF
# --------------------------------------------------------------------------------------------


def _surrogate(v: np.ndarray, theta: float, slope: float) -> np.ndarray:
    """Fast-sigmoid pseudo-derivative ∂s/∂V ≈ (1 + k|V/θ − 1|)^-2 / θ [1/unit]."""
    return 1.0 / (theta * (1.0 + slope * np.abs(v / theta - 1.0)) ** 2)


class LIF(Layer):
    r"""Leaky integrate-and-fire neurons over ``timesteps`` steps (module docstring).

    Parameters
    ----------
    threshold : float
        Firing threshold :math:`\theta` in the units of the input (> 0) [-].
    tau_steps : float or None
        Membrane time constant in steps, :math:`\beta = e^{-1/\tau}`; None: no leak
        (integrate-and-fire) [step].
    reset : {"subtract", "zero"}
        Reset by subtracting :math:`\theta` or to zero.
    refractory_steps : int
        Steps a neuron ignores its input after a spike [step].
    timesteps : int
        Steps per inference T [-].
    output : {"spikes", "count", "first_spike"}
        Spikes ``(N·T, *F)`` for the next layer, or decoded scores ``(N, *F)``.
    surrogate_slope : float
        Steepness k of the surrogate gradient [-].

    Training with ``output="first_spike"`` is not supported (train with ``"count"``, then
    switch the decoder).
    """

    kind = "LIF"

    def __init__(self, threshold: float = 1.0, tau_steps: float | None = None,
                 reset: str = "subtract", refractory_steps: int = 0, timesteps: int = 16,
                 output: str = "spikes", surrogate_slope: float = 5.0, name: str = "") -> None:
        super().__init__(name)
        caller = f"LIF {name!r}"
        self.threshold = check_scalar("threshold", threshold, caller, lo=0.0, lo_open=True)
        self.tau_steps = None if tau_steps is None else check_scalar(
            "tau_steps", tau_steps, caller, lo=0.0, lo_open=True)
        self.reset = check_choice("reset", reset, caller, RESETS)
        self.refractory_steps = check_int("refractory_steps", refractory_steps, caller, lo=0)
        self.timesteps = check_int("timesteps", timesteps, caller, lo=1, hi=1 << 16)
        self.output = check_choice("output", output, caller, OUTPUTS)
        self.surrogate_slope = check_scalar("surrogate_slope", surrogate_slope, caller,
                                            lo=0.0, lo_open=True)
        self._circuit = None
        self._pending = None
        self._hw = None

    @property
    def beta(self) -> float:
        """Per-step membrane decay e^(−1/τ) (1 without leak) [-]."""
        return 1.0 if self.tau_steps is None else math.exp(-1.0 / self.tau_steps)

    @property
    def emits_binary(self) -> bool:
        return self.output == "spikes"

    def config(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "tau_steps": self.tau_steps, "reset": self.reset,
                "refractory_steps": self.refractory_steps, "timesteps": self.timesteps,
                "output": self.output, "surrogate_slope": self.surrogate_slope}

    @classmethod
    def from_spec(cls, get, arr, name: str) -> LIF:
        """Rebuild from a model-file entry (:mod:`cimsim.nn.model_files`)."""
        return cls(get("threshold", 1.0), get("tau_steps", None), get("reset", "subtract"),
                   get("refractory_steps", 0), get("timesteps", 16), get("output", "spikes"),
                   get("surrogate_slope", 5.0), name=name)

    def copy(self) -> LIF:
        new = super().copy()
        new._circuit, new._pending, new._hw = None, None, None
        return new

    # -- float dynamics ---------------------------------------------------------------------
    def _run(self, cur: np.ndarray, train: bool):
        """Digital dynamics of currents (N, T, *F): spikes (N, T, *F), final membrane,
        membrane at the first spike, first-spike step, and what backward needs."""
        th, beta, k_ref = self.threshold, self.beta, self.refractory_steps
        n, steps = cur.shape[:2]
        v = np.zeros((n, *cur.shape[2:]))
        ref = np.zeros(v.shape, dtype=np.int64)
        spikes = np.zeros(cur.shape)
        first = np.full(v.shape, steps, dtype=np.int64)
        v_first = np.zeros(v.shape)
        v_pre = np.empty(cur.shape) if train else None
        held = np.zeros(cur.shape, dtype=bool) if train else None
        for t in range(steps):
            hold = ref > 0
            v = np.where(hold, v, beta * v + cur[:, t])
            s = (v >= th) & ~hold
            if train:
                v_pre[:, t], held[:, t] = v, hold
            new = s & (first == steps)
            first[new], v_first[new] = t, v[new]
            spikes[:, t] = s
            v = np.where(s, 0.0, v) if self.reset == "zero" else v - th * s
            ref = np.where(s, k_ref, np.maximum(ref - 1, 0))
        return spikes, v, v_first, first, (v_pre, held, spikes)

    def _decode(self, spikes, v_end, v_first, first):
        steps = spikes.shape[1]
        th = self.threshold
        if self.output == "spikes":
            return spikes.reshape(-1, *spikes.shape[2:])
        residue = np.clip(v_end / th, 0.0, _RESIDUE_MAX)
        if self.output == "count":
            return spikes.sum(axis=1) + residue
        fired = first < steps
        lead = np.clip(v_first / th - 1.0, 0.0, _RESIDUE_MAX)
        return np.where(fired, steps - first + lead, residue)

    def forward(self, x, *, train=False, matmul=None):
        """Float dynamics; on the chip (``matmul`` the compiled network's tile hook, the layer
        attached to its hardware) the chip's membranes, with the run's counts added to the
        hook."""
        caller = f"LIF {self.name!r}"
        x = check_array("x", x, caller)
        if not train and self._hw is not None and _on_chip(matmul):
            if self._pending is not None and self._circuit is None:
                self._build_circuit()
            if self._circuit is not None:
                y, counts = self._analog_forward(x, matmul.offset + matmul.first)
                matmul.add_counts(self.name, counts)
                return y
        cur = _fold(x, self.timesteps, caller)
        spikes, v_end, v_first, first, saved = self._run(cur, train)
        if train:
            self._cache = (saved, v_end)
        n_spikes = int(spikes.sum())
        _add_counts(matmul, self.name, spikes=n_spikes,
                    sram_write_bits=self._write_bits(n_spikes, v_end.size))
        return self._decode(spikes, v_end, v_first, first)

    def _write_bits(self, n_spikes: int, n_neurons: int) -> int:
        """Bits written to the output buffer: one per spike, or a decoded word of
        ⌈log2(T+1)⌉ bits per neuron and sample (``n_neurons`` = samples × neurons)."""
        if self.output == "spikes":
            return n_spikes
        return n_neurons * max(1, math.ceil(math.log2(self.timesteps + 1)))

    def backward(self, grad):
        """BPTT with the fast-sigmoid surrogate; the reset is not differentiated."""
        if self.output == "first_spike":
            raise InvalidParameterError(
                f"LIF {self.name!r}: training through first-spike decoding is not supported; "
                "train with output='count' and switch the decoder afterwards.")
        (v_pre, held, spikes), v_end = self._cache
        n, steps = v_pre.shape[:2]
        th, beta = self.threshold, self.beta
        if self.output == "spikes":
            g_s = grad.reshape(v_pre.shape)
            g_v = np.zeros(v_pre.shape[:1] + v_pre.shape[2:])
        else:
            g_s = np.broadcast_to(grad[:, None], v_pre.shape)
            inside = (v_end > 0.0) & (v_end < th * _RESIDUE_MAX)
            g_v = grad * inside / th
        g_in = np.zeros(v_pre.shape)
        keep = 1.0
        for t in range(steps - 1, -1, -1):
            if self.reset == "zero":
                keep = 1.0 - spikes[:, t]
            g_pre = g_v * keep + g_s[:, t] * _surrogate(v_pre[:, t], th,
                                                        self.surrogate_slope)
            hold = held[:, t]
            g_in[:, t] = np.where(hold, 0.0, g_pre)
            g_v = np.where(hold, g_pre, beta * g_pre)
        return g_in.reshape(n * steps, *v_pre.shape[2:])

    def output_shape(self, input_shape):
        return tuple(input_shape)

    # -- on the chip ------------------------------------------------------------------------
    def count_digital_ops(self, x, y):
        """Digital membrane, per neuron and step: one add (the input), one comparison (the
        threshold) and, with a leak, one multiply (β·V) (line ``"neuron"``). Analog
        membranes: none (their energy is in the layer's counts)."""
        if self._hw is not None and self._hw.neuron.membrane == "analog":
            return {}
        n = float(x.size)
        ops = {"add": n, "compare": n}
        if self.tau_steps is not None:
            ops["mult"] = n
        return {"neuron": ops}

    def attach_hardware(self, hw, *, seed_tag: int, upstream=None, in_shape=()) -> None:
        """Prepare the neurons for chip ``hw``: nothing for digital membranes; for analog ones,
        switch ``upstream`` (the analog matrices of the weighted layer right before this one)
        to analog read-out. The :class:`~device_models.neuron.AnalogMembrane` circuits are
        built at the first run, once the upstream matrices are calibrated (the membrane
        capacitance follows their current scale)."""
        self._hw, self._circuit, self._pending = hw, None, None
        if hw.neuron.membrane != "analog":
            return
        if not upstream:
            fail("hw", f"LIF {self.name!r} (analog membrane)", "an LIF layer directly after "
                 "an analog Linear/Conv2d layer (its column currents charge the membranes)",
                 "no analog layer before it")
        # a leaking membrane decays per step period: every step keeps its clock period
        for m in upstream:
            m.use_analog_output(step_clock=self.tau_steps is not None)
        size = int(np.prod(in_shape)) if in_shape else 1
        self._pending = (list(upstream), seed_tag, size)

    def _build_circuit(self) -> None:
        """The analog membranes: C sized so θ (weight units) is the card's threshold voltage,
        the leak trimmed to lose (1 − β) of the threshold charge per step."""
        from device_models.neuron import analog_membrane

        from ..ppa.energy import components

        hw = self._hw
        upstream, seed_tag, size = self._pending
        card_v_th = _neuron_card(hw).v_threshold_v
        comp = components(hw)
        t_on = comp.t_read_s
        t_step = comp.t_dac_settle_s + comp.t_read_s
        a_max = max(m.amps_per_unit for m in upstream)
        c_f = self.threshold * a_max * t_on / card_v_th
        leak_kw: dict[str, float] = {}
        if hw.neuron.leak == "resistor":
            tau_s = (self.tau_steps if self.tau_steps is not None else 1e12) * t_step
            leak_kw["r_leak_ohm"] = tau_s / c_f
        elif self.tau_steps is not None:
            leak_kw["leak_current_a"] = (1.0 - self.beta) * c_f * card_v_th / t_step
        mem = analog_membrane(hw.neuron_card, size, c_f=c_f, temperature_k=hw.temperature_k,
                              leak=hw.neuron.leak, mismatch=hw.converter_noise,
                              seed=rng.derive_key(hw.seed, "lif", seed_tag), **leak_kw)
        self._circuit = (mem, a_max, t_on, t_step - t_on,
                         rng.derive_key(hw.seed, "lif_reset", seed_tag))

    @property
    def membrane(self):
        """The :class:`~device_models.neuron.AnalogMembrane` of the chip's neurons (None for
        digital membranes or before the first run)."""
        return None if self._circuit is None else self._circuit[0]

    def _analog_forward(self, x, sample0):
        caller = f"LIF {self.name!r}"
        mem, a_max, t_on, t_off, key = self._circuit
        x = check_array("x", x, caller)
        cur = _fold(x, self.timesteps, caller).reshape(-1, self.timesteps, mem.size) * a_max
        n, steps = cur.shape[:2]
        v = np.zeros((n, mem.size))
        ref = np.zeros(v.shape, dtype=np.int64)
        spikes = np.zeros(cur.shape)
        first = np.full(v.shape, steps, dtype=np.int64)
        v_first = np.zeros(v.shape)
        e_mirror = 0.0
        v_th = mem.v_threshold_v
        sub = self.reset == "subtract"
        for t in range(steps):
            hold = ref > 0
            i_t = np.where(hold, 0.0, cur[:, t])
            e_mirror += mem.vdd_v * t_on * float(np.abs(i_t).sum())
            v = np.where(hold, v, mem.integrate(v, i_t, t_on, t_off))
            s = mem.fires(v) & ~hold
            new = s & (first == steps)
            first[new], v_first[new] = t, v[new]
            spikes[:, t] = s
            if np.any(s):
                idx = np.nonzero(s)
                counters = ((sample0 + idx[0]) * steps + t) * mem.size + idx[1]
                noise = mem.reset_noise_v(key, counters.astype(np.uint64))
                v[idx] = (v[idx] - v_th if sub else 0.0) + noise
            ref = np.where(s, self.refractory_steps, np.maximum(ref - 1, 0))
        n_spikes = int(spikes.sum())
        counts = OpCounts(spikes=n_spikes, neuron_energy_j=e_mirror + n_spikes * mem.e_spike_j,
                          sram_write_bits=self._write_bits(n_spikes, v.size))
        feat = x.shape[1:]
        scale = self.threshold / v_th
        out = self._decode(spikes.reshape(n, steps, *feat), (v * scale).reshape(n, *feat),
                           (v_first * scale).reshape(n, *feat), first.reshape(n, *feat))
        return out, counts


def _neuron_card(hw):
    from device_models import cards

    return cards.load(hw.neuron_card, kinds=("neuron",), field="neuron_card",
                      caller="HardwareConfig")


# --------------------------------------------------------------------------------------------
# Helpers for networks
# --------------------------------------------------------------------------------------------

#: Layer types of this module (for model files).
SPIKING_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (SpikeEncoder, LIF, SubthresholdActivation)}

#: Layers through which binary spikes stay binary.
_KEEPS_BINARY = (Flatten, MaxPool2d)


def binary_input_layers(layers) -> set[str]:
    """Names of the weighted layers whose input is a spike tensor (top-level sequence)."""
    out: set[str] = set()
    binary = False
    for layer in layers:
        if isinstance(layer, WeightedLayer) and binary:
            out.add(layer.name)
        binary = bool(getattr(layer, "emits_binary", False)) or (
            binary and isinstance(layer, _KEEPS_BINARY))
    return out


def spike_drive(hw):
    """``hw`` with the row drive of a spike input: one bit, one amplitude (a spike drives its
    row at the read voltage for one read window, so each step is one GEMM). Unquantised ideal
    tiles are returned unchanged (binary inputs pass through them exactly)."""
    import dataclasses

    if not hw.tile.quantize:
        return hw
    return dataclasses.replace(hw, tile=dataclasses.replace(hw.tile, input_bits=1,
                                                            input_encoding="amplitude"))


def network_timesteps(layers) -> int | None:
    """The common ``timesteps`` of the spiking layers of a sequence (None if there are none);
    raises if they disagree."""
    steps = {layer.timesteps for layer in layers if isinstance(layer, (SpikeEncoder, LIF))}
    if len(steps) > 1:
        fail("layers", "Network", "spiking layers with one common 'timesteps'", sorted(steps))
    return steps.pop() if steps else None
