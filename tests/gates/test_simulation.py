"""Proof by simulation that the baseline gate keeps its promises at the default settings.

The experiment: 100 items of varying difficulty, two conditions, a 0/1 metric `correct`
(3 repeats, item accuracies between 0.35 and 0.95) and a lower-is-better `latency` (item
means between 1 and 2 s, SD 0.2 s per repeat). The baseline is one run, the current run
another with fresh noise; the gate fails when any of the 4 condition x metric comparisons
shows a regression (alpha 0.05, Holm over the 4, not strict).

- false alarms: the unchanged experiment, compared SIMULATIONS times against its own
  baseline, at margin 0 (the edge of the null hypothesis, where a test rejects most often)
  and at practical margins;
- power: few_shot's accuracy falls by one margin plus the effect the design detects with 80%
  power (`stats.minimum_detectable_effect`, one-sided at alpha / 4, the first Holm step).
  By construction the power is then 0.80 (a direct check of the test with 4,000 draws gave
  0.796); POWER_SIMULATIONS runs of the whole gate measure it within their Monte Carlo error.
  400 runs (2 SE = 0.040) instead of 1,000 (2 SE = 0.025) cost 2.5 times less and still fail
  a gate whose real power is 0.70 or less with probability 0.995 (a one-sided z of 2.6);
  what they give up is telling 0.80 from 0.77.

Run with -s to see the rates (they are also in the test ids' assertion messages).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gate_helpers import frame, header

from pytest_crucible import stats
from pytest_crucible.review.gates import Baseline, compare_to_baseline
from pytest_crucible.review.gates._planning import Spread, items_needed

ALPHA = 0.05
SIMULATIONS = 200
POWER_SIMULATIONS = 400
ITEMS = 100
REPEATS = 3
MARGINS = {"correct": 0.02, "latency": 0.05}
MC_ERROR = math.sqrt(ALPHA * (1 - ALPHA) / SIMULATIONS)  # about 0.015
HEADER = header(items=ITEMS)


def accuracies(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {c: rng.uniform(0.35, 0.95, ITEMS) for c in ("terse", "few_shot")}


def latencies(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {c: rng.uniform(1.0, 2.0, ITEMS) for c in ("terse", "few_shot")}


def gate_fails(
    rng: np.random.Generator, drop: float, margins: list[dict[str, float]]
) -> list[tuple[bool, str]]:
    """One baseline run and one current run (few_shot's accuracy lowered by `drop`);
    for each margin setting: (the gate failed, few_shot.correct's verdict)."""
    accuracy, latency = accuracies(rng), latencies(rng)
    base = frame(rng, accuracy, latency=latency, repeats=REPEATS)
    lowered = {**accuracy, "few_shot": accuracy["few_shot"] - drop}
    current = frame(rng, lowered, latency=latency, repeats=REPEATS)
    baseline = Baseline.from_trials(base, HEADER, name="main")
    outcomes = []
    for setting in margins:
        result = compare_to_baseline(
            current, HEADER, baseline, margins=setting, alpha=ALPHA, plan=False
        )
        outcomes.append((not result.passed, result.verdict("few_shot", "correct").verdict))
    return outcomes


@pytest.mark.slow
def test_an_unchanged_experiment_fails_no_more_often_than_alpha() -> None:
    rng = np.random.default_rng(2024)
    runs = [gate_fails(rng, 0.0, [{"*": 0.0}, MARGINS]) for _ in range(SIMULATIONS)]
    at_zero = float(np.mean([r[0][0] for r in runs]))
    at_margins = float(np.mean([r[1][0] for r in runs]))
    inconclusive = float(np.mean([r[1][1] == "inconclusive" for r in runs]))
    print(
        f"\nfalse-alarm rate over {SIMULATIONS} unchanged reruns: margin 0 -> {at_zero:.3f}, "
        f"margins {MARGINS} -> {at_margins:.3f} (alpha {ALPHA}); inconclusive "
        f"few_shot.correct at those margins: {inconclusive:.2f}"
    )
    assert at_zero <= ALPHA + 2.5 * MC_ERROR, at_zero  # alpha + 0.039
    assert at_zero >= 0.01, at_zero  # the test is not vacuous: at the edge it does reject
    assert at_margins <= at_zero, (at_margins, at_zero)


def detectable_drop() -> float:
    """One margin plus the accuracy drop 100 items x 3 repeats detect with 80% power."""
    # SD of one item's difference of 3-repeat means: p(1 - p) / 3 per run, p ~ U(0.35, 0.95),
    # the current run's p lowered by the drop
    grid = np.linspace(0.35, 0.95, 10_001)
    effect = stats.minimum_detectable_effect(
        ITEMS, power=0.8, alpha=ALPHA / 4, paired=True, alternative="greater"
    ).effect
    drop = MARGINS["correct"]
    for _ in range(20):  # fixed point: the variance depends on the lowered accuracies
        lowered = grid - drop
        variance = float(np.mean((grid * (1 - grid) + lowered * (1 - lowered)) / REPEATS))
        drop = MARGINS["correct"] + effect * math.sqrt(variance)
    return drop


@pytest.mark.slow
def test_a_regression_one_margin_plus_a_detectable_effect_deep_is_caught() -> None:
    drop = detectable_drop()
    rng = np.random.default_rng(7)
    runs = [gate_fails(rng, drop, [MARGINS])[0] for _ in range(POWER_SIMULATIONS)]
    caught = float(np.mean([failed for failed, _ in runs]))
    as_regression = float(np.mean([verdict == "regression" for _, verdict in runs]))
    print(
        f"\npower over {POWER_SIMULATIONS} runs with few_shot.correct {drop:.3f} lower (margin "
        f"{MARGINS['correct']} + detectable effect {drop - MARGINS['correct']:.3f}): gate "
        f"failed {caught:.3f}, few_shot.correct called a regression {as_regression:.3f}"
    )
    assert as_regression >= 0.80 - 2 * math.sqrt(0.8 * 0.2 / POWER_SIMULATIONS), as_regression
    assert caught >= as_regression


def test_the_items_the_planner_asks_for_do_decide() -> None:
    """An inconclusive verdict's "about N items would decide it": with N items (true
    difference 0, margin 0.05) non-inferiority is shown about 80% of the time."""
    rng = np.random.default_rng(3)
    p = rng.uniform(0.35, 0.95, 200)
    sample = (rng.random((200, REPEATS)) < p[:, None]).mean(1) - (
        rng.random((200, REPEATS)) < p[:, None]
    ).mean(1)
    within = Spread(math.sqrt(float(np.mean(p * (1 - p)))), REPEATS)
    plan = items_needed(0.0, 0.05, sample, within, within, ALPHA)
    assert plan.items is not None and 100 < plan.items < 400, plan
    decided = []
    for _ in range(SIMULATIONS):
        q = rng.uniform(0.35, 0.95, plan.items)
        a = (rng.random((plan.items, REPEATS)) < q[:, None]).mean(1)
        b = (rng.random((plan.items, REPEATS)) < q[:, None]).mean(1)
        decided.append(stats.noninferiority(a, b, 0.05, paired=True).verdict == "noninferior")
    rate = float(np.mean(decided))
    print(f"\nplanner: {plan.items} items; non-inferiority shown in {rate:.3f} of runs")
    assert abs(rate - 0.8) <= 3 * math.sqrt(0.8 * 0.2 / SIMULATIONS), rate
