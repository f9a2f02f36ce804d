"""Output folders that never mislead (issue 13): refused when they hold an earlier run,
overwritten to hold only the new run's files, checked before the run, locked while written,
no partial files on Ctrl-C; progress lines in batch jobs."""
from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

import tccas
from tccas.cases import copy_case
from tccas.errors import ConfigError
from tccas.outdir import LOCK_NAME, MANIFEST_NAME, OutputDir, earlier_run_files


def _cli(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "tccas", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=cwd)


def _short_case(tmp_path, name="case", observations=True, hourly=True, spinup=None):
    """ES-LM1, optionally without hourly output or observations, or another spin-up."""
    path = copy_case("ES-LM1", tmp_path / name, observations=observations) / "config.toml"
    text = path.read_text()
    if not hourly:
        text = text.replace("hourly_output = true", "hourly_output = false")
    if spinup is not None:
        text = text.replace("spinup_hours = 17520", f"spinup_hours = {spinup}")
    path.write_text(text)
    return path


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_second_run_into_a_folder_is_refused(tmp_path):
    cfg = _short_case(tmp_path)
    out = tmp_path / "out"
    res = tccas.run(cfg, output_dir=out, progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    manifest = (out / MANIFEST_NAME).read_text().splitlines()[1:]
    assert sorted(manifest) == sorted(str(p.relative_to(out)) for p in res.files.values())
    assert "obs/nee.nc" in manifest and "hourly.nc" in manifest
    with pytest.raises(ConfigError, match=r"output folder .*out: holds an earlier run "
                                          r"\(daily.nc.*--overwrite"):
        tccas.run(cfg, output_dir=out, progress=False)
    # nothing changed, no lock left behind
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert not (out / LOCK_NAME).exists()


def test_overwrite_leaves_only_the_new_runs_files(tmp_path):
    out = tmp_path / "out"
    tccas.run(_short_case(tmp_path, "full"), output_dir=out, progress=False)
    (out / "daily.png").write_bytes(b"an earlier tccas plot")      # tccas's name
    (out / "notes.txt").write_text("the user's own file")          # not tccas's
    (out / "obs" / "mine.txt").write_text("also the user's")
    small = _short_case(tmp_path, "small", observations=False, hourly=False)
    res = tccas.run(small, output_dir=out, progress=False, overwrite=True)
    assert set(res.files) == {"daily", "summary"}
    assert _files(out) == sorted([MANIFEST_NAME, "daily.nc", "summary.txt", "notes.txt",
                                  "obs/mine.txt"])
    assert (out / MANIFEST_NAME).read_text().splitlines()[1:] == ["daily.nc", "summary.txt"]
    # a third run without observations, folder obs/ now holds only a user file: kept
    assert earlier_run_files(out) == [out / "daily.nc", out / "summary.txt"]


def test_uncreatable_folder_fails_before_the_run_with_one_line(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    target = tmp_path / "file.txt" / "out"
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=r"output folder .*file.txt/out: cannot be created"):
        tccas.run("ES-LM1", output_dir=target, progress=False)
    assert time.perf_counter() - t < 30      # (not a timing test: it failed before running)
    p = _cli("run", "ES-LM1", "-o", str(target), "-q")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2
    assert err.strip().splitlines() == [f"tccas: error: output folder {target}: cannot be "
                                        "created (Not a directory)"]
    assert not out


def test_failed_run_removes_the_folder_it_created(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nstatic = "nope.nc"\nforcing = "nope.nc"\n'
                   '[run]\nstart = 2015-01-01\nend = 2015-12-31\n')
    with pytest.raises(tccas.InputDataError):
        tccas.run(bad, output_dir=tmp_path / "new" / "out", progress=False)
    assert not (tmp_path / "new" / "out").exists()


def test_lock_refuses_a_second_writer_and_stale_locks_are_taken_over(tmp_path):
    cfg = _short_case(tmp_path)
    out = tmp_path / "out"
    with OutputDir(out, command="test"):
        assert (out / LOCK_NAME).read_text().split() == [socket.gethostname(), str(os.getpid())]
        with pytest.raises(ConfigError, match=rf"another tccas command \(process {os.getpid()}"):
            tccas.run(cfg, output_dir=out, progress=False)
        assert (out / LOCK_NAME).exists()          # the refused run left the lock alone
    assert not (out / LOCK_NAME).exists()
    # a lock left by a process that has ended (killed without cleaning up)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / LOCK_NAME).write_text(f"{socket.gethostname()} {dead.pid}\n")
    tccas.run(cfg, output_dir=out, progress=False)
    assert (out / "daily.nc").exists() and not (out / LOCK_NAME).exists()


def test_concurrent_runs_into_separate_folders(tmp_path):
    cfg = _short_case(tmp_path)
    procs = [_cli("run", str(cfg), "-o", str(tmp_path / d), "-q") for d in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    for d in ("a", "b"):
        assert _files(tmp_path / d) == _files(tmp_path / "a")
        assert not list((tmp_path / d).rglob("*.part"))
    # the same folder again: refused in one line
    p = _cli("run", str(cfg), "-o", str(tmp_path / "a"), "-q")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1
    assert "holds an earlier run" in err


@pytest.mark.parametrize("sig, status, last", [
    (signal.SIGINT, 130, "tccas: run interrupted"),
    (signal.SIGTERM, 143, "tccas: run terminated (SIGTERM)")])
def test_a_signal_leaves_no_partial_files(tmp_path, sig, status, last):
    # Ctrl-C, or SIGTERM from a batch scheduler's time limit; a long spin-up (40 years)
    # keeps the run going for a few seconds
    cfg = _short_case(tmp_path, spinup=40 * 8760)
    out = tmp_path / "out"
    p = _cli("run", str(cfg), "-o", str(out), cwd=tmp_path)
    t0 = time.monotonic()
    while not (out / LOCK_NAME).exists():      # the run has checked its folder
        assert p.poll() is None, p.communicate()
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    time.sleep(0.5)
    assert p.poll() is None, "the run ended before the signal; lengthen the spin-up"
    p.send_signal(sig)
    stdout, err = p.communicate(timeout=120)
    assert p.returncode == status, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == last
    # the folder it created is gone again, and nothing half-written anywhere
    assert not out.exists()
    assert not list(tmp_path.rglob("*.part"))


def test_progress_lines_when_not_on_a_terminal(caplog):
    from tccas._progress import progress
    with caplog.at_level(logging.INFO, logger="tccas.progress"):
        items = list(progress(range(5), desc="work", unit="cycle"))
    assert items == list(range(5))
    msgs = [r.getMessage() for r in caplog.records if r.name == "tccas.progress"]
    assert msgs[0] == "work: started (5 cycles)"
    assert re.fullmatch(r"work: done, 5 cycles in \d+\.\d s", msgs[-1])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="tccas.progress"):
        assert list(progress(range(5), desc="work", enabled=False)) == list(range(5))
    assert not caplog.records
    # periodic lines for long work (interval 0: a line per step)
    with caplog.at_level(logging.INFO, logger="tccas.progress"):
        list(progress(range(3), desc="slow", unit="yr", interval=0.0))
    assert "slow: 1/3 yr (33 %)" in caplog.records[1].getMessage()


def test_cli_progress_lines_and_quiet(tmp_path):
    cfg = _short_case(tmp_path)
    p = _cli("run", str(cfg), "-o", str(tmp_path / "a"))
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0
    assert "INFO tccas.progress: D&B run: started (7 yr)" in err
    assert "D&B run: done, 7 yr" in err
    p = _cli("run", str(cfg), "-o", str(tmp_path / "b"), "-q")
    _, err = p.communicate(timeout=300)
    assert p.returncode == 0 and err == ""


def test_figures_name_the_site_and_format_units(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tccas.plots import plot_daily, plot_observations, quantity_label
    assert quantity_label("vod", "1") == "vod"
    assert quantity_label("sm", "m3 m-3") == "sm (m3 m-3)"
    out = tmp_path / "out"
    tccas.run("ES-LM1", output_dir=out, progress=False)
    figures = []
    close = plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: figures.append(fig))
    assert plot_daily(out).stat().st_size > 10_000
    assert plot_observations(out).stat().st_size > 10_000
    monkeypatch.setattr(plt, "close", close)
    daily, obs = figures
    assert daily._suptitle.get_text().startswith("ES-LM1: daily")
    assert daily.axes[-1].get_xlabel() == "date (UTC)"
    assert daily.axes[0].get_ylabel() == "GPP (g m-2 d-1)"
    assert obs._suptitle.get_text().startswith("ES-LM1: observations")
    titles = {ax.get_title(loc="left").split(":")[0]: ax for ax in obs.axes}
    vod = titles["L-band VOD"]
    # a dimensionless stream: no "1" after the numbers, and no bare unit as the y label
    assert re.fullmatch(r"L-band VOD: n = \d+, bias [-\d.e]+, RMSE [\d.e-]+",
                        vod.get_title(loc="left"))
    assert vod.get_ylabel() == "vod"
    assert re.search(r"RMSE [\d.e-]+ m3 m-3$", titles["surface soil moisture"].get_title("left"))
    # the legend is outside the axes (a figure legend), and observations are drawn on top
    assert all(ax.get_legend() is None for ax in obs.axes) and obs.legends
    nee = titles["NEE"]
    z_obs = min(c[0].get_zorder() for c in nee.containers)     # the errorbar markers
    z_sim = [line.get_zorder() for line in nee.get_lines() if line.get_label() == "simulated"]
    assert z_sim and max(z_sim) < z_obs
    for fig in figures:
        close(fig)


def test_observation_files_of_a_run_carry_the_site_coordinates(tmp_path):
    import netCDF4
    import numpy as np
    from tccas.obs import read_obs, write_obs
    res = tccas.run("ES-LM1", output_dir=tmp_path / "out", progress=False)
    static = tccas.io.read_static(tccas.load_config("ES-LM1").site.static)
    for key, path in res.files.items():
        if not key.startswith("obs_"):
            continue
        with netCDF4.Dataset(path) as ds:
            assert float(ds["lat"][...]) == pytest.approx(static.lat)
            assert float(ds["lon"][...]) == pytest.approx(static.lon)
            assert ds["lat"].standard_name == "latitude" and ds["lon"].units == "degrees_east"
            assert ds["value"].coordinates == "time lat lon"
            assert ds["simulated"].coordinates == "time lat lon"
        o = read_obs(path)                      # read_obs is unchanged by the coordinates
        assert len(o) == len(res.observations[o.stream][0])
        np.testing.assert_array_equal(o.value, res.observations[o.stream][0].value)
    with pytest.raises(ValueError, match="both lat and lon"):
        write_obs(tmp_path / "x.nc", o, lat=40.0)


def test_spinup_reports_its_cycles(eslm1_inputs, caplog):
    from tccas.spinup import equilibrium_pools
    cfg, static, forcing, ppft, pglob = eslm1_inputs
    with caplog.at_level(logging.INFO, logger="tccas.progress"):
        eq = equilibrium_pools(forcing.matrix(), forcing.times, static.lat, static.lon,
                               static.sand, static.clay, list(static.pft), ppft, pglob,
                               cfg.run.spinup_hours, progress=None)
    msgs = [r.getMessage() for r in caplog.records if r.name == "tccas.progress"]
    assert msgs[0] == "carbon spin-up: started"
    assert re.fullmatch(rf"carbon spin-up: ended after {eq.cycles} cycles?, [\d.]+ s", msgs[-1])


def test_assimilation_folder_refused_before_any_work(tmp_path):
    out = tmp_path / "assim"
    out.mkdir()
    (out / "checkpoint.npz").write_bytes(b"an interrupted assimilation")
    t = time.perf_counter()
    with pytest.raises(ConfigError, match=r"holds an earlier run \(checkpoint.npz\)"):
        tccas.assimilate("ES-LM1", output_dir=out, progress=False)
    assert time.perf_counter() - t < 60       # refused before the minimisation
    assert (out / "checkpoint.npz").read_bytes() == b"an interrupted assimilation"
    assert not (out / LOCK_NAME).exists()
    # --resume works in its own folder: it gets past the folder check and reads the
    # checkpoint (which here is not one)
    with pytest.raises(ConfigError, match="not a readable tccas checkpoint"):
        tccas.assimilate("ES-LM1", output_dir=out, progress=False, resume=True)
    assert not (out / LOCK_NAME).exists()


def test_a_run_never_writes_into_its_own_case_folder(tmp_path):
    cfg = _short_case(tmp_path)
    obs_before = {p.name: p.read_bytes() for p in (cfg.parent / "obs").glob("*.nc")}
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"holds the input file .* of the configuration"):
            tccas.run(cfg, output_dir=cfg.parent, progress=False, overwrite=overwrite)
    assert {p.name: p.read_bytes() for p in (cfg.parent / "obs").glob("*.nc")} == obs_before
    assert not (cfg.parent / MANIFEST_NAME).exists() and not (cfg.parent / LOCK_NAME).exists()
    # a subfolder of the case is fine
    tccas.run(cfg, output_dir=cfg.parent / "run1", progress=False)


def test_failed_write_into_an_existing_folder_leaves_it_as_it_was(tmp_path, monkeypatch):
    from tccas import workflow as _workflow

    def fail(*args, **kwargs):
        raise OSError("disk full")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(_workflow, "format_summary", fail)
    with pytest.raises(OSError, match="disk full"):
        tccas.run("ES-LM1", output_dir=out, progress=False)
    assert _files(out) == ["notes.txt"]           # no temporary file, no lock, no manifest


def test_a_swallowed_ctrl_c_still_stops_the_run_before_files_move(tmp_path):
    # netCDF4 can drop a KeyboardInterrupt raised inside its error check; the command
    # line's handler also records the Ctrl-C, and the writers check it before any file
    # moves into place
    from tccas.outdir import clear_interrupt, note_interrupt
    cfg = _short_case(tmp_path)
    out = tmp_path / "out"
    note_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt):
            tccas.run(cfg, output_dir=out, progress=False)
    finally:
        clear_interrupt()
    assert not out.exists() or _files(out) == []
    tccas.run(cfg, output_dir=out, progress=False)
    assert (out / "daily.nc").exists()
