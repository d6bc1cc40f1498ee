"""Flaky items: pass^k, pass@k, flip rate and unstable items, checked by hand."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from pytest_crucible.review.gates import GateError, stability


def rows(outcomes: dict[str, list[Any]], condition: str = "few_shot") -> list[dict[str, Any]]:
    return [
        {"condition": condition, "item_id": item, "repeat": r, "status": "passed", "correct": v}
        for item, values in outcomes.items()
        for r, v in enumerate(values)
    ]


def test_by_hand() -> None:
    data = rows({"a": [1, 1, 1], "b": [1, 0, 1], "c": [0, 0, 0]})
    data += rows({"a": [1, 1, 1], "b": [1, 1, 1]}, "terse")
    frame = pd.DataFrame(data).sample(frac=1, random_state=3)  # order does not matter
    result = stability(frame, "correct")
    few = result.condition("few_shot")
    assert few.k == 3 and few.n_items == 3
    assert few.unstable_items == ("b",)
    b = next(i for i in few.items if i.item_id == "b")
    assert (b.repeats, b.passes, b.flips, b.flip_rate, b.unstable) == (3, 2, 2, 1.0, True)
    assert few.flip_rate == pytest.approx(2 / 6)
    assert few.pass_at_1 == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert few.pass_hat() == pytest.approx(1 / 3)  # only a passes all three
    assert few.pass_at() == pytest.approx(2 / 3)  # a and b pass at least once
    assert few.pass_hat(2) == pytest.approx((1 + 1 / 3 + 0) / 3)  # C(2,2)/C(3,2) for b
    assert few.pass_at(1) == pytest.approx(few.pass_at_1)
    assert result.condition("terse").unstable_items == ()
    assert result.unstable == (("few_shot", "b"),)
    assert result.to_dict()["conditions"][0]["unstable_items"] == ["b"]


def test_failed_trials_and_missing_values_are_left_out() -> None:
    data = rows({"a": [1, 0, 1]})
    data[1]["status"] = "failed"
    data.append({"condition": "few_shot", "item_id": "z", "repeat": 0, "status": "passed"})
    few = stability(pd.DataFrame(data), "correct").condition("few_shot")
    assert [(i.item_id, i.repeats, i.flips) for i in few.items] == [("a", 2, 0)]
    assert few.pass_hat(3) != few.pass_hat(3)  # NaN: no item has 3 passed repeats


def test_thresholds_and_direction() -> None:
    frame = pd.DataFrame(rows({"a": [0.9, 0.2, 0.8], "b": [0.1, 0.2, 0.3]}))
    with pytest.raises(GateError, match="not 0/1; give stability\\(\\) a threshold="):
        stability(frame, "correct")
    high = stability(frame, "correct", threshold=0.5).condition("few_shot")
    assert high.unstable_items == ("a",) and high.pass_at_1 == pytest.approx(1 / 3)
    low = stability(frame, "correct", threshold=0.5, lower_is_better=True).condition("few_shot")
    assert low.pass_at_1 == pytest.approx(2 / 3) and low.pass_hat() == pytest.approx(0.5)
    errors = pd.DataFrame(rows({"a": [0, 0], "b": [1, 1]}))
    assert stability(errors, "correct", lower_is_better=True).condition("few_shot").pass_at_1 == 0.5


def test_unknown_names() -> None:
    frame = pd.DataFrame(rows({"a": [1]}))
    with pytest.raises(GateError, match="no column 'score'"):
        stability(frame, "score")
    with pytest.raises(GateError, match=r"condition 'terse'.*has 'few_shot'"):
        stability(frame, "correct").condition("terse")
    with pytest.raises(GateError, match="must be a pandas DataFrame"):
        stability([1, 2], "correct")  # type: ignore[arg-type]
