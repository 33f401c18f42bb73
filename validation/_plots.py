"""Figure helpers shared by the reproductions: matplotlib on the Agg backend and one way to
write a figure to ``<out_dir>/<name>.png``."""

from __future__ import annotations

from pathlib import Path

__all__ = ["pyplot", "save_figure"]


def pyplot():
    """``matplotlib.pyplot`` with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_dir: str | Path, name: str) -> Path:
    """Lay out ``fig``, write it to ``<out_dir>/<name>.png`` (110 dpi), close it; the path."""
    fig.tight_layout()
    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path
