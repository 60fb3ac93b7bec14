"""include/metaswift.h, the exported symbols of libmetaswift.so and the
@_cdecl declarations of Sources/MetaSwiftC agree, name for name and in arity."""
import re
import shutil
import subprocess

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
    assert header["ms_model_new_mlp"] == 5
    assert len(header) >= 18


def test_header_declares_exactly_the_exported_symbols(library_path):
    assert set(header_functions()) == exported_symbols(library_path)


def test_header_and_cdecl_functions_agree_in_name_and_arity():
    assert header_functions() == swift_functions()


def test_every_new_has_exactly_one_free():
    """A constructor (ms_KIND_new*, or ms_VARIANT_new for a kind with
    variants) makes the kind of its first parameter, `ms_KIND* out`; every
    kind made has its ms_KIND_free, and every free has a constructor."""
    signatures = header_signatures()
    created = {}
    for name, params in signatures.items():
        if re.match(r"ms_\w+?_new(_\w+)?$", name) or name == "ms_tensor_wrap":
            m = re.match(r"ms_(\w+)\* out$", params[0])
            assert m, f"{name}: a constructor's first parameter is `ms_KIND* out`, got {params[0]!r}"
            created.setdefault(m.group(1), []).append(name)
    freed = {re.match(r"ms_(\w+)_free$", n).group(1) for n in signatures if n.endswith("_free")}
    assert {"tensor", "model", "taskset", "optimizer", "learner", "trainer"} <= set(created)
    assert set(created) == freed
    for kind in freed:
        assert signatures[f"ms_{kind}_free"] == [f"ms_{kind} {kind}"]


def test_every_handle_kind_has_a_c_type_and_a_registry_kind():
    header = HEADER.read_text()
    kinds = set(re.findall(r"typedef struct ms_(\w+)_s\* ms_\1;", header))
    swift = (SWIFT_SOURCES / "Handles.swift").read_text()
    enum = swift[swift.index("enum HandleKind"):]
    enum = enum[:enum.index("}")]
    assert kinds == set(re.findall(r"case (\w+)", enum))


def test_header_compiles_as_strict_c_and_links(library_path, tmp_path):
    cc = shutil.which("cc")
    assert cc, "a C compiler is needed to build metaswift._core, so it is here"
    program = tmp_path / "probe.c"
    program.write_text(r'''
#include <metaswift.h>
#include <stdio.h>
int main(void) {
    const int64_t sizes[] = {2, 3, 1};
    ms_model model = NULL;
    int64_t count = 0;
    if (ms_model_new_mlp(&model, sizes, 3, "tanh", 7) != MS_OK) return 1;
    if (ms_model_parameter_count(&count, model) != MS_OK) return 2;
    if (ms_model_parameter_count(&count, (ms_model)(void*)&count) != MS_ERR_HANDLE) return 3;
    printf("%s %lld %s\n", ms_version(), (long long)count, ms_last_error());
    return ms_model_free(model) == MS_OK ? 0 : 4;
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
