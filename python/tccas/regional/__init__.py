"""Regional runs over many cells: the domain and its gridded forcing, observation footprints
on the model cells from a PFT map, the regional map x -> y with its tangent and adjoint
(:class:`RegionalModel`, the protocol of :class:`tccas.model.CellModel`), and the engines
that run the cells in parallel (local processes, Dask distributed, MPI).

Submodules: :mod:`~tccas.regional.domain`, :mod:`~tccas.regional.footprints`,
:mod:`~tccas.regional.observations`, :mod:`~tccas.regional.model`,
:mod:`~tccas.regional.engines`. See ``docs/guide/regional.md``.
"""
from __future__ import annotations

from .domain import (CellForcing, Domain, Grid, GriddedForcingFile, PFTMap,
                     domain_from_pft_map, read_domain, read_gridded_forcing, read_pft_map,
                     write_domain, write_gridded_forcing, write_pft_map)
from .engines import ENGINES, make_engine
from .footprints import Box, Circle, FootprintWeights, Rectangle, footprint_table, footprint_weights
from .model import RegionalModel, build_regional_control
from .observations import (RegionalObservations, gridded_observations, read_regional_obs, regional_observations,
                           write_regional_obs)

__all__ = [
    "Box", "CellForcing", "Circle", "Domain", "ENGINES", "FootprintWeights", "Grid",
    "GriddedForcingFile", "PFTMap", "Rectangle", "RegionalModel", "RegionalObservations",
    "build_regional_control", "domain_from_pft_map", "footprint_table", "footprint_weights",
    "gridded_observations", "make_engine", "read_domain", "read_gridded_forcing", "read_pft_map", "read_regional_obs",
    "regional_observations", "write_domain", "write_gridded_forcing", "write_pft_map",
    "write_regional_obs",
]
