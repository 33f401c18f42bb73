r"""Current-mode sense-amplifier read-out: a latched current comparator, N decisions.

The read-out compares the column current :math:`I` (copied by the column's clamp and mirror,
:mod:`device_models.current_mirror`; a signed column signal is centred on mid-scale there)
with a reference current, N times: decision k compares :math:`I` with the threshold
:math:`I_\mathrm{ref}` of a binary-weighted reference current DAC (bit k: :math:`2^k` unit
sources of :math:`I_\mathrm{LSB} = I_\mathrm{FS}/2^N`), keeping bit k when :math:`I` is above
it, as a SAR search does. One bit (N = 1) is the single sense amplifier of a binary read-out,
against the reference :math:`I_\mathrm{FS}/2`.

Decision time. The difference current :math:`\Delta I` charges the sense node (capacitance
:math:`C_s`) until the latch can resolve :math:`\Delta V_\mathrm{res}`, then the latch
regenerates with time constant :math:`\tau`:

.. math::

    t_\mathrm{dec} = \underbrace{\frac{C_s\,\Delta V_\mathrm{res}}{I_\mathrm{LSB}/2}}_
    {t_\mathrm{dev}} + \tau \ln\frac{V_{DD}}{\Delta V_\mathrm{res}} \quad [s],

sized so that half an LSB of current is resolved. A conversion senses for
:math:`N t_\mathrm{dec}` (:attr:`CurrentSenseAmp.conversion_time_s`), while the column is
driven; before it, the bit line (capacitance :math:`C_{BL}`) settles through the clamp device
(:math:`g_m = (g_m/I_D)\,I_\mathrm{FS}/2`) to half an LSB:
:math:`t_\mathrm{settle} = (C_{BL}/g_m)\ln 2^{N+1}` (:meth:`CurrentSenseAmp.settling_time_s`).

Noise and offset (input-referred currents). Over the development window the drain-current
noise :math:`4k_BT\gamma g_m` of the input and reference devices (bias :math:`I_\mathrm{FS}/2`)
is integrated with noise bandwidth :math:`1/(2t_\mathrm{dev})`:

.. math:: \sigma_I^2 = \frac{2\cdot 4k_BT\gamma\,(g_m/I_D)\,I_\mathrm{FS}/2}{2\,t_\mathrm{dev}}
          \quad [A^2]

drawn afresh for each decision. The input and reference mirrors mismatch by Pelgrom's law,
a static offset :math:`\sigma_\mathrm{os} = \sqrt2\,(g_m/I_D)\,A_{VT}/\sqrt{WL}\cdot
I_\mathrm{FS}/2` (of which an offset calibration leaves the fraction ``offset_residual``),
and each unit source of the reference by :math:`\sigma_u` (relative), so bit
k's reference is off by :math:`\sigma_u\sqrt{2^k}` units.

Energy. The input branch carries the read-out's input current (the column copy delivered by
the front-end mirrors, a signed signal offset to mid-scale) for the N decisions; decision k
draws its reference current for :math:`t_\mathrm{dec}` and fires the latch,
:math:`E_\mathrm{latch} = g_\mathrm{latch} E_\mathrm{gate}`; the SAR logic clocks
:math:`(N+1) N g_\mathrm{bit}` gate-cycles (:func:`device_models.adc.sar_logic_energy_j`):

.. math::

    E(c) = V_{DD}\,t_\mathrm{dec}\Bigl[N\,(c + \tfrac12) I_\mathrm{LSB}
           + \sum_k I_{\mathrm{thr},k}(c)\Bigr], \qquad
    E_\mathrm{fixed} = N E_\mathrm{latch} + (N+1) N g_\mathrm{bit} E_\mathrm{gate}

with :math:`(c + \frac12) I_\mathrm{LSB}` the input current of code c and
:math:`I_{\mathrm{thr},k}(c)` the thresholds on its search path (tabulated per code,
:attr:`CurrentSenseAmp.code_energy_j`). :math:`E_\mathrm{gate}` is the NAND2-equivalent gate
energy of the card's technology at its node and supply
(:func:`device_models.logic.gate_energy_j`, the constant-field rule): the read-out's digital
energies scale with the node that way, its capacitances and latch time constant by the rules
stated in its card.

References
----------
.. [1] E. Seevinck, P. J. van Beers, H. Ontrop, "Current-mode techniques for high-speed VLSI
   circuits with application to current sense amplifier for CMOS SRAM's", IEEE J.
   Solid-State Circuits 26(4), 525–536 (1991), doi:10.1109/4.75050 (current-mode sensing:
   clamped bit line, current comparison).
.. [2] P. Nuzzo et al., "Noise analysis of regenerative comparators for reconfigurable ADC
   architectures", IEEE Trans. Circuits Syst. I 55(6), 1441–1454 (2008),
   doi:10.1109/TCSI.2008.917991 (integration then regeneration, τ ln(V_DD/ΔV)).
.. [3] M. J. M. Pelgrom, A. C. J. Duinmaijer, A. P. G. Welbers, IEEE J. Solid-State Circuits
   24(5), 1433–1439 (1989), doi:10.1109/JSSC.1989.572629 (mismatch).
.. [4] J.-M. Hung et al., Nature Electronics 4, 921–930 (2021),
   doi:10.1038/s41928-021-00676-9 (a sense-amplifier read-out of binary ReRAM columns).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from . import cards, rng
from ._checks import check_int, check_scalar, check_seed
from ._search import SearchConverter, binary_weights
from .constants import K_B_J_PER_K, T_REF_K

__all__ = ["CurrentSenseAmp"]


class CurrentSenseAmp(SearchConverter):
    r"""N-bit current-mode sense-amplifier read-out (module docstring for the equations).

    Parameters
    ----------
    bits : int
        Decisions N (1 = a single sense amplifier) [bit].
    full_scale_a : float
        Reference full scale I_FS: input range [0, I_FS] [A].
    vdd_v : float
        Supply [V].
    c_sense_f : float
        Sense-node capacitance C_s [F].
    v_resolve_v : float
        Voltage difference the latch resolves, ΔV_res [V].
    tau_latch_s : float
        Regeneration time constant τ of the latch [s].
    gm_over_id_per_v : float
        g_m/I_D of the input, reference and clamp devices [1/V].
    a_vt_v_m : float
        Pelgrom A_VT of the devices [V·m].
    pair_area_m2 : float
        Gate area W·L of each device of the input/reference pair [m^2].
    unit_current_mismatch : float
        Relative σ of one unit source of the reference DAC [-].
    offset_residual : float
        Fraction of the mirror-pair offset left after the read-out's offset calibration
        (1 = uncalibrated) [-].
    e_latch_j, e_logic_j : float
        Latch energy per decision and SAR-logic energy per conversion [J].
    gamma : float
        Excess noise factor γ [-].
    temperature_k : float
        Temperature of the noise [K].
    mismatch : bool
        Draw the offset and reference mismatch (seeded); False = nominal.
    noise : bool
        Per-decision noise; False = noiseless decisions.
    seed : int
        Seed of the mismatch draw and of the noise streams.
    area_m2 : float, optional
        Layout area [m^2].
    """

    input_kind = "current"

    def __init__(self, bits, full_scale_a, *, vdd_v=0.8, c_sense_f=2e-15, v_resolve_v=0.02,
                 tau_latch_s=1e-11, gm_over_id_per_v=15.0, a_vt_v_m=1e-9, pair_area_m2=1e-13,
                 unit_current_mismatch=0.0, offset_residual=1.0, e_latch_j=0.0, e_logic_j=0.0,
                 gamma=2.0 / 3.0, temperature_k=T_REF_K, mismatch=True, noise=True, seed=0,
                 area_m2=None):
        who = "CurrentSenseAmp"
        self.bits = check_int("bits", bits, who, lo=1, hi=16)
        self.full_scale = check_scalar("full_scale_a", full_scale_a, who, lo=0.0, lo_open=True)
        self.vdd_v = check_scalar("vdd_v", vdd_v, who, lo=0.0, lo_open=True)
        self.c_sense_f = check_scalar("c_sense_f", c_sense_f, who, lo=0.0, lo_open=True)
        self.v_resolve_v = check_scalar("v_resolve_v", v_resolve_v, who, lo=0.0, lo_open=True,
                                        hi=self.vdd_v, hi_open=True)
        self.tau_latch_s = check_scalar("tau_latch_s", tau_latch_s, who, lo=0.0)
        self.gm_over_id_per_v = check_scalar("gm_over_id_per_v", gm_over_id_per_v, who,
                                             lo=0.0, lo_open=True)
        self.a_vt_v_m = check_scalar("a_vt_v_m", a_vt_v_m, who, lo=0.0)
        self.pair_area_m2 = check_scalar("pair_area_m2", pair_area_m2, who, lo=0.0,
                                         lo_open=True)
        self.unit_current_mismatch = check_scalar("unit_current_mismatch",
                                                  unit_current_mismatch, who, lo=0.0, hi=0.5)
        self.offset_residual = check_scalar("offset_residual", offset_residual, who, lo=0.0,
                                            hi=1.0)
        self.e_latch_j = check_scalar("e_latch_j", e_latch_j, who, lo=0.0)
        self._e_logic_j = check_scalar("e_logic_j", e_logic_j, who, lo=0.0)
        self.gamma = check_scalar("gamma", gamma, who, lo=0.0, lo_open=True)
        self.temperature_k = check_scalar("temperature_k", temperature_k, who, lo=0.0,
                                          lo_open=True)
        self.seed = check_seed("seed", seed, who)
        self.area_m2 = None if area_m2 is None else check_scalar("area_m2", area_m2, who,
                                                                 lo=0.0)
        self.mismatch = bool(mismatch)
        self.offset = 0.0
        sigma_u = self.unit_current_mismatch if self.mismatch else 0.0
        if self.mismatch and self.offset_sigma_a > 0.0:
            z = rng.normals_at(rng.derive_key(self.seed, "sense_amp_offset"),
                               np.zeros(1, dtype=np.uint64))[0]
            self.offset = float(self.offset_residual * self.offset_sigma_a * z)
        self.decision_noise = self.noise_sigma_a if noise else 0.0
        self.sampling_sigma = 0.0
        self._set_tables(binary_weights(self.bits, sigma_u, self.seed, "sense_amp_reference"))

    # --- construction from a card ---------------------------------------------------------

    @classmethod
    def from_card(cls, card, bits=None, full_scale_a=None, seed=0, temperature_k=T_REF_K,
                  ideal=False, **overrides) -> CurrentSenseAmp:
        """Build the read-out from a ``sense_amp`` card (name or Card).

        The latch and logic energies are the card's gate counts times the NAND2-equivalent
        gate energy of its ``tech_card`` at its ``node_m`` and ``vdd_v``
        (:func:`device_models.logic.gate_energy_j`). ``ideal`` builds the nominal read-out
        (no mismatch, no noise); ``overrides`` replace any keyword.
        """
        c = cards.load(card, kinds=("sense_amp",), field="card",
                       caller="CurrentSenseAmp.from_card")
        n = c.bits if bits is None else check_int("bits", bits, "CurrentSenseAmp.from_card",
                                                  lo=1, hi=16)
        e_gate = _gate_energy(c)
        from .adc import sar_logic_energy_j

        kw = dict(
            bits=n,
            full_scale_a=c.full_scale_a if full_scale_a is None else full_scale_a,
            vdd_v=c.vdd_v, c_sense_f=c.c_sense_f, v_resolve_v=c.v_resolve_v,
            tau_latch_s=c.tau_latch_s, gm_over_id_per_v=c.gm_over_id_per_v,
            a_vt_v_m=c.a_vt_v_m, pair_area_m2=c.pair_area_m2,
            unit_current_mismatch=c.get("unit_current_mismatch", 0.0),
            offset_residual=c.get("offset_residual", 1.0),
            e_latch_j=c.comparator_gates * e_gate,
            e_logic_j=sar_logic_energy_j(n, c.logic_gates_per_bit, e_gate),
            gamma=c.get("noise_gamma", 2.0 / 3.0), temperature_k=temperature_k,
            mismatch=not ideal, noise=not ideal, seed=seed, area_m2=c.get("area_m2"),
        )
        kw.update(overrides)
        return cls(**kw)

    # --- derived quantities -----------------------------------------------------------------

    @property
    def lsb_a(self) -> float:
        """I_LSB = I_FS / 2**N [A]."""
        return self.lsb

    @property
    def full_scale_a(self) -> float:
        """I_FS [A]."""
        return self.full_scale

    @property
    def t_develop_s(self) -> float:
        """t_dev = C_s ΔV_res / (I_LSB/2) [s]."""
        return self.c_sense_f * self.v_resolve_v / (0.5 * self.lsb)

    @property
    def t_regenerate_s(self) -> float:
        """τ ln(V_DD / ΔV_res) [s]."""
        return self.tau_latch_s * math.log(self.vdd_v / self.v_resolve_v)

    @property
    def t_decision_s(self) -> float:
        """One decision, t_dev + τ ln(V_DD/ΔV_res) [s]."""
        return self.t_develop_s + self.t_regenerate_s

    @property
    def conversion_time_s(self) -> float:
        """N decisions, N·t_dec [s] (the column is sensed while it is driven)."""
        return self.bits * self.t_decision_s

    @property
    def time_after_window_s(self) -> float:
        """The read-out senses while the column is driven: its N decisions lie inside the
        read window, which must cover them; nothing follows the window [s]."""
        return 0.0

    @property
    def noise_sigma_a(self) -> float:
        """Input-referred rms noise current of one decision [A] (module docstring)."""
        gm = self.gm_over_id_per_v * 0.5 * self.full_scale
        s_i = 2.0 * 4.0 * K_B_J_PER_K * self.temperature_k * self.gamma * gm
        return math.sqrt(s_i / (2.0 * self.t_develop_s))

    @property
    def offset_sigma_a(self) -> float:
        """σ of the static input-referred offset current [A]."""
        s_vt = self.a_vt_v_m / math.sqrt(self.pair_area_m2)
        return math.sqrt(2.0) * self.gm_over_id_per_v * s_vt * 0.5 * self.full_scale

    def settling_time_s(self, c_bitline_f: float) -> float:
        r"""Bit-line settling through the clamp to half an LSB [s]:
        :math:`(C_{BL}/g_m)\ln 2^{N+1}`, :math:`g_m = (g_m/I_D) I_\mathrm{FS}/2`."""
        c = check_scalar("c_bitline_f", c_bitline_f, "CurrentSenseAmp.settling_time_s",
                         lo=0.0)
        gm = self.gm_over_id_per_v * 0.5 * self.full_scale
        return c / gm * (self.bits + 1) * math.log(2.0)

    @functools.cached_property
    def code_energy_j(self) -> np.ndarray:
        """Input and reference currents of each code over its N decisions,
        V_DD t_dec [N (c + 1/2) I_LSB + Σ_k I_thr,k(c)] [J]."""
        c = np.arange(self.n_codes, dtype=np.float64)
        i_in = (c + 0.5) * self.lsb
        e = self.vdd_v * self.t_decision_s * (self.bits * i_in + self.thresholds.sum(axis=1))
        e.setflags(write=False)
        return e

    @property
    def e_comparator_j(self) -> float:
        """Latch energy per conversion, N E_latch [J]."""
        return self.bits * self.e_latch_j

    @property
    def e_logic_j(self) -> float:
        """SAR logic per conversion [J]."""
        return self._e_logic_j

    @staticmethod
    def leak_gates(card, bits: int) -> float:
        """NAND2 equivalents of one read-out at ``bits`` (latch + logic), for leakage [-]."""
        card = cards.load(card, kinds=("sense_amp",), field="card",
                          caller="CurrentSenseAmp.leak_gates")
        bits = check_int("bits", bits, "CurrentSenseAmp.leak_gates", lo=1, hi=16)
        return float(card.comparator_gates) + float(card.logic_gates_per_bit) * bits

    def __repr__(self) -> str:
        return (f"CurrentSenseAmp(bits={self.bits}, full_scale_a={self.full_scale!r}, "
                f"t_decision_s={self.t_decision_s:.3g}, seed={self.seed})")


def _gate_energy(card) -> float:
    """NAND2-equivalent gate energy of a converter card's technology at its node and supply."""
    from .logic import gate_energy_j

    return gate_energy_j(card.tech_card, card.node_m, card.vdd_v)
