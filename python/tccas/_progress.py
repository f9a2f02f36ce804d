"""The one progress-bar helper: tqdm on a terminal, silent otherwise."""
from __future__ import annotations

import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "",
             enabled: bool | None = None) -> Iterable[T]:
    """Wrap an iterable in a progress bar when stderr is a terminal (or when forced)."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return items
    from tqdm import tqdm
    return tqdm(items, total=total, desc=desc, unit="yr", leave=False)
