"""ESA CCI Soil Moisture and C3S Soil Moisture daily images to the observation stream ``sm``.

:func:`read_cci_sm` reads daily global images of the ESA CCI Soil Moisture record (Dorigo et
al. 2017, Remote Sens. Environ. 203, 185-215; Gruber et al. 2019, Earth Syst. Sci. Data 11,
717-739), ``ESACCI-SOILMOISTURE-L3S-SSMV-<COMBINED|PASSIVE>-YYYYMMDD000000-fvXX.Y.nc``, and
of its operational continuation in the Copernicus Climate Change Service (C3S),
``C3S-SOILMOISTURE-L3S-SSMV-<COMBINED|PASSIVE>-DAILY-YYYYMMDD000000-<TCDR|ICDR>-vXXXXXX.nc``,
and returns the surface soil moisture (m3 m-3) of the 0.25-degree cell that contains a site.

Layout (netCDF4 classic, CF-1.6)
--------------------------------
Confirmed on a real ESA CCI SM v05.2 COMBINED file (2016-06-07; a cut-out is in
tests/data/satellite, and the tests compare the reader with it read through netCDF4):
dimensions ``time`` (1), ``lat`` (720, north to south), ``lon`` (1440), cell centres at
0.125 + k * 0.25 degrees; ``sm`` and ``sm_uncertainty`` (float32, ``m3 m-3``, fill -9999,
``valid_range`` 0-1; the uncertainty is the estimated standard deviation of the
observation); ``t0`` (float64, "days since 1970-01-01 00:00:00 UTC", fill -9999: the
observation time of the cell); ``flag`` (int8, fill 127: 0 no inconsistency detected, bit 1
snow or temperature below 0 C, 2 dense vegetation, 4 no convergence, 8 value beyond the
physical boundary, 16 weight of measurement below threshold); ``dnflag``, ``freqbandID``,
``mode``, ``sensor`` (not used).

Not confirmed on a real file: the C3S daily images. Their variable names and units are the
same (TU Wien's ``c3s_sm`` reader reads ``sm``, ``sm_uncertainty``, ``flag``, ``t0``, ``mode``
and ``sensor`` from them); the reader checks every name and unit it uses and stops with an
error naming the file otherwise. The ACTIVE products give soil moisture in percent of
saturation: converting them to m3 m-3 needs the soil porosity, so the reader refuses them.

Choices
-------
- Cell: the one whose edges contain the site (the cell "touches" the site; the gridded value
  already averages the sensors' footprints onto the cell).
- Screening: ``flag`` == 0 (QA4SM's default filter ``FIL_C3S_FLAG_0`` for these products,
  github.com/awst-austria/qa4sm ``validator/fixtures/filters.json``; ``accept_flags``
  changes it), 0 <= sm <= 1, ``t0`` present.
- sigma = max(``sm_uncertainty``, ``sigma_floor``), floor 0.04 m3 m-3 (as for SMOS L2); a
  cell without uncertainty is dropped (``no_uncertainty``).
- Time window: ``t0`` floored to the UTC hour, [t, t + 1 h). qc 0, angle 0; the footprint
  row is the caller's ``footprint`` (the site's PFT fractions).
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputDataError
from ..obs import ObservationSet
from .._progress import progress as _progress_bar
from ._common import Tally
from .smos import cell_index
from .troposif import (as_paths, check_site, describe_sources, footprint_row, hour_window,
                       open_dataset, time_sorted_records, wrap_lon)

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_ACCEPT_FLAGS", "DEFAULT_SIGMA_FLOOR", "CciSmPixel", "read_cci_sm",
           "read_cci_sm_pixel"]

VAR_LAT, VAR_LON = "lat", "lon"
VAR_SM, VAR_UNC, VAR_T0, VAR_FLAG = "sm", "sm_uncertainty", "t0", "flag"
VAR_MODE, VAR_SENSOR = "mode", "sensor"
SM_UNITS = ("m3 m-3", "m3/m3", "m3m-3", "m^3 m^-3")
DEFAULT_ACCEPT_FLAGS = (0,)
DEFAULT_SIGMA_FLOOR = 0.04        # m3 m-3
SM_RANGE = (0.0, 1.0)             # m3 m-3


@dataclass(frozen=True)
class CciSmPixel:
    """The values of one daily image in the cell over a site.

    Attributes
    ----------
    time : datetime64[ms] UTC observation time from ``t0`` (NaT where missing).
    sm, sm_uncertainty : m3 m-3 (NaN where the product stores its fill).
    flag : the product's ``flag`` (-1 where fill).
    cell_lat, cell_lon : centre of the cell, degrees.
    """

    time: np.datetime64
    sm: float
    sm_uncertainty: float
    flag: int
    cell_lat: float
    cell_lon: float


def read_cci_sm_pixel(path: str | os.PathLike, lat: float, lon: float) -> CciSmPixel | None:
    """The values of the cell containing (lat, lon) in one ESA CCI / C3S SM daily image.

    Returns None when the site is outside the file's grid.

    Raises
    ------
    InputDataError
        Missing or unreadable file, another product (a needed variable missing), soil
        moisture not in m3 m-3 (e.g. an ACTIVE product in percent of saturation), or bad
        shapes; the message names the file.
    """
    path = Path(path)
    where = str(path)
    lat, lon = check_site(lat, lon)
    for period in ("DEKADAL", "MONTHLY"):
        if f"-{period}-" in path.name.upper():
            raise InputDataError(f"{where}: a {period.lower()} average (file name); the reader "
                                 "takes daily images, whose t0 is the observation time")
    with open_dataset(path) as ds:
        missing = [n for n in (VAR_LAT, VAR_LON, VAR_SM, VAR_UNC, VAR_T0, VAR_FLAG)
                   if n not in ds.variables]
        if missing:
            raise InputDataError(f"{where}: not an ESA CCI / C3S soil-moisture daily image: "
                                 f"missing variable(s) {', '.join(missing[:3])}"
                                 + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""))
        for name in (VAR_SM, VAR_UNC):
            units = str(getattr(ds.variables[name], "units", "")).strip()
            if units.lower() not in SM_UNITS:
                hint = (" (an ACTIVE product in percent of saturation: converting it to "
                        "m3 m-3 needs the soil porosity; use the COMBINED or PASSIVE product)"
                        if "percent" in units.lower() or "%" in units else "")
                raise InputDataError(f"{where}: variable '{name}' has units '{units}', "
                                     f"expected 'm3 m-3'{hint}")
        try:
            lats = np.ma.filled(np.ma.asarray(ds.variables[VAR_LAT][:], dtype=float), np.nan)
            lons = np.ma.filled(np.ma.asarray(ds.variables[VAR_LON][:], dtype=float), np.nan)
        except (OSError, RuntimeError) as exc:
            raise InputDataError(f"{where}: cannot read the coordinates (truncated or corrupt "
                                 f"file?): {exc}") from None
        if lats.ndim != 1 or lons.ndim != 1 or lats.size < 2 or lons.size < 2 \
                or not (np.isfinite(lats).all() and np.isfinite(lons).all()):
            raise InputDataError(f"{where}: variables 'lat'/'lon' must be complete coordinate "
                                 "vectors of at least two cell centres")
        i = cell_index(lats, lat)
        j = cell_index(wrap_lon(lons), lon, periodic=True)
        if i is None or j is None:
            return None
        dims = {v: ds.variables[v].dimensions for v in (VAR_SM, VAR_UNC, VAR_T0, VAR_FLAG)}
        lat_dim, lon_dim = ds.variables[VAR_LAT].dimensions[0], ds.variables[VAR_LON].dimensions[0]

        def pixel(name):
            v = ds.variables[name]
            d = dims[name]
            if len(d) < 2 or d[-2:] != (lat_dim, lon_dim) or any(s != 1 for s in v.shape[:-2]):
                raise InputDataError(f"{where}: variable '{name}' has dimensions {d} "
                                     f"{v.shape}, expected (time=1, {lat_dim}, {lon_dim})")
            try:
                x = np.ma.asarray(v[(0,) * (len(d) - 2) + (i, j)])
            except (OSError, RuntimeError, IndexError) as exc:
                raise InputDataError(f"{where}: cannot read variable '{name}' (truncated or "
                                     f"corrupt file?): {exc}") from None
            if np.ma.getmaskarray(x).any():
                return math.nan
            return float(np.asarray(x, dtype=float).ravel()[0])

        sm, unc, t0, flag = pixel(VAR_SM), pixel(VAR_UNC), pixel(VAR_T0), pixel(VAR_FLAG)
        tvar = ds.variables[VAR_T0]
        units = str(getattr(tvar, "units", ""))
    time = np.datetime64("NaT", "ms")
    if math.isfinite(t0):
        time = _days_since(units, t0, where)
    return CciSmPixel(time, sm, unc, int(flag) if math.isfinite(flag) else -1,
                      float(lats[i]), float(wrap_lon(lons[j])))


def read_cci_sm(paths: str | os.PathLike | Iterable[str | os.PathLike], lat: float, lon: float,
                footprint: Mapping[int, float], *,
                accept_flags: Sequence[int] | None = DEFAULT_ACCEPT_FLAGS,
                period: tuple[np.datetime64, np.datetime64] | None = None,
                sigma_floor: float | None = None, tally: Tally | None = None,
                progress: bool | None = False) -> ObservationSet:
    """Read ESA CCI SM / C3S SM daily images and return the site's soil moisture (``sm``).

    Parameters
    ----------
    paths : str, os.PathLike or an iterable of them
        Daily images (one value per file at most), any order.
    lat, lon : float
        Site latitude and longitude, degrees.
    footprint : dict[int, float]
        PFT fractions (BETHY code -> fraction) given to every observation.
    accept_flags : sequence of int or None, default (0,)
        Accepted ``flag`` values; None accepts any.
    period : (datetime64, datetime64) or None
        UTC [start, end): values whose hourly window is not inside are dropped.
    sigma_floor : float or None
        Lower bound of sigma, m3 m-3 (default 0.04).
    tally : Tally or None
        If given, the counts read / kept / dropped (by reason) are added to it; every file
        counts as one record (its cell over the site).
    progress : bool or None, default False
        Progress bar over the files.

    Returns
    -------
    ObservationSet
        Stream ``sm`` sorted by time, qc 0, window [hour of t0, + 1 h), angle 0.

    Raises
    ------
    InputDataError
        A file is missing, truncated, of another product or in other units (named).
    ConfigError
        Invalid site, footprint or options.
    """
    files = as_paths(paths)
    lat, lon = check_site(lat, lon)
    pft, row = footprint_row(footprint)
    floor = DEFAULT_SIGMA_FLOOR if sigma_floor is None else float(sigma_floor)
    if not (floor > 0 and math.isfinite(floor)):
        raise ConfigError(f"sigma_floor must be > 0 m3 m-3, got {sigma_floor}")
    if accept_flags is not None:
        accept_flags = tuple(int(f) for f in accept_flags)
        if not accept_flags:
            raise ConfigError("accept_flags must list the accepted flag values (e.g. (0,)) "
                              "or be None")
    own = Tally()
    times, values, sigmas, cells = [], [], [], set()
    for f in _progress_bar(files, total=len(files), desc="CCI SM", enabled=progress,
                            unit="file"):
        own.files += 1
        own.read += 1
        px = read_cci_sm_pixel(f, lat, lon)
        if px is None:
            own.drop("outside_grid")
            continue
        cells.add((px.cell_lat, px.cell_lon))
        reason = ""
        if not math.isfinite(px.sm):
            reason = "no_retrieval"
        elif accept_flags is not None and px.flag not in accept_flags:
            reason = "flag"
        elif not (SM_RANGE[0] <= px.sm <= SM_RANGE[1]):
            reason = "out_of_range"
        elif np.isnat(px.time):
            reason = "no_time"
        elif not (math.isfinite(px.sm_uncertainty) and px.sm_uncertainty >= 0):
            reason = "no_uncertainty"
        elif period is not None:
            t0, t1 = hour_window(np.array([px.time]))
            if not (t0[0] >= period[0] and t1[0] <= period[1]):
                reason = "outside_period"
        if reason:
            own.drop(reason)
            continue
        times.append(px.time)
        values.append(px.sm)
        sigmas.append(max(px.sm_uncertainty, floor))
        own.kept += 1
    t, value, sigma, t0, t1 = time_sorted_records(times, values, sigmas)
    n = t.size
    if tally is not None:
        tally.add(own)
    source = describe_sources(files)
    if n == 0 and tally is None:   # a caller with a tally reports the counts itself
        log.warning("%s: no CCI/C3S soil moisture for the site (%.4f N, %.4f E) passed the "
                    "screening (%s)", source, lat, lon, own.summary())
    attrs = {
        "product": "ESA CCI Soil Moisture / C3S Soil Moisture daily image (0.25 degree)",
        "variable": VAR_SM,
        "source_files": ", ".join(f.name for f in files),
        "site_lat": lat, "site_lon": lon,
        "cell_centre": "; ".join(f"{a:.4f} N {b:.4f} E" for a, b in sorted(cells)),
        "screening": (f"flag in {list(accept_flags) if accept_flags else 'any'}, "
                      "0 <= sm <= 1, t0 and sm_uncertainty present"),
        "sigma": f"max(sm_uncertainty, {floor:g})",
        "sigma_floor": floor,
        "time_window": "t0 floored to the UTC hour, [t, t + 1 h)",
        "qc_meaning": "0 = value passed the reader's screening",
        **own.as_attrs(),
    }
    obs = ObservationSet("sm", t0, t1, value, sigma, np.zeros(n, dtype=int), pft,
                         np.tile(row, (n, 1)), np.zeros(n), source, attrs)
    obs.validate()
    return obs


def _days_since(units: str, value: float, where: str) -> np.datetime64:
    """A CF 'days since <date>' number as datetime64[ms] (UTC)."""
    u = units.strip()
    head, _, ref = u.partition(" since ")
    if head.strip().lower() != "days" or not ref:
        raise InputDataError(f"{where}: variable '{VAR_T0}' has units '{units}', expected "
                             "'days since <date>'")
    ref = ref.strip().replace(" UTC", "").replace("Z", "").strip()
    try:
        epoch = np.datetime64(ref.replace(" ", "T"), "ms")
    except ValueError:
        raise InputDataError(f"{where}: variable '{VAR_T0}': cannot read the reference date "
                             f"of units '{units}'") from None
    return epoch + np.timedelta64(int(round(value * 86_400_000)), "ms")
