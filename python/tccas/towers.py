"""Real flux towers as a standard check of the prior model.

Each :class:`TowerSite` describes a real site the way a user sets up a new one: location, UTC
offset, PFT composition and soil, with the reason for each choice, and the tower files
(FLUXNET2015/ICOS CSV or PLUMBER2 netCDF). :func:`score_site` runs D&B there with the
parameter table's priors (through :func:`tccas.run`, exactly as ``tccas run`` would) and
compares the daily model with the tower: r, bias and RMSE of GPP, NEE and LE, annual GPP and
NEE, days of green-up and senescence, and the targets of issue 9 (:data:`TARGETS`).

``python benchmarks/towers.py`` prints the table for every site in :data:`TOWER_SITES`.

Definitions (documented once here; the benchmark and the tests use them):

- Tower days are UTC days (the model's days). A half-hourly tower record is placed in the UTC
  day of its start time; a day is used only when all its records are present. A daily (DD)
  FLUXNET record is taken as the UTC day of its date, as the forcing reader does.
- ``good fraction`` of a tower day: the fraction of its records that were measured or
  gap-filled with good quality (QC 0 or 1; for a DD file the product's own NEE_VUT_REF_QC /
  LE_F_MDS_QC fraction). Daily r, bias and RMSE use the days with good fraction >=
  ``min_good_fraction`` (default 0.5: at least half of the day measured, so that the daily
  value is a measurement rather than the gap-filling model); GPP is screened with the QC of
  the NEE it is partitioned from (night-time partitioning, GPP_NT_VUT_REF).
- Annual GPP and NEE are sums over the calendar year of all days with a complete tower record
  (gap-filled values included, as in FLUXNET annual budgets), model and tower over the same
  days; years with fewer than :data:`MIN_DAYS_FOR_ANNUAL` such days are not reported. A year
  whose NEE record has more than :data:`MAX_UNMEASURED_RUN_DAYS` consecutive days without
  measurements (good fraction < 0.1; e.g. US-AR1 before its tower started in April 2009) is
  shown but not used: its sums and its tower phenology come from the gap filling. The
  annual-GPP target is met when the model's sum over the used years is within +-25 % of the
  tower's.
- Green-up and senescence of a year: the first and last day of year on which the 15-day
  centred running mean of daily GPP is at or above its minimum plus half its amplitude
  (maximum - minimum) in that year; undefined when the amplitude is below
  :data:`MIN_GPP_AMPLITUDE`.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from . import io
from .errors import ConfigError, InputDataError
from .obs import ObservationSet, daily_means
from .parameters import HOURLY_OUTPUTS, PFT_NAMES

__all__ = ["DailyMetrics", "MIN_DAYS_FOR_ANNUAL", "MIN_GPP_AMPLITUDE", "TARGETS",
           "TOWER_ASSIMILATED", "TOWER_SITES", "SiteScores", "TowerSite", "daily_metrics", "daily_tower_values",
           "format_scores", "load_tower_fluxes", "load_tower_forcing", "longest_unmeasured_run",
           "phenology_days", "plot_site", "plumber2_tower_site", "score_site",
           "write_tower_case"]

log = logging.getLogger(__name__)

# Issue 9 targets with prior parameters, at every site (name -> (threshold, meaning)).
TARGETS: dict[str, tuple[float, str]] = {
    "gpp_r": (0.85, "daily GPP r >= 0.85"),
    "gpp_annual": (0.25, "annual GPP within +-25 %"),
    "nee_r": (0.60, "daily NEE r >= 0.6"),
    "le_r": (0.75, "daily LE r >= 0.75"),
}
MIN_DAYS_FOR_ANNUAL = 360           # days with a complete tower record in a calendar year
MIN_GPP_AMPLITUDE = 0.5             # g C m-2 d-1, seasonal amplitude below which no phenology
# A year whose NEE record has a run of more than this many days with (almost) no measurement
# (good fraction < UNMEASURED_GOOD_FRACTION) is gap-filled from the filling model, not
# measured: it is shown but not used for the annual target nor for the tower's phenology.
MAX_UNMEASURED_RUN_DAYS = 30
UNMEASURED_GOOD_FRACTION = 0.1
PHENOLOGY_WINDOW_DAYS = 15
PHENOLOGY_FRACTION = 0.5
DEFAULT_MIN_GOOD_FRACTION = 0.5
ALL_QC = 1000                        # qc_max that keeps every record (flags are kept)
# A record that misses the last UTC day of a year (a local-time file of one year ends before
# 24 UTC east of Greenwich) is completed by repeating its last day, at most this many days,
# so that the equilibrium carbon spin-up has the whole year it needs; the repeated day has no
# tower data and is never scored.
MAX_REPEATED_DAYS = 1
DEFAULT_RUN_OPTIONS = {"carbon_spinup": "equilibrium"}
#: tower streams a written case assimilates (GPP is withheld: partitioned from the same NEE)
TOWER_ASSIMILATED = ("nee", "le")


@dataclass(frozen=True)
class TowerSite:
    """A real flux-tower site set up as a new user would.

    Attributes
    ----------
    name : FLUXNET site code.
    layout : "fluxnet" (FLUXNET2015 / ICOS CSV, HH or DD) or "plumber2" (Met + Flux netCDF).
    forcing_file, flux_file : file names inside the data folder (the same file for FLUXNET).
    lat, lon : degrees north / east. utc_offset_hours : local standard time - UTC, h.
    pfts, fractions : BETHY PFT codes of the tiles and their cover fractions (sum 1).
    sand, clay : soil mass fractions; soil_depth : m.
    start, end : default run period (inclusive ISO dates; whole UTC days of the forcing, and
        at most one day more, see :data:`MAX_REPEATED_DAYS`).
    notes : reason and source of each choice (keys "vegetation", "soil", "time", "data"),
        and "history" where the site's management or disturbance history bears on how far
        a prior can match it (printed by :func:`format_scores`).
    parameters : site-specific parameter overrides ({} = the table's priors).
    """

    name: str
    layout: str
    forcing_file: str
    flux_file: str
    lat: float
    lon: float
    utc_offset_hours: float
    pfts: tuple[int, ...]
    fractions: tuple[float, ...]
    sand: float
    clay: float
    soil_depth: float
    start: str
    end: str
    notes: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: site, vegetation, soil, period."""
        veg = ", ".join(f"{PFT_NAMES[p]} {f:.2f}" for p, f in zip(self.pfts, self.fractions))
        return (f"{self.name} ({self.lat:.3f} N, {self.lon:.3f} E, UTC{self.utc_offset_hours:+g}"
                f"): {veg}; sand {self.sand:.2f}, clay {self.clay:.2f}, soil depth "
                f"{self.soil_depth:g} m")


TOWER_SITES: dict[str, TowerSite] = {
    "US-AR1": TowerSite(
        name="US-AR1", layout="fluxnet",
        forcing_file="FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv",
        flux_file="FLX_US-AR1_FLUXNET2015_SUBSET_DD_2009-2012_1-3.csv",
        lat=36.4267, lon=-99.42, utc_offset_hours=-6.0, pfts=(10,), fractions=(1.0,),
        sand=0.65, clay=0.10, soil_depth=1.5, start="2009-01-01", end="2012-12-31",
        notes={
            "vegetation": "switchgrass (Panicum virgatum), a C4 perennial grass, planted for "
                          "biofuel at the USDA-ARS Southern Plains station, Woodward, Oklahoma: "
                          "C4Gr (10) on the whole footprint. The USDA-ARS project report "
                          "(accession 416749, 2012) notes that the 2011-2012 droughts thinned "
                          "the stand and let winter-annual (C3) grasses and witchgrass in; no C3 "
                          "tile is added, since its share is not known.",
            "soil": "sandy soils (same report); texture a guess for a fine sandy loam of the "
                    "Southern Great Plains (65 % sand, 10 % clay), depth 1.5 m (deep "
                    "unconsolidated soil, roots not limited by it).",
            "time": "FLUXNET UTC_OFFSET -6 (US Central Standard Time); the DD file's local "
                    "day is taken as the UTC day.",
            "data": "FLUXNET2015 SUBSET DD 2009-2012 (CC-BY-4.0), see tests/data/README.md.",
            "history": "the record is a land conversion, not an established stand: the former "
                       "native prairie was burned and grazed in spring 2009, all grass was "
                       "killed with herbicide in summer 2009 and again in spring 2010, and "
                       "switchgrass was sown in April 2010 (AmeriFlux US-AR1 site description, "
                       "OSTI 1246137); the new stand established well in 2010, then lost "
                       "plants in the record 2011 drought and was invaded by winter-annual "
                       "(C3) grasses (USDA-ARS project 416749, reports 2011 and 2012). A "
                       "prior for an established perennial C4 grass at its carbon equilibrium "
                       "cannot follow this (tower GPP below 1 g C m-2 d-1 in April-May 2010 "
                       "after 226 mm of rain; docs/science/priors.md).",
        }),
    "SE-Svb": TowerSite(
        name="SE-Svb", layout="fluxnet", forcing_file="SE-Svb_2019_HH_fluxnet-layout.csv.gz",
        flux_file="SE-Svb_2019_HH_fluxnet-layout.csv.gz",
        lat=64.256, lon=19.7745, utc_offset_hours=1.0, pfts=(5,), fractions=(1.0,),
        sand=0.60, clay=0.05, soil_depth=1.0, start="2019-01-01", end="2019-12-31",
        notes={
            "vegetation": "closed boreal forest of Norway spruce (Picea abies) and Scots pine "
                          "(Pinus sylvestris), ICOS station SE-Svb: EvCn (5) on the whole "
                          "footprint (the dwarf-shrub field layer of bilberry and lingonberry "
                          "is left out: its share of GPP is small under a closed canopy).",
            "soil": "podzolised sandy-silty glacial till of the Krycklan catchment (Laudon et "
                    "al. 2013, Water Resour. Res. 49, 7154); texture a guess for a sandy loam "
                    "(60 % sand, 5 % clay), depth 1 m above the compact till.",
            "time": "local standard time UTC+1 (file description); the file's whole UTC days "
                    "are 2019-01-01 to 2019-12-30, and 2019-12-31 (23 of its 24 hours are in "
                    "the file) repeats 2019-12-30 so that the carbon spin-up cycles a whole "
                    "year; that day is not scored.",
            "data": "ICOS SE-Svb 2019 via LukeEcomod/pyAPES_VESBO (CC-BY-4.0), FLUXNET "
                    "layout, see tests/data/README.md.",
        }),
    "CN-Cng": TowerSite(
        name="CN-Cng", layout="plumber2", forcing_file="CN-Cng_2008-2009_FLUXNET2015_Met.nc",
        flux_file="CN-Cng_2008-2009_FLUXNET2015_Flux.nc",
        lat=44.5934, lon=123.5092, utc_offset_hours=8.0, pfts=(9,), fractions=(1.0,),
        sand=0.40, clay=0.20, soil_depth=1.0, start="2008-01-01", end="2009-12-30",
        notes={
            "vegetation": "Leymus chinensis meadow steppe of the Songnen Plain (Changling, "
                          "Jilin; IGBP GRA in the PLUMBER2 file, canopy height 0.75 m). Leymus "
                          "chinensis is a C3 perennial rhizomatous grass: C3Gr (9) on the whole "
                          "footprint (C4 annuals such as Chloris virgata occur on disturbed "
                          "saline patches; their share is not known).",
            "soil": "saline-sodic meadow soils and chernozems of the Songnen Plain; texture a "
                    "guess for a loam (40 % sand, 20 % clay), depth 1 m.",
            "time": "PLUMBER2 time is local standard time, China Standard Time UTC+8 (the "
                    "reader checks it against the solar noon of SWdown).",
            "data": "PLUMBER2 v1.0 (CC-BY-4.0), CO2 not in the Met copy: NOAA global-mean "
                    "record; see tests/data/README.md.",
        }),
}


def plumber2_tower_site(met_file: str | os.PathLike, flux_file: str | os.PathLike,
                        utc_offset_hours: float, pfts: tuple[int, ...],
                        fractions: tuple[float, ...], sand: float, clay: float,
                        soil_depth: float, notes: Mapping[str, str] | None = None) -> TowerSite:
    """A :class:`TowerSite` for any PLUMBER2 site: name and coordinates from the Flux file's
    variables, run period from the whole UTC days of the Met file (the year's last UTC day is
    kept when the file misses only its last hours, see :data:`MAX_REPEATED_DAYS`).

    Parameters
    ----------
    met_file, flux_file : the site's PLUMBER2 Met and Flux files (stored as absolute paths, so
        that :func:`score_site` finds them whatever its ``data_dir``).
    utc_offset_hours : local standard time - UTC, h.
    pfts, fractions : BETHY PFT codes and cover fractions (summing to 1).
    sand, clay : soil mass fractions; soil_depth : m.
    notes : the reasons for the choices (recommended: "vegetation", "soil", "time", "data").

    Raises
    ------
    InputDataError
        Unreadable files (see :func:`tccas.readers.read_plumber2_forcing`).
    ConfigError
        Fractions that do not sum to 1 or do not match ``pfts``, unknown PFT codes.
    """
    from .readers.plumber2 import read_plumber2_forcing, read_plumber2_site
    met_file, flux_file = Path(met_file).resolve(), Path(flux_file).resolve()
    pfts, fractions = tuple(int(p) for p in pfts), tuple(float(f) for f in fractions)
    if len(pfts) != len(fractions) or abs(sum(fractions) - 1.0) > 1e-6 \
            or any(p not in PFT_NAMES for p in pfts):
        raise ConfigError(f"{met_file}: pfts {pfts} (BETHY codes 1..13) and fractions "
                          f"{fractions} must match and sum to 1")
    info = read_plumber2_site(flux_file)
    forcing = read_plumber2_forcing(met_file, utc_offset_hours)
    first = forcing.times[0].astype("datetime64[D]")
    last = forcing.times[-1].astype("datetime64[D]")
    year_end = (last.astype("datetime64[Y]") + np.timedelta64(1, "Y")).astype("datetime64[D]") \
        - np.timedelta64(1, "D")
    if 0 < int((year_end - last).astype(int)) <= MAX_REPEATED_DAYS:
        last = year_end
    return TowerSite(name=info.code or met_file.stem, layout="plumber2",
                     forcing_file=str(met_file), flux_file=str(flux_file), lat=info.lat,
                     lon=info.lon, utc_offset_hours=float(utc_offset_hours), pfts=pfts,
                     fractions=fractions, sand=float(sand), clay=float(clay),
                     soil_depth=float(soil_depth), start=str(first), end=str(last),
                     notes=dict(notes or {}))


# ---------------------------------------------------------------------------------------------
# tower files

def _file(site: TowerSite, data_dir: str | os.PathLike, name: str) -> Path:
    path = Path(data_dir) / name
    if not path.is_file():
        raise InputDataError(f"{path}: tower file of site {site.name} not found (data folder "
                             f"{data_dir})")
    return path


def load_tower_forcing(site: TowerSite, data_dir: str | os.PathLike) -> io.Forcing:
    """Hourly forcing of a tower site from its file in ``data_dir`` (whole UTC days)."""
    path = _file(site, data_dir, site.forcing_file)
    if site.layout == "plumber2":
        from .readers.plumber2 import read_plumber2_forcing
        return read_plumber2_forcing(path, site.utc_offset_hours)
    if site.layout == "fluxnet":
        from .readers.fluxnet import read_fluxnet_forcing
        return read_fluxnet_forcing(path, utc_offset_hours=site.utc_offset_hours,
                                    lat=site.lat, lon=site.lon)
    raise ConfigError(f"site {site.name}: unknown layout '{site.layout}' "
                      "(known: fluxnet, plumber2)")


def load_tower_fluxes(site: TowerSite, data_dir: str | os.PathLike
                      ) -> dict[str, ObservationSet]:
    """Every record of the site's NEE, GPP (night-time partitioning) and LE, whatever their
    quality (the flags are kept in ``qc``), as observation sets keyed by stream."""
    path = _file(site, data_dir, site.flux_file)
    footprint = dict(zip(site.pfts, site.fractions))
    out = {}
    for stream in ("gpp", "nee", "le"):
        if site.layout == "plumber2":
            from .readers.plumber2 import read_plumber2_obs
            out[stream] = read_plumber2_obs(path, stream, footprint, site.utc_offset_hours,
                                            qc_max=ALL_QC)
        elif site.layout == "fluxnet":
            from .readers.fluxnet import read_fluxnet_obs
            out[stream] = read_fluxnet_obs(path, stream, footprint, site.utc_offset_hours,
                                           qc_max=3, min_good_fraction=0.0)
        else:
            raise ConfigError(f"site {site.name}: unknown layout '{site.layout}'")
    return out


def daily_tower_values(obs: ObservationSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily means of a tower observation set on UTC days.

    Parameters
    ----------
    obs : ObservationSet
        Records of one stream read with every QC flag kept (:func:`load_tower_fluxes`):
        half-hourly or hourly records with the product's flag (0 measured, 1 good gap
        filling, ...), or daily records whose ``qc`` is the percentage of the day not
        measured or good-quality gap-filled (FLUXNET DD).

    Returns
    -------
    days : datetime64[D] array of the UTC days with a complete record.
    value : daily mean in the stream's unit (g C m-2 d-1 for nee, gpp; W m-2 for le).
    good : fraction (0-1) of the day measured or gap-filled with good quality.
    """
    if len(obs) == 0:
        return np.zeros(0, "datetime64[D]"), np.zeros(0), np.zeros(0)
    step = (obs.t_end - obs.t_start).astype("timedelta64[s]").astype(np.int64)
    if np.all(step == 86400):
        days = obs.t_start.astype("datetime64[D]")
        return days, obs.value.astype(float), 1.0 - np.clip(obs.qc, 0, 100) / 100.0
    if np.unique(step).size != 1 or 86400 % int(step[0]):
        raise InputDataError(f"{obs.source}: records of stream '{obs.stream}' must all be "
                             "half-hourly, hourly or daily")
    per_day = 86400 // int(step[0])
    day_of = obs.t_start.astype("datetime64[D]")
    days, index, count = np.unique(day_of, return_inverse=True, return_counts=True)
    total = np.bincount(index, weights=obs.value)
    good = np.bincount(index, weights=((obs.qc >= 0) & (obs.qc <= 1)).astype(float))
    whole = count == per_day
    return days[whole], total[whole] / per_day, good[whole] / per_day


@dataclass(frozen=True)
class DailyMetrics:
    """Comparison of daily model and tower values: ``n`` days, Pearson ``r``, ``bias`` (mean
    of model - tower), ``rmse``, and the means of both (stream unit)."""

    n: int
    r: float
    bias: float
    rmse: float
    model_mean: float
    tower_mean: float


def daily_metrics(model: np.ndarray, tower: np.ndarray) -> DailyMetrics:
    """r, bias (model - tower) and RMSE of paired daily values (NaN pairs are left out).

    Examples
    --------
    >>> m = daily_metrics(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 2.0]))
    >>> (m.n, round(m.r, 12), m.bias, m.rmse)
    (3, 1.0, 1.0, 1.0)
    """
    model, tower = np.asarray(model, dtype=float), np.asarray(tower, dtype=float)
    ok = np.isfinite(model) & np.isfinite(tower)
    a, b = model[ok], tower[ok]
    n = int(ok.sum())
    if n == 0:
        return DailyMetrics(0, float("nan"), float("nan"), float("nan"), float("nan"),
                            float("nan"))
    d = a - b
    r = float(np.corrcoef(a, b)[0, 1]) if n > 2 and a.std() > 0 and b.std() > 0 \
        else float("nan")
    return DailyMetrics(n, r, float(d.mean()), float(np.sqrt((d ** 2).mean())),
                        float(a.mean()), float(b.mean()))


def longest_unmeasured_run(good: np.ndarray) -> int:
    """Longest run of consecutive days whose good fraction is below
    :data:`UNMEASURED_GOOD_FRACTION` (days with almost no measured record).

    Examples
    --------
    >>> longest_unmeasured_run(np.array([1.0, 0.0, 0.05, 0.0, 0.8, 0.0]))
    3
    """
    bad = np.concatenate(([0], (np.asarray(good) < UNMEASURED_GOOD_FRACTION).astype(int), [0]))
    edges = np.diff(bad)
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    return int((ends - starts).max()) if starts.size else 0


def phenology_days(days: np.ndarray, gpp: np.ndarray,
                   window: int = PHENOLOGY_WINDOW_DAYS,
                   fraction: float = PHENOLOGY_FRACTION) -> dict[int, tuple[float, float]]:
    """Green-up and senescence day of year of each calendar year of a daily GPP series.

    Parameters
    ----------
    days : datetime64[D] array, consecutive or with gaps (gaps are left out of the mean).
    gpp : daily GPP (g C m-2 d-1).
    window : length (days) of the centred running mean.
    fraction : threshold as a fraction of the seasonal amplitude above the minimum.

    Returns
    -------
    dict year -> (green-up, senescence) day of year (1-based): the first and last day whose
    smoothed GPP >= min + fraction * (max - min) of that year; NaN for a year whose amplitude
    is below :data:`MIN_GPP_AMPLITUDE`. Years with fewer than :data:`MIN_DAYS_FOR_ANNUAL` days
    are left out.
    """
    days = np.asarray(days).astype("datetime64[D]")
    gpp = np.asarray(gpp, dtype=float)
    if days.size == 0:
        return {}
    full = np.arange(days.min(), days.max() + np.timedelta64(1, "D"))
    series = np.full(full.size, np.nan)
    series[(days - full[0]).astype(int)] = gpp
    have = np.isfinite(series)
    kernel = np.ones(window)
    num = np.convolve(np.where(have, series, 0.0), kernel, mode="same")
    den = np.convolve(have.astype(float), kernel, mode="same")
    smooth = np.where(have, num / np.maximum(den, 1.0), np.nan)
    years = full.astype("datetime64[Y]").astype(int) + 1970
    out = {}
    for y in np.unique(years):
        m = (years == y) & have
        if m.sum() < MIN_DAYS_FOR_ANNUAL:
            continue
        s = smooth[m]
        lo, hi = float(s.min()), float(s.max())
        if hi - lo < MIN_GPP_AMPLITUDE:
            out[int(y)] = (float("nan"), float("nan"))
            continue
        above = np.nonzero(s >= lo + fraction * (hi - lo))[0]
        doy = (full[m] - full[m].astype("datetime64[Y]").astype("datetime64[D]")).astype(int) + 1
        out[int(y)] = (float(doy[above[0]]), float(doy[above[-1]]))
    return out


# ---------------------------------------------------------------------------------------------
# the model at a site

@dataclass(frozen=True)
class SiteScores:
    """Scores of the prior model at one tower site (see the module notes for definitions).

    ``daily`` maps gpp, nee, le to :class:`DailyMetrics`; ``annual`` maps year ->
    {"days", "gpp_model", "gpp_tower", "nee_model", "nee_tower"} (g C m-2 over the year's
    days); ``phenology`` maps year -> {"model": (green-up, senescence), "tower": (...)};
    ``peak_lai`` maps year -> the model's maximum daily LAI (cover-weighted);
    ``targets`` maps each name of :data:`TARGETS` -> (value, passed); ``series`` holds the
    daily values: "days" (model days), "model" {gpp, nee, le, lai} on them, and "tower"
    {stream: (days, value, good fraction)} (the tower's complete days)."""

    site: TowerSite
    start: str
    end: str
    daily: dict[str, DailyMetrics]
    annual: dict[int, dict[str, float]]
    phenology: dict[int, dict[str, tuple[float, float]]]
    peak_lai: dict[int, float]
    targets: dict[str, tuple[float, bool]]
    min_good_fraction: float
    run_options: Mapping[str, object] = field(default_factory=dict)
    series: Mapping[str, object] = field(default_factory=dict, repr=False)

    @property
    def annual_gpp_ratio(self) -> float:
        """Model / tower GPP summed over the years used for the target (NaN if none)."""
        used = [a for a in self.annual.values() if a["used"]]
        tower = sum(a["gpp_tower"] for a in used)
        model = sum(a["gpp_model"] for a in used)
        return model / tower if tower > 0 else float("nan")


def _toml_value(v: object) -> str:
    """A TOML literal for a config value (str, bool, int, float, date or a flat mapping)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, np.integer, np.floating)):
        return repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    text = str(v).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _write_case(site: TowerSite, forcing: io.Forcing, observations: Mapping[str, ObservationSet],
                target: Path, start: str, end: str, spinup_hours: int,
                parameters: Mapping[str, object], run_options: Mapping[str, object]) -> Path:
    """Write static.nc, forcing.nc, obs/<stream>.nc, config.toml and README.md of a tower
    case into ``target``; return the path of config.toml."""
    from .obs import write_obs
    target.mkdir(parents=True, exist_ok=True)
    forcing = _complete_last_days(forcing, end, site.name)
    static = io.Static(site.lat, site.lon, site.pfts, site.fractions, site.sand, site.clay,
                       site.soil_depth, name=site.name)
    io.write_static(target / "static.nc", static)
    io.write_forcing(target / "forcing.nc", forcing, site.lat, site.lon,
                     {"source": forcing.source, "site_name": site.name})
    lo = np.datetime64(start, "s")
    hi = np.datetime64(end, "D").astype("datetime64[s]") + np.timedelta64(86400, "s")
    obs_files = {}
    for stream, o in observations.items():
        o = o.subset((o.t_start >= lo) & (o.t_end <= hi))
        if len(o):
            obs_files[stream] = f"obs/{stream}.nc"
            write_obs(target / obs_files[stream], o, lat=site.lat, lon=site.lon)
    run = {"start": _dt.date.fromisoformat(start), "end": _dt.date.fromisoformat(end),
           "spinup_hours": int(spinup_hours), "hourly_output": False, **dict(run_options)}
    lines = [f"# tower site {site.name} written by tccas.towers (prior parameters)", "",
             "[site]", f"name = {_toml_value(site.name)}", 'static = "static.nc"',
             'forcing = "forcing.nc"', "", "[run]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in run.items()]
    lines += ["", "[parameters]"] + [f"{k} = {_toml_value(v)}" for k, v in parameters.items()]
    if obs_files:
        lines += ["", "[observations]"] + [f"{k} = {_toml_value(v)}"
                                           for k, v in obs_files.items()]
    assimilated = [s for s in TOWER_ASSIMILATED if s in obs_files]
    if assimilated:
        lines += ["", "[assimilation]",
                  "# tccas assimilate: the tower's NEE and LE over the whole run; GPP is",
                  "# withheld for validation (it is partitioned from the same NEE). The model",
                  "# error of each stream is estimated from the prior run's misfit",
                  "# (tccas.da.prior_model_error); give numbers (stream units) to set it yourself.",
                  f"start = {_toml_value(_dt.date.fromisoformat(start))}",
                  f"end = {_toml_value(_dt.date.fromisoformat(end))}",
                  f"streams = [{', '.join(_toml_value(s) for s in assimilated)}]",
                  'model_error = "prior"']
    with io.atomic_path(target / "config.toml") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    readme = [f"# Tower site {site.name}", "", site.describe(), "",
              f"Run {start} to {end}; forcing and tower data from {forcing.source}.", ""]
    readme += [f"- {k}: {v}" for k, v in site.notes.items()]
    with io.atomic_path(target / "README.md") as tmp:
        tmp.write_text("\n".join(readme) + "\n")
    return target / "config.toml"


def write_tower_case(site: TowerSite | str, data_dir: str | os.PathLike,
                     target: str | os.PathLike, *, start: str | None = None,
                     end: str | None = None, spinup_hours: int = 17520,
                     run_options: Mapping[str, object] | None = None, qc_max: int = 1,
                     min_good_fraction: float = DEFAULT_MIN_GOOD_FRACTION,
                     streams: tuple[str, ...] = ("nee", "gpp", "le"),
                     daily: bool = True) -> Path:
    """Write a tower site as a tccas case: ``tccas run TARGET/config.toml`` then runs it with
    prior parameters and compares with the tower's NEE, GPP and LE on the swath.

    Parameters
    ----------
    site : TowerSite or str
        A site or the name of one in :data:`TOWER_SITES`.
    data_dir : str or os.PathLike
        Folder holding the site's files.
    target : str or os.PathLike
        Folder to write (created): static.nc, forcing.nc (hourly, UTC), obs/nee.nc,
        obs/gpp.nc, obs/le.nc, config.toml and README.md (the site's set-up reasons).
    start, end : str, optional
        Run period (ISO dates, inclusive); default the site's record.
    spinup_hours : int, default 17520
    run_options : mapping, optional
        Extra ``[run]`` entries; default ``{"carbon_spinup": "equilibrium"}``.
    qc_max : int, default 1
        Good half-hourly records: measured or good-quality gap-filled (the records kept
        when ``daily`` is False).
    min_good_fraction : float, default 0.5
        Days kept as observations (daily files, and the daily means of ``daily``): at least
        this fraction of the day's half-hours good; the tower scores' threshold
        (:data:`DEFAULT_MIN_GOOD_FRACTION`).
    streams : tuple of str, default ("nee", "gpp", "le")
        Tower streams written as observation sets (empty: none).
    daily : bool, default True
        Write half-hourly and hourly records as daily means over local days
        (:func:`tccas.obs.daily_means` over every record, gap-filled ones included, keeping
        days whose good records cover ``min_good_fraction`` of them, as FLUXNET daily files
        are made and screened; sigma floored as the reader floors it), as flux-tower
        assimilations usually do (Kuppel et al. 2012; Bastrikov et al. 2018); False keeps
        every good record.
        Daily (DD) files are daily already.

    The config gets an ``[assimilation]`` table (NEE and LE over the whole run, GPP
    withheld, ``model_error = "prior"``), so ``tccas assimilate`` runs on the case as it is.

    Returns
    -------
    Path of the case's config.toml.
    """
    site = _site(site)
    start, end = start or site.start, end or site.end
    forcing = load_tower_forcing(site, data_dir)
    path = _file(site, data_dir, site.flux_file)
    footprint = dict(zip(site.pfts, site.fractions))
    obs = {}
    from .readers.fluxnet import FLUX_SIGMA_FLOOR, is_sub_daily
    sub_daily = site.layout == "plumber2" or is_sub_daily(path)
    for stream in streams:
        # daily means are taken over every record, gap-filled ones included, and judged by
        # the share of good ones (qc <= qc_max)
        q = 3 if daily and sub_daily else qc_max
        if site.layout == "plumber2":
            from .readers.plumber2 import read_plumber2_obs
            o = read_plumber2_obs(path, stream, footprint, site.utc_offset_hours, qc_max=q)
        else:
            from .readers.fluxnet import read_fluxnet_obs
            o = read_fluxnet_obs(path, stream, footprint, site.utc_offset_hours, qc_max=q,
                                 min_good_fraction=min_good_fraction)
        if daily and sub_daily and len(o):
            o = daily_means(o, utc_offset_hours=site.utc_offset_hours or 0.0,
                            min_coverage=min_good_fraction, good=o.qc <= qc_max,
                            sigma_floor=FLUX_SIGMA_FLOOR[stream])
        obs[stream] = o
    options = DEFAULT_RUN_OPTIONS if run_options is None else run_options
    return _write_case(site, forcing, obs, Path(target), start, end, spinup_hours,
                       dict(site.parameters), options)


def _site(site: TowerSite | str) -> TowerSite:
    if isinstance(site, str):
        if site not in TOWER_SITES:
            raise ConfigError(f"unknown tower site '{site}' (known: {', '.join(TOWER_SITES)})")
        return TOWER_SITES[site]
    return site


def _model_daily(site: TowerSite, forcing: io.Forcing, start: str, end: str,
                 spinup_hours: int, parameters: Mapping[str, object] | None,
                 run_options: Mapping[str, object]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Run the site through :func:`tccas.run` (a temporary case: static.nc, forcing.nc and
    config.toml, as a user writes them) and return the UTC days and the cover-weighted
    daily GPP, NEE (g C m-2 d-1), LE (W m-2) and LAI (m2 m-2)."""
    from .workflow import run
    from .config import read_config
    params = dict(site.parameters)
    params.update(parameters or {})
    with tempfile.TemporaryDirectory(prefix=f"tccas-tower-{site.name}-") as tmp:
        tmp = Path(tmp)
        cfg_path = _write_case(site, forcing, {}, tmp / "case", start, end, spinup_hours,
                               params, run_options)
        result = run(read_config(cfg_path), output_dir=tmp / "out", progress=False)
        hourly = result.cell.hourly
        times = result.times
    w = np.asarray(site.fractions)
    names = [h[0] for h in HOURLY_OUTPUTS]
    nd = times.size // 24

    def per_day(name: str, how: str) -> np.ndarray:
        h = hourly[:, names.index(name), :].reshape(nd, 24, -1)
        v = h.sum(axis=1) if how == "sum" else h.mean(axis=1)
        return v @ w

    out = {"gpp": per_day("gpp", "sum"), "nee": per_day("nee", "sum"),
           "le": per_day("le", "mean"), "lai": per_day("lai", "mean")}
    return times[::24].astype("datetime64[D]"), out


def _complete_last_days(forcing: io.Forcing, end: str, name: str) -> io.Forcing:
    """The forcing, with its last day repeated when it ends at most
    :data:`MAX_REPEATED_DAYS` days before ``end`` (inclusive date)."""
    stop = np.datetime64(end, "D") + np.timedelta64(1, "D")
    last = forcing.times[-1].astype("datetime64[D]") + np.timedelta64(1, "D")
    missing = int((stop - last).astype(int))
    if missing <= 0:
        return forcing
    if missing > MAX_REPEATED_DAYS:
        raise InputDataError(f"{forcing.source}: the forcing of site {name} ends on "
                             f"{last - np.timedelta64(1, 'D')}, {missing} days before the run "
                             f"end {end}")
    log.info("%s: site %s: the last day of the forcing is repeated %d time(s) to reach %s",
             forcing.source, name, missing, end)
    idx = np.concatenate([np.arange(forcing.times.size),
                          np.tile(np.arange(forcing.times.size - 24, forcing.times.size),
                                  missing)])
    times = forcing.times[0] + np.arange(idx.size) * np.timedelta64(3600, "s")
    return io.Forcing(times, {k: v[idx] for k, v in forcing.data.items()}, forcing.source)


def score_site(site: TowerSite | str, data_dir: str | os.PathLike, *, start: str | None = None,
               end: str | None = None, spinup_hours: int = 17520,
               parameters: Mapping[str, object] | None = None,
               run_options: Mapping[str, object] | None = None,
               min_good_fraction: float = DEFAULT_MIN_GOOD_FRACTION) -> SiteScores:
    """Run D&B with prior parameters at a real tower and score it against the tower.

    Parameters
    ----------
    site : TowerSite or str
        A site or the name of one in :data:`TOWER_SITES`.
    data_dir : str or os.PathLike
        Folder holding the site's files (the repository's ``tests/data``).
    start, end : str, optional
        Run period (ISO dates, inclusive); default the site's whole record.
    spinup_hours : int, default 17520
        ``[run] spinup_hours`` (the forcing of the run period cycled from its start).
    parameters : mapping, optional
        Extra ``[parameters]`` entries (default none: the table's priors).
    run_options : mapping, optional
        Extra ``[run]`` entries of the configuration; default
        ``{"carbon_spinup": "equilibrium"}``: a new site has no prior carbon pools, so they
        start at the model's own equilibrium under the spin-up forcing (:mod:`tccas.spinup`).
    min_good_fraction : float, default 0.5
        Tower days used for daily r, bias and RMSE need at least this fraction of measured or
        good-quality gap-filled records.

    Returns
    -------
    SiteScores

    Raises
    ------
    InputDataError
        Missing or invalid tower files; the forcing does not cover the period.
    ConfigError
        Unknown site name or invalid options.
    """
    site = _site(site)
    if not 0.0 <= min_good_fraction <= 1.0:
        raise ConfigError(f"min_good_fraction must be within [0, 1], got {min_good_fraction}")
    start = start or site.start
    end = end or site.end
    run_options = dict(DEFAULT_RUN_OPTIONS if run_options is None else run_options)
    forcing = load_tower_forcing(site, data_dir)
    days, model = _model_daily(site, forcing, start, end, spinup_hours, parameters,
                               run_options)
    fluxes = load_tower_fluxes(site, data_dir)
    daily, tower_all, tower_series = {}, {}, {}
    for stream in ("gpp", "nee", "le"):
        tdays, tval, good = daily_tower_values(fluxes[stream])
        inside = np.isin(tdays, days)
        tdays, tval, good = tdays[inside], tval[inside], good[inside]
        tower_series[stream] = (tdays, tval, good)
        idx = (tdays - days[0]).astype(int)
        mval = model[stream][idx]
        use = good >= min_good_fraction
        daily[stream] = daily_metrics(mval[use], tval[use])
        tower_all[stream] = (tdays, tval, mval)
    annual = {}
    years_g = tower_all["gpp"][0].astype("datetime64[Y]").astype(int) + 1970
    years_n = tower_all["nee"][0].astype("datetime64[Y]").astype(int) + 1970
    for y in np.unique(years_g):
        mg, mn = years_g == y, years_n == y
        if mg.sum() < MIN_DAYS_FOR_ANNUAL or mn.sum() < MIN_DAYS_FOR_ANNUAL:
            continue
        gap = longest_unmeasured_run(tower_series["nee"][2][years_n == y])
        annual[int(y)] = {"days": int(mg.sum()),
                          "gpp_model": float(tower_all["gpp"][2][mg].sum()),
                          "gpp_tower": float(tower_all["gpp"][1][mg].sum()),
                          "nee_model": float(tower_all["nee"][2][mn].sum()),
                          "nee_tower": float(tower_all["nee"][1][mn].sum()),
                          "unmeasured_run": gap, "used": gap <= MAX_UNMEASURED_RUN_DAYS}
    tower_phen = phenology_days(tower_all["gpp"][0], tower_all["gpp"][1])
    model_phen = phenology_days(days, model["gpp"])
    phenology = {}
    for y, ph in tower_phen.items():
        if y in annual and not annual[y]["used"]:
            ph = (float("nan"), float("nan"))        # the tower's season was not measured
        phenology[y] = {"model": model_phen.get(y, (np.nan, np.nan)), "tower": ph}
    dyears = days.astype("datetime64[Y]").astype(int) + 1970
    peak_lai = {int(y): float(model["lai"][dyears == y].max()) for y in np.unique(dyears)}
    used = [a for a in annual.values() if a["used"]]
    tower_gpp = sum(a["gpp_tower"] for a in used)
    ratio = (sum(a["gpp_model"] for a in used) / tower_gpp if tower_gpp > 0
             else float("nan"))
    targets = {
        "gpp_r": (daily["gpp"].r, bool(daily["gpp"].r >= TARGETS["gpp_r"][0])),
        "gpp_annual": (ratio - 1.0, bool(abs(ratio - 1.0) <= TARGETS["gpp_annual"][0])),
        "nee_r": (daily["nee"].r, bool(daily["nee"].r >= TARGETS["nee_r"][0])),
        "le_r": (daily["le"].r, bool(daily["le"].r >= TARGETS["le_r"][0])),
    }
    return SiteScores(site, start, end, daily, annual, phenology, peak_lai, targets,
                      min_good_fraction, run_options,
                      {"days": days, "model": model, "tower": tower_series})


def format_scores(s: SiteScores) -> str:
    """A plain-text table of one site's scores (what ``benchmarks/towers.py`` prints)."""
    lines = [f"== {s.site.describe()}",
             f"   run {s.start} to {s.end}, prior parameters"
             + (f", [run] {dict(s.run_options)}" if s.run_options else "")
             + f"; daily scores on days with >= {100 * s.min_good_fraction:.0f} % good records",
             f"   {'':4s}{'n':>6s}{'r':>8s}{'bias':>9s}{'RMSE':>9s}{'model':>9s}{'tower':>9s}"]
    units = {"gpp": "gC m-2 d-1", "nee": "gC m-2 d-1", "le": "W m-2"}
    for k in ("gpp", "nee", "le"):
        m = s.daily[k]
        lines.append(f"   {k.upper():4s}{m.n:6d}{m.r:8.2f}{m.bias:9.2f}{m.rmse:9.2f}"
                     f"{m.model_mean:9.2f}{m.tower_mean:9.2f}  {units[k]}")
    lines.append(f"   {'year':6s}{'days':>5s}{'GPP mod':>9s}{'GPP twr':>9s}{'NEE mod':>9s}"
                 f"{'NEE twr':>9s}   green-up mod/twr  senesc. mod/twr  peak LAI")
    for y in sorted(set(s.annual) | set(s.phenology)):
        a = s.annual.get(y)
        p = s.phenology.get(y, {"model": (np.nan, np.nan), "tower": (np.nan, np.nan)})
        row = f"   {y:<6d}"
        row += (f"{a['days']:5d}{a['gpp_model']:9.0f}{a['gpp_tower']:9.0f}{a['nee_model']:9.0f}"
                f"{a['nee_tower']:9.0f}" if a else f"{'':5s}" + f"{'-':>9s}" * 4)
        row += (f"   {p['model'][0]:6.0f} /{p['tower'][0]:4.0f}    {p['model'][1]:6.0f} /"
                f"{p['tower'][1]:4.0f}   {s.peak_lai.get(y, np.nan):6.2f}")
        if a and not a["used"]:
            row += f"  (not used: {a['unmeasured_run']} days unmeasured)"
        lines.append(row)
    checks = []
    for name, (value, ok) in s.targets.items():
        shown = f"{100 * value:+.0f} %" if name == "gpp_annual" else f"{value:.2f}"
        checks.append(f"{TARGETS[name][1]}: {shown} {'PASS' if ok else 'FAIL'}")
    lines.append("   targets: " + "; ".join(checks))
    if "history" in s.site.notes:
        lines += textwrap.wrap("site history: " + s.site.notes["history"], width=95,
                               initial_indent="   ", subsequent_indent="     ")
    return "\n".join(lines)


def plot_site(scores: SiteScores, path: str | os.PathLike) -> Path:
    """Daily GPP, NEE and LE of model and tower, and the model's LAI, for one scored site.

    Tower days below the QC threshold of the scores are drawn pale (they do not enter the
    daily scores). Written as PNG to ``path`` (complete or not at all).

    Raises
    ------
    InputDataError
        matplotlib is not installed.
    """
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputDataError("tower figures need matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    ser = scores.series
    days, model = ser["days"], ser["model"]
    labels = {"gpp": "GPP (g C m-2 d-1)", "nee": "NEE (g C m-2 d-1)", "le": "LE (W m-2)"}
    fig, axes = plt.subplots(4, 1, figsize=(11, 9), sharex=True)
    for ax, k in zip(axes, ("gpp", "nee", "le")):
        tdays, tval, good = ser["tower"][k]
        ok = good >= scores.min_good_fraction
        ax.plot(tdays[~ok], tval[~ok], ".", ms=2, color="0.8", label="tower (gap-filled)")
        ax.plot(tdays[ok], tval[ok], ".", ms=2, color="0.3", label="tower")
        ax.plot(days, model[k], "-", lw=0.9, color="tab:red", label="model (prior)")
        m = scores.daily[k]
        ax.set_title(f"{k.upper()}: r = {m.r:.2f}, bias = {m.bias:.2f}, RMSE = {m.rmse:.2f}",
                     fontsize=9, loc="left")
        ax.set_ylabel(labels[k], fontsize=8)
    axes[0].legend(loc="upper right", fontsize=7, markerscale=3)
    axes[3].plot(days, model["lai"], "-", color="tab:green")
    axes[3].set_ylabel("model LAI (m2 m-2)", fontsize=8)
    fig.suptitle(scores.site.describe(), fontsize=9)
    fig.tight_layout()
    with io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return Path(path)
