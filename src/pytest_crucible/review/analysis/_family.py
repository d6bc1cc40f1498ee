"""The multiplicity family in words, and why an interval and an adjusted verdict disagree.

The p-values of a family (Analysis.family: the whole experiment, or each metric) are
adjusted together; the intervals beside comparisons are not (they invert the unadjusted
test), so an interval may exclude 0 next to "no difference". Each such row says why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pytest_crucible.declare.metrics import Analysis
from pytest_crucible.review._numbers import number_text
from pytest_crucible.review.analysis._model import MetricAnalysis
from pytest_crucible.stats import Comparison

__all__ = ["CORRECTION_LABELS", "estimand_note", "family_text", "interval_note"]

CORRECTION_LABELS = {
    "holm": "Holm-adjusted",
    "bonferroni": "Bonferroni-adjusted",
    "bh": "BH-adjusted",
    "none": "unadjusted",
}


def family_text(metrics: Sequence[MetricAnalysis], settings: Analysis) -> str:
    """Which comparisons and metrics share the p-value adjustment, e.g. 'p-values
    Holm-adjusted in one family of 4 comparisons (metrics correct, latency_s)'."""
    adjusted = CORRECTION_LABELS[settings.correction]
    compared = [m for m in metrics if m.comparisons]
    names = ", ".join(m.name for m in compared) or "none"
    if settings.correction == "none":
        total = sum(m.family_size for m in compared)
        return f"p-values unadjusted ({total} comparisons; metrics {names})"
    if settings.family == "metric":
        sizes = ", ".join(f"{m.name}: {m.family_size}" for m in compared) or "none"
        text = f"p-values {adjusted} within each metric (comparisons per family: {sizes})"
    else:
        total = compared[0].family_size if compared else 0
        text = f"p-values {adjusted} in one family of {total} comparisons (metrics {names})"
    return text + "; comparison intervals unadjusted"


def interval_note(
    result: Comparison, p_adjusted: float, significant: bool, settings: Analysis, size: int
) -> str:
    """Why the interval excludes 0 while the verdict is "no difference" (or the reverse);
    "" when they agree or there is nothing to compare."""
    low, high = result.ci
    if not (math.isfinite(p_adjusted) and not math.isnan(low) and not math.isnan(high)):
        return ""
    excludes = low > 0 or high < 0
    if excludes == significant:
        return ""
    level = f"{round(result.level * 100):g}%"
    adjusted = CORRECTION_LABELS[settings.correction]
    if not math.isclose(result.level, 1 - settings.alpha):
        return (
            f"the interval is at {level} and the test at alpha {settings.alpha:g}, "
            "so they may disagree"
        )
    if excludes and settings.correction != "none" and result.p_value <= settings.alpha:
        return (
            f"the {level} interval excludes 0 but the {adjusted} p = {p_adjusted:.3f} does not "
            f"reach {settings.alpha:g}: the interval is not adjusted for the {size} "
            "comparisons of its family"
        )
    side = "excludes" if excludes else "includes"
    return (
        f"the {level} {result.ci_method} interval {side} 0 while the "
        f"{result.method.removesuffix(' test')} test "
        f"{'does not reject' if excludes else 'rejects'}: the two methods differ at the margin"
    )


def estimand_note(result: Comparison, binary: bool) -> str:
    """When the interval is not of the mean difference the table shows beside it (Wilcoxon's
    Hodges-Lehmann interval is of the median of pairwise averages): say so, with its centre,
    so that "+208.9 [209.0, 209.0]" is not read as an interval that misses its estimate."""
    centre = result.ci_estimate
    if centre is None or not (math.isfinite(centre) and math.isfinite(result.estimate)):
        return ""
    return (
        f"the interval is of the median difference (Hodges-Lehmann estimate "
        f"{number_text(centre, binary, True)}), not of the mean difference "
        f"{number_text(result.estimate, binary, True)}"
    )
