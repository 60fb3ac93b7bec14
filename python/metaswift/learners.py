"""Meta-learners: the gradient-based MAML (and FOMAML), Meta-SGD, ANIL and
Reptile, and the metric-based ProtoNet.

A learner refers to a model (it does not copy it): its meta-parameters are
the model's parameters (then, for Meta-SGD, its learned rates), training
updates the model in place, and ``adapt`` returns a new model. Every learner
classifies few-shot episodes with ``predict`` and reports accuracy and
macro-F1 with 95% intervals from ``evaluate`` when its loss is
``"cross_entropy"`` (ProtoNet always).
"""
import time
import warnings

import numpy as np

from . import _args, _core
from . import distributed
from ._arrays import as_float32, to_numpy, zeros
from .data import TaskDistribution
from .eval import ClassificationEvaluation
from .history import Evaluation, History
from .nn import Conv4, Layer, Linear, Residual, Sequential
from . import optim
from .optim import SGD, Adam

__all__ = ["MAML", "MetaSGD", "ANIL", "ALFA", "MAMLPlusPlus", "LSTMMetaLearner", "Reptile", "ProtoNet"]

LOSSES = ("mse", "cross_entropy")
INNER_OPTIMIZERS = ("sgd", "adagrad", "rmsprop", "adam")
TASK_FIELDS = ("x_support", "y_support", "x_query", "y_query")
# Wall time aimed at per native call in fit: long enough to amortise the
# call, short enough that Ctrl-C and the progress bar respond.
CHUNK_SECONDS = 0.25
MAX_CHUNK = 1000


def _core_model(model, name):
    core_model = getattr(model, "_model", None)
    if not isinstance(core_model, _core.Object) or core_model.kind != "model":
        raise _core.Error(f"{name}: expected a metaswift.nn model (e.g. ms.nn.MLP or ms.nn.Conv4), "
                          f"got {type(model).__name__}")
    return core_model


def _check_taskset(taskset):
    if not isinstance(taskset, TaskDistribution):
        raise _core.Error(f"taskset: expected a metaswift.data taskset (e.g. ms.data.Taskset or ms.data.Sinusoid), "
                          f"got {type(taskset).__name__}")


def _progress_bar(total, enabled, unit="step", desc="meta-training"):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit=unit, desc=desc)


def _next_chunk(n, elapsed):
    """Steps for the next native call after ``n`` took ``elapsed`` seconds."""
    return int(min(MAX_CHUNK, max(1, n * 4 if elapsed <= 0 else n * CHUNK_SECONDS / elapsed)))


def _steps_done(trainer, losses, done, before=0):
    """The steps ``trainer`` has done in this call (its count less
    ``before``), after writing the losses of its last run into ``losses``
    from ``done`` on: a run cut short by an error (whose rolled-back step
    does not count), or one whose return Ctrl-C cut off before the loop took
    its losses."""
    now = trainer.call("steps")["steps"] - before
    if now > done:
        partial = to_numpy(trainer.call("last_run")["losses"])
        losses[done:done + len(partial)] = partial
    return now


class _EpisodeLearner:
    """What every learner offers, meta-trained or not: its engine object
    (``_learner``) around a model, its meta-parameters, arrays in, files
    (``_attributes`` / ``_from_engine``) and a repr. Subclasses set ``_kind``
    (the engine's name), ``_paper`` and ``_hyper()`` (the keywords shown by
    repr). :class:`_Learner` adds meta-training; the fine-tuning protocols of
    :mod:`metaswift.finetune` do not meta-train."""

    _kind = None
    _paper = None

    # ---- files ------------------------------------------------------------

    def _attributes(self):
        """What this class keeps beyond the engine's arguments, for files."""
        return {}

    # ---- meta-parameters ------------------------------------------------

    @property
    def parameter_names(self):
        """Names of the meta-parameters, in order (``W1, b1, ...``)."""
        return [self._learner.call("meta_parameter", index=i)["name"] for i in range(self._meta_count())]

    def parameters(self):
        """The meta-parameters as read-only float32 arrays viewing engine
        memory: the model's parameters, then the learner's own (Meta-SGD's rates)."""
        return [to_numpy(self._learner.call("meta_parameter", index=i)["value"]) for i in range(self._meta_count())]

    def _meta_count(self):
        return self._learner.call("meta_parameter_count")["count"]

    def _targets(self, y, name):
        """Targets as float32. Integer class labels (int64 from NumPy) are
        exact in float32 up to 2**24, far beyond any number of classes; the
        engine checks that each is a class index."""
        return as_float32(y, name)

    def _episode(self, x_support, y_support, x_query):
        return (as_float32(x_support, "x_support"), self._targets(y_support, "y_support"),
                as_float32(x_query, "x_query"))

    def _evaluate_classification(self, taskset, tasks, steps, seed, comm=None):
        _check_taskset(taskset)
        n = _args.count(tasks, "tasks")
        if n > _core.MAX_EPISODES:
            raise _core.Error(f"tasks: at most {_core.MAX_EPISODES} episodes per evaluation, got {n}")
        r = self._evaluation_call("evaluate_classification", comm, taskset=taskset._taskset, tasks=n, steps=steps,
                                  seed=seed)
        return ClassificationEvaluation(*(to_numpy(r[f]) for f in ("loss_curve", "task_losses", "accuracy_curve",
                                                                   "task_accuracies", "task_macro_f1s")))

    def _evaluation_call(self, method, comm, **arguments):
        """The engine's evaluation ``method`` in this process, or with the
        episodes split over the ranks of ``comm`` (the same results)."""
        if comm is None:
            return self._learner.call(method, **arguments)
        comm = distributed.check_comm(comm)
        distributed._check_same(comm, method=method, parameters=distributed._digest(self.parameters()),
                                **{k: v for k, v in arguments.items() if k != "taskset"},
                                taskset=repr(arguments.get("taskset")))
        return distributed._evaluate(comm, self._learner, method, **arguments)

    # ---- presentation -----------------------------------------------------

    def _hyper(self):
        return {}

    def _reference(self):
        return self._paper

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}(model={self.model!r}, {args})  # {self._reference()}"


class _Learner(_EpisodeLearner):
    """What every meta-trained learner offers. Subclasses set ``_kind``
    (the engine's name), ``_paper`` and ``_hyper()`` (the keywords shown by
    repr)."""

    # The last fit's trainer and optimizer, for fit(..., resume=True).
    _trainer = None
    _optimizer = None

    model = _args.fixed("model", "The model whose parameters are the meta-parameters (updated in place by fit).",
                        "the learner")
    inner_lr = _args.fixed("inner_lr", "The inner-loop step size.", "the learner")
    inner_steps = _args.fixed("inner_steps", "Inner steps per task in meta-training.", "the learner")
    first_order = _args.fixed("first_order", "Whether the meta-gradient treats inner gradients as constants.",
                              "the learner")
    loss = _args.fixed("loss", "The task loss, 'mse' or 'cross_entropy'.", "the learner")

    def __init__(self, model, inner_lr, inner_steps, first_order, loss, **engine_args):
        core_model = _core_model(model, "model")
        if isinstance(model, Conv4) and model.outputs is None:
            raise _core.Error(f"model: {type(self).__name__} needs a Conv4 with a head, one logit per class "
                              f"(Conv4(..., outputs=ways)); without one it outputs embeddings, as ProtoNet's encoder")
        self._model = model
        # None for a learner without a step size (the LSTM meta-learner's network makes its own).
        self._inner_lr = None if inner_lr is None else _args.real(inner_lr, "inner_lr")
        self._inner_steps = _args.integer(inner_steps, "inner_steps")
        self._first_order = bool(first_order)
        self._loss = _args.choice(loss, "loss", LOSSES)
        self.history = None
        rate = {} if inner_lr is None else {"inner_lr": self.inner_lr}
        self._learner = _core.new("learner." + self._kind, model=core_model, **rate,
                                  inner_steps=self.inner_steps, first_order=self.first_order, loss=self.loss,
                                  **engine_args)

    # ---- files ------------------------------------------------------------

    @classmethod
    def _from_engine(cls, engine, model, arguments, attributes):
        """A learner around an engine learner read from a file: ``arguments``
        are those it was made with, ``attributes`` what ``_attributes`` gave."""
        learner = cls.__new__(cls)
        learner._model, learner._learner, learner.history = model, engine, None
        learner._inner_lr = float(arguments.get("inner_lr", 0.0))
        learner._inner_steps = int(arguments.get("inner_steps", 0))
        learner._first_order = bool(arguments.get("first_order", False))
        learner._loss = arguments.get("loss", "cross_entropy")
        for key, value in attributes.items():
            setattr(learner, "_" + key, value)
        return learner

    # ---- arrays in ------------------------------------------------------

    def _tasks(self, tasks):
        """Tasks as tuples of C-contiguous float32 arrays; arrays that already
        are pass through as the same objects (the engine reads them in place)."""
        if isinstance(tasks, (np.ndarray, str, bytes)) or not hasattr(tasks, "__len__"):
            raise _core.Error(f"tasks: expected a list of (x_support, y_support, x_query, y_query) tuples, "
                              f"got {type(tasks).__name__}")
        if len(tasks) == 4 and isinstance(tasks, tuple) and all(isinstance(a, np.ndarray) for a in tasks):
            raise _core.Error("tasks: expected a list of tasks; for one task pass [(x_support, y_support, x_query, y_query)]")
        out = []
        for i, task in enumerate(tasks):
            if isinstance(task, np.ndarray) or not isinstance(task, (tuple, list)) or len(task) != 4:
                raise _core.Error(f"tasks[{i}]: expected a tuple of 4 arrays (x_support, y_support, x_query, y_query)")
            xs, ys, xq, yq = (f"tasks[{i}].{f}" for f in TASK_FIELDS)
            out.append((as_float32(task[0], xs), self._targets(task[1], ys),
                        as_float32(task[2], xq), self._targets(task[3], yq)))
        if not out:
            raise _core.Error("tasks: need at least one task")
        return out

    # ---- the algorithm ----------------------------------------------------

    def meta_loss_and_grad(self, tasks, seed=0):
        """The meta-loss on ``tasks`` and its gradient, in one native call.

        Args:
            tasks: a list of ``(x_support, y_support, x_query, y_query)``
                tuples of arrays. float32 C-contiguous arrays are read in
                place (no copy); others are converted once.
            seed: seeds the tasks' dropout masks (task k draws from a stream
                derived from ``seed`` and k); models without dropout ignore it.

        Returns:
            ``(loss, grads)``: the mean over tasks of the query loss after
            adaptation, and one read-only float32 array per meta-parameter
            (see ``parameter_names``) holding its gradient.
        """
        lists = tuple(zip(*self._tasks(tasks)))
        r = self._learner.call("meta_loss_and_grad", **dict(zip(TASK_FIELDS, (list(t) for t in lists))), seed=seed)
        return r["loss"], [to_numpy(g) for g in r["grads"]]

    def adapt(self, x, y, steps=None):
        """A new model (same class as ``self.model``) holding the
        meta-parameters adapted on the support set ``(x, y)`` for ``steps``
        inner steps (default: ``inner_steps``). ``self.model`` is unchanged."""
        k = self.inner_steps if steps is None else _args.integer(steps, "steps")
        core_model = self._learner.call("adapt", x=as_float32(x, "x"), y=self._targets(y, "y"), steps=k)["model"]
        return self.model._like(core_model)

    def _default_optimizer(self):
        return Adam(lr=1e-3)

    def fit(self, taskset, meta_batch_size=25, steps=1000, optimizer=None, seed=0, progress=True, resume=False,
            checkpoint=None, checkpoint_every=100, resume_from=None, comm=None):
        """Meta-trains on tasks sampled from ``taskset``; updates the model
        (and the learner's own meta-parameters) in place.

        Each meta-step samples ``meta_batch_size`` tasks, takes the
        meta-gradient and lets ``optimizer`` (default ``Adam(lr=1e-3)``)
        update the meta-parameters. Steps run natively, many per call and
        without the GIL; between calls Ctrl-C stops training (the model keeps
        the parameters of the last step done, ``self.history`` the losses) and
        a tqdm progress bar advances when tqdm is installed and ``progress``.
        The same seed, model and arguments give the same history, bit for bit.

        Each call starts a fresh optimizer state unless ``resume=True``: then
        it carries on with the state the previous ``fit`` of this learner
        left (Adam's moments, the update count and so the position in a
        learning-rate schedule), with ``optimizer`` left out or the same
        object. Splitting a run into resumed calls changes nothing but the
        tasks drawn (each call's ``seed`` draws its own):

            opt = ms.optim.Adam(lr=ms.optim.CosineDecay(3e-3, steps=6000))
            for chunk in range(60):
                maml.fit(tasks, steps=100, optimizer=opt, seed=chunk, resume=chunk > 0)

        Checkpoints: with ``checkpoint=path`` the run is written to ``path``
        every ``checkpoint_every`` steps and at the end (atomically: a crash
        leaves the previous checkpoint whole): meta-parameters, the model's
        running statistics, the optimizer's full state (moments, update
        count, schedule position), the random stream, the step and the
        losses so far. ``fit(..., steps=N, resume_from=path)`` in any process,
        with the learner, optimizer and ``meta_batch_size`` the run was made
        with (the file says if they differ), continues from there to step N,
        and ends with the same bits as a run that was never interrupted::

            maml.fit(tasks, steps=6000, checkpoint="run.safetensors", checkpoint_every=500)
            # ... killed; later, in a new process, after building maml and tasks again:
            maml.fit(tasks, steps=6000, checkpoint="run.safetensors", resume_from="run.safetensors")

        Several processes: with ``comm=MPI.COMM_WORLD`` (mpi4py) each rank
        computes its share of every meta-batch and all ranks update alike,
        to the same bits as this call in one process (see
        :mod:`metaswift.distributed`). Every rank makes the same call; rank 0
        alone shows progress and writes the checkpoint, which resumes on any
        number of ranks (or in one process).

        Returns:
            a :class:`~metaswift.history.History` (also kept as ``self.history``),
            with the losses of every step of the run, the resumed ones included.

        Raises:
            metaswift.Error: a bad argument, or a meta-loss that is not finite
                (lower the learning rates); the error's ``history`` holds the
                losses of the steps done before it.
        """
        _check_taskset(taskset)
        from .files import _path
        comm = None if comm is None else distributed.check_comm(comm)
        checkpoint = None if checkpoint is None else _path(checkpoint, "checkpoint")
        every = _args.count(checkpoint_every, "checkpoint_every")
        resume_from = None if resume_from is None else _path(resume_from, "resume_from")
        if resume and resume_from is not None:
            raise _core.Error("resume_from: give resume=True (carry on in this process) or resume_from (a checkpoint), "
                              "not both")
        previous = self._trainer if resume else None
        if resume:
            if previous is None:
                raise _core.Error("resume: this learner has no previous fit to carry on from; "
                                  "call fit once without resume=True first")
            if optimizer is not None and optimizer is not self._optimizer:
                raise _core.Error("optimizer: resume=True carries on with the previous fit's optimizer and its "
                                  "state; leave optimizer out or pass that same object")
            optimizer = self._optimizer
        optimizer = self._default_optimizer() if optimizer is None else optimizer
        engine_optimizer = optim.engine(optimizer, "optimizer")
        steps = _args.count(steps, "steps", minimum=0)
        meta_batch_size = _args.integer(meta_batch_size, "meta_batch_size")
        if comm is not None:
            distributed._check_same(comm, learner=repr(self), taskset=repr(taskset), meta_batch_size=meta_batch_size,
                                    steps=steps, seed=seed, optimizer=repr(optimizer), resume=resume,
                                    checkpoint_every=every, resume_from=resume_from,
                                    parameters=distributed._digest(self.parameters()))
        if previous is None:
            trainer = _core.new("trainer", learner=self._learner, taskset=taskset._taskset, optimizer=engine_optimizer,
                                meta_batch_size=meta_batch_size, seed=seed, resume_from=resume_from)
        else:
            trainer = _core.new("trainer", previous=previous, taskset=taskset._taskset,
                                meta_batch_size=meta_batch_size, seed=seed)
        self._trainer, self._optimizer = trainer, optimizer
        losses = zeros(steps, "steps")
        done = 0
        if resume_from is not None:
            before = to_numpy(trainer.call("restored_losses")["losses"])
            done = len(before)
            if done > steps:
                raise _core.Error(f"steps: the checkpoint {resume_from} is at step {done}, past steps={steps}")
            losses[:done] = before
        bar = _progress_bar(steps, progress and distributed.is_root(comm))
        if bar is not None and done:
            bar.update(done)
        chunk = 1
        run = distributed._stepper(trainer, comm)
        try:
            while done < steps:
                n = min(chunk, steps - done)
                if checkpoint is not None:
                    n = min(n, every - done % every)  # a chunk ends at every checkpoint
                start = time.perf_counter()
                try:
                    losses[done:done + n] = run(n)
                except _core.Error as error:
                    done = _steps_done(trainer, losses, done)
                    error.history = self.history = History(losses[:done].copy(), interrupted=True)
                    raise
                done += n
                if checkpoint is not None and (done % every == 0 or done == steps):
                    distributed._on_root(comm, lambda: trainer.call("checkpoint", path=checkpoint, losses=losses[:done]))
                elapsed = time.perf_counter() - start
                chunk = _next_chunk(n, elapsed)
                if bar is not None:
                    bar.update(n)
                    bar.set_postfix(loss=f"{losses[done - n:done].mean():.4g}")
        except KeyboardInterrupt:
            done = _steps_done(trainer, losses, done)
            self.history = History(losses[:done].copy(), interrupted=True)
            warnings.warn(f"fit interrupted after {done} of {steps} steps; the model holds the parameters of "
                          f"step {done} and learner.history its losses", stacklevel=2)
            raise
        finally:
            if bar is not None:
                bar.close()
        self.history = History(losses)
        return self.history

    def evaluate(self, taskset, tasks=600, inner_steps=None, seed=0, comm=None):
        """Adapts to ``tasks`` held-out tasks from ``taskset`` (drawn with
        ``seed``, so the same seed gives the same tasks) for ``inner_steps``
        steps (default: ``inner_steps``) and measures the query loss (and
        accuracy) after every step. Runs natively, without the GIL. 600 test
        episodes is the convention of few-shot papers. Episode t is the t-th
        that ``taskset.replace(seed=seed).sample()`` gives, to look at.

        Returns:
            an :class:`~metaswift.history.Evaluation`: ``.loss`` and
            ``.loss_ci`` (95%), ``.curve`` over steps, ``.per_task``. For a
            classifier (loss ``"cross_entropy"``) a
            :class:`~metaswift.eval.ClassificationEvaluation`, which adds
            ``.accuracy`` with ``.accuracy_ci`` (1.96 std / sqrt(tasks), the
            population std of ``.accuracies``), ``.macro_f1`` with
            ``.macro_f1_ci``, and the per-episode ``.accuracies``,
            ``.macro_f1s`` and ``.losses``.

        With ``comm`` (mpi4py), the episodes are split over its ranks and
        every rank returns the evaluation one process gives, to the bit.
        """
        _check_taskset(taskset)
        n = _args.count(tasks, "tasks")
        if n > _core.MAX_EPISODES:
            raise _core.Error(f"tasks: at most {_core.MAX_EPISODES} episodes per evaluation, got {n}")
        k = self._evaluation_steps(inner_steps)
        if self.loss == "cross_entropy":
            return self._evaluate_classification(taskset, n, k, seed, comm)
        r = self._evaluation_call("evaluate", comm, taskset=taskset._taskset, tasks=n, steps=k, seed=seed)
        return Evaluation(to_numpy(r["loss_curve"]), to_numpy(r["task_losses"]))

    def _evaluation_steps(self, inner_steps):
        if inner_steps is None:
            return self.inner_steps
        k = _args.count(inner_steps, "inner_steps", minimum=0)
        if k > _core.MAX_INNER_STEPS:
            raise _core.Error(f"inner_steps: must be in 0...{_core.MAX_INNER_STEPS}, got {k}")
        return k

    # ---- few-shot classification -------------------------------------------

    def query_logits(self, x_support, y_support, x_query, inner_steps=None):
        """The logits ``(len(x_query), classes)`` of the query examples after
        learning from the support set ``(x_support, y_support)``: for a
        gradient learner, the model adapted for ``inner_steps`` steps
        (default: ``inner_steps``) applied to ``x_query``; for ProtoNet, the
        negative squared distances (or cosines) to the class prototypes.
        Needs a classifier (loss ``"cross_entropy"``). Nothing is changed."""
        k = self._evaluation_steps(inner_steps)
        xs, ys, xq = self._episode(x_support, y_support, x_query)
        return to_numpy(self._learner.call("query_logits", x_support=xs, y_support=ys, x_query=xq, steps=k)["logits"])

    def predict(self, x_support, y_support, x_query, inner_steps=None):
        """The predicted class of every query example after learning from
        the support set, as an int64 array of ``len(x_query)`` labels: the
        largest of ``query_logits`` (ties to the lower class), i.e. for
        ProtoNet the nearest prototype.

        Args:
            x_support, y_support: the support set, as a task's (labels are
                integer class indices; for ProtoNet they must cover 0..N-1).
            x_query: the examples to classify, shaped like ``x_support``'s.
            inner_steps: inner steps of adaptation (default: the learner's;
                ignored by ProtoNet).
        """
        k = self._evaluation_steps(inner_steps)
        xs, ys, xq = self._episode(x_support, y_support, x_query)
        return np.array(self._learner.call("predict", x_support=xs, y_support=ys, x_query=xq, steps=k)["classes"],
                        dtype=np.int64)

    # ---- presentation -----------------------------------------------------

    def _hyper(self):
        return {"inner_lr": self.inner_lr, "inner_steps": self.inner_steps,
                "first_order": self.first_order, "loss": self.loss}


class MAML(_Learner):
    """Model-Agnostic Meta-Learning: learns an initialisation from which a few
    gradient steps fit a new task.

    Inner loop, per task: ``theta' = theta - inner_lr * grad L_support(theta)``,
    ``inner_steps`` times. Meta-loss: the mean over tasks of
    ``L_query(theta')``. Its gradient is exact, through the inner gradients
    (second order), unless ``first_order=True`` (FOMAML, section 5.2 of the
    paper), which treats the inner gradients as constants.

    Args:
        model: a metaswift.nn model; training updates its parameters in place.
        inner_lr: the inner step size alpha (0.01 for the paper's sinusoids).
        inner_steps: inner gradient steps per task during meta-training.
        first_order: FOMAML when True.
        loss: ``"mse"`` (regression) or ``"cross_entropy"`` (integer class
            labels; the model outputs one logit per class).
        inner_optimizer: the inner loop's optimizer: ``"sgd"`` (the paper's
            gradient descent), or an adaptive one with learning rate
            ``inner_lr`` and PyTorch's defaults, ``"adagrad"``, ``"rmsprop"``
            or ``"adam"``. Its state (sums or averages of squared gradients,
            moments) starts at zero for every task, and the meta-gradient
            flows through it exactly (second order) like through the steps.

    Example:
        >>> import metaswift as ms
        >>> model = ms.nn.MLP([1, 40, 40, 1], activation="relu", seed=0)
        >>> maml = ms.MAML(model, inner_lr=0.01, inner_steps=1)
        >>> history = maml.fit(ms.data.Sinusoid(shots=10, queries=10, seed=1),
        ...                    meta_batch_size=5, steps=20, progress=False)
        >>> len(history.losses)
        20
        >>> result = maml.evaluate(ms.data.Sinusoid(shots=10, queries=100, seed=2), tasks=50, inner_steps=5)
        >>> result.curve.shape
        (6,)
        >>> x, y, _, _ = ms.data.Sinusoid(shots=10, queries=10, seed=3).sample()
        >>> adapted = maml.adapt(x, y)
        >>> type(adapted).__name__
        'MLP'

    References:
        Finn, Abbeel, Levine. Model-Agnostic Meta-Learning for Fast Adaptation
        of Deep Networks. ICML 2017. https://arxiv.org/abs/1703.03400
    """

    _kind = "MAML"
    _paper = "Finn, Abbeel & Levine, ICML 2017"

    inner_optimizer = _args.fixed("inner_optimizer", "The inner loop's optimizer ('sgd', 'adagrad', 'rmsprop', 'adam').",
                                  "the learner")

    def __init__(self, model, inner_lr=0.01, inner_steps=1, first_order=False, loss="mse", inner_optimizer="sgd"):
        self._inner_optimizer = _args.choice(inner_optimizer, "inner_optimizer", INNER_OPTIMIZERS)
        extra = {} if self._inner_optimizer == "sgd" else {"inner_optimizer": self._inner_optimizer}
        super().__init__(model, inner_lr, inner_steps, first_order, loss, **extra)

    @classmethod
    def _from_engine(cls, engine, model, arguments, attributes):
        learner = super()._from_engine(engine, model, arguments, attributes)
        learner._inner_optimizer = arguments.get("inner_optimizer", "sgd")
        return learner

    def _hyper(self):
        extra = {} if self.inner_optimizer == "sgd" else {"inner_optimizer": self.inner_optimizer}
        return {**super()._hyper(), **extra}

    def _reference(self):
        return ("FOMAML, " if self.first_order else "") + self._paper


class MetaSGD(_Learner):
    """Meta-SGD: MAML that also learns the inner step size, one rate per
    parameter element: ``theta' = theta - alpha * grad L_support(theta)``
    with ``alpha`` a meta-parameter of each parameter's shape.

    Meta-parameters are the model's parameters, then one rate tensor per
    parameter (``lr.W1``, ...), all starting at ``inner_lr`` (the paper draws
    them from U[0.005, 0.1]: assign ``learner.learning_rates`` for that). The
    rates live in the learner; ``learning_rates`` reads and sets them.

    Args:
        model, inner_steps, first_order, loss: as for :class:`MAML`.
        inner_lr: the initial value of every rate.

    Example:
        >>> import metaswift as ms
        >>> model = ms.nn.MLP([1, 8, 1], activation="tanh", seed=0)
        >>> learner = ms.MetaSGD(model, inner_lr=0.01)
        >>> learner.parameter_names
        ['W1', 'b1', 'W2', 'b2', 'lr.W1', 'lr.b1', 'lr.W2', 'lr.b2']
        >>> [round(float(r.mean()), 6) for r in learner.learning_rates]
        [0.01, 0.01, 0.01, 0.01]

    References:
        Li, Zhou, Chen, Li. Meta-SGD: Learning to Learn Quickly for Few-Shot
        Learning. 2017. https://arxiv.org/abs/1707.09835
    """

    _kind = "MetaSGD"
    _paper = "Li, Zhou, Chen & Li, 2017"

    def __init__(self, model, inner_lr=0.01, inner_steps=1, first_order=False, loss="mse"):
        super().__init__(model, inner_lr, inner_steps, first_order, loss)

    @property
    def _model_count(self):
        return self.model._count()

    @property
    def learning_rates(self):
        """The learned rates, one read-only array per model parameter."""
        return self.parameters()[self._model_count:]

    @learning_rates.setter
    def learning_rates(self, rates):
        n = self._model_count
        names = self.parameter_names[n:]
        if isinstance(rates, (str, bytes, np.ndarray)) or not hasattr(rates, "__iter__"):
            raise _core.Error(f"learning_rates: expected a list of {n} arrays ({', '.join(names)}), "
                              f"got {type(rates).__name__}")
        rates = list(rates)
        if len(rates) != n:
            raise _core.Error(f"learning_rates: expected {n} arrays ({', '.join(names)}), got {len(rates)}")
        arrays = [as_float32(r, f"learning_rates[{i}] ({names[i]})") for i, r in enumerate(rates)]
        previous = self.learning_rates
        for i, a in enumerate(arrays):
            try:
                self._learner.call("set_meta_parameter", index=n + i, value=a)
            except _core.Error as error:
                for j in range(i):  # all or nothing
                    self._learner.call("set_meta_parameter", index=n + j, value=previous[j])
                message = str(error).removeprefix(f"meta-parameter {names[i]}: ")
                raise _core.Error(f"learning_rates[{i}] ({names[i]}): {message}") from None


def _last_linear(layer, path=""):
    """The path of the last Linear in a layer tree, or None."""
    if isinstance(layer, Linear):
        return path
    children = []
    if isinstance(layer, Sequential):
        names = layer.names or [str(i) for i in range(len(layer.layers))]
        children = list(zip(names, layer.layers))
    elif isinstance(layer, Residual):
        children = [("body", layer.body)] + ([("shortcut", layer.shortcut)] if layer.shortcut is not None else [])
    for name, child in reversed(children):
        found = _last_linear(child, f"{path}.{name}" if path else name)
        if found is not None:
            return found
    return None


def _head_count(model, head):
    """How many parameters, from the end, are named ``head.*``; they must be the last ones."""
    _core_model(model, "model")
    names = model.parameter_names
    inside = [n.startswith(head + ".") for n in names]
    count = sum(inside)
    if count == 0:
        raise _core.Error(f"head: no parameter of the model is named {head}.*; its parameters are {', '.join(names)}")
    if not all(inside[len(names) - count:]):
        raise _core.Error(f"head: the parameters named {head}.* must be the model's last ones (the inner loop "
                          f"adapts a suffix of the parameters); the model's are {', '.join(names)}")
    return count


class ANIL(_Learner):
    """Almost No Inner Loop: MAML whose inner loop adapts only the head (the
    last ``head_parameters`` parameter tensors, by default the last layer's
    weight and bias); the body is learned in the outer loop only. The
    meta-gradient stays exact (second order through the head's updates).

    Args:
        model, inner_lr, inner_steps, first_order, loss: as for :class:`MAML`.
        head_parameters: how many parameter tensors, from the end, the inner
            loop adapts.
        head: or the head by its path in the model (``"head"``, or ``"5"``
            for the sixth part of a Sequential): the parameters named
            ``head.*``, which must come last. By default, the last
            :class:`~metaswift.nn.Linear` of a model built from layers, and
            the last two tensors (the last layer) of ``MLP`` and ``Conv4``.

    Example:
        >>> import metaswift as ms
        >>> anil = ms.ANIL(ms.nn.MLP([1, 40, 40, 1], seed=0), inner_lr=0.01, head_parameters=2)
        >>> anil
        ANIL(model=MLP(sizes=[1, 40, 40, 1], ...), inner_lr=0.01, inner_steps=1, first_order=False, loss='mse', head_parameters=2)  # Raghu, Raghu, Bengio & Vinyals, ICLR 2020

    References:
        Raghu, Raghu, Bengio, Vinyals. Rapid Learning or Feature Reuse? Towards
        Understanding the Effectiveness of MAML. ICLR 2020.
        https://arxiv.org/abs/1909.09157
    """

    _kind = "ANIL"
    _paper = "Raghu, Raghu, Bengio & Vinyals, ICLR 2020"

    head_parameters = _args.fixed("head_parameters", "How many of the last parameter tensors the inner loop adapts.",
                                  "the learner")

    def __init__(self, model, inner_lr=0.01, inner_steps=1, first_order=False, loss="mse", head_parameters=None,
                 head=None):
        if head is not None and head_parameters is not None:
            raise _core.Error("head: give head or head_parameters, not both")
        if head is not None:
            head_parameters = _head_count(model, _args.text(head, "head", "a parameter path such as 'head' or '5'"))
        elif head_parameters is None:
            last = _last_linear(model) if isinstance(model, Layer) else None
            head_parameters = 2 if last is None else _head_count(model, last)
        self._head_parameters = _args.integer(head_parameters, "head_parameters")
        super().__init__(model, inner_lr, inner_steps, first_order, loss, head_parameters=self.head_parameters)

    def _hyper(self):
        return {**super()._hyper(), "head_parameters": self.head_parameters}

    def _attributes(self):
        return {"head_parameters": self.head_parameters}


class ALFA(_Learner):
    """ALFA: MAML whose inner steps take a learning rate and a weight decay
    generated, at every step, from the task's state.

    At inner step s the state is the mean of every parameter tensor and of
    its support-loss gradient; a small network (two linear layers of width
    twice the number of tensors, ReLU between) maps it to outputs ``o``,
    read as a rate factor ``a_l = 2 sigmoid(o_l)`` and a decay factor
    ``b_l = 2 sigmoid(o_{L+l})`` per tensor, and each tensor steps
    ``theta_l <- (1 - b_l beta[s, l]) theta_l - a_l alpha[s, l] grad_l``. The
    network, the per-step per-tensor ``alpha`` and ``beta`` (starting at
    ``inner_lr`` and ``inner_lr * weight_decay``) and the initial parameters
    are all meta-learned. With second order the meta-gradient is exact,
    through the generated rates too (the authors' code feeds the gradient
    means to the network as constants). Steps past ``inner_steps`` at
    evaluation reuse the last step's ``alpha`` and ``beta``.

    One departure from the authors' code, for stability: their factors are
    the raw outputs ``o``, unbounded and of either sign. They grow with the
    gradient means in the state, so a step grows with the square of the
    gradient, and on regression with large gradients (MSE on sinusoids of
    amplitude 5) one task's inner loop overflowed and meta-training stopped;
    ``2 sigmoid(o)`` keeps the factors in (0, 2).

    Args:
        model, first_order, loss: as for :class:`MAML`.
        inner_lr: every ``alpha``'s starting value (the paper: 0.01).
        inner_steps: inner steps per task, > 0 (the paper: 5).
        weight_decay: ``beta`` starts at ``inner_lr * weight_decay`` (the
            paper: 5e-4).

    Example:
        >>> import metaswift as ms
        >>> alfa = ms.ALFA(ms.nn.MLP([1, 40, 40, 1], seed=0), inner_lr=0.01, inner_steps=5)
        >>> alfa.parameter_names[-6:]
        ['alfa.alpha', 'alfa.beta', 'alfa.W1', 'alfa.b1', 'alfa.W2', 'alfa.b2']
        >>> alfa.alpha.shape  # (inner_steps, parameter tensors)
        (5, 6)

    References:
        Baik, Choi, Choi, Kim, Lee. Meta-Learning with Adaptive
        Hyperparameters. NeurIPS 2020. https://arxiv.org/abs/2011.00209
    """

    _kind = "ALFA"
    _paper = "Baik, Choi, Choi, Kim & Lee, NeurIPS 2020"

    weight_decay = _args.fixed("weight_decay", "The inner weight decay beta starts from (times inner_lr).",
                               "the learner")

    def __init__(self, model, inner_lr=0.01, inner_steps=5, weight_decay=5e-4, first_order=False, loss="mse"):
        self._weight_decay = _args.real(weight_decay, "weight_decay")
        super().__init__(model, inner_lr, inner_steps, first_order, loss, weight_decay=self.weight_decay)

    def _named(self, name):
        return self.parameters()[self.parameter_names.index(name)]

    @property
    def alpha(self):
        """The learned per-step, per-tensor rates ``alpha`` ``(inner_steps, tensors)`` (read-only)."""
        return self._named("alfa.alpha")

    @property
    def beta(self):
        """The learned per-step, per-tensor weight decays ``beta`` ``(inner_steps, tensors)`` (read-only)."""
        return self._named("alfa.beta")

    def _hyper(self):
        return {**super()._hyper(), "weight_decay": self.weight_decay}

    def _attributes(self):
        return {"weight_decay": self.weight_decay}


class MAMLPlusPlus(_Learner):
    """MAML++: MAML with the fixes of "How to train your MAML", each a switch.

    - ``learn_rates`` (LSLR): a learned rate per inner step and per adapted
      parameter tensor, starting at ``inner_lr`` (``learning_rates``). They
      are meta-learned in units of ``inner_lr`` (the meta-parameter
      ``mamlpp.lr_scale``, starting at 1), where the paper's code learns
      them raw: Adam moves a meta-parameter by about its learning rate per
      update whatever its scale, which multiplied raw rates of 0.01 tenfold
      within a hundred updates and made sinusoid regression diverge.
    - ``multi_step_loss`` (MSL): the meta-loss weighs the query loss after
      every step, the paper's importance vector moving from uniform to the
      last step over ``msl_epochs`` epochs; the last step alone after.
    - ``first_order_epochs`` (DA): first order for that many epochs, then
      exact second order (``first_order=True``: first order throughout).
    - ``per_step_norm`` (BNWB): every normalisation weight (the ``gamma`` and
      ``beta`` of batch and layer norm) has a copy per inner step, used by
      that step's forward passes; statistics are each forward's batch
      statistics (MAML++'s per-step running statistics are never used to
      normalise in its code, every forward running in training mode).
    - ``adapt_norm``: whether the inner loop adapts the normalisation
      weights (the paper's code: no).
    - CA: ``fit``'s default optimizer is Adam 1e-3 annealed by a cosine to
      1e-5 over the fit's steps (the paper's code anneals per epoch).

    An epoch is ``iterations_per_epoch`` meta-steps (the paper's 500). The
    defaults are the paper's Omniglot settings (``inner_lr=0.1``, 5 steps,
    ``msl_epochs=10``, second order from the start).

    Example:
        >>> import metaswift as ms
        >>> plus = ms.MAMLPlusPlus(ms.nn.Conv4(hidden=8, outputs=5, seed=0), inner_lr=0.1, inner_steps=5)
        >>> plus.learning_rates.shape  # (steps, adapted tensors: the convolutions and the head)
        (5, 10)
        >>> [n for n in plus.parameter_names if n.startswith("mamlpp.step1.")][:2]
        ['mamlpp.step1.block1.bn.gamma', 'mamlpp.step1.block1.bn.beta']

    References:
        Antoniou, Edwards, Storkey. How to train your MAML. ICLR 2019.
        https://arxiv.org/abs/1810.09502
    """

    _kind = "MAMLPlusPlus"
    _paper = "Antoniou, Edwards & Storkey, ICLR 2019"
    _switches = ("learn_rates", "multi_step_loss", "per_step_norm", "adapt_norm")
    _counts = ("msl_epochs", "first_order_epochs", "iterations_per_epoch")

    def __init__(self, model, inner_lr=0.1, inner_steps=5, loss="cross_entropy", learn_rates=True, multi_step_loss=True,
                 msl_epochs=10, first_order_epochs=0, iterations_per_epoch=500, per_step_norm=True, adapt_norm=False,
                 first_order=False):
        values = {"learn_rates": learn_rates, "multi_step_loss": multi_step_loss, "per_step_norm": per_step_norm,
                  "adapt_norm": adapt_norm, "msl_epochs": msl_epochs, "first_order_epochs": first_order_epochs,
                  "iterations_per_epoch": iterations_per_epoch}
        options = {}
        for name in self._switches:
            options[name] = int(_args.flag(values[name], name))
        for name in self._counts:
            options[name] = _args.count(values[name], name, minimum=1 if name == "iterations_per_epoch" else 0)
        self._options = options
        super().__init__(model, inner_lr, inner_steps, first_order, loss, **options)

    @classmethod
    def _from_engine(cls, engine, model, arguments, attributes):
        learner = super()._from_engine(engine, model, arguments, attributes)
        learner._options = {name: int(arguments[name]) for name in cls._switches + cls._counts if name in arguments}
        return learner

    @property
    def options(self):
        """The switches and epochs it was made with, as a dict (read-only)."""
        return {k: (bool(v) if k in self._switches else v) for k, v in self._options.items()}

    @property
    def learning_rates(self):
        """The learned rates ``(inner_steps, adapted tensors)``: ``inner_lr`` times the meta-parameter
        ``mamlpp.lr_scale`` (a new float32 array), or None when ``learn_rates`` is off."""
        names = self.parameter_names
        if "mamlpp.lr_scale" not in names:
            return None
        return np.float32(self.inner_lr) * self.parameters()[names.index("mamlpp.lr_scale")]

    def fit(self, taskset, meta_batch_size=8, steps=1000, optimizer=None, seed=0, progress=True, resume=False,
            checkpoint=None, checkpoint_every=100, resume_from=None, comm=None):
        """As :meth:`MAML.fit`, with the paper's meta-batch of 8 and, by
        default, Adam 1e-3 annealed by a cosine to 1e-5 over ``steps``."""
        if optimizer is None and not resume:
            optimizer = Adam(lr=optim.CosineDecay(1e-3, steps=max(_args.count(steps, "steps", minimum=0), 1), final=1e-5))
        return super().fit(taskset, meta_batch_size, steps, optimizer, seed, progress, resume, checkpoint,
                           checkpoint_every, resume_from, comm)

    def _hyper(self):
        return {"inner_lr": self.inner_lr, "inner_steps": self.inner_steps, "loss": self.loss,
                **self.options, **({"first_order": True} if self.first_order else {})}


class LSTMMetaLearner(_Learner):
    """The LSTM meta-learner: a recurrent network that reads each inner
    step's gradient and loss and writes the learner's next parameters.

    The model's parameters are the cell state of a coordinate-wise
    two-layer network (weights shared by every coordinate, state kept per
    coordinate). At inner step t, for each coordinate, the preprocessed
    gradient and loss (``(log|x|/10, sign x)``, or ``(-1, e^10 x)`` for tiny
    values) enter a first layer of ``hidden`` units (an LSTM, or a GRU with
    ``cell="gru"``), whose output ``h`` drives two gates::

        f = sigmoid(W_F [h, theta, f_prev] + b_F)
        i = sigmoid(W_I [h, theta, i_prev] + b_I)
        theta <- f * theta - i * grad

    With ``f`` held at 1 and ``i`` at a rate this is gradient descent. The
    cell state's start (the model's parameters: a learned initialisation)
    and the network are meta-learned; the gates start near ``f = 1``
    (``b_F`` in [4, 5]) and ``i = 0.01`` (``b_I`` in [-5, -4]), as in the
    paper. Every parameter tensor is adapted, batch norm's included.

    Args:
        model: any ``metaswift.nn`` model; its parameters are the starting
            cell state (updated in place by ``fit``).
        inner_steps: inner steps per task, > 0 (the paper: 5 to 12).
        hidden: units of the first layer (the paper: 20).
        cell: the first layer's recurrence, ``"lstm"`` (the paper) or ``"gru"``.
        first_order: the paper's choice (the default): the gradient and loss
            inputs are constants of the meta-gradient, which still flows
            through the update's dependence on ``theta`` and into the
            network. ``False`` cuts nothing: the exact meta-gradient,
            through the gradients (second order) and the inputs too.
        loss: ``"cross_entropy"`` or ``"mse"``.

    Example:
        >>> import metaswift as ms
        >>> meta = ms.LSTMMetaLearner(ms.nn.MLP([1, 40, 40, 1], seed=0), inner_steps=5, loss="mse")
        >>> meta.parameter_names[-7:]
        ['metalstm.lstm.Wx', 'metalstm.lstm.Wh', 'metalstm.lstm.b', 'metalstm.forget.W', 'metalstm.forget.b', 'metalstm.input.W', 'metalstm.input.b']
        >>> 4 <= float(meta.forget_bias) <= 5
        True

    References:
        Ravi, Larochelle. Optimization as a Model for Few-Shot Learning.
        ICLR 2017. https://openreview.net/forum?id=rJY0-Kcll
    """

    _kind = "LSTMMetaLearner"
    _paper = "Ravi & Larochelle, ICLR 2017"

    hidden = _args.fixed("hidden", "Units of the update network's first layer.", "the learner")
    cell = _args.fixed("cell", "The first layer's recurrence, 'lstm' or 'gru'.", "the learner")

    def __init__(self, model, inner_steps=5, hidden=20, cell="lstm", first_order=True, loss="cross_entropy"):
        self._hidden = _args.integer(hidden, "hidden")
        self._cell = _args.choice(cell, "cell", ("lstm", "gru"))
        super().__init__(model, None, inner_steps, first_order, loss, hidden=self.hidden, cell=self.cell)

    @classmethod
    def _from_engine(cls, engine, model, arguments, attributes):
        learner = super()._from_engine(engine, model, arguments, attributes)
        learner._inner_lr = None
        learner._hidden, learner._cell = int(arguments["hidden"]), str(arguments["cell"])
        return learner

    def _named(self, name):
        return self.parameters()[self.parameter_names.index(name)]

    @property
    def forget_bias(self):
        """The forget gate's bias ``b_F`` (one value; read-only)."""
        return self._named("metalstm.forget.b")[0]

    @property
    def input_bias(self):
        """The input gate's bias ``b_I`` (one value; ``sigmoid(b_I)`` is the rate
        when the rest of the gate is silent; read-only)."""
        return self._named("metalstm.input.b")[0]

    def _hyper(self):
        return {"inner_steps": self.inner_steps, "hidden": self.hidden, "cell": self.cell,
                "first_order": self.first_order, "loss": self.loss}

    def _reference(self):
        return self._paper + ("" if self.first_order else ", exact meta-gradient")


class Reptile(_Learner):
    """Reptile: runs ``inner_steps`` steps of SGD on each task's support set,
    from ``theta`` to ``theta_i``, and moves ``theta`` towards the adapted
    parameters: ``theta += epsilon * mean_i(theta_i - theta)``.

    ``meta_loss_and_grad`` returns the update direction
    ``theta - mean_i(theta_i)`` in place of a gradient (and the mean query
    loss after adaptation as the loss), so ``fit`` with
    ``ms.optim.SGD(lr=epsilon)`` (the default, from ``epsilon``) is the
    paper's outer update; any other optimizer can be used instead.

    Args:
        model, loss: as for :class:`MAML`.
        inner_lr: the inner SGD step size (0.02 for the paper's sinusoids).
        inner_steps: inner SGD steps per task, > 0 (32 for the sinusoids).
        epsilon: the outer step size used by ``fit`` when no optimizer is given.

    Example:
        >>> import metaswift as ms
        >>> reptile = ms.Reptile(ms.nn.MLP([1, 40, 40, 1], seed=0), inner_lr=0.02, inner_steps=32, epsilon=0.1)
        >>> h = reptile.fit(ms.data.Sinusoid(shots=10, queries=10), meta_batch_size=5, steps=10, progress=False)
        >>> len(h)
        10

    References:
        Nichol, Achiam, Schulman. On First-Order Meta-Learning Algorithms.
        2018. https://arxiv.org/abs/1803.02999
    """

    _kind = "Reptile"
    _paper = "Nichol, Achiam & Schulman, 2018"

    epsilon = _args.fixed("epsilon", "The outer step size of fit's default optimizer.", "the learner")

    def __init__(self, model, inner_lr=0.02, inner_steps=32, loss="mse", epsilon=0.1):
        self._epsilon = _args.real(epsilon, "epsilon")
        super().__init__(model, inner_lr, inner_steps, True, loss)

    def _default_optimizer(self):
        return SGD(lr=self.epsilon)

    def fit(self, taskset, meta_batch_size=25, steps=1000, optimizer=None, seed=0, progress=True, epsilon=None,
            resume=False, checkpoint=None, checkpoint_every=100, resume_from=None, comm=None):
        """As :meth:`MAML.fit`; the default optimizer is ``SGD(lr=epsilon)``
        (``epsilon`` here overrides the learner's)."""
        if epsilon is not None:
            if optimizer is not None:
                raise _core.Error("epsilon: give either optimizer or epsilon, not both")
            optimizer = SGD(lr=_args.real(epsilon, "epsilon"))
        return super().fit(taskset, meta_batch_size, steps, optimizer, seed, progress, resume, checkpoint,
                           checkpoint_every, resume_from, comm)

    def _hyper(self):
        return {"inner_lr": self.inner_lr, "inner_steps": self.inner_steps, "loss": self.loss,
                "epsilon": self.epsilon}

    def _attributes(self):
        return {"epsilon": self.epsilon}


class ProtoNet(_Learner):
    """Prototypical Networks: classify a query by its nearest class prototype,
    the mean embedding of the class's support examples.

    An encoder ``f`` (e.g. ``ms.nn.Conv4()`` without a head) embeds every
    example. The prototype of class c is ``p_c = mean f(x)`` over its support
    examples, and a query's class distribution is the softmax over classes
    of ``-||f(q) - p_c||^2`` (``distance="euclidean"``, the paper's squared
    Euclidean distance) or of ``cos(f(q), p_c)`` (``"cosine"``). Meta-training
    minimises the query cross-entropy; nothing is fine-tuned per task, so
    there are no inner steps. Support and query examples go through the
    encoder as one batch (batch norm shares their statistics, as in the
    reference code).

    Episodes can have any number of ways: ``y_support`` must cover
    ``0..N-1`` and ``y_query`` lie within it. Train with more ways than you
    test (the paper used 60-way 1-shot episodes for Omniglot).

    Meta-Baseline (Chen et al., ICCV 2021) multiplies the logits by a learned
    scalar: pass ``temperature`` (its initial value; the paper uses
    ``distance="cosine", temperature=10``). It is the learner's own
    meta-parameter ``"temperature"`` (shape ``(1,)``), after the encoder's,
    meta-trained with them, stored in files and checkpoints; the
    ``temperature`` property reads its current value.

    Args:
        encoder: a metaswift.nn model mapping examples to embeddings;
            training updates its parameters in place.
        distance: ``"euclidean"`` (squared) or ``"cosine"``.
        temperature: None (plain logits), or the initial value (> 0) of the
            learned logit scale.

    Example:
        >>> import numpy as np, metaswift as ms
        >>> encoder = ms.nn.Conv4(hidden=8, blocks=2, image_size=8, seed=0)
        >>> proto = ms.ProtoNet(encoder)
        >>> proto
        ProtoNet(encoder=Conv4(in_channels=1, hidden=8, blocks=2, outputs=None, image_size=8, seed=0, parameters=696), distance='euclidean')  # Snell, Swersky & Zemel, NeurIPS 2017
        >>> rng = np.random.default_rng(0)
        >>> images, labels = rng.random((60, 1, 8, 8), dtype=np.float32), np.repeat(np.arange(6), 10)
        >>> tasks = ms.data.Taskset(images, labels, ways=3, shots=2, queries=4, seed=0)
        >>> loss, grads = proto.meta_loss_and_grad([tasks.sample()])
        >>> len(grads) == len(encoder.parameter_names)
        True
        >>> history = proto.fit(tasks, steps=5, progress=False)
        >>> x_support, y_support, x_query, y_query = tasks.sample()
        >>> proto.predict(x_support, y_support, x_query).shape
        (12,)
        >>> result = proto.evaluate(tasks, tasks=20)
        >>> result.accuracies.shape
        (20,)

    References:
        Snell, Swersky, Zemel. Prototypical Networks for Few-shot Learning.
        NeurIPS 2017. https://arxiv.org/abs/1703.05175

        Chen, Liu, Xu, Darrell, Wang. Meta-Baseline: Exploring Simple
        Meta-Learning for Few-Shot Learning. ICCV 2021.
        https://arxiv.org/abs/2003.04390
    """

    _kind = "ProtoNet"
    _paper = "Snell, Swersky & Zemel, NeurIPS 2017"

    encoder = _args.fixed("model", "The encoder, whose embeddings the prototypes average.", "the learner")
    distance = _args.fixed("distance", "'euclidean' (squared) or 'cosine'.", "the learner")

    def __init__(self, encoder, distance="euclidean", temperature=None):
        core_model = _core_model(encoder, "encoder")
        distance = _args.text(distance, "distance", "'euclidean' or 'cosine'")
        extra = {} if temperature is None else {"temperature": _args.real(temperature, "temperature")}
        self._model = encoder
        self._distance = distance
        self._inner_lr, self._inner_steps, self._first_order, self._loss = 0.0, 0, False, "cross_entropy"
        self.history = None
        self._learner = _core.new("learner.ProtoNet", model=core_model, distance=distance, **extra)

    @property
    def temperature(self):
        """Meta-Baseline's learned logit scale, its current value (a float),
        or None when this ProtoNet has none."""
        n = self._meta_count()
        last = self._learner.call("meta_parameter", index=n - 1) if n else None
        if last is None or last["name"] != "temperature" or n == self.encoder._count():
            return None
        return float(to_numpy(last["value"])[0])

    def _attributes(self):
        return {"distance": self.distance}

    def fit(self, taskset, meta_batch_size=1, steps=1000, optimizer=None, seed=0, progress=True, resume=False,
            checkpoint=None, checkpoint_every=100, resume_from=None, comm=None):
        """As :meth:`MAML.fit`, with one episode per meta-step by default (as
        the paper) and ``Adam(lr=1e-3)``, the paper's optimizer."""
        return super().fit(taskset, meta_batch_size, steps, optimizer, seed, progress, resume, checkpoint,
                           checkpoint_every, resume_from, comm)

    def _evaluation_steps(self, inner_steps):
        if inner_steps is not None and (isinstance(inner_steps, bool) or not isinstance(inner_steps, (int, np.integer))
                                        or inner_steps != 0):
            raise _core.Error(f"inner_steps: ProtoNet takes no inner steps (it builds prototypes); "
                              f"got {_args.shown(inner_steps)}")
        return 0

    def embed(self, x):
        """The encoder's embeddings of ``x`` (batch norm over this batch)."""
        return self.encoder(x)

    def _hyper(self):
        return {"distance": self.distance}

    def __repr__(self):
        t = self.temperature
        extra = "" if t is None else f", temperature={t!r}"
        paper = self._paper if t is None else "Meta-Baseline, Chen et al., ICCV 2021"
        return f"ProtoNet(encoder={self.encoder!r}, distance={self.distance!r}{extra})  # {paper}"
