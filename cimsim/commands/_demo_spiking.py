"""``cimsim demo --model NAME`` for the bundled spiking models.

* ``digits_snn_lif``: the 359 held-out digits (the ANN beside it: ``digits_mlp_relu``);
* ``mnist_snn_lif``: the 2 000 held-out images of the bundled MNIST subset (the ANN beside
  it: ``mnist_mlp_relu``).

The spiking network and its ANN (the model named in the metadata's ``ann_model``, else
:func:`cimsim.nn.snn_convert.equivalent_ann`) run on the same chip
(:func:`cimsim.ppa.spiking.compare_with_ann`); the JSON adds ``timesteps``,
``spikes_per_inference`` (and its input and neuron parts, the neuron activity) and the ANN's
figures under ``ann``. EDS/EDD of both use the ANN's digital-unit reference.
"""

from __future__ import annotations

import argparse
import json
import time


def is_spiking_model(net) -> bool:
    return getattr(net, "timesteps", None) is not None


def run_spiking(args: argparse.Namespace, net, t0: float) -> int:
    from cimsim.nn.models import load_bundled, load_digits_split, load_mnist
    from cimsim.ppa.report import _eng
    from cimsim.ppa.spiking import compare_with_ann
    from device_models.errors import InvalidParameterError

    from .demo import hardware

    t_s = args.t_s[0] if isinstance(args.t_s, (list, tuple)) else args.t_s
    if net.input_shape == (1, 8, 8):
        data, what = load_digits_split(), "held-out digits"
    elif net.input_shape == (1, 28, 28):
        data, what = load_mnist(), "held-out MNIST images"
    else:
        raise InvalidParameterError(
            f"The 'model' parameter of cimsim demo must be a bundled digits or MNIST spiking "
            f"model. Got {args.model!r} (input shape {net.input_shape}).")
    ann_name = net.metadata.get("ann_model")
    ann = load_bundled(ann_name) if ann_name else None
    hw = hardware(args)
    y = data["y_test"]
    n = len(y) if args.n is None else max(1, min(args.n, len(y)))
    cmp = compare_with_ann(net, hw, data["x_test"][:n], y[:n], ann=ann, t_s=t_s,
                           progress=True)
    rep, ev = cmp.snn_report, cmp.snn_evaluation
    elapsed = time.perf_counter() - t0
    if args.plot:
        rep.plot(args.plot)
    s = cmp.snn
    if args.json:
        out = {
            "model": args.model, "n_test": ev.n, "t_s": ev.t_s,
            "timesteps": cmp.timesteps,
            "spikes_per_inference": s["spikes_per_inference"],
            "input_spikes_per_inference": s["input_spikes_per_inference"],
            "neuron_spikes_per_inference": s["neuron_spikes_per_inference"],
            "neuron_activity": s["neuron_activity"],
            "float_accuracy": ev.float_accuracy, "analog_accuracy": ev.analog_accuracy,
            "energy_per_inference_j": rep.energy_per_inference_j,
            "latency_per_inference_s": rep.latency_per_inference_s,
            "energy_breakdown_per_inference_j": rep.breakdown_per_inference_j,
            "metrics": rep.metrics(),
            "n_tiles_total": net.n_tiles,
            "neuron_membrane": hw.neuron.membrane,
            "ann": {"model": cmp.names[1], **cmp.ann},
            "hardware": hw.to_dict(),
            "elapsed_s": elapsed,
        }
        if args.plot:
            out["plot"] = str(args.plot)
        print(json.dumps(out, indent=1))
        return 0
    t = hw.tile
    print(f"cimsim demo: {args.model} ({cmp.timesteps} time steps, {hw.neuron.membrane} "
          f"membranes) on {hw.device_card} tiles ({t.rows}x{t.cols}, {t.adc_bits}-bit ADCs), "
          f"T = {hw.temperature_k:g} K, t = {ev.t_s:g} s, seed {hw.seed}")
    print(f"{what}: {ev.n}; the ANN {cmp.names[1]} on the same chip beside it")
    print()
    print(cmp.table())
    print()
    print(f"spiking network: {_eng(rep.energy_per_inference_j, 'J')} per inference")
    print(rep.table())
    if args.plot:
        print(f"plot: {args.plot}")
    print(f"({elapsed:.1f} s)")
    return 0
