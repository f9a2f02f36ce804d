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
well defined here and :func:`read_ascat_l2` returns the records only. The backscatter
(``sigma40``) and slope streams need their own observation operator (issue 12).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputDataError
from ._common import great_circle_km
from .troposif import check_site, open_dataset

__all__ = ["AscatL2Swath", "read_ascat_l2"]

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


def read_ascat_l2(path: str | os.PathLike, lat: float | None = None, lon: float | None = None,
                  radius_km: float | None = None) -> AscatL2Swath:
    """Read an ASCAT L2 SSM 25 km swath file (netCDF).

    Parameters
    ----------
    path : path
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
    near = (lat, lon, radius_km)
    if any(x is not None for x in near) and any(x is None for x in near):
        raise ConfigError("give lat, lon and radius_km together (or none of them)")
    if radius_km is not None and not radius_km > 0:
        raise ConfigError(f"radius_km must be > 0, got {radius_km!r}")
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
