"""tccas check-gradient: the user-facing gradient check, and that it catches a wrong
derivative."""
from __future__ import annotations

import subprocess
import sys

import numpy as np

import tccas
from tccas._workflow import cell_model_for
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
