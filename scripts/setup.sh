#!/usr/bin/env bash
# Installs what metaswift needs on a Debian machine that has the Swift toolchain:
# the two system packages (when missing) and, with --python, the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
dpkg -s libopenblas-dev >/dev/null 2>&1 || need+=(libopenblas-dev)
# A system Python needs its headers to build the extension; pyenv's carry their own.
python3 -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' \
  || need+=(python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi
