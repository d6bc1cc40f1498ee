"""Declared metric scorers: `Metric(scorer=...)` computed after the trial function returns.

For each declared metric with a scorer that the trial did not record itself, the trial calls
`scorer(trial.output, item.expected)` (with `item=item` too when the scorer has an `item`
parameter, as `scorers.judged(...)` has) and records what it returns. A scorer may be async
(or return an awaitable): an async trial function awaits it on its loop, a sync one runs it
to completion. A scorer that returns a `scorers.Judgement` records its `passed` (a binary
metric) or its `score`, and keeps the judgement as the trial's result `<metric>_judgement`;
one that returns a `scorers.CodeResult` (`scorers.humaneval_result`) records its `passed`
and keeps its verdict (stdout, stderr, the failing assertion) in the trial's log.
A scorer that raises fails the trial with a message naming the metric and the scorer.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pytest_crucible.declare.metrics import Metric
from pytest_crucible.declare.validation import MetricValidationError
from pytest_crucible.errors import MetricError, ScorerError
from pytest_crucible.scorers import CodeResult, Judgement
from pytest_crucible.util.tracebacks import hide_library_frames

if TYPE_CHECKING:
    from pytest_crucible.run.trial import Trial

Scorer = Callable[..., Any]

__all__ = ["score_declared", "score_declared_async", "scorer_name"]

__tracebackhide__ = hide_library_frames


def scorer_name(scorer: Scorer) -> str:
    """How a message names a scorer: its qualified name (a partial's function's)."""
    target = scorer.func if isinstance(scorer, functools.partial) else scorer
    module = getattr(target, "__module__", None) or ""
    name = getattr(target, "__qualname__", None) or repr(target)
    if module.startswith("pytest_crucible.scorers"):
        module = "scorers"
    return f"{module}.{name}" if module and module != "__main__" else name


def _takes_item(scorer: Scorer) -> bool:
    try:
        parameters = inspect.signature(scorer).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False
    item = parameters.get("item")
    return item is not None and item.kind in (item.KEYWORD_ONLY, item.POSITIONAL_OR_KEYWORD)


def _pending(trial: Trial) -> list[tuple[str, Metric, Scorer]]:
    recorded = set(trial.metrics)
    return [
        (name, metric, metric.scorer)
        for name, metric in trial.declared_metrics.items()
        if metric.scorer is not None and name not in recorded
    ]


def _failure(trial: Trial, name: str, scorer: Scorer, exc: BaseException) -> MetricError:
    return MetricError(
        f"trial {trial.spec.test_id}: metric {name!r}: its scorer {scorer_name(scorer)} raised "
        f"{type(exc).__name__}: {exc}"
    )


def _call(trial: Trial, name: str, scorer: Scorer) -> Any:
    item = trial.spec.item
    extra = {"item": item} if _takes_item(scorer) else {}
    try:
        return scorer(trial.output, item.expected, **extra)
    except Exception as exc:
        raise _failure(trial, name, scorer, exc) from exc


def _settle(trial: Trial, name: str, metric: Metric, scorer: Scorer, value: Any) -> None:
    """Record what a scorer returned (a judgement: its value, and keep it as a result; a
    code result: whether it passed, and keep its verdict in the trial's log)."""
    if isinstance(value, CodeResult):
        value.log_to(trial)
        value = value.passed if metric.kind != "continuous" else float(value.passed)
    if isinstance(value, Judgement):
        trial.result(f"{name}_judgement", value.to_dict())
        try:
            value = value.metric_value(metric.kind)
        except ScorerError as exc:
            raise _failure(trial, name, scorer, exc) from None
    try:
        trial.record(**{name: value})
    except MetricValidationError:
        raise  # the experiment's validation policy decides (log, retry, abort)
    except MetricError as exc:
        raise MetricError(f"{exc} (returned by the scorer {scorer_name(scorer)})") from None


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


def score_declared(trial: Trial) -> None:
    """Compute the declared scorers' metrics the trial did not record (a sync trial)."""
    for name, metric, scorer in _pending(trial):
        value = _call(trial, name, scorer)
        if inspect.isawaitable(value):
            try:
                value = asyncio.run(_awaited(value))
            except Exception as exc:
                raise _failure(trial, name, scorer, exc) from exc
        _settle(trial, name, metric, scorer, value)


async def score_declared_async(trial: Trial) -> None:
    """`score_declared` for an async trial: async scorers are awaited on the trial's loop."""
    for name, metric, scorer in _pending(trial):
        value = _call(trial, name, scorer)
        if inspect.isawaitable(value):
            try:
                value = await value
            except Exception as exc:
                raise _failure(trial, name, scorer, exc) from exc
        _settle(trial, name, metric, scorer, value)
