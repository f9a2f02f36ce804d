"""Prior leaf-phenology days of a site from its own forcing climatology.

D&B takes its leaf phenology from DALEC2: once a year a labile-release pulse moves the
labile pool to the foliage and a leaf-fall pulse sheds foliage (``dnb_phenology``;
docs/science/phenology.md). Their timing is set by two parameters per PFT, ``d_onset`` (p12)
and ``d_fall`` (p15). Fixed days cannot serve one PFT from Spain to Oklahoma to Manchuria: a
C3 grass greens in October at a Mediterranean site and in May at a temperate-monsoon one.
This module sets a new site's prior ``d_onset`` / ``d_fall`` from the forcing the site runs
with (a rule, applied once in Python, so the days stay ordinary, differentiable parameters
of the control vector):

1. Daily growing-season index (GSI) of Jolly et al. (2005, Global Change Biology 11, 619):
   the product of linear ramps of daily minimum temperature (-2 to 5 degC), daily mean
   vapour-pressure deficit (900 to 4100 Pa, decreasing) and day length (10 to 11 h). The
   day-length ramp is applied to woody PFTs only: herbaceous PFTs green whenever it is warm
   and moist enough (Mediterranean annual grasses grow through the short days of winter).
   C4 grasses (warm-season grasses) need a warmer spring: their minimum-temperature ramp is
   Jolly's shifted by 7 K (5 to 12 degC), since C4 photosynthesis and growth stop near
   10 degC where C3 grasses still grow (Long 1983, Plant Cell Environ. 6, 345; the C4
   grasses of North American prairies start growing 4-6 weeks after the C3 grasses, Ode et
   al. 1980, Ecology 61, 1304).
2. For PFTs whose roots do not reach deep water (grasses, crops, shrubs, tundra, tropical
   deciduous trees) a fourth ramp, of the ratio of precipitation to potential evaporation
   (Priestley-Taylor, from the forcing's radiation and temperature) over the trailing 61
   days of the mean climate: 0 at P/PET = 0.25 and 1 at 0.5, after the FAO (1978)
   agro-ecological-zones criterion of the growing period (moist while P exceeds half of
   PET, extended by the time that the soil's stored rain lasts: hence two months rather
   than one). C4 grasses need about half the water of C3 plants per unit of growth (water
   requirement 250-350 against 450-950 g g-1, Black 1971, Adv. Ecol. Res. 7, 87), so their
   ramp is halved (0.125 to 0.25). Jolly et al. (2005) leave soil water out; it is what decides green-up in dry climates (as in the
   water-limited GSI of Stoeckli et al. 2011, JGR 116, G03020).
3. The index is averaged by day of year over the forcing years and smoothed with a 31-day
   circular running mean; the green season is the longest stretch where it exceeds half of
   its annual maximum. Where it never falls below half the maximum (no dormant season) the
   table days are kept.
4. DALEC's day parameters are not the days of the pulses' peaks: the Bloom & Williams (2015)
   pulse is shifted by an offset that depends on its width and magnitude (for the table's
   widths the peaks come 17-46 days after the parameter day). The rule places the peak of
   labile release at the start of the green season and the peak of leaf fall at its end,
   and inverts the offset numerically for the tile's ``cr_onset``, ``cr_fall`` and
   ``leaf_life``.
"""
from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np

from .errors import InputDataError
from .parameters import C4_PFTS, FORCING_VARS, PFT_NAMES, pft_index

__all__ = ["DRY_SENSITIVE_PFTS", "MIN_PHENOLOGY_DAYS", "PHOTOPERIOD_PFTS", "PPET_RAMP_C3",
           "PPET_RAMP_C4", "PPET_WINDOW_DAYS", "TMIN_RAMP", "TMIN_RAMP_C4", "climate_phenology",
           "config_gives", "growing_season_index", "pulse_peak_lag"]

log = logging.getLogger("tccas")

#: PFT codes whose green season also needs rain (the P/PET ramp, step 2 above).
DRY_SENSITIVE_PFTS = frozenset({2, 7, 8, 9, 10, 11, 13})
#: PFT codes whose green season also needs long days: the woody PFTs. Herbaceous PFTs
#: green whenever it is warm and moist enough (Mediterranean annual grasses grow through
#: the short days of winter), so the day-length ramp is left out for them.
PHOTOPERIOD_PFTS = frozenset({1, 2, 3, 4, 5, 6, 7, 8})

_YEAR = 365.25
#: Fewest days of forcing the rule accepts (days of year it lacks are interpolated).
MIN_PHENOLOGY_DAYS = 330
_SIGMA_SB = 5.670374419e-8
#: Days of the trailing window of the P/PET ratio (the month of the FAO growing-period
#: criterion plus about a month that the soil's stored rain lasts).
PPET_WINDOW_DAYS = 61
#: P/PET ramp (no growth .. no water limit) of C3 and of C4 plants (step 2 above).
PPET_RAMP_C3 = (0.25, 0.5)
PPET_RAMP_C4 = (0.125, 0.25)
#: Daily minimum temperature ramp (degC) of Jolly et al. (2005), and of C4 grasses.
TMIN_RAMP = (-2.0, 5.0)
TMIN_RAMP_C4 = (5.0, 12.0)


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _day_length(lat: float, doy: np.ndarray) -> np.ndarray:
    """Astronomical day length (h) from latitude (deg) and day of year (Spencer 1971)."""
    g = 2.0 * np.pi * (doy - 1) / 365.0
    decl = (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))
    x = -np.tan(np.radians(lat)) * np.tan(decl)
    return 24.0 / np.pi * np.arccos(np.clip(x, -1.0, 1.0))


def growing_season_index(times: np.ndarray, met: np.ndarray, lat: float,
                         water: bool, photoperiod: bool = True, c4: bool = False
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Climatological growing-season index by day of year.

    Parameters
    ----------
    times : (nt,) datetime64 start times of hourly steps, whole days from 00 UTC.
    met : (nt, nmet) hourly forcing in the core's order and canonical units
        (``parameters.FORCING_VARS``: tas K, rsds and rlds W m-2, pr kg m-2 s-1, vpd Pa, ...).
    lat : latitude (degrees north).
    water : include the P/PET ramp (PFTs of ``DRY_SENSITIVE_PFTS``).
    photoperiod : include the day-length ramp (woody PFTs, ``PHOTOPERIOD_PFTS``).
    c4 : use the ramps of C4 grasses (``TMIN_RAMP_C4``, ``PPET_RAMP_C4``).

    Returns
    -------
    gsi : (365,) index (0-1) for days of year 1..365, averaged over the years of the forcing
        and smoothed with a 31-day circular running mean.
    parts : (365, 4) the smoothed temperature, VPD, day-length and water (P/PET) ramps.
    """
    names = [v[0] for v in FORCING_VARS]
    nt = met.shape[0]
    if nt < 24 * MIN_PHENOLOGY_DAYS:
        raise InputDataError(f"the phenology rule needs about a year of forcing "
                             f"({MIN_PHENOLOGY_DAYS} days or more), got {nt // 24} days")
    nd = nt // 24
    m = met[:nd * 24].reshape(nd, 24, -1)
    tas = m[:, :, names.index("tas")] - 273.15
    tmin = tas.min(axis=1)
    tmean = tas.mean(axis=1)
    vpd = m[:, :, names.index("vpd")].mean(axis=1)
    rsds = m[:, :, names.index("rsds")].mean(axis=1)
    rlds = m[:, :, names.index("rlds")].mean(axis=1)
    pr = m[:, :, names.index("pr")].sum(axis=1) * 3600.0           # mm d-1
    days = np.asarray(times[::24][:nd]).astype("datetime64[D]")
    doy = (days - days.astype("datetime64[Y]")).astype(int) + 1
    doy = np.minimum(doy, 365)
    i_t = _ramp(tmin, *(TMIN_RAMP_C4 if c4 else TMIN_RAMP))
    i_v = 1.0 - _ramp(vpd, 900.0, 4100.0)
    if photoperiod:
        i_p = _ramp(_day_length(lat, doy.astype(float)), 10.0, 11.0)
    else:
        i_p = np.ones(nd)
    # Priestley-Taylor equilibrium evaporation of the daily net radiation (albedo 0.2,
    # surface emissivity 0.97); latent heat 2.45 MJ kg-1, psychrometric constant 66 Pa K-1
    rn = 0.8 * rsds + 0.97 * (rlds - _SIGMA_SB * (tmean + 273.15) ** 4)
    es = 610.78 * np.exp(17.269 * tmean / (237.3 + tmean))
    s = 17.269 * 237.3 * es / (237.3 + tmean) ** 2
    pet = np.maximum(1.26 * s / (s + 66.0) * rn * 86400.0 / 2.45e6, 0.0)
    daily = np.column_stack([i_t, i_v, i_p, pr, pet])
    clim = np.zeros((365, 5))
    for d in range(365):
        sel = doy == d + 1
        clim[d] = daily[sel].mean(axis=0) if sel.any() else np.nan
    if np.isnan(clim).any():         # days of year absent from a short record
        good = ~np.isnan(clim[:, 0])
        x = np.arange(365)
        for j in range(5):
            clim[:, j] = np.interp(x, x[good], clim[good, j], period=365)
    if water:
        # P/PET of the mean climate (as the FAO growing period uses mean monthly climate)
        # over the trailing PPET_WINDOW_DAYS, the year taken as circular
        n = PPET_WINDOW_DAYS
        kern = np.ones(n)
        p_sum = np.convolve(np.concatenate([clim[-(n - 1):, 3], clim[:, 3]]), kern, "valid")
        e_sum = np.convolve(np.concatenate([clim[-(n - 1):, 4], clim[:, 4]]), kern, "valid")
        i_w = _ramp(p_sum / np.maximum(e_sum, 1e-3), *(PPET_RAMP_C4 if c4 else PPET_RAMP_C3))
    else:
        i_w = np.ones(365)
    clim = np.column_stack([clim[:, :3], i_w])
    kernel = np.ones(31) / 31.0
    smooth = np.empty_like(clim)
    for j in range(4):
        ext = np.concatenate([clim[-15:, j], clim[:, j], clim[:15, j]])
        smooth[:, j] = np.convolve(ext, kernel, mode="valid")
    gsi_daily = np.concatenate([clim[-15:], clim, clim[:15]]).prod(axis=1)
    gsi = np.convolve(gsi_daily, kernel, mode="valid")
    return gsi, smooth


def _pulse(t: np.ndarray, d: float, life: float, width: float, mag: float) -> np.ndarray:
    """The annual pulse of ``dnb_phenology.annual_pulse`` (d-1)."""
    x = np.log(life - 1.0)
    coef = (2.359978471e-5, 3.32730053021e-4, 9.01865258885e-4, -5.437736864888e-3,
            -2.0836027517787e-2, 1.26972018064287e-1, -1.88459767342504e-1)
    off = width * np.polyval(coef, x)
    sf = _YEAR / np.pi
    arg = np.sin((t - d + off) / sf) * sf / width
    return 2.0 / np.sqrt(np.pi) * (mag / width) * np.exp(-arg * arg)


def pulse_peak_lag(period: float, life: float | None = None) -> float:
    """Days from a DALEC day parameter to the peak of its pulse.

    Parameters
    ----------
    period : ``cr_onset`` or ``cr_fall`` (d).
    life : ``leaf_life`` (yr) for the leaf-fall pulse; None for labile release (which
        releases 99.9 % of the pool a year, i.e. a pulse with life 1.001).

    Returns
    -------
    lag : peak day minus parameter day (d), positive: the pulse peaks after the day given.
    """
    width = period * np.sqrt(2.0) / 2.0
    life = 1.001 if life is None else float(life)
    mag = 0.5 * (np.log(life) - np.log(life - 1.0))
    t = np.arange(0.0, _YEAR, 0.05)
    phi = _pulse(t + 100.0, 100.0, life, width, mag)
    lag = float(t[int(np.argmax(phi))])
    return lag if lag < _YEAR / 2 else lag - _YEAR


def _green_season(gsi: np.ndarray) -> tuple[int, int] | None:
    """First and last day of year (1-based) of the longest circular run above half max."""
    above = gsi >= 0.5 * gsi.max()
    if above.all() or gsi.max() <= 0.0 or gsi.min() > 0.5 * gsi.max():
        return None
    # rotate so that day 0 is below the threshold, then find runs
    start = int(np.argmin(above))
    rot = np.roll(above, -start)
    best, best_len, k = None, 0, 0
    while k < 365:
        if rot[k]:
            j = k
            while j < 365 and rot[j]:
                j += 1
            if j - k > best_len:
                best, best_len = (k, j - 1), j - k
            k = j
        else:
            k += 1
    if best is None:
        return None
    first = (best[0] + start) % 365 + 1
    last = (best[1] + start) % 365 + 1
    return first, last


def climate_phenology(times: np.ndarray, met: np.ndarray, lat: float, pfts: Sequence[int],
                      ppft: np.ndarray, given: Mapping[str, object] | None = None,
                      ) -> dict[str, dict[int, float]]:
    """Prior ``d_onset`` and ``d_fall`` per PFT from the forcing climatology (rule above).

    Parameters
    ----------
    times, met, lat : hourly forcing of the site (see ``growing_season_index``).
    pfts : PFT codes of the tiles.
    ppft : (npft_par, ntile) PFT parameters (for ``cr_onset``, ``cr_fall``, ``leaf_life``).
    given : the ``[parameters]`` table of the configuration; a day it gives is kept.

    Returns
    -------
    days : ``{"d_onset": {pft: day}, "d_fall": {pft: day}}`` for the tiles that have a
        dormant season and whose configuration does not give the day (days of year, 1-365).
    """
    given = given or {}
    out: dict[str, dict[int, float]] = {"d_onset": {}, "d_fall": {}}
    cache: dict[tuple[bool, bool, bool], tuple[int, int] | None] = {}
    for i, code in enumerate(pfts):
        code = int(code)
        key = (code in DRY_SENSITIVE_PFTS, code in PHOTOPERIOD_PFTS, code in C4_PFTS)
        if key not in cache:
            cache[key] = _green_season(growing_season_index(times, met, lat, *key)[0])
        season = cache[key]
        if season is None:
            continue
        first, last = season
        lag_on = pulse_peak_lag(ppft[pft_index("cr_onset"), i])
        lag_fall = pulse_peak_lag(ppft[pft_index("cr_fall"), i],
                                  ppft[pft_index("leaf_life"), i])
        for name, peak, lag in (("d_onset", first, lag_on), ("d_fall", last, lag_fall)):
            if config_gives(given, name, code):
                continue
            out[name][code] = float((peak - lag - 1.0) % 365.0 + 1.0)
        log.info("phenology rule: PFT %s green season days %d-%d -> d_onset %.0f, d_fall %.0f",
                 PFT_NAMES[code], first, last, out["d_onset"].get(code, np.nan),
                 out["d_fall"].get(code, np.nan))
    return out


def config_gives(given: Mapping[str, object], name: str, code: int) -> bool:
    """Whether a ``[parameters]`` table sets PFT parameter ``name`` for PFT ``code``
    (a scalar sets it for every PFT; a table by PFT code or short name)."""
    if name not in given:
        return False
    value = given[name]
    if not isinstance(value, Mapping):
        return True
    keys = {str(k) for k in value}
    return str(code) in keys or PFT_NAMES[code] in keys
