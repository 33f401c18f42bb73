"""What a reproduction returns: published vs simulated numbers, each with its kind and target.

A reproduction is a module in :mod:`validation` defining

* ``NAME`` (str): short identifier, e.g. ``"yao2020_mnist_cnn"``;
* ``CITATION`` (str): the full citation with DOI;
* ``SLOW`` (bool): True if it takes more than a few seconds (runs only with ``-m slow``);
* ``CARDS`` (tuple of str): the parameter cards its simulation reads (their assumed values are
  listed in the report, :func:`assumed_values`);
* ``run(out_dir: pathlib.Path | None = None) -> Reproduction``.

Every compared number is pre-registered in ``validation/targets.toml`` (published value, its
figure/table, tolerance with its reason, kind, and for a known failure its expected range);
a module builds its comparisons only through :func:`validation._targets.target` ``.compare``,
and ``tests/test_validation.py`` checks that each module produces exactly its registered rows.

Kinds of comparison (:data:`KINDS`):

``prediction``
    No parameter of the model was chosen using a result of the compared paper (a system-level
    figure such as an accuracy, throughput, efficiency or latency). Inputs are the paper's
    device and circuit description and measurements, other papers' cards and stated
    assumptions.
``calibrated``
    At least one model parameter was chosen from results of the same paper; the comparison
    names which (``calibrated_from``).
``consistency``
    Not an independent test: the simulated number follows from its inputs by construction, or
    it is compared across workloads (an MNIST substitute for a CIFAR-10 result), so it checks
    that the model behaves as the paper's claim says, not that it predicts the paper's number.

Status of a comparison: ``PASS``; ``FAIL (known)`` for a declared known failure whose
simulated value lies inside its expected range; ``FAIL`` otherwise (an undeclared failure, or
a known failure outside its range). ``cimsim validate`` exits non-zero only on ``FAIL``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

__all__ = ["KINDS", "Comparison", "Reproduction", "Sensitivity", "Tally",
           "accuracy_tolerance_pt", "assumed_values", "binomial_se_pt",
           "difference_tolerance_pt", "tally"]

#: The kinds of comparison, in report order.
KINDS = ("prediction", "calibrated", "consistency")

_ASSUMED = re.compile(r"assum", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One published number against its simulated counterpart.

    Attributes
    ----------
    key : str
        Identifier of the pre-registered target (``validation/targets.toml``).
    quantity : str
        What is compared, e.g. ``"accuracy after direct weight transfer"``.
    published, simulated : float
        The paper's value and cimsim's, in ``unit``.
    tolerance : float
        Allowed deviation: relative (fraction of ``published``) if ``relative`` else absolute
        in ``unit``.
    source : str
        Figure or table of the published value.
    why : str
        Why that tolerance (its rationale, registered with the target).
    kind : str
        One of :data:`KINDS`.
    calibrated_from : tuple of str
        For ``kind == "calibrated"``: which parameters came from the same paper's results.
    known_range : tuple of float or None
        For a declared known failure: the range the simulated value is expected in.
    known_why : str
        Why it is a known failure.
    paper : str
        The compared paper (several papers may share a reproduction; the report counts the
        papers with a passing prediction). Empty: the reproduction's.
    note : str
        Run-time detail (per-chip values, sensitivity).
    """

    quantity: str
    published: float
    simulated: float
    tolerance: float
    unit: str = ""
    relative: bool = True
    source: str = ""
    why: str = ""
    note: str = ""
    key: str = ""
    kind: str = "prediction"
    calibrated_from: tuple[str, ...] = ()
    known_range: tuple[float, float] | None = None
    known_why: str = ""
    paper: str = ""

    @property
    def deviation(self) -> float:
        """Signed deviation, relative or absolute as the tolerance is."""
        diff = self.simulated - self.published
        return diff / abs(self.published) if self.relative else diff

    @property
    def passed(self) -> bool:
        """True when the simulated value is finite and within tolerance of the published one."""
        return math.isfinite(self.simulated) and abs(self.deviation) <= self.tolerance

    @property
    def known(self) -> bool:
        """True when this comparison is a declared known failure."""
        return self.known_range is not None

    @property
    def in_known_range(self) -> bool:
        """True when a declared known failure's simulated value lies in its expected range."""
        if self.known_range is None:
            return False
        lo, hi = self.known_range
        return math.isfinite(self.simulated) and lo <= self.simulated <= hi

    @property
    def status(self) -> str:
        """``"PASS"``, ``"FAIL (known)"`` or ``"FAIL"`` (see the module docstring)."""
        if self.passed:
            return "PASS"
        return "FAIL (known)" if self.in_known_range else "FAIL"

    @property
    def ok(self) -> bool:
        """False only for a ``FAIL``: what makes ``cimsim validate`` exit non-zero."""
        return self.status != "FAIL"

    def tolerance_text(self) -> str:
        if self.relative:
            return f"±{self.tolerance:.0%}"
        return f"±{self.tolerance:g} {self.unit}".rstrip()


@dataclasses.dataclass(frozen=True)
class Sensitivity:
    """How one assumed input moves one compared quantity (a row of the report).

    Attributes
    ----------
    assumption : str
        The assumed value and how it was changed, e.g. ``"g_max_s 20 -> 40 uS"``.
    quantity : str
        The compared quantity (a target's quantity).
    baseline, changed : float
        Simulated value with the card as is and with the change, in ``unit``.
    unit : str
    """

    assumption: str
    quantity: str
    baseline: float
    changed: float
    unit: str = ""


@dataclasses.dataclass
class Reproduction:
    """Result of one reproduction: its comparisons, figures, a short summary, the sensitivity
    of its results to assumed values, and the assumed card values it reads."""

    name: str
    citation: str
    comparisons: list[Comparison]
    figures: list[Path] = dataclasses.field(default_factory=list)
    summary: str = ""
    sensitivities: list[Sensitivity] = dataclasses.field(default_factory=list)
    assumed: list[str] = dataclasses.field(default_factory=list)
    #: Target key -> the tolerance the registered rule (:func:`accuracy_tolerance_pt`,
    #: :func:`difference_tolerance_pt`) gives for this run's chip spread; the registered
    #: tolerance must follow it (checked by the slow tests).
    rules: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    @property
    def ok(self) -> bool:
        """No comparison is an unknown failure or a known failure outside its range."""
        return all(c.ok for c in self.comparisons)


@dataclasses.dataclass(frozen=True)
class Tally:
    """Counts over the rows of a validation run (the headline of its report).

    Attributes
    ----------
    by_kind : dict
        kind -> (rows, PASS, FAIL (known), FAIL), for every kind of :data:`KINDS`.
    prediction_papers : tuple of str
        The papers with at least one passing prediction, sorted.
    """

    by_kind: dict[str, tuple[int, int, int, int]]
    prediction_papers: tuple[str, ...]

    @property
    def passing_predictions(self) -> int:
        """Number of passing prediction rows."""
        return self.by_kind["prediction"][1]

    def headline(self) -> str:
        """One line: passing predictions and their papers (what the README headline counts)."""
        n_rows = self.by_kind["prediction"][0]
        return (f"passing predictions: {self.passing_predictions} of {n_rows} prediction rows, "
                f"from {len(self.prediction_papers)} papers"
                + (f" ({'; '.join(self.prediction_papers)})" if self.prediction_papers else ""))


def tally(results) -> Tally:
    """The counts of a run's :class:`Reproduction` results (see :class:`Tally`)."""
    rows = [c for r in results for c in r.comparisons]
    by_kind = {}
    for kind in KINDS:
        cs = [c for c in rows if c.kind == kind]
        by_kind[kind] = (len(cs), sum(c.status == "PASS" for c in cs),
                         sum(c.status == "FAIL (known)" for c in cs),
                         sum(c.status == "FAIL" for c in cs))
    papers = sorted({c.paper or r.name for r in results for c in r.comparisons
                     if c.kind == "prediction" and c.passed})
    return Tally(by_kind, tuple(papers))


def assumed_values(card_names) -> list[str]:
    """``card.field`` of every value whose note marks it assumed, over the named cards: what
    a reproduction's result may depend on beyond published and derived data."""
    from device_models import cards

    out = []
    for name in card_names:
        card = cards.load(name)
        for field in card.values:
            if _ASSUMED.search(card.notes.get(field, "")):
                out.append(f"{card.name}.{field}")
    return out


def binomial_se_pt(p: float, n: int) -> float:
    """Binomial standard error of an accuracy ``p`` [fraction] measured on ``n`` images
    [percentage points]."""
    return 100.0 * math.sqrt(max(p * (1.0 - p), 1e-12) / n)


def accuracy_tolerance_pt(p: float, n_published: int, n_simulated: int, chip_sd_pt: float,
                          n_chips: int, *, k: float = 2.0) -> float:
    r"""Tolerance of a mean-over-chips accuracy against one published chip [points].

    .. math::

        \mathrm{tol} = k\sqrt{s_{pub}^2 + s_{sim}^2 + \sigma_c^2 (1 + 1/n_c)}

    with s the binomial standard errors on the published and simulated test sets (every
    simulated chip reads the same test images, so s_sim does not average down), σ_c the
    chip-to-chip standard deviation of the simulated chips, n_c their number (the published
    value is one chip: one draw of σ_c; the simulated value is the mean of n_c chips) and
    k = 2 (about 95 % coverage).
    """
    s_pub = binomial_se_pt(p, n_published)
    s_sim = binomial_se_pt(p, n_simulated)
    return k * math.sqrt(s_pub**2 + s_sim**2 + chip_sd_pt**2 * (1.0 + 1.0 / n_chips))


def difference_tolerance_pt(discordant: float, n_published: int, n_simulated: int,
                            chip_sd_pt: float, n_chips: int, *, k: float = 2.0) -> float:
    r"""Tolerance of a mean-over-chips difference of two accuracies measured on the same images
    (a transfer loss, a hybrid-training gain) against one published chip's [points].

    .. math::

        \mathrm{tol} = k\sqrt{100^2 q/N_{pub} + 100^2 q/N_{sim} + \sigma_c^2 (1 + 1/n_c)}

    where q is the fraction of images classified differently by the two classifiers (the
    McNemar variance of a paired difference is about q/N), measured on the simulated chips and
    assumed equal for the published one; σ_c and n_c as in :func:`accuracy_tolerance_pt`.
    """
    s_pub2 = 1e4 * discordant / n_published
    s_sim2 = 1e4 * discordant / n_simulated
    return k * math.sqrt(s_pub2 + s_sim2 + chip_sd_pt**2 * (1.0 + 1.0 / n_chips))
