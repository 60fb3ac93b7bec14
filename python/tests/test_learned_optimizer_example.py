"""examples/learned_optimizer.py (the paper's experiments) runs end to end on
its small configuration, writes its curves, figure and optimizer where it is
told, and the optimizer it meta-trained (selected on validation problems)
beats its own untrained start on the problems it never saw."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import metaswift as ms

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "learned_optimizer.py"


def test_learned_optimizer_example_quick(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "kept the weights of truncation" in done.stdout
    results = json.loads((tmp_path / "learned_optimizer.json").read_text())
    quadratic = {k: np.array(v) for k, v in results["quadratic"].items()}
    assert all(np.isfinite(c).all() and c.shape == (101,) for c in quadratic.values())
    assert quadratic["Learned (LSTM)"][-1] < 0.5 * quadratic["Learned, before meta-training"][-1]
    assert {"SGD", "NAG", "RMSProp", "Adam"} == {k.split(" ")[0] for k in quadratic if "(lr=" in k}
    assert len(results["MLP 20 sigmoid units, 200 steps"]["Learned (LSTM)"]) == 201
    assert (tmp_path / "learned_optimizer.png").stat().st_size > 10_000
    loaded = ms.load(str(tmp_path / "learned_optimizer_digits.safetensors"))
    assert isinstance(loaded, ms.optim.Learned) and loaded.hidden == 20
