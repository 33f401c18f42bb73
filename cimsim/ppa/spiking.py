"""Spiking networks against their ANN on the same chip: spikes, energy, latency, EDP/EDS/EDD.

Only events cost in a spiking run: the counts of the run (:class:`~cimsim.ops.OpCounts` per
layer) hold the spikes of every encoder and LIF layer, the row drives of the spikes, the column
read-outs and the neuron updates, so the energy and latency of :meth:`Network.report
<cimsim.nn.network.Network.report>` follow the activity of the data. :func:`compare_with_ann`
runs a spiking network and a ReLU network with the same layer shapes (by default its
:func:`~cimsim.nn.snn_convert.equivalent_ann`) on the same hardware configuration and puts
their figures side by side. EDS and EDD of both are normalised by the same reference, the
ANN's MACs on the digital unit of the technology card (:mod:`cimsim.ppa.report`), so the two
rows compare directly.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from device_models._checks import fail

from ..hardware import HardwareConfig
from .report import Report, _eng

__all__ = ["SpikingComparison", "compare_with_ann", "neuron_steps", "spikes_per_inference"]


def spikes_per_inference(evaluation, network=None) -> dict[str, float]:
    """Spikes per inference of a run: ``total``, ``input`` (encoders) and ``neurons`` (LIF
    layers), and per layer (``layer.<name>``) [-].

    Parameters
    ----------
    evaluation : Evaluation
        Result of :meth:`Network.evaluate <cimsim.nn.network.Network.evaluate>`.
    network : Network, optional
        The network, to tell encoders from neurons (default: layers whose name starts with
        ``"encoder"`` or ``"spikeencoder"`` are encoders).
    """
    from ..nn.spiking import SpikeEncoder

    enc_names = set()
    if network is not None:
        enc_names = {lay.name for lay in network.layers if isinstance(lay, SpikeEncoder)}
    out: dict[str, float] = {"total": 0.0, "input": 0.0, "neurons": 0.0}
    for name, c in evaluation.counts.items():
        if not c.spikes:
            continue
        per = c.spikes / evaluation.n
        is_enc = name in enc_names if network is not None else name.startswith(
            ("encoder", "spikeencoder"))
        out["input" if is_enc else "neurons"] += per
        out["total"] += per
        out[f"layer.{name}"] = per
    return out


def neuron_steps(network) -> int:
    """Neuron-steps of one inference: Σ over LIF layers of neurons × timesteps [-]."""
    from ..nn.spiking import LIF

    shapes = network._sample_shapes(network.layers)
    return int(sum(int(np.prod(shapes[lay.name])) * lay.timesteps
                   for lay in network.layers if isinstance(lay, LIF)))


def _row(ev, rep: Report, spikes: dict | None, n_steps: int) -> dict[str, Any]:
    m = rep.metrics()
    row = {
        "float_accuracy": ev.float_accuracy,
        "chip_accuracy": ev.analog_accuracy,
        "energy_per_inference_j": rep.energy_per_inference_j,
        "latency_per_inference_s": rep.latency_per_inference_s,
        "edp_js": m["edp_js"],
        "eds": m["eds"],
        "edd": m["edd"],
        "energy_breakdown_per_inference_j": rep.breakdown_per_inference_j,
    }
    if spikes is not None:
        row["spikes_per_inference"] = spikes["total"]
        row["input_spikes_per_inference"] = spikes["input"]
        row["neuron_spikes_per_inference"] = spikes["neurons"]
        row["neuron_activity"] = spikes["neurons"] / n_steps if n_steps else 0.0
    return row


@dataclasses.dataclass(frozen=True)
class SpikingComparison:
    """A spiking network and its ANN on the same chip (:func:`compare_with_ann`).

    Attributes
    ----------
    timesteps : int
        Steps per inference of the spiking network [-].
    snn, ann : dict
        Figures of each: ``float_accuracy``, ``chip_accuracy`` [-],
        ``energy_per_inference_j`` [J], ``latency_per_inference_s`` [s], ``edp_js`` [J·s],
        ``eds``, ``edd`` [-] (same normalisation for both), the energy breakdown; the spiking
        row adds ``spikes_per_inference`` (input and neuron spikes) and ``neuron_activity``
        (fraction of neuron-steps with a spike) [-].
    names : tuple of str
        Network names (spiking, ANN).
    n : int
        Inputs evaluated [-].
    snn_report, ann_report : Report
        The two reports (with the shared EDS/EDD reference).
    snn_evaluation, ann_evaluation : Evaluation
        The two evaluations.
    """

    timesteps: int
    snn: dict
    ann: dict
    names: tuple
    n: int
    snn_report: Report | None = dataclasses.field(default=None, repr=False)
    ann_report: Report | None = dataclasses.field(default=None, repr=False)
    snn_evaluation: Any = dataclasses.field(default=None, repr=False)
    ann_evaluation: Any = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"timesteps": self.timesteps, "n": self.n, "snn_name": self.names[0],
                "ann_name": self.names[1], "snn": dict(self.snn), "ann": dict(self.ann)}

    def table(self) -> str:
        """Side-by-side text table."""
        s, a = self.snn, self.ann
        lines = [f"{'':<26}{'SNN (' + self.names[0] + ')':>28}{'ANN (' + self.names[1] + ')':>28}"]

        def row(label, key, fmt):
            sv, av = s.get(key), a.get(key)
            lines.append(f"{label:<26}{fmt(sv) if sv is not None else '-':>28}"
                         f"{fmt(av) if av is not None else '-':>28}")

        lines.append(f"{'timesteps':<26}{self.timesteps:>28d}{'-':>28}")
        row("float accuracy", "float_accuracy", lambda v: f"{v:.4f}")
        row("chip accuracy", "chip_accuracy", lambda v: f"{v:.4f}")
        row("spikes / inference", "spikes_per_inference", lambda v: f"{v:.1f}")
        row("  input spikes", "input_spikes_per_inference", lambda v: f"{v:.1f}")
        row("  neuron spikes", "neuron_spikes_per_inference", lambda v: f"{v:.1f}")
        row("neuron activity", "neuron_activity", lambda v: f"{v:.1%}")
        row("energy / inference", "energy_per_inference_j", lambda v: _eng(v, "J"))
        row("latency / inference", "latency_per_inference_s", lambda v: _eng(v, "s"))
        row("EDP", "edp_js", lambda v: f"{v:.3g} J·s")
        row("EDS", "eds", lambda v: f"{v:.3g}")
        row("EDD", "edd", lambda v: f"{v:.3g}")
        lines.append("EDS/EDD of both normalised by the ANN's MACs on the digital unit.")
        return "\n".join(lines)


def compare_with_ann(snn, hw: HardwareConfig, x: np.ndarray, y: np.ndarray, *, ann=None,
                     t_s: float | None = None, progress: bool = False) -> SpikingComparison:
    """Run a spiking network and its ANN on chip ``hw`` and compare them.

    Parameters
    ----------
    snn : Network
        A spiking network (``timesteps`` set).
    hw : HardwareConfig
        The chip both are compiled onto (each calibrates on its own stored calibration
        inputs).
    x, y : ndarray
        Test inputs and labels.
    ann : Network, optional
        The ANN with the same layer shapes; default
        :func:`~cimsim.nn.snn_convert.equivalent_ann` of ``snn``.
    t_s : float, optional
        Read time after programming [s].
    progress : bool
        Progress bars on stderr.

    Returns
    -------
    SpikingComparison
    """
    from ..nn.network import Network
    from ..nn.snn_convert import equivalent_ann

    if not isinstance(snn, Network) or snn.timesteps is None:
        fail("snn", "compare_with_ann", "a spiking Network", snn)
    if ann is None:
        ann = equivalent_ann(snn)
    elif not isinstance(ann, Network):
        fail("ann", "compare_with_ann", "a Network", ann)
    ann.compile(hw)
    ev_a = ann.evaluate(x, y, t_s=t_s, progress=progress)
    rep_a = ann.report(ev_a)
    e_ref, d_ref = rep_a._refs()
    snn.compile(hw)
    ev_s = snn.evaluate(x, y, t_s=t_s, progress=progress)
    rep_s = dataclasses.replace(snn.report(ev_s), energy_ref_j=e_ref, delay_ref_s=d_ref)
    rep_a = dataclasses.replace(rep_a, energy_ref_j=e_ref, delay_ref_s=d_ref)
    spikes = spikes_per_inference(ev_s, snn)
    return SpikingComparison(
        timesteps=int(snn.timesteps), snn=_row(ev_s, rep_s, spikes, neuron_steps(snn)),
        ann=_row(ev_a, rep_a, None, 0), names=(snn.name, ann.name), n=ev_s.n,
        snn_report=rep_s, ann_report=rep_a, snn_evaluation=ev_s, ann_evaluation=ev_a)
