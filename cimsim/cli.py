"""The ``cimsim`` command line: a thin layer over the library API.

Each sub-command is a module in :mod:`cimsim.commands` defining ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; modules are discovered, not listed here.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from device_models.errors import CimSimError

from . import commands
from ._version import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every discovered sub-command."""
    parser = argparse.ArgumentParser(
        prog="cimsim",
        description="Analog compute-in-memory crossbar simulator.",
    )
    parser.add_argument("--version", action="version", version=f"cimsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cimsim`` console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        code = args._run(args)
    except (CimSimError, OSError) as exc:  # OSError: a file or folder the OS refuses
        if not isinstance(exc, CimSimError) and exc.filename is not None and exc.strerror:
            exc = f"{exc.filename}: cannot be used ({exc.strerror})"
        print(f"cimsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
