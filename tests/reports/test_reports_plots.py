"""The inline SVG plots: well-formed, escaped, and sensible on degenerate data."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from pytest_crucible.reports._content import ComparisonView, ConditionRow, MetricView
from pytest_crucible.reports._plots import (
    Box,
    Point,
    distribution_plot,
    forest_plot,
    means_plot,
    scatter_plot,
)

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
