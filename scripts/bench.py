#!/usr/bin/env python
"""Throughput of simulated analog operations as ratios against NumPy float32 GEMM.

Usage::

    python scripts/bench.py [--json] [--only NAME ...] [--quick] [--repeat N] [--list]

Every record has ``name``, ``ratio_vs_numpy_gemm`` = (time of a NumPy float32 GEMM of the
same shapes) / (time of the simulated operation), both measured in this run as the best of N
timed runs after a warm-up run (so Numba kernels are compiled and one-off set-up such as a
crossbar's ``G_eff`` is excluded unless the record is about that set-up), and the raw timings
``time_s`` and ``gemm_time_s`` [s] plus the shapes and record-specific fields. A ratio of 1
means "as fast as an ideal float32 matrix multiply"; no thresholds are applied here.

Extending: write ``def bench_x(ctx: BenchContext) -> list[dict]`` decorated with
``@register("name", "one-line description")`` either in this file or in a module
``scripts/bench_<topic>.py`` (imported automatically; it can ``from bench import register,
BenchContext``). Build records with :meth:`BenchContext.record` so they all carry the same
fields. ``--quick`` asks every bench for tiny sizes (used by the smoke test).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:  # run from a checkout without installation
    sys.path.insert(0, str(_HERE.parent))

REGISTRY: dict[str, tuple[Callable, str]] = {}

#: Benches a full run does after all the others (``register(..., last=True)``): they give back
#: gigabytes when they end, and on a virtual machine the next records then fault the host's
#: memory in again (a 512x512 tile read measured right after them runs up to 30 % slower).
_LAST: set[str] = set()

#: Quiet time before each timing of :meth:`BenchContext.time_pair` [s]: longer than the
#: ~0.1 s that OpenBLAS worker threads spin after a multi-threaded call.
SETTLE_S = 0.25


def register(name: str, doc: str = "", *, last: bool = False) -> Callable:
    """Register a bench function ``fn(ctx) -> list[dict]`` under ``name`` (``last``: a full
    run does it after the others)."""

    def deco(fn: Callable) -> Callable:
        if name in REGISTRY and REGISTRY[name][0] is not fn:
            raise ValueError(f"bench {name!r} registered twice")
        REGISTRY[name] = (fn, doc or (fn.__doc__ or "").strip().splitlines()[0])
        if last:
            _LAST.add(name)
        return fn

    return deco


def best_of(fn: Callable[[], object], repeat: int = 5, warmup: int = 1,
            min_sample_s: float = 0.02) -> float:
    """Best time per call [s] over ``repeat`` samples after ``warmup`` untimed calls.

    Fast calls are looped inside a sample until it lasts at least ``min_sample_s``.
    """
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    once = time.perf_counter() - t0
    number = max(1, int(math.ceil(min_sample_s / max(once, 1e-9)))) if once < min_sample_s else 1
    best = once if number == 1 else math.inf
    for _ in range(max(repeat - (number == 1), 1)):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


@dataclasses.dataclass
class BenchContext:
    """Settings of one benchmark run and the shared NumPy-GEMM baseline."""

    quick: bool = False
    repeat: int = 5
    seed: int = 0
    _gemm: dict = dataclasses.field(default_factory=dict)

    def rng(self, tag: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed, tag])

    def gemm_time(self, batch: int, k: int, n: int) -> float:
        """Best time [s] of a NumPy float32 GEMM (batch, k) @ (k, n), cached per shape."""
        key = (batch, k, n)
        if key not in self._gemm:
            rng = self.rng(12345)
            a = rng.standard_normal((batch, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            self._gemm[key] = best_of(lambda: a @ b, repeat=max(self.repeat, 5))
        return self._gemm[key]

    def time_pair(self, fn: Callable[[], object], gemm_shape: tuple[int, int, int],
                  repeat: int | None = None, warmup: int = 1,
                  calls: int = 3) -> tuple[float, float]:
        """Best times [s] of ``fn`` and of the float32 GEMM of ``gemm_shape``, interleaved.

        Each round times the operation (best of ``calls`` calls) and then the GEMM (best of
        three), so both see the same machine load; the best of all rounds is kept. Every
        timing starts after :data:`SETTLE_S` of quiet and ``warmup`` untimed calls (one by
        default): OpenBLAS worker threads busy-wait for about 0.1 s after a multi-threaded
        call and would otherwise take a core from whichever measurement comes next, and the
        first call after a quiet spell runs on cores that are still waking up. Each is thus
        measured in its own steady state, as when it runs back to back. Returns ``(time_s,
        gemm_time_s)``.
        """
        repeat = self.repeat if repeat is None else repeat
        rng = self.rng(12345)
        batch, k, n = gemm_shape
        a = rng.standard_normal((batch, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        t_op, t_gemm = math.inf, math.inf
        for _ in range(repeat):
            time.sleep(SETTLE_S)
            t_op = min(t_op, best_of(fn, repeat=calls, warmup=warmup))
            time.sleep(SETTLE_S)
            t_gemm = min(t_gemm, best_of(lambda: a @ b, repeat=3, warmup=1))
        key = tuple(gemm_shape)
        self._gemm[key] = min(self._gemm.get(key, math.inf), t_gemm)
        return t_op, t_gemm

    def record(self, name: str, time_s: float, gemm_shape: tuple[int, int, int],
               gemm_time_s: float | None = None, **extra) -> dict:
        """A record with the ratio against the float32 GEMM of ``gemm_shape`` (batch, k, n).

        ``gemm_time_s`` from :meth:`time_pair`; measured here (:meth:`gemm_time`) if omitted.
        """
        t_gemm = self.gemm_time(*gemm_shape) if gemm_time_s is None else gemm_time_s
        rec = {
            "name": name,
            "ratio_vs_numpy_gemm": t_gemm / time_s,
            "time_s": time_s,
            "gemm_time_s": t_gemm,
            "gemm_shape": list(gemm_shape),
        }
        rec.update(extra)
        return rec


# ------------------------------------------------------------------------- crossbar benches
_R_WIRE_OHM = 1.0  # wire resistance per cell pitch of the IR-drop benches [ohm]


def _v_read_v() -> float:
    """Full-scale row read voltage of the default tile [V]."""
    from cimsim.hardware import TileConfig

    return TileConfig().v_read_v


def _array(ctx: BenchContext, rows: int, cols: int, batch: int, tag: int):
    """Conductances uniform on [g_min_s, g_max_s] of the default device card; row voltages
    uniform on [0, v_read_v] of the default tile."""
    from cimsim.hardware import HardwareConfig
    from device_models import cards

    card = cards.load(HardwareConfig().device_card)
    rng = ctx.rng(tag)
    g = rng.uniform(card.g_min_s, card.g_max_s, (rows, cols))
    v = rng.uniform(0.0, _v_read_v(), (batch, rows))
    return g, v


@register("ir_drop_geff_setup", "one-off exact G_eff of a 512x512 array (r_wire = 1 ohm)")
def bench_geff_setup(ctx: BenchContext) -> list[dict]:
    from cimsim.array.crossbar import Crossbar

    rows = cols = 32 if ctx.quick else 512
    batch = 16 if ctx.quick else 1024
    g, _ = _array(ctx, rows, cols, 1, 1)
    t, t_gemm = ctx.time_pair(lambda: Crossbar(g, _R_WIRE_OHM).g_eff_s, (batch, rows, cols),
                              repeat=min(ctx.repeat, 2), warmup=0, calls=1)
    rec = ctx.record("ir_drop_geff_setup", t, (batch, rows, cols), t_gemm, rows=rows,
                     cols=cols, nodes=2 * rows * cols, r_wire_ohm=_R_WIRE_OHM)
    rec["gemm_equivalents"] = t / rec["gemm_time_s"]
    return [rec]


@register("ir_drop_linear_crossbar_mvm",
          "exact linear IR-drop MVM via G_eff, 512x512, batch 1024 (G_eff set-up excluded)")
def bench_linear_crossbar(ctx: BenchContext) -> list[dict]:
    from cimsim.array.crossbar import Crossbar, solve_crossbar

    rows = cols = 32 if ctx.quick else 512
    batch = 16 if ctx.quick else 1024
    g, v = _array(ctx, rows, cols, batch, 2)
    v32 = v.astype(np.float32)
    t0 = time.perf_counter()
    xb = Crossbar(g, _R_WIRE_OHM)
    _ = xb.g_eff_s
    setup = time.perf_counter() - t0
    t, t_gemm = ctx.time_pair(lambda: xb.column_currents(v32), (batch, rows, cols))
    # accuracy of the float32 GEMM path against the float64 per-vector nodal solve (8 vectors)
    i32 = xb.column_currents(v32[:8]).astype(np.float64)
    i64 = solve_crossbar(g, v32[:8].astype(np.float64), _R_WIRE_OHM).column_currents_a
    ideal = v[:8] @ g
    rec = ctx.record("ir_drop_linear_crossbar_mvm", t, (batch, rows, cols), t_gemm, rows=rows,
                     cols=cols, batch=batch, r_wire_ohm=_R_WIRE_OHM, geff_setup_s=setup)
    rec["geff_setup_gemm_equivalents"] = setup / rec["gemm_time_s"]
    rec["max_rel_error_vs_nodal_solve"] = float(np.max(np.abs(i32 - i64) / np.abs(i64)))
    rec["max_ir_drop_current_loss"] = float(np.max((ideal - i64) / ideal))
    return [rec]


@register("ir_drop_nonlinear",
          "64x64 sinh cells, batch 64: exact solve (chord+Newton), pure Newton, fast approx.")
def bench_nonlinear(ctx: BenchContext) -> list[dict]:
    """Nonlinear IR drop. ``ratio_vs_numpy_gemm`` is the exact solve (``method="exact"``:
    chord steps to tolerance, Newton where they stall); ``ratio_newton_vs_numpy_gemm`` is
    per-vector damped Newton (``method="newton"``); ``ratio_fast_vs_numpy_gemm`` the fast
    approximation (3 chord steps), whose error against the exact solve is reported."""
    from cimsim.array.crossbar import Crossbar
    from device_models import SinhIV

    rows = cols = 8 if ctx.quick else 64
    batch = 4 if ctx.quick else 64
    g, v = _array(ctx, rows, cols, batch, 3)
    cell = SinhIV(v0_v=0.25)
    xb = Crossbar(g, _R_WIRE_OHM, cell=cell)
    shape = (batch, rows, cols)
    times = {}
    gemm = []
    for method in ("exact", "newton", "fast"):
        rep = ctx.repeat if method == "fast" else min(ctx.repeat, 2)
        t, tg = ctx.time_pair(lambda m=method: xb.column_currents(v, method=m), shape, rep,
                              calls=3 if method == "fast" else 1)
        times[method] = t
        gemm.append(tg)
    t_gemm = min(gemm)
    exact = xb.column_currents(v, method="exact")
    newton = xb.column_currents(v, method="newton")
    fast = xb.column_currents(v, method="fast")
    linear = v @ Crossbar(g, _R_WIRE_OHM).g_eff_s
    rel = np.abs(fast - exact) / np.abs(exact)
    common = dict(rows=rows, cols=cols, batch=batch, r_wire_ohm=_R_WIRE_OHM, v0_v=cell.v0_v,
                  v_max_v=_v_read_v())
    rec = ctx.record("ir_drop_nonlinear", times["exact"], shape, t_gemm, **common)
    rec.update(
        exact_time_s=times["exact"], newton_time_s=times["newton"], fast_time_s=times["fast"],
        ratio_exact_vs_numpy_gemm=t_gemm / times["exact"],
        ratio_newton_vs_numpy_gemm=t_gemm / times["newton"],
        ratio_fast_vs_numpy_gemm=t_gemm / times["fast"],
        fast_max_rel_error=float(rel.max()),
        fast_max_error_rel_full_scale=float(np.max(np.abs(fast - exact)) / np.max(exact)),
        newton_vs_exact_max_rel_diff=float(np.max(np.abs(newton - exact) / np.abs(exact))),
        linear_cell_model_max_rel_error=float(np.max(np.abs(linear - exact) / exact)),
    )
    fast_rec = ctx.record("ir_drop_nonlinear_fast", times["fast"], shape, t_gemm, **common)
    fast_rec["max_rel_error_vs_exact"] = float(rel.max())
    return [rec, fast_rec]


# ------------------------------------------------------------------------- driver
def _load_plugins() -> None:
    """Import every ``scripts/bench_*.py``; each registers its benches into this module's
    REGISTRY (a plugin imported earlier by another copy of this module, e.g. a test's, is
    imported again so that it registers here too)."""
    sys.modules["bench"] = sys.modules[__name__]
    if str(_HERE) not in sys.path:
        sys.path.insert(0, str(_HERE))
    for path in sorted(_HERE.glob("bench_*.py")):
        try:
            plugin = sys.modules.get(path.stem)
            if plugin is None:
                importlib.import_module(path.stem)
            elif getattr(plugin, "register", None) is not register:
                importlib.reload(plugin)
        except Exception as exc:  # a broken plugin must not hide the other benches
            print(f"[bench] warning: could not load {path.name}: {exc!r}", file=sys.stderr)


def selection(names: list[str] | None = None) -> list[str]:
    """The benches a run does, in order: ``names`` as given, or every registered bench with the
    ``last`` ones at the end."""
    return sorted(REGISTRY, key=lambda n: n in _LAST) if not names else list(names)


def run(names: list[str] | None = None, *, quick: bool = False, repeat: int = 5,
        progress: bool = True) -> list[dict]:
    """Run the selected benches (all when ``names`` is None) and return their records."""
    _load_plugins()
    selected = selection(names)
    unknown = [n for n in selected if n not in REGISTRY]
    if unknown:
        raise SystemExit(f"unknown bench name(s) {unknown}; valid names: {sorted(REGISTRY)}")
    ctx = BenchContext(quick=quick, repeat=repeat)
    records: list[dict] = []
    for name in selected:
        if progress:
            print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        records.extend(REGISTRY[name][0](ctx))
    return records


def _format_table(records: list[dict]) -> str:
    lines = [f"{'name':<32} {'ratio_vs_gemm':>14} {'time_s':>12} {'gemm_time_s':>12}  extra"]
    skip = {"name", "ratio_vs_numpy_gemm", "time_s", "gemm_time_s"}
    for r in records:
        extra = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in r.items() if k not in skip
        )
        lines.append(f"{r['name']:<32} {r['ratio_vs_numpy_gemm']:>14.4g} {r['time_s']:>12.4g} "
                     f"{r['gemm_time_s']:>12.4g}  {extra}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print a JSON list of records")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this bench (repeatable)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--list", action="store_true", help="list bench names and exit")
    args = parser.parse_args(argv)
    if args.list:
        _load_plugins()
        for name, (_, doc) in REGISTRY.items():
            print(f"{name:<32} {doc}")
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    records = run(args.only, quick=args.quick, repeat=args.repeat)
    if args.json:
        print(json.dumps(records, indent=1))
    else:
        print(_format_table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
