"""pytest's `--lf` and `--sw` in an experiment run (controller role).

Both select items from what pytest's cache remembers of the last session. For trials that
alone would start a new run of each experiment holding a handful of trials (and `--sw`,
stopping at each failure, a series of incomplete runs). What a user means is to go on with
the run: `--lf` (with failures remembered) reruns the failed trials into their run, as
`--crucible-retry-failed` does; `--sw` (stopped at a failure last time) continues the run, as
`--crucible-resume` does. Without remembered failures both run as usual: a new run. An
explicit `--crucible-resume` or `--crucible-retry-failed` takes precedence.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

__all__ = ["Continuation", "continuation_for_habits"]

_LATEST = "latest"


@dataclass(frozen=True)
class Continuation:
    """The runs a session continues because of `--lf` or `--sw`: as `--crucible-resume`
    (`resume`) or `--crucible-retry-failed` (`retry_failed`), and why (`reason`)."""

    resume: str | None
    retry_failed: str | None
    reason: str


def continuation_for_habits(config: pytest.Config) -> Continuation | None:
    """The continuation that `--lf` or `--sw` asks for; None when neither applies."""
    cache = getattr(config, "cache", None)  # none under -p no:cacheprovider
    if cache is None:
        return None
    if config.getoption("lf", False) and cache.get("cache/lastfailed", {}):
        return Continuation(
            None,
            _LATEST,
            "--lf: the failed trials of the latest run of each experiment run again into "
            "that run (as --crucible-retry-failed)",
        )
    if config.getoption("stepwise", False) and _stepwise_stopped(config, cache):
        return Continuation(
            _LATEST,
            None,
            "--sw: the latest run of each experiment continues from where it stopped "
            "(as --crucible-resume)",
        )
    return None


def _stepwise_stopped(config: pytest.Config, cache: pytest.Cache) -> bool:
    """Whether the last --sw session stopped at a failure (pytest's stepwise cache entry:
    a dict with "last_failed" since pytest 8.4, the node id itself before)."""
    if config.getoption("stepwise_reset", False):
        return False
    cached = cache.get("cache/stepwise", None)
    if isinstance(cached, dict):
        return bool(cached.get("last_failed"))
    return bool(cached)
