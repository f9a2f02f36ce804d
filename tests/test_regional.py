"""Regional runs: domain and gridded forcing, footprints from a PFT map, the RegionalModel
(gradient = sum of the cells' gradients, dot-product and finite-difference checks) and the
engines (same y and gradient with 1 and 2 workers, whatever the engine)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import tccas
from tccas.workflow import load_inputs
from tccas.control import build_control
from tccas.errors import ConfigError, InputDataError, ModelError
from tccas.model import CellModel, obs_arrays
from tccas.obs import ObservationSet
from tccas.parameters import PFT_NAMES
from tccas.regional import (CellForcing, Circle, Grid, GriddedForcingFile, PFTMap,
                            Rectangle, RegionalModel, domain_from_pft_map, footprint_table,
                            footprint_weights, make_engine, read_domain, read_gridded_forcing,
                            read_regional_obs, regional_observations, write_domain,
                            write_gridded_forcing, write_regional_obs)
from tccas.regional.domain import pixel_areas

START = np.datetime64("2017-01-01T00:00:00")
DAYS = 365
CONTROL = {"vcmax25": True, "lma": True, "c_fol0": True, "c_w": True, "sif_scale": True}


# --------------------------------------------------------------------------------------
# a small domain near ES-LM1: 2 x 2 cells of 0.25 deg, one of them water; a 0.01 deg PFT
# map of holm oak (TmEv) and C3 grass; forcing of ES-LM1 shifted per cell
# --------------------------------------------------------------------------------------
def _pft_map() -> PFTMap:
    lat = 39.755 + 0.01 * np.arange(50)       # pixels of 0.01 deg over 39.75..40.25
    lon = -5.995 + 0.01 * np.arange(50)       # -6.0 .. -5.5
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    rng = np.random.default_rng(7)
    tree_share = 0.2 + 0.5 * (la - la.min()) / np.ptp(la)        # more trees northwards
    code = np.where(rng.random(la.shape) < tree_share, 3, 9)
    code[(la > 40.0) & (lo > -5.75)] = 0                          # north-east cell: water
    code[rng.random(la.shape) < 0.05] = 0                         # scattered bare pixels
    return PFTMap(Grid(lat, lon), code, "test PFT map")


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("region")
    pmap = _pft_map()
    grid = Grid(np.array([39.875, 40.125]), np.array([-5.875, -5.625]))
    dom = domain_from_pft_map(pmap, grid, sand=np.array([[0.8, 0.7], [0.6, 0.5]]),
                              clay=0.1, soil_depth=np.array([[0.9, 1.2], [1.5, 2.0]]),
                              source="test domain")
    write_domain(tmp / "domain.nc", dom)
    dom = read_domain(tmp / "domain.nc")
    cfg = tccas.load_config("ES-LM1")
    _, forcing = load_inputs(cfg)
    i0 = int((START - forcing.times[0]).astype("timedelta64[h]").astype(int))
    times = forcing.times[i0:i0 + 24 * DAYS]
    met = forcing.matrix()[i0:i0 + 24 * DAYS]
    data = np.stack([met + np.where(np.arange(met.shape[1]) == 0, -0.7 * k, 0.0)
                     for k in range(dom.ncell)])
    write_gridded_forcing(tmp / "forcing.nc", dom, CellForcing(times, data,
                                                               np.arange(dom.ncell)))
    ff = GriddedForcingFile(tmp / "forcing.nc", dom)
    # observations: TROPOMI-like SIF rectangles at 13 UTC, SMOS-like SM circles at 6 UTC
    rng = np.random.default_rng(3)
    sets = []
    for stream, every, hour, make, value, sigma in (
            ("sif", 4, 13, lambda a, b: Rectangle(a, b, 3.5, 5.5, 10.0), 0.5, 0.2),
            ("sm", 6, 6, lambda a, b: Circle(a, b, 20.0), 0.2, 0.04)):
        t0 = times[::24][::every] + np.timedelta64(hour * 3600, "s")
        lat = rng.uniform(39.8, 40.2, t0.size)
        lon = rng.uniform(-5.95, -5.55, t0.size)
        eo, ec, ew, cov, kept = footprint_table([make(a, b) for a, b in zip(lat, lon)],
                                                pmap, dom, min_covered=0.2)
        n = t0.size
        o = ObservationSet(stream, t0, t0 + np.timedelta64(3600, "s"), np.full(n, value),
                           np.full(n, sigma), np.zeros(n, int), dom.pfts,
                           np.zeros((n, len(dom.pfts))))
        sets.append(regional_observations(o, dom, eo, ec, ew, keep=kept))
    return dom, ff, sets, pmap, tmp


@pytest.fixture(scope="module")
def serial(case):
    dom, ff, sets, _, _ = case
    m = RegionalModel(dom, ff, sets, control=CONTROL, nspin=24 * 60, engine="serial",
                      batch_size=2)
    yield m
    m.close()


# -- domain and forcing -----------------------------------------------------------------
def test_domain_from_pft_map_and_file_round_trip(case):
    dom, _, _, pmap, tmp = case
    assert dom.ncell == 3 and dom.pfts == (3, 9)                  # the water cell is out
    # hand-computed fractions of the south-west cell from the map's pixels
    inside = (pmap.grid.lat < 40.0)[:, None] & (pmap.grid.lon < -5.75)[None, :]
    area = np.broadcast_to(pixel_areas(pmap.grid), pmap.code.shape)
    tot = area[inside].sum()
    want = [area[inside & (pmap.code == p)].sum() / tot for p in (3, 9)]
    assert dom.pft_fraction("TmEv", 39.8, -5.9) == pytest.approx(want[0], rel=1e-12)
    assert dom.pft_fraction(9, 39.8, -5.9) == pytest.approx(want[1], rel=1e-12)
    assert dom.pft_fraction("EvCn", 39.8, -5.9) == 0.0
    assert dom.cell_at(40.2, -5.6) == -1                         # water
    k = dom.cell_at(40.2, -5.9)
    assert (dom.lat[k], dom.lon[k]) == (40.125, -5.875)
    assert dom.soil_depth[k] == 1.5 and dom.sand[k] == 0.6
    again = read_domain(write_domain(tmp / "again.nc", dom))
    np.testing.assert_array_equal(again.fraction, dom.fraction)


def test_gridded_forcing_is_read_per_cell(case):
    dom, ff, _, _, _ = case
    f = ff.read([2, 0])
    assert f.data.shape == (2, 24 * DAYS, 9)
    # cell k was written with tas shifted by -0.7 k (float32 on disk)
    np.testing.assert_allclose(f.met(0)[:, 0] - f.met(2)[:, 0], 1.4, atol=2e-4)
    np.testing.assert_array_equal(f.met(0), ff.read([0]).met(0))


def test_a_cell_with_bad_forcing_is_named_by_index_and_coordinates(case, tmp_path):
    dom, ff, _, _, _ = case
    f = ff.read()
    data = f.data.copy()
    data[1, 100, 1] = np.nan                      # rsds of cell 1
    data[2, 50, 1] = -5.0                         # and an impossible value in cell 2
    write_gridded_forcing(tmp_path / "bad.nc", dom, CellForcing(f.times, data, f.cells))
    with pytest.raises(InputDataError) as e:
        read_gridded_forcing(tmp_path / "bad.nc", dom)
    msg = str(e.value)
    assert "bad.nc" in msg and "'rsds'" in msg and "cell 1 (lat 39.8750 N, lon -5.6250 E)" \
        in msg and str(f.times[100]) in msg and "2 cells affected" in msg
    with pytest.raises(InputDataError, match=r"rsds.*cell 2 .*outside"):
        read_gridded_forcing(tmp_path / "bad.nc", dom, cells=[2])
    # a worker that reads it sends the same error back to the driver
    for name, _ in _engines()[:2]:
        with RegionalModel(dom, GriddedForcingFile(tmp_path / "bad.nc", dom), case[2],
                           control=CONTROL, engine=make_engine(name, 2), batch_size=1) as m:
            with pytest.raises(InputDataError,
                               match=r"bad.nc: variable 'rsds' at cell 1 \(lat"):
                m.forward(np.zeros(m.nx))


# -- footprints -------------------------------------------------------------------------
def _hand_map():
    # 2 x 2 model cells of 1 deg, map pixels of 0.5 deg; 0 = not vegetated
    code = np.array([[5, 5, 9, 0],
                     [5, 9, 9, 9],
                     [0, 5, 9, 5],
                     [9, 9, 5, 5]])
    c = np.arange(4) * 0.5 + 0.25
    pmap = PFTMap(Grid(c, c), code)
    grid = Grid(np.array([0.5, 1.5]), np.array([0.5, 1.5]))
    return pmap, domain_from_pft_map(pmap, grid, 0.5, 0.2, 1.0)


def test_footprint_weights_match_a_hand_computed_case():
    pmap, dom = _hand_map()
    cz = np.cos(np.radians([0.25, 0.75, 1.25, 1.75]))     # pixel areas by row
    # the cell fractions themselves: cell (0, 0) holds codes 5, 5 (row 0) and 5, 9 (row 1)
    assert dom.ncell == 4 and dom.pfts == (5, 9)
    k00 = dom.cell_at(0.5, 0.5)
    assert dom.fraction[k00] == pytest.approx([(2 * cz[0] + cz[1]) / (2 * cz[0] + 2 * cz[1]),
                                               cz[1] / (2 * cz[0] + 2 * cz[1])], rel=1e-12)
    R = 6371.0
    # a rectangle over the two middle pixel columns and all four rows
    rect = Rectangle(1.0, 1.0, width_km=2 * R * np.radians(0.5) * np.cos(np.radians(1.0)),
                     height_km=2 * R * np.radians(0.8))
    fw = footprint_weights(rect, pmap, dom)
    total = 2 * cz.sum()
    want = {(0, 0): [cz[0], cz[1]], (0, 1): [0.0, cz[0] + cz[1]],
            (1, 0): [cz[2], cz[3]], (1, 1): [cz[3], cz[2]]}
    assert fw.covered == pytest.approx(1.0)
    assert fw.weights.sum() == pytest.approx(1.0, abs=1e-14)
    for cell, w in zip(fw.cells, fw.weights):
        rc = (int(dom.row[cell]), int(dom.col[cell]))
        assert w == pytest.approx(np.array(want[rc]) / total, rel=1e-12), rc
    # all 16 pixels: the two bare ones are left out and reported as not covered
    big = Rectangle(1.0, 1.0, width_km=2 * R * np.radians(0.9) * np.cos(np.radians(1.0)),
                    height_km=2 * R * np.radians(0.9))
    fw = footprint_weights(big, pmap, dom)
    assert fw.covered == pytest.approx(1 - (cz[0] + cz[2]) / (4 * cz.sum()), rel=1e-12)
    assert fw.weights.sum() == pytest.approx(1.0, abs=1e-14)
    evcn = sum(cz[r] for r in range(4) for c in range(4) if pmap.code[r, c] == 5)
    assert fw.pft_fraction[0] == pytest.approx(evcn / (4 * cz.sum() - cz[0] - cz[2]))
    # a circle of 20 km inside one pixel of code 9 gives weight 1 on C3Gr of that cell
    fw = footprint_weights(Circle(0.75, 0.75, 20.0), pmap, dom, subsample=4)
    assert fw.cells.tolist() == [k00] and fw.weights[0] == pytest.approx([0.0, 1.0])
    # outside the map: nothing
    assert footprint_weights(Circle(30.0, 30.0, 20.0), pmap, dom).cells.size == 0


def test_footprint_weights_sum_to_one_and_a_centred_circle_splits_in_four(case):
    dom, _, sets, pmap, _ = case
    for r in sets:
        tot = np.zeros(len(r))
        np.add.at(tot, r.entry_obs, r.entry_weight.sum(axis=1))
        np.testing.assert_allclose(tot, 1.0, atol=1e-12)
        np.testing.assert_allclose(r.obs.footprint.sum(axis=1), 1.0, atol=1e-12)
    # SMOS circles spread over several cells
    assert np.bincount(sets[1].entry_obs).max() >= 2
    # a circle centred on a grid corner over uniform land
    land = PFTMap(pmap.grid, np.full(pmap.code.shape, 9))
    d = domain_from_pft_map(land, Grid(np.array([39.875, 40.125]),
                                       np.array([-5.875, -5.625])), 0.5, 0.1, 1.0)
    c = Circle(40.0, -5.75, 10.0)
    fw = footprint_weights(c, land, d, subsample=8)
    # by symmetry each of the four cells holds about a quarter
    assert fw.cells.size == 4 and fw.covered == pytest.approx(1.0)
    np.testing.assert_allclose(fw.weights.sum(axis=1), 0.25, atol=0.01)


def test_regional_observation_file_round_trip(case, tmp_path):
    dom, _, sets, _, _ = case
    p = write_regional_obs(tmp_path / "sm.nc", sets[1])
    r = read_regional_obs(p, dom)
    np.testing.assert_array_equal(r.entry_obs, sets[1].entry_obs)
    np.testing.assert_array_equal(r.entry_weight, sets[1].entry_weight)
    np.testing.assert_array_equal(r.obs.value, sets[1].obs.value)
    bad = regional_observations  # weights on a PFT a cell does not have are refused
    ew = sets[1].entry_weight.copy()
    with pytest.raises(InputDataError, match="sum to"):
        bad(sets[1].obs, dom, sets[1].entry_obs, sets[1].entry_cell, ew * 2)


# -- the regional model -----------------------------------------------------------------
def test_control_is_shared_per_pft_and_pools_per_cell(case):
    dom, ff, sets, _, _ = case
    m = RegionalModel(dom, ff, sets, control=CONTROL, engine="serial")
    assert m.control.names == ("vcmax25[TmEv]", "vcmax25[C3Gr]", "lma[TmEv]", "lma[C3Gr]",
                               "c_fol0[TmEv]", "c_fol0[C3Gr]", "c_w", "sif_scale")
    m2 = RegionalModel(dom, ff, sets, control=CONTROL, pools="cell", engine="serial")
    pools = [n for n in m2.control.names if n.startswith("c_fol0")]
    assert pools == [f"c_fol0[{PFT_NAMES[p]}]@cell{k}" for p in dom.pfts
                     for k in range(dom.ncell)]
    assert m2.nx == m.nx - 2 + 2 * dom.ncell
    with pytest.raises(ConfigError, match="pools"):
        RegionalModel(dom, ff, sets, control=CONTROL, pools="grid", engine="serial")


def _cell_models(case, nspin):
    """Each cell as an independent site model (its own build_control over its PFTs)."""
    dom, ff, sets, _, _ = case
    f = ff.read()
    out = []
    for k in range(dom.ncell):
        st = dom.static(k)
        from tccas.parameters import global_defaults, pft_defaults
        ppft, pglob = pft_defaults(st.pft), global_defaults()
        ctl = build_control(st.pft, ppft, pglob, CONTROL)
        cell_sets, rows, off = [], [], 0
        for r in sets:
            e = np.nonzero(r.entry_cell == k)[0]
            e = e[np.argsort(r.entry_obs[e])]
            o = r.obs.subset(r.entry_obs[e])
            cols = [dom.pfts.index(p) for p in st.pft]
            cell_sets.append(ObservationSet(o.stream, o.t_start, o.t_end, o.value, o.sigma,
                                            o.qc, st.pft, r.entry_weight[e][:, cols]))
            rows.append(off + r.entry_obs[e])
            off += len(r)
        oa = obs_arrays(cell_sets, f.times, st.pft)
        cm = CellModel(f.met(k), f.times, st.lat, st.lon, st.sand, st.clay, st.pft, ppft,
                       pglob, ctl, oa, nspin=nspin)
        out.append((cm, np.concatenate(rows)))
    return out


def test_regional_gradient_is_the_sum_of_cell_gradients(case, serial):
    x = np.random.default_rng(1).normal(0, 0.3, serial.nx)
    dy = np.random.default_rng(2).normal(size=serial.ny)
    y, g = serial.forward(x), serial.adjoint(x, dy)
    y_sum, g_sum = np.zeros(serial.ny), np.zeros(serial.nx)
    names = serial.control.names
    for cm, rows in _cell_models(case, serial.nspin):
        xmap = [names.index(n) for n in cm.control.names]
        np.add.at(y_sum, rows, cm.forward(x[xmap]))
        np.add.at(g_sum, xmap, cm.adjoint(x[xmap], dy[rows]))
    np.testing.assert_allclose(y, y_sum, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(g, g_sum, rtol=1e-12, atol=1e-14 * np.abs(g).max())
    assert np.all(g != 0)
    assert serial.last_stack_bytes > 0


def test_dot_product_and_finite_differences(serial):
    rng = np.random.default_rng(4)
    x = rng.normal(0, 0.3, serial.nx)
    dx, dy = rng.normal(size=serial.nx), rng.normal(size=serial.ny)
    y, jdx = serial.tangent(x, dx)
    jtdy = serial.adjoint(x, dy)
    lhs, rhs = jdx @ dy, dx @ jtdy
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), abs(rhs))
    np.testing.assert_allclose(y, serial.forward(x), rtol=1e-13)
    # tangent against central differences, per component
    for k in range(serial.nx):
        e = np.zeros(serial.nx)
        e[k] = 1.0
        h = 1e-4
        fd = (serial.forward(x + h * e) - serial.forward(x - h * e)) / (2 * h)
        _, t = serial.tangent(x, e)
        scale = max(np.abs(t).max(), 1e-12)
        assert np.abs(fd - t).max() <= 1e-5 * scale, serial.control.names[k]


def test_evaluation_stats_count_tile_years_and_cpu(serial):
    x = np.zeros(serial.nx)
    serial.forward(x)
    st = serial.last_evaluation
    tiles = sum(t.ntile for t in serial.tasks)
    assert st.op == "forward" and list(st.workers) == [os.getpid()]
    assert st.tile_years == pytest.approx(tiles * (DAYS * 24 + serial.nspin) / 8760)
    assert st.cpu_s > 0 and st.cpu_per_tile_year == pytest.approx(st.cpu_s / st.tile_years)
    assert sorted(st.batch_cpu_s) == [b.index for b in serial.batches]
    assert 0 < st.efficiency <= 1.0 + 1e-9 and st.balance == 1.0
    # balancing cost: tiles plus a fixed part per cell
    from tccas.regional.model import CELL_COST_TILES
    b = serial.batches[0]
    assert b.cost == pytest.approx(b.tiles + CELL_COST_TILES * len(b.tasks))


def _engines():
    out = [("processes", {})]
    if importlib.util.find_spec("distributed"):
        out.append(("dask", {}))
    if importlib.util.find_spec("mpi4py") and os.environ.get("TCCAS_TEST_MPI", "1") == "1":
        out.append(("mpi", {}))
    return out


# Open MPI refuses root and more processes than cores unless told (this machine's tests
# run as root on 2 cores); harmless for other MPI libraries
_MPI_ENV = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
            "OMPI_MCA_rmaps_base_oversubscribe": "1"}


@pytest.mark.parametrize("name,opts", _engines())
def test_engines_give_the_same_y_and_gradient_with_1_and_2_workers(case, serial, name, opts,
                                                                     monkeypatch):
    dom, ff, sets, _, _ = case
    if name == "mpi":
        for k, v in _MPI_ENV.items():
            monkeypatch.setenv(k, v)
    rng = np.random.default_rng(5)
    x = rng.normal(0, 0.3, serial.nx)
    dy = rng.normal(size=serial.ny)
    y0, g0 = serial.forward(x), serial.adjoint(x, dy)
    for workers in (1, 2):
        with RegionalModel(dom, ff, sets, control=CONTROL, nspin=serial.nspin,
                           engine=make_engine(name, workers, **opts), batch_size=2) as m:
            y, g = m.forward(x), m.adjoint(x, dy)
            _, jdx = m.tangent(x, g)
            assert len(m.worker_peak_rss_mb) == workers         # distinct processes
            assert os.getpid() not in m.worker_peak_rss_mb
            st = m.last_evaluation                              # the tangent's timing
            assert st.op == "tangent" and len(st.workers) == workers
            assert sum(w["tiles"] for w in st.workers.values()) == \
                sum(t.ntile for t in m.tasks)
            assert all(w["cpu_s"] > 0 for w in st.workers.values())
        # the same batches summed in the same order: identical to the last bit
        np.testing.assert_array_equal(y, y0)
        np.testing.assert_array_equal(g, g0)
        assert jdx @ dy == pytest.approx(g @ g, rel=1e-12)


_SPMD = """
import sys
import numpy as np
from mpi4py import MPI
from tccas.regional import GriddedForcingFile, RegionalModel, read_domain, read_regional_obs
from tccas.regional.engines import MPIEngine, mpi_worker_loop
if MPI.COMM_WORLD.Get_rank() > 0:
    mpi_worker_loop()
    sys.exit(0)
d = sys.argv[1]
dom = read_domain(d + "/domain.nc")
sets = [read_regional_obs(d + f"/{s}.nc", dom) for s in ("sif", "sm")]
m = RegionalModel(dom, GriddedForcingFile(d + "/forcing.nc", dom), sets, control=%r,
                  nspin=%d, engine="mpi", batch_size=2)
x = np.load(d + "/x.npy")
dy = np.load(d + "/dy.npy")
np.savez(d + "/out.npz", y=m.forward(x), g=m.adjoint(x, dy))
m.close()
MPIEngine.shutdown_workers()
"""


@pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or shutil.which("mpirun") is None,
                    reason="mpi4py or mpirun not installed")
def test_mpi_engine_under_mpirun(case, serial):
    dom, ff, sets, _, tmp = case
    for r in sets:
        write_regional_obs(tmp / f"{r.stream}.nc", r)
    rng = np.random.default_rng(6)
    x, dy = rng.normal(0, 0.3, serial.nx), rng.normal(size=serial.ny)
    np.save(tmp / "x.npy", x)
    np.save(tmp / "dy.npy", dy)
    (tmp / "spmd.py").write_text(_SPMD % (CONTROL, serial.nspin))
    env = {**os.environ, **_MPI_ENV}
    p = subprocess.run(["mpirun", "-n", "3", sys.executable, str(tmp / "spmd.py"), str(tmp)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    out = np.load(tmp / "out.npz")
    np.testing.assert_array_equal(out["y"], serial.forward(x))
    np.testing.assert_array_equal(out["g"], serial.adjoint(x, dy))


def test_bad_arguments_are_refused_before_any_worker_runs(case, serial):
    with pytest.raises(ModelError, match="outside its bounds"):
        serial.forward(np.full(serial.nx, 1e6))
    with pytest.raises(ModelError, match="shape"):
        serial.adjoint(np.zeros(serial.nx), np.zeros(serial.ny + 1))
    with pytest.raises(ModelError, match="NaN"):
        serial.tangent(np.zeros(serial.nx), np.full(serial.nx, np.nan))


def test_engine_choice_errors(monkeypatch):
    with pytest.raises(ConfigError, match="unknown engine 'spark'"):
        make_engine("spark")
    with pytest.raises(ConfigError, match="workers"):
        make_engine("processes", 0)
    import builtins
    real = builtins.__import__

    def fake(name, *a, **k):
        if name.split(".")[0] in ("distributed", "mpi4py"):
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ConfigError, match=r"regional-dask"):
        make_engine("dask", 2)
    with pytest.raises(ConfigError, match=r"regional-mpi"):
        make_engine("mpi", 2)


def test_tccas_run_on_a_regional_config_writes_gridded_netcdf(case, serial, tmp_path):
    import netCDF4
    from tccas.cli import main
    from tccas.config import read_config
    dom, ff, sets, _, tmp = case
    for r in sets:
        write_regional_obs(tmp / f"{r.stream}.nc", r)
    cfg_path = tmp_path / "region.toml"
    cfg_path.write_text(f"""
[region]
name = "test-region"
domain = "{tmp / 'domain.nc'}"
forcing = "{tmp / 'forcing.nc'}"
engine = "processes"
workers = 2
batch_size = 2

[run]
start = 2017-01-01
end = 2017-12-31
spinup_hours = {serial.nspin}

[observations]
sif = "{tmp / 'sif.nc'}"
sm = "{tmp / 'sm.nc'}"

[control]
parameters = {list(CONTROL)}
""")
    cfg = read_config(cfg_path)
    assert cfg.region.workers == 2 and cfg.region.pools == "pft"
    assert main(["run", str(cfg_path), "-o", str(tmp_path / "out"), "--engine", "serial",
                 "-q"]) == 0
    out = tmp_path / "out"
    with netCDF4.Dataset(out / "daily.nc") as ds:
        assert ds.variables["gpp"].dimensions == ("time", "pft", "lat", "lon")
        assert ds.variables["gpp_cell"].dimensions == ("time", "lat", "lon")
        assert ds.dimensions["time"].size == DAYS
        # chunked for a day's map and a cell's series: all days up to a year, the whole grid
        nlat, nlon = ds.dimensions["lat"].size, ds.dimensions["lon"].size
        assert ds.variables["gpp_cell"].chunking() == [min(DAYS, 366), nlat, nlon]
        assert ds.variables["gpp"].chunking() == [min(DAYS, 366), 1, nlat, nlon]
        gpp = ds.variables["gpp_cell"][:]
        assert gpp.mask[:, 1, 1].all()                     # the water cell
        k = dom.cell_at(39.8, -5.9)
        assert np.all(gpp[:, 0, 0] >= 0) and gpp[:, 0, 0].sum() > 100
        frac = ds.variables["pft_fraction"][:, 0, 0]
        np.testing.assert_allclose(frac, dom.fraction[k], rtol=1e-6)
        gpp_pft = ds.variables["gpp"][:, :, 0, 0]
        np.testing.assert_allclose(gpp[:, 0, 0], gpp_pft @ dom.fraction[k], rtol=1e-5)
    # the simulated observations of the full run equal the x -> y map at the prior (with
    # the phenology rule over the domain, as tccas run applies it)
    with RegionalModel(dom, ff, sets, control=CONTROL, nspin=serial.nspin, engine="serial",
                       batch_size=2, phenology_rule=True) as m:
        y = m.forward(np.zeros(m.nx))
        assert m.phenology_days["d_onset"]
    for r in sets:
        with netCDF4.Dataset(out / "obs" / f"{r.stream}.nc") as ds:
            np.testing.assert_allclose(ds.variables["simulated"][:], y[serial.slices[r.stream]],
                                       rtol=1e-10)
    # the output folder rules of a site run: an earlier run is refused, --overwrite replaces
    # it, the manifest lists the files, and the inputs' folder is refused
    manifest = (out / ".tccas-files").read_text().split()
    assert "daily.nc" in manifest and "obs/sif.nc" in manifest and "summary.txt" in manifest
    args = ["run", str(cfg_path), "-o", str(out), "--engine", "serial", "-q"]
    assert main(args) == 2 and not (out / ".tccas-lock").exists()     # a ConfigError
    stray = out / "obs" / "old.nc"
    stray.write_bytes(b"")
    (out / ".tccas-files").write_text((out / ".tccas-files").read_text() + "obs/old.nc\n")
    assert main(args + ["--overwrite"]) == 0
    assert not stray.exists() and (out / "daily.nc").exists()
    with pytest.raises(ConfigError, match="holds the input file domain.nc"):
        tccas.run(cfg_path, output_dir=tmp, engine="serial", overwrite=True)
    assert "test-region" in (out / "summary.txt").read_text()
    # tccas plot on the run folder draws maps of the cell values
    assert main(["plot", str(out)]) == 0
    assert (out / "maps.png").stat().st_size > 10000 and (out / "obs.png").exists()
    from tccas.regional.plots import cell_map, plot_map_panels
    prior = cell_map(dom, np.arange(dom.ncell, dtype=float))
    assert np.isnan(prior[1, 1]) and prior[dom.row[2], dom.col[2]] == 2.0
    p = plot_map_panels({"prior": prior, "posterior": prior + 1, "difference": prior * 0 + 1,
                         "uncertainty reduction": prior / 3}, dom.grid, tmp_path / "p.png")
    assert p.stat().st_size > 10000
    with pytest.raises(ConfigError, match="engine must be one of"):
        cfg_path.write_text(cfg_path.read_text().replace('"processes"', '"spark"'))
        read_config(cfg_path)


def test_regional_model_for_a_config_gives_the_sets_of_y(case, serial, tmp_path):
    from tccas.config import read_config
    from tccas.regional.workflow import regional_model_for
    dom, ff, sets, _, tmp = case
    for r in sets:
        write_regional_obs(tmp / f"{r.stream}.nc", r)
    p = tmp_path / "c.toml"
    p.write_text(f"""
[region]
domain = "{tmp / 'domain.nc'}"
forcing = "{tmp / 'forcing.nc'}"
engine = "serial"
batch_size = 2
pools = "cell"
[run]
start = 2017-02-01
end = 2017-06-30
spinup_hours = 240
[observations]
sm = "{tmp / 'sm.nc'}"
[control]
parameters = ["vcmax25", "c_fol0"]
""")
    model, obs = regional_model_for(read_config(p))
    with model:
        assert [o.stream for o in obs] == ["sm"]
        assert model.ny == len(obs[0]) < len(sets[1])              # the period's records only
        assert obs[0].t_start.min() >= np.datetime64("2017-02-01")
        assert model.times.size == 24 * 150
        assert "c_fol0[C3Gr]@cell2" in model.control.names
        y = model.forward(np.zeros(model.nx))
        assert np.all(np.isfinite(y)) and np.all((y > 0) & (y < 0.6))   # m3 m-3


def test_lapland_generator_writes_a_twin_case_whose_observations_fit_the_truth(tmp_path):
    import json
    from tccas.config import read_config
    from tccas.regional.lapland import LAPLAND_PFTS, make_lapland_case
    from tccas.regional.workflow import regional_model_for
    d = make_lapland_case(tmp_path / "lap", nlat=2, nlon=2, first_year=2017, last_year=2017,
                          spinup_years=0, window_start="2017-01-01", engine="serial")
    cfg = read_config(d / "config.toml")
    model, sets = regional_model_for(cfg)
    with model:
        assert set(model.domain.pfts) <= set(LAPLAND_PFTS) and len(model.domain.pfts) >= 4
        assert [o.stream for o in sets] == ["sif", "vod", "sm"]
        truth = json.loads((d / "truth.json").read_text())["x"]
        x = np.array([truth[n] for n in model.control.names])
        y = model.forward(x)
        for o in sets:
            z = (o.value - y[model.slices[o.stream]]) / o.sigma
            if o.stream != "sif":
                z = z[o.value > 0]                  # values clipped at zero
            # observations = truth + N(0, sigma): normalised residuals of unit variance
            assert 0.6 < np.mean(z ** 2) < 1.5, o.stream
            assert abs(z.mean()) < 4 / np.sqrt(z.size), o.stream
    # the AGB validation maps: a 0.5 deg map cell covers the 2 x 2 cells of the domain
    agb = read_regional_obs(d / "validation" / "agb_0.5deg.nc", model.domain)
    assert len(agb) == 1 and sorted(agb.entry_cell.tolist()) == list(range(4))
    assert 5 < agb.obs.value[0] < 300                      # Mg ha-1, boreal forest
    fine = read_regional_obs(d / "validation" / "agb_0.1deg.nc", model.domain)
    assert 15 <= len(fine) <= 25 and fine.obs.attrs["map"] == "agb_0.1deg"


def test_a_map_cell_equal_to_a_model_cell_has_the_cells_cover_as_weights(case):
    """Footprints and domain fractions use the same pixels and areas: a Box that is one
    model cell gets that cell's PFT fractions (renormalised over its vegetated part)."""
    from tccas.regional import Box, gridded_observations
    dom, _, _, pmap, _ = case
    for k in range(dom.ncell):
        g = dom.grid
        r, c = dom.row[k], dom.col[k]
        box = Box(g.lat_edges[r], g.lat_edges[r + 1], g.lon_edges[c], g.lon_edges[c + 1])
        fw = footprint_weights(box, pmap, dom)
        assert fw.cells.tolist() == [k]
        np.testing.assert_allclose(fw.weights[0], dom.fraction[k] / dom.fraction[k].sum(),
                                   rtol=1e-12)
    # an AGB-like map at 0.125 deg: four map cells per model cell; the water cell's are
    # dropped; each map cell lies in one model cell
    mg = Grid(39.8125 + 0.125 * np.arange(4), -5.9375 + 0.125 * np.arange(4))
    value = np.full(mg.shape, 80.0)
    value[0, 0] = np.nan
    r, rows, cols = gridded_observations("agb", value, np.full(mg.shape, 20.0), mg,
                                         np.datetime64("2017-06-01"),
                                         np.datetime64("2017-07-01"), pmap, dom)
    assert len(r) == 16 - 1 - 4 and r.entry_obs.size == len(r)
    assert not ((rows == 0) & (cols == 0)).any() and not ((rows >= 2) & (cols >= 2)).any()


def test_a_coarser_map_cell_is_the_area_weighted_sum_of_its_model_cells(case, serial,
                                                                         tmp_path):
    """An AGB map at 0.5 deg (coarser than the 0.25 deg model grid): its one cell covers the
    domain, its entries weigh each model cell by its vegetated area, and the simulated AGB
    of the map cell is the area-weighted sum of the model cells' own (box) values. The map
    keeps its grid through a file."""
    from tccas.regional import Box, gridded_observations
    dom, ff, _, pmap, _ = case
    t0, t1 = np.datetime64("2017-07-01"), np.datetime64("2017-07-02")
    coarse = Grid(np.array([40.0, 40.5]), np.array([-5.75, -5.25]))    # 0.5 deg cells
    value = np.full(coarse.shape, np.nan)
    value[0, 0] = 60.0                                  # the cell that is the domain
    rc, rows, cols = gridded_observations("agb", value, np.full(coarse.shape, 15.0), coarse,
                                          t0, t1, pmap, dom, min_covered=0.1)
    assert len(rc) == 1 and (rows.tolist(), cols.tolist()) == ([0], [0])
    assert rc.map_grid is coarse and sorted(rc.entry_cell.tolist()) == list(range(dom.ncell))
    share = np.zeros(dom.ncell)
    share[rc.entry_cell] = rc.entry_weight.sum(axis=1)
    g = dom.grid
    veg_area = dom.fraction.sum(axis=1) * np.cos(np.radians(dom.lat))
    np.testing.assert_allclose(share, veg_area / veg_area.sum(), rtol=2e-3)
    # the model cells' own boxes, as map cells of the model grid
    fine = Grid(g.lat, g.lon)
    v = np.full(g.shape, np.nan)
    v[dom.row, dom.col] = 60.0
    rf, frow, fcol = gridded_observations("agb", v, np.full(g.shape, 15.0), fine, t0, t1, pmap,
                                          dom, min_covered=0.1)
    with RegionalModel(dom, ff, [rc, rf], control=CONTROL, nspin=serial.nspin,
                       engine="serial") as m:
        y = m.forward(np.full(m.nx, 0.2))
    cell_of = {int(c): k for k, c in enumerate(rf.entry_cell)}
    per_cell = np.array([y[1 + cell_of[c]] for c in range(dom.ncell)])
    assert y[0] == pytest.approx(share @ per_cell, rel=1e-12)
    assert np.ptp(per_cell) > 0                         # the cells differ
    # the map's grid and cells survive a file
    write_regional_obs(tmp_path / "agb.nc", rc)
    back = read_regional_obs(tmp_path / "agb.nc", dom)
    assert back.is_map and back.map_grid.shape == (2, 2)
    np.testing.assert_allclose(back.map_grid.lat_edges, coarse.lat_edges)
    assert (back.map_row.tolist(), back.map_col.tolist()) == ([0], [0])
    write_regional_obs(tmp_path / "sif.nc", case[2][0])
    assert not read_regional_obs(tmp_path / "sif.nc", dom).is_map
    # validation on the map's own grid: a file, scores, a figure
    from tccas.regional.assimilate import (map_validation_lines, plot_map_validation,
                                           write_map_validation)
    one = np.ones(1)
    mv = write_map_validation(tmp_path / "val.nc", back, 60 * one, 15 * one, y[:1],
                              y[:1] + 3.0, 4 * one, 2 * one)
    assert mv.fields["observed"][0, 0] == 60 and np.isnan(mv.fields["observed"][1, 1])
    assert mv.scores["bias_posterior"] == pytest.approx(y[0] + 3.0 - 60)
    assert mv.scores["rmse_prior"] == pytest.approx(abs(y[0] - 60))
    assert any("0.5 x 0.5 deg" in ln for ln in map_validation_lines("agb", mv))
    if importlib.util.find_spec("matplotlib"):
        assert plot_map_validation(mv, tmp_path / "val.png").stat().st_size > 0


@pytest.mark.skipif(importlib.util.find_spec("dask_jobqueue") is None or
                    shutil.which("sbatch") is not None,
                    reason="needs dask-jobqueue and a machine without SLURM")
def test_dask_slurm_cluster_that_never_starts_fails_clearly():
    e = make_engine("dask", 1, cluster="slurm", cluster_options={"cores": 1, "memory": "1GB"},
                    wait_s=2)
    with pytest.raises(ModelError, match=r"no slurm worker joined within 2 s(.|\n)*#SBATCH"):
        e.start([], 100.0)
    with pytest.raises(ConfigError, match="unknown options"):
        make_engine("dask", 1, scheduler="tcp://x")


def test_pools_per_cell_split_the_shared_pool_gradient(case, serial):
    """At x = 0 both set-ups are the same model; the gradient of a shared pool is the sum
    of the gradients of its per-cell copies, and every other element is unchanged."""
    dom, ff, sets, _, _ = case
    dy = np.random.default_rng(8).normal(size=serial.ny)
    g_pft = serial.adjoint(np.zeros(serial.nx), dy)
    with RegionalModel(dom, ff, sets, control=CONTROL, pools="cell", nspin=serial.nspin,
                       engine="serial", batch_size=2) as m:
        g_cell = m.adjoint(np.zeros(m.nx), dy)
        np.testing.assert_allclose(m.forward(np.zeros(m.nx)), serial.forward(np.zeros(
            serial.nx)), rtol=1e-14)
    names = m.control.names
    for k, name in enumerate(serial.control.names):
        parts = [g_cell[j] for j, n in enumerate(names) if n.startswith(name + "@cell")]
        if parts:
            assert len(parts) == dom.ncell and np.count_nonzero(parts) >= 2
            assert sum(parts) == pytest.approx(g_pft[k], rel=1e-12)
        else:
            assert g_cell[names.index(name)] == pytest.approx(g_pft[k], rel=1e-12)


def test_a_transect_of_one_row_keeps_its_cell_size(tmp_path):
    """A grid axis of one cell needs its size: given as dlat, kept in the file as CF
    bounds, used by footprints."""
    with pytest.raises(InputDataError, match="single cell"):
        Grid(np.array([60.125]), np.array([25.125, 25.375]))
    pmap = PFTMap(Grid(60.0 + 0.0125 + 0.025 * np.arange(10), 25.0125 + 0.025 * np.arange(20)),
                  np.tile(np.repeat([5, 9], 10), (10, 1)))
    grid = Grid(np.array([60.125]), np.array([25.125, 25.375]), dlat=0.25)
    dom = domain_from_pft_map(pmap, grid, 0.6, 0.1, 1.0)
    assert dom.ncell == 2 and dom.fraction.tolist() == [[1.0, 0.0], [0.0, 1.0]]
    again = read_domain(write_domain(tmp_path / "t.nc", dom))
    assert again.grid.step_lat == pytest.approx(0.25)
    fw = footprint_weights(Circle(60.125, 25.25, 5.0), pmap, again, subsample=2)
    assert sorted(fw.cells.tolist()) == [0, 1]
    np.testing.assert_allclose(fw.weights.sum(axis=1), 0.5, atol=0.02)


def test_ascat_footprints_must_fall_into_one_cell(case):
    """sigma40 adds in power within a cell's tiles and then goes to dB, so the regional sum
    over cells is exact only for a footprint inside one cell: wider ones are refused."""
    dom, ff, _, pmap, _ = case
    t0 = START + np.arange(3) * np.timedelta64(86400, "s") + np.timedelta64(9 * 3600, "s")

    def sets(radius_km, lat):
        eo, ec, ew, cov, kept = footprint_table([Circle(a, -5.9, radius_km) for a in lat],
                                                pmap, dom, min_covered=0.2)
        o = ObservationSet("sigma40", t0, t0 + np.timedelta64(3600, "s"), np.full(3, -10.0),
                           np.full(3, 0.3), np.zeros(3, int), dom.pfts,
                           np.zeros((3, len(dom.pfts))), np.full(3, 40.0))
        return [regional_observations(o, dom, eo, ec, ew, keep=kept)]

    with pytest.raises(tccas.ConfigError, match=r"sigma40 observation 0 .* covers [23] cells"):
        RegionalModel(dom, ff, sets(30.0, [40.0, 39.8, 39.9]), control=CONTROL,
                      engine="serial")
    with RegionalModel(dom, ff, sets(3.0, [39.8, 39.85, 39.9]), control=CONTROL, nspin=0,
                       engine="serial") as m:
        y = m.forward(np.zeros(m.nx))
    assert y.shape == (3,) and np.all((y > -25) & (y < -3))
# -- the per-cell prior (tccas.regional.prior) -------------------------------------------
def test_circular_mean_of_days_wraps_the_year():
    from tccas.regional.prior import circular_mean_day
    m, spread = circular_mean_day(np.array([360.0, 10.0]), np.array([1.0, 1.0]))
    assert m == pytest.approx(2.5, abs=1e-9) and spread == pytest.approx(7.5, abs=1e-9)
    m, _ = circular_mean_day(np.array([100.0, 130.0]), np.array([2.0, 1.0]))
    assert 109 < m < 111                                 # near the weighted mean 110


def test_domain_phenology_is_the_area_weighted_rule_of_its_cells(case):
    """The phenology rule per PFT over the domain: between the cells' own rule days, equal
    to the site rule for a domain of one cell, and days given in [parameters] are kept."""
    from tccas.phenology import climate_phenology
    from tccas.regional.model import regional_parameters
    from tccas.regional.prior import domain_phenology
    dom, ff, _, _, _ = case
    ppft, _ = regional_parameters(dom)
    days = domain_phenology(dom, ff, ppft)
    f = ff.read()
    per_cell = []
    for k in range(dom.ncell):
        cols = dom.cell_columns(k)
        per_cell.append(climate_phenology(f.times, f.data[k], float(dom.lat[k]),
                                          [dom.pfts[c] for c in cols], ppft[:, cols]))
    assert any(days[n] for n in days)
    for name, table in days.items():
        for p, d in table.items():
            got = [c[name][p] for c in per_cell if p in c[name]]
            assert min(got) - 1e-9 <= d <= max(got) + 1e-9
    one = domain_phenology(dom, ff, ppft, max_cells=1)     # a sample of one cell: cell 0
    for n in per_cell[0]:
        assert one[n] == pytest.approx(per_cell[0][n], abs=1e-9)
    given = domain_phenology(dom, ff, ppft, given={"d_onset": 120.0})
    assert given["d_onset"] == {} and given["d_fall"] == days["d_fall"]


@pytest.mark.parametrize("pools", ["cell", "pft"])
def test_equilibrium_spinup_per_cell(case, pools):
    """carbon_spinup = "equilibrium": each cell starts at its own equilibrium (the site's
    equilibrium_pools on that cell) and its pool elements are centred on it; a shared
    element moves every cell by the same number of its own sigmas; the processes engine
    gives the serial engine's y."""
    from tccas.spinup import equilibrium_pools
    dom, ff, sets, _, _ = case
    ctl = {"vcmax25": True, "c_fol0": True, "c_som0": True, "sif_scale": True}
    kw = dict(control=ctl, nspin=24 * 365, pools=pools, carbon_spinup="equilibrium")
    with RegionalModel(dom, ff, sets, engine="serial", batch_size=2, **kw) as m:
        c = m.control                                   # starts the workers
        f = ff.read()
        for t in m.tasks:
            eq = equilibrium_pools(f.met(t.cell), f.times, t.lat, t.lon, t.sand, t.clay,
                                   list(t.pfts), m.ppft[:, dom.cell_columns(t.cell)], m.pglob,
                                   24 * 365)
            rows = [tccas.parameters.pft_index(n) for n in ("c_fol0", "c_som0")]
            np.testing.assert_allclose(t.ppft0[rows], eq.pools[[1, 5]], rtol=1e-12)
            for k, name in enumerate(t.control.names):
                if name.startswith("c_fol0"):
                    v = max(eq.pools[1, int(t.control.tile[k]) - 1], 1.0)   # lower bound
                    assert t.control.prior[k] == pytest.approx(v, rel=1e-12)
                    if pools == "cell":
                        assert c.prior[t.xmap[k]] == pytest.approx(v, rel=1e-12)
        if pools == "pft":
            j = c.names.index("c_fol0[TmEv]")
            cells = [t for t in m.tasks if "c_fol0[TmEv]" in t.control.names]
            vals = [t.control.prior[t.control.names.index("c_fol0[TmEv]")] for t in cells]
            assert len(cells) >= 2 and np.ptp(vals) > 0           # cells keep their own
            assert min(vals) <= c.prior[j] <= max(vals)
        x = np.full(m.nx, 0.1)
        y = m.forward(x)
    with RegionalModel(dom, ff, sets, engine=make_engine("processes", 2), batch_size=2,
                       **kw) as m2:
        np.testing.assert_array_equal(m2.control.prior, c.prior)
        np.testing.assert_array_equal(m2.forward(x), y)
