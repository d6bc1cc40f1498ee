"""A trial's log lines as stored: `trial.log` and `trial.log_batch` entries checked (a bad one
raises TrialUsageError saying what to pass) and made JSON-safe."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_crucible.errors import TrialUsageError
from pytest_crucible.run.stored_values import json_safe
from pytest_crucible.util.tracebacks import hide_library_frames

__all__ = ["batch_log_entry", "log_entry"]

# a user's error shows the user's frames, not this module's
__tracebackhide__ = hide_library_frames

_LEVELS = ("debug", "info", "warning", "error", "critical")


def log_entry(
    level: Any, message: Any, meta: dict[str, Any], where: str, warnings: list[str]
) -> dict[str, Any]:
    """A trial's log line as stored: its level checked (`where` names the call in the error),
    its meta made JSON-safe (what could not be kept is added to `warnings`)."""
    if not isinstance(level, str) or level.lower() not in _LEVELS:
        raise TrialUsageError(f"{where}: level {level!r} must be one of {_LEVELS}")
    return {
        "level": level.lower(),
        "message": str(message),
        "meta": json_safe(meta, warnings),
        "at": time.time(),
    }


def batch_log_entry(index: int, entry: Any, warnings: list[str]) -> dict[str, Any]:
    """One entry of `trial.log_batch` as the log line kept (see `Trial.log_batch`)."""
    where = f"trial.log_batch entry {index}"
    if isinstance(entry, Mapping):
        unknown = sorted(set(entry) - {"level", "message", "meta", "metadata"})
        if unknown or "level" not in entry or "message" not in entry:
            raise TrialUsageError(
                f"{where}: a dict entry has keys level, message and optionally meta "
                f"(or metadata); got {sorted(entry)}"
            )
        level, message = entry["level"], entry["message"]
        meta = entry.get("meta", entry.get("metadata")) or {}
    elif isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) in (2, 3):
        level, message = entry[0], entry[1]
        meta = entry[2] if len(entry) == 3 else {}
    else:
        raise TrialUsageError(
            f"{where}: expected a dict (level, message, meta) or a tuple (level, message"
            f"[, meta]), got {entry!r:.80}"
        )
    if not isinstance(meta, Mapping):
        raise TrialUsageError(f"{where}: meta must be a dict, got {type(meta).__name__}")
    return log_entry(level, message, dict(meta), where, warnings)
