"""Validation metrics of an assimilation: prior and posterior simulations against every
observation set, split into the observations that entered the cost ("assimilated") and
all others ("withheld": streams not assimilated, and assimilated streams outside the
window)."""
from __future__ import annotations

import csv
import io as _io
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

__all__ = ["StreamMetrics", "format_table", "stream_metrics", "validation_table",
           "write_table"]


@dataclass(frozen=True)
class StreamMetrics:
    """Scores of one stream and role (``assimilated`` or ``withheld``).

    n : observations; bias = mean(sim - obs), rmse, r (Pearson correlation; NaN for fewer
    than 3 observations or a constant series) and chi2 = mean(((sim - obs)/sigma)**2) of the
    prior and posterior simulations, in the stream's unit."""

    stream: str
    role: str
    unit: str
    n: int
    bias_prior: float
    rmse_prior: float
    r_prior: float
    chi2_prior: float
    bias_posterior: float
    rmse_posterior: float
    r_posterior: float
    chi2_posterior: float

    @property
    def improved(self) -> bool:
        """The posterior RMSE is below the prior RMSE."""
        return bool(self.rmse_posterior < self.rmse_prior)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def stream_metrics(stream: str, role: str, unit: str, observed, sigma, prior, posterior
                   ) -> StreamMetrics:
    """Scores of prior and posterior simulated equivalents against observations."""
    d = np.asarray(observed, dtype=float)
    s = np.asarray(sigma, dtype=float)
    out = [stream, role, unit, int(d.size)]
    for y in (prior, posterior):
        e = np.asarray(y, dtype=float) - d
        if d.size == 0:
            out += [float("nan")] * 4
        else:
            out += [float(e.mean()), float(np.sqrt((e ** 2).mean())), _corr(np.asarray(y), d),
                    float(np.mean((e / s) ** 2))]
    return StreamMetrics(*out)


def validation_table(sets, prior: dict, posterior: dict, assimilated: dict
                     ) -> list[StreamMetrics]:
    """Rows for every stream: ``sets`` are ObservationSets, ``prior``/``posterior`` map a
    stream to its simulated equivalents and ``assimilated`` to the boolean mask of the
    observations that entered the cost."""
    rows = []
    for o in sets:
        m = np.asarray(assimilated.get(o.stream, np.zeros(len(o), bool)))
        for role, sel in (("assimilated", m), ("withheld", ~m)):
            if sel.any():
                rows.append(stream_metrics(o.stream, role, o.unit, o.value[sel], o.sigma[sel],
                                           prior[o.stream][sel], posterior[o.stream][sel]))
    return rows


def format_table(rows) -> str:
    """The table as text (one line per stream and role)."""
    head = (f"{'stream':6s} {'role':12s}{'n':>7s} {'bias prior':>11s}{'bias post':>11s}"
            f"{'RMSE prior':>11s}{'RMSE post':>11s}{'r prior':>8s}{'r post':>8s}"
            f"{'chi2 prior':>11s}{'chi2 post':>10s}  improved  unit")
    lines = [head]
    for r in rows:
        lines.append(f"{r.stream:6s} {r.role:12s}{r.n:7d} {r.bias_prior:11.4g}"
                     f"{r.bias_posterior:11.4g}{r.rmse_prior:11.4g}{r.rmse_posterior:11.4g}"
                     f"{r.r_prior:8.3f}{r.r_posterior:8.3f}{r.chi2_prior:11.4g}"
                     f"{r.chi2_posterior:10.4g}  {'yes' if r.improved else 'no ':8s}  {r.unit}")
    return "\n".join(lines) + "\n"


def write_table(rows, path_txt: str | os.PathLike, path_csv: str | os.PathLike | None = None
                ) -> list[Path]:
    """Write the table as text and CSV, each atomically."""
    from ..io import atomic_path
    written = []
    with atomic_path(path_txt) as tmp:
        tmp.write_text(format_table(rows))
    written.append(Path(path_txt))
    if path_csv is not None:
        buf = _io.StringIO()
        fields = list(asdict(rows[0]).keys()) + ["improved"] if rows else ["stream"]
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({**asdict(r), "improved": r.improved})
        with atomic_path(path_csv) as tmp:
            tmp.write_text(buf.getvalue())
        written.append(Path(path_csv))
    return written
