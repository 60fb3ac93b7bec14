"""MAML meta-training over MPI ranks: the speed-up of 2 ranks over 1, and
the time and bytes spent communicating, on two workloads:

- sinusoid: MAML on sine regression (Finn et al.), MLP 1-40-40-1, 5 shots
  and 5 queries, meta-batch 25 (two batched chunks of 13 and 12 tasks), one
  inner step of 0.01, exact second order;
- omniglot: MAML on Omniglot 5-way 1-shot (15 queries), Conv4 (64 filters)
  with a 5-way head, meta-batch 32 (one part per task), one inner step of
  0.4, exact second order, Adam 1e-3.

Each rank runs one engine thread (METASWIFT_THREADS=1, OPENBLAS_NUM_THREADS=1),
so 2 ranks on this 2-core machine use the cores that 1 rank leaves idle.
Both runs go through the same shared-step path (`fit(..., comm=)`) and give
the same bits (checked here: rank 0's parameters of the two runs are
compared). Communication is what `ms.distributed.communication()` counts:
the seconds inside MPI collectives (waiting for the slower rank included)
and the bytes of the parts' rows each rank receives.

    python bench/distributed.py [--steps 6] [--rounds 3] [--only sinusoid,omniglot]

It starts itself under `mpirun -np 1` and `-np 2` (the `mpi` extra's Open MPI,
TCP on loopback), alternating in rounds; rates are medians over rounds.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()


def workload(name):
    import metaswift as ms
    if name == "sinusoid":
        learner = ms.MAML(ms.nn.MLP([1, 40, 40, 1], seed=0), inner_lr=0.01, inner_steps=1)
        return learner, ms.data.Sinusoid(shots=5, queries=5), 25
    sys.path.insert(0, str(HERE.parent))
    from omniglot import load_images
    images, _ = load_images()
    classes = images.shape[0]
    tasks = ms.data.Taskset(images.reshape(-1, 1, 28, 28), np.repeat(np.arange(classes), images.shape[1]),
                            ways=5, shots=1, queries=15)
    learner = ms.MAML(ms.nn.Conv4(outputs=5, seed=0), inner_lr=0.4, inner_steps=1, loss="cross_entropy")
    return learner, tasks, 32


def rank_main(name, steps, out):
    """Under mpirun: one warm-up step, then `steps` timed steps."""
    from mpi4py import MPI
    import metaswift as ms
    comm = MPI.COMM_WORLD
    learner, tasks, batch = workload(name)
    optimizer = ms.optim.Adam(lr=1e-3)
    learner.fit(tasks, meta_batch_size=batch, steps=1, optimizer=optimizer, seed=1, progress=False, comm=comm)
    ms.distributed.reset_communication()
    comm.Barrier()
    start = time.perf_counter()
    learner.fit(tasks, meta_batch_size=batch, steps=steps, optimizer=optimizer, seed=2, progress=False, comm=comm,
                resume=True)
    elapsed = time.perf_counter() - start
    c = ms.distributed.communication()
    report = comm.gather({"elapsed": elapsed, **c}, root=0)
    if comm.Get_rank() == 0:
        params = np.concatenate([np.ravel(p) for p in learner.parameters()])
        np.save(out + ".npy", params)
        with open(out + ".json", "w") as f:
            json.dump({"ranks": comm.Get_size(), "steps": steps, "per_rank": report,
                       "parameters": int(params.size)}, f)


def environment():
    env = dict(os.environ, METASWIFT_THREADS="1", OPENBLAS_NUM_THREADS="1", OMPI_MCA_btl="self,tcp",
               OMPI_MCA_btl_tcp_if_include="lo")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def launch(ranks, name, steps, out):
    mpirun = Path(sys.executable).with_name("mpirun")
    mpirun = str(mpirun) if mpirun.exists() else shutil.which("mpirun")
    subprocess.run([mpirun, "-np", str(ranks), "--oversubscribe", sys.executable, "-m", "mpi4py", str(HERE),
                    "--rank-main", name, "--steps", str(steps), "--out", out], check=True, env=environment())
    with open(out + ".json") as f:
        return json.load(f), np.load(out + ".npy")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default 40 sinusoid, 6 omniglot)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="sinusoid,omniglot")
    parser.add_argument("--rank-main", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rank_main:
        rank_main(args.rank_main, args.steps, args.out)
        return
    import metaswift as ms
    print(f"metaswift {ms.__version__}; {ms.blas_info()}; one engine thread per rank")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            steps = args.steps or {"sinusoid": 40, "omniglot": 6}[name]
            rates = {1: [], 2: []}
            comm_share, received = [], []
            for r in range(args.rounds):
                runs = {}
                for ranks in (1, 2):
                    report, params = launch(ranks, name, steps, f"{tmp}/{name}-{ranks}-{r}")
                    runs[ranks] = params
                    slowest = max(p["elapsed"] for p in report["per_rank"])
                    rates[ranks].append(steps / slowest)
                    if ranks == 2:
                        comm_share.append(max(p["seconds"] for p in report["per_rank"]) / slowest)
                        received.append(report["per_rank"][0]["bytes_received"] / steps)
                        width = report["parameters"]
                assert runs[1].tobytes() == runs[2].tobytes(), "1 and 2 ranks must give the same bits"
            one, two = np.median(rates[1]), np.median(rates[2])
            print(f"{name}: 1 rank {one:.2f} steps/s, 2 ranks {two:.2f} steps/s, speed-up {two / one:.2f}x; "
                  f"on 2 ranks {100 * np.median(comm_share):.1f}% of the time in collectives, "
                  f"{np.median(received) / 1e6:.3f} MB received per rank per step "
                  f"({width} meta-parameters, one row of {4 * (width + 1) / 1e6:.3f} MB per part); same bits: yes")


if __name__ == "__main__":
    main()
