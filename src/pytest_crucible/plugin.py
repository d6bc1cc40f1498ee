"""pytest hooks and fixtures of pytest-crucible: option registration and delegation only."""

from __future__ import annotations

import pytest

from .datasets import Item
from .experiment import TrialSpec, registered_experiment
from .runner import BoundCondition
from .session import SESSION_PLUGIN, SPEC_ARG, TRIAL_FIXTURES, CrucibleSession
from .trial import Trial


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
    parser.addini("crucible_store", "path of the SQLite results store", default="")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("crucible"):
        config.pluginmanager.register(CrucibleSession(config), SESSION_PLUGIN)


def _session(config: pytest.Config) -> CrucibleSession | None:
    session = config.pluginmanager.get_plugin(SESSION_PLUGIN)
    return session if isinstance(session, CrucibleSession) else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    experiment = registered_experiment(metafunc.function)
    if experiment is None:
        return
    session = _session(metafunc.config)
    if session is not None:
        session.parametrize(metafunc, experiment)
    elif any(name in metafunc.fixturenames for name in TRIAL_FIXTURES):
        reason = f"experiment {experiment.name}: run experiments with `pytest --crucible`"
        metafunc.parametrize(
            SPEC_ARG,
            [pytest.param(None, marks=pytest.mark.skip(reason=reason))],
            ids=[experiment.name],
        )


@pytest.fixture
def _crucible_spec() -> None:
    raise pytest.UsageError(
        "the fixtures condition, item and trial exist only in a trial function marked with "
        "@experiment.trial"
    )


@pytest.fixture
def _crucible_trial(request: pytest.FixtureRequest, _crucible_spec: TrialSpec) -> Trial:
    session = _session(request.config)
    assert session is not None, "experiment items run only with --crucible"
    return session.new_trial(_crucible_spec, request.node)


@pytest.fixture
def trial(_crucible_trial: Trial) -> Trial:
    """The running trial: record(**metrics), log(...), artifact(...), config, seed, rng."""
    return _crucible_trial


@pytest.fixture
def item(_crucible_trial: Trial) -> Item:
    """The dataset item of this trial: id, input, expected, metadata, cluster."""
    return _crucible_trial.spec.item


@pytest.fixture
def condition(request: pytest.FixtureRequest, _crucible_trial: Trial) -> BoundCondition:
    """The condition of this trial; call it (or await it in an async trial function)."""
    session = _session(request.config)
    assert session is not None, "experiment items run only with --crucible"
    return session.bind_condition(_crucible_trial, request.function)
