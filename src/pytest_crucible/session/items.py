"""What the worker keeps on a trial item: its spec, its running trial, its xdist group, and
the arguments the worker gives it directly (worker role).

A trial item is parametrized with one value, `TRIAL_PARAM`: a `TrialSlot`, the same object
from collection to the end, holding the trial's spec and, while its item runs, the running
trial. The fixtures `condition`, `item` and `trial` unpack it, but the worker usually puts
their values into the item's funcargs itself (`direct_arguments`), which pytest then does not
set up: about 0.15 ms per trial (10,000 trivial trials took 7.8 s in pytest's own timing
before, 6.3 s after).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_crucible.declare.experiment import Experiment
from pytest_crucible.declare.plan import TrialSpec
from pytest_crucible.run.runner import ActiveTrial
from pytest_crucible.run.trial import Trial
from pytest_crucible.session.internals import fixture_info
from pytest_crucible.util.names import TRIAL_PARAM

__all__ = [
    "ALONE_KEY",
    "FUNCTION_KEY",
    "GROUP_KEY",
    "SPEC_KEY",
    "TRIAL_FIXTURES",
    "TRIAL_KEY",
    "TRIAL_PARAM",
    "TrialSlot",
    "check_trial_arguments",
    "direct_arguments",
    "slot_of",
    "spec_of",
]

TRIAL_FIXTURES = ("condition", "item", "trial")
TRIAL_KEY = pytest.StashKey[Trial]()
SPEC_KEY = pytest.StashKey[TrialSpec]()
GROUP_KEY = pytest.StashKey[str]()  # the item's trial group under xdist (lookahead.py)
ALONE_KEY = pytest.StashKey[bool]()  # runs with no other trial in flight (crashes.py)
# the trial function as collected: pytest-asyncio replaces `item.obj` while an item runs
FUNCTION_KEY = pytest.StashKey[Any]()
_PLUGIN_MODULE = "pytest_crucible.plugin"


@dataclass(slots=True, eq=False)
class TrialSlot:
    """The value of a trial item's parameter: its spec, and its running trial from its
    set-up to its teardown (then None again, so a finished trial is not kept alive)."""

    spec: TrialSpec
    active: ActiveTrial | None = None

    @property
    def running(self) -> ActiveTrial:
        """The running trial, for the fixtures (set before pytest sets them up)."""
        assert self.active is not None, "a trial item's set-up gives it its running trial"
        return self.active


def slot_of(item: pytest.Item) -> TrialSlot | None:
    """The slot a trial item is parametrized with; None for any other item."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get(TRIAL_PARAM) if callspec is not None else None
    return value if isinstance(value, TrialSlot) else None


def spec_of(item: pytest.Item) -> TrialSpec | None:
    """The spec of a trial item (remembered in its stash the first time it is looked up)."""
    spec = item.stash.get(SPEC_KEY, None)
    if spec is None:
        slot = slot_of(item)
        if slot is None:
            return None
        item.stash[SPEC_KEY] = spec = slot.spec
    return spec


def direct_arguments(item: pytest.Item) -> tuple[str, ...]:
    """The arguments of `item` that the plugin's own fixtures provide, which the session may
    fill in itself (a conftest may override `item`, say; its fixture then runs as usual)."""
    info = fixture_info(item)
    if info is None:  # not a function: nothing to give
        return ()
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
