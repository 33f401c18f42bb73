"""Device-level figures: MOSFET I_D–V_GS at four temperatures (log axis) and g_m/I_D vs I_D.

Usage::

    python scripts/plot_devices.py [--out DIR] [--cards NAME ...]

Writes ``mosfet_id_vgs.png`` and ``mosfet_gm_id.png`` to DIR (default ``./out``). Memory and
converter figures live in ``scripts/plot_memory.py`` and ``scripts/plot_converters.py``.
"""

from __future__ import annotations

import argparse
import sys

from cimsim.commands.devices import mosfet_card_names, plot_mosfet_figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="Output directory (default ./out).")
    parser.add_argument("--cards", nargs="*", default=None,
                        help="MOSFET card names (default: every MOSFET card).")
    args = parser.parse_args(argv)
    for path in plot_mosfet_figures(args.cards or mosfet_card_names(), args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
