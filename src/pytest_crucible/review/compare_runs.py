"""Two stored runs of one experiment compared as a baseline gate compares them.

`compare_runs` takes the reference run as the baseline (`gates.baseline_of_run`) and the
other run as the current one, and hands both to `gates.compare_to_baseline`: the same
paired, per-item statistics, margins, Holm correction and three verdicts as
`--crucible-compare` (docs/ci.md). Used by `crucible compare`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.stored_run import load_stored_run
from pytest_crucible.store import ResultStore

if TYPE_CHECKING:
    import pandas as pd

    from pytest_crucible.review.gates import BaselineComparison

__all__ = ["compare_runs"]


def compare_runs(
    store: ResultStore,
    reference: str,
    current: str,
    *,
    margins: Mapping[str, float] | None = None,
    alpha: float | None = None,
    strict: bool = False,
) -> BaselineComparison:
    """Run `current` against run `reference` (d = current - reference, per item). alpha: the
    current run's analysis alpha when None. A CrucibleError when the runs are of different
    experiments or share no item."""
    from pytest_crucible.review.gates import baseline_of_run, compare_to_baseline

    run = load_stored_run(store, current)
    baseline = baseline_of_run(store, reference)
    experiment = str(run.header["name"])
    if baseline.experiment != experiment:
        raise CrucibleError(
            f"run {reference} is of experiment {baseline.experiment!r} and run {current} of "
            f"{experiment!r}: compare two runs of one experiment (`crucible runs --experiment "
            f"{experiment}` lists its runs)"
        )
    if not _shared_items(run.trials, baseline.trials()):
        raise CrucibleError(
            f"runs {reference} and {current} share no item: a paired comparison needs the "
            "same items in both (were they run on different datasets?)"
        )
    if alpha is None:
        alpha = float(run.header.get("analysis", {}).get("alpha", 0.05))
    # a margin naming no metric or an alpha out of range is a GateError (a CrucibleError)
    return compare_to_baseline(
        run.trials, run.header, baseline, margins=margins, alpha=alpha, strict=strict
    )


def _shared_items(current: pd.DataFrame, reference: pd.DataFrame) -> set[str]:
    return set(current["item_id"].astype(str)) & set(reference["item_id"].astype(str))
