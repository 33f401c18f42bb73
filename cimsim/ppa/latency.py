"""Latency of tiles and layers: tile cycles, ADC rounds, and layers pipelined across tiles.

One array cycle of a tile takes

.. math::

    t_{cycle} = t_{DAC} + t_{read} + s · t_{conv} + t_{shift-add}

with s = ``adc_share`` sequential conversions per ADC. From the counts of a run: ``cycles`` is
summed over the layer's tiles, which work in parallel, so the array part of the layer time is
``cycles/n_tiles·(t_DAC + t_read + t_SA)``; ``adc_rounds`` is already the critical path (batch
× cycles per vector × the largest number of sequential conversions per ADC of any tile, the
convention of :mod:`cimsim.tile.matrix`), so the conversion part is ``adc_rounds·t_conv``.
Layers are pipelined across
tiles (weight-stationary): one inference takes the sum of the layer times; a batch of B takes
Σ T_l + (B − 1)·T_stage, with T_stage the per-inference time of the busiest resource: a
physical tile (every layer it hosts, when small layers share a tile,
:mod:`cimsim.array.packing`) or the digital unit (every layer's digital work). Blocks of one
layer that share a tile are read one after another (the layer's array time is that many times
a block's).
"""

from __future__ import annotations

from collections.abc import Sequence

from device_models._checks import check_array, check_int, check_scalar, fail

from ..ops import OpCounts
from .energy import Components, digital_ops_cycles

__all__ = [
    "cycle_time_s",
    "layer_time_parts_s",
    "layer_time_s",
    "pipeline_time_s",
    "tile_cycle_time_s",
]


def cycle_time_s(t_dac_settle_s: float, t_read_s: float, adc_share: int, t_conversion_s: float,
                 t_shift_add_s: float) -> float:
    """Time of one array cycle: row drivers settle, cells are read, ADCs convert, add [s].

    .. math:: t_{cycle} = t_{DAC} + t_{read} + s · t_{conv} + t_{SA}

    Parameters
    ----------
    t_dac_settle_s : float
        Row-driver settling [s].
    t_read_s : float
        Read / integration window [s].
    adc_share : int
        Sequential conversions per ADC (columns multiplexed onto one ADC) [-].
    t_conversion_s : float
        One ADC conversion (or the read-out of a conversion overlapped with the read) [s].
    t_shift_add_s : float
        Digital shift-and-add [s].

    References
    ----------
    Shafiee et al., ISCA 2016, doi:10.1109/ISCA.2016.12 (pipelined crossbar cycle with shared
    ADCs).
    """
    for name, v in (("t_dac_settle_s", t_dac_settle_s), ("t_read_s", t_read_s),
                    ("t_conversion_s", t_conversion_s), ("t_shift_add_s", t_shift_add_s)):
        check_scalar(name, v, "cycle_time_s", lo=0.0)
    adc_share = check_int("adc_share", adc_share, "cycle_time_s", lo=1)
    return t_dac_settle_s + t_read_s + adc_share * t_conversion_s + t_shift_add_s


def tile_cycle_time_s(comp: Components) -> float:
    """Time of one array cycle of a tile with all its ADC rounds (:func:`cycle_time_s`) [s]."""
    return cycle_time_s(comp.t_dac_settle_s, comp.t_read_s, comp.adc_share,
                        comp.t_adc_conversion_s, comp.t_shift_add_s)


def layer_time_parts_s(counts: OpCounts, comp: Components, *, n_tiles: int,
                       digital_macs: int = 0, digital_ops=None) -> tuple[float, float]:
    """``(array, digital)`` time of a layer for the vectors in ``counts`` [s].

    .. math::

        T_{array} = \\frac{N_{cyc}}{n_{tiles}}(t_{DAC} + t_{read} + t_{SA})
            + N_{rounds} t_{conv}, \\qquad
        T_{digital} = \\frac{N_{MAC,dig} + \\sum_{op} N_{op} c_{op}}{R_{dig}}

    with :math:`c_{op}` the lane cycles of a digital operation
    (:func:`cimsim.ppa.energy.digital_op_cycles`) and :math:`R_{dig}` the digital unit's lanes
    × clock. The array part runs on the layer's tiles, the digital part on the chip's one
    digital unit.

    Parameters
    ----------
    counts : OpCounts
        Counts of the layer (``cycles`` summed over its tiles, ``adc_rounds`` on the critical
        path).
    comp : Components
        Resolved component numbers.
    n_tiles : int
        Tile blocks the layer occupies (they work in parallel) [-].
    digital_macs : int
        MACs run on the digital unit at ``comp.digital_mac_rate_per_s`` [-].
    digital_ops : Mapping[str, Mapping[str, float]], optional
        Digital operations of the layer (line → operation → count), run on the same unit.
    """
    if not isinstance(counts, OpCounts):
        fail("counts", "layer_time_s", "an OpCounts", counts)
    n_tiles = check_int("n_tiles", n_tiles, "layer_time_s", lo=0)
    digital_macs = check_int("digital_macs", digital_macs, "layer_time_s", lo=0)
    if counts.cycles > 0 and n_tiles == 0:
        fail("n_tiles", "layer_time_s", ">= 1 for a layer with array cycles", n_tiles)
    t = 0.0
    if counts.cycles > 0:
        t = counts.cycles / n_tiles * (comp.t_dac_settle_s + comp.t_read_s + comp.t_shift_add_s)
    t += counts.adc_rounds * comp.t_adc_conversion_s
    lane_cycles = digital_macs + digital_ops_cycles(digital_ops or {})
    return t, lane_cycles / comp.digital_mac_rate_per_s


def layer_time_s(counts: OpCounts, comp: Components, *, n_tiles: int,
                 digital_macs: int = 0, digital_ops=None, serial: int = 1) -> float:
    """Time a layer takes for the vectors in ``counts`` on ``n_tiles`` parallel tiles [s].

    .. math:: T = s\\,T_{array} + T_{digital}

    the two parts of :func:`layer_time_parts_s`, with the array part ``serial`` = s times over
    when s of the layer's blocks share one physical tile and are read one after another
    (:meth:`cimsim.array.packing.Floorplan.serialisation`).
    """
    serial = check_int("serial", serial, "layer_time_s", lo=1)
    arr, dig = layer_time_parts_s(counts, comp, n_tiles=n_tiles, digital_macs=digital_macs,
                                  digital_ops=digital_ops)
    return serial * arr + dig


def pipeline_time_s(per_inference_s: Sequence[float], batch: int,
                    stage_s: float | None = None) -> float:
    """Time for ``batch`` inferences through layers pipelined across tiles [s].

    .. math:: T_{batch} = \\sum_l T_l + (B - 1)\\,T_{stage}

    one inference's latency to fill the pipeline, then one result per ``stage_s``: the busiest
    resource's time per inference (a physical tile with all the layers it hosts, or the
    digital unit with all the digital work); default :math:`\\max_l T_l` (every layer its own
    resource).
    """
    batch = check_int("batch", batch, "pipeline_time_s", lo=1)
    ts = [float(t) for t in check_array("per_inference_s", per_inference_s,
                                        "pipeline_time_s", nonneg=True, ndim=1)]
    if not ts:
        return 0.0
    stage = max(ts) if stage_s is None else check_scalar("stage_s", stage_s,
                                                          "pipeline_time_s", lo=0.0)
    return sum(ts) + (batch - 1) * stage
