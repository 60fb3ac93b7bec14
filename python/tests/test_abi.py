"""The C ABI refuses bad arguments with a status and a message, and never
crashes: NULL pointers, foreign, freed and wrong-kind handles, bad values,
unknown kinds, methods and argument names. Called through ctypes so that
arguments the Python layer would never pass reach the engine."""
import ctypes
import threading

import numpy as np
import pytest

MS_OK, MS_ERR_ARGUMENT, MS_ERR_SHAPE, MS_ERR_INDEX, MS_ERR_HANDLE = 0, 1, 2, 3, 4
MS_NONE, MS_INT, MS_UINT, MS_FLOAT, MS_STRING, MS_OBJECT, MS_VIEW, MS_INTS, MS_OBJECTS, MS_VIEWS = range(10)

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_float_p = ctypes.POINTER(ctypes.c_float)


class View(ctypes.Structure):
    _fields_ = [("data", c_float_p), ("shape", c_int64_p), ("rank", ctypes.c_int64)]


def error(lib):
    return lib.ms_last_error().decode()


def shape_array(*dims):
    return (ctypes.c_int64 * max(len(dims), 1))(*dims)


def float_pointer(a):
    return a.ctypes.data_as(c_float_p)


class Bag:
    """An ms_args filled through the setters; freed on exit."""

    def __init__(self, lib, **values):
        self.lib, self.handle, self.keep = lib, ctypes.c_void_p(), []
        assert lib.ms_args_new(ctypes.byref(self.handle)) == MS_OK
        for name, value in values.items():
            assert self.set(name, value) == MS_OK, error(lib)

    def set(self, name, value):
        lib, h, n = self.lib, self.handle, name.encode()
        if value is None:
            return lib.ms_args_set_none(h, n)
        if isinstance(value, bool) or isinstance(value, int):
            return lib.ms_args_set_int(h, n, ctypes.c_int64(int(value)))
        if isinstance(value, float):
            return lib.ms_args_set_float(h, n, ctypes.c_double(value))
        if isinstance(value, str):
            return lib.ms_args_set_string(h, n, value.encode())
        if isinstance(value, ctypes.c_void_p):
            return lib.ms_args_set_object(h, n, value)
        if isinstance(value, np.ndarray) and value.dtype == np.int64:
            self.keep.append(value)
            return lib.ms_args_set_ints(h, n, value.ctypes.data_as(c_int64_p), value.size)
        if isinstance(value, np.ndarray):
            a = np.ascontiguousarray(value, np.float32)
            shape = shape_array(*a.shape)
            self.keep += [a, shape]
            return lib.ms_args_set_view(h, n, float_pointer(a), shape, a.ndim)
        if isinstance(value, list) and value and isinstance(value[0], np.ndarray):
            arrays = [np.ascontiguousarray(v, np.float32) for v in value]
            shapes = [shape_array(*a.shape) for a in arrays]
            views = (View * len(arrays))(*(View(float_pointer(a), s, a.ndim) for a, s in zip(arrays, shapes)))
            self.keep += [arrays, shapes, views]
            return lib.ms_args_set_views(h, n, views, len(arrays))
        if isinstance(value, list):
            handles = (ctypes.c_void_p * max(len(value), 1))(*value)
            self.keep.append(handles)
            return lib.ms_args_set_objects(h, n, handles, len(value))
        raise TypeError(value)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        assert self.lib.ms_args_free(self.handle) == MS_OK


def new(lib, kind, **values):
    out = ctypes.c_void_p()
    with Bag(lib, **values) as bag:
        status = lib.ms_new(ctypes.byref(out), kind.encode(), bag.handle)
    assert status == MS_OK, error(lib)
    return out


def call(lib, obj, method, **values):
    """ms_call; returns (status, results handle)."""
    out = ctypes.c_void_p()
    with Bag(lib, **values) as bag:
        status = lib.ms_call(ctypes.byref(out), obj, method.encode(), bag.handle)
    return status, out


def read(lib, results):
    """A result bag as {name: (type, value)}; frees the bag."""
    n = ctypes.c_int64()
    assert lib.ms_args_count(ctypes.byref(n), results) == MS_OK
    out = {}
    for i in range(n.value):
        name, kind = ctypes.c_char_p(), ctypes.c_int()
        assert lib.ms_args_name(ctypes.byref(name), results, i) == MS_OK
        assert lib.ms_args_type(ctypes.byref(kind), results, i) == MS_OK
        if kind.value == MS_INT:
            v = ctypes.c_int64()
            assert lib.ms_args_get_int(ctypes.byref(v), results, i) == MS_OK
            value = v.value
        elif kind.value == MS_FLOAT:
            v = ctypes.c_double()
            assert lib.ms_args_get_float(ctypes.byref(v), results, i) == MS_OK
            value = v.value
        elif kind.value == MS_STRING:
            v = ctypes.c_char_p()
            assert lib.ms_args_get_string(ctypes.byref(v), results, i) == MS_OK
            value = v.value.decode()
        elif kind.value == MS_OBJECT:
            v = ctypes.c_void_p()
            assert lib.ms_args_get_object(ctypes.byref(v), results, i) == MS_OK
            value = v
        elif kind.value == MS_INTS:
            length = ctypes.c_int64()
            assert lib.ms_args_length(ctypes.byref(length), results, i) == MS_OK
            buf = (ctypes.c_int64 * max(length.value, 1))()
            assert lib.ms_args_get_ints(buf, length, results, i) == MS_OK
            value = list(buf)[:length.value]
        else:
            value = None
        out[name.value.decode()] = (kind.value, value)
    assert lib.ms_args_free(results) == MS_OK
    return out


def tensor_values(lib, t):
    data, rank = c_float_p(), ctypes.c_int64()
    shape = (ctypes.c_int64 * 8)()
    assert lib.ms_tensor_info(ctypes.byref(data), ctypes.byref(rank), shape, 8, t) == MS_OK
    dims = tuple(shape[:rank.value])
    return np.ctypeslib.as_array(data, shape=dims).copy() if np.prod(dims) else np.zeros(dims, np.float32)


def mlp(lib, sizes=(2, 3, 1)):
    return new(lib, "model.MLP", sizes=np.array(sizes, np.int64), activation="tanh", seed=7)


def test_version_is_a_string(lib):
    assert lib.ms_version().decode().count(".") == 2


def test_free_of_null_is_a_no_op(lib):
    assert lib.ms_free(None) == MS_OK
    assert lib.ms_args_free(None) == MS_OK


def test_double_free_and_foreign_handles_are_reported_not_crashed(lib):
    m = mlp(lib)
    assert lib.ms_free(m) == MS_OK
    assert lib.ms_free(m) == MS_ERR_HANDLE
    assert "object: not a live metaswift handle" in error(lib)
    status, _ = call(lib, m, "parameter_count")
    assert status == MS_ERR_HANDLE and error(lib).startswith("object: not a live metaswift handle")
    junk = ctypes.c_int64(0)
    assert lib.ms_free(ctypes.byref(junk)) == MS_ERR_HANDLE
    kind = ctypes.c_char_p()
    assert lib.ms_kind(ctypes.byref(kind), ctypes.byref(junk)) == MS_ERR_HANDLE


def test_wrong_kinds_are_refused_by_argument_name(lib):
    m, opt = mlp(lib), new(lib, "optimizer.SGD", lr=0.1)
    out = ctypes.c_void_p()
    with Bag(lib, model=opt) as bag:
        assert lib.ms_new(ctypes.byref(out), b"learner.MAML", bag.handle) == MS_ERR_HANDLE
    assert error(lib) == "model: expected a model, got a optimizer" and not out.value
    with Bag(lib) as bag:  # an args bag is no object, and no object is an args bag
        assert lib.ms_free(bag.handle) == MS_ERR_HANDLE
        assert lib.ms_args_free(m) == MS_ERR_HANDLE
        assert lib.ms_args_set_object(bag.handle, b"x", bag.handle) == MS_ERR_HANDLE
    kind = ctypes.c_char_p()
    assert lib.ms_kind(ctypes.byref(kind), m) == MS_OK and kind.value == b"model"
    for h in (m, opt):
        assert lib.ms_free(h) == MS_OK


def test_unknown_kinds_methods_and_arguments_are_named(lib):
    out = ctypes.c_void_p()
    assert lib.ms_new(ctypes.byref(out), b"learner.Nope", None) == MS_ERR_ARGUMENT
    assert error(lib).startswith("kind: unknown kind 'learner.Nope'; expected one of ")
    assert "learner.MAML" in error(lib)
    m = mlp(lib)
    status, _ = call(lib, m, "fly")
    assert status == MS_ERR_ARGUMENT and error(lib).startswith("method: a model has no method 'fly'")
    status, _ = call(lib, m, "parameter", index=0, extra=1)
    assert status == MS_ERR_ARGUMENT
    assert error(lib) == "extra: not an argument of model.parameter; expected one of index"
    status, _ = call(lib, None, "no_such_function")
    assert status == MS_ERR_ARGUMENT and error(lib).startswith("method: unknown function 'no_such_function'")
    assert lib.ms_free(m) == MS_OK


def test_values_of_the_wrong_type_are_refused(lib):
    m = mlp(lib)
    for value, expected in [("3", "index: expected an integer, got '3'"), (1.5, "index: expected an integer, got 1.5"),
                            (np.zeros(2, np.int64), "index: expected an integer, got 2 integers")]:
        status, _ = call(lib, m, "parameter", index=value)
        assert (status, error(lib)) == (MS_ERR_ARGUMENT, expected)
    status, _ = call(lib, m, "forward", x=np.zeros(3, np.int64))
    assert (status, error(lib)) == (MS_ERR_ARGUMENT, "x: expected a float32 array, got 3 integers")
    with pytest.raises(AssertionError, match="inner_lr: must be finite and >= 0, got nan"):
        new(lib, "learner.MAML", model=m, inner_lr=float("nan"))
    assert lib.ms_free(m) == MS_OK


def test_bag_setters_refuse_nulls_duplicates_and_bad_views(lib):
    with Bag(lib, a=1) as bag:
        h = bag.handle
        assert bag.set("a", 2) == MS_ERR_ARGUMENT and error(lib) == "a: given twice"
        assert lib.ms_args_set_int(h, None, 1) == MS_ERR_ARGUMENT and error(lib) == "name: NULL string"
        assert lib.ms_args_set_int(h, b"", 1) == MS_ERR_ARGUMENT
        assert lib.ms_args_set_string(h, b"s", None) == MS_ERR_ARGUMENT
        assert lib.ms_args_set_view(h, b"v", None, shape_array(2), 1) == MS_ERR_ARGUMENT
        assert error(lib) == "v: NULL for 2 elements"
        assert lib.ms_args_set_view(h, b"w", None, shape_array(-1), 1) != MS_OK
        assert lib.ms_args_set_view(h, b"r", None, None, 65) != MS_OK
        raw = np.zeros(3, np.float32)
        odd = ctypes.cast(raw.ctypes.data + 1, c_float_p)
        assert lib.ms_args_set_view(h, b"u", odd, shape_array(2), 1) == MS_ERR_ARGUMENT
        assert "not aligned" in error(lib)
        assert lib.ms_args_set_ints(h, b"i", None, 3) == MS_ERR_ARGUMENT
        assert lib.ms_args_set_objects(h, b"o", None, 2) == MS_ERR_ARGUMENT
        assert lib.ms_args_set_views(h, b"vs", None, 2) == MS_ERR_ARGUMENT
        assert lib.ms_args_set_int(None, b"x", 1) == MS_ERR_HANDLE


def test_bag_readers_refuse_bad_indices_and_types(lib):
    with Bag(lib, a=1, s="text", f=2.5, i=np.array([4, 5], np.int64)) as bag:
        h = bag.handle
        n = ctypes.c_int64()
        assert lib.ms_args_count(ctypes.byref(n), h) == MS_OK and n.value == 4
        v = ctypes.c_int64()
        assert lib.ms_args_get_int(ctypes.byref(v), h, 4) == MS_ERR_INDEX
        assert lib.ms_args_get_int(ctypes.byref(v), h, -1) == MS_ERR_INDEX
        assert lib.ms_args_get_int(ctypes.byref(v), h, 1) == MS_ERR_ARGUMENT
        assert "holds 'text', not a value of type" in error(lib)
        assert lib.ms_args_get_int(None, h, 0) == MS_ERR_ARGUMENT
        small = (ctypes.c_int64 * 1)()
        assert lib.ms_args_get_ints(small, 1, h, 3) == MS_ERR_ARGUMENT
        s = ctypes.c_char_p()
        assert lib.ms_args_get_string(ctypes.byref(s), h, 1) == MS_OK and s.value == b"text"


def test_a_learner_trains_through_the_generic_abi(lib):
    m = mlp(lib, (1, 8, 1))
    maml = new(lib, "learner.MAML", model=m, inner_lr=0.1, inner_steps=1, loss="mse")
    ts = new(lib, "taskset.Sinusoid", shots=5, queries=5, seed=1)
    opt = new(lib, "optimizer.Adam", lr=0.01)
    assert lib.ms_free(m) == MS_OK  # the learner keeps its model alive
    trainer = new(lib, "trainer", learner=maml, taskset=ts, optimizer=opt, meta_batch_size=2, seed=0)
    status, results = call(lib, trainer, "run", steps=3)
    assert status == MS_OK, error(lib)
    (kind, losses), = read(lib, results).values()
    assert kind == MS_OBJECT and tensor_values(lib, losses).shape == (3,)
    status, results = call(lib, trainer, "steps")
    assert read(lib, results) == {"steps": (MS_INT, 3)}
    for h in (losses, trainer, opt, ts, maml):
        assert lib.ms_free(h) == MS_OK


def test_tasks_cross_as_lists_of_views_and_results_never_share_them(lib):
    m = mlp(lib, (1, 8, 1))
    maml = new(lib, "learner.MAML", model=m, inner_lr=0.1, inner_steps=1, loss="mse")
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(4, 1)).astype(np.float32) for _ in range(2)]
    status, results = call(lib, maml, "meta_loss_and_grad", x_support=xs, y_support=xs, x_query=xs, y_query=xs)
    assert status == MS_OK, error(lib)
    r = read(lib, results)
    assert r["loss"][0] == MS_FLOAT and np.isfinite(r["loss"][1])
    status, _ = call(lib, maml, "meta_loss_and_grad", x_support=xs, y_support=xs[:1], x_query=xs, y_query=xs)
    assert status == MS_ERR_ARGUMENT and error(lib).startswith("y_support: 1 arrays for 2 tasks")
    bad = [xs[0], np.full((4, 1), np.nan, np.float32)]
    status, _ = call(lib, maml, "meta_loss_and_grad", x_support=xs, y_support=xs, x_query=bad, y_query=xs)
    assert status == MS_ERR_ARGUMENT and error(lib) == "tasks[1].x_query: element 0 is nan; values must be finite"
    # A model adapted from borrowed arrays owns its parameters.
    status, results = call(lib, maml, "adapt", x=xs[0], y=xs[0], steps=1)
    assert status == MS_OK, error(lib)
    adapted = read(lib, results)["model"][1]
    status, results = call(lib, adapted, "forward", x=xs[1])
    assert status == MS_OK and tensor_values(lib, read(lib, results)["y"][1]).shape == (4, 1)
    for h in (adapted, maml, m):
        assert lib.ms_free(h) == MS_OK


def test_tensor_wrap_lends_and_releases_once(lib):
    released = []
    callback = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda ctx: released.append(ctx))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ctypes.c_void_p()
    assert lib.ms_tensor_wrap(ctypes.byref(t), float_pointer(a), shape_array(2, 3), 2, callback, 42) == MS_OK
    np.testing.assert_array_equal(tensor_values(lib, t), a)
    assert released == []
    assert lib.ms_free(t) == MS_OK
    assert released == [42]
    assert lib.ms_tensor_wrap(ctypes.byref(t), float_pointer(a), shape_array(2, 3), 2, None, None) == MS_ERR_ARGUMENT


def test_errors_are_per_thread(lib):
    seen = {}

    def fail(kind):
        out = ctypes.c_void_p()
        lib.ms_new(ctypes.byref(out), kind.encode(), None)
        seen[kind] = error(lib)

    threads = [threading.Thread(target=fail, args=(k,)) for k in ("nope.A", "nope.B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["nope.A"].startswith("kind: unknown kind 'nope.A'")
    assert seen["nope.B"].startswith("kind: unknown kind 'nope.B'")


def test_no_handle_leaks_through_failed_calls(lib):
    kinds = [b"tensor", b"model", b"args", b"learner"]

    def counts():
        out = []
        for k in kinds:
            n = ctypes.c_int64()
            assert lib.ms_handle_count(ctypes.byref(n), k) == MS_OK
            out.append(n.value)
        return out

    before = counts()
    m = mlp(lib)
    for _ in range(10):
        status, _ = call(lib, m, "forward", x=np.zeros((2, 5), np.float32))
        assert status == MS_ERR_SHAPE
        out = ctypes.c_void_p()
        with Bag(lib, model=m, inner_lr=-1.0) as bag:
            assert lib.ms_new(ctypes.byref(out), b"learner.MAML", bag.handle) == MS_ERR_ARGUMENT
    assert lib.ms_free(m) == MS_OK
    assert counts() == before
