"""ms.ProtoNet against a hand-written NumPy reference (float64 forward and
backpropagation, itself checked by finite differences): the meta-loss and its
gradient to 1e-4 for linear and MLP encoders and both distances; predict is
the nearest prototype; a quick learning test on Gaussian blobs rendered as
images; refused arguments."""
import numpy as np
import pytest

import metaswift as ms

COSINE_EPS = 1e-8  # ProtoNet's unitRows: x / sqrt(|x|^2 + eps)


# ---- the reference ------------------------------------------------------------

def encode(params, x):
    """A linear (W, b) or one-hidden-layer tanh (W1, b1, W2, b2) encoder, as
    ms.nn.MLP computes it (x @ W + b), with its backward pass."""
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    p = [np.asarray(v, np.float64) for v in params]
    if len(p) == 2:
        w, b = p
        return x @ w + b, lambda de: [x.T @ de, de.sum(0)]
    w1, b1, w2, b2 = p
    h = np.tanh(x @ w1 + b1)

    def backward(de):
        dz = (de @ w2.T) * (1 - h ** 2)
        return [x.T @ dz, dz.sum(0), h.T @ de, de.sum(0)]
    return h @ w2 + b2, backward


def unit_rows(v):
    r = np.sqrt((v ** 2).sum(1, keepdims=True) + COSINE_EPS)
    return v / r, lambda du: du / r - v * (v * du).sum(1, keepdims=True) / r ** 3


def episode_logits(params, xs, ys, xq, distance):
    """Query logits and a backward pass from dlogits to the encoder's gradients."""
    ys = np.asarray(ys).astype(int)
    n, ways = len(xs), ys.max() + 1
    e, encoder_backward = encode(params, np.concatenate([xs, xq]))
    s, q = e[:n], e[n:]
    average = np.zeros((ways, n))
    average[ys, np.arange(n)] = 1
    average /= average.sum(1, keepdims=True)
    p = average @ s
    if distance == "euclidean":
        logits = 2 * q @ p.T - (q ** 2).sum(1)[:, None] - (p ** 2).sum(1)[None, :]

        def backward(dl):
            dq = 2 * dl @ p - 2 * dl.sum(1)[:, None] * q
            dp = 2 * dl.T @ q - 2 * dl.sum(0)[:, None] * p
            return encoder_backward(np.concatenate([average.T @ dp, dq]))
    else:
        uq, q_back = unit_rows(q)
        up, p_back = unit_rows(p)
        logits = uq @ up.T

        def backward(dl):
            dq, dp = q_back(dl @ up), p_back(dl.T @ uq)
            return encoder_backward(np.concatenate([average.T @ dp, dq]))
    return logits, backward


def reference_loss_and_grad(params, tasks, distance):
    total, grads = 0.0, [np.zeros(np.shape(p)) for p in params]
    for xs, ys, xq, yq in tasks:
        logits, backward = episode_logits(params, xs, ys, xq, distance)
        yq = np.asarray(yq).astype(int)
        m = len(yq)
        z = logits - logits.max(1, keepdims=True)
        prob = np.exp(z) / np.exp(z).sum(1, keepdims=True)
        total += -np.log(prob[np.arange(m), yq]).mean()
        onehot = np.zeros_like(prob)
        onehot[np.arange(m), yq] = 1
        for g, d in zip(grads, backward((prob - onehot) / m)):
            g += d
    return total / len(tasks), [g / len(tasks) for g in grads]


def episode(rng, ways, shots, queries, features, shuffle=True):
    ys = np.repeat(np.arange(ways), shots)
    if shuffle:   # any support order: prototypes follow the labels, not positions
        ys = rng.permutation(ys)
    yq = rng.integers(0, ways, size=ways * queries)
    centres = rng.normal(size=(ways, features))
    xs = (centres[ys] + 0.7 * rng.normal(size=(len(ys), features))).astype(np.float32)
    xq = (centres[yq] + 0.7 * rng.normal(size=(len(yq), features))).astype(np.float32)
    return xs, ys, xq, yq


ENCODERS = {"linear": [5, 3], "mlp": [5, 7, 4]}


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("encoder", ["linear", "mlp"])
def test_the_reference_agrees_with_finite_differences(encoder, distance):
    rng = np.random.default_rng(0)
    params = [rng.normal(size=s) * 0.5 for s in ms.nn.MLP(ENCODERS[encoder], activation="tanh").parameter_shapes]
    tasks = [episode(rng, 3, 2, 2, 5)]
    _, grads = reference_loss_and_grad(params, tasks, distance)
    for i, p in enumerate(params):
        for index in [(0,) * p.ndim, tuple(s - 1 for s in p.shape)]:
            bumped = [q.copy() for q in params]
            bumped[i][index] += 1e-6
            up = reference_loss_and_grad(bumped, tasks, distance)[0]
            bumped[i][index] -= 2e-6
            down = reference_loss_and_grad(bumped, tasks, distance)[0]
            assert (up - down) / 2e-6 == pytest.approx(grads[i][index], rel=1e-5, abs=1e-8)


# ---- the engine against it --------------------------------------------------------

@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
@pytest.mark.parametrize("encoder", ["linear", "mlp"])
def test_meta_loss_and_grad_equal_the_reference(encoder, distance):
    rng = np.random.default_rng(1)
    model = ms.nn.MLP(ENCODERS[encoder], activation="tanh", seed=2)
    proto = ms.ProtoNet(model, distance=distance)
    # A meta-batch may mix episodes of different ways and sizes.
    tasks = [episode(rng, 3, 2, 4, 5), episode(rng, 4, 1, 3, 5), episode(rng, 2, 5, 1, 5, shuffle=False)]
    loss, grads = proto.meta_loss_and_grad(tasks)
    want_loss, want_grads = reference_loss_and_grad(model.parameters(), tasks, distance)
    assert loss == pytest.approx(want_loss, rel=1e-4, abs=1e-4)
    assert proto.parameter_names == model.parameter_names
    for name, g, w in zip(model.parameter_names, grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4, err_msg=name)


def test_euclidean_is_the_squared_distance_of_the_paper():
    rng = np.random.default_rng(3)
    model = ms.nn.MLP([5, 3], seed=0)
    xs, ys, xq, _ = episode(rng, 3, 2, 2, 5)
    a = ms.ProtoNet(model).query_logits(xs, ys, xq)
    b = ms.ProtoNet(model, distance="squared_euclidean").query_logits(xs, ys, xq)
    np.testing.assert_array_equal(a, b)
    e = model(np.concatenate([xs, xq])).astype(np.float64)
    prototypes = np.stack([e[:len(xs)][ys == c].mean(0) for c in range(3)])
    squared = ((e[len(xs):, None, :] - prototypes[None]) ** 2).sum(-1)
    np.testing.assert_allclose(a, -squared, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_predict_is_the_argmax_of_the_reference_logits(distance):
    rng = np.random.default_rng(4)
    model = ms.nn.MLP([5, 7, 4], activation="tanh", seed=1)
    proto = ms.ProtoNet(model, distance=distance)
    for ways in (2, 5):
        xs, ys, xq, _ = episode(rng, ways, 3, 4, 5)
        predicted = proto.predict(xs, ys, xq)
        want, _ = episode_logits(model.parameters(), xs, ys, xq, distance)
        assert predicted.dtype == np.int64 and predicted.shape == (len(xq),)
        np.testing.assert_array_equal(predicted, want.argmax(1))
        np.testing.assert_array_equal(predicted, proto.query_logits(xs, ys, xq).argmax(1))
        assert set(predicted) <= set(range(ways))


def test_a_conv4_encoder_embeds_support_and_queries_as_one_batch():
    """With batch-statistics batch norm an embedding depends on its batch: the
    prototypes come from the encoder applied to support and queries together."""
    rng = np.random.default_rng(5)
    encoder = ms.nn.Conv4(hidden=6, blocks=2, image_size=8, seed=0)
    proto = ms.ProtoNet(encoder)
    xs = rng.normal(size=(6, 1, 8, 8)).astype(np.float32)
    ys = np.array([2, 0, 1, 1, 0, 2])
    xq = rng.normal(size=(5, 1, 8, 8)).astype(np.float32)
    e = encoder(np.concatenate([xs, xq])).astype(np.float64)
    prototypes = np.stack([e[:6][ys == c].mean(0) for c in range(3)])
    distances = ((e[6:, None, :] - prototypes[None]) ** 2).sum(-1)
    np.testing.assert_allclose(proto.query_logits(xs, ys, xq), -distances, rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(proto.predict(xs, ys, xq), distances.argmin(1))
    np.testing.assert_allclose(proto.embed(xs), encoder(xs))


# ---- learning ---------------------------------------------------------------------

def gaussian_blobs(classes=40, per_class=20, size=8, noise=0.3, seed=0):
    """Each class: two Gaussian blobs at a pair of cells of a 4x4 grid; each
    example jitters the blobs, scales their brightness and adds pixel noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    grid = np.array([(2 * i + 0.5, 2 * j + 0.5) for i in range(4) for j in range(4)])
    pairs = [(a, b) for a in range(16) for b in range(a + 1, 16)]
    chosen = rng.choice(len(pairs), classes, replace=False)
    labels = np.repeat(np.arange(classes), per_class)
    images = np.zeros((len(labels), 1, size, size))
    for i, c in enumerate(labels):
        amplitude = rng.uniform(0.5, 1.5)
        for g in pairs[chosen[c]]:
            cy, cx = grid[g] + rng.normal(0, 0.3, 2)
            images[i, 0] += amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2)
    images += noise * rng.normal(size=images.shape)
    return images.astype(np.float32), labels


def test_protonet_learns_new_classes_of_gaussian_blobs():
    images, labels = gaussian_blobs()
    split = ms.data.split_classes(40, train=30, seed=0)
    train = ms.data.Taskset(images, labels, ways=5, shots=5, queries=5, classes=split.train, seed=0)
    test = train.replace(classes=split.test)
    proto = ms.ProtoNet(ms.nn.Conv4(hidden=16, blocks=2, image_size=8, seed=0))
    before = proto.evaluate(test, tasks=300)
    history = proto.fit(train, steps=300, optimizer=ms.optim.Adam(lr=3e-3), progress=False)
    after = proto.evaluate(test, tasks=300)
    assert history.losses[-50:].mean() < 0.5 * history.losses[:50].mean()
    assert after.accuracy > before.accuracy + 0.05
    assert after.accuracy > 0.9, after


def test_protonet_trains_on_more_ways_than_it_is_tested_on():
    images, labels = gaussian_blobs(classes=20, per_class=10, seed=1)
    train = ms.data.Taskset(images, labels, ways=10, shots=1, queries=2, classes=range(15), seed=0)
    test = train.replace(classes=range(15, 20), ways=3)
    proto = ms.ProtoNet(ms.nn.Conv4(hidden=8, blocks=2, image_size=8, seed=0), distance="cosine")
    proto.fit(train, steps=5, progress=False)
    result = proto.evaluate(test, tasks=50, seed=3)
    assert isinstance(result, ms.eval.ClassificationEvaluation) and result.tasks == 50
    assert result.curve.shape == result.accuracy_curve.shape == (1,)
    again = proto.evaluate(test, tasks=50, seed=3)
    np.testing.assert_array_equal(result.accuracies, again.accuracies)
    np.testing.assert_array_equal(result.macro_f1s, again.macro_f1s)


# ---- refused ------------------------------------------------------------------------

@pytest.fixture
def proto():
    return ms.ProtoNet(ms.nn.MLP([4, 3], seed=0))


def good():
    x = np.zeros((4, 4), np.float32)
    return x, np.array([0, 1, 2, 1]), x[:3], np.array([0, 2, 1])


@pytest.mark.parametrize("index, value, match", [
    (1, np.array([0, 1, 3, 1]), r"^tasks\[0\]\.y_support: no example of class 2; an episode's support labels must cover 0\.\.<4"),
    (1, np.array([0, 1, 7, 1]), r"^tasks\[0\]\.y_support: label 7\.0 at index 2 is not a class index in 0\.\.<4 \(every class needs a support example\)"),
    (1, np.array([0, 1, 2]), r"^tasks\[0\]\.y_support: expected 4 class labels"),
    (1, np.array([0, 1, -1, 1]), r"^tasks\[0\]\.y_support: label -1\.0"),
    (1, np.array([0, 1, 0.5, 1]), r"^tasks\[0\]\.y_support: label 0\.5"),
    (3, np.array([0, 3, 1]), r"^tasks\[0\]\.y_query: label 3\.0 at index 1 is not a class index in 0\.\.<3 \(the support set's classes\)"),
    (2, np.zeros((3, 5)), r"^tasks\[0\]\.x_query: expected 4 features per row"),
    (0, np.zeros((0, 4)), r"^tasks\[0\]\.x_support: needs at least one example"),
    (2, np.full((3, 4), np.nan), r"^tasks\[0\]\.x_query: element 0 is nan"),
])
def test_bad_episodes_are_refused(proto, index, value, match):
    task = list(good())
    task[index] = value
    with pytest.raises(ms.Error, match=match):
        proto.meta_loss_and_grad([tuple(task)])


@pytest.mark.parametrize("args, match", [
    ((np.zeros((4, 4)), np.array([0, 0, 1, 3]), np.zeros((2, 4))), r"^y_support: no example of class 2"),
    ((np.zeros((4, 4)), np.array([0, 0, 1, 1]), np.zeros((2, 5))), r"^x_query: expected 4 features per row"),
    ((np.zeros((4, 4)), np.array([0, 0, 1, 1]), np.zeros((0, 4))), r"^x_query: needs at least one example"),
    ((np.zeros((4, 4)), np.array([0, 0, 1]), np.zeros((2, 4))), r"^y_support: expected 4 class labels"),
    ((np.zeros((4, 4)), np.array([0, 0, 1, 1]), "x"), r"^x_query: expected real numbers"),
])
def test_bad_predictions_are_refused(proto, args, match):
    with pytest.raises(ms.Error, match=match):
        proto.predict(*args)
    with pytest.raises(ms.Error, match=match):
        proto.query_logits(*args)


def test_bad_learner_arguments_are_refused(proto):
    with pytest.raises(ms.Error, match=r"^distance: unknown distance 'manhattan'; expected one of 'euclidean'"):
        ms.ProtoNet(ms.nn.MLP([4, 3]), distance="manhattan")
    with pytest.raises(ms.Error, match=r"^distance: expected 'euclidean' or 'cosine'"):
        ms.ProtoNet(ms.nn.MLP([4, 3]), distance=None)
    with pytest.raises(ms.Error, match=r"^encoder: expected a metaswift\.nn model"):
        ms.ProtoNet(np.zeros((4, 3)))
    with pytest.raises(ms.Error, match=r"^taskset: its tasks do not fit the learner \(task\.x_support: expected 4 features"):
        proto.fit(ms.data.Sinusoid(5, 5), steps=1)
    tasks = ms.data.Taskset(np.zeros((12, 4)), np.arange(12) % 3, ways=3, shots=1, queries=1)
    with pytest.raises(ms.Error, match=r"^inner_steps: ProtoNet takes no inner steps"):
        proto.evaluate(tasks, tasks=2, inner_steps=1)
    with pytest.raises(ms.Error, match=r"^inner_steps: ProtoNet takes no inner steps"):
        proto.predict(*good()[:3], inner_steps=5)
    with pytest.raises(ms.Error, match=r"^tasks: must be >= 1"):
        proto.evaluate(tasks, tasks=0)


def test_protonet_says_what_it_is(proto):
    assert repr(proto) == ("ProtoNet(encoder=MLP(sizes=[4, 3], activation='relu', seed=0, parameters=15), "
                           "distance='euclidean')  # Snell, Swersky & Zemel, NeurIPS 2017")
    assert "Snell" in ms.ProtoNet.__doc__ and "Example" in ms.ProtoNet.__doc__
