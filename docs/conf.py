"""Sphinx configuration of the tccas user guide (built by tests/test_docs.py with -W)."""
from __future__ import annotations

import tccas

project = "tccas"
author = "tccas developers"
copyright = "2026, tccas developers (MIT licence)"
release = tccas.__version__
version = tccas.__version__

extensions = [
    "myst_parser",             # the pages are Markdown
    "sphinx.ext.autodoc",      # API reference from the docstrings
    "sphinx.ext.napoleon",     # numpy-style docstrings
    "sphinx.ext.mathjax",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
html_theme = "alabaster"
html_title = f"tccas {release}"
suppress_warnings = ["myst.header"]
