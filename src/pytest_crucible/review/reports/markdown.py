"""report.md: the summary as GitHub-flavoured Markdown, for a pull-request comment or a CI
job summary (`cat report.md >> "$GITHUB_STEP_SUMMARY"`).

Every text from the run goes through `md_cell`: table pipes, markup characters and HTML are
escaped, so a condition name or an error message cannot break the layout or inject HTML.
It stays well under GitHub's 65,536-character limit for a comment: long lists are cut.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_crucible.review.reports._aggregates import AGGREGATES_NOTE
from pytest_crucible.review.reports._content import MetricView, Report
from pytest_crucible.review.reports._format import ci_cell, num, pnum, usd
from pytest_crucible.review.reports._safe import md_cell

__all__ = ["render_markdown"]

_FAILURES_SHOWN = 20
_COMPARISONS_SHOWN = 30


def render_markdown(report: Report) -> str:
    lines = [f"## {md_cell(report.title)}", ""]
    lines += _table(["", ""], [[f"**{md_cell(k)}**", md_cell(v)] for k, v in report.facts])
    lines += _gates(report)
    lines += ["", "### Conclusions", ""]
    lines += [f"- {md_cell(line)}" for line in report.conclusions] or ["- No comparison."]
    lines += [f"\n> Note: {md_cell(note)}" for note in report.notes]
    for metric in report.metrics:
        lines += ["", f"### {md_cell(metric.label)}", ""]
        lines += _conditions(metric, report.level)
        if metric.comparisons:
            lines += ["", *_comparisons(metric, report.ci_label)]
        if metric.omnibus:
            lines += ["", f"Omnibus: {md_cell(metric.omnibus)}"]
        if metric.power_line:
            lines += ["", f"Power: {md_cell(metric.power_line)}"]
        lines += [f"\n> Note: {md_cell(note)}" for note in metric.notes]
    lines += ["", f"<sub>{md_cell(report.legend)}; {md_cell(report.family)}.</sub>"]
    lines += _aggregates(report)
    if report.costs:
        lines += ["", "### Cost and latency", "", *_costs(report)]
    lines += _failures(report)
    lines += _results(report)
    lines += ["", "Full report: `report.html`; every trial: `results.csv`, `results.jsonl`.", ""]
    return "\n".join(lines)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 0) -> list[str]:
    """A GFM table; columns from index `right` on are right-aligned (0: none)."""
    align = ["---:" if right and i >= right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _gates(report: Report) -> list[str]:
    if not report.gates:
        return []
    rows = [
        [f"**{g.status}**", md_cell(g.name), md_cell(g.explanation), md_cell(g.test)]
        for g in report.gates
    ]
    lines = ["", "### Gates", "", report.gates_tally, ""]
    lines += _table(["status", "gate", "explanation", "test"], rows)
    warnings = [f"- {md_cell(g.name)}: {md_cell(g.warning)}" for g in report.gates if g.warning]
    return [*lines, *(["", "Warnings:", "", *warnings] if warnings else [])]


def _conditions(metric: MetricView, level: str) -> list[str]:
    rows = []
    for c in metric.conditions:
        name = md_cell(c.condition) + (" (baseline)" if c.is_baseline else "")
        mean = num(c.mean, metric.binary) + (f" {md_cell(c.marker)}" if c.marker else "")
        ci = ci_cell(c.low, c.high, metric.binary) if c.mean is not None else "[n/a, n/a]"
        row = [name, str(c.n_items), str(c.n_trials), str(c.n_failed), mean, ci]
        rows.append([*row, md_cell(c.method)])
    header = ["condition", "items", "trials", "failed", "mean", f"{level} CI", "interval"]
    return _table(header, rows, right=1)


def _comparisons(metric: MetricView, ci_label: str) -> list[str]:
    rows = []
    shown = metric.comparisons[:_COMPARISONS_SHOWN]
    for c in shown:
        b = metric.binary
        result = c.direction + (f" {md_cell(c.marker)}" if c.marker else "")
        rows.append(
            [
                f"{md_cell(c.condition)} − {md_cell(c.other)}",
                num(c.estimate, b, True),
                f"[{num(c.low, b, True)}, {num(c.high, b, True)}]"
                + (" †" if c.interval_note else ""),
                md_cell(c.ci_method),
                md_cell(c.effect),
                pnum(c.p_adjusted),
                result,
            ]
        )
    header = ["comparison", "difference", ci_label, "interval", "effect size", "p_adj", "result"]
    table = _table(header, rows)
    table += [
        f"\n† {md_cell(c.condition)} − {md_cell(c.other)}: {md_cell(c.interval_note)}"
        for c in shown
        if c.interval_note
    ]
    if rest := len(metric.comparisons) - len(shown):
        table.append(f"\n{rest} more comparison(s) in report.html and analysis.json.")
    return table


def _aggregates(report: Report) -> list[str]:
    table = report.aggregates
    if table is None:
        return []
    header = ["condition", *(f"{md_cell(c)} [{report.level} CI]" for c in table.columns)]
    # the cells are numbers we wrote ("0.85 [0.74, 0.95]"): only names need escaping
    rows = [[md_cell(name), *cells] for name, cells in table.rows]
    lines = ["", "### Aggregates", "", *_table(header, rows, right=1)]
    lines += ["", f"<sub>{md_cell(AGGREGATES_NOTE)}</sub>"]
    return lines + [f"\n> Note: {md_cell(note)}" for note in table.notes]


def _costs(report: Report) -> list[str]:
    rows = [
        [
            md_cell(c.condition),
            f"{c.trials_with_cost:,}",
            usd(c.total_usd),
            usd(c.mean_usd),
            num(c.mean_latency_s),
            md_cell(c.per_point) or "—",
        ]
        for c in report.costs
    ]
    metric = f" ({md_cell(report.cost_metric)})" if report.cost_metric else ""
    header = ["condition", "trials with cost", "total", "per trial", "latency (s)"]
    return _table([*header, f"cost per point of improvement{metric}"], rows)


def _failures(report: Report) -> list[str]:
    rows = [(f.condition, f.item_id, f.repeat, f.error) for f in report.failures]
    title = f"{report.n_failed:,} failed trial(s)"
    return _trial_rows(title, "error", rows, report.n_failed, "report.html")


def _results(report: Report) -> list[str]:
    """The values trials kept with `trial.result(key, value)` (the first few)."""
    rows = [(r.condition, r.item_id, r.repeat, r.text) for r in report.results]
    title = f"{report.n_results:,} trial(s) kept results (trial.result)"
    return _trial_rows(title, "results", rows, report.n_results, "results.jsonl")


def _trial_rows(
    title: str, column: str, rows: Sequence[tuple[str, str, int, str]], total: int, where: str
) -> list[str]:
    """A folded table of (condition, item, repeat, text) rows, the first few of `total`."""
    if not total:
        return []
    shown = rows[:_FAILURES_SHOWN]
    cells = [[md_cell(c), md_cell(i), str(r), md_cell(text[:200])] for c, i, r, text in shown]
    lines = ["", f"<details><summary>{title}</summary>", ""]
    lines += _table(["condition", "item", "repeat", column], cells)
    if total > len(shown):
        lines.append(f"\nThe first {len(shown)} are shown; all are in {where}.")
    return [*lines, "", "</details>"]
