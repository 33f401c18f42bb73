r"""Input encodings: how integer input codes reach the crossbar rows over time.

Every encoding turns N-bit input codes (unsigned :math:`D \in [0, D_\mathrm{max}]`,
:math:`D_\mathrm{max} = 2^N - 1`, or signed :math:`|D| \le D_\mathrm{max} = 2^{N-1} - 1`, the
sign setting the polarity of the row drive) into an :class:`EncodedInput`: for each array
cycle :math:`c` the voltage on each row, when and how long it is applied, how many driver
events that takes, and the digital weight of the cycle's result. This module is the one
definition of the encodings; the tiles execute it (:mod:`cimsim.tile.encode`).

A column read-out that integrates the column charge over a cycle's window :math:`T_c` sees
the cycle as an amplitude-equivalent row drive

.. math:: \bar V_{r,c} = \frac{1}{T_c}\int_{T_c} V_r(t)\,dt = \frac{V_{r,c}\,t_{r,c}}{T_c}
          \quad [V], \qquad Q_{j,c} = T_c \sum_r G_{rj} \bar V_{r,c} \quad [C]

for a linear array, and the result is :math:`\sum_c w_c Q_{j,c}` with cycle weights
:math:`w_c`. Each scheme makes :math:`\bar V` proportional to the code (per cycle):

* ``amplitude`` — 1 cycle: :math:`V = \mathrm{sign}(D)\,L(|D|)` for :math:`t_\mathrm{read}`,
  with the level law :math:`L(k) = V_\mathrm{read}\,k/D_\mathrm{max}` or a DAC's transfer
  table. One event (a DAC conversion) per non-zero code.
* ``bit_serial`` — :math:`\lceil\log_2(D_\mathrm{max}+1)\rceil` cycles: :math:`V =
  \mathrm{sign}(D)\,V_\mathrm{read}\,b_c(|D|)` for :math:`t_\mathrm{read}`, recombined by
  shift-and-add with :math:`w_c = 2^c` [3]_. One event per set bit.
* ``pulse_width`` — 1 cycle of :math:`D_\mathrm{max}` clock ticks,
  :math:`t_\mathrm{clk} = t_\mathrm{read}/D_\mathrm{max}`: :math:`\pm V_\mathrm{read}` for
  :math:`|D|\,t_\mathrm{clk}` from the start of the window [4]_. One event per non-zero code.
* ``ttfs`` — time to first spike, 1 cycle of :math:`D_\mathrm{max}` ticks: one spike at
  :math:`t = (D_\mathrm{max} - |D|)\,t_\mathrm{clk}` (large values spike early; no spike for
  D = 0) [1]_, [5]_. The spike sets the row driver's latch, which holds
  :math:`\pm V_\mathrm{read}` until the window closes, so the row is on for
  :math:`|D|\,t_\mathrm{clk}` and a column integrator over the window collects a charge linear
  in the code. One event per spike.
* ``level_crossing`` — delta coding of a time series (time on axis 0): at step :math:`s` one
  event per quantisation level crossed, :math:`|\Delta D_s| = |D_s - D_{s-1}|` events of
  polarity :math:`\mathrm{sign}(\Delta D_s)`, the series starting from :math:`D_{-1} = 0`
  [2]_. Each event is a return-to-zero pulse of :math:`V_\mathrm{read}` for
  :math:`\delta\,t_\mathrm{clk}` (duty :data:`LC_DUTY`) in its own clock period; a step's
  window holds the largest possible crossing, :math:`S` ticks (:math:`S = D_\mathrm{max}`
  unsigned, :math:`2 D_\mathrm{max}` signed), :math:`t_\mathrm{clk} = t_\mathrm{read}/S`. The
  read-out counts the events' charge: an integrator that is not reset between steps holds
  :math:`\sum_{s' \le s} \Delta D_{s'} = D_s`, so every step reads the current value while
  only the changes cost events. A static vector is the one-step series: :math:`|D|` events
  from 0 to the code.

Spike trains for spiking networks (:func:`rate_spikes`): a rate code sends, over S time
steps, a spike count carrying :math:`p = D/D_\mathrm{max}` (Adrian & Zotterman 1926 [6]_; the
input layer of rate-coded spiking networks, Diehl et al. 2015 [7]_). The regular code spikes
at step :math:`s` iff :math:`\lfloor (s+1)D/D_\mathrm{max}\rfloor - \lfloor
sD/D_\mathrm{max}\rfloor = 1` (the count is :math:`\lfloor S D/D_\mathrm{max}\rfloor`, spikes
evenly spread); the stochastic code spikes with probability :math:`p` per step (Bernoulli,
from a counter-based stream), the discrete-time form of a Poisson spike train of rate
:math:`p` per step (Gerstner et al. 2014, ch. 7 [8]_): the count over S steps is binomial,
mean :math:`Sp`, variance :math:`Sp(1-p)`. Each spike drives its row in that step as the one-bit
``amplitude`` scheme does; a TTFS spike train is the ``ttfs`` event time sampled by the step
clock.

Energy is per event (no event, no energy): the cells dissipate
:math:`\sum V_{r,c}^2\,t_{r,c}\,G` (:attr:`EncodedInput.cell_v2s` times G), and each event
charges the row wire once, :math:`C_\mathrm{row}\,V^2` (:attr:`EncodedInput.wire_v2`).
Every encoding is exactly invertible (:func:`decode`) when nothing perturbs it; that is tested.

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
.. [4] M. Le Gallo et al., "A 64-core mixed-signal in-memory compute chip based on
   phase-change memory for deep neural network inference", Nature Electronics 6, 680–693
   (2023), doi:10.1038/s41928-023-01010-1 (pulse-width modulated inputs integrated on the
   column).
.. [5] B. Rueckauer, S.-C. Liu, "Conversion of analog to spiking neural networks using sparse
   temporal coding", ISCAS 2018, doi:10.1109/ISCAS.2018.8351295 (activations carried by the
   time to first spike).
.. [6] E. D. Adrian, Y. Zotterman, "The impulses produced by sensory nerve endings. Part II.
   The response of a single end-organ", J. Physiol. 61(2), 151–171 (1926),
   doi:10.1113/jphysiol.1926.sp002281.
.. [7] P. U. Diehl, D. Neil, J. Binas, M. Cook, S.-C. Liu, M. Pfeiffer, "Fast-classifying,
   high-accuracy spiking deep networks through weight and threshold balancing", IJCNN 2015,
   doi:10.1109/IJCNN.2015.7280696.
.. [8] W. Gerstner, W. M. Kistler, R. Naud, L. Paninski, *Neuronal Dynamics*, Cambridge
   University Press (2014), ch. 7 (Poisson spike trains), doi:10.1017/CBO9781107447615.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._checks import check_array, check_choice, check_int, check_scalar, fail

__all__ = [
    "ENCODINGS",
    "LC_DUTY",
    "TIME_CODED",
    "EncodedInput",
    "clock_s",
    "code_max",
    "cycle_weights",
    "decode",
    "drive_totals",
    "encode",
    "n_cycles",
    "quantize_inputs",
    "rate_spikes",
    "volts_per_code",
]

#: Names accepted by :func:`encode`.
ENCODINGS = ("amplitude", "bit_serial", "pulse_width", "ttfs", "level_crossing")
#: Encodings that carry the value in time (fixed amplitude ``V_read``, clock ``t_clk``).
TIME_CODED = ("pulse_width", "ttfs", "level_crossing")
#: Fraction of its clock period a level-crossing event drives the row (return-to-zero pulses,
#: so consecutive events are separate edges) [-].
LC_DUTY = 0.5


def code_max(bits: int, signed: bool = False) -> int:
    """Largest code magnitude ``D_max``: ``2**bits − 1``, or ``2**(bits−1) − 1`` signed
    (at least 1) [-]."""
    n = check_int("bits", bits, "code_max", lo=1, hi=30)
    if not isinstance(signed, (bool, np.bool_)):
        from ._checks import fail

        fail("signed", "code_max", "True or False", signed)
    return max((1 << (n - 1)) - 1, 1) if signed else (1 << n) - 1


def n_cycles(scheme: str, c_max: int) -> int:
    """Array cycles per input vector (per time step for ``level_crossing``) [-]."""
    check_choice("scheme", scheme, "n_cycles", ENCODINGS)
    return int(c_max).bit_length() if scheme == "bit_serial" else 1


def cycle_weights(scheme: str, c_max: int) -> np.ndarray:
    """Digital weight of each cycle's result (shift-and-add), shape (n_cycles,) [-]."""
    return 2.0 ** np.arange(n_cycles(scheme, c_max))


def _span(scheme: str, c_max: int, signed: bool) -> int:
    """Clock ticks of a time-coded window (the largest number of ticks a value needs)."""
    return 2 * c_max if (scheme == "level_crossing" and signed) else c_max


def clock_s(scheme: str, t_read_s: float, c_max: int, signed: bool = False) -> float:
    """Time resolution ``t_clk`` of a time-coded scheme whose window is ``t_read_s`` [s]:
    ``t_read / D_max``, or ``t_read / (2·D_max)`` for a signed level-crossing series (a step
    may cross every level from −D_max to D_max). Voltage-coded schemes: ``t_read_s``."""
    check_choice("scheme", scheme, "clock_s", ENCODINGS)
    if scheme not in TIME_CODED:
        return float(t_read_s)
    return float(t_read_s) / _span(scheme, int(c_max), bool(signed))


def volts_per_code(scheme: str, v_read_v: float, c_max: int, cycle: int = 0, *,
                   signed: bool = False) -> float:
    r"""Amplitude-equivalent row volts :math:`\bar V` per unit of input code in ``cycle``
    (linear levels) [V]: ``V_read/D_max`` (amplitude, pulse width, TTFS), ``V_read/2**c``
    (bit-serial cycle c: bit c of the code weighs 2**c), ``δ·V_read/S`` (level crossing)."""
    check_choice("scheme", scheme, "volts_per_code", ENCODINGS)
    if scheme == "bit_serial":
        return float(v_read_v) / 2.0 ** int(cycle)
    if scheme == "level_crossing":
        return LC_DUTY * float(v_read_v) / _span(scheme, int(c_max), bool(signed))
    return float(v_read_v) / int(c_max)


@dataclasses.dataclass(frozen=True, eq=False)
class EncodedInput:
    """What the rows see over time.

    Attributes
    ----------
    scheme : str
        Encoding name (one of :data:`ENCODINGS`).
    bits : int
        Input resolution N [bit].
    signed : bool
        Whether codes carry a sign (the polarity of the drive).
    c_max : int
        Largest code magnitude ``D_max`` [-].
    v_rows_v : numpy.ndarray
        Row voltage while driven in each cycle, shape ``(n_cycles, *input_shape)`` [V].
    t_on_s : numpy.ndarray
        Time each row is driven within its cycle, same shape [s].
    t_start_s : numpy.ndarray
        Start of the drive within the cycle, same shape [s] (non-zero only for ``ttfs``).
    events : numpy.ndarray
        Driver events per row and cycle (DAC conversions, pulses, spikes), same shape, int64.
    cycle_weights : numpy.ndarray
        Digital weight of each cycle's result for shift-add recombination, (n_cycles,) [-].
    n_cycles : int
        Array read (and ADC) cycles [-].
    t_window_s : float
        Integration window of one cycle [s].
    n_clock_ticks : int
        Clock periods of the whole encoding [-].
    duration_s : float
        Wall-clock duration of the whole encoding [s].
    v_read_v, t_read_s, t_clk_s : float
        Read voltage [V], read time per cycle [s] and pulse clock [s] it was built with.
    levels_v : numpy.ndarray or None
        Amplitude level table for ``|code|`` = 0…c_max [V] (None: linear levels).
    """

    scheme: str
    bits: int
    signed: bool
    c_max: int
    v_rows_v: np.ndarray
    t_on_s: np.ndarray
    t_start_s: np.ndarray
    events: np.ndarray
    cycle_weights: np.ndarray
    n_cycles: int
    t_window_s: float
    n_clock_ticks: int
    duration_s: float
    v_read_v: float
    t_read_s: float
    t_clk_s: float
    levels_v: np.ndarray | None = None

    @property
    def drive_vs(self) -> np.ndarray:
        """Volt-seconds per row and cycle, V·t_on (what a linear array integrates) [V·s]."""
        return self.v_rows_v * self.t_on_s

    @property
    def v_eq_v(self) -> np.ndarray:
        """Amplitude-equivalent row voltage ``V·t_on / T_window`` per row and cycle [V]."""
        return self.drive_vs / self.t_window_s

    @property
    def cell_v2s(self) -> np.ndarray:
        """``V²·t_on`` per row and cycle; times a cell conductance, its read energy [V²·s]."""
        return self.v_rows_v ** 2 * self.t_on_s

    @property
    def wire_v2(self) -> np.ndarray:
        """``V²`` once per event, per row and cycle; times C_row, the wire energy [V²]."""
        return self.v_rows_v ** 2 * self.events


def quantize_inputs(x, bits: int) -> np.ndarray:
    """Codes round(x·(2**N − 1)) for normalised inputs ``x`` in [0, 1] (int64) [-]."""
    n = check_int("bits", bits, "quantize_inputs", lo=1, hi=30)
    arr = check_array("x", x, "quantize_inputs", lo=0.0, hi=1.0)
    return np.rint(arr * ((1 << n) - 1)).astype(np.int64)


def encode(codes, scheme: str, *, bits: int, signed: bool = False, v_read_v: float = 0.2,
           t_read_s: float = 10e-9, t_clk_s: float | None = None,
           levels_v=None) -> EncodedInput:
    """Encode integer input codes for the rows.

    Parameters
    ----------
    codes : array_like of int
        Input codes, within ``[0, D_max]`` (``[−D_max, D_max]`` if ``signed``), any shape; for
        ``level_crossing`` the first axis is time (a static vector is a one-step series).
    scheme : str
        One of :data:`ENCODINGS`.
    bits : int
        Input resolution N [bit].
    signed : bool
        Signed codes (sign = drive polarity, ``D_max = 2**(N−1) − 1``).
    v_read_v : float
        Full read voltage [V].
    t_read_s : float
        Read (integration) window of one array cycle [s].
    t_clk_s : float, optional
        Pulse clock of the time-coded schemes [s]; default :func:`clock_s` (the window is
        then ``t_read_s``); given, the window is the scheme's ticks × ``t_clk_s``.
    levels_v : array_like, optional
        Amplitude levels for ``|code|`` = 0…D_max (a DAC's transfer table) [V]; level 0 must be
        0 (an undriven row). Default: linear, ``V_read·k/D_max``.

    Returns
    -------
    EncodedInput
        Row voltages, timing, events, cycle weights, cycle count and duration.
    """
    who = "encode"
    check_choice("scheme", scheme, who, ENCODINGS)
    n = check_int("bits", bits, who, lo=1, hi=30)
    signed = bool(signed)
    top = code_max(n, signed)
    d = check_array("codes", codes, who, dtype=np.int64, lo=-top if signed else 0, hi=top)
    v_read = check_scalar("v_read_v", v_read_v, who, lo=0.0, lo_open=True)
    t_read = check_scalar("t_read_s", t_read_s, who, lo=0.0, lo_open=True)
    span = _span(scheme, top, signed)
    if t_clk_s is None:
        t_clk = clock_s(scheme, t_read, top, signed)
    else:
        t_clk = check_scalar("t_clk_s", t_clk_s, who, lo=0.0, lo_open=True)
    table = None
    if levels_v is not None:
        table = check_array("levels_v", levels_v, who, ndim=1)
        if table.size != top + 1 or table[0] != 0.0:
            fail("levels_v", who, f"{top + 1} levels starting at 0 V",
                 f"array of shape {table.shape} starting at {table[:1]}")
    common = dict(scheme=scheme, bits=n, signed=signed, c_max=top, v_read_v=v_read,
                  t_read_s=t_read, t_clk_s=t_clk, levels_v=table)
    sign = np.sign(d)
    mag = np.abs(d)
    on = (mag > 0)
    one = np.ones(1)
    if scheme == "amplitude":
        lvl = mag * (v_read / top) if table is None else table[mag]
        v = (sign * lvl)[None]
        return EncodedInput(
            v_rows_v=v, t_on_s=np.full(v.shape, t_read), t_start_s=np.zeros(v.shape),
            events=(v != 0).astype(np.int64), cycle_weights=one, n_cycles=1,
            t_window_s=t_read, n_clock_ticks=1, duration_s=t_read, **common)
    if scheme == "bit_serial":
        k = n_cycles(scheme, top)
        planes = np.stack([(mag >> c) & 1 for c in range(k)])
        return EncodedInput(
            v_rows_v=planes * sign * v_read, t_on_s=np.full(planes.shape, t_read),
            t_start_s=np.zeros(planes.shape), events=planes.astype(np.int64),
            cycle_weights=cycle_weights(scheme, top), n_cycles=k, t_window_s=t_read,
            n_clock_ticks=k, duration_s=k * t_read, **common)
    window = span * t_clk
    if scheme in ("pulse_width", "ttfs"):
        start = (top - mag) * t_clk if scheme == "ttfs" else np.zeros(mag.shape)
        return EncodedInput(
            v_rows_v=(sign * v_read)[None], t_on_s=(mag * t_clk)[None].astype(np.float64),
            t_start_s=np.where(on, start, 0.0)[None], events=on[None].astype(np.int64),
            cycle_weights=one, n_cycles=1, t_window_s=window, n_clock_ticks=span,
            duration_s=window, **common)
    # level_crossing: the first axis is time; the series starts from code 0
    if d.ndim < 1 or d.shape[0] < 1:
        fail("codes", who, "a time series with time on axis 0 for level_crossing",
             f"array of shape {d.shape}")
    delta = np.diff(d, axis=0, prepend=np.zeros((1, *d.shape[1:]), dtype=np.int64))
    steps = d.shape[0]
    return EncodedInput(
        v_rows_v=np.sign(delta) * v_read, t_on_s=LC_DUTY * np.abs(delta) * t_clk,
        t_start_s=np.zeros(delta.shape), events=np.abs(delta), cycle_weights=np.ones(steps),
        n_cycles=steps, t_window_s=window, n_clock_ticks=steps * span,
        duration_s=steps * window, **common)


def decode(enc: EncodedInput) -> np.ndarray:
    """Recover the integer codes from an :class:`EncodedInput` (exact when unperturbed)."""
    if not isinstance(enc, EncodedInput):
        fail("enc", "decode", "an EncodedInput", type(enc).__name__)
    sign = np.sign(enc.v_rows_v)
    if enc.scheme == "amplitude":
        v = np.abs(enc.v_rows_v[0])
        if enc.levels_v is None:
            mag = np.rint(v / enc.v_read_v * enc.c_max)
        else:
            mag = np.abs(v[..., None] - enc.levels_v).argmin(axis=-1)
        return (sign[0] * mag).astype(np.int64)
    if enc.scheme == "bit_serial":
        w = enc.cycle_weights.reshape((-1,) + (1,) * (sign.ndim - 1))
        return np.rint((sign * w).sum(axis=0)).astype(np.int64)
    if enc.scheme == "pulse_width":
        return (sign[0] * np.rint(enc.t_on_s[0] / enc.t_clk_s)).astype(np.int64)
    if enc.scheme == "ttfs":
        mag = enc.c_max - np.rint(enc.t_start_s[0] / enc.t_clk_s)
        return np.where(sign[0] != 0, sign[0] * mag, 0).astype(np.int64)
    return np.cumsum(sign * enc.events, axis=0).astype(np.int64)


def rate_spikes(codes, c_max: int, steps: int, seed: int | None = None, *,
                sample0: int = 0) -> np.ndarray:
    """Binary spike trains of the rate code of unsigned ``codes`` (module docstring).

    Parameters
    ----------
    codes : array_like of int
        Codes in [0, c_max], any shape; with ``seed``, axis 0 indexes samples.
    c_max : int
        Largest code ``D_max`` [-].
    steps : int
        Time steps S [-].
    seed : int, optional
        None: the regular code (integer arithmetic; the count is exactly
        ``(S·D) // D_max``). Else Bernoulli spikes (the discrete Poisson train),
        ``u < D/D_max`` with ``u`` uniform from the counter-based stream of ``seed``: element
        ``j`` (C order, of the M elements of one sample) of sample ``n`` at step ``s`` draws
        at counter ``((sample0 + n)·S + s)·M + j``, so a sample's train depends only on the
        seed, its position ``sample0 + n`` and its codes, not on how a batch is split.
    sample0 : int
        Stream position of sample ``codes[0]`` (stochastic code only) [-].

    Returns
    -------
    ndarray, shape ``(steps, *codes.shape)``
        Spikes, 0.0 or 1.0.

    References
    ----------
    .. [1] Adrian & Zotterman (1926), doi:10.1113/jphysiol.1926.sp002281 (rate code).
    .. [2] Gerstner et al. (2014), doi:10.1017/CBO9781107447615, ch. 7 (Poisson trains).
    """
    who = "rate_spikes"
    s_n = check_int("steps", steps, who, lo=1, hi=1 << 20)
    # the regular code's S·D must fit an int64
    top = check_int("c_max", c_max, who, lo=1, hi=np.iinfo(np.int64).max // s_n)
    d = check_array("codes", codes, who, dtype=np.int64, lo=0, hi=top)
    s = np.arange(s_n, dtype=np.int64).reshape((s_n,) + (1,) * d.ndim)
    if seed is None:
        return (((s + 1) * d) // top - (s * d) // top).astype(np.float64)
    from . import rng
    from ._checks import check_seed

    key = rng.derive_key(check_seed("seed", seed, who), "rate_code")
    first = rng.check_offset("sample0", sample0, who)
    n = d.shape[0] if d.ndim else 1
    per = s_n * (d.size // n if n else 0)            # counters per sample: S·M
    if (first + n) * per > rng.MAX_OFFSET:
        fail("sample0", who, f"at most 2**58 / {per} - {n} (the stream's length)", sample0)
    u = rng.uniform(key, (n, s_n, per // s_n), offset=first * per)    # sample-major
    u = np.moveaxis(u, 1, 0).reshape((s_n, *d.shape))
    return (u < d / top).astype(np.float64)


def drive_totals(scheme: str, sum_v2, n_driven, sum_abs, *, c_max: int, signed: bool = False,
                 v_read_v: float, t_read_s: float) -> tuple:
    r"""Energy-account totals of a cycle from three sums over its rows (and vectors).

    For a cycle driven at amplitude-equivalent voltages :math:`\bar V` (linear levels, or a
    DAC table for ``amplitude``), given :math:`\sum \bar V^2` [V²], the number of driven rows
    and :math:`\sum |D|`, returns the sums over the same rows of :attr:`EncodedInput.cell_v2s`
    (:math:`V^2 t_\mathrm{on}` [V²·s]), :attr:`EncodedInput.wire_v2` (:math:`V^2` per event
    [V²]) and :attr:`EncodedInput.events` [-]:

    * ``amplitude``, ``bit_serial``: :math:`(\sum\bar V^2\,t_\mathrm{read},\ \sum\bar V^2,\
      n_\mathrm{driven})`;
    * ``pulse_width``, ``ttfs``: :math:`(V_\mathrm{read}^2 t_\mathrm{clk}\sum|D|,\
      V_\mathrm{read}^2 n_\mathrm{driven},\ n_\mathrm{driven})`;
    * ``level_crossing`` (a static vector: events from 0): :math:`(V_\mathrm{read}^2\,\delta\,
      t_\mathrm{clk}\sum|D|,\ V_\mathrm{read}^2\sum|D|,\ \sum|D|)`.

    Works elementwise on arrays (e.g. per row). Tested equal to the fields of
    :func:`encode`.
    """
    check_choice("scheme", scheme, "drive_totals", ENCODINGS)
    sum_v2, n_driven, sum_abs = (np.asarray(a, dtype=np.float64)
                                 for a in (sum_v2, n_driven, sum_abs))
    v2 = float(v_read_v) ** 2
    if scheme in ("amplitude", "bit_serial"):
        return sum_v2 * float(t_read_s), sum_v2, n_driven
    t_clk = clock_s(scheme, t_read_s, c_max, signed)
    if scheme in ("pulse_width", "ttfs"):
        return v2 * t_clk * sum_abs, v2 * n_driven, n_driven
    return v2 * LC_DUTY * t_clk * sum_abs, v2 * sum_abs, sum_abs
