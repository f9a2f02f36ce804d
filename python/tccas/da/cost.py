"""The TCCAS cost function and its gradient (science.md section 7b, docs/assimilation.md).

In the sigma-scaled control space x (p = p_prior + sigma_prior * x, so the prior covariance
is the identity)::

    J(x) = 1/2 (x - x0)'(x - x0) + 1/2 sum_streams sum_i ((y_i(x) - d_i) / s_i)**2

where y = H(M(p(x))) are the simulated observations, d the observed values and
s_i = sqrt((f_stream * sigma_i)**2 + e_stream**2) the total data uncertainty (observation
sigma times a per-stream factor, with a per-stream model error added in quadrature, as
TCCAS prints "total data uncertainty"). Only the observations selected for assimilation
enter J; the model may simulate more (validation streams, target quantities), which get a
zero weight. The gradient x - x0 + J' ((y - d) / s**2) takes one forward and one adjoint run.
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
    model : object with ``forward(x)``, ``adjoint(x, dy)``, ``nx``, ``ny``.
    index : (n,) positions in the model's y of the assimilated observations.
    observed : (n,) observed values d; sigma : (n,) total data uncertainty s (> 0).
    streams : (n,) stream name of each assimilated observation (for the parts of J).
    x0 : prior control vector (default zeros).
    """

    model: object
    index: np.ndarray
    observed: np.ndarray
    sigma: np.ndarray
    streams: np.ndarray
    x0: np.ndarray | None = None
    n_forward: int = 0
    n_adjoint: int = 0
    t_forward: float = 0.0
    t_adjoint: float = 0.0
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

    def __call__(self, x: np.ndarray) -> CostValue:
        """J(x), its parts and gradient: one forward and one adjoint run."""
        x = np.asarray(x, dtype=float)
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
