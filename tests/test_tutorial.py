"""The notebook tutorial (docs/tutorial.ipynb): stored without outputs, and every cell runs.

It is executed with nbclient in the ``python3`` kernel, which must be this interpreter (the project's environment:
ipykernel's kernelspec in the venv, whose ``python`` jupyter_client replaces with ``sys.executable``), importing
this checkout's code, in a temporary working copy that receives all it writes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

from tests.conftest import HANG_GUARD_S

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.ipynb"


def test_the_tutorial_is_stored_without_outputs():
    """Outputs stripped in git: no outputs, no execution counts, no widget state."""
    nb = nbformat.read(TUTORIAL, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the tutorial has code cells"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]
    assert "widgets" not in nb.metadata
    assert nb.metadata.kernelspec.name == "python3"


def test_the_tutorial_runs_every_cell(tmp_path, monkeypatch):
    """The kernel is this interpreter and imports this checkout; results go to the temporary folder, never into the
    repository. nbclient raises CellExecutionError if any cell raises."""
    spec = KernelSpecManager().get_kernel_spec("python3")  # ipykernel's, in this environment
    assert spec.argv[0] in ("python", "python3", sys.executable), spec.argv
    copy = tmp_path / "docs" / "tutorial.ipynb"
    copy.parent.mkdir()
    shutil.copy(TUTORIAL, copy)
    out = tmp_path / "out"
    monkeypatch.setenv("LUXSIM_TUTORIAL_OUT", str(out))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's code, not another installed copy of it
    results_before = outside_other_tests(ROOT / "results")

    nb = nbformat.read(copy, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys, sim\nprint(sys.executable)\nprint(sim.__file__)"))
    NotebookClient(nb, kernel_name="python3", timeout=HANG_GUARD_S,
                   resources={"metadata": {"path": str(copy.parent)}}).execute()

    executable, module = nb.cells[-1].outputs[0]["text"].split()
    assert Path(executable) == Path(sys.executable)
    assert Path(module).resolve() == ROOT / "sim" / "__init__.py"
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert not errors
    assert (out / "flagship" / "brand_year.parquet").is_file()
    assert outside_other_tests(ROOT / "results") == results_before


def outside_other_tests(results):
    """Everything under results/ but the folders other tests write there while this one runs (pytest -n 2 runs them
    side by side): test_* (a run without --out, by design into results/) and test-artifacts (the browser test)."""
    return sorted(p for p in results.glob("**/*") if not p.relative_to(results).parts[0].startswith(("test_", "test-")))

