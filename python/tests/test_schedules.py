"""Learning-rate schedules and resumed fits: the engine's rates against the
formulas in NumPy, and training against an outer loop written out here."""
import numpy as np
import pytest

import metaswift as ms


def test_cosine_decay_matches_its_formula():
    lr, steps, final, warmup = 0.3, 50, 0.01, 7
    t = np.arange(80)
    span = steps - warmup
    s = np.minimum(t - warmup, span)
    expected = np.where(t < warmup, lr * (t + 1) / warmup,
                        final + (lr - final) * (1 + np.cos(np.pi * s / span)) / 2)
    rates = ms.optim.CosineDecay(lr, steps=steps, final=final, warmup=warmup).rates(80)
    assert rates.dtype == np.float32 and rates.shape == (80,)
    np.testing.assert_allclose(rates, expected, rtol=1e-6, atol=1e-9)
    assert rates[warmup] == pytest.approx(lr) and rates[steps] == pytest.approx(final)
    assert ms.optim.CosineDecay(lr, steps=steps)(steps) == 0.0


def test_exponential_and_piecewise_match_their_formulas():
    t = np.arange(30)
    np.testing.assert_allclose(ms.optim.ExponentialDecay(2.0, rate=0.8, every=3).rates(30), 2.0 * 0.8 ** (t / 3),
                               rtol=1e-6)
    np.testing.assert_allclose(ms.optim.ExponentialDecay(2.0, rate=0.8, every=3, staircase=True).rates(30),
                               2.0 * 0.8 ** (t // 3), rtol=1e-6)
    piecewise = ms.optim.PiecewiseConstant(0.5, boundaries=[4, 10], values=[0.05, 0.0])
    np.testing.assert_array_equal(piecewise.rates(30),
                                  np.float32(np.where(t < 4, 0.5, np.where(t < 10, 0.05, 0.0))))
    # An optimizer reports its rates, whether constant or scheduled.
    np.testing.assert_array_equal(ms.optim.Adam(lr=0.01).learning_rates(4), np.full(4, 0.01, np.float32))
    np.testing.assert_array_equal(ms.optim.SGD(lr=piecewise).learning_rates(30), piecewise.rates(30))


@pytest.mark.parametrize("make, match", [
    (lambda: ms.optim.CosineDecay(0.1, steps=5, warmup=5), "steps: must be > warmup"),
    (lambda: ms.optim.CosineDecay(0.1, steps=0), "steps: must be >= 1"),
    (lambda: ms.optim.CosineDecay(0.1, steps=5, warmup=-1), "warmup: must be >= 0"),
    (lambda: ms.optim.CosineDecay(-0.1, steps=5), "lr: must be finite and >= 0"),
    (lambda: ms.optim.CosineDecay(0.1, steps=5, final=float("nan")), "final: must be finite"),
    (lambda: ms.optim.CosineDecay(0.1, steps="5"), "steps: expected an integer"),
    (lambda: ms.optim.ExponentialDecay(0.1, rate=0.0), r"rate: must be in \(0, 1\]"),
    (lambda: ms.optim.ExponentialDecay(0.1, rate=1.5), r"rate: must be in \(0, 1\]"),
    (lambda: ms.optim.ExponentialDecay(0.1, rate=0.5, every=0), "every: must be >= 1"),
    (lambda: ms.optim.PiecewiseConstant(0.1, boundaries=[5, 5], values=[1, 2]), "strictly increasing"),
    (lambda: ms.optim.PiecewiseConstant(0.1, boundaries=[0], values=[1]), "must be > 0"),
    (lambda: ms.optim.PiecewiseConstant(0.1, boundaries=[3], values=[]), "one value per boundary"),
    (lambda: ms.optim.PiecewiseConstant(0.1, boundaries=[3], values=[-1]), "values: must be finite and >= 0"),
    (lambda: ms.optim.PiecewiseConstant(0.1, boundaries=3, values=[1]), "boundaries: expected a sequence"),
    (lambda: ms.optim.Adam(lr="fast"), "lr: expected a real number"),
])
def test_bad_schedules_name_the_argument(make, match):
    with pytest.raises(ms.Error, match=match):
        make()


def test_repr_shows_the_schedule():
    assert repr(ms.optim.SGD(lr=ms.optim.ExponentialDecay(0.1, rate=0.5), momentum=0.9)) == (
        "SGD(lr=ExponentialDecay(lr=0.1, rate=0.5, every=1, staircase=False), momentum=0.9, nesterov=False)")


def _sinusoid(seed):
    return ms.data.Sinusoid(shots=5, queries=5, seed=seed)


def test_scheduled_momentum_sgd_over_resumed_fits_equals_the_outer_loop_by_hand():
    """Two fits, the second resumed, take the same steps as SGD with momentum
    and a decaying rate written out here: the momentum buffer and the update
    count carry over; only the tasks come from the second call's seed."""
    schedule = ms.optim.ExponentialDecay(0.05, rate=0.6)
    learner = ms.MAML(ms.nn.MLP([1, 8, 1], seed=0), inner_lr=0.02)
    theta = [p.copy() for p in learner.parameters()]
    optimizer = ms.optim.SGD(lr=schedule, momentum=0.9)
    learner.fit(_sinusoid(4), meta_batch_size=3, steps=2, optimizer=optimizer, seed=4, progress=False)
    learner.fit(_sinusoid(9), meta_batch_size=3, steps=2, seed=9, progress=False, resume=True)
    trained = [p.copy() for p in learner.parameters()]

    # By hand: the trainer's meta-batches are its seed's first samples (see
    # test_learners_training._trainer_batch).
    reference = ms.MAML(ms.nn.MLP([1, 8, 1], seed=0), inner_lr=0.02)
    first, second = _sinusoid(4), _sinusoid(9)
    batches = [[first.sample() for _ in range(3)] for _ in range(2)]
    batches += [[second.sample() for _ in range(3)] for _ in range(2)]
    buffers = [np.zeros_like(p) for p in theta]
    for t, batch in enumerate(batches):
        reference.model.set_parameters(theta)
        _, grads = reference.meta_loss_and_grad(batch)
        buffers = [np.float32(0.9) * b + g for b, g in zip(buffers, grads)]
        theta = [p - np.float32(0.05 * 0.6 ** t) * b for p, b in zip(theta, buffers)]
    for a, b in zip(trained, theta):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_fresh_fit_restarts_the_optimizer_and_a_resumed_one_does_not():
    def run(resume):
        learner = ms.MAML(ms.nn.MLP([1, 8, 1], seed=0), inner_lr=0.02)
        # The rate drops to zero after two updates: a resumed fit stands still.
        optimizer = ms.optim.Adam(lr=ms.optim.PiecewiseConstant(0.01, boundaries=[2], values=[0.0]))
        learner.fit(_sinusoid(1), meta_batch_size=2, steps=2, optimizer=optimizer, seed=1, progress=False)
        after_first = [p.copy() for p in learner.parameters()]
        learner.fit(_sinusoid(2), meta_batch_size=2, steps=3, optimizer=optimizer, seed=2, progress=False,
                    resume=resume)
        return after_first, learner.parameters()

    after_first, resumed = run(resume=True)
    for a, b in zip(after_first, resumed):
        np.testing.assert_array_equal(a, b)
    after_first, restarted = run(resume=False)
    assert all(not np.array_equal(a, b) for a, b in zip(after_first, restarted))


def test_resume_needs_a_previous_fit_and_the_same_optimizer():
    learner = ms.MAML(ms.nn.MLP([1, 8, 1], seed=0))
    with pytest.raises(ms.Error, match="resume: this learner has no previous fit"):
        learner.fit(_sinusoid(0), steps=1, progress=False, resume=True)
    optimizer = ms.optim.Adam()
    learner.fit(_sinusoid(0), meta_batch_size=2, steps=1, optimizer=optimizer, progress=False)
    with pytest.raises(ms.Error, match="optimizer: resume=True carries on"):
        learner.fit(_sinusoid(0), steps=1, optimizer=ms.optim.Adam(), progress=False, resume=True)
    history = learner.fit(_sinusoid(0), meta_batch_size=2, steps=2, optimizer=optimizer, progress=False, resume=True)
    assert len(history) == 2
    # ProtoNet and Reptile take it too.
    reptile = ms.Reptile(ms.nn.MLP([1, 8, 1], seed=0), inner_steps=2)
    reptile.fit(_sinusoid(0), steps=2, progress=False)
    assert len(reptile.fit(_sinusoid(0), steps=2, progress=False, resume=True)) == 2
