"""HTML tables for notebook display (``_repr_html_`` of cards, configurations and reports).

One helper, so every object shows itself in the same shape: a caption, a header row and
escaped cells. Numbers are formatted with four significant digits.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["html_table"]


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        text = str(value)
    elif isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (tuple, list)):
        text = "[" + ", ".join(_cell(v) for v in value) + "]"
        return text
    else:
        text = str(value)
    return html.escape(text)


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "",
               *, raw_columns: Sequence[int] = ()) -> str:
    """An HTML ``<table>``: ``caption``, one header row, one row per item of ``rows``.

    Cells are escaped and numbers shown with four significant digits; columns listed in
    ``raw_columns`` hold HTML already (a nested table) and are inserted as they are.
    """
    out = ["<table>"]
    if caption:
        out.append(f"<caption style='text-align:left'>{html.escape(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers)
               + "</tr></thead><tbody>")
    for row in rows:
        cells = [str(v) if i in raw_columns else _cell(v) for i, v in enumerate(row)]
        out.append("<tr>" + "".join(f"<td style='text-align:left'>{c}</td>" for c in cells)
                   + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)
