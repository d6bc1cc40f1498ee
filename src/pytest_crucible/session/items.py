"""What the session keeps on a trial item: its spec, its running trial, its xdist group, and
the arguments the session gives it directly.

A trial item is parametrized with one value, `TRIAL_PARAM`: its `TrialSpec` when collected,
its `ActiveTrial` while it runs. The fixtures `condition`, `item` and `trial` unpack it, but
the session usually puts their values into the item's funcargs itself (`direct_arguments`),
which pytest then does not set up: about 0.15 ms per trial (10,000 trivial trials took
7.8 s in pytest's own timing before, 6.3 s after).
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_crucible.declare.experiment import Experiment, TrialSpec
from pytest_crucible.run.trial import Trial
from pytest_crucible.util.names import TRIAL_PARAM

__all__ = [
    "ALONE_KEY",
    "GROUP_KEY",
    "SPEC_KEY",
    "TRIAL_FIXTURES",
    "TRIAL_KEY",
    "TRIAL_PARAM",
    "check_trial_arguments",
    "direct_arguments",
    "spec_of",
]

TRIAL_FIXTURES = ("condition", "item", "trial")
TRIAL_KEY = pytest.StashKey[Trial]()
SPEC_KEY = pytest.StashKey[TrialSpec]()
GROUP_KEY = pytest.StashKey[str]()  # the item's trial group under xdist (lookahead.py)
ALONE_KEY = pytest.StashKey[bool]()  # runs with no other trial in flight (crashes.py)
_PLUGIN_MODULE = "pytest_crucible.plugin"


def spec_of(item: pytest.Item) -> TrialSpec | None:
    """The spec of a trial item (remembered in its stash the first time it is looked up)."""
    spec = item.stash.get(SPEC_KEY, None)
    if spec is None:
        callspec = getattr(item, "callspec", None)
        value = callspec.params.get(TRIAL_PARAM) if callspec is not None else None
        if not isinstance(value, TrialSpec):
            return None
        item.stash[SPEC_KEY] = spec = value
    return spec


def direct_arguments(item: pytest.Item) -> tuple[str, ...]:
    """The arguments of `item` that the plugin's own fixtures provide, which the session may
    fill in itself (a conftest may override `item`, say; its fixture then runs as usual)."""
    info = item._fixtureinfo  # type: ignore[attr-defined]
    return tuple(
        name
        for name in (TRIAL_PARAM, *TRIAL_FIXTURES)
        if name in info.names_closure and _is_plugin_fixture(info, name)
    )


def _is_plugin_fixture(info: Any, name: str) -> bool:
    if name == TRIAL_PARAM:
        return True  # a parameter: its value is the callspec's
    definitions = info.name2fixturedefs.get(name)
    module = getattr(definitions[-1].func, "__module__", "") if definitions else ""
    return bool(module == _PLUGIN_MODULE)


def check_trial_arguments(metafunc: pytest.Metafunc, experiment: Experiment) -> None:
    """A trial function takes at least one of `condition`, `item`, `trial`."""
    if TRIAL_PARAM not in metafunc.fixturenames:
        raise pytest.Collector.CollectError(
            f"{metafunc.function.__name__} is the trial function of experiment "
            f"{experiment.name} but takes none of the arguments {TRIAL_FIXTURES}"
        )
