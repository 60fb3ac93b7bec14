"""Learning to learn by gradient descent by gradient descent (Andrychowicz et
al., NeurIPS 2016), the paper's experiments at the scale of a 2-core machine.

1. Quadratics: a learned optimizer (two-layer LSTM, 20 units, coordinate-wise,
   preprocessed gradients) meta-trained on 10-dimensional ||W theta - y||^2;
   its 100-step loss curve (mean over 100 new problems) against SGD, NAG,
   RMSProp and Adam, each with its learning rate grid-searched on a log grid
   (on other problems than the test ones).
   As in the paper, the optimizer is selected on validation problems: every
   100 meta-updates its weights are run, frozen, on problems of their own and
   the weights with the lowest mean final loss are kept
   (``meta_train(validation_problems=...)``).
2. An MLP with 20 sigmoid hidden units on scikit-learn's load_digits (8x8
   digits; the paper used MNIST), minibatches of 128: meta-trained for 100
   steps, then run for 200 steps and on a 40-unit MLP (generalisation, as the
   paper's figure 4).

Run:  PYTHONPATH=python python examples/learned_optimizer.py [--quick] [--out DIR]
Writes docs/learned_optimizer.png (the README's figure), examples/learned_optimizer.json
(the mean curves) and examples/learned_optimizer_digits.safetensors (the trained
MLP optimizer: ms.load it in another process and pass it as optimizer=); all
three into DIR instead with --out.
"""
import argparse
import json
import os
import time

import numpy as np

import metaswift as ms

HERE = os.path.dirname(os.path.abspath(__file__))
GRID = np.logspace(-4, 1, 16)  # 1e-4 ... 10, three per decade
VALIDATION_SEED = 5  # the learned optimizers' validation problems (test: seed 2, tuning: seed 3)


def baselines():
    return {
        "SGD": lambda lr: ms.optim.SGD(lr=lr),
        "NAG": lambda lr: ms.optim.SGD(lr=lr, momentum=0.9, nesterov=True),
        "RMSProp": lambda lr: ms.optim.RMSprop(lr=lr),
        "Adam": lambda lr: ms.optim.Adam(lr=lr),
    }


def tuned(problems, steps, tune_problems, tune_seed):
    """Each baseline's learning rate: the grid value with the lowest mean final
    loss on `tune_problems` problems drawn from `tune_seed` (not the test ones
    nor the learned optimizer's validation ones)."""
    best = {}
    for name, make in baselines().items():
        scores = []
        for lr in GRID:
            final = problems.loss_curves(make(lr), problems=tune_problems, steps=steps, seed=tune_seed)[:, -1]
            scores.append(np.mean(final) if np.isfinite(final).all() else np.inf)
        best[name] = float(GRID[int(np.argmin(scores))])
    return best


def compare(problems, learned, rates, steps, test_problems, seed):
    curves = {"Learned (LSTM)": problems.loss_curves(learned, problems=test_problems, steps=steps, seed=seed).mean(0)}
    for name, make in baselines().items():
        curves[f"{name} (lr={rates[name]:.2g})"] = problems.loss_curves(
            make(rates[name]), problems=test_problems, steps=steps, seed=seed).mean(0)
    return curves


def selected(opt):
    v = opt.validations
    i = int(np.flatnonzero(v["steps"] == v["best_step"])[0])
    return (f"kept the weights of truncation {v['best_step']} (validation loss {v['losses'][i]:.4g}; "
            f"at the last validation {v['losses'][-1]:.4g})")


def report(title, curves):
    print(f"\n{title}: mean loss at the last step")
    for name, c in sorted(curves.items(), key=lambda kv: kv[1][-1]):
        print(f"  {name:24s} {c[-1]:.4g}   (mean over the curve {c.mean():.4g})")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="a small configuration (a test runs it)")
    parser.add_argument("--out", help="the folder for the figure, curves and optimizer file (default: the repository's)")
    a = parser.parse_args()
    out = {"figure": os.path.join(HERE, "..", "docs", "learned_optimizer.png"),
           "curves": os.path.join(HERE, "learned_optimizer.json"),
           "optimizer": os.path.join(HERE, "learned_optimizer_digits.safetensors")}
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        out = {k: os.path.join(a.out, os.path.basename(v)) for k, v in out.items()}
    scale = 0.1 if a.quick else 1.0
    checks = 4 if a.quick else 20  # validations during meta-training (every 250 and 100 truncations at full scale)
    results, figures = {}, []
    t0 = time.time()

    # 1. Quadratics.
    quadratics = ms.learned.Quadratic(dim=10)
    opt = ms.optim.Learned(hidden=20, layers=2, output_scale=0.1, seed=0)
    untrained = quadratics.loss_curves(opt, problems=100, steps=100, seed=2).mean(0)
    steps = int(5000 * scale)
    meta = opt.meta_train(quadratics, steps=steps, unroll=100, truncation=20, meta_batch_size=4,
                          meta_optimizer=ms.optim.Adam(lr=ms.optim.CosineDecay(1e-2, steps=steps)), seed=1,
                          validation_problems=max(5, int(50 * scale)), validate_every=max(1, steps // checks),
                          validation_seed=VALIDATION_SEED)
    print(f"quadratics: meta-trained {len(meta)} truncations in {time.time() - t0:.0f} s "
          f"(meta-loss first 50 {meta[:50].mean():.3g}, last 50 {meta[-50:].mean():.3g}); {selected(opt)}")
    rates = tuned(quadratics, 100, tune_problems=20, tune_seed=3)
    curves = compare(quadratics, opt, rates, 100, test_problems=100, seed=2)
    curves["Learned, before meta-training"] = untrained
    report("10-d quadratics, 100 steps, 100 new problems", curves)
    results["quadratic"] = {k: v.tolist() for k, v in curves.items()}
    figures.append(("Quadratics (10-d), 100 steps", curves))

    # 2. MLP on digits.
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    mlp20 = ms.learned.MLP(x, y, hidden=20, activation="sigmoid", batch_size=128)
    mlp40 = ms.learned.MLP(x, y, hidden=40, activation="sigmoid", batch_size=128)
    t1 = time.time()
    mlp_opt = ms.optim.Learned(hidden=20, layers=2, output_scale=0.1, seed=0)
    steps = int(2000 * scale)
    meta = mlp_opt.meta_train(mlp20, steps=steps, unroll=100, truncation=20, meta_batch_size=1,
                              meta_optimizer=ms.optim.Adam(lr=ms.optim.CosineDecay(1e-2, steps=steps)), seed=1,
                              validation_problems=max(2, int(20 * scale)), validate_every=max(1, steps // checks),
                              validation_seed=VALIDATION_SEED)
    print(f"\nMLP on digits: meta-trained {len(meta)} truncations in {time.time() - t1:.0f} s "
          f"(meta-loss first 50 {meta[:50].mean():.3g}, last 50 {meta[-50:].mean():.3g}); {selected(mlp_opt)}")
    ms.save(mlp_opt, out["optimizer"])
    test = max(4, int(100 * scale))
    for label, problems, steps in [("MLP 20 sigmoid units, 100 steps", mlp20, 100),
                                   ("MLP 20 sigmoid units, 200 steps", mlp20, 200),
                                   ("MLP 40 sigmoid units, 100 steps", mlp40, 100)]:
        rates = tuned(problems, steps, tune_problems=max(2, int(20 * scale)), tune_seed=3)
        curves = compare(problems, mlp_opt, rates, steps, test_problems=test, seed=2)
        report(f"{label} ({test} new initialisations and minibatch orders)", curves)
        results[label] = {k: v.tolist() for k, v in curves.items()}
        figures.append((label, curves))
    print(f"\ntotal {time.time() - t0:.0f} s")

    with open(out["curves"], "w") as f:
        json.dump(results, f)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    fig, axes = plt.subplots(1, len(figures), figsize=(5 * len(figures), 4))
    for ax, (title, curves) in zip(axes, figures):
        for name, c in curves.items():
            ax.plot(c, label=name, lw=2.5 if name.startswith("Learned (") else 1.2,
                    ls=":" if "before" in name else "-")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel("loss (mean over problems)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out["figure"], dpi=110)
    print("figure:", out["figure"])


if __name__ == "__main__":
    main()
