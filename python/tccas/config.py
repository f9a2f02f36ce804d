"""TOML configuration -> frozen, validated dataclasses.

A configuration names the site files, the simulation period, spin-up and parameter values::

    [site]
    name = "ES-LM1"
    static = "static.nc"          # relative paths are relative to the config file
    forcing = "forcing.nc"        # CF netCDF, or a FLUXNET2015/ICOS CSV file
    # forcing_format = "fluxnet"  # and then utc_offset_hours = 1

    [run]
    start = 2015-01-01
    end = 2021-12-31              # inclusive
    spinup_hours = 17520          # cycles the forcing from its start (TCCAS: 2 years)
    hourly_output = true
    carbon_spinup = "equilibrium" # initial carbon pools at the model's own equilibrium
                                  # (default "prescribed": the c_*0 parameters as given)

    [parameters]                  # optional overrides of the parameter table
    vcmax25 = { TmEv = 4.1e-5, C3Gr = 4.2e-5 }
    c_w = 0.5

    [observations]                # observation sets (CF netCDF, one file per stream,
    sif = "obs/sif.nc"            # or a list of files concatenated when loaded)
    sm = ["obs/sm_smos-l2.nc", "obs/sm_cci-sm.nc"]

    [control]                     # the control vector (default: TCCAS's 56 elements)
    parameters = ["vcmax25", "c_w"]   # or a table: vcmax25 = ["TmEv"], c_w = true
    sigma_rel = { c_w = 0.3 }         # prior sigma as a fraction of the prior value
    adjoint_memory_mb = 500           # adjoint tape budget; longer runs are checkpointed

    [assimilation]                # tccas assimilate (see tccas.da and docs/assimilation.md)
    start = 2017-01-01            # assimilation window, inclusive dates inside [run]
    end = 2021-12-31
    streams = ["sif", "vod", "sm"]    # assimilated; every other observation set validates
    sigma_factor = { vod = 1.0 }      # per stream: observation sigma multiplied by this
    model_error = { vod = 0.1 }       # per stream, stream units, added in quadrature, or
                                  # "prior": from the prior's misfit (tccas.da.options)
    max_iterations = 50               # L-BFGS-B iterations
    pgtol_reduction = 1e-4            # stop when |projected gradient| < this * its prior value
    ftol = 1e-7                       # stop when the relative cost change is below this
    memory = 10                       # L-BFGS correction pairs
    workers = 0                       # processes for the posterior Hessian (0: all cores)
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError
from .parameters import PARAMETERS, PFT_NAMES

#: values of [run] carbon_spinup: "prescribed" starts the carbon pools at the parameters c_*0,
#: "equilibrium" computes them (tccas.spinup) before the run
CARBON_SPINUP = ("prescribed", "equilibrium")

_SECTIONS = {
    "site": {"name", "static", "forcing", "forcing_format", "utc_offset_hours"},
    "run": {"start", "end", "spinup_hours", "hourly_output", "carbon_spinup"},
    "parameters": None,
    "observations": None,
    "control": {"parameters", "sigma_rel", "adjoint_memory_mb"},
    "assimilation": {"start", "end", "streams", "sigma_factor", "model_error", "max_iterations",
                     "pgtol_reduction", "ftol", "memory", "workers"},
    "region": {"name", "domain", "forcing", "engine", "workers", "batch_size", "pools",
               "engine_options"},
}


@dataclass(frozen=True)
class SiteConfig:
    name: str
    static: Path
    forcing: Path
    forcing_format: str = "netcdf"
    utc_offset_hours: float | None = None


@dataclass(frozen=True)
class RunConfig:
    start: _dt.date
    end: _dt.date
    spinup_hours: int = 17520
    hourly_output: bool = True
    carbon_spinup: str = "prescribed"


@dataclass(frozen=True)
class RegionConfig:
    """``[region]``: a regional run over the cells of a domain file (tccas.regional)."""

    name: str
    domain: Path                  # CF netCDF: pft_fraction(pft, lat, lon), sand, clay, ...
    forcing: Path                 # gridded hourly forcing on (time, lat, lon)
    engine: str = "processes"     # processes | serial | dask | mpi
    workers: int | None = None    # None: every core
    batch_size: int = 4           # cells per task
    pools: str = "pft"            # initial carbon pools per "pft" or per "cell"
    engine_options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    path: Path | None
    site: SiteConfig
    run: RunConfig
    parameters: Mapping[str, Any] = field(default_factory=dict)
    observations: Mapping[str, Path | tuple[Path, ...]] = field(default_factory=dict)
    control: Any = None                 # None (default control vector), list or mapping
    control_sigma_rel: Mapping[str, float] = field(default_factory=dict)
    adjoint_memory_mb: float | None = None   # None: tccas.model.DEFAULT_ADJOINT_MEMORY_MB
    assimilation: "AssimilationConfig | None" = None   # [assimilation], None when absent
    region: RegionConfig | None = None       # [region]: a regional run (site = the region)


@dataclass(frozen=True)
class AssimilationConfig:
    """The [assimilation] table: window, assimilated streams, data uncertainty and the
    stopping rules of the minimiser (defaults in brackets).

    start, end : assimilation window, inclusive dates inside the run [whole run].
    streams : observation streams that enter the cost; all others validate [all listed in
        [observations]].
    sigma_factor : per stream, factor on the observation sigma [1].
    model_error : per stream, model error (stream units) added in quadrature [0], or the
        string "prior": estimated from the prior run's misfit to that stream
        (:func:`tccas.da.prior_model_error`); ``model_error = "prior"`` sets it for every
        assimilated stream.
    max_iterations [100], pgtol_reduction [1e-4], ftol [1e-7], memory [10] as in
        :func:`tccas.da.minimise`; workers : processes for the posterior Hessian [0 = all
        cores].
    """

    start: _dt.date
    end: _dt.date
    streams: tuple[str, ...]
    sigma_factor: Mapping[str, float] = field(default_factory=dict)
    model_error: Mapping[str, float | str] = field(default_factory=dict)
    max_iterations: int = 100
    pgtol_reduction: float = 1e-4
    ftol: float = 1e-7
    memory: int = 10
    workers: int = 0


def _assimilation_from_dict(a: Mapping[str, Any], run: RunConfig, observations: Mapping,
                            where: str) -> AssimilationConfig:
    """Check the [assimilation] table; each bad key raises a ConfigError naming it."""
    w = f"{where}: [assimilation]"
    start = _date(a["start"], f"{w} start") if "start" in a else run.start
    end = _date(a["end"], f"{w} end") if "end" in a else run.end
    if end < start:
        raise ConfigError(f"{w} end {end} is before start {start}: the window is empty")
    if start < run.start or end > run.end:
        raise ConfigError(f"{w} start/end: the window {start} to {end} is outside the run "
                          f"{run.start} to {run.end}")
    streams = a.get("streams", list(observations))
    if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
        raise ConfigError(f"{w} streams must be a list of stream names")
    if not streams:
        raise ConfigError(f"{w} streams is empty: name the observation streams to assimilate")
    for s in streams:
        if s not in observations:
            raise ConfigError(f"{w} streams: unknown stream '{s}' (not in [observations]: "
                              f"{', '.join(observations) or 'none'})")
    if len(set(streams)) != len(streams):
        raise ConfigError(f"{w} streams: a stream is listed twice")

    def per_stream(key: str, positive: bool, word: str | None = None) -> dict:
        table = a.get(key, {})
        if word is not None and table == word:
            return {s: word for s in streams}
        if not isinstance(table, Mapping):
            alt = f' or "{word}"' if word else ""
            raise ConfigError(f"{w} {key} must be a table of stream = number{alt}")
        out = {}
        for s, v in table.items():
            if s not in streams:
                raise ConfigError(f"{w} {key}: unknown stream '{s}' (assimilated: "
                                  f"{', '.join(streams)})")
            if word is not None and v == word:
                out[s] = word
                continue
            ok = (not isinstance(v, bool) and isinstance(v, (int, float))
                  and math.isfinite(v) and (v > 0 if positive else v >= 0))
            if not ok:
                alt = f' or "{word}"' if word else ""
                raise ConfigError(f"{w} {key} of '{s}' must be a "
                                  f"{'positive' if positive else 'non-negative'} number{alt}, "
                                  f"got {v!r}")
            out[s] = float(v)
        return out

    factor = per_stream("sigma_factor", True)
    model_error = per_stream("model_error", False, "prior")

    def number(key, default, kind, lo, hi):
        v = a.get(key, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                (kind is int and not isinstance(v, int)) or not (lo <= v <= hi):
            raise ConfigError(f"{w} {key} must be {'an integer' if kind is int else 'a number'}"
                              f" in [{lo:g}, {hi:g}], got {v!r}")
        return kind(v)

    return AssimilationConfig(
        start=start, end=end, streams=tuple(streams), sigma_factor=factor,
        model_error=model_error,
        max_iterations=number("max_iterations", 100, int, 0, 100000),
        pgtol_reduction=number("pgtol_reduction", 1e-4, float, 0.0, 1.0),
        ftol=number("ftol", 1e-7, float, 0.0, 1.0),
        memory=number("memory", 10, int, 1, 1000),
        workers=number("workers", 0, int, 0, 4096))


def _date(value: Any, where: str) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value)
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected a date like 2015-01-01, got {value!r}")


def config_from_dict(raw: Mapping[str, Any], base: Path | None = None,
                     where: str = "config") -> Config:
    """Validate a configuration mapping (as read from TOML)."""
    for sec in raw:
        if sec not in _SECTIONS:
            raise ConfigError(f"{where}: unknown section [{sec}] "
                              f"(known: {', '.join(sorted(_SECTIONS))})")
    for sec, keys in _SECTIONS.items():
        if keys is None:
            continue
        for k in raw.get(sec, {}):
            if k not in keys:
                raise ConfigError(f"{where}: unknown key '{k}' in [{sec}] "
                                  f"(known: {', '.join(sorted(keys))})")
    base = base or Path.cwd()
    region_cfg = _region(raw.get("region"), base, where) if "region" in raw else None
    site = raw.get("site")
    if not site and region_cfg is not None:
        # a regional config: the region stands in for the site
        site = {"name": region_cfg.name, "static": str(region_cfg.domain),
                "forcing": str(region_cfg.forcing)}
    if not site:
        raise ConfigError(f"{where}: missing section [site]")
    for k in ("static", "forcing"):
        if k not in site:
            raise ConfigError(f"{where}: missing key '{k}' in [site]")
    base = base or Path.cwd()

    def resolve(p: str) -> Path:
        q = Path(os.path.expanduser(str(p)))
        return q if q.is_absolute() else (base / q)

    fmt = str(site.get("forcing_format", "netcdf")).lower()
    if fmt not in ("netcdf", "fluxnet"):
        raise ConfigError(f"{where}: [site] forcing_format must be 'netcdf' or 'fluxnet', "
                          f"got '{fmt}'")
    utc = site.get("utc_offset_hours")
    if fmt == "fluxnet" and utc is None:
        raise ConfigError(f"{where}: [site] utc_offset_hours is required for FLUXNET CSV "
                          "forcing (FLUXNET timestamps are local standard time)")
    site_cfg = SiteConfig(name=str(site.get("name", "site")), static=resolve(site["static"]),
                          forcing=resolve(site["forcing"]), forcing_format=fmt,
                          utc_offset_hours=None if utc is None else float(utc))
    run = raw.get("run", {})
    for k in ("start", "end"):
        if k not in run:
            raise ConfigError(f"{where}: missing key '{k}' in [run]")
    start = _date(run["start"], f"{where}: [run] start")
    end = _date(run["end"], f"{where}: [run] end")
    if end < start:
        raise ConfigError(f"{where}: [run] end {end} is before start {start}")
    spin = run.get("spinup_hours", 17520)
    if not isinstance(spin, int) or spin < 0 or spin % 24:
        raise ConfigError(f"{where}: [run] spinup_hours must be a non-negative multiple of 24, "
                          f"got {spin!r}")
    hourly = run.get("hourly_output", True)
    if not isinstance(hourly, bool):
        raise ConfigError(f"{where}: [run] hourly_output must be true or false")
    carbon = run.get("carbon_spinup", "prescribed")
    if carbon not in CARBON_SPINUP:
        raise ConfigError(f"{where}: [run] carbon_spinup must be one of "
                          f"{', '.join(repr(c) for c in CARBON_SPINUP)}, got {carbon!r}")
    run_cfg = RunConfig(start=start, end=end, spinup_hours=spin, hourly_output=hourly,
                        carbon_spinup=carbon)
    params = dict(raw.get("parameters", {}))
    if carbon == "equilibrium":
        given = [n for n in params if n in ("c_lab0", "c_fol0", "c_root0", "c_wood0", "c_lit0",
                                            "c_som0")]
        if given:
            raise ConfigError(f"{where}: [parameters] sets {', '.join(given)} but [run] "
                              "carbon_spinup = \"equilibrium\" computes the initial carbon "
                              "pools; remove one or the other")
        if spin < 365 * 24:
            raise ConfigError(f"{where}: [run] carbon_spinup = \"equilibrium\" needs "
                              f"spinup_hours of at least a year (8760), got {spin}")
    short = set(PFT_NAMES.values())
    for name, value in params.items():
        if name not in PARAMETERS:
            raise ConfigError(f"{where}: [parameters] unknown parameter name '{name}'")
        values = value.values() if isinstance(value, Mapping) else [value]
        if isinstance(value, Mapping):
            if not PARAMETERS[name].per_pft:
                raise ConfigError(f"{where}: [parameters] '{name}' is a global parameter; "
                                  "give one number")
            for key in value:
                if str(key) not in short and not str(key).isdigit():
                    raise ConfigError(f"{where}: [parameters] '{name}': unknown PFT '{key}' "
                                      f"(use {', '.join(PFT_NAMES.values())} or codes 1-13)")
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{where}: [parameters] '{name}' must be a number, got {v!r}")
            p = PARAMETERS[name]
            if not p.lower <= float(v) <= p.upper:
                raise ConfigError(f"{where}: [parameters] '{name}' = {v} is outside its bounds "
                                  f"[{p.lower:g}, {p.upper:g}] {p.unit}")
    from .parameters import OBS_STREAMS
    known = [o[0] for o in OBS_STREAMS]
    observations = {}
    for stream, file in raw.get("observations", {}).items():
        if stream not in known:
            raise ConfigError(f"{where}: [observations] unknown stream '{stream}' "
                              f"(known: {', '.join(known)})")
        if isinstance(file, list) and file and all(isinstance(f, str) for f in file):
            # several files for one stream (e.g. SMOS L2 and CCI soil moisture), concatenated
            # when they are loaded (tccas.workflow.load_observations)
            observations[stream] = tuple(resolve(f) for f in file)
            continue
        if not isinstance(file, str):
            raise ConfigError(f"{where}: [observations] '{stream}' must be a file name or a "
                              "list of file names")
        observations[stream] = resolve(file)
    ctl = raw.get("control", {})
    control = ctl.get("parameters")
    if control is not None:
        names = control if isinstance(control, list) else list(control)
        if isinstance(control, list) and not all(isinstance(n, str) for n in control):
            raise ConfigError(f"{where}: [control] parameters must be a list of names or a table")
        for n in names:
            if n not in PARAMETERS:
                raise ConfigError(f"{where}: [control] unknown parameter name '{n}'")
        if not names:
            raise ConfigError(f"{where}: [control] parameters is empty")
    sigma_rel = dict(ctl.get("sigma_rel", {}))
    for n, v in sigma_rel.items():
        if n not in PARAMETERS:
            raise ConfigError(f"{where}: [control] sigma_rel: unknown parameter name '{n}'")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise ConfigError(f"{where}: [control] sigma_rel of '{n}' must be a positive number")
    memory = ctl.get("adjoint_memory_mb")
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, (int, float))
                               or not memory > 0 or memory == float("inf")):
        raise ConfigError(f"{where}: [control] adjoint_memory_mb must be a positive number "
                          f"(MB), got {memory!r}")
    assim = None
    if "assimilation" in raw:
        assim = _assimilation_from_dict(raw["assimilation"], run_cfg, observations, where)
    return Config(path=None, site=site_cfg, run=run_cfg, parameters=params,
                  observations=observations, control=control, control_sigma_rel=sigma_rel,
                  adjoint_memory_mb=None if memory is None else float(memory),
                  assimilation=assim, region=region_cfg)


def _region(reg: Any, base: Path, where: str) -> RegionConfig:
    """Validate the [region] table (keys checked against _SECTIONS before)."""
    from .regional.engines import ENGINES
    from .regional.model import POOL_MODES
    for k in ("domain", "forcing"):
        if k not in reg or not isinstance(reg[k], str):
            raise ConfigError(f"{where}: [region] needs '{k}' (a file name)")

    def resolve(p: str) -> Path:
        q = Path(os.path.expanduser(p))
        return q if q.is_absolute() else (base / q)

    engine = reg.get("engine", "processes")
    if engine not in ENGINES:
        raise ConfigError(f"{where}: [region] engine must be one of {', '.join(ENGINES)}, "
                          f"got {engine!r}")
    for k in ("workers", "batch_size"):
        v = reg.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ConfigError(f"{where}: [region] {k} must be a positive integer, got {v!r}")
    pools = reg.get("pools", "pft")
    if pools not in POOL_MODES:
        raise ConfigError(f"{where}: [region] pools must be one of "
                          f"{', '.join(repr(p) for p in POOL_MODES)}, got {pools!r}")
    opts = reg.get("engine_options", {})
    if not isinstance(opts, Mapping):
        raise ConfigError(f"{where}: [region] engine_options must be a table")
    if opts and engine != "dask":
        raise ConfigError(f"{where}: [region] engine_options are for engine 'dask' "
                          "(address, cluster, cluster_options, wait_s)")
    unknown = set(opts) - {"address", "cluster", "cluster_options", "wait_s"}
    if unknown:
        raise ConfigError(f"{where}: [region] engine_options: unknown keys {sorted(unknown)}")
    return RegionConfig(name=str(reg.get("name", "region")), domain=resolve(reg["domain"]),
                        forcing=resolve(reg["forcing"]), engine=engine,
                        workers=reg.get("workers"), batch_size=reg.get("batch_size", 4),
                        pools=pools, engine_options=dict(opts))


def read_config(path: str | os.PathLike) -> Config:
    """Read and validate a TOML configuration file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: configuration file not found")
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    cfg = config_from_dict(raw, base=path.resolve().parent, where=str(path))
    return dataclasses.replace(cfg, path=path)


def _set_table_entries(path: str | os.PathLike, table: str, entries: Mapping[str, str],
                       comment: str = "") -> Path:
    """Set keys of one table of a TOML configuration file by editing its text.

    ``entries`` maps a key to its whole new line. A line that set the key before is replaced
    in place (with the continuation lines of a list written over several lines); keys not
    in the table yet are added at its end, after ``comment``; the table is added at the end of
    the file when it has none. Other lines and comments are kept. The new text is checked with
    :func:`read_config` before it replaces the file (atomically), so a failure leaves the
    file as it was.
    """
    import re
    import tempfile
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: configuration file not found")
    lines = path.read_text().splitlines()
    header = re.compile(r"^\s*\[\s*" + re.escape(table) + r"\s*\]\s*(#.*)?$")
    any_header = re.compile(r"^\s*\[")
    start = next((i for i, ln in enumerate(lines) if header.match(ln)), None)
    if start is None:
        lines += ["", f"[{table}]"]
        start = len(lines) - 1
    stop = next((i for i in range(start + 1, len(lines)) if any_header.match(lines[i])),
                len(lines))
    keys = re.compile(r"^\s*(" + "|".join(re.escape(n) for n in entries) + r")\s*=\s*(.*)$")
    body, skipping, done = [], False, set()
    for ln in lines[start + 1:stop]:
        if skipping:                      # continuation lines of a multi-line list
            skipping = "]" not in ln.split("#")[0]
            continue
        m = keys.match(ln)
        if m:                             # the key's new line takes the old one's place
            value = m.group(2).split("#")[0]
            skipping = value.lstrip().startswith("[") and "]" not in value
            if m.group(1) not in done:
                body.append(entries[m.group(1)])
                done.add(m.group(1))
            continue
        body.append(ln)
    while body and not body[-1].strip():
        body.pop()
    new = [entries[k] for k in entries if k not in done]
    if new and comment:
        new.insert(0, f"# {comment}")
    tail = [""] if stop < len(lines) else []
    text = "\n".join(lines[:start + 1] + body + new + tail + lines[stop:]) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        read_config(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def set_parameters_in_file(path: str | os.PathLike, values: Mapping[str, Mapping[str, float]],
                           comment: str = "") -> Path:
    """Set PFT parameters in the ``[parameters]`` table of a TOML configuration file.

    ``values`` maps a parameter name to a mapping PFT short name -> value; each becomes one
    line ``name = { TmEv = ..., C3Gr = ... }``, replacing any line that set that parameter
    before. Other lines and comments are kept. The new file is checked with
    :func:`read_config` before it replaces the old one, so a failure leaves the file as it was.
    """
    entries = {}
    for name, per_pft in values.items():
        items = ", ".join(f"{pft} = {float(v):.6g}" for pft, v in per_pft.items())
        entries[name] = f"{name} = {{ {items} }}"
    return _set_table_entries(path, "parameters", entries, comment)


def set_observations_in_file(path: str | os.PathLike, files: Mapping[str, Any],
                             comment: str = "") -> Path:
    """Set streams of the ``[observations]`` table of a TOML configuration file.

    ``files`` maps a stream name to a file name (string, relative to the configuration
    file's folder or absolute) or to a list of file names; each becomes one line
    ``stream = "file"`` or ``stream = ["a", "b"]``, replacing the line(s) that set that stream
    before (a list written over several lines included). Other lines and comments are kept;
    the table is added at the end when the file has none. The new file is checked with
    :func:`read_config` before it replaces the old one, so a failure leaves the file as it was.
    """
    import json

    def entry(stream: str) -> str:
        value = files[stream]
        if isinstance(value, (str, os.PathLike)):
            return f"{stream} = {json.dumps(str(value))}"
        return f"{stream} = [{', '.join(json.dumps(str(v)) for v in value)}]"

    return _set_table_entries(path, "observations", {s: entry(s) for s in files}, comment)
