"""A new site in one command (tccas new-site), FLUXNET files in [observations], copy-case
without observations."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tccas
from tccas.config import read_config
from tccas.errors import ConfigError
from tccas.newsite import new_site, parse_pfts

DATA = Path(__file__).resolve().parent / "data"
US_AR1 = DATA / "FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv"
SE_SVB = DATA / "SE-Svb_2019_HH_fluxnet-layout.csv.gz"


def tccas_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tccas", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_new_site_from_a_fluxnet_daily_file_runs_with_its_observations(tmp_path):
    r = tccas_cli("new-site", str(tmp_path / "ar1"), "--fluxnet", str(US_AR1), "--pft",
                  "C4Gr=1", "--sand", "0.65", "--clay", "0.1", "--lat", "36.4267", "--lon",
                  "-99.42", "--end", "2010-12-31")
    assert r.returncode == 0, r.stderr
    cfg = read_config(tmp_path / "ar1" / "config.toml")
    assert cfg.site.name == "US-AR1"
    assert cfg.run.carbon_spinup == "equilibrium"
    assert set(cfg.observations) == {"nee", "gpp", "le"}
    res = tccas.run(cfg, output_dir=tmp_path / "out", progress=False)
    assert set(res.observations) == {"nee", "gpp", "le"}
    o, y = res.observations["gpp"]
    assert len(o) > 300 and np.all(np.isfinite(y))
    assert (tmp_path / "out" / "obs" / "le.nc").exists()


def test_new_site_keeps_the_last_local_day_east_of_greenwich(tmp_path):
    cfg_path = new_site(tmp_path / "svb", fluxnet=SE_SVB, pfts={"EvCn": 1.0}, sand=0.6,
                        clay=0.05, lat=64.256, lon=19.7745, utc_offset_hours=1,
                        spinup_hours=8760, observations=False)
    cfg = read_config(cfg_path)
    assert str(cfg.run.start) == "2019-01-01" and str(cfg.run.end) == "2019-12-31"
    assert not cfg.observations and not (tmp_path / "svb" / "obs").exists()


def test_new_site_refuses_bad_settings(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    base = dict(fluxnet=SE_SVB, sand=0.6, clay=0.05, lat=64.3, lon=19.8, utc_offset_hours=1)
    with pytest.raises(ConfigError, match="exists and is not empty"):
        new_site(tmp_path / "full", pfts="EvCn=1", **base)
    with pytest.raises(ConfigError, match="sum to 0.9"):
        new_site(tmp_path / "a", pfts="EvCn=0.5,C3Gr=0.4", **base)
    with pytest.raises(ConfigError, match="unknown PFT 'Oak'"):
        new_site(tmp_path / "a", pfts="Oak=1", **base)
    with pytest.raises(ConfigError, match="give the site's UTC offset"):
        new_site(tmp_path / "a", pfts="EvCn=1", **{**base, "utc_offset_hours": None})
    with pytest.raises(ConfigError, match="either a FLUXNET file or the two PLUMBER2"):
        new_site(tmp_path / "a", pfts="EvCn=1", sand=0.6, clay=0.05)
    r = tccas_cli("new-site", str(tmp_path / "b"), "--fluxnet", str(US_AR1), "--pft",
                  "C4Gr=1", "--sand", "0.65", "--clay", "0.1")
    assert r.returncode == 2 and "give the site's lat and lon" in r.stderr
    assert "Traceback" not in r.stderr
    assert parse_pfts(["TmEv=0.2", "9=0.8"]) == {3: 0.2, 9: 0.8}


def test_fluxnet_file_named_in_observations_and_copy_case_without_observations(tmp_path):
    r = tccas_cli("copy-case", "ES-LM1", str(tmp_path / "c"), "--no-obs")
    assert r.returncode == 0, r.stderr
    case = tmp_path / "c"
    assert not (case / "obs").exists()
    cfg = read_config(case / "config.toml")
    assert not cfg.observations and cfg.assimilation is None
    # a FLUXNET flux file named directly: US-AR1's daily NEE over the ES-LM1 case's years
    # is not the site's, but the reader and the mapping onto the run are what is tested
    text = (case / "config.toml").read_text()
    shutil.copy(US_AR1, case / "tower.csv")
    # shift the tower years 2009-2012 to 2017-2020 (leap years stay leap years) so that they
    # fall in the run
    lines = (case / "tower.csv").read_text().splitlines()
    head, rows = lines[0], lines[1:]
    rows = [str(int(r[:4]) + 8) + r[4:] for r in rows]
    (case / "tower.csv").write_text("\n".join([head] + rows) + "\n")
    text += '\n[observations]\nnee = "tower.csv"\n'
    (case / "config.toml").write_text(text)
    cfg = read_config(case / "config.toml")
    sets = __import__("tccas.workflow", fromlist=["x"]).load_observations(cfg)
    assert sets[0].stream == "nee" and sets[0].pft == (3, 9)
    assert np.allclose(sets[0].footprint, [0.2, 0.8])
    assert sets[0].t_start.min() >= np.datetime64("2017-01-01")
    res = tccas.run(cfg, output_dir=tmp_path / "out", progress=False)
    o, y = res.observations["nee"]
    assert len(o) == len(sets[0]) > 1000 and np.all(np.isfinite(y))


def test_new_site_observation_files_carry_the_site_coordinates(tmp_path):
    import netCDF4
    new_site(tmp_path / "ar1", fluxnet=US_AR1, pfts="C4Gr=1", sand=0.65, clay=0.1,
             lat=36.4267, lon=-99.42, end="2009-12-31")
    with netCDF4.Dataset(tmp_path / "ar1" / "obs" / "nee.nc") as ds:
        assert float(ds.variables["lat"][...]) == pytest.approx(36.4267)
        assert float(ds.variables["lon"][...]) == pytest.approx(-99.42)
