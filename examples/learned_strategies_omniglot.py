"""MAML beside MAML++, ALFA and the LSTM meta-learner on Omniglot, each meta-trained for the same time.

Every learner starts from the same Conv4 (64 filters, 5-way head) and
meta-trains on 5-way episodes (1 or 5 shots, 15 queries) of the Vinyals
training classes for --minutes, in meta-batches of --meta-batch, then adapts
to 600 test episodes:

- MAML (Finn et al.): one inner step of 0.4 (three at test, as the paper),
  exact second order, Adam 1e-3.
- MAML++ (Antoniou et al.): five steps of 0.1 with learned per-step,
  per-layer rates, the annealed multi-step loss, per-step batch-norm
  weights, exact second order, Adam 1e-3 cosine-annealed (its defaults;
  epochs of --epoch-steps meta-steps so the annealing fits the budget).
- ALFA (Baik et al.): five steps whose rates and weight decays a network
  generates from the task's state, exact second order, Adam 1e-3.
- The LSTM meta-learner (Ravi & Larochelle): five steps of a coordinate-wise
  LSTM (20 units) whose cell state is the parameters, Adam 1e-3 on one
  episode per meta-step (the paper's); "lstm" is the paper's first order
  (gradient and loss inputs constant), "lstm-exact" the exact meta-gradient,
  "gru" the first order with a GRU first layer in place of the LSTM.

    python examples/learned_strategies_omniglot.py [--minutes 6] [--shots 1] [--only maml,mamlpp,alfa,lstm,lstm-exact,gru]

The papers train for tens of thousands of meta-iterations on a GPU; this is a
comparison at equal time on 2 CPU cores, not a reproduction of their tables.
"""
import argparse
import time

import metaswift as ms
from _data import default_omniglot_root


def learners(ways, epoch_steps, seed):
    """name -> (a factory of the learner, inner steps at test[, its own meta-batch])."""
    conv = lambda: ms.nn.Conv4(outputs=ways, seed=seed)  # noqa: E731
    return {
        "maml": (lambda: ms.MAML(conv(), inner_lr=0.4, inner_steps=1, loss="cross_entropy"), 3),
        "mamlpp": (lambda: ms.MAMLPlusPlus(conv(), inner_lr=0.1, inner_steps=5, iterations_per_epoch=epoch_steps,
                                           msl_epochs=10), 5),
        "alfa": (lambda: ms.ALFA(conv(), inner_lr=0.1, inner_steps=5, loss="cross_entropy"), 5),
        "lstm": (lambda: ms.LSTMMetaLearner(conv(), inner_steps=5), 5, 1),
        "lstm-exact": (lambda: ms.LSTMMetaLearner(conv(), inner_steps=5, first_order=False), 5, 1),
        "gru": (lambda: ms.LSTMMetaLearner(conv(), inner_steps=5, cell="gru"), 5, 1),
    }


def steps_in(budget, make, episodes, meta_batch):
    """How many meta-steps of a fresh learner fit in `budget` seconds (timed on 3)."""
    probe = make()
    start = time.perf_counter()
    probe.fit(episodes, meta_batch_size=meta_batch, steps=3, optimizer=ms.optim.Adam(lr=1e-3), progress=False)
    return max(int(budget / ((time.perf_counter() - start) / 3)), 10)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=default_omniglot_root())
    parser.add_argument("--minutes", type=float, default=6.0, help="meta-training time per learner")
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--meta-batch", type=int, default=8)
    parser.add_argument("--epoch-steps", type=int, default=20, help="MAML++'s epoch, in meta-steps")
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--only", default="maml,mamlpp,alfa")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train = ms.data.Omniglot(args.root, split="vinyals", subset="trainval")
    test = ms.data.Omniglot(args.root, split="vinyals", subset="test")
    episodes = ms.data.Taskset(train.images, train.labels, ways=args.ways, shots=args.shots, queries=args.queries,
                               seed=args.seed)
    test_episodes = ms.data.Taskset(test.images, test.labels, ways=args.ways, shots=args.shots, queries=args.queries,
                                    seed=1000 + args.seed)
    rows = []
    for name, (make, test_steps, *own) in learners(args.ways, args.epoch_steps, args.seed).items():
        if name not in args.only.split(","):
            continue
        meta_batch = own[0] if own else args.meta_batch
        budget = args.minutes * 60
        optimizer = ms.optim.Adam(lr=1e-3)
        if name == "mamlpp":  # its cosine-annealed outer rate spans the steps the budget allows
            optimizer = ms.optim.Adam(lr=ms.optim.CosineDecay(1e-3, steps=steps_in(budget, make, episodes,
                                                                                      meta_batch), final=1e-5))
        learner = make()
        print(learner, flush=True)
        start, done, chunk = time.perf_counter(), 0, 5
        while time.perf_counter() - start < budget:
            # Chunks carry one run on (optimizer state, MAML++'s epochs); each draws its own episodes.
            began = time.perf_counter()
            learner.fit(episodes, meta_batch_size=meta_batch, steps=chunk, seed=done, progress=False,
                        optimizer=optimizer, resume=done > 0)
            done += chunk
            # About 15 s per chunk, so a slow learner does not overrun its budget by much.
            chunk = max(1, min(20, int(15 / ((time.perf_counter() - began) / chunk))))
        took = time.perf_counter() - start
        e = learner.evaluate(test_episodes, tasks=args.episodes, inner_steps=test_steps)
        print(f"{name}: {done} meta-steps in {took / 60:.1f} min; {100 * e.accuracy:.2f} ± {100 * e.accuracy_ci:.2f}%",
              flush=True)
        rows.append((name, done, took, e))
    print(f"\n| {args.ways}-way {args.shots}-shot | meta-steps | minutes | accuracy |")
    print("|---|---|---|---|")
    for name, done, took, e in rows:
        print(f"| {name} | {done} | {took / 60:.1f} | {100 * e.accuracy:.2f} ± {100 * e.accuracy_ci:.2f}% |")


if __name__ == "__main__":
    main()
