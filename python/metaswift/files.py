"""Saving and loading: every object as one safetensors file.

``ms.save(obj, path)`` writes a model (its description, parameters and
running statistics); ``ms.load(path)`` rebuilds it with no code from the
user. The file is written atomically (a temporary file beside it, synced,
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
import os

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
    """Writes ``obj`` (a model from ``ms.nn``) to ``path`` as one
    safetensors file, atomically. Returns the path."""
    target = _path(path)
    if isinstance(obj, Module):
        obj._model.call("save", path=target)
        return path
    raise _core.Error(f"obj: cannot save a {type(obj).__name__}; expected a metaswift.nn model")


def load(path):
    """The object saved in ``path``, rebuilt: a model of the class it was
    saved from (a ``Sequential``, ``Conv4``, ``ResNet12``...) holding the saved
    parameters and buffers."""
    from .layers import from_description

    r = _core.call("load", path=_path(path))
    if r["kind"] == "model":
        model = from_description(r["description"], engine=r["object"])
        if "input_shape" in r:
            model._input_shape = tuple(int(d) for d in np.asarray(r["input_shape"]))
        return model
    raise _core.Error(f"{path}: holds a {r['kind']!r}, which this package cannot rebuild")
