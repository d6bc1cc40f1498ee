"""Collecting the trials: one item per trial, chosen for this session (worker role).

`TrialCollection` plans each experiment once (its `--crucible-set` values, its seed), gives
the trial function one item per trial, parametrized with the trial's `TrialSlot`
(items.py), then ends a collection with a usage problem, leaves out what a resumed run
already has, and groups the trials for xdist (lookahead.py).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import pytest

from pytest_crucible.errors import ConfigError, CrucibleError, ExperimentError
from pytest_crucible.session.items import (
    GROUP_KEY,
    SPEC_KEY,
    TRIAL_PARAM,
    TrialSlot,
    check_trial_arguments,
)
from pytest_crucible.session.lifecycle import before_experiment
from pytest_crucible.session.lookahead import assign_groups
from pytest_crucible.session.selection import (
    USAGE_REPORT,
    overrides_for,
    parametrized_trials,
    split_resumed,
    split_shard,
    stale_retry_warnings,
    usage_problems,
)

if TYPE_CHECKING:
    from pytest_crucible.declare.experiment import Experiment
    from pytest_crucible.declare.plan import Plan
    from pytest_crucible.session.link import ControllerLink

__all__ = ["TrialCollection"]


class TrialCollection:
    def __init__(self, config: pytest.Config, link: ControllerLink) -> None:
        self.config = config
        self.link = link
        self.plans = link.plans
        self._used_overrides: set[tuple[str | None, str]] = set()
        self._usage_problems: list[str] = []
        # per experiment collected, how many of its trials the resumed run already has
        self.collected: dict[str, int] = {}

    def plan_for(self, experiment: Experiment) -> Plan:
        known = self.plans.get(experiment.name)
        if known is not None:
            if known.experiment is not experiment:
                raise ExperimentError(
                    f"two experiments are named {experiment.name!r}; experiment names must "
                    "be unique in a session (they name the runs in the store)"
                )
            return known
        inputs = self.link.inputs
        applicable = before_experiment(
            self.config,
            experiment,
            overrides_for(experiment, inputs.overrides, self._used_overrides),
        )
        plan = experiment.plan(
            overrides=applicable,
            seed=inputs.seed_for(experiment.name),
            seed_override=inputs.seed_override,
            conditions=self.config.getoption("crucible_conditions") or (),
            repeat=self.config.getoption("crucible_repeats"),
        )
        shard = inputs.shard_for()
        if shard is not None:
            plan = dataclasses.replace(plan, shard=shard)
        self.link.calls.add_plan(plan)
        self.plans[experiment.name] = plan
        return plan

    def parametrize(self, metafunc: pytest.Metafunc, experiment: Experiment) -> None:
        """One test item per trial, parametrized with the trial's slot (items.py).

        `pytest_runtest_setup` puts the running trial in the slot, which the fixtures
        `condition`, `item` and `trial` unpack. The worker, not the fixture system, creates
        the trial (what prefetching needs), and no fixture takes `request` (~100 us each).
        """
        check_trial_arguments(metafunc, experiment)
        try:
            plan = self.plan_for(experiment)
        except ConfigError as exc:  # a bad --crucible-set value: a usage error, said once
            self._usage_problems.append(str(exc))  # collection ends (`select`)
            metafunc.parametrize(TRIAL_PARAM, [None], ids=[experiment.name])
            return
        except CrucibleError as exc:
            raise pytest.Collector.CollectError(str(exc)) from None
        slots = [TrialSlot(spec) for spec in plan.trials]
        metafunc.parametrize(TRIAL_PARAM, slots, ids=[t.test_id for t in plan.trials])

    def select(self, items: list[pytest.Item]) -> None:
        """Once every experiment is collected: end the collection on a usage problem, and
        deselect the trials of other shards and those the resumed runs already have."""
        config = self.config
        inputs = self.link.inputs
        command_line_gates = config.getoption("crucible_gate")
        problems = self._usage_problems + usage_problems(
            self.plans, inputs.overrides, self._used_overrides, command_line_gates
        )
        problems += parametrized_trials(items)
        if problems:
            self.refuse(items, problems)
            return
        self.collected = dict.fromkeys(self.plans, 0)
        shard = inputs.shard_for()
        if shard is not None:
            keep, elsewhere = split_shard(items, shard)
            if elsewhere:
                config.hook.pytest_deselected(items=elsewhere)
                items[:] = keep
        if not inputs.resume:
            return
        for warning in stale_retry_warnings(items, inputs.resume):
            self.link.warn(warning)
        keep, done = split_resumed(items, inputs.resume)
        if done:
            for item in done:
                self.collected[item.stash[SPEC_KEY].experiment] += 1
            config.hook.pytest_deselected(items=done)
            items[:] = keep

    def refuse(self, items: list[pytest.Item], problems: list[str]) -> None:
        """End the collection with usage problems: nothing runs, exit status 4."""
        # A failed collection report, not an exception: raised here under xdist a
        # UsageError would crash the worker instead of reaching the user. The controller
        # recognises the report and ends the session with exit status 4.
        report = pytest.CollectReport(USAGE_REPORT, "failed", "\n".join(problems), [])
        self.config.hook.pytest_collectreport(report=report)
        items[:] = []

    def group(self, items: list[pytest.Item]) -> None:
        """Under xdist: each trial item's group (lookahead.py), computed alike on every
        worker from the collected ids."""
        count = self.link.group_count
        if count:
            groups = assign_groups([item.nodeid for item in items], count)
            for item in items:
                group = groups.get(item.nodeid)
                if group is not None:
                    item.stash[GROUP_KEY] = group
