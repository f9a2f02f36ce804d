"""CF-1.8 netCDF readers and writers for forcing, static site data and model outputs.

Every reader checks what it reads and raises :class:`InputDataError` naming the file, the
variable and the problem. Writers write to a temporary file in the target folder and move it
into place only when complete, so that no half-written file is ever left behind.

Speed (issue 14, docs/io.md): CF times are decoded with numpy integer arithmetic
(:func:`decode_cf_times`), writers define every variable before writing any data, and
model output is stored uncompressed and contiguous unless a zlib level is asked for.
"""
from __future__ import annotations

import functools
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputDataError
from .parameters import FORCING_VARS, PFT_NAMES

__all__ = [
    "FORCING_NAMES", "FORCING_UNITS", "FORCING_RANGES", "OUTPUT_STANDARD_NAMES",
    "Forcing", "Static", "convert_units", "check_forcing", "check_hourly_times",
    "decode_cf_times",
    "times_from_nc", "open_netcdf", "read_forcing", "saturation_vapour_pressure",
    "vpd_from_specific_humidity", "running_mean", "atomic_path", "time_var",
    "write_forcing", "read_static", "write_static", "write_table_nc", "put_whole", "get_whole",
    "map_chunks", "OpenFile", "TableFile", "step_start_times",
]

FORCING_NAMES = tuple(v[0] for v in FORCING_VARS)
FORCING_UNITS = {v[0]: v[1] for v in FORCING_VARS}
# plausible physical ranges in canonical units; values outside mean wrong units or bad data
FORCING_RANGES = {
    "tas": (180.0, 340.0),
    "rsds": (0.0, 1500.0),
    "rlds": (40.0, 650.0),
    "pr": (0.0, 0.1),
    "vpd": (0.0, 15000.0),
    "ps": (40000.0, 110000.0),
    "sfcWind": (0.0, 80.0),
    "co2": (1.0e-4, 2.0e-3),
    "tsl_deep": (200.0, 340.0),
}
# unit strings accepted for each variable, with the conversion (scale, offset) to canonical
_UNIT_ALIASES = {
    "K": {"K": (1.0, 0.0), "degK": (1.0, 0.0), "kelvin": (1.0, 0.0),
          "degC": (1.0, 273.15), "celsius": (1.0, 273.15), "C": (1.0, 273.15)},
    "W m-2": {"W m-2": (1.0, 0.0), "W/m2": (1.0, 0.0), "W m**-2": (1.0, 0.0)},
    "kg m-2 s-1": {"kg m-2 s-1": (1.0, 0.0), "mm s-1": (1.0, 0.0), "kg/m2/s": (1.0, 0.0),
                   "mm h-1": (1.0 / 3600.0, 0.0), "mm/h": (1.0 / 3600.0, 0.0)},
    "Pa": {"Pa": (1.0, 0.0), "hPa": (100.0, 0.0), "kPa": (1000.0, 0.0)},
    "m s-1": {"m s-1": (1.0, 0.0), "m/s": (1.0, 0.0)},
    "mol mol-1": {"mol mol-1": (1.0, 0.0), "1": (1.0, 0.0), "mol/mol": (1.0, 0.0),
                  "ppm": (1e-6, 0.0), "umol mol-1": (1e-6, 0.0)},
}


# significant digits kept when writing forcing (netCDF quantisation; compresses well and
# stays far below the accuracy of any meteorological measurement)
_SIGNIFICANT_DIGITS = {"tas": 6, "rsds": 4, "rlds": 4, "pr": 3, "vpd": 4, "ps": 5,
                       "sfcWind": 3, "co2": 5, "tsl_deep": 6}


@dataclass(frozen=True)
class Forcing:
    """Hourly forcing of one cell in canonical units.

    ``times`` are the start times of the hourly steps (datetime64[s], UTC); ``data`` maps each
    name of ``FORCING_NAMES`` to an array of the same length.
    """

    times: np.ndarray
    data: dict[str, np.ndarray]
    source: str = ""

    def matrix(self) -> np.ndarray:
        """(nt, nmet) array in the order the core expects."""
        return np.column_stack([self.data[n] for n in FORCING_NAMES])

    def select(self, start: np.datetime64, end: np.datetime64) -> "Forcing":
        """Steps with start <= time < end."""
        m = (self.times >= start) & (self.times < end)
        return Forcing(self.times[m], {k: v[m] for k, v in self.data.items()}, self.source)


@dataclass(frozen=True)
class Static:
    """Static description of one cell: location, PFT tiles and soil."""

    lat: float
    lon: float
    pft: tuple[int, ...]
    pft_fraction: tuple[float, ...]
    sand: float
    clay: float
    soil_depth: float
    name: str = ""
    source: str = ""
    attrs: dict = field(default_factory=dict)


def convert_units(values: np.ndarray, unit: str, canonical: str, where: str) -> np.ndarray:
    """Convert ``values`` from ``unit`` to ``canonical``; raise if the unit is not known."""
    table = _UNIT_ALIASES.get(canonical, {canonical: (1.0, 0.0)})
    key = unit.strip()
    if key not in table:
        raise InputDataError(f"{where}: unit '{unit}' cannot be converted to '{canonical}' "
                             f"(accepted: {', '.join(sorted(table))})")
    scale, offset = table[key]
    return values * scale + offset


def check_hourly_times(t: np.ndarray, where: str) -> None:
    """Check forcing step start times: hourly without gaps, whole days from 00 UTC."""
    if t.size == 0:
        raise InputDataError(f"{where}: no time steps")
    if t.size > 1:
        dt = np.diff(t).astype("timedelta64[s]").astype(np.int64)
        bad = np.nonzero(dt != 3600)[0]
        if bad.size:
            i = int(bad[0])
            raise InputDataError(f"{where}: variable 'time': steps must be hourly without gaps; "
                                 f"{t[i]} is followed by {t[i + 1]}")
    if (t[0] - t[0].astype("datetime64[D]")).astype(np.int64) != 0:
        raise InputDataError(f"{where}: variable 'time': the first step must start at 00 UTC, "
                             f"got {t[0]}")
    if t.size % 24:
        raise InputDataError(f"{where}: variable 'time': {t.size} hourly steps do not make "
                             "whole days")


def check_forcing(f: Forcing, where: str) -> None:
    """Check times (hourly, no gaps, whole days from 00 UTC) and values (finite, in range)."""
    t = f.times
    check_hourly_times(t, where)
    for name in FORCING_NAMES:
        if name not in f.data:
            raise InputDataError(f"{where}: missing variable '{name}'")
        v = f.data[name]
        if v.shape != t.shape:
            raise InputDataError(f"{where}: variable '{name}' has {v.size} values for "
                                 f"{t.size} times")
        bad = np.nonzero(~np.isfinite(v))[0]
        if bad.size:
            raise InputDataError(f"{where}: variable '{name}' has {bad.size} missing/NaN values, "
                                 f"first at {t[bad[0]]}")
        lo, hi = FORCING_RANGES[name]
        out = np.nonzero((v < lo) | (v > hi))[0]
        if out.size:
            raise InputDataError(
                f"{where}: variable '{name}' = {v[out[0]]:g} at {t[out[0]]} is outside "
                f"[{lo:g}, {hi:g}] {FORCING_UNITS[name]}: wrong units or bad data?")


# microseconds per CF time unit (the unit names cftime accepts for real-world calendars)
_CF_UNIT_US = {}
for _names, _us in (
        (("microseconds", "microsecond", "microsec", "microsecs"), 1),
        (("milliseconds", "millisecond", "millisec", "millisecs", "msec", "msecs", "ms"), 1000),
        (("seconds", "second", "sec", "secs", "s"), 1_000_000),
        (("minutes", "minute", "min", "mins"), 60_000_000),
        (("hours", "hour", "hr", "hrs", "h"), 3_600_000_000),
        (("days", "day", "d"), 86_400_000_000)):
    _CF_UNIT_US.update(dict.fromkeys(_names, _us))
# latest instant a Python datetime (and so the decoder before issue 14) can hold
_MAX_TIME_US = np.datetime64("9999-12-31T23:59:59.999999", "us")
_MIN_TIME_US = np.datetime64("0001-01-01T00:00:00", "us")


@functools.lru_cache(maxsize=64)
def _reference_time(units: str, calendar: str) -> tuple[np.datetime64, int]:
    """Reference instant (UTC, datetime64[us]) and microseconds per unit of a CF time
    ``units`` string; cftime parses the string and checks the calendar."""
    import cftime
    base = cftime.num2date(0, units, calendar=calendar, only_use_cftime_datetimes=False,
                           only_use_python_datetimes=True)
    unit = units.split(None, 1)[0].lower()
    if unit not in _CF_UNIT_US:   # cftime accepted it but it is not a fixed length here
        raise ValueError(f"unsupported time unit '{unit}'")
    return np.datetime64(base.replace(tzinfo=None), "us"), _CF_UNIT_US[unit]


def _scaled_microseconds(vals: np.ndarray, factor: int) -> np.ndarray:
    """``rint(longdouble(vals) * factor)`` as int64, as cftime computes it, but in float64
    and int64 arithmetic: the integer part of each value is scaled exactly in int64, the
    fraction in float64; the few values whose scaled fraction lies too close to a
    half-integer for float64 to decide (and cftime's one-microsecond corrections) are
    recomputed in extended precision. |vals| * factor < 2**62 is assumed."""
    whole = np.floor(vals)
    frac = (vals - whole) * factor                     # in [0, factor], error <= factor 2^-53
    rounded = np.rint(frac)
    us = whole.astype(np.int64) * factor + rounded.astype(np.int64)
    # error of cftime's extended-precision product (64-bit mantissa) and of ``frac``
    tol = factor * 2.0 ** -51 + np.abs(vals) * (factor * 2.0 ** -62) + 1e-9
    redo = np.abs(np.abs(frac - rounded) - 0.5) <= tol
    if factor >= 1_000_000:
        # cftime: a value 1 us past (before) a whole second is read as the whole second
        sub = us % 1_000_000
        redo |= (sub == 1) | (sub == 999_999)
    idx = np.nonzero(redo)[0]
    if idx.size:
        scaled = vals[idx].astype(np.longdouble) * factor
        fix = np.rint(scaled).astype(np.int64)
        if factor >= 1_000_000:
            fix = np.where(fix % 1_000_000 == 1, np.floor(scaled).astype(np.int64), fix)
            fix = np.where(fix % 1_000_000 == 999_999, np.ceil(scaled).astype(np.int64), fix)
        us[idx] = fix
    return us


def decode_cf_times(values: np.ndarray, units: str, calendar: str = "standard",
                    where: str = "time") -> np.ndarray:
    """Decode CF numeric times to datetime64[s] (UTC), vectorised.

    Parameters
    ----------
    values : array of numbers (any shape; flattened) in ``units``.
    units : CF time units, ``"<unit> since <reference time>"`` with unit one of
        microseconds, milliseconds, seconds, minutes, hours, days (and their CF/udunits
        abbreviations); a UTC offset in the reference time is applied.
    calendar : ``standard``, ``gregorian`` (reference time after 1582-10-15) or
        ``proleptic_gregorian``; other calendars (``noleap``, ``360_day``, ``julian``, ...)
        are rejected, since the model runs on real dates.
    where : file and variable named in error messages.

    Returns
    -------
    (n,) datetime64[s]; an instant that is not a whole second is truncated to the second
    before it.

    Notes
    -----
    Gives exactly what ``cftime.num2date(..., only_use_python_datetimes=True)`` followed by
    a cast to datetime64[s] gives (the decoder used before issue 14, about 300 times
    slower): offsets are scaled to microseconds in extended precision, rounded to the
    nearest microsecond (with cftime's correction of a one-microsecond residue for units of
    seconds and longer) and added to the reference time with numpy integer arithmetic.
    Raises :class:`InputDataError` for bad units or calendars, non-finite values, and
    instants outside years 1-9999.
    """
    try:
        ref, factor = _reference_time(units, calendar)
    except Exception as exc:  # cftime raises several types for bad units/calendars
        raise InputDataError(f"{where}: cannot decode units '{units}' calendar '{calendar}': "
                             f"{exc}") from None
    vals = np.asarray(values).reshape(-1)
    if vals.dtype.kind in "iub":
        lo, hi = (int(vals.min()), int(vals.max())) if vals.size else (0, 0)
        if lo * factor < np.iinfo(np.int64).min or hi * factor > np.iinfo(np.int64).max:
            raise InputDataError(f"{where}: time values outside the range of 64-bit "
                                 f"microseconds (units '{units}')")
        us = vals.astype(np.int64) * factor
    else:
        vals = vals.astype(np.float64)
        if not np.isfinite(vals).all():
            i = int(np.nonzero(~np.isfinite(vals))[0][0])
            raise InputDataError(f"{where}: time value {i} is missing or not finite")
        if vals.size and np.abs(vals).max() >= 2.0 ** 62 / factor:
            raise InputDataError(f"{where}: time values outside the range of 64-bit "
                                 f"microseconds (units '{units}')")
        us = _scaled_microseconds(vals, factor)
    if us.size:
        # bounds checked on the integer offsets, before datetime64 arithmetic could wrap
        lo_us = (_MIN_TIME_US - ref).astype(np.int64)
        hi_us = (_MAX_TIME_US - ref).astype(np.int64)
        out = np.nonzero((us < lo_us) | (us > hi_us))[0]
        if out.size:
            raise InputDataError(f"{where}: time value {vals[out[0]]!r} {units} is outside "
                                 "the years 1-9999")
    return (ref + us.astype("timedelta64[us]")).astype("datetime64[s]")


def times_from_nc(var, where: str, vals: np.ndarray) -> np.ndarray:
    """Decode ``vals`` (numbers in the units and calendar of the netCDF time variable
    ``var``) to datetime64[s] UTC; see :func:`decode_cf_times`. ``where`` names the file
    in error messages."""
    units = getattr(var, "units", None)
    if units is None:
        raise InputDataError(f"{where}: variable 'time' has no units attribute")
    cal = getattr(var, "calendar", "standard")
    return decode_cf_times(vals, str(units), str(cal), where=f"{where}: variable 'time'")


def open_netcdf(path: Path):
    import netCDF4
    if not path.exists():
        raise InputDataError(f"{path}: file not found")
    try:
        return netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise InputDataError(f"{path}: not a readable netCDF file ({exc})") from None


def step_start_times(ds, where: str) -> np.ndarray:
    """The start of each step of a forcing file's ``time`` axis (datetime64[s] UTC): the
    lower bound of its ``bounds`` variable when the file has one, else the time values."""
    tvar = ds.variables["time"]
    bname = getattr(tvar, "bounds", None)
    if bname and bname in ds.variables:
        values = get_whole(ds.variables[bname], None, np.float64)[:, 0]
    else:
        values = get_whole(tvar, None, np.float64)
    return times_from_nc(tvar, where, values)


def read_forcing(path: str | os.PathLike) -> Forcing:
    """Read an hourly CF forcing file (see DESIGN.md 'File formats').

    Humidity may be given as ``vpd`` (Pa) or as ``huss`` (kg kg-1, converted with ``tas``
    and ``ps``); ``tsl_deep`` is optional and, when absent, is the 30-day running mean of
    ``tas``. The time coordinate labels the start of each hour unless ``time_bnds`` says
    otherwise.
    """
    path = Path(path)
    where = str(path)
    with open_netcdf(path) as ds:
        if "time" not in ds.variables:
            raise InputDataError(f"{where}: missing variable 'time'")
        times = step_start_times(ds, where)
        data: dict[str, np.ndarray] = {}
        for name in FORCING_NAMES:
            if name not in ds.variables:
                continue
            var = ds.variables[name]
            vals = get_whole(var, np.nan, np.float64).reshape(-1)
            unit = getattr(var, "units", None)
            if unit is None:
                raise InputDataError(f"{where}: variable '{name}' has no units attribute")
            data[name] = convert_units(vals, unit, FORCING_UNITS[name], f"{where}: variable '{name}'")
        if "vpd" not in data and "huss" in ds.variables:
            if "tas" not in data or "ps" not in data:
                raise InputDataError(f"{where}: 'huss' needs 'tas' and 'ps' to give 'vpd'")
            q = get_whole(ds.variables["huss"], None, np.float64).reshape(-1)
            data["vpd"] = vpd_from_specific_humidity(q, data["tas"], data["ps"])
    if "tsl_deep" not in data and "tas" in data:
        data["tsl_deep"] = running_mean(data["tas"], 24 * 30)
    for name in FORCING_NAMES:
        if name not in data:
            hint = " (or 'huss')" if name == "vpd" else ""
            raise InputDataError(f"{where}: missing variable '{name}'{hint}")
    f = Forcing(times, data, where)
    check_forcing(f, where)
    return f


def saturation_vapour_pressure(tk: np.ndarray) -> np.ndarray:
    """Saturation vapour pressure over water (Pa), Magnus form as in BETHY (T in K)."""
    tc = tk - 273.15
    return 610.78 * np.exp(17.269 * tc / (237.3 + tc))


def vpd_from_specific_humidity(q: np.ndarray, tk: np.ndarray, ps: np.ndarray) -> np.ndarray:
    """Vapour-pressure deficit (Pa) from specific humidity (kg kg-1), T (K) and p (Pa)."""
    e = q * ps / (0.622 + 0.378 * q)
    return np.maximum(saturation_vapour_pressure(tk) - e, 0.0)


def running_mean(x: np.ndarray, n: int) -> np.ndarray:
    """Trailing running mean over n samples (shorter window at the start)."""
    c = np.cumsum(np.insert(np.asarray(x, dtype=float), 0, 0.0))
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - n, 0)
    return (c[idx] - c[lo]) / (idx - lo)


@contextmanager
def atomic_path(path: str | os.PathLike, atomic: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    ``atomic=False`` yields ``path`` itself, for a caller that already writes to a temporary
    name of its own and moves it into place (tccas.workflow.write_outputs)."""
    path = Path(path)
    if not atomic:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def time_var(ds, times: np.ndarray, ref: np.datetime64, step_hours: float,
             write: bool = True) -> list:
    """Define the CF time coordinate ``time`` (hours since ``ref``) with bounds
    ``time_bnds`` (each step and ``step_hours`` after it) in ``ds``. With ``write=False``
    the values are not written but returned as ``[(variable, values), ...]`` for the caller
    to write after its other definitions."""
    ds.createDimension("time", len(times))
    ds.createDimension("nv", 2)
    hours = (times - ref).astype("timedelta64[s]").astype(np.int64) / 3600.0
    tv = ds.createVariable("time", "f8", ("time",))
    tv.units = f"hours since {str(ref.astype('datetime64[s]')).replace('T', ' ')}"
    tv.calendar = "standard"
    tv.standard_name = "time"
    tv.axis = "T"
    tv.bounds = "time_bnds"
    tb = ds.createVariable("time_bnds", "f8", ("time", "nv"))
    bounds = np.empty((len(times), 2))
    bounds[:, 0] = hours
    bounds[:, 1] = hours + step_hours
    pending = [(tv, hours), (tb, bounds)]
    if write:
        for v, val in pending:
            v[:] = val
        return []
    return pending


def write_forcing(path: str | os.PathLike, forcing: Forcing, lat: float, lon: float,
                  attrs: dict | None = None) -> Path:
    """Write hourly forcing as compressed CF-1.8 netCDF."""
    import netCDF4
    from .parameters import FORCING_VARS as fv
    path = Path(path)
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            for k, v in (attrs or {}).items():
                setattr(ds, k, v)
            ref = forcing.times[0].astype("datetime64[D]").astype("datetime64[s]")
            time_var(ds, forcing.times, ref, 1.0)
            for name, val in (("lat", lat), ("lon", lon)):
                v = ds.createVariable(name, "f8", ())
                v.units = "degrees_north" if name == "lat" else "degrees_east"
                v.standard_name = "latitude" if name == "lat" else "longitude"
                v.assignValue(val)
            for name, unit, std in fv:
                var = ds.createVariable(name, "f4", ("time",), zlib=True, complevel=6,
                                        shuffle=True,
                                        significant_digits=_SIGNIFICANT_DIGITS.get(name))
                var.units = unit
                var.standard_name = std
                var.coordinates = "lat lon"
                var.cell_methods = "time: mean"
                var[:] = forcing.data[name].astype(np.float32)
    return path


def read_static(path: str | os.PathLike) -> Static:
    """Read a static site file: lat, lon, pft, pft_fraction, sand, clay, soil_depth."""
    path = Path(path)
    where = str(path)
    with open_netcdf(path) as ds:
        vals = {}
        for name in ("lat", "lon", "pft", "pft_fraction", "sand", "clay", "soil_depth"):
            if name not in ds.variables:
                raise InputDataError(f"{where}: missing variable '{name}'")
            vals[name] = get_whole(ds.variables[name], np.nan, float)
        name = getattr(ds, "site_name", path.stem)
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
    for k in ("lat", "lon", "sand", "clay", "soil_depth"):
        if not np.all(np.isfinite(vals[k])):
            raise InputDataError(f"{where}: variable '{k}' is missing or NaN")
    pft = np.atleast_1d(vals["pft"])
    frac = np.atleast_1d(vals["pft_fraction"])
    if pft.shape != frac.shape:
        raise InputDataError(f"{where}: variables 'pft' and 'pft_fraction' differ in length")
    if not np.all(np.isfinite(pft)) or not np.all(np.isfinite(frac)):
        raise InputDataError(f"{where}: variable 'pft' or 'pft_fraction' has NaN values")
    for c in pft:
        if int(c) not in PFT_NAMES or c != int(c):
            raise InputDataError(f"{where}: variable 'pft': unknown PFT code {c:g} "
                                 "(BETHY codes are 1..13)")
    if len(set(int(c) for c in pft)) != len(pft):
        raise InputDataError(f"{where}: variable 'pft': a PFT code appears twice")
    if np.any(frac <= 0) or np.any(frac > 1):
        raise InputDataError(f"{where}: variable 'pft_fraction': values must be in (0, 1]")
    if abs(frac.sum() - 1.0) > 1e-6:
        raise InputDataError(f"{where}: variable 'pft_fraction' sums to {frac.sum():.6g}, "
                             "not 1")
    if not (-90 <= vals["lat"] <= 90) or not (-180 <= vals["lon"] <= 360):
        raise InputDataError(f"{where}: 'lat'/'lon' out of range")
    for k in ("sand", "clay"):
        if not 0 <= vals[k] <= 1:
            raise InputDataError(f"{where}: variable '{k}' must be a mass fraction in [0, 1]")
    if vals["sand"] + vals["clay"] > 1:
        raise InputDataError(f"{where}: 'sand' + 'clay' exceeds 1")
    if not 0.1 <= vals["soil_depth"] <= 20:
        raise InputDataError(f"{where}: variable 'soil_depth' must be in [0.1, 20] m")
    return Static(float(vals["lat"]), float(vals["lon"]), tuple(int(c) for c in pft),
                  tuple(float(f) for f in frac), float(vals["sand"]), float(vals["clay"]),
                  float(vals["soil_depth"]), name=str(name), source=where, attrs=attrs)


def write_static(path: str | os.PathLike, static: Static, attrs: dict | None = None) -> Path:
    """Write a static site file (CF-1.8)."""
    import netCDF4
    path = Path(path)
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            ds.site_name = static.name
            for k, v in (attrs or {}).items():
                setattr(ds, k, v)
            ds.createDimension("pft", len(static.pft))
            v = ds.createVariable("pft", "i4", ("pft",))
            v.long_name = "BETHY plant functional type code (1-13)"
            v.flag_values = np.arange(1, 14, dtype=np.int32)
            v.flag_meanings = " ".join(PFT_NAMES[i] for i in range(1, 14))
            v[:] = np.array(static.pft, dtype=np.int32)
            v = ds.createVariable("pft_fraction", "f8", ("pft",))
            v.units = "1"
            v.long_name = "fraction of the cell covered by each PFT"
            v[:] = np.array(static.pft_fraction)
            for name, val, unit, long in (
                ("lat", static.lat, "degrees_north", "latitude"),
                ("lon", static.lon, "degrees_east", "longitude"),
                ("sand", static.sand, "1", "sand mass fraction of the soil"),
                ("clay", static.clay, "1", "clay mass fraction of the soil"),
                ("soil_depth", static.soil_depth, "m", "soil depth"),
            ):
                v = ds.createVariable(name, "f8", ())
                v.units = unit
                v.long_name = long
                if name in ("lat", "lon"):
                    v.standard_name = long
                v.assignValue(val)
    return path


# CF standard names of output variables (per-PFT name; the cell value "<name>_cell" gets the
# same). Only names whose CF definition (quantity and sign) matches the variable are given;
# units need only be convertible to the canonical CF units (g m-2 h-1 -> kg m-2 s-1).
OUTPUT_STANDARD_NAMES: dict[str, str] = {
    "gpp": "gross_primary_productivity_of_biomass_expressed_as_carbon",
    "npp": "net_primary_productivity_of_biomass_expressed_as_carbon",
    "ra": "plant_respiration_carbon_flux",
    "rh": "heterotrophic_respiration_carbon_flux",
    "fapar": "fraction_of_surface_downwelling_photosynthetic_radiative_flux_absorbed_by_vegetation",
    "et": "water_evapotranspiration_flux",
    "trans": "transpiration_flux",
    "evap_soil": "water_evaporation_flux_from_soil",
    "evap_int": "water_evaporation_flux_from_canopy",
    "le": "surface_upward_latent_heat_flux",
    "hfss": "surface_upward_sensible_heat_flux",
    "rnet": "surface_net_downward_radiative_flux",
    "rlus": "surface_upwelling_longwave_flux_in_air",
    "tcan": "canopy_temperature",
    "tsoil1": "soil_temperature",
    "tsoil2": "soil_temperature",
    "sm_surf": "volume_fraction_of_condensed_water_in_soil",
    "sm_root": "volume_fraction_of_condensed_water_in_soil",
    "snow": "surface_snow_amount",
    "runoff": "surface_runoff_flux",
    "drainage": "subsurface_runoff_flux",
    "precip": "precipitation_flux",
    "lai": "leaf_area_index",
    "lai_day": "leaf_area_index",
    "c_fol": "leaf_mass_content_of_carbon",
    "c_root": "root_mass_content_of_carbon",
    "c_wood": "wood_mass_content_of_carbon",
    "c_lit": "litter_mass_content_of_carbon",
    "c_som": "soil_mass_content_of_carbon",
}

# Bytes of one (time, pft) variable up to which it is stored as one chunk; longer series are
# chunked by year (8784 hourly or 366 daily steps), so that reading one year or one day
# decompresses at most one year.
_WHOLE_SERIES_BYTES = 4 << 20


def _as_float32(arr) -> np.ndarray:
    """C-contiguous float32 copy of a (nt,) or (nt, ntile) array. A transposed view (tiles
    far apart in memory) is copied column by column: numpy's copy loop then runs along the
    long time axis instead of over the two or three tiles of each step."""
    a = np.asarray(arr)
    if a.ndim == 2 and not a.flags.c_contiguous and a.shape[1] < a.shape[0]:
        out = np.empty(a.shape, dtype=np.float32)
        for j in range(a.shape[1]):
            out[:, j] = a[:, j]
        return out
    return np.ascontiguousarray(a, dtype=np.float32)


def put_whole(var, data: np.ndarray) -> None:
    """``var[:] = data`` for an array of the variable's full shape.

    netCDF4's ``Variable.__setitem__`` first analyses a general index in Python
    (``netCDF4.utils._StartCountStride``, about 0.2 ms a call, a fifth of the time of
    writing the ~190 variables of a run's output). For a whole variable the start, count
    and stride are known, so this hands them to the lower-level ``Variable._put`` that
    ``__setitem__`` itself ends with (the same C call, same type conversion); where a
    netCDF4 version lacks it, or the data need masking, the public path is taken.
    ``tests/test_io.py`` checks the written values against the previous writer's.
    """
    a = np.asarray(data)
    put = getattr(var, "_put", None)
    if put is None or np.ma.isMA(data) or a.shape != var.shape:
        var[:] = data
        return
    nd = a.ndim
    put(np.ascontiguousarray(a, dtype=var.dtype), np.zeros(nd, dtype=np.intp),
        np.array(a.shape, dtype=np.intp), np.ones(nd, dtype=np.intp))


# attributes that make netCDF4 mask or unpack what it reads (get_whole leaves such
# variables to netCDF4's own indexing)
_MASK_SCALE_ATTRIBUTES = frozenset(("_FillValue", "missing_value", "valid_min", "valid_max",
                                    "valid_range", "scale_factor", "add_offset", "_Unsigned"))


def get_whole(var, fill=np.nan, dtype=None) -> np.ndarray:
    """The whole of a netCDF variable as a plain numpy array: what ``var[:]`` reads, with
    the values netCDF4 would mask replaced by ``fill``.

    ``get_whole(var, np.nan, float)`` is ``np.ma.filled(np.ma.asarray(var[:], dtype=float),
    np.nan)``, and ``fill=None`` gives the raw values, ``np.asarray(var[:], dtype)``.

    netCDF4's ``Variable.__getitem__`` analyses a general index in Python and builds a
    masked array (``Variable._toma``, about 0.1 ms even when nothing is masked), which is
    most of the time of reading the small variables of an observation file. For a numeric
    variable without ``_FillValue``, ``missing_value``, ``valid_*``, ``scale_factor``,
    ``add_offset`` or ``_Unsigned`` attributes, the only values netCDF4 masks are those
    equal to the library's default fill value of the type; this reads the variable through
    the lower-level ``Variable._get`` that ``__getitem__`` ends with (as :func:`put_whole`
    writes) and replaces those values itself. Every other variable (attributes above,
    scalars, empty, byte or string types, a netCDF4 without ``_get``) takes the public
    path. ``tests/test_io.py`` checks both against ``var[:]``.

    Parameters
    ----------
    var : netCDF4.Variable
    fill : value for masked elements (NaN for floats; e.g. -1 for a quality flag), or
        None for the raw values.
    dtype : type of the result (default: the variable's).
    """
    import netCDF4
    get = getattr(var, "_get", None)
    shape = var.shape
    dt = var.dtype
    fast = (get is not None and isinstance(dt, np.dtype) and dt.kind in "fiu"
            and len(shape) > 0 and 0 not in shape
            and (dt.itemsize > 1 or not var.mask)
            and _MASK_SCALE_ATTRIBUTES.isdisjoint(var.ncattrs()))
    if not fast:
        data = var[:]
        if fill is None:
            return np.asarray(data, dtype=dtype)
        return np.ma.filled(np.ma.asarray(data, dtype=dtype), fill)
    nd = len(shape)
    data = get(np.zeros(nd, dtype=np.intp), np.array(shape, dtype=np.intp),
               np.ones(nd, dtype=np.intp))
    mask = None
    if fill is not None and var.mask:
        default = netCDF4.default_fillvals.get(dt.str[1:])
        if default is not None:
            hit = data == np.array(default, dt)
            if hit.any():
                mask = hit
    if dtype is not None:
        data = data.astype(dtype, copy=False)
    if mask is not None:
        data = np.array(data, copy=True)
        data[mask] = fill
    return data


def map_chunks(nt: int, space: tuple[int, ...], itemsize: int = 4,
               target_bytes: int = 1 << 20, max_tile: int = 128,
               max_steps: int = 366) -> tuple[int, ...]:
    """Chunk shape of a compressed gridded variable ``(time, *space)`` for its two typical
    reads, the map of one step and the time series of one cell.

    The spatial part is the whole grid up to ``max_tile`` points along each axis (tiles of
    ``max_tile`` beyond), and the time part as many steps as fill about ``target_bytes``
    (at most ``max_steps``, e.g. a year of days). A map of one day then decompresses one
    chunk per spatial tile, and a single cell's series one chunk per ``steps`` steps: for
    the 432-cell Lapland-size grid, one chunk per year (about 0.6 MB); for a 1000 x 1000
    grid, 64 tiles of 16 days.

    Parameters
    ----------
    nt : number of time steps; space : the spatial dimension sizes (e.g. (nlat, nlon) or
        (ncell,)); itemsize : bytes per value.
    """
    tile = tuple(max(1, min(int(n), max_tile if len(space) > 1 else max_tile * max_tile))
                 for n in space)
    per_step = itemsize * int(np.prod(tile)) if tile else itemsize
    steps = max(1, min(int(nt), int(max_steps), target_bytes // max(per_step, 1)))
    return (steps,) + tile


def _chunk_steps(nt: int, step_hours: float, npft: int) -> int:
    if nt * max(npft, 1) * 4 <= _WHOLE_SERIES_BYTES:
        return max(nt, 1)
    return max(1, min(nt, int(round(8784.0 / step_hours))))


class OpenFile:
    """A netCDF file being written in two steps (:class:`TableFile`,
    :class:`tccas.obs.ObsFile`): ``path`` and the open dataset; :meth:`close` closes it,
    complete or not (the caller deletes an incomplete file)."""

    path: Path
    _ds = None

    def close(self) -> None:
        """Close the file (incomplete unless its ``fill`` wrote it)."""
        if self._ds is not None and self._ds.isopen():
            self._ds.close()
        self._ds = None


class TableFile(OpenFile):
    """A file of :func:`write_table_nc` in two steps: everything but the data of the
    (time, pft) and (time,) variables is defined and written when it is created, the data
    afterwards with :meth:`fill` (which closes it).

    ``tccas.run`` creates the output files while the core runs (netCDF-C then creates
    the HDF5 objects of the ~190 variables, most of the cost of writing them) and fills
    them when the run ends. The file at ``path`` is written in place: the caller holds it
    under a temporary name and moves it when complete; :meth:`close` without
    :meth:`fill` leaves an incomplete file for the caller to delete.

    Parameters
    ----------
    path, times, step_hours, pfts, fractions, lat, lon, attrs, complevel : as
        :func:`write_table_nc`.
    variables : dict
        name -> (unit, long name[, extra attributes]) of the variables on time and PFT.
    cell_variables : dict
        The same for the variables on time only (cell values).
    """

    def __init__(self, path: str | os.PathLike, times: np.ndarray, step_hours: float,
                 pfts: tuple[int, ...], fractions: tuple[float, ...],
                 variables: dict[str, tuple], cell_variables: dict[str, tuple],
                 lat: float, lon: float, attrs: dict | None = None,
                 complevel: int | None = 4):
        import netCDF4
        self.path = Path(path)
        nt, npft = len(times), len(pfts)
        self.shapes = {"pft": (nt, npft), "cell": (nt,)}
        if complevel is None:
            storage: dict = {"contiguous": True}
            cstorage: dict = {"contiguous": True}
        else:
            ct = _chunk_steps(nt, step_hours, npft)
            storage = {"zlib": True, "complevel": int(complevel), "shuffle": True,
                       "chunksizes": (ct, max(npft, 1))}
            cstorage = {"zlib": True, "complevel": int(complevel), "shuffle": True,
                        "chunksizes": (ct,)}
        self._ds = ds = netCDF4.Dataset(self.path, "w", format="NETCDF4")
        try:
            ds.set_fill_off()     # every value is written
            ds.Conventions = "CF-1.8"
            for k, v in (attrs or {}).items():
                setattr(ds, k, v)
            # all definitions first, then all data: netCDF-C writes the metadata of every
            # variable defined so far at the first write after a definition, so
            # interleaving the two costs time quadratic in the number of variables
            ref = times[0].astype("datetime64[D]").astype("datetime64[s]")
            pending = time_var(ds, times, ref, step_hours, write=False)
            ds.createDimension("pft", npft)
            v = ds.createVariable("pft", "i4", ("pft",))
            v.long_name = "BETHY plant functional type code"
            v.flag_values = np.arange(1, 14, dtype=np.int32)
            v.flag_meanings = " ".join(PFT_NAMES[i] for i in range(1, 14))
            pending.append((v, np.array(pfts, dtype=np.int32)))
            v = ds.createVariable("pft_fraction", "f8", ("pft",))
            v.units = "1"
            v.long_name = "fraction of the cell covered by each PFT"
            pending.append((v, np.array(fractions, dtype=np.float64)))
            scalars = []
            for name, val in (("lat", lat), ("lon", lon)):
                v = ds.createVariable(name, "f8", ())
                v.units = "degrees_north" if name == "lat" else "degrees_east"
                v.standard_name = "latitude" if name == "lat" else "longitude"
                scalars.append((v, val))
            self._vars: dict[str, tuple] = {}
            for group, specs, dims, where_long, kw in (
                    ("pft", variables, ("time", "pft"), "{} per unit PFT area", storage),
                    ("cell", cell_variables, ("time",), "{}, cover-weighted cell value",
                     cstorage)):
                for name, spec in specs.items():
                    unit, long = spec[:2]
                    v = ds.createVariable(name, "f4", dims, **kw)
                    att = {"units": unit, "long_name": where_long.format(long),
                           "coordinates": "lat lon"}
                    std = OUTPUT_STANDARD_NAMES.get(name[:-5] if name.endswith("_cell")
                                                    else name)
                    if std is not None:
                        att["standard_name"] = std
                    if len(spec) > 2:
                        att.update(spec[2])
                    v.setncatts(att)
                    self._vars[name] = (group, v)
            for v, val in scalars:
                put_whole(v, np.float64(val))
            for v, arr in pending:
                put_whole(v, arr)
            ds.sync()             # netCDF-C creates the HDF5 datasets now
        except BaseException:
            ds.close()
            raise

    def fill(self, variables: dict, cell_variables: dict) -> Path:
        """Write the data (name -> array, or name -> (array, ...) as
        :func:`write_table_nc` takes them) of every variable defined, and close the file."""
        try:
            data = {**variables, **cell_variables}
            if set(data) != set(self._vars):
                raise ValueError(f"{self.path}: variables {sorted(set(data) ^ set(self._vars))} "
                                 "were not defined or are not given")
            for name, (group, v) in self._vars.items():
                arr = data[name]
                arr = arr[0] if isinstance(arr, tuple) else arr
                if np.shape(arr) != self.shapes[group]:
                    raise ValueError(f"{self.path}: variable '{name}' has shape "
                                     f"{np.shape(arr)}, expected {self.shapes[group]}")
            for name, (group, v) in self._vars.items():
                arr = data[name]
                put_whole(v, _as_float32(arr[0] if isinstance(arr, tuple) else arr))
        finally:
            self.close()
        return self.path


def write_table_nc(path: str | os.PathLike, times: np.ndarray, step_hours: float,
                   pfts: tuple[int, ...], fractions: tuple[float, ...],
                   variables: dict[str, tuple],
                   cell_variables: dict[str, tuple],
                   lat: float, lon: float, attrs: dict | None = None,
                   complevel: int | None = 4, atomic: bool = True) -> Path:
    """Write model output on (time, pft) plus cover-weighted cell values on (time,).

    Parameters
    ----------
    path : target file; written atomically (complete or not at all) unless ``atomic`` is
        False (the caller's own temporary name).
    times : (nt,) datetime64 start of each step (UTC); step_hours : step length (h).
    pfts, fractions : PFT codes of the tiles and their cover fractions (1).
    variables : dict
        name -> (array (nt, npft), unit, long name[, extra attributes]); stored as float32
        exactly (no quantisation).
    cell_variables : dict
        name -> (array (nt,), unit, long name[, extra attributes]).
    lat, lon : site location (degrees north / east).
    attrs : global attributes.
    complevel : zlib level (with the shuffle filter), or None to store the values
        uncompressed and contiguous (the fastest to write and to read; see docs/io.md).

    Returns
    -------
    The path written.

    Notes
    -----
    A variable of ``OUTPUT_STANDARD_NAMES`` gets its CF ``standard_name``; extra attributes
    (e.g. ``cell_methods``) come with the variable. Compressed variables are chunked along
    time only (all tiles in one chunk): whole series up to 4 MB, one year per chunk beyond,
    sized for the typical read of a single-cell file, the time series of one variable.
    :class:`TableFile` writes the same file in two steps.
    """
    path = Path(path)
    nt, npft = len(times), len(pfts)
    for specs, shape in ((variables, (nt, npft)), (cell_variables, (nt,))):
        for name, spec in specs.items():
            if np.shape(spec[0]) != shape:
                raise ValueError(f"{path}: variable '{name}' has shape {np.shape(spec[0])}, "
                                 f"expected {shape}")
    with atomic_path(path, atomic) as tmp:
        table = TableFile(tmp, times, step_hours, pfts, fractions,
                          {k: v[1:] for k, v in variables.items()},
                          {k: v[1:] for k, v in cell_variables.items()},
                          lat, lon, attrs, complevel)
        table.fill(variables, cell_variables)
    return path
