"""What a reproduction returns: published vs simulated numbers with a tolerance.

A reproduction is a module in :mod:`validation` defining

* ``NAME`` (str): short identifier, e.g. ``"yao2020_mnist_cnn"``;
* ``CITATION`` (str): the full citation with DOI;
* ``SLOW`` (bool): True if it takes more than a few seconds (runs only with ``-m slow``);
* ``run(out_dir: pathlib.Path | None = None) -> Reproduction``;
* optionally ``KNOWN_FAILURES``: ``{quantity: why}`` for comparisons that honestly fail (a
  model gap or missing published data). The tests expect exactly those to fail; the
  ``cimsim validate`` command still reports them as FAIL.

Published numbers are module constants with a comment naming the figure or table; inputs
come from the paper or its cards; each tolerance carries one sentence on why.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

__all__ = ["Comparison", "Reproduction"]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One published number against its simulated counterpart.

    Attributes
    ----------
    quantity : str
        What is compared, e.g. ``"transfer accuracy"``.
    published, simulated : float
        The paper's value and cimsim's, in ``unit``.
    tolerance : float
        Allowed deviation: relative (fraction of ``published``) if ``relative`` else absolute
        in ``unit``.
    why : str
        One sentence on why that tolerance.
    note : str
        Assumptions, missing published data, sensitivity.
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

    @property
    def deviation(self) -> float:
        """Signed deviation, relative or absolute as the tolerance is."""
        diff = self.simulated - self.published
        return diff / abs(self.published) if self.relative else diff

    @property
    def passed(self) -> bool:
        """True when the simulated value is finite and within tolerance of the published one."""
        return math.isfinite(self.simulated) and abs(self.deviation) <= self.tolerance

    def tolerance_text(self) -> str:
        return f"±{self.tolerance:.0%}" if self.relative else f"±{self.tolerance:g} {self.unit}"


@dataclasses.dataclass
class Reproduction:
    """Result of one reproduction: its comparisons, figures and a short summary."""

    name: str
    citation: str
    comparisons: list[Comparison]
    figures: list[Path] = dataclasses.field(default_factory=list)
    summary: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)
