r"""Input encodings: how integer input codes reach the crossbar rows over time.

Every encoding turns a batch of N-bit input codes :math:`D \in [0, 2^N)` (any shape) into an
:class:`EncodedInput`: for each array cycle :math:`c` the voltage on each row and how long it
is applied, plus the digital weight of that cycle's result. A linear array integrates the
column charge :math:`Q = \sum_c w_c \sum_r G_r V_{r,c}\,t_{r,c}`, so the amplitude,
bit-serial and pulse-width schemes reproduce the product :math:`G\,D` up to a scheme
constant; TTFS and level crossing carry the value in event times and event counts and need a
time-resolving read-out:

* ``amplitude`` — 1 cycle: :math:`V = V_\mathrm{read}\,D/(2^N-1)` for :math:`t_\mathrm{read}`.
* ``bit_serial`` — N cycles: :math:`V = V_\mathrm{read}\,b_c(D)` for :math:`t_\mathrm{read}`;
  results recombined by shift-and-add with weights :math:`w_c = 2^c`.
* ``pulse_width`` — 1 cycle: :math:`V_\mathrm{read}` for :math:`D\,t_\mathrm{clk}` within a
  window of :math:`(2^N-1)\,t_\mathrm{clk}`.
* ``ttfs`` — 1 cycle: one :math:`t_\mathrm{clk}` spike at
  :math:`t = (2^N-1-D)\,t_\mathrm{clk}` (no spike for D = 0); decoded from the spike time.
* ``level_crossing`` — one cycle per time step: :math:`\pm V_\mathrm{read}` bursts of
  :math:`|\Delta D_t|` pulses; decoded by a running sum.

Time-to-first-spike (TTFS) codes a value in the latency of a single spike (large values spike
early; Thorpe et al. 2001); level-crossing (delta) coding sends one ±1 event each time a time
series crosses a quantisation level, i.e. :math:`\Delta D_t = D_t - D_{t-1}` events at step
:math:`t` (Tsividis 2010). Every encoding is exactly invertible (:func:`decode`) when nothing
perturbs it; that is tested.

References
----------
.. [1] S. Thorpe, A. Delorme, R. Van Rullen, "Spike-based strategies for rapid processing",
   Neural Networks 14(6–7), 715–725 (2001), doi:10.1016/S0893-6080(01)00083-1.
.. [2] Y. Tsividis, "Event-driven data acquisition and digital signal processing — a
   tutorial", IEEE Trans. Circuits Syst. II 57(8), 577–581 (2010),
   doi:10.1109/TCSII.2010.2056012.
.. [3] A. Shafiee et al., "ISAAC: a convolutional neural network accelerator with in-situ
   analog arithmetic in crossbars", ISCA 2016, doi:10.1109/ISCA.2016.12 (bit-serial inputs
   recombined by shift-and-add).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._checks import check_array, check_choice, check_int, check_scalar

__all__ = ["ENCODINGS", "EncodedInput", "decode", "encode", "quantize_inputs"]

#: Names accepted by :func:`encode`.
ENCODINGS = ("amplitude", "bit_serial", "pulse_width", "ttfs", "level_crossing")


@dataclasses.dataclass(frozen=True)
class EncodedInput:
    """What the rows see over time.

    Attributes
    ----------
    scheme : str
        Encoding name (one of :data:`ENCODINGS`).
    bits : int
        Input resolution N [bit].
    v_rows_v : numpy.ndarray
        Row voltage in each cycle, shape (n_cycles, *input_shape) [V].
    t_on_s : numpy.ndarray
        Time each row is driven within its cycle, same shape [s].
    t_start_s : numpy.ndarray
        Start of the drive within the cycle, same shape [s] (non-zero only for ``ttfs``).
    cycle_weights : numpy.ndarray
        Digital weight of each cycle's result for shift-add recombination, shape (n_cycles,)
        [-].
    n_cycles : int
        Array read (and ADC) cycles [-].
    n_clock_ticks : int
        Clock periods of the whole encoding [-].
    duration_s : float
        Wall-clock duration of the whole encoding [s].
    v_read_v, t_read_s, t_clk_s : float
        Read voltage [V], read time per cycle [s] and pulse clock [s] it was built with.
    """

    scheme: str
    bits: int
    v_rows_v: np.ndarray
    t_on_s: np.ndarray
    t_start_s: np.ndarray
    cycle_weights: np.ndarray
    n_cycles: int
    n_clock_ticks: int
    duration_s: float
    v_read_v: float
    t_read_s: float
    t_clk_s: float

    @property
    def drive_vs(self) -> np.ndarray:
        """Volt-seconds per row and cycle, V·t_on (what a linear array integrates) [V·s]."""
        return self.v_rows_v * self.t_on_s


def quantize_inputs(x, bits: int) -> np.ndarray:
    """Codes round(x·(2**N − 1)) for normalised inputs ``x`` in [0, 1] (int64) [-]."""
    n = check_int("bits", bits, "quantize_inputs", lo=1, hi=30)
    arr = check_array("x", x, "quantize_inputs", lo=0.0, hi=1.0)
    return np.rint(arr * ((1 << n) - 1)).astype(np.int64)


def encode(codes, scheme: str, *, bits: int, v_read_v: float = 0.2, t_read_s: float = 10e-9,
           t_clk_s: float = 1e-9) -> EncodedInput:
    """Encode integer input codes for the rows.

    Parameters
    ----------
    codes : array_like of int
        Input codes in [0, 2**bits), any shape; for ``level_crossing`` the first axis is time.
    scheme : str
        One of :data:`ENCODINGS`.
    bits : int
        Input resolution N [bit].
    v_read_v : float
        Full read voltage [V].
    t_read_s : float
        Read (integration) time of one array cycle for the voltage-coded schemes [s].
    t_clk_s : float
        Pulse clock for the time-coded schemes (pulse width, TTFS, level crossing) [s].

    Returns
    -------
    EncodedInput
        Row voltages, on-times, cycle weights, cycle count and duration.
    """
    who = "encode"
    check_choice("scheme", scheme, who, ENCODINGS)
    n = check_int("bits", bits, who, lo=1, hi=30)
    top = (1 << n) - 1
    d = check_array("codes", codes, who, dtype=np.int64, lo=0, hi=top)
    v_read = check_scalar("v_read_v", v_read_v, who, lo=0.0, lo_open=True)
    t_read = check_scalar("t_read_s", t_read_s, who, lo=0.0, lo_open=True)
    t_clk = check_scalar("t_clk_s", t_clk_s, who, lo=0.0, lo_open=True)
    common = dict(scheme=scheme, bits=n, v_read_v=v_read, t_read_s=t_read, t_clk_s=t_clk)
    if scheme == "amplitude":
        v = (d * (v_read / top))[None]
        return EncodedInput(
            v_rows_v=v, t_on_s=np.full(v.shape, t_read), t_start_s=np.zeros(v.shape),
            cycle_weights=np.ones(1), n_cycles=1, n_clock_ticks=1, duration_s=t_read, **common,
        )
    if scheme == "bit_serial":
        planes = np.stack([(d >> c) & 1 for c in range(n)]).astype(np.float64)
        return EncodedInput(
            v_rows_v=planes * v_read, t_on_s=np.full(planes.shape, t_read),
            t_start_s=np.zeros(planes.shape), cycle_weights=2.0 ** np.arange(n), n_cycles=n,
            n_clock_ticks=n, duration_s=n * t_read, **common,
        )
    if scheme == "pulse_width":
        on = (d > 0)[None].astype(np.float64)
        return EncodedInput(
            v_rows_v=on * v_read, t_on_s=(d * t_clk)[None].astype(np.float64),
            t_start_s=np.zeros(on.shape), cycle_weights=np.ones(1), n_cycles=1,
            n_clock_ticks=top, duration_s=top * t_clk, **common,
        )
    if scheme == "ttfs":
        spike = (d > 0)[None]
        t_start = np.where(spike, (top - d)[None] * t_clk, 0.0)
        return EncodedInput(
            v_rows_v=spike * v_read, t_on_s=spike * t_clk, t_start_s=t_start,
            cycle_weights=np.ones(1), n_cycles=1, n_clock_ticks=top + 1,
            duration_s=(top + 1) * t_clk, **common,
        )
    # level_crossing: the first axis is time; the series starts from code 0.
    if d.ndim < 1 or d.shape[0] < 1:
        from ._checks import fail

        fail("codes", who, "a time series with time on axis 0 for level_crossing",
             f"array of shape {d.shape}")
    delta = np.diff(d, axis=0, prepend=np.zeros((1, *d.shape[1:]), dtype=np.int64))
    n_steps = d.shape[0]
    max_events = int(np.abs(delta).max()) if delta.size else 0
    ticks = max(max_events, 1)
    return EncodedInput(
        v_rows_v=np.sign(delta) * v_read, t_on_s=np.abs(delta) * t_clk,
        t_start_s=np.zeros(delta.shape), cycle_weights=np.ones(n_steps), n_cycles=n_steps,
        n_clock_ticks=n_steps * ticks, duration_s=n_steps * ticks * t_clk, **common,
    )


def decode(enc: EncodedInput) -> np.ndarray:
    """Recover the integer codes from an :class:`EncodedInput` (exact when unperturbed)."""
    if not isinstance(enc, EncodedInput):
        from ._checks import fail

        fail("enc", "decode", "an EncodedInput", type(enc).__name__)
    top = (1 << enc.bits) - 1
    if enc.scheme == "amplitude":
        return np.rint(enc.v_rows_v[0] / enc.v_read_v * top).astype(np.int64)
    if enc.scheme == "bit_serial":
        bits = np.rint(enc.v_rows_v / enc.v_read_v)
        w = enc.cycle_weights.reshape((-1,) + (1,) * (bits.ndim - 1))
        return np.rint((bits * w).sum(axis=0)).astype(np.int64)
    if enc.scheme == "pulse_width":
        return np.rint(enc.t_on_s[0] / enc.t_clk_s).astype(np.int64)
    if enc.scheme == "ttfs":
        spike = enc.v_rows_v[0] > 0
        d = top - np.rint(enc.t_start_s[0] / enc.t_clk_s)
        return np.where(spike, d, 0).astype(np.int64)
    events = np.sign(enc.v_rows_v) * np.rint(enc.t_on_s / enc.t_clk_s)
    return np.cumsum(events, axis=0).astype(np.int64)
