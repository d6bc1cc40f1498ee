"""An experiment's plan: condition x item x repeat, each with a key.

`Experiment.plan()` (experiment.py) turns a declaration into a `Plan`: the resolved config,
the items and one `TrialSpec` per condition x item x repeat, in a deterministic order
(pytest-xdist aborts when workers collect differently). `trial_spec` gives a trial its key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.declare.conditions import Condition
from pytest_crucible.declare.datasets import Item
from pytest_crucible.declare.shards import Shard
from pytest_crucible.util.hashing import canonical_json, digest
from pytest_crucible.util.tracebacks import hide_library_frames

if TYPE_CHECKING:
    from pytest_crucible.declare.experiment import Experiment

__all__ = ["Plan", "TrialSpec", "node_safe", "trial_spec"]

# a user's error shows the user's frames, not this module's (see _tracebacks.py)
__tracebackhide__ = hide_library_frames


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


def trial_spec(
    experiment: str,
    condition: Condition,
    item: Item,
    repeat: int,
    seed: int,
    config: dict[str, Any],
) -> TrialSpec:
    """The trial of `condition` x `item` x `repeat`, keyed by what identifies its result."""
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
