"""Fine-tuning speed: transfer protocol (a) per episode, metaswift beside PyTorch.

The protocol is Chen et al.'s (ICLR 2019) Baseline fine-tuning: a frozen
encoder's features, a new linear head (or the cosine head of Baseline++)
trained on the support set with SGD (lr 0.01, momentum 0.9, dampening 0.9,
weight decay 1e-3), 100 epochs of shuffled mini-batches of 4, then the query
logits. Both sides start from features already computed (64 per example,
Conv4's on 28x28 Omniglot; speed does not depend on their values): metaswift
runs `ms.Baseline(...).predict` on an encoder that passes its input through
(a Flatten), so one native call per episode does the whole loop; PyTorch runs
the official code's loop (`torch.optim.SGD`, `nn.CrossEntropyLoss`,
`np.random.permutation`), with its default threads.

Workloads: 5-way and 20-way, 1-shot and 5-shot, 15 queries per class. The
two sides run in alternating rounds of the same episodes, in this one process;
each rate is the median over rounds and each ratio the median of per-round
ratios (this machine is shared; a drift moves both sides of a round).

    python bench/transfer.py [--rounds 5] [--episodes 20]
"""
import argparse
import statistics
import time

import numpy as np

import metaswift as ms

FEATURES = 64
QUERIES = 15
SETTINGS = [(5, 1), (5, 5), (20, 1), (20, 5)]


def episodes(ways, shots, n, seed=0):
    r = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        centres = r.normal(size=(ways, FEATURES)).astype(np.float32)
        ys = np.repeat(np.arange(ways), shots)
        yq = np.repeat(np.arange(ways), QUERIES)
        xs = np.maximum(centres[ys] + r.normal(size=(len(ys), FEATURES)).astype(np.float32), 0)
        xq = np.maximum(centres[yq] + r.normal(size=(len(yq), FEATURES)).astype(np.float32), 0)
        out.append((xs, ys, xq, yq))
    return out


def metaswift_runner(head):
    encoder = ms.nn.Sequential(ms.nn.Flatten(), input_shape=(FEATURES,))
    learner = ms.Baseline(encoder, head=head)

    def run(batch):
        return [learner.predict(xs, ys, xq) for xs, ys, xq, _ in batch]

    return run


def torch_runner(head):
    import torch

    class CosineHead(torch.nn.Module):
        """The official distLinear: weight-normalised rows, L2-normalised features, scale 2."""

        def __init__(self, features, ways):
            super().__init__()
            self.linear = torch.nn.utils.weight_norm(torch.nn.Linear(features, ways, bias=False), dim=0)

        def forward(self, x):
            return 2 * self.linear(x / (x.norm(dim=1, keepdim=True) + 1e-5))

    loss_fn = torch.nn.CrossEntropyLoss()

    def episode(xs, ys, xq):
        zs, zq = torch.from_numpy(xs), torch.from_numpy(xq)
        y = torch.from_numpy(ys)
        ways = int(ys.max()) + 1
        clf = torch.nn.Linear(FEATURES, ways) if head == "linear" else CosineHead(FEATURES, ways)
        opt = torch.optim.SGD(clf.parameters(), lr=0.01, momentum=0.9, dampening=0.9, weight_decay=0.001)
        n = len(ys)
        for _ in range(100):
            order = np.random.permutation(n)
            for i in range(0, n, 4):
                idx = torch.from_numpy(order[i:i + 4])
                opt.zero_grad()
                loss = loss_fn(clf(zs[idx]), y[idx])
                loss.backward()
                opt.step()
        with torch.no_grad():
            return clf(zq).argmax(1).numpy()

    def run(batch):
        return [episode(xs, ys, xq) for xs, ys, xq, _ in batch]

    return run, torch.__version__


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=20, help="episodes per round")
    parser.add_argument("--head", choices=("linear", "cosine"), default="linear")
    args = parser.parse_args()
    try:
        run_torch, version = torch_runner(args.head)
    except ImportError:
        run_torch, version = None, None
        print("PyTorch: not installed, metaswift alone")
    run_ms = metaswift_runner(args.head)
    print(f"Baseline fine-tuning ({args.head} head), 100 epochs of mini-batches of 4 on cached features; "
          f"episodes/s, {args.rounds} rounds of {args.episodes} episodes")
    for ways, shots in SETTINGS:
        batch = episodes(ways, shots, args.episodes)
        run_ms(batch[:2])
        if run_torch:
            run_torch(batch[:2])
        rates, peer, ratios = [], [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            predicted = run_ms(batch)
            a = len(batch) / (time.perf_counter() - start)
            rates.append(a)
            if run_torch:
                start = time.perf_counter()
                theirs = run_torch(batch)
                b = len(batch) / (time.perf_counter() - start)
                peer.append(b)
                ratios.append(a / b)
        accuracy = np.mean([(p == yq).mean() for p, (_, _, _, yq) in zip(predicted, batch)])
        line = f"  {ways:2d}-way {shots}-shot: metaswift {statistics.median(rates):8.1f}/s (query accuracy {accuracy:.3f})"
        if run_torch:
            theirs_acc = np.mean([(p == yq).mean() for p, (_, _, _, yq) in zip(theirs, batch)])
            line += (f"   PyTorch {version} {statistics.median(peer):7.2f}/s (accuracy {theirs_acc:.3f})"
                     f"   -> metaswift is {statistics.median(ratios):.1f}x")
        print(line)


if __name__ == "__main__":
    main()
