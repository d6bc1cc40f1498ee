"""The frozen result records every statistical routine returns.

Every record names the method that produced it and carries `notes`: plain sentences about
anything unusual (dropped values, a degenerate sample, a fallback). A value that cannot be
computed is NaN *and* explained in `notes`; it is never passed off silently.
Every record here is public: `pytest_crucible.stats` re-exports them all.
"""

from __future__ import annotations

from dataclasses import dataclass

Interval = tuple[float, float]


@dataclass(frozen=True)
class MeanCI:
    """Mean of per-item scores with its standard error and a t-based confidence interval.

    method: "t" (plain standard error) or "cluster-robust t (CR1)"; df: degrees of freedom of
    the t quantile (n - 1, or clusters - 1).
    """

    method: str
    mean: float
    se: float
    ci: Interval
    n: int
    level: float
    df: float
    n_clusters: int | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProportionCI:
    """A binomial proportion k / n with a confidence interval ("wilson" or "clopper_pearson")."""

    method: str
    k: int
    n: int
    estimate: float
    ci: Interval
    level: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap confidence interval of a statistic ("percentile", "bca" or "basic")."""

    method: str
    estimate: float
    ci: Interval
    se: float
    level: float
    n_resamples: int
    seed: int | None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EffectSize:
    """A named effect size, with a confidence interval when one is defined.

    name: "cohens_d", "hedges_g", "d_z", "odds_ratio", "risk_difference", "rank_biserial",
    "eta_squared", "omega_squared", "kendalls_w", "epsilon_squared".
    """

    name: str
    value: float
    ci: Interval | None = None
    level: float | None = None
    method: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """An assumption check made while choosing or running a test."""

    name: str
    statistic: float
    p_value: float
    passed: bool
    detail: str


@dataclass(frozen=True)
class Comparison:
    """Two conditions compared: `estimate` is mean(a) - mean(b), with its CI and a test.

    test: the test's key ("paired_t", "wilcoxon", "mcnemar", ...); method: its readable name
    ("McNemar exact"); reason: why it was chosen ("requested" or the auto rule that fired).
    n: pairs used (paired) or n_a + n_b (unpaired); n_dropped: items dropped for missing values.
    ci is the interval that inverts the test (`ci_method` says how it was computed): a t
    interval of the mean difference beside a t test, Tango's score interval of the difference
    of paired proportions beside McNemar, the Hodges-Lehmann interval beside Wilcoxon (then
    `ci_estimate` is the Hodges-Lehmann pseudomedian it is centred on; None when the interval
    is of `estimate`); se is the standard error of the mean difference. df is None for tests
    without degrees of freedom.
    """

    test: str
    method: str
    statistic: float
    df: float | None
    p_value: float
    estimate: float
    se: float
    ci: Interval
    ci_method: str
    level: float
    alternative: str
    effect_size: EffectSize
    paired: bool
    n: int
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    n_clusters: int | None
    n_dropped: int
    reason: str
    checks: tuple[Check, ...] = ()
    notes: tuple[str, ...] = ()
    ci_estimate: float | None = None


@dataclass(frozen=True)
class OmnibusResult:
    """A test that k >= 2 conditions share one mean (or location), with effect sizes."""

    test: str
    method: str
    statistic: float
    df: tuple[float, ...]
    p_value: float
    effect_sizes: tuple[EffectSize, ...]
    k: int
    n: int
    paired: bool
    reason: str
    n_dropped: int = 0
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdjustedPValues:
    """P-values adjusted for a family of comparisons, in the order given."""

    method: str
    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    rejected: tuple[bool, ...]
    alpha: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PowerResult:
    """A t-test power calculation; `solved_for` says which of effect, n, power was computed.

    n is per group for independent samples and the number of pairs for paired samples;
    n_required rounds it up.
    """

    method: str
    solved_for: str
    effect: float
    n: float
    power: float
    alpha: float
    alternative: str
    paired: bool
    notes: tuple[str, ...] = ()

    @property
    def n_required(self) -> int:
        """The sample size rounded up to a whole number of items (pairs or per group)."""
        import math

        return math.ceil(self.n - 1e-9) if math.isfinite(self.n) else 0


@dataclass(frozen=True)
class PairedPlan:
    """How many items a paired eval needs (Miller 2024, section on power analysis).

    var_difference: variance of one item's difference of condition means at `repeats`;
    n_items_by_repeats: (K, items needed) for a few repeat counts; n_items_floor: what
    infinitely many repeats would need (the between-item variance alone).
    """

    method: str
    difference: float
    n_items: int
    n_items_exact: float
    repeats: int
    var_difference: float
    n_items_by_repeats: tuple[tuple[int, int], ...]
    n_items_floor: int
    repeats_help: bool
    advice: str
    power: float
    alpha: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class EquivalenceResult:
    """Two one-sided tests (TOST) that mean(a) - mean(b) lies within `margin`."""

    method: str
    estimate: float
    se: float
    df: float
    ci: Interval
    margin: Interval
    p_value: float
    p_lower: float
    p_upper: float
    equivalent: bool
    alpha: float
    n: int
    paired: bool
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoninferiorityResult:
    """Whether a (current) is not worse than b (baseline) by more than `margin`.

    verdict: "noninferior" (the one-sided lower bound of the oriented difference is above
    -margin), "inferior" (a one-sided test of H0: difference >= -margin rejects: regression
    shown) or "inconclusive". estimate and lower_bound are oriented so that larger is better.
    """

    method: str
    estimate: float
    se: float
    df: float
    margin: float
    lower_bound: float
    upper_bound: float
    p_noninferior: float
    p_inferior: float
    verdict: str
    alpha: float
    n: int
    paired: bool
    lower_is_better: bool
    notes: tuple[str, ...] = ()
