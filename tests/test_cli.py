"""The tccas command."""
from __future__ import annotations

import subprocess
import sys


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tccas", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cases_lists_default():
    r = run("cases")
    assert r.returncode == 0 and "ES-LM1" in r.stdout.split()


def test_run_default_case(tmp_path):
    r = run("run", "ES-LM1", "-o", str(tmp_path / "out"), "-q")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any(l.startswith("2021") for l in lines)
    assert (tmp_path / "out" / "daily.nc").exists() and (tmp_path / "out" / "hourly.nc").exists()
    # annual cell GPP of a Mediterranean savanna: a few hundred gC m-2 yr-1
    row = [l for l in lines if l.startswith("2018")][0].split()
    gpp_cell = float(row[-3])
    assert 150 < gpp_cell < 1500


def test_bad_config_is_a_clean_error(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[site]\nstatic='nope.nc'\nforcing='nope.nc'\n[run]\nstart=2015-01-01\n"
                 "end=2015-12-31\n")
    r = run("run", str(p))
    assert r.returncode == 2
    assert "nope.nc: file not found" in r.stderr
    assert "Traceback" not in r.stderr


def test_copy_case(tmp_path):
    r = run("copy-case", "ES-LM1", str(tmp_path / "mine"))
    assert r.returncode == 0
    assert (tmp_path / "mine" / "config.toml").exists()


def test_ctrl_c_ends_with_one_line_and_status_130(tmp_path):
    import signal
    p = subprocess.Popen([sys.executable, "-m", "tccas", "check-gradient", "ES-LM1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path)
    # wait for the check's first progress line (not a fixed time: imports take long on a
    # loaded machine, and a Ctrl-C during them is Python's, not the command's)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if "gradient check: started" in line:
            break
    assert p.poll() is None, seen
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert err.strip().splitlines()[-1] == "tccas: check-gradient interrupted"
    assert "Traceback" not in err
    assert not list(tmp_path.rglob("*.part"))


def test_load_config_refuses_what_is_not_a_path():
    import tccas
    import pytest
    with pytest.raises(tccas.ConfigError, match="TOML file path or a bundled case name"):
        tccas.load_config(42)
