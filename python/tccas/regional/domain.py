"""A regional domain: model cells on a regular lat/lon grid (or a list of cells), their PFT
fractions, soil, and gridded forcing read per cell.

Files (CF-1.8 netCDF, see ``docs/guide/regional.md``):

* **domain file**, grid layout: coordinates ``lat(lat)``, ``lon(lon)`` (cell centres of a
  regular grid, degrees), ``pft(pft)`` (BETHY codes 1-13), ``pft_fraction(pft, lat, lon)``
  (fraction of each cell covered by each PFT; the rest is not vegetated), ``sand(lat, lon)``,
  ``clay(lat, lon)`` (mass fractions) and ``soil_depth(lat, lon)`` (m). Cells are the grid
  points with a vegetated fraction above zero, numbered row by row (south to north as
  stored, west to east). List layout: a ``cell`` dimension instead of (lat, lon), with
  ``lat(cell)``, ``lon(cell)`` and the same variables on ``cell``.
* **gridded forcing**: the variables and units of the site forcing
  (``tccas.parameters.FORCING_VARS``: ``tas``, ``rsds``, ``rlds``, ``pr``, ``vpd`` or
  ``huss``, ``ps``, ``sfcWind``, ``co2``, optional ``tsl_deep``) on ``(time, lat, lon)``
  over the domain grid, or on ``(time, cell)`` for a list domain. Each variable is read once
  as one block over the requested cells' bounding box (:func:`read_gridded_forcing`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputDataError
from ..io import (FORCING_NAMES, FORCING_RANGES, FORCING_UNITS, Static, atomic_path,
                  check_hourly_times, convert_units, open_netcdf, step_start_times, time_var,
                  vpd_from_specific_humidity)
from ..parameters import FORCING_VARS, PFT_NAMES

__all__ = ["Grid", "Domain", "PFTMap", "CellForcing", "GriddedForcingFile", "pixel_areas",
           "coordinate_step", "write_coordinates",
           "read_domain", "write_domain",
           "read_pft_map", "write_pft_map", "domain_from_pft_map", "read_gridded_forcing",
           "write_gridded_forcing"]

# tolerance (degrees) when matching coordinates of two files
_COORD_TOL = 1e-6


@dataclass(frozen=True)
class Grid:
    """A regular lat/lon grid given by its cell centres (degrees north / east).

    Cell k of axis ``lat`` spans ``lat_edges[k]`` .. ``lat_edges[k + 1]``; both axes are
    strictly monotonic and equally spaced (to 1e-6 of a step). An axis of a single cell
    (a transect) needs its cell size: ``dlat`` or ``dlon`` (degrees).
    """

    lat: np.ndarray
    lon: np.ndarray
    dlat: float | None = None
    dlon: float | None = None

    def __post_init__(self) -> None:
        for name in ("lat", "lon"):
            a = np.asarray(getattr(self, name), dtype=float)
            object.__setattr__(self, name, a)
            if a.ndim != 1 or a.size < 1:
                raise InputDataError(f"grid: '{name}' must be a non-empty 1-D coordinate")
            if a.size > 1:
                d = np.diff(a)
                if not (np.all(d > 0) or np.all(d < 0)) or np.ptp(d) > 1e-6 * abs(d[0]):
                    raise InputDataError(f"grid: '{name}' is not a regular, monotonic axis")
            elif getattr(self, "d" + name) is None or not getattr(self, "d" + name) > 0:
                raise InputDataError(f"grid: '{name}' has a single cell; give its size "
                                     f"(d{name}, or '{name}_bnds' in the file)")

    @property
    def step_lat(self) -> float:
        """Signed step of the lat axis (degrees)."""
        return float(self.lat[1] - self.lat[0]) if self.lat.size > 1 else float(self.dlat)

    @property
    def step_lon(self) -> float:
        """Signed step of the lon axis (degrees)."""
        return float(self.lon[1] - self.lon[0]) if self.lon.size > 1 else float(self.dlon)

    @staticmethod
    def _edges(c: np.ndarray, step: float) -> np.ndarray:
        return np.concatenate([c - step / 2, [c[-1] + step / 2]])

    @property
    def lat_edges(self) -> np.ndarray:
        return self._edges(self.lat, self.step_lat)

    @property
    def lon_edges(self) -> np.ndarray:
        return self._edges(self.lon, self.step_lon)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.lat.size, self.lon.size)

    def locate(self, lat, lon) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of the cells containing the points (lat, lon) (degrees); -1 for
        points outside the grid. Vectorised over array arguments."""
        out = []
        for c, step, v in ((self.lat, self.step_lat, np.asarray(lat, float)),
                           (self.lon, self.step_lon, np.asarray(lon, float))):
            k = np.floor((v - (c[0] - step / 2)) / step).astype(np.int64)
            k[(k < 0) | (k >= c.size)] = -1
            out.append(k)
        bad = (out[0] < 0) | (out[1] < 0)
        out[0][bad] = -1
        out[1][bad] = -1
        return out[0], out[1]


@dataclass(frozen=True)
class Domain:
    """The model cells of a regional run.

    Attributes
    ----------
    pfts : BETHY codes of the PFT columns of ``fraction`` (every PFT of the domain).
    lat, lon : (ncell,) cell centres, degrees north / east.
    fraction : (ncell, npft) fraction of each cell covered by each PFT (row sums <= 1; the
        rest of a cell is not vegetated and not simulated).
    sand, clay : (ncell,) soil texture, mass fractions; soil_depth : (ncell,) m.
    grid : the regular grid the cells lie on, or None for a list of cells.
    row, col : (ncell,) grid indices of each cell (None for a list of cells).
    source : file the domain was read from.
    """

    pfts: tuple[int, ...]
    lat: np.ndarray
    lon: np.ndarray
    fraction: np.ndarray
    sand: np.ndarray
    clay: np.ndarray
    soil_depth: np.ndarray
    grid: Grid | None = None
    row: np.ndarray | None = None
    col: np.ndarray | None = None
    source: str = ""
    attrs: dict = field(default_factory=dict)

    @property
    def ncell(self) -> int:
        return int(self.lat.size)

    def describe(self, k: int) -> str:
        """'cell 12 (lat 67.125 N, lon 26.375 E)' for messages."""
        return f"cell {k} (lat {self.lat[k]:.4f} N, lon {self.lon[k]:.4f} E)"

    def cell_pfts(self, k: int) -> tuple[int, ...]:
        """PFT codes present in cell k (fraction > 0), in the domain's column order."""
        return tuple(p for p, f in zip(self.pfts, self.fraction[k]) if f > 0)

    def cell_columns(self, k: int) -> np.ndarray:
        """Domain PFT columns present in cell k."""
        return np.nonzero(self.fraction[k] > 0)[0]

    def pft_fraction(self, pft: int | str, lat: float, lon: float) -> float:
        """Fraction of the cell containing (lat, lon) covered by ``pft`` (code or short name
        such as ``'EvCn'``); 0 for a PFT absent from the domain or a point outside it."""
        code = _pft_code(pft, self.source)
        if code not in self.pfts:
            return 0.0
        k = self.cell_at(lat, lon)
        return 0.0 if k < 0 else float(self.fraction[k, self.pfts.index(code)])

    def cell_at(self, lat: float, lon: float) -> int:
        """Index of the cell containing (lat, lon), -1 when none (grid domains), or of the
        nearest cell centre (list domains)."""
        if self.grid is None:
            d = (self.lat - lat) ** 2 + ((self.lon - lon) * np.cos(np.radians(lat))) ** 2
            return int(np.argmin(d))
        r, c = self.grid.locate(np.array([lat]), np.array([lon]))
        if r[0] < 0:
            return -1
        hit = np.nonzero((self.row == r[0]) & (self.col == c[0]))[0]
        return int(hit[0]) if hit.size else -1

    def cell_index_grid(self) -> np.ndarray:
        """(nlat, nlon) array of cell indices on the grid, -1 where no cell is simulated."""
        if self.grid is None:
            raise InputDataError(f"{self.source}: a list domain has no grid")
        out = np.full(self.grid.shape, -1, dtype=np.int64)
        out[self.row, self.col] = np.arange(self.ncell)
        return out

    def static(self, k: int) -> Static:
        """Cell k as a site description (PFT fractions of the vegetated part, summing to 1)."""
        cols = self.cell_columns(k)
        f = self.fraction[k, cols]
        return Static(float(self.lat[k]), float(self.lon[k]),
                      tuple(self.pfts[i] for i in cols), tuple((f / f.sum()).tolist()),
                      float(self.sand[k]), float(self.clay[k]), float(self.soil_depth[k]),
                      name=f"cell {k}", source=self.source)


def _pft_code(pft, where: str) -> int:
    if isinstance(pft, str):
        names = {v: k for k, v in PFT_NAMES.items()}
        if pft in names:
            return names[pft]
        if pft.isdigit():
            return int(pft)
        raise InputDataError(f"{where}: unknown PFT '{pft}'")
    return int(pft)


def _check_domain(d: Domain, where: str) -> None:
    n = d.ncell
    if n == 0:
        raise InputDataError(f"{where}: no vegetated cell (pft_fraction is zero everywhere)")
    for c in d.pfts:
        if c not in PFT_NAMES:
            raise InputDataError(f"{where}: variable 'pft': unknown PFT code {c} "
                                 "(BETHY codes are 1..13)")
    if len(set(d.pfts)) != len(d.pfts):
        raise InputDataError(f"{where}: variable 'pft': a PFT code appears twice")

    def bad(mask, var, what):
        idx = np.nonzero(mask)[0]
        if idx.size:
            raise InputDataError(f"{where}: variable '{var}' at {d.describe(int(idx[0]))}: "
                                 f"{what}" + (f" ({idx.size} cells)" if idx.size > 1 else ""))

    f = d.fraction
    bad(~np.isfinite(f).all(axis=1), "pft_fraction", "NaN value")
    bad((f < 0).any(axis=1) | (f > 1).any(axis=1), "pft_fraction", "values must be in [0, 1]")
    bad(f.sum(axis=1) > 1 + 1e-6, "pft_fraction", "fractions sum to more than 1")
    for var, lo, hi in (("sand", 0, 1), ("clay", 0, 1), ("soil_depth", 0.1, 20)):
        a = getattr(d, var)
        bad(~np.isfinite(a), var, "missing or NaN")
        bad((a < lo) | (a > hi), var, f"must be in [{lo}, {hi}]")
    bad(d.sand + d.clay > 1, "sand", "sand + clay exceeds 1")
    bad((d.lat < -90) | (d.lat > 90) | (d.lon < -180) | (d.lon > 360), "lat",
        "coordinates out of range")


def read_domain(path: str | os.PathLike) -> Domain:
    """Read a domain file (grid or list layout, see the module docstring)."""
    path = Path(path)
    where = str(path)
    with open_netcdf(path) as ds:
        for name in ("lat", "lon", "pft", "pft_fraction", "sand", "clay", "soil_depth"):
            if name not in ds.variables:
                raise InputDataError(f"{where}: missing variable '{name}'")

        def get(n):
            return np.ma.filled(np.ma.asarray(ds.variables[n][:], dtype=float), np.nan)

        pfts = tuple(int(c) for c in get("pft"))
        frac = get("pft_fraction")
        dims = ds.variables["pft_fraction"].dimensions
        attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
        if "cell" in ds.dimensions:
            if dims != ("pft", "cell"):
                raise InputDataError(f"{where}: variable 'pft_fraction' must have dimensions "
                                     f"(pft, cell), got {dims}")
            frac = np.nan_to_num(frac.T, nan=0.0)
            keep = frac.sum(axis=1) > 0
            d = Domain(pfts, get("lat")[keep], get("lon")[keep], frac[keep],
                       get("sand")[keep], get("clay")[keep], get("soil_depth")[keep],
                       source=where, attrs=attrs)
        else:
            if dims != ("pft", "lat", "lon"):
                raise InputDataError(f"{where}: variable 'pft_fraction' must have dimensions "
                                     f"(pft, lat, lon), got {dims}")
            try:
                grid = Grid(get("lat"), get("lon"),
                            *(coordinate_step(ds, n) for n in ("lat", "lon")))
            except InputDataError as exc:
                raise InputDataError(f"{where}: {exc}") from None
            # a masked (fill) fraction is no vegetation
            frac = np.nan_to_num(frac, nan=0.0)
            veg = frac.sum(axis=0) > 0
            row, col = np.nonzero(veg)
            soil = {n: get(n)[row, col] for n in ("sand", "clay", "soil_depth")}
            d = Domain(pfts, grid.lat[row], grid.lon[col], frac[:, row, col].T,
                       soil["sand"], soil["clay"], soil["soil_depth"], grid=grid, row=row,
                       col=col, source=where, attrs=attrs)
    _check_domain(d, where)
    return d


def coordinate_step(ds, name: str) -> float | None:
    """Cell size (degrees) of a coordinate ``name`` of one value in an open netCDF
    dataset, from its CF bounds; None for longer coordinates or without bounds."""
    bname = getattr(ds.variables[name], "bounds", None) or f"{name}_bnds"
    if ds.variables[name].size != 1 or bname not in ds.variables:
        return None
    b = np.asarray(ds.variables[bname][:], dtype=float).reshape(-1)
    return float(abs(b[-1] - b[0]))


def write_domain(path: str | os.PathLike, domain: Domain, attrs: dict | None = None) -> Path:
    """Write a domain file (grid layout when the domain has a grid, else list layout)."""
    import netCDF4
    path = Path(path)
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            ds.title = "tccas regional domain"
            for k, v in (attrs or {}).items():
                ds.setncattr(k, v)
            ds.createDimension("pft", len(domain.pfts))
            v = ds.createVariable("pft", "i4", ("pft",))
            v.long_name = "BETHY plant functional type code"
            v.flag_values = np.arange(1, 14, dtype=np.int32)
            v.flag_meanings = " ".join(PFT_NAMES[i] for i in range(1, 14))
            v[:] = np.array(domain.pfts, dtype=np.int32)
            if domain.grid is not None:
                g = domain.grid
                write_coordinates(ds, g.lat, g.lon, g)
                dims = ("lat", "lon")

                def put(a):
                    out = np.zeros(g.shape + a.shape[1:])
                    out[domain.row, domain.col] = a
                    return np.moveaxis(out, 2, 0) if a.ndim == 2 else out
            else:
                ds.createDimension("cell", domain.ncell)
                for name, a, unit in (("lat", domain.lat, "degrees_north"),
                                      ("lon", domain.lon, "degrees_east")):
                    v = ds.createVariable(name, "f8", ("cell",))
                    v.units = unit
                    v.standard_name = "latitude" if name == "lat" else "longitude"
                    v[:] = a
                dims = ("cell",)

                def put(a):
                    return a.T if a.ndim == 2 else a
            v = ds.createVariable("pft_fraction", "f8", ("pft",) + dims, zlib=True)
            v.units = "1"
            v.long_name = "fraction of the cell covered by each PFT"
            v[:] = put(domain.fraction)
            for name, a, unit, long in (
                ("sand", domain.sand, "1", "sand mass fraction of the soil"),
                ("clay", domain.clay, "1", "clay mass fraction of the soil"),
                ("soil_depth", domain.soil_depth, "m", "soil depth"),
            ):
                fill = 0.1 if name == "soil_depth" else 0.0   # outside cells: not read
                v = ds.createVariable(name, "f8", dims, zlib=True)
                v.units = unit
                v.long_name = long
                arr = put(np.asarray(a, dtype=float))
                if domain.grid is not None:
                    veg = np.zeros(domain.grid.shape, bool)
                    veg[domain.row, domain.col] = True
                    arr = np.where(veg, arr, fill)
                v[:] = arr
    return path


def write_coordinates(ds, lat: np.ndarray, lon: np.ndarray, grid: Grid | None = None) -> None:
    """Create lat/lon dimensions and coordinates in an open netCDF dataset, with CF cell
    bounds (``lat_bnds``, ``lon_bnds``) when the grid is given."""
    if grid is not None and "nv" not in ds.dimensions:
        ds.createDimension("nv", 2)
    for name, a, unit in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
        ds.createDimension(name, a.size)
        v = ds.createVariable(name, "f8", (name,))
        v.units = unit
        v.standard_name = "latitude" if name == "lat" else "longitude"
        v.axis = "Y" if name == "lat" else "X"
        v[:] = a
        if grid is not None:
            v.bounds = f"{name}_bnds"
            e = grid.lat_edges if name == "lat" else grid.lon_edges
            b = ds.createVariable(f"{name}_bnds", "f8", (name, "nv"))
            b[:] = np.column_stack([e[:-1], e[1:]])


@dataclass(frozen=True)
class PFTMap:
    """A land-cover map at its own resolution: one BETHY PFT code per pixel of a regular
    lat/lon grid (0 = not vegetated: water, rock, built-up, or a class not modelled)."""

    grid: Grid
    code: np.ndarray
    source: str = ""

    def __post_init__(self) -> None:
        c = np.asarray(self.code)
        if c.shape != self.grid.shape:
            raise InputDataError(f"{self.source or 'PFT map'}: variable 'pft' has shape "
                                 f"{c.shape}, the grid {self.grid.shape}")
        bad = ~np.isin(c, [0] + list(PFT_NAMES))
        if bad.any():
            i, j = (int(a[0]) for a in np.nonzero(bad))
            raise InputDataError(f"{self.source or 'PFT map'}: variable 'pft' = {c[i, j]} at "
                                 f"lat {self.grid.lat[i]:.4f}, lon {self.grid.lon[j]:.4f} is "
                                 "not a BETHY code 1..13 or 0 (not vegetated)")
        object.__setattr__(self, "code", c.astype(np.int16))


def read_pft_map(path: str | os.PathLike, variable: str = "pft") -> PFTMap:
    """Read a PFT map: ``variable(lat, lon)`` of BETHY codes (0 or fill = not vegetated)."""
    path = Path(path)
    where = str(path)
    with open_netcdf(path) as ds:
        for name in ("lat", "lon", variable):
            if name not in ds.variables:
                raise InputDataError(f"{where}: missing variable '{name}'")
        if ds.variables[variable].dimensions != ("lat", "lon"):
            raise InputDataError(f"{where}: variable '{variable}' must have dimensions "
                                 f"(lat, lon)")
        code = np.ma.filled(np.ma.asarray(ds.variables[variable][:]), 0)
        try:
            grid = Grid(np.asarray(ds.variables["lat"][:], float),
                        np.asarray(ds.variables["lon"][:], float),
                        coordinate_step(ds, "lat"), coordinate_step(ds, "lon"))
        except InputDataError as exc:
            raise InputDataError(f"{where}: {exc}") from None
    return PFTMap(grid, np.asarray(code), where)


def write_pft_map(path: str | os.PathLike, pft_map: PFTMap, attrs: dict | None = None) -> Path:
    """Write a PFT map (CF-1.8, ``pft(lat, lon)`` as 16-bit integer codes)."""
    import netCDF4
    path = Path(path)
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            ds.title = "PFT map (BETHY codes)"
            for k, v in (attrs or {}).items():
                ds.setncattr(k, v)
            write_coordinates(ds, pft_map.grid.lat, pft_map.grid.lon, pft_map.grid)
            v = ds.createVariable("pft", "i2", ("lat", "lon"), zlib=True)
            v.long_name = "BETHY plant functional type code (0 = not vegetated)"
            v.flag_values = np.arange(0, 14, dtype=np.int16)
            v.flag_meanings = "none " + " ".join(PFT_NAMES[i] for i in range(1, 14))
            v[:] = pft_map.code
    return path


def pixel_areas(grid: Grid) -> np.ndarray:
    """Relative areas of the pixels of a grid, (nlat, 1): cos(latitude) times the pixel's
    extent in degrees (spherical Earth; exact for the ratio of areas of two pixels of the
    same latitude band when the band is narrow)."""
    dlat, dlon = abs(grid.step_lat), abs(grid.step_lon)
    return (np.cos(np.radians(grid.lat)) * dlat * dlon)[:, None]


def domain_from_pft_map(pft_map: PFTMap, grid: Grid, sand, clay, soil_depth,
                        source: str = "") -> Domain:
    """A domain on ``grid`` whose PFT fractions are the area shares of the map's pixels
    (pixel centres inside each cell, areas weighted by cos(latitude)).

    ``sand``, ``clay``, ``soil_depth`` are (nlat, nlon) arrays on ``grid`` (or scalars).
    Cells without a vegetated pixel are not part of the domain.
    """
    m = pft_map.grid
    r, _ = grid.locate(m.lat, np.full(m.lat.shape, grid.lon[0]))
    _, c = grid.locate(np.full(m.lon.shape, grid.lat[0]), m.lon)
    area = np.broadcast_to(pixel_areas(m), m.shape)
    inside = (r[:, None] >= 0) & (c[None, :] >= 0)
    rr = np.broadcast_to(r[:, None], m.shape)[inside]
    cc = np.broadcast_to(c[None, :], m.shape)[inside]
    code = pft_map.code[inside]
    a = area[inside]
    total = np.zeros(grid.shape)
    np.add.at(total, (rr, cc), a)
    pfts = tuple(int(p) for p in np.unique(code) if p > 0)
    frac = np.zeros((len(pfts),) + grid.shape)
    for j, p in enumerate(pfts):
        m_ = code == p
        np.add.at(frac[j], (rr[m_], cc[m_]), a[m_])
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total > 0, frac / total, 0.0)
    veg = frac.sum(axis=0) > 0
    row, col = np.nonzero(veg)
    soil = [np.broadcast_to(np.asarray(s, float), grid.shape)[row, col]
            for s in (sand, clay, soil_depth)]
    d = Domain(pfts, grid.lat[row], grid.lon[col], frac[:, row, col].T, *soil, grid=grid,
               row=row, col=col, source=source)
    _check_domain(d, source or "domain from PFT map")
    return d


@dataclass(frozen=True)
class CellForcing:
    """Hourly forcing of some cells of a domain, canonical units.

    ``data`` is (ncell, nt, nmet) with the variables in ``FORCING_NAMES`` order (what
    :class:`tccas.model.CellModel` takes per cell); ``cells`` are the domain's cell indices.
    """

    times: np.ndarray
    data: np.ndarray
    cells: np.ndarray
    source: str = ""

    def met(self, k: int) -> np.ndarray:
        """(nt, nmet) forcing of domain cell k."""
        hit = np.nonzero(self.cells == k)[0]
        if not hit.size:
            raise InputDataError(f"{self.source}: cell {k} was not read")
        return self.data[hit[0]]

    def subset(self, cells) -> "CellForcing":
        """The forcing of ``cells`` (domain indices), in that order."""
        pos = {int(c): i for i, c in enumerate(self.cells)}
        missing = [int(c) for c in cells if int(c) not in pos]
        if missing:
            raise InputDataError(f"{self.source or 'forcing'}: no forcing for cell(s) "
                                 f"{missing[:5]}" + (" ..." if len(missing) > 5 else ""))
        idx = [pos[int(c)] for c in cells]
        return CellForcing(self.times, self.data[idx], np.asarray(cells, dtype=np.int64),
                           self.source)


def read_gridded_forcing(path: str | os.PathLike, domain: Domain, cells=None,
                         start: np.datetime64 | None = None,
                         end: np.datetime64 | None = None) -> CellForcing:
    """Read the hourly forcing of ``cells`` (default: all) of ``domain`` from a gridded file.

    Each variable is read once, as one block over the time range [start, end) and the
    bounding box of the cells, then the cells are picked from it. Values are converted to
    canonical units and checked: a NaN or an out-of-range value raises
    :class:`InputDataError` naming the file, the variable, the cell index and coordinates
    and the time.
    """
    path = Path(path)
    where = str(path)
    cells = np.arange(domain.ncell) if cells is None else np.asarray(cells, dtype=np.int64)
    with open_netcdf(path) as ds:
        if "time" not in ds.variables:
            raise InputDataError(f"{where}: missing variable 'time'")
        times = step_start_times(ds, where)
        check_hourly_times(times, where)
        i0 = 0 if start is None else int(np.searchsorted(times, start))
        i1 = times.size if end is None else int(np.searchsorted(times, end))
        if (start is not None and (i0 >= times.size or times[i0] != start)) or \
                (end is not None and i1 == times.size and times[-1] + np.timedelta64(3600, "s")
                 < end):
            raise InputDataError(f"{where}: forcing covers {times[0]} to "
                                 f"{times[-1] + np.timedelta64(3600, 's')}, which does not "
                                 f"contain the run period {start} to {end}")
        times = times[i0:i1]
        if domain.grid is not None:
            for name, ref in (("lat", domain.grid.lat), ("lon", domain.grid.lon)):
                if name not in ds.variables:
                    raise InputDataError(f"{where}: missing variable '{name}'")
                got = np.asarray(ds.variables[name][:], dtype=float)
                if got.shape != ref.shape or np.abs(got - ref).max() > _COORD_TOL:
                    raise InputDataError(f"{where}: variable '{name}' differs from the domain "
                                         f"grid of {domain.source}")
            r, c = domain.row[cells], domain.col[cells]
            r0, r1, c0, c1 = r.min(), r.max() + 1, c.min(), c.max() + 1
            want_dims = ("time", "lat", "lon")

            def block(var):
                return var[i0:i1, r0:r1, c0:c1][:, r - r0, c - c0]
        else:
            if "cell" not in ds.dimensions or ds.dimensions["cell"].size != domain.ncell:
                raise InputDataError(f"{where}: a list domain needs forcing on (time, cell) "
                                     f"with {domain.ncell} cells")
            c0, c1 = cells.min(), cells.max() + 1
            want_dims = ("time", "cell")

            def block(var):
                return var[i0:i1, c0:c1][:, cells - c0]
        data = {}
        for name in FORCING_NAMES + ("huss",):
            if name not in ds.variables or (name == "huss" and "vpd" in data):
                continue
            var = ds.variables[name]
            if var.dimensions != want_dims:
                raise InputDataError(f"{where}: variable '{name}' has dimensions "
                                     f"{var.dimensions}, expected {want_dims}")
            unit = getattr(var, "units", None)
            if unit is None:
                raise InputDataError(f"{where}: variable '{name}' has no units attribute")
            vals = np.ma.filled(np.ma.asarray(block(var), dtype=np.float64), np.nan)
            if name == "huss":
                data["_huss"] = vals
                continue
            data[name] = convert_units(vals, unit, FORCING_UNITS[name],
                                       f"{where}: variable '{name}'")
    if "vpd" not in data and "_huss" in data:
        if "tas" not in data or "ps" not in data:
            raise InputDataError(f"{where}: 'huss' needs 'tas' and 'ps' to give 'vpd'")
        data["vpd"] = vpd_from_specific_humidity(data.pop("_huss"), data["tas"], data["ps"])
    data.pop("_huss", None)
    if "tsl_deep" not in data and "tas" in data:
        # 30-day trailing running mean of tas, per cell (as io.read_forcing does for a site)
        n = 24 * 30
        cs = np.cumsum(np.concatenate([np.zeros((1,) + data["tas"].shape[1:]), data["tas"]]),
                       axis=0)
        idx = np.arange(1, times.size + 1)
        lo = np.maximum(idx - n, 0)
        data["tsl_deep"] = (cs[idx] - cs[lo]) / (idx - lo)[:, None]
    for name in FORCING_NAMES:
        if name not in data:
            hint = " (or 'huss')" if name == "vpd" else ""
            raise InputDataError(f"{where}: missing variable '{name}'{hint}")
    out = np.empty((cells.size, times.size, len(FORCING_NAMES)))
    for j, name in enumerate(FORCING_NAMES):
        v = data.pop(name)                   # (nt, ncell); freed once copied
        lo, hi = FORCING_RANGES[name]
        bad = ~np.isfinite(v) | (v < lo) | (v > hi)
        if bad.any():
            # first bad cell (lowest index), then its first bad time
            ic = int(np.nonzero(bad.any(axis=0))[0][0])
            it = int(np.nonzero(bad[:, ic])[0][0])
            val = v[it, ic]
            what = ("is missing/NaN" if not np.isfinite(val) else
                    f"= {val:g} is outside [{lo:g}, {hi:g}] {FORCING_UNITS[name]} "
                    "(wrong units or bad data?)")
            n_bad = int(bad.any(axis=0).sum())
            raise InputDataError(f"{where}: variable '{name}' at {domain.describe(int(cells[ic]))}"
                                 f", time {times[it]}: {what}"
                                 + (f" ({n_bad} cells affected)" if n_bad > 1 else ""))
        out[:, :, j] = v.T
    return CellForcing(times, out, cells, where)


def write_gridded_forcing(path: str | os.PathLike, domain: Domain, forcing: CellForcing,
                          attrs: dict | None = None) -> Path:
    """Write forcing of every domain cell as gridded CF netCDF ((time, lat, lon) on the
    domain grid, fill value outside the cells; (time, cell) for a list domain)."""
    import netCDF4
    path = Path(path)
    if forcing.cells.size != domain.ncell or np.any(forcing.cells != np.arange(domain.ncell)):
        raise InputDataError(f"{path}: gridded forcing needs every cell of the domain in order")
    with atomic_path(path) as tmp:
        with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
            ds.Conventions = "CF-1.8"
            for k, v in (attrs or {}).items():
                ds.setncattr(k, v)
            ref = forcing.times[0].astype("datetime64[D]").astype("datetime64[s]")
            time_var(ds, forcing.times, ref, 1.0)
            if domain.grid is not None:
                write_coordinates(ds, domain.grid.lat, domain.grid.lon, domain.grid)
                dims = ("time", "lat", "lon")
                chunks = (min(forcing.times.size, 24 * 31), 1, 1)
            else:
                ds.createDimension("cell", domain.ncell)
                dims = ("time", "cell")
                chunks = (min(forcing.times.size, 24 * 31), 1)
            for j, (name, unit, std) in enumerate(FORCING_VARS):
                v = ds.createVariable(name, "f4", dims, zlib=True, complevel=4, shuffle=True,
                                      fill_value=np.float32(1e20), chunksizes=chunks)
                v.units = unit
                v.standard_name = std
                v.cell_methods = "time: mean"
                if domain.grid is not None:
                    arr = np.full((forcing.times.size,) + domain.grid.shape, 1e20, np.float32)
                    arr[:, domain.row, domain.col] = forcing.data[:, :, j].T
                else:
                    arr = forcing.data[:, :, j].T.astype(np.float32)
                v[:] = arr
    return path


@dataclass(frozen=True)
class GriddedForcingFile:
    """A gridded forcing file to be read per batch of cells where the cells run (workers
    read their own cells; nothing but this small record is sent to them)."""

    path: Path
    domain: Domain
    start: np.datetime64 | None = None
    end: np.datetime64 | None = None

    def read(self, cells=None) -> CellForcing:
        """Forcing of ``cells`` (default all) over [start, end), see
        :func:`read_gridded_forcing`."""
        return read_gridded_forcing(self.path, self.domain, cells, self.start, self.end)

    def times(self) -> np.ndarray:
        """Step start times of [start, end) (reads only the time coordinate)."""
        where = str(self.path)
        with open_netcdf(Path(self.path)) as ds:
            if "time" not in ds.variables:
                raise InputDataError(f"{where}: missing variable 'time'")
            t = step_start_times(ds, where)
        m = np.ones(t.size, bool)
        if self.start is not None:
            m &= t >= self.start
        if self.end is not None:
            m &= t < self.end
        return t[m]
