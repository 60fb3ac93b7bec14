"""Transfer learning: pre-train a network on many labelled classes at once,
then transfer its encoder to new classes.

- :class:`Pretrainer`: supervised pre-training of any encoder with a linear
  head (Baseline) or a cosine head (Baseline++), in mini-batches and epochs,
  natively, with running batch-norm statistics where the encoder keeps them.
- :func:`with_head`: a pre-trained encoder with a fresh N-way head, to start
  MAML, FOMAML, Meta-SGD or ANIL from (ProtoNet takes the encoder itself).
- The fine-tuning protocols (a new head on frozen features, logistic
  regression, the whole network fine-tuned) are learners like the others:
  ``ms.Baseline``, ``ms.LogisticProbe``, ``ms.FineTune``.

Example (Chen et al.'s Baseline on Omniglot, see ``examples/transfer_omniglot.py``)::

    train = ms.data.Omniglot(root, subset="trainval")           # 4800 classes with rotations
    encoder = ms.nn.Conv4(track_running_stats=True, seed=0)
    pre = ms.transfer.Pretrainer(encoder, classes=train.num_classes)
    pre.fit(train.images, train.labels, epochs=5, batch_size=16)  # Adam(1e-3)
    ms.save(encoder, "encoder.safetensors")
"""
import time
import warnings

import numpy as np

from . import _args, _core, distributed, optim
from ._arrays import as_float32, read_array, zeros
from .data import as_labels
from .history import History
from .learners import _core_model, _next_chunk, _progress_bar, _steps_done
from .nn import Conv4, Layer
from .layers import CosineLinear, Linear, Sequential

__all__ = ["Pretrainer", "with_head", "embedding_size"]

HEADS = ("linear", "cosine")


def _batch(images):
    """``images`` as float32 with at least one axis (the batch's), and the array it was read from."""
    source = read_array(images, "images")
    x = as_float32(source, "images")
    if x.ndim == 0:
        raise _core.Error("images: expected a batch of examples (n, ...), got a scalar")
    return x, source


def embedding_size(encoder, example=None):
    """The number of features ``encoder`` outputs per example: a Conv4's
    ``embedding_size``, a model's declared output shape, or (given one
    ``example`` input, shaped as a batch of it) measured by a forward pass."""
    _core_model(encoder, "encoder")
    if isinstance(encoder, Conv4):
        return encoder.embedding_size if encoder.outputs is None else encoder.outputs
    if isinstance(encoder, Layer) and encoder._input_shape is not None:
        shape = encoder.output_shape()
        return int(np.prod(shape))
    if example is not None:
        x, _ = _batch(example)
        y = encoder.forward(x[:2] if len(x) >= 2 else x)
        return int(np.prod(y.shape[1:]))
    raise _core.Error("encoder: its output size is unknown; build it with input_shape=... or pass features=")


class Pretrainer:
    """Supervised pre-training of an encoder on all the classes of a labelled
    dataset at once (the "Baseline" of Chen et al., ICLR 2019).

    The network is ``encoder`` followed by a new head with one output per
    class: ``head="linear"`` (Baseline: ``Linear``, its bias starting at zero
    as in the official code) or ``"cosine"`` (Baseline++:
    :class:`~metaswift.nn.CosineLinear`, scaled cosines to weight-normalised
    class vectors; ``scale`` defaults to the official 2 up to 200 classes and
    10 beyond). ``fit`` trains both in place, so afterwards ``encoder`` is the
    pre-trained encoder, ready for ``ms.Baseline``, ``ms.ProtoNet``,
    :func:`with_head` or ``ms.save``.

    An encoder whose batch norm tracks running statistics
    (``ms.nn.Conv4(track_running_stats=True)``, ``BatchNorm2d(...,
    track_running_stats=True)``) updates them during ``fit``; transfer then
    extracts features with them, as PyTorch's eval mode does.

    Args:
        encoder: a metaswift.nn model mapping examples to features.
        classes: the number of classes (labels are 0 .. classes - 1).
        head: ``"linear"`` or ``"cosine"``.
        scale: the cosine head's scale (``head="cosine"`` only).
        features: the encoder's output size, when it cannot be read from the
            model (see :func:`embedding_size`); found at the first ``fit``
            otherwise.
        seed: the seed of the head's initial parameters.

    Attributes:
        encoder, head: the two models (``head`` is an ``ms.nn`` layer).
        history: the last ``fit``'s :class:`~metaswift.History` (one loss per
            mini-batch).

    References:
        Chen, Liu, Kira, Wang, Huang. A Closer Look at Few-shot
        Classification. ICLR 2019. https://arxiv.org/abs/1904.04232
    """

    def __init__(self, encoder, classes, head="linear", scale=None, features=None, seed=0):
        _core_model(encoder, "encoder")
        self.encoder = encoder
        self.classes = _args.count(classes, "classes")
        self.head_kind = _args.choice(head, "head", HEADS)
        if scale is not None and self.head_kind != "cosine":
            raise _core.Error("scale: only the cosine head has a scale")
        self.scale = None if scale is None else _args.real(scale, "scale")
        self.seed = seed
        self.history = None
        self.head = None
        if features is not None:
            self._make_head(_args.count(features, "features"))
        else:
            try:
                self._make_head(embedding_size(encoder))
            except _core.Error:
                pass  # measured on the first fit's images

    def _make_head(self, features):
        if self.head_kind == "linear":
            head = Linear(features, self.classes)
        else:
            head = CosineLinear(features, self.classes, scale=self.scale)
        head._seed = self.seed
        head._model  # built now, with its seed
        if self.head_kind == "linear":
            w, b = head.parameters()
            head.set_parameters([w, np.zeros_like(b)])  # the official Baseline starts its bias at zero
        self.head = head

    _trainer = None
    _run = None

    def fit(self, images, labels, epochs=5, batch_size=16, optimizer=None, seed=0, drop_last=False, progress=True,
            resume=False, comm=None, micro_batches=None):
        """Trains the encoder and the head on ``(images, labels)``: ``epochs``
        passes in mini-batches of ``batch_size``, each epoch in a new order
        drawn from ``seed``, minimising the mean softmax cross-entropy with
        ``optimizer`` (default ``Adam(lr=1e-3)``, Chen et al.'s). The last,
        smaller batch of an epoch is kept unless ``drop_last``. Runs natively,
        many mini-batches per call and without the GIL; Ctrl-C stops it with
        the models holding the last step's values. The same seed, models and
        data give the same result, bit for bit.

        Args:
            images: ``(n, ...)`` examples the encoder takes (copied once into
                the engine as float32).
            labels: ``(n,)`` integer classes in ``0 .. classes - 1``.
            resume: carry on the previous ``fit``'s run for ``epochs`` more
                epochs: its optimizer state, its generator (the epochs' orders)
                and its data (pass the same ``images`` and ``labels`` objects),
                with ``optimizer``, ``batch_size``, ``drop_last`` and ``seed``
                left as they were. Splitting a run into resumed calls gives
                the same bits as one call.
            comm: an mpi4py communicator (``MPI.COMM_WORLD``) whose ranks
                share every mini-batch: each computes its micro-batches and
                all update alike (see :mod:`metaswift.distributed`). Every
                rank passes the same data; rank 0 alone shows progress.
            micro_batches: each mini-batch is cut into this many
                micro-batches (default: one, or one per rank with ``comm``),
                each a forward of its own (batch norm takes its statistics,
                as in data-parallel training), their gradients and running
                statistics averaged by size. A run on any number of ranks
                gives the same bits as one process with the same
                ``micro_batches``.

        Returns:
            a :class:`~metaswift.History` with the loss of every mini-batch
            (also ``self.history``).
        """
        epochs = _args.count(epochs, "epochs", minimum=0)
        comm = None if comm is None else distributed.check_comm(comm)
        if micro_batches is not None:
            micro_batches = _args.count(micro_batches, "micro_batches", minimum=1)
        if _args.flag(resume, "resume"):
            if micro_batches is not None:
                raise _core.Error("micro_batches: resume=True carries on with the previous fit's micro-batches")
            if self._trainer is None:
                raise _core.Error("resume: this pretrainer has no previous fit to carry on from")
            if images is not self._run[0] or labels is not self._run[1]:
                raise _core.Error("resume: carries on the previous fit on its data; pass the same images and labels "
                                  "objects")
            trainer = self._trainer
        else:
            x, source = _batch(images)
            y = as_labels(labels, "labels")
            if len(y) != len(x):
                raise _core.Error(f"labels: has {len(y)} entries but images has {len(x)} examples")
            if len(y) and int(y.max()) >= self.classes:
                raise _core.Error(f"labels: class {int(y.max())} is not below classes={self.classes}")
            batch_size = _args.count(batch_size, "batch_size")
            drop_last = _args.flag(drop_last, "drop_last")
            if self.head is None:
                self._make_head(embedding_size(self.encoder, x))
            engine_optimizer = optim.engine(optim.Adam(lr=1e-3) if optimizer is None else optimizer, "optimizer")
            tensor = _core.Tensor(x, copy=x is source)
            if micro_batches is None:
                micro_batches = 1 if comm is None else min(comm.Get_size(), batch_size)
            trainer = _core.new("pretrainer", encoder=self.encoder._model, head=self.head._model, images=tensor,
                                labels=y, optimizer=engine_optimizer, batch_size=batch_size, drop_last=drop_last,
                                seed=seed, micro_batches=micro_batches)
            self._trainer, self._run = trainer, (images, labels)
        per_epoch = trainer.call("batches_per_epoch")["batches"]
        steps = epochs * per_epoch
        losses = zeros(steps, "epochs")
        if comm is not None:
            distributed._check_same(comm, pretrainer=repr(self), epochs=epochs, steps=steps, seed=seed,
                                    optimizer=repr(optimizer), resume=resume, micro_batches=micro_batches,
                                    data=distributed._digest([np.asarray(images), np.asarray(labels)]),
                                    parameters=distributed._digest(self.encoder.parameters() + self.head.parameters()))
        bar = _progress_bar(steps, progress and steps > 0 and distributed.is_root(comm), unit="batch",
                            desc="pre-training")
        before = trainer.call("steps")["steps"]  # a resumed run's count goes on from the last fit
        done, chunk = 0, 1
        run = distributed._stepper(trainer, comm)
        try:
            while done < steps:
                n = min(chunk, steps - done)
                start = time.perf_counter()
                try:
                    losses[done:done + n] = run(n)
                except _core.Error as error:
                    done = _steps_done(trainer, losses, done, before)
                    error.history = self.history = History(losses[:done].copy(), interrupted=True)
                    raise
                done += n
                elapsed = time.perf_counter() - start
                chunk = _next_chunk(n, elapsed)
                if bar is not None:
                    bar.update(n)
                    bar.set_postfix(epoch=f"{done / per_epoch:.2f}", loss=f"{losses[done - n:done].mean():.4g}")
        except KeyboardInterrupt:
            done = _steps_done(trainer, losses, done, before)
            self.history = History(losses[:done].copy(), interrupted=True)
            warnings.warn(f"fit interrupted after {done} of {steps} mini-batches; the encoder and head hold the "
                          f"values of step {done}", stacklevel=2)
            raise
        finally:
            if bar is not None:
                bar.close()
        self.history = History(losses)
        return self.history

    def logits(self, images, batch_size=256):
        """The network's logits ``(n, classes)`` for ``images``, in inference
        (running batch-norm statistics where the encoder keeps them)."""
        x, _ = _batch(images)
        batch_size = _args.count(batch_size, "batch_size")
        if self.head is None:
            raise _core.Error("logits: the head is made by the first fit (or give features= when constructing)")
        parts = [self.head.forward(self.encoder.forward(x[i:i + batch_size]))
                 for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.classes), np.float32)

    def accuracy(self, images, labels, batch_size=256):
        """Top-1 accuracy of the network on ``(images, labels)``, in inference."""
        y = as_labels(labels, "labels")
        z = self.logits(images, batch_size)
        if len(y) != len(z):
            raise _core.Error(f"labels: has {len(y)} entries but images has {len(z)} examples")
        return float((z.argmax(axis=1) == y).mean()) if len(y) else float("nan")

    def __repr__(self):
        return (f"Pretrainer(encoder={self.encoder!r}, classes={self.classes}, head={self.head_kind!r}"
                + (f", scale={self.head.scale}" if self.head_kind == "cosine" and self.head is not None else "")
                + ")  # Chen, Liu, Kira, Wang & Huang, ICLR 2019")


def with_head(encoder, outputs, seed=0):
    """A new model: ``encoder`` (its current parameters and running
    statistics, copied) followed by a fresh linear head with ``outputs``
    classes, drawn with ``seed``. For meta-training from a pre-trained
    encoder with MAML, FOMAML, Meta-SGD or ANIL (whose default head is this
    one); ``encoder`` itself is not changed. A ``Conv4`` gives a ``Conv4``
    with ``outputs`` (its fused kernels), any other model a
    ``Sequential(encoder, Linear)``."""
    _core_model(encoder, "encoder")
    outputs = _args.count(outputs, "outputs")
    if isinstance(encoder, Conv4):
        if encoder.outputs is not None:
            raise _core.Error("encoder: this Conv4 already has a head (outputs is set); pass an encoder")
        model = Conv4(encoder.in_channels, encoder.hidden, encoder.blocks, outputs, encoder.image_size, seed=seed,
                      track_running_stats=encoder.track_running_stats, momentum=encoder.momentum)
    elif isinstance(encoder, Layer):
        features = embedding_size(encoder)
        model = Sequential(encoder, Linear(features, outputs), seed=seed,
                           input_shape=encoder._input_shape)
    else:
        raise _core.Error(f"encoder: expected an ms.nn.Conv4 or a model built from ms.nn layers, "
                          f"got {type(encoder).__name__}")
    k = encoder._count()
    fresh = model.parameters()
    model.set_parameters(list(encoder.parameters()) + list(fresh[k:]))
    if encoder.buffer_names:
        model.set_buffers(list(encoder.buffers()) + list(model.buffers()[len(encoder.buffer_names):]))
    return model
