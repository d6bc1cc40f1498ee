"""Built-in benchmarks, read offline from files installed with their packages
(docs/benchmarks.md)."""

from __future__ import annotations

from pytest_crucible.benchmarks._humaneval import humaneval

__all__ = ["humaneval"]
