"""Carbon spin-up: the six DALEC pools at the model's own equilibrium under a case's spin-up
forcing.

D&B spins up by cycling the first ``spinup_hours`` of the forcing (TCCAS: two years). That
cycling brings soil water, snow, soil temperature and vegetation hydration into balance with
the climate, but the carbon pools are then reset to their initial values ``c_*0``
(parameters, so that they can be controlled), because a few years of cycling cannot bring wood
and soil organic matter, with turnover times of decades to centuries, anywhere near balance.
Initial pools far from balance make the model drift through the whole run and make an
assimilation adjust process parameters to explain the drift.

:func:`equilibrium_pools` finds the pools at the start of a *stationary* cycle: the state
from which one more cycle of the spin-up forcing returns to the same pools. Within one cycle
every DALEC pool obeys a linear daily recursion (DALEC2, Bloom & Williams 2015; explicit
daily step of ``fortran/dnb_carbon.f90``)::

    C(t+1) = a(t) C(t) + b(t)

with, per pool (fluxes of the day t, F-numbers of ``DAILY_OUTPUTS``)::

    labile   a = 1 - phi_o(t)                          b = F4 (labile production)
    foliar   a = 1 - phi_f(t)                          b = F3 + phi_o(t) C_lab(t)
    root     a = 1 - theta_root                        b = F5
    wood     a = 1 - theta_wood                        b = F6
    litter   a = 1 - theta_lit r(t) - theta_min T(t)   b = phi_f(t) C_fol(t) + theta_root C_root(t)
    SOM      a = 1 - theta_som r(t)                    b = theta_min T(t) C_lit(t) + theta_wood C_wood(t)

(T the daily temperature rate modifier F1, r the daily mean of the temperature times moisture
modifier of heterotrophic respiration). For given a(t), b(t) over a cycle of N days the
periodic solution C(N) = C(0) is exact::

    C(0) = sum_t b(t) prod_{s>t} a(s) / (1 - prod_t a(t))

The allocation fluxes F3-F6 depend on GPP and so on the canopy (foliar pool) and the soil
water of the cycle, so the procedure alternates: run one cycle of the full model from the
current pools (water, snow and temperature carried over from the previous cycle), solve the
periodic pools pool by pool in the order above from that cycle's fluxes and rates, and repeat
until the pools at the start of the cycle change by less than ``rtol``. Slow pools are thus
solved, not iterated (one cycle instead of centuries), and fast pools converge in a few
cycles because only the canopy-GPP feedback is iterated; where that feedback is strong (a
sparse canopy whose GPP limits its own regrowth) the iteration contracts slowly, and every
third iterate is extrapolated with Aitken's delta-squared method (:func:`aitken`).

This runs the forward model only; the derivative codes never see the iterations: the
equilibrium pools become the prior values of the parameters ``c_*0``, which stay in the
control vector.
"""
from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, ModelError
from .model import initial_state, run_from_state
from .parameters import DAILY_OUTPUTS, PFT_NAMES, STATE_NAMES, pft_index

__all__ = ["MIN_FOLIAR_CARBON", "POOL_PARAMETERS", "Equilibrium", "aitken", "equilibrium_pools",
           "periodic_solution", "spinup_cycle_hours"]

log = logging.getLogger("tccas")

#: Foliar carbon (gC m-2) below which a tile's canopy counts as dead during the spin-up
#: (LAI below about 1e-3): the iteration would only approach the bare-soil equilibrium.
MIN_FOLIAR_CARBON = 0.05
#: The parameters that hold the initial carbon pools, in pool order.
POOL_PARAMETERS = ("c_lab0", "c_fol0", "c_root0", "c_wood0", "c_lit0", "c_som0")
_POOLS = ("c_lab", "c_fol", "c_root", "c_wood", "c_lit", "c_som")
_D = {v[0]: i for i, v in enumerate(DAILY_OUTPUTS)}
_S = {v: i for i, v in enumerate(STATE_NAMES)}


@dataclass(frozen=True)
class Equilibrium:
    """Result of :func:`equilibrium_pools`.

    Attributes
    ----------
    pools : (6, ntile) pools at the start of the stationary cycle (gC m-2), in the order of
        ``POOL_PARAMETERS``.
    cycles : number of model cycles run.
    change : largest relative change of a pool at the start of the cycle in the last
        iteration.
    drift : (6, ntile) relative change of each pool over one more cycle of the full model
        started from ``pools`` (the check that the equilibrium is stationary).
    cycle_days : length of the cycle (days).
    """

    pools: np.ndarray
    cycles: int
    change: float
    drift: np.ndarray
    cycle_days: int

    def table(self, pfts) -> str:
        """The pools per PFT as a text table."""
        names = [PFT_NAMES[int(c)] for c in pfts]
        lines = [f"{'pool (gC m-2)':14s}" + "".join(f"{n:>12s}" for n in names)]
        for k, p in enumerate(POOL_PARAMETERS):
            lines.append(f"{p:14s}" + "".join(f"{v:12.5g}" for v in self.pools[k]))
        lines.append(f"{'drift/cycle':14s}" + "".join(f"{v:12.2e}"
                                                      for v in np.abs(self.drift).max(axis=0)))
        return "\n".join(lines)


def periodic_solution(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Periodic solution of the linear recursion C(t+1) = a(t) C(t) + b(t).

    ``a``, ``b``: arrays of shape (N, ...) for the N steps of one cycle. Returns the
    trajectory C(0..N-1), shape (N, ...), with C(N) = C(0). Requires 0 <= prod a < 1.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n = a.shape[0]
    # C(N) = A C(0) + B with A = prod a, B = sum_t b(t) prod_{s>t} a(s)
    big_a = np.ones(a.shape[1:])
    big_b = np.zeros(a.shape[1:])
    for t in range(n):
        big_a = big_a * a[t]
        big_b = big_b * a[t] + b[t]
    if np.any(big_a >= 1.0) or np.any(a < 0.0):
        raise ModelError("carbon spin-up: a pool has no finite equilibrium (its turnover "
                         "over the cycle is zero or a daily rate exceeds 1)")
    c = np.empty_like(b)
    c[0] = big_b / (1.0 - big_a)
    for t in range(n - 1):
        c[t + 1] = a[t] * c[t] + b[t]
    return c


def aitken(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray) -> np.ndarray:
    """Aitken's delta-squared extrapolation of three successive iterates of a fixed-point
    iteration, per component: p2 - (p2 - p1)**2 / ((p2 - p1) - (p1 - p0)).

    Only components that converge monotonically (ratio of successive steps in (0, 0.98))
    are extrapolated, and by at most 50 times the last step; the others keep ``p2``. A
    result that is not positive keeps ``p2`` too (pools are positive).
    """
    d1, d2 = p1 - p0, p2 - p1
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(d1 != 0, d2 / d1, 0.0)
        ok = (r > 0) & (r < 0.98)
        step = np.where(ok, d2 * r / (1.0 - r), 0.0)
    out = p2 + step
    return np.where(out > 0, out, p2)


def spinup_cycle_hours(nspin: int, nt: int) -> int:
    """Length (hours) of the forcing cycle the spin-up repeats: the first ``nspin`` hours,
    or the whole forcing if the spin-up is longer than it."""
    return min(int(nspin), int(nt))


def _solve(daily: np.ndarray, pools0: np.ndarray, pp: dict) -> np.ndarray:
    """Periodic pool trajectories from one cycle's daily output; returns C(0), (6, ntile)."""
    f = {k: daily[:, i, :] for k, i in _D.items()}
    # start-of-day pools of the cycle that was run (the fluxes were computed from them)
    som_start = np.concatenate([pools0[None, 5], f["c_som"][:-1]], axis=0)
    phi_o, phi_f, temp = f["f_labrelease_factor"], f["f_leaffall_factor"], f["f_temprate"]
    resp = f["f_rh_som"] / (pp["theta_som"] * som_start)      # daily mean of exp(p10 T) * fm
    one = np.ones_like(phi_o)
    lab = periodic_solution(1.0 - phi_o, f["f_lab_prod"])
    fol = periodic_solution(1.0 - phi_f, f["f_leaf_prod"] + phi_o * lab)
    root = periodic_solution((1.0 - pp["theta_root"]) * one, f["f_root_prod"])
    wood = periodic_solution((1.0 - pp["theta_wood"]) * one, f["f_wood_prod"])
    lit = periodic_solution(1.0 - pp["theta_lit"] * resp - pp["theta_min"] * temp,
                            phi_f * fol + pp["theta_root"] * root)
    som = periodic_solution(1.0 - pp["theta_som"] * resp,
                            pp["theta_min"] * temp * lit + pp["theta_wood"] * wood)
    return np.array([lab[0], fol[0], root[0], wood[0], lit[0], som[0]])


def equilibrium_pools(met: np.ndarray, times: np.ndarray, lat: float, lon: float, sand: float,
                      clay: float, pfts, ppft: np.ndarray, pglob: np.ndarray, nspin: int,
                      rtol: float = 1e-4, max_cycles: int = 100,
                      progress: bool | None = False) -> Equilibrium:
    """Carbon pools at the start of the stationary cycle of the spin-up forcing.

    Parameters
    ----------
    met, times : hourly forcing (nt, nmet) in canonical units and step start times (the run's
        forcing; the spin-up repeats its first ``nspin`` hours, as the core does).
    lat, lon, sand, clay, pfts, ppft, pglob : the cell, as for :func:`tccas.model.run_cell`
        (``ppft`` holds the parameters the equilibrium is computed for; its ``c_*0`` rows are
        only the first guess).
    nspin : spin-up hours; the cycle is the first ``min(nspin, nt)`` hours and must cover at
        least 365 days, so that the phenology sees whole years.
    rtol : stop when no pool at the start of the cycle changes by more than this fraction
        between two iterations.
    max_cycles : give up (ModelError) after this many cycles.
    progress : report the cycles (:func:`tccas._progress.progress`: None a bar on a terminal
        and log lines otherwise, False nothing).

    Returns
    -------
    Equilibrium, whose ``pools`` (6, ntile) are the values for the parameters
    ``POOL_PARAMETERS``.

    Examples
    --------
    >>> import tccas
    >>> from tccas.workflow import load_inputs, parameters_for
    >>> cfg = tccas.load_config("ES-LM1")
    >>> static, forcing = load_inputs(cfg)
    >>> ppft, pglob = parameters_for(cfg, static)
    >>> eq = equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon,
    ...                        static.sand, static.clay, list(static.pft), ppft, pglob,
    ...                        cfg.run.spinup_hours)
    >>> bool(abs(eq.drift).max() < 0.01)
    True
    """
    met = np.asarray(met, dtype=float)
    nt = met.shape[0]
    ncyc = spinup_cycle_hours(nspin, nt)
    if ncyc < 365 * 24:
        raise ConfigError(f"carbon spin-up to equilibrium needs at least 365 days of spin-up "
                          f"forcing, got {ncyc // 24} days (spinup_hours = {nspin}, forcing "
                          f"{nt // 24} days)")
    met_c = np.asfortranarray(met[:ncyc])
    times_c = np.asarray(times)[:ncyc]
    ppft = np.array(ppft, dtype=float, order="F")
    pglob = np.asarray(pglob, dtype=float)
    rates = {n: ppft[pft_index(n)] for n in ("theta_root", "theta_wood", "theta_lit",
                                             "theta_min", "theta_som")}
    state = initial_state(met_c, pfts, ppft, pglob, sand, clay)
    pools = state[:6].copy()
    site = (lat, lon, sand, clay)
    history: list[np.ndarray] = [pools]
    from ._progress import progress as _bar
    # the number of cycles is not known in advance: a counter, with log lines in time
    ticks = iter(_bar(itertools.count(), desc="carbon spin-up", enabled=progress,
                      unit="cycle", interval=10.0))
    try:
        return _iterate(ticks, met_c, times_c, site, pfts, ppft, pglob, state, pools, rates,
                        history, rtol, max_cycles, ncyc)
    finally:
        close = getattr(ticks, "close", None)
        if close is not None:
            close()


def _iterate(ticks, met_c, times_c, site, pfts, ppft, pglob, state, pools, rates, history,
             rtol, max_cycles, ncyc) -> Equilibrium:
    change = np.inf
    cycles = 0
    while cycles < max_cycles:
        next(ticks)
        state[:6] = pools
        _, daily = run_from_state(met_c, times_c, *site, pfts, ppft, pglob, state)
        cycles += 1
        new = _solve(np.asarray(daily), pools, rates)
        dying = np.nonzero(np.nan_to_num(new[1], nan=0.0) < MIN_FOLIAR_CARBON)[0]
        if dying.size:
            names = ", ".join(PFT_NAMES[int(np.asarray(pfts)[i])] for i in dying)
            raise ModelError(f"carbon spin-up: the vegetation of {names} dies out (foliar "
                             f"carbon below {MIN_FOLIAR_CARBON:g} gC m-2 after {cycles} "
                             "cycles): under this climate and these parameters the canopy "
                             "cannot sustain itself, and the only equilibrium is bare soil; "
                             "check the phenology and allocation parameters")
        if not np.all(np.isfinite(new)) or np.any(new <= 0):
            raise ModelError("carbon spin-up: the equilibrium pools are not positive; check "
                             "the turnover and allocation parameters")
        change = float(np.max(np.abs(new - pools) / np.maximum(np.abs(new), 1e-6)))
        log.info("carbon spin-up cycle %d: largest relative change %.2e", cycles, change)
        pools = new
        if change < rtol:
            break
        history.append(new)
        if len(history) == 3:
            # a strong canopy-GPP feedback makes the iteration contract slowly (a factor
            # close to 1 per cycle); Aitken's extrapolation of three successive iterates
            # jumps to the limit of such a geometric sequence
            pools = aitken(*history)
            history = [pools]
    else:
        raise ModelError(f"carbon spin-up did not converge in {max_cycles} cycles of "
                         f"{ncyc // 24} days (last relative change {change:.2e})")
    # the check: one more cycle of the full model from the equilibrium
    state[:6] = pools
    run_from_state(met_c, times_c, *site, pfts, ppft, pglob, state)
    drift = (state[:6] - pools) / pools
    return Equilibrium(pools=pools, cycles=cycles, change=change, drift=drift,
                       cycle_days=ncyc // 24)
