"""Models. Parameters live in the engine; NumPy arrays go in and come out.

A model is a function of (parameters, input): the engine object holds the
current parameter values, ``parameters()`` reads them, ``set_parameters``
replaces them (for example with values adapted by a meta-learner).
"""
import operator

from . import _core
from ._arrays import as_float32, to_numpy, to_tensor

__all__ = ["MLP"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity")


class MLP:
    """A multilayer perceptron: ``x @ W1 + b1``, activation, ..., ``x @ Wn + bn``.

    The activation follows every hidden layer, not the output. Parameters are
    ``W1`` of shape ``(sizes[0], sizes[1])``, ``b1`` of shape ``(sizes[1],)``,
    and so on, drawn in the engine from ``seed`` (the same seed gives the same
    parameters, bit for bit).

    Args:
        sizes: layer widths, inputs first, at least two, each > 0.
            ``[1, 40, 40, 1]`` is the sinusoid-regression network of
            Finn et al. 2017 (MAML).
        activation: ``"relu"``, ``"tanh"``, ``"sigmoid"`` or ``"identity"``.
        seed: an integer in ``[0, 2**64)``.

    Example:
        >>> import numpy as np
        >>> from metaswift.nn import MLP
        >>> model = MLP([1, 40, 40, 1], activation="relu", seed=0)
        >>> model.parameter_names
        ['W1', 'b1', 'W2', 'b2', 'W3', 'b3']
        >>> y = model(np.linspace(-5, 5, 10).reshape(10, 1))
        >>> y.shape, y.dtype
        ((10, 1), dtype('float32'))

    Inputs are anything NumPy turns into real numbers, of shape
    ``(batch, sizes[0])``; float32 C-contiguous arrays go to the engine without
    a copy. Outputs and ``parameters()`` are read-only float32 arrays that view
    engine memory.

    References:
        Finn, Abbeel, Levine. Model-Agnostic Meta-Learning for Fast Adaptation
        of Deep Networks. ICML 2017.
    """

    def __init__(self, sizes, activation="relu", seed=0):
        try:
            self.sizes = [operator.index(s) for s in sizes]
        except TypeError:
            raise _core.Error(f"sizes: expected a sequence of integers, got {sizes!r}") from None
        if not isinstance(activation, str):
            raise _core.Error(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.seed = seed
        self._model = _core.new_mlp(self.sizes, activation, seed)

    def _like(self, core_model):
        """A model of the same class and architecture around another engine
        model (one adapted by a learner)."""
        other = object.__new__(type(self))
        other.sizes, other.activation, other.seed = list(self.sizes), self.activation, self.seed
        other._model = core_model
        return other

    @property
    def parameter_names(self):
        """Names of the parameters, in order: ``['W1', 'b1', ...]``."""
        return [self._model.parameter_name(i) for i in range(self._model.parameter_count())]

    @property
    def parameter_shapes(self):
        """Shapes of the parameters, in order."""
        return [self._model.parameter_shape(i) for i in range(self._model.parameter_count())]

    @property
    def num_parameters(self):
        """Total number of scalars in all parameters."""
        total = 0
        for shape in self.parameter_shapes:
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    def parameters(self):
        """The current parameters as read-only float32 arrays viewing engine
        memory. They keep their values when the model's parameters are set
        later (the engine replaces tensors, it never writes into them)."""
        return [to_numpy(self._model.get_parameter(i)) for i in range(self._model.parameter_count())]

    def named_parameters(self):
        """``{name: array}`` of the current parameters."""
        return dict(zip(self.parameter_names, self.parameters()))

    def set_parameters(self, parameters):
        """Replaces every parameter with a copy of the given arrays, in order.

        Each must have the parameter's shape and finite values; anything NumPy
        turns into real numbers is accepted. Nothing is changed unless all of
        them are accepted.
        """
        names = self.parameter_names
        values = list(parameters)
        if len(values) != len(names):
            raise _core.Error(f"parameters: expected {len(names)} arrays ({', '.join(names)}), got {len(values)}")
        arrays = [as_float32(v, f"parameters[{i}] ({names[i]})") for i, v in enumerate(values)]
        previous = [self._model.get_parameter(i) for i in range(len(arrays))]
        for i, a in enumerate(arrays):
            try:
                self._model.set_parameter(i, a)
            except _core.Error:
                for j in range(i):  # all or nothing: put back what was already set
                    self._model.set_parameter(j, to_numpy(previous[j]))
                raise

    def forward(self, x):
        """The network applied to ``x`` of shape ``(batch, sizes[0])``: a
        read-only float32 array of shape ``(batch, sizes[-1])``. The engine
        runs without the GIL."""
        return to_numpy(self._model.forward(to_tensor(x, "x")))

    __call__ = forward

    def __repr__(self):
        return (f"MLP(sizes={self.sizes}, activation={self.activation!r}, seed={self.seed}, "
                f"parameters={self.num_parameters})")
