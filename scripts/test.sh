#!/usr/bin/env bash
# Sets up and runs every test: the Swift engine's (swift test) and, once the
# Python package is built, its bindings' (pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift test
