"""Forward model at ES-LM1: conservation, seasonality, determinism, published equations."""
from __future__ import annotations

import numpy as np
import pytest

from tccas.model import leaf_assimilation, run_cell
from tccas.parameters import (DAILY_OUTPUTS, GLOBAL_PARAMETERS, HOURLY_OUTPUTS, STATE_NAMES,
                              global_defaults)

H = {v[0]: i for i, v in enumerate(HOURLY_OUTPUTS)}
D = {v[0]: i for i, v in enumerate(DAILY_OUTPUTS)}
S = {v: i for i, v in enumerate(STATE_NAMES)}
POOLS = ["c_lab", "c_fol", "c_root", "c_wood", "c_lit", "c_som"]


def test_carbon_balance_closes_each_day_for_every_pool(eslm1_run):
    _, static, _, cell = eslm1_run
    d = cell.daily
    f = {k: d[:, D[k], :] for k in D}
    pools = np.concatenate([cell.state0[None, :6, :], d[:, [D[p] for p in POOLS], :]], axis=0)
    dpool = np.diff(pools, axis=0)
    inputs_minus_outputs = {
        "c_lab": f["f_lab_prod"] - f["f_lab_release"],
        "c_fol": f["f_leaf_prod"] + f["f_lab_release"] - f["f_leaf_litter"],
        "c_root": f["f_root_prod"] - f["f_root_litter"],
        "c_wood": f["f_wood_prod"] - f["f_wood_litter"],
        "c_lit": f["f_leaf_litter"] + f["f_root_litter"] - f["f_rh_lit"] - f["f_lit2som"],
        "c_som": f["f_lit2som"] + f["f_wood_litter"] - f["f_rh_som"],
    }
    for k, name in enumerate(POOLS):
        scale = np.maximum(np.abs(pools[:-1, k, :]), 1.0)
        rel = np.abs(inputs_minus_outputs[name] - dpool[:, k, :]) / scale
        assert rel.max() < 1e-10, name
    # allocation sums to NPP, and the whole ecosystem: d(total C) = -NEE each day
    npp = f["f_gpp"] - f["f_ra"]
    alloc = f["f_leaf_prod"] + f["f_lab_prod"] + f["f_root_prod"] + f["f_wood_prod"]
    assert np.abs(alloc - npp).max() < 1e-10 * max(1.0, np.abs(npp).max())
    nee_day = cell.hourly[:, H["nee"], :].reshape(-1, 24, len(static.pft)).sum(axis=1)
    total = pools.sum(axis=1)
    rel = np.abs(np.diff(total, axis=0) + nee_day) / total[:-1]
    assert rel.max() < 1e-10
    assert np.all(pools > 0)


def test_hourly_and_daily_carbon_fluxes_agree(eslm1_run):
    _, static, _, cell = eslm1_run
    n = len(static.pft)
    for hname, dname in (("gpp", "f_gpp"), ("ra", "f_ra")):
        h = cell.hourly[:, H[hname], :].reshape(-1, 24, n).sum(axis=1)
        assert np.allclose(h, cell.daily[:, D[dname], :], rtol=1e-12, atol=1e-12)
    rh = cell.hourly[:, H["rh"], :].reshape(-1, 24, n).sum(axis=1)
    assert np.allclose(rh, cell.daily[:, D["f_rh_lit"], :] + cell.daily[:, D["f_rh_som"], :],
                       rtol=1e-10, atol=1e-12)


def test_water_balance_closes(eslm1_run):
    _, static, _, cell = eslm1_run
    h = cell.hourly
    s0 = cell.state0
    store0 = s0[S["w_surf"]] + s0[S["w_root"]] + s0[S["w_canopy"]] + s0[S["snow"]]
    store = np.concatenate([store0[None, :], h[:, H["water_store"], :]], axis=0)
    flux = h[:, H["precip"], :] - h[:, H["et"], :] - h[:, H["runoff"], :] \
        - h[:, H["drainage"], :]
    resid = flux - np.diff(store, axis=0)
    assert np.abs(resid).max() < 1e-9                       # every hour, mm
    assert abs(resid.sum(axis=0)).max() < 1e-8               # whole run
    # the budget is not trivial: the seven years move hundreds of mm through each path
    years = h.shape[0] / 8766
    for v in ("et", "precip"):
        assert h[:, H[v], :].sum(axis=0).min() / years > 200


def test_physical_ranges(eslm1_run):
    _, _, forcing, cell = eslm1_run
    h = cell.hourly
    assert np.all((h[:, H["fapar"], :] >= 0) & (h[:, H["fapar"], :] <= 1))
    assert np.all(h[:, H["sm_surf"], :] > 0) and np.all(h[:, H["sm_surf"], :] < 0.45)
    assert np.all(h[:, H["beta_w"], :] > 0) and np.all(h[:, H["beta_w"], :] <= 1 + 1e-12)
    for v in ("gpp", "trans", "evap_soil", "evap_int", "runoff", "drainage"):
        assert h[:, H[v], :].min() >= -1e-12, v
    night = forcing.data["rsds"] < 0.1
    assert np.all(h[night, H["gpp"], :] == 0)
    # soil temperature follows the air within a plausible band
    assert abs(h[:, H["tsoil1"], :].mean() - forcing.data["tas"].mean()) < 5


def test_eslm1_seasonality(eslm1_run):
    """Spring GPP peak, summer drought minimum of the grass, evergreen tree keeps leaves
    (science.md section 10)."""
    _, static, forcing, cell = eslm1_run
    days = forcing.times[::24]
    month = days.astype("datetime64[M]").astype(int) % 12 + 1
    gpp = cell.daily[:, D["f_gpp"], :]
    lai = cell.daily[:, D["lai_day"], :]
    grass = list(static.pft).index(9)
    tree = list(static.pft).index(3)
    spring = np.isin(month, [3, 4, 5])
    summer = np.isin(month, [7, 8, 9])
    assert gpp[spring, grass].mean() > 4 * gpp[summer, grass].mean()
    assert lai[spring, grass].mean() > 3 * lai[summer, grass].mean()
    # monthly climatology of grass GPP peaks in March-May
    clim = [gpp[month == m, grass].mean() for m in range(1, 13)]
    assert int(np.argmax(clim)) + 1 in (3, 4, 5)
    # the evergreen tree never loses its canopy and photosynthesises all year
    assert lai[:, tree].min() > 0.1
    assert all(gpp[month == m, tree].mean() > 0.2 for m in range(1, 13))
    # water stress is what shuts the grass down in summer
    beta = cell.hourly[:, H["beta_w"], grass].reshape(-1, 24).mean(axis=1)
    assert beta[summer].mean() < beta[np.isin(month, [12, 1, 2])].mean() - 0.2


def test_runs_are_identical_and_chunking_does_not_matter(eslm1_inputs, eslm1_run):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    _, _, _, cell = eslm1_run
    args = (forcing.matrix(), forcing.times, static.lat, static.lon, static.sand, static.clay,
            list(static.pft), ppft, pglob)
    again = run_cell(*args, nspin=cfg.run.spinup_hours, show_progress=False)
    assert np.array_equal(again.hourly, cell.hourly)
    assert np.array_equal(again.daily, cell.daily)
    one_call = run_cell(*args, nspin=cfg.run.spinup_hours, chunk_days=None)
    assert np.array_equal(one_call.hourly, cell.hourly)
    assert np.array_equal(one_call.state, cell.state)


def test_parameters_change_the_result(eslm1_inputs, eslm1_run):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    _, _, _, cell = eslm1_run
    from tccas.parameters import pft_index
    p2 = ppft.copy()
    p2[pft_index("vcmax25"), :] *= 1.2
    r = run_cell(forcing.matrix(), forcing.times, static.lat, static.lon, static.sand,
                 static.clay, list(static.pft), p2, pglob, nspin=cfg.run.spinup_hours)
    g0 = cell.hourly[:, H["gpp"], :].sum(axis=0)
    g1 = r.hourly[:, H["gpp"], :].sum(axis=0)
    assert np.all(g1 > g0 * 1.01)


def _farquhar_reference(i_abs, ca, tc, pres, vcmax25, ajv, pg):
    """Gross C3 assimilation at Ci = fci Ca written out from the published equations
    (Farquhar et al. 1980; Collatz et al. 1991; BETHY temperature forms, science.md 3.1)."""
    p = {q.name: pg[k] for k, q in enumerate(GLOBAL_PARAMETERS)}
    R, tk = 8.314, tc + 273.15
    arr = lambda e: np.exp(e * (tk - 298.15) / (298.15 * R * tk))  # noqa: E731
    vcmax = vcmax25 * arr(p["e_vcmax"])
    kc = p["kc25"] * arr(p["e_kc"])
    ko = p["ko25"] * arr(p["e_ko"])
    gstar = p["a_gamma"] * tc
    jmax = vcmax25 * ajv * 0.04 * tc
    alpha = p["alpha_c3"]
    j = alpha * i_abs * jmax / np.sqrt(jmax ** 2 + (alpha * i_abs) ** 2)
    ci = p["fci_c3"] * ca
    je = j * (ci - gstar) / (4 * (ci + 2 * gstar))
    jc = vcmax * (ci - gstar) / (ci + kc * (1 + 0.21 / ko))
    eta = 0.99
    a = (je + jc - np.sqrt((je + jc) ** 2 - 4 * eta * je * jc)) / (2 * eta)
    return a / (1 + np.exp(1.3 * (tc - 55.0))), je, jc


@pytest.mark.parametrize("i_abs,tc", [(1500e-6, 25.0), (200e-6, 25.0), (1000e-6, 15.0),
                                      (800e-6, 32.0)])
def test_c3_photosynthesis_matches_published_equations(i_abs, tc):
    pg = global_defaults()
    ca, pres, vm, ajv = 400e-6, 101325.0, 42e-6, 1.9
    ref, je, jc = _farquhar_reference(i_abs, ca, tc, pres, vm, ajv, pg)
    got = leaf_assimilation(i_abs, ca, tc, pres, vm, ajv, pglob=pg)
    assert got["a_fixed_ci"] == pytest.approx(ref, rel=2e-4)   # softplus floors differ < 1e-4
    # pass 2 at the pass-1 conductance gives nearly the same assimilation and Ci = fci Ca
    # (not exactly: pass 2 solves each limitation with its own Ci before co-limiting)
    assert got["a_given_gs"] == pytest.approx(got["a_fixed_ci"], rel=2e-2)
    assert got["ci"] == pytest.approx(pg[[q.name for q in GLOBAL_PARAMETERS].index("fci_c3")]
                                      * ca, rel=2e-2)
    # stomatal conductance from Fick's law: gs = 1.6 (A - Rd) R T / (p (Ca - Ci))
    an = got["a_fixed_ci"] - got["rd"]
    gs_ref = 1.6 * an * 8.314 * (tc + 273.15) / (pres * (ca - 0.87 * ca))
    assert got["gs"] == pytest.approx(gs_ref, rel=1e-3)


def test_limitation_regimes_and_stress():
    # light-limited at low light (doubling light nearly doubles A), Rubisco-limited at high light
    lo = leaf_assimilation(50e-6, 400e-6, 25.0)["a_fixed_ci"]
    lo2 = leaf_assimilation(100e-6, 400e-6, 25.0)["a_fixed_ci"]
    hi = leaf_assimilation(1500e-6, 400e-6, 25.0)["a_fixed_ci"]
    hi2 = leaf_assimilation(3000e-6, 400e-6, 25.0)["a_fixed_ci"]
    assert 1.8 < lo2 / lo < 2.0
    assert hi2 / hi < 1.05
    # a realistic light-saturated rate for Vcmax25 = 42 umol m-2 s-1
    assert 8e-6 < hi < 25e-6
    # halving the conductance lowers A and Ci
    full = leaf_assimilation(1500e-6, 400e-6, 25.0)
    half = leaf_assimilation(1500e-6, 400e-6, 25.0, beta=0.5)
    assert half["a_given_gs"] < full["a_given_gs"]
    assert half["ci"] < full["ci"]
    # C4 (Collatz 1992): at high light and low CO2 it outperforms C3 of equal Vcmax
    c4 = leaf_assimilation(1500e-6, 200e-6, 30.0, vcmax25=42e-6, c4=True)["a_fixed_ci"]
    c3 = leaf_assimilation(1500e-6, 200e-6, 30.0, vcmax25=42e-6)["a_fixed_ci"]
    assert c4 > c3


def test_c4_temperature_inhibition_of_collatz_1992():
    """C4 Vcmax carries the low- and high-temperature terms of Collatz et al. (1992):
    at saturating light a C4 leaf at 10 degC works at under a tenth of its 25 degC rate
    (Arrhenius alone would leave about a third), and it declines again above about 35 degC."""
    import math
    from tccas.parameters import GLOBAL_PARAMETERS
    e_v = [p for p in GLOBAL_PARAMETERS if p.name == "e_vcmax"][0].default
    a = {t: leaf_assimilation(1500e-6, 390e-6, t, vcmax25=8e-6, c4=True)["a_fixed_ci"]
         for t in (10, 25, 32, 40)}
    arrhenius = math.exp(e_v * (283.15 - 298.15) / (298.15 * 8.314 * 283.15))
    inhibition = (1 + math.exp(0.3 * (13 - 25))) / (1 + math.exp(0.3 * (13 - 10)))
    assert a[10] / a[25] == pytest.approx(arrhenius * inhibition, rel=0.15)
    assert a[10] / a[25] < 0.1
    assert a[40] < 0.7 * a[32]
