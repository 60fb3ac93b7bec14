"""Mutation check of the autodiff tests: for every primitive's VJP, flip the sign
of its incoming cotangent (one mutant) and drop its cotangents (another), rebuild,
and run the autodiff test suite. Every mutant must make a test fail.

Runs in a scratch copy of the repository, one mutant at a time (a debug build
each: several minutes in all).

    python scripts/mutate_vjps.py [--filter MetaAutodiffTests]
"""
import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOSURE = re.compile(r'record\("(?P<name>[A-Za-z0-9]+)"(?P<rest>[^\n]*?)\{ (?P<g>\w+), (?P<x>\w+), (?P<y>\w+) in')


def mutants(text):
    """(name, kind, mutated text) for each VJP closure in `text`."""
    for m in CLOSURE.finditer(text):
        head = m.group(0)
        flipped = head + f" let {m.group('g')} = -{m.group('g')};"
        yield m.group("name"), "sign", text[:m.start()] + flipped + text[m.end():]
        g = m.group("g")
        # Drop: the cotangent becomes zero, so every input receives zeros.
        dropped = head + f" let {g} = {g} * 0;"
        yield m.group("name"), "dropped", text[:m.start()] + dropped + text[m.end():]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--filter", default="MetaAutodiffTests")
    parser.add_argument("--scratch", default="/tmp/metaswift-mutants")
    args = parser.parse_args()
    scratch = Path(args.scratch)
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(ROOT, scratch, ignore=shutil.ignore_patterns(".build*", ".git", "*.so", "__pycache__"))
    files = sorted((scratch / "Sources" / "MetaAutodiff").rglob("*.swift"))
    survived, killed = [], 0
    for path in files:
        original = path.read_text()
        for name, kind, text in mutants(original):
            path.write_text(text)
            run = subprocess.run(["swift", "test", "--filter", args.filter], cwd=scratch,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            failed = run.returncode != 0 and "error:" in run.stdout
            status = "killed" if failed else "SURVIVED"
            print(f"{path.name:>18} {name:>12} {kind:>8}: {status}", flush=True)
            if failed:
                killed += 1
            else:
                survived.append((path.name, name, kind))
        path.write_text(original)
    print(f"{killed} mutants killed, {len(survived)} survived")
    sys.exit(1 if survived else 0)


if __name__ == "__main__":
    main()
