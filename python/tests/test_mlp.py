"""metaswift.nn.MLP against a NumPy reference, its parameters, and its input
conversion."""
import numpy as np
import pytest

import metaswift
from metaswift.nn import MLP

ACTIVATIONS = {
    "relu": lambda h: np.maximum(h, 0),
    "tanh": np.tanh,
    "sigmoid": lambda h: 1 / (1 + np.exp(-h)),
    "identity": lambda h: h,
}


def reference(params, x, activation):
    """x @ W + b layer by layer in float64, the activation between layers."""
    h = np.asarray(x, dtype=np.float64)
    for k in range(0, len(params), 2):
        h = h @ params[k].astype(np.float64) + params[k + 1].astype(np.float64)
        if k + 2 < len(params):
            h = ACTIVATIONS[activation](h)
    return h


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("sizes", [[1, 40, 40, 1], [3, 5, 2], [4, 1]])
def test_forward_matches_numpy(sizes, activation):
    model = MLP(sizes, activation=activation, seed=3)
    x = np.random.default_rng(0).uniform(-5, 5, size=(17, sizes[0])).astype(np.float32)
    y = model(x)
    assert y.shape == (17, sizes[-1]) and y.dtype == np.float32
    np.testing.assert_allclose(y, reference(model.parameters(), x, activation), rtol=1e-5, atol=1e-5)


def test_parameters_are_named_and_shaped_like_the_paper():
    model = MLP([1, 40, 40, 1])
    assert model.parameter_names == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert model.parameter_shapes == [(1, 40), (40,), (40, 40), (40,), (40, 1), (1,)]
    params = model.parameters()
    assert [p.shape for p in params] == model.parameter_shapes
    assert all(p.dtype == np.float32 for p in params)
    assert model.num_parameters == 1761
    assert list(model.named_parameters()) == model.parameter_names
    assert repr(model) == "MLP(sizes=[1, 40, 40, 1], activation='relu', seed=0, parameters=1761)"


def test_keyword_defaults():
    a, b = MLP([2, 3]), MLP(sizes=[2, 3], activation="relu", seed=0)
    assert a.activation == "relu" and a.seed == 0
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)


def test_same_seed_same_parameters_other_seed_other_parameters():
    a, b, c = (MLP([1, 40, 40, 1], seed=s) for s in (5, 5, 6))
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a.parameters()[0], c.parameters()[0])
    assert np.all(np.isfinite(a.parameters()[0])) and np.std(a.parameters()[0]) > 0
    assert MLP([2, 2], seed=2**64 - 1).parameters()[0].shape == (2, 2)


def test_parameters_round_trip_and_change_the_function():
    model = MLP([3, 8, 2], activation="tanh", seed=1)
    rng = np.random.default_rng(1)
    new = [rng.normal(size=s).astype(np.float32) for s in model.parameter_shapes]
    old = model.parameters()
    old_copies = [np.array(p) for p in old]
    model.set_parameters(new)
    for p, q in zip(model.parameters(), new):
        np.testing.assert_array_equal(p, q)
    for p, q in zip(old, old_copies):  # arrays taken before keep their values
        np.testing.assert_array_equal(p, q)
    x = rng.normal(size=(5, 3))
    np.testing.assert_allclose(model(x), reference(new, x, "tanh"), rtol=1e-5, atol=1e-5)
    # any numeric input converts: float64 lists, ints
    model.set_parameters([p.astype(np.float64).tolist() for p in new])
    np.testing.assert_array_equal(model.parameters()[0], new[0])


def test_set_parameters_is_all_or_nothing():
    model = MLP([2, 3, 1], seed=0)
    before = [np.array(p) for p in model.parameters()]
    values = [np.ones(s, np.float32) for s in model.parameter_shapes]
    values[-1] = np.array([np.nan], np.float32)
    with pytest.raises(metaswift.Error, match=r"parameter b2: element 0 is nan"):
        model.set_parameters(values)
    for p, q in zip(model.parameters(), before):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize("convert", [
    lambda x: x.astype(np.float64),
    lambda x: x.tolist(),
    lambda x: np.asfortranarray(x),
    lambda x: np.repeat(x, 2, axis=0)[::2],                   # non-contiguous view
    lambda x: np.round(x * 0).astype(np.int64) + 2,            # integers (compared below)
], ids=["float64", "list", "fortran", "strided", "int64"])
def test_other_dtypes_and_layouts_give_the_float32_result(convert):
    model = MLP([3, 16, 2], seed=4)
    x = np.random.default_rng(2).normal(size=(6, 3)).astype(np.float32)
    other = convert(x)
    expected = model(np.ascontiguousarray(np.asarray(other), dtype=np.float32))
    np.testing.assert_array_equal(model(other), expected)
    if not np.issubdtype(np.asarray(other).dtype, np.integer):
        np.testing.assert_array_equal(model(other), model(x))


def test_output_survives_its_model():
    model = MLP([2, 4, 3], seed=0)
    x = np.ones((2, 2))
    y = model(x)
    expected = np.array(y)
    del model
    import gc
    gc.collect()
    np.testing.assert_array_equal(y, expected)


def test_empty_batch():
    model = MLP([2, 4, 3], seed=0)
    assert model(np.zeros((0, 2))).shape == (0, 3)


def test_concurrent_forward_and_set_parameters():
    """The GIL is released around forward and set_parameter; threads using
    one model at once neither crash nor see a torn tensor."""
    import threading

    model = MLP([4, 64, 64, 4], seed=0)
    x = np.random.default_rng(3).normal(size=(256, 4)).astype(np.float32)
    a = model.parameters()
    b = [np.full(s, 0.01, np.float32) for s in model.parameter_shapes]
    errors = []

    def forward_many():
        for _ in range(50):
            y = model(x)  # parameters may mix a and b across layers, never within one
            if y.shape != (256, 4) or not np.all(np.isfinite(y)):
                errors.append(y)

    def flip():
        for i in range(50):
            model.set_parameters(b if i % 2 else a)

    threads = [threading.Thread(target=forward_many) for _ in range(3)] + [threading.Thread(target=flip)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
