"""The `crucible` command (issue 16, point 6), run as a user runs it: a subprocess of the
installed script against stores that real pytest runs wrote."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from e2e_support import sql, store_exists, store_location, store_path
from pytest_crucible import load_trials

CRUCIBLE = Path(sys.executable).parent / "crucible"
_TIMEOUT = 300  # seconds: generous, the machine is shared

# Ten items, two conditions. CLI_BROKEN=1 makes half the items wrong (a regression the paired
# test shows); CLI_OFFSET moves the item ids (no item shared with a run without it).
EXPERIMENT = """
import os
import pytest_crucible as crucible

BROKEN = os.environ.get("CLI_BROKEN") == "1"
OFFSET = int(os.environ.get("CLI_OFFSET", "0"))

def plain(text):
    return text.upper()

def careful(text):
    return text.upper().strip()

clidemo = crucible.Experiment(
    name="clidemo",
    dataset=[
        {"id": f"q{i + OFFSET}", "input": f"item {i}", "expected": f"ITEM {i}"}
        for i in range(10)
    ],
    conditions={"plain": plain, "careful": careful},
    baseline="plain",
    metrics={"correct": crucible.Metric(kind="binary"), "length": crucible.Metric()},
    gates=["careful.correct.mean >= 0.9"],
    seed=3,
)

@clidemo.trial
def test_clidemo(condition, item, trial):
    answer = condition(item.input)
    wrong = BROKEN and int(item.id[1:]) % 2 == 0
    trial.record(correct=answer == item.expected and not wrong, length=len(answer))
"""

OTHER = """
import pytest_crucible as crucible

other = crucible.Experiment(
    name="other",
    dataset=[{"id": "q0", "input": "a"}, {"id": "q1", "input": "b"}],
    conditions={"plain": str.upper},
    metrics={"correct": crucible.Metric(kind="binary")},
)

@other.trial
def test_other(condition, item, trial):
    trial.record(correct=condition(item.input) == item.input.upper())
"""


def crucible(
    *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The installed `crucible` script, as a shell runs it (CRUCIBLE_STORE unset unless
    given, or a database URL the `store_backend` fixture set, as a team's shell would)."""
    environment = {
        k: v
        for k, v in os.environ.items()
        if k != "CRUCIBLE_STORE" or v.startswith("postgresql://")
    }
    return subprocess.run(
        [str(CRUCIBLE), *map(str, args)],
        cwd=cwd,
        env={**environment, **(env or {})},
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )


def run_experiment(pytester: pytest.Pytester, *args: str) -> str:
    """One real pytest session of the experiments in pytester.path; the new run's id."""
    before = _run_ids(pytester)
    pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", *args, timeout=_TIMEOUT
    )
    (new,) = [run_id for run_id in _run_ids(pytester) if run_id not in before]
    return new


def _run_ids(pytester: pytest.Pytester) -> list[str]:
    if not store_exists(pytester):
        return []
    return [row["run_id"] for row in sql(store_location(pytester), "SELECT run_id FROM runs")]


def assert_clean_error(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    """Exit 2 and one line on stderr that starts with `crucible:`, no traceback."""
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("crucible: "), result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]


def test_version_names_the_package_python_and_pytest(tmp_path: Path) -> None:
    result = crucible("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    from importlib.metadata import version

    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"pytest-crucible {version('pytest-crucible')} (")
    assert f"Python {sys.version.split()[0]}" in result.stdout
    assert f"pytest {pytest.__version__}" in lines


def test_the_store_option_goes_before_or_after_the_subcommand_and_has_defaults(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_clidemo=EXPERIMENT)
    run_id = run_experiment(pytester)
    store = store_path(pytester)
    elsewhere = pytester.mkdir("elsewhere")
    listed = f"{run_id}  clidemo"
    for args in (["runs", "--store", store], ["--store", store, "runs"]):
        result = crucible(*args, cwd=elsewhere)
        assert result.returncode == 0 and listed in result.stdout, result.stderr
    after = crucible("export", run_id, "--store", store, "--format", "jsonl", cwd=elsewhere)
    assert after.returncode == 0 and len(after.stdout.splitlines()) == 20, after.stderr
    # the plugin's default store, relative to the current directory
    assert listed in crucible("runs", cwd=pytester.path).stdout
    # CRUCIBLE_STORE, absolute or relative to the current directory; --store wins over it
    for value in (str(store), "../.crucible/crucible.db"):
        result = crucible("runs", cwd=elsewhere, env={"CRUCIBLE_STORE": value})
        assert result.returncode == 0 and listed in result.stdout, result.stderr
    wrong_env = {"CRUCIBLE_STORE": "nowhere.db"}
    assert listed in crucible("runs", "--store", store, cwd=elsewhere, env=wrong_env).stdout
    assert_clean_error(
        crucible("runs", cwd=elsewhere, env=wrong_env),
        "store nowhere.db does not exist ($CRUCIBLE_STORE, relative to the current directory",
    )
    # run from a subfolder of the project: the default store is not there; say where it is
    assert_clean_error(
        crucible("show", "latest", cwd=elsewhere), f"a store exists at {store}: read it with"
    )
    help_text = " ".join(crucible("runs", "--help", cwd=elsewhere).stdout.split())
    assert "CRUCIBLE_STORE" in help_text and "relative to the current directory" in help_text


def test_show_prints_the_run_summary_of_the_session_end(
    pytester: pytest.Pytester, store_backend: str
) -> None:
    pytester.makepyfile(test_clidemo=EXPERIMENT)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q"], cwd=pytester.path, check=True, timeout=60)
    subprocess.run([*git, "add", "-A"], cwd=pytester.path, check=True, timeout=60)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=pytester.path, check=True, timeout=60)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=pytester.path, capture_output=True, text=True
    ).stdout.strip()
    run_id = run_experiment(pytester)
    stored = sql(store_location(pytester), "SELECT analysis FROM runs")[0]["analysis"]
    for ref in (run_id, run_id[:3], "latest", "latest:clidemo"):
        result = crucible("show", ref, cwd=pytester.path)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == f"run {run_id} of experiment clidemo"
        assert "  status    completed" in lines
        assert any(line.startswith("  started   20") for line in lines)
        assert any(line.startswith("  duration  ") and "(ended 20" in line for line in lines)
        assert any(line.startswith(f"  git       {commit[:12]}") for line in lines)
        assert "  trials    20 of 20 stored: 20 passed" in lines
        # the session end's results table with its intervals, then its analysis
        assert any(
            line.split()[:4] == ["condition", "stored", "analysed", "errors"] for line in lines
        )
        assert any(line.startswith("plain") and "1.000 [" in line for line in lines)
        assert "CI of correct: 95%, Wilson score interval" in result.stdout
        assert "crucible analysis: 2 conditions, 10 items, vs plain" in result.stdout
        # the gate decided at the session end, as stored
        assert "gates: 1 passed, 0 failed" in result.stdout
        assert "PASS careful.correct.mean >= 0.9" in result.stdout
    # read only: the stored analysis is what the session end wrote
    assert sql(store_location(pytester), "SELECT analysis FROM runs")[0]["analysis"] == stored


def test_compare_gives_the_verdicts_of_the_baseline_gate(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, store_backend: str
) -> None:
    pytester.makepyfile(test_clidemo=EXPERIMENT)
    good = run_experiment(pytester)
    monkeypatch.setenv("CLI_BROKEN", "1")
    # the same comparison as a gate at the session end: its verdicts are stored with run B
    broken = run_experiment(pytester, f"--crucible-compare={good}", "--crucible-margin=length=1")
    stored = json.loads(
        sql(store_location(pytester), "SELECT analysis FROM runs WHERE run_id = ?", (broken,))[0][
            "analysis"
        ]
    )
    gate_verdicts = [g["details"] for g in stored["gates"] if "baseline" in g["name"]]
    assert len(gate_verdicts) == 4

    shown = crucible(
        "compare", good, broken[:4], "--margin", "length=1", "--format", "json", cwd=pytester.path
    )
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert (data["run_a"], data["run_b"], data["experiment"]) == (good, broken, "clidemo")
    assert data["verdicts"] == gate_verdicts  # the same statistics, the same numbers
    plain = next(
        v for v in data["verdicts"] if (v["condition"], v["metric"]) == ("plain", "correct")
    )
    assert plain["verdict"] == "regression" and plain["estimate"] == pytest.approx(-0.5)
    assert plain["p_regression_adjusted"] < 0.05 and plain["n_items"] == 10

    text = crucible("compare", good, broken, "--margin", "length=1", cwd=pytester.path)
    assert text.returncode == 0, text.stderr  # a regression fails only when asked to
    assert f"run {broken} (B) against run {good} (A, the baseline) of clidemo" in text.stdout
    assert f"clidemo against baseline '{good}' (run {good}, alpha 0.05): FAIL" in text.stdout
    assert "FAIL plain.correct regression: 0.5 vs baseline 1 on 10 items: d = -0.5" in text.stdout
    assert "PASS plain.length noninferior" in text.stdout

    gate = crucible("compare", good, broken, "--fail-on-regression", cwd=pytester.path)
    assert gate.returncode == 1, gate.stderr
    same = crucible(
        "compare", good, good, "--fail-on-regression", "--format", "md", cwd=pytester.path
    )
    assert same.returncode == 0, same.stderr
    assert "| result | condition | metric | current | baseline | d |" in same.stdout
    assert same.stdout.count("| **PASS** |") == 4 and "noninferior" in same.stdout


def test_compare_refuses_other_experiments_and_runs_without_shared_items(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, store_backend: str
) -> None:
    pytester.makepyfile(test_clidemo=EXPERIMENT, test_other=OTHER)
    run_experiment_ids = _sessions(pytester)
    first, other = run_experiment_ids["clidemo"], run_experiment_ids["other"]
    monkeypatch.setenv("CLI_OFFSET", "100")
    moved = run_experiment(pytester, "test_clidemo.py")
    assert_clean_error(
        crucible("compare", first, other, cwd=pytester.path),
        f"run {first} is of experiment 'clidemo' and run {other} of 'other'",
        "compare two runs of one experiment",
    )
    assert_clean_error(
        crucible("compare", "latest:clidemo", first, cwd=pytester.path),
        f"runs {moved} and {first} share no item",
    )
    assert_clean_error(
        crucible("compare", first, first, "--margin", "correctness=0.1", cwd=pytester.path),
        "margin correctness=0.1: 'correctness' names no metric",
    )


def _sessions(pytester: pytest.Pytester) -> dict[str, str]:
    """One session of every experiment file: experiment -> its run id."""
    pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", timeout=_TIMEOUT
    )
    rows = sql(store_location(pytester), "SELECT run_id, experiment FROM runs")
    return {row["experiment"]: row["run_id"] for row in rows}


def test_export_writes_every_stored_column_one_row_per_trial(
    pytester: pytest.Pytester, store_backend: str
) -> None:
    pytester.makepyfile(test_clidemo=EXPERIMENT)
    run_id = run_experiment(pytester)
    store = store_location(pytester)
    frame = load_trials(run_id, store=store)
    (row,) = sql(store, "SELECT * FROM trials LIMIT 1")
    stored = [name for name in dict(row) if name != "seq"]  # PostgreSQL's insertion order
    expected = [c for c in stored if c not in ("metrics", "usage")]

    as_csv = crucible("export", run_id, cwd=pytester.path)  # csv to stdout by default
    assert as_csv.returncode == 0, as_csv.stderr
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert len(rows) == len(frame) == 20
    assert set(expected) | {"correct", "length", "model_calls"} <= set(rows[0])
    assert set(frame.columns) <= set(rows[0])  # what load_trials has, with the same names
    first = frame.iloc[0]
    assert (rows[0]["condition"], rows[0]["item_id"]) == (first["condition"], first["item_id"])
    assert float(rows[0]["correct"]) == first["correct"] and rows[0]["output"] == first["output"]

    as_jsonl = crucible("export", run_id[:5], "--format", "jsonl", cwd=pytester.path)
    assert as_jsonl.returncode == 0, as_jsonl.stderr
    records = [json.loads(line) for line in as_jsonl.stdout.splitlines()]
    assert len(records) == 20 and records[0]["correct"] in (0.0, 1.0)
    assert isinstance(records[0]["recovery"], dict)  # JSON columns stay JSON

    written = crucible("export", "latest", "--format", "parquet", cwd=pytester.path)
    assert written.returncode == 0, written.stderr
    parquet = pytester.path / f"clidemo-{run_id}.parquet"
    assert f"wrote 20 trials of run {run_id} to {parquet.name}" in written.stderr
    import pyarrow.parquet as pq

    table = pq.read_table(parquet)
    assert table.num_rows == 20 and set(expected) <= set(table.column_names)
    assert str(table.schema.field("input_tokens").type) == "int64"  # typed though all null

    assert not _heavy_imports(["export", run_id, "--format", "jsonl"], pytester.path)

    into = pytester.path / "out" / "trials.jsonl"
    into.parent.mkdir()
    to_file = crucible("export", run_id, "--output", into, cwd=pytester.path)
    assert to_file.returncode == 0 and to_file.stdout == "", to_file.stderr
    assert len(into.read_text().splitlines()) == 20  # the format from the file's suffix


def test_export_to_parquet_without_pyarrow_names_the_extra(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_clidemo=EXPERIMENT)
    run_experiment(pytester)
    hidden = pytester.mkdir("no_pyarrow")
    (hidden / "pyarrow.py").write_text("raise ImportError(\"No module named 'pyarrow'\")\n")
    result = crucible(
        "export",
        "latest",
        "--format",
        "parquet",
        cwd=pytester.path,
        env={"PYTHONPATH": str(hidden)},
    )
    assert_clean_error(result, "needs pyarrow", "pip install 'pytest-crucible[parquet]'")
    assert not list(pytester.path.glob("*.parquet"))
    assert crucible("export", "latest", cwd=pytester.path, env={"PYTHONPATH": str(hidden)}).stdout


def test_unknown_and_ambiguous_runs_are_one_line_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_clidemo=EXPERIMENT)
    first = run_experiment(pytester)
    second = run_experiment(pytester)
    store = store_path(pytester)
    for args in (
        ["show", "nope"],
        ["export", "nope"],
        ["compare", first, "nope"],
        ["report", "nope"],
        ["analyse", "nope"],
    ):
        assert_clean_error(
            crucible(*args, cwd=pytester.path),
            "has no run 'nope'; runs: ",
            f"{second} (clidemo), {first} (clidemo)",
        )
    assert_clean_error(
        crucible("show", "latest:capitals", cwd=pytester.path),
        "has no run of experiment 'capitals'; its experiments: clidemo",
    )
    # two runs whose ids share a prefix (set by hand in a copy of the store)
    copy = pytester.path / "copy.db"
    shutil.copy(store, copy)
    _rename_run(copy, first, "abcd0001")
    _rename_run(copy, second, "abcd0002")
    assert_clean_error(
        crucible("show", "abcd", "--store", copy, cwd=pytester.path),
        "run 'abcd' is ambiguous: 2 runs start with it (abcd0002 (clidemo), abcd0001",
        "give more of the run id",
    )
    assert crucible("show", "abcd0001", "--store", copy, cwd=pytester.path).returncode == 0
    # nothing was lost or written: the store holds both runs' trials
    assert sql(store, "SELECT count(*) AS n FROM trials")[0]["n"] == 40


def _rename_run(path: Path, old: str, new: str) -> None:
    conn = sqlite3.connect(path)
    try:
        tables = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for table in tables:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            if "run_id" in columns:
                conn.execute(f"UPDATE {table} SET run_id = ? WHERE run_id = ?", (new, old))
        conn.commit()
    finally:
        conn.close()


@pytest.mark.parametrize("command", [["runs"], ["show", "latest"], ["export", "latest"]])
def test_a_missing_store_or_one_that_is_not_a_store_is_a_one_line_error(
    tmp_path: Path, command: list[str]
) -> None:
    missing = crucible(*command, cwd=tmp_path)
    assert_clean_error(
        missing,
        "store .crucible/crucible.db does not exist (the default, relative to the current "
        f"directory: {tmp_path}",
        "run `pytest --crucible` here first, or give --store PATH",
    )
    assert_clean_error(
        crucible(*command, "--store", "gone.db", cwd=tmp_path), "store gone.db does not exist"
    )
    text = tmp_path / "notes.db"
    text.write_text("not a database at all, just text\n" * 10)
    assert_clean_error(
        crucible(*command, "--store", text, cwd=tmp_path),
        "is not a pytest-crucible store (not a SQLite database",
    )
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    assert_clean_error(
        crucible(*command, "--store", foreign, cwd=tmp_path),
        "is not a pytest-crucible store (a SQLite database without its tables)",
    )
    assert_clean_error(crucible(*command, "--store", tmp_path, cwd=tmp_path), "is a folder")
    assert not (tmp_path / ".crucible").exists() and not (tmp_path / "gone.db").exists()


@pytest.mark.parametrize("command", [["--version"], ["runs", "--store", "none.db"]])
def test_the_cheap_commands_load_no_numpy_pandas_or_scipy(
    tmp_path: Path, command: list[str]
) -> None:
    """`crucible --version` and `crucible runs` start fast: they import none of the analysis
    stack (a guard: importing numpy, pandas and scipy costs 1-3 s)."""
    assert not _heavy_imports(command, tmp_path)


def _heavy_imports(command: list[str], cwd: Path) -> set[str]:
    """The analysis stack's modules that `crucible COMMAND` imports."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pytest_crucible.cli", *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
    )
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line}
    assert "pytest_crucible.cli" in imported, result.stderr[-2000:]
    return imported & {"numpy", "pandas", "scipy", "statsmodels", "pyarrow"}


def test_runs_analyse_and_report_read_the_run_from_its_store(
    pytester: pytest.Pytester, store_backend: str
) -> None:
    """The review commands give the same answers on both stores; nothing written (reports,
    exports, side files, stored rows, output) holds a database password."""
    pytester.makepyfile(test_clidemo=EXPERIMENT)
    run_id = run_experiment(pytester, "--crucible-report=all")
    listed = crucible("runs", cwd=pytester.path)
    assert listed.returncode == 0 and f"{run_id}  clidemo" in listed.stdout, listed.stderr
    again = crucible("analyse", run_id, "--gate", "plain.correct.mean >= 0.9", cwd=pytester.path)
    assert again.returncode == 0, again.stderr
    assert "PASS plain.correct.mean >= 0.9" in again.stdout
    table = [line.split() for line in again.stdout.splitlines()]
    assert ["condition", "stored", "analysed", "errors", "correct", "length"] in table
    folder = pytester.path / "review"
    written = crucible(
        "report", "latest", "--output", folder, "--formats", "all", cwd=pytester.path
    )
    assert written.returncode == 0, written.stderr
    for name in ("report.html", "report.md", "report.tex", "analysis.ipynb", "results.csv"):
        assert (folder / name).exists(), name
    assert len((folder / "results.csv").read_text().splitlines()) == 21
    if store_backend == "postgresql":
        shown = [listed.stdout, listed.stderr, again.stdout, again.stderr, written.stderr]
        _assert_no_password(pytester, shown)


TABLES = ("runs", "trials", "logs", "items", "run_sessions")


def _assert_no_password(pytester: pytest.Pytester, outputs: list[str]) -> None:
    from postgres_server import ROLE_PASSWORD

    assert os.environ["CRUCIBLE_STORE"].count(ROLE_PASSWORD) == 1  # the URL carries it
    files = [path for path in pytester.path.rglob("*") if path.is_file()]
    assert any(path.name == "analysis.ipynb" for path in files)
    leaked = [path for path in files if ROLE_PASSWORD.encode() in path.read_bytes()]
    assert leaked == [], f"the password is in {leaked}"
    assert all(ROLE_PASSWORD not in text for text in outputs)
    stored = {table: sql(store_location(pytester), f"SELECT * FROM {table}") for table in TABLES}
    assert stored["runs"] and stored["trials"]
    assert ROLE_PASSWORD not in json.dumps(
        {t: [dict(r) for r in rows] for t, rows in stored.items()}, default=str
    )
