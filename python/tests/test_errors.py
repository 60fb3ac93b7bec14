"""Every refused argument raises metaswift.Error naming the argument; nothing
crashes the interpreter."""
import re
import numpy as np
import pytest

import metaswift
from metaswift import _core
from metaswift.nn import MLP


@pytest.fixture
def model():
    return MLP([3, 5, 2], seed=0)


def test_error_is_a_value_error_with_a_status():
    assert issubclass(metaswift.Error, ValueError)
    assert metaswift.Error.__module__ == "metaswift"
    with pytest.raises(metaswift.Error) as info:
        MLP([3, 0, 2])
    assert info.value.status == 1  # MS_ERR_ARGUMENT


@pytest.mark.parametrize("x, match", [
    ([["a", "b", "c"]], r"^x: expected real numbers, got dtype <U1"),
    (np.array([[object(), 1, 2]], dtype=object), r"^x: expected real numbers, got dtype object"),
    (np.ones((2, 3), dtype=np.complex64), r"^x: expected real numbers, got dtype complex64 \(complex\)"),
    ([[1, 2, 3], [4, 5]], r"^x: cannot be read as a numeric array"),
    (np.ones(3), r"^x: expected 2 dimensions \(batch, 3\), got shape \[3\]"),
    (np.ones((1, 2, 3)), r"^x: expected 2 dimensions"),
    (np.float32(1.0), r"^x: expected 2 dimensions"),
    (np.ones((4, 2)), r"^x: expected 3 features per row \(shape \(batch, 3\)\), got shape \[4, 2\]"),
    (np.array([[1, np.nan, 3]]), r"^x: element 1 is nan; values must be finite"),
    (np.array([[1, 2, -np.inf]]), r"^x: element 2 is -inf; values must be finite"),
])
def test_bad_inputs(model, x, match):
    with pytest.raises(metaswift.Error, match=match):
        model(x)


@pytest.mark.parametrize("sizes, match", [
    ([3, 0, 2], r"^sizes\[1\]: must be > 0, got 0"),
    ([3, -4, 2], r"^sizes\[1\]: must be > 0, got -4"),
    ([3], r"^sizes: expected at least 2 sizes"),
    ([], r"^sizes: expected at least 2 sizes"),
    ([3, 2.5], r"^sizes: expected a sequence of integers"),
    (["3", "2"], r"^sizes: expected a sequence of integers"),
    ([3, 2**40], r"^sizes\[1\]: 1099511627776 is too large"),
    ([3, 2**70], r"^sizes\[1\]: expected an integer in the int64 range"),
])
def test_bad_sizes(sizes, match):
    with pytest.raises(metaswift.Error, match=match):
        MLP(sizes)


@pytest.mark.parametrize("activation, match", [
    ("swish", r"^activation: unknown activation 'swish'; expected one of 'identity', 'relu', 'tanh', 'sigmoid', "
              r"'gelu', 'softplus'"),
    ("", r"^activation: unknown activation ''"),
    (None, r"^activation: expected one of"),
])
def test_bad_activation(activation, match):
    with pytest.raises(metaswift.Error, match=match):
        MLP([2, 2], activation=activation)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.5, "0"])
def test_bad_seed(seed):
    with pytest.raises(metaswift.Error, match=r"^seed: expected an integer in \[0, 2\*\*64\)"):
        MLP([2, 2], seed=seed)


def test_bad_parameters(model):
    shapes = model.parameter_shapes
    good = [np.zeros(s, np.float32) for s in shapes]
    with pytest.raises(metaswift.Error, match=r"^parameters: expected 4 arrays \(W1, b1, W2, b2\), got 3"):
        model.set_parameters(good[:3])
    wrong = list(good)
    wrong[2] = np.zeros((2, 5), np.float32)
    with pytest.raises(metaswift.Error, match=r"^parameter W2: expected shape \[5, 2\], got \[2, 5\]"):
        model.set_parameters(wrong)
    wrong[2] = np.zeros((5, 2, 1), np.float32)
    with pytest.raises(metaswift.Error, match=r"^parameter W2: expected shape \[5, 2\], got \[5, 2, 1\]"):
        model.set_parameters(wrong)
    wrong[2] = np.full((5, 2), "x")
    with pytest.raises(metaswift.Error, match=r"^parameters\[2\] \(W2\): expected real numbers"):
        model.set_parameters(wrong)
    wrong[2] = np.full((5, 2), 1 + 1j)
    with pytest.raises(metaswift.Error, match=r"^parameters\[2\] \(W2\): expected real numbers.*complex"):
        model.set_parameters(wrong)
    wrong[2] = np.full((5, 2), np.inf)
    with pytest.raises(metaswift.Error, match=r"^parameter W2: element 0 is inf; values must be finite"):
        model.set_parameters(wrong)


def test_core_refuses_buffers_that_are_not_contiguous_float32(model):
    m = model._model
    with pytest.raises(metaswift.Error, match=r"^value: unsupported value of type|^value: expected float32"):
        m.call("set_parameter", index=0, value=np.zeros((3, 5)))
    with pytest.raises(metaswift.Error, match=r"^value: expected a C-contiguous float32 buffer, got ndarray"):
        m.call("set_parameter", index=0, value=np.zeros((5, 3), np.float32).T)
    with pytest.raises(metaswift.Error, match=r"^data: expected a C-contiguous float32 buffer, got str"):
        _core.Tensor("abc")
    with pytest.raises(metaswift.Error, match=r"^x: expected a float32 array, got 'abc'"):
        m.call("forward", x="abc")
    with pytest.raises(metaswift.Error, match=r"^index: 7 is out of range 0\.\.<4"):
        m.call("parameter", index=7)
    with pytest.raises(metaswift.Error, match=r"^index: -1 is out of range"):
        m.call("parameter", index=-1)
    with pytest.raises(metaswift.Error, match=r"^index: required; got 'indx', which model\.parameter does not take"):
        m.call("parameter", indx=1)
    with pytest.raises(metaswift.Error, match=r"^junk: not an argument of model\.parameter; expected one of index"):
        m.call("parameter", index=1, junk=1)
    with pytest.raises(metaswift.Error, match=r"^method: a model has no method 'backward'; expected one of"):
        m.call("backward")
    with pytest.raises(metaswift.Error, match=r"^kind: unknown kind 'model\.Transformer'; expected one of"):
        _core.new("model.Transformer")
    with pytest.raises(TypeError):
        _core.Object()


def test_freed_model_handle_is_refused(model):
    x = np.ones((1, 3))
    model._model._free()
    with pytest.raises(metaswift.Error, match=r"^object: not a live metaswift handle") as info:
        model(x)
    assert info.value.status == 4  # MS_ERR_HANDLE
    with pytest.raises(metaswift.Error, match=r"^object: not a live metaswift handle"):
        model.parameters()
    with pytest.raises(metaswift.Error, match=r"^object: not a live metaswift handle"):
        model._model._free()  # double free


def test_freed_tensor_handle_is_refused(model):
    x = _core.Tensor(np.ones((2, 3), np.float32))
    x._free()
    with pytest.raises(metaswift.Error, match=r"^x: not a live metaswift handle"):
        model._model.call("forward", x=x)
    with pytest.raises(metaswift.Error, match=r"^object: not a live metaswift handle"):
        x._free()
    assert "freed" in repr(x)


def test_no_handles_leak():
    import gc
    gc.collect()
    kinds = ("tensor", "model", "args")
    before = tuple(_core._handle_count(k) for k in kinds)
    for seed in range(20):
        model = MLP([2, 8, 1], seed=seed)
        model.parameters()
        model(np.ones((4, 2)))
        model.set_parameters(model.parameters())
        for bad in (np.ones((4, 3)), "x"):
            try:
                model(bad)
            except metaswift.Error:
                pass
        try:
            model._model.call("parameter", index=0, junk=1)
        except metaswift.Error:
            pass
    del model
    gc.collect()
    assert tuple(_core._handle_count(k) for k in kinds) == before
    assert _core._handle_count("x") == 0


def test_models_too_large_for_memory_are_refused_not_crashed():
    """The engine's allocator traps when malloc fails; the bridge refuses such
    sizes first. Run in a child process so a regression fails this test
    instead of killing the test run."""
    import subprocess
    import sys

    code = (
        "import numpy as np, metaswift\n"
        "try:\n"
        "    metaswift.nn.MLP([300000, 300000])\n"
        "except metaswift.Error as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0, f"the interpreter died with status {done.returncode}"
    assert re.match(r"sizes: needs 343323 MiB, more than the \d+ MiB this process can allocate now", done.stdout)
