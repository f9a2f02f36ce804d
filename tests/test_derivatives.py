"""Tangent and adjoint of the full model, proved on a multi-year run at ES-LM1 with every
observation stream active and every control-vector component perturbed: tangent against
central finite differences (Taylor test), the dot-product test of the adjoint, the
adjoint gradient of a scalar misfit against the tangent, the TCCAS zero-gradient regression,
and the AD stack."""
from __future__ import annotations

import numpy as np
import pytest

import tccas
from tccas.workflow import load_inputs, load_observations, parameters_for
from tccas.control import build_control
from tccas.model import _API, CellModel, obs_arrays
from tccas.obs import STREAMS, ObservationSet

START, DAYS, SPIN = np.datetime64("2017-01-01T00:00:00"), 2 * 365, 365 * 24


def _all_streams(sets, times, pfts):
    """The bundled streams plus synthetic records for the others (TB at two polarisations,
    LE, AGB), so that every operator is part of the derivative checks."""
    have = {o.stream for o in sets}
    t = times[13::48][:200]
    fp = np.tile([0.2, 0.8], (t.size, 1))
    extra = []
    for stream in STREAMS:
        if stream in have:
            continue
        ang = np.full(t.size, 42.5) if stream.startswith("tb") else None
        t1 = t + np.timedelta64(3600 if stream != "agb" else 86400 * 30, "s")
        extra.append(ObservationSet(stream, t, t1, np.ones(t.size), np.ones(t.size),
                                    np.zeros(t.size, int), tuple(pfts), fp, ang))
    return sets + extra


@pytest.fixture(scope="module")
def problem():
    cfg = tccas.load_config("ES-LM1")
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static)
    i0 = int((START - forcing.times[0]).astype("timedelta64[h]").astype(int))
    sel = slice(i0, i0 + DAYS * 24)
    times, met = forcing.times[sel], forcing.matrix()[sel]
    end = times[-1] + np.timedelta64(3600, "s")
    sets = [o.subset((o.t_start >= times[0]) & (o.t_end <= end))
            for o in load_observations(cfg)]
    sets = _all_streams(sets, times, static.pft)
    oa = obs_arrays(sets, times, static.pft)
    ctl = build_control(static.pft, ppft, pglob)
    model = CellModel(met, times, static.lat, static.lon, static.sand, static.clay,
                      static.pft, ppft, pglob, ctl, oa, nspin=SPIN)
    return model, sets


def test_setup_covers_every_stream_and_the_tccas_control_vector(problem):
    model, sets = problem
    assert {o.stream for o in sets} == set(STREAMS)
    assert model.nx == 56                          # TCCAS 2-PFT site control vector
    assert model.ny > 10000


def test_dot_product(problem, rng):
    model, _ = problem
    x = rng.normal(0, 0.3, model.nx)
    for _ in range(2):
        dx, dy = rng.normal(size=model.nx), rng.normal(size=model.ny)
        _, jdx = model.tangent(x, dx)
        jtdy = model.adjoint(x, dy)
        a, b = jdx @ dy, dx @ jtdy
        assert abs(a - b) / abs(a) < 1e-12


def _central(f, x, dx, h):
    """Central difference with one Richardson step (error O(h**4)): the model is smooth but
    strongly curved in places (a leaf-fall date moves whole seasons), so plain O(h**2)
    differences would measure their own truncation error, not the tangent's."""
    d1 = (f(x + h * dx) - f(x - h * dx)) / (2 * h)
    d2 = (f(x + 0.5 * h * dx) - f(x - 0.5 * h * dx)) / h
    return (4 * d2 - d1) / 3


def test_tangent_against_central_differences_every_component(problem):
    """Per control component: ||FD - J e_k|| / ||J e_k|| < 1e-6 (Richardson-extrapolated
    central differences, step 2e-5 prior sigma). Prints the table of errors on failure."""
    model, _ = problem
    x = np.zeros(model.nx)
    y0 = model.forward(x)
    h = 2e-5
    errors, zero = {}, []
    for k in range(model.nx):
        e = np.zeros(model.nx)
        e[k] = 1.0
        _, jdx = model.tangent(x, e)
        fd = _central(model.forward, x, e, h)
        scale = np.linalg.norm(jdx)
        if scale < 1e-12 * np.linalg.norm(y0):
            zero.append(model.control.names[k])
            assert np.linalg.norm(fd) < 1e-7 * np.linalg.norm(y0)
            continue
        errors[model.control.names[k]] = np.linalg.norm(fd - jdx) / scale
    bad = {n: e for n, e in errors.items() if e > 1e-6}
    table = "\n".join(f"{n:24s} |fd - tl| / |tl| = {e:.2e}" for n, e in sorted(errors.items()))
    assert not bad, f"tangent differs from finite differences:\n{table}"
    # only the ACM canopy efficiency has no effect on anything (GPP comes from BETHY)
    assert zero == ["canopy_eff[TmEv]", "canopy_eff[C3Gr]"]


def test_taylor_remainder_is_second_order(problem, rng):
    model, _ = problem
    x = rng.normal(0, 0.2, model.nx)
    dx = rng.normal(size=model.nx)
    y0, jdx = model.tangent(x, dx)
    rem = []
    for h in (4e-4, 2e-4, 1e-4):
        rem.append(np.linalg.norm(model.forward(x + h * dx) - y0 - h * jdx))
    assert rem[0] / rem[1] == pytest.approx(4.0, rel=0.15), rem
    assert rem[1] / rem[2] == pytest.approx(4.0, rel=0.15), rem


def test_adjoint_gradient_of_the_misfit(problem, rng):
    """grad of J(x) = 1/2 sum(((y - d)/sigma)^2) from the adjoint equals the tangent's
    directional derivative and central differences of J."""
    model, sets = problem
    d = np.concatenate([o.value for o in sets])
    sig = np.concatenate([o.sigma for o in sets])

    def cost(x):
        return 0.5 * np.sum(((model.forward(x) - d) / sig) ** 2)

    x = rng.normal(0, 0.3, model.nx)
    y = model.forward(x)
    grad = model.adjoint(x, (y - d) / sig ** 2)
    dx = rng.normal(size=model.nx)
    _, jdx = model.tangent(x, dx)
    directional = np.sum(jdx * (y - d) / sig ** 2)
    assert grad @ dx == pytest.approx(directional, rel=1e-12)
    fd = _central(cost, x, dx, 1e-4)
    assert grad @ dx == pytest.approx(fd, rel=1e-6)


def test_zero_gradient_of_heterotrophic_parameters_without_nee(problem, rng):
    """TCCAS regression (science.md section 7): assimilating SIF, VOD, SM and FAPAR but not
    NEE, the gradient with respect to parameters that act only on heterotrophic respiration
    (and on pools that only feed it) is exactly zero."""
    model, sets = problem
    dy = np.zeros(model.ny)
    for o in sets:
        if o.stream in ("sif", "vod", "sm", "fapar"):
            dy[model.oa.slices[o.stream]] = rng.normal(size=len(o))
    g = model.adjoint(np.zeros(model.nx), dy)
    names = model.control.names
    rh_only = [k for k, n in enumerate(names) if n.split("[")[0] in
               ("theta_min", "theta_root", "theta_lit", "theta_som", "temp_exp", "canopy_eff",
                "c_lit0", "c_som0", "c_root0")]
    assert len(rh_only) == 18
    assert np.all(g[rh_only] == 0.0)
    assert np.count_nonzero(g) >= model.nx - len(rh_only) - 4
    # with NEE they matter
    dy[model.oa.slices["nee"]] = rng.normal(size=model.oa.slices["nee"].stop
                                            - model.oa.slices["nee"].start)
    g2 = model.adjoint(np.zeros(model.nx), dy)
    assert np.all(g2[[names.index("theta_som[C3Gr]"), names.index("c_som0[TmEv]")]] != 0)


def test_adjoint_stack_is_balanced_and_reported(problem, rng):
    model, _ = problem
    model.adjoint(np.zeros(model.nx), rng.normal(size=model.ny))
    # two tile-years of taped hours: a few tens of MB, and nothing left on the stack
    assert 1e6 < model.last_stack_bytes < 500e6


def test_released_stack_is_allocated_again(problem, rng):
    from tccas.model import release_adjoint_memory
    model, _ = problem
    x, dy = np.zeros(model.nx), rng.normal(size=model.ny)
    g = model.adjoint(x, dy)
    release_adjoint_memory()
    assert np.array_equal(model.adjoint(x, dy), g)
    release_adjoint_memory()
    release_adjoint_memory()                       # harmless when already free
    n = 70_000                                     # across the first block boundary
    v = rng.normal(size=n)
    xb, xab, *_ = _API.stack_selftest(v, np.zeros(n, np.int32), np.zeros(n, np.int32))
    assert np.array_equal(xb, v) and np.array_equal(xab, v)


def test_stack_module_round_trip(rng):
    n = 100_000
    x = rng.normal(size=n)
    iv = rng.integers(-1000, 1000, n).astype(np.int32)
    cv = rng.integers(0, 4, n).astype(np.int32)
    xb, xab, ib, cb, peak, used, err = _API.stack_selftest(x, iv, cv)
    assert np.array_equal(xb, x) and np.array_equal(xab, x)
    assert np.array_equal(ib, iv) and np.array_equal(cb, cv)
    assert used == 0 and err == 1
    assert peak == 8 * 2 * n + 4 * n + n


def test_bad_inputs_to_the_derivative_codes(problem):
    model, _ = problem
    with pytest.raises(tccas.ModelError, match="x has NaN"):
        model.forward(np.full(model.nx, np.nan))
    with pytest.raises(tccas.ModelError, match=r"dy must have shape"):
        model.adjoint(np.zeros(model.nx), np.zeros(3))
    x = np.zeros(model.nx)
    k = model.control.names.index("leaf_life[C3Gr]")
    x[k] = model.control.lower[k] - 0.1          # leaf lifespan below 1.001 yr
    with pytest.raises(tccas.ModelError, match=r"leaf_life\[C3Gr\] = .* outside its bounds"):
        model.tangent(x, np.ones(model.nx))


def test_memory_budget_checkpoints_the_adjoint_without_changing_it(problem, rng):
    """A run whose tape exceeds adjoint_memory_mb is re-run in yearly checkpointed blocks:
    the same gradient, far less memory; a bad budget is refused."""
    model, _ = problem
    x = rng.uniform(-0.01, 0.01, model.nx)
    dy = rng.normal(size=model.ny)
    default = model.adjoint_memory_mb
    try:
        g_whole = model.adjoint(x, dy)
        whole = model.last_stack_bytes
        # 3 years (1 of spin-up) x 2 tiles = 6 tile-years: about 52 MB when taped whole
        # (about 1 kB per tile-hour since the changes of docs/performance.md; 1.4 kB before)
        assert whole > 6 * 8760 * 800
        model.adjoint_memory_mb = 20
        g_blocks = model.adjoint(x, dy)
        blocks = model.last_stack_bytes
    finally:
        model.adjoint_memory_mb = default
    assert np.max(np.abs(g_blocks - g_whole)) <= 1e-12 * np.max(np.abs(g_whole))
    assert blocks < whole / 2
    for bad in (0, -5, float("nan"), "lots", True):
        with pytest.raises(tccas.ModelError, match="adjoint_memory_mb must be a positive"):
            model.adjoint_memory_mb = bad


def test_checkpointed_long_run_keeps_memory_bounded_and_derivatives_exact(rng):
    """Beyond the default memory budget (500 MB, about thirty tile-years) the adjoint re-runs
    yearly blocks: check that path on a 9-year Lapland cell with 4 PFTs (36 tile-years, with
    snow and deciduous phenology) for the dot product and the memory."""
    from tccas.io import Static
    from tccas.parameters import global_defaults, pft_defaults
    from tccas.synthetic import FISOD, generate_forcing
    f = generate_forcing("2013-01-01", "2022-01-01", seed=5, lat=FISOD["lat"],
                         lon=FISOD["lon"], climate="FI-Sod")
    cell = Static(FISOD["lat"], FISOD["lon"], (5, 4, 7, 9), (0.5, 0.2, 0.2, 0.1), 0.7, 0.05, 1.0)
    ppft, pglob = pft_defaults(list(cell.pft)), global_defaults()
    t = f.times[12::24]
    fp = np.tile(cell.pft_fraction, (t.size, 1))
    one = np.ones(t.size)
    sets = [ObservationSet(s, t, t + np.timedelta64(3600, "s"), one, one,
                           np.zeros(t.size, int), cell.pft, fp) for s in ("sif", "vod", "sm")]
    ctl = build_control(cell.pft, ppft, pglob, ["vcmax25", "lma", "leaf_life", "c_w", "vod_b"])
    model = CellModel(f.matrix(), f.times, cell.lat, cell.lon, cell.sand, cell.clay, cell.pft,
                      ppft, pglob, ctl, obs_arrays(sets, f.times, cell.pft), nspin=0)
    # (leaf_life of the deciduous PFT is 1.002 with sigma 0.2: stay well inside its bounds)
    x = rng.uniform(-0.004, 0.004, model.nx)
    assert np.all((x > ctl.lower) & (x < ctl.upper))
    dx, dy = rng.normal(size=model.nx), rng.normal(size=model.ny)
    _, jdx = model.tangent(x, dx)
    jtdy = model.adjoint(x, dy)
    assert abs(jdx @ dy - dx @ jtdy) / abs(jdx @ dy) < 1e-12
    # about one year of one tile on the stack, not 36 tile-years (~600 MB)
    assert model.last_stack_bytes < 60e6


@pytest.fixture(scope="module")
def ascat_problem(problem):
    """The same two-year run observed by the ASCAT streams (and SMOS soil moisture), with
    the water-cloud coefficients and the vegetation-water parameters in the control vector."""
    model, sets = problem
    keep = [o for o in sets if o.stream in ("sigma40", "slope", "sm")]
    assert {o.stream for o in keep} == {"sigma40", "slope", "sm"}
    # every global control of TCCAS that acts on soil moisture or vegetation water (not
    # sif_scale, vod_b), the leaf water and the five water-cloud coefficients
    names = ["vcmax25", "lma", "f_fol", "c_fol0", "c_wood0", "c_w", "sw_init", "wood_water",
             "hyd_min", "leaf_water", "hyd_tau", "wcm_a", "wcm_b", "wcm_c", "wcm_d", "wcm_n"]
    ctl = build_control(model.pfts, model.ppft0, model.pglob0, names)
    lat, lon, sand, clay = model.site
    times = START + np.arange(model.met.shape[0]) * np.timedelta64(3600, "s")
    m = CellModel(model.met, times, lat, lon, sand, clay, model.pfts, model.ppft0,
                  model.pglob0, ctl, obs_arrays(keep, times, model.pfts), nspin=SPIN)
    return m, keep


def test_ascat_streams_and_water_cloud_controls_tangent_and_adjoint(ascat_problem, rng):
    """sigma40 and slope with the water-cloud coefficients in x: every component's tangent
    against Richardson central differences (< 1e-6), and the dot-product test (< 1e-12)."""
    model, _ = ascat_problem
    x = np.zeros(model.nx)
    y0 = model.forward(x)
    sl = [model.oa.slices[s] for s in ("sigma40", "slope")]
    errors = {}
    for k in range(model.nx):
        e = np.zeros(model.nx)
        e[k] = 1.0
        _, jdx = model.tangent(x, e)
        fd = _central(model.forward, x, e, 2e-5)
        assert np.linalg.norm(jdx) > 1e-12 * np.linalg.norm(y0), model.control.names[k]
        # relative to |J e_k|, or to 1e-3 |y| for the components C-band barely sees (the
        # holm-oak tile is almost opaque: |J e_k| ~ 1e-5, where the differences' round-off
        # of ~1e-9 dominates)
        scale = max(np.linalg.norm(jdx), 1e-3 * np.linalg.norm(y0))
        errors[model.control.names[k]] = np.linalg.norm(fd - jdx) / scale
        if model.control.names[k].startswith("wcm_"):
            # the coefficients act on the ASCAT streams only
            assert np.linalg.norm(jdx[model.oa.slices["sm"]]) == 0.0
            norms = [np.linalg.norm(jdx[s]) for s in sl]
            if model.control.names[k] == "wcm_n":
                # the soil's angular fall-off is normalised at 40 deg: it moves the slope only
                assert norms[0] == 0.0 and norms[1] > 0
            else:
                assert min(norms) > 0, (model.control.names[k], norms)
    table = "\n".join(f"{n:24s} {e:.2e}" for n, e in sorted(errors.items()))
    assert max(errors.values()) < 1e-6, table
    x = rng.normal(0, 0.2, model.nx)
    for _ in range(2):
        dx, dy = rng.normal(size=model.nx), rng.normal(size=model.ny)
        _, jdx = model.tangent(x, dx)
        jtdy = model.adjoint(x, dy)
        assert abs(jdx @ dy - dx @ jtdy) / abs(jdx @ dy) < 1e-12
