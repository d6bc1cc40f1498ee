"""report.tex: booktabs tables ready to `\\input{report.tex}` in a paper.

Table 1: conditions x metrics, mean and confidence interval, with significance markers
against the baseline. Table 2: the paired comparisons (difference, CI, effect size, test,
adjusted p). Needs `\\usepackage{booktabs}` in the preamble; every text from the run is
escaped (`& % $ # _ { } ~ ^ \\ < > |`).
"""

from __future__ import annotations

from pytest_crucible.review.reports._aggregates import AGGREGATES_NOTE, AggregateTable
from pytest_crucible.review.reports._content import MetricView, Report
from pytest_crucible.review.reports._format import num, pnum
from pytest_crucible.review.reports._safe import latex, latex_label

__all__ = ["render_latex"]


def render_latex(report: Report) -> str:
    run = report.run
    label = latex_label(f"{run.experiment}-{run.run_id}")
    lines = [
        f"% pytest-crucible report: experiment {_comment(run.experiment)}, run {run.run_id}.",
        "% Needs \\usepackage{booktabs}. Regenerate with: crucible report " + run.run_id,
        "",
    ]
    if report.metrics:
        lines += _conditions_table(report, label)
    comparisons = [m for m in report.metrics if m.comparisons]
    if comparisons:
        lines += ["", *_comparisons_table(report, comparisons, label)]
    if report.aggregates is not None:
        lines += ["", *_aggregates_table(report, report.aggregates, label)]
    return "\n".join(lines) + "\n"


def _comment(text: str) -> str:
    return " ".join(text.split())


def _markers(alpha_text: str) -> str:
    return (
        f"$^{{*}}$\\,$p_{{\\mathrm{{adj}}}} \\le {alpha_text}$, $^{{**}}$\\,$< 0.01$, "
        "$^{***}$\\,$< 0.001$"
    )


def _star(marker: str) -> str:
    return f"$^{{{marker}}}$" if marker else ""


def _conditions_table(report: Report, label: str) -> list[str]:
    run = report.run
    metrics = report.metrics
    alpha = f"{float((run.analysis.get('settings') or {}).get('alpha', 0.05)):g}"
    level = report.level.replace("%", "\\%")
    base = f" against the baseline ({latex(run.baseline)})" if run.baseline else ""
    caption = (
        f"{latex(run.experiment)}: mean of per-item values (repeats averaged) with {level} "
        f"confidence intervals, {run.analysis.get('n_items', 0)} items. "
        f"Markers: paired comparison{base}, adjusted across all comparisons: "
        f"{_markers(alpha)}."
    )
    lines = [
        "\\begin{table}[htbp]",
        "\\centering",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:{label}-conditions}}",
        "\\begin{tabular}{l" + "r" * len(metrics) + "}",
        "\\toprule",
        "Condition & " + " & ".join(_metric_head(m) for m in metrics) + " \\\\",
        "\\midrule",
    ]
    by_condition = {(m.name, c.condition): (m, c) for m in metrics for c in m.conditions}
    for condition in run.conditions:
        cells = [latex(condition) + (" (baseline)" if condition == run.baseline else "")]
        for metric in metrics:
            found = by_condition.get((metric.name, condition))
            if found is None or found[1].mean is None:
                cells.append("--")
                continue
            c = found[1]
            b = metric.binary
            cells.append(f"{num(c.mean, b)}{_star(c.marker)} [{num(c.low, b)}, {num(c.high, b)}]")
        lines.append(" & ".join(cells) + " \\\\")
    return [*lines, "\\bottomrule", "\\end{tabular}", "\\end{table}"]


def _metric_head(metric: MetricView) -> str:
    arrow = "$\\downarrow$" if metric.lower_is_better else "$\\uparrow$"
    unit = f" ({latex(metric.unit)})" if metric.unit else ""
    return f"{latex(metric.name)}{unit} {arrow}"


def _comparisons_table(report: Report, metrics: list[MetricView], label: str) -> list[str]:
    level = report.level.replace("%", "\\%")
    notes = [
        f"$^\\dagger$ {latex(c.condition)} $-$ {latex(c.other)} ({latex(m.name)}): "
        f"{latex(c.interval_note)}."
        for m in metrics
        for c in m.comparisons
        if c.interval_note
    ]
    caption = (
        f"{latex(report.run.experiment)}: paired differences (condition $-$ other) on items, "
        f"{latex(report.ci_label)}s (each inverts its test); "
        f"$p_{{\\mathrm{{adj}}}}$: {latex(report.family)}." + "".join(" " + n for n in notes)
    )
    lines = [
        "\\begin{table}[htbp]",
        "\\centering",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:{label}-comparisons}}",
        "\\begin{tabular}{llrllr}",
        "\\toprule",
        f"Metric & Comparison & Difference & {level} CI & Effect size & "
        "$p_{\\mathrm{adj}}$ \\\\",
        "\\midrule",
    ]
    for index, metric in enumerate(metrics):
        if index:
            lines.append("\\addlinespace")
        for c in metric.comparisons:
            b = metric.binary
            p = pnum(c.p_adjusted).replace("<", "$<$")
            lines.append(
                f"{latex(metric.name)} & {latex(c.condition)} $-$ {latex(c.other)} & "
                f"{_signed(num(c.estimate, b, True))}{_star(c.marker)} & "
                f"[{_signed(num(c.low, b, True))}, {_signed(num(c.high, b, True))}]"
                f"{_DAGGER if c.interval_note else ''} & "
                f"{latex(c.effect)} & {p} \\\\"
            )
    return [*lines, "\\bottomrule", "\\end{tabular}", "\\end{table}"]


_DAGGER = "$^\\dagger$"


def _signed(text: str) -> str:
    """A number with a proper minus sign in math mode."""
    return f"${text}$" if text[:1] in "+-" else text


def _aggregates_table(report: Report, table: AggregateTable, label: str) -> list[str]:
    """Table 3: per condition, the aggregates beyond the mean and the costs."""
    level = report.level.replace("%", "\\%")
    caption = f"{latex(report.run.experiment)}: aggregates with {level} bootstrap intervals. "
    caption += latex(AGGREGATES_NOTE)
    lines = [
        "\\begin{table}[htbp]",
        "\\centering",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:{label}-aggregates}}",
        "\\begin{tabular}{l" + "r" * len(table.columns) + "}",
        "\\toprule",
        "Condition & " + " & ".join(latex(c) for c in table.columns) + " \\\\",
        "\\midrule",
    ]
    for condition, cells in table.rows:
        row = [latex(condition), *(latex(cell) if cell != "-" else "--" for cell in cells)]
        lines.append(" & ".join(row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    # why a cell is "--" (pass@K short of repeats, no correct answer), under the table
    lines += [f"\\par\\footnotesize Note: {latex(note)}" for note in table.notes]
    return [*lines, "\\end{table}"]
