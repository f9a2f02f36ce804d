"""Bundled cases: small, attributed input sets shipped inside the package."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .config import Config, read_config
from .errors import ConfigError


# a case holding this file ships the recipe of its forcing instead of the forcing
_RECIPE = "forcing_recipe.json"


def _root() -> Path:
    # the data folder sits beside this module, installed or in an editable install (where
    # importlib.resources gives a loader object, not a path)
    return Path(__file__).resolve().parent / "data" / "cases"


def list_cases() -> list[str]:
    """Names of the bundled cases."""
    root = _root()
    return sorted(p.name for p in root.iterdir() if (p / "config.toml").exists())


def case_description(name: str) -> str:
    """First line of a bundled case's README (its title), without the Markdown heading."""
    readme = case_dir(name) / "README.md"
    if not readme.exists():
        return ""
    first = readme.read_text().splitlines()[0] if readme.read_text() else ""
    return first.lstrip("#").strip()


def case_dir(name: str) -> Path:
    d = _root() / name
    if not (d / "config.toml").exists():
        raise ConfigError(f"no bundled case named '{name}' (bundled: {', '.join(list_cases())})")
    return d


def load_config(path_or_case: str | os.PathLike) -> Config:
    """Read a TOML configuration file, or the configuration of a bundled case by name."""
    if not isinstance(path_or_case, (str, os.PathLike)):
        raise ConfigError(f"load_config takes a TOML file path or a bundled case name "
                          f"({', '.join(list_cases())}), got {path_or_case!r}")
    p = Path(path_or_case)
    if p.suffix.lower() == ".toml" or p.exists():
        return read_config(p)
    d = case_dir(str(path_or_case))
    cfg = read_config(d / "config.toml")
    if (d / _RECIPE).exists() and cfg.region is not None:
        # a bundled regional case ships the recipe of its forcing, not the forcing: it is
        # materialised on first use into the user cache (tccas.regional.lapland)
        from dataclasses import replace

        from .regional.lapland import cached_forcing
        cfg = replace(cfg, region=replace(cfg.region, forcing=cached_forcing(d)))
    return cfg


def copy_case(name: str, target: str | os.PathLike, observations: bool = True) -> Path:
    """Write a bundled case out as editable files into ``target`` (which must not exist or
    be empty). ``observations=False`` leaves out the observation files and the
    ``[observations]`` and ``[assimilation]`` tables of its configuration."""
    src = case_dir(name)
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target}: exists and is not empty; choose a new folder")
    ignore = None if observations else shutil.ignore_patterns("obs")
    shutil.copytree(src, target, dirs_exist_ok=True, ignore=ignore)
    if (src / _RECIPE).exists():
        # the forcing of a case that ships its recipe: from the cache (made if needed)
        from .regional.lapland import cached_forcing
        shutil.copyfile(cached_forcing(src), target / "forcing.nc")
    if not observations:
        cfg = target / "config.toml"
        keep, skip = [], False
        for line in cfg.read_text().splitlines():
            header = line.strip().startswith("[") and not line.strip().startswith("[[")
            if header:
                skip = line.strip().split("#")[0].strip() in ("[observations]",
                                                               "[assimilation]")
            if not skip:
                keep.append(line)
        cfg.write_text("\n".join(keep) + "\n")
        read_config(cfg)
    return target
