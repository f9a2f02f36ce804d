"""Target quantities of an assimilation: window-mean annual GPP, NEE, ET and mean AGB per PFT
and for the cell, simulated through the core's observation operators so that their
derivatives come from the same tangent runs as the Jacobian of the observations.

Each target is a pseudo-observation of a linear stream (``gpp``, ``nee``, ``le``, ``agb``)
whose window is the assimilation window and whose footprint is one tile; the operator
averages the hourly variable over the window. Conversions (docs/assimilation.md):

- GPP, NEE: window-mean rate (g m-2 d-1) x 365.25 d/yr -> g m-2 yr-1 (carbon);
- ET: window-mean latent heat flux (W m-2) x 86400 x 365.25 s/yr / LAMBDA_ET -> kg m-2 yr-1
  = mm yr-1, with LAMBDA_ET the latent heat of vaporisation at 20 degC (2.45e6 J kg-1;
  the core uses the temperature-dependent value, so this ET differs from the summed
  hourly ET by well under 1 %);
- AGB: window mean of the above-ground biomass (Mg ha-1 dry matter).

The cell value is the cover-weighted sum of the tile values.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..obs import ObservationSet
from ..parameters import PFT_NAMES

__all__ = ["DAYS_PER_YEAR", "LAMBDA_ET", "TARGET_STREAMS", "Targets", "target_observations"]

DAYS_PER_YEAR = 365.25
LAMBDA_ET = 2.45e6          # J kg-1, latent heat of vaporisation at 20 degC
# stream, target name, unit, factor from the operator's unit
TARGET_STREAMS = (
    ("gpp", "gpp", "g m-2 yr-1", DAYS_PER_YEAR),
    ("nee", "nee", "g m-2 yr-1", DAYS_PER_YEAR),
    ("le", "et", "mm yr-1", 86400.0 * DAYS_PER_YEAR / LAMBDA_ET),
    ("agb", "agb", "Mg ha-1", 1.0),
)


@dataclass(frozen=True)
class Targets:
    """Pseudo-observation sets and the matrix A that maps their simulated values to the
    target quantities (names, units)."""

    sets: list
    names: tuple[str, ...]
    units: tuple[str, ...]
    matrix: np.ndarray           # (ntarget, n pseudo-observations)

    @property
    def n_obs(self) -> int:
        return int(self.matrix.shape[1])

    def values(self, y_pseudo: np.ndarray) -> np.ndarray:
        return self.matrix @ np.asarray(y_pseudo)


def target_observations(pfts, fractions, start: np.datetime64, end: np.datetime64
                        ) -> Targets:
    """Targets over the window [start, end) for tiles ``pfts`` with cover ``fractions``."""
    pfts = tuple(int(p) for p in pfts)
    nt = len(pfts)
    w = np.asarray(fractions, dtype=float)
    sets, names, units, rows = [], [], [], []
    n_pseudo = len(TARGET_STREAMS) * nt
    for s, (stream, name, unit, factor) in enumerate(TARGET_STREAMS):
        sets.append(ObservationSet(
            stream, np.full(nt, np.datetime64(start, "s")), np.full(nt, np.datetime64(end, "s")),
            np.zeros(nt), np.ones(nt), np.zeros(nt, np.int32), pfts, np.eye(nt),
            source=f"target {name}"))
        for i, p in enumerate(pfts):
            row = np.zeros(n_pseudo)
            row[s * nt + i] = factor
            rows.append(row)
            names.append(f"{name}[{PFT_NAMES[p]}]")
            units.append(unit)
        row = np.zeros(n_pseudo)
        row[s * nt:(s + 1) * nt] = factor * w
        rows.append(row)
        names.append(f"{name}[cell]")
        units.append(unit)
    return Targets(sets, tuple(names), tuple(units), np.array(rows))
