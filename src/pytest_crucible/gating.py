"""Deciding a run's gates at session end: its own, the command line's, and the baseline's.

Called in the session-end child process (`crucible analyse --gate ... --compare ...`), after
the analysis. The gates package decides; this module gathers the inputs from the store and
turns the decisions into what the session shows and the exit status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CrucibleError
from .frames import trials_frame
from .store import DEFAULT_BASELINES_DIR, Store

# The gates package (numpy, pandas, scipy) loads only when gates are decided: this module is
# also imported by the pytest process, to check `--crucible-margin` early.

__all__ = ["GateOutcome", "GateSettings", "gate_run", "parse_margins"]


@dataclass(frozen=True)
class GateSettings:
    """Gates from the command line and what to compare with; the experiment adds its own."""

    gates: tuple[str, ...] = ()
    compare: str | None = None
    margins: Mapping[str, float] = field(default_factory=dict)
    strict: bool = False
    save_baseline: str | None = None
    baselines_dir: Path = DEFAULT_BASELINES_DIR


@dataclass(frozen=True)
class GateOutcome:
    results: list[dict[str, Any]]
    text: str
    markdown: str

    @property
    def failed(self) -> bool:
        return any(not result["passed"] for result in self.results)


def gate_run(
    store: Store, run_id: str, analysis: Mapping[str, Any], settings: GateSettings
) -> GateOutcome:
    """Decide every gate of a run; compare with the baseline; save it as a baseline last."""
    from .gates import compare_to_baseline as compare_with
    from .gates import evaluate_gates, format_markdown, format_text, load_baseline, save_baseline

    header = store.run_header(run_id)
    gates = [*header.get("gates", []), *settings.gates]
    trials = trials_frame(store, run_id)
    alpha = float(header.get("analysis", {}).get("alpha", 0.05))
    baseline = comparison = None
    if settings.compare:
        baseline = load_baseline(
            store, settings.compare, experiment=header["name"], baselines_dir=settings.baselines_dir
        )
        comparison = compare_with(
            trials,
            header,
            baseline,
            margins=settings.margins,
            alpha=alpha,
            strict=settings.strict,
        )
    results = (
        evaluate_gates(
            gates,
            trials,
            analysis,
            header=header,
            baseline=baseline,
            margins=settings.margins,
            alpha=alpha,
            strict=settings.strict,
        )
        if gates
        else []
    )
    shown = list(results)  # the comparison prints its own rows in format_text
    if comparison is not None:
        results += comparison.gate_results()
    if settings.save_baseline:
        save_baseline(store, run_id, settings.save_baseline, baselines_dir=settings.baselines_dir)
    return GateOutcome(
        results=[result.to_dict() for result in results],
        text=format_text(shown, comparison),
        markdown=format_markdown(results, comparison),
    )


def parse_margins(pairs: Sequence[str]) -> dict[str, float]:
    """`--margin correct=0.02` (or few_shot.correct=0.02, or *=0.02) as a dict."""
    margins: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            margins[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise CrucibleError(
                f"--crucible-margin {pair!r}: expected METRIC=NUMBER, e.g. correct=0.02"
            )
    return margins
