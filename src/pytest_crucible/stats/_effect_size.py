"""Effect sizes: standardized mean differences, odds ratios, risk differences, rank effects.

Direction: every two-sample effect size is "a relative to b": positive when a scores higher.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, special
from scipy import stats as sps
from scipy.stats import contingency

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._inputs import (
    NAN,
    ArrayLike,
    FloatArray,
    check_level,
    finite,
    item_values,
)
from pytest_crucible.stats._results import EffectSize

__all__ = [
    "cohens_d",
    "cohens_dz",
    "hedges_g",
    "odds_ratio",
    "rank_biserial",
    "risk_difference",
]


def cohens_d(a: ArrayLike, b: ArrayLike, level: float = 0.95) -> EffectSize:
    """Cohen's d of independent samples: (mean(a) - mean(b)) / pooled SD.

    The CI inverts the noncentral t distribution (as R's effectsize::cohens_d does).
    """
    check_level(level)
    x, y = _values(a, "a"), _values(b, "b")
    return _pooled_d(x, y, level, correct=False)


def hedges_g(a: ArrayLike, b: ArrayLike, level: float = 0.95) -> EffectSize:
    """Hedges' g: Cohen's d times the exact small-sample correction J(df), df = n_a + n_b - 2."""
    check_level(level)
    x, y = _values(a, "a"), _values(b, "b")
    return _pooled_d(x, y, level, correct=True)


def cohens_dz(a: ArrayLike, b: ArrayLike | None = None, level: float = 0.95) -> EffectSize:
    """d_z of paired data: mean of the differences a - b over their SD (b=None: a holds them).

    Pairs with a missing value are dropped. The CI inverts the noncentral t on n - 1 df.
    """
    check_level(level)
    diff = _values(a, "a") if b is None else _paired_diff(a, b)
    return dz_from_differences(diff, level)


def dz_from_differences(diff: FloatArray, level: float) -> EffectSize:
    """d_z of the (complete) per-item differences."""
    n = diff.size
    if n < 2:
        return _undefined("d_z", "fewer than 2 pairs: d_z needs the SD of the differences", level)
    sd = float(np.std(diff, ddof=1))
    if sd == 0:
        return _undefined("d_z", "the differences do not vary: d_z is undefined", level)
    dz = float(diff.mean()) / sd
    scale = math.sqrt(n)
    low, high = _ncp_interval(dz * scale, n - 1, level)
    return EffectSize("d_z", dz, (low / scale, high / scale), level, "noncentral t")


def odds_ratio(
    table: ArrayLike, *, paired: bool = False, kind: str = "sample", level: float = 0.95
) -> EffectSize:
    """Odds ratio of a 2x2 table [[a1_b1, a1_b0], [a0_b1, a0_b0]]-style counts.

    Unpaired (rows = groups, columns = success/failure): kind "sample" gives ad/bc with
    Woolf's logit CI (0.5 added to every cell when one is zero); kind "conditional" gives
    Fisher's conditional MLE with its exact CI (R's fisher.test). Paired (rows = outcome of a
    1/0, columns = outcome of b 1/0): the discordant-pair ratio n10/n01 with the exact CI
    from the binomial distribution of n10 given n10 + n01.
    """
    check_level(level)
    counts = np.asarray(table, dtype=np.float64)
    if counts.shape != (2, 2) or np.any(counts < 0) or not np.all(np.isfinite(counts)):
        raise StatsError(f"odds_ratio needs a 2x2 table of counts >= 0; got {counts.tolist()}")
    if paired:
        return _paired_odds_ratio(int(counts[0, 1]), int(counts[1, 0]), level)
    if kind == "conditional":
        result = contingency.odds_ratio(counts.astype(np.int64), kind="conditional")
        ci = result.confidence_interval(level)
        method = "conditional MLE, exact CI"
        return EffectSize("odds_ratio", float(result.statistic), (ci.low, ci.high), level, method)
    if kind != "sample":
        raise StatsError(f"kind={kind!r} is unknown; use 'sample' or 'conditional'")
    return _woolf_odds_ratio(counts, level)


def risk_difference(
    k1: int, n1: int, k2: int, n2: int, level: float = 0.95, method: str = "newcombe"
) -> EffectSize:
    """p1 - p2 of two independent proportions with Newcombe's hybrid score CI (or "wald")."""
    check_level(level)
    if min(n1, n2) <= 0 or not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise StatsError(
            f"risk_difference needs 0 <= k <= n and n > 0 in both groups; "
            f"got {k1}/{n1} and {k2}/{n2}"
        )
    p1, p2 = k1 / n1, k2 / n2
    diff = p1 - p2
    if method == "wald":
        z = float(sps.norm.ppf(0.5 + level / 2))
        half = z * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
        return EffectSize("risk_difference", diff, (diff - half, diff + half), level, "Wald")
    if method != "newcombe":
        raise StatsError(f"method={method!r} is unknown; use 'newcombe' or 'wald'")
    l1, u1 = _wilson(k1, n1, level)
    l2, u2 = _wilson(k2, n2, level)
    low = diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return EffectSize("risk_difference", diff, (low, high), level, "Newcombe hybrid score")


def rank_biserial(a: ArrayLike, b: ArrayLike, paired: bool) -> EffectSize:
    """Rank-biserial correlation in [-1, 1], positive when a tends to be larger.

    Independent samples: 2 U_a / (n_a n_b) - 1. Paired: (W+ - W-) / (W+ + W-) over the
    signed ranks of the non-zero differences.
    """
    if paired:
        return rank_biserial_paired(_paired_diff(a, b))
    x, y = _values(a, "a"), _values(b, "b")
    if x.size == 0 or y.size == 0:
        return _undefined("rank_biserial", "an empty group: no ranks to compare", None)
    u_a = float(sps.mannwhitneyu(x, y, method="asymptotic").statistic)
    return EffectSize("rank_biserial", 2 * u_a / (x.size * y.size) - 1, method="2U/(n1 n2) - 1")


def rank_biserial_paired(diff: FloatArray) -> EffectSize:
    """Matched-pairs rank-biserial correlation of the differences (zeros dropped)."""
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return EffectSize("rank_biserial", 0.0, method="matched pairs", notes=("all ties",))
    ranks = sps.rankdata(np.abs(nonzero))
    w_plus = float(ranks[nonzero > 0].sum())
    total = float(ranks.sum())
    return EffectSize("rank_biserial", (2 * w_plus - total) / total, method="matched pairs")


def _paired_odds_ratio(n10: int, n01: int, level: float) -> EffectSize:
    name, method = "odds_ratio", "discordant pairs n10/n01, exact CI"
    if n10 + n01 == 0:
        return _undefined(name, "no discordant pairs: the odds ratio is undefined", level)
    ci = sps.binomtest(n10, n10 + n01).proportion_ci(level, method="exact")
    low = ci.low / (1 - ci.low) if ci.low < 1 else math.inf
    high = ci.high / (1 - ci.high) if ci.high < 1 else math.inf
    value = n10 / n01 if n01 else math.inf
    notes = ("no pairs where b won: the odds ratio is infinite",) if n01 == 0 else ()
    return EffectSize(name, value, (low, high), level, method, notes)


def _woolf_odds_ratio(counts: FloatArray, level: float) -> EffectSize:
    notes: tuple[str, ...] = ()
    if np.any(counts == 0):
        counts = counts + 0.5
        notes = ("a cell is zero: 0.5 added to every cell (Haldane-Anscombe)",)
    (a, b), (c, d) = counts
    log_or = math.log(a * d / (b * c))
    half = float(sps.norm.ppf(0.5 + level / 2)) * math.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    ci = (math.exp(log_or - half), math.exp(log_or + half))
    return EffectSize("odds_ratio", math.exp(log_or), ci, level, "sample, Woolf logit CI", notes)


def _pooled_d(x: FloatArray, y: FloatArray, level: float, correct: bool) -> EffectSize:
    name = "hedges_g" if correct else "cohens_d"
    n1, n2 = x.size, y.size
    if n1 < 1 or n2 < 1 or n1 + n2 < 3:
        return _undefined(name, "too few values: a pooled SD needs n_a + n_b >= 3", level)
    df = n1 + n2 - 2
    ss = float(((x - x.mean()) ** 2).sum() + ((y - y.mean()) ** 2).sum())
    if ss == 0:
        return _undefined(name, "no variation within the groups: the pooled SD is zero", level)
    d = float(x.mean() - y.mean()) / math.sqrt(ss / df)
    scale = math.sqrt(n1 * n2 / (n1 + n2))
    low, high = (v / scale for v in _ncp_interval(d * scale, df, level))
    factor = _hedges_j(df) if correct else 1.0
    method = "pooled SD, noncentral t CI" + (", exact J correction" if correct else "")
    return EffectSize(name, d * factor, (low * factor, high * factor), level, method)


def _hedges_j(df: int) -> float:
    return math.exp(special.gammaln(df / 2) - special.gammaln((df - 1) / 2)) / math.sqrt(df / 2)


def _ncp_interval(t_obs: float, df: float, level: float) -> tuple[float, float]:
    """Noncentrality parameters whose t distributions put t_obs at the CI's tail quantiles."""
    tail = (1 - level) / 2
    step = math.sqrt(1 + t_obs**2 / (2 * df))

    def solve(target: float) -> float:
        def f(ncp: float) -> float:
            return float(sps.nct.cdf(t_obs, df, ncp)) - target

        # The cdf falls as ncp grows: walk outward from t_obs until the sign changes.
        low = high = t_obs
        if f(t_obs) > 0:
            while f(high) > 0 and high < t_obs + 100 * step:
                low, high = high, high + step
        else:
            while f(low) < 0 and low > t_obs - 100 * step:
                low, high = low - step, low
        try:
            return float(optimize.brentq(f, low, high, xtol=1e-10))
        except ValueError:
            return NAN

    return solve(1 - tail), solve(tail)


def _wilson(k: int, n: int, level: float) -> tuple[float, float]:
    ci = sps.binomtest(k, n).proportion_ci(level, method="wilson")
    return float(ci.low), float(ci.high)


def _values(x: ArrayLike, name: str) -> FloatArray:
    return finite(item_values(x, name).values)


def _paired_diff(a: ArrayLike, b: ArrayLike) -> FloatArray:
    x, y = item_values(a, "a").values, item_values(b, "b").values
    if x.size != y.size:
        raise StatsError(f"paired data need equal lengths; got {x.size} and {y.size} items")
    return finite(x - y)


def _undefined(name: str, why: str, level: float | None) -> EffectSize:
    return EffectSize(name, NAN, None, level, "", (why,))
