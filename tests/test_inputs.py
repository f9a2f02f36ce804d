"""Bad input gets a clear error naming the file, variable and problem; nothing half-written."""
from __future__ import annotations

import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import tccas
from tccas import io
from tccas.cases import case_dir
from tccas.errors import ConfigError, InputDataError


@pytest.fixture
def case(tmp_path):
    """A writable copy of the default case, shortened to two months for speed."""
    d = tccas.copy_case("ES-LM1", tmp_path / "case")
    cfg = (d / "config.toml").read_text()
    cfg = cfg.replace("end = 2021-12-31", "end = 2015-02-28").replace("spinup_hours = 17520",
                                                                       "spinup_hours = 240")
    cfg = cfg[:cfg.index("[observations]")]       # the observations are 2017-2021
    (d / "config.toml").write_text(cfg)
    return d


def _edit(path: Path, name: str, fn):
    with netCDF4.Dataset(path, "a") as ds:
        v = ds.variables[name]
        v[:] = fn(np.asarray(v[:]))


def test_copy_case_and_run_short(case, tmp_path):
    res = tccas.run(case / "config.toml", output_dir=tmp_path / "out", progress=False)
    assert set(res.files) == {"daily", "hourly", "summary"}
    with netCDF4.Dataset(res.files["daily"]) as ds:
        assert ds.Conventions == "CF-1.8"
        assert ds.variables["gpp"].shape == (59, 2)
        assert ds.variables["gpp"].units == "g m-2 d-1"
        gpp_cell = ds.variables["gpp_cell"][:]
        frac = ds.variables["pft_fraction"][:]
        assert np.allclose(gpp_cell, ds.variables["gpp"][:] @ frac, rtol=1e-5)
        npp = ds.variables["npp"][:]
        assert np.allclose(npp, ds.variables["gpp"][:] - ds.variables["ra"][:], atol=1e-4)
        for v in ("lai", "fapar", "sm_surf", "sm_root", "tsoil1", "tcan", "c_wood", "le",
                  "nee", "rh"):
            assert v in ds.variables and v + "_cell" in ds.variables
    assert "GPP" in res.summary and "2015" in res.summary


def test_missing_variable(case):
    with netCDF4.Dataset(case / "forcing.nc", "a") as ds:
        ds.renameVariable("rlds", "lw_in")
    with pytest.raises(InputDataError, match=r"forcing\.nc: missing variable 'rlds'"):
        tccas.run(case / "config.toml", output_dir=case / "out")
    assert not (case / "out").exists() or not any((case / "out").iterdir())


def test_nan_in_forcing(case):
    def put_nan(a):
        a = a.copy()
        a[100] = np.nan
        return a
    _edit(case / "forcing.nc", "tas", put_nan)
    with pytest.raises(InputDataError, match=r"forcing\.nc: variable 'tas' has 1 missing/NaN"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_wrong_units(case):
    with netCDF4.Dataset(case / "forcing.nc", "a") as ds:
        ds.variables["pr"].units = "furlongs"
    with pytest.raises(InputDataError, match=r"variable 'pr': unit 'furlongs'"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_values_in_wrong_units_are_caught(case):
    # temperature labelled K but given in degC
    _edit(case / "forcing.nc", "tas", lambda a: a - 273.15)
    with pytest.raises(InputDataError, match=r"variable 'tas' .* outside .* wrong units"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_convertible_units_are_converted(case, tmp_path):
    ref = io.read_forcing(case / "forcing.nc")
    _edit(case / "forcing.nc", "ps", lambda a: a / 100.0)
    with netCDF4.Dataset(case / "forcing.nc", "a") as ds:
        ds.variables["ps"].units = "hPa"
    got = io.read_forcing(case / "forcing.nc")
    assert np.allclose(got.data["ps"], ref.data["ps"], rtol=1e-5)


def test_time_gap(case, tmp_path):
    src = case / "forcing.nc"
    f = io.read_forcing(src)
    keep = np.ones(f.times.size, bool)
    keep[500] = False
    gappy = io.Forcing(f.times[keep], {k: v[keep] for k, v in f.data.items()})
    # write without the checks the writer would not do anyway
    io.write_forcing(tmp_path / "gappy.nc", gappy, 39.9, -5.8)
    with pytest.raises(InputDataError, match=r"gappy\.nc: variable 'time': steps must be hourly"):
        io.read_forcing(tmp_path / "gappy.nc")


def test_run_period_outside_forcing(case):
    cfg = (case / "config.toml").read_text().replace("end = 2015-02-28", "end = 2023-01-31")
    (case / "config.toml").write_text(cfg)
    with pytest.raises(InputDataError, match="does not contain the run period"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_pft_fractions_must_sum_to_one(case):
    _edit(case / "static.nc", "pft_fraction", lambda a: np.array([0.3, 0.8]))
    with pytest.raises(InputDataError, match=r"static\.nc: variable 'pft_fraction' sums to 1\.1"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_unknown_pft_code(case):
    _edit(case / "static.nc", "pft", lambda a: np.array([3, 17]))
    with pytest.raises(InputDataError, match=r"unknown PFT code 17"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_unknown_parameter_name(case):
    cfg = (case / "config.toml").read_text() + "\nvcmax_25 = 4e-5\n"
    (case / "config.toml").write_text(cfg)
    with pytest.raises(ConfigError, match=r"config\.toml: \[parameters\] unknown parameter name "
                                          r"'vcmax_25'"):
        tccas.load_config(case / "config.toml")


def test_parameter_out_of_bounds_and_wrong_pft(case):
    base = (case / "config.toml").read_text()
    (case / "config.toml").write_text(base + "\nvcmax25 = { TmEv = 1.0 }\n")
    with pytest.raises(ConfigError, match="outside its bounds"):
        tccas.load_config(case / "config.toml")
    (case / "config.toml").write_text(base + "\nvcmax25 = { EvCn = 3e-5 }\n")
    with pytest.raises(ConfigError, match="PFT EvCn is not in this case"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_adjoint_memory_budget_in_the_config(case):
    base = (case / "config.toml").read_text()
    (case / "config.toml").write_text(base + "\n[control]\nadjoint_memory_mb = 64\n")
    cfg = tccas.load_config(case / "config.toml")
    assert cfg.adjoint_memory_mb == 64.0
    assert tccas.load_config("ES-LM1").adjoint_memory_mb is None     # the model's default
    for bad in ("0", "-1", '"big"', "true", "inf"):
        (case / "config.toml").write_text(base + f"\n[control]\nadjoint_memory_mb = {bad}\n")
        with pytest.raises(ConfigError, match=r"\[control\] adjoint_memory_mb must be a "
                                              r"positive number"):
            tccas.load_config(case / "config.toml")


def test_config_errors(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[site]\nstatic='s.nc'\nforcing='f.nc'\n[run]\nstart=2015-01-01\n")
    with pytest.raises(ConfigError, match=r"missing key 'end' in \[run\]"):
        tccas.load_config(p)
    p.write_text("[site]\nstatic='s.nc'\nforcing='f.nc'\nbogus=1\n")
    with pytest.raises(ConfigError, match=r"unknown key 'bogus' in \[site\]"):
        tccas.load_config(p)
    p.write_text("[site\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        tccas.load_config(p)
    with pytest.raises(ConfigError, match="no bundled case named 'Atlantis'"):
        tccas.load_config("Atlantis")


def test_unreadable_file(case):
    (case / "forcing.nc").write_text("this is not netCDF")
    with pytest.raises(InputDataError, match=r"forcing\.nc: not a readable netCDF file"):
        tccas.run(case / "config.toml", output_dir=case / "out")


def test_failed_write_leaves_no_partial_files(case, tmp_path, monkeypatch):
    from tccas import workflow as _workflow

    def fail(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(_workflow, "format_summary", fail)
    out = tmp_path / "out"
    with pytest.raises(OSError, match="disk full"):
        tccas.run(case / "config.toml", output_dir=out)
    # the folder the failed run created is removed again (tccas.outdir.OutputDir)
    assert not out.exists() or list(out.iterdir()) == []


def test_bundled_case_is_small_and_documented():
    d = case_dir("ES-LM1")
    total = sum(p.stat().st_size for p in d.iterdir())
    assert total < 4_000_000
    assert "synthetic" in (d / "README.md").read_text()


def test_cell_model_refuses_wrong_shapes_and_partial_days(eslm1_inputs):
    import pytest
    from tccas.control import build_control
    from tccas.errors import ModelError
    from tccas.model import CellModel, obs_arrays
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    met, times = forcing.matrix()[:24 * 10], forcing.times[:24 * 10]
    ctl = build_control(static.pft, ppft, pglob, ["vcmax25"])
    oa = obs_arrays([], times, static.pft)
    args = (static.lat, static.lon, static.sand, static.clay, static.pft, ppft, pglob, ctl, oa)
    CellModel(met, times, *args, nspin=48)
    with pytest.raises(ModelError, match=r"forcing array must be \(nt, 9\)"):
        CellModel(met[:, :5], times, *args)
    with pytest.raises(ModelError, match="whole days"):
        CellModel(met, times, *args, nspin=30)
    with pytest.raises(ModelError, match="times for"):
        CellModel(met, times[:-24], *args)
    with pytest.raises(ModelError, match="parameter arrays must be"):
        CellModel(met, times, *args[:5], ppft[:, :1], pglob, ctl, oa)
