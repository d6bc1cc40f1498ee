"""Other people's pytest plugins and pytest's own habits in an experiment run (issue 16,
points 7-10): pytest-asyncio, anyio's plugin, --lf and --sw, pytest-timeout.

Each test runs real pytest in a subprocess with the third-party plugins on PYTHONPATH (the
fixture `third_party_plugins`), as a user who has them installed would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from e2e_support import XDIST, trial_rows

TIMEOUT_S = 180  # generous: a shared machine runs 3x slower when busy
# the plugins that only change how results are printed stay out of the way of the asserts
QUIET = ("-p", "no:sugar", "-p", "no:rich", "--crucible-report=none")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--crucible", *QUIET, *args, timeout=TIMEOUT_S)


# -- pytest-timeout (point 10) -------------------------------------------------------------------

# Trial i1 never returns on its own: its sync condition waits on an event nobody sets. The
# trial function is sync (run in the prefetcher's pool) or async (the condition then runs in
# the loop's default executor).
HANGING = """
import threading
import pytest_crucible as crucible

def answer(text):
    if text == "i1":
        threading.Event().wait(3600)
    return text

hangs = crucible.Experiment(
    name="hangs",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(4)],
    conditions={"answer": answer},
    metrics=["ok"],
)

@hangs.trial
DEF test_hangs(condition, item, trial):
    trial.record(ok=AWAIT condition(item.input) == item.input)
"""


@pytest.mark.parametrize("trial_function", ["def", "async def"])
def test_a_sync_call_timed_out_by_pytest_timeout_does_not_keep_the_process_alive(
    pytester: pytest.Pytester, third_party_plugins: Path, trial_function: str
) -> None:
    awaits = "await" if trial_function == "async def" else ""
    pytester.makepyfile(test_hangs=HANGING.replace("DEF", trial_function).replace("AWAIT", awaits))
    # before the fix the pool thread of the hanging trial kept the process alive for an
    # hour after pytest's report: runpytest_subprocess then times out and this test fails
    result = _run(pytester, "--timeout=5", "--crucible-concurrency", "4", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_hangs[[]answer-i1-r0[]]*Timeout*"])
    rows = {row["item_id"]: row for row in trial_rows(pytester)}
    assert [rows[i]["status"] for i in ("i0", "i1", "i2", "i3")] == [
        "passed",
        "failed",
        "passed",
        "passed",
    ]
    error = rows["i1"]["error"]
    assert error["message"] == (
        "Timeout (>5.0s) from pytest-timeout: trial answer-i1-r0 was still running and is "
        "abandoned; what it does from now on is not stored"
    )
    assert error["traceback"] == ""  # not the frames of the session waiting for the trial


# -- anyio's plugin (point 8) --------------------------------------------------------------------

ANYIO_CONFTEST = """
import pytest

@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param
"""

ANYIO_TRIALS = """
import pytest, sniffio
import pytest_crucible as crucible

async def library(text):
    return sniffio.current_async_library()

backends = crucible.Experiment(
    name="backends",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(2)],
    conditions={"library": library},
    metrics=["on_trio"],
)

@pytest.mark.anyio
@backends.trial
async def test_backends(condition, item, trial):
    trial.record(on_trio=await condition(item.input) == "trio")

variants = crucible.Experiment(
    name="variants",
    dataset=[{"id": "i0", "input": "i0"}],
    conditions={"library": library},
    metrics=["on_trio"],
)

@variants.trial
@pytest.mark.parametrize("variant", ["a", "b"])
def test_variants(condition, item, trial, variant):
    trial.record(on_trio=False)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_a_trial_function_parametrized_beyond_its_trials_is_refused_before_anything_runs(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    # anyio's plugin is installed in the venv: it loads as in a user's project
    pytester.makeconftest(ANYIO_CONFTEST)
    pytester.makepyfile(test_backends=ANYIO_TRIALS)
    result = _run(pytester, "-p", "no:cacheprovider", *xdist)
    # before the fix: 4 items for 2 trials, all run on asyncio, the second copy of each
    # trial overwrote the first in the store
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(
        [
            "*experiment backends: test_backends.py::test_backends is parametrized by "
            "'anyio_backend' (asyncio, trio) besides its trials*remove @pytest.mark.anyio "
            "from the trial function*",
            "*experiment variants: test_backends.py::test_variants is parametrized by "
            "'variant' (a, b)*Declare what varies as conditions*",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not (pytester.path / ".crucible" / "crucible.db").exists() or not trial_rows(pytester)


ANYIO_TRIO_CONFTEST = """
import pytest

@pytest.fixture
def anyio_backend():
    return "trio"
"""


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_a_trial_asking_anyio_for_trio_fails_with_the_fix_and_never_runs_on_asyncio(
    pytester: pytest.Pytester, xdist: list[str], concurrency: str
) -> None:
    # one backend, not parametrized: nothing to see at collection, the fixture's value is
    # known only once it is set up
    pytester.makeconftest(ANYIO_TRIO_CONFTEST)
    pytester.makepyfile(test_backends=ANYIO_TRIALS.split("variants = ")[0])
    result = _run(
        pytester, "-p", "no:cacheprovider", f"--crucible-concurrency={concurrency}", *xdist
    )
    # before the fix: both trials passed, run on asyncio although the user asked for trio
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(
        ["*anyio_backend is 'trio'*own asyncio event loop*remove @pytest.mark.anyio*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    rows = trial_rows(pytester)
    assert len(rows) == 2 and {row["status"] for row in rows} == {"failed"}, rows


# -- pytest-asyncio (point 7) --------------------------------------------------------------------

# Each condition call waits (up to 30 s) until another trial is in flight beside it, and
# the trial records the most calls seen in flight at once: 1 when trials ran one at a time.
OVERLAPPING = """
import asyncio, threading
import pytest
import pytest_crucible as crucible

_lock = threading.Lock()
_in_flight = [0, 0]  # now, most seen

async def overlapping(text):
    with _lock:
        _in_flight[0] += 1
        _in_flight[1] = max(_in_flight[1], _in_flight[0])
    try:
        for _ in range(600):
            if _in_flight[1] >= 2:
                break
            await asyncio.sleep(0.05)
        return _in_flight[1]
    finally:
        with _lock:
            _in_flight[0] -= 1

overlap = crucible.Experiment(
    name="overlap",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(4)],
    conditions={"overlapping": overlapping},
    metrics=["in_flight"],
    concurrency=4,
)

MARK
@overlap.trial
async def test_overlap(condition, item, trial):
    trial.record(in_flight=await condition(item.input))
"""


@pytest.mark.parametrize(
    ("ini", "mark"),
    [
        pytest.param("asyncio_mode = auto", "", id="auto-mode"),
        pytest.param("asyncio_mode = strict", "@pytest.mark.asyncio", id="marked"),
    ],
)
def test_pytest_asyncio_leaves_the_trials_concurrent(
    pytester: pytest.Pytester, third_party_plugins: Path, ini: str, mark: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\nasyncio_default_fixture_loop_scope = session\n")
    pytester.makepyfile(test_overlap=OVERLAPPING.replace("MARK", mark))
    result = _run(pytester, "-p", "no:cacheprovider", "-W", "error::pytest.PytestWarning")
    # before the fix: pytest-asyncio ran each trial on its own loop, one at a time, with a
    # warning that blamed its fixture _function_scoped_runner
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["asyncio: mode=Mode.*"])  # pytest-asyncio was loaded
    assert "_function_scoped_runner" not in result.stdout.str()
    assert [row["metrics"]["in_flight"] >= 2 for row in trial_rows(pytester)] == [True] * 4


# A session-scoped httpx.AsyncClient made by pytest-asyncio, used by every trial.
ASYNC_CLIENT = """
import os
import httpx, pytest
import pytest_crucible as crucible

@pytest.fixture(scope="session")
async def client():
    async with httpx.AsyncClient(base_url=os.environ["MOCK_BASE_URL"]) as client:
        yield client
    with open("client.log", "a") as f:
        f.write("closed\\n")

async def ask(text):
    return text

shared = crucible.Experiment(
    name="shared",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(6)],
    conditions={"ask": ask},
    metrics=["ok"],
    concurrency=3,
)

@shared.trial
async def test_shared(condition, item, trial, client):
    message = {"role": "user", "content": await condition(item.input)}
    reply = await client.post("/chat/completions", json={"model": "m", "messages": [message]})
    trial.record(ok=reply.status_code == 200)
"""


@pytest.mark.parametrize("xdist", XDIST)
def test_an_async_session_fixture_of_pytest_asyncio_works_in_every_trial(
    pytester: pytest.Pytester,
    third_party_plugins: Path,
    mock_model_server: Any,
    monkeypatch: pytest.MonkeyPatch,
    xdist: list[str],
) -> None:
    monkeypatch.setenv("MOCK_BASE_URL", mock_model_server.base_url)
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
    )
    pytester.makepyfile(test_shared=ASYNC_CLIENT)
    result = _run(pytester, "-p", "no:cacheprovider", *xdist)
    # before the fix the client, made on pytest-asyncio's loop, failed in the trials
    result.assert_outcomes(passed=6)
    assert [row["metrics"]["ok"] for row in trial_rows(pytester)] == [1.0] * 6
    assert mock_model_server.stats()["by_path"] == {"/v1/chat/completions": 6}
    # its teardown ran too (once per process), on the loop it was made on
    workers = 2 if xdist else 1
    assert (pytester.path / "client.log").read_text() == "closed\n" * workers


# -- --lf and --sw (point 9) ---------------------------------------------------------------------

# The items named in FAIL_ON fail (their condition raises).
STEPS = """
import os
import pytest_crucible as crucible

def answer(text):
    if text in os.environ.get("FAIL_ON", "").split(","):
        raise RuntimeError(f"no answer for {text}")
    return text

steps = crucible.Experiment(
    name="steps",
    dataset=[{"id": f"i{n}", "input": f"i{n}"} for n in range(4)],
    conditions={"answer": answer},
    metrics=["ok"],
)

@steps.trial
def test_steps(condition, item, trial):
    trial.record(ok=condition(item.input) == item.input)
"""


def _stored(pytester: pytest.Pytester) -> list[tuple[str, str, str]]:
    return [(row["run_id"], row["item_id"], row["status"]) for row in trial_rows(pytester)]


def test_lf_reruns_the_failed_trials_into_their_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_steps=STEPS)
    monkeypatch.setenv("FAIL_ON", "i1,i2")
    _run(pytester).assert_outcomes(passed=2, failed=2)
    monkeypatch.delenv("FAIL_ON")
    result = _run(pytester, "--lf")
    # before the fix: a new run of the two trials beside the first, incomplete one
    result.assert_outcomes(passed=2)
    stored = _stored(pytester)
    run_id = stored[0][0]
    assert stored == [(run_id, f"i{n}", "passed") for n in range(4)]
    result.stdout.fnmatch_lines(
        ["crucible: --lf: the failed trials * (as --crucible-retry-failed)"]
    )


def test_sw_continues_the_run_it_stopped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_steps=STEPS)
    monkeypatch.setenv("FAIL_ON", "i1")
    _run(pytester, "--sw").assert_outcomes(passed=1, failed=1)
    monkeypatch.delenv("FAIL_ON")
    result = _run(pytester, "--sw")
    # before the fix: a second run holding i1-i3 beside the first, interrupted one
    result.assert_outcomes(passed=3)
    stored = _stored(pytester)
    run_id = stored[0][0]
    assert stored == [(run_id, f"i{n}", "passed") for n in range(4)]
    result.stdout.fnmatch_lines(["crucible: --sw: the latest run * (as --crucible-resume)"])
    # a later --sw, with nothing left failed, starts a new run as pytest would run all
    _run(pytester, "--sw").assert_outcomes(passed=4)
    assert len({run for run, _, _ in _stored(pytester)}) == 2
