"""Flaky items: does an item give the same outcome in every repeat?

For each condition and item, the passed trials' outcomes in repeat order: a pass is a 0/1
metric's good outcome (1, or 0 when lower is better) or a value on the good side of a
threshold. From them: pass rate, flips (changes between consecutive repeats), unstable
(passed in some repeats and not in others), and over items pass@k (at least one of k
repeats passes) and pass^k (all k pass), with the unbiased estimators C(c, k) / C(n, k).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from pytest_crucible.review.gates._errors import GateError
from pytest_crucible.review.gates._frames import check_trials, passed_rows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ConditionStability", "ItemStability", "Stability", "stability"]


@dataclass(frozen=True)
class ItemStability:
    """One item under one condition: `passes` of `repeats` passed, `flips` changes."""

    condition: str
    item_id: str
    repeats: int
    passes: int
    flips: int

    @property
    def pass_rate(self) -> float:
        return self.passes / self.repeats

    @property
    def flip_rate(self) -> float:
        """Changes of outcome per pair of consecutive repeats (0 with a single repeat)."""
        return self.flips / (self.repeats - 1) if self.repeats > 1 else 0.0

    @property
    def unstable(self) -> bool:
        return 0 < self.passes < self.repeats


@dataclass(frozen=True)
class ConditionStability:
    """The items of one condition. k: the usual number of repeats per item."""

    condition: str
    k: int
    items: tuple[ItemStability, ...]

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def unstable_items(self) -> tuple[str, ...]:
        return tuple(i.item_id for i in self.items if i.unstable)

    @property
    def pass_at_1(self) -> float:
        """Mean of per-item pass rates (the accuracy, repeats averaged within items)."""
        return float(np.mean([i.pass_rate for i in self.items])) if self.items else math.nan

    @property
    def flip_rate(self) -> float:
        """Outcome changes per pair of consecutive repeats, over all items."""
        pairs = sum(i.repeats - 1 for i in self.items)
        return sum(i.flips for i in self.items) / pairs if pairs else 0.0

    def pass_hat(self, k: int | None = None) -> float:
        """pass^k: the chance that k repeats of an item all pass, averaged over items."""
        return self._estimate(k, lambda n, c, k: special.comb(c, k) / special.comb(n, k))

    def pass_at(self, k: int | None = None) -> float:
        """pass@k: the chance that at least one of k repeats passes, averaged over items."""
        return self._estimate(k, lambda n, c, k: 1 - special.comb(n - c, k) / special.comb(n, k))

    def _estimate(self, k: int | None, formula: Any) -> float:
        k = self.k if k is None else k
        usable = [i for i in self.items if i.repeats >= k]
        if k < 1 or not usable:
            return math.nan
        n = np.array([i.repeats for i in usable], dtype=float)
        c = np.array([i.passes for i in usable], dtype=float)
        return float(np.mean(formula(n, c, k)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "k": self.k,
            "n_items": self.n_items,
            "pass_at_1": _safe(self.pass_at_1),
            "pass_hat_k": _safe(self.pass_hat()),
            "pass_at_k": _safe(self.pass_at()),
            "flip_rate": _safe(self.flip_rate),
            "unstable_items": list(self.unstable_items),
        }


@dataclass(frozen=True)
class Stability:
    """Per-item stability of one metric across repeats, for each condition."""

    metric: str
    threshold: float
    lower_is_better: bool
    conditions: tuple[ConditionStability, ...]

    def condition(self, name: str) -> ConditionStability:
        for entry in self.conditions:
            if entry.condition == name:
                return entry
        known = ", ".join(repr(c.condition) for c in self.conditions) or "none"
        raise GateError(f"no passed trials of condition {name!r} for {self.metric!r}; has {known}")

    @property
    def unstable(self) -> tuple[tuple[str, str], ...]:
        """(condition, item_id) of every unstable item."""
        return tuple((c.condition, i) for c in self.conditions for i in c.unstable_items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "threshold": self.threshold,
            "lower_is_better": self.lower_is_better,
            "conditions": [c.to_dict() for c in self.conditions],
        }


def stability(
    trials: pd.DataFrame,
    metric: str,
    *,
    threshold: float | None = None,
    lower_is_better: bool = False,
) -> Stability:
    """Per-item pass^k, pass@k, flip rate and unstable items of `metric` (passed trials).

    A 0/1 metric needs no threshold (1 passes; 0 when lower_is_better). Other metrics need
    `threshold`: a value >= threshold passes (<= when lower_is_better).
    """
    rows = passed_rows(check_trials(trials))
    if metric not in rows.columns:
        raise GateError(f"trials have no column {metric!r}; record it, or pick another metric")
    values = rows[metric].to_numpy(dtype=float)
    keep = ~np.isnan(values)
    rows, values = rows.loc[keep], values[keep]
    if threshold is None:
        if not np.isin(values, (0.0, 1.0)).all():
            raise GateError(
                f"metric {metric!r} is not 0/1; give stability() a threshold= that "
                "separates a pass from a fail"
            )
        threshold = 0.5
    good = values <= threshold if lower_is_better else values >= threshold
    order = np.lexsort((_repeats(rows), rows["item_id"].astype(str), rows["condition"].astype(str)))
    cond = rows["condition"].astype(str).to_numpy()[order]
    item = rows["item_id"].astype(str).to_numpy()[order]
    good = good[order]
    same = np.zeros(good.size, dtype=bool)
    same[1:] = (cond[1:] == cond[:-1]) & (item[1:] == item[:-1])
    flips = np.zeros(good.size, dtype=int)
    flips[1:] = (good[1:] != good[:-1]) & same[1:]
    starts = np.flatnonzero(~same)
    ends = np.append(starts[1:], good.size)
    passes = np.add.reduceat(good.astype(int), starts) if starts.size else np.array([], int)
    flip_counts = np.add.reduceat(flips, starts) if starts.size else np.array([], int)
    grouped: dict[str, list[ItemStability]] = {}
    for s, e, p, f in zip(starts, ends, passes, flip_counts, strict=True):
        entry = ItemStability(str(cond[s]), str(item[s]), int(e - s), int(p), int(f))
        grouped.setdefault(entry.condition, []).append(entry)
    conditions = tuple(
        ConditionStability(name, _usual(entries), tuple(entries))
        for name, entries in grouped.items()
    )
    return Stability(metric, float(threshold), lower_is_better, conditions)


def _repeats(rows: pd.DataFrame) -> np.ndarray:
    if "repeat" in rows.columns:
        return rows["repeat"].to_numpy()
    return np.arange(len(rows))


def _usual(entries: list[ItemStability]) -> int:
    counts = Counter(e.repeats for e in entries)
    return max(counts, key=lambda n: (counts[n], n))


def _safe(value: float) -> float | None:
    return value if math.isfinite(value) else None
