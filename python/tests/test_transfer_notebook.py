"""examples/transfer.ipynb runs top to bottom on a small configuration (a few
training classes, one epoch, a few episodes), in a kernel on this interpreter,
and shows what it promises: the pre-training curve, the encoder saved and
loaded back identical, an episode with its predictions, and the accuracies of
the fine-tuned Baseline and of ProtoNet with their intervals, in a plot. The
data are the Omniglot release the notebook finds (as test_notebook.py's)."""
import json
import re

import nbformat
import pytest

from test_notebook import REPO, _figures, _outputs, _text, run_notebook

NOTEBOOK = REPO / "examples" / "transfer.ipynb"
SMALL = {"TRAIN_CLASSES": 40, "EPOCHS": 1, "PROTONET_STEPS": 5, "TEST_EPISODES": 20,
         "ENCODER_FILE": "transfer_notebook_test_encoder.safetensors"}
REPORT = """
import json, os
os.remove(ENCODER_FILE)
print("REPORT " + json.dumps({"transfer": [transfer_result.accuracy, transfer_result.accuracy_ci, transfer_result.tasks],
                              "protonet": [protonet_result.accuracy, protonet_result.accuracy_ci, protonet_result.tasks],
                              "batches": len(history), "same": bool(same), "predicted": predicted.tolist(),
                              "queries": len(y_query)}))
"""


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return run_notebook(NOTEBOOK, SMALL, REPORT, tmp_path_factory.mktemp("jupyter"))


def test_transfer_notebook_runs_and_reports(executed):
    report = [line for c in executed.cells for o in c.get("outputs", []) for line in _text(o).splitlines()
              if line.startswith("REPORT ")]
    assert len(report) == 1
    values = json.loads(report[0][len("REPORT "):])
    for key in ("transfer", "protonet"):
        accuracy, ci, tasks = values[key]
        assert 0 <= accuracy <= 1 and ci >= 0 and tasks == SMALL["TEST_EPISODES"]
    assert values["batches"] == (SMALL["TRAIN_CLASSES"] * 20 + 15) // 16  # one epoch of batches of 16
    assert values["same"], "the loaded encoder differs from the saved one"
    assert len(values["predicted"]) == values["queries"] == 5 * 15
    assert set(values["predicted"]) <= set(range(5))


def test_transfer_notebook_draws_its_figures_and_prints_the_comparison(executed):
    assert _figures(_outputs(executed, "history.plot(")) == 1
    assert _figures(_outputs(executed, "show_episode(episode, predicted)")) == 1
    assert _figures(_outputs(executed, "ax.bar(")) == 1
    text = "".join(_text(o) for o in _outputs(executed, "protonet_result = protonet.evaluate("))
    assert re.search(r"Baseline \(fine-tuned head\)\s+accuracy [0-9.]+ ± [0-9.]+, macro-F1", text), text
    assert re.search(r"ProtoNet\s+accuracy [0-9.]+ ± [0-9.]+", text), text
    assert "pre-training" in "".join(_text(o) for o in _outputs(executed, "pretrainer.fit(")), "no progress bar"


def test_transfer_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
