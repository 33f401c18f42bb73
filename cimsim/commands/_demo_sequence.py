"""``cimsim demo --model NAME`` for the bundled sequence models.

* ``smnist_lstm``, ``smnist_ssm``: the 2 000 held-out images of the bundled MNIST subset as 28
  time steps of 28 pixels; accuracy is classification accuracy.
* ``charlm_transformer``: the held-out 10 % of *The Tempest* in windows of 64 characters;
  ``float_accuracy`` / ``analog_accuracy`` are next-character accuracies, with the bits per
  character beside them.

Energy and latency per token come from :func:`cimsim.nn.accounting.sequence_account`.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np


def is_sequence_model(net) -> bool:
    from cimsim.nn.layers import iter_layers
    from cimsim.nn.sequence import SequenceLayer

    return any(isinstance(lay, SequenceLayer) for lay in iter_layers(net.layers))


def _bits_per_char(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(-np.take_along_axis(logp, y[..., None], -1).mean() / math.log(2))


def run_sequence(args: argparse.Namespace, net, t0: float) -> int:
    from cimsim.nn.accounting import sequence_account
    from cimsim.nn.layers import iter_layers
    from cimsim.nn.seqdata import char_windows, load_smnist, load_tempest
    from cimsim.nn.ssm import DiagonalSSM

    from .demo import count, hardware

    t_s = args.t_s[0] if isinstance(args.t_s, (list, tuple)) else args.t_s
    recurrence = getattr(args, "ssm_recurrence", None)
    for lay in iter_layers(net.layers):
        if recurrence and isinstance(lay, DiagonalSSM):
            lay.recurrence = recurrence
    hw = hardware(args)
    net.compile(hw)
    extra: dict = {}
    if net.input_shape == (28, 28):
        data = load_smnist()
        x, y = data["x_test"], data["y_test"]
        n = count(args.n, len(y), "held-out sequential-MNIST images")
        ev = net.evaluate(x[:n], y[:n], t_s=t_s, progress=True)
        float_acc, analog_acc, n_eval, unit = ev.float_accuracy, ev.analog_accuracy, ev.n, \
            "images"
        rep = net.report(ev)
    else:
        text = load_tempest()
        x, y = char_windows(text["test"], net.input_shape[0])
        n = count(args.n, len(y), "held-out text windows")
        x, y = x[:n], y[:n]
        lf = net.forward(x)
        la = net.run(x, t_s=t_s, progress=True)
        float_acc = float(np.mean(lf.argmax(-1) == y))
        analog_acc = float(np.mean(la.argmax(-1) == y))
        extra = {"float_bits_per_char": _bits_per_char(lf, y),
                 "analog_bits_per_char": _bits_per_char(la, y)}
        n_eval, unit = n, f"windows of {net.input_shape[0]} characters"
        rep = net.report()
    tokens = net.input_shape[0]
    acc = sequence_account(net, rep, tokens)
    elapsed = time.perf_counter() - t0
    if args.plot:
        rep.plot(args.plot)
    layers = [{"name": m.name, "kind": m.kind, "placement": m.placement,
               "matrix_shapes": [list(s) for s in m.matrix_shapes], "n_tiles": m.n_tiles,
               "utilisation": m.utilisation, "macs_per_inference": m.macs_per_sample,
               "time_share": acc["time_share"].get(m.name)} for m in net.mapping]
    if args.json:
        out = {"model": args.model, "n_test": n_eval, "t_s": hw.t_s if t_s is None else t_s,
               "float_accuracy": float_acc, "analog_accuracy": analog_acc, **extra,
               "energy_per_inference_j": rep.energy_per_inference_j,
               "latency_per_inference_s": rep.latency_per_inference_s,
               "energy_breakdown_per_inference_j": rep.breakdown_per_inference_j,
               "n_tiles_total": net.n_tiles, "metrics": rep.metrics(), **acc,
               "layers": layers, "hardware": hw.to_dict(), "elapsed_s": elapsed}
        if args.plot:
            out["plot"] = str(args.plot)
        print(json.dumps(out, indent=1))
        return 0
    t = hw.tile
    print(f"cimsim demo: {args.model} on {hw.device_card} tiles ({t.rows}x{t.cols}, "
          f"{t.weight_bits}-bit weights, {t.input_bits}-bit inputs, {t.adc_bits}-bit ADCs), "
          f"T = {hw.temperature_k:g} K, seed {hw.seed}")
    print(f"held-out: {n_eval} {unit}, {tokens} tokens each")
    what = "next-character accuracy" if extra else "accuracy"
    print(f"  float {what}   {float_acc:.4f}")
    print(f"  analog {what}  {analog_acc:.4f}")
    if extra:
        print(f"  bits per character  float {extra['float_bits_per_char']:.3f}, "
              f"analog {extra['analog_bits_per_char']:.3f}")
    print(f"  energy / token   {acc['energy_per_token_j']:.4g} J  ("
          + ", ".join(f"{k} {v:.3g} J" for k, v in acc["energy_split_per_token_j"].items())
          + ")")
    print(f"  latency / token  {acc['latency_per_token_s']:.4g} s")
    if acc["kv_cache_bytes"]:
        print(f"  KV cache per sequence  {acc['kv_cache_bytes']:.0f} bytes")
    print()
    print(f"{'layer':<10}{'matrices (in x out)':<22}{'tiles':>6}{'cells used':>11}"
          f"{'time share':>12}")
    for m in net.mapping:
        shapes = " + ".join(f"{a}x{b}" for a, b in m.matrix_shapes)
        share = acc["time_share"].get(m.name, 0.0)
        print(f"{m.name:<10}{shapes:<22}{m.n_tiles:>6d}{m.utilisation:>11.1%}{share:>12.1%}")
    print()
    print(rep.table())
    if args.plot:
        print(f"plot: {args.plot}")
    print(f"({elapsed:.1f} s)")
    return 0
