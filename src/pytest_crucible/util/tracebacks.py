"""Tracebacks that show the user's code, not ours.

An error the user can act on (one we raise on purpose, a `CrucibleError`, whose message says
what to do; or one raised in the user's own code, such as a condition's ValueError) is shown
without the frames of this package, as pytest leaves out its own: pytest reads a module's
`__tracebackhide__` (set to `hide_library_frames` in the modules a user's error passes
through), and `format_user_traceback` does the same for what the store keeps. A bug of ours
(raised in this package, not on purpose) keeps every frame; so does `pytest --full-trace`.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

from pytest_crucible.errors import CrucibleError

__all__ = ["format_user_traceback", "hide_library_frames", "is_users_error"]

# the package's folder (this module sits in util/)
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _is_library_file(filename: str) -> bool:
    return filename.startswith(_PACKAGE_DIR)


def is_users_error(exc: BaseException) -> bool:
    """Whether this package's frames are noise in `exc`'s traceback: an error raised on
    purpose, or raised outside this package (the user's code, or what it called)."""
    if isinstance(exc, CrucibleError):
        return True
    last = exc.__traceback__
    if last is None:
        return False
    while last.tb_next is not None:
        last = last.tb_next
    return not _is_library_file(last.tb_frame.f_code.co_filename)


def hide_library_frames(excinfo: Any) -> bool:
    """A module's `__tracebackhide__`: pytest calls it with the ExceptionInfo of the error
    whose traceback it shows, and leaves the module's frames out when this says True."""
    exc = getattr(excinfo, "value", None)
    return isinstance(exc, BaseException) and is_users_error(exc)


def format_user_traceback(exc: BaseException) -> str:
    """`traceback.format_exception(exc)` without this package's frames when they are noise
    (`is_users_error`), in `exc` and in the exceptions chained to it."""
    described = traceback.TracebackException.from_exception(exc)
    _drop_library_frames(described, exc, set())
    return "".join(described.format())


def _drop_library_frames(
    described: traceback.TracebackException | None, exc: BaseException | None, seen: set[int]
) -> None:
    if described is None or exc is None or id(exc) in seen:
        return
    seen.add(id(exc))
    if is_users_error(exc):
        kept = [frame for frame in described.stack if not _is_library_file(frame.filename)]
        described.stack = traceback.StackSummary.from_list(kept)
    _drop_library_frames(described.__cause__, exc.__cause__, seen)
    _drop_library_frames(described.__context__, exc.__context__, seen)
