"""The error gates raise: a mistyped expression, an unknown baseline, a bad margin."""

from __future__ import annotations

from pytest_crucible.errors import CrucibleError

__all__ = ["GateError"]


class GateError(CrucibleError):
    """A gate expression, a baseline reference or a gate setting cannot be used.

    The message names the unknown condition, metric, baseline or value and lists the valid
    ones; the pytest wiring turns it into a usage error (exit status 4).
    """
