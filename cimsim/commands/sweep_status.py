"""``cimsim sweep-status FILE.h5``: how far a sweep is (total, done, failed, pending)."""

from __future__ import annotations

import argparse
import json

NAME = "sweep-status"
HELP = "Show the progress of a sweep file: total, done, failed and pending points."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Sweep HDF5 file written by 'cimsim sweep'.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument("--errors", action="store_true",
                        help="Also print the error of every failed point.")


def run(args: argparse.Namespace) -> int:
    from ..study.store import FAILED, load

    res = load(args.file)
    summary = res.summary()
    failed = [int(i) for i in (res.status == FAILED).nonzero()[0]]
    if args.json:
        summary["failed_points"] = failed
        if args.errors:
            summary["errors"] = {str(i): res.provenance["error"][i] for i in failed}
        print(json.dumps(summary))
        return 0
    print(f"{summary['path']}: job {summary['job']!r}, {summary['done']}/{summary['total']} "
          f"done, {summary['failed']} failed, {summary['pending']} pending")
    print(f"  fields:  {', '.join(summary['fields']) or '-'}")
    print(f"  metrics: {', '.join(summary['metrics']) or '-'}")
    if args.errors:
        for i in failed:
            print(f"--- point {i} ---\n{res.provenance['error'][i]}")
    return 0
