"""The transfer-learning protocols (Baseline, Baseline++, LogisticProbe,
FineTune) and Meta-Baseline's temperature on ProtoNet, against references:
NumPy's SGD, PyTorch's SGD when installed, scikit-learn's logistic
regression, and running statistics computed by hand."""
import numpy as np
import pytest

import metaswift as ms

D, WAYS = 6, 3


def identity_encoder(d=D):
    enc = ms.nn.Sequential(ms.nn.Linear(d, d))
    enc.set_parameters([np.eye(d, dtype=np.float32), np.zeros(d, np.float32)])
    return enc


def separable_episode(seed=0, shots=5, queries=4, d=D, ways=WAYS, spread=0.3):
    rng = np.random.default_rng(seed)
    centres = 3 * np.eye(ways, d, dtype=np.float32)
    ys = np.repeat(np.arange(ways), shots)
    yq = np.repeat(np.arange(ways), queries)
    xs = centres[ys] + spread * rng.standard_normal((len(ys), d)).astype(np.float32)
    xq = centres[yq] + spread * rng.standard_normal((len(yq), d)).astype(np.float32)
    return xs.astype(np.float32), ys, xq.astype(np.float32), yq


LEARNERS = [
    lambda e: ms.Baseline(e),
    lambda e: ms.Baseline(e, head="cosine"),
    lambda e: ms.LogisticProbe(e),
    lambda e: ms.FineTune(e, epochs=20),
    lambda e: ms.FineTune(e, head="cosine", epochs=20),
]


@pytest.mark.parametrize("make", LEARNERS)
def test_separable_episodes_are_classified_perfectly(make):
    learner = make(identity_encoder())
    for seed in range(3):
        xs, ys, xq, yq = separable_episode(seed)
        assert (learner.predict(xs, ys, xq) == yq).all()


def softmax_ce_grad(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p / len(y)


def numpy_baseline(z, y, initial, head, scale, lr, momentum, dampening, wd, epochs):
    """Full-batch Baseline (batch_size >= support size), in float32, as
    torch.optim.SGD updates."""
    p = [a.astype(np.float32).copy() for a in initial]
    buf = None
    f32 = np.float32
    if head == "cosine":
        z = z / (np.linalg.norm(z, axis=1, keepdims=True) + f32(1e-5))
    for _ in range(epochs):
        if head == "linear":
            W, b = p
            delta = softmax_ce_grad(z @ W + b, y)
            grads = [z.T @ delta, delta.sum(axis=0)]
        else:
            v, g = p
            norm = np.linalg.norm(v, axis=0)
            a = (z @ v) / norm
            delta = softmax_ce_grad(scale * g * a, y)
            e = scale * g * (z.T @ delta)
            grads = [(e - (e * v).sum(axis=0) * v / norm ** 2) / norm, scale * (delta * a).sum(axis=0)]
        d = [gr.astype(f32) + f32(wd) * q for gr, q in zip(grads, p)]
        buf = d if buf is None else [f32(momentum) * bb + f32(1 - dampening) * dd for bb, dd in zip(buf, d)]
        p = [q - f32(lr) * bb for q, bb in zip(p, buf)]
    return p


@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_baseline_sgd_matches_numpy_reference(head):
    xs, ys, xq, _ = separable_episode(1, spread=1.0)
    learner = ms.Baseline(identity_encoder(), head=head, scale=3.0, lr=0.05, momentum=0.8, dampening=0.3,
                          weight_decay=0.01, epochs=60, batch_size=100, seed=4)
    features, initial, fitted = learner.fit_head(xs, ys)
    np.testing.assert_allclose(features, xs, rtol=1e-6, atol=1e-6)
    reference = numpy_baseline(xs, ys, initial, head, 3.0, 0.05, 0.8, 0.3, 0.01, 60)
    for mine, ref in zip(fitted, reference):
        np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-5)
    if head == "cosine":  # g starts at the column norms of v (weight_norm's initialisation)
        np.testing.assert_allclose(initial[1], np.linalg.norm(initial[0], axis=0), rtol=1e-6)
    else:  # U(+-1/sqrt(d)), PyTorch's nn.Linear default
        assert np.abs(initial[0]).max() <= 1 / np.sqrt(D) and np.abs(initial[1]).max() <= 1 / np.sqrt(D)


def test_baseline_sgd_matches_torch():
    torch = pytest.importorskip("torch")
    xs, ys, _, _ = separable_episode(2, spread=1.0)
    learner = ms.Baseline(identity_encoder(), lr=0.01, momentum=0.9, dampening=0.9, weight_decay=1e-3,
                          epochs=30, batch_size=100)
    _, initial, fitted = learner.fit_head(xs, ys)
    W = torch.tensor(initial[0], requires_grad=True)
    b = torch.tensor(initial[1], requires_grad=True)
    opt = torch.optim.SGD([W, b], lr=0.01, momentum=0.9, dampening=0.9, weight_decay=1e-3)
    x, y = torch.tensor(xs), torch.tensor(ys)
    for _ in range(30):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(x @ W + b, y).backward()
        opt.step()
    np.testing.assert_allclose(fitted[0], W.detach().numpy(), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(fitted[1], b.detach().numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("C", [0.1, 1.0, 10.0])
def test_logistic_probe_matches_scikit_learn(C):
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(int(C * 10))
    for trial in range(3):
        d, ways, shots = 8, 4, 5
        xs = rng.standard_normal((ways * shots, d)).astype(np.float32)
        ys = np.repeat(np.arange(ways), shots)
        xq = rng.standard_normal((10, d)).astype(np.float32)
        probe = ms.LogisticProbe(identity_encoder(d), C=C)
        features, _, (W, b) = probe.fit_head(xs, ys)
        features = features.astype(np.float64)  # scikit-learn solves float32 data in float32
        x = features / np.linalg.norm(features, axis=1, keepdims=True)
        sk = LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(x, ys)
        np.testing.assert_allclose(W, sk.coef_.T, atol=1e-4)
        np.testing.assert_allclose(b, sk.intercept_, atol=1e-4)
        q = xq.astype(np.float64) / np.linalg.norm(xq.astype(np.float64), axis=1, keepdims=True)
        np.testing.assert_allclose(probe.query_logits(xs, ys, xq), q @ sk.coef_.T + sk.intercept_, atol=2e-4)
        assert (probe.predict(xs, ys, xq) == sk.predict(q)).all()


def bn_encoder(seed=0):
    """Linear then tracked BatchNorm1d, with running statistics set by hand."""
    enc = ms.nn.Sequential(ms.nn.Linear(4, D), ms.nn.BatchNorm1d(D, track_running_stats=True))
    enc._seed = seed
    rng = np.random.default_rng(seed)
    W, b = rng.standard_normal((4, D)).astype(np.float32), rng.standard_normal(D).astype(np.float32)
    gamma, beta = (1 + 0.1 * rng.standard_normal(D)).astype(np.float32), rng.standard_normal(D).astype(np.float32)
    enc.set_parameters([W, b, gamma, beta])
    names = enc.buffer_names
    mean, var = rng.standard_normal(D).astype(np.float32), (0.5 + rng.random(D)).astype(np.float32)
    enc.set_buffers([{"running_mean": mean, "running_var": var}.get(n.split(".")[-1], buf)
                     for n, buf in zip(names, enc.buffers())])
    return enc, (W, b, gamma, beta, mean, var)


def test_frozen_features_use_running_statistics():
    from sklearn.linear_model import LogisticRegression
    enc, (W, b, gamma, beta, mean, var) = bn_encoder()
    rng = np.random.default_rng(5)
    xs, ys = rng.standard_normal((12, 4)).astype(np.float32), np.repeat(np.arange(3), 4)
    xq = rng.standard_normal((6, 4)).astype(np.float32)
    W, b, gamma, beta, mean, var = (a.astype(np.float64) for a in (W, b, gamma, beta, mean, var))
    running = lambda x: ((x @ W + b) - mean) / np.sqrt(var + 1e-5) * gamma + beta
    batch_stats = lambda x: ((x @ W + b) - (x @ W + b).mean(0)) / np.sqrt((x @ W + b).var(0) + 1e-5) * gamma + beta
    probe = ms.LogisticProbe(enc)
    features, _, _ = probe.fit_head(xs, ys)
    np.testing.assert_allclose(features, running(xs), rtol=1e-4, atol=1e-4)
    assert np.abs(running(xs) - batch_stats(xs)).max() > 0.1  # the two really differ
    z = running(xs)
    sk = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(z / np.linalg.norm(z, axis=1, keepdims=True), ys)
    q = running(xq)
    expected = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ sk.coef_.T + sk.intercept_
    np.testing.assert_allclose(probe.query_logits(xs, ys, xq), expected, atol=2e-4)
    # Without tracking: batch statistics of support and query as one batch.
    plain = ms.nn.Sequential(ms.nn.Linear(4, D), ms.nn.BatchNorm1d(D))
    plain.set_parameters([W, b, gamma, beta])
    both = np.concatenate([xs, xq])
    f_plain = ms.LogisticProbe(plain).fit_head(xs, ys)[0]
    np.testing.assert_allclose(f_plain, batch_stats(xs), rtol=1e-4, atol=1e-4)
    zb = batch_stats(both)
    sk2 = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(
        zb[:12] / np.linalg.norm(zb[:12], axis=1, keepdims=True), ys)
    qb = zb[12:] / np.linalg.norm(zb[12:], axis=1, keepdims=True)
    np.testing.assert_allclose(ms.LogisticProbe(plain).query_logits(xs, ys, xq), qb @ sk2.coef_.T + sk2.intercept_,
                               atol=2e-4)


def snapshot(model):
    return [a.copy() for a in model.parameters()] + [a.copy() for a in model.buffers()]


@pytest.mark.parametrize("make", [lambda e: ms.Baseline(e, epochs=5), lambda e: ms.LogisticProbe(e),
                                  lambda e: ms.FineTune(e, epochs=3)])
def test_backbone_unchanged_bit_for_bit(make):
    enc, _ = bn_encoder(1)
    before = snapshot(enc)
    learner = make(enc)
    rng = np.random.default_rng(0)
    images, labels = rng.standard_normal((40, 4)).astype(np.float32), np.repeat(np.arange(4), 10)
    tasks = ms.data.Taskset(images, labels, ways=3, shots=2, queries=3, seed=0)
    xs, ys, xq, _ = tasks.sample()
    learner.predict(xs, ys, xq)
    learner.evaluate(tasks, tasks=4)
    if isinstance(learner, ms.FineTune):
        tuned = learner.adapt(xs, ys)
        assert any(not np.array_equal(a, b) for a, b in zip(tuned.parameters(), before))
    for a, b in zip(snapshot(enc), before):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("make", LEARNERS)
def test_deterministic_and_evaluate_is_mean_of_predicts(make):
    enc, _ = bn_encoder(2)
    learner = make(enc)
    rng = np.random.default_rng(3)
    images, labels = rng.standard_normal((50, 4)).astype(np.float32), np.repeat(np.arange(5), 10)
    tasks = ms.data.Taskset(images, labels, ways=3, shots=3, queries=4, seed=0)
    xs, ys, xq, _ = tasks.sample()
    assert np.array_equal(learner.query_logits(xs, ys, xq), make(enc).query_logits(xs, ys, xq))
    result = learner.evaluate(tasks, tasks=6, seed=9)
    again = tasks.replace(seed=9)
    accs = [np.mean(learner.predict(*t[:3]) == t[3]) for t in (again.sample() for _ in range(6))]
    np.testing.assert_allclose(result.accuracies, accs, atol=1e-6)
    assert result.accuracy == pytest.approx(np.mean(accs), abs=1e-6)


@pytest.mark.parametrize("make", LEARNERS)
def test_save_load_gives_identical_predictions(make, tmp_path):
    enc, _ = bn_encoder(3)
    learner = make(enc)
    xs, ys, xq, _ = separable_episode(4, d=4)
    path = tmp_path / "learner.safetensors"
    ms.save(learner, path)
    back = ms.load(path)
    assert type(back) is type(learner) and repr(back) == repr(learner)
    assert np.array_equal(back.query_logits(xs, ys, xq), learner.query_logits(xs, ys, xq))


def test_transfer_learners_do_not_meta_train():
    learner = ms.Baseline(identity_encoder())
    with pytest.raises(ms.Error, match="does not meta-train"):
        learner.fit(None)
    assert not hasattr(learner, "meta_loss_and_grad")


BAD = [
    (lambda e: ms.Baseline(e, lr=-1), "lr"),
    (lambda e: ms.Baseline(e, head="foo"), "head"),
    (lambda e: ms.Baseline(e, head=3), "head"),
    (lambda e: ms.Baseline(e, epochs=0), "epochs"),
    (lambda e: ms.Baseline(e, batch_size=0), "batch_size"),
    (lambda e: ms.Baseline(e, momentum=1.5), "momentum"),
    (lambda e: ms.Baseline(e, dampening=2), "dampening"),
    (lambda e: ms.Baseline(e, scale=0), "scale"),
    (lambda e: ms.Baseline(e, seed=-1), "seed"),
    (lambda e: ms.Baseline(e, lr="fast"), "lr"),
    (lambda e: ms.Baseline(e, epochs=1.5), "epochs"),
    (lambda e: ms.Baseline("not a model"), "encoder"),
    (lambda e: ms.LogisticProbe(e, C=0), "C"),
    (lambda e: ms.LogisticProbe(e, C=-1), "C"),
    (lambda e: ms.LogisticProbe(e, C=float("nan")), "C"),
    (lambda e: ms.LogisticProbe(e, max_iter=0), "max_iter"),
    (lambda e: ms.FineTune(e, backbone_lr=-1e-3), "backbone_lr"),
    (lambda e: ms.FineTune(e, head_lr=float("inf")), "head_lr"),
    (lambda e: ms.FineTune(e, weight_decay=-1), "weight_decay"),
    (lambda e: ms.FineTune(e, epochs=0), "epochs"),
    (lambda e: ms.ProtoNet(e, temperature=0), "temperature"),
    (lambda e: ms.ProtoNet(e, temperature="hot"), "temperature"),
]


@pytest.mark.parametrize("make, name", BAD)
def test_bad_arguments_name_the_argument(make, name):
    with pytest.raises(ms.Error, match=f"^{name}"):
        make(identity_encoder())


def test_bad_episodes_are_errors():
    learner = ms.Baseline(identity_encoder())
    xs, ys, xq, _ = separable_episode(0)
    with pytest.raises(ms.Error, match="y_support"):
        learner.predict(xs, np.array([0, 2] * (len(ys) // 2) + [0] * (len(ys) % 2)), xq)
    with pytest.raises(ms.Error, match="x_query"):
        learner.predict(xs, ys, xq[:, :3])
    with pytest.raises(ms.Error, match="tasks"):
        learner.evaluate(ms.data.Taskset(np.zeros((20, D), np.float32), np.repeat(np.arange(4), 5), ways=3,
                                         shots=1, queries=1), tasks=0)


# ---- Meta-Baseline's temperature on ProtoNet ------------------------------------

def test_protonet_temperature_scales_logits_and_is_learned():
    enc = ms.nn.MLP([4, 8], seed=0)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((6, 4)).astype(np.float32), np.array([0, 0, 1, 1, 2, 2])
    xq, yq = rng.standard_normal((5, 4)).astype(np.float32), np.array([0, 1, 2, 0, 1])
    plain, warm = ms.ProtoNet(enc, distance="cosine"), ms.ProtoNet(enc, distance="cosine", temperature=10.0)
    np.testing.assert_allclose(warm.query_logits(xs, ys, xq), 10 * plain.query_logits(xs, ys, xq), rtol=1e-5, atol=1e-6)
    assert warm.parameter_names[-1] == "temperature" and plain.parameter_names == enc.parameter_names
    assert warm.temperature == 10.0 and plain.temperature is None
    loss, grads = warm.meta_loss_and_grad([(xs, ys, xq, yq)])
    assert grads[-1].shape == (1,) and grads[-1][0] != 0
    # d loss / d tau by central differences
    eps = 1e-2
    losses = []
    for t in (10 + eps, 10 - eps):
        losses.append(ms.ProtoNet(enc, distance="cosine", temperature=t).meta_loss_and_grad([(xs, ys, xq, yq)])[0])
    assert grads[-1][0] == pytest.approx((losses[0] - losses[1]) / (2 * eps), rel=1e-2, abs=1e-4)


def test_protonet_temperature_survives_training_and_files(tmp_path):
    rng = np.random.default_rng(1)
    images, labels = rng.random((60, 1, 8, 8), dtype=np.float32), np.repeat(np.arange(6), 10)
    tasks = ms.data.Taskset(images, labels, ways=3, shots=2, queries=4, seed=0)
    proto = ms.ProtoNet(ms.nn.Conv4(hidden=8, blocks=2, image_size=8, seed=0), distance="cosine", temperature=10.0)
    proto.fit(tasks, steps=3, progress=False, checkpoint=tmp_path / "run.safetensors", checkpoint_every=3)
    learned = proto.temperature
    assert learned != 10.0
    ms.save(proto, tmp_path / "proto.safetensors")
    back = ms.load(tmp_path / "proto.safetensors")
    assert back.temperature == learned and "temperature=" in repr(back)
    x = tasks.sample()
    assert np.array_equal(back.query_logits(*x[:3]), proto.query_logits(*x[:3]))
    # A checkpoint holds it too: a fresh learner resumed from the run's last step has the run's temperature.
    fresh = ms.ProtoNet(ms.nn.Conv4(hidden=8, blocks=2, image_size=8, seed=0), distance="cosine", temperature=10.0)
    fresh.fit(tasks, steps=3, progress=False, resume_from=tmp_path / "run.safetensors")
    assert fresh.temperature == learned


def test_protonet_without_temperature_keeps_its_recipe(tmp_path):
    import json
    from safetensors import safe_open
    ms.save(ms.ProtoNet(ms.nn.MLP([4, 8], seed=0)), tmp_path / "p.safetensors")
    with safe_open(str(tmp_path / "p.safetensors"), "np") as f:
        recipe = f.metadata()["learner"]
    assert recipe == ('{"kind":"learner.ProtoNet","arguments":{"model":{"model":null},'
                      '"distance":{"string":"euclidean"}}}')


def test_docstring_examples_run_and_cite_papers():
    import doctest
    from metaswift import finetune
    result = doctest.testmod(finetune, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
    for cls in (ms.Baseline, ms.LogisticProbe, ms.FineTune):
        assert "Example" in cls.__doc__ and "References" in cls.__doc__
    assert repr(ms.Baseline(identity_encoder(), head="cosine")).endswith("# Baseline++, Chen, Liu, Kira, Wang & Huang, ICLR 2019")
