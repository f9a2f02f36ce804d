"""ASCAT active microwave (issue 12): the water-cloud backscatter operator of the core
(sigma40 and slope) against values computed by hand, its angular derivative against finite
differences, its monotonicity, the footprint combination, the observation-set checks, the
bundled twin observations and an assimilation with the ASCAT streams switched on."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tccas
from tccas.errors import InputDataError
from tccas.model import ObsArrays, apply_obs, cband_backscatter
from tccas.obs import STREAM_CODES, ObservationSet
from tccas.parameters import HOURLY_OUTPUTS, global_defaults, global_index

H = {v[0]: i for i, v in enumerate(HOURLY_OUTPUTS)}
T0 = np.datetime64("2017-01-01T00:00:00")
DB = 10.0 / math.log(10.0)          # dB per neper of power
RAD = math.pi / 180.0


def _coef(pg=None):
    pg = global_defaults() if pg is None else pg
    return {k: float(pg[global_index("wcm_" + k)]) for k in "abcdn"}


def _wcm(theta, sm, vwc, a, b, c, d, n):
    """The water-cloud model of docs/science/ascat.md written out by hand: linear sigma0
    and its derivative in theta (per degree)."""
    th = theta * RAD
    ct, st, c40 = math.cos(th), math.sin(th), math.cos(40 * RAD)
    t2 = math.exp(-2 * b * vwc / ct)
    soil = 10 ** ((c + d * sm) / 10) * (ct / c40) ** n
    sig = a * ct * (1 - t2) + t2 * soil
    # derivative term by term: canopy, attenuation, soil fall-off
    dt2 = t2 * (-2 * b * vwc) * st / ct ** 2
    dsoil = soil * n * (-st / ct)
    dsig = -a * st * (1 - t2) - a * ct * dt2 + dt2 * soil + t2 * dsoil
    return sig, dsig * RAD


@pytest.mark.parametrize("sm,vwc", [(0.05, 0.0), (0.40, 0.0), (0.05, 0.8), (0.40, 0.8),
                                    (0.05, 4.0), (0.25, 30.0)])
@pytest.mark.parametrize("theta", [25.0, 40.0, 60.0])
def test_backscatter_matches_the_water_cloud_equations(sm, vwc, theta):
    k = _coef()
    got = cband_backscatter(theta, sm, vwc)
    sig, dsig = _wcm(theta, sm, vwc, **k)
    assert got["sigma0"] == pytest.approx(sig, rel=1e-13)
    assert got["dsigma0"] == pytest.approx(dsig, rel=1e-12)
    assert got["sigma0_db"] == pytest.approx(10 * math.log10(sig), abs=1e-12)
    assert got["slope_db"] == pytest.approx(DB * dsig / sig, rel=1e-12)


def test_limits_bare_soil_and_dense_canopy_by_hand():
    """Bare soil: sigma40 = C + D sm (dB), slope = -n tan(40) in dB per degree; an opaque
    canopy: sigma40 = 10 log10(A cos 40), slope = -tan(40) (the cos(theta) of the canopy)."""
    k = _coef()
    assert (k["a"], k["b"], k["c"], k["d"], k["n"]) == (0.2, 0.3, -17.0, 15.0, 2.0)
    dry, wet = cband_backscatter(40.0, 0.05, 0.0), cband_backscatter(40.0, 0.40, 0.0)
    assert dry["sigma0_db"] == pytest.approx(-17.0 + 15.0 * 0.05, abs=1e-12)     # -16.25 dB
    assert wet["sigma0_db"] == pytest.approx(-11.0, abs=1e-12)
    # -2 tan(40 deg) * (pi / 180) * 10 / ln(10) = -0.127205 dB per degree, for any moisture
    assert dry["slope_db"] == pytest.approx(-0.1272053, abs=1e-7)
    assert wet["slope_db"] == pytest.approx(-0.1272053, abs=1e-7)
    dense = cband_backscatter(40.0, 0.2, 60.0)      # t2 = exp(-47): the soil is invisible
    assert dense["sigma0_db"] == pytest.approx(10 * math.log10(0.2 * math.cos(40 * RAD)),
                                               abs=1e-12)      # -8.147 dB
    assert dense["slope_db"] == pytest.approx(-0.0636026, abs=1e-7)


@pytest.mark.parametrize("sm,vwc", [(0.05, 0.0), (0.3, 0.0), (0.05, 0.5), (0.35, 2.0),
                                    (0.1, 8.0)])
@pytest.mark.parametrize("theta", [30.0, 40.0, 55.0])
def test_slope_equals_a_finite_difference_of_sigma0_in_theta(sm, vwc, theta):
    h = 1e-3
    up = cband_backscatter(theta + h, sm, vwc)["sigma0_db"]
    down = cband_backscatter(theta - h, sm, vwc)["sigma0_db"]
    fd = (up - down) / (2 * h)
    assert cband_backscatter(theta, sm, vwc)["slope_db"] == pytest.approx(fd, rel=1e-6)


def test_backscatter_rises_with_soil_moisture_and_with_vegetation_over_dry_soil():
    sms = np.linspace(0.02, 0.45, 12)
    for vwc in (0.0, 0.5, 2.0, 6.0):
        s = [cband_backscatter(40.0, sm, vwc)["sigma0_db"] for sm in sms]
        assert np.all(np.diff(s) > 0), vwc
    vwcs = np.linspace(0.0, 12.0, 25)
    for sm in (0.03, 0.08, 0.12):               # dry soil: below A cos(40) = -8.1 dB
        s = [cband_backscatter(40.0, sm, v)["sigma0_db"] for v in vwcs]
        assert np.all(np.diff(s) > 0), sm
    # the soil-moisture signal fades under a growing canopy
    def dsm(v):
        return (cband_backscatter(40.0, 0.35, v)["sigma0_db"]
                - cband_backscatter(40.0, 0.05, v)["sigma0_db"])
    assert dsm(0.0) > dsm(1.0) > dsm(4.0) > 0


def _hout(rng, nt=48):
    h = np.asfortranarray(rng.uniform(0.1, 1.0, size=(nt, len(HOURLY_OUTPUTS), 2)))
    h[:, H["sm_surf"], :] = rng.uniform(0.05, 0.35, size=(nt, 2))
    h[:, H["vwc"], :] = rng.uniform(0.2, 3.0, size=(nt, 2))
    return h


def test_operator_combines_tiles_in_power_units_over_the_window(rng):
    """Per tile the window-mean soil moisture and vegetation water enter the water-cloud
    model at 40 deg; tiles combine in m2 m-2 with the footprint weights normalised to the
    modelled part; then dB, or the dB slope (10/ln 10) sum(w dsigma) / sum(w sigma)."""
    h = _hout(rng)
    w = np.array([[0.15, 0.80], [1.0, 0.0], [0.0, 0.3], [0.5, 0.5]])
    s0, s1 = np.array([10, 22, 1, 30]), np.array([10, 23, 48, 34])
    n = len(s0)
    pg = global_defaults()
    pg[global_index("wcm_b")] = 0.5
    for stream in ("sigma40", "slope"):
        oa = ObsArrays(np.full(n, STREAM_CODES[stream], np.int32), s0.astype(np.int32),
                       s1.astype(np.int32), np.asfortranarray(w),
                       np.array([40.0, 0.0, 40.0, 40.0]), {stream: slice(0, n)})
        y = apply_obs(oa, h, 0.1, pg)
        for k in range(n):
            num = den = 0.0
            for i in range(2):
                if w[k, i] == 0:
                    continue
                sm = h[s0[k] - 1:s1[k], H["sm_surf"], i].mean()
                v = h[s0[k] - 1:s1[k], H["vwc"], i].mean()
                sig, dsig = _wcm(40.0, sm, v, **_coef(pg))
                num, den = num + w[k, i] * dsig, den + w[k, i] * sig
            want = 10 * math.log10(den / w[k].sum()) if stream == "sigma40" else DB * num / den
            assert y[k] == pytest.approx(want, rel=1e-12), (stream, k)


def _set(stream, value, angle=None):
    n = len(value)
    t = T0 + np.arange(n) * np.timedelta64(3600, "s")
    return ObservationSet(stream, t, t + np.timedelta64(60, "s"), np.asarray(value, float),
                          np.full(n, 0.3), np.zeros(n, int), (3, 9), np.tile([0.2, 0.8], (n, 1)),
                          angle)


def test_observation_sets_check_angle_and_units():
    _set("sigma40", [-12.0, -9.5]).validate()                      # angle not given
    _set("sigma40", [-12.0, -9.5], np.array([40.0, 40.0])).validate()
    with pytest.raises(InputDataError, match="normalised to 40 deg incidence"):
        _set("sigma40", [-12.0, -9.5], np.array([40.0, 35.0])).validate()
    with pytest.raises(InputDataError, match=r"record 1 .*sigma40 outside \[-40, 5\] dB"):
        _set("sigma40", [-12.0, 20.0]).validate()
    _set("slope", [-0.12, -0.08]).validate()
    with pytest.raises(InputDataError, match=r"slope outside .* dB deg-1"):
        _set("slope", [-0.12, -7.0]).validate()           # a slope per radian
    assert tccas.obs.STREAMS["slope"][0] == "dB deg-1"


def test_bundled_twin_observations_follow_the_ascat_sampling_and_are_not_assimilated():
    cfg = tccas.load_config("ES-LM1")
    assert set(cfg.observations) >= {"sigma40", "slope"}
    assert "sigma40" not in cfg.assimilation.streams and "slope" not in cfg.assimilation.streams
    sig = tccas.obs.read_obs(cfg.observations["sigma40"])
    slo = tccas.obs.read_obs(cfg.observations["slope"])
    assert np.array_equal(sig.t_start, slo.t_start)
    assert np.allclose(sig.sigma, 0.3, rtol=1e-6) and np.allclose(slo.sigma, 0.01, rtol=1e-6)
    # 09:30 and 21:30 local solar time at 5.78 W: hours starting at 09 and 21 UTC
    hours = (sig.t_start - sig.t_start.astype("datetime64[D]")).astype("timedelta64[h]")
    assert set(hours.astype(int)) == {9, 21}
    days = np.unique(sig.t_start.astype("datetime64[D]")).size
    assert 0.4 < len(sig) / (2 * 1826) < 0.7 and days < 1826     # gaps
    assert -14 < np.median(sig.value) < -8 and -0.13 < np.median(slo.value) < -0.03


def _ascat_case(tmp_path):
    """The bundled case over one season with the ASCAT streams switched on and the
    water-cloud coefficients in the control vector."""
    d = tccas.copy_case("ES-LM1", tmp_path / "case")
    text = (d / "config.toml").read_text()
    text = (text.replace("start = 2015-01-01\nend = 2021-12-31\nspinup_hours = 17520",
                         "start = 2017-01-01\nend = 2017-04-30\nspinup_hours = 2400")
            .replace("hourly_output = true", "hourly_output = false"))
    head, _, _ = text.rpartition("\n[assimilation]\n")
    text = head + (
        '\n[control]\nparameters = { wcm_a = true, wcm_b = true, wcm_c = true, wcm_d = true, '
        'wcm_n = true, c_w = true }\n'
        '[assimilation]\nstart = 2017-01-01\nend = 2017-04-30\n'
        'streams = ["sigma40", "slope", "sm"]\nmax_iterations = 6\nworkers = 1\n')
    (d / "config.toml").write_text(text)
    return d / "config.toml"


def test_assimilate_with_the_ascat_streams_switched_on(tmp_path):
    import subprocess
    import sys
    cfg = _ascat_case(tmp_path)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "tccas", "assimilate", str(cfg), "-o", str(out),
                        "-q", "--no-figures"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = (out / "summary.txt").read_text()
    assert "streams sigma40, slope, sm" in summary
    res = tccas.assimilate(cfg, output_dir=tmp_path / "py", progress=False, figures=False)
    assert res.names[:5] == ("wcm_a", "wcm_b", "wcm_c", "wcm_d", "wcm_n")
    h0, h1 = res.cost_history[0], res.cost_history[-1]
    # the twin's observations carry noise of their stated sigma: J cannot fall below about
    # n/2; the misfit above that floor is at least halved
    floor = 0.5 * sum(v.n for v in res.validation if v.role == "assimilated")
    assert h0["cost"] > floor + 50
    assert h1["cost"] - floor < 0.5 * (h0["cost"] - floor)
    # the ASCAT data constrain the water-cloud coefficients: posterior sigma below prior
    assert np.all(res.sigma_x_posterior[:5] < 0.9)
    rows = {(v.stream, v.role): v for v in res.validation}
    assert rows[("sigma40", "assimilated")].rmse_posterior < rows[("sigma40", "assimilated")].rmse_prior


# ---- readers ----------------------------------------------------------------------------------

from pathlib import Path  # noqa: E402

DATA = Path(__file__).parent / "data" / "satellite"
L2 = DATA / "ASCAT_METOPA_L2_SSM_250_20170220041500_53652.nc"
SITE = (27.2224, 71.5293)      # Thar desert, under Metop-A orbit 53652 (the cut-out's rows)


def _l2_nodes():
    """The cut-out read directly through netCDF4 (CF unpacking): valid nodes."""
    import netCDF4
    with netCDF4.Dataset(L2) as ds:
        ds.set_auto_mask(False)
        lat = ds["latitude"][:].astype(float)
        lon = ds["longitude"][:].astype(float)
        s40 = ds["sigma40"][:].astype(float)
        s40e = ds["sigma40_error"][:].astype(float)
        slope = ds["slope40"][:].astype(float)
        raw = ds["sigma40"]
        raw.set_auto_scale(False)
        fill = raw[:] == raw._FillValue
        secs = ds["utc_line_nodes"][:].astype(float)
    lon = (lon + 180) % 360 - 180
    return lat, lon, s40, s40e, slope, ~fill, secs


def test_eumetsat_l2_swath_to_sigma40_and_slope_observations():
    from tccas.readers.ascat import read_ascat_obs
    from tccas.readers._common import great_circle_km
    lat, lon, s40, s40e, slope, ok, secs = _l2_nodes()
    d = np.where(ok, great_circle_km(*SITE, lat, lon), np.inf)
    r, c = np.unravel_index(np.argmin(d), d.shape)
    assert d[r, c] < 15
    o = read_ascat_obs(L2, *SITE, {9: 1.0}, stream="sigma40")
    assert len(o) == 1 and o.value[0] == pytest.approx(s40[r, c], abs=1e-9)
    assert o.sigma[0] == pytest.approx(max(s40e[r, c], 0.3))
    t = np.datetime64("2000-01-01T00:00:00") + np.timedelta64(int(secs[r]), "s")
    assert o.t_start[0] == t.astype("datetime64[h]") and o.angle[0] == 40.0
    assert o.attrs["n_read"] == ok.size and o.attrs["n_kept"] == 1
    s = read_ascat_obs(L2, *SITE, {9: 1.0}, stream="slope")
    assert s.value[0] == pytest.approx(slope[r, c], abs=1e-9) and s.unit == "dB deg-1"
    with pytest.raises(tccas.ConfigError, match="stream must be 'sigma40' or 'slope'"):
        read_ascat_obs(L2, *SITE, {9: 1.0}, stream="sm")


def _hsaf_file(path, layout, units=("dB", "dB/deg"), row_size=None):
    """An H SAF file in the layout of read_hsaf_ascat: 'swath' (records with their own
    positions, H121/H129), 'contiguous' (cell file, row_size, as the real H109/H111 CDR
    files) or 'indexed' (locationIndex)."""
    import netCDF4
    lat_loc = np.array([27.20, 27.30, 26.90])
    lon_loc = np.array([71.50, 71.60, 71.40])
    loc_of = np.array([0, 0, 1, 0, 2, 1])
    n = loc_of.size
    t = np.array([43000.1, 43000.6, 43000.9, 43001.4, 43001.5, 43002.1])  # days since 1900
    s40 = np.array([-12.5, -12.0, -11.0, -13.0, -9.0, np.nan])
    with netCDF4.Dataset(path, "w") as ds:
        ds.title = "test file in the H SAF layout"
        ds.createDimension("obs", n)
        if layout == "swath":
            for name, val in (("latitude", lat_loc[loc_of]), ("longitude", lon_loc[loc_of])):
                v = ds.createVariable(name, "i4", ("obs",))
                v.scale_factor = 1e-6
                v[:] = val
            ds.createVariable("location_id", "i8", ("obs",))[:] = 1000 + loc_of
            order = np.arange(n)
        else:
            ds.createDimension("locations", 3)
            ds.createVariable("lat", "f4", ("locations",))[:] = lat_loc
            ds.createVariable("lon", "f4", ("locations",))[:] = lon_loc
            ds.createVariable("location_id", "i8", ("locations",))[:] = 1000 + np.arange(3)
            if layout == "contiguous":
                order = np.argsort(loc_of, kind="stable")
                rs = np.bincount(loc_of, minlength=3) if row_size is None else row_size
                ds.createVariable("row_size", "i8", ("locations",))[:] = rs
            else:
                order = np.arange(n)
                ds.createVariable("locationIndex", "i4", ("obs",))[:] = loc_of
        tv = ds.createVariable("time", "f8", ("obs",))
        tv.units = "days since 1900-01-01 00:00:00"
        tv[:] = t[order]
        v = ds.createVariable("backscatter40", "i4", ("obs",), fill_value=-2 ** 31)
        v.scale_factor, v.units = 1e-7, units[0]
        x = s40[order]
        v[:] = np.ma.masked_array(np.nan_to_num(x), mask=np.isnan(x))
        v = ds.createVariable("slope40", "f4", ("obs",))
        v.units = units[1]
        v[:] = np.linspace(-0.13, -0.08, n)[order]
        ds.createVariable("curvature40", "f4", ("obs",))[:] = np.full(n, -0.002)
        v = ds.createVariable("frozen_soil_probability", "i1", ("obs",))
        v[:] = np.array([0, 0, 0, 80, 0, 0])[order]
        ds.createVariable("as_des_pass", "i1", ("obs",))[:] = np.array([0, 1, 0, 1, 0, 1])[order]
    return loc_of, t, s40


@pytest.mark.parametrize("layout", ["swath", "contiguous", "indexed"])
def test_hsaf_layouts_give_the_same_records(tmp_path, layout):
    from tccas.readers.ascat import read_ascat_obs, read_hsaf_ascat
    loc_of, t, s40 = _hsaf_file(tmp_path / "f.nc", layout)
    rec = read_hsaf_ascat(tmp_path / "f.nc")
    assert len(rec) == 6
    order = np.argsort(rec.time)
    np.testing.assert_allclose(rec.sigma40[order], s40, atol=1e-6, equal_nan=True)
    assert list(rec.location_id[order]) == list(1000 + loc_of)
    assert rec.time[order][0] == np.datetime64("2017-09-24T02:24:00.000")      # 43000.1 d
    assert np.all(rec.curvature40 == np.float32(-0.002))
    near = read_hsaf_ascat(tmp_path / "f.nc", *SITE, 5.0)
    assert set(near.location_id) == {1000}
    # observations: nearest location (1000) only, frozen record dropped
    o = read_ascat_obs(tmp_path / "f.nc", *SITE, {9: 0.7, 3: 0.3}, stream="sigma40")
    np.testing.assert_allclose(o.value, [-12.5, -12.0], atol=1e-6)
    assert o.attrs["n_frozen"] == 1 and o.attrs["n_not_nearest"] == 1 and o.pft == (3, 9)
    assert o.attrs["n_missing"] == 1 and o.attrs["n_outside_footprint"] == 1
    assert np.all(o.sigma == 0.3)


def test_hsaf_reader_errors_name_file_and_variable(tmp_path):
    from tccas.readers.ascat import read_hsaf_ascat
    _hsaf_file(tmp_path / "u.nc", "swath", units=("linear", "dB/deg"))
    with pytest.raises(InputDataError, match=r"u.nc: variable 'backscatter40' has units "
                                             r"'linear', expected 'db'"):
        read_hsaf_ascat(tmp_path / "u.nc")
    _hsaf_file(tmp_path / "r.nc", "contiguous", row_size=np.array([3, 1, 1]))
    with pytest.raises(InputDataError, match="r.nc: variable 'row_size' does not partition"):
        read_hsaf_ascat(tmp_path / "r.nc")
    # the soil-moisture-only CDR layout (H109 / H111): refused, naming the missing variable
    import netCDF4
    with netCDF4.Dataset(tmp_path / "cdr.nc", "w") as ds:
        ds.createDimension("locations", 1)
        ds.createDimension("obs", 2)
        ds.createVariable("row_size", "i8", ("locations",))[:] = [2]
        ds.createVariable("time", "f8", ("obs",))[:] = [43000.0, 43001.0]
        ds.createVariable("sm", "i1", ("obs",))[:] = [40, 50]
    with pytest.raises(InputDataError, match="missing variable.*'backscatter40' or 'sigma40'"):
        read_hsaf_ascat(tmp_path / "cdr.nc")
    with pytest.raises(InputDataError, match="not an H SAF ASCAT product"):
        read_hsaf_ascat(L2)
    with pytest.raises(InputDataError, match="nope.nc"):
        read_hsaf_ascat(tmp_path / "nope.nc")


def test_obs_build_ascat_then_run(tmp_path):
    """tccas obs build --product ascat on the real swath cut-out, for a site under it, and
    a run that simulates the new streams."""
    import shutil
    from tccas.cli import main
    from tccas.io import Static, write_forcing, write_static
    from tccas.obs import read_obs
    from tccas.synthetic import generate_forcing
    case = tmp_path / "in"
    case.mkdir()
    lat, lon = SITE
    write_forcing(case / "forcing.nc", generate_forcing("2017-01-01", "2017-03-01", seed=3,
                                                        lat=lat, lon=lon), lat, lon)
    write_static(case / "static.nc", Static(lat=lat, lon=lon, pft=(10, 7),
                                            pft_fraction=(0.7, 0.3), sand=0.8, clay=0.1,
                                            soil_depth=1.0, name="IN-test"))
    (case / "config.toml").write_text(
        '[site]\nname = "IN-test"\nstatic = "static.nc"\nforcing = "forcing.nc"\n'
        '[run]\nstart = 2017-02-01\nend = 2017-02-28\nspinup_hours = 744\n'
        'hourly_output = false\n[observations]\n')
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(L2, src / L2.name)
    assert main(["obs", "build", str(case / "config.toml"), "--product", "ascat", "-q",
                 str(src)]) == 0
    text = (case / "config.toml").read_text()
    assert 'sigma40 = "obs/sigma40_ascat.nc"' in text and 'slope = "obs/slope_ascat.nc"' in text
    o = read_obs(case / "obs" / "sigma40_ascat.nc")
    assert len(o) == 1 and o.pft == (7, 10) and np.allclose(o.footprint, [[0.3, 0.7]])
    assert main(["run", str(case / "config.toml"), "-o", str(tmp_path / "run"), "-q"]) == 0
    import netCDF4
    with netCDF4.Dataset(tmp_path / "run" / "obs" / "sigma40.nc") as ds:
        sim = np.asarray(ds["simulated"][:])
    assert sim.shape == (1,) and -25 < sim[0] < -3
