"""Every reproduction in validation/ runs and meets its published numbers.

Fast reproductions run in the default test run; slow ones are marked ``slow`` (``.ci/run``
runs them with ``pytest -m slow``).
"""

from __future__ import annotations

import json

import pytest

import validation
from cimsim.cli import main


def _params():
    out = []
    for name in validation.names():
        mod = validation.load(name)
        marks = [pytest.mark.slow] if mod.SLOW else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.mark.parametrize("name", _params())
def test_reproduction_passes(name, tmp_path):
    mod = validation.load(name)
    rep = mod.run(out_dir=tmp_path)
    assert rep.comparisons, f"{name} compared nothing"
    for c in rep.comparisons:
        assert c.tolerance > 0 and c.why, f"{name}: {c.quantity} lacks a tolerance or its reason"
    known = getattr(mod, "KNOWN_FAILURES", {})
    assert set(known) <= {c.quantity for c in rep.comparisons}, "stale KNOWN_FAILURES entry"
    failed = [f"{c.quantity}: published {c.published} simulated {c.simulated}"
              for c in rep.comparisons if not c.passed and c.quantity not in known]
    assert not failed, failed
    fixed = [c.quantity for c in rep.comparisons if c.passed and c.quantity in known]
    assert not fixed, f"now passing, remove from {name}.KNOWN_FAILURES: {fixed}"
    for fig in rep.figures:
        assert fig.exists() and fig.stat().st_size > 1000


def test_unknown_reproduction_is_named():
    with pytest.raises(ValueError, match="Known reproductions"):
        validation.load("nope")


def test_validate_cli_json_lines(tmp_path, capsys):
    fast = [n for n in validation.names() if not validation.load(n).SLOW]
    if not fast:
        pytest.skip("no fast reproduction registered")
    code = main(["validate", "--json", "--out", str(tmp_path), fast[0]])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert lines
    for rec in lines:
        assert {"name", "published", "simulated", "tolerance", "passed"} <= set(rec)
    assert code == (0 if all(r["passed"] for r in lines) else 1)
    assert (tmp_path / "report.md").exists()
