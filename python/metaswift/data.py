"""Tasksets: distributions over few-shot tasks, sampled natively and seeded.

A taskset yields tasks; a task is a support set to adapt on and a query set
to evaluate the adapted model on, as four arrays
``(x_support, y_support, x_query, y_query)``.
"""
import numpy as np

from . import _args, _core
from ._arrays import to_numpy

__all__ = ["Taskset", "Sinusoid"]


class Taskset:
    """Base of the tasksets a learner trains and evaluates on natively.

    ``sample()`` draws the next task of the taskset's own stream, seeded by
    ``seed``; training and evaluation draw from their own seeds instead, so
    looking at tasks changes nothing they compute.
    """

    def sample(self):
        """The next task, as read-only float32 arrays
        ``(x_support, y_support, x_query, y_query)``."""
        return tuple(to_numpy(t) for t in self._taskset.sample())


class Sinusoid(Taskset):
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

    def __init__(self, shots, queries, amplitude=(0.1, 5.0), phase=(0.0, np.pi), x_range=(-5.0, 5.0), seed=0):
        self.shots = _args.integer(shots, "shots")
        self.queries = _args.integer(queries, "queries")
        self.amplitude = _args.interval(amplitude, "amplitude")
        self.phase = _args.interval(phase, "phase")
        self.x_range = _args.interval(x_range, "x_range")
        self.seed = seed
        self._taskset = _core.new_sinusoid(self.shots, self.queries, *self.amplitude, *self.phase,
                                           *self.x_range, seed)

    def __repr__(self):
        return (f"Sinusoid(shots={self.shots}, queries={self.queries}, amplitude={self.amplitude}, "
                f"phase={self.phase}, x_range={self.x_range}, seed={self.seed})")
