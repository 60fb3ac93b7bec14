"""Few-shot evaluation: predict for every learner is the argmax of its
adapted model, evaluate reports accuracy and macro-F1 with the 95% interval
1.96 std / sqrt(N) of its per-episode values, ms.eval's summaries and
metrics equal NumPy's, and cross-validation folds are disjoint and cover the
classes."""
import doctest

import numpy as np
import pytest

import metaswift as ms
from metaswift import eval as ms_eval


def ci95(values):
    values = np.asarray(values, np.float64)
    return 1.96 * values.std() / np.sqrt(len(values))


@pytest.fixture(scope="module")
def features():
    """A labelled dataset of feature vectors: 12 classes around random centres."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(12), 10)
    x = rng.normal(size=(12, 6))[labels] * 2 + rng.normal(size=(120, 6))
    return x.astype(np.float32), labels


@pytest.fixture(scope="module")
def tasks(features):
    return ms.data.Taskset(*features, ways=4, shots=2, queries=3, seed=1)


LEARNERS = {
    "maml": lambda m: ms.MAML(m, inner_lr=0.3, inner_steps=2, loss="cross_entropy"),
    "fomaml": lambda m: ms.MAML(m, inner_lr=0.3, inner_steps=2, first_order=True, loss="cross_entropy"),
    "metasgd": lambda m: ms.MetaSGD(m, inner_lr=0.3, inner_steps=2, loss="cross_entropy"),
    "anil": lambda m: ms.ANIL(m, inner_lr=0.3, inner_steps=2, loss="cross_entropy"),
    "reptile": lambda m: ms.Reptile(m, inner_lr=0.3, inner_steps=2, loss="cross_entropy"),
}


@pytest.mark.parametrize("kind", LEARNERS)
def test_predict_is_the_argmax_of_the_adapted_model(kind, tasks):
    learner = LEARNERS[kind](ms.nn.MLP([6, 16, 4], seed=0))
    xs, ys, xq, _ = tasks.sample()
    for steps in (None, 0, 3):
        predicted = learner.predict(xs, ys, xq, inner_steps=steps)
        adapted = learner.adapt(xs, ys, steps=steps)
        logits = adapted(xq)
        assert predicted.dtype == np.int64 and predicted.shape == (len(xq),)
        np.testing.assert_array_equal(predicted, logits.argmax(1))
        np.testing.assert_allclose(learner.query_logits(xs, ys, xq, inner_steps=steps), logits, rtol=1e-5, atol=1e-5)
    # predict changes nothing
    np.testing.assert_array_equal(learner.predict(xs, ys, xq), learner.predict(xs, ys, xq))


def test_predict_on_conv4_with_maml():
    rng = np.random.default_rng(2)
    xs, xq = rng.normal(size=(6, 1, 8, 8)).astype(np.float32), rng.normal(size=(9, 1, 8, 8)).astype(np.float32)
    ys = np.array([0, 0, 1, 1, 2, 2])
    maml = ms.MAML(ms.nn.Conv4(hidden=4, blocks=2, outputs=3, image_size=8), inner_lr=0.1, loss="cross_entropy")
    predicted = maml.predict(xs, ys, xq)
    np.testing.assert_array_equal(predicted, maml.adapt(xs, ys)(xq).argmax(1))
    assert set(predicted) <= {0, 1, 2}


@pytest.mark.parametrize("kind", ["maml", "anil", "proto"])
def test_evaluate_reports_accuracy_and_macro_f1_with_95_percent_intervals(kind, tasks):
    learner = (ms.ProtoNet(ms.nn.MLP([6, 16, 8], seed=0)) if kind == "proto"
               else LEARNERS[kind](ms.nn.MLP([6, 16, 4], seed=0)))
    steps = None if kind == "proto" else 3
    result = learner.evaluate(tasks, tasks=120, inner_steps=steps, seed=7)
    assert isinstance(result, ms.eval.ClassificationEvaluation)
    assert result.tasks == 120 and result.accuracies.shape == result.macro_f1s.shape == result.losses.shape == (120,)
    assert result.accuracy == pytest.approx(result.accuracies.mean(dtype=np.float64), abs=1e-6)
    assert result.accuracy_ci == pytest.approx(ci95(result.accuracies), rel=1e-5)
    assert result.macro_f1 == pytest.approx(result.macro_f1s.mean(dtype=np.float64), abs=1e-6)
    assert result.macro_f1_ci == pytest.approx(ci95(result.macro_f1s), rel=1e-5)
    assert result.loss == pytest.approx(result.losses.mean(dtype=np.float64), rel=1e-5)
    assert result.loss_ci == pytest.approx(ci95(result.losses), rel=1e-5)
    # Accuracy is a multiple of 1/12 (12 queries); macro-F1 is at most 1 and 1 exactly when accuracy is.
    np.testing.assert_allclose(result.accuracies * 12, np.round(result.accuracies * 12), atol=1e-4)
    assert np.all((result.macro_f1s >= 0) & (result.macro_f1s <= 1))
    np.testing.assert_array_equal(result.macro_f1s == 1, result.accuracies == 1)
    # The curve: 0..steps inner steps, ending at the per-episode means.
    k = 0 if kind == "proto" else 3
    assert result.curve.shape == result.accuracy_curve.shape == (k + 1,)
    assert result.accuracy_curve[-1] == pytest.approx(result.accuracy, abs=1e-5)
    assert result.curve[-1] == pytest.approx(result.loss, rel=1e-4)
    if kind != "proto":
        assert result.accuracy_curve[-1] > result.accuracy_curve[0]   # adaptation helps
    text = repr(result)
    assert text.startswith("ClassificationEvaluation(tasks=120, accuracy=") and "macro_f1=" in text


@pytest.mark.parametrize("kind", ["maml", "metasgd", "proto"])
def test_evaluate_measures_what_predict_predicts(kind, tasks):
    """Episode t of evaluate(taskset, seed=s) is the t-th episode sample()
    gives for seed s: its accuracy, macro-F1 and loss are those of predict
    and query_logits on it."""
    learner = (ms.ProtoNet(ms.nn.MLP([6, 16, 8], seed=0)) if kind == "proto"
               else LEARNERS[kind](ms.nn.MLP([6, 16, 4], seed=0)))
    result = learner.evaluate(tasks, tasks=25, seed=9)
    same = tasks.replace(seed=9)
    for t in range(25):
        xs, ys, xq, yq = same.sample()
        predicted = learner.predict(xs, ys, xq)
        logits = learner.query_logits(xs, ys, xq).astype(np.float64)
        z = logits - logits.max(1, keepdims=True)
        loss = -np.mean(z[np.arange(len(yq)), yq] - np.log(np.exp(z).sum(1)))
        assert result.accuracies[t] == pytest.approx(np.mean(predicted == yq), abs=1e-6)
        assert result.macro_f1s[t] == pytest.approx(macro_f1_reference(predicted, yq, tasks.ways), abs=1e-6)
        assert result.losses[t] == pytest.approx(loss, rel=1e-4, abs=1e-5)


def test_regression_evaluation_keeps_its_fields():
    maml = ms.MAML(ms.nn.MLP([1, 8, 1], seed=0), inner_lr=0.01)
    result = maml.evaluate(ms.data.Sinusoid(5, 10, seed=0), tasks=30, inner_steps=2)
    assert type(result) is ms.Evaluation and result.tasks == 30
    assert result.accuracy is None and result.curve.shape == (3,)
    assert result.loss_ci == pytest.approx(ci95(result.per_task.loss), rel=1e-5)
    assert maml.evaluate(ms.data.Sinusoid(5, 10), inner_steps=0).tasks == 600   # the convention


def test_mean_confidence_interval_is_the_fields_formula():
    values = np.random.default_rng(4).random(600)
    mean, ci = ms.eval.mean_confidence_interval(values)
    assert mean == pytest.approx(values.mean(), rel=1e-6)
    assert ci == pytest.approx(1.96 * np.std(values) / np.sqrt(600), rel=1e-5)
    _, sample = ms.eval.mean_confidence_interval(values, ddof=1)
    assert sample == pytest.approx(1.96 * np.std(values, ddof=1) / np.sqrt(600), rel=1e-5)
    assert ms.eval.mean_confidence_interval([0.5]) == (0.5, 0.0)


def macro_f1_reference(predicted, labels, classes):
    scores = []
    for c in range(classes):
        tp = np.sum((predicted == c) & (labels == c))
        fp = np.sum((predicted == c) & (labels != c))
        fn = np.sum((predicted != c) & (labels == c))
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return np.mean(scores)


def test_accuracy_and_macro_f1_equal_numpy():
    rng = np.random.default_rng(5)
    for _ in range(20):
        classes = rng.integers(2, 7)
        labels, predicted = rng.integers(0, classes, 30), rng.integers(0, classes, 30)
        assert ms.eval.accuracy(predicted, labels) == pytest.approx(np.mean(predicted == labels), abs=1e-6)
        assert ms.eval.macro_f1(predicted, labels, classes) == pytest.approx(
            macro_f1_reference(predicted, labels, classes), abs=1e-6)
    # A class neither predicted nor present does not count; one never predicted counts as 0.
    assert ms.eval.macro_f1([0, 0], [0, 0], classes=5) == 1.0
    assert ms.eval.macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0) / 2)


def test_class_folds_are_disjoint_and_cover_the_classes():
    classes = [3, 8, 10, 21, 22, 40, 41, 57, 60, 99, 100]
    folds = ms.eval.class_folds(classes, folds=4, seed=2)
    tests = [set(test) for _, test in folds]
    assert sorted(len(t) for t in tests) == [2, 3, 3, 3]
    assert set.union(*tests) == set(classes) and sum(map(len, tests)) == len(classes)
    for train, test in folds:
        assert not set(train) & set(test) and set(train) | set(test) == set(classes)
    assert folds == ms.eval.class_folds(list(reversed(classes)), folds=4, seed=2)
    assert folds != ms.eval.class_folds(classes, folds=4, seed=3)


def test_cross_validate_trains_and_tests_each_fold_on_disjoint_classes(features):
    x, labels = features
    made = []

    def make_learner():
        made.append(ms.ProtoNet(ms.nn.MLP([6, 16, 8], seed=len(made))))
        return made[-1]

    cv = ms.eval.cross_validate(x, labels, make_learner, folds=3, ways=3, shots=2, queries=3, train_steps=10,
                                episodes=40, seed=1)
    assert len(cv) == 3 and len(made) == 3
    tests = [set(f.test_classes) for f in cv.folds]
    assert set.union(*tests) == set(range(12)) and sum(map(len, tests)) == 12
    for fold in cv.folds:
        assert not set(fold.train_classes) & set(fold.test_classes)
        assert set(fold.train_classes) | set(fold.test_classes) == set(range(12))
        assert fold.evaluation.tasks == 40 and len(fold.history) == 10
    np.testing.assert_allclose(cv.accuracies, [f.evaluation.accuracy for f in cv.folds], rtol=1e-6)
    assert cv.accuracy == pytest.approx(cv.accuracies.mean(dtype=np.float64), abs=1e-6)
    assert cv.accuracy_ci == pytest.approx(ci95(cv.accuracies), rel=1e-4, abs=1e-7)
    assert cv.macro_f1_ci == pytest.approx(ci95(cv.macro_f1s), rel=1e-4, abs=1e-7)
    assert repr(cv).startswith("CrossValidation(folds=3, accuracy=")
    # The folds are those of class_folds with the same seed.
    assert [f.test_classes for f in cv.folds] == [t for _, t in ms.eval.class_folds(range(12), 3, seed=1)]


@pytest.mark.parametrize("kwargs, match", [
    ({"folds": 13}, r"^folds: 13 exceeds the 12 classes"),
    ({"folds": 1}, r"^folds: must be >= 2, got 1"),
    ({"folds": 5, "ways": 3}, r"^folds: fold \d has 2 test classes, fewer than ways \(3\)"),
    ({"make_learner": "proto"}, r"^make_learner: expected a callable"),
    ({"train_steps": -1}, r"^train_steps: must be >= 0"),
    ({"episodes": 0}, r"^episodes: must be >= 1"),
    ({"ways": 20}, r"^ways: 20 exceeds the 12 classes available"),
    ({"make_learner": lambda: ms.MAML(ms.nn.MLP([6, 3]))}, r"^make_learner: returned a learner that does not classify"),
])
def test_bad_cross_validation_arguments_are_refused(features, kwargs, match):
    args = {"make_learner": lambda: ms.ProtoNet(ms.nn.MLP([6, 4])), "folds": 3, "ways": 2, "shots": 1,
            "queries": 1, "train_steps": 1, "episodes": 2, **kwargs}
    with pytest.raises(ms.Error, match=match):
        ms.eval.cross_validate(*features, **args)


def test_cross_validate_refuses_a_learner_shared_between_folds(features):
    shared = ms.ProtoNet(ms.nn.MLP([6, 4]))
    with pytest.raises(ms.Error, match=r"^make_learner: returned a learner \(or model\) of an earlier fold"):
        ms.eval.cross_validate(*features, lambda: shared, folds=2, ways=2, shots=1, queries=1, train_steps=1,
                               episodes=2)


@pytest.mark.parametrize("call, match", [
    (lambda: ms.eval.mean_confidence_interval([]), r"^values: need at least one value"),
    (lambda: ms.eval.mean_confidence_interval([1.0, np.nan]), r"^values: element 1 is nan"),
    (lambda: ms.eval.mean_confidence_interval([1.0, 2.0], ddof=2), r"^ddof: must be in 0\.\.<2"),
    (lambda: ms.eval.accuracy([0, 1], [0]), r"^labels: has 1 entries but predicted has 2"),
    (lambda: ms.eval.accuracy([], []), r"^predicted: need at least one prediction"),
    (lambda: ms.eval.macro_f1([0, -1], [0, 1]), r"^predicted\[1\]: -1 is not a class index in 0\.\.<2"),
    (lambda: ms.eval.macro_f1([0, 1], [0, 4], classes=3), r"^labels\[1\]: 4 is not a class index in 0\.\.<3"),
    (lambda: ms.eval.macro_f1([0.0, 1.0], [0, 1]), r"^predicted: expected integer class labels"),
    (lambda: ms.eval.class_folds(3, folds=4), r"^folds: 4 exceeds the 3 classes"),
    (lambda: ms.eval.class_folds([1, 2, 1], folds=2), r"^classes\[2\]: class 1 appears more than once"),
    (lambda: ms.eval.class_folds([1, -2, 3], folds=2), r"^classes\[1\]: -2 is negative"),
])
def test_bad_evaluation_arguments_are_refused(call, match):
    with pytest.raises(ms.Error, match=match):
        call()


def test_docstring_examples():
    result = doctest.testmod(ms_eval, extraglobs={"np": np}, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
