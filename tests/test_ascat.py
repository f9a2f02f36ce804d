"""ASCAT active microwave (issue 12): the water-cloud backscatter operator of the core
(sigma40 and slope) against values computed by hand, its angular derivative against finite
differences, its monotonicity, the footprint combination, the observation-set checks, the
bundled twin observations and an assimilation with the ASCAT streams switched on."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tccas
from tccas.errors import InputDataError
from tccas.model import ObsArrays, apply_obs, cband_backscatter
from tccas.obs import STREAM_CODES, ObservationSet
from tccas.parameters import HOURLY_OUTPUTS, global_defaults, global_index

H = {v[0]: i for i, v in enumerate(HOURLY_OUTPUTS)}
T0 = np.datetime64("2017-01-01T00:00:00")
DB = 10.0 / math.log(10.0)          # dB per neper of power
RAD = math.pi / 180.0


def _coef(pg=None):
    pg = global_defaults() if pg is None else pg
    return {k: float(pg[global_index("wcm_" + k)]) for k in "abcdn"}


def _wcm(theta, sm, vwc, a, b, c, d, n):
    """The water-cloud model of docs/science/ascat.md written out by hand: linear sigma0
    and its derivative in theta (per degree)."""
    th = theta * RAD
    ct, st, c40 = math.cos(th), math.sin(th), math.cos(40 * RAD)
    t2 = math.exp(-2 * b * vwc / ct)
    soil = 10 ** ((c + d * sm) / 10) * (ct / c40) ** n
    sig = a * ct * (1 - t2) + t2 * soil
    # derivative term by term: canopy, attenuation, soil fall-off
    dt2 = t2 * (-2 * b * vwc) * st / ct ** 2
    dsoil = soil * n * (-st / ct)
    dsig = -a * st * (1 - t2) - a * ct * dt2 + dt2 * soil + t2 * dsoil
    return sig, dsig * RAD


@pytest.mark.parametrize("sm,vwc", [(0.05, 0.0), (0.40, 0.0), (0.05, 0.8), (0.40, 0.8),
                                    (0.05, 4.0), (0.25, 30.0)])
@pytest.mark.parametrize("theta", [25.0, 40.0, 60.0])
def test_backscatter_matches_the_water_cloud_equations(sm, vwc, theta):
    k = _coef()
    got = cband_backscatter(theta, sm, vwc)
    sig, dsig = _wcm(theta, sm, vwc, **k)
    assert got["sigma0"] == pytest.approx(sig, rel=1e-13)
    assert got["dsigma0"] == pytest.approx(dsig, rel=1e-12)
    assert got["sigma0_db"] == pytest.approx(10 * math.log10(sig), abs=1e-12)
    assert got["slope_db"] == pytest.approx(DB * dsig / sig, rel=1e-12)


def test_limits_bare_soil_and_dense_canopy_by_hand():
    """Bare soil: sigma40 = C + D sm (dB), slope = -n tan(40) in dB per degree; an opaque
    canopy: sigma40 = 10 log10(A cos 40), slope = -tan(40) (the cos(theta) of the canopy)."""
    k = _coef()
    assert (k["a"], k["b"], k["c"], k["d"], k["n"]) == (0.2, 0.3, -17.0, 15.0, 2.0)
    dry, wet = cband_backscatter(40.0, 0.05, 0.0), cband_backscatter(40.0, 0.40, 0.0)
    assert dry["sigma0_db"] == pytest.approx(-17.0 + 15.0 * 0.05, abs=1e-12)     # -16.25 dB
    assert wet["sigma0_db"] == pytest.approx(-11.0, abs=1e-12)
    # -2 tan(40 deg) * (pi / 180) * 10 / ln(10) = -0.127205 dB per degree, for any moisture
    assert dry["slope_db"] == pytest.approx(-0.1272053, abs=1e-7)
    assert wet["slope_db"] == pytest.approx(-0.1272053, abs=1e-7)
    dense = cband_backscatter(40.0, 0.2, 60.0)      # t2 = exp(-47): the soil is invisible
    assert dense["sigma0_db"] == pytest.approx(10 * math.log10(0.2 * math.cos(40 * RAD)),
                                               abs=1e-12)      # -8.147 dB
    assert dense["slope_db"] == pytest.approx(-0.0636026, abs=1e-7)


@pytest.mark.parametrize("sm,vwc", [(0.05, 0.0), (0.3, 0.0), (0.05, 0.5), (0.35, 2.0),
                                    (0.1, 8.0)])
@pytest.mark.parametrize("theta", [30.0, 40.0, 55.0])
def test_slope_equals_a_finite_difference_of_sigma0_in_theta(sm, vwc, theta):
    h = 1e-3
    up = cband_backscatter(theta + h, sm, vwc)["sigma0_db"]
    down = cband_backscatter(theta - h, sm, vwc)["sigma0_db"]
    fd = (up - down) / (2 * h)
    assert cband_backscatter(theta, sm, vwc)["slope_db"] == pytest.approx(fd, rel=1e-6)


def test_backscatter_rises_with_soil_moisture_and_with_vegetation_over_dry_soil():
    sms = np.linspace(0.02, 0.45, 12)
    for vwc in (0.0, 0.5, 2.0, 6.0):
        s = [cband_backscatter(40.0, sm, vwc)["sigma0_db"] for sm in sms]
        assert np.all(np.diff(s) > 0), vwc
    vwcs = np.linspace(0.0, 12.0, 25)
    for sm in (0.03, 0.08, 0.12):               # dry soil: below A cos(40) = -8.1 dB
        s = [cband_backscatter(40.0, sm, v)["sigma0_db"] for v in vwcs]
        assert np.all(np.diff(s) > 0), sm
    # the soil-moisture signal fades under a growing canopy
    def dsm(v):
        return (cband_backscatter(40.0, 0.35, v)["sigma0_db"]
                - cband_backscatter(40.0, 0.05, v)["sigma0_db"])
    assert dsm(0.0) > dsm(1.0) > dsm(4.0) > 0


def _hout(rng, nt=48):
    h = np.asfortranarray(rng.uniform(0.1, 1.0, size=(nt, len(HOURLY_OUTPUTS), 2)))
    h[:, H["sm_surf"], :] = rng.uniform(0.05, 0.35, size=(nt, 2))
    h[:, H["vwc"], :] = rng.uniform(0.2, 3.0, size=(nt, 2))
    return h


def test_operator_combines_tiles_in_power_units_over_the_window(rng):
    """Per tile the window-mean soil moisture and vegetation water enter the water-cloud
    model at 40 deg; tiles combine in m2 m-2 with the footprint weights normalised to the
    modelled part; then dB, or the dB slope (10/ln 10) sum(w dsigma) / sum(w sigma)."""
    h = _hout(rng)
    w = np.array([[0.15, 0.80], [1.0, 0.0], [0.0, 0.3], [0.5, 0.5]])
    s0, s1 = np.array([10, 22, 1, 30]), np.array([10, 23, 48, 34])
    n = len(s0)
    pg = global_defaults()
    pg[global_index("wcm_b")] = 0.5
    for stream in ("sigma40", "slope"):
        oa = ObsArrays(np.full(n, STREAM_CODES[stream], np.int32), s0.astype(np.int32),
                       s1.astype(np.int32), np.asfortranarray(w),
                       np.array([40.0, 0.0, 40.0, 40.0]), {stream: slice(0, n)})
        y = apply_obs(oa, h, 0.1, pg)
        for k in range(n):
            num = den = 0.0
            for i in range(2):
                if w[k, i] == 0:
                    continue
                sm = h[s0[k] - 1:s1[k], H["sm_surf"], i].mean()
                v = h[s0[k] - 1:s1[k], H["vwc"], i].mean()
                sig, dsig = _wcm(40.0, sm, v, **_coef(pg))
                num, den = num + w[k, i] * dsig, den + w[k, i] * sig
            want = 10 * math.log10(den / w[k].sum()) if stream == "sigma40" else DB * num / den
            assert y[k] == pytest.approx(want, rel=1e-12), (stream, k)


def _set(stream, value, angle=None):
    n = len(value)
    t = T0 + np.arange(n) * np.timedelta64(3600, "s")
    return ObservationSet(stream, t, t + np.timedelta64(60, "s"), np.asarray(value, float),
                          np.full(n, 0.3), np.zeros(n, int), (3, 9), np.tile([0.2, 0.8], (n, 1)),
                          angle)


def test_observation_sets_check_angle_and_units():
    _set("sigma40", [-12.0, -9.5]).validate()                      # angle not given
    _set("sigma40", [-12.0, -9.5], np.array([40.0, 40.0])).validate()
    with pytest.raises(InputDataError, match="normalised to 40 deg incidence"):
        _set("sigma40", [-12.0, -9.5], np.array([40.0, 35.0])).validate()
    with pytest.raises(InputDataError, match=r"record 1 .*sigma40 outside \[-40, 5\] dB"):
        _set("sigma40", [-12.0, 20.0]).validate()
    _set("slope", [-0.12, -0.08]).validate()
    with pytest.raises(InputDataError, match=r"slope outside .* dB deg-1"):
        _set("slope", [-0.12, -7.0]).validate()           # a slope per radian
    assert tccas.obs.STREAMS["slope"][0] == "dB deg-1"


def test_bundled_twin_observations_follow_the_ascat_sampling_and_are_not_assimilated():
    cfg = tccas.load_config("ES-LM1")
    assert set(cfg.observations) >= {"sigma40", "slope"}
    assert "sigma40" not in cfg.assimilation.streams and "slope" not in cfg.assimilation.streams
    sig = tccas.obs.read_obs(cfg.observations["sigma40"])
    slo = tccas.obs.read_obs(cfg.observations["slope"])
    assert np.array_equal(sig.t_start, slo.t_start)
    assert np.allclose(sig.sigma, 0.3, rtol=1e-6) and np.allclose(slo.sigma, 0.01, rtol=1e-6)
    # 09:30 and 21:30 local solar time at 5.78 W: hours starting at 09 and 21 UTC
    hours = (sig.t_start - sig.t_start.astype("datetime64[D]")).astype("timedelta64[h]")
    assert set(hours.astype(int)) == {9, 21}
    days = np.unique(sig.t_start.astype("datetime64[D]")).size
    assert 0.4 < len(sig) / (2 * 1826) < 0.7 and days < 1826     # gaps
    assert -14 < np.median(sig.value) < -8 and -0.13 < np.median(slo.value) < -0.03


def _ascat_case(tmp_path):
    """The bundled case over one season with the ASCAT streams switched on and the
    water-cloud coefficients in the control vector."""
    d = tccas.copy_case("ES-LM1", tmp_path / "case")
    text = (d / "config.toml").read_text()
    text = (text.replace("start = 2015-01-01\nend = 2021-12-31\nspinup_hours = 17520",
                         "start = 2017-01-01\nend = 2017-04-30\nspinup_hours = 2400")
            .replace("hourly_output = true", "hourly_output = false"))
    head, _, _ = text.rpartition("\n[assimilation]\n")
    text = head + (
        '\n[control]\nparameters = { wcm_a = true, wcm_b = true, wcm_c = true, wcm_d = true, '
        'wcm_n = true, c_w = true }\n'
        '[assimilation]\nstart = 2017-01-01\nend = 2017-04-30\n'
        'streams = ["sigma40", "slope", "sm"]\nmax_iterations = 6\nworkers = 1\n')
    (d / "config.toml").write_text(text)
    return d / "config.toml"


def test_assimilate_with_the_ascat_streams_switched_on(tmp_path):
    import subprocess
    import sys
    cfg = _ascat_case(tmp_path)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "tccas", "assimilate", str(cfg), "-o", str(out),
                        "-q", "--no-figures"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = (out / "summary.txt").read_text()
    assert "streams sigma40, slope, sm" in summary
    res = tccas.assimilate(cfg, output_dir=tmp_path / "py", progress=False, figures=False)
    assert res.names[:5] == ("wcm_a", "wcm_b", "wcm_c", "wcm_d", "wcm_n")
    h0, h1 = res.cost_history[0], res.cost_history[-1]
    assert h1["cost"] < 0.5 * h0["cost"]
    # the ASCAT data constrain the water-cloud coefficients: posterior sigma below prior
    assert np.all(res.sigma_x_posterior[:5] < 0.9)
    rows = {(v.stream, v.role): v for v in res.validation}
    assert rows[("sigma40", "assimilated")].rmse_posterior < rows[("sigma40", "assimilated")].rmse_prior
