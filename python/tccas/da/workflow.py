"""`tccas assimilate`: the TCCAS site experiment end to end.

1. read the case and its observations; select the assimilated ones (window, streams) and
   their total data uncertainty (:mod:`tccas.da.options`);
2. one model y(x) for every observation of the run plus the target pseudo-observations
   (:mod:`tccas.da.targets`); the cost sees only the assimilated rows;
3. L-BFGS-B from the prior with checkpoints (:mod:`tccas.da.minimise`);
4. the Jacobian at the minimum from one tangent run per control element, spread over
   processes; Gauss-Newton posterior covariance; propagation to the targets (prior sigma
   from adjoint runs at the prior) and to the simulated equivalents of every observation
   (:mod:`tccas.da.posterior`);
5. prior and posterior runs written like `tccas run`, the validation table and figures,
   ``assimilation.nc`` and ``summary.txt``.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import Config
from ..errors import ConfigError
from .cost import CostFunction
from .minimise import MinimiseResult, minimise
from .options import plan_assimilation, resolve_model_error
from .posterior import (Posterior, exit_with_parent, gauss_newton_hessian, jacobian, posterior,
                        propagate)
from .targets import target_observations

__all__ = ["AssimilationResult", "assimilate", "format_model_error", "in_assimilation_dir",
           "write_assimilation_nc"]

log = logging.getLogger("tccas.da")


@dataclass
class AssimilationResult:
    """What :func:`assimilate` did and wrote.

    names : control element names; x_prior, x_posterior : control vectors (units of prior
    sigma); p_prior, p_posterior : parameter values; sigma_prior, sigma_posterior : sigma in
    parameter units; sigma_x_posterior : posterior sigma in x units (prior: 1); covariance,
    correlation : posterior covariance (x units) and correlation; cost_history : one dict
    per iteration (see :class:`tccas.da.MinimiseResult`); targets : name -> dict(unit,
    prior, posterior, sigma_prior, sigma_posterior, reduction); validation : list of
    :class:`tccas.validation.StreamMetrics`; files : name -> path; timing : seconds spent
    per stage; model_error : stream -> the model error used (stream units), with
    model_error_text saying which were estimated from the prior (``model_error = "prior"``).
    """

    names: tuple
    x_prior: np.ndarray
    x_posterior: np.ndarray
    p_prior: np.ndarray
    p_posterior: np.ndarray
    sigma_prior: np.ndarray
    sigma_posterior: np.ndarray
    sigma_x_posterior: np.ndarray
    covariance: np.ndarray
    correlation: np.ndarray
    cost_history: list
    minimiser: MinimiseResult
    targets: dict
    validation: list
    output_dir: Path
    files: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    summary: str = ""
    model_error: dict = field(default_factory=dict)
    model_error_text: str = ""

    @property
    def reduction(self) -> np.ndarray:
        """Uncertainty reduction 1 - sigma_post / sigma_prior per control element."""
        return 1.0 - self.sigma_x_posterior


def _run_outputs(out: Path, cfg: Config, static, times, met, ppft, pglob, sets, targets,
                 progress):
    """Run with parameters (ppft, pglob), write it like `tccas run`; returns the simulated
    observations, the files and the target values."""
    from ..workflow import write_outputs
    from ..model import apply_obs, obs_arrays, run_cell
    cell = run_cell(met, times, static.lat, static.lon, static.sand, static.clay,
                    list(static.pft), ppft, pglob, nspin=cfg.run.spinup_hours,
                    show_progress=progress)
    oa = obs_arrays(sets, times, static.pft)
    y = apply_obs(oa, cell.hourly, static.clay, pglob)
    simulated = {o.stream: (o, y[oa.slices[o.stream]]) for o in sets}
    files = write_outputs(out, cfg, static, times, cell, simulated)
    files.pop("_summary_text", None)
    yt = targets.values(apply_obs(obs_arrays(targets.sets, times, static.pft), cell.hourly,
                                  static.clay, pglob))
    return simulated, files, yt


def _prior_job(model, n_obs: int, run_args: tuple):
    """The prior's run and files, and the derivatives of the target pseudo-observations at
    the prior (one adjoint run each). Runs in a second process during the minimisation,
    which keeps one core busy."""
    t = time.perf_counter()
    out = _run_outputs(*run_args)
    t_run = time.perf_counter() - t
    targets = run_args[-2]
    g = np.empty((targets.n_obs, model.nx))
    for j in range(targets.n_obs):
        dy = np.zeros(model.ny)
        dy[n_obs + j] = 1.0
        g[j] = model.adjoint(np.zeros(model.nx), dy)
    return out, g, t_run, time.perf_counter() - t - t_run


def assimilate(config: Config | str | os.PathLike, output_dir: str | os.PathLike | None = None,
               resume: bool = False, progress: bool | None = None, callback=None,
               workers: int | None = None, figures: bool = True,
               overwrite: bool = False) -> AssimilationResult:
    """Run the variational assimilation of a configuration's [assimilation] table.

    Parameters
    ----------
    config : a Config, a TOML path or a bundled case name (``"ES-LM1"``).
    output_dir : where to write (default ``tccas-assim-<site>``): ``assimilation.nc``,
        ``prior/`` and ``posterior/`` (as ``tccas run``), ``validation.txt`` and ``.csv``,
        ``summary.txt``, figures (``figures/*.png`` when matplotlib is installed) and the
        checkpoint ``checkpoint.npz``.
    resume : continue from the checkpoint in ``output_dir`` (same result as a run that was
        not interrupted).
    progress : progress bars (None: when stderr is a terminal).
    callback : called with each iteration's history entry (dict).
    workers : processes for the Jacobian (default: the config's, 0 = all cores).
    figures : draw the figures (needs matplotlib; ``tccas validate`` draws them later).
    overwrite : replace an earlier assimilation in ``output_dir`` (else a folder holding
        one is refused before any work; ``resume`` continues in it). The folder is checked
        and locked before the work (:class:`tccas.outdir.OutputDir`), and afterwards holds
        only this assimilation's files (listed in ``.tccas-files``).

    Returns
    -------
    AssimilationResult
    """
    from ..cases import load_config
    t_all = time.perf_counter()
    cfg = config if isinstance(config, Config) else load_config(config)
    if cfg.region is not None:      # a regional configuration: tccas.regional.assimilate
        from ..regional.assimilate import assimilate_region
        return assimilate_region(cfg, output_dir, resume, progress, callback, workers, figures,
                                 overwrite=overwrite)
    if cfg.assimilation is None:
        raise ConfigError(f"{cfg.path or cfg.site.name}: no [assimilation] table: name the "
                          "window and the streams to assimilate")
    out = Path(output_dir) if output_dir is not None else Path(f"tccas-assim-{cfg.site.name}")
    return in_assimilation_dir(
        cfg, out, overwrite, resume,
        lambda: _assimilate(cfg, out, resume, progress, callback, workers, figures, t_all))


def in_assimilation_dir(cfg: Config, out: Path, overwrite: bool, resume: bool,
                        work: Callable[[], "AssimilationResult"]) -> "AssimilationResult":
    """Run ``work`` (an assimilation writing into ``out``) under the output-folder rules of
    :class:`tccas.outdir.OutputDir`, for a site or a region alike: the folder is checked
    and locked first, an earlier run in it is refused unless ``overwrite`` (``resume``
    continues in it), and afterwards it holds only the files of ``work``'s result and the
    checkpoint, listed in its manifest.

    Parameters
    ----------
    cfg : Config
        The configuration (its inputs must not lie in ``out``).
    out : Path
        The output folder.
    overwrite, resume : bool
        As :func:`assimilate`.
    work : callable
        Does the assimilation and returns its :class:`AssimilationResult`.
    """
    from ..outdir import OutputDir, config_inputs
    name = cfg.region.name if cfg.region is not None else cfg.site.name
    with OutputDir(out, overwrite=overwrite, resume=resume,
                   command=f"tccas assimilate {cfg.path or name}",
                   inputs=config_inputs(cfg)) as od:
        result = work()
        written = list(result.files.values())
        if (out / "checkpoint.npz").exists():
            written.append(out / "checkpoint.npz")
        od.commit(written)
    return result


def _assimilate(cfg: Config, out: Path, resume: bool, progress, callback, workers,
                figures: bool, t_all: float) -> AssimilationResult:
    from ..workflow import load_inputs, load_observations, parameters_for
    from ..control import build_control
    from ..io import atomic_path
    from ..model import CellModel, obs_arrays
    from ..validation.metrics import validation_table, write_table
    a = cfg.assimilation
    timing = {"io": 0.0}
    t = time.perf_counter()
    static, forcing = load_inputs(cfg)
    ppft0, pglob0 = parameters_for(cfg, static)
    times, met = forcing.times, forcing.matrix()
    end = times[-1] + np.timedelta64(3600, "s")
    sets = [o.subset((o.t_start >= times[0]) & (o.t_end <= end)) for o in load_observations(cfg)]
    sets = [o for o in sets if len(o)]
    timing["io"] += time.perf_counter() - t
    plan = plan_assimilation(cfg, sets)
    targets = target_observations(static.pft, static.pft_fraction, *plan.window)
    all_sets = sets + targets.sets
    oa = obs_arrays(all_sets, times, static.pft)
    ctl = build_control(static.pft, ppft0, pglob0, cfg.control, cfg.control_sigma_rel,
                        where=f"{cfg.path or cfg.site.name}: [control]")
    memory = {} if cfg.adjoint_memory_mb is None else {"adjoint_memory_mb": cfg.adjoint_memory_mb}
    model = CellModel(met, times, static.lat, static.lon, static.sand, static.clay, static.pft,
                      ppft0, pglob0, ctl, oa, nspin=cfg.run.spinup_hours, **memory)
    if plan.from_prior:
        # model_error = "prior": one forward run at the prior first
        plan = resolve_model_error(plan, sets, model.forward(np.zeros(model.nx)))
        log.info("model error from the prior misfit: %s", format_model_error(plan))
    # positions of every set in y
    offsets = np.cumsum([0] + [len(o) for o in all_sets])
    rows = {i: np.arange(offsets[i], offsets[i + 1]) for i in range(len(all_sets))}
    idx, d, s, st = plan.cost_arrays(sets)
    cost = CostFunction(model, idx, d, s, st)
    log.info("assimilating %s: %d control elements, %s in %s..%s", cfg.site.name, model.nx,
             ", ".join(f"{k} {v}" for k, v in plan.counts(sets).items() if v), a.start, a.end)
    cmd = f"tccas assimilate {cfg.path or cfg.site.name} -o {out} --resume"
    n_obs = int(offsets[len(sets)])
    p_prior_pft, p_prior_glob = ctl.params(np.zeros(model.nx), ppft0, pglob0)
    # the prior run, its files and the prior derivatives of the targets in a second process
    # while the minimiser (one core) runs
    pool = ProcessPoolExecutor(max_workers=1, initializer=exit_with_parent)
    prior_job = pool.submit(_prior_job, model, n_obs,
                            (out / "prior", cfg, static, times, met, p_prior_pft,
                             p_prior_glob, sets, targets, False))
    try:
        mres = minimise(cost, None, max_iterations=a.max_iterations,
                        pgtol_reduction=a.pgtol_reduction, ftol=a.ftol, memory=a.memory,
                        checkpoint=out / "checkpoint.npz", resume=resume, progress=progress,
                        callback=callback, resume_hint=cmd)
        timing["forward"], timing["adjoint"] = cost.t_forward, cost.t_adjoint
        timing["minimise"] = mres.wall_time
        t = time.perf_counter()
        (sim_prior, files_prior, yt_prior), g_pseudo0, t_run, t_adj = prior_job.result()
        timing["wait_for_prior"] = time.perf_counter() - t
        timing["prior_run_and_io (2nd process)"] = t_run
        timing["target_prior (2nd process)"] = t_adj
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    # posterior
    t = time.perf_counter()
    jac = jacobian(model, mres.x, workers=a.workers if workers is None else workers,
                   progress=progress)
    timing["hessian"] = time.perf_counter() - t
    post = posterior(gauss_newton_hessian(jac[idx], s))
    # targets (pseudo-observations at the end of y): posterior derivatives from the
    # tangent columns, prior ones from the adjoint runs at the prior
    g_t = targets.matrix @ jac[n_obs:]
    g_t0 = targets.matrix @ g_pseudo0
    # simulated equivalents and their sigma for every observation set
    sig_prior_y = propagate(jac[:n_obs])
    sig_post_y = propagate(jac[:n_obs], post.covariance)
    # the posterior run, written like `tccas run`
    t = time.perf_counter()
    p_post_pft, p_post_glob = ctl.params(mres.x, ppft0, pglob0)
    sim_post, files_post, yt_post = _run_outputs(out / "posterior", cfg, static, times, met,
                                                 p_post_pft, p_post_glob, sets, targets,
                                                 progress)
    timing["posterior_run_and_io"] = time.perf_counter() - t
    sig_t_prior, sig_t_post = propagate(g_t0), propagate(g_t, post.covariance)
    tdict = {n: {"unit": u, "prior": float(a0), "posterior": float(a1),
                 "sigma_prior": float(s0), "sigma_posterior": float(s1),
                 "reduction": float(1 - s1 / s0) if s0 > 0 else float("nan")}
             for n, u, a0, a1, s0, s1 in zip(targets.names, targets.units, yt_prior, yt_post,
                                             sig_t_prior, sig_t_post)}
    masks = {o.stream: m for o, m in zip(sets, plan.assimilated)}
    vt = validation_table(sets, {k: v[1] for k, v in sim_prior.items()},
                          {k: v[1] for k, v in sim_post.items()}, masks)
    t = time.perf_counter()
    files: dict[str, Path] = {}
    files.update({f"prior_{k}": v for k, v in files_prior.items()})
    files.update({f"posterior_{k}": v for k, v in files_post.items()})
    p_prior = ctl.prior.copy()
    p_post = ctl.prior + ctl.sigma * mres.x
    result = AssimilationResult(
        names=ctl.names, x_prior=np.zeros(model.nx), x_posterior=mres.x, p_prior=p_prior,
        p_posterior=p_post, sigma_prior=ctl.sigma.copy(), sigma_posterior=ctl.sigma * post.sigma,
        sigma_x_posterior=post.sigma, covariance=post.covariance, correlation=post.correlation,
        cost_history=mres.history, minimiser=mres, targets=tdict, validation=vt,
        output_dir=out, timing=timing, model_error=dict(plan.model_error),
        model_error_text=format_model_error(plan))
    sim_sigma = {o.stream: (sig_prior_y[rows[i]], sig_post_y[rows[i]])
                 for i, o in enumerate(sets)}
    files["assimilation"] = write_assimilation_nc(out / "assimilation.nc", cfg, result, post,
                                                  sim_sigma, masks)
    txt, csv_ = write_table(vt, out / "validation.txt", out / "validation.csv")
    files["validation"], files["validation_csv"] = txt, csv_
    result.summary = format_assimilation_summary(cfg, result)
    with atomic_path(out / "summary.txt") as tmp:
        tmp.write_text(result.summary)
    files["summary"] = out / "summary.txt"
    try:
        if not figures:
            raise ModuleNotFoundError("figures not asked for")
        from ..validation.figures import plot_all
        series = [(o, sim_prior[o.stream][1], sim_post[o.stream][1], sim_sigma[o.stream][1],
                   masks[o.stream]) for o in sets]
        files.update(plot_all(out, series))
    except ImportError:
        if figures:
            log.warning("matplotlib is not installed: no figures (pip install tccas[plot])")
    timing["io"] += time.perf_counter() - t
    timing["total"] = time.perf_counter() - t_all
    result.files = files
    return result


def format_model_error(plan) -> str:
    """One line: the model error of each assimilated stream (stream units), marking those
    estimated from the prior run."""
    from ..obs import STREAMS
    a = plan.options
    asked = a.model_error
    parts = []
    for s in a.streams:
        e = plan.model_error.get(s, 0.0)
        unit = STREAMS[s][0] if s in STREAMS and STREAMS[s][0] != "1" else ""
        how = " (from the prior misfit)" if asked.get(s) == "prior" else ""
        parts.append(" ".join(w for w in (s, f"{e:.4g}", unit) if w) + how)
    return ", ".join(parts)


def format_assimilation_summary(cfg: Config, r: AssimilationResult) -> str:
    a = cfg.assimilation
    m = r.minimiser
    h0, h1 = r.cost_history[0], r.cost_history[-1]
    lines = [f"tccas assimilation: {cfg.site.name}, run {cfg.run.start} to {cfg.run.end}, "
             f"window {a.start} to {a.end}, streams {', '.join(a.streams)}",
             f"L-BFGS-B: {m.n_iterations} iterations, {m.n_evaluations} evaluations "
             f"({m.n_cached} from the checkpoint): {m.message}",
             f"cost J: {h0['cost']:.6g} -> {h1['cost']:.6g} (prior term {h1['prior']:.4g}); "
             "per stream: " + ", ".join(f"{k} {h0['parts'][k]:.5g} -> {h1['parts'][k]:.5g}"
                                        for k in h0['parts']),
             f"model error: {r.model_error_text or 'none'}",
             "", f"{'control element':24s}{'prior':>12s}{'posterior':>12s}{'sigma prior':>12s}"
             f"{'sigma post':>12s}{'shift/sigma':>12s}{'reduction':>10s}"]
    for k, n in enumerate(r.names):
        lines.append(f"{n:24s}{r.p_prior[k]:12.5g}{r.p_posterior[k]:12.5g}"
                     f"{r.sigma_prior[k]:12.4g}{r.sigma_posterior[k]:12.4g}"
                     f"{r.x_posterior[k]:12.3f}{r.reduction[k]:10.1%}")
    lines += ["", "target quantities over the window (prior sigma linearised at the prior, "
              "posterior sigma at the posterior)",
              f"{'target':14s}{'unit':>12s}{'prior':>11s}{'+-':>9s}{'posterior':>11s}"
              f"{'+-':>9s}{'reduction':>10s}"]
    for n, t in r.targets.items():
        lines.append(f"{n:14s}{t['unit']:>12s}{t['prior']:11.4g}{t['sigma_prior']:9.3g}"
                     f"{t['posterior']:11.4g}{t['sigma_posterior']:9.3g}{t['reduction']:10.1%}")
    from ..validation.metrics import format_table
    lines += ["", "validation (RMSE etc. in stream units)", format_table(r.validation)]
    return "\n".join(lines)


def write_assimilation_nc(path: Path, cfg: Config, r: AssimilationResult, post: Posterior,
                          sim_sigma: dict, masks: dict) -> Path:
    """CF netCDF of the assimilation: control vector and parameters prior/posterior, sigma,
    posterior covariance and correlation, cost history per stream, target quantities with
    sigma, and the sigma of the simulated equivalent of every observation."""
    import netCDF4

    from ..io import atomic_path
    from ..parameters import PARAMETERS
    a = cfg.assimilation
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            ds.title = f"TCCAS variational assimilation, {cfg.site.name}"
            ds.source = "tccas"
            ds.history = (f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')}"
                          f" tccas assimilate {cfg.path or cfg.site.name}")
            ds.window_start, ds.window_end = str(a.start), str(a.end)
            ds.assimilated_streams = " ".join(a.streams)
            ds.observation_streams = " ".join(sim_sigma)
            ds.minimiser = "scipy L-BFGS-B"
            ds.minimiser_message = r.minimiser.message
            ds.iterations = r.minimiser.n_iterations
            ds.evaluations = r.minimiser.n_evaluations
            nx = len(r.names)
            ds.createDimension("control", nx)
            ds.createDimension("control2", nx)
            v = ds.createVariable("control_name", str, ("control",))
            v.long_name = "control element (parameter[PFT])"
            for k, n in enumerate(r.names):
                v[k] = n
            units = ds.createVariable("parameter_units", str, ("control",))
            for k, n in enumerate(r.names):
                units[k] = PARAMETERS[n.split("[")[0]].unit
            for name, arr, unit, long in (
                ("x_prior", r.x_prior, "1", "control vector of the prior (units of prior sigma)"),
                ("x_posterior", r.x_posterior, "1", "control vector at the minimum"),
                ("x_sigma_posterior", r.sigma_x_posterior, "1",
                 "posterior sigma of the control vector (prior sigma = 1)"),
                ("parameter_prior", r.p_prior, "see parameter_units", "prior parameter value"),
                ("parameter_posterior", r.p_posterior, "see parameter_units",
                 "posterior parameter value"),
                ("sigma_prior", r.sigma_prior, "see parameter_units", "prior sigma"),
                ("sigma_posterior", r.sigma_posterior, "see parameter_units",
                 "posterior sigma (Gauss-Newton)"),
                ("uncertainty_reduction", r.reduction, "1", "1 - sigma_posterior/sigma_prior"),
            ):
                v = ds.createVariable(name, "f8", ("control",))
                v.units, v.long_name = unit, long
                v[:] = arr
            for name, arr, long in (
                ("posterior_covariance", post.covariance,
                 "posterior covariance of x (inverse Gauss-Newton Hessian; prior = identity)"),
                ("posterior_correlation", post.correlation, "posterior correlation of x"),
                ("hessian", post.hessian, "Gauss-Newton Hessian I + J'R^-1 J of the cost in x"),
            ):
                v = ds.createVariable(name, "f8", ("control", "control2"))
                v.units, v.long_name = "1", long
                v[:] = arr
            hist = r.cost_history
            streams = list(hist[0]["parts"])
            ds.createDimension("iteration", len(hist))
            ds.createDimension("stream", len(streams))
            v = ds.createVariable("stream_name", str, ("stream",))
            for k, n in enumerate(streams):
                v[k] = n
            for name, vals, long in (
                ("cost", [h["cost"] for h in hist], "cost J"),
                ("cost_prior", [h["prior"] for h in hist], "prior term of J"),
                ("projected_gradient_norm", [h["pg_norm"] for h in hist],
                 "infinity norm of the projected gradient"),
                ("evaluations", [h["evaluations"] for h in hist],
                 "cost evaluations up to this iteration"),
            ):
                v = ds.createVariable(name, "f8", ("iteration",))
                v.units, v.long_name = "1", long
                v[:] = np.asarray(vals, dtype=float)
            v = ds.createVariable("cost_stream", "f8", ("iteration", "stream"))
            v.units, v.long_name = "1", "data term of J per assimilated stream"
            v[:] = np.array([[h["parts"][s] for s in streams] for h in hist])
            tn = list(r.targets)
            ds.createDimension("target", len(tn))
            v = ds.createVariable("target_name", str, ("target",))
            u = ds.createVariable("target_units", str, ("target",))
            for k, n in enumerate(tn):
                v[k] = n
                u[k] = r.targets[n]["unit"]
            for key, long in (("prior", "prior value"), ("posterior", "posterior value"),
                              ("sigma_prior", "prior sigma (linearised at the prior)"),
                              ("sigma_posterior", "posterior sigma (linearised at the "
                                                  "posterior)"),
                              ("reduction", "1 - sigma_posterior/sigma_prior")):
                v = ds.createVariable(f"target_{key}", "f8", ("target",))
                v.units = "1" if key == "reduction" else "see target_units"
                v.long_name = (f"window-mean annual target quantity: {long} (GPP, NEE in "
                               "g m-2 yr-1 carbon, ET in mm yr-1, AGB window mean in Mg ha-1)")
                v[:] = [r.targets[n][key] for n in tn]
            for stream, (s0, s1) in sim_sigma.items():
                dim = f"obs_{stream}"
                ds.createDimension(dim, len(s0))
                for name, arr, long in (
                        (f"{stream}_sim_sigma_prior", s0,
                         "prior sigma of the simulated equivalent"),
                        (f"{stream}_sim_sigma_posterior", s1,
                         "posterior sigma of the simulated equivalent")):
                    v = ds.createVariable(name, "f8", (dim,), zlib=True)
                    v.long_name = f"{long} of the {stream} observations (order of obs/{stream}.nc)"
                    v[:] = arr
                v = ds.createVariable(f"{stream}_assimilated", "i1", (dim,), zlib=True)
                v.long_name = "1 where the observation entered the cost"
                v[:] = masks[stream].astype(np.int8)
    return path
