"""What every report says, computed once: headline facts, conclusions, tables, costs,
failures. The writers (HTML, Markdown, LaTeX) only lay these out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.review.reports._aggregates import AggregateTable, aggregate_table
from pytest_crucible.review.reports._costs import CostRow, cost_rows, usage_notes
from pytest_crucible.review.reports._format import finite, marker, num, pval
from pytest_crucible.review.reports._gates import GateRow, gate_rows, gate_tally
from pytest_crucible.review.reports._report_data import RunData

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AggregateTable",
    "ComparisonView",
    "ConditionRow",
    "CostRow",
    "FailureRow",
    "GateRow",
    "MetricView",
    "Report",
    "ResultRow",
    "build_report",
]

FAILURES_SHOWN = 200
_CONCLUSIONS_PER_METRIC = 10


@dataclass(frozen=True)
class ConditionRow:
    condition: str
    is_baseline: bool
    n_items: int
    n_trials: int
    n_failed: int
    mean: float | None
    low: float | None
    high: float | None
    method: str
    marker: str  # significance of the comparison against the baseline
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ComparisonView:
    condition: str
    other: str
    n: int
    estimate: float | None
    low: float | None
    high: float | None
    effect: str
    test: str
    p: float | None
    p_adjusted: float | None
    significant: bool
    direction: str
    marker: str
    sentence: str
    ci_method: str = ""
    interval_note: str = ""  # why the interval excludes 0 beside "no difference" (or reverse)


@dataclass(frozen=True)
class MetricView:
    name: str
    kind: str
    binary: bool
    lower_is_better: bool
    unit: str
    conditions: tuple[ConditionRow, ...]
    comparisons: tuple[ComparisonView, ...]
    omnibus: str | None
    power_line: str
    notes: tuple[str, ...]

    @property
    def label(self) -> str:
        better = "lower" if self.lower_is_better else "higher"
        unit = f", {self.unit}" if self.unit else ""
        return f"{self.name} ({self.kind}{unit}, {better} is better)"


@dataclass(frozen=True)
class FailureRow:
    condition: str
    item_id: str
    repeat: int
    where: str
    error: str


@dataclass(frozen=True)
class ResultRow:
    """A trial's `trial.result(key, value)` values, as compact JSON."""

    condition: str
    item_id: str
    repeat: int
    text: str


@dataclass(frozen=True)
class Report:
    run: RunData
    title: str
    facts: tuple[tuple[str, str], ...]
    conclusions: tuple[str, ...]
    metrics: tuple[MetricView, ...]
    costs: tuple[CostRow, ...]
    cost_metric: str | None
    failures: tuple[FailureRow, ...]
    n_failed: int
    level: str
    legend: str
    notes: tuple[str, ...]
    gates: tuple[GateRow, ...] = ()  # verdicts stored with the run, in their order
    family: str = ""  # which comparisons share the p-value adjustment, in words
    ci_label: str = "95% CI"  # the comparisons' interval column ("unadjusted 95% CI")
    results: tuple[ResultRow, ...] = ()  # the first trials that kept trial.result values
    n_results: int = 0  # how many trials kept some
    aggregates: AggregateTable | None = None  # percentiles, pass@K, costs per condition

    @property
    def gates_tally(self) -> str:
        """ "N passed, M failed"."""
        return gate_tally(self.gates)


def build_report(run: RunData) -> Report:
    analysis = run.analysis
    settings = analysis.get("settings") or {}
    metrics = tuple(_metric_view(m, run.baseline) for m in run.metrics)
    quality = next((m for m in metrics if not m.lower_is_better), None)
    costs = cost_rows(run, quality)
    failed = run.trials[run.trials["status"] == "failed"]
    kept = run.trials[run.trials["results"].notna()]
    return Report(
        run=run,
        title=f"{run.experiment}: run {run.run_id}",
        facts=_facts(run, settings),
        conclusions=_conclusions(run, metrics, costs),
        metrics=metrics,
        costs=costs,
        cost_metric=quality.name if quality and any(c.per_point for c in costs) else None,
        failures=tuple(_failure(r) for r in _records(failed.head(FAILURES_SHOWN))),
        n_failed=len(failed),
        level=f"{round(float(settings.get('level', 0.95)) * 100):g}%",
        legend=_legend(float(settings.get("alpha", 0.05))),
        notes=tuple(str(n) for n in analysis.get("notes") or []),
        gates=gate_rows(analysis),
        family=_family(analysis, settings),
        ci_label=_ci_label(settings),
        results=tuple(_result_row(r) for r in _records(kept.head(FAILURES_SHOWN))),
        n_results=len(kept),
        aggregates=aggregate_table(analysis),
    )


def _family(analysis: dict[str, Any], settings: dict[str, Any]) -> str:
    if text := analysis.get("family"):
        return str(text)
    # an analysis stored before the family was written out
    correction = settings.get("correction", "holm")
    return f"{correction} correction across {analysis.get('family_size', 0)} comparisons"


def _ci_label(settings: dict[str, Any]) -> str:
    level = f"{round(float(settings.get('level', 0.95)) * 100):g}% CI"
    return level if settings.get("correction", "holm") == "none" else f"unadjusted {level}"


def _facts(run: RunData, settings: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    trials = run.trials
    status = trials["status"].value_counts()
    git = run.row.get("git_commit") or "unknown"
    if run.row.get("git_dirty"):
        git += " (uncommitted changes)"
    facts = [
        ("experiment", run.experiment),
        ("run", f"{run.run_id} ({run.info.status}, {run.info.sessions} session(s))"),
        (
            "trials",
            f"{len(trials):,} of {run.info.total_trials:,} stored"
            + "".join(f", {int(n):,} {s}" for s, n in status.items()),
        ),
        ("items", f"{run.analysis.get('n_items', 0):,}, repeat {run.header.get('repeat', 1)}"),
        ("conditions", ", ".join(run.conditions)),
        ("baseline", run.baseline or "none (all pairs compared)"),
        (
            "analysis",
            f"paired on items{', clustered' if run.analysis.get('clustered') else ''};"
            f" {_family(run.analysis, settings)}; alpha {settings.get('alpha', 0.05):g}",
        ),
        ("seed", str(run.row.get("seed"))),
        ("git commit", git),
        ("started", str(run.row.get("started_at") or "")),
        ("ended", str(run.row.get("ended_at") or "not ended")),
    ]
    if run.header.get("description"):
        facts.insert(1, ("description", str(run.header["description"])))
    facts[1:1] = _labels(run.header)
    return tuple(facts)


def _labels(header: dict[str, Any]) -> list[tuple[str, str]]:
    """Experiment(author=..., version=..., tags=[...]), where given."""
    labels = [(name, str(header[name])) for name in ("author", "version") if header.get(name)]
    if header.get("tags"):
        labels.append(("tags", ", ".join(str(tag) for tag in header["tags"])))
    return labels


def _metric_view(metric: dict[str, Any], baseline: str | None) -> MetricView:
    kind = str(metric.get("kind", "continuous"))
    comparisons = tuple(_comparison(c) for c in metric.get("comparisons") or [])
    markers = {c.condition: c.marker for c in comparisons if c.other == baseline}
    rows = tuple(
        ConditionRow(
            condition=str(s["condition"]),
            is_baseline=s["condition"] == baseline,
            n_items=int(s.get("n_items", 0)),
            n_trials=int(s.get("n_trials", 0)),
            n_failed=int(s.get("n_failed", 0)),
            mean=finite(s.get("mean")),
            low=finite((s.get("ci") or [None, None])[0]),
            high=finite((s.get("ci") or [None, None])[1]),
            method=str(s.get("method", "")),
            marker=markers.get(str(s["condition"]), ""),
            notes=tuple(str(n) for n in s.get("notes") or []),
        )
        for s in metric.get("conditions") or []
    )
    return MetricView(
        name=str(metric["name"]),
        kind=kind,
        binary=kind == "binary",
        lower_is_better=bool(metric.get("lower_is_better")),
        unit=str(metric.get("unit") or ""),
        conditions=rows,
        comparisons=comparisons,
        omnibus=_omnibus(metric.get("omnibus")),
        power_line=str(metric.get("power_line") or ""),
        notes=tuple(str(n) for n in metric.get("notes") or []),
    )


def _comparison(row: dict[str, Any]) -> ComparisonView:
    result = row.get("result") or {}
    ci = result.get("ci") or [None, None]
    effect = result.get("effect_size") or {}
    p_adjusted = finite(row.get("p_adjusted"))
    significant = bool(row.get("significant"))
    return ComparisonView(
        condition=str(row["condition"]),
        other=str(row["other"]),
        n=int(result.get("n") or 0),
        estimate=finite(result.get("estimate")),
        low=finite(ci[0]),
        high=finite(ci[1]),
        effect=_effect(effect),
        test=str(result.get("method", "")),
        p=finite(result.get("p_value")),
        p_adjusted=p_adjusted,
        significant=significant,
        direction=str(row.get("direction", "")) if p_adjusted is not None else "no test",
        marker=marker(p_adjusted, significant),
        sentence=str(row.get("sentence", "")),
        ci_method=str(result.get("ci_method", "")),
        interval_note=str(row.get("interval_note") or ""),
    )


_EFFECT_NAMES = {
    "cohens_d": "d",
    "hedges_g": "g",
    "odds_ratio": "OR",
    "risk_difference": "RD",
    "rank_biserial": "r_rb",
}


def _effect(effect: dict[str, Any]) -> str:
    value = finite(effect.get("value"))
    raw = str(effect.get("name", "effect"))
    name = _EFFECT_NAMES.get(raw, raw)
    return f"{name} = {num(value)}" if value is not None else f"{name} n/a"


def _omnibus(result: dict[str, Any] | None) -> str | None:
    if not result:
        return None
    df = ", ".join(f"{d:g}" for d in result.get("df") or [] if d is not None)
    statistic = finite(result.get("statistic"))
    return (
        f"{result.get('method', 'omnibus')}({df}) = {num(statistic)}, "
        f"{pval(finite(result.get('p_value')))}, n = {result.get('n', 0)}"
    )


def _conclusions(
    run: RunData, metrics: tuple[MetricView, ...], costs: tuple[CostRow, ...]
) -> tuple[str, ...]:
    lines: list[str] = []
    if run.info.status != "completed":
        lines.append(
            f"The run is {run.info.status}: {len(run.trials):,} of {run.info.total_trials:,}"
            " trials are stored; the numbers below cover those."
        )
    for metric in metrics:
        rows = list(metric.comparisons)
        shown = rows if len(rows) <= _CONCLUSIONS_PER_METRIC else [r for r in rows if r.significant]
        lines.extend(_conclusion(metric, row) for row in shown[:_CONCLUSIONS_PER_METRIC])
        if rest := len(rows) - len(shown[:_CONCLUSIONS_PER_METRIC]):
            lines.append(f"{rest} more comparison(s) on {metric.name}: see the comparisons.")
    lines.extend(f"{c.condition}: {c.per_point}" for c in costs if c.per_point)
    lines.extend(usage_notes(run))
    failed = run.trials[run.trials["status"] == "failed"]
    if len(failed):
        counts = failed["condition"].value_counts()
        which = ", ".join(f"{n} of {c}" for c, n in counts.items())
        lines.append(f"{len(failed):,} trial(s) failed and are not analysed ({which}).")
    timed_out = int((run.trials["error_type"] == "TrialTimeout").sum())
    if timed_out:
        lines.append(f"{timed_out:,} of the failed trial(s) timed out (TrialTimeout).")
    return tuple(lines)


def _conclusion(metric: MetricView, row: ComparisonView) -> str:
    diff = f"{num(row.estimate, metric.binary, signed=True)} [{num(row.low, metric.binary)}, "
    diff += f"{num(row.high, metric.binary)}]"
    p = pval(row.p_adjusted, adjusted=True)
    why = f" ({row.interval_note})" if row.interval_note else ""
    if row.direction in ("better", "worse"):
        verdict = f"{row.condition} is {row.direction} than {row.other} on {metric.name}"
        return f"{verdict}: {diff}, {p}{why}."
    if row.p_adjusted is None:
        return f"{row.condition} vs {row.other} on {metric.name}: no test possible."
    return (
        f"{row.condition} and {row.other} do not differ significantly on {metric.name}: "
        f"{diff}, {p}{why}."
    )


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]


def _failure(row: dict[str, Any]) -> FailureRow:
    raw = row.get("error")
    error: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if error:
        text = f"{error.get('type', 'Error')}: {error.get('message', '')}"
    else:
        text = str(raw) if raw is not None else "(no error recorded)"
    return FailureRow(
        condition=str(row["condition"]),
        item_id=str(row["item_id"]),
        repeat=int(row["repeat"]),
        where=str(error.get("where", "")),
        error=text[:500],
    )


def _result_row(row: dict[str, Any]) -> ResultRow:
    return ResultRow(
        condition=str(row["condition"]),
        item_id=str(row["item_id"]),
        repeat=int(row["repeat"]),
        text=json.dumps(row["results"], ensure_ascii=False, default=repr)[:500],
    )


def _legend(alpha: float) -> str:
    parts = [f"* p_adj ≤ {alpha:g}"]
    parts += [f"{s} < {lv:g}" for s, lv in (("**", 0.01), ("***", 0.001)) if lv < alpha]
    return "significance (adjusted p): " + ", ".join(parts)
