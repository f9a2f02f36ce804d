"""The control vector: which parameters (and initial conditions) an assimilation adjusts, and
the scaling x = (p - p_prior) / sigma_prior, so that the prior has unit variance in x.

Initial carbon pools (``c_lab0`` .. ``c_som0``) and initial soil water (``sw_init``) are
entries of the parameter table, so initial conditions are controlled like any parameter.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from .errors import ConfigError
from .parameters import (PARAMETERS, PFT_NAMES, global_index, pft_index)

CTL_PFT, CTL_GLOBAL = 1, 2

# TCCAS's 2-PFT site control vector has 56 elements (science.md section 7): per PFT Vcmax25,
# a second photosynthesis scaling, the 17 DALEC2 parameters and the 6 initial pools, plus six
# global hydrology / observation-operator parameters.
DALEC_NAMES = ("theta_min", "f_auto", "f_fol", "f_root", "leaf_life", "theta_wood",
               "theta_root", "theta_lit", "theta_som", "temp_exp", "canopy_eff", "d_onset",
               "f_lab", "cr_onset", "d_fall", "cr_fall", "lma")
POOL_NAMES = ("c_lab0", "c_fol0", "c_root0", "c_wood0", "c_lit0", "c_som0")
DEFAULT_PFT_CONTROLS = ("vcmax25", "jv_scale") + DALEC_NAMES + POOL_NAMES
DEFAULT_GLOBAL_CONTROLS = ("c_w", "sw_init", "sif_scale", "vod_b", "wood_water", "hyd_min")


@dataclass(frozen=True)
class ControlVector:
    """Control elements with their place in the parameter arrays, prior and sigma.

    ``index`` and ``tile`` are 1-based (Fortran) positions in ppft(index, tile) or
    pglob(index); ``lower``/``upper`` are the parameter bounds mapped to x.
    """

    names: tuple[str, ...]
    kind: np.ndarray
    index: np.ndarray
    tile: np.ndarray
    prior: np.ndarray
    sigma: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    def __len__(self) -> int:
        return len(self.names)

    def params(self, x: np.ndarray, ppft0: np.ndarray, pglob0: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
        """Physical parameter arrays for control vector x (as the Fortran core does)."""
        p = self.prior + self.sigma * np.asarray(x, dtype=float)
        ppft, pglob = ppft0.copy(), pglob0.copy()
        for k in range(len(self)):
            if self.kind[k] == CTL_PFT:
                ppft[self.index[k] - 1, self.tile[k] - 1] = p[k]
            else:
                pglob[self.index[k] - 1] = p[k]
        return ppft, pglob

    def to_x(self, values: np.ndarray) -> np.ndarray:
        """x for physical values of the control elements."""
        return (np.asarray(values, dtype=float) - self.prior) / self.sigma

    def bounds(self) -> list[tuple[float, float]]:
        return list(zip(self.lower.tolist(), self.upper.tolist()))


def _pft_lookup(pfts: list[int]) -> dict[str, int]:
    out = {}
    for i, c in enumerate(pfts):
        out[PFT_NAMES[c]] = i
        out[str(c)] = i
    return out


def build_control(pfts: Iterable[int], ppft0: np.ndarray, pglob0: np.ndarray,
                  spec: Mapping[str, object] | Iterable[str] | None = None,
                  sigma_rel: Mapping[str, float] | None = None,
                  where: str = "control") -> ControlVector:
    """Control vector for a cell with tiles ``pfts``.

    ``spec`` lists parameter names (a PFT parameter then covers every tile), or maps names
    to ``true`` (all tiles) or a list of PFT names/codes; ``None`` gives the TCCAS-like
    default (56 elements for two PFTs). Priors are the values in ``ppft0``/``pglob0``;
    sigma is the table's relative sigma (or ``sigma_rel[name]``) times abs(prior), or the
    table's absolute sigma where it gives one (the phenology days).
    """
    pfts = [int(c) for c in pfts]
    look = _pft_lookup(pfts)
    if spec is None:
        items: list[tuple[str, object]] = [(n, True) for n in DEFAULT_PFT_CONTROLS] + \
            [(n, True) for n in DEFAULT_GLOBAL_CONTROLS]
    elif isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = [(str(n), True) for n in spec]
    names, kind, index, tile, prior, sigma, lo, hi = [], [], [], [], [], [], [], []
    sigma_rel = dict(sigma_rel or {})
    for name, which in items:
        if name not in PARAMETERS:
            raise ConfigError(f"{where}: unknown parameter name '{name}'")
        par = PARAMETERS[name]
        rel = float(sigma_rel.get(name, par.sigma_rel))
        if rel <= 0:
            raise ConfigError(f"{where}: sigma of '{name}' must be positive")
        if par.per_pft:
            if which is True:
                tiles = list(range(len(pfts)))
            elif isinstance(which, (list, tuple)):
                tiles = []
                for key in which:
                    if str(key) not in look:
                        raise ConfigError(f"{where}: '{name}': PFT {key} is not in this case "
                                          f"(PFTs {[PFT_NAMES[c] for c in pfts]})")
                    tiles.append(look[str(key)])
            else:
                raise ConfigError(f"{where}: '{name}' takes true or a list of PFTs")
            for i in tiles:
                value = float(ppft0[pft_index(name), i])
                names.append(f"{name}[{PFT_NAMES[pfts[i]]}]")
                kind.append(CTL_PFT)
                index.append(pft_index(name) + 1)
                tile.append(i + 1)
                prior.append(value)
                sigma.append(par.prior_sigma(value, sigma_rel.get(name)))
                lo.append(par.lower)
                hi.append(par.upper)
        else:
            if which is not True:
                raise ConfigError(f"{where}: '{name}' is a global parameter; give true")
            value = float(pglob0[global_index(name)])
            names.append(name)
            kind.append(CTL_GLOBAL)
            index.append(global_index(name) + 1)
            tile.append(1)
            prior.append(value)
            sigma.append(par.prior_sigma(value, sigma_rel.get(name)))
            lo.append(par.lower)
            hi.append(par.upper)
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ConfigError(f"{where}: control elements listed twice: {dup}")
    prior_a, sigma_a = np.array(prior), np.array(sigma)
    return ControlVector(tuple(names), np.array(kind, np.int32), np.array(index, np.int32),
                         np.array(tile, np.int32), prior_a, sigma_a,
                         (np.array(lo) - prior_a) / sigma_a, (np.array(hi) - prior_a) / sigma_a)
