"""Other people's pytest plugins and pytest's own habits in an experiment run (issue 16,
points 7-10): pytest-asyncio, anyio's plugin, --lf and --sw, pytest-timeout.

Each test runs real pytest in a subprocess with the third-party plugins on PYTHONPATH (the
fixture `third_party_plugins`), as a user who has them installed would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import trial_rows

TIMEOUT_S = 180  # generous: a shared machine runs 3x slower when busy
# the plugins that only change how results are printed stay out of the way of the asserts
QUIET = ("-p", "no:sugar", "-p", "no:rich", "--crucible-report=none")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("--crucible", *QUIET, *args, timeout=TIMEOUT_S)


# -- pytest-timeout (point 10) -------------------------------------------------------------------

# Trial i1 never returns on its own: its condition waits on an event nobody sets.
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
def test_hangs(condition, item, trial):
    trial.record(ok=condition(item.input) == item.input)
"""


def test_a_sync_trial_timed_out_by_pytest_timeout_does_not_keep_the_process_alive(
    pytester: pytest.Pytester, third_party_plugins: Path
) -> None:
    pytester.makepyfile(test_hangs=HANGING)
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
    assert "Timeout (>5.0s) from pytest-timeout" in error["message"], error


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


def test_a_trial_function_parametrized_beyond_its_trials_is_refused_before_anything_runs(
    pytester: pytest.Pytester, calls_file: Path
) -> None:
    # anyio's plugin is installed in the venv: it loads as in a user's project
    pytester.makeconftest(ANYIO_CONFTEST)
    pytester.makepyfile(test_backends=ANYIO_TRIALS)
    result = _run(pytester, "-p", "no:cacheprovider")
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
