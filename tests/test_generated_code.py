"""The committed tangent and adjoint codes are what adjoint/generate.sh makes from
fortran/ now (run when TAPENADE_HOME points at Tapenade 3.16; CI has no Tapenade)."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# a statement of generated code that assigns y or restores it from the stack
WRITES_Y = re.compile(r"^\s*(y\s*(\([^=]*\))?\s*=[^=]|CALL\s+POP\w*\(\s*y\b)",
                      re.IGNORECASE)


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
    # the adjoint of forward comes as a forward and a backward sweep (dnb_cost.cost_obs
    # calls forward without a checkpoint), and cost_obs has its own reverse code
    for name, roots in (("dnb_tl.f90", ("FORWARD_D",)),
                        ("dnb_ad.f90", ("FORWARD_FWD", "FORWARD_BWD", "COST_OBS_B"))):
        text = (ROOT / "adjoint" / "generated" / name).read_text()
        assert "Tapenade 3.16" in text.splitlines()[0] + text.splitlines()[1]
        assert "Made by adjoint/generate.sh" in text
        for root in roots:
            assert f"SUBROUTINE {root}(" in text


def _routine(text: str, name: str) -> str:
    start = text.index(f"SUBROUTINE {name}(")
    return text[start:text.index(f"END SUBROUTINE {name}", start)]


def test_fused_adjoint_keeps_y():
    """The fused pass (dnb_api.cost_grad_x) returns the y of its forward sweep: nothing in
    the reverse sweep after forward_fwd may assign y. The reverse routines between the
    sweep that makes y and the end of cost_obs_b (obs_misfit_b, forward_bwd and what it
    calls down to the observation operators) take y only as an input; assignments to y
    would show as "y(..) =" or "y =" at the start of a statement, restores as a POP call on
    y."""
    text = (ROOT / "adjoint" / "generated" / "dnb_ad.f90").read_text()
    body = _routine(text, "COST_OBS_B")
    calls = [ln.split("(")[0].split()[-1] for ln in body.splitlines()
             if ln.strip().startswith("CALL ")]
    assert calls == ["FORWARD_FWD", "OBS_MISFIT_B", "FORWARD_BWD"]
    for name in ("OBS_MISFIT_B", "FORWARD_BWD", "SIMULATE_OBS_BWD", "APPLY_OBS_B"):
        code = [ln for ln in _routine(text, name).splitlines()[1:]
                if not ln.strip().startswith("!")]
        bad = [ln for ln in code if WRITES_Y.search(ln)]
        assert not bad, f"{name} writes y: {bad}"
    # the pattern does find such statements
    assert WRITES_Y.search("      y(k) = 0.0_8") and WRITES_Y.search("  CALL POPREAL8(y(k))")
    assert not WRITES_Y.search("      y_b(k) = 0.0_8")
