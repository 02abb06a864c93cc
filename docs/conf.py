"""Sphinx configuration of skrnn's documentation site.

Build it (warnings as errors, as CI does) with
``pip install -e ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The gallery runs every script in ``examples/`` with ``--quick``.
"""

import os
import sys
import tempfile
from pathlib import Path

import skrnn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "skrnn"
author = "the skrnn developers"
copyright = "the skrnn developers"
release = version = skrnn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5"]
templates_path = ["_templates"]

# API reference: one page per public object, from the numpydoc docstrings
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
numpydoc_show_class_members = False  # autodoc's :members: lists the methods
numpydoc_class_members_toctree = False
myst_heading_anchors = 3
# the gallery's configuration holds functions, which Sphinx cannot cache (harmless)
suppress_warnings = ["config.cache"]


def _quick_argv(gallery_conf, script_vars):
    """Each example runs with --quick and writes its files outside the source tree."""
    out = Path(tempfile.gettempdir()) / "skrnn-docs-examples"
    return ["--quick", *(["--out", str(out)] if _takes_out(script_vars["src_file"]) else [])]


def _takes_out(src_file):
    return "--out" in Path(src_file).read_text()


sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r".*\.py$",  # run every example (in quick mode), not only plot_*
    "reset_argv": _quick_argv,
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "run_stale_examples": True,  # the pages show what this skrnn prints, not a cached run
    "plot_gallery": os.environ.get("SKRNN_DOCS_RUN_EXAMPLES", "1") == "1",
}

html_theme = "pydata_sphinx_theme"
html_title = f"skrnn {release}"
html_theme_options = {"navigation_with_keys": False}
