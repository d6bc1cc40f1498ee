"""After the trials: the analysis, the gates, the reports and the results table. Heavy
(numpy, scipy, pandas): it runs in the session-end child process, never in pytest's."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

# `pytest_crucible.review` was one module before the layer folders; its names moved to
# `review.analyse_run`. Kept for one release.
_MOVED_NAMES = {"Review", "analyse_run", "review_run", "stability_lines"}


def __getattr__(name: str) -> Any:
    if name not in _MOVED_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"pytest_crucible.review.{name} moved to pytest_crucible.review.analyse_run.{name}; "
        "the old path goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module("pytest_crucible.review.analyse_run"), name)
