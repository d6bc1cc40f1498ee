"""report.html: one self-contained page (no CDN, no external file) that works offline.

Server-rendered (jinja2, autoescaped): summary, conditions, comparisons, SVG plots, failures,
configuration. The per-trial drill-down is JSON data in a `<script type="application/json">`
element, rendered a page at a time by a small inline script that only ever sets
`textContent`, so 100,000 trials stay usable and no output or dataset text runs as code.
A Content-Security-Policy allows the page's own script (by hash) and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.review.reports._artifacts import page_artifacts
from pytest_crucible.review.reports._content import MetricView, Report
from pytest_crucible.review.reports._format import ci_cell, num, pnum, usd
from pytest_crucible.review.reports._plots import (
    Box,
    Point,
    distribution_plot,
    forest_plot,
    item_share_plot,
    means_plot,
    scatter_plot,
)
from pytest_crucible.review.reports._safe import script_json, truncate

if TYPE_CHECKING:
    import jinja2
    import pandas as pd

__all__ = ["TEMPLATES", "render_html", "render_summary", "report_plots"]

TEMPLATES = Path(__file__).parent / "templates"
TEXT_LIMIT = 4000  # characters of one output, input or error kept in the page


def render_html(report: Report) -> str:
    from markupsafe import Markup

    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    payload, columns = _trials_payload(report)
    run = report.run
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            r=report,
            num=num,
            ci_cell=ci_cell,
            pnum=pnum,
            usd=usd,
            css=Markup(css),
            script=Markup(script),
            style_hash=_csp_hash(css),
            script_hash=_csp_hash(script),
            plots=report_plots(report),
            trial_columns=columns,
            trials_json=Markup(script_json(payload)),
            config_text=_pretty(run.config),
            header_text=_pretty(_shown_header(run.header)),
            environment_text=_pretty(run.environment),
        )
    )


def render_summary(report: Report) -> str:
    """An HTML fragment (no script, no style, everything escaped): the conclusions and the
    per-condition tables, for a host page such as pytest-html's summary section."""
    return _environment().get_template("summary.html.j2").render(r=report, num=num, ci_cell=ci_cell)


@cache
def _environment() -> jinja2.Environment:
    try:
        import jinja2
    except ImportError:  # pragma: no cover - jinja2 comes with the report extra
        from pytest_crucible.review.reports._report_data import ReportError

        raise ReportError(
            "the HTML report needs jinja2: pip install 'pytest-crucible[report]'"
        ) from None
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def _shown_header(header: dict[str, Any]) -> dict[str, Any]:
    """The header with its per-item fingerprints counted, not listed (one line per item)."""
    items = header.get("dataset_items")
    if not isinstance(items, dict):
        return header
    return header | {"dataset_items": f"{len(items)} item fingerprints (in the stored header)"}


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=repr, ensure_ascii=False)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, indent=1, default=repr)
    return truncate(text, TEXT_LIMIT)


def _trials_payload(report: Report) -> tuple[dict[str, Any], list[str]]:
    """The trials as compact columnar JSON: one list per trial with indexes into the
    condition and status lists, parallel lists of outputs and errors."""
    run = report.run
    frame = run.trials
    conditions = list(dict.fromkeys([*run.conditions, *frame["condition"].unique().tolist()]))
    statuses = sorted(frame["status"].unique().tolist())
    metrics = [m.name for m in report.metrics if m.name in frame.columns]
    usage = [run.trial_column("latency_s"), run.trial_column("cost_usd")]
    numeric = [*metrics, *usage]
    cond_index = {name: i for i, name in enumerate(conditions)}
    status_index = {name: i for i, name in enumerate(statuses)}
    columns: list[list[Any]] = [
        [cond_index[c] for c in frame["condition"]],
        frame["item_id"].astype(str).tolist(),
        frame["repeat"].astype(int).tolist(),
        [status_index[s] for s in frame["status"]],
        *(_numbers(frame[name]) for name in numeric),
    ]
    rows = [list(row) for row in zip(*columns, strict=True)] if len(frame) else []
    keys = frame["trial_key"].tolist()
    logs = {str(index): run.logs[key] for index, key in enumerate(keys) if key in run.logs}
    names = ["condition", "item", "repeat", "status", *metrics, "call time (s)", "cost ($)"]
    payload: dict[str, Any] = {
        "conditions": conditions,
        "statuses": statuses,
        "columns": names,
        "rows": rows,
        "outputs": [_text(v) for v in frame["output"]],
        "errors": [_text(v) for v in frame["error"]],
        "results": [_text(v) for v in frame["results"]],
        "logs": logs,
        "artifacts": page_artifacts(keys, run.artifacts),
        "baseline": run.baseline,
        "items": {
            item_id: [_text(item["input"]), _text(item["expected"]), _text(item["metadata"])]
            for item_id, item in run.items.items()
        },
    }
    return payload, names


def _numbers(series: pd.Series) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in series.astype(float).tolist()]


def report_plots(report: Report) -> dict[str, Any]:
    """The report's plots as inline SVG (`Markup`): per metric its means, forest and
    distribution plots, then quality against latency and cost. The dashboard shows them too."""
    from markupsafe import Markup

    run = report.run
    passed = run.trials[run.trials["status"] == "passed"]
    names = [m.name for m in report.metrics if m.name in passed.columns]
    per_item = passed.groupby(["condition", "item_id"], sort=False)[names].mean() if names else None
    metrics = []
    for metric in report.metrics:
        if per_item is None or metric.name not in per_item.columns:
            distribution = ""
        elif metric.binary:  # a box plot's whiskers would hide the rare solved item
            distribution = item_share_plot(metric.name, _shares(per_item, metric, run.conditions))
        else:
            distribution = distribution_plot(metric.name, _boxes(per_item, metric, run.conditions))
        metrics.append(
            {
                "name": metric.name,
                "means": Markup(means_plot(metric, report.level)),
                "forest": Markup(forest_plot(metric, report.level)),
                "distribution": Markup(distribution),
            }
        )
    return {"metrics": metrics, "scatter": [Markup(svg) for svg in _scatter(report, passed)]}


def _shares(
    per_item: pd.DataFrame, metric: MetricView, conditions: list[str]
) -> list[tuple[str, list[float]]]:
    column = per_item[metric.name]
    present = set(column.index.get_level_values(0))
    return [
        (c, column.xs(c, level="condition").astype(float).tolist())
        for c in conditions
        if c in present
    ]


def _boxes(per_item: pd.DataFrame, metric: MetricView, conditions: list[str]) -> list[Box]:
    import numpy as np

    boxes = []
    column = per_item[metric.name]
    for condition in conditions:
        if condition not in column.index.get_level_values(0):
            continue
        values = column.xs(condition, level="condition").to_numpy(np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        low, q1, median, q3, high = np.percentile(values, [5, 25, 50, 75, 95])
        boxes.append(
            Box(condition, int(values.size), low, q1, median, q3, high, float(values.mean()))
        )
    return boxes


def _scatter(report: Report, passed: pd.DataFrame) -> list[str]:
    run = report.run
    quality = next((m for m in report.metrics if not m.lower_is_better), None)
    if quality is None:
        return []
    plots = []
    for column, label in (
        ("latency_s", "mean latency per trial (s)"),
        ("cost_usd", "mean cost per trial (USD)"),
    ):
        name = run.trial_column(column)
        if name not in passed.columns or not passed[name].notna().any():
            continue
        means = passed.groupby("condition", sort=False)[name].mean()
        points = [
            Point(c.condition, float(means[c.condition]), c.mean, c.low, c.high)
            for c in quality.conditions
            if c.mean is not None
            and c.condition in means.index
            and math.isfinite(means[c.condition])
        ]
        plots.append(scatter_plot(points, label, f"{quality.name} (mean)", quality.binary))
    return [svg for svg in plots if svg]
