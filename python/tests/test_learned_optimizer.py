"""The learned optimizer (Andrychowicz et al., NeurIPS 2016) from Python:
argument checks, meta-training lowers the loss on new problems, files reload
in another process to the same bits, and it drives a learner's fit."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import metaswift as ms


def test_bad_arguments_name_the_argument():
    with pytest.raises(ms.Error, match="hidden"):
        ms.optim.Learned(hidden=0)
    with pytest.raises(ms.Error, match="output_scale"):
        ms.optim.Learned(output_scale=float("nan"))
    with pytest.raises(ms.Error, match="output_scale"):
        ms.optim.Learned(output_scale=0)
    with pytest.raises(ms.Error, match="preprocessing"):
        ms.optim.Learned(preprocessing=-1)
    with pytest.raises(ms.Error, match=r"weights\[0\]"):
        ms.optim.Learned(hidden=4, weights=[np.zeros((3, 3))] * 8)
    with pytest.raises(ms.Error, match="weights"):
        ms.optim.Learned(hidden=4, weights=[np.zeros((2, 16))])
    with pytest.raises(ms.Error, match="dim"):
        ms.learned.Quadratic(dim=0)
    with pytest.raises(ms.Error, match="labels"):
        ms.learned.MLP(np.zeros((4, 2), np.float32), [0, 1, 2])
    with pytest.raises(ms.Error, match="labels"):
        ms.learned.MLP(np.zeros((3, 2), np.float32), [0, -1, 2])
    with pytest.raises(ms.Error, match="inputs"):
        ms.learned.MLP(np.zeros(3, np.float32), [0, 1, 2])
    with pytest.raises(ms.Error, match="activation"):
        ms.learned.MLP(np.zeros((3, 2), np.float32), [0, 1, 2], activation="gelu")
    with pytest.raises(ms.Error, match="inputs"):
        ms.learned.MLP(np.full((3, 2), np.nan, np.float32), [0, 1, 2])
    opt = ms.optim.Learned(hidden=4)
    q = ms.learned.Quadratic(dim=3)
    with pytest.raises(ms.Error, match="truncation"):
        opt.meta_train(q, steps=1, unroll=10, truncation=20)
    with pytest.raises(ms.Error, match="mode"):
        opt.meta_train(q, steps=1, mode="second")
    with pytest.raises(ms.Error, match="problems"):
        opt.meta_train("quadratics", steps=1)
    with pytest.raises(ms.Error, match="meta_optimizer"):
        opt.meta_train(q, steps=1, meta_optimizer=ms.optim.Learned(hidden=2))
    with pytest.raises(ms.Error, match="optimizer"):
        q.loss_curves("adam", problems=1, steps=1)
    with pytest.raises(ms.Error, match="problems"):
        q.loss_curves(opt, problems=0, steps=1)
    with pytest.raises(ms.Error, match="learning rate"):
        opt.learning_rates(3)
    with pytest.raises(ms.Error, match="base"):
        ms.optim.CosineDecay(0.1, steps=10)._apply(opt._optimizer)


def test_meta_training_on_quadratics_lowers_the_loss_on_new_quadratics():
    quadratics = ms.learned.Quadratic(dim=10)
    opt = ms.optim.Learned(hidden=20, seed=0)
    before = quadratics.loss_curves(opt, problems=20, steps=100, seed=123)
    losses = opt.meta_train(quadratics, steps=250, unroll=100, truncation=20, meta_batch_size=2,
                            meta_optimizer=ms.optim.Adam(lr=1e-2), seed=1)
    assert losses.shape == (250,) and np.isfinite(losses).all()
    after = quadratics.loss_curves(opt, problems=20, steps=100, seed=123)
    sgd = quadratics.loss_curves(ms.optim.SGD(lr=0.01), problems=20, steps=100, seed=123)
    print("mean 100-step loss: before", before[:, -1].mean(), "after", after[:, -1].mean(), "SGD(0.01)", sgd[:, -1].mean())
    assert after[:, -1].mean() < 0.5 * before[:, -1].mean()
    assert after[:, -1].mean() < after[:, 0].mean()
    assert np.array_equal(before[:, 0], after[:, 0]), "the same drawn problems for every optimizer"


def test_same_seed_same_bits_and_resume_carries_on():
    q = ms.learned.Quadratic(dim=4)
    a, b = ms.optim.Learned(hidden=5, seed=3), ms.optim.Learned(hidden=5, seed=3)
    la = a.meta_train(q, steps=6, unroll=10, truncation=5, seed=9)
    lb = b.meta_train(q, steps=3, unroll=10, truncation=5, seed=9)
    lb = np.concatenate([lb, b.meta_train(q, steps=3, resume=True)])
    assert la.tobytes() == lb.tobytes()
    for name, w in a.weights.items():
        assert w.tobytes() == b.weights[name].tobytes(), name


def test_validation_keeps_the_best_validated_weights_and_resume_trains_on_from_the_latest():
    """The paper's selection: the optimizer ends with the weights of the
    lowest mean final validation loss; training itself is unchanged by it
    (it carries on from the latest weights, also across resume)."""
    q = ms.learned.Quadratic(dim=4)
    kw = dict(unroll=10, truncation=5, seed=9)
    plain = ms.optim.Learned(hidden=5, seed=3)
    snapshots = {}
    for k in range(1, 11):
        plain.meta_train(q, steps=4, resume=k > 1, **kw)
        snapshots[4 * k] = plain.weights
    assert plain.validations["steps"].size == 0 and plain.validations["best_step"] == -1

    whole = ms.optim.Learned(hidden=5, seed=3)
    whole.meta_train(q, steps=40, validation_problems=6, validate_every=4, validation_seed=21, **kw)
    v = whole.validations
    assert v["steps"].tolist() == list(range(4, 41, 4))
    for step, loss in zip(v["steps"], v["losses"]):  # each is the mean final loss of the same 6 problems
        probe = ms.optim.Learned(hidden=5, weights=list(snapshots[step].values()))
        final = q.loss_curves(probe, problems=6, steps=10, seed=21)[:, -1]
        assert np.isclose(loss, final.astype(np.float64).mean(), rtol=1e-5), step
    best = int(v["steps"][np.argmin(v["losses"])])
    assert v["best_step"] == best
    assert best not in (20, 40) and int(np.argmin(v["losses"][:5])) != 4, \
        "seeds where the best is neither half's latest (else the test shows nothing)"
    for name, w in whole.weights.items():
        assert w.tobytes() == snapshots[best][name].tobytes(), name

    halves = ms.optim.Learned(hidden=5, seed=3)
    halves.meta_train(q, steps=20, validation_problems=6, validate_every=4, validation_seed=21, **kw)
    halves.meta_train(q, steps=20, resume=True)
    assert halves.validations["losses"].tobytes() == v["losses"].tobytes()
    for name, w in halves.weights.items():
        assert w.tobytes() == whole.weights[name].tobytes(), name

    with pytest.raises(ms.Error, match="validation_problems"):
        plain.meta_train(q, steps=1, validation_problems=0)
    with pytest.raises(ms.Error, match="validate_every"):
        plain.meta_train(q, steps=1, validation_problems=2, validate_every=0)
    with pytest.raises(ms.Error, match="validation_seed"):
        plain.meta_train(q, steps=1, validation_problems=2, validation_seed=-1)


def test_exact_mode_runs_and_differs_from_first_order():
    q = ms.learned.Quadratic(dim=4)
    a, b = ms.optim.Learned(hidden=5, seed=3), ms.optim.Learned(hidden=5, seed=3)
    a.meta_train(q, steps=2, unroll=6, truncation=3, mode="exact", seed=2)
    b.meta_train(q, steps=2, unroll=6, truncation=3, mode="first_order", seed=2)
    assert any(not np.array_equal(a.weights[k], b.weights[k]) for k in a.weights)


def test_saved_learned_optimizer_gives_the_same_curve_in_another_process(tmp_path):
    q = ms.learned.Quadratic(dim=10)
    opt = ms.optim.Learned(hidden=6, seed=4)
    opt.meta_train(q, steps=10, unroll=20, truncation=5, seed=5)
    path = tmp_path / "learned.safetensors"
    ms.save(opt, path)
    curve = q.loss_curves(opt, problems=3, steps=50, seed=77)
    np.save(tmp_path / "curve.npy", curve)
    script = textwrap.dedent(f"""
        import numpy as np, metaswift as ms
        opt = ms.load({str(path)!r})
        assert repr(opt) == {repr(opt)!r}, repr(opt)
        curve = ms.learned.Quadratic(dim=10).loss_curves(opt, problems=3, steps=50, seed=77)
        expected = np.load({str(tmp_path / 'curve.npy')!r})
        assert curve.tobytes() == expected.tobytes(), (curve, expected)
        print("same bits")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "same bits" in out.stdout


def test_a_damaged_file_is_refused_naming_the_file(tmp_path):
    opt = ms.optim.Learned(hidden=3)
    path = tmp_path / "opt.safetensors"
    ms.save(opt, path)
    data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(ms.Error, match="opt.safetensors"):
        ms.load(path)


def test_learned_optimizer_drives_a_learners_fit():
    opt = ms.optim.Learned(hidden=8, seed=0, output_scale=0.01)
    opt.meta_train(ms.learned.Quadratic(dim=10), steps=5, unroll=20, truncation=5)
    maml = ms.MAML(ms.nn.MLP([1, 20, 20, 1], seed=0), inner_lr=0.01, inner_steps=1)
    history = maml.fit(ms.data.Sinusoid(shots=5, queries=5, seed=0), meta_batch_size=4, steps=20, optimizer=opt,
                       progress=False)
    losses = np.asarray(history.losses if hasattr(history, "losses") else history)
    assert losses.shape[-1] == 20 and np.isfinite(losses).all()
    with pytest.raises(ms.Error, match="optimizer"):
        maml.fit(ms.data.Sinusoid(shots=5, queries=5, seed=0), meta_batch_size=4, steps=2, optimizer=opt,
                 progress=False, checkpoint=str("/tmp/lopt_never.safetensors"), checkpoint_every=1)


def test_mlp_problem_on_arrays():
    rng = np.random.default_rng(0)
    x = rng.random((200, 8)).astype(np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    problems = ms.learned.MLP(x, y, hidden=20, batch_size=32)
    curves = problems.loss_curves(ms.optim.Adam(lr=0.05), problems=2, steps=60, seed=0)
    assert curves.shape == (2, 61)
    assert curves[:, -10:].mean() < curves[:, 0].mean()
    opt = ms.optim.Learned(hidden=6, seed=1)
    losses = opt.meta_train(problems, steps=3, unroll=12, truncation=4)
    assert np.isfinite(losses).all()


def test_gru_layers_train_save_and_load(tmp_path):
    quadratics = ms.learned.Quadratic(dim=10)
    opt = ms.optim.Learned(hidden=12, cell="gru", seed=0)
    assert list(opt.weights) == ["gru0.Wx", "gru0.Wh", "gru0.bx", "gru0.bh", "gru1.Wx", "gru1.Wh", "gru1.bx", "gru1.bh",
                                 "out.W", "out.b"]
    assert opt.weights["gru0.Wx"].shape == (2, 36) and "cell='gru'" in repr(opt)
    before = quadratics.loss_curves(opt, problems=10, steps=100, seed=7)
    opt.meta_train(quadratics, steps=150, unroll=100, truncation=20, meta_batch_size=2, seed=1)
    after = quadratics.loss_curves(opt, problems=10, steps=100, seed=7)
    assert after[:, -1].mean() < 0.5 * before[:, -1].mean()
    ms.save(opt, tmp_path / "gru.safetensors")
    loaded = ms.load(tmp_path / "gru.safetensors")
    assert repr(loaded) == repr(opt)
    assert quadratics.loss_curves(loaded, problems=10, steps=100, seed=7).tobytes() == after.tobytes()
    with pytest.raises(ms.Error, match="cell"):
        ms.optim.Learned(cell="rnn")
