"""Posterior uncertainty: the Gauss-Newton Hessian at the minimum and what follows from it.

With the prior covariance the identity in x (sigma scaling) and diagonal data errors R,

    H = I + J' R^-1 J,      C_post = H^-1,

where J = dy/dx is the Jacobian of the simulated observations, built column by column from
one tangent run per control element. The columns are spread over processes: each worker
builds its own copy of the model (the core's module state and the adjoint tape are per
process). Any quantity q(x) that the model simulates linearly from its rows (target
quantities, simulated equivalents of observations) gets sigma_q = sqrt(diag(G C G')) with
G = dq/dx from the same columns (prior: C = I).
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..errors import ModelError

__all__ = ["Posterior", "default_workers", "exit_with_parent", "gauss_newton_hessian",
           "jacobian", "posterior", "propagate"]


_WORKER_MODEL = None


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover
        return max(os.cpu_count() or 1, 1)


def exit_with_parent(interval: float = 1.0) -> None:
    """Make this worker process exit when the process that started it dies.

    A worker of a :class:`concurrent.futures.ProcessPoolExecutor` waits for tasks forever if
    its parent is killed (SIGKILL, an out-of-memory kill) and so cannot shut the pool down;
    use this as (or in) the pool's initializer. A daemon thread checks every ``interval``
    seconds whether the parent process has changed (the worker was re-parented)."""
    import threading
    import time
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="tccas-exit-with-parent", daemon=True).start()


def _init_worker(model) -> None:
    global _WORKER_MODEL
    exit_with_parent()
    _WORKER_MODEL = model


def _columns(args):
    x, cols = args
    m = _WORKER_MODEL
    out = np.empty((m.ny, len(cols)))
    for j, k in enumerate(cols):
        e = np.zeros(m.nx)
        e[k] = 1.0
        _, out[:, j] = m.tangent(x, e)
    return cols, out


def jacobian(model, x: np.ndarray, workers: int = 0, progress: bool | None = None
             ) -> np.ndarray:
    """J = dy/dx (ny, nx) at x from one tangent run per control element.

    ``workers`` processes (0: all cores; 1: in this process). Each worker receives a copy of
    the model once and builds its own core state.
    """
    from .._progress import progress as bar
    x = np.asarray(x, dtype=float)
    nx = model.nx
    workers = default_workers() if workers in (0, None) else int(workers)
    workers = max(1, min(workers, nx))
    jac = np.empty((model.ny, nx))
    if workers == 1:
        for k in bar(range(nx), total=nx, desc="tangents", enabled=progress,
                     unit="element"):
            e = np.zeros(nx)
            e[k] = 1.0
            _, jac[:, k] = model.tangent(x, e)
        return jac
    # small chunks keep the workers busy to the end; one pickled model per worker
    chunks = [list(range(a, min(a + 2, nx))) for a in range(0, nx, 2)]
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker,
                             initargs=(model,)) as pool:
        futures = pool.map(_columns, [(x, c) for c in chunks])
        for cols, block in bar(futures, total=len(chunks), desc="tangents", enabled=progress,
                               unit="chunk"):
            jac[:, cols] = block
    return jac


def gauss_newton_hessian(jac: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """H = I + J' R^-1 J for the rows of the assimilated observations and their total
    data uncertainty ``sigma`` (R = diag(sigma**2))."""
    a = np.asarray(jac) / np.asarray(sigma)[:, None]
    return np.eye(a.shape[1]) + a.T @ a


@dataclass(frozen=True)
class Posterior:
    """Posterior of x: Hessian, covariance (x units, prior = identity), sigma of x, the
    correlation matrix, and the uncertainty reduction 1 - sigma_post / sigma_prior."""

    hessian: np.ndarray
    covariance: np.ndarray
    sigma: np.ndarray
    correlation: np.ndarray

    @property
    def reduction(self) -> np.ndarray:
        return 1.0 - self.sigma


def posterior(hessian: np.ndarray) -> Posterior:
    """Posterior covariance H^-1 (by Cholesky; H is symmetric positive definite since it is
    I plus a Gram matrix)."""
    h = 0.5 * (hessian + hessian.T)
    try:
        c = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        raise ModelError("the Gauss-Newton Hessian is not positive definite (NaN in the "
                         "Jacobian?)") from None
    inv_c = np.linalg.solve(c, np.eye(h.shape[0]))
    cov = inv_c.T @ inv_c
    sig = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sig, sig)
    return Posterior(h, cov, sig, corr)


def propagate(g: np.ndarray, covariance: np.ndarray | None = None) -> np.ndarray:
    """sigma of linearised quantities q with dq/dx = g (nq, nx): sqrt(diag(g C g')); the
    prior (C = I) when ``covariance`` is None."""
    g = np.atleast_2d(np.asarray(g, dtype=float))
    if covariance is None:
        return np.sqrt(np.einsum("ij,ij->i", g, g))
    return np.sqrt(np.maximum(((g @ covariance) * g).sum(axis=1), 0.0))
