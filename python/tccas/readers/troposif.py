"""TROPOSIF level-2B daily SIF files (TROPOMI, ESA/S5P-PAL) to an ``ObservationSet``.

:func:`read_troposif` reads the daily ``TROPOSIF_L2B_YYYY-MM-DD.nc`` files of the TROPOSIF
product (Guanter et al. 2021, ESSD 13, 5423-5440, doi:10.5194/essd-13-5423-2021; ESA dataset
doi:10.5270/esa-s5p_innovation-sif-20180501_20210320-v2.1-202104; continued by ESA's S5P-PAL
service as collection ``L2B_SIF___``) and returns the soundings whose ground pixel contains a
site, as stream ``sif`` in mW m-2 sr-1 nm-1.

Not confirmed on a real file: no TROPOSIF granule (about 400 MB each) was at hand; the reader
is tested on files written to the layout documented below from the sources it names
(tests/test_readers_satellite.py).

Product layout used (netCDF-4, groups; every name is a module constant below)
-----------------------------------------------------------------------------
Dimensions ``n_elem`` (soundings) and ``ncorner`` (= 4, pixel corners). L2B files hold only
valid retrievals ("L2B data: daily files, only valid retrievals", s5p-troposif.noveltis.fr
data-access page); there is no per-sounding quality flag, the producer's filters survive only
as attributes of ``/METADATA/ALGORITHM_SETTINGS`` ("Cloud fraction threshold" 0.8, "SZA
threshold" 70, "VZA threshold" 60).

``/PRODUCT``
    ``time`` (one value, "seconds since 2010-01-01 00:00:00", the day's reference);
    ``delta_time`` (n_elem) int32, "milliseconds since <day> 00:00:00" (UTC; the file spans
    midnight, so values above 24 h occur); ``latitude``, ``longitude`` (n_elem) pixel centres,
    degrees; ``SIF_743``, ``SIF_Corr_743`` (daylength-corrected daily average, not used),
    ``SIF_ERROR_743`` (n_elem) float32, mW m-2 sr-1 nm-1 (SIF at 740 nm from the 743-758 nm
    fitting window, the baseline product; its 1-sigma retrieval error).
``/PRODUCT/SUPPORT_DATA/GEOLOCATIONS``
    ``latitude_bounds``, ``longitude_bounds`` (n_elem, ncorner) pixel corners, degrees;
    ``solar_zenith_angle``, ``viewing_zenith_angle``, ``phase_angle``.
``/PRODUCT/SUPPORT_DATA/INPUT_DATA``
    ``cloud_fraction_L2`` (n_elem), dimensionless 0-1; ``LC_MASK`` (land cover, not used).

Evidence:

- STCorp CODA definition of S5P_PAL ``L2__SIF___`` (built from the TROPOSIF Product User
  Manual NOV-FE-0956-MU-019 issue 3, 2022-09-26):
  https://stcorp.github.io/codadef-documentation/S5P_PAL/products/L2__SIF___.html (groups
  ``METADATA/ALGORITHM_SETTINGS`` with "Cloud fraction threshold", "SZA threshold").
- HARP ingestion S5P_PAL_L2_SIF (github.com/stcorp/harp, libharp/harp-ingest-s5p_l2.c and
  https://stcorp.github.io/harp/doc/html/ingestions/S5P_PAL_L2_SIF.html): reads ``SIF_743``
  and ``SIF_ERROR_743`` from ``/PRODUCT`` in mW/m2/sr/nm, pixel corners as
  latitude_bounds/longitude_bounds (time, 4).
- Gridding configuration for the ESA L2B files (github.com/BackwoodsBoomtree/gridding,
  README.md and jsonFiles/tropomi_esa_sif.json, file pattern ``TROPOSIF_L2B_YYYY-MM-DD``):
  ``PRODUCT/latitude``, ``PRODUCT/longitude``,
  ``PRODUCT/SUPPORT_DATA/GEOLOCATIONS/latitude_bounds``/``longitude_bounds``,
  ``PRODUCT/SIF_743``, ``PRODUCT/SIF_ERROR_743``,
  ``PRODUCT/SUPPORT_DATA/INPUT_DATA/cloud_fraction_L2``.
- A public adapter that opened a real S5P-PAL L2B granule (2023-07-01) with netCDF4 (found
  with the code search; repository not named by the index): dimension ``n_elem``, ``ncorner``,
  ``/PRODUCT/time`` "seconds since 2010-01-01 00:00:00", ``/PRODUCT/delta_time`` int32
  "milliseconds since <day>T00:00:00", and float channels that carry the netCDF default fill
  9.969e36 WITHOUT a declared ``_FillValue`` (seen on SIF_735).

Not confirmed by the sources: the exact ``units`` strings of SIF_743/SIF_ERROR_743 (HARP
labels them mW/m2/sr/nm; the reader accepts the usual spellings, :data:`SIF_UNITS`, or no
attribute) and whether any variable is packed (the reader unpacks CF ``scale_factor`` /
``add_offset`` and masks a declared ``_FillValue`` through netCDF4, and treats any float of
magnitude >= :data:`FILL_FLOOR` as missing).

Choices
-------
- Footprint test: the site must lie inside the sounding's corner quadrilateral (even-odd rule
  in a local tangent plane at the site, so pixels across the dateline work). Soundings without
  finite corners (or files without the corner variables) fall back to: pixel centre within
  ``max_distance_km`` of the site (great-circle distance).
- Quality: L2B soundings are already valid; with ``qa_filter`` the reader also requires
  ``cloud_fraction_L2 <= max_cloud_fraction`` (default 0.2, stricter than the producer's 0.8,
  as commonly used for TROPOSIF analyses) and finite SIF and SIF error.
- Time window: the sounding instant (``delta_time``) floored to the UTC hour, window
  [hour, hour + 1 h), i.e. the model's hourly step that contains the overpass.
- value = ``SIF_743`` (instantaneous, matching the model's hourly SIF at 743 nm);
  sigma = max(``SIF_ERROR_743``, ``sigma_floor``); qc = 0 for every kept sounding; angle 0;
  the footprint row (PFT cover fractions in the sensor footprint) is the caller's
  ``footprint`` dict, the same for all soundings.
- No sounding over the site: an empty ``ObservationSet`` is returned (and a warning logged),
  so a campaign of many daily files can be read without special-casing cloudy periods.
"""
from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputDataError
from ..io import open_netcdf
from ..obs import ObservationSet
from ..parameters import PFT_NAMES

log = logging.getLogger(__name__)

# ---- product layout (see the module docstring for the evidence) ----------------------------
PRODUCT_GROUP = "PRODUCT"
GEOLOCATIONS_GROUP = "PRODUCT/SUPPORT_DATA/GEOLOCATIONS"
INPUT_DATA_GROUP = "PRODUCT/SUPPORT_DATA/INPUT_DATA"
VAR_LAT = "latitude"                     # PRODUCT, degrees_north, pixel centre
VAR_LON = "longitude"                    # PRODUCT, degrees_east, pixel centre
VAR_TIME = "time"                        # PRODUCT, reference time of the file
VAR_DELTA_TIME = "delta_time"            # PRODUCT, per sounding, "milliseconds since <day>"
VAR_SIF = "SIF_743"                      # PRODUCT, mW m-2 sr-1 nm-1
VAR_SIF_ERROR = "SIF_ERROR_743"          # PRODUCT, mW m-2 sr-1 nm-1, 1-sigma
VAR_LAT_BOUNDS = "latitude_bounds"       # GEOLOCATIONS, (n_elem, 4)
VAR_LON_BOUNDS = "longitude_bounds"      # GEOLOCATIONS, (n_elem, 4)
VAR_CLOUD_FRACTION = "cloud_fraction_L2"  # INPUT_DATA, 0-1
# Spellings of the SIF radiance unit accepted in the variables' ``units`` attribute (compared
# after removing blanks and '^', case-insensitive); 1 W m-2 sr-1 um-1 = 1 mW m-2 sr-1 nm-1.
SIF_UNITS = frozenset({"mw/m2/sr/nm", "mwm-2sr-1nm-1", "mw.m-2.sr-1.nm-1", "mw/(m2srnm)",
                       "mw/m2/nm/sr", "w/m2/sr/um", "wm-2sr-1um-1", "w/m2/sr/µm",
                       "wm-2sr-1µm-1"})
FILL_FLOOR = 1.0e30        # |x| >= this is the (undeclared) netCDF default float fill
# ---- reader defaults -----------------------------------------------------------------------
DEFAULT_MAX_DISTANCE_KM = 3.5    # km, centre-distance fallback: half the 7 km along-track size
DEFAULT_MAX_CLOUD_FRACTION = 0.2  # 1
DEFAULT_SIGMA_FLOOR = 0.1        # mW m-2 sr-1 nm-1
PREFILTER_KM = 50.0              # km, soundings farther than this are never looked at
EARTH_RADIUS_KM = 6371.0088      # mean Earth radius (IUGG)
HOUR = np.timedelta64(3600, "s")

_DURATION_MS = {"ms": 1.0, "msec": 1.0, "millisecond": 1.0, "milliseconds": 1.0,
                "s": 1.0e3, "sec": 1.0e3, "second": 1.0e3, "seconds": 1.0e3}


def read_troposif(paths: str | os.PathLike | Iterable[str | os.PathLike], lat: float,
                  lon: float, footprint: Mapping[int, float], *,
                  max_distance_km: float = DEFAULT_MAX_DISTANCE_KM, qa_filter: bool = True,
                  max_cloud_fraction: float = DEFAULT_MAX_CLOUD_FRACTION,
                  sigma_floor: float = DEFAULT_SIGMA_FLOOR) -> ObservationSet:
    """Read TROPOSIF L2B daily files and return the SIF soundings over a site.

    Parameters
    ----------
    paths : path or iterable of paths
        One ``TROPOSIF_L2B_YYYY-MM-DD.nc`` file or several (any order; the result is sorted by
        time).
    lat, lon : float
        Site latitude (degrees_north, -90..90) and longitude (degrees_east, -180..360).
    footprint : dict[int, float]
        PFT cover fractions (BETHY codes 1..13 -> fraction 0..1, summing to <= 1) inside the
        TROPOMI ground pixel, used for every sounding.
    max_distance_km : float, default 3.5
        km. Only for soundings without pixel corners: the largest great-circle distance from
        the pixel centre to the site.
    qa_filter : bool, default True
        Apply the cloud filter ``cloud_fraction_L2 <= max_cloud_fraction`` (the variable is
        then required). Soundings without a finite SIF or SIF error are always dropped.
    max_cloud_fraction : float, default 0.2
        Largest accepted ``cloud_fraction_L2`` (dimensionless, 0..1).
    sigma_floor : float, default 0.1
        mW m-2 sr-1 nm-1. Lower bound of sigma: sigma = max(SIF_ERROR_743, sigma_floor).

    Returns
    -------
    ObservationSet
        Stream ``sif``: value SIF_743 (mW m-2 sr-1 nm-1), sigma, qc 0, window [t, t + 1 h)
        with t the sounding time floored to the UTC hour, the footprint row repeated, angle 0.
        Empty (length 0) when no sounding passes; a warning is logged then.

    Raises
    ------
    InputDataError
        A file is missing or not readable netCDF, lacks a group or variable (the message names
        the file and the group/variable), has inconsistent shapes, unexpected SIF units or
        undecodable times.
    ConfigError
        Invalid site, footprint or threshold arguments.
    """
    files = as_paths(paths)
    lat, lon = check_site(lat, lon)
    pft, row = footprint_row(footprint)
    if not (max_distance_km > 0 and math.isfinite(max_distance_km)):
        raise ConfigError(f"max_distance_km must be a positive number of km, got "
                          f"{max_distance_km}")
    if not (0.0 <= max_cloud_fraction <= 1.0):
        raise ConfigError(f"max_cloud_fraction must be in [0, 1], got {max_cloud_fraction}")
    if not (sigma_floor > 0 and math.isfinite(sigma_floor)):
        raise ConfigError(f"sigma_floor must be > 0 (mW m-2 sr-1 nm-1), got {sigma_floor}")

    counts = {"n_near": 0, "n_outside_pixel": 0, "n_cloudy": 0, "n_invalid": 0}
    parts = [_read_file(f, lat, lon, max_distance_km, qa_filter, max_cloud_fraction,
                        sigma_floor, counts) for f in files]
    t = np.concatenate([p[0] for p in parts]).astype("datetime64[ms]")
    value = np.concatenate([p[1] for p in parts])
    sigma = np.concatenate([p[2] for p in parts])
    order = np.argsort(t, kind="stable")
    t, value, sigma = t[order], value[order], sigma[order]
    t0, t1 = hour_window(t)
    n = t.size
    source = describe_sources(files)
    if n == 0:
        log.warning("%s: no TROPOSIF sounding over the site (%.4f N, %.4f E) passed the "
                    "filters; returning an empty observation set", source, lat, lon)
    attrs = {
        "product": "TROPOSIF L2B (TROPOMI SIF, 743-758 nm window)",
        "source_files": ", ".join(f.name for f in files),
        "site_lat": lat, "site_lon": lon,
        "selection": ("site inside the pixel corner polygon; centre within "
                      f"{max_distance_km:g} km where no corners"),
        "quality_filter": (f"{VAR_CLOUD_FRACTION} <= {max_cloud_fraction:g}" if qa_filter
                           else "none (L2B soundings are valid retrievals)"),
        "sigma_floor": sigma_floor,
        "time_window": "sounding time floored to the UTC hour, [t, t + 1 h)",
        "qc_meaning": "0 = sounding passed the reader's filters (L2B has no quality flag)",
        **{k: int(v) for k, v in counts.items()},
    }
    obs = ObservationSet("sif", t0, t1, value, sigma, np.zeros(n, dtype=int), pft,
                         np.tile(row, (n, 1)), np.zeros(n), source, attrs)
    obs.validate()
    return obs


# ---- helpers shared with tccas.readers.smos --------------------------------------------------

def as_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """One path or an iterable of paths as a non-empty list of ``Path``."""
    if isinstance(paths, (str, os.PathLike)):
        files = [Path(paths)]
    else:
        try:
            files = [Path(p) for p in paths]
        except TypeError:
            raise ConfigError(f"paths must be a path or a list of paths, got {paths!r}") \
                from None
    if not files:
        raise ConfigError("paths: no file given")
    return files


def check_site(lat: float, lon: float) -> tuple[float, float]:
    """Validated site coordinates; longitude wrapped to [-180, 180)."""
    try:
        lat, lon = float(lat), float(lon)
    except (TypeError, ValueError):
        raise ConfigError(f"site lat={lat!r}, lon={lon!r} are not numbers") from None
    if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 360.0):
        raise ConfigError(f"site lat={lat} or lon={lon} out of range (lat -90..90, "
                          "lon -180..360)")
    return lat, wrap_lon(lon)


def wrap_lon(lon):
    """Longitude(s) in degrees wrapped to [-180, 180) (a float for a scalar argument)."""
    out = (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0
    return float(out) if out.ndim == 0 else out


def footprint_row(footprint: Mapping[int, float]) -> tuple[tuple[int, ...], np.ndarray]:
    """PFT codes (sorted) and the matching fractions of a ``{pft_code: fraction}`` dict."""
    if not isinstance(footprint, Mapping) or not footprint:
        raise ConfigError("footprint must be a non-empty dict {BETHY PFT code: fraction of "
                          f"the sensor footprint}}, got {footprint!r}")
    codes, fracs = [], []
    for code, frac in sorted(footprint.items()):
        if isinstance(code, bool) or not isinstance(code, (int, np.integer)) \
                or int(code) not in PFT_NAMES:
            raise ConfigError(f"footprint: key {code!r} is not a BETHY PFT code 1..13")
        try:
            f = float(frac)
        except (TypeError, ValueError):
            raise ConfigError(f"footprint: fraction {frac!r} of PFT {code} is not a number") \
                from None
        if not (0.0 <= f <= 1.0):
            raise ConfigError(f"footprint: fraction {f} of PFT {code} is not in [0, 1]")
        codes.append(int(code))
        fracs.append(f)
    total = sum(fracs)
    if total <= 0.0 or total > 1.0 + 1e-6:
        raise ConfigError(f"footprint: fractions sum to {total:g}; they must sum to a value "
                          "in (0, 1]")
    return tuple(codes), np.array(fracs, dtype=float)


def hour_window(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[floor to the UTC hour, + 1 h) of datetime64 times, as datetime64[s]."""
    t0 = np.asarray(t).astype("datetime64[h]").astype("datetime64[s]")
    return t0, t0 + HOUR


def time_sorted_records(times: list, values: list, sigmas: list
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The records a reader kept, file by file (lists of arrays or of scalars), joined and
    sorted by time (stable): times (datetime64[ms]), values, sigmas, and the hour window
    of each record (:func:`hour_window`)."""
    def join(parts, dtype):
        if not parts:
            return np.array([], dtype=dtype)
        if np.ndim(parts[0]) == 0:
            return np.array(parts, dtype=dtype)
        return np.concatenate(parts).astype(dtype, copy=False)

    t = join(times, "datetime64[ms]")
    value, sigma = join(values, float), join(sigmas, float)
    order = np.argsort(t, kind="stable")
    t, value, sigma = t[order], value[order], sigma[order]
    return (t, value, sigma) + hour_window(t)


def describe_sources(files: list[Path]) -> str:
    """A short description of the files for messages and ``ObservationSet.source``."""
    if len(files) <= 3:
        return ", ".join(str(f) for f in files)
    return f"{files[0]} and {len(files) - 1} more files"


def open_dataset(path: Path):
    """The netCDF file opened for reading; InputDataError naming the file if impossible."""
    return open_netcdf(path)


def get_group(ds, name: str, where: str, required: bool = True):
    """The (nested, '/'-separated) group ``name`` of ``ds``; None or an error if absent."""
    g = ds
    for part in name.split("/"):
        if part not in g.groups:
            if not required:
                return None
            raise InputDataError(f"{where}: missing group '/{name}'")
        g = g.groups[part]
    return g


def get_var(group, name: str, where: str, gname: str = "", required: bool = True):
    """Variable ``name`` of ``group``; None or InputDataError naming file and variable."""
    if name in group.variables:
        return group.variables[name]
    if not required:
        return None
    path = f"/{gname}/{name}" if gname else f"'{name}'"
    raise InputDataError(f"{where}: missing variable {path}")


def as_float(data) -> np.ndarray:
    """float64 copy of (masked) netCDF data; masked and default-fill values become NaN."""
    arr = np.ma.filled(np.ma.asarray(data).astype(np.float64), np.nan)
    arr = np.asarray(arr, dtype=np.float64)
    arr[~np.isfinite(arr) | (np.abs(arr) >= FILL_FLOOR)] = np.nan
    return arr


def norm_units(units: str) -> str:
    return re.sub(r"[\s^]", "", str(units)).lower()


def decode_cf_time(var, values: np.ndarray, where: str, vname: str) -> np.ndarray:
    """CF 'unit since epoch' numbers of ``var`` as datetime64[ms] (UTC)."""
    import netCDF4
    units = getattr(var, "units", None)
    if units is None:
        raise InputDataError(f"{where}: variable {vname} has no units attribute")
    calendar = getattr(var, "calendar", "standard")
    if values.size == 0:
        return np.array([], dtype="datetime64[ms]")
    try:
        dates = netCDF4.num2date(values, units, calendar=calendar,
                                 only_use_cftime_datetimes=False,
                                 only_use_python_datetimes=True)
    except Exception as exc:  # cftime raises several types for bad units/calendars
        raise InputDataError(f"{where}: variable {vname}: cannot decode units '{units}' "
                             f"(calendar '{calendar}'): {exc}") from None
    return np.array([np.datetime64(d.replace(tzinfo=None), "ms")
                     for d in np.atleast_1d(dates)], dtype="datetime64[ms]")


def haversine_km(lat0: float, lon0: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle distance in km from (lat0, lon0) to each (lat, lon) (degrees)."""
    p0, p = np.radians(lat0), np.radians(lat)
    dphi, dlam = p - p0, np.radians(lon - lon0)
    a = np.sin(dphi / 2) ** 2 + np.cos(p0) * np.cos(p) * np.sin(dlam / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def point_in_polygons(lat0: float, lon0: float, lat_b: np.ndarray, lon_b: np.ndarray
                      ) -> np.ndarray:
    """Whether (lat0, lon0) lies inside each polygon given by corner rows (k, ncorner).

    Even-odd rule in a local tangent plane at the point (x east, y north, degrees scaled by
    cos(lat0) in x), corners in their stored order. Rows with a non-finite corner give False.
    """
    x = wrap_lon(lon_b - lon0) * math.cos(math.radians(lat0))
    y = lat_b - lat0
    xn, yn = np.roll(x, -1, axis=1), np.roll(y, -1, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        crosses = (y > 0) != (yn > 0)
        x_at = x + (0.0 - y) * (xn - x) / (yn - y)
        hits = crosses & (x_at > 0)
    inside = (np.count_nonzero(hits, axis=1) % 2) == 1
    return inside & np.isfinite(x).all(axis=1) & np.isfinite(y).all(axis=1)


# ---- one file --------------------------------------------------------------------------------

def _read_file(path: Path, lat: float, lon: float, max_distance_km: float, qa_filter: bool,
               max_cloud_fraction: float, sigma_floor: float, counts: dict
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sounding times datetime64[ms], SIF, sigma) of the kept soundings of one file."""
    where = str(path)
    empty = (np.array([], dtype="datetime64[ms]"), np.array([]), np.array([]))
    with open_dataset(path) as ds:
        prod = get_group(ds, PRODUCT_GROUP, where)
        v_lat = get_var(prod, VAR_LAT, where, PRODUCT_GROUP)
        v_lon = get_var(prod, VAR_LON, where, PRODUCT_GROUP)
        v_sif = get_var(prod, VAR_SIF, where, PRODUCT_GROUP)
        v_err = get_var(prod, VAR_SIF_ERROR, where, PRODUCT_GROUP)
        v_dt = get_var(prod, VAR_DELTA_TIME, where, PRODUCT_GROUP)
        for v, name in ((v_sif, VAR_SIF), (v_err, VAR_SIF_ERROR)):
            units = getattr(v, "units", None)
            if units is not None and norm_units(units) not in SIF_UNITS:
                raise InputDataError(f"{where}: variable /{PRODUCT_GROUP}/{name} has units "
                                     f"'{units}', expected mW m-2 sr-1 nm-1")
        v_cf = None
        if qa_filter:
            inp = get_group(ds, INPUT_DATA_GROUP, where)
            v_cf = get_var(inp, VAR_CLOUD_FRACTION, where, INPUT_DATA_GROUP)
        geo = get_group(ds, GEOLOCATIONS_GROUP, where, required=False)
        v_latb = v_lonb = None
        if geo is not None:
            v_latb = get_var(geo, VAR_LAT_BOUNDS, where, required=False)
            v_lonb = get_var(geo, VAR_LON_BOUNDS, where, required=False)
            if (v_latb is None) != (v_lonb is None):
                missing = VAR_LAT_BOUNDS if v_latb is None else VAR_LON_BOUNDS
                raise InputDataError(f"{where}: missing variable /{GEOLOCATIONS_GROUP}/"
                                     f"{missing} (the other corner variable is present)")

        if v_lat.ndim != 1:
            raise InputDataError(f"{where}: variable /{PRODUCT_GROUP}/{VAR_LAT} has shape "
                                 f"{v_lat.shape}, expected one dimension (n_elem)")
        clat = as_float(v_lat[:])
        n = clat.size
        for v, name, grp in ((v_lon, VAR_LON, PRODUCT_GROUP), (v_sif, VAR_SIF, PRODUCT_GROUP),
                             (v_err, VAR_SIF_ERROR, PRODUCT_GROUP),
                             (v_dt, VAR_DELTA_TIME, PRODUCT_GROUP),
                             (v_cf, VAR_CLOUD_FRACTION, INPUT_DATA_GROUP)):
            if v is not None and (v.ndim != 1 or v.shape[0] != n):
                raise InputDataError(f"{where}: variable /{grp}/{name} has shape {v.shape}, "
                                     f"expected ({n},) like /{PRODUCT_GROUP}/{VAR_LAT}")
        for v, name in ((v_latb, VAR_LAT_BOUNDS), (v_lonb, VAR_LON_BOUNDS)):
            if v is not None and (v.ndim != 2 or v.shape[0] != n or v.shape[1] < 3):
                raise InputDataError(f"{where}: variable /{GEOLOCATIONS_GROUP}/{name} has "
                                     f"shape {v.shape}, expected ({n}, ncorner)")

        clon = as_float(v_lon[:])
        dist = haversine_km(lat, lon, clat, wrap_lon(clon))
        near = np.nonzero(np.isfinite(dist) & (dist <= PREFILTER_KM))[0]
        counts["n_near"] += int(near.size)
        if near.size == 0:
            return empty
        if v_latb is not None:
            latb = as_float(v_latb[near, :])
            lonb = as_float(v_lonb[near, :])
            has_corners = np.isfinite(latb).all(axis=1) & np.isfinite(lonb).all(axis=1)
            inside = np.where(has_corners, point_in_polygons(lat, lon, latb, lonb),
                              dist[near] <= max_distance_km)
        else:
            inside = dist[near] <= max_distance_km
        counts["n_outside_pixel"] += int(np.count_nonzero(~inside))
        idx = near[inside]
        if idx.size == 0:
            return empty

        sif = as_float(v_sif[idx])
        err = as_float(v_err[idx])
        ok = np.isfinite(sif) & np.isfinite(err) & (err >= 0)
        counts["n_invalid"] += int(np.count_nonzero(~ok))
        if qa_filter:
            cf = as_float(v_cf[idx])
            clear = np.isfinite(cf) & (cf <= max_cloud_fraction)
            counts["n_cloudy"] += int(np.count_nonzero(ok & ~clear))
            ok &= clear
        idx, sif, err = idx[ok], sif[ok], err[ok]
        if idx.size == 0:
            return empty
        times = _sounding_times(prod, v_dt, idx, where)
    bad = np.isnat(times)
    if bad.any():
        raise InputDataError(f"{where}: variable /{PRODUCT_GROUP}/{VAR_DELTA_TIME} is missing "
                             f"(fill value) for {int(bad.sum())} sounding(s) over the site")
    return times, sif, np.maximum(err, sigma_floor)


def _sounding_times(prod, v_dt, idx: np.ndarray, where: str) -> np.ndarray:
    """UTC times (datetime64[ms]) of soundings ``idx`` from ``delta_time``.

    ``delta_time`` with CF units 'X since epoch' is decoded directly; with a bare duration unit
    (milliseconds, seconds) it is added to the file's reference ``time``.
    """
    vname = f"/{PRODUCT_GROUP}/{VAR_DELTA_TIME}"
    raw = np.ma.asarray(v_dt[idx]).astype(np.float64)
    out = np.full(idx.size, np.datetime64("NaT"), dtype="datetime64[ms]")
    good = ~np.ma.getmaskarray(raw)
    vals = np.ma.filled(raw, np.nan)
    good &= np.isfinite(vals) & (np.abs(vals) < FILL_FLOOR)
    units = str(getattr(v_dt, "units", ""))
    if " since " in f" {units.lower()} ":
        out[good] = decode_cf_time(v_dt, vals[good], where, vname)
        return out
    factor = _DURATION_MS.get(units.strip().lower())
    if factor is None:
        raise InputDataError(f"{where}: variable {vname} has units '{units}': expected "
                             "'milliseconds since <date>' or a duration unit relative to "
                             f"/{PRODUCT_GROUP}/{VAR_TIME}")
    v_time = get_var(prod, VAR_TIME, where, PRODUCT_GROUP)
    tref = np.ma.filled(np.ma.asarray(v_time[:]).astype(np.float64).ravel(), np.nan)
    if tref.size == 0 or not np.isfinite(tref[0]):
        raise InputDataError(f"{where}: variable /{PRODUCT_GROUP}/{VAR_TIME} has no valid "
                             "reference time")
    ref = decode_cf_time(v_time, tref[:1], where, f"/{PRODUCT_GROUP}/{VAR_TIME}")[0]
    out[good] = ref + np.round(vals[good] * factor).astype(np.int64).astype("timedelta64[ms]")
    return out
