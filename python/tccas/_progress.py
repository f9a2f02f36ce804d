"""The one progress helper: a tqdm bar on a terminal, periodic log lines otherwise.

Batch jobs (stderr not a terminal) get INFO lines on the logger ``tccas.progress`` at the
start, each time another tenth of the work is done (at most one line a second) or else
every ``interval`` seconds (only this when the total is unknown), and at the end. The
``tccas`` command shows that logger's INFO lines on stderr unless ``-q`` is given; in
Python they follow the logging configuration (silent by default).
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Iterable, Iterator, TypeVar

__all__ = ["LOG_INTERVAL", "progress"]

T = TypeVar("T")

log = logging.getLogger("tccas.progress")

#: seconds between two log lines at most while the work goes on (when not on a terminal)
LOG_INTERVAL = 30.0


def _count(n: int | None, unit: str) -> str:
    """``"7 yr"``, ``"1 cycle"``, ``"3 cycles"``: a count with its unit (plural in s)."""
    text = "?" if n is None else str(n)
    plural = n != 1 and unit not in ("yr", "it", "s", "h") and not unit.endswith("s")
    return f"{text} {unit}s" if plural else f"{text} {unit}"


def _log_lines(items: Iterable[T], total: int | None, desc: str, unit: str,
               interval: float) -> Iterator[T]:
    what = desc or "progress"
    t0 = last = time.monotonic()
    done = 0
    tenth = 0
    if total is None:
        log.info("%s: started", what)
    else:
        log.info("%s: started (%s)", what, _count(total, unit))
    started = 0
    finished = False
    try:
        for item in items:
            started += 1
            yield item
            done += 1
            now = time.monotonic()
            step = int(10 * done / total) if total else 0
            if done == total:
                finished = True
                continue
            # another tenth done (but not more than one line a second), or a long wait
            if (total and step > tenth and now - last >= 1.0) or now - last >= interval:
                tenth = max(tenth, step)
                last = now
                pct = f" ({100 * done / total:.0f} %)" if total else ""
                log.info("%s: %d/%s%s, %.0f s", what, done, _count(total, unit), pct,
                         now - t0)
        finished = True
    finally:
        if finished:
            log.info("%s: done, %s in %.1f s", what, _count(done, unit), time.monotonic() - t0)
        else:       # the caller stopped early (converged, interrupted): steps begun
            log.info("%s: ended after %s, %.1f s", what, _count(started, unit),
                     time.monotonic() - t0)


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             enabled: bool | None = None, unit: str = "it",
             interval: float | None = None) -> Iterable[T]:
    """Report progress over ``items``.

    Parameters
    ----------
    items : the work, one item per step.
    total : number of steps (None: unknown, or ``len(items)`` for the bar).
    desc : what is done (e.g. ``"D&B run"``).
    enabled : None: a bar when stderr is a terminal, else log lines; True: a bar; False:
        nothing (``-q``).
    unit : name of one step (e.g. ``"yr"``, ``"cycle"``, ``"element"``).
    interval : seconds between two log lines at most (default :data:`LOG_INTERVAL`).

    Returns
    -------
    An iterable yielding the items of ``items``.
    """
    if enabled is False:
        return items
    if enabled is None and not sys.stderr.isatty():
        if total is None and hasattr(items, "__len__"):
            total = len(items)
        return _log_lines(items, total, desc, unit,
                          LOG_INTERVAL if interval is None else interval)
    from tqdm import tqdm
    return tqdm(items, total=total, desc=desc, unit=unit, leave=False)
