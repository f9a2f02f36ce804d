#!/usr/bin/env python3
"""Forward-model timings.

Prints the time of a 13-year, 2-PFT site run (the TCCAS FAQ figure: ~0.5 s on an Intel
i9-7940X; our target is <= 0.25 s on a 2-core CI machine) and of the 7-year default case
(ES-LM1 2015-2021 with its 2-year spin-up), core only and end to end with output files:
the end-to-end time, its ratio to the core time (issue 14 target: <= 2), best and median,
wall and CPU, and its split between reading, running and writing, wall and CPU
(``RunResult.timings``). Core and end-to-end runs alternate so that both see the same
load of a shared machine.

    python benchmarks/forward.py [--repeat N]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

import tccas
from tccas.workflow import load_inputs, parameters_for
from tccas.model import run_cell
from tccas.parameters import global_defaults, pft_defaults
from tccas.synthetic import ESLM1, generate_forcing


def best_of(fn, repeat, clock=time.perf_counter):
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times), float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    f13 = generate_forcing("2009-01-01", "2022-01-01", seed=1)
    met = f13.matrix()
    pfts = [3, 9]
    pp, pg = pft_defaults(pfts), global_defaults()
    nh = met.shape[0]

    def run13():
        run_cell(met, f13.times, ESLM1["lat"], ESLM1["lon"], 0.8, 0.093, pfts, pp, pg,
                 nspin=0, chunk_days=None)

    best, med = best_of(run13, args.repeat)
    print(f"13-year 2-PFT site run ({nh} h, no spin-up), core: best {best:.3f} s, "
          f"median {med:.3f} s; target 0.25 s -> ratio {best / 0.25:.2f}; "
          f"{nh * len(pfts) / best / 1e6:.2f} M tile-hours/s; {1 / best:.1f} runs/s")

    cfg = tccas.load_config("ES-LM1")
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static)

    def run7():
        run_cell(forcing.matrix(), forcing.times, static.lat, static.lon, static.sand,
                 static.clay, list(static.pft), ppft, pglob, nspin=cfg.run.spinup_hours,
                 chunk_days=None)

    # core runs and end-to-end runs alternate, so that both see the same load of the
    # (shared) machine; each end-to-end run writes into a new folder (the usual case: a
    # replaced file costs the file system a flush at the rename)
    core, e2e = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tccas.run(cfg, output_dir=f"{tmp}/warm", progress=False)     # warms the caches
        for i in range(args.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            run7()
            core.append((time.perf_counter() - t0, time.process_time() - c0))
            t0, c0 = time.perf_counter(), time.process_time()
            res = tccas.run(cfg, output_dir=f"{tmp}/run{i}", progress=False)
            e2e.append((time.perf_counter() - t0, time.process_time() - c0, res.timings))
        sizes = {k: p.stat().st_size / 1e6 for k, p in res.files.items() if p.exists()}
    cw, cc = np.array([r[0] for r in core]), np.array([r[1] for r in core])
    ew, ec = np.array([r[0] for r in e2e]), np.array([r[1] for r in e2e])
    print(f"default case ES-LM1 2015-2021 + 2-yr spin-up ({forcing.times.size + 17520} h), "
          f"core: best {cw.min():.3f} s, median {np.median(cw):.3f} s (CPU best "
          f"{cc.min():.3f} s, median {np.median(cc):.3f} s)")
    print(f"default case end to end (tccas.run: read inputs and observations, run, write "
          f"daily + hourly netCDF, observation files, summary), {args.repeat} runs:")
    print(f"  wall: best {ew.min():.3f} s = {ew.min() / cw.min():.2f} x core best; median "
          f"{np.median(ew):.3f} s = {np.median(ew) / np.median(cw):.2f} x core median "
          f"(target <= 2)")
    print(f"  CPU:  best {ec.min():.3f} s = {ec.min() / cc.min():.2f} x core best; median "
          f"{np.median(ec):.3f} s = {np.median(ec) / np.median(cc):.2f} x core median")
    print(f"  CPU beyond the core (end-to-end CPU - core CPU): best "
          f"{ec.min() - cc.min():.3f} s, median {np.median(ec) - np.median(cc):.3f} s")
    tim = [r[2] for r in e2e]
    med = {k: float(np.median([t[k] for t in tim])) for k in tim[0]}
    print(f"  split (medians): wall read {med['read']:.3f} s, run (core + operators) "
          f"{med['run']:.3f} s, write {med['write']:.3f} s (read and write overlap run)")
    if "cpu_read" in med:
        print(f"  split (medians): CPU read {med['cpu_read']:.3f} s, run {med['cpu_run']:.3f} s,"
              f" write {med['cpu_write']:.3f} s; process {med['cpu_total']:.3f} s; "
              f"read + write = {med['cpu_read'] + med['cpu_write']:.3f} s = "
              f"{(med['cpu_read'] + med['cpu_write']) / med['cpu_run']:.2f} x run CPU")
    print("  files (MB): " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(sizes.items())))


if __name__ == "__main__":
    main()
