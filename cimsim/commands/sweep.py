"""``cimsim sweep SPEC.toml --out FILE.h5``: run or resume a parameter sweep."""

from __future__ import annotations

import argparse
import json

NAME = "sweep"
HELP = ("Run (or resume) a parameter sweep from a TOML spec into one HDF5 file, on a Dask "
        "LocalCluster, an existing scheduler, or in-process.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="Sweep spec (TOML); see cimsim.study.sweep for the format.")
    parser.add_argument("--out", required=True, help="HDF5 result file (resumed if it exists).")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="LocalCluster worker processes, 1 thread each (default: CPU count; "
                            "0 = in-process).")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="Address of an existing Dask scheduler, e.g. tcp://host:8786.")
    parser.add_argument("--max-attempts", type=int, default=3, metavar="K",
                        help="Executions of a point whose worker died before it counts as "
                             "failed (default 3).")
    parser.add_argument("--max-points", type=int, default=None, metavar="N",
                        help="Largest number of points accepted (default 100000); every point "
                             "is validated and stored before the sweep starts.")
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")
    parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")


def run(args: argparse.Namespace) -> int:
    from ..study.spec import DEFAULT_MAX_POINTS
    from ..study.sweep import run_sweep

    summary = run_sweep(args.spec, args.out, workers=args.workers, scheduler=args.scheduler,
                        progress=not args.no_progress, max_attempts=args.max_attempts,
                        max_points=DEFAULT_MAX_POINTS if args.max_points is None
                        else args.max_points)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['path']}: {summary['done']}/{summary['total']} done, "
              f"{summary['failed']} failed ({summary['executor']}, "
              f"{summary['elapsed_s']:.1f} s)")
    return 0 if summary["failed"] == 0 and summary["pending"] == 0 else 1
