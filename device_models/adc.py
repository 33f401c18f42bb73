r"""Behavioural SAR ADC: binary-weighted capacitive DAC with mismatch, comparator noise, kT/C.

A successive-approximation (SAR) ADC resolves one bit per clock by comparing the sampled input
with the output of a capacitive DAC (CDAC). The model is fully differential, the architecture
of both switching procedures implemented here:

* ``"conventional"`` charge-redistribution switching (McCreary & Gray 1975): two arrays of
  :math:`2^N` unit capacitors (binary weights :math:`2^{N-1} \dots 1` plus a unit dummy); each
  bit is tried by raising its capacitor to :math:`V_\mathrm{ref}` (the other side mirrored),
  and lowered again when the comparator rejects it.
* ``"monotonic"`` switching (Liu et al. 2010): the input is sampled on the top plates, the MSB
  is decided with no switching, and afterwards one capacitor of one side only falls from
  :math:`V_\mathrm{ref}` to ground per bit, so each array needs only :math:`2^{N-1}` units.

Signal mapping. :meth:`SarAdc.convert` digitises a voltage :math:`v \in [0, \mathrm{FS}]`
(``full_scale_v``), the user-facing range that front ends and range calibration work in. The
converter samples it as the differential signal
:math:`v_d = (2v/\mathrm{FS} - 1)\,V_\mathrm{ref}` spanning the DAC's range
:math:`\pm V_\mathrm{ref}` (``v_ref_v``); FS sets the resolution in volts, V_ref the energy and
the referral of the physical kT/C noise. Every noise and offset argument is input-referred in
the units of ``v`` (volts on the [0, FS] scale). Inputs outside [0, FS] saturate to code 0 or
:math:`2^N-1`, as the binary search of a real SAR does.

Decision levels. With normalised capacitor weights :math:`w_j = C_j / C_\mathrm{tot}` the
comparator threshold when bit :math:`k` is tried (higher bits :math:`b_j` decided) is, on the
[0, FS] scale,

.. math::

    T_k^\mathrm{conv} &= \mathrm{FS}\Bigl[\tfrac12\bigl(w^P_k + w^N_k\bigr)
        + \sum_{j>k} b_j\,\tfrac12\bigl(w^P_j + w^N_j\bigr)\Bigr] \\
    T_k^\mathrm{mono} &= \frac{\mathrm{FS}}{2}\Bigl[1 + \sum_{j>k}
        \bigl(b_j\,w^P_{j-1} - (1 - b_j)\,w^N_{j-1}\bigr)\Bigr]

and bit :math:`k` is 1 when :math:`v + n_s - V_\mathrm{os} + n_{c,k} \ge T_k`. Ideal weights put
every transition at :math:`c\cdot\mathrm{LSB}`, :math:`\mathrm{LSB} = \mathrm{FS}/2^N`
(code = floor(v/LSB)); :meth:`SarAdc.code_to_voltage` reconstructs mid-code,
:math:`(c + \tfrac12)\,\mathrm{LSB}`.

Non-idealities.

* Capacitor mismatch, drawn once per instance (seed): a capacitor of :math:`m` unit
  capacitors has :math:`\sigma(C) = \sigma_u\,C_u\sqrt{m}`, i.e. relative error
  :math:`\sigma_u/\sqrt{m}` (independent units: the area scaling of mismatch of
  Pelgrom et al. 1989 [4]_).
* Sampling noise, one Gaussian draw per sample: ``input_noise_v`` plus, with
  ``ktc_noise=True``, the kT/C noise of the two sampling arrays,
  :math:`\sigma_v^2 = \frac{2kT}{C_\mathrm{side}}\bigl(\frac{\mathrm{FS}}{2V_\mathrm{ref}}\bigr)^2`
  [V²] (:math:`C_\mathrm{side}` = total array capacitance of one side [F]).
* Comparator offset ``comparator_offset_v`` (static) and input-referred comparator noise
  ``comparator_noise_v``: a fresh Gaussian draw for each of the :math:`N` decisions. The
  noise of a dynamic regenerative latch is thermal, its input-referred variance
  :math:`\propto k_B T / C` at fixed sizing [5]_, so :meth:`SarAdc.from_card` scales the
  card's figure (stated at the card's ``noise_t_ref_k``, default 300 K) as
  :math:`\sigma_c(T) = \sigma_c(T_\mathrm{ref})\sqrt{T / T_\mathrm{ref}}`
  (:func:`comparator_noise_at`); the kT/C term follows ``temperature_k`` directly.

Why comparator noise costs slightly less than the same sampling noise. Sampling noise shifts
the held sample, so all :math:`N` comparisons see the *same* displaced value and the error is
the full draw :math:`n_s`: the total error power is exactly :math:`\mathrm{LSB}^2/12 +
\sigma^2`. Comparator noise is drawn afresh at each decision and only matters for decisions
whose threshold lies within a few σ of the residue; most decisions are far from threshold
and immune, and a wrong decision can only move the code as far as the threshold that was
mis-judged, which lies within ~σ of the input. The per-decision errors are independent, so
they do not add coherently as the correlated sampling error does, and the resulting error
power is somewhat below :math:`\sigma^2`. Measured at 8 bits (tests): the ENOB loss of
comparator noise equals that of sampling noise at σ = LSB/4, is ~0.07 bit smaller at
σ = LSB/2 and ~0.2 bit smaller at σ = 1 LSB.

Randomness is counter-based (:mod:`device_models.rng`): the sampling-noise draw of sample
:math:`i` is at counter ``offset + i`` of the stream ``derive_key(seed, "sar_adc_sample")``
and the comparator draw of its :math:`s`-th decision at ``(offset + i)·N + s`` of
``derive_key(seed, "sar_adc_comparator")``. Results do not depend on thread count or on how a
batch is split, provided each chunk passes its position as ``offset``; the caller advances
``offset`` between calls to get fresh noise (the same ``offset`` repeats the same draws).

Energy. The capacitive DAC's switching energy is computed from each conversion's actual
switching sequence, with the (mismatched) capacitor values: for a transition between
bottom-plate configurations where the set :math:`S_b` of capacitors is tied to
:math:`V_\mathrm{ref}` afterwards and :math:`S_a` before, the charge drawn from the reference
gives

.. math::

    E = V_\mathrm{ref}^2\Bigl[C(S_b \setminus S_a)
        - \frac{C(S_b)\,\bigl(C(S_b) - C(S_a)\bigr)}{C_\mathrm{tot}}\Bigr]

per array (the top plate floats; charge conservation on it sets its voltage step), summed over
the :math:`N` (conventional) or :math:`N-1` (monotonic) transitions of one conversion and
both arrays, excluding the sampling / reset phase as in [2]_ and [3]_. The input voltage
cancels from every transition, so the energy is a function of the output code only: it is
tabulated once per instance in :attr:`SarAdc.code_energy_j` (array of :math:`2^N` values),
exact for every conversion, noisy or not, because the switching sequence *is* the sequence of
decisions, i.e. the output bits. Averaged over uniformly distributed codes with ideal
capacitors it reproduces the published closed forms (tested)

.. math::

    \bar E_\mathrm{conv} = \sum_{i=1}^{N} 2^{N+1-2i}\,(2^i - 1)\,C_u V_\mathrm{ref}^2, \qquad
    \bar E_\mathrm{mono} = \sum_{i=1}^{N-1} 2^{N-2-i}\,C_u V_\mathrm{ref}^2,

1363.3 and 255.5 :math:`C_uV_\mathrm{ref}^2` at N = 10 (Liu et al. 2010, Sec. II, who give
the conventional sum after Ginsburg & Chandrakasan 2007). The conversion takes :math:`N + 1`
clock cycles (one to sample).

Comparator and logic energy per conversion come from component models
(:meth:`SarAdc.from_card`; a card's ``e_comparator_j`` / ``e_logic_j`` override them):

* the comparator is a dynamic integrating latch (:func:`comparator_energy_j`) sized for the
  card's input-referred noise at its reference temperature, with the input pair's
  :math:`g_m/I_D` from the card's MOSFET (EKV) at half the supply, one decision per bit;
* the logic is :math:`N\cdot g_{bit}` NAND2-equivalent gates (``logic_gates_per_bit``) clocked
  :math:`N + 1` times per conversion, each cycle costing the gate energy of the card's
  technology card scaled to the converter's node and supply
  (:func:`sar_logic_energy_j`, :func:`device_models.logic.gate_energy_j`).

References
----------
.. [1] J. L. McCreary, P. R. Gray, "All-MOS charge redistribution analog-to-digital conversion
   techniques — Part I", IEEE J. Solid-State Circuits 10(6), 371–379 (1975),
   doi:10.1109/JSSC.1975.1050629.
.. [2] B. P. Ginsburg, A. P. Chandrakasan, "500-MS/s 5-bit ADC in 65-nm CMOS with split
   capacitor array DAC", IEEE J. Solid-State Circuits 42(4), 739–747 (2007),
   doi:10.1109/JSSC.2007.892169.
.. [3] C.-C. Liu, S.-J. Chang, G.-Y. Huang, Y.-Z. Lin, "A 10-bit 50-MS/s SAR ADC with a
   monotonic capacitor switching procedure", IEEE J. Solid-State Circuits 45(4), 731–740
   (2010), doi:10.1109/JSSC.2010.2042254.
.. [4] M. J. M. Pelgrom, A. C. J. Duinmaijer, A. P. G. Welbers, "Matching properties of MOS
   transistors", IEEE J. Solid-State Circuits 24(5), 1433–1439 (1989),
   doi:10.1109/JSSC.1989.572629 (area scaling of mismatch, applied here to unit capacitors).
.. [5] P. Nuzzo, F. De Bernardinis, P. Terreni, G. Van der Plas, "Noise analysis of
   regenerative comparators for reconfigurable ADC architectures", IEEE Trans. Circuits
   Syst. I 55(6), 1441–1454 (2008), doi:10.1109/TCSI.2008.917991 (thermal, kT/C-like
   input-referred noise of dynamic latch comparators).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import cards, rng
from ._checks import check_array, check_choice, check_int, check_scalar, check_seed
from ._jit import backend, jit, prange
from .constants import K_B_J_PER_K, T_REF_K

__all__ = [
    "COMPARATOR_GAMMA",
    "SWITCHING_SCHEMES",
    "SarAdc",
    "comparator_energy_j",
    "comparator_noise_at",
    "sar_logic_energy_j",
]

#: Capacitor switching procedures implemented by :class:`SarAdc`.
SWITCHING_SCHEMES = ("conventional", "monotonic")

#: Largest resolution accepted [bit] (2**20 codes; the energy table holds 2**bits floats).
MAX_BITS = 20

#: Comparator-noise draws are skipped for decisions farther than this many σ from their
#: threshold (flip probability < 1e-18) [-].
_NOISE_CUTOFF = 9.0


# --- conversion kernels --------------------------------------------------------------------


@jit(parallel=True)
def _convert_kernel(v, out, bits, t0, up, dn, trial, sig_s, sig_c, offset_v, key_s, key_c, base):
    """SAR binary search for each ``v[i]``; writes int64 codes into ``out`` (Numba).

    A comparator-noise draw is made only for decisions within ``_NOISE_CUTOFF`` σ of their
    threshold (beyond, a flip has probability < 1e-18); the reference applies the same rule.
    """
    nb = np.uint64(bits)
    for i in prange(v.size):
        idx = np.uint64(base + i)
        vs = v[i] - offset_v
        if sig_s > 0.0:
            vs += sig_s * rng.normal_at(key_s, idx)
        acc = t0
        code = 0
        for s in range(bits):
            k = bits - 1 - s
            thr = acc + trial[k]
            x = vs
            if sig_c > 0.0 and abs(vs - thr) <= _NOISE_CUTOFF * sig_c:
                x += sig_c * rng.normal_at(key_c, idx * nb + np.uint64(s))
            if x >= thr:
                code |= 1 << k
                acc += up[k]
            else:
                acc += dn[k]
        out[i] = code


def _convert_numpy(v, bits, t0, up, dn, trial, sig_s, sig_c, offset_v, key_s, key_c, base):
    """NumPy reference of :func:`_convert_kernel` (vectorised over samples, loop over bits)."""
    n = v.size
    counters = np.arange(base, base + n, dtype=np.uint64)
    vs = v - offset_v
    if sig_s > 0.0:
        vs = vs + sig_s * rng.normals_at(key_s, counters)
    acc = np.full(n, t0)
    code = np.zeros(n, dtype=np.int64)
    for s in range(bits):
        k = bits - 1 - s
        thr = acc + trial[k]
        x = vs
        if sig_c > 0.0:
            near = np.abs(vs - thr) <= _NOISE_CUTOFF * sig_c
            cnt = counters[near] * np.uint64(bits) + np.uint64(s)
            x = vs.copy()
            x[near] += sig_c * rng.normals_at(key_c, cnt)
        hit = x >= thr
        code |= hit.astype(np.int64) << k
        acc = acc + np.where(hit, up[k], dn[k])
    return code


@jit(parallel=True)
def _lookup_kernel(v, out, levels, inv_lsb, sig_s, offset_v, key_s, base):
    """Noise-free-decision conversion through the sorted transition levels (Numba).

    ``levels`` has 2**N + 1 entries: -inf, the levels of codes 1…2**N-1, +inf. Starting from
    the ideal guess floor(v/LSB), the code walks to the c with levels[c] <= v < levels[c+1],
    the same code as the binary search when the levels are increasing.
    """
    top = levels.size - 2
    for i in prange(v.size):
        vs = v[i] - offset_v
        if sig_s > 0.0:
            vs += sig_s * rng.normal_at(key_s, np.uint64(base + i))
        g = vs * inv_lsb
        c = 0 if g < 0.0 else (top if g >= top else int(g))
        while vs < levels[c]:
            c -= 1
        while vs >= levels[c + 1]:
            c += 1
        out[i] = c


def _lookup_numpy(v, levels, sig_s, offset_v, key_s, base):
    """NumPy reference of :func:`_lookup_kernel`: count of levels <= v (searchsorted)."""
    vs = v - offset_v
    if sig_s > 0.0:
        vs = vs + sig_s * rng.normals_at(key_s, np.arange(base, base + v.size, dtype=np.uint64))
    return np.searchsorted(levels[1:-1], vs, side="right").astype(np.int64)


# --- switching energy ----------------------------------------------------------------------


def _array_energy(c_sb, c_sa, c_new, c_tot):
    """Energy [units of C·V_ref²] drawn from V_ref by one array for one transition."""
    return c_new - c_sb * (c_sb - c_sa) / c_tot


def _code_energy_normalised(bits, switching, cp, cn, cp_dummy, cn_dummy):
    """Switching energy of each output code in units of V_ref² (capacitances in any unit).

    ``cp``/``cn`` are the binary capacitors of the P/N arrays, index j = weight 2**j (length
    ``bits`` for conventional, ``bits - 1`` for monotonic); the dummies complete C_tot.

    The transition made while resolving bit k depends only on the bits above it, so every
    quantity lives on the array of code prefixes ``code >> (k + 1)``, which doubles (each
    prefix gains the decided bit) from one step to the next: O(2**bits) work in total.
    """
    ctp = cp.sum() + cp_dummy
    ctn = cn.sum() + cn_dummy
    e = np.zeros(1)

    def grow(x):  # prefix p -> prefixes 2p, 2p+1
        return np.repeat(x, 2)

    if switching == "conventional":
        upper_p = np.zeros(1)  # Σ_{j>k} b_j C^P_j on the prefix array
        upper_n = np.zeros(1)
        prev_p = np.zeros(1)
        prev_n = np.zeros(1)
        last_bit = np.zeros(1)  # b_{k+1}
        for k in range(bits - 1, -1, -1):
            # P side: trial cap k at V_ref with the accepted higher bits (set T_k).
            sb_p = upper_p + cp[k]
            step = _array_energy(sb_p, prev_p, cp[k], ctp)
            # N side mirrored: every cap (dummy included) at V_ref except those of T_k.
            sb_n = ctn - (upper_n + cn[k])
            if k == bits - 1:
                new_n = sb_n  # from the sampled state, everything at V_ref is new
            else:
                new_n = cn[k + 1] * (1.0 - last_bit)  # cap k+1 rejected: back to V_ref
            step = step + _array_energy(sb_n, prev_n, new_n, ctn)
            e = grow(e + step)
            last_bit = np.tile(np.array([0.0, 1.0]), sb_p.size)
            prev_p, prev_n = grow(sb_p), grow(sb_n)
            upper_p = grow(upper_p) + last_bit * cp[k]
            upper_n = grow(upper_n) + last_bit * cn[k]
        return e
    at_ref_p = np.full(1, ctp)  # all bottom plates start at V_ref
    at_ref_n = np.full(1, ctn)
    for k in range(bits - 1, 0, -1):
        # after deciding bit k, cap k-1 of the P side (b_k = 1) or N side falls to ground
        e, at_ref_p, at_ref_n = grow(e), grow(at_ref_p), grow(at_ref_n)
        b = np.tile(np.array([0.0, 1.0]), e.size // 2)
        sb_p = at_ref_p - b * cp[k - 1]
        sb_n = at_ref_n - (1.0 - b) * cn[k - 1]
        e = e + _array_energy(sb_p, at_ref_p, 0.0, ctp) + _array_energy(sb_n, at_ref_n, 0.0, ctn)
        at_ref_p, at_ref_n = sb_p, sb_n
    return grow(e)  # the last bit (b_0) switches nothing


def closed_form_average_energy(bits: int, switching: str) -> float:
    r"""Published average switching energy of an ideal N-bit CDAC [units of C_u·V_ref²].

    .. math::

        \bar E_\mathrm{conv} = \sum_{i=1}^{N} 2^{N+1-2i}(2^i-1), \qquad
        \bar E_\mathrm{mono} = \sum_{i=1}^{N-1} 2^{N-2-i}

    Parameters
    ----------
    bits : int
        Resolution N [bit].
    switching : {"conventional", "monotonic"}
        Switching procedure.

    Returns
    -------
    float
        Average energy per conversion over uniformly distributed codes [C_u·V_ref²].

    References
    ----------
    .. [1] C.-C. Liu et al., IEEE JSSC 45(4), 731–740 (2010), doi:10.1109/JSSC.2010.2042254,
       Sec. II (both sums; 1363.3 and 255.5 at N = 10).
    .. [2] B. P. Ginsburg, A. P. Chandrakasan, IEEE JSSC 42(4), 739–747 (2007),
       doi:10.1109/JSSC.2007.892169 (conventional switching).
    """
    n = check_int("bits", bits, "closed_form_average_energy", lo=1, hi=MAX_BITS)
    check_choice("switching", switching, "closed_form_average_energy", SWITCHING_SCHEMES)
    if switching == "conventional":
        return float(sum(2.0 ** (n + 1 - 2 * i) * (2**i - 1) for i in range(1, n + 1)))
    return float(sum(2.0 ** (n - 2 - i) for i in range(1, n)))


def comparator_noise_at(sigma_ref_v, temperature_k, t_ref_k=T_REF_K) -> float:
    r"""Input-referred comparator noise at ``temperature_k`` from its value at ``t_ref_k`` [V].

    .. math:: \sigma_c(T) = \sigma_c(T_\mathrm{ref})\,\sqrt{T / T_\mathrm{ref}}

    The thermal noise of a dynamic latch comparator has an input-referred variance
    proportional to :math:`k_B T / C` at fixed device sizes and bias [1]_.

    Parameters
    ----------
    sigma_ref_v : float
        rms comparator noise at ``t_ref_k`` [V], >= 0.
    temperature_k, t_ref_k : float
        Operating and reference temperatures [K], > 0.

    Returns
    -------
    float
        rms comparator noise at ``temperature_k`` [V].

    References
    ----------
    .. [1] P. Nuzzo et al., IEEE Trans. Circuits Syst. I 55(6), 1441 (2008),
       doi:10.1109/TCSI.2008.917991.
    """
    caller = "comparator_noise_at"
    s = check_scalar("sigma_ref_v", sigma_ref_v, caller, lo=0.0)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    tr = check_scalar("t_ref_k", t_ref_k, caller, lo=0.0, lo_open=True)
    return s * math.sqrt(t / tr)


# --- comparator and logic energy ----------------------------------------------------------

#: Excess thermal-noise factor γ of the comparator's input pair (drain-current noise
#: 4kTγ·g_m; 2/3 for a long-channel device in saturation) [-].
COMPARATOR_GAMMA = 2.0 / 3.0


def comparator_energy_j(noise_v, vdd_v, gm_over_id_per_v, temperature_k=T_REF_K, *,
                        gamma=COMPARATOR_GAMMA, dv_v=None) -> float:
    r"""Energy of one decision of a dynamic comparator sized for an input-referred noise [J].

    The input pair integrates its drain currents on the two output nodes (capacitance C each,
    reset to V_DD) until their common mode has fallen by ΔV and the latch regenerates. Over
    the integration time :math:`t = C\,\Delta V / I_D` the white drain-current noise
    :math:`4kT\gamma g_m` of the two devices gives a differential charge variance
    :math:`4kT\gamma g_m t` against the signal charge :math:`g_m v_{in} t`, so

    .. math::

        \sigma_v^2 = \frac{4kT\gamma}{(g_m/I_D)\,C\,\Delta V}
        \quad\Rightarrow\quad
        C = \frac{4kT\gamma}{(g_m/I_D)\,\Delta V\,\sigma_v^2}, \qquad
        E = C\,V_{DD}\,(V_{DD} + \Delta V)

    (per decision one output node is discharged to ground and recharged, the other drops by
    ΔV and is restored: a charge :math:`C(V_{DD} + \Delta V)` from the supply). The energy
    falls as :math:`1/\sigma_v^2`: the energy/noise trade-off of dynamic comparators.

    Parameters
    ----------
    noise_v : float
        rms input-referred noise per decision, on the comparator's (differential) input [V].
    vdd_v : float
        Supply [V].
    gm_over_id_per_v : float
        Transconductance efficiency of the input pair during integration [1/V].
    temperature_k : float
        Temperature the noise is specified at [K].
    gamma : float
        Excess noise factor γ [-].
    dv_v : float, optional
        Common-mode drop at which the latch fires [V]; default V_DD/2.

    Returns
    -------
    float
        Energy per decision [J].

    References
    ----------
    .. [1] M. van Elzakker et al., "A 10-bit charge-redistribution ADC consuming 1.9 µW at
       1 MS/s", IEEE J. Solid-State Circuits 45(5), 1007–1015 (2010),
       doi:10.1109/JSSC.2010.2043893 (the integrating dynamic comparator).
    .. [2] P. Nuzzo et al., IEEE Trans. Circuits Syst. I 55(6), 1441 (2008),
       doi:10.1109/TCSI.2008.917991 (noise of regenerative comparators).
    """
    caller = "comparator_energy_j"
    sigma = check_scalar("noise_v", noise_v, caller, lo=0.0, lo_open=True)
    vdd = check_scalar("vdd_v", vdd_v, caller, lo=0.0, lo_open=True)
    gm_id = check_scalar("gm_over_id_per_v", gm_over_id_per_v, caller, lo=0.0, lo_open=True)
    t = check_scalar("temperature_k", temperature_k, caller, lo=0.0, lo_open=True)
    g = check_scalar("gamma", gamma, caller, lo=0.0, lo_open=True)
    dv = 0.5 * vdd if dv_v is None else check_scalar("dv_v", dv_v, caller, lo=0.0,
                                                      lo_open=True, hi=vdd)
    c = 4.0 * K_B_J_PER_K * t * g / (gm_id * dv * sigma * sigma)
    return c * vdd * (vdd + dv)


def sar_logic_energy_j(bits, gates_per_bit, e_gate_j) -> float:
    r"""Energy of the SAR logic per conversion [J].

    .. math:: E_{logic} = (N + 1)\cdot N g_{bit}\cdot E_{gate}

    N·g_bit NAND2-equivalent gates (sequencer, result register, gating and capacitor drivers),
    clocked N + 1 times per conversion, each gate spending :math:`E_{gate}` per cycle (the
    energy of a gate of an adder per operation on random data,
    :func:`device_models.logic.gate_energy_j`).

    Parameters
    ----------
    bits : int
        Resolution N [bit].
    gates_per_bit : float
        NAND2 equivalents per bit [-].
    e_gate_j : float
        Energy per gate per cycle at the converter's node and supply [J].

    References
    ----------
    .. [1] M. Horowitz, ISSCC 2014, doi:10.1109/ISSCC.2014.6757323 (adder energy behind
       E_gate).
    """
    caller = "sar_logic_energy_j"
    n = check_int("bits", bits, caller, lo=1, hi=MAX_BITS)
    g = check_scalar("gates_per_bit", gates_per_bit, caller, lo=0.0)
    e = check_scalar("e_gate_j", e_gate_j, caller, lo=0.0)
    return (n + 1) * n * g * e


@functools.lru_cache(maxsize=64)
def _card_energies(card, bits: int) -> tuple[float, float]:
    """(comparator, logic) energy per conversion of an ADC card at ``bits`` [J] (see
    :meth:`SarAdc.from_card`)."""
    from . import logic
    from .errors import CardError
    from .mosfet import gm_over_id

    e_comp, e_logic = card.get("e_comparator_j"), card.get("e_logic_j")
    if e_comp is not None:
        e_comp = e_comp * bits / card.bits
    else:
        noise, mos = card.get("comparator_noise_v", 0.0), card.get("mosfet_card")
        if not noise or mos is None:
            raise CardError(f"ADC card {card.name!r} needs e_comparator_j, or "
                            "comparator_noise_v > 0 and mosfet_card for the comparator model")
        v = card.v_ref_v
        fs = card.get("full_scale_v", v)
        gm_id = float(gm_over_id(0.5 * v, v, mos))
        # the card's noise is on the [0, FS] scale; the comparator sees 2·V_ref/FS times it
        e_comp = bits * comparator_energy_j(noise * 2.0 * v / fs, v, gm_id,
                                            card.get("noise_t_ref_k", T_REF_K))
    if e_logic is not None:
        e_logic = e_logic * bits / card.bits
    else:
        g_bit, tech = card.get("logic_gates_per_bit"), card.get("tech_card")
        node = card.get("node_m")
        if g_bit is None or tech is None or node is None:
            raise CardError(f"ADC card {card.name!r} needs e_logic_j, or logic_gates_per_bit, "
                            "tech_card and node_m for the logic model")
        e_logic = sar_logic_energy_j(bits, g_bit, logic.gate_energy_j(tech, node, card.v_ref_v))
    return float(e_comp), float(e_logic)


# --- the converter -------------------------------------------------------------------------


class SarAdc:
    r"""N-bit differential SAR ADC with CDAC mismatch, comparator noise/offset and kT/C noise.

    See the module docstring for the model, its equations and references.

    Parameters
    ----------
    bits : int
        Resolution N, 1…20 [bit].
    full_scale_v : float
        Input range: :meth:`convert` digitises v in [0, full_scale_v] [V].
    comparator_noise_v : float
        Input-referred rms comparator noise, drawn per decision [V].
    comparator_offset_v : float
        Input-referred comparator offset [V].
    unit_cap_mismatch : float
        Relative standard deviation σ_u of one unit capacitor [-].
    seed : int or numpy.random.Generator
        Seed of this instance's mismatch draw and noise streams.
    switching : {"conventional", "monotonic"}
        Capacitor switching procedure (sets energy and array size).
    unit_cap_f : float
        Unit capacitance C_u [F].
    v_ref_v : float, optional
        DAC reference voltage [V]; defaults to ``full_scale_v``.
    input_noise_v : float
        Extra rms sampling noise at the input (e.g. front end), one draw per sample [V].
    ktc_noise : bool
        Add the kT/C sampling noise of the arrays at ``temperature_k``.
    temperature_k : float
        Temperature for kT/C [K].
    e_comparator_j, e_logic_j : float
        Comparator and SAR-logic energy per conversion [J].
    f_clk_hz : float
        SAR clock; one conversion takes N + 1 cycles [Hz].
    area_m2 : float, optional
        Layout area of one converter [m²] (for area reports).

    Attributes
    ----------
    code_energy_j : numpy.ndarray
        CDAC switching energy of each output code [J], shape (2**bits,). The tile sums it over
        the codes it produced: ``adc.code_energy_j[codes].sum()`` (or
        :meth:`switching_energy_j`); exact for every conversion, noisy or not.
    conversion_time_s : float
        (N + 1) / f_clk [s].
    lsb_v : float
        full_scale_v / 2**bits [V].
    """

    def __init__(
        self,
        bits,
        full_scale_v=1.0,
        comparator_noise_v=0.0,
        comparator_offset_v=0.0,
        unit_cap_mismatch=0.0,
        seed=0,
        *,
        switching="conventional",
        unit_cap_f=1e-15,
        v_ref_v=None,
        input_noise_v=0.0,
        ktc_noise=False,
        temperature_k=T_REF_K,
        e_comparator_j=0.0,
        e_logic_j=0.0,
        f_clk_hz=1e9,
        area_m2=None,
    ):
        who = "SarAdc"
        self.bits = check_int("bits", bits, who, lo=1, hi=MAX_BITS)
        self.full_scale_v = check_scalar("full_scale_v", full_scale_v, who, lo=0.0, lo_open=True)
        self.comparator_noise_v = check_scalar("comparator_noise_v", comparator_noise_v, who,
                                               lo=0.0)
        self.comparator_offset_v = check_scalar("comparator_offset_v", comparator_offset_v, who)
        self.unit_cap_mismatch = check_scalar("unit_cap_mismatch", unit_cap_mismatch, who,
                                              lo=0.0, hi=0.5)
        self.seed = check_seed("seed", seed, who)
        self.switching = check_choice("switching", switching, who, SWITCHING_SCHEMES)
        self.unit_cap_f = check_scalar("unit_cap_f", unit_cap_f, who, lo=0.0, lo_open=True)
        self.v_ref_v = (self.full_scale_v if v_ref_v is None
                        else check_scalar("v_ref_v", v_ref_v, who, lo=0.0, lo_open=True))
        self.input_noise_v = check_scalar("input_noise_v", input_noise_v, who, lo=0.0)
        if not isinstance(ktc_noise, (bool, np.bool_)):
            from ._checks import fail

            fail("ktc_noise", who, "a bool", ktc_noise)
        self.ktc_noise = bool(ktc_noise)
        self.temperature_k = check_scalar("temperature_k", temperature_k, who, lo=0.0,
                                          lo_open=True)
        self.e_comparator_j = check_scalar("e_comparator_j", e_comparator_j, who, lo=0.0)
        self.e_logic_j = check_scalar("e_logic_j", e_logic_j, who, lo=0.0)
        self.f_clk_hz = check_scalar("f_clk_hz", f_clk_hz, who, lo=0.0, lo_open=True)
        self.area_m2 = None if area_m2 is None else check_scalar("area_m2", area_m2, who, lo=0.0)
        self._build_dac()

    # -- construction ----------------------------------------------------------------------

    def _build_dac(self) -> None:
        n = self.bits
        n_caps = n if self.switching == "conventional" else n - 1
        m = 2.0 ** np.arange(n_caps)  # units per binary capacitor
        su = self.unit_cap_mismatch
        caps = []
        for side in ("p", "n"):
            if su > 0.0:
                # A handful of draws: the NumPy path of rng (identical numbers to its kernel)
                # avoids waking the thread pool for every instance (a tile builds thousands).
                key = rng.derive_key(self.seed, "sar_adc_cap", side)
                z = rng.normals_at(key, np.arange(n_caps + 1, dtype=np.uint64))
            else:
                z = np.zeros(n_caps + 1)
            # A capacitor of m independent units: sigma(C) = su * Cu * sqrt(m).
            c = m * (1.0 + su * z[:n_caps] / np.sqrt(m))
            dummy = 1.0 + su * z[n_caps]
            caps.append((np.maximum(c, 0.0), max(dummy, 0.0)))
        (cp, cpd), (cn, cnd) = caps
        self._cp_units, self._cn_units, self._cp_dummy, self._cn_dummy = cp, cn, cpd, cnd
        wp = cp / (cp.sum() + cpd)
        wn = cn / (cn.sum() + cnd)
        fs = self.full_scale_v
        up = np.zeros(n)
        dn = np.zeros(n)
        trial = np.zeros(n)
        if self.switching == "conventional":
            w = 0.5 * (wp + wn)
            t0 = 0.0
            up[:] = fs * w
            trial[:] = fs * w
        else:
            t0 = 0.5 * fs
            up[1:] = 0.5 * fs * wp
            dn[1:] = -0.5 * fs * wn
        self._t0, self._up, self._dn, self._trial = float(t0), up, dn, trial
        self.c_side_f = float(self.unit_cap_f * (2.0 ** n_caps))  # nominal C_tot of one array
        self._key_s = rng.derive_key(self.seed, "sar_adc_sample")
        self._key_c = rng.derive_key(self.seed, "sar_adc_comparator")

    @classmethod
    def from_card(cls, card, bits=None, full_scale_v=None, seed=0, temperature_k=T_REF_K,
                  **overrides) -> SarAdc:
        """Build an ADC from an ``adc`` card (name or :class:`~device_models.cards.Card`).

        Parameters
        ----------
        card : str or Card
            An ``adc``-kind card.
        bits : int, optional
            Resolution [bit]; defaults to the card's ``bits``. At another resolution the
            unit capacitor is kept (the array scales as 2**bits).

            Comparator and logic energy per conversion: with ``e_comparator_j`` /
            ``e_logic_j`` on the card, those (at the card's resolution) scaled by the number
            of decisions, ``bits / card.bits``; otherwise the component models at ``bits``:
            ``bits`` decisions of :func:`comparator_energy_j` (sized for the card's
            ``comparator_noise_v`` at its reference temperature, g_m/I_D of its
            ``mosfet_card`` at V_GS = V_ref/2, V_DS = V_ref, the supply being V_ref) and
            :func:`sar_logic_energy_j` with ``logic_gates_per_bit`` and the gate energy of
            its ``tech_card`` at its ``node_m`` and V_ref.
        full_scale_v : float, optional
            Input range [V]; defaults to the card's ``full_scale_v`` (or ``v_ref_v``). The
            card's noise and offset voltages are stated at the card's own full scale and are
            scaled by ``full_scale_v / card_full_scale`` (they are input-referred).
        seed : int
            Instance seed (mismatch draw and noise streams).
        temperature_k : float
            Operating temperature [K]: kT/C noise (always on for a card) and the card's
            comparator noise, scaled from the card's ``noise_t_ref_k`` (default 300 K) by
            :func:`comparator_noise_at`.
        **overrides
            Any keyword of :class:`SarAdc` to replace the card's value.
        """
        c = cards.load(card, kinds=("adc",), field="card", caller="SarAdc.from_card")
        fs_card = c.get("full_scale_v", c.v_ref_v)
        fs = fs_card if full_scale_v is None else check_scalar(
            "full_scale_v", full_scale_v, "SarAdc.from_card", lo=0.0, lo_open=True)
        scale = fs / fs_card
        kw = dict(
            bits=c.bits if bits is None else bits,
            full_scale_v=fs,
            comparator_noise_v=comparator_noise_at(
                c.get("comparator_noise_v", 0.0) * scale, temperature_k,
                c.get("noise_t_ref_k", T_REF_K)),
            comparator_offset_v=c.get("comparator_offset_v", 0.0) * scale,
            unit_cap_mismatch=c.get("unit_cap_mismatch", 0.0),
            seed=seed,
            switching=c.switching,
            unit_cap_f=c.unit_cap_f,
            v_ref_v=c.v_ref_v,
            ktc_noise=True,
            temperature_k=temperature_k,
            f_clk_hz=c.f_clk_hz,
            area_m2=c.get("area_m2"),
        )
        if "e_comparator_j" not in overrides or "e_logic_j" not in overrides:
            n = check_int("bits", kw["bits"], "SarAdc.from_card", lo=1, hi=MAX_BITS)
            kw["e_comparator_j"], kw["e_logic_j"] = _card_energies(c, n)
        kw.update(overrides)
        return cls(**kw)

    # -- derived quantities ----------------------------------------------------------------

    @property
    def n_codes(self) -> int:
        """Number of output codes, 2**bits [-]."""
        return 1 << self.bits

    @property
    def lsb_v(self) -> float:
        """Ideal code width FS / 2**bits [V]."""
        return self.full_scale_v / self.n_codes

    @property
    def ktc_sigma_v(self) -> float:
        r"""Input-referred kT/C noise σ = sqrt(2kT/C_side)·FS/(2V_ref) [V] (0 when disabled)."""
        if not self.ktc_noise:
            return 0.0
        var_diff = 2.0 * K_B_J_PER_K * self.temperature_k / self.c_side_f
        return math.sqrt(var_diff) * self.full_scale_v / (2.0 * self.v_ref_v)

    @property
    def sampling_sigma_v(self) -> float:
        """Total rms sampling noise: input noise and kT/C in quadrature [V]."""
        return math.hypot(self.input_noise_v, self.ktc_sigma_v)

    @property
    def conversion_time_s(self) -> float:
        """One conversion: (N + 1) clock cycles, one to sample and one per bit [s]."""
        return (self.bits + 1) / self.f_clk_hz

    # The read-out interface shared with the current-input converters
    # (:mod:`device_models.converters`): input unit volts.

    #: The converter digitises a voltage.
    input_kind = "voltage"

    @property
    def full_scale(self) -> float:
        """Input range full_scale_v [V]."""
        return self.full_scale_v

    @property
    def lsb(self) -> float:
        """Ideal code width lsb_v [V]."""
        return self.lsb_v

    @property
    def offset(self) -> float:
        """Comparator offset [V]."""
        return self.comparator_offset_v

    @property
    def sampling_sigma(self) -> float:
        """rms sampling noise [V]."""
        return self.sampling_sigma_v

    @property
    def decision_noise(self) -> float:
        """rms comparator noise per decision [V]."""
        return self.comparator_noise_v

    @property
    def time_after_window_s(self) -> float:
        """A SAR samples the integrated column at the end of the read window and then
        converts: its whole conversion time follows the window [s]."""
        return self.conversion_time_s

    @staticmethod
    def leak_gates(card, bits: int) -> float:
        """NAND2 equivalents of one converter at ``bits`` (comparator + logic), for leakage."""
        from .errors import CardError

        card = cards.load(card, kinds=("adc",), field="card", caller="SarAdc.leak_gates")
        bits = check_int("bits", bits, "SarAdc.leak_gates", lo=1, hi=32)
        g_comp, g_bit = card.get("comparator_gates"), card.get("logic_gates_per_bit")
        if g_comp is None or g_bit is None:
            raise CardError(f"ADC card {card.name!r} needs comparator_gates and "
                            "logic_gates_per_bit for the leakage model")
        return float(g_comp) + float(g_bit) * bits

    @functools.cached_property
    def code_energy_j(self) -> np.ndarray:
        """CDAC switching energy of each output code [J], shape (2**bits,) (read-only)."""
        e = _code_energy_normalised(
            self.bits, self.switching, self._cp_units, self._cn_units,
            self._cp_dummy, self._cn_dummy,
        ) * (self.unit_cap_f * self.v_ref_v**2)
        e.setflags(write=False)
        return e

    @property
    def mean_switching_energy_j(self) -> float:
        """CDAC switching energy averaged over uniformly distributed codes [J]."""
        return float(self.code_energy_j.mean())

    @property
    def energy_per_conversion_j(self) -> float:
        """Average energy of one conversion: mean switching + comparator + logic [J]."""
        return self.mean_switching_energy_j + self.e_comparator_j + self.e_logic_j

    def switching_energy_j(self, codes) -> float:
        """Total CDAC switching energy of the conversions that produced ``codes`` [J]."""
        c = check_array("codes", codes, "SarAdc.switching_energy_j", dtype=np.int64,
                        lo=0, hi=self.n_codes - 1)
        return float(np.bincount(c.ravel(), minlength=self.n_codes) @ self.code_energy_j)

    def conversion_energy_j(self, codes) -> float:
        """Total energy (switching + comparator + logic) of the conversions of ``codes`` [J]."""
        c = np.asarray(codes)
        return self.switching_energy_j(c) + c.size * (self.e_comparator_j + self.e_logic_j)

    def decision_tables(self) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """The binary search as data, for callers that run their own fused kernel [V].

        Returns ``(t0, up, dn, trial)``: bit k (from N-1 down to 0) is 1 when
        ``v + n_s - offset + n_c >= acc + trial[k]``, then ``acc += up[k]``, else
        ``acc += dn[k]``, starting from ``acc = t0``. Copies; the same numbers
        :meth:`convert` uses.
        """
        return self._t0, self._up.copy(), self._dn.copy(), self._trial.copy()

    def transition_levels_v(self) -> np.ndarray:
        """Noise-free decision level of each code transition c-1 → c, c = 1…2**N-1 [V].

        The level of code c is the threshold of the decision on its lowest set bit, with the
        higher bits of c already decided (comparator offset included).
        """
        return self._levels + self.comparator_offset_v

    @functools.cached_property
    def _levels(self) -> np.ndarray:
        # Summed in the order the binary search accumulates them, so comparisons agree bitwise.
        n = self.bits
        codes = np.arange(1, self.n_codes, dtype=np.int64)
        low = np.zeros(codes.size, dtype=np.int64)
        rem = codes.copy()
        while np.any((rem & 1) == 0):
            z = (rem & 1) == 0
            low[z] += 1
            rem[z] >>= 1
        acc = np.full(codes.size, self._t0)
        for k in range(n - 1, -1, -1):
            above = k > low
            bit = ((codes >> k) & 1).astype(bool)
            acc = np.where(above, acc + np.where(bit, self._up[k], self._dn[k]), acc)
        return acc + self._trial[low]

    @functools.cached_property
    def _lookup_levels(self) -> np.ndarray | None:
        lv = self._levels
        if lv.size and np.any(np.diff(lv) <= 0.0):
            return None  # non-monotonic DAC: only the binary search is exact
        return np.concatenate(([-np.inf], lv, [np.inf]))

    def code_to_voltage(self, codes) -> np.ndarray:
        """Ideal mid-code reconstruction (code + 1/2)·LSB [V]."""
        c = check_array("codes", codes, "SarAdc.code_to_voltage", dtype=np.int64,
                        lo=0, hi=self.n_codes - 1)
        return (c + 0.5) * self.lsb_v

    # -- conversion ------------------------------------------------------------------------

    def convert(self, v, *, offset=0, return_energy=False):
        """Digitise ``v`` (any shape) to int64 codes in [0, 2**bits).

        Parameters
        ----------
        v : array_like
            Input voltages on the [0, full_scale_v] scale [V]; outside values saturate.
        offset : int
            Counter of the first sample in the noise streams; element i (C order) uses
            ``offset + i``. Advance it between calls for fresh noise.
        return_energy : bool
            Also return the energy of each conversion (switching + comparator + logic) [J].

        Returns
        -------
        codes : numpy.ndarray of int64
            Same shape as ``v``.
        energy_j : numpy.ndarray of float, optional
            Per-conversion energy [J] when ``return_energy``.
        """
        who = "SarAdc.convert"
        arr = check_array("v", v, who)
        base = rng.check_offset("offset", offset, who)
        flat = np.ascontiguousarray(arr.ravel())
        sig_s, off = self.sampling_sigma_v, self.comparator_offset_v
        levels = self._lookup_levels if self.comparator_noise_v == 0.0 else None
        if levels is not None:
            # Decisions are a deterministic function of the (noisy) sample: table look-up.
            if backend() == "numpy":
                codes = _lookup_numpy(flat, levels, sig_s, off, self._key_s, base)
            else:
                codes = np.empty(flat.size, dtype=np.int64)
                _lookup_kernel(flat, codes, levels, 1.0 / self.lsb_v, sig_s, off,
                               np.uint64(self._key_s), base)
        else:
            args = (self.bits, self._t0, self._up, self._dn, self._trial, sig_s,
                    self.comparator_noise_v, off)
            if backend() == "numpy":
                codes = _convert_numpy(flat, *args, self._key_s, self._key_c, base)
            else:
                codes = np.empty(flat.size, dtype=np.int64)
                _convert_kernel(flat, codes, *args, np.uint64(self._key_s),
                                np.uint64(self._key_c), base)
        codes = codes.reshape(arr.shape)
        if return_energy:
            return codes, self.code_energy_j[codes] + (self.e_comparator_j + self.e_logic_j)
        return codes

    def __repr__(self) -> str:
        return (f"SarAdc(bits={self.bits}, full_scale_v={self.full_scale_v!r}, "
                f"switching={self.switching!r}, comparator_noise_v={self.comparator_noise_v!r}, "
                f"unit_cap_mismatch={self.unit_cap_mismatch!r}, seed={self.seed})")
