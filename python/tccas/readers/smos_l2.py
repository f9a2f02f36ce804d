"""ESA SMOS Level 2 Soil Moisture half-orbits (MIR_SMUDP2, netCDF) to streams ``sm`` and ``vod``.

:func:`read_smos_l2` reads the ESA SMOS Level 2 soil-moisture user data product
(``SM_OPER_MIR_SMUDP2_<start>_<stop>_<version>_<counter>_<site>.nc``; processor v700 and its
reprocessing ``SM_REPR_MIR_SMUDP2_..._700_...``) and returns, for a site, the surface soil
moisture (stream ``sm``, m3 m-3) or the L-band vegetation optical depth at nadir (stream
``vod``, ``Optical_Thickness_Nad``, in nepers, i.e. the dimensionless optical depth tau) of
the grid points whose footprint touches the site, screened as recommended, with sigma from
the product's DQX uncertainty.

Confirmed on a real file
------------------------
Every name, type, fill value and scale factor below was read from a real v700 half-orbit
(2023-04-01, 50638 grid points; a cut-out is in tests/data/satellite) and the tests compare
the reader with that file read directly through netCDF4. One dimension ``n_grid_points``
(the ISEA 4H9 grid points of the half-orbit, about 15 km apart), no groups:

``Latitude``, ``Longitude`` float32, deg, fill -999. ``Grid_Point_ID`` uint32.
``Soil_Moisture``, ``Soil_Moisture_DQX`` float32, ``m3 m-3``, fill -999.
``Optical_Thickness_Nad``, ``Optical_Thickness_Nad_DQX`` float32, ``Np``, fill -999.
``Days`` int32 (days since 2000-01-01, fill 0), ``Seconds`` uint32 (s, fill 0),
``Microseconds`` uint32 (µs, fill 0): the UTC acquisition time of the grid point.
``Science_Flags`` uint32, ``Confidence_Flags`` uint16, ``Processing_Flags`` uint16 (fill 0).
``Chi_2`` uint8 (scale 0.2078, fill 0), ``Chi_2_P`` uint8 (chi-square probability of the
fit, scale 1/255, fill 0), ``RFI_Prob`` uint8 (probability of radio-frequency interference,
scale 0.005, fill 0), ``N_RFI_X``, ``N_RFI_Y`` (views flagged for RFI in X and Y
polarisation), ``M_AVA0`` (views available before any filtering) uint16, fill 0. The file
header is flattened into global attributes ``FH:*`` (``FH:File_Type`` = ``MIR_SMUDP2``,
``FH:Source:Creator_Version`` = ``700``) and ``VH:*``.

Two quirks of the real file the reader handles:

- The ``flag_masks`` of ``Science_Flags`` are stored as int16, so bits 15 and above read as
  -32768 or 0. The bit of each flag is its position in ``flag_meanings`` (30 names, bit 0 =
  ``FL_NON_NOM`` ... bit 29 = ``FL_DUAL_RETR_FNO_FFO``); the reader uses
  :data:`SCIENCE_FLAG_BITS`, which are the bits of the SMOS L2 SM product specification as
  ESA's SMOS toolbox (SMOS-Box, ``org.esa.beam.dataio.smos.SmosFormats``) lists them, and
  checks that the file's ``flag_meanings`` agree.
- ``_FillValue`` = 0 on ``RFI_Prob``, ``N_RFI_X``/``N_RFI_Y`` and ``Seconds`` collides
  with a true zero (no interference, no flagged view, midnight): netCDF4 masks 99 genuine
  zero RFI probabilities of retrieved grid points in the test half-orbit. The reader reads
  these variables as stored (0 is zero); a grid point has a retrieval when its
  ``Soil_Moisture`` (or ``Optical_Thickness_Nad``) is not -999, and then ``Days`` and
  ``M_AVA0`` are > 0.

Not confirmed: other processor versions (v620 and older have different variables) and the
Earth Explorer binary format (``.DBL``), which this reader does not read.

Screening (defaults; each is an argument)
-----------------------------------------
The filters that QA4SM, the ESA-funded soil-moisture validation service (AWST and TU Wien,
qa4sm.eu; ``validator/fixtures/filters.json`` and ``validator/validation/filters.py`` of
github.com/awst-austria/qa4sm) applies to SMOS L2 by default, plus urban areas:

- science flags (``reject_science``): ``FL_TOPO_S`` (strong topography), ``FL_OW`` (open
  water), ``FL_SNOW_MIX``, ``FL_SNOW_WET``, ``FL_SNOW_DRY`` (snow), ``FL_FROST`` (frozen
  soil), ``FL_ICE`` (permanent ice), ``FL_URBAN_HIGH`` (large urban area);
- RFI (QA4SM "good confidence"): ``RFI_Prob <= 0.2`` and
  ``(N_RFI_X + N_RFI_Y) / M_AVA0 <= 0.2``; confidence flags ``FL_RFI_PRONE_H`` and
  ``FL_RFI_PRONE_V`` (RFI above the threshold of the current DGG map), ``FL_NO_PROD`` and
  ``FL_RANGE`` (retrieved value outside its range) (``reject_confidence``);
- fit quality: ``Chi_2_P >= 0.05`` (QA4SM's mandatory default);
- for ``sm`` 0 <= value <= 1 m3 m-3; the DQX must be present and >= 0.

sigma = max(DQX, ``sigma_floor``); the floor is 0.04 m3 m-3 for ``sm`` (the SMOS mission
accuracy target, Kerr et al. 2010, Proc. IEEE 98, 666-687) and 0.02 for ``vod`` (as for the
SMOS-IC reader).

Footprint and selection
-----------------------
The SMOS footprint is about 40 km across (35-50 km over the field of view; Kerr et al.
2010), sampled every ~15 km by the grid. A grid point's footprint touches the site when the
site lies within ``footprint_km / 2`` of it (great-circle distance). Neighbouring grid
points see nearly the same footprint, so their errors are not independent: by default
(``select="nearest"``) one record per half-orbit is kept, the screened grid point nearest
to the site; ``select="all"`` keeps every screened grid point that touches the site. The
observation is given the site's PFT fractions (the ``footprint`` argument; see
:func:`tccas.readers.site_footprint`).

Time window: the grid point's acquisition time floored to the UTC hour, [t, t + 1 h).
qc = 0 for every kept record, angle 0 (multi-angular retrieval).
"""
from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, InputDataError
from ..obs import ObservationSet
from .._progress import progress as _progress_bar
from ._common import Tally, great_circle_km
from .troposif import (as_paths, check_site, describe_sources, footprint_row, hour_window,
                       open_dataset, time_sorted_records)

log = logging.getLogger(__name__)

__all__ = ["CONFIDENCE_FLAG_BITS", "DEFAULT_CHI2P_MIN", "DEFAULT_FOOTPRINT_KM",
           "DEFAULT_REJECT_CONFIDENCE", "DEFAULT_REJECT_SCIENCE", "DEFAULT_RFI_PROB_MAX",
           "DEFAULT_RFI_RATIO_MAX", "DEFAULT_SIGMA_FLOOR", "SCIENCE_FLAG_BITS",
           "SmosL2Granule", "read_smos_l2", "read_smos_l2_granule", "screen_smos_l2"]

FILE_TYPE = "MIR_SMUDP2"
VAR_LAT, VAR_LON, VAR_ID = "Latitude", "Longitude", "Grid_Point_ID"
VAR_SM, VAR_SM_DQX = "Soil_Moisture", "Soil_Moisture_DQX"                 # m3 m-3
VAR_VOD, VAR_VOD_DQX = "Optical_Thickness_Nad", "Optical_Thickness_Nad_DQX"  # Np
VAR_DAYS, VAR_SECONDS, VAR_MICROSECONDS = "Days", "Seconds", "Microseconds"
VAR_SCIENCE, VAR_CONFIDENCE, VAR_PROCESSING = ("Science_Flags", "Confidence_Flags",
                                               "Processing_Flags")
VAR_CHI2, VAR_CHI2P, VAR_RFI_PROB = "Chi_2", "Chi_2_P", "RFI_Prob"
VAR_N_RFI_X, VAR_N_RFI_Y, VAR_M_AVA0 = "N_RFI_X", "N_RFI_Y", "M_AVA0"
TIME_EPOCH = np.datetime64("2000-01-01T00:00:00", "ms")
FILL = -999.0                      # float fill of the product

#: bit of each Science_Flags flag (SMOS L2 SM product specification; ESA SMOS-Box)
SCIENCE_FLAG_BITS: dict[str, int] = {name: bit for bit, name in enumerate((
    "FL_NON_NOM", "FL_SCENE_T", "FL_BARREN", "FL_TOPO_S", "FL_TOPO_M", "FL_OW",
    "FL_SNOW_MIX", "FL_SNOW_WET", "FL_SNOW_DRY", "FL_FOREST", "FL_NOMINAL", "FL_FROST",
    "FL_ICE", "FL_WETLANDS", "FL_FLOOD_PROB", "FL_URBAN_LOW", "FL_URBAN_HIGH", "FL_SAND",
    "FL_SEA_ICE", "FL_COAST", "FL_OCCUR_T", "FL_LITTER", "FL_PR", "FL_INTERCEP",
    "FL_EXTERNAL", "FL_RAIN", "FL_TEC", "FL_TAU_FO", "FL_WINTER_FOREST",
    "FL_DUAL_RETR_FNO_FFO"))}
#: bit of each Confidence_Flags flag (the file's own flag_masks; ESA SMOS-Box)
CONFIDENCE_FLAG_BITS: dict[str, int] = {
    "FL_RFI_PRONE_H": 1, "FL_RFI_PRONE_V": 2, "FL_NO_PROD": 4, "FL_RANGE": 5, "FL_DQX": 6,
    "FL_CHI2_P": 7, "FL_FARADAY_ROTATION_ANGLE": 8}

DEFAULT_REJECT_SCIENCE = ("FL_TOPO_S", "FL_OW", "FL_SNOW_MIX", "FL_SNOW_WET", "FL_SNOW_DRY",
                          "FL_FROST", "FL_ICE", "FL_URBAN_HIGH")
DEFAULT_REJECT_CONFIDENCE = ("FL_RFI_PRONE_H", "FL_RFI_PRONE_V", "FL_NO_PROD", "FL_RANGE")
DEFAULT_CHI2P_MIN = 0.05          # QA4SM FIL_SMOSL2_CHI2P default
DEFAULT_RFI_PROB_MAX = 0.2        # QA4SM FIL_SMOSL2_RFI_good_confidence
DEFAULT_RFI_RATIO_MAX = 0.2       # (N_RFI_X + N_RFI_Y) / M_AVA0, same filter
DEFAULT_FOOTPRINT_KM = 40.0       # footprint diameter, km (Kerr et al. 2010)
DEFAULT_SIGMA_FLOOR = {"sm": 0.04, "vod": 0.02}   # m3 m-3, 1
SM_RANGE = (0.0, 1.0)             # m3 m-3
STREAMS = {"sm": (VAR_SM, VAR_SM_DQX, "m3 m-3"), "vod": (VAR_VOD, VAR_VOD_DQX, "Np")}


@dataclass(frozen=True)
class SmosL2Granule:
    """The variables of one SMOS L2 SM half-orbit that the reader uses, decoded.

    One entry per grid point (dimension ``n_grid_points``). Floats are NaN where the
    product stores its fill (-999 or the declared ``_FillValue``); ``Chi_2`` and ``Chi_2_P``
    are unpacked with their ``scale_factor`` (NaN where 0 = fill); ``RFI_Prob`` (unpacked)
    and the counts are read as stored (0 is zero, see the module notes); flags are integers
    (0 where the product's fill 0 is stored, i.e. no flag set).

    Attributes
    ----------
    path : the file.
    grid_point_id : ISEA 4H9 grid point numbers.
    lat, lon : degrees north / east.
    time : datetime64[ms] UTC acquisition time (NaT where Days is 0, no retrieval).
    soil_moisture, soil_moisture_dqx : m3 m-3.
    vod, vod_dqx : optical thickness at nadir and its DQX, Np (= dimensionless tau).
    science_flags, confidence_flags, processing_flags : int64 bit fields.
    chi_2 : chi-square of the retrieval fit; chi_2_p : its probability (0-1).
    rfi_prob : probability of RFI (0-1); n_rfi_x, n_rfi_y, m_ava0 : view counts.
    attrs : ``FH:File_Type``, validity start/stop and processor version of the file.
    """

    path: Path
    grid_point_id: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    time: np.ndarray
    soil_moisture: np.ndarray
    soil_moisture_dqx: np.ndarray
    vod: np.ndarray
    vod_dqx: np.ndarray
    science_flags: np.ndarray
    confidence_flags: np.ndarray
    processing_flags: np.ndarray
    chi_2: np.ndarray
    chi_2_p: np.ndarray
    rfi_prob: np.ndarray
    n_rfi_x: np.ndarray
    n_rfi_y: np.ndarray
    m_ava0: np.ndarray
    attrs: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.grid_point_id.shape[0])

    def value(self, stream: str) -> tuple[np.ndarray, np.ndarray]:
        """(value, DQX) of stream ``sm`` or ``vod``."""
        if stream == "sm":
            return self.soil_moisture, self.soil_moisture_dqx
        if stream == "vod":
            return self.vod, self.vod_dqx
        raise ConfigError(f"stream must be 'sm' or 'vod', got {stream!r}")


def read_smos_l2_granule(path: str | os.PathLike) -> SmosL2Granule:
    """Read one SMOS L2 SM half-orbit file (netCDF, v700) into a :class:`SmosL2Granule`.

    Raises
    ------
    InputDataError
        The file is missing, unreadable or truncated, is not a SMOS L2 SM product
        (``FH:File_Type`` other than ``MIR_SMUDP2`` or a needed variable missing), or a
        variable has unexpected units, shape or flag layout. The message names the file.
    """
    path = Path(path)
    where = str(path)
    with open_dataset(path) as ds:
        gnames = set(ds.ncattrs())        # ~300 header attributes: read only what is used
        ftype = ds.getncattr("FH:File_Type") if "FH:File_Type" in gnames else None
        if ftype is not None and str(ftype).strip() != FILE_TYPE:
            raise InputDataError(f"{where}: not a SMOS L2 soil-moisture file: FH:File_Type "
                                 f"is '{ftype}', expected '{FILE_TYPE}'")
        names = (VAR_LAT, VAR_LON, VAR_ID, VAR_SM, VAR_SM_DQX, VAR_VOD, VAR_VOD_DQX, VAR_DAYS,
                 VAR_SECONDS, VAR_MICROSECONDS, VAR_SCIENCE, VAR_CONFIDENCE, VAR_PROCESSING,
                 VAR_CHI2, VAR_CHI2P, VAR_RFI_PROB, VAR_N_RFI_X, VAR_N_RFI_Y, VAR_M_AVA0)
        missing = [n for n in names if n not in ds.variables]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise InputDataError(f"{where}: not a SMOS L2 soil-moisture file (MIR_SMUDP2 "
                                 f"v700): missing variable(s) {', '.join(missing[:3])}{more}")
        n = None
        for name in names:
            v = ds.variables[name]
            if v.ndim != 1 or (n is not None and v.shape[0] != n):
                raise InputDataError(f"{where}: variable '{name}' has shape {v.shape}, "
                                     f"expected one value per grid point ({n})")
            n = v.shape[0]
        for name in (VAR_SM, VAR_SM_DQX):
            _check_units(ds.variables[name], name, ("m3 m-3", "m3/m3", "m3m-3"), where)
        for name in (VAR_VOD, VAR_VOD_DQX):
            _check_units(ds.variables[name], name, ("np", "neper", "1", ""), where)
        meanings = str(getattr(ds.variables[VAR_SCIENCE], "flag_meanings", "")).split()
        if meanings and meanings != list(SCIENCE_FLAG_BITS)[:len(meanings)]:
            raise InputDataError(f"{where}: variable '{VAR_SCIENCE}' lists flag_meanings "
                                 f"{' '.join(meanings[:4])} ...; expected the v700 order "
                                 f"{' '.join(list(SCIENCE_FLAG_BITS)[:4])} ...")
        raw = {name: _raw(ds.variables[name], name, where) for name in names}
        scale = {name: float(getattr(ds.variables[name], "scale_factor", 1.0))
                 for name in (VAR_CHI2, VAR_CHI2P, VAR_RFI_PROB)}
        attrs = {k: str(ds.getncattr(k)) for k in
                 ("FH:File_Type", "FH:Validity_Period:Validity_Start",
                  "FH:Validity_Period:Validity_Stop", "FH:Source:Creator_Version")
                 if k in gnames}

    def flt(name):
        x = raw[name].astype(np.float64)
        x[(raw[name] == FILL) | ~np.isfinite(x)] = np.nan
        return x

    lat, lon = flt(VAR_LAT), flt(VAR_LON)
    days = raw[VAR_DAYS].astype(np.int64)
    ms = (days * 86_400_000 + raw[VAR_SECONDS].astype(np.int64) * 1000
          + np.round(raw[VAR_MICROSECONDS].astype(np.int64) / 1000.0).astype(np.int64))
    time = TIME_EPOCH + ms.astype("timedelta64[ms]")
    time[days <= 0] = np.datetime64("NaT")

    def packed(name, zero_is_fill):
        x = raw[name].astype(np.float64) * scale[name]
        if zero_is_fill:
            x[raw[name] == 0] = np.nan
        return x

    return SmosL2Granule(
        path=path, grid_point_id=raw[VAR_ID].astype(np.int64), lat=lat, lon=lon, time=time,
        soil_moisture=flt(VAR_SM), soil_moisture_dqx=flt(VAR_SM_DQX), vod=flt(VAR_VOD),
        vod_dqx=flt(VAR_VOD_DQX), science_flags=raw[VAR_SCIENCE].astype(np.int64),
        confidence_flags=raw[VAR_CONFIDENCE].astype(np.int64),
        processing_flags=raw[VAR_PROCESSING].astype(np.int64),
        chi_2=packed(VAR_CHI2, True), chi_2_p=packed(VAR_CHI2P, True),
        rfi_prob=packed(VAR_RFI_PROB, False), n_rfi_x=raw[VAR_N_RFI_X].astype(np.int64),
        n_rfi_y=raw[VAR_N_RFI_Y].astype(np.int64), m_ava0=raw[VAR_M_AVA0].astype(np.int64),
        attrs=attrs)


def screen_smos_l2(granule: SmosL2Granule, stream: str, *,
                   reject_science: Sequence[str] = DEFAULT_REJECT_SCIENCE,
                   reject_confidence: Sequence[str] = DEFAULT_REJECT_CONFIDENCE,
                   chi2p_min: float | None = DEFAULT_CHI2P_MIN,
                   rfi_prob_max: float | None = DEFAULT_RFI_PROB_MAX,
                   rfi_ratio_max: float | None = DEFAULT_RFI_RATIO_MAX) -> np.ndarray:
    """The screening reason of every grid point of a granule for stream ``sm`` or ``vod``.

    Returns
    -------
    numpy.ndarray of str
        ``""`` for a record that passes, otherwise the first failed test: ``no_retrieval``
        (value is fill), the name of the first rejected science flag (e.g. ``FL_OW``) or
        confidence flag that is set, ``chi2_p`` (``Chi_2_P < chi2p_min``), ``rfi_prob``,
        ``rfi_ratio`` (``(N_RFI_X + N_RFI_Y) / M_AVA0`` above ``rfi_ratio_max``),
        ``out_of_range`` (``sm`` outside 0-1 m3 m-3) or ``no_uncertainty`` (DQX is fill or
        negative). Thresholds set to None are not applied.
    """
    value, dqx = granule.value(stream)
    sci = _bits(reject_science, SCIENCE_FLAG_BITS, "reject_science")
    conf = _bits(reject_confidence, CONFIDENCE_FLAG_BITS, "reject_confidence")
    for name, x in (("chi2p_min", chi2p_min), ("rfi_prob_max", rfi_prob_max),
                    ("rfi_ratio_max", rfi_ratio_max)):
        if x is not None and not (0.0 <= float(x) <= 1.0):
            raise ConfigError(f"{name} must be in [0, 1] or None, got {x!r}")
    tests: list[tuple[str, np.ndarray]] = [("no_retrieval", ~np.isfinite(value))]
    tests += [(name, (granule.science_flags >> bit) & 1 == 1) for name, bit in sci]
    tests += [(name, (granule.confidence_flags >> bit) & 1 == 1) for name, bit in conf]
    if chi2p_min is not None:
        tests.append(("chi2_p", ~(granule.chi_2_p >= chi2p_min)))
    if rfi_prob_max is not None:
        tests.append(("rfi_prob", ~(granule.rfi_prob <= rfi_prob_max)))
    if rfi_ratio_max is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = (granule.n_rfi_x + granule.n_rfi_y) / granule.m_ava0.astype(float)
        tests.append(("rfi_ratio", ~(ratio <= rfi_ratio_max)))
    if stream == "sm":
        with np.errstate(invalid="ignore"):
            tests.append(("out_of_range", ~((value >= SM_RANGE[0]) & (value <= SM_RANGE[1]))))
    tests.append(("no_uncertainty", ~(dqx >= 0)))
    reason = np.full(len(granule), "", dtype=object)
    for name, failed in reversed(tests):   # the first failed test wins
        reason[failed] = name
    return reason


def read_smos_l2(paths: str | os.PathLike | Iterable[str | os.PathLike], lat: float,
                 lon: float, footprint: Mapping[int, float], *, stream: str,
                 footprint_km: float = DEFAULT_FOOTPRINT_KM, select: str = "nearest",
                 period: tuple[np.datetime64, np.datetime64] | None = None,
                 reject_science: Sequence[str] = DEFAULT_REJECT_SCIENCE,
                 reject_confidence: Sequence[str] = DEFAULT_REJECT_CONFIDENCE,
                 chi2p_min: float | None = DEFAULT_CHI2P_MIN,
                 rfi_prob_max: float | None = DEFAULT_RFI_PROB_MAX,
                 rfi_ratio_max: float | None = DEFAULT_RFI_RATIO_MAX,
                 sigma_floor: float | None = None, tally: Tally | None = None,
                 progress: bool | None = False) -> ObservationSet:
    """Read SMOS L2 SM half-orbits and return the screened ``sm`` or ``vod`` over a site.

    Parameters
    ----------
    paths : str, os.PathLike or an iterable of them
        SMOS L2 SM netCDF files (``*_MIR_SMUDP2_*.nc``), any order.
    lat, lon : float
        Site latitude (degrees_north) and longitude (degrees_east).
    footprint : dict[int, float]
        PFT fractions (BETHY code -> fraction) given to every observation.
    stream : {"sm", "vod"}
        ``sm``: ``Soil_Moisture`` (m3 m-3); ``vod``: ``Optical_Thickness_Nad`` (tau).
    footprint_km : float, default 40
        Footprint diameter, km: a grid point touches the site within footprint_km / 2.
    select : {"nearest", "all"}, default "nearest"
        One record per half-orbit (the screened grid point nearest to the site) or all.
    period : (datetime64, datetime64) or None
        UTC [start, end): records whose hourly window is not inside are dropped.
    reject_science, reject_confidence, chi2p_min, rfi_prob_max, rfi_ratio_max
        Screening, see :func:`screen_smos_l2` and the module notes.
    sigma_floor : float or None
        Lower bound of sigma; default 0.04 m3 m-3 (``sm``) or 0.02 (``vod``).
    tally : Tally or None
        If given, the counts of records read, kept and dropped (by reason) are added to it.
    progress : bool or None, default False
        Progress bar over the files (None: when stderr is a terminal).

    Returns
    -------
    ObservationSet
        Sorted by time; qc 0; window [hour, hour + 1 h); angle 0. Empty (with a warning)
        when nothing passes.

    Raises
    ------
    InputDataError
        A file is missing, truncated, of another product or malformed (named in the message).
    ConfigError
        Invalid stream, site, footprint, selection or thresholds.
    """
    if stream not in STREAMS:
        raise ConfigError(f"stream must be 'sm' or 'vod', got {stream!r}")
    if select not in ("nearest", "all"):
        raise ConfigError(f"select must be 'nearest' or 'all', got {select!r}")
    if not (isinstance(footprint_km, (int, float)) and 0 < footprint_km < 1000):
        raise ConfigError(f"footprint_km must be a diameter in km (0-1000), got "
                          f"{footprint_km!r}")
    files = as_paths(paths)
    lat, lon = check_site(lat, lon)
    pft, row = footprint_row(footprint)
    floor = DEFAULT_SIGMA_FLOOR[stream] if sigma_floor is None else float(sigma_floor)
    if not (floor > 0 and math.isfinite(floor)):
        raise ConfigError(f"sigma_floor must be > 0, got {sigma_floor}")
    own = Tally()
    times, values, sigmas = [], [], []
    for f in _progress_bar(files, total=len(files), desc=f"SMOS L2 {stream}",
                           enabled=progress, unit="file"):
        g = read_smos_l2_granule(f)
        own.files += 1
        own.read += len(g)
        reason = screen_smos_l2(g, stream, reject_science=reject_science,
                                reject_confidence=reject_confidence, chi2p_min=chi2p_min,
                                rfi_prob_max=rfi_prob_max, rfi_ratio_max=rfi_ratio_max)
        dist = great_circle_km(lat, lon, g.lat, g.lon)
        touch = np.isfinite(dist) & (dist <= footprint_km / 2.0)
        own.drop("outside_footprint", np.count_nonzero(~touch))
        idx = np.nonzero(touch)[0]
        if period is not None and idx.size:
            t0, t1 = hour_window(g.time[idx])
            inside = ~np.isnat(g.time[idx]) & (t0 >= period[0]) & (t1 <= period[1])
            # a grid point without retrieval has no time: it is dropped for that reason
            inside |= reason[idx] == "no_retrieval"
            own.drop("outside_period", np.count_nonzero(~inside))
            idx = idx[inside]
        for r in np.unique(reason[idx]):
            if r:
                own.drop(r, np.count_nonzero(reason[idx] == r))
        idx = idx[reason[idx] == ""]
        if select == "nearest" and idx.size > 1:
            best = idx[np.argmin(dist[idx])]
            own.drop("not_nearest", idx.size - 1)
            idx = np.array([best])
        value, dqx = g.value(stream)
        times.append(g.time[idx])
        values.append(value[idx])
        sigmas.append(np.maximum(dqx[idx], floor))
        own.kept += int(idx.size)
    t, value, sigma, t0, t1 = time_sorted_records(times, values, sigmas)
    n = t.size
    if tally is not None:
        tally.add(own)
    source = describe_sources(files)
    if n == 0 and tally is None:   # a caller with a tally reports the counts itself
        log.warning("%s: no SMOS L2 %s record touching the site (%.4f N, %.4f E) passed the "
                    "screening (%s)", source, stream, lat, lon, own.summary())
    attrs = {
        "product": "ESA SMOS Level 2 Soil Moisture (MIR_SMUDP2), processor v700",
        "variable": STREAMS[stream][0],
        "source_files": ", ".join(f.name for f in files),
        "site_lat": lat, "site_lon": lon,
        "footprint_km": float(footprint_km),
        "selection": ("nearest screened grid point per half-orbit" if select == "nearest"
                      else "every screened grid point touching the site"),
        "screening": (f"Science_Flags without {', '.join(reject_science) or 'none'}; "
                      f"Confidence_Flags without {', '.join(reject_confidence) or 'none'}; "
                      f"Chi_2_P >= {chi2p_min}; RFI_Prob <= {rfi_prob_max}; "
                      f"(N_RFI_X + N_RFI_Y) / M_AVA0 <= {rfi_ratio_max}"
                      + ("; 0 <= Soil_Moisture <= 1" if stream == "sm" else "")),
        "sigma": f"max({STREAMS[stream][1]}, {floor:g})",
        "sigma_floor": floor,
        "time_window": "grid point UTC acquisition time floored to the hour, [t, t + 1 h)",
        "qc_meaning": "0 = record passed the reader's screening",
        **own.as_attrs(),
    }
    obs = ObservationSet(stream, t0, t1, value, sigma, np.zeros(n, dtype=int), pft,
                         np.tile(row, (n, 1)), np.zeros(n), source, attrs)
    obs.validate()
    return obs


# ---- internals --------------------------------------------------------------------------------

def _check_units(var, name: str, accepted: tuple[str, ...], where: str) -> None:
    units = getattr(var, "units", None)
    if units is not None and str(units).strip().lower() not in accepted:
        raise InputDataError(f"{where}: variable '{name}' has units '{units}', expected "
                             f"'{accepted[0]}'")


def _raw(var, name: str, where: str) -> np.ndarray:
    """The stored values of a 1-D variable (no masking, no unpacking)."""
    try:
        var.set_auto_maskandscale(False)
        return np.asarray(var[:])
    except (OSError, RuntimeError, IndexError, ValueError) as exc:
        raise InputDataError(f"{where}: cannot read variable '{name}' (truncated or corrupt "
                             f"file?): {exc}") from None


def _bits(names: Sequence[str], table: Mapping[str, int], what: str) -> list[tuple[str, int]]:
    if isinstance(names, str):
        names = (names,)
    out = []
    for n in names:
        if n not in table:
            raise ConfigError(f"{what}: unknown flag {n!r} (known: {', '.join(table)})")
        out.append((n, table[n]))
    return out
