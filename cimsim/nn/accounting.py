"""Per-token and per-sequence account of a sequence model run on the chip.

:func:`sequence_account` splits the energy of a :class:`~cimsim.ppa.report.Report` into what
the tiles spend (array, converters, shift-add, buffers, interconnect), the digital operations
(:data:`cimsim.ppa.energy.DIGITAL_OPS` lines and digitally placed MACs), the attention KV cache,
the analog state capacitors and the static (leakage) energy of the periphery, per token and per
sequence, and adds what only a sequence model has:

* ``kv_cache_bytes`` — the attention KV cache of one sequence at its last token, at the tile's
  input resolution (:meth:`~cimsim.nn.attention.MultiHeadAttention.kv_cache`; attention with
  digital scores only: with scores on tiles, K and V are held in the written cells);
* ``time_share`` — per analog layer, the fraction of a sequence's latency its tiles are busy
  (their layer time over the total): how much of the time the weight-stationary tiles work
  while tokens pass through the other layers;
* ``rewrites`` — for attention scores on tiles: programming energy, pulses, cells and rows
  written per sequence, and the write time ``rows × mean pulses per cell × (t_set + t_read)``
  (row by row, the columns of a row in parallel, each pulse followed by a verify read). Each
  sequence writes every such cell once, so a cell endures as many sequences as it has write
  cycles. The write energy is part of the energy per sequence (``tile_writes`` in the split)
  and the write time part of its latency.
"""

from __future__ import annotations

from typing import Any

from device_models import cards

from .attention import MultiHeadAttention
from .layers import iter_layers

__all__ = ["TILE_KINDS", "sequence_account"]

#: Breakdown entries spent in and around the tiles (the rest is digital, KV cache or state).
TILE_KINDS = ("array_read", "wire_charging", "dac", "integrator", "adc", "shift_add", "sram",
              "interconnect")


def sequence_account(net, report, tokens: int) -> dict[str, Any]:
    """Energy and latency per token and per sequence, KV cache, tile time shares.

    Parameters
    ----------
    net : Network
        The compiled network that produced ``report`` (its last run).
    report : Report
        :meth:`Network.report` of that run (one inference = one sequence).
    tokens : int
        Tokens (time steps) per sequence [-].

    Returns
    -------
    dict
        ``energy_per_token_j``, ``latency_per_token_s``, ``energy_per_sequence_j``,
        ``latency_per_sequence_s``, ``energy_split_per_token_j`` (``tiles``, ``digital``,
        ``kv_cache``, ``analog_state``, ``leakage``, ``tile_writes``), ``kv_cache_bytes``,
        ``time_share``
        (layer → [-]), ``rewrites`` (layer → dict; empty unless scores run on tiles).
    """
    per = report.breakdown_per_inference_j
    hw = net.hardware
    n = max(report.batch, 1)
    rewrites = {}
    dev = cards.load(hw.device_card)
    t_pulse = float(dev.get("t_set_s", 0.0) or 0.0) + float(hw.tile.t_read_s)
    for name, r in net.last_rewrites.items():
        prog, cells, rows = r.get("rewrite"), r.get("cells_written", 0), r.get("rows_written", 0)
        pulses = prog.program_pulses if prog is not None else 0
        rewrites[name] = {
            "program_energy_per_sequence_j": (prog.program_energy_j if prog else 0.0) / n,
            "pulses_per_sequence": pulses / n,
            "cells_written_per_sequence": cells / n,
            "writes_per_cell_per_sequence": 1.0,
            "write_time_per_sequence_s": rows / n * (pulses / cells if cells else 0.0)
            * t_pulse,
        }
    split = {"tiles": sum(per.get(k, 0.0) for k in TILE_KINDS),
             "kv_cache": per.get("kv_cache", 0.0), "analog_state": per.get("analog_state", 0.0),
             "leakage": per.get("leakage", 0.0)}
    split["digital"] = report.energy_per_inference_j - sum(split.values())
    split["tile_writes"] = sum(r["program_energy_per_sequence_j"] for r in rewrites.values())
    e_seq = report.energy_per_inference_j + split["tile_writes"]
    kv_bits = sum(lay.kv_cache(tokens)["size"] for lay in iter_layers(net.layers)
                  if isinstance(lay, MultiHeadAttention) and lay.scores == "digital"
                  ) * hw.tile.input_bits
    total_s = report.latency_per_inference_s
    t_seq = total_s + sum(r["write_time_per_sequence_s"] for r in rewrites.values())
    share = {m.name: (report.layers[m.name].latency_per_inference_s / total_s
                      if total_s > 0 and m.name in report.layers else 0.0)
             for m in net.mapping if m.placement == "analog"}
    return {
        "tokens_per_sequence": int(tokens),
        "energy_per_sequence_j": e_seq,
        "latency_per_sequence_s": t_seq,
        "energy_per_token_j": e_seq / tokens,
        "latency_per_token_s": t_seq / tokens,
        "energy_split_per_token_j": {k: v / tokens for k, v in split.items()},
        "kv_cache_bytes": kv_bits / 8.0,
        "time_share": share,
        "rewrites": rewrites,
    }
