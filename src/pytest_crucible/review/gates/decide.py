"""Deciding a run's gates at session end: its own, the command line's, and the baseline's.

Called in the session-end child process (`review/session_end.py`, also `crucible analyse`),
after the analysis, with the run as it was loaded for it. The gates package decides; this
module gathers the inputs (the baseline from the store) and turns the decisions into what
the session shows and the exit status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_crucible.errors import CrucibleError
from pytest_crucible.store import DEFAULT_BASELINES_DIR, ResultStore

# The gates package (numpy, pandas, scipy) loads only when gates are decided: this module is
# also imported by the pytest process, to check `--crucible-margin` early.

if TYPE_CHECKING:
    from pytest_crucible.review.gates import GateResult
    from pytest_crucible.review.stored_run import StoredRun

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
    results: tuple[GateResult, ...]
    text: str
    markdown: str


def gate_run(
    store: ResultStore,
    run: StoredRun,
    analysis: Mapping[str, Any],
    settings: GateSettings,
    experiments: Sequence[str] = (),
) -> GateOutcome:
    """Decide every gate of a run (its own, and the command line's that apply to it);
    compare with the baseline; save the run as a baseline last. experiments: the reviewed
    runs' experiments, which `EXPERIMENT:EXPR` gates may name."""
    from pytest_crucible.review.gates import compare_to_baseline as compare_with
    from pytest_crucible.review.gates import (
        evaluate_gates,
        find_baseline,
        format_markdown,
        format_text,
        gates_of,
    )

    header = run.header
    if isinstance(header.get("shard"), dict):
        return _deferred_for_shard(run)
    name = str(header["name"])
    conditions = [str(c) for c in header.get("conditions") or ()]
    gates = gates_of(
        name,
        conditions,
        header.get("gates", []),
        settings.gates,
        tuple(experiments) or (name,),
    )
    trials = run.trials
    alpha = float(header.get("analysis", {}).get("alpha", 0.05))
    baseline = comparison = None
    notes: list[str] = []
    skipped: list[str] = []  # baseline gates, when there is no baseline yet
    if settings.compare:
        baseline = find_baseline(
            store, settings.compare, experiment=name, baselines_dir=settings.baselines_dir
        )
        if baseline is None:
            notes.append(_no_baseline_yet(settings.compare, name, settings.save_baseline))
            gates, skipped = _without_baseline_gates(gates, conditions)
        else:
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
    results += [_not_compared(text, notes[0]) for text in skipped]
    shown = list(results)  # the comparison prints its own rows in format_text
    if comparison is not None:
        results += comparison.gate_results()
    if settings.save_baseline:
        notes.append(_save(store, run, settings))
    text = "\n".join(part for part in (format_text(shown, comparison), *notes) if part)
    markdown = format_markdown(results, comparison) + "".join(f"\n- {n}\n" for n in notes)
    return GateOutcome(tuple(results), text, markdown)


def _deferred_for_shard(run: StoredRun) -> GateOutcome:
    """A shard run (--crucible-shard) holds part of the experiment: no gate, comparison or
    baseline is decided on it (a false failure, or a false pass); they are for the merged
    run."""
    shard = run.header["shard"]
    name = run.header["name"]
    note = (
        f"run {run.run_id} is shard {shard.get('index')}/{shard.get('count')} of group "
        f"{shard.get('group')!r} ({run.header.get('total_trials')} of the experiment's "
        f"{shard.get('trials')} trials): its analysis covers this shard only, and its gates, "
        "baseline comparison and baseline saving wait for the whole run. Once every shard "
        "is done: `crucible merge merged.db SHARD_STORE ...` unites them into one run, then "
        f"`crucible --store merged.db analyse latest:{name}` (with your --gate, --compare "
        "and --save-baseline) decides them"
    )
    return GateOutcome((), note, f"\n- {note}\n")


def _no_baseline_yet(ref: str, experiment: str, save_as: str | None) -> str:
    then = (
        f"this run is saved as baseline {ref!r} now"
        if save_as == ref
        else f"save one with --crucible-save-baseline {ref}"
    )
    return (
        f"no baseline {ref!r} of experiment {experiment} yet (a first run?): nothing to "
        f"compare with; {then}"
    )


def _without_baseline_gates(
    gates: Sequence[str], conditions: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(gates to decide, "not worse than baseline" gates) when there is no baseline."""
    from pytest_crucible.review.gates import parse_gate

    kept: list[str] = []
    skipped: list[str] = []
    for text in gates:
        gate = parse_gate(text, conditions=conditions, metrics=None)
        (skipped if gate.needs_baseline else kept).append(text)
    return kept, skipped


def _not_compared(text: str, why: str) -> GateResult:
    from pytest_crucible.review.gates import GateResult

    return GateResult(text, True, "inconclusive", f"not compared: {why}", "none", warning=why)


def _save(store: ResultStore, run: StoredRun, settings: GateSettings) -> str:
    """Save the run as baseline settings.save_baseline; the line that says where."""
    from pytest_crucible.review.gates import save_baseline

    assert settings.save_baseline is not None
    run_id, experiment = run.run_id, str(run.header["name"])
    saved = save_baseline(
        store,
        run_id,
        settings.save_baseline,
        baselines_dir=settings.baselines_dir,
        loaded=run,
    )
    where = saved.path
    if where is not None and where.is_relative_to(Path.cwd()):
        where = where.relative_to(Path.cwd())
    return (
        f"saved run {run_id} of {experiment} as baseline {settings.save_baseline!r}: in the "
        f"store's baselines table and in {where} (commit that file)"
    )


def parse_margins(pairs: Sequence[str], option: str = "--crucible-margin") -> dict[str, float]:
    """`--margin correct=0.02` (or few_shot.correct=0.02, or *=0.02) as a dict; `option`:
    the flag an error names."""
    margins: dict[str, float] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        try:
            margins[key.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key.strip():
            raise CrucibleError(f"{option} {pair!r}: expected METRIC=NUMBER, e.g. correct=0.02")
    return margins
