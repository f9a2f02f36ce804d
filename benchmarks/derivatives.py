#!/usr/bin/env python3
"""Cost of the derivative codes relative to the forward model, and adjoint memory.

For the default case (ES-LM1, 2015-2021 after a 2-year spin-up, all bundled observation
streams, the 56-element TCCAS control vector), for the TCCAS FAQ case (13 years, one site,
2 PFTs) and for a 13-year 4-PFT Lapland cell (which the adjoint runs in yearly checkpointed
blocks under the default memory budget, and whole under a larger one), prints in one run:
forward, tangent and adjoint
times (best of N), the tangent/forward and adjoint/forward ratios (targets: <= 2 and <= 3;
the reference TCCAS adjoint costs about 6 forward runs) and the peak adjoint-stack size.

It then times one evaluation of the assimilation's cost function (J, its parts and
gradient) on the default case both ways: one fused run of the core (``Cost.__call__`` on a
CellModel: ``cost_and_gradient``, one taped pass) and a forward run followed by an adjoint
run (the path the regional model takes), alternated A/B in the same process, with the
median of each and their ratio. ``--cost-only`` runs only that comparison, ``--pairs N``
sets the number of A/B pairs (default 7).

    python benchmarks/derivatives.py [--repeat N] [--cost-only] [--pairs N]

Instruction counts of the same two evaluations (callgrind, see DEVELOPERS.md):

    valgrind --tool=callgrind --toggle-collect='__dnb_api_MOD_*' \
        python benchmarks/derivatives.py --cost-only --pairs 1 --only fused
    (and --only two-runs), then callgrind_annotate --inclusive=yes callgrind.out.<pid>
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import tccas
from tccas.workflow import cell_model_for, load_inputs, parameters_for
from tccas.control import build_control
from tccas.da import CostFunction, plan_assimilation
from tccas.model import CellModel, obs_arrays
from tccas.obs import ObservationSet
from tccas.io import Static
from tccas.parameters import global_defaults, pft_defaults
from tccas.synthetic import ESLM1, FISOD, generate_forcing


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def report(label, model, repeat, first=False):
    rng = np.random.default_rng(0)
    x = np.zeros(model.nx)
    dx, dy = rng.normal(size=model.nx), rng.normal(size=model.ny)
    if first:
        # the first adjoint of a process also allocates the stack (kept for later calls)
        t_first = best(lambda: model.adjoint(x, dy), 1)
    tf = best(lambda: model.forward(x), repeat)
    tt = best(lambda: model.tangent(x, dx), repeat)
    ta = best(lambda: model.adjoint(x, dy), repeat)
    print(f"{label}: nx={model.nx} ny={model.ny}")
    print(f"  forward {tf:.3f} s   tangent {tt:.3f} s   adjoint {ta:.3f} s")
    print(f"  tangent/forward {tt / tf:.2f} (target <= 2)   adjoint/forward {ta / tf:.2f} "
          f"(target <= 3; TCCAS ~6)")
    print(f"  adjoint stack peak {model.last_stack_bytes / 1e6:.1f} MB")
    if first:
        print(f"  first adjoint call of the process (allocates the stack): {t_first:.3f} s")


def default_cost(cfg, model, sets, use_fused: bool = True) -> CostFunction:
    """The cost of `tccas assimilate ES-LM1` (assimilated observations and total sigma from
    [assimilation]; the target pseudo-observations that the assimilation appends to y, which
    do not enter J, are left out)."""
    return CostFunction(model, *plan_assimilation(cfg, sets).cost_arrays(sets),
                        use_fused=use_fused)


def compare_cost(cfg, model, sets, pairs: int, only: str | None = None) -> None:
    """One Cost.__call__ fused and as forward + adjoint, alternated, medians and ratio."""
    fused = default_cost(cfg, model, sets)
    two = default_cost(cfg, model, sets, use_fused=False)
    x = np.zeros(model.nx)
    x[::3] = 0.1                # away from the prior, inside the bounds
    x = np.clip(x, model.control.lower, model.control.upper)
    runs = {"fused": fused, "two-runs": two}
    if only:
        runs = {only: runs[only]}
    if len(runs) == 2:
        a, b = fused(x), two(x)   # the first adjoint of the process allocates the stack
        same = (a.total == b.total and np.array_equal(a.gradient, b.gradient))
        diff = np.abs(a.gradient - b.gradient).max() / np.abs(b.gradient).max()
        print(f"cost of tccas assimilate ES-LM1 ({fused.index.size} assimilated of "
              f"{model.ny} simulated observations): J = {a.total:.10g}; fused and two-run "
              f"values {'identical to the last bit' if same else f'differ (gradient {diff:.1e})'}")
    times = {k: [] for k in runs}
    for i in range(pairs):
        # alternate the order within each pair, so that neither always runs first
        for k in (list(runs) if i % 2 == 0 else list(runs)[::-1]):
            t0 = time.perf_counter()
            runs[k](x)
            times[k].append(time.perf_counter() - t0)
    for k, v in times.items():
        print(f"  Cost.__call__ {k:9s}: median {np.median(v):.3f} s over {len(v)} "
              f"(min {min(v):.3f}, max {max(v):.3f})")
    if len(runs) == 2:
        ratio = [f / t for f, t in zip(times["fused"], times["two-runs"])]
        print(f"  fused / two-runs: median of the pair ratios {np.median(ratio):.3f}, ratio of "
              f"medians {np.median(times['fused']) / np.median(times['two-runs']):.3f}")
        tf = best(lambda: model.forward(x), pairs)
        print(f"  (a forward run alone: {tf:.3f} s, best of {pairs}; adjoint stack "
              f"{model.last_stack_bytes / 1e6:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cost-only", action="store_true",
                    help="only the fused / forward+adjoint cost comparison")
    ap.add_argument("--pairs", type=int, default=7, help="A/B pairs of the cost comparison")
    ap.add_argument("--only", choices=("fused", "two-runs"),
                    help="time one way of the cost only (for callgrind)")
    args = ap.parse_args()
    cfg = tccas.load_config("ES-LM1")
    model, sets = cell_model_for(cfg)
    if args.cost_only:
        compare_cost(cfg, model, sets, args.pairs, args.only)
        return
    report("ES-LM1 2015-2021 + 2-yr spin-up, bundled observations", model, args.repeat,
           first=True)
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static)
    from tccas.model import run_cell
    tfull = best(lambda: run_cell(forcing.matrix(), forcing.times, static.lat, static.lon,
                                  static.sand, static.clay, list(static.pft), ppft, pglob,
                                  nspin=cfg.run.spinup_hours, chunk_days=None), args.repeat)
    print(f"  (a forward run with all hourly outputs, as tccas run does: {tfull:.3f} s)")

    # the TCCAS FAQ case: 13 years, one site, 2 PFTs (recorded whole on the adjoint stack),
    # with SIF-like daily observations
    f = generate_forcing("2009-01-01", "2022-01-01", seed=1)
    report("13-year 2-PFT site run", _daily_sif_model(f, ESLM1, static, ppft, pglob),
           max(1, args.repeat - 1))
    # a 13-year Lapland cell with 4 PFTs: 52 tile-years, beyond the 30 recorded whole, so
    # the adjoint re-runs yearly blocks and its memory stays at about one block per tile
    fb = generate_forcing("2009-01-01", "2022-01-01", seed=2, lat=FISOD["lat"],
                          lon=FISOD["lon"], climate="FI-Sod")
    boreal = Static(FISOD["lat"], FISOD["lon"], (5, 4, 7, 9), (0.5, 0.2, 0.2, 0.1), 0.7, 0.05,
                    1.0)
    lapland = _daily_sif_model(fb, FISOD, boreal, pft_defaults(list(boreal.pft)),
                               global_defaults())
    report("13-year 4-PFT Lapland cell, default adjoint_memory_mb "
           f"{lapland.adjoint_memory_mb:.0f} (yearly adjoint checkpoints)", lapland, 2)
    # the same cell with a budget that holds its whole tape: faster, more memory (best of
    # at least two, since the first such call also grows the stack)
    lapland.adjoint_memory_mb = 1500
    report("same cell, adjoint_memory_mb 1500 (recorded whole)", lapland,
           max(2, args.repeat - 1))
    compare_cost(cfg, model, sets, args.pairs)


def _daily_sif_model(f, site, static, ppft, pglob):
    t = f.times[13::24]
    obs = ObservationSet("sif", t, t + np.timedelta64(3600, "s"), np.ones(t.size),
                         np.ones(t.size), np.zeros(t.size, int), static.pft,
                         np.tile(static.pft_fraction, (t.size, 1)))
    oa = obs_arrays([obs], f.times, static.pft)
    ctl = build_control(static.pft, ppft, pglob)
    return CellModel(f.matrix(), f.times, site["lat"], site["lon"], static.sand, static.clay,
                     static.pft, ppft, pglob, ctl, oa, nspin=0)


if __name__ == "__main__":
    main()
