"""The committed tangent and adjoint codes are what adjoint/generate.sh makes from
fortran/ now (run when TAPENADE_HOME points at Tapenade 3.16; CI has no Tapenade)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not os.environ.get("TAPENADE_HOME"), reason="TAPENADE_HOME is not set")
def test_regenerated_code_equals_committed(tmp_path):
    r = subprocess.run(["bash", str(ROOT / "adjoint" / "generate.sh"), str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("dnb_tl.f90", "dnb_ad.f90"):
        new = (tmp_path / name).read_text()
        old = (ROOT / "adjoint" / "generated" / name).read_text()
        assert new == old, f"adjoint/generated/{name} is stale: run adjoint/generate.sh"


def test_generated_files_are_marked_and_complete():
    for name, root in (("dnb_tl.f90", "FORWARD_D"), ("dnb_ad.f90", "FORWARD_B")):
        text = (ROOT / "adjoint" / "generated" / name).read_text()
        assert "Tapenade 3.16" in text.splitlines()[0] + text.splitlines()[1]
        assert "Made by adjoint/generate.sh" in text
        assert f"SUBROUTINE {root}(" in text
