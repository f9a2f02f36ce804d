"""Figures users want to look at after a run: observations against their simulated
equivalents (one panel per stream) and the daily carbon and water cycle per PFT."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputDataError


def _pyplot():
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        raise InputDataError("tccas plot needs matplotlib: pip install 'tccas[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_observations(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """One panel per observation stream of a run: observed values with their 1-sigma bars
    and the simulated equivalents. Writes ``obs.png`` in the run folder (or ``out``)."""
    import netCDF4
    run_dir = Path(run_dir)
    files = sorted((run_dir / "obs").glob("*.nc"))
    if not files:
        raise InputDataError(f"{run_dir}: no obs/*.nc files with simulated equivalents "
                             "(does the configuration list [observations]?)")
    plt = _pyplot()
    fig, axes = plt.subplots(len(files), 1, figsize=(11, 2.4 * len(files)), squeeze=False)
    for ax, f in zip(axes[:, 0], files):
        with netCDF4.Dataset(f) as ds:
            if "simulated" not in ds.variables:
                raise InputDataError(f"{f}: missing variable 'simulated'")
            t = netCDF4.num2date(ds["time"][:], ds["time"].units,
                                 only_use_cftime_datetimes=False)
            t = np.array(t, dtype="datetime64[s]")
            val, sig, sim = (np.asarray(ds[v][:]) for v in ("value", "sigma", "simulated"))
            stream, unit = ds.stream, ds.stream_units
        step = max(1, len(t) // 2000)        # thin dense streams for legibility
        ax.errorbar(t[::step], val[::step], yerr=sig[::step], fmt=".", ms=2, lw=0.3,
                    color="0.45", label="observed")
        ax.plot(t[::step], sim[::step], ".", ms=2, color="tab:red", label="simulated")
        rmse = float(np.sqrt(np.mean((sim - val) ** 2)))
        ax.set_title(f"{stream}: n = {len(val)}, RMSE = {rmse:.3g} {unit}", fontsize=9,
                     loc="left")
        ax.set_ylabel(unit, fontsize=8)
        ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    target = Path(out) if out else run_dir / "obs.png"
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target


def plot_daily(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Daily GPP, NEE, ET, LAI and root-zone soil moisture per PFT and for the cell."""
    import netCDF4
    run_dir = Path(run_dir)
    path = run_dir / "daily.nc"
    if not path.exists():
        raise InputDataError(f"{path}: file not found (is {run_dir} a tccas run folder?)")
    plt = _pyplot()
    names = {1: "TrEv", 2: "TrDD", 3: "TmEv", 4: "TmSg", 5: "EvCn", 6: "SgCn", 7: "EShr",
             8: "DShr", 9: "C3Gr", 10: "C4Gr", 11: "Tun", 12: "WetV", 13: "ArbC"}
    with netCDF4.Dataset(path) as ds:
        t = np.array(netCDF4.num2date(ds["time"][:], ds["time"].units,
                                      only_use_cftime_datetimes=False), dtype="datetime64[s]")
        pfts = [int(p) for p in ds["pft"][:]]
        panels = [(v, ds[v].units, np.asarray(ds[v][:]), np.asarray(ds[v + "_cell"][:]))
                  for v in ("gpp", "nee", "et", "lai", "sm_root")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.2 * len(panels)), sharex=True)
    for ax, (v, unit, per_pft, cell) in zip(axes, panels):
        for k, p in enumerate(pfts):
            ax.plot(t, per_pft[:, k], lw=0.7, label=names.get(p, str(p)))
        ax.plot(t, cell, lw=1.0, color="k", label="cell")
        ax.set_ylabel(f"{v} [{unit}]", fontsize=8)
    axes[0].legend(loc="upper right", fontsize=7, ncol=len(pfts) + 1)
    fig.tight_layout()
    target = Path(out) if out else run_dir / "daily.png"
    fig.savefig(target, dpi=110)
    plt.close(fig)
    return target
