"""tccas: the D&B terrestrial biosphere model (DALEC + BETHY) and the TCCAS
variational data-assimilation system.

Public API::

    cfg = tccas.load_config("ES-LM1")          # bundled case, or a TOML path
    result = tccas.run(cfg, output_dir="out")   # writes daily.nc, hourly.nc, summary.txt
    res = tccas.assimilate(cfg, output_dir="assim")   # L-BFGS-B, posterior, validation
"""
from __future__ import annotations

__version__ = "0.1.0"

from .cases import copy_case, list_cases, load_config
from .config import Config
from .errors import ConfigError, InputDataError, ModelError, TccasError
from .workflow import RunResult, run


def assimilate(config, output_dir=None, resume: bool = False, progress: bool | None = None,
               **kwargs):
    """Variational assimilation of a configuration's [assimilation] table; see
    :func:`tccas.da.assimilate` (imported lazily: it loads scipy)."""
    from .da.workflow import assimilate as _assimilate
    return _assimilate(config, output_dir=output_dir, resume=resume, progress=progress,
                       **kwargs)


def __getattr__(name: str):
    if name == "CellModel":
        from .model import CellModel
        return CellModel
    raise AttributeError(f"module 'tccas' has no attribute '{name}'")

__all__ = [
    "CellModel", "Config", "ConfigError", "InputDataError", "ModelError", "RunResult", "TccasError",
    "assimilate", "copy_case", "list_cases", "load_config", "run", "__version__",
]
