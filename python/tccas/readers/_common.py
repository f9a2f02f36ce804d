"""Helpers shared by the readers of third-party files (flux towers, satellite products).

Everything here is public so that the reader modules import it by its own name:

- missing values and gap filling: :data:`MISSING`, :func:`is_missing`, :func:`interp_missing`,
  :func:`first_unfillable_gap`;
- observation sets: :func:`footprint_row`, :func:`sigma_floor_pair`, :func:`quadrature_sum`,
  :data:`UMOL_CO2_TO_GC_PER_DAY`;
- time: :func:`utc_offset` (checks a UTC offset), :func:`whole_utc_days` (local standard
  time to UTC, cut to whole UTC days),
  :func:`solar_geometry` (cosine of the solar zenith angle, local solar hour),
  :func:`solar_noon_offset` (checks time stamps against the Sun);
- satellite products over a case: :func:`great_circle_km`, :func:`footprint_touches`,
  :func:`site_footprint` (a case's site and PFT fractions) and :class:`Tally` (records read,
  kept and dropped by reason);
- forcing that a tower file does not carry: :func:`deep_soil_temperature` (the 30-day
  trailing mean that stands in for the deep-soil temperature) and :func:`global_mean_co2`
  (the NOAA global-mean CO2 record).
"""
from __future__ import annotations

import logging

import numpy as np

from ..errors import ConfigError, InputDataError
from ..io import running_mean
from ..parameters import PFT_NAMES

log = logging.getLogger(__name__)

__all__ = ["DEEP_SOIL_WINDOW_HOURS", "GLOBAL_MEAN_CO2_PPM", "MISSING", "SOLAR_NOON_TOLERANCE_HOURS",
           "UMOL_CO2_TO_GC_PER_DAY",
           "deep_soil_temperature", "first_unfillable_gap", "footprint_row", "global_mean_co2",
           "interp_missing", "is_missing", "quadrature_sum", "sigma_floor_pair",
           "solar_geometry", "solar_noon_offset", "utc_offset", "whole_utc_days"]

MISSING = -9999.0                               # fill value of FLUXNET2015, ICOS and PLUMBER2
UMOL_CO2_TO_GC_PER_DAY = 12.011e-6 * 86400.0    # (g C m-2 d-1) per (umol CO2 m-2 s-1)
DEEP_SOIL_WINDOW_HOURS = 24 * 30                # trailing running mean giving tsl_deep
SOLAR_NOON_TOLERANCE_HOURS = 1.5                # |solar_noon_offset| above this: wrong offset

# Globally averaged marine-surface annual mean CO2 mole fraction (ppm, dry air), NOAA Global
# Monitoring Laboratory, file co2_annmean_gl.txt (release of 2024, 1979-2023): Lan, X., Tans, P.
# and Thoning, K. W., Trends in globally-averaged CO2 determined from NOAA Global Monitoring
# Laboratory measurements, https://gml.noaa.gov/ccgg/trends/gl_data.html. The record is revised
# by a few hundredths of a ppm between releases, far below what matters for photosynthesis.
GLOBAL_MEAN_CO2_PPM: dict[int, float] = {
    1979: 336.85, 1980: 338.91, 1981: 340.11, 1982: 340.86, 1983: 342.53, 1984: 344.07,
    1985: 345.54, 1986: 346.97, 1987: 348.68, 1988: 351.16, 1989: 352.78, 1990: 354.05,
    1991: 355.39, 1992: 356.09, 1993: 356.83, 1994: 358.33, 1995: 360.17, 1996: 361.93,
    1997: 363.05, 1998: 365.70, 1999: 367.80, 2000: 368.96, 2001: 370.57, 2002: 372.59,
    2003: 375.15, 2004: 376.95, 2005: 378.98, 2006: 381.15, 2007: 382.90, 2008: 385.02,
    2009: 386.50, 2010: 388.76, 2011: 390.63, 2012: 392.65, 2013: 395.40, 2014: 397.34,
    2015: 399.65, 2016: 403.06, 2017: 405.22, 2018: 407.61, 2019: 410.07, 2020: 412.44,
    2021: 414.70, 2022: 417.07, 2023: 419.31,
}


def is_missing(v: np.ndarray) -> np.ndarray:
    """True where ``v`` is NaN, infinite or the fill value -9999."""
    v = np.asarray(v, dtype=float)
    return ~np.isfinite(v) | (v == MISSING)


def interp_missing(v: np.ndarray, bad: np.ndarray) -> np.ndarray:
    """``v`` with the entries where ``bad`` is True linearly interpolated in record index from
    the good ones (the nearest good value at either end). ``bad`` must not be all True."""
    if not bad.any():
        return v
    idx, good = np.nonzero(bad)[0], np.nonzero(~bad)[0]
    out = np.array(v, dtype=float)
    out[idx] = np.interp(idx, good, out[good])
    return out


def first_unfillable_gap(bad: np.ndarray, max_gap: int) -> tuple[int, int] | None:
    """The first run of missing records (``bad`` True) that linear interpolation may not fill
    (longer than ``max_gap`` records, or touching either end), as (start, stop) record indices
    with stop exclusive; None when every gap may be filled with :func:`interp_missing`.

    Examples
    --------
    >>> first_unfillable_gap(np.array([False, True, False, True, True, True, False]), 2)
    (3, 6)
    >>> first_unfillable_gap(np.array([False, True, True, False]), 2) is None
    True
    """
    edges = np.diff(np.concatenate(([0], np.asarray(bad).astype(np.int8), [0])))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    unfillable = (ends - starts > max_gap) | (starts == 0) | (ends == len(bad))
    if not unfillable.any():
        return None
    return int(starts[unfillable][0]), int(ends[unfillable][0])


def quadrature_sum(parts: list[np.ndarray], n: int) -> np.ndarray:
    """Square root of the sum of squares of the uncertainty components in ``parts`` (arrays of
    length ``n``, NaN where a component is not available), leaving out missing components;
    NaN where none is available.

    Examples
    --------
    >>> quadrature_sum([np.array([3.0, np.nan, np.nan]), np.array([4.0, 2.0, np.nan])], 3)
    array([ 5.,  2., nan])
    """
    if not parts:
        return np.full(n, np.nan)
    sq = np.array(parts, dtype=float) ** 2
    have = np.isfinite(sq).any(axis=0)
    return np.where(have, np.sqrt(np.nansum(np.where(np.isfinite(sq), sq, 0.0), axis=0)),
                    np.nan)


def sigma_floor_pair(floor: float | tuple[float, float], where: str) -> tuple[float, float]:
    """(relative, absolute) lower bound of an observation's sigma from a number (absolute
    floor) or a pair; sigma >= relative * |value| + absolute.

    Raises
    ------
    ConfigError
        Not a number or pair, negative relative part or non-positive absolute part.
    """
    try:
        rel, absolute = (0.0, float(floor)) if np.ndim(floor) == 0 else map(float, floor)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: sigma_floor must be a number or a pair (relative, "
                          f"absolute), got {floor!r}") from None
    if not (np.isfinite(rel) and np.isfinite(absolute) and rel >= 0.0 and absolute > 0.0):
        raise ConfigError(f"{where}: sigma_floor (relative={rel:g}, absolute={absolute:g}) "
                          "needs relative >= 0 and absolute > 0 so that every sigma is positive")
    return rel, absolute


def footprint_row(footprint: dict[int, float], where: str) -> tuple[tuple[int, ...], np.ndarray]:
    """PFT codes (sorted) of a footprint mapping {BETHY code: fraction} and the matching row of
    fractions.

    Raises
    ------
    ConfigError
        Empty mapping, a code outside 1..13, fractions outside [0, 1] or summing above 1.
    """
    if not isinstance(footprint, dict) or not footprint:
        raise ConfigError(f"{where}: footprint must be a non-empty mapping of BETHY PFT code "
                          f"to fraction, e.g. {{3: 0.2, 9: 0.8}}; got {footprint!r}")
    codes = []
    for c in footprint:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or int(c) not in PFT_NAMES:
            raise ConfigError(f"{where}: footprint PFT code {c!r} is not a BETHY code 1..13")
        codes.append(int(c))
    pft = tuple(sorted(codes))
    row = np.array([float(footprint[c]) for c in sorted(footprint, key=int)])
    if not np.isfinite(row).all() or (row < 0).any() or (row > 1).any():
        raise ConfigError(f"{where}: footprint fractions must be within [0, 1], got "
                          f"{dict(zip(pft, row.tolist()))}")
    if not 0.0 < row.sum() <= 1.0 + 1e-6:
        raise ConfigError(f"{where}: footprint fractions must sum to a value in (0, 1], got "
                          f"{row.sum():g}")
    return pft, row


def utc_offset(utc_offset_hours: float | None, where: str) -> float:
    """``utc_offset_hours`` as a float after checking it is a number within [-14, 14] h.

    Raises
    ------
    ConfigError
        Missing (None), not a number or out of range; the message says where it is needed.
    """
    try:
        value = float(utc_offset_hours)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: utc_offset_hours is required (a number of hours: the "
                          "file's time stamps are local standard time), got "
                          f"{utc_offset_hours!r}") from None
    if not (np.isfinite(value) and -14.0 <= value <= 14.0):
        raise ConfigError(f"{where}: utc_offset_hours={value:g} must be within [-14, 14]")
    return value


def whole_utc_days(times: np.ndarray, step: int, utc_offset_hours: float,
                   where: str) -> tuple[slice, np.ndarray]:
    """Shift record start times from local standard time to UTC and keep whole UTC days.

    Parameters
    ----------
    times : datetime64 array
        Start times of regular records (local standard time).
    step : int
        Record length in s (1800 or 3600).
    utc_offset_hours : float
        Local standard time minus UTC, h (e.g. +8 in China, -6 in Oklahoma); within [-14, 14]
        and a multiple of the step.
    where : str
        File name for messages.

    Returns
    -------
    keep : slice
        The records from the first one starting at 00 UTC to the end of the last whole UTC day.
    utc : datetime64[s] array
        The kept records' start times in UTC.

    Raises
    ------
    ConfigError
        Offset out of range or not a multiple of the step.
    InputDataError
        The records do not cover one whole UTC day.
    """
    shift = int(round(utc_offset(utc_offset_hours, where) * 3600.0))
    if abs(shift) > 14 * 3600 or shift % step:
        raise ConfigError(f"{where}: utc_offset_hours={utc_offset_hours:g} must be within "
                          f"[-14, 14] and a multiple of the file's {step // 60}-min step")
    utc = np.asarray(times).astype("datetime64[s]") - np.timedelta64(shift, "s")
    midnight = np.nonzero((utc - utc.astype("datetime64[D]")).astype(np.int64) == 0)[0]
    i0 = int(midnight[0]) if midnight.size else utc.size
    per_day = 86400 // step
    n = (utc.size - i0) // per_day * per_day
    if n == 0:
        raise InputDataError(f"{where}: the records do not cover a whole UTC day "
                             f"(UTC offset {utc_offset_hours:g} h)")
    keep = slice(i0, i0 + n)
    return keep, utc[keep]


def solar_geometry(t: np.ndarray, lat: float, lon: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine of the solar zenith angle, local solar hour and Sun-Earth distance factor.

    Parameters
    ----------
    t : datetime64 array
        UTC instants.
    lat, lon : float
        Degrees north and east.

    Returns
    -------
    cos_zenith, solar_hour (h, 0-24), e0 (1): declination, equation of time and the
    eccentricity factor from the Fourier series of Spencer (1971), Search 2(5), 172.
    """
    day = t.astype("datetime64[D]")
    doy = (day - t.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.int64)
    hour = (t - day).astype("timedelta64[s]").astype(np.int64) / 3600.0
    g = 2.0 * np.pi * (doy + (hour - 12.0) / 24.0) / 365.0
    decl = (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))
    eot = 229.18 * (0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g)
                    - 0.014615 * np.cos(2 * g) - 0.040849 * np.sin(2 * g))  # minutes
    e0 = (1.000110 + 0.034221 * np.cos(g) + 0.001280 * np.sin(g) + 0.000719 * np.cos(2 * g)
          + 0.000077 * np.sin(2 * g))
    solar_hour = (hour + lon / 15.0 + eot / 60.0) % 24.0
    phi = np.radians(lat)
    cz = (np.sin(phi) * np.sin(decl)
          + np.cos(phi) * np.cos(decl) * np.cos(np.radians(15.0 * (solar_hour - 12.0))))
    return cz, solar_hour, e0


def solar_noon_offset(times: np.ndarray, rsds: np.ndarray, lat: float, lon: float) -> float:
    """Short-wave-weighted mean local solar hour of a forcing record minus 12 h (circular mean;
    hours, within [-12, 12]); NaN without sunlight.

    With correct UTC time stamps (start of each hourly step) this is a few minutes at most;
    an error in the UTC offset of the file shifts it by the same number of hours, so readers
    use it to catch a wrong offset.
    """
    rsds = np.asarray(rsds, dtype=float)
    if not np.isfinite(rsds).all() or rsds.sum() <= 0:
        return float("nan")
    _, hour, _ = solar_geometry(np.asarray(times).astype("datetime64[s]")
                                + np.timedelta64(1800, "s"), lat, lon)
    angle = 2.0 * np.pi * hour / 24.0
    centre = np.arctan2((rsds * np.sin(angle)).sum(), (rsds * np.cos(angle)).sum())
    return float((centre * 24.0 / (2.0 * np.pi) - 12.0 + 12.0) % 24.0 - 12.0)


def deep_soil_temperature(tas_or_tsoil: np.ndarray) -> np.ndarray:
    """``tsl_deep`` (K) of the forcing: the 30-day trailing running mean of a soil temperature
    series, or of the air temperature where the file has none (hourly input, K)."""
    return running_mean(np.asarray(tas_or_tsoil, dtype=float), DEEP_SOIL_WINDOW_HOURS)


def global_mean_co2(times: np.ndarray, where: str = "") -> np.ndarray:
    """Global-mean CO2 mole fraction (mol mol-1) at ``times`` from :data:`GLOBAL_MEAN_CO2_PPM`.

    The annual means are placed at the middle of their years and interpolated linearly in time
    (no jump on 1 January); before the first or after the last year of the record the nearest
    annual mean is held, with a warning naming ``where``.
    """
    t = np.asarray(times).astype("datetime64[s]")
    years = np.array(sorted(GLOBAL_MEAN_CO2_PPM))
    mid = np.array([np.datetime64(f"{y}-07-02T12:00", "s") for y in years])
    ppm = np.array([GLOBAL_MEAN_CO2_PPM[int(y)] for y in years])
    x = t.astype(np.int64).astype(float)
    y0, y1 = t.min().astype("datetime64[Y]").astype(int) + 1970, \
        t.max().astype("datetime64[Y]").astype(int) + 1970
    if y0 < years[0] or y1 > years[-1]:
        log.warning("%s: global-mean CO2 record covers %d-%d; the nearest annual mean is held "
                    "for %d-%d", where, years[0], years[-1], y0, y1)
    return np.interp(x, mid.astype(np.int64).astype(float), ppm) * 1e-6


# ---- satellite products over a case: geodesy, site footprints, screening tallies ----------
# (tccas.readers.smos_l2, cci_sm, ascat and tccas.obsdb)

import os as _os
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field
from pathlib import Path as _Path

import numpy as _np

EARTH_RADIUS_KM = 6371.0088     # mean Earth radius (IUGG), km


def great_circle_km(lat0: float, lon0: float, lat, lon) -> _np.ndarray:
    """Great-circle (haversine) distance in km from (lat0, lon0) to each (lat, lon).

    Parameters
    ----------
    lat0, lon0 : float
        Reference point, degrees north / east.
    lat, lon : array_like
        Points, degrees north / east (any longitude convention: -180..180 or 0..360).

    Returns
    -------
    numpy.ndarray
        Distances in km on a sphere of radius :data:`EARTH_RADIUS_KM` (NaN where a
        coordinate is NaN).
    """
    p0 = _np.radians(lat0)
    p = _np.radians(_np.asarray(lat, dtype=float))
    dlam = _np.radians(_np.asarray(lon, dtype=float) - lon0)
    a = (_np.sin((p - p0) / 2.0) ** 2
         + _np.cos(p0) * _np.cos(p) * _np.sin(dlam / 2.0) ** 2)
    return 2.0 * EARTH_RADIUS_KM * _np.arcsin(_np.sqrt(_np.clip(a, 0.0, 1.0)))


def footprint_touches(site_lat: float, site_lon: float, lat, lon,
                      radius_km: float) -> _np.ndarray:
    """Whether a circular sensor footprint centred on each (lat, lon) contains the site.

    A footprint of radius ``radius_km`` (km) "touches" the site when the great-circle
    distance between its centre and the site is at most ``radius_km``. Returns a boolean
    array (False where a centre coordinate is missing).
    """
    d = great_circle_km(site_lat, site_lon, lat, lon)
    return _np.isfinite(d) & (d <= radius_km)


@_dataclass(frozen=True)
class SiteFootprint:
    """The PFT fractions that an observation touching a site's cell is given.

    Attributes
    ----------
    name : site name (from the static file's ``site_name`` or its file name).
    lat, lon : site latitude and longitude, degrees north / east (-180..180).
    pft : BETHY PFT codes of the cell's tiles.
    fraction : cover fraction of each PFT in the cell (sum 1).
    source : the static file they were read from.
    """

    name: str
    lat: float
    lon: float
    pft: tuple[int, ...]
    fraction: tuple[float, ...]
    source: str = ""

    def as_dict(self) -> dict[int, float]:
        """``{pft_code: fraction}`` as the readers' ``footprint`` argument takes it."""
        return dict(zip(self.pft, self.fraction))


def site_footprint(static: str | _os.PathLike) -> SiteFootprint:
    """The site and PFT fractions of a case's static file (``lat``, ``lon``, ``pft``,
    ``pft_fraction``).

    A site case is one model cell. An observation whose footprint touches the site is given
    the cell's PFT fractions: the sensor footprint (tens of km for SMOS or a 0.25-degree
    cell for ESA CCI SM) is assumed to have the same cover as the cell. This is the
    approximation the existing readers make too (their ``footprint`` argument is one
    ``{pft: fraction}`` row used for every observation); a land-cover map of the footprint
    would replace it in a regional run.

    Raises
    ------
    InputDataError
        The static file is missing or invalid (see :func:`tccas.io.read_static`).
    """
    from ..io import read_static
    s = read_static(static)
    lon = (float(s.lon) + 180.0) % 360.0 - 180.0
    return SiteFootprint(str(s.name), float(s.lat), lon, tuple(int(c) for c in s.pft),
                         tuple(float(f) for f in s.pft_fraction), str(_Path(static)))


@_dataclass
class Tally:
    """Counts of the records a reader read, kept and dropped (with the reason of each drop).

    ``read`` counts every record met in the files (all grid points or swath cells),
    ``kept`` those returned, ``dropped[reason]`` the others; ``read == kept +
    sum(dropped.values())`` holds after every complete file.
    """

    read: int = 0
    kept: int = 0
    dropped: dict[str, int] = _field(default_factory=dict)
    files: int = 0

    def drop(self, reason: str, n: int | _np.integer = 1) -> None:
        """Count ``n`` records dropped for ``reason`` (nothing when n == 0)."""
        n = int(n)
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    def add(self, other: "Tally") -> None:
        """Add the counts of ``other`` to this tally."""
        self.read += other.read
        self.kept += other.kept
        self.files += other.files
        for k, v in other.dropped.items():
            self.drop(k, v)

    def as_attrs(self, prefix: str = "n_") -> dict[str, int]:
        """The counts as netCDF global attributes (``n_read``, ``n_kept``, ``n_<reason>``)."""
        out = {f"{prefix}files": self.files, f"{prefix}read": self.read,
               f"{prefix}kept": self.kept}
        out.update({f"{prefix}{k}": v for k, v in sorted(self.dropped.items())})
        return out

    def summary(self) -> str:
        """One line: ``read N, kept K, dropped D (reason n, ...)``, largest reasons first."""
        total = sum(self.dropped.values())
        reasons = ", ".join(f"{k} {v}" for k, v in
                            sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"{self.files} file(s): read {self.read}, kept {self.kept}, dropped {total}"
                + (f" ({reasons})" if reasons else ""))


__all__ += ["EARTH_RADIUS_KM", "SiteFootprint", "Tally", "footprint_touches",
           "great_circle_km", "site_footprint"]
