#!/usr/bin/env bash
# Install tccas on this machine (ci/setup.sh) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/setup.sh
PY="${PYTHON:-python3}"
# run from a folder outside the source tree so the installed package is what is tested
cd tests && "$PY" -m pytest -q -p no:cacheprovider .
