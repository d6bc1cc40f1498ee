"""Power and sample size for t-tests, and Miller's planning of paired evals.

Effects are standardized: Cohen's d for independent samples (n per group), d_z (mean over SD
of the per-item differences) for paired samples (n pairs). Results match R's pwr.t.test,
which, like statsmodels, counts both rejection regions of a two-sided test.
"""

from __future__ import annotations

import math
import warnings

from scipy import stats as sps
from statsmodels.stats.power import TTestIndPower, TTestPower

from pytest_crucible.errors import StatsError
from pytest_crucible.stats._inputs import check_alpha, check_alternative
from pytest_crucible.stats._results import PairedPlan, PowerResult

__all__ = ["minimum_detectable_effect", "plan_paired_eval", "power", "sample_size"]

_SM_ALTERNATIVE = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


def sample_size(
    effect: float,
    power: float = 0.8,
    alpha: float = 0.05,
    paired: bool = False,
    alternative: str = "two-sided",
) -> PowerResult:
    """Items needed (per group, or pairs when paired) to detect `effect` with `power`."""
    _validate(alpha, alternative, power=power)
    if effect == 0 or not math.isfinite(effect):
        note = "an effect of 0 cannot be detected with any number of items"
        return _result("n", effect, math.inf, power, alpha, alternative, paired, (note,))
    n = _solve(paired, effect=effect, nobs=None, alpha=alpha, power=power, alt=alternative)
    return _result("n", effect, n, power, alpha, alternative, paired)


def power(
    effect: float,
    n: float,
    alpha: float = 0.05,
    paired: bool = False,
    alternative: str = "two-sided",
) -> PowerResult:
    """Power of the t-test with n items (per group, or pairs when paired) for `effect`."""
    _validate(alpha, alternative, n=n)
    achieved = _solve(paired, effect=effect, nobs=n, alpha=alpha, power=None, alt=alternative)
    return _result("power", effect, n, achieved, alpha, alternative, paired)


def minimum_detectable_effect(
    n: float,
    power: float = 0.8,
    alpha: float = 0.05,
    paired: bool = False,
    alternative: str = "two-sided",
) -> PowerResult:
    """Smallest standardized effect that n items (per group, or pairs) detect with `power`."""
    _validate(alpha, alternative, power=power, n=n)
    effect = _solve(paired, effect=None, nobs=n, alpha=alpha, power=power, alt=alternative)
    return _result("effect", abs(effect), n, power, alpha, alternative, paired)


def plan_paired_eval(
    difference: float,
    *,
    item_sd: float | tuple[float, float],
    correlation: float = 0.0,
    within_sd: float | tuple[float, float] = 0.0,
    repeats: int = 1,
    power: float = 0.8,
    alpha: float = 0.05,
) -> PairedPlan:
    """Items a paired eval needs to detect `difference` (in metric units), following Miller.

    Miller (2024, "Adding Error Bars to Evals", section 5) writes one item's difference of
    condition means, with K repeats per item, as having variance
        omega_a^2 + omega_b^2 - 2 rho omega_a omega_b + (sigma_a^2 + sigma_b^2) / K
    where omega (item_sd) is the SD of items' true scores, rho (correlation) the correlation
    of the two conditions' item scores, and sigma (within_sd) the SD of one repeat around its
    item's mean (0 for deterministic conditions). For a 0/1 metric with accuracy p,
    omega^2 + sigma^2 = p (1 - p). Items needed come from the paired t-test's power (Miller's
    normal formula, refined by the t distribution; both agree within a few items past 30).
    More repeats shrink only the sigma^2 / K term: `repeats_help` says whether doubling K
    cuts the items needed by at least 10%.
    """
    _validate(alpha, "two-sided", power=power)
    if difference == 0 or not math.isfinite(difference):
        raise StatsError(f"difference={difference} must be a non-zero number in metric units")
    if repeats < 1 or not -1 <= correlation <= 1:
        raise StatsError(
            f"need repeats >= 1 and -1 <= correlation <= 1; got {repeats}, {correlation}"
        )
    omega_a, omega_b = _pair(item_sd, "item_sd")
    sigma_a, sigma_b = _pair(within_sd, "within_sd")
    between = max(0.0, omega_a**2 + omega_b**2 - 2 * correlation * omega_a * omega_b)
    within = sigma_a**2 + sigma_b**2

    def items(k: float) -> float:
        variance = between + (within / k if math.isfinite(k) else 0.0)
        if variance <= 0:
            return 2.0
        return max(2.0, _solve(True, abs(difference) / math.sqrt(variance), None, alpha, power))

    by_repeats = tuple((k, math.ceil(items(k))) for k in sorted({1, 2, 4, 8, 16, repeats}))
    exact, doubled = items(repeats), items(2 * repeats)
    helps = doubled <= 0.9 * exact
    advice = _advice(repeats, math.ceil(exact), math.ceil(doubled), helps)
    return PairedPlan(
        method="paired t power (Miller 2024 variance decomposition)",
        difference=difference,
        n_items=math.ceil(exact),
        n_items_exact=exact,
        repeats=repeats,
        var_difference=between + within / repeats,
        n_items_by_repeats=by_repeats,
        n_items_floor=math.ceil(items(math.inf)),
        repeats_help=helps,
        advice=advice,
        power=power,
        alpha=alpha,
    )


def _advice(repeats: int, now: int, doubled: int, helps: bool) -> str:
    if helps:
        return (
            f"more repeats help: {2 * repeats} repeats per item need about {doubled} items "
            f"instead of {now}"
        )
    return (
        f"more repeats barely help ({2 * repeats} repeats: about {doubled} items instead of "
        f"{now}): the variance is mostly between items, so add items"
    )


def _solve(
    paired: bool,
    effect: float | None,
    nobs: float | None,
    alpha: float,
    power: float | None,
    alt: str = "two-sided",
) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alternative = _SM_ALTERNATIVE[alt]
        if paired:
            value = TTestPower().solve_power(effect, nobs, alpha, power, alternative)
        else:
            value = TTestIndPower().solve_power(effect, nobs, alpha, power, alternative=alternative)
    value = float(value)
    if not math.isfinite(value) and effect is not None and power is not None:
        return _normal_n(effect, alpha, power, paired, alt)
    return value


def _normal_n(effect: float, alpha: float, power: float, paired: bool, alt: str) -> float:
    z_alpha = sps.norm.ppf(1 - alpha / 2 if alt == "two-sided" else 1 - alpha)
    n = float(((z_alpha + sps.norm.ppf(power)) / abs(effect)) ** 2)
    return n if paired else 2 * n


def _pair(value: float | tuple[float, float], name: str) -> tuple[float, float]:
    pair = value if isinstance(value, tuple) else (value, value)
    if len(pair) != 2 or any(not math.isfinite(v) or v < 0 for v in pair):
        raise StatsError(f"{name}={value!r} must be an SD >= 0, or a pair of them (a, b)")
    return float(pair[0]), float(pair[1])


def _validate(
    alpha: float, alternative: str, power: float | None = None, n: float | None = None
) -> None:
    check_alpha(alpha)
    check_alternative(alternative)
    if power is not None and not 0 < power < 1:
        raise StatsError(f"power={power} must lie strictly between 0 and 1 (e.g. 0.8)")
    if n is not None and not n >= 2:
        raise StatsError(f"n={n} must be at least 2 items (per group, or pairs)")


def _result(
    solved_for: str,
    effect: float,
    n: float,
    achieved: float,
    alpha: float,
    alternative: str,
    paired: bool,
    notes: tuple[str, ...] = (),
) -> PowerResult:
    method = "paired t" if paired else "two-sample t"
    return PowerResult(method, solved_for, effect, n, achieved, alpha, alternative, paired, notes)
