"""The experiment declaration: what a researcher writes in a test file.

`Experiment` holds conditions, dataset, repeats, metrics and how trials run; its `plan()`
resolves it for one session into a `Plan` of keyed trials (plan.py). Its arguments are
checked in `_experiment_arguments.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from pytest_crucible.declare._experiment_arguments import (
    check_pass_at_k,
    coerce_metrics,
    labels,
    run_settings,
)
from pytest_crucible.declare.conditions import Condition, check_timeout
from pytest_crucible.declare.config import config_to_dict, resolve_config
from pytest_crucible.declare.datasets import coerce
from pytest_crucible.declare.hooks import Hooks
from pytest_crucible.declare.metrics import Analysis, Metric
from pytest_crucible.declare.plan import Plan, trial_spec
from pytest_crucible.declare.plan import TrialSpec as TrialSpec  # old path: util/moved.py
from pytest_crucible.declare.plan import node_safe as node_safe
from pytest_crucible.declare.policies import ErrorHandling
from pytest_crucible.declare.validation import MetricValidation
from pytest_crucible.errors import ConfigError, CrucibleError, ExperimentError
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.names import EXPERIMENT_ATTRIBUTE
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Experiment", "registered_experiment"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class Experiment:
    """A declared experiment: conditions x dataset items x repeats, and what each trial records.

    Conditions are a dict of callables (or `Condition`s), or registered with
    `@experiment.condition`. The trial function is marked with `@experiment.trial`; pytest then
    runs it once per condition x item x repeat.
    """

    def __init__(
        self,
        name: str,
        dataset: Any,
        conditions: Mapping[str, Callable[..., Any] | Condition] | None = None,
        *,
        description: str = "",
        baseline: str | None = None,
        metrics: Mapping[str, Metric] | Sequence[str] | None = None,
        repeat: int = 1,
        seed: int | None = None,
        config: Any = None,
        sample: int | None = None,
        analysis: Analysis | None = None,
        gates: Sequence[str] = (),
        concurrency: int | None = None,
        budget: Any = None,
        estimate: Any = None,
        hooks: Hooks | None = None,
        error_handling: ErrorHandling | None = None,
        validation: MetricValidation | None = None,
        author: str | None = None,
        version: str | None = None,
        tags: Sequence[str] = (),
        timeout: float | None = None,
    ) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ExperimentError(
                f"Experiment(name={name!r}): a name is letters, digits, '_', '-' or '.', "
                "starting with a letter or digit, e.g. 'capitals-prompting'"
            )
        if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
            raise ExperimentError(f"experiment {name}: repeat={repeat!r} must be an integer >= 1")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ExperimentError(f"experiment {name}: seed={seed!r} must be an integer or None")
        self.name = name
        self.description = description
        # who ran it, which version of it, labels: stored with each run (not in the
        # fingerprint: they do not change results)
        self.author, self.version, self.tags = labels(name, author, version, tags)
        # seconds each trial may take (None: no limit); not in the fingerprint either
        self.timeout = check_timeout(f"experiment {name}: timeout", timeout)
        self.dataset = coerce(dataset)
        self.baseline = baseline
        self.metrics = coerce_metrics(name, metrics)
        check_pass_at_k(name, self.metrics, repeat)
        self.repeat = repeat
        self.seed = seed
        self.config_schema = config
        self.sample = sample
        self.analysis = analysis or Analysis()
        if isinstance(gates, str) or not all(isinstance(g, str) for g in gates):
            raise ExperimentError(
                f"experiment {name}: gates= takes a list of gate expressions (strings), e.g. "
                "gates=['few_shot.correct.ci_low >= 0.7']; see docs/ci.md"
            )
        self.gates = tuple(gates)
        if concurrency is not None and (
            not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1
        ):
            raise ExperimentError(
                f"experiment {name}: concurrency={concurrency!r} must be an integer >= 1 "
                "(trials in flight per process) or None for --crucible-concurrency"
            )
        self.concurrency = concurrency
        # a calls.Budget (USD limits) and an estimate.Estimate (or {condition: Estimate}) for
        # --crucible-estimate; neither changes results, so neither is in the fingerprint
        self.budget = budget
        self.estimate = estimate
        # lifecycle hooks, retry policy and metric validation (docs/hooks.md,
        # docs/recovery.md): how trials are run and checked, not what they compute, so they
        # are not in the fingerprint either
        self.hooks, self.error_handling, self.validation = run_settings(
            name, hooks, error_handling, validation
        )
        self.conditions: dict[str, Condition] = {}
        self.trial_function: Callable[..., Any] | None = None
        for condition_name, fn in (conditions or {}).items():
            self._add_condition(condition_name, fn)

    def __repr__(self) -> str:
        return f"Experiment({self.name!r})"

    def _add_condition(self, name: str, fn: Callable[..., Any] | Condition) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ExperimentError(
                f"experiment {self.name}: condition name {name!r} must be letters, digits, "
                "'_', '-' or '.'"
            )
        if name in self.conditions:
            raise ExperimentError(f"experiment {self.name}: condition {name!r} is declared twice")
        condition = fn if isinstance(fn, Condition) else Condition(fn)
        self.conditions[name] = condition.named(name)

    def condition(
        self,
        name: str | Callable[..., Any] | None = None,
        *,
        version: str | None = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Register a condition: `@exp.condition`, `@exp.condition("name", version="2")`;
        `timeout`: seconds each call of it may take."""

        def register(fn: F) -> F:
            label = name if isinstance(name, str) else fn.__name__
            condition = Condition(fn, version=version, params=params or {}, timeout=timeout)
            self._add_condition(label, condition)
            return fn

        if callable(name):
            return register(name)
        return register

    def trial(self, fn: F) -> F:
        """Mark the test function that runs one trial (receives `condition`, `item`, `trial`)."""
        if self.trial_function is not None and self.trial_function is not fn:
            raise ExperimentError(
                f"experiment {self.name} already has the trial function "
                f"{self.trial_function.__name__}; one experiment has one trial function"
            )
        self.trial_function = fn
        setattr(fn, EXPERIMENT_ATTRIBUTE, self)
        return fn

    def plan(
        self,
        *,
        overrides: Mapping[str, Any] | None = None,
        seed: int | None = None,
        seed_override: int | None = None,
        conditions: Sequence[str] = (),
        repeat: int | None = None,
    ) -> Plan:
        """Resolve config, dataset and trials.

        `seed` is used when the experiment declares none; `seed_override` (--crucible-seed)
        replaces the declared one. `conditions` (--crucible-conditions) keeps only those of
        the declared conditions that it names; `repeat` (--crucible-repeats) replaces the
        declared repeats.
        """
        where = f"experiment {self.name}"
        self._check_conditions()
        chosen = self._chosen_conditions(conditions)
        repeats = self._chosen_repeat(repeat)
        config = resolve_config(self.config_schema, dict(overrides or {}), where)
        config_dict = config_to_dict(config)
        if seed_override is not None:
            run_seed = seed_override
        else:
            run_seed = self.seed if self.seed is not None else (seed or 0)
        dataset = self.dataset
        if self.sample is not None:
            dataset = dataset.sample(self.sample, seed=run_seed)
        try:
            items = dataset.items
            dataset_fingerprint = dataset.fingerprint
        except CrucibleError as exc:
            raise type(exc)(f"{where}: {exc}") from None
        # Interleaved, conditions innermost: the trials of one item under every condition
        # run side by side, so drift during a run (a provider's load, a rate limit, a model
        # updated mid-run) reaches every condition alike instead of the last one, and a run
        # cut short (a budget, -x, Ctrl-C) holds every item at least once before repeats.
        trials = tuple(
            trial_spec(self.name, condition, item, repeat, run_seed, config_dict)
            for repeat in range(repeats)
            for item in items
            for condition in chosen.values()
        )
        fingerprint = digest(
            canonical_json(
                {
                    "name": self.name,
                    "config": config_dict,
                    "conditions": {n: c.identity for n, c in chosen.items()},
                    "dataset": dataset_fingerprint,
                    "metrics": sorted(self.metrics),
                    "repeat": repeats,
                    "seed": run_seed,
                }
            )
        )
        return Plan(
            experiment=self,
            seed=run_seed,
            config=config,
            config_dict=config_dict,
            items=items,
            dataset_fingerprint=dataset_fingerprint,
            dataset_name=dataset.name,
            trials=trials,
            fingerprint=fingerprint,
            conditions=tuple(chosen) if len(chosen) < len(self.conditions) else (),
            repeat=repeats if repeats != self.repeat else 0,
        )

    def _chosen_conditions(self, names: Sequence[str]) -> dict[str, Condition]:
        """The declared conditions that `names` names (all of them when it is empty)."""
        if not names:
            return self.conditions
        chosen = {name: c for name, c in self.conditions.items() if name in names}
        if not chosen:
            raise ConfigError(
                f"--crucible-conditions {','.join(names)}: experiment {self.name} has none "
                f"of these conditions; its conditions are {', '.join(self.conditions)}"
            )
        return chosen

    def _chosen_repeat(self, repeat: int | None) -> int:
        if repeat is None:
            return self.repeat
        if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
            raise ConfigError(
                f"--crucible-repeats {repeat!r}: experiment {self.name} needs an integer >= 1"
            )
        return repeat

    def _check_conditions(self) -> None:
        if not self.conditions:
            raise ExperimentError(
                f"experiment {self.name} has no conditions; pass conditions={{...}} "
                "or register them with @experiment.condition"
            )
        if self.baseline is not None and self.baseline not in self.conditions:
            raise ExperimentError(
                f"experiment {self.name}: baseline={self.baseline!r} is not a condition; "
                f"the conditions are {list(self.conditions)}"
            )


def registered_experiment(fn: Any) -> Experiment | None:
    """The experiment a test function was marked with by `@experiment.trial`, if any."""
    found = getattr(fn, EXPERIMENT_ATTRIBUTE, None)
    return found if isinstance(found, Experiment) else None
