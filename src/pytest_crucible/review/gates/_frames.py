"""Shared handling of trials frames and run headers for the gates.

A trials frame is what `pytest_crucible.store.frames.trials_frame` returns: one row per trial with
condition, item_id, repeat, cluster, status and one column per metric. Gates analyse passed
trials only and average a condition's repeats within each item before comparing items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.declare.metrics import declared_metrics
from pytest_crucible.review.gates._errors import GateError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "MetricInfo",
    "check_trials",
    "item_clusters",
    "item_means",
    "item_table",
    "metric_infos",
    "passed_rows",
    "wide",
]

_REQUIRED = ("condition", "item_id")


@dataclass(frozen=True)
class MetricInfo:
    """What a run header says about a metric: its kind and its direction."""

    name: str
    kind: str = "auto"
    lower_is_better: bool = False

    @property
    def direction(self) -> str:
        return "lower is better" if self.lower_is_better else "higher is better"


def metric_infos(header: Mapping[str, Any] | None) -> dict[str, MetricInfo]:
    """The declared metrics of a run header (`Store.run_header`), in declaration order."""
    declared = declared_metrics(header)
    return {
        str(name): MetricInfo(
            str(name),
            str((spec or {}).get("kind", "auto")),
            bool((spec or {}).get("lower_is_better", False)),
        )
        for name, spec in declared.items()
    }


def check_trials(trials: Any) -> pd.DataFrame:
    """The frame itself, or a GateError when it is not a trials frame."""
    import pandas as pd

    if not isinstance(trials, pd.DataFrame):
        raise GateError(
            f"trials must be a pandas DataFrame (one row per trial, as from "
            f"pytest_crucible.load_trials); got {type(trials).__name__}"
        )
    if missing := [c for c in _REQUIRED if c not in trials.columns]:
        raise GateError(f"trials lacks the column(s) {missing}; it needs condition and item_id")
    return trials


def passed_rows(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials that passed (all of them when the frame has no status column)."""
    if "status" not in trials.columns:
        return trials
    return trials.loc[trials["status"].eq("passed")]


def item_table(trials: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Passed trials' values of `columns`, repeats averaged within items.

    Index: (condition, item_id), both str; one column per name in `columns` that the frame
    has; NaN where an item has no value.
    """
    import pandas as pd

    rows = passed_rows(trials)
    present = [c for c in columns if c in rows.columns]
    table = pd.DataFrame(
        {
            "condition": rows["condition"].astype(str).to_numpy(),
            "item_id": rows["item_id"].astype(str).to_numpy(),
            **{c: pd.to_numeric(rows[c], errors="coerce").to_numpy(dtype=float) for c in present},
        }
    )
    return table.groupby(["condition", "item_id"], sort=True).mean()


def wide(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """One column of an `item_table` as items x conditions (empty when it is missing)."""
    import pandas as pd

    if column not in table.columns:
        return pd.DataFrame(dtype=float)
    return table[column].unstack("condition").dropna(how="all")


def item_means(trials: pd.DataFrame, column: str) -> pd.DataFrame:
    """Items x conditions: passed trials' values of `column`, repeats averaged in items."""
    return wide(item_table(trials, [column]), column)


def item_clusters(trials: pd.DataFrame) -> pd.Series | None:
    """item_id -> cluster label, or None when no item carries a cluster."""
    if "cluster" not in trials.columns or not trials["cluster"].notna().any():
        return None
    labelled = trials.loc[trials["cluster"].notna(), ["item_id", "cluster"]]
    series = labelled.groupby(labelled["item_id"].astype(str), sort=True)["cluster"].first()
    return series.astype(str)
