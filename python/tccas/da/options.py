"""Check the [assimilation] options against the data before any model run ("check, then
compute"): which observations enter the cost, and their total data uncertainty."""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np

from ..config import AssimilationConfig, Config
from ..errors import ConfigError

__all__ = ["AssimilationPlan", "plan_assimilation", "total_sigma", "window_bounds"]


def window_bounds(a: AssimilationConfig) -> tuple[np.datetime64, np.datetime64]:
    """[start, end) of the window as datetime64[s] (``end`` is an inclusive date)."""
    return (np.datetime64(a.start, "s"),
            np.datetime64(a.end + _dt.timedelta(days=1), "s"))


def total_sigma(sigma: np.ndarray, factor: float = 1.0, model_error: float = 0.0
                ) -> np.ndarray:
    """Total data uncertainty sqrt((factor * sigma)**2 + model_error**2)."""
    return np.sqrt((factor * np.asarray(sigma, dtype=float)) ** 2 + model_error ** 2)


@dataclass(frozen=True)
class AssimilationPlan:
    """Per observation set (in the order given): mask of the observations that enter the
    cost, and the total data uncertainty of every observation of the set."""

    options: AssimilationConfig
    window: tuple[np.datetime64, np.datetime64]
    assimilated: list          # boolean mask per set
    sigma_total: list          # per set

    def counts(self, sets) -> dict:
        return {o.stream: int(m.sum()) for o, m in zip(sets, self.assimilated)}


def plan_assimilation(cfg: Config, sets) -> AssimilationPlan:
    """Select the assimilated observations of ``sets`` (ObservationSets of the run).

    Raises ConfigError naming the key when the configuration has no [assimilation] table,
    or when an assimilated stream has no observation inside the window (empty window).
    """
    where = f"{cfg.path or cfg.site.name}: [assimilation]"
    a = cfg.assimilation
    if a is None:
        raise ConfigError(f"{cfg.path or cfg.site.name}: no [assimilation] table: name the "
                          "window and the streams to assimilate (see tccas.config)")
    t0, t1 = window_bounds(a)
    masks, sigmas = [], []
    present = {o.stream for o in sets}
    for s in a.streams:
        if s not in present:
            raise ConfigError(f"{where} streams: '{s}' has no observation set in the run")
    for o in sets:
        if o.stream in a.streams:
            m = (o.t_start >= t0) & (o.t_end <= t1)
            if not m.any():
                raise ConfigError(f"{where} start/end: stream '{o.stream}' has no observation "
                                  f"inside the window {a.start} to {a.end} (empty window)")
            f = a.sigma_factor.get(o.stream, 1.0)
            e = a.model_error.get(o.stream, 0.0)
        else:
            m = np.zeros(len(o), dtype=bool)
            f, e = 1.0, 0.0
        masks.append(m)
        sigmas.append(total_sigma(o.sigma, f, e))
    return AssimilationPlan(a, (t0, t1), masks, sigmas)
