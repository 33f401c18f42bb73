"""Energy, latency and area report: per operation type, per layer and per network.

:func:`build_report` turns the per-layer :class:`~cimsim.ops.OpCounts` of a run (plus the
number of tiles each layer occupies and any MACs placed on the digital unit) into a
:class:`Report`: energy breakdown [J], latency [s], area [m^2], TOPS, TOPS/W, TOPS/mm^2,
energy-delay product, energy-delay sum and energy-delay distance.

Conventions
-----------
* One MAC counts as two operations (multiply and add), the usual convention of TOPS figures.
* Energy and MACs are totals for the batch; "per inference" divides by the batch.
* Latency per inference is the sum of the layer times (layers pipelined across tiles, no
  overlap inside one inference); the batch time is Σ T_l + (B − 1)·T_stage, T_stage the
  per-inference time of the busiest resource (:func:`cimsim.ppa.latency.pipeline_time_s`),
  and TOPS uses it.
* Energy-delay sum and distance use *normalised* energy and delay: each is divided by the
  energy and delay of the same MACs executed on the digital unit of the same technology card
  (``Components.e_digital_mac_j`` per MAC, ``digital_mac_rate_per_s``), unless explicit
  references are given. So EDS = w_E·E/E_ref + w_D·D/D_ref (weights default to ½, ½) and
  EDD = √((E/E_ref)² + (D/D_ref)²); values below 1 (EDS) or √2 (EDD) beat that baseline.

References
----------
Roberts, S. I., Wright, S. A., Fahmy, S. A. & Jarvis, S. A. "Metrics for energy-aware software
optimisation", ISC High Performance 2017, LNCS 10266, doi:10.1007/978-3-319-58667-0_22
(energy-delay sum and distance). Nakhle et al. (2025) advocate these metrics for tiny-AI
hardware.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from device_models._checks import check_int, check_path, check_scalar, fail
from device_models.errors import InvalidParameterError, MissingDependencyError, StoreError

from ..array.packing import Floorplan
from ..hardware import HardwareConfig
from ..ops import OpCounts
from .energy import (
    ENERGY_KINDS,
    Components,
    check_digital_ops,
    components,
    energy_breakdown,
    tile_area_m2,
)
from .latency import layer_time_parts_s, pipeline_time_s

__all__ = [
    "LayerReport",
    "Report",
    "build_report",
    "energy_delay_distance",
    "energy_delay_sum",
    "load_report",
    "standard_tile_report",
]

OPS_PER_MAC = 2
_FORMAT = "cimsim-report-1"


def energy_delay_sum(energy_j: float, delay_s: float, *, energy_ref_j: float,
                     delay_ref_s: float, w_energy: float = 0.5, w_delay: float = 0.5) -> float:
    """Energy-delay sum of normalised energy and delay [-].

    .. math:: EDS = w_E \\frac{E}{E_{ref}} + w_D \\frac{D}{D_{ref}}

    References
    ----------
    Roberts et al., ISC 2017, doi:10.1007/978-3-319-58667-0_22.
    """
    caller = "energy_delay_sum"
    e = check_scalar("energy_j", energy_j, caller, lo=0.0)
    d = check_scalar("delay_s", delay_s, caller, lo=0.0)
    e_ref = check_scalar("energy_ref_j", energy_ref_j, caller, lo=0.0, lo_open=True)
    d_ref = check_scalar("delay_ref_s", delay_ref_s, caller, lo=0.0, lo_open=True)
    w_e = check_scalar("w_energy", w_energy, caller, lo=0.0)
    w_d = check_scalar("w_delay", w_delay, caller, lo=0.0)
    return w_e * e / e_ref + w_d * d / d_ref


def energy_delay_distance(energy_j: float, delay_s: float, *, energy_ref_j: float,
                          delay_ref_s: float) -> float:
    """Euclidean distance from the origin in normalised energy–delay space [-].

    .. math:: EDD = \\sqrt{(E/E_{ref})^2 + (D/D_{ref})^2}

    References
    ----------
    Roberts et al., ISC 2017, doi:10.1007/978-3-319-58667-0_22.
    """
    caller = "energy_delay_distance"
    e = check_scalar("energy_j", energy_j, caller, lo=0.0)
    d = check_scalar("delay_s", delay_s, caller, lo=0.0)
    e_ref = check_scalar("energy_ref_j", energy_ref_j, caller, lo=0.0, lo_open=True)
    d_ref = check_scalar("delay_ref_s", delay_ref_s, caller, lo=0.0, lo_open=True)
    return math.hypot(e / e_ref, d / d_ref)


class _Figures:
    """Figures derived in the same way for a layer and for the whole network.

    The class using it provides ``macs``, ``batch``, ``area_m2``,
    ``latency_per_inference_s``, ``_batch_energy_j`` (energy of the batch [J]),
    ``_batch_time_s`` (time of the batch [s]) and ``_refs()`` (EDS/EDD references).
    """

    @property
    def energy_per_inference_j(self) -> float:
        return self._batch_energy_j / self.batch

    @property
    def ops(self) -> int:
        return OPS_PER_MAC * self.macs

    @property
    def tops(self) -> float:
        """Operations per second over the batch time [TOPS]."""
        t = self._batch_time_s
        return self.ops / t / 1e12 if t > 0 else 0.0

    @property
    def tops_per_w(self) -> float:
        e = self._batch_energy_j
        return self.ops / e / 1e12 if e > 0 else 0.0

    @property
    def tops_per_mm2(self) -> float:
        return self.tops / (self.area_m2 * 1e6) if self.area_m2 > 0 else 0.0

    @property
    def edp_js(self) -> float:
        """Energy-delay product per inference [J·s]."""
        return self.energy_per_inference_j * self.latency_per_inference_s

    def _eds(self, w_energy: float, w_delay: float) -> float:
        e_ref, d_ref = self._refs()
        return energy_delay_sum(self.energy_per_inference_j, self.latency_per_inference_s,
                                energy_ref_j=e_ref, delay_ref_s=d_ref, w_energy=w_energy,
                                w_delay=w_delay)

    def edd(self) -> float:
        """Energy-delay distance per inference against the digital baseline [-]."""
        e_ref, d_ref = self._refs()
        return energy_delay_distance(self.energy_per_inference_j, self.latency_per_inference_s,
                                     energy_ref_j=e_ref, delay_ref_s=d_ref)

    def _figures(self) -> dict[str, float]:
        """The figures both metric dicts list, in their order."""
        return {
            "area_m2": self.area_m2,
            "macs": self.macs,
            "ops": self.ops,
            "tops": self.tops,
            "tops_per_w": self.tops_per_w,
            "tops_per_mm2": self.tops_per_mm2,
            "edp_js": self.edp_js,
            "eds": self.eds(),
            "edd": self.edd(),
        }


@dataclasses.dataclass(frozen=True)
class LayerReport(_Figures):
    """Energy, time and area of one layer for a batch.

    Attributes
    ----------
    name : str
    energy_j : Mapping[str, float]
        Operation type → energy for the whole batch [J].
    macs : int
        MACs for the batch (analog + digital) [-].
    digital_macs : int
        MACs executed on the digital unit [-].
    n_tiles : int
        Tiles occupied by the layer [-].
    time_s : float
        Time the layer takes for the whole batch on its tiles [s].
    area_m2 : float
        Silicon area of the layer's tiles (and its share of the digital unit) [m^2].
    batch : int
        Inferences in the batch [-].
    energy_ref_j, delay_ref_s : float
        Per-inference normalisation references of EDS/EDD [J], [s]: the layer's MACs on the
        digital unit, at least one MAC (a layer without MACs, e.g. pooling, has a defined
        EDS of its own; the network's references leave such layers out).
    digital_ops : Mapping[str, Mapping[str, float]]
        Digital operations of the layer for the batch: breakdown line → operation → count [-].
    """

    name: str
    energy_j: Mapping[str, float]
    macs: int
    digital_macs: int
    n_tiles: int
    time_s: float
    area_m2: float
    batch: int
    energy_ref_j: float
    delay_ref_s: float
    digital_ops: Mapping[str, Mapping[str, float]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))

    @property
    def energy_total_j(self) -> float:
        """Energy for the batch [J]."""
        return float(sum(self.energy_j.values()))

    @property
    def _batch_energy_j(self) -> float:
        return self.energy_total_j

    @property
    def _batch_time_s(self) -> float:
        return self.time_s

    @property
    def latency_per_inference_s(self) -> float:
        return self.time_s / self.batch

    def _refs(self) -> tuple[float, float]:
        return self.energy_ref_j, self.delay_ref_s

    def eds(self, w_energy: float = 0.5, w_delay: float = 0.5) -> float:
        """Energy-delay sum against the layer's digital baseline [-]."""
        return self._eds(w_energy, w_delay)

    def metrics(self) -> dict[str, float]:
        """Derived figures of the layer (plain floats)."""
        return {
            "energy_j": self.energy_total_j,
            "energy_per_inference_j": self.energy_per_inference_j,
            "latency_per_inference_s": self.latency_per_inference_s,
            "time_s": self.time_s,
            **self._figures(),
        }


@dataclasses.dataclass(frozen=True)
class Report(_Figures):
    """Energy, latency and area of a network run: per operation type, per layer, per network.

    Build with :func:`build_report`; load a saved one with :func:`load_report`.

    ``leakage_j`` is the static energy of the whole chip (every physical tile's periphery and
    the digital unit, :mod:`cimsim.ppa.leakage`) over the batch time [J], a line of the
    breakdown that belongs to no layer; ``n_tiles_total`` is the chip's physical tiles [-];
    ``stage_time_s`` the per-inference time of the busiest resource (a physical tile with the
    layers it hosts, or the digital unit), which paces a pipelined batch [s];
    ``digital_area_m2`` the area of the chip's one digital unit [m^2] (the layers' areas are
    their shares of the physical tiles).
    """

    layers: Mapping[str, LayerReport]
    batch: int
    hardware: Mapping[str, Any]
    #: Content of every card of the hardware (HardwareConfig.cards(): values, units, sha256,
    #: source file), so the report says exactly which values produced it.
    cards: Mapping[str, Any] = dataclasses.field(
        default_factory=lambda: MappingProxyType({}))
    leakage_j: float = 0.0
    n_tiles_total: int = 0
    stage_time_s: float | None = None
    digital_area_m2: float = 0.0
    program_energy_j: float = 0.0
    program_pulses: int = 0
    w_energy: float = 0.5
    w_delay: float = 0.5
    energy_ref_j: float | None = None
    delay_ref_s: float | None = None

    # --- per operation type --------------------------------------------------------------

    @property
    def energy_breakdown_j(self) -> dict[str, float]:
        """Operation type → energy for the batch, summed over layers [J]."""
        out = dict.fromkeys(ENERGY_KINDS, 0.0)
        for lay in self.layers.values():
            for k, v in lay.energy_j.items():
                out[k] = out.get(k, 0.0) + v
        out["leakage"] = self.leakage_j
        return out

    @property
    def breakdown_per_inference_j(self) -> dict[str, float]:
        return {k: v / self.batch for k, v in self.energy_breakdown_j.items()}

    # --- network ------------------------------------------------------------------------

    @property
    def energy_j(self) -> float:
        """Inference energy of the batch, leakage included (programming excluded) [J]."""
        return float(sum(lay.energy_total_j for lay in self.layers.values())) + self.leakage_j

    @property
    def _batch_energy_j(self) -> float:
        return self.energy_j

    @property
    def latency_per_inference_s(self) -> float:
        """Σ over layers of the per-inference layer time [s]."""
        return float(sum(lay.latency_per_inference_s for lay in self.layers.values()))

    @property
    def batch_time_s(self) -> float:
        """Time for the batch with layers pipelined across tiles [s]."""
        return pipeline_time_s([lay.latency_per_inference_s for lay in self.layers.values()],
                               self.batch, self.stage_time_s)

    @property
    def _batch_time_s(self) -> float:
        return self.batch_time_s

    @property
    def throughput_per_s(self) -> float:
        """Inferences per second at this batch [1/s]."""
        t = self.batch_time_s
        return self.batch / t if t > 0 else 0.0

    @property
    def macs(self) -> int:
        return int(sum(lay.macs for lay in self.layers.values()))

    @property
    def area_m2(self) -> float:
        """Chip area: the layers' shares of the physical tiles and the digital unit [m^2]."""
        return float(sum(lay.area_m2 for lay in self.layers.values())) + self.digital_area_m2

    def _refs(self) -> tuple[float, float]:
        e_ref = self.energy_ref_j
        d_ref = self.delay_ref_s
        # the network's MACs on the digital unit: layers without MACs add no reference
        work = [lay for lay in self.layers.values() if lay.macs > 0] or list(
            self.layers.values())
        if e_ref is None:
            e_ref = sum(lay.energy_ref_j for lay in work)
        if d_ref is None:
            d_ref = sum(lay.delay_ref_s for lay in work)
        return float(e_ref), float(d_ref)

    def eds(self, w_energy: float | None = None, w_delay: float | None = None) -> float:
        """Energy-delay sum per inference, normalised (see module docstring) [-]."""
        return self._eds(self.w_energy if w_energy is None else w_energy,
                         self.w_delay if w_delay is None else w_delay)

    def metrics(self) -> dict[str, float]:
        """Network figures (plain floats)."""
        e_ref, d_ref = self._refs()
        return {
            "energy_j": self.energy_j,
            "energy_per_inference_j": self.energy_per_inference_j,
            "latency_per_inference_s": self.latency_per_inference_s,
            "batch_time_s": self.batch_time_s,
            "throughput_per_s": self.throughput_per_s,
            **self._figures(),
            "energy_ref_j": e_ref,
            "delay_ref_s": d_ref,
            "program_energy_j": self.program_energy_j,
            "program_pulses": self.program_pulses,
        }

    # --- export -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict: network metrics, breakdown, layers (inputs and metrics)."""
        return {
            "format": _FORMAT,
            "batch": self.batch,
            "w_energy": self.w_energy,
            "w_delay": self.w_delay,
            "energy_ref_j": self.energy_ref_j,
            "delay_ref_s": self.delay_ref_s,
            "program_energy_j": self.program_energy_j,
            "program_pulses": self.program_pulses,
            "leakage_j": self.leakage_j,
            "n_tiles_total": self.n_tiles_total,
            "stage_time_s": self.stage_time_s,
            "digital_area_m2": self.digital_area_m2,
            "network": self.metrics(),
            "breakdown_j": self.energy_breakdown_j,
            "breakdown_per_inference_j": self.breakdown_per_inference_j,
            "layers": {
                name: {
                    "energy_j": dict(lay.energy_j),
                    "macs": lay.macs,
                    "digital_macs": lay.digital_macs,
                    "n_tiles": lay.n_tiles,
                    "time_s": lay.time_s,
                    "area_m2": lay.area_m2,
                    "energy_ref_j": lay.energy_ref_j,
                    "delay_ref_s": lay.delay_ref_s,
                    "digital_ops": {k: dict(v) for k, v in lay.digital_ops.items()},
                    "metrics": lay.metrics(),
                }
                for name, lay in self.layers.items()
            },
            "hardware": dict(self.hardware),
            "cards": dict(self.cards),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Rebuild from :meth:`to_dict` output (derived figures are recomputed)."""
        try:
            if data.get("format") != _FORMAT:
                raise KeyError("format")
            batch = int(data["batch"])
            layers = {
                name: LayerReport(
                    name=name, energy_j=MappingProxyType(
                        {k: float(v) for k, v in d["energy_j"].items()}),
                    macs=int(d["macs"]), digital_macs=int(d["digital_macs"]),
                    n_tiles=int(d["n_tiles"]), time_s=float(d["time_s"]),
                    area_m2=float(d["area_m2"]), batch=batch,
                    energy_ref_j=float(d["energy_ref_j"]), delay_ref_s=float(d["delay_ref_s"]),
                    digital_ops=_frozen_ops(d.get("digital_ops", {})))
                for name, d in data["layers"].items()
            }
            return cls(layers=MappingProxyType(layers), batch=batch,
                       hardware=MappingProxyType(dict(data["hardware"])),
                       cards=MappingProxyType(dict(data.get("cards", {}))),
                       leakage_j=float(data.get("leakage_j", 0.0)),
                       n_tiles_total=int(data.get("n_tiles_total", sum(
                           lay.n_tiles for lay in layers.values()))),
                       stage_time_s=(None if data.get("stage_time_s") is None
                                     else float(data["stage_time_s"])),
                       digital_area_m2=float(data.get("digital_area_m2", 0.0)),
                       program_energy_j=float(data["program_energy_j"]),
                       program_pulses=int(data["program_pulses"]),
                       w_energy=float(data["w_energy"]), w_delay=float(data["w_delay"]),
                       energy_ref_j=data.get("energy_ref_j"),
                       delay_ref_s=data.get("delay_ref_s"))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidParameterError(
                f"The 'data' parameter of Report.from_dict must be a cimsim report dict "
                f"({_FORMAT}). Missing or bad entry: {exc}."
            ) from None

    def to_hdf5(self, path: str | Path) -> Path:
        """Write the report to an HDF5 file (attributes + one dataset per breakdown).

        Layout: root attrs ``format``, ``report_json`` (the full :meth:`to_dict`) and the
        network metrics; ``/breakdown_j`` (structured by operation type, in ``kinds`` attr);
        ``/layers/<name>`` groups with metrics attrs and an ``energy_j`` dataset.
        """
        import h5py

        path = Path(path)
        d = self.to_dict()
        with h5py.File(path, "w") as fh:
            fh.attrs["format"] = _FORMAT
            fh.attrs["report_json"] = json.dumps(d)
            for k, v in d["network"].items():
                fh.attrs[k] = v
            kinds = list(d["breakdown_j"])
            ds = fh.create_dataset("breakdown_j", data=np.array([d["breakdown_j"][k]
                                                                 for k in kinds]))
            ds.attrs["kinds"] = kinds
            ds.attrs["unit"] = "J"
            grp = fh.create_group("layers")
            for name, lay in d["layers"].items():
                g = grp.create_group(name)
                for k, v in lay["metrics"].items():
                    g.attrs[k] = v
                g.attrs["n_tiles"] = lay["n_tiles"]
                e = g.create_dataset("energy_j", data=np.array([lay["energy_j"].get(k, 0.0)
                                                                for k in kinds]))
                e.attrs["kinds"] = kinds
        return path

    def to_dataframe(self):
        """Per-layer figures as a pandas DataFrame (needs pandas: ``pip install
        'cimsim[pandas]'``), one row per layer and one row ``"chip"``.

        Columns: ``n_tiles``, ``macs`` (per inference), ``energy_per_inference_j``,
        ``latency_per_inference_s`` [s], ``area_m2`` [m^2], ``tops_per_w``, then one column
        ``energy_<line>_j`` per line of the energy breakdown (per inference [J]). The ``chip``
        row holds what belongs to no layer: the leakage of the whole chip and the area of its
        digital unit. The energy and area columns therefore sum to the report's
        :attr:`energy_per_inference_j`, :attr:`breakdown_per_inference_j` and :attr:`area_m2`.
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise MissingDependencyError(
                "Report.to_dataframe needs pandas (pip install 'cimsim[pandas]'); "
                "Report.to_dict() gives the same numbers without it.") from None
        lines = list(self.energy_breakdown_j)
        rows = []
        for name, lay in self.layers.items():
            row = {"layer": name, "n_tiles": float(lay.n_tiles),
                   "macs": lay.macs / self.batch,
                   "energy_per_inference_j": lay.energy_per_inference_j,
                   "latency_per_inference_s": lay.latency_per_inference_s,
                   "area_m2": lay.area_m2, "tops_per_w": lay.tops_per_w if lay.macs else math.nan}
            row.update({f"energy_{k}_j": lay.energy_j.get(k, 0.0) / self.batch for k in lines})
            rows.append(row)
        chip = {"layer": "chip", "n_tiles": math.nan, "macs": 0.0,
                "energy_per_inference_j": self.leakage_j / self.batch,
                "latency_per_inference_s": math.nan, "area_m2": self.digital_area_m2,
                "tops_per_w": math.nan}
        chip.update({f"energy_{k}_j": 0.0 for k in lines})
        chip["energy_leakage_j"] = self.leakage_j / self.batch
        rows.append(chip)
        return pd.DataFrame(rows).set_index("layer")

    # --- display ------------------------------------------------------------------------

    def _repr_html_(self) -> str:
        """HTML tables for notebooks: per layer (and the network), then energy by line."""
        from device_models._html import html_table

        rows = [(name, lay.n_tiles, lay.macs // self.batch,
                 _eng(lay.energy_per_inference_j, "J"), _eng(lay.latency_per_inference_s, "s"),
                 lay.area_m2 * 1e6, lay.tops_per_w if lay.macs else "-")
                for name, lay in self.layers.items()]
        rows.append(("(leakage)", "", "", _eng(self.leakage_j / self.batch, "J"), "", "", ""))
        rows.append(("network", self.n_tiles_total, self.macs // self.batch,
                     _eng(self.energy_per_inference_j, "J"),
                     _eng(self.latency_per_inference_s, "s"), self.area_m2 * 1e6,
                     self.tops_per_w))
        head = html_table(("layer", "tiles", "MACs", "energy", "latency", "area [mm²]",
                           "TOPS/W"), rows,
                          f"Report: batch {self.batch}, per inference (1 MAC = 2 ops)")
        total = self.energy_per_inference_j
        lines = [(k, _eng(v, "J"), f"{v / total:.1%}" if total > 0 else "-")
                 for k, v in self.breakdown_per_inference_j.items() if v > 0]
        return head + html_table(("line", "energy", "share"), lines,
                                 "energy per inference by line")

    def table(self) -> str:
        """A readable text table: per layer, per operation type, network totals."""
        lines = []
        lines.append(f"batch {self.batch}   (1 MAC = 2 ops; energies per inference)")
        hdr = (f"{'layer':<14}{'tiles':>6}{'MACs':>12}{'energy':>12}{'latency':>12}"
               f"{'area':>12}{'TOPS':>9}{'TOPS/W':>9}{'TOPS/mm2':>10}{'EDS':>8}{'EDD':>8}")
        lines.append(hdr)
        lines.append("-" * len(hdr))
        for name, lay in self.layers.items():
            if lay.macs:
                figs = (f"{lay.tops:>9.3g}{lay.tops_per_w:>9.3g}{lay.tops_per_mm2:>10.3g}"
                        f"{lay.eds():>8.3g}{lay.edd():>8.3g}")
            else:   # digital operations only: no MACs to rate
                figs = f"{'-':>9}{'-':>9}{'-':>10}{'-':>8}{'-':>8}"
            lines.append(
                f"{name[:14]:<14}{lay.n_tiles:>6d}{lay.macs // self.batch:>12d}"
                f"{_eng(lay.energy_per_inference_j, 'J'):>12}"
                f"{_eng(lay.latency_per_inference_s, 's'):>12}"
                f"{lay.area_m2 * 1e6:>9.4f}mm²{figs}")
        lines.append(f"{'(leakage)':<14}{'':>6}{'':>12}"
                     f"{_eng(self.leakage_j / self.batch, 'J'):>12}")
        lines.append("-" * len(hdr))
        lines.append(
            f"{'network':<14}{self.n_tiles_total:>6d}"
            f"{self.macs // self.batch:>12d}{_eng(self.energy_per_inference_j, 'J'):>12}"
            f"{_eng(self.latency_per_inference_s, 's'):>12}{self.area_m2 * 1e6:>9.4f}mm²"
            f"{self.tops:>9.3g}{self.tops_per_w:>9.3g}{self.tops_per_mm2:>10.3g}"
            f"{self.eds():>8.3g}{self.edd():>8.3g}")
        lines.append("")
        lines.append("energy per inference by operation type:")
        total = self.energy_per_inference_j
        for k, v in self.breakdown_per_inference_j.items():
            share = v / total if total > 0 else 0.0
            lines.append(f"  {k:<14}{_eng(v, 'J'):>12}  {share:6.1%}")
        lines.append(f"  {'total':<14}{_eng(total, 'J'):>12}")
        lines.append(f"batch time {_eng(self.batch_time_s, 's')}, throughput "
                     f"{self.throughput_per_s:.4g} inferences/s, EDP {self.edp_js:.4g} J·s")
        lines.append(f"programming (separate): {_eng(self.program_energy_j, 'J')} in "
                     f"{self.program_pulses} pulses")
        lines.append("EDS/EDD normalised by the same MACs on the digital unit of the tech card.")
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Stacked-bar PNG of the per-inference energy breakdown of each layer (and of the
        chip's leakage, which belongs to no layer)."""
        from ..plotting import pyplot, save_png

        plt = pyplot()

        path = Path(path)
        names = list(self.layers)
        per = {n: dict(self.layers[n].energy_j) for n in names}
        if self.leakage_j > 0.0:
            names.append("(leakage)")
            per["(leakage)"] = {"leakage": self.leakage_j}
        kinds = [k for k in self.energy_breakdown_j
                 if any(per[n].get(k, 0.0) > 0.0 for n in names)]
        fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(names) + 3), 4.2))
        bottom = np.zeros(len(names))
        cmap = plt.get_cmap("tab20")
        for i, k in enumerate(kinds):
            vals = np.array([per[n].get(k, 0.0) / self.batch for n in names])
            ax.bar(names, vals, bottom=bottom, label=k, color=cmap(i % 20))
            bottom += vals
        ax.set_ylabel("energy per inference [J]")
        ax.set_title(f"Energy breakdown per layer\n(total {_eng(self.energy_per_inference_j, 'J')}"
                     f" per inference, {self.tops_per_w:.3g} TOPS/W)", fontsize=9)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        return save_png(fig, path, dpi=120, bbox_inches="tight")


def _frozen_ops(ops: Mapping[str, Mapping[str, float]]) -> Mapping[str, Mapping[str, float]]:
    """Read-only copy of line → operation → count."""
    return MappingProxyType({line: MappingProxyType({op: float(c) for op, c in per.items()})
                             for line, per in ops.items()})


def _eng(value: float, unit: str) -> str:
    """Engineering notation, e.g. 1.23 nJ."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    prefixes = {-15: "f", -12: "p", -9: "n", -6: "µ", -3: "m", 0: "", 3: "k", 6: "M"}
    exp = int(math.floor(math.log10(abs(value)) / 3) * 3)
    exp = min(max(exp, -15), 6)
    return f"{value / 10**exp:.3g} {prefixes[exp]}{unit}"


def load_report(path: str | Path) -> Report:
    """Load a report saved by :meth:`Report.to_hdf5`.

    Raises
    ------
    StoreError
        If the file cannot be read or is not a cimsim report.
    """
    import h5py

    path = check_path("path", path, "load_report")
    try:
        with h5py.File(path, "r") as fh:
            if fh.attrs.get("format") != _FORMAT or "report_json" not in fh.attrs:
                raise StoreError(f"{path}: not a cimsim report (no '{_FORMAT}' format attr)")
            data = json.loads(fh.attrs["report_json"])
    except (OSError, RuntimeError, KeyError) as exc:
        if isinstance(exc, StoreError):
            raise
        raise StoreError(f"{path}: cannot be read as HDF5: {exc}") from None
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: malformed report_json: {exc}") from None
    try:
        return Report.from_dict(data)
    except InvalidParameterError as exc:
        raise StoreError(f"{path}: {exc}") from None


def build_report(
    layer_counts: Mapping[str, OpCounts],
    hw: HardwareConfig,
    *,
    batch: int,
    n_tiles: Mapping[str, int] | None = None,
    digital_macs: Mapping[str, int] | None = None,
    digital_ops: Mapping[str, Mapping[str, Mapping[str, float]]] | None = None,
    program_counts: OpCounts | Mapping[str, OpCounts] | None = None,
    w_energy: float = 0.5,
    w_delay: float = 0.5,
    energy_ref_j: float | None = None,
    delay_ref_s: float | None = None,
    comp: Components | None = None,
    n_tiles_total: int | None = None,
    floorplan: Floorplan | None = None,
) -> Report:
    """Energy, latency and area report of a network run.

    Parameters
    ----------
    layer_counts : Mapping[str, OpCounts]
        Layer name → counts of the analog tiles for the whole batch (``AnalogMatrix.matmul``
        output, summed over calls). Layers placed digitally may map to an empty
        ``OpCounts()`` and give their MACs in ``digital_macs``.
    hw : HardwareConfig
        The chip (cards and tile geometry).
    batch : int
        Inferences the counts cover [-].
    n_tiles : Mapping[str, int], optional
        Tiles each analog layer occupies (``AnalogMatrix.n_tiles``); they work in parallel.
        Required for every layer with array cycles.
    digital_macs : Mapping[str, int], optional
        Layer name → MACs executed on the digital unit for the whole batch [-] (layers may
        appear here only).
    digital_ops : Mapping[str, Mapping[str, Mapping[str, float]]], optional
        Layer name → breakdown line → digital operation (:data:`cimsim.ppa.energy.DIGITAL_OPS`)
        → count for the whole batch [-] (bias adds, activations, pooling, ...; layers may
        appear here only).
    program_counts : OpCounts or Mapping[str, OpCounts], optional
        Programming counts (``AnalogMatrix.program_counts``), reported separately.
    w_energy, w_delay : float
        Weights of the energy-delay sum [-].
    energy_ref_j, delay_ref_s : float, optional
        Per-inference normalisation of the network EDS/EDD; default: the same MACs on the
        digital unit of the technology card.
    comp : Components, optional
        Resolved component numbers to use instead of resolving the cards of ``hw``
        (:func:`cimsim.ppa.energy.components`), e.g. with one value changed for a sensitivity study.
    n_tiles_total : int, optional
        Physical tiles of the chip (default: the floorplan's, or the sum of ``n_tiles``); with
        the digital unit they leak for the whole batch time:
        :math:`E_{leak} = (N_{tiles} P_{tile} + P_{digital}) T_{batch}`.
    floorplan : Floorplan, optional
        Where the analog layers' blocks sit on physical tiles
        (:func:`cimsim.array.packing.pack_blocks`): a layer's area is its share of the tiles
        it uses, its array time is multiplied by its serialisation (its blocks sharing a
        tile), and a tile hosting several layers paces the pipeline with the sum of their
        array times. Default: every layer on tiles of its own (``n_tiles`` of them).

    Returns
    -------
    Report
    """
    if not isinstance(hw, HardwareConfig):
        fail("hw", "build_report", "a HardwareConfig", hw)
    batch = check_int("batch", batch, "build_report", lo=1)
    if not isinstance(layer_counts, Mapping):
        fail("layer_counts", "build_report", "a mapping of layer name to OpCounts",
             layer_counts)
    n_tiles = dict(n_tiles or {})
    digital = dict(digital_macs or {})
    if digital_ops is not None and not isinstance(digital_ops, Mapping):
        fail("digital_ops", "build_report", "a mapping of layer name to digital operations",
             digital_ops)
    d_ops = {name: check_digital_ops(ops, "build_report", f"digital_ops[{name!r}]")
             for name, ops in (digital_ops or {}).items()}
    names = list(layer_counts)
    names += [n for n in (*digital, *d_ops) if n not in names]
    if comp is None:
        comp = components(hw)
    elif not isinstance(comp, Components):
        fail("comp", "build_report", "a Components (cimsim.ppa.energy.components)", comp)
    if floorplan is not None and not isinstance(floorplan, Floorplan):
        fail("floorplan", "build_report", "a Floorplan (cimsim.array.packing)", floorplan)
    planned = set(floorplan.layers()) if floorplan is not None else set()
    a_tile = tile_area_m2(comp)
    layers = {}
    array_s: dict[str, float] = {}    # per inference, serialisation included
    digital_s = 0.0
    for name in names:
        counts = layer_counts.get(name, OpCounts())
        if not isinstance(counts, OpCounts):
            fail("layer_counts", "build_report", f"OpCounts values (layer {name!r})", counts)
        d_macs = check_int(f"digital_macs[{name!r}]", digital.get(name, 0), "build_report",
                           lo=0)
        tiles = n_tiles.get(name, 0)
        if counts.cycles > 0 and name not in n_tiles:
            fail("n_tiles", "build_report", f"given for analog layer {name!r}", sorted(n_tiles))
        tiles = check_int(f"n_tiles[{name!r}]", tiles, "build_report", lo=0)
        ops = d_ops.get(name, {})
        parts = energy_breakdown(counts, comp, digital_macs=d_macs, digital_ops=ops)
        arr, dig = layer_time_parts_s(counts, comp, n_tiles=tiles, digital_macs=d_macs,
                                      digital_ops=ops)
        if name in planned:
            arr *= floorplan.serialisation(name)
            share = floorplan.share(name)
        else:
            share = float(tiles)
        array_s[name] = arr / batch
        digital_s += dig / batch
        time_s = arr + dig
        macs = int(counts.macs) + d_macs
        area = share * a_tile
        macs_inf = macs / batch
        layers[name] = LayerReport(
            name=name, energy_j=MappingProxyType(parts), macs=macs, digital_macs=d_macs,
            n_tiles=tiles, time_s=time_s, area_m2=area, batch=batch,
            energy_ref_j=max(macs_inf, 1.0) * comp.e_digital_mac_j,
            delay_ref_s=max(macs_inf, 1.0) / comp.digital_mac_rate_per_s,
            digital_ops=_frozen_ops(ops),
        )
    prog_e, prog_p = 0.0, 0
    if program_counts is not None:
        items = (program_counts.values() if isinstance(program_counts, Mapping)
                 else [program_counts])
        for pc in items:
            if not isinstance(pc, OpCounts):
                fail("program_counts", "build_report", "OpCounts", pc)
            prog_e += float(pc.program_energy_j)
            prog_p += int(pc.program_pulses)
    if n_tiles_total is None:
        n_tiles_total = (floorplan.n_tiles if floorplan is not None
                         else sum(lay.n_tiles for lay in layers.values()))
    n_tiles_total = check_int("n_tiles_total", n_tiles_total, "build_report", lo=0)
    # Resources that pace the pipeline: each physical tile (the layers it hosts, one after
    # another), layers on tiles of their own, and the digital unit (all digital work).
    busy = [digital_s]
    if floorplan is not None:
        for t in range(floorplan.n_tiles):
            busy.append(sum(array_s.get(n, 0.0) for n in planned if t in floorplan.tiles_of(n)))
    busy += [a for n, a in array_s.items() if n not in planned]
    stage = max(busy)
    t_batch = pipeline_time_s([lay.latency_per_inference_s for lay in layers.values()], batch,
                              stage)
    leak = (n_tiles_total * comp.p_leak_tile_w + comp.p_leak_digital_w) * t_batch
    return Report(layers=MappingProxyType(layers), batch=batch,
                  hardware=MappingProxyType(hw.to_dict()), cards=MappingProxyType(hw.cards()),
                  leakage_j=float(leak), n_tiles_total=n_tiles_total, stage_time_s=stage,
                  digital_area_m2=comp.a_digital_m2, program_energy_j=prog_e,
                  program_pulses=prog_p, w_energy=float(w_energy), w_delay=float(w_delay),
                  energy_ref_j=energy_ref_j, delay_ref_s=delay_ref_s)


def standard_tile_report(hw: HardwareConfig | None = None, *, batch: int = 64,
                         seed: int = 0) -> Report:
    """Report of one standard tile running ``batch`` MVMs (the TOPS/W of "a tile").

    The weight matrix fills one tile of ``hw`` exactly (``tile.rows`` inputs, as many outputs
    as the tile's columns hold after mapping), weights ~ N(0, 1), inputs uniform in [0, 1)
    (post-ReLU activations) quantised by the tile's DACs; all counts come from the run of
    :class:`cimsim.tile.matrix.AnalogMatrix` (calibrated on separate inputs).

    Parameters
    ----------
    hw : HardwareConfig, optional
        The chip (default: ``HardwareConfig()``, 256×256 tile, 8-bit inputs/weights/ADC).
    batch : int
        Input vectors [-].
    seed : int
        Seed of the weights and inputs (the chip's own randomness follows ``hw.seed``).
    """
    import numpy as np

    from device_models import rng

    from ..array.mapping import outputs_per_tile
    from ..tile.matrix import AnalogMatrix

    hw = HardwareConfig() if hw is None else hw
    if not isinstance(hw, HardwareConfig):
        fail("hw", "standard_tile_report", "a HardwareConfig", hw)
    batch = check_int("batch", batch, "standard_tile_report", lo=1, hi=1 << 20)
    seed = check_int("seed", seed, "standard_tile_report", lo=0)
    rows = hw.tile.rows
    t = hw.tile
    cols = outputs_per_tile(t.cols, t.weight_bits, t.bits_per_cell, t.weight_mapping,
                            stacking=t.stacking)
    w = rng.standard_normal(rng.derive_key(seed, "report.tile.w", 0), (rows, cols))
    x_cal = rng.uniform(rng.derive_key(seed, "report.tile.xcal", 0), (256, rows))
    x = rng.uniform(rng.derive_key(seed, "report.tile.x", 0), (batch, rows))
    mat = AnalogMatrix(np.asarray(w), hw, name="tile")
    mat.calibrate(np.asarray(x_cal))
    _, counts = mat.matmul(np.asarray(x))
    return build_report({"tile": counts}, hw, batch=batch, n_tiles={"tile": mat.n_tiles},
                        program_counts=mat.program_counts)
