"""The few-shot half of the C ABI through ctypes: every refused argument of
the new functions gets a status and a message naming it, and nothing
crashes (NULL, freed and wrong-kind handles, NULL and misaligned arrays,
small capacities, a ProtoNet asked for inner steps)."""
import ctypes

import numpy as np
import pytest
from abi_helpers import error, new

MS_OK, MS_ERR_ARGUMENT, MS_ERR_SHAPE, MS_ERR_INDEX, MS_ERR_HANDLE = 0, 1, 2, 3, 4
c_float_p = ctypes.POINTER(ctypes.c_float)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
handle = ctypes.c_void_p
out_handle = ctypes.POINTER(ctypes.c_void_p)
i64, u64 = ctypes.c_int64, ctypes.c_uint64


class View(ctypes.Structure):
    _fields_ = [("data", c_float_p), ("shape", c_int64_p), ("rank", ctypes.c_int64)]


SIGNATURES = {
    "ms_tensor_new": [out_handle, c_float_p, c_int64_p, i64],
    "ms_tensor_free": [handle],
    "ms_model_new_mlp": [out_handle, c_int64_p, i64, ctypes.c_char_p, u64],
    "ms_model_free": [handle],
    "ms_model_new_conv4": [out_handle, i64, i64, i64, i64, i64, u64],
    "ms_taskset_new_arrays": [out_handle, handle, ctypes.c_void_p, i64, i64, i64, i64, ctypes.c_void_p, i64, u64],
    "ms_taskset_sample": [out_handle] * 4 + [handle],
    "ms_taskset_free": [handle],
    "ms_protonet_new": [out_handle, handle, ctypes.c_char_p],
    "ms_maml_new": [out_handle, handle, ctypes.c_float, i64, ctypes.c_int, ctypes.c_char_p],
    "ms_learner_free": [handle],
    "ms_learner_query_logits": [out_handle, handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, i64],
    "ms_learner_predict": [ctypes.c_void_p, i64, handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, i64],
    "ms_learner_evaluate": [c_float_p] * 4 + [handle, handle, i64, i64, u64],
    "ms_learner_evaluate_classification": [c_float_p] * 5 + [handle, handle, i64, i64, u64],
    "ms_summarize": [c_float_p, c_float_p, c_float_p, c_float_p, i64, i64],
    "ms_classification_metrics": [c_float_p, c_float_p, ctypes.c_void_p, ctypes.c_void_p, i64, i64],
    "ms_class_folds": [ctypes.c_void_p, ctypes.c_void_p, i64, i64, u64],
    "ms_class_split": [ctypes.c_void_p, ctypes.c_void_p, i64, i64, i64, i64, u64],
    "ms_handle_count": [c_int64_p, ctypes.c_char_p],
}


@pytest.fixture(scope="module")
def abi(lib):
    for name, argtypes in SIGNATURES.items():
        getattr(lib, name).argtypes = argtypes
    return lib



def tensor(lib, array):
    a = np.ascontiguousarray(array, dtype=np.float32)
    shape = (i64 * a.ndim)(*a.shape)
    return new(lib, "ms_tensor_new", a.ctypes.data_as(c_float_p), shape, a.ndim)


def ptr(array):
    return array.ctypes.data_as(ctypes.c_void_p)


def live(lib, kind):
    n = i64()
    assert lib.ms_handle_count(ctypes.byref(n), kind.encode()) == MS_OK
    return n.value


LABELS = np.repeat(np.arange(4), 3).astype(np.int64)   # 4 classes, 3 examples each


@pytest.fixture
def images(abi):
    t = tensor(abi, np.random.default_rng(0).random((12, 5)))
    yield t
    abi.ms_tensor_free(t)


def taskset(lib, images, ways=2, shots=1, queries=1, classes=None):
    c = None if classes is None else np.asarray(classes, np.int64)
    return new(lib, "ms_taskset_new_arrays", images, ptr(LABELS), len(LABELS), ways, shots, queries,
               None if c is None else ptr(c), 0 if c is None else len(c), 0)


def taskset_status(lib, images, labels=LABELS, count=None, ways=2, shots=1, queries=1, classes=None,
                   class_count=None):
    out = ctypes.c_void_p()
    status = lib.ms_taskset_new_arrays(ctypes.byref(out), images, None if labels is None else ptr(labels),
                                       len(LABELS) if count is None else count, ways, shots, queries,
                                       None if classes is None else ptr(classes),
                                       (0 if classes is None else len(classes)) if class_count is None else class_count,
                                       0)
    assert (status == MS_OK) == (out.value is not None)
    return status


def test_taskset_new_arrays_samples_episodes_and_shares_the_images(abi, images):
    before = live(abi, "taskset")
    ts = taskset(abi, images, ways=3, shots=2, queries=1, classes=[0, 2, 3])
    assert abi.ms_tensor_free(images) == MS_OK            # the taskset keeps the images
    outs = [ctypes.c_void_p() for _ in range(4)]
    assert abi.ms_taskset_sample(*(ctypes.byref(o) for o in outs), ts) == MS_OK, error(abi)
    for o in outs:
        assert abi.ms_tensor_free(o) == MS_OK
    assert live(abi, "taskset") == before + 1
    assert abi.ms_taskset_free(ts) == MS_OK
    assert live(abi, "taskset") == before


def test_taskset_new_arrays_refuses_bad_arguments(abi, images, model_handle):
    bad_rank = tensor(abi, np.zeros(12))
    misaligned = np.zeros(len(LABELS) + 1, np.int64).view(np.uint8)[1:1 + 8 * len(LABELS)]
    cases = [
        (dict(images=None), MS_ERR_HANDLE, "images: expected a tensor handle, got NULL"),
        (dict(images=model_handle), MS_ERR_HANDLE, "images: expected a tensor handle, got a model handle"),
        (dict(images=bad_rank), MS_ERR_SHAPE, "images: expected (n, ...) with at least one axis"),
        (dict(labels=None), MS_ERR_ARGUMENT, "labels: NULL for 12 values"),
        (dict(labels=misaligned), MS_ERR_ARGUMENT, "labels: not aligned to 8 bytes"),
        (dict(count=-1), MS_ERR_ARGUMENT, "label_count: must be >= 0, got -1"),
        (dict(count=11), MS_ERR_SHAPE, "labels: has 11 entries but images has 12 examples"),
        (dict(ways=5), MS_ERR_ARGUMENT, "ways: 5 exceeds the 4 classes available"),
        (dict(ways=-2), MS_ERR_ARGUMENT, "ways: must be > 0, got -2"),
        (dict(shots=2**63 - 1), MS_ERR_ARGUMENT, "queries: class 0 has 3 examples"),
        (dict(classes=np.array([1, 9], np.int64)), MS_ERR_ARGUMENT, "classes[1]: class 9 does not occur in labels"),
        (dict(classes=np.array([1, 2], np.int64), class_count=-1), MS_ERR_ARGUMENT, "class_count: must be >= 0"),
        (dict(classes=np.array([1, 2], np.int64), class_count=0), MS_ERR_ARGUMENT, "classes: is empty"),
    ]
    for kwargs, status, message in cases:
        args = {"images": images, **kwargs}
        assert taskset_status(abi, **args) == status, kwargs
        assert error(abi).startswith(message), (kwargs, error(abi))
    out = ctypes.c_void_p()
    assert abi.ms_taskset_new_arrays(ctypes.byref(out), images, ptr(LABELS), 12, 2, 1, 1, None, 3, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "classes: NULL for 3 values"
    assert abi.ms_taskset_new_arrays(None, images, ptr(LABELS), 12, 2, 1, 1, None, 0, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "out: output pointer is NULL"
    freed = tensor(abi, np.zeros((12, 2)))
    abi.ms_tensor_free(freed)
    assert taskset_status(abi, freed) == MS_ERR_HANDLE
    abi.ms_tensor_free(bad_rank)


@pytest.fixture
def model_handle(abi):
    m = new(abi, "ms_model_new_mlp", (i64 * 2)(5, 3), 2, b"tanh", 0)
    yield m
    abi.ms_model_free(m)


def test_conv4_and_protonet_constructors_refuse_bad_arguments(abi, model_handle):
    out = ctypes.c_void_p()
    for args, message in [((0, 4, 2, 0, 8), "in_channels: must be > 0, got 0"),
                          ((1, 4, 2, -1, 8), "outputs: must be >= 0 (0: no head), got -1"),
                          ((1, 4, 40, 0, 28), "image_size: 28 is too small for 40 blocks"),
                          ((1, 4, 2, 0, 2**40), "image_size: 1099511627776 is too large"),
                          ((1, 2**31, 2, 0, 8), "hidden: 2147483648 is too large")]:
        assert abi.ms_model_new_conv4(ctypes.byref(out), *args, 0) == MS_ERR_ARGUMENT
        assert error(abi).startswith(message) and out.value is None
    conv = new(abi, "ms_model_new_conv4", 1, 4, 2, 0, 8, 0)
    for model, distance, status, message in [
            (conv, None, MS_ERR_ARGUMENT, "distance: NULL string"),
            (conv, b"l1", MS_ERR_ARGUMENT, "distance: unknown distance 'l1'"),
            (None, b"cosine", MS_ERR_HANDLE, "model: expected a model handle, got NULL")]:
        assert abi.ms_protonet_new(ctypes.byref(out), model, distance) == status
        assert error(abi).startswith(message)
    proto = new(abi, "ms_protonet_new", conv, b"cosine")
    assert abi.ms_model_free(conv) == MS_OK       # the learner keeps its model
    assert abi.ms_learner_free(proto) == MS_OK


def episode_views(keep, xs, ys, xq):
    views = []
    for a in (xs, ys, xq):
        a = np.ascontiguousarray(a, np.float32)
        shape = (i64 * max(a.ndim, 1))(*a.shape)
        keep += [a, shape]
        v = View(a.ctypes.data_as(c_float_p), shape, a.ndim)
        keep.append(v)
        views.append(ctypes.cast(ctypes.pointer(v), ctypes.c_void_p))
    return views


def test_query_logits_and_predict_refuse_bad_arguments(abi, model_handle):
    proto = new(abi, "ms_protonet_new", model_handle, b"euclidean")
    regression = new(abi, "ms_maml_new", model_handle, 0.1, 1, 0, b"mse")
    keep = []
    xs, xq = np.zeros((4, 5)), np.zeros((6, 5))
    good = episode_views(keep, xs, np.array([0, 1, 0, 1]), xq)
    out = np.zeros(6, np.int64)
    assert abi.ms_learner_predict(ptr(out), 6, proto, *good, 0) == MS_OK, error(abi)
    cases = [
        ((ptr(out), 5, proto, *good, 0), MS_ERR_ARGUMENT, "capacity: 5 is less than the 6 queries"),
        ((None, 6, proto, *good, 0), MS_ERR_ARGUMENT, "out: output pointer is NULL"),
        ((ptr(out.view(np.uint8)[1:]), 5, proto, *good, 0), MS_ERR_ARGUMENT, "out: not aligned to 8 bytes"),
        ((ptr(out), 6, proto, None, good[1], good[2], 0), MS_ERR_ARGUMENT, "x_support: NULL for 1 entries"),
        ((ptr(out), 6, proto, good[0], None, good[2], 0), MS_ERR_ARGUMENT, "y_support: NULL for 1 entries"),
        ((ptr(out), 6, proto, *good, -1), MS_ERR_ARGUMENT, "steps: must be in 0...10000, got -1"),
        ((ptr(out), 6, regression, *good, 0), MS_ERR_ARGUMENT, "learner: predict needs a classifier"),
        ((ptr(out), 6, model_handle, *good, 0), MS_ERR_HANDLE, "learner: expected a learner handle, got a model"),
        ((ptr(out), 6, proto, *episode_views(keep, xs, np.array([0, 2, 0, 2]), xq), 0), MS_ERR_ARGUMENT,
         "y_support: no example of class 1"),
        ((ptr(out), 6, proto, *episode_views(keep, xs, np.array([0, 1, 0, 1]), np.zeros((6, 4))), 0), MS_ERR_SHAPE,
         "x_query: expected 5 features per row"),
    ]
    for args, status, message in cases:
        assert abi.ms_learner_predict(*args) == status, message
        assert error(abi).startswith(message), error(abi)
    logits = ctypes.c_void_p()
    assert abi.ms_learner_query_logits(ctypes.byref(logits), proto, *good, 0) == MS_OK
    assert abi.ms_tensor_free(logits) == MS_OK
    assert abi.ms_learner_query_logits(None, proto, *good, 0) == MS_ERR_ARGUMENT
    assert abi.ms_learner_query_logits(ctypes.byref(logits), regression, *good, 0) == MS_ERR_ARGUMENT
    assert logits.value is None
    abi.ms_learner_free(proto)
    abi.ms_learner_free(regression)


def test_evaluate_classification_refuses_bad_arguments(abi, images, model_handle):
    proto = new(abi, "ms_protonet_new", model_handle, b"euclidean")
    ts = taskset(abi, images)
    buffers = [np.zeros(3, np.float32) for _ in range(5)]
    outs = [b.ctypes.data_as(c_float_p) for b in buffers]
    assert abi.ms_learner_evaluate_classification(*outs, proto, ts, 3, 0, 0) == MS_OK, error(abi)
    assert np.all(buffers[3] >= 0) and np.all(buffers[3] <= 1)
    names = ["out_loss_curve", "out_accuracy_curve", "out_task_losses", "out_task_accuracies", "out_task_macro_f1s"]
    for i, name in enumerate(names):
        args = list(outs)
        args[i] = None
        assert abi.ms_learner_evaluate_classification(*args, proto, ts, 3, 0, 0) == MS_ERR_ARGUMENT
        assert error(abi) == f"{name}: output pointer is NULL"
    for args, status, message in [
            ((proto, ts, 0, 0), MS_ERR_ARGUMENT, "task_count: must be in 1...1000000, got 0"),
            ((proto, ts, 3, -1), MS_ERR_ARGUMENT, "steps: must be in 0...10000, got -1"),
            ((proto, ts, 3, 2), MS_ERR_ARGUMENT, "steps: must be 0 for a learner that classifies by its own rule"),
            ((proto, proto, 3, 0), MS_ERR_HANDLE, "taskset: expected a taskset handle, got a learner handle"),
            ((None, ts, 3, 0), MS_ERR_HANDLE, "learner: expected a learner handle, got NULL")]:
        assert abi.ms_learner_evaluate_classification(*outs, *args, 0) == status
        assert error(abi).startswith(message), error(abi)
    # The step-by-step evaluation refuses steps for ProtoNet too (it has one point, not a curve).
    assert abi.ms_learner_evaluate(outs[0], outs[1], outs[2], outs[3], proto, ts, 3, 2, 0) == MS_ERR_ARGUMENT
    assert error(abi).startswith("steps: must be 0")
    assert abi.ms_learner_evaluate(outs[0], outs[1], outs[2], outs[3], proto, ts, 3, 0, 0) == MS_OK
    # A taskset whose examples the encoder cannot take.
    features4 = tensor(abi, np.zeros((12, 4)))
    wrong = taskset(abi, features4)
    abi.ms_tensor_free(features4)
    assert abi.ms_learner_evaluate_classification(*outs, proto, wrong, 3, 0, 0) == MS_ERR_SHAPE
    assert error(abi).startswith("taskset: its tasks do not fit the learner (task.x_support: expected 5 features")
    for h in (wrong, ts):
        abi.ms_taskset_free(h)
    abi.ms_learner_free(proto)


def test_metaeval_functions_refuse_bad_arguments(abi):
    mean, half, std = ctypes.c_float(), ctypes.c_float(), ctypes.c_float()
    outs = [ctypes.byref(v) for v in (mean, half, std)]
    values = np.array([1, 2, 3, 4], np.float32)
    vp = values.ctypes.data_as(c_float_p)
    assert abi.ms_summarize(*outs, vp, 4, 0) == MS_OK
    assert half.value == pytest.approx(1.96 * values.std() / 2)
    for args, message in [((vp, 0, 0), "values: need at least one value"), ((None, 4, 0), "values: NULL for 4 elements"),
                          ((vp, -4, 0), "count: must be >= 0"), ((vp, 4, 4), "ddof: must be in 0..<4 (the number of values), got 4")]:
        assert abi.ms_summarize(*outs, *args) == MS_ERR_ARGUMENT
        assert error(abi).startswith(message)
    assert abi.ms_summarize(None, outs[1], outs[2], vp, 4, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "out_mean: output pointer is NULL"

    acc, f1 = ctypes.c_float(), ctypes.c_float()
    p, y = np.array([0, 1, 1], np.int64), np.array([0, 1, 2], np.int64)
    assert abi.ms_classification_metrics(ctypes.byref(acc), ctypes.byref(f1), ptr(p), ptr(y), 3, 3) == MS_OK
    assert acc.value == pytest.approx(2 / 3) and f1.value == pytest.approx((1 + 2 / 3 + 0) / 3)
    for args, status, message in [((ptr(p), ptr(y), 3, 2), MS_ERR_INDEX, "labels[2]: 2 is not a class index in 0..<2"),
                                  ((ptr(p), None, 3, 3), MS_ERR_ARGUMENT, "labels: NULL for 3 values"),
                                  ((ptr(p), ptr(y), 0, 3), MS_ERR_ARGUMENT, "count: need at least one prediction"),
                                  ((ptr(p), ptr(y), 3, 0), MS_ERR_ARGUMENT, "classes: must be > 0, got 0")]:
        assert abi.ms_classification_metrics(ctypes.byref(acc), ctypes.byref(f1), *args) == status
        assert error(abi).startswith(message), error(abi)

    classes = np.array([5, 9, 2, 7, 11], np.int64)
    out = np.full(5, -9, np.int64)
    assert abi.ms_class_folds(ptr(out), ptr(classes), 5, 2, 0) == MS_OK
    assert sorted(np.bincount(out)) == [2, 3]
    assert abi.ms_class_split(ptr(out), ptr(classes), 5, 2, 1, 1, 0) == MS_OK
    assert sorted(out.tolist()) == [-1, 0, 0, 1, 2]
    for call, message in [
            (lambda: abi.ms_class_folds(None, ptr(classes), 5, 2, 0), "out: output pointer is NULL"),
            (lambda: abi.ms_class_folds(ptr(out), None, 5, 2, 0), "classes: NULL for 5 values"),
            (lambda: abi.ms_class_folds(ptr(out), ptr(classes), 5, 6, 0), "folds: 6 exceeds the 5 classes"),
            (lambda: abi.ms_class_split(ptr(out), ptr(classes), 5, 6, 0, -1, 0), "validation: train (6) + validation (0) exceeds"),
            (lambda: abi.ms_class_split(ptr(out), ptr(classes), 5, 1, -1, -1, 0), "validation: must be >= 0"),
            (lambda: abi.ms_class_split(ptr(out), ptr(classes), 5, 1, 1, -2, 0), "test: must be >= 0, or -1")]:
        assert call() == MS_ERR_ARGUMENT
        assert error(abi).startswith(message), error(abi)
