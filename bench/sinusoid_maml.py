"""Meta-iterations per second of MAML on sinusoid regression, metaswift beside its peers.

The workload is the MAML paper's (Finn et al. 2017, §5.1): an MLP 1-40-40-1 with
ReLU, K = 10 support and 10 query points per task, meta-batch 25, one inner SGD
step with alpha = 0.01, an outer Adam step with lr 1e-3. A meta-iteration is the
whole step: sample the meta-batch, adapt every task, take the meta-gradient,
update. After a warm-up, the libraries run in alternating rounds of the same
number of steps, in this one process; each rate is the median over rounds and
the ratio is the median of the per-round ratios, so a machine whose load drifts
(a shared 2-core machine) moves both sides of a ratio together. A second
metaswift row runs the same MLP written from ms.nn layers (Linear, ReLU, ...),
given as a fraction of the preset's rate.

Peers are optional and imported when present: JAX (`pip install "jax[cpu]"`,
the step jitted, tasks vmapped) and PyTorch (`torch.func`, tasks vmapped).

    python bench/sinusoid_maml.py [--steps 1000] [--rounds 5] [--first-order]
"""
import argparse
import time

import numpy as np

import metaswift as ms

META_BATCH, SHOTS, INNER_LR, OUTER_LR = 25, 10, 0.01, 1e-3


def timed(run, steps):
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


def bench_metaswift(steps, first_order, layers=False):
    """A function that runs `steps` meta-iterations (warmed up); with
    `layers`, on the MLP written from ms.nn layers (which the engine
    recognises and batches over tasks as it does the preset)."""
    model = ms.nn.MLP([1, 40, 40, 1], activation="relu", seed=0) if not layers else ms.nn.Sequential(
        ms.nn.Linear(1, 40), ms.nn.ReLU(), ms.nn.Linear(40, 40), ms.nn.ReLU(), ms.nn.Linear(40, 1),
        input_shape=(1,), seed=0)
    learner = ms.MAML(model, inner_lr=INNER_LR, inner_steps=1, first_order=first_order)
    tasks = ms.data.Sinusoid(shots=SHOTS, queries=SHOTS, seed=1)
    opt = ms.optim.Adam(lr=OUTER_LR)

    def run(n):
        learner.fit(tasks, meta_batch_size=META_BATCH, steps=n, optimizer=opt, progress=False)

    run(max(steps // 10, 10))
    return run


def bench_jax(steps, first_order):
    import jax
    import jax.numpy as jnp

    sizes = [1, 40, 40, 1]

    def init(key):
        params = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            key, kw, kb = jax.random.split(key, 3)
            bound = 1 / np.sqrt(fan_in)
            params.append((jax.random.uniform(kw, (fan_in, fan_out), minval=-bound, maxval=bound),
                           jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound)))
        return params

    def forward(params, x):
        for i, (w, b) in enumerate(params):
            x = x @ w + b
            if i < len(params) - 1:
                x = jax.nn.relu(x)
        return x

    def loss(params, x, y):
        return jnp.mean((forward(params, x) - y) ** 2)

    def task_loss(params, xs, ys, xq, yq):
        g = jax.grad(loss)(params, xs, ys)
        if first_order:
            g = jax.lax.stop_gradient(g)
        adapted = jax.tree_util.tree_map(lambda p, d: p - INNER_LR * d, params, g)
        return loss(adapted, xq, yq)

    def meta_loss(params, tasks):
        return jnp.mean(jax.vmap(task_loss, in_axes=(None, 0, 0, 0, 0))(params, *tasks))

    def sample(key):
        ka, kp, ks, kq = jax.random.split(key, 4)
        amp = jax.random.uniform(ka, (META_BATCH, 1, 1), minval=0.1, maxval=5.0)
        phase = jax.random.uniform(kp, (META_BATCH, 1, 1), minval=0.0, maxval=np.pi)
        xs = jax.random.uniform(ks, (META_BATCH, SHOTS, 1), minval=-5.0, maxval=5.0)
        xq = jax.random.uniform(kq, (META_BATCH, SHOTS, 1), minval=-5.0, maxval=5.0)
        return xs, amp * jnp.sin(xs - phase), xq, amp * jnp.sin(xq - phase)

    @jax.jit
    def step(params, m, v, t, key):
        key, sub = jax.random.split(key)
        value, grads = jax.value_and_grad(meta_loss)(params, sample(sub))
        t = t + 1
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        params = jax.tree_util.tree_map(
            lambda p, a, b: p - OUTER_LR * (a / (1 - 0.9 ** t)) / (jnp.sqrt(b / (1 - 0.999 ** t)) + 1e-8), params, m, v)
        return params, m, v, t, key, value

    params = init(jax.random.PRNGKey(0))
    m = jax.tree_util.tree_map(jnp.zeros_like, params)
    v = jax.tree_util.tree_map(jnp.zeros_like, params)
    state = (params, m, v, jnp.zeros(()), jax.random.PRNGKey(1))
    box = [state]

    def run(n):
        s = box[0]
        for _ in range(n):
            s = step(*s)[:5]
        box[0] = jax.block_until_ready(s)

    run(max(steps // 10, 10))
    return run


def bench_torch(steps, first_order):
    import torch
    from torch.func import functional_call, grad, vmap

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 40), torch.nn.ReLU(), torch.nn.Linear(40, 40), torch.nn.ReLU(),
                              torch.nn.Linear(40, 1))
    params = {k: v.detach().requires_grad_() for k, v in net.named_parameters()}
    opt = torch.optim.Adam(params.values(), lr=OUTER_LR)

    def loss(p, x, y):
        return torch.mean((functional_call(net, p, (x,)) - y) ** 2)

    def task_loss(p, xs, ys, xq, yq):
        g = grad(loss)(p, xs, ys)
        if first_order:
            g = {k: d.detach() for k, d in g.items()}
        return loss({k: p[k] - INNER_LR * g[k] for k in p}, xq, yq)

    def one_step():
        amp = torch.empty(META_BATCH, 1, 1).uniform_(0.1, 5.0)
        phase = torch.empty(META_BATCH, 1, 1).uniform_(0, np.pi)
        xs = torch.empty(META_BATCH, SHOTS, 1).uniform_(-5, 5)
        xq = torch.empty(META_BATCH, SHOTS, 1).uniform_(-5, 5)
        meta = vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(params, xs, amp * torch.sin(xs - phase),
                                                           xq, amp * torch.sin(xq - phase)).mean()
        opt.zero_grad()
        meta.backward()
        opt.step()

    def run(n):
        for _ in range(n):
            one_step()

    run(max(steps // 10, 10))
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="meta-iterations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--first-order", action="store_true")
    args = parser.parse_args()
    order = "first" if args.first_order else "second"
    print(f"MAML ({order} order), sinusoid, MLP 1-40-40-1, meta-batch {META_BATCH}, "
          f"{args.rounds} rounds of {args.steps} steps")
    runners = {f"metaswift {ms.__version__}": bench_metaswift(args.steps, args.first_order),
               "metaswift, MLP from layers": bench_metaswift(args.steps, args.first_order, layers=True)}
    for name, make in [("JAX (jit + vmap)", bench_jax), ("PyTorch (torch.func + vmap)", bench_torch)]:
        try:
            runners[name] = make(args.steps, args.first_order)
        except ImportError:
            print(f"  {name}: not installed, skipped")
    rates = {name: [] for name in runners}
    for _ in range(args.rounds):
        for name, run in runners.items():
            rates[name].append(timed(run, args.steps))
    ours = next(iter(rates))
    print(f"  {ours}: {np.median(rates[ours]):8.0f} meta-iterations/s")
    for name in list(rates)[1:]:
        ratio = np.median(np.array(rates[ours]) / np.array(rates[name]))
        if name.startswith("metaswift, "):
            print(f"  {name}: {np.median(rates[name]):8.0f} meta-iterations/s   -> {1 / ratio:.3f} of the preset's")
            continue
        print(f"  {name}: {np.median(rates[name]):8.0f} meta-iterations/s   -> metaswift is {ratio:.2f}x")
    if len(rates) == 2:
        print("  no peer found: install jax[cpu] or torch to compare")


if __name__ == "__main__":
    main()
