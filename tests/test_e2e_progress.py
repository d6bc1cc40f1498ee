"""End to end: the progress display while trials run (a live table on a terminal, plain lines
otherwise), beside pytest's own output and other people's reporters (pytest-rich, pytest-sugar),
and what a rerun of pytest-rerunfailures counts. Real pytest processes, real SQLite, real HTTP
to the mock model server; the terminal is a real pseudo-terminal."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e_support import query
from pytest_crucible.testing import MockModelServer

TIMEOUT_S = 300  # generous: the machines are shared

# Two conditions calling the mock model; one trial fails. A trial of `slow` item q0 says its
# progress and waits for the file RELEASE (the test creates it once it saw the progress).
EXPERIMENT = """
import os, time
import pytest_crucible as crucible
from pytest_crucible.llm import OpenAICompatibleBackend, PriceTable

backend = OpenAICompatibleBackend(
    base_url=os.environ["MOCK_URL"], prices=PriceTable({"mock-model": (1000.0, 2000.0)})
)

async def plain(question, seed):
    return (await backend.achat("mock-model", question, seed=seed)).content

async def polite(question, seed):
    return (await backend.achat("mock-model", "Please: " + question, seed=seed)).content

demo = crucible.Experiment(
    "demo", dataset=[{"id": f"q{n}", "input": f"question {n}"} for n in range(15)],
    conditions={"plain": plain, "polite": polite}, metrics=["answered"], repeat=2, seed=3,
)

@demo.trial
async def test_demo(condition, item, trial):
    answer = await condition(item.input, trial.seed)
    release = os.environ.get("RELEASE")
    if release and (condition.name, item.id, trial.spec.repeat) == ("polite", "q0", 0):
        for step in range(1, 3):
            trial.progress(step, 3, f"step {step} of the long trial")
        deadline = time.monotonic() + 240
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.05)
    trial.record(answered="Mock" in answer)
    assert (condition.name, item.id) != ("polite", "q3")

def test_ordinary():
    assert True
"""
TRIALS = 60
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def server(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with MockModelServer() as running:
        monkeypatch.setenv("MOCK_URL", running.base_url)
        pytester.makepyfile(test_demo=EXPERIMENT)
        yield


def pytest_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "--crucible", "--crucible-report=none", *args]


def run_on_a_terminal(
    args: list[str], cwd: Path, until: Callable[[str], bool] | None = None, then: Path | None = None
) -> str:
    """Run `args` with stdout and stderr on a pseudo-terminal of 100 columns; read until the
    process ends. When the text read so far satisfies `until`, create the file `then`."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("COLUMNS", None)
    process = subprocess.Popen(
        args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 5)
            if not ready:
                continue
            try:
                data = os.read(leader, 65536)
            except OSError:  # the process ended and closed the terminal
                break
            if not data:
                break
            chunks.append(data)
            if (
                until is not None
                and then is not None
                and not then.exists()
                and until(b"".join(chunks).decode("utf-8", "replace"))
            ):
                then.touch()
    finally:
        process.kill() if process.poll() is None else None
        process.wait(timeout=60)
        os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace")


def shown(raw: str) -> str:
    """The text of a terminal's output without its escape codes."""
    return ANSI.sub("", raw).replace("\r", "")


def test_live_display_on_a_terminal_under_xdist(
    pytester: pytest.Pytester, server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = pytester.path / "release"
    monkeypatch.setenv("RELEASE", str(release))
    raw = run_on_a_terminal(
        pytest_args("-n", "2", "-p", "no:cacheprovider"),
        pytester.path,
        until=lambda text: "step 2 of the long" in text,
        then=release,
    )
    text = shown(raw)
    assert release.exists(), text[-3000:]
    # frames of the live table: per condition, out of the trials (not the ordinary test)
    header = re.search(r"crucible +done +failed +in flight +rate +elapsed +ETA +tokens +cost", text)
    assert header, text[-3000:]
    assert re.search(rf"demo .* \d+/{TRIALS} ", text)
    assert re.search(r"  plain .* \d+/30 ", text) and re.search(r"  polite .* \d+/30 ", text)
    # the long trial's progress, under its condition, while it ran
    assert re.search(r"↳ polite-q0-r0 .*2/3 step 2 of the long", text)
    # pytest's row is whole, and the last state stays as lines
    assert re.search(r"^[.Fs]+ +\[100%\]$", text, re.MULTILINE), text[-3000:]
    assert f"crucible: demo: {TRIALS}/{TRIALS} trials done, 2 failed, 0 in flight" in text
    assert re.search(r"crucible:   polite: 30/30 done, 2 failed; [\d,]+ tokens, \$\d", text)
    assert "crucible results" in text


def test_live_display_in_one_process_redraws_while_trials_run(
    pytester: pytest.Pytester, server: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without xdist the trials run in pytest's own process, under its fd capture: the live
    region must still reach the terminal while they run, never a trial's captured output."""
    release = pytester.path / "release"
    monkeypatch.setenv("RELEASE", str(release))
    raw = run_on_a_terminal(
        pytest_args("--crucible-concurrency=4", "-p", "no:cacheprovider"),
        pytester.path,
        until=lambda text: "step 2 of the long" in text,
        then=release,
    )
    text = shown(raw)
    # before the fix: the frames drawn while a trial ran went into pytest's capture of that
    # trial, so the long trial's progress never showed and the trial waited out its 240 s
    assert release.exists(), text[-3000:]
    assert re.search(r"↳ polite-q0-r0 .*2/3 step 2 of the long", text)
    failures = text.split("FAILURES", 1)[-1].split("crucible results", 1)[0]
    assert "Captured stdout" not in failures or "in flight" not in failures, failures[-3000:]
    assert f"crucible: demo: {TRIALS}/{TRIALS} trials done, 2 failed, 0 in flight" in text


def test_plain_lines_when_not_a_terminal_count_trials_only(
    pytester: pytest.Pytester, server: None
) -> None:
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-n", "2", "-p", "no:cacheprovider",
        timeout=TIMEOUT_S,
    )  # fmt: skip
    result.assert_outcomes(passed=TRIALS - 2 + 1, failed=2)
    text = result.stdout.str()
    # lines at tenths of the 60 trials (the ordinary test is not one), with the new facts
    line = rf"crucible: demo: \d+/{TRIALS} trials done, [0-2] failed, \d+ in flight"
    assert re.search(line, text)
    final = rf"crucible: demo: {TRIALS}/{TRIALS} trials done, 2 failed, 0 in flight; "
    timing = r"[\d.]+ trials/s, elapsed \d+:\d\d, ETA 0:00; [\d,]+ tokens, \$"
    assert re.search(final + timing, text)
    result.stdout.fnmatch_lines(["crucible:   plain: 30/30 done, 0 failed; * tokens, $*"])
    # never inside pytest's rows of dots: each ends with its percentage
    rows = [line for line in result.stdout.lines if re.match(r"^[.F]+(\s|$)", line)]
    assert rows and all(re.search(r"\[\s*\d+%\]$", row) for row in rows), rows


def test_quiet_quiet_shows_no_progress(pytester: pytest.Pytester, server: None) -> None:
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-qq", "-p", "no:cacheprovider",
        timeout=TIMEOUT_S,
    )  # fmt: skip
    assert result.ret == 1
    assert not [line for line in result.stdout.lines if "trials done" in line]


def test_pytest_rich_gets_the_results_and_the_lines(
    pytester: pytest.Pytester, server: None, third_party_plugins: Path
) -> None:
    text = shown(run_on_a_terminal(pytest_args("--rich", "-p", "no:asyncio"), pytester.path))
    assert "FAILED in" in text  # pytest-rich's own summary
    assert "crucible results" in text, text[-3000:]
    assert re.search(r"condition +stored +analysed +errors +answered", text)
    assert f"crucible: demo: {TRIALS}/{TRIALS} trials done, 2 failed" in text


def test_pytest_sugar_bar_is_not_interrupted(
    pytester: pytest.Pytester, server: None, third_party_plugins: Path
) -> None:
    text = shown(run_on_a_terminal(pytest_args("-p", "no:asyncio"), pytester.path))
    assert "pytest-sugar" in text and "100%" in text
    # sugar redraws its bar by moving the cursor over its own lines: nothing in between
    assert "trials done" not in text, text[-3000:]
    assert "crucible results" in text


RERUN = """
import os
from pathlib import Path
import pytest_crucible as crucible

flaky = crucible.Experiment(
    "flaky", dataset=[{"id": f"q{n}", "input": n} for n in range(20)],
    conditions={"same": lambda n: n}, metrics=["value"], seed=1,
)

@flaky.trial
def test_flaky(condition, item, trial):
    trial.record(value=condition(item.input))
    marker = Path(os.environ["FAILED_ONCE"])
    if item.id == "q4" and not marker.exists():
        marker.touch()
        raise ConnectionError("the first attempt fails")
"""


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["n0", "n2"])
def test_a_passing_rerun_is_not_counted_as_a_failure(
    pytester: pytest.Pytester,
    third_party_plugins: Path,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
) -> None:
    monkeypatch.setenv("FAILED_ONCE", str(pytester.path / "failed-once"))
    pytester.makepyfile(test_flaky=RERUN)
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "--reruns", "1", "-p", "no:asyncio",
        "-p", "no:cacheprovider", *xdist, timeout=TIMEOUT_S,
    )  # fmt: skip
    result.stdout.fnmatch_lines(["*= 20 passed, 1 rerun in *"])
    result.stdout.fnmatch_lines(["crucible: flaky: 20/20 trials done, 0 failed, 0 in flight*"])
    result.stdout.fnmatch_lines(["same * 20 * 20 * 0 *"])  # stored, analysed, errors
    rows = query(pytester, "SELECT item_id, status, attempts FROM trials WHERE item_id = 'q4'")
    assert rows == [{"item_id": "q4", "status": "passed", "attempts": 2}]
    assert not (pytester.path / ".crucible" / "dead_letters").exists()
