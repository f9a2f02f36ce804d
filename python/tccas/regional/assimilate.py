"""``tccas assimilate`` on a regional configuration (``[region]``): the site assimilation of
:mod:`tccas.da` over the cells of a domain.

1. read the domain, the gridded forcing and the regional observations. A stream of
   ``[observations]`` may list several files (for instance the two AGB maps of the Lapland
   case): their records are joined into one stream, and each record remembers its file;
2. one :class:`~tccas.regional.model.RegionalModel` for the whole assimilation. Its workers
   start once, keep their cells, and stop at the end, also on an error or Ctrl-C;
3. the prior run of every observed cell, written like ``tccas run`` into ``prior/``;
4. L-BFGS-B from the prior with checkpoint and resume (:func:`tccas.da.minimise`); the cost
   sees only the observations of the assimilated streams inside the window;
5. the Jacobian at the minimum from one tangent run per control element. Each tangent run
   is spread over the engine's workers, so the columns are computed one after the other.
   Then the Gauss-Newton posterior, and the prior and posterior sigma of every simulated
   observation;
6. the posterior run into ``posterior/``, ``assimilation.nc``, ``validation.txt``/``.csv``
   (every stream; streams that are not assimilated are withheld), ``validation_files.txt``
   (the same scores for each file of a stream, e.g. per AGB map), ``summary.txt`` and map
   figures.

``tccas validate DIR`` works on the output folder unchanged: it reads ``assimilation.nc``,
``prior/obs`` and ``posterior/obs``.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..config import Config
from ..errors import ConfigError, InputDataError
from .model import RegionalModel
from .observations import RegionalObservations, read_regional_obs, regional_observations

if TYPE_CHECKING:  # pragma: no cover
    from ..da.workflow import AssimilationResult

__all__ = ["MapValidation", "RegionalObservationFiles", "assimilate_region",
           "map_validation_lines", "plot_map_validation", "read_map_validation",
           "read_region_observations",
           "write_map_validation", "write_region_run"]

log = logging.getLogger("tccas.da")


@dataclass(frozen=True)
class RegionalObservationFiles:
    """The regional observation sets of a configuration in the order of y, and for each set
    the file (stem) that each record came from: ``files[i][k]`` is the file of record k of
    ``sets[i]``. ``maps`` maps the stem of each gridded product (a file with its own grid,
    such as an AGB map) to (set index, its :class:`RegionalObservations` as read)."""

    sets: list
    files: list
    maps: dict = field(default_factory=dict)


def _join(parts: list[RegionalObservations], domain, where: str) -> RegionalObservations:
    """One stream from several regional observation files of the same stream."""
    if len(parts) == 1:
        return parts[0]
    obs = [p.obs for p in parts]
    cat = {name: np.concatenate([getattr(o, name) for o in obs])
           for name in ("t_start", "t_end", "value", "sigma", "qc", "angle")}
    from ..obs import ObservationSet
    o = ObservationSet(obs[0].stream, cat["t_start"], cat["t_end"], cat["value"], cat["sigma"],
                       cat["qc"], tuple(domain.pfts),
                       np.concatenate([o.footprint for o in obs]), cat["angle"], where,
                       dict(obs[0].attrs))
    offsets = np.cumsum([0] + [len(p) for p in parts])
    eo = np.concatenate([p.entry_obs + off for p, off in zip(parts, offsets)])
    ec = np.concatenate([p.entry_cell for p in parts])
    ew = np.concatenate([p.entry_weight for p in parts])
    return regional_observations(o, domain, eo, ec, ew)


def read_region_observations(cfg: Config, domain, start: np.datetime64, end: np.datetime64
                             ) -> RegionalObservationFiles:
    """Read the ``[observations]`` of a regional configuration over ``domain``, keeping the
    records inside the run period [start, end).

    A stream may name one file or a list of files (joined in the order given). A stream
    without a record inside the run period is an empty set. Raises InputDataError when a
    file holds another stream than its key.
    """
    sets, files, maps = [], [], {}
    for stream, paths in cfg.observations.items():
        paths = paths if isinstance(paths, tuple) else (paths,)
        parts, names = [], []
        for path in paths:
            r = read_regional_obs(path, domain)
            if r.stream != stream:
                raise InputDataError(f"{path}: holds stream '{r.stream}' but the configuration "
                                     f"lists it as '{stream}'")
            inside = (r.obs.t_start >= start) & (r.obs.t_end <= end)
            if not inside.all():
                r = regional_observations(r.obs, domain, r.entry_obs, r.entry_cell,
                                          r.entry_weight, keep=inside, map_grid=r.map_grid,
                                          map_row=r.map_row, map_col=r.map_col)
            parts.append(r)
            names.append(np.full(len(r), Path(path).stem))
            if r.is_map and len(r):
                maps[Path(path).stem] = (len(sets), r)
        sets.append(_join(parts, domain, " + ".join(map(str, paths))))
        files.append(np.concatenate(names))
    return RegionalObservationFiles(sets, files, maps)


def write_region_run(out: str | os.PathLike, cfg: Config, model: RegionalModel, x: np.ndarray,
                     label: str) -> tuple[np.ndarray, dict, dict]:
    """Run every cell of ``model`` at ``x`` and write ``daily.nc`` (gridded CF, as ``tccas
    run``) and ``obs/<stream>.nc`` (observations with their simulated equivalents) into
    ``out``. Each file is complete or absent. Cells that no observation touches are not in
    the model and carry the fill value.

    Returns
    -------
    y : the simulated observations; files : name -> path; cell_means : the cover-weighted
    daily values per variable, (nday, ncell), and ``cells``, as
    :func:`tccas.regional.workflow.write_gridded_daily` returns them.
    """
    from .observations import write_regional_obs
    from .workflow import write_gridded_daily
    out = Path(out)
    (out / "obs").mkdir(parents=True, exist_ok=True)
    y, cells, daily = model.run(x)
    attrs = {"title": f"D&B regional model output, {cfg.region.name}, {label}",
             "source": "tccas D&B",
             "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
                        f"tccas assimilate {cfg.path or cfg.region.name} ({label})"}
    files = {}
    tmp = out / ".daily.nc.part"
    try:
        means = write_gridded_daily(tmp, model.domain, model.times[::24], cells, daily, attrs)
        os.replace(tmp, out / "daily.nc")
    finally:
        if tmp.exists():
            tmp.unlink()
    files["daily"] = out / "daily.nc"
    offsets = np.cumsum([0] + [len(r) for r in model.observations])
    for i, r in enumerate(model.observations):
        path = out / "obs" / f"{r.stream}.nc"
        write_regional_obs(path, r, simulated=y[offsets[i]:offsets[i + 1]],
                           attrs={"model_run": f"{cfg.region.name} {label}"})
        files[f"obs_{r.stream}"] = path
    return y, files, means


@dataclass(frozen=True)
class MapValidation:
    """A gridded product's validation on its own grid: (nlat, nlon) arrays on ``grid``
    (NaN where the map has no record) and scores over its cells.

    Attributes
    ----------
    path : the netCDF file written; grid : the product's grid; unit : the stream's unit.
    fields : name -> (nlat, nlon): ``observed``, ``sigma``, ``prior``, ``posterior``,
        ``posterior_minus_observed``, ``prior_minus_observed``, ``sigma_prior_sim``,
        ``sigma_posterior_sim`` (uncertainty of the simulated values).
    scores : name -> value: ``n``, ``mean_observed``, ``mean_prior``, ``mean_posterior``,
        ``rmse_prior``, ``rmse_posterior``, ``bias_prior``, ``bias_posterior``, ``r_prior``,
        ``r_posterior``, ``chi2_prior``, ``chi2_posterior`` (mean squared normalised misfit).
    """

    path: Path
    grid: object
    unit: str
    fields: dict
    scores: dict


def write_map_validation(path: str | os.PathLike, part: RegionalObservations,
                         observed: np.ndarray, sigma: np.ndarray, prior: np.ndarray,
                         posterior: np.ndarray, sigma_prior: np.ndarray,
                         sigma_posterior: np.ndarray, attrs: dict | None = None
                         ) -> MapValidation:
    """Write a gridded product's observed, prior and posterior values on its own grid
    (``part.map_grid``; CF netCDF with lat/lon bounds, opens in xarray) and score them.

    The arrays are per record of ``part`` (one record per map cell, simulated by the AGB
    operator aggregated to that map cell). Returns a :class:`MapValidation`.
    """
    import netCDF4

    from ..io import atomic_path
    from .domain import write_coordinates
    g = part.map_grid
    if g is None:
        raise InputDataError(f"{path}: {part.obs.source or part.stream} has no map grid")
    r, c = part.map_row, part.map_col
    values = {"observed": observed, "sigma": sigma, "prior": prior, "posterior": posterior,
              "prior_minus_observed": prior - observed,
              "posterior_minus_observed": posterior - observed,
              "sigma_prior_sim": sigma_prior, "sigma_posterior_sim": sigma_posterior}
    fields = {}
    for k, v in values.items():
        a = np.full(g.shape, np.nan)
        a[r, c] = v
        fields[k] = a
    unit = part.obs.unit
    long = {"observed": "observed value", "sigma": "uncertainty of the observed value",
            "prior": "simulated by the prior run", "posterior": "simulated by the posterior run",
            "prior_minus_observed": "prior minus observed",
            "posterior_minus_observed": "posterior minus observed",
            "sigma_prior_sim": "prior uncertainty of the simulated value",
            "sigma_posterior_sim": "posterior uncertainty of the simulated value"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            ds.stream = part.stream
            for k, v in (attrs or {}).items():
                ds.setncattr(k, v)
            write_coordinates(ds, g.lat, g.lon, g)
            for k, a in fields.items():
                v = ds.createVariable(k, "f4", ("lat", "lon"), zlib=True,
                                      fill_value=np.float32(9.96921e36))
                v.units = unit
                v.long_name = f"{part.stream}: {long[k]}"
                v[:] = np.ma.masked_invalid(a)
    o = np.asarray(observed, float)
    scores = {"n": int(o.size), "mean_observed": float(o.mean()) if o.size else np.nan}
    for name, s in (("prior", np.asarray(prior, float)), ("posterior", np.asarray(posterior,
                                                                                  float))):
        d = s - o
        scores[f"mean_{name}"] = float(s.mean()) if o.size else np.nan
        scores[f"rmse_{name}"] = float(np.sqrt(np.mean(d * d))) if o.size else np.nan
        scores[f"bias_{name}"] = float(d.mean()) if o.size else np.nan
        scores[f"r_{name}"] = (float(np.corrcoef(s, o)[0, 1])
                               if o.size > 2 and s.std() > 0 and o.std() > 0 else np.nan)
        scores[f"chi2_{name}"] = float(np.mean((d / sigma) ** 2)) if o.size else np.nan
    return MapValidation(path, g, unit, fields, scores)


def read_map_validation(path: str | os.PathLike) -> MapValidation:
    """Read a map written by :func:`write_map_validation` (``validation/<map>.nc`` of a
    regional assimilation), with its scores recomputed from the fields."""
    from .domain import Grid, coordinate_step
    from ..io import open_netcdf
    path = Path(path)
    with open_netcdf(path) as ds:
        for name in ("lat", "lon", "observed", "sigma", "prior", "posterior"):
            if name not in ds.variables:
                raise InputDataError(f"{path}: missing variable '{name}' (not a map written "
                                     "by tccas assimilate)")
        grid = Grid(np.asarray(ds["lat"][:], float), np.asarray(ds["lon"][:], float),
                    coordinate_step(ds, "lat"), coordinate_step(ds, "lon"))
        fields = {k: np.ma.filled(ds[k][:].astype(float), np.nan)
                  for k in ds.variables if ds[k].dimensions == ("lat", "lon")}
        unit = getattr(ds["observed"], "units", "")
    m = np.isfinite(fields["observed"])
    o, s = fields["observed"][m], fields["sigma"][m]
    scores = {"n": int(m.sum()), "mean_observed": float(o.mean()) if o.size else np.nan}
    for name in ("prior", "posterior"):
        v = fields[name][m]
        d = v - o
        scores.update({f"mean_{name}": float(v.mean()) if o.size else np.nan,
                       f"rmse_{name}": float(np.sqrt(np.mean(d * d))) if o.size else np.nan,
                       f"bias_{name}": float(d.mean()) if o.size else np.nan,
                       f"r_{name}": (float(np.corrcoef(v, o)[0, 1]) if o.size > 2
                                     and v.std() > 0 and o.std() > 0 else np.nan),
                       f"chi2_{name}": float(np.mean((d / s) ** 2)) if o.size else np.nan})
    return MapValidation(path, grid, unit, fields, scores)


def map_validation_lines(name: str, mv: MapValidation, role: str = "withheld") -> list[str]:
    """Table lines of a :class:`MapValidation` (for ``validation_files.txt``)."""
    g, s = mv.grid, mv.scores
    lines = ["", f"map {name} ({role}): {s['n']} cells of {abs(g.step_lat):g} x "
                 f"{abs(g.step_lon):g} deg, unit {mv.unit}",
             f"{'':12s}{'mean':>10s}{'bias':>10s}{'RMSE':>10s}{'r':>8s}{'chi2':>10s}",
             f"{'observed':12s}{s['mean_observed']:10.4g}"]
    for k in ("prior", "posterior"):
        lines.append(f"{k:12s}{s[f'mean_{k}']:10.4g}{s[f'bias_{k}']:10.4g}"
                     f"{s[f'rmse_{k}']:10.4g}{s[f'r_{k}']:8.3f}{s[f'chi2_{k}']:10.4g}")
    return lines


def plot_map_validation(mv: MapValidation, path: str | os.PathLike, title: str = "") -> Path:
    """Panels of a gridded product on its own grid: observed, prior, posterior, prior and
    posterior minus observed, and the posterior uncertainty of the simulated values."""
    from .plots import plot_map_panels
    names = {"observed": "observed", "prior": "prior", "posterior": "posterior",
             "prior_minus_observed": "prior - observed (difference)",
             "posterior_minus_observed": "posterior - observed (difference)",
             "sigma_posterior_sim": "posterior sigma of the simulated"}
    panels = {v: mv.fields[k] for k, v in names.items()}
    return plot_map_panels(panels, mv.grid, path, title, {k: mv.unit for k in panels})


def _cell_share(model: RegionalModel, k: int, values: np.ndarray) -> np.ndarray:
    """Per model cell, the mean of per-record ``values`` of set k weighted by each record's
    footprint weight in that cell (NaN where no record of the set touches the cell)."""
    r = model.observations[k]
    w = r.entry_weight.sum(axis=1)
    num = np.bincount(r.entry_cell, weights=w * values[r.entry_obs],
                      minlength=model.domain.ncell)
    den = np.bincount(r.entry_cell, weights=w, minlength=model.domain.ncell)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _map_figures(out: Path, model: RegionalModel, means0: dict, means1: dict,
                 reduction: dict) -> dict:
    """Maps of prior, posterior and difference of annual GPP and mean AGB, and of the
    uncertainty reduction of the simulated observations, per stream."""
    from .model import variable_units
    from .plots import cell_map, plot_map_panels
    d = model.domain
    if d.grid is None:
        log.info("a list domain: no map figures")
        return {}
    cells = means0["cells"]
    years = means0["gpp"].shape[0] / 365.25
    panels, units = {}, {}
    for name, how, unit in (("gpp", "sum", "g m-2 yr-1"), ("agb", "mean", variable_units("agb"))):
        f0, f1 = ((m[name].sum(axis=0) / years) if how == "sum" else m[name].mean(axis=0)
                  for m in (means0, means1))
        label = "annual GPP" if name == "gpp" else "mean AGB"
        for key, v in ((f"{label} prior", f0), (f"{label} posterior", f1),
                       (f"{label} difference", f1 - f0)):
            panels[key] = cell_map(d, v, cells)
            units[key] = unit
    files = {}
    (out / "figures").mkdir(exist_ok=True)
    files["map_prior_posterior"] = plot_map_panels(
        panels, d.grid, out / "figures" / "maps_prior_posterior.png",
        f"{model.where}: prior and posterior runs", units)
    red = {f"{s} uncertainty reduction": cell_map(d, v) for s, v in reduction.items()}
    if red:
        files["map_uncertainty_reduction"] = plot_map_panels(
            red, d.grid, out / "figures" / "maps_uncertainty_reduction.png",
            "1 - sigma_post/sigma_prior of the simulated observations, footprint-weighted "
            "per cell", {k: "1" for k in red})
    return files


def assimilate_region(cfg: Config, output_dir: str | os.PathLike | None = None,
                      resume: bool = False, progress: bool | None = None,
                      callback: Callable[[dict], None] | None = None,
                      workers: int | None = None, figures: bool = True,
                      engine: str | None = None, overwrite: bool = False
                      ) -> "AssimilationResult":
    """Variational assimilation of a regional configuration (``[region]`` and
    ``[assimilation]``); what :func:`tccas.assimilate` runs for such a configuration.

    Parameters
    ----------
    cfg : the loaded configuration.
    output_dir : where to write (default ``tccas-assim-<region>``): ``assimilation.nc``,
        ``prior/`` and ``posterior/`` (``daily.nc`` on the domain grid and ``obs/``),
        ``validation.txt``/``.csv``, ``validation_files.txt``, ``summary.txt``,
        ``figures/*.png`` and the checkpoint ``checkpoint.npz``.
    resume : continue from the checkpoint in ``output_dir`` (same x as an uninterrupted run).
    progress : progress bars (None: when stderr is a terminal).
    callback : called with each iteration's history entry (dict).
    workers : engine workers (default: ``[region] workers``; the site meaning, processes
        for the Jacobian, does not apply: each tangent run is already parallel).
    figures : draw the time series and map figures (needs matplotlib).
    engine : engine name overriding ``[region] engine``.
    overwrite : replace an earlier assimilation in ``output_dir``. The folder follows the
        rules of a site assimilation (:class:`tccas.outdir.OutputDir`): checked and locked
        before any work, an earlier run refused unless ``overwrite`` (``resume`` continues
        in it), and afterwards holding only this run's files, listed in ``.tccas-files``.

    Returns
    -------
    tccas.da.workflow.AssimilationResult
        ``targets`` is empty: the site's target quantities are not computed for a region.
    """
    if cfg.region is None:
        raise ConfigError(f"{cfg.path}: no [region] table")
    if cfg.assimilation is None:
        raise ConfigError(f"{cfg.path or cfg.region.name}: no [assimilation] table: name the "
                          "window and the streams to assimilate")
    if (engine or cfg.region.engine) == "mpi":
        from .engines import mpi_world
        if mpi_world() is not None:
            raise ConfigError(f"{cfg.path}: [region] engine 'mpi' under mpirun/srun is "
                              "supported by tccas run only; assimilate with the MPI engine "
                              "started as one process (it spawns its workers) or with dask")
    from ..da.workflow import in_assimilation_dir
    out = Path(output_dir) if output_dir is not None else Path(f"tccas-assim-{cfg.region.name}")
    return in_assimilation_dir(
        cfg, out, overwrite, resume,
        lambda: _assimilate_region(cfg, out, resume, progress, callback, workers, figures,
                                   engine))


def _assimilate_region(cfg: Config, out: Path, resume: bool, progress, callback, workers,
                       figures: bool, engine: str | None) -> "AssimilationResult":
    from ..da.cost import CostFunction
    from ..da.minimise import minimise
    from ..da.options import plan_assimilation, resolve_model_error
    from ..da.posterior import gauss_newton_hessian, jacobian, posterior, propagate
    from ..da.workflow import (AssimilationResult, format_assimilation_summary,
                               format_model_error, write_assimilation_nc)
    from ..io import atomic_path
    from ..validation.metrics import format_table, stream_metrics, validation_table, write_table
    t_all = time.perf_counter()
    a = cfg.assimilation
    timing: dict[str, float] = {}
    t = time.perf_counter()
    from .workflow import regional_model_and_observations
    model, robs = regional_model_and_observations(cfg, engine, workers)
    rec_files = robs.files
    with model:
        sets = model.sets
        plan = plan_assimilation(cfg, sets)
        offsets = np.cumsum([0] + [len(o) for o in sets])
        rows = {i: np.arange(offsets[i], offsets[i + 1]) for i in range(len(sets))}
        model.start()
        timing["io_and_start"] = time.perf_counter() - t
        log.info("assimilating %s: %d cells, %d control elements, %s in %s..%s",
                 cfg.region.name, len(model.tasks), model.nx,
                 ", ".join(f"{k} {v}" for k, v in plan.counts(sets).items() if v),
                 a.start, a.end)
        t = time.perf_counter()
        x0 = np.zeros(model.nx)
        y_prior, files_prior, means0 = write_region_run(out / "prior", cfg, model, x0, "prior")
        timing["prior_run_and_io"] = time.perf_counter() - t
        if plan.from_prior:
            plan = resolve_model_error(plan, sets, y_prior)
            log.info("model error from the prior misfit: %s", format_model_error(plan))
        idx, d, s, st = plan.cost_arrays(sets)
        cost = CostFunction(model, idx, d, s, st)
        cmd = f"tccas assimilate {cfg.path or cfg.region.name} -o {out} --resume"
        mres = minimise(cost, None, max_iterations=a.max_iterations,
                        pgtol_reduction=a.pgtol_reduction, ftol=a.ftol, memory=a.memory,
                        checkpoint=out / "checkpoint.npz", resume=resume, progress=progress,
                        callback=callback, resume_hint=cmd)
        timing["forward"], timing["adjoint"] = cost.t_forward, cost.t_adjoint
        timing["minimise"] = mres.wall_time
        t = time.perf_counter()
        jac = jacobian(model, mres.x, workers=1, progress=progress)
        timing["hessian"] = time.perf_counter() - t
        t = time.perf_counter()
        y_post, files_post, means1 = write_region_run(out / "posterior", cfg, model, mres.x,
                                                      "posterior")
        timing["posterior_run_and_io"] = time.perf_counter() - t
        ncell = len(model.tasks)
        t = time.perf_counter()
        post = posterior(gauss_newton_hessian(jac[idx], s))
        sig_prior_y = propagate(jac)
        sig_post_y = propagate(jac, post.covariance)
        masks = {o.stream: m for o, m in zip(sets, plan.assimilated)}
        prior_sim = {o.stream: y_prior[rows[i]] for i, o in enumerate(sets)}
        post_sim = {o.stream: y_post[rows[i]] for i, o in enumerate(sets)}
        vt = validation_table(sets, prior_sim, post_sim, masks)
        files: dict[str, Path] = {}
        map_panels: dict = {}
        # the same scores per file of a stream (e.g. each AGB map on its own grid)
        per_file = []
        for i, o in enumerate(sets):
            names = list(dict.fromkeys(rec_files[i].tolist()))
            for name in names if len(names) > 1 else []:
                f = rec_files[i] == name
                for role, sel in (("assimilated", f & masks[o.stream]),
                                  ("withheld", f & ~masks[o.stream])):
                    if sel.any():
                        m = stream_metrics(o.stream, role, o.unit, o.value[sel], o.sigma[sel],
                                           prior_sim[o.stream][sel], post_sim[o.stream][sel])
                        per_file.append((name, m))
        # gridded products (AGB maps) on their own grids: maps and a table per product
        map_lines = []
        for stem, (i, part) in robs.maps.items():
            sel = rec_files[i] == stem
            o = sets[i]
            role = "assimilated" if masks[o.stream][sel].all() else "withheld"
            mv = write_map_validation(
                out / "validation" / f"{stem}.nc", part, o.value[sel], o.sigma[sel],
                prior_sim[o.stream][sel], post_sim[o.stream][sel],
                sig_prior_y[rows[i]][sel], sig_post_y[rows[i]][sel],
                attrs={"title": f"{stem} on its own grid: observed, prior and posterior",
                       "role": role})
            files[f"validation_{stem}"] = mv.path
            map_lines += map_validation_lines(stem, mv, role)
            map_panels[stem] = mv
        ctl = model.control
        result = AssimilationResult(
            names=ctl.names, x_prior=x0, x_posterior=mres.x, p_prior=ctl.prior.copy(),
            p_posterior=ctl.prior + ctl.sigma * mres.x, sigma_prior=ctl.sigma.copy(),
            sigma_posterior=ctl.sigma * post.sigma, sigma_x_posterior=post.sigma,
            covariance=post.covariance, correlation=post.correlation,
            cost_history=mres.history, minimiser=mres, targets={}, validation=vt,
            output_dir=out, timing=timing, model_error=dict(plan.model_error),
            model_error_text=format_model_error(plan))
        sim_sigma = {o.stream: (sig_prior_y[rows[i]], sig_post_y[rows[i]])
                     for i, o in enumerate(sets)}
        files.update({f"prior_{k}": v for k, v in files_prior.items()})
        files.update({f"posterior_{k}": v for k, v in files_post.items()})
        files["assimilation"] = write_assimilation_nc(out / "assimilation.nc", cfg, result,
                                                      post, sim_sigma, masks)
        txt, csv_ = write_table(vt, out / "validation.txt", out / "validation.csv")
        files["validation"], files["validation_csv"] = txt, csv_
        lines = ["validation per file of the streams read from several files (RMSE etc. in "
                 "stream units)"]
        for name in dict.fromkeys(n for n, _ in per_file):
            lines += ["", f"file {name}",
                      format_table([m for n, m in per_file if n == name]).rstrip()]
        if map_lines:
            lines += ["", "gridded products on their own grids (map cells; the model's AGB "
                      "aggregated to each map cell with area weights from the PFT map)"]
            lines += map_lines
        with atomic_path(out / "validation_files.txt") as tmp:
            tmp.write_text("\n".join(lines) + "\n")
        files["validation_files"] = out / "validation_files.txt"
        years = means0["gpp"].shape[0] / 365.25
        w = np.cos(np.radians(model.domain.lat[means0["cells"]]))
        w = w / w.sum()
        dom = [f"{'domain mean':22s}{'prior':>12s}{'posterior':>12s}"]
        for name, how, unit in (("gpp", "sum", "gC m-2 yr-1"), ("nee", "sum", "gC m-2 yr-1"),
                                ("et", "sum", "mm yr-1"), ("agb", "mean", "Mg ha-1")):
            v0, v1 = ((m[name].sum(axis=0) / years if how == "sum" else m[name].mean(axis=0))
                      @ w for m in (means0, means1))
            dom.append(f"{name + ' ' + unit:22s}{v0:12.4g}{v1:12.4g}")
        # the site's target quantities are not computed for a region: drop their table
        summary = "\n".join(
            ln for ln in format_assimilation_summary(cfg, result).split("\n")
            if not ln.startswith(("target quantities over the window", "target    ")))
        result.summary = (f"region {cfg.region.name}: {ncell} observed cells of "
                          f"{model.domain.ncell}, engine {type(model.engine).__name__}\n"
                          + summary + "\n" + "\n".join(lines[1:]) + "\n\n"
                          + "cells' area-weighted means over the run (observed cells)\n"
                          + "\n".join(dom) + "\n\n"
                          + f"wall time (s): prior run {timing['prior_run_and_io']:.1f}, "
                          f"minimiser {mres.wall_time:.1f} (forward {cost.t_forward:.1f}, "
                          f"adjoint {cost.t_adjoint:.1f}, {cost.n_adjoint} gradients), "
                          f"Jacobian {timing['hessian']:.1f} ({model.nx} tangents), "
                          f"posterior run {timing['posterior_run_and_io']:.1f}\n")
        with atomic_path(out / "summary.txt") as tmp:
            tmp.write_text(result.summary)
        files["summary"] = out / "summary.txt"
        if figures:
            try:
                import matplotlib  # noqa: F401  (the optional plot extra)

                from ..validation.figures import plot_all
                series = [(o, prior_sim[o.stream], post_sim[o.stream], sim_sigma[o.stream][1],
                           masks[o.stream]) for o in sets]
                files.update(plot_all(out, series))
                with np.errstate(invalid="ignore", divide="ignore"):
                    red = {o.stream: _cell_share(
                        model, i, np.where(sim_sigma[o.stream][0] > 0,
                                           1.0 - sim_sigma[o.stream][1] / sim_sigma[o.stream][0],
                                           np.nan))
                        for i, o in enumerate(sets)}
                files.update(_map_figures(out, model, means0, means1, red))
                for stem, mv in map_panels.items():
                    files[f"map_{stem}"] = plot_map_validation(
                        mv, out / "figures" / f"map_{stem}.png", f"{model.where}: {stem}")
            except ImportError:
                log.warning("matplotlib is not installed: no figures (pip install tccas[plot])")
        timing["io"] = time.perf_counter() - t
    timing["total"] = time.perf_counter() - t_all
    result.files = files
    return result
