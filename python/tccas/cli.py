"""The `tccas` command."""
from __future__ import annotations

import argparse
import logging
import sys

from . import __version__
from .errors import ConfigError, TccasError


def _cmd_run(args) -> int:
    from ._workflow import run
    res = run(args.config, output_dir=args.output, progress=None if not args.quiet else False)
    print(res.summary, end="")
    for name, path in res.files.items():
        print(f"wrote {path}")
    return 0


def _cmd_plot(args) -> int:
    from pathlib import Path
    from .plots import plot_daily, plot_observations
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        from .errors import InputDataError
        raise InputDataError(f"{run_dir}: not a folder (give the output folder of tccas run)")
    print(f"wrote {plot_daily(run_dir)}")
    if (run_dir / "obs").is_dir():
        print(f"wrote {plot_observations(run_dir)}")
    return 0


def _cmd_check_gradient(args) -> int:
    from .cases import load_config
    from ._workflow import cell_model_for
    from .gradcheck import check_gradient
    cfg = load_config(args.config)
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
    from ._workflow import load_inputs, parameters_for
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
                           cfg.run.spinup_hours)
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


def _cmd_cases(args) -> int:
    from .cases import case_description, list_cases
    for name in list_cases():
        print(f"{name:10s} {case_description(name)}")
    return 0


def _cmd_copy_case(args) -> int:
    from .cases import copy_case
    path = copy_case(args.name, args.target)
    print(f"wrote case {args.name} to {path}; run it with: tccas run {path / 'config.toml'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tccas", description="D&B model and TCCAS data assimilation")
    p.add_argument("--version", action="version", version=f"tccas {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run D&B for a configuration or a bundled case")
    r.add_argument("config", help="TOML configuration file or bundled case name (e.g. ES-LM1)")
    r.add_argument("-o", "--output", default=None, help="output folder (default tccas-run-SITE)")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_cmd_run)
    pl = sub.add_parser("plot", help="plot a run: daily.png, and obs.png with one panel per "
                                     "observation stream")
    pl.add_argument("run_dir", help="output folder of tccas run")
    pl.set_defaults(func=_cmd_plot)
    g = sub.add_parser("check-gradient", help="check the tangent and adjoint codes for a "
                       "configuration: tangent vs finite differences per control element, "
                       "adjoint dot-product test")
    g.add_argument("config", help="TOML configuration file or bundled case name")
    g.add_argument("--days", type=int, default=None,
                   help="check on the first DAYS days of the run only (faster)")
    g.add_argument("--step", type=float, default=2e-5,
                   help="finite-difference step in units of prior sigma (default 2e-5)")
    g.add_argument("--tolerance", type=float, default=1e-6,
                   help="largest accepted |fd - tl| / |tl| per element (default 1e-6)")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g.set_defaults(func=_cmd_check_gradient)
    sp = sub.add_parser("spinup", help="initial carbon pools at the model's equilibrium under "
                        "the spin-up forcing (prints them; --write sets c_*0 in the config)")
    sp.add_argument("config", help="TOML configuration file or bundled case name")
    sp.add_argument("--write", action="store_true",
                    help="write the pools as c_*0 into [parameters] of the configuration file")
    sp.set_defaults(func=_cmd_spinup)
    c = sub.add_parser("cases", help="list the bundled cases")
    c.set_defaults(func=_cmd_cases)
    cc = sub.add_parser("copy-case", help="write a bundled case out as editable files")
    cc.add_argument("name")
    cc.add_argument("target")
    cc.set_defaults(func=_cmd_copy_case)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except TccasError as exc:
        print(f"tccas: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # files are written to temporary names and moved into place only when complete, so
        # an interrupted command leaves no half-written file behind
        print(f"tccas: {args.command} interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
