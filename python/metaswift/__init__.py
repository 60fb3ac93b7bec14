"""metaswift: a meta-learning engine with a Swift core.

The engine runs natively (libmetaswift, through its C ABI); this package gives
it a NumPy interface: arrays in, arrays out, keyword arguments with defaults.

    >>> import numpy as np, metaswift as ms
    >>> model = ms.nn.MLP([1, 40, 40, 1], activation="relu", seed=0)
    >>> model(np.zeros((5, 1))).shape
    (5, 1)
    >>> maml = ms.MAML(model, inner_lr=0.01, inner_steps=1)
    >>> tasks = [ms.data.Sinusoid(shots=10, queries=10, seed=1).sample() for _ in range(4)]
    >>> loss, grads = maml.meta_loss_and_grad(tasks)
    >>> [g.shape for g in grads][:2]
    [(1, 40), (40,)]

Every refused argument raises :class:`metaswift.Error` (a ``ValueError``)
whose message names the argument.
"""
from . import _core
from ._core import Error
from ._arrays import as_float32
from . import nn, data, optim
from .history import History, Evaluation
from .learners import MAML, MetaSGD, ANIL, Reptile

__version__ = _core.version()

__all__ = ["Error", "as_float32", "nn", "data", "optim", "History", "Evaluation",
           "MAML", "MetaSGD", "ANIL", "Reptile", "__version__"]
