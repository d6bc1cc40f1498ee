"""Decide gates on a run: each one PASS or FAIL, with its numbers, its test and why.

- threshold: mean, ci_low and ci_high are the session-end analysis's per-condition
  estimate and interval (repeats averaged within items, clusters honoured); p50 ... p99, min,
  max and sd are taken over passed trials; total sums a metric over passed trials and a usage
  column (cost_usd, tokens, ...) over every trial, since failed trials cost too; pass@k,
  pass^k, flip_rate and unstable come from `stability`.
- beats: a one-sided paired test (`stats.compare`, test chosen by the data) that the first
  condition is better than the second, at the gate's alpha.
- baseline: `compare_to_baseline` on that condition and metric (three verdicts).
- stable: no item of the condition passes in some repeats and fails in others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from pytest_crucible.errors import StatsError
from pytest_crucible.review.gates._baseline import Baseline
from pytest_crucible.review.gates._compare import compare_to_baseline
from pytest_crucible.review.gates._errors import GateError
from pytest_crucible.review.gates._frames import (
    MetricInfo,
    check_trials,
    item_clusters,
    item_means,
    metric_infos,
    passed_rows,
)
from pytest_crucible.review.gates._grammar import USAGE_COLUMNS, Gate, parse_gate
from pytest_crucible.review.gates._result import GateResult, fmt
from pytest_crucible.review.gates._stability import stability
from pytest_crucible.review.gates._summaries import condition_summary
from pytest_crucible.stats import compare

__all__ = ["evaluate_gates"]

_PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
_HOLDS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}
_BREAKS = {">=": "<", ">": "<=", "<=": ">", "<": ">="}


def evaluate_gates(
    gates: Sequence[Gate | str],
    trials: pd.DataFrame,
    analysis: Any = None,
    *,
    header: Mapping[str, Any] | None = None,
    baseline: Baseline | None = None,
    margins: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    strict: bool = False,
) -> list[GateResult]:
    """One GateResult per gate (per condition for a gate on "*"), in order.

    trials: the run's trials frame; analysis: its RunAnalysis (or the stored dict form), used
    for mean / ci_low / ci_high so gates agree with the results table (computed when None);
    header: the run header (conditions, metric directions); baseline, margins, strict: for
    "not worse than baseline" gates (a gate's own "by M" wins over margins). Strings are
    parsed against the header's conditions and the declared and recorded metrics (a metric
    no trial recorded is a GateError). A baseline gate without a baseline is a GateError.
    """
    trials = check_trials(trials)
    infos = metric_infos(header)
    conditions = _conditions(trials, header)
    # a gate may name any metric the trials recorded, declared or not
    known = list(dict.fromkeys([*infos, *trials.attrs.get("metrics", [])]))
    results: list[GateResult] = []
    for gate in gates:
        if isinstance(gate, str):
            gate = parse_gate(gate, conditions=conditions, metrics=known)
        info = infos.get(gate.metric, MetricInfo(gate.metric))
        targets = conditions if gate.condition == "*" else [gate.condition]
        if gate.kind == "baseline":
            results.extend(
                _baseline(gate, targets, trials, header, baseline, margins, alpha, strict)
            )
            continue
        for condition in targets:
            name = _name(gate, condition)
            if gate.kind == "threshold":
                declared = gate.metric in infos
                results.append(_threshold(gate, name, condition, info, trials, analysis, declared))
            elif gate.kind == "beats":
                results.append(_beats(gate, name, info, trials, gate.alpha or alpha))
            else:
                results.append(_stable(name, condition, info, trials))
    return results


def _conditions(trials: pd.DataFrame, header: Mapping[str, Any] | None) -> list[str]:
    declared = [str(c) for c in (header or {}).get("conditions") or ()]
    return declared or list(dict.fromkeys(trials["condition"].astype(str)))


def _name(gate: Gate, condition: str) -> str:
    return gate.text if gate.condition != "*" else gate.text.replace("*", condition, 1)


def _threshold(
    gate: Gate,
    name: str,
    condition: str,
    info: MetricInfo,
    trials: pd.DataFrame,
    analysis: Any,
    declared: bool,
) -> GateResult:
    assert gate.stat is not None and gate.op is not None and gate.value is not None
    try:
        observed, test, details = _observe(gate, condition, info, trials, analysis, declared)
    except GateError as error:
        return GateResult(name, False, "fail", f"cannot evaluate: {error}", "none")
    label = f"{gate.stat.replace('k', str(gate.k)) if gate.k else gate.stat}"
    if not math.isfinite(observed):
        why = f"no value: {condition} has no passed trial that recorded {gate.metric!r} -> FAIL"
        return GateResult(name, False, "fail", why, test, None, gate.value, details=details)
    passed = _HOLDS[gate.op](observed, gate.value)
    sign = gate.op if passed else _BREAKS[gate.op]
    why = (
        f"{label} {fmt(observed, 4)} {sign} {fmt(gate.value, 4)} ({test}) -> "
        f"{'PASS' if passed else 'FAIL'}"
    )
    return GateResult(
        name, passed, "pass" if passed else "fail", why, test, observed, gate.value,
        details=details,
    )  # fmt: skip


def _observe(
    gate: Gate,
    condition: str,
    info: MetricInfo,
    trials: pd.DataFrame,
    analysis: Any,
    declared: bool,
) -> tuple[float, str, dict[str, Any]]:
    stat, metric = gate.stat or "mean", gate.metric
    if stat in ("mean", "ci_low", "ci_high"):
        summary = condition_summary(analysis, trials, condition, info)
        value = {"mean": summary.mean, "ci_low": summary.ci[0], "ci_high": summary.ci[1]}[stat]
        bound = "lower" if stat == "ci_low" else "upper"
        what = "estimate" if stat == "mean" else f"{summary.level:.0%} CI {bound} bound"
        test = f"{what} of {summary.n_items} items' means, {summary.method}"
        details = {"mean": summary.mean, "ci": list(summary.ci), "n_items": summary.n_items}
        return value, test, details
    if stat in ("pass@k", "pass^k", "flip_rate", "unstable"):
        result = stability(trials, metric, lower_is_better=info.lower_is_better)
        entry = result.condition(condition)
        if stat == "pass@k":
            value, test = entry.pass_at(gate.k), f"pass@{gate.k} over {entry.n_items} items"
        elif stat == "pass^k":
            value, test = entry.pass_hat(gate.k), f"pass^{gate.k} over {entry.n_items} items"
        elif stat == "flip_rate":
            value, test = entry.flip_rate, "outcome changes per pair of consecutive repeats"
        else:
            value, test = float(len(entry.unstable_items)), "items not stable across repeats"
        return value, test, entry.to_dict()
    everything = stat == "total" and metric in USAGE_COLUMNS and not declared
    rows = trials if everything else passed_rows(trials)
    if metric not in rows.columns:
        raise GateError(f"the trials have no column {metric!r}")
    chosen = rows.loc[rows["condition"].astype(str) == condition, metric]
    if everything and metric == "cost_usd":  # a trial that used no model cost nothing
        tokens = [c for c in ("input_tokens", "output_tokens") if c in rows.columns]
        used = rows.loc[chosen.index, tokens].apply(pd.to_numeric, errors="coerce").fillna(0)
        chosen = chosen.mask(used.sum(axis=1).eq(0) & chosen.isna(), 0.0)
    values = chosen.to_numpy(dtype=float)
    values = values[~np.isnan(values)]
    which = "trials, passed and failed" if everything else "passed trials"
    details = {"n_trials": int(values.size)}
    if values.size == 0:
        return math.nan, f"{stat} over {which}", details
    if stat == "total":
        return float(values.sum()), f"sum over {values.size} {which}", details
    if stat in _PERCENTILES:
        value = float(np.percentile(values, _PERCENTILES[stat]))
        return value, f"{stat[1:]}th percentile of {values.size} {which}", details
    if stat == "sd":
        value = float(values.std(ddof=1)) if values.size > 1 else math.nan
        return value, f"SD of {values.size} {which}", details
    value = float(values.min() if stat == "min" else values.max())
    return value, f"{stat} of {values.size} {which}", details


def _beats(
    gate: Gate, name: str, info: MetricInfo, trials: pd.DataFrame, alpha: float
) -> GateResult:
    first, second = gate.condition, gate.other or ""
    wide = item_means(trials, gate.metric)
    if first not in wide.columns or second not in wide.columns:
        missing = [c for c in (first, second) if c not in wide.columns]
        why = f"no passed trial of {missing} recorded {gate.metric!r} -> FAIL"
        return GateResult(name, False, "fail", why, "paired comparison")
    pair = wide[[first, second]].dropna()
    clusters = item_clusters(trials)
    labels = None if clusters is None else clusters.reindex(pair.index).to_numpy(dtype=object)
    alternative = "less" if info.lower_is_better else "greater"
    try:
        result = compare(
            pair[first].to_numpy(dtype=float),
            pair[second].to_numpy(dtype=float),
            paired=True,
            alternative=alternative,
            level=1 - alpha,
            clusters=labels,
        )
    except StatsError as error:
        return GateResult(name, False, "fail", f"cannot compare: {error} -> FAIL", "paired")
    passed = math.isfinite(result.p_value) and result.p_value <= alpha
    better = "lower" if info.lower_is_better else "higher"
    test = f"{result.method}, one-sided ({better} is better; {result.reason})"
    why = (
        f"{first} {fmt(result.mean_a)} vs {second} {fmt(result.mean_b)} on {result.n} items: "
        f"d = {fmt(result.estimate)}, one-sided p = {fmt(result.p_value)} "
        f"{'<=' if passed else '>'} alpha {fmt(alpha)} -> {'PASS' if passed else 'FAIL'}"
    )
    details = {
        "estimate": result.estimate,
        "ci": list(result.ci),
        "p_value": result.p_value,
        "n_items": result.n,
        "test": result.test,
    }
    verdict = "pass" if passed else "fail"
    return GateResult(name, passed, verdict, why, test, result.estimate, 0.0, result.p_value,
                      details=details)  # fmt: skip


def _stable(name: str, condition: str, info: MetricInfo, trials: pd.DataFrame) -> GateResult:
    test = "every item gives the same outcome in all its repeats"
    try:
        entry = stability(trials, info.name, lower_is_better=info.lower_is_better)
        entry_c = entry.condition(condition)
    except GateError as error:
        return GateResult(name, False, "fail", f"cannot evaluate: {error}", test)
    unstable = entry_c.unstable_items
    if not unstable:
        why = (
            f"all {entry_c.n_items} items stable over {entry_c.k} repeats "
            f"(pass^{entry_c.k} = {fmt(entry_c.pass_hat())}) -> PASS"
        )
        return GateResult(name, True, "pass", why, test, 0.0, 0.0, details=entry_c.to_dict())
    shown = ", ".join(unstable[:5]) + (", ..." if len(unstable) > 5 else "")
    why = (
        f"{len(unstable)} of {entry_c.n_items} items flip between repeats ({shown}); "
        f"flip rate {fmt(entry_c.flip_rate)} -> FAIL"
    )
    return GateResult(
        name, False, "fail", why, test, float(len(unstable)), 0.0, details=entry_c.to_dict()
    )


def _baseline(
    gate: Gate,
    targets: list[str],
    trials: pd.DataFrame,
    header: Mapping[str, Any] | None,
    baseline: Baseline | None,
    margins: Mapping[str, float] | None,
    alpha: float,
    strict: bool,
) -> list[GateResult]:
    if baseline is None:
        raise GateError(
            f"gate {gate.text!r} compares with a baseline, but none was given; run with "
            "--crucible-compare NAME|RUN_ID|PATH (save one with --crucible-save-baseline NAME)"
        )
    merged = dict(margins or {})
    if gate.margin is not None:
        merged = {f"{c}.{gate.metric}": gate.margin for c in targets}
    in_baseline = set(baseline.trials()["condition"].astype(str))
    present = [c for c in targets if c in in_baseline]
    by_condition: dict[str, GateResult] = {}
    if present:
        comparison = compare_to_baseline(
            trials, header or baseline.header, baseline, margins=merged,
            alpha=gate.alpha or alpha, strict=strict, conditions=present, metrics=[gate.metric],
        )  # fmt: skip
        for verdict, result in zip(comparison.verdicts, comparison.gate_results(), strict=True):
            by_condition[verdict.condition] = result
    results = []
    for condition in targets:
        name = _name(gate, condition)
        if condition in by_condition:
            results.append(replace(by_condition[condition], name=name))
            continue
        where = "this run" if condition in in_baseline else baseline.describe()
        why = f"{condition} has no passed {gate.metric!r} values in {where} -> FAIL"
        results.append(GateResult(name, False, "fail", why, "none"))
    return results
