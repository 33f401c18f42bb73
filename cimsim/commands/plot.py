"""``cimsim plot FILE --x FIELD --y METRIC [--hue FIELD]``: a sweep's metric as a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NAME = "plot"
HELP = ("Plot a metric of a sweep file against a swept field (one line per --hue value); "
        "points sharing x and hue are averaged, with their standard deviation as error bars.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Sweep HDF5 file written by 'cimsim sweep'.")
    parser.add_argument("--x", required=True, help="Field (or metric) on the x axis.")
    parser.add_argument("--y", required=True, help="Metric (or field) on the y axis.")
    parser.add_argument("--hue", default=None, help="Field giving one line per value.")
    parser.add_argument("--out", default=None,
                        help="Output PNG (default: FILE stem + _Y_vs_X.png beside FILE).")
    parser.add_argument("--logx", action="store_true", help="Logarithmic x axis.")
    parser.add_argument("--logy", action="store_true", help="Logarithmic y axis.")


def _sortable(values: np.ndarray) -> np.ndarray:
    return values if values.dtype != object else values.astype(str)


def run(args: argparse.Namespace) -> int:
    from ..plotting import pyplot, save_png

    plt = pyplot()

    from device_models.errors import StoreError

    from ..study.store import load

    res = load(args.file)
    x, y = res.column(args.x), res.column(args.y)
    hue = res.column(args.hue) if args.hue else np.zeros(x.size, dtype=np.int64)
    if y.dtype == object:
        raise StoreError(f"--y {args.y!r} is not numeric.")
    ok = res.done & np.isfinite(y.astype(np.float64))
    if not ok.any():
        raise StoreError(f"{args.file}: no finished point has a value for {args.y!r}.")
    numeric_x = x.dtype != object
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for h in np.unique(_sortable(hue[ok])):
        sel = ok & (_sortable(hue) == h)
        xs = np.unique(_sortable(x[sel]))
        means = np.array([y[sel & (_sortable(x) == v)].mean() for v in xs])
        stds = np.array([y[sel & (_sortable(x) == v)].std() for v in xs])
        pos = xs.astype(np.float64) if numeric_x else np.arange(xs.size)
        numeric_h = isinstance(h, (int, float, np.integer, np.floating)) and not isinstance(
            h, (bool, np.bool_))
        label = None if not args.hue else (
            f"{args.hue} = {h:g}" if numeric_h else f"{args.hue} = {h}")
        ax.errorbar(pos, means, yerr=stds if np.any(stds > 0) else None, marker="o",
                    capsize=3, label=label)
        if not numeric_x:
            ax.set_xticks(pos, xs, rotation=30)
    ax.set_xlabel(args.x)
    ax.set_ylabel(args.y)
    if args.logx:
        ax.set_xscale("log")
    if args.logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{Path(args.file).name}: {res.job} ({int(ok.sum())}/{res.status.size} points)",
                 fontsize=10)
    if args.hue:
        ax.legend(fontsize=8)
    out = Path(args.out) if args.out else Path(args.file).with_name(
        f"{Path(args.file).stem}_{args.y}_vs_{args.x}.png".replace("/", "_"))
    save_png(fig, out, dpi=120)
    print(out)
    return 0
