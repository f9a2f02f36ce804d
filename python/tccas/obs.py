"""Observation sets: what every part of the system shares about observations.

An :class:`ObservationSet` holds one stream (e.g. ``sif``): for each observation its time
window (UTC start and end of the instrument's integration), value, uncertainty (1-sigma),
quality flag, the footprint as fractions of the PFTs the sensor sees (which differ from the
model cell's cover and between sensors), and for microwave radiometers the incidence angle.
On disk it is CF-1.8 netCDF, one file per stream (DESIGN.md 'File formats').
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputDataError
from .io import OpenFile, atomic_path, get_whole, open_netcdf, put_whole, times_from_nc
from .parameters import OBS_STREAMS, PFT_NAMES

__all__ = ["STREAMS", "STREAM_CODES", "ASCAT_STREAMS", "ASCAT_REFERENCE_ANGLE",
           "ASCAT_VALID_RANGE", "ObsFile", "ObservationSet", "daily_means", "write_obs",
           "read_obs"]

STREAMS = {s[0]: (s[1], s[2]) for s in OBS_STREAMS}
STREAM_CODES = {s[0]: i + 1 for i, s in enumerate(OBS_STREAMS)}
#: ASCAT streams (active microwave), normalised to the reference incidence angle (deg)
ASCAT_STREAMS = ("sigma40", "slope")
ASCAT_REFERENCE_ANGLE = 40.0
#: plausible ranges of the ASCAT products over land (dB; dB deg-1): sigma40 of land lies
#: between about -25 dB (sand deserts) and -3 dB (flooded forest, cities); slopes between
#: about -0.3 and 0 dB deg-1 (Hahn et al. 2017). Wider limits catch wrong units only.
ASCAT_VALID_RANGE = {"sigma40": (-40.0, 5.0), "slope": (-1.0, 0.5)}


@dataclass(frozen=True)
class ObservationSet:
    """One observation stream.

    Attributes
    ----------
    stream : name from ``parameters.OBS_STREAMS``.
    t_start, t_end : (nobs,) datetime64[s], UTC integration window [t_start, t_end).
    value, sigma : (nobs,) observed value and 1-sigma uncertainty in the stream's unit.
    qc : (nobs,) integer quality flag (0 = best; the product's own convention is kept in
        the ``qc_meaning`` attribute).
    pft : PFT codes of the footprint columns; footprint : (nobs, npft) fractions of the
        footprint covered by each PFT (rows sum to <= 1; the rest is not vegetated by any
        modelled PFT and contributes nothing for vegetation streams; for ``sigma40`` and
        ``slope`` the weights are normalised to the modelled part, which is taken to
        represent the whole footprint).
    angle : (nobs,) incidence angle in degrees (0 where not applicable). Brightness
        temperatures need it (0-80 deg); the ASCAT streams ``sigma40`` and ``slope`` are
        normalised to 40 deg, so their angle is 40 (or 0, not given) and nothing else.
    """

    stream: str
    t_start: np.ndarray
    t_end: np.ndarray
    value: np.ndarray
    sigma: np.ndarray
    qc: np.ndarray
    pft: tuple[int, ...]
    footprint: np.ndarray
    angle: np.ndarray | None = None
    source: str = ""
    attrs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = np.asarray(self.value).shape[0]
        if self.angle is None:
            object.__setattr__(self, "angle", np.zeros(n))
        for name in ("t_start", "t_end", "value", "sigma", "qc", "angle"):
            arr = np.asarray(getattr(self, name))
            object.__setattr__(self, name, arr)
            if arr.shape != (n,):
                raise InputDataError(f"{self.source or self.stream}: '{name}' has shape "
                                     f"{arr.shape}, expected ({n},)")
        fp = np.asarray(self.footprint, dtype=float)
        object.__setattr__(self, "footprint", fp)
        if fp.shape != (n, len(self.pft)):
            raise InputDataError(f"{self.source or self.stream}: 'footprint_fraction' has shape "
                                 f"{fp.shape}, expected ({n}, {len(self.pft)})")

    @property
    def unit(self) -> str:
        return STREAMS[self.stream][0]

    def __len__(self) -> int:
        return int(self.value.shape[0])

    def subset(self, mask: np.ndarray) -> "ObservationSet":
        m = np.asarray(mask)
        return ObservationSet(self.stream, self.t_start[m], self.t_end[m], self.value[m],
                              self.sigma[m], self.qc[m], self.pft, self.footprint[m],
                              self.angle[m], self.source, dict(self.attrs))

    def validate(self, where: str | None = None, period: tuple[np.datetime64, np.datetime64]
                 | None = None, pfts: tuple[int, ...] | None = None) -> None:
        """Raise InputDataError naming the file and the first bad record."""
        w = where or self.source or self.stream
        if self.stream not in STREAMS:
            raise InputDataError(f"{w}: unknown stream '{self.stream}' "
                                 f"(known: {', '.join(STREAMS)})")

        def bad(mask, what):
            idx = np.nonzero(mask)[0]
            if idx.size:
                i = int(idx[0])
                raise InputDataError(f"{w}: record {i} (time {self.t_start[i]}): {what}"
                                     + (f" ({idx.size} records)" if idx.size > 1 else ""))

        bad(~np.isfinite(self.value), "value is NaN or infinite")
        bad(~np.isfinite(self.sigma), "sigma is NaN or infinite")
        bad(self.sigma <= 0, "sigma must be positive")
        bad(self.t_end <= self.t_start, "the integration window ends before it starts")
        # the footprint checks column by column: numpy reductions along the short PFT axis
        # of a (nobs, npft) array cost ten times more (56 602 hourly records of nee)
        fp = self.footprint
        columns = [fp[:, j] for j in range(fp.shape[1])]
        nonfinite = np.zeros(len(self), dtype=bool)
        negative = np.zeros(len(self), dtype=bool)
        total = np.zeros(len(self))
        for c in columns:
            nonfinite |= ~np.isfinite(c)
            negative |= c < 0
            total += c
        bad(nonfinite, "footprint fraction is NaN")
        bad(negative | (total > 1 + 1e-6), "footprint fractions must be >= 0 and sum to <= 1")
        bad(total <= 0, "footprint covers none of the modelled PFTs")
        if self.stream in ("tb_h", "tb_v"):
            bad((self.angle < 0) | (self.angle >= 80), "incidence angle must be in [0, 80) deg")
        if self.stream in ASCAT_STREAMS:
            # the products are normalised to the reference angle; the operator simulates them
            # there, so an angle is either not given (0) or that reference
            bad((self.angle != 0) & (np.abs(self.angle - ASCAT_REFERENCE_ANGLE) > 0.01),
                f"ASCAT {self.stream} is normalised to {ASCAT_REFERENCE_ANGLE:g} deg incidence: "
                f"'angle' must be {ASCAT_REFERENCE_ANGLE:g} (or 0, not given)")
            lo, hi = ASCAT_VALID_RANGE[self.stream]
            bad((self.value < lo) | (self.value > hi),
                f"{self.stream} outside [{lo:g}, {hi:g}] {self.unit}: not ASCAT backscatter "
                f"in {self.unit} (linear units, or a slope per radian?)")
        for c in self.pft:
            if c not in PFT_NAMES:
                raise InputDataError(f"{w}: footprint PFT code {c} is not a BETHY code 1..13")
        if pfts is not None:
            unknown = [c for c in self.pft if c not in pfts]
            if unknown:
                cols = [self.pft.index(c) for c in unknown]
                used = np.zeros(len(self), dtype=bool)
                for j in cols:
                    used |= self.footprint[:, j] > 0
                bad(used, f"footprint has fractions for PFT(s) {unknown} that this case does "
                          f"not model (case PFTs {list(pfts)})")
        if period is not None:
            lo, hi = period
            bad((self.t_start < lo) | (self.t_end > hi),
                f"outside the simulation period {lo} to {hi}")

    def footprint_for(self, pfts: tuple[int, ...]) -> np.ndarray:
        """(nobs, len(pfts)) footprint weights on the case's tiles."""
        out = np.zeros((len(self), len(pfts)))
        for j, c in enumerate(pfts):
            if c in self.pft:
                out[:, j] = self.footprint[:, self.pft.index(c)]
        return out


def daily_means(obs: ObservationSet, *, utc_offset_hours: float = 0.0,
                min_coverage: float = 0.8, good: np.ndarray | None = None,
                sigma_floor: tuple[float, float] | None = None) -> ObservationSet:
    """Daily means of a sub-daily observation set (half-hourly or hourly tower fluxes, say).

    The records of each local day, [00, 24) local standard time = UTC + ``utc_offset_hours``,
    are averaged with their window lengths as weights; a day is kept when its records cover
    all of it and its ``good`` records at least ``min_coverage`` of it (for gap-filled tower
    fluxes: the day's mean includes the gap-filled half-hours, as a FLUXNET daily file's
    does, and the share of measured or well gap-filled ones decides, like the QC of such a
    file). The daily observation's window is the whole local day (in UTC), so the model is
    averaged over the whole day too.

    Parameters
    ----------
    obs : ObservationSet
        Records with windows of at most a day that do not cross local midnight.
    utc_offset_hours : float, default 0
        Local standard time minus UTC (hours, within [-14, 14]).
    min_coverage : float, default 0.8
        Fraction of the day (0-1] the day's ``good`` records must cover.
    good : (nobs,) bool array, optional
        Records that count as good for ``min_coverage`` (default: all).
    sigma_floor : (relative, absolute), optional
        After averaging, sigma = max(sigma, relative * abs(value) + absolute) (absolute in the
        stream's unit).

    Returns
    -------
    ObservationSet
        One observation per kept day, in time order. Value: the weighted mean. Sigma: that of
        a weighted mean of independent errors, sqrt(sum (w_i sigma_i)**2) with w_i the
        weights (summing to 1); random eddy-covariance errors of different half-hours are
        nearly independent (Richardson et al. 2006, Agric. For. Meteorol. 136, 1-18), and
        ``sigma_floor`` bounds what this leaves out (systematic errors do not average out).
        qc: the worst flag of the day; footprint and angle: weighted means. ``attrs`` keep
        the input's, with the aggregation rule and counts added.

    Raises
    ------
    InputDataError
        A record longer than a day or crossing local midnight, or an empty result.
    ConfigError
        ``min_coverage`` outside (0, 1], ``utc_offset_hours`` outside [-14, 14], or a
        ``sigma_floor`` with a negative part.
    """
    from .errors import ConfigError
    where = obs.source or obs.stream
    if not 0.0 < min_coverage <= 1.0:
        raise ConfigError(f"{where}: min_coverage must be within (0, 1], got {min_coverage}")
    if not -14.0 <= utc_offset_hours <= 14.0:
        raise ConfigError(f"{where}: utc_offset_hours must be within [-14, 14], got "
                          f"{utc_offset_hours}")
    if sigma_floor is not None and (len(sigma_floor) != 2 or min(sigma_floor) < 0):
        raise ConfigError(f"{where}: sigma_floor must be a pair (relative, absolute) >= 0, "
                          f"got {sigma_floor!r}")
    shift = int(round(utc_offset_hours * 3600.0))
    t0 = obs.t_start.astype("datetime64[s]").astype(np.int64) + shift
    t1 = obs.t_end.astype("datetime64[s]").astype(np.int64) + shift
    dur = (t1 - t0).astype(float)
    day = np.floor_divide(t0, 86400)
    bad = (dur <= 0) | (dur > 86400) | (t1 > (day + 1) * 86400)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputDataError(f"{where}: record {k} ({obs.t_start[k]} to {obs.t_end[k]} UTC) "
                             "is not a sub-daily window inside one local day: cannot form "
                             "daily means")
    if good is None:
        good = np.ones(len(obs), dtype=bool)
    good = np.asarray(good, dtype=bool)
    if good.shape != (len(obs),):
        raise ConfigError(f"{where}: good has shape {good.shape}, expected ({len(obs)},)")
    days, inv = np.unique(day, return_inverse=True)
    total = np.bincount(inv, dur, minlength=days.size)
    covered = np.bincount(inv, dur * good, minlength=days.size)
    w = dur / total[inv]
    value = np.bincount(inv, w * obs.value, minlength=days.size)
    sigma = np.sqrt(np.bincount(inv, (w * obs.sigma) ** 2, minlength=days.size))
    if sigma_floor is not None:
        sigma = np.fmax(sigma, sigma_floor[0] * np.abs(value) + sigma_floor[1])
    qc = np.full(days.size, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(qc, inv, obs.qc.astype(np.int64))
    angle = np.bincount(inv, w * obs.angle, minlength=days.size)
    fp = np.stack([np.bincount(inv, w * obs.footprint[:, j], minlength=days.size)
                   for j in range(len(obs.pft))], axis=1) if len(obs.pft) else \
        np.zeros((days.size, 0))
    keep = (total >= 86400.0 * (1.0 - 1e-9)) & (covered >= min_coverage * 86400.0 * (1.0 - 1e-9))
    if not keep.any():
        raise InputDataError(f"{where}: no whole day with good records covering "
                             f"{min_coverage:.0%} of it: no daily mean")
    start = (days[keep] * 86400 - shift).astype("datetime64[s]")
    attrs = dict(obs.attrs)
    attrs.update({
        "aggregation": (f"daily means over local days (UTC{utc_offset_hours:+g} h) of "
                        f"{len(obs)} records, weighted by window length; whole days with "
                        f"good records covering >= {min_coverage:g} of them kept; sigma of a "
                        "mean of independent errors"
                        + (f", floor {sigma_floor[0]:g} |value| + {sigma_floor[1]:g}"
                           if sigma_floor is not None else "")),
        "n_days_dropped_coverage": int((~keep).sum()),
        "min_good_fraction": float(min_coverage)})
    return ObservationSet(obs.stream, start, start + np.timedelta64(86400, "s"), value[keep],
                          sigma[keep], qc[keep].astype(obs.qc.dtype), obs.pft, fp[keep],
                          angle[keep], obs.source, attrs)


def write_obs(path: str | os.PathLike, obs: ObservationSet, attrs: dict | None = None,
              simulated: np.ndarray | None = None,
              significant_digits: int | None = None,
              complevel: int | None = 1, lat: float | None = None,
              lon: float | None = None, atomic: bool = True) -> Path:
    """Write an observation set as CF-1.8 netCDF (optionally with the model equivalents).

    Parameters
    ----------
    path : target file, written atomically (complete or not at all) unless ``atomic`` is
        False (the caller's own temporary name).
    obs : the observation set.
    attrs : extra global attributes (over ``obs.attrs``).
    simulated : (nobs,) model equivalents, written as variable ``simulated``.
    significant_digits : quantises value, sigma, angle and simulated (netCDF quantisation)
        so that large sets compress well; None (default) keeps them exactly.
    complevel : zlib level (with the shuffle filter) of the per-observation variables, or
        None for uncompressed contiguous storage. Level 1 writes about twice as fast as
        level 4 for files a few percent larger (docs/io.md).
    lat, lon : the site's latitude (degrees north) and longitude (degrees east), written as
        CF scalar coordinate variables ``lat`` and ``lon`` named (with ``time``) in the
        ``coordinates`` attribute of the per-observation variables: the site the
        observations were selected for and are simulated at (a footprint's own centre is
        not kept by the readers). Both or neither; :func:`read_obs` does not need them.

    Returns
    -------
    The path written.
    """
    path = Path(path)
    n = len(obs)
    if simulated is not None and np.shape(simulated) != (n,):
        raise ValueError(f"{path}: 'simulated' has shape {np.shape(simulated)}, expected "
                         f"({n},) for the {n} observations of stream '{obs.stream}'")
    with atomic_path(path, atomic) as tmp:
        f = ObsFile(tmp, obs, attrs, simulated is not None, significant_digits, complevel,
                    lat, lon)
        f.fill(simulated)
    return path


class ObsFile(OpenFile):
    """A file of :func:`write_obs` in two steps: the observations are written when it is
    created, the model equivalents with :meth:`fill` (which closes it). ``tccas.run``
    creates the files while the core runs. The file at ``path`` is written in place (the
    caller's temporary name); :meth:`close` without :meth:`fill` leaves it incomplete.

    Parameters are those of :func:`write_obs`; ``with_simulated`` defines the variable
    ``simulated`` that :meth:`fill` writes.
    """

    def __init__(self, path: str | os.PathLike, obs: ObservationSet, attrs: dict | None = None,
                 with_simulated: bool = True, significant_digits: int | None = None,
                 complevel: int | None = 1, lat: float | None = None,
                 lon: float | None = None):
        import netCDF4
        path = self.path = Path(path)
        self.n = n = len(obs)
        self.stream = obs.stream
        if (lat is None) != (lon is None):
            raise ValueError(f"{path}: give both lat and lon or neither")
        if lat is not None and not (-90.0 <= float(lat) <= 90.0
                                    and -180.0 <= float(lon) <= 360.0):
            raise ValueError(f"{path}: site coordinates lat={lat}, lon={lon} out of range")
        coords = {"coordinates": "time lat lon"} if lat is not None else {}
        if complevel is None or n == 0:
            store: dict = {"contiguous": True} if n else {}
            store2: dict = dict(store)
        else:
            store = {"zlib": True, "complevel": int(complevel), "shuffle": True,
                     "chunksizes": (n,)}
            store2 = {**store, "chunksizes": (n, 2)}
        ref = np.datetime64("1970-01-01T00:00:00")
        secs = np.empty((n, 2))
        secs[:, 0] = (obs.t_start - ref).astype("timedelta64[s]").astype(np.int64)
        secs[:, 1] = (obs.t_end - ref).astype("timedelta64[s]").astype(np.int64)
        self._sim = None
        self._ds = ds = netCDF4.Dataset(path, "w", format="NETCDF4")
        try:
            ds.set_fill_off()     # every value is written
            ds.Conventions = "CF-1.8"
            ds.stream = obs.stream
            ds.stream_units = obs.unit
            ds.stream_description = STREAMS[obs.stream][1]
            for k, v in {**obs.attrs, **(attrs or {})}.items():
                ds.setncattr(k, v)
            ds.createDimension("obs", n)
            ds.createDimension("nv", 2)
            ds.createDimension("pft", len(obs.pft))
            # all definitions first, then all data (see io.write_table_nc)
            pending = []
            tv = ds.createVariable("time", "f8", ("obs",), **store)
            tv.units = "seconds since 1970-01-01 00:00:00"
            tv.calendar = "standard"
            tv.standard_name = "time"
            tv.bounds = "time_bnds"
            tv.long_name = "start of the integration window"
            pending.append((tv, secs[:, 0]))
            tb = ds.createVariable("time_bnds", "f8", ("obs", "nv"), **store2)
            pending.append((tb, secs))
            if lat is not None:
                for name, val, unit, std in (("lat", lat, "degrees_north", "latitude"),
                                             ("lon", lon, "degrees_east", "longitude")):
                    v = ds.createVariable(name, "f8", ())
                    v.units, v.standard_name = unit, std
                    v.long_name = f"{std} of the site"
                    pending.append((v, np.float64(val)))
            v = ds.createVariable("pft", "i4", ("pft",))
            v.long_name = "BETHY plant functional type code"
            pending.append((v, np.array(obs.pft, dtype=np.int32)))
            for name, arr, unit, long in (
                ("value", obs.value, obs.unit, f"observed {obs.stream}"),
                ("sigma", obs.sigma, obs.unit, "observation uncertainty (1 sigma)"),
                ("angle", obs.angle, "degree", "incidence angle"),
            ):
                v = ds.createVariable(name, "f8", ("obs",), **store,
                                      significant_digits=significant_digits)
                v.units = unit
                v.long_name = long
                v.setncatts(coords)
                pending.append((v, arr))
            v = ds.createVariable("qc", "i4", ("obs",), **store)
            v.units = "1"
            v.long_name = "quality flag (0 = best)"
            pending.append((v, obs.qc.astype(np.int32)))
            v = ds.createVariable("footprint_fraction", "f8", ("obs", "pft"),
                                  **({**store, "chunksizes": (n, len(obs.pft))}
                                     if "chunksizes" in store and len(obs.pft) else store))
            v.units = "1"
            v.long_name = "fraction of the observation footprint covered by each PFT"
            pending.append((v, obs.footprint))
            if with_simulated:
                v = ds.createVariable("simulated", "f8", ("obs",), **store,
                                      significant_digits=significant_digits)
                v.units = obs.unit
                v.long_name = f"model equivalent of the observed {obs.stream}"
                v.setncatts(coords)
                self._sim = v
            for v, arr in pending:
                if n or v.name in ("pft", "lat", "lon"):
                    put_whole(v, arr)
        except BaseException:
            ds.close()
            raise

    def fill(self, simulated: np.ndarray | None = None) -> Path:
        """Write the model equivalents (if the file has them) and close the file."""
        try:
            if (simulated is None) != (self._sim is None):
                raise ValueError(f"{self.path}: 'simulated' is "
                                 f"{'missing' if simulated is None else 'not defined'}")
            if simulated is not None:
                if np.shape(simulated) != (self.n,):
                    raise ValueError(f"{self.path}: 'simulated' has shape "
                                     f"{np.shape(simulated)}, expected ({self.n},) for the "
                                     f"{self.n} observations of stream '{self.stream}'")
                if self.n:
                    put_whole(self._sim, simulated)
        finally:
            self.close()
        return self.path


def read_obs(path: str | os.PathLike) -> ObservationSet:
    """Read an observation file written by :func:`write_obs` (or in the same layout)."""
    path = Path(path)
    where = str(path)
    with open_netcdf(path) as ds:
        stream = getattr(ds, "stream", None)
        if stream is None:
            raise InputDataError(f"{where}: missing global attribute 'stream'")
        if stream not in STREAMS:
            raise InputDataError(f"{where}: unknown stream '{stream}' "
                                 f"(known: {', '.join(STREAMS)})")
        for name in ("time", "value", "sigma", "qc", "pft", "footprint_fraction"):
            if name not in ds.variables:
                raise InputDataError(f"{where}: missing variable '{name}'")
        unit = getattr(ds.variables["value"], "units", STREAMS[stream][0])
        if unit != STREAMS[stream][0]:
            raise InputDataError(f"{where}: variable 'value' has units '{unit}', expected "
                                 f"'{STREAMS[stream][0]}' for stream '{stream}'")
        tvar = ds.variables["time"]
        if "time_bnds" in ds.variables:
            b = get_whole(ds.variables["time_bnds"], None, float)
            if b.ndim != 2 or b.shape[1] != 2:
                raise InputDataError(f"{where}: variable 'time_bnds' has shape {b.shape}, "
                                     "expected (obs, 2)")
            t = times_from_nc(tvar, where, b).reshape(-1, 2)    # both bounds in one pass
            t0, t1 = t[:, 0].copy(), t[:, 1].copy()
        else:
            t0 = times_from_nc(tvar, where, get_whole(tvar, None, float))
            t1 = t0 + np.timedelta64(3600, "s")
        get = lambda n: get_whole(ds.variables[n], np.nan, float)  # noqa: E731
        angle = get("angle") if "angle" in ds.variables else None
        pft = tuple(int(c) for c in np.atleast_1d(get_whole(ds.variables["pft"], None)))
        fp = get("footprint_fraction")
        if fp.size == len(t0) * len(pft):       # else ObservationSet names the bad shape
            fp = fp.reshape(len(t0), len(pft))
        obs = ObservationSet(stream, t0, t1, get("value"), get("sigma"),
                             get_whole(ds.variables["qc"], -1).astype(int), pft,
                             fp, angle, where,
                             {k: ds.getncattr(k) for k in ds.ncattrs()
                              if k not in ("Conventions", "stream", "stream_units",
                                           "stream_description", "featureType")})
    obs.validate(where)
    return obs
