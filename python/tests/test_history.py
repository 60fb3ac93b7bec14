"""History and Evaluation: what fit and evaluate return, and their plots."""
import sys

import numpy as np
import pytest

import metaswift as ms
from metaswift.history import Evaluation, History


def test_history_holds_the_losses_and_smooths_them():
    h = History(np.arange(10, dtype=np.float32))
    assert len(h) == 10 and h.final == 9.0 and not h.interrupted
    np.testing.assert_allclose(h.smoothed(3), np.arange(1, 9))
    np.testing.assert_allclose(h.smoothed(1), np.arange(10))
    assert h.smoothed(100).shape == (1,)  # a window longer than the run is the whole run
    with pytest.raises(ValueError, match="smooth"):
        h.smoothed(0)
    assert repr(h) == "History(steps=10, loss 0 -> 9)"
    empty = History(np.zeros(0))
    assert len(empty) == 0 and empty.final is None and repr(empty) == "History(steps=0)"
    assert "interrupted" in repr(History([1.0, 2.0], interrupted=True))


def test_fit_returns_a_history_of_every_step():
    learner = ms.MAML(ms.nn.MLP([1, 8, 1], seed=0))
    history = learner.fit(ms.data.Sinusoid(5, 5), meta_batch_size=3, steps=25, progress=False)
    assert isinstance(history, History) and learner.history is history
    assert history.losses.shape == (25,) and history.losses.dtype == np.float32
    assert np.all(np.isfinite(history.losses)) and np.all(history.losses > 0)


def test_evaluation_for_classification_reports_accuracy():
    e = Evaluation(curve=[1.5, 0.9], per_task_loss=[1.0, 0.8], accuracy_curve=[0.3, 0.6],
                   per_task_accuracy=[0.5, 0.7])
    assert e.accuracy == pytest.approx(0.6)
    assert e.accuracy_ci == pytest.approx(1.96 * 0.1 / np.sqrt(2))
    np.testing.assert_allclose(e.accuracy_curve, [0.3, 0.6])
    np.testing.assert_allclose(e.per_task.accuracy, [0.5, 0.7])
    assert "accuracy=60.00% ± 13.86%" in repr(e)


def test_plot_needs_matplotlib_and_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"History\.plot needs matplotlib: pip install matplotlib"):
        History([1.0, 2.0]).plot()


def test_plot_draws_the_losses_and_their_moving_average():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    learner = ms.MAML(ms.nn.MLP([1, 8, 1], seed=0))
    history = learner.fit(ms.data.Sinusoid(5, 5), meta_batch_size=3, steps=40, progress=False)
    ax = history.plot(smooth=5, color="C3")
    raw, smooth = ax.get_lines()
    np.testing.assert_array_equal(raw.get_ydata(), history.losses)
    np.testing.assert_allclose(smooth.get_ydata(), history.smoothed(5))
    np.testing.assert_array_equal(smooth.get_xdata(), np.arange(5, 41))
    assert ax.get_xlabel() == "meta-step" and "mean of 5 steps" in smooth.get_label()
    fig, given = plt.subplots()
    assert history.plot(ax=given, smooth=1) is given and len(given.get_lines()) == 1
    plt.close("all")
