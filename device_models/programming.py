"""Write-verify programming of RRAM and 1T1R cells (closed-loop SET/RESET pulse trains).

A chip programs an analog conductance the way :func:`program_write_verify` does: read the
cell (a *noisy* verify read), and while the reading is outside ``target ± tolerance`` apply a
SET pulse (reading too low) or a RESET pulse (reading too high); stop when the reading is
inside the window or when the pulse limit is reached. Each pulse moves the conductance by a
stochastic, state-dependent step:

.. math::

    \\Delta G_\\mathrm{SET} = \\delta_\\mathrm{set}\\,\\Delta G_w\\, s_i\\, a\\,
        \\left(\\frac{G_{hi,i} - G}{\\Delta G_w}\\right)^{\\gamma} (1 + \\sigma_{c2c}\\,\\xi),
    \\qquad
    \\Delta G_\\mathrm{RESET} = -\\delta_\\mathrm{reset}\\,\\Delta G_w\\, s_i\\, a\\,
        \\left(\\frac{G - G_{lo,i}}{\\Delta G_w}\\right)^{\\gamma} (1 + \\sigma_{c2c}\\,\\xi)

with :math:`\\Delta G_w = G_{max} - G_{min}` [S] the card's window, :math:`\\xi` a fresh
standard normal per pulse (cycle-to-cycle variation), and per device *i* (device-to-device
variation, drawn once per cell index): the step scale :math:`s_i = e^{\\sigma_{d2d} z}` and
the device's own saturation bounds :math:`G_{lo,i} = (G_{min} - m\\Delta G_w)(1 + \\sigma_w z')`,
:math:`G_{hi,i} = (G_{max} + m\\Delta G_w)(1 + \\sigma_w z'')` (the chip's window lies a
margin *m* = ``bound_margin_frac`` inside the reachable range). For a
1T1R cell :math:`G_{hi,i}` is further capped by the SET compliance,
:math:`G_{comp} = I_{comp}/V_{switch}`, with :math:`I_{comp}` the access transistor's current
at the SET gate voltage. After every reversal of the pulse direction the pulse strength
:math:`a` is multiplied by ``step_backoff`` (amplitude back-off, as incremental-pulse
schemes do), which is what lets a tight tolerance converge.

Every cell starts from its RESET bound :math:`G_{lo,i}`. The verify read has the card's
read noise (:func:`device_models.rram.read_sigma_rram`), so accepted cells can lie outside
the tolerance window by a read-noise margin, as on real chips. Energy per pulse is
:math:`V_p I t_p` with the ohmic pre-pulse current :math:`I = G V_p` (capped at
:math:`I_{comp}` for 1T1R), plus :math:`V_{read}^2 G t_{read}` per verify read.

All random numbers are counter-based, keyed by (seed, tag, cell index, pulse index), so
results do not depend on thread count or on how the cells are chunked: the normals
(:math:`z, z', z''` and every pulse's :math:`\\xi` and verify-read noise) are the ziggurat
normals of :mod:`device_models.ziggurat` at row = cell index and column = pulse index (device
draws: columns 0-2) of three streams of :mod:`device_models.rng` keys (device, read, step),
the generator of the tiles' read noise: about one 32-bit hash and a table look-up per draw,
where a Box–Muller normal costs two 64-bit hashes, a logarithm, a square root and a cosine.

References
----------
.. [1] P. Yao et al., "Fully hardware-implemented memristor convolutional neural network",
   Nature 577, 641–646 (2020). doi:10.1038/s41586-020-1942-4
.. [2] W. Wan et al., "A compute-in-memory chip based on resistive random-access memory",
   Nature 608, 504–512 (2022), Extended Data Fig. 3 (incremental-pulse write-verify).
   doi:10.1038/s41586-022-04992-8
.. [3] F. Alibart, L. Gao, B. D. Hoskins and D. B. Strukov, "High precision tuning of state
   for memristive devices by adaptable variation-tolerant algorithm", Nanotechnology 23,
   075201 (2012). doi:10.1088/0957-4484/23/7/075201
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from . import cards, rng
from . import ziggurat as zig
from ._checks import check_array, check_int, check_scalar, check_seed, fail
from ._jit import backend, jit, prange
from .constants import T_REF_K

__all__ = ["ProgramResult", "compliance", "program_write_verify"]

_WV_KINDS = ("rram", "1t1r")


@dataclasses.dataclass(frozen=True)
class ProgramResult:
    """Outcome of programming an array of cells (every array has the targets' shape).

    Attributes
    ----------
    g_s : ndarray
        Achieved conductance of each cell right after programming [S].
    pulses : ndarray of int64
        SET + RESET pulses applied to each cell [-].
    energy_j : ndarray
        Programming energy of each cell, pulses plus verify reads [J].
    time_s : ndarray
        Programming time of each cell, pulses plus verify reads, if done one cell at a
        time [s].
    converged : ndarray of bool
        Whether the last verify read of the cell was inside the tolerance window.
    """

    g_s: np.ndarray
    pulses: np.ndarray
    energy_j: np.ndarray
    time_s: np.ndarray
    converged: np.ndarray

    @property
    def total_pulses(self) -> int:
        """Sum of pulses over all cells [-]."""
        return int(self.pulses.sum())

    @property
    def total_energy_j(self) -> float:
        """Sum of programming energy over all cells [J]."""
        return float(self.energy_j.sum())


def _wv_card(card, caller: str):
    return cards.check_memory_card("card", card, caller, _WV_KINDS)


def compliance(card, *, v_gate_set_v: float | None = None,
               temperature_k: float = T_REF_K) -> tuple[float, float]:
    """SET compliance of a cell: ``(i_comp_a, g_comp_s)``.

    For a 1T1R card the access transistor limits the SET current to its drain current at
    the SET gate voltage and ``V_DS = v_set_v``; the filament stops growing at
    :math:`G_{comp} = I_{comp} / V_{switch}` [S] (the conductance–compliance relation of
    filamentary RRAM, ref. [1]). A 1R card has no compliance: ``(inf, inf)``.

    Parameters
    ----------
    card : Card or str
        An ``rram`` or ``1t1r`` card.
    v_gate_set_v : float, optional
        SET gate (word-line) voltage [V]; default the card's ``v_gate_set_v``.
    temperature_k : float
        Temperature of the access transistor [K].

    Returns
    -------
    (float, float)
        Compliance current [A] and the conductance it allows [S].

    References
    ----------
    .. [1] D. Ielmini, "Modeling the universal set/reset characteristics of bipolar RRAM by
       field- and temperature-driven filament growth", IEEE Trans. Electron Devices 58(12),
       4309–4317 (2011). doi:10.1109/TED.2011.2167513
    """
    caller = "compliance"
    card = _wv_card(card, caller)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    if card.kind != "1t1r":
        return math.inf, math.inf
    from .mosfet import ekv_params, ekv_scalar

    vg = card.v_gate_set_v if v_gate_set_v is None else check_scalar(
        "v_gate_set_v", v_gate_set_v, caller, lo=0.0, hi=10.0)
    p = ekv_params(card.mosfet_card, t, w_m=card.w_m, l_m=card.l_m)
    i_comp = float(ekv_scalar(vg, card.v_set_v, p.vt0_v, p.n, p.i_spec_a, p.ut_v,
                               p.dibl_v_per_v, p.clm_per_v)[0])
    return i_comp, i_comp / card.v_switch_v


# --- the write-verify loop of one cell (Numba) ----------------------------------------------


@jit
def _spow(x, e):
    """``x**e`` for x >= 0 with the common exponents 0, 0.5 and 1 done without ``pow``."""
    if e == 1.0:
        return x
    if e == 0.5:
        return math.sqrt(x)
    if e == 0.0:
        return 1.0
    return x**e


def _libm(fn, x):
    """``fn`` (a :mod:`math` function: the C library's, as the kernels call it) of every
    element of ``x``: NumPy's own SIMD ``exp`` and ``pow`` differ from the C library's in the
    last bit for some arguments, and the reference matches the kernel bit for bit."""
    x = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(fn, x.ravel().tolist()), dtype=np.float64, count=x.size).reshape(
        x.shape)


def _spow_np(x, e):
    """NumPy reference of :func:`_spow`."""
    if e == 1.0:
        return x
    if e == 0.5:
        return np.sqrt(x)
    if e == 0.0:
        return np.ones_like(x)
    return _libm(lambda v: math.pow(v, e), x)


@jit
def _wv_cell(i, target, tol, g_min, g_max, margin, dg_set, dg_reset, gamma, c2c, d2d, wd2d,
             backoff, max_pulses, rn_rel, rn_exp, v_set, t_set, v_reset, t_reset, v_read, t_read,
             i_comp, g_comp, keys):
    w = g_max - g_min
    ui = np.uint64(i)
    # the normals of row ``i`` (the cell) of each stream: column 0-2 of the device stream,
    # column ``p`` (the pulse) of the read and step streams (:mod:`device_models.ziggurat`)
    bits_dev = rng.hash_at(keys[0], ui)
    bits_read = rng.hash_at(keys[1], ui)
    bits_step = rng.hash_at(keys[2], ui)
    s = math.exp(d2d * np.float64(zig.normal32(bits_dev, keys[3], ui, 0)))
    lo = max((g_min - margin * w)
             * (1.0 + wd2d * np.float64(zig.normal32(bits_dev, keys[3], ui, 1))), 0.0)
    hi = (g_max + margin * w) * (
        1.0 + wd2d * np.float64(zig.normal32(bits_dev, keys[3], ui, 2)))
    hi = min(hi, g_comp)
    if hi < lo:
        hi = lo
    g = lo
    amp = 1.0
    last = 0
    pulses = 0
    energy = 0.0
    time = 0.0
    conv = False
    for p in range(max_pulses + 1):
        gp = max(g, 0.0)
        sig = rn_rel * g_max * _spow(gp / g_max, rn_exp)
        meas = g + sig * np.float64(zig.normal32(bits_read, keys[4], ui, p))
        energy += v_read * v_read * gp * t_read
        time += t_read
        if abs(meas - target) <= tol:
            conv = True
            break
        if p == max_pulses:
            break
        d = 1 if meas < target else -1
        if last != 0 and d != last:
            amp *= backoff
        last = d
        xi = np.float64(zig.normal32(bits_step, keys[5], ui, p))
        if d > 0:
            f = (hi - g) / w
            f = _spow(f, gamma) if f > 0.0 else 0.0
            step = dg_set * w * s * amp * f * (1.0 + c2c * xi)
            energy += v_set * min(gp * v_set, i_comp) * t_set
            time += t_set
            g = g + step
        else:
            f = (g - lo) / w
            f = _spow(f, gamma) if f > 0.0 else 0.0
            step = dg_reset * w * s * amp * f * (1.0 + c2c * xi)
            energy += v_reset * gp * v_reset * t_reset
            time += t_reset
            g = g - step
        g = max(g, 0.0)
        pulses += 1
    return g, pulses, energy, time, conv


@jit(parallel=True)
def _write_verify_kernel(target, tol, g_min, g_max, margin, dg_set, dg_reset, gamma, c2c, d2d,
                         wd2d, backoff, max_pulses, rn_rel, rn_exp, v_set, t_set, v_reset, t_reset,
                         v_read, t_read, i_comp, g_comp, keys, offset,
                         g_out, pulses_out, energy_out, time_out, conv_out):
    for i in prange(target.size):
        g, p, e, t, c = _wv_cell(
            offset + i, target[i], tol[i], g_min, g_max, margin, dg_set, dg_reset, gamma, c2c,
            d2d, wd2d, backoff, max_pulses, rn_rel, rn_exp, v_set, t_set, v_reset, t_reset,
            v_read, t_read, i_comp, g_comp, keys)
        g_out[i] = g
        pulses_out[i] = p
        energy_out[i] = e
        time_out[i] = t
        conv_out[i] = c


def _wv_normals_np(keys, stream, rows, col):
    """The normals that write-verify draws, as float64: stream ``stream`` (0 device, 1 verify
    read, 2 pulse step; ``keys`` = the three stream keys then their slow-path keys) at cells
    ``rows`` (uint64 global indices) and column ``col`` (device: 0, 1, 2; read and step: the
    pulse index), from :func:`device_models.ziggurat.normals_np`."""
    z = zig.normals_np(keys[stream], keys[3 + stream], rows, np.array([col], dtype=np.uint64))
    return z[:, 0].astype(np.float64)


def _write_verify_numpy(target, tol, g_min, g_max, margin, dg_set, dg_reset, gamma, c2c, d2d,
                        wd2d, backoff, max_pulses, rn_rel, rn_exp, v_set, t_set, v_reset, t_reset,
                        v_read, t_read, i_comp, g_comp, keys, offset):
    """NumPy reference of :func:`_write_verify_kernel`: all cells advance one pulse at a time."""
    n = target.size
    w = g_max - g_min
    idx = np.arange(offset, offset + n, dtype=np.uint64)

    s = _libm(math.exp, d2d * _wv_normals_np(keys, 0, idx, 0))
    lo = np.maximum((g_min - margin * w) * (1.0 + wd2d * _wv_normals_np(keys, 0, idx, 1)), 0.0)
    hi = (g_max + margin * w) * (1.0 + wd2d * _wv_normals_np(keys, 0, idx, 2))
    hi = np.minimum(hi, g_comp)
    hi = np.where(hi < lo, lo, hi)
    g = lo.copy()
    amp = np.ones(n)
    last = np.zeros(n, dtype=np.int64)
    pulses = np.zeros(n, dtype=np.int64)
    energy = np.zeros(n)
    time = np.zeros(n)
    conv = np.zeros(n, dtype=bool)
    active = np.ones(n, dtype=bool)
    for p in range(max_pulses + 1):
        a = np.flatnonzero(active)
        if a.size == 0:
            break
        ga = g[a]
        gp = np.maximum(ga, 0.0)
        sig = rn_rel * g_max * _spow_np(gp / g_max, rn_exp)
        meas = ga + sig * _wv_normals_np(keys, 1, idx[a], p)
        energy[a] += v_read * v_read * gp * t_read
        time[a] += t_read
        ok = np.abs(meas - target[a]) <= tol[a]
        conv[a[ok]] = True
        active[a[ok]] = False
        if p == max_pulses:
            break
        keep = ~ok
        a, ga, gp, meas = a[keep], ga[keep], gp[keep], meas[keep]
        d = np.where(meas < target[a], 1, -1)
        rev = (last[a] != 0) & (d != last[a])
        amp[a] = np.where(rev, amp[a] * backoff, amp[a])
        last[a] = d
        xi = _wv_normals_np(keys, 2, idx[a], p)
        up = d > 0
        f_set = (hi[a] - ga) / w
        f_set = np.where(f_set > 0.0, _spow_np(np.maximum(f_set, 0.0), gamma), 0.0)
        f_res = (ga - lo[a]) / w
        f_res = np.where(f_res > 0.0, _spow_np(np.maximum(f_res, 0.0), gamma), 0.0)
        step_set = dg_set * w * s[a] * amp[a] * f_set * (1.0 + c2c * xi)
        step_res = dg_reset * w * s[a] * amp[a] * f_res * (1.0 + c2c * xi)
        energy[a] += np.where(up, v_set * np.minimum(gp * v_set, i_comp) * t_set,
                              v_reset * gp * v_reset * t_reset)
        time[a] += np.where(up, t_set, t_reset)
        g[a] = np.maximum(np.where(up, ga + step_set, ga - step_res), 0.0)
        pulses[a] += 1
    return g, pulses, energy, time, conv


def program_write_verify(
    card,
    g_target_s,
    tolerance_s,
    seed=0,
    *,
    max_pulses: int | None = None,
    v_gate_set_v: float | None = None,
    temperature_k: float = T_REF_K,
    index_offset: int = 0,
) -> ProgramResult:
    """Program RRAM / 1T1R cells to target conductances by write-verify.

    Parameters
    ----------
    card : Card or str
        An ``rram`` or ``1t1r`` card (see ``device_models/cards/kinds/rram.toml``).
    g_target_s : array_like
        Target conductances [S], any shape, each inside ``[card.g_min_s, card.g_max_s]``.
    tolerance_s : float or array_like
        Acceptance half-width of the verify window [S], > 0 (scalar or broadcastable to the
        targets).
    seed : int or numpy.random.Generator
        Seed of the device-to-device, cycle-to-cycle and verify-read random streams.
    max_pulses : int, optional
        Pulse limit per cell; default the card's ``max_pulses``.
    v_gate_set_v : float, optional
        1T1R only: SET gate voltage [V] (compliance); default the card's value.
    temperature_k : float
        Temperature [K] of the access transistor (1T1R compliance current).
    index_offset : int
        Global index of the first cell: programming an array in chunks, each with the
        offset of its first cell (C order), gives exactly the result of one call.

    Returns
    -------
    ProgramResult
        ``.g_s`` [S], ``.pulses`` [-], ``.energy_j`` [J], ``.time_s`` [s], ``.converged``,
        each with the targets' shape.

    Raises
    ------
    InvalidParameterError
        Non-finite or out-of-window targets, tolerance <= 0, wrong card kind, bad seed.

    Notes
    -----
    The state and pulse equations are in the module docstring. Pulse counts and spread
    follow from the card's step size, its variations and the tolerance; nothing is fitted
    to an outcome.

    References
    ----------
    .. [1] P. Yao et al., Nature 577, 641 (2020). doi:10.1038/s41586-020-1942-4
    .. [2] W. Wan et al., Nature 608, 504 (2022). doi:10.1038/s41586-022-04992-8
    """
    caller = "program_write_verify"
    card = _wv_card(card, caller)
    tgt = check_array("g_target_s", g_target_s, caller, lo=card.g_min_s, hi=card.g_max_s)
    tol = check_array("tolerance_s", tolerance_s, caller, positive=True)
    try:
        tol = np.broadcast_to(tol, tgt.shape)
    except ValueError:
        fail("tolerance_s", caller, f"a scalar or broadcastable to shape {tgt.shape}",
             f"array of shape {tol.shape}")
    seed = check_seed("seed", seed, caller)
    m = card.max_pulses if max_pulses is None else check_int("max_pulses", max_pulses, caller,
                                                               lo=1, hi=1_000_000)
    offset = check_int("index_offset", index_offset, caller, lo=0, hi=2**40)
    i_comp, g_comp = compliance(card, v_gate_set_v=v_gate_set_v, temperature_k=temperature_k)
    keys = [rng.derive_key(seed, "write_verify", tag) for tag in ("device", "read", "step")]
    keys = tuple(np.uint64(k) for k in keys + [zig.slow_key(k) for k in keys])
    flat_t = np.ascontiguousarray(tgt.ravel())
    flat_tol = np.ascontiguousarray(tol.ravel(), dtype=np.float64)
    params = (
        float(card.g_min_s), float(card.g_max_s), float(card.bound_margin_frac),
        float(card.dg_set_frac),
        float(card.dg_reset_frac), float(card.step_nonlinearity), float(card.step_c2c_sigma),
        float(card.step_d2d_sigma), float(card.window_d2d_sigma), float(card.step_backoff),
        int(m), float(card.read_noise_rel), float(card.read_noise_exponent),
        float(card.v_set_v), float(card.t_set_s), float(card.v_reset_v), float(card.t_reset_s),
        float(card.v_read_v), float(card.t_read_s), float(i_comp), float(g_comp),
    )
    if backend() == "numpy":
        g, p, e, t, c = _write_verify_numpy(flat_t, flat_tol, *params,
                                            tuple(int(k) for k in keys), offset)
    else:
        n = flat_t.size
        g, e, t = np.empty(n), np.empty(n), np.empty(n)
        p = np.empty(n, dtype=np.int64)
        c = np.empty(n, dtype=np.bool_)
        _write_verify_kernel(flat_t, flat_tol, *params, keys, offset, g, p, e, t, c)
    shape = tgt.shape
    return ProgramResult(g_s=g.reshape(shape), pulses=p.reshape(shape),
                         energy_j=e.reshape(shape), time_s=t.reshape(shape),
                         converged=c.reshape(shape))
