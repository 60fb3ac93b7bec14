"""examples/learned_optimizer.ipynb runs top to bottom on a small
configuration, in a kernel on this interpreter: it meta-trains an optimizer
on quadratics, compares it with Adam on new quadratics and on a digits MLP
it never saw, draws both curves, and loads the saved optimizer back to the
same curve."""
import json
import re

import nbformat
import numpy as np
import pytest

from test_notebook import REPO, _figures, _outputs, _text, run_notebook

NOTEBOOK = REPO / "examples" / "learned_optimizer.ipynb"
SMALL = {"META_STEPS": 15, "META_BATCH": 1, "VALIDATION_PROBLEMS": 2, "PROBLEMS": 4, "STEPS": 30,
         "OPTIMIZER_FILE": "learned_notebook_test.safetensors"}
REPORT = """
import json, os
os.remove(OPTIMIZER_FILE)
print("REPORT " + json.dumps({"meta": [float(v) for v in meta_losses], "same": bool(same),
                              "shapes": [list(a.shape) for a in (learned_q, adam_q, learned_m, adam_m)],
                              "finite": bool(all(np.isfinite(a).all() for a in (learned_q, adam_q, learned_m, adam_m))),
                              "mlp_start": float(learned_m[:, 0].mean()), "mlp_end": float(learned_m[:, -1].mean())}))
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return run_notebook(NOTEBOOK, SMALL, REPORT, tmp_path_factory.mktemp("jupyter"))


def test_the_notebook_trains_compares_and_reloads(executed):
    report = [line for c in executed.cells for o in c.get("outputs", []) for line in _text(o).splitlines()
              if line.startswith("REPORT ")]
    assert len(report) == 1
    values = json.loads(report[0][len("REPORT "):])
    assert len(values["meta"]) == SMALL["META_STEPS"] and all(np.isfinite(values["meta"]))
    assert values["shapes"] == [[SMALL["PROBLEMS"], SMALL["STEPS"] + 1]] * 4
    assert values["finite"] and values["same"], "the loaded optimizer gives another curve"
    # Even briefly trained on quadratics, it lowers the MLP's loss it never saw.
    assert values["mlp_end"] < values["mlp_start"]


def test_the_notebook_draws_its_figures_and_prints_both_comparisons(executed):
    assert _figures(_outputs(executed, "plt.plot(meta_losses)")) == 1
    selected = "".join(_text(o) for o in _outputs(executed, "plt.plot(meta_losses)"))
    kept = re.search(r"kept the weights of truncation (-?\d+)", selected)
    assert kept and 1 <= int(kept.group(1)) <= SMALL["META_STEPS"], selected  # validated after every truncation
    assert _figures(_outputs(executed, "fig, axes = plt.subplots(1, 2")) == 1
    for marker in ("adam_q = quadratics.loss_curves(", "adam_m = mlp.loss_curves("):
        text = "".join(_text(o) for o in _outputs(executed, marker))
        assert re.search(r"after \d+ steps: learned [0-9.]+, Adam [0-9.]+", text), text


def test_the_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
