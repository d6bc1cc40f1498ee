"""Gate expressions: a small grammar, parsed against the experiment's declared names.

    gate      := threshold | beats | baseline | stable
    threshold := TARGET [ "." STAT ] OP NUMBER          few_shot.correct.ci_low >= 0.7
    beats     := CONDITION "beats" CONDITION "on" METRIC [ "at alpha" NUMBER ]
    baseline  := TARGET "not worse than baseline" [ "by" NUMBER ] [ "at alpha" NUMBER ]
    stable    := TARGET "is stable"
    TARGET    := (CONDITION | "*") "." METRIC                "*" means every condition
    OP        := ">=" | ">" | "<=" | "<"
    STAT      := mean | ci_low | ci_high | median | p50 | p90 | p95 | p99 | min | max | sd
               | total | pass@K | pass^K | flip_rate | unstable           (default: mean)

Keywords are case-insensitive. Condition and metric names are matched against the known
ones (longest first), so names that contain dots work; a name that is not known is an error
that lists the known names. Besides the metrics, the usage columns every trial carries
(latency_s, cost_usd, input_tokens, output_tokens, calls) can be thresholded. Before a run's
trials are known, `metrics=None` checks the grammar and the conditions alone: a gate may
name any metric the trials record, declared or not.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_crucible.review.gates._errors import GateError

__all__ = ["DISTRIBUTION_STATS", "STABILITY_STATS", "USAGE_COLUMNS", "Gate", "parse_gate"]

GateKind = Literal["threshold", "beats", "baseline", "stable"]

USAGE_COLUMNS = ("latency_s", "cost_usd", "input_tokens", "output_tokens", "calls")
DISTRIBUTION_STATS = (
    "mean", "ci_low", "ci_high", "p50", "p90", "p95", "p99", "min", "max", "sd", "total",
)  # fmt: skip
STABILITY_STATS = ("pass@k", "pass^k", "flip_rate", "unstable")
_ALIASES = {"median": "p50", "average": "mean", "std": "sd", "sum": "total"}
_OPS = {">=": ">=", ">": ">", "<=": "<=", "<": "<", "≥": ">=", "≤": "<="}

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_ALPHA = rf"(?:\s+at\s+alpha\s*=?\s*(?P<alpha>{_NUM}))?"
_THRESHOLD = re.compile(rf"^(?P<target>[^\s<>=≥≤]+)\s*(?P<op>>=|<=|>|<|≥|≤)\s*(?P<value>{_NUM})$")
_BEATS = re.compile(rf"^(?P<a>\S+)\s+beats\s+(?P<b>\S+)\s+on\s+(?P<metric>\S+){_ALPHA}$", re.I)
_BASELINE = re.compile(
    rf"^(?P<target>\S+)\s+not\s+worse\s+than\s+(?:the\s+)?baseline"
    rf"(?:\s+by\s+(?P<margin>{_NUM}))?{_ALPHA}$",
    re.I,
)
_STABLE = re.compile(r"^(?P<target>\S+)\s+is\s+stable$", re.I)
_PASS_K = re.compile(r"^pass(?P<sym>[@^])(?P<k>\d+)$", re.I)

GRAMMAR_HELP = (
    "gates look like 'few_shot.correct.mean >= 0.8', 'few_shot.correct.ci_low >= 0.7', "
    "'terse.latency_s.p95 <= 2', 'few_shot beats terse on correct at alpha 0.05', "
    "'few_shot.correct not worse than baseline by 0.02', 'few_shot.correct is stable' "
    "(see docs/ci.md)"
)


@dataclass(frozen=True)
class Gate:
    """One parsed gate. `text` is the expression as written; `condition` may be "*".

    threshold: condition.metric.stat op value (k for pass@k / pass^k);
    beats: condition beats `other` on metric (one-sided paired test at `alpha`);
    baseline: condition.metric not worse than the baseline by `margin` (None: the margin
    given to evaluate_gates, else 0) at `alpha` (None: the evaluation's alpha);
    stable: every item of condition gives the same outcome in all its repeats.
    """

    text: str
    kind: GateKind
    condition: str
    metric: str
    stat: str | None = None
    op: str | None = None
    value: float | None = None
    k: int | None = None
    other: str | None = None
    alpha: float | None = None
    margin: float | None = None

    @property
    def needs_baseline(self) -> bool:
        """True for "not worse than baseline" gates: they need --crucible-compare."""
        return self.kind == "baseline"

    def __str__(self) -> str:
        return self.text


def parse_gate(text: str, *, conditions: Sequence[str], metrics: Sequence[str] | None) -> Gate:
    """Parse one gate expression (grammar in this module's docs); raise GateError if wrong.

    metrics: the metrics the gate may name (the declared and the recorded ones), or None
    while they are not known yet (at collection): then any metric name is accepted."""
    source = " ".join(str(text).split())
    if not source:
        raise GateError(f"empty gate expression; {GRAMMAR_HELP}")
    names = _Names(tuple(conditions), None if metrics is None else tuple(metrics), source)
    if match := _BEATS.match(source):
        first = names.condition(match["a"], wildcard=False)
        second = names.condition(match["b"], wildcard=False)
        if first == second:
            raise GateError(f"gate {source!r} compares {first!r} with itself; name two conditions")
        metric = names.metric(match["metric"], usage=True)
        alpha = _alpha(match["alpha"], source)
        return Gate(source, "beats", first, metric, other=second, alpha=alpha)
    if match := _BASELINE.match(source):
        condition, metric, rest = names.target(match["target"], usage=False)
        names.no_stat(rest, "'not worse than baseline'")
        margin = None if match["margin"] is None else _margin(match["margin"], source)
        alpha = _alpha(match["alpha"], source)
        return Gate(source, "baseline", condition, metric, margin=margin, alpha=alpha)
    if match := _STABLE.match(source):
        condition, metric, rest = names.target(match["target"], usage=False)
        names.no_stat(rest, "'is stable'")
        return Gate(source, "stable", condition, metric)
    if match := _THRESHOLD.match(source):
        return _threshold(source, match, names)
    raise GateError(f"cannot read the gate {source!r}; {GRAMMAR_HELP}")


def _threshold(source: str, match: re.Match[str], names: _Names) -> Gate:
    condition, metric, rest = names.target(match["target"], usage=True)
    stat, k = _stat(rest or "mean", source)
    if stat in STABILITY_STATS and metric in USAGE_COLUMNS:
        raise GateError(
            f"gate {source!r}: {stat} needs a 0/1 metric ({_listing(names.metrics or ())}); "
            f"{metric!r} is a usage column"
        )
    value = float(match["value"])
    if not math.isfinite(value):
        raise GateError(f"gate {source!r}: the threshold must be a finite number")
    op = _OPS[match["op"]]
    return Gate(source, "threshold", condition, metric, stat=stat, op=op, value=value, k=k)


def _stat(word: str, source: str) -> tuple[str, int | None]:
    lowered = _ALIASES.get(word.lower(), word.lower())
    if lowered in DISTRIBUTION_STATS or lowered in ("flip_rate", "unstable"):
        return lowered, None
    if match := _PASS_K.match(lowered):
        k = int(match["k"])
        if k < 1:
            raise GateError(f"gate {source!r}: pass@k and pass^k need k >= 1 repeats")
        return f"pass{match['sym']}k", k
    valid = ", ".join([*DISTRIBUTION_STATS, "median", "pass@K", "pass^K", "flip_rate", "unstable"])
    raise GateError(f"gate {source!r}: unknown statistic {word!r}; use one of {valid}")


def _alpha(text: str | None, source: str) -> float | None:
    if text is None:
        return None
    alpha = float(text)
    if not 0 < alpha < 1:
        raise GateError(f"gate {source!r}: alpha {text} must lie strictly between 0 and 1")
    return alpha


def _margin(text: str, source: str) -> float:
    margin = float(text)
    if not (math.isfinite(margin) and margin >= 0):
        raise GateError(
            f"gate {source!r}: the margin {text} must be a number >= 0 in the metric's units"
        )
    return margin


def _listing(names: Sequence[str]) -> str:
    return ", ".join(repr(n) for n in names) if names else "none recorded"


@dataclass(frozen=True)
class _Names:
    """The names a gate may use, and the matching of a TARGET against them
    (`metrics` None: not known yet, any metric name goes)."""

    conditions: tuple[str, ...]
    metrics: tuple[str, ...] | None
    source: str

    def condition(self, word: str, *, wildcard: bool) -> str:
        if word in self.conditions or (wildcard and word == "*"):
            return word
        raise self._unknown_condition(word)

    def _unknown_condition(self, word: str) -> GateError:
        return GateError(
            f"gate {self.source!r}: unknown condition {word!r}; "
            f"the conditions are {_listing(self.conditions)}"
        )

    def metric(self, word: str, *, usage: bool) -> str:
        if self.metrics is None or word in self.metrics or (usage and word in USAGE_COLUMNS):
            return word
        if word in USAGE_COLUMNS:
            raise GateError(
                f"gate {self.source!r}: {word!r} is a usage column, which only thresholds "
                f"take; name a metric ({_listing(self.metrics)})"
            )
        extra = f" (or a usage column: {', '.join(USAGE_COLUMNS)})" if usage else ""
        raise GateError(
            f"gate {self.source!r}: no trial recorded a metric {word!r}; "
            f"the recorded metrics are {_listing(self.metrics)}{extra}"
        )

    def target(self, target: str, *, usage: bool) -> tuple[str, str, str]:
        """Split CONDITION.METRIC[.STAT] into its parts, matching declared names."""
        condition = next(
            (c for c in self._longest(("*", *self.conditions)) if target.startswith(c + ".")),
            None,
        )
        if condition is None:
            head = target.split(".", 1)[0]
            if head in self.conditions or head == "*":  # "few_shot" alone, no metric
                raise GateError(
                    f"gate {self.source!r}: {target!r} names no metric; write "
                    f"CONDITION.METRIC (metrics: {_listing(self.metrics or ())})"
                )
            raise self._unknown_condition(head)
        rest = target[len(condition) + 1 :]
        if self.metrics is None:
            return (condition, *_split_stat(rest))
        names = [*self.metrics, *(USAGE_COLUMNS if usage else ())]
        for metric in self._longest(names):
            if rest == metric:
                return condition, metric, ""
            if rest.startswith(metric + "."):
                return condition, metric, rest[len(metric) + 1 :]
        return condition, self.metric(rest.split(".", 1)[0], usage=usage), ""

    def no_stat(self, rest: str, what: str) -> None:
        if rest:
            raise GateError(
                f"gate {self.source!r}: {what} takes CONDITION.METRIC without a statistic "
                f"(drop '.{rest}')"
            )

    @staticmethod
    def _longest(names: Sequence[str]) -> list[str]:
        return sorted(dict.fromkeys(names), key=len, reverse=True)


def _split_stat(rest: str) -> tuple[str, str]:
    """METRIC[.STAT] when the metric names are not known: a last part that reads as a
    statistic is the statistic, the rest is the metric (which may contain dots)."""
    metric, dot, last = rest.rpartition(".")
    word = _ALIASES.get(last.lower(), last.lower())
    is_stat = word in (*DISTRIBUTION_STATS, "flip_rate", "unstable") or _PASS_K.match(word)
    return (metric, last) if dot and metric and is_stat else (rest, "")
