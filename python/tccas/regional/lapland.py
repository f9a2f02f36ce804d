"""Generator of the Lapland regional twin case: a box around Sodankylä (FI-Sod) with boreal
needleleaf and deciduous forest, shrubs, grass, tundra and their mixes, forcing fitted to
the FI-Sod climatology, and synthetic SIF, L-VOD and soil-moisture observations from a
truth run, each simulated on its own TROPOMI or SMOS footprint.

Everything is seeded, so the same arguments give the same files. What is made and why:

* **PFT map** at 0.01 deg (about 0.4 x 1.1 km at 67.5 N; real land-cover products are at
  0.3-1 km). Smooth random fields choose each pixel's class among EvCn (Scots pine), TmSg
  (birch, the BETHY summergreen broadleaf type), EShr and DShr (ericaceous and dwarf birch
  shrubs), C3Gr (grass and sedge) and Tun (fell tundra). Tundra and shrubs grow more
  common northwards and on higher ground. Lakes take about 8 % of the area and are
  unmodelled (code 0).
* **Domain**: cells of 0.25 deg whose PFT fractions are the area shares of the map.
  Sandy till soils: sand 0.55-0.8, clay 0.03-0.08, depth 0.8-2 m.
* **Forcing**: the seeded weather generator of :mod:`tccas.synthetic` with the FI-Sod
  climatology (FMI 1991-2020 normals). All cells share one weather sequence, so the
  weather is coherent across the box, with their own solar geometry. Temperature is
  lowered by 0.5 K per 0.25 deg northwards and by 6.5 K km-1 with elevation (a smooth
  random terrain of 150-450 m). Precipitation is scaled by 0.85-1.15 per cell.
* **Truth and observations**: the prior is that of ``tccas run`` on the case (the
  phenology rule per PFT over the domain, :mod:`tccas.regional.prior`); the truth run
  perturbs the control vector by x_true ~ N(0, 0.5^2) in prior-sigma units, inside its
  bounds. Observations are the truth run's equivalents plus Gaussian noise of the stated
  sigma: TROPOMI SIF (3.5 x 5.5 km rectangles at about 11 UTC, May-September); SMOS L-VOD
  and soil moisture (circles of 20 km radius at about 4 UTC, May-October, unfrozen soil).
  Footprints with less than half of their area modelled are dropped.
* **Validation maps**: two above-ground-biomass maps on their own grids (0.1 and 0.5 deg),
  the truth run's AGB aggregated to each map cell (:func:`gridded_observations`) plus 20 %
  noise, in ``validation/`` (not assimilated).

``tccas lapland-case DIR`` writes a case; ``tccas run DIR/config.toml``
runs it. See ``docs/guide/regional.md``.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..errors import InputDataError
from ..obs import ObservationSet
from ..synthetic import FISOD, generate_forcing
from .domain import (CellForcing, Grid, GriddedForcingFile, PFTMap, domain_from_pft_map,
                     write_domain, write_gridded_forcing, write_pft_map)
from .footprints import Circle, Rectangle, footprint_table
from .model import RegionalModel
from .observations import gridded_observations, regional_observations, write_regional_obs

__all__ = ["FORCING_RECIPE", "LAPLAND_PFTS", "LAPLAND_CONTROL", "cached_forcing",
           "forcing_cache_dir", "lapland_forcing", "make_lapland_case", "materialise_forcing"]

log = logging.getLogger("tccas")

#: EvCn, TmSg (birch), EShr, DShr, C3Gr, Tun
LAPLAND_PFTS = (5, 4, 7, 8, 9, 11)
#: the control vector of the twin experiment
LAPLAND_CONTROL = ("vcmax25", "lma", "c_fol0", "c_w", "sif_scale", "vod_b")
_SIGMA = {"sif": 0.25, "vod": 0.05, "sm": 0.04}
#: the file of a case that holds the recipe of its forcing (instead of or beside forcing.nc)
FORCING_RECIPE = "forcing_recipe.json"


def _smooth_field(rng, shape, scale: int) -> np.ndarray:
    """A smooth random field of unit variance: white noise on a coarse grid, bilinearly
    interpolated to ``shape``."""
    coarse = rng.normal(size=(shape[0] // scale + 2, shape[1] // scale + 2))
    yi = np.arange(shape[0]) / scale
    xi = np.arange(shape[1]) / scale
    rows = np.array([np.interp(xi, np.arange(coarse.shape[1]), r) for r in coarse])
    f = np.array([np.interp(yi, np.arange(coarse.shape[0]), c) for c in rows.T]).T
    return (f - f.mean()) / f.std()


def _pft_map(lat0, lon0, nlat, nlon, rng) -> tuple[PFTMap, np.ndarray]:
    px = 25                                          # pixels per cell side
    flat = lat0 + 0.01 * np.arange(px * nlat) + 0.005
    flon = lon0 + 0.01 * np.arange(px * nlon) + 0.005
    shape = (flat.size, flon.size)
    elev = 300 + 100 * _smooth_field(rng, shape, 40)             # m
    north = (flat[:, None] - flat.mean()) / 0.5                  # about -1 .. 1
    high = (elev - 300) / 100
    score = {
        5: 1.2 + 0.8 * _smooth_field(rng, shape, 15) - 0.4 * north - 0.5 * high,
        4: 0.6 + 0.8 * _smooth_field(rng, shape, 8) - 0.3 * north,
        7: 0.4 + 0.7 * _smooth_field(rng, shape, 10) + 0.2 * high,
        8: 0.2 + 0.7 * _smooth_field(rng, shape, 10) + 0.3 * north + 0.3 * high,
        9: 0.1 + 0.7 * _smooth_field(rng, shape, 6),
        11: -0.6 + 0.6 * _smooth_field(rng, shape, 20) + 0.6 * north + 0.9 * high,
    }
    pfts = list(score)
    noise = 0.5 * rng.normal(size=(len(pfts),) + shape)          # pixel-scale mixes
    code = np.array(pfts)[np.argmax(np.stack([score[p] for p in pfts]) + noise, axis=0)]
    lakes = _smooth_field(rng, shape, 12) > 1.4                   # about 8 % of the area
    code[lakes] = 0
    return PFTMap(Grid(flat, flon), code, "Lapland synthetic PFT map"), elev


def make_lapland_case(target: str | os.PathLike, nlat: int = 4, nlon: int = 8,
                      first_year: int = 2015, last_year: int = 2021,
                      spinup_years: int = 2, window_start: str = "2017-01-01",
                      seed: int = 20240601, engine: str = "processes",
                      workers: int | None = None) -> Path:
    """Write the Lapland twin case into ``target``: ``domain.nc``, ``pft_map.nc``,
    ``forcing.nc``, ``obs/{sif,vod,sm}.nc``, ``truth.json`` and ``config.toml``.

    Parameters
    ----------
    nlat, nlon : cells of 0.25 deg north-south and east-west, from 67.0 N, 25.0 E.
    first_year, last_year : simulation years (inclusive); observations from
        ``window_start`` (the assimilation window) to the end.
    spinup_years : spin-up cycling the first years of the forcing.
    engine, workers : the engine of the truth run (and of the written config).
    """
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    (target / "obs").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    lat0, lon0 = 67.0, 25.0
    pmap, elev_px = _pft_map(lat0, lon0, nlat, nlon, rng)
    grid = Grid(lat0 + 0.25 * np.arange(nlat) + 0.125, lon0 + 0.25 * np.arange(nlon) + 0.125)
    sand = 0.55 + 0.25 * rng.random(grid.shape)
    clay = 0.03 + 0.05 * rng.random(grid.shape)
    depth = 0.8 + 1.2 * rng.random(grid.shape)
    dom = domain_from_pft_map(pmap, grid, sand, clay, depth, source="Lapland")
    attrs = {"source": "tccas.regional.lapland (synthetic, seeded)", "seed": seed}
    write_pft_map(target / "pft_map.nc", pmap, attrs)
    write_domain(target / "domain.nc", dom, attrs)
    # forcing: one weather sequence, per-cell solar geometry, temperature and rain shifts
    elev = elev_px.reshape(nlat, 25, nlon, 25).mean(axis=(1, 3))[dom.row, dom.col]
    pscale = 0.85 + 0.3 * rng.random(dom.ncell)
    recipe = {"generator": "tccas.regional.lapland.lapland_forcing", "seed": seed,
              "first_year": first_year, "last_year": last_year,
              "elevation_m": [round(float(e), 6) for e in elev],
              "precip_scale": [round(float(p), 9) for p in pscale]}
    (target / FORCING_RECIPE).write_text(json.dumps(recipe, indent=1) + "\n")
    forcing = lapland_forcing(dom, recipe)
    times = forcing.times
    write_gridded_forcing(target / "forcing.nc", dom, forcing, attrs)
    del forcing
    # observation records (values filled from the truth run below)
    w0 = np.datetime64(window_start, "s")
    days = times[::24][times[::24] >= w0]
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    sets = []
    la0, la1 = grid.lat_edges[[0, -1]]
    lo0, lo1 = grid.lon_edges[[0, -1]]
    for stream, months, hour, per_day, make in (
            ("sif", (5, 6, 7, 8, 9), 11, max(1, dom.ncell // 4),
             lambda a, b, r: Rectangle(a, b, 3.5, 5.5, r.uniform(-15, 15))),
            ("vod", (5, 6, 7, 8, 9, 10), 4, max(1, dom.ncell // 12),
             lambda a, b, r: Circle(a, b, 20.0)),
            ("sm", (5, 6, 7, 8, 9, 10), 4, max(1, dom.ncell // 12),
             lambda a, b, r: Circle(a, b, 20.0))):
        sel = np.isin(month, months)
        t0 = np.repeat(days[sel], per_day) + np.timedelta64(hour * 3600, "s")
        n = t0.size
        shapes = [make(a, b, rng) for a, b in zip(rng.uniform(la0, la1, n),
                                                  rng.uniform(lo0, lo1, n))]
        eo, ec, ew, _, kept = footprint_table(shapes, pmap, dom, min_covered=0.5)
        o = ObservationSet(stream, t0, t0 + np.timedelta64(3600, "s"), np.zeros(n),
                           np.full(n, _SIGMA[stream]), np.zeros(n, int), dom.pfts,
                           np.zeros((n, len(dom.pfts))),
                           attrs={"footprint": "TROPOMI 3.5 x 5.5 km" if stream == "sif"
                                  else "SMOS, circle of 20 km radius"})
        sets.append(regional_observations(o, dom, eo, ec, ew, keep=kept))
    # two above-ground-biomass maps on their own grids, for validation (not assimilated):
    # a fine one (0.1 deg, like an aggregated CCI Biomass map) and a coarse one (0.5 deg)
    t_agb = np.datetime64(f"{min(last_year, max(first_year, 2018))}-07-01", "s")
    agb_maps = {}
    for name, step in (("agb_0.1deg", 0.1), ("agb_0.5deg", 0.5)):
        # at least 2 x 2 map cells (a grid needs a step); cells mostly outside the box
        # are dropped by min_covered
        n_la = max(2, int(np.ceil(0.25 * nlat / step - 1e-9)))
        n_lo = max(2, int(np.ceil(0.25 * nlon / step - 1e-9)))
        mg = Grid(lat0 + step * (np.arange(n_la) + 0.5), lon0 + step * (np.arange(n_lo) + 0.5))
        r, rows, cols = gridded_observations("agb", np.zeros(mg.shape), np.ones(mg.shape), mg,
                                             t_agb, t_agb + np.timedelta64(86400, "s"), pmap,
                                             dom, min_covered=0.5, source=name)
        if len(r):
            agb_maps[name] = (r, mg, rows, cols)
    # truth run
    nspin = 24 * 365 * spinup_years
    all_sets = sets + [m[0] for m in agb_maps.values()]
    with RegionalModel(dom, GriddedForcingFile(target / "forcing.nc", dom), all_sets,
                       control=list(LAPLAND_CONTROL), nspin=nspin, engine=engine,
                       workers=workers, phenology_rule=True) as model:
        x_true = np.clip(rng.normal(0, 0.5, model.nx), model.control.lower * 0.9,
                         model.control.upper * 0.9)
        y_true = model.forward(x_true)
        names = model.control.names
        offsets = np.cumsum([0] + [len(r) for r in all_sets])
        prior, sigma = model.control.prior, model.control.sigma
    (target / "validation").mkdir(exist_ok=True)
    for k, r in enumerate(sets):
        o = r.obs
        y = y_true[offsets[k]:offsets[k + 1]]
        value = y + rng.normal(0, 1, y.size) * o.sigma
        if r.stream in ("sm", "vod"):
            value = np.maximum(value, 0.0)
        obs = ObservationSet(o.stream, o.t_start, o.t_end, value, o.sigma, o.qc, o.pft,
                             o.footprint, o.angle, "", dict(o.attrs))
        out = regional_observations(obs, dom, r.entry_obs, r.entry_cell, r.entry_weight)
        write_regional_obs(target / "obs" / f"{r.stream}.nc", out,
                           attrs={**attrs, "truth": "truth.json"})
    for k, (name, (r, mg, rows, cols)) in enumerate(agb_maps.items(), start=len(sets)):
        y = y_true[offsets[k]:offsets[k + 1]]
        agb_sigma = 0.2 * np.abs(y) + 2.0             # Mg ha-1: 20 % plus a floor
        value = np.maximum(y + rng.normal(0, 1, y.size) * agb_sigma, 0.0)
        o = r.obs
        obs = ObservationSet("agb", o.t_start, o.t_end, value, agb_sigma, o.qc, o.pft,
                             o.footprint, o.angle, "", {"map": name})
        out = regional_observations(obs, dom, r.entry_obs, r.entry_cell, r.entry_weight,
                                    map_grid=mg, map_row=rows, map_col=cols)
        write_regional_obs(target / "validation" / f"{name}.nc", out,
                           attrs={**attrs, "map_grid_step_deg": float(mg.step_lat)})
    (target / "truth.json").write_text(json.dumps(
        {"x": dict(zip(names, x_true.tolist())),
         "value": dict(zip(names, (prior + sigma * x_true).tolist()))}, indent=1) + "\n")
    control = ", ".join(f'"{n}"' for n in LAPLAND_CONTROL)
    (target / "config.toml").write_text(f"""# Lapland regional twin case
# (tccas.regional.lapland, seed {seed}; validation/ holds AGB maps, truth.json the truth)
[region]
name = "Lapland"
domain = "domain.nc"
forcing = "forcing.nc"
engine = "{engine}"
batch_size = 4
pools = "pft"

[run]
start = {first_year}-01-01
end = {last_year}-12-31
spinup_hours = {nspin}

[observations]
sif = "obs/sif.nc"
vod = "obs/vod.nc"
sm = "obs/sm.nc"

[control]
parameters = [{control}]
""")
    log.info("Lapland case: %d cells, %s", dom.ncell,
             ", ".join(f"{r.stream} {len(r)}" for r in sets))
    return target


def lapland_forcing(domain, recipe: dict) -> CellForcing:
    """The hourly forcing of the Lapland case's cells from its recipe (``forcing_recipe.json``
    of a case: seed, years, per-cell elevation and precipitation scale): the FI-Sod-climate
    weather generator (:func:`tccas.synthetic.generate_forcing`, one weather sequence for
    all cells, each cell's own solar geometry), temperature lowered by 0.5 K per 0.25 deg
    northwards and 6.5 K km-1 above 180 m, precipitation scaled per cell. Deterministic:
    the same recipe gives the same values (numpy's seeded generator)."""
    n = domain.ncell
    elev = np.asarray(recipe["elevation_m"], float)
    pscale = np.asarray(recipe["precip_scale"], float)
    if elev.size != n or pscale.size != n:
        raise InputDataError(f"{FORCING_RECIPE}: {elev.size} elevations and {pscale.size} "
                             f"precipitation scales for a domain of {n} cells")
    start, end = f"{recipe['first_year']}-01-01", f"{recipe['last_year'] + 1}-01-01"
    data = None
    for k in range(n):
        f = generate_forcing(start, end, seed=int(recipe["seed"]), lat=float(domain.lat[k]),
                             lon=float(domain.lon[k]), climate="FI-Sod")
        dt = -0.5 * (domain.lat[k] - FISOD["lat"]) / 0.25 - 6.5e-3 * (elev[k] - 180.0)
        d = dict(f.data)
        d["tas"] = d["tas"] + dt
        d["tsl_deep"] = d["tsl_deep"] + dt
        d["pr"] = d["pr"] * pscale[k]
        if data is None:
            data = np.empty((n, f.times.size, len(_names())))
        data[k] = np.column_stack([d[name] for name in _names()])
    return CellForcing(f.times, data, np.arange(n), "Lapland")


def forcing_cache_dir() -> Path:
    """Where materialised forcing of bundled cases is kept: ``$TCCAS_CACHE``, else
    ``$XDG_CACHE_HOME/tccas``, else ``~/.cache/tccas``."""
    env = os.environ.get("TCCAS_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tccas"


def materialise_forcing(case_dir: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write the gridded forcing of a case that ships a ``forcing_recipe.json`` instead of
    its forcing (the bundled Lapland case) to ``path`` (float32, zlib; complete or
    absent)."""
    from .domain import read_domain
    case_dir = Path(case_dir)
    recipe = json.loads((case_dir / FORCING_RECIPE).read_text())
    if recipe.get("generator") != "tccas.regional.lapland.lapland_forcing":
        raise InputDataError(f"{case_dir / FORCING_RECIPE}: unknown generator "
                             f"{recipe.get('generator')!r}")
    dom = read_domain(case_dir / "domain.nc")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.info("materialising the forcing of %s (%d cells, %s-%s) into %s", case_dir.name,
             dom.ncell, recipe["first_year"], recipe["last_year"], path)
    write_gridded_forcing(path, dom, lapland_forcing(dom, recipe),
                          {"source": "tccas.regional.lapland (synthetic, seeded)",
                           "seed": int(recipe["seed"])})
    return path


def cached_forcing(case_dir: str | os.PathLike) -> Path:
    """The forcing of a case with a ``forcing_recipe.json``, materialised on first use into
    :func:`forcing_cache_dir` under a name fixed by the recipe and the domain file (so a
    changed case gets new forcing), and reused afterwards."""
    import hashlib
    case_dir = Path(case_dir)
    h = hashlib.sha256((case_dir / FORCING_RECIPE).read_bytes())
    h.update((case_dir / "domain.nc").read_bytes())
    path = forcing_cache_dir() / f"{case_dir.name}-forcing-{h.hexdigest()[:16]}.nc"
    if not path.exists():
        try:
            materialise_forcing(case_dir, path)
        except OSError as exc:
            raise InputDataError(f"{path}: cannot write the forcing of the bundled case "
                                 f"{case_dir.name} ({exc.strerror or exc}); set TCCAS_CACHE "
                                 "to a writable folder") from None
    return path


def _names():
    from ..io import FORCING_NAMES
    return FORCING_NAMES
