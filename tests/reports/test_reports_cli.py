"""`crucible report RUN_ID`: reports for any stored run from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_crucible.cli import main
from pytest_crucible.store.sqlite import Store


def test_report_command_writes_the_default_folder(
    run: tuple[Store, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, run_id = run
    monkeypatch.chdir(tmp_path)
    assert main(["--store", str(store.path), "report", run_id, "--formats", "md,tex"]) == 0
    out = tmp_path / "crucible-results" / "capitals" / run_id
    assert (out / "report.md").exists() and (out / "report.tex").exists()
    assert not (out / "report.html").exists() and (out / "results.csv").exists()
    printed = capsys.readouterr().out
    assert f"for run {run_id} to crucible-results/capitals/{run_id}/" in printed
    assert "  report.md\n" in printed


def test_report_command_latest_and_output(run: tuple[Store, str], tmp_path: Path) -> None:
    store, run_id = run
    target = tmp_path / "mine"
    assert main(["--store", str(store.path), "report", "latest", "--output", str(target)]) == 0
    assert {p.name for p in target.iterdir()} >= {"report.html", "analysis.ipynb", "README.md"}
    assert f"run {run_id}" in (target / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "nope"], "has no run 'nope'; runs: "),
        (["report", "latest", "--formats", "html,docx"], "'docx' is unknown"),
        (["--store", "missing.db", "report", "latest"], "missing.db does not exist"),
    ],
)
def test_report_command_errors(
    run: tuple[Store, str],
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, _ = run
    monkeypatch.chdir(tmp_path)
    argv = args if args[0] == "--store" else ["--store", str(store.path), *args]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "crucible-results").exists()
