"""Check the [assimilation] options against the data before any model run ("check, then
compute"): which observations enter the cost, and their total data uncertainty."""
from __future__ import annotations

import dataclasses
import datetime as _dt
from dataclasses import dataclass, field

import numpy as np

from ..config import AssimilationConfig, Config
from ..errors import ConfigError

__all__ = ["AssimilationPlan", "PRIOR_MODEL_ERROR", "plan_assimilation", "prior_model_error",
           "resolve_model_error", "total_sigma", "window_bounds"]

# the [assimilation] model_error word that asks for the model error of a stream to be
# estimated from the prior run's misfit (prior_model_error)
PRIOR_MODEL_ERROR = "prior"


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
    # model error (stream units) of each assimilated stream, once known
    model_error: dict = field(default_factory=dict)
    # assimilated streams whose model error comes from the prior run (resolve_model_error);
    # their sigma_total holds the observation part only until then
    from_prior: tuple = ()

    def counts(self, sets) -> dict:
        return {o.stream: int(m.sum()) for o, m in zip(sets, self.assimilated)}

    def cost_arrays(self, sets) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What :class:`tccas.da.CostFunction` takes for the assimilated observations of
        ``sets`` (the sets the plan was made for, whose simulated equivalents are the first
        elements of the model's y, set after set): their positions in y, observed values,
        total sigma and stream names."""
        offsets = np.cumsum([0] + [len(o) for o in sets])
        idx = np.concatenate([np.arange(offsets[i], offsets[i + 1])[m]
                              for i, m in enumerate(self.assimilated)])
        d = np.concatenate([o.value[m] for o, m in zip(sets, self.assimilated)])
        s = np.concatenate([sg[m] for sg, m in zip(self.sigma_total, self.assimilated)])
        st = np.concatenate([np.full(int(m.sum()), o.stream)
                             for o, m in zip(sets, self.assimilated)])
        return idx, d, s, st


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
    masks, sigmas, errors = [], [], {}
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
            if e == PRIOR_MODEL_ERROR:
                e = 0.0
            else:
                errors[o.stream] = e
        else:
            m = np.zeros(len(o), dtype=bool)
            f, e = 1.0, 0.0
        masks.append(m)
        sigmas.append(total_sigma(o.sigma, f, e))
    pending = tuple(s for s in a.streams if a.model_error.get(s) == PRIOR_MODEL_ERROR)
    return AssimilationPlan(a, (t0, t1), masks, sigmas, errors, pending)


def prior_model_error(residual: np.ndarray, sigma: np.ndarray) -> float:
    """Model error of one stream from the prior run's misfit: the part of the mean squared
    prior-minus-observation difference that the observation errors do not explain,
    sqrt(max(0, mean(residual**2) - mean(sigma**2))).

    Added in quadrature to the observation errors it makes the stream's normalised prior
    misfit, mean((residual / sigma_total)**2), about 1 (exactly 1 when sigma is the same
    for every observation). This is how the ORCHIDEE flux-tower assimilations set their
    data uncertainty (Kuppel et al. 2012, Biogeosciences 9, 3757; Bastrikov et al. 2018,
    GMD 11, 4739: the prior model-data mean squared difference), here net of the
    observation errors the data provide.

    Parameters
    ----------
    residual : array
        Prior simulated minus observed value of each assimilated observation (stream units).
    sigma : array
        Their observation sigma after ``sigma_factor`` (stream units).
    """
    r = np.asarray(residual, dtype=float)
    s = np.asarray(sigma, dtype=float)
    if r.size == 0:
        return 0.0
    return float(np.sqrt(max(0.0, float(np.mean(r * r) - np.mean(s * s)))))


def resolve_model_error(plan: AssimilationPlan, sets, y_prior: np.ndarray
                        ) -> AssimilationPlan:
    """The plan with the model error of its ``from_prior`` streams estimated from the prior
    run (:func:`prior_model_error`) and their total sigma updated; a plan without such
    streams comes back unchanged.

    ``y_prior`` holds the prior simulated equivalents of ``sets``, set after set in their
    order (further elements, such as target pseudo-observations, are ignored). Raises
    ModelError when a residual is not finite."""
    from ..errors import ModelError
    if not plan.from_prior:
        return plan
    a = plan.options
    y_prior = np.asarray(y_prior, dtype=float)
    offsets = np.cumsum([0] + [len(o) for o in sets])
    errors = dict(plan.model_error)
    sigmas = list(plan.sigma_total)
    for i, (o, m) in enumerate(zip(sets, plan.assimilated)):
        if o.stream not in plan.from_prior:
            continue
        f = a.sigma_factor.get(o.stream, 1.0)
        r = y_prior[offsets[i]:offsets[i + 1]][m] - o.value[m]
        if not np.all(np.isfinite(r)):
            raise ModelError(f"the prior run gave non-finite simulated '{o.stream}' "
                             "observations: cannot estimate its model error")
        e = prior_model_error(r, f * o.sigma[m])
        errors[o.stream] = e
        sigmas[i] = total_sigma(o.sigma, f, e)
    return dataclasses.replace(plan, sigma_total=sigmas, model_error=errors, from_prior=())
