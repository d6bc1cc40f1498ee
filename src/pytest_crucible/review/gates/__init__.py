"""CI regression gates on model quality: thresholds, comparisons, baselines, flaky items.

Pure functions over trials frames (`pytest_crucible.store.frames.trials_frame`) and run headers
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

from typing import TYPE_CHECKING

from pytest_crucible.util.lazy import LazyNames

if TYPE_CHECKING:
    from pytest_crucible.review.gates._baseline import Baseline, BaselineResult
    from pytest_crucible.review.gates._baseline_store import (
        DEFAULT_BASELINES_DIR,
        KnownBaseline,
        baseline_of_run,
        baseline_path,
        check_reference,
        find_baseline,
        known_baselines,
        load_baseline,
        save_baseline,
    )
    from pytest_crucible.review.gates._compare import compare_to_baseline
    from pytest_crucible.review.gates._drift import Drift
    from pytest_crucible.review.gates._errors import GateError
    from pytest_crucible.review.gates._evaluate import evaluate_gates
    from pytest_crucible.review.gates._grammar import Gate, parse_gate
    from pytest_crucible.review.gates._report import format_markdown, format_text
    from pytest_crucible.review.gates._result import GateResult, fmt
    from pytest_crucible.review.gates._scope import check_gates, gates_of, split_scope
    from pytest_crucible.review.gates._stability import (
        ConditionStability,
        ItemStability,
        Stability,
        stability,
    )
    from pytest_crucible.review.gates._verdicts import BaselineComparison, MetricVerdict

# Each name is imported on first use: the pytest process checks gate expressions at
# collection (`_grammar`, `_scope`), and deciding gates needs numpy, pandas and scipy, which
# must not load there.
_LAZY = LazyNames(
    __name__,
    {
        "Baseline": "._baseline",
        "BaselineComparison": "._verdicts",
        "BaselineResult": "._baseline",
        "ConditionStability": "._stability",
        "DEFAULT_BASELINES_DIR": "._baseline_store",
        "Drift": "._drift",
        "Gate": "._grammar",
        "GateError": "._errors",
        "GateResult": "._result",
        "fmt": "._result",
        "ItemStability": "._stability",
        "KnownBaseline": "._baseline_store",
        "MetricVerdict": "._verdicts",
        "Stability": "._stability",
        "baseline_of_run": "._baseline_store",
        "baseline_path": "._baseline_store",
        "check_gates": "._scope",
        "check_reference": "._baseline_store",
        "find_baseline": "._baseline_store",
        "compare_to_baseline": "._compare",
        "evaluate_gates": "._evaluate",
        "format_markdown": "._report",
        "format_text": "._report",
        "gates_of": "._scope",
        "known_baselines": "._baseline_store",
        "load_baseline": "._baseline_store",
        "parse_gate": "._grammar",
        "save_baseline": "._baseline_store",
        "split_scope": "._scope",
        "stability": "._stability",
    },
)

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
    "baseline_of_run",
    "baseline_path",
    "check_gates",
    "check_reference",
    "compare_to_baseline",
    "evaluate_gates",
    "find_baseline",
    "fmt",
    "format_markdown",
    "format_text",
    "gates_of",
    "known_baselines",
    "load_baseline",
    "parse_gate",
    "save_baseline",
    "split_scope",
    "stability",
]


# PEP 562: the module's attribute look-up and dir() go through the lazy names
__getattr__ = _LAZY.get
__dir__ = _LAZY.names
