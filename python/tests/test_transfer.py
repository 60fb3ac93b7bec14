"""Transfer learning's building blocks from Python: the cosine head, Conv4 with
running batch-norm statistics, supervised pre-training (ms.transfer.Pretrainer)
and a pre-trained encoder with a new head (ms.transfer.with_head), against
NumPy references."""
import numpy as np
import pytest

import metaswift as ms
from metaswift import nn
from test_files import conv2d

rng = np.random.default_rng(17)


def cosine_reference(x, w, g, scale):
    x = x.astype(np.float64)
    w = w.astype(np.float64)
    unit_x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-5)
    unit_w = w / np.linalg.norm(w, axis=0, keepdims=True)
    return scale * (unit_x @ unit_w) * (1 if g is None else g.reshape(1, -1))


def test_cosine_head_is_the_scaled_weight_normalised_cosine():
    head = nn.CosineLinear(6, 4)
    assert head.scale == 2.0 and nn.CosineLinear(6, 201).scale == 10.0
    assert head.parameter_names == ["W", "g"] and head.parameter_shapes == [(6, 4), (4, 1)]
    w, g = head.parameters()
    np.testing.assert_allclose(g[:, 0], np.linalg.norm(w, axis=0), rtol=1e-6)  # weight_norm's initialisation
    head.set_parameters([w, rng.normal(size=(4, 1))])
    x = rng.normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_allclose(head(x), cosine_reference(x, *head.parameters(), 2.0), rtol=1e-5, atol=1e-6)
    plain = nn.CosineLinear(6, 4, scale=7, learned_norm=False)
    np.testing.assert_allclose(plain(x), cosine_reference(x, plain.parameters()[0], None, 7.0), rtol=1e-5, atol=1e-6)
    assert np.abs(plain(x)).max() <= 7 + 1e-5
    state = head.state_dict()
    assert list(state) == ["weight_g", "weight_v"]
    np.testing.assert_array_equal(state["weight_v"], head.parameters()[0].T)
    assert ms.nn.from_description(head.describe()) == head
    with pytest.raises(ms.Error, match="scale"):
        nn.CosineLinear(6, 4, scale=0)
    with pytest.raises(ms.Error, match="learned_norm"):
        nn.CosineLinear(6, 4, learned_norm="yes")


def test_cosine_head_is_torchs_weight_normalised_linear():
    torch = pytest.importorskip("torch")
    head = nn.CosineLinear(6, 4, scale=3)
    head.set_parameters([head.parameters()[0], rng.normal(size=(4, 1))])
    linear = torch.nn.utils.weight_norm(torch.nn.Linear(6, 4, bias=False))
    linear.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in head.state_dict().items()})
    x = rng.normal(size=(5, 6)).astype(np.float32)
    with torch.no_grad():
        t = torch.from_numpy(x)
        expected = 3 * linear(t / (t.norm(dim=1, keepdim=True) + 1e-5)).numpy()
    np.testing.assert_allclose(head(x), expected, rtol=1e-5, atol=1e-5)


def tracked_conv4_reference(params, buffers, x, training, momentum=0.1, eps=1e-5):
    """PyTorch's Conv4 with BatchNorm2d(track_running_stats=True), in NumPy:
    the output and, in training, the updated running statistics."""
    h = x.astype(np.float64)
    new = []
    for b in range(len(params) // 4):
        w, bias, gamma, beta = params[4 * b:4 * b + 4]
        mean, var = buffers[2 * b], buffers[2 * b + 1]
        h = conv2d(h, w.astype(np.float64), bias.astype(np.float64), 1)
        if training:
            m, v = h.mean(axis=(0, 2, 3)), h.var(axis=(0, 2, 3))
            count = h.shape[0] * h.shape[2] * h.shape[3]
            new += [(1 - momentum) * mean + momentum * m, (1 - momentum) * var + momentum * v * count / (count - 1)]
            mean, var = m, v
        h = (h - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + eps)
        h = h * gamma[None, :, None, None] + beta[None, :, None, None]
        h = np.maximum(h, 0)
        n, c, hh, ww = h.shape
        h = h[:, :, :hh // 2 * 2, :ww // 2 * 2].reshape(n, c, hh // 2, 2, ww // 2, 2).max(axis=(3, 5))
    return h.reshape(h.shape[0], -1), new


def test_conv4_with_running_statistics_is_pytorchs_train_and_eval_modes():
    model = nn.Conv4(hidden=8, blocks=2, image_size=12, track_running_stats=True, momentum=0.3, seed=1)
    assert model.buffer_names == ["block1.bn.running_mean", "block1.bn.running_var",
                                  "block2.bn.running_mean", "block2.bn.running_var"]
    assert "track_running_stats=True" in repr(model)
    buffers = [rng.normal(size=8).astype(np.float32) if i % 2 == 0 else rng.uniform(0.5, 2, 8).astype(np.float32)
               for i in range(4)]
    model.set_buffers(buffers)
    params = model.parameters()
    x = rng.normal(size=(5, 1, 12, 12)).astype(np.float32)
    expected, _ = tracked_conv4_reference(params, buffers, x, training=False)
    np.testing.assert_allclose(model(x), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(model.forward(x[:1]), expected[:1], rtol=1e-4, atol=1e-4)  # one image is enough
    expected, updated = tracked_conv4_reference(params, buffers, x, training=True, momentum=0.3)
    np.testing.assert_allclose(model.forward(x, training=True), expected, rtol=1e-4, atol=1e-4)
    for got, want in zip(model.buffers(), updated):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # A Conv4 without tracking has no buffers and keeps its description (and files) as before.
    def describe(m):
        return m._model.call("describe")["description"]

    assert nn.Conv4().buffer_names == [] and "track_running_stats" not in describe(nn.Conv4())
    loaded = ms.nn.from_description(describe(model))
    assert loaded.track_running_stats and loaded.momentum == pytest.approx(0.3)


def separable_images(classes=8, per_class=12, side=12, seed=0):
    r = np.random.default_rng(seed)
    prototypes = r.random((classes, 1, side, side), dtype=np.float32)
    labels = np.repeat(np.arange(classes), per_class)
    images = prototypes[labels] + 0.3 * r.random((len(labels), 1, side, side), dtype=np.float32)
    return images.astype(np.float32), labels


@pytest.mark.parametrize("head", ["linear", "cosine"])
def test_pretraining_lowers_the_loss_and_fits_the_classes(head):
    images, labels = separable_images()
    encoder = nn.Conv4(hidden=8, blocks=2, image_size=12, track_running_stats=True, seed=0)
    before = [p.copy() for p in encoder.parameters()]
    pre = ms.transfer.Pretrainer(encoder, classes=8, head=head, scale=10 if head == "cosine" else None, seed=3)
    assert pre.head.parameter_names == (["W", "b"] if head == "linear" else ["W", "g"])
    if head == "linear":
        assert not pre.head.parameters()[1].any()  # the bias starts at zero, as the official Baseline's
    accuracy_before = pre.accuracy(images, labels)
    history = pre.fit(images, labels, epochs=12, batch_size=8, optimizer=ms.optim.Adam(lr=3e-3), progress=False)
    assert len(history.losses) == 12 * 12  # 96 examples in batches of 8
    per_epoch = history.losses.reshape(12, 12).mean(axis=1)
    assert per_epoch[-1] < 0.3 * per_epoch[0]
    assert pre.accuracy(images, labels) > 0.95 > accuracy_before
    # Trained in place: the encoder object holds the pre-trained encoder, running statistics included.
    assert all(not np.array_equal(a, b) for a, b in zip(before, encoder.parameters()))
    assert not np.array_equal(encoder.buffers()[0], np.zeros(8, np.float32))


def test_pretraining_is_reproducible_bit_for_bit_and_seeds_the_order():
    images, labels = separable_images()

    def run(seed):
        encoder = nn.Conv4(hidden=8, blocks=2, image_size=12, track_running_stats=True, seed=0)
        pre = ms.transfer.Pretrainer(encoder, classes=8, seed=1)
        h = pre.fit(images, labels, epochs=2, batch_size=10, seed=seed, progress=False)
        return h.losses, encoder.parameters() + encoder.buffers() + pre.head.parameters()

    (l1, p1), (l2, p2), (l3, _) = run(0), run(0), run(1)
    np.testing.assert_array_equal(l1, l2)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(l1, l3)
    assert len(l1) == 2 * 10  # 96 = 9 * 10 + 6: the last batch kept


def test_pretraining_any_model_built_from_layers():
    images, labels = separable_images(side=8)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16, track_running_stats=True), nn.ReLU(),
                            nn.Dropout(0.1), input_shape=(1, 8, 8), seed=2)
    pre = ms.transfer.Pretrainer(encoder, classes=8, head="cosine", scale=10)
    h = pre.fit(images, labels, epochs=10, batch_size=16, drop_last=True, progress=False)
    assert len(h.losses) == 10 * 6
    assert h.losses[-6:].mean() < 0.5 * h.losses[:6].mean()
    assert pre.accuracy(images, labels) > 0.9
    # An encoder whose output size is not declared: measured on the first fit's images.
    undeclared = nn.Sequential(nn.Flatten(), nn.Linear(64, 5), seed=0)
    late = ms.transfer.Pretrainer(undeclared, classes=8)
    assert late.head is None
    late.fit(images, labels, epochs=1, progress=False)
    assert late.head.in_features == 5


def test_pretraining_refuses_bad_input_naming_the_argument():
    images, labels = separable_images()
    encoder = nn.Conv4(hidden=8, blocks=2, image_size=12, seed=0)
    with pytest.raises(ms.Error, match="head"):
        ms.transfer.Pretrainer(encoder, classes=8, head="softmax")
    with pytest.raises(ms.Error, match="scale"):
        ms.transfer.Pretrainer(encoder, classes=8, scale=2)
    with pytest.raises(ms.Error, match="classes"):
        ms.transfer.Pretrainer(encoder, classes=0)
    with pytest.raises(ms.Error, match="encoder"):
        ms.transfer.Pretrainer(np.zeros(3), classes=8)
    pre = ms.transfer.Pretrainer(encoder, classes=8)
    with pytest.raises(ms.Error, match="labels"):
        pre.fit(images, labels[:-1], progress=False)
    with pytest.raises(ms.Error, match="labels"):
        pre.fit(images, labels + 1, progress=False)  # class 8 of 8
    with pytest.raises(ms.Error, match="labels"):
        pre.fit(images, -labels, progress=False)
    with pytest.raises(ms.Error, match="images"):
        pre.fit(images[:, :, :10, :10], labels, progress=False)
    with pytest.raises(ms.Error, match="images: expected a batch"):
        pre.fit(np.float32(1), labels, progress=False)
    with pytest.raises(ms.Error, match="images: expected a batch"):
        pre.logits(np.float32(1))
    with pytest.raises(ms.Error, match="batch_size"):
        pre.fit(images, labels, batch_size=0, progress=False)
    with pytest.raises(ms.Error, match="epochs"):
        pre.fit(images, labels, epochs=-1, progress=False)
    with pytest.raises(ms.Error, match="optimizer"):
        pre.fit(images, labels, optimizer="adam", progress=False)
    with pytest.raises(ms.Error, match="learning rate"):
        pre.fit(images, labels, optimizer=ms.optim.SGD(lr=1e38), epochs=3, progress=False)
    assert pre.history.interrupted and np.isfinite(pre.history.losses).all()
    assert all(np.isfinite(p).all() for p in encoder.parameters())


def test_with_head_starts_a_meta_learner_from_the_pretrained_encoder():
    images, labels = separable_images()
    encoder = nn.Conv4(hidden=8, blocks=2, image_size=12, track_running_stats=True, seed=0)
    ms.transfer.Pretrainer(encoder, classes=8).fit(images, labels, epochs=1, progress=False)
    model = ms.transfer.with_head(encoder, outputs=3, seed=5)
    assert isinstance(model, nn.Conv4) and model.outputs == 3 and model.track_running_stats
    for a, b in zip(encoder.parameters(), model.parameters()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(encoder.buffers(), model.buffers()):
        np.testing.assert_array_equal(a, b)
    tasks = ms.data.Taskset(images, labels, ways=3, shots=1, queries=2, seed=0)
    maml = ms.MAML(model, inner_lr=0.1, loss="cross_entropy")
    maml.fit(tasks, meta_batch_size=2, steps=2, progress=False)
    assert not np.array_equal(model.parameters()[0], encoder.parameters()[0])  # the encoder itself is untouched
    layered = nn.Sequential(nn.Flatten(), nn.Linear(144, 16), nn.ReLU(), input_shape=(1, 12, 12), seed=0)
    with_head = ms.transfer.with_head(layered, outputs=4)
    assert with_head.parameter_shapes[-2:] == [(16, 4), (4,)]
    np.testing.assert_array_equal(with_head.parameters()[0], layered.parameters()[0])
    with pytest.raises(ms.Error, match="head"):
        ms.transfer.with_head(nn.Conv4(outputs=5), outputs=3)


def test_a_run_split_into_resumed_fits_is_the_same_run():
    images, labels = separable_images()

    def run(splits):
        encoder = nn.Conv4(hidden=8, blocks=2, image_size=12, track_running_stats=True, seed=0)
        pre = ms.transfer.Pretrainer(encoder, classes=8, seed=1)
        losses = [pre.fit(images, labels, epochs=e, batch_size=10, seed=3, progress=False, resume=i > 0).losses
                  for i, e in enumerate(splits)]
        return np.concatenate(losses), encoder.parameters() + encoder.buffers() + pre.head.parameters(), pre

    (l1, p1, _), (l2, p2, pre) = run([3]), run([1, 2])
    np.testing.assert_array_equal(l1, l2)
    for a, b in zip(p1, p2):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ms.Error, match="same images"):
        pre.fit(images.copy(), labels, resume=True, progress=False)
    with pytest.raises(ms.Error, match="no previous fit"):
        ms.transfer.Pretrainer(nn.Conv4(hidden=8, blocks=2, image_size=12), classes=8).fit(images, labels, resume=True)


PRETRAIN_AND_EVALUATE = """
import sys, numpy as np, metaswift as ms
sys.path.insert(0, {tests!r})
from test_transfer import separable_images
images, labels = separable_images(classes=12, per_class=10)
encoder = ms.nn.Conv4(hidden=8, blocks=2, image_size=12, track_running_stats=True, seed=0)
ms.transfer.Pretrainer(encoder, classes=8).fit(images[labels < 8], labels[labels < 8], epochs=3, progress=False)
ms.save(encoder, {path!r})
tasks = ms.data.Taskset(images, labels, ways=4, shots=1, queries=3, classes=range(8, 12), seed=0)
print(repr(ms.Baseline(encoder, seed=3).evaluate(tasks, tasks=30, seed=1).accuracies.tolist()))
"""


def test_an_encoder_saved_in_one_process_fine_tunes_to_the_same_accuracy_in_another(tmp_path):
    import os
    import subprocess
    import sys

    path = str(tmp_path / "encoder.safetensors")
    script = PRETRAIN_AND_EVALUATE.format(tests=os.path.dirname(__file__), path=path)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    in_training_process = np.array(eval(out.stdout.strip().splitlines()[-1]))
    images, labels = separable_images(classes=12, per_class=10)
    tasks = ms.data.Taskset(images, labels, ways=4, shots=1, queries=3, classes=range(8, 12), seed=0)
    here = ms.Baseline(ms.load(path), seed=3).evaluate(tasks, tasks=30, seed=1).accuracies
    np.testing.assert_array_equal(here, in_training_process)
    assert 0 < here.mean() <= 1
