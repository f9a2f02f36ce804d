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
    """BETHY Vcmax25 in the table, except C3 grass: the TRY mean of C3 herbaceous plants
    (Kattge et al. 2009; BETHY 42) since lai_max holds grass canopies at a grassland's leaf
    area; the TCCAS ES-LM1 site priors (science.md section 7) in the ES-LM1 case file, where
    the site's literature does not replace them."""
    import tccas
    d = P.pft_defaults([3, 9, 5, 7])
    assert d[P.pft_index("vcmax25")].tolist() == pytest.approx([41e-6, 78e-6, 29e-6, 52e-6])
    cfg = tccas.load_config("ES-LM1")
    par = cfg.parameters
    assert par["f_auto"] == {"TmEv": 0.402, "C3Gr": 0.539}
    assert par["f_lab"] == {"TmEv": 0.220, "C3Gr": 0.419}
    assert par["cr_fall"] == {"TmEv": 54.6, "C3Gr": 65.0}
    # replaced with the holm oak's own leaf lifespan (TCCAS: 1.104 yr)
    assert par["leaf_life"]["TmEv"] == 2.5


def test_generic_lma_follows_leaf_longevity():
    """LMA of the generic priors: Reich et al. (1997) as in LPJ (Sitch et al. 2003),
    SLA = 2e-4 exp(6.15) / (12 a)^0.46 m2 gC-1 for leaf longevity a (yr), except for
    evergreen conifers, whose LMA is per projected needle area (heavier than the flat-leaf
    relation gives)."""
    import math
    d = P.pft_defaults(list(range(1, 14)))
    for code, a in ((1, 2.0), (3, 2.5), (9, 0.5), (4, 0.5)):
        lma = (12 * a) ** 0.46 / (2e-4 * math.exp(6.15))
        assert d[P.pft_index("lma"), code - 1] == pytest.approx(lma, rel=0.02), code
    flat = (12 * 4.0) ** 0.46 / (2e-4 * math.exp(6.15))
    assert d[P.pft_index("lma"), 4] > 1.3 * flat


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
