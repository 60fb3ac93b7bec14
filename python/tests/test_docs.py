"""The examples in the docstrings run and print what they show."""
import doctest

import pytest

import metaswift
from metaswift import _arrays, nn


@pytest.mark.parametrize("module", [metaswift, nn, _arrays], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    import numpy as np

    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_objects_say_what_they_are():
    model = nn.MLP([2, 3], activation="tanh", seed=9)
    assert repr(model) == "MLP(sizes=[2, 3], activation='tanh', seed=9, parameters=9)"
    assert repr(model._model.get_parameter(0)) == "<metaswift._core.Tensor float32 shape=(2, 3)>"
    assert "Finn" in nn.MLP.__doc__ and "Example" in nn.MLP.__doc__
