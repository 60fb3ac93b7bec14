"""include/metaswift.h, the exported symbols of libmetaswift.so and the
@_cdecl declarations of Sources/MetaSwiftC agree, name for name and in arity."""
import re
import shutil
import subprocess

import pytest

from conftest import REPO

HEADER = REPO / "include" / "metaswift.h"
SWIFT_SOURCES = REPO / "Sources" / "MetaSwiftC"


def split_top_level(params, opening="(<[", closing=")>]"):
    """Splits a parameter list at commas outside brackets (function-pointer
    and generic types contain commas and parentheses of their own)."""
    parts, depth, current = [], 0, ""
    for ch in params:
        if ch in opening:
            depth += 1
        elif ch in closing:
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts]


def header_signatures():
    """{name: [parameter declarations]} of every function in the header."""
    text = re.sub(r"/\*.*?\*/", "", HEADER.read_text(), flags=re.S)
    found = {}
    for m in re.finditer(r"^[\w \*]*?\b(ms_\w+)\s*\(([^;]*?)\)\s*;", text, flags=re.M | re.S):
        params = split_top_level(m.group(2))
        found[m.group(1)] = [] if params == ["void"] else params
    return found


def header_functions():
    return {name: len(params) for name, params in header_signatures().items()}


def swift_functions():
    found = {}
    for path in sorted(SWIFT_SOURCES.glob("*.swift")):
        text = path.read_text()
        for m in re.finditer(r'@_cdecl\("(\w+)"\)\s*public func (\w+)\((.*?)\)\s*->', text, flags=re.S):
            cname, fname, params = m.groups()
            assert cname == fname, f"{path.name}: @_cdecl(\"{cname}\") is on func {fname}; keep the names equal"
            assert cname not in found, f"{cname} is declared twice"
            found[cname] = len(split_top_level(params))
    return found


def exported_symbols(library_path):
    out = subprocess.run(["nm", "-D", "--defined-only", str(library_path)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.split()[-1].startswith("ms_")}


def test_the_parsers_see_the_whole_abi():
    header = header_functions()
    assert header["ms_version"] == 0
    assert header["ms_tensor_wrap"] == 6
    assert header["ms_new"] == 3
    assert header["ms_call"] == 4


def test_header_declares_exactly_the_exported_symbols(library_path):
    assert set(header_functions()) == exported_symbols(library_path)


def test_header_and_cdecl_functions_agree_in_name_and_arity():
    assert header_functions() == swift_functions()


def test_the_abi_is_generic():
    """Kinds, methods and arguments are names, not C functions: the header
    has two handle types (ms_object, ms_args) and a fixed set of functions,
    and the extension names no engine kind. A new layer, learner or method
    must not change any of this."""
    header = HEADER.read_text()
    assert set(re.findall(r"typedef struct (ms_\w+)_s\* \1;", header)) == {"ms_object", "ms_args"}
    assert len(header_functions()) == 32
    extension = "".join(p.read_text() for p in (REPO / "python" / "src").glob("*.[ch]"))
    for name in ("MAML", "ProtoNet", "learner", "optimizer", "Conv4", "taskset", "trainer"):
        assert name not in extension, f"python/src mentions {name!r}: the extension must stay generic"


def test_every_kind_and_function_is_documented():
    """docs/architecture.md lists every kind ms_new makes and every function
    ms_call reaches (the engine's own error messages list them)."""
    import metaswift
    from metaswift import _core
    doc = (REPO / "docs" / "architecture.md").read_text()
    with pytest.raises(metaswift.Error) as kinds:
        _core.new("?")
    with pytest.raises(metaswift.Error) as functions:
        _core.call("?")
    for message in (str(kinds.value), str(functions.value)):
        names = message.split("expected one of ", 1)[1].split(", ")
        assert len(names) >= 4
        for name in names:
            assert f"`{name}`" in doc, f"docs/architecture.md does not list {name}"


def test_header_compiles_as_strict_c_and_links(library_path, tmp_path):
    cc = shutil.which("cc")
    assert cc, "a C compiler is needed to build metaswift._core, so it is here"
    program = tmp_path / "probe.c"
    program.write_text(r'''
#include <metaswift.h>
#include <stdio.h>
int main(void) {
    const int64_t sizes[] = {2, 3, 1};
    ms_args args = NULL, results = NULL;
    ms_object model = NULL;
    int64_t count = 0;
    if (ms_args_new(&args) != MS_OK) return 1;
    if (ms_args_set_ints(args, "sizes", sizes, 3) != MS_OK) return 2;
    if (ms_args_set_string(args, "activation", "tanh") != MS_OK) return 3;
    if (ms_args_set_uint(args, "seed", 7) != MS_OK) return 4;
    if (ms_new(&model, "model.MLP", args) != MS_OK) return 5;
    if (ms_args_free(args) != MS_OK) return 6;
    if (ms_call(&results, model, "parameter_count", NULL) != MS_OK) return 7;
    if (ms_args_get_int(&count, results, 0) != MS_OK) return 8;
    if (ms_args_free(results) != MS_OK) return 9;
    if (ms_call(&results, (ms_object)(void*)&count, "parameter_count", NULL) != MS_ERR_HANDLE) return 10;
    printf("%s %lld %s\n", ms_version(), (long long)count, ms_last_error());
    return ms_free(model) == MS_OK ? 0 : 11;
}
''')
    exe = tmp_path / "probe"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{HEADER.parent}",
                    str(program), f"-L{library_path.parent}", "-lmetaswift",
                    f"-Wl,-rpath,{library_path.parent}", "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], check=True, stdout=subprocess.PIPE, text=True).stdout
    version, count, message = out.split(" ", 2)
    assert count == "4"
    assert "not a live metaswift handle" in message
