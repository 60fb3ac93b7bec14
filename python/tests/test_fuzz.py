"""No input may kill the interpreter (issue #9): a budget of random call
sequences over the whole public API (fuzz_api.py), and the cases the issue
names, with their neighbours, as regression tests.

Every case runs in a child process under a 6 GiB address-space limit, so a
crash or a hang fails the test instead of killing the test run. A refused
input must raise ``metaswift.Error`` (or a ``TypeError``) whose message
starts with the argument's name.

Environment:
    METASWIFT_FUZZ_SECONDS  the fuzz budget in seconds (default 60)
    METASWIFT_FUZZ_LONG=1   a long run instead: 100,000 calls on 2 jobs
    METASWIFT_FUZZ_CALLS, METASWIFT_FUZZ_SEED, METASWIFT_FUZZ_JOBS  override those
"""
import json
import os
import signal
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import fuzz_api

HERE = Path(__file__).resolve().parent
LIMIT = fuzz_api.AS_LIMIT
CHILD_TIMEOUT = 120

# MARK: - The fuzz campaign


def test_fuzz_the_public_api():
    long = os.environ.get("METASWIFT_FUZZ_LONG") == "1"
    calls = os.environ.get("METASWIFT_FUZZ_CALLS") or (100_000 if long else None)
    seconds = None if calls else float(os.environ.get("METASWIFT_FUZZ_SECONDS", 60))
    seed = int(os.environ.get("METASWIFT_FUZZ_SEED", 1))
    jobs = int(os.environ.get("METASWIFT_FUZZ_JOBS", 2 if long else 1))
    here_before = set(os.listdir("."))
    summary = fuzz_api.run_campaign(calls=int(calls) if calls else None, seconds=seconds, seed=seed, jobs=jobs,
                                    call_timeout=30, sequence_timeout=600)
    # Files the calls write (a download into root '', caches) stay in the campaign's scratch folders.
    assert set(os.listdir(".")) == here_before, f"the fuzz calls left {set(os.listdir('.')) - here_before} here"
    report = summary.text()
    print("\n" + report)
    assert summary.calls > 0, report
    problems = []
    for kind, items in (("crash", summary.crashes), ("hang", summary.hangs)):
        for c in items:
            problems.append(f"{kind} ({c['what']}) in sequence {c['sequence']}, call {c['index']}:\n"
                            f"    {c['call']}\n  replay: python {HERE / 'fuzz_api.py'} --replay {c['sequence']}\n"
                            f"  stderr: {c['stderr'][-600:]}")
    for (kind, frame), n in summary.findings.most_common():
        ex = summary.finding_examples[kind, frame]
        problems.append(f"{kind} x{n} from {frame}:\n    {ex['call']}\n    -> {ex['message'][:300]}\n"
                        f"  replay: python {HERE / 'fuzz_api.py'} --replay {ex['sequence']}")
    assert not problems, (f"{len(summary.crashes)} crashes, {len(summary.hangs)} hangs and "
                          f"{sum(summary.findings.values())} exceptions that are not metaswift.Error "
                          f"in {summary.calls} calls:\n\n" + "\n\n".join(problems))


def test_the_fuzzer_knows_every_public_name():
    """Every name in the package's ``__all__`` lists, and every public method
    and property of their classes, appears in fuzz_api.py: new API must join
    the fuzzer."""
    import inspect
    import re

    import metaswift as ms

    source = (HERE / "fuzz_api.py").read_text()
    exempt = {"History.plot"}  # draws with matplotlib
    missing = []
    for module in (ms, ms.nn, ms.data, ms.optim, ms.eval, ms.transfer, ms.finetune, ms.learned, ms.distributed):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or name.startswith("__") or hasattr(obj, "_fields"):  # namedtuples: no logic
                continue
            if not re.search(rf"\b{name}\b", source):
                missing.append(f"{module.__name__}.{name}")
            if inspect.isclass(obj):
                for attr in vars(obj):
                    if not attr.startswith("_") and f"{name}.{attr}" not in exempt \
                            and not re.search(rf"\b{attr}\b", source):
                        missing.append(f"{module.__name__}.{name}.{attr}")
    assert not missing, f"fuzz_api.py never calls: {', '.join(missing)}"


# MARK: - Regression tests, each in a child process

CHILD = r"""
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
sys.path.insert(0, {here!r})
import numpy as np, metaswift as ms
from fuzz_api import A, L
out = {{"raised": False}}
try:
{setup}
    value = {expr}
    out["value"] = value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)
except BaseException as exc:
    out = {{"raised": True, "type": type(exc).__name__, "error": isinstance(exc, ms.Error),
           "message": str(exc)}}
{after}
print("RESULT " + json.dumps(out))
"""


def run(expr, setup="", after="", timeout=CHILD_TIMEOUT):
    """Evaluates ``expr`` (after ``setup``) in a fresh interpreter under the
    address-space limit; returns what it gave or raised. Fails on a crash or a hang."""
    indent = lambda code: "\n".join("    " + line for line in code.strip().splitlines()) if code.strip() else ""
    code = CHILD.format(limit=LIMIT, here=str(HERE), setup=indent(setup), expr=expr, after=after)
    try:
        done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung (over {timeout} s): {expr}")
    if done.returncode != 0:
        how = (f"killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0
               else f"exited with status {done.returncode}")
        pytest.fail(f"the interpreter {how}: {expr}\n{done.stderr[-1500:]}")
    line = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
    assert line, f"no result from the child: {done.stdout[-500:]} {done.stderr[-1500:]}"
    return json.loads(line[-1][len("RESULT "):])


def refused(out, argument, error=True):
    """``out`` is metaswift.Error (or, with ``error=False``, a TypeError)
    whose message starts with the regular expression ``argument``."""
    import re
    assert out["raised"], f"expected an exception naming {argument}, got {out.get('value')!r}"
    if error:
        assert out["error"], f"expected metaswift.Error, got {out['type']}: {out['message']}"
    else:
        assert out["type"] == "TypeError" or out["error"], \
            f"expected TypeError or metaswift.Error, got {out['type']}: {out['message']}"
    assert re.match(rf"^({argument})(\[[^\]]*\])*( \([^)]*\))?: ", out["message"]), \
        f"the message does not start with {argument}: {out['message']!r}"


def value_or_refused(out, value, argument):
    """The metrics may give the right value, or refuse the argument up front."""
    if out["raised"]:
        refused(out, argument)
    else:
        assert out["value"] == value


# The metrics size their work by the labels present, not by the largest label.
@pytest.mark.parametrize("expr, value, argument", [
    ("ms.eval.accuracy([0], [2**62])", 0.0, "labels"),
    ("ms.eval.accuracy([2**62], [0])", 0.0, "predicted"),
    ("ms.eval.accuracy([0], [2**63 - 1])", 0.0, "labels"),
    ("ms.eval.accuracy(np.array([2**63 - 1, 0]), np.array([2**63 - 1, 1]))", 0.5, "predicted|labels"),
    ("ms.eval.macro_f1([0], [0], classes=2**40)", 1.0, "classes"),
    ("ms.eval.macro_f1([0], [0], classes=2**63 - 1)", 1.0, "classes"),
    ("ms.eval.macro_f1([0], [0], classes=2**31)", 1.0, "classes"),
    ("ms.eval.macro_f1([2**62, 1], [2**62, 1])", 1.0, "predicted|labels"),
    ("ms.eval.macro_f1([5], [2**62])", 0.0, "predicted|labels"),
])
def test_metrics_do_not_allocate_by_the_largest_label(expr, value, argument):
    value_or_refused(run(expr), value, argument)


@pytest.mark.parametrize("expr, argument", [
    ("ms.eval.macro_f1([0], [0], classes=2**63)", "classes"),
    ("ms.eval.macro_f1([0], [0], classes=0)", "classes"),
    ("ms.eval.macro_f1([0], [3], classes=2)", "labels"),
    ("ms.eval.accuracy([-1], [0])", "predicted"),
    ("ms.eval.accuracy([0], [np.uint64(2**64 - 1)])", "labels"),
    ("ms.eval.mean_confidence_interval([1e39])", "values"),
])
def test_metrics_refuse_labels_and_classes_out_of_range(expr, argument):
    refused(run(expr), argument)


# Sizes a 6 GiB address space cannot hold are refused, not a trap in the allocator.
@pytest.mark.parametrize("expr, argument", [
    ("ms.data.Sinusoid(shots=1, queries=2**31 - 1).sample()", "queries"),
    ("ms.data.Sinusoid(shots=2**31 - 1, queries=1).sample()", "shots"),
    ("ms.data.Sinusoid(shots=1, queries=2**62).sample()", "queries"),
    ("ms.nn.MLP([1, 2**31 - 1])", r"sizes(\[1\])?"),
    ("ms.nn.MLP([2**31 - 1, 1])", r"sizes(\[0\])?"),
    ("ms.nn.MLP([1, 2**20, 2**20, 1])", r"sizes(\[\d\])?"),
    ("ms.nn.Conv4(hidden=2**20, image_size=28)", "hidden"),
    ("ms.nn.MLP([1, 4, 1])(ms.data.Sinusoid(1, 1).sample()[0].repeat(2**28, axis=0))", "x"),
    ("ms.optim.SGD().learning_rates(2**40)", "n"),
    ("ms.optim.CosineDecay(0.1, steps=10).rates(2**40)", "n"),
    ("ms.MAML(ms.nn.MLP([1, 4, 1])).fit(ms.data.Sinusoid(1, 1), steps=2**40, progress=False)", "steps"),
    ("ms.MAML(ms.nn.MLP([1, 4, 1])).evaluate(ms.data.Sinusoid(1, 1), tasks=2**40)", "tasks"),
])
def test_sizes_beyond_memory_are_refused(expr, argument):
    refused(run(expr), argument)


@pytest.mark.parametrize("expr, argument", [
    # Found by fuzz_api.py: huge step counts ran until the time limit or crashed (SIGSEGV).
    ("ms.MetaSGD(ms.nn.MLP([4, 8, 2]), inner_steps=2**53 + 1, loss='cross_entropy')"
     ".fit(ms.data.Taskset(A((36, 4)), L(6, 6), ways=2, shots=1, queries=2), meta_batch_size=3, steps=2,"
     " progress=False)", "inner_steps"),
    ("ms.MAML(ms.nn.MLP([4, 8, 2]), inner_steps=2**62, loss='cross_entropy')"
     ".predict(A((2, 4)), L(2, 1), A((2, 4)))", "inner_steps"),
    ("ms.MAML(ms.nn.MLP([1, 8, 1])).evaluate(ms.data.Sinusoid(1, 1), tasks=1, inner_steps=2**62)", "inner_steps"),
    ("ms.MAML(ms.nn.MLP([1, 8, 1])).adapt(A((1, 1)), A((1, 1)), steps=2**62)", "steps"),
])
def test_step_counts_have_a_ceiling(expr, argument):
    refused(run(expr, timeout=60), argument)


# MARK: - Corrupt files

def fake_header_release(root):
    """The synthetic release whose background zip has its first member's
    offset pointing at a local header signature 4 bytes before the end (the
    zip's comment), where no header fits."""
    fuzz_api.build_release(root)
    path = root / "images_background.zip"
    raw = bytearray(path.read_bytes())
    eocd = raw.rfind(b"PK\x05\x06")
    central = struct.unpack_from("<L", raw, eocd + 16)[0]
    raw[eocd + 20:eocd + 22] = struct.pack("<H", 4)   # comment length
    raw += b"PK\x03\x04"
    struct.pack_into("<L", raw, central + 42, len(raw) - 4)  # the first central entry's local header offset
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:  # still a zip as far as the directory goes
        assert z.infolist()[0].header_offset == len(raw) - 4
    return root


def corrupted_release(root, change):
    fuzz_api.build_release(root)
    path = root / "images_background.zip"
    raw = bytearray(path.read_bytes())
    eocd = raw.rfind(b"PK\x05\x06")
    central = struct.unpack_from("<L", raw, eocd + 16)[0]
    change(raw, central, eocd)
    path.write_bytes(bytes(raw))
    return root


def _offset(value):
    return lambda raw, central, eocd: struct.pack_into("<L", raw, central + 42, value(raw))


def _sizes(compressed, size):
    return lambda raw, central, eocd: struct.pack_into("<LL", raw, central + 20, compressed, size)


@pytest.mark.parametrize("change", [
    _offset(lambda raw: len(raw) - 10), _offset(lambda raw: 2**32 - 1), _offset(lambda raw: len(raw)),
    _sizes(2**32 - 1, 94), _sizes(0, 94), _sizes(94, 2**32 - 1),
    lambda raw, central, eocd: raw.__delitem__(slice(central // 2, central // 2 + 1000)),
], ids=["offset-near-end", "offset-4GiB", "offset-at-end", "compressed-size-4GiB", "compressed-size-0",
        "size-4GiB", "bytes-removed"])
def test_a_corrupt_zip_is_an_error_naming_the_root(tmp_path, change):
    root = corrupted_release(tmp_path / "release", change)
    refused(run(f"ms.data.Omniglot({str(root)!r}, cache_dir=False, image_size=4)"), "root")


def test_a_member_offset_at_a_fake_header_near_the_end(tmp_path):
    root = fake_header_release(tmp_path / "release")
    out = run(f"ms.data.Omniglot({str(root)!r}, cache_dir=False, image_size=4)")
    refused(out, "root")
    assert fuzz_api.FIRST_MEMBER in out["message"] and "images_background.zip" in out["message"]


# MARK: - Results, abstract classes, numbers too large for a float, strings

@pytest.mark.parametrize("expr, argument", [
    ("repr(ms.Evaluation([], [0.5]))", "curve"),
    ("repr(ms.Evaluation([0.5], []))", "per_task_loss"),
    ("repr(ms.Evaluation([[0.5]], [0.5]))", "curve"),
    ("repr(ms.Evaluation([0.5], 'abc'))", "per_task_loss"),
    ("repr(ms.Evaluation([0.5], [0.5], [0.9, 0.8], [1.0]))", "accuracy_curve"),
    ("repr(ms.Evaluation([0.5], [0.5], [0.9], None))", "per_task_accuracy"),
    ("repr(ms.eval.ClassificationEvaluation([], [0.5], [], [1.0], [1.0]))", "curve"),
    ("repr(ms.eval.ClassificationEvaluation([0.5], [0.5], [0.9], [1.0], []))", "per_task_macro_f1"),
    ("repr(ms.History(None))", "losses"),
    ("repr(ms.History([[1.0, 2.0]]))", "losses"),
    ("ms.History([1.0, 2.0]).smoothed('abc')", "smooth"),
    ("ms.History([1.0, 2.0]).smoothed(0)", "smooth"),
])
def test_empty_or_malformed_results_are_named(expr, argument):
    refused(run(expr), argument)


def test_results_of_infinite_losses_print_without_warnings():
    out = run("repr(ms.Evaluation([np.inf], [np.inf, 1.0]))", setup="import warnings; warnings.simplefilter('error')")
    assert not out["raised"], out
    assert "loss=inf ± nan" in out["value"]
    assert run("repr(ms.History([]))")["value"] == "History(steps=0)"


@pytest.mark.parametrize("expr, argument", [
    ("ms.nn.Module()(np.zeros((1, 1), np.float32))", "Module"),
    ("ms.nn.Module().parameters()", "Module"),
    ("ms.data.TaskDistribution().sample()", "TaskDistribution"),
    ("ms.MAML(ms.nn.MLP([1, 2, 1])).fit(ms.data.TaskDistribution(), steps=1, progress=False)", "TaskDistribution"),
    ("ms.optim.Optimizer().learning_rates(3)", "Optimizer"),
    ("ms.optim.Schedule().rates(3)", "Schedule"),
    ("ms.optim.SGD(lr=ms.optim.Schedule())", "Schedule|lr"),
    ("ms.MAML(ms.nn.MLP([1, 2, 1])).fit(ms.data.Sinusoid(1, 1), steps=1, progress=False,"
     " optimizer=ms.optim.Optimizer())", "Optimizer|optimizer"),
])
def test_abstract_base_classes_say_so(expr, argument):
    refused(run(expr), argument, error=False)


@pytest.mark.parametrize("expr, argument", [
    ("ms.optim.SGD(lr=10**400)", "lr"),
    ("ms.optim.SGD(lr=-10**400)", "lr"),
    ("ms.optim.Adam(eps=10**400)", "eps"),
    ("ms.optim.Adam(betas=(0.9, 10**400))", r"betas\[1\]"),
    ("ms.optim.RMSprop(alpha=10**400)", "alpha"),
    ("ms.optim.CosineDecay(10**400, steps=10)", "lr"),
    ("ms.optim.PiecewiseConstant(0.1, boundaries=[1], values=[10**400])", r"values\[0\]"),
    ("ms.data.Sinusoid(1, 1, amplitude=(0.1, 10**400))", r"amplitude\[1\]"),
    ("ms.MAML(ms.nn.MLP([1, 1]), inner_lr=10**400)", "inner_lr"),
    ("ms.Reptile(ms.nn.MLP([1, 1]), epsilon=10**400)", "epsilon"),
    ("ms.optim.SGD(lr=10**5000)", "lr"),
    ("ms.data.Sinusoid(shots=10**5000, queries=1)", "shots"),
    ("ms.MAML(ms.nn.MLP([1, 4, 1])).fit(ms.data.Sinusoid(1, 1), steps=10**5000, progress=False)", "steps"),
    ("ms.nn.MLP([1, 10**5000])", r"sizes(\[1\])?"),
    ("ms.nn.MLP([1, 1])(np.array([[1e39]]))", "x"),
])
def test_numbers_too_large_are_named(expr, argument):
    refused(run(expr), argument)


@pytest.mark.parametrize("expr, argument", [
    ("ms.nn.MLP([1, 1], activation='relu\\x00')", "activation"),
    ("ms.nn.MLP([1, 1], activation='\\x00')", "activation"),
    ("ms.nn.MLP([1, 1], activation='relu\\udcff')", "activation"),
    ("ms.MAML(ms.nn.MLP([1, 1]), loss='mse\\x00')", "loss"),
    ("ms.ProtoNet(ms.nn.MLP([1, 2]), distance='cosine\\x00')", "distance"),
    ("ms.ProtoNet(ms.nn.MLP([1, 2]), distance='cosine\\udcff')", "distance"),
    ("ms.data.Omniglot('/tmp/omniglot\\x00')", "root"),
    ("ms.data.Omniglot('/tmp', cache_dir='/tmp/cache\\x00')", "cache_dir"),
    ("ms.data.Omniglot('/tmp', split='vinyals\\x00')", "split"),
    ("ms.data.Omniglot('/tmp', resample='area\\x00')", "resample"),
    ("ms.data.Omniglot('x' * 100000)", "root"),
    ("ms.data.Omniglot('~nosuchuserhere/omniglot')", "root"),
])
def test_strings_with_nul_and_other_bad_text(expr, argument):
    refused(run(expr), argument)


def test_non_str_where_str_is_expected():
    for expr, argument in (("ms.nn.MLP([1, 1], activation=b'relu')", "activation"),
                           ("ms.MAML(ms.nn.MLP([1, 1]), loss=3)", "loss"),
                           ("ms.ProtoNet(ms.nn.MLP([1, 2]), distance=None)", "distance"),
                           ("ms.data.Omniglot(b'/tmp')", "root")):
        refused(run(expr), argument, error=False)


@pytest.mark.parametrize("expr, argument", [
    # Found by fuzz_api.py.
    ("ms.ProtoNet(ms.nn.MLP([4, 8])).predict(A((2, 4)), L(2, 1), A((2, 4)), inner_steps=10**5000)", "inner_steps"),
    ("ms.eval.ClassificationEvaluation([0.5], [0.5], [0.9], [1.0], b'\\x00\\x01')", "per_task_macro_f1"),
    ("ms.eval.mean_confidence_interval(b'\\x00\\x01')", "values"),
    ("ms.eval.CrossValidation(3)", "folds"),
    ("ms.data.Taskset(A((8, 2)), L(4, 2), ways=2, shots=1, queries=1, classes=[[0], [1, 2]])", "classes"),
    ("ms.data.split_classes(2**62, train=1)", "classes"),
    ("ms.nn.MLP([1, 2]).set_parameters(3)", "parameters"),
    ("ms.History([1.0]).smoothed(-10**5000)", "smooth"),
    ("ms.nn.Sequential(ms.nn.Linear(4, 4), ms.nn.LayerNorm(10**5000), input_shape=(4,))", r"normalized_shape\[0\]"),
    ("ms.transfer.Pretrainer(ms.nn.MLP([4, 2]), 2).fit(A(()), L(2, 3), progress=False)", "images"),
])
def test_found_by_fuzzing(expr, argument):
    refused(run(expr, setup="import warnings; warnings.simplefilter('error')"), argument)


def test_a_seed_at_the_top_of_its_range_is_not_a_warning():
    out = run("ms.eval.cross_validate(A((36, 4)), L(6, 6), lambda: ms.ProtoNet(ms.nn.MLP([4, 8, 3])), folds=2, "
              "ways=2, shots=1, queries=1, train_steps=0, episodes=1, seed=np.uint64(2**64 - 1))",
              setup="import warnings; warnings.simplefilter('error')")
    if out["raised"]:
        refused(out, "seed")


def test_a_stopped_fit_leaves_the_last_finite_parameters():
    setup = """
model = ms.nn.MLP([1, 8, 1], seed=0)
learner = ms.MAML(model)
"""
    after = """
params = model.parameters()
out["finite"] = bool(all(np.isfinite(p).all() for p in params))
out["history"] = None if learner.history is None else len(learner.history)
"""
    out = run("learner.fit(ms.data.Sinusoid(5, 5), meta_batch_size=2, steps=5, progress=False, "
              "optimizer=ms.optim.Adam(lr=3.4e38))", setup=setup, after=after)
    assert out["raised"] and out["error"], out
    assert out["finite"], "the model holds non-finite parameters after a fit that stopped"
    assert out["history"] is not None and out["history"] < 5
