"""Figures of an assimilation output folder (matplotlib, the optional ``plot`` extra):
time series of every stream (observations, prior, posterior with the posterior +-sigma
band of the simulated equivalent), parameter shifts with prior and posterior sigma, and the
cost per stream per iteration."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["plot_all", "plot_cost", "plot_parameters", "plot_timeseries", "read_obs_with_sim",
           "read_series"]


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def read_obs_with_sim(path: str | os.PathLike):
    """(ObservationSet, simulated values) of an ``obs/<stream>.nc`` file of a run."""
    from ..io import open_netcdf
    from ..obs import read_obs
    o = read_obs(path)
    with open_netcdf(path) as ds:
        sim = np.asarray(ds.variables["simulated"][:], dtype=float)
    return o, sim


def _save(fig, path: Path) -> Path:
    from ..io import atomic_path
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


def _daily(t, *series):
    """Daily means of dense series (keeps figures light)."""
    day = t.astype("datetime64[D]")
    u, inv = np.unique(day, return_inverse=True)
    out = [np.bincount(inv, weights=s) / np.bincount(inv) for s in series]
    return u.astype("datetime64[s]") + np.timedelta64(12 * 3600, "s"), out


def _site(out: Path) -> str:
    """Site name of an assimilation folder (from its posterior run)."""
    from ..plots import run_site_name
    return run_site_name(out / "posterior") if (out / "posterior").is_dir() else out.name


def read_series(out_dir: str | os.PathLike) -> list:
    """Per stream of an assimilation folder: (ObservationSet, prior, posterior, posterior
    sigma of the simulated equivalent, mask of the assimilated observations)."""
    import netCDF4
    out = Path(out_dir)
    series = []
    with netCDF4.Dataset(out / "assimilation.nc") as ds:
        files = sorted((out / "posterior" / "obs").glob("*.nc"))
        order = getattr(ds, "observation_streams", "").split()
        files.sort(key=lambda f: order.index(f.stem) if f.stem in order else len(order))
        for f in files:
            o, post = read_obs_with_sim(f)
            _, prior = read_obs_with_sim(out / "prior" / "obs" / f.name)
            s = o.stream
            sig = np.asarray(ds.variables[f"{s}_sim_sigma_posterior"][:], dtype=float)
            assim = np.asarray(ds.variables[f"{s}_assimilated"][:]).astype(bool)
            series.append((o, prior, post, sig, assim))
    return series


def plot_timeseries(out_dir: str | os.PathLike, series: list | None = None) -> Path:
    """One panel per stream: observations (assimilated filled, withheld open), prior and
    posterior simulated equivalents, posterior +-sigma band. ``series`` as returned by
    :func:`read_series` (read from ``out_dir`` when None)."""
    plt = _plt()
    out = Path(out_dir)
    if series is None:
        series = read_series(out)
    from ..plots import quantity_label, stream_title
    fig, axes = plt.subplots(len(series), 1, figsize=(11, 2.4 * len(series) + 0.5),
                             squeeze=False, sharex=True)
    for ax, (o, prior, post, sig, assim) in zip(axes[:, 0], series):
        s = o.stream
        t = o.t_start + (o.t_end - o.t_start) // 2
        order = np.argsort(t)
        t, v, pr, po, sg, am = (t[order], o.value[order], prior[order], post[order],
                                sig[order], assim[order])
        if len(t) > 5000:
            td, (v, pr, po, sg, amf) = _daily(t, v, pr, po, sg, am.astype(float))
            t, am = td, amf > 0.5
        ax.fill_between(t, po - sg, po + sg, color="tab:red", alpha=0.25, lw=0, zorder=1,
                        label="posterior +-sigma")
        ax.plot(t, pr, color="tab:blue", lw=0.8, zorder=2, label="prior")
        ax.plot(t, po, color="tab:red", lw=0.8, zorder=2, label="posterior")
        # observations on top of the model lines
        ax.plot(t[am], v[am], "k.", ms=2.5, zorder=3, label="assimilated obs")
        ax.plot(t[~am], v[~am], ".", mfc="none", mec="0.4", ms=3, zorder=3,
                label="withheld obs")
        dense = " (daily means)" if len(o) > 5000 else ""
        ax.set_title(f"{stream_title(s)}: n = {len(o)}{dense}", fontsize=9, loc="left")
        ax.set_ylabel(quantity_label(s, o.unit), fontsize=8)
    axes[-1, 0].set_xlabel("time (UTC)", fontsize=8)
    site = _site(out)
    fig.suptitle(f"{site}: observations, prior and posterior", fontsize=11, x=0.01,
                 ha="left")
    # one legend above the panels, outside every axes (hides no data)
    h, lab = axes[0, 0].get_legend_handles_labels()
    fig.legend(h, lab, loc="upper right", ncol=len(lab), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    try:
        return _save(fig, out / "figures" / "timeseries.png")
    finally:
        plt.close(fig)


def plot_parameters(out_dir: str | os.PathLike) -> Path:
    """Posterior shift of every control element in units of prior sigma, with the prior
    (+-1) and posterior sigma."""
    import netCDF4
    plt = _plt()
    out = Path(out_dir)
    with netCDF4.Dataset(out / "assimilation.nc") as ds:
        names = [str(n) for n in ds.variables["control_name"][:]]
        x = np.asarray(ds.variables["x_posterior"][:])
        s = np.asarray(ds.variables["x_sigma_posterior"][:])
    k = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(12, 4.5))
    ax.fill_between([-0.5, len(names) - 0.5], -1, 1, color="0.85", label="prior +-sigma")
    ax.errorbar(k, x, yerr=s, fmt="o", color="tab:red", ms=3, capsize=2,
                label="posterior +-sigma")
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(k)
    ax.set_xticklabels(names, rotation=90, fontsize=6)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel("(posterior - prior) / prior sigma")
    ax.set_title(f"{_site(out)}: posterior shift of each control element", fontsize=10,
                 loc="left")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    try:
        return _save(fig, out / "figures" / "parameters.png")
    finally:
        plt.close(fig)


def plot_cost(out_dir: str | os.PathLike) -> Path:
    """Cost J, its prior term and the data term per stream against the iteration."""
    import netCDF4
    plt = _plt()
    out = Path(out_dir)
    with netCDF4.Dataset(out / "assimilation.nc") as ds:
        j = np.asarray(ds.variables["cost"][:])
        jp = np.asarray(ds.variables["cost_prior"][:])
        js = np.asarray(ds.variables["cost_stream"][:])
        streams = [str(n) for n in ds.variables["stream_name"][:]]
    it = np.arange(len(j))
    fig, ax = plt.subplots(figsize=(7.5, 4))
    ax.semilogy(it, j, "k-o", ms=3, label="J")
    ax.semilogy(it, np.where(jp > 0, jp, np.nan), "--", color="0.5", label="prior term")
    for k, s in enumerate(streams):
        ax.semilogy(it, js[:, k], "-", label=s)
    ax.set_xlabel("L-BFGS-B iteration")
    ax.set_ylabel("cost J and its terms")
    ax.set_title(f"{_site(out)}: cost per iteration", fontsize=10, loc="left")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    try:
        return _save(fig, out / "figures" / "cost.png")
    finally:
        plt.close(fig)


def plot_all(out_dir: str | os.PathLike, series: list | None = None) -> dict:
    """All figures of an assimilation folder; returns name -> path. Raises ImportError
    without matplotlib."""
    _plt()
    return {"figure_timeseries": plot_timeseries(out_dir, series),
            "figure_parameters": plot_parameters(out_dir), "figure_cost": plot_cost(out_dir)}
