"""What differs between the current run and a baseline besides the results.

Fingerprints (experiment and dataset), seed, repeats, config keys, conditions whose trials
changed (their trial-key digests differ), conditions and items present in only one run.
None of this fails a gate by itself: comparing a changed prompt with the baseline is the
point. It is reported so that a reader knows what was compared with what.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.review.gates._baseline import Baseline, trial_digests

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Drift", "find_drift"]

_SHOWN = 10


@dataclass(frozen=True)
class Drift:
    """Differences between the current run and the baseline (see the module docs)."""

    fingerprint_changed: bool
    dataset_changed: bool
    config_changes: tuple[str, ...]
    changed_conditions: tuple[str, ...]
    conditions_only_in_current: tuple[str, ...]
    conditions_only_in_baseline: tuple[str, ...]
    only_in_current: Mapping[str, tuple[str, ...]]
    only_in_baseline: Mapping[str, tuple[str, ...]]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprint_changed": self.fingerprint_changed,
            "dataset_changed": self.dataset_changed,
            "config_changes": list(self.config_changes),
            "changed_conditions": list(self.changed_conditions),
            "conditions_only_in_current": list(self.conditions_only_in_current),
            "conditions_only_in_baseline": list(self.conditions_only_in_baseline),
            "only_in_current": {c: list(i) for c, i in self.only_in_current.items()},
            "only_in_baseline": {c: list(i) for c, i in self.only_in_baseline.items()},
        }


def find_drift(trials: pd.DataFrame, header: Mapping[str, Any], baseline: Baseline) -> Drift:
    """Compare the current run (its trials and header) with the baseline."""
    old = baseline.header
    warnings: list[str] = []
    fingerprint = _changed(header, old, "fingerprint")
    dataset = _changed(header, old, "dataset_fingerprint")
    if fingerprint:
        warnings.append(
            f"the experiment changed since {baseline.describe()} (fingerprint "
            f"{old.get('fingerprint')} -> {header.get('fingerprint')}): config, condition "
            "code, dataset, metrics, repeats or seed differ"
        )
    config = _config_changes(old.get("config") or {}, header.get("config") or {})
    for key in ("seed", "repeat"):
        if key in header and key in old and header[key] != old[key]:
            config = (*config, f"{key}: {old[key]!r} -> {header[key]!r}")
    if config:
        warnings.append("settings differ from the baseline: " + "; ".join(config))
    current_items = _items(trials)
    base_items = _items(baseline.trials())
    shared = [c for c in current_items if c in base_items]
    only_current = {c: _only(current_items[c], base_items[c]) for c in shared}
    only_base = {c: _only(base_items[c], current_items[c]) for c in shared}
    if dataset:
        warnings.append(
            f"the dataset differs from the baseline's (dataset fingerprint "
            f"{old.get('dataset_fingerprint')} -> {header.get('dataset_fingerprint')})"
            + _item_changes(old.get("dataset_items"), header.get("dataset_items"))
        )
    warnings.extend(_item_warnings(only_current, only_base))
    new_conditions = tuple(c for c in current_items if c not in base_items)
    gone_conditions = tuple(c for c in base_items if c not in current_items)
    if new_conditions:
        warnings.append(f"condition(s) not in the baseline, not compared: {list(new_conditions)}")
    if gone_conditions:
        warnings.append(f"baseline condition(s) missing from this run: {list(gone_conditions)}")
    changed = _changed_conditions(trials, baseline, shared)
    if changed:
        warnings.append(
            "condition(s) whose trials differ from the baseline's (code, parameters, config, "
            f"items or seed): {list(changed)}"
        )
    warnings.extend(baseline.notes)
    return Drift(
        fingerprint, dataset, config, changed, new_conditions, gone_conditions,
        {c: v for c, v in only_current.items() if v},
        {c: v for c, v in only_base.items() if v},
        tuple(warnings),
    )  # fmt: skip


def _changed(new: Mapping[str, Any], old: Mapping[str, Any], key: str) -> bool:
    return bool(new.get(key)) and bool(old.get(key)) and new.get(key) != old.get(key)


def _item_changes(old: Any, new: Any) -> str:
    """Which items were added, removed or edited, from both runs' per-item fingerprints."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):  # a baseline before them
        return (
            "; items are compared by id, so an item whose content changed under the same id "
            "is compared as if unchanged"
        )
    added = sorted(str(i) for i in new if i not in old)
    removed = sorted(str(i) for i in old if i not in new)
    edited = sorted(str(i) for i in new if i in old and new[i] != old[i])
    parts = [
        f"{len(ids)} item(s) {label}: "
        + ", ".join(ids[:_SHOWN])
        + (", ..." if len(ids) > _SHOWN else "")
        for label, ids in (("added", added), ("removed", removed), ("changed", edited))
        if ids
    ]
    if not parts:
        return ": the same items in another order"
    note = "; a changed item is compared by id with its old version" if edited else ""
    return ": " + "; ".join(parts) + note


def _config_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[str, ...]:
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return () if old == new else (f"config: {old!r} -> {new!r}",)
    missing = object()
    changes = []
    for key in sorted(set(old) | set(new), key=str):
        before, after = old.get(key, missing), new.get(key, missing)
        if before != after:
            shown = ["(absent)" if v is missing else repr(v) for v in (before, after)]
            changes.append(f"{key}: {shown[0]} -> {shown[1]}")
    return tuple(changes)


def _items(trials: pd.DataFrame) -> dict[str, set[str]]:
    items: dict[str, set[str]] = {}
    conditions = trials["condition"].astype(str).to_numpy()
    ids = trials["item_id"].astype(str).to_numpy()
    for condition, item in zip(conditions, ids, strict=True):
        items.setdefault(str(condition), set()).add(str(item))
    return items


def _only(these: set[str], those: set[str]) -> tuple[str, ...]:
    return tuple(sorted(these - those))


def _item_warnings(
    only_current: Mapping[str, tuple[str, ...]], only_base: Mapping[str, tuple[str, ...]]
) -> list[str]:
    lines = []
    for label, table in (("this run only", only_current), ("the baseline only", only_base)):
        for condition, ids in table.items():
            if ids:
                shown = ", ".join(ids[:_SHOWN]) + (", ..." if len(ids) > _SHOWN else "")
                lines.append(f"{condition}: {len(ids)} item(s) in {label}, not compared: {shown}")
    return lines


def _changed_conditions(
    trials: pd.DataFrame, baseline: Baseline, shared: list[str]
) -> tuple[str, ...]:
    if not baseline.trial_digests:
        return ()
    current = trial_digests(trials)
    return tuple(
        c
        for c in shared
        if c in current and c in baseline.trial_digests and current[c] != baseline.trial_digests[c]
    )
