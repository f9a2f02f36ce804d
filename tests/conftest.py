"""Shared fixtures: the default case is run once per test session."""
from __future__ import annotations

import numpy as np
import pytest

import tccas
from tccas.workflow import load_inputs, parameters_for
from tccas.model import run_cell


@pytest.fixture(scope="session")
def eslm1_inputs():
    cfg = tccas.load_config("ES-LM1")
    static, forcing = load_inputs(cfg)
    ppft, pglob = parameters_for(cfg, static)
    return cfg, static, forcing, ppft, pglob


@pytest.fixture(scope="session")
def eslm1_run(eslm1_inputs):
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    cell = run_cell(forcing.matrix(), forcing.times, static.lat, static.lon, static.sand,
                    static.clay, list(static.pft), ppft, pglob, nspin=cfg.run.spinup_hours,
                    show_progress=False)
    return cfg, static, forcing, cell


def var_index(table, name):
    return [v[0] for v in table].index(name)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
