"""A store that cannot be opened or is damaged, bad option values: exit 4, a message that
says what to do, nothing written (issue 14, points 8 and 9)."""

from __future__ import annotations

import hashlib
import random
import sqlite3
from pathlib import Path

import pytest

from e2e_support import EXPERIMENT, XDIST, store_path


def _assert_usage_error(result: pytest.RunResult, *patterns: str) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    for pattern in patterns:
        assert pattern in output, f"{pattern!r} not in output:\n{output}"
    assert "INTERNALERROR" not in output
    assert "pytest_crucible/" not in output, "a traceback from our internals leaked"


@pytest.mark.parametrize("xdist", XDIST)
@pytest.mark.parametrize("where", ["afile/x.db", "afile/sub/x.db"])
def test_store_whose_parent_is_a_file(
    pytester: pytest.Pytester, xdist: list[str], where: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    pytester.path.joinpath("afile").write_text("not a folder")
    result = pytester.runpytest("--crucible", f"--crucible-store={where}", *xdist)
    _assert_usage_error(result, "--crucible-store", "afile is a file, not a folder")
    assert pytester.path.joinpath("afile").read_text() == "not a folder"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_store_in_a_folder_that_cannot_be_created(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    # not a chmod'ed folder: root (CI containers) may write into any folder; /proc refuses
    result = pytester.runpytest("--crucible", "--crucible-store=/proc/crucible-no/x.db")
    _assert_usage_error(result, "--crucible-store", "cannot create the folder /proc/crucible-no")


@pytest.mark.parametrize("value", ["0", "-3"])
@pytest.mark.parametrize("xdist", XDIST)
def test_concurrency_below_one_is_refused(
    pytester: pytest.Pytester, xdist: list[str], value: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    result = pytester.runpytest("--crucible", f"--crucible-concurrency={value}", *xdist)
    _assert_usage_error(result, "--crucible-concurrency", value, ">= 1")
    assert not store_path(pytester).exists()


def test_experiment_concurrency_zero_is_an_experiment_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_zero=EXPERIMENT.replace("seed=7,", "seed=7, concurrency=0,"),
    )
    result = pytester.runpytest("--crucible")
    output = result.stdout.str()
    assert result.ret != 0
    assert "ExperimentError" in output and "concurrency=0 must be an integer >= 1" in output


# Outputs of a few KB: most of the store's pages hold old outputs, which a new run never reads
# (SQLite itself would not notice their damage until someone reads them).
BIG_OUTPUTS = """
import pytest_crucible as crucible

big = crucible.Experiment(
    name="big",
    dataset=[{"id": f"i{n}", "input": n} for n in range(20)],
    conditions={"a": lambda n: "a" * 3000 + str(n), "b": lambda n: "b" * 3000 + str(n)},
    metrics=["size"],
)

@big.trial
def test_big(condition, item, trial):
    trial.record(size=len(condition(item.input)))
"""


def _damage(path: Path) -> None:
    """Write two pages of random bytes into the middle of a SQLite file."""
    with sqlite3.connect(path) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = path.stat().st_size // page_size
    assert pages >= 6, f"the store has only {pages} pages"
    noise = random.Random(14)
    with path.open("r+b") as file:
        for page in (pages // 2, pages // 2 + 1):
            file.seek(page * page_size)
            file.write(noise.randbytes(page_size))
    with sqlite3.connect(path) as conn:
        try:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
    assert verdict != "ok", "the damage went unnoticed by SQLite itself"


@pytest.mark.parametrize("xdist", XDIST)
def test_damaged_store_is_refused_with_the_recover_command(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_big=BIG_OUTPUTS)
    pytester.runpytest("--crucible", "--crucible-report=none").assert_outcomes(passed=40)
    store = store_path(pytester)
    _damage(store)
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    result = pytester.runpytest("--crucible", "--crucible-report=none", *xdist)
    _assert_usage_error(result, "is damaged", ".recover", "--crucible-store")
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before, "the store was written"
    assert not store.with_name(store.name + "-wal").exists() or (
        store.with_name(store.name + "-wal").stat().st_size == 0
    )
