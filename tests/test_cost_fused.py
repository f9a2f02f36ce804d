"""The fused cost pass of the core (dnb_api.cost_grad_x, CellModel.cost_and_gradient): the
observation term J_obs, the simulated observations y and dJ_obs/dx from one taped run.

Proved on the bundled ES-LM1 case: y equal to the forward run's and the gradient equal to
the adjoint of the misfit (a short window, and two years after a one-year spin-up with the
memory budget so small that the adjoint runs in checkpointed blocks), the gradient against
finite differences of J_obs and against the tangent, clear errors for bad observations,
and the cost function giving the same values and minimiser iterates through either path.
"""
from __future__ import annotations

import numpy as np
import pytest

import tccas
from tccas.control import build_control
from tccas.da import CostFunction, minimise
from tccas.errors import ModelError
from tccas.model import CellModel, obs_arrays
from tccas.workflow import load_inputs, load_observations, parameters_for

START = np.datetime64("2017-01-01T00:00:00")


def _case(days: int, spin_days: int, **kw):
    """CellModel of ES-LM1 from 2017-01-01 over ``days`` with the bundled observations,
    and an assimilation of all of them (sigma as given) in which the first 40 observations
    appear a second time with other values, so that some elements of y carry two
    observations."""
    cfg = tccas.load_config("ES-LM1")
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static)
    i0 = int((START - forcing.times[0]).astype("timedelta64[h]").astype(int))
    sel = slice(i0, i0 + days * 24)
    times, met = forcing.times[sel], forcing.matrix()[sel]
    end = times[-1] + np.timedelta64(3600, "s")
    sets = [o.subset((o.t_start >= times[0]) & (o.t_end <= end))
            for o in load_observations(cfg)]
    sets = [o for o in sets if len(o)]
    oa = obs_arrays(sets, times, static.pft)
    ctl = build_control(static.pft, ppft, pglob)
    model = CellModel(met, times, static.lat, static.lon, static.sand, static.clay,
                      static.pft, ppft, pglob, ctl, oa, nspin=spin_days * 24, **kw)
    d = np.concatenate([o.value for o in sets])
    s = np.concatenate([o.sigma for o in sets])
    st = np.concatenate([[o.stream] * len(o) for o in sets])
    idx = np.arange(d.size)
    rng = np.random.default_rng(3)
    extra = rng.choice(d.size, 40, replace=False)
    idx = np.concatenate([idx, extra, extra[:10]])
    d = np.concatenate([d, d[extra] * 1.1 + 0.1, d[extra[:10]] * 0.9])
    s = np.concatenate([s, s[extra], 2 * s[extra[:10]]])
    st = np.concatenate([st, st[extra], st[extra[:10]]])
    # the twin observations: ok as observed values, since only equalities are tested
    return model, idx, d, s, st


@pytest.fixture(scope="module")
def short():
    return _case(90, 0)


@pytest.fixture(scope="module")
def two_years():
    # 2017-2018 after a one-year spin-up: three tile-years, so a budget of 4 MB (about
    # 2200 tile-hours) sends the adjoint into yearly checkpointed blocks
    return _case(730, 365, adjoint_memory_mb=4.0)


def _x(model, seed, scale=0.3):
    rng = np.random.default_rng(seed)
    c = model.control
    return np.clip(rng.normal(0, scale, model.nx), 0.9 * c.lower, 0.9 * c.upper)


def _misfit_seed(model, y, idx, d, s):
    dy = np.zeros(model.ny)
    np.add.at(dy, idx, (y[idx] - d) / s / s)
    return dy


def _check_equal_to_two_runs(model, idx, d, s):
    x = _x(model, 1)
    j, y, g = model.cost_and_gradient(x, idx, d, s)
    stack_fused = model.last_stack_bytes
    y_fw = model.forward(x)
    # y of the taped pass is the forward run's (the reverse sweep does not overwrite it)
    assert np.max(np.abs(y - y_fw)) <= 1e-13 * np.max(np.abs(y_fw))
    g_ad = model.adjoint(x, _misfit_seed(model, y_fw, idx, d, s))
    assert model.last_stack_bytes == stack_fused
    assert np.linalg.norm(g - g_ad) <= 1e-13 * np.linalg.norm(g_ad)
    r = (y_fw[idx] - d) / s
    assert j == pytest.approx(0.5 * float(r @ r), rel=1e-12)
    assert j > 0 and np.linalg.norm(g) > 0
    return x, stack_fused


def test_fused_pass_equals_forward_then_adjoint_short_window(short):
    model, idx, d, s, _ = short
    assert np.unique(idx).size < idx.size          # shared elements of y are exercised
    _check_equal_to_two_runs(model, idx, d, s)


def test_fused_pass_equals_forward_then_adjoint_checkpointed(two_years):
    model, idx, d, s, _ = two_years
    x, stack_small = _check_equal_to_two_runs(model, idx, d, s)
    # the same with the whole run on the tape: same values, a larger tape (so the small
    # budget did take the checkpointed path)
    model.adjoint_memory_mb = 500.0
    try:
        j_whole, y_whole, g_whole = model.cost_and_gradient(x, idx, d, s)
        stack_whole = model.last_stack_bytes
    finally:
        model.adjoint_memory_mb = 4.0
    j, y, g = model.cost_and_gradient(x, idx, d, s)
    assert stack_whole > 2 * stack_small
    np.testing.assert_allclose(y_whole, y, rtol=1e-13, atol=0)
    assert np.linalg.norm(g_whole - g) <= 1e-13 * np.linalg.norm(g)
    assert j_whole == pytest.approx(j, rel=1e-13)


def test_fused_gradient_against_finite_differences(short):
    """Central differences of J_obs (Richardson, error O(h**4)) along a random direction
    against g . v."""
    model, idx, d, s, _ = short
    x = _x(model, 2, 0.2)
    v = np.random.default_rng(4).normal(size=model.nx)
    _, _, g = model.cost_and_gradient(x, idx, d, s)

    def jobs(h):
        return model.cost_and_gradient(x + h * v, idx, d, s)[0]

    h = 1e-4
    d1 = (jobs(h) - jobs(-h)) / (2 * h)
    d2 = (jobs(h / 2) - jobs(-h / 2)) / h
    fd = (4 * d2 - d1) / 3
    assert fd == pytest.approx(g @ v, rel=1e-6)


def test_fused_gradient_consistent_with_the_tangent(short):
    """(J v) . w = v . g with w the misfit's adjoint seed, to round-off: the fused
    gradient is the transpose of the tangent applied to the cost's seed."""
    model, idx, d, s, _ = short
    x = _x(model, 5)
    j, y, g = model.cost_and_gradient(x, idx, d, s)
    w = _misfit_seed(model, y, idx, d, s)
    for seed in (6, 7):
        v = np.random.default_rng(seed).normal(size=model.nx)
        y_tl, jv = model.tangent(x, v)
        # the tangent code's y equals the primal's to rounding
        np.testing.assert_allclose(y_tl, y, rtol=1e-12, atol=1e-12 * np.abs(y).max())
        a, b = jv @ w, v @ g
        assert abs(a - b) <= 1e-12 * abs(a)


@pytest.mark.parametrize("what, value, match", [
    ("observed", np.nan, "observed value or its uncertainty"),
    ("observed", np.inf, "observed value or its uncertainty"),
    ("sigma", 0.0, "uncertainty is not positive"),
    ("sigma", -1.0, "uncertainty is not positive"),
    ("sigma", np.inf, "NaN or infinite"),
    ("sigma", np.nan, "NaN or infinite"),
    ("index", -1, "points outside the simulated observations"),
    ("index", 10**12, "points outside the simulated observations"),
])
def test_bad_observations_give_a_clear_error(short, what, value, match):
    model, idx, d, s, _ = short
    args = {"index": idx.copy(), "observed": d.copy(), "sigma": s.copy()}
    args[what][7] = value
    with pytest.raises(ModelError, match=match) as e:
        model.cost_and_gradient(np.zeros(model.nx), **args)
    assert "assimilated observation 7" in str(e.value)


def test_bad_shapes_and_types(short):
    model, idx, d, s, _ = short
    x = np.zeros(model.nx)
    with pytest.raises(ModelError, match="integer"):
        model.cost_and_gradient(x, idx.astype(float), d, s)
    with pytest.raises(ModelError, match="sigma must have shape"):
        model.cost_and_gradient(x, idx, d, s[:-1])
    with pytest.raises(ModelError, match="outside its bounds"):
        model.cost_and_gradient(model.control.upper + 1.0, idx, d, s)
    # no assimilated observation: J_obs = 0, zero gradient, y still simulated
    j, y, g = model.cost_and_gradient(x, idx[:0], d[:0], s[:0])
    assert j == 0.0 and not g.any()
    np.testing.assert_array_equal(y, model.forward(x))


def test_cost_function_same_value_gradient_and_iterates_either_path(short):
    model, idx, d, s, st = short
    fused = CostFunction(model, idx, d, s, st)
    two = CostFunction(model, idx, d, s, st, use_fused=False)
    assert fused.fused and not two.fused
    x = _x(model, 8)
    a, b = fused(x), two(x)
    assert (fused.n_fused, fused.n_adjoint, fused.n_forward) == (1, 1, 0)
    assert (two.n_fused, two.n_adjoint, two.n_forward) == (0, 1, 1)
    assert a.total == pytest.approx(b.total, rel=1e-14)
    assert a.parts.keys() == b.parts.keys()
    for k in a.parts:
        assert a.parts[k] == pytest.approx(b.parts[k], rel=1e-14)
    assert np.linalg.norm(a.gradient - b.gradient) <= 1e-13 * np.linalg.norm(b.gradient)
    # the minimiser takes the same path (to round-off; here, to the last bit)
    ra = minimise(fused, max_iterations=3, progress=False)
    rb = minimise(two, max_iterations=3, progress=False)
    assert ra.n_iterations == rb.n_iterations == 3
    np.testing.assert_allclose(ra.x, rb.x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose([h["cost"] for h in ra.history],
                               [h["cost"] for h in rb.history], rtol=1e-12)
    assert fused.n_forward == 0 and fused.n_fused == fused.n_adjoint
