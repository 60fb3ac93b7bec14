"""Task arrays go in as NumPy users expect: float32 C-contiguous arrays are
read in place (no copy), anything else numeric is converted once and gives
the same result; outputs are arrays."""
import sys

import numpy as np
import pytest

import metaswift as ms
from metaswift import _core


def address(a):
    return a.__array_interface__["data"][0]


def sinusoid_tasks(count=3, seed=1):
    taskset = ms.data.Sinusoid(shots=5, queries=7, seed=seed)
    return [tuple(np.array(a) for a in taskset.sample()) for _ in range(count)]


def classification_tasks(count=2):
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(6, 2)).astype(np.float32), rng.integers(0, 3, 6),
             rng.normal(size=(4, 2)).astype(np.float32), rng.integers(0, 3, 4)) for _ in range(count)]


@pytest.fixture
def maml():
    return ms.MAML(ms.nn.MLP([1, 8, 8, 1], activation="tanh", seed=0), inner_lr=0.1, inner_steps=2)


class Recorder:
    """Stands in for the engine learner and records what the Python layer hands it."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def call(self, method, **arguments):
        self.calls.append((method, arguments))
        return self.inner.call(method, **arguments)


def test_float32_c_contiguous_tasks_reach_the_engine_without_a_copy(maml):
    tasks = sinusoid_tasks()
    recorder = maml._learner = Recorder(maml._learner)
    maml.meta_loss_and_grad(tasks)
    ((method, passed),) = recorder.calls
    assert method == "meta_loss_and_grad"
    # The Python layer hands over the caller's own arrays...
    fields = ("x_support", "y_support", "x_query", "y_query")
    assert all(passed[f][i] is t[k] for i, t in enumerate(tasks) for k, f in enumerate(fields))
    # ...and the extension lends the engine exactly their memory.
    lent = _core._lent_addresses(**passed)
    assert sorted(lent) == sorted(address(a) for t in tasks for a in t)


def test_adapt_hands_over_the_callers_arrays(maml):
    x, y, _, _ = sinusoid_tasks(1)[0]
    recorder = maml._learner = Recorder(maml._learner)
    maml.adapt(x, y)
    method, passed = recorder.calls[0]
    assert method == "adapt" and passed["x"] is x and passed["y"] is y
    assert _core._lent_addresses(x=x, y=y) == [address(x), address(y)]


def test_the_engine_keeps_no_reference_to_task_arrays(maml):
    tasks = sinusoid_tasks()
    counts = [sys.getrefcount(a) for t in tasks for a in t]
    maml.meta_loss_and_grad(tasks)
    maml.adapt(tasks[0][0], tasks[0][1])
    assert [sys.getrefcount(a) for t in tasks for a in t] == counts


def test_converted_inputs_give_the_same_result(maml):
    tasks = sinusoid_tasks()
    loss, grads = maml.meta_loss_and_grad(tasks)
    variants = {
        "float64": [tuple(a.astype(np.float64) for a in t) for t in tasks],
        "strided": [tuple(np.repeat(a, 2, axis=0)[::2] for a in t) for t in tasks],
        "lists": [tuple(a.tolist() for a in t) for t in tasks],
        "lists of tasks as lists": [list(t) for t in tasks],
    }
    assert not variants["strided"][0][0].flags.c_contiguous
    for name, variant in variants.items():
        other_loss, other_grads = maml.meta_loss_and_grad(variant)
        assert other_loss == loss, name
        for g, h in zip(grads, other_grads):
            np.testing.assert_array_equal(g, h, err_msg=name)


def test_integer_and_fortran_order_inputs_are_converted():
    learner = ms.MAML(ms.nn.MLP([2, 4, 1], seed=0))
    x = np.arange(8).reshape(4, 2)
    y = np.arange(4).reshape(4, 1)
    reference = learner.meta_loss_and_grad([tuple(a.astype(np.float32) for a in (x, y, x, y))])
    fortran = np.asfortranarray(x.astype(np.float32))
    assert not fortran.flags.c_contiguous
    for variant in [(x, y, x, y), (fortran, y, fortran, y)]:
        loss, grads = learner.meta_loss_and_grad([variant])
        assert loss == reference[0]
        for g, h in zip(grads, reference[1]):
            np.testing.assert_array_equal(g, h)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.float64])
def test_class_labels_in_any_integer_dtype(dtype):
    learner = ms.MAML(ms.nn.MLP([2, 8, 3], seed=0), inner_lr=0.5, loss="cross_entropy")
    tasks = classification_tasks()
    reference = learner.meta_loss_and_grad([(xs, ys.astype(np.float32), xq, yq.astype(np.float32))
                                            for xs, ys, xq, yq in tasks])
    loss, grads = learner.meta_loss_and_grad([(xs, ys.astype(dtype), xq, yq.astype(dtype))
                                              for xs, ys, xq, yq in tasks])
    assert loss == reference[0]
    # Labels as a column (n, 1) are accepted too.
    column = learner.meta_loss_and_grad([(xs, ys.reshape(-1, 1), xq, yq.reshape(-1, 1)) for xs, ys, xq, yq in tasks])
    assert column[0] == loss


def test_outputs_are_arrays_shaped_like_the_parameters(maml):
    loss, grads = maml.meta_loss_and_grad(sinusoid_tasks())
    assert isinstance(loss, float)
    assert [g.shape for g in grads] == [p.shape for p in maml.model.parameters()]
    assert all(isinstance(g, np.ndarray) and g.dtype == np.float32 for g in grads)


def test_meta_parameters_are_the_models_then_the_learners_own():
    model = ms.nn.MLP([1, 4, 1], seed=0)
    for learner, extra in [(ms.MAML(model), 0), (ms.MetaSGD(model), 4), (ms.ANIL(model), 0), (ms.Reptile(model), 0)]:
        params = learner.parameters()
        assert len(params) == 4 + extra
        for p, q in zip(params, model.parameters()):
            np.testing.assert_array_equal(p, q)
    rates = ms.MetaSGD(model, inner_lr=0.03).learning_rates
    assert [r.shape for r in rates] == [p.shape for p in model.parameters()]
    assert all(np.all(r == np.float32(0.03)) for r in rates)


def test_the_learner_refers_to_the_model_it_was_given(maml):
    new = [np.full(p.shape, 0.5, np.float32) for p in maml.model.parameters()]
    maml.model.set_parameters(new)
    for p, q in zip(maml.parameters(), new):
        np.testing.assert_array_equal(p, q)


def test_sample_returns_four_float32_arrays_from_a_seeded_stream():
    a, b = ms.data.Sinusoid(shots=4, queries=6, seed=3), ms.data.Sinusoid(shots=4, queries=6, seed=3)
    first, second = a.sample(), a.sample()
    assert [x.shape for x in first] == [(4, 1), (4, 1), (6, 1), (6, 1)]
    assert all(x.dtype == np.float32 for x in first)
    assert not np.array_equal(first[0], second[0])
    for x, y in zip(first, b.sample()):
        np.testing.assert_array_equal(x, y)
    x_s, y_s, _, _ = first
    amplitude = np.abs(y_s).max()
    assert np.all(np.abs(x_s) <= 5) and amplitude <= 5


def test_sinusoid_ranges_are_honoured():
    taskset = ms.data.Sinusoid(shots=50, queries=50, amplitude=(2.0, 2.0), phase=(0.0, 0.0), x_range=(0.0, 1.0))
    x, y, _, _ = taskset.sample()
    assert np.all((x >= 0) & (x <= 1))
    np.testing.assert_allclose(y, 2 * np.sin(x), rtol=1e-5, atol=1e-6)
