"""``cimsim validate``: run the reproductions of published chips, compare, report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

NAME = "validate"
HELP = "Run every reproduction in validation/: published vs simulated vs tolerance."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="Reproductions to run (default: all).")
    parser.add_argument("--json", action="store_true",
                        help="Print one JSON object per compared number (JSON lines).")
    parser.add_argument("--fast", action="store_true", help="Skip the reproductions marked slow.")
    parser.add_argument("--out", type=Path, default=Path("validation_report"),
                        help="Directory for the markdown report and PNGs (default: %(default)s).")


def _markdown(results, elapsed) -> str:
    lines = ["# cimsim validation report", ""]
    for rep, secs in zip(results, elapsed, strict=True):
        lines += [f"## {rep.name} — {'PASS' if rep.passed else 'FAIL'} ({secs:.1f} s)", "",
                  rep.citation, ""]
        if rep.summary:
            lines += [rep.summary, ""]
        lines += ["| quantity | published | simulated | deviation | tolerance | result |",
                  "|---|---|---|---|---|---|"]
        for c in rep.comparisons:
            dev = f"{c.deviation:+.1%}" if c.relative else f"{c.deviation:+.3g} {c.unit}"
            lines.append(f"| {c.quantity} | {c.published:.4g} {c.unit} | {c.simulated:.4g} "
                         f"{c.unit} | {dev} | {c.tolerance_text()} | "
                         f"{'PASS' if c.passed else 'FAIL'} |")
        lines.append("")
        for c in rep.comparisons:
            extra = " ".join(x for x in (c.source, c.why, c.note) if x)
            if extra:
                lines.append(f"- *{c.quantity}*: {extra}")
        lines.append("")
        for fig in rep.figures:
            lines.append(f"![{rep.name}]({Path(fig).name})")
        lines.append("")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    import validation

    selected = args.names or validation.names()
    modules = [validation.load(n) for n in selected]
    if args.fast:
        modules = [m for m in modules if not m.SLOW]
    args.out.mkdir(parents=True, exist_ok=True)
    results, elapsed = [], []
    for mod in tqdm(modules, desc="validate", unit="repro", file=sys.stderr):
        t0 = time.perf_counter()
        results.append(mod.run(out_dir=args.out))
        elapsed.append(time.perf_counter() - t0)
    report = args.out / "report.md"
    report.write_text(_markdown(results, elapsed))
    if args.json:
        for rep in results:
            for c in rep.comparisons:
                print(json.dumps({
                    "name": f"{rep.name}: {c.quantity}", "reproduction": rep.name,
                    "quantity": c.quantity, "published": c.published, "simulated": c.simulated,
                    "tolerance": c.tolerance, "relative_tolerance": c.relative, "unit": c.unit,
                    "passed": bool(c.passed), "note": c.note,
                }))
    else:
        w = max((len(f"{r.name}: {c.quantity}") for r in results for c in r.comparisons),
                default=10)
        print(f"{'reproduction':<{w}}  {'published':>12}  {'simulated':>12}  "
              f"{'tolerance':>10}  result")
        for rep in results:
            for c in rep.comparisons:
                label = f"{rep.name}: {c.quantity}"
                print(f"{label:<{w}}  {c.published:>12.4g}  {c.simulated:>12.4g}  "
                      f"{c.tolerance_text():>10}  {'PASS' if c.passed else 'FAIL'}")
        print(f"report: {report}")
    failed = sum(not c.passed for r in results for c in r.comparisons)
    return 1 if failed else 0
