#!/usr/bin/env python3
"""Regenerate the bundled Lapland regional case (python/tccas/data/cases/lapland/).

The case is made by the seeded generator tccas.regional.lapland.make_lapland_case (32 cells
of 0.25 deg around Sodankylae, 2015-2021 after a 2-year spin-up, SIF/L-VOD/SM twin
observations 2017-2021, two AGB maps on their own 0.1 and 0.5 deg grids). Everything is
shipped except the gridded forcing (about 50 MB): the package keeps its recipe,
``forcing_recipe.json`` (seed, years, per-cell elevation and precipitation scale; a few kB),
and ``tccas.load_config("lapland")`` materialises the forcing on first use into the user
cache (tccas.regional.lapland.cached_forcing). The bundled configuration adds the AGB maps
as a withheld stream and an [assimilation] table, so that ``tccas run lapland`` and
``tccas assimilate lapland`` work from a clean install.

Run from the repository root with an installed tccas:

    python tools/make_lapland_case.py [--workers N]
"""
from __future__ import annotations

import argparse
import pathlib
import shutil
import tempfile

from tccas.regional.lapland import LAPLAND_CONTROL, make_lapland_case

ROOT = pathlib.Path(__file__).resolve().parents[1]
CASE = ROOT / "python" / "tccas" / "data" / "cases" / "lapland"
SEED = 20240601

CONFIG = """\
# tccas bundled regional case: Lapland (Finland), a box of 4 x 8 cells of 0.25 deg around
# Sodankylae, 2015-2021 after a 2-year spin-up; a seeded twin case (see README.md).
# The gridded forcing is materialised from forcing_recipe.json on first use (user cache).

[region]
name = "Lapland"
domain = "domain.nc"
forcing = "forcing.nc"
engine = "processes"
batch_size = 4
pools = "pft"

[run]
start = 2015-01-01
end = 2021-12-31
spinup_hours = 17520

[observations]
sif = "obs/sif.nc"
vod = "obs/vod.nc"
sm = "obs/sm.nc"
# two above-ground-biomass maps on their own grids, withheld for validation
agb = ["validation/agb_0.1deg.nc", "validation/agb_0.5deg.nc"]

[control]
parameters = [{control}]

[assimilation]
start = 2017-01-01
end = 2021-12-31
streams = ["sif", "vod", "sm"]
max_iterations = 30
"""

README = """\
# Lapland: regional twin case (4 x 8 cells of 0.25 deg, 2015-2021)

A seeded synthetic regional case made by `tools/make_lapland_case.py` with the generator
`tccas.regional.lapland.make_lapland_case` (seed {seed}); see `docs/guide/regional.md`.

- `pft_map.nc`: a 0.01 deg map of EvCn (Scots pine), TmSg (birch), EShr, DShr, C3Gr,
  tundra and lakes from smooth random fields (tundra and shrubs more common northwards
  and uphill);
- `domain.nc`: 32 cells of 0.25 deg from 67.0 N, 25.0 E, PFT fractions from the map;
- `forcing_recipe.json`: the recipe of the hourly forcing (FI-Sod climatology weather
  generator, one weather sequence, per-cell solar geometry, latitude and elevation
  temperature shifts, precipitation scales). The forcing itself (about 50 MB) is not
  shipped: `tccas run lapland` materialises it on first use into `$TCCAS_CACHE`
  (default `~/.cache/tccas`), which takes a few seconds; `tccas copy-case lapland DIR`
  writes it into `DIR/forcing.nc`;
- `obs/`: SIF (TROPOMI 3.5 x 5.5 km rectangles), L-VOD and soil moisture (SMOS circles of
  20 km radius) 2017-2021: a truth run at `truth.json`'s control vector plus noise;
- `validation/`: two AGB maps on their own grids (0.1 and 0.5 deg), the truth run's AGB
  aggregated to each map cell plus 20 % noise, withheld from the assimilation.

All data are synthetic (no third-party data); licence as the package.
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = make_lapland_case(pathlib.Path(tmp) / "lapland", seed=SEED, workers=args.workers)
        if CASE.exists():
            shutil.rmtree(CASE)
        shutil.copytree(src, CASE, ignore=shutil.ignore_patterns("forcing.nc", "config.toml"))
    control = ", ".join(f'"{n}"' for n in LAPLAND_CONTROL)
    (CASE / "config.toml").write_text(CONFIG.format(control=control))
    (CASE / "README.md").write_text(README.format(seed=SEED))
    size = sum(p.stat().st_size for p in CASE.rglob("*") if p.is_file())
    print(f"wrote {CASE} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
