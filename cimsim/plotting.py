"""Figures: matplotlib on the non-interactive Agg backend and one way to write a PNG.

Used by :meth:`cimsim.ppa.report.Report.plot`, the ``cimsim devices`` and ``cimsim plot``
commands, the ``scripts/plot_*.py`` figures and the validation reproductions.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["pyplot", "save_png"]


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend selected (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: str | Path, *, dpi: int = 120, **savefig_kw) -> Path:
    """Lay out ``fig`` (``tight_layout``), write it to ``path`` at ``dpi`` and close it.

    Extra keywords go to ``Figure.savefig`` (e.g. ``bbox_inches="tight"``). Returns the path.
    """
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from device_models._checks import check_instance, check_path
    from device_models.errors import StoreError

    check_instance("fig", fig, "save_png", Figure, "a matplotlib Figure")
    path = check_path("path", path, "save_png")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=dpi, **savefig_kw)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write the figure: {exc}") from None
    finally:
        plt.close(fig)
    return path
