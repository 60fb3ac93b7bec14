"""Prototypical Networks on Omniglot, trained within a time budget on this machine.

Snell, Swersky & Zemel (NeurIPS 2017): a Conv4 encoder (four blocks of 3x3 conv
with 64 filters, batch norm, ReLU, 2x2 max-pool) embeds images; a class's
prototype is the mean embedding of its support examples; queries are classified
by the negative squared Euclidean distance to each prototype.

Data: the Vinyals split of Omniglot (Lake et al. 2015): 1200 characters for
meta-training and 423 for meta-testing, each rotated by 0/90/180/270 degrees as
new classes, images 28x28. Training follows the paper: 60-way episodes with 5
support and 5 query images per class, Adam 1e-3 halved every 2000 episodes; here
it stops at the time budget. The run is checkpointed every 250 episodes to
--checkpoint, and --resume continues it, in any process, with the same bits as
a run that was never stopped. Evaluation: 600 episodes per setting on the
meta-test classes, mean accuracy with its 95% interval (1.96·std/√N).

    python examples/omniglot_protonet.py [--root ../shared/data/omniglot] [--minutes 25]
    python examples/omniglot_protonet.py --resume --minutes 10    # carries on a stopped or killed run
"""
import argparse
import time

import metaswift as ms
from _data import default_omniglot_root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=default_omniglot_root())
    parser.add_argument("--minutes", type=float, default=25.0, help="training time budget")
    parser.add_argument("--ways", type=int, default=60)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=600, help="test episodes per setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default="omniglot_protonet.safetensors", help="where the run is saved")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    args = parser.parse_args()

    train = ms.data.Omniglot(args.root, split="vinyals", subset="trainval")
    test = ms.data.Omniglot(args.root, split="vinyals", subset="test")
    print(train)
    print(test)
    proto = ms.ProtoNet(ms.nn.Conv4(seed=args.seed))
    print(proto)
    episodes = ms.data.Taskset(train.images, train.labels, ways=args.ways, shots=args.shots,
                               queries=args.queries, seed=args.seed)

    start = time.perf_counter()
    # Adam 1e-3, halved every 2000 episodes (Snell et al. 2017), one optimizer state for the whole run.
    halvings = range(1, 21)
    optimizer = ms.optim.Adam(lr=ms.optim.PiecewiseConstant(1e-3, boundaries=[2000 * k for k in halvings],
                                                             values=[1e-3 / 2 ** k for k in halvings]))
    # One run, advanced 250 episodes at a time to watch the clock: each call continues the checkpoint
    # the last one wrote.
    chunk = 250
    first = done = ms.load(args.checkpoint).steps if args.resume else 0
    while time.perf_counter() - start < args.minutes * 60:
        history = proto.fit(episodes, steps=done + chunk, optimizer=optimizer, seed=args.seed, progress=False,
                            checkpoint=args.checkpoint, checkpoint_every=chunk,
                            resume_from=args.checkpoint if done > 0 else None)
        print(f"episode {done + chunk}: mean loss {history.losses[done:].mean():.4f}, "
              f"lr {optimizer.learning_rates(done + 1)[-1]:g}, {time.perf_counter() - start:.0f} s", flush=True)
        done += chunk
    minutes = (time.perf_counter() - start) / 60
    print(f"trained {done - first} episodes of {args.ways}-way {args.shots}-shot in {minutes:.1f} minutes "
          f"(the run is at episode {done}, saved in {args.checkpoint})")

    print(f"meta-test accuracy over {args.episodes} episodes (mean ± 95% CI):")
    for ways, shots in [(5, 1), (5, 5), (20, 1), (20, 5)]:
        tasks = ms.data.Taskset(test.images, test.labels, ways=ways, shots=shots, queries=15, seed=1)
        result = proto.evaluate(tasks, tasks=args.episodes)
        print(f"  {ways}-way {shots}-shot: {100 * result.accuracy:.2f}% ± {100 * result.accuracy_ci:.2f}%"
              f"  (macro-F1 {100 * result.macro_f1:.2f}%)", flush=True)


if __name__ == "__main__":
    main()
