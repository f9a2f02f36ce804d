"""Observation footprints on the model cells, from a PFT map at its own resolution.

"Simulation on the footprint": an observation is simulated over the PFT composition of its
own footprint, which spreads over one or several model cells. For each footprint this module
gives, per model cell touched and per PFT, the share of the footprint's modelled area
(:func:`footprint_weights`); a regional observation is then
``y = sum_cells sum_pfts w[cell, pft] * q[cell, pft]`` with ``q`` the per-tile observable.

Geodesy (spherical Earth, radius 6371 km; see ``docs/guide/regional.md``):

* a footprint is a shape in local plane coordinates around its centre
  (x = R cos(lat0) dlon eastwards, y = R dlat northwards, km; the equirectangular
  approximation, whose relative distortion is about (size / R) tan(lat0): 0.7 % for a 40 km
  SMOS footprint at 67 N, negligible for TROPOMI's 3.5 x 5.5 km);
* a PFT-map pixel belongs to the footprint when its centre (or, with ``subsample`` > 1, each
  of subsample x subsample points inside it) falls inside the shape; its area is
  cos(lat) dlat dlon, so the discretisation error shrinks with the pixel size relative to
  the footprint;
* the pixel is assigned to the model cell that contains its centre.

Non-vegetated pixels (map code 0), pixels of PFTs absent from the domain, and pixels in grid
cells that are not simulated are left out, and the weights are normalised to sum to one over
the rest (the footprint's modelled vegetated area): the observation is taken to represent
its vegetated part. ``covered`` reports that modelled share of the footprint's total area,
so that footprints mostly over water or unmodelled land can be screened out
(``min_covered``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputDataError
from .domain import Domain, PFTMap

__all__ = ["EARTH_RADIUS_KM", "Box", "Circle", "Rectangle", "FootprintWeights", "footprint_weights",
           "footprint_table"]

EARTH_RADIUS_KM = 6371.0


@dataclass(frozen=True)
class Circle:
    """A circular footprint of ``radius_km`` around (lat, lon) (e.g. SMOS, about 40 km
    across: radius 20 km)."""

    lat: float
    lon: float
    radius_km: float

    def __post_init__(self) -> None:
        if not self.radius_km > 0:
            raise InputDataError(f"footprint radius must be positive, got {self.radius_km}")

    def half_extent_km(self) -> float:
        return self.radius_km

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Points (x east, y north, km from the centre) inside the footprint."""
        return x * x + y * y <= self.radius_km ** 2


@dataclass(frozen=True)
class Rectangle:
    """A rectangular footprint centred on (lat, lon): ``width_km`` across (east-west before
    rotation), ``height_km`` along (north-south), rotated by ``angle_deg`` clockwise from
    north (the along-track direction of the satellite). TROPOMI: about 3.5 x 5.5 km."""

    lat: float
    lon: float
    width_km: float
    height_km: float
    angle_deg: float = 0.0

    def __post_init__(self) -> None:
        if not (self.width_km > 0 and self.height_km > 0):
            raise InputDataError(f"footprint sides must be positive, got {self.width_km} x "
                                 f"{self.height_km} km")

    def half_extent_km(self) -> float:
        return 0.5 * float(np.hypot(self.width_km, self.height_km))

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        a = np.radians(self.angle_deg)
        across = x * np.cos(a) - y * np.sin(a)
        along = x * np.sin(a) + y * np.cos(a)
        return (np.abs(across) <= self.width_km / 2) & (np.abs(along) <= self.height_km / 2)


@dataclass(frozen=True)
class Box:
    """A latitude/longitude box (degrees): a cell of a gridded product, such as a pixel of
    an above-ground-biomass map, as a footprint on the model cells."""

    lat_min: float
    lat_max: float
    lon_min: float
    lon_max: float

    def __post_init__(self) -> None:
        if not (self.lat_max > self.lat_min and self.lon_max > self.lon_min):
            raise InputDataError(f"box footprint needs lat_min < lat_max and lon_min < lon_max, "
                                 f"got {self}")

    @property
    def lat(self) -> float:
        return 0.5 * (self.lat_min + self.lat_max)

    @property
    def lon(self) -> float:
        return 0.5 * (self.lon_min + self.lon_max)

    def half_extent_km(self) -> float:
        hy = np.radians(0.5 * (self.lat_max - self.lat_min)) * EARTH_RADIUS_KM
        hx = np.radians(0.5 * (self.lon_max - self.lon_min)) * EARTH_RADIUS_KM \
            * np.cos(np.radians(self.lat))
        return float(np.hypot(hx, hy))

    def contains(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # back to degrees with the same local scaling footprint_weights uses
        dlat = np.degrees(y / EARTH_RADIUS_KM)
        dlon = np.degrees(x / (EARTH_RADIUS_KM * np.cos(np.radians(self.lat))))
        return (np.abs(dlat) <= 0.5 * (self.lat_max - self.lat_min)) & \
            (np.abs(dlon) <= 0.5 * (self.lon_max - self.lon_min))


@dataclass(frozen=True)
class FootprintWeights:
    """Weights of one footprint on the model cells.

    cells : (m,) domain cell indices touched; weights : (m, npft) share of the footprint's
    modelled vegetated area in each cell and domain PFT column (sums to 1 over all entries);
    covered : that modelled vegetated area as a fraction of the footprint's total area.
    """

    cells: np.ndarray
    weights: np.ndarray
    covered: float

    @property
    def pft_fraction(self) -> np.ndarray:
        """(npft,) PFT composition of the footprint's modelled area."""
        return self.weights.sum(axis=0)


def footprint_weights(shape, pft_map: PFTMap, domain: Domain,
                      subsample: int = 1) -> FootprintWeights:
    """Area weights of a footprint (:class:`Circle` or :class:`Rectangle`) on the cells of a
    grid ``domain``, computed from ``pft_map`` at the map's own resolution.

    Returns no cells (``covered = 0``) when the footprint holds no modelled vegetated pixel.
    """
    if domain.grid is None:
        raise InputDataError(f"{domain.source}: footprints need a grid domain")
    if subsample < 1:
        raise InputDataError(f"subsample must be >= 1, got {subsample}")
    g = pft_map.grid
    lat0, lon0 = float(shape.lat), float(shape.lon)
    coslat0 = np.cos(np.radians(lat0))
    half = shape.half_extent_km()
    dlat_deg = np.degrees(half / EARTH_RADIUS_KM)
    dlon_deg = dlat_deg / max(coslat0, 1e-6)
    step_lat, step_lon = g.lat[1] - g.lat[0], g.lon[1] - g.lon[0]
    # the window of map rows and columns that can touch the footprint
    rows = np.nonzero(np.abs(g.lat - lat0) <= dlat_deg + abs(step_lat))[0]
    cols = np.nonzero(np.abs(g.lon - lon0) <= dlon_deg + abs(step_lon))[0]
    npft = len(domain.pfts)
    empty = FootprintWeights(np.zeros(0, np.int64), np.zeros((0, npft)), 0.0)
    if rows.size == 0 or cols.size == 0:
        return empty
    plat, plon = g.lat[rows], g.lon[cols]
    # fraction of each pixel inside the shape, from subsample x subsample points
    off = (np.arange(subsample) + 0.5) / subsample - 0.5
    inside = np.zeros((rows.size, cols.size))
    for a in off:
        y = np.radians(plat + a * step_lat - lat0) * EARTH_RADIUS_KM
        for b in off:
            x = np.radians(plon + b * step_lon - lon0) * EARTH_RADIUS_KM * coslat0
            inside += shape.contains(x[None, :], y[:, None])
    inside /= subsample * subsample
    area = np.cos(np.radians(plat))[:, None] * inside          # relative pixel areas
    total = float(area.sum())
    if total <= 0:
        return empty
    code = pft_map.code[np.ix_(rows, cols)]
    r, _ = domain.grid.locate(plat, np.full(plat.shape, domain.grid.lon[0]))
    _, c = domain.grid.locate(np.full(plon.shape, domain.grid.lat[0]), plon)
    cell_grid = domain.cell_index_grid()
    cell = np.where((r[:, None] >= 0) & (c[None, :] >= 0),
                    cell_grid[np.maximum(r, 0)][:, np.maximum(c, 0)], -1)
    col_of = np.full(14, -1)
    col_of[list(domain.pfts)] = np.arange(npft)
    pcol = col_of[code]
    use = (area > 0) & (cell >= 0) & (pcol >= 0)
    if not use.any():
        return empty
    cu, pu, au = cell[use], pcol[use], area[use]
    cells, inv = np.unique(cu, return_inverse=True)
    w = np.zeros((cells.size, npft))
    np.add.at(w, (inv, pu), au)
    covered = float(au.sum()) / total
    return FootprintWeights(cells.astype(np.int64), w / w.sum(), covered)


def footprint_table(shapes, pft_map: PFTMap, domain: Domain, subsample: int = 1,
                    min_covered: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray, np.ndarray]:
    """Weights of many footprints in sparse form.

    Returns ``(entry_obs, entry_cell, entry_weight, covered, kept)``: one entry per
    (footprint, cell) pair, with ``entry_weight`` (nentry, npft); ``covered`` (nshape,) the
    modelled vegetated share of each footprint; ``kept`` (nshape,) bool, footprints with
    ``covered > min_covered`` (the others have no entries).
    """
    eo, ec, ew = [], [], []
    cov = np.zeros(len(shapes))
    for i, s in enumerate(shapes):
        fw = footprint_weights(s, pft_map, domain, subsample)
        cov[i] = fw.covered
        if fw.covered > min_covered and fw.cells.size:
            eo.append(np.full(fw.cells.size, i, np.int64))
            ec.append(fw.cells)
            ew.append(fw.weights)
    npft = len(domain.pfts)
    if not eo:
        return (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, npft)), cov,
                np.zeros(len(shapes), bool))
    kept = np.zeros(len(shapes), bool)
    kept[np.concatenate(eo)] = True
    return np.concatenate(eo), np.concatenate(ec), np.concatenate(ew), cov, kept
