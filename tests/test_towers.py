"""Real flux towers as a standard check (tccas.towers): the scoring on constructed data with
known answers, and the prior model at US-AR1, SE-Svb and CN-Cng against issue 9's targets."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tccas.errors import ConfigError, InputDataError
from tccas.obs import ObservationSet
from tccas.towers import (TARGETS, TOWER_SITES, daily_metrics, daily_tower_values,
                          phenology_days, score_site)

DATA = Path(__file__).parent / "data"


# ---------------------------------------------------------------------------------------------
# metrics on constructed data

def test_daily_metrics_known_values():
    tower = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    m = daily_metrics(2.0 * tower + 1.0, tower)
    assert m.n == 5
    assert m.r == pytest.approx(1.0, abs=1e-12)
    assert m.bias == pytest.approx(np.mean(tower + 1.0))                  # 4.0
    assert m.rmse == pytest.approx(np.sqrt(np.mean((tower + 1.0) ** 2)))   # sqrt(18)
    assert (m.model_mean, m.tower_mean) == (7.0, 3.0)
    m = daily_metrics(-tower, tower)
    assert m.r == pytest.approx(-1.0, abs=1e-12)
    # r of two series with a known correlation: x and x + y with x, y orthogonal, equal norm
    x = np.array([1.0, -1.0, 1.0, -1.0])
    y = np.array([1.0, 1.0, -1.0, -1.0])
    assert daily_metrics(x + y, x).r == pytest.approx(1.0 / np.sqrt(2.0), abs=1e-12)
    # NaN pairs are left out; constant series have no r
    m = daily_metrics(np.array([1.0, np.nan, 3.0, 5.0]), np.array([1.0, 2.0, np.nan, 5.0]))
    assert m.n == 2 and np.isnan(m.r) and m.bias == 0.0
    assert np.isnan(daily_metrics(np.ones(5), tower).r)


def test_phenology_days_of_a_box_season():
    days = np.arange(np.datetime64("2010-01-01"), np.datetime64("2012-01-01"))
    doy = (days - days.astype("datetime64[Y]").astype("datetime64[D]")).astype(int) + 1
    year = days.astype("datetime64[Y]").astype(int) + 1970
    # 2010: high from day 100 to 250; 2011: from day 120 to 200, lower amplitude
    gpp = np.where(year == 2010, 1.0 + 4.0 * ((doy >= 100) & (doy <= 250)),
                   0.5 + 2.0 * ((doy >= 120) & (doy <= 200)))
    ph = phenology_days(days, gpp)
    # a 15-day centred mean of a step reaches half the step on the first / last high day
    assert ph[2010] == (100.0, 250.0)
    assert ph[2011] == (120.0, 200.0)
    # a flat year has no phenology; a short year is not reported
    assert all(np.isnan(ph_) for ph_ in phenology_days(days, np.full(days.size, 3.0))[2010])
    assert phenology_days(days[:200], gpp[:200]) == {}
    # gaps are left out of the running mean and do not move the dates
    keep = ~np.isin(doy, [50, 180, 300])
    assert phenology_days(days[keep], gpp[keep])[2010] == (100.0, 250.0)


def _obs(t0: np.ndarray, step_s: int, value: np.ndarray, qc: np.ndarray) -> ObservationSet:
    n = value.size
    return ObservationSet("gpp", t0, t0 + np.timedelta64(step_s, "s"), value, np.ones(n), qc,
                          (9,), np.ones((n, 1)), source="constructed")


def test_daily_tower_values_half_hourly_and_daily():
    # 2.5 days of half-hours: two whole UTC days and a partial third
    t0 = np.datetime64("2020-03-01T00:00:00") + np.arange(120) * np.timedelta64(1800, "s")
    value = np.arange(120, dtype=float)
    qc = np.where(np.arange(120) % 4 == 0, 2, np.where(np.arange(120) % 4 == 1, 1, 0))
    days, v, good = daily_tower_values(_obs(t0, 1800, value, qc))
    assert days.tolist() == [np.datetime64("2020-03-01"), np.datetime64("2020-03-02")]
    np.testing.assert_allclose(v, [np.mean(value[:48]), np.mean(value[48:96])])
    np.testing.assert_allclose(good, [0.75, 0.75])          # qc 0 and 1 are good, 2 is not
    # a day missing one half-hour is dropped
    days, _, _ = daily_tower_values(_obs(np.delete(t0, 10), 1800, np.delete(value, 10),
                                         np.delete(qc, 10)))
    assert days.tolist() == [np.datetime64("2020-03-02")]
    # daily (DD) records: qc is the percentage not measured or good-quality gap-filled
    d0 = np.array(["2020-03-01", "2020-03-02"], dtype="datetime64[s]")
    days, v, good = daily_tower_values(_obs(d0, 86400, np.array([2.0, 3.0]), np.array([0, 40])))
    np.testing.assert_allclose(good, [1.0, 0.6])
    np.testing.assert_allclose(v, [2.0, 3.0])


def test_longest_unmeasured_run():
    from tccas.towers import longest_unmeasured_run
    assert longest_unmeasured_run(np.array([1.0, 0.0, 0.05, 0.0, 0.8, 0.0])) == 3
    assert longest_unmeasured_run(np.ones(10)) == 0
    assert longest_unmeasured_run(np.zeros(40)) == 40
    assert longest_unmeasured_run(np.array([0.1, 0.2])) == 0    # 0.1 counts as measured


def test_sites_are_set_up_with_reasons():
    for name, site in TOWER_SITES.items():
        assert site.name == name
        assert abs(sum(site.fractions) - 1.0) < 1e-12 and len(site.pfts) == len(site.fractions)
        assert {"vegetation", "soil", "time", "data"} <= set(site.notes)
        assert site.parameters == {}                 # prior parameters: nothing site-tuned
        assert (DATA / site.forcing_file).is_file() and (DATA / site.flux_file).is_file()
    assert TOWER_SITES["US-AR1"].pfts == (10,)       # switchgrass: C4 grass
    assert TOWER_SITES["SE-Svb"].pfts == (5,)        # spruce/pine: evergreen conifer
    assert TOWER_SITES["CN-Cng"].pfts == (9,)        # Leymus chinensis: C3 grass


def test_plumber2_tower_site_from_the_files():
    from tccas.towers import plumber2_tower_site
    met, flux = (DATA / TOWER_SITES["CN-Cng"].forcing_file,
                 DATA / TOWER_SITES["CN-Cng"].flux_file)
    s = plumber2_tower_site(met, flux, 8.0, (9,), (1.0,), 0.4, 0.2, 1.0)
    ref = TOWER_SITES["CN-Cng"]
    assert (s.name, s.layout, s.start) == ("CN-Cng", "plumber2", "2008-01-01")
    # the Met file ends at 16 UTC on 31 December 2009: that day is completed, not dropped
    assert s.end == "2009-12-31"
    assert (s.lat, s.lon) == pytest.approx((ref.lat, ref.lon), abs=1e-4)
    assert Path(s.forcing_file).is_absolute() and Path(s.flux_file).is_absolute()
    with pytest.raises(ConfigError, match="must match and sum to 1"):
        plumber2_tower_site(met, flux, 8.0, (9, 10), (0.5, 0.4), 0.4, 0.2, 1.0)


def test_score_site_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown tower site 'XX-Xxx'"):
        score_site("XX-Xxx", DATA)
    with pytest.raises(InputDataError, match="tower file of site SE-Svb not found"):
        score_site("SE-Svb", tmp_path)


# ---------------------------------------------------------------------------------------------
# the prior model at the real towers (one or two years each; about 1-3 s per site)

PERIODS = {"US-AR1": ("2010-01-01", "2011-12-31"), "SE-Svb": ("2019-01-01", "2019-12-31"),
           "CN-Cng": ("2008-01-01", "2009-12-30")}
# Carbon pools start at the model's equilibrium (the default of score_site) at every site.
RUN_OPTIONS: dict = {}

# Targets the prior model does NOT yet meet at a site: a regression floor a little below the
# current score (r >= floor; for gpp_annual |model / tower - 1| <= floor). The scores measured
# on 2026-12-01 (branch lai: canopy capacity lai_max with shade_loss 0.2 d-1, C3-grass Vcmax25
# 78; on top of prior3's P/PET phenology rule, C4 ramps, drought leaf loss, grass f_lab 0.3,
# C4 temperature inhibition), spin-up 17520 h, are in the comments. When a change meets a
# target, delete its line here: the target is then asserted. CN-Cng and SE-Svb meet all four;
# US-AR1 meets LE r (0.77) since the canopy limit.
NOT_YET_MET = {
    ("US-AR1", "gpp_r"): 0.72,        # 0.75 (target 0.85)
    ("US-AR1", "gpp_annual"): 0.70,   # +65 % (target +-25 %): 2011 is a drought year at the
    ("US-AR1", "nee_r"): 0.46,        # 0.49 (target 0.6)       tower (GPP 299 against 709),
}                                     #                          2010 spring GPP near 0.5
MET = [(s, t) for s in PERIODS for t in TARGETS if (s, t) not in NOT_YET_MET]

# Tower-side facts of the files (independent of the model): annual GPP and NEE (g C m-2 over
# the year's whole UTC days, gap-filled records included) and the days used for daily scores.
TOWER_ANNUAL = {"US-AR1": {2010: (709, -78), 2011: (299, 192)},
                "SE-Svb": {2019: (899, -165)},
                "CN-Cng": {2008: (628, -209), 2009: (552, -217)}}


@pytest.fixture(scope="module")
def scores():
    cache = {}

    def get(site: str):
        if site not in cache:
            logging.disable(logging.WARNING)     # gap-filling notes of the readers
            try:
                cache[site] = score_site(site, DATA, start=PERIODS[site][0],
                                         end=PERIODS[site][1],
                                         run_options=RUN_OPTIONS.get(site))
            finally:
                logging.disable(logging.NOTSET)
        return cache[site]

    return get


@pytest.mark.parametrize("site", sorted(PERIODS))
def test_tower_files_give_the_published_annual_sums(scores, site):
    s = scores(site)
    assert sorted(s.annual) == sorted(TOWER_ANNUAL[site])
    for year, (gpp, nee) in TOWER_ANNUAL[site].items():
        assert s.annual[year]["used"]                     # measured, not gap-filled years
        assert s.annual[year]["gpp_tower"] == pytest.approx(gpp, abs=1.0)
        assert s.annual[year]["nee_tower"] == pytest.approx(nee, abs=1.0)
        assert np.isfinite(s.annual[year]["gpp_model"])
    for stream in ("gpp", "nee", "le"):
        assert s.daily[stream].n >= 150                   # enough good days to score
    # the tower's growing season is in the warm months at every site
    for year, ph in s.phenology.items():
        assert 60 < ph["tower"][0] < ph["tower"][1] < 300


@pytest.mark.parametrize("site, target", MET)
def test_tower_target_met(scores, site, target):
    value, ok = scores(site).targets[target]
    assert ok, f"{site}: {TARGETS[target][1]} no longer met: {value:.3f}"


@pytest.mark.parametrize("site, target", sorted(NOT_YET_MET))
def test_tower_target_not_yet_met_regression_floor(scores, site, target):
    value, ok = scores(site).targets[target]
    floor = NOT_YET_MET[(site, target)]
    if target == "gpp_annual":
        assert abs(value) <= floor, f"{site}: annual GPP off by {100 * value:+.0f} %"
    else:
        assert value >= floor, f"{site}: {target} = {value:.3f} fell below {floor}"


def test_last_day_is_repeated_for_a_whole_year_only_once(scores):
    # SE-Svb's file holds 364 whole UTC days; the run covers 365 (the last one repeated and
    # not scored), and a run end two days after the record is refused
    s = scores("SE-Svb")
    assert s.end == "2019-12-31" and s.annual[2019]["days"] == 364
    with pytest.raises(InputDataError, match="2 days before the run end 2020-01-01"):
        score_site("SE-Svb", DATA, end="2020-01-01", run_options={})


def test_plot_site_writes_a_png(scores, tmp_path):
    from tccas.towers import plot_site
    s = scores("SE-Svb")
    assert s.series["model"]["gpp"].size == s.series["days"].size == 365
    out = plot_site(s, tmp_path / "fig" / "svb.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "fig").glob("*.part"))


def test_unmeasured_years_are_shown_but_not_used():
    # US-AR1's tower started in mid-April 2009 and was down for much of the 2012 season:
    # FLUXNET gap-filled those months, so the years do not enter the annual target
    logging.disable(logging.WARNING)
    try:
        s = score_site("US-AR1", DATA, run_options={})
    finally:
        logging.disable(logging.NOTSET)
    assert {y: a["used"] for y, a in s.annual.items()} == {2009: False, 2010: True,
                                                           2011: True, 2012: False}
    assert s.annual[2009]["unmeasured_run"] > 100
    assert np.isnan(s.phenology[2009]["tower"][0]) and np.isfinite(s.phenology[2010]["tower"][0])
    used = [s.annual[y] for y in (2010, 2011)]
    ratio = sum(a["gpp_model"] for a in used) / sum(a["gpp_tower"] for a in used)
    assert s.annual_gpp_ratio == pytest.approx(ratio)
    assert s.targets["gpp_annual"][0] == pytest.approx(ratio - 1.0)


def test_docstring_examples():
    import doctest

    import tccas.towers
    result = doctest.testmod(tccas.towers)
    assert result.attempted >= 3 and result.failed == 0


def test_write_tower_case_runs_with_tccas_run(tmp_path):
    # a tower written as a case: `tccas run` compares the prior with the tower on the swath,
    # the half-hourly fluxes as daily means over local days (UTC+1 at SE-Svb)
    import tccas
    from tccas.config import read_config
    from tccas.readers import read_fluxnet_obs
    from tccas.towers import write_tower_case
    logging.disable(logging.WARNING)
    try:
        cfg = write_tower_case("SE-Svb", DATA, tmp_path / "case", run_options={})
        result = tccas.run(str(cfg), output_dir=tmp_path / "out")
        nee = read_fluxnet_obs(DATA / TOWER_SITES["SE-Svb"].flux_file, "nee", {5: 1.0}, 1.0,
                               qc_max=3)
    finally:
        logging.disable(logging.NOTSET)
    assert (tmp_path / "case" / "README.md").read_text().startswith("# Tower site SE-Svb")
    assert sorted(result.observations) == ["gpp", "le", "nee"]
    obs, sim = result.observations["nee"]
    assert np.isfinite(sim).all() and (tmp_path / "out" / "obs" / "nee.nc").exists()
    # whole local days: 23 UTC to 23 UTC; kept when half of their half-hours are good
    assert np.all(obs.t_end - obs.t_start == np.timedelta64(86400, "s"))
    assert np.all(obs.t_start.astype("datetime64[h]").astype(int) % 24 == 23)
    day = (nee.t_start.astype("datetime64[s]").astype(np.int64) + 3600) // 86400
    good = np.bincount(day - day.min(), nee.qc <= 1) / 48.0
    n = np.bincount(day - day.min())
    assert len(obs) == int(((good >= 0.5) & (n == 48)).sum()) > 150
    d0 = (obs.t_start[10].astype("datetime64[s]").astype(np.int64) + 3600) // 86400
    assert obs.value[10] == pytest.approx(nee.value[day == d0].mean(), rel=1e-12)
    # the case assimilates NEE and LE as it is, GPP withheld, model error from the prior
    a = read_config(cfg).assimilation
    assert a.streams == ("nee", "le") and a.model_error == {"nee": "prior", "le": "prior"}
    assert (str(a.start), str(a.end)) == ("2019-01-01", "2019-12-31")


def test_write_tower_case_keeps_every_good_record_when_not_daily(tmp_path):
    from tccas.obs import read_obs
    from tccas.readers import read_fluxnet_obs
    from tccas.towers import write_tower_case
    logging.disable(logging.WARNING)
    try:
        write_tower_case("SE-Svb", DATA, tmp_path / "case", run_options={}, daily=False,
                         streams=("nee",))
        nee = read_fluxnet_obs(DATA / TOWER_SITES["SE-Svb"].flux_file, "nee", {5: 1.0}, 1.0)
    finally:
        logging.disable(logging.NOTSET)
    obs = read_obs(tmp_path / "case" / "obs" / "nee.nc")
    # measured or good gap-filled half-hours inside the run's UTC days
    inside = ((nee.t_start >= np.datetime64("2019-01-01"))
              & (nee.t_end <= np.datetime64("2020-01-01")))
    assert len(obs) == int(inside.sum()) > 8000


def test_us_ar1_history_is_in_the_data_and_in_the_printout(scores):
    # US-AR1 was sprayed and sown to switchgrass in April 2010 (site history in its notes):
    # the tower's GPP stays below 1 g C m-2 d-1 through April-May 2010 although about 226 mm
    # of rain fell, and the prior (an established perennial stand) cannot follow that
    from tccas.towers import format_scores
    s = scores("US-AR1")
    days, gpp, _ = s.series["tower"]["gpp"]
    spring = (days >= np.datetime64("2010-04-01")) & (days <= np.datetime64("2010-05-31"))
    assert spring.sum() == 61 and gpp[spring].mean() < 1.0
    model_days = s.series["days"]
    model_spring = (model_days >= np.datetime64("2010-04-01")) & (
        model_days <= np.datetime64("2010-05-31"))
    assert s.series["model"]["gpp"][model_spring].mean() > 2.0 * gpp[spring].mean()
    text = format_scores(s)
    assert "site history:" in text and "sown in April 2010" in " ".join(text.split())
    assert "site history:" not in format_scores(scores("SE-Svb"))


def test_grass_towers_carry_a_grasslands_leaf_area(scores):
    # issue 9 (canopy): without the canopy limit lai_max the C4 switchgrass of US-AR1 reached
    # LAI 8-9.5 at its carbon equilibrium (semi-arid prairie and switchgrass stands 1.5-3.5)
    assert max(scores("US-AR1").peak_lai.values()) <= 4.0
    assert max(scores("CN-Cng").peak_lai.values()) <= 3.0
