"""Models built from ms.nn layers: each layer's forward against a NumPy
reference, second-order meta-gradients through each layer against finite
differences, descriptions that round-trip, and bad descriptions refused by
layer and argument."""
import math

import numpy as np
import pytest

import metaswift as ms
from metaswift import nn

rng = np.random.default_rng(0)


def params(model):
    return dict(zip(model.parameter_names, (np.asarray(p, np.float64) for p in model.parameters())))


def set_random(model, scale=0.5, seed=1):
    """Replaces every parameter with random values, so references do not rely
    on the initialisation (zero biases, unit gammas)."""
    g = np.random.default_rng(seed)
    model.set_parameters([g.normal(scale=scale, size=s).astype(np.float32) for s in model.parameter_shapes])
    return params(model)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def conv2d(x, w, b, stride, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out + (0 if b is None else b[None, :, None, None])


def pool(x, k, s, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - k) // s + 1, (w - k) // s + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = reduce(x[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return out


def batch_norm(x, gamma, beta, axes, eps=1e-5):
    shape = [1] * x.ndim
    shape[1] = -1
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


def lstm(x, wx, wh, b):
    zeros = np.zeros((x.shape[0], wh.shape[0]))
    return lstm_state(x, wx, wh, b, zeros, zeros)[0]


def gru(x, wx, wh, bx, bh):
    return gru_state(x, wx, wh, bx, bh, np.zeros((x.shape[0], wh.shape[0])))[0]


erf = np.vectorize(math.erf)

# (layer, input shape of one example, reference(x, parameters))
CASES = {
    "Linear": (lambda: nn.Linear(4, 3), (4,), lambda x, p: x @ p["W"] + p["b"]),
    "Linear-nobias": (lambda: nn.Linear(4, 3, bias=False), (4,), lambda x, p: x @ p["W"]),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, padding=1), (2, 6, 6), lambda x, p: conv2d(x, p["W"], p["b"], 1, 1)),
    "Conv2d-stride": (lambda: nn.Conv2d(2, 3, 3, stride=2), (2, 7, 7), lambda x, p: conv2d(x, p["W"], p["b"], 2, 0)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (3, 4, 4),
                    lambda x, p: batch_norm(x, p["gamma"], p["beta"], (0, 2, 3))),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(5), (5,), lambda x, p: batch_norm(x, p["gamma"], p["beta"], (0,))),
    "LayerNorm": (lambda: nn.LayerNorm(6), (6,),
                  lambda x, p: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
                  * p["gamma"] + p["beta"]),
    "ReLU": (nn.ReLU, (5,), lambda x, p: np.maximum(x, 0)),
    "LeakyReLU": (lambda: nn.LeakyReLU(0.2), (5,), lambda x, p: np.where(x > 0, x, 0.2 * x)),
    "Tanh": (nn.Tanh, (5,), lambda x, p: np.tanh(x)),
    "Sigmoid": (nn.Sigmoid, (5,), lambda x, p: sigmoid(x)),
    "GELU": (nn.GELU, (5,), lambda x, p: 0.5 * x * (1 + erf(x / math.sqrt(2)))),
    "Softplus": (nn.Softplus, (5,), lambda x, p: np.log1p(np.exp(x))),
    "MaxPool2d": (lambda: nn.MaxPool2d(2), (2, 6, 6), lambda x, p: pool(x, 2, 2, np.max)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, stride=1), (2, 5, 5), lambda x, p: pool(x, 3, 1, np.mean)),
    "GlobalAvgPool2d": (nn.GlobalAvgPool2d, (3, 4, 5), lambda x, p: x.mean(axis=(2, 3))),
    "Flatten": (nn.Flatten, (2, 3, 4), lambda x, p: x.reshape(len(x), -1)),
    "LSTM": (lambda: nn.LSTM(3, 4), (5, 3), lambda x, p: lstm(x, p["Wx"], p["Wh"], p["b"])),
    "GRU": (lambda: nn.GRU(3, 4), (5, 3), lambda x, p: gru(x, p["Wx"], p["Wh"], p["bx"], p["bh"])),
    "LastStep": (nn.LastStep, (5, 3), lambda x, p: x[:, -1]),
    "Residual": (lambda: nn.Residual(nn.Sequential(nn.Linear(4, 4), nn.Tanh())), (4,),
                 lambda x, p: np.tanh(x @ p["body.0.W"] + p["body.0.b"]) + x),
    "Residual-shortcut": (lambda: nn.Residual(nn.Linear(4, 3), nn.Linear(4, 3, bias=False)), (4,),
                          lambda x, p: x @ p["body.W"] + p["body.b"] + x @ p["shortcut.W"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_layer_computes_its_numpy_reference(name):
    make, shape, reference = CASES[name]
    model = nn.Sequential(make(), input_shape=shape, seed=3)
    p = {k.split(".", 1)[1]: v for k, v in set_random(model).items()}
    x = rng.normal(size=(4, *shape)).astype(np.float32)
    y = model(x)
    expected = reference(x.astype(np.float64), p)
    assert y.shape == expected.shape == (4, *model.output_shape())
    np.testing.assert_allclose(y, expected, rtol=2e-5, atol=2e-5)


def check_second_order(model, task, coordinates=12, seed=0, rtol=0.05):
    """MAML's exact second-order meta-gradient (one inner step) against
    central finite differences of the meta-loss, on random coordinates of
    every parameter tensor. The meta-loss differentiates through the inner
    gradient, so this checks the layers' second derivatives."""
    learner = ms.MAML(model, inner_lr=0.1, inner_steps=1, loss="mse")
    _, grads = learner.meta_loss_and_grad([task])
    g = np.random.default_rng(seed)
    base = [np.array(p) for p in model.parameters()]
    checked = 0
    for k, (p, grad) in enumerate(zip(base, grads)):
        for _ in range(max(1, coordinates // len(base))):
            idx = tuple(g.integers(0, d) for d in p.shape)
            numerics = []
            # Two step sizes, the closer kept: a large one suffers the meta-loss's
            # curvature, a small one float32's rounding of it.
            for eps in (1e-2, 3e-3):
                values = []
                for sign in (1, -1):
                    moved = [q.copy() for q in base]
                    moved[k][idx] += sign * eps
                    model.set_parameters(moved)
                    values.append(learner.meta_loss_and_grad([task])[0])
                numerics.append((values[0] - values[1]) / (2 * eps))
            model.set_parameters(base)
            numeric = min(numerics, key=lambda v: abs(v - grad[idx]))
            assert abs(numeric - grad[idx]) <= rtol * max(abs(numeric), abs(grad[idx])) + 2e-3, \
                (model.parameter_names[k], idx, numerics, grad[idx])
            checked += 1
    assert checked >= len(base)


def regression_task(shape, outputs, n=6, seed=0):
    g = np.random.default_rng(seed)
    x = lambda: g.normal(size=(n, *shape)).astype(np.float32)
    y = lambda: g.normal(size=(n, outputs)).astype(np.float32)
    return x(), y(), x(), y()


SMOOTH = {"Linear", "Conv2d", "Conv2d-stride", "BatchNorm2d", "BatchNorm1d", "LayerNorm", "Tanh", "Sigmoid", "GELU",
          "Softplus", "AvgPool2d", "GlobalAvgPool2d", "LSTM", "GRU", "Residual", "Residual-shortcut", "LeakyReLU",
          "MaxPool2d"}


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_second_order_meta_gradients_through_each_layer_match_finite_differences(name):
    make, shape, _ = CASES[name]
    layer = make()
    parts = [layer]
    if not layer.parameter_names:  # parameter-free: a layer before it carries the gradient through it
        parts.insert(0, nn.Linear(shape[0], shape[0]) if len(shape) == 1 else nn.Conv2d(shape[0], shape[0], 1))
    out = nn.Sequential(*parts, input_shape=shape).output_shape()
    model = nn.Sequential(*parts, nn.Flatten(), nn.Linear(int(np.prod(out)), 2), input_shape=shape, seed=5)
    # Small weights keep the meta-loss near 1: float32 then resolves the
    # differences of a central difference for every coordinate.
    set_random(model, scale=0.2, seed=2)
    check_second_order(model, regression_task(shape, 2))


def directional_errors(model, task, seeds, eps=(1e-2, 3e-3, 1e-3)):
    """For random unit directions d over all parameters: the relative error
    of MAML's second-order meta-gradient along d against central differences
    of the meta-loss (the best of a few step sizes, as kinks of ReLU and
    max-pooling make any one step size unreliable)."""
    learner = ms.MAML(model, inner_lr=0.1, inner_steps=1, loss="mse")
    _, grads = learner.meta_loss_and_grad([task])
    base = [np.array(p) for p in model.parameters()]
    errors = []
    for seed in seeds:
        g = np.random.default_rng(seed)
        d = [g.normal(size=p.shape) for p in base]
        norm = math.sqrt(sum((v ** 2).sum() for v in d))
        d = [(v / norm).astype(np.float32) for v in d]
        analytic = sum(float((a.astype(np.float64) * v).sum()) for a, v in zip(grads, d))
        best = math.inf
        for e in eps:
            values = []
            for sign in (1, -1):
                model.set_parameters([p + sign * e * v for p, v in zip(base, d)])
                values.append(learner.meta_loss_and_grad([task])[0])
            model.set_parameters(base)
            numeric = (values[0] - values[1]) / (2 * e)
            best = min(best, abs(numeric - analytic) / max(abs(numeric), abs(analytic), 1e-3))
        errors.append(best)
    return errors


def test_second_order_through_a_small_resnet12_matches_finite_differences():
    model = nn.ResNet12(in_channels=1, width=0.05, outputs=2, seed=0)
    g = np.random.default_rng(0)
    x, y = g.normal(size=(8, 1, 16, 16)).astype(np.float32), g.normal(size=(8, 2)).astype(np.float32)
    errors = directional_errors(model, (x, y, x[::-1].copy(), y[::-1].copy()), seeds=range(6))
    # Leaky ReLU and max-pool kinks spoil a direction now and then; most agree to a few percent.
    assert sum(e < 0.06 for e in errors) >= 4 and np.median(errors) < 0.06, errors


def test_second_order_through_an_lstm_classifier_matches_finite_differences():
    model = nn.Sequential(nn.LSTM(3, 6), nn.LastStep(), nn.Linear(6, 2), input_shape=(5, 3), seed=0)
    set_random(model, scale=0.5)
    task = regression_task((5, 3), 2)
    assert max(directional_errors(model, task, seeds=range(3))) < 2e-3
    check_second_order(model, task, coordinates=30)


def test_every_learner_takes_a_model_built_from_layers():
    def net():
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(4 * 4 * 4, 3), input_shape=(1, 8, 8), seed=0)

    g = np.random.default_rng(0)
    images = g.normal(size=(60, 1, 8, 8)).astype(np.float32)
    labels = np.repeat(np.arange(6), 10)
    tasks = ms.data.Taskset(images, labels, ways=3, shots=2, queries=3)
    encoder = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.GlobalAvgPool2d(), input_shape=(1, 8, 8))
    learners = [ms.MAML(net(), loss="cross_entropy"), ms.MAML(net(), first_order=True, loss="cross_entropy"),
                ms.MetaSGD(net(), loss="cross_entropy"), ms.Reptile(net(), inner_steps=2, loss="cross_entropy"),
                ms.ANIL(net(), loss="cross_entropy"), ms.ProtoNet(encoder)]
    for learner in learners:
        before = [p.copy() for p in learner.parameters()]
        history = learner.fit(tasks, meta_batch_size=2, steps=3, progress=False)
        assert len(history) == 3 and np.all(np.isfinite(history.losses))
        moved = [not np.array_equal(a, b) for a, b in zip(before, learner.parameters())]
        # Batch norm subtracts the convolution's bias again, so its gradient
        # is zero (exactly, on the fused path): it and its learned rate stay.
        still = [n for n, m in zip(learner.parameter_names, moved) if not m and n not in ("0.b", "lr.0.b")]
        assert not still, (type(learner).__name__, still)
        assert 0 <= learner.evaluate(tasks, tasks=5).accuracy <= 1


def test_anil_adapts_the_last_linear_or_the_head_named():
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)))
    assert ms.ANIL(model).head_parameters == 2
    named = nn.Sequential(body=nn.Sequential(nn.Linear(2, 8), nn.Tanh()), head=nn.Sequential(nn.Linear(8, 4),
                                                                                              nn.Tanh(),
                                                                                              nn.Linear(4, 1)))
    assert ms.ANIL(named, head="head").head_parameters == 4
    with pytest.raises(ms.Error, match=r"^head: the parameters named body\.\* must be the model's last ones"):
        ms.ANIL(named, head="body")
    with pytest.raises(ms.Error, match=r"^head: no parameter of the model is named tail\.\*"):
        ms.ANIL(named, head="tail")


def test_a_model_is_data():
    a = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    b = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    assert a == b and hash(a) == hash(b) and a != nn.Sequential(nn.Linear(2, 2))
    import json
    engine = json.loads(a.description())
    assert engine == a.describe()
    assert "(1): BatchNorm2d(num_features=4, eps=1e-05, momentum=0.1, track_running_stats=False)" in repr(a)
    named = nn.Sequential(conv=nn.Conv2d(1, 2, 3), head=nn.Linear(2, 1))
    assert named.parameter_names == ["conv.W", "conv.b", "head.W", "head.b"]


def test_the_same_seed_gives_the_same_parameters():
    make = lambda seed: nn.Sequential(nn.Linear(3, 5), nn.GELU(), nn.Linear(5, 2), seed=seed)
    for p, q in zip(make(4).parameters(), make(4).parameters()):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(make(4).parameters()[0], make(5).parameters()[0])


def test_resnet12_has_the_papers_size():
    assert nn.ResNet12(width=1.0).num_parameters == 12_424_320
    small = nn.ResNet12(in_channels=3, width=0.25, outputs=5)
    assert small.widths == [16, 40, 80, 160]
    assert small(np.zeros((2, 3, 28, 28), np.float32)).shape == (2, 5)


@pytest.mark.parametrize("build, match", [
    (lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.Conv2d(4, 8, 3), input_shape=(1, 10, 10)),
     r"^layers\[1\] \(Conv2d\)\.in_channels: 4, but its input has 8 channels"),
    (lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.MaxPool2d(2), nn.MaxPool2d(2), input_shape=(1, 4, 4)),
     r"^layers\[2\] \(MaxPool2d\)\.kernel_size: 2, but its input images are 1x1"),
    (lambda: nn.Sequential(nn.Flatten(), nn.Linear(10, 2), input_shape=(1, 3, 3)),
     r"^layers\[1\] \(Linear\)\.in_features: 10, but its input has 9 features"),
    (lambda: nn.Sequential(nn.Residual(nn.Linear(4, 3)), input_shape=(4,)),
     r"^layers\[0\] \(Residual\)"),
    (lambda: nn.Linear(-3, 2), r"^in_features: must be >= 1, got -3"),
    (lambda: nn.Conv2d(1, 0, 3), r"^out_channels: must be >= 1, got 0"),
    (lambda: nn.ResNet12(width=-1), r"^width: must be finite and > 0"),
    (lambda: nn.Sequential(nn.Linear(2, 2), "relu"), r"^layers\[1\]: expected a metaswift.nn layer"),
    (lambda: nn.Sequential(), r"^layers: a Sequential needs at least one layer"),
    (lambda: nn.Sequential(nn.Linear(2, 2), input_shape=(0,)), r"^input_shape\[0\]: must be >= 1, got 0"),
    (lambda: nn.LSTM(3, 4, batch_first=False), r"^batch_first: sequences are \(batch, time, features\)"),
])
def test_models_that_do_not_fit_together_are_refused_by_layer_and_argument(build, match):
    with pytest.raises(ms.Error, match=match):
        build()


def test_inputs_that_do_not_fit_are_refused_naming_the_layer():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    with pytest.raises(ms.Error, match=r"^x: layers\[0\] \(Conv2d\)\.in_channels: 1, but its input has 3 channels"):
        model(np.zeros((2, 3, 8, 8), np.float32))
    with pytest.raises(ms.Error, match=r"^x: layers\[2\] \(Linear\)\.in_features: 144, but its input has 256"):
        model(np.zeros((2, 1, 10, 10), np.float32))
    fixed = nn.Sequential(nn.Linear(3, 2), input_shape=(3,))
    with pytest.raises(ms.Error, match=r"^x: expected examples of shape \[3\] \(the model's input_shape\)"):
        fixed(np.zeros((2, 4), np.float32))


def test_unknown_layer_types_are_refused_by_the_engine():
    class Conv3d(nn.Layer):
        _type = "Conv3d"

        def __init__(self):
            pass

    with pytest.raises(ms.Error, match=r"^layers\[0\]: unknown layer type 'Conv3d'; expected one of"):
        nn.Sequential(Conv3d(), input_shape=(1,))


def user_conv4(hidden, outputs=None, seed=0, blocks=4):
    parts = []
    for b in range(blocks):
        parts += [nn.Conv2d(1 if b == 0 else hidden, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
                  nn.MaxPool2d(2)]
    parts.append(nn.Flatten())
    if outputs is not None:
        parts.append(nn.Linear(hidden, outputs))
    return nn.Sequential(*parts, input_shape=(1, 28, 28), seed=seed)


def test_a_user_built_conv4_is_the_preset_bit_for_bit():
    """The engine recognises the blocks and takes the preset's fused kernels:
    same initial values, same meta-gradients and the same training run, bit
    for bit, under the user's own parameter names."""
    g = np.random.default_rng(0)
    images = g.normal(size=(120, 1, 28, 28)).astype(np.float32)
    tasks = ms.data.Taskset(images, np.repeat(np.arange(12), 10), ways=5, shots=1, queries=2, seed=4)
    for user, preset, make in [
        (user_conv4(8, outputs=5, seed=3), nn.Conv4(hidden=8, outputs=5, image_size=28, seed=3),
         lambda m: ms.MAML(m, inner_lr=0.4, inner_steps=1, loss="cross_entropy")),
        (user_conv4(8, seed=3), nn.Conv4(hidden=8, image_size=28, seed=3), ms.ProtoNet),
    ]:
        assert user.parameter_names[:4] == ["0.W", "0.b", "1.gamma", "1.beta"]
        for p, q in zip(user.parameters(), preset.parameters()):
            np.testing.assert_array_equal(p, q)
        a, b = make(user), make(preset)
        episodes = [tasks.sample() for _ in range(3)]
        (la, ga), (lb, gb) = a.meta_loss_and_grad(episodes), b.meta_loss_and_grad(episodes)
        assert la == lb
        for x, y in zip(ga, gb):
            np.testing.assert_array_equal(x, y)
        ha = a.fit(tasks, meta_batch_size=2, steps=3, seed=1, progress=False)
        hb = b.fit(tasks, meta_batch_size=2, steps=3, seed=1, progress=False)
        np.testing.assert_array_equal(ha.losses, hb.losses)
        for p, q in zip(user.parameters(), preset.parameters()):
            np.testing.assert_array_equal(p, q)


def test_a_user_built_mlp_is_the_preset_bit_for_bit():
    user = nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1),
                         input_shape=(1,), seed=2)
    preset = nn.MLP([1, 40, 40, 1], seed=2)
    tasks = ms.data.Sinusoid(shots=5, queries=5, seed=0)
    a, b = ms.MAML(user, inner_lr=0.01), ms.MAML(preset, inner_lr=0.01)
    np.testing.assert_array_equal(a.fit(tasks, meta_batch_size=4, steps=5, progress=False).losses,
                                  b.fit(tasks, meta_batch_size=4, steps=5, progress=False).losses)
    for p, q in zip(user.parameters(), preset.parameters()):
        np.testing.assert_array_equal(p, q)


def lstm_state(x, wx, wh, b, h, c):
    hsz = wh.shape[0]
    outs = []
    for k in range(x.shape[1]):
        z = x[:, k] @ wx + h @ wh + b
        i, f, g, o = (z[:, q * hsz:(q + 1) * hsz] for q in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        outs.append(h)
    return np.stack(outs, 1), h, c


def gru_state(x, wx, wh, bx, bh, h):
    hsz = wh.shape[0]
    outs = []
    for k in range(x.shape[1]):
        a, b = x[:, k] @ wx + bx, h @ wh + bh
        r = sigmoid(a[:, :hsz] + b[:, :hsz])
        z = sigmoid(a[:, hsz:2 * hsz] + b[:, hsz:2 * hsz])
        m = np.tanh(a[:, 2 * hsz:] + r * b[:, 2 * hsz:])
        h = (1 - z) * m + z * h
        outs.append(h)
    return np.stack(outs, 1), h


def test_recurrent_layers_return_their_final_state_from_any_initial_state():
    x = rng.normal(size=(3, 6, 2)).astype(np.float32)
    h0, c0 = rng.normal(size=(3, 5)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    lstm_layer = nn.LSTM(2, 5)
    p = set_random(lstm_layer)
    for state, (h, c) in [(None, (np.zeros((3, 5)), np.zeros((3, 5)))), ((h0, c0), (h0, c0))]:
        y, (hn, cn) = lstm_layer.run(x, state)
        want_y, want_h, want_c = lstm_state(x.astype(np.float64), p["Wx"], p["Wh"], p["b"], h, c)
        np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(hn, want_h, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(cn, want_c, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(lstm_layer.run(x)[0], lstm_layer(x))
    gru_layer = nn.GRU(2, 5)
    q = set_random(gru_layer)
    for h in (None, h0):
        y, hn = gru_layer.run(x, h)
        want_y, want_h = gru_state(x.astype(np.float64), q["Wx"], q["Wh"], q["bx"], q["bh"],
                                   np.zeros((3, 5)) if h is None else h)
        np.testing.assert_allclose(y, want_y, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(hn, want_h, rtol=1e-4, atol=1e-5)
    with pytest.raises(ms.Error, match=r"h0: expected shape \[3, 5\] \(batch, hidden_size\), got \[2, 5\]"):
        gru_layer.run(x, h0[:2])
    with pytest.raises(ms.Error, match="state: expected a pair"):
        lstm_layer.run(x, h0)
    with pytest.raises(ms.Error, match="c0: expected shape"):
        lstm_layer.run(x, (h0, c0[:, :2]))
