"""The documentation sources: the generated card reference lists every card and value; every
docstring the API pages show renders without a reStructuredText warning."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import io
import pkgutil
import re
import textwrap
import warnings
from pathlib import Path

import pytest
from docutils import nodes
from docutils.core import publish_doctree
from docutils.parsers.rst import Directive, directives, roles

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


def test_card_reference_renders_without_warnings():
    assert _rst_problems(_cardref().card_reference(), titles=True) == ""


def test_card_reference_escapes_markup():
    ref = _cardref()
    assert ref._text("a *b* `c` |d| e_") == r"a \*b\* \`c\` \|d\| e\_"


# --- docstrings render as the API pages render them ----------------------------------------
# The API pages (docs/api.rst, autosummary over every public module, numpydoc) are built by
# .ci/run with warnings as errors. This check renders each docstring the pages show the same
# way (numpydoc, then reStructuredText), in the default run and in a few seconds, so that a
# docstring that would fail the build fails here with its module and object named.

PACKAGES = ("cimsim", "device_models", "validation")
_ROLE = re.compile(r":([A-Za-z][\w+:-]*):`")
_DIRECTIVE = re.compile(r"^\s*\.\. ([A-Za-z][\w:-]*)::", re.M)


def _api_modules() -> list[str]:
    """The modules autosummary documents: every module of the packages, no private part."""
    out = list(PACKAGES)
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{pkg}."):
            if not any(p.startswith("_") for p in info.name.split(".")):
                out.append(info.name)
    return sorted(out)


class _AnyOptions(dict):
    """Option spec of the stand-in for Sphinx's directives: every option, any value."""

    def __getitem__(self, key):
        return directives.unchanged

    def __contains__(self, key):
        return True


class _SphinxDirective(Directive):
    """Stand-in for a directive Sphinx adds (code-block, seealso, index, ...): its content is
    parsed as reStructuredText when it has any."""

    has_content = True
    optional_arguments = 20
    final_argument_whitespace = True
    option_spec = _AnyOptions()

    def run(self):
        node = nodes.container()
        if self.name not in ("code-block", "sourcecode", "literalinclude", "index"):
            self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def _sphinx_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    return [nodes.literal(rawtext, text)], []


def _rst_problems(text: str, titles: bool) -> str:
    """Warnings and errors docutils reports on ``text`` (Sphinx's roles and directives stood
    in for). Without ``titles`` the text is parsed inside a directive, as autodoc parses the
    docstring of a class, function or attribute (no section titles there)."""
    for name in set(_ROLE.findall(text)):
        if name.lower() not in roles._roles and name.lower() not in roles._role_registry:
            roles.register_local_role(name, _sphinx_role)
    for name in set(_DIRECTIVE.findall(text)):
        if name.lower() not in directives._directives and \
                name.lower() not in directives._directive_registry:
            directives.register_directive(name, _SphinxDirective)
    if not titles:
        text = ".. container::\n\n" + textwrap.indent(text, "   ")
    stream = io.StringIO()
    publish_doctree(text, settings_overrides={
        "warning_stream": stream, "report_level": 2, "halt_level": 5,
        "file_insertion_enabled": False, "raw_enabled": False})
    return stream.getvalue()


_NUMPYDOC = {"use_plots": False, "show_class_members": False,
             "show_inherited_class_members": False, "class_members_toctree": False,
             "attributes_as_param_list": True, "xref_param_type": False,
             "xref_aliases_complete": {}, "xref_ignore": set()}


def _documented(modname: str):
    """(label, what, object or None, docstring) of what autodoc shows on a module's page:
    the module, its classes and functions (not imported ones) with their methods and
    properties, and the attributes that carry a doc comment."""
    from sphinx.pycode import ModuleAnalyzer

    mod = importlib.import_module(modname)
    yield modname, "module", mod, inspect.getdoc(mod) or ""
    try:
        attr_docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:   # no source (a compiled module): autodoc shows no attribute docs
        attr_docs = {}
    for (cls, name), lines in attr_docs.items():
        if not name.startswith("_") and not cls.startswith("_"):
            yield f"{modname}.{cls + '.' if cls else ''}{name}", "attribute", None, \
                "\n".join(lines)
    for name, obj in vars(mod).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != modname:
            continue
        if inspect.isfunction(obj):
            yield f"{modname}.{name}", "function", obj, inspect.getdoc(obj) or ""
        elif inspect.isclass(obj):
            yield f"{modname}.{name}", "class", obj, inspect.getdoc(obj) or ""
            for mname, member in vars(obj).items():
                if mname.startswith("_"):
                    continue
                func = getattr(member, "__func__", member)
                if isinstance(member, property | functools.cached_property):
                    what, func = "attribute", member
                elif inspect.isfunction(func):
                    what = "method"
                else:
                    continue
                doc = inspect.getdoc(func) or ""
                if doc:
                    yield f"{modname}.{name}.{mname}", what, func, doc


@pytest.mark.parametrize("modname", _api_modules())
def test_docstrings_render_without_warnings(modname):
    from numpydoc.docscrape_sphinx import get_doc_object

    problems = []
    for label, what, obj, doc in _documented(modname):
        if not doc.strip():
            continue
        if obj is not None and what != "attribute":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                doc = str(get_doc_object(obj, what, doc, config=_NUMPYDOC))
        found = _rst_problems(doc, titles=what == "module")
        if found:
            problems.append(f"{label}:\n{found}")
    assert not problems, "\n".join(problems)


def test_rst_check_finds_what_the_docs_build_refuses():
    assert "Undefined substitution" in _rst_problems("a pulse of |D| ticks", titles=False)
    assert "Unexpected section title" in _rst_problems("Head\n----\n\ntext", titles=False)
    assert _rst_problems("Head\n----\n\ntext", titles=True) == ""
    ok = (":math:`|D|` and :class:`cimsim.HardwareConfig`\n\n.. code-block:: python\n\n"
          "   x = 1\n\n.. seealso:: :func:`f`\n")
    assert _rst_problems(ok, titles=False) == ""
