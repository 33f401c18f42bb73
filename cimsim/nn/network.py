"""Networks of layers: float reference, compilation onto analog tiles, hybrid placement.

A :class:`Network` is a sequence of :mod:`cimsim.nn.layers` layers with a known input shape. Its
float forward (:meth:`Network.forward`) is the software reference. :meth:`Network.compile`
builds the hardware version: BatchNorm is folded into the preceding weighted layer, every
*analog* weighted layer (Linear, each group of a Conv2d) becomes a
:class:`cimsim.tile.matrix.AnalogMatrix` (tiled, mapped to conductances, programmed with the chip's
seed) and the ADC ranges are calibrated on calibration inputs propagated through the analog
network itself, as a chip would be calibrated. :meth:`Network.run` then infers on the tiles at a
time ``t_s`` after programming, :meth:`Network.evaluate` reports analog and float accuracy side
by side, and the per-layer :class:`~cimsim.ops.OpCounts` of every run feed the energy report.

Which weighted layers run analog and which digital is a :class:`PlacementConfig`;
:meth:`Network.volatility` computes a per-layer score to guide that choice (defined in
:class:`VolatilityScore`), and :meth:`PlacementConfig.from_budget` makes it automatically (the
most volatile layers digital, within a share of the MACs). The analog layers' weight blocks
are placed on physical tiles by :func:`cimsim.array.packing.pack_blocks` (small layers share a
tile unless ``PlacementConfig.pack_tiles`` is off); the result is :attr:`Network.floorplan`.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from device_models import rng
from device_models._checks import (
    check_array,
    check_instance,
    check_int,
    check_labels,
    check_scalar,
    check_seed,
    check_shape,
    fail,
)
from device_models.errors import InvalidParameterError, UnknownNameError

from ..array.packing import Block, Floorplan, pack_blocks
from ..config import Config, param
from ..hardware import HardwareConfig
from ..ops import OpCounts
from ..tile.compensation import MAX_READS, READ_STRIDE
from .layers import (
    Conv2d,
    Layer,
    Residual,
    WeightedLayer,
    add_ops,
    check_layers,
    fold_batchnorm,
    iter_layers,
    run_digital_ops,
)
from .sequence import STEP_STRIDE
from .spiking import binary_input_layers, network_timesteps, spike_drive

__all__ = [
    "Evaluation",
    "LayerMapping",
    "Network",
    "PlacementConfig",
    "VolatilityScore",
    "softmax_cross_entropy",
]


@dataclasses.dataclass(frozen=True)
class PlacementConfig(Config):
    """Which weighted layers (Linear / Conv2d) run on analog tiles and which digitally.

    Layers named in ``analog`` or ``digital`` take that placement; the others take
    ``default``. Non-weighted layers (activations, pooling, residual adds, unfolded BatchNorm)
    always run digitally. With ``pack_tiles`` the weight blocks of small layers share physical
    tiles, stacked along the word lines (:mod:`cimsim.array.packing`): the chip has fewer
    tiles, and blocks sharing a tile are read one after another.
    """

    default: str = param("analog", choices=("analog", "digital"),
                         doc="Placement of weighted layers not listed below.")
    analog: tuple[str, ...] = param((), doc="Names of weighted layers forced onto analog tiles.")
    digital: tuple[str, ...] = param((), doc="Names of weighted layers kept digital (exact).")
    pack_tiles: bool = param(True, doc="Small layers' blocks share physical tiles.")

    def validate(self) -> None:
        both = sorted(set(self.analog) & set(self.digital))
        if both:
            self._fail("digital", "disjoint from 'analog'", both)

    @classmethod
    def from_volatility(cls, scores: Sequence[VolatilityScore], *, max_score: float,
                        max_reprogram_fraction: float = 1.0) -> PlacementConfig:
        """Analog by default; layers whose :class:`VolatilityScore` ``score`` exceeds
        ``max_score`` or whose ``reprogram_fraction`` exceeds ``max_reprogram_fraction`` are
        kept digital."""
        max_score = check_scalar("max_score", max_score, "PlacementConfig.from_volatility",
                                 lo=0.0)
        digital = tuple(s.name for s in scores if s.score > max_score
                        or s.reprogram_fraction > max_reprogram_fraction)
        return cls(default="analog", digital=digital)

    @classmethod
    def from_budget(cls, scores: Sequence[VolatilityScore], macs: Mapping[str, float], *,
                    digital_mac_budget: float, pack_tiles: bool = True) -> PlacementConfig:
        """Automatic hybrid placement: the most volatile layers go digital, within a budget.

        Layers are taken in order of decreasing :class:`VolatilityScore` ``score``; each layer
        with a positive score moves to the digital unit if its MACs fit in what is left of
        ``digital_mac_budget`` × the network's MACs (a layer that does not fit is skipped and
        the next, less volatile one tried). The rest stays analog. A budget of 0 is all
        analog, 1 all digital.

        Parameters
        ----------
        scores : sequence of VolatilityScore
            From :meth:`Network.volatility`.
        macs : Mapping[str, float]
            MACs per inference of every weighted layer (``macs_per_sample`` of
            :meth:`Network.summary`) [-].
        digital_mac_budget : float
            Largest share of the network's MACs run digitally, in [0, 1] [-].
        pack_tiles : bool
            As the field.
        """
        caller = "PlacementConfig.from_budget"
        budget = check_scalar("digital_mac_budget", digital_mac_budget, caller, lo=0.0, hi=1.0)
        if not isinstance(macs, Mapping):
            fail("macs", caller, "a mapping of layer name to MACs", macs)
        total = float(sum(macs.values()))
        left = budget * total
        digital = []
        for sc in sorted(scores, key=lambda v: -v.score):
            if sc.name not in macs:
                fail("scores", caller, f"scores of the layers {sorted(macs)}", sc.name,
                     exc=UnknownNameError)
            m = float(macs[sc.name])
            if sc.score > 0.0 and m <= left * (1.0 + 1e-12):
                digital.append(sc.name)
                left -= m
        return cls(default="analog", digital=tuple(digital), pack_tiles=pack_tiles)

    def placement_of(self, name: str) -> str:
        if name in self.analog:
            return "analog"
        if name in self.digital:
            return "digital"
        return self.default


@dataclasses.dataclass(frozen=True)
class LayerMapping:
    """How one weighted layer was compiled.

    Attributes
    ----------
    name, kind : str
    placement : str
        ``"analog"`` or ``"digital"``.
    matrix_shapes : tuple of (int, int)
        ``(in, out)`` of each matrix (one per convolution group).
    n_tiles : int
        Weight blocks of the layer, one tile's worth each (0 for digital layers).
    utilisation : float
        Fraction of the cells of the physical tiles holding the layer's blocks that hold its
        weights (NaN for digital layers); with packing those tiles also hold other layers.
    macs_per_sample : int
        Multiply-accumulates of one inference through this layer.
    physical_tiles : tuple of int
        Physical tiles (of :attr:`Network.floorplan`) holding the layer's blocks.
    """

    name: str
    kind: str
    placement: str
    matrix_shapes: tuple
    n_tiles: int
    utilisation: float
    macs_per_sample: int
    physical_tiles: tuple = ()


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Result of :meth:`Network.evaluate`.

    ``counts`` maps each analog layer name to the :class:`~cimsim.ops.OpCounts` of the whole
    evaluation (``n`` samples); ``digital_macs`` maps digital weighted layers to their MACs;
    ``digital_ops`` maps every layer with digital work to its operations (breakdown line →
    operation → count, :meth:`cimsim.nn.layers.Layer.digital_ops`). With drift compensation
    ``compensation_counts`` maps analog layers to the counts of their reference reads for this
    read (``HardwareConfig.drift_compensation``), and with a refresh policy
    ``refresh_counts`` to the programming pulses and energy of the refreshes before ``t_s``;
    :meth:`Network.report` charges both.
    """

    n: int
    float_accuracy: float
    analog_accuracy: float
    counts: dict
    digital_macs: dict
    t_s: float
    digital_ops: dict = dataclasses.field(default_factory=dict)
    compensation_counts: dict = dataclasses.field(default_factory=dict)
    refresh_counts: dict = dataclasses.field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        return self.analog_accuracy


@dataclasses.dataclass(frozen=True)
class VolatilityScore:
    r"""Per-layer volatility score: how much fine-tuning moves a layer and how much that matters.

    For weighted layer :math:`l` with weights :math:`W_l` before and :math:`W_l'` after a
    fine-tuning run (``epochs`` epochs of Adam on the fine-tuning data, all layers trainable):

    * ``relative_change`` :math:`\Delta_l = \lVert W_l' - W_l\rVert_F / \lVert W_l\rVert_F`
      — how much the weights move [-];
    * ``reprogram_fraction`` :math:`\rho_l` = fraction of weights with
      :math:`|W_l' - W_l| > q_l`, :math:`q_l = \max|W_l| / (2^{b-1} - 1)` one weight
      quantisation step at ``weight_bits`` :math:`b` — how many cells a chip would have to
      rewrite, i.e. how often a cell changes per fine-tune [-];
    * ``sensitivity`` :math:`S_l = \lVert f(x; W_l \odot (1 + \sigma\varepsilon)) - f(x; W)
      \rVert_F / (\sigma \lVert f(x; W)\rVert_F)`, with :math:`\varepsilon` standard normal
      (seeded) and :math:`\sigma` = ``sigma`` — relative change of the network output (logits on
      the fine-tuning inputs) per unit relative weight perturbation of that layer alone [-];
    * ``score`` :math:`V_l = \Delta_l \cdot S_l` — the first-order relative output change the
      fine-tune's weight change in layer :math:`l` causes [-].

    High :math:`V_l` (and high :math:`\rho_l`) marks layers that are costly to keep in analog
    memory, which is slow and energy-hungry to reprogram; low ones are good analog candidates.
    """

    name: str
    relative_change: float
    reprogram_fraction: float
    sensitivity: float
    score: float



def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of integer ``labels`` under ``softmax(logits)`` and its gradient."""
    caller = "softmax_cross_entropy"
    logits = check_array("logits", logits, caller, ndim=2)
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        fail("logits", caller, "of shape (N, classes) with N, classes >= 1",
             f"array of shape {logits.shape}")
    labels = check_labels("labels", labels, caller, logits.shape[1])
    if labels.shape[0] != logits.shape[0]:
        fail("labels", caller, f"of length {logits.shape[0]} (one per row of logits)",
             f"array of shape {labels.shape}")
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -float(logp[np.arange(n), labels].mean())
    grad = np.exp(logp)
    grad[np.arange(n), labels] -= 1.0
    return loss, grad / n


def _progress(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", file=sys.stderr, leave=False)


def _accumulate(into: dict, extra: dict) -> None:
    for k, v in extra.items():
        into[k] = into[k] + v if k in into else v


class _TileHook:
    """The ``matmul`` hook of one pass of a compiled network over ``n`` samples starting at
    sample ``first`` (protocol in :mod:`cimsim.nn.sequence`): analog matrices run on their
    tiles (calibrated on their first call of a calibration pass), digital ones in float."""

    def __init__(self, net: Network, n: int, first: int, t_s: float | None,
                 calibrating: bool, offset: int = 0) -> None:
        self.net, self.n, self.first, self.t_s = net, n, first, t_s
        self.offset = offset
        self.calibrating = calibrating
        self.hardware = net.hardware
        self.counts: dict[str, OpCounts] = {}
        self.digital: dict[str, int] = {}
        self.rewrites: dict[str, dict] = {}
        self._calibrated: set[int] = set()

    def __call__(self, layer: Layer, g: int, patches: np.ndarray, *, step: int = 0):
        ams = self.net._analog.get(layer.name)
        if ams is None:
            w = layer.matrices()[g]
            self.digital[layer.name] = self.digital.get(layer.name, 0) + patches.shape[0] * w.size
            return patches @ w
        am = ams[g]
        if self.calibrating and id(am) not in self._calibrated:
            am.calibrate(patches)
            self._calibrated.add(id(am))
        per_sample = patches.shape[0] // self.n
        y, c = am.matmul(patches, t_s=self.t_s,
                         sample_offset=self.offset + step * STEP_STRIDE
                         + self.first * per_sample)
        self._add(layer.name, c)
        return y

    def _add(self, name: str, c: OpCounts) -> None:
        if name in self.counts:
            self.counts[name] += c
        else:
            self.counts[name] = c

    def add_counts(self, name: str, counts: OpCounts, **rewrites) -> None:
        """Counts of tiles a layer wrote and ran itself during the pass (e.g. attention
        scores on tiles); ``rewrites`` (``rewrite`` OpCounts, ``cells_written``) are kept
        apart in :attr:`Network.last_rewrites`."""
        self._add(name, counts)
        _accumulate(self.rewrites.setdefault(name, {}), rewrites)


class Network:
    """A sequential network with a float reference and an analog (tiled) compilation.

    Parameters
    ----------
    layers : sequence of Layer
        Executed in order; names must be unique (empty names are filled in as
        ``"<kind><index>"``, e.g. ``"conv2d0"``).
    input_shape : tuple of int
        Shape of one sample, e.g. ``(1, 8, 8)`` for an image or ``(64,)`` for a vector.
    name : str
    calibration : ndarray or None
        Default calibration inputs (used by :meth:`compile` when none are passed).
    metadata : dict or None
        Free-form JSON-able information (training recipe, data set, accuracy).
    """

    def __init__(self, layers: Sequence[Layer], input_shape: Sequence[int], *, name: str = "",
                 calibration: np.ndarray | None = None, metadata: dict | None = None) -> None:
        self.layers = check_layers("layers", layers, "Network")
        self.input_shape = check_shape("input_shape", input_shape, "Network", nonempty=True)
        self.name = check_instance("name", name, "Network", str)
        if metadata is not None:
            check_instance("metadata", metadata, "Network", dict)
        self.metadata = dict(metadata or {})
        counter: dict[str, int] = {}
        seen: set[str] = set()
        for layer in iter_layers(self.layers):
            if not layer.name:
                base = layer.kind.lower()
                layer.name = f"{base}{counter.get(base, 0)}"
                counter[base] = counter.get(base, 0) + 1
            if layer.name in seen:
                fail("layers", "Network", "layers with unique names",
                     f"duplicate name {layer.name!r}")
            seen.add(layer.name)
        self.output_shape = self._infer_shapes()
        self.calibration = None if calibration is None else self._check_x(calibration, "Network")
        self.hardware: HardwareConfig | None = None
        self.placement = PlacementConfig()
        self.mapping: list[LayerMapping] = []
        self.floorplan: Floorplan | None = None
        self.program_counts: dict[str, OpCounts] = {}
        self.last_counts: dict[str, OpCounts] = {}
        self.last_digital_macs: dict[str, int] = {}
        self.last_digital_ops: dict[str, dict[str, dict[str, float]]] = {}
        #: Per layer: tiles written during the last run (attention scores on tiles):
        #: ``rewrite`` (OpCounts with program pulses and energy), ``cells_written``.
        self.last_rewrites: dict[str, dict] = {}
        self._pass_rewrites: dict[str, dict] = {}
        self._plan: list[Layer] = []
        self._binary: set[str] = set()
        #: Time steps per inference of a spiking network (None for other networks).
        self.timesteps = network_timesteps(self.layers)
        self._last_n = 0
        self._analog: dict[str, list[Any]] = {}
        self._compile_inputs: tuple | None = None
        self._wrapped = False

    # -- shapes and the float reference ------------------------------------------------------
    def _infer_shapes(self) -> tuple[int, ...]:
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def _check_x(self, x: Any, caller: str, name: str = "x", *,
                 nonempty: bool = False) -> np.ndarray:
        x = check_array(name, x, caller)
        if x.shape[1:] != self.input_shape or x.ndim == 0:
            fail(name, caller, f"of shape (N, {', '.join(map(str, self.input_shape))})",
                 f"array of shape {x.shape}")
        if nonempty and x.shape[0] == 0:
            fail(name, caller, "at least one input (N >= 1)", f"array of shape {x.shape}")
        return x

    @property
    def weighted_layers(self) -> list[WeightedLayer]:
        return [lay for lay in iter_layers(self.layers) if isinstance(lay, WeightedLayer)]

    def forward(self, x: np.ndarray, *, train: bool = False, first: int = 0) -> np.ndarray:
        """Float software reference (the original layers, BatchNorm unfolded); ``first`` is
        the stream position of ``x[0]`` for layers that draw per sample (a stochastic spike
        encoder, ``takes_position``)."""
        y = self._check_x(x, "Network.forward")
        if not isinstance(train, (bool, np.bool_)):
            fail("train", "Network.forward", "True or False", train)
        first = rng.check_offset("first", first, "Network.forward")
        for layer in self.layers:
            if getattr(layer, "takes_position", False):
                y = layer.forward(y, train=train, first=first)
            else:
                y = layer.forward(y, train=train)
        self._trained_forward = bool(train)
        return y

    def backward(self, grad: np.ndarray) -> None:
        """Back-propagate ``d loss / d output`` of the last ``forward(train=True)``."""
        if not getattr(self, "_trained_forward", False):
            fail("grad", "Network.backward", "given after forward(x, train=True)",
                 "a call without one")
        grad = check_array("grad", grad, "Network.backward")
        for layer in reversed(self.layers):
            grad = layer.backward(grad)

    def predict_float(self, x: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
        from ..kernels.parallel import blas_single_thread

        x = self._check_x(x, "Network.predict_float")
        batch_size = check_int("batch_size", batch_size, "Network.predict_float", lo=1)
        with blas_single_thread():  # small GEMMs: BLAS threads only contend
            return np.concatenate([self.forward(x[i: i + batch_size], first=i).argmax(axis=-1)
                                   for i in range(0, len(x), batch_size)])

    def copy(self) -> Network:
        return Network([lay.copy() for lay in self.layers], self.input_shape, name=self.name,
                       calibration=self.calibration, metadata=self.metadata)

    # -- compilation -------------------------------------------------------------------------
    def compile(self, hardware: HardwareConfig, x_cal: np.ndarray | None = None, *,
                placement: PlacementConfig | dict | None = None, client=None,
                shard: Sequence[str] | Mapping[str, tuple[int, int]] | None = None) -> Network:
        """Map the analog layers onto tiles, program them and calibrate the ADC ranges.

        Parameters
        ----------
        hardware : HardwareConfig
            The chip (cards, tile geometry, non-idealities, ``seed``, ``t_s``).
        x_cal : ndarray, shape ``(N, *input_shape)``, optional
            Calibration inputs (training data, not the test split); default the network's
            ``calibration`` array.
        placement : PlacementConfig or dict, optional
            Analog/digital placement of the weighted layers (default: all analog).
        client : distributed.Client, optional
            Build the matrices of the layers in ``shard`` as
            :class:`~cimsim.tile.distributed.ShardedMatrix` on the cluster's workers: each
            worker holds only its pieces' tiles, the partial sums pass from row shard to row
            shard as on a chip, and every call of such a matrix runs on the workers (one
            chunk per call: the numbers of the local matrix). For a chip too large for the
            driver; :meth:`evaluate` with ``client=`` (batch sharding, every worker holding
            the whole chip) is the faster way for a chip that fits one machine.
        shard : sequence of str or mapping, optional
            With ``client``: the analog layers to shard (default every analog layer whose
            matrices can be: not driven by spikes and not feeding neuron circuits), or a
            mapping layer name → ``(n_shards, col_shards)`` (row shards and column groups,
            :class:`~cimsim.tile.distributed.ShardedMatrix`; default one row shard per
            worker, at most one per row block, and no column groups).

        Returns
        -------
        Network
            ``self``, compiled (``mapping``, ``program_counts`` filled in).
        """
        from ..tile.matrix import AnalogMatrix

        if not isinstance(hardware, HardwareConfig):
            fail("hardware", "Network.compile", "a HardwareConfig", hardware)
        if placement is None:
            placement = PlacementConfig()
        elif isinstance(placement, dict):
            placement = PlacementConfig.from_dict(placement)
        elif not isinstance(placement, PlacementConfig):
            fail("placement", "Network.compile", "a PlacementConfig or dict", placement)
        names = [lay.name for lay in self.weighted_layers]
        for listed in (*placement.analog, *placement.digital):
            if listed not in names:
                fail("placement", "Network.compile", f"naming weighted layers {names}",
                     listed, exc=UnknownNameError)
        if x_cal is None:
            x_cal = self.calibration
        if x_cal is None:
            fail("x_cal", "Network.compile", "calibration inputs (the network has none stored)",
                 None)
        x_cal = self._check_x(x_cal, "Network.compile", "x_cal", nonempty=True)
        shards = self._shard_plan(placement, client, shard)
        self.close_shards()

        self.hardware, self.placement = hardware, placement
        #: What the chip was built from (a worker rebuilds it from these, bit for bit).
        self._compile_inputs = (hardware, x_cal, placement)
        self._wrapped = False
        self._plan = fold_batchnorm(self.layers)
        self._analog, self.mapping, self.program_counts = {}, [], {}
        shapes = self._sample_shapes(self._plan)
        self._binary = binary_input_layers(self._plan)
        pieces = 0      # of the sharded matrices so far
        for idx, layer in enumerate(w for w in iter_layers(self._plan)
                                    if isinstance(w, WeightedLayer)):
            where = placement.placement_of(layer.name)
            mats = layer.matrices()
            macs = self._macs_per_sample(layer, shapes[layer.name])
            if where == "analog":
                # spikes drive the rows as binary pulses: a 1-bit row drive, one cycle,
                # read only in the steps that carry a spike
                spikes = layer.name in self._binary
                hw_l = spike_drive(hardware) if spikes else hardware
                if layer.name in shards:
                    from ..tile.distributed import ShardedMatrix

                    n_sh, n_col = shards[layer.name]
                    ams = []
                    for g, m in enumerate(mats):     # the matrices spread over the workers
                        ams.append(ShardedMatrix(
                            np.ascontiguousarray(m), hw_l, client=client, n_shards=n_sh,
                            col_shards=n_col, batch_size=None, first_worker=pieces,
                            name=f"{layer.name}[{g}]", seed_tag=1000 * idx + g))
                        pieces += len(ams[-1].workers)
                else:
                    ams = [AnalogMatrix(np.ascontiguousarray(m), hw_l,
                                        name=f"{layer.name}[{g}]", seed_tag=1000 * idx + g,
                                        spike_input=spikes)
                           for g, m in enumerate(mats)]
                self._analog[layer.name] = ams
                prog = OpCounts()
                for am in ams:
                    prog += am.program_counts
                self.program_counts[layer.name] = prog
                n_tiles = sum(am.n_tiles for am in ams)
                util = float(sum(am.utilisation * am.n_tiles for am in ams) / n_tiles)
            else:
                n_tiles, util = 0, float("nan")
            self.mapping.append(LayerMapping(
                layer.name, layer.kind, where, tuple(tuple(m.shape) for m in mats), n_tiles,
                util, macs))
        # Layers with circuits of their own (neurons) build them for this chip, fed by the
        # analog matrices of the weighted layer right before them.
        for idx, layer in enumerate(self._plan):
            attach = getattr(layer, "attach_hardware", None)
            if attach is not None:
                prev = self._plan[idx - 1] if idx else None
                attach(hardware, seed_tag=idx, in_shape=shapes[layer.name],
                       upstream=self._analog.get(prev.name) if prev is not None else None)
        self._place(hardware, placement)
        # Calibrate layer by layer on inputs that went through the analog layers before it.
        self._execute(x_cal, t_s=None, calibrate=True)
        for name, ams in self._analog.items():     # with the reference reads at programming
            prog = OpCounts()
            for am in ams:
                prog += am.program_counts
            self.program_counts[name] = prog
        return self

    def _shard_plan(self, placement: PlacementConfig, client, shard) -> dict[str, tuple]:
        """Layer name → ``(n_shards, col_shards)`` (None: the default) of the layers whose
        matrices :meth:`compile` shards over ``client`` (checked)."""
        caller = "Network.compile"
        if client is None:
            if shard is not None:
                fail("shard", caller, "None without a client (client=)", shard)
            return {}
        from distributed import Client

        if not isinstance(client, Client):
            fail("client", caller, "a distributed.Client (or None)", client)
        plan = fold_batchnorm(self.layers)
        feeds_neurons = {plan[i - 1].name for i in range(1, len(plan))
                         if getattr(plan[i], "attach_hardware", None) is not None}
        spikes = binary_input_layers(plan)
        eligible = [lay.name for lay in iter_layers(plan) if isinstance(lay, WeightedLayer)
                    and placement.placement_of(lay.name) == "analog"
                    and lay.name not in feeds_neurons and lay.name not in spikes]
        if shard is None:
            return dict.fromkeys(eligible, (None, None))
        if isinstance(shard, str) or not isinstance(shard, (Sequence, Mapping)):
            fail("shard", caller, "a sequence of layer names or a mapping name -> (n_shards, "
                 "col_shards)", shard)
        out = {}
        for name in shard:
            if name not in eligible:
                fail("shard", caller, f"naming analog layers that can be sharded {eligible} "
                     "(not driven by spikes, not feeding neurons)", name,
                     exc=UnknownNameError)
            split = shard[name] if isinstance(shard, Mapping) else (None, None)
            if (not isinstance(split, (tuple, list)) or len(split) != 2
                    or not all(v is None or isinstance(v, (int, np.integer)) for v in split)):
                fail("shard", caller, "(n_shards, col_shards) pairs of integers or None",
                     f"{name!r}: {split!r}")
            out[name] = tuple(split)
        return out

    @property
    def sharded(self) -> bool:
        """Whether some analog matrices live on Dask workers (:meth:`compile` ``client=``)."""
        from ..tile.distributed import ShardedMatrix

        return any(isinstance(m, ShardedMatrix) for ms in self._analog.values() for m in ms)

    def close_shards(self) -> None:
        """Free the workers' tiles of the sharded matrices (:meth:`compile` ``client=``); the
        network needs compiling again before it runs."""
        from ..tile.distributed import ShardedMatrix

        for ms in self._analog.values():
            for m in ms:
                if isinstance(m, ShardedMatrix):
                    m.close()
        if self.sharded:
            self._analog, self.hardware = {}, None

    def _place(self, hardware: HardwareConfig, placement: PlacementConfig) -> None:
        """Floorplan of the analog layers' blocks (:func:`cimsim.array.packing.pack_blocks`);
        each layer's mapping gets its physical tiles and the utilisation of those tiles."""
        blocks = [Block(name, g, i, tile.rows_used, tile.n_phys)
                  for name, ams in self._analog.items() for g, am in enumerate(ams)
                  for i, tile in enumerate(am.tiles)]
        self.floorplan = pack_blocks(blocks, hardware.tile.rows, hardware.tile.cols,
                                     pack=placement.pack_tiles)
        self.mapping = [
            dataclasses.replace(m, utilisation=self.floorplan.layer_utilisation(m.name),
                                physical_tiles=tuple(self.floorplan.tiles_of(m.name)))
            if m.placement == "analog" else m for m in self.mapping]

    def _sample_shapes(self, layers: Sequence[Layer]) -> dict[str, tuple[int, ...]]:
        shapes: dict[str, tuple[int, ...]] = {}

        def walk(seq, shape):
            for lay in seq:
                shapes[lay.name] = shape
                if isinstance(lay, Residual):
                    walk(lay.body, shape)
                shape = lay.output_shape(shape)
            return shape

        walk(layers, self.input_shape)
        return shapes

    @staticmethod
    def _macs_per_sample(layer: WeightedLayer, in_shape: tuple[int, ...]) -> int:
        if hasattr(layer, "macs_per_sample"):       # sequence layers: per time step
            return int(layer.macs_per_sample(in_shape))
        out = layer.output_shape(in_shape)
        # a convolution's matrix runs at every output pixel, a Linear at every leading index
        positions = int(np.prod(out[1:] if isinstance(layer, Conv2d) else out[:-1]))
        return positions * sum(m.shape[0] * m.shape[1] for m in layer.matrices())

    @property
    def compiled(self) -> bool:
        return self.hardware is not None

    @property
    def n_tiles(self) -> int:
        """Physical tiles of the compiled chip (after packing) [-]."""
        if self.floorplan is not None:
            return self.floorplan.n_tiles
        return sum(m.n_tiles for m in self.mapping)

    @property
    def utilisation(self) -> float:
        """Cells holding weights over all cells of the chip's physical tiles [-]."""
        return self.floorplan.utilisation if self.floorplan is not None else float("nan")

    def wrap_analog_matrices(self, wrap: Callable[[Any], Any]) -> None:
        """Replace every compiled analog matrix ``m`` by ``wrap(m)``, in place.

        ``wrap(m)`` must offer ``calibrate(x_cal)`` and ``matmul(x, *, t_s, sample_offset)``
        like :class:`~cimsim.tile.matrix.AnalogMatrix`, e.g. a digital post-processing stage around
        ``m``; the next :meth:`compile` builds fresh matrices again.
        """
        if not callable(wrap):
            fail("wrap", "Network.wrap_analog_matrices", "a callable wrap(m)", wrap)
        for name, mats in self._analog.items():
            self._analog[name] = [wrap(m) for m in mats]
        self._wrapped = True

    def _execute(self, x: np.ndarray, *, t_s: float | None, calibrate: bool = False,
                 first: int = 0, read: int = 0, ops_out: dict | None = None):
        """Run the compiled plan on ``x`` whose first sample is sample ``first`` of read
        ``read`` of the chip: the tiles' read-noise streams are indexed by sample position
        (read ``k`` starts at ``k·READ_STRIDE``, time step ``t`` of a recurrent product at
        ``t·STEP_STRIDE`` within it), so a run does not depend on how it is split into
        batches, and every read of the chip draws its own noise. The digital operations of
        every layer are added into ``ops_out`` (layer name → line → operation → count) when
        given."""
        hook = _TileHook(self, len(x), first, t_s, calibrate, read * READ_STRIDE)
        y = x
        for layer in self._plan:
            y_in, y = y, layer.forward(y, matmul=hook)
            if ops_out is not None:
                for name, ops in run_digital_ops(layer, y_in, y).items():
                    add_ops(ops_out.setdefault(name, {}), ops)
        self._pass_rewrites = hook.rewrites
        return y, hook.counts, hook.digital

    def run(self, x: np.ndarray, *, t_s: float | None = None, batch_size: int = 512,
            progress: bool = False, read: int = 0) -> np.ndarray:
        """Infer on the compiled hardware; returns the network outputs (logits).

        Parameters
        ----------
        x : ndarray, shape ``(N, *input_shape)``
        t_s : float, optional
            Time since programming [s] (drift / relaxation); default ``hardware.t_s``.
        batch_size : int
            Samples per tile call.
        progress : bool
            Show a tqdm progress bar on stderr.
        read : int
            Index of this read of the programmed chip: read ``k`` takes its read-noise and
            comparator-noise numbers from stream positions ``k·READ_STRIDE + sample``, so
            different reads draw fresh noise and the same ``read`` repeats them.

        Every run reads the tiles' noise streams from the start of its read, so the result is
        a pure function of the inputs, the hardware (``seed``), ``t_s`` and ``read``,
        independent of ``batch_size``. The per-layer OpCounts of this call are left in
        ``last_counts`` (the MACs of digital weighted layers in ``last_digital_macs``, the
        digital operations of every layer in ``last_digital_ops``).
        """
        if not self.compiled:
            raise InvalidParameterError("Network.run must be called on a compiled network "
                                        "(call compile(hardware) first). Got an uncompiled one.")
        x = self._check_x(x, "Network.run", nonempty=True)
        if t_s is not None:
            t_s = check_scalar("t_s", t_s, "Network.run", lo=0.0)
        batch_size = check_int("batch_size", batch_size, "Network.run", lo=1)
        read = check_int("read", read, "Network.run", lo=0, hi=MAX_READS - 1)
        return self._combine_chunks(self._run_chunks(x, t_s, batch_size, read,
                                                     progress=progress), len(x))

    def _run_chunks(self, x: np.ndarray, t_s: float | None, batch_size: int, read: int, *,
                    first: int = 0, progress: bool = False) -> list[tuple]:
        """Run ``x`` (samples ``first …`` of read ``read``) in chunks of ``batch_size``; per
        chunk ``(outputs, counts, digital MACs, digital ops, tile rewrites)``, in order."""
        chunks = []
        bar = _progress(progress, len(x), f"{self.name or 'network'} on tiles")
        for i in range(0, len(x), batch_size):
            ops: dict[str, dict[str, dict[str, float]]] = {}
            y, counts, dig = self._execute(x[i: i + batch_size], t_s=t_s, first=first + i,
                                           read=read, ops_out=ops)
            rewrites: dict[str, dict] = {}
            for k, r in self._pass_rewrites.items():
                _accumulate(rewrites.setdefault(k, {}), r)
            chunks.append((y, counts, dig, ops, rewrites))
            if bar is not None:
                bar.update(len(y))
        if bar is not None:
            bar.close()
        return chunks

    def _combine_chunks(self, chunks: list[tuple], n: int) -> np.ndarray:
        """Outputs of :meth:`_run_chunks` chunks (in sample order) and their counts, summed in
        that order into ``last_counts``, ``last_digital_macs``, ``last_digital_ops`` and
        ``last_rewrites`` (so chunks run anywhere give the numbers of one run)."""
        outs = []
        total: dict[str, OpCounts] = {}
        digital: dict[str, int] = {}
        ops: dict[str, dict[str, dict[str, float]]] = {}
        rewrites: dict[str, dict] = {}
        for y, counts, dig, ops_c, rew in chunks:
            outs.append(y)
            for k, c in counts.items():
                total[k] = total[k] + c if k in total else c
            for k, m in dig.items():
                digital[k] = digital.get(k, 0) + m
            for name, o in ops_c.items():
                add_ops(ops.setdefault(name, {}), o)
            for k, r in rew.items():
                _accumulate(rewrites.setdefault(k, {}), r)
        self.last_counts, self.last_digital_macs = total, digital
        self.last_digital_ops = {k: v for k, v in ops.items() if v}
        self.last_rewrites = rewrites
        self._last_n = n
        return np.concatenate(outs)

    def _check_xy(self, x: Any, y: Any, caller: str) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x, caller, nonempty=True)
        # one label per input, or per output position (e.g. the next character of every token)
        labels = (len(x), *self.output_shape[:-1])
        if np.shape(y) != labels:
            fail("y", caller, f"of shape {labels} (one label per "
                 f"{'input' if len(labels) == 1 else 'output position'})",
                 f"array of shape {np.shape(y)}")
        y = check_labels("y", np.reshape(y, -1), caller,
                         int(self.output_shape[-1])).reshape(labels)
        return x, y

    def _float_accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict_float(x) == y))

    def float_accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        """Classification accuracy of the float reference on inputs ``x``, labels ``y`` [-]."""
        x, y = self._check_xy(x, y, "Network.float_accuracy")
        return self._float_accuracy(x, y)

    def evaluate(self, x: np.ndarray, y: np.ndarray, *,
                 t_s: float | Sequence[float] | None = None, batch_size: int = 512,
                 progress: bool = False, client=None) -> Evaluation | list[Evaluation]:
        """Classification accuracy of the compiled network and of the float reference.

        Parameters
        ----------
        x, y : ndarray
            Inputs ``(N, *input_shape)`` and integer labels ``(N,)``.
        t_s : float or sequence of float, optional
            Time since programming [s] (default ``hardware.t_s``). A sequence evaluates the
            one programmed chip at each time and returns a list of :class:`Evaluation`, one per
            time, in order: the chip is programmed once (at :meth:`compile`), so drift
            exponents, relaxation draws and faults are the same devices at every time, while
            read noise and comparator noise are drawn afresh for every read (read ``k`` of the
            list uses :meth:`run` with ``read=k``). The first entry equals
            ``evaluate(x, y, t_s=t_s[0])``.
        batch_size, progress
            As in :meth:`run`.
        client : distributed.Client, optional
            Shard the batch over the Dask cluster's workers
            (:func:`cimsim.nn.distributed.run_reads`): each worker rebuilds the programmed chip
            from the compile inputs and the seed (counter-based streams: bit for bit the
            same chip) and runs its shard at its sample positions; the driver adds the shards'
            counts in sample order, so the result, counts and energies included, is that of
            the local run. For a chip that fits one machine; a network whose matrices
            are sharded (:meth:`compile` with ``client=``) evaluates without it.

        Returns
        -------
        Evaluation or list of Evaluation
        """
        caller = "Network.evaluate"
        x, y = self._check_xy(x, y, caller)
        series = t_s is not None and not np.isscalar(t_s)
        if series:
            times = check_array("t_s", t_s, caller, ndim=1, lo=0.0)
            if times.size == 0 or times.size > MAX_READS:
                fail("t_s", caller, f"a non-empty sequence of at most {MAX_READS} times",
                     f"sequence of {times.size}")
        else:
            times = np.array([self.hardware.t_s if t_s is None else
                              check_scalar("t_s", t_s, caller, lo=0.0)])
        float_acc = self._float_accuracy(x, y)
        batch_size = check_int("batch_size", batch_size, caller, lo=1)
        if client is not None:
            from .distributed import run_reads

            if not self.compiled:
                raise InvalidParameterError("Network.evaluate needs a compiled network: call "
                                            "compile(hardware) first.")
            reads = run_reads(self, x, [float(t) for t in times], batch_size, client)
        out = []
        for k, t in enumerate(times):
            if client is None:
                logits = self.run(x, t_s=float(t), batch_size=batch_size, progress=progress,
                                  read=k)
                comp, refresh = self._read_counts(float(t), k)
            else:
                chunks, comp, refresh = reads[k]
                logits = self._combine_chunks(chunks, len(x))
            analog_acc = float(np.mean(logits.argmax(axis=-1) == y))
            out.append(Evaluation(len(x), float_acc, analog_acc, dict(self.last_counts),
                                  dict(self.last_digital_macs), float(t),
                                  dict(self.last_digital_ops), comp, refresh))
        return out if series else out[0]

    def _read_counts(self, t_s: float, read: int) -> tuple[dict, dict]:
        """Per analog layer: the counts of the reference read compensating read ``read`` at
        ``t_s`` and of the refreshes before ``t_s`` (layers with none are left out)."""
        comp, refresh = {}, {}
        for name, ams in self._analog.items():
            if not all(hasattr(am, "compensation_counts") for am in ams):
                continue      # wrapped matrices (wrap_analog_matrices) keep their own
            c, r = OpCounts(), OpCounts()
            for am in ams:
                c += am.compensation_counts(t_s, read)
                r += am.refresh_counts(t_s)
            if c != OpCounts():
                comp[name] = c
            if r != OpCounts():
                refresh[name] = r
        return comp, refresh

    # -- training ----------------------------------------------------------------------------
    def fit(self, x: np.ndarray, y: np.ndarray, *, epochs: int = 10, lr: float = 1e-3,
            batch_size: int = 64, weight_decay: float = 0.0, weight_noise: float = 0.0,
            seed: int = 0, progress: bool = False) -> list[float]:
        """Train the float weights in place with Adam on softmax cross-entropy.

        Parameters
        ----------
        weight_noise : float
            Noise-aware training: each step evaluates the gradient at
            ``W + weight_noise * max|W| * eps`` (eps standard normal, fresh each step, per
            weighted layer) and applies it to the clean weights [-].
        seed : int
            Seeds the shuffling and the injected noise (counter-based streams).

        Returns
        -------
        list of float
            Mean training loss of each epoch.
        """
        caller = "Network.fit"
        x, y = self._check_xy(x, y, caller)
        epochs = check_int("epochs", epochs, caller, lo=0)
        lr = check_scalar("lr", lr, caller, lo=0.0, lo_open=True)
        batch_size = check_int("batch_size", batch_size, caller, lo=1)
        weight_noise = check_scalar("weight_noise", weight_noise, caller, lo=0.0)
        seed = check_seed("seed", seed, caller)
        from ..kernels.parallel import blas_single_thread

        with blas_single_thread():  # the layers' GEMMs are small: BLAS threads only contend
            return self._fit(x, y, epochs, lr, batch_size, weight_decay, weight_noise, seed,
                             progress)

    def _fit(self, x, y, epochs, lr, batch_size, weight_decay, weight_noise, seed, progress):
        trainables = [(lay, k) for lay in iter_layers(self.layers) for k in lay.trainable
                      if getattr(lay, k, None) is not None]
        m = [np.zeros_like(getattr(lay, k)) for lay, k in trainables]
        v = [np.zeros_like(getattr(lay, k)) for lay, k in trainables]
        b1, b2, eps = 0.9, 0.999, 1e-8
        step = 0
        history = []
        bar = _progress(progress, epochs * len(x), self.name or "training")
        for epoch in range(epochs):
            order = np.argsort(rng.uniform(rng.derive_key(seed, "shuffle", epoch), len(x)))
            losses = []
            for i in range(0, len(x), batch_size):
                idx = order[i: i + batch_size]
                clean = []
                if weight_noise > 0:
                    for j, lay in enumerate(self.weighted_layers):
                        w = lay.weight
                        clean.append(w)
                        eps_w = rng.standard_normal(
                            rng.derive_key(seed, "weight_noise", step, j), w.shape)
                        lay.weight = w + weight_noise * np.abs(w).max() * eps_w
                # stochastic layers draw fresh numbers for every batch of every epoch
                out = self.forward(x[idx], train=True, first=(epoch * len(x) + i) % (1 << 40))
                loss, grad = softmax_cross_entropy(out, y[idx])
                self.backward(grad)
                for lay, w in zip(self.weighted_layers, clean, strict=False):
                    lay.weight = w
                step += 1
                for j, (lay, k) in enumerate(trainables):
                    g = lay.grads[k]
                    if weight_decay and k == "weight":
                        g = g + weight_decay * getattr(lay, k)
                    m[j] = b1 * m[j] + (1 - b1) * g
                    v[j] = b2 * v[j] + (1 - b2) * g * g
                    mh, vh = m[j] / (1 - b1**step), v[j] / (1 - b2**step)
                    setattr(lay, k, getattr(lay, k) - lr * mh / (np.sqrt(vh) + eps))
                losses.append(loss)
                if bar is not None:
                    bar.update(len(idx))
            history.append(float(np.mean(losses)))
        if bar is not None:
            bar.close()
        return history

    # -- volatility --------------------------------------------------------------------------
    def volatility(self, x: np.ndarray, y: np.ndarray, *, epochs: int = 1, lr: float = 1e-3,
                   batch_size: int = 32, weight_bits: int = 8, sigma: float = 0.01,
                   seed: int = 0) -> list[VolatilityScore]:
        """Per-weighted-layer :class:`VolatilityScore` for fine-tuning on ``(x, y)``.

        The network itself is not changed (fine-tuning runs on a copy).
        """
        caller = "Network.volatility"
        x, y = self._check_xy(x, y, caller)
        weight_bits = check_int("weight_bits", weight_bits, caller, lo=2, hi=32)
        sigma = check_scalar("sigma", sigma, caller, lo=0.0, lo_open=True)
        seed = check_seed("seed", seed, caller)
        tuned = self.copy()
        tuned.fit(x, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
        ref = self.forward(x)
        ref_norm = float(np.linalg.norm(ref))
        scores = []
        for j, (a, b) in enumerate(
                zip(self.weighted_layers, tuned.weighted_layers, strict=True)):
            w0, w1 = a.weight, b.weight
            rel = float(np.linalg.norm(w1 - w0) / np.linalg.norm(w0))
            q = float(np.abs(w0).max()) / (2 ** (weight_bits - 1) - 1)
            frac = float(np.mean(np.abs(w1 - w0) > q))
            eps_w = rng.standard_normal(rng.derive_key(seed, "volatility", j), w0.shape)
            a.weight = w0 * (1.0 + sigma * eps_w)
            try:
                pert = self.forward(x)
            finally:
                a.weight = w0
            sens = float(np.linalg.norm(pert - ref) / (sigma * ref_norm))
            scores.append(VolatilityScore(a.name, rel, frac, sens, rel * sens))
        return scores

    def report(self, evaluation: Evaluation | None = None):
        """Energy / latency / area :class:`cimsim.ppa.report.Report` of the last run (or of
        ``evaluation``): the per-layer tile OpCounts, tile counts, digital MACs, digital
        operations and the programming counts of the compilation, on this network's
        hardware."""
        from ..ppa.report import build_report

        if not self.compiled:
            raise InvalidParameterError("Network.report must be called on a compiled network "
                                        "that has run. Got an uncompiled one.")
        program = dict(self.program_counts)
        if evaluation is not None:
            check_instance("evaluation", evaluation, "Network.report", Evaluation)
            counts, digital, n = evaluation.counts, evaluation.digital_macs, evaluation.n
            ops = evaluation.digital_ops
            # drift compensation's reference reads and the refreshes before this read
            counts = dict(counts)
            _accumulate(counts, evaluation.compensation_counts)
            _accumulate(program, evaluation.refresh_counts)
        else:
            counts, digital, n = self.last_counts, self.last_digital_macs, self._last_n
            ops = self.last_digital_ops
        if n == 0:
            raise InvalidParameterError("Network.report must be called after run() or "
                                        "evaluate(). Got a network that has not run.")
        tiles = {m.name: m.n_tiles for m in self.mapping if m.placement == "analog"}
        # every layer with work, in network order (digital-only layers with empty counts)
        order = [lay.name for lay in iter_layers(self._plan)]
        counts = {k: counts.get(k, OpCounts()) for k in order
                  if k in counts or k in digital or k in ops}
        return build_report(counts, self.hardware, batch=n, n_tiles=tiles,
                            digital_macs=digital, digital_ops=ops, program_counts=program,
                            floorplan=self.floorplan)

    def summary(self) -> list[dict[str, Any]]:
        """One dict per weighted layer: mapping (after compile) or shapes and MACs."""
        if self.mapping:
            return [dataclasses.asdict(m) for m in self.mapping]
        shapes = self._sample_shapes(self.layers)
        return [{"name": lay.name, "kind": lay.kind,
                 "matrix_shapes": tuple(tuple(m.shape) for m in lay.matrices()),
                 "macs_per_sample": self._macs_per_sample(lay, shapes[lay.name])}
                for lay in self.weighted_layers]

    def __repr__(self) -> str:
        inner = "\n".join(f"  {lay!r}" for lay in self.layers)
        return f"Network({self.name!r}, input_shape={self.input_shape},\n{inner})"
