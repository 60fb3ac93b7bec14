"""First-order MAML (or second order, ANIL, Meta-SGD) on Omniglot within a time budget.

Finn, Abbeel & Levine (ICML 2017), §5.2: a Conv4 network with a 5-way linear
head is adapted to each 5-way 1-shot episode by one gradient step with step size
0.4 and evaluated after 3 steps; first-order MAML (FOMAML) ignores the
second-order term of the meta-gradient. The paper trains 60,000 meta-iterations
of meta-batch 32 at Adam's lr 1e-3; here a smaller meta-batch (more
meta-iterations in the same time) and an outer rate that decays along a
cosine from --lr to --final-lr over --steps meta-iterations. Training is one
run, checkpointed every 100 meta-iterations to --checkpoint (the
meta-parameters, Adam's moments, the schedule's position, the random stream);
it stops early if --minutes runs out, and --resume continues it, in any
process, with the same bits as a run that was never stopped.
Data: the Vinyals split (1200 training characters, 423 test, rotations as
new classes), 28x28. Evaluation: 600 test episodes, mean accuracy with its
95% interval.

    python examples/omniglot_maml.py [--root ...] [--steps 7500] [--meta-batch 8] [--lr 3e-3] [--second-order]
    python examples/omniglot_maml.py --resume        # carries on a stopped or killed run

On 2 cores the defaults train in about 25 minutes; exact second order is slower
per meta-iteration, so `--second-order --steps 6000` fits the same budget.
"""
import argparse
import time

import metaswift as ms
from _data import default_omniglot_root


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=default_omniglot_root())
    parser.add_argument("--steps", type=int, default=7500, help="meta-iterations (the schedule's length)")
    parser.add_argument("--minutes", type=float, default=28.0, help="stop training early after this long")
    parser.add_argument("--ways", type=int, default=5)
    parser.add_argument("--shots", type=int, default=1)
    parser.add_argument("--queries", type=int, default=15)
    parser.add_argument("--meta-batch", type=int, default=8)
    parser.add_argument("--inner-lr", type=float, default=0.4)
    parser.add_argument("--lr", type=float, default=3e-3, help="outer Adam learning rate at the start")
    parser.add_argument("--final-lr", type=float, default=1e-4, help="outer learning rate at the end")
    parser.add_argument("--second-order", action="store_true")
    parser.add_argument("--episodes", type=int, default=600, help="test episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default="omniglot_maml.safetensors", help="where the run is saved")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --checkpoint")
    args = parser.parse_args()

    train = ms.data.Omniglot(args.root, split="vinyals", subset="trainval")
    test = ms.data.Omniglot(args.root, split="vinyals", subset="test")
    model = ms.nn.Conv4(outputs=args.ways, seed=args.seed)
    maml = ms.MAML(model, inner_lr=args.inner_lr, inner_steps=1, first_order=not args.second_order,
                   loss="cross_entropy")
    print(maml)
    episodes = ms.data.Taskset(train.images, train.labels, ways=args.ways, shots=args.shots,
                               queries=args.queries, seed=args.seed)
    start = time.perf_counter()
    chunk = 100
    optimizer = ms.optim.Adam(lr=ms.optim.CosineDecay(args.lr, steps=args.steps, final=args.final_lr))
    # One run, advanced a chunk at a time: each call continues the checkpoint the last one wrote.
    first = done = ms.load(args.checkpoint).steps if args.resume else 0
    while done < args.steps and time.perf_counter() - start < args.minutes * 60:
        target = min(done + chunk, args.steps)
        history = maml.fit(episodes, meta_batch_size=args.meta_batch, steps=target, optimizer=optimizer,
                           seed=args.seed, progress=False, checkpoint=args.checkpoint, checkpoint_every=chunk,
                           resume_from=args.checkpoint if done > 0 else None)
        print(f"meta-iteration {target}: mean meta-loss {history.losses[done:target].mean():.4f}, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
        done = target
    minutes = (time.perf_counter() - start) / 60
    print(f"trained {done - first} meta-iterations of meta-batch {args.meta_batch} in {minutes:.1f} minutes "
          f"({(done - first) / max(minutes, 1e-9) / 60:.2f} it/s); the run is at {done} of {args.steps}, "
          f"saved in {args.checkpoint}")
    tasks = ms.data.Taskset(test.images, test.labels, ways=args.ways, shots=args.shots, queries=15, seed=1)
    result = maml.evaluate(tasks, tasks=args.episodes, inner_steps=3)
    print(f"meta-test {args.ways}-way {args.shots}-shot accuracy after 3 steps over {args.episodes} episodes: "
          f"{100 * result.accuracy:.2f}% ± {100 * result.accuracy_ci:.2f}% (macro-F1 {100 * result.macro_f1:.2f}%)")
    seconds_per_iteration = minutes * 60 / max(done - first, 1)
    print(f"the paper's schedule (60,000 meta-iterations of meta-batch 32) would take about "
          f"{60_000 * seconds_per_iteration * 32 / args.meta_batch / 3600:.1f} hours here")


if __name__ == "__main__":
    main()
