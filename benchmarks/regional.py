#!/usr/bin/env python3
"""Regional timings: forward and adjoint wall time of a RegionalModel, the speed-up from 1 to
2 workers, the memory per worker, and a projection to a continental domain on a cluster.

The issue's case is 432 cells with up to 6 PFTs over 13 years (TCCAS FAQ: about 300 s
forward and 1700 s adjoint on a desktop CPU; our targets on 2 cores: forward <= 150 s,
adjoint <= 450 s, speed-up >= 1.8). That takes minutes; ``--cells`` and ``--years`` run a
reduced size (times scale with cells x years x tiles).

    python benchmarks/regional.py                         # 432 cells, 13 years
    python benchmarks/regional.py --cells 16 --years 2    # a quick look

The domain is synthetic: a Lapland-like box of 0.25 deg cells with boreal PFTs (EvCn, SgCn,
EShr, DShr, C3Gr, Tun) from a seeded PFT map at 0.025 deg, FI-Sod-climate forcing (eight
seeded weather realisations, shifted by latitude), TROPOMI-like SIF and SMOS-like soil
moisture footprints. The projection uses the measured per-cell cost of a forward plus an
adjoint and the measured Dask overhead per task (when Dask is installed).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from tccas.obs import ObservationSet
from tccas.parameters import FORCING_VARS
from tccas.regional import (Circle, Grid, GriddedForcingFile, PFTMap, Rectangle,
                            RegionalModel, domain_from_pft_map, footprint_table, make_engine,
                            regional_observations)
from tccas.regional.engines import peak_rss_mb
from tccas.synthetic import FISOD, generate_forcing

PFTS = (5, 6, 7, 8, 9, 11)


def make_domain(ncells: int, seed: int = 1):
    nlon = int(np.ceil(np.sqrt(ncells * 1.5)))
    nlat = int(np.ceil(ncells / nlon))
    lat = 67.0 + 0.25 * np.arange(nlat) + 0.125
    lon = 24.0 + 0.25 * np.arange(nlon) + 0.125
    grid = Grid(lat, lon)
    rng = np.random.default_rng(seed)
    # PFT map at 0.025 deg: smooth random fields choose among up to 6 PFTs per pixel
    flat = 67.0 + 0.025 * np.arange(10 * nlat) + 0.0125
    flon = 24.0 + 0.025 * np.arange(10 * nlon) + 0.0125
    fields = []
    for _ in PFTS:
        f = rng.normal(size=(nlat + 1, nlon + 1))
        f = np.kron(f, np.ones((10, 10)))[:10 * nlat, :10 * nlon]
        fields.append(f + 0.8 * rng.normal(size=f.shape))
    code = np.array(PFTS)[np.argmax(fields, axis=0)]
    code[rng.random(code.shape) < 0.03] = 0          # lakes and bogs not modelled
    # keep exactly ncells cells: the rest of the last row is water
    k = np.arange(nlat * nlon).reshape(nlat, nlon)
    water = np.kron(k >= ncells, np.ones((10, 10), bool))
    code[water] = 0
    pmap = PFTMap(Grid(flat, flon), code)
    dom = domain_from_pft_map(pmap, grid, sand=0.6, clay=0.1, soil_depth=1.0,
                              source="benchmark")
    return dom, pmap


def write_forcing(path: Path, dom, years: int) -> None:
    """Gridded forcing written cell by cell (never the whole domain in memory)."""
    import netCDF4
    from tccas.io import time_var
    start, end = "2009-01-01", f"{2009 + years}-01-01"
    base = [generate_forcing(start, end, seed=s, lat=FISOD["lat"], lon=FISOD["lon"],
                             climate="FI-Sod") for s in range(8)]
    times = base[0].times
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        time_var(ds, times, times[0], 1.0)
        for name, a in (("lat", dom.grid.lat), ("lon", dom.grid.lon)):
            ds.createDimension(name, a.size)
            v = ds.createVariable(name, "f8", (name,))
            v.units = "degrees_north" if name == "lat" else "degrees_east"
            v[:] = a
        vs = {}
        for name, unit, std in FORCING_VARS:
            vs[name] = ds.createVariable(name, "f4", ("time", "lat", "lon"), zlib=False,
                                         chunksizes=(min(times.size, 24 * 366), 1, 1),
                                         fill_value=np.float32(1e20))
            vs[name].units = unit
        for k in range(dom.ncell):
            f = base[k % 8]
            for name, _, _ in FORCING_VARS:
                v = f.data[name]
                if name in ("tas", "tsl_deep"):
                    v = v - 0.6 * (dom.lat[k] - 67.0)   # colder northwards
                vs[name][:, dom.row[k], dom.col[k]] = v.astype(np.float32)


def make_obs(dom, pmap, times, seed: int = 2):
    rng = np.random.default_rng(seed)
    sets = []
    la0, la1 = dom.grid.lat_edges[[0, -1]]
    lo0, lo1 = dom.grid.lon_edges[[0, -1]]
    ndays = times.size // 24
    for stream, per_day, hour, make, value, sigma in (
            ("sif", 0.5 * dom.ncell, 11, lambda a, b: Rectangle(a, b, 3.5, 5.5, 12.0), 0.3, 0.2),
            ("sm", 0.05 * dom.ncell, 4, lambda a, b: Circle(a, b, 20.0), 0.25, 0.04)):
        n = int(per_day * ndays / 10)           # every tenth day on average
        day = np.sort(rng.integers(0, ndays, n))
        t0 = times[day * 24 + hour]
        shapes = [make(a, b) for a, b in zip(rng.uniform(la0, la1, n), rng.uniform(lo0, lo1, n))]
        eo, ec, ew, _, kept = footprint_table(shapes, pmap, dom, min_covered=0.3)
        o = ObservationSet(stream, t0, t0 + np.timedelta64(3600, "s"), np.full(n, value),
                           np.full(n, sigma), np.zeros(n, int), dom.pfts,
                           np.zeros((n, len(dom.pfts))))
        sets.append(regional_observations(o, dom, eo, ec, ew, keep=kept))
    return sets


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def dask_task_overhead(n: int = 200) -> float | None:
    """Seconds per trivial task on a 2-worker local Dask cluster (submit to result)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        return None
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as c, \
            Client(c) as client:
        client.gather([client.submit(abs, -i, pure=False) for i in range(20)])
        t0 = time.perf_counter()
        client.gather([client.submit(abs, -i, pure=False) for i in range(n)])
        return (time.perf_counter() - t0) / n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=432)
    ap.add_argument("--years", type=int, default=13)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--spinup-days", type=int, default=0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t, (dom, pmap) = timed(lambda: make_domain(args.cells))
        ntile = int((dom.fraction > 0).sum())
        print(f"domain: {dom.ncell} cells, {ntile} tiles (PFTs per cell "
              f"{(dom.fraction > 0).sum(axis=1).min()}-{(dom.fraction > 0).sum(axis=1).max()}),"
              f" {args.years} years")
        path = Path(tmp) / "forcing.nc"
        t, _ = timed(lambda: write_forcing(path, dom, args.years))
        print(f"gridded forcing written in {t:.1f} s ({path.stat().st_size / 1e6:.0f} MB)")
        ff = GriddedForcingFile(path, dom)
        sets = make_obs(dom, pmap, ff.times())
        print("observations: " + ", ".join(f"{r.stream} {len(r)} ({r.entry_obs.size} cell "
                                           f"entries)" for r in sets))
        res = {}
        for workers in (1, 2):
            model = RegionalModel(dom, ff, sets, nspin=24 * args.spinup_days,
                                  engine=make_engine("processes", workers),
                                  batch_size=args.batch_size)
            x = np.zeros(model.nx)
            dy = np.random.default_rng(0).normal(size=model.ny)
            t_start, _ = timed(lambda: model.engine.start(model.batches,
                                                          model.adjoint_memory_mb))
            model._started = True
            t_fwd, y = timed(lambda: model.forward(x))
            # the first adjoint of a process allocates its tape; later ones reuse it
            t_adj0, g = timed(lambda: model.adjoint(x, dy))
            t_adj, g = timed(lambda: model.adjoint(x, dy))
            rss = {}
            for r in model.engine.evaluate("forward", x, None, model.adjoint_memory_mb):
                rss[r["pid"]] = r["peak_rss_mb"]
            model.close()
            res[workers] = (t_fwd, t_adj, y, g)
            print(f"{workers} worker(s): start (read forcing, build cells) {t_start:7.1f} s, "
                  f"forward {t_fwd:7.1f} s, adjoint {t_adj:7.1f} s (first {t_adj0:.1f} s), "
                  f"adjoint tape per cell "
                  f"{model.last_stack_bytes / 1e6:.0f} MB, peak memory per worker "
                  + ", ".join(f"{v:.0f}" for v in rss.values()) + " MB")
        f1, a1, y1, g1 = res[1]
        f2, a2, y2, g2 = res[2]
        print(f"speed-up 1 -> 2 workers: forward {f1 / f2:.2f}, adjoint {a1 / a2:.2f} "
              f"(target >= 1.8 on 2 idle cores)")
        print(f"same results with 1 and 2 workers: y {np.array_equal(y1, y2)}, "
              f"gradient {np.array_equal(g1, g2)}")
        scale = (432 / dom.ncell) * (13 / args.years)
        print(f"scaled to 432 cells x 13 years (x{scale:.1f}): forward {f2 * scale:.0f} s "
              f"(target <= 150), adjoint {a2 * scale:.0f} s (target <= 450) on 2 workers")
        per_cell = (f1 + a1) / dom.ncell / args.years     # s per cell-year, one worker
        ovh = dask_task_overhead()
        print(f"per-cell cost: {per_cell * 1e3:.1f} ms per cell-year (forward + adjoint, "
              f"one worker)" + (f"; Dask overhead {ovh * 1e3:.2f} ms per task"
                                if ovh is not None else "; Dask not installed"))
        ovh = ovh or 0.0
        cells, years = 100_000, 13
        print(f"projection, {cells} cells x {years} years, forward + adjoint per "
              f"evaluation, batches of {args.batch_size * 25} cells:")
        for n in (64, 256, 1024, 4096):
            tasks = cells / (args.batch_size * 25)
            t = cells * years * per_cell / n + tasks / n * ovh * 2
            print(f"  {n:5d} workers: {t:8.0f} s per evaluation")
        print(f"driver peak memory {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
