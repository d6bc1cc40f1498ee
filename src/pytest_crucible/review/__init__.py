"""After the trials: the analysis, the gates, the reports and the results table. Heavy
(numpy, scipy, pandas): it runs in the session-end child process (`session_end`), never in
pytest's, which imports only the light `request` (what it asks the child, what comes back)."""

from __future__ import annotations

import importlib
import warnings
from typing import Any

# `pytest_crucible.review` was one module before the layer folders; its names moved to these
# modules. Kept for one release.
_MOVED_NAMES = {
    "Review": "pytest_crucible.review.request",
    "analyse_run": "pytest_crucible.review.analyse_run",
    "review_run": "pytest_crucible.review.session_end",
    "stability_lines": "pytest_crucible.review.analyse_run",
}


def __getattr__(name: str) -> Any:
    if name not in _MOVED_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _MOVED_NAMES[name]
    warnings.warn(
        f"pytest_crucible.review.{name} moved to {module}.{name}; "
        "the old path goes in the next release",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), name)
