"""Turn a run's trials into per-condition estimates, paired comparisons and a power line."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_crucible.declare.metrics import Analysis, Metric
from pytest_crucible.errors import StatsError
from pytest_crucible.review.analysis._aggregates import condition_costs, metric_aggregates
from pytest_crucible.review.analysis._family import estimand_note, family_text, interval_note
from pytest_crucible.review.analysis._model import (
    ComparisonRow,
    ConditionSummary,
    MetricAnalysis,
    RunAnalysis,
)
from pytest_crucible.review.analysis._text import power_line, sentence, tested_shift
from pytest_crucible.stats import (
    Comparison,
    OmnibusResult,
    adjust,
    compare,
    mean_ci,
    mean_proportion_ci,
    omnibus,
    proportion_ci,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["analyze"]

_REQUIRED = ("condition", "item_id")


@dataclass
class _Draft:
    """A metric's results before the family-wide p-value adjustment."""

    name: str
    metric: Metric
    kind: str
    summaries: tuple[ConditionSummary, ...]
    pairs: list[tuple[str, str, Comparison]] = field(default_factory=list)
    omnibus: OmnibusResult | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Prepared:
    """The analysable rows and what was set aside."""

    means: pd.DataFrame  # (condition, item_id) x metric: repeats averaged within items
    counts: pd.DataFrame  # condition x metric: passed trials that recorded the metric
    binary: frozenset[str]  # metrics whose every recorded trial value is 0 or 1
    clusters: pd.Series | None  # item_id -> cluster label, None when items have no cluster
    failed: dict[str, int]
    n_trials: int
    notes: tuple[str, ...]


def analyze(
    trials: pd.DataFrame,
    *,
    conditions: Sequence[str],
    baseline: str | None,
    metrics: Mapping[str, Metric],
    settings: Analysis = Analysis(),  # noqa: B008 - Analysis is frozen
) -> RunAnalysis:
    """Analyse a run: one row per trial in, a RunAnalysis out (see the module docs).

    Passed trials only (failed ones are counted per condition). For each metric: per-condition
    mean and CI of per-item values (repeats averaged within items; clustered when items carry a
    cluster; inside [0, 1] for a proportion); each condition against the baseline (all pairs
    without one), paired on item_id with complete cases, with the interval of its test;
    p-values adjusted across the family (settings.family: all metrics x comparisons, or each
    metric's comparisons); an omnibus test when there are more than two conditions; a sentence
    per comparison; a power line.
    """
    names = _check(trials, conditions, baseline, metrics)
    prepared = _prepare(trials, names, list(metrics))
    pairs = _pairs(names, baseline)
    drafts = [
        _metric(name, metric, names, pairs, prepared, settings) for name, metric in metrics.items()
    ]
    p_values = [c.p_value for d in drafts for _, _, c in d.pairs]
    families = [drafts] if settings.family == "experiment" else [[d] for d in drafts]
    results = tuple(result for family in families for result in _finish_family(family, settings))
    frame = trials.assign(
        condition=trials["condition"].astype(str), item_id=trials["item_id"].astype(str)
    )
    results = tuple(
        dataclasses.replace(m, aggregates=metric_aggregates(frame, m, metrics[m.name], settings))
        for m in results
    )
    return RunAnalysis(
        conditions=tuple(names),
        baseline=baseline,
        settings=settings,
        metrics=results,
        failed=tuple((name, prepared.failed.get(name, 0)) for name in names),
        n_trials=prepared.n_trials,
        n_items=int(prepared.means.index.get_level_values("item_id").nunique()),
        clustered=prepared.clusters is not None,
        family_size=int(sum(math.isfinite(p) for p in p_values)),
        notes=prepared.notes,
        family=family_text(results, settings),
        costs=condition_costs(frame[frame["condition"].isin(names)], names, results, settings),
    )


def _check(
    trials: Any, conditions: Sequence[str], baseline: str | None, metrics: Mapping[str, Metric]
) -> list[str]:
    import pandas as pd

    if not isinstance(trials, pd.DataFrame):
        raise StatsError(
            f"trials must be a pandas DataFrame (one row per trial); got {type(trials)}"
        )
    if missing := [c for c in _REQUIRED if c not in trials.columns]:
        raise StatsError(f"trials lacks column(s) {missing}; it needs condition and item_id")
    names = [str(c) for c in conditions]
    if not names or len(set(names)) != len(names):
        raise StatsError(f"conditions={names!r} must name at least one condition, each once")
    if baseline is not None and baseline not in names:
        raise StatsError(f"baseline={baseline!r} is not one of the conditions {names}")
    if not metrics:
        raise StatsError("metrics is empty: declare at least one metric to analyse")
    return names


def _prepare(trials: pd.DataFrame, names: list[str], metric_names: list[str]) -> _Prepared:
    import pandas as pd

    frame = trials.assign(
        condition=trials["condition"].astype(str), item_id=trials["item_id"].astype(str)
    )
    notes: list[str] = []
    if unknown := sorted(set(frame["condition"]) - set(names)):
        notes.append(f"trials of unknown condition(s) {unknown} ignored")
    frame = frame[frame["condition"].isin(names)]
    passed = (
        frame["status"].eq("passed") if "status" in frame.columns else pd.Series(True, frame.index)
    )
    failed = {str(k): int(v) for k, v in frame.loc[~passed, "condition"].value_counts().items()}
    if failed:
        notes.append(f"{sum(failed.values())} failed trial(s) not analysed")
    kept = frame.loc[passed]
    columns = [m for m in metric_names if m in kept.columns]
    values = kept[columns].apply(pd.to_numeric, errors="coerce") if columns else kept[[]]
    keys = kept[["condition", "item_id"]]
    table = pd.concat([keys, values], axis=1)
    means = table.groupby(["condition", "item_id"], sort=False).mean()
    counts = table.groupby("condition", sort=False)[columns].count()
    binary = frozenset(
        name
        for name in columns
        if values[name].notna().any() and bool(values[name].dropna().isin((0, 1)).all())
    )
    return _Prepared(means, counts, binary, _clusters(frame), failed, len(frame), tuple(notes))


def _clusters(frame: pd.DataFrame) -> pd.Series | None:
    if "cluster" not in frame.columns or not frame["cluster"].notna().any():
        return None
    labelled = frame.loc[frame["cluster"].notna(), ["item_id", "cluster"]]
    return labelled.groupby("item_id", sort=False)["cluster"].first().astype(str)


def _pairs(names: list[str], baseline: str | None) -> list[tuple[str, str]]:
    if baseline is not None:
        return [(name, baseline) for name in names if name != baseline]
    return list(itertools.combinations(names, 2))


def _metric(
    name: str,
    metric: Metric,
    names: list[str],
    pairs: list[tuple[str, str]],
    prepared: _Prepared,
    settings: Analysis,
) -> _Draft:
    if name not in prepared.means.columns:
        why = f"no trial recorded {name!r}: nothing to analyse"
        empty = tuple(_empty_summary(c, prepared.failed.get(c, 0), why) for c in names)
        return _Draft(name, metric, "continuous", empty, notes=[why])
    wide = prepared.means[name].unstack("condition").reindex(columns=names).dropna(how="all")
    clusters = None
    if prepared.clusters is not None:
        clusters = prepared.clusters.reindex(wide.index).to_numpy(dtype=object)
    kind = _kind(metric, name in prepared.binary)
    summaries = tuple(
        _summary(c, wide[c].to_numpy(np.float64), kind, clusters, prepared, name, settings)
        for c in names
    )
    draft = _Draft(name, metric, kind, summaries)
    for first, second in pairs:
        result = _compare(wide[first], wide[second], clusters, settings, draft.notes)
        draft.pairs.append((first, second, result))
    if len(names) > 2:
        draft.omnibus = _omnibus(wide, names, clusters is not None, draft.notes)
    return draft


def _kind(metric: Metric, binary: bool) -> str:
    """The declared kind; for "auto", binary when every recorded trial value is 0 or 1 (so a
    pass/fail metric stays binary when its repeats average to fractions)."""
    if metric.kind != "auto":
        return metric.kind
    return "binary" if binary else "continuous"


def _summary(
    condition: str,
    values: np.ndarray,
    kind: str,
    clusters: np.ndarray | None,
    prepared: _Prepared,
    metric: str,
    settings: Analysis,
) -> ConditionSummary:
    n_failed = prepared.failed.get(condition, 0)
    n_trials = int(prepared.counts[metric].get(condition, 0)) if metric in prepared.counts else 0
    present = values[~np.isnan(values)]
    if kind == "binary" and clusters is None and present.size and np.isin(present, (0, 1)).all():
        k = int(present.sum())
        ci = proportion_ci(k, int(present.size), "wilson", settings.level)
        se = math.sqrt(ci.estimate * (1 - ci.estimate) / present.size)
        return ConditionSummary(
            condition,
            int(present.size),
            n_trials,
            n_failed,
            ci.estimate,
            se,
            ci.ci,
            "Wilson",
            (*ci.notes, *_wide(ci.ci, int(present.size))),
        )
    if kind == "binary" and present.size and bool(((present >= 0) & (present <= 1)).all()):
        # shares of 0/1 outcomes (repeats averaged, or clustered items): a bounded interval
        result = mean_proportion_ci(values, clusters, n_trials or None, settings.level)
    else:
        result = mean_ci(values, clusters=clusters, level=settings.level)
    notes = tuple(n for n in result.notes if "without a value dropped" not in n)
    return ConditionSummary(
        condition,
        result.n,
        n_trials,
        n_failed,
        result.mean,
        result.se,
        result.ci,
        result.method,
        notes,
    )


def _wide(ci: tuple[float, float], n: int) -> tuple[str, ...]:
    if ci[1] - ci[0] < 0.75:  # as stats.mean_proportion_ci says of its own intervals
        return ()
    items = f"{n} item{'s' if n > 1 else ''}"
    return (f"{items}: the interval spans most of [0, 1]; too few items to say much",)


def _empty_summary(condition: str, n_failed: int, why: str) -> ConditionSummary:
    nan = float("nan")
    return ConditionSummary(condition, 0, 0, n_failed, nan, nan, (nan, nan), "none", (why,))


def _compare(
    a: pd.Series, b: pd.Series, clusters: np.ndarray | None, settings: Analysis, notes: list[str]
) -> Comparison:
    x, y = a.to_numpy(np.float64), b.to_numpy(np.float64)
    try:
        return compare(
            x, y, paired=True, test=settings.test, level=settings.level, clusters=clusters
        )
    except StatsError as error:
        note = (
            f"test={settings.test!r} cannot be used for {a.name} vs {b.name} ({error}); used 'auto'"
        )
        if note not in notes:
            notes.append(note)
        return compare(x, y, paired=True, test="auto", level=settings.level, clusters=clusters)


def _omnibus(
    wide: pd.DataFrame, names: list[str], clustered: bool, notes: list[str]
) -> OmnibusResult | None:
    try:
        result = omnibus([wide[c].to_numpy(np.float64) for c in names], paired=True)
    except StatsError as error:  # pragma: no cover - k > 2 and paired: only odd data reach this
        notes.append(f"no omnibus test: {error}")
        return None
    if clustered:
        notes.append("the omnibus test ignores clusters: read its p-value as too small")
    return result


def _bounded(result: Comparison) -> Comparison:
    low, high = result.ci
    return dataclasses.replace(result, ci=(max(low, -1.0), min(high, 1.0)))


def _finish_family(family: list[_Draft], settings: Analysis) -> list[MetricAnalysis]:
    """Adjust the p-values of one family together, then finish each of its metrics."""
    p_values = [c.p_value for d in family for _, _, c in d.pairs]
    adjusted = iter(adjust(p_values, settings.correction, settings.alpha).adjusted)
    size = int(sum(math.isfinite(p) for p in p_values))
    return [_finish(draft, adjusted, settings, size) for draft in family]


def _finish(draft: _Draft, adjusted: Any, settings: Analysis, size: int) -> MetricAnalysis:
    rows = []
    for first, second, result in draft.pairs:
        p_adj = float(next(adjusted))
        significant = math.isfinite(p_adj) and p_adj <= settings.alpha
        direction = _direction(tested_shift(result), significant, draft.metric.lower_is_better)
        unbounded = math.isinf(result.ci[0]) and math.isinf(result.ci[1])
        if draft.kind == "binary":  # a difference of proportions lies in [-1, 1]
            result = _bounded(result)
        why = interval_note(result, p_adj, significant, settings, size)
        if unbounded and math.isfinite(result.p_value):
            why = (
                f"with {result.n} items the {result.ci_method} interval has no finite bound "
                "(shown as the whole range): too few items to say anything"
            )
        why = "; ".join(n for n in (estimand_note(result, draft.kind == "binary"), why) if n)
        text = sentence(
            draft.name, draft.kind, draft.metric, first, second, result, p_adj, direction, settings
        )
        text += f"; note: {why}" if why else ""
        rows.append(
            ComparisonRow(
                draft.name, first, second, result, p_adj, significant, direction, text, why
            )
        )
    line = power_line(
        draft.name, draft.kind, draft.metric.unit, [c for _, _, c in draft.pairs], settings
    )
    return MetricAnalysis(
        name=draft.name,
        kind=draft.kind,
        lower_is_better=draft.metric.lower_is_better,
        unit=draft.metric.unit,
        conditions=draft.summaries,
        comparisons=tuple(rows),
        omnibus=draft.omnibus,
        power_line=line,
        notes=tuple(draft.notes),
        family_size=size,
    )


def _direction(estimate: float, significant: bool, lower_is_better: bool) -> str:
    if not significant or not math.isfinite(estimate) or estimate == 0:
        return "no difference"
    return "better" if (estimate > 0) != lower_is_better else "worse"
