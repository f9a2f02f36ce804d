"""A new site in one command: a ready case folder from a flux-tower file.

:func:`new_site` (and ``tccas new-site``) turns a FLUXNET2015 / ICOS CSV file (half-hourly,
hourly or daily) or a pair of PLUMBER2 files, the site's PFT composition and its soil into a
case folder that ``tccas run`` takes as it is:

- ``static.nc``: location, PFT tiles with their cover fractions, soil texture and depth;
- ``forcing.nc``: the tower's meteorology as hourly CF forcing in UTC;
- ``obs/nee.nc``, ``obs/gpp.nc``, ``obs/le.nc``: the tower's fluxes as observation sets over
  the site's PFT composition, for the streams the file has (QC columns are used when present);
- ``config.toml`` with ``carbon_spinup = "equilibrium"`` (a new site has no prior carbon
  pools: they are computed from the model's equilibrium at every run; ``tccas spinup
  CONFIG --write`` fixes them in the file instead), the run period of the file, and the
  observations;
- ``README.md``: what the case was made from.

Tower time stamps are local standard time; the forcing is shifted to UTC with the site's
offset and cut to whole UTC days. East of Greenwich that leaves the file's last local day
without its last hours in UTC: the run still ends on that day, whose missing hours are taken
from the day before (one day at most), so that the case covers the file's local days.

The set-up reuses the machinery of :mod:`tccas.towers`, which scores the real tower sites.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import ConfigError
from .readers.fluxnet import is_sub_daily
from .parameters import PFT_NAMES

__all__ = ["new_site", "parse_pfts"]

log = logging.getLogger("tccas")


def parse_pfts(spec: Mapping[object, float] | list[str] | str) -> dict[int, float]:
    """PFT composition from a mapping (code or short name -> fraction) or from strings like
    ``"TmEv=0.2"`` (a list, or one string with commas). Fractions must be positive and sum
    to 1 (within 1e-6).

    Examples
    --------
    >>> parse_pfts("TmEv=0.2, C3Gr=0.8")
    {3: 0.2, 9: 0.8}
    """
    by_name = {v.lower(): k for k, v in PFT_NAMES.items()}
    if isinstance(spec, str):
        spec = [s for s in re.split(r"[,\s]+", spec) if s]
    if not isinstance(spec, Mapping):
        items = {}
        for s in spec:
            if "=" not in str(s):
                raise ConfigError(f"PFT '{s}': give NAME=FRACTION, e.g. C3Gr=0.8")
            k, v = str(s).split("=", 1)
            items[k.strip()] = v.strip()
        spec = items
    out: dict[int, float] = {}
    for key, value in spec.items():
        k = str(key).strip()
        code = int(k) if k.isdigit() else by_name.get(k.lower())
        if code not in PFT_NAMES:
            raise ConfigError(f"unknown PFT '{key}' (use {', '.join(PFT_NAMES.values())} or "
                              "codes 1-13)")
        try:
            f = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"PFT {key}: fraction {value!r} is not a number") from None
        if not 0.0 < f <= 1.0:
            raise ConfigError(f"PFT {key}: fraction {f:g} must be in (0, 1]")
        if code in out:
            raise ConfigError(f"PFT {key} given twice")
        out[code] = f
    if not out:
        raise ConfigError("give at least one PFT with its cover fraction, e.g. C3Gr=1")
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"PFT fractions sum to {total:g}; they must sum to 1")
    return out


def _site_name(path: Path) -> str:
    m = re.match(r"(?:FLX_)?([A-Z]{2}-[A-Za-z0-9]{3})", path.name)
    return m.group(1) if m else path.name.split(".")[0]


def new_site(target: str | os.PathLike, *, fluxnet: str | os.PathLike | None = None,
             plumber2: tuple[str | os.PathLike, str | os.PathLike] | None = None,
             pfts: Mapping[object, float] | list[str] | str,
             sand: float, clay: float, soil_depth: float = 1.0,
             lat: float | None = None, lon: float | None = None,
             utc_offset_hours: float | None = None, name: str | None = None,
             start: str | None = None, end: str | None = None,
             spinup_hours: int = 17520, observations: bool = True,
             daily: bool = True) -> Path:
    """Write a ready case folder for a new site from a flux-tower file, with an
    ``[assimilation]`` table that ``tccas assimilate`` runs as it is (NEE and LE, GPP
    withheld, model error from the prior misfit; see :func:`tccas.towers.write_tower_case`).

    Parameters
    ----------
    target : folder to write (must not exist or be empty).
    fluxnet : a FLUXNET2015 / ICOS CSV file (HH, HR or DD; plain or .gz). Needs ``lat``,
        ``lon`` and, for HH/HR files, ``utc_offset_hours``.
    plumber2 : (Met file, Flux file) of a PLUMBER2 site; coordinates and name come from the
        files. Needs ``utc_offset_hours``.
    pfts : PFT composition, e.g. ``{"TmEv": 0.2, "C3Gr": 0.8}`` or ``"TmEv=0.2,C3Gr=0.8"``.
    sand, clay : soil texture (mass fractions 0-1). soil_depth : m.
    lat, lon : degrees north / east (FLUXNET files). utc_offset_hours : local standard time
        minus UTC (FLUXNET UTC_OFFSET).
    name : site name (default: the FLUXNET code in the file name).
    start, end : run period (ISO dates, inclusive); default the file's local days.
    spinup_hours : spin-up (whole days; at least a year for the carbon equilibrium).
    observations : write the tower's NEE, GPP and LE as observation sets.
    daily : write half-hourly and hourly records as daily means (False: every record).

    Returns
    -------
    Path of the case's config.toml.
    """
    from .towers import TowerSite, load_tower_forcing, plumber2_tower_site, write_tower_case
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target}: exists and is not empty; choose a new folder")
    if (fluxnet is None) == (plumber2 is None):
        raise ConfigError("give either a FLUXNET file or the two PLUMBER2 files (Met, Flux)")
    comp = parse_pfts(pfts)
    for what, v, lo, hi in (("sand", sand, 0.0, 1.0), ("clay", clay, 0.0, 1.0),
                            ("soil_depth", soil_depth, 0.1, 50.0)):
        if not lo <= float(v) <= hi:
            raise ConfigError(f"{what} = {v} is outside [{lo:g}, {hi:g}]")
    if float(sand) + float(clay) > 1.0:
        raise ConfigError(f"sand + clay = {float(sand) + float(clay):g} exceeds 1")
    pft_codes, fractions = tuple(comp), tuple(comp.values())
    if plumber2 is not None:
        if utc_offset_hours is None:
            raise ConfigError("PLUMBER2 time stamps are local standard time: give the site's "
                              "UTC offset (utc_offset_hours)")
        site = plumber2_tower_site(plumber2[0], plumber2[1], utc_offset_hours, pft_codes,
                                   fractions, sand, clay, soil_depth)
        streams = ("nee", "gpp", "le")
    else:
        from .readers.fluxnet import fluxnet_streams
        path = Path(fluxnet).resolve()
        if lat is None or lon is None:
            raise ConfigError(f"{fluxnet}: give the site's lat and lon (FLUXNET files do not "
                              "carry them)")
        streams = fluxnet_streams(path)
        if utc_offset_hours is None and is_sub_daily(path):
            raise ConfigError(f"{fluxnet}: FLUXNET time stamps are local standard time: give "
                              "the site's UTC offset (UTC_OFFSET in the site metadata)")
        # a daily (DD) file's local day is taken as the UTC day: no offset is used
        site = TowerSite(name=name or _site_name(path), layout="fluxnet",
                         forcing_file=str(path), flux_file=str(path), lat=float(lat),
                         lon=float(lon), utc_offset_hours=float(utc_offset_hours or 0.0),
                         pfts=pft_codes, fractions=fractions, sand=float(sand),
                         clay=float(clay), soil_depth=float(soil_depth), start="", end="",
                         notes={"data": f"made by tccas new-site from {path.name}"})
    if name and plumber2 is not None:
        site = _replace(site, name=name)
    forcing = load_tower_forcing(site, "/")
    days = forcing.times.astype("datetime64[D]")
    first, last = days[0], days[-1]
    if site.utc_offset_hours > 0 and (site.layout == "plumber2"
                                      or is_sub_daily(Path(site.forcing_file))):
        # east of Greenwich the last local day lacks its last hours in UTC: keep it
        last = last + np.timedelta64(1, "D")
    start = start or str(first)
    end = end or str(last)
    if not observations:
        streams = ()
    cfg = write_tower_case(site, "/", target, start=start, end=end, spinup_hours=spinup_hours,
                           streams=streams, daily=daily)
    log.info("new site %s written to %s", site.name, target)
    return cfg




def _replace(site, **changes):
    import dataclasses
    return dataclasses.replace(site, **changes)
