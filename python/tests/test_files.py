"""Saving and loading models: ms.save / ms.load round trips bit for bit,
files the reference safetensors package reads and writes, PyTorch's names
and layouts (checked against a NumPy forward written in PyTorch's
convention), atomic writes, and damaged or foreign files refused with the
file named."""
import json
import os
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import metaswift as ms
from metaswift import nn

rng = np.random.default_rng(7)


def randomized(model, seed=1):
    g = np.random.default_rng(seed)
    model.set_parameters([g.normal(scale=0.3, size=s).astype(np.float32) for s in model.parameter_shapes])
    return model


def conv_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4, track_running_stats=True), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))),
                         nn.Dropout(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3), input_shape=(1, 8, 8), seed=3)


MODELS = {
    "sequential": (conv_net, (2, 1, 8, 8)),
    "mlp": (lambda: nn.MLP([2, 16, 3], activation="tanh", seed=1), (4, 2)),
    "conv4": (lambda: nn.Conv4(hidden=8, outputs=5, image_size=28, seed=2), (3, 1, 28, 28)),
    "resnet12": (lambda: nn.ResNet12(in_channels=1, width=0.05, outputs=4, seed=4), (2, 1, 16, 16)),
    "lstm": (lambda: nn.Sequential(nn.LSTM(3, 5), nn.LastStep(), nn.Linear(5, 2), seed=5), (2, 4, 3)),
    "gru": (lambda: nn.GRU(3, 4), (2, 4, 3)),
    "layernorm": (lambda: nn.Sequential(nn.Linear(3, 6), nn.LayerNorm(6), nn.GELU(), nn.Linear(6, 1)), (5, 3)),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_saved_model_loads_as_the_same_model_bit_for_bit(name, tmp_path):
    make, shape = MODELS[name]
    model = randomized(make())
    x = rng.normal(size=shape).astype(np.float32)
    if model.buffer_names:
        model.forward(x, training=True)          # running statistics that are not the initial ones
    path = tmp_path / f"{name}.safetensors"
    assert ms.save(model, path) == path
    back = ms.load(path)
    assert type(back) is type(model)
    assert back.parameter_names == model.parameter_names and back.buffer_names == model.buffer_names
    assert json.loads(back._model.call("describe")["description"]) == json.loads(model._model.call("describe")["description"])
    for a, b in zip(back.parameters() + back.buffers(), model.parameters() + model.buffers()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back(x), model(x))
    if isinstance(model, nn.Layer):
        assert back == model
    # Writing the loaded model again gives the same bytes.
    again = tmp_path / "again.safetensors"
    ms.save(back, again)
    assert again.read_bytes() == path.read_bytes()


def test_files_are_pytorch_state_dicts_the_reference_package_reads(tmp_path):
    model = randomized(conv_net())
    model.forward(rng.normal(size=(4, 1, 8, 8)).astype(np.float32), training=True)
    path = tmp_path / "net.safetensors"
    ms.save(model, path)
    tensors = load_file(str(path))
    p = model.named_parameters()
    assert sorted(tensors) == sorted(["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked", "4.body.0.weight", "4.body.0.bias", "4.body.1.weight",
                                      "4.body.1.bias", "7.weight", "7.bias"])
    np.testing.assert_array_equal(tensors["0.weight"], p["0.W"])            # (O, I, kH, kW) as PyTorch's
    np.testing.assert_array_equal(tensors["7.weight"], p["7.W"].T)          # Linear: (out, in)
    np.testing.assert_array_equal(tensors["1.weight"], p["1.gamma"])
    np.testing.assert_array_equal(tensors["1.running_var"], model.named_buffers()["1.running_var"])
    assert tensors["1.num_batches_tracked"].dtype == np.int64
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "metaswift" and meta["format_version"] == "1" and meta["kind"] == "model"
    assert json.loads(meta["model"]) == json.loads(model.description())
    assert json.loads(meta["input_shape"]) == [1, 8, 8]


def test_a_file_the_reference_package_writes_loads(tmp_path):
    model = randomized(conv_net())
    path = tmp_path / "net.safetensors"
    ms.save(model, path)
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    tensors["7.weight"] = np.full_like(tensors["7.weight"], 0.25)
    tensors["1.running_mean"] = np.arange(4, dtype=np.float32)
    edited = tmp_path / "edited.safetensors"
    save_file(tensors, str(edited), metadata=meta)
    back = ms.load(edited)
    np.testing.assert_array_equal(back.named_parameters()["7.W"], np.full((64, 3), 0.25, np.float32))
    np.testing.assert_array_equal(back.named_buffers()["1.running_mean"], np.arange(4))


def conv2d(x, w, b, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((n, o, h + 2 * padding - kh + 1, wd + 2 * padding - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", xp[:, :, i:i + kh, j:j + kw], w)
    return out + b[None, :, None, None]


def torch_style_conv4(state, x, blocks=4):
    """PyTorch's nn.Sequential(Conv2d, BatchNorm2d, ReLU, MaxPool2d) x4, Flatten, Linear
    computed in NumPy from a state_dict (batch statistics, as in train mode)."""
    h = x.astype(np.float64)
    for b in range(blocks):
        k = 4 * b
        h = conv2d(h, state[f"{k}.weight"], state[f"{k}.bias"], 1)
        mean, var = h.mean(axis=(0, 2, 3), keepdims=True), h.var(axis=(0, 2, 3), keepdims=True)
        h = (h - mean) / np.sqrt(var + 1e-5) * state[f"{k + 1}.weight"][None, :, None, None] \
            + state[f"{k + 1}.bias"][None, :, None, None]
        h = np.maximum(h, 0)
        n, c, hh, ww = h.shape
        h = h[:, :, :hh // 2 * 2, :ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
    h = h.reshape(h.shape[0], -1)
    return h @ state[f"{4 * blocks + 1}.weight"].T + state[f"{4 * blocks + 1}.bias"]


def user_conv4():
    layers = []
    for b in range(4):
        layers += [nn.Conv2d(1 if b == 0 else 8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(8, 5), input_shape=(1, 28, 28), seed=6)


def test_a_saved_conv4_computes_the_same_as_the_pytorch_module_it_loads_into(tmp_path):
    model = randomized(user_conv4())
    path = tmp_path / "conv4.safetensors"
    ms.save(model, path)
    state = {k: v.astype(np.float64) for k, v in load_file(str(path)).items() if not k.endswith("num_batches_tracked")}
    x = rng.normal(size=(6, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(model(x), torch_style_conv4(state, x), rtol=1e-4, atol=1e-4)


def test_a_saved_conv4_loads_into_torch_and_agrees():
    """The same check against torch itself, where it is installed (an extra:
    the NumPy reference above is the proof)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file as torch_load
    import tempfile

    model = randomized(user_conv4())
    layers = []
    for b in range(4):
        layers += [torch.nn.Conv2d(1 if b == 0 else 8, 8, 3, padding=1), torch.nn.BatchNorm2d(8, track_running_stats=False),
                   torch.nn.ReLU(),
                   torch.nn.MaxPool2d(2)]
    net = torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(8, 5)).train()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "conv4.safetensors")
        ms.save(model, path)
        net.load_state_dict(torch_load(path), strict=True)
    x = rng.normal(size=(6, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(model(x), net(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=1e-4)


def test_saving_over_a_file_is_atomic(tmp_path):
    model = randomized(nn.Sequential(nn.Linear(2, 3), seed=1))
    path = tmp_path / "m.safetensors"
    ms.save(model, path)
    old = path.read_bytes()
    with pytest.raises(ms.Error, match="missing"):
        ms.save(model, tmp_path / "missing" / "m.safetensors")
    assert path.read_bytes() == old and sorted(os.listdir(tmp_path)) == ["m.safetensors"]


def valid_file(tmp_path):
    path = tmp_path / "good.safetensors"
    ms.save(randomized(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3, track_running_stats=True), seed=1)), path)
    return path


def header_of(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def with_header(header, body):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


def rewrite(data, change):
    header, body = header_of(data)
    change(header)
    return with_header(header, body)


def set_meta(key, value):
    def change(h):
        if value is None:
            h["__metadata__"].pop(key)
        else:
            h["__metadata__"][key] = value
    return change


def set_entry(name, field, value):
    def change(h):
        h[name][field] = value
    return change


BAD = {
    "truncated": (lambda d: d[:len(d) - 5], "file"),
    "shorter than 8 bytes": (lambda d: d[:5], "8"),
    "header length past the end": (lambda d: struct.pack("<Q", len(d)) + d[8:], "header"),
    "huge header": (lambda d: struct.pack("<Q", 2**62) + d[8:], "header"),
    "header not JSON": (lambda d: struct.pack("<Q", 6) + b"{nope}" + d[14:], "JSON"),
    "offsets out of range": (lambda d: rewrite(d, set_entry("0.bias", "data_offsets", [0, 10**6])), "offset"),
    "offsets overlapping": (lambda d: rewrite(d, set_entry("0.bias", "data_offsets", [0, 12])), "overlap|hole"),
    "F64 where F32 is needed": (lambda d: rewrite(d, set_entry("0.bias", "dtype", "F64")), "F64|size|byte"),
    "shape that does not match the model": (lambda d: rewrite(d, set_entry("0.bias", "shape", [1, 3])), r"0\.bias"),
    "missing kind": (lambda d: rewrite(d, set_meta("kind", None)), "kind"),
    "unknown kind": (lambda d: rewrite(d, set_meta("kind", "teapot")), "teapot"),
    "newer version": (lambda d: rewrite(d, set_meta("format_version", "99")), "version 99, newer"),
    "another format": (lambda d: rewrite(d, set_meta("format", "pt")), "format"),
    "no metadata": (lambda d: rewrite(d, lambda h: h.pop("__metadata__")), "format"),
    "description not JSON": (lambda d: rewrite(d, set_meta("model", "{")), "model"),
    "unknown layer": (lambda d: rewrite(d, set_meta("model", '{"type": "Teapot"}')), "Teapot"),
    "missing tensor": (lambda d: resaved(d, lambda t: t.pop("1.running_var")), "running_var"),
    "extra tensor": (lambda d: resaved(d, lambda t: t.update({"head.weight": np.ones(2, np.float32)})), "head.weight"),
}


def resaved(data, change):
    """The file rewritten by the reference package, with its tensors changed."""
    from safetensors.numpy import load, save

    header, _ = header_of(data)
    tensors = load(data)
    change(tensors)
    return save(tensors, metadata=header["__metadata__"])


@pytest.mark.parametrize("case", sorted(BAD))
def test_damaged_files_are_refused_naming_the_file(case, tmp_path):
    damage, what = BAD[case]
    good = valid_file(tmp_path)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(damage(good.read_bytes()))
    with pytest.raises(ms.Error, match=what) as info:
        ms.load(bad)
    assert str(bad) in str(info.value)


def test_missing_files_and_bad_paths_are_named(tmp_path):
    with pytest.raises(ms.Error, match="nothing.safetensors"):
        ms.load(tmp_path / "nothing.safetensors")
    with pytest.raises(ms.Error, match=str(tmp_path)):
        ms.load(tmp_path)
    with pytest.raises(ms.Error, match="path: expected a file path"):
        ms.load(3.5)
    with pytest.raises(ms.Error, match="obj: cannot save a dict"):
        ms.save({}, tmp_path / "x.safetensors")


def test_state_dicts_move_weights_to_and_from_pytorch_layouts(tmp_path):
    model = randomized(conv_net())
    model.forward(rng.normal(size=(4, 1, 8, 8)).astype(np.float32), training=True)
    state = model.state_dict()
    p = model.named_parameters()
    np.testing.assert_array_equal(state["7.weight"], p["7.W"].T)
    assert state["1.num_batches_tracked"].dtype == np.int64
    # A plain safetensors file of those weights (no metaswift metadata, as PyTorch would write it)
    # loads into a fresh model of the same architecture, which then computes the same.
    path = tmp_path / "weights.safetensors"
    save_file({k: np.ascontiguousarray(v) for k, v in state.items()}, str(path))
    with pytest.raises(ms.Error, match="no \"format\""):
        ms.load(path)
    fresh = conv_net()
    fresh.load_state_dict(load_file(str(path)))
    x = rng.normal(size=(3, 1, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(fresh(x), model(x))
    for a, b in zip(fresh.buffers(), model.buffers()):
        np.testing.assert_array_equal(a, b)


def test_load_state_dict_is_strict_and_all_or_nothing():
    model = randomized(nn.Sequential(nn.Linear(3, 2), nn.LSTM(2, 4), seed=1))
    state = {k: np.array(v) for k, v in model.state_dict().items()}
    assert sorted(state) == ["0.bias", "0.weight", "1.bias_hh_l0", "1.bias_ih_l0", "1.weight_hh_l0", "1.weight_ih_l0"]
    before = [np.array(v) for v in model.parameters()]
    for change, match in [
        (lambda s: s.pop("0.bias"), r"missing entry \"0.bias\""),
        (lambda s: s.update({"2.weight": np.ones(2, np.float32)}), r"unexpected entry \"2.weight\""),
        (lambda s: s.update({"0.weight": np.ones((3, 2), np.float32)}), r"0.weight: expected shape \[2, 3\]"),
        (lambda s: s.update({"0.weight": np.full((2, 3), np.nan, np.float32)}), "finite|NaN"),
        (lambda s: s.update({"0.weight": "x"}), r"state_dict\['0.weight'\]"),
    ]:
        bad = dict(state)
        change(bad)
        with pytest.raises(ms.Error, match=match):
            model.load_state_dict(bad)
        for a, b in zip(model.parameters(), before):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ms.Error, match="state_dict: expected a mapping"):
        model.load_state_dict([1, 2])
    # PyTorch's two LSTM biases add up to the engine's one.
    state["1.bias_hh_l0"] = np.full(16, 0.5, np.float32)
    model.load_state_dict(state)
    np.testing.assert_allclose(model.named_parameters()["1.b"], state["1.bias_ih_l0"] + 0.5, rtol=1e-6)


def sinusoid_tasks(n, seed):
    data = ms.data.Sinusoid(shots=5, queries=5, seed=seed)
    return [data.sample() for _ in range(n)]


LEARNERS = {
    "MAML": lambda: ms.MAML(nn.MLP([1, 16, 1], seed=1), inner_lr=0.03, inner_steps=2, first_order=True),
    "MetaSGD": lambda: ms.MetaSGD(nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1), seed=2), inner_lr=0.02),
    "ANIL": lambda: ms.ANIL(nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1), seed=3), inner_lr=0.1,
                           inner_steps=3),
    "Reptile": lambda: ms.Reptile(nn.MLP([1, 16, 1], seed=4), inner_lr=0.01, inner_steps=4, epsilon=0.25),
    "ProtoNet": lambda: ms.ProtoNet(nn.Sequential(nn.Linear(1, 8), nn.ReLU(), seed=5), distance="cosine"),
}


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_a_saved_learner_loads_with_its_settings_model_and_own_parameters(name, tmp_path):
    learner = LEARNERS[name]()
    if name == "ProtoNet":
        learner.fit(ms.data.Taskset(rng.normal(size=(40, 1)).astype(np.float32), np.repeat(np.arange(8), 5),
                                    ways=2, shots=2, queries=2), steps=3, progress=False)
    else:
        learner.fit(ms.data.Sinusoid(shots=5, queries=5), steps=3, meta_batch_size=2, progress=False)
    path = tmp_path / "learner.safetensors"
    ms.save(learner, path)
    back = ms.load(path)
    assert type(back) is type(learner) and back._hyper() == learner._hyper()
    assert back.model._model.call("describe") == learner.model._model.call("describe")
    assert getattr(back, "distance", None) == getattr(learner, "distance", None)
    assert back.parameter_names == learner.parameter_names
    for a, b in zip(back.parameters(), learner.parameters()):
        np.testing.assert_array_equal(a, b)
    if name == "ProtoNet":
        xs, ys = rng.normal(size=(4, 1)).astype(np.float32), np.array([0, 0, 1, 1])
        xq = rng.normal(size=(3, 1)).astype(np.float32)
        np.testing.assert_array_equal(back.predict(xs, ys, xq), learner.predict(xs, ys, xq))
    else:
        tasks = sinusoid_tasks(2, 1)
        a, b = back.meta_loss_and_grad(tasks), learner.meta_loss_and_grad(tasks)
        assert a[0] == b[0] and all(np.array_equal(x, y) for x, y in zip(a[1], b[1]))
    # The rebuilt learner trains on as the original does.
    data = ms.data.Sinusoid(shots=5, queries=5)
    if name != "ProtoNet":
        h1 = learner.fit(data, steps=2, meta_batch_size=2, seed=9, progress=False)
        h2 = back.fit(data, steps=2, meta_batch_size=2, seed=9, progress=False)
        np.testing.assert_array_equal(h1.losses, h2.losses)


OPTIMIZERS = {
    "sgd": lambda: ms.optim.SGD(lr=0.1, momentum=0.9, nesterov=True),
    "adam-cosine": lambda: ms.optim.Adam(lr=ms.optim.CosineDecay(0.01, steps=50, final=0.001, warmup=5), betas=(0.8, 0.99)),
    "adamw-exponential": lambda: ms.optim.AdamW(lr=ms.optim.ExponentialDecay(0.1, rate=0.5, every=3, staircase=True),
                                                weight_decay=0.05),
    "adagrad": lambda: ms.optim.Adagrad(lr=0.02, initial_accumulator_value=0.1),
    "rmsprop-piecewise": lambda: ms.optim.RMSprop(lr=ms.optim.PiecewiseConstant(0.5, [2, 4], [0.25, 0.125]), alpha=0.9),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_saved_optimizer_loads_with_its_rule_and_schedule(name, tmp_path):
    opt = OPTIMIZERS[name]()
    path = tmp_path / "opt.safetensors"
    ms.save(opt, path)
    back = ms.load(path)
    assert type(back) is type(opt) and repr(back) == repr(opt)
    np.testing.assert_array_equal(back.learning_rates(60), opt.learning_rates(60))
    # The same rule: one fit with each from the same start gives the same bits.
    runs = []
    for o in (opt, back):
        maml = ms.MAML(nn.MLP([1, 8, 1], seed=1), inner_lr=0.01)
        runs.append(maml.fit(ms.data.Sinusoid(shots=5, queries=5), steps=4, meta_batch_size=2, optimizer=o,
                             progress=False).losses)
    np.testing.assert_array_equal(*runs)


def test_damaged_learner_files_are_refused_naming_the_file(tmp_path):
    learner = LEARNERS["MetaSGD"]()
    path = tmp_path / "l.safetensors"
    ms.save(learner, path)
    data = path.read_bytes()
    bad = tmp_path / "bad.safetensors"
    for change, match in [
        (lambda d: resaved(d, lambda t: t.pop(next(k for k in t if k.startswith("learner.")))), "learner\\."),
        (lambda d: rewrite(d, set_meta("learner", '{"kind": "learner.MAML"}')), "learner"),
        (lambda d: rewrite(d, set_meta("learner", '{"kind": "learner.Teapot", "arguments": {}}')), "Teapot"),
        (lambda d: rewrite(d, set_meta("learner", '{"kind": "learner.MAML", "arguments": {"inner_lr": {"float": -1}}}')),
         "inner_lr"),
        (lambda d: rewrite(d, set_meta("kind", "optimizer.Adam")), "optimizer"),
    ]:
        bad.write_bytes(change(data))
        with pytest.raises(ms.Error, match=match) as info:
            ms.load(bad)
        assert str(bad) in str(info.value)
