"""Sinusoid regression: MAML beside its learned-strategy variants at equal time.

Every learner starts from the same MLP 1-40-40-1 (ReLU) and meta-trains on
the paper's sinusoids (amplitude 0.1-5, phase 0-pi, 10 shots, 10 queries) in
meta-batches of 25 with Adam 1e-3 for --minutes, then adapts to 1000 new
tasks; the query MSE after 1 and after 5 steps is reported with its 95%
interval:

- MAML: one inner step of 0.01 (Finn et al.), exact second order;
- MAML with Adam as its inner optimizer (lr 0.01), the state differentiated through;
- ALFA: five generated-rate steps from 0.01 (Baik et al.);
- MAML++: five steps with learned per-step rates from 0.01 and the multi-step
  loss (Antoniou et al.), its outer rate annealed along a cosine;
- LSTM: the LSTM meta-learner (Ravi & Larochelle), five steps of its learned
  update (rates starting near 0.01), the paper's first order; LSTM-exact: the
  same with the exact meta-gradient.

    python examples/learned_strategies_sinusoid.py [--minutes 2]
"""
import argparse
import time

import metaswift as ms


def learners():
    mlp = lambda: ms.nn.MLP([1, 40, 40, 1], activation="relu", seed=0)  # noqa: E731
    return {
        "MAML": lambda: ms.MAML(mlp(), inner_lr=0.01, inner_steps=1),
        "MAML, inner Adam": lambda: ms.MAML(mlp(), inner_lr=0.01, inner_steps=1, inner_optimizer="adam"),
        "ALFA": lambda: ms.ALFA(mlp(), inner_lr=0.01, inner_steps=5),
        "MAML++": lambda: ms.MAMLPlusPlus(mlp(), inner_lr=0.01, inner_steps=5, loss="mse", iterations_per_epoch=500),
        "LSTM": lambda: ms.LSTMMetaLearner(mlp(), inner_steps=5, loss="mse"),
        "LSTM-exact": lambda: ms.LSTMMetaLearner(mlp(), inner_steps=5, loss="mse", first_order=False),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="meta-training time per learner")
    parser.add_argument("--tasks", type=int, default=1000, help="test tasks")
    parser.add_argument("--only", default=None, help="comma-separated names (default: all)")
    args = parser.parse_args()
    train = ms.data.Sinusoid(shots=10, queries=10, seed=1)
    test = ms.data.Sinusoid(shots=10, queries=10, seed=2)
    rows = []
    for name, make in learners().items():
        if args.only and name not in args.only.split(","):
            continue
        learner = make()
        optimizer = ms.optim.Adam(lr=1e-3)
        if name == "MAML++":  # the cosine spans the steps the budget allows, timed on a probe
            probe, t = make(), time.perf_counter()
            probe.fit(train, meta_batch_size=25, steps=20, optimizer=ms.optim.Adam(lr=1e-3), progress=False)
            total = int(args.minutes * 60 / ((time.perf_counter() - t) / 20))
            optimizer = ms.optim.Adam(lr=ms.optim.CosineDecay(1e-3, steps=max(total, 1), final=1e-5))
        start, done, chunk = time.perf_counter(), 0, 50
        while time.perf_counter() - start < args.minutes * 60:
            try:
                learner.fit(train, meta_batch_size=25, steps=chunk, seed=done, optimizer=optimizer, progress=False,
                            resume=done > 0)
            except ms.Error as error:  # a diverging run keeps its last finite parameters; say so and evaluate them
                done += len(error.history.losses)
                print(f"{name}: stopped at meta-step {done + 1}: {error}", flush=True)
                name += f" (diverged at meta-step {done + 1})"
                break
            done += chunk
        took = time.perf_counter() - start
        e = learner.evaluate(test, tasks=args.tasks, inner_steps=5)
        print(f"{name}: {done} meta-steps in {took / 60:.1f} min; MSE {e.curve[1]:.3f} after 1 step, "
              f"{e.loss:.3f} ± {e.loss_ci:.3f} after 5", flush=True)
        rows.append((name, done, e))
    print("\n| learner | meta-steps | MSE after 1 step | after 5 steps |")
    print("|---|---|---|---|")
    for name, done, e in rows:
        print(f"| {name} | {done} | {e.curve[1]:.3f} | {e.loss:.3f} ± {e.loss_ci:.3f} |")


if __name__ == "__main__":
    main()
