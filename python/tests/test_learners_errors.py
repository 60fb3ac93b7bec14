"""Bad input to learners, tasksets, optimizers and training never crashes:
each raises metaswift.Error whose message starts with the argument's name."""
import math

import numpy as np
import pytest

import metaswift as ms

NAN = float("nan")


@pytest.fixture
def model():
    return ms.nn.MLP([1, 8, 1], seed=0)


@pytest.fixture
def maml(model):
    return ms.MAML(model)


@pytest.fixture
def classifier():
    return ms.MAML(ms.nn.MLP([2, 4, 3], seed=0), loss="cross_entropy")


def good_task():
    return [np.ones((5, 1), np.float32), np.ones((5, 1), np.float32),
            np.ones((7, 1), np.float32), np.ones((7, 1), np.float32)]


def task_with(index, value):
    task = good_task()
    task[index] = value
    return tuple(task)


def raises(match):
    return pytest.raises(ms.Error, match=match)


@pytest.mark.parametrize("tasks, match", [
    ([task_with(0, np.ones(5, np.float32))], r"^tasks\[0\]\.x_support: expected 2 dimensions \(batch, 1\), got shape \[5\]"),
    ([task_with(0, np.ones((5, 1, 1)))], r"^tasks\[0\]\.x_support: expected 2 dimensions"),
    ([task_with(2, np.float32(1))], r"^tasks\[0\]\.x_query: expected 2 dimensions"),
    ([task_with(1, np.ones((4, 1)))], r"^tasks\[0\]\.y_support: expected shape \[5, 1\] .*got \[4, 1\]"),
    ([task_with(3, np.ones(7))], r"^tasks\[0\]\.y_query: expected shape \[7, 1\] .*got \[7\]"),
    ([task_with(3, np.ones((7, 2)))], r"^tasks\[0\]\.y_query: expected shape \[7, 1\]"),
    ([tuple(good_task()), task_with(2, np.ones((7, 2)))],
     r"^tasks\[1\]\.x_query: expected 1 features per row \(shape \(batch, 1\)\), got shape \[7, 2\]"),
    ([task_with(0, np.ones((0, 1)))], r"^tasks\[0\]\.x_support: needs at least one example, got shape \[0, 1\]"),
    ([task_with(0, np.array([[1.0], [np.nan], [1], [1], [1]]))], r"^tasks\[0\]\.x_support: element 1 is nan"),
    ([task_with(3, np.full((7, 1), np.inf))], r"^tasks\[0\]\.y_query: element 0 is inf"),
    ([task_with(0, np.full((5, 1), "a"))], r"^tasks\[0\]\.x_support: expected real numbers, got dtype <U1"),
    ([task_with(1, np.full((5, 1), None, dtype=object))], r"^tasks\[0\]\.y_support: expected real numbers, got dtype object"),
    ([task_with(3, np.ones((7, 1), complex))], r"^tasks\[0\]\.y_query: expected real numbers, got dtype complex128 \(complex\)"),
    ([task_with(2, [[1], [2, 3]])], r"^tasks\[0\]\.x_query: cannot be read as a numeric array"),
    ([], r"^tasks: need at least one task"),
    (tuple(good_task()), r"^tasks: expected a list of tasks; for one task pass \["),
    ([tuple(good_task()[:3])], r"^tasks\[0\]: expected a tuple of 4 arrays"),
    ([np.ones((4, 1))], r"^tasks\[0\]: expected a tuple of 4 arrays"),
    ([None], r"^tasks\[0\]: expected a tuple of 4 arrays"),
    ("tasks", r"^tasks: expected a list of"),
    (None, r"^tasks: expected a list of"),
    (np.ones((4, 5, 1)), r"^tasks: expected a list of"),
])
def test_bad_tasks(maml, tasks, match):
    with raises(match):
        maml.meta_loss_and_grad(tasks)


@pytest.mark.parametrize("labels, match", [
    (np.array([0, 1, 2, 3]), r"^tasks\[0\]\.y_support: label 3\.0 at index 3 is not a class index in 0\.\.<3"),
    (np.array([0, 1, 2, -1]), r"^tasks\[0\]\.y_support: label -1\.0 at index 3 is not a class index in 0\.\.<3"),
    (np.array([0, 1, 2, 1.5]), r"^tasks\[0\]\.y_support: label 1\.5 at index 3 is not a class index"),
    (np.array([0, 1, 2, 2**40]), r"^tasks\[0\]\.y_support: label 1\.0995\d*e\+12 at index 3 is not a class index"),
    (np.array([[0, 1], [2, 1]]), r"^tasks\[0\]\.y_support: expected 4 class labels, shape \[4\]"),
    (np.array([0, 1, 2]), r"^tasks\[0\]\.y_support: expected 4 class labels"),
])
def test_bad_labels(classifier, labels, match):
    x = np.zeros((4, 2), np.float32)
    with raises(match):
        classifier.meta_loss_and_grad([(x, labels, x, np.array([0, 1, 2, 2]))])


def test_bad_query_labels_are_named(classifier):
    x = np.zeros((4, 2), np.float32)
    with raises(r"^tasks\[1\]\.y_query: label 7\.0 at index 0"):
        classifier.meta_loss_and_grad([(x, [0, 1, 2, 2], x, [0, 1, 2, 2]), (x, [0, 1, 2, 2], x, [7, 1, 2, 2])])


@pytest.mark.parametrize("make, match", [
    (lambda m: ms.MAML(m, inner_lr=NAN), r"^inner_lr: must be finite and >= 0, got nan"),
    (lambda m: ms.MAML(m, inner_lr=-0.1), r"^inner_lr: must be finite and >= 0, got -0\.1"),
    (lambda m: ms.MAML(m, inner_lr=math.inf), r"^inner_lr: must be finite"),
    (lambda m: ms.MAML(m, inner_lr="0.1"), r"^inner_lr: expected a real number"),
    (lambda m: ms.MAML(m, inner_lr=1j), r"^inner_lr: expected a real number"),
    (lambda m: ms.MAML(m, inner_steps=-1), r"^inner_steps: must be in 0...10000, got -1"),
    (lambda m: ms.MAML(m, inner_steps=1.5), r"^inner_steps: expected an integer"),
    (lambda m: ms.MAML(m, inner_steps=2**63), r"^inner_steps: 9223372036854775808 is outside the int64 range"),
    (lambda m: ms.MAML(m, loss="l1"), r"^loss: expected one of 'mse', 'cross_entropy', got 'l1'"),
    (lambda m: ms.MAML(m, loss=None), r"^loss: expected one of"),
    (lambda m: ms.MAML("model"), r"^model: expected a metaswift\.nn model"),
    (lambda m: ms.MAML(m._model), r"^model: expected a metaswift\.nn model"),
    (lambda m: ms.MetaSGD(m, inner_lr=NAN), r"^inner_lr: must be finite"),
    (lambda m: ms.MetaSGD(m, inner_steps=-2), r"^inner_steps: must be in 0...10000, got -2"),
    (lambda m: ms.ANIL(m, head_parameters=0), r"^head_parameters: must be in 1\.\.\.4 \(the model has 4 parameter tensors\), got 0"),
    (lambda m: ms.ANIL(m, head_parameters=5), r"^head_parameters: must be in 1\.\.\.4"),
    (lambda m: ms.ANIL(m, inner_lr=NAN), r"^inner_lr: must be finite"),
    (lambda m: ms.Reptile(m, inner_steps=0), r"^inner_steps: must be in 1...10000, got 0"),
    (lambda m: ms.MAML(m, inner_steps=10_001), r"^inner_steps: must be in 0...10000, got 10001"),
    (lambda m: ms.Reptile(m, inner_lr=NAN), r"^inner_lr: must be finite"),
    (lambda m: ms.Reptile(m, epsilon="big"), r"^epsilon: expected a real number"),
])
def test_bad_learner_arguments(model, make, match):
    with raises(match):
        make(model)


@pytest.mark.parametrize("make, match", [
    (lambda: ms.data.Sinusoid(0, 5), r"^shots: must be > 0, got 0"),
    (lambda: ms.data.Sinusoid(5, -1), r"^queries: must be > 0, got -1"),
    (lambda: ms.data.Sinusoid(5.5, 5), r"^shots: expected an integer"),
    (lambda: ms.data.Sinusoid(5, 2**70), r"^queries: \d+ is outside the int64 range"),
    (lambda: ms.data.Sinusoid(2**40, 5), r"^shots: needs \d+ MiB, more than the \d+ MiB this process can allocate now"),
    (lambda: ms.data.Sinusoid(5, 5, amplitude=(5, 1)), r"^amplitude: lower bound 5\.0 exceeds upper bound 1\.0"),
    (lambda: ms.data.Sinusoid(5, 5, phase=(0, NAN)), r"^phase: bounds must be finite"),
    (lambda: ms.data.Sinusoid(5, 5, x_range=(-math.inf, 0)), r"^x_range: bounds must be finite"),
    (lambda: ms.data.Sinusoid(5, 5, x_range="ab"), r"^x_range: expected a pair \(low, high\)"),
    (lambda: ms.data.Sinusoid(5, 5, amplitude=(1, 2, 3)), r"^amplitude: expected a pair"),
    (lambda: ms.data.Sinusoid(5, 5, seed=-1), r"^seed: expected an integer in \[0, 2\*\*64\)"),
    (lambda: ms.optim.SGD(lr=NAN), r"^lr: must be finite and >= 0, got nan"),
    (lambda: ms.optim.SGD(lr=-1), r"^lr: must be finite and >= 0"),
    (lambda: ms.optim.SGD(nesterov=True), r"^nesterov: needs momentum > 0"),
    (lambda: ms.optim.SGD(momentum=1.0), r"^momentum: must be in \[0, 1\), got 1\.0"),
    (lambda: ms.optim.Adam(lr="fast"), r"^lr: expected a real number"),
    (lambda: ms.optim.Adam(betas=(0.9, 1.0)), r"^betas\[1\]: must be in \[0, 1\), got 1\.0"),
    (lambda: ms.optim.Adam(betas=(NAN, 0.9)), r"^betas\[0\]: must be in \[0, 1\), got nan"),
    (lambda: ms.optim.Adam(betas=0.9), r"^betas: expected a pair"),
    (lambda: ms.optim.Adam(eps=-1e-8), r"^eps: must be finite and >= 0"),
    (lambda: ms.optim.AdamW(weight_decay=-1), r"^weight_decay: must be finite and >= 0"),
    (lambda: ms.optim.Adagrad(initial_accumulator_value=-1), r"^initial_accumulator_value: must be finite and >= 0"),
    (lambda: ms.optim.RMSprop(alpha=1.5), r"^alpha: must be in \[0, 1\), got 1\.5"),
    (lambda: ms.optim.RMSprop(momentum=-0.5), r"^momentum: must be in \[0, 1\)"),
])
def test_bad_taskset_and_optimizer_arguments(make, match):
    with raises(match):
        make()


@pytest.mark.parametrize("kwargs, match", [
    ({"steps": -1}, r"^steps: must be >= 0, got -1"),
    ({"steps": "many"}, r"^steps: expected an integer"),
    ({"meta_batch_size": 0}, r"^meta_batch_size: must be > 0, got 0"),
    ({"meta_batch_size": -3}, r"^meta_batch_size: must be > 0, got -3"),
    ({"meta_batch_size": 2**40}, r"^meta_batch_size: needs \d+ MiB, more than the \d+ MiB this process can allocate now"),
    ({"seed": -1}, r"^seed: expected an integer in \[0, 2\*\*64\)"),
    ({"seed": 2**64}, r"^seed: expected an integer"),
    ({"optimizer": "adam"}, r"^optimizer: expected a metaswift\.optim optimizer"),
])
def test_bad_fit_arguments(maml, kwargs, match):
    with raises(match):
        maml.fit(ms.data.Sinusoid(5, 5), **{"steps": 1, **kwargs})


def test_fit_refuses_what_is_not_a_taskset(maml):
    with raises(r"^taskset: expected a metaswift\.data taskset"):
        maml.fit([good_task()], steps=1)
    with raises(r"^taskset: expected a metaswift\.data taskset"):
        maml.evaluate("sinusoid")


def test_a_taskset_the_model_cannot_take_is_refused_before_training(classifier):
    with raises(r"^taskset: its tasks do not fit the learner \(task\.x_support: expected 2 features per row"):
        classifier.fit(ms.data.Sinusoid(5, 5), steps=1)
    with raises(r"^taskset: its tasks do not fit the learner"):
        classifier.evaluate(ms.data.Sinusoid(5, 5), tasks=3)
    wide = ms.MAML(ms.nn.MLP([1, 4, 2], seed=0))
    with raises(r"^taskset: its tasks do not fit the learner \(task\.y_support: expected shape \[5, 2\]"):
        wide.fit(ms.data.Sinusoid(5, 5), steps=1)


def test_reptile_epsilon_and_optimizer_are_exclusive(model):
    with raises(r"^epsilon: give either optimizer or epsilon, not both"):
        ms.Reptile(model).fit(ms.data.Sinusoid(5, 5), steps=1, optimizer=ms.optim.Adam(), epsilon=0.1)


@pytest.mark.parametrize("kwargs, match", [
    ({"tasks": 0}, r"^tasks: must be >= 1, got 0"),
    ({"tasks": -5}, r"^tasks: must be >= 1"),
    ({"inner_steps": -1}, r"^inner_steps: must be >= 0, got -1"),
    ({"seed": -1}, r"^seed: expected an integer"),
])
def test_bad_evaluate_arguments(maml, kwargs, match):
    with raises(match):
        maml.evaluate(ms.data.Sinusoid(5, 5), **{"tasks": 3, **kwargs})


@pytest.mark.parametrize("x, y, steps, match", [
    (np.ones((3, 2)), np.ones((3, 1)), None, r"^x: expected 1 features per row"),
    (np.ones(3), np.ones((3, 1)), None, r"^x: expected 2 dimensions"),
    (np.ones((3, 1)), np.ones(3), None, r"^y: expected shape \[3, 1\]"),
    (np.ones((3, 1)), np.ones((2, 1)), None, r"^y: expected shape \[3, 1\]"),
    (np.full((3, 1), np.nan), np.ones((3, 1)), None, r"^x: element 0 is nan"),
    (np.ones((3, 1)), np.ones((3, 1)), -1, r"^steps: must be in 0...10000, got -1"),
    (np.ones((3, 1)), np.ones((3, 1)), "2", r"^steps: expected an integer"),
    ("x", np.ones((3, 1)), None, r"^x: expected real numbers"),
])
def test_bad_adapt_arguments(maml, x, y, steps, match):
    with raises(match):
        maml.adapt(x, y, steps)


def test_bad_learning_rates(model):
    learner = ms.MetaSGD(model)
    rates = [np.full(r.shape, 0.1) for r in learner.learning_rates]
    with raises(r"^learning_rates: expected 4 arrays"):
        learner.learning_rates = rates[:3]
    with raises(r"^learning_rates\[2\] \(lr\.W2\): expected shape \[8, 1\], got \[1, 8\]"):
        learner.learning_rates = rates[:2] + [np.ones((1, 8))] + rates[3:]
    with raises(r"^learning_rates\[1\] \(lr\.b1\): element 0 is nan"):
        learner.learning_rates = [rates[0], np.full(8, np.nan)] + rates[2:]
    # All or nothing: the rates set before the failure were put back.
    assert all(np.all(r == np.float32(0.01)) for r in learner.learning_rates)


def test_freed_handles_are_reported_not_dereferenced(maml):
    maml._learner._free()
    with raises(r"^object: not a live metaswift handle"):
        maml.meta_loss_and_grad([tuple(good_task())])
    with raises(r"^object: not a live metaswift handle"):
        maml.parameters()
    with raises(r"^object: not a live metaswift handle"):
        maml._learner._free()  # a double free is detected, not performed

    learner = ms.MAML(ms.nn.MLP([1, 4, 1]))
    taskset = ms.data.Sinusoid(5, 5)
    taskset._taskset._free()
    with raises(r"^taskset: not a live metaswift handle"):
        learner.fit(taskset, steps=1)
    with raises(r"^object: not a live metaswift handle"):
        taskset.sample()
    optimizer = ms.optim.Adam()
    optimizer._optimizer._free()
    with raises(r"^optimizer: not a live metaswift handle"):
        learner.fit(ms.data.Sinusoid(5, 5), steps=1, optimizer=optimizer)


def test_freeing_the_models_handle_leaves_the_learner_working():
    model = ms.nn.MLP([1, 4, 1], seed=0)
    learner = ms.MAML(model)
    model._model._free()
    loss, _ = learner.meta_loss_and_grad([tuple(good_task())])
    assert np.isfinite(loss)
    with raises(r"^object: not a live metaswift handle"):
        model.parameters()


def test_a_diverging_run_stops_with_an_error_and_keeps_finite_parameters():
    model = ms.nn.MLP([1, 40, 40, 1], seed=0)
    learner = ms.MAML(model, inner_lr=0.01)
    with pytest.raises(ms.Error, match=r"^meta-(loss|gradient|parameters) became .* at step \d+; lower the learning rates") as info:
        learner.fit(ms.data.Sinusoid(10, 10), meta_batch_size=4, steps=50, optimizer=ms.optim.SGD(lr=1e30),
                    progress=False)
    history = info.value.history
    assert history.interrupted and len(history) < 50 and learner.history is history
    # The message says which step the model's parameters are from: the steps the history holds.
    assert f"The meta-parameters are those after step {len(history)}," in str(info.value)
    assert np.all(np.isfinite(history.losses))
    assert all(np.all(np.isfinite(p)) for p in model.parameters())


def test_a_fit_stopped_by_a_non_finite_loss_keeps_the_last_parameters_whose_loss_was_finite():
    # Adam's first step moves every weight by about lr: finite parameters
    # (~3.4e38) whose meta-loss at step 2 is not. The model must not keep them.
    model = ms.nn.MLP([1, 8, 1], seed=0)
    start = [p.copy() for p in model.parameters()]
    learner = ms.MAML(model, inner_lr=0.01)
    with pytest.raises(ms.Error, match=r"^meta-loss became \S+ at step 2; lower the learning rates\. The "
                                       r"meta-parameters are those after step 0, the last whose meta-loss was finite"
                       ) as info:
        learner.fit(ms.data.Sinusoid(5, 5), meta_batch_size=2, steps=5, optimizer=ms.optim.Adam(lr=3.4e38),
                    progress=False)
    for p, q in zip(model.parameters(), start):
        np.testing.assert_array_equal(p, q)
    assert len(info.value.history) == 0 and info.value.history.interrupted
    # The run can go on from there, with a sane rate, as a resumed fit.
    learner.fit(ms.data.Sinusoid(5, 5), meta_batch_size=2, steps=2, progress=False)
    assert all(np.all(np.isfinite(p)) for p in model.parameters())
