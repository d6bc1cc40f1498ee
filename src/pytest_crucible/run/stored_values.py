"""What the store keeps of a trial's errors and values: an error's description, and values
made JSON-safe (their repr, with a warning, when JSON cannot hold them)."""

from __future__ import annotations

import json
import math
from typing import Any

from pytest_crucible.util.tracebacks import format_user_traceback

__all__ = ["describe_exception", "json_safe"]

_TRACEBACK_LINES = 12


def describe_exception(exc: BaseException, *, where: str) -> dict[str, Any]:
    """Type, message and the last lines of the traceback (the user's frames of a user's
    error): what the store keeps of an error."""
    excerpt = format_user_traceback(exc).splitlines()[-_TRACEBACK_LINES:]
    return {
        "type": type(exc).__name__,
        "message": _exit_message(exc, where) if isinstance(exc, SystemExit) else str(exc),
        "where": where,
        "traceback": "\n".join(excerpt),
    }


def _exit_message(exc: SystemExit, where: str) -> str:
    return (
        f"the {where} called sys.exit({exc.code!r}): the trial fails; "
        "return a value or raise an exception instead of exiting"
    )


def json_safe(value: Any, warnings: list[str], what: str = "value") -> Any:
    """`value` if JSON can hold it, else its repr, with a warning saying so."""
    if value is None or isinstance(value, (str, bool, int)):  # the common case, per trial
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        warnings.append(
            f"{what} of type {type(value).__name__} is not JSON serialisable; stored its repr. "
            "Return JSON-safe values (str, numbers, lists, dicts) to store them as data"
        )
        return repr(value)
