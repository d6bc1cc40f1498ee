"""Gate verdicts stored with a run appear in report.md and report.html, escaped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_crucible.review.analyse_run import analyse_run
from pytest_crucible.review.reports import write_reports
from pytest_crucible.store.sqlite import Store

RunFactory = Callable[..., tuple[Store, str]]

GATES: list[dict[str, Any]] = [
    {
        "name": "few_shot.correct.mean >= 0.5",
        "status": "PASS",
        "passed": True,
        "verdict": "pass",
        "explanation": "0.8 >= 0.5 (mean of 12 items)",
        "test": "threshold on the mean",
        "observed": 0.8,
        "threshold": 0.5,
        "p_value": None,
        "warning": None,
        "details": {},
    },
    {
        "name": "terse.latency_s.mean < 0.1",
        "status": "FAIL",
        "passed": False,
        "verdict": "fail",
        "explanation": "0.7 >= 0.1 | slow",
        "test": "threshold on the mean",
        "observed": 0.7,
        "threshold": 0.1,
        "p_value": None,
        "warning": "<script>alert(1)</script> 1 failed trial set aside",
        "details": {"n": 12},
    },
]


def _reports(make_run: RunFactory, tmp_path: Path, gates: list[dict[str, Any]]) -> tuple[str, str]:
    store, run_id = make_run()
    analysis = analyse_run(store, run_id)
    store.save_analysis(run_id, {**analysis.to_dict(), "gates": gates})
    out = tmp_path / "out"
    write_reports(store, run_id, out, ["md", "html"])
    return (
        (out / "report.md").read_text(encoding="utf-8"),
        (out / "report.html").read_text(encoding="utf-8"),
    )


def test_gates_in_markdown(make_run: RunFactory, tmp_path: Path) -> None:
    markdown, _ = _reports(make_run, tmp_path, GATES)
    assert "### Gates" in markdown
    section = markdown.split("### Gates", 1)[1].split("### Conclusions", 1)[0]
    assert section.lstrip().startswith("1 passed, 1 failed")
    assert "| status | gate | explanation | test |" in section
    assert (
        "| **PASS** | few\\_shot.correct.mean &gt;= 0.5 | 0.8 &gt;= 0.5 (mean of 12 items)"
        " | threshold on the mean |" in section
    )
    assert (
        "| **FAIL** | terse.latency\\_s.mean &lt; 0.1 | 0.7 &gt;= 0.1 \\| slow"
        " | threshold on the mean |" in section
    )
    assert (
        "- terse.latency\\_s.mean &lt; 0.1: &lt;script&gt;alert(1)&lt;/script&gt;"
        " 1 failed trial set aside" in section
    )
    assert "<script>" not in markdown
    assert markdown.index("### Gates") < markdown.index("### Conclusions")


def test_gates_in_html(make_run: RunFactory, tmp_path: Path) -> None:
    _, html = _reports(make_run, tmp_path, GATES)
    assert '<a href="#gates">Gates</a>' in html
    section = html.split('<h3 id="gates">Gates</h3>', 1)[1].split("<h3>Conclusions</h3>", 1)[0]
    assert "1 passed, 1 failed" in section
    assert '<td class="gate-pass sig">PASS</td><td>few_shot.correct.mean &gt;= 0.5</td>' in section
    assert '<td class="gate-fail worse">FAIL</td><td>terse.latency_s.mean &lt; 0.1</td>' in section
    assert "<td>0.8 &gt;= 0.5 (mean of 12 items)</td><td>threshold on the mean</td>" in section
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 1 failed trial set aside" in section
    assert "<script>alert(1)" not in html
    assert html.index('id="gates"') < html.index("<h3>Conclusions</h3>")


def test_no_gates_no_section(make_run: RunFactory, tmp_path: Path) -> None:
    markdown, html = _reports(make_run, tmp_path, [])
    assert "Gates" not in markdown
    assert "passed, 0 failed" not in markdown
    assert 'id="gates"' not in html
    assert 'href="#gates"' not in html
    assert "gate-pass" not in html and "gate-fail" not in html


def test_run_without_gates_key(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    write_reports(store, run_id, tmp_path / "out", ["md", "html"])
    assert "### Gates" not in (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert 'id="gates"' not in (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
