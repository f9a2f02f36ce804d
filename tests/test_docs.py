"""The user guide builds without warnings, and every command in it runs."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
# install.md shows the set-up commands, which CI itself runs (ci/setup.sh, pip install)
NOT_RUN = {"install.md"}


def _need(module: str):
    try:
        return __import__(module)
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{module} is not installed (pip install .[docs])")


def test_docs_build_without_warnings(tmp_path):
    _need("sphinx")
    _need("myst_parser")
    r = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                        str(DOCS), str(tmp_path / "html")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "html" / "index.html").exists()
    assert (tmp_path / "html" / "api.html").exists()


# A bash or python block runs unless the line before it is a comment saying why not, e.g.
# <!-- not run by the tests: needs product files you download -->
_BLOCK = re.compile(r"(?:^<!-- not run by the tests: (?P<why>[^\n]+?) -->\n)?"
                    r"^```(?P<lang>bash|python)\n(?P<code>.*?)^```", flags=re.S | re.M)


def _blocks(page: Path, include_skipped: bool = False) -> list[tuple[str, str]]:
    return [(m["lang"], m["code"]) for m in _BLOCK.finditer(page.read_text())
            if include_skipped or not m["why"]]


def _guide_pages():
    return sorted(p for p in (DOCS / "guide").glob("*.md") if p.name not in NOT_RUN)


@pytest.mark.parametrize("page", _guide_pages(), ids=lambda p: p.stem)
def test_every_command_of_the_guide_runs(page, tmp_path):
    """Blocks run in order in one folder, as a reader would type them."""
    blocks = _blocks(page)
    for lang, code in blocks:
        if lang == "python":
            r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                               text=True)
            assert r.returncode == 0, f"{page.name}: python block failed:\n{code}\n{r.stderr}"
            continue
        for line in code.splitlines():
            cmd = line.split("#")[0].strip()
            if not cmd:
                continue
            args = shlex.split(cmd)
            assert args[0] == "tccas", f"{page.name}: unexpected command {cmd!r}"
            r = subprocess.run([sys.executable, "-m", "tccas", *args[1:]], cwd=tmp_path,
                               capture_output=True, text=True)
            assert r.returncode == 0, f"{page.name}: `{cmd}` failed:\n{r.stdout}\n{r.stderr}"


def test_guide_pages_have_commands():
    # a guard that the extraction above finds what it should, and that skipping stays rare
    pages = _guide_pages()
    run = sum(len(_blocks(p)) for p in pages)
    assert run >= 6
    assert sum(len(_blocks(p, include_skipped=True)) for p in pages) - run <= run // 2
