"""Carbon spin-up to the model's own equilibrium (tccas.spinup)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tccas
from tccas.workflow import load_inputs, prior_parameters
from tccas.config import read_config
from tccas.errors import ConfigError
from tccas.model import run_cell
from tccas.parameters import DAILY_OUTPUTS, pft_index
from tccas.spinup import POOL_PARAMETERS, equilibrium_pools, periodic_solution

D = {v[0]: i for i, v in enumerate(DAILY_OUTPUTS)}
POOLS = ["c_lab", "c_fol", "c_root", "c_wood", "c_lit", "c_som"]


def test_periodic_solution_is_the_limit_of_iterating_the_recursion(rng):
    n = 50
    a = rng.uniform(0.6, 0.99, size=(n, 3))
    b = rng.uniform(0.0, 5.0, size=(n, 3))
    c = periodic_solution(a, b)
    # brute force: iterate cycles until converged
    x = np.zeros(3)
    for _ in range(3000):
        for t in range(n):
            x = a[t] * x + b[t]
    assert np.allclose(c[0], x, rtol=1e-12)
    # and the trajectory satisfies the recursion, closing on itself
    assert np.allclose(c[1:], a[:-1] * c[:-1] + b[:-1], rtol=1e-12)
    assert np.allclose(a[-1] * c[-1] + b[-1], c[0], rtol=1e-12)


def test_periodic_solution_refuses_a_pool_without_turnover():
    with pytest.raises(tccas.ModelError, match="no finite equilibrium"):
        periodic_solution(np.ones((5, 1)), np.ones((5, 1)))


@pytest.fixture(scope="module")
def equilibrium(eslm1_inputs):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    eq = equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon,
                           static.sand, static.clay, list(static.pft), ppft, pglob,
                           cfg.run.spinup_hours)
    return eq


def test_equilibrium_is_stationary(equilibrium):
    eq = equilibrium
    assert eq.cycle_days == 730
    assert eq.cycles < 30 and eq.change < 1e-4
    # one more cycle of the full model changes no pool by 1 % (the criterion) -- in
    # fact by far less
    assert np.abs(eq.drift).max() < 1e-3
    assert np.all(eq.pools > 0)


def test_a_run_started_at_equilibrium_returns_to_it_after_the_spinup_cycle(eslm1_inputs,
                                                                         equilibrium):
    """The core's own spin-up and reset, with c_*0 at equilibrium: the first two years of the
    main run repeat the spin-up forcing, so the pools come back to where they started."""
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    p = ppft.copy()
    for k, name in enumerate(POOL_PARAMETERS):
        p[pft_index(name)] = equilibrium.pools[k]
    nd = 730
    cell = run_cell(forcing.matrix()[:24 * nd], forcing.times[:24 * nd], static.lat,
                    static.lon, static.sand, static.clay, list(static.pft), p, pglob,
                    nspin=cfg.run.spinup_hours, show_progress=False)
    end = cell.daily[-1, [D[n] for n in POOLS], :]
    assert np.allclose(cell.state0[:6], equilibrium.pools, rtol=1e-14)
    assert np.abs(end / equilibrium.pools - 1).max() < 1e-3
    # far from equilibrium, the table's generic prior pools drift by more than 1 % in the
    # same run (the case's own c_*0 are at equilibrium)
    from tccas.parameters import pft_defaults
    p0 = ppft.copy()
    for name in POOL_PARAMETERS:
        p0[pft_index(name)] = pft_defaults(list(static.pft))[pft_index(name)]
    cell0 = run_cell(forcing.matrix()[:24 * nd], forcing.times[:24 * nd], static.lat,
                     static.lon, static.sand, static.clay, list(static.pft), p0, pglob,
                     nspin=cfg.run.spinup_hours, show_progress=False)
    end0 = cell0.daily[-1, [D[n] for n in POOLS], :]
    assert np.abs(end0 / cell0.state0[:6] - 1).max() > 0.1


def test_equilibrium_needs_a_year_of_spinup_forcing(eslm1_inputs):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    with pytest.raises(ConfigError, match="at least 365 days"):
        equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon, static.sand,
                          static.clay, list(static.pft), ppft, pglob, 200 * 24)


def _short_case(tmp_path, carbon="", params=""):
    d = tmp_path / "case"
    tccas.copy_case("ES-LM1", d)
    text = (d / "config.toml").read_text()
    text = text.replace("end = 2021-12-31", "end = 2016-12-31")
    text = text.replace("spinup_hours = 17520", f"spinup_hours = 8760\n{carbon}")
    # the bundled case carries its equilibrium c_*0: drop them, as in a new case
    text = "\n".join(line for line in text.splitlines()
                     if not line.startswith(POOL_PARAMETERS)) + "\n"
    text = text.replace("[parameters]\n", f"[parameters]\n{params}")
    # observations of 2017-2021 lie outside this short run
    text = text.split("[observations]")[0]
    (d / "config.toml").write_text(text)
    return d / "config.toml"


def test_config_option_runs_the_spinup_on_the_fly_and_the_command_writes_the_same_pools(
        tmp_path):
    cfg_path = _short_case(tmp_path, carbon='carbon_spinup = "equilibrium"')
    cfg = read_config(cfg_path)
    assert cfg.run.carbon_spinup == "equilibrium"
    res = tccas.run(cfg, output_dir=tmp_path / "eq", progress=False)
    static, forcing = load_inputs(cfg)
    pools = prior_parameters(cfg, static, forcing)[0][[pft_index(n) for n in POOL_PARAMETERS]]
    # the same case with the pools written into the file by the command
    cfg2_path = _short_case(tmp_path / "b")
    r = subprocess.run([sys.executable, "-m", "tccas", "spinup", str(cfg2_path), "--write"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "c_som0" in r.stdout and "wrote c_*0" in r.stdout
    cfg2 = read_config(cfg2_path)
    assert set(POOL_PARAMETERS) <= set(cfg2.parameters)
    written = prior_parameters(cfg2, static, forcing)[0][[pft_index(n) for n in POOL_PARAMETERS]]
    # written with 6 significant digits
    assert np.allclose(written, pools, rtol=1e-5)
    res2 = tccas.run(cfg2, output_dir=tmp_path / "written", progress=False)
    gpp = res.cell.hourly[:, 0].sum(), res2.cell.hourly[:, 0].sum()
    assert abs(gpp[0] / gpp[1] - 1) < 1e-4
    # writing again replaces the lines instead of adding more
    r = subprocess.run([sys.executable, "-m", "tccas", "spinup", str(cfg2_path), "--write"],
                       capture_output=True, text=True)
    assert r.returncode == 0
    assert cfg2_path.read_text().count("c_lab0 =") == 1


def test_bad_spinup_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="carbon_spinup must be one of"):
        read_config(_short_case(tmp_path / "a", carbon='carbon_spinup = "yes"'))
    with pytest.raises(ConfigError, match="c_som0.*remove one or the other"):
        read_config(_short_case(tmp_path / "b", carbon='carbon_spinup = "equilibrium"',
                                params="c_som0 = 9000.0\n"))
    p = _short_case(tmp_path / "c", carbon='carbon_spinup = "equilibrium"')
    p.write_text(p.read_text().replace("spinup_hours = 8760", "spinup_hours = 240"))
    with pytest.raises(ConfigError, match="at least a year"):
        read_config(p)
    r = subprocess.run([sys.executable, "-m", "tccas", "spinup", "ES-LM1", "--write"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "bundled case" in r.stderr and "Traceback" not in r.stderr


def test_aitken_finds_the_limit_of_a_geometric_sequence_and_leaves_the_rest():
    from tccas.spinup import aitken
    limit = np.array([5.0, 100.0, 2.0, 7.0])
    r = np.array([0.9, 0.5, -0.5, 0.999])      # monotone, monotone, oscillating, too slow
    c = np.array([-3.0, 40.0, 1.0, 1.0])
    p = [limit + c * r ** k for k in range(3)]
    out = aitken(*p)
    assert np.allclose(out[:2], limit[:2], rtol=1e-12)
    assert np.array_equal(out[2:], p[2][2:])


def test_a_canopy_that_dies_out_is_named(eslm1_inputs):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    p = ppft.copy()
    p[pft_index("f_auto")] = 0.8          # at its bound: little NPP left ...
    p[pft_index("leaf_life")] = 1.001     # ... and every leaf shed each year ...
    p[pft_index("f_lab")] = 0.01          # ... with almost nothing stored to regrow
    p[pft_index("f_fol")] = 0.01
    with pytest.raises(tccas.ModelError, match=r"vegetation of .*dies out"):
        equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon,
                          static.sand, static.clay, list(static.pft), p, pglob,
                          cfg.run.spinup_hours)
