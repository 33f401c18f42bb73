"""What the fuzz suite (``tests/test_fuzz.py``) calls, and with what.

The suite walks the public API itself: every callable in the ``__all__`` of every public module
of ``device_models`` and ``cimsim`` (functions, and classes through their constructors) is
fuzzed with values chosen by the names of its parameters, good ones and bad ones (complex,
object, huge, NaN, empty, non-contiguous arrays; wrong types; absurd scalars; damaged files).
A new public function is therefore fuzzed as soon as it is in an ``__all__``; nothing needs
registering. This module holds only what the walk cannot know:

* :data:`EXAMPLES`: a valid call of a function (``qualname → () -> (args, kwargs)``); the
  suite then also mutates one argument at a time from that valid call, which reaches the code
  behind the first checks. Add one for a function whose parameters the name rules below do not
  fill well.
* :data:`METHODS`: a factory of a valid instance for a class whose public methods should be
  fuzzed too (``class qualname → () -> instance``).
* :data:`EXEMPT`: callables the generic fuzz must not call with arbitrary values, with the
  reason (they start processes, write outside a temporary folder, mutate a registry, or are
  plain records). Keep this list short.
* :data:`NAN_OK`: callables documented to return NaN for some finite inputs.
* :data:`VALUES`: extra values for a parameter name (``name → [values]``).
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np

PACKAGES = ("device_models", "cimsim")

#: Callables never called by the generic fuzz, with the reason.
EXEMPT: dict[str, str] = {
    "cimsim.cli.main": "the CLI: fuzzed by test_cli_fuzz with its own argument lists",
    "cimsim.cli.build_parser": "no arguments",
    "cimsim.study.runner.run_sweep": "starts Dask clusters; fuzzed through spec files with "
                                     "workers=0 in test_file_fuzz",
    "cimsim.study.jobs.register_job": "mutates the global job registry",
    "cimsim.study.store.writer_lock": "a lock file beside any path: covered by test_sweep",
    "cimsim.kernels.parallel.for_row_slices": "calls its argument on threads (infrastructure)",
    "cimsim.kernels.parallel.side_by_side": "calls its arguments on threads (infrastructure)",
    "cimsim.kernels.parallel.fresh_scratch": "uninitialised scratch of any requested size "
                                             "(infrastructure, like workspace)",
    "cimsim.kernels.parallel.aligned_empty": "uninitialised array of any requested size "
                                             "(infrastructure, like workspace)",
    "cimsim.kernels.parallel.workspace": "per-thread scratch of any requested size "
                                         "(infrastructure, never returned to callers)",
    "cimsim.kernels.parallel.blas_single_thread": "a context manager without arguments",
    "cimsim.nn.seqdata.load_tempest": "no arguments; reads bundled data",
    "cimsim.nn.seqdata.load_smnist": "no arguments; reads bundled data",
    "cimsim.nn.bundled.load_mnist": "no arguments; reads bundled data",
    "cimsim.nn.bundled.load_digits_split": "no arguments; reads bundled data",
    "cimsim.nn.torch_import.from_torch": "needs torch modules (tests/test_network.py)",
    "cimsim.nn.onnx_import.from_onnx": "needs onnx models (tests/test_sequence.py)",
    "cimsim.plotting.pyplot": "no arguments",
    "device_models.mosfet.ekv_numpy": "NumPy reference of the EKV kernel (hot path, called with "
                                      "validated arrays by mosfet_current)",
    "device_models.rng.hash_bits": "NumPy reference of the hash kernel (hot path)",
    "device_models.rng.normals_at": "NumPy reference of the normal kernel (hot path)",
}

_TILE = "stage of the AnalogMatrix read pipeline: takes the tile states, encoders and configs " \
        "AnalogMatrix built and checked (AnalogMatrix is fuzzed, with its methods)"
_GEMM = "GEMM kernel (hot path) on operands AnalogMatrix packed; checked against its NumPy " \
        "reference in tests/test_int8_gemm.py and tests/test_bf16_gemm.py"
_ACCOUNT = "energy/latency account helper fed by build_report from OpCounts and Components it " \
           "assembled (build_report and Network.report are fuzzed)"
_SPIKING = "spiking-network helper over the layers of a Network that Network validated (Network " \
           "and its methods are fuzzed)"

#: Public callables that do not validate arbitrary input, each with the reason: the generic
#: fuzz still runs them and is expected to fail (strict in the default run, so a fix shows as
#: XPASS and the entry must then be removed). Everything else in a public ``__all__`` is fuzzed
#: for real, including new functions: a new callable needs either validation or an entry here.
KNOWN: dict[str, str] = {
    "cimsim.kernels.bf16_gemm.matmul": _GEMM,
    "cimsim.kernels.bf16_gemm.matmul_filled": _GEMM,
    "cimsim.kernels.bf16_gemm.operand_bits": _GEMM,
    "cimsim.kernels.bf16_gemm.panels_of_bits": _GEMM,
    "cimsim.kernels.bf16_gemm.round_bf16": _GEMM,
    "cimsim.kernels.int8_gemm.SplitMatrix": _GEMM,
    "cimsim.kernels.int8_gemm.integer_matrix": _GEMM,
    "cimsim.kernels.lut_gemm.LutMatrix": _GEMM,
    "cimsim.kernels.lut_gemm.fixed_point": _GEMM,
    "cimsim.kernels.lut_gemm.matmul": _GEMM,
    "cimsim.kernels.lut_gemm.pack": _GEMM,
    "cimsim.kernels.int8_gemm.matmul": _GEMM,
    "cimsim.kernels.int8_gemm.rounded": _GEMM,
    "cimsim.kernels.int8_gemm.split": _GEMM,
    "cimsim.tile.cells.ArrayRead": _TILE,
    "cimsim.tile.cells.array_read": _TILE,
    "cimsim.tile.compensation.affine_factors": _TILE,
    "cimsim.tile.compensation.global_factors": _TILE,
    "cimsim.tile.compensation.reference_plan": _TILE,
    "cimsim.tile.encode.InputEncoder": _TILE,
    "cimsim.tile.frontend.calibrate": _TILE,
    "cimsim.tile.frontend.gain_lsb_per_a": _TILE,
    "cimsim.tile.frontend.noise_a2": _TILE,
    "cimsim.tile.laws.cell_kind": _TILE,
    "cimsim.tile.laws.current_window": _TILE,
    "cimsim.tile.laws.program_targets": _TILE,
    "cimsim.tile.laws.read_law": _TILE,
    "cimsim.tile.laws.verify_law": _TILE,
    "cimsim.tile.readout.ColumnAdcs": _TILE,
    "cimsim.tile.readout.analog_read": _TILE,
    "cimsim.tile.state.RowBlock": _TILE,
    "cimsim.tile.state.work_dtype": _TILE,
    "cimsim.tile.variance.add_white": _TILE,
    "cimsim.tile.variance.build": _TILE,
    "cimsim.tile.variance.drive_law": _TILE,
    "cimsim.tile.variance.operand": _TILE,
    "cimsim.tile.variance.operand_table": _TILE,
    "cimsim.tile.variance.variances": _TILE,
    "cimsim.nn.layers.add_ops": _ACCOUNT,
    "cimsim.nn.layers.scale_ops": _ACCOUNT,
    "cimsim.nn.layers.softmax_ops": _ACCOUNT,
    "cimsim.nn.layers.run_digital_ops": "runs a layer's digital operations on arrays its "
                                        "forward pass produced (Network is fuzzed)",
    "cimsim.nn.accounting.sequence_account": _ACCOUNT,
    "cimsim.ppa.energy.breakdown_total": _ACCOUNT,
    "cimsim.ppa.energy.tile_area_m2": _ACCOUNT,
    "cimsim.ppa.latency.tile_cycle_time_s": _ACCOUNT,
    "cimsim.ppa.leakage.digital_unit_off_devices": _ACCOUNT,
    "cimsim.ppa.leakage.tech_mosfet": _ACCOUNT,
    "cimsim.ppa.leakage.tile_off_devices": _ACCOUNT,
    "cimsim.ppa.spiking.neuron_steps": _SPIKING,
    "cimsim.ppa.spiking.spikes_per_inference": _SPIKING,
    "cimsim.nn.spiking.binary_input_layers": _SPIKING,
    "cimsim.nn.spiking.network_timesteps": _SPIKING,
    "cimsim.nn.spiking.spike_drive": _SPIKING,
    "cimsim.study.store.SweepStore": "constructor from a header dict that SweepStore.open / "
                                     "create read or wrote; those and load are fuzzed on "
                                     "damaged files (test_file_fuzz)",
    "cimsim.nn.mnist.read_zarr_uint8": "reads one array from an open zarr zip of the MNIST "
                                       "package; load_full_mnist validates the store",
}

#: Callables documented to return NaN for some finite inputs.
NAN_OK: dict[str, str] = {
    "device_models.mosfet.gm_over_id": "undefined (NaN) where I_D = 0, i.e. at V_DS = 0",
}


@cache
def public_callables() -> dict[str, Any]:
    """qualified name → object, for every callable in a public module's ``__all__``."""
    out: dict[str, Any] = {}
    for pkg_name in PACKAGES:
        pkg = importlib.import_module(pkg_name)
        mods = [pkg_name] + [m.name for m in pkgutil.walk_packages(pkg.__path__,
                                                                    pkg_name + ".")]
        for mod_name in mods:
            parts = mod_name.split(".")[1:]
            if any(p.startswith("_") for p in parts) or "commands" in parts:
                continue
            try:
                mod = importlib.import_module(mod_name)
            except ImportError:  # an optional dependency is missing
                continue
            for name in getattr(mod, "__all__", ()):
                obj = getattr(mod, name, None)
                if not callable(obj) or isinstance(obj, enum.EnumMeta):
                    continue
                module = getattr(obj, "__module__", mod_name)
                qual = f"{module}.{getattr(obj, '__qualname__', name)}"
                out.setdefault(qual, obj)
    return dict(sorted(out.items()))


def is_record(obj: Any) -> bool:
    """An exception class, a Protocol/ABC, a dataclass that only holds values (no
    ``__post_init__`` and not a Config), or a Numba kernel (typed by its signature; the public
    wrappers validate before calling it): nothing for the generic fuzz to validate."""
    from numba.core.dispatcher import Dispatcher

    if isinstance(obj, Dispatcher):
        return True
    if not inspect.isclass(obj):
        return False
    if issubclass(obj, BaseException) or getattr(obj, "_is_protocol", False):
        return True
    if inspect.isabstract(obj):
        return True
    from cimsim.config import Config

    return dataclasses.is_dataclass(obj) and not issubclass(obj, Config) and \
        "__post_init__" not in vars(obj)


def targets() -> dict[str, Any]:
    """The callables the generic fuzz calls (public, not exempt, not records)."""
    return {q: o for q, o in public_callables().items()
            if q not in EXEMPT and not is_record(o)}


# --------------------------------------------------------------------------------------------
# Valid examples (qualname → () -> (args, kwargs)) and instances for method fuzzing
# --------------------------------------------------------------------------------------------


def _card(name: str):
    from device_models import cards

    return cards.load(name)


def _hw():
    from cimsim import HardwareConfig

    return HardwareConfig()


def _analog_matrix():
    from cimsim import AnalogMatrix, HardwareConfig

    w = np.random.default_rng(0).normal(size=(12, 5))
    return AnalogMatrix(w, HardwareConfig()).calibrate(np.ones((3, 12)))


def _network():
    from cimsim.nn.layers import Linear, ReLU
    from cimsim.nn.network import Network

    rng = np.random.default_rng(0)
    net = Network([Linear(rng.normal(size=(6, 4)), np.zeros(6), name="fc1"), ReLU(name="r"),
                   Linear(rng.normal(size=(3, 6)), None, name="fc2")], (4,), name="fuzz")
    return net


def _compiled_network():
    from cimsim import HardwareConfig

    net = _network()
    net.compile(HardwareConfig.ideal(), np.random.default_rng(1).uniform(0, 1, (8, 4)))
    return net


EXAMPLES: dict[str, Callable[[], tuple[tuple, dict]]] = {
    "device_models.mosfet.mosfet_current": lambda: (
        (np.linspace(0, 1.8, 5), 1.0, _card("mosis2001_tsmc180_nmos")), {}),
    "device_models.programming.program_write_verify": lambda: (
        (_card("yao2020_taox_1t1r"), np.full(8, 10e-6), 0.5e-6), {"seed": 1}),
    "device_models.measure.measure_enob": lambda: ((_sar(),), {"n_samples": 256}),
    "device_models.measure.measure_inl_dnl": lambda: ((_sar(),), {"samples_per_code": 8}),
    "cimsim.array.crossbar.column_currents": lambda: (
        (np.full((4, 3), 1e-5), np.full((2, 4), 0.2)), {"r_wire_ohm": 1.0}),
    "cimsim.array.crossbar.solve_crossbar": lambda: (
        (np.full((4, 3), 1e-5), np.full((2, 4), 0.2)), {"r_wire_ohm": 1.0}),
    "cimsim.array.crossbar.effective_conductance": lambda: ((np.full((4, 3), 1e-5), 1.0, 1.0),
                                                            {}),
    "cimsim.array.mapping.map_weights": lambda: (
        (np.random.default_rng(0).normal(size=(4, 3)), 1e-6, 2e-5), {}),
    "cimsim.array.mapping.quantize_weights": lambda: ((np.array([0.5, -1.0, 0.1]), 4), {}),
    "cimsim.tile.matrix.AnalogMatrix": lambda: ((np.ones((4, 3)), _hw()), {}),
    "cimsim.nn.network.Network": lambda: (([_relu()], (4,)), {}),
    "cimsim.hardware.HardwareConfig": lambda: ((), {"t_s": 1.0}),
}


def _sar():
    from device_models import SarAdc

    return SarAdc(6)


def _relu():
    from cimsim.nn.layers import ReLU

    return ReLU(name="r")


#: class qualname → factory of a valid instance whose public methods are fuzzed.
METHODS: dict[str, Callable[[], Any]] = {
    "cimsim.tile.matrix.AnalogMatrix": _analog_matrix,
    "cimsim.nn.network.Network": _compiled_network,
    "device_models.adc.SarAdc": _sar,
    "cimsim.hardware.HardwareConfig": _hw,
    "device_models.cards.Card": lambda: _card("yao2020_taox_1t1r"),
}

#: Methods of those instances not fuzzed (with the reason).
METHODS_EXEMPT: dict[str, str] = {
    "cimsim.nn.network.Network.fit": "trains for as many epochs as asked (cost, not safety)",
    "cimsim.nn.network.Network.volatility": "trains a copy (cost, not safety)",
}

#: Extra values for parameters of a given name.
VALUES: dict[str, list] = {}
