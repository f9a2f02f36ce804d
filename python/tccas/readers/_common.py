"""Helpers shared by the readers of third-party files (flux towers, satellite products).

Everything here is public so that the reader modules import it by its own name.
"""
from __future__ import annotations

# ---- satellite products over a case: geodesy, site footprints, screening tallies ----------
# (tccas.readers.smos_l2, cci_sm, ascat and tccas.obsdb)

import os as _os
from dataclasses import dataclass as _dataclass
from dataclasses import field as _field
from pathlib import Path as _Path

import numpy as _np

EARTH_RADIUS_KM = 6371.0088     # mean Earth radius (IUGG), km


def great_circle_km(lat0: float, lon0: float, lat, lon) -> _np.ndarray:
    """Great-circle (haversine) distance in km from (lat0, lon0) to each (lat, lon).

    Parameters
    ----------
    lat0, lon0 : float
        Reference point, degrees north / east.
    lat, lon : array_like
        Points, degrees north / east (any longitude convention: -180..180 or 0..360).

    Returns
    -------
    numpy.ndarray
        Distances in km on a sphere of radius :data:`EARTH_RADIUS_KM` (NaN where a
        coordinate is NaN).
    """
    p0 = _np.radians(lat0)
    p = _np.radians(_np.asarray(lat, dtype=float))
    dlam = _np.radians(_np.asarray(lon, dtype=float) - lon0)
    a = (_np.sin((p - p0) / 2.0) ** 2
         + _np.cos(p0) * _np.cos(p) * _np.sin(dlam / 2.0) ** 2)
    return 2.0 * EARTH_RADIUS_KM * _np.arcsin(_np.sqrt(_np.clip(a, 0.0, 1.0)))


def footprint_touches(site_lat: float, site_lon: float, lat, lon,
                      radius_km: float) -> _np.ndarray:
    """Whether a circular sensor footprint centred on each (lat, lon) contains the site.

    A footprint of radius ``radius_km`` (km) "touches" the site when the great-circle
    distance between its centre and the site is at most ``radius_km``. Returns a boolean
    array (False where a centre coordinate is missing).
    """
    d = great_circle_km(site_lat, site_lon, lat, lon)
    return _np.isfinite(d) & (d <= radius_km)


@_dataclass(frozen=True)
class SiteFootprint:
    """The PFT fractions that an observation touching a site's cell is given.

    Attributes
    ----------
    name : str
        Site name (the static file's ``site_name`` or its file name).
    lat, lon : float
        Site latitude and longitude, degrees north / east (-180..180).
    pft : tuple of int
        BETHY PFT codes of the cell's tiles.
    fraction : tuple of float
        Cover fraction of each PFT in the cell (sum 1).
    source : str
        The static file they were read from.
    """

    name: str
    lat: float
    lon: float
    pft: tuple[int, ...]
    fraction: tuple[float, ...]
    source: str = ""

    def as_dict(self) -> dict[int, float]:
        """``{pft_code: fraction}`` as the readers' ``footprint`` argument takes it."""
        return dict(zip(self.pft, self.fraction))


def site_footprint(static: str | _os.PathLike) -> SiteFootprint:
    """The site and PFT fractions of a case's static file (``lat``, ``lon``, ``pft``,
    ``pft_fraction``).

    A site case is one model cell. An observation whose footprint touches the site is given
    the cell's PFT fractions: the sensor footprint (tens of km for SMOS or a 0.25-degree
    cell for ESA CCI SM) is assumed to have the same cover as the cell. This is the
    approximation the existing readers make too (their ``footprint`` argument is one
    ``{pft: fraction}`` row used for every observation); a land-cover map of the footprint
    would replace it in a regional run.

    Raises
    ------
    InputDataError
        The static file is missing or invalid (see :func:`tccas.io.read_static`).
    """
    from ..io import read_static
    s = read_static(static)
    lon = (float(s.lon) + 180.0) % 360.0 - 180.0
    return SiteFootprint(str(s.name), float(s.lat), lon, tuple(int(c) for c in s.pft),
                         tuple(float(f) for f in s.pft_fraction), str(_Path(static)))


@_dataclass
class Tally:
    """Counts of the records a reader read, kept and dropped (with the reason of each drop).

    ``read`` counts every record met in the files (all grid points or swath cells),
    ``kept`` those returned, ``dropped[reason]`` the others; ``read == kept +
    sum(dropped.values())`` holds after every complete file.
    """

    read: int = 0
    kept: int = 0
    dropped: dict[str, int] = _field(default_factory=dict)
    files: int = 0

    def drop(self, reason: str, n: int | _np.integer = 1) -> None:
        """Count ``n`` records dropped for ``reason`` (nothing when n == 0)."""
        n = int(n)
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + n

    def add(self, other: "Tally") -> None:
        """Add the counts of ``other`` to this tally."""
        self.read += other.read
        self.kept += other.kept
        self.files += other.files
        for k, v in other.dropped.items():
            self.drop(k, v)

    def as_attrs(self, prefix: str = "n_") -> dict[str, int]:
        """The counts as netCDF global attributes (``n_read``, ``n_kept``, ``n_<reason>``)."""
        out = {f"{prefix}files": self.files, f"{prefix}read": self.read,
               f"{prefix}kept": self.kept}
        out.update({f"{prefix}{k}": v for k, v in sorted(self.dropped.items())})
        return out

    def summary(self) -> str:
        """One line: ``read N, kept K, dropped D (reason n, ...)``, largest reasons first."""
        total = sum(self.dropped.values())
        reasons = ", ".join(f"{k} {v}" for k, v in
                            sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0])))
        return (f"{self.files} file(s): read {self.read}, kept {self.kept}, dropped {total}"
                + (f" ({reasons})" if reasons else ""))


__all__ = ["EARTH_RADIUS_KM", "SiteFootprint", "Tally", "footprint_touches",
           "great_circle_km", "site_footprint"]
