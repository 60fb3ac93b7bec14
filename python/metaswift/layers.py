"""Layers: models built from parts, PyTorch's names and arguments, run natively.

A layer is a description (its type and hyper-parameters); the engine builds
the model from it and owns its parameters, so no Python runs in a forward or
backward pass. Layers compose with :class:`Sequential` and :class:`Residual`;
the outermost one is the model a learner takes::

    >>> import metaswift as ms
    >>> net = ms.nn.Sequential(
    ...     ms.nn.Conv2d(1, 8, 3, padding=1), ms.nn.BatchNorm2d(8), ms.nn.ReLU(), ms.nn.MaxPool2d(2),
    ...     ms.nn.Flatten(), ms.nn.Linear(8 * 14 * 14, 5), input_shape=(1, 28, 28), seed=0)
    >>> net.parameter_names
    ['0.W', '0.b', '1.gamma', '1.beta', '5.W', '5.b']

A model is data: ``describe()`` gives the description (what the engine
rebuilds it from, and what files store), ``==`` compares descriptions, and
``repr`` prints the tree. With ``input_shape`` (one example's shape) a model
is checked when it is made: parts that do not fit together raise
:class:`metaswift.Error` naming the layer and the argument, e.g.
``layers[4] (Conv2d).in_channels: 32, but its input has 64 channels``.
Without it, each input is checked when it comes.

Parameter names are paths: a Sequential's parts by position (``"0.W"``) or
by the names given (``Sequential(conv=..., head=...)`` gives ``"conv.W"``);
a Residual's ``body.`` and ``shortcut.``. Within a layer: ``W`` and ``b``
(Linear ``W`` is (in, out); Conv2d ``W`` is (out, in, kH, kW)), ``gamma`` and
``beta`` for normalisation, ``Wx``, ``Wh``, ``b`` (LSTM) and ``Wx``, ``Wh``,
``bx``, ``bh`` (GRU).
"""
import json
import math
import operator

import numpy as np

from . import _args, _core
from ._arrays import as_float32, to_numpy
from .nn import Module

__all__ = ["Layer", "Sequential", "Residual", "Linear", "CosineLinear", "Conv2d", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
           "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "Softplus", "Identity", "MaxPool2d", "AvgPool2d",
           "GlobalAvgPool2d", "Flatten", "Dropout", "LSTM", "GRU", "LastStep", "ResNet12", "from_description"]


def _size(value, name):
    return _args.count(value, name)


def _pair(value, name):
    """An int or a pair of ints (PyTorch's kernel_size, stride, padding)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise _core.Error(f"{name}: expected an int or a pair of ints, got {_args.shown(value)}")
        a, b = (_args.integer(v, f"{name}[{i}]") for i, v in enumerate(value))
        return a if a == b else [a, b]
    return _args.integer(value, name)


class Layer(Module):
    """A part of a model. Subclasses set ``_type`` (the engine's name) and
    ``_members`` (their hyper-parameters, in the description's order). Used
    on its own, a layer is a model (parameters drawn with seed 0)."""

    _type = None
    _engine = None
    _seed = 0
    _input_shape = None

    def __init__(self, *args, **kwargs):
        if type(self) is Layer:
            raise TypeError("Layer: an abstract base class; use a layer such as ms.nn.Linear or ms.nn.Sequential")

    def _members(self):
        return {}

    def describe(self):
        """The description: ``{"type": ..., hyper-parameters...}`` (nested
        for Sequential and Residual), as the engine reads it."""
        return {"type": self._type, **self._members()}

    @property
    def _model(self):
        if self._engine is None:
            shape = None if self._input_shape is None else np.array(self._input_shape, np.int64)
            self._engine = _core.new("model", description=json.dumps(self.describe()), input_shape=shape,
                                     seed=self._seed)
        return self._engine

    @_model.setter
    def _model(self, engine):
        self._engine = engine

    def description(self):
        """The engine's own description (JSON text): every argument, defaults included."""
        return self._model.call("describe")["description"]

    def output_shape(self, input_shape=None):
        """One example's output shape, for ``input_shape`` (one example's
        input shape) or the model's own."""
        shape = None if input_shape is None else np.array(_shape(input_shape, "input_shape"), np.int64)
        out = self._model.call("output_shape", input_shape=shape)
        if "shape" not in out:
            raise _core.Error("input_shape: this model was made without one; pass the shape of one example")
        return tuple(out["shape"])

    def __eq__(self, other):
        return isinstance(other, Layer) and self.describe() == other.describe()

    def __hash__(self):
        return hash(json.dumps(self.describe(), sort_keys=True))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._members().items())
        return f"{type(self).__name__}({args})"


def _shape(value, name):
    try:
        dims = [operator.index(d) for d in value]
    except TypeError:
        raise _core.Error(f"{name}: expected a sequence of integers (one example's shape), "
                          f"got {_args.shown(value)}") from None
    for i, d in enumerate(dims):
        _args.integer(d, f"{name}[{i}]")  # within int64 (a description is JSON the engine reads as such)
        if d < 1:
            raise _core.Error(f"{name}[{i}]: must be >= 1, got {d}")
    return dims


class Sequential(Layer):
    """Layers applied in order (PyTorch's nn.Sequential). Parts are given in
    order, or by name as keywords (``Sequential(conv=Conv2d(...),
    head=Linear(...))``, names in the order given).

    Args:
        input_shape: one example's shape, e.g. ``(1, 28, 28)``: checks the
            model now, and inputs must have it.
        seed: the seed of the initial parameters (the same seed, the same
            values, bit for bit).
    """

    _type = "Sequential"

    def __init__(self, *layers, input_shape=None, seed=0, **named):
        if layers and named:
            raise _core.Error("layers: give the parts in order or by name, not both")
        names = list(named) if named else None
        parts = list(named.values()) if named else list(layers)
        if not parts:
            raise _core.Error("layers: a Sequential needs at least one layer")
        for i, p in enumerate(parts):
            if not isinstance(p, Layer):
                raise _core.Error(f"layers[{i}]: expected a metaswift.nn layer, got {_args.shown(p)}")
        self.layers = tuple(parts)
        self.names = names
        self._seed = seed
        self._input_shape = None if input_shape is None else tuple(_shape(input_shape, "input_shape"))
        if self._input_shape is not None:
            self._model  # checked now, with messages naming the layer

    def _members(self):
        out = {"layers": [p.describe() for p in self.layers]}
        if self.names is not None:
            out["names"] = list(self.names)
        return out

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __repr__(self):
        names = self.names or [str(i) for i in range(len(self.layers))]
        lines = [f"  ({n}): {'  '.join(repr(p).splitlines(True))}" for n, p in zip(names, self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)"


class Residual(Layer):
    """``body(x) + shortcut(x)``; without a shortcut, ``body(x) + x`` (the
    shapes must then agree)."""

    _type = "Residual"

    def __init__(self, body, shortcut=None):
        for name, part in (("body", body), ("shortcut", shortcut)):
            if part is not None and not isinstance(part, Layer):
                raise _core.Error(f"{name}: expected a metaswift.nn layer, got {_args.shown(part)}")
        if body is None:
            raise _core.Error("body: expected a metaswift.nn layer, got None")
        self.body, self.shortcut = body, shortcut

    def _members(self):
        return {"body": self.body.describe(), "shortcut": None if self.shortcut is None else self.shortcut.describe()}


class Linear(Layer):
    """``x @ W + b``: W is (in_features, out_features)."""

    _type = "Linear"

    def __init__(self, in_features, out_features, bias=True):
        self.in_features, self.out_features = _size(in_features, "in_features"), _size(out_features, "out_features")
        self.bias = bool(bias)

    def _members(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "bias": self.bias}


class CosineLinear(Layer):
    """A cosine classifier (Baseline++'s head): ``scale * g_c * cos(x, W_c)``
    for each class c, the column ``W_c`` of W (in_features, out_features)
    weight-normalised with a learned norm ``g`` (out_features, 1) initialised
    to ``|W_c|``, and x L2-normalised as ``x / (|x| + 1e-5)``; no bias. With
    ``learned_norm=False`` there is no g: ``scale * cos(x, W_c)``. ``scale``
    defaults to the official code's 2 up to 200 classes, 10 beyond.

    Its PyTorch layout is ``torch.nn.utils.weight_norm(nn.Linear(in, out,
    bias=False))``: ``weight_g`` and ``weight_v``.

    References:
        Chen, Liu, Kira, Wang, Huang. A Closer Look at Few-shot
        Classification. ICLR 2019. https://arxiv.org/abs/1904.04232
    """

    _type = "CosineLinear"

    def __init__(self, in_features, out_features, scale=None, learned_norm=True):
        self.in_features, self.out_features = _size(in_features, "in_features"), _size(out_features, "out_features")
        self.scale = (2.0 if self.out_features <= 200 else 10.0) if scale is None else _args.real(scale, "scale")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise _core.Error(f"scale: must be finite and > 0, got {self.scale}")
        self.learned_norm = _args.flag(learned_norm, "learned_norm")

    def _members(self):
        return {"in_features": self.in_features, "out_features": self.out_features, "scale": self.scale,
                "learned_norm": self.learned_norm}


class Conv2d(Layer):
    """2-D convolution of NCHW images; W is (out_channels, in_channels, kH, kW)."""

    _type = "Conv2d"

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = _size(in_channels, "in_channels"), _size(out_channels, "out_channels")
        self.kernel_size, self.stride = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
        self.padding, self.bias = _pair(padding, "padding"), bool(bias)

    def _members(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                "stride": self.stride, "padding": self.padding, "bias": self.bias}


class _Norm(Layer):
    def __init__(self, num_features, eps=1e-5, momentum=0.1, track_running_stats=False):
        self.num_features, self.eps = _size(num_features, "num_features"), _args.real(eps, "eps")
        self.momentum = _args.real(momentum, "momentum")
        self.track_running_stats = _args.flag(track_running_stats, "track_running_stats")

    def _members(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "track_running_stats": self.track_running_stats}


class BatchNorm2d(_Norm):
    """Batch normalisation of (N, C, H, W) over N, H, W; a learned scale
    ``gamma`` and shift ``beta`` per channel.

    By default it normalises with the statistics of the batch it is given (an
    episode's, as MAML and ProtoNets use it), in training and inference alike.
    With ``track_running_stats=True`` (for pre-training and transfer) it keeps
    buffers ``running_mean`` and ``running_var``: a forward with
    ``training=True`` normalises with the batch's statistics and updates them
    (``r = (1 - momentum) * r + momentum * batch``, the unbiased variance, as
    PyTorch), and an inference forward normalises with them. Unlike PyTorch,
    tracking is off by default."""

    _type = "BatchNorm2d"


class BatchNorm1d(_Norm):
    """Batch normalisation of (N, C) or (N, C, L); the arguments and the two
    modes are :class:`BatchNorm2d`'s."""

    _type = "BatchNorm1d"


class Dropout(Layer):
    """Inverted dropout (PyTorch's nn.Dropout): in a training forward each
    element is zeroed with probability ``p`` and the rest scaled by
    ``1 / (1 - p)``; in inference it is the identity.

    Seeded: masks come from the forward's random stream (``forward(x,
    training=True, seed=...)``; in meta-training each task's stream is drawn
    from the trainer's seed), so the same seed gives the same masks, bit for
    bit. Meta-learners adapt and evaluate in inference (no dropout)."""

    _type = "Dropout"

    def __init__(self, p=0.5):
        self.p = _args.real(p, "p")
        if not 0 <= self.p <= 1:
            raise _core.Error(f"p: must be a probability in [0, 1], got {self.p!r}")

    def _members(self):
        return {"p": self.p}


class LayerNorm(Layer):
    """Normalisation over the trailing ``normalized_shape`` of each example."""

    _type = "LayerNorm"

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True):
        shape = [normalized_shape] if isinstance(normalized_shape, (int, np.integer)) else normalized_shape
        self.normalized_shape = _shape(shape, "normalized_shape")
        self.eps, self.elementwise_affine = _args.real(eps, "eps"), bool(elementwise_affine)

    def _members(self):
        return {"normalized_shape": self.normalized_shape, "eps": self.eps,
                "elementwise_affine": self.elementwise_affine}


def _activation(name, doc):
    return type(name, (Layer,), {"_type": name, "__doc__": doc, "__init__": lambda self: None})


ReLU = _activation("ReLU", "max(x, 0).")
Tanh = _activation("Tanh", "tanh(x).")
Sigmoid = _activation("Sigmoid", "1 / (1 + exp(-x)).")
GELU = _activation("GELU", "x * Phi(x), exact (with erf).")
Softplus = _activation("Softplus", "log(1 + exp(x)).")
Identity = _activation("Identity", "x.")
Flatten = _activation("Flatten", "(N, ...) to (N, features), row-major as NumPy's reshape.")
GlobalAvgPool2d = _activation("GlobalAvgPool2d", "The mean over H and W: (N, C, H, W) to (N, C).")
LastStep = _activation("LastStep", "The last time step of a sequence: (N, T, H) to (N, H); after an LSTM or GRU "
                                   "it makes a sequence classifier.")
for _cls in (ReLU, Tanh, Sigmoid, GELU, Softplus, Identity, Flatten, GlobalAvgPool2d, LastStep):
    _cls.__module__ = __name__


class LeakyReLU(Layer):
    """x for x > 0, else negative_slope * x."""

    _type = "LeakyReLU"

    def __init__(self, negative_slope=0.01):
        self.negative_slope = _args.real(negative_slope, "negative_slope")

    def _members(self):
        return {"negative_slope": self.negative_slope}


class MaxPool2d(Layer):
    """The maximum over windows of ``kernel_size`` (stride: the kernel's by default)."""

    _type = "MaxPool2d"

    def __init__(self, kernel_size, stride=None):
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")

    def _members(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride}


class AvgPool2d(Layer):
    """The mean over windows of ``kernel_size`` (stride: the kernel's by default)."""

    _type = "AvgPool2d"

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride")
        self.padding = _pair(padding, "padding")

    def _members(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}


class _Recurrent(Layer):
    def __init__(self, input_size, hidden_size, batch_first=True):
        if not batch_first:
            raise _core.Error("batch_first: sequences are (batch, time, features); only batch_first=True is offered")
        self.input_size, self.hidden_size = _size(input_size, "input_size"), _size(hidden_size, "hidden_size")

    def _members(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size, "batch_first": True}


class LSTM(_Recurrent):
    """A long short-term memory layer over (batch, time, input_size)
    sequences; outputs (batch, time, hidden_size), every step's hidden state
    (Hochreiter & Schmidhuber 1997; gates as PyTorch's, forget-gate bias 1).
    :meth:`run` also takes an initial state and returns the final one."""

    _type = "LSTM"

    def run(self, x, state=None):
        """``(outputs, (h, c))``: every hidden state (batch, time,
        hidden_size) and the final hidden and cell states (batch,
        hidden_size), from ``state = (h0, c0)`` (zeros when None). PyTorch's
        ``output, (h_n, c_n)`` with batch first and no layer axis."""
        h0 = c0 = None
        if state is not None:
            try:
                h0, c0 = state
            except (TypeError, ValueError):
                raise _core.Error("state: expected a pair (h0, c0) of arrays (batch, hidden_size)") from None
            h0, c0 = as_float32(h0, "h0"), as_float32(c0, "c0")
        r = self._model.call("run_sequence", x=as_float32(x, "x"), h0=h0, c0=c0)
        return to_numpy(r["y"]), (to_numpy(r["h"]), to_numpy(r["c"]))


class GRU(_Recurrent):
    """A gated recurrent unit layer over (batch, time, input_size) sequences;
    outputs (batch, time, hidden_size) (Cho et al. 2014; PyTorch's equations).
    :meth:`run` also takes an initial state and returns the final one."""

    _type = "GRU"

    def run(self, x, h0=None):
        """``(outputs, h)``: every hidden state (batch, time, hidden_size) and
        the final one (batch, hidden_size), from ``h0`` (zeros when None)."""
        h0 = None if h0 is None else as_float32(h0, "h0")
        r = self._model.call("run_sequence", x=as_float32(x, "x"), h0=h0)
        return to_numpy(r["y"]), to_numpy(r["h"])


class ResNet12(Layer):
    """ResNet-12 of Lee et al. (CVPR 2019) and Tian et al. (ECCV 2020): four
    residual blocks of three 3x3 convolutions (batch norm, leaky ReLU 0.1)
    with a 1x1 shortcut and a 2x2 max-pool, widths 64-160-320-640 (about
    12.4M parameters) times ``width``, then global average pooling and, with
    ``outputs``, a linear head.

        >>> ResNet12(width=0.25, outputs=5).num_parameters
        779461
    """

    _type = "ResNet12"

    def __init__(self, in_channels=3, width=1.0, outputs=None, seed=0):
        self.in_channels = _size(in_channels, "in_channels")
        self.width = _args.real(width, "width")
        if not (self.width > 0 and math.isfinite(self.width)):
            raise _core.Error(f"width: must be finite and > 0, got {width}")
        self.outputs = None if outputs is None else _size(outputs, "outputs")
        self.widths = [max(1, int(math.floor(float(np.float32(w) * np.float32(self.width)) + 0.5)))
                       for w in (64, 160, 320, 640)]
        self._seed = seed

    def _members(self):
        return {"in_channels": self.in_channels, "widths": self.widths, "outputs": self.outputs}

    def __repr__(self):
        return f"ResNet12(in_channels={self.in_channels}, width={self.width}, outputs={self.outputs}, seed={self._seed})"


def from_description(description, engine=None):
    """The model a description spells (a dict, or JSON text as
    ``describe()``/``description()`` and saved files give it): layers,
    presets included. With ``engine`` (an engine model, e.g. one read from a
    file) the model holds that object's parameters instead of fresh ones."""
    if isinstance(description, str):
        try:
            d = json.loads(description)
        except ValueError as exc:
            raise _core.Error(f"description: not JSON ({exc})") from None
    else:
        d = description
    model = _build(d, "description")
    if engine is not None:
        model._model = engine
    return model


def _build(d, path):
    from . import nn as _nn

    if not isinstance(d, dict) or not isinstance(d.get("type"), str):
        raise _core.Error(f"{path}: expected an object with a \"type\", got {_args.shown(d)}")
    kind, members = d["type"], {k: v for k, v in d.items() if k != "type"}
    try:
        if kind == "Sequential":
            parts = [_build(p, f"{path}.layers[{i}]") for i, p in enumerate(members.get("layers", []))]
            names = members.get("names")
            return Sequential(**dict(zip(names, parts))) if names else Sequential(*parts)
        if kind == "Residual":
            shortcut = members.get("shortcut")
            return Residual(_build(members["body"], f"{path}.body"),
                            None if shortcut is None else _build(shortcut, f"{path}.shortcut"))
        if kind == "ResNet12":
            model = ResNet12.__new__(ResNet12)
            model.in_channels, model.widths, model.outputs = members["in_channels"], list(members["widths"]), members["outputs"]
            model.width, model._seed = model.widths[0] / 64, 0
            return model
        if kind in ("MLP", "Conv4"):
            cls = getattr(_nn, kind)
            model = cls.__new__(cls)
            if kind == "MLP":
                model._sizes, model._activation, model._seed = list(members["sizes"]), members["activation"], 0
            else:
                for key in ("in_channels", "hidden", "blocks", "outputs", "image_size"):
                    setattr(model, "_" + key, members[key])
                model._track_running_stats = bool(members.get("track_running_stats", False))
                model._momentum = float(members.get("momentum", 0.1))
                model._seed = 0
            return model
        cls = _TYPES.get(kind)
        if cls is None:
            raise _core.Error(f"{path}: unknown layer type {kind!r}")
        return cls(**members)
    except (KeyError, TypeError) as exc:
        raise _core.Error(f"{path} ({kind}): does not fit the layer's arguments ({exc})") from None


_TYPES = {cls._type: cls for cls in (Linear, CosineLinear, Conv2d, BatchNorm1d, BatchNorm2d, LayerNorm, ReLU, LeakyReLU, Tanh, Sigmoid,
                                     GELU, Softplus, Identity, MaxPool2d, AvgPool2d, GlobalAvgPool2d, Flatten, Dropout,
                                     LSTM, GRU, LastStep)}
