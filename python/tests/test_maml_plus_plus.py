"""MAML++ from Python: one step with frozen rates is MAML, its switches are
checked by name and kept in files, and it meta-trains."""
import numpy as np
import pytest

import metaswift as ms


def images(classes=12, per_class=4, seed=0):
    g = np.random.default_rng(seed)
    return g.normal(size=(classes * per_class, 1, 28, 28)).astype(np.float32), np.repeat(np.arange(classes), per_class)


def test_one_step_with_frozen_rates_is_maml():
    x, y = images()
    tasks = ms.data.Taskset(x, y, ways=3, shots=1, queries=2, seed=1)
    batch = [tasks.sample() for _ in range(2)]
    plus = ms.MAMLPlusPlus(ms.nn.Conv4(hidden=4, outputs=3, seed=2), inner_lr=0.1, inner_steps=1, learn_rates=False,
                           adapt_norm=True)
    maml = ms.MAML(ms.nn.Conv4(hidden=4, outputs=3, seed=2), inner_lr=0.1, inner_steps=1, loss="cross_entropy")
    assert plus.parameter_names == maml.parameter_names and plus.learning_rates is None
    a, b = plus.meta_loss_and_grad(batch), maml.meta_loss_and_grad(batch)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5)
    for ga, gb in zip(a[1], b[1]):
        np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-6)


def test_its_meta_parameters():
    plus = ms.MAMLPlusPlus(ms.nn.Conv4(hidden=4, outputs=3, seed=0), inner_lr=0.4, inner_steps=3)
    np.testing.assert_allclose(plus.learning_rates, np.full((3, 10), 0.4, np.float32))  # 4 convolutions + head, W and b
    names = plus.parameter_names
    copies = [n for n in names if n.startswith("mamlpp.step")]
    assert len(copies) == 2 * 8  # steps 1 and 2, the four blocks' gamma and beta
    values = dict(zip(names, plus.parameters()))
    np.testing.assert_array_equal(values["mamlpp.step2.block3.bn.gamma"], values["block3.bn.gamma"])


def test_bad_switches_are_refused_by_name():
    model = ms.nn.Conv4(hidden=4, outputs=3, seed=0)
    for kwargs, name in (({"learn_rates": 2}, "learn_rates"), ({"msl_epochs": -1}, "msl_epochs"),
                         ({"iterations_per_epoch": 0}, "iterations_per_epoch"), ({"inner_steps": 0}, "inner_steps"),
                         ({"per_step_norm": "yes"}, "per_step_norm")):
        with pytest.raises(ms.Error, match=name):
            ms.MAMLPlusPlus(model, **kwargs)


def test_a_saved_maml_plus_plus_loads_with_its_switches(tmp_path):
    plus = ms.MAMLPlusPlus(ms.nn.MLP([1, 8, 1], activation="tanh", seed=1), inner_steps=2, loss="mse",
                           msl_epochs=3, iterations_per_epoch=7, per_step_norm=False)
    plus.fit(ms.data.Sinusoid(shots=5, queries=5, seed=0), meta_batch_size=2, steps=4, progress=False)
    ms.save(plus, tmp_path / "plus.safetensors")
    loaded = ms.load(tmp_path / "plus.safetensors")
    assert isinstance(loaded, ms.MAMLPlusPlus) and loaded.options == plus.options
    assert loaded.options["msl_epochs"] == 3 and loaded.options["per_step_norm"] is False
    for a, b in zip(plus.parameters(), loaded.parameters()):
        assert a.tobytes() == b.tobytes()


def test_meta_training_lowers_the_adapted_loss_and_moves_the_rates():
    tasks = ms.data.Sinusoid(shots=10, queries=10, seed=1)
    test = ms.data.Sinusoid(shots=10, queries=10, seed=2)
    plus = ms.MAMLPlusPlus(ms.nn.MLP([1, 32, 32, 1], seed=0), inner_lr=0.01, inner_steps=2, loss="mse",
                           iterations_per_epoch=20)
    before = plus.evaluate(test, tasks=100).loss
    rates = plus.learning_rates.copy()
    h = plus.fit(tasks, meta_batch_size=10, steps=300, optimizer=ms.optim.Adam(lr=3e-3), progress=False)
    after = plus.evaluate(test, tasks=100)
    assert after.loss < 0.5 * before, (before, after.loss)
    assert len(after.curve) == 3 and len(h.losses) == 300
    assert not np.array_equal(rates, plus.learning_rates)
    # The default optimizer (Adam 1e-3, cosine-annealed to 1e-5) trains too.
    again = ms.MAMLPlusPlus(ms.nn.MLP([1, 32, 32, 1], seed=0), inner_lr=0.01, inner_steps=2, loss="mse")
    again.fit(tasks, meta_batch_size=10, steps=300, progress=False)
    assert again.evaluate(test, tasks=100).loss < 0.9 * before


def test_sinusoid_meta_training_stays_finite_with_large_gradients():
    """The sinusoid example's setting (MLP 1-40-40-1 ReLU, five steps from 0.01, MSE, Adam 1e-3) on the
    largest amplitudes only. Rates learned raw (the paper's code), as they are here with inner_lr=1 and
    the scales at 0.01, move by about 1e-3 per update: the meta-loss became infinite at update 245."""
    tasks = ms.data.Sinusoid(shots=10, queries=10, amplitude=(4.0, 5.0), seed=1)
    plus = ms.MAMLPlusPlus(ms.nn.MLP([1, 40, 40, 1], activation="relu", seed=0), inner_lr=0.01, inner_steps=5,
                           loss="mse")
    losses = plus.fit(tasks, meta_batch_size=10, steps=300, optimizer=ms.optim.Adam(lr=1e-3), progress=False).losses
    assert np.isfinite(losses).all()
    assert np.mean(losses[-50:]) < 0.5 * np.mean(losses[:50]), (np.mean(losses[:50]), np.mean(losses[-50:]))
    assert np.abs(plus.learning_rates - 0.01).max() < 0.005, plus.learning_rates


def test_its_rates_are_learned_in_units_of_inner_lr():
    plus = ms.MAMLPlusPlus(ms.nn.MLP([1, 8, 1], seed=0), inner_lr=0.02, inner_steps=2, loss="mse")
    i = plus.parameter_names.index("mamlpp.lr_scale")
    np.testing.assert_array_equal(plus.parameters()[i], 1)
    plus._learner.call("set_meta_parameter", index=i, value=np.full_like(plus.parameters()[i], 3.0))
    np.testing.assert_allclose(plus.learning_rates, 0.06, rtol=1e-6)
    with pytest.raises(ms.Error, match="inner_lr"):
        ms.MAMLPlusPlus(ms.nn.MLP([1, 8, 1], seed=0), inner_lr=0.0, loss="mse")
    ms.MAMLPlusPlus(ms.nn.MLP([1, 8, 1], seed=0), inner_lr=0.0, loss="mse", learn_rates=False)  # nothing to learn
