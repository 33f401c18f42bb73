"""``cimsim validate``: run the reproductions of published chips, compare, report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

NAME = "validate"
HELP = ("Run every reproduction in validation/: published vs simulated vs tolerance; exits 1 "
        "only on a failure that is not a declared known failure inside its range.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help="Reproductions to run (default: all).")
    parser.add_argument("--json", action="store_true",
                        help="Print one JSON object per compared number (JSON lines).")
    parser.add_argument("--fast", action="store_true", help="Skip the reproductions marked slow.")
    parser.add_argument("--out", type=Path, default=Path("validation_report"),
                        help="Directory for the markdown report and PNGs (default: %(default)s).")


def _fmt(value: float, unit: str = "") -> str:
    return f"{value:.4g} {unit}".rstrip()


def _markdown(results, elapsed) -> str:
    from validation._base import tally

    counts = tally(results)
    lines = ["# cimsim validation report", ""]
    lines += ["| kind | compared | pass | FAIL (known) | FAIL |", "|---|---|---|---|---|"]
    for kind, (n, ok, known, bad) in counts.by_kind.items():
        lines.append(f"| {kind} | {n} | {ok} | {known} | {bad} |")
    lines += ["", counts.headline()[0].upper() + counts.headline()[1:] + ".", ""]
    for rep, secs in zip(results, elapsed, strict=True):
        verdict = "PASS" if rep.passed else ("FAIL (known only)" if rep.ok else "FAIL")
        lines += [f"## {rep.name} — {verdict} ({secs:.1f} s)", "", rep.citation, ""]
        if rep.summary:
            lines += [rep.summary, ""]
        lines += ["| quantity | kind | published | simulated | deviation | tolerance | result |",
                  "|---|---|---|---|---|---|---|"]
        for c in rep.comparisons:
            dev = f"{c.deviation:+.1%}" if c.relative else f"{c.deviation:+.3g} {c.unit}"
            lines.append(f"| {c.quantity} | {c.kind} | {_fmt(c.published, c.unit)} | "
                         f"{_fmt(c.simulated, c.unit)} | {dev} | {c.tolerance_text()} | "
                         f"{c.status} |")
        lines.append("")
        for c in rep.comparisons:
            parts = [f"source: {c.source}." if c.source else "",
                     f"Tolerance: {c.why}" if c.why else "",
                     f"Calibrated from this paper: {'; '.join(c.calibrated_from)}."
                     if c.calibrated_from else "",
                     f"Known failure (expected {c.known_range[0]:g} to {c.known_range[1]:g} "
                     f"{c.unit}): {c.known_why}" if c.known else "",
                     c.note]
            extra = " ".join(p for p in parts if p)
            if extra:
                lines.append(f"- *{c.quantity}*: {extra}")
        lines.append("")
        if rep.sensitivities:
            lines += ["Sensitivity to assumed values:", "",
                      "| assumed value changed | quantity | as is | changed |", "|---|---|---|---|"]
            for s in rep.sensitivities:
                lines.append(f"| {s.assumption} | {s.quantity} | {_fmt(s.baseline, s.unit)} | "
                             f"{_fmt(s.changed, s.unit)} |")
            lines.append("")
        if rep.assumed:
            lines += ["Assumed (not published) values in the cards it reads: "
                      + ", ".join(f"`{a}`" for a in rep.assumed) + ".", ""]
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
                    "key": c.key, "quantity": c.quantity, "published": c.published,
                    "simulated": c.simulated, "tolerance": c.tolerance,
                    "relative_tolerance": c.relative, "unit": c.unit, "passed": bool(c.passed),
                    "kind": c.kind, "calibrated_from": list(c.calibrated_from),
                    "known": c.known,
                    "known_range": list(c.known_range) if c.known else None,
                    "status": c.status, "paper": c.paper or rep.name, "source": c.source,
                    "note": c.note,
                }))
    else:
        w = max((len(f"{r.name}: {c.quantity}") for r in results for c in r.comparisons),
                default=10)
        print(f"{'reproduction':<{w}}  {'kind':<11}  {'published':>11}  {'simulated':>11}  "
              f"{'tolerance':>13}  result")
        for rep in results:
            for c in rep.comparisons:
                label = f"{rep.name}: {c.quantity}"
                print(f"{label:<{w}}  {c.kind:<11}  {c.published:>11.4g}  {c.simulated:>11.4g}  "
                      f"{c.tolerance_text():>13}  {c.status}")
        from validation._base import tally

        counts = tally(results)
        print("; ".join(f"{kind}: {n} rows, {ok} PASS, {known} FAIL (known), {bad} FAIL"
                        for kind, (n, ok, known, bad) in counts.by_kind.items()))
        print(counts.headline())
        print(f"report: {report}")
    return 0 if all(r.ok for r in results) else 1
