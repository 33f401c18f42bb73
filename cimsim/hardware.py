"""Hardware configuration: the chip a network is compiled onto.

One :class:`HardwareConfig` holds everything that describes the simulated chip: which device,
converter and technology cards it is built from, the tile geometry and periphery
(:class:`TileConfig`), the operating temperature and the time since programming. Every
temperature- or time-dependent model reads ``temperature_k`` and ``t_s`` from here, so a sweep
of either moves all of them at once.
"""

from __future__ import annotations

import dataclasses

from .config import Config, param

__all__ = ["HardwareConfig", "TileConfig"]


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
        "amplitude", choices=("amplitude", "bit_serial", "pulse_width"),
        doc="How inputs reach the rows: DAC voltage, one bit-plane per cycle, or pulse width.",
    )
    input_bits: int = param(8, lo=1, hi=16, doc="Input (DAC / pulse) resolution [bit].")
    v_read_v: float = param(0.2, unit="V", lo=0.0, hi=5.0, lo_open=True,
                            doc="Full-scale row read voltage [V].")
    t_read_s: float = param(10e-9, unit="s", lo=0.0, lo_open=True,
                            doc="Read / integration time of one array cycle [s].")
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
    quantize: bool = param(
        True,
        doc="False = ideal converters of unbounded resolution: inputs, weights and column "
            "outputs are not quantised (ranges still clip); for ideal-mode checks only. Needs "
            "weight_bits == bits_per_cell (no slicing) and amplitude or pulse-width inputs.",
    )

    def validate(self) -> None:
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
                self._fail("input_encoding", "'amplitude' or 'pulse_width' when quantize is "
                           "False (bit planes need digital input codes)", self.input_encoding)


@dataclasses.dataclass(frozen=True)
class HardwareConfig(Config):
    """The simulated chip: cards, tile, operating point and which non-idealities are on."""

    device_card: str = param("yao2020_taox_1t1r", doc="Memory-device card name (RRAM/1T1R/PCM).")
    adc_card: str = param("liu2010_sar_10b", doc="SAR ADC card name (energy, timing, noise).")
    dac_card: str = param("johns1997_cap_dac_8b", doc="Row DAC / driver card name.")
    tech_card: str = param("horowitz2014_45nm", doc="Digital technology card name.")
    periphery_card: str = param(
        "shafiee2016_periphery",
        doc="Tile periphery card (integrator, timing, buffers, digital unit).")
    tile: TileConfig = param(default_factory=TileConfig, doc="Tile geometry and periphery.")
    temperature_k: float = param(300.0, unit="K", lo=0.0, hi=1000.0, lo_open=True,
                                 doc="Operating temperature read by every model [K].")
    t_s: float = param(0.0, unit="s", lo=0.0,
                       doc="Time since programming read by drift/retention models [s].")
    programming_noise: bool = param(True, doc="Program with write-verify (else exact targets).")
    read_noise: bool = param(True, doc="Per-cell Gaussian read noise.")
    faults: bool = param(True, doc="Stuck-at faults at the card's rates.")
    drift: bool = param(True, doc="Drift / relaxation at t_s and temperature_k.")
    converter_noise: bool = param(True, doc="ADC/DAC mismatch, offset and noise per the cards.")
    seed: int = param(0, lo=0, doc="Seed of every random stream of the chip.")

    def validate(self) -> None:
        if self.converter_noise and not self.tile.quantize:
            self._fail("converter_noise", "False when tile.quantize is False (unquantised "
                       "converters are ideal)", self.converter_noise)

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
