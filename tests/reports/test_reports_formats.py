"""write_reports: the files, Markdown, LaTeX and the exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from e2e_support import sql
from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.reports import FORMATS, ReportError, parse_formats, write_reports
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.sqlite import Store

RunFactory = Callable[..., tuple[Store, str]]

EXPORTS = [
    "results.csv",
    "results.jsonl",
    "results.parquet",
    "analysis.json",
    "config.json",
    "environment.json",
    "dataset.jsonl",
]


def test_every_format_and_export_is_written(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    out = tmp_path / "out" / "nested"
    paths = write_reports(store, run_id, out)
    names = [p.name for p in paths]
    assert names == [
        *EXPORTS,
        "report.html",
        "report.md",
        "report.tex",
        "analysis.ipynb",
        "summary.html",
        "README.md",
        "manifest.json",
    ]
    assert all(p.parent == out and p.stat().st_size > 0 for p in paths)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_id"] == run_id and manifest["dataset_fingerprint"] == "d" * 16
    assert set(manifest["files"]) == set(names[:-1])
    assert len(manifest["files"]["report.md"]["sha256"]) == 64


def test_formats_choose_the_reports_but_exports_always_come(
    run: tuple[Store, str], tmp_path: Path
) -> None:
    store, run_id = run
    names = [p.name for p in write_reports(store, run_id, tmp_path, ["md"])]
    assert "report.md" in names and "report.html" not in names and "results.csv" in names
    assert [p.name for p in write_reports(store, run_id, tmp_path / "none", [])][-1] == (
        "manifest.json"
    )


def test_parse_formats() -> None:
    assert parse_formats("ipynb, HTML,markdown") == ["html", "md", "ipynb"]
    assert parse_formats("all") == list(FORMATS) and parse_formats("none") == []
    assert parse_formats(["latex", "tex"]) == ["tex"]
    with pytest.raises(ReportError, match=r"'pdf' is unknown; choose from html, md, tex, ipynb"):
        parse_formats("html,pdf")
    assert issubclass(ReportError, CrucibleError)


def test_unknown_run_names_the_known_ones(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    with pytest.raises(ReportError, match=f"no run 'nope'; runs: {run_id}"):
        write_reports(store, "nope", tmp_path)


def test_a_run_without_analysis_is_analysed_and_stored(
    run: tuple[Store, str], tmp_path: Path
) -> None:
    store, run_id = run
    assert sql(store.path, "SELECT analysis FROM runs")[0][0] is None
    write_reports(store, run_id, tmp_path, ["md"])
    stored = json.loads(sql(store.path, "SELECT analysis FROM runs")[0][0])
    assert stored == json.loads((tmp_path / "analysis.json").read_text())
    assert stored["baseline"] == "terse" and [m["name"] for m in stored["metrics"]] == [
        "correct",
        "latency_s",
    ]
    readonly = Store(store.path, readonly=True)
    assert write_reports(readonly, run_id, tmp_path / "again", ["md"])  # stored: no write


def test_read_only_store_without_analysis_says_what_to_do(
    run: tuple[Store, str], tmp_path: Path
) -> None:
    store, run_id = run
    readonly = Store(store.path, readonly=True)
    with pytest.raises(ReportError, match=f"crucible analyse {run_id}"):
        write_reports(readonly, run_id, tmp_path)


def test_markdown_summary(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path, ["md"])
    text = (tmp_path / "report.md").read_text()
    assert text.startswith(f"## capitals: run {run_id}\n")
    assert "### Conclusions" in text and "few\\_shot is better than terse on correct" in text
    assert "| condition | items | trials | failed | mean | 95% CI |" in text
    assert "| terse (baseline) | 12 | 24 | 0 |" in text
    assert "| few\\_shot − terse |" in text
    # cost per point: few_shot costs $0.001 more per trial than terse
    assert "per 1,000 trials for each percentage point of correct gained over terse" in text
    assert "<details><summary>1 failed trial(s)</summary>" in text
    assert "TimeoutError: model timed out" in text
    assert len(text) < 65_536


def test_markdown_escapes_names(make_run: RunFactory, tmp_path: Path) -> None:
    store, run_id = make_run(conditions=("a|b", "<c>"), baseline="a|b")
    write_reports(store, run_id, tmp_path, ["md"])
    text = (tmp_path / "report.md").read_text()
    assert "| a\\|b (baseline) |" in text and "&lt;c&gt;" in text and "<c>" not in text


def test_latex_tables(make_run: RunFactory, tmp_path: Path) -> None:
    store, run_id = make_run(conditions=("terse", "few_shot & 50%"))
    write_reports(store, run_id, tmp_path, ["tex"])
    text = (tmp_path / "report.tex").read_text()
    # conditions, comparisons, and the aggregates (the trials have a cost)
    assert text.count("\\toprule") == 3 and text.count("\\bottomrule") == 3
    assert "Condition & cost per trial (\\$) & cost per correct correct (\\$) \\\\" in text
    assert "few\\_shot \\& 50\\%" in text and "few_shot & 50%" not in text
    assert "Condition & correct $\\uparrow$ & latency\\_s $\\downarrow$ \\\\" in text
    assert "\\begin{tabular}{lrr}" in text and "\\label{tab:capitals-" in text
    assert "$^{*}$" in text  # few_shot is significantly better on correct
    assert "\\documentclass" not in text  # a fragment for \input


def test_csv_export(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path, [])
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 48 and rows[0]["run_id"] == run_id
    formula = next(r["output"] for r in rows if r["item_id"] == "item-2")
    assert formula == '{"text": "=1+1", "tokens": [1, 2]}'
    assert all(not r["output"].startswith(("=", "+", "-", "@")) for r in rows)
    assert {float(r["correct"]) for r in rows if r["correct"]} == {0.0, 1.0}


def test_csv_neutralises_formula_text(make_run: RunFactory, tmp_path: Path) -> None:
    store, run_id = make_run(conditions=("=cmd", "+x"), baseline="=cmd")
    write_reports(store, run_id, tmp_path, [])
    frame = pd.read_csv(tmp_path / "results.csv")
    assert set(frame["condition"]) == {"'=cmd", "'+x"}


def test_jsonl_parquet_and_dataset(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path, [])
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(lines) == 48 and lines[0]["run_id"] == run_id
    assert isinstance(lines[0]["metrics"]["correct"], bool)  # as recorded, not as a float
    assert {line["status"] for line in lines} == {"passed", "failed"}
    failed = next(line for line in lines if line["status"] == "failed")
    assert failed["error"]["type"] == "TimeoutError" and failed["cost_usd"] is not None
    parquet = pd.read_parquet(tmp_path / "results.parquet")
    assert len(parquet) == 48 and "correct" in parquet.columns
    items = [json.loads(line) for line in (tmp_path / "dataset.jsonl").read_text().splitlines()]
    assert [i["item_id"] for i in items] == [f"item-{i}" for i in range(12)]
    assert items[0]["input"] == {"question": "capital 0?"} and items[0]["expected"] == "Paris"
    assert json.loads((tmp_path / "config.json").read_text())["temperature"] == 0.7
    assert json.loads((tmp_path / "environment.json").read_text())["python"] == "3.11.7"
    readme = (tmp_path / "README.md").read_text()
    assert "--crucible-seed 42" in readme and "--crucible-set temperature=0.7" in readme
    assert "abc1234" in readme and "d" * 16 in readme


def test_runs_without_costs_or_baseline(make_run: RunFactory, tmp_path: Path) -> None:
    store, run_id = make_run(conditions=("a", "b", "c"), baseline=None, costs=False)
    write_reports(store, run_id, tmp_path, ["md", "tex", "html"])
    text = (tmp_path / "report.md").read_text()
    assert "Cost and latency" not in text and "| a − b |" in text and "| b − c |" in text
    assert "Omnibus:" in text


def _bare_run(tmp_path: Path, trials: list[dict[str, Any]], builders: Any) -> tuple[Store, str]:
    store = Store(tmp_path / "bare.db")
    run_id = store.create_run(builders.header("bare", ["a", "b"], 3, 1, "a"), {})
    for result in trials:
        store.record_trial(run_id, TrialRecord.from_json(result), "main")
    return store, run_id


_CASES: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "no trials": [],
    "all failed": [("a", {"status": "failed"}), ("b", {"status": "failed"})],
    "one item": [("a", {}), ("b", {})],
    "NaN output": [("a", {"output": float("nan")}), ("b", {})],
}


@pytest.mark.parametrize("case", list(_CASES))
def test_degenerate_runs_still_get_every_report(case: str, builders: Any, tmp_path: Path) -> None:
    trials = [
        {**builders.trial(c, "i", 0, correct=True, latency=0.1, cost=None, output="x"), **changes}
        for c, changes in _CASES[case]
    ]
    store, run_id = _bare_run(tmp_path, trials, builders)
    paths = write_reports(store, run_id, tmp_path / "out")
    assert len(paths) == 14, case
    text = (tmp_path / "out" / "report.md").read_text()
    assert f"{len(trials)} of 6 stored" in text and "running" in text
    for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in strict JSON"))
    if case == "all failed":
        assert "| b − a | n/a | [n/a, n/a] |" in text and "no test" in text


def test_cost_per_point_in_words() -> None:
    from pytest_crucible.review.reports._content import ComparisonView, MetricView
    from pytest_crucible.review.reports._costs import _per_point

    metric = MetricView("correct", "binary", True, False, "", (), (), None, "", ())
    score = MetricView("score", "continuous", False, False, "", (), (), None, "", ())

    def row(estimate: float, significant: bool = True) -> ComparisonView:
        return ComparisonView(
            "b", "a", 10, estimate, 0.0, 0.2, "", "", 0.01, 0.01, significant, "better", "*", ""
        )

    assert _per_point(metric, row(0.10), 0.002) == (
        "$0.2 per 1,000 trials for each percentage point of correct gained over a "
        "(+10 percentage points of correct, for $0.002 more per trial)"
    )
    assert _per_point(score, row(0.5, False), 0.001) == (
        "$2.00 per 1,000 trials for each unit of score gained over a "
        "(+0.5 units of score, not significant, for $0.001 more per trial)"
    )
    assert _per_point(metric, row(0.05), -0.001) == (
        "+5 percentage points of correct over a, for $0.001 less per trial"
    )
    assert _per_point(metric, row(-0.02), 0.0) == (
        "no gain over a (-2 percentage points of correct); the same cost per trial"
    )


def test_answers_cut_at_max_tokens_and_replayed_answers_are_noted(
    builders: Any, tmp_path: Path
) -> None:
    store = Store(tmp_path / "crucible.db")
    run_id = store.create_run(builders.header("cut", ["terse", "few_shot"], 3, 1, "terse"), {})
    for condition in ("terse", "few_shot"):
        for index in range(3):
            result = builders.trial(
                condition, f"item-{index}", 0, correct=True, latency=0.5, cost=None, output="Paris"
            )
            cut = int(condition == "few_shot" and index < 2)
            result["usage"] |= {"model_calls": 2, "cache_hits": 2, "truncated": cut}
            result["usage"]["truncated_at"] = 16 if cut else None
            store.record_trial(run_id, TrialRecord.from_json(result), "main")
    store.finish_run(run_id, "completed")
    write_reports(store, run_id, tmp_path, ["md"])
    text = (tmp_path / "report.md").read_text()
    assert "Warning: few\\_shot: 2 of 6 model answers were cut at max\\_tokens=16" in text
    assert "Warning: terse" not in text
    assert "- terse: 6 of 6 model answers came from the recording; their latency" in text
