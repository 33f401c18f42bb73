"""The column read-out and row-driver kinds a card can describe, and one way to build them.

A tile's ``adc_card`` may be a SAR ADC (kind ``"adc"``, :class:`~device_models.adc.SarAdc`,
voltage input behind an integrator or TIA), a current-mode sense-amplifier read-out
(``"sense_amp"``, :class:`~device_models.sense_amp.CurrentSenseAmp`) or a CCO-based ADC
(``"cco_adc"``, :class:`~device_models.cco_adc.CcoAdc`), the last two current input behind the
column's current mirror. Its ``dac_card`` may be a capacitive DAC (``"dac"``,
:class:`~device_models.dac.Dac`) or a pulse-width row driver (``"pulse_driver"``,
:class:`~device_models.pulse_driver.PulseDriver`). Every converter offers the interface of
:mod:`device_models._search` (input kind, full scale and LSB, decision tables, offset and
noise, energy per code and per conversion, time).
"""

from __future__ import annotations

from . import cards
from ._checks import check_bool, check_int, check_scalar
from .adc import SarAdc
from .cco_adc import CcoAdc
from .constants import T_REF_K
from .dac import Dac
from .pulse_driver import PulseDriver
from .sense_amp import CurrentSenseAmp

__all__ = ["CONVERTER_KINDS", "DRIVER_KINDS", "build_converter", "build_driver",
           "converter_class"]

#: Card kind of a column read-out → its model.
CONVERTER_KINDS = {"adc": SarAdc, "sense_amp": CurrentSenseAmp, "cco_adc": CcoAdc}

#: Card kind of a row driver → its model.
DRIVER_KINDS = {"dac": Dac, "pulse_driver": PulseDriver}


def converter_class(card) -> type:
    """The model class of a read-out card (name or Card), by its kind."""
    c = cards.load(card, kinds=tuple(CONVERTER_KINDS), field="adc_card",
                   caller="converter_class")
    return CONVERTER_KINDS[c.kind]


def build_converter(card, bits: int, *, window_s: float | None = None,
                    temperature_k: float = T_REF_K, seed: int = 0, ideal: bool = False):
    """One read-out of ``card`` at ``bits``.

    Parameters
    ----------
    card : str or Card
        Read-out card (kinds of :data:`CONVERTER_KINDS`).
    bits : int
        Resolution [bit].
    window_s : float, optional
        Read window the column is driven for [s] (the counting window of a CCO ADC).
    temperature_k : float
        Temperature of its noise [K].
    seed : int
        Seed of its mismatch draw and noise streams.
    ideal : bool
        The nominal converter: no mismatch, offset or noise (its energy table and timing).
    """
    c = cards.load(card, kinds=tuple(CONVERTER_KINDS), field="adc_card",
                   caller="build_converter")
    bits = check_int("bits", bits, "build_converter", lo=1, hi=20 if c.kind == "adc" else 16)
    ideal = check_bool("ideal", ideal, "build_converter")
    if c.kind == "adc":
        extra = (dict(comparator_noise_v=0.0, comparator_offset_v=0.0, unit_cap_mismatch=0.0,
                      ktc_noise=False) if ideal else {})
        return SarAdc.from_card(c, bits=bits, temperature_k=temperature_k, seed=seed, **extra)
    if c.kind == "sense_amp":
        return CurrentSenseAmp.from_card(c, bits=bits, temperature_k=temperature_k, seed=seed,
                                         ideal=ideal)
    window = None if window_s is None else check_scalar("window_s", window_s,
                                                        "build_converter", lo=0.0,
                                                        lo_open=True)
    return CcoAdc.from_card(c, bits=bits, window_s=window, temperature_k=temperature_k,
                            seed=seed, ideal=ideal)


def build_driver(card, bits: int, *, v_ref_v: float):
    """One row driver of ``card``: a DAC of ``bits`` at reference ``v_ref_v`` [V], or a pulse
    driver (its own counter width; ``bits`` = 1 gives one-tick bit-serial pulses)."""
    c = cards.load(card, kinds=tuple(DRIVER_KINDS), field="dac_card", caller="build_driver")
    bits = check_int("bits", bits, "build_driver", lo=0, hi=20)
    v_ref_v = check_scalar("v_ref_v", v_ref_v, "build_driver", lo=0.0, lo_open=True)
    if c.kind == "dac":
        return Dac.from_card(c, bits=bits, v_ref_v=v_ref_v)
    return PulseDriver.from_card(c, bits=1 if bits == 1 else None)
