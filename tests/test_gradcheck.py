"""tccas check-gradient: the user-facing gradient check, and that it catches a wrong
derivative."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import tccas
from tccas.workflow import cell_model_for
from tccas.gradcheck import check_gradient


def _short_case(tmp_path):
    d = tccas.copy_case("ES-LM1", tmp_path / "case")
    cfg = (d / "config.toml").read_text().replace("spinup_hours = 17520", "spinup_hours = 2400")
    cfg += ('\n[control]\nparameters = { vcmax25 = true, lma = ["C3Gr"], c_w = true, '
            'vod_b = true, sif_scale = true }\nsigma_rel = { c_w = 0.3 }\n')
    (d / "config.toml").write_text(cfg)
    return d / "config.toml"


def test_check_gradient_passes_and_catches_a_wrong_tangent(tmp_path):
    cfg = tccas.load_config(_short_case(tmp_path))
    model, sets = cell_model_for(cfg, days=60)
    assert model.control.names == ("vcmax25[TmEv]", "vcmax25[C3Gr]", "lma[C3Gr]", "c_w",
                                   "vod_b", "sif_scale")
    assert model.control.sigma[3] == 0.3 * 0.5
    res = check_gradient(model, sets)
    assert res.ok, res.table()
    assert np.all(np.isfinite(res.fd_error[:5])) and np.nanmax(res.fd_error) < 1e-6
    # a tangent that is off by 0.1 % in one direction must fail the check
    true_tangent = model.tangent
    model.tangent = lambda x, dx: (lambda y, dy: (y, dy * (1 + 1e-3 * dx[2])))(
        *true_tangent(x, dx))
    bad = check_gradient(model, sets)
    assert not bad.ok and "exceeds tolerance" in bad.table()


def test_memory_budget_reaches_the_model(tmp_path):
    path = _short_case(tmp_path)
    path.write_text(path.read_text() + "adjoint_memory_mb = 64\n")
    model, _ = cell_model_for(tccas.load_config(path), days=30)
    assert model.adjoint_memory_mb == 64.0 and 0 < model.tape_hours < 64e6 / 1000
    # without the key, the model's default
    default, _ = cell_model_for(tccas.load_config("ES-LM1"), days=30)
    assert default.adjoint_memory_mb == tccas.model.DEFAULT_ADJOINT_MEMORY_MB


def test_check_gradient_command(tmp_path):
    path = _short_case(tmp_path)
    r = subprocess.run([sys.executable, "-m", "tccas", "check-gradient", str(path), "--days",
                        "30", "-q"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "dot-product test" in r.stdout and "gradient check PASSED" in r.stdout


class _FakeModel:
    """y = y0 + A x + (B x)**2 / 2 with exact tangent and adjoint; column 1 of A and B has
    an effect far below the rounding of y, so finite differences cannot resolve it."""

    def __init__(self, tangent_error=0.0, adjoint_error=0.0):
        from types import SimpleNamespace
        rng = np.random.default_rng(0)
        self.nx, self.ny = 3, 40
        self.a = rng.normal(size=(self.ny, self.nx))
        self.b = rng.normal(size=(self.ny, self.nx)) * 0.3
        self.a[:, 1] *= 1e-8
        self.b[:, 1] *= 1e-8
        self.y0 = 1e3 * (1 + rng.random(self.ny))
        self.control = SimpleNamespace(names=("a", "tiny", "c"), lower=np.full(3, -50.0),
                                       upper=np.full(3, 50.0))
        self.tangent_error, self.adjoint_error = tangent_error, adjoint_error
        self.last_stack_bytes = 0.0

    def forward(self, x):
        return self.y0 + self.a @ x + 0.5 * (self.b @ x) ** 2

    def jac(self, x):
        return self.a + (self.b @ x)[:, None] * self.b

    def tangent(self, x, dx):
        jdx = self.jac(x) @ dx
        return self.forward(x), jdx * (1 + self.tangent_error * dx[0])

    def adjoint(self, x, dy):
        return self.jac(x).T @ dy * (1 + self.adjoint_error)


def _fake_sets(model):
    from types import SimpleNamespace
    return [SimpleNamespace(value=model.y0 + 1.0, sigma=np.ones(model.ny))]


def test_unresolved_elements_are_reported_not_failed():
    m = _FakeModel()
    res = check_gradient(m, _fake_sets(m))
    assert res.status[0] == "pass" and res.status[2] == "pass"
    assert res.status[1] == "unresolved" and res.unresolved == ("tiny",)
    assert res.ok and "unresolved (finite differences cannot resolve it)" in res.table()
    assert "PASSED (1 unresolved)" in res.table()
    # a tangent wrong by 1e-4 in a resolved element fails, at any first step
    for h in (2e-5, 1e-2):
        bad = check_gradient(_FakeModel(tangent_error=1e-4), _fake_sets(m), h=h)
        assert bad.status[0] == "FAIL" and not bad.ok
    # a wrong adjoint fails every dot-product draw
    bad = check_gradient(_FakeModel(adjoint_error=1e-9), _fake_sets(m))
    assert bad.dot_product_error > bad.dot_product_tolerance and not bad.ok


@pytest.mark.slow
@pytest.mark.parametrize("days", [7, 30])
def test_bundled_case_short_windows_have_no_false_alarm(days):
    """The issue's false alarms (c_lab0[C3Gr], cr_onset[C3Gr] with --days 7 / 30)."""
    model, sets = cell_model_for(tccas.load_config("ES-LM1"), days=days)
    res = check_gradient(model, sets)
    assert res.ok, res.table()
    assert "FAIL" not in res.status


def test_check_gradient_command_covers_the_ascat_streams_and_parameters(tmp_path):
    """The bundled case observes sigma40 and slope too; with the water-cloud coefficients
    in [control], `tccas check-gradient` checks them (tangent per element, dot product)."""
    d = tccas.copy_case("ES-LM1", tmp_path / "case")
    cfg = (d / "config.toml").read_text().replace("spinup_hours = 17520", "spinup_hours = 2400")
    cfg += ('\n[control]\nparameters = { wcm_a = true, wcm_b = true, wcm_c = true, '
            'wcm_d = true, wcm_n = true, hyd_min = true }\n')
    (d / "config.toml").write_text(cfg)
    model, sets = cell_model_for(tccas.load_config(d / "config.toml"), days=30)
    assert {"sigma40", "slope"} <= {o.stream for o in sets}
    r = subprocess.run([sys.executable, "-m", "tccas", "check-gradient", str(d / "config.toml"),
                        "--days", "30"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gradient check PASSED" in r.stdout
    for name in ("wcm_a", "wcm_b", "wcm_c", "wcm_d", "wcm_n"):
        line = next(ln for ln in r.stdout.splitlines() if ln.split()[:1] == [name])
        assert "pass" in line, line
