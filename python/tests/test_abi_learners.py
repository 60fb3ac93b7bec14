"""The learner half of the C ABI through ctypes: ms_view/ms_task have the
header's layout, every refused argument gets a status and a message naming
it, and nothing crashes: NULL, freed, foreign and wrong-kind handles, bad
views, small capacities."""
import ctypes

import numpy as np
import pytest

import metaswift as ms
from abi_helpers import error, new

MS_OK, MS_ERR_ARGUMENT, MS_ERR_SHAPE, MS_ERR_INDEX, MS_ERR_HANDLE = 0, 1, 2, 3, 4
c_float_p = ctypes.POINTER(ctypes.c_float)
c_int64_p = ctypes.POINTER(ctypes.c_int64)
handle = ctypes.c_void_p
out_handle = ctypes.POINTER(ctypes.c_void_p)


class View(ctypes.Structure):
    _fields_ = [("data", c_float_p), ("shape", c_int64_p), ("rank", ctypes.c_int64)]


class Task(ctypes.Structure):
    _fields_ = [("x_support", View), ("y_support", View), ("x_query", View), ("y_query", View)]


SIGNATURES = {
    "ms_sinusoid_new": [out_handle, ctypes.c_int64, ctypes.c_int64] + [ctypes.c_float] * 6 + [ctypes.c_uint64],
    "ms_taskset_sample": [out_handle] * 4 + [handle],
    "ms_sgd_new": [out_handle, ctypes.c_float, ctypes.c_float, ctypes.c_int],
    "ms_adam_new": [out_handle] + [ctypes.c_float] * 4,
    "ms_maml_new": [out_handle, handle, ctypes.c_float, ctypes.c_int64, ctypes.c_int, ctypes.c_char_p],
    "ms_metasgd_new": [out_handle, handle, ctypes.c_float, ctypes.c_int64, ctypes.c_int, ctypes.c_char_p],
    "ms_learner_meta_loss_and_grad": [c_float_p, out_handle, ctypes.c_int64, handle, ctypes.c_void_p, ctypes.c_int64],
    "ms_learner_adapt": [out_handle, handle, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64],
    "ms_learner_evaluate": [c_float_p] * 4 + [handle, handle, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint64],
    "ms_learner_get_meta_parameter": [out_handle, handle, ctypes.c_int64],
    "ms_trainer_new": [out_handle, handle, handle, handle, ctypes.c_int64, ctypes.c_uint64],
    "ms_trainer_run": [c_float_p, ctypes.c_int64, handle, ctypes.c_int64],
    "ms_trainer_steps": [c_int64_p, handle],
    "ms_trainer_continue": [out_handle, handle, handle, ctypes.c_int64, ctypes.c_uint64],
    "ms_optimizer_cosine": [out_handle, handle, ctypes.c_float, ctypes.c_int64, ctypes.c_float, ctypes.c_int64],
    "ms_optimizer_exponential": [out_handle, handle, ctypes.c_float, ctypes.c_float, ctypes.c_int64, ctypes.c_int],
    "ms_optimizer_piecewise": [out_handle, handle, ctypes.c_float, c_int64_p, c_float_p, ctypes.c_int64],
    "ms_optimizer_learning_rates": [c_float_p, ctypes.c_int64, handle],
}


@pytest.fixture(scope="module")
def abi(lib):
    for name, argtypes in SIGNATURES.items():
        getattr(lib, name).argtypes = argtypes
    return lib



def mlp(lib, sizes=(1, 8, 1)):
    out = ctypes.c_void_p()
    assert lib.ms_model_new_mlp(ctypes.byref(out), (ctypes.c_int64 * len(sizes))(*sizes), len(sizes),
                                b"tanh", ctypes.c_uint64(0)) == MS_OK
    return out


def view(array, keep):
    a = np.ascontiguousarray(array, dtype=np.float32)
    shape = (ctypes.c_int64 * max(a.ndim, 1))(*a.shape)
    keep += [a, shape]
    return View(a.ctypes.data_as(c_float_p), shape, a.ndim)


def tasks_array(tasks, keep):
    arr = (Task * len(tasks))()
    for i, t in enumerate(tasks):
        arr[i] = Task(*(view(a, keep) for a in t))
    keep.append(arr)
    return arr


def sinusoid_tasks(n=3):
    s = ms.data.Sinusoid(shots=5, queries=6, seed=4)
    return [tuple(np.array(a) for a in s.sample()) for _ in range(n)]


def test_view_and_task_have_the_headers_layout():
    assert ctypes.sizeof(View) == 24 and ctypes.alignment(View) == 8
    assert ctypes.sizeof(Task) == 96 and Task.y_query.offset == 72


def tensor_values(lib, t):
    t = t if isinstance(t, ctypes.c_void_p) else handle(t)
    size, data = ctypes.c_int64(), c_float_p()
    assert lib.ms_tensor_size(ctypes.byref(size), t) == MS_OK
    assert lib.ms_tensor_data(ctypes.byref(data), t) == MS_OK
    return np.ctypeslib.as_array(data, (size.value,)).copy()


def maml(lib, model=None, loss=b"mse"):
    return new(lib, "ms_maml_new", model if model is not None else mlp(lib), 0.05, 2, 0, loss)


def test_meta_loss_and_grad_through_the_abi_equals_the_python_api(abi):
    tasks = sinusoid_tasks()
    expected_loss, expected = ms.MAML(ms.nn.MLP([1, 8, 1], activation="tanh", seed=0), inner_lr=0.05,
                                      inner_steps=2).meta_loss_and_grad(tasks)
    keep = []
    loss, grads = ctypes.c_float(), (ctypes.c_void_p * 4)()
    status = abi.ms_learner_meta_loss_and_grad(ctypes.byref(loss), grads, 4, maml(abi),
                                               ctypes.cast(tasks_array(tasks, keep), ctypes.c_void_p), len(tasks))
    assert status == MS_OK, error(abi)
    assert loss.value == np.float32(expected_loss)
    for g, e in zip(grads, expected):
        np.testing.assert_array_equal(tensor_values(abi, g), e.reshape(-1))
        assert abi.ms_tensor_free(handle(g)) == MS_OK


def call_meta(lib, learner, tasks, count=None, capacity=4, keep=None):
    keep = [] if keep is None else keep
    loss, grads = ctypes.c_float(), (ctypes.c_void_p * max(capacity, 1))()
    pointer = ctypes.cast(tasks_array(tasks, keep), ctypes.c_void_p) if tasks else None
    status = lib.ms_learner_meta_loss_and_grad(ctypes.byref(loss), grads, capacity, learner, pointer,
                                               len(tasks) if count is None else count)
    return status, list(grads)


def test_bad_meta_loss_and_grad_arguments(abi):
    learner = maml(abi)
    tasks = sinusoid_tasks(2)
    assert call_meta(abi, learner, tasks, capacity=3) == (MS_ERR_ARGUMENT, [None] * 3)
    assert error(abi) == "grads_capacity: 3 is less than the 4 meta-parameters"
    assert call_meta(abi, learner, [], count=0)[0] == MS_ERR_ARGUMENT
    assert error(abi) == "task_count: need at least one task, got 0"
    assert call_meta(abi, learner, tasks, count=-1)[0] == MS_ERR_ARGUMENT
    assert error(abi).startswith("task_count: must be >= 0")
    assert call_meta(abi, learner, [], count=2)[0] == MS_ERR_ARGUMENT
    assert error(abi) == "tasks: NULL for 2 entries"
    model = mlp(abi)
    assert call_meta(abi, model, tasks)[0] == MS_ERR_HANDLE
    assert error(abi) == "learner: expected a learner handle, got a model handle"
    loss = ctypes.c_float()
    assert abi.ms_learner_meta_loss_and_grad(None, (ctypes.c_void_p * 4)(), 4, learner, None, 1) == MS_ERR_ARGUMENT
    assert error(abi) == "out_loss: output pointer is NULL"
    assert abi.ms_learner_meta_loss_and_grad(ctypes.byref(loss), None, 4, learner, None, 1) == MS_ERR_ARGUMENT
    assert error(abi) == "out_grads: output pointer is NULL"
    # A misaligned array of tasks is refused before any field is read.
    keep = []
    arr = tasks_array(tasks, keep)
    raw = (ctypes.c_char * (ctypes.sizeof(arr) + 1))()
    ctypes.memmove(ctypes.addressof(raw) + 1, arr, ctypes.sizeof(arr))
    status = abi.ms_learner_meta_loss_and_grad(ctypes.byref(loss), (ctypes.c_void_p * 4)(), 4, learner,
                                               ctypes.c_void_p(ctypes.addressof(raw) + 1), 2)
    assert status == MS_ERR_ARGUMENT and error(abi) == "tasks: not aligned to 8 bytes"


def test_bad_views_are_refused(abi):
    learner = maml(abi)
    keep = []
    task = sinusoid_tasks(1)[0]

    def with_view(field, v):
        arr = tasks_array([task], keep)
        setattr(arr[0], field, v)
        loss = ctypes.c_float()
        status = abi.ms_learner_meta_loss_and_grad(ctypes.byref(loss), (ctypes.c_void_p * 4)(), 4, learner,
                                                   ctypes.cast(arr, ctypes.c_void_p), 1)
        return status, error(abi)

    good = view(task[0], keep)
    shape = (ctypes.c_int64 * 2)(5, 1)
    assert with_view("x_support", View(good.data, good.shape, 65)) == \
        (MS_ERR_ARGUMENT, "tasks[0].x_support: rank must be in 0...64, got 65")
    assert with_view("x_support", View(good.data, good.shape, -1))[1].startswith("tasks[0].x_support: rank must be")
    assert with_view("y_support", View(good.data, None, 2)) == \
        (MS_ERR_ARGUMENT, "tasks[0].y_support: NULL shape for rank 2")
    assert with_view("x_query", View(None, shape, 2)) == \
        (MS_ERR_ARGUMENT, "tasks[0].x_query: NULL for 5 elements")
    negative = (ctypes.c_int64 * 2)(-5, 1)
    status, message = with_view("y_query", View(good.data, negative, 2))
    assert status == MS_ERR_ARGUMENT and message.startswith("tasks[0].y_query [-5, 1]: dimensions must be >= 0")
    misaligned = ctypes.cast(ctypes.c_void_p(ctypes.addressof(good.data.contents) + 1), c_float_p)
    assert with_view("x_support", View(misaligned, shape, 2)) == \
        (MS_ERR_ARGUMENT, "tasks[0].x_support: not aligned to 4 bytes")
    huge = (ctypes.c_int64 * 2)(2**40, 2**40)
    status, message = with_view("x_support", View(good.data, huge, 2))
    assert status == MS_ERR_ARGUMENT and "too many elements" in message


def test_adapt_through_the_abi(abi):
    learner = maml(abi)
    keep = []
    x, y, _, _ = sinusoid_tasks(1)[0]
    out = ctypes.c_void_p()
    xv, yv = view(x, keep), view(y, keep)
    assert abi.ms_learner_adapt(ctypes.byref(out), learner, ctypes.byref(xv), ctypes.byref(yv), 3) == MS_OK
    count = ctypes.c_int64()
    assert abi.ms_model_parameter_count(ctypes.byref(count), out) == MS_OK and count.value == 4
    assert abi.ms_model_free(out) == MS_OK
    assert abi.ms_learner_adapt(ctypes.byref(out), learner, None, ctypes.byref(yv), 3) == MS_ERR_ARGUMENT
    assert error(abi) == "x: NULL for 1 entries" and out.value is None
    assert abi.ms_learner_adapt(ctypes.byref(out), learner, ctypes.byref(xv), ctypes.byref(yv), -1) == MS_ERR_ARGUMENT
    assert error(abi) == "steps: must be in 0...10000, got -1"
    assert abi.ms_learner_adapt(ctypes.byref(out), learner, ctypes.byref(yv), ctypes.byref(xv), 1) == MS_OK
    abi.ms_model_free(out)


def test_bad_constructor_arguments(abi):
    model = mlp(abi)
    out = ctypes.c_void_p()
    cases = [
        (abi.ms_maml_new, (model, float("nan"), 1, 0, b"mse"), MS_ERR_ARGUMENT, "inner_lr: must be finite and >= 0, got nan"),
        (abi.ms_maml_new, (model, 0.1, -1, 0, b"mse"), MS_ERR_ARGUMENT, "inner_steps: must be in 0...10000, got -1"),
        (abi.ms_maml_new, (model, 0.1, 1, 0, b"hinge"), MS_ERR_ARGUMENT,
         "loss: unknown loss 'hinge'; expected 'mse' or 'cross_entropy'"),
        (abi.ms_maml_new, (model, 0.1, 1, 0, None), MS_ERR_ARGUMENT, "loss: NULL string"),
        (abi.ms_maml_new, (None, 0.1, 1, 0, b"mse"), MS_ERR_HANDLE, "model: expected a model handle, got NULL"),
        (abi.ms_metasgd_new, (model, float("inf"), 1, 0, b"mse"), MS_ERR_ARGUMENT, "inner_lr: must be finite"),
        (abi.ms_sinusoid_new, (0, 5, 0.1, 5, 0, 3, -5, 5, 0), MS_ERR_ARGUMENT, "shots: must be > 0, got 0"),
        (abi.ms_sinusoid_new, (5, 5, 5, 0.1, 0, 3, -5, 5, 0), MS_ERR_ARGUMENT,
         "amplitude: lower bound 5.0 exceeds upper bound 0.1"),
        (abi.ms_sinusoid_new, (5, 5, 0.1, 5, float("nan"), 3, -5, 5, 0), MS_ERR_ARGUMENT, "phase: bounds must be finite"),
        (abi.ms_sgd_new, (float("nan"), 0, 0), MS_ERR_ARGUMENT, "lr: must be finite and >= 0, got nan"),
        (abi.ms_adam_new, (1e-3, 0.9, 1.0, 1e-8), MS_ERR_ARGUMENT, "beta2: must be in [0, 1), got 1.0"),
    ]
    for function, args, status, message in cases:
        assert function(ctypes.byref(out), *args) == status, message
        assert error(abi).startswith(message) and out.value is None
    assert abi.ms_maml_new(None, model, 0.1, 1, 0, b"mse") == MS_ERR_ARGUMENT
    assert error(abi) == "out: output pointer is NULL"


def test_trainer_through_the_abi(abi):
    model = mlp(abi)
    learner = maml(abi, model)
    taskset = new(abi, "ms_sinusoid_new", 5, 5, 0.1, 5.0, 0.0, 3.14, -5.0, 5.0, 1)
    optimizer = new(abi, "ms_adam_new", 1e-3, 0.9, 0.999, 1e-8)
    out = ctypes.c_void_p()
    assert abi.ms_trainer_new(ctypes.byref(out), learner, taskset, optimizer, 0, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "meta_batch_size: must be > 0, got 0"
    assert abi.ms_trainer_new(ctypes.byref(out), learner, optimizer, taskset, 4, 0) == MS_ERR_HANDLE
    assert error(abi) == "taskset: expected a taskset handle, got a optimizer handle"
    trainer = new(abi, "ms_trainer_new", learner, taskset, optimizer, 4, 0)
    losses = (ctypes.c_float * 10)()
    assert abi.ms_trainer_run(losses, 5, trainer, 10) == MS_ERR_ARGUMENT
    assert error(abi) == "capacity: 5 is less than steps (10)"
    assert abi.ms_trainer_run(losses, 10, trainer, -1) == MS_ERR_ARGUMENT
    assert abi.ms_trainer_run(None, 10, trainer, 10) == MS_ERR_ARGUMENT
    assert error(abi) == "out_losses: output pointer is NULL"
    assert abi.ms_trainer_run(losses, 10, learner, 10) == MS_ERR_HANDLE
    assert abi.ms_trainer_run(losses, 10, trainer, 10) == MS_OK
    steps = ctypes.c_int64()
    assert abi.ms_trainer_steps(ctypes.byref(steps), trainer) == MS_OK and steps.value == 10
    assert all(v > 0 for v in losses)
    # The trainer keeps what it uses: free every other handle, then run on.
    for free, h in [(abi.ms_learner_free, learner), (abi.ms_model_free, model), (abi.ms_taskset_free, taskset),
                    (abi.ms_optimizer_free, optimizer)]:
        assert free(h) == MS_OK
    assert abi.ms_trainer_run(losses, 10, trainer, 3) == MS_OK
    assert abi.ms_trainer_free(trainer) == MS_OK
    assert abi.ms_trainer_free(trainer) == MS_ERR_HANDLE
    assert abi.ms_trainer_free(None) == MS_OK


def test_schedules_and_continued_trainers_through_the_abi(abi):
    sgd = new(abi, "ms_sgd_new", 0.5, 0.0, 0)
    out = ctypes.c_void_p()
    rates = (ctypes.c_float * 6)()
    assert abi.ms_optimizer_cosine(ctypes.byref(out), sgd, 1.0, 3, 0.0, 3) == MS_ERR_ARGUMENT
    assert error(abi) == "steps: must be > warmup (3), got 3"
    assert abi.ms_optimizer_cosine(ctypes.byref(out), sgd, 1.0, 4, 0.0, -1) == MS_ERR_ARGUMENT
    assert error(abi).startswith("warmup:")
    assert abi.ms_optimizer_cosine(None, sgd, 1.0, 4, 0.0, 0) == MS_ERR_ARGUMENT
    assert abi.ms_optimizer_cosine(ctypes.byref(out), None, 1.0, 4, 0.0, 0) == MS_ERR_HANDLE
    assert error(abi).startswith("base:")
    assert abi.ms_optimizer_exponential(ctypes.byref(out), sgd, 1.0, 0.0, 1, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "rate: must be in (0, 1], got 0.0"
    assert abi.ms_optimizer_exponential(ctypes.byref(out), sgd, float("inf"), 0.5, 1, 0) == MS_ERR_ARGUMENT
    assert error(abi).startswith("lr:")
    assert abi.ms_optimizer_piecewise(ctypes.byref(out), sgd, 1.0, None, None, 2) == MS_ERR_ARGUMENT
    assert error(abi).startswith("boundaries:")
    assert abi.ms_optimizer_piecewise(ctypes.byref(out), sgd, 1.0, (ctypes.c_int64 * 2)(3, 2),
                                      (ctypes.c_float * 2)(1, 1), 2) == MS_ERR_ARGUMENT
    assert error(abi) == "boundaries: must be > 0 and strictly increasing, got [3, 2]"
    assert abi.ms_optimizer_learning_rates(None, 6, sgd) == MS_ERR_ARGUMENT
    assert abi.ms_optimizer_learning_rates(rates, 6, None) == MS_ERR_HANDLE
    cosine = new(abi, "ms_optimizer_cosine", sgd, 1.0, 4, 0.0, 0)
    assert abi.ms_optimizer_learning_rates(rates, 6, cosine) == MS_OK
    np.testing.assert_allclose(list(rates), [1, 0.8535534, 0.5, 0.1464466, 0, 0], atol=1e-6)
    assert abi.ms_optimizer_learning_rates(rates, 6, sgd) == MS_OK and list(rates) == [0.5] * 6

    model = mlp(abi)
    learner = maml(abi, model)
    taskset = new(abi, "ms_sinusoid_new", 5, 5, 0.1, 5.0, 0.0, 3.14, -5.0, 5.0, 1)
    trainer = new(abi, "ms_trainer_new", learner, taskset, cosine, 2, 0)
    assert abi.ms_trainer_continue(ctypes.byref(out), trainer, taskset, 0, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "meta_batch_size: must be > 0, got 0"
    assert abi.ms_trainer_continue(ctypes.byref(out), learner, taskset, 2, 0) == MS_ERR_HANDLE
    assert error(abi).startswith("previous:")
    assert abi.ms_trainer_continue(ctypes.byref(out), trainer, cosine, 2, 0) == MS_ERR_HANDLE
    assert abi.ms_trainer_continue(None, trainer, taskset, 2, 0) == MS_ERR_ARGUMENT
    losses = (ctypes.c_float * 4)()
    assert abi.ms_trainer_run(losses, 4, trainer, 4) == MS_OK
    # The cosine rate reaches 0 after 4 updates: a continued trainer no longer moves.
    before = new(abi, "ms_learner_get_meta_parameter", learner, 0)
    continued = new(abi, "ms_trainer_continue", trainer, taskset, 2, 5)
    assert abi.ms_trainer_run(losses, 4, continued, 2) == MS_OK
    after = new(abi, "ms_learner_get_meta_parameter", learner, 0)
    np.testing.assert_array_equal(tensor_values(abi, before), tensor_values(abi, after))
    for h in [continued, trainer]:
        assert abi.ms_trainer_free(h) == MS_OK
    for free, h in [(abi.ms_learner_free, learner), (abi.ms_model_free, model), (abi.ms_taskset_free, taskset),
                    (abi.ms_optimizer_free, cosine), (abi.ms_optimizer_free, sgd),
                    (abi.ms_tensor_free, before), (abi.ms_tensor_free, after)]:
        assert free(h) == MS_OK


def test_evaluate_through_the_abi(abi):
    learner = maml(abi)
    taskset = new(abi, "ms_sinusoid_new", 5, 5, 0.1, 5.0, 0.0, 3.14, -5.0, 5.0, 1)
    curve, losses = (ctypes.c_float * 4)(), (ctypes.c_float * 7)()
    assert abi.ms_learner_evaluate(curve, None, losses, None, learner, taskset, 7, 3, 0) == MS_OK
    assert np.mean(list(losses)) == pytest.approx(curve[3], rel=1e-5)
    assert abi.ms_learner_evaluate(None, None, losses, None, learner, taskset, 7, 3, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "out_loss_curve: output pointer is NULL"
    assert abi.ms_learner_evaluate(curve, None, losses, None, learner, taskset, 0, 3, 0) == MS_ERR_ARGUMENT
    assert error(abi) == "task_count: must be in 1...1000000, got 0"
    assert abi.ms_learner_evaluate(curve, None, losses, None, learner, learner, 7, 3, 0) == MS_ERR_HANDLE
    assert error(abi) == "taskset: expected a taskset handle, got a learner handle"


def test_taskset_sample_and_foreign_handles(abi):
    taskset = new(abi, "ms_sinusoid_new", 3, 4, 0.1, 5.0, 0.0, 3.14, -5.0, 5.0, 1)
    outs = [ctypes.c_void_p() for _ in range(4)]
    assert abi.ms_taskset_sample(*(ctypes.byref(o) for o in outs), taskset) == MS_OK
    assert [len(tensor_values(abi, o)) for o in outs] == [3, 3, 4, 4]
    for o in outs:
        abi.ms_tensor_free(o)
    assert abi.ms_taskset_sample(None, *(ctypes.byref(o) for o in outs[1:]), taskset) == MS_ERR_ARGUMENT
    assert error(abi) == "out_x_support: output pointer is NULL"
    n = ctypes.c_int64()
    for bogus in (0x10, ctypes.addressof(n)):
        assert abi.ms_taskset_sample(*(ctypes.byref(o) for o in outs), handle(bogus)) == MS_ERR_HANDLE
        assert abi.ms_learner_meta_parameter_count(ctypes.byref(n), handle(bogus)) == MS_ERR_HANDLE
        assert abi.ms_trainer_steps(ctypes.byref(n), handle(bogus)) == MS_ERR_HANDLE
    assert abi.ms_taskset_free(taskset) == MS_OK
    assert abi.ms_taskset_sample(*(ctypes.byref(o) for o in outs), taskset) == MS_ERR_HANDLE
    assert error(abi).startswith("taskset: not a live metaswift handle")


def test_meta_parameters_through_the_abi(abi):
    learner = new(abi, "ms_metasgd_new", mlp(abi), 0.02, 1, 0, b"mse")
    n = ctypes.c_int64()
    assert abi.ms_learner_meta_parameter_count(ctypes.byref(n), learner) == MS_OK and n.value == 8
    name = ctypes.c_char_p()
    assert abi.ms_learner_meta_parameter_name(ctypes.byref(name), learner, 5) == MS_OK and name.value == b"lr.b1"
    assert abi.ms_learner_meta_parameter_name(ctypes.byref(name), learner, 8) == MS_ERR_INDEX
    assert error(abi) == "index: 8 is out of range 0..<8"
    t = new(abi, "ms_learner_get_meta_parameter", learner, 7)
    assert np.all(tensor_values(abi, t) == np.float32(0.02))
    abi.ms_tensor_free(t)
    value = np.full((8, 1), 0.5, np.float32)
    shape = (ctypes.c_int64 * 2)(1, 8)
    assert abi.ms_learner_set_meta_parameter(learner, 6, value.ctypes.data_as(c_float_p), shape, 2) == MS_ERR_SHAPE
    assert error(abi) == "meta-parameter lr.W2: expected shape [8, 1], got [1, 8]"


def test_a_freed_handle_stays_dead_when_new_objects_take_its_memory(abi):
    """Handles are never reused: a stale one is refused, however many objects
    of its kind (or any other) were made since."""
    made = lambda: new(abi, "ms_sinusoid_new", 5, 5, 0.1, 5.0, 0.0, 3.14, -5.0, 5.0, 1)
    stale = made()
    assert abi.ms_taskset_free(stale) == MS_OK
    fresh = [made() for _ in range(64)] + [new(abi, "ms_adam_new", 1e-3, 0.9, 0.999, 1e-8) for _ in range(64)]
    assert all(f.value != stale.value for f in fresh)
    outs = [ctypes.c_void_p() for _ in range(4)]
    assert abi.ms_taskset_sample(*(ctypes.byref(o) for o in outs), stale) == MS_ERR_HANDLE
    assert error(abi).startswith("taskset: not a live metaswift handle")
    assert abi.ms_taskset_free(stale) == MS_ERR_HANDLE
    for f in fresh[:64]:
        assert abi.ms_taskset_free(f) == MS_OK
    for f in fresh[64:]:
        assert abi.ms_optimizer_free(f) == MS_OK
