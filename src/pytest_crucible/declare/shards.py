"""Static shards: `--crucible-shard I/N` runs the trials whose key falls in shard I of N.

A trial's shard is a stable hash of its trial key (SHA-256, not Python's salted `hash()`), so
it does not depend on collection order, on `-n`, on resume or on the machine: the N shards
are disjoint and together hold every trial. The shard runs of one CI matrix share a group
(`--crucible-shard-group`, else the CI's run id, else the git commit), and `crucible merge`
unites the runs of one experiment, fingerprint and group into one run (docs/scale.md).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CI_RUN_IDS", "Shard", "default_group", "parse_shard", "shard_of"]

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
# environment variables naming one CI pipeline run, the same in every job of its matrix
# (a re-run of a failed job keeps it, so its shard rejoins the group)
CI_RUN_IDS = (
    "GITHUB_RUN_ID",  # GitHub Actions
    "CI_PIPELINE_ID",  # GitLab CI
    "BUILDKITE_BUILD_ID",  # Buildkite
    "CIRCLE_WORKFLOW_ID",  # CircleCI
    "BUILD_BUILDID",  # Azure Pipelines
    "BUILD_TAG",  # Jenkins
)


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`, in the group `group`."""

    index: int
    count: int
    group: str

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, trial_key: str) -> bool:
        return shard_of(trial_key, self.count) == self.index

    def header(self, experiment_trials: int) -> dict[str, Any]:
        """What a shard run records in its header: the shard, its group, and how many
        trials the whole experiment has (the merged run's total)."""
        return {
            "index": self.index,
            "count": self.count,
            "group": self.group,
            "trials": experiment_trials,
        }


def shard_of(trial_key: str, count: int) -> int:
    """The shard (1..count) that holds the trial with this key."""
    value = int.from_bytes(hashlib.sha256(trial_key.encode("utf-8")).digest()[:8], "big")
    return value % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """(I, N) from "I/N"; ValueError with what to give instead."""
    match = _SHARD.match(text)
    if match is None:
        raise ValueError(
            "give I/N, this process's shard and the number of shards, e.g. 2/4 "
            "(the shards are numbered 1 to N)"
        )
    index, count = int(match[1]), int(match[2])
    if count < 1 or not 1 <= index <= count:
        raise ValueError(
            f"shard {index} of {count} does not exist: I/N takes 1 <= I <= N, e.g. "
            f"1/{max(count, 2)} to {max(count, 2)}/{max(count, 2)}"
        )
    return index, count


def default_group(environ: Mapping[str, str] | None = None, commit: str | None = None) -> str:
    """The group of shard runs when none is given: the CI's run id (`GITHUB_RUN_ID=123`), else
    the git commit (`git:COMMIT`), else `local`."""
    environ = os.environ if environ is None else environ
    for name in CI_RUN_IDS:
        value = environ.get(name, "").strip()
        if value:
            return f"{name}={value}"
    return f"git:{commit}" if commit else "local"
