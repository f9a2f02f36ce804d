"""Tests of the satellite product readers (TROPOSIF L2B SIF, SMOS-IC soil moisture and L-VOD).

Each test writes small files in the layout documented in the reader's module docstring
(groups, variable names, dimensions, units, fill values) with a few soundings / grid cells
around a site, and checks which records are kept, their values, sigmas and UTC windows.
"""
from __future__ import annotations

import logging
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from tccas.errors import ConfigError, InputDataError
from tccas.obs import read_obs, write_obs
from tccas.readers import read_smos_ic, read_troposif
from tccas.readers import smos as smos_mod
from tccas.readers import troposif as tsif

FOOTPRINT = {5: 0.7, 9: 0.2}                 # EvCn 70 %, C3Gr 20 % of the sensor footprint
NC_FLOAT_FILL = 9.969209968386869e36          # netCDF default float fill, written undeclared


def _dt64(s: str) -> np.datetime64:
    return np.datetime64(s, "s")


# ============================================================================ TROPOSIF ====

SIF_LAT, SIF_LON = 39.9415, -5.7734          # ES-LM1 (Majadas de Tietar)
DAY1, DAY2 = "2019-06-15", "2019-06-16"


def _quad(clat: float, clon: float, half_lat: float = 0.016, half_lon: float = 0.030,
          skew: float = 0.004) -> tuple[list[float], list[float]]:
    """Corners (counter-clockwise parallelogram, like a TROPOMI ground pixel)."""
    lat_b = [clat - half_lat, clat - half_lat, clat + half_lat, clat + half_lat]
    lon_b = [clon - half_lon + skew, clon + half_lon + skew, clon + half_lon - skew,
             clon - half_lon - skew]
    return lat_b, lon_b


def _sounding(dlat: float, dlon: float, sif: float, err: float, cf: float, ms: int,
              corners: tuple[list[float], list[float]] | None = None) -> dict:
    clat, clon = SIF_LAT + dlat, SIF_LON + dlon
    return {"lat": clat, "lon": clon, "sif": sif, "err": err, "cf": cf, "ms": ms,
            "corners": corners if corners is not None else _quad(clat, clon)}


def _ms(h: int, m: int, s: float = 0.0) -> int:
    return int(round((h * 3600 + m * 60 + s) * 1000))


# day 1: what each sounding tests is in the comment; the site is inside 0, 1, 4 and 5
DAY1_SOUNDINGS = [
    _sounding(0.004, -0.006, 1.25, 0.45, 0.10, _ms(11, 47, 30.25)),   # 0 kept
    _sounding(-0.003, 0.004, 2.00, 0.40, 0.50, _ms(11, 47, 31.0)),    # 1 cloudy
    # 2: centre 2.9 km east (within max_distance_km) but a narrow pixel not reaching the site
    _sounding(0.0, 0.034, 3.00, 0.40, 0.05, _ms(11, 47, 32.0),
              corners=_quad(SIF_LAT, SIF_LON + 0.034, half_lon=0.010, skew=0.0)),
    _sounding(0.9, 0.0, 4.00, 0.40, 0.05, _ms(11, 46, 0.0)),          # 3 100 km north
    _sounding(0.001, 0.001, NC_FLOAT_FILL, 0.40, 0.05, _ms(11, 47, 33.0)),  # 4 SIF fill
    # 5 kept: error below the floor; delta_time past midnight (24 h 06 min of the file day)
    _sounding(0.002, 0.002, 0.80, 0.05, 0.15, _ms(24, 6, 0.0)),
]
DAY2_SOUNDINGS = [_sounding(-0.002, 0.003, 0.95, 0.30, 0.0, _ms(12, 31, 5.0))]


def write_troposif(path: Path, day: str, soundings: list[dict], *, packed: bool = False,
                   corners: bool = True, drop: tuple[str, ...] = (),
                   delta_time_units: str | None = None,
                   sif_units: str = "mW/m2/sr/nm") -> Path:
    """A TROPOSIF L2B daily file (layout of tccas.readers.troposif's docstring).

    ``packed`` stores SIF_743/SIF_ERROR_743 as int16 with scale_factor/add_offset and a
    declared _FillValue (the product stores float32; this exercises the CF unpacking).
    ``drop`` names variables ('group/name') to leave out.
    """
    n = len(soundings)
    col = {k: np.array([s[k] for s in soundings], dtype=float) for k in
           ("lat", "lon", "sif", "err", "cf")}
    ms = np.array([s["ms"] for s in soundings], dtype=np.int32)
    lat_b = np.array([s["corners"][0] for s in soundings], dtype=np.float32)
    lon_b = np.array([s["corners"][1] for s in soundings], dtype=np.float32)
    ref = (np.datetime64(f"{day}T00:00:00", "s") - np.datetime64("2010-01-01T00:00:00", "s"))
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.7"
        ds.institution = "NOVELTIS, UPV, SRON, LSCE"
        ds.title = "TROPOSIF L2B daily SIF"
        ds.time_coverage_start = f"{day}T00:24:00Z"
        ds.processor_version = "2.1"
        ds.createDimension("n_elem", n)
        ds.createDimension("ncorner", 4)
        ds.createDimension("time", 1)
        alg = ds.createGroup("METADATA").createGroup("ALGORITHM_SETTINGS")
        alg.setncattr("Cloud fraction threshold", 0.8)
        alg.setncattr("SZA threshold", 70.0)
        alg.setncattr("VZA threshold", 60.0)
        prod = ds.createGroup("PRODUCT")

        def var(group, gname, name, dtype, dims, data, **attrs):
            if f"{gname}/{name}" in drop:
                return
            fill = attrs.pop("_FillValue", None)
            v = group.createVariable(name, dtype, dims, fill_value=fill)
            for k, a in attrs.items():
                v.setncattr(k, a)
            v[:] = data

        var(prod, "PRODUCT", "time", "i4", ("time",), np.array([ref.astype(np.int64)]),
            units="seconds since 2010-01-01 00:00:00", long_name="reference time")
        var(prod, "PRODUCT", "delta_time", "i4", ("n_elem",), ms,
            units=delta_time_units or f"milliseconds since {day} 00:00:00",
            long_name="offset of the sounding time from the reference day")
        var(prod, "PRODUCT", "latitude", "f4", ("n_elem",), col["lat"],
            units="degrees_north", standard_name="latitude")
        var(prod, "PRODUCT", "longitude", "f4", ("n_elem",), col["lon"],
            units="degrees_east", standard_name="longitude")
        fill = col["sif"] >= 1e30
        sif = (np.ma.masked_array(np.where(fill, 0.0, col["sif"]), mask=fill) if packed
               else col["sif"])
        for name, data in (("SIF_743", sif), ("SIF_Corr_743", col["sif"] * 0.4),
                           ("SIF_ERROR_743", col["err"])):
            if packed and name != "SIF_Corr_743":
                var(prod, "PRODUCT", name, "i2", ("n_elem",), data, _FillValue=np.int16(-32768),
                    scale_factor=np.float32(0.001), add_offset=np.float32(0.0),
                    units=sif_units)
            else:
                var(prod, "PRODUCT", name, "f4", ("n_elem",), data, units=sif_units,
                    long_name=f"retrieved {name}")
        sup = prod.createGroup("SUPPORT_DATA")
        geo = sup.createGroup("GEOLOCATIONS")
        g = "PRODUCT/SUPPORT_DATA/GEOLOCATIONS"
        if corners:
            var(geo, g, "latitude_bounds", "f4", ("n_elem", "ncorner"), lat_b,
                units="degrees_north")
            var(geo, g, "longitude_bounds", "f4", ("n_elem", "ncorner"), lon_b,
                units="degrees_east")
        for name, val in (("solar_zenith_angle", 25.0), ("viewing_zenith_angle", 10.0),
                          ("phase_angle", 30.0)):
            var(geo, g, name, "f4", ("n_elem",), np.full(n, val), units="degree")
        inp = sup.createGroup("INPUT_DATA")
        g = "PRODUCT/SUPPORT_DATA/INPUT_DATA"
        var(inp, g, "cloud_fraction_L2", "f4", ("n_elem",), col["cf"], units="1")
        var(inp, g, "LC_MASK", "u1", ("n_elem",), np.full(n, 4, dtype=np.uint8))
    return path


@pytest.fixture
def sif_files(tmp_path):
    d1 = write_troposif(tmp_path / f"TROPOSIF_L2B_{DAY1}.nc", DAY1, DAY1_SOUNDINGS)
    d2 = write_troposif(tmp_path / f"TROPOSIF_L2B_{DAY2}.nc", DAY2, DAY2_SOUNDINGS)
    return d1, d2


def _check_footprint(obs):
    assert obs.pft == (5, 9)
    assert obs.footprint.shape == (len(obs), 2)
    np.testing.assert_allclose(obs.footprint, np.tile([0.7, 0.2], (len(obs), 1)))


def test_troposif_selects_filters_and_sorts(sif_files):
    d1, d2 = sif_files
    obs = read_troposif([d2, d1], SIF_LAT, SIF_LON, FOOTPRINT)   # files out of order
    assert obs.stream == "sif" and obs.unit == "mW m-2 sr-1 nm-1"
    np.testing.assert_allclose(obs.value, [1.25, 0.80, 0.95], rtol=1e-6)
    np.testing.assert_allclose(obs.sigma, [0.45, 0.1, 0.30], rtol=1e-6)   # 0.05 -> floor
    np.testing.assert_array_equal(obs.t_start, [_dt64("2019-06-15T11:00"),
                                                _dt64("2019-06-16T00:00"),
                                                _dt64("2019-06-16T12:00")])
    np.testing.assert_array_equal(obs.t_end - obs.t_start, np.full(3, np.timedelta64(3600, "s")))
    np.testing.assert_array_equal(obs.qc, 0)
    np.testing.assert_array_equal(obs.angle, 0.0)
    _check_footprint(obs)
    obs.validate()
    assert obs.attrs["n_cloudy"] == 1 and obs.attrs["n_invalid"] == 1
    assert obs.attrs["n_outside_pixel"] == 1           # the narrow pixel 2.9 km east


def test_troposif_result_round_trips_through_obs_file(sif_files, tmp_path):
    obs = read_troposif(list(sif_files), SIF_LAT, SIF_LON, FOOTPRINT)
    back = read_obs(write_obs(tmp_path / "sif_obs.nc", obs))
    np.testing.assert_allclose(back.value, obs.value)
    np.testing.assert_array_equal(back.t_start, obs.t_start)
    np.testing.assert_array_equal(back.t_end, obs.t_end)
    assert back.pft == obs.pft and back.attrs["product"] == obs.attrs["product"]


def test_troposif_single_path_and_qa_switch(sif_files):
    d1, _ = sif_files
    obs = read_troposif(str(d1), SIF_LAT, SIF_LON + 360.0, FOOTPRINT, qa_filter=False)
    np.testing.assert_allclose(obs.value, [1.25, 2.00, 0.80], rtol=1e-6)  # cloudy one kept
    np.testing.assert_array_equal(obs.t_start[:2], [_dt64("2019-06-15T11:00")] * 2)
    stricter = read_troposif(d1, SIF_LAT, SIF_LON, FOOTPRINT, max_cloud_fraction=0.12)
    np.testing.assert_allclose(stricter.value, [1.25], rtol=1e-6)


def test_troposif_packed_values_are_unpacked(tmp_path):
    path = write_troposif(tmp_path / f"TROPOSIF_L2B_{DAY1}.nc", DAY1, DAY1_SOUNDINGS,
                          packed=True)
    with netCDF4.Dataset(path) as ds:                       # really stored as int16
        assert ds["PRODUCT"].variables["SIF_743"].dtype == np.int16
    obs = read_troposif(path, SIF_LAT, SIF_LON, FOOTPRINT)
    np.testing.assert_allclose(obs.value, [1.25, 0.80], atol=1e-6)
    np.testing.assert_allclose(obs.sigma, [0.45, 0.1], atol=1e-6)
    assert obs.attrs["n_invalid"] == 1                      # the declared-fill sounding


def test_troposif_without_corners_uses_centre_distance(tmp_path):
    path = write_troposif(tmp_path / f"TROPOSIF_L2B_{DAY1}.nc", DAY1, DAY1_SOUNDINGS,
                          corners=False)
    obs = read_troposif(path, SIF_LAT, SIF_LON, FOOTPRINT)
    np.testing.assert_allclose(obs.value, [1.25, 3.00, 0.80], rtol=1e-6)  # 2.9 km one in
    obs = read_troposif(path, SIF_LAT, SIF_LON, FOOTPRINT, max_distance_km=2.0)
    np.testing.assert_allclose(obs.value, [1.25, 0.80], rtol=1e-6)


def test_troposif_delta_time_relative_to_reference_time(tmp_path):
    path = write_troposif(tmp_path / f"TROPOSIF_L2B_{DAY1}.nc", DAY1, DAY1_SOUNDINGS,
                          delta_time_units="milliseconds")
    obs = read_troposif(path, SIF_LAT, SIF_LON, FOOTPRINT)
    np.testing.assert_array_equal(obs.t_start, [_dt64("2019-06-15T11:00"),
                                                _dt64("2019-06-16T00:00")])


def test_point_in_polygon_across_the_dateline():
    lat_b = np.array([[-0.05, -0.05, 0.05, 0.05]])
    lon_b = np.array([[179.95, -179.95, -179.95, 179.95]])
    assert tsif.point_in_polygons(0.0, 179.99, lat_b, lon_b)[0]
    assert tsif.point_in_polygons(0.0, -179.99, lat_b, lon_b)[0]
    assert not tsif.point_in_polygons(0.0, 179.90, lat_b, lon_b)[0]
    assert not tsif.point_in_polygons(0.0, 179.99, np.array([[np.nan, 0, 0, 0]]), lon_b)[0]


def test_troposif_no_sounding_over_site_gives_empty_set(sif_files, caplog):
    d1, _ = sif_files
    with caplog.at_level(logging.WARNING, logger="tccas.readers.troposif"):
        obs = read_troposif(d1, -30.0, 140.0, FOOTPRINT)
    assert len(obs) == 0 and obs.footprint.shape == (0, 2)
    obs.validate()
    assert "no TROPOSIF sounding" in caplog.text


def test_troposif_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / f"TROPOSIF_L2B_{DAY1}.nc"
    bad.write_bytes(b"this is not netCDF")
    with pytest.raises(InputDataError, match=f"{bad.name}.*not a readable netCDF"):
        read_troposif(bad, SIF_LAT, SIF_LON, FOOTPRINT)
    with pytest.raises(InputDataError, match="nope.nc: file not found"):
        read_troposif(tmp_path / "nope.nc", SIF_LAT, SIF_LON, FOOTPRINT)


@pytest.mark.parametrize("drop, expected", [
    ("PRODUCT/SIF_ERROR_743", "/PRODUCT/SIF_ERROR_743"),
    ("PRODUCT/delta_time", "/PRODUCT/delta_time"),
    ("PRODUCT/SUPPORT_DATA/INPUT_DATA/cloud_fraction_L2",
     "/PRODUCT/SUPPORT_DATA/INPUT_DATA/cloud_fraction_L2"),
])
def test_troposif_missing_variable_is_named(tmp_path, drop, expected):
    path = write_troposif(tmp_path / f"TROPOSIF_L2B_{DAY1}.nc", DAY1, DAY1_SOUNDINGS,
                          drop=(drop,))
    with pytest.raises(InputDataError, match=rf"{path.name}: missing variable {expected}"):
        read_troposif(path, SIF_LAT, SIF_LON, FOOTPRINT)


def test_troposif_missing_group_and_bad_units(tmp_path):
    path = tmp_path / "empty.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("n_elem", 1)
    with pytest.raises(InputDataError, match=r"empty.nc: missing group '/PRODUCT'"):
        read_troposif(path, SIF_LAT, SIF_LON, FOOTPRINT)
    path = write_troposif(tmp_path / f"TROPOSIF_L2B_{DAY1}.nc", DAY1, DAY1_SOUNDINGS,
                          sif_units="W m-2 sr-1 nm-1")
    with pytest.raises(InputDataError, match=r"/PRODUCT/SIF_743 has units 'W m-2 sr-1 nm-1'"):
        read_troposif(path, SIF_LAT, SIF_LON, FOOTPRINT)


@pytest.mark.parametrize("kwargs, match", [
    ({"footprint": {}}, "non-empty dict"),
    ({"footprint": {14: 0.5}}, "not a BETHY PFT code"),
    ({"footprint": {5: 0.8, 9: 0.4}}, "sum to 1.2"),
    ({"sigma_floor": 0.0}, "sigma_floor"),
    ({"max_cloud_fraction": 1.5}, "max_cloud_fraction"),
    ({"lat": 95.0}, "out of range"),
])
def test_troposif_bad_arguments(sif_files, kwargs, match):
    args = {"lat": SIF_LAT, "lon": SIF_LON, "footprint": FOOTPRINT, **kwargs}
    with pytest.raises(ConfigError, match=match):
        read_troposif(sif_files[0], args.pop("lat"), args.pop("lon"), args.pop("footprint"),
                      **args)


# ============================================================================= SMOS-IC ====

SMOS_LAT, SMOS_LON = 67.3624, 26.6386          # FI-Sod (Sodankyla)
EASE2_CELL = 25025.2600081                      # m
_A, _E2 = 6378137.0, 0.0066943799901413165      # WGS84
_K0 = np.cos(np.radians(30.0)) / np.sqrt(1 - _E2 * np.sin(np.radians(30.0)) ** 2)


def ease2_centres() -> tuple[np.ndarray, np.ndarray]:
    """Row latitudes (584, north to south) and column longitudes (1388) of EASE-2 25 km.

    Cylindrical equal-area on WGS84 with true-scale latitude 30 deg: x = a k0 lon,
    y = a q(lat) / (2 k0); reproduces the TU Wien test values (row 355: -12.55398,
    column 458: -61.08069).
    """
    e = np.sqrt(_E2)
    phis = np.linspace(-89.9, 89.9, 400001)
    s = np.sin(np.radians(phis))
    q = (1 - _E2) * (s / (1 - _E2 * s * s) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))
    ys = _A * q / (2 * _K0)
    rows = np.interp((292 - np.arange(584) - 0.5) * EASE2_CELL, ys, phis)
    cols = -180.0 + (np.arange(1388) + 0.5) * 360.0 / 1388
    return rows, cols


def test_ease2_centres_match_the_tu_wien_reference():
    rows, cols = ease2_centres()
    assert rows[355] == pytest.approx(-12.55398, abs=1e-4)
    assert cols[458] == pytest.approx(-61.08069, abs=1e-4)
    assert cols[1237] == pytest.approx(140.9654, abs=1e-4)


def _window():
    """A 5 x 6 window of the EASE-2 grid around the site; (lat south->north, lon, i, j)."""
    rows, cols = ease2_centres()
    i = int(np.argmin(np.abs(rows - SMOS_LAT)))
    j = int(np.argmin(np.abs(cols - SMOS_LON)))
    lat = rows[i - 2:i + 3][::-1]               # stored south to north
    lon = cols[j - 2:j + 4]
    ii = int(np.argmin(np.abs(lat - SMOS_LAT)))
    jj = int(np.argmin(np.abs(lon - SMOS_LON)))
    return lat, lon, ii, jj


FILL = -999.0


def write_smos_ic(path: Path, day: str, site: dict, *, times: bool = True,
                  drop: tuple[str, ...] = (), sm_units: str = "m3/m3") -> Path:
    """A SMOS-IC daily file (layout of tccas.readers.smos's docstring), a 5 x 6 window.

    ``site``: values of the site's cell (Soil_Moisture, ..., Days, UTC_Seconds, ...); the
    other cells get distinct, valid values so that a wrong cell would be noticed.
    """
    lat, lon, ii, jj = _window()
    ny, nx = lat.size, lon.size
    base_day = (np.datetime64(day, "D") - np.datetime64("2000-01-01", "D")).astype(int)
    fields = {
        "Soil_Moisture": ("f4", 0.33, "m3/m3" if sm_units is None else sm_units,
                          "Soil Moisture"),
        "Soil_Moisture_StdError": ("f4", 0.05, "m3/m3", "Soil Moisture standard error"),
        "Optical_Thickness_Nad": ("f4", 0.66, "", "Vegetation Optical Thickness at Nadir"),
        "Optical_Thickness_Nad_StdError": ("f4", 0.07, "", "Optical thickness standard error"),
        "RMSE": ("f4", 2.0, "K", "RMSE TBmeas. TB modeled"),
        "Quality_Flag": ("i2", 0, "", "0: data OK, 1: data not recommended, 2: missing data"),
        "Scene_Flags": ("i2", 0, "", "Scene Flags"),
        "Processing_Flags": ("i2", 0, "", "Processing Flags"),
        "Soil_Temperature_Level1": ("f4", 285.0, "Kelvin",
                                    "ECMWF Soil Temperature at surface level 1"),
        "Days": ("i4", base_day, "", "Number of Days since 1/1/2000"),
        "UTC_Seconds": ("i4", 4 * 3600, "s", "Number of Seconds"),
        "UTC_Microseconds": ("i4", 0, "micros.", "Microseconds"),
    }
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.title = "SMOS-IC L3 soil moisture and L-VOD, EASE-2 25 km"
        ds.institution = "INRAE-CESBIO"
        ds.createDimension("lat", ny)
        ds.createDimension("lon", nx)
        v = ds.createVariable("lat", "f8", ("lat",))
        v.units, v.long_name = "degrees_north", "latitude"
        v[:] = lat
        v = ds.createVariable("lon", "f8", ("lon",))
        v.units, v.long_name = "degrees_east", "longitude"
        v[:] = lon
        for name, (dtype, other, units, long_name) in fields.items():
            if name in drop or (not times and name in ("Days", "UTC_Seconds",
                                                       "UTC_Microseconds")):
                continue
            fill = FILL if dtype == "f4" else -999
            var = ds.createVariable(name, dtype, ("lat", "lon"), fill_value=fill)
            var.long_name = long_name
            if units:
                var.units = units
            data = np.full((ny, nx), other, dtype=float)
            data[ii, jj] = site.get(name, other)
            var[:] = data
    return path


SITE_TIME = {"UTC_Seconds": 4 * 3600 + 13 * 60 + 27, "UTC_Microseconds": 512000}


@pytest.fixture
def smos_files(tmp_path):
    """Five files (ascending 'A' / descending 'D'); what each tests is in the comment."""
    f = {}

    def name(day, d):
        ymd = day.replace("-", "")
        return tmp_path / f"SM_RE07_MIR_CDF3S{d}_{ymd}T000000_{ymd}T235959_200_001_B.DBL.nc"

    # kept: SM 0.25 with error 0.03 (-> floor 0.04), VOD 0.55 +- 0.08; pixel UTC 04:13:27.512
    f["a1"] = write_smos_ic(name("2019-07-01", "A"), "2019-07-01", {
        "Soil_Moisture": 0.25, "Soil_Moisture_StdError": 0.03,
        "Optical_Thickness_Nad": 0.55, "Optical_Thickness_Nad_StdError": 0.08, **SITE_TIME})
    # dropped: Quality_Flag 1 (data not recommended)
    f["a2"] = write_smos_ic(name("2019-07-02", "A"), "2019-07-02", {
        "Soil_Moisture": 0.26, "Quality_Flag": 1, **SITE_TIME})
    # dropped: TB RMSE 9 K > 8 K
    f["d1"] = write_smos_ic(name("2019-07-01", "D"), "2019-07-01", {
        "Soil_Moisture": 0.27, "RMSE": 9.0, "UTC_Seconds": 15 * 3600})
    # dropped: value missing (_FillValue)
    f["d2"] = write_smos_ic(name("2019-07-02", "D"), "2019-07-02", {
        "Soil_Moisture": FILL, "Optical_Thickness_Nad": FILL, "UTC_Seconds": 15 * 3600})
    # kept: error 0.06 (above the floor); no per-pixel time -> nominal 18:00 local solar time
    f["d3"] = write_smos_ic(name("2019-07-03", "D"), "2019-07-03", {
        "Soil_Moisture": 0.31, "Soil_Moisture_StdError": 0.06,
        "Optical_Thickness_Nad": 0.60, "Optical_Thickness_Nad_StdError": FILL}, times=False)
    return f


def test_smos_ic_soil_moisture(smos_files):
    files = [smos_files[k] for k in ("d3", "d2", "d1", "a2", "a1")]   # any order
    obs = read_smos_ic(files, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm")
    assert obs.stream == "sm" and obs.unit == "m3 m-3"
    np.testing.assert_allclose(obs.value, [0.25, 0.31], rtol=1e-6)
    np.testing.assert_allclose(obs.sigma, [0.04, 0.06], rtol=1e-6)
    # 18:00 local mean solar time at 26.6386 E = 18 - 1.7759 h = 16:13:27 UTC
    np.testing.assert_array_equal(obs.t_start, [_dt64("2019-07-01T04:00"),
                                                _dt64("2019-07-03T16:00")])
    np.testing.assert_array_equal(obs.t_end, obs.t_start + np.timedelta64(3600, "s"))
    np.testing.assert_array_equal(obs.qc, 0)
    _check_footprint(obs)
    obs.validate()
    a = obs.attrs
    assert (a["n_quality"], a["n_rmse"], a["n_missing"], a["n_nominal_time"]) == (1, 1, 1, 1)


def test_smos_ic_result_round_trips_through_obs_file(smos_files, tmp_path):
    obs = read_smos_ic(list(smos_files.values()), SMOS_LAT, SMOS_LON, FOOTPRINT, stream="vod")
    back = read_obs(write_obs(tmp_path / "vod_obs.nc", obs))
    np.testing.assert_allclose(back.sigma, obs.sigma)
    np.testing.assert_array_equal(back.t_start, obs.t_start)
    assert back.stream == "vod" and back.attrs["cell_centre"] == obs.attrs["cell_centre"]


def test_smos_ic_vod(smos_files):
    files = [smos_files[k] for k in ("a1", "a2", "d1", "d2", "d3")]
    obs = read_smos_ic(files, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="vod")
    assert obs.stream == "vod" and obs.unit == "1"
    np.testing.assert_allclose(obs.value, [0.55, 0.60], rtol=1e-6)
    # 0.08 from the product; missing error -> 0.1 * 0.60 + 0.02 = 0.08
    np.testing.assert_allclose(obs.sigma, [0.08, 0.08], rtol=1e-6)
    obs.validate()


def test_smos_ic_vod_without_error_variable(tmp_path):
    path = write_smos_ic(tmp_path / "SM_RE07_MIR_CDF3SA_20190701T000000_20190701T235959_200_"
                         "001_B.DBL.nc", "2019-07-01", {"Optical_Thickness_Nad": 0.9},
                         drop=("Optical_Thickness_Nad_StdError",))
    obs = read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="vod")
    np.testing.assert_allclose(obs.sigma, [0.1 * 0.9 + 0.02], rtol=1e-6)
    obs = read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="vod", sigma_floor=0.2)
    np.testing.assert_allclose(obs.sigma, [0.2])


def test_smos_ic_optional_filters_and_thresholds(smos_files):
    a1, d1 = smos_files["a1"], smos_files["d1"]
    obs = read_smos_ic([a1, d1], SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm", rmse_max=10.0)
    np.testing.assert_allclose(obs.value, [0.25, 0.27], rtol=1e-6)
    assert obs.t_start[1] == _dt64("2019-07-01T15:00")
    obs = read_smos_ic([a1, d1], SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm", rmse_max=None,
                       min_soil_temperature=290.0)         # 285 K at the site: "frozen"
    assert len(obs) == 0 and obs.attrs["n_frozen"] == 2
    obs = read_smos_ic(smos_files["a2"], SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm",
                       quality_flags=(0, 1))
    np.testing.assert_allclose(obs.value, [0.26], rtol=1e-6)


def test_smos_ic_scene_flag_mask(tmp_path):
    path = write_smos_ic(tmp_path / "SM_RE07_MIR_CDF3SA_20190701T000000_20190701T235959_200_"
                         "001_B.DBL.nc", "2019-07-01", {"Scene_Flags": 0b0100})
    assert len(read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm")) == 1
    assert len(read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm",
                            reject_scene_flags=0b0011)) == 1
    obs = read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm",
                       reject_scene_flags=0b0100)
    assert len(obs) == 0 and obs.attrs["n_scene_flags"] == 1


def test_smos_ic_cell_selection():
    lat, lon, ii, jj = _window()
    assert smos_mod.cell_index(lat, SMOS_LAT, sine=True) == ii
    assert smos_mod.cell_index(lon, SMOS_LON, periodic=True) == jj
    # half a cell away from a centre in x is the edge; just inside stays, just outside moves
    half = 0.5 * (lon[1] - lon[0])
    assert smos_mod.cell_index(lon, lon[2] + 0.99 * half, periodic=True) == 2
    assert smos_mod.cell_index(lon, lon[2] + 1.01 * half, periodic=True) == 3
    assert smos_mod.cell_index(lat, 10.0, sine=True) is None         # outside the window
    cols = ease2_centres()[1]
    assert smos_mod.cell_index(cols, 179.999, periodic=True) == 1387
    assert smos_mod.cell_index(cols, -180.0, periodic=True) == 0


def test_smos_ic_site_outside_grid_and_no_value(smos_files, caplog):
    with caplog.at_level(logging.WARNING, logger="tccas.readers.smos"):
        obs = read_smos_ic(smos_files["a1"], 10.0, 26.6, FOOTPRINT, stream="sm")
    assert len(obs) == 0 and obs.attrs["n_outside_grid"] == 1
    obs.validate()
    assert "no SMOS-IC sm value" in caplog.text


def test_smos_ic_nominal_time_needs_direction_and_date(tmp_path):
    path = write_smos_ic(tmp_path / "smos_ic_subset.nc", "2019-07-01", {}, times=False)
    with pytest.raises(InputDataError, match="smos_ic_subset.nc.*pass overpass='A' or 'D'"):
        read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm")
    with pytest.raises(InputDataError, match="carries no date"):
        read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm", overpass="A")


def test_smos_ic_errors(tmp_path, smos_files):
    bad = tmp_path / "SM_RE07_MIR_CDF3SA_20190701T000000_20190701T235959_200_001_B.DBL.nc"
    bad.write_bytes(b"\x89HDF garbage")
    with pytest.raises(InputDataError, match=f"{bad.name}: not a readable netCDF"):
        read_smos_ic(bad, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm")
    for var, stream in (("Soil_Moisture_StdError", "sm"), ("RMSE", "vod"),
                        ("Quality_Flag", "sm"), ("Optical_Thickness_Nad", "vod")):
        path = write_smos_ic(tmp_path / f"no_{var}_CDF3SA_20190701T000000_.nc", "2019-07-01",
                             {}, drop=(var,))
        with pytest.raises(InputDataError, match=rf"no_{var}.*: missing variable '{var}'"):
            read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream=stream)
    path = write_smos_ic(tmp_path / "pct_CDF3SA_20190701T000000_.nc", "2019-07-01", {},
                         sm_units="%")
    with pytest.raises(InputDataError, match="'Soil_Moisture' has units '%'"):
        read_smos_ic(path, SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm")
    with pytest.raises(ConfigError, match="stream must be 'sm' or 'vod'"):
        read_smos_ic(smos_files["a1"], SMOS_LAT, SMOS_LON, FOOTPRINT, stream="tb_h")
    with pytest.raises(ConfigError, match="overpass"):
        read_smos_ic(smos_files["a1"], SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm",
                     overpass="X")
    with pytest.raises(ConfigError, match="quality_flags"):
        read_smos_ic(smos_files["a1"], SMOS_LAT, SMOS_LON, FOOTPRINT, stream="sm",
                     quality_flags=())
