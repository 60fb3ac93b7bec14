"""A network of your own: a residual CNN written from ms.nn layers, meta-trained
with Prototypical Networks on Omniglot within a time budget, then evaluated
5-way 1-shot with its 95% interval.

Any model built from ms.nn layers works with every learner (MAML, FOMAML,
Meta-SGD, Reptile, ANIL, ProtoNet). The engine builds it from its description
and runs it natively; no Python runs in a forward or backward pass. Here:

    stem:   Conv2d(1, C, 3, padding=1), BatchNorm2d, ReLU
    3 residual stages, each: Residual(body=[Conv2d 3x3, BatchNorm2d, ReLU,
            Conv2d 3x3, BatchNorm2d], shortcut=[Conv2d 1x1, BatchNorm2d]),
            ReLU, MaxPool2d(2)        (28 -> 14 -> 7 -> 3)
    head:   GlobalAvgPool2d -> an embedding of 4C features

Data: the Vinyals split of Omniglot (1200 + 423 characters, each rotated by
0/90/180/270 degrees as new classes, 28x28). Training: 20-way 5-shot episodes
with 5 queries per class, Adam 1e-3. Evaluation: 600 5-way 1-shot episodes on
the meta-test classes, mean accuracy ± 1.96·std/√N.

    python examples/custom_model.py [--root ../shared/data/omniglot] [--minutes 10] [--channels 32]
"""
import argparse
import time

import metaswift as ms
from _data import default_omniglot_root

nn = ms.nn


def stage(c_in, c_out):
    """A residual block (two 3x3 convolutions, a 1x1 projection shortcut), then ReLU and a 2x2 max-pool."""
    body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
    shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
    return [nn.Residual(body, shortcut), nn.ReLU(), nn.MaxPool2d(2)]


def residual_encoder(channels, seed):
    c = channels
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
        *stage(c, c), *stage(c, 2 * c), *stage(2 * c, 4 * c),
        nn.GlobalAvgPool2d(),
        input_shape=(1, 28, 28), seed=seed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=default_omniglot_root())
    parser.add_argument("--minutes", type=float, default=10.0, help="training time budget")
    parser.add_argument("--channels", type=int, default=32, help="width of the first stage")
    parser.add_argument("--episodes", type=int, default=600, help="test episodes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    train = ms.data.Omniglot(args.root, split="vinyals", subset="trainval")
    test = ms.data.Omniglot(args.root, split="vinyals", subset="test")
    encoder = residual_encoder(args.channels, args.seed)
    print(encoder)
    print(f"{encoder.num_parameters} parameters; embedding of {encoder.output_shape()[0]} features")
    proto = ms.ProtoNet(encoder)
    episodes = ms.data.Taskset(train.images, train.labels, ways=20, shots=5, queries=5, seed=args.seed)

    start, done = time.perf_counter(), 0
    optimizer = ms.optim.Adam(lr=1e-3)
    while time.perf_counter() - start < args.minutes * 60:
        history = proto.fit(episodes, steps=50, optimizer=optimizer, seed=args.seed + done, progress=False,
                            resume=done > 0)
        done += 50
        print(f"episode {done}: mean loss {history.losses.mean():.4f}, {time.perf_counter() - start:.0f} s",
              flush=True)
    print(f"trained {done} episodes of 20-way 5-shot in {(time.perf_counter() - start) / 60:.1f} minutes")

    tasks = ms.data.Taskset(test.images, test.labels, ways=5, shots=1, queries=15, seed=1)
    result = proto.evaluate(tasks, tasks=args.episodes)
    print(f"meta-test 5-way 1-shot over {args.episodes} episodes: {100 * result.accuracy:.2f}% "
          f"± {100 * result.accuracy_ci:.2f}% (macro-F1 {100 * result.macro_f1:.2f}%)")


if __name__ == "__main__":
    main()
