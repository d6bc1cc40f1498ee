"""The gate verdicts stored with a run (analysis["gates"], one `GateResult.to_dict()` each),
as rows for the reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["GateRow", "gate_rows", "gate_tally"]


@dataclass(frozen=True)
class GateRow:
    name: str
    passed: bool
    explanation: str
    test: str
    warning: str

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"


def gate_rows(analysis: dict[str, Any]) -> tuple[GateRow, ...]:
    """The stored gates in their order; entries that are not objects are skipped."""
    raw = analysis.get("gates")
    if not isinstance(raw, list):
        return ()
    return tuple(_row(g) for g in raw if isinstance(g, dict))


def gate_tally(gates: Sequence[GateRow]) -> str:
    """ "3 passed, 1 failed"."""
    passed = sum(g.passed for g in gates)
    return f"{passed} passed, {len(gates) - passed} failed"


def _row(gate: dict[str, Any]) -> GateRow:
    passed = gate.get("passed")
    if not isinstance(passed, bool):
        passed = str(gate.get("status", "")).upper() == "PASS"
    return GateRow(
        name=str(gate.get("name", "")),
        passed=passed,
        explanation=str(gate.get("explanation") or ""),
        test=str(gate.get("test") or ""),
        warning=str(gate.get("warning") or ""),
    )
