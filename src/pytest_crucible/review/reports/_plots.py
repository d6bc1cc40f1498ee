"""Small inline SVG plots for the HTML report: no plotting library, no scripts, no links.

Every text that lands in the SVG (condition and metric names) is HTML-escaped here; the
caller marks the result safe for the template.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from pytest_crucible.review.reports._content import MetricView
from pytest_crucible.review.reports._format import num

__all__ = [
    "Box",
    "Point",
    "distribution_plot",
    "forest_plot",
    "item_share_plot",
    "means_plot",
    "scatter_plot",
]

_WIDTH = 640
_LEFT = 170
_RIGHT = 24
_ROW = 26
_TOP = 16
_AXIS = 40
_LABEL = 26
_COLORS = {"better": "#2f855a", "worse": "#c53030", "no difference": "#4a5568"}
_BASE = "#718096"
_MAIN = "#2b6cb0"
_PROPORTION = (0.0, 1.0)  # the axis of a proportion, whatever its data


@dataclass(frozen=True)
class Point:
    label: str
    x: float
    y: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Box:
    label: str
    n: int
    low: float
    q1: float
    median: float
    q3: float
    high: float
    mean: float


class _Scale:
    def __init__(
        self,
        low: float,
        high: float,
        start: float,
        stop: float,
        span: tuple[float, float] | None = None,
    ) -> None:
        if span is not None:  # a fixed axis (a proportion's [0, 1]) however the data lie
            low, high = span
            self.ticks = _ticks(low, high)
            self.step = self.ticks[1] - self.ticks[0]
            self.low, self.high, self.start, self.stop = low, high, start, stop
            return
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            middle = low if math.isfinite(low) else 0.0
            low, high = middle - 0.5, middle + 0.5
        pad = (high - low) * 0.05
        floor = low - pad if low < 0 or low - pad >= 0 else 0.0  # no negative axis for >= 0 data
        self.ticks = _ticks(floor, high + pad)
        self.step = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else 1.0
        self.low, self.high = min(self.ticks[0], low), max(self.ticks[-1], high)
        self.start, self.stop = start, stop

    def label(self, tick: float) -> str:
        """A tick label with as many decimals as the step needs (0, 0.25, 0.50, ...)."""
        decimals = max(0, -math.floor(math.log10(self.step) + 1e-9))
        if abs(self.step * 10**decimals - round(self.step * 10**decimals)) > 1e-6:
            decimals += 1
        return f"{tick:,.{decimals}f}"

    def __call__(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return round(self.start + share * (self.stop - self.start), 1)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(s * power for s in (1, 2, 2.5, 5, 10) if s * power >= raw)
    first = math.floor(low / step) * step
    ticks = [first]
    while ticks[-1] < high - 1e-12:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def _svg(height: float, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="plot" '
        f'viewBox="0 0 {_WIDTH} {height:g}" width="{_WIDTH}" height="{height:g}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _x_axis(scale: _Scale, y: float, label: str, zero: bool = False) -> list[str]:
    parts = [f'<line x1="{scale.start}" x2="{scale.stop}" y1="{y}" y2="{y}" stroke="#a0aec0"/>']
    for tick in scale.ticks:
        x = scale(tick)
        parts.append(f'<line x1="{x}" x2="{x}" y1="{_TOP}" y2="{y}" stroke="#edf2f7"/>')
        parts.append(f'<text x="{x}" y="{y + 16}" text-anchor="middle">{scale.label(tick)}</text>')
    if zero and scale.low < 0 < scale.high:
        x = scale(0.0)
        parts.append(f'<line x1="{x}" x2="{x}" y1="{_TOP}" y2="{y}" stroke="#1a202c"/>')
    middle = (scale.start + scale.stop) / 2
    parts.append(f'<text x="{middle}" y="{y + 34}" text-anchor="middle">{escape(label)}</text>')
    return parts


def _row_label(text: str, y: float) -> str:
    short = text if len(text) <= 24 else text[:23] + "…"
    return (
        f'<text x="{_LEFT - 8}" y="{y + 4}" text-anchor="end">'
        f"<title>{escape(text)}</title>{escape(short)}</text>"
    )


def _interval(scale: _Scale, y: float, low: float, high: float, mid: float, color: str) -> str:
    x1, x2, x = scale(low), scale(high), scale(mid)
    return (
        f'<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{color}" stroke-width="2"/>'
        f'<line x1="{x1}" x2="{x1}" y1="{y - 5}" y2="{y + 5}" stroke="{color}"/>'
        f'<line x1="{x2}" x2="{x2}" y1="{y - 5}" y2="{y + 5}" stroke="{color}"/>'
        f'<circle cx="{x}" cy="{y}" r="4" fill="{color}"/>'
    )


def _finite(*values: float | None) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def means_plot(metric: MetricView, level: str) -> str:
    """Each condition's mean with its confidence interval (the baseline in grey)."""
    rows = [r for r in metric.conditions if r.mean is not None]
    values = _finite(*(v for r in rows for v in (r.mean, r.low, r.high)))
    if not values:
        return ""
    height = _TOP + _ROW * len(rows) + _AXIS
    span = _PROPORTION if metric.binary else None
    scale = _Scale(min(values), max(values), _LEFT, _WIDTH - _RIGHT, span)
    body = _x_axis(scale, _TOP + _ROW * len(rows), f"{metric.name}: mean with {level} CI")
    for index, row in enumerate(rows):
        y = _TOP + _ROW * index + _ROW / 2
        assert row.mean is not None
        low = row.low if row.low is not None else row.mean
        high = row.high if row.high is not None else row.mean
        body.append(_row_label(row.condition, y))
        body.append(_interval(scale, y, low, high, row.mean, _BASE if row.is_baseline else _MAIN))
    return _svg(height, f"{metric.name}: condition means with {level} CIs", body)


def forest_plot(metric: MetricView, level: str) -> str:
    """Paired differences (condition - other) with CIs; coloured better / worse / neither."""
    rows = [c for c in metric.comparisons if c.estimate is not None]
    values = _finite(0.0, *(v for c in rows for v in (c.estimate, c.low, c.high)))
    if not rows:
        return ""
    height = _TOP + _ROW * len(rows) + _AXIS
    scale = _Scale(min(values), max(values), _LEFT, _WIDTH - _RIGHT)
    axis = f"{metric.name}: paired difference with {level} CI"
    body = _x_axis(scale, _TOP + _ROW * len(rows), axis, zero=True)
    for index, row in enumerate(rows):
        y = _TOP + _ROW * index + _ROW / 2
        assert row.estimate is not None
        low = row.low if row.low is not None else row.estimate
        high = row.high if row.high is not None else row.estimate
        color = _COLORS.get(row.direction, _COLORS["no difference"])
        body.append(_row_label(f"{row.condition} − {row.other}", y))
        body.append(_interval(scale, y, low, high, row.estimate, color))
    return _svg(height, f"{metric.name}: forest plot of paired differences", body)


def distribution_plot(name: str, boxes: Sequence[Box]) -> str:
    """Box plots of per-item values (repeats averaged): quartiles, 5th-95th percentile
    whiskers, the mean as a diamond."""
    if not boxes:
        return ""
    values = [v for b in boxes for v in (b.low, b.high, b.mean)]
    height = _TOP + _ROW * len(boxes) + _AXIS
    scale = _Scale(min(values), max(values), _LEFT, _WIDTH - _RIGHT)
    body = _x_axis(scale, _TOP + _ROW * len(boxes), f"{name}: per-item values")
    for index, box in enumerate(boxes):
        y = _TOP + _ROW * index + _ROW / 2
        x1, q1, med, q3, x2 = (scale(v) for v in (box.low, box.q1, box.median, box.q3, box.high))
        mean = scale(box.mean)
        body.append(_row_label(f"{box.label} (n={box.n:,})", y))
        body.append(
            f'<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{_MAIN}"/>'
            f'<rect x="{q1}" y="{y - 7}" width="{max(q3 - q1, 1):.1f}" height="14" '
            f'fill="#bee3f8" stroke="{_MAIN}"/>'
            f'<line x1="{med}" x2="{med}" y1="{y - 7}" y2="{y + 7}" stroke="#1a202c" '
            f'stroke-width="2"/><path d="M{mean} {y - 5}l5 5l-5 5l-5-5z" fill="#c05621"/>'
        )
    return _svg(height, f"{name}: distribution of per-item values per condition", body)


def item_share_plot(name: str, shares: Sequence[tuple[str, Sequence[float]]]) -> str:
    """Per-item values of a pass/fail metric (the share of an item's repeats that passed) on
    a [0, 1] axis: one dot per distinct share, its area and label the number of items there,
    so every item shows, even the one item solved among a hundred."""
    rows = [(label, [v for v in values if math.isfinite(v)]) for label, values in shares]
    rows = [(label, values) for label, values in rows if values]
    if not rows:
        return ""
    height = _TOP + _ROW * len(rows) + _AXIS
    scale = _Scale(0.0, 1.0, _LEFT + 12, _WIDTH - _RIGHT - 12, _PROPORTION)  # room for dots
    body = _x_axis(scale, _TOP + _ROW * len(rows), f"{name}: share of repeats passed, per item")
    largest = max(len(values) for _, values in rows)
    for index, (label, values) in enumerate(rows):
        y = _TOP + _ROW * index + _ROW / 2
        body.append(_row_label(f"{label} (n={len(values):,})", y))
        body.append(
            f'<line x1="{scale.start}" x2="{scale.stop}" y1="{y}" y2="{y}" stroke="#edf2f7"/>'
        )
        counts: dict[float, int] = {}
        for value in values:
            key = round(value, 9)
            counts[key] = counts.get(key, 0) + 1
        for share, count in sorted(counts.items()):
            x = scale(share)
            radius = 2.5 + 6.5 * math.sqrt(count / largest)
            body.append(
                f'<circle cx="{x}" cy="{y}" r="{radius:.1f}" fill="{_MAIN}" fill-opacity="0.7">'
                f"<title>{escape(label)}: {count:,} item(s) at {share:.3g}</title></circle>"
                f'<text x="{x}" y="{y - radius - 2:.1f}" text-anchor="middle" font-size="10">'
                f"{count:,}</text>"
            )
        mean = scale(sum(values) / len(values))
        body.append(f'<path d="M{mean} {y - 5}l5 5l-5 5l-5-5z" fill="#c05621"/>')
    return _svg(height, f"{name}: per-item share passed, every item counted", body)


def scatter_plot(
    points: Sequence[Point], x_label: str, y_label: str, proportion: bool = False
) -> str:
    """One point per condition (y with its CI when known), labelled; y spans [0, 1] for a
    proportion."""
    usable = [p for p in points if math.isfinite(p.x) and math.isfinite(p.y)]
    if not usable:
        return ""
    height = 320
    bottom = height - _AXIS
    xs = [p.x for p in usable]
    ys = _finite(*(v for p in usable for v in (p.y, p.low, p.high)))
    x_scale = _Scale(min(xs), max(xs), 70, _WIDTH - _RIGHT - 60)
    y_scale = _Scale(min(ys), max(ys), bottom, _TOP, _PROPORTION if proportion else None)
    body = _x_axis(x_scale, bottom, x_label)
    for tick in y_scale.ticks:
        y = y_scale(tick)
        body.append(f'<text x="62" y="{y + 4}" text-anchor="end">{y_scale.label(tick)}</text>')
        body.append(f'<line x1="66" x2="{x_scale.stop}" y1="{y}" y2="{y}" stroke="#edf2f7"/>')
    body.append(
        f'<text x="14" y="{(bottom + _TOP) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(bottom + _TOP) / 2})">{escape(y_label)}</text>'
    )
    for point in usable:
        x, y = x_scale(point.x), y_scale(point.y)
        if point.low is not None and point.high is not None:
            y1, y2 = y_scale(point.low), y_scale(point.high)
            body.append(f'<line x1="{x}" x2="{x}" y1="{y1}" y2="{y2}" stroke="{_MAIN}"/>')
        label = point.label if len(point.label) <= 20 else point.label[:19] + "…"
        body.append(
            f'<circle cx="{x}" cy="{y}" r="5" fill="{_MAIN}"><title>{escape(point.label)}: '
            f"{num(point.x)}, {num(point.y)}</title></circle>"
            f'<text x="{x + 8}" y="{y - 6}">{escape(label)}</text>'
        )
    return _svg(height, f"{y_label} against {x_label}", body)
