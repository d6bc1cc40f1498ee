"""Comparison with a baseline: three verdicts, orientation, pairing, and what is reported."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from gate_helpers import frame, header

from pytest_crucible import stats
from pytest_crucible.review.gates import Baseline, GateError, compare_to_baseline, format_markdown

N = 200


def runs(
    seed: int = 0,
    *,
    shift: float = 0.0,
    latency_shift: float = 0.0,
    n: int = N,
    repeats: int = 3,
    clusters: np.ndarray | None = None,
) -> tuple[pd.DataFrame, Baseline]:
    """A baseline run and a current run of the same items; few_shot's accuracy moves by
    `shift` and its latency by `latency_shift` in the current run."""
    rng = np.random.default_rng(seed)
    accuracy = {"terse": rng.uniform(0.35, 0.95, n), "few_shot": rng.uniform(0.35, 0.95, n)}
    latency = {c: rng.uniform(1, 2, n) for c in accuracy}
    base = frame(rng, accuracy, latency=latency, repeats=repeats, clusters=clusters)
    moved = {**accuracy, "few_shot": accuracy["few_shot"] + shift}
    slower = {**latency, "few_shot": latency["few_shot"] + latency_shift}
    current = frame(rng, moved, latency=slower, repeats=repeats, clusters=clusters)
    return current, Baseline.from_trials(base, header(items=n), name="main", run_id="b0b0b0b0")


def test_a_regression_fails_and_noninferiority_passes() -> None:
    current, baseline = runs(shift=-0.3)
    result = compare_to_baseline(current, header(), baseline, margins={"*": 0.05})
    few = result.verdict("few_shot", "correct")
    assert (few.verdict, few.passed) == ("regression", False)
    assert few.estimate == pytest.approx(few.current_mean - few.baseline_mean)
    assert few.estimate < -0.2 and few.p_regression_adjusted < 0.05
    assert "regression shown" in few.explanation and few.explanation.endswith("FAIL")
    assert not result.passed
    current, baseline = runs(seed=1)
    result = compare_to_baseline(current, header(), baseline, margins={"correct": 0.15})
    terse = result.verdict("terse", "correct")
    assert (terse.verdict, terse.passed, terse.items_needed) == ("noninferior", True, None)
    assert terse.lower_bound > -0.15 and terse.warning is None


def test_inconclusive_passes_with_the_items_needed_or_fails_when_strict() -> None:
    current, baseline = runs(seed=3, n=30)
    result = compare_to_baseline(current, header(), baseline, margins={"correct": 0.02})
    verdict = result.verdict("few_shot", "correct")
    assert (verdict.verdict, verdict.passed) == ("inconclusive", True)
    assert verdict.items_needed is not None and verdict.items_needed > 30
    assert verdict.warning is not None
    assert f"about {verdict.items_needed} items (now 30) would decide it" in verdict.warning
    assert "repeats" in verdict.warning  # the planner's advice on repeats vs items
    strict = compare_to_baseline(
        current, header(), baseline, margins={"correct": 0.02}, strict=True
    )
    assert strict.verdict("few_shot", "correct").passed is False
    assert "FAIL (strict)" in strict.verdict("few_shot", "correct").explanation
    quick = compare_to_baseline(current, header(), baseline, margins={"correct": 0.02}, plan=False)
    assert quick.verdict("few_shot", "correct").verdict == "inconclusive"
    assert quick.verdict("few_shot", "correct").items_needed is None


def test_lower_is_better_orients_the_difference() -> None:
    current, baseline = runs(latency_shift=0.5)
    result = compare_to_baseline(current, header(), baseline, margins={"latency": 0.1})
    slower = result.verdict("few_shot", "latency")
    assert slower.lower_is_better and slower.verdict == "regression"
    assert slower.estimate == pytest.approx(slower.baseline_mean - slower.current_mean)
    assert slower.estimate < -0.4
    current, baseline = runs(latency_shift=-0.5)
    faster = compare_to_baseline(current, header(), baseline, margins={"latency": 0.1})
    assert faster.verdict("few_shot", "latency").verdict == "noninferior"


def test_repeats_are_averaged_within_items_then_paired() -> None:
    current, baseline = runs(seed=3, n=40)
    result = compare_to_baseline(current, header(), baseline, margins={"correct": 0.1})
    got = result.verdict("terse", "correct")
    means = current[current.condition == "terse"].groupby("item_id")["correct"].mean()
    base = baseline.trials()
    base_means = base[base.condition == "terse"].groupby("item_id")["correct"].mean()
    expected = stats.noninferiority(means.to_numpy(), base_means[means.index].to_numpy(), 0.1, True)
    assert got.n_items == 40 and got.estimate == pytest.approx(expected.estimate)
    assert got.lower_bound == pytest.approx(expected.lower_bound)
    assert got.p_regression == pytest.approx(expected.p_inferior)
    family = [v.p_regression for v in result.verdicts]
    holm = stats.adjust(family, "holm").adjusted
    assert [v.p_regression_adjusted for v in result.verdicts] == pytest.approx(list(holm))


def test_clusters_are_honoured() -> None:
    clusters = np.repeat([f"passage{i}" for i in range(20)], 5)
    current, baseline = runs(seed=4, n=100, clusters=clusters)
    verdict = compare_to_baseline(current, header(), baseline).verdict("few_shot", "correct")
    assert verdict.n_clusters == 20 and "cluster-robust" in verdict.method
    warned = compare_to_baseline(current, header(), baseline, margins={"correct": 0.01})
    inconclusive = [v for v in warned.verdicts if v.verdict == "inconclusive"]
    assert inconclusive and "count clusters" in (inconclusive[0].warning or "")


def test_identical_deterministic_results_are_noninferior_even_at_margin_zero() -> None:
    rows = [
        {"condition": c, "item_id": f"q{i}", "repeat": 0, "status": "passed", "correct": i % 2}
        for c in ("terse", "few_shot")
        for i in range(10)
    ]
    current = pd.DataFrame(rows)
    baseline = Baseline.from_trials(current, header(repeat=1), name="main")
    result = compare_to_baseline(current, header(repeat=1), baseline, metrics=["correct"])
    assert [v.verdict for v in result.verdicts] == ["noninferior", "noninferior"]
    assert result.passed


def test_items_fingerprints_and_settings_that_differ_are_reported() -> None:
    current, baseline = runs(seed=5, n=20)
    current = current[current.item_id != "q000"]
    extra = current[current.item_id == "q001"].assign(item_id="new1")
    current = pd.concat([current, extra], ignore_index=True)
    current.loc[current.condition == "few_shot", "trial_key"] += "-edited"
    changed = header(
        fingerprint="e" * 16, dataset_fingerprint="c" * 16, config={"temperature": 0.2}
    )
    result = compare_to_baseline(current, changed, baseline, margins={"correct": 0.1})
    drift = result.drift
    assert drift.fingerprint_changed and drift.dataset_changed
    assert drift.only_in_current == {"few_shot": ("new1",), "terse": ("new1",)}
    assert drift.only_in_baseline == {"few_shot": ("q000",), "terse": ("q000",)}
    assert drift.config_changes == ("temperature: 0.7 -> 0.2",)
    assert drift.changed_conditions == ("terse", "few_shot")  # items changed too
    assert result.verdict("terse", "correct").n_items == 19  # shared items only
    warnings = "\n".join(result.warnings)
    for expected in (
        "fingerprint ffffffffffffffff -> eeeeeeeeeeeeeeee",
        "dataset fingerprint dddddddddddddddd -> cccccccccccccccc",
        "terse: 1 item(s) in this run only, not compared: new1",
        "few_shot: 1 item(s) in the baseline only, not compared: q000",
        "settings differ from the baseline: temperature: 0.7 -> 0.2",
        "trials differ from the baseline's (code, parameters, config, items or seed): "
        "['terse', 'few_shot']",
    ):
        assert expected in warnings
    same, _ = runs(seed=5, n=20)
    assert not compare_to_baseline(same, header(), baseline).drift.changed_conditions
    same.loc[same.condition == "few_shot", "trial_key"] += "-edited"
    unchanged = compare_to_baseline(same, header(), baseline).drift
    assert unchanged.changed_conditions == ("few_shot",)
    assert not unchanged.fingerprint_changed and not unchanged.config_changes


def test_conditions_in_one_run_only_are_reported() -> None:
    current, baseline = runs(seed=6, n=10)
    current = pd.concat(
        [current[current.condition == "few_shot"], current.assign(condition="cot")],
        ignore_index=True,
    )
    changed = header(conditions=("few_shot", "cot"))
    result = compare_to_baseline(current, changed, baseline)
    assert {v.condition for v in result.verdicts} == {"few_shot"}
    assert result.drift.conditions_only_in_current == ("cot",)
    assert result.drift.conditions_only_in_baseline == ("terse",)


def test_margins_and_selections_are_checked() -> None:
    current, baseline = runs(seed=7, n=10)
    result = compare_to_baseline(
        current, header(), baseline, margins={"few_shot.correct": 0.3, "correct": 0.1, "*": 0.5}
    )
    margins = {(v.condition, v.metric): v.margin for v in result.verdicts}
    assert margins == {
        ("few_shot", "correct"): 0.3,
        ("terse", "correct"): 0.1,
        ("terse", "latency"): 0.5,
        ("few_shot", "latency"): 0.5,
    }
    with pytest.raises(GateError, match=r"'corect' names no metric.*metrics: correct, latency"):
        compare_to_baseline(current, header(), baseline, margins={"corect": 0.02})
    with pytest.raises(GateError, match=r"'cot.correct' names no metric"):
        compare_to_baseline(current, header(), baseline, margins={"cot.correct": 0.02})
    with pytest.raises(GateError, match="must be a number >= 0"):
        compare_to_baseline(current, header(), baseline, margins={"correct": -1})
    with pytest.raises(GateError, match=r"condition\(s\) \['cot'\] are not in this run"):
        compare_to_baseline(current, header(), baseline, conditions=["cot"])
    with pytest.raises(GateError, match=r"metric\(s\) \['score'\] cannot be compared"):
        compare_to_baseline(current, header(), baseline, metrics=["score"])
    with pytest.raises(GateError, match=r"alpha=1.2"):
        compare_to_baseline(current, header(), baseline, alpha=1.2)
    with pytest.raises(GateError, match=r"no comparison of terse.score"):
        result.verdict("terse", "score")


def test_outputs_are_json_and_markdown() -> None:
    current, baseline = runs(shift=-0.3, n=50)
    result = compare_to_baseline(current, header(), baseline, margins={"*": 0.05})
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["passed"] is False and len(data["verdicts"]) == 4
    gates = result.gate_results()
    assert [g.status for g in gates].count("FAIL") >= 1
    failed = next(g for g in gates if not g.passed)
    assert failed.name == "few_shot.correct not worse than baseline 'main' by 0.05"
    assert failed.test.startswith("non-inferiority: one-sided")
    assert json.dumps([g.to_dict() for g in gates], allow_nan=False)
    text = format_markdown([], result)
    assert "against baseline 'main' (run b0b0b0b0, alpha 0.05): FAIL" in text
    assert "| **FAIL** | few_shot | correct |" in text


def test_a_condition_without_values_is_reported_not_silently_passed() -> None:
    current, baseline = runs(seed=8, n=10)
    current = current.assign(
        status=np.where(current.condition == "terse", "failed", current.status)
    )
    result = compare_to_baseline(current, header(), baseline, margins={"terse.correct": 0.1})
    assert {v.condition for v in result.verdicts} == {"few_shot"}
    assert result.not_compared == (
        "terse.correct: no passed values in this run; not compared",
        "terse.latency: no passed values in this run; not compared",
    )
    assert result.not_compared[0] in result.warnings
    # margins may name conditions outside a restricted comparison
    only = compare_to_baseline(
        current, header(), baseline, margins={"terse.correct": 0.1}, conditions=["few_shot"]
    )
    assert only.not_compared == ()
