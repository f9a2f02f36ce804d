#!/usr/bin/env bash
# Set up a fresh machine: gfortran (apt-get) and tccas with its test extras (pip).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v gfortran >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq gfortran >/dev/null
fi
PY="${PYTHON:-python3}"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet ".[test,regional-dask]"   # Dask: the regional engine tests (pure Python)
