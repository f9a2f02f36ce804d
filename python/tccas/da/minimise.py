"""L-BFGS-B over the control vector with per-iteration log, progress and checkpoints.

scipy's L-BFGS-B cannot be restarted with its correction pairs from outside, so a resumed
run re-starts scipy from the same first guess and serves every evaluation recorded in the
checkpoint from a cache (exact match of x, no model run): scipy then follows the recorded
path bit for bit and continues with real evaluations where the record ends. A resumed run
therefore ends at the same x as an uninterrupted one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ModelError, TccasError
from .cost import CostFunction

__all__ = ["Interrupted", "MinimiseResult", "minimise", "projected_gradient_norm",
           "read_checkpoint"]

log = logging.getLogger("tccas.da")


class Interrupted(TccasError):
    """The minimisation was stopped (Ctrl-C); the checkpoint is kept for --resume."""


@dataclass
class MinimiseResult:
    """Outcome of :func:`minimise`.

    x : final control vector; cost : J there; history : one dict per iteration (0 = first
    guess) with ``iteration``, ``evaluations``, ``cost``, ``prior``, ``parts`` (data term per
    stream), ``pg_norm`` (infinity norm of the projected gradient); n_evaluations : cost
    evaluations (cached ones included); n_cached : evaluations served from a checkpoint;
    message : scipy's stopping message; converged : stopped on a tolerance rather than the
    iteration limit.
    """

    x: np.ndarray
    cost: float
    gradient: np.ndarray
    history: list
    n_iterations: int
    n_evaluations: int
    n_cached: int
    message: str
    converged: bool
    checkpoint: Path | None = None
    wall_time: float = 0.0
    evaluations: list = field(default_factory=list, repr=False)


def projected_gradient_norm(x: np.ndarray, g: np.ndarray, lower: np.ndarray,
                            upper: np.ndarray) -> float:
    """Infinity norm of the gradient projected on the box (what L-BFGS-B's pgtol tests)."""
    return float(np.max(np.abs(x - np.clip(x - g, lower, upper)))) if x.size else 0.0


def _fingerprint(cost: CostFunction, x0, lower, upper, options: dict) -> str:
    h = hashlib.sha256()
    for a in (x0, lower, upper, cost.observed, cost.sigma, cost.index, cost.x0):
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    ctl = getattr(cost.model, "control", None)
    if ctl is not None:
        h.update("|".join(ctl.names).encode())
        h.update(np.ascontiguousarray(ctl.prior).tobytes())
        h.update(np.ascontiguousarray(ctl.sigma).tobytes())
    met = getattr(cost.model, "met", None)
    if met is not None:
        h.update(np.ascontiguousarray(met[::97]).tobytes())
    h.update(json.dumps(options, sort_keys=True).encode())
    return h.hexdigest()


def read_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint: fingerprint, evaluations (x, J, prior, parts, gradient) and the
    iteration history."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            xs, gs = z["x"], z["gradient"]
    except (OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable tccas checkpoint ({exc})") from None
    evals = [dict(x=xs[i], gradient=gs[i], **e) for i, e in enumerate(meta["evaluations"])]
    return {"fingerprint": meta["fingerprint"], "history": meta["history"],
            "evaluations": evals, "status": meta.get("status", "")}


def _write_checkpoint(path: Path, fingerprint: str, evaluations: list, history: list,
                      status: str, nx: int) -> None:
    meta = {"fingerprint": fingerprint, "history": history, "status": status,
            "evaluations": [{k: e[k] for k in ("cost", "prior", "parts")} for e in evaluations]}
    xs = np.array([e["x"] for e in evaluations]).reshape(-1, nx)
    gs = np.array([e["gradient"] for e in evaluations]).reshape(-1, nx)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), x=xs, gradient=gs)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _Stop(Exception):
    pass


def minimise(cost: CostFunction, x0: np.ndarray | None = None, lower=None, upper=None,
             max_iterations: int = 100, pgtol_reduction: float = 1e-4, ftol: float = 1e-7,
             memory: int = 10, checkpoint: str | os.PathLike | None = None,
             resume: bool = False, progress: bool | None = None, callback=None,
             resume_hint: str = "") -> MinimiseResult:
    """Minimise J with scipy's L-BFGS-B inside the control bounds.

    Parameters
    ----------
    cost : the cost function (J and gradient from one forward and one adjoint run).
    x0 : first guess (default: the prior, zeros).
    lower, upper : bounds on x (default: the model's control bounds).
    max_iterations : iteration limit (0 evaluates the first guess only).
    pgtol_reduction : stop when the infinity norm of the projected gradient falls below
        this fraction of its value at the first guess.
    ftol : stop when the relative cost change ``(J_k - J_k+1) / max(|J_k|, |J_k+1|, 1)`` is
        below this (scipy's ftol).
    memory : L-BFGS correction pairs (TCCAS: 10).
    checkpoint : file (npz) rewritten atomically after every iteration with all evaluations
        so far; ``resume=True`` replays them from it (see the module docstring). The
        stopping rules may differ between a run and its resume (e.g. more iterations); the
        problem, first guess, bounds and memory may not.
    progress : progress bar (None: when stderr is a terminal).
    callback : called after every iteration with the history entry (a dict).
    resume_hint : command shown in the message when interrupted.

    Raises
    ------
    Interrupted on KeyboardInterrupt (checkpoint kept); ModelError when an evaluation fails
    (NaN, bounds), with the best point reached kept in the checkpoint.
    """
    from scipy.optimize import minimize

    from .._progress import progress as bar
    model = cost.model
    nx = model.nx
    x0 = np.zeros(nx) if x0 is None else np.asarray(x0, dtype=float).copy()
    lower = np.asarray(model.control.lower if lower is None else lower, dtype=float)
    upper = np.asarray(model.control.upper if upper is None else upper, dtype=float)
    if np.any(x0 < lower) or np.any(x0 > upper):
        raise ModelError("the first guess is outside the control bounds")
    # the stopping rules do not change the path, so a run may be resumed with others (more
    # iterations, say); the memory does
    fp = _fingerprint(cost, x0, lower, upper, {"memory": int(memory)})
    ck = Path(checkpoint) if checkpoint is not None else None
    cache: dict[bytes, dict] = {}
    recorded = 0
    if resume:
        if ck is None or not ck.exists():
            raise ConfigError(f"--resume: no checkpoint {ck} to resume from")
        rec = read_checkpoint(ck)
        if rec["fingerprint"] != fp:
            raise ConfigError(f"{ck}: the checkpoint was written for another configuration "
                              "(control vector, observations, window, data uncertainty or "
                              "L-BFGS memory differ); remove it or run without --resume")
        for e in rec["evaluations"]:
            cache[np.asarray(e["x"], dtype=float).tobytes()] = e
        recorded = len(rec["evaluations"])
        log.info("resuming from %s: %d recorded evaluations, %d iterations", ck, recorded,
                 max(len(rec["history"]) - 1, 0))
    evaluations: list[dict] = []
    history: list[dict] = []
    n_cached = 0
    seen: dict[bytes, dict] = {}
    t_start = time.perf_counter()
    status = {"failed": None}

    def evaluate(x: np.ndarray) -> dict:
        nonlocal n_cached
        key = np.asarray(x, dtype=float).tobytes()
        if key in seen:             # scipy evaluates its first guess again
            return seen[key]
        if key in cache:
            e = cache[key]
            n_cached += 1
        else:
            try:
                v = cost(x)
            except KeyboardInterrupt:
                raise
            except ModelError as exc:
                status["failed"] = str(exc)
                raise _Stop() from None
            e = {"x": np.array(x, dtype=float), "cost": v.total, "prior": v.prior,
                 "parts": v.parts, "gradient": v.gradient}
            if not np.isfinite(v.total):
                status["failed"] = "the cost is NaN or infinite"
                raise _Stop()
        seen[key] = e
        evaluations.append(e)
        return e

    def fun(x):
        e = evaluate(x)
        return e["cost"], np.array(e["gradient"], dtype=float)

    def record(x, e) -> dict:
        g = np.asarray(e["gradient"])
        entry = {"iteration": len(history), "evaluations": len(evaluations),
                 "cost": float(e["cost"]), "prior": float(e["prior"]),
                 "parts": {k: float(v) for k, v in e["parts"].items()},
                 "pg_norm": projected_gradient_norm(np.asarray(x), g, lower, upper),
                 "time": time.perf_counter() - t_start}
        history.append(entry)
        parts = " ".join(f"{k} {v:.6g}" for k, v in entry["parts"].items())
        log.info("iteration %3d  J %.8g  prior %.6g  %s  |pg| %.3g  evaluations %d",
                 entry["iteration"], entry["cost"], entry["prior"], parts, entry["pg_norm"],
                 entry["evaluations"])
        if ck is not None and len(evaluations) > recorded:
            _write_checkpoint(ck, fp, evaluations, history, "running", nx)
        if callback is not None:
            callback(entry)
        return entry

    ticks = iter(bar(range(max_iterations + 1), total=max_iterations + 1, desc="L-BFGS-B",
                     enabled=progress, unit="iteration"))

    def tick():
        next(ticks, None)

    def best() -> dict | None:
        return min(evaluations, key=lambda e: e["cost"]) if evaluations else None

    try:
        try:
            e0 = evaluate(x0)
            record(x0, e0)
            tick()
            pg0 = history[0]["pg_norm"]
            if max_iterations == 0 or pg0 == 0.0:
                raise StopIteration
            last = {"x": x0}

            def on_iteration(intermediate_result):
                x = np.asarray(intermediate_result.x, dtype=float)
                e = seen.get(x.tobytes())
                if e is None:       # scipy reports a point it evaluated: should not happen
                    e = evaluate(x)
                last["x"] = x
                record(x, e)
                tick()

            res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                           bounds=list(zip(lower.tolist(), upper.tolist())),
                           callback=on_iteration,
                           options={"maxiter": int(max_iterations), "maxcor": int(memory),
                                    "ftol": float(ftol), "gtol": float(pgtol_reduction) * pg0,
                                    "maxfun": 20 * max(int(max_iterations), 1) + 20,
                                    "maxls": 20})
            message, converged = str(res.message), res.status == 0 and res.nit < max_iterations
            xf = np.asarray(res.x, dtype=float)
        except StopIteration:
            message, converged, xf = ("first guess only" if max_iterations == 0
                                      else "zero gradient at the first guess"), True, x0
    except _Stop:
        b = best()
        if ck is not None and evaluations:
            _write_checkpoint(ck, fp, evaluations, history, "failed", nx)
        where = f"; the best point (J = {b['cost']:.6g}) is kept in {ck}" if b and ck else ""
        raise ModelError(f"assimilation stopped at evaluation {len(evaluations) + 1}: "
                         f"{status['failed']}{where}") from None
    except KeyboardInterrupt:
        if ck is not None and evaluations:
            _write_checkpoint(ck, fp, evaluations, history, "interrupted", nx)
        hint = f"; resume with: {resume_hint or 'the same call with resume=True'}"
        raise Interrupted(f"interrupted after {max(len(history) - 1, 0)} iterations; "
                          f"checkpoint kept in {ck}{hint}") from None
    ef = next((e for e in reversed(evaluations) if np.array_equal(e["x"], xf)), None)
    if ef is None:
        ef = evaluate(xf)
    if ck is not None:
        _write_checkpoint(ck, fp, evaluations, history, "finished", nx)
    return MinimiseResult(x=xf, cost=float(ef["cost"]), gradient=np.asarray(ef["gradient"]),
                          history=history, n_iterations=len(history) - 1,
                          n_evaluations=len(evaluations), n_cached=n_cached, message=message,
                          converged=bool(converged), checkpoint=ck,
                          wall_time=time.perf_counter() - t_start, evaluations=evaluations)
