"""console/watch.py, the dashboard's read side, on a store written by a real pytest run; and
the live feeds: one poller per watched run, whatever the number of watchers (issue 18)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e_support import EXPERIMENT
from pytest_crucible.console import watch
from pytest_crucible.console.errors import ConsoleError, NotFound
from pytest_crucible.store import ResultStore, open_store

DECLARED = '    seed=7,\n    description="Shouting or not",\n    config={"style": "plain"},\n'
CONFIGURED = EXPERIMENT.replace("    seed=7,\n", DECLARED)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ResultStore]:
    """A store with one finished run of the demo experiment: 2 conditions x 3 items x 2
    repeats, a log line per trial."""
    folder = tmp_path_factory.mktemp("watch")
    (folder / "test_demo.py").write_text(CONFIGURED)
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--crucible", "-q"),
            *("--crucible-report=none", "--crucible-store=c.db"),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    opened = open_store(folder / "c.db", readonly=True)
    yield opened
    opened.close()


def _run_id(store: ResultStore) -> str:
    (run,) = store.runs()
    return run.run_id


def test_experiments_and_runs_describe_what_is_stored(store: ResultStore) -> None:
    run_id = _run_id(store)
    (listed,) = watch.experiments(store)
    assert listed["name"] == "demo" and listed["runs"] == 1
    assert listed["description"] == "Shouting or not"
    assert listed["last_run"] == {
        "run_id": run_id,
        "status": "completed",
        "started_at": listed["last_run"]["started_at"],
    }
    described = watch.experiment(store, "demo")
    assert described["conditions"] == ["terse", "shout"] and described["baseline"] == "terse"
    assert described["config"] == [{"name": "style", "value": "plain", "type": "string"}]
    assert list(described["metrics"]) == ["correct", "length"]
    (summary,) = described["runs"]
    assert summary == watch.runs(store)[0] == watch.runs(store, "demo")[0]
    assert summary["total"] == summary["stored"] == summary["passed"] == 12
    assert summary["failed"] == 0 and summary["status"] == "completed"
    assert summary["duration_s"] is not None and summary["duration_s"] >= 0


def test_a_run_has_its_progress_analysis_and_no_command_line(store: ResultStore) -> None:
    described = watch.run(store, _run_id(store))
    assert described["progress"]["stored"] == 12 and described["progress"]["fraction"] == 1.0
    conditions = {row["condition"]: row for row in described["progress"]["by_condition"]}
    assert conditions["terse"]["passed"] == 6 and conditions["terse"]["total"] == 6
    assert described["analysis"]["conditions"] == ["terse", "shout"]
    assert described["gates"] == []
    assert "argv" not in described["environment"] and "executable" not in described["environment"]
    assert described["environment"]["python"]


def test_trials_come_in_pages_with_filters(store: ResultStore) -> None:
    run_id = _run_id(store)
    first = watch.trials(store, run_id, offset=0, limit=5)
    second = watch.trials(store, run_id, offset=5, limit=5)
    assert first["total"] == second["total"] == 12
    assert len(first["rows"]) == len(second["rows"]) == 5
    keys = [row["trial_key"] for row in first["rows"] + second["rows"]]
    assert len(set(keys)) == 10
    assert all("output" not in row for row in first["rows"])
    only = watch.trials(store, run_id, condition="shout", item="b")
    assert only["total"] == 2
    assert {(row["condition"], row["item_id"]) for row in only["rows"]} == {("shout", "b")}
    detail = watch.trial(store, run_id, keys[0])
    assert detail["output"] and detail["item"]["input"] in ("paris", "rome", "oslo")
    assert [line["message"] for line in detail["logs"]] == ["answered"]


def test_log_lines_page_after_an_id(store: ResultStore) -> None:
    run_id = _run_id(store)
    first = watch.logs(store, run_id, limit=4)
    rest = watch.logs(store, run_id, after_id=first["after_id"], limit=100)
    assert len(first["lines"]) == 4 and len(rest["lines"]) == 8
    assert first["after_id"] == first["lines"][-1]["id"] < rest["lines"][0]["id"]
    assert watch.logs(store, run_id, after_id=rest["after_id"]) == {
        "lines": [],
        "after_id": rest["after_id"],
    }
    shout = watch.logs(store, run_id, condition="shout", level="INFO")
    assert len(shout["lines"]) == 6 and {line["condition"] for line in shout["lines"]} == {"shout"}


def test_unknown_names_and_bad_pages_say_what_to_give(store: ResultStore) -> None:
    run_id = _run_id(store)
    with pytest.raises(NotFound, match=f"no run 'nope' in the store; the newest runs: {run_id}"):
        watch.run(store, "nope")
    with pytest.raises(NotFound, match="experiments with runs: demo"):
        watch.experiment(store, "nope")
    with pytest.raises(NotFound, match="has no stored trial 'zzz'"):
        watch.trial(store, run_id, "zzz")
    with pytest.raises(ConsoleError, match="offset=-1: give 0 or more"):
        watch.trials(store, run_id, offset=-1)
    with pytest.raises(ConsoleError, match="limit=0: give 1 to 500"):
        watch.logs(store, run_id, limit=0)
    assert watch.trials(store, run_id, limit=10_000)["limit"] == watch.MAX_PAGE


def test_twenty_watchers_of_a_run_share_one_poller_that_stops_when_they_leave(
    store: ResultStore,
) -> None:
    from pytest_crucible.console.web.access import StoreAccess
    from pytest_crucible.console.web.live import Feeds, View

    run_id = _run_id(store)
    feeds = Feeds(StoreAccess(store.location), interval=0.05)

    async def watch_together() -> tuple[int, list[Any]]:
        streams = [feeds.events(run_id, View()) for _ in range(20)]
        firsts = [await anext(stream) for stream in streams]  # each one is watching now
        watchers = len(feeds.feeds[run_id].watchers)
        for stream in streams:
            await stream.aclose()
        return watchers, firsts

    watchers, firsts = asyncio.run(asyncio.wait_for(watch_together(), timeout=60))
    assert watchers == 20 and len(feeds.feeds) == 0  # one feed; gone with its last watcher
    assert {event.kind for event in firsts} == {"progress"}
    assert all(event.data["stored"] == 12 for event in firsts)


def test_a_watcher_gets_the_progress_its_trials_page_and_every_log_line_once(
    store: ResultStore,
) -> None:
    from pytest_crucible.console.web.access import StoreAccess
    from pytest_crucible.console.web.live import Feeds, View

    run_id = _run_id(store)
    feeds = Feeds(StoreAccess(store.location), interval=0.05)

    async def first_events() -> list[Any]:
        stream = feeds.events(run_id, View(limit=3, condition="terse"))
        events = [await anext(stream) for _ in range(3)]
        await stream.aclose()
        return events

    progress, trials, logs = asyncio.run(asyncio.wait_for(first_events(), timeout=60))
    assert progress.kind == "progress" and trials.kind == "trials" and logs.kind == "logs"
    assert trials.data["total"] == 6 and len(trials.data["rows"]) == 3
    assert [line["condition"] for line in logs.data] == ["terse"] * 6
    assert len({line["id"] for line in logs.data}) == 6


def test_no_store_yet_is_a_message_that_says_how_to_make_one(tmp_path: Path) -> None:
    from pytest_crucible.console.web.access import StoreAccess

    access = StoreAccess(str(tmp_path / "none.db"))
    with pytest.raises(NotFound, match="run `pytest --crucible` in the project first"):
        access.call(watch.runs)
