"""ms.data.Taskset: N-way K-shot episodes of a labelled array, sampled
natively: balanced, distinct examples of distinct classes, labels remapped
to 0..N-1 per episode, restricted to a class split, seeded; and the class
splits that keep meta-training and meta-testing classes apart."""
import numpy as np
import pytest

import metaswift as ms

CLASSES, PER_CLASS = 12, 9


@pytest.fixture(scope="module")
def dataset():
    """Every example is tagged with its own index (pixel 0) and its class
    (pixel 1), so an episode can be traced back to the dataset."""
    labels = np.repeat(np.arange(CLASSES) * 10 + 3, PER_CLASS)  # class ids need not be 0..C-1
    rng = np.random.default_rng(0)
    order = rng.permutation(len(labels))                        # nor grouped
    labels = labels[order]
    images = rng.random((len(labels), 1, 2, 3)).astype(np.float32)
    images[:, 0, 0, 0] = np.arange(len(labels))
    images[:, 0, 0, 1] = labels
    return images, labels


def trace(x):
    return x[:, 0, 0, 0].astype(int), x[:, 0, 0, 1].astype(int)


@pytest.mark.parametrize("ways, shots, queries", [(5, 1, 15 // 5), (3, 2, 4), (12, 4, 5), (1, 1, 1)])
def test_episodes_are_balanced_distinct_and_remapped(dataset, ways, shots, queries):
    images, labels = dataset
    tasks = ms.data.Taskset(images, labels, ways=ways, shots=shots, queries=queries, seed=1)
    for _ in range(20):
        xs, ys, xq, yq = tasks.sample()
        assert xs.shape == (ways * shots, 1, 2, 3) and xq.shape == (ways * queries, 1, 2, 3)
        assert xs.dtype == xq.dtype == np.float32 and ys.dtype == yq.dtype == np.int64
        # Grouped by class, class 0 first, each exactly shots / queries times.
        np.testing.assert_array_equal(ys, np.repeat(np.arange(ways), shots))
        np.testing.assert_array_equal(yq, np.repeat(np.arange(ways), queries))
        (si, sc), (qi, qc) = trace(xs), trace(xq)
        # The examples are the dataset's own, unchanged, and none appears twice.
        np.testing.assert_array_equal(xs, images[si])
        np.testing.assert_array_equal(xq, images[qi])
        assert len(set(si) | set(qi)) == ways * (shots + queries)
        # One original class per remapped label, the same in support and query, all distinct.
        mapping = {}
        for label, original in list(zip(ys, sc)) + list(zip(yq, qc)):
            assert mapping.setdefault(label, original) == original
        assert len(set(mapping.values())) == ways


def test_the_remapping_is_random_so_no_assignment_can_be_memorised(dataset):
    images, labels = dataset
    tasks = ms.data.Taskset(images, labels, ways=5, shots=1, queries=1, seed=0)
    first = [trace(tasks.sample()[0])[1][0] for _ in range(60)]
    assert len(set(first)) >= 8   # class 0 is a different original class from episode to episode


def test_classes_restrict_sampling(dataset):
    images, labels = dataset
    allowed = [13, 43, 53, 93, 113]
    tasks = ms.data.Taskset(images, labels, ways=3, shots=2, queries=3, classes=allowed, seed=2)
    assert tasks.classes == sorted(allowed)
    seen = set()
    for _ in range(50):
        xs, _, xq, _ = tasks.sample()
        seen |= set(trace(xs)[1]) | set(trace(xq)[1])
    assert seen == set(allowed)


def test_the_same_seed_gives_the_same_episodes(dataset):
    images, labels = dataset
    make = lambda seed: ms.data.Taskset(images, labels, ways=4, shots=2, queries=3, seed=seed)
    a, b, c = make(5), make(5), make(6)
    for _ in range(5):
        ta, tb, tc = a.sample(), b.sample(), c.sample()
        for u, v in zip(ta, tb):
            np.testing.assert_array_equal(u, v)
    assert not all(np.array_equal(u, v) for u, v in zip(a.sample(), c.sample()))


def test_replace_shares_the_engine_copy_of_the_images(dataset):
    images, labels = dataset
    tasks = ms.data.Taskset(images, labels, ways=2, shots=1, queries=1)
    test = tasks.replace(classes=[3, 13, 23], ways=3, seed=9)
    assert (test.ways, test.shots, test.queries, test.seed, test.classes) == (3, 1, 1, 9, [3, 13, 23])
    assert test.images.ctypes.data == tasks.images.ctypes.data
    assert test._images is tasks._images


def test_the_images_are_copied_once_and_later_changes_do_not_leak_in(dataset):
    images, labels = dataset
    mine = images.copy()
    tasks = ms.data.Taskset(mine, labels, ways=2, shots=1, queries=1, seed=3)
    before = tasks.sample()
    mine[:] = -1
    np.testing.assert_array_equal(tasks.images, images)
    again = ms.data.Taskset(images, labels, ways=2, shots=1, queries=1, seed=3).sample()
    for u, v in zip(before, again):
        np.testing.assert_array_equal(u, v)
    # Other dtypes and plain lists are converted (float64 images, int32 labels).
    ms.data.Taskset(images.astype(np.float64), labels.astype(np.int32), ways=2, shots=1, queries=1).sample()


def test_a_taskset_of_feature_vectors_trains_and_evaluates_a_classifier():
    """Taskset works as the taskset of fit and evaluate: labels reach the
    trainer as class indices."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(20, 6)) * 3
    labels = np.repeat(np.arange(20), 10)
    x = (centres[labels] + rng.normal(size=(200, 6))).astype(np.float32)
    train = ms.data.Taskset(x, labels, ways=4, shots=2, queries=4, classes=range(15), seed=0)
    test = train.replace(classes=range(15, 20))
    maml = ms.MAML(ms.nn.MLP([6, 32, 4], seed=0), inner_lr=0.5, inner_steps=1, loss="cross_entropy")
    before = maml.evaluate(test, tasks=100, inner_steps=1)
    history = maml.fit(train, meta_batch_size=4, steps=60, progress=False)
    after = maml.evaluate(test, tasks=100, inner_steps=1)
    assert len(history) == 60 and np.all(np.isfinite(history.losses))
    assert after.accuracy > before.accuracy
    assert after.accuracy > 0.6


def test_split_classes_is_disjoint_seeded_and_complete():
    split = ms.data.split_classes(100, train=64, validation=16, seed=0)
    assert (len(split.train), len(split.validation), len(split.test)) == (64, 16, 20)
    assert set(split.train) | set(split.validation) | set(split.test) == set(range(100))
    assert not (set(split.train) & set(split.validation) or set(split.train) & set(split.test)
                or set(split.validation) & set(split.test))
    assert split == ms.data.split_classes(list(reversed(range(100))), train=64, validation=16, seed=0)
    assert split != ms.data.split_classes(100, train=64, validation=16, seed=1)
    few = ms.data.split_classes([5, 7, 9, 11], train=2, test=1, seed=0)
    assert len(few.train) == 2 and len(few.test) == 1 and few.validation == []


@pytest.mark.parametrize("kwargs, match", [
    ({"images": np.zeros(18)}, r"^images: expected \(n, \.\.\.\) with at least one axis after the example axis"),
    ({"images": np.zeros((0, 4)), "labels": np.zeros(0, np.int64)}, r"^images: has no examples"),
    ({"images": np.zeros((18, 0))}, r"^images: examples of shape \[0\] are empty"),
    ({"images": np.full((18, 2), np.inf)}, r"^images: element 0 is inf"),
    ({"images": np.full((18, 2), "a")}, r"^images: expected real numbers"),
    ({"labels": np.arange(17) % 3}, r"^labels: has 17 entries but images has 18 examples"),
    ({"labels": (np.arange(18) % 3).astype(float)}, r"^labels: expected integer class labels, got dtype float64"),
    ({"labels": (np.arange(18) % 3).reshape(18, 1)}, r"^labels: expected a 1-D array of labels, got shape \(18, 1\)"),
    ({"labels": np.arange(18) % 3 - 1}, r"^labels\[0\]: -1 is negative; class labels must be >= 0"),
    ({"labels": "abc"}, r"^labels: expected integer class labels"),
    ({"ways": 4}, r"^ways: 4 exceeds the 3 classes available"),
    ({"ways": 0}, r"^ways: must be > 0, got 0"),
    ({"ways": 2.0}, r"^ways: expected an integer, got 2\.0"),
    ({"shots": -1}, r"^shots: must be > 0, got -1"),
    ({"queries": 0}, r"^queries: must be > 0, got 0"),
    ({"shots": 3, "queries": 4}, r"^queries: class 0 has 6 examples; shots \+ queries = 3 \+ 4 needs that many"),
    ({"shots": 2**62, "queries": 2**62}, r"^queries: class 0 has 6 examples"),
    ({"classes": [0, 5]}, r"^classes\[1\]: class 5 does not occur in labels"),
    ({"classes": [1, 2, 1]}, r"^classes\[2\]: class 1 appears more than once"),
    ({"classes": [-1, 2]}, r"^classes\[0\]: -1 is negative"),
    ({"classes": []}, r"^classes: is empty; pass None for every class"),
    ({"classes": [0.5, 1]}, r"^classes: expected integer class labels"),
    ({"classes": 2}, r"^classes: expected a sequence of class ids, got 2"),
    ({"classes": [1]}, r"^ways: 2 exceeds the 1 classes available"),
    ({"seed": -1}, r"^seed: expected an integer in \[0, 2\*\*64\)"),
])
def test_bad_arguments_are_refused_by_name(kwargs, match):
    args = {"images": np.zeros((18, 2), np.float32), "labels": np.arange(18) % 3, "ways": 2, "shots": 1,
            "queries": 1, **kwargs}
    with pytest.raises(ms.Error, match=match):
        ms.data.Taskset(**args)


@pytest.mark.parametrize("kwargs, match", [
    ({"train": 8, "validation": 3}, r"^validation: train \(8\) \+ validation \(3\) exceeds the 10 classes"),
    ({"train": 5, "test": 6}, r"^test: train \(5\) \+ validation \(0\) \+ test \(6\) exceeds the 10 classes"),
    ({"train": -1}, r"^train: must be >= 0, got -1"),
    ({"train": 1, "test": -2}, r"^test: must be >= 0 or None"),
    ({"classes": [1, 1, 2], "train": 1}, r"^classes\[1\]: class 1 appears more than once"),
])
def test_bad_splits_are_refused_by_name(kwargs, match):
    with pytest.raises(ms.Error, match=match):
        ms.data.split_classes(**{"classes": 10, **kwargs})


def test_reprs_and_replace_refuse_unknown_settings(dataset):
    images, labels = dataset
    tasks = ms.data.Taskset(images, labels, ways=5, shots=1, queries=15 // 5, seed=4)
    assert repr(tasks) == "Taskset(examples=108, classes=12, ways=5, shots=1, queries=3, seed=4)"
    assert len(tasks) == 108 and tasks.labels.flags.writeable is False
    with pytest.raises(ms.Error, match=r"^shot: not a Taskset setting"):
        tasks.replace(shot=2)
