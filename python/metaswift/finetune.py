"""Transfer learning's fine-tuning protocols: a pre-trained encoder, and per
episode a classifier learned from the support set.

- :class:`Baseline` (Chen et al., ICLR 2019): the encoder frozen, a new
  linear head (``head="linear"``, Baseline) or cosine head
  (``head="cosine"``, Baseline++) trained on the support embeddings with SGD.
- :class:`LogisticProbe` (Tian et al., ECCV 2020): the encoder frozen, a
  multinomial logistic regression on L2-normalised embeddings (scikit-learn's
  objective, solved natively with L-BFGS).
- :class:`FineTune`: the whole network and a new head fine-tuned together,
  with separate learning rates for backbone and head.

The encoder is pre-trained elsewhere (supervised pre-training); these
learners do not meta-train (no ``fit``). Each episode is one native call,
without the GIL; ``evaluate`` runs episodes in parallel. Embeddings come from
an inference forward with the model's running statistics when it tracks
them (PyTorch's ``model.eval()``), and with the episode's batch statistics
otherwise. The model is never changed.
"""
import numpy as np

from . import _args, _core
from ._arrays import to_numpy
from .learners import _EpisodeLearner, _check_taskset, _core_model

__all__ = ["Baseline", "LogisticProbe", "FineTune"]


class _TransferLearner(_EpisodeLearner):
    """What the fine-tuning protocols share: made around an encoder with
    named hyper-parameters (``_names``), they classify episodes and evaluate,
    and do not meta-train."""

    _names = ()
    _integers = ("epochs", "batch_size", "seed", "max_iter")
    encoder = _args.fixed("model", "The pre-trained encoder (never changed).", "the learner")

    def __init__(self, encoder, **hyper):
        core_model = _core_model(encoder, "encoder")
        self._model = encoder
        self._values = hyper
        self._learner = _core.new("learner." + self._kind, model=core_model, **hyper)

    @property
    def model(self):
        """The encoder (never changed by these learners)."""
        return self._model

    def __getattr__(self, name):
        values = self.__dict__.get("_values")
        if values is not None and name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def _from_engine(cls, engine, model, arguments, attributes):
        learner = cls.__new__(cls)
        learner._model, learner._learner = model, engine
        # A recipe's JSON writes 2.0 as 2: real hyper-parameters are floats again.
        learner._values = {name: float(arguments[name]) if name not in cls._integers + ("head",) else arguments[name]
                           for name in cls._names}
        return learner

    # ---- episodes -----------------------------------------------------------

    def query_logits(self, x_support, y_support, x_query):
        """The logits ``(len(x_query), N)`` of the query examples under the
        classifier learned from the support set (labels cover ``0..N-1``).
        One native call; the same arguments give the same logits, bit for bit."""
        xs, ys, xq = self._episode(x_support, y_support, x_query)
        return to_numpy(self._learner.call("query_logits", x_support=xs, y_support=ys, x_query=xq, steps=0)["logits"])

    def predict(self, x_support, y_support, x_query):
        """The predicted class of every query example (int64): the largest of
        ``query_logits`` (ties to the lower class)."""
        xs, ys, xq = self._episode(x_support, y_support, x_query)
        return np.array(self._learner.call("predict", x_support=xs, y_support=ys, x_query=xq, steps=0)["classes"],
                        dtype=np.int64)

    def evaluate(self, taskset, tasks=600, seed=0, comm=None):
        """Classifies ``tasks`` episodes of ``taskset`` drawn with ``seed``
        (600 by the field's convention), episodes in parallel, natively.

        Returns:
            a :class:`~metaswift.eval.ClassificationEvaluation`: ``.accuracy``
            with ``.accuracy_ci`` (95%), ``.macro_f1`` with ``.macro_f1_ci``,
            and the per-episode ``.accuracies``, ``.macro_f1s`` and ``.losses``.
            With ``comm`` (mpi4py) the episodes are split over its ranks, with
            the same results on every rank as in one process.
        """
        return self._evaluate_classification(taskset, tasks, 0, seed, comm)

    def fit(self, *args, **kwargs):
        """Not offered: these protocols do not meta-train."""
        raise _core.Error(f"fit: {type(self).__name__} does not meta-train; it fine-tunes on each episode's "
                          f"support set. Pre-train the encoder (supervised), then predict or evaluate")

    def _hyper(self):
        return dict(self._values)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}(encoder={self.encoder!r}, {args})  # {self._reference()}"


class _FrozenEncoder(_TransferLearner):
    """A protocol whose encoder stays frozen: its head can be looked at."""

    def fit_head(self, x_support, y_support):
        """What the learner fits to a support set: ``(features, initial,
        fitted)``, the support embeddings (the support set embedded on its
        own, with the running statistics when the model has them), and the
        head's initial and fitted parameters as lists of arrays (linear: W
        ``(d, N)`` and b; cosine: v ``(d, N)`` and g; LogisticProbe: W and b
        from zero)."""
        xs, ys, _ = self._episode(x_support, y_support, x_support)
        r = self._learner.call("fit_head", x_support=xs, y_support=ys)
        return (to_numpy(r["features"]), [to_numpy(t) for t in r["initial"]], [to_numpy(t) for t in r["fitted"]])


def _head(head):
    return _args.text(head, "head", "'linear' or 'cosine'")


class Baseline(_FrozenEncoder):
    """Baseline and Baseline++: the pre-trained encoder frozen, a new head
    trained on each episode's support embeddings.

    Per episode, the head (``"linear"``: ``z @ W + b``, Baseline;
    ``"cosine"``: ``scale * g_c * cos(z, v_c)``, weight-normalised, no bias,
    Baseline++) starts from a draw of a generator seeded with ``seed`` and is
    trained with PyTorch's SGD (momentum, dampening, weight decay on every
    head parameter) for ``epochs`` epochs over mini-batches of ``batch_size``
    support embeddings in a fresh permutation each epoch, minimising the mean
    cross-entropy. The defaults are the official code's
    (``methods/baselinefinetune.py``; ``scale=2`` for up to 200 classes).
    The head loop is native, with closed-form gradients.

    Args:
        encoder: a metaswift.nn model mapping examples to embeddings.
        head: ``"linear"`` (Baseline) or ``"cosine"`` (Baseline++).
        scale: the cosine head's scale (ignored by the linear head).
        lr, momentum, dampening, weight_decay: SGD's, as ``torch.optim.SGD``.
        epochs: passes over the support set.
        batch_size: support examples per step (the last batch may be smaller).
        seed: seeds the head's initial weights and the permutations; every
            episode starts from it, so the same episode gives the same logits.

    Example:
        >>> import numpy as np, metaswift as ms
        >>> encoder = ms.nn.Conv4(hidden=8, blocks=2, image_size=8, seed=0)
        >>> baseline = ms.Baseline(encoder, head="cosine", epochs=20)
        >>> rng = np.random.default_rng(0)
        >>> images, labels = rng.random((60, 1, 8, 8), dtype=np.float32), np.repeat(np.arange(6), 10)
        >>> tasks = ms.data.Taskset(images, labels, ways=3, shots=2, queries=4, seed=0)
        >>> x_support, y_support, x_query, y_query = tasks.sample()
        >>> baseline.predict(x_support, y_support, x_query).shape
        (12,)
        >>> baseline.evaluate(tasks, tasks=10).accuracies.shape
        (10,)

    References:
        Chen, Liu, Kira, Wang, Huang. A Closer Look at Few-shot
        Classification. ICLR 2019. https://arxiv.org/abs/1904.04232
    """

    _kind = "Baseline"
    _paper = "Chen, Liu, Kira, Wang & Huang, ICLR 2019"
    _names = ("head", "scale", "lr", "momentum", "dampening", "weight_decay", "epochs", "batch_size", "seed")

    def __init__(self, encoder, head="linear", scale=2.0, lr=0.01, momentum=0.9, dampening=0.9, weight_decay=1e-3,
                 epochs=100, batch_size=4, seed=0):
        super().__init__(encoder, head=_head(head), scale=_args.real(scale, "scale"), lr=_args.real(lr, "lr"),
                         momentum=_args.real(momentum, "momentum"), dampening=_args.real(dampening, "dampening"),
                         weight_decay=_args.real(weight_decay, "weight_decay"),
                         epochs=_args.integer(epochs, "epochs"), batch_size=_args.integer(batch_size, "batch_size"),
                         seed=_args.integer(seed, "seed"))

    def _reference(self):
        return ("Baseline++, " if self.head == "cosine" else "") + self._paper


class LogisticProbe(_FrozenEncoder):
    """A linear probe: the pre-trained encoder frozen, a multinomial logistic
    regression fitted to each episode's L2-normalised support embeddings.

    It minimises scikit-learn's objective for
    ``LogisticRegression(C=C, penalty="l2", fit_intercept=True)``,
    ``0.5 * ||W||^2 + C * sum_i CE_i`` (the intercept not penalised), from
    zero with a native L-BFGS in double precision (history 10, strong Wolfe
    line search, gradient tolerance 1e-9 relative, at most ``max_iter``
    iterations), and classifies queries by ``x @ W + b`` with
    ``x = z / ||z||``. ``C=1`` is Tian et al.'s.

    Args:
        encoder: a metaswift.nn model mapping examples to embeddings.
        C: the inverse regularisation strength, > 0.
        max_iter: most L-BFGS iterations per episode.

    Example:
        >>> import numpy as np, metaswift as ms
        >>> probe = ms.LogisticProbe(ms.nn.MLP([4, 8], seed=0), C=1.0)
        >>> probe
        LogisticProbe(encoder=MLP(sizes=[4, 8], ...), C=1.0, max_iter=1000)  # Tian, Wang, Krishnan, Tenenbaum & Isola, ECCV 2020

    References:
        Tian, Wang, Krishnan, Tenenbaum, Isola. Rethinking Few-Shot Image
        Classification: a Good Embedding Is All You Need? ECCV 2020.
        https://arxiv.org/abs/2003.11539
    """

    _kind = "LogisticProbe"
    _paper = "Tian, Wang, Krishnan, Tenenbaum & Isola, ECCV 2020"
    _names = ("C", "max_iter")

    def __init__(self, encoder, C=1.0, max_iter=1000):
        super().__init__(encoder, C=_args.real(C, "C"), max_iter=_args.integer(max_iter, "max_iter"))


class FineTune(_TransferLearner):
    """Fine-tuning the whole network: the pre-trained encoder and a new head
    (linear or cosine, as :class:`Baseline`'s) trained together on each
    episode's support set.

    PyTorch's SGD (momentum, no dampening, weight decay) with separate
    learning rates for the backbone and the head (timm's parameter groups),
    for ``epochs`` epochs over mini-batches of ``batch_size`` in a fresh
    permutation each epoch; gradients through the whole network. Batch norm
    stays at the pre-trained running statistics (mini-batches of 4 would give
    noisy batch statistics); a model without running statistics normalises
    with each batch's. The defaults are ours, not a paper's. ``adapt``
    returns the fine-tuned encoder; the learner's own model is never changed.

    Args:
        encoder: a metaswift.nn model mapping examples to embeddings.
        head, scale: as for :class:`Baseline`.
        backbone_lr, head_lr: the learning rates of the encoder and the head.
        momentum, weight_decay: SGD's.
        epochs, batch_size, seed: as for :class:`Baseline`.

    Example:
        >>> import numpy as np, metaswift as ms
        >>> tune = ms.FineTune(ms.nn.MLP([4, 8], seed=0), epochs=5)
        >>> x = np.eye(4, dtype=np.float32)
        >>> tune.predict(x, [0, 1, 2, 3], x).shape
        (4,)

    References:
        Chen, Liu, Kira, Wang, Huang. A Closer Look at Few-shot
        Classification. ICLR 2019. https://arxiv.org/abs/1904.04232
        (fine-tuning protocols); Tian et al., ECCV 2020.
    """

    _kind = "FineTune"
    _paper = "whole-network fine-tuning (Chen et al., ICLR 2019; Tian et al., ECCV 2020)"
    _names = ("head", "scale", "backbone_lr", "head_lr", "momentum", "weight_decay", "epochs", "batch_size", "seed")

    def __init__(self, encoder, head="linear", scale=2.0, backbone_lr=1e-3, head_lr=1e-2, momentum=0.9,
                 weight_decay=1e-3, epochs=50, batch_size=4, seed=0):
        super().__init__(encoder, head=_head(head), scale=_args.real(scale, "scale"),
                         backbone_lr=_args.real(backbone_lr, "backbone_lr"), head_lr=_args.real(head_lr, "head_lr"),
                         momentum=_args.real(momentum, "momentum"), weight_decay=_args.real(weight_decay, "weight_decay"),
                         epochs=_args.integer(epochs, "epochs"), batch_size=_args.integer(batch_size, "batch_size"),
                         seed=_args.integer(seed, "seed"))

    def adapt(self, x, y):
        """A new model (same class as the encoder) holding the encoder's
        parameters fine-tuned on the support set ``(x, y)`` (labels cover
        ``0..N-1``); the head is discarded and ``self.encoder`` is unchanged."""
        core_model = self._learner.call("adapt", x=self._episode(x, y, x)[0], y=self._targets(y, "y"),
                                        steps=0)["model"]
        return self.model._like(core_model)
