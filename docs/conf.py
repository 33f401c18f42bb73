"""Sphinx configuration of the cimsim documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` (``pip install -e
'.[docs]'`` installs what it needs). The API pages are generated from the docstrings of every
public module (autosummary, recursive; numpydoc sections; MathJax equations); the card
reference is generated from the card files (:mod:`docs._cardref`); the gallery runs the numbered
scripts of ``examples/`` in their ``--quick`` mode (sphinx-gallery). Set
``CIMSIM_DOCS_GALLERY=full`` to run them at full size, or ``off`` to skip running them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from _cardref import write_card_reference  # noqa: E402

import cimsim  # noqa: E402

project = "cimsim"
author = "cimsim contributors"
copyright = "cimsim contributors"
release = cimsim.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/*.inc"]
html_theme = "alabaster"
html_static_path: list[str] = []
html_theme_options = {"description": "analog compute-in-memory simulator", "fixed_sidebar": True}

# --- API pages ---------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True, "ignore-module-all": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"          # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()
# numpydoc renames the entries of a References section to unique labels; entries that the text
# does not cite (most: a References section lists its sources) would each warn.
suppress_warnings = ["ref.citation", "config.cache"]

# --- gallery -----------------------------------------------------------------------------
_GALLERY = os.environ.get("CIMSIM_DOCS_GALLERY", "quick")
_PNG_DIR = tempfile.mkdtemp(prefix="cimsim-gallery-")


def _gallery_argv(gallery_conf, script_vars):
    """Each script runs with ``--quick`` (unless full) and writes its PNG to a scratch folder."""
    return (["--quick"] if _GALLERY == "quick" else []) + ["--out", _PNG_DIR]


_SHOWN: set[Path] = set()


def _png_scraper(block, block_vars, gallery_conf):
    """Show the PNGs a script wrote (the examples write theirs with cimsim.plotting.save_png,
    which closes the figure, so matplotlib's own scraper would find none)."""
    from sphinx_gallery.scrapers import figure_rst

    new = sorted(p for p in Path(_PNG_DIR).glob("*.png") if p not in _SHOWN)
    names = []
    for png, target in zip(new, block_vars["image_path_iterator"], strict=False):
        shutil.copyfile(png, target)
        names.append(target)
        _SHOWN.add(png)
    return figure_rst(names, gallery_conf["src_dir"])


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/\d\d_",
    "ignore_pattern": r"__init__\.py",
    "plot_gallery": "False" if _GALLERY == "off" else "True",
    "reset_argv": _gallery_argv,
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": (_png_scraper,),
    "min_reported_time": 1.0,
    "capture_repr": (),
}


def setup(app):
    app.connect("builder-inited", lambda app: write_card_reference(HERE / "reference"))
