"""Every reproduction in validation/ runs against its pre-registered targets.

Fast reproductions run in the default test run; slow ones are marked ``slow`` (``.ci/run``
runs them with ``pytest -m slow``). Each run checks:

* the module produces exactly its registered rows (validation/targets.toml), with the
  registered published value, tolerance, kind and known range;
* no row is an unknown failure or a known failure outside its range, and no declared known
  failure passes (a stale declaration is noticed);
* the simulated numbers equal their golden values (validation/golden.json);
* accuracy tolerances follow the registered rule for the run's chip spread.
"""

from __future__ import annotations

import json
import types

import pytest

import validation
from cimsim.cli import main
from device_models.errors import ConfigError, UnknownNameError
from validation import _golden, _targets
from validation._base import (
    KINDS,
    Comparison,
    Reproduction,
    accuracy_tolerance_pt,
    assumed_values,
    binomial_se_pt,
    difference_tolerance_pt,
    tally,
)

#: How far a registered accuracy tolerance may sit from its rule's value for the current run
#: before it must be revisited (a tolerance change in a commit of its own).
RULE_SLACK = 0.35


def _params():
    out = []
    for name in validation.names():
        mod = validation.load(name)
        marks = [pytest.mark.slow] if mod.SLOW else []
        out.append(pytest.param(name, marks=marks, id=name))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Each reproduction run once per test session (by name)."""
    cache: dict[str, Reproduction] = {}

    def get(name: str) -> Reproduction:
        if name not in cache:
            out = tmp_path_factory.mktemp(name)
            cache[name] = validation.load(name).run(out_dir=out)
        return cache[name]

    return get


@pytest.mark.parametrize("name", _params())
def test_reproduction_meets_its_targets(name, runs):
    rep = runs(name)
    registered = _targets.targets_for(name)
    assert [c.key for c in rep.comparisons] == list(registered), \
        f"{name}: rows differ from validation/targets.toml"
    for c in rep.comparisons:
        t = registered[c.key]
        assert (c.quantity, c.published, c.tolerance, c.relative, c.unit, c.kind,
                c.calibrated_from, c.known_range, c.source, c.why) == (
            t.quantity, t.published, t.tolerance, t.relative, t.unit, t.kind,
            t.calibrated_from, t.known_range, t.locator, t.why), f"{name}.{c.key}"
    failed = [f"{c.key}: published {c.published} simulated {c.simulated} ({c.status})"
              for c in rep.comparisons if not c.ok]
    assert not failed, failed
    stale = [c.key for c in rep.comparisons if c.known and c.passed]
    assert not stale, f"known failures now pass, remove 'known' from targets.toml: {stale}"
    for fig in rep.figures:
        assert fig.exists() and fig.stat().st_size > 1000


@pytest.mark.parametrize("name", _params())
def test_simulated_values_equal_golden(name, runs):
    diffs = _golden.compare(runs(name))
    assert not diffs, ("simulated values moved; if intended, regenerate with "
                       f"'python -m validation._golden --write {name}': {diffs}")


@pytest.mark.parametrize("name", _params())
def test_accuracy_tolerances_follow_the_rule(name, runs):
    rep = runs(name)
    tol = {c.key: c.tolerance for c in rep.comparisons}
    for key, rule in rep.rules.items():
        assert abs(tol[key] / rule - 1.0) <= RULE_SLACK, (
            f"{name}.{key}: registered tolerance {tol[key]} pt, the rule gives {rule:.3f} pt "
            "for this run; revisit it in a commit of its own")


def test_every_reproduction_has_targets_and_cards():
    table = _targets.load_targets()
    assert set(table) == set(validation.names())
    for name in validation.names():
        mod = validation.load(name)
        assert mod.CARDS and isinstance(mod.CARDS, tuple), name
        assert assumed_values(mod.CARDS) is not None


def test_targets_are_well_formed():
    for repro, table in _targets.load_targets().items():
        for key, t in table.items():
            assert t.kind in KINDS, (repro, key)
            assert t.tolerance > 0 and t.why and t.locator, (repro, key)
            assert (t.kind == "calibrated") == bool(t.calibrated_from), (repro, key)
            if t.known_range is not None:
                assert t.known_why, (repro, key)
                lo, hi = t.known_range
                # A known range must lie outside the tolerance band: a value in the range fails.
                band = (t.published * (1 - t.tolerance), t.published * (1 + t.tolerance)) \
                    if t.relative else (t.published - t.tolerance, t.published + t.tolerance)
                assert hi < min(band) or lo > max(band), (repro, key, t.known_range, band)


def _write(tmp_path, body: str):
    p = tmp_path / "targets.toml"
    p.write_text(body)
    return p


_GOOD = """
[r.a]
quantity = "q"
published = 1.0
unit = "-"
locator = "Fig. 1"
tolerance = 0.1
relative = true
why = "because"
kind = "prediction"
"""


@pytest.mark.parametrize("change, match", [
    ('kind = "prediction"', None),
    ('kind = "guess"', "must be one of"),
    ('kind = "calibrated"', "calibrated_from"),
    ('kind = "prediction"\ncalibrated_from = ["x"]', "calibrated_from"),
    ('kind = "prediction"\nknown = { range = [2.0, 1.0], why = "w" }', "known"),
    ('kind = "prediction"\nknown = { range = [1.0, 2.0] }', "known"),
    ('kind = "prediction"\nextra = 1', "unknown fields"),
])
def test_target_file_errors_name_the_entry(tmp_path, change, match):
    p = _write(tmp_path, _GOOD.replace('kind = "prediction"', change))
    if match is None:
        t = _targets.load_targets(p)["r"]["a"]
        assert t.compare(1.05).passed and not t.compare(1.2).passed
        return
    with pytest.raises(ConfigError, match=match) as err:
        _targets.load_targets(p)
    assert "[r.a]" in str(err.value)


def test_paper_field_defaults_to_the_reproduction(tmp_path):
    t = _targets.load_targets(_write(tmp_path, _GOOD))["r"]["a"]
    assert t.compare(1.0).paper == "r"
    t = _targets.load_targets(_write(tmp_path, _GOOD + 'paper = "Doe et al. 2020"\n'))["r"]["a"]
    assert t.compare(1.0).paper == "Doe et al. 2020"
    with pytest.raises(ConfigError, match="'paper'"):
        _targets.load_targets(_write(tmp_path, _GOOD + 'paper = " "\n'))


def test_tally_counts_kinds_and_papers_with_passing_predictions():
    def row(kind, simulated, paper="", known=None):
        return Comparison("q" + str(simulated) + paper + kind, 10.0, simulated, 0.1, kind=kind,
                          calibrated_from=("x",) if kind == "calibrated" else (),
                          known_range=known, known_why="gap" if known else "", paper=paper)

    a = Reproduction("a", "c", [row("prediction", 10.0, "P1"), row("prediction", 10.2, "P2"),
                                row("prediction", 20.0, "P3", known=(15.0, 25.0))])
    b = Reproduction("b", "c", [row("prediction", 10.5), row("calibrated", 10.0),
                                row("consistency", 30.0)])
    t = tally([a, b])
    assert t.by_kind == {"prediction": (4, 3, 1, 0), "calibrated": (1, 1, 0, 0),
                         "consistency": (1, 0, 0, 1)}
    assert t.prediction_papers == ("P1", "P2", "b") and t.passing_predictions == 3
    assert t.headline().startswith("passing predictions: 3 of 4 prediction rows, from 3 papers")


def test_unknown_target_lists_the_keys():
    with pytest.raises(UnknownNameError, match="Targets:"):
        _targets.target("device_level", "nope")
    with pytest.raises(UnknownNameError, match="Reproductions:"):
        _targets.targets_for("nope")


def test_status_of_known_failures():
    base = dict(quantity="q", published=10.0, tolerance=0.1, relative=True)
    assert Comparison(simulated=10.5, **base).status == "PASS"
    assert Comparison(simulated=20.0, **base).status == "FAIL"
    known = dict(base, known_range=(15.0, 25.0), known_why="gap")
    assert Comparison(simulated=20.0, **known).status == "FAIL (known)"
    assert Comparison(simulated=20.0, **known).ok
    assert Comparison(simulated=30.0, **known).status == "FAIL"
    assert not Comparison(simulated=30.0, **known).ok
    assert Comparison(simulated=float("nan"), **known).status == "FAIL"
    assert Comparison(simulated=10.0, **known).status == "PASS"


def test_tolerance_rules_closed_forms():
    # One chip with no spread on 10,000 images at 96 %: 2 x sqrt(2) x 0.196 pt.
    se = binomial_se_pt(0.96, 10_000)
    assert se == pytest.approx(0.19596, rel=1e-4)
    assert accuracy_tolerance_pt(0.96, 10_000, 10_000, 0.0, 5) == pytest.approx(
        2 * (2 * se**2) ** 0.5)
    # The chip spread enters once for the published chip and once over n for the mean.
    assert accuracy_tolerance_pt(0.96, 10**12, 10**12, 0.5, 4) == pytest.approx(
        2 * 0.5 * (1.25) ** 0.5, rel=1e-6)
    # A paired difference: q/N per test set.
    assert difference_tolerance_pt(0.04, 10_000, 10_000, 0.0, 5) == pytest.approx(
        2 * (2 * 1e4 * 0.04 / 10_000) ** 0.5)


def test_unknown_reproduction_is_named():
    with pytest.raises(ValueError, match="Known reproductions"):
        validation.load("nope")


def test_validate_cli_json_lines(tmp_path, capsys):
    fast = [n for n in validation.names() if not validation.load(n).SLOW]
    code = main(["validate", "--json", "--out", str(tmp_path), *fast])
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert lines
    for rec in lines:
        assert {"name", "published", "simulated", "tolerance", "passed", "kind", "known",
                "status", "paper"} <= set(rec)
        assert rec["kind"] in KINDS and isinstance(rec["known"], bool)
    assert code == (0 if all(r["status"] != "FAIL" for r in lines) else 1)
    report = (tmp_path / "report.md").read_text()
    assert "| kind |" in report and "prediction" in report


def _fake_module(comparisons):
    rep = Reproduction("fake", "citation", comparisons)
    return types.SimpleNamespace(NAME="fake", CITATION="c", SLOW=False, CARDS=(),
                                 run=lambda out_dir=None: rep)


@pytest.mark.parametrize("simulated, code, shown", [
    (10.5, 0, "PASS"), (20.0, 0, "FAIL (known)"), (30.0, 1, "FAIL")])
def test_validate_exit_code_only_on_unknown_or_out_of_range(monkeypatch, tmp_path, capsys,
                                                           simulated, code, shown):
    known = Comparison("q", 10.0, simulated, 0.1, known_range=(15.0, 25.0), known_why="gap",
                       key="k")
    monkeypatch.setattr(validation, "load", lambda name: _fake_module([known]))
    assert main(["validate", "--out", str(tmp_path), "fake"]) == code
    assert capsys.readouterr().out.splitlines()[1].endswith(shown)
    unknown = Comparison("q2", 10.0, 20.0, 0.1, key="k2")
    monkeypatch.setattr(validation, "load", lambda name: _fake_module([unknown]))
    assert main(["validate", "--out", str(tmp_path), "fake"]) == 1
