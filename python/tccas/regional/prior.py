"""The prior of a regional run: the site rules applied over a domain.

Two rules of a site run (:func:`tccas.workflow.prior_parameters`) depend on the cell's
climate, and a domain has many cells:

* **Leaf phenology days** (``d_onset``, ``d_fall``; :func:`tccas.phenology.climate_phenology`).
  Parameters are shared per PFT across the domain, so a PFT gets one prior day: the rule's
  day in each cell holding the PFT, averaged over those cells weighted by the PFT's area in
  each (fraction x cos(latitude)), as a circular mean on the 365-day year (so that days
  either side of 1 January average correctly). Domains of more than ``max_cells`` cells use
  an evenly spaced sample of ``max_cells`` cells (the rule varies smoothly with climate;
  reading every cell's forcing in the driver would cost more than the rule). The spread
  over the cells is logged, so that a domain whose cells disagree by more than the days'
  prior sigma (15 days in the parameter table) can be split or given per-PFT days in
  ``[parameters]``. Days given in ``[parameters]`` are kept, as at a site.
* **Carbon pools at equilibrium** (``[run] carbon_spinup = "equilibrium"``;
  :func:`tccas.spinup.equilibrium_pools`): computed per cell, in parallel by the engine's
  workers when they build their cells (:class:`tccas.regional.model.Batch`). Each cell
  starts from its own equilibrium pools. A pool in the control vector has, in each cell,
  that cell's equilibrium as prior and the table's relative sigma of it: with
  ``pools = "cell"`` each element is one cell's pool; with ``pools = "pft"`` the shared
  element x moves every cell's pool by the same number of its own prior sigmas, so cells
  keep their own equilibrium and the element's reported prior value is the area-weighted
  domain mean (its x-bounds are the intersection of the cells').
"""
from __future__ import annotations

import logging
from typing import Mapping

import numpy as np

from ..parameters import PFT_NAMES, apply_overrides
from .domain import CellForcing, Domain, GriddedForcingFile

__all__ = ["MAX_PHENOLOGY_CELLS", "apply_domain_phenology", "circular_mean_day",
           "domain_phenology"]

log = logging.getLogger("tccas")

#: cells whose forcing the phenology rule reads at most (an evenly spaced sample beyond)
MAX_PHENOLOGY_CELLS = 200


def circular_mean_day(days: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted circular mean of days of year (1-365) and the weighted circular spread
    (days; the root mean square of each day's shortest distance to the mean)."""
    d = np.asarray(days, float)
    w = np.asarray(weights, float)
    a = 2 * np.pi * (d - 1.0) / 365.0
    z = np.sum(w * np.exp(1j * a)) / np.sum(w)
    mean = float((np.angle(z) % (2 * np.pi)) * 365.0 / (2 * np.pi) + 1.0)
    dist = (d - mean + 182.5) % 365.0 - 182.5
    return mean, float(np.sqrt(np.sum(w * dist ** 2) / np.sum(w)))


def domain_phenology(domain: Domain, forcing: CellForcing | GriddedForcingFile,
                     ppft: np.ndarray, given: Mapping[str, object] | None = None,
                     max_cells: int = MAX_PHENOLOGY_CELLS, chunk: int = 16
                     ) -> dict[str, dict[int, float]]:
    """Prior ``d_onset``/``d_fall`` per PFT of a domain from the phenology rule (module
    docstring): ``{"d_onset": {pft: day}, "d_fall": {pft: day}}`` for the PFTs with a
    dormant season whose days ``given`` (``[parameters]``) does not set.

    ``ppft`` (npar, npft) are the domain's PFT parameters (columns in ``domain.pfts``
    order; the rule reads ``cr_onset``, ``cr_fall`` and ``leaf_life``). The forcing is read
    ``chunk`` cells at a time. Returns empty tables when the forcing is shorter than
    ``tccas.phenology.MIN_PHENOLOGY_DAYS`` (with a warning, as at a site).
    """
    from ..phenology import MIN_PHENOLOGY_DAYS, climate_phenology, config_gives
    given = given or {}
    out: dict[str, dict[int, float]] = {"d_onset": {}, "d_fall": {}}
    if all(config_gives(given, n, p) for p in domain.pfts for n in out):
        return out
    times = forcing.times if isinstance(forcing, CellForcing) else forcing.times()
    if times.size < 24 * MIN_PHENOLOGY_DAYS:
        log.warning("%s: %d days of forcing are too few for the phenology rule (%d needed); "
                    "d_onset/d_fall keep the table's values. Give them in [parameters] for a "
                    "short run.", getattr(forcing, "path", domain.source), times.size // 24,
                    MIN_PHENOLOGY_DAYS)
        return out
    n = domain.ncell
    cells = np.arange(n) if n <= max_cells else \
        np.unique(np.round(np.linspace(0, n - 1, max_cells)).astype(np.int64))
    found: dict[tuple[str, int], list[tuple[float, float]]] = {}
    quiet = log.level
    for a in range(0, cells.size, chunk):
        part = cells[a:a + chunk]
        f = forcing.subset(part) if isinstance(forcing, CellForcing) else forcing.read(part)
        for i, k in enumerate(part):
            cols = domain.cell_columns(int(k))
            pfts = [domain.pfts[c] for c in cols]
            log.setLevel(max(quiet, logging.WARNING))     # the rule logs per PFT and cell
            try:
                days = climate_phenology(times, f.data[i], float(domain.lat[k]), pfts,
                                         ppft[:, cols], given=given)
            finally:
                log.setLevel(quiet)
            w = domain.fraction[k, cols] * np.cos(np.radians(domain.lat[k]))
            for name, table in days.items():
                for c, p in enumerate(pfts):
                    if p in table:
                        found.setdefault((name, p), []).append((table[p], float(w[c])))
    for (name, p), vals in sorted(found.items()):
        d, w = np.array(vals).T
        mean, spread = circular_mean_day(d, w)
        out[name][p] = mean
        log.info("phenology rule over %d cells: PFT %s %s %.0f (spread %.0f days)", d.size,
                 PFT_NAMES[p], name, mean, spread)
    return out


def apply_domain_phenology(domain: Domain, forcing, ppft: np.ndarray, pglob: np.ndarray,
                           given: Mapping[str, object] | None = None) -> dict:
    """:func:`domain_phenology` written into ``ppft`` (in place); returns the days."""
    days = domain_phenology(domain, forcing, ppft, given)
    apply_overrides(ppft, pglob, list(domain.pfts), {k: v for k, v in days.items() if v},
                    where="phenology rule")
    return days

