"""ALFA from Python: its meta-parameters, its inner step against NumPy
(held at MAML with weight decay), files, errors and meta-training."""
import numpy as np
import pytest

import metaswift as ms


def hold_at_one(alfa):
    """Sets the generator so it outputs o = 0, so every rate and decay factor 2 sigmoid(o) is 1."""
    names = alfa.parameter_names
    for name in ("alfa.W1", "alfa.b1", "alfa.W2", "alfa.b2"):
        i = names.index(name)
        alfa._learner.call("set_meta_parameter", index=i, value=np.zeros_like(alfa.parameters()[i]))


def test_held_at_one_it_steps_as_gradient_descent_with_weight_decay():
    g = np.random.default_rng(0)
    x = g.normal(size=(8, 3)).astype(np.float32)
    y = g.normal(size=(8, 1)).astype(np.float32)
    lr, wd = 0.05, 0.02
    alfa = ms.ALFA(ms.nn.MLP([3, 1], seed=1), inner_lr=lr, inner_steps=3, weight_decay=wd)
    hold_at_one(alfa)
    w, b = (np.array(p, dtype=np.float64) for p in alfa.model.parameters())
    for _ in range(3):
        r = x @ w + b - y
        gw, gb = 2 * x.T @ r / r.size, 2 * r.sum(axis=0) / r.size
        w, b = (1 - lr * wd) * w - lr * gw, (1 - lr * wd) * b - lr * gb
    got = alfa.adapt(x, y).parameters()
    np.testing.assert_allclose(got[0], w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[1], b, rtol=1e-5, atol=1e-6)


def test_its_meta_parameters_start_as_the_paper_says():
    alfa = ms.ALFA(ms.nn.Conv4(hidden=4, outputs=5, seed=0), inner_lr=0.4, inner_steps=2, weight_decay=1e-3,
                   loss="cross_entropy")
    tensors = len(alfa.model.parameters())
    assert alfa.alpha.shape == alfa.beta.shape == (2, tensors)
    np.testing.assert_allclose(alfa.alpha, 0.4)
    np.testing.assert_allclose(alfa.beta, 0.4 * 1e-3, rtol=1e-6)
    shapes = dict(zip(alfa.parameter_names, (p.shape for p in alfa.parameters())))
    assert shapes["alfa.W1"] == shapes["alfa.W2"] == (2 * tensors, 2 * tensors)
    assert "weight_decay=0.001" in repr(alfa) and "NeurIPS 2020" in repr(alfa)


def test_bad_arguments_are_refused_by_name():
    model = ms.nn.MLP([1, 4, 1], seed=0)
    for kwargs, name in (({"inner_steps": 0}, "inner_steps"), ({"weight_decay": -1.0}, "weight_decay"),
                         ({"weight_decay": "big"}, "weight_decay"), ({"inner_lr": float("nan")}, "inner_lr")):
        with pytest.raises(ms.Error, match=name):
            ms.ALFA(model, **kwargs)


def test_a_saved_alfa_loads_with_its_learned_rates(tmp_path):
    alfa = ms.ALFA(ms.nn.MLP([1, 8, 1], activation="tanh", seed=3), inner_steps=2, weight_decay=1e-3)
    alfa.fit(ms.data.Sinusoid(shots=5, queries=5, seed=0), meta_batch_size=3, steps=5, progress=False)
    ms.save(alfa, tmp_path / "alfa.safetensors")
    loaded = ms.load(tmp_path / "alfa.safetensors")
    assert isinstance(loaded, ms.ALFA) and loaded.weight_decay == 1e-3 and loaded.inner_steps == 2
    for a, b in zip(alfa.parameters(), loaded.parameters()):
        assert a.tobytes() == b.tobytes()
    task = ms.data.Sinusoid(shots=5, queries=5, seed=9).sample()
    assert alfa.meta_loss_and_grad([task])[0] == loaded.meta_loss_and_grad([task])[0]


def test_meta_training_learns_rates_and_lowers_the_adapted_loss():
    tasks = ms.data.Sinusoid(shots=10, queries=10, seed=1)
    test = ms.data.Sinusoid(shots=10, queries=10, seed=2)
    alfa = ms.ALFA(ms.nn.MLP([1, 32, 32, 1], seed=0), inner_lr=0.01, inner_steps=2)
    before = alfa.evaluate(test, tasks=100).loss
    alpha = alfa.alpha.copy()
    alfa.fit(tasks, meta_batch_size=10, steps=300, optimizer=ms.optim.Adam(lr=3e-3), progress=False)
    after = alfa.evaluate(test, tasks=100)
    assert after.loss < 0.5 * before, (before, after.loss)
    assert len(after.curve) == 3
    assert not np.array_equal(alpha, alfa.alpha)  # the rates moved


def test_the_generated_factors_are_bounded_whatever_the_generator_outputs():
    """The factors are 2 sigmoid(o), in (0, 2): a generator output of 30 steps as MAML with twice the
    rate and decay, where the raw output (the authors' code) would step 30 times as far."""
    g = np.random.default_rng(1)
    x = g.normal(size=(8, 3)).astype(np.float32)
    y = (100 * g.normal(size=(8, 1))).astype(np.float32)  # large targets, large gradients
    lr, wd = 0.05, 0.02
    alfa = ms.ALFA(ms.nn.MLP([3, 1], seed=1), inner_lr=lr, inner_steps=1, weight_decay=wd)
    hold_at_one(alfa)
    i = alfa.parameter_names.index("alfa.b2")
    alfa._learner.call("set_meta_parameter", index=i, value=np.full_like(alfa.parameters()[i], 30.0))
    w, b = (np.array(p, dtype=np.float64) for p in alfa.model.parameters())
    r = x @ w + b - y
    gw, gb = 2 * x.T @ r / r.size, 2 * r.sum(axis=0) / r.size
    got = alfa.adapt(x, y).parameters()
    np.testing.assert_allclose(got[0], (1 - 2 * lr * wd) * w - 2 * lr * gw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got[1], (1 - 2 * lr * wd) * b - 2 * lr * gb, rtol=1e-4, atol=1e-4)


def test_sinusoid_meta_training_stays_finite_with_large_gradients():
    """The sinusoid example's setting (MLP 1-40-40-1 ReLU, five steps from 0.01, MSE, Adam 1e-3) on the
    largest amplitudes only. With the authors' unbounded factors the same example's meta-loss became
    infinite at meta-step 339: the generated rates grew with the gradients until one task's inner loop
    overflowed."""
    tasks = ms.data.Sinusoid(shots=10, queries=10, amplitude=(4.0, 5.0), seed=1)
    alfa = ms.ALFA(ms.nn.MLP([1, 40, 40, 1], activation="relu", seed=0), inner_lr=0.01, inner_steps=5)
    losses = alfa.fit(tasks, meta_batch_size=10, steps=300, optimizer=ms.optim.Adam(lr=1e-3), progress=False).losses
    assert np.isfinite(losses).all()
    assert np.mean(losses[-50:]) < 0.5 * np.mean(losses[:50]), (np.mean(losses[:50]), np.mean(losses[-50:]))
