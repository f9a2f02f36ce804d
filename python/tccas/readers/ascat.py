"""EUMETSAT ASCAT Level 2 soil moisture swath files (25 km, netCDF) to arrays of records.

:func:`read_ascat_l2` reads the EUMETSAT ASCAT Level 2 Surface Soil Moisture product on the
25 km swath grid (``W_XX-EUMETSAT-Darmstadt,SURFACE+SATELLITE,METOP<A|B|C>+ASCAT_C_EUMP_
<start>_<orbit>_eps_o_250_ssm_l2.nc``; product ``ASCAT-L2-SSM-25``, EUMETSAT data store
collection SOMO25) and returns its records as an :class:`AscatL2Swath`: UTC time,
latitude, longitude, the backscatter at 40 degrees incidence (``sigma40``, dB) and its slope
(``slope40``, dB per degree), their errors, the soil moisture index and its error, the
sensitivity and dry/wet references, and the quality flags.

Confirmed on a real file (Metop-A orbit 53652, 2017-02-20; a cut-out is in
tests/data/satellite; the tests compare the reader with that file read through netCDF4):
dimensions ``numRows`` (swath lines, 1632 per orbit) x ``numCells`` (42 nodes, 21 per side);
``utc_line_nodes`` (int32, seconds since 2000-01-01, one per line), ``as_des_pass`` (0
ascending, 1 descending), ``latitude``/``longitude`` (int32 x 1e-6 degrees, longitude
0-360), ``sigma40``, ``sigma40_error``, ``slope40``, ``slope40_error``, ``dry_backscatter``,
``wet_backscatter``, ``soil_moisture_sensitivity`` (int32/uint32 x 1e-6 dB; fill
-2147483648), ``soil_moisture``, ``soil_moisture_error``, ``mean_soil_moisture`` (uint16 x
0.01 percent of saturation, no ``_FillValue``: 65535 marks no value), the flags
``corr_flags``, ``proc_flag1``, ``proc_flag2`` (bit fields whose meaning is in their
``definition`` attribute), ``aggregated_quality_flag``,
``snow_cover_probability``, ``frozen_soil_probability``, ``wetland_flag``,
``topography_flag``, ``rainfall_flag`` (uint8 percent, 255 = not set; ``rainfall_flag`` is
255 everywhere in the real file). Note: ``slope40`` and its error carry ``units = "dB"``
although the slope is in dB per degree.

The ``valid_min``/``valid_max`` attributes of the real file are not usable, and the reader
ignores them: ``sigma40`` declares ``valid_min`` = -10 dB although 77 % of its values in the
real orbit lie below (median -11.9 dB; netCDF4's default masking hides them all), and
several unsigned variables store ``valid_max`` as an overflowed signed integer
(``mean_soil_moisture`` -31072 for 34464, ``sat_track_azi`` -29536 for 36000). The reader
reads the stored integers and treats as missing the declared ``_FillValue`` or
``missing_value`` and the netCDF default fill of the type (65535 for uint16, 4294967295 for
uint32, 255 for uint8), which is how the product marks nodes without a value.

No observation set for soil moisture: ASCAT's soil moisture is a relative index, the
position of sigma40 between the driest and wettest backscatter seen at that place, in percent
of saturation (Wagner et al. 1999, Remote Sens. Environ. 70, 191-207). Turning it into the
volumetric water content the model's ``sm`` stream holds needs the porosity (and residual
water content) of the soil, which the case files do not carry, so the conversion is not
well defined here. The backscatter itself is simulated by the core (streams ``sigma40``
and ``slope``, docs/science/ascat.md): :func:`read_ascat_obs` turns the records of these
files into those observation sets.

H SAF / TU Wien products (:func:`read_hsaf_ascat`)
--------------------------------------------------
The H SAF ASCAT surface soil moisture products of the TU Wien retrieval (TUW SMR; Wagner et
al. 1999, Naeimi et al. 2009, Hahn et al. 2017) in netCDF carry, per record, the backscatter
normalised to 40 deg, its slope and its curvature (the coefficients of the second-order
Taylor polynomial in incidence angle that the retrieval fits, kernel-smoothed over years).
The layout implemented, from the public TU Wien ``ascat`` package (its product definitions
for H121, H129, H122) and the H SAF CDR cell files of the ``ascat-test-data`` repository:

- one sample dimension ``obs``; the record's position either per record (swath files of
  H121 / H129 / H122: ``latitude``, ``longitude`` and ``location_id`` on ``obs``), or per
  location (cell time-series files, CF discrete-sampling geometry: ``lat``/``lon`` or
  ``latitude``/``longitude`` and ``location_id`` on ``locations``, with ``row_size``
  (contiguous ragged array) or ``locationIndex`` (indexed ragged array) on ``obs``);
- ``time`` on ``obs`` with CF units (``days since 1900-01-01`` in the CDR cell files);
- ``backscatter40`` (H121, H129) or ``sigma40`` (H122, TU Wien WARP), dB; ``slope40``,
  dB deg-1; ``curvature40``, dB deg-2; their noise, where given, ``sigma40_noise`` /
  ``backscatter40_noise``, ``slope40_noise``, ``curvature40_noise``;
- optional ``surface_soil_moisture`` (or ``sm``), ``as_des_pass`` (or ``dir``; 0 ascending,
  1 descending), ``sat_id``, and the probabilities / fractions (percent)
  ``snow_cover_probability``, ``frozen_soil_probability``, ``wetland_fraction``,
  ``topographic_complexity``; CF ``scale_factor``, ``add_offset``, ``_FillValue`` and
  ``missing_value`` are applied.

Confirmed on real files: the ragged-array cell layout (``locations``, ``obs``,
``row_size``, ``lat``/``lon``, ``location_id``, ``time`` in days since 1900-01-01), read
from the H SAF CDR files H109 / H111 of the ``ascat-test-data`` repository; those CDR
versions carry soil moisture only, and the reader refuses them with a message naming the
missing ``sigma40``. Not confirmed: a real H121 / H129 / H122 file (none was available
here); the variable names above come from the ``ascat`` package's product definitions, and
their units and packing from nothing: the reader takes the units the file declares when
they are dB / dB deg-1, refuses others and applies the CF packing attributes it finds.

From records to observations (:func:`read_ascat_obs`)
-----------------------------------------------------
For each file the records within ``radius_km`` (default 15 km: a 12.5 km grid's nodes
around the site) of the site are screened (value missing; frozen soil or snow probability
above ``max_frozen`` / ``max_snow`` percent, default 30; wetland fraction above
``max_wetland``, default 15 %; value outside the plausible range of
:data:`tccas.obs.ASCAT_VALID_RANGE`) and the nearest remaining location is kept (one record
per overpass in a swath file). sigma = max(product noise, floor): 0.3 dB for ``sigma40``
and 0.01 dB deg-1 for ``slope`` by default (the noise of a single ASCAT triplet at 25 km is
about 0.1-0.2 dB; the floor adds the representativeness of a 25 km footprint for a site).
Window [hour, hour + 1 h) of the record's UTC time; angle 40 deg.
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._progress import progress as _progress_bar
from ..errors import ConfigError, InputDataError
from ..obs import ASCAT_REFERENCE_ANGLE, ASCAT_VALID_RANGE, ObservationSet
from ._common import Tally, great_circle_km
from .troposif import as_paths, check_site, describe_sources, footprint_row, hour_window, \
    open_dataset, time_sorted_records

log = logging.getLogger(__name__)

__all__ = ["AscatL2Swath", "AscatRecords", "DEFAULT_SIGMA_FLOOR", "read_ascat_l2",
           "read_ascat_obs", "read_hsaf_ascat"]

#: floors of sigma per stream (dB; dB deg-1), see the module notes
DEFAULT_SIGMA_FLOOR = {"sigma40": 0.3, "slope": 0.01}

TIME_EPOCH = np.datetime64("2000-01-01T00:00:00", "ms")
ROW_VARS = ("utc_line_nodes", "as_des_pass")
CELL_VARS = {   # name in the file -> attribute of AscatL2Swath
    "latitude": "lat", "longitude": "lon",
    "sigma40": "sigma40", "sigma40_error": "sigma40_error",
    "slope40": "slope40", "slope40_error": "slope40_error",
    "soil_moisture": "soil_moisture", "soil_moisture_error": "soil_moisture_error",
    "soil_moisture_sensitivity": "soil_moisture_sensitivity",
    "dry_backscatter": "dry_backscatter", "wet_backscatter": "wet_backscatter",
    "mean_soil_moisture": "mean_soil_moisture",
}
FLAG_VARS = ("corr_flags", "proc_flag1", "proc_flag2", "aggregated_quality_flag",
             "snow_cover_probability", "frozen_soil_probability", "wetland_flag",
             "topography_flag", "rainfall_flag")
REQUIRED = ("utc_line_nodes", "latitude", "longitude", "sigma40", "sigma40_error", "slope40",
            "slope40_error", "soil_moisture", "soil_moisture_error")


@dataclass(frozen=True)
class AscatL2Swath:
    """Records of one ASCAT L2 SSM swath file (one per kept swath node, flattened).

    Attributes
    ----------
    path : the file.
    row, cell : index of the node in (numRows, numCells).
    time : datetime64[ms] UTC time of the node's line (``utc_line_nodes``).
    lat, lon : degrees north / east (-180..180).
    sigma40, sigma40_error : backscatter at 40 degrees incidence and its error, dB.
    slope40, slope40_error : slope of backscatter vs incidence at 40 degrees and its error,
        dB per degree.
    soil_moisture, soil_moisture_error, mean_soil_moisture : surface soil moisture index,
        its error and its mean, percent of saturation (0-100).
    soil_moisture_sensitivity, dry_backscatter, wet_backscatter : dB.
    descending : True for a descending pass (``as_des_pass`` = 1).
    flags : ``corr_flags``, ``proc_flag1``, ``proc_flag2`` (bit fields),
        ``aggregated_quality_flag``, ``snow_cover_probability``, ``frozen_soil_probability``,
        ``wetland_flag``, ``topography_flag``, ``rainfall_flag`` (percent) as int arrays,
        -1 where the product has no value.
    attrs : global attributes naming the platform, orbit and sensing time.

    Floats are NaN where the product has no value.
    """

    path: Path
    row: np.ndarray
    cell: np.ndarray
    time: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    sigma40: np.ndarray
    sigma40_error: np.ndarray
    slope40: np.ndarray
    slope40_error: np.ndarray
    soil_moisture: np.ndarray
    soil_moisture_error: np.ndarray
    soil_moisture_sensitivity: np.ndarray
    dry_backscatter: np.ndarray
    wet_backscatter: np.ndarray
    mean_soil_moisture: np.ndarray
    descending: np.ndarray
    flags: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.row.shape[0])



def _check_near(lat, lon, radius_km) -> None:
    """lat, lon and radius_km are given together or not at all; the radius is positive."""
    near = (lat, lon, radius_km)
    if any(x is not None for x in near) and any(x is None for x in near):
        raise ConfigError("give lat, lon and radius_km together (or none of them)")
    if radius_km is not None and not radius_km > 0:
        raise ConfigError(f"radius_km must be > 0, got {radius_km!r}")

def read_ascat_l2(path: str | os.PathLike, lat: float | None = None, lon: float | None = None,
                  radius_km: float | None = None) -> AscatL2Swath:
    """Read an ASCAT L2 SSM 25 km swath file (netCDF).

    Parameters
    ----------
    path : str or os.PathLike
        The swath file.
    lat, lon, radius_km : float or None
        If given, only the nodes within ``radius_km`` (km, great-circle) of (lat, lon) are
        returned; otherwise every node with a position.

    Returns
    -------
    AscatL2Swath

    Raises
    ------
    InputDataError
        Missing, unreadable or truncated file, another product (a needed variable missing)
        or unexpected shapes; the message names the file.
    ConfigError
        Only some of lat, lon, radius_km given, or a non-positive radius.
    """
    _check_near(lat, lon, radius_km)
    path = Path(path)
    where = str(path)
    with open_dataset(path) as ds:
        missing = [n for n in REQUIRED if n not in ds.variables]
        if missing:
            raise InputDataError(f"{where}: not an ASCAT L2 soil-moisture swath file: "
                                 f"missing variable(s) {', '.join(missing)}")
        shape = ds.variables["latitude"].shape
        if len(shape) != 2:
            raise InputDataError(f"{where}: variable 'latitude' has shape {shape}, expected "
                                 "(numRows, numCells)")
        cols = {}
        for name in list(CELL_VARS) + list(FLAG_VARS) + list(ROW_VARS):
            if name not in ds.variables:
                continue
            v = ds.variables[name]
            expect = shape[:1] if name in ROW_VARS else shape
            if v.shape != expect:
                raise InputDataError(f"{where}: variable '{name}' has shape {v.shape}, "
                                     f"expected {expect}")
            cols[name] = _decode(v, name, where)
        attrs = {k: ds.getncattr(k) for k in ("title_short_name", "source", "platform_long_name",
                                             "start_orbit_number", "start_sensing_data_time",
                                             "end_sensing_data_time") if k in ds.ncattrs()}
    nrow, ncell = shape
    row, cell = np.meshgrid(np.arange(nrow), np.arange(ncell), indexing="ij")
    secs = cols["utc_line_nodes"]
    t_row = np.full(nrow, np.datetime64("NaT"), dtype="datetime64[ms]")
    ok = np.isfinite(secs)
    t_row[ok] = TIME_EPOCH + np.round(secs[ok] * 1000.0).astype(np.int64).astype("timedelta64[ms]")
    lon_all = (cols["longitude"] + 180.0) % 360.0 - 180.0
    keep = np.isfinite(cols["latitude"]) & np.isfinite(lon_all)
    if lat is not None:
        lat, lon = check_site(lat, lon)
        keep &= great_circle_km(lat, lon, cols["latitude"], lon_all) <= radius_km
    sel = np.nonzero(keep)
    desc = cols.get("as_des_pass", np.full(nrow, np.nan))
    out = {attr: cols[name][sel] if name in cols else np.full(sel[0].size, np.nan)
           for name, attr in CELL_VARS.items()}
    out["lon"] = lon_all[sel]
    flags = {}
    for name in FLAG_VARS:
        x = cols.get(name, np.full(shape, np.nan))[sel]
        flags[name] = np.where(np.isfinite(x), x, -1).astype(np.int64)
    return AscatL2Swath(path=path, row=row[sel], cell=cell[sel], time=t_row[sel[0]],
                        descending=(desc[sel[0]] == 1), flags=flags, attrs=attrs, **out)


def _decode(var, name: str, where: str) -> np.ndarray:
    """Stored values unpacked to float64 with the product's missing values as NaN."""
    import netCDF4
    try:
        var.set_auto_maskandscale(False)
        raw = np.asarray(var[:])
    except (OSError, RuntimeError, IndexError, ValueError) as exc:
        raise InputDataError(f"{where}: cannot read variable '{name}' (truncated or corrupt "
                             f"file?): {exc}") from None
    unsigned = raw.dtype.kind == "u" or str(getattr(var, "_Unsigned", "")).lower() == "true"
    if unsigned and raw.dtype.kind == "i":
        raw = raw.view(raw.dtype.str.replace("i", "u"))

    bad = np.zeros(raw.shape, dtype=bool)
    for attr in ("_FillValue", "missing_value"):
        if attr in var.ncattrs():
            fill = np.asarray(var.getncattr(attr)).ravel()[0]
            if unsigned and fill < 0:
                fill = int(fill) + (1 << (8 * np.asarray(var.getncattr(attr)).dtype.itemsize))
            bad |= raw == fill
    key = raw.dtype.str[1:]
    if key in netCDF4.default_fillvals:
        bad |= raw == netCDF4.default_fillvals[key]
    x = raw.astype(np.float64)
    if "scale_factor" in var.ncattrs():
        x = x * float(var.getncattr("scale_factor"))
    if "add_offset" in var.ncattrs():
        x = x + float(var.getncattr("add_offset"))
    x[bad] = np.nan
    return x


# ---- H SAF / TU Wien products ---------------------------------------------------------------

#: name in the file -> attribute of AscatRecords (first match wins)
HSAF_VARS = {
    "sigma40": ("backscatter40", "sigma40"),
    "sigma40_noise": ("backscatter40_noise", "sigma40_noise"),
    "slope40": ("slope40",),
    "slope40_noise": ("slope40_noise",),
    "curvature40": ("curvature40",),
    "curvature40_noise": ("curvature40_noise",),
    "soil_moisture": ("surface_soil_moisture", "sm"),
}
HSAF_FLAGS = {   # flag key of AscatRecords -> names in the file
    "snow_cover_probability": ("snow_cover_probability",),
    "frozen_soil_probability": ("frozen_soil_probability",),
    "wetland_fraction": ("wetland_fraction",),
    "topographic_complexity": ("topographic_complexity",),
    "sat_id": ("sat_id",),
}
#: units accepted per record attribute (lower case, spaces removed)
HSAF_UNITS = {"sigma40": ("db",), "sigma40_noise": ("db",),
              "slope40": ("db/deg", "dbdeg-1", "db/degree", "db"),
              "slope40_noise": ("db/deg", "dbdeg-1", "db/degree", "db"),
              "curvature40": ("db/deg2", "db/deg^2", "dbdeg-2", "db/degree^2", "db"),
              "curvature40_noise": ("db/deg2", "db/deg^2", "dbdeg-2", "db/degree^2", "db")}


@dataclass(frozen=True)
class AscatRecords:
    """ASCAT records of an H SAF / TU Wien product file (one per record of ``obs``).

    Attributes
    ----------
    path : the file.
    location_id : grid point index of each record (-1 where the file has none).
    time : datetime64[ms] UTC time of measurement.
    lat, lon : degrees north / east (-180..180).
    sigma40, sigma40_noise : backscatter normalised to 40 deg and its noise, dB.
    slope40, slope40_noise : slope of the backscatter in incidence angle at 40 deg and its
        noise, dB per degree.
    curvature40, curvature40_noise : curvature at 40 deg and its noise, dB per degree**2.
    soil_moisture : surface soil moisture index, percent of saturation (NaN if absent).
    descending : True for a descending pass.
    flags : ``snow_cover_probability``, ``frozen_soil_probability``, ``wetland_fraction``,
        ``topographic_complexity`` (percent) and ``sat_id`` as int arrays, -1 where the
        file has no value.
    attrs : global attributes naming the product.

    Floats are NaN where the product has no value.
    """

    path: Path
    location_id: np.ndarray
    time: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    sigma40: np.ndarray
    sigma40_noise: np.ndarray
    slope40: np.ndarray
    slope40_noise: np.ndarray
    curvature40: np.ndarray
    curvature40_noise: np.ndarray
    soil_moisture: np.ndarray
    descending: np.ndarray
    flags: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @property
    def sigma40_error(self) -> np.ndarray:
        """The noise of sigma40 (the name the EUMETSAT L2 swath uses)."""
        return self.sigma40_noise

    @property
    def slope40_error(self) -> np.ndarray:
        """The noise of slope40 (the name the EUMETSAT L2 swath uses)."""
        return self.slope40_noise


def read_hsaf_ascat(path: str | os.PathLike, lat: float | None = None,
                    lon: float | None = None, radius_km: float | None = None) -> AscatRecords:
    """Read an H SAF / TU Wien ASCAT soil-moisture product file (netCDF) with sigma40,
    slope40 and curvature40: a swath file or a cell time-series file (module notes).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    lat, lon, radius_km : float or None
        If given, only the records within ``radius_km`` (km, great-circle) of (lat, lon).

    Returns
    -------
    AscatRecords

    Raises
    ------
    InputDataError
        Missing, unreadable or truncated file; no sample dimension ``obs``; ``sigma40``
        (``backscatter40``), ``slope40`` or ``time`` missing; positions missing; shapes or
        ragged-array indices inconsistent; units other than dB / dB deg-1. The message names
        the file and the variable.
    ConfigError
        Only some of lat, lon, radius_km given, or a non-positive radius.
    """
    from ..io import times_from_nc
    _check_near(lat, lon, radius_km)
    path = Path(path)
    where = str(path)
    with open_dataset(path) as ds:
        if "obs" not in ds.dimensions:
            raise InputDataError(f"{where}: not an H SAF ASCAT product: no sample dimension "
                                 "'obs'")
        nobs = len(ds.dimensions["obs"])
        names = {}
        for attr, cands in HSAF_VARS.items():
            names[attr] = next((c for c in cands if c in ds.variables), None)
        missing = [" or ".join(f"'{c}'" for c in HSAF_VARS[a]) for a in ("sigma40", "slope40")
                   if names[a] is None]
        if "time" not in ds.variables:
            missing.append("'time'")
        if missing:
            raise InputDataError(f"{where}: not an ASCAT product with backscatter at 40 deg: "
                                 f"missing variable(s) {', '.join(missing)}")

        def get(name):
            v = ds.variables[name]
            if v.dimensions != ("obs",):
                raise InputDataError(f"{where}: variable '{name}' has dimensions "
                                     f"{v.dimensions}, expected ('obs',)")
            return _decode(v, name, where)

        cols = {}
        for attr, name in names.items():
            if name is None:
                cols[attr] = np.full(nobs, np.nan)
                continue
            if attr in HSAF_UNITS:
                units = getattr(ds.variables[name], "units", None)
                if units is not None and str(units).replace(" ", "").lower() \
                        not in HSAF_UNITS[attr]:
                    raise InputDataError(f"{where}: variable '{name}' has units '{units}', "
                                         f"expected '{HSAF_UNITS[attr][0]}'")
            cols[attr] = get(name)
        tv = ds.variables["time"]
        if tv.dimensions != ("obs",):
            raise InputDataError(f"{where}: variable 'time' has dimensions {tv.dimensions}, "
                                 "expected ('obs',)")
        raw_t = _decode(tv, "time", where)
        ok_t = np.isfinite(raw_t)
        time = np.full(nobs, np.datetime64("NaT"), dtype="datetime64[ms]")
        if ok_t.any():
            time[ok_t] = times_from_nc(tv, where, raw_t[ok_t]).astype("datetime64[ms]")
        lat_all, lon_all, loc = _positions(ds, nobs, where)
        desc_name = next((n for n in ("as_des_pass", "dir") if n in ds.variables), None)
        desc = get(desc_name) == 1 if desc_name else np.zeros(nobs, dtype=bool)
        flags = {}
        for key, cands in HSAF_FLAGS.items():
            name = next((c for c in cands if c in ds.variables), None)
            x = get(name) if name else np.full(nobs, np.nan)
            flags[key] = np.where(np.isfinite(x), x, -1).astype(np.int64)
        attrs = {k: str(ds.getncattr(k)) for k in ("title", "product_version", "institution",
                                                   "platform", "source", "id")
                 if k in ds.ncattrs()}
    lon_all = (lon_all + 180.0) % 360.0 - 180.0
    keep = np.isfinite(lat_all) & np.isfinite(lon_all)
    if lat is not None:
        lat, lon = check_site(lat, lon)
        keep &= great_circle_km(lat, lon, lat_all, lon_all) <= radius_km
    sel = np.nonzero(keep)[0]
    return AscatRecords(path=path, location_id=loc[sel], time=time[sel], lat=lat_all[sel],
                        lon=lon_all[sel], descending=desc[sel],
                        flags={k: v[sel] for k, v in flags.items()}, attrs=attrs,
                        **{k: v[sel] for k, v in cols.items()})


def _positions(ds, nobs: int, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Latitude, longitude and location id of every record: per record, or from the
    locations of a contiguous (row_size) or indexed (locationIndex) ragged array."""
    def pick(*names):
        return next((n for n in names if n in ds.variables), None)
    vlat, vlon = pick("latitude", "lat"), pick("longitude", "lon")
    if vlat is None or vlon is None:
        raise InputDataError(f"{where}: no record positions: variables 'latitude'/'lat' and "
                             "'longitude'/'lon' missing")
    dims = ds.variables[vlat].dimensions
    vid = pick("location_id", "gpi")
    if dims == ("obs",):
        lat = _decode(ds.variables[vlat], vlat, where)
        lon = _decode(ds.variables[vlon], vlon, where)
        loc = _decode(ds.variables[vid], vid, where) if vid and \
            ds.variables[vid].dimensions == ("obs",) else np.full(nobs, np.nan)
    elif len(dims) == 1:
        nloc = ds.variables[vlat].shape[0]
        llat = _decode(ds.variables[vlat], vlat, where)
        llon = _decode(ds.variables[vlon], vlon, where)
        lid = _decode(ds.variables[vid], vid, where) if vid else np.arange(nloc, dtype=float)
        if "row_size" in ds.variables:
            rs = _decode(ds.variables["row_size"], "row_size", where)
            if rs.shape != (nloc,) or not np.all(np.isfinite(rs) & (rs >= 0)) \
                    or int(rs.sum()) != nobs:
                raise InputDataError(f"{where}: variable 'row_size' does not partition the "
                                     f"{nobs} records over {nloc} locations")
            idx = np.repeat(np.arange(nloc), rs.astype(np.int64))
        elif "locationIndex" in ds.variables:
            li = _decode(ds.variables["locationIndex"], "locationIndex", where)
            if li.shape != (nobs,) or not np.all(np.isfinite(li) & (li >= 0) & (li < nloc)):
                raise InputDataError(f"{where}: variable 'locationIndex' must give a location "
                                     f"0..{nloc - 1} for each of the {nobs} records")
            idx = li.astype(np.int64)
        else:
            raise InputDataError(f"{where}: positions are per location ({dims[0]}) but neither "
                                 "'row_size' nor 'locationIndex' maps records to locations")
        lat, lon, loc = llat[idx], llon[idx], lid[idx]
    else:
        raise InputDataError(f"{where}: variable '{vlat}' has dimensions {dims}, expected "
                             "('obs',) or one locations dimension")
    loc = np.where(np.isfinite(loc), loc, -1).astype(np.int64)
    return lat, lon, loc


def read_ascat_obs(paths: str | os.PathLike | Iterable[str | os.PathLike], lat: float,
                   lon: float, footprint: Mapping[int, float], *, stream: str,
                   radius_km: float = 15.0,
                   period: tuple[np.datetime64, np.datetime64] | None = None,
                   max_frozen: float = 30.0, max_snow: float = 30.0,
                   max_wetland: float = 15.0, sigma_floor: float | None = None,
                   tally: Tally | None = None, progress: bool | None = False
                   ) -> ObservationSet:
    """ASCAT files (EUMETSAT L2 swath or H SAF / TU Wien products, detected per file) to the
    ``sigma40`` or ``slope`` stream over a site.

    Parameters
    ----------
    paths : str, os.PathLike or an iterable of them
        EUMETSAT ASCAT L2 SSM swath files (:func:`read_ascat_l2`) and / or H SAF / TU Wien
        files (:func:`read_hsaf_ascat`), any order.
    lat, lon : float
        Site latitude (degrees_north) and longitude (degrees_east).
    footprint : dict[int, float]
        PFT fractions (BETHY code -> fraction) given to every observation.
    stream : {"sigma40", "slope"}
        ``sigma40`` (dB) or ``slope`` (``slope40``, dB deg-1).
    radius_km : float, default 15
        Records of locations within this distance of the site are candidates; per file the
        nearest location that passes the screening is kept.
    period : (datetime64, datetime64) or None
        UTC [start, end): records whose hourly window is not inside are dropped.
    max_frozen, max_snow, max_wetland : float
        Records whose frozen-soil or snow-cover probability, or wetland fraction (percent)
        exceed these are dropped (no value: kept).
    sigma_floor : float or None
        Lower bound of sigma; default :data:`DEFAULT_SIGMA_FLOOR` of the stream.
    tally : Tally or None
        If given, the counts of records read, kept and dropped (by reason) are added to it.
    progress : bool or None, default False
        Progress bar over the files (None: when stderr is a terminal).

    Returns
    -------
    ObservationSet
        Sorted by time; qc 0; window [hour, hour + 1 h); angle 40 deg.

    Raises
    ------
    InputDataError
        A file is missing, truncated, of another product or malformed (named in the message).
    ConfigError
        Invalid stream, site, footprint, radius or thresholds.
    """
    if stream not in DEFAULT_SIGMA_FLOOR:
        raise ConfigError(f"stream must be 'sigma40' or 'slope', got {stream!r}")
    if not (isinstance(radius_km, (int, float)) and 0 < radius_km < 500):
        raise ConfigError(f"radius_km must be a distance in km (0-500), got {radius_km!r}")
    for name, v in (("max_frozen", max_frozen), ("max_snow", max_snow),
                    ("max_wetland", max_wetland)):
        if not (isinstance(v, (int, float)) and 0 <= v <= 100):
            raise ConfigError(f"{name} must be a percentage 0-100, got {v!r}")
    floor = DEFAULT_SIGMA_FLOOR[stream] if sigma_floor is None else float(sigma_floor)
    if not (floor > 0 and math.isfinite(floor)):
        raise ConfigError(f"sigma_floor must be > 0, got {sigma_floor}")
    files = as_paths(paths)
    lat, lon = check_site(lat, lon)
    pft, row = footprint_row(footprint)
    lo, hi = ASCAT_VALID_RANGE[stream]
    own = Tally()
    times, values, sigmas, products = [], [], [], set()
    for f in _progress_bar(files, total=len(files), desc=f"ASCAT {stream}", enabled=progress,
                           unit="file"):
        rec, product = _read_any(f)
        products.add(product)
        own.files += 1
        own.read += len(rec)
        dist = great_circle_km(lat, lon, rec.lat, rec.lon)
        near = np.isfinite(dist) & (dist <= radius_km)
        own.drop("outside_footprint", np.count_nonzero(~near))
        idx = np.nonzero(near)[0]
        value = rec.sigma40 if stream == "sigma40" else rec.slope40
        noise = rec.sigma40_error if stream == "sigma40" else rec.slope40_error
        reason = np.full(len(rec), "", dtype=object)
        fl = rec.flags
        wet = fl.get("wetland_fraction", fl.get("wetland_flag"))
        for key, limit, why in (("frozen_soil_probability", max_frozen, "frozen"),
                                ("snow_cover_probability", max_snow, "snow"),
                                (None, max_wetland, "wetland")):
            x = wet if key is None else fl.get(key)
            if x is not None:
                reason[(reason == "") & (x > limit)] = why
        reason[(reason == "") & ((value < lo) | (value > hi))] = "out_of_range"
        reason[~np.isfinite(value) | np.isnat(rec.time)] = "missing"
        if period is not None and idx.size:
            t0, t1 = hour_window(rec.time[idx])
            inside = (reason[idx] == "missing") | ((t0 >= period[0]) & (t1 <= period[1]))
            own.drop("outside_period", np.count_nonzero(~inside))
            idx = idx[inside]
        for r in np.unique(reason[idx]):
            if r:
                own.drop(r, np.count_nonzero(reason[idx] == r))
        idx = idx[reason[idx] == ""]
        if idx.size:
            # the nearest location (a swath file: one overpass, its nearest node)
            k = idx[np.argmin(dist[idx])]
            loc = getattr(rec, "location_id", None)
            pick = idx[loc[idx] == loc[k]] if loc is not None and loc[k] >= 0 \
                else np.array([k])
            own.drop("not_nearest", idx.size - pick.size)
            idx = pick
        times.append(rec.time[idx])
        values.append(value[idx])
        sig = noise[idx]
        sigmas.append(np.where(np.isfinite(sig), np.maximum(sig, floor), floor))
        own.kept += int(idx.size)
    t, value, sigma, t0, t1 = time_sorted_records(times, values, sigmas)
    n = t.size
    if tally is not None:
        tally.add(own)
    source = describe_sources(files)
    if n == 0 and tally is None:
        log.warning("%s: no ASCAT %s record near the site (%.4f N, %.4f E) passed the "
                    "screening (%s)", source, stream, lat, lon, own.summary())
    attrs = {
        "product": ", ".join(sorted(products)),
        "variable": "sigma40 (backscatter40)" if stream == "sigma40" else "slope40",
        "source_files": ", ".join(f.name for f in files),
        "site_lat": lat, "site_lon": lon, "radius_km": float(radius_km),
        "selection": "per file, the nearest location within radius_km that passes",
        "screening": (f"frozen_soil_probability <= {max_frozen:g} %, snow_cover_probability "
                      f"<= {max_snow:g} %, wetland fraction <= {max_wetland:g} %, value in "
                      f"[{lo:g}, {hi:g}]"),
        "sigma": f"max(product noise, {floor:g})", "sigma_floor": floor,
        "reference_angle_deg": ASCAT_REFERENCE_ANGLE,
        "time_window": "record UTC time floored to the hour, [t, t + 1 h)",
        "qc_meaning": "0 = record passed the reader's screening",
        **own.as_attrs(),
    }
    obs = ObservationSet(stream, t0, t1, value, sigma, np.zeros(n, dtype=int), pft,
                         np.tile(row, (n, 1)), np.full(n, ASCAT_REFERENCE_ANGLE), source, attrs)
    obs.validate()
    return obs


def _read_any(path) -> tuple[AscatL2Swath | AscatRecords, str]:
    """The records of an EUMETSAT L2 swath (it has ``utc_line_nodes``) or an H SAF file."""
    path = Path(path)
    with open_dataset(path) as ds:
        eumetsat = "utc_line_nodes" in ds.variables
    if eumetsat:
        return read_ascat_l2(path), "eumetsat-l2"
    return read_hsaf_ascat(path), "hsaf"
