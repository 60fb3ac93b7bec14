"""The C ABI refuses bad arguments with a status and a message, and never
crashes: NULL pointers, foreign, freed and wrong-kind handles, bad shapes.
Called through ctypes so that arguments the Python layer would never pass
reach the engine."""
import ctypes
import threading

import numpy as np
import pytest

MS_OK, MS_ERR_ARGUMENT, MS_ERR_SHAPE, MS_ERR_INDEX, MS_ERR_HANDLE = 0, 1, 2, 3, 4

c_int64_p = ctypes.POINTER(ctypes.c_int64)
c_float_p = ctypes.POINTER(ctypes.c_float)


def shape_array(*dims):
    return (ctypes.c_int64 * max(len(dims), 1))(*dims)


def new_tensor(lib, values):
    a = np.ascontiguousarray(values, dtype=np.float32)
    out = ctypes.c_void_p()
    status = lib.ms_tensor_new(ctypes.byref(out), a.ctypes.data_as(c_float_p), shape_array(*a.shape), a.ndim)
    assert status == MS_OK, lib.ms_last_error()
    return out


def new_mlp(lib, sizes=(2, 3, 1), activation=b"relu", seed=0):
    out = ctypes.c_void_p()
    status = lib.ms_model_new_mlp(ctypes.byref(out), shape_array(*sizes), len(sizes), activation,
                                  ctypes.c_uint64(seed))
    assert status == MS_OK, lib.ms_last_error()
    return out


def test_version_is_a_string(lib):
    assert lib.ms_version().decode().count(".") == 2


def test_free_of_null_is_a_no_op(lib):
    assert lib.ms_tensor_free(None) == MS_OK
    assert lib.ms_model_free(None) == MS_OK


def test_double_free_is_reported_not_crashed(lib):
    t = new_tensor(lib, [1.0, 2.0])
    assert lib.ms_tensor_free(t) == MS_OK
    assert lib.ms_tensor_free(t) == MS_ERR_HANDLE
    assert b"not a live metaswift handle" in lib.ms_last_error()


def test_freed_handle_is_refused_before_use(lib):
    m = new_mlp(lib)
    assert lib.ms_model_free(m) == MS_OK
    n = ctypes.c_int64(-1)
    assert lib.ms_model_parameter_count(ctypes.byref(n), m) == MS_ERR_HANDLE
    assert lib.ms_last_error().startswith(b"model: not a live metaswift handle")
    assert n.value == -1


def test_foreign_pointer_is_refused_without_dereferencing(lib):
    n = ctypes.c_int64(0)
    for bogus in (0x10, 0xDEADBEEF0, ctypes.addressof(n)):
        assert lib.ms_model_parameter_count(ctypes.byref(n), ctypes.c_void_p(bogus)) == MS_ERR_HANDLE
        assert lib.ms_tensor_rank(ctypes.byref(n), ctypes.c_void_p(bogus)) == MS_ERR_HANDLE


def test_handle_of_the_wrong_kind_is_refused(lib):
    t = new_tensor(lib, [[1.0, 2.0]])
    m = new_mlp(lib)
    out = ctypes.c_void_p()
    # a tensor where the model goes, and a model where the input goes
    assert lib.ms_model_forward(ctypes.byref(out), t, t) == MS_ERR_HANDLE
    assert lib.ms_last_error() == b"model: expected a model handle, got a tensor handle"
    assert lib.ms_model_forward(ctypes.byref(out), m, m) == MS_ERR_HANDLE
    assert lib.ms_last_error() == b"x: expected a tensor handle, got a model handle"
    assert out.value is None
    # freeing with the wrong function leaves the handle alive
    assert lib.ms_tensor_free(m) == MS_ERR_HANDLE
    assert lib.ms_model_forward(ctypes.byref(out), m, t) == MS_OK
    for h in (out, t):
        assert lib.ms_tensor_free(h) == MS_OK
    assert lib.ms_model_free(m) == MS_OK


def test_null_pointers_are_refused(lib):
    out = ctypes.c_void_p()
    assert lib.ms_tensor_new(None, None, shape_array(2), 1) == MS_ERR_ARGUMENT
    assert lib.ms_last_error() == b"out: output pointer is NULL"
    assert lib.ms_tensor_new(ctypes.byref(out), None, shape_array(2), 1) == MS_ERR_ARGUMENT
    assert lib.ms_last_error() == b"data: NULL for 2 elements"
    assert lib.ms_tensor_new(ctypes.byref(out), None, None, 1) == MS_ERR_ARGUMENT
    assert lib.ms_model_new_mlp(ctypes.byref(out), shape_array(1, 2), 2, None, ctypes.c_uint64(0)) == MS_ERR_ARGUMENT
    assert lib.ms_last_error() == b"activation: NULL string"
    assert lib.ms_model_forward(ctypes.byref(out), None, None) == MS_ERR_HANDLE
    assert lib.ms_last_error() == b"model: expected a model handle, got NULL"


def test_bad_shapes_and_sizes_are_refused(lib):
    out = ctypes.c_void_p()
    data = (ctypes.c_float * 4)()
    assert lib.ms_tensor_new(ctypes.byref(out), data, shape_array(2), -1) == MS_ERR_ARGUMENT
    assert lib.ms_last_error() == b"rank: must be >= 0, got -1"
    assert lib.ms_tensor_new(ctypes.byref(out), data, shape_array(2, -2), 2) == MS_ERR_ARGUMENT
    assert b"dimensions must be >= 0" in lib.ms_last_error()
    assert lib.ms_tensor_new(ctypes.byref(out), data, shape_array(*[1] * 65), 65) == MS_ERR_ARGUMENT
    assert lib.ms_tensor_new(ctypes.byref(out), data, shape_array(1 << 40, 1 << 40), 2) == MS_ERR_ARGUMENT
    assert b"too many elements" in lib.ms_last_error()
    misaligned = ctypes.cast(ctypes.addressof(data) + 1, c_float_p)
    assert lib.ms_tensor_new(ctypes.byref(out), misaligned, shape_array(1), 1) == MS_ERR_ARGUMENT
    assert b"not aligned" in lib.ms_last_error()
    assert lib.ms_model_new_mlp(ctypes.byref(out), shape_array(1, 2), -3, b"relu", ctypes.c_uint64(0)) \
        == MS_ERR_ARGUMENT
    assert lib.ms_last_error() == b"sizes count: must be >= 0, got -3"


def test_shape_queries_check_capacity_and_index(lib):
    t = new_tensor(lib, np.zeros((2, 3, 4)))
    dims = (ctypes.c_int64 * 3)()
    assert lib.ms_tensor_shape(dims, 2, t) == MS_ERR_ARGUMENT
    assert lib.ms_tensor_shape(dims, 3, t) == MS_OK
    assert list(dims) == [2, 3, 4]
    m = new_mlp(lib)
    assert lib.ms_model_parameter_shape(dims, 3, m, 4) == MS_ERR_INDEX
    assert lib.ms_last_error() == b"index: 4 is out of range 0..<4"
    assert lib.ms_model_parameter_shape(dims, 3, m, -1) == MS_ERR_INDEX
    assert lib.ms_tensor_free(t) == MS_OK and lib.ms_model_free(m) == MS_OK


def test_last_error_is_per_thread(lib):
    n = ctypes.c_int64()
    assert lib.ms_model_parameter_count(ctypes.byref(n), None) == MS_ERR_HANDLE
    mine = lib.ms_last_error()
    seen = {}

    def other():
        seen["before"] = lib.ms_last_error()
        lib.ms_tensor_rank(None, None)
        seen["after"] = lib.ms_last_error()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["before"] == b""
    assert seen["after"] == b"out: output pointer is NULL"
    assert lib.ms_last_error() == mine


def test_wrap_calls_release_exactly_once(lib):
    released = []
    RELEASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    on_release = RELEASE(lambda ctx: released.append(ctx))
    a = np.arange(6, dtype=np.float32)
    out = ctypes.c_void_p()
    assert lib.ms_tensor_wrap(ctypes.byref(out), a.ctypes.data_as(c_float_p), shape_array(2, 3), 2,
                              on_release, ctypes.c_void_p(42)) == MS_OK
    data = c_float_p()
    assert lib.ms_tensor_data(ctypes.byref(data), out) == MS_OK
    assert ctypes.cast(data, ctypes.c_void_p).value == a.ctypes.data  # a view, not a copy
    assert released == []
    assert lib.ms_tensor_free(out) == MS_OK
    assert released == [42]
    # refused arguments: release is not called, the buffer stays the caller's
    assert lib.ms_tensor_wrap(ctypes.byref(out), a.ctypes.data_as(c_float_p), shape_array(-1), 1,
                              on_release, None) == MS_ERR_ARGUMENT
    assert lib.ms_tensor_wrap(ctypes.byref(out), a.ctypes.data_as(c_float_p), shape_array(6), 1,
                              None, None) == MS_ERR_ARGUMENT
    assert released == [42]


def test_parameters_outlive_their_model(lib):
    m = new_mlp(lib, sizes=(2, 3))
    p = ctypes.c_void_p()
    assert lib.ms_model_get_parameter(ctypes.byref(p), m, 0) == MS_OK
    assert lib.ms_model_free(m) == MS_OK
    n = ctypes.c_int64()
    assert lib.ms_tensor_size(ctypes.byref(n), p) == MS_OK and n.value == 6
    assert lib.ms_tensor_free(p) == MS_OK


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_parameters_are_refused(lib, bad):
    m = new_mlp(lib, sizes=(1, 2))
    value = (ctypes.c_float * 2)(0.5, bad)
    assert lib.ms_model_set_parameter(m, 0, value, shape_array(1, 2), 2) == MS_ERR_ARGUMENT
    assert lib.ms_last_error().startswith(b"parameter W1: element 1 is ")
    assert lib.ms_model_free(m) == MS_OK
