#!/usr/bin/env python3
"""A fuzzer of metaswift's whole public Python API (issue #9: no input may
kill the interpreter).

Random *sequences* of calls: every object a call returns (models, learners,
tasksets, optimizers, tasks, arrays, results...) joins a pool that later calls
of the sequence use, so trained learners, replaced models, models shared by
two learners and freed handles are reached. Arguments are valid (small sizes,
so calls are fast) or mutated: wrong types, None, NaN, +-inf, 0, negatives,
2**31, 2**63, 10**400, 3.4e38, wrong shapes and dtypes, 0-d, empty and
non-contiguous arrays, zero-stride arrays of 2**40 rows, strings with NUL or
lone surrogates, abstract base classes, corrupted Omniglot zips and PNGs.

Each call is a line of Python (``v12 = v3.fit(v7, steps=2, ...)``) built from
a seeded ``random.Random``: a sequence is fully determined by its seed (given
the engine's determinism), and ``--replay SEED`` runs it again in this
process, printing every call. Sequences run in child processes (``--child``)
under a 6 GiB address-space limit set before metaswift is imported; the child
writes each call to a pipe *before* making it, so the parent knows the call
that was running when the child died (a crash: death by signal or any exit)
or stopped answering (a hang: a call or a sequence over its time limit).

An exception is acceptable when it is ``metaswift.Error``, a ``TypeError``
whose message names an argument (``name: ...`` or Python's own messages about
arguments), a warning the package issues on purpose, or an exception raised
by the user's own objects (``Evil``). Anything else raised from inside the
package is a finding, recorded with the innermost metaswift frame.

    python python/tests/fuzz_api.py --calls 100000 --seed 1 --jobs 2 --report out.json
    python python/tests/fuzz_api.py --replay 1:37          # re-run one sequence, printing each call
    python python/tests/fuzz_api.py --script 1:37          # the sequence as a standalone script

Every new public API joins the ACTIONS table below.
"""
import argparse
import gc
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import warnings
import zipfile
import zlib
from collections import Counter
from decimal import Decimal  # noqa: F401  (used by generated calls)
from fractions import Fraction  # noqa: F401
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
AS_LIMIT = 6 << 30
CALL_TIMEOUT = 60.0
SEQUENCE_TIMEOUT = 600.0
MIN_CALLS, MAX_CALLS = 50, 200

__all__ = ["A", "L", "big", "both", "release", "Evil", "EvilError", "nan", "inf", "np", "Fraction", "Decimal",
           "run_campaign", "sequence_script", "Summary"]

nan, inf = float("nan"), float("inf")


# MARK: - Helpers the generated calls use (also imported by reproducer scripts)

def A(shape, dtype="float32", seed=0, fill=None, step=1, order="C", readonly=False):
    """A seeded array of normal values: ``dtype`` (any NumPy dtype name, or
    'object'), its first element set to ``fill``, every ``step``-th column of
    a wider array (non-contiguous), Fortran order, or read-only."""
    shape = tuple(shape)
    full = shape[:-1] + (shape[-1] * step,) if shape else shape
    x = np.random.default_rng(seed).normal(size=full)
    if fill is not None and x.size:
        x.flat[0] = fill
    with np.errstate(all="ignore"):
        if dtype == "object":
            out = x.astype(object)
        elif str(dtype).startswith("datetime64"):
            out = np.nan_to_num(x).astype(np.int64).astype(dtype)
        else:
            out = x.astype(dtype)
    if step > 1 and shape:
        out = out[..., ::step]
    if order == "F":
        out = np.asfortranarray(out)
    if readonly:
        out.flags.writeable = False
    return out


def L(classes, per=1, dtype="int64", seed=None, fill=None):
    """Class labels ``0..classes-1``, ``per`` of each, grouped (or shuffled by
    ``seed``); the first set to ``fill``."""
    y = np.repeat(np.arange(classes, dtype=np.int64), per)
    if seed is not None:
        np.random.default_rng(seed).shuffle(y)
    if fill is not None and y.size:
        if isinstance(fill, int) and fill >= 2**63:
            y = y.astype(np.uint64)
        y[0] = fill
    with np.errstate(all="ignore"):
        return y.astype(dtype)


def big(shape, dtype="float32"):
    """A read-only array of ``shape`` with zero strides: any size, no memory."""
    return np.broadcast_to(np.zeros((), dtype), tuple(shape))


def both(*calls):
    """Makes the calls at the same time, one thread each; returns their
    results, or raises the first exception one of them raised."""
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


class EvilError(Exception):
    """What Evil's methods raise: the user's own exception, which may propagate."""


class Evil:
    """An object whose every conversion raises EvilError."""

    def _fail(self, *args, **kwargs):
        raise EvilError("evil")

    __index__ = __int__ = __float__ = __len__ = __iter__ = __array__ = __bool__ = __getitem__ = _fail
    __fspath__ = __str__ = __complex__ = _fail

    def __repr__(self):
        return "Evil()"


# The synthetic Omniglot release: the counts of the real one (30 + 20 alphabets,
# 964 + 659 characters, 20 drawings each), one small 105x105 drawing everywhere.
PARTS = {"images_background": ("Bg", 30, 964), "images_evaluation": ("Ev", 20, 659)}
FIRST_MEMBER = "images_background/Bg00/character0000/0000_01.png"
_work = {}


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width=105, height=105, depth=1, color=0, rows=None, filters=0, interlace=0, extra=b""):
    row_bytes = (width * depth + 7) // 8
    if rows is None:
        rows = [bytes([0xFF] * row_bytes) for _ in range(height)]
    raw = b"".join(bytes([filters]) + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color, 0, 0,
                                                                interlace))
            + extra + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def _drawing():
    row_bytes = (105 + 7) // 8
    rows = [bytes([0xFF] * row_bytes) if not 40 <= y < 60 else bytes([0xF0] * row_bytes) for y in range(105)]
    return _png(rows=rows)


def _fixture():
    """The folder holding the valid synthetic release (built once per campaign)."""
    if "fixture" not in _work:
        base = os.environ.get("METASWIFT_FUZZ_DATA")
        if not base:
            base = tempfile.mkdtemp(prefix="msfuzz-data-")
            os.environ["METASWIFT_FUZZ_DATA"] = base
        build_release(Path(base) / "release")
        _work["fixture"] = Path(base) / "release"
    return _work["fixture"]


def build_release(root, png=None, first=None):
    """Writes the synthetic release into ``root`` (a no-op when it is there);
    ``first`` replaces the bytes of the first drawing decoded."""
    root = Path(root)
    if (root / "images_evaluation.zip").is_file():
        return root
    root.mkdir(parents=True, exist_ok=True)
    png = png or _drawing()
    for part, (prefix, alphabets, characters) in PARTS.items():
        tmp = root / f".{part}.zip.part"
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
            for c in range(characters):
                for d in range(20):
                    name = f"{part}/{prefix}{c % alphabets:02d}/character{c:04d}/{c:04d}_{d + 1:02d}.png"
                    z.writestr(name, first if first is not None and name == FIRST_MEMBER else png)
        os.replace(tmp, root / f"{part}.zip")
    return root


def _scratch():
    if "scratch" not in _work:
        # Inside the campaign's folder when there is one, which the parent removes (a killed child cannot).
        _work["scratch"] = Path(tempfile.mkdtemp(prefix="msfuzz-", dir=os.environ.get("METASWIFT_FUZZ_DATA")))
    return _work["scratch"]


def _mutated_png(rng):
    """A PNG that is wrong in one of many ways, with valid chunk CRCs (so the
    decoder's own checks are reached)."""
    kind = rng.randrange(12)
    if kind == 0:
        return _png(width=rng.choice([1, 104, 106, 2**31 - 1, 2**32 - 1]), height=105)
    if kind == 1:
        return _png(depth=rng.choice([2, 4, 8, 16, 3]), rows=[bytes(rng.randrange(1, 300)) for _ in range(105)])
    if kind == 2:
        return _png(color=rng.choice([2, 3, 4, 6, 7]))
    if kind == 3:
        return _png(interlace=rng.choice([1, 2]))
    if kind == 4:
        return _png(filters=rng.choice([1, 2, 3, 4, 5, 255]))
    if kind == 5:
        return _png(color=3, extra=_chunk(b"PLTE", bytes(rng.randrange(0, 800))))
    if kind == 6:
        return _png(rows=[bytes(rng.randrange(0, 20)) for _ in range(rng.randrange(0, 200))])
    if kind == 7:
        data = _drawing()
        return data[:rng.randrange(len(data))]
    if kind == 8:
        data = bytearray(_drawing())
        for _ in range(rng.randrange(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 9:
        return b"\x89PNG\r\n\x1a\n" + _chunk(b"IDAT", b"") + _chunk(b"IHDR", bytes(13))
    if kind == 10:
        return _png(extra=_chunk(b"IHDR", bytes(13)) + _chunk(rng.choice([b"abCD", b"ABCD", b"tEXt"]), b"x"))
    return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))


def release(variant="valid", seed=0):
    """The path (str) of an Omniglot root: the valid synthetic release or a
    damaged copy of it, made fresh in the fuzzer's scratch folder."""
    rng = random.Random(f"{variant}:{seed}")
    fixture = _fixture()
    if variant == "valid":
        return str(fixture)
    root = _scratch() / f"{variant}-{seed}-{rng.randrange(10**9)}"
    root.mkdir(parents=True, exist_ok=True)
    if variant == "empty":
        return str(root)
    shutil.copy(fixture / "images_evaluation.zip", root)
    if variant == "png":
        build_release(root, first=_mutated_png(rng))
        return str(root)
    raw = bytearray((fixture / "images_background.zip").read_bytes())
    eocd = raw.rfind(b"PK\x05\x06")
    cd = struct.unpack_from("<L", raw, eocd + 16)[0]
    if variant == "fake_header":  # the first member's offset points at a local header signature 4 bytes from the end
        raw[eocd + 20:eocd + 22] = struct.pack("<H", 4)
        raw += b"PK\x03\x04"
        struct.pack_into("<L", raw, cd + 42, len(raw) - 4)
    elif variant == "offset":  # the first member's offset anywhere
        struct.pack_into("<L", raw, cd + 42, rng.choice([len(raw) - 1, len(raw), 2**32 - 1, cd, eocd,
                                                         rng.randrange(len(raw))]))
    elif variant == "sizes":  # the first member's sizes in the directory
        struct.pack_into("<LL", raw, cd + 20, rng.choice([0, 1, 93, 95, 2**31, 2**32 - 1]),
                         rng.choice([0, 94, 95, 2**32 - 1]))
    elif variant == "method":
        struct.pack_into("<HH", raw, cd + 8, rng.choice([0, 1, 0x800, 0x41]), rng.choice([0, 1, 8, 12, 14, 99]))
    elif variant == "directory":  # bytes flipped in the central directory or its end record
        for _ in range(rng.randrange(1, 8)):
            raw[rng.randrange(cd, len(raw))] = rng.randrange(256)
    elif variant == "flip":  # bytes flipped anywhere
        for _ in range(rng.randrange(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
    elif variant == "truncate":
        del raw[rng.randrange(len(raw)):]
    elif variant == "garbage":
        raw = bytearray(b"PK\x05\x06" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))))
    (root / "images_background.zip").write_bytes(bytes(raw))
    return str(root)


RELEASE_VARIANTS = ("valid", "empty", "png", "fake_header", "offset", "sizes", "method", "directory", "flip",
                    "truncate", "garbage")


def _fake_urlopen(url, timeout=None):
    """Omniglot's download, served from the synthetic release (never the network)."""
    name = url.rsplit("/", 1)[-1]
    path = _fixture() / name
    if not path.is_file():
        raise urllib.error.URLError(f"fuzz: no such file {name}")
    return open(path, "rb")


# MARK: - Statements

class Stmt:
    """One call: ``fn(*args, **kwargs)``, ``obj.attr``, ``obj.attr = value``,
    ``repr(obj)`` or ``len(obj)``; every part is Python source."""

    def __init__(self, fn=None, args=(), kwargs=None, kind="call", obj=None, attr=None, value=None):
        self.fn, self.args, self.kwargs = fn, list(args), dict(kwargs or {})
        self.kind, self.obj, self.attr, self.value = kind, obj, attr, value

    def text(self):
        if self.kind == "call":
            parts = self.args + [f"{k}={v}" for k, v in self.kwargs.items()]
            return f"{self.fn}({', '.join(parts)})"
        if self.kind == "get":
            return f"{self.obj}.{self.attr}"
        if self.kind == "set":
            return f"{self.obj}.{self.attr} = {self.value}"
        return f"{self.kind}({self.obj})"

    def prepare(self, ns):
        """Evaluates the arguments (outside the measured call) and returns the call."""
        if self.kind == "call":
            fn = eval(self.fn, ns)
            args = [eval(a, ns) for a in self.args]
            kwargs = {k: eval(v, ns) for k, v in self.kwargs.items()}
            return lambda: fn(*args, **kwargs)
        obj = eval(self.obj, ns)
        if self.kind == "get":
            return lambda: getattr(obj, self.attr)
        if self.kind == "set":
            value = eval(self.value, ns)
            return lambda: setattr(obj, self.attr, value)
        return lambda: {"repr": repr, "len": len, "str": str}[self.kind](obj)


# MARK: - The generator

BAD_INTS = ("0", "-1", "-7", "2**31 - 1", "2**31", "2**32 + 1", "2**53 + 1", "2**62", "2**63 - 1", "2**63",
            "-2**63", "-2**63 - 1", "2**64", "10**400", "-10**400", "10**5000", "True", "False", "np.int64(-1)",
            "np.int64(2**62)", "np.uint64(2**64 - 1)", "np.int32(7)", "2.0", "2.5", "nan", "inf", "-inf", "'3'",
            "'3\\x00'", "None", "[2]", "(2,)", "b'2'", "2j", "np.array([2, 3])", "np.array(2)", "np.float32(2)",
            "Fraction(5, 2)", "Decimal('3')", "object()", "Evil()", "ms", "ms.nn.MLP")
BAD_REALS = ("nan", "-nan", "inf", "-inf", "0", "0.0", "-0.0", "-1.0", "-1e-3", "1e-45", "5e-324", "3.4e38",
             "3.5e38", "-3.5e38", "1.7e308", "10**400", "-10**400", "10**5000", "2**63", "2**64",
             "np.float64('nan')", "np.float32('inf')", "np.float16(65504)", "np.longdouble('1e4000')",
             "np.longdouble('1e-4000')", "Decimal('1e999999')", "Decimal('nan')", "Decimal('-inf')",
             "Fraction(10**400, 3)", "'0.1'", "'nan'", "None", "1j", "1e3j", "[0.1]", "np.array([0.1, 0.2])",
             "np.array(0.1)", "np.array([[0.1]])", "True", "np.int64(2**63 - 1)", "object()", "Evil()")
BAD_STRS = ("''", "'\\x00'", "'x' * 100000", "'\\udcff'", "'é'", "b'relu'", "bytearray(b'relu')", "None", "3",
            "['relu']", "Evil()", "nan")
BAD_SEEDS = ("-1", "2**64", "2**64 - 1", "2**63", "1.5", "'0'", "None", "nan", "10**400", "np.uint64(2**64 - 1)",
             "np.int64(-1)", "True", "Evil()")
JUNK = ("None", "3", "-1", "'model'", "object()", "np.zeros((2, 2))", "ms.nn.MLP", "ms", "Evil()", "[]", "()",
        "{}", "nan")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity", "gelu", "softplus")
LOSSES = ("mse", "cross_entropy")
# Regimes whose models, tasksets and tasks fit together.
FEATURES, CLASSES, PER_CLASS, SIDE = 4, 6, 6, 8


class Gen:
    """Builds the statements of one sequence, knowing the pool's objects."""

    def __init__(self, rng, ns, ms):
        self.r, self.ns, self.ms = rng, ns, ms
        self.names = []         # pool variables, in order
        self.regime = {}        # variable -> ("sin",) or ("cls", example shape) for tasksets and tasks
        self.bad = 0.07         # probability that one argument is mutated
        self.origin = {}        # variable -> architecture of the model whose parameters it holds

    # -- the pool ---------------------------------------------------------------

    def add(self, value, regime=None):
        name = f"v{len(self.names)}"
        self.ns[name] = value
        self.names.append(name)
        if regime is not None:
            self.regime[name] = regime
        return name

    def all(self, test):
        return [n for n in self.names if test(self.ns[n])]

    def pick(self, test, bad=None):
        """A pool variable passing ``test`` (None if there is none); sometimes junk
        or any other pool object instead."""
        if self.mutate(bad):
            return self.junk()
        found = self.all(test)
        return self.r.choice(found) if found else None

    def junk(self):
        if self.names and self.r.random() < 0.5:
            return self.r.choice(self.names)
        return self.r.choice(JUNK)

    def mutate(self, bad=None):
        return self.r.random() < (self.bad if bad is None else bad)

    # -- values ----------------------------------------------------------------

    def int_(self, lo, hi, bad=None):
        return self.r.choice(BAD_INTS) if self.mutate(bad) else str(self.r.randint(lo, hi))

    def real(self, lo, hi, bad=None):
        if self.mutate(bad):
            return self.r.choice(BAD_REALS)
        return repr(round(self.r.uniform(lo, hi), 4))

    def choice(self, options, bad=None):
        if self.mutate(bad):
            pick = self.r.random()
            if pick < 0.3:
                return repr(self.r.choice(options) + self.r.choice(["\0", "\0x", "\udcff", " "]))
            if pick < 0.4:
                return repr(self.r.choice(options).upper())
            return self.r.choice(BAD_STRS)
        return repr(self.r.choice(options))

    def seed(self, bad=None):
        return self.r.choice(BAD_SEEDS) if self.mutate(bad) else str(self.r.choice([0, 1, 7, 2**64 - 1, 12345]))

    def flag(self, bad=None):
        return self.r.choice(["None", "2", "'yes'", "np.bool_(True)", "Evil()", "nan"]) if self.mutate(bad) \
            else self.r.choice(["True", "False"])

    def array(self, shape, dtype="float32", bad=None):
        """A float array of ``shape`` (or a mutation of it)."""
        shape = tuple(shape)
        s = self.r.randrange(1000)
        if not self.mutate(bad):
            pick = self.r.random()
            if pick < 0.8:
                return f"A({shape}, seed={s})" if dtype == "float32" else f"A({shape}, {dtype!r}, seed={s})"
            if pick < 0.9:
                return f"A({shape}, 'float64', seed={s})"
            return f"A({shape}, seed={s}).tolist()"
        r = self.r
        n = shape[0] if shape else 1
        rest = shape[1:]
        options = [
            lambda: r.choice(["None", "3", "'abc'", "[]", "[[1, 2], [3]]", "np.float32(1)", "A(())", "Evil()",
                              "[Evil()]", "object()", "{'a': 1}", "'x\\x00'", "b'\\x00\\x01'", "range(3)"]),
            lambda: f"A({(0,) + rest})",
            lambda: f"A({shape[:-1] if len(shape) > 1 else (2, 2, 2)})",
            lambda: f"A({shape + (r.choice([1, 2]),)})",
            lambda: f"A({tuple(d + r.choice([-1, 1]) if d > 1 else d + 1 for d in shape)})",
            lambda: f"A({shape}, {r.choice(['int64', 'float64', 'bool', 'complex64', 'object', 'U3', 'float16', 'uint8', 'datetime64[s]', 'longdouble', 'int8', 'uint64'])!r})",
            lambda: f"A({shape}, step={r.choice([2, 3])})",
            lambda: f"A({shape}, order='F')",
            lambda: f"A({shape}, readonly=True)",
            lambda: f"A({shape}, fill={r.choice(['nan', 'inf', '-inf', '1e39', '-1e300', '3.4e38', '-3.5e38', '1e-46'])})",
            lambda: f"big({(r.choice([2**31, 2**40, 2**62]),) + rest})",
            lambda: f"big({shape[:-1] + (r.choice([2**31, 2**33]),) if shape else (2**40,)})",
            lambda: f"big({(n,) + tuple(r.choice([2**20, 2**31]) for _ in rest)})",
            lambda: f"A({shape}).T",
            lambda: f"A({shape})[::-1]",
            lambda: f"np.matrix(A({(n, 4)}))",
            lambda: f"A({(n,) + rest + (1, 1)})",
        ]
        return r.choice(options)()

    def labels(self, classes, per, bad=None):
        """Integer labels 0..classes-1, ``per`` of each (or a mutation)."""
        s = self.r.randrange(1000)
        if not self.mutate(bad):
            return f"L({classes}, {per})" if self.r.random() < 0.7 else f"L({classes}, {per}, seed={s})"
        r = self.r
        options = [
            lambda: f"L({classes}, {per}, fill={r.choice(['2**62', '-1', '2**63 - 1', '2**64 - 1', '2**31', classes, classes + 1, '-2**63'])})",
            lambda: f"L({classes}, {per}, {r.choice(['float32', 'float64', 'bool', 'uint8', 'int8', 'uint64', 'complex64', 'object', 'U2'])!r})",
            lambda: f"L({classes}, {per})[:, None]",
            lambda: f"L({classes}, {per})[::-1]",
            lambda: f"L({classes}, {per * 2})[::2]",
            lambda: f"L({classes}, {max(per - 1, 0)})",
            lambda: f"L({classes + 1}, {per})",
            lambda: f"L({max(classes - 1, 1)}, {per})",
            lambda: r.choice(["[0, 2**62]", "[0, 2**63 - 1]", "[2**64 - 1]", "[0.5, 1.5]", "[True, False]",
                              "np.int64(0)", "[]", "None", "'01'", "[[0], [1]]", "[-1]", "[10**400]",
                              "np.array([2**63], np.uint64)", "big((2**40,), 'int64')", "Evil()"]),
        ]
        return r.choice(options)()

    def interval(self, lo, hi, bad=None):
        if self.mutate(bad):
            return self.r.choice(["(1.0, 0.0)", "(nan, 1.0)", "(0.0, inf)", "(-inf, inf)", "(0.0,)", "(0, 1, 2)",
                                  "None", "'ab'", "1.0", "(10**400, 1.0)", "(3.5e38, 3.5e38)",
                                  "(-3.4e38, 3.4e38)", "(Evil(), 1.0)", "np.array([0.0, 1.0])", "[0, 0]"])
        a, b = sorted([round(self.r.uniform(lo, hi), 3), round(self.r.uniform(lo, hi), 3)])
        return f"({a!r}, {b!r})"

    # -- regimes: which tasks fit a model ---------------------------------------------
    # A taskset's (and its tasks') regime is ("sin",) for sinusoid regression or
    # ("cls", shape) for classification episodes of examples of that shape.

    def input_shape(self, model):
        """The shape of one example the model takes, from its Python attributes (None if unknown)."""
        ms = self.ms
        sizes = getattr(model, "sizes", None)
        if isinstance(model, ms.nn.MLP) and isinstance(sizes, list) and sizes and isinstance(sizes[0], int) \
                and 0 < sizes[0] <= 64:
            return (sizes[0],)
        if isinstance(model, ms.nn.Conv4):
            c, side = getattr(model, "in_channels", None), getattr(model, "image_size", None)
            if isinstance(c, int) and isinstance(side, int) and 0 < c <= 4 and 0 < side <= 32:
                return (c, side, side)
        if isinstance(model, ms.nn.Layer):
            shape = getattr(model, "_input_shape", None)
            return tuple(shape) if isinstance(shape, tuple) and all(isinstance(d, int) for d in shape) else None
        return None

    def outputs(self, model):
        ms = self.ms
        sizes = getattr(model, "sizes", None)
        if isinstance(model, ms.nn.MLP) and isinstance(sizes, list) and sizes and isinstance(sizes[-1], int):
            return sizes[-1]
        if isinstance(model, ms.nn.Layer) and self.input_shape(model) is not None:
            try:
                out = model.output_shape()
            except Exception:  # noqa: BLE001  (a mangled model: no outputs known)
                return None
            return out[0] if len(out) == 1 else None
        outputs = getattr(model, "outputs", None)
        return outputs if isinstance(outputs, int) else None

    def episodic(self, learner):
        """ProtoNet and the fine-tuning protocols classify any N-way episode."""
        return isinstance(learner, (self.ms.ProtoNet, self.ms.finetune._TransferLearner))

    def fits(self, learner, regime, ways):
        """Tasks of ``regime`` with ``ways`` classes fit the learner's model."""
        model = getattr(learner, "model", learner)
        shape, outputs = self.input_shape(model), self.outputs(model)
        if not isinstance(regime, tuple) or shape is None:
            return False
        if regime == ("sin",):
            return shape == (1,) and outputs == 1 and getattr(learner, "loss", "mse") == "mse"
        if regime[0] != "cls" or regime[1] != shape:
            return False
        if self.episodic(learner):
            return True
        return getattr(learner, "loss", None) == "cross_entropy" and isinstance(ways, int) \
            and isinstance(outputs, int) and ways <= outputs

    def task(self, learner):
        """Source of one task fitting the learner (or model): from the pool or synthesized."""
        ms = self.ms
        tasks = []
        for n in self.all(lambda o: isinstance(o, tuple) and len(o) == 4):
            y = self.ns[n][1]
            ways = int(y.max()) + 1 if isinstance(y, np.ndarray) and y.size and y.dtype.kind == "i" else None
            if self.fits(learner, self.regime.get(n), ways):
                tasks.append(n)
        if tasks and self.r.random() < 0.6:
            return self.r.choice(tasks)
        model = getattr(learner, "model", learner)
        shape = self.input_shape(model) or (FEATURES,)
        k, q = self.r.randint(1, 3), self.r.randint(1, 3)
        outputs = self.outputs(model)
        if getattr(learner, "loss", None) == "cross_entropy" or self.episodic(learner):
            ways = outputs if isinstance(outputs, int) and 1 <= outputs <= 5 else 2
            if self.episodic(learner):
                ways = self.r.randint(2, 4)
            return (f"({self.array((ways * k,) + shape)}, {self.labels(ways, k)}, "
                    f"{self.array((ways * q,) + shape)}, {self.labels(ways, q)})")
        out = outputs if isinstance(outputs, int) and 0 < outputs < 50 else 1
        return (f"({self.array((k,) + shape)}, {self.array((k, out))}, "
                f"{self.array((q,) + shape)}, {self.array((q, out))})")

    def fitting_tasksets(self, learner):
        """Pool tasksets whose tasks fit the learner."""
        return [n for n in self.all(lambda o: isinstance(o, self.ms.data.TaskDistribution))
                if self.fits(learner, self.regime.get(n), getattr(self.ns[n], "ways", None))]

    def taskset_for(self, learner):
        """A pool taskset fitting the learner, or (sometimes) any other object."""
        fit = self.fitting_tasksets(learner)
        if fit and not self.mutate():
            return self.r.choice(fit)
        return self.pick(lambda o: isinstance(o, self.ms.data.TaskDistribution), bad=0.3) or self.junk()

    def make_taskset_for(self, learner):
        """The statement making a taskset that fits the learner (when the pool has none)."""
        model = getattr(learner, "model", None)
        shape, outputs = self.input_shape(model), self.outputs(model)
        if shape is None:
            return None
        if self.fits(learner, ("sin",), None):
            return Stmt("ms.data.Sinusoid", [str(self.r.randint(1, 4)), str(self.r.randint(1, 4))],
                        {"seed": str(self.r.randrange(100))}), ("sin",)
        if self.episodic(learner):
            ways = self.r.randint(2, 4)
        elif isinstance(outputs, int) and outputs >= 2:
            ways = self.r.randint(2, min(CLASSES, outputs))
        else:
            return None
        return Stmt("ms.data.Taskset", [f"A({(CLASSES * PER_CLASS,) + shape}, seed={self.r.randrange(100)})",
                                        f"L({CLASSES}, {PER_CLASS})"],
                    {"ways": str(ways), "shots": str(self.r.randint(1, 2)), "queries": str(self.r.randint(1, 2)),
                     "seed": str(self.r.randrange(100))}), ("cls", shape)

    # -- the next statement ---------------------------------------------------------

    def next(self):
        """The next statement and the regime of its result (or None)."""
        for _ in range(100):
            action = self.r.choices(ACTIONS, WEIGHTS)[0]
            made = action(self)
            if made is None:
                continue
            stmt, regime = made if isinstance(made, tuple) else (made, None)
            if self.r.random() < 0.01 and stmt.kind == "call":  # Python's own argument errors
                if stmt.kwargs and self.r.random() < 0.5:
                    stmt.kwargs.pop(self.r.choice(list(stmt.kwargs)))
                else:
                    stmt.kwargs[self.r.choice(["bogus", "seed", "x", "lr"])] = "1"
            return stmt, regime
        return Stmt("ms.blas_info"), None


# MARK: - Actions: one per public API entry (weights in ACTIONS)

def _is(cls_path):
    def test(o, _path=cls_path):
        import metaswift as ms
        cls = ms
        for part in _path.split("."):
            cls = getattr(cls, part)
        return isinstance(o, cls)
    return test


def new_mlp(g):
    kind = g.r.choice(["sin", "vec", "vec", "other"])
    first = {"sin": 1, "vec": FEATURES}.get(kind, g.r.randint(1, 5))
    last = 1 if kind == "sin" else g.r.randint(1, 4)
    sizes = [str(first)] + [g.int_(1, 12) for _ in range(g.r.randint(0, 2))] + [str(last)]
    sizes = [g.int_(1, 5) if g.mutate() else s for s in sizes]
    src = f"[{', '.join(sizes)}]"
    if g.mutate(0.03):
        src = g.r.choice(["[]", "[3]", "None", "3", "'12'", "Evil()", "[1, 2**31 - 1]", "[2**31 - 1, 1]",
                          "[1, 2**40]", "[300000, 300000]", "np.array([2, 3])", "(1, 2)", "range(1, 4)",
                          "[1] * 100", "[1, 40, 40, 1]", "[Evil()]", "{1: 2}"])
    return Stmt("ms.nn.MLP", [src], {"activation": g.choice(ACTIVATIONS), "seed": g.seed()})


def new_conv4(g):
    blocks = g.r.choice([1, 2, 2, 3])
    image = g.r.choice([SIDE, SIDE, 4, 2**blocks, 12])
    outputs = g.r.choice(["None", "2", "3", "None"])
    kwargs = {"in_channels": g.int_(1, 1) if g.r.random() < 0.8 else g.int_(1, 3), "hidden": g.int_(2, 6),
              "blocks": g.int_(blocks, blocks), "outputs": outputs if not g.mutate() else g.r.choice(BAD_INTS),
              "image_size": g.int_(image, image), "seed": g.seed()}
    if g.r.random() < 0.3:
        kwargs.update(track_running_stats=g.flag(), momentum=g.real(0, 1))
    return Stmt("ms.nn.Conv4", [], kwargs)


def _layer_size(g, good):
    """A size argument of a layer: `good`, or now and then a bad one."""
    return g.r.choice(BAD_INTS + ("2.5", "'4'", "None", "Evil()")) if g.mutate(0.04) else str(good)


def new_layers(g):
    """A model built from ms.nn layers, in a regime whose tasks the pool has:
    vectors of FEATURES, SIDExSIDE images, or (not for tasks) sequences."""
    regime = g.r.choice(["vec", "img", "img", "seq"])
    act = g.r.choice(["ms.nn.ReLU()", "ms.nn.Tanh()", "ms.nn.GELU()", "ms.nn.Softplus()", "ms.nn.Sigmoid()",
                      "ms.nn.LeakyReLU(0.1)", "ms.nn.Identity()"])
    h, outputs = g.r.randint(2, 6), g.r.randint(2, 4)
    z = lambda v: _layer_size(g, v)  # noqa: E731
    if regime == "vec":
        shape = (FEATURES,)
        parts = [f"ms.nn.Linear({z(FEATURES)}, {z(h)})", act]
        extra = g.r.choice(["", f"ms.nn.LayerNorm({z(h)})", f"ms.nn.BatchNorm1d({z(h)})", f"ms.nn.Dropout({g.real(0, 0.6)})",
                            f"ms.nn.BatchNorm1d({z(h)}, momentum={g.real(0, 1)}, track_running_stats=True)",
                            f"ms.nn.Residual(ms.nn.Sequential(ms.nn.Linear({z(h)}, {z(h)}), {act}))",
                            f"ms.nn.Residual(ms.nn.Linear({h}, {h}), ms.nn.Linear({h}, {z(h)}, bias=False))"])
        parts += [extra] if extra else []
        if g.r.random() < 0.2:
            parts.append(f"ms.nn.CosineLinear({z(h)}, {z(outputs)}, scale={g.real(0.5, 10)}, learned_norm={g.flag()})")
        else:
            parts.append(f"ms.nn.Linear({z(h)}, {z(outputs)})")
    elif regime == "img":
        shape = (1, SIDE, SIDE)
        pool = g.r.choice([f"ms.nn.MaxPool2d({z(2)})", f"ms.nn.AvgPool2d({z(2)})", "ms.nn.AvgPool2d(3, stride=1, padding=1)"])
        side = SIDE if "padding=1" in pool else SIDE // 2
        norm = g.r.choice([f"ms.nn.BatchNorm2d({z(h)})", f"ms.nn.BatchNorm2d({z(h)}, track_running_stats=True)"])
        parts = [f"ms.nn.Conv2d({z(1)}, {z(h)}, {z(3)}, padding={z(1)})", norm, act, pool]
        if g.r.random() < 0.2:
            parts.append(f"ms.nn.Dropout({g.real(0, 0.6)})")
        if g.r.random() < 0.5:
            parts += ["ms.nn.GlobalAvgPool2d()", f"ms.nn.Linear({z(h)}, {z(outputs)})"]
        else:
            parts += ["ms.nn.Flatten()", f"ms.nn.Linear({z(h * side * side)}, {z(outputs)})"]
    else:
        shape = (3, FEATURES)
        cell = g.r.choice(["LSTM", "GRU"])
        parts = [f"ms.nn.{cell}({z(FEATURES)}, {z(h)})", "ms.nn.LastStep()", f"ms.nn.Linear({z(h)}, {z(outputs)})"]
    if g.mutate(0.05):
        parts.insert(g.r.randint(0, len(parts)), g.r.choice(["ms.nn.Flatten()", "ms.nn.MaxPool2d(4)", "'relu'",
                                                               "ms.nn.Linear(3, 3)", "Evil()", "ms.nn.Layer()"]))
    kwargs = {"seed": g.seed()}
    if g.r.random() < 0.8:
        kwargs["input_shape"] = str(shape) if not g.mutate(0.05) else g.r.choice(["(0,)", "(-1, 2)", "'x'", "(2**40,)",
                                                                                "(1, 3, 3)", "None", "[Evil()]"])
    if g.r.random() < 0.2:
        return Stmt("ms.nn.Sequential", [], {**{f"p{i}": p for i, p in enumerate(parts)}, **kwargs})
    return Stmt("ms.nn.Sequential", parts, kwargs)


def new_resnet12(g):
    kwargs = {"in_channels": g.int_(1, 1), "width": g.r.choice(["0.03", "0.05", "-1", "nan", "0"]) if g.mutate()
              else "0.05", "outputs": g.r.choice(["None", "2", "3"]), "seed": g.seed()}
    return Stmt("ms.nn.ResNet12", [], kwargs)


def layer_methods(g):
    m = g.pick(lambda o: isinstance(o, g.ms.nn.Layer), bad=0.05)
    if m is None:
        return None
    pick = g.r.random()
    if pick < 0.3:
        return Stmt(f"{m}.describe", [])
    if pick < 0.5:
        return Stmt(f"{m}.description", [])
    if pick < 0.8:
        shape = g.r.choice(["None", f"({FEATURES},)", f"(1, {SIDE}, {SIDE})", f"(3, {FEATURES})", "(0,)", "'x'",
                            "(2**40, 2**40)", "[Evil()]"])
        return Stmt(f"{m}.output_shape", [shape])
    other = g.pick(lambda o: isinstance(o, g.ms.nn.Module), bad=0.1) or "None"
    return Stmt(f"{m}.__eq__", [other])


FILES = ["'m0.safetensors'", "'m1.safetensors'"]


def save_model(g):
    m = g.pick(lambda o: isinstance(o, (g.ms.nn.Module, g.ms.optim.Optimizer)) or type(o).__name__ in
               ("MAML", "MetaSGD", "ANIL", "ALFA", "MAMLPlusPlus", "LSTMMetaLearner", "Reptile", "ProtoNet", "Baseline",
                "LogisticProbe", "FineTune"),
               bad=0.05)
    if m is None:
        return None
    path = g.r.choice(FILES) if not g.mutate() else g.r.choice(["''", "3", "'/nonexistent/x/m.safetensors'", "'\\x00'",
                                                                "'.'", "Evil()", "b'm0.safetensors'", "'x' * 5000"])
    return Stmt("ms.save", [m, path])


def model_state_dict(g):
    m = g.pick(_is("nn.Module"), bad=0.05)
    if m is None:
        return None
    if g.r.random() < 0.5:
        return Stmt(f"{m}.state_dict", [])
    other = g.pick(_is("nn.Module"), bad=0.05) or m
    if g.mutate(0.3):
        return Stmt(f"{m}.load_state_dict", [g.r.choice(["{}", "[1]", "None", "{'x': 1}", "{3: A((2,), seed=1)}",
                                                          f"{{**{other}.state_dict(), 'extra': A((1,), seed=2)}}"])])
    return Stmt(f"{m}.load_state_dict", [f"{other}.state_dict()"])


def load_model(g):
    path = g.r.choice(FILES) if not g.mutate(0.2) else g.r.choice(["'missing.safetensors'", "'.'", "''", "None",
                                                                    "'/dev/null'", "release('valid', 0)"])
    return Stmt("ms.load", [path])


def model_from_description(g):
    m = g.pick(lambda o: isinstance(o, g.ms.nn.Layer), bad=0.05)
    if m is None:
        return None
    if g.mutate():
        return Stmt("ms.nn.from_description", [g.r.choice(["'{'", "'{}'", "'[]'", "{'type': 'Teapot'}", "3", "None",
                                                            "{'type': 'Linear'}", "{'type': 'Sequential', 'layers': 3}"])])
    return Stmt("ms.nn.from_description", [f"{m}.description()"])


def new_module(g):
    return Stmt("ms.nn.Module", [])


def model_forward(g):
    m = g.pick(_is("nn.Module"), bad=0)
    if m is None:
        return None
    shape = (g.r.randint(1, 4),) + (g.input_shape(g.ns[m]) or (FEATURES,))
    pick = g.r.random()
    if pick < 0.4:
        return Stmt(m, [g.array(shape)])
    if pick < 0.7:
        return Stmt(f"{m}.forward", [g.array(shape)],
                    {"training": g.flag(),
                     "seed": g.seed()})
    if pick < 0.85:
        return Stmt(f"{m}.buffers", [])
    if hasattr(g.ns[m], "run") and g.r.random() < 0.5:
        return Stmt(f"{m}.run", [g.array((g.r.randint(1, 3), 3, FEATURES))])
    return Stmt(f"{m}.set_buffers", ["[" + ", ".join(g.array((g.r.randint(1, 6),)) for _ in range(g.r.randint(0, 4))) + "]"])


def model_property(g):
    m = g.pick(_is("nn.Module"), bad=0)
    if m is None:
        return None
    if g.r.random() < 0.1:
        return Stmt(f"{m}.named_buffers", [])
    attr = g.r.choice(["parameter_names", "parameter_shapes", "num_parameters", "embedding_size", "buffer_names",
                       "head_parameters", "sizes"])
    return Stmt(kind="get", obj=m, attr=attr)


def model_parameters(g):
    m = g.pick(_is("nn.Module"), bad=0)
    if m is None:
        return None
    return Stmt(f"{m}.{g.r.choice(['parameters', 'named_parameters'])}", [])


def model_set_parameters(g):
    m = g.pick(_is("nn.Module"), bad=0)
    if m is None:
        return None
    params = g.all(lambda o: isinstance(o, list) and o and all(isinstance(a, np.ndarray) for a in o))
    own = [p for p in params if g.origin.get(p) == _architecture(g.ns[m])]
    if not own and g.r.random() < 0.6:
        return Stmt(f"{m}.parameters", [])  # parameters to set first
    pick = g.r.random()
    if own and pick < 0.5:
        src = g.r.choice(own)
        if g.mutate(0.3):
            src = g.r.choice([f"[p * 2 for p in {src}]", f"[p.astype(np.float64) for p in {src}]",
                              f"[p.T for p in {src}]", f"[np.full_like(p, nan) for p in {src}]",
                              f"[np.full_like(p, 3.5e38, dtype=np.float64) for p in {src}]",
                              f"[p.tolist() for p in {src}]", f"{src}[::-1]", f"tuple({src})",
                              f"iter({src})", f"[p[None] for p in {src}]"])
    elif params and pick < 0.7:
        src = g.r.choice(params)
        if g.mutate(0.3):
            src = f"{src}[:-1]" if g.r.random() < 0.3 else \
                f"[{g.array((2, 2))} if i == 0 else p for i, p in enumerate({src})]"
    elif pick < 0.8:
        src = f"[np.zeros_like(p) for p in {params[0]}]" if params else "[]"
    else:
        src = g.r.choice(["None", "[]", "3", "'abc'", "[None]", "Evil()", "[Evil()]", "iter([])",
                          "[A((2, 2))] * 10"])
    return Stmt(f"{m}.set_parameters", [src])


def model_repr(g):
    m = g.pick(lambda o: isinstance(o, (g.ms.nn.Module, g.ms.data.TaskDistribution, g.ms.optim.Optimizer,
                                        g.ms.optim.Schedule, g.ms.History, g.ms.Evaluation,
                                        g.ms.eval.CrossValidation)) or _is("learners._Learner")(o), bad=0)
    if m is None:
        return None
    return Stmt(kind=g.r.choice(["repr", "repr", "str"]), obj=m)


def new_sinusoid(g):
    kwargs = {"shots": g.int_(1, 5), "queries": g.int_(1, 5)}
    for name, lo, hi in (("amplitude", 0.1, 5.0), ("phase", 0.0, 3.1), ("x_range", -5.0, 5.0)):
        if g.r.random() < 0.3:
            kwargs[name] = g.interval(lo, hi)
    kwargs["seed"] = g.seed()
    if g.mutate(0.02):
        kwargs["queries"] = g.r.choice(["2**31 - 1", "2**30", "2**40", "2**62"])
    return Stmt("ms.data.Sinusoid", [], kwargs), ("sin",)


def new_taskset(g):
    shape = g.r.choice([(FEATURES,), (1, SIDE, SIDE), (FEATURES,), (1, 4, 4), (2, SIDE, SIDE), (3,)])
    n = CLASSES * PER_CLASS
    images, regime = g.array((n,) + shape), ("cls", shape)
    labels = g.labels(CLASSES, PER_CLASS)
    omni = g.all(_is("data.Omniglot"))
    if omni and g.r.random() < 0.3:
        o = g.r.choice(omni)
        images, labels = f"{o}.images", f"{o}.labels"
        size = getattr(g.ns[o], "image_size", None)
        regime = ("cls", (1, size, size))
    kwargs = {"ways": g.int_(2, 3), "shots": g.int_(1, 2), "queries": g.int_(1, 2)}
    if g.r.random() < 0.3:
        kwargs["classes"] = g.r.choice(["None", "range(4)", "[0, 1, 2]", "[5, 3, 1, 0]", "np.arange(6)"]) \
            if not g.mutate(0.3) else g.r.choice(["[]", "[0, 0, 1]", "[7, 8]", "[-1, 0]", "'012'", "3", "[2**62]",
                                                  "[0.5, 1]", "np.array([[0, 1]])", "range(10**6)", "Evil()"])
    kwargs["seed"] = g.seed()
    return Stmt("ms.data.Taskset", [images, labels], kwargs), regime


def taskset_replace(g):
    t = g.pick(_is("data.Taskset"), bad=0)
    if t is None:
        return None
    kwargs = {}
    for key, make in (("ways", lambda: g.int_(2, 3)), ("shots", lambda: g.int_(1, 2)),
                      ("queries", lambda: g.int_(1, 2)), ("seed", g.seed),
                      ("classes", lambda: g.r.choice(["[0, 1, 2]", "range(3, 6)", "None", "[0]", "[]", "[99]"]))):
        if g.r.random() < 0.4:
            kwargs[key] = make()
    if g.mutate(0.05):
        kwargs[g.r.choice(["images", "labels", "bogus"])] = "3"
    return Stmt(f"{t}.replace", [], kwargs), g.regime.get(t)


def taskset_sample(g):
    t = g.pick(_is("data.TaskDistribution"), bad=0)
    if t is None:
        return None
    return Stmt(f"{t}.sample", []), g.regime.get(t)


def taskset_property(g):
    t = g.pick(_is("data.TaskDistribution"), bad=0)
    if t is None:
        return None
    if g.r.random() < 0.3:
        return Stmt(kind="len", obj=t)
    return Stmt(kind="get", obj=t, attr=g.r.choice(["images", "labels", "classes", "ways", "shots"]))


def new_task_distribution(g):
    return Stmt("ms.data.TaskDistribution", [])


def as_labels(g):
    n = g.r.randint(0, 6)
    return Stmt("ms.data.as_labels", [g.labels(3, n, bad=0.4)] + ([g.choice(["labels", "y"])]
                                                               if g.r.random() < 0.3 else []))


def as_classes(g):
    src = g.r.choice(["[0, 1, 2]", "range(5)", "np.arange(3)", "(4, 2)"]) if not g.mutate(0.4) else \
        g.labels(3, 1, bad=1.0)
    return Stmt("ms.data.as_classes", [src])


def split_classes(g):
    classes = g.r.choice(["10", "range(10)", "[3, 1, 4, 9, 2, 6]", "np.arange(8)"]) if not g.mutate() \
        else g.r.choice(BAD_INTS + ("[1, 1, 2]", "[]", "[-1, 2]", "[2**62, 1]", "range(2**40)"))
    kwargs = {"train": g.int_(1, 4), "validation": g.int_(0, 2), "seed": g.seed()}
    if g.r.random() < 0.3:
        kwargs["test"] = g.int_(0, 2) if not g.mutate() else g.r.choice(BAD_INTS)
    return Stmt("ms.data.split_classes", [classes], kwargs)


def new_omniglot(g):
    variant = "valid" if g.r.random() < 0.3 else g.r.choice(RELEASE_VARIANTS)
    root = f"release({variant!r}, {g.r.randrange(1000)})"
    if g.mutate(0.15):
        root = g.r.choice(["None", "3", "'/nonexistent/omniglot'", "'\\x00'", "'/tmp/a\\x00b'", "b'/tmp'",
                           "Evil()", "'~'", "'/dev/null'", "''", "'x' * 5000", "'\\udcff'"])
    kwargs = {"image_size": g.int_(4, 8) if g.r.random() < 0.9 else "28", "cache_dir": "False"}
    if g.r.random() < 0.5:
        kwargs["cache_dir"] = g.r.choice(["False", "None", "release('empty', 0) + '/cache'", "'/dev/null/cache'",
                                          "'\\x00'", "3", "Evil()"])
    for key, options in (("split", ("vinyals", "lake")), ("subset", ("train", "val", "trainval", "test")),
                         ("resample", ("area", "bilinear", "lanczos"))):
        if g.r.random() < 0.3:
            kwargs[key] = g.choice(options)
    if g.r.random() < 0.2:
        kwargs["rotations"] = g.flag()
    if g.r.random() < 0.1:
        kwargs["download"] = g.flag()
        if variant != "empty" and g.r.random() < 0.5:
            root = f"release('empty', {g.r.randrange(1000)}) + '/new'"
    return Stmt("ms.data.Omniglot", [root], kwargs)


OPTIMIZERS = {
    "SGD": lambda g: {"momentum": g.real(0.0, 0.95), "nesterov": g.flag()},
    "Adam": lambda g: {"betas": g.interval(0.5, 0.999), "eps": g.real(1e-9, 1e-6)},
    "AdamW": lambda g: {"betas": g.interval(0.5, 0.999), "eps": g.real(1e-9, 1e-6),
                        "weight_decay": g.real(0.0, 0.1)},
    "Adagrad": lambda g: {"initial_accumulator_value": g.real(0.0, 0.5), "eps": g.real(1e-10, 1e-6)},
    "RMSprop": lambda g: {"alpha": g.real(0.5, 0.999), "eps": g.real(1e-9, 1e-6), "momentum": g.real(0.0, 0.9)},
}


def new_optimizer(g):
    if g.r.random() < 0.1:
        # The learned optimizer (Andrychowicz et al. 2016): a small network, its hyper-parameters sometimes out of range.
        kwargs = {"hidden": g.int_(1, 6), "seed": g.int_(0, 9)}
        if g.r.random() < 0.3:
            kwargs["output_scale"] = g.real(0.01, 0.5)
        if g.r.random() < 0.3:
            kwargs["cell"] = g.choice(("lstm", "gru"))
        if g.mutate(0.05):
            kwargs["hidden"] = g.r.choice(["0", "-3", "1e9", "'x'"])
        return Stmt("ms.optim.Learned", [], kwargs)
    kind = g.r.choice(list(OPTIMIZERS))
    kwargs = {k: v for k, v in OPTIMIZERS[kind](g).items() if g.r.random() < 0.4}
    schedules = g.all(_is("optim.Schedule"))
    if schedules and g.r.random() < 0.3:
        kwargs["lr"] = g.r.choice(schedules)
    elif g.r.random() < 0.8:
        kwargs["lr"] = g.real(1e-4, 0.05)
    if g.mutate(0.03):
        kwargs["lr"] = g.r.choice(["3.4e38", "1e30", "ms.optim.Schedule()", "ms.optim.SGD()"])
    return Stmt(f"ms.optim.{kind}", [], kwargs)


def new_schedule(g):
    kind = g.r.choice(["CosineDecay", "ExponentialDecay", "PiecewiseConstant"])
    lr = g.real(1e-4, 0.05)
    if kind == "CosineDecay":
        return Stmt("ms.optim.CosineDecay", [lr], {"steps": g.int_(1, 20), "final": g.real(0.0, 1e-4),
                                                   "warmup": g.int_(0, 5)})
    if kind == "ExponentialDecay":
        return Stmt("ms.optim.ExponentialDecay", [lr], {"rate": g.real(0.1, 1.0), "every": g.int_(1, 5),
                                                        "staircase": g.flag()})
    n = g.r.randint(0, 3)
    bounds = sorted(g.r.randint(1, 20) for _ in range(n))
    boundaries = "[" + ", ".join(g.int_(b, b) for b in bounds) + "]"
    values = "[" + ", ".join(g.real(1e-5, 0.01) for _ in range(n + (1 if g.mutate() else 0))) + "]"
    if g.mutate():
        boundaries = g.r.choice(["None", "3", "'12'", "[2, 1]", "[0]", "[-1]", "[2**63]", "[Evil()]", "np.arange(3)"])
    if g.mutate():
        values = g.r.choice(["None", "3", "'12'", "[nan]", "[Evil()]", "[10**400]"])
    return Stmt("ms.optim.PiecewiseConstant", [lr], {"boundaries": boundaries, "values": values})


def learned_meta_train(g):
    """A few truncations of meta-training on small quadratics."""
    s = g.pick(lambda o: isinstance(o, g.ms.optim.Learned), bad=0)
    if s is None:
        return None
    kwargs = {"steps": g.int_(0, 3), "unroll": g.int_(2, 8), "truncation": g.int_(1, 4), "seed": g.int_(0, 9),
              "mode": g.r.choice(["'first_order'", "'exact'"])}
    if g.mutate(0.05):
        kwargs["truncation"] = g.r.choice(["0", "100", "'x'"])
    if g.r.random() < 0.3:  # the paper's selection on validation problems
        kwargs.update(validation_problems=g.int_(1, 3), validate_every=g.int_(1, 3), validation_seed=g.int_(0, 9))
        if g.mutate(0.1):
            kwargs[g.r.choice(["validation_problems", "validate_every", "validation_seed"])] = \
                g.r.choice(["0", "-1", "2**64", "'x'", "nan"])
    if g.r.random() < 0.2:
        kwargs["resume"] = "True"
    return Stmt(f"{s}.meta_train", [f"ms.learned.Quadratic(dim={g.int_(1, 5)})"], kwargs)


def new_learned_problems(g):
    """A family of problems for learned optimizers: quadratics, or an MLP on small arrays."""
    if g.r.random() < 0.5:
        return Stmt("ms.learned.Quadratic", [], {"dim": g.int_(1, 5, bad=0.05)})
    n = g.r.randint(4, 12)
    labels = f"np.arange({n}) % 2" if not g.mutate() else g.r.choice([f"np.arange({n + 1})", "None", "A((3,))", "'ab'"])
    kwargs = {"hidden": g.int_(1, 4), "batch_size": g.int_(1, 8)}
    if g.r.random() < 0.3:
        kwargs["activation"] = g.choice(("sigmoid", "relu", "tanh"))
    return Stmt("ms.learned.MLP", [f"A(({n}, 3))", labels], kwargs)


def learned_optimizer_state(g):
    """A learned optimizer's weights or its validations (None before meta-training)."""
    s = g.pick(lambda o: isinstance(o, g.ms.optim.Learned), bad=0)
    if s is None:
        return None
    return Stmt(kind="get", obj=s, attr=g.r.choice(["validations", "weights"]))


def learned_loss_curves(g):
    """Any optimizer's loss curves on a family's problems, the same problems for every optimizer."""
    family = g.pick(_is("learned._Family"), bad=0)
    opt = g.pick(_is("optim.Optimizer"), bad=0.05)
    if family is None or opt is None:
        return None
    return Stmt(f"{family}.loss_curves", [opt], {"problems": g.int_(1, 3), "steps": g.int_(0, 5), "seed": g.int_(0, 9)})


def distributed_helpers(g):
    """ms.distributed's helpers outside an MPI job, with plausible mistakes."""
    pick = g.r.random()
    if pick < 0.5:
        args = [g.int_(0, 20), g.int_(0, 3), g.int_(1, 4)]
        if g.mutate():
            args[g.r.randint(0, 2)] = g.r.choice(["-1", "None", "'2'", "2.5", "10**30", "Evil()"])
        return Stmt("ms.distributed.split", args)
    if pick < 0.7:
        return Stmt("ms.distributed.is_root", [g.r.choice(["None", "3", "'world'", "Evil()"])])
    if pick < 0.8:
        return Stmt("ms.distributed.check_comm", [g.r.choice(["None", "3", "'world'", "Evil()", "[]"])])
    if pick < 0.9:
        return Stmt("ms.distributed.communication", [])
    return Stmt("ms.distributed.reset_communication", [])


def schedule_rates(g):
    s = g.pick(lambda o: isinstance(o, (g.ms.optim.Schedule, g.ms.optim.Optimizer)), bad=0)
    if s is None:
        return None
    obj = g.ns.get(s)
    if isinstance(obj, g.ms.optim.Optimizer):
        return Stmt(f"{s}.learning_rates", [g.int_(0, 20)])
    if g.r.random() < 0.5:
        return Stmt(f"{s}.rates", [g.int_(0, 20)])
    return Stmt(s, [g.int_(0, 30)])


def new_abstract_optim(g):
    kind = g.r.choice(["Schedule", "Optimizer"])
    return Stmt(f"ms.optim.{kind}", [])


def mean_ci(g):
    n = g.r.randint(1, 8)
    values = g.array((n,)) if not g.mutate() else g.r.choice(
        ["[]", "[nan]", "[inf, 1.0]", "[3.5e38, 3.5e38]", "[1e39]", "[[1, 2], [3]]", "None", "'abc'",
         "big((2**40,))", "A((3, 2))", "[10**400]", "[1.0]"])
    kwargs = {"ddof": g.int_(0, 1)} if g.r.random() < 0.4 else {}
    return Stmt("ms.eval.mean_confidence_interval", [values], kwargs)


def metrics(g):
    n = g.r.randint(1, 6)
    c = g.r.randint(1, 4)
    pred, labels = g.labels(c, n), g.labels(c, n)
    if g.r.random() < 0.5:
        return Stmt("ms.eval.accuracy", [pred, labels])
    kwargs = {}
    if g.r.random() < 0.5:
        kwargs["classes"] = g.int_(c, c + 2) if not g.mutate(0.2) else g.r.choice(
            ["2**40", "2**63 - 1", "2**31", "2**62", "0", "-1", "None", "1", "10**400"])
    return Stmt("ms.eval.macro_f1", [pred, labels], kwargs)


def class_folds(g):
    classes = g.r.choice(["10", "range(7)", "[5, 2, 9, 4]", "np.arange(6)"]) if not g.mutate() \
        else g.r.choice(BAD_INTS + ("[1, 1]", "[]", "[-3, 2]", "range(2**40)", "[2**63 - 1, 0]"))
    return Stmt("ms.eval.class_folds", [classes], {"folds": g.int_(2, 4), "seed": g.seed()})


def new_history(g):
    n = g.r.randint(0, 6)
    losses = g.array((n,)) if not g.mutate(0.2) else g.r.choice(
        ["[]", "[nan]", "[inf]", "None", "3", "'abc'", "A((2, 2))", "[10**400]", "A((0,))", "[1e39]", "Evil()"])
    kwargs = {"interrupted": g.flag()} if g.r.random() < 0.3 else {}
    return Stmt("ms.History", [losses], kwargs)


def history_methods(g):
    h = g.pick(_is("History"), bad=0)
    if h is None:
        return None
    pick = g.r.random()
    if pick < 0.4:
        return Stmt(f"{h}.smoothed", [g.int_(1, 4)] if g.r.random() < 0.8 else [])
    if pick < 0.7:
        return Stmt(kind="get", obj=h, attr=g.r.choice(["final", "losses", "interrupted"]))
    return Stmt(kind=g.r.choice(["len", "repr"]), obj=h)


def new_evaluation(g):
    k = g.r.randint(0, 3)
    n = g.r.randint(0, 4)
    curve = g.array((k,)) if not g.mutate(0.2) else g.r.choice(["[]", "None", "3", "[nan]", "A((2, 2))"])
    losses = g.array((n,)) if not g.mutate(0.2) else g.r.choice(["[]", "None", "3", "[inf]", "A((2, 2))"])
    if g.r.random() < 0.5:
        return Stmt("ms.Evaluation", [curve, losses])
    args = [curve, losses, g.array((k,)), g.array((n,)), g.array((n,) if not g.mutate(0.2) else (n + 1,))]
    if g.r.random() < 0.5:
        return Stmt("ms.eval.ClassificationEvaluation", args)
    return Stmt("ms.Evaluation", args[:4])


def new_cross_validation(g):
    evs = g.all(_is("eval.ClassificationEvaluation"))
    if evs and not g.mutate(0.3):
        folds = "[" + ", ".join(f"ms.eval.Fold([0], [1], {g.r.choice(evs)}, None)"
                                for _ in range(g.r.randint(1, 3))) + "]"
    else:
        folds = g.r.choice(["[]", "None", "3", "[1, 2]", "[ms.eval.Fold([0], [1], None, None)]", "Evil()"])
    return Stmt("ms.eval.CrossValidation", [folds])


def cross_validate(g):
    regime = g.r.choice(["vec", "img"])
    shape = (FEATURES,) if regime == "vec" else (1, SIDE, SIDE)
    images, labels = g.array((CLASSES * PER_CLASS,) + shape), g.labels(CLASSES, PER_CLASS)
    model = "ms.nn.MLP([4, 8, 3], seed=0)" if regime == "vec" else "ms.nn.Conv4(hidden=4, blocks=2, image_size=8)"
    kind = g.r.random()
    if kind < 0.5:
        make = f"lambda: ms.ProtoNet({model})"
    elif kind < 0.8:
        head = "ms.nn.MLP([4, 8, 2], seed=0)" if regime == "vec" else \
            "ms.nn.Conv4(hidden=4, blocks=2, image_size=8, outputs=2)"
        make = f"lambda: ms.MAML({head}, loss='cross_entropy')"
    else:
        learners = g.all(_is("learners._Learner"))
        make = g.r.choice(["None", "3", "lambda: None", "lambda: 3", "lambda: ms.MAML(ms.nn.MLP([4, 2]))",
                           "lambda: ms.nn.MLP([4, 2])", "lambda x: x", "Evil()"]
                          + ([f"lambda: {g.r.choice(learners)}"] if learners else []))
    kwargs = {"folds": g.int_(2, 3), "ways": g.int_(2, 2), "shots": g.int_(1, 1), "queries": g.int_(1, 2),
              "train_steps": g.int_(0, 2), "episodes": g.int_(1, 3), "seed": g.seed()}
    if g.r.random() < 0.3:
        kwargs["meta_batch_size"] = g.int_(1, 2)
    if g.r.random() < 0.2:
        kwargs["optimizer"] = g.pick(_is("optim.Optimizer"), bad=0.3) or "None"
    if g.r.random() < 0.2:
        kwargs["inner_steps"] = g.int_(0, 2)
    if g.r.random() < 0.2:
        kwargs["classes"] = g.r.choice(["range(6)", "[0, 1, 2, 3]", "None", "[0, 1]", "[]"])
    kwargs["progress"] = "False" if g.r.random() < 0.9 else g.flag()
    return Stmt("ms.eval.cross_validate", [images, labels, make], kwargs)


LEARNERS = ("MAML", "MetaSGD", "ANIL", "ALFA", "MAMLPlusPlus", "LSTMMetaLearner", "Reptile", "ProtoNet")


def new_learner(g):
    kind = g.r.choice(LEARNERS)
    m = g.pick(_is("nn.Module"), bad=0.05)
    if m is None:
        return None
    model = g.ns.get(m)
    if kind == "ProtoNet":
        kwargs = {"distance": g.choice(("euclidean", "cosine"))} if g.r.random() < 0.5 else {}
        if g.r.random() < 0.3:
            kwargs["temperature"] = g.real(0.5, 20)
        return Stmt("ms.ProtoNet", [m], kwargs)
    loss = "mse" if g.input_shape(model) == (1,) and g.outputs(model) == 1 else "cross_entropy"
    kwargs = {"inner_lr": g.real(0.001, 0.5), "inner_steps": g.int_(1, 3), "loss": g.choice((loss,))}
    if kind == "LSTMMetaLearner":  # its network makes its own step sizes
        del kwargs["inner_lr"]
        kwargs["hidden"] = g.int_(1, 6)
        if g.r.random() < 0.5:
            kwargs["cell"] = g.choice(("lstm", "gru"))
    if kind != "Reptile":
        kwargs["first_order"] = g.flag()
    if kind == "ANIL":
        if isinstance(model, g.ms.nn.Layer) and g.r.random() < 0.7:
            if g.r.random() < 0.5:
                names = [n.rsplit(".", 1)[0] for n in model.parameter_names if "." in n] or ["head"]
                kwargs["head"] = repr(g.r.choice(names)) if not g.mutate() else g.r.choice(["'nope'", "3", "''"])
        else:
            kwargs["head_parameters"] = g.int_(1, 2)
    if kind == "Reptile":
        kwargs["epsilon"] = g.real(0.01, 0.5)
    if kind == "MAML" and g.r.random() < 0.4:
        kwargs["inner_optimizer"] = g.choice(("sgd", "adagrad", "rmsprop", "adam"))
    if kind == "ALFA" and g.r.random() < 0.5:
        kwargs["weight_decay"] = g.real(0, 0.01)
    if kind == "MAMLPlusPlus":
        for switch in ("learn_rates", "multi_step_loss", "per_step_norm", "adapt_norm"):
            if g.r.random() < 0.3:
                kwargs[switch] = g.flag()
        if g.r.random() < 0.3:
            kwargs["iterations_per_epoch"] = g.int_(1, 5)
            kwargs["msl_epochs"] = g.int_(0, 3)
            kwargs["first_order_epochs"] = g.int_(0, 2)
    return Stmt(f"ms.{kind}", [m], kwargs)


def _pick_learner(g):
    """A learner of the pool (never a mutated stand-in): its name and the object, or (None, None)."""
    lr = g.pick(_is("learners._Learner"), bad=0)
    return (lr, g.ns.get(lr)) if lr is not None else (None, None)


def learner_meta_loss(g):
    lr, learner = _pick_learner(g)
    if lr is None:
        return None
    n = g.r.randint(1, 3)
    tasks = "[" + ", ".join(g.task(learner) for _ in range(n)) + "]"
    if g.mutate():
        tasks = g.r.choice(["[]", "None", "3", "'abc'", "[None]", "[(1, 2, 3)]", "A((2, 2))", "Evil()", "[Evil()]",
                            f"{g.task(learner)}", f"[{g.task(learner)}] * 1000", "iter([])", "{}"])
    return Stmt(f"{lr}.meta_loss_and_grad", [tasks])


def learner_adapt(g):
    lr, learner = _pick_learner(g)
    if lr is None:
        return None
    task = g.task(learner)
    t = task if task.startswith("v") else f"({task})"
    args = [f"{t}[0]", f"{t}[1]"]
    kwargs = {"steps": g.int_(0, 3)} if g.r.random() < 0.5 else {}
    return Stmt(f"{lr}.adapt", args, kwargs)


def learner_fit(g):
    lr, learner = _pick_learner(g)
    if lr is None:
        return None
    kwargs = {"meta_batch_size": g.int_(1, 3), "steps": g.int_(0, 3), "seed": g.seed(),
              "progress": "False" if g.r.random() < 0.95 else g.flag()}
    if g.r.random() < 0.5:
        kwargs["optimizer"] = g.pick(_is("optim.Optimizer"), bad=0.1) or "None"
    if g.r.random() < 0.2:
        kwargs["resume"] = g.flag()
        if kwargs["resume"] == "True" and g.r.random() < 0.7:
            kwargs.pop("optimizer", None)
    if isinstance(learner, g.ms.Reptile) and g.r.random() < 0.2:
        kwargs["epsilon"] = g.real(0.01, 0.5)
    if g.r.random() < 0.15:
        kwargs["checkpoint"] = g.r.choice(["'run.safetensors'", "'run.safetensors'", "''", "3", "'/nonexistent/r'"])
        kwargs["checkpoint_every"] = g.int_(1, 3)
    if g.r.random() < 0.1 and "resume" not in kwargs:
        kwargs["resume_from"] = g.r.choice(["'run.safetensors'", "'run.safetensors'", "'missing.safetensors'",
                                            "'m0.safetensors'", "None", "Evil()"])
    if not g.fitting_tasksets(learner) and g.r.random() < 0.8:
        return g.make_taskset_for(learner)
    return Stmt(f"{lr}.fit", [g.taskset_for(learner)], kwargs)


def learner_evaluate(g):
    lr, learner = _pick_learner(g)
    if lr is None:
        return None
    kwargs = {"tasks": g.int_(1, 4), "seed": g.seed()}
    if g.r.random() < 0.5:
        kwargs["inner_steps"] = g.int_(0, 3) if not isinstance(learner, g.ms.ProtoNet) or g.mutate(0.3) else "0"
    if not g.fitting_tasksets(learner) and g.r.random() < 0.8:
        return g.make_taskset_for(learner)
    return Stmt(f"{lr}.evaluate", [g.taskset_for(learner)], kwargs)


def learner_predict(g):
    lr, learner = _pick_learner(g)
    if lr is None:
        return None
    task = g.task(learner)
    t = task if task.startswith("v") else f"({task})"
    kwargs = {}
    if g.r.random() < 0.3:
        kwargs["inner_steps"] = g.int_(0, 2) if not isinstance(learner, g.ms.ProtoNet) else g.int_(0, 0)
    return Stmt(f"{lr}.{g.r.choice(['predict', 'query_logits'])}", [f"{t}[0]", f"{t}[1]", f"{t}[2]"], kwargs)


def learner_parameters(g):
    lr = g.pick(_is("learners._Learner"), bad=0)
    if lr is None:
        return None
    if g.r.random() < 0.5:
        return Stmt(f"{lr}.parameters", [])
    return Stmt(kind="get", obj=lr, attr=g.r.choice(["parameter_names", "history", "model", "learning_rates",
                                                     "encoder"]))


TRANSFER = ("Baseline", "LogisticProbe", "FineTune")


def new_transfer(g):
    """A fine-tuning protocol, with few epochs (its defaults would make the fuzzer slow)."""
    kind = g.r.choice(TRANSFER)
    m = g.pick(_is("nn.Module"), bad=0.05)
    if m is None:
        return None
    if kind == "LogisticProbe":
        kwargs = {"C": g.real(0.1, 10), "max_iter": g.int_(1, 30)}
    else:
        kwargs = {"head": g.choice(("linear", "cosine")), "scale": g.real(0.5, 10), "epochs": g.int_(1, 3),
                  "batch_size": g.int_(1, 5), "seed": g.seed(), "momentum": g.real(0, 0.9),
                  "weight_decay": g.real(0, 0.01)}
        if kind == "Baseline":
            kwargs.update(lr=g.real(0.001, 0.1), dampening=g.real(0, 1))
        else:
            kwargs.update(backbone_lr=g.real(0, 0.01), head_lr=g.real(0.001, 0.1))
    for name in list(kwargs):
        if g.r.random() < 0.3:
            del kwargs[name]
    return Stmt(f"ms.{kind}", [m], kwargs)


def pretrain(g):
    """Supervised pre-training of a pool model: a Pretrainer, then fit, accuracy, logits or with_head."""
    m = g.pick(_is("nn.Module"), bad=0.05)
    if m is None:
        return None
    model = g.ns.get(m)
    shape = g.input_shape(model) if model is not None else None
    classes, per = g.r.randint(1, 4), g.r.randint(1, 3)
    images = g.array((classes * per,) + (shape or (FEATURES,)))
    kwargs = {"head": g.choice(("linear", "cosine")), "seed": g.seed()}
    if g.r.random() < 0.3:
        kwargs["scale"] = g.real(0.5, 10)
    pre = f"ms.transfer.Pretrainer({m}, {g.int_(classes, classes)}, " + ", ".join(f"{k}={v}" for k, v in kwargs.items()) + ")"
    action = g.r.choice(["fit", "fit", "accuracy", "logits", "with_head", "embedding_size"])
    if action == "with_head":
        return Stmt("ms.transfer.with_head", [m, g.int_(1, 4)], {"seed": g.seed()})
    if action == "embedding_size":
        return Stmt("ms.transfer.embedding_size", [m] + ([images] if g.r.random() < 0.5 else []))
    if action == "fit":
        fit_kwargs = {"epochs": g.int_(0, 2), "batch_size": g.int_(1, 5), "drop_last": g.flag(), "seed": g.seed(),
                      "progress": "False"}
        for name in list(fit_kwargs):
            if name != "progress" and g.r.random() < 0.3:
                del fit_kwargs[name]
        return Stmt(f"{pre}.fit", [images, g.labels(classes, per)], fit_kwargs)
    return Stmt(f"{pre}.{action}", [images] + ([g.labels(classes, per)] if action == "accuracy" else []))


def transfer_call(g):
    lr = g.pick(_is("finetune._TransferLearner"), bad=0)
    if lr is None:
        return None
    learner = g.ns[lr]
    action = g.r.choice(["predict", "query_logits", "evaluate", "fit_head", "adapt", "fit", "repr"])
    if action == "repr":
        return Stmt(kind="repr", obj=lr)
    if action == "evaluate":
        if not g.fitting_tasksets(learner) and g.r.random() < 0.8:
            return g.make_taskset_for(learner)
        return Stmt(f"{lr}.evaluate", [g.taskset_for(learner)], {"tasks": g.int_(1, 3), "seed": g.seed()})
    if action == "fit":
        return Stmt(f"{lr}.fit", [g.taskset_for(learner)])
    task = g.task(learner)
    t = task if task.startswith("v") else f"({task})"
    if action in ("fit_head", "adapt"):
        return Stmt(f"{lr}.{action}", [f"{t}[0]", f"{t}[1]"])
    return Stmt(f"{lr}.{action}", [f"{t}[0]", f"{t}[1]", f"{t}[2]"])


def protonet_embed(g):
    p = g.pick(_is("ProtoNet"), bad=0)
    if p is None:
        return None
    shape = (g.r.randint(1, 4),) + (g.input_shape(g.ns[p].model) or (FEATURES,))
    return Stmt(f"{p}.embed", [g.array(shape)])


def learner_set_rates(g):
    lr = g.pick(_is("MetaSGD"), bad=0.02)
    if lr is None:
        return None
    params = g.all(lambda o: isinstance(o, list) and o and all(isinstance(a, np.ndarray) for a in o))
    src = g.r.choice(params) if params and g.r.random() < 0.6 else g.r.choice(
        ["[]", "None", "[A((1, 1))]", "Evil()", "3", f"[np.full_like(r, 0.01) for r in {lr}.model.parameters()]"])
    return Stmt(kind="set", obj=lr, attr="learning_rates", value=src)


def alfa_rates(g):
    """ALFA's learned per-step rates and decays, and its weight decay."""
    lr = g.pick(lambda o: type(o).__name__ == "ALFA", bad=0)
    if lr is None:
        return None
    return Stmt(kind="get", obj=lr, attr=g.r.choice(["alpha", "beta", "weight_decay"]))


def lstm_meta_learner_gates(g):
    """The LSTM meta-learner's gate biases and its network's settings."""
    lr = g.pick(lambda o: type(o).__name__ == "LSTMMetaLearner", bad=0)
    if lr is None:
        return None
    return Stmt(kind="get", obj=lr, attr=g.r.choice(["forget_bias", "input_bias", "hidden", "cell"]))


def maml_plus_plus_settings(g):
    """MAML++'s switches and learned rates."""
    lr = g.pick(lambda o: type(o).__name__ == "MAMLPlusPlus", bad=0)
    if lr is None:
        return None
    return Stmt(kind="get", obj=lr, attr=g.r.choice(["options", "learning_rates"]))


def learner_replace_model(g):
    lr = g.pick(_is("learners._Learner"), bad=0)
    if lr is None:
        return None
    attr = g.r.choice(["model", "model", "inner_steps", "inner_lr", "loss", "first_order"])
    if attr == "model":
        value = g.pick(_is("nn.Module"), bad=0.2) or "None"
    elif attr == "inner_steps":  # plausible mistakes, not 10**5000 (an attribute is not checked when set)
        value = g.r.choice(["0", "1", "3", "-1", "2**31", "2**63 - 1", "2.5", "None", "'3'"])
    elif attr == "inner_lr":
        value = g.r.choice(["0.01", "0.0", "-0.1", "nan", "inf", "3.5e38", "None", "'0.1'"])
    elif attr == "loss":
        value = g.r.choice(["'mse'", "'cross_entropy'", "'hinge'", "None", "3"])
    else:
        value = g.r.choice(["True", "False", "None", "2"])
    return Stmt(kind="set", obj=lr, attr=attr, value=value)


def model_replace_attribute(g):
    m = g.pick(lambda o: isinstance(o, (g.ms.nn.Module, g.ms.data.TaskDistribution)), bad=0.0)
    if m is None:
        return None
    attr = g.r.choice(["sizes", "activation", "seed", "outputs", "image_size", "ways", "shots", "classes"])
    return Stmt(kind="set", obj=m, attr=attr, value=g.r.choice(("0", "-1", "2**31", "2**63 - 1", "2.5", "None", "'3'",
                                                                "[1, 2]", "'relu'", "[]", "(4, 4)")))


def free_handle(g):
    """Private, but what "freed objects" means at the ABI: a handle freed
    under a live Python object."""
    candidates = []
    for n in g.names:
        o = g.ns[n]
        for attr in ("_model", "_learner", "_taskset", "_optimizer", "_trainer", "_images"):
            if getattr(o, attr, None) is not None and hasattr(getattr(o, attr), "_free"):
                candidates.append(f"{n}.{attr}")
    if not candidates:
        return None
    return Stmt(f"{g.r.choice(candidates)}._free", [])


def concurrent_calls(g):
    """Two calls at once from two threads (the engine runs without the GIL),
    mostly on the same learner or model."""
    makers = [learner_fit, learner_evaluate, learner_predict, learner_meta_loss, learner_adapt, model_forward,
              model_set_parameters, model_parameters, taskset_sample, learner_parameters]
    stmts = []
    for _ in range(20):
        made = g.r.choice(makers)(g)
        stmt = made[0] if isinstance(made, tuple) else made
        if stmt is not None and stmt.kind == "call":
            stmts.append(stmt)
        if len(stmts) == 2:
            return Stmt("both", [f"lambda: {stmt.text()}" for stmt in stmts])
    return None


def as_float32(g):
    shape = g.r.choice([(3,), (2, 3), (1, 1, 2), ()])
    args = [g.array(shape, bad=0.4)]
    if g.r.random() < 0.3:
        args.append(g.choice(("x", "images", "parameter")))
    return Stmt("ms.as_float32", args)


def blas_info(g):
    return Stmt("ms.blas_info", [])


def version(g):
    return Stmt(kind="get", obj="ms", attr="__version__")


# (action, weight); an action returns a Stmt, (Stmt, regime of its result) or None.
ACTION_TABLE = [
    (new_mlp, 8), (new_conv4, 4), (new_layers, 6), (new_resnet12, 0.3), (layer_methods, 2), (new_module, 0.4),
    (model_forward, 8), (model_property, 2), (save_model, 1.5), (load_model, 1.5), (model_state_dict, 1.5), (model_from_description, 1),
    (model_parameters, 3), (model_set_parameters, 3), (model_repr, 3),
    (new_sinusoid, 4), (new_taskset, 4), (taskset_replace, 2), (taskset_sample, 5), (taskset_property, 2),
    (new_task_distribution, 0.3), (as_labels, 2), (as_classes, 1.5), (split_classes, 2), (new_omniglot, 0.35),
    (new_optimizer, 4), (new_schedule, 3), (schedule_rates, 3), (learned_meta_train, 1), (learned_optimizer_state, 0.5), (new_learned_problems, 0.5),
    (learned_loss_curves, 0.7), (distributed_helpers, 0.3), (new_abstract_optim, 0.4),
    (mean_ci, 2), (metrics, 4), (class_folds, 2), (new_history, 1.5), (history_methods, 2), (new_evaluation, 1.5),
    (new_cross_validation, 0.5), (cross_validate, 0.4),
    (new_learner, 8), (new_transfer, 2), (transfer_call, 3), (pretrain, 2), (learner_meta_loss, 5), (learner_adapt, 4), (learner_fit, 5), (learner_evaluate, 3),
    (learner_predict, 4), (learner_parameters, 2), (protonet_embed, 1), (learner_set_rates, 0.7), (alfa_rates, 0.3), (maml_plus_plus_settings, 0.3), (lstm_meta_learner_gates, 0.3), (learner_replace_model, 0.8),
    (model_replace_attribute, 0.4), (free_handle, 0.3), (concurrent_calls, 1.5),
    (as_float32, 2), (blas_info, 0.2), (version, 0.1),
]
ACTIONS = [a for a, _ in ACTION_TABLE]
WEIGHTS = [w for _, w in ACTION_TABLE]


# MARK: - Classifying exceptions

PACKAGE_DIR = None
_NAMED = re.compile(r"^[A-Za-z_][\w.]*(\[[^\]]{0,40}\])*(\.[A-Za-z_]\w*)*( \([^)]{0,60}\))?: ")
_NAMED_PARAMETER = re.compile(r"^(meta-)?parameter [\w.]+: ")
_BINDING = re.compile(r"(missing \d+ required|unexpected keyword argument|positional arguments? but|"
                      r"got multiple values for argument|takes no arguments|keyword-only argument)")


def names_an_argument(message):
    return bool(_NAMED.match(message) or _NAMED_PARAMETER.match(message))


def _frame(entry):
    path = Path(entry.filename)
    try:
        rel = path.resolve().relative_to(PACKAGE_DIR.parent)
    except (ValueError, OSError):
        rel = path.name
    return f"{rel}:{entry.lineno} ({entry.name})"


def classify(exc, ms):
    """(type name, acceptable, verdict, innermost metaswift frame, innermost frame, message)."""
    name = type(exc).__qualname__
    module = type(exc).__module__
    if module not in ("builtins", "metaswift"):
        name = f"{module}.{name}"
    elif module == "metaswift":
        name = f"metaswift.{name}"
    message = str(exc) if not isinstance(exc, RecursionError) else "maximum recursion depth exceeded"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if PACKAGE_DIR in Path(f.filename).resolve().parents]
    inner = _frame(ours[-1]) if ours else None
    last = _frame(frames[-1]) if frames else None
    if isinstance(exc, ms.Error):
        verdict = "metaswift.Error" if names_an_argument(message) else "metaswift.Error (no argument named)"
        return name, True, verdict, inner, last, message
    if isinstance(exc, EvilError):
        return name, True, "user's own exception", inner, last, message
    if not ours:  # Python's own call machinery, or an attribute the object does not have
        return name, True, "outside the package", inner, last, message
    if isinstance(exc, TypeError) and (names_an_argument(message) or _BINDING.search(message)):
        return name, True, "TypeError naming an argument", inner, last, message
    if isinstance(exc, Warning) and ours and "warnings.warn" in (ours[-1].line or "") and frames[-1] is ours[-1]:
        return name, True, "deliberate warning", inner, last, message
    return name, False, "finding", inner, last, message


# MARK: - The child: runs sequences

def _namespace(ms):
    ns = {"np": np, "ms": ms, "nan": nan, "inf": inf, "A": A, "L": L, "big": big, "both": both, "release": release,
          "Evil": Evil, "Fraction": Fraction, "Decimal": Decimal}
    return ns


def _api(stmt, ns):
    """Which API entry a statement exercises: ``ms.nn.MLP``, ``MAML.fit``, ``repr(History)``..."""
    def kind_of(source):
        head, _, rest = source.partition(".")
        if head in ns and head.startswith("v"):
            return type(ns[head]).__name__ + ("." + rest if rest else "")
        return source
    if stmt.kind == "call" and stmt.fn == "both":
        return "both (two calls at once)"
    if stmt.kind == "call":
        return kind_of(stmt.fn) if "." in stmt.fn or not stmt.fn.startswith("v") else kind_of(stmt.fn) + ".__call__"
    if stmt.kind in ("get", "set"):
        return f"{kind_of(stmt.obj)}.{stmt.attr}" + (" =" if stmt.kind == "set" else "")
    return f"{stmt.kind}({kind_of(stmt.obj)})"


def _architecture(model):
    """What makes parameter lists interchangeable: the class and its sizes."""
    try:
        return (type(model).__name__, repr(getattr(model, "sizes", None)), getattr(model, "in_channels", None),
                getattr(model, "hidden", None), getattr(model, "blocks", None), getattr(model, "outputs", None),
                getattr(model, "image_size", None))
    except Exception:  # noqa: BLE001  (a mangled model)
        return None


def _storable(value, ms):
    if value is None or isinstance(value, (str, int, float, bool)):
        return False
    return True


def run_sequence(seed, length, emit, ms):
    """Runs one sequence, calling ``emit(event)`` before and after every call."""
    rng = random.Random(seed)
    ns = _namespace(ms)
    g = Gen(rng, ns, ms)
    made = 0
    for i in range(length):
        try:
            stmt, regime = g.next()
            text = stmt.text()
        except Exception as exc:  # the generator tripped over a pool object the sequence mangled
            emit({"e": "skip", "i": i, "s": "(generator)", "x": f"{type(exc).__name__}: {str(exc)[:200]}"})
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call = stmt.prepare(ns)
        except BaseException as exc:  # the generator's own mistake, not a finding
            emit({"e": "skip", "i": i, "s": text, "x": f"{type(exc).__name__}: {str(exc)[:200]}"})
            continue
        emit({"e": "call", "i": i, "s": text, "a": _api(stmt, ns)})
        made += 1
        try:
            result = call()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            name, ok, verdict, inner, last, message = classify(exc, ms)
            emit({"e": "exc", "i": i, "t": name, "ok": ok, "v": verdict, "f": inner, "l": last,
                  "m": message[:400]})
            del exc
        else:
            stored = None
            if _storable(result, ms):
                if regime is None and stmt.kind == "call" and stmt.fn.startswith("v"):
                    regime = g.regime.get(stmt.fn.split(".")[0])  # tasks of a taskset, its images...
                stored = g.add(result, regime)
                if stmt.kind == "call" and stmt.fn.endswith(".parameters") and stmt.fn.startswith("v"):
                    owner = ns.get(stmt.fn.split(".")[0])
                    if isinstance(owner, ms.nn.Module):
                        g.origin[stored] = _architecture(owner)
            emit({"e": "ok", "i": i, "v": stored})
    ns.clear()
    gc.collect()
    return made


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))


def _import_metaswift():
    global PACKAGE_DIR
    # Relative paths the calls make up (an Omniglot root of '' with
    # download=True, a cache folder) land in the scratch folder, never in
    # the directory the run was started from.
    os.chdir(_scratch())
    import metaswift as ms
    import metaswift.omniglot
    PACKAGE_DIR = Path(ms.__file__).resolve().parent
    metaswift.omniglot._urlopen = _fake_urlopen
    try:
        import tqdm.auto  # noqa: F401  (imported before warnings become errors)
    except ImportError:
        pass
    return ms


def child_main(fd):
    """Reads ``seed length`` lines from stdin, runs each sequence, and writes
    JSON events to file descriptor ``fd``."""
    _limit_memory()
    os.environ.setdefault("METASWIFT_CACHE", str(_scratch() / "cache"))
    ms = _import_metaswift()
    out = os.fdopen(fd, "w", buffering=1)
    warnings.simplefilter("error")

    def emit(event):
        out.write(json.dumps(event) + "\n")

    emit({"e": "ready"})
    try:
        while line := sys.stdin.readline():
            seed, length = line.split()
            emit({"e": "seq", "seed": seed})
            made = run_sequence(seed, int(length), emit, ms)
            emit({"e": "end", "seed": seed, "calls": made})
            for p in _scratch().iterdir():
                if p.name != "cache":
                    shutil.rmtree(p, ignore_errors=True)
    finally:
        shutil.rmtree(_scratch(), ignore_errors=True)


# MARK: - The parent: campaigns

class Summary:
    """What a campaign found."""

    def __init__(self, seed):
        self.seed = seed
        self.calls = self.sequences = self.skips = 0
        self.crashes, self.hangs = [], []
        self.exceptions = Counter()       # (type, verdict) -> count
        self.examples = {}                # (type, verdict) -> example
        self.findings = Counter()         # (type, innermost metaswift frame) -> count
        self.apis = {}                    # API entry -> Counter(ok=, acceptable=, finding=)
        self.messages = {}                # API entry -> Counter of exception messages
        self.finding_examples = {}
        self.seconds = 0.0
        self.lock = threading.Lock()

    def count(self, api, outcome, message=None):
        self.apis.setdefault(api or "?", Counter())[outcome] += 1
        if message is not None:  # what refusals say, digits folded: for reading the coverage
            said = self.messages.setdefault(api or "?", Counter())
            if len(said) < 200:
                said[re.sub(r"\d+", "N", message)[:120]] += 1

    def record(self, event, text, seed):
        key = (event["t"], event["v"])
        self.exceptions[key] += 1
        example = {"call": text, "message": event["m"], "frame": event["f"], "innermost": event["l"],
                   "sequence": seed}
        self.examples.setdefault(key, example)
        if not event["ok"]:
            fkey = (event["t"], event["f"] or event["l"])
            self.findings[fkey] += 1
            self.finding_examples.setdefault(fkey, example)

    @property
    def failures(self):
        return len(self.crashes) + len(self.hangs) + sum(self.findings.values())

    def to_json(self):
        return {
            "seed": self.seed, "calls": self.calls, "sequences": self.sequences, "seconds": round(self.seconds, 1),
            "skipped_arguments": self.skips, "crashes": self.crashes, "hangs": self.hangs,
            "exceptions": [{"type": t, "verdict": v, "count": n, "example": self.examples[t, v]}
                           for (t, v), n in self.exceptions.most_common()],
            "findings": [{"type": t, "frame": f, "count": n, "example": self.finding_examples[t, f]}
                         for (t, f), n in self.findings.most_common()],
            "api": {api: dict(c) for api, c in sorted(self.apis.items())},
            "api_messages": {api: dict(c.most_common(10)) for api, c in sorted(self.messages.items())},
        }

    def coverage(self):
        """One line per API entry: calls, and how many returned, raised acceptably, raised a finding."""
        lines = [f"API entries exercised: {len(self.apis)} (calls: returned / acceptable exception / finding)"]
        for api, c in sorted(self.apis.items()):
            lines.append(f"  {api:48s} {sum(c.values()):6d}: {c['ok']:6d} / {c['acceptable']:6d} / {c['finding']:4d}")
        return "\n".join(lines)

    def text(self, verbose=True):
        lines = [f"metaswift API fuzz, seed {self.seed}: {self.calls} calls in {self.sequences} sequences, "
                 f"{self.seconds:.0f} s",
                 f"crashes: {len(self.crashes)}", f"hangs: {len(self.hangs)}"]
        for kind, items in (("CRASH", self.crashes), ("HANG", self.hangs)):
            for c in items:
                lines.append(f"  {kind} {c['what']} in sequence {c['sequence']} at call {c['index']}: {c['call']}")
                if c.get("stderr"):
                    tail = c["stderr"].strip().splitlines()[-3:]
                    lines += [f"      | {t[:200]}" for t in tail]
        lines.append("exceptions:")
        for (t, v), n in sorted(self.exceptions.items(), key=lambda kv: (kv[0][1] == "finding", -kv[1])):
            ex = self.examples[t, v]
            lines.append(f"  {n:7d}  {t} [{v}]  e.g. {ex['call'][:160]} -> {ex['message'][:160]!r}")
        if self.findings:
            lines.append("findings by innermost metaswift frame:")
            for (t, f), n in self.findings.most_common():
                ex = self.finding_examples[t, f]
                lines.append(f"  {n:7d}  {t} at {f}")
                if verbose:
                    lines.append(f"             {ex['call'][:200]} -> {ex['message'][:160]!r}  "
                                 f"(sequence {ex['sequence']})")
        return "\n".join(lines)


class _Child:
    """One child process running sequences, and the pipe it reports on."""

    def __init__(self, log_path, env):
        read_fd, write_fd = os.pipe()
        self.log_path = log_path
        log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(write_fd)],
            stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, pass_fds=(write_fd,),
            start_new_session=True, env=env, text=True)
        log.close()
        os.close(write_fd)
        self.fd, self.buffer, self.eof = read_fd, b"", False

    def event(self, timeout):
        """The next event, None on timeout, or {"e": "eof"} when the child is gone."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            if self.eof:
                return {"e": "eof"}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                self.eof = True
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def send(self, seed, length):
        try:
            self.proc.stdin.write(f"{seed} {length}\n")
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def stderr_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, f.seek(0, 2) - 4000))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        self.close()

    def close(self):
        for closer in (lambda: self.proc.stdin.close(), lambda: os.close(self.fd)):
            try:
                closer()
            except OSError:
                pass

    def stop(self):
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        try:
            os.close(self.fd)
        except OSError:
            pass


def _died(returncode):
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def run_campaign(calls=None, seconds=None, seed=1, jobs=1, call_timeout=CALL_TIMEOUT,
                 sequence_timeout=SEQUENCE_TIMEOUT, progress=None, min_calls=MIN_CALLS, max_calls=MAX_CALLS):
    """Runs sequences until ``calls`` calls are planned or ``seconds`` have
    passed, in ``jobs`` child processes; returns a :class:`Summary`."""
    summary = Summary(seed)
    work = Path(tempfile.mkdtemp(prefix="msfuzz-campaign-"))
    env = dict(os.environ, METASWIFT_FUZZ_DATA=str(work), METASWIFT_CACHE=str(work / "cache"),
               PYTHONPATH=os.pathsep.join([str(HERE)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    build_release(work / "release")
    start = time.monotonic()
    planner = random.Random(f"lengths:{seed}")
    state = {"next": 0, "planned": 0}
    lock = threading.Lock()

    def next_sequence():
        with lock:
            if calls is not None and state["planned"] >= calls:
                return None
            if seconds is not None and time.monotonic() - start >= seconds:
                return None
            length = planner.randint(min_calls, max_calls)
            if calls is not None:
                length = min(length, calls - state["planned"])
            index = state["next"]
            state["next"] += 1
            state["planned"] += length
            return f"{seed}:{index}", length

    def give_back(unmade):
        """Calls a sequence cut short by a crash or a hang did not make are planned again."""
        with lock:
            state["planned"] -= max(0, unmade)

    def worker(job):
        child = None
        while True:
            job_seq = next_sequence()
            if job_seq is None:
                break
            seq_seed, length = job_seq
            if child is None:
                child = _Child(work / f"child-{job}.log", env)
                ready = child.event(120)
                if ready is None or ready.get("e") != "ready":
                    tail = child.stderr_tail()
                    child.kill()
                    raise RuntimeError(f"the fuzz child did not start: {tail}")
            if not child.send(seq_seed, length):
                child.kill()
                child = None
                continue
            calls_of_sequence, current, seq_start, call_start = [], None, time.monotonic(), time.monotonic()
            done = 0
            while True:
                now = time.monotonic()
                limit = min(call_start + call_timeout if current else seq_start + sequence_timeout,
                            seq_start + sequence_timeout)
                event = child.event(max(0.0, limit - now))
                if event is None:  # a hang
                    what = (f"call over {call_timeout:.0f} s" if current and time.monotonic() - call_start
                            >= call_timeout else f"sequence over {sequence_timeout:.0f} s")
                    with summary.lock:
                        summary.hangs.append(_incident(what, seq_seed, current, calls_of_sequence, child))
                        summary.calls += 1 if current else 0
                        summary.count(current.get("a") if current else None, "hang")
                    child.kill()
                    child = None
                    give_back(length - done - 1)
                    break
                kind = event["e"]
                if kind == "eof":
                    returncode = child.proc.wait()
                    with summary.lock:
                        summary.crashes.append(_incident(_died(returncode), seq_seed, current, calls_of_sequence,
                                                         child))
                        summary.calls += 1 if current else 0
                        summary.count(current.get("a") if current else None, "crash")
                    child.close()
                    child = None
                    give_back(length - done - 1)
                    break
                if kind == "call":
                    current = event
                    call_start = time.monotonic()
                elif kind in ("ok", "exc"):
                    text = current["s"] if current else "?"
                    calls_of_sequence.append(_script_line(text, event.get("v") if kind == "ok" else None,
                                                          kind == "exc"))
                    with summary.lock:
                        summary.calls += 1
                        if kind == "exc":
                            summary.record(event, text, seq_seed)
                        summary.count(current.get("a") if current else None,
                                      "ok" if kind == "ok" else "acceptable" if event["ok"] else "finding",
                                      event.get("m"))
                    current = None
                    done += 1
                elif kind == "skip":
                    with summary.lock:
                        summary.skips += 1
                    done += 1
                    give_back(1)
                elif kind == "end":
                    with summary.lock:
                        summary.sequences += 1
                    if progress:
                        progress(summary)
                    break
        if child is not None:
            child.stop()

    errors = []

    def guarded(thread_target, j):
        try:
            thread_target(j)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(worker, j), daemon=True) for j in range(jobs)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    finally:
        summary.seconds = time.monotonic() - start
        shutil.rmtree(work, ignore_errors=True)
    if errors:
        raise errors[0]
    return summary


def _incident(what, seed, current, calls_of_sequence, child):
    call = current["s"] if current else "(between calls)"
    return {"what": what, "sequence": seed, "index": current["i"] if current else None, "call": call,
            "stderr": child.stderr_tail()[-2000:],
            "script": sequence_script_from(calls_of_sequence + ([call] if current else []))}


def _script_line(text, stored, raised):
    if stored:
        return f"{stored} = {text}"
    if raised:
        return f"try:\n    {text}\nexcept Exception as e:\n    print(type(e).__name__, e)"
    return text


PREAMBLE = ("import sys; sys.path.insert(0, {here!r})\n"
            "import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))\n"
            "import numpy as np, metaswift as ms\n"
            "from fuzz_api import *\n")


def sequence_script_from(lines):
    return PREAMBLE.format(here=str(HERE), limit=AS_LIMIT) + "\n".join(lines) + "\n"


def sequence_script(seed, length=MAX_CALLS):
    """The statements of sequence ``seed`` as a standalone script (runs it in this process)."""
    lines = []
    ms = _import_metaswift()

    def emit(event):
        if event["e"] == "call":
            lines.append(event["s"])
        elif event["e"] in ("ok", "exc"):
            lines[-1] = _script_line(lines[-1], event.get("v") if event["e"] == "ok" else None,
                                     event["e"] == "exc")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_sequence(seed, length, emit, ms)
    return sequence_script_from(lines)


def replay(seed, length=MAX_CALLS):
    """Runs sequence ``seed`` here, printing every call before making it."""
    _limit_memory()
    ms = _import_metaswift()

    def emit(event):
        if event["e"] == "call":
            print(f"[{event['i']}] {event['s']}", flush=True)
        elif event["e"] == "exc":
            mark = "ok" if event["ok"] else "FINDING"
            print(f"      -> {event['t']} [{mark}: {event['v']}] at {event['f']}: {event['m'][:300]}", flush=True)
        elif event["e"] == "skip":
            print(f"[{event['i']}] (skipped: {event['x']}) {event['s']}", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_sequence(seed, length, emit, ms)


# MARK: - Minimizing a failing sequence

def _statements(seed, length, timeout):
    """The statements of sequence ``seed`` (run in a child) up to its last
    call, each with the variable it stored: [(text, stored or None)]."""
    work = Path(tempfile.mkdtemp(prefix="msfuzz-min-"))
    env = dict(os.environ, METASWIFT_FUZZ_DATA=str(work), METASWIFT_CACHE=str(work / "cache"))
    build_release(work / "release")
    child = _Child(work / "child.log", env)
    out = []
    try:
        if (child.event(120) or {}).get("e") != "ready":
            raise RuntimeError(f"the fuzz child did not start: {child.stderr_tail()}")
        child.send(seed, length)
        while True:
            event = child.event(timeout)
            if event is None or event["e"] in ("eof", "end"):
                break
            if event["e"] == "call":
                out.append([event["s"], None])
            elif event["e"] == "ok" and event.get("v"):
                out[-1][1] = event["v"]
    finally:
        child.kill()
    return [tuple(x) for x in out], work


def _outcome(lines, timeout):
    """What the last of ``lines`` does in a fresh interpreter when the others
    run first (each allowed to raise): ("signal", name), ("hang",),
    ("raises", type) or ("returns",)."""
    body = []
    for text, stored in lines[:-1]:
        stmt = f"{stored} = {text}" if stored else text
        body.append(f"try:\n    {stmt}\nexcept Exception:\n    pass")
    text, _ = lines[-1]
    body.append("import json\ntry:\n    " + text + "\n    print('FUZZ-RESULT', json.dumps(['returns']))\n"
                "except BaseException as e:\n    print('FUZZ-RESULT', json.dumps(['raises', type(e).__name__]))")
    script = sequence_script_from(body)
    try:
        done = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, timeout=timeout, env=dict(os.environ, PYTHONWARNINGS="error"))
    except subprocess.TimeoutExpired:
        return ("hang",)
    if done.returncode < 0:
        return ("signal", _died(done.returncode))
    found = [line for line in done.stdout.splitlines() if line.startswith("FUZZ-RESULT ")]
    return tuple(json.loads(found[-1][len("FUZZ-RESULT "):])) if found else ("exit", done.returncode)


def minimize(seed, index=None, timeout=20.0, log=print):
    """A shortest-found script reproducing what call ``index`` of sequence
    ``seed`` does (its crash, hang or exception), by dropping earlier calls."""
    length = MAX_CALLS if index is None else index + 1
    lines, work = _statements(seed, length, timeout)
    try:
        if not lines:
            raise RuntimeError(f"sequence {seed} made no calls")
        target = _outcome(lines, timeout)
        log(f"sequence {seed}: {len(lines)} calls; the last one: {target}")
        if target == ("returns",):
            return sequence_script_from([f"{v} = {t}" if v else t for t, v in lines])
        keep, chunk = list(lines[:-1]), max(1, (len(lines) - 1) // 2)
        while chunk >= 1:
            i, removed = 0, False
            while i < len(keep):
                trial = keep[:i] + keep[i + chunk:]
                if _outcome(trial + [lines[-1]], timeout) == target:
                    keep, removed = trial, True
                    log(f"  {len(keep) + 1} calls")
                else:
                    i += chunk
            if not removed or chunk > 1:
                chunk //= 2
        return sequence_script_from([f"{v} = {t}" if v else t for t, v in keep + [lines[-1]]])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=None, help="calls to make (default 10000 without --seconds)")
    parser.add_argument("--seconds", type=float, default=None, help="stop starting sequences after this time")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--report", type=Path, help="write the summary as JSON here")
    parser.add_argument("--call-timeout", type=float, default=CALL_TIMEOUT)
    parser.add_argument("--sequence-timeout", type=float, default=SEQUENCE_TIMEOUT)
    parser.add_argument("--replay", metavar="SEED", help="run sequence SEED (e.g. 1:37) here, printing each call")
    parser.add_argument("--script", metavar="SEED", help="print sequence SEED as a standalone script")
    parser.add_argument("--length", type=int, default=MAX_CALLS, help="calls of --replay / --script")
    parser.add_argument("--minimize", metavar="SEED[@CALL]",
                        help="the fewest calls of sequence SEED that reproduce what its call CALL (default: the "
                             "last, e.g. the one that crashed) does, as a script")
    parser.add_argument("--child", type=int, metavar="FD", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        child_main(args.child)
        return 0
    if args.replay:
        replay(args.replay, args.length)
        return 0
    if args.script:
        print(sequence_script(args.script, args.length), end="")
        return 0
    if args.minimize:
        seed, _, index = args.minimize.partition("@")
        print(minimize(seed, int(index) if index else None, timeout=min(args.call_timeout, 30),
                       log=lambda m: print(m, file=sys.stderr)), end="")
        return 0
    calls = args.calls if args.calls is not None or args.seconds is not None else 10000
    last = [time.monotonic()]

    def progress(summary):
        if time.monotonic() - last[0] > 10:
            last[0] = time.monotonic()
            print(f"  ... {summary.calls} calls, {summary.sequences} sequences, {len(summary.crashes)} crashes, "
                  f"{len(summary.hangs)} hangs, {sum(summary.findings.values())} findings", file=sys.stderr,
                  flush=True)

    summary = run_campaign(calls=calls, seconds=args.seconds, seed=args.seed, jobs=args.jobs,
                           call_timeout=args.call_timeout, sequence_timeout=args.sequence_timeout,
                           progress=progress)
    print(summary.text())
    print(summary.coverage())
    if args.report:
        args.report.write_text(json.dumps(summary.to_json(), indent=1))
    return 1 if summary.crashes or summary.hangs else 0


if __name__ == "__main__":
    sys.exit(main())
