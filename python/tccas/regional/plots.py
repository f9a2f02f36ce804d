"""Map figures of regional runs: annual means of a run's gridded output
(:func:`plot_run_maps`), and panels of any gridded fields, such as prior, posterior,
difference and uncertainty reduction (:func:`plot_map_panels`)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import numpy as np

from ..errors import InputDataError
from .domain import Grid, coordinate_step

__all__ = ["plot_map_panels", "plot_run_maps", "cell_map"]

#: cell variables of a run's daily.nc drawn by plot_run_maps, with the annual aggregation
RUN_MAP_VARIABLES = (("gpp_cell", "sum"), ("nee_cell", "sum"), ("et_cell", "sum"),
                     ("lai_day_cell", "mean"), ("sm_surf_cell", "mean"), ("agb_cell", "mean"))

# fields whose colour scale is centred on zero
_DIVERGING = ("nee", "diff", "difference", "change")


def _pyplot():
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputDataError("map figures need matplotlib: pip install 'tccas[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def cell_map(domain, values: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
    """(nlat, nlon) array of per-cell ``values`` on the domain grid (NaN elsewhere)."""
    if domain.grid is None:
        raise InputDataError(f"{domain.source}: maps need a grid domain")
    cells = np.arange(domain.ncell) if cells is None else np.asarray(cells)
    out = np.full(domain.grid.shape, np.nan)
    out[domain.row[cells], domain.col[cells]] = values
    return out


def plot_map_panels(panels: Mapping[str, np.ndarray], grid: Grid, path: str | os.PathLike,
                    title: str = "", units: Mapping[str, str] | None = None) -> Path:
    """One map per entry of ``panels`` (name -> (nlat, nlon) array on ``grid``; NaN is not
    drawn). Names containing 'diff', 'difference', 'change' or 'nee' get a colour scale
    centred on zero. Writes a PNG to ``path``."""
    plt = _pyplot()
    n = len(panels)
    if n == 0:
        raise InputDataError(f"{path}: no panels to draw")
    ncol = min(n, 3)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
    le, oe = grid.lat_edges, grid.lon_edges
    for ax, (name, field) in zip(axes.ravel(), panels.items()):
        a = np.ma.masked_invalid(np.asarray(field, dtype=float))
        if a.shape != grid.shape:
            raise InputDataError(f"{path}: panel '{name}' has shape {a.shape}, the grid "
                                 f"{grid.shape}")
        kw = {}
        if any(k in name.lower() for k in _DIVERGING) and a.count():
            m = float(np.abs(a).max()) or 1.0
            kw = {"cmap": "RdBu_r", "vmin": -m, "vmax": m}
        mesh = ax.pcolormesh(oe, le, a, shading="flat", **kw)
        fig.colorbar(mesh, ax=ax, label=(units or {}).get(name, ""))
        ax.set_title(name)
        ax.set_xlabel("longitude (deg E)")
        ax.set_ylabel("latitude (deg N)")
        ax.set_aspect(1.0 / np.cos(np.radians(grid.lat.mean())))
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_run_maps(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Maps of the annual means (sums for fluxes) of a regional run's cell values
    (``daily.nc`` of ``tccas run`` on a [region] config). Writes ``maps.png``."""
    import netCDF4
    run_dir = Path(run_dir)
    f = run_dir / "daily.nc"
    if not f.exists():
        raise InputDataError(f"{run_dir}: no daily.nc (give the output folder of tccas run)")
    panels, units = {}, {}
    with netCDF4.Dataset(f) as ds:
        if "lat" not in ds.dimensions or "lon" not in ds.dimensions:
            raise InputDataError(f"{f}: not a gridded regional output (no lat/lon dimensions)")
        grid = Grid(np.asarray(ds["lat"][:]), np.asarray(ds["lon"][:]),
                    coordinate_step(ds, "lat"), coordinate_step(ds, "lon"))
        years = ds.dimensions["time"].size / 365.25
        for name, how in RUN_MAP_VARIABLES:
            if name not in ds.variables:
                continue
            a = np.ma.masked_invalid(np.ma.filled(ds[name][:].astype(float), np.nan))
            u = ds[name].units
            if how == "sum":
                field = (a.sum(axis=0) / years).filled(np.nan)
                u = u.replace("d-1", "yr-1")
            else:
                field = a.mean(axis=0).filled(np.nan)
            label = f"{name.replace('_cell', '')} ({'annual' if how == 'sum' else 'mean'})"
            panels[label] = field
            units[label] = u
        title = getattr(ds, "title", "")
    return plot_map_panels(panels, grid, Path(out) if out else run_dir / "maps.png", title,
                           units)
