"""The TCCAS cost function and its gradient (science.md section 7b, docs/assimilation.md).

In the sigma-scaled control space x (p = p_prior + sigma_prior * x, so the prior covariance
is the identity)::

    J(x) = 1/2 (x - x0)'(x - x0) + 1/2 sum_streams sum_i ((y_i(x) - d_i) / s_i)**2

where y = H(M(p(x))) are the simulated observations, d the observed values and
s_i = sqrt((f_stream * sigma_i)**2 + e_stream**2) the total data uncertainty (observation
sigma times a per-stream factor, with a per-stream model error added in quadrature, as
TCCAS prints "total data uncertainty"). Only the observations selected for assimilation
enter J; the model may simulate more (validation streams, target quantities), which get a
zero weight. The gradient is x - x0 + J' ((y - d) / s**2).

A model that offers ``cost_and_gradient`` (:class:`tccas.model.CellModel`, the site path)
gives y and the data term's gradient from one taped run of the core (the adjoint's forward
sweep yields y, and the reverse sweep starts from the data term's adjoint seed 1). Other
models (the regional model, whose y sums over cells) take one forward run for y and one
adjoint run for the gradient, whose taped sweep recomputes the same y. Both give the same
y, parts and gradient (the core's test proves them equal).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelError

__all__ = ["CostFunction", "CostValue"]


@dataclass(frozen=True)
class CostValue:
    """One evaluation of the cost: total, prior term, data term per stream (all
    dimensionless) and the gradient with respect to x."""

    total: float
    prior: float
    parts: dict
    gradient: np.ndarray

    @property
    def data(self) -> float:
        return float(sum(self.parts.values()))


@dataclass
class CostFunction:
    """J(x) and its gradient for a model (a :class:`tccas.model.CellModel`).

    Parameters
    ----------
    model : object with ``forward(x)``, ``adjoint(x, dy)``, ``nx``, ``ny``, and optionally
        ``cost_and_gradient(x, index, observed, sigma) -> (j_obs, y, g)`` (one pass for the
        data term, its y and its gradient; used when present).
    index : (n,) positions in the model's y of the assimilated observations.
    observed : (n,) observed values d; sigma : (n,) total data uncertainty s (> 0).
    streams : (n,) stream name of each assimilated observation (for the parts of J).
    x0 : prior control vector (default zeros).
    use_fused : take the fused pass when the model offers one (default); False always runs
        a forward and an adjoint (the same values; for comparisons and tests).

    Counters: ``n_forward``/``t_forward`` count the separate forward runs (``value`` and the
    y of a forward+adjoint evaluation) and their wall time (s); ``n_adjoint``/``t_adjoint``
    count the gradient runs of the core, a fused one (``cost_and_gradient``: its taped
    forward sweep included, as in every adjoint run) or an adjoint after a forward run;
    ``n_fused`` counts the fused ones among them. So ``n_adjoint`` is the number of
    gradients, and a fused evaluation adds nothing to ``n_forward``.
    """

    model: object
    index: np.ndarray
    observed: np.ndarray
    sigma: np.ndarray
    streams: np.ndarray
    x0: np.ndarray | None = None
    use_fused: bool = True
    n_forward: int = 0
    n_adjoint: int = 0
    t_forward: float = 0.0
    t_adjoint: float = 0.0
    n_fused: int = 0
    _masks: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.index = np.asarray(self.index, dtype=np.int64)
        self.observed = np.asarray(self.observed, dtype=float)
        self.sigma = np.asarray(self.sigma, dtype=float)
        self.streams = np.asarray(self.streams)
        n = self.index.size
        for name in ("observed", "sigma", "streams"):
            if getattr(self, name).shape != (n,):
                raise ModelError(f"cost: '{name}' must have shape ({n},)")
        if n and (self.index.min() < 0 or self.index.max() >= self.model.ny):
            raise ModelError("cost: an observation index is outside the model's observations")
        if not np.all(np.isfinite(self.sigma) & (self.sigma > 0)):
            raise ModelError("cost: every total data uncertainty must be positive and finite")
        if not np.all(np.isfinite(self.observed)):
            raise ModelError("cost: an observed value is NaN or infinite")
        if self.x0 is None:
            self.x0 = np.zeros(self.model.nx)
        self._masks = {s: self.streams == s for s in dict.fromkeys(self.streams.tolist())}

    @property
    def stream_names(self) -> tuple[str, ...]:
        return tuple(self._masks)

    def residual(self, y: np.ndarray) -> np.ndarray:
        """Normalised misfit (y - d) / s of the assimilated observations."""
        return (y[self.index] - self.observed) / self.sigma

    def parts(self, y: np.ndarray) -> dict:
        """Data term per stream, 1/2 sum r**2."""
        r2 = self.residual(y) ** 2
        return {s: 0.5 * float(r2[m].sum()) for s, m in self._masks.items()}

    def prior_term(self, x: np.ndarray) -> float:
        d = np.asarray(x, dtype=float) - self.x0
        return 0.5 * float(d @ d)

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = time.perf_counter()
        y = self.model.forward(x)
        self.t_forward += time.perf_counter() - t
        self.n_forward += 1
        if not np.all(np.isfinite(y)):
            raise ModelError("the model gave NaN or infinite simulated observations")
        return y

    def value(self, x: np.ndarray) -> float:
        """J(x) from one forward run (no gradient)."""
        y = self.forward(x)
        return self.prior_term(x) + sum(self.parts(y).values())

    @property
    def fused(self) -> bool:
        """Whether an evaluation takes one fused run of the core (the model has
        ``cost_and_gradient`` and ``use_fused`` is true) rather than a forward and an
        adjoint run."""
        return self.use_fused and callable(getattr(self.model, "cost_and_gradient", None))

    def __call__(self, x: np.ndarray) -> CostValue:
        """J(x), its parts and gradient: one fused run of the core where the model offers
        it, one forward and one adjoint run otherwise."""
        x = np.asarray(x, dtype=float)
        if self.fused:
            t = time.perf_counter()
            j_obs, y, g = self.model.cost_and_gradient(x, self.index, self.observed,
                                                       self.sigma)
            self.t_adjoint += time.perf_counter() - t
            self.n_adjoint += 1
            self.n_fused += 1
            if not np.all(np.isfinite(y)):
                raise ModelError("the model gave NaN or infinite simulated observations")
            r = self.residual(y)
            # J's parts come from y as on the other path (so J is the same to the last bit);
            # the core's own sum of the same terms differs only by rounding
            data = 0.5 * float(r @ r)
            if abs(j_obs - data) > 1e-9 * max(data, abs(j_obs)):
                raise ModelError(f"the core's data term {j_obs!r} disagrees with the one from "
                                 f"its simulated observations {data!r}")
        else:
            y = self.forward(x)
            r = self.residual(y)
            dy = np.zeros(self.model.ny)
            np.add.at(dy, self.index, r / self.sigma)
            t = time.perf_counter()
            g = self.model.adjoint(x, dy)
            self.t_adjoint += time.perf_counter() - t
            self.n_adjoint += 1
        g = g + (x - self.x0)
        if not np.all(np.isfinite(g)):
            raise ModelError("the adjoint gave a NaN or infinite gradient")
        parts = {s: 0.5 * float((r[m] ** 2).sum()) for s, m in self._masks.items()}
        prior = self.prior_term(x)
        return CostValue(prior + sum(parts.values()), prior, parts, g)
