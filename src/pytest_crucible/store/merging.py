"""Uniting stores into one: what `crucible merge OUT IN ...` writes (docs/cli.md).

Every run of every input goes to OUT. Runs that are one run become one: the same run id in
several stores (a copied store resumed elsewhere), or the shard runs of one matrix
(`--crucible-shard`: the same experiment, fingerprint, group and shard count), which become
the run `merged_run_id(...)` names, so that merging again, or merging a late shard, finds
it. Their trials are united by place (condition, item, repeat); a place stored in two of
them with different results is a conflict, refused before anything is written. The plan is
made from reads alone; `ResultStore.merge_content` then writes it in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.errors import StoreError
from pytest_crucible.store.interface import ResultStore
from pytest_crucible.store.run_records import StoredBaseline
from pytest_crucible.store.scale_records import RunContent

__all__ = ["MergePlan", "MergedRun", "Part", "merged_run_id", "plan_merge"]

Place = tuple[str, str, int]  # (condition, item_id, repeat)
# the columns that make a trial's result: a place stored twice must agree on these
_RESULT_COLUMNS = ("trial_key", "status", "metrics", "results", "output", "error")
_JSON_RESULTS = frozenset({"metrics", "results", "output", "error"})


@dataclass(frozen=True)
class Part:
    """A run as one store holds it; `source`: that store's printable location."""

    source: str
    content: RunContent

    @property
    def run_id(self) -> str:
        return str(self.content.run["run_id"])

    @property
    def header(self) -> dict[str, Any]:
        header = _json(self.content.run.get("header"))
        return header if isinstance(header, dict) else {}

    @property
    def shard(self) -> dict[str, Any] | None:
        shard = self.header.get("shard")
        return shard if isinstance(shard, dict) else None


@dataclass
class MergedRun:
    """One run of OUT after the merge, and the parts it is made of (OUT's own first)."""

    content: RunContent
    parts: list[Part]
    added: int  # trials OUT's run did not have (all of them for a new run)

    @property
    def run_id(self) -> str:
        return str(self.content.run["run_id"])

    def describe(self) -> str:
        """What the summary says of this run: its trials, its status, and its shards."""
        header = _json(self.content.run["header"])
        stored = len(self.content.trials)
        line = (
            f"run {self.run_id} of {self.content.run['experiment']}: {self.added} trial(s) "
            f"added, {stored} of {header.get('total_trials')} stored "
            f"({self.content.run['status']})"
        )
        shards = header.get("shards")
        if not shards:
            return line
        count = int(str(shards[0]["shard"]).split("/")[1])
        present = {int(str(s["shard"]).split("/")[0]) for s in shards}
        missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in present]
        line += f"; shards {', '.join(sorted({s['shard'] for s in shards}))} of group "
        line += repr(header.get("shard_group"))
        return line + (f"; missing: shard {', '.join(missing)}" if missing else "")


@dataclass
class MergePlan:
    """What the merge writes into OUT."""

    runs: list[MergedRun] = field(default_factory=list)
    cache: list[dict[str, Any]] = field(default_factory=list)
    baselines: list[tuple[StoredBaseline, dict[str, Any]]] = field(default_factory=list)

    def write(self, out: ResultStore) -> None:
        out.merge_content([run.content for run in self.runs], self.cache, self.baselines)


def merged_run_id(experiment: str, fingerprint: str, group: str, count: int) -> str:
    """The id of the run that the shard runs of one group become (8 hex digits, like any
    run id): the same in every merge, so that merging again finds it."""
    text = f"shards/{experiment}/{fingerprint}/{group}/{count}"
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def target_of(part: Part) -> str:
    """The run of OUT that this part belongs to."""
    shard = part.shard
    if shard is None:
        return part.run_id
    run = part.content.run
    return merged_run_id(run["experiment"], run["fingerprint"], str(shard["group"]), shard["count"])


def plan_merge(
    out: ResultStore | None, inputs: Sequence[ResultStore], out_location: str
) -> MergePlan:
    """The merge of `inputs` into `out` (None: a store that does not exist yet), from reads
    alone; StoreError naming the run, the trial and both stores on a conflict."""
    grouped: dict[str, list[Part]] = {}
    for store in inputs:
        for info in sorted(store.runs(), key=lambda run: (run.started_at, run.run_id)):
            part = Part(store.location, store.run_content(info.run_id))
            grouped.setdefault(target_of(part), []).append(part)
    existing = {info.run_id for info in out.runs()} if out is not None else set()
    plan = MergePlan()
    for target, parts in grouped.items():
        in_out = out is not None and target in existing
        if out is not None and in_out:
            parts.insert(0, Part(out.location, out.run_content(target)))
        plan.runs.append(_merged(target, parts, out_location, in_out=in_out))
    stores = [store for store in (out, *inputs) if store is not None]
    plan.cache = _cache(inputs)
    plan.baselines = _baselines(out, stores, _renamed(grouped))
    return plan


def _merged(target: str, parts: Sequence[Part], out_location: str, *, in_out: bool) -> MergedRun:
    """One run of OUT from its parts (`in_out`: the first part is OUT's own run)."""
    kept: dict[Place, tuple[int, dict[str, Any]]] = {}  # the first part storing each place
    for index, part in enumerate(parts):
        for trial in part.content.trials:
            first = kept.setdefault(_place(trial), (index, trial))
            if first[1] is not trial and _result(first[1]) != _result(trial):
                pair = ((parts[first[0]], first[1]), (part, trial))
                raise StoreError(_conflict(target, *pair, out_location))
    base = parts[0]
    logs = [
        log
        for index, part in enumerate(parts)
        for log in part.content.logs
        if kept.get(_place(log), (None,))[0] == index
    ]
    sessions = list(dict.fromkeys(s for part in parts for s in part.content.sessions))
    items = {item["item_id"]: item for part in reversed(parts) for item in part.content.items}
    if len(kept) == len(base.content.trials) and base.shard is None:
        row = dict(base.content.run)  # nothing new: OUT's run (or the one run) as it is
    else:
        row = _merged_row(target, parts, len(kept), len(sessions))
    trials = [trial for _, trial in kept.values()]
    content = RunContent(row, list(items.values()), trials, logs, sessions)
    added = len(kept) - (len(base.content.trials) if in_out else 0)
    return MergedRun(content, list(parts), added)


def _place(row: Mapping[str, Any]) -> Place:
    return (row["condition"], row["item_id"], row["repeat"])


def _merged_row(target: str, parts: Sequence[Part], stored: int, sessions: int) -> dict[str, Any]:
    """The runs row of a run made of several parts: the first part's, its header made the
    whole experiment's (a shard's header names the shards instead of its own), the earliest
    start, the latest end, completed when every trial is stored; no analysis (it covered a
    part: `crucible analyse` makes the whole run's)."""
    base = parts[0]
    header = dict(base.header)
    shard = header.pop("shard", None)
    if isinstance(shard, dict):
        header["total_trials"] = shard["trials"]
        header["shard_group"] = shard["group"]
    shards = {(s["run_id"], s["shard"]) for s in header.get("shards", [])}
    shards |= {(p.run_id, f"{p.shard['index']}/{p.shard['count']}") for p in parts if p.shard}
    if shards:
        ordered = sorted(shards, key=lambda s: (int(s[1].split("/")[0]), s[0]))
        header["shards"] = [{"run_id": run_id, "shard": label} for run_id, label in ordered]
    ends = [p.content.run["ended_at"] for p in parts if p.content.run.get("ended_at")]
    total = int(header["total_trials"])
    return {
        **base.content.run,
        "run_id": target,
        "header": json.dumps(header),
        "total_trials": total,
        "started_at": min(p.content.run["started_at"] for p in parts),
        "ended_at": max(ends) if ends else None,
        "sessions": max([sessions, *(int(p.content.run.get("sessions") or 1) for p in parts)]),
        "status": "completed" if stored >= total else "interrupted",
        "analysis": None,
    }


def _result(trial: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(
        _json(trial.get(name)) if name in _JSON_RESULTS else trial.get(name)
        for name in _RESULT_COLUMNS
    )


def _conflict(
    target: str,
    first: tuple[Part, dict[str, Any]],
    second: tuple[Part, dict[str, Any]],
    out_location: str,
) -> str:
    (one, trial), (other, differing) = first, second
    name = f"{trial['condition']}-{trial['item_id']}-r{trial['repeat']}"

    def said(part: Part, row: Mapping[str, Any]) -> str:
        return (
            f"{part.source} (run {part.run_id}: {row['status']}, key {row['trial_key']}, "
            f"metrics {row['metrics']})"
        )

    return (
        f"run {target} of experiment {one.content.run['experiment']}: trial {name} (trial key "
        f"{trial['trial_key']}) has different results in {said(one, trial)} and in "
        f"{said(other, differing)}; nothing was written to {out_location}. Leave one of the "
        "two stores out of the merge, or merge them into separate stores"
    )


def _cache(inputs: Iterable[ResultStore]) -> list[dict[str, Any]]:
    """The call cache rows of the inputs, the first of each cache key."""
    entries: dict[str, dict[str, Any]] = {}
    for store in inputs:
        for entry in store.call_cache_entries():
            entries.setdefault(entry["cache_key"], entry)
    return list(entries.values())


def _renamed(grouped: Mapping[str, Sequence[Part]]) -> dict[str, str]:
    """Run ids of the inputs that the merge renames (shard runs): old -> new."""
    return {p.run_id: target for target, parts in grouped.items() for p in parts}


def _baselines(
    out: ResultStore | None, stores: Sequence[ResultStore], renamed: Mapping[str, str]
) -> list[tuple[StoredBaseline, dict[str, Any]]]:
    """Each (name, experiment)'s newest baseline among the stores, when OUT lacks it (its
    run renamed as its run is)."""
    newest: dict[tuple[str, str], tuple[StoredBaseline, ResultStore]] = {}
    for store in stores:
        for baseline in store.baselines():
            key = (baseline.name, baseline.experiment)
            known = newest.get(key)
            if known is None or baseline.created_at > known[0].created_at:
                newest[key] = (baseline, store)
    chosen = []
    for (name, experiment), (baseline, store) in newest.items():
        if store is out:
            continue
        run_id = renamed.get(baseline.run_id, baseline.run_id)
        renamed_baseline = StoredBaseline(name, experiment, run_id, baseline.created_at)
        chosen.append((renamed_baseline, store.baseline_document(name, experiment)))
    return chosen


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
