#!/usr/bin/env python3
"""Regenerate the bundled default case ES-LM1 (python/tccas/data/cases/ES-LM1/).

The forcing comes from the seeded weather generator tccas.synthetic, fitted to the published
climatology of Majadas de Tietar (see that module's docstring); the static file carries the
site's location, its two PFTs (TmEv holm oak ~20 % cover, C3 grass) and soil texture; the
config carries the site priors (docs/science/priors.md), the phenology days of the climate
rule and the equilibrium initial carbon pools, both computed here.
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
# Site priors of ES-LM1 (docs/science/priors.md). Holm oak (TmEv) and the annual C3 grass
# of the dehesa: the TCCAS ES-LM1 site priors (release r10043 run logs: allocation,
# turnover, respiration, release and fall periods) except where they contradict what is
# known of the site, replaced with sourced values:
# - leaf_life TmEv 2.5 yr: Quercus ilex keeps its leaves 2-3 years (Mediavilla & Escudero
#   2003); the TCCAS value 1.104 shed 91 % of the canopy each June.
# - lma TmEv 110 gC m-2: sclerophyllous Q. ilex leaves, about 220 g dry mass m-2
#   (Mediavilla et al. 2008), carbon fraction 0.5.
# - zroot TmEv 3.0 m: holm-oak roots reach several metres into the weathered granite
#   below the 0.9 m soil (sclerophyllous maximum 5.2 m, Canadell et al. 1996); the grass
#   (annuals, Vulpia/Trifolium) roots in the top 0.5 m.
# - theta_som 6.0e-5 d-1 (TCCAS: 2.48e-5 and 3.96e-5) and the grass's litter rates
#   theta_min 4.5e-4, theta_lit 1.4e-3 d-1 (TCCAS: 2.58e-3 and 5.51e-4, which sent 82 % of
#   the grass litter to SOM against 20-30 % in CCDAS, Knorr et al. 2010): the table's
#   generic values. With the TCCAS values the equilibrium SOM was 35 kgC m-2, several
#   times what a sandy dehesa soil holds; now about 12 kgC m-2 (docs/science/priors.md).
# d_onset and d_fall: the days that the phenology rule (tccas.phenology.climate_phenology)
# derives from this case's 2015-2021 forcing (grass green from the end of September to early
# June, as observed at the site), written here so that a shortened copy of the case keeps
# them (tools/make_default_case.py writes them, with the equilibrium c_*0).
# The initial pools c_*0 are the model's equilibrium under the 2015-2016 spin-up forcing.
theta_min = { TmEv = 3.04e-4, C3Gr = 4.5e-4 }
f_auto = { TmEv = 0.402, C3Gr = 0.539 }
f_fol = { TmEv = 0.0498, C3Gr = 0.361 }
f_root = { TmEv = 0.355, C3Gr = 0.706 }
leaf_life = { TmEv = 2.5, C3Gr = 1.008 }
theta_wood = { TmEv = 6.65e-5, C3Gr = 7.32e-4 }
theta_root = { TmEv = 5.88e-3, C3Gr = 8.71e-3 }
theta_lit = { TmEv = 6.88e-3, C3Gr = 1.4e-3 }
theta_som = { TmEv = 6.0e-5, C3Gr = 6.0e-5 }
temp_exp = { TmEv = 0.0510, C3Gr = 0.0342 }
canopy_eff = { TmEv = 22.3, C3Gr = 14.3 }
f_lab = { TmEv = 0.220, C3Gr = 0.419 }
cr_onset = { TmEv = 74.2, C3Gr = 28.1 }
cr_fall = { TmEv = 54.6, C3Gr = 65.0 }
lma = { TmEv = 110.0, C3Gr = 46.9 }
zroot = { TmEv = 3.0, C3Gr = 0.5 }
# leaf_dry_loss C3Gr 0: the dehesa grass is an annual that escapes the summer drought by
# completing its life cycle (senesced by the end of May): its end is the leaf-fall pulse of
# the phenology days, and a drought leaf loss on top would count the drought twice. The
# holm oak keeps the table's evergreen rate.
leaf_dry_loss = { C3Gr = 0.0 }
# Not set here, from the table: the grass's Vcmax25 is the TRY C3-herbaceous 78 umol m-2 s-1
# (Kattge et al. 2009), not TCCAS's 42, since lai_max (2.5) holds its canopy at a dehesa
# grass's leaf area (TCCAS's grass reached LAI 5-6.5 in this model); with 42 its GPP peak
# stayed below TCCAS's own 9-17 (docs/science/productivity.md).

[observations]
# Synthetic twin observations 2017-2021 made by tools/make_default_obs.py (see README.md):
# SIF, VOD and surface soil moisture to assimilate; FAPAR, NEE and GPP to validate.
sif = "obs/sif.nc"
vod = "obs/vod.nc"
sm = "obs/sm.nc"
fapar = "obs/fapar.nc"
nee = "obs/nee.nc"
gpp = "obs/gpp.nc"
# ASCAT backscatter at 40 deg (dB) and its slope (dB deg-1), active microwave: bundled but
# not assimilated by default (TCCAS switches the slope off in its demos). To assimilate
# them, add "sigma40" and/or "slope" to [assimilation] streams (and to sigma_factor /
# model_error if those list every stream).
sigma40 = "obs/sigma40.nc"
slope = "obs/slope.nc"

[assimilation]
# The LCC site experiment (TCCAS seed slides): assimilate SIF, L-VOD and surface soil
# moisture over 2017-2021; FAPAR, NEE and GPP are withheld for validation.
# Run it with: tccas assimilate ES-LM1
start = 2017-01-01
end = 2021-12-31
streams = ["sif", "vod", "sm"]
sigma_factor = { sif = 1.0, vod = 1.0, sm = 1.0 }
model_error = { sif = 0.0, vod = 0.0, sm = 0.0 }   # stream units, added in quadrature
# L-BFGS-B converges by ftol after 50 iterations and 58 evaluations (J 1392.3 -> 1312.2,
# measured on the bundled twin observations); the limit leaves room for other streams or
# control vectors. ftol = 1e-5 stops too early (with an earlier prior: iteration 13, J 0.2 %
# above the minimum)
max_iterations = 80
pgtol_reduction = 1e-3
ftol = 1e-6
memory = 10
workers = 0
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
  synthetic twin observations: the model run from "truth" parameters (the prior times the
  factors listed in
  `tools/make_default_obs.py`), sampled like the real instruments and perturbed with noise
  of the stated sigma (seed 2017). Regenerate with `python tools/make_default_obs.py`.
- Regenerate the forcing and static files with
  `python tools/make_default_case.py`.
- Parameters (`config.toml` [parameters]): the TCCAS ES-LM1 site priors, with the holm oak's
  leaf lifespan, leaf mass per area and rooting depth from the site literature, and the
  initial carbon pools at the model's equilibrium (`tccas spinup`); the phenology days come
  from the forcing climatology (docs/science/priors.md and phenology.md of the repository).
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
    write_days_and_pools(CASE / "config.toml")
    print(f"wrote {CASE}")


def write_days_and_pools(path: pathlib.Path) -> None:
    """Write the phenology rule's d_onset/d_fall and then the equilibrium c_*0 into the
    case's [parameters], so that the case is self-contained (a shortened copy keeps them)."""
    from tccas.config import read_config, set_parameters_in_file
    from tccas.parameters import PFT_NAMES, pft_index
    from tccas.spinup import POOL_PARAMETERS, equilibrium_pools
    from tccas.workflow import load_inputs, parameters_for
    cfg = read_config(path)
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static, forcing)          # the rule sets the days
    names = [PFT_NAMES[int(c)] for c in static.pft]
    days = {n: {k: round(float(ppft[pft_index(n), i]), 2) for i, k in enumerate(names)}
            for n in ("d_onset", "d_fall")}
    set_parameters_in_file(path, days, comment="leaf-phenology days from the climate rule "
                           "(tccas.phenology) on this forcing")
    cfg = read_config(path)
    ppft, pglob = parameters_for(cfg, static, forcing)
    eq = equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon,
                           static.sand, static.clay, list(static.pft), ppft, pglob,
                           cfg.run.spinup_hours)
    set_parameters_in_file(path, {p: dict(zip(names, eq.pools[k]))
                                  for k, p in enumerate(POOL_PARAMETERS)},
                           comment="initial carbon pools at the model's equilibrium "
                           "(written by tccas spinup)")


if __name__ == "__main__":
    main()
