"""Models. Parameters live in the engine; NumPy arrays go in and come out.

A model is a function of (parameters, input): the engine object holds the
current parameter values, ``parameters()`` reads them, ``set_parameters``
replaces them (for example with values adapted by a meta-learner).
"""
import copy
import json
import operator

import numpy as np

from . import _args, _core
from ._arrays import as_float32, to_numpy

__all__ = ["Module", "MLP", "Conv4"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "identity", "gelu", "softplus")


class Module:
    """What every model offers: named parameters held by the engine, read as
    NumPy arrays and replaced whole, and a forward pass. Subclasses create
    ``self._model`` (an engine model) and describe themselves in ``__repr__``;
    ``Module`` itself is abstract."""

    def __init__(self, *args, **kwargs):
        if type(self) is Module:
            raise TypeError("Module: an abstract base class, not a model; use ms.nn.MLP or ms.nn.Conv4")

    def _like(self, core_model):
        """A model of the same class and architecture around another engine
        model (one adapted by a learner)."""
        other = copy.copy(self)
        other._model = core_model
        return other

    def _count(self):
        return self._model.call("parameter_count")["count"]

    @property
    def parameter_names(self):
        """Names of the parameters, in order."""
        return [self._model.call("parameter", index=i)["name"] for i in range(self._count())]

    @property
    def parameter_shapes(self):
        """Shapes of the parameters, in order."""
        return [tuple(self._model.call("parameter", index=i)["shape"]) for i in range(self._count())]

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
        later (the engine replaces tensors, it never writes into them).
        ``torch.from_dlpack`` views them too, but writable: ``.clone()`` the
        tensor before writing into it, or the model's weights change."""
        return [to_numpy(t) for t in self._model.call("parameters")["values"]]

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
        try:
            values = list(parameters)
        except TypeError:
            raise _core.Error(f"parameters: expected a sequence of {len(names)} arrays ({', '.join(names)}), "
                              f"got {type(parameters).__name__}") from None
        if len(values) != len(names):
            raise _core.Error(f"parameters: expected {len(names)} arrays ({', '.join(names)}), got {len(values)}")
        arrays = [as_float32(v, f"parameters[{i}] ({names[i]})") for i, v in enumerate(values)]
        previous = self._model.call("parameters")["values"]
        for i, a in enumerate(arrays):
            try:
                self._model.call("set_parameter", index=i, value=a)
            except _core.Error:
                for j in range(i):  # all or nothing: put back what was already set
                    self._model.call("set_parameter", index=j, value=previous[j])
                raise

    def forward(self, x, training=False, seed=0):
        """The model applied to ``x``: a read-only float32 array. The engine
        runs without the GIL.

        In inference (the default) dropout is off and batch norm that tracks
        running statistics normalises with them. With ``training=True``
        dropout draws its masks from ``seed`` (the same seed, the same masks)
        and batch norm normalises with this batch's statistics and folds them
        into its running ones (the model's buffers change, as a PyTorch
        module's do in train mode)."""
        return to_numpy(self._model.call("forward", x=as_float32(x, "x"), training=_args.flag(training, "training"),
                                         seed=seed)["y"])

    def state_dict(self):
        """``{name: array}`` under PyTorch's names and layouts: what the
        equivalent ``torch.nn`` module's ``load_state_dict`` takes (Linear
        ``weight`` is (out, in), batch norm ``weight``/``bias``/``running_mean``/
        ``running_var`` and an int64 ``num_batches_tracked``, LSTM
        ``weight_ih_l0``...). Read-only float32 arrays; what a saved file holds."""
        r = self._model.call("state_dict")
        out = dict(zip(json.loads(r["names"]), (to_numpy(t) for t in r["values"])))
        for name in json.loads(r["counters"]):
            out[name] = np.array(0, np.int64)
        return out

    def load_state_dict(self, state_dict):
        """Replaces every parameter and buffer with the values of a PyTorch
        state_dict (a mapping of names to arrays, PyTorch tensors or anything
        with ``__dlpack__``; e.g. ``safetensors.numpy.load_file(path)`` of a
        file PyTorch wrote). Strict, as PyTorch's: a missing, unexpected or
        mis-shaped entry is a :class:`metaswift.Error` naming it, and nothing
        changes. ``num_batches_tracked`` entries are accepted and ignored."""
        try:
            items = list(state_dict.items())
        except AttributeError:
            raise _core.Error(f"state_dict: expected a mapping of names to arrays, got {type(state_dict).__name__}") from None
        names, values = [], []
        for name, value in items:
            if not isinstance(name, str):
                raise _core.Error(f"state_dict: keys must be names (str), got {_args.shown(name)}")
            names.append(name)
            values.append(as_float32(value, f"state_dict[{name!r}]"))
        self._model.call("load_state_dict", names=json.dumps(names), values=values)

    def _buffer_count(self):
        return self._model.call("buffer_count")["count"]

    @property
    def buffer_names(self):
        """Names of the buffers (batch norm's ``running_mean`` and
        ``running_var`` when it tracks statistics), in order."""
        return [self._model.call("buffer", index=i)["name"] for i in range(self._buffer_count())]

    def buffers(self):
        """The current buffers as read-only float32 arrays: state that is not
        learned by gradients (running statistics)."""
        return [to_numpy(self._model.call("buffer", index=i)["value"]) for i in range(self._buffer_count())]

    def named_buffers(self):
        """``{name: array}`` of the current buffers."""
        return dict(zip(self.buffer_names, self.buffers()))

    def set_buffers(self, buffers):
        """Replaces every buffer with a copy of the given arrays, in order
        (all or nothing, as ``set_parameters``)."""
        names = self.buffer_names
        try:
            values = list(buffers)
        except TypeError:
            raise _core.Error(f"buffers: expected a sequence of {len(names)} arrays, got {type(buffers).__name__}") from None
        if len(values) != len(names):
            raise _core.Error(f"buffers: expected {len(names)} arrays ({', '.join(names)}), got {len(values)}")
        arrays = [as_float32(v, f"buffers[{i}] ({names[i]})") for i, v in enumerate(values)]
        previous = [self._model.call("buffer", index=i)["value"] for i in range(len(names))]
        for i, a in enumerate(arrays):
            try:
                self._model.call("set_buffer", index=i, value=a)
            except _core.Error:
                for j in range(i):
                    self._model.call("set_buffer", index=j, value=previous[j])
                raise

    def __call__(self, x):
        return self.forward(x)


class MLP(Module):
    """A multilayer perceptron: ``x @ W1 + b1``, activation, ..., ``x @ Wn + bn``.

    The activation follows every hidden layer, not the output. Parameters are
    ``W1`` of shape ``(sizes[0], sizes[1])``, ``b1`` of shape ``(sizes[1],)``,
    and so on, drawn in the engine from ``seed`` (the same seed gives the same
    parameters, bit for bit).

    Args:
        sizes: layer widths, inputs first, at least two, each > 0.
            ``[1, 40, 40, 1]`` is the sinusoid-regression network of
            Finn et al. 2017 (MAML).
        activation: ``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"identity"``, ``"gelu"`` (exact, with erf) or
            ``"softplus"``.
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

    Inputs are anything NumPy turns into real numbers, or that exports DLPack
    (a PyTorch tensor...), of shape ``(batch, sizes[0])``; float32 C-contiguous
    arrays in CPU memory go to the engine without a copy. Outputs and
    ``parameters()`` are read-only float32 arrays that view engine memory.

    References:
        Finn, Abbeel, Levine. Model-Agnostic Meta-Learning for Fast Adaptation
        of Deep Networks. ICML 2017.
    """

    sizes = _args.fixed("sizes", "Layer widths, inputs first.", "the model")
    activation = _args.fixed("activation", "The hidden layers' activation.", "the model")
    seed = _args.fixed("seed", "The seed of the initial parameters.", "the model")

    def __init__(self, sizes, activation="relu", seed=0):
        try:
            self._sizes = [operator.index(s) for s in sizes]
        except TypeError:
            raise _core.Error(f"sizes: expected a sequence of integers, got {_args.shown(sizes)}") from None
        self._activation = _args.text(activation, "activation", f"one of {ACTIVATIONS}")
        self._seed = seed
        for i, s in enumerate(self._sizes):
            if not -2**63 <= s < 2**63:
                raise _core.Error(f"sizes[{i}]: expected an integer in the int64 range, got {_args.shown(s)}")
        self._model = _core.new("model.MLP", sizes=np.array(self._sizes, np.int64), activation=activation, seed=seed)

    def forward(self, x):
        """The network applied to ``x`` of shape ``(batch, sizes[0])``: a
        read-only float32 array of shape ``(batch, sizes[-1])``. The engine
        runs without the GIL."""
        return to_numpy(self._model.call("forward", x=as_float32(x, "x"))["y"])

    def __repr__(self):
        return (f"MLP(sizes={self.sizes}, activation={self.activation!r}, seed={self.seed}, "
                f"parameters={self.num_parameters})")


class Conv4(Module):
    """The standard few-shot image encoder: ``blocks`` blocks of [3x3
    convolution with ``hidden`` filters and padding 1, batch norm, ReLU, 2x2
    max-pool], then flatten, then (when ``outputs`` is given) a linear head
    with one logit per class, MAML's N-way classifier.

    Batch norm uses the statistics of the batch it is given, at training and
    at test time alike, with no running averages (as MAML and learn2learn do;
    transductive: an episode's queries are normalised together), unless
    ``track_running_stats=True``: then each block keeps ``running_mean`` and
    ``running_var`` buffers, which ``forward(x, training=True)`` and
    supervised pre-training (:class:`~metaswift.transfer.Pretrainer`) update
    and an inference forward normalises with (PyTorch's train and eval
    modes), on the same fused kernels.

    Without a head the model is an encoder: it maps images to embeddings of
    ``embedding_size = hidden * s * s`` features with ``s = image_size //
    2**blocks``: 64 for 28x28 Omniglot images, 1600 for 84x84 miniImageNet.
    That is what :class:`~metaswift.ProtoNet` takes. With ``outputs=N`` it is
    the classifier of MAML, FOMAML, Meta-SGD and ANIL (whose head is
    ``head.W``, ``head.b``, the last two parameters).

    Args:
        in_channels: image channels (1 for Omniglot, 3 for miniImageNet).
        hidden: filters per convolution (64; MAML used 32 on miniImageNet).
        blocks: number of blocks (4).
        outputs: classes of the linear head, or None for an encoder.
        image_size: the side of the square input images; every input must
            be ``(batch, in_channels, image_size, image_size)``, and
            ``image_size >= 2**blocks``.
        seed: an integer in ``[0, 2**64)``; the same seed gives the same
            initial parameters.
        track_running_stats: keep running batch-norm statistics (for
            pre-training and transfer); off by default, the episodic convention.
        momentum: the weight of the newest batch in the running statistics.

    Example:
        >>> import numpy as np
        >>> from metaswift.nn import Conv4
        >>> encoder = Conv4(in_channels=1, hidden=64, image_size=28)
        >>> encoder.embedding_size
        64
        >>> encoder(np.zeros((5, 1, 28, 28), np.float32)).shape
        (5, 64)
        >>> classifier = Conv4(hidden=8, blocks=2, outputs=5, image_size=8)
        >>> classifier.parameter_names[:4], classifier.parameter_names[-2:]
        (['block1.conv.W', 'block1.conv.b', 'block1.bn.gamma', 'block1.bn.beta'], ['head.W', 'head.b'])
        >>> classifier
        Conv4(in_channels=1, hidden=8, blocks=2, outputs=5, image_size=8, seed=0, parameters=861)

    References:
        Vinyals, Blundell, Lillicrap, Kavukcuoglu, Wierstra. Matching Networks
        for One Shot Learning. NeurIPS 2016. Finn, Abbeel, Levine. MAML. ICML
        2017. Snell, Swersky, Zemel. Prototypical Networks for Few-shot
        Learning. NeurIPS 2017.
    """

    in_channels = _args.fixed("in_channels", "Image channels.", "the model")
    hidden = _args.fixed("hidden", "Filters per convolution.", "the model")
    blocks = _args.fixed("blocks", "Convolution blocks.", "the model")
    outputs = _args.fixed("outputs", "Classes of the linear head (None for an encoder).", "the model")
    image_size = _args.fixed("image_size", "The side of the square input images.", "the model")
    seed = _args.fixed("seed", "The seed of the initial parameters.", "the model")
    track_running_stats = _args.fixed("track_running_stats", "Whether batch norm keeps running statistics.",
                                      "the model")
    momentum = _args.fixed("momentum", "The weight of the newest batch in the running statistics.", "the model")
    _track_running_stats = False
    _momentum = 0.1

    def __init__(self, in_channels=1, hidden=64, blocks=4, outputs=None, image_size=28, seed=0,
                 track_running_stats=False, momentum=0.1):
        self._in_channels = _args.integer(in_channels, "in_channels")
        self._hidden = _args.integer(hidden, "hidden")
        self._blocks = _args.integer(blocks, "blocks")
        if outputs is not None:
            outputs = _args.count(outputs, "outputs")
        self._outputs = outputs
        self._image_size = _args.integer(image_size, "image_size")
        self._seed = seed
        self._track_running_stats = _args.flag(track_running_stats, "track_running_stats")
        self._momentum = _args.real(momentum, "momentum")
        self._model = _core.new("model.Conv4", in_channels=self.in_channels, hidden=self.hidden, blocks=self.blocks,
                                outputs=outputs, image_size=self.image_size, momentum=self.momentum,
                                track_running_stats=self.track_running_stats, seed=seed)

    @property
    def embedding_size(self):
        """Features of the flattened embedding (the head's input)."""
        side = self.image_size >> self.blocks
        return self.hidden * side * side

    @property
    def head_parameters(self):
        """How many parameters, from the end, form the head: 2 (``head.W``,
        ``head.b``) with ``outputs``, 0 for an encoder."""
        return 0 if self.outputs is None else 2

    def forward(self, x, training=False, seed=0):
        """The network applied to images ``x`` of shape ``(batch, in_channels,
        image_size, image_size)``: a read-only float32 array of shape
        ``(batch, outputs)``, or ``(batch, embedding_size)`` for an encoder.
        Batch norm normalises with the statistics of this batch, or, with
        ``track_running_stats``, with the running ones in inference (and
        updates them with ``training=True``). The engine runs without the GIL."""
        return super().forward(x, training=training, seed=seed)

    def __repr__(self):
        tracking = f", track_running_stats=True, momentum={self.momentum}" if self.track_running_stats else ""
        return (f"Conv4(in_channels={self.in_channels}, hidden={self.hidden}, blocks={self.blocks}, "
                f"outputs={self.outputs}, image_size={self.image_size}, seed={self.seed}{tracking}, "
                f"parameters={self.num_parameters})")


# Layers and models built from them (a separate module: they share Module).
from .layers import *  # noqa: E402,F401,F403
from . import layers as _layers  # noqa: E402

__all__ += _layers.__all__
