"""Metric(aggregate=...): what is accepted, and a clear error for what is not."""

from __future__ import annotations

import pytest

import pytest_crucible as crucible
from pytest_crucible.errors import ExperimentError


def test_aggregates_are_parsed_in_order() -> None:
    metric = crucible.Metric(kind="binary", aggregate=("mean", "pass@1", "pass@3", "P95"))
    assert [a.name for a in metric.aggregates] == ["mean", "pass@1", "pass@3", "p95"]
    assert crucible.Metric().aggregates[0].name == "mean"
    assert crucible.Metric(aggregate="median").aggregates[0].value == 50
    # as read back from a run's stored header (JSON has lists)
    assert crucible.Metric(aggregate=["p50", "p99"]).aggregate == ("p50", "p99")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "kind", "message"),
    [
        ("p100", "auto", r"'p100' is not an aggregate; .*p1 to p99"),
        ("p0", "auto", "'p0' is not an aggregate"),
        ("pass@0", "binary", r"'pass@0' asks for zero repeats; pass@K needs K >= 1"),
        ("pass@5", "continuous", r"pass@5 needs pass/fail outcomes.*kind='binary'"),
        ("average", "auto", "'average' is not an aggregate"),
        ((), "auto", "is not an aggregate"),
        (("p50", "p50"), "auto", "names 'p50' twice"),
        ((95,), "auto", "95 is not a string"),
    ],
)
def test_bad_aggregates_are_refused_at_declaration(spec: object, kind: str, message: str) -> None:
    with pytest.raises(ExperimentError, match=message):
        crucible.Metric(kind=kind, aggregate=spec)  # type: ignore[arg-type]


def test_pass_at_k_above_the_repeats_is_refused_by_the_experiment() -> None:
    with pytest.raises(ExperimentError, match=r"pass@5, which needs at least 5 repeats.*repeat=3"):
        crucible.Experiment(
            name="few",
            dataset=[{"id": "a", "input": "a"}],
            conditions={"c": lambda text: text},
            metrics={"ok": crucible.Metric(kind="binary", aggregate="pass@5")},
            repeat=3,
        )


def test_the_analysis_resamples_clusters_when_items_carry_one() -> None:
    import pandas as pd

    from pytest_crucible.review.analysis import analyze

    rows = [
        {
            "condition": condition,
            "item_id": f"i{item}",
            "cluster": f"c{item // 2}",
            "status": "passed",
            "ok": (item + repeat) % 3 == 0,
            "lat": 0.1 * (item + 1) + 0.01 * repeat,
            "cost_usd": 0.002,
        }
        for condition in ("a", "b")
        for item in range(6)
        for repeat in range(4)
    ]
    metrics = {
        "ok": crucible.Metric(kind="binary", aggregate=("pass@2",)),
        "lat": crucible.Metric(aggregate="p90"),
    }
    analysis = analyze(pd.DataFrame(rows), conditions=["a", "b"], baseline="a", metrics=metrics)
    lat = next(m for m in analysis.metrics if m.name == "lat")
    (p90, _) = lat.aggregates
    assert p90.label == "lat p90" and p90.condition == "a"
    assert "bootstrap over 3 clusters" in p90.notes[0]
    per_trial = next(c for c in analysis.costs if c.condition == "a" and c.name == "cost_per_trial")
    assert per_trial.estimate == pytest.approx(0.002)
    per_correct = next(c for c in analysis.costs if c.name == "cost_per_correct")
    correct = sum(r["ok"] for r in rows if r["condition"] == "a")
    assert per_correct.estimate == pytest.approx(0.002 * 24 / correct)
