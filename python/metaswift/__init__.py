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

Few-shot classification: ``ms.data.Taskset`` samples N-way K-shot episodes
of any labelled array dataset, ``ms.nn.Conv4`` is the standard encoder,
``ms.ProtoNet`` and the gradient learners classify episodes with
``predict``, and ``evaluate`` / ``ms.eval`` report accuracy and macro-F1
with 95% confidence intervals and K-fold cross-validation over classes.

Every refused argument raises :class:`metaswift.Error` (a ``ValueError``)
whose message names the argument.
"""
from . import _core
from ._core import Error
from ._arrays import as_float32
from . import nn, data, optim, eval, transfer, distributed, learned
from .history import History, Evaluation
from .learners import MAML, MetaSGD, ANIL, ALFA, MAMLPlusPlus, LSTMMetaLearner, Reptile, ProtoNet
from . import finetune
from .finetune import Baseline, LogisticProbe, FineTune
from .files import save, load

__version__ = _core.version()


def blas_info():
    """What BLAS the engine runs: OpenBLAS's build configuration and the
    kernels it chose when it was loaded (``core: Cooperlake``, ``core:
    Haswell``...): from the CPU, or from ``OPENBLAS_CORETYPE`` when that is
    set. Speeds depend on it: this project's machines set
    ``OPENBLAS_CORETYPE=Haswell`` (AVX2 kernels) on CPUs that have AVX-512."""
    return _core.blas_info()

__all__ = ["Error", "as_float32", "nn", "data", "optim", "eval", "transfer", "distributed", "learned", "History",
           "Evaluation", "MAML", "MetaSGD", "ANIL", "ALFA", "MAMLPlusPlus", "LSTMMetaLearner", "Reptile", "ProtoNet",
           "finetune", "Baseline", "LogisticProbe", "FineTune", "save", "load", "blas_info", "__version__"]
