"""Saving and loading: every object as one safetensors file.

``ms.save(obj, path)`` writes a model (its description, parameters and
running statistics), a learner (its hyper-parameters, model and own
meta-parameters) or an optimizer (rule, hyper-parameters, schedule);
``ms.load(path)`` rebuilds it with no code from the user. The file is written atomically (a temporary file beside it, synced,
then renamed: a crash mid-write leaves the old file whole) and holds no
pickle. Tensors are stored under PyTorch's names and layouts (Linear
``weight`` as (out, in), convolutions (O, I, kH, kW), batch norm
``weight``/``bias``/``running_mean``/``running_var``), so a model file is
also a PyTorch state_dict::

    >>> ms.save(net, "net.safetensors")
    >>> net2 = ms.load("net.safetensors")          # the same model, the same bits
    >>> torch_net.load_state_dict(safetensors.torch.load_file("net.safetensors"))

The structure goes in the file's metadata with a format version; a file of
a newer version than this package reads is refused with a message naming
the file, as is every damaged or foreign file.
"""
import json
import os
from collections import namedtuple

import numpy as np

from . import _core
from .nn import Module


def _path(path, name="path"):
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        raise _core.Error(f"{name}: expected a file path (str or os.PathLike), got {type(path).__name__}") from None
    if not text:
        raise _core.Error(f"{name}: expected a file path, got an empty string")
    return text


def save(obj, path):
    """Writes ``obj`` to ``path`` as one safetensors file, atomically: a
    model from ``ms.nn``; a learner (its hyper-parameters, its model and its
    own meta-parameters, e.g. Meta-SGD's rates); an optimizer from
    ``ms.optim`` (its rule, hyper-parameters and schedule; a learned
    optimizer's network and trained weights). Returns the path."""
    from .learners import _EpisodeLearner
    from .optim import Optimizer

    target = _path(path)
    if isinstance(obj, Module):
        obj._model.call("save", path=target)
    elif isinstance(obj, _EpisodeLearner):
        obj._learner.call("save", path=target, attributes=json.dumps(obj._attributes()))
    elif isinstance(obj, Optimizer):
        obj._optimizer.call("save", path=target)
    else:
        raise _core.Error(f"obj: cannot save a {type(obj).__name__}; expected a metaswift.nn model, a learner "
                          f"or an ms.optim optimizer")
    return path


def load(path):
    """The object saved in ``path``, rebuilt: a model of the class it was
    saved from (a ``Sequential``, ``Conv4``, ``ResNet12``...) holding the saved
    parameters and buffers."""
    from .layers import from_description

    from . import finetune, learners, optim

    r = _core.call("load", path=_path(path))
    kind = r["kind"]
    if kind == "model" or kind.startswith("learner."):
        model = from_description(r["description"], engine=r["object" if kind == "model" else "model"])
        if "input_shape" in r:
            model._input_shape = tuple(int(d) for d in np.asarray(r["input_shape"]))
        if kind == "model":
            return model
        name = kind[len("learner."):]
        cls = getattr(learners, name, None) or getattr(finetune, name)
        arguments = _arguments(json.loads(r["recipe"]))
        return cls._from_engine(r["object"], model, arguments, json.loads(r.get("attributes", "{}")))
    if kind == "checkpoint":
        return Checkpoint(path, int(r["steps"]), int(r["meta_batch_size"]), np.array(r["losses"]))
    return optim._from_engine(r["object"], json.loads(r["recipe"]))


class Checkpoint(namedtuple("Checkpoint", "path steps meta_batch_size losses")):
    """What ``ms.load`` says about a training run's checkpoint: the steps it
    holds, its meta-batch size and the losses so far. ``fit(...,
    resume_from=path)`` continues the run itself."""


def _arguments(recipe):
    """A recipe's arguments as plain values (``{"inner_lr": {"float": 0.4}}`` to ``{"inner_lr": 0.4}``)."""
    return {name: next(iter(typed.values())) for name, typed in recipe["arguments"].items()}
