"""``tccas run`` on a regional configuration (``[region]``): run every cell of the domain with
the chosen engine and write gridded CF netCDF.

Outputs in the run folder: ``daily.nc`` (daily values per PFT on (time, pft, lat, lon) and
cover-weighted cell values on (time, lat, lon); (time, pft, cell) and (time, cell) for a list
domain), ``obs/<stream>.nc`` (the regional observations with their simulated equivalents)
and ``summary.txt``. Every file is complete or absent.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..config import Config
from ..errors import ConfigError, InputDataError
from ..io import map_chunks, time_var
from ..parameters import PFT_NAMES
from .domain import Domain, GriddedForcingFile, read_domain, write_coordinates
from .model import DAILY_VARIABLES, RegionalModel, variable_units
from .observations import write_regional_obs

if TYPE_CHECKING:
    from .assimilate import RegionalObservationFiles

__all__ = ["RegionalRunResult", "regional_model_and_observations", "regional_model_for",
           "run_region", "write_gridded_daily"]

log = logging.getLogger("tccas")


@dataclass(frozen=True)
class RegionalRunResult:
    """What a regional run wrote: the folder, the files by key and the summary text."""

    output_dir: Path
    files: dict
    summary: str
    y: np.ndarray


def regional_model_for(cfg: Config, engine: str | None = None, workers: int | None = None,
                       all_cells: bool = False) -> tuple[RegionalModel, list]:
    """The RegionalModel of a configuration with a ``[region]`` table (engine and workers
    from the table unless given here) and its observation sets in the order of y, as
    :func:`tccas.workflow.cell_model_for` gives them for a site: the observed values and
    sigmas of the cost function are ``sets[i].value``/``sigma``. Records outside the run
    period are dropped. Close the model (or use it as a context manager) to stop its
    workers."""
    model, _ = regional_model_and_observations(cfg, engine, workers, all_cells)
    return model, model.sets


def regional_model_and_observations(cfg: Config, engine: str | None = None,
                                    workers: int | None = None, all_cells: bool = False
                                    ) -> tuple[RegionalModel, "RegionalObservationFiles"]:
    """As :func:`regional_model_for`, but with the observations as read: one set per stream
    (a stream may list several files, e.g. two AGB maps, which are joined) together with the
    file of every record (:class:`tccas.regional.assimilate.RegionalObservationFiles`).

    Raises
    ------
    ConfigError
        The configuration has no ``[region]`` table.
    InputDataError
        The gridded forcing does not cover the run period (named with the file).
    """
    reg = cfg.region
    if reg is None:
        raise ConfigError(f"{cfg.path or cfg.site.name}: no [region] table")
    where = str(cfg.path or reg.name)
    domain = read_domain(reg.domain)
    start = np.datetime64(cfg.run.start, "s")
    end = np.datetime64(cfg.run.end + _dt.timedelta(days=1), "s")
    ff = GriddedForcingFile(reg.forcing, domain, start, end)
    times = ff.times()
    if times.size == 0 or times[0] != start or times[-1] + np.timedelta64(3600, "s") != end:
        raise InputDataError(f"{reg.forcing}: forcing does not cover the run period "
                             f"{cfg.run.start} to {cfg.run.end} (inclusive)")
    from .assimilate import read_region_observations
    obs = read_region_observations(cfg, domain, start, end)
    engine = engine or reg.engine
    opts = dict(reg.engine_options) if engine == "dask" else {}
    memory = {} if cfg.adjoint_memory_mb is None else {"adjoint_memory_mb": cfg.adjoint_memory_mb}
    model = RegionalModel(domain, ff, obs.sets, parameters=cfg.parameters, control=cfg.control,
                          sigma_rel=cfg.control_sigma_rel, pools=reg.pools,
                          nspin=cfg.run.spinup_hours, engine=engine,
                          workers=workers or reg.workers, batch_size=reg.batch_size,
                          engine_options=opts, all_cells=all_cells, where=where,
                          phenology_rule=True, carbon_spinup=cfg.run.carbon_spinup,
                          **memory)
    return model, obs


def run_region(cfg: Config, output_dir: str | os.PathLike | None = None,
               engine: str | None = None, workers: int | None = None,
               overwrite: bool = False, progress: bool | None = None
               ) -> RegionalRunResult | None:
    """Run every cell of a regional configuration at the prior and write the outputs.

    The output folder follows the rules of a site run (:class:`tccas.outdir.OutputDir`):
    checked and locked before any work, an earlier run refused unless ``overwrite``, a folder
    holding the configuration's inputs refused, files written under temporary names and
    moved into place at the end, and the manifest ``.tccas-files`` listing them.
    ``progress`` is accepted for symmetry with a site run (the engines report nothing).

    With the MPI engine under ``mpirun``/``srun``, ranks other than 0 serve as workers and
    return None; rank 0 runs, writes and releases them at the end.
    """
    out = Path(output_dir) if output_dir is not None else Path(f"tccas-run-{cfg.region.name}")
    spmd = None
    if (engine or cfg.region.engine) == "mpi":
        from .engines import MPIEngine, mpi_worker_loop, mpi_world
        spmd = mpi_world()
        if spmd is not None and spmd[0] > 0:
            mpi_worker_loop()
            return None
    try:
        from ..outdir import OutputDir, config_inputs
        with OutputDir(out, overwrite=overwrite, command=f"tccas run {cfg.path or cfg.region.name}",
                       inputs=config_inputs(cfg)) as od:
            res = _run_region(cfg, out, engine, workers)
            od.commit(res.files.values())
        return res
    finally:
        if spmd is not None:
            MPIEngine.shutdown_workers()


def _run_region(cfg: Config, out: Path, engine: str | None, workers: int | None
                ) -> RegionalRunResult:
    model, _ = regional_model_for(cfg, engine, workers, all_cells=True)
    with model:
        log.info("regional run %s: %d cells, %d days, engine %s", cfg.region.name,
                 model.domain.ncell, model.times.size // 24, type(model.engine).__name__)
        y, cells, daily = model.run()
    domain, times = model.domain, model.times
    attrs = {"title": f"D&B regional model output, {cfg.region.name}",
             "source": "tccas D&B",
             "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
                        f"tccas run {cfg.path or cfg.region.name}"}
    staged: list[tuple[Path, Path]] = []
    try:
        tag = f".{os.getpid()}.part"
        tmp = out / f".daily.nc{tag}"
        staged.append((tmp, out / "daily.nc"))
        cell_means = write_gridded_daily(tmp, domain, times[::24], cells, daily, attrs)
        simulated = {}
        for r in model.observations:
            (out / "obs").mkdir(exist_ok=True)
            tmp = out / "obs" / f".{r.stream}.nc{tag}"
            staged.append((tmp, out / "obs" / f"{r.stream}.nc"))
            ys = y[model.slices[r.stream]]
            write_regional_obs(tmp, r, simulated=ys, attrs={"model_run": cfg.region.name})
            simulated[r.stream] = (r.obs, ys)
        text = _summary(cfg, domain, times, cell_means, simulated)
        tmp = out / f".summary.txt{tag}"
        tmp.write_text(text)
        staged.append((tmp, out / "summary.txt"))
        files = {}
        for tmp, final in staged:
            os.replace(tmp, final)
            files[f"obs_{final.stem}" if final.parent.name == "obs" else final.stem] = final
        return RegionalRunResult(out, files, text, y)
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()


def write_gridded_daily(path: Path, domain: Domain, days: np.ndarray, cells: np.ndarray,
                        daily: list, attrs: dict) -> dict:
    """Write daily values of the cells as CF netCDF on the domain grid; returns the
    cover-weighted cell values per variable, (nday, ncell)."""
    import netCDF4
    nd, npft = days.size, len(domain.pfts)
    fill = np.float32(9.96921e36)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.8"
        for k, v in attrs.items():
            ds.setncattr(k, v)
        ref = days[0].astype("datetime64[D]").astype("datetime64[s]")
        time_var(ds, days, ref, 24.0)
        ds.createDimension("pft", npft)
        v = ds.createVariable("pft", "i4", ("pft",))
        v.long_name = "BETHY plant functional type code"
        v.flag_values = np.arange(1, 14, dtype=np.int32)
        v.flag_meanings = " ".join(PFT_NAMES[i] for i in range(1, 14))
        v[:] = np.array(domain.pfts, np.int32)
        if domain.grid is not None:
            g = domain.grid
            write_coordinates(ds, g.lat, g.lon, g)
            space = ("lat", "lon")
            shape = g.shape
            where = (domain.row[cells], domain.col[cells])
        else:
            ds.createDimension("cell", domain.ncell)
            for name, a, unit in (("lat", domain.lat, "degrees_north"),
                                  ("lon", domain.lon, "degrees_east")):
                c = ds.createVariable(name, "f8", ("cell",))
                c.units = unit
                c.standard_name = "latitude" if name == "lat" else "longitude"
                c[:] = a
            space = ("cell",)
            shape = (domain.ncell,)
            where = (cells,)
        frac = np.full((npft,) + shape, 0.0)
        for j in range(npft):
            frac[j][where] = domain.fraction[cells, j]
        v = ds.createVariable("pft_fraction", "f4", ("pft",) + space, zlib=True)
        v.units = "1"
        v.long_name = "fraction of the cell covered by each PFT"
        v[:] = frac
        cell_values = {}
        # chunks for a map of one day and for one cell's series (io.map_chunks)
        chunks = map_chunks(nd, shape)
        for k, (name, _, how, _, long) in enumerate(DAILY_VARIABLES):
            per_pft = np.full((nd, npft) + shape, fill, np.float32)
            cell = np.full((nd,) + shape, fill, np.float32)
            cv = np.zeros((nd, cells.size))
            for i, (c, arr) in enumerate(zip(cells, daily)):
                cols = domain.cell_columns(int(c))
                idx = tuple(np.array([w[i]]) for w in where)
                for t, col in enumerate(cols):
                    per_pft[(slice(None), col) + idx] = arr[:, k, t][:, None]
                cv[:, i] = arr[:, k, :] @ domain.fraction[c, cols]
                cell[(slice(None),) + idx] = cv[:, i][:, None]
            cell_values[name] = cv
            unit = variable_units(name)
            if how == "sum":
                unit = unit.replace("h-1", "d-1")
            desc = f"daily {'sum' if how == 'sum' else 'mean'} of {long}" if how else long
            v = ds.createVariable(name, "f4", ("time", "pft") + space, zlib=True,
                                  fill_value=fill, chunksizes=(chunks[0], 1) + chunks[1:])
            v.units = unit
            v.long_name = f"{desc} per unit PFT area"
            v[:] = per_pft
            v = ds.createVariable(f"{name}_cell", "f4", ("time",) + space, zlib=True,
                                  fill_value=fill, chunksizes=chunks)
            v.units = unit
            v.long_name = f"{desc}, cover-weighted over the cell (non-vegetated part: 0)"
            v[:] = cell
    return {"cells": cells, **cell_values}


def _summary(cfg: Config, domain: Domain, times: np.ndarray, cell_means: dict,
             simulated: dict) -> str:
    from ..workflow import obs_statistics
    cells = cell_means["cells"]
    w = np.cos(np.radians(domain.lat[cells]))
    w = w / w.sum()
    days = times[::24]
    years = days.astype("datetime64[Y]").astype(int) + 1970
    lines = [f"tccas D&B regional run: {cfg.region.name}, {cfg.run.start} to {cfg.run.end}, "
             f"spin-up {cfg.run.spinup_hours} h",
             f"{domain.ncell} cells, PFTs " + ", ".join(f"{PFT_NAMES[p]} ({p})"
                                                       for p in domain.pfts),
             "domain means (area-weighted over cells) of annual sums per unit cell area: "
             "GPP, NEE in gC m-2 yr-1, ET in mm yr-1", "",
             f"{'year':<6}{'GPP':>10}{'NEE':>10}{'ET':>10}"]
    for yr in np.unique(years):
        m = years == yr
        vals = [float(cell_means[v][m].sum(axis=0) @ w) for v in ("gpp", "nee", "et")]
        lines.append(f"{yr:<6}" + "".join(f"{v:10.1f}" for v in vals))
    if simulated:
        lines += ["", "observations and their simulated equivalents"]
        lines += obs_statistics(simulated)
    return "\n".join(lines) + "\n"
