"""What test_distributed.py runs on every rank under mpirun, and in one
process for the reference (then ``comm`` is None).

    python mpi_worker.py SCENARIO OUT_DIR [ARGS...]

Each scenario writes ``OUT_DIR/SCENARIO-<rank>.npz`` (rank 0 when alone)
with what it computed, for the test to compare bit for bit.
"""
import sys

import numpy as np

import metaswift as ms


def world():
    """COMM_WORLD when started by an MPI launcher, else None (one process)."""
    if "--single" in sys.argv:
        return None
    from mpi4py import MPI
    return MPI.COMM_WORLD


def images(classes=12, per_class=4, seed=0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(classes * per_class, 1, 28, 28)).astype(np.float32)
    return x, np.repeat(np.arange(classes), per_class)


def learners():
    """name -> (learner, taskset, meta-batch, optimizer): MAML with exact
    second order on a model that runs tasks batched (chunks) and on Conv4
    (one part per task), Reptile, ProtoNet, FOMAML, Meta-SGD and ANIL."""
    sine = ms.data.Sinusoid(shots=5, queries=5)
    x, y = images()
    few = ms.data.Taskset(x, y, ways=3, shots=1, queries=2)
    return {
        "maml_mlp": (ms.MAML(ms.nn.MLP([1, 16, 16, 1], seed=1), inner_lr=0.01, inner_steps=2), sine, 20,
                     ms.optim.Adam(lr=1e-3)),
        "maml_conv4": (ms.MAML(ms.nn.Conv4(hidden=4, outputs=3, seed=2), inner_lr=0.1, inner_steps=1,
                               loss="cross_entropy"), few, 5,
                       ms.optim.Adam(lr=1e-3)),
        "fomaml": (ms.MAML(ms.nn.Conv4(hidden=4, outputs=3, seed=2), inner_lr=0.1, first_order=True,
                           loss="cross_entropy"), few, 3,
                   ms.optim.SGD(lr=0.01)),
        "metasgd": (ms.MetaSGD(ms.nn.MLP([1, 8, 1], seed=3)), sine, 7, ms.optim.Adam(lr=1e-3)),
        "reptile": (ms.Reptile(ms.nn.MLP([1, 16, 1], seed=4), inner_lr=0.01, inner_steps=3), sine, 5, None),
        "protonet": (ms.ProtoNet(ms.nn.Conv4(hidden=4, seed=5)), few, 3, ms.optim.Adam(lr=1e-3)),
        "anil": (ms.ANIL(ms.nn.MLP([1, 8, 8, 1], seed=6), inner_lr=0.01, inner_steps=2), sine, 6,
                 ms.optim.Adam(lr=1e-3)),
    }


def fit(comm, out):
    rank = 0 if comm is None else comm.Get_rank()
    saved = {}
    for name, (learner, tasks, batch, optimizer) in learners().items():
        history = learner.fit(tasks, meta_batch_size=batch, steps=3, optimizer=optimizer, seed=7, progress=False,
                              comm=comm)
        saved[name + ".losses"] = history.losses
        for i, p in enumerate(learner.parameters()):
            saved[f"{name}.{i}"] = np.array(p)
    np.savez(f"{out}/fit-{rank}.npz", **saved)


def evaluate(comm, out):
    rank = 0 if comm is None else comm.Get_rank()
    saved = {}
    learner, tasks, _, _ = learners()["maml_conv4"]
    e = learner.evaluate(tasks, tasks=11, inner_steps=2, seed=3, comm=comm)
    sine_learner, sine, _, _ = learners()["maml_mlp"]
    r = sine_learner.evaluate(sine, tasks=9, inner_steps=3, seed=4, comm=comm)
    x, y = images()
    base = ms.Baseline(ms.nn.Conv4(hidden=4, seed=6))
    b = base.evaluate(ms.data.Taskset(x, y, ways=3, shots=1, queries=2), tasks=5, seed=2, comm=comm)
    for key, ev in (("maml", e), ("baseline", b)):
        saved.update({f"{key}.accuracies": ev.accuracies, f"{key}.macro_f1s": ev.macro_f1s, f"{key}.losses": ev.losses,
                      f"{key}.curve": ev.curve, f"{key}.accuracy_curve": ev.accuracy_curve,
                      f"{key}.summary": np.array([ev.accuracy, ev.accuracy_ci, ev.macro_f1, ev.macro_f1_ci, ev.loss])})
    saved.update({"sine.curve": r.curve, "sine.losses": r.per_task.loss, "sine.summary": np.array([r.loss, r.loss_ci])})
    # Cross-validation: each fold's training and evaluation shared by the ranks.
    cv = ms.eval.cross_validate(x, y, lambda: ms.ProtoNet(ms.nn.Conv4(hidden=4, seed=7)), folds=3, ways=3, shots=1,
                                queries=2, train_steps=2, episodes=4, seed=1, comm=comm)
    saved["cv"] = np.array([cv.accuracy, cv.accuracy_ci, cv.macro_f1] + list(cv.accuracies))
    np.savez(f"{out}/evaluate-{rank}.npz", **saved)


def pretrain(comm, out):
    rank = 0 if comm is None else comm.Get_rank()
    x, y = images(classes=6, per_class=5)
    encoder = ms.nn.Conv4(hidden=4, seed=8, track_running_stats=True)
    pre = ms.transfer.Pretrainer(encoder, classes=6, seed=1)
    history = pre.fit(x, y, epochs=2, batch_size=8, seed=3, progress=False, comm=comm, micro_batches=2)
    saved = {"losses": history.losses}
    for i, p in enumerate(encoder.parameters() + pre.head.parameters() + encoder.buffers()):
        saved[str(i)] = np.array(p)
    np.savez(f"{out}/pretrain-{rank}.npz", **saved)


def checkpoint(comm, out):
    """Stage "first": 4 of 6 steps with checkpoints at ARGS[1]; "resumed":
    the run resumed from ARGS[1] to step 6; "whole": the 6 steps uninterrupted."""
    rank = 0 if comm is None else comm.Get_rank()
    stage, path = sys.argv[3], sys.argv[4]
    learner, tasks, batch, _ = learners()["maml_conv4"]
    run = dict(meta_batch_size=batch, optimizer=ms.optim.Adam(lr=1e-3), seed=9, progress=False, comm=comm)
    if stage == "first":
        learner.fit(tasks, steps=4, checkpoint=path, checkpoint_every=2, **run)
        return
    if stage == "resumed":
        history = learner.fit(tasks, steps=6, resume_from=path, **run)
    else:
        history = learner.fit(tasks, steps=6, **run)
    np.savez(f"{out}/checkpoint-{rank}.npz", losses=history.losses,
             **{str(i): np.array(p) for i, p in enumerate(learner.parameters())})


def fail(comm, out):
    """A bad argument on rank 1 only: every rank must stop with its message."""
    learner, tasks, batch, optimizer = learners()["maml_mlp"]
    steps = 3 if comm.Get_rank() == 0 else 4
    learner.fit(tasks, meta_batch_size=batch, steps=steps, optimizer=optimizer, progress=False, comm=comm)


def engine_error(comm, out):
    """An engine error in the second shared step, on rank 1 only (injected:
    its trainer refuses that step's first half): every rank must raise."""
    real = ms.distributed._shared_step
    calls = []

    class Refusing:
        def __init__(self, trainer):
            self.trainer = trainer

        def call(self, method, **kwargs):
            if method == "share_step":
                raise ms.Error("injected: rank 1 cannot compute its share")
            return self.trainer.call(method, **kwargs)

    def shared_step(comm, trainer):
        calls.append(1)
        if comm.Get_rank() == 1 and len(calls) == 2:
            trainer = Refusing(trainer)
        return real(comm, trainer)

    ms.distributed._shared_step = shared_step
    learner, tasks, batch, optimizer = learners()["maml_mlp"]
    try:
        learner.fit(tasks, meta_batch_size=batch, steps=5, optimizer=optimizer, progress=False, comm=comm)
    except ms.Error as error:
        print(f"rank {comm.Get_rank()} stopped after {len(error.history.losses)} steps: {error}", flush=True)
        np.savez(f"{out}/engine_error-{comm.Get_rank()}.npz", losses=error.history.losses,
                 **{str(i): np.array(p) for i, p in enumerate(learner.parameters())})
        raise


def crash(comm, out):
    """The user's own code raises on rank 1 while rank 0 waits in a shared
    step: under ``python -m mpi4py`` the job must end, with the message."""
    if comm.Get_rank() == 1:
        raise RuntimeError("rank 1 gave up on purpose")
    learner, tasks, batch, optimizer = learners()["maml_mlp"]
    learner.fit(tasks, meta_batch_size=batch, steps=1000, optimizer=optimizer, progress=False, comm=comm)


if __name__ == "__main__":
    scenario, out = sys.argv[1], sys.argv[2]
    globals()[scenario](world(), out)
