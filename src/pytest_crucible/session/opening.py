"""Opening a session's runs (controller role): the store, the runs to continue, their hold.

At the controller's start: the store is opened and its journals imported, the runs this
session continues are found (`--crucible-resume`, `--crucible-retry-failed`, `--lf`/`--sw`
read as those by habits.py, or none under `--crucible-join`) and held, and the session
inputs every process shares are fixed. A bad value is a usage error, raised before anything
is held or written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pytest_crucible.declare.config import parse_overrides
from pytest_crucible.declare.shards import default_group
from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.request import ReviewRequest
from pytest_crucible.session.finish import review_request
from pytest_crucible.session.habits import continuation_for_habits
from pytest_crucible.session.inputs import ResumeTarget, SessionInputs, resolve_resume
from pytest_crucible.store import DEFAULT_STORE, ResultStore, open_store
from pytest_crucible.store.environment import git_commit
from pytest_crucible.store.holding import RunHold
from pytest_crucible.store.journal import JournalImport, import_journals

__all__ = ["OpenedRuns", "open_runs"]

SIDE_FOLDER = DEFAULT_STORE.parent  # <rootdir>/.crucible: a database store's local side files


@dataclass
class OpenedRuns:
    """What the controller starts from: the open store and the runs it holds."""

    location: str  # the store's, unmasked: only to open connections
    store: ResultStore
    imported: JournalImport  # the journals imported at the start
    habit: str  # why --lf or --sw continues the latest runs ("": they do not)
    review_request: ReviewRequest
    hold: RunHold
    inputs: SessionInputs


def open_runs(config: pytest.Config, warn: Callable[[str], None]) -> OpenedRuns:
    """Open the store, find the runs to continue and hold them; `warn` takes the hold's
    warnings."""
    option = config.getoption
    try:
        overrides = parse_overrides(option("crucible_set") or [])
        location = _store_location(config)
        store = open_store(location, verify=True, side_folder=config.rootpath / SIDE_FOLDER)
        imported = import_journals(store)  # before resume reads what is done
        resume, option_name, habit = _runs_to_continue(config, store)
        request = review_request(config, store, location)
        # last: a refusal here leaves nothing held and nothing written
        hold = RunHold(store, warn, location)
        hold.take_all({name: t.run_id for name, t in resume.items()}, option_name)
    except CrucibleError as exc:
        raise pytest.UsageError(str(exc)) from None
    shard = option("crucible_shard") or ""
    inputs = SessionInputs.new(
        seed_override=option("crucible_seed"),
        overrides=overrides,
        resume=resume,
        shard=shard,
        shard_group=_shard_group(config) if shard else "",
        join=option("crucible_join"),
    )
    return OpenedRuns(location, store, imported, habit, request, hold, inputs)


def _shard_group(config: pytest.Config) -> str:
    """--crucible-shard-group, else the CI's run id, else the git commit."""
    given: str | None = config.getoption("crucible_shard_group")
    return given or default_group(commit=git_commit(config.rootpath))


def _runs_to_continue(
    config: pytest.Config, store: ResultStore
) -> tuple[dict[str, ResumeTarget], str, str]:
    """The runs to continue, the option that asked for them, and the habit's reason."""
    option = config.getoption
    requested, retry = option("crucible_resume"), option("crucible_retry_failed")
    if option("crucible_join"):
        return _runs_joined(requested, retry)
    if requested is None and retry is None:
        return _runs_continued_by_habit(config, store)
    resume = resolve_resume(store, requested)
    if retry is None:
        return resume, "--crucible-resume", ""
    if resume:
        raise pytest.UsageError(
            "--crucible-resume and --crucible-retry-failed both continue a run; "
            "use one (--crucible-retry-failed runs only the failed trials again)"
        )
    failed = resolve_resume(store, retry, option="--crucible-retry-failed", failed_only=True)
    return failed, "--crucible-retry-failed", ""


def _runs_joined(
    requested: str | None, retry: str | None
) -> tuple[dict[str, ResumeTarget], str, str]:
    """--crucible-join continues the run of its key by itself: nothing to resume."""
    if requested is not None or retry is not None:
        given = "--crucible-resume" if requested is not None else "--crucible-retry-failed"
        raise pytest.UsageError(
            f"--crucible-join and {given} both continue a run; use one: a process "
            "started with --crucible-join=KEY continues the run of KEY by itself (the "
            "trials it has stored are not run again)"
        )
    return {}, "--crucible-join", ""


def _runs_continued_by_habit(
    config: pytest.Config, store: ResultStore
) -> tuple[dict[str, ResumeTarget], str, str]:
    """`--lf` and `--sw` go on with the latest runs rather than start new ones
    (habits.py); said in the header."""
    habit = continuation_for_habits(config)
    if habit is None:
        return {}, "--crucible-resume", ""
    if habit.retry_failed is not None:
        option = "--lf (as --crucible-retry-failed)"
        targets = resolve_resume(store, habit.retry_failed, option=option, failed_only=True)
        return targets, option, habit.reason
    option = "--sw (as --crucible-resume)"
    return resolve_resume(store, habit.resume, option=option), option, habit.reason


def _store_location(config: pytest.Config) -> str:
    """A database URL as given, or an absolute path (a relative one was resolved against
    the rootdir: settings)."""
    given = config.getoption("crucible_store")
    return str(given) if given else str(config.rootpath / DEFAULT_STORE)
