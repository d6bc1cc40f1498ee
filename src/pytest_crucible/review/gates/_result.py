"""The outcome of one gate: PASS or FAIL, with its numbers, its test and one line of why."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_crucible.util.typed_json import from_json, to_plain

__all__ = ["GateResult", "fmt", "json_number"]


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict.

    name: the gate as written (or "few_shot.correct vs baseline 'main'" for a comparison);
    verdict: "pass" / "fail" for thresholds, comparisons and stability, "regression" /
    "noninferior" / "inconclusive" against a baseline; observed and threshold: the number
    checked and the bound it was checked against; test: how it was decided; explanation:
    one line for a terminal or a JUnit message; warning: set when the gate passed without
    evidence (inconclusive) or had to set data aside; details: JSON-safe numbers.
    """

    name: str
    passed: bool
    verdict: str
    explanation: str
    test: str
    observed: float | None = None
    threshold: float | None = None
    p_value: float | None = None
    warning: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def line(self) -> str:
        """One terminal line: "FAIL few_shot.correct.mean >= 0.8: 0.74 < 0.8 (...)"."""
        return f"{self.status} {self.name}: {self.explanation}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "passed": self.passed,
            "verdict": self.verdict,
            "explanation": self.explanation,
            "test": self.test,
            "observed": json_number(self.observed),
            "threshold": json_number(self.threshold),
            "p_value": json_number(self.p_value),
            "warning": self.warning,
            "details": {k: to_plain(v, json_number) for k, v in self.details.items()},
        }

    @classmethod
    def from_dict(cls, data: Any) -> GateResult:
        """Validated back from `to_dict` (as the analysis child sends it)."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if k != "status"}  # derived from passed
        return from_json(cls, data)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a sentence: 3 significant digits, 'n/a' when missing."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def json_number(value: float | None) -> float | None:
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
