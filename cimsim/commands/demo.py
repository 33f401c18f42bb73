"""``cimsim demo``: the bundled digits CNN on the default chip, float vs analog, energy/latency.

Loads the bundled ``digits_cnn_relu`` network (trained by ``scripts/train_reference.py``),
compiles it onto the default :class:`~cimsim.hardware.HardwareConfig` (Yao 2020 TaOx 1T1R
card, 8-bit ADCs, programming noise, read noise, faults, converter noise), calibrates the ADC
ranges on the model's stored training-set calibration images, runs the 359-image held-out
digits split (progress bar on stderr) and prints float and analog accuracy, the energy and
latency per inference from :mod:`cimsim.ppa.report`, the physical tiles of the packed floorplan,
the per-layer volatility scores and the accuracy/energy trade-off of the automatic hybrid
placement (:meth:`cimsim.nn.network.PlacementConfig.from_budget` at the budgets of
:data:`BUDGETS`). Needs no training and no download.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time

import numpy as np

NAME = "demo"
HELP = "Run the bundled digits CNN on the default analog chip: accuracy, energy, latency."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="Print one JSON object (float_accuracy, analog_accuracy, "
                             "energy_per_inference_j, latency_per_inference_s, breakdown...).")
    parser.add_argument("--plot", nargs="?", const="cimsim_demo.png", default=None,
                        metavar="PNG", help="Save the per-layer energy breakdown as a PNG "
                                            "(default name cimsim_demo.png).")
    parser.add_argument("--model", default="digits_cnn_relu",
                        help="Bundled model (see cimsim.nn.models.bundled_models()): a digits "
                             "model, a spiking model (digits_snn_lif, mnist_snn_lif: beside "
                             "its ANN on the same chip), or smnist_lstm, smnist_ssm, "
                             "charlm_transformer.")
    parser.add_argument("--seed", type=int, default=0, help="Chip seed (programming, noise).")
    parser.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                        dest="set_fields",
                        help="Override a HardwareConfig field by its dotted path, e.g. "
                             "--set tile.cell=1t1r --set tile.v_gate_v=0.4 "
                             "--set temperature_k=350 (repeatable; values are parsed by the "
                             "field's type: numbers, true/false, none, strings).")
    parser.add_argument("--t-s", default=None, dest="t_s", metavar="T[,T...]",
                        help="Time(s) since programming [s] (default: the hardware's t_s). "
                             "A comma-separated list reads the one programmed chip at each "
                             "time (Network.evaluate(t_s=[...])) and prints accuracy and "
                             "energy against time (JSON: time_series).")
    parser.add_argument("--n", type=int, default=None, metavar="N",
                        help="Evaluate only the first N held-out images (quick checks).")
    parser.add_argument("--no-volatility", action="store_true",
                        help="Skip the per-layer volatility scores.")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="Evaluate on the workers of this Dask scheduler "
                             "(tcp://host:8786; Network.evaluate(client=...)): each worker "
                             "rebuilds the chip from the seed and runs a shard of the images; "
                             "the same numbers as a local run (digits models).")
    parser.add_argument("--shard", action="store_true",
                        help="With --scheduler: shard the chip's matrices over the workers "
                             "instead of the images (Network.compile(client=...): each worker "
                             "holds only its tiles, partial sums pass from shard to shard); "
                             "the same numbers as a local run.")
    parser.add_argument("--ssm-recurrence", choices=("digital", "analog"), default=None,
                        help="State-space models: run the recurrence digitally or on analog "
                             "leaky integrators (default: as stored in the model).")


def _field(cls, path: str, full: str):
    """The dataclass field at dotted ``path`` of config class ``cls`` and its type hint."""
    import dataclasses
    import typing

    from cimsim.config import Config
    from device_models.errors import ConfigError

    head, _, rest = path.partition(".")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if head not in fields:
        raise ConfigError(f"Unknown field {head!r} in {cls.__name__} (path {full!r}). "
                          f"Fields: {sorted(fields)}.")
    hint = typing.get_type_hints(cls)[head]
    if rest:
        if not (isinstance(hint, type) and issubclass(hint, Config)):
            raise ConfigError(f"Field {head!r} of {cls.__name__} has no sub-field {rest!r} "
                              f"(path {full!r}).")
        return _field(hint, rest, full)
    return hint


def _parse(hint, text: str, path: str):
    """``text`` as a value of a field with type ``hint`` (bool, int, float, str, optional)."""
    import types
    import typing

    from device_models.errors import ConfigError

    low = text.strip().lower()
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        if low in ("none", "null"):
            return None
        hint = next(a for a in args if a is not type(None))
    try:
        if hint is bool:
            if low in ("true", "1", "yes", "on"):
                return True
            if low in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
        if hint is int:
            return int(low)
        if hint is float:
            return float(low)
    except ValueError:
        kind = {bool: "true or false", int: "an integer", float: "a number"}[hint]
        raise ConfigError(f"--set {path}: {text!r} is not {kind}.") from None
    return text


def hardware(args: argparse.Namespace):
    """The demo's :class:`~cimsim.hardware.HardwareConfig`: the default chip with ``--seed``
    and every ``--set PATH=VALUE`` (validated once, as a whole, by the config)."""
    from cimsim.hardware import HardwareConfig
    from device_models.errors import ConfigError

    data = HardwareConfig(seed=args.seed).to_dict()
    for item in getattr(args, "set_fields", None) or []:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or not path:
            raise ConfigError(f"--set needs PATH=VALUE (e.g. tile.cell=1t1r). Got {item!r}.")
        value = _parse(_field(HardwareConfig, path, path), text, path)
        node = data
        *parents, leaf = path.split(".")
        for name in parents:
            node = node[name]
        node[leaf] = value
    return HardwareConfig.from_dict(data)


def times(text: str | None) -> list[float]:
    """``--t-s`` as a list of times [s] (empty: the hardware's ``t_s``); every entry a finite
    number >= 0, else a one-line error naming it."""
    if text is None:
        return []
    out = []
    for item in str(text).split(","):
        try:
            t = float(item)
        except ValueError:
            t = float("nan")
        if not (t >= 0.0 and np.isfinite(t)):
            from device_models.errors import InvalidParameterError

            raise InvalidParameterError(
                f"The '--t-s' option of cimsim demo must be times >= 0 [s], separated by "
                f"commas. Got {item.strip()!r} in {text!r}.")
        out.append(t)
    return out


def count(n: int | None, available: int, what: str) -> int:
    """``--n`` checked against what exists: all of it when not given, else an error unless
    ``1 <= n <= available`` (never clamped, so the count recorded is the count run)."""
    if n is None:
        return available
    if not 1 <= n <= available:
        from device_models.errors import InvalidParameterError

        raise InvalidParameterError(
            f"The '--n' option of cimsim demo must be in [1, {available}] (the {what}). "
            f"Got {n}.")
    return n


def _volatility(net, data) -> list:
    """Fine-tune task for the score: 256 training images shifted one pixel right (a sensor
    misalignment), two epochs of Adam at lr 1e-3 (16 steps)."""
    x = np.roll(data["x_train"][:256], 1, axis=3)
    return net.volatility(x, data["y_train"][:256], epochs=2, lr=1e-3, seed=0)


def _duration(t_s: float) -> str:
    """A time in the largest whole unit that fits (s, min, h, d, y)."""
    for unit, size in (("y", 3.1536e7), ("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t_s >= size:
            return f"{t_s / size:.3g} {unit}"
    return f"{t_s:.3g} s"


#: Digital-MAC budgets of the automatic hybrid placement the demo compares [-].
BUDGETS = (0.0, 0.05, 0.25, 1.0)


@contextlib.contextmanager
def _cluster(scheduler: str | None):
    """A Dask client of the scheduler at ``scheduler`` (None: no client, a local run)."""
    if scheduler is None:
        yield None
        return
    from cimsim.study.runner import ClusterError, _dask_client

    try:
        ctx = _dask_client(None, scheduler, None)
        client, _label = ctx.__enter__()
    except ClusterError as exc:
        raise ClusterError(str(exc).replace("or run with --workers N",
                                            "or run without --scheduler")) from None
    try:
        yield client
    finally:
        ctx.__exit__(None, None, None)


def _placement_tradeoff(net, hw, vol, x, y, t_s) -> list[dict]:
    """Accuracy, energy and latency of the automatic placement
    (:meth:`~cimsim.nn.network.PlacementConfig.from_budget`) at each of :data:`BUDGETS`; a
    placement already measured at a smaller budget is not run again."""
    from cimsim.nn.network import PlacementConfig

    macs = {d["name"]: d["macs_per_sample"] for d in net.summary()}
    total = sum(macs.values())
    rows, seen = [], {}
    for b in BUDGETS:
        pl = PlacementConfig.from_budget(vol, macs, digital_mac_budget=b)
        key = tuple(sorted(pl.digital))
        if key not in seen:
            net.compile(hw, placement=pl)
            ev = net.evaluate(x, y, t_s=t_s)
            rep = net.report(ev)
            seen[key] = {"digital_layers": list(pl.digital),
                         "digital_mac_share": sum(macs[n] for n in pl.digital) / total,
                         "analog_accuracy": ev.analog_accuracy,
                         "energy_per_inference_j": rep.energy_per_inference_j,
                         "latency_per_inference_s": rep.latency_per_inference_s,
                         "n_tiles_total": rep.n_tiles_total}
        rows.append({"digital_mac_budget": b, **seen[key]})
    return rows


def run(args: argparse.Namespace) -> int:
    from cimsim.nn.models import load_bundled, load_digits_split

    t0 = time.perf_counter()
    t_list = times(args.t_s)
    args.t_s = t_list[0] if t_list else None
    net = load_bundled(args.model)
    from ._demo_sequence import is_sequence_model, run_sequence
    from ._demo_spiking import is_spiking_model, run_spiking

    if args.scheduler is not None and (is_sequence_model(net) or is_spiking_model(net)):
        from device_models.errors import InvalidParameterError

        raise InvalidParameterError(
            f"The '--scheduler' option of cimsim demo is for the digits models. Got model "
            f"{args.model!r}.")
    if len(t_list) > 1 and (is_sequence_model(net) or is_spiking_model(net)):
        from device_models.errors import InvalidParameterError

        raise InvalidParameterError(
            f"The '--t-s' option of cimsim demo takes one time for model {args.model!r} (a "
            f"list of times is for the digits models). Got {len(t_list)} times.")
    if is_sequence_model(net):          # smnist_lstm, smnist_ssm, charlm_transformer
        return run_sequence(args, net, t0)
    if is_spiking_model(net):           # digits_snn_lif, mnist_snn_lif
        return run_spiking(args, net, t0)
    if net.input_shape != (1, 8, 8):
        from device_models.errors import InvalidParameterError

        raise InvalidParameterError(
            f"The 'model' parameter of cimsim demo must be a bundled digits or sequence "
            f"model. "
            f"Got {args.model!r} (input shape {net.input_shape}).")
    if args.shard and args.scheduler is None:
        from device_models.errors import InvalidParameterError

        raise InvalidParameterError("The '--shard' option of cimsim demo needs --scheduler "
                                    "ADDRESS (the workers to shard the matrices over).")
    data = load_digits_split()
    n = count(args.n, len(data["y_test"]), "held-out digits")
    hw = hardware(args)
    if not args.shard:
        net.compile(hw)
    with _cluster(args.scheduler) as client:
        if args.shard:        # the matrices on the workers, the images on the driver
            net.compile(hw, client=client)
        evs = net.evaluate(data["x_test"][:n], data["y_test"][:n],
                           t_s=t_list if len(t_list) > 1 else args.t_s, progress=True,
                           client=None if args.shard else client)
        if args.shard:        # the same chip, local again, for the rest of the demo
            net.close_shards()
            net.compile(hw)
    evs = evs if isinstance(evs, list) else [evs]
    ev = evs[0]
    rep = net.report(ev)
    series = []
    for e in evs if len(evs) > 1 else []:
        r = net.report(e)
        series.append({"t_s": e.t_s, "analog_accuracy": e.analog_accuracy,
                       "energy_per_inference_j": r.energy_per_inference_j,
                       "latency_per_inference_s": r.latency_per_inference_s,
                       "program_energy_j": r.program_energy_j,
                       "energy_breakdown_per_inference_j": r.breakdown_per_inference_j})
    if args.plot:
        rep.plot(args.plot)
    layers = []
    for m in net.mapping:
        lr = rep.layers.get(m.name)
        layers.append({
            "name": m.name, "kind": m.kind, "placement": m.placement,
            "matrix_shapes": [list(s) for s in m.matrix_shapes], "n_tiles": m.n_tiles,
            "physical_tiles": list(m.physical_tiles),
            "utilisation": m.utilisation, "macs_per_inference": m.macs_per_sample,
            "energy_per_inference_j": None if lr is None else lr.energy_per_inference_j,
            "latency_per_inference_s": None if lr is None else lr.latency_per_inference_s,
        })
    mapping, utilisation = list(net.mapping), net.utilisation
    vol = [] if args.no_volatility else _volatility(net, data)
    tradeoff = (_placement_tradeoff(net, hw, vol, data["x_test"][:n], data["y_test"][:n],
                                    args.t_s) if vol else [])
    elapsed = time.perf_counter() - t0
    if args.json:
        out = {
            "model": args.model, "n_test": ev.n, "t_s": ev.t_s,
            "float_accuracy": ev.float_accuracy, "analog_accuracy": ev.analog_accuracy,
            "energy_per_inference_j": rep.energy_per_inference_j,
            "latency_per_inference_s": rep.latency_per_inference_s,
            "energy_breakdown_per_inference_j": rep.breakdown_per_inference_j,
            "n_tiles_total": rep.n_tiles_total,
            "utilisation": utilisation,
            "metrics": rep.metrics(),
            "layers": layers,
            "volatility": [v.__dict__ for v in vol],
            "placement_tradeoff": tradeoff,
            "time_series": series,
            "hardware": hw.to_dict(),
            "scheduler": args.scheduler,
            "sharded_matrices": bool(args.shard),
            "elapsed_s": elapsed,
        }
        if args.plot:
            out["plot"] = str(args.plot)
        print(json.dumps(out, indent=1))
        return 0

    t = hw.tile
    print(f"cimsim demo: {args.model} on {hw.device_card} tiles "
          f"({t.rows}x{t.cols}, {t.weight_mapping}, {t.weight_bits}-bit weights, "
          f"{t.input_bits}-bit {t.input_encoding} inputs, {t.adc_bits}-bit ADCs), "
          f"T = {hw.temperature_k:g} K, t = {ev.t_s:g} s, seed {hw.seed}")
    where = (f" (matrices sharded over the workers of {args.scheduler})" if args.shard
             else f" (evaluated on the workers of {args.scheduler})" if args.scheduler else "")
    print(f"held-out digits: {ev.n} images{where}")
    print(f"  float accuracy   {ev.float_accuracy:.4f}")
    print(f"  analog accuracy  {ev.analog_accuracy:.4f}")
    print(f"  energy / inference   {rep.energy_per_inference_j:.4g} J")
    print(f"  latency / inference  {rep.latency_per_inference_s:.4g} s")
    print(f"  physical tiles       {rep.n_tiles_total} (packed; {utilisation:.1%} of their "
          f"cells hold weights)")
    print()
    print(f"{'layer':<8}{'placement':<10}{'matrix (in x out)':<20}{'blocks':>7}{'on tile':>8}"
          f"{'util':>7}{'MACs':>8}{'volatility':>12}{'reprogram':>11}")
    vmap = {v.name: v for v in vol}
    for m in mapping:
        shapes = " + ".join(f"{a}x{b}" for a, b in m.matrix_shapes)
        v = vmap.get(m.name)
        vs = f"{v.score:12.3g}{v.reprogram_fraction:11.1%}" if v else ""
        on = ",".join(str(t) for t in m.physical_tiles) or "-"
        print(f"{m.name:<8}{m.placement:<10}{shapes:<20}{m.n_tiles:>7d}{on:>8}"
              f"{m.utilisation:>7.1%}{m.macs_per_sample:>8d}{vs}")
    if series:
        print()
        print(f"the chip against time (programmed once; drift compensation "
              f"{hw.drift_compensation!r}):")
        print(f"{'t [s]':>12}{'t':>10}{'accuracy':>10}{'energy':>12}{'latency':>12}")
        for r in series:
            print(f"{r['t_s']:>12.4g}{_duration(r['t_s']):>10}{r['analog_accuracy']:>10.4f}"
                  f"{r['energy_per_inference_j'] * 1e9:>9.4g} nJ"
                  f"{r['latency_per_inference_s'] * 1e6:>9.4g} µs")
    print()
    print(rep.table())
    if vol:
        print("volatility = relative weight change under a 2-epoch fine-tune (inputs shifted one "
              "pixel) x output sensitivity; reprogram = share of weights moving by > 1 LSB "
              "(cimsim.nn.network.VolatilityScore)")
        print()
        print("automatic hybrid placement (PlacementConfig.from_budget: the most volatile "
              "layers digital, within a share of the MACs):")
        print(f"{'budget':>8}  {'digital layers':<18}{'digital MACs':>13}{'accuracy':>10}"
              f"{'energy':>12}{'latency':>12}{'tiles':>6}")
        for r in tradeoff:
            dl = ",".join(r["digital_layers"]) or "-"
            print(f"{r['digital_mac_budget']:>8.0%}  {dl:<18}{r['digital_mac_share']:>13.1%}"
                  f"{r['analog_accuracy']:>10.4f}{r['energy_per_inference_j'] * 1e9:>9.3g} nJ"
                  f"{r['latency_per_inference_s'] * 1e6:>9.3g} µs{r['n_tiles_total']:>6d}")
    if args.plot:
        print(f"plot: {args.plot}")
    print(f"({elapsed:.1f} s)")
    return 0
