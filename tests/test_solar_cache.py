"""The core keeps the place-independent part of the solar geometry of the last time axis
between calls (fortran/dnb_solar.f90): a run must not depend on which runs came before it
in the process. Compared with the same runs in a fresh process, bit for bit."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from tccas.model import run_cell
from tccas.parameters import global_defaults, pft_defaults
from tccas.synthetic import generate_forcing

SITES = {"a": (39.94, -5.77), "b": (67.36, 26.64)}
PFTS = [3, 9]


def _run(start: str, site: str) -> np.ndarray:
    f = generate_forcing(start, str(np.datetime64(start) + np.timedelta64(10, "D")), seed=3)
    lat, lon = SITES[site]
    r = run_cell(f.matrix(), f.times, lat, lon, 0.6, 0.2, PFTS, pft_defaults(PFTS),
                 global_defaults(), nspin=0, chunk_days=None)
    return np.concatenate([r.hourly.ravel(), r.daily.ravel()])


def test_runs_do_not_depend_on_earlier_runs_in_the_process():
    # reference: (2016-06-01, site b) alone in a fresh process
    here = str(Path(__file__).parent)
    code = (f"import json, sys; sys.path.insert(0, {here!r}); import test_solar_cache as t; "
            "print(json.dumps(t._run('2016-06-01', 'b').tolist()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300)
    fresh = np.array(json.loads(out.stdout.strip().splitlines()[-1]))
    # in this process, after runs with another time axis of the same length (a shifted
    # start: other days of year) and with another place on the same time axis
    _run("2016-01-01", "a")
    after_other_axis = _run("2016-06-01", "b")
    _run("2016-06-01", "a")
    after_other_place = _run("2016-06-01", "b")
    np.testing.assert_array_equal(after_other_axis, fresh)
    np.testing.assert_array_equal(after_other_place, fresh)
    # and the time axis matters (the check above would pass trivially otherwise)
    assert not np.array_equal(_run("2016-01-01", "b"), fresh)
