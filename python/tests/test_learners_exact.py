"""meta_loss_and_grad equals an independent NumPy reference (reference.py:
hand-written backpropagation and Hessian-vector products), for second-order
MAML, FOMAML, Meta-SGD, ANIL and Reptile, with 1 and 3 inner steps, tanh and
relu, regression and classification, tasks of equal shapes (run batched) and
of different shapes (run one by one)."""
import numpy as np
import pytest

import metaswift as ms
import reference as ref

RTOL = 1e-4


def assert_matches(got, expected, rtol=RTOL):
    """Each tensor within rtol of the reference, relative to the tensor's
    largest entry (float32 engine against a float64 reference)."""
    assert len(got) == len(expected)
    for i, (g, r) in enumerate(zip(got, expected)):
        assert g.shape == r.shape, f"gradient {i}: shape {g.shape}, expected {r.shape}"
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * np.abs(r).max(), err_msg=f"gradient {i}")


def regression_tasks(count, equal, features=1, seed=0):
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(count):
        s, q = (5, 7) if equal else (3 + i, 6 + 2 * i)
        x_s, x_q = rng.uniform(-2, 2, (s, features)), rng.uniform(-2, 2, (q, features))
        w = rng.normal(size=(features, 1))
        tasks.append(tuple(a.astype(np.float32) for a in
                           (x_s, np.sin(x_s @ w) + 0.1 * rng.normal(size=(s, 1)), x_q, np.sin(x_q @ w))))
    return tasks


def classification_tasks(count, equal, features=2, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    tasks = []
    for i in range(count):
        s, q = (6, 9) if equal else (4 + i, 5 + i)
        tasks.append((rng.normal(size=(s, features)).astype(np.float32), rng.integers(0, classes, s),
                      rng.normal(size=(q, features)).astype(np.float32), rng.integers(0, classes, q)))
    return tasks


def as64(tasks):
    return [tuple(np.asarray(a, dtype=np.float64) for a in t) for t in tasks]


def params64(learner):
    return [p.astype(np.float64) for p in learner.parameters()]


CASES = pytest.mark.parametrize("act", ["tanh", "relu"])
STEPS = pytest.mark.parametrize("steps", [1, 3])
SHAPES = pytest.mark.parametrize("equal", [True, False], ids=["batched", "per-task"])


# ---- the reference itself ---------------------------------------------------

@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@CASES
def test_reference_gradient_and_hvp_agree_with_finite_differences(act, loss):
    rng = np.random.default_rng(1)
    sizes = [2, 5, 4, 3 if loss == "cross_entropy" else 1]
    params = []
    for fan_in, fan_out in zip(sizes, sizes[1:]):
        params += [rng.normal(size=(fan_in, fan_out)) * 0.7, rng.normal(size=fan_out) * 0.3]
    x = rng.normal(size=(6, 2))
    y = rng.integers(0, 3, 6).astype(float) if loss == "cross_entropy" else rng.normal(size=(6, 1))
    v = [rng.normal(size=p.shape) for p in params]
    eps = 1e-6
    plus = [p + eps * d for p, d in zip(params, v)]
    minus = [p - eps * d for p, d in zip(params, v)]
    _, g = ref.loss_and_grad(params, x, y, act, loss)
    directional = (ref.loss_and_grad(plus, x, y, act, loss)[0] - ref.loss_and_grad(minus, x, y, act, loss)[0]) / (2 * eps)
    assert directional == pytest.approx(sum(np.sum(gi * vi) for gi, vi in zip(g, v)), rel=1e-6)
    fd = [(a - b) / (2 * eps) for a, b in zip(ref.loss_and_grad(plus, x, y, act, loss)[1],
                                               ref.loss_and_grad(minus, x, y, act, loss)[1])]
    for h, f in zip(ref.hvp(params, x, y, act, v, loss), fd):
        np.testing.assert_allclose(h, f, rtol=1e-5, atol=1e-7)


def test_second_order_terms_are_large_enough_to_be_seen():
    """The tests below could not tell MAML from FOMAML if the Hessian term
    were below their tolerance: here it is three orders of magnitude above."""
    model = ms.nn.MLP([1, 8, 8, 1], activation="tanh", seed=3)
    p = params64(ms.MAML(model))
    tasks = as64(regression_tasks(4, True))
    _, second = ref.maml(p, tasks, "tanh", 0.1, 1)
    _, first = ref.maml(p, tasks, "tanh", 0.1, 1, first_order=True)
    for s, f in zip(second, first):
        assert np.abs(s - f).max() > 1e3 * RTOL * np.abs(s).max()


# ---- the learners -------------------------------------------------------------

@SHAPES
@STEPS
@CASES
@pytest.mark.parametrize("first_order", [False, True], ids=["MAML", "FOMAML"])
def test_maml(first_order, act, steps, equal):
    learner = ms.MAML(ms.nn.MLP([1, 8, 8, 1], activation=act, seed=3), inner_lr=0.1, inner_steps=steps,
                      first_order=first_order)
    tasks = regression_tasks(4, equal)
    loss, grads = learner.meta_loss_and_grad(tasks)
    expected_loss, expected = ref.maml(params64(learner), as64(tasks), act, 0.1, steps, first_order)
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_matches(grads, expected)


@SHAPES
@STEPS
@CASES
@pytest.mark.parametrize("first_order", [False, True], ids=["second-order", "first-order"])
def test_metasgd(first_order, act, steps, equal):
    learner = ms.MetaSGD(ms.nn.MLP([1, 8, 8, 1], activation=act, seed=4), inner_lr=0.05, inner_steps=steps,
                         first_order=first_order)
    # Rates that differ per element, so a rate applied to the wrong element shows.
    rng = np.random.default_rng(5)
    learner.learning_rates = [rng.uniform(0.01, 0.15, r.shape) for r in learner.learning_rates]
    n = len(learner.model.parameter_names)
    tasks = regression_tasks(3, equal, seed=2)
    loss, grads = learner.meta_loss_and_grad(tasks)
    p = params64(learner)
    expected_loss, expected = ref.metasgd(p[:n], p[n:], as64(tasks), act, steps, first_order)
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_matches(grads, expected)
    assert all(np.abs(g).max() > 0 for g in grads[n:]), "every rate receives a meta-gradient"


@SHAPES
@STEPS
@CASES
def test_anil_adapts_the_head_and_differentiates_through_it(act, steps, equal):
    learner = ms.ANIL(ms.nn.MLP([1, 8, 8, 1], activation=act, seed=6), inner_lr=0.1, inner_steps=steps,
                      head_parameters=2)
    tasks = regression_tasks(3, equal, seed=3)
    loss, grads = learner.meta_loss_and_grad(tasks)
    expected_loss, expected = ref.maml(params64(learner), as64(tasks), act, 0.1, steps, head={4, 5})
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_matches(grads, expected)


@STEPS
@CASES
def test_reptile_direction_is_theta_minus_the_mean_adapted_parameters(act, steps):
    learner = ms.Reptile(ms.nn.MLP([1, 8, 8, 1], activation=act, seed=7), inner_lr=0.05, inner_steps=steps)
    tasks = regression_tasks(4, False, seed=4)
    loss, direction = learner.meta_loss_and_grad(tasks)
    expected_loss, expected = ref.reptile(params64(learner), as64(tasks), act, 0.05, steps)
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_matches(direction, expected)


@SHAPES
@STEPS
@pytest.mark.parametrize("first_order", [False, True], ids=["MAML", "FOMAML"])
def test_maml_classification(first_order, steps, equal):
    learner = ms.MAML(ms.nn.MLP([2, 8, 8, 3], activation="tanh", seed=8), inner_lr=0.5, inner_steps=steps,
                      first_order=first_order, loss="cross_entropy")
    tasks = classification_tasks(3, equal)
    loss, grads = learner.meta_loss_and_grad(tasks)
    expected_loss, expected = ref.maml(params64(learner), as64(tasks), "tanh", 0.5, steps, first_order,
                                       loss="cross_entropy")
    assert loss == pytest.approx(expected_loss, rel=RTOL)
    assert_matches(grads, expected)


@pytest.mark.parametrize("learner_type", [ms.MAML, ms.MetaSGD, ms.ANIL, ms.Reptile])
def test_adapt_is_gradient_descent_on_the_support_set(learner_type):
    """Meta-SGD's rates all start at inner_lr; ANIL steps only the head (W3, b3)."""
    learner = learner_type(ms.nn.MLP([1, 8, 8, 1], activation="tanh", seed=9), inner_lr=0.05, inner_steps=3)
    x, y, _, _ = as64(regression_tasks(1, True))[0]
    adapted = learner.adapt(x, y)
    theta = params64(learner)[:6]
    stepped = {4, 5} if learner_type is ms.ANIL else set(range(6))
    for _ in range(3):
        _, g = ref.loss_and_grad(theta, x, y, "tanh")
        theta = [t - 0.05 * gi if i in stepped else t for i, (t, gi) in enumerate(zip(theta, g))]
    assert_matches(adapted.parameters(), theta)
