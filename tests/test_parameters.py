"""The parameter table is the single source of truth for Python names and Fortran indices."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tccas import parameters as P

ROOT = Path(__file__).resolve().parents[1]


def test_fortran_index_module_is_generated_from_the_table():
    gen = ROOT / "tools" / "gen_params.py"
    r = subprocess.run([sys.executable, str(gen), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_compiled_core_matches_table():
    from tccas.model import _API
    sizes = tuple(int(v) for v in _API.sizes())
    assert sizes == (len(P.PFT_PARAMETERS), len(P.GLOBAL_PARAMETERS), len(P.HOURLY_OUTPUTS),
                     len(P.DAILY_OUTPUTS), len(P.STATE_NAMES), len(P.FORCING_VARS))


def test_defaults_within_bounds_and_sigma_positive():
    for p in P.PFT_PARAMETERS + P.GLOBAL_PARAMETERS:
        vals = p.default if p.per_pft else (p.default,)
        for v in vals:
            assert p.lower <= v <= p.upper, p.name
        assert p.sigma_rel > 0, p.name
        assert p.unit and p.description, p.name
    assert len(set(P.PARAMETERS)) == len(P.PFT_PARAMETERS) + len(P.GLOBAL_PARAMETERS)


def test_tccas_site_priors():
    """ES-LM1 and FI-Sod priors of the TCCAS logs (science.md section 7)."""
    d = P.pft_defaults([3, 9, 5, 7])
    assert d[P.pft_index("vcmax25")].tolist() == pytest.approx([41e-6, 42e-6, 29e-6, 52e-6])
    assert d[P.pft_index("lma"), 0] == pytest.approx(67.7)
    assert d[P.pft_index("c_wood0"), 0] == pytest.approx(6737.0)
    assert d[P.pft_index("d_onset"), 1] == pytest.approx(77.3)


def test_overrides(rng):
    pfts = [3, 9]
    pp, pg = P.pft_defaults(pfts), P.global_defaults()
    P.apply_overrides(pp, pg, pfts, {"vcmax25": {"TmEv": 5e-5, 9: 6e-5}, "c_w": 0.7})
    assert pp[P.pft_index("vcmax25")].tolist() == [5e-5, 6e-5]
    assert pg[P.global_index("c_w")] == 0.7
    with pytest.raises(KeyError, match="unknown parameter name 'nope'"):
        P.apply_overrides(pp, pg, pfts, {"nope": 1.0})
    with pytest.raises(ValueError, match="unknown PFT code 14"):
        P.pft_defaults([14])
