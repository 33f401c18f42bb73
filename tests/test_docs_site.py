"""The documentation sources: the generated card reference lists every card and value."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from device_models import cards

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _cardref():
    spec = importlib.util.spec_from_file_location("_cardref", DOCS / "_cardref.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_card_reference_lists_every_card_value_unit_and_source(tmp_path):
    ref = _cardref()
    text = ref.write_card_reference(tmp_path).read_text()
    assert text == ref.card_reference()
    for name in cards.names():
        card = cards.load(name)
        section = text.split(f".. _card-{name}:", 1)[1].split(".. _card-", 1)[0]
        assert str(card.source.year) in section
        if card.source.doi:
            assert f"https://doi.org/{card.source.doi}" in section
        for field in card.values:
            assert f"   * - ``{field}``" in section, (name, field)
        for unit in set(card.units.values()):
            assert ref._text(unit) in section
    for kind in cards.kinds():
        if any(cards.load(n).kind == kind for n in cards.names()):
            assert f"Kind ``{kind}``" in text


def test_card_reference_escapes_markup():
    ref = _cardref()
    assert ref._text("a *b* `c` |d| e_") == r"a \*b\* \`c\` \|d\| e\_"
