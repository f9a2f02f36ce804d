"""The PLUMBER2 reader on the real CN-Cng files (tests/data) and on broken copies of them."""
from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np
import pytest

from tccas.errors import ConfigError, InputDataError
from tccas.io import running_mean, saturation_vapour_pressure
from tccas.readers import read_plumber2_forcing, read_plumber2_obs, read_plumber2_site
from tccas.readers._common import GLOBAL_MEAN_CO2_PPM, UMOL_CO2_TO_GC_PER_DAY, global_mean_co2

DATA = Path(__file__).parent / "data"
MET = DATA / "CN-Cng_2008-2009_FLUXNET2015_Met.nc"
FLUX = DATA / "CN-Cng_2008-2009_FLUXNET2015_Flux.nc"
OFFSET = 8.0            # China Standard Time; PLUMBER2 time is local standard time
FIRST = 16              # record of 2008-01-01 08:00 local = 00:00 UTC


def _raw(path: Path, name: str) -> np.ndarray:
    with netCDF4.Dataset(path) as ds:
        return np.ma.filled(ds.variables[name][:].astype(float), np.nan).reshape(-1)


def _copy(src: Path, dst: Path, drop=(), edit=None, units=None, extra=None) -> Path:
    """A copy of a PLUMBER2 file without the variables ``drop``, with the values of the
    variables in ``edit`` replaced by edit[name](values), units changed, and extra variables
    on (time, y, x) added: {name: (values, units)}."""
    edit, units, extra = edit or {}, units or {}, extra or {}
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(dst, "w") as b:
        for name, dim in a.dimensions.items():
            b.createDimension(name, len(dim))
        for name, var in a.variables.items():
            if name in drop:
                continue
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else None
            v = b.createVariable(name, var.dtype, var.dimensions, fill_value=fill)
            v.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            if name in units:
                v.units = units[name]
            values = var[:]
            if name in edit:
                values = edit[name](np.array(values))
            v[:] = values
        for name, (values, unit) in extra.items():
            v = b.createVariable(name, "f4", ("time", "y", "x"), fill_value=-9999.0)
            v.units = unit
            v[:] = values.reshape(-1, 1, 1)
    return dst


@pytest.fixture(scope="module")
def forcing():
    return read_plumber2_forcing(MET, OFFSET)


def test_site_from_variables_not_global_attributes():
    site = read_plumber2_site(FLUX)
    assert site.code == "CN-Cng"
    assert site.lat == pytest.approx(44.5934, abs=1e-4)
    assert site.lon == pytest.approx(123.5092, abs=1e-4)
    assert site.igbp == "GRA"
    assert site.canopy_height == pytest.approx(0.75)
    assert site.elevation == pytest.approx(138.0)
    met = read_plumber2_site(MET)          # the Met copy lost its global attributes
    assert (met.lat, met.lon) == (site.lat, site.lon)
    assert np.isnan(met.elevation) and met.igbp == ""


def test_forcing_times_are_whole_utc_days(forcing):
    # the Met file runs 2008-01-01 00:00 to 2010-01-01 00:00 local (UTC+8): the whole UTC days
    # start at 08:00 local on 1 January 2008 and end on 30 December 2009
    assert forcing.times[0] == np.datetime64("2008-01-01T00:00:00")
    assert forcing.times[-1] == np.datetime64("2009-12-30T23:00:00")
    assert forcing.times.size == 730 * 24
    assert np.all(np.diff(forcing.times) == np.timedelta64(3600, "s"))


def test_forcing_values_and_units(forcing):
    n = forcing.times.size
    half = slice(FIRST, FIRST + 2 * n)

    def hourly(name):
        return _raw(MET, name)[half].reshape(-1, 2).mean(axis=1)

    np.testing.assert_allclose(forcing.data["tas"], hourly("Tair"), rtol=1e-12)
    np.testing.assert_allclose(forcing.data["rsds"], hourly("SWdown"), rtol=1e-12)
    np.testing.assert_allclose(forcing.data["rlds"], hourly("LWdown"), rtol=1e-12)
    np.testing.assert_allclose(forcing.data["ps"], hourly("Psurf"), rtol=1e-12)
    np.testing.assert_allclose(forcing.data["sfcWind"], hourly("Wind"), rtol=1e-12)
    # Precip is a rate (kg m-2 s-1): the hourly rate is the mean of the two half-hours
    np.testing.assert_allclose(forcing.data["pr"], hourly("Precip"), rtol=1e-12)
    annual_mm = forcing.data["pr"].sum() * 3600.0 / 2.0
    assert 250.0 < annual_mm < 700.0       # semi-arid Songnen steppe
    # vpd = e_s(T) - e(q, p), e = q p / (0.622 + 0.378 q)
    q, t, p = hourly("Qair"), hourly("Tair"), hourly("Psurf")
    e = q * p / (0.622 + 0.378 * q)
    np.testing.assert_allclose(forcing.data["vpd"],
                               np.maximum(saturation_vapour_pressure(t) - e, 0.0),
                               rtol=1e-9, atol=1e-9)
    assert forcing.data["vpd"].max() > 3000.0          # dry spring afternoons
    np.testing.assert_allclose(forcing.data["tsl_deep"],
                               running_mean(forcing.data["tas"], 24 * 30), rtol=1e-12)
    # January in Manchuria is cold, July warm
    month = forcing.times.astype("datetime64[M]").astype(int) % 12 + 1
    assert forcing.data["tas"][month == 1].mean() - 273.15 < -10.0
    assert forcing.data["tas"][month == 7].mean() - 273.15 > 20.0


def test_missing_co2_comes_from_the_noaa_record(forcing):
    co2 = forcing.data["co2"]
    mid2008 = np.nonzero(forcing.times == np.datetime64("2008-07-02T12:00:00"))[0][0]
    assert co2[mid2008] == pytest.approx(GLOBAL_MEAN_CO2_PPM[2008] * 1e-6, rel=1e-12)
    assert np.all(np.diff(co2) > 0)                      # interpolated, no jump on 1 January
    assert co2.min() > 383.5e-6 and co2.max() < 388e-6
    # outside the record the nearest annual mean is held
    late = global_mean_co2(np.array(["2030-06-01"], dtype="datetime64[s]"))
    assert late[0] == pytest.approx(GLOBAL_MEAN_CO2_PPM[max(GLOBAL_MEAN_CO2_PPM)] * 1e-6)


def test_prescribed_and_file_co2(tmp_path):
    f = read_plumber2_forcing(MET, OFFSET, co2=400e-6)
    assert np.all(f.data["co2"] == 400e-6)
    nt = _raw(MET, "Tair").size
    ppm = 380.0 + np.arange(nt) * 1e-4
    ppm[100:103] = -9999.0                                # a short gap, interpolated
    path = _copy(MET, tmp_path / "co2.nc", extra={"CO2air": (ppm, "ppm")})
    f = read_plumber2_forcing(path, OFFSET)
    want = (380.0 + np.arange(FIRST, FIRST + 2 * f.times.size) * 1e-4).reshape(-1, 2).mean(1)
    np.testing.assert_allclose(f.data["co2"], want * 1e-6, rtol=1e-6)
    with pytest.raises(ConfigError, match="co2 must be a mole fraction"):
        read_plumber2_forcing(MET, OFFSET, co2=400.0)    # ppm given instead of mol mol-1


def test_alternative_names_psurf_and_vpd(tmp_path, forcing):
    # FluxnetLSM spells the pressure PSurf; a file may give VPD (hPa) instead of Qair
    nt = _raw(MET, "Tair").size
    vpd_hpa = np.full(nt, 7.5)
    path = _copy(MET, tmp_path / "alt.nc", drop=("Qair", "Psurf"),
                 extra={"PSurf": (_raw(MET, "Psurf"), "Pa"), "VPD": (vpd_hpa, "hPa")})
    f = read_plumber2_forcing(path, OFFSET)
    np.testing.assert_allclose(f.data["ps"], forcing.data["ps"], rtol=1e-6)
    np.testing.assert_allclose(f.data["vpd"], 750.0, rtol=1e-6)


def test_wrong_utc_offset_is_caught_by_the_solar_noon():
    with pytest.raises(InputDataError, match="'SWdown' is centred on local solar hour"):
        read_plumber2_forcing(MET, 0.0)
    with pytest.raises(ConfigError, match="multiple of the file's 30-min step"):
        read_plumber2_forcing(MET, 8.25)
    with pytest.raises(ConfigError, match="utc_offset_hours is required"):
        read_plumber2_forcing(MET, None)
    with pytest.raises(ConfigError, match="must be within \\[-14, 14\\]"):
        read_plumber2_obs(FLUX, "nee", {9: 1.0}, 15.0)


def test_broken_copies_raise_clear_errors(tmp_path):
    with pytest.raises(InputDataError, match="missing variable 'Qair' \\(or 'VPD'\\)"):
        read_plumber2_forcing(_copy(MET, tmp_path / "a.nc", drop=("Qair",)), OFFSET)
    with pytest.raises(InputDataError, match="variable 'Tair': unit 'degF'"):
        read_plumber2_forcing(_copy(MET, tmp_path / "b.nc", units={"Tair": "degF"}), OFFSET)
    with pytest.raises(InputDataError, match="'Qair': unit 'g/kg'"):
        read_plumber2_forcing(_copy(MET, tmp_path / "c.nc", units={"Qair": "g/kg"}), OFFSET)

    def gap(v):
        v = v.copy()
        v[1000:1003] = -9999.0
        return v

    path = _copy(MET, tmp_path / "d.nc", edit={"Wind": gap})
    with pytest.raises(InputDataError, match="variable 'Wind' is missing in 3 record"):
        read_plumber2_forcing(path, OFFSET)
    f = read_plumber2_forcing(path, OFFSET, max_gap_records=3)
    assert np.isfinite(f.data["sfcWind"]).all()

    def celsius(v):
        return v - 273.15                                  # values in degC, units still K

    with pytest.raises(InputDataError, match="'tas' = .* outside"):
        read_plumber2_forcing(_copy(MET, tmp_path / "e.nc", edit={"Tair": celsius}), OFFSET)

    def jump(v):
        v = v.copy()
        v[500:] += 1800.0
        return v

    with pytest.raises(InputDataError, match="records must follow each other every 30 min"):
        read_plumber2_forcing(_copy(MET, tmp_path / "f.nc", edit={"time": jump}), OFFSET)
    with pytest.raises(InputDataError, match="file not found"):
        read_plumber2_forcing(tmp_path / "none.nc", OFFSET)
    with pytest.raises(InputDataError, match="missing variable 'latitude'"):
        read_plumber2_forcing(_copy(MET, tmp_path / "g.nc", drop=("latitude",)), OFFSET)


@pytest.fixture(scope="module")
def fluxes():
    """Every record of each stream (qc_max=3), and GPP of the day-time partitioning."""
    out = {s: read_plumber2_obs(FLUX, s, {9: 1.0}, OFFSET, qc_max=3) for s in ("nee", "gpp", "le")}
    out["gpp_dt"] = read_plumber2_obs(FLUX, "gpp", {9: 1.0}, OFFSET, qc_max=3, gpp_method="DT")
    return out


@pytest.mark.parametrize("stream, var", [("nee", "NEE"), ("gpp", "GPP"), ("le", "Qle")])
def test_flux_observations(fluxes, stream, var):
    o = fluxes[stream]
    raw = _raw(FLUX, var)
    qc = _raw(FLUX, "Qle_qc" if stream == "le" else "NEE_qc")
    assert len(o) == raw.size == 35088                   # complete, gap-filled record
    assert o.t_start[0] == np.datetime64("2007-12-31T16:00:00")   # 00:00 local, UTC+8
    assert np.all(o.t_end - o.t_start == np.timedelta64(1800, "s"))
    scale = 1.0 if stream == "le" else UMOL_CO2_TO_GC_PER_DAY
    np.testing.assert_allclose(o.value, raw * scale, rtol=1e-12)
    np.testing.assert_array_equal(o.qc, qc.astype(int))
    assert np.all(o.sigma >= 0.2 * np.abs(o.value))
    assert o.pft == (9,) and np.all(o.footprint == 1.0)
    assert o.attrs["n_rejected_qc"] == 0


def test_flux_qc_screening(fluxes):
    qc = _raw(FLUX, "NEE_qc")
    good = read_plumber2_obs(FLUX, "nee", {9: 1.0}, OFFSET)       # default qc_max = 1
    assert len(good) == int((qc <= 1).sum()) < len(fluxes["nee"])
    assert good.attrs["n_rejected_qc"] == int((qc > 1).sum())
    assert set(np.unique(good.qc)) == {0, 1}


def test_flux_signs_and_magnitudes(fluxes):
    nee, gpp, dt = fluxes["nee"], fluxes["gpp"], fluxes["gpp_dt"]
    # NEE > 0 is a source: the steppe is a summer sink, annual GPP about 550-650 g C m-2
    july = nee.t_start.astype("datetime64[M]").astype(int) % 12 == 6
    assert nee.value[july].mean() < -1.0
    annual = gpp.value.mean() * 365.0
    assert 450.0 < annual < 750.0
    np.testing.assert_allclose(dt.value, _raw(FLUX, "GPP_DT") * UMOL_CO2_TO_GC_PER_DAY)
    # the partitioning spread enters the GPP uncertainty
    spread = 0.5 * np.abs(gpp.value - dt.value)
    assert np.all(gpp.sigma >= spread - 1e-12)


def test_flux_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown flux stream 'sif'"):
        read_plumber2_obs(FLUX, "sif", {9: 1.0}, OFFSET)
    with pytest.raises(ConfigError, match="footprint PFT code 14"):
        read_plumber2_obs(FLUX, "nee", {14: 1.0}, OFFSET)
    with pytest.raises(ConfigError, match="qc_max"):
        read_plumber2_obs(FLUX, "nee", {9: 1.0}, OFFSET, qc_max=-1)
    with pytest.raises(InputDataError, match="missing variable 'NEE_qc'"):
        read_plumber2_obs(_copy(FLUX, tmp_path / "a.nc", drop=("NEE_qc",)), "nee", {9: 1.0},
                          OFFSET)
    with pytest.raises(InputDataError, match="'NEE': unit 'gC/m2/d' is not a CO2 flux"):
        read_plumber2_obs(_copy(FLUX, tmp_path / "b.nc", units={"NEE": "gC/m2/d"}), "nee",
                          {9: 1.0}, OFFSET)


def test_shared_reader_helpers_docstring_examples():
    import doctest

    import tccas.readers._common as common
    result = doctest.testmod(common)
    assert result.attempted >= 2 and result.failed == 0


def test_fluxnet_reader_warns_about_a_wrong_utc_offset(caplog):
    # the same Sun check guards half-hourly FLUXNET files when the site's lat/lon are given
    from tccas.readers import read_fluxnet_forcing
    svb = DATA / "SE-Svb_2019_HH_fluxnet-layout.csv.gz"
    with caplog.at_level("WARNING", logger="tccas.readers.fluxnet"):
        read_fluxnet_forcing(svb, utc_offset_hours=1.0, lat=64.256, lon=19.7745)
    assert "is the UTC offset right" not in caplog.text
    with caplog.at_level("WARNING", logger="tccas.readers.fluxnet"):
        read_fluxnet_forcing(svb, utc_offset_hours=-5.0, lat=64.256, lon=19.7745)
    assert "SW_IN_F is centred on local solar hour 18.0" in caplog.text
