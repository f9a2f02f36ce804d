"""Bundled cases: small, attributed input sets shipped inside the package."""
from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from .config import Config, read_config
from .errors import ConfigError


def _root() -> Path:
    root = Path(str(resources.files("tccas") / "data" / "cases"))
    if not root.is_dir():
        # an editable (meson-python) install's loader has no file-system path: the package
        # data then sit beside this module
        root = Path(__file__).resolve().parent / "data" / "cases"
    return root


def list_cases() -> list[str]:
    """Names of the bundled cases."""
    root = _root()
    return sorted(p.name for p in root.iterdir() if (p / "config.toml").exists())


def case_dir(name: str) -> Path:
    d = _root() / name
    if not (d / "config.toml").exists():
        raise ConfigError(f"no bundled case named '{name}' (bundled: {', '.join(list_cases())})")
    return d


def load_config(path_or_case: str | os.PathLike) -> Config:
    """Read a TOML configuration file, or the configuration of a bundled case by name."""
    p = Path(path_or_case)
    if p.suffix.lower() == ".toml" or p.exists():
        return read_config(p)
    return read_config(case_dir(str(path_or_case)) / "config.toml")


def copy_case(name: str, target: str | os.PathLike) -> Path:
    """Write a bundled case out as editable files into ``target`` (which must not exist)."""
    src = case_dir(name)
    target = Path(target)
    if target.exists() and any(target.iterdir()):
        raise ConfigError(f"{target}: exists and is not empty; choose a new folder")
    shutil.copytree(src, target, dirs_exist_ok=True)
    return target
