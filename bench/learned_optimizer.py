"""Meta-training a learned optimizer (Andrychowicz et al. 2016): metaswift beside
PyTorch running the same computation, in this one process.

One meta-training step is one truncation: 20 optimizee steps on a batch of
10-dimensional quadratics f(θ) = ||Wθ − y||² (W, y standard normal), each step
the optimizer network reading every coordinate's preprocessed gradient
((log|g|/10, sign g) if |g| >= e^-10, else (−1, e^10 g)) through a two-layer
LSTM of 20 units shared by all coordinates and a linear output (x0.1),
θ ← θ + step; the meta-loss is the sum of the 20 losses after each step, its
gradient taken with the paper's first-order rule (the optimizee's gradients
are constants), and Adam (lr 1e-2) updates the network. Every 5 truncations
(an unroll of 100 steps) new problems are drawn.

PyTorch: nn.LSTMCell x2 + nn.Linear, the gradient of each step with
torch.autograd.grad (detached, as the paper), the meta-loss backward and
torch.optim.Adam, eager, default threads. metaswift: ms.optim.Learned's
meta_train, natively. Rates are truncations per second, medians over
alternating rounds; the ratio is the median of per-round ratios.

    python bench/learned_optimizer.py [--rounds 5] [--steps 50] [--meta-batch 1,32]
"""
import argparse
import math
import time

import numpy as np

import metaswift as ms

DIM, HIDDEN, TRUNCATION, UNROLL, SCALE, P = 10, 20, 20, 100, 0.1, 10.0


def metaswift_runner(batch):
    opt = ms.optim.Learned(hidden=HIDDEN, seed=0)
    problems = ms.learned.Quadratic(dim=DIM)
    state = {"first": True}

    def run(steps):
        opt.meta_train(problems, steps=steps, unroll=UNROLL, truncation=TRUNCATION, meta_batch_size=batch,
                       resume=not state["first"])
        state["first"] = False
    return run


def torch_runner(batch):
    import torch
    torch.manual_seed(0)
    cells = torch.nn.ModuleList([torch.nn.LSTMCell(2, HIDDEN), torch.nn.LSTMCell(HIDDEN, HIDDEN)])
    out = torch.nn.Linear(HIDDEN, 1)
    params = list(cells.parameters()) + list(out.parameters())
    adam = torch.optim.Adam(params, lr=1e-2)
    n = batch * DIM

    def preprocess(g):
        big = g.abs() >= math.exp(-P)
        first = torch.where(big, torch.log(g.abs().clamp_min(math.exp(-P))) / P, torch.full_like(g, -1.0))
        second = torch.where(big, torch.sign(g), g * math.exp(P))
        return torch.stack([first, second], dim=1)

    state = {"t": UNROLL}

    def new_problems():
        state["W"] = torch.randn(batch, DIM, DIM)
        state["y"] = torch.randn(batch, DIM)
        state["theta"] = 0.01 * torch.randn(batch, DIM)
        state["h"] = [(torch.zeros(n, HIDDEN), torch.zeros(n, HIDDEN)) for _ in cells]
        state["t"] = 0

    def f(theta):
        r = torch.einsum("bij,bj->bi", state["W"], theta) - state["y"]
        return (r * r).sum()

    def run(steps):
        for _ in range(steps):
            if state["t"] >= UNROLL:
                new_problems()
            theta = state["theta"].detach().requires_grad_()
            h = [(a.detach(), b.detach()) for a, b in state["h"]]
            loss = f(theta)
            meta = 0.0
            for _ in range(TRUNCATION):
                g = torch.autograd.grad(loss, theta, retain_graph=True)[0].detach().reshape(n)
                x = preprocess(g)
                nh = []
                for cell, (hc, cc) in zip(cells, h):
                    hc, cc = cell(x, (hc, cc))
                    nh.append((hc, cc))
                    x = hc
                h = nh
                theta = theta + (out(x) * SCALE).reshape(batch, DIM)
                loss = f(theta)
                meta = meta + loss
            adam.zero_grad()
            meta.backward()
            adam.step()
            state["theta"], state["h"] = theta.detach(), [(a.detach(), b.detach()) for a, b in h]
            state["t"] += TRUNCATION
    return run


def timed(run, steps):
    start = time.perf_counter()
    run(steps)
    return steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50, help="truncations per round")
    parser.add_argument("--meta-batch", default="1,32", help="quadratics per truncation, comma-separated")
    args = parser.parse_args()
    import torch
    print(f"metaswift {ms.__version__}; PyTorch {torch.__version__} ({torch.get_num_threads()} threads); "
          f"{ms.blas_info()}")
    for batch in (int(b) for b in args.meta_batch.split(",")):
        runners = {"metaswift": metaswift_runner(batch), "PyTorch": torch_runner(batch)}
        for run in runners.values():
            run(10)  # warm-up
        rates = {k: [] for k in runners}
        for _ in range(args.rounds):
            for name, run in runners.items():
                rates[name].append(timed(run, args.steps))
        ratio = np.median([a / b for a, b in zip(rates["metaswift"], rates["PyTorch"])])
        print(f"meta-batch {batch}: metaswift {np.median(rates['metaswift']):.1f} truncations/s, PyTorch "
              f"{np.median(rates['PyTorch']):.1f}/s, ratio {ratio:.2f}x")


if __name__ == "__main__":
    main()
