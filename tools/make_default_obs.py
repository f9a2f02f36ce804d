#!/usr/bin/env python3
"""Regenerate the bundled observation sets of the default case ES-LM1 (twin experiment).

Real TROPOMI, SMOS, JRC-TIP and ICOS files cannot be downloaded where tccas is built, so the
default case carries synthetic observations: the model is run from a documented "truth"
parameter set (TRUTH_FACTORS below times the prior), sampled as the real instruments
sample the site over the assimilation window 2017-2021, and perturbed with Gaussian noise of
the stated uncertainty (seeded). Assimilating them should move the parameters from the prior
towards TRUTH.

Sampling (science.md sections 6-8; TCCAS ES-LM1 2015-2021 counts for comparison: SIF 726,
L-VOD 1327, SM 1397, FAPAR 179):

* sif: TROPOMI daily overpass at ~13:30 local solar time from 2018-05-01 (start of the
  TROPOSIF record), dropped when the hour is cloudy (short-wave below 75 % of clear sky) and
  on 35 % of the remaining days (orbit gaps, quality filtering); sigma = 0.2 + 0.3 SIF;
  footprint TmEv 0.25, C3Gr 0.75 (a ~5 km pixel).
* sm, vod: SMOS 06:00 (ascending) and 18:00 (descending) local solar time, each kept with
  probability 0.28 (2-3 day revisit, RFI); sigma 0.04 m3 m-3 and 0.05; footprint of the
  ~40 km cell TmEv 0.15, C3Gr 0.80 (5 % other land cover not modelled).
* fapar: JRC-TIP 8-day composites of white-sky FAPAR, 20 % missing (clouds);
  sigma = 0.05 + 0.1 FAPAR; footprint TmEv 0.2, C3Gr 0.8.
* nee: eddy covariance half-hourly, as rates in g C m-2 d-1, with gaps: 45 % of night-time
  half-hours (low turbulence), 12 % at random, three weeks of instrument failure per year;
  sigma = 0.6 + 0.2 |NEE|; tower footprint TmEv 0.2, C3Gr 0.8.
* gpp: daily partitioned GPP (g C m-2 d-1), 10 % of days missing; sigma = 0.5 + 0.15 GPP.
* sigma40, slope: ASCAT (Metop) backscatter normalised to 40 deg and its slope, one morning
  (descending, 09:30) and one evening (ascending, 21:30) overpass a day in local solar time,
  each kept with probability 0.55 (swath gaps of a single Metop at 40 N, quality flags);
  sigma 0.3 dB and 0.01 dB deg-1; footprint of the 25 km product TmEv 0.15, C3Gr 0.80.
  Drawn after every other stream, from their own seeded generator, so that they leave the
  other files unchanged. Not assimilated by default (the case's [assimilation] streams).

Run from the repository root with an installed tccas:

    python tools/make_default_obs.py
"""
from __future__ import annotations

import pathlib

import numpy as np

import tccas
from tccas.workflow import load_inputs, parameters_for
from tccas.model import apply_obs, obs_arrays, run_cell
from tccas.obs import ObservationSet, write_obs
from tccas.parameters import apply_overrides
from tccas.synthetic import hour_mean_cosz

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "python" / "tccas" / "data" / "cases" / "ES-LM1" / "obs"
SEED = 2017
WINDOW = (np.datetime64("2017-01-01T00:00:00"), np.datetime64("2022-01-01T00:00:00"))

# The truth of the twin experiment: the case's prior values times these factors (10-30 %
# changes), so that the truth follows the prior when the priors change.
TRUTH_FACTORS = {
    "vcmax25": {"TmEv": 0.85, "C3Gr": 1.2},
    "jv_scale": {"TmEv": 1.1, "C3Gr": 0.9},
    "f_auto": {"TmEv": 1.1, "C3Gr": 0.9},
    "lma": {"TmEv": 0.9, "C3Gr": 0.85},
    "c_w": 1.3,
    "sif_scale": 1.25,
    "vod_b": 1.2,
    "wood_water": 0.8,
    "hyd_min": 1.25,
    "wcm_b": 1.2,
    "wcm_d": 0.85,
}


def truth_parameters(ppft: np.ndarray, pglob: np.ndarray, pfts: list[int]) -> dict:
    """The truth as a [parameters]-style mapping: prior value times TRUTH_FACTORS."""
    from tccas.parameters import PARAMETERS, PFT_NAMES, global_index, pft_index
    truth = {}
    for name, factor in TRUTH_FACTORS.items():
        if PARAMETERS[name].per_pft:
            truth[name] = {key: float(ppft[pft_index(name), pfts.index(code)]) * f
                           for key, f in factor.items()
                           for code in pfts if PFT_NAMES[code] == key}
        else:
            truth[name] = float(pglob[global_index(name)]) * factor
    return truth


def hour_windows(times: np.ndarray, minutes: float = 60.0) -> tuple[np.ndarray, np.ndarray]:
    return times, times + np.timedelta64(int(minutes * 60), "s")


def main() -> None:
    rng = np.random.default_rng(SEED)
    cfg = tccas.load_config("ES-LM1")
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static)
    apply_overrides(ppft, pglob, list(static.pft),
                    truth_parameters(ppft, pglob, list(static.pft)), where="TRUTH")
    cell = run_cell(forcing.matrix(), forcing.times, static.lat, static.lon, static.sand,
                    static.clay, list(static.pft), ppft, pglob, nspin=cfg.run.spinup_hours)
    times = forcing.times
    in_window = (times >= WINDOW[0]) & (times < WINDOW[1])
    solar_hour = (times - times.astype("datetime64[D]")).astype(float) / 3600 \
        + static.lon / 15.0
    solar_hour = np.mod(solar_hour + 0.5, 24.0)          # at the middle of the hour

    def simulate(stream, t0, t1, fp, angle=None):
        n = t0.size
        o = ObservationSet(stream, t0, t1, np.zeros(n), np.ones(n), np.zeros(n, int), static.pft,
                           np.tile([fp[p] for p in static.pft], (n, 1)), angle)
        oa = obs_arrays([o], times, static.pft)
        return o, apply_obs(oa, cell.hourly, static.clay, pglob)

    def finish(o, truth, sigma, gen=None, **attrs):
        value = truth + (rng if gen is None else gen).normal(0.0, sigma)
        res = ObservationSet(o.stream, o.t_start, o.t_end, value, sigma, o.qc, o.pft, o.footprint,
                             o.angle, attrs={"source": "synthetic twin observations: "
                                             "tools/make_default_obs.py", **attrs})
        # 6 significant digits: far finer than any uncertainty, and the files stay small
        write_obs(OUT / f"{o.stream}.nc", res, attrs={"title": f"ES-LM1 synthetic {o.stream}"},
                  significant_digits=6)
        print(f"{o.stream}: {len(res)} observations")

    OUT.mkdir(parents=True, exist_ok=True)
    # SIF: TROPOMI ~13:30 local solar time, clear hours only
    cosz = hour_mean_cosz(times, static.lat, static.lon)
    doy = (times.astype("datetime64[D]") - times.astype("datetime64[Y]")).astype(float) + 1
    s0 = 1361.0 * (1 + 0.033 * np.cos(2 * np.pi * doy / 365)) * cosz
    clear = forcing.data["rsds"] >= 0.75 * s0 * 0.76 ** (1 / np.maximum(cosz, 0.08) ** 0.678)
    pick = in_window & (times >= np.datetime64("2018-05-01")) & (np.abs(solar_hour - 13.5) < 0.5) \
        & clear & (rng.random(times.size) > 0.35)
    t0, t1 = hour_windows(times[pick])
    o, y = simulate("sif", t0, t1, {3: 0.25, 9: 0.75})
    finish(o, y, 0.2 + 0.3 * np.abs(y), instrument="TROPOMI (synthetic)")
    # SMOS SM and VOD at 06:00 and 18:00 local solar time
    smos = in_window & ((np.abs(solar_hour - 6.5) < 0.5) | (np.abs(solar_hour - 18.5) < 0.5))
    for stream, sig in (("sm", 0.04), ("vod", 0.05)):
        pick = smos & (rng.random(times.size) < 0.28)
        t0, t1 = hour_windows(times[pick])
        o, y = simulate(stream, t0, t1, {3: 0.15, 9: 0.80})
        finish(o, y, np.full(y.size, sig), instrument="SMOS (synthetic)")
    # FAPAR: 8-day composites
    starts = np.arange(WINDOW[0], WINDOW[1], np.timedelta64(8, "D")).astype("datetime64[s]")
    ends = np.minimum(starts + np.timedelta64(8, "D"), WINDOW[1])
    keep = rng.random(starts.size) > 0.2
    o, y = simulate("fapar", starts[keep], ends[keep], {3: 0.2, 9: 0.8})
    finish(o, y, 0.05 + 0.1 * y, instrument="JRC-TIP (synthetic)")
    # NEE: half-hourly with gaps
    half = np.arange(WINDOW[0], WINDOW[1], np.timedelta64(1800, "s"))
    hidx = ((half - times[0]).astype(np.int64) // 3600)
    night = forcing.data["rsds"][hidx] < 5.0
    keep = (rng.random(half.size) > 0.12) & ~(night & (rng.random(half.size) < 0.45))
    day_of_run = (half - WINDOW[0]).astype("timedelta64[D]").astype(int)
    for y0 in range(5):
        start = y0 * 365 + int(rng.integers(0, 340))
        keep &= ~((day_of_run >= start) & (day_of_run < start + 21))
    t0 = half[keep]
    o, y = simulate("nee", t0, t0 + np.timedelta64(1800, "s"), {3: 0.2, 9: 0.8})
    finish(o, y, 0.6 + 0.2 * np.abs(y), instrument="eddy covariance (synthetic)",
           resolution="half-hourly")
    # GPP: daily
    days = np.arange(WINDOW[0], WINDOW[1], np.timedelta64(1, "D")).astype("datetime64[s]")
    keep = rng.random(days.size) > 0.1
    o, y = simulate("gpp", days[keep], days[keep] + np.timedelta64(1, "D"), {3: 0.2, 9: 0.8})
    finish(o, y, 0.5 + 0.15 * np.abs(y), instrument="eddy covariance, partitioned (synthetic)",
           resolution="daily")
    # ASCAT sigma40 and slope: 09:30 and 21:30 local solar time (own generator: the streams
    # above keep their values)
    rng_a = np.random.default_rng(SEED + 12)
    ascat = in_window & ((np.abs(solar_hour - 9.5) < 0.5) | (np.abs(solar_hour - 21.5) < 0.5))
    pick = ascat & (rng_a.random(times.size) < 0.55)
    t0, t1 = hour_windows(times[pick])
    for stream, sig in (("sigma40", 0.3), ("slope", 0.01)):
        o, y = simulate(stream, t0, t1, {3: 0.15, 9: 0.80}, angle=np.full(t0.size, 40.0))
        finish(o, y, np.full(y.size, sig), gen=rng_a, instrument="ASCAT on Metop (synthetic)",
               reference_angle_deg=40.0)


if __name__ == "__main__":
    main()
