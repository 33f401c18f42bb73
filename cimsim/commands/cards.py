"""``cimsim cards``: list every parameter card with its kind and source."""

from __future__ import annotations

import argparse
import json

from device_models import cards

NAME = "cards"
HELP = "List the parameter cards (name, kind, source)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="Print one JSON list.")


def run(args: argparse.Namespace) -> int:
    rows = [cards.load(n) for n in cards.names()]
    if args.json:
        print(json.dumps([{"name": c.name, "kind": c.kind, "source": str(c.source)}
                          for c in rows], indent=1))
        return 0
    width = max((len(c.name) for c in rows), default=4)
    print(f"{'name':<{width}}  {'kind':<6}  source")
    for c in rows:
        print(f"{c.name:<{width}}  {c.kind:<6}  {c.source}")
    return 0
