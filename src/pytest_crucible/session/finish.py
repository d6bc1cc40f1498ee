"""The session end on the controller: what the analysis child is asked to do, and its gates.

The heavy work (analysis, gates, reports) runs in `crucible analyse`, a child process; this
module turns the command line into that child's arguments (checking them before any trial
runs) and the gates it decided into test reports that pytest counts and JUnit XML lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from ..store import Store

__all__ = ["finish_arguments", "report_gates"]


def finish_arguments(config: pytest.Config, store: Store) -> list[str]:
    """The `crucible analyse` arguments for this session; bad values raise CrucibleError."""
    option = config.getoption
    from ..gating import parse_margins

    parse_margins(option("crucible_margin"))
    baselines = config.rootpath / ".crucible" / "baselines"
    arguments = ["--baselines-dir", str(baselines)]
    if option("crucible_compare"):
        from ..gates import load_baseline

        load_baseline(store, option("crucible_compare"), baselines_dir=baselines)
        arguments += ["--compare", option("crucible_compare")]
    for gate in option("crucible_gate"):
        arguments += ["--gate", gate]
    for margin in option("crucible_margin"):
        arguments += ["--margin", margin]
    if option("crucible_gate_strict"):
        arguments.append("--strict")
    if option("crucible_save_baseline"):
        arguments += ["--save-baseline", option("crucible_save_baseline")]
    if option("crucible_gate_summary"):
        arguments += ["--gate-summary", option("crucible_gate_summary")]
    formats = option("crucible_report")
    if formats.strip().lower() != "none":
        from ..reports import parse_formats

        parse_formats(formats)
        output = Path(option("crucible_output"))
        if not output.is_absolute():
            output = config.invocation_params.dir / output
        arguments += ["--reports", str(output), "--formats", formats]
    return arguments


def report_gates(config: pytest.Config, gates: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Each gate as a test report: counted in the summary line, listed by JUnit XML."""
    for experiment, gate in gates:
        name = gate["name"]
        failure = None if gate["passed"] else f"{gate['status']} {name}: {gate['explanation']}"
        report = pytest.TestReport(
            nodeid=f"crucible::gates::{experiment}::{name}",
            location=("crucible", None, f"gate {name}"),
            keywords={},
            outcome="passed" if gate["passed"] else "failed",
            longrepr=failure,
            when="call",
            sections=[("gate", gate["warning"])] if gate.get("warning") else [],
        )
        config.hook.pytest_runtest_logreport(report=report)
