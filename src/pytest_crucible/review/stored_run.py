"""One run as the session end reads it from the store: its header and its trials, once.

`load_stored_run` is the review's only reader of a run's trials: the analysis, the gates (and
a baseline saved from the run), the stability check and every report take what it loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_crucible.store import ResultStore
from pytest_crucible.store.frames import trials_frame, trials_frame_and_lines

if TYPE_CHECKING:  # pandas loads with the first frame, in the analysis child
    import pandas as pd

__all__ = ["StoredRun", "load_stored_run"]


@dataclass(frozen=True)
class StoredRun:
    """A run's header (`ResultStore.run_header`) and its `trials_frame`; with_outputs: the
    frame has the output and error columns too, and `lines` the trials' results.jsonl lines
    (what the reports need), read with them."""

    run_id: str
    header: dict[str, Any]
    trials: pd.DataFrame
    with_outputs: bool = False
    lines: tuple[str, ...] = ()


def load_stored_run(store: ResultStore, run_id: str, *, with_outputs: bool = False) -> StoredRun:
    """Read a run's header and trials (with outputs and errors when asked) from the store."""
    header = store.run_header(run_id)
    if not with_outputs:
        return StoredRun(run_id, header, trials_frame(store, run_id))
    trials, lines = trials_frame_and_lines(store, run_id)
    return StoredRun(run_id, header, trials, with_outputs=True, lines=tuple(lines))
