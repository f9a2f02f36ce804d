#!/usr/bin/env python3
"""Twin experiment: can the assimilation recover a known truth?

1. draw a truth x_true ~ N(0, I) in the sigma-scaled control space (seeded; clipped inside
   the control bounds), i.e. a parameter set drawn from the prior;
2. simulate every observation of the case with it, at the sampling of the case's
   observation files (the bundled ES-LM1 files follow the instruments' overpass times and
   revisit: TROPOMI SIF, SMOS L-VOD and soil moisture, JRC-TIP FAPAR, eddy-covariance NEE
   and GPP), and add Gaussian noise with each observation's sigma;
3. assimilate from the prior (x = 0) with the case's [assimilation] table;
4. report per control element whether the truth lies inside the posterior 2-sigma
   interval, the uncertainty reduction, and how far the misfit fell per stream.

    python experiments/twin.py [--case ES-LM1] [--seed 1] [-o twin-out] [--max-iterations N]

Writes OUT/obs/*.nc (the twin observations), OUT/assim/ (the assimilation, as `tccas
assimilate`) and OUT/twin_report.txt.
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

import tccas
from tccas.workflow import cell_model_for
from tccas.obs import write_obs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", default="ES-LM1", help="configuration or bundled case")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("-o", "--output", default="twin-out")
    ap.add_argument("--max-iterations", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    out = Path(args.output)
    cfg = tccas.load_config(args.case)
    if cfg.assimilation is None:
        raise SystemExit(f"{args.case}: no [assimilation] table")
    model, sets = cell_model_for(cfg)
    c = model.control
    rng = np.random.default_rng(args.seed)
    x_true = np.clip(rng.normal(size=model.nx), c.lower + 1e-3, c.upper - 1e-3)
    y = model.forward(x_true)
    obs_paths, k = {}, 0
    (out / "obs").mkdir(parents=True, exist_ok=True)
    for o in sets:
        yo = y[k:k + len(o)]
        k += len(o)
        twin = dataclasses.replace(o, value=yo + rng.normal(size=len(o)) * o.sigma,
                                   attrs={**o.attrs, "source": f"twin experiment, seed "
                                          f"{args.seed}, sampling of {o.source}"})
        obs_paths[o.stream] = write_obs(out / "obs" / f"{o.stream}.nc", twin)
    a = cfg.assimilation
    if args.max_iterations is not None:
        a = dataclasses.replace(a, max_iterations=args.max_iterations)
    cfg = dataclasses.replace(cfg, observations=obs_paths, assimilation=a,
                              run=dataclasses.replace(cfg.run, hourly_output=False))
    # the script rewrites the whole twin folder (observations above, then the assimilation)
    res = tccas.assimilate(cfg, output_dir=out / "assim", workers=args.workers,
                           overwrite=True)
    z = (res.x_posterior - x_true) / res.sigma_x_posterior
    inside = np.abs(z) <= 2.0
    lines = [f"twin experiment: {cfg.site.name}, seed {args.seed}, {model.nx} control "
             f"elements, streams {', '.join(a.streams)}, window {a.start} to {a.end}",
             f"{res.minimiser.n_iterations} iterations, {res.minimiser.n_evaluations} "
             f"evaluations: {res.minimiser.message}", "",
             f"{'control element':24s}{'x truth':>9s}{'x post':>9s}{'sigma post':>11s}"
             f"{'z':>7s}{'reduction':>10s}  inside 2 sigma"]
    for n, xt, xp, sp, zz, r, ok in zip(res.names, x_true, res.x_posterior,
                                         res.sigma_x_posterior, z, res.reduction, inside):
        lines.append(f"{n:24s}{xt:9.3f}{xp:9.3f}{sp:11.3f}{zz:7.2f}{r:10.1%}  "
                     f"{'yes' if ok else 'NO'}")
    well = res.reduction > 0.25
    lines += ["", f"truth inside the posterior 2 sigma: {inside.sum()} of {inside.size} "
              f"elements; {inside[well].sum()} of {well.sum()} elements with a reduction "
              "above 25 %",
              f"distance to the truth |x - x_true|: prior {np.linalg.norm(x_true):.3f}, "
              f"posterior {np.linalg.norm(res.x_posterior - x_true):.3f}", "",
              "misfit (chi2 per observation, prior -> posterior):"]
    for r in res.validation:
        lines.append(f"  {r.stream:6s} {r.role:12s} n {r.n:6d}  {r.chi2_prior:9.3f} -> "
                     f"{r.chi2_posterior:9.3f}   RMSE {r.rmse_prior:.4g} -> "
                     f"{r.rmse_posterior:.4g} {r.unit}")
    h = res.cost_history
    lines.append(f"cost J: {h[0]['cost']:.2f} -> {h[-1]['cost']:.2f} "
                 f"({1 - h[-1]['cost'] / h[0]['cost']:.1%} lower)")
    text = "\n".join(lines) + "\n"
    (out / "twin_report.txt").write_text(text)
    print(text, end="")
    print(f"wrote {out / 'twin_report.txt'} and {out / 'assim'}")


if __name__ == "__main__":
    main()
