"""The experiment declaration and its plan: condition x item x repeat, each with a key.

`Experiment` is what a researcher writes in a test file. `Experiment.plan()` turns it into a
`Plan`: the resolved config, the items and one `TrialSpec` per condition x item x repeat, in a
deterministic order (pytest-xdist aborts when workers collect differently).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pytest_crucible.declare.conditions import Condition, check_timeout
from pytest_crucible.declare.config import config_to_dict, resolve_config
from pytest_crucible.declare.datasets import Item, coerce
from pytest_crucible.declare.hooks import Hooks
from pytest_crucible.declare.metrics import Analysis, Metric
from pytest_crucible.declare.policies import ErrorHandling
from pytest_crucible.declare.shards import Shard
from pytest_crucible.declare.validation import MetricValidation, OnInvalid
from pytest_crucible.errors import ConfigError, CrucibleError, ExperimentError
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.names import EXPERIMENT_ATTRIBUTE
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["Experiment", "Plan", "TrialSpec", "registered_experiment"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames

F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class TrialSpec:
    """One trial: what runs (condition, item, repeat) and the key that identifies its result."""

    experiment: str
    condition: str
    item: Item
    repeat: int
    key: str
    seed: int

    @property
    def test_id(self) -> str:
        """The pytest parameter id, e.g. `few_shot-France-r2` (the item id in its safe form,
        `node_safe`; the store and the reports keep the full id)."""
        return f"{self.condition}-{node_safe(self.item.id)}-r{self.repeat}"


_SAFE_ID = re.compile(r"[\w.\-]+")
_UNSAFE_RUN = re.compile(r"[^\w.\-]+")


def node_safe(item_id: str) -> str:
    """An item id as it may appear in a node id: unchanged when made of letters, digits and
    `-_.`; else those characters (the first 40), `~` and 8 hex digits of the id's SHA-256.

    pytest-html writes test ids into its page unescaped, so `<img onerror=...>` as an item
    id would run in a reviewer's browser. The hash keeps ids that sanitise alike apart, and
    `~`, never in an unchanged id, keeps them apart from those."""
    if _SAFE_ID.fullmatch(item_id):
        return item_id
    readable = _UNSAFE_RUN.sub("_", item_id).strip("_")[:40]
    # surrogatepass: an id with a lone surrogate (which UTF-8 cannot encode) still hashes
    hashed = hashlib.sha256(item_id.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{readable}~{hashed}"


@dataclass(frozen=True)
class Plan:
    """An experiment resolved for one session: every input fixed, every trial keyed."""

    experiment: Experiment
    seed: int
    config: Any
    config_dict: dict[str, Any]
    items: tuple[Item, ...]
    dataset_fingerprint: str
    trials: tuple[TrialSpec, ...]
    fingerprint: str
    shard: Shard | None = None  # --crucible-shard: this session runs these trials alone
    # --crucible-conditions / --crucible-repeats: what this session runs of the declared
    # conditions and repeats (empty / 0: all of them, as declared)
    conditions: tuple[str, ...] = ()
    repeat: int = 0
    dataset_name: str = ""  # what the dataset is called, with its sampling ("x.jsonl | ...")

    @property
    def condition_names(self) -> list[str]:
        """The conditions this plan runs, in declared order."""
        return list(self.conditions or self.experiment.conditions)

    @property
    def baseline(self) -> str | None:
        """The declared baseline, or None when this plan leaves it out."""
        baseline = self.experiment.baseline
        return baseline if baseline in self.condition_names else None

    @property
    def name(self) -> str:
        return self.experiment.name

    def header(self) -> dict[str, Any]:
        """What the store records about this experiment's run (JSON-safe)."""
        experiment = self.experiment
        return {
            "name": experiment.name,
            "description": experiment.description,
            "author": experiment.author,
            "version": experiment.version,
            "tags": list(experiment.tags),
            "fingerprint": self.fingerprint,
            "dataset_fingerprint": self.dataset_fingerprint,
            "dataset": self.dataset_name,
            # each item's content hash: a gate tells which items changed since its baseline
            "dataset_items": {item.id: item.fingerprint for item in self.items},
            "config": self.config_dict,
            "seed": self.seed,
            "repeat": self.repeat or experiment.repeat,
            "conditions": self.condition_names,
            "baseline": self.baseline,
            "metrics": {
                name: {
                    "kind": m.kind,
                    "lower_is_better": m.lower_is_better,
                    "description": m.description,
                    "unit": m.unit,
                }
                # only when declared, so the header of a metric without aggregates is unchanged
                | ({"aggregate": [a.name for a in m.aggregates]} if m.aggregate != "mean" else {})
                for name, m in experiment.metrics.items()
            },
            "analysis": dataclasses.asdict(experiment.analysis),
            "gates": list(experiment.gates),
            "total_trials": len(self.trials),
            "items": len(self.items),
        } | self._shard_header()

    def _shard_header(self) -> dict[str, Any]:
        """A shard run's total is its shard's trials; it names its shard and group."""
        shard = self.shard
        if shard is None:
            return {}
        held = sum(1 for trial in self.trials if shard.holds(trial.key))
        return {"total_trials": held, "shard": shard.header(len(self.trials))}


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
        self.author, self.version, self.tags = _labels(name, author, version, tags)
        # seconds each trial may take (None: no limit); not in the fingerprint either
        self.timeout = check_timeout(f"experiment {name}: timeout", timeout)
        self.dataset = coerce(dataset)
        self.baseline = baseline
        self.metrics = _coerce_metrics(name, metrics)
        _check_pass_at_k(name, self.metrics, repeat)
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
        self.hooks, self.error_handling, self.validation = _run_settings(
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
        trials = tuple(
            _spec(self.name, condition, item, repeat, run_seed, config_dict)
            for condition in chosen.values()
            for item in items
            for repeat in range(repeats)
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


def _spec(
    experiment: str,
    condition: Condition,
    item: Item,
    repeat: int,
    seed: int,
    config: dict[str, Any],
) -> TrialSpec:
    key = digest(
        canonical_json(
            {
                "experiment": experiment,
                "config": config,
                "condition": condition.identity,
                "item": item.fingerprint,
                "repeat": repeat,
                "seed": seed,
            }
        )
    )
    return TrialSpec(
        experiment=experiment,
        condition=condition.name,
        item=item,
        repeat=repeat,
        key=key,
        seed=int(key[:8], 16),
    )


def _check_pass_at_k(experiment: str, metrics: Mapping[str, Metric], repeat: int) -> None:
    """pass@K needs at least K repeats of each item."""
    for name, metric in metrics.items():
        for aggregate in metric.aggregates:
            if aggregate.kind == "pass_at_k" and aggregate.value > repeat:
                raise ExperimentError(
                    f"experiment {experiment}: metric {name!r} asks for {aggregate.name}, which "
                    f"needs at least {aggregate.value} repeats per item; the experiment has "
                    f"repeat={repeat}: raise repeat or lower K"
                )


def _coerce_metrics(
    experiment: str, metrics: Mapping[str, Metric] | Sequence[str] | None
) -> dict[str, Metric]:
    if metrics is None:
        return {}
    if isinstance(metrics, str):
        raise ExperimentError(
            f"experiment {experiment}: metrics={metrics!r} must be a dict of Metric or a "
            "list of names, e.g. metrics=['correct']"
        )
    if not isinstance(metrics, Mapping):
        return {name: Metric() for name in metrics}
    for metric_name, metric in metrics.items():
        if not isinstance(metric, Metric):
            raise ExperimentError(
                f"experiment {experiment}: metric {metric_name!r} must be crucible.Metric(...), "
                f"got {metric!r:.60}"
            )
    return dict(metrics)


def _run_settings(
    experiment: str, hooks: Any, handling: Any, validation: Any
) -> tuple[Hooks, ErrorHandling | None, MetricValidation | None]:
    where = f"experiment {experiment}"
    if hooks is not None and not isinstance(hooks, Hooks):
        raise ExperimentError(
            f"{where}: hooks={hooks!r:.60} must be crucible.Hooks(before_condition=..., ...)"
        )
    if handling is not None and not isinstance(handling, ErrorHandling):
        raise ExperimentError(
            f"{where}: error_handling={handling!r:.60} must be crucible.ErrorHandling(...)"
        )
    if validation is not None and not isinstance(validation, MetricValidation):
        raise ExperimentError(
            f"{where}: validation={validation!r:.60} must be crucible.MetricValidation(...)"
        )
    if validation is not None and validation.on_invalid is OnInvalid.RETRY and handling is None:
        raise ExperimentError(
            f"{where}: validation on_invalid='retry' reruns trials under the experiment's "
            "retry policy, and it has none; pass error_handling=crucible.ErrorHandling("
            "max_retries=3, ...) or choose on_invalid='log' or 'abort'"
        )
    return hooks or Hooks(), handling, validation


def _labels(
    experiment: str, author: Any, version: Any, tags: Any
) -> tuple[str | None, str | None, tuple[str, ...]]:
    where = f"experiment {experiment}"
    for label, value in (("author", author), ("version", version)):
        if value is not None and not isinstance(value, str):
            raise ExperimentError(
                f"{where}: {label}={value!r} must be a string (or None), "
                f"e.g. {label}={str(value)!r}"
            )
    if isinstance(tags, str) or not isinstance(tags, Sequence | set | frozenset):
        raise ExperimentError(
            f"{where}: tags={tags!r:.60} must be a list of strings, e.g. tags=['baseline', 'h1']"
        )
    wrong = [tag for tag in tags if not isinstance(tag, str) or not tag]
    if wrong:
        raise ExperimentError(
            f"{where}: tags must be non-empty strings; {wrong[0]!r} is not "
            f"(tags={list(tags)!r:.80})"
        )
    return (
        author,
        version,
        tuple(dict.fromkeys(sorted(tags) if isinstance(tags, set | frozenset) else tags)),
    )


def registered_experiment(fn: Any) -> Experiment | None:
    """The experiment a test function was marked with by `@experiment.trial`, if any."""
    found = getattr(fn, EXPERIMENT_ATTRIBUTE, None)
    return found if isinstance(found, Experiment) else None
