"""Golden values: the simulated number of every comparison, pinned so that any drift is seen.

``validation/golden.json`` holds ``{reproduction: {key: simulated}}``. The tests compare each
run against it with tight tolerances (:data:`RTOL`, :data:`ATOL`); a change of the models that
moves a simulated number must regenerate it deliberately, in the same commit, with::

    python -m validation._golden --write [NAME ...]

(without ``--write`` it prints the differences and exits 1 if any).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

__all__ = ["ATOL", "GOLDEN_PATH", "RTOL", "compare", "load_golden", "main"]

#: The golden data file.
GOLDEN_PATH = Path(__file__).with_name("golden.json")
#: Relative and absolute tolerance of a simulated value against its golden value.
RTOL, ATOL = 1e-6, 1e-9


def load_golden(path: Path = GOLDEN_PATH) -> dict[str, dict[str, float]]:
    """The pinned values, ``{reproduction: {key: simulated}}`` (empty if the file is absent)."""
    return json.loads(path.read_text()) if path.exists() else {}


def compare(rep, golden: dict[str, dict[str, float]] | None = None) -> list[str]:
    """Differences between a :class:`~validation._base.Reproduction` and its golden values
    (an empty list when they agree)."""
    golden = load_golden() if golden is None else golden
    pinned = golden.get(rep.name)
    if pinned is None:
        return [f"{rep.name}: no golden values (run python -m validation._golden --write "
                f"{rep.name})"]
    out = []
    sim = {c.key: c.simulated for c in rep.comparisons}
    if set(sim) != set(pinned):
        out.append(f"{rep.name}: keys {sorted(sim)} differ from golden {sorted(pinned)}")
    for key in sorted(set(sim) & set(pinned)):
        if not math.isclose(sim[key], pinned[key], rel_tol=RTOL, abs_tol=ATOL):
            out.append(f"{rep.name}.{key}: simulated {sim[key]!r}, golden {pinned[key]!r}")
    return out


def main(argv: list[str] | None = None) -> int:
    import validation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="Reproductions (default: all).")
    parser.add_argument("--write", action="store_true", help="Rewrite their golden values.")
    args = parser.parse_args(argv)
    golden = load_golden()
    diffs = []
    for name in args.names or validation.names():
        rep = validation.load(name).run()
        for c in rep.comparisons:
            print(f"{name}.{c.key}: published {c.published:g}, simulated {c.simulated!r}, "
                  f"{c.status}", file=sys.stderr)
        for key, rule in rep.rules.items():
            print(f"{name}.{key}: tolerance rule {rule:.3f}", file=sys.stderr)
        for sens in rep.sensitivities:
            print(f"{name}: sensitivity {sens.assumption} | {sens.quantity}: "
                  f"{sens.baseline:.3f} -> {sens.changed:.3f} {sens.unit}", file=sys.stderr)
        diffs += compare(rep, golden)
        golden[name] = {c.key: c.simulated for c in rep.comparisons}
    if args.write:
        GOLDEN_PATH.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN_PATH}", file=sys.stderr)
        return 0
    print("\n".join(diffs) or "golden values agree", file=sys.stderr)
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
