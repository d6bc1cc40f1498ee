"""Statistics for comparing experiment conditions: paired, corrected, powered.

Pure numpy/scipy/statsmodels. Every function returns a frozen dataclass that names the
method used and carries `notes` on anything unusual; bad data (empty groups, one item, no
variation, missing values, missing pairs) give a defined result with a note, never a crash
and never an unexplained NaN. Wrong arguments raise `pytest_crucible.errors.StatsError`.

Direction: `compare(a, b, ...)` and every two-sample effect size estimate a relative to b,
mean(a) - mean(b). Repeats: an items x repeats array is averaged within each item first.
Tests follow R's conventions and are checked against published R and NIST values.
"""

from __future__ import annotations

from pytest_crucible.stats._adjust import ADJUST_METHODS, adjust
from pytest_crucible.stats._aggregates import (
    pass_at_k,
    pass_at_k_ci,
    percentile_ci,
    ratio_ci,
    ratio_of_sums_ci,
)
from pytest_crucible.stats._bootstrap import BOOTSTRAP_METHODS, bootstrap_ci
from pytest_crucible.stats._compare import TESTS, compare
from pytest_crucible.stats._descriptive import mean_ci, mean_proportion_ci, proportion_ci
from pytest_crucible.stats._effect_size import (
    cohens_d,
    cohens_dz,
    hedges_g,
    odds_ratio,
    rank_biserial,
    risk_difference,
)
from pytest_crucible.stats._equivalence import equivalence, noninferiority
from pytest_crucible.stats._omnibus import OMNIBUS_TESTS, omnibus
from pytest_crucible.stats._power import (
    minimum_detectable_effect,
    plan_paired_eval,
    power,
    sample_size,
)
from pytest_crucible.stats._results import (
    AdjustedPValues,
    BootstrapCI,
    Check,
    Comparison,
    EffectSize,
    EquivalenceResult,
    MeanCI,
    NoninferiorityResult,
    OmnibusResult,
    PairedPlan,
    PowerResult,
    ProportionCI,
)

__all__ = [
    "ADJUST_METHODS",
    "BOOTSTRAP_METHODS",
    "OMNIBUS_TESTS",
    "TESTS",
    "AdjustedPValues",
    "BootstrapCI",
    "Check",
    "Comparison",
    "EffectSize",
    "EquivalenceResult",
    "MeanCI",
    "NoninferiorityResult",
    "OmnibusResult",
    "PairedPlan",
    "PowerResult",
    "ProportionCI",
    "adjust",
    "bootstrap_ci",
    "cohens_d",
    "cohens_dz",
    "compare",
    "equivalence",
    "hedges_g",
    "mean_ci",
    "mean_proportion_ci",
    "minimum_detectable_effect",
    "noninferiority",
    "odds_ratio",
    "omnibus",
    "pass_at_k",
    "pass_at_k_ci",
    "percentile_ci",
    "plan_paired_eval",
    "power",
    "proportion_ci",
    "rank_biserial",
    "ratio_ci",
    "ratio_of_sums_ci",
    "risk_difference",
    "sample_size",
]
