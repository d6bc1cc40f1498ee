"""Words for the analysis: APA-style sentences, the power line and the terminal table."""

from __future__ import annotations

import math
import statistics

from pytest_crucible.declare.metrics import Analysis, Metric
from pytest_crucible.review._numbers import number_text
from pytest_crucible.review.analysis._family import CORRECTION_LABELS
from pytest_crucible.review.analysis._model import ComparisonRow, MetricAnalysis, RunAnalysis
from pytest_crucible.stats import (
    Comparison,
    EffectSize,
    OmnibusResult,
    minimum_detectable_effect,
    sample_size,
)

__all__ = [
    "CORRECTION_LABELS",
    "INTERVAL_METHODS",
    "format_analysis",
    "interval_lines",
    "power_line",
    "sentence",
]

_EFFECT_LABELS = {
    "odds_ratio": "odds ratio {}",
    "d_z": "d_z = {}",
    "hedges_g": "g = {}",
    "cohens_d": "d = {}",
    "rank_biserial": "rank-biserial r = {}",
}
_OMNIBUS_EFFECTS = {
    "kendalls_w": "Kendall's W",
    "eta_squared": "eta squared",
    "omega_squared": "omega squared",
}
# what each per-condition interval method means, for the footnotes of the tables
INTERVAL_METHODS = {
    "Wilson": "Wilson score interval, one 0/1 outcome per item",
    "Wilson, effective n": (
        "Wilson score interval on the effective number of items (repeats averaged within "
        "items; design effect and few-items df adjusted, as Korn-Graubard), inside [0, 1]"
    ),
    "Wilson, effective n (clustered)": (
        "Wilson score interval on the effective number of items with a cluster-robust SE "
        "(design effect and df adjusted, as Korn-Graubard), inside [0, 1]"
    ),
    "t": "t interval of the mean of per-item values",
    "cluster-robust t (CR1)": "t interval with a cluster-robust SE (CR1)",
}
TOO_FEW = "too few items"
_NICE = (1.0, 2.0, 5.0)
_SENTENCES_SHOWN = 10


def fmt(value: float, binary: bool = False, signed: bool = False) -> str:
    """A number for people: 2 decimals for proportions, else about 3 significant digits."""
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return number_text(value, binary, signed)


def fmt_p(p: float) -> str:
    """'p < 0.001' or 'p = 0.032' (APA style, leading zero kept)."""
    if not math.isfinite(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def effect_text(effect: EffectSize) -> str:
    if not math.isfinite(effect.value) and not math.isinf(effect.value):
        return f"{effect.name.replace('_', ' ')} undefined"
    value = "inf" if math.isinf(effect.value) else f"{effect.value:.2g}"
    if effect.name != "odds_ratio" and math.isfinite(effect.value):
        value = f"{effect.value:.2f}"
    return _EFFECT_LABELS.get(effect.name, effect.name + " = {}").format(value)


def test_text(result: Comparison) -> str:
    """The test with its statistic, e.g. 'paired t(199) = 2.31' or 'McNemar exact'."""
    if result.test == "paired_t" and result.df is not None and math.isfinite(result.statistic):
        return f"paired t({result.df:g}) = {result.statistic:.2f}"
    if result.test == "wilcoxon" and math.isfinite(result.statistic):
        return f"Wilcoxon V = {result.statistic:g}"
    return result.method


def sentence(
    name: str,
    kind: str,
    metric: Metric,
    first: str,
    second: str,
    result: Comparison,
    p_adjusted: float,
    direction: str,
    settings: Analysis,
) -> str:
    """One comparison as an APA-style sentence, oriented by lower_is_better."""
    binary = kind == "binary"
    unit = f" {metric.unit}" if metric.unit else ""
    if not math.isfinite(result.p_value):
        why = result.notes[-1] if result.notes else "no test possible"
        return f"{first} vs {second} on {name}: no test possible ({why})"
    numbers = (
        f"M = {fmt(result.mean_a, binary)} vs {fmt(result.mean_b, binary)}{unit}, "
        f"paired difference {fmt(result.estimate, binary)}, "
        f"{interval_text(result, settings, binary)}"
    )
    if direction == "no difference":
        opening = f"{first} and {second} did not differ significantly on {name}"
    else:
        higher = "higher" if tested_shift(result) > 0 else "lower"
        opening = f"{first} scored {higher} ({direction}) than {second} on {name}"
    adjusted = CORRECTION_LABELS[settings.correction]
    test = test_text(result)
    test = f"{test}, {fmt_p(p_adjusted)}" if "=" in test else f"{test} {fmt_p(p_adjusted)}"
    return f"{opening} ({numbers}), {test}, {adjusted}; {effect_text(result.effect_size)}"


def tested_shift(result: Comparison) -> float:
    """The difference the test is about, which orients a significant result: the
    Hodges-Lehmann shift for a Wilcoxon test (its interval's centre), else the mean
    difference. The two can disagree in sign (one far outlier against many small shifts the
    other way); then "higher" must follow the test, or the sentence contradicts it."""
    centre = result.ci_estimate
    if centre is not None and math.isfinite(centre) and centre != 0:
        return centre
    return result.estimate


def interval_text(result: Comparison, settings: Analysis, binary: bool) -> str:
    """'95% CI [low, high]' ('unadjusted' beside adjusted p-values), then its method when it is
    not the t interval of the mean difference, e.g. '(Tango score)'."""
    low, high = result.ci
    label = f"{round(result.level * 100):g}% CI [{fmt(low, binary)}, {fmt(high, binary)}]"
    if settings.correction != "none":
        label = "unadjusted " + label
    if result.ci_method not in ("paired t", ""):
        centre = result.ci_estimate
        shown = f"; median difference {fmt(centre, binary)}" if centre is not None else ""
        label += f" ({result.ci_method}{shown})"
    return label


def typical_sd(results: list[Comparison]) -> tuple[float, int]:
    """Median SD of per-item differences (se * sqrt(n)) and median n over the comparisons."""
    usable = [(r.se * math.sqrt(r.n), r.n) for r in results if r.n >= 2 and math.isfinite(r.se)]
    if not usable:
        return math.nan, 0
    return statistics.median(s for s, _ in usable), int(statistics.median(n for _, n in usable))


def power_line(
    name: str, kind: str, unit: str, results: list[Comparison], settings: Analysis
) -> str:
    """'to detect a 2-point difference at 80% power you need about N items' for this metric."""
    sd, n = typical_sd(results)
    if not (n >= 2 and math.isfinite(sd) and sd > 0):
        return f"{name}: not enough paired items with varying differences for a power estimate"
    mde = minimum_detectable_effect(n, 0.8, settings.alpha, paired=True).effect * sd
    scale, suffix = (100.0, "-point") if kind == "binary" else (1.0, f" {unit}".rstrip())
    # a difference of proportions is at most 100 points: beyond that, none is detectable
    hopeless = kind == "binary" and mde * scale >= 100.0
    target = _nice_below(100.0 if hopeless else mde * scale)
    needed = sample_size(target / scale / sd, 0.8, settings.alpha, paired=True).n_required
    size = f"{target:g}{suffix}"
    if hopeless:
        return (
            f"{name}: with {n} items no difference of proportions is detectable at 80% "
            f"power (alpha {settings.alpha:g}); to detect a {size} difference you need about "
            f"{needed:,} items"
        )
    current = f"{mde * scale:.3g}{' points' if kind == 'binary' else suffix}"
    return (
        f"{name}: with {n} items the smallest difference detectable at 80% power is about "
        f"{current} (alpha {settings.alpha:g}); to detect a {size} difference at 80% power "
        f"you need about {needed:,} items"
    )


def _nice_below(value: float) -> float:
    """The largest of 1, 2, 5 x 10^k strictly below value (a round target difference)."""
    exponent = math.floor(math.log10(value))
    for power in (exponent, exponent - 1):
        for step in reversed(_NICE):
            candidate = step * 10.0**power
            if candidate < value * (1 - 1e-9):
                return float(f"{candidate:.12g}")
    return float(f"{10.0 ** (exponent - 1):.12g}")


def format_analysis(result: RunAnalysis) -> str:
    """A compact terminal summary: per metric a table of conditions and comparisons with
    significance markers, the omnibus test, the power line and the sentences."""
    settings = result.settings
    pairing = "vs " + result.baseline if result.baseline else "all pairs"
    lines = [
        f"crucible analysis: {len(result.conditions)} conditions, {result.n_items} items, "
        f"{pairing}, paired on items{', clustered' if result.clustered else ''}; "
        f"{result.family}; alpha {settings.alpha:g}",
        _legend(settings.alpha),
    ]
    lines.extend(f"note: {note}" for note in result.notes)
    for metric in result.metrics:
        lines.append("")
        lines.extend(_metric_block(metric, settings))
    return "\n".join(lines)


def _legend(alpha: float) -> str:
    parts = [f"* p_adj <= {alpha:g}"]
    parts += [
        f"{stars} < {level:g}" for stars, level in (("**", 0.01), ("***", 0.001)) if level < alpha
    ]
    return "markers: " + ", ".join(parts)


def marker(row: ComparisonRow) -> str:
    if not row.significant:
        return ""
    return "***" if row.p_adjusted < 0.001 else "**" if row.p_adjusted < 0.01 else "*"


def _metric_block(metric: MetricAnalysis, settings: Analysis) -> list[str]:
    binary = metric.kind == "binary"
    better = "lower" if metric.lower_is_better else "higher"
    unit = f", {metric.unit}" if metric.unit else ""
    lines = [f"{metric.name} ({metric.kind}{unit}, {better} is better)"]
    width = max([len(c.condition) for c in metric.conditions] + [9])
    level = f"{round(settings.level * 100):g}% CI"
    lines.append(
        f"  {'condition':<{width}} {'items':>6} {'mean':>9}  {level:<21} {'failed':>6}  interval"
    )
    for c in metric.conditions:
        ci = interval_cell(c.mean, c.ci, binary)
        mean = fmt(c.mean, binary)
        lines.append(
            f"  {c.condition:<{width}} {c.n_items:>6} {mean:>9}  {ci:<21} {c.n_failed:>6}"
            f"  {c.method}"
        )
    if metric.comparisons:
        adjusted = settings.correction != "none"
        lines.extend(_comparison_table(metric, binary, ("unadjusted " if adjusted else "") + level))
    if metric.omnibus is not None:
        lines.append("  omnibus: " + omnibus_text(metric.omnibus))
    lines.append("  power: " + metric.power_line)
    lines.extend(f"  note: {note}" for note in (*metric.notes, *condition_notes(metric)))
    lines.extend(_sentences(metric))
    return lines


def interval_cell(mean: float, ci: tuple[float, float], binary: bool) -> str:
    """'[low, high]', or the reason there is no interval (one item, nothing recorded)."""
    if math.isfinite(mean) and not (math.isfinite(ci[0]) and math.isfinite(ci[1])):
        return f"[{TOO_FEW}]"
    return f"[{fmt(ci[0], binary)}, {fmt(ci[1], binary)}]"


def condition_notes(metric: MetricAnalysis) -> list[str]:
    """The conditions' notes on their intervals, each once, naming the conditions."""
    seen: dict[str, list[str]] = {}
    for summary in metric.conditions:
        for note in summary.notes:
            if "repeats averaged" not in note:
                seen.setdefault(note, []).append(summary.condition)
    return [f"{', '.join(names)}: {note}" for note, names in seen.items()]


def interval_lines(result: RunAnalysis) -> list[str]:
    """One line per metric naming how its per-condition intervals were computed."""
    level = f"{round(result.settings.level * 100):g}%"
    lines = []
    for metric in result.metrics:
        methods = dict.fromkeys(c.method for c in metric.conditions if c.method != "none")
        if methods:
            told = "; ".join(INTERVAL_METHODS.get(m, m) for m in methods)
            lines.append(f"CI of {metric.name}: {level}, {told}")
    return lines


def _comparison_table(metric: MetricAnalysis, binary: bool, level: str) -> list[str]:
    labels = [f"{r.condition} - {r.other}" for r in metric.comparisons]
    width = max([len(label) for label in labels] + [10])
    lines = [
        f"  {'comparison':<{width}} {'diff':>9}  {level:<23} {'p_adj':>7}     "
        f"{'effect':<22} test; interval"
    ]
    notes = []
    for label, row in zip(labels, metric.comparisons, strict=True):
        r = row.result
        ci = f"[{fmt(r.ci[0], binary, True)}, {fmt(r.ci[1], binary, True)}]"
        if row.interval_note:
            ci += " †"
            notes.append(f"  † {label}: {row.interval_note}")
        p = "<0.001" if row.p_adjusted < 0.001 else fmt_p(row.p_adjusted).removeprefix("p = ")
        lines.append(
            f"  {label:<{width}} {fmt(r.estimate, binary, True):>9}  {ci:<23} {p:>7} "
            f"{marker(row):<3} {effect_text(r.effect_size):<22} {r.method}; {r.ci_method}"
        )
    return lines + notes


def omnibus_text(result: OmnibusResult) -> str:
    df = ", ".join(f"{d:g}" for d in result.df)
    effects = ", ".join(
        f"{_OMNIBUS_EFFECTS.get(e.name, e.name)} = {e.value:.3f}" for e in result.effect_sizes
    )
    text = (
        f"{result.method}({df}) = {result.statistic:.2f}, {fmt_p(result.p_value)}, n = {result.n}"
    )
    return text + (f", {effects}" if effects else "")


def _sentences(metric: MetricAnalysis) -> list[str]:
    rows = list(metric.comparisons)
    if len(rows) <= _SENTENCES_SHOWN:
        return [f"  - {row.sentence}" for row in rows]
    shown = [row for row in rows if row.significant][:_SENTENCES_SHOWN]
    lines = [f"  - {row.sentence}" for row in shown]
    if rest := len(rows) - len(shown):
        lines.append(f"  ({rest} more comparison(s) not shown; every sentence is in the JSON)")
    return lines
