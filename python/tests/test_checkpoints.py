"""Checkpoints: a run killed with SIGKILL and resumed in a new process ends
with the same bits as a run that was never interrupted (MAML on sinusoids,
ProtoNet on Omniglot-sized images), and a checkpoint of another run is
refused."""
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import metaswift as ms

SETUP = {
    "maml": """
        import metaswift as ms, numpy as np
        data = ms.data.Sinusoid(shots=5, queries=5)
        def make():
            return ms.MAML(ms.nn.MLP([1, 32, 32, 1], seed=1), inner_lr=0.01)
        STEPS, EVERY, BATCH = 3000, 50, 4
        OPT = lambda: ms.optim.Adam(lr=ms.optim.CosineDecay(2e-3, steps=3000, warmup=100))
    """,
    "protonet": """
        import metaswift as ms, numpy as np
        g = np.random.default_rng(0)
        data = ms.data.Taskset(g.normal(size=(20 * 4, 1, 28, 28)).astype(np.float32), np.repeat(np.arange(20), 4),
                               ways=5, shots=1, queries=2)
        def make():
            return ms.ProtoNet(ms.nn.Conv4(hidden=8, seed=2))
        STEPS, EVERY, BATCH = 400, 10, 1
        OPT = lambda: ms.optim.SGD(lr=0.01, momentum=0.9)
    """,
}

KILLED = """
    import os, signal, sys, threading, time
    path = sys.argv[1]
    def watch():
        while not os.path.exists(path):
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGKILL)   # mid-run, right after the first checkpoint
    threading.Thread(target=watch, daemon=True).start()
    make().fit(data, steps=STEPS, meta_batch_size=BATCH, optimizer=OPT(), seed=3, progress=False,
               checkpoint=path, checkpoint_every=EVERY)
    print("not killed")
"""

RESUMED = """
    import sys
    learner = make()
    history = learner.fit(data, steps=STEPS, meta_batch_size=BATCH, optimizer=OPT(), seed=3, progress=False,
                          resume_from=sys.argv[1])
    np.savez(sys.argv[2], losses=history.losses, *[np.array(p) for p in learner.parameters()])
"""


def run(tmp_path, name, body, *args):
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(SETUP[name]) + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name", sorted(SETUP))
def test_a_run_killed_and_resumed_in_a_new_process_ends_with_the_same_bits(name, tmp_path):
    checkpoint, result = tmp_path / "run.safetensors", tmp_path / "resumed.npz"
    killed = run(tmp_path, name, KILLED, checkpoint)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert sorted(os.listdir(tmp_path)) == sorted([f"{name}.py", "run.safetensors"])  # no temporary left behind
    resumed = run(tmp_path, name, RESUMED, checkpoint, result)
    assert resumed.returncode == 0, resumed.stderr
    namespace = {}
    exec(textwrap.dedent(SETUP[name]), namespace)
    learner = namespace["make"]()
    history = learner.fit(namespace["data"], steps=namespace["STEPS"], meta_batch_size=namespace["BATCH"],
                          optimizer=namespace["OPT"](), seed=3, progress=False)
    saved = np.load(result)
    np.testing.assert_array_equal(saved["losses"], history.losses)
    for i, p in enumerate(learner.parameters()):
        np.testing.assert_array_equal(saved[f"arr_{i}"], p)
    # The kill fell inside the run: the checkpoint holds fewer steps than the run.
    probe = namespace["make"]()
    with pytest.raises(ms.Error, match=r"the checkpoint .* is at step (\d+), past steps=0") as info:
        probe.fit(namespace["data"], steps=0, meta_batch_size=namespace["BATCH"], optimizer=namespace["OPT"](),
                  progress=False, resume_from=checkpoint)
    at = int(re.search(r"is at step (\d+)", str(info.value)).group(1))
    assert 0 < at < namespace["STEPS"] and at % namespace["EVERY"] == 0


def test_a_checkpoint_resumes_only_the_run_it_was_written_by(tmp_path):
    data = ms.data.Sinusoid(shots=5, queries=5)
    path = tmp_path / "run.safetensors"
    ms.MAML(ms.nn.MLP([1, 8, 1], seed=1), inner_lr=0.01).fit(data, steps=4, meta_batch_size=2, progress=False,
                                                             checkpoint=path, checkpoint_every=2)
    cases = [
        (lambda: ms.MAML(ms.nn.MLP([1, 8, 1]), inner_lr=0.02), {}, "learner"),
        (lambda: ms.MAML(ms.nn.MLP([1, 8, 1]), inner_lr=0.01), {"optimizer": ms.optim.SGD(lr=0.1)}, "optimizer"),
        (lambda: ms.MAML(ms.nn.MLP([1, 8, 1]), inner_lr=0.01), {"meta_batch_size": 3}, "meta_batch_size was 2"),
        (lambda: ms.MAML(ms.nn.MLP([1, 9, 1]), inner_lr=0.01), {}, "model"),
    ]
    for make, kwargs, match in cases:
        with pytest.raises(ms.Error, match=match) as info:
            make().fit(data, steps=6, **{"meta_batch_size": 2, **kwargs}, progress=False, resume_from=path)
        assert str(path) in str(info.value)
    with pytest.raises(ms.Error, match="resume_from: give resume=True"):
        ms.MAML(ms.nn.MLP([1, 8, 1]), inner_lr=0.01).fit(data, steps=6, resume=True, resume_from=path)
    with pytest.raises(ms.Error, match="checkpoint_every"):
        ms.MAML(ms.nn.MLP([1, 8, 1]), inner_lr=0.01).fit(data, steps=6, checkpoint=path, checkpoint_every=0)
