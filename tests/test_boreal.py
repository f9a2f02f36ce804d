"""A Lapland (FI-Sod-like) cell with the four boreal PFTs: snow, frozen winters, deciduous
phenology, and the same conservation laws as at ES-LM1."""
from __future__ import annotations

import numpy as np
import pytest

from tccas.model import run_cell
from tccas.parameters import (DAILY_OUTPUTS, HOURLY_OUTPUTS, STATE_NAMES, apply_overrides,
                              global_defaults, pft_defaults)
from tccas.phenology import climate_phenology, pulse_peak_lag
from tccas.synthetic import FISOD, generate_forcing

H = {v[0]: i for i, v in enumerate(HOURLY_OUTPUTS)}
D = {v[0]: i for i, v in enumerate(DAILY_OUTPUTS)}
S = {v: i for i, v in enumerate(STATE_NAMES)}
PFTS = [5, 4, 7, 9]   # EvCn (Scots pine), TmSg (birch), EShr (heath), C3Gr


@pytest.fixture(scope="module")
def lapland():
    f = generate_forcing("2015-01-01", "2018-01-01", seed=7, lat=FISOD["lat"], lon=FISOD["lon"],
                         climate="FI-Sod")
    ppft, pglob = pft_defaults(PFTS), global_defaults()
    # a new site's prior phenology days follow its own climate (tccas.phenology), as
    # tccas.run sets them when a case does not give them
    days = climate_phenology(f.times, f.matrix(), FISOD["lat"], PFTS, ppft)
    apply_overrides(ppft, pglob, PFTS, {k: v for k, v in days.items() if v})
    cell = run_cell(f.matrix(), f.times, FISOD["lat"], FISOD["lon"], 0.7, 0.05, PFTS, ppft,
                    pglob, nspin=8760)
    month = f.times.astype("datetime64[M]").astype(int) % 12 + 1
    return f, cell, month, ppft


def test_snow_season(lapland):
    f, cell, month, *_ = lapland
    snow = cell.hourly[:, H["snow"], :]
    assert snow[np.isin(month, [2, 3])].mean() > 50          # mm SWE in late winter
    assert snow[np.isin(month, [7, 8])].max() == pytest.approx(0, abs=1e-3)
    # melt happens in spring and frozen soil follows the air
    tsoil = cell.hourly[:, H["tsoil1"], 0]
    assert tsoil[np.isin(month, [1, 2])].mean() < 273.15 + 1.0
    assert tsoil[np.isin(month, [7])].mean() > 273.15 + 8.0


def test_boreal_phenology_and_winter_dormancy(lapland):
    f, cell, month, *_ = lapland
    dmonth = month[::24]
    lai = cell.daily[:, D["lai_day"], :]
    gpp = cell.daily[:, D["f_gpp"], :]
    birch = PFTS.index(4)
    assert lai[dmonth == 1, birch].mean() < 0.3 * lai[dmonth == 7, birch].mean()
    pine = PFTS.index(5)
    assert lai[dmonth == 1, pine].mean() > 0.3 * lai[dmonth == 7, pine].mean()
    for k in range(len(PFTS)):
        assert gpp[np.isin(dmonth, [12, 1]), k].mean() < 0.1
        assert gpp[np.isin(dmonth, [6, 7]), k].mean() > 0.5


def test_boreal_conservation(lapland):
    f, cell, month, *_ = lapland
    h = cell.hourly
    s0 = cell.state0
    store0 = s0[S["w_surf"]] + s0[S["w_root"]] + s0[S["w_canopy"]] + s0[S["snow"]]
    store = np.concatenate([store0[None, :], h[:, H["water_store"], :]], axis=0)
    resid = (h[:, H["precip"], :] - h[:, H["et"], :] - h[:, H["runoff"], :]
             - h[:, H["drainage"], :] - np.diff(store, axis=0))
    assert np.abs(resid).max() < 1e-9
    pools = np.concatenate([s0[None, :6, :], cell.daily[:, :6, :]], axis=0).sum(axis=1)
    nee = h[:, H["nee"], :].reshape(-1, 24, len(PFTS)).sum(axis=1)
    assert np.abs(np.diff(pools, axis=0) + nee).max() / pools.min() < 1e-10
    assert np.isfinite(h).all() and np.isfinite(cell.daily).all()


def test_boreal_green_season_follows_snow_melt(lapland):
    """The phenology rule puts the boreal grass's green-up after snow melt (late May-June)
    and its leaf fall in early autumn, and the birch's leaf-out in late spring."""
    f, cell, month, ppft = lapland
    grass, birch = PFTS.index(9), PFTS.index(4)
    for k, lo, hi in ((grass, 130, 185), (birch, 120, 185)):
        peak = (ppft[_row("d_onset"), k]
                + pulse_peak_lag(ppft[_row("cr_onset"), k])) % 365
        assert lo <= peak <= hi, (PFTS[k], peak)
    fall = (ppft[_row("d_fall"), grass] + pulse_peak_lag(ppft[_row("cr_fall"), grass],
                                                         ppft[_row("leaf_life"), grass])) % 365
    assert 230 <= fall <= 290, fall
    # and the snow of this climate has melted by then
    snow = cell.hourly[:, H["snow"], grass].reshape(-1, 24).mean(axis=1)
    spring = snow[:365][:200]
    assert int(np.nonzero(spring > 1.0)[0].max()) + 1 < 165


def _row(name):
    from tccas.parameters import pft_index
    return pft_index(name)
