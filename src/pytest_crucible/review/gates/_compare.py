"""Compare a run with its baseline: three verdicts per condition x metric.

For each condition and metric of both runs, the per-item difference d = current - baseline
(repeats averaged within items first, paired on item_id, oriented so that d > 0 is better)
is tested against the margin m with `stats.noninferiority` (cluster-robust when items carry
clusters):
- "regression": a one-sided test of H0: d >= -m rejects at alpha, with the p-values
  Holm-adjusted over the family of comparisons, so an unchanged, noisy rerun fails no more
  often than alpha -> FAIL;
- "noninferior": the one-sided (1 - alpha) lower bound of d lies above -m -> PASS;
- "inconclusive": neither -> PASS with a warning giving the items needed to decide (FAIL
  with strict=True).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_crucible.review.gates._baseline import Baseline
from pytest_crucible.review.gates._drift import find_drift
from pytest_crucible.review.gates._errors import GateError
from pytest_crucible.review.gates._frames import (
    MetricInfo,
    check_trials,
    item_clusters,
    item_table,
    metric_infos,
    wide,
)
from pytest_crucible.review.gates._planning import items_needed, spread
from pytest_crucible.review.gates._result import fmt
from pytest_crucible.review.gates._verdicts import BaselineComparison, MetricVerdict
from pytest_crucible.stats import adjust, noninferiority

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["BaselineComparison", "MetricVerdict", "compare_to_baseline"]

_TIE = 1e-12


def compare_to_baseline(
    trials: pd.DataFrame,
    header: Mapping[str, Any],
    baseline: Baseline,
    *,
    margins: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    strict: bool = False,
    conditions: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    plan: bool = True,
) -> BaselineComparison:
    """Compare the current run's trials (and its header) with `baseline` (module docs).

    margins: metric -> margin in the metric's units; "CONDITION.METRIC" for one condition,
    "*" for every metric not named; unnamed metrics get 0 (any shown decline fails).
    conditions, metrics: restrict the comparison (default: all that both runs have).
    plan: run the power planner for inconclusive verdicts (False leaves items_needed None;
    the verdicts are the same, only faster, e.g. in simulations).
    """
    trials = check_trials(trials)
    if not 0 < alpha < 1:
        raise GateError(f"alpha={alpha} must lie strictly between 0 and 1 (e.g. 0.05)")
    infos = {**metric_infos(baseline.header), **metric_infos(header)}
    names = _conditions(trials, header, baseline, conditions)
    compared = _metrics(trials, baseline, infos, metrics)
    margin_of = _margins(margins or {}, _conditions(trials, header, baseline, None), list(infos))
    drift = find_drift(trials, header, baseline)
    base_trials = baseline.trials()
    clusters = item_clusters(trials)
    if clusters is None:
        clusters = item_clusters(base_trials)
    current_table, base_table = item_table(trials, compared), item_table(base_trials, compared)
    drafts, skipped = [], []
    in_baseline = set(base_trials["condition"].astype(str))
    for metric in compared:
        current, base = wide(current_table, metric), wide(base_table, metric)
        for condition in (c for c in names if c in in_baseline):
            if condition in current.columns and condition in base.columns:
                drafts.append(
                    _test(condition, infos[metric], current[condition], base[condition],
                          margin_of(condition, metric), alpha, clusters)
                )  # fmt: skip
            else:
                where = "this run" if condition not in current.columns else "the baseline"
                skipped.append(f"{condition}.{metric}: no passed values in {where}; not compared")
    adjusted = adjust([d.p_regression for d in drafts], "holm", alpha).adjusted
    verdicts = tuple(
        _decide(draft, p_adj, len(drafts), strict, (trials, base_trials) if plan else None)
        for draft, p_adj in zip(drafts, adjusted, strict=True)
    )
    not_compared = () if metrics is not None else tuple(m for m in infos if m not in compared)
    return BaselineComparison(
        baseline.name, baseline.run_id, baseline.experiment, alpha, strict, verdicts, drift,
        not_compared, tuple(skipped),
    )  # fmt: skip


@dataclass(frozen=True)
class _Draft:
    condition: str
    info: MetricInfo
    margin: float
    alpha: float
    current_mean: float
    baseline_mean: float
    differences: np.ndarray
    estimate: float
    lower_bound: float
    p_regression: float
    p_noninferior: float
    n_items: int
    n_clusters: int | None
    method: str
    shown_regression: bool
    shown_noninferior: bool
    notes: tuple[str, ...]


def _test(
    condition: str,
    info: MetricInfo,
    current: pd.Series,
    base: pd.Series,
    margin: float,
    alpha: float,
    clusters: pd.Series | None,
) -> _Draft:
    both = current.notna() & base.reindex(current.index).notna()
    ids = current.index[both]
    x = current[ids].to_numpy(dtype=float)
    y = base.reindex(ids).to_numpy(dtype=float)
    labels = None
    n_clusters = None
    if clusters is not None:
        labels = clusters.reindex(ids).to_numpy(dtype=object)
        n_clusters = len({str(v) for v in labels if v is not None and v == v})
    result = noninferiority(
        x,
        y,
        margin,
        paired=True,
        alpha=alpha,
        clusters=labels,
        lower_is_better=info.lower_is_better,
    )
    differences = (y - x) if info.lower_is_better else (x - y)
    regression, noninferior = result.verdict == "inferior", result.verdict == "noninferior"
    p_reg, p_non = result.p_inferior, result.p_noninferior
    if x.size >= 2 and not (result.se > 0) and abs(result.estimate + margin) <= _TIE:
        # no variation and d exactly -m: "not worse by more than m" holds, no regression
        regression, noninferior, p_reg, p_non = False, True, 1.0, 0.0
    return _Draft(
        condition, info, margin, alpha,
        float(x.mean()) if x.size else math.nan, float(y.mean()) if y.size else math.nan,
        differences, result.estimate, result.lower_bound, p_reg, p_non, result.n,
        n_clusters, result.method, regression, noninferior, result.notes,
    )  # fmt: skip


def _decide(
    draft: _Draft,
    p_adjusted: float,
    family: int,
    strict: bool,
    frames: tuple[pd.DataFrame, pd.DataFrame] | None,
) -> MetricVerdict:
    regression = draft.shown_regression and (math.isfinite(p_adjusted) and p_adjusted < draft.alpha)
    warning = None
    needed = None
    if regression:
        verdict, passed = "regression", False
    elif draft.shown_noninferior:
        verdict, passed = "noninferior", True
    else:
        verdict, passed = "inconclusive", not strict
        text = "neither a regression nor non-inferiority shown"
        if frames is not None:
            toward_regression = draft.estimate + draft.margin < 0
            plan = items_needed(
                draft.estimate, draft.margin, draft.differences,
                spread(frames[0], draft.condition, draft.info.name),
                spread(frames[1], draft.condition, draft.info.name),
                draft.alpha / family if toward_regression else draft.alpha,
            )  # fmt: skip
            needed, text = plan.items, plan.text
        label = f"{draft.condition}.{draft.info.name}"
        warning = f"{label} vs baseline is inconclusive: {text}"
        if draft.n_clusters is not None:
            warning += " (items share clusters: count clusters rather than items)"
    return MetricVerdict(
        condition=draft.condition,
        metric=draft.info.name,
        verdict=verdict,
        passed=passed,
        margin=draft.margin,
        alpha=draft.alpha,
        lower_is_better=draft.info.lower_is_better,
        current_mean=draft.current_mean,
        baseline_mean=draft.baseline_mean,
        estimate=draft.estimate,
        lower_bound=draft.lower_bound,
        p_regression=draft.p_regression,
        p_regression_adjusted=float(p_adjusted),
        p_noninferior=draft.p_noninferior,
        n_items=draft.n_items,
        n_clusters=draft.n_clusters,
        method=draft.method,
        items_needed=needed,
        explanation=_explain(draft, verdict, passed, p_adjusted, family),
        warning=warning,
        notes=draft.notes,
    )


def _explain(draft: _Draft, verdict: str, passed: bool, p_adjusted: float, family: int) -> str:
    direction = " (lower is better)" if draft.info.lower_is_better else ""
    level = f"{1 - draft.alpha:.0%}"
    head = (
        f"{fmt(draft.current_mean)} vs baseline {fmt(draft.baseline_mean)}{direction} on "
        f"{draft.n_items} items: d = {_signed(draft.estimate)}, one-sided {level} lower bound "
        f"{_signed(draft.lower_bound)}, margin {fmt(draft.margin)}"
    )
    adjusted = f", Holm over {family}: {fmt(p_adjusted)}" if family > 1 else ""
    p_text = f"p(regression) = {fmt(draft.p_regression)}{adjusted}"
    if verdict == "regression":
        return f"{head}; regression shown ({p_text} < {fmt(draft.alpha)}) -> FAIL"
    if verdict == "noninferior":
        return f"{head}; not worse than the baseline by more than the margin -> PASS"
    outcome = "PASS with warning" if passed else "FAIL (strict)"
    return f"{head}; inconclusive ({p_text}; lower bound below -margin) -> {outcome}"


def _signed(value: float) -> str:
    text = fmt(value)
    return text if text == "n/a" or text.startswith("-") or text == "0" else f"+{text}"


def _conditions(
    trials: pd.DataFrame,
    header: Mapping[str, Any],
    baseline: Baseline,
    wanted: Sequence[str] | None,
) -> list[str]:
    declared = [str(c) for c in header.get("conditions") or ()]
    present = declared or list(dict.fromkeys(trials["condition"].astype(str)))
    if wanted is None:
        return present
    unknown = [c for c in wanted if c not in present]
    if unknown:
        raise GateError(f"condition(s) {unknown} are not in this run; it has {present}")
    return [c for c in present if c in wanted]


def _metrics(
    trials: pd.DataFrame,
    baseline: Baseline,
    infos: Mapping[str, MetricInfo],
    wanted: Sequence[str] | None,
) -> list[str]:
    base_columns = set(baseline.trials().columns)
    both = [m for m in infos if m in trials.columns and m in base_columns]
    if wanted is None:
        return both
    unknown = [m for m in wanted if m not in both]
    if unknown:
        raise GateError(
            f"metric(s) {unknown} cannot be compared with {baseline.describe()}: both runs "
            f"must record them; comparable metrics: {both or 'none'}"
        )
    return [m for m in both if m in wanted]


def _margins(
    margins: Mapping[str, float], conditions: list[str], metric_names: list[str]
) -> Callable[[str, str], float]:
    """Check the margins' keys and values; return the lookup (condition, metric) -> margin."""
    for key, value in margins.items():
        metric = key.split(".")[-1] if key not in metric_names else key
        prefix = key[: -len(metric) - 1] if key != metric else None
        if key != "*" and (metric not in metric_names or (prefix and prefix not in conditions)):
            raise GateError(
                f"margin {key}={value}: {key!r} names no metric; use METRIC=M, "
                f"CONDITION.METRIC=M or *=M (metrics: {', '.join(metric_names) or 'none'})"
            )
        if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
            raise GateError(f"margin {key}={value!r} must be a number >= 0 in the metric's units")

    def margin_of(condition: str, metric: str) -> float:
        for key in (f"{condition}.{metric}", metric, "*"):
            if key in margins:
                return float(margins[key])
        return 0.0

    return margin_of
