"""Hostile dataset item ids: node ids carry a safe form, the store and reports the full id,
and pytest-html's page runs no script from them (issue 14, point 13)."""

from __future__ import annotations

import html
import re

import pytest

from e2e_support import XDIST, query
from reports.test_reports_html import dump_dom

ATTACK = "<img src=x onerror=\"document.documentElement.setAttribute('data-pwned','yes')\">"
IDS = [ATTACK, "a<b", "a>b", "France", "x_y-z.1"]

HOSTILE = f"""
import pytest_crucible as crucible

IDS = {IDS!r}
hostile = crucible.Experiment(
    name="hostile",
    dataset=[{{"id": item_id, "input": n}} for n, item_id in enumerate(IDS)],
    conditions={{"c": lambda n: n}},
    metrics=["value"],
)

@hostile.trial
def test_h(condition, item, trial):
    trial.record(value=condition(item.input))
"""


def _node_ids(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest("--crucible", "--collect-only", "-q", *args)
    return [line for line in result.stdout.lines if line.startswith("test_hostile.py::")]


@pytest.mark.parametrize("xdist", XDIST)
def test_hostile_item_ids_run_no_script_in_pytest_html(
    pytester: pytest.Pytester, xdist: list[str]
) -> None:
    pytester.makepyfile(test_hostile=HOSTILE)
    result = pytester.runpytest("--crucible", "--html=report.html", "--self-contained-html", *xdist)
    result.assert_outcomes(passed=len(IDS))
    stored = {row["item_id"] for row in query(pytester, "SELECT item_id FROM trials")}
    assert stored == set(IDS)  # the store keeps the full ids
    dom = dump_dom(pytester.path / "report.html")
    assert html.escape(ATTACK, quote=False) in dom  # the item column shows the full id, as text
    assert 'data-pwned="yes"' not in dom, "a script from an item id ran in pytest-html"
    assert not re.search(r"<img[^>]*onerror", dom), "an item id became an element"


def test_node_ids_of_hostile_items_are_safe_unique_and_stable(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_hostile=HOSTILE)
    first = _node_ids(pytester)
    assert len(first) == len(IDS) == len(set(first))
    for node_id in first:
        assert re.fullmatch(r"test_hostile\.py::test_h\[[A-Za-z0-9_.~-]+\]", node_id), node_id
    # ordinary ids are unchanged, and ids that sanitise alike still differ
    assert "test_hostile.py::test_h[c-France-r0]" in first
    assert "test_hostile.py::test_h[c-x_y-z.1-r0]" in first
    assert _node_ids(pytester) == first  # deterministic (xdist's workers must agree)
