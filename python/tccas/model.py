"""Wrapper of the Fortran core: checks inputs, runs one cell, returns numpy arrays.

This is the only module that imports the compiled extension ``tccas._dnb``.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from . import _dnb
from ._progress import progress
from .errors import ModelError
from .parameters import (DAILY_OUTPUTS, FORCING_VARS, GLOBAL_PARAMETERS, HOURLY_OUTPUTS,
                         PFT_PARAMETERS, STATE_NAMES, pft_index)

_API = _dnb.dnb_api

# ``run_cell`` of the core releases the GIL while it runs, so that another Python thread can
# read or write files meanwhile (tccas.workflow.run reads the observations during the run).
# The core is not reentrant (gfortran may keep large local arrays in static storage), so
# its calls are serialised by this lock.
CORE_LOCK = threading.Lock()

# The adjoint's tape per hour and tile (bytes): 1.79 kB measured on the default ES-LM1 case
# and on a 13-year 2-PFT run (benchmarks/derivatives.py); a little above, so that a budget
# is kept.
TAPE_BYTES_PER_TILE_HOUR = 1850.0
# Default memory budget of the adjoint (MB): about thirty tile-years recorded whole.
DEFAULT_ADJOINT_MEMORY_MB = 500.0

_STATUS = {
    1: "the number of hours is not a positive multiple of 24 (runs cover whole days)",
    2: "a PFT code is outside 1..13",
    3: "a forcing value is NaN or infinite",
    4: "a parameter or state value is NaN or infinite",
    5: "the model produced a NaN or infinite output (parameters far outside their bounds?)",
    6: "an observation has an unknown stream, a window outside the run or a negative weight",
    7: "out of memory (the adjoint stack or the solar geometry of the time axis)",
    8: "a control element points outside the parameter arrays",
    9: "an observed value or its uncertainty is NaN or infinite, or an uncertainty is not "
       "positive",
    10: "an assimilated observation points outside the simulated observations",
}


def _check_sizes() -> None:
    got = tuple(int(v) for v in _API.sizes())
    want = (len(PFT_PARAMETERS), len(GLOBAL_PARAMETERS), len(HOURLY_OUTPUTS),
            len(DAILY_OUTPUTS), len(STATE_NAMES), len(FORCING_VARS))
    if got != want:
        raise ModelError(f"the compiled core has sizes {got} but the parameter table {want}: "
                         "rebuild tccas (pip install .) after tools/gen_params.py")


_check_sizes()



def checked_memory_mb(value) -> float:
    """An adjoint memory budget (MB) as a float; ModelError unless a positive number."""
    try:
        mb = float(value)
    except (TypeError, ValueError):
        mb = float("nan")
    if isinstance(value, bool) or not (np.isfinite(mb) and mb > 0):
        raise ModelError(f"adjoint_memory_mb must be a positive number of MB, got {value!r}")
    return mb

@dataclass(frozen=True)
class ObsArrays:
    """Observations flattened for the core: stream codes, 1-based first/last hourly step of
    each window, footprint weights on the tiles, incidence angles, and the slices of each
    stream in the flat arrays."""

    stream: np.ndarray
    s0: np.ndarray
    s1: np.ndarray
    wfoot: np.ndarray
    angle: np.ndarray
    slices: dict

    @property
    def n(self) -> int:
        return int(self.stream.size)


def obs_arrays(obs_sets, times: np.ndarray, pfts) -> ObsArrays:
    """Map observation sets onto the hourly steps and tiles of a run.

    An observation whose window [t_start, t_end) lies inside the run covers the steps
    whose hour overlaps it (a half-hourly record maps to its hour)."""
    from .obs import STREAM_CODES
    t0 = np.asarray(times[0]).astype("datetime64[s]")
    nt = len(times)
    end = t0 + np.timedelta64(3600 * nt, "s")
    streams, s0s, s1s, ws, angles, slices = [], [], [], [], [], {}
    k = 0
    for o in obs_sets:
        o.validate(period=(t0, end), pfts=tuple(int(p) for p in pfts))
        a = (o.t_start - t0).astype("timedelta64[s]").astype(np.int64)
        b = (o.t_end - t0).astype("timedelta64[s]").astype(np.int64)
        s0 = a // 3600 + 1
        s1 = -(-b // 3600)                      # ceil: last hour touched, 1-based
        streams.append(np.full(len(o), STREAM_CODES[o.stream], dtype=np.int32))
        s0s.append(s0.astype(np.int32))
        s1s.append(np.maximum(s1, s0).astype(np.int32))
        ws.append(o.footprint_for(tuple(int(p) for p in pfts)))
        angles.append(np.asarray(o.angle, dtype=float))
        slices[o.stream] = slice(k, k + len(o))
        k += len(o)
    if k == 0:
        return ObsArrays(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32),
                         np.zeros((0, len(pfts))), np.zeros(0), {})
    return ObsArrays(np.concatenate(streams), np.concatenate(s0s), np.concatenate(s1s),
                     np.asfortranarray(np.concatenate(ws)), np.concatenate(angles), slices)


def apply_obs(oa: ObsArrays, hourly: np.ndarray, clay: float, pglob: np.ndarray) -> np.ndarray:
    """Observation operators of the core on a finished run's hourly output."""
    if oa.n == 0:
        return np.zeros(0)
    core = np.asfortranarray(np.asarray(hourly).transpose(1, 0, 2))   # no copy for run output
    y, status = _API.obs_operator(oa.stream, oa.s0, oa.s1, oa.wfoot, oa.angle, core, clay,
                                  np.asarray(pglob, dtype=np.float64))
    if status != 0:
        raise ModelError(f"D&B observation operators: {_STATUS.get(int(status))}")
    return y


@dataclass(frozen=True)
class CellRun:
    """Result of a run of one cell: hourly outputs (nt, nvar, ntile), daily outputs
    (nd, nvar, ntile), the final state (nstate, ntile) and the state at the start of the
    main run, after spin-up (None for a single-call run)."""

    hourly: np.ndarray
    daily: np.ndarray
    state: np.ndarray
    state0: np.ndarray | None


def time_arrays(times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Day of year, UTC hour and days since 1 January of the first year, per hourly step.

    ``times`` are the step start times as numpy datetime64 values.
    """
    t = np.asarray(times).astype("datetime64[s]")
    year0 = t[0].astype("datetime64[Y]")
    days = t.astype("datetime64[D]")
    doy = (days - days.astype("datetime64[Y]")).astype(int) + 1
    hour = (t - days).astype(float) / 3600.0
    tday = (t - year0.astype("datetime64[s]")).astype(float) / 86400.0
    return doy.astype(np.int32), hour, tday


def _call(met, doy, hour, tday, lat, lon, sand, clay, pfts, ppft, pglob, nspin, init, state):
    nt = met.shape[0]
    nd = nt // 24
    with CORE_LOCK:
        hout, dout, status = _API.run_cell(nd, nspin, init, doy, hour, tday, met, lat, lon,
                                           sand, clay, pfts, ppft, pglob, state)
    if status != 0:
        raise ModelError(f"D&B core: {_STATUS.get(int(status), f'status {status}')}")
    # the core keeps the variable first; present (time, variable, tile) views, no copies
    return hout.transpose(1, 0, 2), dout.transpose(1, 0, 2)


def run_cell(met: np.ndarray, times: np.ndarray, lat: float, lon: float, sand: float,
             clay: float, pfts: "list[int]", ppft: np.ndarray, pglob: np.ndarray,
             nspin: int = 0, show_progress: bool | None = None,
             chunk_days: int | None = 366) -> CellRun:
    """Run the D&B core for one cell.

    Parameters
    ----------
    met : (nt, nmet) hourly forcing in canonical units (see ``parameters.FORCING_VARS``).
    times : (nt,) datetime64 step start times, starting at 00 UTC, whole days.
    lat, lon : degrees north / east.
    sand, clay : soil texture mass fractions (0-1).
    pfts : BETHY PFT codes of the tiles.
    ppft : (npft_par, ntile) PFT parameters; pglob : (nglob_par,) global parameters.
    nspin : spin-up hours (cycling the forcing from its start); carbon pools are reset to
        their initial values after spin-up, water and temperature keep the spun-up state.
    chunk_days : the run is split into chunks of this many days with the state carried over
        (identical results; lets a progress bar advance). ``None`` runs in one call.
    """
    met = np.asfortranarray(met, dtype=np.float64)
    nt = met.shape[0]
    if met.ndim != 2 or met.shape[1] != len(FORCING_VARS):
        raise ModelError(f"forcing array must be (nt, {len(FORCING_VARS)}), got {met.shape}")
    if nt == 0 or nt % 24:
        raise ModelError(f"forcing has {nt} hours; runs must cover whole days")
    if nspin < 0 or nspin % 24:
        raise ModelError(f"spin-up of {nspin} hours: give whole days (a multiple of 24)")
    pfts = np.asarray(pfts, dtype=np.int32)
    ntile = len(pfts)
    ppft = np.asfortranarray(ppft, dtype=np.float64)
    pglob = np.asfortranarray(pglob, dtype=np.float64)
    if ppft.shape != (len(PFT_PARAMETERS), ntile):
        raise ModelError(f"PFT parameter array must be ({len(PFT_PARAMETERS)}, {ntile})")
    doy, hour, tday = time_arrays(times)
    if hour[0] != 0.0:
        raise ModelError("the forcing must start at 00 UTC")
    args = (lat, lon, sand, clay, pfts, ppft, pglob)
    state = np.asfortranarray(np.zeros((len(STATE_NAMES), ntile)))
    if chunk_days is None:
        # one call: the core initialises, spins up and runs (the path the derivatives take)
        state0 = None
        hout, dout = _call(met, doy, hour, tday, *args, nspin, 1, state)
        return CellRun(hourly=hout, daily=dout, state=state, state0=state0)
    state = initial_state(met, pfts, ppft, pglob, sand, clay)
    if nspin > 0:
        # spin-up: cycle the forcing from its start, then reset the carbon pools
        sidx = np.arange(nspin) % nt
        _call(np.asfortranarray(met[sidx]), doy[sidx], hour[sidx], tday[sidx], *args, 0, 0,
              state)
        carbon0 = [pft_index(n) for n in ("c_lab0", "c_fol0", "c_root0", "c_wood0", "c_lit0",
                                          "c_som0")]
        state[:6, :] = ppft[carbon0, :]
    state0 = state.copy()
    step = 24 * chunk_days
    bounds = [(a, min(a + step, nt)) for a in range(0, nt, step)]
    hout = np.empty((len(HOURLY_OUTPUTS), nt, ntile), order="F").transpose(1, 0, 2)
    dout = np.empty((len(DAILY_OUTPUTS), nt // 24, ntile), order="F").transpose(1, 0, 2)
    for a, b in progress(bounds, total=len(bounds), desc="D&B run", enabled=show_progress,
                         unit="yr"):
        h, d = _call(np.asfortranarray(met[a:b]), doy[a:b], hour[a:b], tday[a:b], *args, 0, 0,
                     state)
        hout[a:b] = h
        dout[a // 24:b // 24] = d
    return CellRun(hourly=hout, daily=dout, state=state, state0=state0)


def initial_state(met: np.ndarray, pfts, ppft: np.ndarray, pglob: np.ndarray, sand: float,
                  clay: float) -> np.ndarray:
    """State of each tile before any spin-up, shape (nstate, ntile) (``STATE_NAMES``).

    Carbon pools from the parameters ``c_*0``, both soil layers at the relative
    plant-available water ``sw_init``, no snow or canopy water, soil temperature at the
    deep-soil temperature of the first forcing step (``met`` in canonical units, (nt, nmet)).
    """
    t_deep = float(np.asarray(met)[0, [v[0] for v in FORCING_VARS].index("tsl_deep")])
    state, status = _API.initial_state(np.asarray(pfts, dtype=np.int32),
                                       np.asfortranarray(ppft, dtype=np.float64),
                                       np.asfortranarray(pglob, dtype=np.float64), sand, clay,
                                       t_deep)
    if status != 0:
        raise ModelError(f"D&B core: {_STATUS.get(int(status), f'status {status}')}")
    return np.asfortranarray(state)


def run_from_state(met: np.ndarray, times: np.ndarray, lat: float, lon: float, sand: float,
                   clay: float, pfts, ppft: np.ndarray, pglob: np.ndarray, state: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Continue a run of one cell from ``state`` over the hourly steps of ``met``/``times``.

    ``state`` (nstate, ntile), Fortran-ordered float64 (as :func:`initial_state` returns it),
    is updated in place to the state at the end. Returns (time, variable, tile) views of the
    hourly and daily outputs (``HOURLY_OUTPUTS``, ``DAILY_OUTPUTS``). ``times`` must start at
    00 UTC and cover whole days. No spin-up and no reset of carbon pools happen here.
    """
    if not (isinstance(state, np.ndarray) and state.dtype == np.float64
            and state.flags.f_contiguous and state.shape == (len(STATE_NAMES), len(pfts))):
        raise ModelError(f"state must be a Fortran-ordered float64 array of shape "
                         f"({len(STATE_NAMES)}, {len(pfts)})")
    met = np.asfortranarray(met, dtype=np.float64)
    if met.ndim != 2 or met.shape[0] == 0 or met.shape[0] % 24:
        raise ModelError(f"forcing has shape {met.shape}; runs must cover whole days")
    doy, hour, tday = time_arrays(times)
    return _call(met, doy, hour, tday, lat, lon, sand, clay, np.asarray(pfts, dtype=np.int32),
                 np.asfortranarray(ppft, dtype=np.float64),
                 np.asfortranarray(pglob, dtype=np.float64), 0, 0, state)


def leaf_assimilation(i_abs: float, ca: float, tc: float, pres: float = 101325.0,
                      vcmax25: float = 42e-6, ajv: float = 1.9, c4: bool = False,
                      beta: float = 1.0, pglob: np.ndarray | None = None) -> dict:
    """Leaf photosynthesis of the core at the canopy top, for diagnostics and tests.

    i_abs absorbed PAR (mol m-2 s-1), ca CO2 (mol mol-1), tc leaf temperature (degC),
    pres (Pa), vcmax25 (mol m-2 s-1), ajv (Jmax/Vcmax), beta stress factor on the
    conductance. Returns gross assimilation of pass 1 (fixed Ci) and pass 2 (given
    conductance), dark respiration (mol m-2 s-1), conductance gs (m s-1) and ci.
    """
    from .parameters import global_defaults
    pg = global_defaults() if pglob is None else np.asarray(pglob, dtype=float)
    a1, a2, rd, gs, ci = _API.leaf_assimilation(int(c4), i_abs, ca, tc, pres, vcmax25, ajv,
                                                beta, pg)
    return {"a_fixed_ci": float(a1), "a_given_gs": float(a2), "rd": float(rd), "gs": float(gs),
            "ci": float(ci)}


def run_cell_obs(met: np.ndarray, times: np.ndarray, lat: float, lon: float, sand: float,
                 clay: float, pfts: "list[int]", ppft: np.ndarray, pglob: np.ndarray,
                 oa: ObsArrays, nspin: int = 0) -> tuple[CellRun, np.ndarray]:
    """y = H(M(p)) in one call of the core (spin-up, run and observation operators), the
    path the derivative codes follow. Returns the run and the simulated observations."""
    met = np.asfortranarray(met, dtype=np.float64)
    doy, hour, tday = time_arrays(times)
    state = np.asfortranarray(np.zeros((len(STATE_NAMES), len(pfts))))
    hout, dout, y, status = _API.run_cell_obs(
        met.shape[0] // 24, nspin, 1, doy, hour, tday, met, lat, lon, sand, clay,
        np.asarray(pfts, dtype=np.int32), np.asfortranarray(ppft, dtype=np.float64),
        np.asarray(pglob, dtype=np.float64), state, oa.stream, oa.s0, oa.s1, oa.wfoot,
        oa.angle)
    if status != 0:
        raise ModelError(f"D&B core: {_STATUS.get(int(status), f'status {status}')}")
    return CellRun(hourly=hout.transpose(1, 0, 2), daily=dout.transpose(1, 0, 2), state=state,
                   state0=None), y


def lband_emission(sm: float, clay: float, theta: float, ts: float, tc: float, tau: float,
                   h_r: float = 0.3, omega: float = 0.06) -> dict:
    """L-band emission of the core's TB operator: Mironov permittivity, Fresnel
    reflectivities and tau-omega brightness temperatures (K) for one state."""
    er, ei, rh, rv, tbh, tbv = _API.lband_emission(sm, clay, theta, ts, tc, tau, h_r, omega)
    return {"eps_r": float(er), "eps_i": float(ei), "r_h": float(rh), "r_v": float(rv),
            "tb_h": float(tbh), "tb_v": float(tbv)}


def cband_backscatter(theta: float, sm: float, vwc: float, pglob: np.ndarray | None = None
                      ) -> dict:
    """C-band backscatter of the core's ASCAT operator for one tile state.

    Parameters
    ----------
    theta : incidence angle, degrees.
    sm : surface soil moisture, m3 m-3.
    vwc : vegetation water content, kg m-2.
    pglob : global parameters (``parameters.global_defaults()`` if None); the water-cloud
        coefficients ``wcm_a``, ``wcm_b``, ``wcm_c``, ``wcm_d``, ``wcm_n`` are used.

    Returns
    -------
    dict with ``sigma0`` (m2 m-2, linear), ``sigma0_db`` (dB), ``dsigma0`` (d sigma0 /
    d theta, per degree) and ``slope_db`` (d sigma0_dB / d theta, dB per degree).
    """
    from .parameters import global_defaults, global_index
    pg = global_defaults() if pglob is None else np.asarray(pglob, dtype=float)
    a, b, c, d, n = (float(pg[global_index(k)]) for k in ("wcm_a", "wcm_b", "wcm_c", "wcm_d",
                                                          "wcm_n"))
    sig, dsig = _API.cband_backscatter(theta, sm, vwc, a, b, c, d, n)
    sig, dsig = float(sig), float(dsig)
    return {"sigma0": sig, "sigma0_db": 10.0 * np.log10(sig), "dsigma0": dsig,
            "slope_db": 10.0 / np.log(10.0) * dsig / sig}


def release_adjoint_memory() -> None:
    """Free the adjoint's tape storage.

    The first adjoint of a process allocates it (about 280 MB for the default case) and later
    adjoints reuse it, so that only the first one pays for the allocation. Call this when no
    more adjoints follow (after an assimilation, say); the next adjoint allocates it again.
    """
    _API.stack_release()


class CellModel:
    """y = H(M(p(x))) for one cell, with its tangent and adjoint (Tapenade codes).

    Holds the fixed inputs of a cell (forcing, site, parameters outside the control vector,
    observations) so that ``forward(x)``, ``tangent(x, dx)`` and ``adjoint(x, dy)`` take only
    what changes. ``x`` is in units of prior sigma (see :mod:`tccas.control`).
    ``cost_and_gradient(x, index, observed, sigma)`` gives the observation term of the cost,
    y and the term's gradient from one taped run (what ``forward`` then ``adjoint`` give
    with two runs).

    ``adjoint_memory_mb`` is the adjoint's memory budget: a run (spin-up and main hours of all
    tiles) whose tape would exceed it, at about ``TAPE_BYTES_PER_TILE_HOUR`` per hour and
    tile, is re-run by the adjoint in yearly checkpointed blocks instead, which takes about
    one more forward run and keeps memory near one year per tile. The gradient is the same
    either way; ``last_stack_bytes`` reports what the last adjoint used.
    """

    def __init__(self, met: np.ndarray, times: np.ndarray, lat: float, lon: float,
                 sand: float, clay: float, pfts, ppft0: np.ndarray, pglob0: np.ndarray,
                 control, oa: ObsArrays, nspin: int = 0,
                 adjoint_memory_mb: float = DEFAULT_ADJOINT_MEMORY_MB) -> None:
        self.met = np.asfortranarray(met, dtype=np.float64)
        if self.met.ndim != 2 or self.met.shape[1] != len(FORCING_VARS):
            raise ModelError(f"forcing array must be (nt, {len(FORCING_VARS)}) (hours, "
                             f"variables of parameters.FORCING_VARS), got {self.met.shape}")
        if self.met.shape[0] % 24 or self.met.shape[0] == 0:
            raise ModelError("forcing must cover whole days")
        if len(times) != self.met.shape[0]:
            raise ModelError(f"{len(times)} times for {self.met.shape[0]} forcing hours")
        if int(nspin) < 0 or int(nspin) % 24:
            raise ModelError(f"spin-up of {nspin} hours: give whole days (a multiple of 24)")
        self.doy, self.hour, self.tday = time_arrays(times)
        if self.hour[0] != 0.0:
            raise ModelError("the forcing must start at 00 UTC")
        pfts_a = np.asarray(pfts)
        if pfts_a.ndim != 1 or pfts_a.size == 0 or np.any((pfts_a < 1) | (pfts_a > 13)):
            raise ModelError(f"pfts must be BETHY PFT codes 1..13, got {pfts!r}")
        shape = (len(PFT_PARAMETERS), pfts_a.size)
        if np.shape(ppft0) != shape or np.shape(pglob0) != (len(GLOBAL_PARAMETERS),):
            raise ModelError(f"parameter arrays must be {shape} and ({len(GLOBAL_PARAMETERS)},), "
                             f"got {np.shape(ppft0)} and {np.shape(pglob0)}")
        if oa.n and np.shape(oa.wfoot) != (oa.n, pfts_a.size):
            raise ModelError(f"observation footprints have shape {np.shape(oa.wfoot)}, "
                             f"expected ({oa.n}, {pfts_a.size})")
        self.site = (float(lat), float(lon), float(sand), float(clay))
        self.pfts = np.asarray(pfts, dtype=np.int32)
        self.ppft0 = np.asfortranarray(ppft0, dtype=np.float64)
        self.pglob0 = np.asarray(pglob0, dtype=np.float64)
        self.control = control
        self.oa = oa
        self.nspin = int(nspin)
        self.adjoint_memory_mb = adjoint_memory_mb
        self.last_stack_bytes = 0.0
        self._ctl = (control.kind, control.index, control.tile, control.prior, control.sigma)

    @property
    def nx(self) -> int:
        return len(self.control)

    @property
    def adjoint_memory_mb(self) -> float:
        """The adjoint's memory budget (MB); can be changed between calls."""
        return self._memory_mb

    @adjoint_memory_mb.setter
    def adjoint_memory_mb(self, value: float) -> None:
        mb = self._memory_mb = checked_memory_mb(value)
        # the budget in tile-hours, as the core takes it
        self.tape_hours = int(min(mb * 1e6 / TAPE_BYTES_PER_TILE_HOUR, 2**31 - 1))

    @property
    def ny(self) -> int:
        return self.oa.n

    def _x(self, x, name="x", n=None) -> np.ndarray:
        n = self.nx if n is None else n
        a = np.asarray(x, dtype=np.float64)
        if a.shape != (n,):
            raise ModelError(f"{name} must have shape ({n},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ModelError(f"{name} has NaN or infinite values")
        return a

    def _common(self, tape: bool = False):
        lat, lon, sand, clay = self.site
        budget = (self.tape_hours,) if tape else ()
        return (self.met.shape[0] // 24, self.nspin, *budget, self.doy, self.hour, self.tday,
                self.met, lat, lon, sand, clay, self.pfts, self.ppft0, self.pglob0, self.oa.stream,
                self.oa.s0, self.oa.s1, self.oa.wfoot, self.oa.angle)

    @staticmethod
    def _status(status: int) -> None:
        if status != 0:
            raise ModelError(f"D&B core: {_STATUS.get(int(status), f'status {status}')}")

    def _in_bounds(self, x: np.ndarray) -> None:
        c = self.control
        out = np.nonzero((x < c.lower) | (x > c.upper))[0]
        if out.size:
            k = int(out[0])
            p = c.prior[k] + c.sigma[k] * x[k]
            lo, hi = c.prior[k] + c.sigma[k] * c.lower[k], c.prior[k] + c.sigma[k] * c.upper[k]
            raise ModelError(f"control element {c.names[k]} = {p:.6g} (x = {x[k]:.4g}) is outside "
                             f"its bounds [{lo:.6g}, {hi:.6g}]"
                             + (f" ({out.size} elements)" if out.size > 1 else ""))

    def forward(self, x) -> np.ndarray:
        """Simulated observations y(x)."""
        x = self._x(x)
        self._in_bounds(x)
        y, status = _API.forward_x(x, *self._ctl, *self._common())
        self._status(status)
        return y

    def tangent(self, x, dx) -> tuple[np.ndarray, np.ndarray]:
        """(y, J dx) at x."""
        x, dx = self._x(x), self._x(dx, "dx")
        self._in_bounds(x)
        y, dy, status = _API.tangent_x(x, dx, *self._ctl, *self._common())
        self._status(status)
        return y, dy

    def adjoint(self, x, dy) -> np.ndarray:
        """J^T dy at x."""
        x, dy = self._x(x), self._x(dy, "dy", self.ny)
        self._in_bounds(x)
        dx, stack, status = _API.adjoint_x(x, *self._ctl, *self._common(tape=True), dy)
        self._status(status)
        self.last_stack_bytes = float(stack)
        return dx

    def cost_and_gradient(self, x, index, observed, sigma
                          ) -> tuple[float, np.ndarray, np.ndarray]:
        """The observation term of the cost, y and the term's gradient from one taped run.

        ``J_obs = 1/2 sum_k ((y[index[k]] - observed[k]) / sigma[k])**2`` (dimensionless)
        over the assimilated observations k; several k may point to the same element of y.
        The core records the run once (the adjoint's forward sweep gives y), then seeds the
        reverse sweep with J_obs's adjoint 1 (``dnb_api.cost_grad_x``; docs/assimilation.md).
        ``forward(x)`` followed by ``adjoint(x, dy)`` with ``dy`` the misfit's adjoint
        gives the same y and gradient with one more model run.

        Parameters
        ----------
        x : (nx,) control vector (units of prior sigma), inside its bounds.
        index : (n,) positions in y (0-based) of the assimilated observations.
        observed : (n,) observed values d, in the units of their streams.
        sigma : (n,) total data uncertainty s of each (same units, > 0).

        Returns
        -------
        j_obs : float
            J_obs (dimensionless).
        y : (ny,) ndarray
            The simulated observations of the same run, equal to ``forward(x)``.
        g : (nx,) ndarray
            dJ_obs/dx (per unit of x), equal to ``adjoint(x, dy)`` with
            ``dy[index] += (y[index] - observed) / sigma**2``.

        The memory budget ``adjoint_memory_mb`` and ``last_stack_bytes`` are those of
        :meth:`adjoint`.

        Raises
        ------
        ModelError
            On shapes, an index that is not an integer in 0..ny-1, an observed value or
            sigma that is NaN or infinite, sigma <= 0 (naming the first such observation),
            x outside its bounds, or a failure of the core.
        """
        x = self._x(x)
        index = np.asarray(index)
        n = index.size
        if index.ndim != 1 or (n and not np.issubdtype(index.dtype, np.integer)):
            raise ModelError(f"index must be a 1-D integer array, got shape {index.shape} and "
                             f"type {index.dtype}")
        d = np.asarray(observed, dtype=np.float64)
        s = np.asarray(sigma, dtype=np.float64)
        for name, a in (("observed", d), ("sigma", s)):
            if a.shape != (n,):
                raise ModelError(f"{name} must have shape ({n},) like index, got {a.shape}")
        self._in_bounds(x)
        # 1-based for the core; an index outside y becomes 0, which the core refuses
        inside = (index >= 0) & (index < self.ny)
        idx = np.where(inside, index + 1, 0).astype(np.int32)
        if n == 0:
            # nothing assimilated: J_obs = 0 and its gradient is zero; y from a plain run
            # (f2py passes no empty array)
            y = self.forward(x)
            self.last_stack_bytes = 0.0
            return 0.0, y, np.zeros(self.nx)
        j, y, g, stack, status = _API.cost_grad_x(x, *self._ctl, *self._common(tape=True),
                                                  idx, d, s)
        if status in (9, 10):
            if status == 9:
                bad = np.nonzero(~(np.isfinite(d) & np.isfinite(s) & (s > 0)))[0]
                what = f"observed = {d[bad[0]]!r}, sigma = {s[bad[0]]!r}" if bad.size else ""
            else:
                bad = np.nonzero(~inside)[0]
                what = f"index {index[bad[0]]} for {self.ny} simulated observations" \
                    if bad.size else ""
            k = int(bad[0]) if bad.size else -1
            raise ModelError(f"D&B core: {_STATUS[int(status)]} (assimilated observation {k}: "
                             f"{what}; {bad.size} such)")
        self._status(status)
        self.last_stack_bytes = float(stack)
        return float(j), y, g
