r"""Current-controlled-oscillator (CCO) ADC: a ring oscillator whose cycles a counter counts.

The column current sets the frequency of a current-starved ring oscillator, linearised over the
input range [0, I_FS] (a signed column signal is centred on mid-scale by the front end):

.. math:: f(I) = \frac{I}{I_\mathrm{FS}}\,f_\mathrm{FS}, \qquad
          c = \left\lfloor \int_0^{T_c} f\,dt \right\rfloor
            = \left\lfloor \frac{Q}{I_\mathrm{FS}\,T_c}\,f_\mathrm{FS} T_c \right\rfloor

so the count is the charge Q delivered over the counting window :math:`T_c`: the converter
integrates. With :math:`f_\mathrm{FS} T_c = 2^N` the count spans N bits. The oscillator's
fastest period :math:`t_\mathrm{LSB}` (its time per LSB, the card's ``t_lsb_s``) bounds the
window from below: :math:`T_c = \max(T_w, 2^N t_\mathrm{LSB})` for a read window
:math:`T_w` — within the window the oscillator counts the column current as it flows; if the
window is shorter, the charge is held and counted out at the fastest rate, which extends the
conversion by :math:`2^N t_\mathrm{LSB} - T_w` (:attr:`CcoAdc.time_after_window_s`).

Energy. The input current starves the ring: every period moves the charge :math:`I/f` from
the supply through the stages, so one period costs
:math:`E_\mathrm{cyc} = V_{DD} I/f = V_{DD} I_\mathrm{FS}/f_\mathrm{FS}` whatever the input
(the linearised ring: its switched capacitance :math:`n C_\mathrm{st} = E_\mathrm{cyc}/V_{DD}^2`
is what makes :math:`f_\mathrm{FS} = 2^N/T_c` at :math:`I_\mathrm{FS}`), and a ripple counter
toggles about two flip-flops per counted cycle:

.. math:: E(c) = c\,(E_\mathrm{cyc} + 2E_\mathrm{ff}), \qquad
          E_\mathrm{cyc} = V_{DD}\,I_\mathrm{FS}\,T_c/2^N, \qquad
          E_\mathrm{fixed} = 2N E_\mathrm{ff}

(:math:`c E_\mathrm{cyc} = V_{DD}\,\bar I\,T_c`: the supply delivers the input current,
offset to mid-scale for a signed signal, for the window; the read-out and reset of the N-bit
counter per conversion; :math:`E_\mathrm{ff}` = 6 NAND2-equivalent gate energies of the card's
technology at its node and supply, :func:`device_models.logic.gate_energy_j`).

Noise. White noise of the ring's devices accumulates as timing jitter. For a ring oscillator
of power P at frequency f the phase noise is :math:`\mathcal{L}(\Delta f) = \frac{8}{3}\eta
\frac{k_BT}{P}\frac{V_{DD}}{V_\mathrm{char}}\left(\frac{f}{\Delta f}\right)^2` (Abidi 2006),
white frequency noise whose accumulated phase over :math:`c` cycles has variance, in cycles,

.. math:: \sigma_c^2 = c\,\frac{8}{3}\,\eta\,\frac{k_BT\,V_{DD}}{E_\mathrm{cyc}\,V_\mathrm{char}}
          \quad [\mathrm{LSB}^2]

(:math:`P = E_\mathrm{cyc} f`), taken at mid-scale :math:`c = 2^{N-1}` as one input-referred
draw per conversion. The oscillator gain varies from column to column by ``gain_mismatch``
(relative σ, drawn per instance) unless calibrated, and a residual count offset may remain.

References
----------
.. [1] R. Khaddam-Aljameh et al., "HERMES-Core — a 1.59-TOPS/mm² PCM on 14-nm CMOS in-memory
   compute core using 300-ps/LSB linearized CCO-based ADCs", IEEE J. Solid-State Circuits
   57(4), 1027–1038 (2022), doi:10.1109/JSSC.2022.3140414 (linearised CCO ADCs, 300 ps/LSB,
   CCO frequency above 3 GHz, digital calibration).
.. [2] A. A. Abidi, "Phase noise and jitter in CMOS ring oscillators", IEEE J. Solid-State
   Circuits 41(8), 1803–1816 (2006), doi:10.1109/JSSC.2006.876206.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import cards, rng
from ._checks import check_int, check_scalar, check_seed
from ._search import SearchConverter, binary_weights
from .constants import K_B_J_PER_K, T_REF_K

__all__ = ["CcoAdc"]


class CcoAdc(SearchConverter):
    r"""N-bit CCO-based ADC counting over a window (module docstring for the equations).

    Parameters
    ----------
    bits : int
        Resolution N [bit].
    full_scale_a : float
        Input current giving the full count, I_FS [A].
    window_s : float
        Read window T_w over which the column current flows [s].
    t_lsb_s : float
        Shortest oscillator period: time per LSB [s].
    vdd_v : float
        Supply [V].
    e_flip_flop_j : float
        Energy of one flip-flop toggle, E_ff [J].
    v_char_v : float
        Characteristic voltage of the ring's devices, (V_GS − V_T)/γ [V].
    eta : float
        Proportionality constant η of the jitter (about 1 for a ring) [-].
    gain_mismatch : float
        Relative σ of the oscillator gain from instance to instance [-].
    count_offset_lsb : float
        Residual count offset [LSB].
    temperature_k : float
        Temperature of the jitter [K].
    mismatch, noise : bool
        Draw the gain mismatch (seeded) / the jitter; False = nominal.
    t_readout_s : float
        Read-out of the counter after the count [s].
    seed : int
        Seed of the mismatch draw and of the noise streams.
    area_m2 : float, optional
        Layout area [m^2].
    """

    input_kind = "current"

    def __init__(self, bits, full_scale_a, window_s, *, t_lsb_s=3e-10, vdd_v=0.8,
                 e_flip_flop_j=1e-16, v_char_v=0.3, eta=1.0,
                 gain_mismatch=0.0, count_offset_lsb=0.0, temperature_k=T_REF_K,
                 mismatch=True, noise=True, t_readout_s=0.0, seed=0, area_m2=None):
        who = "CcoAdc"
        self.bits = check_int("bits", bits, who, lo=1, hi=16)
        self.full_scale = check_scalar("full_scale_a", full_scale_a, who, lo=0.0, lo_open=True)
        self.window_s = check_scalar("window_s", window_s, who, lo=0.0, lo_open=True)
        self.t_lsb_s = check_scalar("t_lsb_s", t_lsb_s, who, lo=0.0, lo_open=True)
        self.vdd_v = check_scalar("vdd_v", vdd_v, who, lo=0.0, lo_open=True)
        self.e_flip_flop_j = check_scalar("e_flip_flop_j", e_flip_flop_j, who, lo=0.0)
        self.v_char_v = check_scalar("v_char_v", v_char_v, who, lo=0.0, lo_open=True)
        self.eta = check_scalar("eta", eta, who, lo=0.0)
        self.gain_mismatch = check_scalar("gain_mismatch", gain_mismatch, who, lo=0.0, hi=0.5)
        self.count_offset_lsb = check_scalar("count_offset_lsb", count_offset_lsb, who)
        self.temperature_k = check_scalar("temperature_k", temperature_k, who, lo=0.0,
                                          lo_open=True)
        self.t_readout_s = check_scalar("t_readout_s", t_readout_s, who, lo=0.0)
        self.seed = check_seed("seed", seed, who)
        self.area_m2 = None if area_m2 is None else check_scalar("area_m2", area_m2, who,
                                                                 lo=0.0)
        gain = 1.0
        if mismatch and self.gain_mismatch > 0.0:
            z = rng.normals_at(rng.derive_key(self.seed, "cco_gain"),
                               np.zeros(1, dtype=np.uint64))[0]
            gain = max(1.0 + self.gain_mismatch * float(z), 1e-3)
        self.gain = gain
        # the count is I/I_FS·2**N·gain: thresholds at c·LSB/gain; a count offset moves them
        self.offset = -self.count_offset_lsb * self.lsb / gain
        self.sampling_sigma = (math.sqrt(self.count_variance_lsb2(2 ** (self.bits - 1)))
                               * self.lsb / gain) if noise else 0.0
        self.decision_noise = 0.0
        self._set_tables(binary_weights(self.bits, 0.0, self.seed, "cco") / gain)

    @classmethod
    def from_card(cls, card, bits=None, full_scale_a=None, window_s=None, seed=0,
                  temperature_k=T_REF_K, ideal=False, **overrides) -> CcoAdc:
        """Build the converter from a ``cco_adc`` card (name or Card).

        ``window_s`` is the read window the column current flows in (default: the card's
        full count at the fastest rate, 2**bits·t_lsb). E_ff is 6 gates (a flip-flop,
        :data:`device_models.logic.GATES_FLIP_FLOP`) at the NAND2-equivalent gate energy of
        its ``tech_card`` at ``node_m`` and ``vdd_v``. ``ideal`` builds the nominal converter
        (no mismatch, no jitter).
        """
        from .logic import GATES_FLIP_FLOP, gate_energy_j

        c = cards.load(card, kinds=("cco_adc",), field="card", caller="CcoAdc.from_card")
        n = c.bits if bits is None else check_int("bits", bits, "CcoAdc.from_card", lo=1, hi=16)
        e_gate = gate_energy_j(c.tech_card, c.node_m, c.vdd_v)
        kw = dict(
            bits=n,
            full_scale_a=c.full_scale_a if full_scale_a is None else full_scale_a,
            window_s=(2**n) * c.t_lsb_s if window_s is None else window_s,
            t_lsb_s=c.t_lsb_s, vdd_v=c.vdd_v,
            e_flip_flop_j=GATES_FLIP_FLOP * e_gate,
            v_char_v=c.v_char_v, eta=c.get("jitter_eta", 1.0),
            gain_mismatch=c.get("gain_mismatch", 0.0),
            count_offset_lsb=c.get("count_offset_lsb", 0.0),
            temperature_k=temperature_k, mismatch=not ideal, noise=not ideal,
            t_readout_s=c.get("t_readout_s", 0.0), seed=seed, area_m2=c.get("area_m2"),
        )
        kw.update(overrides)
        return cls(**kw)

    # --- derived quantities ---------------------------------------------------------------

    @property
    def full_scale_a(self) -> float:
        """I_FS [A]."""
        return self.full_scale

    @property
    def e_cycle_j(self) -> float:
        """Energy of one oscillator period, V_DD I_FS T_c / 2**N [J]."""
        return self.vdd_v * self.full_scale * self.count_window_s / self.n_codes

    @property
    def count_window_s(self) -> float:
        """Counting window T_c = max(T_w, 2**N t_LSB) [s]."""
        return max(self.window_s, self.n_codes * self.t_lsb_s)

    @property
    def f_full_scale_hz(self) -> float:
        """Oscillator frequency at I_FS, 2**N / T_c [Hz] (at most 1/t_LSB)."""
        return self.n_codes / self.count_window_s

    @property
    def time_after_window_s(self) -> float:
        """Conversion time beyond the read window: T_c − T_w plus the counter read-out [s]."""
        return self.count_window_s - self.window_s + self.t_readout_s

    @property
    def conversion_time_s(self) -> float:
        """Counting window and read-out, T_c + t_readout [s]."""
        return self.count_window_s + self.t_readout_s

    def count_variance_lsb2(self, cycles) -> float:
        r"""Jitter variance of a count of ``cycles`` periods [LSB²]:
        :math:`c\,\frac83\eta\,k_BT V_{DD}/(E_\mathrm{cyc} V_\mathrm{char})`."""
        c = check_scalar("cycles", cycles, "CcoAdc.count_variance_lsb2", lo=0.0)
        xi = (8.0 / 3.0) * self.eta * K_B_J_PER_K * self.temperature_k * self.vdd_v / (
            self.e_cycle_j * self.v_char_v)
        return c * xi

    @functools.cached_property
    def code_energy_j(self) -> np.ndarray:
        """Oscillator and counter energy of each count, c·(E_cyc + 2 E_ff) [J]."""
        e = np.arange(self.n_codes, dtype=np.float64) * (self.e_cycle_j
                                                         + 2.0 * self.e_flip_flop_j)
        e.setflags(write=False)
        return e

    @property
    def e_comparator_j(self) -> float:
        """No comparator: 0 [J]."""
        return 0.0

    @property
    def e_logic_j(self) -> float:
        """Counter read-out and reset per conversion, 2 N E_ff [J]."""
        return 2.0 * self.bits * self.e_flip_flop_j

    @staticmethod
    def leak_gates(card, bits: int) -> float:
        """NAND2 equivalents of one converter at ``bits`` (the ring's inverters, half a NAND2
        each, and the counter's flip-flops), for leakage [-]."""
        from .logic import GATES_FLIP_FLOP

        card = cards.load(card, kinds=("cco_adc",), field="card", caller="CcoAdc.leak_gates")
        bits = check_int("bits", bits, "CcoAdc.leak_gates", lo=1, hi=16)
        return 0.5 * float(card.n_stages) + GATES_FLIP_FLOP * bits

    def __repr__(self) -> str:
        return (f"CcoAdc(bits={self.bits}, full_scale_a={self.full_scale!r}, "
                f"window_s={self.window_s!r}, t_lsb_s={self.t_lsb_s!r}, seed={self.seed})")
