"""The prior run is credible (issue 9): ES-LM1 from its carbon equilibrium stays inside
TCCAS's magnitudes without drift, and the phenology rule follows a site's own climate."""
from __future__ import annotations

import numpy as np
import pytest

from tccas.parameters import (DAILY_OUTPUTS, PFT_NAMES, global_index, pft_defaults,
                               pft_index)
from tccas.phenology import (climate_phenology, config_gives, growing_season_index,
                             pulse_peak_lag)

D = {v[0]: i for i, v in enumerate(DAILY_OUTPUTS)}


def _years(times):
    days = np.asarray(times[::24]).astype("datetime64[D]")
    year = days.astype("datetime64[Y]").astype(int) + 1970
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    return year, month


def test_eslm1_prior_inside_tccas_ranges_every_year(eslm1_run):
    """science.md section 10 / issue 9 item 5: grass daily GPP peak 8-18 gC m-2 d-1 with a
    summer minimum near zero, tree peak 5-12 and 1-3 in summer, every year 2016-2021."""
    _, static, forcing, cell = eslm1_run
    tree = list(static.pft).index(3)
    grass = list(static.pft).index(9)
    year, month = _years(forcing.times)
    gpp = cell.daily[:, D["f_gpp"], :]
    summer = (month >= 7) & (month <= 8)
    for y in range(2016, 2022):
        s = year == y
        assert 8.0 <= gpp[s, grass].max() <= 18.0, (y, gpp[s, grass].max())
        assert gpp[s & summer, grass].mean() < 0.5, y
        assert 5.0 <= gpp[s, tree].max() <= 12.0, (y, gpp[s, tree].max())
        assert 1.0 <= gpp[s & summer, tree].mean() <= 3.0, y
        # the evergreen keeps its canopy through the summer drought
        lai = cell.daily[s, D["lai_day"], tree]
        assert lai[summer[s]].min() > 0.6 * lai.max(), y


def test_eslm1_prior_does_not_drift(eslm1_run):
    """From the equilibrium pools of the case: peak LAI and annual GPP of each year within
    20 % of the 2016-2021 mean; wood and SOM change by less than 1 % per year."""
    _, static, forcing, cell = eslm1_run
    year, _ = _years(forcing.times)
    frac = np.asarray(static.pft_fraction)
    for i, code in enumerate(static.pft):
        ann = np.array([cell.daily[year == y, D["f_gpp"], i].sum() for y in range(2016, 2022)])
        peak = np.array([cell.daily[year == y, D["lai_day"], i].max()
                         for y in range(2016, 2022)])
        assert np.abs(ann / ann.mean() - 1).max() < 0.2, (PFT_NAMES[code], ann)
        assert np.abs(peak / peak.mean() - 1).max() < 0.2, (PFT_NAMES[code], peak)
    for pool in ("c_wood", "c_som"):
        cellpool = (cell.daily[:, D[pool], :] * frac).sum(axis=1)
        ends = np.array([cellpool[year == y][-1] for y in range(2015, 2022)])
        start = (cell.state0[3 if pool == "c_wood" else 5] * frac).sum()
        series = np.concatenate([[start], ends])
        assert np.abs(np.diff(series) / series[:-1]).max() < 0.01, (pool, series)


def test_rooting_depth_is_a_pft_parameter_not_the_soil_depth(eslm1_inputs):
    _, static, _, ppft, _ = eslm1_inputs
    tree = list(static.pft).index(3)
    assert static.soil_depth < 1.0
    assert ppft[pft_index("zroot"), tree] == 3.0      # the case's holm-oak value, not cut


def test_pulse_lag_matches_the_core(eslm1_run, eslm1_inputs):
    """The days of the pulses' peaks in the core are the parameter days plus the lag that
    tccas.phenology inverts (to a day)."""
    _, static, forcing, cell = eslm1_run
    ppft = eslm1_inputs[3]
    days = np.asarray(forcing.times[::24]).astype("datetime64[D]")
    doy = (days - days.astype("datetime64[Y]")).astype(int) + 1
    year, _ = _years(forcing.times)
    for i in range(len(static.pft)):
        for factor, day, period, life in (
                ("f_labrelease_factor", "d_onset", "cr_onset", None),
                ("f_leaffall_factor", "d_fall", "cr_fall", ppft[pft_index("leaf_life"), i])):
            lag = pulse_peak_lag(ppft[pft_index(period), i], life)
            want = (ppft[pft_index(day), i] + lag - 1) % 365.25 + 1
            s = year == 2018
            peak = doy[s][int(np.argmax(cell.daily[s, D[factor], i]))]
            diff = (peak - want + 182) % 365 - 182
            assert abs(diff) <= 1.5, (factor, peak, want)


def test_phenology_rule_follows_the_climate(eslm1_inputs):
    """A Mediterranean grass greens in autumn and browns in late spring; with the dry
    season removed (a wet, cool-summer climate) the same PFT greens in spring."""
    cfg, static, forcing, ppft, _ = eslm1_inputs
    grass = list(static.pft).index(9)
    met = forcing.matrix()
    gsi, parts = growing_season_index(forcing.times, met, static.lat, water=True,
                                      photoperiod=False)
    # observed at the site: senesced by the end of May, green again from mid-October;
    # the index is low through the summer drought (July-August)
    assert gsi[185:240].max() < 0.3 * gsi.max()
    assert gsi[[0, 30, 300, 330]].min() > 0.5 * gsi.max()
    days = climate_phenology(forcing.times, met, static.lat, [9], ppft[:, [grass]])
    lag_on = pulse_peak_lag(ppft[pft_index("cr_onset"), grass])
    onset_peak = (days["d_onset"][9] + lag_on) % 365
    assert 260 <= onset_peak <= 310
    # a boreal-like climate: cold winters, no summer drought
    names = ["tas", "rsds", "rlds", "pr", "vpd", "ps", "sfcWind", "co2", "tsl_deep"]
    cold = met.copy()
    doy = np.asarray(forcing.times).astype("datetime64[D]")
    doy = (doy - doy.astype("datetime64[Y]")).astype(int)
    cold[:, names.index("tas")] = 273.15 + 5.0 - 15.0 * np.cos(2 * np.pi * (doy - 15) / 365)
    cold[:, names.index("vpd")] = 400.0
    cold[:, names.index("pr")] = 2.0 / 3600.0
    days = climate_phenology(forcing.times, cold, static.lat, [9], ppft[:, [grass]])
    onset_peak = (days["d_onset"][9] + lag_on) % 365
    assert 90 <= onset_peak <= 160, onset_peak
    fall_lag = pulse_peak_lag(ppft[pft_index("cr_fall"), grass],
                              ppft[pft_index("leaf_life"), grass])
    assert 250 <= (days["d_fall"][9] + fall_lag) % 365 <= 320


def test_phenology_rule_keeps_given_days_and_needs_a_year():
    assert config_gives({"d_onset": {"C3Gr": 100.0}}, "d_onset", 9)
    assert config_gives({"d_onset": 100.0}, "d_onset", 3)
    assert not config_gives({"d_onset": {"TmEv": 100.0}}, "d_onset", 9)
    from tccas.errors import InputDataError
    times = np.arange(np.datetime64("2015-01-01T00"), np.datetime64("2015-02-01T00"))
    with pytest.raises(InputDataError, match="about a year of forcing"):
        growing_season_index(times.astype("datetime64[s]"), np.ones((times.size, 9)), 40.0,
                             water=False)


def test_generic_priors_keep_evergreens_evergreen():
    """Evergreen PFTs shed well under half of their leaves a year; deciduous ones nearly all."""
    pp = pft_defaults(list(range(1, 14)))
    life = pp[pft_index("leaf_life")]
    for code in (1, 3, 5, 7):
        assert life[code - 1] >= 2.0, PFT_NAMES[code]
    for code in (2, 4, 6, 8, 9, 10, 13):
        assert life[code - 1] < 1.05, PFT_NAMES[code]


def test_a_case_without_days_gets_the_rule_and_the_bundled_case_carries_them(tmp_path,
                                                                              eslm1_inputs):
    """parameters_for applies the rule to days a configuration leaves out; the bundled case
    carries exactly the days the rule gives on its forcing (tools/make_default_case.py)."""
    import tccas
    from tccas.config import read_config
    from tccas.workflow import load_inputs, parameters_for
    _, static, forcing, ppft_case, _ = eslm1_inputs
    d = tccas.copy_case("ES-LM1", tmp_path / "case")
    text = (d / "config.toml").read_text()
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith(("d_onset =", "d_fall ="))) + "\n"
    text = text.replace("[parameters]\n", "[parameters]\nd_fall = { TmEv = 200.0 }\n")
    (d / "config.toml").write_text(text)
    cfg = read_config(d / "config.toml")
    ppft, _ = parameters_for(cfg, static, forcing)
    tree, grass = list(static.pft).index(3), list(static.pft).index(9)
    on, fall = pft_index("d_onset"), pft_index("d_fall")
    assert ppft[on, grass] == pytest.approx(ppft_case[on, grass], abs=0.01)
    assert ppft[fall, grass] == pytest.approx(ppft_case[fall, grass], abs=0.01)
    assert ppft[on, tree] == pytest.approx(ppft_case[on, tree], abs=0.01)
    assert ppft[fall, tree] == 200.0                   # given in the file: kept


def test_phenology_days_have_an_absolute_prior_sigma(eslm1_inputs):
    """A day's prior sigma does not depend on where the year starts."""
    from tccas.control import build_control
    _, static, _, ppft, pglob = eslm1_inputs
    ctl = build_control(static.pft, ppft, pglob)
    sig = dict(zip(ctl.names, ctl.sigma))
    assert sig["d_onset[TmEv]"] == sig["d_onset[C3Gr]"] == 20.0
    assert sig["d_fall[C3Gr]"] == 20.0
    assert sig["lma[TmEv]"] == pytest.approx(0.2 * 110.0)


# --- the rule and the model at the real towers' climates (bundled tower files) ---

def _tower_gsi(name, pft):
    from tccas.parameters import C4_PFTS
    from tccas.phenology import DRY_SENSITIVE_PFTS, PHOTOPERIOD_PFTS, _green_season
    from tccas.towers import TOWER_SITES, load_tower_forcing
    from pathlib import Path
    site = TOWER_SITES[name]
    f = load_tower_forcing(site, Path(__file__).parent / "data")
    gsi, parts = growing_season_index(f.times, f.matrix(), site.lat, pft in DRY_SENSITIVE_PFTS,
                                      pft in PHOTOPERIOD_PFTS, pft in C4_PFTS)
    return gsi, parts, f, site


def test_phenology_rule_greens_a_monsoon_steppe_with_the_rain():
    """CN-Cng (temperate monsoon, dry spring, rain in June-August): the C3 grass's green
    season starts after the dry spring (tower GPP green-up days 162-180), not when it warms
    in April; the P/PET ramp is what holds it back."""
    from tccas.phenology import _green_season
    import logging
    logging.disable(logging.WARNING)
    try:
        gsi, parts, _, _ = _tower_gsi("CN-Cng", 9)
    finally:
        logging.disable(logging.NOTSET)
    first, last = _green_season(gsi)
    assert 150 <= first <= 185, first
    assert 230 <= last <= 280, last
    # May-June: warm enough, but the dry spring keeps the index well below its monsoon peak
    assert gsi[140:170].max() < 0.7 * gsi.max()
    assert (parts[140:170, 3] < parts[140:170, 0]).all()


def test_phenology_rule_c4_grass_keeps_the_prairie_summer():
    """US-AR1 (Oklahoma): the C4 grass, with its warmer temperature ramp and halved P/PET
    ramp, is green from spring to autumn; with the C3 ramps the dry summer split the season
    and the rule chose a spring-only half."""
    from tccas.phenology import _green_season
    import logging
    logging.disable(logging.WARNING)
    try:
        gsi4, _, f, site = _tower_gsi("US-AR1", 10)
        gsi3 = growing_season_index(f.times, f.matrix(), site.lat, True, False, False)[0]
    finally:
        logging.disable(logging.NOTSET)
    first, last = _green_season(gsi4)
    assert 70 <= first <= 120 and last >= 270, (first, last)
    first3, last3 = _green_season(gsi3)
    assert first3 < first - 15                   # C3 ramps: green from the end of winter


def test_drought_leaf_loss_follows_water_stress(eslm1_inputs):
    """leaf_dry_loss adds (1 - beta_d)**3 times the rate to DALEC2's leaf-fall factor: zero
    gives the pure pulse, a positive rate sheds leaves only on water-stressed days, and the
    shed carbon goes to litter (pools still close)."""
    from tccas.model import run_cell
    from tccas.parameters import HOURLY_OUTPUTS
    from tccas.phenology import _pulse
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    n = 24 * 365
    met, times = forcing.matrix()[:n], forcing.times[:n]
    tree = list(static.pft).index(3)
    args = (met, times, static.lat, static.lon, static.sand, static.clay, [3])
    pp = ppft[:, [tree]].copy()
    pp[pft_index("leaf_dry_loss")] = 0.0
    pglob = pglob.copy()
    pglob[global_index("shade_loss")] = 0.0        # the drought term alone
    off = run_cell(*args, pp, pglob, nspin=0, show_progress=False)
    pp_on = pp.copy()
    pp_on[pft_index("leaf_dry_loss")] = 0.05
    on = run_cell(*args, pp_on, pglob, nspin=0, show_progress=False)
    H = {v[0]: i for i, v in enumerate(HOURLY_OUTPUTS)}
    sw = met[:, 1].reshape(-1, 24)
    beta = on.hourly[:, H["beta_w"], 0].reshape(-1, 24)
    beta_d = ((beta * sw).sum(axis=1) + 1.0) / (sw.sum(axis=1) + 1.0)
    extra = on.daily[:, D["f_leaffall_factor"], 0] - off.daily[:, D["f_leaffall_factor"], 0]
    assert extra == pytest.approx(0.05 * (1.0 - beta_d) ** 3, abs=1e-6)
    # off: the factor is the pulse of dnb_phenology alone
    t = np.arange(365) + 23.0 / 24.0 - 0.5        # tile_day: start of the last hour - 0.5 d
    life, d_fall, cr = (pp[pft_index(k), 0] for k in ("leaf_life", "d_fall", "cr_fall"))
    mag = 0.5 * (np.log(life) - np.log(life - 1.0))
    pulse = _pulse(t, d_fall, life, cr * np.sqrt(2.0) / 2.0, mag)
    assert off.daily[:, D["f_leaffall_factor"], 0] == pytest.approx(pulse, rel=1e-6)
    dry = beta_d < 0.5
    assert dry.sum() > 20                       # the Mediterranean summer stresses the oak
    assert on.daily[dry, D["lai_day"], 0].mean() < off.daily[dry, D["lai_day"], 0].mean()


def test_canopy_capacity_sheds_foliage_above_lai_max(eslm1_inputs):
    """shade_loss * softplus(LAI - lai_max, 0.1) / (LAI + 0.1), LAI at the start of the day,
    joins the leaf-fall factor: the grass canopy is held near lai_max instead of turning a
    whole year's labile carbon into leaves, and the shed foliage goes to litter."""
    from tccas.model import run_cell
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    n = 24 * 365
    met, times = forcing.matrix()[:n], forcing.times[:n]
    grass = list(static.pft).index(9)
    args = (met, times, static.lat, static.lon, static.sand, static.clay, [9])
    pp = ppft[:, [grass]].copy()
    pp[pft_index("lai_max")] = 100.0              # no limit: DALEC2 (plus drought loss 0)
    off = run_cell(*args, pp, pglob, nspin=0, show_progress=False)
    pp_on = pp.copy()
    pp_on[pft_index("lai_max")] = 1.5
    on = run_cell(*args, pp_on, pglob, nspin=0, show_progress=False)
    lai = on.daily[:, D["lai_day"], 0]
    lai0 = np.concatenate([[pp[pft_index("c_fol0"), 0] / pp[pft_index("lma"), 0]], lai[:-1]])
    rate, w = pglob[global_index("shade_loss")], 0.1
    softplus = w * np.log1p(np.exp((lai0 - 1.5) / w))
    extra = on.daily[:, D["f_leaffall_factor"], 0] - off.daily[:, D["f_leaffall_factor"], 0]
    assert extra == pytest.approx(rate * softplus / (lai0 + w), abs=1e-9)
    lai_off = off.daily[:, D["lai_day"], 0]
    assert lai_off.max() > 4.0 and lai.max() < 2.5  # the release pulse is cut near lai_max
    # the shed foliage is leaf litter: the pools still close
    pools = ("c_lab", "c_fol", "c_root", "c_wood", "c_lit", "c_som")
    total = on.daily[:, [D[p] for p in pools], 0].sum(axis=1)
    net = (on.daily[:, D["f_gpp"], 0] - on.daily[:, D["f_ra"], 0]
           - on.daily[:, D["f_rh_lit"], 0] - on.daily[:, D["f_rh_som"], 0])
    assert np.diff(total) == pytest.approx(net[1:], abs=1e-9)


def test_grass_canopies_carry_a_grasslands_leaf_area(eslm1_run):
    """Issue 9 (canopy): the ES-LM1 grass at its carbon equilibrium peaks below LAI 3.5
    (dehesa grass 1-3; it reached 5.3-6.5 without the canopy limit) while the holm oak keeps
    its 3."""
    _, static, forcing, cell = eslm1_run
    year, _ = _years(forcing.times)
    grass = list(static.pft).index(9)
    tree = list(static.pft).index(3)
    lai = cell.daily[:, D["lai_day"], :]
    for y in range(2016, 2022):
        assert 2.0 <= lai[year == y, grass].max() <= 3.5, y
        assert 2.5 <= lai[year == y, tree].max() <= 3.5, y
