"""PLUMBER2 site files (netCDF, ALMA names): hourly forcing and flux-tower observations.

PLUMBER2 (Ukkola et al. 2022, Earth Syst. Sci. Data 14, 449-461, doi:10.5194/essd-14-449-2022;
data doi:10.25914/5fdb0902607e1) is the forcing and evaluation set of about 170 flux-tower
sites that land-surface models are benchmarked on. Each site has two files:

- ``<SITE>_<years>_FLUXNET2015_Met.nc``: gap-filled meteorology (Tair K, SWdown and LWdown
  W m-2, Qair kg kg-1, Psurf Pa, Precip kg m-2 s-1, Wind m s-1, optionally CO2air ppm), read by
  :func:`read_plumber2_forcing`;
- ``<SITE>_<years>_FLUXNET2015_Flux.nc``: evaluation fluxes (NEE, GPP umol m-2 s-1, Qle
  W m-2) with quality flags ``*_qc`` (0 measured, 1 good-, 2 medium-, 3 poor-quality gap
  filling), read by :func:`read_plumber2_obs`; :func:`read_plumber2_site` gives the site's
  coordinates and vegetation type from variables of either file.

Variables are on ``(time, y, x)`` with one grid point; ``time`` is local standard time and
labels the start of each half-hour (the mean diurnal cycle of SWdown is centred on local solar
noon only with that reading; :func:`read_plumber2_forcing` checks it). Nothing is taken from
global attributes: copies of the files circulate without them.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputDataError
from ..io import (Forcing, check_forcing, convert_units, open_netcdf, times_from_nc,
                  vpd_from_specific_humidity)
from ..obs import STREAMS, ObservationSet
from ._common import (SOLAR_NOON_TOLERANCE_HOURS, UMOL_CO2_TO_GC_PER_DAY,
                      deep_soil_temperature, first_unfillable_gap, footprint_row,
                      global_mean_co2, interp_missing, is_missing, quadrature_sum,
                      sigma_floor_pair, solar_noon_offset, utc_offset, whole_utc_days)
from .fluxnet import FLUX_SIGMA_FLOOR, FLUX_STREAMS, GPP_METHODS

__all__ = ["MET_VARIABLES", "FLUX_VARIABLES", "PlumberSite", "read_plumber2_forcing",
           "read_plumber2_obs", "read_plumber2_site"]

log = logging.getLogger(__name__)

# canonical forcing name -> (PLUMBER2 variable names, first found is used; canonical unit the
# file's unit converts to). Qair becomes vpd with Tair and Psurf; a file without Qair may give
# VPD (hPa) instead. FluxnetLSM, which wrote PLUMBER2, names the pressure PSurf; the released
# files spell it Psurf.
MET_VARIABLES = {"tas": (("Tair",), "K"), "rsds": (("SWdown",), "W m-2"),
                 "rlds": (("LWdown",), "W m-2"), "huss": (("Qair", "VPD"), "kg kg-1"),
                 "ps": (("Psurf", "PSurf"), "Pa"), "pr": (("Precip",), "kg m-2 s-1"),
                 "sfcWind": (("Wind",), "m s-1")}
CO2_VARIABLE = "CO2air"          # ppm, in the Met files of the sites that measured it
SPECIFIC_HUMIDITY_UNITS = frozenset({"kg/kg", "kg kg-1", "1", "kg kg**-1"})
CO2_FLUX_UNITS = frozenset({"umol/m2/s", "umol m-2 s-1", "umol m-2 s-1 CO2", "µmol/m2/s"})
# stream -> value variable, its QC variable and the standard-error variable of the value
FLUX_VARIABLES = {"nee": ("NEE", "NEE_qc", "NEE_uc"),
                  "gpp": ("GPP", "NEE_qc", "GPP_se"),
                  "le": ("Qle", "Qle_qc", "Qle_uc")}
GPP_DT = ("GPP_DT", "GPP_DT_se")
SITE_CODE = re.compile(r"^([A-Z]{2}-[A-Za-z0-9]{3})_")


@dataclass(frozen=True)
class PlumberSite:
    """Site description from the variables of a PLUMBER2 file.

    ``lat`` (degrees_north), ``lon`` (degrees_east), ``elevation`` (m, NaN if absent),
    ``canopy_height`` and ``reference_height`` (m, NaN if absent), ``igbp`` (IGBP vegetation
    class, "" if absent) and ``code`` (FLUXNET site code from the file name, "" if it does not
    follow the PLUMBER2 naming)."""

    code: str
    lat: float
    lon: float
    elevation: float = float("nan")
    canopy_height: float = float("nan")
    reference_height: float = float("nan")
    igbp: str = ""


def read_plumber2_site(path: str | os.PathLike) -> PlumberSite:
    """Read the coordinates and site description of a PLUMBER2 Met or Flux file.

    Parameters
    ----------
    path : str or os.PathLike
        PLUMBER2 netCDF file with ``latitude`` and ``longitude`` variables on ``(y, x)``.

    Raises
    ------
    InputDataError
        File missing or unreadable, no ``latitude``/``longitude`` or out-of-range values.
    """
    path = Path(path)
    where = str(path)
    with open_netcdf(path) as ds:
        coords = {}
        for name in ("latitude", "longitude"):
            if name not in ds.variables:
                raise InputDataError(f"{where}: missing variable '{name}'")
            v = _values(ds.variables[name], where, name)
            if v.size != 1 or not np.isfinite(v).all():
                raise InputDataError(f"{where}: variable '{name}' must hold one valid value "
                                     f"(a single site), got {v.size} value(s)")
            coords[name] = float(v[0])
        extra = {}
        for name in ("elevation", "canopy_height", "reference_height"):
            v = _values(ds.variables[name], where, name) if name in ds.variables else None
            extra[name] = float(v[0]) if v is not None and v.size and np.isfinite(v[0]) \
                else float("nan")
        igbp = ""
        if "IGBP_veg_short" in ds.variables:
            raw = np.ma.filled(ds.variables["IGBP_veg_short"][:], b"")
            igbp = b"".join(np.atleast_1d(raw).astype("S1").tolist()).decode(
                "ascii", "replace").strip("\x00 ")
    if not (-90.0 <= coords["latitude"] <= 90.0 and -180.0 <= coords["longitude"] <= 360.0):
        raise InputDataError(f"{where}: latitude {coords['latitude']} or longitude "
                             f"{coords['longitude']} out of range")
    m = SITE_CODE.match(path.name)
    return PlumberSite(m.group(1) if m else "", coords["latitude"], coords["longitude"],
                       igbp=igbp, **extra)


def read_plumber2_forcing(path: str | os.PathLike, utc_offset_hours: float, *,
                          co2: float | None = None, max_gap_records: int = 0) -> Forcing:
    """Read a PLUMBER2 Met file as hourly forcing in canonical units.

    Parameters
    ----------
    path : str or os.PathLike
        ``<SITE>_<years>_FLUXNET2015_Met.nc`` with Tair (K), SWdown, LWdown (W m-2), Qair
        (kg kg-1; or VPD, hPa, when Qair is absent), Psurf or PSurf (Pa), Precip
        (kg m-2 s-1), Wind (m s-1) and, optionally, CO2air (ppm) on ``time`` (half-hourly or
        hourly, local standard time, start of each step).
    utc_offset_hours : float
        Local standard time minus UTC in hours (e.g. +8 for China; the site's UTC_OFFSET in
        the FLUXNET metadata); a multiple of the file's step, within [-14, 14].
    co2 : float, optional
        CO2 mole fraction (mol mol-1) to use at every step when the file has no CO2air (or
        only missing values). Default: the NOAA global-mean record
        (:func:`tccas.readers._common.global_mean_co2`).
    max_gap_records : int, default 0
        Longest run of missing records of a meteorological variable that is filled by linear
        interpolation; 0: any missing value is an error (PLUMBER2 forcing is gap-filled).

    Returns
    -------
    Forcing
        Hourly steps (start times, UTC) over the whole UTC days the file covers, checked with
        :func:`tccas.io.check_forcing`.

    Raises
    ------
    InputDataError
        Missing file or variable, unknown units, irregular time, unfilled gaps, values out of
        range, or a mean diurnal cycle of SWdown centred more than 1.5 h away from solar noon
        (time stamps not in the local standard time of ``utc_offset_hours``).
    ConfigError
        Invalid ``utc_offset_hours``, ``co2`` or ``max_gap_records``.

    Notes
    -----
    Half-hours are averaged to hours (Precip is a rate, so its mean is the hourly rate). The
    vapour-pressure deficit is e_s(Tair) - e(Qair, Psurf) (:func:`tccas.io.vpd_from_specific_
    humidity`). The deep-soil temperature ``tsl_deep`` is the 30-day trailing mean of Tair, as
    for FLUXNET files without soil temperature. When CO2air is present its gaps are filled by
    linear interpolation (nearest value at the ends).
    """
    path = Path(path)
    where = str(path)
    if max_gap_records < 0:
        raise ConfigError(f"{where}: max_gap_records must be >= 0, got {max_gap_records}")
    if co2 is not None and not (np.isfinite(co2) and 1.0e-4 <= co2 <= 2.0e-3):
        raise ConfigError(f"{where}: co2 must be a mole fraction in [1e-4, 2e-3] mol mol-1 "
                          f"(e.g. 400e-6), got {co2!r}")
    site = read_plumber2_site(path)
    with open_netcdf(path) as ds:
        times, step = _times(ds, where)
        keep, utc = whole_utc_days(times, step, utc_offset_hours, where)
        raw = {}
        humidity = "Qair"
        for name, (names, canonical) in MET_VARIABLES.items():
            var = next((n for n in names if n in ds.variables), None)
            if var is None:
                raise InputDataError(f"{where}: missing variable "
                                     + " (or ".join(f"'{n}'" for n in names)
                                     + ")" * (len(names) - 1))
            v = _series(ds, var, times.size, where)[keep]
            unit = getattr(ds.variables[var], "units", None)
            if unit is None:
                raise InputDataError(f"{where}: variable '{var}' has no units attribute")
            if var == "VPD":
                humidity = var
                v = convert_units(v, unit, "Pa", f"{where}: variable '{var}'")
            elif name == "huss":
                if unit.strip() not in SPECIFIC_HUMIDITY_UNITS:
                    raise InputDataError(f"{where}: variable '{var}': unit '{unit}' is not a "
                                         "specific humidity in kg kg-1")
            else:
                v = convert_units(v, unit, canonical, f"{where}: variable '{var}'")
            raw[name] = _fill(v, var, utc, where, max_gap_records)
        co2_file = None
        if CO2_VARIABLE in ds.variables:
            c = _series(ds, CO2_VARIABLE, times.size, where)[keep]
            bad = is_missing(c)
            if not bad.all():
                if bad.any():
                    log.warning("%s: variable '%s': %d missing record(s) filled by linear "
                                "interpolation", where, CO2_VARIABLE, int(bad.sum()))
                unit = getattr(ds.variables[CO2_VARIABLE], "units", "ppm")
                co2_file = convert_units(interp_missing(c, bad), unit, "mol mol-1",
                                         f"{where}: variable '{CO2_VARIABLE}'")
    k = 3600 // step
    data = {name: v.reshape(-1, k).mean(axis=1) for name, v in raw.items()}
    hours = utc[::k]
    huss = data.pop("huss")
    if humidity == "VPD":
        data["vpd"] = np.maximum(huss, 0.0)
    else:
        if (huss < 0).any() or (huss > 0.05).any():
            raise InputDataError(f"{where}: variable 'Qair' has values outside [0, 0.05] "
                                 "kg kg-1")
        with np.errstate(over="ignore", invalid="ignore"):   # bad Tair: check_forcing names it
            data["vpd"] = vpd_from_specific_humidity(huss, data["tas"], data["ps"])
    data["rsds"] = np.maximum(data["rsds"], 0.0)
    if co2_file is not None:
        data["co2"] = co2_file.reshape(-1, k).mean(axis=1)
        co2_source = f"variable '{CO2_VARIABLE}' of the file"
    elif co2 is not None:
        data["co2"] = np.full(hours.size, float(co2))
        co2_source = f"prescribed {co2:g} mol mol-1"
    else:
        data["co2"] = global_mean_co2(hours, where)
        co2_source = "NOAA global-mean annual record"
    log.info("%s: CO2 from %s", where, co2_source)
    data["tsl_deep"] = deep_soil_temperature(data["tas"])
    forcing = Forcing(hours.astype("datetime64[s]"), data, where)
    check_forcing(forcing, where)
    _check_solar_noon(forcing, site, utc_offset_hours, where)
    return forcing


def read_plumber2_obs(path: str | os.PathLike, stream: str, footprint: dict[int, float],
                      utc_offset_hours: float, *, qc_max: int = 1, gpp_method: str = "NT",
                      sigma_floor: float | tuple[float, float] | None = None) -> ObservationSet:
    """Read NEE, GPP or latent heat flux of a PLUMBER2 Flux file as an observation set.

    Parameters
    ----------
    path : str or os.PathLike
        ``<SITE>_<years>_FLUXNET2015_Flux.nc``.
    stream : {"nee", "gpp", "le"}
        ``nee``: NEE (NEE_VUT_REF, positive to the atmosphere); ``gpp``: GPP (GPP_NT_VUT_REF)
        or GPP_DT (``gpp_method="DT"``); ``le``: Qle (LE_F_MDS).
    footprint : dict of int to float
        Fractions of the footprint covered by each BETHY PFT code, e.g. ``{9: 1.0}``.
    utc_offset_hours : float
        Local standard time minus UTC, h (the file's time is local standard time).
    qc_max : int, default 1
        Keep records whose flag (NEE_qc for nee and gpp, Qle_qc for le) is <= qc_max: 0
        measured, 1 good-, 2 medium-, 3 poor-quality gap filling (PLUMBER2 also names 4
        ERA-Interim, 5 statistical gap filling and 101 post-processed).
    gpp_method : {"NT", "DT"}
        Night-time or day-time partitioned GPP.
    sigma_floor : float or (float, float), optional
        As for :func:`tccas.readers.read_fluxnet_obs`; default
        :data:`tccas.readers.fluxnet.FLUX_SIGMA_FLOOR` of the stream.

    Returns
    -------
    ObservationSet
        One observation per kept record with its window [start, start + step) in UTC; nee and
        gpp in g C m-2 d-1 (rate), le in W m-2; ``qc`` the product's flag.

    Raises
    ------
    InputDataError
        Missing file or variable, wrong units, irregular time.
    ConfigError
        Unknown stream or gpp_method, bad footprint, qc_max, sigma_floor or UTC offset.

    Notes
    -----
    sigma combines in quadrature the uncertainty the file gives (NEE_uc; GPP_se or GPP_DT_se;
    Qle_uc where present) and, for GPP, half the difference between the night-time and
    day-time partitionings; then the floor, which alone gives sigma where the file has no
    uncertainty (Qle of CN-Cng).
    """
    path = Path(path)
    where = str(path)
    if stream not in FLUX_STREAMS:
        raise ConfigError(f"{where}: unknown flux stream '{stream}' "
                          f"(supported: {', '.join(FLUX_STREAMS)})")
    if gpp_method not in GPP_METHODS:
        raise ConfigError(f"{where}: gpp_method must be one of {', '.join(GPP_METHODS)}, "
                          f"got '{gpp_method}'")
    if isinstance(qc_max, bool) or not isinstance(qc_max, (int, np.integer)) or qc_max < 0:
        raise ConfigError(f"{where}: qc_max must be an integer >= 0, got {qc_max!r}")
    offset = utc_offset(utc_offset_hours, where)
    floor = sigma_floor_pair(FLUX_SIGMA_FLOOR[stream] if sigma_floor is None else sigma_floor,
                             where)
    pft, fp_row = footprint_row(footprint, where)
    var, qc_var, se_var = FLUX_VARIABLES[stream]
    if stream == "gpp" and gpp_method == "DT":
        var, se_var = GPP_DT
    carbon = stream != "le"
    with open_netcdf(path) as ds:
        times, step = _times(ds, where)
        for name in (var, qc_var):
            if name not in ds.variables:
                raise InputDataError(f"{where}: missing variable '{name}'")
        unit = getattr(ds.variables[var], "units", None)
        if unit is None:
            raise InputDataError(f"{where}: variable '{var}' has no units attribute")
        if carbon and unit.strip() not in CO2_FLUX_UNITS:
            raise InputDataError(f"{where}: variable '{var}': unit '{unit}' is not a CO2 flux "
                                 "in umol m-2 s-1")
        value = _series(ds, var, times.size, where)
        if not carbon:
            value = convert_units(value, unit, "W m-2", f"{where}: variable '{var}'")
        qc_raw = _series(ds, qc_var, times.size, where)
        parts = []
        if se_var is not None and se_var in ds.variables:
            se = _series(ds, se_var, times.size, where)
            parts.append(np.where(is_missing(se), np.nan, np.abs(se)))
        if stream == "gpp" and "GPP" in ds.variables and "GPP_DT" in ds.variables:
            nt, dt = (_series(ds, n, times.size, where) for n in ("GPP", "GPP_DT"))
            parts.append(np.where(is_missing(nt) | is_missing(dt), np.nan,
                                  0.5 * np.abs(nt - dt)))
    t0 = times - np.timedelta64(int(round(offset * 3600.0)), "s")
    t1 = t0 + np.timedelta64(step, "s")
    missing = is_missing(value)
    qc_ok = ~is_missing(qc_raw) & (qc_raw <= qc_max)
    keep = ~missing & qc_ok
    sigma_data = quadrature_sum(parts, value.size)
    scale = UMOL_CO2_TO_GC_PER_DAY if carbon else 1.0
    v = value[keep] * scale
    sigma = np.fmax(sigma_data[keep] * scale, floor[0] * np.abs(v) + floor[1])
    qc = np.where(is_missing(qc_raw), -1, qc_raw)[keep].astype(np.int64)
    n = int(keep.sum())
    attrs = {
        "product": "PLUMBER2 v1.0 (Ukkola et al. 2022)",
        "file_resolution": "HH" if step == 1800 else "HR",
        "variable": var,
        "qc_variable": qc_var,
        "qc_meaning": (f"{qc_var}: 0 measured, 1 good, 2 medium, 3 poor quality gap filling; "
                       f"kept: <= {qc_max}"),
        "sigma_rule": (f"sqrt(sum of squared available components) with floor "
                       f"{floor[0]:g} |value| + {floor[1]:g} {STREAMS[stream][0]}"),
        "n_records": int(value.size),
        "n_missing": int(missing.sum()),
        "n_rejected_qc": int((~missing & ~qc_ok).sum()),
        "window": f"record interval shifted to UTC by {-offset:g} h",
    }
    if stream == "gpp":
        attrs["gpp_method"] = gpp_method
    if n == 0:
        log.warning("%s: no record of '%s' passed the missing-value and QC screening",
                    where, var)
    return ObservationSet(stream, t0[keep], t1[keep], v, sigma, qc, pft,
                          np.tile(fp_row, (n, 1)), None, where, attrs)


# ---------------------------------------------------------------------------------------------

def _values(var, where: str, name: str) -> np.ndarray:
    """All values of a netCDF variable as a flat float array, fill values as NaN."""
    try:
        arr = np.ma.filled(np.ma.asarray(var[:], dtype=np.float64), np.nan)
    except (TypeError, ValueError) as exc:
        raise InputDataError(f"{where}: variable '{name}' is not numeric ({exc})") from None
    return arr.reshape(-1)


def _times(ds, where: str) -> tuple[np.ndarray, int]:
    """Record start times (datetime64[s], local standard time) and the step in s."""
    if "time" not in ds.variables:
        raise InputDataError(f"{where}: missing variable 'time'")
    tvar = ds.variables["time"]
    vals = _values(tvar, where, "time")
    if vals.size < 2 or not np.isfinite(vals).all():
        raise InputDataError(f"{where}: variable 'time' needs at least two valid values")
    times = times_from_nc(tvar, where, vals)
    dt = np.diff(times).astype("timedelta64[s]").astype(np.int64)
    step = int(dt[0])
    if step not in (1800, 3600):
        raise InputDataError(f"{where}: variable 'time': step of {step / 60:g} min is not "
                             "supported (expected 30 or 60 min)")
    bad = np.nonzero(dt != step)[0]
    if bad.size:
        i = int(bad[0])
        raise InputDataError(f"{where}: variable 'time': records must follow each other every "
                             f"{step // 60} min; {times[i]} is followed by {times[i + 1]}")
    return times, step


def _series(ds, name: str, nt: int, where: str) -> np.ndarray:
    """A variable on (time[, y, x]) at the single grid point, as a float array of length nt."""
    var = ds.variables[name]
    if not var.dimensions or var.dimensions[0] != "time":
        raise InputDataError(f"{where}: variable '{name}' must have 'time' as its first "
                             f"dimension, has {var.dimensions}")
    v = _values(var, where, name)
    if v.size != nt:
        raise InputDataError(f"{where}: variable '{name}' has {v.size} values for {nt} times "
                             "(PLUMBER2 files hold one site)")
    v[v == -9999.0] = np.nan
    return v


def _fill(v: np.ndarray, var: str, times: np.ndarray, where: str, max_gap: int) -> np.ndarray:
    """Interior gaps of at most ``max_gap`` records interpolated; any other gap is an error."""
    bad = is_missing(v)
    if not bad.any():
        return v
    gap = first_unfillable_gap(bad, max_gap)
    if gap is not None:
        s, e = gap
        raise InputDataError(f"{where}: variable '{var}' is missing in {e - s} record(s) from "
                             f"{times[s]} UTC (PLUMBER2 forcing should be gap-filled; pass "
                             "max_gap_records > 0 to interpolate short interior gaps)")
    log.warning("%s: variable '%s': %d missing record(s) filled by linear interpolation",
                where, var, int(bad.sum()))
    return interp_missing(v, bad)


def _check_solar_noon(forcing: Forcing, site: PlumberSite, utc_offset_hours: float,
                      where: str) -> None:
    """Raise if the SWdown-weighted mean solar hour of the forcing is far from noon: then the
    UTC offset (or the time convention of the file) is wrong."""
    off = solar_noon_offset(forcing.times, forcing.data["rsds"], site.lat, site.lon)
    if abs(off) > SOLAR_NOON_TOLERANCE_HOURS:
        raise InputDataError(
            f"{where}: variable 'SWdown' is centred on local solar hour {12.0 + off:.1f} "
            f"with utc_offset_hours={utc_offset_hours:g} (expected about 12): the UTC offset "
            "is wrong, or the time stamps are not local standard time")
