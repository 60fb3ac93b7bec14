"""Few-shot Omniglot training speed, metaswift beside its peers: ProtoNet episodes
per second and MAML meta-iterations per second (first and second order).

The workloads are the papers' Omniglot settings on 28x28 images and the Conv4
network all sides share (4 blocks of 3x3 convolution with 64 filters and
padding 1, batch norm with batch statistics, ReLU, 2x2 max-pool):

- ProtoNet (Snell et al. 2017): Conv4 encoder, 5-way 5-shot episodes with 15
  queries per class (support and query through the encoder as one batch of
  100), squared Euclidean distance to the prototypes, one Adam step (lr 1e-3)
  per episode.
- MAML (Finn et al. 2017, 5-way Omniglot): Conv4 with a 5-way linear head,
  5-way 1-shot tasks with 15 queries per class, meta-batch 32, one inner SGD
  step with alpha 0.4, one outer Adam step (lr 1e-3) per meta-iteration;
  exact second order, and first order (FOMAML). (The MAML paper's Omniglot
  network has strided convolutions instead of pooling; here every side runs
  the same max-pool Conv4, metaswift's.)

A step is the whole step: sample the episodes from the images, adapt, take the
gradient, update. The images are Omniglot's 4800 meta-training classes when the
release is found ($OMNIGLOT_ROOT, $METASWIFT_OMNIGLOT, or shared/data/omniglot
beside the repository), else random 28x28 images (speed does not depend on
content). After a warm-up (and JAX's compilation), the libraries run in
alternating rounds of the same number of steps, in this one process; each rate
is the median over rounds and each ratio the median of the per-round ratios, so
a machine whose load drifts moves both sides of a ratio together. A second
metaswift row runs the same Conv4 written by the user from ms.nn layers
(Conv2d, BatchNorm2d, ReLU, MaxPool2d, ..., Flatten, Linear), which the engine
recognises and runs on the preset's fused kernels: its rate is given as a
fraction of the preset's.

Peers are optional and imported when present: JAX (`pip install "jax[cpu]"`:
NHWC, the whole step jitted, episodes sampled inside the jit), PyTorch
(`torch.func` for MAML) and learn2learn (`l2l.algorithms.MAML`: clone and adapt
task by task, the library's own way). The peers run the tasks of a MAML
meta-batch in a loop (unrolled inside JAX's jit): vmap over tasks (`--tasks
vmap`) gives every adapted task its own weights and so grouped convolutions,
which a CPU runs 7-14x slower (measured here). metaswift batches tasks its own
way inside one native call.

    python bench/omniglot.py [--rounds 5] [--steps N] [--only protonet,fomaml,maml] [--tasks loop|vmap]
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np

import metaswift as ms

SIDE, DRAWINGS, HIDDEN, BLOCKS, EPS = 28, 20, 64, 4, 1e-5
OUTER_LR = 1e-3
PROTONET = {"ways": 5, "shots": 5, "queries": 15}
MAML = {"ways": 5, "shots": 1, "queries": 15, "meta_batch": 32, "inner_lr": 0.4}
# How the peers batch a MAML meta-batch: "loop" (JAX: a loop unrolled inside the jitted step;
# PyTorch: a Python loop) or "vmap". Once adapted, every task has its own weights, which vmap turns
# into grouped convolutions; on a CPU those run 7-14x slower than a loop of plain ones (measured
# here with 4 tasks, JAX 0.10 and PyTorch 2.15, first and second order), so "loop" is the default.
TASKS = "loop"
# Steps per round: each round of each library takes some seconds on 2 cores.
DEFAULT_STEPS = {"protonet": 100, "fomaml": 5, "maml": 5}
WORKLOADS = {
    "protonet": "ProtoNet, Conv4-64, 5-way 5-shot, 15 queries: episodes/s",
    "fomaml": "MAML first order, Conv4-64, 5-way 1-shot, 15 queries, meta-batch 32: meta-iterations/s",
    "maml": "MAML second order, Conv4-64, 5-way 1-shot, 15 queries, meta-batch 32: meta-iterations/s",
}


# MARK: - Data

def find_omniglot():
    for var in ("OMNIGLOT_ROOT", "METASWIFT_OMNIGLOT"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    here = Path(__file__).resolve().parent
    for base in (here, *here.parents):
        folder = base / "shared" / "data" / "omniglot"
        if all((folder / f"{part}.zip").is_file() or (folder / part).is_dir()
               for part in ("images_background", "images_evaluation")):
            return folder
    return None


def load_images():
    """float32 (classes, 20, 1, 28, 28) and where they came from."""
    root = find_omniglot()
    if root is not None:
        data = ms.data.Omniglot(root, split="vinyals", subset="trainval")
        return data.images.reshape(data.num_classes, DRAWINGS, 1, SIDE, SIDE), f"Omniglot trainval ({root})"
    rng = np.random.default_rng(0)
    return (rng.random((1200, DRAWINGS, 1, SIDE, SIDE), dtype=np.float32),
            "random 28x28 images, 1200 classes (Omniglot not found; set OMNIGLOT_ROOT)")


def timed(run, steps):
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


def warm(run, steps):
    run(max(steps // 10, 2))
    return run


# MARK: - metaswift

def layers_conv4(outputs=None):
    """Conv4 as a user writes it from ms.nn layers (the engine recognises it)."""
    parts = []
    for b in range(BLOCKS):
        parts += [ms.nn.Conv2d(1 if b == 0 else HIDDEN, HIDDEN, 3, padding=1), ms.nn.BatchNorm2d(HIDDEN, eps=EPS),
                  ms.nn.ReLU(), ms.nn.MaxPool2d(2)]
    parts.append(ms.nn.Flatten())
    if outputs is not None:
        parts.append(ms.nn.Linear(HIDDEN * (SIDE >> BLOCKS) ** 2, outputs))
    return ms.nn.Sequential(*parts, input_shape=(1, SIDE, SIDE), seed=0)


def conv4(outputs=None, layers=False):
    if layers:
        return layers_conv4(outputs)
    return ms.nn.Conv4(hidden=HIDDEN, outputs=outputs, image_size=SIDE, seed=0)


def metaswift_runner(workload, images, steps, layers=False):
    labels = np.repeat(np.arange(len(images)), DRAWINGS)
    flat = images.reshape(-1, 1, SIDE, SIDE)
    opt = ms.optim.Adam(lr=OUTER_LR)
    if workload == "protonet":
        tasks = ms.data.Taskset(flat, labels, **PROTONET, seed=1)
        learner, batch = ms.ProtoNet(conv4(layers=layers)), 1
    else:
        tasks = ms.data.Taskset(flat, labels, ways=MAML["ways"], shots=MAML["shots"], queries=MAML["queries"],
                                seed=1)
        model = conv4(MAML["ways"], layers=layers)
        learner = ms.MAML(model, inner_lr=MAML["inner_lr"], inner_steps=1, first_order=workload == "fomaml",
                          loss="cross_entropy")
        batch = MAML["meta_batch"]

    def run(n):
        learner.fit(tasks, meta_batch_size=batch, steps=n, optimizer=opt, progress=False)

    return warm(run, steps)


# MARK: - JAX

def jax_runner(workload, images, steps):
    import jax
    import jax.numpy as jnp

    data = jnp.asarray(images.transpose(0, 1, 3, 4, 2))  # (classes, 20, 28, 28, 1): NHWC
    n_classes = images.shape[0]

    def init(key, outputs):
        params, channels = [], 1
        for _ in range(BLOCKS):
            key, kw = jax.random.split(key)
            bound = np.sqrt(6 / (9 * channels))
            params.append({"w": jax.random.uniform(kw, (3, 3, channels, HIDDEN), minval=-bound, maxval=bound),
                           "b": jnp.zeros(HIDDEN), "gamma": jnp.ones(HIDDEN), "beta": jnp.zeros(HIDDEN)})
            channels = HIDDEN
        if outputs:
            key, kw = jax.random.split(key)
            bound = 1 / np.sqrt(HIDDEN)
            params.append({"w": jax.random.uniform(kw, (HIDDEN, outputs), minval=-bound, maxval=bound),
                           "b": jnp.zeros(outputs)})
        return params

    def maxpool(x):
        """2x2 max-pool, floor: as a reshape and a max, whose gradient XLA runs ~5x faster on a CPU
        than reduce_window's (select_and_scatter)."""
        n, h, w, c = x.shape
        return x[:, :h - h % 2, :w - w % 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))

    def forward(params, x):
        for block in params[:BLOCKS]:
            x = jax.lax.conv_general_dilated(x, block["w"], (1, 1), "SAME",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC")) + block["b"]
            mean = x.mean(axis=(0, 1, 2))
            var = ((x - mean) ** 2).mean(axis=(0, 1, 2))
            x = (x - mean) * jax.lax.rsqrt(var + EPS) * block["gamma"] + block["beta"]
            x = jax.nn.relu(x)
            x = maxpool(x)
        x = x.reshape(x.shape[0], -1)
        if len(params) > BLOCKS:
            x = x @ params[BLOCKS]["w"] + params[BLOCKS]["b"]
        return x

    def cross_entropy(logits, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    def sample(data, key, ways, shots, queries):
        """One episode: (x_support, y_support, x_query, y_query), grouped by class."""
        kc, kd = jax.random.split(key)
        classes = jax.random.choice(kc, n_classes, (ways,), replace=False)
        draws = jax.vmap(lambda k: jax.random.permutation(k, DRAWINGS)[:shots + queries])(jax.random.split(kd, ways))
        x = data[classes[:, None], draws]
        xs = x[:, :shots].reshape(ways * shots, SIDE, SIDE, 1)
        xq = x[:, shots:].reshape(ways * queries, SIDE, SIDE, 1)
        return xs, jnp.repeat(jnp.arange(ways), shots), xq, jnp.repeat(jnp.arange(ways), queries)

    def adam(params, m, v, t, grads):
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        params = jax.tree_util.tree_map(
            lambda p, a, b: p - OUTER_LR * (a / (1 - 0.9 ** t)) / (jnp.sqrt(b / (1 - 0.999 ** t)) + 1e-8),
            params, m, v)
        return params, m, v, t

    if workload == "protonet":
        ways, shots, queries = PROTONET["ways"], PROTONET["shots"], PROTONET["queries"]

        def loss(params, episode):
            xs, _, xq, yq = episode
            z = forward(params, jnp.concatenate([xs, xq]))  # one batch, as metaswift's ProtoNet
            prototypes = z[:ways * shots].reshape(ways, shots, -1).mean(axis=1)
            distances = ((z[ways * shots:, None, :] - prototypes[None]) ** 2).sum(-1)
            return cross_entropy(-distances, yq)

        def batch(data, key):
            return sample(data, key, ways, shots, queries)
        outputs = None
    else:
        ways, shots, queries, alpha = MAML["ways"], MAML["shots"], MAML["queries"], MAML["inner_lr"]
        first_order = workload == "fomaml"

        def task_loss(params, xs, ys, xq, yq):
            g = jax.grad(lambda p: cross_entropy(forward(p, xs), ys))(params)
            if first_order:
                g = jax.lax.stop_gradient(g)
            adapted = jax.tree_util.tree_map(lambda p, d: p - alpha * d, params, g)
            return cross_entropy(forward(adapted, xq), yq)

        def loss(params, tasks):
            if TASKS == "vmap":
                return jnp.mean(jax.vmap(task_loss, in_axes=(None, 0, 0, 0, 0))(params, *tasks))
            # Unrolled in the jitted step: every task's convolutions stay plain ones.
            return sum(task_loss(params, *(t[i] for t in tasks)) for i in range(MAML["meta_batch"])) / MAML["meta_batch"]

        def batch(data, key):
            keys = jax.random.split(key, MAML["meta_batch"])
            return jax.vmap(lambda k: sample(data, k, ways, shots, queries))(keys)
        outputs = ways

    # The images are an argument, not a constant folded into the compiled step.
    @jax.jit
    def step(data, params, m, v, t, key):
        key, sub = jax.random.split(key)
        value, grads = jax.value_and_grad(loss)(params, batch(data, sub))
        params, m, v, t = adam(params, m, v, t, grads)
        return params, m, v, t, key, value

    params = init(jax.random.PRNGKey(0), outputs)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    box = [(params, zeros, zeros, jnp.zeros(()), jax.random.PRNGKey(1))]

    def run(n):
        s = box[0]
        for _ in range(n):
            s = step(data, *s)[:5]
        box[0] = jax.block_until_ready(s)

    return warm(run, steps)


# MARK: - PyTorch and learn2learn

def _torch_model(outputs):
    """Conv4 as torch modules, and the functional forward the peers share."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    layers, channels = [], 1
    for _ in range(BLOCKS):
        layers += [torch.nn.Conv2d(channels, HIDDEN, 3, padding=1),
                   torch.nn.BatchNorm2d(HIDDEN, eps=EPS, track_running_stats=False),
                   torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
        channels = HIDDEN
    layers.append(torch.nn.Flatten())
    if outputs:
        layers.append(torch.nn.Linear(HIDDEN, outputs))
    return torch.nn.Sequential(*layers), F


def _torch_sampler(images, ways, shots, queries):
    import torch

    data = torch.from_numpy(np.ascontiguousarray(images))  # (classes, 20, 1, 28, 28)

    def sample():
        classes = torch.randperm(len(data))[:ways]
        draws = torch.argsort(torch.rand(ways, DRAWINGS), dim=1)[:, :shots + queries]
        x = data[classes[:, None], draws]
        return (x[:, :shots].reshape(ways * shots, 1, SIDE, SIDE), torch.arange(ways).repeat_interleave(shots),
                x[:, shots:].reshape(ways * queries, 1, SIDE, SIDE), torch.arange(ways).repeat_interleave(queries))

    return sample


def torch_runner(workload, images, steps):
    import torch
    from torch.func import functional_call, grad, vmap

    if workload == "protonet":
        ways, shots, queries = PROTONET["ways"], PROTONET["shots"], PROTONET["queries"]
        net, F = _torch_model(None)
        opt = torch.optim.Adam(net.parameters(), lr=OUTER_LR)
        sample = _torch_sampler(images, ways, shots, queries)

        def one_step():
            xs, _, xq, yq = sample()
            z = net(torch.cat([xs, xq]))
            prototypes = z[:ways * shots].reshape(ways, shots, -1).mean(1)
            loss = F.cross_entropy(-((z[ways * shots:, None, :] - prototypes[None]) ** 2).sum(-1), yq)
            opt.zero_grad()
            loss.backward()
            opt.step()
    else:
        ways, shots, queries, alpha = MAML["ways"], MAML["shots"], MAML["queries"], MAML["inner_lr"]
        first_order = workload == "fomaml"
        net, F = _torch_model(ways)
        params = {k: v.detach().requires_grad_() for k, v in net.named_parameters()}
        opt = torch.optim.Adam(params.values(), lr=OUTER_LR)
        sample = _torch_sampler(images, ways, shots, queries)

        def loss(p, x, y):
            return F.cross_entropy(functional_call(net, p, (x,)), y)

        def task_loss(p, xs, ys, xq, yq):
            g = grad(loss)(p, xs, ys)
            if first_order:
                g = {k: d.detach() for k, d in g.items()}
            return loss({k: p[k] - alpha * g[k] for k in p}, xq, yq)

        def one_step():
            if TASKS == "vmap":
                tasks = [torch.stack(t) for t in zip(*(sample() for _ in range(MAML["meta_batch"])))]
                meta = vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(params, *tasks).mean()
            else:
                meta = sum(task_loss(params, *sample()) for _ in range(MAML["meta_batch"])) / MAML["meta_batch"]
            opt.zero_grad()
            meta.backward()
            opt.step()

    def run(n):
        for _ in range(n):
            one_step()

    return warm(run, steps)


def learn2learn_runner(workload, images, steps):
    import learn2learn as l2l
    import torch

    if workload == "protonet":
        return None  # a ProtoNet step is plain PyTorch: the PyTorch peer measures it
    ways, shots, queries = MAML["ways"], MAML["shots"], MAML["queries"]
    net, F = _torch_model(ways)
    maml = l2l.algorithms.MAML(net, lr=MAML["inner_lr"], first_order=workload == "fomaml")
    opt = torch.optim.Adam(maml.parameters(), lr=OUTER_LR)
    sample = _torch_sampler(images, ways, shots, queries)

    def one_step():
        opt.zero_grad()
        for _ in range(MAML["meta_batch"]):
            xs, ys, xq, yq = sample()
            learner = maml.clone()
            learner.adapt(F.cross_entropy(learner(xs), ys))
            (F.cross_entropy(learner(xq), yq) / MAML["meta_batch"]).backward()
        opt.step()

    def run(n):
        for _ in range(n):
            one_step()

    return warm(run, steps)


PEERS = [("JAX", "jax", jax_runner), ("PyTorch", "torch", torch_runner),
         ("learn2learn", "learn2learn", learn2learn_runner)]


# MARK: - Rounds

def compare(workload, images, steps, rounds, peers):
    batching = "" if workload == "protonet" else f"; peers' tasks: {TASKS}"
    print(f"\n{WORKLOADS[workload]}\n  {rounds} rounds of {steps} steps{batching}", flush=True)
    runners = {f"metaswift {ms.__version__}": metaswift_runner(workload, images, steps),
               "metaswift, Conv4 from layers": metaswift_runner(workload, images, steps, layers=True)}
    for name, make in peers:
        run = make(workload, images, steps)
        if run is not None:
            runners[name] = run
    rates = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            rates[name].append(timed(run, steps))
    width = max(map(len, rates))
    ours = next(iter(rates))
    print(f"  {ours:<{width}} {np.median(rates[ours]):9.2f}/s", flush=True)
    for name in list(rates)[1:]:
        ratio = np.median(np.array(rates[ours]) / np.array(rates[name]))
        if name.startswith("metaswift, "):
            print(f"  {name:<{width}} {np.median(rates[name]):9.2f}/s   -> {1 / ratio:.3f} of the preset's rate",
                  flush=True)
            continue
        print(f"  {name:<{width}} {np.median(rates[name]):9.2f}/s   -> metaswift is {ratio:.2f}x", flush=True)


def main():
    global TASKS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help=f"steps per round (default: {DEFAULT_STEPS})")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS),
                        help=f"comma-separated workloads among {', '.join(WORKLOADS)}")
    parser.add_argument("--tasks", choices=("loop", "vmap"), default=TASKS,
                        help="how the peers batch MAML's tasks (default: %(default)s)")
    args = parser.parse_args()
    TASKS = args.tasks
    chosen = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}; expected some of {', '.join(WORKLOADS)}")

    images, origin = load_images()
    print(f"data: {origin}: {images.shape[0]} classes of {DRAWINGS}; {os.cpu_count()} cores")
    peers = []
    for name, module, make in PEERS:
        try:
            version = getattr(__import__(module), "__version__", "")
        except ImportError:
            print(f"  {name}: not installed, skipped")
            continue
        peers.append((f"{name} {version}".strip(), make))
        print(f"  {name} {version}: found")
    for workload in chosen:
        compare(workload, images, args.steps or DEFAULT_STEPS[workload], args.rounds, peers)
    if not peers:
        print("no peer found: install jax[cpu], torch or learn2learn to compare")


if __name__ == "__main__":
    main()
