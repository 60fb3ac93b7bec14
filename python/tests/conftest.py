"""Shared fixtures: where the repository and the built library are."""
import ctypes
from pathlib import Path

import pytest

import metaswift

REPO = Path(__file__).resolve().parents[2]
PACKAGE_DIR = Path(metaswift.__file__).resolve().parent


@pytest.fixture(scope="session")
def library_path():
    path = PACKAGE_DIR / "libmetaswift.so"
    assert path.is_file(), f"libmetaswift.so is not installed beside the extension in {PACKAGE_DIR}"
    return path


@pytest.fixture(scope="session")
def lib(library_path):
    """The C ABI through ctypes: the same library (and so the same handle
    registry) that metaswift._core is linked against."""
    lib = ctypes.CDLL(str(library_path))
    lib.ms_last_error.restype = ctypes.c_char_p
    lib.ms_version.restype = ctypes.c_char_p
    return lib
