"""CI regression gates on model quality: thresholds, comparisons, baselines, flaky items.

Pure functions over trials frames (`pytest_crucible.frames.trials_frame`) and run headers
(`Store.run_header`); the pytest wiring (options, exit status, summaries, JUnit) calls them.

- `parse_gate(text, conditions=..., metrics=...)` reads a gate expression (grammar in
  docs/ci.md) and `evaluate_gates(gates, trials, analysis, ...)` decides each one;
- `save_baseline` / `load_baseline` keep a run as a named baseline, in the store and in a
  portable JSON file meant to be committed (`.crucible/baselines/NAME.json`);
- `compare_to_baseline` gives each condition x metric one of three verdicts: regression
  (FAIL), non-inferior (PASS) or inconclusive (PASS with a warning, or FAIL when strict);
- `stability` measures flaky items across repeats (pass^k, flip rate, unstable items).
"""

from __future__ import annotations

from ._baseline import Baseline, BaselineResult
from ._baseline_store import (
    DEFAULT_BASELINES_DIR,
    KnownBaseline,
    baseline_path,
    known_baselines,
    load_baseline,
    save_baseline,
)
from ._compare import compare_to_baseline
from ._drift import Drift
from ._errors import GateError
from ._evaluate import evaluate_gates
from ._grammar import Gate, parse_gate
from ._report import format_markdown, format_text
from ._result import GateResult
from ._stability import ConditionStability, ItemStability, Stability, stability
from ._verdicts import BaselineComparison, MetricVerdict

__all__ = [
    "DEFAULT_BASELINES_DIR",
    "Baseline",
    "BaselineComparison",
    "BaselineResult",
    "ConditionStability",
    "Drift",
    "Gate",
    "GateError",
    "GateResult",
    "ItemStability",
    "KnownBaseline",
    "MetricVerdict",
    "Stability",
    "baseline_path",
    "compare_to_baseline",
    "evaluate_gates",
    "format_markdown",
    "format_text",
    "known_baselines",
    "load_baseline",
    "parse_gate",
    "save_baseline",
    "stability",
]
