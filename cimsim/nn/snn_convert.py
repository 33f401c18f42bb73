r"""Spiking networks from trained ReLU networks, and back: conversion with threshold
balancing, the equivalent ANN, and the knobs a sweep turns (time steps, thresholds).

Conversion (Diehl et al. 2015; Rueckauer et al. 2017). A ReLU network whose layers are
Linear/Conv2d (BatchNorm folded), ReLU, Flatten and MaxPool2d becomes a rate-coded spiking
network: a :class:`~cimsim.nn.spiking.SpikeEncoder` in front, every ReLU an integrate-and-fire
neuron (:class:`~cimsim.nn.spiking.LIF` without leak, reset by subtraction, threshold 1) and
the output a spike-count read-out. Threshold balancing by data-based normalisation: with
:math:`\lambda_l` the ``percentile`` of the ReLU activations of layer :math:`l` over
calibration inputs (:math:`\lambda_0 = 1` for inputs in [0, 1]),

.. math:: W_l \leftarrow W_l\,\frac{\lambda_{l-1}}{\lambda_l}, \qquad
          b_l \leftarrow \frac{b_l}{\lambda_l},

so that the firing rate of a neuron (spikes per step) approximates its ANN activation over
:math:`\lambda_l`, saturating at one spike per step for the few activations above the
percentile. Reset by subtraction keeps the charge above threshold, which removes most of the
conversion error of reset to zero (Rueckauer et al. 2017). Max pooling of spikes is the usual
approximation (it passes the spikes of any input of the window).

The equivalent ANN of a spiking network (:func:`equivalent_ann`) replaces each spiking
neuron by a ReLU (rate ≈ ReLU(input)/θ, the :math:`1/\theta` folded into the next weighted
layer), drops the encoder and the read-out, and keeps the weights: the network the spiking one
approximates, on the same tiles.

References
----------
.. [1] P. U. Diehl, D. Neil, J. Binas, M. Cook, S.-C. Liu, M. Pfeiffer, "Fast-classifying,
   high-accuracy spiking deep networks through weight and threshold balancing", IJCNN 2015,
   doi:10.1109/IJCNN.2015.7280696.
.. [2] B. Rueckauer, I.-A. Lungu, Y. Hu, M. Pfeiffer, S.-C. Liu, "Conversion of
   continuous-valued deep networks to efficient event-driven networks for image
   classification", Frontiers in Neuroscience 11, 682 (2017), doi:10.3389/fnins.2017.00682.
"""

from __future__ import annotations

import numpy as np

from device_models._checks import check_choice, check_instance, check_int, check_scalar, fail

from .layers import (
    Conv2d,
    Flatten,
    Layer,
    Linear,
    MaxPool2d,
    ReLU,
    WeightedLayer,
    fold_batchnorm,
)
from .network import Network
from .spiking import CODINGS, LIF, SpikeEncoder

__all__ = ["convert_to_snn", "equivalent_ann", "scale_thresholds", "set_timesteps"]

_CONVERTIBLE = (Linear, Conv2d, ReLU, Flatten, MaxPool2d)


def convert_to_snn(ann: Network, x_cal: np.ndarray, *, timesteps: int = 32,
                   percentile: float = 99.9, coding: str = "rate", bits: int = 8,
                   name: str | None = None) -> Network:
    """Convert a trained ReLU network into a spiking one with threshold balancing.

    Parameters
    ----------
    ann : Network
        Layers Linear/Conv2d (BatchNorm after them is folded), ReLU, Flatten, MaxPool2d; the
        last weighted layer gives the logits. Inputs in [0, 1].
    x_cal : ndarray
        Calibration inputs (training data) for the activation percentiles.
    timesteps : int
        Steps per inference of the spiking network [-].
    percentile : float
        Percentile of each layer's positive activations that maps to one spike per step [%].
    coding : {"rate", "ttfs"}
        Input coding of the encoder.
    bits : int
        Input quantisation of the encoder [bit].
    name : str, optional
        Name of the spiking network (default: the ANN's with ``_snn``).

    Returns
    -------
    Network
        The spiking network; its ``metadata["conversion"]`` records the scales
        :math:`\\lambda_l`.
    """
    caller = "convert_to_snn"
    if not isinstance(ann, Network):
        fail("ann", caller, "a Network", ann)
    timesteps = check_int("timesteps", timesteps, caller, lo=1)
    percentile = check_scalar("percentile", percentile, caller, lo=50.0, hi=100.0)
    coding = check_choice("coding", coding, caller, CODINGS)
    layers = fold_batchnorm(ann.layers)
    for layer in layers:
        if not isinstance(layer, _CONVERTIBLE):
            fail("ann", caller, "a network of Linear, Conv2d, BatchNorm, ReLU, Flatten and "
                 "MaxPool2d layers", f"layer {layer.name!r} of type {layer.kind}")
    weighted = [i for i, lay in enumerate(layers) if isinstance(lay, WeightedLayer)]
    if not weighted:
        fail("ann", caller, "a network with weighted layers", "none")
    x = ann._check_x(x_cal, caller)
    if np.min(x) < 0.0 or np.max(x) > 1.0:
        fail("x_cal", caller, "inputs in [0, 1] (rate-coded spikes)",
             f"values in [{np.min(x)!r}, {np.max(x)!r}]")
    # activation percentiles, layer by layer, on the float network
    scales: dict[str, float] = {}
    y = x
    for i, layer in enumerate(layers):
        y = layer.forward(y)
        if isinstance(layer, WeightedLayer):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            act = np.maximum(y, 0.0)
            pos = act[act > 0]
            lam = float(np.percentile(pos, percentile)) if pos.size else 1.0
            scales[layer.name] = lam if lam > 0 else 1.0
            if nxt is not None and not isinstance(nxt, ReLU) and i != weighted[-1]:
                fail("ann", caller, "every hidden weighted layer followed by a ReLU",
                     f"layer {layer.name!r} followed by {nxt.kind}")
    out: list[Layer] = [SpikeEncoder(timesteps, coding, bits, name="encoder")]
    prev = 1.0
    for i, layer in enumerate(layers):
        if isinstance(layer, WeightedLayer):
            lam = scales[layer.name]
            new = layer.copy()
            new.weight = layer.weight * (prev / lam)
            if layer.bias is not None:
                new.bias = layer.bias / lam
            out.append(new)
            prev = lam
            if i == weighted[-1]:
                out.append(LIF(1.0, None, "subtract", 0, timesteps, "count", name="readout"))
        elif isinstance(layer, ReLU):
            out.append(LIF(1.0, None, "subtract", 0, timesteps, "spikes",
                           name=f"lif_{layer.name}"))
        else:
            out.append(layer.copy())
    meta = dict(ann.metadata)
    meta["conversion"] = {"method": "rate conversion, data-based threshold balancing",
                          "percentile": percentile, "timesteps": timesteps, "coding": coding,
                          "scales": scales, "source_network": ann.name}
    return Network(out, ann.input_shape, name=name or f"{ann.name}_snn",
                   calibration=ann.calibration, metadata=meta)


def equivalent_ann(snn: Network, *, name: str | None = None) -> Network:
    """The ReLU network a spiking network approximates, with the same weights (module
    docstring): encoders dropped, spiking neurons → ReLU (1/θ folded into the next weighted
    layer), the read-out LIF dropped."""
    caller = "equivalent_ann"
    if not isinstance(snn, Network) or snn.timesteps is None:
        fail("snn", caller, "a spiking Network (with SpikeEncoder / LIF layers)", snn)
    out: list[Layer] = []
    pending = 1.0
    for layer in snn.layers:
        if isinstance(layer, SpikeEncoder):
            continue
        if isinstance(layer, LIF):
            if layer.output == "spikes":
                out.append(ReLU(name=f"relu_{layer.name}"))
                pending = 1.0 / layer.threshold
            continue
        new = layer.copy()
        if isinstance(new, WeightedLayer) and pending != 1.0:
            new.weight = new.weight * pending
            pending = 1.0
        out.append(new)
    return Network(out, snn.input_shape, name=name or f"{snn.name}_ann",
                   calibration=snn.calibration,
                   metadata={"equivalent_ann_of": snn.name})


def set_timesteps(net: Network, timesteps: int) -> Network:
    """Set ``timesteps`` of every spiking layer of ``net`` (in place; returns ``net``)."""
    check_instance("net", net, "set_timesteps", Network)
    timesteps = check_int("timesteps", timesteps, "set_timesteps", lo=1, hi=1 << 16)
    for layer in net.layers:
        if isinstance(layer, (SpikeEncoder, LIF)):
            layer.timesteps = timesteps
    net.timesteps = timesteps if net.timesteps is not None else None
    return net


def scale_thresholds(net: Network, factor: float) -> Network:
    """Multiply the threshold of every LIF layer of ``net`` by ``factor`` (in place)."""
    check_instance("net", net, "scale_thresholds", Network)
    factor = check_scalar("factor", factor, "scale_thresholds", lo=0.0, lo_open=True)
    for layer in net.layers:
        if isinstance(layer, LIF):
            layer.threshold *= factor
    return net
