"""Running the cases of `throughput.py`: timed subprocesses, trial spans from the store, and
the inspect-ai environment."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from _throughput_files import MEASURE

INSPECT_PACKAGES = ("inspect-ai", "openai")


class InspectUnavailable(RuntimeError):
    """inspect-ai cannot be run here (not installed, and installing it is not allowed or
    failed, e.g. without network)."""


class CaseFailed(RuntimeError):
    """A benchmark case did not run as it should (non-zero exit, missing calls)."""


@dataclass(frozen=True)
class Measured:
    wall: float  # the whole process, start-up included
    peak_mib: float | None  # max RSS of the pytest process (None for other programs)
    output: str
    child_mib: float | None = None  # max RSS of its largest child process
    cpu_s: float = 0.0  # user + system CPU of the whole process tree


def run_timed(command: list[str], cwd: Path, env: dict[str, str], timeout: float) -> Measured:
    """Run `command` in its own process group; its wall time and output. On a timeout or a
    Ctrl-C the whole group (the run's xdist workers, servers, analysis child) is killed.
    The CPU time is that of every process of the run (reaped children add up)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except BaseException:
        _kill_group(process)
        raise
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if process.returncode != 0:
        raise CaseFailed(
            f"{' '.join(command)} exited {process.returncode} in {cwd}:\n{output[-3000:]}"
        )
    return Measured(wall, None, output, cpu_s=cpu)


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_pytest(directory: Path, args: list[str], env: dict[str, str], timeout: float) -> Measured:
    """`pytest -q -p no:cacheprovider ARGS` in `directory`, with its peak memory."""
    command = [sys.executable, "-c", MEASURE, "-q", "-p", "no:cacheprovider", *args]
    measured = run_timed(command, directory, env, timeout)
    line = next((ln for ln in measured.output.splitlines() if ln.startswith("MEASURE ")), None)
    if line is None:
        raise CaseFailed(
            f"pytest printed no measurement in {directory}:\n{measured.output[-3000:]}"
        )
    inner = json.loads(line.removeprefix("MEASURE "))
    return Measured(
        measured.wall, inner["peak_mib"], measured.output, inner["child_mib"], measured.cpu_s
    )


@dataclass(frozen=True)
class Span:
    """From the first trial's start to the last trial's end, by the store's timestamps."""

    seconds: float
    passed: int
    total: int


def trial_span(database: Path) -> Span:
    with sqlite3.connect(database) as conn:
        first, last, passed, total = conn.execute(
            "SELECT min(started_at), max(ended_at), sum(status = 'passed'), count(*) FROM trials"
        ).fetchone()
    if first is None or last is None:  # nothing stored: the caller shows the run's output
        return Span(0.0, int(passed or 0), int(total))
    seconds = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return Span(seconds, int(passed or 0), int(total))


def ensure_inspect(venv: Path, *, install: bool = True) -> tuple[Path, str]:
    """The `inspect` program of `venv` (created and filled when missing, if `install`) and
    its version; InspectUnavailable when it cannot be had."""
    python = venv / "bin" / "python"
    if not python.exists():
        if not install:
            raise InspectUnavailable(f"no venv at {venv} (a run without --smoke installs it)")
        print(f"installing {' '.join(INSPECT_PACKAGES)} into {venv} ...", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *INSPECT_PACKAGES], check=True
            )
        except subprocess.CalledProcessError as exc:
            raise InspectUnavailable(f"installing it into {venv} failed ({exc})") from exc
    found = subprocess.run(
        [str(python), "-c", "import inspect_ai; print(inspect_ai.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    if found.returncode != 0:
        raise InspectUnavailable(f"{venv} has no working inspect_ai: {found.stderr[-300:]}")
    return venv / "bin" / "inspect", found.stdout.strip()
