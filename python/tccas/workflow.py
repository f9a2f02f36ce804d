"""The `run` job and the steps that scripts share: read the inputs of a configuration
(:func:`load_inputs`, :func:`load_observations`), build its parameters (:func:`parameters_for`,
:func:`prior_parameters`) and its x -> y map with derivatives (:func:`cell_model_for`), run
D&B (:func:`run`) and write outputs and a summary (:func:`write_outputs`)."""
from __future__ import annotations

import datetime as _dt
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import io
from .config import Config
from .errors import ConfigError, InputDataError
from .outdir import raise_if_interrupted
from .model import CellRun, apply_obs, obs_arrays, run_cell
from .obs import ObsFile, ObservationSet, read_obs
from .parameters import (DAILY_OUTPUTS, HOURLY_OUTPUTS, PFT_NAMES, apply_overrides,
                         global_defaults, pft_defaults, pft_index)

__all__ = ["OutputFiles", "RunResult", "annual_table", "cell_model_for", "format_summary",
           "load_inputs", "load_observations", "obs_statistics", "output_specs",
           "output_tables", "parameters_for", "prior_parameters", "run", "write_outputs"]

log = logging.getLogger("tccas")

# hourly fluxes that the daily file gets as daily sums (unit per hour -> per day)
_SUMMED = {"gpp", "ra", "rh", "nee", "et", "trans", "evap_soil", "evap_int", "sublim", "runoff",
           "drainage", "precip"}


@dataclass(frozen=True)
class RunResult:
    """What a run wrote and its annual summary."""

    output_dir: Path
    files: dict[str, Path]
    summary: str
    cell: CellRun
    times: np.ndarray
    pfts: tuple[int, ...]
    fractions: tuple[float, ...]
    observations: dict = None      # stream -> (ObservationSet, simulated values)
    timings: dict = None           # seconds: read, run, write, total (wall, perf_counter;
    #                                read and the creation of the output files overlap run,
    #                                so total is less than their sum), and the CPU time of
    #                                each, cpu_read, cpu_run, cpu_write (time.thread_time on
    #                                the threads doing it), cpu_total (time.process_time)


def load_inputs(cfg: Config) -> tuple[io.Static, io.Forcing]:
    """Read the static and forcing files of a configuration and cut the run period."""
    static = io.read_static(cfg.site.static)
    if cfg.site.forcing_format == "fluxnet":
        from .readers.fluxnet import read_fluxnet_forcing
        forcing = read_fluxnet_forcing(cfg.site.forcing, utc_offset_hours=cfg.site.utc_offset_hours,
                                       lat=static.lat, lon=static.lon)
    else:
        forcing = io.read_forcing(cfg.site.forcing)
    start = np.datetime64(cfg.run.start, "s")
    end = np.datetime64(cfg.run.end + _dt.timedelta(days=1), "s")
    if forcing.times[0] > start or forcing.times[-1] + np.timedelta64(3600, "s") < end:
        raise InputDataError(
            f"{cfg.site.forcing}: forcing covers {forcing.times[0]} to "
            f"{forcing.times[-1] + np.timedelta64(3600, 's')}, which does not contain the run "
            f"period {cfg.run.start} to {cfg.run.end} (inclusive)")
    return static, forcing.select(start, end)


def parameters_for(cfg: Config, static: io.Static,
                   forcing: io.Forcing | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Parameter arrays of a case.

    Table defaults (``tccas.parameters``), then the prior leaf-phenology days that the rule
    of ``tccas.phenology.climate_phenology`` derives from the case's forcing climatology
    (only for days the configuration does not give, and only with at least
    ``MIN_PHENOLOGY_DAYS`` of forcing; a shorter run keeps the table's days with a warning),
    then the configuration's ``[parameters]``.

    The root zone depth ``zroot`` is a PFT parameter and is not cut at the static file's
    ``soil_depth``: roots of trees and shrubs reach into weathered rock and draw water
    below the mapped soil (Canadell et al. 1996), and cutting them there left an 80-mm
    bucket that dried out every summer at ES-LM1 (docs/science/priors.md).

    Parameters
    ----------
    cfg : the configuration.
    static : the case's static data (PFT codes, latitude).
    forcing : the case's forcing over the run period; read from the configuration when
        None and the phenology rule needs it.

    Returns
    -------
    ppft : (npft_par, ntile) PFT parameters; pglob : (nglob_par,) global parameters.
    """
    from .phenology import MIN_PHENOLOGY_DAYS, climate_phenology, config_gives
    pfts = list(static.pft)
    ppft = pft_defaults(pfts)
    pglob = global_defaults()
    where = str(cfg.path or "config")
    try:
        # the tile's own cr_*/leaf_life set where the rule puts the pulse parameters
        apply_overrides(ppft, pglob, pfts, cfg.parameters, where=where)
        missing = any(not config_gives(cfg.parameters, name, code) for code in pfts
                      for name in ("d_onset", "d_fall"))
        if missing:
            if forcing is None:
                forcing = load_inputs(cfg)[1]
            if forcing.times.size < 24 * MIN_PHENOLOGY_DAYS:
                log.warning("%s: %d days of forcing are too few for the phenology rule "
                            "(%d needed); d_onset/d_fall keep the table's values. Give them "
                            "in [parameters] for a short run.", where, forcing.times.size // 24,
                            MIN_PHENOLOGY_DAYS)
            else:
                days = climate_phenology(forcing.times, forcing.matrix(), static.lat, pfts,
                                         ppft, given=cfg.parameters)
                apply_overrides(ppft, pglob, pfts, {k: v for k, v in days.items() if v},
                                where=where)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None
    return ppft, pglob


def prior_parameters(cfg: Config, static: io.Static, forcing: io.Forcing,
                     progress: bool | None = False) -> tuple[np.ndarray, np.ndarray]:
    """The parameter arrays a run starts from: :func:`parameters_for`, and with
    ``[run] carbon_spinup = "equilibrium"`` the initial carbon pools ``c_*0`` replaced by the
    model's equilibrium under the spin-up forcing (:func:`tccas.spinup.equilibrium_pools`).
    ``forcing`` is the run's forcing (as :func:`load_inputs` returns it); ``progress``
    reports the spin-up cycles (:func:`tccas._progress.progress`; default silent)."""
    ppft, pglob = parameters_for(cfg, static, forcing)
    if cfg.run.carbon_spinup == "equilibrium":
        from .spinup import POOL_PARAMETERS, equilibrium_pools
        eq = equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon,
                               static.sand, static.clay, list(static.pft), ppft, pglob,
                               cfg.run.spinup_hours, progress=progress)
        log.info("carbon spin-up: equilibrium after %d cycles of %d days", eq.cycles,
                 eq.cycle_days)
        for k, name in enumerate(POOL_PARAMETERS):
            ppft[pft_index(name)] = eq.pools[k]
    return ppft, pglob


def run(config: Config | str | os.PathLike, output_dir: str | os.PathLike | None = None,
        progress: bool | None = None, engine: str | None = None,
        workers: int | None = None, overwrite: bool = False) -> RunResult:
    """Run D&B for a configuration (a Config, a TOML path or a bundled case name).

    Writes ``daily.nc``, ``hourly.nc`` (unless ``hourly_output = false``),
    ``obs/<stream>.nc`` and ``summary.txt`` into ``output_dir`` (default:
    ``tccas-run-<site>`` in the current folder). Files are complete or absent: each is
    written to a temporary name unique to the process and moved into place only when all of
    them are written.

    The folder is checked before the run (:class:`tccas.outdir.OutputDir`): it must be
    creatable and writable, not locked by another command, and must not hold an earlier
    run unless ``overwrite`` is true; an overwritten folder holds only this run's files.
    ``progress``: None shows a bar on a terminal and periodic log lines otherwise, False
    nothing (:func:`tccas._progress.progress`).

    A configuration with a ``[region]`` table runs every cell of its domain instead, with
    ``engine``/``workers`` overriding the table, and returns a
    :class:`tccas.regional.workflow.RegionalRunResult` (gridded ``daily.nc``).
    """
    from .cases import load_config
    cfg = config if isinstance(config, Config) else load_config(config)
    if cfg.region is not None:
        from .regional.workflow import run_region
        return run_region(cfg, output_dir, engine=engine, workers=workers,
                          overwrite=overwrite, progress=progress)
    if engine is not None or workers is not None:
        raise ConfigError(f"{cfg.path or cfg.site.name}: engine and workers apply to regional "
                          "configurations ([region]) only")
    out = Path(output_dir) if output_dir is not None else Path(f"tccas-run-{cfg.site.name}")
    from .outdir import OutputDir, config_inputs
    with OutputDir(out, overwrite=overwrite, command=f"tccas run {cfg.path or cfg.site.name}",
                   inputs=config_inputs(cfg)) as od:
        res = _run_site(cfg, out, progress)
        od.commit(res.files.values())
    return res


class _Background:
    """``fn()`` on a daemon thread; :meth:`result` waits and returns its value or raises its
    exception. The core releases the GIL while it runs (tccas.model.CORE_LOCK), so the
    calling thread reads files meanwhile; a daemon thread does not hold up an interrupted
    program's exit."""

    def __init__(self, fn, name: str):
        self._value, self._error = None, None
        self.cpu = 0.0                 # CPU seconds of fn on its thread (time.thread_time)
        self._thread = threading.Thread(target=self._main, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _main(self, fn) -> None:
        c0 = time.thread_time()
        try:
            self._value = fn()
        except BaseException as exc:           # handed to the caller by result()
            self._error = exc
        finally:
            self.cpu = time.thread_time() - c0

    def result(self):
        # short joins: the main thread wakes up to take a Ctrl-C even when the signal reached
        # the worker thread (a plain join would sleep through it until the run ends)
        while self._thread.is_alive():
            self._thread.join(0.05)
        if self._error is not None:
            raise self._error
        return self._value


def _run_site(cfg: Config, out: Path, progress: bool | None) -> RunResult:
    t0 = time.perf_counter()
    p0, c0 = time.process_time(), time.thread_time()
    static, forcing = load_inputs(cfg)
    t_inputs = time.perf_counter() - t0
    # a bar on a terminal, log lines otherwise (progress None), nothing with False
    show = progress is None or bool(progress)

    def simulate():
        c0 = time.perf_counter()
        ppft, pglob = prior_parameters(cfg, static, forcing, progress=progress)  # may spin up
        log.info("running %s: %d hours, %d PFTs", cfg.site.name, forcing.times.size,
                 len(static.pft))
        # yearly chunks only to advance a progress bar: one call gives the same values bit
        # for bit (tests/test_model.py) without copying every chunk's output into place, but
        # keeps no state0 (the state after the spin-up)
        cell = run_cell(forcing.matrix(), forcing.times, static.lat, static.lon, static.sand,
                        static.clay, list(static.pft), ppft, pglob,
                        nspin=cfg.run.spinup_hours, show_progress=progress,
                        chunk_days=366 if show else None)
        return ppft, pglob, cell, time.perf_counter() - c0

    # the core runs on its own thread while this one reads and checks the observations and
    # creates the output files (defining their variables is most of the cost of writing
    # them): the two overlap on two cores; an error in the observations is raised at once
    job = _Background(simulate, name=f"tccas-run-{cfg.site.name}")
    r0 = time.perf_counter()
    obs_sets = load_observations(cfg)
    oa = obs_arrays(obs_sets, forcing.times, static.pft)
    r1, c1 = time.perf_counter(), time.thread_time()
    prepared = None
    try:
        # inside the try: a Ctrl-C right after the files are created still deletes them
        prepared = OutputFiles(out, cfg, static, forcing.times, obs_sets)
        w0, c2 = time.perf_counter(), time.thread_time()
        ppft, pglob, cell, t_core = job.result()
        raise_if_interrupted()
        a0, c3 = time.perf_counter(), time.thread_time()
        y = apply_obs(oa, cell.hourly, static.clay, pglob)
        simulated = {o.stream: (o, y[oa.slices[o.stream]]) for o in obs_sets}
        t2, c4 = time.perf_counter(), time.thread_time()
        files = prepared.finish(cell, simulated)
    finally:
        if prepared is not None:
            prepared.abort()
    summary = files.pop("_summary_text")
    t3, c5 = time.perf_counter(), time.thread_time()
    # read (inputs, observations) and the creation of the output files overlap the run
    timings = {"read": t_inputs + (r1 - r0), "run": t_core + (t2 - a0),
               "write": (w0 - r1) + (t3 - t2), "total": t3 - t0,
               "cpu_read": c1 - c0, "cpu_run": job.cpu + (c4 - c3),
               "cpu_write": (c2 - c1) + (c5 - c4) + prepared.cpu_tables,
               "cpu_total": time.process_time() - p0}
    log.info("%s: read %.3f s and run %.3f s (overlapping), write %.3f s, total %.3f s",
             cfg.site.name, timings["read"], timings["run"], timings["write"], timings["total"])
    return RunResult(out, files, summary, cell, forcing.times, static.pft, static.pft_fraction,
                     simulated, timings)


def cell_model_for(cfg: Config, days: int | None = None, *,
                   inputs: tuple[io.Static, io.Forcing] | None = None,
                   observations: list[ObservationSet] | None = None):
    """The map x -> y of a configuration with its tangent and adjoint (a CellModel), the
    control vector of [control] and the observation sets of [observations]. ``days``
    shortens the run to the first days of the observation record (the spin-up cycles that
    shorter forcing).

    The files are read here, once: the CellModel holds the forcing and observation arrays,
    and its forward, tangent and adjoint read no file. ``inputs`` (what :func:`load_inputs`
    returned) and ``observations`` (what :func:`load_observations` returned) skip reading
    them again when the caller already holds them (e.g. to write prior and posterior runs).
    """
    from .control import build_control
    from .model import CellModel
    static, forcing = load_inputs(cfg) if inputs is None else inputs
    ppft, pglob = prior_parameters(cfg, static, forcing)
    times, met = forcing.times, forcing.matrix()
    sets = load_observations(cfg) if observations is None else list(observations)
    if days is not None:
        # the first days of the observation record (the assimilation window)
        first = min((o.t_start.min() for o in sets if len(o)), default=times[0])
        i0 = int((first.astype("datetime64[D]") - times[0]).astype("timedelta64[h]")
                 .astype(int))
        i0 = max(i0, 0)
        if days < 1 or i0 + 24 * days > times.size:
            raise ConfigError(f"days must be between 1 and {(times.size - i0) // 24}")
        times, met = times[i0:i0 + 24 * days], met[i0:i0 + 24 * days]
    end = times[-1] + np.timedelta64(3600, "s")
    sets = [o.subset((o.t_start >= times[0]) & (o.t_end <= end)) for o in sets]
    sets = [o for o in sets if len(o)]
    if not sets:
        raise ConfigError(f"{cfg.path or cfg.site.name}: no observations in the run period; "
                          "the derivative codes map the control vector to observations "
                          "([observations] in the configuration)")
    oa = obs_arrays(sets, times, static.pft)
    ctl = build_control(static.pft, ppft, pglob, cfg.control, cfg.control_sigma_rel,
                        where=f"{cfg.path or cfg.site.name}: [control]")
    memory = {} if cfg.adjoint_memory_mb is None else {"adjoint_memory_mb": cfg.adjoint_memory_mb}
    model = CellModel(met, times, static.lat, static.lon, static.sand, static.clay,
                      static.pft, ppft, pglob, ctl, oa, nspin=cfg.run.spinup_hours, **memory)
    return model, sets


def _is_fluxnet_csv(path: Path) -> bool:
    name = Path(path).name.lower()
    return name.endswith(".csv") or name.endswith(".csv.gz")


def load_observations(cfg: Config) -> list[ObservationSet]:
    """Read the observation sets named in the configuration (a stream given by a list of
    files is read from each and concatenated, :func:`tccas.obsdb.concatenate_observations`).

    Files are observation files in the tccas layout (CF netCDF, :func:`tccas.obs.read_obs`)
    or, for the streams ``nee``, ``gpp`` and ``le``, FLUXNET2015/ICOS CSV files (``.csv`` or
    ``.csv.gz``), read with :func:`tccas.readers.read_fluxnet_obs` over the case's PFT
    fractions and ``[site] utc_offset_hours``."""
    sets = []
    footprint = None
    for stream, paths in cfg.observations.items():
        parts = []
        for path in (paths if isinstance(paths, tuple) else (paths,)):
            if _is_fluxnet_csv(path):
                # a FLUXNET2015/ICOS flux file named directly: the tower sees the case's
                # PFT composition
                from .readers.fluxnet import FLUX_STREAMS, read_fluxnet_obs
                if stream not in FLUX_STREAMS:
                    raise ConfigError(f"{cfg.path or cfg.site.name}: [observations] {stream}: "
                                      f"{path} is a FLUXNET CSV file, which gives the streams "
                                      f"{', '.join(FLUX_STREAMS)} only")
                if footprint is None:
                    static = io.read_static(cfg.site.static)
                    footprint = {int(p): float(f) for p, f in zip(static.pft,
                                                                  static.pft_fraction)}
                parts.append(read_fluxnet_obs(path, stream, footprint,
                                              cfg.site.utc_offset_hours))
                continue
            o = read_obs(path)
            if o.stream != stream:
                raise InputDataError(f"{path}: holds stream '{o.stream}' but the configuration "
                                     f"lists it as '{stream}'")
            parts.append(o)
        if len(parts) > 1:
            from .obsdb import concatenate_observations
            parts = [concatenate_observations(parts)]
        sets.append(parts[0])
    return sets


def obs_statistics(simulated: dict) -> list[str]:
    """One line per stream: count, mean observed and simulated, bias, RMSE, normalised
    misfit (mean of ((sim - obs) / sigma)**2)."""
    lines = []
    for stream, (o, y) in simulated.items():
        if len(o) == 0:
            continue
        d = y - o.value
        lines.append(f"{stream:6s} n={len(o):6d}  obs {o.value.mean():10.4g}  sim {y.mean():10.4g}"
                     f"  bias {d.mean():10.4g}  rmse {np.sqrt((d ** 2).mean()):10.4g}"
                     f"  chi2/n {np.mean((d / o.sigma) ** 2):8.3g}  [{o.unit}]")
    return lines


def annual_table(times: np.ndarray, cell: CellRun, pfts, fractions) -> list[dict]:
    """Annual GPP, NEE (gC m-2 yr-1) and ET (mm yr-1) per PFT and for the cell."""
    hn = [h[0] for h in HOURLY_OUTPUTS]
    names = ("gpp", "nee", "et")
    w = np.asarray(fractions)
    rows = []
    if len(times) == 0:
        return rows
    # times are sorted: each year is one slice, found by bisection on the year starts. The
    # three variables are taken out of the hourly array in one pass (a row of it holds
    # every variable). A year's sum per tile is the sequential sum hour after hour, as the
    # code before summed a (hours, tiles) array along its hours (numpy adds row after row
    # there); np.add.accumulate gives that order on each tile's contiguous series without
    # numpy's slow loop over the short tile axis, and the table is unchanged bit for bit
    # (tests/test_io.py). With one tile numpy summed the contiguous series pairwise: the
    # code before is kept for that case (fast there).
    t = np.asarray(times).astype("datetime64[s]")
    first_year = t[0].astype("datetime64[Y]")
    starts = np.arange(first_year, t[-1].astype("datetime64[Y]") + 2).astype("datetime64[s]")
    bounds = np.searchsorted(t, starts)
    sub = np.ascontiguousarray(cell.hourly[:, [hn.index(v) for v in names], :]
                               .transpose(1, 2, 0))                  # (variable, tile, hour)
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        if a == b:
            continue
        row = {"year": int(first_year.astype(int)) + 1970 + i}
        for j, v in enumerate(names):
            if sub.shape[1] == 1:
                per_pft = np.ascontiguousarray(sub[j, :, a:b].T).sum(axis=0)
            else:
                per_pft = np.array([np.add.accumulate(sub[j, p, a:b])[-1]
                                    for p in range(sub.shape[1])])
            row[v] = per_pft
            row[v + "_cell"] = float((per_pft * w).sum())
        rows.append(row)
    return rows


def format_summary(cfg: Config, times, cell: CellRun, pfts, fractions) -> str:
    rows = annual_table(times, cell, pfts, fractions)
    names = [PFT_NAMES[p] for p in pfts]
    lines = [f"tccas D&B run: {cfg.site.name}, {cfg.run.start} to {cfg.run.end}, "
             f"spin-up {cfg.run.spinup_hours} h",
             "PFTs: " + ", ".join(f"{n} ({p}) {f:.2f}" for n, p, f in zip(names, pfts, fractions)),
             "annual sums: GPP and NEE in gC m-2 yr-1 (NEE > 0 is a source), ET in mm yr-1",
             ""]
    head = "year " + "".join(f"{'GPP ' + n:>11}{'NEE ' + n:>11}{'ET ' + n:>10}" for n in names)
    head += f"{'GPP cell':>11}{'NEE cell':>11}{'ET cell':>10}"
    lines.append(head)
    for r in rows:
        s = f"{r['year']:<5}"
        for i in range(len(pfts)):
            s += f"{r['gpp'][i]:11.1f}{r['nee'][i]:11.1f}{r['et'][i]:10.1f}"
        s += f"{r['gpp_cell']:11.1f}{r['nee_cell']:11.1f}{r['et_cell']:10.1f}"
        lines.append(s)
    return "\n".join(lines) + "\n"


# days per block of output_tables' pass over the hourly array: 128 days of 2 tiles x 35
# variables are 1.7 MB of float64, which stay in cache while they are summed and copied
_BLOCK_DAYS = 128


def output_tables(cell: CellRun, fractions, hourly: bool = True,
                  hourly_dtype=np.float64) -> tuple[dict, dict, dict, dict]:
    """The variables of daily.nc and hourly.nc from a run.

    Parameters
    ----------
    cell : the run (hourly (nt, nvar, ntile) and daily (nd, nvar_d, ntile) arrays).
    fractions : (ntile,) cover fractions (1) that weight the cell values.
    hourly : also build the hourly tables (else they are empty).
    hourly_dtype : type of the hourly tables' arrays: float64 (the core's values), or
        float32, what hourly.nc stores (the float64 values rounded once, as the writer
        would round them; half the memory and no copy when written).

    Returns
    -------
    daily per-tile, daily cell, hourly per-tile, hourly cell: dicts name -> (array, unit,
    long name, extra attributes), as :func:`tccas.io.write_table_nc` takes them. Daily
    values of hourly fluxes in ``_SUMMED`` are daily sums (unit per day), the other hourly
    variables daily means; ``npp`` = ``gpp`` - ``ra``. Cell values are cover-weighted sums
    over the tiles. In float32, the hourly per-tile arrays are C-contiguous (nt, ntile),
    as a file stores them.

    Notes
    -----
    The core returns its hourly array with the variable index fastest. One pass over it
    in blocks of whole days copies each block to (tile, variable, hour) (cache-resident)
    and takes from it the daily sums (each day's 24 hours summed along contiguous memory),
    the hourly cell values and each variable's (hour, tile) series, so that the whole
    array is read once and no full transposed copy is made. The arithmetic of every value
    is the one of the previous per-variable code (tests/test_io.py compares bit for bit).
    """
    w = np.asarray(fractions, dtype=float)
    nd = cell.daily.shape[0]
    H = cell.hourly
    nt, nvar, ntile = H.shape
    hn = [h[0] for h in HOURLY_OUTPUTS]
    igpp, ira = hn.index("gpp"), hn.index("ra")
    dsum = np.empty((ntile, nvar, nd))                           # (tile, var, day)
    if hourly:
        hv = np.empty((nvar, nt, ntile), dtype=hourly_dtype)     # each var's (hour, tile)
        hc = np.empty((nvar, nt))                                # cell values (var, hour)
        npp = np.empty((ntile, nt)).T                            # (hour, tile), as before
    buf = np.empty((ntile, nvar, 24 * min(_BLOCK_DAYS, max(nd, 1))))
    for d0 in range(0, nd, _BLOCK_DAYS):
        d1 = min(nd, d0 + _BLOCK_DAYS)
        t0, t1 = 24 * d0, 24 * d1
        blk = buf[:, :, :t1 - t0]
        blk[...] = H[t0:t1].transpose(2, 1, 0)
        dsum[:, :, d0:d1] = blk.reshape(ntile, nvar, d1 - d0, 24).sum(axis=-1)
        if hourly:
            for p in range(ntile):
                hv[:, t0:t1, p] = blk[p]
                npp[t0:t1, p] = blk[p, igpp] - blk[p, ira]
            hc[:, t0:t1] = np.einsum("pkt,p->kt", blk, w)
    dvars, dcell = {}, {}
    for k, (name, unit, long) in enumerate(DAILY_OUTPUTS):
        arr = cell.daily[:, k, :]
        point = "at the end of the day" in long
        extra = {"cell_methods": "time: point"} if point else {"cell_methods": "time: mean"}
        dvars[name] = (arr, unit, long, extra)
        dcell[name + "_cell"] = (arr @ w, unit, long,
                                 {"cell_methods": "area: mean " + extra["cell_methods"]})
    for k, (name, unit, long) in enumerate(HOURLY_OUTPUTS):
        if name in _SUMMED:
            arr, unit = dsum[:, k, :].T, unit.replace("h-1", "d-1")
            long = f"daily sum of {long}"
        else:
            arr, long = dsum[:, k, :].T / 24, f"daily mean of {long}"
        extra = {"cell_methods": "time: mean"}
        dvars[name] = (arr, unit, long, extra)
        dcell[name + "_cell"] = (arr @ w, unit, long, {"cell_methods": "area: mean time: mean"})
    dvars["npp"] = (dvars["gpp"][0] - dvars["ra"][0], "g m-2 d-1",
                    "daily sum of net primary production (carbon)", {"cell_methods": "time: mean"})
    dcell["npp_cell"] = (dvars["npp"][0] @ w, "g m-2 d-1", dvars["npp"][2],
                         {"cell_methods": "area: mean time: mean"})
    hvars, hcell = {}, {}
    if hourly:
        cast = (lambda a: a) if np.dtype(hourly_dtype) == np.float64 else \
            (lambda a: a.astype(hourly_dtype))
        for k, (name, unit, long) in enumerate(HOURLY_OUTPUTS):
            rate = unit.endswith("h-1")
            extra = {"cell_methods": "time: mean"} if rate else {}
            hvars[name] = (hv[k], unit, long, extra)
            hcell[name + "_cell"] = (cast(hc[k]), unit, long, {"cell_methods": "area: mean"
                                                                + (" time: mean" if rate else "")})
        hvars["npp"] = (npp if np.dtype(hourly_dtype) == np.float64 else
                        np.ascontiguousarray(npp, dtype=hourly_dtype),
                        "g m-2 h-1", "net primary production (carbon)",
                        {"cell_methods": "time: mean"})
        hcell["npp_cell"] = (cast(npp @ w), "g m-2 h-1", hvars["npp"][2],
                             {"cell_methods": "area: mean time: mean"})
    return dvars, dcell, hvars, hcell


# zlib levels of the output files; None stores them uncompressed and contiguous. Model
# output (float32 values with noisy low bits) compresses by 15 % (daily) to 50 % (hourly)
# while zlib takes several times the core's run time; see docs/io.md for the figures.
DAILY_COMPLEVEL: int | None = None
HOURLY_COMPLEVEL: int | None = None
OBS_COMPLEVEL: int | None = None


def write_outputs(out: Path, cfg: Config, static: io.Static, times: np.ndarray,
                  cell: CellRun, simulated: dict | None = None, *,
                  daily_complevel: int | None = DAILY_COMPLEVEL,
                  hourly_complevel: int | None = HOURLY_COMPLEVEL,
                  obs_complevel: int | None = OBS_COMPLEVEL) -> dict:
    """Write ``daily.nc``, ``hourly.nc``, ``obs/<stream>.nc`` (observations with their
    simulated equivalents) and ``summary.txt`` into ``out``; each file is complete or absent.

    Parameters
    ----------
    out : output folder (created).
    cfg : the configuration (site name, ``hourly_output``, path for the history).
    static : the cell's static data (tiles, cover fractions, location).
    times : (nt,) datetime64 hourly step starts of the run.
    cell : the run.
    simulated : stream -> (ObservationSet, simulated values), written to obs/.
    daily_complevel, hourly_complevel, obs_complevel : zlib levels of ``daily.nc``,
        ``hourly.nc`` and ``obs/*.nc``, None for uncompressed contiguous storage (values identical either
        way).

    Returns
    -------
    dict key -> path written (``daily``, ``hourly``, ``obs_<stream>``, ``summary``) and
    ``_summary_text``.
    """
    prepared = OutputFiles(out, cfg, static, times, daily_complevel=daily_complevel,
                           hourly_complevel=hourly_complevel, obs_complevel=obs_complevel)
    return prepared.finish(cell, simulated)


def output_specs(ntile: int, hourly: bool = True) -> tuple[dict, dict, dict, dict]:
    """The variables of :func:`output_tables` without their data: four dicts name -> (unit,
    long name, extra attributes), in the same order (taken from the tables of a one-day run
    of zeros, so the two cannot disagree)."""
    zero = CellRun(hourly=np.zeros((24, len(HOURLY_OUTPUTS), ntile)),
                   daily=np.zeros((1, len(DAILY_OUTPUTS), ntile)),
                   state=np.zeros((0, ntile)), state0=None)
    tables = output_tables(zero, np.ones(ntile), hourly=hourly)
    return tuple({k: v[1:] for k, v in t.items()} for t in tables)


class OutputFiles:
    """The output files of a site run (:func:`write_outputs`), created before the run ends.

    Creating it makes the temporary files of ``daily.nc`` and ``hourly.nc`` and defines
    every variable in them (:class:`tccas.io.TableFile`: most of the cost of writing them),
    so that :func:`run` does it while the core runs; :meth:`finish` writes the data, the
    observation files and ``summary.txt`` and moves every file into place. Files are
    complete or absent: :meth:`abort` (also called when :meth:`finish` fails) deletes the
    temporary files.

    Parameters are those of :func:`write_outputs` without the run; ``observations``, the
    observation sets the run will simulate, also creates their files (``simulated`` is
    written by :meth:`finish`).
    """

    def __init__(self, out: Path, cfg: Config, static: io.Static, times: np.ndarray,
                 observations: list[ObservationSet] | None = None, *,
                 daily_complevel: int | None = DAILY_COMPLEVEL,
                 hourly_complevel: int | None = HOURLY_COMPLEVEL,
                 obs_complevel: int | None = OBS_COMPLEVEL):
        self.out, self.cfg, self.static, self.times = Path(out), cfg, static, times
        self.cpu_tables = 0.0          # CPU seconds of output_tables' thread in finish()
        self.obs_complevel = obs_complevel
        self.staged: list[tuple[Path, Path]] = []
        self.tables: dict[str, io.TableFile] = {}
        self.obs_files: dict[str, ObsFile] = {}
        self.out.mkdir(parents=True, exist_ok=True)
        pfts, fracs = static.pft, static.pft_fraction
        self.attrs = {
            "title": f"D&B model output, {cfg.site.name}", "source": "tccas D&B",
            "site_name": cfg.site.name,
            "history": f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
                       f"tccas run {cfg.path or cfg.site.name}"}
        try:
            dspec, dcell, hspec, hcell = output_specs(len(pfts), hourly=cfg.run.hourly_output)
            self.tables["daily"] = io.TableFile(
                self._temp_name(self.out, "daily.nc"), times[::24], 24.0, pfts, fracs, dspec,
                dcell, static.lat, static.lon, self.attrs, complevel=daily_complevel)
            if cfg.run.hourly_output:
                self.tables["hourly"] = io.TableFile(
                    self._temp_name(self.out, "hourly.nc"), times, 1.0, pfts, fracs, hspec,
                    hcell, static.lat, static.lon, self.attrs, complevel=hourly_complevel)
            for o in observations or ():
                self.obs_files[o.stream] = self._obs_file(o)
        except BaseException:
            self.abort()
            raise

    def _obs_file(self, o: ObservationSet) -> ObsFile:
        (self.out / "obs").mkdir(exist_ok=True)
        tmp = self._temp_name(self.out / "obs", f"{o.stream}.nc")
        return ObsFile(tmp, o, {"model_run": self.cfg.site.name}, True,
                       complevel=self.obs_complevel, lat=self.static.lat, lon=self.static.lon)

    def _temp_name(self, folder: Path, name: str) -> Path:
        # unique per process and call: concurrent writers never share a temporary file. The
        # name is staged before the file is created (exclusively, as mkstemp does), so that
        # a Ctrl-C landing between the two leaves nothing abort() does not delete
        while True:
            tmp = folder / f".{name}.{os.getpid()}.{os.urandom(4).hex()}.part"
            self.staged.append((tmp, folder / name))
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                return tmp
            except FileExistsError:        # another writer's name: draw again
                self.staged.pop()

    def finish(self, cell: CellRun, simulated: dict | None = None) -> dict:
        """Write the run's data and the other files, move them into place; returns what
        :func:`write_outputs` returns."""
        cfg, static, times = self.cfg, self.static, self.times
        out, pfts, fracs = self.out, static.pft, static.pft_fraction
        try:
            # the tables (numpy, mostly without the GIL) are built on a second thread while
            # this one writes the observation files (netCDF stays on one thread: netCDF-C is
            # not thread-safe)
            tables = _Background(lambda: output_tables(cell, fracs,
                                                       hourly=cfg.run.hourly_output,
                                                       hourly_dtype=np.float32),
                                 name="tccas-output-tables")
            simulated = simulated or {}
            if set(self.obs_files) - set(simulated):
                raise ValueError(f"no simulated values for the observation files "
                                 f"{sorted(set(self.obs_files) - set(simulated))}")
            for stream, (o, y) in simulated.items():
                f = self.obs_files.pop(stream, None) or self._obs_file(o)
                f.fill(y)
            dvars, dcell, hvars, hcell = tables.result()
            self.cpu_tables = tables.cpu
            self.tables.pop("daily").fill(dvars, dcell)
            if cfg.run.hourly_output:
                self.tables.pop("hourly").fill(hvars, hcell)
            text = format_summary(cfg, times, cell, pfts, fracs)
            if simulated:
                text += "\nobservations and their simulated equivalents\n"
                text += "\n".join(obs_statistics(simulated)) + "\n"
            tmp = self._temp_name(out, "summary.txt")
            tmp.write_text(text)
            raise_if_interrupted()         # a Ctrl-C an extension swallowed: move nothing
            files = {}
            for tmp, final in self.staged:
                os.chmod(tmp, 0o644)       # mkstemp creates 0600
                os.replace(tmp, final)
                key = f"obs_{final.stem}" if final.parent.name == "obs" else final.stem
                files[key] = final
            self.staged = []
            files["_summary_text"] = text
            return files
        finally:
            self.abort()

    def abort(self) -> None:
        """Close and delete the temporary files not moved into place."""
        for t in (*self.tables.values(), *self.obs_files.values()):
            t.close()
        self.tables, self.obs_files = {}, {}
        for tmp, _ in self.staged:
            if tmp.exists():
                tmp.unlink()
        self.staged = []
