"""analysis.ipynb: valid nbformat 4, and it runs top to bottom in a real kernel."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from pytest_crucible.review.reports import write_reports
from pytest_crucible.review.reports._report_data import load_run
from pytest_crucible.review.reports.notebook import render_notebook
from pytest_crucible.store.locations import masked
from pytest_crucible.store.sqlite import Store


def _outputs(notebook: Any) -> str:
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(texts)


def _execute(notebook: Any, folder: Path) -> None:
    """Run every cell in a real python3 kernel, in `folder` (where the report was written)."""
    NotebookClient(
        notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()


def test_notebook_runs_top_to_bottom(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path, ["ipynb"])
    notebook = nbformat.read(tmp_path / "analysis.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert f"RUN_ID = '{run_id}'" in notebook.cells[1].source
    _execute(notebook, tmp_path)
    text = _outputs(notebook)
    assert "48 trials, metrics ['correct', 'latency_s']" in text
    assert "every stored condition mean matches the trials" in text
    assert "crucible analysis: 2 conditions, 12 items, vs terse" in text
    assert "few_shot" in text and "terse" in text  # the tables were displayed
    assert not [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]


def test_notebook_reads_another_store_copy(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path, ["ipynb"])
    notebook = json.loads((tmp_path / "analysis.ipynb").read_text())
    source = "".join(notebook["cells"][1]["source"])
    assert 'os.environ.get("CRUCIBLE_STORE", ' + repr(str(store.path.resolve())) in source


def test_notebook_with_a_quote_in_the_store_path(make_run: Any, tmp_path: Path) -> None:
    folder = tmp_path / 'it\'s "here"'
    folder.mkdir()
    store, run_id = make_run(items=4, repeats=1, store_path=folder / "s.db")
    write_reports(store, run_id, tmp_path / "out", ["ipynb"])
    notebook = nbformat.read(tmp_path / "out" / "analysis.ipynb", as_version=4)
    compile(notebook.cells[1].source, "cell", "exec")  # still valid Python
    with pytest.raises(SyntaxError):
        compile("STORE = '" + str(folder) + "'", "cell", "exec")  # naive quoting would break


def test_notebook_of_a_database_store_loads_it_without_its_password(
    run: tuple[Store, str],
) -> None:
    """The notebook is shared: a database URL goes in without its password, which libpq
    then takes from PGPASSWORD or ~/.pgpass, as the cell says (issue 17)."""
    store, run_id = run
    url = "postgresql://lab:hunter2-Zq8@db.example:5432/results?sslmode=require"
    data = dataclasses.replace(load_run(store, run_id), store_location=masked(url))
    source = json.loads(render_notebook(data))["cells"][1]["source"]
    text = "".join(source)
    assert "hunter2" not in text and "***" not in text
    expected = "'postgresql://lab@db.example:5432/results?sslmode=require'"
    assert f'STORE = os.environ.get("CRUCIBLE_STORE", {expected})' in text
    assert "set PGPASSWORD (or ~/.pgpass)" in text
    compile(text, "cell", "exec")


def test_notebook_says_why_an_aggregate_has_no_value(make_run: Any, tmp_path: Path) -> None:
    """pass@2 declared, one repeat run: the notebook prints why, as the other reports do."""
    store, run_id = make_run(aggregates={"correct": ["pass@2"]}, repeats=1, failures=0)
    write_reports(store, run_id, tmp_path, ["ipynb"])
    notebook = nbformat.read(tmp_path / "analysis.ipynb", as_version=4)
    _execute(notebook, tmp_path)
    text = _outputs(notebook)
    for condition in ("terse", "few_shot"):
        why = (
            f"note: correct pass@2 of {condition}, counting passed trials only: pass@2 needs "
            "at least 2 repeats per item; 12 of 12 items have fewer (as few as 1)"
        )
        assert text.count(why) == 1, (condition, text[-3000:])
