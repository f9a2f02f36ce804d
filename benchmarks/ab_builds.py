#!/usr/bin/env python3
"""Compare builds of the core extension: paired timing and, optionally, their results.

Loads two or more copies of the compiled core (``tccas/_dnb*.so`` files, e.g. the build
before a change, copied aside, and the current one) into one process and alternates their
forward, tangent and adjoint calls on the default case (ES-LM1), so that the load of a
shared machine falls on all builds alike; prints the median times and the ratios to the
first build. With ``--compare`` it also checks each build's results against the first:
hourly and daily outputs of a run with spin-up (largest difference relative to each
variable's range), y, a tangent J dx and a gradient J^T dy at a random x inside the bounds
(relative to their largest element). This is the recipe of DEVELOPERS.md
("Profiling the core") and docs/performance.md.

    cp build/cp311/_dnb*.so /tmp/old.so      # before the change
    ...                                      # change, rebuild
    python benchmarks/ab_builds.py /tmp/old.so build/cp311/_dnb*.so --rounds 21 --compare
"""
from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

import tccas
import tccas.model as tm
from tccas.workflow import cell_model_for


def load_build(path: str):
    """The ``dnb_api`` module of the extension file ``path`` (a separate copy per file)."""
    spec = importlib.util.spec_from_file_location("tccas._dnb", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.dnb_api


def results(model, rng_seed: int = 1) -> dict[str, np.ndarray]:
    """Hourly and daily outputs of the model's run, y, J dx and J^T dy at a random x."""
    lat, lon, sand, clay = model.site
    nt = model.met.shape[0]
    times = np.datetime64("2015-01-01T00") + np.arange(nt).astype("timedelta64[h]")
    run = tm.run_cell(model.met, times, lat, lon, sand, clay, model.pfts, model.ppft0,
                      model.pglob0, nspin=model.nspin, chunk_days=None)
    rng = np.random.default_rng(rng_seed)
    c = model.control
    x = np.clip(0.3 * rng.standard_normal(model.nx), 0.9 * np.asarray(c.lower),
                0.9 * np.asarray(c.upper))
    dx, dy = rng.standard_normal(model.nx), rng.standard_normal(model.ny)
    _, jdx = model.tangent(x, dx)
    return {"hourly": np.array(run.hourly), "daily": np.array(run.daily),
            "y": model.forward(x), "jdx": jdx, "grad": model.adjoint(x, dy)}


def compare(ref: dict[str, np.ndarray], new: dict[str, np.ndarray]) -> None:
    for key, a in ref.items():
        b = new[key]
        if a.ndim == 3:   # (time, variable, tile): relative to each variable's range
            span = np.maximum(a.max(axis=(0, 2)) - a.min(axis=(0, 2)), 1e-300)
            d = np.abs(a - b).max(axis=(0, 2)) / span
            worst = f"{d.max():.2e} of the range (variable {int(d.argmax())})"
        else:
            worst = f"{np.abs(a - b).max() / max(np.abs(a).max(), 1e-300):.2e} of max |.|"
        print(f"    {key:6s} bit-identical {np.array_equal(a, b)!s:5s}  largest difference {worst}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("builds", nargs="+", help="extension files (.so); the first is the reference")
    ap.add_argument("--rounds", type=int, default=15, help="alternating rounds (default 15)")
    ap.add_argument("--compare", action="store_true", help="also compare the results")
    args = ap.parse_args()
    apis = [load_build(p) for p in args.builds]
    model, _ = cell_model_for(tccas.load_config("ES-LM1"))
    x, dx, dy = np.zeros(model.nx), np.ones(model.nx), np.ones(model.ny)
    original = tm._API
    try:
        if args.compare:
            tm._API = apis[0]
            ref = results(model)
            for path, api in zip(args.builds[1:], apis[1:]):
                tm._API = api
                print(f"{path}: results against {args.builds[0]}")
                compare(ref, results(model))
        for api in apis:      # warm-up: solar cache, adjoint stack
            tm._API = api
            model.forward(x)
            model.adjoint(x, dy)
        times = {(k, w): [] for k in range(len(apis)) for w in ("forward", "tangent", "adjoint")}
        calls = {"forward": lambda: model.forward(x), "tangent": lambda: model.tangent(x, dx),
                 "adjoint": lambda: model.adjoint(x, dy)}
        for r in range(args.rounds):
            order = range(len(apis)) if r % 2 == 0 else reversed(range(len(apis)))
            for k in order:
                tm._API = apis[k]
                for what, call in calls.items():
                    t0 = time.perf_counter()
                    call()
                    times[(k, what)].append(time.perf_counter() - t0)
    finally:
        tm._API = original
    med = {key: float(np.median(v)) for key, v in times.items()}
    print(f"median of {args.rounds} alternating rounds (default case):")
    for k, path in enumerate(args.builds):
        f, t, a = (med[(k, w)] for w in ("forward", "tangent", "adjoint"))
        rel = "" if k == 0 else "   vs first: " + "  ".join(
            f"{w} {med[(k, w)] / med[(0, w)]:.3f}" for w in ("forward", "tangent", "adjoint"))
        print(f"  {path}: forward {f:.4f} s  tangent {t:.4f} s  adjoint {a:.4f} s  "
              f"adjoint/forward {a / f:.2f}{rel}")


if __name__ == "__main__":
    main()
