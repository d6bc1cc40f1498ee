"""The inline SVG plots: well-formed, escaped, and sensible on degenerate data."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

from pytest_crucible.review.reports import write_reports
from pytest_crucible.review.reports._content import ComparisonView, ConditionRow, MetricView
from pytest_crucible.review.reports._plots import (
    Box,
    Point,
    distribution_plot,
    forest_plot,
    item_share_plot,
    means_plot,
    scatter_plot,
)
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.sqlite import Store

EVIL = '<script>alert("x")</script>&'


def _row(name: str, mean: float | None, low: float | None, high: float | None) -> ConditionRow:
    return ConditionRow(name, name == "base", 10, 10, 0, mean, low, high, "t", "", ())


def _metric(
    rows: tuple[ConditionRow, ...], comparisons: tuple[ComparisonView, ...] = ()
) -> MetricView:
    return MetricView("acc", "binary", True, False, "", rows, comparisons, None, "", ())


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return [el.text or "" for el in root.iter() if el.tag.endswith(("text", "title"))]


def test_means_plot_escapes_names_and_handles_zero_width() -> None:
    svg = means_plot(_metric((_row("base", 0.5, 0.5, 0.5), _row(EVIL, 0.7, 0.6, 0.8))), "95%")
    root = _parse(svg)
    assert "<script" not in svg and EVIL in _texts(root)  # escaped in the file, text in the DOM
    assert len(root.findall(".//{http://www.w3.org/2000/svg}circle")) == 2


def test_plots_without_data_are_empty() -> None:
    assert means_plot(_metric((_row("a", None, None, None),)), "95%") == ""
    assert forest_plot(_metric(()), "95%") == ""
    assert distribution_plot("acc", []) == ""
    assert scatter_plot([Point("a", float("nan"), 0.5)], "x", "y") == ""


def test_forest_plot_marks_zero_and_colours_by_direction() -> None:
    rows = tuple(
        ComparisonView(
            c, "base", 10, est, est - 0.1, est + 0.1, "", "", 0.01, 0.01, True, d, "*", ""
        )
        for c, est, d in (("up", 0.3, "better"), ("down", -0.2, "worse"))
    )
    svg = forest_plot(_metric((), rows), "95%")
    _parse(svg)
    assert "#2f855a" in svg and "#c53030" in svg and 'stroke="#1a202c"' in svg  # zero line


def test_distribution_and_scatter() -> None:
    boxes = [Box("a", 5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0), Box("b", 5, 0.0, 0.2, 0.5, 0.7, 1.0, 0.45)]
    root = _parse(distribution_plot("acc", boxes))
    assert "a (n=5)" in _texts(root)
    points = [Point("cheap", 0.1, 0.4, 0.3, 0.5), Point(EVIL, 2.0, 0.8)]
    svg = scatter_plot(points, "latency (s)", "acc")
    assert any(EVIL in text for text in _texts(_parse(svg))) and "<script" not in svg


SVG = "{http://www.w3.org/2000/svg}"


def _ticks(root: ET.Element) -> list[str]:
    """The x-axis tick labels (centred texts below the axis line)."""
    return [el.text or "" for el in root.iter(SVG + "text") if el.get("text-anchor") == "middle"]


def test_a_proportion_axis_spans_0_to_1_however_small_the_means() -> None:
    # before: the axis ran from 0 to about 0.06 for means of 0.01 and 0.03
    rows = (_row("base", 0.01, 0.0, 0.05), _row("new", 0.03, 0.01, 0.06))
    ticks = _ticks(_parse(means_plot(_metric(rows), "95%")))
    assert ticks[0] == "0.0" and "1.0" in ticks
    points = [Point("base", 0.5, 0.01, 0.0, 0.05), Point("new", 1.5, 0.03, 0.01, 0.06)]
    y_ticks = [el.text for el in _parse(scatter_plot(points, "s", "acc", proportion=True)).iter()]
    assert "0.0" in y_ticks and "1.0" in y_ticks


def test_the_per_item_plot_of_a_binary_metric_counts_every_item() -> None:
    svg = item_share_plot("solved", [("base", [0.0] * 29 + [1.0]), ("new", [0.0, 0.5, 0.5])])
    root = _parse(svg)
    titles = [el.text for el in root.iter(SVG + "title")]
    assert "base: 29 item(s) at 0" in titles and "base: 1 item(s) at 1" in titles
    assert "new: 2 item(s) at 0.5" in titles
    assert _ticks(root)[0] == "0.0" and "1.0" in _ticks(root)


def _one_solved_run(tmp_path: Path, builders: SimpleNamespace) -> tuple[Store, str]:
    """30 items; `terse` solves only item-7, `few_shot` solves none."""
    store = Store(tmp_path / "crucible.db")
    run_id = store.create_run(builders.header("rare", ("terse", "few_shot"), 30, 1, "terse"), {})
    for condition in ("terse", "few_shot"):
        for index in range(30):
            solved = condition == "terse" and index == 7
            result = builders.trial(
                condition, f"item-{index}", 0, correct=solved, latency=0.5, cost=None, output=""
            )
            store.record_trial(run_id, TrialRecord.from_json(result), "main")
    store.finish_run(run_id, "completed")
    return store, run_id


def test_the_report_shows_the_only_solved_item(tmp_path: Path, builders: SimpleNamespace) -> None:
    # before: a box plot with 5th-95th percentile whiskers on an axis of 0 to 0.06: the one
    # solved item (share 1.0) was off the plot
    store, run_id = _one_solved_run(tmp_path, builders)
    write_reports(store, run_id, tmp_path / "out", ["html"])
    page = (tmp_path / "out" / "report.html").read_text()
    svgs = [_parse(m) for m in re.findall(r"<svg .*?</svg>", page, flags=re.S)]
    per_item = next(s for s in svgs if "per-item share passed" in (s.findtext(SVG + "title") or ""))
    titles = [el.text for el in per_item.iter(SVG + "title")]
    assert "terse: 1 item(s) at 1" in titles and "terse: 29 item(s) at 0" in titles
    means = next(s for s in svgs if "condition means" in (s.findtext(SVG + "title") or ""))
    assert "1.0" in _ticks(means)
