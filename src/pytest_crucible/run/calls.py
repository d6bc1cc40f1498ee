"""Model calls inside trials: the call cache, replay, budgets, and usage and cost per trial.

Each trial gets a `TrialCalls` (the `CallContext` that backends consult, see llm/context.py):
- `before_call` answers from the call cache (`--crucible-cache=read|readwrite`, or
  `--crucible-replay`, where a call missing from the recording is an error that names it);
- `after_call` adds the response's tokens and cost to the trial and to the process's
  `Spending` (budgets), and keeps the call for the cache (`write|readwrite`, the default
  `write` records every call so that the run can be replayed later).

A stored answer keeps the latency it was recorded with, and that duration counts in the
trial's `latency_s` (llm/context.py, `ReplayClock`), so a replayed run's latencies are the
recorded ones. Answers cut at the token limit (finish reason "length": OpenAI's "length",
Anthropic's "max_tokens") are counted, with the largest `max_tokens` that cut one, so that
the session and the reports can say which conditions were truncated.

The cache lives in the store's `model_calls` table. Workers read it through a read-only
connection; new entries travel with the trial's result to the controller, which writes them.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pytest_crucible.declare.policies import Budget
from pytest_crucible.errors import CrucibleError
from pytest_crucible.llm.context import note_replayed
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.locations import may_exist
from pytest_crucible.util.hashing import canonical_json, digest

if TYPE_CHECKING:  # pydantic models: imported when a model is first called, not by pytest
    from pytest_crucible.llm.types import ModelRequest, ModelResponse

__all__ = [
    "CACHE_MODES",
    "Budget",
    "BudgetExceeded",
    "CachePolicy",
    "CallCache",
    "ReplayMissError",
    "Spending",
    "TrialCalls",
    "cache_key",
    "parse_cache_mode",
]

CacheMode = Literal["off", "read", "write", "readwrite", "replay"]
CACHE_MODES = ("off", "read", "write", "readwrite")


class ReplayMissError(CrucibleError):
    """--crucible-replay met a model call that the store has no recording of."""


class BudgetExceeded(CrucibleError):
    """A budget is spent: trials not yet started are skipped."""


def parse_cache_mode(value: str | None, *, replay: bool) -> CacheMode:
    if replay:
        return "replay"
    mode = (value or "write").strip().lower()
    if mode not in CACHE_MODES:
        raise CrucibleError(
            f"--crucible-cache={value}: choose one of {', '.join(CACHE_MODES)} "
            "(write, the default, records every call so the run can be replayed)"
        )
    return mode  # type: ignore[return-value]


def cache_key(backend: str, request: ModelRequest, repeat: int) -> str:
    """What determines an answer: backend, model, messages, tools, sampling parameters and
    seed, plus the repeat index (so repeats of a sampled call are not one cached answer)."""
    payload = {"backend": backend, "request": request.model_dump(mode="json"), "repeat": repeat}
    return digest(canonical_json(payload))


@dataclass
class Spending:
    """What one process has spent per experiment and condition, checked against budgets.

    Under xdist each of N workers holds 1/N of each limit, so together they never pass it
    (a worker that drew cheap trials may stop a little early). `spent_before` is what a
    resumed run had already spent.
    """

    budgets: Mapping[str, Budget]
    share: float = 1.0
    spent_before: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    _spent: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    unpriced: set[str] = field(default_factory=set)

    def add(self, experiment: str, condition: str, usd: float) -> None:
        with self._lock:
            key = (experiment, condition)
            self._spent[key] = self._spent.get(key, 0.0) + usd

    def exhausted(self, experiment: str, condition: str) -> str | None:
        """Why no new trial of this condition may start, or None."""
        budget = self.budgets.get(experiment)
        if budget is None:
            return None
        before = self.spent_before.get(experiment, {})
        with self._lock:
            own = {c: v for (e, c), v in self._spent.items() if e == experiment}
        condition_spent = own.get(condition, 0.0) + before.get(condition, 0.0) * self.share
        total_spent = sum(own.values()) + sum(before.values()) * self.share
        if budget.max_total_usd is not None and total_spent >= budget.max_total_usd * self.share:
            return (
                f"budget: experiment {experiment} spent ${total_spent / self.share:.4f} of "
                f"max_total_usd={budget.max_total_usd}; resume with a larger budget to finish"
            )
        limit = budget.max_per_condition_usd
        if limit is not None and condition_spent >= limit * self.share:
            return (
                f"budget: condition {condition} of {experiment} spent "
                f"${condition_spent / self.share:.4f} of max_per_condition_usd={limit}; "
                "resume with a larger budget to finish"
            )
        return None


class CallCache:
    """Read access to the store's recorded model calls (a read-only store per process)."""

    def __init__(self, location: str | Path) -> None:
        """`location`: the store's, unmasked (each process opens its own connection)."""
        self.location = location
        self._store: ResultStore | None = None
        self._lock = threading.Lock()

    def get(self, key: str) -> ModelResponse | None:
        with self._lock:
            if self._store is None:
                if not may_exist(self.location):
                    return None
                self._store = open_store(self.location, readonly=True)
            response = self._store.cached_response(key)
        if response is None:
            return None
        from pytest_crucible.llm.types import ModelResponse

        return ModelResponse.model_validate(response)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


@dataclass(frozen=True)
class CachePolicy:
    mode: CacheMode
    cache: CallCache | None
    spending: Spending | None = None


class TrialCalls:
    """The call context of one trial: cache and replay, usage and cost, the calls to keep."""

    def __init__(
        self,
        policy: CachePolicy,
        *,
        experiment: str,
        condition: str,
        repeat: int,
        seed: int | None = None,
    ):
        self.policy = policy
        self.seed = seed  # backends send it with requests that have none (llm/_backend.py)
        self.experiment = experiment
        self.condition = condition
        self.repeat = repeat
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd: float | None = None
        self.model_calls = 0
        self.cache_hits = 0
        self.truncated = 0
        self.truncated_at = 0  # the largest max_tokens among the truncated answers
        self.recorded: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def serves_stored(self) -> bool:
        """Whether calls may be answered from the recording (replay, the call cache)."""
        return self.policy.mode in ("read", "readwrite", "replay") and self.policy.cache is not None

    def _count_truncated(self, request: ModelRequest, response: ModelResponse) -> None:
        if response.finish_reason == "length":  # under self._lock
            self.truncated += 1
            self.truncated_at = max(self.truncated_at, request.max_tokens)

    def before_call(self, backend: str, request: ModelRequest) -> ModelResponse | None:
        mode = self.policy.mode
        if mode not in ("read", "readwrite", "replay") or self.policy.cache is None:
            return None
        key = cache_key(backend, request, self.repeat)
        stored = self.policy.cache.get(key)
        if stored is not None:
            with self._lock:
                self.model_calls += 1
                self.cache_hits += 1
                self.input_tokens += stored.usage.input_tokens
                self.output_tokens += stored.usage.output_tokens
                self._count_truncated(request, stored)
            recorded = stored.duration_s
            note_replayed(stored.latency_s if recorded is None else recorded)
            return stored.model_copy(update={"cached": True, "cost_usd": 0.0})
        if mode == "replay":
            last = request.messages[-1].content if request.messages else ""
            raise ReplayMissError(
                f"--crucible-replay: no recorded answer for a {backend} call to model "
                f"{request.model!r} (repeat {self.repeat}, last message {last[:80]!r}, cache "
                f"key {key}); run without --crucible-replay to record it, or check that the "
                "prompt, parameters and seed are unchanged since the recording"
            )
        return None

    def after_call(self, backend: str, request: ModelRequest, response: ModelResponse) -> None:
        with self._lock:
            self.model_calls += 1
            self.input_tokens += response.usage.input_tokens
            self.output_tokens += response.usage.output_tokens
            self._count_truncated(request, response)
            if response.cost_usd is not None:
                self.cost_usd = (self.cost_usd or 0.0) + response.cost_usd
            if self.policy.mode in ("write", "readwrite"):
                self.recorded.append(
                    {
                        "cache_key": cache_key(backend, request, self.repeat),
                        "backend": backend,
                        "model": request.model,
                        "request": request.model_dump(mode="json"),
                        "response": response.model_dump(mode="json"),
                    }
                )
        spending = self.policy.spending
        if spending is not None:
            if response.cost_usd is not None:
                spending.add(self.experiment, self.condition, response.cost_usd)
            else:
                spending.unpriced.add(response.model)

    def cut_off(self, request: ModelRequest, cost_usd: float | None) -> None:
        """A request cancelled before its answer: the budget counts what it may have cost
        (a limit errs on the safe side); the trial's usage counts answers only, and the
        hedge's record says what its loser cost."""
        spending = self.policy.spending
        if spending is None:
            return
        if cost_usd is not None:
            spending.add(self.experiment, self.condition, cost_usd)
        else:
            spending.unpriced.add(request.model)

    def result_fields(self) -> dict[str, Any]:
        """What goes into the trial's stored result."""
        if not self.model_calls:
            return {}
        return {
            "usage": {
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "cost_usd": self.cost_usd,
                "model_calls": self.model_calls,
                "cache_hits": self.cache_hits,
                "truncated": self.truncated,
                "truncated_at": self.truncated_at or None,
            },
            "model_calls": list(self.recorded),
        }
