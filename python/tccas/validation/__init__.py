"""Validation of an assimilation: metrics per stream (assimilated and withheld
observations, prior and posterior) and figures.

``validate_dir(DIR)`` recomputes the table and figures from a finished output folder of
``tccas assimilate`` (what ``tccas validate DIR`` runs).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputDataError
from .metrics import StreamMetrics, format_table, stream_metrics, validation_table, write_table

__all__ = ["StreamMetrics", "format_table", "stream_metrics", "validate_dir",
           "validation_table", "write_table"]


def validate_dir(out_dir: str | os.PathLike, figures: bool = True
                 ) -> tuple[list[StreamMetrics], dict]:
    """Recompute ``validation.txt``/``.csv`` (and the figures when matplotlib is present)
    from ``prior/obs``, ``posterior/obs`` and ``assimilation.nc`` of an assimilation folder.
    Returns the table rows and the files written."""
    import netCDF4

    from .figures import read_obs_with_sim
    out = Path(out_dir)
    need = [out / "assimilation.nc", out / "prior" / "obs", out / "posterior" / "obs"]
    for p in need:
        if not p.exists():
            raise InputDataError(f"{out}: not a finished assimilation folder ({p.name} is "
                                 "missing; give the output folder of tccas assimilate)")
    sets, prior, post, masks = [], {}, {}, {}
    with netCDF4.Dataset(out / "assimilation.nc") as ds:
        files = sorted((out / "posterior" / "obs").glob("*.nc"))
        order = getattr(ds, "observation_streams", "").split()
        files.sort(key=lambda f: order.index(f.stem) if f.stem in order else len(order))
        for f in files:
            o, yp = read_obs_with_sim(f)
            _, y0 = read_obs_with_sim(out / "prior" / "obs" / f.name)
            key = f"{o.stream}_assimilated"
            if key not in ds.variables:
                raise InputDataError(f"{out / 'assimilation.nc'}: missing variable '{key}'")
            m = np.asarray(ds.variables[key][:]).astype(bool)
            if m.size != len(o):
                raise InputDataError(f"{out / 'assimilation.nc'}: '{key}' has {m.size} values "
                                     f"but {f} has {len(o)} observations")
            sets.append(o)
            prior[o.stream], post[o.stream], masks[o.stream] = y0, yp, m
    rows = validation_table(sets, prior, post, masks)
    txt, csv_ = write_table(rows, out / "validation.txt", out / "validation.csv")
    files = {"validation": txt, "validation_csv": csv_}
    if figures:
        try:
            from .figures import plot_all
            files.update(plot_all(out))
        except ImportError:
            pass
    return rows, files
