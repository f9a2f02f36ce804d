"""Tests of the ground-based and validation observation readers: FLUXNET NEE/GPP/LE,
JRC-TIP FAPAR and ESA CCI Biomass AGB."""
from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from tccas.errors import ConfigError, InputDataError
from tccas.readers import read_cci_biomass, read_fluxnet_obs, read_jrc_tip
from tccas.readers.fluxnet import UMOL_CO2_TO_GC_PER_DAY

DATA = Path(__file__).parent / "data"
US_AR1 = DATA / "FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv"
FOOT = {9: 0.7, 3: 0.2}
CONV = 12.011e-6 * 86400.0


# ---------------------------------------------------------------------------------------------
# FLUXNET

def _write_csv(path: Path, cols: dict[str, list]) -> Path:
    names = list(cols)
    rows = zip(*(cols[c] for c in names))
    path.write_text(",".join(names) + "\n"
                    + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


def _stamps(start: str, n: int, step_min: int, digits: int = 12) -> list[str]:
    t = np.datetime64(start) + np.arange(n) * np.timedelta64(step_min, "m")
    s = [str(x).replace("-", "").replace("T", "").replace(":", "") for x in t]
    return [x[:digits].ljust(digits, "0") for x in s]


def _half_hourly(n: int = 8, step_min: int = 30) -> dict[str, list]:
    """Eight records from 2020-06-01 00:00 local time; record 2 missing, 3 medium QC,
    4 poor QC, 5 with missing random uncertainty and quartiles."""
    nee = [-5.0, 2.0, -9999, -8.0, 3.0, 0.05, -12.0, 4.0]
    return {
        "TIMESTAMP_START": _stamps("2020-06-01T00:00", n, step_min),
        "TIMESTAMP_END": _stamps(str(np.datetime64("2020-06-01T00:00")
                                     + np.timedelta64(step_min, "m")), n, step_min),
        "NEE_VUT_REF": nee,
        "NEE_VUT_REF_QC": [0, 1, 0, 2, 3, 0, 0, 1],
        "NEE_VUT_REF_RANDUNC": [2.0, 0.1, 1.0, 1.0, 1.0, -9999, 3.0, 0.5],
        "NEE_VUT_25": [-5.5, 1.9, -9999, -8.1, 2.9, -9999, -12.5, 3.9],
        "NEE_VUT_75": [-4.5, 2.1, -9999, -7.9, 3.1, -9999, -11.5, 4.1],
        "GPP_NT_VUT_REF": [8.0, 0.0, -9999, 10.0, 1.0, 0.2, 15.0, 0.0],
        "GPP_DT_VUT_REF": [10.0, 0.5, -9999, 11.0, 1.0, 0.2, 13.0, 0.0],
        "GPP_NT_VUT_25": [7.5, 0.0, -9999, 9.9, 1.0, 0.2, 14.5, 0.0],
        "GPP_NT_VUT_75": [8.5, 0.0, -9999, 10.1, 1.0, 0.2, 15.5, 0.0],
        "LE_F_MDS": [150.0, 20.0, 80.0, -9999, 60.0, 5.0, 300.0, 10.0],
        "LE_F_MDS_QC": [0, 0, 3, 0, 1, 0, 0, 2],
        "LE_RANDUNC": [40.0, 1.0, 10.0, 10.0, 10.0, 1.0, 20.0, 2.0],
    }


def test_flux_nee_half_hourly_units_windows_sigma(tmp_path):
    cols = _half_hourly()
    f = _write_csv(tmp_path / "FLX_XX-Tst_FLUXNET2015_FULLSET_HH_2020-2020_1-4.csv", cols)
    obs = read_fluxnet_obs(f, "nee", FOOT, utc_offset_hours=2)
    obs.validate()
    assert obs.stream == "nee" and obs.unit == "g m-2 d-1"
    kept = [0, 1, 5, 6, 7]            # 2 missing, 3 and 4 QC > 1
    assert len(obs) == 5
    assert UMOL_CO2_TO_GC_PER_DAY == pytest.approx(1.0377504)
    np.testing.assert_allclose(obs.value, np.array(cols["NEE_VUT_REF"])[kept] * CONV,
                               rtol=1e-12)
    # local 00:00 at UTC+2 is 22:00 UTC the day before; half-hour windows
    assert obs.t_start[0] == np.datetime64("2020-05-31T22:00:00")
    assert obs.t_start[2] == np.datetime64("2020-06-01T00:30:00")
    assert (obs.t_end - obs.t_start == np.timedelta64(1800, "s")).all()
    assert obs.t_start.dtype == np.dtype("datetime64[s]")
    np.testing.assert_array_equal(obs.qc, [0, 1, 0, 0, 1])
    # sigma: sqrt(randunc^2 + (iqr / 1.349)^2) converted, floor 0.2 |v| + 0.1
    data0 = np.hypot(2.0, 1.0 / 1.349) * CONV
    assert obs.sigma[0] == pytest.approx(data0, rel=1e-12)
    assert data0 > 0.2 * 5.0 * CONV + 0.1
    # record 1: data sigma tiny -> floor
    assert obs.sigma[1] == pytest.approx(0.2 * 2.0 * CONV + 0.1, rel=1e-12)
    # record 5: no uncertainty columns -> floor only
    assert obs.sigma[2] == pytest.approx(0.2 * 0.05 * CONV + 0.1, rel=1e-12)
    assert obs.attrs["n_missing"] == 1 and obs.attrs["n_rejected_qc"] == 2
    assert obs.attrs["n_sigma_floor_only"] == 1 and obs.attrs["file_resolution"] == "HH"
    assert obs.pft == (3, 9)
    np.testing.assert_array_equal(obs.footprint, np.tile([0.2, 0.7], (5, 1)))
    # QC up to 3 keeps everything that is not missing
    assert len(read_fluxnet_obs(f, "nee", FOOT, 2, qc_max=3)) == 7


def test_flux_gpp_sigma_components_and_method(tmp_path):
    cols = _half_hourly()
    f = _write_csv(tmp_path / "hh.csv", cols)
    obs = read_fluxnet_obs(f, "gpp", {9: 1.0}, utc_offset_hours=0, sigma_floor=(0.0, 1e-3))
    obs.validate()
    kept = [0, 1, 5, 6, 7]            # screened with NEE_VUT_REF_QC
    np.testing.assert_allclose(obs.value, np.array(cols["GPP_NT_VUT_REF"])[kept] * CONV)
    # record 0: randunc 2, partitioning |8-10|/2 = 1, USTAR (8.5-7.5)/1.349
    expect = np.sqrt(2.0 ** 2 + 1.0 ** 2 + (1.0 / 1.349) ** 2) * CONV
    assert obs.sigma[0] == pytest.approx(expect, rel=1e-12)
    # record 5: only the (zero) partitioning spread and quartile spread -> floor 1e-3
    assert obs.sigma[2] == pytest.approx(1e-3)
    assert obs.attrs["gpp_method"] == "NT" and obs.attrs["qc_variable"] == "NEE_VUT_REF_QC"
    dt = read_fluxnet_obs(f, "gpp", {9: 1.0}, 0, gpp_method="DT")
    np.testing.assert_allclose(dt.value, np.array(cols["GPP_DT_VUT_REF"])[kept] * CONV)


def test_flux_le_hourly_no_conversion(tmp_path):
    cols = _half_hourly(step_min=60)
    f = _write_csv(tmp_path / "FLX_XX-Tst_FLUXNET2015_FULLSET_HR_2020-2020_1-4.csv", cols)
    obs = read_fluxnet_obs(f, "le", FOOT, utc_offset_hours=-6)
    obs.validate()
    kept = [0, 1, 4, 5, 6]            # 2 QC 3, 3 missing, 7 QC 2
    np.testing.assert_allclose(obs.value, np.array(cols["LE_F_MDS"])[kept])
    assert obs.unit == "W m-2" and obs.attrs["file_resolution"] == "HR"
    assert obs.t_start[0] == np.datetime64("2020-06-01T06:00:00")
    assert (obs.t_end - obs.t_start == np.timedelta64(3600, "s")).all()
    assert obs.sigma[0] == pytest.approx(40.0)                    # RANDUNC above the floor
    assert obs.sigma[1] == pytest.approx(0.2 * 20.0 + 2.0)        # floor


def test_flux_daily_fraction_qc(tmp_path):
    cols = {
        "TIMESTAMP": _stamps("2021-03-01", 5, 1440, digits=8),
        "NEE_VUT_REF": [1.5, -2.0, -9999, 0.5, -3.0],
        "NEE_VUT_REF_QC": [1.0, 0.85, 1.0, 0.5, 0.8],
        "NEE_VUT_REF_RANDUNC": [0.3, 0.2, 0.1, 0.1, 0.05],
    }
    f = _write_csv(tmp_path / "dd.csv", cols)
    obs = read_fluxnet_obs(f, "nee", FOOT)                 # no UTC offset needed
    obs.validate()
    np.testing.assert_allclose(obs.value, [1.5, -2.0, -3.0])   # already g C m-2 d-1
    np.testing.assert_array_equal(obs.t_start, np.array(
        ["2021-03-01", "2021-03-02", "2021-03-05"], dtype="datetime64[s]"))
    assert (obs.t_end - obs.t_start == np.timedelta64(86400, "s")).all()
    np.testing.assert_array_equal(obs.qc, [0, 15, 20])
    assert obs.sigma[0] == pytest.approx(max(0.3, 0.2 * 1.5 + 0.1))
    assert obs.attrs["n_missing"] == 1 and obs.attrs["n_rejected_qc"] == 1
    assert len(read_fluxnet_obs(f, "nee", FOOT, min_good_fraction=0.0)) == 4


def _us_ar1_columns() -> dict[str, np.ndarray]:
    header = US_AR1.read_text().splitlines()[0].split(",")
    arr = np.loadtxt(US_AR1, delimiter=",", skiprows=1)
    return {h: arr[:, i] for i, h in enumerate(header)}


@pytest.mark.parametrize("stream,col,qccol", [("nee", "NEE_VUT_REF", "NEE_VUT_REF_QC"),
                                              ("gpp", "GPP_NT_VUT_REF", "NEE_VUT_REF_QC"),
                                              ("le", "LE_F_MDS", "LE_F_MDS_QC")])
def test_flux_real_us_ar1_daily(stream, col, qccol):
    cols = _us_ar1_columns()
    obs = read_fluxnet_obs(US_AR1, stream, {10: 0.9})
    obs.validate(period=(np.datetime64("2009-01-01T00:00:00"),
                         np.datetime64("2013-01-01T00:00:00")), pfts=(10,))
    keep = (cols[col] != -9999) & (cols[qccol] >= 0.8)
    assert len(obs) == keep.sum() > 1000
    np.testing.assert_allclose(obs.value, cols[col][keep])
    days = np.array([f"{int(s) // 10000:04d}-{int(s) // 100 % 100:02d}-{int(s) % 100:02d}"
                     for s in cols["TIMESTAMP"][keep]], dtype="datetime64[s]")
    np.testing.assert_array_equal(obs.t_start, days)
    assert obs.attrs["n_records"] == 1461 and obs.attrs["file_resolution"] == "DD"
    assert (obs.sigma >= 0.2 * np.abs(obs.value) + (2.0 if stream == "le" else 0.1)
            - 1e-12).all()


def test_flux_real_us_ar1_known_day():
    """2009-04-30 (QC 1.0): values and the GPP uncertainty from the file's own columns."""
    cols = _us_ar1_columns()
    i = int(np.nonzero(cols["TIMESTAMP"] == 20090430)[0][0])
    gpp = read_fluxnet_obs(US_AR1, "gpp", {10: 1.0})
    k = int(np.nonzero(gpp.t_start == np.datetime64("2009-04-30T00:00:00"))[0][0])
    assert gpp.value[k] == pytest.approx(2.83876)
    comp = np.sqrt(cols["NEE_VUT_REF_RANDUNC"][i] ** 2
                   + (0.5 * (cols["GPP_NT_VUT_REF"][i] - cols["GPP_DT_VUT_REF"][i])) ** 2
                   + ((cols["GPP_NT_VUT_75"][i] - cols["GPP_NT_VUT_25"][i]) / 1.349) ** 2)
    assert gpp.sigma[k] == pytest.approx(max(comp, 0.2 * 2.83876 + 0.1))
    nee = read_fluxnet_obs(US_AR1, "nee", {10: 1.0})
    assert nee.value[0] == pytest.approx(1.67556)       # first kept day, a source in spring
    assert nee.t_start[0] == np.datetime64("2009-04-30T00:00:00")


def test_flux_errors(tmp_path):
    cols = _half_hourly()
    f = _write_csv(tmp_path / "hh.csv", cols)
    with pytest.raises(ConfigError, match="unknown flux stream 'sif'.*nee, gpp, le"):
        read_fluxnet_obs(f, "sif", FOOT, 0)
    with pytest.raises(ConfigError, match="utc_offset_hours is required"):
        read_fluxnet_obs(f, "nee", FOOT)
    with pytest.raises(ConfigError, match="gpp_method"):
        read_fluxnet_obs(f, "gpp", FOOT, 0, gpp_method="XX")
    with pytest.raises(ConfigError, match="footprint PFT code 14"):
        read_fluxnet_obs(f, "nee", {14: 0.5}, 0)
    with pytest.raises(ConfigError, match="sum to a value in"):
        read_fluxnet_obs(f, "nee", {3: 0.7, 9: 0.7}, 0)
    with pytest.raises(ConfigError, match="sigma_floor"):
        read_fluxnet_obs(f, "nee", FOOT, 0, sigma_floor=(0.2, 0.0))
    with pytest.raises(ConfigError, match="qc_max"):
        read_fluxnet_obs(f, "nee", FOOT, 0, qc_max=5)
    del cols["LE_F_MDS_QC"]
    g = _write_csv(tmp_path / "noqc.csv", cols)
    # without its QC column a stream is read unscreened, every non-missing record kept
    noqc = read_fluxnet_obs(g, "le", FOOT, 0)
    assert np.all(noqc.qc == -1) and "absent" in noqc.attrs["qc_meaning"]
    assert len(noqc) == int(np.sum(~np.isin(np.asarray(cols["LE_F_MDS"], float), [-9999.0])))
    del cols["LE_F_MDS"]
    h = _write_csv(tmp_path / "nole.csv", cols)
    with pytest.raises(InputDataError, match=r"nole\.csv: missing required column 'LE_F_MDS'"):
        read_fluxnet_obs(h, "le", FOOT, 0)
    with pytest.raises(InputDataError, match=r"absent\.csv: file not found"):
        read_fluxnet_obs(tmp_path / "absent.csv", "nee", FOOT, 0)
    text = _write_csv(tmp_path / "text.csv", {**_half_hourly(), "NEE_VUT_REF": ["x"] * 8})
    with pytest.raises(InputDataError, match=r"text\.csv: cannot read the numeric data"):
        read_fluxnet_obs(text, "nee", FOOT, 0)
    weekly = {"TIMESTAMP_START": ["20200101", "20200108"], "NEE_VUT_REF": [1.0, 2.0],
              "NEE_VUT_REF_QC": [1.0, 1.0]}
    with pytest.raises(InputDataError, match="only HH, HR and DD"):
        read_fluxnet_obs(_write_csv(tmp_path / "ww.csv", weekly), "nee", FOOT, 0)


# ---------------------------------------------------------------------------------------------
# JRC-TIP FAPAR

LATS = np.array([40.15, 40.05, 39.95, 39.85])            # 0.1 deg cells, descending
LONS = np.array([-6.25, -6.15, -6.05, -5.95, -5.85])
SITE = (39.94, -6.03)                                     # cell (2, 2): 39.95 N, 6.05 W


def _masked(a: np.ndarray) -> np.ma.MaskedArray:
    """NaN -> masked (written as the variable's _FillValue), without casting NaN to int."""
    return np.ma.array(np.nan_to_num(a), mask=np.isnan(a))


def _tip_c3s(path: Path, fapar: np.ndarray, err: np.ndarray, flag: np.ndarray,
             lons: np.ndarray = LONS) -> Path:
    """C3S-like file: 3 dekads, packed int16 fAPAR/fAPAR_ERR, ubyte QFLAG with CF flags."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", fapar.shape[0])
        ds.createDimension("lat", LATS.size)
        ds.createDimension("lon", lons.size)
        ds.createDimension("nv", 2)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2018-01-01 00:00:00"
        t.calendar = "standard"
        t.bounds = "time_bnds"
        t[:] = np.arange(fapar.shape[0]) * 10.0
        b = ds.createVariable("time_bnds", "f8", ("time", "nv"))
        b[:] = np.column_stack([t[:], t[:] + 10.0])
        for name, vals in (("lat", LATS), ("lon", lons)):
            v = ds.createVariable(name, "f8", (name,))
            v[:] = vals
        for name in ("fAPAR", "fAPAR_ERR"):
            v = ds.createVariable(name, "i2", ("time", "lat", "lon"), fill_value=-1)
            v.scale_factor = 1.0e-4
            v.add_offset = 0.0
            v.units = "1"
            v[:] = _masked(fapar if name == "fAPAR" else err)
        q = ds.createVariable("QFLAG", "u1", ("time", "lat", "lon"))
        q.flag_masks = np.array([1, 2, 4, 8], dtype=np.uint8)
        q.flag_meanings = "sea snow_ice cloud tip_lut_edge"
        q[:] = flag
    return path


def _fields(nt: int = 3):
    fapar = np.full((nt, LATS.size, LONS.size), 0.9)
    err = np.full_like(fapar, 0.2)
    flag = np.zeros(fapar.shape, dtype=np.uint8)
    fapar[:, 2, 2] = [0.35, 0.42, 0.51][:nt]
    err[:, 2, 2] = [0.08, 0.02, 0.10][:nt]
    return fapar, err, flag


def test_jrc_tip_pixel_windows_sigma_and_flags(tmp_path):
    fapar, err, flag = _fields()
    flag[1, 2, 2] = 8                     # a bit whose meaning is not in BAD_FLAG_MEANINGS
    flag[:, 2, 3] = 4                     # neighbour cloudy: must not matter
    f = _tip_c3s(tmp_path / "c3s_FAPAR_2018_GLOBE.nc", fapar, err, flag)
    obs = read_jrc_tip(f, *SITE, FOOT)
    obs.validate()
    assert obs.stream == "fapar" and len(obs) == 3
    np.testing.assert_allclose(obs.value, [0.35, 0.42, 0.51], atol=1e-6)
    np.testing.assert_allclose(obs.sigma, [0.08, 0.05, 0.10], atol=1e-6)   # floor 0.05
    np.testing.assert_array_equal(obs.qc, [0, 8, 0])
    np.testing.assert_array_equal(obs.t_start, np.array(
        ["2018-01-01", "2018-01-11", "2018-01-21"], dtype="datetime64[s]"))
    assert (obs.t_end - obs.t_start == np.timedelta64(10, "D")).all()
    assert obs.attrs["pixel_centre"] == "39.950000N -6.050000E"
    np.testing.assert_array_equal(obs.footprint, np.tile([0.2, 0.7], (3, 1)))
    # explicit mask: bit 8 now rejects
    assert len(read_jrc_tip(f, *SITE, FOOT, flag_mask=8)) == 2


def test_jrc_tip_drops_fill_flagged_and_out_of_range(tmp_path):
    fapar, err, flag = _fields()
    fapar[0, 2, 2] = np.nan               # written as _FillValue
    flag[1, 2, 2] = 2 | 8                 # snow_ice
    fapar[2, 2, 2] = 1.5                  # outside [0, 1]
    f = _tip_c3s(tmp_path / "tip.nc", fapar, err, flag)
    obs = read_jrc_tip(f, *SITE, FOOT)
    assert len(obs) == 0
    assert (obs.attrs["n_missing"], obs.attrs["n_rejected_flag"], obs.attrs["n_invalid"]) \
        == (1, 1, 1)
    obs.validate()


def test_jrc_tip_several_files_acdd_period_and_lon_360(tmp_path):
    """A single-composite file without time bounds uses ACDD time_coverage_*; a 0..360
    longitude grid is matched."""
    fapar, err, flag = _fields(1)
    f1 = _tip_c3s(tmp_path / "b.nc", fapar, err, flag, lons=LONS + 360.0)
    with netCDF4.Dataset(f1, "a") as ds:
        del ds.variables["time"].bounds
        ds.time_coverage_start = "2019-07-11T00:00:00Z"
        ds.time_coverage_end = "2019-07-20"          # date only: the whole day is included
    fapar0, err0, flag0 = _fields(3)
    f0 = _tip_c3s(tmp_path / "a.nc", fapar0, err0, flag0)
    obs = read_jrc_tip([f1, f0], *SITE, FOOT)
    obs.validate()
    assert len(obs) == 4
    assert obs.t_start[-1] == np.datetime64("2019-07-11T00:00:00")
    assert obs.t_end[-1] == np.datetime64("2019-07-21T00:00:00")
    assert obs.value[-1] == pytest.approx(0.35, abs=1e-6)


def test_jrc_tip_flag_without_cf_meanings_and_inclusive_end(tmp_path):
    """Without flag_masks/flag_meanings any non-zero flag rejects; an ACDD end at 23:59:59
    closes the window at 00:00 of the next day."""
    fapar, err, flag = _fields(1)
    f = _tip_c3s(tmp_path / "noattr.nc", fapar, err, flag)
    with netCDF4.Dataset(f, "a") as ds:
        q = ds.variables["QFLAG"]
        q.delncattr("flag_masks")
        q.delncattr("flag_meanings")
        q[0, 2, 2] = 8
        del ds.variables["time"].bounds
        ds.time_coverage_start = "20190711T000000Z"
        ds.time_coverage_end = "20190720T235959Z"
    obs = read_jrc_tip(f, *SITE, FOOT)
    assert len(obs) == 0 and obs.attrs["n_rejected_flag"] == 1
    kept = read_jrc_tip(f, *SITE, FOOT, flag_mask=0)        # screening switched off
    assert kept.qc[0] == 8
    assert kept.t_start[0] == np.datetime64("2019-07-11T00:00:00")
    assert kept.t_end[0] == np.datetime64("2019-07-21T00:00:00")


def _tip_qa4ecv(path: Path, with_sigma: bool = True) -> Path:
    """QA4ECV-like file: float fapar / sigma_fapar with units '1', time without bounds."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 2)
        ds.createDimension("latitude", LATS.size)
        ds.createDimension("longitude", LONS.size)
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2016-01-01"
        t[:] = [0.0, 8.0]
        ds.createVariable("latitude", "f4", ("latitude",))[:] = LATS
        ds.createVariable("longitude", "f4", ("longitude",))[:] = LONS
        v = ds.createVariable("fapar", "f4", ("time", "latitude", "longitude"),
                              fill_value=np.float32(-999.0))
        v.units = "1"
        v[:] = np.full((2, LATS.size, LONS.size), 0.6)
        if with_sigma:
            s = ds.createVariable("sigma_fapar", "f4", ("time", "latitude", "longitude"))
            s.units = "1"
            s[:] = np.full((2, LATS.size, LONS.size), 0.12)
    return path


def test_jrc_tip_qa4ecv_layout_needs_composite_period(tmp_path):
    f = _tip_qa4ecv(tmp_path / "QA4ECV_TIP.nc")
    with pytest.raises(ConfigError, match="composite_days and time_anchor"):
        read_jrc_tip(f, *SITE, FOOT)
    obs = read_jrc_tip(f, *SITE, FOOT, composite_days=16, time_anchor="centre")
    obs.validate()
    np.testing.assert_allclose(obs.value, 0.6, atol=1e-6)
    np.testing.assert_allclose(obs.sigma, 0.12, atol=1e-6)
    assert obs.t_start[0] == np.datetime64("2015-12-24T00:00:00")
    assert obs.t_end[0] == np.datetime64("2016-01-09T00:00:00")
    start = read_jrc_tip(f, *SITE, FOOT, composite_days=8, time_anchor="start")
    assert start.t_start[1] == np.datetime64("2016-01-09T00:00:00")


def test_jrc_tip_errors(tmp_path):
    f = _tip_qa4ecv(tmp_path / "nosigma.nc", with_sigma=False)
    with pytest.raises(InputDataError, match=r"nosigma\.nc: missing variable 'fAPAR_ERR'.*"
                                             r"'sigma_fapar'"):
        read_jrc_tip(f, *SITE, FOOT, composite_days=8, time_anchor="start")
    fapar, err, flag = _fields()
    g = _tip_c3s(tmp_path / "grid.nc", fapar, err, flag)
    with pytest.raises(InputDataError, match=r"grid\.nc: the site \(lat=45"):
        read_jrc_tip(g, 45.0, -6.0, FOOT)
    with pytest.raises(InputDataError, match=r"grid\.nc: missing variable 'FAPAR_X'"):
        read_jrc_tip(g, *SITE, FOOT, value_var="FAPAR_X")
    with pytest.raises(InputDataError, match="file not found"):
        read_jrc_tip(tmp_path / "none.nc", *SITE, FOOT)
    bad = tmp_path / "bad.nc"
    bad.write_text("not netCDF")
    with pytest.raises(InputDataError, match=r"bad\.nc: not a readable netCDF file"):
        read_jrc_tip(bad, *SITE, FOOT)
    with pytest.raises(ConfigError, match="time_anchor"):
        read_jrc_tip(g, *SITE, FOOT, time_anchor="middle")
    with pytest.raises(ConfigError, match="footprint"):
        read_jrc_tip(g, *SITE, {})


# ---------------------------------------------------------------------------------------------
# ESA CCI Biomass

RES = 1.0 / 1125.0                                        # ~100 m
B_LATS = 39.95 - RES * (np.arange(21) + 0.5)             # descending, like the product
B_LONS = -6.01 + RES * (np.arange(25) + 0.5)
B_SITE = (float(B_LATS[10]), float(B_LONS[12]))          # a pixel centre


def _agb_fields():
    i, j = np.meshgrid(np.arange(B_LATS.size), np.arange(B_LONS.size), indexing="ij")
    agb = (50.0 + 2.0 * i + 3.0 * j).astype(float)
    se = 0.3 * agb
    return agb, se


def _biomass_nc(path: Path, agb: np.ndarray, se: np.ndarray, with_time: bool = True,
                se_name: str = "agb_se") -> Path:
    with netCDF4.Dataset(path, "w") as ds:
        if with_time:
            ds.createDimension("time", 1)
            t = ds.createVariable("time", "f8", ("time",))
            t.units = "days since 1970-01-01"
            t[:] = [(np.datetime64("2018-01-01") - np.datetime64("1970-01-01")).astype(int)]
        ds.createDimension("lat", B_LATS.size)
        ds.createDimension("lon", B_LONS.size)
        ds.createVariable("lat", "f8", ("lat",))[:] = B_LATS
        ds.createVariable("lon", "f8", ("lon",))[:] = B_LONS
        dims = ("time", "lat", "lon") if with_time else ("lat", "lon")
        for name, vals, long in (("agb", agb, "Above-ground biomass"),
                                 (se_name, se, "Above-ground biomass standard_error")):
            v = ds.createVariable(name, "i2", dims, fill_value=np.int16(-32768))
            v.units = "Mg/ha"
            v.long_name = long
            v.valid_min = np.int16(0)
            v.valid_max = np.int16(10000)
            v[:] = _masked(np.round(vals))[None] if with_time else _masked(np.round(vals))
    return path


def _expected_mean(agb, se, radius_km):
    a, s = np.round(agb), np.round(se)
    lat0, lon0 = np.radians(B_SITE[0]), np.radians(B_SITE[1])
    la, lo = np.meshgrid(np.radians(B_LATS), np.radians(B_LONS), indexing="ij")
    h = (np.sin((la - lat0) / 2) ** 2
         + np.cos(lat0) * np.cos(la) * np.sin((lo - lon0) / 2) ** 2)
    d = 2 * 6371.0 * np.arcsin(np.sqrt(h))
    sel = (d <= radius_km) & np.isfinite(a)
    w = np.cos(la)[sel]
    return (w * a[sel]).sum() / w.sum(), np.sqrt((w * s[sel] ** 2).sum() / w.sum()), sel


def test_biomass_containing_pixel_and_year_window(tmp_path):
    agb, se = _agb_fields()
    f = _biomass_nc(tmp_path / "ESACCI-BIOMASS-L4-AGB-MERGED-100m-2018-fv4.0.nc", agb, se)
    obs = read_cci_biomass(f, *B_SITE, FOOT, radius_km=0.0)
    obs.validate()
    assert obs.stream == "agb" and obs.unit == "Mg ha-1" and len(obs) == 1
    assert obs.value[0] == agb[10, 12] == 106.0
    assert obs.sigma[0] == pytest.approx(round(0.3 * 106.0))       # 32 > 0.1 * 106 + 1
    assert obs.t_start[0] == np.datetime64("2018-01-01T00:00:00")
    assert obs.t_end[0] == np.datetime64("2019-01-01T00:00:00")
    assert obs.qc[0] == 0
    np.testing.assert_array_equal(obs.footprint, [[0.2, 0.7]])


def test_biomass_radius_average_with_fill_pixels(tmp_path):
    agb, se = _agb_fields()
    agb[9, 11:14] = np.nan               # water: _FillValue
    f = _biomass_nc(tmp_path / "ESACCI-BIOMASS-L4-AGB-MERGED-100m-2018-fv4.0.nc", agb, se)
    obs = read_cci_biomass(f, *B_SITE, FOOT, radius_km=0.35)
    obs.validate()
    mean, sig, sel = _expected_mean(agb, se, 0.35)
    n_all = int(_expected_mean(np.nan_to_num(agb), se, 0.35)[2].sum())
    assert sel.sum() < n_all                                  # some fill pixels were inside
    assert obs.value[0] == pytest.approx(mean, rel=1e-12)
    assert obs.sigma[0] == pytest.approx(sig, rel=1e-12)
    assert obs.qc[0] == round(100 * (1 - sel.sum() / n_all))
    assert obs.attrs["n_pixels"] == str(n_all)


def test_biomass_year_from_file_name_floor_and_insufficient(tmp_path):
    agb, se = _agb_fields()
    se[:] = 0.0
    f = _biomass_nc(tmp_path / "N40W010_ESACCI-BIOMASS-L4-AGB-MERGED-100m-2020-fv4.0.nc",
                    agb, se, with_time=False, se_name="agb_sd")
    obs = read_cci_biomass(f, *B_SITE, FOOT, radius_km=0)
    assert obs.t_start[0] == np.datetime64("2020-01-01T00:00:00")
    assert obs.sigma[0] == pytest.approx(0.1 * 106.0 + 1.0)   # zero se: the floor
    agb[:] = np.nan
    agb[10, 12] = 80.0
    g = _biomass_nc(tmp_path / "ESACCI-BIOMASS-L4-AGB-MERGED-100m-2017-fv4.0.nc", agb, se,
                    with_time=False)
    dropped = read_cci_biomass(g, *B_SITE, FOOT, radius_km=0.3)
    assert len(dropped) == 0 and dropped.attrs["n_insufficient"] == 1
    both = read_cci_biomass([f, g], *B_SITE, FOOT, radius_km=0.0)
    np.testing.assert_array_equal(both.t_start, np.array(["2017-01-01", "2020-01-01"],
                                                          dtype="datetime64[s]"))
    both.validate()


def test_biomass_errors(tmp_path):
    agb, se = _agb_fields()
    f = _biomass_nc(tmp_path / "agb.nc", agb, se, se_name="uncertainty")
    with pytest.raises(InputDataError, match=r"agb\.nc: missing variable 'agb_se'"):
        read_cci_biomass(f, *B_SITE, FOOT)
    g = _biomass_nc(tmp_path / "noyear.nc", agb, se, with_time=False)
    with pytest.raises(InputDataError, match=r"noyear\.nc: cannot tell the product year"):
        read_cci_biomass(g, *B_SITE, FOOT)
    h = _biomass_nc(tmp_path / "ESACCI-BIOMASS-L4-AGB-MERGED-100m-2018-fv4.0.nc", agb, se)
    with pytest.raises(InputDataError, match="lies outside the grid of variable 'lon'"):
        read_cci_biomass(h, B_SITE[0], 10.0, FOOT)
    with pytest.raises(ConfigError, match="radius_km"):
        read_cci_biomass(h, *B_SITE, FOOT, radius_km=-1.0)
    with pytest.raises(InputDataError, match="file not found"):
        read_cci_biomass(tmp_path / "missing.nc", *B_SITE, FOOT)


def test_reader_outputs_round_trip_through_obs_files(tmp_path):
    """The attributes the readers set are valid netCDF global attributes."""
    from tccas.obs import read_obs, write_obs
    agb, se = _agb_fields()
    fapar, err, flag = _fields()
    sets = [read_fluxnet_obs(US_AR1, "nee", {10: 1.0}),
            read_jrc_tip(_tip_c3s(tmp_path / "tip.nc", fapar, err, flag), *SITE, FOOT),
            read_cci_biomass(_biomass_nc(
                tmp_path / "ESACCI-BIOMASS-L4-AGB-MERGED-100m-2018-fv4.0.nc", agb, se),
                *B_SITE, FOOT)]
    for obs in sets:
        back = read_obs(write_obs(tmp_path / f"{obs.stream}.nc", obs))
        np.testing.assert_allclose(back.value, obs.value)
        np.testing.assert_array_equal(back.t_end, obs.t_end)
        assert back.attrs["qc_meaning"] == obs.attrs["qc_meaning"]
