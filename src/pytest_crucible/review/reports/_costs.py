"""Cost and latency per condition, the cost per point of improvement over the baseline, and
what the model answers were: cut at max_tokens, or served from the recording."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.review.reports._format import finite, usd

if TYPE_CHECKING:
    from pytest_crucible.review.reports._content import ComparisonView, MetricView
    from pytest_crucible.review.reports._report_data import RunData

__all__ = ["CostRow", "cost_rows", "usage_notes"]


@dataclass(frozen=True)
class CostRow:
    condition: str
    trials_with_cost: int
    total_usd: float
    mean_usd: float | None
    mean_latency_s: float | None
    per_point: str  # cost per point of improvement over the baseline, in words ("" for it)


def cost_rows(run: RunData, quality: MetricView | None) -> tuple[CostRow, ...]:
    trials = run.trials
    cost_column, latency_column = run.trial_column("cost_usd"), run.trial_column("latency_s")
    if cost_column not in trials.columns or not trials[cost_column].notna().any():
        return ()
    groups = trials.groupby("condition", sort=False)
    count: dict[Any, Any] = groups[cost_column].count().to_dict()
    total: dict[Any, Any] = groups[cost_column].sum().to_dict()
    mean_cost: dict[Any, Any] = groups[cost_column].mean().to_dict()
    latency: dict[Any, Any] = groups[latency_column].mean().to_dict()
    base_mean = finite(mean_cost.get(run.baseline))
    versus = {
        c.condition: c for c in (quality.comparisons if quality else ()) if c.other == run.baseline
    }
    rows = []
    for condition in run.conditions:
        if condition not in count:
            continue
        mean = finite(mean_cost.get(condition))
        per_point = ""
        if quality and condition in versus and mean is not None and base_mean is not None:
            per_point = _per_point(quality, versus[condition], mean - base_mean)
        rows.append(
            CostRow(
                condition=condition,
                trials_with_cost=int(count[condition]),
                total_usd=float(total[condition]),
                mean_usd=mean,
                mean_latency_s=finite(latency.get(condition)),
                per_point=per_point,
            )
        )
    return tuple(rows)


def _per_point(metric: MetricView, row: ComparisonView, extra_usd: float) -> str:
    """Cost per point of improvement over the baseline, in words."""
    if row.estimate is None:
        return ""
    scale, unit = (100.0, "percentage point") if metric.binary else (1.0, "unit")
    points = row.estimate * scale
    gain = f"{points:+.3g} {unit}s of {metric.name}"
    shown = "" if row.significant else ", not significant"
    if points <= 0:
        return f"no gain over {row.other} ({gain}{shown}); {_more(extra_usd)} per trial"
    if extra_usd <= 0:
        return f"{gain} over {row.other}{shown}, for {_more(extra_usd)} per trial"
    return (
        f"{usd(1000 * extra_usd / points)} per 1,000 trials for each {unit} of {metric.name} "
        f"gained over {row.other} ({gain}{shown}, for {_more(extra_usd)} per trial)"
    )


def _more(extra_usd: float) -> str:
    if extra_usd == 0:
        return "the same cost"
    return f"{usd(abs(extra_usd))} {'more' if extra_usd > 0 else 'less'}"


def usage_notes(run: RunData) -> tuple[str, ...]:
    """Per condition: how many model answers were cut at max_tokens (a warning), and how many
    came from the recording or the call cache (their latency is the recorded one)."""
    trials = run.trials
    calls = run.trial_column("model_calls")
    if calls not in trials.columns or not trials[calls].notna().any():
        return ()
    cut, stored, limit = (
        run.trial_column(name) for name in ("truncated", "cache_hits", "truncated_at")
    )
    sums = trials.groupby("condition", sort=False)[[calls, cut, stored]].sum()
    limits: dict[Any, Any] = trials.groupby("condition", sort=False)[limit].max().to_dict()
    notes = []
    for condition in run.conditions:
        if condition not in sums.index:
            continue
        row: dict[Any, Any] = sums.loc[condition].to_dict()
        answers, truncated, replayed = (int(row[c]) for c in (calls, cut, stored))
        if truncated:
            at = finite(limits.get(condition))
            notes.append(
                f"Warning: {condition}: {truncated:,} of {answers:,} model answers were cut at "
                f"max_tokens{'' if at is None else f'={int(at)}'}; raise max_tokens."
            )
        if replayed:
            notes.append(
                f"{condition}: {replayed:,} of {answers:,} model answers came from the recording;"
                " their latency is the recorded one."
            )
    return tuple(notes)
