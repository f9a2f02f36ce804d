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

Wall-clock speed-up is only meaningful on an idle machine. The script therefore also prints
what does not depend on other load: the workers' CPU time per tile-year (next to the site
path's, ``CellModel`` of one of the domain's cells run in this process, so that any per-cell
overhead of the regional path shows as a ratio above 1), the split of a cell's cost into a
fixed part and a part per tile (least squares over the batches), the balance of work between
the workers (mean / max of their CPU time), the parallel efficiency (workers' busy time /
(workers x wall)), and the speed-up that the CPU times imply on an idle machine
(CPU of 1 worker / CPU of the busiest of 2 workers).
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
from tccas.model import TAPE_BYTES_PER_TILE_HOUR
from tccas.regional.engines import peak_rss_mb
from tccas.regional.model import CELL_COST_TILES, REGIONAL_ADJOINT_MEMORY_MB
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


def site_reference(model, x, repeat: int = 2) -> tuple[float, float, float, float]:
    """CPU seconds of the site path in this process for the cells of batch 0: the sum of
    their CellModel forward and adjoint and of run_cell (the site benchmark's path,
    benchmarks/forward.py), and their tile-years, to compare with what batch 0 cost in a
    worker."""
    from tccas.model import run_cell
    fwd = adj = run = 0.0
    ty = 0.0
    for k, t in enumerate(model.tasks):
        if t not in model.batches[0].tasks:
            continue
        m, xmap, ymap = model.cell_model(k)
        xc, dy = x[xmap], np.ones(m.ny)
        ty += m.pfts.size * (m.met.shape[0] + m.nspin) / 8760.0
        m.adjoint(xc, dy)                                     # the tape is allocated once

        def rc():
            run_cell(m.met, model.times, t.lat, t.lon, t.sand, t.clay, list(t.pfts), t.ppft0,
                     t.pglob0, nspin=m.nspin, chunk_days=None)

        out = []
        for fn in (lambda: m.forward(xc), lambda: m.adjoint(xc, dy), rc):
            c0 = time.process_time()
            for _ in range(repeat):
                fn()
            out.append((time.process_time() - c0) / repeat)
        fwd, adj, run = fwd + out[0], adj + out[1], run + out[2]
    return fwd, adj, run, ty


def cell_cost_split(model) -> tuple[float, float] | None:
    """Least-squares CPU seconds per cell-year (fixed part) and per tile-year over the
    batches of the last evaluation; None with fewer than 3 batches."""
    st = model.last_evaluation
    if st is None or len(st.batch_cpu_s) < 3:
        return None
    years = st.hours / 8760.0
    rows = [(len(b.tasks) * years, b.tiles * years, st.batch_cpu_s[b.index])
            for b in model.batches if b.index in st.batch_cpu_s]
    a = np.array(rows)
    coef, *_ = np.linalg.lstsq(a[:, :2], a[:, 2], rcond=None)
    return float(coef[0]), float(coef[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=432)
    ap.add_argument("--years", type=int, default=13)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--spinup-days", type=int, default=0)
    ap.add_argument("--adjoint-memory-mb", type=float, default=REGIONAL_ADJOINT_MEMORY_MB,
                    help="adjoint memory budget per cell (MB; default that of a regional "
                         "run); a 13-year cell of 6 tiles tapes about 1.0 GB (1.3 GB as the "
                         "budget counts it), above the budget it is re-run in yearly blocks")
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
                                  batch_size=args.batch_size,
                                  adjoint_memory_mb=args.adjoint_memory_mb)
            x = np.zeros(model.nx)
            dy = np.random.default_rng(0).normal(size=model.ny)
            t_start, _ = timed(model.start)
            t_fwd, y = timed(lambda: model.forward(x))
            st_f = model.last_evaluation
            split = cell_cost_split(model)
            # the first adjoint of a process allocates its tape; later ones reuse it
            t_adj0, g = timed(lambda: model.adjoint(x, dy))
            t_adj, g = timed(lambda: model.adjoint(x, dy))
            st_a = model.last_evaluation
            rss = dict(model.worker_peak_rss_mb)
            tape = model.last_stack_bytes
            if workers == 1:
                site = site_reference(model, x)
            model.close()
            res[workers] = (t_fwd, t_adj, y, g, st_f, st_a)
            print(f"{workers} worker(s): start (read forcing, build cells) {t_start:6.1f} s, "
                  f"forward {t_fwd:6.1f} s, adjoint {t_adj:6.1f} s (first {t_adj0:.1f} s), "
                  f"adjoint tape per cell up to {tape / 1e6:.0f} MB, peak memory per worker "
                  + ", ".join(f"{v:.0f}" for v in rss.values()) + " MB")
            for label, st in (("forward", st_f), ("adjoint", st_a)):
                print(f"  {label}: CPU {st.cpu_per_tile_year * 1e3:6.1f} ms per tile-year "
                      f"({st.tile_years:.0f} tile-years), workers' CPU "
                      + " + ".join(f"{w['cpu_s']:.1f}" for w in st.workers.values())
                      + f" s, balance {st.balance:.2f}, parallel efficiency {st.efficiency:.2f}"
                      f" (busy / (workers x wall); < 1 on a loaded machine)")
            if split is not None:
                a, b = split
                print(f"  forward cost of a cell: {a * 1e3:.1f} ms per cell-year + "
                      f"{b * 1e3:.1f} ms per tile-year (fixed part = {a / b:.2f} tiles; "
                      f"CELL_COST_TILES used for balancing: {CELL_COST_TILES})")
        f1, a1, y1, g1, sf1, sa1 = res[1]
        f2, a2, y2, g2, sf2, sa2 = res[2]
        fs, as_, rs, ty0 = site
        b0f, b0a = sf1.batch_cpu_s[0], sa1.batch_cpu_s[0]
        print(f"site path in this process on the cells of batch 0 ({ty0:.0f} tile-years): "
              f"forward {fs / ty0 * 1e3:.1f}, adjoint {as_ / ty0 * 1e3:.1f}, run_cell "
              f"{rs / ty0 * 1e3:.1f} ms CPU per tile-year; the same cells in a worker: forward "
              f"{b0f / ty0 * 1e3:.1f}, adjoint {b0a / ty0 * 1e3:.1f}; regional / site "
              f"{b0f / fs:.2f} and {b0a / as_:.2f}")
        print(f"speed-up 1 -> 2 workers, wall clock: forward {f1 / f2:.2f}, adjoint "
              f"{a1 / a2:.2f} (target >= 1.8 on 2 idle cores)")
        cpu_su = [s1.cpu_s / max(w["cpu_s"] for w in s2.workers.values())
                  for s1, s2 in ((sf1, sf2), (sa1, sa2))]
        print(f"speed-up 1 -> 2 workers implied by CPU times (idle machine, CPU of 1 worker / "
              f"CPU of the busiest of 2): forward {cpu_su[0]:.2f}, adjoint {cpu_su[1]:.2f}")
        print(f"same results with 1 and 2 workers: y {np.array_equal(y1, y2)}, "
              f"gradient {np.array_equal(g1, g2)}")
        # projection to the case from CPU per tile-year (not from loaded wall time)
        tpc = ntile / dom.ncell
        ty432 = 432 * tpc * (13 * 8760 + 24 * args.spinup_days) / 8760.0
        pf = ty432 * sf2.cpu_per_tile_year / 2 / sf2.balance
        pa = ty432 * sa2.cpu_per_tile_year / 2 / sa2.balance
        print(f"projection to 432 cells x 13 years ({tpc:.2f} tiles per cell, "
              f"{ty432:.0f} tile-years) on 2 idle workers, from CPU per tile-year and the "
              f"measured balance: forward {pf:.0f} s (target <= 150), adjoint {pa:.0f} s "
              f"(target <= 450); wall-clock scaling of this run: forward "
              f"{f2 * ty432 / sf2.tile_years:.0f} s, adjoint {a2 * ty432 / sa2.tile_years:.0f} s")
        tape13 = 6 * 13 * 8760 * TAPE_BYTES_PER_TILE_HOUR / 1e6
        if tape13 > args.adjoint_memory_mb:
            print(f"  note: a 13-year cell of 6 tiles tapes about {tape13:.0f} MB, above the "
                  f"budget of {args.adjoint_memory_mb:.0f} MB: its adjoint re-runs in yearly "
                  "blocks (about one more forward)")
        per_cell = (sf1.cpu_s + sa1.cpu_s) / dom.ncell / (sf1.hours / 8760.0)
        ovh = dask_task_overhead()
        print(f"per-cell cost: {per_cell * 1e3:.1f} ms CPU per cell-year (forward + adjoint)"
              + (f"; Dask overhead {ovh * 1e3:.2f} ms per task"
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
