"""Training and inference: seeded Dropout, batch norm's running statistics
(PyTorch's update, checked against NumPy), and meta-learners on models with
dropout (a seed per task, reproducible runs)."""
import json

import numpy as np
import pytest

import metaswift as ms
from metaswift import nn

rng = np.random.default_rng(3)


def test_dropout_is_seeded_scaled_and_off_in_inference():
    net = nn.Dropout(0.25)
    x = np.full((40, 250), 3.0, np.float32)
    y = net.forward(x, training=True, seed=5)
    kept = np.float32(3.0) / np.float32(0.75)
    assert set(np.unique(y)) <= {0.0, kept}
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(net.forward(x, training=True, seed=5), y)
    assert not np.array_equal(net.forward(x, training=True, seed=6), y)
    np.testing.assert_array_equal(net(x), x)                 # inference: the identity
    np.testing.assert_array_equal(nn.Dropout(0.0).forward(x, training=True), x)
    assert not nn.Dropout(1.0).forward(x, training=True).any()


def batch_stats(x, axes):
    n = np.prod([x.shape[a] for a in axes])
    mean = x.mean(axis=axes)
    return mean, x.var(axis=axes), x.var(axis=axes) * n / (n - 1)


@pytest.mark.parametrize("layer, shape, axes", [(nn.BatchNorm2d, (4, 3, 5, 2), (0, 2, 3)),
                                                (nn.BatchNorm1d, (9, 3), (0,)),
                                                (nn.BatchNorm1d, (5, 3, 4), (0, 2))])
def test_running_statistics_follow_pytorchs_update(layer, shape, axes):
    bn = layer(3, momentum=0.3, track_running_stats=True)
    assert bn.buffer_names == ["running_mean", "running_var"]
    gamma, beta = rng.normal(size=3).astype(np.float32), rng.normal(size=3).astype(np.float32)
    bn.set_parameters([gamma, beta])
    np.testing.assert_array_equal(bn.buffers()[0], 0)
    np.testing.assert_array_equal(bn.buffers()[1], 1)
    mean_ref, var_ref = np.zeros(3), np.ones(3)
    view = [1, 3] + [1] * (len(shape) - 2)
    for step in range(3):
        x = rng.normal(loc=step, scale=1 + step, size=shape).astype(np.float32)
        y = bn.forward(x, training=True)
        m, biased, unbiased = batch_stats(x.astype(np.float64), axes)
        want = (x - m.reshape(view)) / np.sqrt(biased.reshape(view) + 1e-5) * gamma.reshape(view) + beta.reshape(view)
        np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-4)
        mean_ref, var_ref = 0.7 * mean_ref + 0.3 * m, 0.7 * var_ref + 0.3 * unbiased
        np.testing.assert_allclose(bn.buffers()[0], mean_ref, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(bn.buffers()[1], var_ref, rtol=1e-5, atol=1e-6)
    # Inference normalises with the running statistics and changes nothing.
    x = rng.normal(size=shape).astype(np.float32)
    want = (x - mean_ref.reshape(view)) / np.sqrt(var_ref.reshape(view) + 1e-5) * gamma.reshape(view) + beta.reshape(view)
    before = [np.array(b) for b in bn.buffers()]
    np.testing.assert_allclose(bn(x), want, rtol=1e-4, atol=1e-4)
    for a, b in zip(bn.buffers(), before):
        np.testing.assert_array_equal(a, b)


def test_untracked_batch_norm_uses_the_batch_in_both_modes_and_has_no_buffers():
    bn = nn.BatchNorm2d(3)
    assert bn.buffer_names == [] and bn.buffers() == []
    x = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)
    np.testing.assert_array_equal(bn(x), bn.forward(x, training=True))


def test_buffers_are_named_by_path_and_can_be_set():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.BatchNorm2d(2, track_running_stats=True), nn.ReLU(),
                        nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.BatchNorm2d(2, track_running_stats=True))),
                        nn.Flatten(), nn.Dropout(0.1), nn.Linear(2 * 16, 3), seed=2)
    assert net.buffer_names == ["1.running_mean", "1.running_var", "3.body.1.running_mean", "3.body.1.running_var"]
    values = [np.full(2, v, np.float32) for v in (0.5, 2.0, -1.0, 3.0)]
    net.set_buffers(values)
    for got, want in zip(net.buffers(), values):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ms.Error, match=r"buffer 1.running_var: expected shape \[2\], got \[3\]"):
        net.set_buffers([values[0], np.ones(3), values[2], values[3]])
    np.testing.assert_array_equal(net.buffers()[0], values[0])  # all or nothing
    with pytest.raises(ms.Error, match="buffers: expected 4 arrays"):
        net.set_buffers(values[:2])
    # The description carries the new arguments; the engine rebuilds the same model.
    assert json.loads(net.description()) == net.describe()
    rebuilt = ms.nn.Sequential(*net, seed=2)
    assert rebuilt == net and rebuilt.buffer_names == net.buffer_names


def test_bad_mode_arguments_are_refused_by_name():
    with pytest.raises(ms.Error, match=r"p: must be a probability in \[0, 1\], got 1.5"):
        nn.Dropout(1.5)
    with pytest.raises(ms.Error, match="momentum"):
        nn.BatchNorm2d(3, momentum=2.0, track_running_stats=True).buffer_names
    with pytest.raises(ms.Error, match="track_running_stats: expected True or False"):
        nn.BatchNorm1d(3, track_running_stats="yes")
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ms.Error, match="training: expected True or False"):
        nn.Linear(3, 2).forward(x, training=2)
    with pytest.raises(ms.Error, match="seed"):
        nn.Dropout(0.5).forward(x, training=True, seed=-1)


def sinusoid_tasks(n, seed):
    data = ms.data.Sinusoid(shots=5, queries=5, seed=seed)
    return [data.sample() for _ in range(n)]


def dropout_net(p=0.3):
    return nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Dropout(p), nn.Linear(32, 1), seed=1)


def test_meta_gradients_through_dropout_are_seeded_per_task():
    tasks = sinusoid_tasks(3, 0)
    maml = ms.MAML(dropout_net(), inner_lr=0.05, inner_steps=2)
    loss, grads = maml.meta_loss_and_grad(tasks, seed=1)
    again, grads2 = maml.meta_loss_and_grad(tasks, seed=1)
    assert loss == again and all(np.array_equal(a, b) for a, b in zip(grads, grads2))
    assert maml.meta_loss_and_grad(tasks, seed=2)[0] != loss
    # Without dropout (p = 0) the seed changes nothing, and the result is the plain network's.
    plain = ms.MAML(dropout_net(0.0), inner_lr=0.05, inner_steps=2)
    reference = ms.MAML(nn.Sequential(nn.Linear(1, 32), nn.ReLU(), nn.Linear(32, 1), seed=1), inner_lr=0.05, inner_steps=2)
    assert plain.meta_loss_and_grad(tasks, seed=1)[0] == plain.meta_loss_and_grad(tasks, seed=2)[0]
    assert plain.meta_loss_and_grad(tasks)[0] == pytest.approx(reference.meta_loss_and_grad(tasks)[0], rel=1e-6)


@pytest.mark.parametrize("make", [lambda net: ms.MAML(net, inner_lr=0.05), lambda net: ms.Reptile(net, inner_lr=0.005, inner_steps=5)])
def test_fit_with_dropout_is_reproducible_from_the_seed(make):
    data = ms.data.Sinusoid(shots=5, queries=5)

    def run(seed):
        learner = make(dropout_net())
        learner.fit(data, steps=4, meta_batch_size=2, seed=seed, progress=False)
        return [np.array(p) for p in learner.model.parameters()]

    a, b, c = run(3), run(3), run(4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_protonet_encoder_with_dropout_and_tracked_batch_norm_trains_and_evaluates():
    images = rng.normal(size=(10 * 6, 1, 8, 8)).astype(np.float32)
    labels = np.repeat(np.arange(10), 6)
    data = ms.data.Taskset(images, labels, ways=3, shots=2, queries=2)
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4, track_running_stats=True), nn.ReLU(),
                            nn.GlobalAvgPool2d(), nn.Dropout(0.2), seed=0)
    proto = ms.ProtoNet(encoder)
    proto.fit(data, steps=3, meta_batch_size=2, seed=0, progress=False)
    result = proto.evaluate(data, tasks=5, seed=1)
    assert 0 <= result.accuracy <= 1
