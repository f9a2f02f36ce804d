"""Gradient check for users who change the model (after MITgcm's grdchk): the tangent
against finite differences per control element, the adjoint dot-product test and the
adjoint gradient of the observation misfit against the tangent.

Finite differences cannot resolve every derivative: an element with a tiny effect on the
observations, or one that acts through a steep (smoothed) switch, has differences dominated
by rounding at small steps and by truncation at large ones. Each element is therefore first
checked with a Richardson-extrapolated central difference at the given step; where that
disagrees with the tangent, a ladder of steps is scanned, the Richardson estimates of
neighbouring steps are compared, and the step where they agree best is used. The element
then

- passes when that estimate matches the tangent within the tolerance;
- fails when the estimates agree with each other (the difference resolves the derivative)
  but not with the tangent;
- is reported **unresolved** when even the best estimates disagree with each other by as
  much as they disagree with the tangent: finite differences cannot decide.

The dot-product test uses several random draws; its tolerance scales with the size of the
problem (rounding in sums of ny terms).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["GradientCheck", "central_difference", "check_gradient", "richardson"]

EPS = np.finfo(float).eps
STEP_LADDER = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
# an element fails when the difference estimates agree with each other this many times
# better than with the tangent
RESOLVED_FACTOR = 10.0


@dataclass(frozen=True)
class GradientCheck:
    """Result of :func:`check_gradient`.

    Attributes
    ----------
    names : tuple of str
        Control-vector element names.
    tangent_norm : numpy.ndarray
        ``||J e_k||`` per element.
    fd_error : numpy.ndarray
        ``||FD - J e_k|| / ||J e_k||`` at the chosen step (NaN where ``J e_k = 0``).
    resolution : numpy.ndarray
        Disagreement of neighbouring Richardson estimates at that step, relative (the
        accuracy the differences reach).
    step : numpy.ndarray
        Chosen step (units of prior sigma).
    status : tuple of str
        'pass', 'FAIL', 'unresolved' or 'no effect' per element.
    dot_product_error : float
        Largest ``|<J dx, dy> - <dx, J' dy>| / (||J dx|| ||dy||)`` over the draws.
    dot_product_tolerance : float
        Its tolerance.
    gradient_error : float
        ``|g.dx - directional| / |...|``.
    gradient_tolerance : float
        Its tolerance.
    stack_bytes : float
        Bytes the adjoint's stack held.
    tolerance : float
        Tolerance of ``fd_error`` per element.
    draws : int
        Random directions of the dot-product test.
    """

    names: tuple[str, ...]
    tangent_norm: np.ndarray
    fd_error: np.ndarray
    resolution: np.ndarray
    step: np.ndarray
    status: tuple[str, ...]
    dot_product_error: float
    dot_product_tolerance: float
    gradient_error: float
    gradient_tolerance: float
    stack_bytes: float
    tolerance: float
    draws: int = 3

    @property
    def noise(self) -> np.ndarray:       # kept for callers of the first version
        return self.resolution

    @property
    def unresolved(self) -> tuple[str, ...]:
        return tuple(n for n, s in zip(self.names, self.status) if s == "unresolved")

    @property
    def ok(self) -> bool:
        return (self.dot_product_error <= self.dot_product_tolerance
                and self.gradient_error <= self.gradient_tolerance
                and "FAIL" not in self.status)

    def table(self) -> str:
        lines = [f"{'control element':28s} {'|J e_k|':>12s} {'|fd - tl|/|tl|':>15s} "
                 f"{'fd resolves':>12s} {'step':>8s}  status"]
        for n, t, e, r, h, s in zip(self.names, self.tangent_norm, self.fd_error,
                                    self.resolution, self.step, self.status):
            if s == "no effect":
                lines.append(f"{n:28s} {t:12.4g} {'':>15s} {'':>12s} {'':>8s}  no effect")
                continue
            flag = {"pass": "pass", "FAIL": "FAIL  <-- exceeds tolerance",
                    "unresolved": "unresolved (finite differences cannot resolve it)"}[s]
            lines.append(f"{n:28s} {t:12.4g} {e:15.2e} {r:12.1e} {h:8.0e}  {flag}")
        nu = len(self.unresolved)
        lines.append(f"tolerance {self.tolerance:.1e}; {self.status.count('pass')} pass, "
                     f"{self.status.count('FAIL')} fail, {nu} unresolved, "
                     f"{self.status.count('no effect')} without effect")
        lines.append(f"adjoint dot-product test ({self.draws} draws): largest error "
                     f"{self.dot_product_error:.2e} (tolerance {self.dot_product_tolerance:.1e})")
        lines.append(f"adjoint gradient of the misfit vs tangent: relative error "
                     f"{self.gradient_error:.2e} (tolerance {self.gradient_tolerance:.1e})")
        lines.append(f"adjoint stack peak: {self.stack_bytes / 1e6:.1f} MB")
        lines.append("gradient check " + ("PASSED" if self.ok else "FAILED")
                     + (f" ({nu} unresolved)" if nu and self.ok else ""))
        return "\n".join(lines)


def central_difference(f, x, dx, h):
    """Central difference with one Richardson step, steps h and h/2 (error O(h**4))."""
    d1 = (f(x + h * dx) - f(x - h * dx)) / (2 * h)
    d2 = (f(x + 0.5 * h * dx) - f(x - 0.5 * h * dx)) / h
    return (4 * d2 - d1) / 3


def richardson(d_h: np.ndarray, d_hq: np.ndarray, q: float) -> np.ndarray:
    """Richardson extrapolation of central differences at steps h and h/q."""
    return (q * q * d_hq - d_h) / (q * q - 1)


def _scan(model, x, k, tl, lower, upper, ladder):
    """Best Richardson estimate over a ladder of steps: (estimate, resolution, step)."""
    e = np.zeros(model.nx)
    e[k] = 1.0
    diffs, steps = [], []
    for h in ladder:
        if x[k] - h < lower[k] or x[k] + h > upper[k]:
            continue
        diffs.append((model.forward(x + h * e) - model.forward(x - h * e)) / (2 * h))
        steps.append(h)
    if len(diffs) < 3:
        return None
    est = [richardson(diffs[i], diffs[i + 1], steps[i] / steps[i + 1])
           for i in range(len(diffs) - 1)]
    tn = np.linalg.norm(tl)
    dis = [np.linalg.norm(est[i] - est[i + 1]) / tn for i in range(len(est) - 1)]
    i = int(np.argmin(dis))
    return est[i + 1], float(dis[i]), steps[i + 1]


def check_gradient(model, sets, h: float = 2e-5, tolerance: float = 1e-6, seed: int = 1,
                   progress=None, draws: int = 3, ladder=STEP_LADDER) -> GradientCheck:
    """Run the checks at the prior (x = 0) for a CellModel and its observation sets.

    ``h`` is the first step (units of prior sigma), ``tolerance`` the accepted relative
    error per element, ``draws`` the number of random dot-product tests.
    """
    from .._progress import progress as bar
    rng = np.random.default_rng(seed)
    x = np.zeros(model.nx)
    lower, upper = model.control.lower, model.control.upper
    y0 = model.forward(x)
    ynorm = max(np.linalg.norm(y0), 1e-300)
    n = model.nx
    tn, err = np.zeros(n), np.full(n, np.nan)
    res, step = np.full(n, np.nan), np.full(n, np.nan)
    status = []
    for k in bar(range(n), total=n, desc="gradient check", enabled=progress,
                 unit="element"):
        e = np.zeros(n)
        e[k] = 1.0
        _, jdx = model.tangent(x, e)
        tn[k] = np.linalg.norm(jdx)
        if tn[k] <= 1e-12 * ynorm:
            status.append("no effect")
            continue
        fd = central_difference(model.forward, x, e, h)
        err[k] = np.linalg.norm(fd - jdx) / tn[k]
        step[k] = h
        # rounding bound of the differences at this step, relative
        res[k] = 50 * EPS * ynorm / h / tn[k]
        if err[k] <= tolerance:
            status.append("pass")
            continue
        scan = _scan(model, x, k, jdx, lower, upper, ladder)
        if scan is not None:
            fd2, dis, h2 = scan
            e2 = np.linalg.norm(fd2 - jdx) / tn[k]
            if e2 < err[k]:
                err[k], res[k], step[k] = e2, dis, h2
            else:
                res[k] = max(res[k], dis)
        if err[k] <= tolerance:
            status.append("pass")
        elif err[k] > RESOLVED_FACTOR * res[k]:
            status.append("FAIL")
        else:
            status.append("unresolved")
    # dot-product test, several draws; rounding of sums of ny (and nx) terms
    dot_err = 0.0
    for _ in range(draws):
        dx, dy = rng.normal(size=n), rng.normal(size=model.ny)
        _, jdx = model.tangent(x, dx)
        jtdy = model.adjoint(x, dy)
        a, b = float(jdx @ dy), float(dx @ jtdy)
        dot_err = max(dot_err, abs(a - b) / (np.linalg.norm(jdx) * np.linalg.norm(dy)))
    dot_tol = 1e3 * EPS * np.sqrt(model.ny + n)
    d = np.concatenate([o.value for o in sets])
    sig = np.concatenate([o.sigma for o in sets])
    w = (y0 - d) / sig ** 2
    g = model.adjoint(x, w)
    directional = float(np.sum(jdx * w))
    gerr = abs(float(g @ dx) - directional) / (np.linalg.norm(jdx * w, 1) + 1e-300)
    return GradientCheck(model.control.names, tn, err, res, step, tuple(status), dot_err,
                         dot_tol, gerr, dot_tol, model.last_stack_bytes, tolerance, draws)
