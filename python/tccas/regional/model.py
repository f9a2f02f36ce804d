"""The regional map x -> y over many cells, with its tangent and adjoint.

Parameters are shared per PFT across the domain (control elements ``vcmax25[EvCn]``, as at
a site); initial carbon pools are shared per PFT as well, or, with ``pools="cell"``, one
element per cell and PFT (``c_fol0[EvCn]@cell12``). Each cell is simulated by its own
:class:`tccas.model.CellModel` whose control vector is the part of the regional x that acts
on it (``xmap``), and whose observations are the regional observations touching it, with
that cell's footprint weights (``ymap`` gives their rows in y). Observation operators are
linear in the footprint weights (except the ASCAT streams, which add in power and then go
to dB: an ASCAT footprint must fall into one cell, which is checked), so

    y = sum_c P_c y_c(x[xmap_c]),   J dx = sum_c P_c J_c dx[xmap_c],
    J^T dy = sum_c S_c J_c^T dy[ymap_c]

(P_c scatters a cell's rows into y, S_c its gradient into x): forward, tangent and adjoint
are a map over cells and a reduction, which an engine (:mod:`tccas.regional.engines`) runs
in parallel. Cells are grouped in fixed batches whose partial sums are added in batch order,
so the result does not depend on the engine or the number of workers. Cells that no
observation touches do not affect y and are not run.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ..control import CTL_GLOBAL, CTL_PFT, POOL_NAMES, ControlVector, build_control
from ..errors import ConfigError, InputDataError, ModelError, TccasError
from ..model import DEFAULT_ADJOINT_MEMORY_MB, CellModel, checked_memory_mb, obs_arrays
from ..obs import ASCAT_STREAMS, ObservationSet
from ..parameters import (apply_overrides, global_defaults,
                          pft_defaults, pft_index)
from .domain import CellForcing, Domain, GriddedForcingFile
from .observations import RegionalObservations

__all__ = ["POOL_MODES", "CELL_COST_TILES", "REGIONAL_ADJOINT_MEMORY_MB", "DAILY_VARIABLES", "CellTask", "EvaluationStats",
           "BatchSpec", "Batch", "RegionalModel", "daily_values", "variable_units",
           "regional_parameters", "build_regional_control", "build_batches", "cell_at_equilibrium"]

log = logging.getLogger("tccas")

#: where initial carbon pools live in the control vector: shared per PFT, or per cell and PFT
POOL_MODES = ("pft", "cell")

#: The cost of one cell's run besides its tiles, in tiles: the core's CPU time per cell and
#: hour is about a + b * ntile with a / b = 0.4-0.9 (forward and adjoint, 1 to 6 tiles;
#: benchmarks/regional.py prints the measured split). Used to balance workers.
CELL_COST_TILES = 0.6

#: Default adjoint memory budget of each cell in a regional run (MB). A worker holds one
#: cell's tape at a time, so this bounds its tape memory; 1500 MB keeps the whole-run tape
#: of a 13-year cell of 6 tiles (about 1.3 GB at TAPE_BYTES_PER_TILE_HOUR) instead of
#: re-running it in yearly blocks, which costs about one more forward (adjoint / forward
#: 3.9 instead of 3.0 measured on a 4-year 6-tile cell). Lower it (``adjoint_memory_mb`` in
#: the config) on nodes with less than about 2 GB per worker.
REGIONAL_ADJOINT_MEMORY_MB = 1500.0


def regional_parameters(domain: Domain, parameters: Mapping[str, object] | None = None,
                        where: str = "config") -> tuple[np.ndarray, np.ndarray]:
    """Parameter arrays of the domain's PFTs, (npar, npft) and (nglob,): table defaults with
    ``parameters`` overrides (as ``[parameters]`` of a configuration)."""
    pfts = list(domain.pfts)
    ppft, pglob = pft_defaults(pfts), global_defaults()
    try:
        apply_overrides(ppft, pglob, pfts, parameters or {}, where=where)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None
    return ppft, pglob


def build_regional_control(domain: Domain, ppft: np.ndarray, pglob: np.ndarray,
                           spec=None, sigma_rel=None, pools: str = "pft",
                           where: str = "control") -> tuple[ControlVector, np.ndarray]:
    """The regional control vector and, per element, the cell it belongs to (-1: shared).

    ``spec`` and ``sigma_rel`` as in :func:`tccas.control.build_control` over the domain's
    PFTs: a PFT parameter gives one element per PFT of the domain, shared by every cell
    with that PFT. With ``pools="cell"`` each initial-pool element ``c_*0[PFT]`` becomes one
    element per cell holding that PFT, named ``c_*0[PFT]@cell<k>``, with the same prior,
    sigma and bounds. ``kind``/``index`` are as at a site; ``tile`` is the 1-based column
    of the PFT in ``domain.pfts``.
    """
    if pools not in POOL_MODES:
        raise ConfigError(f"{where}: pools must be one of {POOL_MODES}, got {pools!r}")
    ctl = build_control(domain.pfts, ppft, pglob, spec, sigma_rel, where=where)
    if pools == "pft":
        return ctl, np.full(len(ctl), -1, np.int64)
    pool_idx = {pft_index(n) + 1 for n in POOL_NAMES}
    keep: list[tuple[int, int]] = []        # (element of ctl, cell or -1)
    names = []
    for j, name in enumerate(ctl.names):
        if ctl.kind[j] == CTL_PFT and int(ctl.index[j]) in pool_idx:
            col = int(ctl.tile[j]) - 1
            for k in np.nonzero(domain.fraction[:, col] > 0)[0]:
                keep.append((j, int(k)))
                names.append(f"{name}@cell{k}")
        else:
            keep.append((j, -1))
            names.append(name)
    sel = np.array([j for j, _ in keep], np.int64)
    cvec = ControlVector(tuple(names), ctl.kind[sel], ctl.index[sel], ctl.tile[sel],
                         ctl.prior[sel], ctl.sigma[sel], ctl.lower[sel], ctl.upper[sel])
    return cvec, np.array([k for _, k in keep], np.int64)


@dataclass(frozen=True)
class EvaluationStats:
    """Where the time of one evaluation of a RegionalModel went.

    Attributes
    ----------
    op : 'forward', 'tangent', 'adjoint' or 'run'.
    wall_s : wall time of the evaluation seen by the driver (s).
    workers : per worker process id: ``cpu_s`` (CPU time of its batches), ``busy_s`` (wall
        time inside its batches) and ``tiles`` (tiles it simulated).
    hours : hours simulated per tile (spin-up and run).
    batch_cpu_s : CPU time (s) of each batch, by batch index.
    """

    op: str
    wall_s: float
    workers: dict
    hours: int
    batch_cpu_s: dict = field(default_factory=dict)

    @property
    def tile_years(self) -> float:
        """Tile-years simulated (tiles x hours / 8760)."""
        return sum(w["tiles"] for w in self.workers.values()) * self.hours / 8760.0

    @property
    def cpu_s(self) -> float:
        """CPU time of all workers inside their batches (s)."""
        return sum(w["cpu_s"] for w in self.workers.values())

    @property
    def cpu_per_tile_year(self) -> float:
        """CPU seconds per tile-year (independent of how loaded the machine is, as far as
        CPU time is)."""
        return self.cpu_s / self.tile_years if self.tile_years else float("nan")

    @property
    def efficiency(self) -> float:
        """Parallel efficiency: the workers' busy time over (workers x wall time); 1 when
        every worker computes for the whole evaluation. Below 1: imbalance between workers,
        driver overhead and messages (or, on a shared machine, time taken by others)."""
        n = len(self.workers)
        return sum(w["busy_s"] for w in self.workers.values()) / (n * self.wall_s) \
            if n and self.wall_s > 0 else float("nan")

    @property
    def balance(self) -> float:
        """Mean over maximum of the workers' CPU time (1: perfectly balanced)."""
        c = [w["cpu_s"] for w in self.workers.values()]
        return float(np.mean(c) / max(c)) if c and max(c) > 0 else float("nan")


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to build one cell's CellModel, except its forcing."""

    cell: int
    label: str
    lat: float
    lon: float
    sand: float
    clay: float
    pfts: tuple[int, ...]
    ppft0: np.ndarray
    pglob0: np.ndarray
    control: ControlVector
    xmap: np.ndarray
    obs_sets: tuple[ObservationSet, ...]
    ymap: np.ndarray

    @property
    def ntile(self) -> int:
        return len(self.pfts)


@dataclass(frozen=True)
class BatchSpec:
    """A fixed group of cells evaluated by one task; ``forcing`` is their forcing in memory
    or the gridded file a worker reads them from. With ``equilibrium`` the worker starts
    each cell's carbon pools at the cell's equilibrium (:mod:`tccas.regional.prior`;
    ``sigma_rel`` as in ``[control]`` gives the pools' prior sigma)."""

    index: int
    tasks: tuple[CellTask, ...]
    forcing: CellForcing | GriddedForcingFile
    nspin: int
    nx: int
    ny: int
    equilibrium: bool = False
    sigma_rel: Mapping[str, float] | None = None

    @property
    def cells(self) -> np.ndarray:
        return np.array([t.cell for t in self.tasks], np.int64)

    @property
    def tiles(self) -> int:
        """Tiles (cell x PFT) simulated by this batch."""
        return int(sum(t.ntile for t in self.tasks))

    @property
    def cost(self) -> float:
        """Relative cost used to balance workers: tiles plus a fixed cost per cell of
        ``CELL_COST_TILES`` tiles (what a cell's run costs besides its tiles)."""
        return float(self.tiles + CELL_COST_TILES * len(self.tasks))


class Batch:
    """The cells of one BatchSpec, built into CellModels once and kept by a worker."""

    def __init__(self, spec: BatchSpec, forcing: CellForcing,
                 adjoint_memory_mb: float = DEFAULT_ADJOINT_MEMORY_MB) -> None:
        self.index = spec.index
        self.tasks = list(spec.tasks)
        self.times = forcing.times
        self.models: list[CellModel] = []
        self._memory = adjoint_memory_mb
        for j, t in enumerate(spec.tasks):
            try:
                if spec.equilibrium:
                    t = self.tasks[j] = cell_at_equilibrium(t, forcing.met(t.cell),
                                                            forcing.times, spec.nspin,
                                                            spec.sigma_rel)
                oa = obs_arrays(list(t.obs_sets), forcing.times, t.pfts)
                m = CellModel(forcing.met(t.cell), forcing.times, t.lat, t.lon, t.sand,
                              t.clay, t.pfts, t.ppft0, t.pglob0, t.control, oa,
                              nspin=spec.nspin, adjoint_memory_mb=adjoint_memory_mb)
                # the cells share one time axis: keep one copy of its day/hour arrays
                # (three float64 values per hour and cell otherwise)
                if self.models:
                    m.doy, m.hour, m.tday = (self.models[0].doy, self.models[0].hour,
                                             self.models[0].tday)
                self.models.append(m)
            except TccasError as exc:
                raise type(exc)(f"{t.label}: {exc}") from None
        ys = [t.ymap for t in spec.tasks]
        self.rows = np.unique(np.concatenate(ys)) if ys else np.zeros(0, np.int64)
        self.loc = [np.searchsorted(self.rows, y) for y in ys]
        self.nx = spec.nx

    def evaluate(self, op: str, x: np.ndarray, v: np.ndarray | None = None,
                 adjoint_memory_mb: float | None = None) -> dict:
        """Partial sums of this batch: ``forward`` -> {'y'} on ``rows``; ``tangent`` ->
        {'y', 'dy'}; ``adjoint`` (v = dy over all of y) -> {'g'} over all of x, and the
        largest adjoint tape of its cells ('stack_bytes')."""
        if adjoint_memory_mb is not None and adjoint_memory_mb != self._memory:
            for m in self.models:
                m.adjoint_memory_mb = adjoint_memory_mb
            self._memory = adjoint_memory_mb
        out: dict = {"index": self.index, "rows": self.rows}
        n = self.rows.size
        if op == "forward":
            y = np.zeros(n)
        elif op == "tangent":
            y, dy = np.zeros(n), np.zeros(n)
        elif op == "adjoint":
            g, stack = np.zeros(self.nx), 0.0
        elif op == "run":
            return self.run_outputs(x)
        elif op == "prior":
            # each cell's control prior, sigma and bounds and its parameters (after a
            # per-cell equilibrium spin-up these are the cell's own)
            out.update(cells=[t.cell for t in self.tasks],
                       control=[t.control for t in self.tasks],
                       ppft0=[t.ppft0 for t in self.tasks])
            return out
        else:
            raise ModelError(f"unknown operation {op!r}")
        for t, m, loc in zip(self.tasks, self.models, self.loc):
            xc = x[t.xmap]
            try:
                if op == "forward":
                    np.add.at(y, loc, m.forward(xc))
                elif op == "tangent":
                    yc, dyc = m.tangent(xc, v[t.xmap])
                    np.add.at(y, loc, yc)
                    np.add.at(dy, loc, dyc)
                else:
                    np.add.at(g, t.xmap, m.adjoint(xc, v[t.ymap]))
                    stack = max(stack, m.last_stack_bytes)
            except TccasError as exc:
                raise type(exc)(f"{t.label}: {exc}") from None
        if op == "forward":
            out["y"] = y
        elif op == "tangent":
            out["y"], out["dy"] = y, dy
        else:
            out["g"], out["stack_bytes"] = g, stack
        return out


    def run_outputs(self, x: np.ndarray) -> dict:
        """A full run of each cell at x (spin-up, hourly model, observation operators):
        {'y'} on ``rows`` as in ``forward`` and {'daily'}: (ncell, nday, nvar, ntile)
        float32 daily values of ``DAILY_VARIABLES`` per cell, {'cells'} their indices."""
        from ..model import apply_obs, run_cell
        y = np.zeros(self.rows.size)
        daily = []
        for t, m, loc in zip(self.tasks, self.models, self.loc):
            try:
                ppft, pglob = t.control.params(x[t.xmap], t.ppft0, t.pglob0)
                run = run_cell(m.met, self.times, t.lat, t.lon, t.sand, t.clay, list(t.pfts),
                               ppft, pglob, nspin=m.nspin, show_progress=False)
                if m.oa.n:
                    np.add.at(y, loc, apply_obs(m.oa, run.hourly, t.clay, pglob))
            except TccasError as exc:
                raise type(exc)(f"{t.label}: {exc}") from None
            daily.append(daily_values(run))
        return {"index": self.index, "rows": self.rows, "y": y,
                "cells": np.array([t.cell for t in self.tasks], np.int64), "daily": daily}


def cell_at_equilibrium(task: CellTask, met: np.ndarray, times: np.ndarray, nspin: int,
                        sigma_rel: Mapping[str, float] | None = None) -> CellTask:
    """The cell of ``task`` with its initial carbon pools (``c_*0``) at the equilibrium of
    its spin-up forcing (:func:`tccas.spinup.equilibrium_pools` at the prior parameters),
    and the pool elements of its control vector re-centred on them: prior = the cell's
    equilibrium value (moved to the nearest bound of the parameter when outside them),
    sigma = the table's (or ``sigma_rel``'s) relative sigma of it, bounds mapped to x
    again."""
    from dataclasses import replace

    from ..parameters import PFT_PARAMETERS
    from ..spinup import POOL_PARAMETERS, equilibrium_pools
    eq = equilibrium_pools(met, times, task.lat, task.lon, task.sand, task.clay,
                           list(task.pfts), task.ppft0, task.pglob0, nspin)
    ppft0 = np.array(task.ppft0)
    rows = [pft_index(n) for n in POOL_PARAMETERS]
    ppft0[rows] = eq.pools
    c = task.control
    prior, sigma = c.prior.copy(), c.sigma.copy()
    lower, upper = c.lower.copy(), c.upper.copy()
    for k in range(len(c)):
        if c.kind[k] != CTL_PFT or int(c.index[k]) - 1 not in rows:
            continue
        par = PFT_PARAMETERS[int(c.index[k]) - 1]
        # an equilibrium outside the parameter's bounds (a grass canopy of less than the
        # 1 gC m-2 lower bound of c_fol0 on 1 January, say) is centred on the nearest bound,
        # so that the prior x = 0 is inside them
        v = float(np.clip(ppft0[int(c.index[k]) - 1, int(c.tile[k]) - 1], par.lower,
                          par.upper))
        name = c.names[k].split("[")[0]
        prior[k] = v
        sigma[k] = par.prior_sigma(v, (sigma_rel or {}).get(name))
        lower[k] = (par.lower - v) / sigma[k]
        upper[k] = (par.upper - v) / sigma[k]
    ctl = ControlVector(c.names, c.kind, c.index, c.tile, prior, sigma, lower, upper)
    return replace(task, ppft0=ppft0, control=ctl)


# Daily values a regional run writes: name, source table, aggregation of hourly values
# ('sum' or 'mean'; None for a daily output of the core), unit, long name
DAILY_VARIABLES = (
    ("gpp", "h", "sum", "g m-2 d-1", "gross primary production (carbon)"),
    ("ra", "h", "sum", "g m-2 d-1", "autotrophic respiration (carbon)"),
    ("rh", "h", "sum", "g m-2 d-1", "heterotrophic respiration (carbon)"),
    ("nee", "h", "sum", "g m-2 d-1", "net ecosystem exchange (carbon, > 0 a source)"),
    ("et", "h", "sum", "kg m-2 d-1", "evapotranspiration"),
    ("sm_surf", "h", "mean", "m3 m-3", "surface soil moisture"),
    ("sif", "h", "mean", None, "sun-induced fluorescence at 743 nm"),
    ("vod", "h", "mean", "1", "L-band vegetation optical depth"),
    ("agb", "h", "mean", None, "above-ground biomass"),
    ("lai_day", "d", None, None, "leaf area index"),
    ("c_fol", "d", None, None, "foliar carbon pool"),
    ("c_wood", "d", None, None, "woody carbon pool"),
    ("c_som", "d", None, None, "soil organic carbon pool"),
)


def daily_values(run) -> np.ndarray:
    """(nday, len(DAILY_VARIABLES), ntile) float32 daily values of a CellRun."""
    from ..parameters import DAILY_OUTPUTS, HOURLY_OUTPUTS
    hn = [h[0] for h in HOURLY_OUTPUTS]
    dn = [d[0] for d in DAILY_OUTPUTS]
    nd = run.daily.shape[0]
    out = np.empty((nd, len(DAILY_VARIABLES), run.daily.shape[2]), np.float32)
    for j, (name, src, how, _, _) in enumerate(DAILY_VARIABLES):
        if src == "d":
            out[:, j] = run.daily[:, dn.index(name), :]
        else:
            h = run.hourly[:, hn.index(name), :].reshape(nd, 24, -1)
            out[:, j] = h.sum(axis=1) if how == "sum" else h.mean(axis=1)
    return out


def variable_units(name: str) -> str:
    """Unit of a DAILY_VARIABLES entry (from the core's output tables where not given)."""
    from ..parameters import DAILY_OUTPUTS, HOURLY_OUTPUTS
    for n, src, how, unit, _ in DAILY_VARIABLES:
        if n == name:
            if unit is not None:
                return unit
            table = DAILY_OUTPUTS if src == "d" else HOURLY_OUTPUTS
            return next(t[1] for t in table if t[0] == name)
    raise KeyError(name)


def build_batches(specs: Sequence[BatchSpec],
                  adjoint_memory_mb: float = DEFAULT_ADJOINT_MEMORY_MB) -> dict[int, Batch]:
    """Build the Batches of ``specs`` (what a worker keeps). Forcing read from a file is read
    once for all cells of the specs (each variable as one block)."""
    out: dict[int, Batch] = {}
    from_file = [s for s in specs if isinstance(s.forcing, GriddedForcingFile)]
    if from_file:
        cells = np.concatenate([s.cells for s in from_file])
        forcing = from_file[0].forcing.read(np.sort(cells))
    for s in specs:
        # the batch copies its cells' forcing into their CellModels; no subset copy here
        f = forcing if isinstance(s.forcing, GriddedForcingFile) else s.forcing
        out[s.index] = Batch(s, f, adjoint_memory_mb)
    return out


class RegionalModel:
    """y = H(M(x)) over a domain, with tangent and adjoint: the protocol of
    :class:`tccas.model.CellModel` (``nx``, ``ny``, ``control``, ``forward``, ``tangent``,
    ``adjoint``, ``adjoint_memory_mb``, ``last_stack_bytes``), so that the cost function and
    minimiser of a site work on a region unchanged.

    After an evaluation, ``last_stack_bytes`` is the largest adjoint tape of any cell and
    ``worker_peak_rss_mb`` maps each worker's process id to its peak resident memory (MB),
    and ``last_evaluation`` (:class:`EvaluationStats`) gives the CPU and busy time of each
    worker, the CPU time per tile-year and the parallel efficiency.
    Workers start at the first evaluation (or :meth:`start`) and stop at :meth:`close`
    (or at the end of a ``with`` block).

    Parameters
    ----------
    domain : the cells (:func:`tccas.regional.read_domain`).
    forcing : the forcing of every cell in memory (:class:`CellForcing`) or a
        :class:`GriddedForcingFile` that each worker reads its cells from.
    observations : regional observation sets (y is their records in this order).
    parameters : overrides of the parameter table (``[parameters]`` of a config).
    control, sigma_rel : the control vector as in ``[control]`` (None: TCCAS default).
    pools : ``"pft"`` (initial carbon pools shared per PFT) or ``"cell"`` (per cell).
    nspin : spin-up hours (cycling each cell's forcing from its start).
    engine : an Engine, an engine name (``"processes"``, ``"serial"``, ``"dask"``,
        ``"mpi"``) or None (local processes on every core).
    workers : number of workers for a named engine (default: every core).
    batch_size : cells per task. Batches are fixed by this number and the cell order, not by
        the engine, so results are the same whatever the engine and worker count.
    adjoint_memory_mb : each cell's adjoint memory budget (MB), see CellModel; default
        ``REGIONAL_ADJOINT_MEMORY_MB`` (a worker holds one cell's tape at a time).
    all_cells : also build the cells that no observation touches (what :meth:`run` needs;
        they add nothing to y or the gradient).
    phenology_rule : set the prior ``d_onset``/``d_fall`` of each PFT that ``parameters``
        does not give from the domain's climate (:func:`tccas.regional.prior.domain_phenology`;
        ``phenology_days`` holds them).
    carbon_spinup : ``"prescribed"`` (pools from the parameters ``c_*0``) or
        ``"equilibrium"`` (each cell's pools at its own equilibrium, computed by the workers
        when they start; see :mod:`tccas.regional.prior`).
    """

    def __init__(self, domain: Domain, forcing: CellForcing | GriddedForcingFile,
                 observations: Sequence[RegionalObservations],
                 parameters: Mapping[str, object] | None = None, control=None,
                 sigma_rel: Mapping[str, float] | None = None, pools: str = "pft",
                 nspin: int = 0, engine=None, workers: int | None = None,
                 batch_size: int = 4,
                 adjoint_memory_mb: float = REGIONAL_ADJOINT_MEMORY_MB,
                 engine_options: Mapping[str, object] | None = None,
                 all_cells: bool = False, where: str = "region",
                 phenology_rule: bool = False, carbon_spinup: str = "prescribed") -> None:
        from .engines import make_engine
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"{where}: batch_size must be a positive integer, got "
                              f"{batch_size!r}")
        self.domain = domain
        self.where = where
        times = forcing.times if isinstance(forcing, CellForcing) else forcing.times()
        if times.size == 0:
            raise InputDataError(f"{getattr(forcing, 'path', 'forcing')}: no time steps in the "
                                 "run period")
        self.times = times
        self.observations = list(observations)
        end = times[-1] + np.timedelta64(3600, "s")
        offsets, k = [], 0
        for r in self.observations:
            r.validate(domain)
            r.obs.validate(period=(times[0], end), pfts=tuple(domain.pfts))
            offsets.append(k)
            k += len(r)
        self._ny = k
        self.slices = {r.stream: slice(o, o + len(r))
                       for r, o in zip(self.observations, offsets)}
        self.ppft, self.pglob = regional_parameters(domain, parameters, where)
        self.phenology_days: dict = {}
        if phenology_rule:
            from .prior import apply_domain_phenology
            self.phenology_days = apply_domain_phenology(domain, forcing, self.ppft,
                                                         self.pglob, parameters)
        if carbon_spinup not in ("prescribed", "equilibrium"):
            raise ConfigError(f"{where}: carbon_spinup must be 'prescribed' or 'equilibrium', "
                              f"got {carbon_spinup!r}")
        if carbon_spinup == "equilibrium" and nspin < 365 * 24:
            raise ConfigError(f"{where}: [run] carbon_spinup = \"equilibrium\" needs a spin-up "
                              f"of at least 365 days, got spinup_hours = {nspin}")
        self.carbon_spinup = carbon_spinup
        self._control, self.cell_of = build_regional_control(
            domain, self.ppft, self.pglob, control, sigma_rel, pools, where=f"{where}: control")
        self.pools = pools
        self.nspin = int(nspin)
        self.last_stack_bytes = 0.0
        self.adjoint_memory_mb = adjoint_memory_mb
        self.all_cells = bool(all_cells)
        tasks = self._tasks(offsets)
        self.tasks = tasks
        self.batches = []
        for b in range(0, len(tasks), batch_size):
            group = tuple(tasks[b:b + batch_size])
            cells = [t.cell for t in group]
            f = forcing.subset(cells) if isinstance(forcing, CellForcing) else forcing
            self.batches.append(BatchSpec(len(self.batches), group, f, self.nspin, self.nx,
                                          self.ny, carbon_spinup == "equilibrium",
                                          dict(sigma_rel or {})))
        if isinstance(engine, str) or engine is None:
            engine = make_engine(engine or "processes", workers, **dict(engine_options or {}))
        self.engine = engine
        self._started = False
        self._prior_known = carbon_spinup != "equilibrium"
        self.worker_peak_rss_mb: dict[int, float] = {}
        self.last_evaluation: EvaluationStats | None = None

    # -- set-up ---------------------------------------------------------------------------
    def _tasks(self, offsets: list[int]) -> list[CellTask]:
        d, ctl = self.domain, self._control
        # entries of every stream grouped by cell
        per_cell: dict[int, list] = {}
        for s, (r, off) in enumerate(zip(self.observations, offsets)):
            if r.obs.stream in ASCAT_STREAMS and r.entry_obs.size:
                # backscatter adds in power over a footprint, then goes to dB: the sum over
                # cells of this map is exact only for a footprint within one cell
                k = np.bincount(r.entry_obs)
                if np.any(k > 1):
                    i = int(np.flatnonzero(k > 1)[0])
                    raise ConfigError(f"{self.where}: {r.obs.stream} observation {i} "
                                      f"({r.obs.t_start[i]}) covers {int(k[i])} cells; the ASCAT "
                                      "streams are combined in power within one cell only: give "
                                      "footprints that fall into one cell (e.g. the cell centre)")
            order = np.lexsort((r.entry_obs, r.entry_cell))
            ec = r.entry_cell[order]
            starts = np.flatnonzero(np.r_[True, ec[1:] != ec[:-1]]) if ec.size else []
            bounds = list(starts) + [ec.size]
            for a, b in zip(bounds[:-1], bounds[1:]):
                per_cell.setdefault(int(ec[a]), []).append((s, off, order[a:b]))
        tasks = []
        cells = range(d.ncell) if self.all_cells else sorted(per_cell)
        for c in cells:
            cols = d.cell_columns(c)
            pos = {int(col): i for i, col in enumerate(cols)}
            pfts = tuple(d.pfts[i] for i in cols)
            # PFT parameters as at a site (tccas.workflow.parameters_for): zroot is a PFT
            # parameter, not cut at the soil depth
            ppft = np.array(self.ppft[:, cols])
            sel, kind, index, tile = [], [], [], []
            for j in range(len(ctl)):
                if ctl.kind[j] == CTL_GLOBAL:
                    t = 1
                else:
                    col = int(ctl.tile[j]) - 1
                    if col not in pos or self.cell_of[j] not in (-1, c):
                        continue
                    t = pos[col] + 1
                sel.append(j)
                kind.append(ctl.kind[j])
                index.append(ctl.index[j])
                tile.append(t)
            sel_a = np.array(sel, np.int64)
            cctl = ControlVector(tuple(ctl.names[j] for j in sel), np.array(kind, np.int32),
                                 np.array(index, np.int32), np.array(tile, np.int32),
                                 ctl.prior[sel_a], ctl.sigma[sel_a], ctl.lower[sel_a],
                                 ctl.upper[sel_a])
            if len(cctl) == 0:
                raise ConfigError(f"{self.where}: no control element acts on "
                                  f"{d.describe(c)}")
            sets, ymap = [], [np.zeros(0, np.int64)]
            for s, off, idx in per_cell.get(c, []):
                r = self.observations[s]
                rows = r.entry_obs[idx]
                o = r.obs.subset(rows)
                sets.append(ObservationSet(o.stream, o.t_start, o.t_end, o.value, o.sigma,
                                           o.qc, pfts, r.entry_weight[idx][:, cols], o.angle,
                                           o.source, {}))
                ymap.append(off + rows)
            tasks.append(CellTask(c, d.describe(c), float(d.lat[c]), float(d.lon[c]),
                                  float(d.sand[c]), float(d.clay[c]), pfts, ppft, self.pglob,
                                  cctl, sel_a, tuple(sets), np.concatenate(ymap)))
        if not tasks:
            raise ConfigError(f"{self.where}: no observation touches a cell of the domain")
        return tasks

    def run(self, x=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Full runs of every built cell at x (default: the prior, x = 0): returns y (the
        simulated observations, as :meth:`forward` up to round-off), the cell indices and
        their daily values (ncell, nday, nvar, ntile) of ``DAILY_VARIABLES`` (tiles in the
        order of ``domain.cell_pfts``)."""
        x = np.zeros(self.nx) if x is None else self._x(x)
        self._in_bounds(x)
        y = np.zeros(self.ny)
        cells, daily = [], []
        for r in self._run("run", x):
            y[r["rows"]] += r["y"]
            cells.extend(r["cells"].tolist())
            daily.extend(r["daily"])
        return y, np.array(cells, np.int64), daily

    def cell_model(self, k: int) -> tuple[CellModel, np.ndarray, np.ndarray]:
        """The CellModel of the k-th simulated cell (``tasks[k]``) built in this process, with
        its ``xmap`` and ``ymap`` (for checks and diagnostics)."""
        if not self._prior_known:
            self.start()
        t = self.tasks[k]
        spec = next(b for b in self.batches if t in b.tasks)
        f = spec.forcing.read([t.cell]) if isinstance(spec.forcing, GriddedForcingFile) \
            else spec.forcing.subset([t.cell])
        batch = Batch(BatchSpec(-1, (t,), f, self.nspin, self.nx, self.ny), f,
                      self.adjoint_memory_mb)
        return batch.models[0], t.xmap, t.ymap

    @property
    def sets(self) -> list[ObservationSet]:
        """The observation sets in the order of y (footprint = PFT composition)."""
        return [r.obs for r in self.observations]

    # -- the CellModel protocol ------------------------------------------------------------
    @property
    def nx(self) -> int:
        return len(self._control)

    @property
    def ny(self) -> int:
        return self._ny

    @property
    def adjoint_memory_mb(self) -> float:
        """Each cell's adjoint memory budget (MB); can be changed between calls."""
        return self._memory_mb

    @adjoint_memory_mb.setter
    def adjoint_memory_mb(self, value: float) -> None:
        self._memory_mb = checked_memory_mb(value)

    def _x(self, x, name: str = "x", n: int | None = None) -> np.ndarray:
        n = self.nx if n is None else n
        a = np.asarray(x, dtype=np.float64)
        if a.shape != (n,):
            raise ModelError(f"{name} must have shape ({n},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ModelError(f"{name} has NaN or infinite values")
        return a

    def _in_bounds(self, x: np.ndarray) -> None:
        c = self.control
        out = np.nonzero((x < c.lower) | (x > c.upper))[0]
        if out.size:
            k = int(out[0])
            raise ModelError(f"control element {c.names[k]} (x = {x[k]:.4g}) is outside its "
                             f"bounds [{c.lower[k]:.4g}, {c.upper[k]:.4g}] in x"
                             + (f" ({out.size} elements)" if out.size > 1 else ""))

    @property
    def control(self) -> ControlVector:
        """The regional control vector. With ``carbon_spinup = "equilibrium"`` the priors,
        sigmas and bounds of its pool elements come from the cells' equilibria, which the
        workers compute when they start: reading this starts them."""
        if self.carbon_spinup == "equilibrium" and not self._prior_known:
            self.start()
        return self._control

    def start(self) -> None:
        """Start the engine's workers, which read their cells' forcing and build their
        models (the first evaluation does this otherwise)."""
        if not self._started:
            self.engine.start(self.batches, self.adjoint_memory_mb)
            self._started = True
            if self.carbon_spinup == "equilibrium" and not self._prior_known:
                self._gather_cell_priors()

    def _gather_cell_priors(self) -> None:
        """After a per-cell equilibrium spin-up in the workers: their cells' pools and
        control priors into the driver's tasks and the regional control vector (module
        tccas.regional.prior: per-cell elements exactly, shared elements as the
        area-weighted mean prior and sigma, bounds the intersection of the cells')."""
        from dataclasses import replace
        res = self.engine.evaluate("prior", None, None, self.adjoint_memory_mb)
        got = {}
        for r in res:
            for c, ctl, pp in zip(r["cells"], r["control"], r["ppft0"]):
                got[int(c)] = (ctl, pp)
        c0 = self._control
        num_p, num_s = np.zeros(len(c0)), np.zeros(len(c0))
        den = np.zeros(len(c0))
        lo, hi = np.full(len(c0), -np.inf), np.full(len(c0), np.inf)
        tasks = []
        for t in self.tasks:
            ctl, pp = got[t.cell]
            tasks.append(replace(t, control=ctl, ppft0=pp))
            w = np.ones(len(ctl))
            for k in range(len(ctl)):
                if ctl.kind[k] == CTL_PFT:
                    col = self.domain.pfts.index(t.pfts[int(ctl.tile[k]) - 1])
                    w[k] = self.domain.fraction[t.cell, col] * np.cos(np.radians(t.lat))
            j = t.xmap
            np.add.at(num_p, j, w * ctl.prior)
            np.add.at(num_s, j, w * ctl.sigma)
            np.add.at(den, j, w)
            np.maximum.at(lo, j, ctl.lower)
            np.minimum.at(hi, j, ctl.upper)
        self.tasks = tasks
        self.batches = [replace(b, tasks=tuple(t for t in tasks if t.cell in set(b.cells)),
                                equilibrium=False) for b in self.batches]
        seen = den > 0
        prior, sigma = c0.prior.copy(), c0.sigma.copy()
        prior[seen], sigma[seen] = num_p[seen] / den[seen], num_s[seen] / den[seen]
        lower = np.where(seen, lo, c0.lower)
        upper = np.where(seen, hi, c0.upper)
        self._control = ControlVector(c0.names, c0.kind, c0.index, c0.tile, prior, sigma,
                                      lower, upper)
        self._prior_known = True
        log.info("carbon spin-up: %d cells at their own equilibrium", len(got))

    def _run(self, op: str, x, v=None) -> list[dict]:
        self.start()
        t0 = time.perf_counter()
        res = self.engine.evaluate(op, x, v, self.adjoint_memory_mb)
        wall = time.perf_counter() - t0
        # peak resident memory of each worker process (MB), as of this evaluation
        self.worker_peak_rss_mb = {r["pid"]: r["peak_rss_mb"] for r in res}
        tiles = {b.index: b.tiles for b in self.batches}
        workers: dict[int, dict] = {}
        for r in res:
            w = workers.setdefault(r["pid"], {"cpu_s": 0.0, "busy_s": 0.0, "tiles": 0})
            w["cpu_s"] += r.get("cpu_s", 0.0)
            w["busy_s"] += r.get("busy_s", 0.0)
            w["tiles"] += tiles[r["index"]]
        self.last_evaluation = EvaluationStats(op, wall, workers, self.times.size + self.nspin,
                                               {r["index"]: r.get("cpu_s", 0.0) for r in res})
        return sorted(res, key=lambda r: r["index"])

    def forward(self, x) -> np.ndarray:
        """Simulated observations y(x)."""
        x = self._x(x)
        self._in_bounds(x)
        y = np.zeros(self.ny)
        for r in self._run("forward", x):
            y[r["rows"]] += r["y"]
        return y

    def tangent(self, x, dx) -> tuple[np.ndarray, np.ndarray]:
        """(y, J dx) at x."""
        x, dx = self._x(x), self._x(dx, "dx")
        self._in_bounds(x)
        y, dy = np.zeros(self.ny), np.zeros(self.ny)
        for r in self._run("tangent", x, dx):
            y[r["rows"]] += r["y"]
            dy[r["rows"]] += r["dy"]
        return y, dy

    def adjoint(self, x, dy) -> np.ndarray:
        """J^T dy at x (the sum of the cells' adjoints)."""
        x, dy = self._x(x), self._x(dy, "dy", self.ny)
        self._in_bounds(x)
        g = np.zeros(self.nx)
        stack = 0.0
        for r in self._run("adjoint", x, dy):
            g += r["g"]
            stack = max(stack, r["stack_bytes"])
        self.last_stack_bytes = stack
        return g

    def close(self) -> None:
        """Stop the engine's workers (they are started again by the next evaluation)."""
        if self._started:
            self.engine.close()
            self._started = False

    def __enter__(self) -> "RegionalModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
