"""examples/omniglot_protonet.ipynb runs top to bottom, on a small configuration,
in a kernel on this interpreter (nbclient + ipykernel), and shows what it promises:
episodes and a learning curve as figures, the progress bar, an accuracy and a
macro-F1 in [0, 1] with their intervals, and predicted labels.

The parameters are injected as papermill does: a cell placed after the one
tagged "parameters" overrides some of its assignments. The data are the real
Omniglot release the notebook finds on its own (shared/data/omniglot beside
the repository, or $OMNIGLOT_ROOT; $METASWIFT_OMNIGLOT as for test_omniglot.py);
nothing is downloaded.
"""
import ast
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "examples" / "omniglot_protonet.ipynb"
KERNEL = "metaswift-test-python"
# A few steps of small episodes: the run checks the notebook works, not that it learns.
SMALL = {"TRAIN_WAYS": 5, "TRAIN_SHOTS": 1, "TRAIN_QUERIES": 3, "STEPS": 4, "TEST_WAYS": 5, "TEST_SHOTS": 1,
         "TEST_QUERIES": 5, "TEST_EPISODES": 20, "EPISODES_SHOWN": 1}
# Printed by a cell the test appends, after the notebook's own.
REPORT = """
import json
print("REPORT " + json.dumps({"accuracy": result.accuracy, "accuracy_ci": result.accuracy_ci,
                              "macro_f1": result.macro_f1, "macro_f1_ci": result.macro_f1_ci,
                              "tasks": result.tasks, "steps": len(history),
                              "predicted": predicted.tolist(), "queries": len(y_query)}))
"""


def _parameters_cell(nb):
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    return tagged[0]


def _assigned(source):
    return {t.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)}


def _kernel_spec(folder):
    """A kernel spec running ipykernel on this interpreter, whatever kernels the
    machine has registered (or not: a fresh CI machine has none)."""
    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python {sys.version_info.major}.{sys.version_info.minor} (test)",
        "language": "python",
    }))


def _text(output):
    if output.output_type == "stream":
        return output.text
    return output.get("data", {}).get("text/plain", "")


def run_notebook(notebook, small, report, jupyter):
    """Executes `notebook` with the assignments `small` injected after its
    parameters cell and `report` appended as a last cell; kernels from `jupyter`."""
    _kernel_spec(jupyter)
    nb = nbformat.read(notebook, as_version=4)
    at = _parameters_cell(nb)
    unknown = set(small) - _assigned(nb.cells[at].source)
    assert not unknown, f"the parameters cell no longer sets {sorted(unknown)}"
    params = dict(small)
    if os.environ.get("METASWIFT_OMNIGLOT") and not os.environ.get("OMNIGLOT_ROOT"):
        params["OMNIGLOT_ROOT"] = os.environ["METASWIFT_OMNIGLOT"]
    injected = nbformat.v4.new_code_cell("\n".join(f"{k} = {v!r}" for k, v in params.items()))
    injected.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(at + 1, injected)
    nb.cells.append(nbformat.v4.new_code_cell(report.strip()))

    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "MPLBACKEND")}
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(jupyter), saved["JUPYTER_PATH"]]))
    # Figures as image/png outputs even where CI sets a headless backend (Agg).
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        NotebookClient(nb, kernel_name=KERNEL, timeout=600,
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return run_notebook(NOTEBOOK, SMALL, REPORT, tmp_path_factory.mktemp("jupyter"))


def _outputs(nb, marker):
    """Outputs of the notebook's code cell whose source contains `marker`."""
    cells = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    assert len(cells) == 1, f"expected one cell with {marker!r}, found {len(cells)}"
    return cells[0].outputs


def _figures(outputs):
    return sum("image/png" in o.get("data", {}) for o in outputs if o.output_type == "display_data")


def test_notebook_runs_on_this_interpreter(executed):
    report = [line for c in executed.cells for o in c.get("outputs", []) for line in _text(o).splitlines()
              if line.startswith("REPORT ")]
    assert len(report) == 1
    values = json.loads(report[0][len("REPORT "):])
    assert 0 <= values["accuracy"] <= 1 and 0 <= values["macro_f1"] <= 1
    assert values["accuracy_ci"] >= 0 and values["macro_f1_ci"] >= 0
    assert values["tasks"] == SMALL["TEST_EPISODES"]
    assert values["steps"] == SMALL["STEPS"]
    assert len(values["predicted"]) == values["queries"] == SMALL["TEST_WAYS"] * SMALL["TEST_QUERIES"]
    assert set(values["predicted"]) <= set(range(SMALL["TEST_WAYS"]))


def test_notebook_prints_accuracy_with_interval(executed):
    text = "".join(_text(o) for o in _outputs(executed, "protonet.evaluate("))
    match = re.search(r"accuracy: ([0-9.]+) ± ([0-9.]+) \(95% CI\)", text)
    assert match, text
    assert 0 <= float(match.group(1)) <= 1
    assert re.search(r"macro-F1: [0-9.]+ ± [0-9.]+", text), text
    assert "ClassificationEvaluation(tasks=20" in text


def test_notebook_draws_its_figures(executed):
    assert _figures(_outputs(executed, "show_episode(test_tasks.sample()")) == SMALL["EPISODES_SHOWN"]
    assert _figures(_outputs(executed, "history.plot()")) == 1
    assert _figures(_outputs(executed, "show_episode(episode, predicted=predicted")) == 1


def test_notebook_shows_data_and_progress(executed):
    loaded = "".join(_text(o) for o in _outputs(executed, "find_omniglot(OMNIGLOT_ROOT)"))
    assert "subset='trainval'" in loaded and "characters=1200" in loaded
    assert "subset='test'" in loaded and "characters=423" in loaded
    training = "".join(_text(o) for o in _outputs(executed, "protonet.fit("))
    assert "meta-training" in training, "no progress bar"
    assert f"History(steps={SMALL['STEPS']}" in training


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
