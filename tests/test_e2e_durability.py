"""Finished trials are never lost, and a full disk ends the run (issue 14, points 1, 4, 5).

A full disk is simulated with RLIMIT_FSIZE (SIGXFSZ ignored): every file the run writes
(store, WAL, journals) is refused past 2 MiB with EFBIG, through real SQLite and real file
writes, without root or a mount. Kills are SIGKILLs of the whole process group once the
calls file shows the trials finished; resume then counts condition calls.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from e2e_support import XDIST, query, read_calls, store_path, trial_rows

BIG_OUTPUTS = """
import os
import pytest_crucible as crucible

def big(text):
    with open(os.environ["CRUCIBLE_CALLS"], "a") as f:
        f.write(f"call {text}\\n")
    return text * 50_000          # 50 KB per output: 80 of them need 4 MB

exp = crucible.Experiment(
    name="big",
    dataset=[{"id": f"i{n}", "input": chr(97 + n % 26)} for n in range(80)],
    conditions={"big": big},
    metrics=["size"],
)

@exp.trial
def test_big(condition, item, trial):
    trial.record(size=len(condition(item.input)))
"""

_FILE_LIMIT = 2 * 1024 * 1024


def _disk_of_2_mib() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_LIMIT, _FILE_LIMIT))


def _pytest(
    pytester: pytest.Pytester, *args: str, preexec: Callable[[], None] | None = None
) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--crucible", "-p", "no:cacheprovider", *args],
        cwd=pytester.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=preexec,
    )


def _finish(process: subprocess.Popen[str], timeout: float) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"the run hung:\n{output[-3000:]}") from None
    return output


@pytest.mark.parametrize("xdist", XDIST)
def test_a_full_disk_stops_the_run_says_so_and_the_run_resumes(
    pytester: pytest.Pytester, calls_file: Path, xdist: list[str]
) -> None:
    pytester.makepyfile(test_big=BIG_OUTPUTS)
    process = _pytest(pytester, "--crucible-report=none", *xdist, preexec=_disk_of_2_mib)
    output = _finish(process, timeout=240)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output[-3000:]
    assert "the disk is full" in output and "No new trials are started" in output, output
    assert "--crucible-resume=" in output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    stored = {row["item_id"] for row in trial_rows(pytester)}
    assert 0 < len(stored) < 80
    calls = read_calls(calls_file)
    assert len(calls) < 80, "trials kept starting on a full disk"

    # space is back: the run resumes, and what was stored is not run again
    resumed = _pytest(pytester, "--crucible-report=none", "--crucible-resume", *xdist)
    output = _finish(resumed, timeout=240)
    assert resumed.returncode == pytest.ExitCode.OK, output[-3000:]
    rows = trial_rows(pytester)
    assert len(rows) == 80 and all(row["status"] == "passed" for row in rows)
    assert len(read_calls(calls_file)) - len(calls) <= 80 - len(stored)
    assert [r["status"] for r in query(pytester, "SELECT status FROM runs")] == ["completed"]
