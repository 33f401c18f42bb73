"""How a reproduction writes its figure: ``<out_dir>/<name>.png`` at 110 dpi, through
:func:`cimsim.plotting.save_png` (get pyplot from :func:`cimsim.plotting.pyplot`)."""

from __future__ import annotations

from pathlib import Path

from cimsim.plotting import save_png

__all__ = ["save_figure"]


def save_figure(fig, out_dir: str | Path, name: str) -> Path:
    """Lay out ``fig``, write it to ``<out_dir>/<name>.png`` (110 dpi), close it; the path."""
    return save_png(fig, Path(out_dir) / f"{name}.png", dpi=110)
