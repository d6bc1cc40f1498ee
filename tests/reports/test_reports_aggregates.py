"""Every report format shows the declared aggregates and the costs, with their intervals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_crucible.review.reports import write_reports
from pytest_crucible.store.sqlite import Store

RunFactory = Callable[..., tuple[Store, str]]

AGGREGATES = {"correct": ["mean", "pass@2"], "latency_s": ["p50", "p95"]}
COLUMNS = ("correct pass@2", "latency_s p50", "latency_s p95", "cost per trial ($)")


def test_every_format_carries_the_aggregates(make_run: RunFactory, tmp_path: Path) -> None:
    store, run_id = make_run(aggregates=AGGREGATES, failures=0)
    out = tmp_path / "out"
    write_reports(store, run_id, out, ["md", "html", "tex", "ipynb"])
    analysis = json.loads((out / "analysis.json").read_text())
    stored = {(a["label"], a["condition"]): a for m in analysis["metrics"] for a in m["aggregates"]}
    stored |= {(f"{c['label']} ($)", c["condition"]): c for c in analysis["costs"]}
    assert {label for label, _ in stored} == {*COLUMNS, "cost per correct correct ($)"}
    for entry in stored.values():
        low, high = entry["ci"]
        assert low <= entry["estimate"] <= high, entry
    # terse costs $0.001 a trial, few_shot $0.002 (tests/reports/conftest.py)
    assert stored[("cost per trial ($)", "terse")]["estimate"] == pytest.approx(0.001)
    assert stored[("cost per trial ($)", "few_shot")]["estimate"] == pytest.approx(0.002)

    markdown = (out / "report.md").read_text().replace("\\", "")
    html = (out / "report.html").read_text()
    latex = (out / "report.tex").read_text().replace("\\", "")
    notebook = (out / "analysis.ipynb").read_text()
    assert '<table id="aggregates">' in html and "### Aggregates" in markdown
    for column in COLUMNS:
        assert f"{column} [95% CI]" in markdown and f"{column} [95% CI]" in html, column
        assert column in latex, column
    assert 'analysis.get(\\"costs\\", [])' in notebook


def test_pass_at_k_with_too_few_repeats_of_an_item_is_undefined_with_a_note(
    make_run: RunFactory, tmp_path: Path
) -> None:
    # one failed trial leaves an item of few_shot with a single passed repeat: pass@2 needs 2
    store, run_id = make_run(aggregates={"correct": ["pass@2"]}, failures=1)
    write_reports(store, run_id, tmp_path, ["md"])
    analysis = json.loads((tmp_path / "analysis.json").read_text())
    (metric,) = [m for m in analysis["metrics"] if m["name"] == "correct"]
    by_condition = {a["condition"]: a for a in metric["aggregates"]}
    assert by_condition["few_shot"]["estimate"] is None
    assert by_condition["terse"]["estimate"] is not None
    markdown = (tmp_path / "report.md").read_text().replace("\\", "")
    why = "counting passed trials only: pass@2 needs at least 2 repeats per item; 1 of 12 items"
    assert f"correct pass@2 of few_shot, {why} has fewer (as few as 1)" in markdown


def test_a_run_with_fewer_repeats_than_pass_at_k_says_why_once_in_every_report(
    make_run: RunFactory, tmp_path: Path
) -> None:
    """As a run with --crucible-repeats=1 under a declared pass@2: every cell of pass@2 is
    "-", and one note per condition says why, once, under the table of each report."""
    from pytest_crucible.review.analyse_run import analyse_run
    from pytest_crucible.review.stored_run import load_stored_run
    from pytest_crucible.review.summary import run_summary

    store, run_id = make_run(aggregates={"correct": ["pass@2"]}, repeats=1, failures=0)
    write_reports(store, run_id, tmp_path, ["md", "html", "tex"])
    loaded = load_stored_run(store, run_id)
    reports = {
        "the results table": run_summary(loaded, analyse_run(store, run_id, loaded)),
        "report.md": (tmp_path / "report.md").read_text().replace("\\", ""),
        "report.html": (tmp_path / "report.html").read_text(),
        "report.tex": (tmp_path / "report.tex").read_text().replace("\\", ""),
    }
    for condition in ("terse", "few_shot"):
        why = (
            f"correct pass@2 of {condition}, counting passed trials only: pass@2 needs at "
            "least 2 repeats per item; 12 of 12 items have fewer (as few as 1)"
        )
        for name, text in reports.items():
            assert text.count(why) == 1, (name, condition)
    rows = reports["the results table"].splitlines()[3:5]  # under the headers and the rule
    assert [row.split()[0] for row in rows] == ["terse", "few_shot"]
    assert all(" - " in row.split("]", 2)[2] for row in rows), rows  # pass@2 after the means
