"""Figures users want to look at after a run: observations against their simulated
equivalents (one panel per stream) and the daily carbon and water cycle per PFT."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputDataError

__all__ = ["plot_daily", "plot_observations", "quantity_label", "run_site_name", "stream_title"]

# short names of the observation streams for panel titles (units come from the files)
_STREAM_TITLES = {"sif": "SIF (743 nm)", "vod": "L-band VOD", "sm": "surface soil moisture",
                  "tb_h": "brightness temperature H", "tb_v": "brightness temperature V",
                  "fapar": "FAPAR", "nee": "NEE", "gpp": "GPP", "le": "latent heat flux",
                  "agb": "above-ground biomass", "sigma40": "ASCAT backscatter at 40 deg",
                  "slope": "ASCAT backscatter slope at 40 deg"}
_DAILY_TITLES = {"gpp": "GPP", "nee": "NEE", "et": "ET", "lai": "LAI",
                 "sm_root": "root-zone soil moisture"}


def _save(fig, target: Path) -> None:
    """Write a figure complete or not at all (temporary name, then moved into place)."""
    from .io import atomic_path
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def quantity_label(name: str, unit: str | None) -> str:
    """An axis label ``"name (unit)"``; dimensionless units (``"1"``, empty) are left out,
    so that no unit reads as part of a number."""
    unit = (unit or "").strip()
    return name if unit in ("", "1", "-") else f"{name} ({unit})"


def stream_title(stream: str) -> str:
    """A readable name of an observation stream (e.g. ``"sm"`` -> surface soil moisture)."""
    return _STREAM_TITLES.get(stream, stream)


def run_site_name(run_dir: str | os.PathLike) -> str:
    """Site name of a run folder (``site_name`` of daily.nc or ``model_run`` of an obs/
    file, else the folder's name)."""
    import netCDF4
    run_dir = Path(run_dir)
    for f in [run_dir / "daily.nc", *sorted((run_dir / "obs").glob("*.nc"))]:
        try:
            with netCDF4.Dataset(f) as ds:
                for key in ("site_name", "model_run"):
                    if key in ds.ncattrs():
                        return str(ds.getncattr(key))
        except OSError:
            continue
    return run_dir.name


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
    site = run_site_name(run_dir)
    fig, axes = plt.subplots(len(files), 1, figsize=(11, 2.5 * len(files) + 0.5),
                             squeeze=False, sharex=True)
    handles = None
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
        # simulated below, observations on top: the data are never hidden
        hs = ax.plot(t[::step], sim[::step], ".", ms=2, color="tab:red", zorder=2,
                     label="simulated")
        ho = ax.errorbar(t[::step], val[::step], yerr=sig[::step], fmt=".", ms=2, lw=0.3,
                         color="0.3", ecolor="0.6", zorder=3, label="observed +-1 sigma")
        handles = [ho, hs[0]]
        rmse = float(np.sqrt(np.mean((sim - val) ** 2)))
        bias = float(np.mean(sim - val))
        u = "" if unit.strip() in ("", "1") else f" {unit}"
        ax.set_title(f"{stream_title(stream)}: n = {len(val)}, bias {bias:.3g}{u}, "
                     f"RMSE {rmse:.3g}{u}", fontsize=9, loc="left")
        ax.set_ylabel(quantity_label(stream, unit), fontsize=8)
    axes[-1, 0].set_xlabel("time (UTC)", fontsize=8)
    fig.suptitle(f"{site}: observations and their simulated equivalents", fontsize=11,
                 x=0.01, ha="left")
    # one legend above the panels, outside every axes
    fig.legend(handles, [h.get_label() for h in handles], loc="upper right", ncol=2,
               fontsize=8, markerscale=3, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    target = Path(out) if out else run_dir / "obs.png"
    _save(fig, target)
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
        site = str(ds.getncattr("site_name")) if "site_name" in ds.ncattrs() else run_dir.name
        panels = [(v, ds[v].units, np.asarray(ds[v][:]), np.asarray(ds[v + "_cell"][:]))
                  for v in ("gpp", "nee", "et", "lai", "sm_root")]
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 2.2 * len(panels) + 0.5),
                             sharex=True)
    for ax, (v, unit, per_pft, cell) in zip(axes, panels):
        for k, p in enumerate(pfts):
            ax.plot(t, per_pft[:, k], lw=0.7, label=names.get(p, str(p)))
        ax.plot(t, cell, lw=1.0, color="k", label="cell (cover-weighted)")
        ax.set_ylabel(quantity_label(_DAILY_TITLES.get(v, v), unit), fontsize=8)
    axes[-1].set_xlabel("date (UTC)", fontsize=8)
    first, last = str(t[0].astype("datetime64[D]")), str(t[-1].astype("datetime64[D]"))
    fig.suptitle(f"{site}: daily D&B output per PFT and for the cell, {first} to {last}",
                 fontsize=11, x=0.01, ha="left")
    h, lab = axes[0].get_legend_handles_labels()
    fig.legend(h, lab, loc="upper right", ncol=len(lab), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    target = Path(out) if out else run_dir / "daily.png"
    _save(fig, target)
    plt.close(fig)
    return target
