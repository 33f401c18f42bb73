"""Hardware configuration: the chip a network is compiled onto.

One :class:`HardwareConfig` holds everything that describes the simulated chip: which device,
converter and technology cards it is built from, the tile geometry and periphery
(:class:`TileConfig`), the operating temperature and the time since programming. Every
temperature- or time-dependent model reads ``temperature_k`` and ``t_s`` from here, so a sweep
of either moves all of them at once.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from device_models import cards
from device_models.cards import Card
from device_models.encoding import ENCODINGS, TIME_CODED
from device_models.errors import CardError, ConfigError, UnknownNameError

from .config import Config, param

__all__ = ["CARD_KINDS", "HardwareConfig", "NeuronConfig", "TileConfig"]

#: Card fields of :class:`HardwareConfig` → the card kinds each accepts.
CARD_KINDS: dict[str, tuple[str, ...]] = {
    "device_card": ("rram", "1t1r", "pcm"),
    "adc_card": ("adc", "sense_amp", "cco_adc"),
    "dac_card": ("dac", "pulse_driver"),
    "tech_card": ("tech",),
    "periphery_card": ("periphery",),
    "neuron_card": ("neuron",),
}


@dataclasses.dataclass(frozen=True)
class TileConfig(Config):
    """One tile: a crossbar with its input encoding, column front end, ADCs and shift-add."""

    rows: int = param(256, lo=1, hi=8192, doc="Crossbar rows (inputs) [-].")
    cols: int = param(256, lo=1, hi=8192, doc="Crossbar columns (physical) [-].")
    weight_mapping: str = param(
        "differential", choices=("differential", "offset"),
        doc="Signed weights as (G+, G-) column pairs, or one column against a reference column.",
    )
    weight_bits: int = param(8, lo=1, hi=16, doc="Weight quantisation before mapping [bit].")
    bits_per_cell: int = param(
        8, lo=1, hi=16, doc="Bits stored per cell; < weight_bits bit-slices weights [bit]."
    )
    input_encoding: str = param(
        "amplitude", choices=ENCODINGS,
        doc="How inputs reach the rows (device_models.encoding): DAC voltage, one bit-plane "
            "per cycle, pulse width, time to first spike (the spike latches the row on until "
            "the window closes), or level-crossing events (|code| events from 0 for a static "
            "vector; only the changes for a time series, AnalogMatrix.matmul_series).",
    )
    input_bits: int = param(8, lo=1, hi=16, doc="Input (DAC / pulse) resolution [bit].")
    v_read_v: float = param(0.2, unit="V", lo=0.0, hi=5.0, lo_open=True,
                            doc="Full-scale row read voltage [V].")
    t_read_s: float = param(10e-9, unit="s", lo=0.0, lo_open=True,
                            doc="Read / integration time of one array cycle [s].")
    read_phases: int = param(
        1, lo=1, hi=16,
        doc="Read phases per array cycle: the devices of each weight are read in this many "
            "sequential windows of t_read_s, a share of them in each (the four-phase read "
            "mode of Le Gallo et al. 2023); every driven row pulses in every phase and the "
            "read-out integrates over all of them, so the cycle's window and the count "
            "window of a CCO read-out are read_phases·t_read_s, while each cell conducts "
            "for one phase.",
    )
    skip_zero_inputs: bool = param(
        True,
        doc="Zero inputs need no DAC conversion, row drive or input-buffer read, and a tile "
            "whose inputs are all zero in a cycle skips its ADC conversions (as chips do); "
            "False converts every row and column in every cycle.",
    )
    front_end: str = param(
        "integrator", choices=("integrator", "tia", "mirror"),
        doc="Column front end (device_models.frontend): charge integrator over the cycle "
            "window, TIA (voltage-coded inputs only), or a calibrated current mirror feeding a "
            "current-input read-out (adc_card of kind 'sense_amp' or 'cco_adc').",
    )
    stacking: str = param(
        "digital", choices=("digital", "mirror", "parallel"),
        doc="How a bit-sliced weight's slices reach the read-out (cimsim.array.mapping): each "
            "digitised and shift-added, or merged in the analog domain before one read-out "
            "per output by current stacking, the 2**(b·k) weights realised by sized current "
            "mirrors ('mirror') or by 2**(b·k) parallel columns ('parallel'); stacking needs "
            "the 'mirror' front end and the differential mapping.",
    )
    adc_bits: int = param(8, lo=1, hi=20, doc="Column ADC resolution [bit].")
    adc_share: int = param(8, lo=1, hi=8192, doc="Columns multiplexed onto one ADC [-].")
    adc_range: str = param(
        "per_tile", choices=("per_tile", "per_column"),
        doc="ADC full-scale range calibrated once per tile or per column.",
    )
    adc_calibration: str = param(
        "percentile", choices=("minmax", "percentile"),
        doc="How the ADC range is calibrated from calibration inputs.",
    )
    adc_percentile: float = param(99.99, unit="%", lo=50.0, hi=100.0,
                                  doc="Percentile of |column signal| mapped to full scale [%].")
    r_wire_row_ohm: float = param(0.0, unit="ohm", lo=0.0,
                                  doc="Row-wire resistance per cell pitch at 300 K [ohm].")
    r_wire_col_ohm: float = param(0.0, unit="ohm", lo=0.0,
                                  doc="Column-wire resistance per cell pitch at 300 K [ohm].")
    r_wire_tc_per_k: float = param(
        3.9e-3, unit="1/K", lo=-0.01, hi=0.05,
        doc="Linear temperature coefficient of the wire resistance, r(T) = r·(1 + tc·(T − "
            "300 K)) [1/K]; default bulk Cu at 300 K from Matula's recommended resistivities "
            "(1.543 µΩ·cm at 273 K, 1.725 µΩ·cm at 300 K): R. A. Matula, J. Phys. Chem. Ref. "
            "Data 8, 1147 (1979), doi:10.1063/1.555614.",
    )
    read_noise_model: str = param(
        "variance", choices=("variance", "per_cell"),
        doc="Read noise by the variance identity (v² @ σ², fast) or by sampling every cell "
            "on every read (exact reference, slow).",
    )
    cell: str = param(
        "linear", choices=("linear", "sinh", "1t1r", "auto"),
        doc="Cell I-V law of the array read: ohmic; g·v0·sinh(V/v0) with the card's v0_v; the "
            "access MOSFET (the card's mosfet_card, EKV at temperature_k) in series with the "
            "RRAM; or 'auto', the card's own law (1t1r cards: '1t1r', rram / pcm: 'sinh'). "
            "Default 'linear' for speed.",
    )
    v_gate_v: float | None = param(
        None, unit="V", lo=0.0, hi=5.0,
        doc="Word-line (gate) voltage of 1T1R cells at read [V]; None = the card's "
            "v_gate_read_v (the verify gate voltage). Below V_T the access transistor runs in "
            "subthreshold. Must not exceed the MOSFET card's vdd_v.",
    )
    v_gate_verify_v: float | None = param(
        None, unit="V", lo=0.0, hi=5.0,
        doc="Word-line voltage of the write-verify reads of 1T1R cells [V]; None = v_gate_v "
            "(the chip verifies under its read conditions). A different value programs at "
            "one gate voltage and reads at another.",
    )
    array_solver: str = param(
        "fast", choices=("fast", "exact"),
        doc="Array read of nonlinear cells: 'fast' (cell law tabulated on the read voltages "
            "and expanded in a few separable terms; with wires, the fast IR-drop method), or "
            "'exact' (the law of every cell at every read, and the Newton solve of "
            "cimsim.array.crossbar with wires; the slow reference). See cimsim.tile.cells.",
    )
    quantize: bool = param(
        True,
        doc="False = ideal converters of unbounded resolution: inputs, weights and column "
            "outputs are not quantised (ranges still clip); for ideal-mode checks only. Needs "
            "weight_bits == bits_per_cell (no slicing) and inputs that are not bit-serial.",
    )

    def validate(self) -> None:
        for name in ("v_gate_v", "v_gate_verify_v"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._fail(name, "None or a real number in [0.0, 5.0]", value)
            object.__setattr__(self, name, float(value))
            if self.cell in ("linear", "sinh"):
                self._fail(name, f"None when cell is {self.cell!r} (no access "
                           "transistor; use cell='1t1r' or 'auto' with a 1t1r card)", value)
        if self.bits_per_cell > self.weight_bits:
            self._fail("bits_per_cell", f"<= weight_bits ({self.weight_bits})", self.bits_per_cell)
        if self.adc_share > self.cols:
            self._fail("adc_share", f"<= cols ({self.cols})", self.adc_share)
        if not self.quantize:
            if self.bits_per_cell != self.weight_bits:
                self._fail("bits_per_cell", f"== weight_bits ({self.weight_bits}) when "
                           "quantize is False (unquantised weights are not bit-sliced)",
                           self.bits_per_cell)
            if self.input_encoding == "bit_serial":
                self._fail("input_encoding", "not 'bit_serial' when quantize is False (bit "
                           "planes need digital input codes)", self.input_encoding)
        if self.stacking != "digital":
            if self.front_end != "mirror":
                self._fail("front_end", f"'mirror' when stacking is {self.stacking!r} (the "
                           "slices' currents are merged by current mirrors)", self.front_end)
            if self.weight_mapping != "differential":
                self._fail("weight_mapping", "'differential' with current stacking",
                           self.weight_mapping)
            if not self.quantize:
                self._fail("stacking", "'digital' when quantize is False (unquantised weights "
                           "are not bit-sliced)", self.stacking)
        if self.front_end == "tia" and self.input_encoding in TIME_CODED:
            self._fail("front_end", f"'integrator' for {self.input_encoding!r} inputs (a TIA "
                       "samples the current at one instant; a time-coded value needs the "
                       "charge integrated over the window)", self.front_end)


@dataclasses.dataclass(frozen=True)
class NeuronConfig(Config):
    """How spiking neurons are built on the chip (:mod:`cimsim.nn.spiking`).

    A ``digital`` membrane is an accumulator register updated every time step (its adds,
    multiplies and comparisons priced by the technology card); an ``analog`` membrane is a
    capacitor charged by the column current over the read window, discharged by a leak and
    compared with a threshold (:mod:`device_models.neuron`, the circuit of ``neuron_card``).
    """

    membrane: str = param("digital", choices=("digital", "analog"),
                          doc="Membrane of the LIF neurons: digital accumulator or analog "
                              "capacitor.")
    leak: str = param("transistor", choices=("transistor", "resistor"),
                      doc="Leak of an analog membrane: subthreshold transistor (EKV at "
                          "temperature_k, gate bias trimmed at the card's t_cal_k) or an ideal "
                          "resistor (the RC membrane).")


@dataclasses.dataclass(frozen=True)
class HardwareConfig(Config):
    """The simulated chip: cards, tile, operating point and which non-idealities are on.

    Each card field takes a card name (or a path to a ``.toml`` card) or a
    :class:`~device_models.cards.Card` value (e.g. ``cards.load(name).replace(...)``); the card
    is loaded and its kind checked at construction. :meth:`to_dict` writes a name as a name and
    a card value as its full content (values, units, ``sha256``); :meth:`cards` gives every
    card's content, which results store beside the configuration.
    """

    device_card: str | Card = param(
        "yao2020_taox_1t1r", doc="Memory-device card (RRAM/1T1R/PCM): a name or a Card.")
    adc_card: str | Card = param(
        "liu2010_sar_10b", doc="SAR ADC card (energy, timing, noise): a name or a Card.")
    dac_card: str | Card = param("johns1997_cap_dac_8b",
                                 doc="Row DAC / driver card: a name or a Card.")
    tech_card: str | Card = param("horowitz2014_45nm",
                                  doc="Digital technology card: a name or a Card.")
    periphery_card: str | Card = param(
        "shafiee2016_periphery",
        doc="Tile periphery card (integrator, timing, buffers, digital unit): a name or a Card.")
    neuron_card: str | Card = param(
        "besrour2024_lif_28nm",
        doc="Analog neuron card (membrane rails, threshold, leak, spike): a name or a Card.")
    tile: TileConfig = param(default_factory=TileConfig, doc="Tile geometry and periphery.")
    neuron: NeuronConfig = param(default_factory=NeuronConfig,
                                 doc="Spiking neurons: digital or analog membranes.")
    temperature_k: float = param(300.0, unit="K", lo=0.0, hi=1000.0, lo_open=True,
                                 doc="Operating temperature read by every model [K].")
    program_temperature_k: float = param(
        300.0, unit="K", lo=0.0, hi=1000.0, lo_open=True,
        doc="Temperature at which the chip was programmed (write-verify, SET compliance, "
            "verify reads) [K]; it is then read at temperature_k.")
    t_s: float = param(0.0, unit="s", lo=0.0,
                       doc="Time since programming read by drift/retention models [s].")
    programming_noise: bool = param(True, doc="Program with write-verify (else exact targets).")
    read_noise: bool = param(True, doc="Per-cell Gaussian read noise.")
    faults: bool = param(True, doc="Stuck-at faults at the card's rates.")
    drift: bool = param(True, doc="Drift / relaxation at t_s and temperature_k.")
    converter_noise: bool = param(True, doc="ADC/DAC mismatch, offset and noise per the cards.")
    drift_compensation: str = param(
        "none", choices=("none", "global", "column"),
        doc="Drift compensation (cimsim.tile.compensation): none; 'global', a reference read "
            "at programming and one digital scale per tile and read; 'column', a per-column "
            "affine ADC recalibration (front-end gain and offset) against the reference read.")
    drift_reference_t_s: float = param(
        0.0, unit="s", lo=0.0,
        doc="Time after programming of the reference read of the drift compensation [s].")
    drift_recalibration_t_s: float | None = param(
        None, unit="s", lo=0.0,
        doc="'column' compensation: time of the one ADC recalibration [s]; None recalibrates "
            "at every read time.")
    refresh_threshold: float | None = param(
        None, lo=0.0, lo_open=True,
        doc="Refresh policy: reprogram a tile whenever its predicted rms conductance error "
            "(after a global scale, relative to the window; device_models.memory."
            "predicted_drift_error) reaches this value [-]; None never refreshes.")
    seed: int = param(0, lo=0, hi=2**64 - 1, doc="Seed of every random stream of the chip.")

    def _check_field(self, f: dataclasses.Field, hint: Any, value: Any) -> Any:
        if f.name not in CARD_KINDS:
            return super()._check_field(f, hint, value)
        if isinstance(value, Mapping):
            try:
                value = Card.from_dict(value, where=f"HardwareConfig.{f.name}")
            except CardError as exc:
                raise ConfigError(f"The {f.name!r} field of HardwareConfig: {exc}") from None
        if not isinstance(value, (str, os.PathLike, Card)) or not str(value):
            self._fail(f.name, "a card name, a path to a .toml card or a Card", value)
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        self._card(f.name, value)
        return value

    def _card(self, field: str, value: Any) -> Card:
        try:
            card = cards.load(value)
        except (UnknownNameError, CardError) as exc:
            raise type(exc)(f"The {field!r} field of HardwareConfig: {exc}") from None
        kinds = CARD_KINDS[field]
        if card.kind not in kinds:
            self._fail(field, f"a card of kind {' or '.join(map(repr, kinds))}",
                       f"{card.name} (kind {card.kind!r})")
        if field == "device_card" and not card.g_min_s < card.g_max_s:
            self._fail(field, "a card with g_min_s < g_max_s",
                       f"{card.name} (g_min_s={card.g_min_s!r}, g_max_s={card.g_max_s!r})")
        return card

    def card(self, field: str = "device_card") -> Card:
        """The card of card field ``field`` (``"device_card"``, ``"adc_card"``...), loaded and
        checked against the kinds the field accepts (:data:`CARD_KINDS`)."""
        if not isinstance(field, str) or field not in CARD_KINDS:
            raise ConfigError(f"The 'field' parameter of HardwareConfig.card must be one of "
                              f"{list(CARD_KINDS)}. Got {field!r}.")
        return self._card(field, getattr(self, field))

    def cards(self) -> dict[str, dict[str, Any]]:
        """Every card's content as :meth:`~device_models.cards.Card.to_dict` gives it (values,
        units, notes, citation, ``sha256``, ``modified``), plus the file it was read from
        (``path``): field → dict. Stored beside the configuration in sweep files and reports,
        so a result says exactly which values produced it."""
        out = {}
        for field in CARD_KINDS:
            card = self.card(field)
            out[field] = {**card.to_dict(), "path": card.path}
        return out

    def validate(self) -> None:
        t = self.tile
        gate = "v_gate_v" if t.v_gate_v is not None else (
            "v_gate_verify_v" if t.v_gate_verify_v is not None else None)
        if t.cell == "1t1r" or (gate is not None and t.cell == "auto"):
            from device_models import cards

            kind = cards.load(self.device_card).kind
            if kind != "1t1r":
                name = "cell" if t.cell == "1t1r" else gate
                self._fail(f"tile.{name}", f"used with a 1t1r device card (device_card "
                           f"{self.device_card!r} is of kind {kind!r}: no access transistor)",
                           getattr(t, name))
        self._check_periphery_kinds()
        if self.converter_noise and not self.tile.quantize:
            self._fail("converter_noise", "False when tile.quantize is False (unquantised "
                       "converters are ideal)", self.converter_noise)

    def _check_periphery_kinds(self) -> None:
        """The front end must match the read-out's input (voltage: integrator or TIA;
        current: mirror), and a pulse driver drives time-coded or bit-serial rows."""
        t = self.tile
        adc = self.card("adc_card")
        current = adc.kind in ("sense_amp", "cco_adc")
        if current and t.front_end != "mirror":
            self._fail("tile.front_end", f"'mirror' for a current-input read-out (adc_card "
                       f"{adc.name!r} of kind {adc.kind!r})", t.front_end)
        if not current and t.front_end == "mirror":
            self._fail("tile.front_end", f"'integrator' or 'tia' for a voltage-input read-out "
                       f"(adc_card {adc.name!r} of kind {adc.kind!r}); 'mirror' needs a "
                       "'sense_amp' or 'cco_adc' card", t.front_end)
        dac = self.card("dac_card")
        if dac.kind == "pulse_driver" and t.input_encoding not in ("pulse_width",
                                                                    "bit_serial"):
            self._fail("tile.input_encoding", f"'pulse_width' or 'bit_serial' with a pulse "
                       f"driver (dac_card {dac.name!r})", t.input_encoding)

    @classmethod
    def ideal(cls, **changes) -> HardwareConfig:
        """Every non-ideality off and ideal converters of unbounded resolution
        (``tile.quantize=False``): an ideal tile computes the float64 product ``x @ W`` (tiled,
        partial sums added digitally) within the calibrated ranges. ``tile.replace(quantize=
        True)`` gives the quantised ideal tile (16-bit inputs and weights, 20-bit ADCs)."""
        tile = TileConfig(weight_bits=16, bits_per_cell=16, input_bits=16, adc_bits=20,
                          adc_calibration="minmax", quantize=False)
        base = cls(tile=tile, programming_noise=False, read_noise=False, faults=False,
                   drift=False, converter_noise=False)
        return dataclasses.replace(base, **changes) if changes else base
