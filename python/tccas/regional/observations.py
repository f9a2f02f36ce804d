"""Observations over a regional domain: an observation set plus the footprint weights of
each observation on the model cells (sparse: one entry per observation and cell touched).

On disk this is the observation file of a site (:func:`tccas.obs.write_obs`) whose ``pft``
dimension lists the domain's PFTs and whose ``footprint_fraction`` is the PFT composition of
each footprint, with three more variables on an ``entry`` dimension: ``entry_obs`` (record
index), ``entry_cell`` (domain cell index) and ``entry_weight(entry, pft)`` (share of the
footprint's modelled area in that cell and PFT).

A gridded product on its own grid (an above-ground-biomass map, say; see
:func:`gridded_observations`) also keeps that grid: coordinates ``map_lat(map_lat)``,
``map_lon(map_lon)`` (cell centres, with CF bounds) and, per record, ``map_row(obs)`` and
``map_col(obs)``, the map cell it is. Validation then reports it as a map on its own grid.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputDataError
from ..io import atomic_path, open_netcdf
from ..obs import ObservationSet, read_obs, write_obs
from .domain import Domain, Grid

__all__ = ["RegionalObservations", "regional_observations", "write_regional_obs",
           "read_regional_obs", "gridded_observations"]


@dataclass(frozen=True)
class RegionalObservations:
    """One observation stream over a domain.

    A record is simulated as the sum over its entries of the weighted per-tile observables.

    Attributes
    ----------
    obs : the observations (``obs.pft`` = the domain's PFTs; ``obs.footprint`` = the PFT
        composition of each footprint, the sum of its entries over cells).
    entry_obs, entry_cell : (nentry,) record and domain cell of each entry.
    entry_weight : (nentry, npft) weight of each domain PFT of that cell in the footprint.
    map_grid, map_row, map_col : for a gridded product, its own grid and the map row and
        column of each record (None otherwise).
    """

    obs: ObservationSet
    entry_obs: np.ndarray
    entry_cell: np.ndarray
    entry_weight: np.ndarray
    map_grid: Grid | None = None
    map_row: np.ndarray | None = None
    map_col: np.ndarray | None = None

    @property
    def is_map(self) -> bool:
        """True for a gridded product whose records are the cells of ``map_grid``."""
        return self.map_grid is not None

    @property
    def stream(self) -> str:
        return self.obs.stream

    def __len__(self) -> int:
        return len(self.obs)

    def validate(self, domain: Domain, where: str | None = None) -> None:
        """Raise InputDataError naming the file and the first bad entry."""
        w = where or self.obs.source or self.obs.stream
        n, ne = len(self.obs), self.entry_obs.size
        if tuple(self.obs.pft) != tuple(domain.pfts):
            raise InputDataError(f"{w}: variable 'pft' lists {list(self.obs.pft)}, the domain "
                                 f"{domain.source} has PFTs {list(domain.pfts)}")
        if self.entry_cell.shape != (ne,) or self.entry_weight.shape != (ne, len(domain.pfts)):
            raise InputDataError(f"{w}: 'entry_cell'/'entry_weight' do not match 'entry_obs'")
        if ne and (self.entry_obs.min() < 0 or self.entry_obs.max() >= n):
            raise InputDataError(f"{w}: variable 'entry_obs' points outside 0..{n - 1}")
        if ne and (self.entry_cell.min() < 0 or self.entry_cell.max() >= domain.ncell):
            raise InputDataError(f"{w}: variable 'entry_cell' points outside the domain's "
                                 f"{domain.ncell} cells")

        def bad(mask, what):
            idx = np.nonzero(mask)[0]
            if idx.size:
                e = int(idx[0])
                raise InputDataError(f"{w}: entry {e} (record {self.entry_obs[e]}, "
                                     f"{domain.describe(int(self.entry_cell[e]))}): {what}")

        bad(~np.isfinite(self.entry_weight).all(axis=1) | (self.entry_weight < 0).any(axis=1),
            "weights must be finite and >= 0")
        absent = (self.entry_weight > 0) & (domain.fraction[self.entry_cell] <= 0)
        bad(absent.any(axis=1), "weight on a PFT that the cell does not have")
        if self.map_grid is not None:
            for name, a, size in (("map_row", self.map_row, self.map_grid.shape[0]),
                                  ("map_col", self.map_col, self.map_grid.shape[1])):
                if a is None or np.shape(a) != (n,) or (n and (a.min() < 0 or a.max() >= size)):
                    raise InputDataError(f"{w}: variable '{name}' must give, per record, a "
                                         f"map index in 0..{size - 1}")
        key = self.entry_obs * domain.ncell + self.entry_cell
        if np.unique(key).size != ne:
            raise InputDataError(f"{w}: an observation has two entries for the same cell")
        total = np.zeros(n)
        np.add.at(total, self.entry_obs, self.entry_weight.sum(axis=1))
        idx = np.nonzero((total <= 0) | (total > 1 + 1e-6))[0]
        if idx.size:
            i = int(idx[0])
            raise InputDataError(f"{w}: record {i} (time {self.obs.t_start[i]}): footprint "
                                 f"weights sum to {total[i]:.6g}; they must be in (0, 1]"
                                 + (f" ({idx.size} records)" if idx.size > 1 else ""))


def regional_observations(obs: ObservationSet, domain: Domain, entry_obs, entry_cell,
                          entry_weight, keep=None, map_grid: Grid | None = None,
                          map_row=None, map_col=None) -> RegionalObservations:
    """Attach footprint weights (e.g. from :func:`tccas.regional.footprints.footprint_table`)
    to the records of ``obs``; ``keep`` (bool per record) drops records without weights.
    The footprint PFT composition of the result is recomputed from the weights.
    ``map_grid``, ``map_row``, ``map_col``: the own grid of a gridded product and the map
    cell of each record of ``obs`` (before ``keep``)."""
    eo = np.asarray(entry_obs, dtype=np.int64)
    ec = np.asarray(entry_cell, dtype=np.int64)
    ew = np.asarray(entry_weight, dtype=float)
    if map_grid is not None:
        map_row = np.asarray(map_row, dtype=np.int64)
        map_col = np.asarray(map_col, dtype=np.int64)
    if keep is not None:
        keep = np.asarray(keep, bool)
        new = np.cumsum(keep) - 1
        m = keep[eo]
        eo, ec, ew = new[eo[m]], ec[m], ew[m]
        obs = obs.subset(keep)
        if map_grid is not None:
            map_row, map_col = map_row[keep], map_col[keep]
    comp = np.zeros((len(obs), len(domain.pfts)))
    np.add.at(comp, eo, ew)
    o = ObservationSet(obs.stream, obs.t_start, obs.t_end, obs.value, obs.sigma, obs.qc,
                       tuple(domain.pfts), comp, obs.angle, obs.source, dict(obs.attrs))
    r = RegionalObservations(o, eo, ec, ew, map_grid, map_row, map_col)
    r.validate(domain)
    return r


def write_regional_obs(path: str | os.PathLike, robs: RegionalObservations,
                       attrs: dict | None = None, simulated: np.ndarray | None = None) -> Path:
    """Write a regional observation file (complete or absent)."""
    import netCDF4
    path = Path(path)
    with atomic_path(path) as tmp:
        write_obs(tmp, robs.obs, attrs=attrs, simulated=simulated)
        with netCDF4.Dataset(tmp, "a") as ds:
            ds.createDimension("entry", robs.entry_obs.size)
            for name, arr, long in (
                ("entry_obs", robs.entry_obs, "record (0-based) of the footprint entry"),
                ("entry_cell", robs.entry_cell, "domain cell (0-based) of the footprint entry"),
            ):
                v = ds.createVariable(name, "i4", ("entry",), zlib=True)
                v.long_name = long
                v[:] = arr.astype(np.int32)
            v = ds.createVariable("entry_weight", "f8", ("entry", "pft"), zlib=True)
            v.units = "1"
            v.long_name = "share of the footprint's modelled vegetated area in the cell and PFT"
            v[:] = robs.entry_weight
            if robs.map_grid is not None:
                _write_map_grid(ds, robs)
    return path


def _write_map_grid(ds, robs: RegionalObservations) -> None:
    g = robs.map_grid
    if "nv" not in ds.dimensions:
        ds.createDimension("nv", 2)
    for name, c, e, unit in (("map_lat", g.lat, g.lat_edges, "degrees_north"),
                             ("map_lon", g.lon, g.lon_edges, "degrees_east")):
        ds.createDimension(name, c.size)
        v = ds.createVariable(name, "f8", (name,))
        v.units = unit
        v.long_name = f"{'latitude' if name == 'map_lat' else 'longitude'} of the map's cell " \
                      "centres (the product's own grid)"
        v.bounds = f"{name}_bnds"
        v[:] = c
        b = ds.createVariable(f"{name}_bnds", "f8", (name, "nv"))
        b[:] = np.column_stack([e[:-1], e[1:]])
    for name, a, dim in (("map_row", robs.map_row, "map_lat"),
                         ("map_col", robs.map_col, "map_lon")):
        v = ds.createVariable(name, "i4", ("obs",), zlib=True)
        v.long_name = f"index (0-based) of the record's map cell along {dim}"
        v[:] = np.asarray(a, np.int32)


def _read_map_grid(ds, path) -> tuple[Grid | None, np.ndarray | None, np.ndarray | None]:
    if "map_row" not in ds.variables:
        return None, None, None
    for name in ("map_lat", "map_lon", "map_col"):
        if name not in ds.variables:
            raise InputDataError(f"{path}: 'map_row' without '{name}' (a gridded product "
                                 "keeps its own grid: map_lat, map_lon, map_row, map_col)")

    def step(name):
        b = ds.variables.get(f"{name}_bnds")
        return None if b is None else float(abs(b[0, 1] - b[0, 0]))

    try:
        grid = Grid(np.asarray(ds.variables["map_lat"][:], float),
                    np.asarray(ds.variables["map_lon"][:], float),
                    step("map_lat"), step("map_lon"))
    except InputDataError as exc:
        raise InputDataError(f"{path}: map grid: {exc}") from None
    return (grid, np.asarray(ds.variables["map_row"][:], np.int64),
            np.asarray(ds.variables["map_col"][:], np.int64))


def read_regional_obs(path: str | os.PathLike, domain: Domain) -> RegionalObservations:
    """Read a regional observation file written by :func:`write_regional_obs`."""
    path = Path(path)
    obs = read_obs(path)
    with open_netcdf(path) as ds:
        for name in ("entry_obs", "entry_cell", "entry_weight"):
            if name not in ds.variables:
                raise InputDataError(f"{path}: missing variable '{name}' (footprint weights on "
                                     "the model cells of a regional observation file)")
        eo = np.asarray(ds.variables["entry_obs"][:], dtype=np.int64)
        ec = np.asarray(ds.variables["entry_cell"][:], dtype=np.int64)
        ew = np.asarray(ds.variables["entry_weight"][:], dtype=float).reshape(eo.size, -1)
        grid, mrow, mcol = _read_map_grid(ds, path)
    r = RegionalObservations(obs, eo, ec, ew, grid, mrow, mcol)
    r.validate(domain, str(path))
    return r


def gridded_observations(stream: str, value: np.ndarray, sigma: np.ndarray, grid,
                         t_start: np.datetime64, t_end: np.datetime64, pft_map, domain: Domain,
                         min_covered: float = 0.5, source: str = ""
                         ) -> tuple[RegionalObservations, np.ndarray, np.ndarray]:
    """A gridded product (e.g. an above-ground-biomass map) as regional observations: each
    valid pixel of ``value`` (nlat, nlon) on ``grid`` (a :class:`~tccas.regional.Grid`) is
    one observation over [t_start, t_end) whose footprint is the pixel's lat/lon box, so the
    observation operator is aggregated to the map's own cells (area weights from the PFT
    map, whatever the map's resolution relative to the model grid: a map cell finer than a
    model cell has one entry, a coarser one an entry per model cell it covers). NaN values
    or sigmas and pixels with at most ``min_covered`` of their area modelled are left out.
    Returns the observations (which keep ``grid`` as ``map_grid``) and the map row and
    column of each."""
    from .footprints import Box, footprint_table
    value = np.asarray(value, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    if value.shape != grid.shape or sigma.shape != grid.shape:
        raise InputDataError(f"{source or stream}: value and sigma must have the grid's shape "
                             f"{grid.shape}")
    le, oe = grid.lat_edges, grid.lon_edges
    i, j = np.nonzero(np.isfinite(value) & np.isfinite(sigma) & (sigma > 0))
    boxes = [Box(min(le[a], le[a + 1]), max(le[a], le[a + 1]), min(oe[b], oe[b + 1]),
                 max(oe[b], oe[b + 1])) for a, b in zip(i, j)]
    eo, ec, ew, _, kept = footprint_table(boxes, pft_map, domain, min_covered=min_covered)
    n = len(boxes)
    o = ObservationSet(stream, np.full(n, np.datetime64(t_start, "s")),
                       np.full(n, np.datetime64(t_end, "s")), value[i, j], sigma[i, j],
                       np.zeros(n, int), tuple(domain.pfts), np.zeros((n, len(domain.pfts))),
                       source=source, attrs={"footprint": "map cells (lat/lon boxes)"})
    r = regional_observations(o, domain, eo, ec, ew, keep=kept, map_grid=grid, map_row=i,
                              map_col=j)
    return r, r.map_row, r.map_col
