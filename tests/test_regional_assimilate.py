"""`tccas assimilate` and `tccas validate` on a regional configuration: a tiny Lapland twin
case (2 x 2 cells, 2017, no spin-up) with SIF, VOD and SM assimilated and the two AGB maps
withheld."""
from __future__ import annotations

import multiprocessing
import subprocess
import sys

import numpy as np
import pytest

import tccas
from tccas.da.minimise import Interrupted, read_checkpoint
from tccas.errors import ConfigError, InputDataError

CONTROL = '["vcmax25", "c_fol0", "sif_scale", "vod_b"]'


def _config(case, engine="processes", workers=2, iterations=4) -> str:
    return f"""[region]
name = "Lapland"
domain = "{case}/domain.nc"
forcing = "{case}/forcing.nc"
engine = "{engine}"
workers = {workers}
batch_size = 2

[run]
start = 2017-01-01
end = 2017-12-31
spinup_hours = 0

[observations]
sif = "{case}/obs/sif.nc"
vod = "{case}/obs/vod.nc"
sm = "{case}/obs/sm.nc"
agb = ["{case}/validation/agb_0.1deg.nc", "{case}/validation/agb_0.5deg.nc"]

[control]
parameters = {CONTROL}

[assimilation]
start = 2017-01-01
end = 2017-12-31
streams = ["sif", "vod", "sm"]
max_iterations = {iterations}
"""


@pytest.fixture(scope="module")
def lapland(tmp_path_factory):
    """The case and the output folder of `tccas assimilate` on it (the command line)."""
    from tccas.regional.lapland import make_lapland_case
    tmp = tmp_path_factory.mktemp("regassim")
    case = make_lapland_case(tmp / "lap", nlat=2, nlon=2, first_year=2017, last_year=2017,
                             spinup_years=0, window_start="2017-01-01", engine="serial")
    cfg = tmp / "assim.toml"
    cfg.write_text(_config(case))
    out = tmp / "out"
    r = subprocess.run([sys.executable, "-m", "tccas", "assimilate", str(cfg), "-o", str(out),
                        "-q", "--no-figures"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return case, cfg, out, r.stdout


def test_regional_assimilate_reduces_the_cost_and_writes_the_outputs(lapland):
    import netCDF4
    case, cfg, out, stdout = lapland
    assert "region Lapland: 4 observed cells of 4" in stdout
    with netCDF4.Dataset(out / "assimilation.nc") as ds:
        cost = np.asarray(ds["cost"][:])
        s0, s1 = np.asarray(ds["sigma_prior"][:]), np.asarray(ds["sigma_posterior"][:])
        names = [str(n) for n in ds["control_name"][:]]
        assert ds.assimilated_streams == "sif vod sm"
        assert ds.observation_streams == "sif vod sm agb"
        assert not np.asarray(ds["agb_assimilated"][:]).any()
        assert np.asarray(ds["sif_assimilated"][:]).all()
        a0, a1 = (np.asarray(ds[f"agb_sim_sigma_{k}"][:]) for k in ("prior", "posterior"))
        assert ds.dimensions["obs_agb"].size >= 16          # both maps, joined
    assert cost[-1] < 0.5 * cost[0]                   # VOD starts far from the twin truth
    assert "sif_scale" in names and "vcmax25[EvCn]" in names
    assert np.all(s1 <= s0 * (1 + 1e-12)) and np.any(s1 < 0.9 * s0)
    assert np.all(a1 <= a0 * (1 + 1e-9)) and np.all(a0 > 0)
    rows = (out / "validation.txt").read_text().splitlines()
    roles = {tuple(ln.split()[:2]) for ln in rows[1:]}
    assert roles == {("sif", "assimilated"), ("vod", "assimilated"), ("sm", "assimilated"),
                     ("agb", "withheld")}
    per_map = (out / "validation_files.txt").read_text()
    assert "file agb_0.1deg" in per_map and "file agb_0.5deg" in per_map
    assert "map agb_0.1deg (withheld)" in per_map and "cells of 0.1 x 0.1 deg" in per_map
    # each AGB map on its own grid: observed, prior and posterior values per map cell
    from tccas.regional import read_domain, read_regional_obs
    from tccas.validation.figures import read_obs_with_sim
    dom = read_domain(case / "domain.nc")
    agb_all, prior_all = read_obs_with_sim(out / "prior" / "obs" / "agb.nc")
    k = 0
    for name, n_lat in (("agb_0.1deg", 5), ("agb_0.5deg", 2)):
        src = read_regional_obs(case / "validation" / f"{name}.nc", dom)
        with netCDF4.Dataset(out / "validation" / f"{name}.nc") as ds:
            assert ds["observed"].dimensions == ("lat", "lon")
            assert ds.dimensions["lat"].size == n_lat and ds.role == "withheld"
            obs = np.ma.filled(ds["observed"][:].astype(float), np.nan)
            pri = np.ma.filled(ds["prior"][:].astype(float), np.nan)
            assert np.isfinite(obs).sum() == len(src)
        np.testing.assert_allclose(obs[src.map_row, src.map_col], src.obs.value, rtol=1e-6)
        np.testing.assert_allclose(pri[src.map_row, src.map_col],
                                   prior_all[k:k + len(src)], rtol=1e-6)
        k += len(src)
    # prior and posterior runs on the domain grid, in the folder layout of `tccas run`
    for run in ("prior", "posterior"):
        with netCDF4.Dataset(out / run / "daily.nc") as ds:
            assert ds["agb_cell"].dimensions == ("time", "lat", "lon")
            assert ds["gpp_cell"].shape == (365, 2, 2)
            assert np.isfinite(np.asarray(ds["gpp_cell"][:])).all()
        assert sorted(p.name for p in (out / run / "obs").glob("*.nc")) == \
            ["agb.nc", "sif.nc", "sm.nc", "vod.nc"]
    summary = (out / "summary.txt").read_text()
    assert "agb    withheld" in summary and "target quantities over" not in summary


def test_tccas_validate_works_on_the_regional_output(lapland):
    case, cfg, out, _ = lapland
    before = (out / "validation.txt").read_text()
    (out / "validation.txt").unlink()
    r = subprocess.run([sys.executable, "-m", "tccas", "validate", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "validation.txt").read_text() == before
    assert "agb    withheld" in r.stdout
    # the AGB maps on their own grids are drawn again from validation/*.nc
    import importlib.util
    if importlib.util.find_spec("matplotlib"):
        assert (out / "figures" / "map_agb_0.1deg.png").stat().st_size > 0
        assert (out / "figures" / "map_agb_0.5deg.png").exists()
    from tccas.regional.assimilate import read_map_validation
    mv = read_map_validation(out / "validation" / "agb_0.1deg.nc")
    assert mv.grid.shape == (5, 5) and mv.unit == "Mg ha-1" and mv.scores["n"] >= 15
    assert mv.scores["rmse_posterior"] > 0


def test_interrupted_regional_assimilation_resumes_to_the_same_x(lapland, tmp_path):
    """Ctrl-C after two iterations (the engine's workers stop), then resume: the x of the
    uninterrupted command-line run (processes engine), here with the serial engine."""
    import netCDF4
    case, _, ref, _ = lapland
    cfg = tmp_path / "assim.toml"
    cfg.write_text(_config(case))
    out = tmp_path / "out"

    def stop(entry):
        if entry["iteration"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="resume"):
        tccas.assimilate(cfg, output_dir=out, progress=False, callback=stop, figures=False)
    assert multiprocessing.active_children() == []          # the workers are stopped
    assert read_checkpoint(out / "checkpoint.npz")["status"] == "interrupted"
    assert not (out / "assimilation.nc").exists()
    cfg.write_text(_config(case, engine="serial"))
    res = tccas.assimilate(cfg, output_dir=out, resume=True, progress=False, figures=False)
    assert res.minimiser.n_cached >= 3
    with netCDF4.Dataset(ref / "assimilation.nc") as ds:
        x_ref = np.asarray(ds["x_posterior"][:])
    np.testing.assert_array_equal(res.x_posterior, x_ref)
    assert res.targets == {} and "validation" in res.files


def test_an_assimilated_stream_without_records_in_the_window_is_reported(lapland, tmp_path):
    """A window over January-March 2017 holds no SIF (May-September): a ConfigError naming
    the key, before any model run."""
    case, *_ = lapland
    text = _config(case, engine="serial").replace("end = 2017-12-31\nstreams",
                                                  "end = 2017-03-31\nstreams")
    assert "end = 2017-03-31" in text
    cfg = tmp_path / "assim.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=r"\[assimilation\] start/end: stream 'sif' has no "
                       "observation inside the window"):
        tccas.assimilate(cfg, output_dir=tmp_path / "out", progress=False, figures=False)
    assert not (tmp_path / "out").exists()


def test_tccas_run_joins_the_files_of_a_stream(lapland, tmp_path):
    """`tccas run` on the assimilation config: the two AGB maps make one obs/agb.nc."""
    from tccas.validation.figures import read_obs_with_sim
    case, cfg, out, _ = lapland
    r = subprocess.run([sys.executable, "-m", "tccas", "run", str(cfg), "-o",
                        str(tmp_path / "run")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    agb, sim = read_obs_with_sim(tmp_path / "run" / "obs" / "agb.nc")
    prior, sim_prior = read_obs_with_sim(out / "prior" / "obs" / "agb.nc")
    assert len(agb) >= 16
    np.testing.assert_array_equal(agb.value, prior.value)
    np.testing.assert_allclose(sim, sim_prior, rtol=1e-12)        # the prior run


def test_regional_assimilation_follows_the_output_folder_rules(lapland):
    """An earlier assimilation is refused before any work (the folder is left as it was);
    the manifest lists the run's files, the maps on their own grids included."""
    case, cfg, out, _ = lapland
    manifest = (out / ".tccas-files").read_text().split()
    assert "assimilation.nc" in manifest and "validation/agb_0.5deg.nc" in manifest
    assert "prior/daily.nc" in manifest and "checkpoint.npz" in manifest
    before = sorted(p.name for p in out.rglob("*"))
    with pytest.raises(ConfigError, match="holds an earlier run"):
        tccas.assimilate(cfg, output_dir=out, progress=False, figures=False)
    assert sorted(p.name for p in out.rglob("*")) == before
    with pytest.raises(ConfigError, match="holds the input file"):
        tccas.assimilate(cfg, output_dir=case, progress=False, figures=False, overwrite=True)


# -- the bundled Lapland case: shipped without its forcing, materialised on first use ----
def test_forcing_recipe_reproduces_the_generated_forcing(lapland, tmp_path, monkeypatch):
    """The recipe a case ships gives the generator's forcing exactly; a bundled case with a
    recipe is loaded with its forcing materialised into the user cache once, and copy-case
    writes it beside the copy."""
    import shutil

    import netCDF4

    import tccas.cases
    from tccas.parameters import FORCING_VARS
    from tccas.regional.lapland import materialise_forcing
    case, *_ = lapland
    made = materialise_forcing(case, tmp_path / "f.nc")
    with netCDF4.Dataset(case / "forcing.nc") as a, netCDF4.Dataset(made) as b:
        for name, _, _ in FORCING_VARS:
            np.testing.assert_array_equal(a[name][:], b[name][:])
        np.testing.assert_array_equal(a["time"][:], b["time"][:])
    root = tmp_path / "cases"
    shutil.copytree(case, root / "lap", ignore=shutil.ignore_patterns("forcing.nc"))
    monkeypatch.setattr(tccas.cases, "_root", lambda: root)
    monkeypatch.setenv("TCCAS_CACHE", str(tmp_path / "cache"))
    cfg = tccas.load_config("lap")
    assert cfg.region.forcing.parent == tmp_path / "cache" and cfg.region.forcing.exists()
    stamp = cfg.region.forcing.stat().st_mtime_ns
    assert tccas.load_config("lap").region.forcing.stat().st_mtime_ns == stamp   # reused
    copy = tccas.cases.copy_case("lap", tmp_path / "copy")
    assert (copy / "forcing.nc").read_bytes() == cfg.region.forcing.read_bytes()
    assert tccas.load_config(copy / "config.toml").region.forcing == copy / "forcing.nc"
    # a cache that cannot be written is reported with the way out
    (tmp_path / "ro").write_text("a file, not a folder")
    monkeypatch.setenv("TCCAS_CACHE", str(tmp_path / "ro"))
    with pytest.raises(InputDataError, match="set TCCAS_CACHE"):
        tccas.load_config("lap")


def test_the_bundled_lapland_case_is_complete_and_small():
    """The bundled case: domain, observations and AGB maps on their own grids that fit the
    domain, the forcing recipe of every cell, a config with an [assimilation] table; well
    under 5 MB."""
    import json

    from tccas.cases import case_dir, list_cases
    from tccas.config import read_config
    from tccas.regional import read_domain, read_regional_obs
    assert "lapland" in list_cases()
    d = case_dir("lapland")
    size = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    assert size < 5e6 and not (d / "forcing.nc").exists()
    dom = read_domain(d / "domain.nc")
    recipe = json.loads((d / "forcing_recipe.json").read_text())
    assert len(recipe["elevation_m"]) == dom.ncell == 32
    cfg = read_config(d / "config.toml")
    assert cfg.assimilation.streams == ("sif", "vod", "sm")
    for stream, paths in cfg.observations.items():
        for p in paths if isinstance(paths, tuple) else (paths,):
            r = read_regional_obs(p, dom)
            assert r.stream == stream and len(r) > 0
            assert r.is_map == (stream == "agb")


@pytest.mark.slow
def test_tccas_run_lapland_from_a_clean_cache(tmp_path, monkeypatch):
    """`tccas run lapland` with an empty cache: the forcing is made, the run completes."""
    monkeypatch.setenv("TCCAS_CACHE", str(tmp_path / "cache"))
    res = tccas.run("lapland", output_dir=tmp_path / "run", progress=False)
    assert (res.output_dir / "daily.nc").exists() and len(list((tmp_path / "cache").iterdir())) == 1


def test_regional_model_error_from_the_prior_misfit(lapland, tmp_path):
    """model_error = "prior" in a regional assimilation: estimated from the prior run of the
    domain, the same value as from the prior's simulated observations it writes."""
    import netCDF4
    from tccas.da import prior_model_error
    case, *_ = lapland
    text = _config(case, engine="serial", iterations=1) + 'model_error = { vod = "prior" }\n'
    cfg = tmp_path / "assim.toml"
    cfg.write_text(text)
    r = tccas.assimilate(cfg, output_dir=tmp_path / "out", progress=False, figures=False)
    assert "vod" in r.model_error and "sif" in r.model_error
    assert "vod" in r.model_error_text and "(from the prior misfit)" in r.model_error_text
    assert "from the prior misfit" in (tmp_path / "out" / "summary.txt").read_text()
    with netCDF4.Dataset(tmp_path / "out" / "prior" / "obs" / "vod.nc") as ds:
        sim, d, s = (np.asarray(ds[v][:], float) for v in ("simulated", "value", "sigma"))
    assert r.model_error["vod"] > 0
    assert r.model_error["vod"] == pytest.approx(prior_model_error(sim - d, s), rel=1e-6)
