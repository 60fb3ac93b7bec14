"""ms.nn.Conv4 against an independent NumPy forward pass (convolution by
explicit sums over the kernel, batch norm with batch statistics, ReLU, 2x2
max-pool), and the gradient learners on it: MAML's meta-gradient reaches
every parameter and agrees with finite differences of the meta-loss; FOMAML,
Meta-SGD and ANIL run; ANIL's inner loop adapts Conv4's head only."""
import numpy as np
import pytest

import metaswift as ms

EPS = 1e-5  # Conv4's batch-norm epsilon


def conv3x3(x, w, b):
    """Cross-correlation with padding 1: y[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] x[n, c, i+u-1, j+v-1]."""
    n, c, h, wd = x.shape
    padded = np.zeros((n, c, h + 2, wd + 2))
    padded[:, :, 1:-1, 1:-1] = x
    y = np.zeros((n, w.shape[0], h, wd))
    for u in range(3):
        for v in range(3):
            y += np.einsum("ncij,fc->nfij", padded[:, :, u:u + h, v:v + wd], w[:, :, u, v])
    return y + b[None, :, None, None]


def batch_norm(x, gamma, beta):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = ((x - mean) ** 2).mean(axis=(0, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mean) / np.sqrt(var + EPS) + beta[None, :, None, None]


def max_pool(x):
    n, c, h, w = x.shape
    out = np.zeros((n, c, h // 2, w // 2))
    for i in range(h // 2):
        for j in range(w // 2):
            out[:, :, i, j] = x[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(2, 3))
    return out


def conv4_reference(params, x, blocks, head):
    a = x.astype(np.float64)
    p = [np.asarray(v, np.float64) for v in params]
    for k in range(blocks):
        w, b, gamma, beta = p[4 * k:4 * k + 4]
        a = max_pool(np.maximum(batch_norm(conv3x3(a, w, b), gamma, beta), 0))
    a = a.reshape(len(a), -1)
    if head:
        a = a @ p[-2] + p[-1]
    return a


def randomised(model, seed):
    """The model with every parameter random (gamma and beta too), so the test
    exercises each of them."""
    rng = np.random.default_rng(seed)
    model.set_parameters([rng.normal(size=s).astype(np.float32) * (0.5 if len(s) > 1 else 1) for s in
                          model.parameter_shapes])
    return model


@pytest.mark.parametrize("in_channels, hidden, blocks, image_size, outputs", [
    (2, 3, 2, 7, 4),      # odd sizes: pooling floors 7 -> 3 -> 1
    (1, 4, 3, 8, None),   # an encoder: 8 -> 4 -> 2 -> 1, embedding of 4
    (3, 2, 1, 6, 5),
])
def test_forward_equals_the_numpy_reference(in_channels, hidden, blocks, image_size, outputs):
    model = randomised(ms.nn.Conv4(in_channels, hidden, blocks, outputs, image_size, seed=1), seed=2)
    x = np.random.default_rng(3).normal(size=(5, in_channels, image_size, image_size)).astype(np.float32)
    got = model(x)
    want = conv4_reference(model.parameters(), x, blocks, outputs is not None)
    assert got.shape == want.shape == (5, outputs or model.embedding_size)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_the_standard_architecture():
    model = ms.nn.Conv4()   # Omniglot: 1 channel, 64 filters, 4 blocks, 28x28
    assert model.embedding_size == 64
    names = model.parameter_names
    assert names[:4] == ["block1.conv.W", "block1.conv.b", "block1.bn.gamma", "block1.bn.beta"]
    assert len(names) == 16 and names[-1] == "block4.bn.beta"
    assert model.parameter_shapes[0] == (64, 1, 3, 3) and model.parameter_shapes[4] == (64, 64, 3, 3)
    assert model.num_parameters == 4 * 64 * 3 + 64 * 9 + 3 * 64 * 64 * 9
    head = ms.nn.Conv4(in_channels=3, hidden=32, outputs=5, image_size=84)   # MAML's miniImageNet network
    assert head.embedding_size == 800 and head.parameter_shapes[-2:] == [(800, 5), (5,)]
    assert head.head_parameters == 2 and model.head_parameters == 0
    assert repr(head) == ("Conv4(in_channels=3, hidden=32, blocks=4, outputs=5, image_size=84, seed=0, "
                          f"parameters={head.num_parameters})")
    # Batch norm starts as the identity (gamma 1, beta 0), convolutions from the seed.
    p = model.named_parameters()
    np.testing.assert_array_equal(p["block2.bn.gamma"], 1)
    np.testing.assert_array_equal(p["block2.bn.beta"], 0)
    assert np.array_equal(model.parameters()[0], ms.nn.Conv4(seed=0).parameters()[0])
    assert not np.array_equal(model.parameters()[0], ms.nn.Conv4(seed=1).parameters()[0])


def test_set_parameters_is_all_or_nothing():
    model = ms.nn.Conv4(hidden=2, blocks=1, image_size=4, outputs=3)
    before = model.parameters()
    bad = [np.zeros(s, np.float32) for s in model.parameter_shapes]
    bad[-1] = np.zeros(4, np.float32)
    with pytest.raises(ms.Error, match=r"^parameter head\.b: expected shape \[3\], got \[4\]"):
        model.set_parameters(bad)
    for u, v in zip(model.parameters(), before):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("x, match", [
    (np.zeros((2, 1, 8)), r"^x: expected 4 dimensions \(batch, 1, 8, 8\), got shape \[2, 1, 8\]"),
    (np.zeros((2, 3, 8, 8)), r"^x: expected images of shape \(batch, 1, 8, 8\)"),
    (np.zeros((2, 1, 9, 9)), r"^x: expected images of shape \(batch, 1, 8, 8\)"),
    (np.zeros((2, 1, 8, 4)), r"^x: expected images of shape"),
    (np.zeros((0, 1, 8, 8)), r"^x: needs at least one example"),
    (np.full((1, 1, 8, 8), np.nan), r"^x: element 0 is nan"),
])
def test_bad_inputs_are_refused(x, match):
    with pytest.raises(ms.Error, match=match):
        ms.nn.Conv4(hidden=2, blocks=2, image_size=8)(x)


@pytest.mark.parametrize("kwargs, match", [
    ({"in_channels": 0}, r"^in_channels: must be > 0, got 0"),
    ({"hidden": -3}, r"^hidden: must be > 0, got -3"),
    ({"blocks": 0}, r"^blocks: must be > 0, got 0"),
    ({"blocks": 5}, r"^image_size: 28 is too small for 5 blocks"),
    ({"image_size": 0}, r"^image_size: must be > 0, got 0"),
    ({"outputs": 0}, r"^outputs: must be >= 1, got 0"),
    ({"hidden": 2**40}, r"^hidden: \d+ is too large"),
    ({"hidden": 40000}, r"^hidden: needs \d+ MiB, more than the \d+ MiB this process can allocate now"),
    ({"hidden": 1.5}, r"^hidden: expected an integer"),
    ({"seed": -1}, r"^seed: expected an integer"),
])
def test_bad_architectures_are_refused(kwargs, match):
    with pytest.raises(ms.Error, match=match):
        ms.nn.Conv4(**kwargs)


# ---- gradient learners on Conv4 ----------------------------------------------

WAYS, SHOTS, QUERIES, SIZE = 3, 2, 3, 8


@pytest.fixture(scope="module")
def episodes():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(6), 8)
    images = (rng.normal(size=(6, 1, SIZE, SIZE))[labels] + 0.5 * rng.normal(size=(48, 1, SIZE, SIZE)))
    return ms.data.Taskset(images.astype(np.float32), labels, ways=WAYS, shots=SHOTS, queries=QUERIES, seed=0)


def small_conv4(outputs=WAYS, seed=0):
    return ms.nn.Conv4(hidden=4, blocks=2, outputs=outputs, image_size=SIZE, seed=seed)


def is_conv_bias(name):
    return name.endswith("conv.b")


def test_maml_meta_gradient_reaches_every_parameter(episodes):
    model = small_conv4()
    maml = ms.MAML(model, inner_lr=0.1, inner_steps=2, loss="cross_entropy")
    tasks = [episodes.sample() for _ in range(3)]
    loss, grads = maml.meta_loss_and_grad(tasks)
    assert np.isfinite(loss) and loss > 0
    assert [g.shape for g in grads] == model.parameter_shapes
    for name, g in zip(model.parameter_names, grads):
        assert np.all(np.isfinite(g)), name
        if is_conv_bias(name):
            # Batch norm subtracts the batch mean, so a bias just before it has
            # no effect on the output: its exact gradient is zero.
            assert np.abs(g).max() < 1e-4, name
        else:
            assert np.abs(g).max() > 1e-6, f"{name} gets no meta-gradient"


def test_maml_meta_gradient_matches_finite_differences_of_the_meta_loss(episodes):
    """Second order through Conv4 (batch norm, ReLU, max-pool): the
    directional derivative of the meta-loss along a random unit direction,
    by central differences. ReLU and max-pool switches make the meta-loss
    piecewise smooth, so a step can straddle a kink: the median of three step
    sizes is compared."""
    model = small_conv4(seed=3)
    maml = ms.MAML(model, inner_lr=0.1, inner_steps=1, loss="cross_entropy")
    tasks = [episodes.replace(seed=11).sample() for _ in range(2)]
    theta = [p.copy() for p in model.parameters()]
    _, grads = maml.meta_loss_and_grad(tasks)
    rng = np.random.default_rng(5)
    direction = [rng.normal(size=p.shape) for p in theta]
    scale = 1 / np.sqrt(sum((d ** 2).sum() for d in direction))
    direction = [d * scale for d in direction]

    def meta_loss(t):
        model.set_parameters([p + t * d for p, d in zip(theta, direction)])
        return maml.meta_loss_and_grad(tasks)[0]

    numeric = np.median([(meta_loss(h) - meta_loss(-h)) / (2 * h) for h in (5e-4, 1e-3, 2e-3)])
    model.set_parameters(theta)
    analytic = sum(float((g.astype(np.float64) * d).sum()) for g, d in zip(grads, direction))
    assert abs(analytic) > 1e-2
    assert numeric == pytest.approx(analytic, rel=2e-2, abs=1e-3)


def test_fomaml_metasgd_and_anil_train_on_conv4(episodes):
    for make in (lambda m: ms.MAML(m, inner_lr=0.1, first_order=True, loss="cross_entropy"),
                 lambda m: ms.MetaSGD(m, inner_lr=0.1, loss="cross_entropy"),
                 lambda m: ms.ANIL(m, inner_lr=0.1, inner_steps=2, loss="cross_entropy")):
        learner = make(small_conv4())
        loss, grads = learner.meta_loss_and_grad([episodes.sample(), episodes.sample()])
        assert np.isfinite(loss) and len(grads) == len(learner.parameter_names)
        history = learner.fit(episodes, meta_batch_size=2, steps=3, progress=False)
        assert len(history) == 3 and np.all(np.isfinite(history.losses)), repr(learner)
    names = ms.MetaSGD(small_conv4(), loss="cross_entropy").parameter_names
    assert names[-2:] == ["lr.head.W", "lr.head.b"]


def test_anil_adapts_the_conv4_head_only(episodes):
    model = small_conv4()
    anil = ms.ANIL(model, inner_lr=0.5, inner_steps=3, loss="cross_entropy")
    xs, ys, _, _ = episodes.sample()
    adapted = anil.adapt(xs, ys)
    assert isinstance(adapted, ms.nn.Conv4)
    for name, before, after in zip(model.parameter_names, model.parameters(), adapted.parameters()):
        if name.startswith("head."):
            assert not np.array_equal(before, after), name
        else:
            np.testing.assert_array_equal(before, after, err_msg=name)
    # ...while the outer loop trains the body too.
    _, grads = anil.meta_loss_and_grad([episodes.sample()])
    assert np.abs(grads[0]).max() > 0


def test_gradient_learners_refuse_a_conv4_without_a_head():
    for learner in (ms.MAML, ms.MetaSGD, ms.ANIL, ms.Reptile):
        with pytest.raises(ms.Error, match=r"^model: \w+ needs a Conv4 with a head"):
            learner(small_conv4(outputs=None))


def test_a_taskset_the_conv4_cannot_take_is_refused_before_training(episodes):
    too_few = ms.MAML(small_conv4(outputs=2), loss="cross_entropy")
    with pytest.raises(ms.Error, match=r"^taskset: its tasks do not fit the learner \(task\.y_support: "
                                       r"label 2\.0 at index 4 is not a class index in 0\.\.<2\)"):
        too_few.fit(episodes, steps=1)
    wrong_size = ms.MAML(ms.nn.Conv4(hidden=2, blocks=2, outputs=3, image_size=12), loss="cross_entropy")
    with pytest.raises(ms.Error, match=r"^taskset: its tasks do not fit the learner \(task\.x_support: "
                                       r"expected images of shape \(batch, 1, 12, 12\)"):
        wrong_size.evaluate(episodes, tasks=2)
