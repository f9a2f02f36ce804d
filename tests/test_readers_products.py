"""Readers of real product files: ESA SMOS L2 SM v700, ESA CCI SM v05.2, EUMETSAT ASCAT L2.

The files in tests/data/satellite are cut-outs of real files with the products' own layout,
attributes, fill values and packing (tools/make_test_cutouts.py). Every value the readers
return for named pixels is compared with the same pixel read directly through netCDF4.
"""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from tccas.errors import ConfigError, InputDataError
from tccas.readers import (AscatL2Swath, Tally, footprint_touches, great_circle_km,
                           read_ascat_l2, read_cci_sm, read_cci_sm_pixel, read_smos_l2,
                           read_smos_l2_granule, screen_smos_l2)
from tccas.readers.smos_l2 import CONFIDENCE_FLAG_BITS, SCIENCE_FLAG_BITS

DATA = Path(__file__).parent / "data" / "satellite"
SMOS = DATA / "SM_OPER_MIR_SMUDP2_20230401T191629_20230401T200942_700_001_1.nc"
CCI = DATA / "ESACCI-SOILMOISTURE-L3S-SSMV-COMBINED-20160607000000-fv05.2.nc"
ASCAT = DATA / "ASCAT_METOPA_L2_SSM_250_20170220041500_53652.nc"
FOOTPRINT = {3: 0.2, 9: 0.8}
PT = (41.5, -8.3)                       # northern Portugal, inside the SMOS half-orbit
ESLM1 = (39.942628, -5.778625)          # Majadas de Tietar
GP_PT = 1080360                         # SMOS grid point 1.1 km from PT (valid, kept)


def _nc_pixel(path, name, index):
    """A variable at ``index`` read by netCDF4 with its default masking and scaling."""
    with netCDF4.Dataset(path) as ds:
        return ds.variables[name][index]


def _nc_raw(path, name):
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        return np.asarray(ds.variables[name][:])


def _smos_index(gp: int) -> int:
    return int(np.nonzero(_nc_raw(SMOS, "Grid_Point_ID") == gp)[0][0])


# ============================================================================== SMOS L2 ====

@pytest.fixture(scope="module")
def granule():
    return read_smos_l2_granule(SMOS)


@pytest.mark.parametrize("gp", [GP_PT, 1028127, 1071140, 1019417, 1020937, 1067035])
def test_smos_l2_values_equal_netcdf4(granule, gp):
    i = _smos_index(gp)
    assert granule.grid_point_id[i] == gp
    for name, attr in (("Latitude", "lat"), ("Longitude", "lon"), ("Soil_Moisture",
                       "soil_moisture"), ("Soil_Moisture_DQX", "soil_moisture_dqx"),
                       ("Optical_Thickness_Nad", "vod"), ("Optical_Thickness_Nad_DQX", "vod_dqx"),
                       ("Chi_2", "chi_2"), ("Chi_2_P", "chi_2_p")):
        ref = _nc_pixel(SMOS, name, i)
        mine = getattr(granule, attr)[i]
        if np.ma.is_masked(ref):          # the product's fill (-999 or packed 0)
            assert np.isnan(mine), (gp, name)
        else:
            assert mine == pytest.approx(float(ref), rel=1e-12), (gp, name)
    for name, attr in (("Science_Flags", "science_flags"), ("Confidence_Flags",
                       "confidence_flags"), ("N_RFI_X", "n_rfi_x"), ("M_AVA0", "m_ava0")):
        assert getattr(granule, attr)[i] == int(_nc_raw(SMOS, name)[i]), (gp, name)
    # packing: the unpacked values are the stored integers times the scale factor
    with netCDF4.Dataset(SMOS) as ds:
        scale = float(ds["RFI_Prob"].scale_factor)
        assert scale == pytest.approx(0.005, rel=1e-7)
    assert granule.rfi_prob[i] == pytest.approx(_nc_raw(SMOS, "RFI_Prob")[i] * scale)
    # time: Days, Seconds and Microseconds since 2000-01-01 (read as stored)
    days = int(_nc_raw(SMOS, "Days")[i])
    if days == 0:
        assert np.isnat(granule.time[i])
    else:
        ref = dt.datetime(2000, 1, 1) + dt.timedelta(
            days=days, seconds=int(_nc_raw(SMOS, "Seconds")[i]),
            microseconds=int(_nc_raw(SMOS, "Microseconds")[i]))
        assert abs(granule.time[i] - np.datetime64(ref, "us")) <= np.timedelta64(1, "ms")


def test_smos_l2_named_pixel(granule):
    i = _smos_index(GP_PT)
    assert granule.lat[i] == pytest.approx(41.504, abs=1e-5)
    assert granule.lon[i] == pytest.approx(-8.288, abs=1e-5)
    assert granule.soil_moisture[i] == pytest.approx(0.20137146, rel=1e-6)
    assert granule.soil_moisture_dqx[i] == pytest.approx(0.033087812, rel=1e-6)
    assert granule.vod[i] == pytest.approx(0.38607427, rel=1e-6)
    assert granule.time[i] == np.datetime64("2023-04-01T19:32:07.029")
    assert granule.chi_2_p[i] == pytest.approx(232 / 255, rel=1e-6)


def test_smos_l2_fill_value_zero_is_a_true_zero(granule):
    """N_RFI_X (and RFI_Prob) declare _FillValue 0, which netCDF4 masks; 0 means none."""
    with netCDF4.Dataset(SMOS) as ds:
        masked = np.ma.getmaskarray(ds["N_RFI_X"][:])
        scale = float(ds["RFI_Prob"].scale_factor)
    zero = _nc_raw(SMOS, "N_RFI_X") == 0
    retrieved = np.isfinite(granule.soil_moisture)
    assert np.any(zero & retrieved) and np.array_equal(masked, zero)
    assert np.all(granule.n_rfi_x[zero] == 0)
    assert np.all(granule.m_ava0[retrieved] > 0)
    assert np.array_equal(granule.rfi_prob, _nc_raw(SMOS, "RFI_Prob") * scale)


def test_smos_l2_flag_bits_agree_with_the_file():
    with netCDF4.Dataset(SMOS) as ds:
        sci = ds["Science_Flags"].flag_meanings.split()
        conf = ds["Confidence_Flags"].flag_meanings.split()
        conf_masks = [int(m) for m in ds["Confidence_Flags"].flag_masks]
    assert list(SCIENCE_FLAG_BITS) == sci and list(SCIENCE_FLAG_BITS.values()) == list(range(30))
    assert {n: 1 << b for n, b in CONFIDENCE_FLAG_BITS.items()} == dict(zip(conf, conf_masks))


def test_smos_l2_screening_keeps_and_drops_the_expected_records(granule):
    reason = screen_smos_l2(granule, "sm")
    by_gp = dict(zip(granule.grid_point_id.tolist(), reason.tolist()))
    assert by_gp[GP_PT] == ""
    assert by_gp[1028127] == "rfi_prob"         # RFI_Prob 0.205
    assert by_gp[1071140] == "FL_TOPO_S"
    assert by_gp[1019417] == "FL_OW"
    assert by_gp[1020937] == "chi2_p"           # Chi_2_P 0.035
    assert by_gp[1067035] == "no_retrieval"
    # independently, from the stored integers and the bit numbers of the specification
    sm = _nc_raw(SMOS, "Soil_Moisture")
    sf = _nc_raw(SMOS, "Science_Flags").astype(np.int64)
    cf = _nc_raw(SMOS, "Confidence_Flags").astype(np.int64)
    chi2p = _nc_raw(SMOS, "Chi_2_P") / 255.0
    rfi = _nc_raw(SMOS, "RFI_Prob") * 0.005
    ratio = (_nc_raw(SMOS, "N_RFI_X").astype(float) + _nc_raw(SMOS, "N_RFI_Y")) \
        / np.maximum(_nc_raw(SMOS, "M_AVA0"), 1)
    bad_science = sum(1 << b for b in (3, 5, 6, 7, 8, 11, 12, 16))
    bad_conf = (1 << 1) | (1 << 2) | (1 << 4) | (1 << 5)
    keep = ((sm != -999) & (sf & bad_science == 0) & (cf & bad_conf == 0) & (chi2p >= 0.05)
            & (rfi <= 0.2) & (ratio <= 0.2) & (sm >= 0) & (sm <= 1)
            & (_nc_raw(SMOS, "Soil_Moisture_DQX") >= 0))
    assert np.array_equal(reason == "", keep)
    counts = dict(zip(*np.unique(reason, return_counts=True)))
    assert counts == {"": 128, "FL_OW": 116, "FL_TOPO_S": 1, "chi2_p": 26,
                      "no_retrieval": 1355, "rfi_prob": 1}
    # switching tests off keeps more
    loose = screen_smos_l2(granule, "sm", reject_science=(), reject_confidence=(),
                           chi2p_min=None, rfi_prob_max=None, rfi_ratio_max=None)
    assert np.count_nonzero(loose == "") == np.count_nonzero(sm != -999)
    with pytest.raises(ConfigError, match="FL_NOPE"):
        screen_smos_l2(granule, "sm", reject_science=("FL_NOPE",))


def test_read_smos_l2_over_portugal(granule):
    tally = Tally()
    obs = read_smos_l2(SMOS, *PT, FOOTPRINT, stream="sm", tally=tally)
    i = _smos_index(GP_PT)
    assert len(obs) == 1
    assert obs.value[0] == pytest.approx(float(_nc_pixel(SMOS, "Soil_Moisture", i)))
    assert obs.sigma[0] == 0.04                      # DQX 0.033 below the floor
    assert obs.t_start[0] == np.datetime64("2023-04-01T19:00:00")
    assert obs.t_end[0] == np.datetime64("2023-04-01T20:00:00")
    assert obs.pft == (3, 9) and np.allclose(obs.footprint, [[0.2, 0.8]])
    assert tally.read == len(granule) == tally.kept + sum(tally.dropped.values())
    assert tally.dropped["not_nearest"] == 3
    vod = read_smos_l2(SMOS, *PT, FOOTPRINT, stream="vod")
    assert vod.value[0] == pytest.approx(float(_nc_pixel(SMOS, "Optical_Thickness_Nad", i)))
    assert vod.sigma[0] == pytest.approx(float(_nc_pixel(SMOS, "Optical_Thickness_Nad_DQX", i)))
    # every screened grid point within 20 km (half the 40 km footprint)
    every = read_smos_l2(SMOS, *PT, FOOTPRINT, stream="sm", select="all")
    near = footprint_touches(*PT, granule.lat, granule.lon, 20.0) \
        & (screen_smos_l2(granule, "sm") == "")
    assert len(every) == 4 == np.count_nonzero(near)
    assert np.allclose(np.sort(every.value), np.sort(granule.soil_moisture[near]))
    assert np.allclose(np.sort(every.sigma),
                       np.sort(np.maximum(granule.soil_moisture_dqx[near], 0.04)))
    # outside the period: dropped for that reason
    tally = Tally()
    none = read_smos_l2(SMOS, *PT, FOOTPRINT, stream="sm", tally=tally,
                        period=(np.datetime64("2015-01-01"), np.datetime64("2022-01-01")))
    assert len(none) == 0 and tally.dropped["outside_period"] == 4


def test_smos_l2_nothing_within_250_km_of_eslm1(granule):
    d = great_circle_km(*ESLM1, granule.lat, granule.lon)
    assert d[np.isfinite(granule.soil_moisture)].min() > 250.0
    tally = Tally()
    obs = read_smos_l2(SMOS, *ESLM1, FOOTPRINT, stream="sm", tally=tally)
    assert len(obs) == 0 and tally.dropped == {"outside_footprint": len(granule)}


def test_smos_l2_bad_inputs(tmp_path):
    with pytest.raises(InputDataError, match=f"{CCI.name}.*not a SMOS L2") as e:
        read_smos_l2_granule(CCI)
    assert "\n" not in str(e.value)
    cut = tmp_path / SMOS.name
    cut.write_bytes(SMOS.read_bytes()[: SMOS.stat().st_size * 2 // 3])
    with pytest.raises(InputDataError, match=str(cut)) as e:
        read_smos_l2(cut, *PT, FOOTPRINT, stream="sm")
    assert "\n" not in str(e.value)
    with pytest.raises(InputDataError, match="file not found"):
        read_smos_l2_granule(tmp_path / "missing.nc")
    with pytest.raises(ConfigError, match="stream"):
        read_smos_l2(SMOS, *PT, FOOTPRINT, stream="sif")
    with pytest.raises(ConfigError, match="select"):
        read_smos_l2(SMOS, *PT, FOOTPRINT, stream="sm", select="best")


# ============================================================================== CCI SM ====

def test_cci_pixel_equals_netcdf4():
    px = read_cci_sm_pixel(CCI, *ESLM1)
    with netCDF4.Dataset(CCI) as ds:
        lat, lon = ds["lat"][:], ds["lon"][:]
        i = int(np.argmin(np.abs(lat - ESLM1[0])))
        j = int(np.argmin(np.abs(lon - ESLM1[1])))
        assert (px.cell_lat, px.cell_lon) == (float(lat[i]), float(lon[j])) == (39.875, -5.875)
        assert px.sm == pytest.approx(float(ds["sm"][0, i, j]), rel=1e-7)
        assert px.sm_uncertainty == pytest.approx(float(ds["sm_uncertainty"][0, i, j]),
                                                  rel=1e-7)
        assert px.flag == int(ds["flag"][0, i, j]) == 0
        t0 = netCDF4.num2date(ds["t0"][0, i, j], ds["t0"].units,
                              only_use_cftime_datetimes=False)
    assert abs(px.time - np.datetime64(t0.replace(tzinfo=None), "us")) <= np.timedelta64(1, "ms")
    assert px.sm == pytest.approx(0.19490944, rel=1e-6)
    assert str(px.time.astype("datetime64[m]")) == "2016-06-07T02:59"


def test_read_cci_sm_values_sigma_and_screening(tmp_path):
    tally = Tally()
    obs = read_cci_sm(CCI, *ESLM1, FOOTPRINT, tally=tally)
    assert len(obs) == 1 and obs.stream == "sm"
    assert obs.value[0] == pytest.approx(0.19490944, rel=1e-6)
    assert obs.sigma[0] == 0.04                          # uncertainty 0.017 below the floor
    assert obs.t_start[0] == np.datetime64("2016-06-07T02:00:00")
    assert (tally.read, tally.kept) == (1, 1)
    # a sea cell has no retrieval; a site outside the cut-out's grid is outside it
    tally = Tally()
    read_cci_sm([CCI, CCI], 44.8, -9.8, FOOTPRINT, tally=tally)
    read_cci_sm(CCI, 60.0, 10.0, FOOTPRINT, tally=tally)
    assert tally.dropped == {"no_retrieval": 2, "outside_grid": 1}
    tally = Tally()
    read_cci_sm(CCI, *ESLM1, FOOTPRINT, tally=tally,
                period=(np.datetime64("2017-01-01"), np.datetime64("2022-01-01")))
    assert tally.dropped == {"outside_period": 1}
    # a flagged cell is dropped (flag 2, dense vegetation, set in a copy)
    flagged = tmp_path / CCI.name
    shutil.copy(CCI, flagged)
    with netCDF4.Dataset(flagged, "a") as ds:
        i = int(np.argmin(np.abs(ds["lat"][:] - ESLM1[0])))
        j = int(np.argmin(np.abs(ds["lon"][:] - ESLM1[1])))
        ds["flag"][0, i, j] = 2
    tally = Tally()
    assert len(read_cci_sm(flagged, *ESLM1, FOOTPRINT, tally=tally)) == 0
    assert tally.dropped == {"flag": 1}
    assert len(read_cci_sm(flagged, *ESLM1, FOOTPRINT, accept_flags=None)) == 1


def test_cci_bad_inputs(tmp_path):
    with pytest.raises(InputDataError, match=f"{SMOS.name}.*not an ESA CCI"):
        read_cci_sm(SMOS, *ESLM1, FOOTPRINT)
    active = tmp_path / "active.nc"
    shutil.copy(CCI, active)
    with netCDF4.Dataset(active, "a") as ds:
        ds["sm"].units = "percent"
    with pytest.raises(InputDataError, match="porosity"):
        read_cci_sm(active, *ESLM1, FOOTPRINT)
    monthly = tmp_path / ("C3S-SOILMOISTURE-L3S-SSMV-COMBINED-MONTHLY-20160601000000-TCDR-"
                          "v202012.0.0.nc")
    shutil.copy(CCI, monthly)
    with pytest.raises(InputDataError, match="monthly average"):
        read_cci_sm(monthly, *ESLM1, FOOTPRINT)
    cut = tmp_path / CCI.name
    cut.write_bytes(CCI.read_bytes()[: CCI.stat().st_size // 2])
    with pytest.raises(InputDataError, match=str(cut)) as e:
        read_cci_sm(cut, *ESLM1, FOOTPRINT)
    assert "\n" not in str(e.value)


# =============================================================================== ASCAT ====

def test_ascat_records_equal_netcdf4():
    sw = read_ascat_l2(ASCAT)
    assert isinstance(sw, AscatL2Swath)
    with netCDF4.Dataset(ASCAT) as ds:
        shape = ds["latitude"].shape
        assert len(sw) == shape[0] * shape[1]
        for name in ("soil_moisture", "soil_moisture_error", "slope40", "slope40_error",
                     "sigma40_error", "dry_backscatter", "wet_backscatter"):
            ref = ds[name][:][sw.row, sw.cell]
            mine = getattr(sw, name)
            assert np.array_equal(np.ma.getmaskarray(ref), np.isnan(mine)), name
            ok = ~np.ma.getmaskarray(ref)
            assert np.allclose(mine[ok], np.ma.filled(ref, 0)[ok].astype(float),
                               rtol=1e-6, atol=0), name
        lat = ds["latitude"][:][sw.row, sw.cell]
        lon = ds["longitude"][:][sw.row, sw.cell]
        assert np.allclose(sw.lat, lat, rtol=0, atol=1e-9)
        assert np.allclose(sw.lon, (lon + 180) % 360 - 180, rtol=0, atol=1e-9)
        secs = ds["utc_line_nodes"][:][sw.row]
        # sigma40: netCDF4 applies valid_min = -10 dB and hides most real values
        nc_sigma40 = ds["sigma40"][:]
    raw = _nc_raw(ASCAT, "sigma40")[sw.row, sw.cell]
    stored = raw != -2147483648
    with netCDF4.Dataset(ASCAT) as ds:
        scale = float(ds["sigma40"].scale_factor)          # float32 1e-06
    assert np.allclose(sw.sigma40[stored], raw[stored] * scale, rtol=1e-12)
    assert np.all(np.isnan(sw.sigma40[~stored]))
    assert np.count_nonzero(stored) == 1294 > np.ma.count(nc_sigma40) == 416
    assert np.array_equal(np.isfinite(sw.sigma40), np.isfinite(sw.soil_moisture))
    times = np.datetime64("2000-01-01T00:00:00") + secs.astype("timedelta64[s]")
    assert np.array_equal(sw.time, times.astype("datetime64[ms]"))
    # uint16 65535 = no value (no _FillValue declared)
    raw_mean = _nc_raw(ASCAT, "mean_soil_moisture")[sw.row, sw.cell]
    assert np.array_equal(np.isnan(sw.mean_soil_moisture), raw_mean == 65535)
    assert np.all(sw.flags["rainfall_flag"] == -1)           # 255 everywhere in the file
    assert set(np.unique(sw.flags["corr_flags"])) <= set(range(32))


def test_ascat_named_node_and_radius():
    with netCDF4.Dataset(ASCAT) as ds:
        lat0 = float(ds["latitude"][30, 15])
        lon0 = float(ds["longitude"][30, 15])
        sm0 = float(ds["soil_moisture"][30, 15])
        s40 = float(ds["sigma40"][30, 15]) if not np.ma.is_masked(ds["sigma40"][30, 15]) \
            else _nc_raw(ASCAT, "sigma40")[30, 15] * 1e-6
        slope = float(ds["slope40"][30, 15])
    near = read_ascat_l2(ASCAT, lat0, lon0, 30.0)
    assert 1 <= len(near) < 12
    k = int(np.nonzero((near.row == 30) & (near.cell == 15))[0][0])
    assert near.soil_moisture[k] == pytest.approx(sm0, rel=1e-6)
    assert near.sigma40[k] == pytest.approx(s40, rel=1e-9)
    assert near.slope40[k] == pytest.approx(slope, rel=1e-9)
    assert np.all(great_circle_km(lat0, lon0, near.lat, near.lon) <= 30.0)
    secs = int(_nc_raw(ASCAT, "utc_line_nodes")[30])
    assert near.time[k] == np.datetime64("2000-01-01T00:00:00") + np.timedelta64(secs, "s")
    assert str(near.time[k])[:16] == "2017-02-20T04:28"
    with pytest.raises(ConfigError, match="together"):
        read_ascat_l2(ASCAT, lat0, lon0)


def test_ascat_bad_inputs(tmp_path):
    with pytest.raises(InputDataError, match=f"{CCI.name}.*not an ASCAT L2"):
        read_ascat_l2(CCI)
    cut = tmp_path / ASCAT.name
    cut.write_bytes(ASCAT.read_bytes()[: ASCAT.stat().st_size // 2])
    with pytest.raises(InputDataError, match=str(cut)):
        read_ascat_l2(cut)
