"""Observation sets and the observation operators of the core (dnb_obs), checked against
values computed by hand from their equations."""
from __future__ import annotations

import numpy as np
import pytest

import tccas
from tccas.errors import InputDataError, ModelError
from tccas.model import ObsArrays, apply_obs, lband_emission, obs_arrays, run_cell_obs
from tccas.obs import STREAM_CODES, ObservationSet, read_obs, write_obs
from tccas.parameters import (GLOBAL_PARAMETERS, HOURLY_OUTPUTS, global_defaults,
                              global_index)

H = {v[0]: i for i, v in enumerate(HOURLY_OUTPUTS)}
T0 = np.datetime64("2017-01-01T00:00:00")


def _hout(rng, nt=72, ntile=2):
    h = rng.uniform(0.1, 1.0, size=(nt, len(HOURLY_OUTPUTS), ntile))
    h[:, H["tsoil1"], :] = rng.uniform(280, 300, size=(nt, ntile))
    h[:, H["tcan"], :] = rng.uniform(280, 300, size=(nt, ntile))
    h[:, H["sm_surf"], :] = rng.uniform(0.05, 0.35, size=(nt, ntile))
    h[:, H["vod"], :] = rng.uniform(0.05, 0.5, size=(nt, ntile))
    return np.asfortranarray(h)


def _oa(stream, s0, s1, w, angle=0.0):
    n = len(s0)
    return ObsArrays(np.full(n, STREAM_CODES[stream], np.int32), np.array(s0, np.int32),
                     np.array(s1, np.int32), np.asfortranarray(np.array(w, float)),
                     np.full(n, angle), {stream: slice(0, n)})


@pytest.mark.parametrize("stream,col,factor", [("sif", "sif", 1), ("vod", "vod", 1),
                                               ("sm", "sm_surf", 1), ("fapar", "fapar_ws", 1),
                                               ("nee", "nee", 24), ("gpp", "gpp", 24),
                                               ("le", "le", 1), ("agb", "agb", 1)])
def test_linear_operators_average_the_window_and_weight_the_footprint(rng, stream, col, factor):
    h = _hout(rng)
    w = [[0.3, 0.6], [1.0, 0.0], [0.0, 0.25]]
    s0, s1 = [5, 13, 1], [5, 36, 72]
    y = apply_obs(_oa(stream, s0, s1, w), h, 0.1, global_defaults())
    for k in range(3):
        want = sum(w[k][i] * h[s0[k] - 1:s1[k], H[col], i].mean() for i in range(2)) * factor
        assert y[k] == pytest.approx(want, rel=1e-13)


def _mironov(sm, clay, f=1.4135e9):
    """Mironov et al. (2009) eqs 11-13, 17-25, written out independently of the core
    (with the exact min/max at mv_t)."""
    c = 100 * clay
    nd = 1.634 - 0.539e-2 * c + 0.2748e-4 * c ** 2
    kd = 0.03952 - 0.04038e-2 * c
    mvt = 0.02863 + 0.30673e-2 * c
    e0b = 79.8 - 85.4e-2 * c + 32.7e-4 * c ** 2
    taub = 1.062e-11 + 3.450e-12 * 1e-2 * c
    sigb = 0.3112 + 0.467e-2 * c
    sigu = 0.3631 + 1.217e-2 * c
    w, e0 = 2 * np.pi * f, 8.854e-12

    def water(e_static, tau, sigma):
        eps = 4.9 + (e_static - 4.9) / (1 - 1j * w * tau) + 1j * sigma / (w * e0)
        return np.sqrt(eps)                      # n + i k
    nb, nu = water(e0b, taub, sigb), water(100.0, 8.5e-12, sigu)
    mb, mu = min(sm, mvt), max(sm - mvt, 0.0)
    n = nd + (nb.real - 1) * mb + (nu.real - 1) * mu
    k = kd + nb.imag * mb + nu.imag * mu
    return (n + 1j * k) ** 2


def _tb_by_hand(sm, clay, theta, ts, tc, tau, h_r, omega):
    eps = _mironov(sm, clay)
    c = np.cos(np.deg2rad(theta))
    s = np.sqrt(eps - (1 - c ** 2))
    rh = abs((c - s) / (c + s)) ** 2
    rv = abs((eps * c - s) / (eps * c + s)) ** 2
    out = {}
    for pol, r in (("h", rh), ("v", rv)):
        r = r * np.exp(-h_r * c ** 2)
        g = np.exp(-tau / c)
        out[pol] = ts * (1 - r) * g + tc * (1 - omega) * (1 - g) * (1 + r * g)
    return eps, out


@pytest.mark.parametrize("sm,clay,theta", [(0.25, 0.093, 42.5), (0.15, 0.3, 30.0),
                                          (0.35, 0.05, 55.0)])
def test_brightness_temperature_matches_the_equations(sm, clay, theta):
    got = lband_emission(sm, clay, theta, 295.0, 293.0, 0.2, 0.3, 0.06)
    eps, tb = _tb_by_hand(sm, clay, theta, 295.0, 293.0, 0.2, 0.3, 0.06)
    # the core smooths the bound/free water switch over 0.005 m3 m-3; far from mv_t the two agree
    assert got["eps_r"] == pytest.approx(eps.real, rel=1e-3)
    assert got["eps_i"] == pytest.approx(eps.imag, rel=1e-2)
    assert got["tb_h"] == pytest.approx(tb["h"], abs=0.05)
    assert got["tb_v"] == pytest.approx(tb["v"], abs=0.05)


def test_lband_physics():
    wet = lband_emission(0.35, 0.1, 40.0, 290.0, 290.0, 0.0, 0.0, 0.0)
    dry = lband_emission(0.05, 0.1, 40.0, 290.0, 290.0, 0.0, 0.0, 0.0)
    assert wet["tb_h"] < dry["tb_h"] - 50          # wet soil is radiometrically cold
    assert wet["tb_v"] > wet["tb_h"]                # V above H off nadir
    nadir = lband_emission(0.2, 0.1, 0.0, 290.0, 290.0, 0.0, 0.0, 0.0)
    assert nadir["r_h"] == pytest.approx(nadir["r_v"], rel=1e-12)
    assert 8 < wet["eps_r"] < 30 and 2 < dry["eps_r"] < 6
    # a thick canopy hides the soil: TB tends to (1 - omega) T_c
    thick = lband_emission(0.3, 0.1, 40.0, 290.0, 280.0, 10.0, 0.0, 0.05)
    assert thick["tb_h"] == pytest.approx(0.95 * 280.0, rel=1e-6)


def test_tb_operator_uses_window_means(rng):
    h = _hout(rng)
    pg = global_defaults()
    oa = ObsArrays(np.array([STREAM_CODES["tb_h"], STREAM_CODES["tb_v"]], np.int32),
                   np.array([7, 7], np.int32), np.array([8, 8], np.int32),
                   np.asfortranarray([[0.4, 0.6], [0.4, 0.6]]), np.array([42.5, 42.5]),
                   {})
    y = apply_obs(oa, h, 0.2, pg)
    want = {"h": 0.0, "v": 0.0}
    for i, w in enumerate((0.4, 0.6)):
        m = lambda c: h[6:8, H[c], i].mean()  # noqa: E731
        _, tb = _tb_by_hand(m("sm_surf"), 0.2, 42.5, m("tsoil1"), m("tcan"), m("vod"),
                            pg[global_index("tb_hr")], pg[global_index("tb_omega")])
        for pol in want:
            want[pol] += w * tb[pol]
    assert y[0] == pytest.approx(want["h"], abs=0.05)
    assert y[1] == pytest.approx(want["v"], abs=0.05)


def test_model_side_operators(eslm1_run):
    cfg, static, forcing, cell = eslm1_run
    h = cell.hourly
    pg = global_defaults()
    # VOD is linear in vegetation water; AGB is the pools in dry matter
    assert np.allclose(h[:, H["vod"], :], pg[global_index("vod_b")] * h[:, H["vwc"], :],
                       rtol=1e-14)
    c_wood = np.repeat(np.concatenate([cell.state0[None, 3], cell.daily[:-1, 3]]), 24, axis=0)
    c_fol = np.repeat(np.concatenate([cell.state0[None, 1], cell.daily[:-1, 1]]), 24, axis=0)
    agb = (pg[global_index("f_above")] * c_wood + c_fol) / 0.5 * 0.01
    assert np.allclose(h[:, H["agb"], :], agb, rtol=1e-12)
    # SIF: zero at night, and the canopy fluorescence yield (photons out / PAR photons
    # absorbed) within 0.5 x the range of the van der Tol et al. (2014) yield, 0.7 .. 1.65 %
    # (maximum at 1 - Ja/Je ~ 0.25), times the escape fraction (>= 0.3 here)
    night = forcing.data["rsds"] < 0.1
    assert np.all(h[night, H["sif"], :] == 0)
    conv = pg[global_index("sif_scale")] * pg[global_index("sif_spec")] * 1.61005e5 / np.pi * 1e3
    apar_mol = h[:, H["apar"], :] / 2.2e5
    bright = apar_mol > 500e-6
    ratio = h[:, H["sif"], :][bright] / conv / apar_mol[bright]
    assert 0.5 * 0.0070 * 0.3 < ratio.min() and ratio.max() < 0.5 * 0.0165
    # white-sky FAPAR rises with LAI
    grass = list(static.pft).index(9)
    lai, f = h[:, H["lai"], grass], h[:, H["fapar_ws"], grass]
    edges = np.quantile(lai, np.linspace(0, 1, 9))
    means = [f[(lai >= a) & (lai <= b)].mean() for a, b in zip(edges[:-1], edges[1:])]
    assert np.all(np.diff(means) > 0) and means[-1] > means[0] + 0.2


def test_fluorescence_yield_matches_van_der_tol_2014():
    """phi_F = Kf / (Kf + Kd + Kn) (1 - phi_P), phi_P = Kp/(Kf+Kd+Kp) r, x = 1 - r,
    Kn = (6.2473 x - 0.5944) x, with Kf = 0.05, Kd = 0.95, Kp = 4 (BETHY-SCOPE)."""
    from tccas.model import _API
    r = np.linspace(0.0, 1.0, 11)
    x = 1 - r
    kn = (6.2473 * x - 0.5944) * x
    want = 0.05 / (1.0 + kn) * (1 - 4.0 / 5.0 * r)
    assert np.allclose(_API.psii_fluorescence(r), want, rtol=1e-14)
    # dark-adapted leaves without photochemistry (r = 1): 1 % of absorbed photons
    assert _API.psii_fluorescence(np.array([1.0]))[0] == pytest.approx(0.01)


def test_sif_scale_is_exactly_linear(eslm1_inputs):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    days = 20 * 24
    met = forcing.matrix()[:days]
    t = forcing.times[:days]
    o = ObservationSet("sif", t[13::24], t[13::24] + np.timedelta64(3600, "s"),
                       np.ones(20), np.ones(20), np.zeros(20, int), (3, 9),
                       np.tile([0.3, 0.7], (20, 1)))
    oa = obs_arrays([o], t, static.pft)
    _, y1 = run_cell_obs(met, t, static.lat, static.lon, static.sand, static.clay,
                         list(static.pft), ppft, pglob, oa)
    pg2 = pglob.copy()
    pg2[global_index("sif_scale")] *= 2
    _, y2 = run_cell_obs(met, t, static.lat, static.lon, static.sand, static.clay,
                         list(static.pft), ppft, pg2, oa)
    assert np.all(y1 > 0) and np.allclose(y2, 2 * y1, rtol=1e-13)


def test_default_case_simulates_every_observation(tmp_path):
    res = tccas.run("ES-LM1", output_dir=tmp_path / "out", progress=False)
    assert set(res.observations) == {"sif", "vod", "sm", "fapar", "nee", "gpp", "sigma40",
                                     "slope"}
    for stream, (o, y) in res.observations.items():
        assert len(y) == len(o) > 100
        assert np.all(np.isfinite(y)), stream
        back = read_obs(res.files[f"obs_{stream}"])
        assert len(back) == len(o)
    # the twin truth differs from the prior, but the prior run is close to it
    o, y = res.observations["sm"]
    assert np.corrcoef(o.value, y)[0, 1] > 0.7
    o, y = res.observations["gpp"]
    assert np.corrcoef(o.value, y)[0, 1] > 0.6
    o, y = res.observations["sigma40"]
    assert np.corrcoef(o.value, y)[0, 1] > 0.6
    assert "observations and their simulated equivalents" in res.summary
    from tccas.plots import plot_observations
    png = plot_observations(tmp_path / "out")
    assert png.stat().st_size > 10_000


def test_one_call_equals_chunked_run_with_operators(eslm1_inputs, eslm1_run):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    _, _, _, cell = eslm1_run
    from tccas.workflow import load_observations
    sets = load_observations(cfg)
    oa = obs_arrays(sets, forcing.times, static.pft)
    y_chunked = apply_obs(oa, cell.hourly, static.clay, pglob)
    _, y_one = run_cell_obs(forcing.matrix(), forcing.times, static.lat, static.lon,
                            static.sand, static.clay, list(static.pft), ppft, pglob, oa,
                            nspin=cfg.run.spinup_hours)
    assert np.array_equal(y_one, y_chunked)


def _set(n=5, **kw):
    t = T0 + np.arange(n) * np.timedelta64(3600, "s")
    args = dict(stream="sm", t_start=t, t_end=t + np.timedelta64(3600, "s"),
                value=np.full(n, 0.2), sigma=np.full(n, 0.04), qc=np.zeros(n, int),
                pft=(3, 9), footprint=np.tile([0.2, 0.8], (n, 1)))
    args.update(kw)
    return ObservationSet(**args)


def test_roundtrip(tmp_path):
    o = _set(angle=np.full(5, 40.0))
    back = read_obs(write_obs(tmp_path / "sm.nc", o))
    assert back.stream == "sm" and back.pft == (3, 9)
    assert np.array_equal(back.t_start, o.t_start) and np.array_equal(back.t_end, o.t_end)
    assert np.allclose(back.value, o.value) and np.allclose(back.footprint, o.footprint)


@pytest.mark.parametrize("change,message", [
    (dict(sigma=np.array([0.04, 0.04, 0.0, 0.04, 0.04])), r"record 2 .*sigma must be positive"),
    (dict(sigma=np.array([0.04, -1, 0.04, 0.04, 0.04])), r"record 1 .*sigma must be positive"),
    (dict(value=np.array([0.2, 0.2, 0.2, np.nan, 0.2])), r"record 3 .*value is NaN"),
    (dict(footprint=np.tile([0.5, 0.8], (5, 1))), r"record 0 .*sum to <= 1"),
])
def test_bad_observation_files(tmp_path, change, message):
    path = write_obs(tmp_path / "bad.nc", _set(**change))
    with pytest.raises(InputDataError, match=r"bad\.nc: " + message):
        read_obs(path)


def test_observations_outside_period_or_unknown_pft(eslm1_inputs):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    late = _set(t_start=np.array([np.datetime64("2023-01-01T00:00:00")] * 5),
                t_end=np.array([np.datetime64("2023-01-01T01:00:00")] * 5), source="late.nc")
    with pytest.raises(InputDataError, match=r"late\.nc: record 0 .*outside the simulation"):
        obs_arrays([late], forcing.times, static.pft)
    alien = _set(pft=(3, 5), source="alien.nc")
    with pytest.raises(InputDataError, match=r"alien\.nc: .*PFT\(s\) \[5\] that this case"):
        obs_arrays([alien], forcing.times, static.pft)


def test_unreadable_observation_file(tmp_path):
    p = tmp_path / "sif.nc"
    p.write_text("garbage")
    with pytest.raises(InputDataError, match=r"sif\.nc: not a readable netCDF file"):
        read_obs(p)


def test_core_rejects_bad_windows(rng):
    h = _hout(rng)
    with pytest.raises(ModelError, match="window outside the run"):
        apply_obs(_oa("sm", [1], [73], [[1.0, 0.0]]), h, 0.1, global_defaults())
