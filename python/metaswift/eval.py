"""Evaluation of few-shot classifiers: accuracy and macro-F1 with 95%
confidence intervals over many test episodes, and K-fold cross-validation
over class splits. The numbers come from the engine's MetaEval.

The interval is the one few-shot papers report, ``mean ± 1.96 std / sqrt(N)``
over N test episodes (600 by convention), with the population standard
deviation (``np.std``, ddof 0), as in the reference code of MAML, ProtoNets
and "A Closer Look at Few-shot Classification".
"""
import operator
from collections import namedtuple

import numpy as np

from . import _args, _core
from ._arrays import as_float32
from .data import Taskset, as_classes, as_labels
from .history import Evaluation

__all__ = ["mean_confidence_interval", "MeanCI", "accuracy", "macro_f1", "class_folds", "ClassificationEvaluation",
           "cross_validate", "CrossValidation", "Fold"]

MeanCI = namedtuple("MeanCI", ["mean", "ci"])
MeanCI.__doc__ = "A mean and the half-width of its 95% confidence interval: the interval is mean ± ci."


def mean_confidence_interval(values, ddof=0):
    """The mean of ``values`` and the half-width of its 95% confidence
    interval, ``1.96 * std / sqrt(N)``, as a :class:`MeanCI` ``(mean, ci)``.

    ``std`` has divisor ``N - ddof``: 0 (the default) is the population
    standard deviation the field's reference code uses; 1 the unbiased one.
    Trap: 1.96 is the normal quantile, fine for 600 episodes but too narrow
    for a handful of values (5 folds: a Student-t quantile, 2.776, is honest).

    Example:
        >>> from metaswift.eval import mean_confidence_interval
        >>> m, ci = mean_confidence_interval([0.5, 0.75, 1.0, 0.75])
        >>> m, round(ci, 4)
        (0.75, 0.1732)
    """
    arr = np.ascontiguousarray(as_float32(values, "values").ravel())
    s = _core.call("summarize", values=arr, ddof=_args.integer(ddof, "ddof"))
    return MeanCI(s["mean"], s["half_width"])


def _metrics(predicted, labels, classes):
    p, y = as_labels(predicted, "predicted"), as_labels(labels, "labels")
    if p.size == 0:
        raise _core.Error("predicted: need at least one prediction")
    if classes is None and p.size == y.size and p.min() >= 0 and y.min() >= 0:
        # Only the classes present count, so renumbering them 0..k-1 changes
        # no score, and any label value up to 2**63 - 1 is a class.
        values, dense = np.unique(np.concatenate([p, y]), return_inverse=True)
        p, y, classes = dense[:p.size].astype(np.int64), dense[p.size:].astype(np.int64), values.size
    elif classes is None:  # the engine names the entry at fault
        classes = min(int(max(p.max(initial=0), y.max(initial=0))) + 1, 2**63 - 1)
    m = _core.call("classification_metrics", predicted=p, labels=y, classes=_args.integer(classes, "classes"))
    return m["accuracy"], m["macro_f1"]


def accuracy(predicted, labels):
    """Fraction of ``predicted`` class indices equal to ``labels``.

        >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
        0.75
    """
    return _metrics(predicted, labels, None)[0]


def macro_f1(predicted, labels, classes=None):
    """Macro-averaged F1: the mean over classes of ``2TP / (2TP + FP + FN)``.

    A class that is neither predicted nor present is skipped; one present
    but never predicted (or the reverse) counts as 0: scikit-learn's
    ``f1_score(average="macro", zero_division=0)``. ``classes`` (the indices
    are in ``0..classes-1``) defaults to one more than the largest seen.

        >>> round(macro_f1([0, 1, 2, 2], [0, 1, 1, 2]), 4)
        0.7778
    """
    return _metrics(predicted, labels, classes)[1]


def class_folds(classes, folds=5, seed=0):
    """K-fold splits of class ids: a list of ``(train, test)`` pairs of
    sorted class lists. The classes (an int ``n`` for ``range(n)``) are
    shuffled by ``seed`` and cut into ``folds`` test sets of sizes differing
    by at most one, so every class is tested exactly once and never in a
    fold that trains on it.

        >>> [test for _, test in class_folds(10, folds=3, seed=0)]
        [[...], [...], [...]]
        >>> sorted(sum((test for _, test in class_folds(10, folds=3)), []))
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    ids = as_classes(range(_args.integer(classes, "classes")) if isinstance(classes, (int, np.integer)) else classes)
    k = _args.integer(folds, "folds")
    out = np.array(_core.call("class_folds", classes=ids, folds=k, seed=seed)["fold"], dtype=np.int64)
    return [(sorted(ids[out != f].tolist()), sorted(ids[out == f].tolist())) for f in range(k)]


class ClassificationEvaluation(Evaluation):
    """Few-shot classification over many test episodes: what ``evaluate``
    returns for a classifier.

    Attributes (besides :class:`~metaswift.history.Evaluation`'s ``loss``,
    ``loss_ci``, ``curve``, ``accuracy_curve``, ``per_task``):
        accuracy, accuracy_ci: mean query accuracy and the half-width of its
            95% interval, ``1.96 * np.std(accuracies) / sqrt(tasks)``.
        macro_f1, macro_f1_ci: the same for each episode's macro-F1 over its
            classes.
        accuracies, macro_f1s, losses: per-episode values (float32), in
            episode order.

    Example:
        >>> e = ClassificationEvaluation([0.9], [0.8, 1.0], [0.6], [0.5, 0.75], [0.4, 0.8])
        >>> e.accuracy, round(e.macro_f1, 4)
        (0.625, 0.6)
        >>> e
        ClassificationEvaluation(tasks=2, accuracy=62.50% ± 17.32%, macro_f1=60.00% ± 27.72%, loss=0.9 ± 0.139 (95% CI))
    """

    def __init__(self, curve, per_task_loss, accuracy_curve, per_task_accuracy, per_task_macro_f1):
        super().__init__(curve, per_task_loss, accuracy_curve, per_task_accuracy)
        self.losses = self.per_task.loss
        self.accuracies = self.per_task.accuracy
        self.macro_f1s = as_float32(per_task_macro_f1, "per_task_macro_f1").ravel()
        if self.macro_f1s.shape != self.accuracies.shape:
            raise _core.Error(f"per_task_macro_f1: expected {self.accuracies.size} values (one per task), "
                              f"got {self.macro_f1s.size}")
        self.macro_f1, self.macro_f1_ci = mean_confidence_interval(self.macro_f1s)

    def __repr__(self):
        return (f"ClassificationEvaluation(tasks={self.tasks}, accuracy={100 * self.accuracy:.2f}% ± "
                f"{100 * self.accuracy_ci:.2f}%, macro_f1={100 * self.macro_f1:.2f}% ± {100 * self.macro_f1_ci:.2f}%, "
                f"loss={self.loss:.4g} ± {self.loss_ci:.3g} (95% CI))")


Fold = namedtuple("Fold", ["train_classes", "test_classes", "evaluation", "history"])
Fold.__doc__ = ("One fold of a cross-validation: the classes it meta-trained and meta-tested on, the "
                "ClassificationEvaluation on its test classes and the training History.")


class CrossValidation:
    """The result of :func:`cross_validate`.

    Attributes:
        folds: one :class:`Fold` per fold.
        accuracies, macro_f1s: each fold's mean test accuracy and macro-F1.
        accuracy, accuracy_ci: their mean over folds and the half-width of
            its 95% interval (1.96 std / sqrt(K), population std over folds;
            with few folds this interval is optimistic).
        macro_f1, macro_f1_ci: the same for macro-F1.
    """

    def __init__(self, folds):
        if isinstance(folds, (str, bytes)) or not hasattr(folds, "__iter__"):
            raise _core.Error(f"folds: expected a sequence of Fold results, got {type(folds).__name__}")
        self.folds = list(folds)
        for k, fold in enumerate(self.folds):
            if not isinstance(fold, Fold) or not isinstance(fold.evaluation, ClassificationEvaluation):
                raise _core.Error(f"folds[{k}]: expected a Fold whose evaluation is a ClassificationEvaluation, "
                                  f"got {_args.shown(fold)}")
        if not self.folds:
            raise _core.Error("folds: need at least one fold")
        self.accuracies = np.array([f.evaluation.accuracy for f in self.folds], np.float32)
        self.macro_f1s = np.array([f.evaluation.macro_f1 for f in self.folds], np.float32)
        self.accuracy, self.accuracy_ci = mean_confidence_interval(self.accuracies)
        self.macro_f1, self.macro_f1_ci = mean_confidence_interval(self.macro_f1s)

    def __len__(self):
        return len(self.folds)

    def __repr__(self):
        per_fold = ", ".join(f"{100 * a:.1f}%" for a in self.accuracies)
        return (f"CrossValidation(folds={len(self)}, accuracy={100 * self.accuracy:.2f}% ± "
                f"{100 * self.accuracy_ci:.2f}%, macro_f1={100 * self.macro_f1:.2f}% ± "
                f"{100 * self.macro_f1_ci:.2f}%, per fold: [{per_fold}])")


def cross_validate(images, labels, make_learner, folds=5, ways=5, shots=1, queries=15, train_steps=1000,
                   episodes=600, meta_batch_size=None, optimizer=None, inner_steps=None, classes=None, seed=0,
                   progress=False, comm=None):
    """K-fold cross-validation over class splits: for each fold, a fresh
    learner is meta-trained on episodes of the other folds' classes and
    evaluated on episodes of the fold's own, never-seen classes.

    The classes (``classes``, or every label present) are cut into ``folds``
    disjoint test sets by :func:`class_folds` (seeded), so every class is
    tested exactly once. The images are copied into the engine once and
    shared by every fold's tasksets.

    Args:
        images, labels: the dataset, as for :class:`~metaswift.data.Taskset`.
        make_learner: called with no arguments once per fold; must return a
            new learner on a new model (e.g. ``lambda:
            ms.ProtoNet(ms.nn.Conv4())``), so no fold starts from another's
            training.
        folds: K, at least 2; each fold needs at least ``ways`` test classes.
        ways, shots, queries: the episodes, for training and testing alike.
        train_steps: meta-training steps per fold.
        episodes: test episodes per fold (600 by convention).
        meta_batch_size: episodes per meta-step (None: the learner's default).
        optimizer: a metaswift.optim optimizer (None: the learner's default);
            each fold's training starts a fresh state of it.
        inner_steps: inner steps at test time (None: the learner's own).
        seed: seeds the folds, training and test episodes.
        progress: show a progress bar while training each fold.
        comm: an mpi4py communicator whose ranks share each fold's
            training and evaluation (see :mod:`metaswift.distributed`);
            every rank returns the result of one process.

    Returns:
        a :class:`CrossValidation`: per-fold results and the mean accuracy
        and macro-F1 over folds with 95% intervals.

    Example:
        >>> import numpy as np, metaswift as ms
        >>> rng = np.random.default_rng(0)
        >>> labels = np.repeat(np.arange(12), 8)
        >>> images = (rng.normal(size=(12, 4))[labels] + 0.3 * rng.normal(size=(96, 4))).astype(np.float32)
        >>> cv = ms.eval.cross_validate(images, labels, lambda: ms.ProtoNet(ms.nn.MLP([4, 16, 8], seed=0)),
        ...                             folds=3, ways=3, shots=1, queries=3, train_steps=20, episodes=50)
        >>> len(cv), [len(f.test_classes) for f in cv.folds]
        (3, [4, 4, 4])
        >>> 0 <= cv.accuracy <= 1
        True
    """
    if not callable(make_learner):
        raise _core.Error(f"make_learner: expected a callable returning a new learner, got {make_learner!r}")
    steps = _args.count(train_steps, "train_steps", minimum=0)
    try:
        seed = operator.index(seed)
    except TypeError:
        seed = None
    if seed is None or not 0 <= seed < 2**64:
        raise _core.Error("seed: expected an integer in [0, 2**64)")
    n_episodes = _args.count(episodes, "episodes")
    base = Taskset(images, labels, ways, shots, queries, classes=classes, seed=seed)
    splits = class_folds(base.classes, folds, seed)
    for k, (_, test) in enumerate(splits):
        if len(test) < base.ways:
            raise _core.Error(f"folds: fold {k} has {len(test)} test classes, fewer than ways ({base.ways}); "
                              f"use fewer folds or fewer ways")
    results, learners = [], []
    for k, (train, test) in enumerate(splits):
        learner = make_learner()
        if not all(callable(getattr(learner, m, None)) for m in ("fit", "evaluate")) or not hasattr(learner, "model"):
            raise _core.Error(f"make_learner: expected it to return a metaswift learner (e.g. ms.ProtoNet(...)), "
                              f"got {type(learner).__name__}")
        if any(learner is other for other in learners) or any(learner.model is other.model for other in learners):
            raise _core.Error("make_learner: returned a learner (or model) of an earlier fold; "
                              "it must build a new one on every call")
        learners.append(learner)
        if getattr(learner, "loss", None) != "cross_entropy":
            raise _core.Error(f"make_learner: returned a learner that does not classify ({learner!r}); "
                              f"use loss='cross_entropy'")
        train_set = base.replace(classes=train)
        test_set = base.replace(classes=test)
        fold_seed = (seed + k) % 2**64
        fit_args = {"steps": steps, "seed": fold_seed, "progress": progress}
        if comm is not None:
            fit_args["comm"] = comm
        if meta_batch_size is not None:
            fit_args["meta_batch_size"] = meta_batch_size
        if optimizer is not None:
            fit_args["optimizer"] = optimizer
        history = learner.fit(train_set, **fit_args) if steps > 0 else None
        evaluation = learner.evaluate(test_set, tasks=n_episodes, inner_steps=inner_steps, seed=fold_seed,
                                      **({} if comm is None else {"comm": comm}))
        results.append(Fold(train, test, evaluation, history))
    return CrossValidation(results)
