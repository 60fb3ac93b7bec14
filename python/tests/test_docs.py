"""The examples in the docstrings run and print what they show."""
import doctest

import pytest

import metaswift
from metaswift import _arrays, data, history, learned, learners, nn, optim


@pytest.mark.parametrize("module", [metaswift, nn, _arrays, data, optim, history, learners, learned],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module):
    import numpy as np

    result = doctest.testmod(module, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_objects_say_what_they_are():
    model = nn.MLP([2, 3], activation="tanh", seed=9)
    assert repr(model) == "MLP(sizes=[2, 3], activation='tanh', seed=9, parameters=9)"
    assert repr(model._model.call("parameter", index=0)["value"]) == "<metaswift._core.Tensor float32 shape=(2, 3)>"
    assert repr(model._model) == "<metaswift._core.Object model>"
    assert "Finn" in nn.MLP.__doc__ and "Example" in nn.MLP.__doc__


@pytest.mark.parametrize("learner, paper", [
    (lambda m: metaswift.MAML(m), "Finn, Abbeel & Levine, ICML 2017"),
    (lambda m: metaswift.MAML(m, first_order=True), "FOMAML, Finn, Abbeel & Levine, ICML 2017"),
    (lambda m: metaswift.MetaSGD(m), "Li, Zhou, Chen & Li, 2017"),
    (lambda m: metaswift.ANIL(m), "Raghu, Raghu, Bengio & Vinyals, ICLR 2020"),
    (lambda m: metaswift.Reptile(m), "Nichol, Achiam & Schulman, 2018"),
])
def test_learners_say_what_they_are_and_cite_their_paper(learner, paper):
    obj = learner(nn.MLP([1, 4, 1], seed=0))
    text = repr(obj)
    assert text.startswith(type(obj).__name__ + "(model=MLP(sizes=[1, 4, 1]")
    assert "inner_lr=" in text and "inner_steps=" in text and text.endswith("# " + paper)
    doc = type(obj).__doc__
    assert "Example" in doc and "References" in doc and paper.split(",")[-2].split()[-1] in doc


def test_data_and_optimizers_say_what_they_are():
    assert repr(data.Sinusoid(5, 10, seed=3)) == ("Sinusoid(shots=5, queries=10, amplitude=(0.1, 5.0), "
                                                  "phase=(0.0, 3.141592653589793), x_range=(-5.0, 5.0), seed=3)")
    assert repr(optim.SGD(lr=0.1)) == "SGD(lr=0.1, momentum=0.0, nesterov=False)"
    assert repr(metaswift.Reptile(nn.MLP([1, 2], seed=0))).count("epsilon=0.1") == 1
