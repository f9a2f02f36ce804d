#!/usr/bin/env python3
"""Timing of the ES-LM1 LCC site experiment, posterior uncertainty included.

Runs `tccas.assimilate` on the bundled case (2015-2021, window 2017-2021, SIF, L-VOD and
surface soil moisture) and prints wall time, iterations and evaluations, the share spent in
forward runs, adjoint runs, the Jacobian/Hessian (tangents over processes) and in the
prior/posterior runs and output files, and the ratio to one forward run. Target on a 2-core
machine: <= 40 s for the whole experiment (TCCAS: 19 iterations, 70 evaluations, about
160 s on a laptop CPU, without the Hessian).

    python benchmarks/assimilation.py [--repeat N] [--workers W] [--no-hourly]
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

import numpy as np

import tccas
from tccas._workflow import cell_model_for


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--no-hourly", action="store_true",
                    help="do not write hourly.nc of the prior and posterior runs")
    args = ap.parse_args()
    cfg = tccas.load_config("ES-LM1")
    if args.no_hourly:
        cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, hourly_output=False))
    model, _ = cell_model_for(cfg)
    x = np.zeros(model.nx)
    model.forward(x)
    t = []
    for _ in range(3):
        t0 = time.perf_counter()
        model.forward(x)
        t.append(time.perf_counter() - t0)
    t_fwd = min(t)
    print(f"one forward run (all observations): {t_fwd:.3f} s")
    walls = []
    for rep in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            res = tccas.assimilate(cfg, output_dir=tmp, progress=False, workers=args.workers)
            wall = time.perf_counter() - t0
        walls.append(wall)
        m, tm = res.minimiser, res.timing
        print(f"run {rep + 1}: wall {wall:.1f} s ({wall / t_fwd:.0f} forward runs); "
              f"{m.n_iterations} iterations, {m.n_evaluations} evaluations; "
              f"J {res.cost_history[0]['cost']:.1f} -> {res.cost_history[-1]['cost']:.1f}")
        for key in ("forward", "adjoint", "hessian", "runs_and_io", "io"):
            print(f"  {key:12s} {tm.get(key, 0.0):7.2f} s  {tm.get(key, 0.0) / wall:6.1%}")
        other = wall - sum(tm.get(k, 0.0) for k in ("forward", "adjoint", "hessian",
                                                     "runs_and_io", "io"))
        print(f"  {'other':12s} {other:7.2f} s  {other / wall:6.1%}")
    if len(walls) > 1:
        print(f"wall time over {len(walls)} runs: min {min(walls):.1f} s, median "
              f"{np.median(walls):.1f} s, max {max(walls):.1f} s (target <= 40 s)")


if __name__ == "__main__":
    main()
