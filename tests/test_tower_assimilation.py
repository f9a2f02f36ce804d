"""Flux-tower assimilation out of the box: daily means of sub-daily tower fluxes
(tccas.obs.daily_means), the model error estimated from the prior misfit
([assimilation] model_error = "prior"), and `tccas new-site` cases that `tccas assimilate`
runs as they are."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from tccas.config import read_config
from tccas.da import (PRIOR_MODEL_ERROR, plan_assimilation, prior_model_error,
                      resolve_model_error)
from tccas.errors import ConfigError, InputDataError
from tccas.obs import ObservationSet, daily_means

DATA = Path(__file__).resolve().parent / "data"
SE_SVB = DATA / "SE-Svb_2019_HH_fluxnet-layout.csv.gz"


def half_hours(start: str, n: int, value, sigma, qc=None) -> ObservationSet:
    t0 = np.datetime64(start, "s") + np.arange(n) * np.timedelta64(1800, "s")
    qc = np.zeros(n, dtype=int) if qc is None else np.asarray(qc)
    return ObservationSet("nee", t0, t0 + np.timedelta64(1800, "s"), np.asarray(value, float),
                          np.asarray(sigma, float), qc, (5,), np.ones((n, 1)))


def test_daily_means_by_hand():
    # two whole UTC days and a partial third; day 2 has a third of its records poor
    n = 48 * 2 + 10
    value = np.r_[np.full(48, 2.0), np.linspace(0.0, 4.7, 48), np.ones(10)]
    sigma = np.full(n, 0.7)
    qc = np.zeros(n, dtype=int)
    qc[48:64] = 3
    o = half_hours("2019-06-01T00:00", n, value, sigma, qc)
    d = daily_means(o, min_coverage=0.5, good=o.qc <= 1)
    assert len(d) == 2                                   # the partial day is dropped
    assert d.t_start[0] == np.datetime64("2019-06-01T00:00")
    assert np.all(d.t_end - d.t_start == np.timedelta64(86400, "s"))
    assert d.value[0] == pytest.approx(2.0) and d.value[1] == pytest.approx(2.35)
    assert d.sigma == pytest.approx(0.7 / np.sqrt(48))   # mean of 48 independent errors
    assert list(d.qc) == [0, 3]                           # worst flag of the day
    assert d.attrs["n_days_dropped_coverage"] == 1
    # day 2 has 2/3 good records: out at a threshold of 0.7
    assert len(daily_means(o, min_coverage=0.7, good=o.qc <= 1)) == 1
    # a floor on sigma, and local days at UTC+2 (22 UTC to 22 UTC)
    f = daily_means(o, min_coverage=0.5, sigma_floor=(0.2, 0.1))
    assert f.sigma[0] == pytest.approx(0.2 * 2.0 + 0.1)
    loc = daily_means(half_hours("2019-06-01T22:00", 96, np.arange(96.0), np.ones(96)),
                      utc_offset_hours=2.0)
    assert loc.t_start[0] == np.datetime64("2019-06-01T22:00")
    assert loc.value == pytest.approx([23.5, 71.5])


def test_daily_means_refuses_what_it_cannot_average():
    o = half_hours("2019-06-01T00:00", 48, np.ones(48), np.ones(48))
    with pytest.raises(ConfigError, match="min_coverage"):
        daily_means(o, min_coverage=0.0)
    with pytest.raises(ConfigError, match="utc_offset_hours"):
        daily_means(o, utc_offset_hours=20.0)
    with pytest.raises(InputDataError, match="no whole day"):
        daily_means(o.subset(np.arange(48) < 30))
    long = ObservationSet("nee", o.t_start[:1], o.t_start[:1] + np.timedelta64(2, "D"),
                          np.ones(1), np.ones(1), np.zeros(1, int), (5,), np.ones((1, 1)))
    with pytest.raises(InputDataError, match="record 0"):
        daily_means(long)


def test_prior_model_error_by_hand():
    r = np.array([3.0, -3.0, 3.0, -3.0])
    assert prior_model_error(r, np.full(4, 1.0)) == pytest.approx(np.sqrt(8.0))
    # with it, the normalised prior misfit is 1 per observation
    e = prior_model_error(r, np.full(4, 1.0))
    assert np.mean(r ** 2 / (1.0 + e ** 2)) == pytest.approx(1.0)
    # a misfit the observation errors explain gives no model error
    assert prior_model_error(r, np.full(4, 5.0)) == 0.0
    assert prior_model_error(np.array([]), np.array([])) == 0.0


def _case_with_prior_error(tmp_path, model_error: str) -> Path:
    from tccas.newsite import new_site
    logging.disable(logging.WARNING)
    try:
        cfg = new_site(tmp_path / "svb", fluxnet=SE_SVB, pfts={"EvCn": 1.0}, sand=0.6,
                       clay=0.05, lat=64.256, lon=19.7745, utc_offset_hours=1,
                       start="2019-05-01", end="2019-08-31", spinup_hours=8760)
    finally:
        logging.disable(logging.NOTSET)
    text = cfg.read_text().replace('model_error = "prior"', model_error)
    cfg.write_text(text + "max_iterations = 4\n")
    return cfg


def test_model_error_prior_in_the_config(tmp_path):
    cfg = read_config(_case_with_prior_error(tmp_path, 'model_error = { nee = "prior", '
                                                       'le = 10.0 }'))
    assert cfg.assimilation.model_error == {"nee": PRIOR_MODEL_ERROR, "le": 10.0}
    path = _case_with_prior_error(tmp_path / "b", 'model_error = { nee = "a guess" }')
    with pytest.raises(ConfigError, match="model_error of 'nee' must be a non-negative "
                                          "number or \"prior\""):
        read_config(path)
    path = _case_with_prior_error(tmp_path / "c", 'model_error = "guess"')
    with pytest.raises(ConfigError, match="model_error must be a table"):
        read_config(path)


def test_resolve_model_error_on_the_plan(tmp_path):
    cfg = read_config(_case_with_prior_error(tmp_path, 'model_error = { nee = "prior", '
                                                       'le = 10.0 }'))
    from tccas.workflow import load_observations
    sets = load_observations(cfg)
    plan = plan_assimilation(cfg, sets)
    assert plan.from_prior == ("nee",) and plan.model_error == {"le": 10.0}
    rng = np.random.default_rng(3)
    y = np.concatenate([o.value + rng.normal(0.0, 2.0, len(o)) for o in sets])
    done = resolve_model_error(plan, sets, y)
    assert done.from_prior == () and done.model_error["le"] == 10.0
    k = [o.stream for o in sets].index("nee")
    o, m = sets[k], plan.assimilated[k]
    off = sum(len(s) for s in sets[:k])
    r = y[off:off + len(o)][m] - o.value[m]
    e = done.model_error["nee"]
    assert e == pytest.approx(np.sqrt(np.mean(r ** 2) - np.mean(o.sigma[m] ** 2)))
    assert done.sigma_total[k] == pytest.approx(np.sqrt(o.sigma ** 2 + e ** 2))
    assert resolve_model_error(done, sets, y) is done


def test_tccas_assimilate_runs_on_a_new_tower_case(tmp_path):
    # the case `tccas new-site` writes, assimilated as it is (a 4-month window, 4 iterations)
    from tccas.da import assimilate
    cfg = _case_with_prior_error(tmp_path, 'model_error = "prior"')
    logging.disable(logging.WARNING)
    try:
        r = assimilate(str(cfg), tmp_path / "da", progress=False, figures=False)
    finally:
        logging.disable(logging.NOTSET)
    assert set(r.model_error) == {"nee", "le"} and min(r.model_error.values()) > 0
    assert "nee" in r.model_error_text and "(from the prior misfit)" in r.model_error_text
    assert "from the prior misfit" in (tmp_path / "da" / "summary.txt").read_text()
    # the prior's normalised misfit is about one per observation in each stream
    h0 = r.cost_history[0]
    n = {v.stream: v.n for v in r.validation if v.role == "assimilated"}
    for s in ("nee", "le"):
        assert 0.3 * n[s] < h0["parts"][s] < 0.7 * n[s]
    assert r.cost_history[-1]["cost"] < h0["cost"]


def test_new_site_sub_daily_on_the_command_line(tmp_path):
    import subprocess
    import sys
    from tccas.obs import read_obs
    r = subprocess.run([sys.executable, "-m", "tccas", "new-site", str(tmp_path / "svb"),
                        "--fluxnet", str(SE_SVB), "--pft", "EvCn=1", "--sand", "0.6", "--clay",
                        "0.05", "--lat", "64.256", "--lon", "19.7745", "--utc-offset", "1",
                        "--start", "2019-06-01", "--end", "2019-06-30", "--sub-daily"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "tccas assimilate" in r.stdout
    nee = read_obs(tmp_path / "svb" / "obs" / "nee.nc")
    # every good half-hour of June (UTC), none averaged
    assert np.all(nee.t_end - nee.t_start == np.timedelta64(1800, "s"))
    assert 500 < len(nee) <= 30 * 48 and np.all(nee.qc <= 1)
    a = read_config(tmp_path / "svb" / "config.toml").assimilation
    assert a.streams == ("nee", "le") and a.model_error["nee"] == PRIOR_MODEL_ERROR
