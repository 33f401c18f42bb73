"""Operation counts: what a tile call did, the interface between execution and energy.

Every tile MVM returns an :class:`OpCounts`. The energy, latency and area models
(:mod:`cimsim.ppa.energy`) turn these counts, with the component cards, into joules and seconds;
nothing in execution assumes an energy per MAC. Counts add (``a + b``) and scale with batch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["OpCounts"]


@dataclasses.dataclass
class OpCounts:
    """Counts and run-dependent energies of one or more tile operations.

    Attributes
    ----------
    macs : int
        Logical multiply-accumulates performed (rows used × cols used × vectors) [-].
    cycles : int
        Array read cycles, summed over tiles: one per input vector per bit-plane / pulse
        window; for event-driven spike inputs (:class:`cimsim.tile.matrix.AnalogMatrix`
        ``spike_input``) only the cycles in which some row of the matrix has an event [-].
    dac_conversions : int
        Row-driver events that are DAC conversions: multi-level ``amplitude`` inputs, one per
        row and cycle that the input drives, counted from the run's own inputs; with
        ``TileConfig.skip_zero_inputs`` (the default) a zero input costs none, without it
        every used row converts in every cycle [-].
    row_pulses : int
        Row-driver events that are binary pulses of one amplitude, with no DAC: spikes,
        bit-serial planes, pulse-width and TTFS pulses, level-crossing events, one-bit
        ``amplitude`` inputs (same counting rules) [-]. ``dac_conversions + row_pulses`` is
        every driver event (:attr:`row_drive_events`).
    cell_reads : int
        Cell reads (cells with a non-zero row drive, per cycle) [-].
    cell_read_energy_j : float
        Σ over cycles and cells of V·I·t_on, from the actual voltages, conductances and
        on-times of the run [J].
    row_drive_v2 : float
        Σ of V_row² per driver event (each event charges the row wire once), for wire
        charging C_row·V² [V^2].
    adc_conversions : int
        ADC conversions performed (a tile whose inputs drive no row in a cycle skips its
        conversions when ``skip_zero_inputs``) [-].
    adc_switching_energy_j : float
        Capacitive-DAC switching energy of those conversions from the SAR model, summed over
        the actual output codes [J].
    adc_rounds : int
        Sequential ADC conversion rounds (conversions per ADC, i.e. ``adc_share`` per cycle),
        which set the tile latency; like ``cycles``, event-driven for spike inputs [-].
    shift_adds : int
        Digital shift-and-add / accumulate operations on partial sums [-].
    sram_read_bits, sram_write_bits : int
        Input/output buffer traffic [bit]; input reads count only non-zero inputs when
        ``skip_zero_inputs``.
    kv_cache_read_bits, kv_cache_write_bits : int
        Attention key/value cache traffic when a sequence is generated token by token
        (:class:`cimsim.nn.attention.MultiHeadAttention`) [bit].
    analog_state_energy_j : float
        Energy drawn to charge analog state capacitors (leaky-integrator recurrences,
        :class:`cimsim.nn.ssm.DiagonalSSM`) [J].
    spikes : int
        Spikes emitted (spiking layers: encoders and LIF neurons) [-].
    neuron_energy_j : float
        Energy of analog neuron circuits (membrane charging through the input mirror, spike
        events, graded subthreshold stages), from the currents and spikes of the run [J].
    program_pulses : int
        Write-verify pulses spent programming (reported separately from inference) [-].
    program_energy_j : float
        Programming energy (reported separately from inference) [J].
    """

    macs: int = 0
    cycles: int = 0
    dac_conversions: int = 0
    row_pulses: int = 0
    cell_reads: int = 0
    cell_read_energy_j: float = 0.0
    row_drive_v2: float = 0.0
    adc_conversions: int = 0
    adc_switching_energy_j: float = 0.0
    adc_rounds: int = 0
    shift_adds: int = 0
    sram_read_bits: int = 0
    sram_write_bits: int = 0
    kv_cache_read_bits: int = 0
    kv_cache_write_bits: int = 0
    analog_state_energy_j: float = 0.0
    spikes: int = 0
    neuron_energy_j: float = 0.0
    program_pulses: int = 0
    program_energy_j: float = 0.0

    def __add__(self, other: OpCounts) -> OpCounts:
        if not isinstance(other, OpCounts):
            return NotImplemented
        return OpCounts(**{
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in dataclasses.fields(self)
        })

    def __iadd__(self, other: OpCounts) -> OpCounts:
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    @property
    def row_drive_events(self) -> int:
        """Every row-driver event: DAC conversions and binary pulses [-]."""
        return self.dac_conversions + self.row_pulses

    def to_dict(self) -> dict[str, Any]:
        """Field name → value (plain Python numbers)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
