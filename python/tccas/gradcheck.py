"""Gradient check for users who change the model: the tangent against finite differences
per control component, the adjoint dot-product test, and the adjoint gradient of the
observation misfit against the tangent (after MITgcm's grdchk: a table of 1 - fd/tl)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GradientCheck:
    names: tuple[str, ...]
    tangent_norm: np.ndarray        # ||J e_k||
    fd_error: np.ndarray            # ||FD - J e_k|| / ||J e_k|| (nan where J e_k = 0)
    dot_product_error: float        # |<J dx, dy> - <dx, J^T dy>| / |<J dx, dy>|
    gradient_error: float           # |g.dx - tangent directional derivative| / |...|
    stack_bytes: float
    tolerance: float
    noise: np.ndarray               # rounding-error bound of the differences, relative

    def _element_ok(self) -> np.ndarray:
        e = np.nan_to_num(self.fd_error, nan=0.0)
        return e <= self.tolerance + self.noise

    @property
    def ok(self) -> bool:
        return (self.dot_product_error < 1e-12 and self.gradient_error < 1e-10
                and bool(np.all(self._element_ok())))

    def table(self) -> str:
        lines = [f"{'control element':28s} {'|J e_k|':>12s} {'|fd - tl|/|tl|':>15s} "
                 f"{'rounding':>9s}"]
        for n, t, e, r, ok in zip(self.names, self.tangent_norm, self.fd_error, self.noise,
                                  self._element_ok()):
            flag = "" if ok else "  <-- exceeds tolerance"
            err = "    (no effect)" if not np.isfinite(e) else f"{e:15.2e}"
            lines.append(f"{n:28s} {t:12.4g} {err} {r:9.1e}{flag}")
        lines.append(f"adjoint dot-product test: relative error {self.dot_product_error:.2e} "
                     "(must be < 1e-12)")
        lines.append(f"adjoint gradient of the misfit vs tangent: relative error "
                     f"{self.gradient_error:.2e} (must be < 1e-10)")
        lines.append(f"adjoint stack peak: {self.stack_bytes / 1e6:.1f} MB")
        lines.append("gradient check " + ("PASSED" if self.ok else "FAILED"))
        return "\n".join(lines)


def central_difference(f, x, dx, h):
    """Central difference with one Richardson step (error O(h**4))."""
    d1 = (f(x + h * dx) - f(x - h * dx)) / (2 * h)
    d2 = (f(x + 0.5 * h * dx) - f(x - 0.5 * h * dx)) / h
    return (4 * d2 - d1) / 3


def check_gradient(model, sets, h: float = 2e-5, tolerance: float = 1e-6, seed: int = 1,
                   progress=None) -> GradientCheck:
    """Run the checks at the prior (x = 0) for a CellModel and its observation sets."""
    from ._progress import progress as bar
    rng = np.random.default_rng(seed)
    x = np.zeros(model.nx)
    y0 = model.forward(x)
    tn, err = np.zeros(model.nx), np.full(model.nx, np.nan)
    noise = np.zeros(model.nx)
    for k in bar(range(model.nx), total=model.nx, desc="components", enabled=progress):
        e = np.zeros(model.nx)
        e[k] = 1.0
        _, jdx = model.tangent(x, e)
        tn[k] = np.linalg.norm(jdx)
        if tn[k] > 1e-12 * max(np.linalg.norm(y0), 1e-300):
            fd = central_difference(model.forward, x, e, h)
            err[k] = np.linalg.norm(fd - jdx) / tn[k]
            # rounding in the forward runs, amplified by 1/h in the differences
            noise[k] = 50 * np.finfo(float).eps * np.linalg.norm(y0) / h / tn[k]
    dx, dy = rng.normal(size=model.nx), rng.normal(size=model.ny)
    _, jdx = model.tangent(x, dx)
    jtdy = model.adjoint(x, dy)
    a, b = float(jdx @ dy), float(dx @ jtdy)
    dot = abs(a - b) / abs(a)
    d = np.concatenate([o.value for o in sets])
    sig = np.concatenate([o.sigma for o in sets])
    g = model.adjoint(x, (y0 - d) / sig ** 2)
    directional = float(np.sum(jdx * (y0 - d) / sig ** 2))
    gerr = abs(float(g @ dx) - directional) / abs(directional)
    return GradientCheck(model.control.names, tn, err, dot, gerr, model.last_stack_bytes,
                         tolerance, noise)
