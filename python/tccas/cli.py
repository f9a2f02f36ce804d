"""The `tccas` command."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from . import __version__
from .errors import ConfigError, TccasError
from .outdir import clear_interrupt, note_interrupt


def _cmd_run(args) -> int:
    from .workflow import run
    res = run(args.config, output_dir=args.output, progress=None if not args.quiet else False,
              engine=args.engine, workers=args.workers, overwrite=args.overwrite)
    if res is None:          # an MPI worker rank of a regional run
        return 0
    print(res.summary, end="")
    for name, path in res.files.items():
        print(f"wrote {path}")
    return 0


def _is_regional_run(run_dir) -> bool:
    """True for the output folder of a regional run (gridded daily.nc)."""
    import netCDF4
    f = run_dir / "daily.nc"
    if not f.exists():
        return False
    try:
        with netCDF4.Dataset(f) as ds:
            return "lat" in ds.dimensions and "lon" in ds.dimensions
    except OSError:
        return False


def _cmd_plot(args) -> int:
    from pathlib import Path
    from .plots import plot_daily, plot_observations
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        from .errors import InputDataError
        raise InputDataError(f"{run_dir}: not a folder (give the output folder of tccas run)")
    if _is_regional_run(run_dir):
        from .regional.plots import plot_run_maps
        print(f"wrote {plot_run_maps(run_dir)}")
    else:
        print(f"wrote {plot_daily(run_dir)}")
    if (run_dir / "obs").is_dir():
        print(f"wrote {plot_observations(run_dir)}")
    return 0


def _cmd_check_gradient(args) -> int:
    from .cases import load_config
    from .workflow import cell_model_for
    from .gradcheck import check_gradient
    cfg = load_config(args.config)
    if cfg.region is not None:
        # a regional config: the RegionalModel over the whole run period
        from .regional.workflow import regional_model_for
        if args.days is not None:
            raise ConfigError("--days applies to site configurations; shorten [run] instead")
        model, sets = regional_model_for(cfg)
        with model:
            print(f"gradient check: region {cfg.region.name}, {model.domain.ncell} cells, "
                  f"{model.nx} control elements, {model.ny} observations "
                  f"({', '.join(o.stream for o in sets)}), engine "
                  f"{type(model.engine).__name__}")
            res = check_gradient(model, sets, h=args.step, tolerance=args.tolerance,
                                 progress=None if not args.quiet else False)
        print(res.table())
        return 0 if res.ok else 1
    model, sets = cell_model_for(cfg, days=args.days)
    print(f"gradient check: {cfg.site.name}, {model.nx} control elements, {model.ny} "
          f"observations ({', '.join(o.stream for o in sets)}), "
          f"{model.met.shape[0] // 24} days after {cfg.run.spinup_hours} h of spin-up")
    res = check_gradient(model, sets, h=args.step, tolerance=args.tolerance,
                         progress=None if not args.quiet else False)
    print(res.table())
    return 0 if res.ok else 1


def _cmd_spinup(args) -> int:
    from pathlib import Path
    from .cases import load_config
    from .config import set_parameters_in_file
    from .parameters import PFT_NAMES
    from .spinup import POOL_PARAMETERS, equilibrium_pools
    from .workflow import load_inputs, parameters_for
    cfg = load_config(args.config)
    if args.write and (cfg.path is None or not Path(args.config).exists()):
        raise ConfigError(f"{args.config} is a bundled case; write it out first with "
                          f"tccas copy-case {args.config} DIR, then run tccas spinup "
                          "DIR/config.toml --write")
    if args.write and cfg.run.carbon_spinup == "equilibrium":
        raise ConfigError(f"{cfg.path}: [run] carbon_spinup = \"equilibrium\" computes the pools "
                          "at every run; remove it (or set \"prescribed\") before writing them")
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static)
    eq = equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon,
                           static.sand, static.clay, list(static.pft), ppft, pglob,
                           cfg.run.spinup_hours, progress=None if not args.quiet else False)
    print(f"carbon spin-up of {cfg.site.name}: equilibrium under the first {eq.cycle_days} "
          f"days of forcing after {eq.cycles} cycles (last change {eq.change:.1e})")
    print(eq.table(static.pft))
    if args.write:
        names = [PFT_NAMES[int(c)] for c in static.pft]
        values = {p: dict(zip(names, eq.pools[k])) for k, p in enumerate(POOL_PARAMETERS)}
        set_parameters_in_file(cfg.path, values, comment="initial carbon pools at the model's "
                               "equilibrium (written by tccas spinup)")
        print(f"wrote c_*0 to [parameters] of {cfg.path}")
    return 0


def _cmd_assimilate(args) -> int:
    from .da.minimise import Interrupted
    from .da.workflow import assimilate

    def show(entry):
        parts = "  ".join(f"{k} {v:.5g}" for k, v in entry["parts"].items())
        print(f"iteration {entry['iteration']:3d}  J {entry['cost']:.7g}  prior "
              f"{entry['prior']:.4g}  {parts}  |pg| {entry['pg_norm']:.3g}  "
              f"evaluations {entry['evaluations']}", flush=True)

    try:
        res = assimilate(args.config, output_dir=args.output, resume=args.resume,
                         overwrite=args.overwrite,
                         progress=None if not args.quiet else False, callback=show,
                         workers=args.workers, figures=not args.no_figures)
    except Interrupted as exc:       # Ctrl-C in the minimiser: the checkpoint is kept
        print(f"tccas: {exc}", file=sys.stderr)
        return _interrupt_status()
    except KeyboardInterrupt:       # after the minimiser: the checkpoint holds the minimum
        print(f"tccas: {_stopped_by()}; run the same command with --resume to finish from "
              "the checkpoint without new iterations", file=sys.stderr)
        return _interrupt_status()
    print(res.summary, end="")
    for name, path in res.files.items():
        print(f"wrote {path}")
    return 0


def _cmd_validate(args) -> int:
    from .validation import format_table, validate_dir
    rows, files = validate_dir(args.output_dir)
    print(format_table(rows), end="")
    for path in files.values():
        print(f"wrote {path}")
    return 0


def _cmd_new_site(args) -> int:
    from .newsite import new_site
    cfg = new_site(args.target, fluxnet=args.fluxnet,
                   plumber2=tuple(args.plumber2) if args.plumber2 else None,
                   pfts=args.pft, sand=args.sand, clay=args.clay, soil_depth=args.soil_depth,
                   lat=args.lat, lon=args.lon, utc_offset_hours=args.utc_offset,
                   name=args.name, start=args.start, end=args.end,
                   spinup_hours=args.spinup_hours, observations=not args.no_obs,
                   daily=not args.sub_daily)
    print(f"wrote case {cfg.parent}; run it with: tccas run {cfg}")
    if not args.no_obs:
        print(f"assimilate its tower fluxes with: tccas assimilate {cfg}")
    return 0


def _cmd_cases(args) -> int:
    from .cases import case_description, list_cases
    for name in list_cases():
        print(f"{name:10s} {case_description(name)}")
    return 0


def _cmd_lapland_case(args) -> int:
    from .regional.lapland import make_lapland_case
    if args.last_year < args.first_year or min(args.nlat, args.nlon) < 2 \
            or args.spinup_years < 0:
        raise ConfigError("lapland-case: give at least 2 x 2 cells, last year >= first year "
                          "and a spin-up of 0 or more years")
    out = make_lapland_case(args.target, args.nlat, args.nlon, args.first_year,
                            args.last_year, args.spinup_years, args.window_start,
                            seed=args.seed, workers=args.workers)
    print(f"wrote the Lapland case to {out}; run it with: tccas run {out / 'config.toml'}")
    return 0


def _cmd_copy_case(args) -> int:
    from .cases import copy_case
    path = copy_case(args.name, args.target, observations=not args.no_obs)
    print(f"wrote case {args.name} to {path}; run it with: tccas run {path / 'config.toml'}")
    return 0


# ---- tccas obs build (observation database from product files) ----------------------------

def _cmd_obs_build(args) -> int:
    from .obsdb import build_observations
    options = {} if args.select is None else {"select": args.select}
    if args.utc_offset is not None:
        options["utc_offset_hours"] = args.utc_offset
    res = build_observations(args.config, args.product, args.sources, replace=args.replace,
                             progress=None if not args.quiet else False, **options)
    print(res.summary, end="")
    return 0


def _add_obs_parser(sub) -> None:
    from .obsdb import PRODUCTS
    o = sub.add_parser("obs", help="observation database of a case")
    osub = o.add_subparsers(dest="obs_command", required=True)
    b = osub.add_parser("build", help="build a case's observation files from product files "
                        "(footprints touching the site, run period, screening, sigma) and add "
                        "them to [observations] of the configuration")
    b.add_argument("config", help="TOML configuration file of the case")
    b.add_argument("--product", required=True, choices=list(PRODUCTS),
                   help="product of the files: " + "; ".join(
                       f"{k}: {p.title} ({', '.join(p.streams)})" for k, p in PRODUCTS.items()))
    b.add_argument("sources", nargs="+", help="product files or folders (searched recursively)")
    b.add_argument("--replace", action="store_true",
                   help="replace the files the configuration lists for a stream instead of "
                        "adding to them")
    b.add_argument("--select", choices=("nearest", "all"), default=None,
                   help="smos-l2: keep the nearest screened grid point per half-orbit "
                        "(default) or all grid points whose footprint touches the site")
    b.add_argument("--utc-offset", type=float, default=None, metavar="HOURS",
                   help="fluxnet: offset of the files' local standard time from UTC (default "
                        "[site] utc_offset_hours; needed for half-hourly and hourly files)")
    b.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=_cmd_obs_build)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tccas", description="D&B model and TCCAS data assimilation")
    p.add_argument("--version", action="version", version=f"tccas {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run D&B for a configuration or a bundled case")
    r.add_argument("config", help="TOML configuration file or bundled case name (e.g. ES-LM1)")
    r.add_argument("-o", "--output", default=None, help="output folder (default tccas-run-SITE)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace an earlier run in the output folder (its files that this run "
                        "does not write are removed)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or lines")
    r.add_argument("--engine", default=None, choices=("processes", "serial", "dask", "mpi"),
                   help="regional configs: parallel engine (default from [region])")
    r.add_argument("--workers", type=int, default=None,
                   help="regional configs: number of workers (default from [region])")
    r.set_defaults(func=_cmd_run)
    pl = sub.add_parser("plot", help="plot a run: daily.png, and obs.png with one panel per "
                                     "observation stream")
    pl.add_argument("run_dir", help="output folder of tccas run")
    pl.set_defaults(func=_cmd_plot)
    a = sub.add_parser("assimilate", help="variational assimilation of the configuration's "
                       "[assimilation] table: L-BFGS-B, posterior uncertainty, validation")
    a.add_argument("config", help="TOML configuration file or bundled case name (e.g. ES-LM1)")
    a.add_argument("-o", "--output", default=None,
                   help="output folder (default tccas-assim-SITE)")
    a.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from the checkpoint in the output folder")
    a.add_argument("--workers", type=int, default=None,
                   help="processes for the posterior Hessian (default: [assimilation] workers)")
    a.add_argument("--no-figures", action="store_true",
                   help="skip the figures (tccas validate DIR draws them later)")
    a.add_argument("--overwrite", action="store_true",
                   help="replace an earlier assimilation in the output folder")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress bar or lines")
    a.set_defaults(func=_cmd_assimilate)
    va = sub.add_parser("validate", help="recompute the validation table and figures of an "
                        "assimilation output folder")
    va.add_argument("output_dir", help="output folder of tccas assimilate")
    va.set_defaults(func=_cmd_validate)
    g = sub.add_parser("check-gradient", help="check the tangent and adjoint codes for a "
                       "configuration: tangent vs finite differences per control element, "
                       "adjoint dot-product test")
    g.add_argument("config", help="TOML configuration file or bundled case name")
    g.add_argument("--days", type=int, default=None,
                   help="check on the first DAYS days of the run only (faster)")
    g.add_argument("--step", type=float, default=2e-5,
                   help="first finite-difference step in units of prior sigma (default 2e-5); "
                        "elements it cannot check are scanned over a ladder of steps")
    g.add_argument("--tolerance", type=float, default=1e-6,
                   help="largest accepted |fd - tl| / |tl| per element (default 1e-6)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar or lines")
    g.set_defaults(func=_cmd_check_gradient)
    sp = sub.add_parser("spinup", help="initial carbon pools at the model's equilibrium under "
                        "the spin-up forcing (prints them; --write sets c_*0 in the config)")
    sp.add_argument("config", help="TOML configuration file or bundled case name")
    sp.add_argument("--write", action="store_true",
                    help="write the pools as c_*0 into [parameters] of the configuration file")
    sp.add_argument("-q", "--quiet", action="store_true", help="no progress bar or lines")
    sp.set_defaults(func=_cmd_spinup)
    ns = sub.add_parser("new-site", help="write a ready case folder for a new site from a "
                        "FLUXNET2015/ICOS CSV file or PLUMBER2 files")
    ns.add_argument("target", help="folder to write (new or empty)")
    src = ns.add_mutually_exclusive_group(required=True)
    src.add_argument("--fluxnet", metavar="FILE", help="FLUXNET2015/ICOS CSV file (HH, HR or DD)")
    src.add_argument("--plumber2", nargs=2, metavar=("MET", "FLUX"), help="PLUMBER2 Met and "
                     "Flux files")
    ns.add_argument("--pft", action="append", required=True, metavar="NAME=FRACTION",
                    help="a PFT of the site and its cover fraction (repeat; fractions sum to "
                         "1), e.g. --pft TmEv=0.2 --pft C3Gr=0.8")
    ns.add_argument("--sand", type=float, required=True, help="sand mass fraction (0-1)")
    ns.add_argument("--clay", type=float, required=True, help="clay mass fraction (0-1)")
    ns.add_argument("--soil-depth", type=float, default=1.0, help="soil depth, m (default 1)")
    ns.add_argument("--lat", type=float, help="latitude, degrees north (FLUXNET files)")
    ns.add_argument("--lon", type=float, help="longitude, degrees east (FLUXNET files)")
    ns.add_argument("--utc-offset", type=float, default=None, metavar="HOURS",
                    help="local standard time minus UTC (FLUXNET UTC_OFFSET; half-hourly and "
                         "hourly files, PLUMBER2)")
    ns.add_argument("--name", default=None, help="site name (default from the file name)")
    ns.add_argument("--start", default=None, help="first day of the run (default: the file's)")
    ns.add_argument("--end", default=None, help="last day of the run (default: the file's)")
    ns.add_argument("--spinup-hours", type=int, default=17520, help="spin-up (default 17520)")
    ns.add_argument("--no-obs", action="store_true",
                    help="do not write the tower fluxes as observation sets")
    ns.add_argument("--sub-daily", action="store_true",
                    help="keep every half-hourly/hourly flux record as an observation "
                         "(default: daily means over local days)")
    ns.set_defaults(func=_cmd_new_site)
    c = sub.add_parser("cases", help="list the bundled cases")
    c.set_defaults(func=_cmd_cases)
    lp = sub.add_parser("lapland-case", help="generate the Lapland regional twin case "
                        "(tccas.regional.lapland) into a folder")
    lp.add_argument("target", help="folder to write (domain, forcing, obs, config.toml)")
    lp.add_argument("--nlat", type=int, default=4, help="cells of 0.25 deg north-south")
    lp.add_argument("--nlon", type=int, default=8, help="cells of 0.25 deg east-west")
    lp.add_argument("--first-year", type=int, default=2015)
    lp.add_argument("--last-year", type=int, default=2021)
    lp.add_argument("--spinup-years", type=int, default=2)
    lp.add_argument("--window-start", default="2017-01-01",
                    help="first day of the observations (the assimilation window)")
    lp.add_argument("--seed", type=int, default=20240601)
    lp.add_argument("--workers", type=int, default=None, help="workers of the truth run")
    lp.set_defaults(func=_cmd_lapland_case)
    cc = sub.add_parser("copy-case", help="write a bundled case out as editable files")
    cc.add_argument("name")
    cc.add_argument("target")
    cc.add_argument("--no-obs", action="store_true",
                    help="leave the observations out (and the [assimilation] table that uses "
                         "them), e.g. to start a new site from the case")
    cc.set_defaults(func=_cmd_copy_case)
    _add_obs_parser(sub)
    return p


# signals received by the running command (main installs the handler)
_CAUGHT: list[int] = []


def _stopped_by() -> str:
    return "terminated (SIGTERM)" if _CAUGHT[:1] == [signal.SIGTERM] else "interrupted"


def _interrupt_status() -> int:
    """Exit status of a command stopped by a signal: 128 + its number (130 for Ctrl-C)."""
    return 128 + (_CAUGHT[0] if _CAUGHT else signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    plog = logging.getLogger("tccas.progress")
    level = plog.level
    if not getattr(args, "quiet", False):
        # progress of long work reaches stderr in batch jobs too (tccas._progress: log
        # lines when stderr is not a terminal); -q silences it
        plog.setLevel(logging.INFO)
    def on_signal(signum, frame):
        # Ctrl-C (SIGINT), and SIGTERM from a batch scheduler at its time limit or `kill`,
        # stop the command the same way: nothing half-written, the lock released. Recorded
        # too: an extension module may swallow the KeyboardInterrupt (tccas.outdir)
        _CAUGHT.append(signum)
        note_interrupt()
        raise KeyboardInterrupt

    _CAUGHT.clear()
    clear_interrupt()
    handled = (signal.SIGINT, signal.SIGTERM)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, on_signal) for s in handled} if main_thread else {}
    try:
        return args.func(args)
    except TccasError as exc:
        print(f"tccas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # files are written to temporary names and moved into place only when complete, so
        # an interrupted command leaves no half-written file behind
        print(f"tccas: {args.command} {_stopped_by()}", file=sys.stderr)
        return _interrupt_status()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        plog.setLevel(level)


if __name__ == "__main__":
    raise SystemExit(main())
