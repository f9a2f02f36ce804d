"""SMOS-IC daily files (INRAE-CESBIO, version 2) to ``ObservationSet`` streams ``sm``/``vod``.

:func:`read_smos_ic` reads SMOS-IC (SMOS-INRA-CESBIO; Fernandez-Moran et al. 2017, Remote Sens.
9, 457, doi:10.3390/rs9050457; Wigneron et al. 2021, RSE 254, 112238) daily files, one per day
and overpass, distributed by CATDS (https://data.catds.fr/cecsm/Land_products/
L3_SMOS_IC_Soil_Moisture/), and returns the value of the 25 km EASE-2 cell that contains a site:
surface soil moisture (stream ``sm``, m3 m-3) or L-band vegetation optical depth (stream
``vod``, dimensionless).

Not confirmed on a real file: no SMOS-IC image was at hand; the reader is tested on files
written to the layout documented below (tests/test_readers_satellite.py). The SMOS Level 2
product, read from real files, is :func:`tccas.readers.smos_l2.read_smos_l2`.

Product layout used (netCDF, no groups; every name is a module constant below)
-----------------------------------------------------------------------------
File names ``SM_RExx_MIR_CDF3SA_YYYYMMDDT000000_YYYYMMDDT235959_vvv_ccc_c.DBL.nc`` (``CDF3SA``
ascending, 06:00 local solar time; ``CDF3SD`` descending, 18:00), e.g.
``SM_RE06_MIR_CDF3SA_20180101T000000_20180101T235959_105_001_8.DBL.nc`` (v1) and
``SM_RE07_MIR_CDF3SA_20150701T000000_20150701T235959_200_001_B.DBL.nc`` (v2).
Global EASE-2 25 km grid, 584 rows x 1388 columns, coordinate vectors ``lat`` (rows) and
``lon`` (columns), degrees; the TU Wien reader flips the stored rows to put north up, i.e. they
are stored south to north (the reader accepts either order). Fields on (lat, lon), each with
``_FillValue``, ``long_name`` and ``units``:

``Soil_Moisture`` (m3/m3), ``Soil_Moisture_StdError`` (m3/m3), ``Optical_Thickness_Nad``
(L-VOD at nadir, dimensionless), ``Optical_Thickness_Nad_StdError``, ``RMSE`` (RMSE between
measured and modelled TB, K), ``Quality_Flag`` (0 data OK, 1 data not recommended, 2 missing
data), ``Scene_Flags``, ``Processing_Flags``, ``Soil_Temperature_Level1`` (ECMWF soil
temperature level 1, K), ``Days`` (number of days since 2000-01-01), ``UTC_Seconds`` (s),
``UTC_Microseconds`` (us): the per-pixel UTC acquisition time is
2000-01-01 + Days + UTC_Seconds + UTC_Microseconds.

Evidence:

- TU Wien ``smos`` package (github.com/TUW-GEO/smos): ``src/smos/smos_ic/interface_ic.py``
  (file template ``SM_RE06_MIR_CDF3S*_{date}T000000_{date}T235959_105_*_8.DBL.nc``, 2-D
  fields read as (584, 1388) images flipped north-up, ``_FillValue``/``long_name``/``units``
  attributes, Quality_Flag 0/1/2), ``docs/varnames.rst`` = https://smos.readthedocs.io/en/
  latest/varnames.html (variable list, long names and units above),
  ``tests/test_ICimg_reading.py`` (image shape, lat/lon vectors), ``src/smos/grid.py``
  (EASE-2 25 km grid).
- KU Leuven processing script for SMOS-IC v2 (code search, ``reformat_SMOS_IC``): reads
  ``Optical_Thickness_Nad``, ``Optical_Thickness_Nad_StdError``, ``Soil_Moisture``,
  ``Soil_Moisture_StdError``, ``RMSE``, ``Scene_Flags`` with 1-D ``lat``/``lon`` from
  ``v2/ASC/**/SM_RE06_*.nc``; an R script reads v2 ``SM_RE07_..._CDF3SA/CDF3SD_..._200_001_B``
  files from separate ASC/DES folders with 1-D ``lat``/``lon``.

Not confirmed by the sources: the numeric ``_FillValue`` (taken from each variable's attribute
through netCDF4 masking; NaN and |x| >= 1e30 are also missing), the bit meanings of
``Scene_Flags`` (so no bit is rejected by default; ``reject_scene_flags`` is a mask the caller
may set), and the existence of ``Optical_Thickness_Nad_StdError`` in every version (optional).

Choices
-------
- Cell: the one whose edges contain the site. Edges lie half-way between neighbouring centres
  of the file's own ``lon`` vector and, for rows, half-way in sin(latitude) (exact for the
  cylindrical equal-area EASE-2 projection on a sphere), so the chosen centre is the nearest
  one in projected coordinates, within half a cell (12.5 km) in x and y. A site outside the
  file's grid gives no observation from that file.
- Filters: value not missing (fill); ``Quality_Flag`` in ``quality_flags`` (default (0,),
  "data OK"); ``RMSE <= rmse_max`` (default 8 K); ``Scene_Flags & reject_scene_flags == 0``
  (default mask 0); optionally ``Soil_Temperature_Level1 >= min_soil_temperature`` (K; off by
  default, 273.15 K removes frozen-soil retrievals); for ``sm`` also 0 <= value <= 1 m3 m-3.
- sigma: ``sm``: max(Soil_Moisture_StdError, sigma_floor), floor 0.04 m3 m-3 by default
  (the floor alone where the error is missing for the pixel).
  ``vod``: max(Optical_Thickness_Nad_StdError, sigma_floor), floor 0.02; where that variable
  is absent or missing for the pixel, 0.1 * value + 0.02 (then floored).
- Time: the pixel's UTC acquisition time (Days + UTC_Seconds + UTC_Microseconds). Where the
  file lacks those variables or they are missing for the pixel, the nominal overpass: 06:00
  (ascending) or 18:00 (descending) local mean solar time on the file's date (from the file
  name), converted to UTC with the site longitude (solar time = UTC + lon / 15 h; the equation
  of time, at most 16 min, is ignored). Window = the model hour containing that time,
  [floor to the UTC hour, + 1 h).
- qc = 0 for every kept value; angle 0 (SMOS-IC values are multi-angular retrievals); the
  footprint row is the caller's ``footprint`` dict.
- Nothing over the site passes: an empty ``ObservationSet`` is returned (warning logged).

SMOS Level 2 (``MIR_SMUDP2``, ISEA 4H9 grid) is read by :mod:`tccas.readers.smos_l2`.
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputDataError
from ..obs import ObservationSet
from .troposif import (FILL_FLOOR, as_paths, check_site, describe_sources, footprint_row,
                       get_var, hour_window, norm_units, open_dataset, wrap_lon)

log = logging.getLogger(__name__)

# ---- product layout (see the module docstring for the evidence) ----------------------------
VAR_LAT = "lat"                                     # degrees_north, row centres
VAR_LON = "lon"                                     # degrees_east, column centres
VAR_SM = "Soil_Moisture"                            # m3 m-3
VAR_SM_ERROR = "Soil_Moisture_StdError"             # m3 m-3
VAR_VOD = "Optical_Thickness_Nad"                   # 1
VAR_VOD_ERROR = "Optical_Thickness_Nad_StdError"    # 1
VAR_RMSE = "RMSE"                                   # K
VAR_QUALITY = "Quality_Flag"                        # 0 OK, 1 not recommended, 2 missing
VAR_SCENE_FLAGS = "Scene_Flags"
VAR_SOIL_TEMPERATURE = "Soil_Temperature_Level1"    # K
VAR_DAYS = "Days"                                   # days since TIME_EPOCH
VAR_SECONDS = "UTC_Seconds"                         # s of the day
VAR_MICROSECONDS = "UTC_Microseconds"               # us
TIME_EPOCH = np.datetime64("2000-01-01T00:00:00", "ms")
FILENAME_OVERPASS = re.compile(r"CDF3S([AD])_")
FILENAME_DATE = re.compile(r"_(\d{8})T\d{6}_")
OVERPASS_SOLAR_HOUR = {"A": 6.0, "D": 18.0}   # local mean solar time of the equator crossing
SM_UNITS = frozenset({"m3/m3", "m3m-3", "m3.m-3", "m3m**-3", "m**3/m**3", "m3/m-3"})
VOD_UNITS = frozenset({"", "-", "1", "none", "dimensionless", "unitless"})
STREAMS = {"sm": (VAR_SM, VAR_SM_ERROR, SM_UNITS, "m3 m-3"),
           "vod": (VAR_VOD, VAR_VOD_ERROR, VOD_UNITS, "1")}
# ---- reader defaults -----------------------------------------------------------------------
DEFAULT_RMSE_MAX = 8.0                # K
DEFAULT_QUALITY_FLAGS = (0,)
DEFAULT_SIGMA_FLOOR = {"sm": 0.04, "vod": 0.02}   # m3 m-3, 1
VOD_SIGMA_REL, VOD_SIGMA_ABS = 0.1, 0.02          # VOD sigma without an error value
SM_RANGE = (0.0, 1.0)                             # m3 m-3


def read_smos_ic(paths: str | os.PathLike | Iterable[str | os.PathLike], lat: float,
                 lon: float, footprint: Mapping[int, float], *, stream: str,
                 rmse_max: float | None = DEFAULT_RMSE_MAX,
                 quality_flags: Sequence[int] | None = DEFAULT_QUALITY_FLAGS,
                 reject_scene_flags: int = 0, min_soil_temperature: float | None = None,
                 sigma_floor: float | None = None, overpass: str | None = None
                 ) -> ObservationSet:
    """Read SMOS-IC daily files and return soil moisture or L-VOD of the site's cell.

    Parameters
    ----------
    paths : path or iterable of paths
        SMOS-IC files (one per day and overpass; ascending and descending may be mixed; any
        order, the result is sorted by time).
    lat, lon : float
        Site latitude (degrees_north) and longitude (degrees_east, -180..360).
    footprint : dict[int, float]
        PFT cover fractions (BETHY codes 1..13 -> fraction, sum <= 1) in the 25 km cell.
    stream : {"sm", "vod"}
        ``sm``: Soil_Moisture (m3 m-3); ``vod``: Optical_Thickness_Nad (dimensionless).
    rmse_max : float or None, default 8.0
        K. Largest accepted TB RMSE; None disables the test (RMSE then not required).
    quality_flags : sequence of int or None, default (0,)
        Accepted Quality_Flag values; None disables the test.
    reject_scene_flags : int, default 0
        Bit mask; values with ``Scene_Flags & reject_scene_flags != 0`` are dropped.
    min_soil_temperature : float or None, default None
        K. If given, values with Soil_Temperature_Level1 below it are dropped.
    sigma_floor : float or None
        Lower bound of sigma in the stream's unit; default 0.04 m3 m-3 (sm), 0.02 (vod).
    overpass : {"A", "D"} or None
        Orbit direction for files whose name does not carry ``CDF3SA``/``CDF3SD``; only used
        when the nominal overpass time is needed (no per-pixel UTC time).

    Returns
    -------
    ObservationSet
        Stream ``sm`` or ``vod``, one value per file at most, qc 0, window [t, t + 1 h) with
        t the acquisition time floored to the UTC hour, angle 0. Empty when nothing passes.

    Raises
    ------
    InputDataError
        A file is missing or unreadable, lacks a needed variable (named with the file), has
        unexpected units or shapes, or its acquisition date/overpass cannot be determined when
        the nominal time is needed.
    ConfigError
        Invalid stream, site, footprint or threshold arguments.
    """
    if stream not in STREAMS:
        raise ConfigError(f"stream must be 'sm' or 'vod', got {stream!r}")
    files = as_paths(paths)
    lat, lon = check_site(lat, lon)
    pft, row = footprint_row(footprint)
    floor = DEFAULT_SIGMA_FLOOR[stream] if sigma_floor is None else sigma_floor
    if not (floor > 0 and math.isfinite(floor)):
        raise ConfigError(f"sigma_floor must be > 0, got {sigma_floor}")
    if rmse_max is not None and not rmse_max > 0:
        raise ConfigError(f"rmse_max must be > 0 K or None, got {rmse_max}")
    if quality_flags is not None:
        quality_flags = tuple(int(q) for q in quality_flags)
        if not quality_flags:
            raise ConfigError("quality_flags must list the accepted Quality_Flag values "
                              "(e.g. (0,)) or be None")
    if min_soil_temperature is not None and not (0.0 < min_soil_temperature < 400.0):
        raise ConfigError(f"min_soil_temperature must be in K (0..400) or None, got "
                          f"{min_soil_temperature}")
    if not isinstance(reject_scene_flags, (int, np.integer)) or reject_scene_flags < 0:
        raise ConfigError(f"reject_scene_flags must be a non-negative integer bit mask, got "
                          f"{reject_scene_flags!r}")
    if overpass is not None:
        overpass = str(overpass).strip().upper()[:1]
        if overpass not in OVERPASS_SOLAR_HOUR:
            raise ConfigError(f"overpass must be 'A' (ascending) or 'D' (descending), got "
                              f"{overpass!r}")

    opts = dict(stream=stream, rmse_max=rmse_max, quality_flags=quality_flags,
                reject_scene_flags=int(reject_scene_flags),
                min_soil_temperature=min_soil_temperature, floor=floor, overpass=overpass)
    counts = {"n_outside_grid": 0, "n_missing": 0, "n_quality": 0, "n_rmse": 0,
              "n_scene_flags": 0, "n_frozen": 0, "n_out_of_range": 0, "n_nominal_time": 0}
    times, values, sigmas, cells = [], [], [], set()
    for f in files:
        rec = _read_file(f, lat, lon, opts, counts)
        if rec is not None:
            t, v, s, cell = rec
            times.append(t)
            values.append(v)
            sigmas.append(s)
            cells.add(cell)
    t = np.array(times, dtype="datetime64[ms]")
    value, sigma = np.array(values, dtype=float), np.array(sigmas, dtype=float)
    order = np.argsort(t, kind="stable")
    t, value, sigma = t[order], value[order], sigma[order]
    t0, t1 = hour_window(t)
    n = t.size
    source = describe_sources(files)
    if n == 0:
        log.warning("%s: no SMOS-IC %s value for the site (%.4f N, %.4f E) passed the filters; "
                    "returning an empty observation set", source, stream, lat, lon)
    attrs = {
        "product": "SMOS-IC (SMOS-INRA-CESBIO) daily, EASE-2 25 km",
        "variable": STREAMS[stream][0],
        "source_files": ", ".join(f.name for f in files),
        "site_lat": lat, "site_lon": lon,
        "cell_centre": "; ".join(f"{a:.4f} N {b:.4f} E" for a, b in sorted(cells)),
        "quality_filter": (f"Quality_Flag in {list(quality_flags) if quality_flags else 'any'}"
                           f", RMSE <= {rmse_max if rmse_max is not None else 'any'} K, "
                           f"Scene_Flags & {int(reject_scene_flags)} == 0"
                           + (f", Soil_Temperature_Level1 >= {min_soil_temperature:g} K"
                              if min_soil_temperature is not None else "")),
        "sigma_floor": floor,
        "time_window": ("pixel UTC time (nominal 06/18 h local solar overpass where absent) "
                        "floored to the UTC hour, [t, t + 1 h)"),
        "qc_meaning": "0 = value passed the reader's filters",
        **{k: int(v) for k, v in counts.items()},
    }
    obs = ObservationSet(stream, t0, t1, value, sigma, np.zeros(n, dtype=int), pft,
                         np.tile(row, (n, 1)), np.zeros(n), source, attrs)
    obs.validate()
    return obs


def cell_index(centres: np.ndarray, x: float, *, sine: bool = False,
               periodic: bool = False) -> int | None:
    """Index of the cell of 1-D ``centres`` whose edges contain ``x``, or None.

    Edges are half-way between neighbouring centres (in sin(degrees) when ``sine``), the outer
    edges half a spacing beyond the end centres. ``periodic``: x is also tried +-360 degrees.
    """
    c = np.asarray(centres, dtype=float)
    order = np.argsort(c)
    cs = np.sin(np.radians(c[order])) if sine else c[order]
    mid = 0.5 * (cs[1:] + cs[:-1])
    lo = np.concatenate(([cs[0] - (cs[1] - cs[0]) / 2], mid))
    hi = np.concatenate((mid, [cs[-1] + (cs[-1] - cs[-2]) / 2]))
    trials = (x, x + 360.0, x - 360.0) if periodic else (x,)
    for xt in trials:
        v = math.sin(math.radians(xt)) if sine else xt
        k = np.nonzero((lo <= v) & (v < hi))[0]
        if k.size:
            return int(order[k[0]])
    return None


def _read_file(path: Path, lat: float, lon: float, opts: dict, counts: dict
               ) -> tuple[np.datetime64, float, float, tuple[float, float]] | None:
    """(time, value, sigma, cell centre) of the site's cell in one file, or None."""
    where = str(path)
    stream = opts["stream"]
    vname, ename, units_ok, unit = STREAMS[stream]
    with open_dataset(path) as ds:
        v_lat = get_var(ds, VAR_LAT, where)
        v_lon = get_var(ds, VAR_LON, where)
        v_val = get_var(ds, vname, where)
        v_err = get_var(ds, ename, where, required=(stream == "sm"))
        v_rmse = get_var(ds, VAR_RMSE, where) if opts["rmse_max"] is not None else None
        v_qf = get_var(ds, VAR_QUALITY, where) if opts["quality_flags"] is not None else None
        v_sf = get_var(ds, VAR_SCENE_FLAGS, where) if opts["reject_scene_flags"] else None
        v_st = (get_var(ds, VAR_SOIL_TEMPERATURE, where)
                if opts["min_soil_temperature"] is not None else None)
        v_days = get_var(ds, VAR_DAYS, where, required=False)
        v_sec = get_var(ds, VAR_SECONDS, where, required=False)
        v_us = get_var(ds, VAR_MICROSECONDS, where, required=False)
        for v, name in ((v_val, vname), (v_err, ename)):
            units = getattr(v, "units", None) if v is not None else None
            if units is not None and norm_units(units) not in units_ok:
                raise InputDataError(f"{where}: variable '{name}' has units '{units}', "
                                     f"expected '{unit}'")
        for v, name in ((v_lat, VAR_LAT), (v_lon, VAR_LON)):
            if v.ndim != 1 or v.shape[0] < 2:
                raise InputDataError(f"{where}: variable '{name}' has shape {v.shape}, "
                                     "expected a coordinate vector of at least 2 centres")
        lat_dim, lon_dim = v_lat.dimensions[0], v_lon.dimensions[0]
        lats = np.ma.filled(np.ma.asarray(v_lat[:]).astype(float), np.nan)
        lons = np.ma.filled(np.ma.asarray(v_lon[:]).astype(float), np.nan)
        if not (np.isfinite(lats).all() and np.isfinite(lons).all()):
            raise InputDataError(f"{where}: variables '{VAR_LAT}'/'{VAR_LON}' have missing "
                                 "values")
        i = cell_index(lats, lat, sine=True)
        j = cell_index(wrap_lon(lons), lon, periodic=True)
        if i is None or j is None:
            counts["n_outside_grid"] += 1
            return None
        cell = (float(lats[i]), float(wrap_lon(lons[j])))

        def pixel(v, name):
            return _pixel(v, name, i, j, lat_dim, lon_dim, where)

        value = pixel(v_val, vname)
        if not np.isfinite(value):
            counts["n_missing"] += 1
            return None
        if v_qf is not None:
            q = pixel(v_qf, VAR_QUALITY)
            if not (np.isfinite(q) and int(q) in opts["quality_flags"]):
                counts["n_quality"] += 1
                return None
        if v_rmse is not None:
            r = pixel(v_rmse, VAR_RMSE)
            if not (np.isfinite(r) and r <= opts["rmse_max"]):
                counts["n_rmse"] += 1
                return None
        if v_sf is not None:
            sf = pixel(v_sf, VAR_SCENE_FLAGS)
            if not np.isfinite(sf) or int(sf) & opts["reject_scene_flags"]:
                counts["n_scene_flags"] += 1
                return None
        if v_st is not None:
            st = pixel(v_st, VAR_SOIL_TEMPERATURE)
            if not (np.isfinite(st) and st >= opts["min_soil_temperature"]):
                counts["n_frozen"] += 1
                return None
        if stream == "sm" and not (SM_RANGE[0] <= value <= SM_RANGE[1]):
            counts["n_out_of_range"] += 1
            return None
        err = pixel(v_err, ename) if v_err is not None else np.nan
        if stream == "vod" and not (np.isfinite(err) and err >= 0):
            err = VOD_SIGMA_REL * abs(value) + VOD_SIGMA_ABS
        elif not (np.isfinite(err) and err >= 0):
            err = 0.0                      # sm: the floor alone
        sigma = max(float(err), opts["floor"])

        t = None
        if v_days is not None and v_sec is not None:
            days, secs = pixel(v_days, VAR_DAYS), pixel(v_sec, VAR_SECONDS)
            us = pixel(v_us, VAR_MICROSECONDS) if v_us is not None else 0.0
            if np.isfinite(days) and np.isfinite(secs):
                us = us if np.isfinite(us) else 0.0
                ms = round(days * 86400e3 + secs * 1e3 + us * 1e-3)
                t = TIME_EPOCH + np.timedelta64(int(ms), "ms")
    if t is None:
        t = _nominal_time(path, lon, opts["overpass"])
        counts["n_nominal_time"] += 1
    return t, float(value), sigma, cell


def _pixel(v, name: str, i: int, j: int, lat_dim: str, lon_dim: str, where: str) -> float:
    """Value of 2-D field ``v`` at row i, column j as float (NaN when missing)."""
    dims = v.dimensions
    if len(dims) < 2 or dims[-2:] != (lat_dim, lon_dim) \
            or any(n != 1 for n in v.shape[:-2]):
        raise InputDataError(f"{where}: variable '{name}' has dimensions {dims} "
                             f"{v.shape}, expected ({lat_dim}, {lon_dim})")
    x = np.ma.asarray(v[(0,) * (len(dims) - 2) + (i, j)])
    if np.ma.getmaskarray(x).any():
        return float("nan")
    val = float(np.asarray(x, dtype=float).ravel()[0])
    return val if math.isfinite(val) and abs(val) < FILL_FLOOR else float("nan")


def _nominal_time(path: Path, lon: float, overpass: str | None) -> np.datetime64:
    """UTC time of the nominal overpass (06/18 h local mean solar time) on the file's date."""
    where = str(path)
    m = FILENAME_OVERPASS.search(path.name)
    direction = m.group(1) if m else overpass
    if direction is None:
        raise InputDataError(f"{where}: the file has no per-pixel UTC time ('{VAR_DAYS}', "
                             f"'{VAR_SECONDS}') and its name has no 'CDF3SA'/'CDF3SD' orbit "
                             "direction; pass overpass='A' or 'D'")
    d = FILENAME_DATE.search(path.name)
    if d is None:
        raise InputDataError(f"{where}: the file has no per-pixel UTC time ('{VAR_DAYS}', "
                             f"'{VAR_SECONDS}') and its name carries no date (_YYYYMMDDThhmmss_)")
    s = d.group(1)
    try:
        day = np.datetime64(f"{s[:4]}-{s[4:6]}-{s[6:]}T00:00:00", "ms")
    except ValueError:
        raise InputDataError(f"{where}: invalid date '{s}' in the file name") from None
    hours = OVERPASS_SOLAR_HOUR[direction] - lon / 15.0
    return day + np.timedelta64(int(round(hours * 3600e3)), "ms")
