"""The session-end analysis: from a trials frame to estimates, comparisons, sentences, JSON."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pytest_crucible import stats
from pytest_crucible.declare.metrics import Analysis, Metric
from pytest_crucible.errors import StatsError
from pytest_crucible.review.analysis import RunAnalysis, analyze, format_analysis


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    defaults = {"repeat": 0, "cluster": None, "status": "passed"}
    return pd.DataFrame([{**defaults, **row} for row in rows])


def binary_rows(condition: str, outcomes: list[int], **extra: Any) -> list[dict[str, Any]]:
    return [
        {"condition": condition, "item_id": f"q{i}", "correct": float(v), **extra}
        for i, v in enumerate(outcomes)
    ]


def two_prompts(n: int = 60, seed: int = 1) -> pd.DataFrame:
    """terse gets about 55% right, few_shot about 80%, on the same items."""
    rng = np.random.default_rng(seed)
    terse = (rng.random(n) < 0.55).astype(int).tolist()
    few = [max(t, int(rng.random() < 0.6)) for t in terse]
    return frame(binary_rows("terse", terse) + binary_rows("few_shot", few))


def run(trials: pd.DataFrame, **kwargs: Any) -> RunAnalysis:
    options: dict[str, Any] = {
        "conditions": ["terse", "few_shot"],
        "baseline": "terse",
        "metrics": {"correct": Metric(kind="binary")},
    }
    options.update(kwargs)
    return analyze(trials, **options)


def test_binary_metric_is_compared_with_mcnemar_against_the_baseline() -> None:
    result = run(two_prompts())
    (metric,) = result.metrics
    assert metric.kind == "binary"
    terse, few = metric.conditions
    assert (terse.condition, few.condition) == ("terse", "few_shot")
    assert terse.method == "Wilson"
    (row,) = metric.comparisons
    assert (row.condition, row.other) == ("few_shot", "terse")
    assert row.result.test == "mcnemar"
    assert row.result.estimate == pytest.approx(few.mean - terse.mean)  # condition - baseline
    assert row.significant
    assert row.direction == "better"
    assert row.sentence.startswith("few_shot scored higher (better) than terse on correct (M = ")
    assert "paired difference" in row.sentence
    assert "95% CI [" in row.sentence
    assert "McNemar exact p " in row.sentence
    assert "Holm-adjusted; odds ratio" in row.sentence
    assert metric.omnibus is None  # two conditions


def test_repeats_are_averaged_within_items() -> None:
    rows = []
    for repeat, (a, b) in enumerate([(1, 0), (1, 1), (0, 0)]):
        for item in range(20):
            rows.append({"condition": "terse", "item_id": item, "repeat": repeat, "correct": b})
            rows.append({"condition": "few_shot", "item_id": item, "repeat": repeat, "correct": a})
    result = run(frame(rows))
    (metric,) = result.metrics
    terse, few = metric.conditions
    assert (terse.n_items, few.n_items) == (20, 20)
    assert (terse.n_trials, few.n_trials) == (60, 60)
    assert few.mean == pytest.approx(2 / 3)
    assert terse.mean == pytest.approx(1 / 3)
    assert metric.comparisons[0].result.n == 20  # items, not 60 trials


def test_failed_trials_are_counted_not_analysed() -> None:
    trials = two_prompts(n=30)
    trials.loc[trials.index[:3], "status"] = "failed"
    trials.loc[trials.index[:3], "correct"] = np.nan
    result = run(trials)
    assert dict(result.failed) == {"terse": 3, "few_shot": 0}
    terse = result.metrics[0].conditions[0]
    assert terse.n_failed == 3
    assert terse.n_items == 27
    row = result.metrics[0].comparisons[0]
    assert row.result.n == 27
    assert any("3 of 30 items missing" in note for note in row.result.notes)
    assert "3 failed trial(s) not analysed" in result.notes


def test_clustered_items_use_cluster_robust_methods() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for item in range(80):
        cluster = f"passage-{item // 8}"
        for condition, shift in (("terse", 0.0), ("few_shot", 0.3), ("cot", 0.1)):
            score = rng.normal(shift + 0.1 * (item // 8), 1)
            rows.append(
                {"condition": condition, "item_id": item, "cluster": cluster, "score": score}
            )
    result = run(frame(rows), conditions=["terse", "few_shot", "cot"], metrics={"score": Metric()})
    assert result.clustered
    metric = result.metrics[0]
    assert all(c.method == "cluster-robust t (CR1)" for c in metric.conditions)
    for row in metric.comparisons:
        assert row.result.test == "paired_t"
        assert row.result.n_clusters == 10
        assert row.result.df == 9
    assert metric.omnibus is not None
    assert any("ignores clusters" in note for note in metric.notes)


def test_family_adjustment_spans_all_metrics_and_comparisons() -> None:
    rng = np.random.default_rng(4)
    rows = []
    for item in range(40):
        base = rng.normal()
        for condition, shift in (("terse", 0.0), ("few_shot", 0.4), ("cot", 0.2)):
            rows.append(
                {
                    "condition": condition,
                    "item_id": item,
                    "score": base + shift + rng.normal(0, 0.8),
                    "latency_s": math.exp(rng.normal(shift, 0.3)),
                }
            )
    metrics = {"score": Metric(), "latency_s": Metric(lower_is_better=True, unit="s")}
    conditions = ["terse", "few_shot", "cot"]
    result = run(frame(rows), conditions=conditions, metrics=metrics)
    rows_out = [row for m in result.metrics for row in m.comparisons]
    assert len(rows_out) == 4 == result.family_size
    holm = stats.adjust([row.result.p_value for row in rows_out], "holm")
    assert [row.p_adjusted for row in rows_out] == pytest.approx(list(holm.adjusted))
    latency = result.metrics[1].comparisons[0]
    assert latency.result.estimate > 0  # few_shot is slower
    assert latency.direction == "worse"
    assert "scored higher (worse)" in latency.sentence
    assert "s, paired difference" in latency.sentence  # unit after the means


@pytest.mark.parametrize(("correction", "label"), [("none", "unadjusted"), ("bh", "BH-adjusted")])
def test_correction_setting_is_used_and_named(correction: str, label: str) -> None:
    result = run(two_prompts(), settings=Analysis(correction=correction))  # type: ignore[arg-type]
    row = result.metrics[0].comparisons[0]
    if correction == "none":
        assert row.p_adjusted == row.result.p_value
    assert label in row.sentence


def test_without_baseline_every_pair_is_compared_and_an_omnibus_runs() -> None:
    trials = two_prompts()
    cot = trials[trials.condition == "terse"].assign(condition="cot")
    result = run(pd.concat([trials, cot]), conditions=["terse", "few_shot", "cot"], baseline=None)
    metric = result.metrics[0]
    pairs = [(row.condition, row.other) for row in metric.comparisons]
    assert pairs == [("terse", "few_shot"), ("terse", "cot"), ("few_shot", "cot")]
    assert metric.omnibus is not None
    assert metric.omnibus.test == "cochran_q"
    identical = metric.comparisons[1]
    assert identical.result.p_value == 1.0
    assert identical.direction == "no difference"
    assert "did not differ significantly" in identical.sentence


def test_power_line_names_a_difference_and_the_items_needed() -> None:
    line = run(two_prompts(n=200)).metrics[0].power_line
    assert line.startswith("correct: with 200 items the smallest difference detectable")
    assert "-point difference at 80% power you need about" in line
    needed = int(line.rsplit("about ", 1)[1].split(" items")[0].replace(",", ""))
    assert needed > 200


def test_to_dict_is_json_safe_even_with_undefined_results() -> None:
    trials = two_prompts(n=10)
    trials.loc[trials.condition == "few_shot", "status"] = "failed"
    result = run(trials)
    row = result.metrics[0].comparisons[0]
    assert math.isnan(row.result.p_value)
    assert "no test possible" in row.sentence
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["failed"] == {"terse": 0, "few_shot": 10}
    comparison = data["metrics"][0]["comparisons"][0]
    assert comparison["result"]["p_value"] is None
    assert data["settings"]["correction"] == "holm"


def test_format_analysis_prints_tables_markers_and_sentences() -> None:
    text = format_analysis(run(two_prompts(n=200)))
    assert "p-values Holm-adjusted in one family of 1 comparisons (metrics correct)" in text
    assert "comparison intervals unadjusted" in text
    assert "markers: * p_adj <= 0.05, ** < 0.01, *** < 0.001" in text
    assert "correct (binary, higher is better)" in text
    assert "few_shot - terse" in text
    assert "***" in text
    assert "power: correct: with 200 items" in text
    assert "  - few_shot scored higher (better) than terse" in text


def test_many_comparisons_print_only_significant_sentences() -> None:
    rng = np.random.default_rng(8)
    conditions = [f"c{i}" for i in range(6)]  # 15 pairs
    rows = [
        {"condition": c, "item_id": item, "score": rng.normal(0.5 if c == "c5" else 0.0)}
        for c in conditions
        for item in range(50)
    ]
    text = format_analysis(
        run(frame(rows), conditions=conditions, baseline=None, metrics={"score": Metric()})
    )
    assert "not shown; every sentence is in the JSON" in text


def test_auto_kind_detects_binary_and_continuous() -> None:
    rows = [
        {"condition": c, "item_id": i, "ok": float(i % 2), "score": i * 0.1}
        for c in ("terse", "few_shot")
        for i in range(10)
    ]
    result = run(frame(rows), metrics={"ok": Metric(), "score": Metric()})
    assert [m.kind for m in result.metrics] == ["binary", "continuous"]


def test_awkward_inputs_give_notes_not_crashes() -> None:
    trials = two_prompts(n=20)
    stray = trials.iloc[:2].assign(condition="ghost")
    result = run(
        pd.concat([trials, stray]),
        metrics={"correct": Metric(), "missing": Metric()},
        settings=Analysis(test="welch"),
    )
    assert any("unknown condition(s) ['ghost'] ignored" in note for note in result.notes)
    correct, missing = result.metrics
    assert any("test='welch' cannot be used" in note for note in correct.notes)
    assert correct.comparisons[0].result.test == "mcnemar"
    assert "no trial recorded 'missing'" in missing.notes[0]
    json.dumps(result.to_dict(), allow_nan=False)
    format_analysis(result)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline": "chatty"}, "not one of the conditions"),
        ({"conditions": []}, "at least one condition"),
        ({"metrics": {}}, "at least one metric"),
    ],
)
def test_wrong_arguments_raise_stats_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(StatsError, match=message):
        run(two_prompts(), **kwargs)


def test_a_frame_without_item_ids_is_refused() -> None:
    with pytest.raises(StatsError, match="item_id"):
        run(pd.DataFrame({"condition": ["terse"], "correct": [1.0]}))


def repeated_binary(outcomes: dict[str, list[list[int]]]) -> pd.DataFrame:
    """A pass/fail metric recorded as bools, several repeats per item."""
    return frame(
        [
            {"condition": c, "item_id": f"q{i}", "repeat": r, "correct": bool(v)}
            for c, items in outcomes.items()
            for i, repeats in enumerate(items)
            for r, v in enumerate(repeats)
        ]
    )


FOUR_BY_THREE = {
    "terse": [[1, 1, 0], [1, 0, 1], [0, 0, 0], [1, 1, 1]],
    "few_shot": [[1, 1, 1], [1, 1, 1], [0, 0, 1], [1, 1, 1]],
}


@pytest.mark.parametrize("kind", ["auto", "binary"])
def test_a_proportion_with_repeats_has_an_interval_inside_0_and_1(kind: str) -> None:
    # before: terse 0.583 [-0.084, 1.251], few_shot 0.833 [0.303, 1.364], kind "continuous"
    result = run(repeated_binary(FOUR_BY_THREE), metrics={"correct": Metric(kind=kind)})  # type: ignore[arg-type]
    (metric,) = result.metrics
    assert metric.kind == "binary"
    for summary in metric.conditions:
        assert 0 <= summary.ci[0] <= summary.mean <= summary.ci[1] <= 1
        assert summary.method == "Wilson, effective n"
    terse = metric.conditions[0]
    assert terse.mean == pytest.approx(7 / 12)
    assert any("too few items to say much" in note for note in terse.notes)
    text = format_analysis(result)
    assert "Wilson, effective n" in text
    assert "terse: 4 items: the interval spans most of [0, 1]" in text


def test_two_or_one_items_give_a_bounded_interval_or_say_too_few() -> None:
    # before: 2 items x 3 repeats gave [-3.902, 4.569]
    two = {c: items[:3:2] for c, items in FOUR_BY_THREE.items()}
    (metric,) = run(repeated_binary(two)).metrics
    assert all(0 <= s.ci[0] <= s.ci[1] <= 1 for s in metric.conditions)
    one = {c: items[:1] for c, items in FOUR_BY_THREE.items()}
    result = run(repeated_binary(one))
    terse = result.metrics[0].conditions[0]
    assert terse.mean == pytest.approx(2 / 3)
    assert all(math.isnan(bound) for bound in terse.ci)
    assert "too few to say anything" in " ".join(terse.notes)
    assert "[too few items]" in format_analysis(result)
    # one 0/1 outcome per item, one item: Wilson is defined, and wide, and says so
    single = run(frame(binary_rows("terse", [1]) + binary_rows("few_shot", [0])))
    assert "1 item: the interval spans most of [0, 1]" in format_analysis(single)


def test_clustered_binary_items_keep_a_cluster_robust_interval_inside_0_and_1() -> None:
    rows = [
        {**row, "cluster": f"topic{i % 3}"}
        for i, row in enumerate(binary_rows("terse", [1, 1, 0, 1, 1, 1]))
    ] + [
        {**row, "cluster": f"topic{i % 3}"}
        for i, row in enumerate(binary_rows("few_shot", [1, 1, 1, 1, 1, 0]))
    ]
    (metric,) = run(frame(rows)).metrics
    terse = metric.conditions[0]
    assert terse.method == "Wilson, effective n (clustered)"
    assert 0 <= terse.ci[0] <= terse.ci[1] <= 1


def test_the_results_table_says_how_its_intervals_were_computed() -> None:
    from pytest_crucible.review.summary import format_table

    trials = repeated_binary(FOUR_BY_THREE)
    table = format_table(trials, run(trials))
    assert "0.583 [0.151, 0.917]" in table
    assert "CI of correct: 95%, Wilson score interval on the effective number of items" in table


def five_conditions(n: int = 40, seed: int = 3) -> pd.DataFrame:
    """base and four conditions on the same items: c4 is better on both metrics."""
    rng = np.random.default_rng(seed)
    base = rng.random(n) < 0.5
    outcomes = {"base": base}
    for name, shift in (("c1", 0.0), ("c2", 0.0), ("c3", 0.0), ("c4", 0.3)):
        outcomes[name] = np.where(base, rng.random(n) < 0.9, rng.random(n) < shift + 0.05)
    return frame(
        [
            {
                "condition": c,
                "item_id": f"q{i}",
                "correct": float(v[i]),
                "score": float(v[i]) + rng.normal(0, 1) + (0.4 if c == "c4" else 0.0),
            }
            for c, v in outcomes.items()
            for i in range(n)
        ]
    )


def five(**settings: Any) -> RunAnalysis:
    return run(
        five_conditions(),
        conditions=["base", "c1", "c2", "c3", "c4"],
        baseline="base",
        metrics={"correct": Metric(kind="binary"), "score": Metric()},
        settings=Analysis(**settings),
    )


def test_each_comparison_interval_inverts_its_own_test() -> None:
    binary = run(two_prompts(n=30)).metrics[0].comparisons[0].result
    assert (binary.test, binary.ci_method) == ("mcnemar", "Tango score")
    assert -1 <= binary.ci[0] <= binary.estimate <= binary.ci[1] <= 1
    scores = five().metrics[1].comparisons[0].result
    assert (scores.test, scores.ci_method) == ("paired_t", "paired t")
    # repeats averaged to fractions: Wilcoxon with Hodges-Lehmann, bounded to [-1, 1]
    # (before: the t interval of the mean, e.g. [-0.015, +0.52] beside Wilcoxon p = 0.174)
    (row,) = run(repeated_binary(FOUR_BY_THREE)).metrics[0].comparisons
    assert row.result.test == "wilcoxon"
    assert row.result.ci_method.startswith("Hodges-Lehmann")
    assert -1 <= row.result.ci[0] <= row.result.ci[1] <= 1
    assert "median difference" in row.sentence
    assert "too few items to say anything" in row.interval_note  # 4 items: no finite bound


def test_no_difference_beside_an_interval_that_excludes_0_says_why() -> None:
    result = five()
    rows = [row for metric in result.metrics for row in metric.comparisons]
    odd = [r for r in rows if not r.significant and (r.result.ci[0] > 0 or r.result.ci[1] < 0)]
    assert odd  # c4 - base on correct: raw McNemar p < 0.05, Holm over 8 comparisons is not
    for row in odd:
        assert "the interval is not adjusted for the 8 comparisons of its family" in (
            row.interval_note
        )
        assert row.interval_note in row.sentence
    text = format_analysis(result)
    assert "unadjusted 95% CI" in text
    assert "† c4 - base: the 95% interval excludes 0 but the Holm-adjusted p" in text
    agreeing = [r for r in rows if r not in odd]
    assert all(r.interval_note == "" for r in agreeing)


def test_the_family_is_the_experiment_by_default_or_each_metric() -> None:
    whole = five()
    assert [m.family_size for m in whole.metrics] == [8, 8]
    assert whole.family == (
        "p-values Holm-adjusted in one family of 8 comparisons (metrics correct, score); "
        "comparison intervals unadjusted"
    )
    apart = five(family="metric")
    assert [m.family_size for m in apart.metrics] == [4, 4]
    assert apart.family.startswith(
        "p-values Holm-adjusted within each metric (comparisons per family: correct: 4, score: 4)"
    )
    assert apart.family in format_analysis(apart)
    for wide, narrow in zip(whole.metrics, apart.metrics, strict=True):
        for a, b in zip(wide.comparisons, narrow.comparisons, strict=True):
            assert b.p_adjusted <= a.p_adjusted  # a smaller family adjusts less
    assert json.loads(json.dumps(apart.to_dict()))["settings"]["family"] == "metric"


def test_the_family_setting_is_checked_and_round_trips_through_a_stored_header() -> None:
    import dataclasses

    from pytest_crucible.errors import ExperimentError

    with pytest.raises(ExperimentError, match=r"family='items'\) is unknown"):
        Analysis(family="items")  # type: ignore[arg-type]
    settings = Analysis(family="metric", correction="bh")
    stored = json.loads(json.dumps(dataclasses.asdict(settings)))
    assert Analysis(**stored) == settings


def test_power_line_says_when_no_difference_of_proportions_is_detectable() -> None:
    """With 3 items the detectable difference exceeds 100 points: say so, never "377 points"."""
    trials = frame(binary_rows("terse", [1, 0, 0]) + binary_rows("few_shot", [1, 1, 0]))
    line = run(trials).metrics[0].power_line
    assert "no difference of proportions is detectable at 80% power" in line, line
    assert "50-point difference you need about" in line
    assert "points" not in line.split("(alpha")[0]


def test_an_interval_of_the_median_difference_says_so_beside_the_mean_difference() -> None:
    # one large difference pulls the mean far from the median: the Hodges-Lehmann interval
    # of Wilcoxon's test is centred on 1, the table's "diff" column shows the mean, 5.9
    diffs = [1.0] * 9 + [50.0]
    rows = [{"condition": "base", "item_id": f"q{i}", "score": 10.0} for i in range(10)]
    rows += [
        {"condition": "new", "item_id": f"q{i}", "score": 10.0 + d} for i, d in enumerate(diffs)
    ]
    result = run(
        frame(rows),
        conditions=["base", "new"],
        baseline="base",
        metrics={"score": Metric(kind="continuous")},
        settings=Analysis(test="wilcoxon"),
    )
    (row,) = result.metrics[0].comparisons
    assert row.result.estimate == pytest.approx(5.9)
    assert row.result.ci_estimate == pytest.approx(1.0)
    assert row.interval_note.startswith(
        "the interval is of the median difference (Hodges-Lehmann estimate +1.00), "
        "not of the mean difference +5.90"
    )
    assert "not of the mean difference +5.90" in format_analysis(result)


def test_a_significant_wilcoxon_result_is_oriented_by_its_shift_not_by_the_mean() -> None:
    """Slow is 1 s slower on 15 items and 100 s faster on one: the mean difference is
    negative, the Hodges-Lehmann shift (what Wilcoxon tests) positive. The verdict and the
    sentence follow the test: slower, so worse for a lower-is-better latency."""
    fast = [{"condition": "fast", "item_id": f"q{i}", "latency": 10.0 + i} for i in range(16)]
    slow = [
        {"condition": "slow", "item_id": f"q{i}", "latency": 10.0 + i + (1.0 if i else -100.0)}
        for i in range(16)
    ]
    result = run(
        frame(fast + slow),
        conditions=["fast", "slow"],
        baseline="fast",
        metrics={"latency": Metric(kind="continuous", lower_is_better=True)},
    )
    (row,) = result.metrics[0].comparisons
    assert row.result.test == "wilcoxon"
    assert row.result.estimate < 0 < (row.result.ci_estimate or 0.0)
    assert row.significant
    assert row.direction == "worse"
    assert row.sentence.startswith("slow scored higher (worse) than fast on latency")
