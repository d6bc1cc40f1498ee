"""Gate outcomes as terminal text and as Markdown (a CI job summary, the Markdown report)."""

from __future__ import annotations

from collections.abc import Sequence

from pytest_crucible.review.gates._result import GateResult, fmt
from pytest_crucible.review.gates._verdicts import BaselineComparison, MetricVerdict

__all__ = ["format_markdown", "format_text"]


def format_text(results: Sequence[GateResult], comparison: BaselineComparison | None = None) -> str:
    """Lines for the terminal summary: one per gate, then the baseline's warnings."""
    lines = []
    if results:
        failed = sum(not r.passed for r in results)
        lines.append(f"gates: {len(results) - failed} passed, {failed} failed")
        lines.extend(f"  {r.line()}" for r in results)
        lines.extend(f"  warning: {r.warning}" for r in results if r.warning)
    if comparison is not None:
        lines.append(_comparison_title(comparison))
        lines.extend(f"  {_verdict_line(v)}" for v in comparison.verdicts)
        lines.extend(f"  warning: {w}" for w in comparison.warnings)
    return "\n".join(lines)


def format_markdown(
    results: Sequence[GateResult],
    comparison: BaselineComparison | None = None,
    *,
    heading: str = "##",
) -> str:
    """A Markdown section: a table of gates, the baseline comparison and its warnings."""
    parts = []
    if results:
        failed = sum(not r.passed for r in results)
        parts.append(f"{heading} Gates: {len(results) - failed} passed, {failed} failed\n")
        parts.append("| result | gate | value | test | why |\n|---|---|---|---|---|")
        parts.extend(
            f"| {_badge(r.passed)} | `{_cell(r.name)}` | {fmt(r.observed, 4)} | "
            f"{_cell(r.test)} | {_cell(r.explanation)} |"
            for r in results
        )
        warned = [r.warning for r in results if r.warning]
        if warned:
            parts.append("\n" + "\n".join(f"- warning: {_cell(w)}" for w in warned))
    if comparison is not None:
        parts.append(f"\n{heading} {_comparison_title(comparison)}\n")
        parts.append(
            "| result | condition | metric | current | baseline | d | lower bound | margin "
            "| p (regression) | items | verdict |\n" + "|---" * 11 + "|"
        )
        parts.extend(_verdict_row(v) for v in comparison.verdicts)
        if comparison.warnings:
            parts.append("\n" + "\n".join(f"- {_cell(w)}" for w in comparison.warnings))
    return "\n".join(parts).strip() + "\n"


def _comparison_title(comparison: BaselineComparison) -> str:
    outcome = "PASS" if comparison.passed else "FAIL"
    strict = ", strict" if comparison.strict else ""
    return (
        f"{comparison.experiment} against baseline {comparison.baseline!r} (run "
        f"{comparison.baseline_run_id}, alpha {fmt(comparison.alpha)}{strict}): {outcome}"
    )


def _verdict_line(verdict: MetricVerdict) -> str:
    status = "PASS" if verdict.passed else "FAIL"
    return f"{status} {verdict.condition}.{verdict.metric} {verdict.verdict}: {verdict.explanation}"


def _verdict_row(v: MetricVerdict) -> str:
    arrow = " (lower is better)" if v.lower_is_better else ""
    return (
        f"| {_badge(v.passed)} | {_cell(v.condition)} | {_cell(v.metric)}{arrow} | "
        f"{fmt(v.current_mean)} | {fmt(v.baseline_mean)} | {fmt(v.estimate)} | "
        f"{fmt(v.lower_bound)} | {fmt(v.margin)} | {fmt(v.p_regression_adjusted)} | "
        f"{v.n_items} | {v.verdict} |"
    )


def _badge(passed: bool) -> str:
    return "**PASS**" if passed else "**FAIL**"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
