"""Problems for learned optimizers (Andrychowicz et al., NeurIPS 2016,
"Learning to learn by gradient descent by gradient descent"), and their
loss curves under any optimizer.

A problem family draws problems from a seed; ``ms.optim.Learned`` meta-trains
on one (``meta_train(problems)``), and ``loss_curves(optimizer, problems=,
steps=, seed=)`` runs any optimizer (learned, SGD, Adam...) on the same
drawn problems and returns every loss, so curves compare like for like:

    >>> import metaswift as ms
    >>> quadratics = ms.learned.Quadratic(dim=10)
    >>> curves = quadratics.loss_curves(ms.optim.SGD(lr=0.01), problems=3, steps=100, seed=1)
    >>> curves.shape
    (3, 101)
    >>> bool(curves[:, -1].mean() < curves[:, 0].mean())
    True
"""
import numpy as np

from . import _args, _core, optim
from ._arrays import as_float32

__all__ = ["Quadratic", "MLP"]


class _Family:
    """A family of optimizee problems (engine kind ``optimizee.*``)."""

    def loss_curves(self, optimizer, problems=100, steps=100, seed=0):
        """``problems`` problems drawn from ``seed`` (the same for every
        optimizer), each optimised for ``steps`` updates by ``optimizer``
        (any ``ms.optim`` optimizer, its state fresh per problem): a float32
        array (problems, steps + 1) of the losses f_t(theta_t), t = 0..steps."""
        r = self._family.call("loss_curves", optimizer=optim.engine(optimizer, "optimizer"),
                              problems=_args.count(problems, "problems"), steps=_args.count(steps, "steps", minimum=0),
                              seed=_args.count(seed, "seed", minimum=0))
        return np.array(r["losses"])

    def __repr__(self):
        return f"{type(self).__name__}(" + ", ".join(f"{k}={v!r}" for k, v in self._hyper().items()) + ")"


class Quadratic(_Family):
    """``f(theta) = ||W theta - y||^2`` with ``W`` (dim x dim) and ``y`` drawn
    from a standard normal per problem, ``theta_0`` from N(0, initial_scale^2):
    the 10-dimensional quadratics of Andrychowicz et al. 2016, section 3.1.

        >>> Quadratic(dim=10)
        Quadratic(dim=10, initial_scale=0.01)
    """

    def __init__(self, dim=10, initial_scale=0.01):
        self.dim = _args.count(dim, "dim")
        self.initial_scale = _args.real(initial_scale, "initial_scale")
        self._family = _core.new("optimizee.Quadratic", dim=self.dim, initial_scale=self.initial_scale)

    def _hyper(self):
        return {"dim": self.dim, "initial_scale": self.initial_scale}


class MLP(_Family):
    """An MLP with one hidden layer of ``hidden`` units (``activation``:
    sigmoid, relu or tanh) trained with softmax cross-entropy on minibatches
    of ``batch_size`` examples of ``inputs`` (examples, features) and integer
    ``labels``: the paper's section 3.2 problem (20 sigmoid units, batches of
    128, on MNIST there; any labelled arrays here, e.g. scikit-learn's
    ``load_digits``). Each problem draws its initial weights (normal,
    std ``initial_scale``; zero biases) and its minibatches.

        >>> x = np.random.default_rng(0).random((50, 4)).astype(np.float32)
        >>> MLP(x, np.arange(50) % 3, hidden=20, batch_size=16)
        MLP(examples=50, features=4, classes=3, hidden=20, activation='sigmoid', batch_size=16, initial_scale=0.1)
    """

    def __init__(self, inputs, labels, hidden=20, activation="sigmoid", batch_size=128, classes=None, initial_scale=0.1):
        x = as_float32(inputs, "inputs")
        if x.ndim != 2:
            raise _core.Error(f"inputs: expected a 2-d array (examples, features), got shape {x.shape}")
        y = np.asarray(labels)
        if y.ndim != 1 or (y.size and not np.issubdtype(y.dtype, np.integer)):
            raise _core.Error(f"labels: expected a 1-d array of integers, got {y.dtype} of shape {y.shape}")
        y = y.astype(np.int64)
        self.hidden = _args.count(hidden, "hidden")
        self.activation = _args.choice(activation, "activation", ("sigmoid", "relu", "tanh"))
        self.batch_size = _args.count(batch_size, "batch_size")
        self.initial_scale = _args.real(initial_scale, "initial_scale")
        kwargs = {} if classes is None else {"classes": _args.count(classes, "classes")}
        self._family = _core.new("optimizee.MLP", inputs=x, labels=y, hidden=self.hidden, activation=self.activation,
                                 batch_size=self.batch_size, initial_scale=self.initial_scale, **kwargs)
        self.examples, self.features = x.shape
        self.classes = int(classes) if classes is not None else int(y.max(initial=0)) + 1

    def _hyper(self):
        return {"examples": self.examples, "features": self.features, "classes": self.classes, "hidden": self.hidden,
                "activation": self.activation, "batch_size": self.batch_size, "initial_scale": self.initial_scale}


def _family(problems, name):
    if not isinstance(problems, _Family):
        raise _core.Error(f"{name}: expected a problem family (ms.learned.Quadratic or ms.learned.MLP), "
                          f"got {type(problems).__name__}")
    return problems._family
