"""metaswift.blas_info() tells which OpenBLAS and which of its kernels the
engine runs, as OpenBLAS chose them when it was loaded."""
import os
import subprocess
import sys

import metaswift as ms


def info_with(**env):
    environ = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    environ.update(env)
    return subprocess.run([sys.executable, "-c", "import metaswift; print(metaswift.blas_info())"],
                          env=environ, capture_output=True, text=True, check=True).stdout.strip()


def test_blas_info_names_openblas_and_its_kernels():
    info = ms.blas_info()
    assert info.startswith("OpenBLAS ") and "; core: " in info
    chosen = os.environ.get("OPENBLAS_CORETYPE")
    if chosen:
        assert info.lower().endswith(f"core: {chosen.lower()}")
    # The CPU's own choice, in a fresh process: some core, whatever it is.
    assert info_with().split("; core: ")[1] not in ("", "unknown")


def test_blas_info_follows_openblas_coretype():
    # Prescott (SSE3) kernels run on every x86-64 CPU this project builds for.
    assert info_with(OPENBLAS_CORETYPE="Prescott").endswith("core: Prescott")
