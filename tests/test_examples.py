"""The gallery: every numbered script of examples/ runs in --quick mode and writes its PNG."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from test_docs_site import _rst_problems

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))
#: Scripts whose quick run takes more than a few seconds of CPU: run with the slow checks.
SLOW: set[str] = set()
#: Optional packages a script needs (the test is skipped without them).
NEEDS = {"10_your_own_model": "torch"}


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gallery_is_numbered_without_gaps():
    numbers = [int(p.name[:2]) for p in SCRIPTS]
    assert numbers == list(range(1, len(SCRIPTS) + 1))


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_example_docstring_says_what_it_shows(path):
    doc = _module(path).__doc__
    title = f"{path.name[:2]} · "
    assert doc.lstrip().startswith(title), "an rST title 'NN · ...' (sphinx-gallery)"
    assert re.search(r"What to look at", doc)
    # the gallery renders the docstring as the example's page (warnings fail the docs build)
    assert _rst_problems(doc, titles=True) == ""


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW
                                  else p for p in SCRIPTS], ids=[p.stem for p in SCRIPTS])
def test_example_runs_quick_and_writes_its_png(path, tmp_path):
    if path.stem in NEEDS:
        pytest.importorskip(NEEDS[path.stem])
    png = _module(path).main(["--quick", "--out", str(tmp_path)])
    assert png == tmp_path / f"{path.stem}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
