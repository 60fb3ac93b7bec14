"""Saving and loading models: metaswift beside the safetensors package itself.

For a Conv4 (Omniglot, 5-way head) and a ResNet-12 (width 1.0, 12.4M
parameters, 5-way head), in one process, alternately:

- metaswift: `ms.save(model, path)` (description, PyTorch layout, atomic write
  with fsync) and `ms.load(path)` (strict read, the model rebuilt from its
  description, values back in the engine's layout);
- safetensors: `safetensors.numpy.save_file(model.state_dict(), path)` and
  `load_file(path)` of the same tensors (the package's own write has no fsync
  and rebuilds nothing; the comparison is what a user would otherwise do).

Times are medians over rounds; the ratio is safetensors' time over
metaswift's (above 1: metaswift is faster). Also prints the file sizes.
`pip install safetensors`.

    python bench/files.py [--rounds 7]
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import metaswift as ms

MODELS = {
    "Conv4 (1x28x28, 5-way)": lambda: ms.nn.Conv4(outputs=5, seed=0),
    "ResNet-12 (width 1.0, 5-way)": lambda: ms.nn.ResNet12(in_channels=3, width=1.0, outputs=5, seed=0),
}


def timed(f):
    start = time.perf_counter()
    f()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    from safetensors.numpy import load_file, save_file

    print(f"metaswift {ms.__version__}; {args.rounds} rounds, medians")
    print(f"{'model':30} {'file MB':>8} {'op':5} {'metaswift ms':>13} {'safetensors ms':>15} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as d:
        for name, make in MODELS.items():
            model = make()
            state = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
            ours, theirs = os.path.join(d, "ours.safetensors"), os.path.join(d, "theirs.safetensors")
            times = {("save", "ms"): [], ("save", "st"): [], ("load", "ms"): [], ("load", "st"): []}
            for _ in range(args.rounds):
                times["save", "ms"].append(timed(lambda: ms.save(model, ours)))
                times["save", "st"].append(timed(lambda: save_file(state, theirs)))
                times["load", "ms"].append(timed(lambda: ms.load(ours)))
                times["load", "st"].append(timed(lambda: load_file(theirs)))
            size = os.path.getsize(ours) / 1e6
            for op in ("save", "load"):
                a, b = statistics.median(times[op, "ms"]), statistics.median(times[op, "st"])
                print(f"{name:30} {size:8.2f} {op:5} {1e3 * a:13.2f} {1e3 * b:15.2f} {b / a:6.2f}")
            print(f"{'':30} safetensors' own file: {os.path.getsize(theirs) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
