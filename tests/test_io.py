"""Input and output at the speed of the core (issue 14).

The vectorised CF time decoder must give what the decoder before it gave (cftime.num2date
to Python datetimes, one ``datetime64`` at a time; kept below as the reference) on the
bundled files and on other units and calendars, with the same errors; the bulk writers
must write the same content as the writers before them (kept below as the reference);
a CellModel reads no file once built.
"""
from __future__ import annotations

import builtins
import zlib
from pathlib import Path

import netCDF4
import numpy as np
import pytest

import tccas
from tccas import io
from tccas.workflow import (annual_table, cell_model_for, load_inputs, load_observations,
                             output_tables, write_outputs)
from tccas.errors import InputDataError
from tccas.obs import ObservationSet, read_obs, write_obs
from tccas.parameters import DAILY_OUTPUTS, HOURLY_OUTPUTS, PFT_NAMES

CASE = Path(tccas.__file__).parent / "data" / "cases" / "ES-LM1"


# ---------------------------------------------------------------- references (pre-issue-14)

def reference_decode(vals, units, calendar):
    """The decoder before issue 14: cftime to Python datetimes, then one by one."""
    import cftime
    dates = cftime.num2date(vals, units, calendar=calendar, only_use_cftime_datetimes=False,
                            only_use_python_datetimes=True)
    return np.array([np.datetime64(d.replace(tzinfo=None), "s")
                     for d in np.atleast_1d(dates)])


def reference_write_table_nc(path, times, step_hours, pfts, fractions, variables,
                             cell_variables, lat, lon, attrs=None):
    """write_table_nc before issue 14 (without its atomic move)."""
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.8"
        for k, v in (attrs or {}).items():
            setattr(ds, k, v)
        ref = times[0].astype("datetime64[D]").astype("datetime64[s]")
        ds.createDimension("time", len(times))
        ds.createDimension("nv", 2)
        hours = (times - ref).astype("timedelta64[s]").astype(np.int64) / 3600.0
        tv = ds.createVariable("time", "f8", ("time",))
        tv.units = f"hours since {str(ref.astype('datetime64[s]')).replace('T', ' ')}"
        tv.calendar = "standard"
        tv.standard_name = "time"
        tv.axis = "T"
        tv.bounds = "time_bnds"
        tv[:] = hours
        tb = ds.createVariable("time_bnds", "f8", ("time", "nv"))
        tb[:] = np.column_stack([hours, hours + step_hours])
        ds.createDimension("pft", len(pfts))
        v = ds.createVariable("pft", "i4", ("pft",))
        v.long_name = "BETHY plant functional type code"
        v.flag_values = np.arange(1, 14, dtype=np.int32)
        v.flag_meanings = " ".join(PFT_NAMES[i] for i in range(1, 14))
        v[:] = np.array(pfts, dtype=np.int32)
        v = ds.createVariable("pft_fraction", "f8", ("pft",))
        v.units = "1"
        v.long_name = "fraction of the cell covered by each PFT"
        v[:] = np.array(fractions)
        for name, val in (("lat", lat), ("lon", lon)):
            v = ds.createVariable(name, "f8", ())
            v.units = "degrees_north" if name == "lat" else "degrees_east"
            v.standard_name = "latitude" if name == "lat" else "longitude"
            v.assignValue(val)
        for name, (arr, unit, long) in variables.items():
            v = ds.createVariable(name, "f4", ("time", "pft"), zlib=True, complevel=4)
            v.units = unit
            v.long_name = f"{long} per unit PFT area"
            v.coordinates = "lat lon"
            v[:] = arr.astype(np.float32)
        for name, (arr, unit, long) in cell_variables.items():
            v = ds.createVariable(name, "f4", ("time",), zlib=True, complevel=4)
            v.units = unit
            v.long_name = f"{long}, cover-weighted cell value"
            v.coordinates = "lat lon"
            v[:] = arr.astype(np.float32)


# hourly fluxes that daily.nc holds as daily sums (the rest as daily means)
SUMMED = {"gpp", "ra", "rh", "nee", "et", "trans", "evap_soil", "evap_int", "sublim", "runoff",
          "drainage", "precip"}


def reference_tables(cell, fracs):
    """The daily and hourly tables as write_outputs built them before issue 14."""
    w = np.asarray(fracs)
    nd = cell.daily.shape[0]
    dvars, dcell = {}, {}
    for k, (name, unit, long) in enumerate(DAILY_OUTPUTS):
        arr = cell.daily[:, k, :]
        dvars[name] = (arr, unit, long)
        dcell[name + "_cell"] = (arr @ w, unit, long)
    for k, (name, unit, long) in enumerate(HOURLY_OUTPUTS):
        h = cell.hourly[:, k, :].reshape(nd, 24, -1)
        if name in SUMMED:
            arr, unit = h.sum(axis=1), unit.replace("h-1", "d-1")
            long = f"daily sum of {long}"
        else:
            arr, long = h.mean(axis=1), f"daily mean of {long}"
        dvars[name] = (arr, unit, long)
        dcell[name + "_cell"] = (arr @ w, unit, long)
    dvars["npp"] = (dvars["gpp"][0] - dvars["ra"][0], "g m-2 d-1",
                    "daily sum of net primary production (carbon)")
    dcell["npp_cell"] = (dvars["npp"][0] @ w, "g m-2 d-1", dvars["npp"][2])
    hvars, hcell = {}, {}
    for k, (name, unit, long) in enumerate(HOURLY_OUTPUTS):
        arr = cell.hourly[:, k, :]
        hvars[name] = (arr, unit, long)
        hcell[name + "_cell"] = (arr @ w, unit, long)
    hvars["npp"] = (hvars["gpp"][0] - hvars["ra"][0], "g m-2 h-1",
                    "net primary production (carbon)")
    hcell["npp_cell"] = (hvars["npp"][0] @ w, "g m-2 h-1", hvars["npp"][2])
    return dvars, dcell, hvars, hcell


def reference_write_obs(path, obs, attrs, simulated, lat, lon):
    """The observation file of a run as write_obs wrote it before issue 14's bulk writer
    (one variable after the other with ``var[:] = ...``, uncompressed as tccas run stores
    it), with the site's scalar coordinates."""
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.Conventions = "CF-1.8"
        ds.stream = obs.stream
        ds.stream_units = obs.unit
        ds.stream_description = tccas.obs.STREAMS[obs.stream][1]
        for k, v in {**obs.attrs, **attrs}.items():
            ds.setncattr(k, v)
        ds.createDimension("obs", len(obs))
        ds.createDimension("nv", 2)
        ds.createDimension("pft", len(obs.pft))
        ref = np.datetime64("1970-01-01T00:00:00")
        t0 = (obs.t_start - ref).astype("timedelta64[s]").astype(np.int64).astype(float)
        t1 = (obs.t_end - ref).astype("timedelta64[s]").astype(np.int64).astype(float)
        tv = ds.createVariable("time", "f8", ("obs",))
        tv.units = "seconds since 1970-01-01 00:00:00"
        tv.calendar = "standard"
        tv.standard_name = "time"
        tv.bounds = "time_bnds"
        tv.long_name = "start of the integration window"
        tv[:] = t0
        ds.createVariable("time_bnds", "f8", ("obs", "nv"))[:] = np.column_stack([t0, t1])
        for name, val, unit, std in (("lat", lat, "degrees_north", "latitude"),
                                     ("lon", lon, "degrees_east", "longitude")):
            v = ds.createVariable(name, "f8", ())
            v.units, v.standard_name, v.long_name = unit, std, f"{std} of the site"
            v.assignValue(val)
        v = ds.createVariable("pft", "i4", ("pft",))
        v.long_name = "BETHY plant functional type code"
        v[:] = np.array(obs.pft, dtype=np.int32)
        for name, arr, unit, long in (
                ("value", obs.value, obs.unit, f"observed {obs.stream}"),
                ("sigma", obs.sigma, obs.unit, "observation uncertainty (1 sigma)"),
                ("angle", obs.angle, "degree", "incidence angle")):
            v = ds.createVariable(name, "f8", ("obs",))
            v.units, v.long_name, v.coordinates = unit, long, "time lat lon"
            v[:] = arr
        v = ds.createVariable("qc", "i4", ("obs",))
        v.units, v.long_name = "1", "quality flag (0 = best)"
        v[:] = obs.qc.astype(np.int32)
        v = ds.createVariable("footprint_fraction", "f8", ("obs", "pft"))
        v.units = "1"
        v.long_name = "fraction of the observation footprint covered by each PFT"
        v[:] = obs.footprint
        v = ds.createVariable("simulated", "f8", ("obs",))
        v.units = obs.unit
        v.long_name = f"model equivalent of the observed {obs.stream}"
        v.coordinates = "time lat lon"
        v[:] = simulated


def assert_tables_as_reference(tmp_path, cfg, static, times, ref, files):
    """daily.nc and hourly.nc in ``files`` hold what the reference writer writes from the
    reference tables ``ref`` (daily values/units, hourly values/units)."""
    attrs = {"title": f"D&B model output, {cfg.site.name}", "source": "tccas D&B",
             "site_name": cfg.site.name, "history": "reference"}
    fr = static.pft_fraction
    reference_write_table_nc(tmp_path / "daily.nc", times[::24], 24.0, static.pft, fr,
                             ref[0], ref[1], static.lat, static.lon, attrs)
    reference_write_table_nc(tmp_path / "hourly.nc", times, 1.0, static.pft, fr,
                             ref[2], ref[3], static.lat, static.lon, attrs)
    assert_same_content(tmp_path / "daily.nc", files["daily"])
    assert_same_content(tmp_path / "hourly.nc", files["hourly"])


def assert_same_content(ref_path, new_path, exact_attributes=False):
    """Same variables, dimensions, types, values (bit for bit) and attributes; the new
    file may add attributes (standard_name, cell_methods) but change none, unless
    ``exact_attributes`` (then both have the same attribute names, in the same order)."""
    with netCDF4.Dataset(ref_path) as a, netCDF4.Dataset(new_path) as b:
        if exact_attributes:
            assert a.ncattrs() == b.ncattrs()
            for name, va in a.variables.items():
                assert va.ncattrs() == b.variables[name].ncattrs(), name
        assert {k: len(d) for k, d in a.dimensions.items()} == \
            {k: len(d) for k, d in b.dimensions.items()}
        assert list(a.variables) == list(b.variables)
        for k in a.ncattrs():
            if k != "history":
                assert b.getncattr(k) == a.getncattr(k), k
        for name, va in a.variables.items():
            vb = b.variables[name]
            assert va.dimensions == vb.dimensions and va.dtype == vb.dtype, name
            for k in va.ncattrs():
                assert np.array_equal(np.asarray(vb.getncattr(k)), np.asarray(va.getncattr(k))), \
                    (name, k)
            xa, xb = np.ma.getdata(va[:]), np.ma.getdata(vb[:])
            assert np.array_equal(xa, xb), (name, np.nanmax(np.abs(xa - xb)))


# ---------------------------------------------------------------- time decoding

def test_decoded_times_equal_the_reference_on_the_bundled_files():
    files = [CASE / "forcing.nc"] + sorted((CASE / "obs").glob("*.nc"))
    for path in files:
        with netCDF4.Dataset(path) as ds:
            tv = ds.variables["time"]
            arrays = [np.asarray(tv[:], dtype=float)]
            if "time_bnds" in ds.variables:
                b = np.asarray(ds.variables["time_bnds"][:], dtype=float)
                arrays += [b[:, 0], b[:, 1]]
            for vals in arrays:
                new = io.times_from_nc(tv, str(path), vals)
                ref = reference_decode(vals, tv.units, getattr(tv, "calendar", "standard"))
                assert new.dtype == ref.dtype == np.dtype("datetime64[s]")
                assert np.array_equal(new, ref), path
    # and what the readers return
    f = io.read_forcing(CASE / "forcing.nc")
    assert f.times[0] == np.datetime64("2015-01-01T00:00:00")
    assert np.all(np.diff(f.times) == np.timedelta64(3600, "s"))


def _values(rng, factor_us, n=400):
    """Random offsets plus values on or next to the rounding edges of the decoder: half
    microseconds, one microsecond either side of a whole second, float64 neighbours."""
    k = rng.integers(-2 * 10 ** 15, 2 * 10 ** 15, n).astype(float)   # microseconds
    whole = np.round(k / 1e6) * 1e6
    edges = np.concatenate([(k + 0.5), whole + 1, whole - 1, whole + 1.5, whole + 0.5,
                            k + 0.5 + 1e-7])
    vals = edges / factor_us
    return np.concatenate([vals, np.nextafter(vals, np.inf), np.nextafter(vals, -np.inf),
                           rng.uniform(-3e15, 3e15, n) / factor_us])


UNITS = [
    ("days since 1970-01-01", 86400e6),
    ("days since 2015-01-01 00:00:00", 86400e6),
    ("d since 1850-01-01", 86400e6),
    ("hours since 2015-01-01T00:00:00Z", 3600e6),
    ("hours since 2015-1-1 12:30:00+01:00", 3600e6),
    ("minutes since 2000-01-01", 60e6),
    ("seconds since 1970-01-01 00:00:00", 1e6),
    ("seconds since 2010-01-01", 1e6),
    ("milliseconds since 2019-06-01 00:00:00", 1e3),
    ("microseconds since 2000-01-01", 1.0),
]


@pytest.mark.parametrize("calendar", ["standard", "gregorian", "proleptic_gregorian"])
@pytest.mark.parametrize("units,factor", UNITS)
def test_decoded_times_equal_the_reference_for_other_units(units, factor, calendar):
    rng = np.random.default_rng(zlib.crc32(f"{units}|{calendar}".encode()))   # stable seed
    vals = _values(rng, factor)
    assert np.array_equal(io.decode_cf_times(vals, units, calendar),
                          reference_decode(vals, units, calendar))
    ints = rng.integers(-10 ** 5, 10 ** 5, 300)
    assert np.array_equal(io.decode_cf_times(ints, units, calendar),
                          reference_decode(ints, units, calendar))


def test_decoder_keeps_the_reference_errors(tmp_path):
    vals = np.arange(5.0)
    for units, calendar in [("days since 2000-01-01", "noleap"),
                            ("days since 2000-01-01", "365_day"),
                            ("days since 2000-01-01", "360_day"),
                            ("days since 2000-01-01", "julian"),
                            ("days since 2000-01-01", "all_leap"),
                            ("days since 2000-01-01", "no_such_calendar"),
                            ("days since 1500-01-01", "standard"),
                            ("months since 2000-01-01", "standard"),
                            ("fortnights since 2000-01-01", "standard"),
                            ("days after 2000-01-01", "standard"),
                            ("days", "standard")]:
        with pytest.raises(Exception):
            reference_decode(vals, units, calendar)
        with pytest.raises(InputDataError, match="cannot decode units"):
            io.decode_cf_times(vals, units, calendar, where="f.nc: variable 'time'")
    # proleptic_gregorian before 1582 is fine for both
    assert np.array_equal(io.decode_cf_times(vals, "days since 1500-01-01",
                                             "proleptic_gregorian"),
                          reference_decode(vals, "days since 1500-01-01", "proleptic_gregorian"))
    with pytest.raises(InputDataError, match="time value 2 is missing"):
        io.decode_cf_times(np.array([0.0, 1.0, np.nan]), "days since 2000-01-01")
    with pytest.raises(InputDataError, match="outside the years 1-9999"):
        io.decode_cf_times(np.array([0.0, 9.0e6]), "days since 2000-01-01")
    with pytest.raises(InputDataError, match="64-bit"):
        io.decode_cf_times(np.array([1e300]), "days since 2000-01-01")
    # through a forcing file: the file and the variable are named, noleap rejected as before
    f = io.read_forcing(CASE / "forcing.nc").select(np.datetime64("2015-01-01"),
                                                    np.datetime64("2015-01-03"))
    path = io.write_forcing(tmp_path / "f.nc", f, 39.9, -5.8)
    with netCDF4.Dataset(path, "a") as ds:
        ds.variables["time"].calendar = "noleap"
    with pytest.raises(InputDataError, match=r"f\.nc: variable 'time': cannot decode .*noleap"):
        io.read_forcing(path)


def test_forcing_in_days_since_proleptic_gregorian_reads_the_same(tmp_path):
    f = io.read_forcing(CASE / "forcing.nc").select(np.datetime64("2016-02-27"),
                                                    np.datetime64("2016-03-02"))
    path = io.write_forcing(tmp_path / "f.nc", f, 39.9, -5.8)
    with netCDF4.Dataset(path, "a") as ds:
        tv = ds.variables["time"]
        hours = np.asarray(tv[:], dtype=float)
        tv.units = "days since 2016-02-27 00:00:00"
        tv.calendar = "proleptic_gregorian"
        tv[:] = hours / 24.0
        ds.variables["time_bnds"][:] = np.asarray(ds.variables["time_bnds"][:]) / 24.0
    back = io.read_forcing(path)
    assert np.array_equal(back.times, f.times)      # crosses 29 February 2016


# ---------------------------------------------------------------- writers

def test_output_files_have_the_reference_content(eslm1_run, tmp_path):
    cfg, static, forcing, cell = eslm1_run
    fr = static.pft_fraction
    ref = reference_tables(cell, fr)
    new = output_tables(cell, fr)
    for a, b in zip(ref, new):
        assert list(a) == list(b)
        for name in a:
            assert a[name][1:3] == b[name][1:3], name
            assert np.array_equal(a[name][0], b[name][0]), name   # float64, bit for bit
    files = write_outputs(tmp_path / "new", cfg, static, forcing.times, cell)
    assert_tables_as_reference(tmp_path, cfg, static, forcing.times, ref, files)
    with netCDF4.Dataset(files["hourly"]) as ds:
        v = ds.variables["gpp"]
        assert v.standard_name == "gross_primary_productivity_of_biomass_expressed_as_carbon"
        assert v.cell_methods == "time: mean"
        assert ds.variables["gpp_cell"].cell_methods == "area: mean time: mean"
        assert v.chunking() == "contiguous" and not v.filters()["zlib"]
    with netCDF4.Dataset(files["daily"]) as ds:
        assert ds.variables["c_wood"].cell_methods == "time: point"
        assert ds.variables["c_wood"].standard_name == "wood_mass_content_of_carbon"
        assert ds.variables["gpp"].chunking() == "contiguous"
    # the annual table of summary.txt
    hn = [h[0] for h in HOURLY_OUTPUTS]
    years = forcing.times.astype("datetime64[Y]").astype(int) + 1970
    rows = annual_table(forcing.times, cell, static.pft, fr)
    assert [r["year"] for r in rows] == list(range(2015, 2022))
    for r in rows:
        m = years == r["year"]
        for v in ("gpp", "nee", "et"):
            ref_pft = cell.hourly[m, hn.index(v), :].sum(axis=0)   # the previous code
            assert np.array_equal(r[v], ref_pft)
            assert r[v + "_cell"] == float((ref_pft * np.asarray(fr)).sum())


def test_annual_table_is_the_previous_one_for_one_to_three_tiles(eslm1_run):
    """The summary's annual sums equal those of the code before (each year's hours taken by
    a boolean mask and summed along the hours) bit for bit, also for one tile (numpy sums a
    single column pairwise, several columns row after row) and three."""
    cfg, static, forcing, cell = eslm1_run
    hn = [h[0] for h in HOURLY_OUTPUTS]
    years = forcing.times.astype("datetime64[Y]").astype(int) + 1970
    for tiles in ([0], [1, 0], [0, 1, 0]):
        h = np.asfortranarray(cell.hourly[:, :, tiles].transpose(1, 0, 2)).transpose(1, 0, 2)
        sub = tccas.model.CellRun(h, cell.daily, cell.state, None)   # the core's layout
        fr = np.full(len(tiles), 1.0 / len(tiles))
        rows = annual_table(forcing.times, sub, tuple(tiles), fr)
        assert [r["year"] for r in rows] == sorted(set(years))
        for r in rows:
            m = years == r["year"]
            for v in ("gpp", "nee", "et"):
                ref = sub.hourly[m, hn.index(v), :].sum(axis=0)
                assert np.array_equal(r[v], ref), (tiles, r["year"], v)
                assert r[v + "_cell"] == float((ref * fr).sum())


def test_compressed_and_chunked_hourly_output_holds_the_same_values(eslm1_run, tmp_path):
    cfg, static, forcing, cell = eslm1_run
    fr = static.pft_fraction
    _, _, hv, hc = output_tables(cell, fr)
    keep = ("gpp", "tcan", "sm_root")
    hv = {k: hv[k] for k in keep}
    hc = {k + "_cell": hc[k + "_cell"] for k in keep}
    paths = {cl: io.write_table_nc(tmp_path / f"h{cl}.nc", forcing.times, 1.0, static.pft, fr,
                                   hv, hc, static.lat, static.lon, complevel=cl)
             for cl in (None, 1)}
    assert_same_content(paths[None], paths[1])
    with netCDF4.Dataset(paths[1]) as ds:
        # a single cell's series (0.5 MB) is one chunk: one variable's series in one read
        assert ds.variables["gpp"].chunking() == [forcing.times.size, 2]
        assert ds.variables["gpp_cell"].chunking() == [forcing.times.size]
        assert np.array_equal(ds.variables["gpp"][:], hv["gpp"][0].astype(np.float32))


def test_written_tables_are_checked_and_atomic(tmp_path, eslm1_run):
    cfg, static, forcing, cell = eslm1_run
    t = forcing.times[:48]
    with pytest.raises(ValueError, match="'x' has shape"):
        io.write_table_nc(tmp_path / "bad.nc", t, 1.0, (3, 9), (0.2, 0.8),
                          {"x": (np.zeros((47, 2)), "1", "x")}, {}, 0.0, 0.0)
    assert list(tmp_path.iterdir()) == []


def test_observation_files_roundtrip_in_bulk(tmp_path, rng):
    n = 5000
    t0 = np.datetime64("2017-01-01T00:00:00") + rng.integers(0, 4 * 365 * 86400, n) \
        .astype("timedelta64[s]")
    o = ObservationSet("sif", t0, t0 + np.timedelta64(1800, "s"), rng.uniform(0, 2, n),
                       rng.uniform(0.1, 0.3, n), rng.integers(0, 3, n), (3, 9),
                       rng.dirichlet([1, 1], n) * 0.9, None, "", {"title": "t"})
    sim = rng.uniform(0, 2, n)
    for cl in (None, 1, 4):
        path = write_obs(tmp_path / f"sif{cl}.nc", o, simulated=sim, complevel=cl)
        back = read_obs(path)
        for name in ("t_start", "t_end", "value", "sigma", "qc", "footprint", "angle"):
            assert np.array_equal(getattr(back, name), getattr(o, name)), name
        with netCDF4.Dataset(path) as ds:
            assert np.array_equal(ds.variables["simulated"][:], sim)
            assert ds.variables["qc"].units == "1"
            assert "featureType" not in ds.ncattrs()
            assert ds.variables["value"].filters()["zlib"] == (cl is not None)
    empty = o.subset(np.zeros(n, bool))
    back = read_obs(write_obs(tmp_path / "empty.nc", empty, simulated=np.zeros(0)))
    assert len(back) == 0 and back.pft == (3, 9)


# ---------------------------------------------------------------- read once

def test_cell_model_reads_no_file_after_it_is_built(monkeypatch):
    cfg = tccas.load_config("ES-LM1")
    inputs, sets = load_inputs(cfg), load_observations(cfg)
    model, _ = cell_model_for(cfg, days=20, inputs=inputs, observations=sets)
    x = np.zeros(len(model.control))
    y0 = model.forward(x)

    def no_files(*args, **kwargs):
        raise AssertionError(f"file opened during an evaluation: {args[:1]}")

    monkeypatch.setattr(netCDF4, "Dataset", no_files)
    monkeypatch.setattr(builtins, "open", no_files)
    monkeypatch.setattr(io, "open_netcdf", no_files)
    y = model.forward(x)
    _, dy = model.tangent(x, np.ones_like(x))
    dx = model.adjoint(x, np.ones_like(y))
    monkeypatch.undo()
    assert np.array_equal(y, y0) and np.isfinite(dy).all() and np.isfinite(dx).all()
    # the same model as when cell_model_for reads the files itself
    model2, _ = cell_model_for(cfg, days=20)
    assert np.array_equal(model2.forward(x), y0)


def test_run_reports_the_split_of_its_time(tmp_path):
    cfg = tccas.load_config("ES-LM1")
    res = tccas.run(cfg, output_dir=tmp_path, progress=False)
    t = res.timings
    assert set(t) == {"read", "run", "write", "total", "cpu_read", "cpu_run", "cpu_write",
                      "cpu_total"}
    assert all(v > 0 for v in t.values())
    # the CPU time of the process covers that of its threads' parts (thread clocks may tick
    # more coarsely: a small tolerance)
    assert t["cpu_read"] + t["cpu_run"] + t["cpu_write"] <= t["cpu_total"] + 0.02
    # the observations are read and the output files created while the core runs: the
    # total lies between the longest part and the sum of all three
    assert max(t["read"], t["run"], t["write"]) <= t["total"] + 1e-6
    assert t["total"] <= t["read"] + t["run"] + t["write"] + 1e-3


def test_an_observation_error_during_the_run_is_raised_and_nothing_written(tmp_path):
    import dataclasses
    cfg = tccas.load_config("ES-LM1")
    bad = tmp_path / "sif.nc"
    bad.write_text("not a netCDF file")
    obs = dict(cfg.observations)
    obs["sif"] = bad
    cfg = dataclasses.replace(cfg, observations=obs)
    out = tmp_path / "run"
    with pytest.raises(InputDataError, match="sif.nc"):
        tccas.run(cfg, output_dir=out, progress=False)
    assert not out.exists() or not any(p.suffix == ".nc" for p in out.rglob("*"))
    # the core finished its run in the background and takes the next one
    res = tccas.run(tccas.load_config("ES-LM1"), output_dir=tmp_path / "next", progress=False)
    assert (res.output_dir / "daily.nc").exists()


def test_outputs_without_hourly_file_and_nothing_half_written(eslm1_run, tmp_path):
    import dataclasses
    cfg, static, forcing, cell = eslm1_run
    daily_only = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, hourly_output=False))
    files = write_outputs(tmp_path / "a", daily_only, static, forcing.times, cell)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["daily.nc", "summary.txt"]
    assert "hourly" not in files
    # a failing observation file (simulated values of the wrong length): nothing is left
    o = load_observations(cfg)[0]
    with pytest.raises(ValueError, match="'simulated' has shape"):
        write_outputs(tmp_path / "b", cfg, static, forcing.times, cell,
                      {o.stream: (o, np.zeros(len(o) + 3))})
    assert [p for p in (tmp_path / "b").rglob("*") if p.is_file()] == []


def test_put_whole_writes_what_setitem_writes(tmp_path, rng):
    a64 = rng.normal(size=(1000, 3))
    with netCDF4.Dataset(tmp_path / "p.nc", "w") as ds:
        ds.createDimension("t", 1000)
        ds.createDimension("k", 3)
        pairs = []
        for dtype, data in (("f4", a64), ("f8", a64), ("i4", rng.integers(-9, 9, (1000, 3))),
                            ("f4", a64.T.copy().T)):       # a non-contiguous view
            v1 = ds.createVariable(f"a{len(pairs)}", dtype, ("t", "k"))
            v2 = ds.createVariable(f"b{len(pairs)}", dtype, ("t", "k"))
            v1[:] = data
            io.put_whole(v2, data)
            pairs.append((v1.name, v2.name))
        io.put_whole(ds.createVariable("s", "f8", ()), np.float64(39.94))   # a scalar
        v = ds.createVariable("m", "f8", ("t",))
        io.put_whole(v, np.ma.masked_less(a64[:, 0], 0.0))          # masked: public path
        with pytest.raises(ValueError):                        # as var[:] = ... does
            io.put_whole(ds.createVariable("short", "f8", ("t",)), np.zeros(999))
    with netCDF4.Dataset(tmp_path / "p.nc") as ds:
        for n1, n2 in pairs:
            assert np.array_equal(ds.variables[n1][:], ds.variables[n2][:])
        assert ds.variables["s"][...] == 39.94 and ds.variables["s"].shape == ()
        m = ds.variables["m"][:]
        assert np.array_equal(m.mask, a64[:, 0] < 0)


def test_get_whole_reads_what_getitem_reads(tmp_path, rng):
    """get_whole (netCDF4's lower-level read) gives what var[:] gives, masked values
    replaced, on plain variables and on every attribute that makes netCDF4 mask or unpack."""
    x = rng.normal(size=(50, 3))
    x[3, 1] = netCDF4.default_fillvals["f8"]                 # masked without any attribute
    ints = rng.integers(-5, 5, (50, 3)).astype(np.int32)
    ints[7, 2] = netCDF4.default_fillvals["i4"]
    path = tmp_path / "g.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("t", 50)
        ds.createDimension("k", 3)
        ds.createDimension("e", 0)
        ds.createVariable("plain", "f8", ("t", "k"))[:] = x
        ds.createVariable("single", "f4", ("t", "k"))[:] = x
        ds.createVariable("ints", "i4", ("t", "k"))[:] = ints
        ds.createVariable("bytes", "i1", ("t",))[:] = ints[:, 0].astype(np.int8)
        v = ds.createVariable("filled", "f8", ("t", "k"), fill_value=-9.0)
        v[:] = np.where(x > 1.0, -9.0, x)
        v = ds.createVariable("missing", "f8", ("t", "k"))
        v.missing_value = 0.5
        v[:] = np.where(x > 0.8, 0.5, x)
        v = ds.createVariable("ranged", "f8", ("t", "k"))
        v.valid_range = np.array([-1.0, 1.0])
        v[:] = x
        v = ds.createVariable("packed", "i2", ("t", "k"))
        v.scale_factor, v.add_offset = 0.01, 1.0
        v[:] = np.clip(x, -3.0, 3.0)
        ds.createVariable("scalar", "f8", ()).assignValue(3.25)
        ds.createVariable("empty", "f8", ("e",))
        v = ds.createVariable("unfilled", "f8", ("t",), fill_value=False)
        v[:] = x[:, 0]
    with netCDF4.Dataset(path) as ds:
        for name, var in ds.variables.items():
            ref = np.ma.filled(np.ma.asarray(var[:], dtype=float), np.nan)
            got = io.get_whole(var, np.nan, float)
            assert got.dtype == ref.dtype and got.shape == ref.shape, name
            assert np.array_equal(got, ref, equal_nan=True), name
            raw = io.get_whole(var, None)
            assert np.array_equal(raw, np.asarray(var[:]), equal_nan=True), name
            if var.dtype.kind == "i":
                assert np.array_equal(io.get_whole(var, -1), np.ma.filled(var[:], -1)), name
        assert np.isnan(io.get_whole(ds.variables["plain"], np.nan, float)[3, 1])
        assert io.get_whole(ds.variables["ints"], -1)[7, 2] == -1


def test_hourly_tables_in_float32_are_the_float64_tables_rounded(eslm1_run):
    cfg, static, forcing, cell = eslm1_run
    t64 = output_tables(cell, static.pft_fraction)
    t32 = output_tables(cell, static.pft_fraction, hourly_dtype=np.float32)
    for i in (0, 1):                                      # daily tables: float64 as ever
        for name, v in t64[i].items():
            assert np.array_equal(t32[i][name][0], v[0]) and t32[i][name][1:] == v[1:]
    for i in (2, 3):
        assert list(t32[i]) == list(t64[i])
        for name, v in t64[i].items():
            a = t32[i][name][0]
            assert a.dtype == np.float32 and a.flags.c_contiguous, name
            assert np.array_equal(a, v[0].astype(np.float32)), name
            assert t32[i][name][1:] == v[1:], name
    # a run shorter than one block of days, and one of a block and a day; one and three
    # tiles. The arrays keep the core's layout (variable index fastest, tile slowest), the
    # one the code before was bit-identical with (its sums along the hours depend on it)
    def core_layout(a):
        return np.asfortranarray(a.transpose(1, 0, 2)).transpose(1, 0, 2)

    for days, tiles in ((3, [0, 1]), (129, [0, 1]), (200, [1]), (140, [0, 1, 0])):
        short = tccas.model.CellRun(core_layout(cell.hourly[:24 * days, :, tiles]),
                                    core_layout(cell.daily[:days, :, tiles]), cell.state, None)
        fr = np.full(len(tiles), 1.0 / len(tiles))
        ref = reference_tables(short, fr)
        new = output_tables(short, fr)
        for a, b in zip(ref, new):
            for name in a:
                assert np.array_equal(a[name][0], b[name][0]), (days, tiles, name)


def test_run_output_files_have_the_reference_content(tmp_path):
    """Every file tccas.run writes (tables built in float32 while the observation files are
    filled, files created while the core runs) holds what the reference writers write from
    the run's results: the tables of the code before issue 14, the observations and their
    simulated values variable by variable."""
    cfg = tccas.load_config("ES-LM1")
    res = tccas.run(cfg, output_dir=tmp_path / "run", progress=False)
    static = io.read_static(cfg.site.static)
    fr = static.pft_fraction
    ref = reference_tables(res.cell, fr)
    assert_tables_as_reference(tmp_path, cfg, static, res.times, ref, res.files)
    assert set(res.observations) == set(cfg.observations)
    for stream, (o, y) in res.observations.items():
        ref_path = tmp_path / f"{stream}.nc"
        reference_write_obs(ref_path, o, {"model_run": cfg.site.name}, y, static.lat,
                            static.lon)
        assert_same_content(ref_path, res.files[f"obs_{stream}"], exact_attributes=True)
        back = read_obs(res.files[f"obs_{stream}"])
        for name in ("t_start", "t_end", "value", "sigma", "qc", "footprint", "angle"):
            assert np.array_equal(getattr(back, name), getattr(o, name)), (stream, name)


def test_map_chunks_serve_a_day_map_and_a_cell_series():
    from tccas.io import map_chunks
    # a small grid: one chunk per year holds every cell
    assert map_chunks(2557, (18, 24)) == (366, 18, 24)
    assert map_chunks(100, (18, 24)) == (100, 18, 24)
    # a large grid: 128 x 128 tiles, as many days as fill about 1 MB
    steps, a, b = map_chunks(2557, (1000, 1000))
    assert (a, b) == (128, 128) and steps == (1 << 20) // (4 * 128 * 128)
    # a list of cells: tiles of up to 128 * 128 cells
    assert map_chunks(2557, (100000,))[1] == 128 * 128
    assert map_chunks(5, (3, 4), itemsize=8) == (5, 3, 4)
