"""Buffers cross the bridge without copies where the docs say so."""
import gc
import sys

import numpy as np

from metaswift import _core, nn
from metaswift._arrays import as_float32


def address(a):
    return a.__array_interface__["data"][0]


def test_float32_c_contiguous_input_is_not_copied():
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert as_float32(x) is x
    assert _core.Tensor(as_float32(x), copy=False)._address == address(x)


def test_other_inputs_are_converted_once():
    x64 = np.arange(12, dtype=np.float64).reshape(4, 3)
    t = _core.Tensor(as_float32(x64), copy=False)
    assert t._address != address(x64)
    np.testing.assert_array_equal(np.asarray(t), x64.astype(np.float32))


def test_forward_hands_the_callers_buffer_to_the_engine():
    seen = []
    model = nn.MLP([2, 3])

    class Spy:
        def call(self, method, **arguments):
            seen.append((method, arguments["x"]))
            return engine.call(method, **arguments)

    engine, model._model = model._model, Spy()
    x = np.ones((5, 2), dtype=np.float32)
    model(x)
    assert len(seen) == 1 and seen[0][0] == "forward" and seen[0][1] is x
    assert _core._lent_addresses(x=x) == [address(x)]


def test_engine_keeps_a_lent_array_alive_and_lets_it_go():
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    refs = sys.getrefcount(x)
    t = _core.Tensor(x, copy=False)
    assert sys.getrefcount(x) == refs + 1  # the engine holds the exported buffer
    expected = x.copy()
    del x
    gc.collect()
    np.testing.assert_array_equal(np.asarray(t), expected)
    y = np.zeros(3, np.float32)
    refs = sys.getrefcount(y)
    u = _core.Tensor(y, copy=False)
    del u
    assert sys.getrefcount(y) == refs  # released when the tensor went


def test_copy_true_copies():
    x = np.arange(6, dtype=np.float32)
    t = _core.Tensor(x)
    assert t._address != address(x)
    x[0] = 99
    assert np.asarray(t)[0] == 0


def test_output_arrays_view_engine_memory():
    model = nn.MLP([2, 4, 3], seed=0)
    y = model(np.ones((2, 2), np.float32))
    tensor = y.base.obj  # ndarray -> memoryview -> metaswift._core.Tensor
    assert isinstance(tensor, _core.Tensor)
    assert address(y) == tensor._address
    assert not y.flags.writeable and y.flags.c_contiguous
    for p in model.parameters():
        assert isinstance(p.base.obj, _core.Tensor) and address(p) == p.base.obj._address
        assert not p.flags.writeable


def test_tensor_buffer_export():
    t = _core.Tensor(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    m = memoryview(t)
    assert (m.format, m.itemsize, m.shape, m.strides, m.readonly) == ("f", 4, (2, 3, 4), (48, 16, 4), True)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.size == 24
    assert bytes(m) == np.arange(24, dtype=np.float32).tobytes()
    scalar = _core.Tensor(np.float32(2.5).reshape(()))
    assert scalar.shape == () and np.asarray(scalar)[()] == 2.5
    empty = _core.Tensor(np.zeros((0, 3), np.float32), copy=False)
    assert np.asarray(empty).shape == (0, 3)
    try:
        np.frombuffer(t, dtype=np.float32)[0] = 1  # a writable request is refused
    except ValueError:
        pass
    else:
        raise AssertionError("engine memory must not be writable from Python")
    mv = memoryview(t)
    try:
        mv[0, 0, 0] = 1.0
    except TypeError:
        pass
    else:
        raise AssertionError("memoryview of a tensor must be read-only")
