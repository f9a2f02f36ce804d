"""tccas: the D&B terrestrial biosphere model (DALEC + BETHY) and the TCCAS
variational data-assimilation system.

Public API::

    cfg = tccas.load_config("ES-LM1")          # bundled case, or a TOML path
    result = tccas.run(cfg, output_dir="out")   # writes daily.nc, hourly.nc, summary.txt
"""
from __future__ import annotations

__version__ = "0.1.0"

from .cases import copy_case, list_cases, load_config
from .config import Config
from .errors import ConfigError, InputDataError, ModelError, TccasError
from ._workflow import RunResult, run

__all__ = [
    "Config", "ConfigError", "InputDataError", "ModelError", "RunResult", "TccasError",
    "copy_case", "list_cases", "load_config", "run", "__version__",
]
