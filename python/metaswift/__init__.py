"""metaswift: a meta-learning engine with a Swift core.

The engine runs natively (libmetaswift, through its C ABI); this package gives
it a NumPy interface: arrays in, arrays out, keyword arguments with defaults.

    >>> import numpy as np, metaswift
    >>> model = metaswift.nn.MLP([1, 40, 40, 1], activation="relu", seed=0)
    >>> model(np.zeros((5, 1))).shape
    (5, 1)

Every refused argument raises :class:`metaswift.Error` (a ``ValueError``)
whose message names the argument.
"""
from . import _core
from ._core import Error
from ._arrays import as_float32
from . import nn

__version__ = _core.version()

__all__ = ["Error", "as_float32", "nn", "__version__"]
