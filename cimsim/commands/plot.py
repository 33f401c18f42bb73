"""``cimsim plot FILE --x FIELD --y METRIC[,METRIC...] [--hue FIELD]``: a sweep's metrics as a PNG.

One metric gives one panel; several (comma-separated, or ``--y`` repeated) give one panel each,
stacked over the shared x axis, in one figure (e.g. accuracy, energy and latency against
temperature).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

NAME = "plot"
HELP = ("Plot metrics of a sweep file against a swept field (one panel per metric, one line "
        "per --hue value); points sharing x and hue are averaged, with their standard "
        "deviation as error bars.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="Sweep HDF5 file written by 'cimsim sweep'.")
    parser.add_argument("--x", required=True, help="Field (or metric) on the x axis.")
    parser.add_argument("--y", required=True, action="append",
                        help="Metric (or field) on the y axis; several, comma-separated or "
                             "repeated, give one panel each.")
    parser.add_argument("--hue", default=None, help="Field giving one line per value.")
    parser.add_argument("--out", default=None,
                        help="Output PNG (default: FILE stem + _Y_vs_X.png beside FILE).")
    parser.add_argument("--logx", action="store_true", help="Logarithmic x axis.")
    parser.add_argument("--logy", action="store_true",
                        help="Logarithmic y axes (all panels; see --logy-for).")
    parser.add_argument("--logy-for", default="", metavar="METRIC[,METRIC...]",
                        help="Logarithmic y axis for these metrics only.")


def _sortable(values: np.ndarray) -> np.ndarray:
    return values if values.dtype != object else values.astype(str)


def _metrics(values: list[str]) -> list[str]:
    out = [m.strip() for v in values for m in v.split(",") if m.strip()]
    if not out:
        from device_models.errors import InvalidParameterError

        raise InvalidParameterError("The '--y' option of cimsim plot must name a metric.")
    return out


def _panel(ax, res, args, x, y, hue, ok, numeric_x) -> None:
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


def run(args: argparse.Namespace) -> int:
    from ..plotting import pyplot, save_png

    plt = pyplot()

    from device_models.errors import StoreError

    from ..study.store import load

    res = load(args.file)
    metrics = _metrics(args.y)
    log_for = {m.strip() for m in args.logy_for.split(",") if m.strip()}
    x = res.column(args.x)
    hue = res.column(args.hue) if args.hue else np.zeros(x.size, dtype=np.int64)
    columns = []
    for name in metrics:
        y = res.column(name)
        if y.dtype == object:
            raise StoreError(f"--y {name!r} is not numeric.")
        ok = res.done & np.isfinite(y.astype(np.float64))
        if not ok.any():
            raise StoreError(f"{args.file}: no finished point has a value for {name!r}.")
        columns.append((name, y, ok))
    numeric_x = x.dtype != object
    n = len(columns)
    fig, axes = plt.subplots(n, 1, figsize=(6.4, 4.4 if n == 1 else 1.0 + 2.4 * n),
                             sharex=True, squeeze=False)
    for ax, (name, y, ok) in zip(axes[:, 0], columns, strict=True):
        _panel(ax, res, args, x, y, hue, ok, numeric_x)
        ax.set_ylabel(name, fontsize=9 if n > 1 else None)
        if args.logy or name in log_for:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel(args.x)
    if args.logx:
        axes[-1, 0].set_xscale("log")
    done = int(columns[0][2].sum())
    axes[0, 0].set_title(f"{Path(args.file).name}: {res.job} ({done}/{res.status.size} points)",
                         fontsize=10)
    if args.hue:
        axes[0, 0].legend(fontsize=8)
    stem = "+".join(metrics) if n <= 3 else f"{n}_metrics"
    out = Path(args.out) if args.out else Path(args.file).with_name(
        f"{Path(args.file).stem}_{stem}_vs_{args.x}.png".replace("/", "_"))
    save_png(fig, out, dpi=120)
    print(out)
    return 0
