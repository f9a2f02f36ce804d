"""FAPAR from the JRC Two-stream Inversion Package (JRC-TIP) products: :func:`read_jrc_tip`.

JRC-TIP (Pinty et al. 2007, 2011; Clerici et al. 2010) inverts the two-stream canopy model of
Pinty et al. (2006) against broadband white-sky (bi-hemispherical) albedos in the visible and
near-infrared and delivers effective LAI and the absorbed fraction of visible radiation
(FAPAR) with their uncertainties (one standard deviation of the retrieved Gaussian PDF). The
model's counterpart is the cover-weighted two-flux canopy FAPAR for diffuse illumination
(science.md sections 0 and 6.5).

Not confirmed on a real file: no JRC-TIP, C3S or QA4ECV FAPAR file was at hand; the reader is
tested on files written to the layouts documented below.

Layouts read
------------
Gridded CF-netCDF files of the TIP-based FAPAR products, one or more composites per file, on
a regular latitude/longitude grid with 1-D ``lat``/``lon`` (or ``latitude``/``longitude``)
coordinates and a ``time`` dimension (or a single composite without one):

- Copernicus Climate Change Service "LAI and fAPAR from 1981 to present" (CDS dataset
  ``satellite-lai-fapar``), versions 2-4, which use TIP (V2 PROBA-V 1 km, V3 AVHRR/SPOT-VGT/
  PROBA-V, V4 Sentinel-3 OLCI+SLSTR 300 m), 10-daily: variables ``fAPAR``, ``fAPAR_ERR``
  ("one standard deviation of a Gaussian distribution" from V2 on) and the 8-bit ``QFLAG``.
  Evidence: https://cds.climate.copernicus.eu/datasets/satellite-lai-fapar?tab=quality_assurance_tab
  and https://www.copernicus.eu/pt-pt/node/114257 (product description: TIP on VIS/NIR
  white-sky albedo, effective LAI from V2 on).
- QA4ECV BHR-TIP FAPAR/effective LAI (FastOpt; TIP look-up tables "TIP-QA4ECV", 1982-2016,
  0.5 and 0.05 degree grids): variables ``fapar``, ``Lai``, ``sigma_Lai`` and the "Standard
  deviation of FAPAR", all with units "1". Evidence:
  https://catalogue.ceda.ac.uk/uuid/fb1df8ff08564616818d71d78db03f51 and
  http://qa4ecv.eu/ecv/laifapar-p. The catalogue listing is cut after ``sigma_``; the name
  ``sigma_fapar`` is inferred from ``sigma_Lai`` and is therefore only a candidate.

The original JRC 0.01 degree MODIS-based JRC-TIP distribution (Pinty et al. 2011, Remote Sens.
Environ. 115, https://publications.jrc.ec.europa.eu/repository/handle/JRC66604) could not be
inspected; files in another layout are read by naming their variables (``value_var``,
``sigma_var``, ``flag_var``) or by correcting the candidate lists below.

Variable names are tried in the order of the module constants :data:`VALUE_NAMES`,
:data:`SIGMA_NAMES`, :data:`FLAG_NAMES`, :data:`LAT_NAMES`, :data:`LON_NAMES`.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Iterable

import numpy as np

from ..errors import ConfigError, InputDataError
from ..io import open_netcdf, times_from_nc
from ..obs import ObservationSet
from ._common import footprint_row, sigma_floor_pair

log = logging.getLogger(__name__)

VALUE_NAMES = ("fAPAR", "fapar", "FAPAR")
SIGMA_NAMES = ("fAPAR_ERR", "sigma_fapar", "FAPAR_ERR", "fapar_sigma")
FLAG_NAMES = ("QFLAG", "qflag")
LAT_NAMES = ("lat", "latitude")
LON_NAMES = ("lon", "longitude")
DEFAULT_SIGMA_FLOOR = 0.05      # FAPAR units (1)
VALID_RANGE = (0.0, 1.0)
# CF flag_meanings (compared lower-case, whole word) that reject a record when their bit or
# value is set; used when the flag variable carries flag_masks / flag_values + flag_meanings.
BAD_FLAG_MEANINGS = frozenset({
    "sea", "ocean", "water", "inland_water", "snow", "ice", "snow_ice", "snow_or_ice",
    "cloud", "cloudy", "cloud_shadow", "invalid", "invalid_input", "error", "failed",
    "retrieval_failed", "no_retrieval", "not_processed", "missing", "fill", "fill_value",
    "out_of_range", "outlier", "bad", "bad_quality", "low_quality", "unusable",
})
TIME_ANCHORS = ("start", "centre", "end")


def read_jrc_tip(paths: str | os.PathLike | Iterable[str | os.PathLike], lat: float,
                 lon: float, footprint: dict[int, float], *,
                 sigma_floor: float | tuple[float, float] = DEFAULT_SIGMA_FLOOR,
                 value_var: str | None = None, sigma_var: str | None = None,
                 flag_var: str | None = None, flag_mask: int | None = None,
                 composite_days: float | None = None, time_anchor: str | None = None
                 ) -> ObservationSet:
    """Read JRC-TIP FAPAR composites at a site as observations of the ``fapar`` stream.

    Parameters
    ----------
    paths : path or iterable of paths
        netCDF files of a TIP FAPAR product (see the module docstring for the layouts).
    lat, lon : float
        Site latitude (degrees_north) and longitude (degrees_east); the grid cell containing
        the site is used.
    footprint : dict of int to float
        Fractions of the pixel covered by each BETHY PFT (codes 1..13), summing to <= 1.
    sigma_floor : float or (float, float), default 0.05
        Lower bound of sigma: an absolute value (FAPAR units) or a pair (relative,
        absolute) giving relative * value + absolute.
    value_var, sigma_var, flag_var : str, optional
        Variable names overriding the candidate lists :data:`VALUE_NAMES`,
        :data:`SIGMA_NAMES`, :data:`FLAG_NAMES`. The flag variable is optional.
    flag_mask : int, optional
        Bits of the flag variable that reject a record; 0 disables flag screening. Default:
        from the variable's CF ``flag_masks``/``flag_values`` whose ``flag_meanings`` are in
        :data:`BAD_FLAG_MEANINGS`, else any non-zero flag rejects.
    composite_days, time_anchor : float and {"start", "centre", "end"}, optional
        Composite length (days) and what the time coordinate marks, used only when a file
        gives neither time bounds nor ACDD ``time_coverage_start``/``_end``.

    Returns
    -------
    ObservationSet
        Stream ``fapar`` (unit "1"), one observation per kept composite, sorted in time; the
        window is the composite period; ``qc`` is the product's flag (0 without a flag
        variable); drop counts and the pixel centre are in ``attrs``.

    Raises
    ------
    InputDataError
        A file is missing or unreadable, lacks the FAPAR or uncertainty variable, the
        lat/lon coordinates or a decodable time, or the site lies outside its grid.
    ConfigError
        Invalid footprint, ``sigma_floor``, ``flag_mask``, ``time_anchor``, or a file without
        time bounds and without ``composite_days``/``time_anchor``.

    Notes
    -----
    Records are dropped (and counted in ``attrs``) when FAPAR or its uncertainty is a fill
    value (``_FillValue``/``missing_value``/valid range, after unpacking
    ``scale_factor``/``add_offset``), when FAPAR is outside [0, 1] or the uncertainty is
    negative, and when the flag rejects them. sigma = max(product standard deviation, floor).

    Composite window, in this order: the CF ``bounds`` of the time coordinate; for a file
    holding one composite, the ACDD global attributes ``time_coverage_start`` and
    ``time_coverage_end`` (an end given as a date only, or at 23:59:59, is taken as the end
    of that day); else ``composite_days`` placed by ``time_anchor`` ("start": the time is the
    first instant, "centre": the middle, "end": the end of the window).
    """
    plist = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not plist:
        raise ConfigError("read_jrc_tip: no input files given")
    label = str(plist[0]) if len(plist) == 1 else f"{plist[0]} (+{len(plist) - 1} files)"
    floor = sigma_floor_pair(sigma_floor, label)
    pft, fp_row = footprint_row(footprint, label)
    _check_site(lat, lon, label)
    if flag_mask is not None and (isinstance(flag_mask, bool)
                                  or not isinstance(flag_mask, (int, np.integer))
                                  or flag_mask < 0):
        raise ConfigError(f"{label}: flag_mask must be a non-negative integer, got {flag_mask!r}")
    if time_anchor is not None and time_anchor not in TIME_ANCHORS:
        raise ConfigError(f"{label}: time_anchor must be one of {', '.join(TIME_ANCHORS)}, "
                          f"got '{time_anchor}'")
    if composite_days is not None and not (np.isfinite(composite_days) and composite_days > 0):
        raise ConfigError(f"{label}: composite_days must be > 0, got {composite_days}")

    parts = []
    counts = {"n_records": 0, "n_missing": 0, "n_invalid": 0, "n_rejected_flag": 0}
    names, pixels = set(), []
    for path in plist:
        rec = _read_tip_file(path, lat, lon, value_var, sigma_var, flag_var, flag_mask,
                             composite_days, time_anchor)
        for k in counts:
            counts[k] += rec[k]
        names.add(rec["variables"])
        pixels.append(rec["pixel"])
        parts.append(rec)
    t0 = np.concatenate([r["t0"] for r in parts])
    t1 = np.concatenate([r["t1"] for r in parts])
    value = np.concatenate([r["value"] for r in parts])
    sigma_p = np.concatenate([r["sigma"] for r in parts])
    qc = np.concatenate([r["qc"] for r in parts]).astype(np.int64)
    order = np.argsort(t0, kind="stable")
    t0, t1, value, sigma_p, qc = t0[order], t1[order], value[order], sigma_p[order], qc[order]
    sigma = np.maximum(sigma_p, floor[0] * np.abs(value) + floor[1])
    n = value.size
    if n == 0:
        log.warning("%s: no FAPAR composite at lat=%g lon=%g passed the screening", label, lat,
                    lon)
    attrs = {
        "product": "JRC-TIP FAPAR (two-stream inversion of white-sky albedo)",
        "product_variables": "; ".join(sorted(names)),
        "site_lat": float(lat), "site_lon": float(lon),
        "pixel_centre": "; ".join(sorted(set(pixels))),
        "qc_meaning": "product quality flag of the kept records (0 when the file has none)",
        "sigma_rule": (f"max(product standard deviation, {floor[0]:g} value + {floor[1]:g})"),
        "n_kept": int(n), **counts,
    }
    return ObservationSet("fapar", t0, t1, value, sigma, qc, pft, np.tile(fp_row, (n, 1)),
                          None, label, attrs)


def _read_tip_file(path: Path, lat: float, lon: float, value_var: str | None,
                   sigma_var: str | None, flag_var: str | None, flag_mask: int | None,
                   composite_days: float | None, time_anchor: str | None) -> dict:
    """The screened records of the site's pixel in one file."""
    where = str(path)
    with open_netcdf(path) as ds:
        vname = _find_var(ds, value_var, VALUE_NAMES, where, "FAPAR")
        sname = _find_var(ds, sigma_var, SIGMA_NAMES, where, "FAPAR uncertainty")
        fname = (_find_var(ds, flag_var, FLAG_NAMES, where, "quality flag") if flag_var
                 else next((n for n in FLAG_NAMES if n in ds.variables), None))
        grid = _grid(ds, where)
        i, j = _containing_pixel(grid, lat, lon, where)
        var = ds.variables[vname]
        tdim = _time_dim(var, grid, where)
        ntime = len(ds.dimensions[tdim]) if tdim else 1
        value = _read_pixel(var, grid, tdim, i, j, where)
        sig = _read_pixel(ds.variables[sname], grid, tdim, i, j, where)
        t0, t1 = _windows(ds, tdim, ntime, composite_days, time_anchor, where)
        if fname is not None:
            fvar = ds.variables[fname]
            flag = _read_pixel(fvar, grid, tdim, i, j, where)
            bad_flag = _flag_rejects(fvar, flag, flag_mask, where)
            qc = np.where(np.isfinite(flag), flag, -1)
        else:
            bad_flag = np.zeros(ntime, bool)
            qc = np.zeros(ntime)
        pixel = f"{grid['lat'][i]:.6f}N {grid['lon'][j]:.6f}E"
    missing = ~np.isfinite(value) | ~np.isfinite(sig)
    invalid = ~missing & ((value < VALID_RANGE[0]) | (value > VALID_RANGE[1]) | (sig < 0))
    rejected = ~missing & ~invalid & bad_flag
    keep = ~missing & ~invalid & ~bad_flag
    return {"t0": t0[keep], "t1": t1[keep], "value": value[keep], "sigma": sig[keep],
            "qc": qc[keep], "n_records": int(ntime), "n_missing": int(missing.sum()),
            "n_invalid": int(invalid.sum()), "n_rejected_flag": int(rejected.sum()),
            "variables": f"{vname}, {sname}" + (f", {fname}" if fname else ""),
            "pixel": pixel}


# ---------------------------------------------------------------------------------------------
# Helpers shared with the other gridded-product readers (biomass.py)

def _check_site(lat: float, lon: float, where: str) -> None:
    if not (np.isfinite(lat) and np.isfinite(lon) and -90.0 <= lat <= 90.0
            and -180.0 <= lon <= 360.0):
        raise ConfigError(f"{where}: site lat={lat} or lon={lon} out of range")


def _find_var(ds, name: str | None, candidates: tuple[str, ...], where: str, what: str) -> str:
    """The variable ``name`` if given, else the first of ``candidates`` in the file."""
    if name is not None:
        if name not in ds.variables:
            raise InputDataError(f"{where}: missing variable '{name}' ({what})")
        return name
    for c in candidates:
        if c in ds.variables:
            return c
    raise InputDataError(f"{where}: missing variable '{candidates[0]}' ({what}; also looked "
                         f"for {', '.join(repr(c) for c in candidates[1:]) or 'nothing else'})")


def _grid(ds, where: str) -> dict:
    """1-D latitude and longitude coordinates: names of their dimensions and values."""
    out = {}
    for axis, names in (("lat", LAT_NAMES), ("lon", LON_NAMES)):
        name = next((n for n in names if n in ds.variables), None)
        if name is None:
            raise InputDataError(f"{where}: missing variable '{names[0]}' (also looked for "
                                 f"{', '.join(repr(n) for n in names[1:])})")
        v = ds.variables[name]
        if v.ndim != 1:
            raise InputDataError(f"{where}: variable '{name}' must be 1-D (a regular "
                                 f"latitude/longitude grid), has dimensions {v.dimensions}")
        vals = np.ma.filled(np.ma.asarray(v[:], dtype=float), np.nan)
        if vals.size == 0 or not np.isfinite(vals).all():
            raise InputDataError(f"{where}: variable '{name}' is empty or has missing values")
        if vals.size > 1:
            d = np.diff(vals)
            if not ((d > 0).all() or (d < 0).all()):
                raise InputDataError(f"{where}: variable '{name}' is not strictly monotonic")
        out[axis], out[axis + "_dim"], out[axis + "_name"] = vals, v.dimensions[0], name
    return out


def _spacing(c: np.ndarray) -> float:
    return float(np.median(np.abs(np.diff(c)))) if c.size > 1 else np.nan


def _lon_on_grid(lon: float, grid_lon: np.ndarray) -> float:
    """The site longitude in the grid's convention ([-180, 180) or [0, 360))."""
    lo, hi = float(grid_lon.min()), float(grid_lon.max())
    x = float(lon)
    if x < lo and x + 360.0 <= hi + 0.5 * np.nan_to_num(_spacing(grid_lon)) + 1e-9:
        x += 360.0
    elif x > hi and x - 360.0 >= lo - 0.5 * np.nan_to_num(_spacing(grid_lon)) - 1e-9:
        x -= 360.0
    return x


def _containing_pixel(grid: dict, lat: float, lon: float, where: str) -> tuple[int, int]:
    """Indices of the grid cell whose extent (centre +- half spacing) contains the site (the
    nearest centre; a site on a cell edge goes to either neighbour)."""
    idx = []
    for axis, x in (("lat", float(lat)), ("lon", _lon_on_grid(lon, grid["lon"]))):
        c = grid[axis]
        k = int(np.argmin(np.abs(c - x)))
        half = 0.5 * _spacing(c)
        if c.size == 1:
            log.warning("%s: '%s' has a single value %g: its cell is taken to contain the site "
                        "(%s=%g)", where, grid[axis + "_name"], c[0], axis, x)
        elif not c.min() - half * (1.0 + 1e-3) <= x <= c.max() + half * (1.0 + 1e-3):
            raise InputDataError(
                f"{where}: the site ({axis}={x:g}) lies outside the grid of variable "
                f"'{grid[axis + '_name']}' ({c.min():g} to {c.max():g}, spacing {2 * half:g})")
        idx.append(k)
    return idx[0], idx[1]


def _time_dim(var, grid: dict, where: str) -> str | None:
    """The variable's dimension that is neither latitude nor longitude (the time axis)."""
    if grid["lat_dim"] not in var.dimensions or grid["lon_dim"] not in var.dimensions:
        raise InputDataError(f"{where}: variable '{var.name}' has dimensions {var.dimensions}, "
                             f"expected ({grid['lat_dim']}, {grid['lon_dim']}) with an "
                             "optional time dimension")
    other = [d for d in var.dimensions if d not in (grid["lat_dim"], grid["lon_dim"])]
    if len(other) > 1:
        raise InputDataError(f"{where}: variable '{var.name}' has dimensions {var.dimensions}; "
                             "only one dimension besides latitude and longitude is supported")
    return other[0] if other else None


def _read_pixel(var, grid: dict, tdim: str | None, i: int, j: int, where: str) -> np.ndarray:
    """Values of one grid cell along the time dimension (NaN where masked), unpacked."""
    own = _time_dim(var, grid, where)
    if own != tdim:
        raise InputDataError(f"{where}: variable '{var.name}' has dimensions {var.dimensions}, "
                             f"expected those of the main variable (time dimension {tdim!r})")
    index = tuple(slice(None) if d == tdim else i if d == grid["lat_dim"] else j
                  for d in var.dimensions)
    try:
        data = var[index]
    except (RuntimeError, OSError, ValueError, IndexError) as exc:
        raise InputDataError(f"{where}: cannot read variable '{var.name}' ({exc})") from None
    return np.atleast_1d(np.ma.filled(np.ma.asarray(data, dtype=float), np.nan))


def _flag_rejects(fvar, flag: np.ndarray, flag_mask: int | None, where: str) -> np.ndarray:
    """True where the flag rejects a record (masked flags always do)."""
    masked = ~np.isfinite(flag)
    f = np.where(masked, 0, flag).astype(np.int64)
    if flag_mask is not None:
        return masked | ((f & int(flag_mask)) != 0)
    meanings = str(getattr(fvar, "flag_meanings", "")).split()
    masks = getattr(fvar, "flag_masks", None)
    values = getattr(fvar, "flag_values", None)
    if meanings and (masks is not None or values is not None):
        m = np.atleast_1d(masks if masks is not None else values).astype(np.int64)
        v = np.atleast_1d(values if values is not None else masks).astype(np.int64)
        if masks is None:   # enumerated values: compare all bits
            m = np.full(v.shape, -1, dtype=np.int64)
        if not (len(meanings) == m.size == v.size):
            raise InputDataError(f"{where}: variable '{fvar.name}': flag_meanings has "
                                 f"{len(meanings)} entries but flag_masks/flag_values "
                                 f"{max(m.size, v.size)}")
        bad = np.zeros(f.shape, bool)
        for meaning, mk, val in zip(meanings, m, v):
            if meaning.lower() in BAD_FLAG_MEANINGS:
                bad |= (f & mk) == val
        return masked | bad
    return masked | (f != 0)


_ISO = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})(?:[T ](\d{2}):?(\d{2})(?::?(\d{2}))?)?")


def _parse_iso(text: str, where: str, name: str, end: bool) -> np.datetime64:
    """ACDD time_coverage_* value to datetime64[s]; an end given as a date only or at
    23:59:59 is moved to 00:00 of the next day (the end of the last day covered)."""
    m = _ISO.match(str(text).strip())
    if not m:
        raise InputDataError(f"{where}: global attribute '{name}' = {text!r} is not an ISO 8601 "
                             "date/time")
    y, mo, d, hh, mi, ss = m.groups()
    try:
        t = np.datetime64(f"{y}-{mo}-{d}T{hh or '00'}:{mi or '00'}:{ss or '00'}", "s")
    except ValueError as exc:
        raise InputDataError(f"{where}: global attribute '{name}' = {text!r}: {exc}") from None
    if end:
        sod = (t - t.astype("datetime64[D]")).astype(np.int64)
        if hh is None or sod == 86399:
            t = t.astype("datetime64[D]").astype("datetime64[s]") + np.timedelta64(1, "D")
    return t


def _windows(ds, tdim: str | None, ntime: int, composite_days: float | None,
             time_anchor: str | None, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (UTC, datetime64[s]) of each composite in the file."""
    tname = tdim if tdim is not None else ("time" if "time" in ds.variables else None)
    tvar = ds.variables[tname] if tname is not None and tname in ds.variables else None
    if tdim is not None and tvar is None:
        raise InputDataError(f"{where}: missing variable '{tdim}' (the time coordinate)")
    if tvar is not None:
        bname = getattr(tvar, "bounds", None)
        if bname and bname in ds.variables:
            b = np.ma.filled(np.ma.asarray(ds.variables[bname][:], dtype=float), np.nan)
            b = b.reshape(-1, 2)
            if b.shape[0] != ntime or not np.isfinite(b).all():
                raise InputDataError(f"{where}: variable '{bname}' must hold {ntime} finite "
                                     "(start, end) pairs")
            return times_from_nc(tvar, where, b[:, 0]), times_from_nc(tvar, where, b[:, 1])
    start = getattr(ds, "time_coverage_start", None)
    end = getattr(ds, "time_coverage_end", None)
    if ntime == 1 and start is not None and end is not None:
        t0 = _parse_iso(start, where, "time_coverage_start", end=False)
        t1 = _parse_iso(end, where, "time_coverage_end", end=True)
        return np.array([t0]), np.array([t1])
    if tvar is None:
        raise InputDataError(f"{where}: no time coordinate and no global attributes "
                             "'time_coverage_start'/'time_coverage_end' give the composite "
                             "period")
    if composite_days is None or time_anchor is None:
        raise ConfigError(f"{where}: variable '{tvar.name}' has no bounds and the file no "
                          "time_coverage_start/end for each composite: pass composite_days "
                          "and time_anchor ('start', 'centre' or 'end')")
    t = times_from_nc(tvar, where, np.atleast_1d(np.ma.filled(
        np.ma.asarray(tvar[:], dtype=float), np.nan)))
    if t.size != ntime:
        raise InputDataError(f"{where}: variable '{tvar.name}' has {t.size} values, expected "
                             f"{ntime}")
    length = int(round(composite_days * 86400.0))
    before = {"start": 0, "centre": length // 2, "end": length}[time_anchor]
    t0 = t - np.timedelta64(before, "s")
    return t0, t0 + np.timedelta64(length, "s")
