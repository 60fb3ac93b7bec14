"""DLPack: engine tensors leave through __dlpack__ without a copy, read-only
where the protocol can say so, and keep the engine tensor alive for as long as
a consumer holds them; capsules nobody consumes free what they hold.

The proof is NumPy (a dependency) and pure-Python producers; the PyTorch
checks at the end are an extra that runs only where torch is installed.
"""
import ctypes
import gc
import threading

import numpy as np
import pytest

import metaswift as ms
from metaswift import _core

KDLCPU = 1


def tensors():
    return _core._handle_count("tensor")


def engine_tensor():
    """A (3, 4) engine tensor, its values, and the handle count before it
    existed. (Not a fixture: pytest would keep the tensor alive.)"""
    gc.collect()
    before = tensors()
    values = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    return _core.Tensor(values), values, before


def address(arr):
    return arr.__array_interface__["data"][0]


# ---- the engine tensor as a producer ------------------------------------------


def test_dlpack_device_is_the_cpu():
    t, _, _ = engine_tensor()
    assert t.__dlpack_device__() == (KDLCPU, 0)


def test_numpy_views_the_engine_memory_read_only():
    t, values, _ = engine_tensor()
    a = np.from_dlpack(t)
    assert a.dtype == np.float32 and a.shape == (3, 4)
    np.testing.assert_array_equal(a, values)
    assert address(a) == t._address          # no copy
    assert address(a) == address(np.asarray(t))  # the memory the buffer protocol shows
    assert not a.flags.writeable             # NumPy asks for a versioned capsule: read-only is honoured
    with pytest.raises(ValueError):
        a[0, 0] = 1


def test_shapes_round_trip():
    for shape in [(), (5,), (2, 3, 4), (2, 1, 3, 1, 2), (0, 3)]:
        values = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        t = _core.Tensor(values)
        a = np.from_dlpack(t)
        assert a.shape == shape and a.flags.c_contiguous
        np.testing.assert_array_equal(a, values)
        if values.size:
            assert address(a) == t._address


def test_versioned_capsule_when_the_consumer_says_its_version():
    t, _, _ = engine_tensor()
    for max_version in [(1, 0), (1, 3), (2, 0)]:
        capsule = t.__dlpack__(max_version=max_version)
        assert 'dltensor_versioned"' in repr(capsule)
        managed = _capsule_pointer(capsule, b"dltensor_versioned")
        major, minor = (ctypes.c_uint32 * 2).from_address(managed)
        flags = ctypes.c_uint64.from_address(managed + 24).value
        assert (major, minor) == (1, 0)      # the ABI we write, whatever the consumer can read
        assert flags == 1                    # DLPACK_FLAG_BITMASK_READ_ONLY
    for legacy in [None, (0, 8)]:
        assert 'dltensor"' in repr(t.__dlpack__(max_version=legacy))


def test_explicit_cpu_device_and_copy_false_are_served_without_a_copy():
    t, values, _ = engine_tensor()
    a = np.from_dlpack(t, device="cpu", copy=False)
    assert address(a) == t._address
    capsule = t.__dlpack__(max_version=(1, 0), dl_device=(KDLCPU, 0), copy=False, stream=None)
    assert 'dltensor_versioned"' in repr(capsule)


def test_copy_true_gives_a_writable_copy():
    t, values, _ = engine_tensor()
    a = np.from_dlpack(t, copy=True)
    assert address(a) != t._address
    np.testing.assert_array_equal(a, values)
    assert a.flags.writeable                 # the copy is the consumer's own (DLPACK_FLAG_BITMASK_IS_COPIED)
    a[0, 0] = 100
    assert np.asarray(t)[0, 0] == values[0, 0]


def test_bad_requests_raise_what_the_spec_says():
    t, _, _ = engine_tensor()
    with pytest.raises(BufferError, match="device"):
        t.__dlpack__(dl_device=(2, 0))       # CUDA: not where the tensor is
    with pytest.raises(BufferError, match="device"):
        t.__dlpack__(max_version=(1, 0), dl_device=(KDLCPU, 1))
    with pytest.raises(ValueError, match="stream"):
        t.__dlpack__(stream=1)               # the CPU has no streams: only None
    for bad in [1, (1,), [1, 0], "1.0", (1, 0, 0)]:
        with pytest.raises(TypeError, match="max_version"):
            t.__dlpack__(max_version=bad)
    with pytest.raises(TypeError, match="dl_device"):
        t.__dlpack__(dl_device=1)
    with pytest.raises(TypeError):
        t.__dlpack__(None)                   # keyword-only, as the spec writes it


def test_the_legacy_capsule_cannot_say_read_only():
    """A consumer without max_version gets the legacy capsule, which has no
    flags: NumPy (2.x) imports it read-only anyway, others may not."""
    t, values, _ = engine_tensor()

    class Legacy:  # a producer wrapper that speaks only the pre-1.0 protocol
        def __dlpack__(self, stream=None):
            return t.__dlpack__(stream=stream)

        def __dlpack_device__(self):
            return t.__dlpack_device__()

    a = np.from_dlpack(Legacy())
    assert address(a) == t._address
    np.testing.assert_array_equal(a, values)
    assert not a.flags.writeable


# ---- lifetimes ----------------------------------------------------------------


def test_a_consumer_keeps_the_engine_tensor_alive():
    t, values, before = engine_tensor()
    a = np.from_dlpack(t)
    del t
    gc.collect()
    assert tensors() == before + 1           # the capsule's owner, not the Python object, holds it
    np.testing.assert_array_equal(a, values)
    del a
    gc.collect()
    assert tensors() == before


def test_model_outputs_outlive_the_model():
    gc.collect()
    before = tensors()
    model = ms.nn.MLP([2, 5, 3], seed=1)
    x = np.ones((4, 2), dtype=np.float32)
    expected = np.array(model(x))
    core = model._model.call("forward", x=x)["y"]
    a = np.from_dlpack(core)
    del model, core
    gc.collect()
    np.testing.assert_array_equal(a, expected)
    del a
    gc.collect()
    assert tensors() == before


def test_unconsumed_capsules_free_what_they_hold():
    t, _, before = engine_tensor()
    capsules = [t.__dlpack__(), t.__dlpack__(max_version=(1, 0)), t.__dlpack__(max_version=(1, 0), copy=True)]
    del t
    gc.collect()
    assert tensors() == before + 1
    del capsules
    gc.collect()
    assert tensors() == before


def test_a_consumed_capsule_is_left_to_the_consumer():
    """Once a consumer renames the capsule "used_...", the capsule no longer
    frees: the consumer's deleter call does, here from another thread that does
    not hold the GIL (ctypes releases it), as a consumer may."""
    gc.collect()
    before = tensors()
    for max_version, name in [((1, 0), b"dltensor_versioned"), (None, b"dltensor")]:
        capsule = _core.Tensor(np.ones((2, 2), dtype=np.float32)).__dlpack__(max_version=max_version)
        managed = _capsule_pointer(capsule, name)
        assert ctypes.pythonapi.PyCapsule_SetName(ctypes.py_object(capsule), _USED[name]) == 0
        del capsule
        gc.collect()
        assert tensors() == before + 1       # the consumer owns the export now
        # DLManagedTensorVersioned: version (8 bytes), manager_ctx, deleter;
        # DLManagedTensor: a 48-byte DLTensor, manager_ctx, deleter.
        deleter_at = managed + (16 if name == b"dltensor_versioned" else 56)
        deleter = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(ctypes.c_void_p.from_address(deleter_at).value)
        thread = threading.Thread(target=deleter, args=(managed,))
        thread.start()
        thread.join()
        assert tensors() == before


_USED = {b"dltensor_versioned": ctypes.c_char_p(b"used_dltensor_versioned"),
         b"dltensor": ctypes.c_char_p(b"used_dltensor")}  # kept alive: the capsule keeps the pointer


def _capsule_pointer(capsule, name):
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get(capsule, name)


def test_a_freed_tensor_is_not_exported():
    t = _core.Tensor(np.ones(3, dtype=np.float32))
    t._free()
    with pytest.raises(BufferError, match="freed"):
        t.__dlpack__(max_version=(1, 0))


# ---- any DLPack producer as an input --------------------------------------------


class Producer:
    """Another library's array, as far as metaswift can tell: it exports a
    NumPy array's memory through NumPy's own __dlpack__, and has neither
    __array__ nor the buffer protocol, so DLPack is its only way in."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


class Refusing(Producer):
    """A producer whose memory is somewhere NumPy cannot read (a GPU, say)."""

    def __dlpack__(self, **kwargs):
        raise BufferError("the array lives on cuda:0; copy it to the host first")

    def __dlpack_device__(self):
        return (2, 0)


class Recorder:
    """Stands in for an engine object and records what the Python layer hands it."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def call(self, method, **arguments):
        self.calls.append((method, arguments))
        return self.inner.call(method, **arguments)


def test_a_float32_producer_reaches_the_engine_without_a_copy():
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
    model = ms.nn.MLP([2, 5, 3], seed=1)
    expected = np.array(model(x))
    recorder = model._model = Recorder(model._model)
    np.testing.assert_array_equal(model(Producer(x)), expected)
    ((method, passed),) = recorder.calls
    assert method == "forward" and _core._lent_addresses(x=passed["x"]) == [address(x)]
    assert address(ms.as_float32(Producer(x), "x")) == address(x)


def test_producers_are_training_data():
    rng = np.random.default_rng(0)
    tasks = [(rng.normal(size=(5, 1)).astype(np.float32), rng.normal(size=(5, 1)).astype(np.float32),
              rng.normal(size=(7, 1)).astype(np.float32), rng.normal(size=(7, 1)).astype(np.float32))
             for _ in range(3)]

    def maml():
        return ms.MAML(ms.nn.MLP([1, 8, 1], activation="tanh", seed=0), inner_lr=0.1, inner_steps=2)

    loss, grads = maml().meta_loss_and_grad(tasks)
    loss_p, grads_p = maml().meta_loss_and_grad([tuple(Producer(a) for a in t) for t in tasks])
    assert loss_p == loss
    for g, g_p in zip(grads, grads_p):
        np.testing.assert_array_equal(g_p, g)
    x, y = tasks[0][:2]
    adapted, adapted_p = maml().adapt(x, y), maml().adapt(Producer(x), Producer(y))
    for p, p_p in zip(adapted.parameters(), adapted_p.parameters()):
        np.testing.assert_array_equal(p_p, p)


@pytest.mark.parametrize("view", [Producer, memoryview])
def test_a_taskset_copies_images_it_sees_through_a_view(view):
    """The engine keeps a taskset's images: the caller's memory seen through
    DLPack (or the buffer protocol) is copied once, so writing it later
    changes nothing in the taskset."""
    images = np.arange(40, dtype=np.float32).reshape(20, 2)
    labels = np.arange(20) % 4
    tasks = ms.data.Taskset(view(images), view(labels), ways=2, shots=2, queries=3, seed=3)
    expected = ms.data.Taskset(images.copy(), labels, ways=2, shots=2, queries=3, seed=3)
    np.testing.assert_array_equal(tasks.images, images)
    np.testing.assert_array_equal(tasks.labels, labels)
    images[:] = -1
    np.testing.assert_array_equal(tasks.images, expected.images)
    for a, b in zip(tasks.sample(), expected.sample()):
        np.testing.assert_array_equal(a, b)


def test_other_dtypes_convert_like_any_array():
    x = np.linspace(-2, 2, 12).reshape(6, 2)     # float64
    model = ms.nn.MLP([2, 4, 1], seed=2)
    expected = np.array(model(x))
    for source in [x, x.astype(np.float16), (x * 10).astype(np.int32), x > 0, np.asfortranarray(x)]:
        converted = ms.as_float32(Producer(source), "x")
        assert converted.dtype == np.float32 and converted.flags.c_contiguous
        assert address(converted) != address(source)  # one copy, as for the array itself
        np.testing.assert_array_equal(converted, ms.as_float32(source, "x"))
    np.testing.assert_array_equal(model(Producer(x)), expected)
    with pytest.raises(ms.Error, match="labels: expected integer class labels, got dtype float64"):
        ms.data.as_labels(Producer(x[:, 0]))


def test_complex_and_failing_producers_are_errors_naming_the_argument():
    model = ms.nn.MLP([2, 4, 1], seed=2)
    with pytest.raises(ms.Error, match=r"^x: expected real numbers, got dtype complex64 \(complex\)"):
        model(Producer(np.ones((3, 2), dtype=np.complex64)))
    with pytest.raises(ms.Error, match=r"^x: cannot read Refusing through DLPack \(the array lives on cuda:0"):
        model(Refusing(np.ones((3, 2), dtype=np.float32)))
    with pytest.raises(ms.Error, match=r"^tasks\[0\]\.y_query: cannot read Refusing through DLPack"):
        ms.MAML(ms.nn.MLP([1, 4, 1])).meta_loss_and_grad(
            [(np.ones((2, 1)), np.ones((2, 1)), np.ones((2, 1)), Refusing(np.ones((2, 1))))])
    with pytest.raises(ms.Error, match=r"^images: cannot read Refusing through DLPack"):
        ms.data.Taskset(Refusing(np.ones((4, 2))), [0, 0, 1, 1], ways=2, shots=1, queries=1)
    # A dtype DLPack has no code for: NumPy refuses to export it.
    with pytest.raises(ms.Error, match=r"^x: cannot read Producer through DLPack"):
        model(Producer(np.array([["a", "b"]])))


# ---- what the package returns -------------------------------------------------


def test_package_outputs_go_out_through_dlpack_without_a_copy():
    """Outputs stay plain read-only NumPy views: NumPy's own __dlpack__
    exports them zero-copy and read-only to any consumer that speaks DLPack 1.0
    (max_version), as np.from_dlpack and torch.from_dlpack do."""
    model = ms.nn.MLP([2, 5, 3], seed=1)
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(4, 2)
    y = model(x)
    engine = model._model.call("parameters")["values"]
    for out, at in [(y, address(y))] + [(p, t._address) for p, t in zip(model.parameters(), engine)]:
        a = np.from_dlpack(out)
        assert address(a) == address(out) == at
        np.testing.assert_array_equal(a, out)
        assert not a.flags.writeable
    # A consumer of DLPack before 1.0 cannot be told "read-only", so NumPy refuses it.
    with pytest.raises(BufferError, match="readonly"):
        y.__dlpack__()


def test_torch_reads_outputs_and_is_read_as_input():
    """An extra where torch is installed (it is not a dependency)."""
    torch = pytest.importorskip("torch")
    gc.collect()
    before = tensors()
    model = ms.nn.MLP([2, 5, 3], seed=1)
    x = torch.linspace(-1, 1, 8).reshape(4, 2)

    # A torch tensor goes in without a copy...
    recorder = model._model = Recorder(model._model)
    y = model(x)
    ((_, passed),) = recorder.calls
    assert _core._lent_addresses(x=passed["x"]) == [x.data_ptr()]
    model._model = recorder.inner
    np.testing.assert_array_equal(y, model(x.numpy()))
    # ...and outputs, parameters and bare engine tensors come out without one.
    # (torch 2.13 accepts the READ_ONLY flag but returns a writable tensor;
    # the README says to clone before writing. Not asserted: torch's business.)
    assert torch.from_dlpack(y).data_ptr() == address(y)
    torch.testing.assert_close(torch.from_dlpack(y), torch.from_numpy(np.array(y)), rtol=0, atol=0)
    engine = model._model.call("parameters")["values"]
    for p, t in zip(model.parameters(), engine):
        assert torch.from_dlpack(p).data_ptr() == torch.from_dlpack(t).data_ptr() == t._address
    # torch 2.13 takes the versioned, read-only capsule and the legacy one, and
    # calls our deleter when its tensor goes: nothing is held after that.
    legacy = torch.utils.dlpack.from_dlpack(engine[0].__dlpack__())
    assert legacy.data_ptr() == engine[0]._address
    views, expected = [torch.from_dlpack(t) for t in engine], [np.array(t) for t in engine]
    del model, engine, recorder, passed, y, p, t
    gc.collect()
    assert tensors() == before + len(views)  # the torch tensors hold the engine's
    for view, values in zip(views, expected):
        np.testing.assert_array_equal(view.numpy(), values)
    del views, view, legacy
    gc.collect()
    assert tensors() == before

    # Conversions and refusals, as for NumPy arrays.
    model = ms.nn.MLP([2, 5, 3], seed=1)
    np.testing.assert_array_equal(model(x.t().contiguous().t()), model(x.numpy()))  # strided: one copy
    np.testing.assert_array_equal(model(x.double()), model(x.numpy().astype(np.float64)))
    labels = ms.data.as_labels(torch.arange(4))
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 2, 3]
    with pytest.raises(ms.Error, match=r"^x: cannot read Tensor through DLPack \(.*require.* grad"):
        model(x.requires_grad_())
    with pytest.raises(ms.Error, match=r"^x: cannot read Tensor through DLPack"):
        model(x.detach().bfloat16())
    with pytest.raises(ms.Error, match=r"^x: expected real numbers, got dtype complex64"):
        model(x.detach().to(torch.complex64))
