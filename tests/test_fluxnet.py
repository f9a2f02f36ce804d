"""Tests of the FLUXNET2015 / ICOS CSV forcing reader."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tccas.errors import ConfigError, InputDataError
from tccas.io import running_mean
from tccas.readers.fluxnet import DEFAULT_CO2, read_fluxnet_forcing

DATA = Path(__file__).parent / "data"
US_AR1 = DATA / "FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv"
US_AR1_LAT, US_AR1_LON = 36.4267, -99.42


def _stamp(t: np.ndarray) -> list[str]:
    return [str(x)[:16].replace("-", "").replace("T", "").replace(":", "") for x in t]


def _synthetic(ndays: int = 3, step_min: int = 30) -> dict[str, np.ndarray]:
    """Columns of a FULLSET-style file starting 2020-01-01 00:00 local standard time."""
    n = ndays * 24 * 60 // step_min
    start = np.datetime64("2020-01-01T00:00") + np.arange(n) * np.timedelta64(step_min, "m")
    i = np.arange(n, dtype=float)
    phase = 2 * np.pi * i / (n / ndays)
    return {
        "TIMESTAMP_START": np.array(_stamp(start)),
        "TIMESTAMP_END": np.array(_stamp(start + np.timedelta64(step_min, "m"))),
        "TA_F": np.round(10.0 - 5.0 * np.cos(phase) + 0.01 * i, 3),
        "TA_F_QC": np.zeros(n),
        "SW_IN_F": np.round(np.maximum(600.0 * -np.cos(phase), 0.0), 3),
        "LW_IN_F": 300.0 + 0.1 * i,
        "VPD_F": 5.0 + 0.05 * i,
        "PA_F": 98.0 + 0.001 * i,
        "P_F": np.where(i % 7 == 0, 0.2 + 0.01 * (i % 5), 0.0),
        "WS_F": 2.0 + 0.01 * i,
        "CO2_F_MDS": 410.0 + 0.1 * i,
        "TS_F_MDS_1": 5.0 + 0.001 * i,
    }


def _write(path: Path, cols: dict[str, np.ndarray]) -> Path:
    names = list(cols)
    rows = zip(*(cols[c] for c in names))
    text = ",".join(names) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows)
    path.write_text(text)
    return path


def test_half_hourly_units_and_aggregation(tmp_path):
    cols = _synthetic()
    f = read_fluxnet_forcing(_write(tmp_path / "hh.csv", cols), utc_offset_hours=0)
    assert f.times.size == 72
    assert f.times[0] == np.datetime64("2020-01-01T00:00:00")
    assert f.times.dtype == np.dtype("datetime64[s]")
    pair = lambda c: cols[c].reshape(-1, 2).mean(axis=1)  # noqa: E731
    np.testing.assert_allclose(f.data["tas"], pair("TA_F") + 273.15, rtol=0, atol=1e-9)
    np.testing.assert_allclose(f.data["rsds"], pair("SW_IN_F"), atol=1e-9)
    np.testing.assert_allclose(f.data["rlds"], pair("LW_IN_F"), atol=1e-9)
    np.testing.assert_allclose(f.data["vpd"], pair("VPD_F") * 100.0, rtol=1e-12)
    np.testing.assert_allclose(f.data["ps"], pair("PA_F") * 1000.0, rtol=1e-12)
    np.testing.assert_allclose(f.data["sfcWind"], pair("WS_F"), rtol=1e-12)
    np.testing.assert_allclose(f.data["co2"], pair("CO2_F_MDS") * 1e-6, rtol=1e-12)
    np.testing.assert_allclose(f.data["pr"] * 3600.0, cols["P_F"].reshape(-1, 2).sum(axis=1),
                               atol=1e-12)
    np.testing.assert_allclose(f.data["tsl_deep"],
                               running_mean(pair("TS_F_MDS_1") + 273.15, 24 * 30), atol=1e-9)


@pytest.mark.parametrize("offset, first_record", [(1.0, 2), (-6.0, 36), (5.5, 11)])
def test_utc_shift_trims_to_whole_days(tmp_path, offset, first_record):
    cols = _synthetic()
    f = read_fluxnet_forcing(_write(tmp_path / "hh.csv", cols), utc_offset_hours=offset)
    assert f.times.size == 48
    assert f.times[0] == np.datetime64("2020-01-02T00:00" if offset < 0 else "2020-01-01T00:00")
    kept = slice(first_record, first_record + 96)
    local0 = np.datetime64("2020-01-01T00:00") + np.timedelta64(30 * first_record, "m")
    assert f.times[0] == (local0 - np.timedelta64(int(offset * 60), "m")).astype("datetime64[s]")
    np.testing.assert_allclose(f.data["tas"][0], cols["TA_F"][kept][:2].mean() + 273.15)
    assert np.isclose(f.data["pr"].sum() * 3600.0, cols["P_F"][kept].sum(), rtol=1e-12)


def test_hourly_file(tmp_path):
    cols = _synthetic(step_min=60)
    f = read_fluxnet_forcing(_write(tmp_path / "hr.csv", cols), utc_offset_hours=-2)
    assert f.times.size == 48 and f.times[0] == np.datetime64("2020-01-02T00:00")
    np.testing.assert_allclose(f.data["tas"], cols["TA_F"][22:70] + 273.15, atol=1e-9)
    np.testing.assert_allclose(f.data["pr"] * 3600.0, cols["P_F"][22:70], atol=1e-12)
    with pytest.raises(ConfigError, match="multiple"):
        read_fluxnet_forcing(tmp_path / "hr.csv", utc_offset_hours=5.5)


def test_gap_is_an_error_naming_column_and_time(tmp_path):
    cols = _synthetic()
    cols["VPD_F"][50] = -9999
    path = _write(tmp_path / "gap.csv", cols)
    with pytest.raises(InputDataError, match=r"gap\.csv.*'VPD_F'.*202001020100"):
        read_fluxnet_forcing(path, utc_offset_hours=0)
    f = read_fluxnet_forcing(path, utc_offset_hours=0, max_gap_records=1)
    filled = (cols["VPD_F"][49] + cols["VPD_F"][51]) / 2.0  # hour 25 = records 50 and 51
    assert np.isclose(f.data["vpd"][25], 100.0 * (filled + cols["VPD_F"][51]) / 2.0)
    cols["VPD_F"][51] = -9999
    with pytest.raises(InputDataError, match="longer than max_gap_records=1"):
        read_fluxnet_forcing(_write(path, cols), utc_offset_hours=0, max_gap_records=1)


def test_gap_outside_kept_days_is_ignored(tmp_path):
    cols = _synthetic()
    cols["TA_F"][0] = -9999  # local 00:00 on day 1 is trimmed with a UTC offset of +1 h
    path = _write(tmp_path / "gap.csv", cols)
    assert read_fluxnet_forcing(path, utc_offset_hours=1).times.size == 48
    with pytest.raises(InputDataError, match="'TA_F'.*202001010000"):
        read_fluxnet_forcing(path, utc_offset_hours=0, max_gap_records=5)


@pytest.mark.parametrize("column", ["LW_IN_F", "TA_F", "P_F"])
def test_missing_required_column(tmp_path, column):
    cols = _synthetic()
    del cols[column]
    with pytest.raises(InputDataError, match=f"missing required column '{column}'"):
        read_fluxnet_forcing(_write(tmp_path / "x.csv", cols), utc_offset_hours=0)


def test_optional_columns_fall_back(tmp_path, caplog):
    cols = _synthetic()
    del cols["CO2_F_MDS"], cols["TS_F_MDS_1"]
    with caplog.at_level(logging.WARNING, logger="tccas.readers.fluxnet"):
        f = read_fluxnet_forcing(_write(tmp_path / "x.csv", cols), utc_offset_hours=0)
    assert np.all(f.data["co2"] == DEFAULT_CO2)
    assert "CO2_F_MDS" in caplog.text
    np.testing.assert_allclose(f.data["tsl_deep"], running_mean(f.data["tas"], 24 * 30))


def test_offset_required_and_bad_steps(tmp_path):
    cols = _synthetic()
    path = _write(tmp_path / "x.csv", cols)
    with pytest.raises(ConfigError, match="utc_offset_hours is required"):
        read_fluxnet_forcing(path)
    for c in cols:
        cols[c] = np.delete(cols[c], 10)
    with pytest.raises(InputDataError, match="202001010430 is followed by 202001010530"):
        read_fluxnet_forcing(_write(path, cols), utc_offset_hours=0)
    with pytest.raises(InputDataError, match="file not found"):
        read_fluxnet_forcing(tmp_path / "none.csv", utc_offset_hours=0)


def test_daily_day_night_amplitude(tmp_path):
    days = np.arange(np.datetime64("2021-06-01"), np.datetime64("2021-06-11"))
    n = days.size
    cols = {"TIMESTAMP": np.array([str(d).replace("-", "") for d in days]),
            "TA_F": np.full(n, 20.0), "TA_F_DAY": np.full(n, 24.0), "TA_F_NIGHT": np.full(n, 16.0),
            "SW_IN_F": np.full(n, 250.0), "LW_IN_F": np.full(n, 350.0), "VPD_F": np.full(n, 10.0),
            "PA_F": np.full(n, 100.0), "P_F": np.full(n, 2.4), "WS_F": np.full(n, 3.0)}
    cols["TA_F_NIGHT"][5] = -9999  # that day falls back to the clearness-index amplitude
    f = read_fluxnet_forcing(_write(tmp_path / "dd.csv", cols), lat=50.0, lon=10.0)
    tas = f.data["tas"].reshape(n, 24)
    np.testing.assert_allclose(tas.mean(axis=1), 293.15, atol=1e-9)
    span = np.ptp(tas[2])
    assert 0.95 * np.pi / 2 * 8.0 < span <= np.pi / 2 * 8.0  # 2 * pi/4 * (T_day - T_night)
    assert np.argmax(tas[2]) in (13, 14, 15)  # 15 h solar time is about 14:20 UTC at 10 E
    np.testing.assert_allclose(f.data["pr"], 2.4 / 86400.0)
    with pytest.raises(ConfigError, match="lat and lon"):
        read_fluxnet_forcing(tmp_path / "dd.csv")


def test_real_daily_file_us_ar1(caplog):
    raw = np.genfromtxt(US_AR1, delimiter=",", names=True)
    with caplog.at_level(logging.WARNING, logger="tccas.readers.fluxnet"):
        f = read_fluxnet_forcing(US_AR1, utc_offset_hours=-6, lat=US_AR1_LAT, lon=US_AR1_LON)
    nd = raw.size
    assert nd == 1461
    assert f.times.size == nd * 24
    assert f.times[0] == np.datetime64("2009-01-01T00:00:00")
    assert f.times[-1] == np.datetime64("2012-12-31T23:00:00")
    daily = {k: v.reshape(nd, 24).mean(axis=1) for k, v in f.data.items()}
    np.testing.assert_allclose(daily["tas"], raw["TA_F"] + 273.15, rtol=0, atol=1e-9)
    sunny = raw["SW_IN_F"] > 0
    np.testing.assert_allclose(daily["rsds"][sunny], raw["SW_IN_F"][sunny], rtol=1e-12)
    np.testing.assert_allclose(f.data["pr"].sum() * 3600.0, raw["P_F"].sum(), rtol=1e-12)
    np.testing.assert_allclose(daily["vpd"], raw["VPD_F"] * 100.0, rtol=1e-12)
    np.testing.assert_allclose(daily["ps"], raw["PA_F"] * 1000.0, rtol=1e-12)
    # short-wave is zero at night: local solar midnight is about 06:40 UTC at 99.4 W
    assert np.all(f.data["rsds"].reshape(nd, 24)[:, 6] == 0.0)
    # the file lacks CO2_F_MDS and TS_F_MDS_1 for 2009-01-01..04-14 (104 days): CO2 holds
    # the first valid value, TS is replaced by TA_F there
    gap = raw["CO2_F_MDS"] == -9999
    assert gap.sum() == 104 and np.all(gap[:104])
    np.testing.assert_allclose(daily["co2"][:104], raw["CO2_F_MDS"][104] * 1e-6, rtol=1e-12)
    np.testing.assert_allclose(daily["co2"][104:], raw["CO2_F_MDS"][104:] * 1e-6, rtol=1e-12)
    ts = np.where(gap, raw["TA_F"], raw["TS_F_MDS_1"]) + 273.15
    np.testing.assert_allclose(f.data["tsl_deep"], running_mean(np.repeat(ts, 24), 24 * 30),
                               atol=1e-9)
    assert "CO2_F_MDS" in caplog.text and "TS_F_MDS_1" in caplog.text


def test_fluxnet_file_drives_a_model_run(tmp_path):
    """A real FLUXNET2015 daily file (US-AR1 switchgrass, a C4 grass) through the config."""
    from tccas import io as tio
    import tccas
    data = Path(__file__).parent / "data" / "FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv"
    tio.write_static(tmp_path / "static.nc",
                     tio.Static(lat=36.4267, lon=-99.42, pft=(10,), pft_fraction=(1.0,),
                                sand=0.3, clay=0.3, soil_depth=1.5, name="US-AR1"))
    (tmp_path / "config.toml").write_text(
        f'[site]\nname = "US-AR1"\nstatic = "static.nc"\nforcing = "{data}"\n'
        'forcing_format = "fluxnet"\nutc_offset_hours = -6\n'
        "[run]\nstart = 2010-01-01\nend = 2011-12-31\nspinup_hours = 8760\n")
    res = tccas.run(tmp_path / "config.toml", output_dir=tmp_path / "out", progress=False)
    gpp = res.cell.daily[:, 6, 0]
    month = res.times[::24].astype("datetime64[M]").astype(int) % 12 + 1
    # a C4 prairie grass: growing-season GPP well above winter GPP
    assert gpp[np.isin(month, [5, 6, 7])].mean() > 3 * gpp[np.isin(month, [12, 1, 2])].mean()
    assert "US-AR1" in res.summary
