#!/usr/bin/env python3
"""Regenerate the bundled default case ES-LM1 (python/tccas/data/cases/ES-LM1/).

The forcing comes from the seeded weather generator tccas.synthetic, fitted to the published
climatology of Majadas de Tietar (see that module's docstring); the static file carries the
site's location, its two PFTs (TmEv holm oak ~20 % cover, C3 grass) and soil texture.
Run from the repository root with an installed tccas:

    python tools/make_default_case.py
"""
from __future__ import annotations

import pathlib

from tccas.io import Static, write_forcing, write_static
from tccas.synthetic import ESLM1, generate_forcing

ROOT = pathlib.Path(__file__).resolve().parents[1]

CASE = ROOT / "python" / "tccas" / "data" / "cases" / "ES-LM1"
SEED = 20170101

CONFIG = """\
# tccas default case: ES-LM1 Majadas de Tietar (Spain), the LCC reference site.
# Simulation 2015-2021 hourly after a 2-year spin-up (TCCAS: 17520 h), two PFTs.
# Forcing: seeded synthetic weather fitted to the site climatology (see README.md).

[site]
name = "ES-LM1"
static = "static.nc"
forcing = "forcing.nc"

[run]
start = 2015-01-01
end = 2021-12-31
spinup_hours = 17520
hourly_output = true

[parameters]
# Overrides of the parameter table (tccas.parameters); the defaults of PFTs 3 (TmEv) and
# 9 (C3Gr) are the TCCAS ES-LM1 priors. For example:
# vcmax25 = { TmEv = 4.1e-5, C3Gr = 4.2e-5 }

[observations]
# Synthetic twin observations 2017-2021 made by tools/make_default_obs.py (see README.md):
# SIF, VOD and surface soil moisture to assimilate; FAPAR, NEE and GPP to validate.
sif = "obs/sif.nc"
vod = "obs/vod.nc"
sm = "obs/sm.nc"
fapar = "obs/fapar.nc"
nee = "obs/nee.nc"
gpp = "obs/gpp.nc"
"""

README = """\
# ES-LM1 Majadas de Tietar: bundled default case

- Site: Las Majadas de Tietar, Caceres, Spain; 39.942628 N, 5.778625 W, 260 m a.s.l.
  Tree-grass savanna (dehesa): Quercus ilex ~20 % tree cover over annual C3 grasses.
  Represented by two D&B tiles: PFT 3 TmEv (fraction 0.2) and PFT 9 C3Gr (0.8) as in TCCAS.
- `static.nc`: location, PFTs and cover fractions, soil texture (80 % sand, 9.3 % clay,
  sandy dystric Cambisol, ~0.9 m deep; MPI-BGC site description).
- `forcing.nc`: hourly 2015-2021, CF-1.8, made by `tccas.synthetic.generate_forcing`
  (seed {seed}) fitted to the site's published climatology (mean temperature ~16.5 degC,
  ~530-600 mm rain with dry summers, exact solar geometry, CO2 after Mauna Loa). It is
  synthetic weather, not the measured record: real ICOS/FLUXNET files can be used instead
  through `forcing_format = "fluxnet"` in the config.
- `obs/`: observation sets 2017-2021 (CF netCDF, one file per stream) for SIF (TROPOMI
  sampling), L-band VOD and surface soil moisture (SMOS sampling), FAPAR (JRC-TIP 8-day
  composites), NEE (half-hourly eddy covariance with gaps) and GPP (daily). They are
  synthetic twin observations: the model run from the "truth" parameters listed in
  `tools/make_default_obs.py`, sampled like the real instruments and perturbed with noise
  of the stated sigma (seed 2017). Regenerate with `python tools/make_default_obs.py`.
- Regenerate the forcing and static files with
  `python tools/make_default_case.py`.
"""


def main() -> None:
    CASE.mkdir(parents=True, exist_ok=True)
    forcing = generate_forcing("2015-01-01", "2022-01-01", seed=SEED)
    write_forcing(CASE / "forcing.nc", forcing, ESLM1["lat"], ESLM1["lon"],
                  attrs={"title": "ES-LM1 hourly forcing (synthetic, site climatology)",
                         "source": forcing.source, "site_name": "ES-LM1",
                         "references": "tccas.synthetic docstring"})
    static = Static(lat=ESLM1["lat"], lon=ESLM1["lon"], pft=(3, 9), pft_fraction=(0.2, 0.8),
                    sand=0.80, clay=0.093, soil_depth=0.9, name="ES-LM1")
    write_static(CASE / "static.nc", static,
                 attrs={"title": "ES-LM1 static site description",
                        "references": "MPI-BGC Majadas site pages; TCCAS training release"})
    (CASE / "config.toml").write_text(CONFIG)
    (CASE / "README.md").write_text(README.format(seed=SEED))
    print(f"wrote {CASE}")


if __name__ == "__main__":
    main()
