"""The LSTM meta-learner from Python: its update against a NumPy
re-implementation of the paper's network, gradient descent when its gates
are held, its starting weights, files, errors and meta-training."""
import numpy as np
import pytest

import metaswift as ms


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def preprocess(v, p=10.0):
    """(log|x|/p, sign x) for |x| >= e^-p, else (-1, e^p x): one row per element."""
    v = np.asarray(v, dtype=np.float64).reshape(-1)
    big = np.abs(v) >= np.exp(-p)
    first = np.where(big, np.log(np.where(big, np.abs(v), 1.0)) / p, -1.0)
    second = np.where(big, np.sign(v), np.exp(p) * v)
    return np.stack([first, second], axis=1)


def numpy_adapt(learner, x, y, steps):
    """The learner's adaptation of a linear model [d, 1] with MSE, written out."""
    named = dict(zip(learner.parameter_names, (np.array(p, dtype=np.float64) for p in learner.parameters())))
    w, b = named["W1"], named["b1"]
    H = learner.hidden
    n = w.size + b.size
    h, c = np.zeros((n, H)), np.zeros((n, H))
    f_prev, i_prev = np.zeros((n, 1)), np.zeros((n, 1))
    for _ in range(steps):
        r = x @ w + b - y
        loss = np.mean(r ** 2)
        gw, gb = 2 * x.T @ r / r.size, 2 * r.sum(axis=0) / r.size
        theta, grad = np.concatenate([w.ravel(), b.ravel()]), np.concatenate([gw.ravel(), gb.ravel()])
        inputs = np.concatenate([preprocess(grad), np.repeat(preprocess(loss), n, axis=0)], axis=1)
        z = inputs @ named["metalstm.lstm.Wx"] + h @ named["metalstm.lstm.Wh"] + named["metalstm.lstm.b"]
        i, f, g, o = (z[:, k * H:(k + 1) * H] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        col = theta[:, None]
        f_gate = sigmoid(np.concatenate([h, col, f_prev], axis=1) @ named["metalstm.forget.W"] + named["metalstm.forget.b"])
        i_gate = sigmoid(np.concatenate([h, col, i_prev], axis=1) @ named["metalstm.input.W"] + named["metalstm.input.b"])
        theta = f_gate[:, 0] * theta - i_gate[:, 0] * grad
        f_prev, i_prev = f_gate, i_gate
        w, b = theta[:w.size].reshape(w.shape), theta[w.size:].reshape(b.shape)
    return w, b


def set_named(learner, name, value):
    i = learner.parameter_names.index(name)
    learner._learner.call("set_meta_parameter", index=i,
                          value=np.asarray(value, dtype=np.float32).reshape(learner.parameters()[i].shape))


def problem(seed=0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(8, 3)).astype(np.float32)
    y = g.normal(size=(8, 1)).astype(np.float32)
    return x, y


def test_its_update_is_the_papers_network_written_in_numpy():
    x, y = problem()
    learner = ms.LSTMMetaLearner(ms.nn.MLP([3, 1], seed=1), inner_steps=3, hidden=6, loss="mse")
    # Gates in the middle of their range, so every weight matters.
    g = np.random.default_rng(5)
    set_named(learner, "metalstm.forget.W", g.normal(0, 0.3, size=(8, 1)))
    set_named(learner, "metalstm.input.W", g.normal(0, 0.3, size=(8, 1)))
    set_named(learner, "metalstm.forget.b", [2.0])
    set_named(learner, "metalstm.input.b", [-1.0])
    w, b = numpy_adapt(learner, x, y, steps=3)
    got = learner.adapt(x, y).parameters()
    np.testing.assert_allclose(got[0], w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], b, rtol=1e-4, atol=1e-5)
    # Five steps: the network keeps running past the trained number.
    w5, b5 = numpy_adapt(learner, x, y, steps=5)
    np.testing.assert_allclose(learner.adapt(x, y, steps=5).parameters()[0], w5, rtol=1e-4, atol=1e-5)


def test_with_its_gates_held_it_is_gradient_descent():
    x, y = problem(1)
    for cell in ("lstm", "gru"):
        learner = ms.LSTMMetaLearner(ms.nn.MLP([3, 1], seed=2), inner_steps=4, hidden=5, cell=cell, loss="mse")
        set_named(learner, "metalstm.forget.W", np.zeros(7))
        set_named(learner, "metalstm.forget.b", [100.0])  # sigma(100) is 1 in float32
        set_named(learner, "metalstm.input.W", np.zeros(7))
        set_named(learner, "metalstm.input.b", [np.log(0.05 / 0.95)])
        lr = float(sigmoid(np.float32(np.log(0.05 / 0.95))))
        w, b = (np.array(p, dtype=np.float64) for p in learner.model.parameters())
        for _ in range(4):
            r = x @ w + b - y
            w, b = w - lr * 2 * x.T @ r / r.size, b - lr * 2 * r.sum(axis=0) / r.size
        got = learner.adapt(x, y).parameters()
        np.testing.assert_allclose(got[0], w, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got[1], b, rtol=1e-5, atol=1e-6)


def test_its_weights_start_as_the_paper_says():
    learner = ms.LSTMMetaLearner(ms.nn.Conv4(hidden=4, outputs=5, seed=0), inner_steps=2)
    assert 4 <= learner.forget_bias <= 5
    assert -5 <= learner.input_bias <= -4
    shapes = dict(zip(learner.parameter_names, (p.shape for p in learner.parameters())))
    assert shapes["metalstm.lstm.Wx"] == (4, 80) and shapes["metalstm.lstm.Wh"] == (20, 80)
    assert shapes["metalstm.forget.W"] == shapes["metalstm.input.W"] == (22, 1)
    for name in ("metalstm.forget.W", "metalstm.input.W"):
        assert np.abs(learner.parameters()[learner.parameter_names.index(name)]).max() <= 0.01
    assert learner.first_order and learner.inner_lr is None
    assert "cell='lstm'" in repr(learner) and "ICLR 2017" in repr(learner)
    gru = ms.LSTMMetaLearner(ms.nn.MLP([1, 4, 1], seed=0), hidden=3, cell="gru", first_order=False, loss="mse")
    assert [n for n in gru.parameter_names if n.startswith("metalstm.gru.")] == [
        "metalstm.gru.Wx", "metalstm.gru.Wh", "metalstm.gru.bx", "metalstm.gru.bh"]
    assert "exact meta-gradient" in repr(gru)


def test_bad_arguments_are_refused_by_name():
    model = ms.nn.MLP([1, 4, 1], seed=0)
    for kwargs, name in (({"inner_steps": 0}, "inner_steps"), ({"hidden": 0}, "hidden"), ({"hidden": 5000}, "hidden"),
                         ({"hidden": "big"}, "hidden"), ({"cell": "rnn"}, "cell"), ({"loss": "l1"}, "loss")):
        with pytest.raises(ms.Error, match=name):
            ms.LSTMMetaLearner(model, **kwargs)
    with pytest.raises(ms.Error, match="model"):
        ms.LSTMMetaLearner("mlp")
    # The engine takes no step size for it: its network makes its own.
    with pytest.raises(ms.Error, match="inner_lr"):
        ms._core.new("learner.LSTMMetaLearner", model=model._model, inner_lr=0.1)


def test_first_order_and_exact_share_the_loss_not_the_gradient():
    sine = ms.data.Sinusoid(shots=5, queries=5, seed=3)
    tasks = [sine.sample() for _ in range(2)]
    make = lambda first: ms.LSTMMetaLearner(ms.nn.MLP([1, 8, 1], activation="tanh", seed=4),  # noqa: E731
                                            inner_steps=3, hidden=4, first_order=first, loss="mse")
    paper, exact = make(True), make(False)
    for learner in (paper, exact):
        set_named(learner, "metalstm.input.b", [-1.0])
    loss_p, grads_p = paper.meta_loss_and_grad(tasks)
    loss_e, grads_e = exact.meta_loss_and_grad(tasks)
    assert loss_p == loss_e
    assert len(grads_p) == len(paper.parameter_names)
    # Every meta-parameter, the network's included, receives a gradient in both.
    for name, gp, ge in zip(paper.parameter_names, grads_p, grads_e):
        assert np.abs(gp).max() > 0 and np.abs(ge).max() > 0, name
    assert not np.allclose(grads_p[0], grads_e[0], rtol=1e-3)


def test_meta_training_lowers_the_loss_after_adaptation_and_files_keep_it(tmp_path):
    train = ms.data.Sinusoid(shots=10, queries=10, seed=1)
    test = ms.data.Sinusoid(shots=10, queries=10, seed=2)
    learner = ms.LSTMMetaLearner(ms.nn.MLP([1, 16, 16, 1], seed=0), inner_steps=3, hidden=8, loss="mse")
    before = learner.evaluate(test, tasks=100).loss
    learner.fit(train, meta_batch_size=10, steps=150, optimizer=ms.optim.Adam(lr=3e-3), progress=False)
    after = learner.evaluate(test, tasks=100)
    assert after.loss < 0.8 * before
    assert after.curve[-1] < after.curve[0]  # the learned update lowers the query loss
    ms.save(learner, tmp_path / "lstm.safetensors")
    loaded = ms.load(tmp_path / "lstm.safetensors")
    assert type(loaded) is ms.LSTMMetaLearner and loaded.hidden == 8 and loaded.cell == "lstm"
    for a, b in zip(learner.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(a, b)
    assert loaded.evaluate(test, tasks=100).loss == after.loss


def test_it_classifies_episodes_with_a_convolutional_model():
    g = np.random.default_rng(0)
    images = g.random((60, 1, 16, 16), dtype=np.float32)
    labels = np.repeat(np.arange(12), 5)
    episodes = ms.data.Taskset(images, labels, ways=3, shots=1, queries=2, seed=0)
    learner = ms.LSTMMetaLearner(ms.nn.Conv4(hidden=4, outputs=3, image_size=16, seed=0), inner_steps=2, hidden=4,
                                 cell="gru")
    history = learner.fit(episodes, meta_batch_size=2, steps=3, progress=False)
    assert len(history) == 3 and np.isfinite(history.losses).all()
    x_s, y_s, x_q, _ = episodes.sample()
    predictions = learner.predict(x_s, y_s, x_q)
    assert predictions.shape == (6,) and set(predictions) <= {0, 1, 2}
    result = learner.evaluate(episodes, tasks=4)
    assert 0 <= result.accuracy <= 1 and len(result.curve) == 3
