#!/usr/bin/env python3
"""US-AR1 with and without its documented land conversion: what the management explains.

The US-AR1 record (Woodward, Oklahoma, 2009-2012) is a land conversion, not an established
stand (AmeriFlux site description, OSTI 1246137; docs/science/priors.md): the native prairie
was burned and grazed in spring 2009, all grass was killed with herbicide in summer 2009 and
again in spring 2010, and switchgrass was sown in April 2010. This experiment runs the tower
site with the table's priors and equilibrium carbon (as ``benchmarks/towers.py`` does) and a
second time with that history applied to the carbon pools between run segments
(:func:`tccas.model.run_from_state`), and prints the issue-9 scores of both.

    python experiments/us_ar1_management.py [--data tests/data]

The history gives seasons and months, not days; the dates below are placed in them and are
approximate. The removals are this experiment's reading of each operation:

- burn (2009-04-01): 99 % of the foliage and 80 % of the litter burned (carbon to the atmosphere);
- herbicide (2009-07-15 and 2010-04-01): 95 % of the living pools (labile, foliage, roots,
  "wood" = stem bases and crowns) killed and moved to the litter (5 % survive, the weeds
  and grass that regrew before the second spraying);
- sowing (2010-04-15): a switchgrass seedling stand of 1 g C m-2 of foliage.

It is an experiment, not a model option: the derivative path does not see it. A
``[disturbance]`` option in the core would be the way to assimilate such a record.
"""
from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

import tccas
from tccas.model import initial_state, run_cell, run_from_state
from tccas.parameters import HOURLY_OUTPUTS, STATE_NAMES, pft_index
from tccas.spinup import POOL_PARAMETERS
from tccas.towers import (TARGETS, TOWER_SITES, daily_metrics, daily_tower_values,
                          load_tower_fluxes, write_tower_case)
from tccas.workflow import load_inputs, prior_parameters

ROOT = Path(__file__).resolve().parent.parent
POOLS = ("c_lab", "c_fol", "c_root", "c_wood", "c_lit", "c_som")
LIVING = ("c_lab", "c_fol", "c_root", "c_wood")

# (date, operation, {pool: fraction removed}, where the removed carbon goes)
HISTORY = (
    ("2009-04-01", "burn", {"c_fol": 0.99, "c_lit": 0.8}, "atmosphere"),
    ("2009-07-15", "herbicide", {p: 0.95 for p in LIVING}, "litter"),
    ("2010-04-01", "herbicide", {p: 0.95 for p in LIVING}, "litter"),
    ("2010-04-15", "sowing", {}, "seedlings"),
)
SEEDLING_FOLIAGE = 1.0   # g C m-2


def apply(state: np.ndarray, operation: str, fractions: dict, to: str) -> None:
    """Remove the fractions of the carbon pools of every tile (state updated in place)."""
    idx = {p: STATE_NAMES.index(p) for p in POOLS}
    for pool, f in fractions.items():
        removed = f * state[idx[pool]]
        state[idx[pool]] -= removed
        if to == "litter":
            state[idx["c_lit"]] += removed
    if operation == "sowing":
        state[idx["c_fol"]] += SEEDLING_FOLIAGE


def scores(days, model, fluxes) -> dict:
    out = {}
    for stream in ("gpp", "nee", "le"):
        tdays, tval, good = daily_tower_values(fluxes[stream])
        inside = np.isin(tdays, days) & (good >= 0.5)
        idx = (tdays[inside] - days[0]).astype(int)
        out[stream] = daily_metrics(model[stream][idx], tval[inside]).r
    tdays, tval, _ = daily_tower_values(fluxes["gpp"])
    years = tdays.astype("datetime64[Y]").astype(int) + 1970
    used = np.isin(years, (2010, 2011)) & np.isin(tdays, days)
    idx = (tdays[used] - days[0]).astype(int)
    out["annual"] = model["gpp"][idx].sum() / tval[used].sum() - 1.0
    for y in (2009, 2010, 2011, 2012):
        m = (days.astype("datetime64[Y]").astype(int) + 1970) == y
        out[f"lai{y}"] = model["lai"][m].max()
        out[f"gpp{y}"] = model["gpp"][m].sum()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "tests" / "data"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    site = TOWER_SITES["US-AR1"]
    with tempfile.TemporaryDirectory() as tmp:
        cfg_path = write_tower_case(site, args.data, Path(tmp) / "case", streams=())
        cfg = tccas.load_config(cfg_path)
        static, forcing = load_inputs(cfg)
        ppft, pglob = prior_parameters(cfg, static, forcing)
    met, times = forcing.matrix(), forcing.times
    pfts = list(static.pft)
    site_args = (static.lat, static.lon, static.sand, static.clay, pfts, ppft, pglob)
    H = [h[0] for h in HOURLY_OUTPUTS]
    w = np.asarray(site.fractions)

    def daily(hourly):
        nd = hourly.shape[0] // 24
        def per_day(name, how):
            h = hourly[:, H.index(name), :].reshape(nd, 24, -1)
            return (h.sum(axis=1) if how == "sum" else h.mean(axis=1)) @ w
        return {"gpp": per_day("gpp", "sum"), "nee": per_day("nee", "sum"),
                "le": per_day("le", "mean"), "lai": per_day("lai", "mean")}

    days = times[::24].astype("datetime64[D]")
    base = run_cell(met, times, *site_args, nspin=cfg.run.spinup_hours, show_progress=False)
    # the same spin-up (water and temperature; carbon back to its equilibrium), then the
    # record in segments with the history applied between them
    state = initial_state(met, pfts, ppft, pglob, static.sand, static.clay)
    nspin = cfg.run.spinup_hours
    run_from_state(np.concatenate([met] * (nspin // len(met) + 1))[:nspin],
                   times[0] + np.arange(nspin) * np.timedelta64(3600, "s"), *site_args, state)
    for k, name in enumerate(POOL_PARAMETERS):
        state[STATE_NAMES.index(POOLS[k])] = ppft[pft_index(name)]
    hourly, k0 = [], 0
    for date, operation, fractions, to in HISTORY + (("end", "", {}, ""),):
        k1 = len(times) if date == "end" else int(
            (np.datetime64(date) - times[0].astype("datetime64[D]")).astype(int)) * 24
        hourly.append(np.array(run_from_state(met[k0:k1], times[k0:k1], *site_args,
                                              state)[0]))
        if date != "end":
            apply(state, operation, fractions, to)
        k0 = k1
    managed = np.concatenate(hourly)
    fluxes = load_tower_fluxes(site, args.data)
    rows = {"prior (established stand)": scores(days, daily(base.hourly), fluxes),
            "prior + documented history": scores(days, daily(managed), fluxes)}
    print("US-AR1 2009-2012, prior parameters, carbon at equilibrium; targets: "
          + "; ".join(v[1] for v in TARGETS.values()))
    print(f"{'':28s} GPP r  annual GPP  NEE r  LE r   peak LAI 2009-12     GPP 2009-12 (g C m-2)")
    for name, s in rows.items():
        lai = " ".join(f"{s[f'lai{y}']:.1f}" for y in (2009, 2010, 2011, 2012))
        gpp = " ".join(f"{s[f'gpp{y}']:.0f}" for y in (2009, 2010, 2011, 2012))
        print(f"{name:28s} {s['gpp']:.2f}  {100 * s['annual']:+6.0f} %    {s['nee']:.2f}   "
              f"{s['le']:.2f}   {lai:18s}  {gpp}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
