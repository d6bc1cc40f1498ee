"""What the progress display shows: per experiment and condition, trials done, failed and to
run, in flight, rate, elapsed time, ETA, tokens and cost (controller role).

`Tally` counts what the controller stores (each trial once, by its key: a trial that failed
and passed on a rerun of pytest-rerunfailures ends counted as passed) and what the workers
say they collected and run (`WorkerView`, beacon.py). `Tally.views()` is a consistent copy
for the display (display.py); `plain_lines` is the text form written when stdout is not a
terminal, `LineSchedule` says when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.store.records import TrialRecord

__all__ = ["ConditionView", "ExperimentView", "LineSchedule", "Tally", "plain_lines"]

_RERUN = "rerun"  # a failed attempt pytest-rerunfailures runs again: not counted yet


@dataclass
class _Counts:
    done: int = 0  # finished (passed or failed) and stored
    failed: int = 0
    skipped: int = 0
    tokens: int = 0
    cost: float | None = None


@dataclass(frozen=True)
class Running:
    """A trial in flight on a worker, with what it said of its progress (trial.progress)."""

    experiment: str
    condition: str
    name: str
    progress: tuple[float, float, str | None] | None = None

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> Running:
        experiment, condition, name, progress = data
        return cls(experiment, condition, name, tuple(progress) if progress else None)

    def to_json(self) -> list[Any]:
        return [self.experiment, self.condition, self.name, self.progress]


@dataclass(frozen=True)
class ConditionView:
    name: str
    done: int
    failed: int
    skipped: int
    total: int | None
    in_flight: int
    tokens: int
    cost: float | None
    running: tuple[Running, ...] = ()  # those that reported progress


@dataclass(frozen=True)
class ExperimentView:
    name: str
    conditions: tuple[ConditionView, ...]
    elapsed: float

    def sum(self, field_name: str) -> int:
        return sum(int(getattr(c, field_name)) for c in self.conditions)

    @property
    def total(self) -> int | None:
        totals = [c.total for c in self.conditions]
        return None if None in totals else sum(t for t in totals if t is not None)

    @property
    def cost(self) -> float | None:
        costs = [c.cost for c in self.conditions if c.cost is not None]
        return sum(costs) if costs else None

    @property
    def rate(self) -> float | None:
        """Trials finished per second so far."""
        done = self.sum("done")
        return done / self.elapsed if done and self.elapsed > 0 else None

    @property
    def eta(self) -> float | None:
        total, rate = self.total, self.rate
        if total is None or rate is None:
            return None
        return max(0, total - self.sum("done") - self.sum("skipped")) / rate


@dataclass
class WorkerView:
    """What the workers say: trials collected to run, per experiment and condition, and the
    trials in flight now."""

    collected: dict[str, dict[str, int]] = field(default_factory=dict)
    running: list[Running] = field(default_factory=list)

    @classmethod
    def merged(cls, snapshots: Iterable[Mapping[str, Any]]) -> WorkerView:
        """Every worker collects the same trials; each runs its own."""
        view = cls()
        for snapshot in snapshots:
            view.collected = view.collected or dict(snapshot.get("collected") or {})
            view.running.extend(Running.from_json(r) for r in snapshot.get("running") or ())
        return view


class Tally:
    """The controller's counts, updated as trials are stored (from pytest's thread) and read
    by the live display (from rich's refresh thread)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, dict[str, _Counts]] = {}
        self._counted: dict[tuple[str, str], str] = {}  # (experiment, trial key) -> status
        self._began: float | None = None  # when the session's first test started
        self.workers = WorkerView()

    def begin(self) -> None:
        """The session's tests start (the time elapsed counts from here)."""
        if self._began is None:
            self._began = self._clock()

    def record(self, record: TrialRecord, *, rerun: bool = False) -> None:
        """A stored trial; `rerun`: an attempt that will run again (pytest-rerunfailures)."""
        with self._lock:
            counts = self._condition(record.experiment, record.condition)
            slot = (record.experiment, record.key)
            self._forget(counts, self._counted.get(slot))
            status = _RERUN if rerun else record.status
            self._counted[slot] = status
            counts.done += status in ("passed", "failed")
            counts.failed += status == "failed"
            counts.skipped += status == "skipped"
            _add_usage(counts, record.usage)

    @staticmethod
    def _forget(counts: _Counts, status: str | None) -> None:
        """Uncount a trial's earlier report (a rerun replaces it)."""
        counts.done -= status in ("passed", "failed")
        counts.failed -= status == "failed"
        counts.skipped -= status == "skipped"

    def skip(self, experiment: str, condition: str) -> None:
        """A trial skipped before it ran (a spent budget, a stopped run, a skip mark)."""
        with self._lock:
            self._condition(experiment, condition).skipped += 1

    def settle(self) -> None:
        """The session's tests have ended: nothing is in flight any more."""
        with self._lock:
            self.workers = WorkerView(self.workers.collected, [])

    def see(self, workers: WorkerView) -> None:
        with self._lock:
            # a worker that ended takes its beacon along: the totals stay
            workers.collected = workers.collected or self.workers.collected
            self.workers = workers

    def _condition(self, experiment: str, condition: str) -> _Counts:
        if self._began is None:  # a result before any test started (handed over at the end)
            self._began = self._clock()
        return self._counts.setdefault(experiment, {}).setdefault(condition, _Counts())

    @property
    def finished(self) -> int:
        """Trials done or skipped, over every experiment."""
        with self._lock:
            counted = self._counts.values()
            return sum(c.done + c.skipped for conditions in counted for c in conditions.values())

    @property
    def total(self) -> int | None:
        collected = self.workers.collected
        return sum(sum(c.values()) for c in collected.values()) if collected else None

    def views(self) -> list[ExperimentView]:
        with self._lock:
            elapsed = self._clock() - self._began if self._began is not None else 0.0
            names = dict.fromkeys([*self.workers.collected, *self._counts])
            return [ExperimentView(n, self._condition_views(n), elapsed) for n in names]

    def _condition_views(self, experiment: str) -> tuple[ConditionView, ...]:
        collected = self.workers.collected.get(experiment)
        counted = self._counts.get(experiment, {})
        running = [r for r in self.workers.running if r.experiment == experiment]
        views = []
        for name in dict.fromkeys([*(collected or {}), *counted]):
            counts = counted.get(name, _Counts())
            mine = [r for r in running if r.condition == name]
            total = collected.get(name, 0) if collected is not None else None
            if total is not None:  # a beacon (rewritten every 0.5 s) may lag the store
                mine = mine[: max(0, total - counts.done - counts.skipped)]
            views.append(
                ConditionView(
                    name,
                    counts.done,
                    counts.failed,
                    counts.skipped,
                    total,
                    len(mine),
                    counts.tokens,
                    counts.cost,
                    tuple(r for r in mine if r.progress is not None),
                )
            )
        return tuple(views)


def _add_usage(counts: _Counts, usage: Mapping[str, Any] | None) -> None:
    """Tokens and cost spent, every attempt's (a rerun spends again)."""
    if not usage:
        return
    counts.tokens += int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
    cost = usage.get("cost_usd")
    if cost is not None:
        counts.cost = (counts.cost or 0.0) + float(cost)


def clock_time(seconds: float | None) -> str:
    """0:07, 1:02:03; "?" when unknown."""
    if seconds is None:
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


def usage_text(tokens: int, cost: float | None) -> str:
    """ "1,234 tokens, $0.5200", or "" when no model was called."""
    if not tokens and cost is None:
        return ""
    return f"{tokens:,} tokens" + (f", ${cost:.4f}" if cost is not None else "")


def plain_lines(views: Sequence[ExperimentView]) -> list[str]:
    """Per experiment a line of totals, then one per condition (when there are several)."""
    lines = []
    for view in views:
        total = view.total
        of = f"/{total}" if total is not None else ""
        facts = [
            f"{view.sum('done')}{of} trials done",
            f"{view.sum('failed')} failed",
            *([f"{view.sum('skipped')} skipped"] if view.sum("skipped") else []),
            f"{view.sum('in_flight')} in flight",
        ]
        timing = [
            f"{view.rate:.2f} trials/s" if view.rate else "",
            f"elapsed {clock_time(view.elapsed)}",
            f"ETA {clock_time(view.eta)}" if view.eta is not None else "",
        ]
        usage = usage_text(view.sum("tokens"), view.cost)
        parts = [", ".join(facts), ", ".join(t for t in timing if t), usage]
        lines.append(f"crucible: {view.name}: " + "; ".join(p for p in parts if p))
        if len(view.conditions) > 1:
            lines.extend(_condition_line(c) for c in view.conditions)
    return lines


def _condition_line(condition: ConditionView) -> str:
    of = f"/{condition.total}" if condition.total is not None else ""
    text = f"crucible:   {condition.name}: {condition.done}{of} done, {condition.failed} failed"
    usage = usage_text(condition.tokens, condition.cost)
    return f"{text}; {usage}" if usage else text


class LineSchedule:
    """When the plain lines are due: at every tenth of the session's trials, and at least
    every `every_s` seconds while trials finish (runs shorter than 20 trials show none)."""

    STEPS = 10
    SHOWN_FROM = 20

    def __init__(self, every_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self._every_s = every_s
        self._clock = clock
        self._next = 0
        self._last = clock()
        self._seen = 0

    def due(self, finished: int, total: int | None) -> bool:
        """Whether lines are due now that `finished` trials are done (moves the marks on)."""
        if total is None or total < self.SHOWN_FROM or finished == self._seen:
            return False
        step = max(1, total // self.STEPS)
        now = self._clock()
        if finished < max(step, self._next) and now - self._last < self._every_s:
            return False
        self._next = (finished // step + 1) * step
        self._last, self._seen = now, finished
        return True
