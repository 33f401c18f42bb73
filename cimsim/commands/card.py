"""``cimsim card NAME``: one card's values with units, notes and source."""

from __future__ import annotations

import argparse
import json

from device_models import cards

NAME = "card"
HELP = "Show one parameter card: its values with units, and its source."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="Card name (see 'cimsim cards') or path to a .toml card.")
    parser.add_argument("--json", action="store_true", help="Print the card as JSON.")


def run(args: argparse.Namespace) -> int:
    card = cards.load(args.name)
    if args.json:
        print(json.dumps(card.to_dict(), indent=1))
        return 0
    spec = cards.kind_spec(card.kind)
    print(f"{card.name}  (kind: {card.kind})")
    print(f"source: {card.source}")
    width = max(len(k) for k in card.values)
    for key, value in card.values.items():
        doc = spec[key].doc if key in spec else ""
        note = f"  [{card.notes[key]}]" if key in card.notes else ""
        shown = ", ".join(f"{v:g}" for v in value) if isinstance(value, tuple) else (
            f"{value:g}" if isinstance(value, (int, float)) else str(value))
        print(f"  {key:<{width}} = {shown} {card.units[key]}   {doc}{note}")
    return 0
