"""Tasksets: distributions over few-shot tasks, sampled natively and seeded.

A taskset yields tasks; a task is a support set to adapt on and a query set
to evaluate the adapted model on, as four arrays
``(x_support, y_support, x_query, y_query)``: :class:`Sinusoid` regression,
and :class:`Taskset`, N-way K-shot classification episodes of any labelled
array dataset. :func:`split_classes` keeps meta-training, meta-validation and
meta-test classes apart.
"""
from collections import namedtuple

import numpy as np

from . import _args, _core
from ._arrays import as_float32, read_array, to_numpy

__all__ = ["TaskDistribution", "Taskset", "Sinusoid", "Omniglot", "ClassSplit", "split_classes", "as_labels",
           "as_classes"]


class TaskDistribution:
    """Base of the tasksets a learner trains and evaluates on natively.

    ``sample()`` draws the next task of the taskset's own stream, seeded by
    ``seed``; training and evaluation draw from their own seeds instead, so
    looking at tasks changes nothing they compute. ``TaskDistribution``
    itself is abstract.
    """

    def __init__(self, *args, **kwargs):
        if type(self) is TaskDistribution:
            raise TypeError("TaskDistribution: an abstract base class, not a taskset; "
                            "use ms.data.Sinusoid or ms.data.Taskset")

    def sample(self):
        """The next task, as read-only float32 arrays
        ``(x_support, y_support, x_query, y_query)``."""
        t = self._taskset.call("sample")
        return tuple(to_numpy(t[k]) for k in ("x_support", "y_support", "x_query", "y_query"))


class Sinusoid(TaskDistribution):
    """Sinusoid regression, the toy family of MAML: ``y = A sin(x - phi)``.

    Each task draws an amplitude ``A ~ U(amplitude)`` and a phase
    ``phi ~ U(phase)``; its ``shots`` support points and ``queries`` query
    points are drawn independently with ``x ~ U(x_range)``. Inputs and
    targets have shape ``(n, 1)``.

    Args:
        shots: support points per task (K in K-shot), > 0.
        queries: query points per task, > 0.
        amplitude, phase, x_range: ``(low, high)`` ranges, finite, low <= high.
            The defaults are the paper's: A in [0.1, 5], phi in [0, pi], x in [-5, 5].
        seed: seeds the taskset's own stream (``sample()``).

    Example:
        >>> import metaswift as ms
        >>> tasks = ms.data.Sinusoid(shots=10, queries=15, seed=1)
        >>> x_support, y_support, x_query, y_query = tasks.sample()
        >>> x_support.shape, y_query.shape, x_support.dtype
        ((10, 1), (15, 1), dtype('float32'))

    References:
        Finn, Abbeel, Levine. Model-Agnostic Meta-Learning for Fast Adaptation
        of Deep Networks. ICML 2017, section 5.1.
    """

    shots = _args.fixed("shots", "Support points per task.", "the taskset")
    queries = _args.fixed("queries", "Query points per task.", "the taskset")
    amplitude = _args.fixed("amplitude", "The (low, high) range of amplitudes.", "the taskset")
    phase = _args.fixed("phase", "The (low, high) range of phases.", "the taskset")
    x_range = _args.fixed("x_range", "The (low, high) range of inputs.", "the taskset")
    seed = _args.fixed("seed", "The seed of the taskset's own stream.", "the taskset")

    def __init__(self, shots, queries, amplitude=(0.1, 5.0), phase=(0.0, np.pi), x_range=(-5.0, 5.0), seed=0):
        self._shots = _args.integer(shots, "shots")
        self._queries = _args.integer(queries, "queries")
        self._amplitude = _args.interval(amplitude, "amplitude")
        self._phase = _args.interval(phase, "phase")
        self._x_range = _args.interval(x_range, "x_range")
        self._seed = seed
        self._taskset = _core.new("taskset.Sinusoid", shots=self.shots, queries=self.queries,
                                  amplitude_low=self.amplitude[0], amplitude_high=self.amplitude[1],
                                  phase_low=self.phase[0], phase_high=self.phase[1],
                                  x_range_low=self.x_range[0], x_range_high=self.x_range[1], seed=seed)

    def __repr__(self):
        return (f"Sinusoid(shots={self.shots}, queries={self.queries}, amplitude={self.amplitude}, "
                f"phase={self.phase}, x_range={self.x_range}, seed={self.seed})")


def as_labels(labels, name="labels"):
    """``labels`` as a 1-D C-contiguous int64 array of class ids, for
    argument ``name``: integer dtypes only (a float label is refused, not
    rounded); the engine checks the range."""
    arr = read_array(labels, name, "an integer array")
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)  # [] reads as float64
    if arr.dtype.kind not in "iu":
        raise _core.Error(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise _core.Error(f"{name}: expected a 1-D array of labels, got shape {arr.shape}")
    try:
        arr = np.ascontiguousarray(arr)
        if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
            raise _core.Error(f"{name}: {arr.max()} is outside the int64 range")
        return np.ascontiguousarray(arr, dtype=np.int64)
    except MemoryError:
        raise _core.Error(f"{name}: {arr.size} labels do not fit in memory") from None


def as_classes(classes, name="classes"):
    """A sequence of class ids (or an integer array) as a 1-D int64 array."""
    if isinstance(classes, (str, bytes)) or (classes.ndim == 0 if isinstance(classes, np.ndarray)
                                             else not hasattr(classes, "__len__")):
        raise _core.Error(f"{name}: expected a sequence of class ids, got {_args.shown(classes)}")
    if not isinstance(classes, np.ndarray):
        try:
            classes = list(classes)
        except (MemoryError, OverflowError):
            raise _core.Error(f"{name}: {_args.shown(classes)} holds more class ids than fit in memory") from None
    ids = as_labels(classes, name)
    if ids.size == 0:
        raise _core.Error(f"{name}: is empty; pass None for every class")
    return ids


class Taskset(TaskDistribution):
    """N-way K-shot classification episodes of a labelled dataset, sampled
    natively: each episode draws ``ways`` distinct classes, then ``shots``
    support and ``queries`` query examples of each, all distinct.

    ``sample()`` returns ``(x_support, y_support, x_query, y_query)``:
    examples of shape ``(ways * shots, ...)`` and ``(ways * queries, ...)``,
    float32, and int64 labels remapped per episode to ``0..ways-1`` (the i-th
    class drawn is class i, so no fixed assignment can be memorised). Both
    sets are grouped by class, class 0 first. That is the tuple every
    learner's ``meta_loss_and_grad`` and ``predict`` take, and the taskset
    itself is what ``fit`` and ``evaluate`` sample from.

    Args:
        images: ``(n, ...)`` real numbers: ``(n, channels, height, width)``
            images for :class:`~metaswift.nn.Conv4`, ``(n, features)`` for an
            MLP. Copied once into the engine (as float32).
        labels: ``(n,)`` integer class ids, each >= 0.
        ways: classes per episode (N), shots: support examples per class
            (K), queries: query examples per class (15 in most papers).
        classes: the class ids episodes draw from (a class split, e.g.
            ``split_classes(...).train``), or None for every label present.
        seed: seeds the taskset's own stream (``sample()``); ``fit`` and
            ``evaluate`` draw from their own seeds.

    Example:
        >>> import numpy as np, metaswift as ms
        >>> images = np.random.default_rng(0).random((100, 1, 8, 8), dtype=np.float32)
        >>> labels = np.repeat(np.arange(10), 10)
        >>> tasks = ms.data.Taskset(images, labels, ways=5, shots=1, queries=3, classes=range(8), seed=0)
        >>> x_support, y_support, x_query, y_query = tasks.sample()
        >>> x_support.shape, y_support, x_query.shape, y_query.dtype
        ((5, 1, 8, 8), array([0, 1, 2, 3, 4]), (15, 1, 8, 8), dtype('int64'))
        >>> tasks
        Taskset(examples=100, classes=8, ways=5, shots=1, queries=3, seed=0)
        >>> test = tasks.replace(classes=[8, 9], ways=2)   # shares the engine copy of the images
        >>> test.classes
        [8, 9]

    References:
        Vinyals, Blundell, Lillicrap, Kavukcuoglu, Wierstra. Matching Networks
        for One Shot Learning. NeurIPS 2016 (the episode protocol).
    """

    ways = _args.fixed("ways", "Classes per episode.", "the taskset (replace() makes another)")
    shots = _args.fixed("shots", "Support examples per class.", "the taskset (replace() makes another)")
    queries = _args.fixed("queries", "Query examples per class.", "the taskset (replace() makes another)")
    classes = _args.fixed("classes", "The sorted class ids episodes draw from.", "the taskset (replace() makes another)")
    seed = _args.fixed("seed", "The seed of the taskset's own stream.", "the taskset (replace() makes another)")

    def __init__(self, images, labels, ways, shots, queries, classes=None, seed=0):
        source = read_array(images, "images")
        arr = as_float32(source, "images")
        # Copy once into the engine; an array converted here is already a
        # private copy, which the engine keeps instead (no second copy). Any
        # other array may be the caller's memory, seen through a view (DLPack,
        # the buffer protocol, __array__) the caller can still write through.
        self._images = _core.Tensor(arr, copy=arr is source)
        self._labels = as_labels(labels)
        self._make(ways, shots, queries, classes, seed)

    def _make(self, ways, shots, queries, classes, seed):
        self._ways = _args.integer(ways, "ways")
        self._shots = _args.integer(shots, "shots")
        self._queries = _args.integer(queries, "queries")
        self._seed = seed
        requested = None if classes is None else as_classes(classes)
        self._taskset = _core.new("taskset.Arrays", images=self._images, labels=self._labels, ways=self.ways,
                                  shots=self.shots, queries=self.queries, classes=requested, seed=seed)
        self._classes = (sorted(set(self._labels.tolist())) if requested is None
                        else sorted(requested.tolist()))

    def replace(self, **changes):
        """A taskset like this one with some of ``ways``, ``shots``,
        ``queries``, ``classes`` and ``seed`` changed, sharing the engine's
        copy of the images (no copy): class splits and folds of one dataset.

            >>> train = Taskset(np.zeros((20, 3)), np.arange(20) % 4, ways=2, shots=2, queries=3)
            >>> train.replace(classes=[0, 1], seed=7)
            Taskset(examples=20, classes=2, ways=2, shots=2, queries=3, seed=7)
        """
        known = {"ways", "shots", "queries", "classes", "seed"}
        unknown = set(changes) - known
        if unknown:
            raise _core.Error(f"{sorted(unknown)[0]}: not a Taskset setting; expected one of {', '.join(sorted(known))}")
        settings = {"ways": self.ways, "shots": self.shots, "queries": self.queries, "classes": self.classes,
                    "seed": self.seed, **changes}
        other = object.__new__(type(self))
        other._images, other._labels = self._images, self._labels
        other._make(**settings)
        return other

    @property
    def images(self):
        """The engine's copy of the images, read-only (no copy)."""
        return to_numpy(self._images)

    @property
    def labels(self):
        """The class id of every example (int64, read-only)."""
        view = self._labels.view()
        view.flags.writeable = False
        return view

    def sample(self):
        """The next episode of the taskset's own stream:
        ``(x_support, y_support, x_query, y_query)``, examples as read-only
        float32 arrays, labels as int64 arrays in ``0..ways-1``."""
        t = self._taskset.call("sample")
        xs, ys, xq, yq = (t[k] for k in ("x_support", "y_support", "x_query", "y_query"))
        return (to_numpy(xs), to_numpy(ys).astype(np.int64), to_numpy(xq), to_numpy(yq).astype(np.int64))

    def __len__(self):
        """Number of examples in the dataset."""
        return len(self._labels)

    def __repr__(self):
        return (f"Taskset(examples={len(self)}, classes={len(self.classes)}, ways={self.ways}, shots={self.shots}, "
                f"queries={self.queries}, seed={self.seed})")


ClassSplit = namedtuple("ClassSplit", ["train", "validation", "test"])
ClassSplit.__doc__ = "Disjoint, sorted lists of class ids for meta-training, meta-validation and meta-testing."


def split_classes(classes, train, validation=0, test=None, seed=0):
    """Disjoint meta-train / meta-validation / meta-test classes, so a learner
    is evaluated on classes it never saw in meta-training.

    ``classes`` are distinct class ids (>= 0), or an int for ``range(classes)``.
    They are shuffled by ``seed`` (the result depends on the set of classes
    and the seed only): ``train`` go to the training set, ``validation`` to
    the validation set and ``test`` (None: all the rest) to the test set.

    Example:
        >>> import metaswift as ms
        >>> split = ms.data.split_classes(1623, train=1100, validation=100, seed=0)  # Omniglot characters
        >>> len(split.train), len(split.validation), len(split.test)
        (1100, 100, 423)
        >>> set(split.train) & set(split.test)
        set()

    Published benchmarks fix their splits by name (Vinyals et al.'s Omniglot
    background/evaluation alphabets, Ravi & Larochelle's miniImageNet lists):
    pass those to ``Taskset(classes=...)`` instead when reproducing them.
    """
    ids = as_classes(range(_args.integer(classes, "classes")) if isinstance(classes, (int, np.integer)) else classes)
    test = None if test is None else _args.integer(test, "test")
    if test is not None and test < 0:
        raise _core.Error(f"test: must be >= 0 or None (the rest), got {test}")
    out = np.array(_core.call("class_split", classes=ids, train=_args.integer(train, "train"),
                              validation=_args.integer(validation, "validation"), test=test, seed=seed)["set"],
                   dtype=np.int64)
    return ClassSplit(*(sorted(ids[out == k].tolist()) for k in range(3)))

# The Omniglot benchmark (Lake et al. 2015), read from the original release.
from .omniglot import Omniglot  # noqa: E402
