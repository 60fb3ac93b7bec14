"""Transfer learning on Omniglot: pre-train, transfer, fine-tune; and Meta-Baseline.

Three experiments, each a sub-command (all on Omniglot at 28x28, Conv4-64 whose
batch norm keeps running statistics, features taken in inference as PyTorch's
eval mode does; 600 test episodes with 15 queries per class, mean accuracy
with its 95% interval):

  baseline      Chen et al. (ICLR 2019, "A Closer Look at Few-shot
                Classification"): pre-train on the 4800 meta-train classes of
                the Vinyals split (1200 characters x 4 rotations) with a linear
                head (Baseline) and with a cosine head (Baseline++), Adam 1e-3,
                batch 16, 5 epochs; then on each test episode train a new head
                on the frozen features (SGD 0.01, momentum 0.9, dampening 0.9,
                weight decay 1e-3, 100 epochs of mini-batches of 4): 5-way
                and 20-way, 1-shot and 5-shot on the 1692 meta-test classes.
  protocols     The three fine-tuning protocols on the Baseline's encoder (saved
                by `baseline` in --out, else pre-trained now): (a) Baseline's new
                head, (b) logistic regression on L2-normalised features (Tian et
                al., ECCV 2020), (c) the whole network fine-tuned (5-way 1-shot
                only: it runs the tape through Conv4 at every step).
  alphabets     Transfer across alphabets: pre-train on the Lake split's 30
                background alphabets (964 characters, with rotations as extra
                classes), test 20-way 1-shot on its 20 evaluation alphabets,
                within one alphabet and across alphabets; beside ProtoNet
                trained on the same classes for the same time.
  metabaseline  Meta-Baseline (Chen et al., ICCV 2021): pre-train, then
                meta-train the encoder as a cosine ProtoNet with a learned
                temperature, against its two parts alone, Baseline (pre-training
                only) and ProtoNet (meta-training only), each given the same
                total training time.

Pre-trained encoders are saved in --out (ms.save), and a sub-command run again
with --reuse evaluates the saved encoders instead of training them again (in a
new process: the accuracies are the same as in the training process).

    python examples/transfer_omniglot.py baseline [--epochs 5] [--reuse]
    python examples/transfer_omniglot.py protocols
    python examples/transfer_omniglot.py alphabets [--epochs 5]
    python examples/transfer_omniglot.py metabaseline [--minutes 10]
"""
import argparse
import os
import time

import numpy as np

import metaswift as ms
from _data import default_omniglot_root

SETTINGS = [(5, 1), (5, 5), (20, 1), (20, 5)]
CHEN = {(5, 1): "94.30 ± 0.43", (5, 5): "99.08 ± 0.10", (20, 1): "86.05 ± 0.34", (20, 5): "97.11 ± 0.11"}


def encoder(seed):
    return ms.nn.Conv4(track_running_stats=True, seed=seed)


def pretrain(images, labels, classes, head, epochs, seed, path, reuse, budget=None):
    """A pre-trained encoder (trained now, or read from ``path``) and the
    pre-training time in seconds (None when reused). ``budget`` (seconds)
    stops at the first epoch boundary past it."""
    if reuse and os.path.exists(path):
        print(f"  reusing {path}")
        return ms.load(path), None
    model = encoder(seed)
    pre = ms.transfer.Pretrainer(model, classes=classes, head=head, seed=seed)
    start = time.perf_counter()
    for epoch in range(epochs):
        # One epoch per call, each continuing with the optimizer state of the last.
        pre.fit(images, labels, epochs=1, batch_size=16, seed=seed, progress=True, resume=epoch > 0)
        elapsed = time.perf_counter() - start
        print(f"  epoch {epoch + 1}: mean loss {pre.history.losses.mean():.4f}, {elapsed / 60:.1f} min")
        if budget is not None and elapsed >= budget:
            break
    seconds = time.perf_counter() - start
    ms.save(model, path)
    return model, seconds


def shown(e):
    return f"{100 * e.accuracy:.2f} ± {100 * e.accuracy_ci:.2f}"


def baseline(args):
    train = ms.data.Omniglot(args.root, subset="trainval")
    test = ms.data.Omniglot(args.root, subset="test")
    print(train, test, sep="\n")
    rows = []
    for name, head in (("Baseline", "linear"), ("Baseline++", "cosine")):
        print(f"{name}: pre-training ({head} head, {args.epochs} epochs of batches of 16)")
        model, seconds = pretrain(train.images, train.labels, train.num_classes, head, args.epochs, args.seed,
                                  os.path.join(args.out, f"{name.lower().replace('+', 'p')}.safetensors"), args.reuse)
        learner = ms.Baseline(model, head=head, seed=args.seed)
        scores = {}
        for ways, shots in SETTINGS:
            tasks = ms.data.Taskset(test.images, test.labels, ways=ways, shots=shots, queries=15, seed=args.seed)
            start = time.perf_counter()
            scores[ways, shots] = learner.evaluate(tasks, tasks=args.episodes, seed=args.seed + 1)
            print(f"  {ways}-way {shots}-shot: {shown(scores[ways, shots])}% "
                  f"(macro-F1 {100 * scores[ways, shots].macro_f1:.2f}), {time.perf_counter() - start:.0f} s")
        rows.append((name, seconds, scores))
    print("\n| method | pre-training | 5-way 1-shot | 5-way 5-shot | 20-way 1-shot | 20-way 5-shot |")
    print("|---|---|---|---|---|---|")
    for name, seconds, scores in rows:
        took = "reused" if seconds is None else f"{seconds / 60:.1f} min"
        print(f"| {name} (metaswift) | {took} | " + " | ".join(f"{shown(scores[s])}%" for s in SETTINGS) + " |")
    print("| Baseline (Chen et al., official code) | | " + " | ".join(CHEN[s] for s in SETTINGS) + " |")


def protocols(args):
    """The three fine-tuning protocols on the Baseline encoder (pre-trained by `baseline`, or now)."""
    train = ms.data.Omniglot(args.root, subset="trainval")
    test = ms.data.Omniglot(args.root, subset="test")
    print("Baseline encoder:")
    model, _ = pretrain(train.images, train.labels, train.num_classes, "linear", args.epochs, args.seed,
                        os.path.join(args.out, "baseline.safetensors"), reuse=True)
    learners = [("(a) Baseline: new linear head, frozen features", ms.Baseline(model, seed=args.seed), SETTINGS),
                ("(b) LogisticProbe: logistic regression, L2-normalised features", ms.LogisticProbe(model), SETTINGS),
                ("(c) FineTune: the whole network and a new head", ms.FineTune(model, seed=args.seed),
                 [(5, 1)])]  # through the tape for every step: 0.26 s per 5-way 1-shot episode here
    print("\n| protocol | " + " | ".join(f"{w}-way {s}-shot" for w, s in SETTINGS) + " |")
    print("|---|---|---|---|---|")
    for name, learner, settings in learners:
        cells = []
        for ways, shots in SETTINGS:
            if (ways, shots) not in settings:
                cells.append("")
                continue
            tasks = ms.data.Taskset(test.images, test.labels, ways=ways, shots=shots, queries=15, seed=args.seed)
            start = time.perf_counter()
            e = learner.evaluate(tasks, tasks=args.episodes, seed=args.seed + 1)
            cells.append(f"{shown(e)}% ({time.perf_counter() - start:.0f} s)")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def alphabet_tasksets(test, ways, seed):
    """One taskset per evaluation alphabet with at least ``ways`` characters."""
    alphabets = {}
    for label, name in enumerate(test.class_names):
        alphabets.setdefault(name.split("/")[0], []).append(label)
    return {a: ms.data.Taskset(test.images, test.labels, ways=ways, shots=1, queries=15, classes=c, seed=seed)
            for a, c in sorted(alphabets.items()) if len(c) >= ways}


def within_alphabets(learner, test, episodes, seed):
    """20-way 1-shot episodes drawn within one alphabet, the same number from each."""
    tasksets = alphabet_tasksets(test, 20, seed)
    per = max(1, episodes // len(tasksets))
    accuracies = np.concatenate([learner.evaluate(t, tasks=per, seed=seed + i).accuracies
                                 for i, t in enumerate(tasksets.values())])
    return ms.eval.mean_confidence_interval(accuracies)


def alphabets(args):
    train = ms.data.Omniglot(args.root, split="lake", subset="trainval", rotations=True)
    test = ms.data.Omniglot(args.root, split="lake", subset="test")
    print(train, test, sep="\n")
    print(f"Baseline: pre-training on the background alphabets ({args.epochs} epochs)")
    model, seconds = pretrain(train.images, train.labels, train.num_classes, "linear", args.epochs, args.seed,
                              os.path.join(args.out, "lake_baseline.safetensors"), args.reuse)
    budget = seconds if seconds is not None else args.minutes * 60
    print(f"ProtoNet: meta-training on the same classes for {budget / 60:.1f} min (60-way 5-shot episodes)")
    proto = ms.ProtoNet(ms.nn.Conv4(seed=args.seed))
    episodes = ms.data.Taskset(train.images, train.labels, ways=60, shots=5, queries=5, seed=args.seed)
    optimizer = ms.optim.Adam(lr=1e-3)
    start, done = time.perf_counter(), 0
    while time.perf_counter() - start < budget:
        proto.fit(episodes, steps=100, optimizer=optimizer, seed=args.seed, progress=False, resume=done > 0)
        done += 100
    print(f"  {done} episodes in {(time.perf_counter() - start) / 60:.1f} min")
    across = ms.data.Taskset(test.images, test.labels, ways=20, shots=1, queries=15, seed=args.seed)
    print("\n| method | training | 20-way 1-shot within an alphabet | 20-way 1-shot across alphabets |")
    print("|---|---|---|---|")
    for name, learner in (("Baseline (frozen features, new linear head)", ms.Baseline(model, seed=args.seed)),
                          ("ProtoNet", proto)):
        w = within_alphabets(learner, test, args.episodes, args.seed + 1)
        a = learner.evaluate(across, tasks=args.episodes, seed=args.seed + 1)
        print(f"| {name} | {budget / 60:.1f} min | {100 * w.mean:.2f} ± {100 * w.ci:.2f}% | {shown(a)}% |")


def metabaseline(args):
    train = ms.data.Omniglot(args.root, subset="trainval")
    test = ms.data.Omniglot(args.root, subset="test")
    budget = args.minutes * 60
    episodes = ms.data.Taskset(train.images, train.labels, ways=60, shots=5, queries=5, seed=args.seed)

    def meta_train(proto, seconds, lr):
        optimizer = ms.optim.Adam(lr=lr)
        start, done = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            proto.fit(episodes, steps=50, optimizer=optimizer, seed=args.seed, progress=False, resume=done > 0)
            done += 50
        return done, time.perf_counter() - start

    results = []
    print(f"Baseline: pre-training for {budget / 60:.1f} min")
    model, took = pretrain(train.images, train.labels, train.num_classes, "linear", 100, args.seed,
                           os.path.join(args.out, "mb_baseline_full.safetensors"), False, budget=budget)
    results.append(("Baseline (pre-training only)", took, ms.Baseline(model, seed=args.seed)))
    print(f"ProtoNet: meta-training from scratch for {budget / 60:.1f} min")
    proto = ms.ProtoNet(ms.nn.Conv4(seed=args.seed))
    done, took = meta_train(proto, budget, 1e-3)
    results.append((f"ProtoNet ({done} episodes)", took, proto))
    print(f"Meta-Baseline: pre-training for {budget / 2 / 60:.1f} min, then meta-training")
    model, first = pretrain(train.images, train.labels, train.num_classes, "linear", 100, args.seed,
                            os.path.join(args.out, "mb_baseline_half.safetensors"), False, budget=budget / 2)
    # The pre-trained encoder as the same cosine ProtoNet before any meta-training: what the meta stage adds.
    before = ms.ProtoNet(ms.load(os.path.join(args.out, "mb_baseline_half.safetensors")), distance="cosine",
                         temperature=10.0)
    results.append(("Meta-Baseline before its meta-training (the pre-trained half)", first, before))
    meta = ms.ProtoNet(model, distance="cosine", temperature=10.0)
    done, second = meta_train(meta, budget - first, args.meta_lr)
    results.append((f"Meta-Baseline ({done} episodes, temperature {float(meta.temperature):.2f})", first + second,
                    meta))
    print("\n| method | training | 5-way 1-shot | 5-way 5-shot | 20-way 1-shot | 20-way 5-shot |")
    print("|---|---|---|---|---|---|")
    for name, took, learner in results:
        cells = []
        for ways, shots in SETTINGS:
            tasks = ms.data.Taskset(test.images, test.labels, ways=ways, shots=shots, queries=15, seed=args.seed)
            cells.append(shown(learner.evaluate(tasks, tasks=args.episodes, seed=args.seed + 1)) + "%")
        print(f"| {name} | {took / 60:.1f} min | " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", choices=("baseline", "protocols", "alphabets", "metabaseline"))
    parser.add_argument("--root", default=default_omniglot_root())
    parser.add_argument("--epochs", type=int, default=5, help="pre-training epochs")
    parser.add_argument("--minutes", type=float, default=10.0,
                        help="metabaseline: the training time each method gets; alphabets: ProtoNet's when reusing")
    parser.add_argument("--meta-lr", type=float, default=1e-4, help="Meta-Baseline's meta-training rate (Adam)")
    parser.add_argument("--episodes", type=int, default=600, help="test episodes per setting")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="transfer_runs", help="where pre-trained encoders are saved")
    parser.add_argument("--reuse", action="store_true", help="evaluate the encoders saved in --out")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    {"baseline": baseline, "protocols": protocols, "alphabets": alphabets,
     "metabaseline": metabaseline}[args.experiment](args)


if __name__ == "__main__":
    main()
