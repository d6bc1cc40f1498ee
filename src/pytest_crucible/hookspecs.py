"""The lifecycle hooks of pytest-crucible, for conftest.py files and plugins.

Registered by `plugin.pytest_addhooks`. Where each one runs under pytest-xdist, and the
per-experiment twins (`crucible.Hooks`), are described in docs/hooks.md. A hook that raises
is reported with its name and where it is defined; the trial it ran for fails (or, for the
experiment-level hooks, the collection or the session end says so), and nothing stored is
lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_crucible.declare.conditions import Condition
    from pytest_crucible.declare.datasets import Item
    from pytest_crucible.declare.experiment import Experiment
    from pytest_crucible.run.trial import Trial


@pytest.hookspec(firstresult=True)
def pytest_crucible_before_experiment(
    experiment: Experiment, config: dict[str, Any]
) -> dict[str, Any] | None:
    """Before an experiment's trials are planned, in every process that collects it (each
    xdist worker, once per process; never the xdist controller).

    `config` is the experiment's resolved configuration as a dict (after --crucible-set).
    Return a dict to use instead (it is validated against the experiment's config schema
    and becomes part of every trial key), or None to keep it. The first non-None answer
    wins. Must be deterministic: every worker must plan the same trials.
    """


@pytest.hookspec
def pytest_crucible_after_experiment(
    experiment: str, run_id: str, results: list[dict[str, Any]]
) -> None:
    """Once per run, in the process that writes the store (the xdist controller), at
    session end after the run's status is final and its analysis is stored.

    `experiment` is the experiment's name, `results` the run's stored trials, one dict each
    (condition, item_id, repeat, trial_key, status, metrics, output, error, recovery, ...),
    including trials reused from earlier sessions of a resumed run.
    """


@pytest.hookspec
def pytest_crucible_before_condition(condition: Condition, item: Item, trial: Trial) -> None:
    """Before each condition call (once per call: retries do not call it again), in the
    process and on the thread that makes the call."""


@pytest.hookspec
def pytest_crucible_after_condition(
    condition: Condition, item: Item, trial: Trial, result: Any
) -> None:
    """After each condition call that returned (`result` is what it returned), after any
    retries, in the process and on the thread that made the call."""


@pytest.hookspec(firstresult=True)
def pytest_crucible_on_error(trial: Trial, error: Exception, attempt: int) -> str | None:
    """A condition call raised `error` on attempt `attempt` (1-based, counting the call's
    tries). Answer "retry" (retry it, within the policy's max_retries), "fail" (do not
    retry), "skip" (the trial ends as skipped), "abort" (the trial fails and the run stops,
    resumable), or None to let the experiment's error_handling classify it. The first
    non-None answer wins (the experiment's own `Hooks.on_error` is asked first)."""
