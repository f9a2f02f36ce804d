"""Cut small pieces out of real satellite product files for the tests (tests/data/satellite/).

The tests of the SMOS L2, ESA CCI SM and ASCAT L2 readers must run from the repository alone,
so they use cut-outs of real files: a subset of the grid points (SMOS, a box), of the grid
cells (CCI, a box) or of the swath rows (ASCAT), with every variable, every attribute,
the fill values, the packing (integer types with ``scale_factor``) and the dimension names of
the product kept exactly: values are copied as stored (no unpacking, no masking), so a
reader meets the same bytes as in the full file.

Usage::

    python tools/make_test_cutouts.py SOURCE_DIR [OUTPUT_DIR]

SOURCE_DIR holds the three files named below (their provenance and licences are in
tests/data/README.md); OUTPUT_DIR defaults to tests/data/satellite. Deterministic: the same
source files give the same cut-outs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import netCDF4
import numpy as np

SMOS_FILE = "SM_OPER_MIR_SMUDP2_20230401T191629_20230401T200942_700_001_1.nc"
ASCAT_FILE = "ASCAT_METOPA_L2_SSM_250_20170220041500_53652.nc"
CCI_FILE = "ESACCI-SOILMOISTURE-L3S-SSMV-COMBINED-20160607000000-fv05.2.nc"

#: SMOS: grid points in these boxes: the Iberian Peninsula and the Atlantic west of it (the
#: half-orbit has valid retrievals over northern Portugal and none within 250 km of ES-LM1),
#: and Ireland and the Irish Sea (retrievals that fail the chi-square and RFI tests)
SMOS_BOXES = ({"lat": (37.0, 44.5), "lon": (-10.5, 4.0)},
              {"lat": (53.0, 55.0), "lon": (-8.0, -3.0)})
#: CCI: 0.25-degree cells in this box
CCI_BOX = {"lat": (35.0, 45.0), "lon": (-10.0, 5.0)}
#: ASCAT: swath rows (numRows) over India, land and sea (Metop-A orbit 53652 crosses Asia,
#: the Indian Ocean and North America, not Europe)
ASCAT_ROWS = (190, 250)


def _copy(src: netCDF4.Dataset, dst_path: Path, index: dict[str, np.ndarray]) -> None:
    """Copy ``src`` to ``dst_path`` keeping only the positions ``index[dim]`` of each dim."""
    src.set_auto_maskandscale(False)
    tmp = dst_path.with_suffix(".nc.part")
    with netCDF4.Dataset(tmp, "w", format=src.data_model) as dst:
        dst.setncatts({k: src.getncattr(k) for k in src.ncattrs()})
        for name, dim in src.dimensions.items():
            size = len(index[name]) if name in index else len(dim)
            dst.createDimension(name, None if dim.isunlimited() else size)
        for name, var in src.variables.items():
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            fill = attrs.pop("_FillValue", None)
            endian = var.endian()
            v = dst.createVariable(name, var.datatype, var.dimensions, zlib=True,
                                   complevel=9, shuffle=True, fill_value=fill,
                                   endian=endian if endian != "native" else "native")
            v.set_auto_maskandscale(False)
            v.setncatts(attrs)
            sel = tuple(index.get(d, slice(None)) for d in var.dimensions)
            data = var[:]
            for axis, s in enumerate(sel):
                if not isinstance(s, slice):
                    data = np.take(data, s, axis=axis)
            v[...] = data
    tmp.replace(dst_path)


def cut_smos(src_dir: Path, out_dir: Path) -> Path:
    with netCDF4.Dataset(src_dir / SMOS_FILE) as ds:
        ds.set_auto_maskandscale(False)
        lat = ds["Latitude"][:].astype(float)
        lon = ds["Longitude"][:].astype(float)
        inside = np.zeros(lat.shape, dtype=bool)
        for box in SMOS_BOXES:
            inside |= ((lat >= box["lat"][0]) & (lat <= box["lat"][1])
                       & (lon >= box["lon"][0]) & (lon <= box["lon"][1]))
        keep = np.nonzero(inside)[0]
        out = out_dir / SMOS_FILE
        _copy(ds, out, {"n_grid_points": keep})
    return out


def cut_cci(src_dir: Path, out_dir: Path) -> Path:
    with netCDF4.Dataset(src_dir / CCI_FILE) as ds:
        ds.set_auto_maskandscale(False)
        lat = ds["lat"][:].astype(float)
        lon = ds["lon"][:].astype(float)
        ii = np.nonzero((lat >= CCI_BOX["lat"][0]) & (lat <= CCI_BOX["lat"][1]))[0]
        jj = np.nonzero((lon >= CCI_BOX["lon"][0]) & (lon <= CCI_BOX["lon"][1]))[0]
        out = out_dir / CCI_FILE
        _copy(ds, out, {"lat": ii, "lon": jj})
    return out


def cut_ascat(src_dir: Path, out_dir: Path) -> Path:
    with netCDF4.Dataset(src_dir / ASCAT_FILE) as ds:
        rows = np.arange(*ASCAT_ROWS)
        out = out_dir / ASCAT_FILE
        _copy(ds, out, {"numRows": rows})
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("source_dir", type=Path)
    p.add_argument("output_dir", type=Path, nargs="?",
                   default=Path(__file__).resolve().parents[1] / "tests" / "data" / "satellite")
    args = p.parse_args(argv)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for cut in (cut_smos, cut_cci, cut_ascat):
        path = cut(args.source_dir, args.output_dir)
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
