"""A case's observation database, built from folders of real product files.

:func:`build_observations` (the command ``tccas obs build CONFIG --product PRODUCT DIR...``)
reads the product files a user downloaded for a site, keeps the observations whose
footprint touches the case's site and whose time lies in the case's run period, screens them
as each reader documents, sets sigma from the product's uncertainty with the reader's floor,
gives every observation the site's PFT fractions (see
:func:`tccas.readers.site_footprint`), writes one CF observation file per stream
next to the configuration (``obs/<stream>_<product>.nc``) and adds it to the configuration's
``[observations]`` table, keeping its comments. It reports how many records were read, kept
and dropped, and why.

Products (:data:`PRODUCTS`):

- ``smos-l2``: ESA SMOS L2 soil moisture v700 half-orbits, streams ``sm`` and ``vod``
  (:func:`tccas.readers.smos_l2.read_smos_l2`);
- ``cci-sm``: ESA CCI SM / C3S SM daily images (COMBINED or PASSIVE), stream ``sm``
  (:func:`tccas.readers.cci_sm.read_cci_sm`);
- ``smos-ic``: SMOS-IC daily images, streams ``sm`` and ``vod``, and ``troposif``: TROPOSIF
  L2B daily files, stream ``sif`` (the existing readers
  :func:`tccas.readers.read_smos_ic` and :func:`tccas.readers.read_troposif`, one file at a
  time; their layouts were not met as real files; for TROPOSIF "read" counts the soundings
  within 50 km of the site);
- ``jrc-tip``: JRC-TIP FAPAR composites, stream ``fapar``, and ``cci-biomass``: ESA CCI
  Biomass maps, stream ``agb`` (:func:`tccas.readers.read_jrc_tip`,
  :func:`tccas.readers.read_cci_biomass`; layouts not met as real files either);
- ``fluxnet``: FLUXNET2015 / ICOS site CSV files, streams ``nee``, ``gpp`` and ``le``
  (:func:`tccas.readers.read_fluxnet_obs`; the tower is taken to be at the site; half-hourly
  files need ``[site] utc_offset_hours`` or the ``utc_offset_hours`` option).

- ``ascat``: ASCAT backscatter at 40 deg and its slope, streams ``sigma40`` and ``slope``,
  from EUMETSAT ASCAT L2 SSM swath files and the H SAF / TU Wien products H121, H129, H122
  (:func:`tccas.readers.ascat.read_ascat_obs`, which tells the two layouts apart per file;
  the ASCAT soil-moisture index is not used: it is relative and needs the soil porosity).

A stream may be given by several files (for example SMOS L2 and CCI soil moisture): the
configuration then lists them, ``sm = ["obs/sm.nc", "obs/sm_smos-l2.nc"]``, and
:func:`concatenate_observations` joins them when a run loads them.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from .errors import ConfigError, InputDataError
from .obs import ObservationSet, write_obs
from .readers import SiteFootprint, Tally, site_footprint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

log = logging.getLogger(__name__)

__all__ = ["PRODUCTS", "BuildResult", "Product", "build_observations",
           "concatenate_observations", "find_product_files"]


@dataclass(frozen=True)
class Product:
    """A product that ``tccas obs build`` knows.

    Attributes
    ----------
    key : str
        Name on the command line, e.g. ``smos-l2``.
    title : str
        Human-readable name.
    streams : tuple of str
        Observation streams it gives.
    patterns : tuple of str
        Glob patterns of its file names (to pick its files in a folder).
    read : callable
        The reader, called as ``read(files, lat, lon, footprint, stream, period, tally,
        progress, cfg)`` plus the product's options as keywords; returns an ObservationSet.
    fallback : str
        Pattern of the files taken from a folder where none matches ``patterns``.
    """

    key: str
    title: str
    streams: tuple[str, ...]
    patterns: tuple[str, ...]
    read: Callable[..., ObservationSet]
    fallback: str = "*.nc"


def _read_smos_l2(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                  **options):
    from .readers.smos_l2 import read_smos_l2
    return read_smos_l2(files, lat, lon, footprint, stream=stream, period=period, tally=tally,
                        progress=progress, **options)


def _read_cci_sm(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                 **options):
    from .readers.cci_sm import read_cci_sm
    return read_cci_sm(files, lat, lon, footprint, period=period, tally=tally,
                       progress=progress, **options)


def _read_fluxnet(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                  utc_offset_hours=None, **options):
    """FLUXNET2015 / ICOS CSV files through :func:`tccas.readers.read_fluxnet_obs`, one file
    at a time; its counts of missing and QC-rejected records become drop reasons."""
    from ._progress import progress as progress_bar
    from .readers.fluxnet import read_fluxnet_obs
    import re
    if utc_offset_hours is None:
        utc_offset_hours = cfg.site.utc_offset_hours
    ids = {m.group(1) for f in files
           if (m := re.match(r"(?:FLX|ICOSETC)_([A-Z]{2}-[A-Za-z0-9]{3})_", Path(f).name))}
    if len(ids) > 1:
        raise InputDataError(f"{Path(files[0]).parent}: FLUXNET files of several sites "
                             f"({', '.join(sorted(ids))}); give the files of the case's site")
    name = cfg.site.name
    if ids and re.fullmatch(r"[A-Z]{2}-[A-Za-z0-9]{3}", name) and name not in ids:
        raise InputDataError(f"{files[0]}: a FLUXNET file of site {ids.pop()}, but the case is "
                             f"site {name}")
    parts = []
    for f in progress_bar(files, total=len(files), desc=f"FLUXNET {stream}", enabled=progress,
                          unit="file"):
        o = read_fluxnet_obs(f, stream, footprint, utc_offset_hours, **options)
        n = int(o.attrs.get("n_records", len(o)))
        dropped = {"missing": int(o.attrs.get("n_missing", 0)),
                   "qc": int(o.attrs.get("n_rejected_qc", 0))}
        inside = (o.t_start >= period[0]) & (o.t_end <= period[1])
        dropped["outside_period"] = int(np.count_nonzero(~inside))
        o = o.subset(inside)
        dropped["other"] = n - len(o) - sum(dropped.values())   # what the reader did not name
        tally.files += 1
        tally.read += n
        tally.kept += len(o)
        for reason, k in dropped.items():
            tally.drop(reason, max(k, 0))
        parts.append(o)
    return parts[0] if len(parts) == 1 else concatenate_observations(parts)


def _per_file(call, counts: dict[str, str], desc: str, files, period, tally, progress,
              read_key: str | None = None) -> ObservationSet:
    """Run a reader that reports its counts in ``attrs`` once per file (progress over files),
    cut the run period and fill the tally: ``counts`` maps the reader's ``n_*`` attributes
    to drop reasons; ``read_key`` is the attribute counting the records met (default: one
    record per file)."""
    import logging as _logging
    from ._progress import progress as progress_bar

    class _Quiet(_logging.Filter):       # the tally reports what the per-file warnings say
        def filter(self, record):
            return record.levelno < _logging.WARNING

    quiet = _Quiet()
    loggers = [_logging.getLogger(f"tccas.readers.{n}")
               for n in ("smos", "troposif", "jrctip", "biomass")]
    parts = []
    for f in progress_bar(files, total=len(files), desc=desc, enabled=progress,
                          unit="file"):
        for lg in loggers:
            lg.addFilter(quiet)
        try:
            o = call(f)
        finally:
            for lg in loggers:
                lg.removeFilter(quiet)
        n = int(o.attrs.get(read_key, 0)) if read_key else 1
        dropped = {reason: int(o.attrs.get(key, 0)) for key, reason in counts.items()}
        inside = (o.t_start >= period[0]) & (o.t_end <= period[1])
        dropped["outside_period"] = int(np.count_nonzero(~inside))
        o = o.subset(inside)
        tally.files += 1
        tally.read += n
        tally.kept += len(o)
        for reason, k in dropped.items():
            tally.drop(reason, k)
        tally.drop("other", n - len(o) - sum(dropped.values()))
        parts.append(o)
    return parts[0] if len(parts) == 1 else concatenate_observations(parts)


def _read_smos_ic(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                  **options):
    from .readers.smos import read_smos_ic
    counts = {"n_outside_grid": "outside_grid", "n_missing": "no_retrieval",
              "n_quality": "quality_flag", "n_rmse": "rmse", "n_scene_flags": "scene_flags",
              "n_frozen": "frozen", "n_out_of_range": "out_of_range"}
    return _per_file(lambda f: read_smos_ic(f, lat, lon, footprint, stream=stream, **options),
                     counts, f"SMOS-IC {stream}", files, period, tally, progress)


def _read_troposif(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                   **options):
    from .readers.troposif import read_troposif
    counts = {"n_outside_pixel": "outside_footprint", "n_invalid": "invalid",
              "n_cloudy": "cloudy"}
    return _per_file(lambda f: read_troposif(f, lat, lon, footprint, **options), counts,
                     "TROPOSIF", files, period, tally, progress, read_key="n_near")


def _read_jrc_tip(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                  **options):
    from .readers.jrctip import read_jrc_tip
    counts = {"n_missing": "no_retrieval", "n_invalid": "out_of_range",
              "n_rejected_flag": "flag"}
    return _per_file(lambda f: read_jrc_tip(f, lat, lon, footprint, **options), counts,
                     "JRC-TIP", files, period, tally, progress, read_key="n_records")


def _read_cci_biomass(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                      **options):
    from .readers.biomass import read_cci_biomass
    counts = {"n_insufficient": "too_few_valid_pixels"}
    return _per_file(lambda f: read_cci_biomass(f, lat, lon, footprint, **options), counts,
                     "CCI Biomass", files, period, tally, progress, read_key="n_records")


def _read_ascat(files, lat, lon, footprint, stream, period, tally, progress, cfg,
                **options):
    from .readers.ascat import read_ascat_obs
    return read_ascat_obs(files, lat, lon, footprint, stream=stream, period=period,
                          tally=tally, progress=progress, **options)


PRODUCTS: dict[str, Product] = {
    "smos-l2": Product("smos-l2", "ESA SMOS L2 soil moisture (MIR_SMUDP2 v700)", ("sm", "vod"),
                       ("*MIR_SMUDP2*.nc",), _read_smos_l2),
    "cci-sm": Product("cci-sm", "ESA CCI / C3S soil moisture daily images", ("sm",),
                      ("ESACCI-SOILMOISTURE-*.nc", "C3S-SOILMOISTURE-*.nc"), _read_cci_sm),
    "smos-ic": Product("smos-ic", "SMOS-IC daily images (INRAE-CESBIO, EASE-2 25 km)",
                       ("sm", "vod"), ("SM_*_MIR_CDF3S*.nc",), _read_smos_ic),
    "troposif": Product("troposif", "TROPOSIF L2B daily files (TROPOMI SIF 743 nm)", ("sif",),
                        ("TROPOSIF_L2B_*.nc",), _read_troposif),
    "jrc-tip": Product("jrc-tip", "JRC-TIP FAPAR (C3S LAI/fAPAR, QA4ECV TIP)", ("fapar",),
                       ("*FAPAR*.nc", "*fapar*.nc", "*TIP*.nc"), _read_jrc_tip),
    "cci-biomass": Product("cci-biomass", "ESA CCI Biomass above-ground biomass maps",
                           ("agb",), ("ESACCI-BIOMASS-*.nc",), _read_cci_biomass),
    "ascat": Product("ascat", "ASCAT sigma40 and slope (EUMETSAT L2 SSM swath; H SAF H121, "
                     "H129, H122)", ("sigma40", "slope"),
                     ("*ASCAT*ssm_l2*.nc", "ASCAT_*L2_SSM*.nc", "*SSM-ASCAT-METOP*.nc",
                      "ascat_ssm_*.nc"), _read_ascat),
    "fluxnet": Product("fluxnet", "FLUXNET2015 / ICOS tower fluxes (FLUXNET CSV)",
                       ("nee", "gpp", "le"), ("FLX_*.csv", "ICOSETC_*.csv"), _read_fluxnet,
                       fallback="*.csv"),
}


@dataclass(frozen=True)
class BuildResult:
    """What :func:`build_observations` did.

    Attributes
    ----------
    config : pathlib.Path
        The configuration file that was updated.
    product : str
        Product key.
    site : SiteFootprint
        The site and the PFT fractions the observations were given.
    files : dict
        Stream -> observation file written.
    tallies : dict
        Stream -> :class:`tccas.readers.Tally` of the records read, kept and dropped.
    summary : str
        The text the command prints.
    """

    config: Path
    product: str
    site: SiteFootprint
    files: dict[str, Path] = field(default_factory=dict)
    tallies: dict[str, Tally] = field(default_factory=dict)
    summary: str = ""


def find_product_files(sources: Sequence[str | os.PathLike], product: str) -> list[Path]:
    """The product files among ``sources`` (files, or folders searched recursively).

    In a folder, the files whose names match the product's patterns are taken; when none
    does, every file matching its fallback pattern (``*.nc``, ``*.csv`` for FLUXNET) is, so
    that a renamed file still works and a file of another product gets the reader's error
    naming it. Files given directly are always taken.

    Raises
    ------
    ConfigError
        Unknown product.
    InputDataError
        A source does not exist, or no netCDF file is found.
    """
    spec = _product(product)
    out: list[Path] = []
    for src in sources:
        p = Path(src)
        if p.is_dir():
            found = sorted({f for pat in spec.patterns for f in p.rglob(pat) if f.is_file()})
            if not found:
                found = sorted(f for f in p.rglob(spec.fallback) if f.is_file())
            if not found:
                raise InputDataError(f"{p}: no {spec.key} file ({', '.join(spec.patterns)} or "
                                     f"{spec.fallback}) in this folder")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InputDataError(f"{p}: no such file or folder")
    if not out:
        raise InputDataError("no product file given")
    seen, files = set(), []
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            files.append(f)
    return files


def build_observations(config: str | os.PathLike, product: str,
                       sources: Sequence[str | os.PathLike], *, replace: bool = False,
                       output_dir: str | os.PathLike | None = None,
                       progress: bool | None = None, **options) -> BuildResult:
    """Build the observation sets of a case from product files and add them to its config.

    Parameters
    ----------
    config : str or os.PathLike
        TOML configuration file of the case (not a bundled case name: it is edited).
    product : str
        A key of :data:`PRODUCTS` (``smos-l2``, ``cci-sm``).
    sources : sequence of str or os.PathLike
        Product files, or folders searched recursively for them.
    replace : bool, default False
        Replace the files the configuration lists for a stream instead of adding to them.
    output_dir : str, os.PathLike or None
        Where the observation files go; default ``obs/`` beside the configuration.
    progress : bool or None
        Progress bar over the files (None: when stderr is a terminal).
    **options
        Passed to the product's reader (e.g. ``select="all"`` or ``chi2p_min`` for
        ``smos-l2``, ``accept_flags`` for ``cci-sm``, ``utc_offset_hours`` or ``qc_max`` for
        ``fluxnet``).

    Returns
    -------
    BuildResult

    Raises
    ------
    ConfigError
        Unknown product, bundled case name, invalid configuration or reader options.
    InputDataError
        A source or product file is missing, truncated or of another product; no file has a
        record touching the site; or nothing passes the screening. Nothing is written then.
    """
    from .config import read_config, set_observations_in_file
    spec = _product(product)
    cfg_path = Path(config)
    if cfg_path.suffix.lower() != ".toml" or not cfg_path.is_file():
        raise ConfigError(f"{config}: give the case's TOML configuration file (a bundled case "
                          "is written out first with tccas copy-case NAME DIR)")
    cfg = read_config(cfg_path)
    site = site_footprint(cfg.site.static)
    period = (np.datetime64(cfg.run.start, "s"),
              np.datetime64(cfg.run.end + _dt.timedelta(days=1), "s"))
    files = find_product_files(sources, product)
    where = ", ".join(str(s) for s in sources)
    out_dir = Path(output_dir) if output_dir is not None else cfg_path.parent / "obs"

    sets: dict[str, ObservationSet] = {}
    tallies: dict[str, Tally] = {}
    for stream in spec.streams:
        tally = Tally()
        sets[stream] = spec.read(files, site.lat, site.lon, site.as_dict(), stream, period,
                                 tally, progress, cfg, **options)
        tallies[stream] = tally
    touching = max(t.read - t.dropped.get("outside_footprint", 0)
                   - t.dropped.get("outside_grid", 0) for t in tallies.values())
    site_text = (f"site {site.name} ({abs(site.lat):.4f} {'N' if site.lat >= 0 else 'S'}, "
                 f"{abs(site.lon):.4f} {'E' if site.lon >= 0 else 'W'})")
    if touching == 0:
        raise InputDataError(f"{where}: none of the {len(files)} {spec.key} file(s) has a "
                             f"record whose footprint touches the {site_text}")
    if all(len(o) == 0 for o in sets.values()):
        reasons = "; ".join(f"{s}: {t.summary()}" for s, t in tallies.items())
        raise InputDataError(f"{where}: no {spec.key} record over the {site_text} passed the "
                             f"screening and the run period {cfg.run.start} to {cfg.run.end} "
                             f"({reasons})")

    raw = tomllib.loads(cfg_path.read_text())
    listed = raw.get("observations", {})
    history = (f"{_dt.datetime.now(_dt.timezone.utc).isoformat(timespec='seconds')} "
               f"tccas obs build {cfg_path.name} --product {spec.key}")
    staged: list[tuple[Path, Path]] = []
    entries: dict[str, list[str]] = {}
    written: dict[str, Path] = {}
    try:
        for stream, obs in sets.items():
            if len(obs) == 0:
                continue
            final = out_dir / f"{stream}_{spec.key}.nc"
            out_dir.mkdir(parents=True, exist_ok=True)
            tmp = out_dir / f".{final.name}.part"
            write_obs(tmp, obs, attrs={"history": history, "site_name": site.name,
                                       "tccas_product": spec.key,
                                       "footprint_pft_fractions": _fractions_text(site)},
                      lat=site.lat, lon=site.lon)
            staged.append((tmp, final))
            written[stream] = final
            entries[stream] = _listed_files(listed.get(stream), cfg_path.parent, final,
                                            replace)
        set_observations_in_file(cfg_path, {s: (v[0] if len(v) == 1 else v)
                                            for s, v in entries.items()})
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            if tmp.exists():
                tmp.unlink()

    lines = [f"tccas obs build: {spec.title} for the {site_text}, {cfg.run.start} to "
             f"{cfg.run.end}; footprint PFT fractions {_fractions_text(site)}"]
    for stream, tally in tallies.items():
        target = (f"wrote {written[stream]}" if stream in written
                  else "nothing kept, no file written")
        stale = out_dir / f"{stream}_{spec.key}.nc"
        if stream not in written and stale.exists():
            target += f" ({stale} of an earlier build is left as it was)"
        lines.append(f"  {stream}: {tally.summary()}; {target}")
    if written:
        lines.append(f"  added to [observations] of {cfg_path}: "
                     + ", ".join(f"{s} = {entries[s]}" for s in written))
    return BuildResult(cfg_path, spec.key, site, written, tallies, "\n".join(lines) + "\n")


def concatenate_observations(sets: Iterable[ObservationSet]) -> ObservationSet:
    """Join observation sets of one stream into one, sorted by time.

    The footprint columns are the union of the sets' PFT codes (a set without a PFT gets
    fraction 0 for it); ``source`` lists the sets' sources; the attributes are those of the
    first set plus ``source_sets``. Raises InputDataError when the streams differ.
    """
    sets = list(sets)
    if not sets:
        raise InputDataError("no observation set to concatenate")
    stream = sets[0].stream
    for o in sets[1:]:
        if o.stream != stream:
            raise InputDataError(f"{o.source}: holds stream '{o.stream}', cannot be joined to "
                                 f"stream '{stream}' of {sets[0].source}")
    pft = tuple(sorted({c for o in sets for c in o.pft}))
    fp = np.concatenate([o.footprint_for(pft) for o in sets], axis=0)
    cat = lambda name: np.concatenate([getattr(o, name) for o in sets])  # noqa: E731
    t0 = cat("t_start")
    order = np.argsort(t0, kind="stable")
    attrs = dict(sets[0].attrs)
    attrs["source_sets"] = "; ".join(str(o.source) for o in sets)
    out = ObservationSet(stream, t0[order], cat("t_end")[order], cat("value")[order],
                         cat("sigma")[order], cat("qc")[order], pft, fp[order],
                         cat("angle")[order], "; ".join(str(o.source) for o in sets), attrs)
    out.validate()
    return out


# ---- internals --------------------------------------------------------------------------------

def _product(product: str) -> Product:
    if product not in PRODUCTS:
        raise ConfigError(f"unknown product {product!r} (known: {', '.join(PRODUCTS)})")
    return PRODUCTS[product]


def _fractions_text(site: SiteFootprint) -> str:
    from .parameters import PFT_NAMES
    return ", ".join(f"{PFT_NAMES[c]} ({c}) {f:.3f}" for c, f in zip(site.pft, site.fraction))


def _listed_files(current, base: Path, new: Path, replace: bool) -> list[str]:
    """The file names a stream lists after adding ``new`` (relative to ``base`` if inside)."""
    try:
        rel = new.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        rel = str(new.resolve())
    if replace or current is None:
        return [rel]
    names = [current] if isinstance(current, str) else [str(c) for c in current]

    def resolved(name: str) -> Path:
        q = Path(os.path.expanduser(name))
        return (q if q.is_absolute() else base / q).resolve()

    if any(resolved(n) == new.resolve() for n in names):
        return names
    return names + [rel]
