"""The session end reads each run's trials once (issue 15, point 4).

The analysis, the gates, a baseline saved from the run, the stability check and the reports
once read the run's trials five times. The analysis child is watched through a real run: a
sitecustomize module on its PYTHONPATH (the child alone) records every SQL statement it runs.
"""

from __future__ import annotations

import os
import re
from collections import Counter

import pytest

from e2e_support import EXPERIMENT, query

_TIMEOUT_S = 180  # a whole pytest run, on 2 shared cores that may run 3x slower

_TRACE_SQL = """\
import os, sqlite3, sys
if '--await-request' in sys.argv:  # the analysis child alone
    _connect = sqlite3.connect
    def connect(*args, **kwargs):
        connection = _connect(*args, **kwargs)
        trace = open(os.environ["CRUCIBLE_SQL_TRACE"], "a", encoding="utf-8")
        connection.set_trace_callback(lambda sql: trace.write(" ".join(sql.split()) + "\\n"))
        return connection
    sqlite3.connect = connect
"""


def test_the_analysis_child_reads_each_runs_trials_once(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_demo=EXPERIMENT,
        test_echo=EXPERIMENT.replace('name="demo"', 'name="echo"').replace(
            "def test_demo", "def test_echo"
        ),
    )
    site = pytester.mkdir("trace_sql")
    site.joinpath("sitecustomize.py").write_text(_TRACE_SQL)
    trace = pytester.path / "child.sql"
    monkeypatch.setenv("CRUCIBLE_SQL_TRACE", str(trace))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    result = pytester.runpytest_subprocess(
        "--crucible",
        "--crucible-gate",
        "terse.correct.mean >= 0",
        "--crucible-save-baseline",
        "main",
        timeout=_TIMEOUT_S,
    )
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, output
    runs = sorted(row["run_id"] for row in query(pytester, "SELECT run_id FROM runs"))
    assert len(runs) == 2
    reads = [s for s in trace.read_text().splitlines() if re.search(r"\bFROM trials\b", s)]
    exports = Counter(_run_of(s) for s in reads if s.startswith("SELECT json_object("))
    loads = Counter(_run_of(s) for s in reads if not s.startswith("SELECT json_object("))
    assert loads == {run_id: 1 for run_id in runs}, reads
    # results.jsonl's lines come with that one load (SQLite writes them: its number format
    # is the file's), not from a read of their own
    assert exports == Counter(), reads
    assert all("json_object(" in s for s in reads), reads
    for run_id in runs:  # what the single load fed
        assert f"saved run {run_id} of " in output
        assert list((pytester.path / "crucible-results").glob(f"*/{run_id}/report.html"))


def _run_of(statement: str) -> str:
    found = re.search(r"run_id = '([^']+)'", statement)
    assert found, statement
    return found.group(1)
