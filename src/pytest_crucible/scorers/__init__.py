"""Scorers: turn a trial's output into a metric value (docs/scorers.md)."""

from __future__ import annotations

from pytest_crucible.scorers._code import CodeResult, code_execution, extract_code, humaneval_check

__all__ = ["CodeResult", "code_execution", "extract_code", "humaneval_check"]
