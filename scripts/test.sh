#!/usr/bin/env bash
# Sets up and runs every test: the Swift engine's (swift test) and the Python
# bindings' (pytest, against the package installed in editable mode).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
python3 -m pip install -q -e ".[test]"
swift test
python3 -m pytest -q python/tests
