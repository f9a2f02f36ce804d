"""tccas obs build: a case's observation files from real product files, added to its config."""
from __future__ import annotations

import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import tccas
from tccas.cli import main
from tccas.config import read_config, set_observations_in_file
from tccas.errors import ConfigError, InputDataError
from tccas.io import Static, write_forcing, write_static
from tccas.obs import ObservationSet, read_obs
from tccas.obsdb import build_observations, concatenate_observations, find_product_files
from tccas.synthetic import generate_forcing
from tccas.workflow import load_observations

DATA = Path(__file__).parent / "data" / "satellite"
SMOS = DATA / "SM_OPER_MIR_SMUDP2_20230401T191629_20230401T200942_700_001_1.nc"
CCI = DATA / "ESACCI-SOILMOISTURE-L3S-SSMV-COMBINED-20160607000000-fv05.2.nc"

PT_CONFIG = """# a site in northern Portugal, inside the SMOS half-orbit of 2023-04-01
[site]
name = "PT-test"
static = "static.nc"
forcing = "forcing.nc"

[run]
start = 2023-03-01
end = 2023-04-30
spinup_hours = 1416   # the first 59 days of the forcing

[observations]
# real observations, built by tccas obs build
"""


@pytest.fixture(scope="module")
def pt_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("pt_inputs")
    forcing = generate_forcing("2023-01-01", "2023-05-01", seed=7, lat=41.5, lon=-8.3)
    write_forcing(d / "forcing.nc", forcing, 41.5, -8.3, attrs={"site_name": "PT-test"})
    write_static(d / "static.nc", Static(lat=41.5, lon=-8.3, pft=(3, 9), pft_fraction=(0.2, 0.8),
                                         sand=0.5, clay=0.2, soil_depth=1.0, name="PT-test"))
    return d


@pytest.fixture
def pt_case(tmp_path, pt_inputs):
    case = tmp_path / "pt"
    case.mkdir()
    for f in ("forcing.nc", "static.nc"):
        shutil.copy(pt_inputs / f, case / f)
    (case / "config.toml").write_text(PT_CONFIG)
    return case / "config.toml"


def test_build_smos_l2_then_run(pt_case, tmp_path, capsys):
    rc = main(["obs", "build", str(pt_case), "--product", "smos-l2", "-q", str(DATA)])
    out = capsys.readouterr().out
    assert rc == 0
    assert "sm: 1 file(s): read 1627, kept 1, dropped 1626 (outside_footprint 1620, " \
           "no_retrieval 3, not_nearest 3)" in out
    assert "footprint PFT fractions TmEv (3) 0.200, C3Gr (9) 0.800" in out
    text = pt_case.read_text()
    assert "# real observations, built by tccas obs build" in text     # comments kept
    assert 'sm = "obs/sm_smos-l2.nc"' in text and 'vod = "obs/vod_smos-l2.nc"' in text
    sm = read_obs(pt_case.parent / "obs" / "sm_smos-l2.nc")
    assert len(sm) == 1
    assert sm.value[0] == pytest.approx(0.20137146, rel=1e-6)      # grid point 1080360
    assert sm.sigma[0] == 0.04
    assert sm.t_start[0] == np.datetime64("2023-04-01T19:00:00")
    assert sm.pft == (3, 9) and np.allclose(sm.footprint, [[0.2, 0.8]])
    assert sm.attrs["n_read"] == 1627 and sm.attrs["n_kept"] == 1
    vod = read_obs(pt_case.parent / "obs" / "vod_smos-l2.nc")
    assert vod.value[0] == pytest.approx(0.38607427, rel=1e-6)
    assert vod.sigma[0] == pytest.approx(0.05396473, rel=1e-6)
    # the case runs with them and writes the simulated equivalents beside them
    res = tccas.run(pt_case, output_dir=tmp_path / "run", progress=False)
    for stream in ("sm", "vod"):
        o, y = res.observations[stream]
        assert len(o) == 1 and np.all(np.isfinite(y))
        with netCDF4.Dataset(res.files[f"obs_{stream}"]) as ds:
            assert ds["simulated"][0] == pytest.approx(y[0])
            assert ds["value"][0] == pytest.approx(o.value[0])
    assert 0.0 < res.observations["sm"][1][0] < 0.6


def test_rebuild_does_not_duplicate_and_replace(pt_case):
    build_observations(pt_case, "smos-l2", [SMOS], progress=False)
    build_observations(pt_case, "smos-l2", [SMOS], progress=False, select="all")
    cfg = read_config(pt_case)
    assert cfg.observations["sm"] == pt_case.parent / "obs" / "sm_smos-l2.nc"
    assert len(read_obs(cfg.observations["sm"])) == 4          # rebuilt with select="all"
    set_observations_in_file(pt_case, {"sm": ["obs/other.nc", "obs/sm_smos-l2.nc"]})
    build_observations(pt_case, "smos-l2", [SMOS], progress=False, replace=True)
    assert read_config(pt_case).observations["sm"] == pt_case.parent / "obs" / "sm_smos-l2.nc"


def test_two_files_for_one_stream_are_concatenated(tmp_path):
    case = tmp_path / "eslm1"
    tccas.copy_case("ES-LM1", case)
    twin = read_obs(case / "obs" / "sm.nc")
    res = build_observations(case / "config.toml", "cci-sm", [DATA], progress=False)
    assert res.files == {"sm": case / "obs" / "sm_cci-sm.nc"}
    text = (case / "config.toml").read_text()
    assert 'sm = ["obs/sm.nc", "obs/sm_cci-sm.nc"]' in text
    assert "# Synthetic twin observations" in text
    cfg = tccas.load_config(case / "config.toml")
    sets = {o.stream: o for o in load_observations(cfg)}
    sm = sets["sm"]
    assert len(sm) == len(twin) + 1
    k = int(np.nonzero(sm.t_start == np.datetime64("2016-06-07T02:00:00"))[0][0])
    assert sm.value[k] == pytest.approx(0.19490944, rel=1e-6) and sm.sigma[k] == 0.04
    assert np.all(np.diff(sm.t_start.astype(np.int64)) >= 0)


def test_no_file_touching_the_site(tmp_path, capsys):
    case = tmp_path / "eslm1"
    tccas.copy_case("ES-LM1", case)
    before = (case / "config.toml").read_text()
    rc = main(["obs", "build", str(case / "config.toml"), "--product", "smos-l2", "-q",
               str(DATA)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.count("\n") == 0
    assert f"{DATA}: none of the 1 smos-l2 file(s) has a record whose footprint touches " \
           "the site ES-LM1 (39.9426 N, 5.7786 W)" in err
    assert (case / "config.toml").read_text() == before
    assert not (case / "obs" / "sm_smos-l2.nc").exists()


def test_nothing_in_the_run_period(pt_case):
    with pytest.raises(InputDataError, match="no cci-sm record over the site PT-test.*"
                                             "outside_period 1"):
        build_observations(pt_case, "cci-sm", [CCI], progress=False)


def test_bad_product_files(pt_case, tmp_path, capsys):
    before = pt_case.read_text()
    rc = main(["obs", "build", str(pt_case), "--product", "smos-l2", "-q", str(CCI)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0
    assert str(CCI) in err and "not a SMOS L2 soil-moisture file" in err
    cut = tmp_path / "downloads" / SMOS.name
    cut.parent.mkdir()
    cut.write_bytes(SMOS.read_bytes()[:100_000])
    rc = main(["obs", "build", str(pt_case), "--product", "smos-l2", "-q", str(cut.parent)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and str(cut) in err
    with pytest.raises(InputDataError, match="no such file or folder"):
        build_observations(pt_case, "smos-l2", [tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputDataError, match="no cci-sm file"):
        find_product_files([tmp_path / "empty"], "cci-sm")
    with pytest.raises(ConfigError, match="unknown product"):
        build_observations(pt_case, "modis", [DATA])
    with pytest.raises(ConfigError, match="copy-case"):
        build_observations("ES-LM1", "cci-sm", [DATA])
    assert pt_case.read_text() == before
    assert not (pt_case.parent / "obs").exists() or not any((pt_case.parent / "obs").iterdir())


def test_find_product_files_picks_the_product(tmp_path):
    (tmp_path / "a").mkdir()
    shutil.copy(SMOS, tmp_path / "a" / SMOS.name)
    shutil.copy(CCI, tmp_path / CCI.name)
    assert find_product_files([tmp_path], "smos-l2") == [tmp_path / "a" / SMOS.name]
    assert find_product_files([tmp_path], "cci-sm") == [tmp_path / CCI.name]


def test_set_observations_in_file_keeps_comments(tmp_path):
    cfg = tmp_path / "config.toml"
    shutil.copy(tccas.cases.case_dir("ES-LM1") / "config.toml", cfg)
    text = cfg.read_text().replace('sm = "obs/sm.nc"', 'sm = [\n  "obs/sm.nc",  # twin\n  '
                                   '"obs/b.nc",\n]')
    cfg.write_text(text)
    assert read_config(cfg).observations["sm"] == (tmp_path / "obs/sm.nc", tmp_path / "obs/b.nc")
    set_observations_in_file(cfg, {"sm": "obs/c.nc", "le": ["obs/le1.nc", "obs/le2.nc"]})
    new = cfg.read_text()
    assert "# SIF, VOD and surface soil moisture to assimilate" in new
    assert 'sm = "obs/c.nc"' in new and '"obs/b.nc"' not in new
    assert 'le = ["obs/le1.nc", "obs/le2.nc"]' in new
    c = read_config(cfg)
    assert c.observations["sm"] == tmp_path / "obs/c.nc"
    assert c.observations["le"] == (tmp_path / "obs/le1.nc", tmp_path / "obs/le2.nc")
    assert c.observations["sif"] == tmp_path / "obs/sif.nc"
    bare = tmp_path / "bare.toml"
    bare.write_text(PT_CONFIG.split("[observations]")[0].rstrip() + "\n")
    set_observations_in_file(bare, {"sm": "obs/sm_cci-sm.nc"})
    assert bare.read_text().endswith('\n[observations]\nsm = "obs/sm_cci-sm.nc"\n')
    assert read_config(bare).observations == {"sm": tmp_path / "obs/sm_cci-sm.nc"}
    with pytest.raises(ConfigError, match="unknown stream 'ssm'"):
        set_observations_in_file(cfg, {"ssm": "x.nc"})
    assert cfg.read_text() == new
    cfg.write_text(new.replace('sif = "obs/sif.nc"', "sif = 3"))
    with pytest.raises(ConfigError, match="'sif' must be a file name or a list"):
        read_config(cfg)


def test_concatenate_observations():
    t = np.array(["2020-01-02T00", "2020-01-01T00"], dtype="datetime64[s]")
    a = ObservationSet("sm", t, t + 3600, np.array([0.2, 0.1]), np.full(2, 0.04),
                       np.zeros(2, int), (3, 9), np.array([[0.2, 0.8], [0.2, 0.8]]),
                       source="a")
    b = ObservationSet("sm", t[:1] - 86400 * 2, t[:1] - 86400 * 2 + 3600, np.array([0.3]),
                       np.array([0.05]), np.zeros(1, int), (5,), np.array([[1.0]]), source="b")
    c = concatenate_observations([a, b])
    assert c.pft == (3, 5, 9)
    assert np.allclose(c.value, [0.3, 0.1, 0.2])
    assert np.allclose(c.footprint, [[0, 1, 0], [0.2, 0, 0.8], [0.2, 0, 0.8]])
    assert c.source == "a; b"
    vod = ObservationSet("vod", t, t + 3600, np.ones(2), np.ones(2), np.zeros(2, int), (3,),
                         np.ones((2, 1)))
    with pytest.raises(InputDataError, match="stream 'vod'"):
        concatenate_observations([a, vod])


def test_build_fluxnet_tower_fluxes(tmp_path):
    """The real US-AR1 daily file (2009-2012) for a case running March-December 2010."""
    flx = Path(__file__).parent / "data" / "FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv"
    case = tmp_path / "ar1"
    case.mkdir()
    write_static(case / "static.nc", Static(lat=36.4267, lon=-99.42, pft=(9,),
                                            pft_fraction=(1.0,), sand=0.3, clay=0.3,
                                            soil_depth=1.0, name="US-AR1"))
    shutil.copy(flx, case / flx.name)
    cfg = case / "config.toml"
    cfg.write_text('[site]\nname = "US-AR1"\nstatic = "static.nc"\nforcing = "forcing.nc"\n\n'
                   '[run]\nstart = 2010-03-01\nend = 2010-12-31\n')
    res = build_observations(cfg, "fluxnet", [case], progress=False)
    assert set(res.files) == {"nee", "gpp", "le"}
    t = res.tallies["nee"]
    assert (t.read, t.kept, t.dropped) == (1461, 302, {"outside_period": 876, "qc": 283})
    nee = read_obs(res.files["nee"])
    assert len(nee) == 302 and nee.pft == (9,)
    assert nee.t_start[0] >= np.datetime64("2010-03-01") and \
        nee.t_end[-1] <= np.datetime64("2011-01-01")
    assert read_config(cfg).observations["le"] == case / "obs" / "le_fluxnet.nc"
    # a tower file of another site is refused
    cfg.write_text(cfg.read_text().replace('name = "US-AR1"', 'name = "ES-LM1"'))
    with pytest.raises(InputDataError, match="FLUXNET file of site US-AR1, but the case is "
                                             "site ES-LM1"):
        build_observations(cfg, "fluxnet", [case / flx.name], progress=False)


def _case_at(tmp_path, name, lat, lon, start, end):
    case = tmp_path / name
    case.mkdir()
    write_static(case / "static.nc", Static(lat=lat, lon=lon, pft=(5, 7), pft_fraction=(0.7, 0.3),
                                            sand=0.6, clay=0.1, soil_depth=1.0, name=name))
    cfg = case / "config.toml"
    cfg.write_text(f'[site]\nname = "{name}"\nstatic = "static.nc"\nforcing = "forcing.nc"\n\n'
                   f'[run]\nstart = {start}\nend = {end}\n')
    return cfg


def test_build_smos_ic_and_troposif(tmp_path):
    """The existing readers through the command, on files written to their layouts (the
    writers of tests/test_readers_satellite.py)."""
    import test_readers_satellite as sat
    from tccas.readers import read_smos_ic, read_troposif
    data = tmp_path / "data"
    data.mkdir()
    ymd = lambda day: day.replace("-", "")  # noqa: E731
    a1 = sat.write_smos_ic(data / f"SM_RE07_MIR_CDF3SA_{ymd('2019-07-01')}T000000_"
                           f"{ymd('2019-07-01')}T235959_200_001_B.DBL.nc", "2019-07-01",
                           {"Soil_Moisture": 0.25, "Soil_Moisture_StdError": 0.03,
                            **sat.SITE_TIME})
    a2 = sat.write_smos_ic(data / f"SM_RE07_MIR_CDF3SA_{ymd('2019-07-02')}T000000_"
                           f"{ymd('2019-07-02')}T235959_200_001_B.DBL.nc", "2019-07-02",
                           {"Soil_Moisture": 0.26, "Quality_Flag": 1, **sat.SITE_TIME})
    cfg = _case_at(tmp_path, "FI-Sod", sat.SMOS_LAT, sat.SMOS_LON, "2019-01-01", "2019-12-31")
    res = build_observations(cfg, "smos-ic", [data], progress=False)
    t = res.tallies["sm"]
    assert (t.files, t.read, t.kept, t.dropped) == (2, 2, 1, {"quality_flag": 1})
    direct = read_smos_ic([a1, a2], sat.SMOS_LAT, sat.SMOS_LON, {5: 0.7, 7: 0.3}, stream="sm")
    built = read_obs(res.files["sm"])
    assert np.allclose(built.value, direct.value) and np.allclose(built.sigma, direct.sigma)
    assert np.array_equal(built.t_start, direct.t_start)
    assert built.pft == (5, 7) and np.allclose(built.footprint, [[0.7, 0.3]])

    d1 = sat.write_troposif(data / f"TROPOSIF_L2B_{sat.DAY1}.nc", sat.DAY1, sat.DAY1_SOUNDINGS)
    d2 = sat.write_troposif(data / f"TROPOSIF_L2B_{sat.DAY2}.nc", sat.DAY2, sat.DAY2_SOUNDINGS)
    cfg = _case_at(tmp_path, "site", sat.SIF_LAT, sat.SIF_LON, "2019-01-01", "2019-06-15")
    res = build_observations(cfg, "troposif", [data], progress=False)
    direct = read_troposif([d1, d2], sat.SIF_LAT, sat.SIF_LON, {5: 0.7, 7: 0.3})
    inside = direct.t_end <= np.datetime64("2019-06-16T00:00:00")
    built = read_obs(res.files["sif"])
    assert len(built) == np.count_nonzero(inside) > 0
    assert np.allclose(built.value, direct.value[inside])
    t = res.tallies["sif"]
    assert t.dropped["outside_period"] == np.count_nonzero(~inside) > 0
    assert t.read == t.kept + sum(t.dropped.values())
    assert t.dropped.get("other", 0) == 0


def test_build_jrc_tip_and_cci_biomass(tmp_path):
    """FAPAR and AGB through the command (files in the layouts of tests/test_readers_ground.py)."""
    import test_readers_ground as ground
    from tccas.readers import read_cci_biomass, read_jrc_tip
    data = tmp_path / "data"
    data.mkdir()
    fapar, err, flag = ground._fields()
    flag[1, 2, 2] = 4                                    # cloud: rejected
    tip = ground._tip_c3s(data / "c3s_FAPAR_2018_GLOBE.nc", fapar, err, flag)
    cfg = _case_at(tmp_path, "tip", *ground.SITE, "2018-01-05", "2018-12-31")
    res = build_observations(cfg, "jrc-tip", [data], progress=False)
    direct = read_jrc_tip(tip, *ground.SITE, {5: 0.7, 7: 0.3})
    inside = direct.t_start >= np.datetime64("2018-01-05")
    built = read_obs(res.files["fapar"])
    assert np.allclose(built.value, direct.value[inside]) and len(built) == 1
    t = res.tallies["fapar"]
    assert (t.read, t.kept, t.dropped) == (3, 1, {"flag": 1, "outside_period": 1})

    agb, se = ground._agb_fields()
    bio = ground._biomass_nc(data / "ESACCI-BIOMASS-L4-AGB-MERGED-100m-2018-fv4.0.nc", agb, se)
    cfg = _case_at(tmp_path, "bio", *ground.B_SITE, "2018-01-01", "2018-12-31")
    res = build_observations(cfg, "cci-biomass", [data], progress=False)
    direct = read_cci_biomass(bio, *ground.B_SITE, {5: 0.7, 7: 0.3})
    built = read_obs(res.files["agb"])
    assert len(built) == len(direct) == 1
    assert built.value[0] == pytest.approx(direct.value[0])
    assert built.sigma[0] == pytest.approx(direct.sigma[0])
    assert (res.tallies["agb"].read, res.tallies["agb"].kept) == (1, 1)
