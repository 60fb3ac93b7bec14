"""Builds metaswift: the Swift engine (libmetaswift.so), then the CPython
extension metaswift._core linked against it.

`pip install .` and `pip install -e .` both run `build_ext` below, which
1. runs `swift build -c release --product metaswift` (the library links the
   Swift runtime statically, so it needs no toolchain at run time),
2. compiles python/src/*.c against include/metaswift.h (limited API, abi3),
   with an `$ORIGIN` rpath,
3. places libmetaswift.so next to the extension, in the build tree and, for
   editable installs, in python/metaswift/.

Set SWIFT to the swift executable if it is not on PATH.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()
LIBRARY = "libmetaswift.so"
LIMITED_API = 0x030B0000  # abi3 for CPython 3.11 and later


def version():
    text = (ROOT / "Sources" / "MetaSwiftC" / "Version.swift").read_text()
    return re.search(r'^let metaswiftVersion = "([^"]+)"', text, re.M).group(1)


def _replace(source, target):
    """Copies `source` to `target` as a new file (a new inode): processes that
    have the old `target` mapped keep their copy."""
    target = Path(target)
    target.unlink(missing_ok=True)
    shutil.copy2(source, target)


class BuildSwiftThenExtension(build_ext):
    """build_ext that builds the Swift library first and ships it beside the extension."""

    def _swift(self, *args):
        swift = os.environ.get("SWIFT") or shutil.which("swift")
        if swift is None:
            raise RuntimeError("metaswift needs the Swift toolchain to build: put `swift` on PATH or set SWIFT")
        cmd = [swift, "build", "-c", "release", "--package-path", str(ROOT), *args]
        return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout

    def run(self):
        self.announce("building libmetaswift with swift build -c release (takes a few minutes)", level=3)
        self._swift("--product", "metaswift")
        self.swift_library = Path(self._swift("--show-bin-path").strip()) / LIBRARY
        if not self.swift_library.is_file():
            raise RuntimeError(f"swift build did not produce {self.swift_library}")
        for ext in self.extensions:
            ext.library_dirs.append(str(self.swift_library.parent))
        super().run()

    def _built_library(self, ext):
        """Where the library goes in the build tree: beside the built extension."""
        return Path(self.build_lib) / Path(self.get_ext_filename(ext.name)).parent / LIBRARY

    def _source_library(self, ext):
        """Where an in-place (editable) build puts it: the package's source folder."""
        package = ext.name.rpartition(".")[0]
        return Path(self.get_finalized_command("build_py").get_package_dir(package)) / LIBRARY

    def build_extension(self, ext):
        super().build_extension(ext)
        target = self._built_library(ext)
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(self.swift_library, target)

    def copy_extensions_to_source(self):
        # Unlink what an editable install placed before, rather than writing
        # into it: a running interpreter (a notebook) that has the old
        # libraries mapped keeps them, instead of dying of SIGBUS.
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            package, _, name = ext.name.rpartition(".")
            filename = Path(self.get_ext_filename(name)).name
            (Path(build_py.get_package_dir(package)) / filename).unlink(missing_ok=True)
        super().copy_extensions_to_source()
        for ext in self.extensions:
            _replace(self._built_library(ext), self._source_library(ext))

    def get_outputs(self):
        return super().get_outputs() + [str(self._built_library(ext)) for ext in self.extensions]

    def get_output_mapping(self):
        mapping = super().get_output_mapping()
        for ext in self.extensions:
            mapping[str(self._built_library(ext))] = str(self._source_library(ext))
        return mapping


core = Extension(
    "metaswift._core",
    sources=sorted(str(p.relative_to(ROOT)) for p in (ROOT / "python" / "src").glob("*.c")),
    include_dirs=["include"],
    libraries=["metaswift"],
    define_macros=[("Py_LIMITED_API", hex(LIMITED_API))],
    py_limited_api=True,
    extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
    # Find libmetaswift.so beside the extension, wherever the package is installed.
    extra_link_args=["-Wl,-rpath,$ORIGIN"],
)

setup(
    version=version(),
    ext_modules=[core],
    cmdclass={"build_ext": BuildSwiftThenExtension},
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
