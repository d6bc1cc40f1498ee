"""analysis.ipynb: a notebook (nbformat 4) that loads the run from the store into pandas,
reproduces the report's tables from the trials, re-runs the analysis and plots the means.

It runs top to bottom in a kernel that has pytest-crucible installed; `CRUCIBLE_STORE`
points it at a copy of the store elsewhere. matplotlib is optional (the plot cell says so).
"""

from __future__ import annotations

import importlib
from typing import Any

from pytest_crucible.review.reports._report_data import RunData
from pytest_crucible.store.locations import is_database_url, without_password

__all__ = ["render_notebook"]

_LOAD = """\
import contextlib
import os

import pandas as pd

import pytest_crucible as crucible
from pytest_crucible.store import open_store

RUN_ID = {run_id}
{password_note}STORE = os.environ.get("CRUCIBLE_STORE", {store})

trials = crucible.load_trials(RUN_ID, store=STORE)
with contextlib.closing(open_store(STORE, readonly=True)) as store:
    run = store.run_record(RUN_ID)
header, analysis = run.header, run.analysis
METRICS = [m["name"] for m in analysis["metrics"]]
print(f"{{len(trials):,}} trials, metrics {{METRICS}}")
trials.head()"""

_PASSWORD_NOTE = (
    "# the store's password is not kept here: set PGPASSWORD (or ~/.pgpass) before running,\n"
    "# or CRUCIBLE_STORE to the full postgresql:// URL\n"
)

_STORED_CONDITIONS = """\
conditions = pd.DataFrame(
    [
        {
            "metric": m["name"],
            "condition": c["condition"],
            "items": c["n_items"],
            "trials": c["n_trials"],
            "failed": c["n_failed"],
            "mean": c["mean"],
            "ci_low": c["ci"][0],
            "ci_high": c["ci"][1],
        }
        for m in analysis["metrics"]
        for c in m["conditions"]
    ]
)
conditions"""

_RECOMPUTE = """\
passed = trials[trials["status"] == "passed"]
present = [m for m in METRICS if m in passed.columns]
per_item = passed.groupby(["condition", "item_id"])[present].mean()  # repeats averaged
recomputed = per_item.groupby("condition").mean()
for _, row in conditions.dropna(subset=["mean"]).iterrows():
    value = recomputed.loc[row["condition"], row["metric"]]
    assert abs(value - row["mean"]) <= 1e-9 * max(1.0, abs(value)), (row, value)
print("every stored condition mean matches the trials")
recomputed"""

_STORED_AGGREGATES = """\
# percentiles and pass@K declared with Metric(aggregate=...), and the cost per trial and per
# correct answer, each with a bootstrap interval over items (absent from older analyses)
aggregates = pd.DataFrame(
    [
        {
            "aggregate": a["label"],
            "condition": a["condition"],
            "estimate": a["estimate"],
            "ci_low": a["ci"][0],
            "ci_high": a["ci"][1],
        }
        for a in [x for m in analysis["metrics"] for x in m.get("aggregates", [])]
        + list(analysis.get("costs", []))
    ],
    columns=["aggregate", "condition", "estimate", "ci_low", "ci_high"],
)
# why an aggregate has no value (e.g. pass@K over fewer than K repeats of an item)
for note in dict.fromkeys(
    note
    for m in analysis["metrics"]
    for a in m.get("aggregates", [])
    if a["estimate"] is None
    for note in a.get("notes", [])
):
    print("note:", note)
aggregates"""

_STORED_COMPARISONS = """\
comparisons = pd.DataFrame(
    [
        {
            "metric": r["metric"],
            "condition": r["condition"],
            "other": r["other"],
            "difference": r["result"]["estimate"],
            "ci_low": r["result"]["ci"][0],
            "ci_high": r["result"]["ci"][1],
            "test": r["result"]["method"],
            "p": r["result"]["p_value"],
            "p_adj": r["p_adjusted"],
            "direction": r["direction"],
        }
        for m in analysis["metrics"]
        for r in m["comparisons"]
    ]
)
comparisons"""

_RERUN = """\
from pytest_crucible.review.analysis import analyze, format_analysis
from pytest_crucible.declare.metrics import Analysis, Metric

declared = header.get("metrics") or {}
rerun = analyze(
    trials,
    conditions=analysis["conditions"],
    baseline=analysis["baseline"],
    metrics={name: Metric(**declared.get(name, {})) for name in METRICS if name in trials},
    settings=Analysis(**analysis["settings"]),
)
print(format_analysis(rerun))"""

_PLOT = """\
try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
    print("matplotlib is not installed (pip install matplotlib): no plots")
if plt is not None:
    for name, table in conditions.dropna(subset=["mean"]).groupby("metric", sort=False):
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(table) + 1))
        errors = [table["mean"] - table["ci_low"], table["ci_high"] - table["mean"]]
        ax.errorbar(table["mean"], table["condition"], xerr=errors, fmt="o", capsize=4)
        ax.set_xlabel(f"{name}: mean with CI")
        plt.show()"""


def _load_cell(run: RunData) -> str:
    """The code that loads the run: a database URL without its password, which libpq then
    takes from PGPASSWORD or ~/.pgpass (a notebook is shared: it never holds the password)."""
    location = run.store_location
    note = _PASSWORD_NOTE if is_database_url(location) else ""
    store = _py(without_password(location))
    return _LOAD.format(run_id=_py(run.run_id), store=store, password_note=note)


def render_notebook(run: RunData) -> str:
    """The notebook as JSON text."""
    nbformat: Any = importlib.import_module("nbformat")  # untyped
    nbf: Any = importlib.import_module("nbformat.v4")

    cells = [
        nbf.new_markdown_cell(
            f"# {_md(run.experiment)}: run {run.run_id}\n\n"
            "This notebook loads the run from the pytest-crucible store into pandas and "
            "reproduces the tables of `report.html`. Set the environment variable "
            "`CRUCIBLE_STORE` to read a copy of the store kept elsewhere."
        ),
        nbf.new_code_cell(_load_cell(run)),
        nbf.new_markdown_cell("## Conditions, as stored with the run"),
        nbf.new_code_cell(_STORED_CONDITIONS),
        nbf.new_markdown_cell(
            "The same means from the trials: passed trials, repeats averaged within each "
            "item, then the mean over items."
        ),
        nbf.new_code_cell(_RECOMPUTE),
        nbf.new_markdown_cell("## Aggregates beyond the mean (percentiles, pass@K, costs)"),
        nbf.new_code_cell(_STORED_AGGREGATES),
        nbf.new_markdown_cell("## Paired comparisons, as stored with the run"),
        nbf.new_code_cell(_STORED_COMPARISONS),
        nbf.new_markdown_cell("## The analysis, run again from the trials"),
        nbf.new_code_cell(_RERUN),
        nbf.new_markdown_cell("## Condition means with confidence intervals"),
        nbf.new_code_cell(_PLOT),
    ]
    notebook = nbf.new_notebook(cells=cells, metadata=_metadata())
    return str(nbformat.writes(notebook))


def _metadata() -> dict[str, Any]:
    return {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }


def _py(text: str) -> str:
    """A Python string literal."""
    return repr(text)


def _md(text: str) -> str:
    from pytest_crucible.review.reports._safe import md_cell

    return md_cell(text)
