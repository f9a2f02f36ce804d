"""FLUXNET2015 and ICOS ETC L2 site CSV files: hourly forcing and flux observations.

- :func:`read_fluxnet_forcing`: meteorological columns to hourly forcing.
- :func:`read_fluxnet_obs`: NEE, GPP or latent heat flux records to an
  :class:`tccas.obs.ObservationSet` (streams ``nee``, ``gpp``, ``le``).

Confirmed on a real file: the FLUXNET2015 SUBSET daily (DD) file of US-AR1 (tests/data,
tests/test_fluxnet.py). Half-hourly and hourly FULLSET files and ICOS ETC L2 files are read
by the same column rules but were tested on files written to the documented layout.

Column names, units and QC conventions are those of the FLUXNET2015 dataset (Pastorello et al.
2020, Sci. Data 7, 225), which ICOS ETC L2 "FLUXNET" files share; variable list at
https://fluxnet.org/data/fluxnet2015-dataset/fullset-data-product/
"""
from __future__ import annotations

import gzip
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputDataError
from ..io import Forcing, check_forcing
from ..obs import STREAMS, ObservationSet
from ._common import (MISSING, SOLAR_NOON_TOLERANCE_HOURS, UMOL_CO2_TO_GC_PER_DAY,
                      deep_soil_temperature, first_unfillable_gap, footprint_row,
                      interp_missing, is_missing, quadrature_sum, sigma_floor_pair,
                      solar_geometry, solar_noon_offset, whole_utc_days)

log = logging.getLogger(__name__)

DEFAULT_CO2 = 400.0e-6      # mol mol-1, used when CO2_F_MDS is absent or entirely missing
SOLAR_CONSTANT = 1361.0     # W m-2
DTR_CLEAR = 15.0            # K, diurnal temperature range of a daily file's day with kt = 1
T_MAX_SOLAR_HOUR = 15.0     # local solar hour of the daily temperature maximum
# canonical name -> (column, scale, offset): canonical = column * scale + offset.
# P_F is an amount per record (mm); it is turned into a flux when records become hours.
REQUIRED = {"tas": ("TA_F", 1.0, 273.15), "rsds": ("SW_IN_F", 1.0, 0.0),
            "rlds": ("LW_IN_F", 1.0, 0.0), "pr": ("P_F", 1.0, 0.0),
            "vpd": ("VPD_F", 100.0, 0.0), "ps": ("PA_F", 1000.0, 0.0),
            "sfcWind": ("WS_F", 1.0, 0.0)}
OPTIONAL = {"co2": ("CO2_F_MDS", 1.0e-6, 0.0), "tsl_deep": ("TS_F_MDS_1", 1.0, 273.15)}
DAY_NIGHT = (("TA_F_DAY", "TA_F_NIGHT"), ("TA_F_MDS_DAY", "TA_F_MDS_NIGHT"))


def read_fluxnet_forcing(path: str | os.PathLike, utc_offset_hours: float | None = None,
                         lat: float | None = None, lon: float | None = None, *,
                         max_gap_records: int = 0) -> Forcing:
    """Read a FLUXNET2015 (FULLSET/SUBSET) or ICOS ETC L2 CSV file as hourly forcing.

    Parameters
    ----------
    path : str or os.PathLike
        Half-hourly (HH) or hourly (HR) file with ``TIMESTAMP_START`` (YYYYMMDDHHMM), or daily
        (DD) file with ``TIMESTAMP`` (YYYYMMDD); plain or gzip-compressed (name ending .gz).
        Columns used: TA_F (degC), SW_IN_F (W m-2), LW_IN_F (W m-2), VPD_F (hPa), PA_F (kPa),
        P_F (mm per record), WS_F (m s-1) are required; CO2_F_MDS (umol mol-1), TS_F_MDS_1
        (degC) and, for DD files, TA_F_DAY / TA_F_NIGHT or TA_F_MDS_DAY / TA_F_MDS_NIGHT (degC)
        are optional.
    utc_offset_hours : float, optional
        Offset of the file's time stamps from UTC in hours (FLUXNET: local standard time,
        UTC_OFFSET of the site metadata, e.g. -6 for US-AR1). Required for HH/HR files and
        must be a multiple of their step; not used for DD files (see Notes).
    lat, lon : float, optional
        Site latitude (degrees_north) and longitude (degrees_east); required for DD files.
        With HH/HR files they are used to check the UTC offset: a warning is logged when the
        short-wave-weighted mean solar hour is more than 1.5 h from noon.
    max_gap_records : int, default 0
        Longest run of missing (-9999) records of a required column that is filled by linear
        interpolation (in records of the file's own step). 0: any missing value is an error.

    Returns
    -------
    Forcing
        Hourly steps (start times, UTC) from 00 UTC of the first whole UTC day to the end of
        the last whole one, in canonical units, checked with :func:`tccas.io.check_forcing`.

    Raises
    ------
    InputDataError
        The file is missing, lacks a required column, has irregular time stamps, has gaps
        that are not filled, covers no whole UTC day or has implausible values.
    ConfigError
        ``utc_offset_hours`` (HH/HR) or ``lat``/``lon`` (DD) are missing or invalid.

    Notes
    -----
    HH/HR files are shifted to UTC, trimmed to whole UTC days and averaged over the two
    half-hours of each hour (P_F summed); precipitation becomes mm / 3600 s = kg m-2 s-1.
    Only the kept records are checked for gaps; a gap at either end of them is never filled.
    Negative SW_IN_F and VPD_F (sensor offsets) are set to 0. CO2_F_MDS gaps are filled by
    linear interpolation, holding the nearest value at the ends (with a warning); an absent or
    all-missing column gives :data:`DEFAULT_CO2`. ``tsl_deep`` is the 30-day trailing running
    mean of TS_F_MDS_1, whose missing values are replaced by TA_F (so that there it equals the
    fallback used without the column: the running mean of ``tas``).

    DD files: the local day D is taken as UTC day D (a shift of < 1 day, ignored). Short-wave
    is distributed over the hours proportionally to the hourly mean of max(cos(zenith), 0)
    (Spencer 1971 declination and equation of time, 10-min sub-samples), preserving the daily
    mean (evenly on a day without sun, e.g. polar night). Temperature is the daily means
    linearly interpolated between 12 UTC of each day, plus a 24-h cosine peaking at 15 h local
    solar time, each corrected by a constant per day so that each UTC day's mean equals TA_F
    exactly. The cosine's amplitude, interpolated like
    the means, is pi/4 (T_day - T_night) when day/night means are given, else DTR_CLEAR / 2 *
    kt with kt the daily clearness index SW_IN_F / top-of-atmosphere irradiance. Precipitation
    is spread evenly (mm/day / 86400 s); the other variables are constant over the day.
    """
    path = Path(path)
    where = str(path)
    if max_gap_records < 0:
        raise ConfigError(f"{where}: max_gap_records must be >= 0, got {max_gap_records}")
    cols, tcol = _read_csv(path, where)
    stamps = cols[tcol]
    times = _parse_times(stamps, tcol, where)
    daily = tcol == "TIMESTAMP"
    if daily:
        if lat is None or lon is None:
            raise ConfigError(f"{where}: daily (DD) files need the site's lat and lon for the "
                              "diurnal cycle of short-wave radiation")
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 360.0):
            raise ConfigError(f"{where}: lat={lat} or lon={lon} out of range")
        _check_step(times, stamps, tcol, where, (86400,))
        keep = slice(0, times.size)
        times = times[keep]
    else:
        if utc_offset_hours is None:
            raise ConfigError(
                f"{where}: utc_offset_hours is required: FLUXNET time stamps are local standard "
                "time; give the site's UTC offset (UTC_OFFSET in the site metadata)")
        step = _check_step(times, stamps, tcol, where, (1800, 3600))
        keep, times = whole_utc_days(times, step, utc_offset_hours, where)
    stamps = stamps[keep]

    raw = {name: _fill_required(cols[col][keep], col, stamps, tcol, where, max_gap_records)
           for name, (col, _, _) in REQUIRED.items()}
    rec = {name: raw[name] * scale + offset for name, (_, scale, offset) in REQUIRED.items()}
    rec["rsds"] = np.maximum(rec["rsds"], 0.0)
    rec["vpd"] = np.maximum(rec["vpd"], 0.0)
    col, scale, _ = OPTIONAL["co2"]
    co2 = cols[col][keep] if col in cols else np.full(times.size, MISSING)
    bad = is_missing(co2)
    if bad.all():
        log.warning("%s: column '%s' absent or all missing: using constant CO2 of %g mol mol-1",
                    where, col, DEFAULT_CO2)
        rec["co2"] = np.full(times.size, DEFAULT_CO2)
    else:
        if bad.any():
            log.warning("%s: column '%s': %d missing record(s) filled by linear interpolation "
                        "(nearest value at the ends)", where, col, int(bad.sum()))
        rec["co2"] = interp_missing(co2, bad) * scale
    col, _, offset = OPTIONAL["tsl_deep"]
    ts = cols[col][keep] if col in cols else None
    if ts is not None:
        bad = is_missing(ts)
        if bad.all():
            ts = None
        elif bad.any():
            log.warning("%s: column '%s': %d missing record(s) replaced by TA_F", where, col,
                        int(bad.sum()))
        if ts is not None:
            ts = np.where(bad, raw["tas"], ts) + offset

    if daily:
        day_night = next(((cols[dc][keep], cols[nc][keep]) for dc, nc in DAY_NIGHT
                          if dc in cols and nc in cols), None)
        times, data = _daily_to_hourly(times, rec, float(lat), float(lon), day_night)
        if ts is not None:
            ts = np.repeat(ts, 24)
    else:
        k = 3600 // step
        data = {name: v.reshape(-1, k).mean(axis=1) for name, v in rec.items()}
        data["pr"] = rec["pr"].reshape(-1, k).sum(axis=1) / 3600.0
        times = times[::k]
        if ts is not None:
            ts = ts.reshape(-1, k).mean(axis=1)
    data["tsl_deep"] = deep_soil_temperature(ts if ts is not None else data["tas"])
    forcing = Forcing(times.astype("datetime64[s]"), data, where)
    check_forcing(forcing, where)
    if not daily and lat is not None and lon is not None:
        off = solar_noon_offset(forcing.times, forcing.data["rsds"], float(lat), float(lon))
        if abs(off) > SOLAR_NOON_TOLERANCE_HOURS:
            log.warning("%s: SW_IN_F is centred on local solar hour %.1f with "
                        "utc_offset_hours=%g (expected about 12): is the UTC offset right?",
                        where, 12.0 + off, utc_offset_hours)
    return forcing


# ---------------------------------------------------------------------------------------------
# Flux observations (NEE, GPP, LE)

IQR_PER_SIGMA = 1.349                          # interquartile range of a normal distribution
FLUX_STREAMS = ("nee", "gpp", "le")
GPP_METHODS = ("NT", "DT")
# default observation-error floor per stream: (relative to |value|, absolute in stream unit);
# sigma = max(sigma_data, relative * abs(value) + absolute)
FLUX_SIGMA_FLOOR = {"nee": (0.2, 0.1), "gpp": (0.2, 0.1), "le": (0.2, 2.0)}
DEFAULT_MIN_GOOD_FRACTION = 0.8


def is_sub_daily(path: str | os.PathLike) -> bool:
    """Whether a FLUXNET2015 / ICOS CSV file has half-hourly or hourly records (a
    ``TIMESTAMP_START`` column) rather than daily ones. Raises InputDataError when the file
    is missing or unreadable."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as fh:
            return "TIMESTAMP_START" in fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: cannot read the header line ({exc})") from None


def fluxnet_streams(path: str | os.PathLike, gpp_method: str = "NT") -> tuple[str, ...]:
    """The flux streams (of ``nee``, ``gpp``, ``le``) whose value column a FLUXNET2015 / ICOS
    CSV file has (read from its header line)."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="") as fh:
            header = {h.strip().strip('"') for h in fh.readline().strip().split(",")}
    except (OSError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: cannot read the header line ({exc})") from None
    return tuple(s for s in FLUX_STREAMS if _flux_columns(s, gpp_method)["value"] in header)


def _flux_columns(stream: str, method: str) -> dict:
    """Columns used for one stream: value, QC, random uncertainty, USTAR-threshold quartiles,
    the partitioning pair (GPP only) and whether the value is a CO2 flux (unit conversion)."""
    if stream == "nee":
        return {"value": "NEE_VUT_REF", "qc": "NEE_VUT_REF_QC", "randunc": "NEE_VUT_REF_RANDUNC",
                "quartiles": ("NEE_VUT_25", "NEE_VUT_75"), "pair": None, "carbon": True}
    if stream == "gpp":
        return {"value": f"GPP_{method}_VUT_REF", "qc": "NEE_VUT_REF_QC",
                "randunc": "NEE_VUT_REF_RANDUNC",
                "quartiles": (f"GPP_{method}_VUT_25", f"GPP_{method}_VUT_75"),
                "pair": ("GPP_NT_VUT_REF", "GPP_DT_VUT_REF"), "carbon": True}
    return {"value": "LE_F_MDS", "qc": "LE_F_MDS_QC", "randunc": "LE_RANDUNC",
            "quartiles": None, "pair": None, "carbon": False}


def read_fluxnet_obs(path: str | os.PathLike, stream: str, footprint: dict[int, float],
                     utc_offset_hours: float | None = None, *, qc_max: int = 1,
                     min_good_fraction: float = DEFAULT_MIN_GOOD_FRACTION,
                     gpp_method: str = "NT",
                     sigma_floor: float | tuple[float, float] | None = None) -> ObservationSet:
    """Read NEE, GPP or latent heat flux observations from a FLUXNET2015 / ICOS CSV file.

    Parameters
    ----------
    path : str or os.PathLike
        FULLSET or SUBSET file, half-hourly (HH) or hourly (HR) with ``TIMESTAMP_START``
        (YYYYMMDDHHMM, local standard time), or daily (DD) with ``TIMESTAMP`` (YYYYMMDD).
    stream : {"nee", "gpp", "le"}
        ``nee``: NEE_VUT_REF; ``gpp``: GPP_NT_VUT_REF (or GPP_DT_VUT_REF, see
        ``gpp_method``); ``le``: LE_F_MDS.
    footprint : dict of int to float
        Fractions of the tower footprint covered by each BETHY PFT (codes 1..13), e.g.
        ``{3: 0.2, 9: 0.8}``; the same for every record. They must sum to <= 1.
    utc_offset_hours : float, optional
        Offset of the file's local standard time from UTC in hours (UTC_OFFSET in the site
        metadata, e.g. -6 for US-AR1; within [-14, 14]). Required for HH/HR files; not used for
        DD files (see Notes).
    qc_max : int, default 1
        HH/HR files: keep records whose QC flag (NEE_VUT_REF_QC for nee and gpp, LE_F_MDS_QC
        for le) is <= qc_max; 0 measured, 1 good-, 2 medium-, 3 poor-quality gap filling.
    min_good_fraction : float, default 0.8
        DD files: keep days whose QC column, the fraction (0-1) of the day's half-hours that
        were measured or gap-filled with good quality, is >= min_good_fraction.
    gpp_method : {"NT", "DT"}, default "NT"
        Flux partitioning of GPP: night-time (Reichstein et al. 2005) or day-time (Lasslop et
        al. 2010) method.
    sigma_floor : float or (float, float), optional
        Lower bound of sigma: a pair (relative, absolute) gives relative * abs(value) + absolute
        (absolute in the stream's unit, > 0); a single number is an absolute floor. Default
        :data:`FLUX_SIGMA_FLOOR` of the stream: (0.2, 0.1 g C m-2 d-1) for nee and gpp,
        (0.2, 2 W m-2) for le.

    Returns
    -------
    ObservationSet
        Stream ``nee`` / ``gpp`` in g C m-2 d-1 (rate averaged over the window; NEE > 0 is a
        source to the atmosphere) or ``le`` in W m-2, one observation per kept record, sorted
        in time, with ``qc`` and the counts of dropped records in ``attrs``.

    Raises
    ------
    InputDataError
        The file is missing or unreadable, lacks the value column of the stream (a missing QC
        column is allowed: every record is then kept, with ``qc`` = -1 and a warning), has
        irregular or unsupported time stamps (only HH, HR and DD files are supported).
    ConfigError
        Unknown ``stream`` or ``gpp_method``, a missing or out-of-range ``utc_offset_hours``
        for an HH/HR file, an invalid footprint, ``qc_max``, ``min_good_fraction`` or
        ``sigma_floor``.

    Notes
    -----
    Units: HH/HR CO2 fluxes are in umol CO2 m-2 s-1 and are converted to g C m-2 d-1 by
    x 12.011e-6 g C umol-1 x 86400 s d-1; DD CO2 fluxes are already in g C m-2 d-1. LE is in
    W m-2 at every resolution.

    Windows (UTC): HH/HR records cover [TIMESTAMP_START, TIMESTAMP_START + step) local standard
    time, shifted by ``-utc_offset_hours``. A DD record covers the UTC day [00, 24) of its date:
    the local day is taken as the UTC day (an offset of < 1 day, ignored), as
    :func:`read_fluxnet_forcing` does for daily files, so that observations and forcing built
    from the same file refer to the same days.

    Missing values (-9999 or NaN) of the value column are dropped without error, and so are
    records failing the QC test; both are counted in ``attrs`` (``n_missing``,
    ``n_rejected_qc``). GPP is screened with the QC of the NEE it was partitioned from.
    ``qc`` keeps the product's flag for HH/HR; for DD it is round(100 (1 - fraction)), the
    percentage of half-hours that were not measured or good-quality gap-filled.

    Uncertainty (1 sigma) combines, in quadrature, the components the file provides:

    - nee: NEE_VUT_REF_RANDUNC (random error) and the spread over USTAR thresholds
      (NEE_VUT_75 - NEE_VUT_25) / 1.349;
    - gpp: NEE_VUT_REF_RANDUNC (random error of the NEE GPP is derived from), the
      partitioning-method spread abs(GPP_NT_VUT_REF - GPP_DT_VUT_REF) / 2 and the USTAR spread
      (GPP_<method>_VUT_75 - GPP_<method>_VUT_25) / 1.349;
    - le: LE_RANDUNC.

    Missing components are left out; then sigma = max(sigma, relative * abs(value) + absolute)
    with ``sigma_floor``, which also gives sigma where no component is available (counted in
    ``attrs['n_sigma_floor_only']``).
    """
    path = Path(path)
    where = str(path)
    if stream not in FLUX_STREAMS:
        raise ConfigError(f"{where}: unknown flux stream '{stream}' "
                          f"(supported: {', '.join(FLUX_STREAMS)})")
    if gpp_method not in GPP_METHODS:
        raise ConfigError(f"{where}: gpp_method must be one of {', '.join(GPP_METHODS)}, "
                          f"got '{gpp_method}'")
    if isinstance(qc_max, bool) or not isinstance(qc_max, (int, np.integer)) \
            or not 0 <= qc_max <= 3:
        raise ConfigError(f"{where}: qc_max must be an integer 0..3, got {qc_max!r}")
    if not 0.0 <= min_good_fraction <= 1.0:
        raise ConfigError(f"{where}: min_good_fraction must be within [0, 1], "
                          f"got {min_good_fraction}")
    floor = sigma_floor_pair(FLUX_SIGMA_FLOOR[stream] if sigma_floor is None else sigma_floor,
                        where)
    pft, fp_row = footprint_row(footprint, where)
    spec = _flux_columns(stream, gpp_method)
    optional = [spec["randunc"]] + list(spec["quartiles"] or ()) + list(spec["pair"] or ())
    cols, tcol = _read_columns(path, where, [spec["value"]], [spec["qc"]] + optional)
    stamps = cols[tcol]
    times = _parse_times(stamps, tcol, where)
    daily = tcol == "TIMESTAMP"
    if daily:
        step = _check_step(times, stamps, tcol, where, (86400,))
        t0 = times
        resolution = "DD"
    else:
        if utc_offset_hours is None:
            raise ConfigError(
                f"{where}: utc_offset_hours is required: FLUXNET time stamps are local standard "
                "time; give the site's UTC offset (UTC_OFFSET in the site metadata)")
        if not -14.0 <= utc_offset_hours <= 14.0:
            raise ConfigError(f"{where}: utc_offset_hours={utc_offset_hours:g} must be within "
                              "[-14, 14]")
        step = _check_step(times, stamps, tcol, where, (1800, 3600))
        t0 = times - np.timedelta64(int(round(utc_offset_hours * 3600.0)), "s")
        resolution = "HH" if step == 1800 else "HR"
    t1 = t0 + np.timedelta64(step, "s")

    value = cols[spec["value"]]
    missing = is_missing(value)
    if spec["qc"] not in cols:
        # some files in the FLUXNET layout carry no QC columns: every record is kept
        log.warning("%s: column '%s' absent: no quality screening of stream '%s'", where,
                    spec["qc"], stream)
        qc_ok = np.ones(value.size, dtype=bool)
        qc = np.full(value.size, -1)
        qc_meaning = f"{spec['qc']} absent from the file: -1, no screening"
    elif daily:
        qc_raw = cols[spec["qc"]]
        qc_ok = ~is_missing(qc_raw) & (qc_raw >= min_good_fraction)
        qc = np.where(is_missing(qc_raw), 100, np.round(100.0 * (1.0 - np.clip(qc_raw, 0, 1))))
        qc_meaning = ("percentage of the day's half-hours not measured or gap-filled with good "
                      f"quality (100 - 100 x {spec['qc']}); kept: {spec['qc']} >= "
                      f"{min_good_fraction:g}")
    else:
        qc_raw = cols[spec["qc"]]
        qc_ok = ~is_missing(qc_raw) & (qc_raw <= qc_max)
        qc = np.where(is_missing(qc_raw), -1, qc_raw)
        qc_meaning = (f"{spec['qc']}: 0 measured, 1 good, 2 medium, 3 poor quality gap "
                      f"filling; kept: <= {qc_max}")
    keep = ~missing & qc_ok

    def component(col: str | None) -> np.ndarray | None:
        return cols[col] if col is not None and col in cols else None

    parts = []
    randunc = component(spec["randunc"])
    if randunc is None:
        log.warning("%s: column '%s' absent: sigma of stream '%s' from the floor and the "
                    "other components only", where, spec["randunc"], stream)
    else:
        parts.append(np.where(is_missing(randunc), np.nan, np.abs(randunc)))
    if spec["quartiles"] is not None:
        q25, q75 = (component(c) for c in spec["quartiles"])
        if q25 is not None and q75 is not None:
            bad = is_missing(q25) | is_missing(q75)
            parts.append(np.where(bad, np.nan, np.abs(q75 - q25) / IQR_PER_SIGMA))
    if spec["pair"] is not None:
        nt, dt = (component(c) for c in spec["pair"])
        if nt is not None and dt is not None:
            bad = is_missing(nt) | is_missing(dt)
            parts.append(np.where(bad, np.nan, 0.5 * np.abs(nt - dt)))
    sigma_data = quadrature_sum(parts, value.size)

    scale = UMOL_CO2_TO_GC_PER_DAY if spec["carbon"] and not daily else 1.0
    v = value[keep] * scale
    sigma = np.fmax(sigma_data[keep] * scale, floor[0] * np.abs(v) + floor[1])
    n = int(keep.sum())
    attrs = {
        "product": "FLUXNET2015/ICOS ETC L2 (FLUXNET format)",
        "file_resolution": resolution,
        "variable": spec["value"],
        "qc_variable": spec["qc"],
        "qc_meaning": qc_meaning,
        "sigma_rule": (f"sqrt(sum of squared available components) with floor "
                       f"{floor[0]:g} |value| + {floor[1]:g} {STREAMS[stream][0]}"),
        "n_records": int(value.size),
        "n_missing": int(missing.sum()),
        "n_rejected_qc": int((~missing & ~qc_ok).sum()),
        "n_sigma_floor_only": int((~np.isfinite(sigma_data[keep])).sum()),
        "window": ("UTC day of the local date (local day taken as UTC day)" if daily else
                   f"record interval shifted to UTC by {-utc_offset_hours:g} h"),
    }
    if stream == "gpp":
        attrs["gpp_method"] = gpp_method
    if n == 0:
        log.warning("%s: no record of '%s' passed the missing-value and QC screening",
                    where, spec["value"])
    order = np.argsort(t0[keep], kind="stable")
    return ObservationSet(stream, t0[keep][order], t1[keep][order], v[order], sigma[order],
                          qc[keep].astype(np.int64)[order], pft, np.tile(fp_row, (n, 1)),
                          None, where, attrs)


def _read_csv(path: Path, where: str) -> tuple[dict[str, np.ndarray], str]:
    """The forcing columns of the file as float arrays, and the name of the time column."""
    optional = [c for c, _, _ in OPTIONAL.values()] + [c for pair in DAY_NIGHT for c in pair]
    return _read_columns(path, where, [c for c, _, _ in REQUIRED.values()], optional)


def _read_columns(path: Path, where: str, required: list[str], optional: list[str]
                  ) -> tuple[dict[str, np.ndarray], str]:
    """Columns ``required`` (error if absent) and those of ``optional`` that the file has, as
    float arrays keyed by column name, plus the time column and the name of the time column."""
    if not path.is_file():
        raise InputDataError(f"{where}: file not found")
    opener = gzip.open if path.suffix == ".gz" else open    # np.loadtxt unzips .gz itself
    try:
        with opener(path, "rt", newline="") as fh:
            header = [h.strip().strip('"') for h in fh.readline().strip().split(",")]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{where}: cannot read the header line ({exc})") from None
    if "TIMESTAMP_START" in header:
        tcol = "TIMESTAMP_START"
    elif "TIMESTAMP" in header:
        tcol = "TIMESTAMP"
    else:
        raise InputDataError(f"{where}: missing column 'TIMESTAMP_START' (HH/HR files) or "
                             "'TIMESTAMP' (DD files): not a FLUXNET-format CSV file?")
    for col in required:
        if col not in header:
            raise InputDataError(f"{where}: missing required column '{col}'")
    names = list(dict.fromkeys([tcol] + required + [c for c in optional if c in header]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty input: checked below
            arr = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2,
                             usecols=[header.index(c) for c in names])
    except ValueError as exc:
        raise InputDataError(f"{where}: cannot read the numeric data ({exc})") from None
    if arr.shape[0] == 0:
        raise InputDataError(f"{where}: no data records")
    return {c: arr[:, i] for i, c in enumerate(names)}, tcol


def _parse_times(stamps: np.ndarray, tcol: str, where: str) -> np.ndarray:
    """YYYYMMDDHHMM (or YYYYMMDD) numbers to datetime64[s]."""
    digits = 12 if tcol == "TIMESTAMP_START" else 8
    bad = np.nonzero(~np.isfinite(stamps) | (stamps != np.round(stamps))
                     | (stamps < 10 ** (digits - 1)) | (stamps >= 10 ** digits))[0]
    if bad.size:
        i = int(bad[0])
        raise InputDataError(f"{where}: column '{tcol}': value {stamps[i]:.0f} in data row "
                             f"{i + 1} is not a {digits}-digit time stamp (only HH, HR and DD "
                             "files are supported)")
    text = [str(v) for v in stamps.astype(np.int64)]
    iso = [f"{x[:4]}-{x[4:6]}-{x[6:8]}" + (f"T{x[8:10]}:{x[10:]}" if digits == 12 else "")
           for x in text]
    try:
        return np.array(iso, dtype="datetime64[s]")
    except ValueError as exc:
        raise InputDataError(f"{where}: column '{tcol}': invalid time stamp ({exc})") from None


def _check_step(times: np.ndarray, stamps: np.ndarray, tcol: str, where: str,
                allowed: tuple[int, ...]) -> int:
    """The constant step (s) between records; raise if it is irregular or not allowed."""
    if times.size < 2:
        if allowed == (86400,):
            return 86400
        raise InputDataError(f"{where}: fewer than two records")
    dt = np.diff(times).astype(np.int64)
    step = int(dt[0])
    if step not in allowed:
        raise InputDataError(f"{where}: column '{tcol}': step of {step / 60:g} min from "
                             f"{stamps[0]:.0f} to {stamps[1]:.0f} is not supported "
                             f"(expected {' or '.join(f'{a // 60} min' for a in allowed)})")
    bad = np.nonzero(dt != step)[0]
    if bad.size:
        i = int(bad[0])
        raise InputDataError(f"{where}: column '{tcol}': records must follow each other every "
                             f"{step // 60} min; {stamps[i]:.0f} is followed by "
                             f"{stamps[i + 1]:.0f}")
    return step


def _fill_required(v: np.ndarray, col: str, stamps: np.ndarray, tcol: str, where: str,
                   max_gap: int) -> np.ndarray:
    """Fill interior gaps of at most ``max_gap`` records; raise on any other missing value."""
    bad = is_missing(v)
    if not bad.any():
        return v
    gap = first_unfillable_gap(bad, max_gap)
    if gap is not None:
        s, e = gap
        why = ("gap-filled '_F' columns should be complete; pass max_gap_records > 0 to "
               "interpolate short gaps" if max_gap == 0 else
               "this gap is at the start or end of the used records" if s == 0 or e == v.size
               else f"this gap is longer than max_gap_records={max_gap}")
        raise InputDataError(f"{where}: column '{col}' is missing (-9999) in {e - s} "
                             f"record(s) from {tcol} {stamps[s]:.0f}: {why}")
    log.warning("%s: column '%s': %d missing record(s) filled by linear interpolation", where,
                col, int(bad.sum()))
    return interp_missing(v, bad)


def _daily_to_hourly(days: np.ndarray, rec: dict[str, np.ndarray], lat: float, lon: float,
                     day_night: tuple[np.ndarray, np.ndarray] | None
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Disaggregate daily canonical values (P in mm/day) to 24 hourly steps per UTC day."""
    nd = days.size
    t0 = days.astype("datetime64[s]")
    sub = (t0[:, None] + (np.arange(144) * 600 + 300).astype("timedelta64[s]")).ravel()
    cz, _, e0 = solar_geometry(sub, lat, lon)
    mu = np.maximum(cz, 0.0).reshape(nd, 24, 6).mean(axis=2)
    times = (t0[:, None] + (np.arange(24) * 3600).astype("timedelta64[s]")).ravel()
    data = {n: np.repeat(rec[n], 24) for n in ("rlds", "vpd", "ps", "sfcWind", "co2")}
    total = mu.sum(axis=1, keepdims=True)
    shape = np.where(total > 0, 24.0 * mu / np.where(total > 0, total, 1.0), 1.0)
    data["rsds"] = (rec["rsds"][:, None] * shape).ravel()
    data["pr"] = np.repeat(rec["pr"] / 86400.0, 24)
    # temperature: mean-preserving interpolation of the daily means plus a diurnal cosine
    tas = rec["tas"]
    hours, centres = np.arange(nd * 24) + 0.5, np.arange(nd) * 24.0 + 12.0
    base = np.interp(hours, centres, tas)
    base += np.repeat(tas - base.reshape(nd, 24).mean(axis=1), 24)
    toa = SOLAR_CONSTANT * (e0 * np.maximum(cz, 0.0)).reshape(nd, 144).mean(axis=1)
    kt = np.clip(rec["rsds"] / np.where(toa > 0, toa, np.inf), 0.0, 1.0)
    amp = 0.5 * DTR_CLEAR * kt
    if day_night is not None:
        tday, tnight = day_night
        ok = ~is_missing(tday) & ~is_missing(tnight)
        amp = np.where(ok, 0.25 * np.pi * np.maximum(tday - tnight, 0.0), amp)
    _, solar_hour, _ = solar_geometry(times + np.timedelta64(1800, "s"), lat, lon)
    wave = (np.interp(hours, centres, amp)
            * np.cos(2.0 * np.pi * (solar_hour - T_MAX_SOLAR_HOUR) / 24.0)).reshape(nd, 24)
    wave -= wave.mean(axis=1, keepdims=True)
    data["tas"] = base + wave.ravel()
    return times, data
