"""MAML with an adaptive inner optimizer (``inner_optimizer="adagrad" |
"rmsprop" | "adam"``): the inner steps against NumPy's transcription of
PyTorch's formulas, files, errors, and meta-training with them."""
import numpy as np
import pytest

import metaswift as ms

OPTIMIZERS = ("adagrad", "rmsprop", "adam")


def numpy_steps(name, lr, w, b, x, y, steps):
    """`steps` steps of `name` on the MSE of the linear model x @ w + b."""
    w, b = w.astype(np.float64), b.astype(np.float64)
    state = {k: [np.zeros_like(w), np.zeros_like(b)] for k in ("s", "m")}
    for t in range(1, steps + 1):
        r = x @ w + b - y
        grads = [2 * x.T @ r / r.size, 2 * r.sum(axis=0) / r.size]
        new = []
        for i, (p, g) in enumerate(zip((w, b), grads)):
            if name == "adagrad":
                state["s"][i] = state["s"][i] + g * g
                p = p - lr * g / (np.sqrt(state["s"][i]) + 1e-10)
            elif name == "rmsprop":
                state["s"][i] = 0.99 * state["s"][i] + 0.01 * g * g
                p = p - lr * g / (np.sqrt(state["s"][i]) + 1e-8)
            else:
                state["m"][i] = 0.9 * state["m"][i] + 0.1 * g
                state["s"][i] = 0.999 * state["s"][i] + 0.001 * g * g
                m_hat, v_hat = state["m"][i] / (1 - 0.9 ** t), state["s"][i] / (1 - 0.999 ** t)
                p = p - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
            new.append(p)
        w, b = new
    return w, b


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_adaptation_takes_the_optimizers_steps(name):
    g = np.random.default_rng(0)
    x = g.normal(size=(8, 3)).astype(np.float32)
    y = g.normal(size=(8, 1)).astype(np.float32)
    maml = ms.MAML(ms.nn.MLP([3, 1], seed=1), inner_lr=0.05, inner_optimizer=name)
    w, b = (np.array(p) for p in maml.parameters())
    adapted = maml.adapt(x, y, steps=4).parameters()
    expected = numpy_steps(name, 0.05, w, b, x, y, 4)
    for got, want in zip(adapted, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Not plain gradient descent.
    sgd = ms.MAML(ms.nn.MLP([3, 1], seed=1), inner_lr=0.05).adapt(x, y, steps=4).parameters()
    assert not np.allclose(sgd[0], adapted[0])


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_evaluation_curve_follows_one_optimizer_state_per_task(name):
    """The curve's last point is the loss of the model adapted in one go
    (the state carries from step to step, not restarted at each)."""
    tasks = ms.data.Sinusoid(shots=5, queries=5, seed=4)
    maml = ms.MAML(ms.nn.MLP([1, 16, 1], activation="tanh", seed=2), inner_lr=0.03, inner_optimizer=name)
    e = maml.evaluate(tasks, tasks=3, inner_steps=4, seed=1)
    direct = []
    stream = ms.data.Sinusoid(shots=5, queries=5, seed=1)  # evaluate(seed=1)'s episodes, in order
    for _ in range(3):
        x, y, xq, yq = stream.sample()
        adapted = maml.adapt(x, y, steps=4)
        direct.append(float(np.mean((adapted(xq) - yq) ** 2)))
    np.testing.assert_allclose(e.per_task.loss, direct, rtol=1e-5)


def test_bad_inner_optimizers_are_refused_by_name():
    model = ms.nn.MLP([1, 4, 1], seed=0)
    for bad in ("lbfgs", "Adam", 3, None):
        with pytest.raises(ms.Error, match="inner_optimizer"):
            ms.MAML(model, inner_optimizer=bad)


def test_the_inner_optimizer_survives_a_file(tmp_path):
    maml = ms.MAML(ms.nn.MLP([1, 8, 1], seed=3), inner_lr=0.02, inner_steps=2, inner_optimizer="rmsprop")
    ms.save(maml, tmp_path / "maml.safetensors")
    loaded = ms.load(tmp_path / "maml.safetensors")
    assert loaded.inner_optimizer == "rmsprop"
    assert "inner_optimizer='rmsprop'" in repr(loaded)
    task = ms.data.Sinusoid(shots=4, queries=4, seed=5).sample()
    a = maml.meta_loss_and_grad([task])
    b = loaded.meta_loss_and_grad([task])
    assert a[0] == b[0]
    for ga, gb in zip(a[1], b[1]):
        assert ga.tobytes() == gb.tobytes()
    # A plain MAML's file does not mention it.
    ms.save(ms.MAML(ms.nn.MLP([1, 8, 1], seed=3)), tmp_path / "plain.safetensors")
    assert ms.load(tmp_path / "plain.safetensors").inner_optimizer == "sgd"


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_meta_training_through_an_adaptive_inner_loop_lowers_the_adapted_loss(name):
    tasks = ms.data.Sinusoid(shots=10, queries=10, seed=1)
    test = ms.data.Sinusoid(shots=10, queries=10, seed=2)
    maml = ms.MAML(ms.nn.MLP([1, 32, 32, 1], activation="relu", seed=0), inner_lr=0.01, inner_steps=2,
                   inner_optimizer=name)
    before = maml.evaluate(test, tasks=100, inner_steps=2).loss
    maml.fit(tasks, meta_batch_size=10, steps=300, optimizer=ms.optim.Adam(lr=3e-3), progress=False)
    after = maml.evaluate(test, tasks=100, inner_steps=2).loss
    assert after < 0.5 * before, (before, after)
