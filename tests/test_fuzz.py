"""Fuzz suite: any input to a public function or CLI command gives a correct result or a
``CimSimError`` with a clear message; never another exception type, a NaN from finite inputs,
or a hang.

What is called comes from ``tests/fuzz_registry.py`` (which walks every public ``__all__``).
The default run draws :data:`N_DEFAULT` examples per target; the ``slow`` tests (``pytest -m
slow tests/test_fuzz.py``) draw :data:`N_SLOW`. ``CIMSIM_FUZZ_EXAMPLES=N`` overrides both.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import os
import resource
import shutil
import signal
import warnings
from pathlib import Path

import fuzz_registry as reg
import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from device_models.errors import CimSimError

N_DEFAULT = int(os.environ.get("CIMSIM_FUZZ_EXAMPLES", 4))
N_SLOW = int(os.environ.get("CIMSIM_FUZZ_EXAMPLES", 150))
#: Wall-clock limit of one call [s]: beyond it the call counts as a hang.
CALL_LIMIT_S = 60
#: Address space a call may add to the process before MemoryError [bytes].
MEMORY_HEADROOM = 4 << 30

#: Both runs are derandomized (the same examples every run, so the KNOWN list below is stable
#: and CI cannot turn red by the luck of a draw); the slow run draws many more examples, and
#: afresh each run with CIMSIM_HYPOTHESIS_RANDOM=1 (the profile tests/conftest.py loads).
_SETTINGS = dict(derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck),
                 phases=[Phase.explicit, Phase.reuse, Phase.generate])  # no shrinking
_SLOW_SETTINGS = dict(_SETTINGS, derandomize=settings.default.derandomize,
                      phases=list(Phase))


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

_FILES: dict[str, Path] = {}


def _files(tmp: Path) -> dict[str, Path]:
    """Damaged, foreign and good files in ``tmp`` (made once per session)."""
    if _FILES:
        return _FILES
    from cimsim import load_bundled, save_model
    from cimsim.study.sweep import run_sweep

    good_h5 = tmp / "sweep.h5"
    run_sweep({"sweep": {"job": "device_array"}, "options": {"cells": 16},
               "grid": {"t_s": [1.0, 2.0]}}, good_h5, workers=0, progress=False)
    model = save_model(load_bundled("digits_cnn_relu"), tmp / "model.npz")
    card = Path(reg._card("liu2010_sar_10b").path)
    texts = {"text.h5": b"not hdf5\n", "text.npz": b"PK\x03\x04 not a zip",
             "card.toml": card.read_bytes(), "bad.toml": b"kind = [\n", "empty.toml": b"",
             "spec.toml": b'[sweep]\njob = "device_array"\n[options]\ncells = 16\n'}
    for name, data in texts.items():
        (tmp / name).write_bytes(data)
    with h5py.File(tmp / "foreign.h5", "w") as fh:
        fh["x"] = np.arange(3)
    for src in (good_h5, model):
        data = src.read_bytes()
        (tmp / f"cut_{src.name}").write_bytes(data[: len(data) // 2])
        flipped = bytearray(data)
        for k in range(len(data) // 3, len(data), max(1, len(data) // 40)):
            flipped[k] ^= 0x5A
        (tmp / f"flip_{src.name}").write_bytes(bytes(flipped))
    (tmp / "folder").mkdir()
    _FILES.update({p.name: p for p in tmp.iterdir()})
    _FILES["missing"] = tmp / "missing.h5"
    _FILES["good_sweep"] = good_h5
    _FILES["good_model"] = model
    return _FILES


@pytest.fixture(scope="session")
def master_files(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("fuzzfiles"))


@pytest.fixture
def files(master_files, tmp_path):
    """Copies of the fuzz files for one test (a function given a path may write to it)."""
    own = tmp_path / "files"
    own.mkdir()
    out = {}
    for name, path in master_files.items():
        if path.is_file():
            shutil.copy(path, own / path.name)
        elif path.is_dir():
            (own / path.name).mkdir(exist_ok=True)
        out[name] = own / path.name
    return out


_BAD_SCALARS = [np.nan, np.inf, -np.inf, 1e308, -1e308, 5e-324, 0, -1, 2**63, 2**70, 10**400,
                True, 1 + 1j, np.complex64(1), "", "abc", None, b"x", [], {}, (), object(),
                np.float32(np.nan), np.int8(-3), np.array(np.nan), 1e9]

_BAD_ARRAYS = [
    np.array([1 + 1j, 2.0]), np.array([object(), 1.0], dtype=object), np.array(["a", "b"]),
    np.array([np.nan, 1.0]), np.array([np.inf, 0.0]), np.array([1e308, -1e308]),
    np.zeros((0,)), np.zeros((0, 3)), np.zeros((3, 0)), np.ones((6, 4))[::2],
    np.ones((4, 3)).T, np.ones((2, 2, 2, 2)), np.array(True), np.float16([1, 2]),
    np.arange(6, dtype=np.int8).reshape(2, 3), np.full((3, 3), 1e300), np.full(4, -1.0),
    [[1.0, 2.0], [3.0]], np.ones((2, 3), dtype=np.float32), np.array(1.0),
]


def _arrays_any() -> st.SearchStrategy:
    """Arrays of any dtype, shape and values (NaN, inf, subnormal, huge included)."""
    dtypes = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int8,
                              np.uint8, np.bool_, np.complex128])
    return dtypes.flatmap(lambda dt: hnp.arrays(
        dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)))


def _cards():
    from device_models import cards

    return [cards.load(n) for n in cards.names()]


def _good_for(name: str, files: dict) -> list:
    """Plausible values for a parameter called ``name``."""
    from cimsim import HardwareConfig, TileConfig

    n = name.lower()
    rng = np.random.default_rng(len(n))
    if "card" in n:
        return [*_cards(), "yao2020_taox_1t1r", "liu2010_sar_10b", "mosis2001_tsmc180_nmos"]
    if n in ("hw", "hardware", "config", "hardware_config"):
        return [HardwareConfig(), HardwareConfig.ideal()]
    if n in ("tile", "tile_config"):
        return [TileConfig()]
    if "seed" in n or n in ("key", "index", "offset", "sample_offset", "counter"):
        return [0, 1, 7, np.random.default_rng(0)]
    if "temperature" in n:
        return [300.0, 77.0, 400.0]
    if "bits" in n or n in ("n", "count", "levels", "rows", "cols", "batch", "k"):
        return [1, 2, 4, 8]
    if n in ("path", "file", "out", "filename", "source", "model"):
        return list(files.values())
    if n in ("shape", "input_shape", "size"):
        return [(2, 3), (4,), 3]
    if n in ("name", "kind", "mapping", "encoding", "method", "mode", "stimulus", "cell",
             "placement", "recurrence", "reduction", "approximate", "output", "law"):
        return ["linear", "sinh", "1t1r", "differential", "offset", "amplitude", "bit_serial",
                "exact", "fast", "ramp", "sine", "analog", "digital", "none", "tanh"]
    if n.endswith("_s") or n.startswith("t_") or n in ("t", "time"):
        return [0.0, 1e-9, 1.0, 1e5]
    if n.endswith(("_v", "_a", "_j", "_w", "_f", "_hz", "_ohm", "_m", "_m2")):
        return [0.0, 0.2, 1.0, 1e-6, -0.5]
    if n in ("layers", "layer"):
        return [[reg._relu()], reg._relu()]
    if n in ("net", "network"):
        return [reg._network()]
    if n == "adc":
        return [reg._sar()]
    return [rng.uniform(0, 1, (4,)), rng.uniform(0, 1, (2, 4)), rng.normal(size=(4, 4)), 0.5,
            1, 3]


def _value(name: str, files: dict) -> st.SearchStrategy:
    extra = reg.VALUES.get(name, [])
    return st.one_of(
        st.sampled_from(_good_for(name, files) + extra),
        st.sampled_from(_BAD_SCALARS),
        st.sampled_from(_BAD_ARRAYS),
        _arrays_any(),
        st.sampled_from(list(files.values())),
        st.sampled_from(_cards()),
    )


# --------------------------------------------------------------------------------------------
# Calling
# --------------------------------------------------------------------------------------------


class Hang(Exception):
    pass


@contextlib.contextmanager
def _guarded():
    """Bounded wall time (SIGALRM) and address space (RLIMIT_AS) for one call."""
    def on_alarm(signum, frame):
        raise Hang(f"no result within {CALL_LIMIT_S} s")

    old_handler = signal.signal(signal.SIGALRM, on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = _vm_bytes()
    limit = vm + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.alarm(CALL_LIMIT_S)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # a complex value silently cut to its real part is a failure, not a result
            warnings.simplefilter("error", np.exceptions.ComplexWarning)
            with np.errstate(all="ignore"):
                yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_handler)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0  # pragma: no cover


def _finite_input(v) -> bool:
    """True if ``v`` holds only finite real numbers (or is not numeric at all)."""
    if isinstance(v, (bool, str, bytes)) or v is None:
        return True
    if isinstance(v, (int, float, np.number)):
        return not isinstance(v, (complex, np.complexfloating)) and math.isfinite(float(v)) \
            if not isinstance(v, int) or abs(v) < 2**1000 else True
    if isinstance(v, np.ndarray):
        if v.dtype.kind in "fc":
            return v.dtype.kind == "f" and bool(np.all(np.isfinite(v)))
        return v.dtype.kind != "O"
    if isinstance(v, (list, tuple)):
        return all(_finite_input(x) for x in v)
    return True


def _nan_in(result) -> bool:
    if isinstance(result, np.ndarray) and result.dtype.kind in "fc":
        return bool(np.any(np.isnan(result)))
    if isinstance(result, float):
        return math.isnan(result)
    if isinstance(result, (tuple, list)):
        return any(_nan_in(r) for r in result[:16])
    return False


def _check_call(qual: str, fn, args: tuple, kwargs: dict) -> None:
    """Call ``fn``; fail unless it returns (no NaN from finite inputs) or raises a
    CimSimError with a clear message."""
    try:
        with _guarded():
            result = fn(*args, **kwargs)
    except CimSimError as exc:
        msg = str(exc)
        assert msg.strip(), f"{qual}: {type(exc).__name__} without a message"
        assert "Traceback" not in msg and len(msg) < 4000, f"{qual}: unclear message {msg!r}"
        return
    except Hang:
        pytest.fail(f"{qual} hung (> {CALL_LIMIT_S} s) on {_show(args, kwargs)}")
    except Exception as exc:
        pytest.fail(f"{qual} raised {type(exc).__name__}: {str(exc)[:300]} on "
                    f"{_show(args, kwargs)} (a public callable must answer any input with a "
                    "result or a CimSimError: validate its arguments, or list it in KNOWN in "
                    "tests/fuzz_registry.py with the reason)")
    if qual not in reg.NAN_OK and all(_finite_input(a) for a in (*args, *kwargs.values())):
        assert not _nan_in(result), f"{qual} returned NaN for finite inputs {_show(args, kwargs)}"


def _show(args, kwargs) -> str:
    def one(v):
        if isinstance(v, np.ndarray):
            return f"array(dtype={v.dtype}, shape={v.shape})"
        text = repr(v)
        return text if len(text) < 60 else text[:57] + "..."
    parts = [one(a) for a in args] + [f"{k}={one(v)}" for k, v in kwargs.items()]
    return "(" + ", ".join(parts) + ")"


def _parameters(fn) -> list[inspect.Parameter]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    return [p for p in sig.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name != "self"]


def _generic_call(draw, fn, files):
    args, kwargs = [], {}
    for p in _parameters(fn):
        if p.default is not p.empty and not draw(st.booleans()):
            continue
        v = draw(_value(p.name, files))
        if p.kind == p.POSITIONAL_ONLY:
            args.append(v)
        else:
            kwargs[p.name] = v
    return tuple(args), kwargs


TARGETS = reg.targets()


def _fuzz_target(qual: str, files, n: int, slow: bool = False) -> None:
    fn = TARGETS[qual]

    @settings(max_examples=n, **(_SLOW_SETTINGS if slow else _SETTINGS))
    @given(st.data())
    def run(data):
        args, kwargs = _generic_call(data.draw, fn, files)
        _check_call(qual, fn, args, kwargs)

    run()


def _params(strict: bool):
    out = []
    for q in TARGETS:
        if q in reg.KNOWN:
            out.append(pytest.param(q, marks=pytest.mark.xfail(strict=strict,
                                                               reason=reg.KNOWN[q])))
        else:
            out.append(q)
    return out


@pytest.mark.parametrize("qual", _params(strict=True))
def test_public_callable(qual, files):
    """Every public callable: values chosen by parameter name, good and bad."""
    _fuzz_target(qual, files, N_DEFAULT)


@pytest.mark.slow
@pytest.mark.parametrize("qual", _params(strict=False))
def test_public_callable_slow(qual, files):
    _fuzz_target(qual, files, N_SLOW, slow=True)


# --- mutations of valid calls ------------------------------------------------------------------


def _mutate(qual: str, files, n: int) -> None:
    fn = TARGETS.get(qual) or reg.public_callables()[qual]
    args0, kwargs0 = reg.EXAMPLES[qual]()
    _check_call(qual, fn, args0, kwargs0)  # the example itself is valid
    names = [f"arg{i}" for i in range(len(args0))] + list(kwargs0)
    if not names:
        return

    @settings(max_examples=n, **_SETTINGS)
    @given(st.data())
    def run(data):
        which = data.draw(st.sampled_from(names))
        args, kwargs = list(args0), dict(kwargs0)
        bad = data.draw(st.one_of(st.sampled_from(_BAD_SCALARS), st.sampled_from(_BAD_ARRAYS),
                                  _arrays_any(), _value(which, files)))
        if which.startswith("arg"):
            args[int(which[3:])] = bad
        else:
            kwargs[which] = bad
        _check_call(qual, fn, tuple(args), kwargs)

    run()


@pytest.mark.parametrize("qual", list(reg.EXAMPLES))
def test_mutated_valid_call(qual, files):
    _mutate(qual, files, N_DEFAULT * 3)


@pytest.mark.slow
@pytest.mark.parametrize("qual", list(reg.EXAMPLES))
def test_mutated_valid_call_slow(qual, files):
    _mutate(qual, files, N_SLOW)


# --- methods of valid instances ------------------------------------------------------------------


def _methods() -> list[tuple[str, str]]:
    out = []
    for cls_qual in reg.METHODS:
        cls = reg.public_callables()[cls_qual]
        for name, member in inspect.getmembers(cls):
            if name.startswith("_") or not callable(member) or isinstance(member, type):
                continue
            q = f"{cls_qual}.{name}"
            if q not in reg.METHODS_EXEMPT:
                out.append((cls_qual, name))
    return out


@pytest.mark.parametrize("cls_qual,method", _methods())
def test_public_method(cls_qual, method, files):
    inst = reg.METHODS[cls_qual]()
    fn = getattr(inst, method)
    qual = f"{cls_qual}.{method}"

    @settings(max_examples=N_DEFAULT, **_SETTINGS)
    @given(st.data())
    def run(data):
        args, kwargs = _generic_call(data.draw, fn, files)
        _check_call(qual, fn, args, kwargs)

    run()


# --- files -------------------------------------------------------------------------------------


def _loaders():
    from cimsim import HardwareConfig, load_model
    from cimsim.ppa.report import load_report
    from cimsim.study.spec import SweepSpec
    from cimsim.study.store import SweepStore, load
    from device_models import cards

    return {"store.load": load, "SweepStore.open": SweepStore.open, "load_model": load_model,
            "load_report": load_report, "cards.load": cards.load,
            "SweepSpec.from_toml": SweepSpec.from_toml,
            "HardwareConfig.from_toml": HardwareConfig.from_toml}


@pytest.mark.parametrize("loader", list(_loaders()))
def test_file_fuzz(loader, files, tmp_path):
    """Every loader on every damaged, truncated, foreign or missing file, and on files with
    bytes overwritten at random places: a result or a CimSimError."""
    fn = _loaders()[loader]
    for path in files.values():
        _check_call(loader, fn, (path,), {})

    @settings(max_examples=N_DEFAULT * 2, **_SETTINGS)
    @given(src=st.sampled_from(["good_sweep", "good_model", "card.toml", "spec.toml"]),
           where=st.floats(0.0, 1.0), size=st.integers(1, 64), value=st.integers(0, 255),
           truncate=st.booleans())
    def run(src, where, size, value, truncate):
        data = bytearray(files[src].read_bytes())
        k = int(where * (len(data) - 1))
        if truncate:
            data = data[:k]
        else:
            data[k:k + size] = bytes([value]) * len(data[k:k + size])
        path = tmp_path / f"mut{files[src].suffix}"
        path.write_bytes(bytes(data))
        _check_call(loader, fn, (path,), {})

    run()


def test_damaged_sweep_never_reads_back_changed_numbers(files, tmp_path):
    """A sweep file with any run of bytes overwritten loads to the original numbers or is
    refused (checksums): never different numbers."""
    from cimsim.study.store import StoreError, load

    ref = load(files["good_sweep"])

    @settings(max_examples=N_DEFAULT * 5, **_SETTINGS)
    @given(where=st.floats(0.0, 1.0), size=st.integers(1, 32), value=st.integers(0, 255))
    def run(where, size, value):
        data = bytearray(files["good_sweep"].read_bytes())
        k = int(where * (len(data) - 1))
        data[k:k + size] = bytes([value]) * len(data[k:k + size])
        path = tmp_path / "m.h5"
        path.write_bytes(bytes(data))
        try:
            with _guarded():
                res = load(path)
        except StoreError:
            return
        for name, col in ref.metrics.items():
            np.testing.assert_array_equal(res.metrics[name], col)
        np.testing.assert_array_equal(res.status, ref.status)
        assert res.configs == ref.configs

    run()


# --- configs and cards ----------------------------------------------------------------------------

_JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)


def _config_tree():
    """A HardwareConfig dict with a few entries replaced by arbitrary JSON-like values."""
    from cimsim import HardwareConfig

    base = HardwareConfig().to_dict()
    paths = [k for k in base if k != "tile"] + [f"tile.{k}" for k in base["tile"]]
    return st.tuples(st.lists(st.tuples(st.sampled_from(paths + ["nope", "tile.nope"]),
                                        _JSONISH), max_size=3))


def test_config_fuzz():
    from cimsim import HardwareConfig

    @settings(max_examples=N_DEFAULT * 25, **_SETTINGS)
    @given(_config_tree())
    def run(changes):
        tree = HardwareConfig().to_dict()
        for path, value in changes[0]:
            node, *rest = path.split(".")
            if rest:
                tree[node][rest[0]] = value
            else:
                tree[node] = value
        _check_call("HardwareConfig.from_dict", HardwareConfig.from_dict, (tree,), {})
        for path, value in changes[0]:
            _check_call("HardwareConfig.replace_path", HardwareConfig().replace_path,
                        (path, value), {})

    run()


def test_card_fuzz():
    from device_models import cards

    names = cards.names()

    @settings(max_examples=N_DEFAULT * 25, **_SETTINGS)
    @given(name=st.sampled_from(names), field=st.text(max_size=20) | st.sampled_from(
        ["g_min_s", "g_max_s", "bits", "v0_v", "kind", "name", "unit_cap_f"]), value=_JSONISH,
        where=st.sampled_from(["value", "unit", "note", "drop", "source", "kind"]))
    def run(name, field, value, where):
        card = cards.load(name)
        _check_call("Card.replace", card.replace, (), {field: value} if field else {})
        d = card.to_dict()
        if where == "drop":
            d["values"].pop(next(iter(d["values"])))
        elif where == "source":
            d["source"][field or "x"] = value
        elif where == "kind":
            d["kind"] = value
        elif d["values"]:
            d["values"][next(iter(d["values"]))][where] = value
        d.pop("sha256", None)
        _check_call("Card.from_dict", cards.Card.from_dict, (d,), {})

    run()


# --- CLI -----------------------------------------------------------------------------------------


def _cli_argv(files):
    """Argument lists for every sub-command: flags, junk and damaged files mixed."""
    paths = [str(p) for p in files.values()]
    junk = st.sampled_from(["", "-", "--", "nan", "-1", "1e999", "abc", "--json", "--x",
                            "tile.adc_bits", "--set", "tile.nope=1", "t_s=-1", "seed=x",
                            "--n", "0", "--workers", "-3", "--max-points", "0", "--no-progress",
                            "--scheduler", "nonsense", "--cards", "yao2020_taox_1t1r"])
    token = st.one_of(junk, st.sampled_from(paths), st.text(max_size=8))
    sub = st.sampled_from(["card", "cards", "report", "sweep", "sweep-status", "plot",
                           "devices", "demo", "validate", "nope", "--version", "-h"])
    return st.tuples(sub, st.lists(token, max_size=6))


def _cli_safe(argv: list[str]) -> bool:
    """Leave out argument lists that would run a full job (costly, not unsafe)."""
    cmd = argv[0]
    if cmd == "demo":  # runs a network unless an argument is wrong
        return any(a in ("--n", "--set", "--model", "--t-s", "--seed") for a in argv) and \
            "--help" not in argv
    if cmd == "validate":
        return False
    if cmd == "sweep":
        return "--scheduler" not in argv or "nonsense" in argv
    if cmd == "devices":
        return "--cards" in argv
    return True


def test_cli_fuzz(files, tmp_path, monkeypatch, capsys):
    from cimsim.cli import main

    monkeypatch.chdir(tmp_path)

    @settings(max_examples=N_DEFAULT * 25, **_SETTINGS)
    @given(_cli_argv(files))
    def run(case):
        cmd, rest = case
        argv = [cmd, *rest]
        if cmd == "sweep" and "--workers" not in argv and "--scheduler" not in argv:
            argv += ["--workers", "0", "--max-points", "4"]
        if cmd == "sweep" and "--out" not in argv:
            argv += ["--out", str(tmp_path / "cli.h5")]
        if cmd == "demo" and "--n" not in argv:
            argv += ["--n", "8", "--no-volatility"]
        if not _cli_safe(argv):
            return
        try:
            with _guarded():
                code = main(argv)
        except SystemExit as exc:  # argparse: usage errors exit 2, --help/--version 0
            assert exc.code in (0, 2), (argv, exc.code)
            return
        except Hang:
            pytest.fail(f"cimsim {argv} hung")
        except Exception as exc:
            pytest.fail(f"cimsim {argv} raised {type(exc).__name__}: {exc}")
        assert code in (0, 1, 2), (argv, code)
        err = capsys.readouterr().err
        assert "Traceback" not in err, (argv, err)
        shutil.rmtree(tmp_path / "out", ignore_errors=True)

    run()


# --- the registry stays honest -------------------------------------------------------------


def test_registry_names_exist():
    public = reg.public_callables()
    for table in (reg.EXEMPT, reg.NAN_OK, reg.EXAMPLES, reg.METHODS, reg.KNOWN):
        missing = [q for q in table if q not in public and not q.startswith("cimsim.cli.")]
        assert not missing, f"fuzz_registry names that are not public callables: {missing}"
    assert len(TARGETS) > 150
