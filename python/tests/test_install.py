"""The installed package is self-contained: the Swift runtime is linked into
libmetaswift.so, which sits beside the extension and is found through $ORIGIN."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import metaswift
from conftest import PACKAGE_DIR, REPO


def ldd(path):
    return subprocess.run(["ldd", str(path)], check=True, stdout=subprocess.PIPE, text=True).stdout


def test_no_swift_runtime_is_needed(library_path):
    extension = Path(metaswift._core.__file__)
    assert extension.parent == library_path.parent
    for path in (extension, library_path):
        deps = ldd(path)
        assert "not found" not in deps
        assert "libswift" not in deps and "/opt/swift" not in deps
    assert f"libmetaswift.so => {library_path}" in ldd(extension)


def test_extension_finds_the_library_through_origin():
    dynamic = subprocess.run(["readelf", "-d", metaswift._core.__file__], check=True,
                             stdout=subprocess.PIPE, text=True).stdout
    assert re.search(r"R(UN)?PATH.*\$ORIGIN", dynamic)


def test_imports_without_the_toolchain_in_sight(tmp_path):
    swift = shutil.which("swift")
    toolchain = str(Path(os.path.realpath(swift)).parents[1]) if swift else "/opt/swift"
    keep = lambda var: os.pathsep.join(p for p in os.environ.get(var, "").split(os.pathsep)
                                       if p and not p.startswith(toolchain) and "swift" not in p)
    env = {k: v for k, v in os.environ.items() if k not in ("PATH", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PATH"] = keep("PATH")
    env["LD_LIBRARY_PATH"] = keep("LD_LIBRARY_PATH")
    code = (
        "import shutil, numpy as np, metaswift\n"
        "assert shutil.which('swift') is None\n"
        "y = metaswift.nn.MLP([1, 4, 1], seed=0)(np.ones((2, 1)))\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(metaswift.__file__, y.shape, 'libswift' in maps)\n"
    )
    # run from an empty directory so a source checkout is not imported by accident
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True,
                         stdout=subprocess.PIPE, text=True).stdout.split()
    assert Path(out[0]).parent == PACKAGE_DIR
    assert out[1:] == ["(2,", "1)", "False"]


def test_version_comes_from_one_place():
    swift = (REPO / "Sources" / "MetaSwiftC" / "Version.swift").read_text()
    assert f'let metaswiftVersion = "{metaswift.__version__}"' in swift
    from importlib import metadata
    assert metadata.version("metaswift") == metaswift.__version__


def test_no_two_paths_differ_only_in_case():
    # On a case-insensitive file system (macOS, where most Swift users work)
    # two such paths are one, and the checkout breaks.
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, stdout=subprocess.PIPE, text=True)
    if listed.returncode == 0:
        paths = listed.stdout.split()
    else:
        paths = [str(p.relative_to(REPO)) for p in REPO.rglob("*") if ".build" not in p.parts]
    seen = {}
    for path in paths:
        parts = Path(path).parts
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            other = seen.setdefault(prefix.lower(), prefix)
            assert other == prefix, f"{other!r} and {prefix!r} differ only in case"
