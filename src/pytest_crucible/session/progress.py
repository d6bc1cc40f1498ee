"""The progress line of a long run: one at every tenth of the trials (controller role)."""

from __future__ import annotations

from typing import Any

from pytest_crucible.session.internals import line_is_open

__all__ = ["Progress"]

_STEPS = 10
_SHOWN_FROM = 20  # trials: a shorter run shows no progress lines


class Progress:
    def __init__(self) -> None:
        self.total: int | None = None  # trials to run, once collected
        self._next = 0

    def due(self, done: int) -> bool:
        """Whether a line is due now that `done` trials are stored (advances the next)."""
        total = self.total or 0
        step = max(1, total // _STEPS)
        if total < _SHOWN_FROM or done < max(step, self._next):
            return False
        self._next = (done // step + 1) * step
        return True

    @staticmethod
    def write(reporter: Any, line: str) -> None:
        if line_is_open(reporter):  # after a row of dots (xdist writes no newline)
            reporter.write("\n")
        reporter.write_line(line)
