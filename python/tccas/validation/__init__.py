"""Validation of an assimilation: metrics per stream (assimilated and withheld
observations, prior and posterior) and figures.

``validate_dir(DIR)`` recomputes the table and figures from a finished output folder of
``tccas assimilate`` (what ``tccas validate DIR`` runs).
"""
from __future__ import annotations

import os
from pathlib import Path


from ..errors import InputDataError
from .metrics import StreamMetrics, format_table, stream_metrics, validation_table, write_table

__all__ = ["StreamMetrics", "format_table", "stream_metrics", "validate_dir",
           "validation_table", "write_table"]


def validate_dir(out_dir: str | os.PathLike, figures: bool = True
                 ) -> tuple[list[StreamMetrics], dict]:
    """Recompute ``validation.txt``/``.csv`` (and the figures when matplotlib is present)
    from ``prior/obs``, ``posterior/obs`` and ``assimilation.nc`` of an assimilation folder.
    Returns the table rows and the files written."""
    from .figures import read_series
    out = Path(out_dir)
    need = [out / "assimilation.nc", out / "prior" / "obs", out / "posterior" / "obs"]
    for p in need:
        if not p.exists():
            raise InputDataError(f"{out}: not a finished assimilation folder ({p.name} is "
                                 "missing; give the output folder of tccas assimilate)")
    try:
        series = read_series(out)
    except KeyError as exc:
        raise InputDataError(f"{out / 'assimilation.nc'}: missing variable {exc}") from None
    sets = [o for o, *_ in series]
    prior = {o.stream: y0 for o, y0, *_ in series}
    post = {o.stream: y1 for o, _, y1, *_ in series}
    masks = {o.stream: m for o, *_, m in series}
    for o in sets:
        if masks[o.stream].size != len(o):
            raise InputDataError(f"{out / 'assimilation.nc'}: '{o.stream}_assimilated' does "
                                 f"not match obs/{o.stream}.nc")
    rows = validation_table(sets, prior, post, masks)
    txt, csv_ = write_table(rows, out / "validation.txt", out / "validation.csv")
    files = {"validation": txt, "validation_csv": csv_}
    if figures:
        try:
            from .figures import plot_all
            files.update(plot_all(out, series))
            # gridded products of a regional assimilation, each on its own grid
            if (out / "validation").is_dir():
                from ..regional.assimilate import plot_map_validation, read_map_validation
                for f in sorted((out / "validation").glob("*.nc")):
                    mv = read_map_validation(f)
                    (out / "figures").mkdir(exist_ok=True)
                    files[f"map_{f.stem}"] = plot_map_validation(
                        mv, out / "figures" / f"map_{f.stem}.png", f.stem)
        except ImportError:
            pass
    return rows, files
