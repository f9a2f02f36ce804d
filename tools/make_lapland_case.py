#!/usr/bin/env python3
"""Write the Lapland regional twin case (tccas.regional.lapland) into a folder.

    python tools/make_lapland_case.py DIR [--nlat 4 --nlon 8] [--workers N]

Then: tccas run DIR/config.toml. The default 4 x 8 cells of 0.25 deg over 2015-2021 make
a forcing file of about 50 MB, too large to ship inside the package, so the case is
generated (seeded: the same arguments give the same files).
"""
from __future__ import annotations

import argparse
import logging

from tccas.regional.lapland import make_lapland_case


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target")
    ap.add_argument("--nlat", type=int, default=4)
    ap.add_argument("--nlon", type=int, default=8)
    ap.add_argument("--first-year", type=int, default=2015)
    ap.add_argument("--last-year", type=int, default=2021)
    ap.add_argument("--spinup-years", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--engine", default="processes")
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = make_lapland_case(a.target, a.nlat, a.nlon, a.first_year, a.last_year,
                            a.spinup_years, seed=a.seed, engine=a.engine, workers=a.workers)
    print(f"wrote the Lapland case to {out}; run it with: tccas run {out / 'config.toml'}")


if __name__ == "__main__":
    main()
