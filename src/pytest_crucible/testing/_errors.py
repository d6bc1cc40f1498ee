"""The one error the mock model server raises on purpose."""

from __future__ import annotations

from pytest_crucible.errors import CrucibleError

__all__ = ["MockServerError"]


class MockServerError(CrucibleError):
    """The mock model server was configured wrongly, or could not start or be reached."""
