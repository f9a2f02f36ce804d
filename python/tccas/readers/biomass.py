"""Above-ground biomass from the ESA CCI Biomass maps: :func:`read_cci_biomass`.

ESA Climate Change Initiative Biomass (Santoro et al. 2021, Earth Syst. Sci. Data 13, 3927;
Santoro and Cartus, CCI Biomass product user guide) maps forest above-ground biomass (AGB),
"the mass, expressed as oven-dry weight of the woody parts (stem, bark, branches and twigs)
of all living trees excluding stump and roots", in Mg ha-1, with a per-pixel uncertainty, for
single years (2010, 2015-2022 depending on the version) at 100 m (aggregated versions at 1,
10, 25 and 50 km from v6).

Not confirmed on a real file: no CCI Biomass tile was at hand; the reader is tested on files
written to the layout documented below.

Layout read
-----------
One netCDF file per year, e.g. ``ESACCI-BIOMASS-L4-AGB-MERGED-100m-2018-fv4.0.nc``, on a
regular latitude/longitude grid (1-D ``lat`` descending from 80 N, ``lon`` from 180 W, pixel
size 1/1125 degree ~ 100 m at the equator), with variables ``agb`` (Mg/ha, "Above-ground
biomass", ``ancillary_variables = agb_se``) and ``agb_se`` (Mg/ha, "Above-ground biomass
standard_error"), dimensioned (time, lat, lon) with one time step (or (lat, lon)); stored as
int16 with ``_FillValue`` -32768 and valid range 0-10000 in the CCI Open Data Portal copy.

Evidence: the CCI Open Data Portal variable listing of the merged AGB product
(esacci.BIOMASS.yr.L4.AGB.multi-sensor.multi-platform.MERGED, variables ``agb``/``agb_se``,
units Mg/ha, int16, fill -32768, dims time/lat/lon, GeoTransform -180 0.000888... 80),
http://catalogue.agriculturevlab.eu/cciodp/esacci-BIOMASS-yr-L4-AGB-multi-sensor-multi-platform-MERGED-2-0-r1 ;
CEDA catalogue records https://catalogue.ceda.ac.uk/uuid/bedc59f37c9545c981a839eb552e4084
(v1, "standard error in Mg/ha", netCDF and GeoTIFF) and
https://catalogue.ceda.ac.uk/uuid/5f331c418e9f4935b8eb1b836f8a91b8 (v3, "standard deviation
in Mg/ha"); the file name pattern and the (time, lat, lon) subsetting ``agb[0][i0:i1][j0:j1]``
of https://dap.ceda.ac.uk/thredds/dodsC/neodc/esacci/biomass/data/agb/maps/v4.0/netcdf/ as
used in public code. The uncertainty variable is tried as :data:`SE_NAMES` in order, since
later versions describe it as a standard deviation.

Note for the operator (science.md section 6.7): the product's AGB excludes foliage, stumps and
roots and covers trees only.
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
from .jrctip import (_check_site, _containing_pixel, _find_var, _grid, _lon_on_grid,
                     _spacing, _time_dim)

log = logging.getLogger(__name__)

VALUE_NAMES = ("agb",)
SE_NAMES = ("agb_se", "agb_sd")
DEFAULT_RADIUS_KM = 0.5
DEFAULT_SIGMA_FLOOR = (0.1, 1.0)        # (relative, absolute Mg ha-1)
DEFAULT_MIN_VALID_FRACTION = 0.5
EARTH_RADIUS_KM = 6371.0
FILE_YEAR = re.compile(r"-((?:19|20)\d{2})-fv")


def read_cci_biomass(paths: str | os.PathLike | Iterable[str | os.PathLike], lat: float,
                     lon: float, footprint: dict[int, float], *,
                     radius_km: float = DEFAULT_RADIUS_KM,
                     sigma_floor: float | tuple[float, float] = DEFAULT_SIGMA_FLOOR,
                     min_valid_fraction: float = DEFAULT_MIN_VALID_FRACTION,
                     value_var: str | None = None, se_var: str | None = None) -> ObservationSet:
    """Read ESA CCI Biomass AGB around a site as observations of the ``agb`` stream.

    Parameters
    ----------
    paths : path or iterable of paths
        CCI Biomass netCDF files (one year each, or several time steps per file).
    lat, lon : float
        Site latitude (degrees_north) and longitude (degrees_east).
    footprint : dict of int to float
        Fractions of the averaged area covered by each BETHY PFT (codes 1..13), sum <= 1.
    radius_km : float, default 0.5
        Pixels whose centres lie within this great-circle distance (km) of the site are
        averaged; 0 takes the pixel containing the site. The containing pixel is always
        included.
    sigma_floor : float or (float, float), default (0.1, 1.0)
        Lower bound of sigma: a pair (relative, absolute Mg ha-1) giving
        relative * value + absolute, or an absolute value.
    min_valid_fraction : float, default 0.5
        A year is dropped when fewer than this fraction of the selected pixels hold valid
        AGB and uncertainty (fill values: water, no data).
    value_var, se_var : str, optional
        Variable names overriding :data:`VALUE_NAMES` and :data:`SE_NAMES`.

    Returns
    -------
    ObservationSet
        Stream ``agb`` in Mg ha-1 of dry matter, one observation per kept year, sorted in
        time; ``qc`` = round(100 (1 - valid fraction)) (percentage of the selected pixels
        without data); pixel counts in ``attrs``.

    Raises
    ------
    InputDataError
        A file is missing or unreadable, lacks ``agb`` or its uncertainty or the lat/lon
        coordinates, has no recognisable year, or does not cover the site.
    ConfigError
        Invalid footprint, ``radius_km``, ``sigma_floor`` or ``min_valid_fraction``.

    Notes
    -----
    Window: the product's nominal year Y, [Y-01-01, Y+1-01-01) UTC; the operator compares
    the model's mean AGB over that window. Y is the year of the time coordinate, else the
    ``-YYYY-fv`` part of the file name.

    Value: mean of the valid pixels weighted by cos(latitude) (pixel area). Uncertainty:
    the per-pixel errors of the CCI retrieval come mostly from the retrieval model and are
    strongly correlated in space, so averaging is not taken to reduce them: sigma_data =
    sqrt(weighted mean of se^2), the error of the mean for fully correlated errors rounded up
    (an effective number of independent pixels of 1; it is >= the mean se). Then
    sigma = max(sigma_data, relative * value + absolute).
    """
    plist = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    if not plist:
        raise ConfigError("read_cci_biomass: no input files given")
    label = str(plist[0]) if len(plist) == 1 else f"{plist[0]} (+{len(plist) - 1} files)"
    floor = sigma_floor_pair(sigma_floor, label)
    pft, fp_row = footprint_row(footprint, label)
    _check_site(lat, lon, label)
    if not (np.isfinite(radius_km) and radius_km >= 0.0):
        raise ConfigError(f"{label}: radius_km must be >= 0, got {radius_km}")
    if not 0.0 < min_valid_fraction <= 1.0:
        raise ConfigError(f"{label}: min_valid_fraction must be within (0, 1], got "
                          f"{min_valid_fraction}")

    rows = []
    counts = {"n_records": 0, "n_insufficient": 0}
    names, npix = set(), set()
    for path in plist:
        for rec in _read_biomass_file(path, lat, lon, radius_km, value_var, se_var):
            counts["n_records"] += 1
            npix.add(rec["n_pixels"])
            names.add(rec["variables"])
            if rec["valid_fraction"] < min_valid_fraction:
                counts["n_insufficient"] += 1
                log.warning("%s: year %s: only %d of %d pixels within %g km of the site are "
                            "valid: dropped", path, rec["year"], rec["n_valid"],
                            rec["n_pixels"], radius_km)
                continue
            rows.append(rec)
    rows.sort(key=lambda r: r["year"])
    n = len(rows)
    t0 = np.array([np.datetime64(f"{r['year']:04d}-01-01T00:00:00", "s") for r in rows],
                  dtype="datetime64[s]")
    t1 = np.array([np.datetime64(f"{r['year'] + 1:04d}-01-01T00:00:00", "s") for r in rows],
                  dtype="datetime64[s]")
    value = np.array([r["value"] for r in rows], dtype=float)
    sigma_data = np.array([r["sigma"] for r in rows], dtype=float)
    sigma = np.maximum(sigma_data, floor[0] * np.abs(value) + floor[1])
    qc = np.array([int(round(100.0 * (1.0 - r["valid_fraction"]))) for r in rows],
                  dtype=np.int64)
    if n == 0:
        log.warning("%s: no AGB observation at lat=%g lon=%g passed the screening", label,
                    lat, lon)
    attrs = {
        "product": "ESA CCI Biomass above-ground biomass (Santoro et al.)",
        "product_variables": "; ".join(sorted(names)),
        "site_lat": float(lat), "site_lon": float(lon), "radius_km": float(radius_km),
        "n_pixels": "; ".join(str(k) for k in sorted(npix)),
        "n_valid_pixels": "; ".join(str(r["n_valid"]) for r in rows),
        "qc_meaning": "percentage of the selected pixels without valid data",
        "sigma_rule": (f"max(sqrt(area-weighted mean of se^2), {floor[0]:g} value + "
                       f"{floor[1]:g} Mg ha-1)"),
        "window": "nominal product year [Jan 1, Jan 1 of the next year)",
        "n_kept": int(n), **counts,
    }
    return ObservationSet("agb", t0, t1, value, sigma, qc, pft, np.tile(fp_row, (n, 1)), None,
                          label, attrs)


def _read_biomass_file(path: Path, lat: float, lon: float, radius_km: float,
                       value_var: str | None, se_var: str | None) -> list[dict]:
    """Per time step of one file: the area mean, sigma and pixel counts around the site."""
    where = str(path)
    with open_netcdf(path) as ds:
        vname = _find_var(ds, value_var, VALUE_NAMES, where, "above-ground biomass")
        sname = _find_var(ds, se_var, SE_NAMES, where, "above-ground biomass uncertainty")
        grid = _grid(ds, where)
        ci, cj = _containing_pixel(grid, lat, lon, where)
        x = _lon_on_grid(lon, grid["lon"])
        rows, cols = _window(grid, ci, cj, float(lat), x, radius_km)
        glat, glon = grid["lat"][rows], grid["lon"][cols]
        sel = _great_circle_km(float(lat), x, glat[:, None], glon[None, :]) <= radius_km
        sel[ci - rows.start, cj - cols.start] = True
        var = ds.variables[vname]
        tdim = _time_dim(var, grid, where)
        agb = _read_block(var, grid, tdim, rows, cols, where)
        se = _read_block(ds.variables[sname], grid, tdim, rows, cols, where)
        if se.shape != agb.shape:
            raise InputDataError(f"{where}: variables '{vname}' and '{sname}' have different "
                                 f"shapes {agb.shape} and {se.shape}")
        years = _years(ds, tdim, agb.shape[0], path, where)
    w = np.cos(np.radians(glat))[:, None] * np.ones(glon.size)[None, :]
    out = []
    for k in range(agb.shape[0]):
        a, s = agb[k], se[k]
        valid = sel & np.isfinite(a) & np.isfinite(s) & (a >= 0) & (s >= 0)
        nv, ns = int(valid.sum()), int(sel.sum())
        if nv:
            wk = w[valid] / w[valid].sum()
            value = float((wk * a[valid]).sum())
            sigma = float(np.sqrt((wk * s[valid] ** 2).sum()))
        else:
            value = sigma = np.nan
        out.append({"year": years[k], "value": value, "sigma": sigma, "n_valid": nv,
                    "n_pixels": ns, "valid_fraction": nv / ns,
                    "variables": f"{vname}, {sname}"})
    return out


def _window(grid: dict, ci: int, cj: int, lat: float, lon: float, radius_km: float
            ) -> tuple[slice, slice]:
    """Index ranges of the rows and columns that may hold pixels within ``radius_km``."""
    if radius_km == 0.0:
        return slice(ci, ci + 1), slice(cj, cj + 1)
    dlat = np.degrees(radius_km / EARTH_RADIUS_KM)
    dlon = dlat / max(np.cos(np.radians(lat)), 1e-6)
    out = []
    for axis, centre, half_width, k in (("lat", lat, dlat, ci), ("lon", lon, dlon, cj)):
        c = grid[axis]
        pad = 0.5 * np.nan_to_num(_spacing(c))
        idx = np.nonzero(np.abs(c - centre) <= half_width + pad)[0]
        lo, hi = (min(idx.min(), k), max(idx.max(), k)) if idx.size else (k, k)
        out.append(slice(int(lo), int(hi) + 1))
    return out[0], out[1]


def _great_circle_km(lat0: float, lon0: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Haversine distance (km) on a sphere of radius :data:`EARTH_RADIUS_KM`."""
    p0, p = np.radians(lat0), np.radians(lat)
    dphi, dlmb = p - p0, np.radians(lon - lon0)
    h = np.sin(dphi / 2) ** 2 + np.cos(p0) * np.cos(p) * np.sin(dlmb / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _read_block(var, grid: dict, tdim: str | None, rows: slice, cols: slice,
                where: str) -> np.ndarray:
    """(ntime, nrows, ncols) block of a variable, NaN where masked, unpacked."""
    own = _time_dim(var, grid, where)
    if own != tdim:
        raise InputDataError(f"{where}: variable '{var.name}' has dimensions {var.dimensions}, "
                             f"expected those of the main variable (time dimension {tdim!r})")
    index = tuple(slice(None) if d == tdim else rows if d == grid["lat_dim"] else cols
                  for d in var.dimensions)
    try:
        data = var[index]
    except (RuntimeError, OSError, ValueError, IndexError) as exc:
        raise InputDataError(f"{where}: cannot read variable '{var.name}' ({exc})") from None
    arr = np.ma.filled(np.ma.asarray(data, dtype=float), np.nan)
    order = [var.dimensions.index(d) for d in (tdim, grid["lat_dim"], grid["lon_dim"])
             if d is not None]
    arr = np.transpose(arr, order)
    return arr if tdim is not None else arr[None]


def _years(ds, tdim: str | None, ntime: int, path: Path, where: str) -> list[int]:
    """Nominal year of each time step: from the time coordinate, else from the file name."""
    tvar = ds.variables.get(tdim if tdim is not None else "time")
    if tvar is not None and getattr(tvar, "units", None) is not None:
        vals = np.atleast_1d(np.ma.filled(np.ma.asarray(tvar[:], dtype=float), np.nan))
        if vals.size == ntime and np.isfinite(vals).all():
            t = times_from_nc(tvar, where, vals)
            return [int(str(x)[:4]) for x in t.astype("datetime64[Y]")]
    m = FILE_YEAR.search(path.name)
    if m and ntime == 1:
        return [int(m.group(1))]
    raise InputDataError(f"{where}: cannot tell the product year: no decodable time coordinate "
                         "'time' and no '-YYYY-fv' in the file name")
