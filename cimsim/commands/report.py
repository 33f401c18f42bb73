"""``cimsim report``: energy / latency / area report of a saved run or of one standard tile."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "report"
HELP = ("Energy, latency and area report (per operation, layer, network): of a saved report "
        "HDF5 file, or of one standard tile MVM run on the default hardware (--tile).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path,
                        help="Report HDF5 file written by Report.to_hdf5 (or --save).")
    parser.add_argument("--tile", action="store_true",
                        help="Run one standard tile (default hardware, random weights, 8-bit "
                             "inputs) and report it.")
    parser.add_argument("--batch", type=int, default=64,
                        help="Vectors in the --tile run (default: %(default)s).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the --tile run.")
    parser.add_argument("--json", action="store_true", help="Print the report as one JSON object.")
    parser.add_argument("--plot", type=Path, help="Write the stacked-bar breakdown PNG here.")
    parser.add_argument("--save", type=Path, help="Write the report to this HDF5 file.")


def run(args: argparse.Namespace) -> int:
    from device_models.errors import InvalidParameterError

    from ..ppa.report import load_report, standard_tile_report

    if args.tile == (args.file is not None):
        raise InvalidParameterError(
            "The 'file' parameter of cimsim report must be given, or --tile, but not both. "
            f"Got file={args.file}, --tile={args.tile}.")
    if args.tile:
        rep = standard_tile_report(batch=args.batch, seed=args.seed)
    else:
        rep = load_report(args.file)
    if args.save:
        rep.to_hdf5(args.save)
    if args.plot:
        rep.plot(args.plot)
    if args.json:
        print(json.dumps(rep.to_dict(), indent=1))
    else:
        print(rep.table())
    return 0
