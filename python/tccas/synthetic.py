"""Seeded weather generator for the bundled default case (ES-LM1, Majadas de Tietar).

Real site files cannot be downloaded where tccas is built, so the bundled forcing is made by
this generator, fitted to the site's published climatology:

* location 39.942628 N, 5.778625 W, 260 m a.s.l. (TCCAS training release; MPI-BGC);
* mean annual temperature about 16.5 degC, monthly means of the Extremadura lowlands
  (AEMET normals for Caceres/Navalmoral, rounded), diurnal range 11 K in winter to 17 K
  in summer;
* mean annual precipitation about 530 mm with a dry summer (< 6 % in June-August) and most
  rain from October to April (ICOS ES-LMa; CSIC FLUXPEC: 528-592 mm);
* short-wave radiation from exact solar geometry (Spencer 1971) times a clear-sky
  transmissivity and a cloud factor that depends on rain; long-wave from the Brutsaert (1975)
  clear-sky emissivity with the Crawford & Duchon (1999) cloud correction;
* humidity from a dew point that follows the daily minimum temperature, drier in summer;
* surface pressure for 260 m; wind from a Weibull distribution with an afternoon maximum;
* CO2 following the Mauna Loa record: 400.8 ppm in 2015 rising 2.4 ppm per year with a
  seasonal cycle of +-3 ppm.

Daily weather is a first-order Markov chain for wet days with gamma-distributed amounts and
AR(1) temperature anomalies; hours are filled with diurnal shapes. Everything derives from
one ``numpy.random.Generator`` seed, so the same seed gives the same file.
"""
from __future__ import annotations

import numpy as np

from .io import Forcing, running_mean, saturation_vapour_pressure

ESLM1 = {"lat": 39.942628, "lon": -5.778625, "elevation": 260.0}
FISOD = {"lat": 67.36239, "lon": 26.63859, "elevation": 180.0}

# Monthly climatologies, January..December: mean temperature (degC), diurnal range (K),
# precipitation (mm), wet days, dew-point depression below Tmin (K), surface pressure (Pa),
# mean wind (m s-1), cloudiness factor of dry days, summer months (1-based) with fewer clouds.
CLIMATES = {
    # ES-LM1 Majadas de Tietar: Extremadura lowlands (AEMET Caceres/Navalmoral normals)
    "ES-LM1": {
        "t_mean": [7.6, 9.2, 12.2, 14.2, 18.2, 23.3, 26.7, 26.4, 22.4, 17.1, 11.3, 8.3],
        "t_range": [10.5, 11.5, 13.0, 13.5, 15.0, 17.0, 18.0, 17.5, 16.0, 13.0, 11.0, 10.0],
        "p_month": [58.0, 52.0, 40.0, 52.0, 45.0, 18.0, 5.0, 7.0, 30.0, 72.0, 78.0, 70.0],
        "wet_days": [8.0, 7.5, 6.5, 8.0, 6.5, 3.0, 1.0, 1.2, 3.5, 8.0, 8.5, 8.5],
        "dew_dep": [1.5, 2.0, 2.5, 3.0, 4.0, 6.0, 8.0, 8.0, 6.0, 3.5, 2.0, 1.5],
        "ps": 98200.0, "wind": 2.4, "dry_sky": (6, 9),
    },
    # FI-Sod Sodankyla, Finnish Lapland: FMI 1991-2020 normals (MAT ~0 degC, ~530 mm, snow
    # from October to May), ICOS FI-Sod station description
    "FI-Sod": {
        "t_mean": [-13.0, -12.0, -7.0, -1.0, 6.0, 12.0, 15.0, 12.5, 7.0, 0.5, -6.0, -10.5],
        "t_range": [7.0, 8.5, 10.0, 10.0, 10.5, 10.5, 10.0, 9.5, 8.0, 6.0, 5.5, 6.5],
        "p_month": [35.0, 30.0, 30.0, 30.0, 40.0, 60.0, 75.0, 70.0, 50.0, 45.0, 40.0, 35.0],
        "wet_days": [11.0, 9.5, 9.0, 8.0, 9.0, 10.0, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0],
        "dew_dep": [1.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0, 2.5, 2.0, 1.0, 1.0, 1.0],
        "ps": 99500.0, "wind": 2.2, "dry_sky": (6, 8),
    },
}


def solar_cosz(times: np.ndarray, lat: float, lon: float) -> np.ndarray:
    """cos(solar zenith) at the given UTC times (Spencer 1971), not clipped."""
    t = times.astype("datetime64[s]")
    day = t.astype("datetime64[D]")
    doy = (day - day.astype("datetime64[Y]")).astype(float) + 1.0
    hour = (t - day).astype(float) / 3600.0
    g = 2.0 * np.pi * (doy - 1.0 + (hour - 12.0) / 24.0) / 365.0
    decl = (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))
    eot = 229.18 * (0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g)
                    - 0.014615 * np.cos(2 * g) - 0.040849 * np.sin(2 * g))
    solar_time = hour + lon / 15.0 + eot / 60.0
    ha = (solar_time - 12.0) * np.pi / 12.0
    phi = np.deg2rad(lat)
    return np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(ha)


def hour_mean_cosz(times: np.ndarray, lat: float, lon: float) -> np.ndarray:
    """Mean of max(cos zenith, 0) over each hour starting at ``times`` (six sub-steps)."""
    sub = [solar_cosz(times + np.timedelta64(int(600 * (2 * k + 1) / 2), "s"), lat, lon)
           for k in range(6)]
    return np.mean(np.maximum(np.array(sub), 0.0), axis=0)


def generate_forcing(start: str = "2015-01-01", end: str = "2022-01-01", seed: int = 20170101,
                     lat: float = ESLM1["lat"], lon: float = ESLM1["lon"],
                     climate: str = "ES-LM1") -> Forcing:
    """Hourly forcing from ``start`` (inclusive) to ``end`` (exclusive), UTC, with the
    monthly climatology ``CLIMATES[climate]`` (ES-LM1 or FI-Sod)."""
    if climate not in CLIMATES:
        raise ValueError(f"unknown climate '{climate}' (known: {', '.join(CLIMATES)})")
    clim = CLIMATES[climate]
    _T_MEAN, _T_RANGE = np.array(clim["t_mean"]), np.array(clim["t_range"])
    _P_MONTH, _WET_DAYS = np.array(clim["p_month"]), np.array(clim["wet_days"])
    _DEW_DEPRESSION = np.array(clim["dew_dep"])
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D"))
    nd = days.size
    month = (days.astype("datetime64[M]").astype(int) % 12)
    doy = (days - days.astype("datetime64[Y]")).astype(float) + 1.0
    # smooth monthly climatology to daily values (periodic linear interpolation at mid-month)
    mid = np.array([15.5, 45.0, 74.5, 105.0, 135.5, 166.0, 196.5, 227.5, 258.0, 288.5, 319.0,
                    349.5])

    def daily(clim):
        x = np.concatenate([mid - 365.0, mid, mid + 365.0])
        y = np.concatenate([clim, clim, clim])
        return np.interp(doy, x, y)

    t_clim = daily(_T_MEAN)
    t_range = daily(_T_RANGE)
    dew_dep = daily(_DEW_DEPRESSION)
    days_in_month = np.array([31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    p_wet = np.clip(_WET_DAYS / days_in_month, 0.01, 0.9)[month]
    mean_amount = (_P_MONTH / _WET_DAYS)[month]
    # wet-day Markov chain: persistence raises P(wet | wet) above the climatological frequency
    wet = np.zeros(nd, dtype=bool)
    for i in range(nd):
        p = p_wet[i]
        if i > 0 and wet[i - 1]:
            p = min(0.95, p + 0.35 * (1.0 - p))
        else:
            p = p * 0.75 / (1.0 - 0.35 * p) if p < 0.9 else p
        wet[i] = rng.random() < p
    shape = 0.7
    amount = np.where(wet, rng.gamma(shape, mean_amount / shape), 0.0)      # mm d-1
    # AR(1) temperature anomalies; rain days are cooler and have a smaller range
    anom = np.zeros(nd)
    eps = rng.normal(0.0, 2.2, nd)
    for i in range(1, nd):
        anom[i] = 0.7 * anom[i - 1] + eps[i] * np.sqrt(1 - 0.7 ** 2)
    t_day = t_clim + anom - 1.8 * wet
    rng_day = t_range * np.where(wet, 0.55, 1.0) * np.clip(1 + rng.normal(0, 0.1, nd), 0.6, 1.4)
    tmin = t_day - 0.5 * rng_day
    cloud = np.clip(np.where(wet, rng.uniform(0.6, 1.0, nd),
                             rng.beta(1.2, 4.0, nd) * (1.3 - 0.9 * (month >= clim["dry_sky"][0] - 1)
                                                       * (month <= clim["dry_sky"][1] - 1))),
                    0.0, 1.0)
    # hourly series
    times = np.arange(np.datetime64(start, "h"), np.datetime64(end, "h")).astype("datetime64[s]")
    nt = times.size
    di = np.repeat(np.arange(nd), 24)
    solar_hour = (np.tile(np.arange(24) + 0.5, nd) + lon / 15.0) % 24.0
    # diurnal temperature: cosine with minimum near sunrise (06) and maximum at 15 solar time
    phase = np.where((solar_hour >= 6) & (solar_hour < 15),
                     -np.cos(np.pi * (solar_hour - 6.0) / 9.0),
                     np.cos(np.pi * ((solar_hour - 15.0) % 24.0) / 15.0))
    tas_c = t_day[di] + 0.5 * rng_day[di] * phase + rng.normal(0, 0.3, nt)
    tas = tas_c + 273.15
    # short-wave: extraterrestrial irradiance x clear-sky transmissivity x cloud factor
    cosz = hour_mean_cosz(times, lat, lon)
    g = 2 * np.pi * (doy[di] - 1) / 365.0
    e0 = 1.000110 + 0.034221 * np.cos(g) + 0.001280 * np.sin(g)
    s0 = 1361.0 * e0 * cosz
    airmass_trans = 0.76 ** (1.0 / np.maximum(cosz, 0.08) ** 0.678)  # Meinel-type clear sky
    rsds = s0 * airmass_trans * (1.0 - 0.72 * cloud[di] ** 2.5) * np.where(cosz > 0, 1.0, 0.0)
    rsds = np.maximum(rsds * np.clip(1 + rng.normal(0, 0.04, nt), 0.8, 1.2), 0.0)
    # humidity: dew point below the daily minimum temperature
    tdew = tmin[di] - dew_dep[di] * np.where(wet[di], 0.3, 1.0) + rng.normal(0, 0.5, nt)
    tdew = np.minimum(tdew, tas_c - 0.2)
    ea = saturation_vapour_pressure(tdew + 273.15)
    vpd = np.maximum(saturation_vapour_pressure(tas) - ea, 0.0)
    # long-wave: Brutsaert clear sky, Crawford & Duchon cloud correction
    eps_clear = 1.24 * (ea / 100.0 / tas) ** (1.0 / 7.0)
    c = cloud[di]
    rlds = (c + (1 - c) * eps_clear) * 5.670374e-8 * tas ** 4
    # precipitation: each wet day's amount falls in one storm of 2-10 hours
    pr = np.zeros(nt)
    for i in np.nonzero(wet)[0]:
        dur = int(rng.integers(2, 11))
        first = int(rng.integers(0, 24 - dur + 1))
        w = rng.gamma(2.0, 1.0, dur)
        pr[24 * i + first:24 * i + first + dur] = amount[i] * w / w.sum() / 3600.0
    # pressure at 260 m with synoptic variation; lower on wet days
    ps_day = clim["ps"] + np.convolve(rng.normal(0, 350, nd), np.ones(3) / 3, mode="same") \
        - 500.0 * wet
    ps = ps_day[di]
    # wind: Weibull daily mean, afternoon maximum
    wind_day = clim["wind"] * rng.weibull(2.0, nd) / 0.886 + 0.8 * wet
    wind = np.maximum(wind_day[di] * (1 + 0.35 * np.sin(np.pi * (solar_hour - 9) / 12)), 0.2)
    # CO2 (mol mol-1): Mauna Loa-like trend and seasonal cycle
    years = (times - np.datetime64("2015-01-01T00:00:00")).astype(float) / (365.25 * 86400)
    co2 = (400.8 + 2.4 * years + 3.0 * np.cos(2 * np.pi * (years - 0.36))) * 1e-6
    # deep-soil temperature: 30-day running mean of air temperature, as the reader does
    data = {"tas": tas, "rsds": rsds, "rlds": rlds, "pr": pr, "vpd": vpd, "ps": ps,
            "sfcWind": wind, "co2": co2, "tsl_deep": running_mean(tas, 24 * 30)}
    return Forcing(times, {k: np.asarray(v, dtype=float) for k, v in data.items()},
                   source=f"tccas.synthetic.generate_forcing(seed={seed})")
