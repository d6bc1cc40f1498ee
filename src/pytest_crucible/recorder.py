"""The controller's side of a session: trial results in, stored runs out.

Each trial result arrives with its pytest report (from this process or from an xdist worker)
and is committed at once. The first result of an experiment carries the experiment's header,
from which the run is created, or the resumed run is reopened.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import StoreError
from .frames import metric_columns, trials_frame

if TYPE_CHECKING:
    import pandas as pd

    from .analysis import RunAnalysis
from .inputs import ResumeTarget
from .metrics import Analysis, Metric
from .store import Store
from .summary import format_table

__all__ = ["Recorder", "RunOutcome"]


@dataclass
class RunOutcome:
    """What happened to one run in this session."""

    experiment: str
    run_id: str
    header: Mapping[str, Any]
    resumed: bool
    ran: set[str] = field(default_factory=set)
    failed: int = 0
    status: str = "running"
    stored: int = 0
    reused: int = 0
    frame: pd.DataFrame | None = None
    analysis: RunAnalysis | None = None


class Recorder:
    """Persists trial results as they arrive and finishes the runs at session end."""

    def __init__(
        self,
        store: Store,
        resume: Mapping[str, ResumeTarget],
        environment: Callable[[], Mapping[str, Any]],
    ) -> None:
        self.store = store
        self.resume = resume
        self._environment = environment
        self._env_cache: Mapping[str, Any] | None = None
        self.runs: dict[str, RunOutcome] = {}
        self.warnings: list[str] = []
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self.rescue_path = store.path.with_name(store.path.name + ".rescue.jsonl")

    def record(self, payload: Mapping[str, Any]) -> None:
        """Store one trial result (and open its run if this is the experiment's first)."""
        result = payload["trial"]
        outcome = self._run_for(result["experiment"], payload.get("header"))
        try:
            self.store.record_trial(outcome.run_id, result, payload.get("worker", "main"))
        except StoreError as exc:
            self._rescue(outcome.run_id, result, exc)
        outcome.ran.add(result["key"])
        self.done += 1
        if result["status"] == "failed":
            outcome.failed += 1
            self.failed += 1
        for warning in result.get("warnings") or []:
            self.warnings.append(f"{result['experiment']} {_trial_id(result)}: {warning}")

    def _run_for(self, experiment: str, header: Mapping[str, Any] | None) -> RunOutcome:
        outcome = self.runs.get(experiment)
        if outcome is not None:
            return outcome
        if header is None:  # a process always sends the header with its first result
            raise StoreError(f"experiment {experiment}: a result arrived before its header")
        target = self.resume.get(experiment)
        if target is not None:
            self.store.resume_run(target.run_id, header)
            run_id = target.run_id
        else:
            run_id = self.store.create_run(header, self.environment)
        outcome = RunOutcome(experiment, run_id, header, resumed=target is not None)
        self.runs[experiment] = outcome
        return outcome

    @property
    def environment(self) -> Mapping[str, Any]:
        if self._env_cache is None:
            self._env_cache = self._environment()
        return self._env_cache

    def _rescue(self, run_id: str, result: Mapping[str, Any], exc: StoreError) -> None:
        """Never lose a result: if the store refuses it, append it to a JSONL file beside it."""
        with self.rescue_path.open("a", encoding="utf-8") as rescue:
            rescue.write(json.dumps({"run_id": run_id, "trial": result}, default=repr) + "\n")
        self.warnings.append(f"{exc}; the result was saved to {self.rescue_path}")

    def finish(self, *, interrupted: bool, crashed: bool) -> list[RunOutcome]:
        """Set each run's final status; resumed runs that ran nothing are finished too."""
        for name, target in self.resume.items():
            if name not in self.runs:
                header = self.store.run_header(target.run_id)
                self.runs[name] = RunOutcome(name, target.run_id, header, resumed=True)
        for outcome in self.runs.values():
            info = self.store.run(outcome.run_id)
            outcome.stored = info.stored_trials if info else 0
            total = info.total_trials if info else 0
            resumed = self.resume.get(outcome.experiment)
            outcome.reused = len(resumed.completed - outcome.ran) if resumed else 0
            if crashed:
                outcome.status = "failed"
            elif outcome.stored >= total and not interrupted:
                outcome.status = "completed"
            else:
                outcome.status = "interrupted"
            self.store.finish_run(outcome.run_id, outcome.status)
            if outcome.stored:
                try:
                    self.analyse(outcome)
                except Exception as exc:  # the trials are stored; report, do not crash
                    self.warnings.append(
                        f"{outcome.experiment}: the analysis failed ({type(exc).__name__}: "
                        f"{exc}); the trials are stored in run {outcome.run_id}"
                    )
        return list(self.runs.values())

    def progress_line(self, total: int | None) -> str:
        elapsed = time.monotonic() - self.started
        of_total = f"/{total}" if total else ""
        return f"crucible: {self.done}{of_total} trials done, {self.failed} failed, {elapsed:.1f} s"

    def analyse(self, outcome: RunOutcome) -> None:
        """Analyse every stored trial of the run (reused ones included) and store the result."""
        from .analysis import analyze  # numpy, pandas, scipy: only at session end

        header = outcome.header
        frame = trials_frame(self.store, outcome.run_id)
        declared = header.get("metrics") or {}
        metrics = {
            name: Metric(**declared[name]) if name in declared else Metric()
            for name in (list(declared) or metric_columns(frame))
            if name in frame.columns
        }
        conditions = list(header.get("conditions") or sorted(frame["condition"].unique()))
        settings = Analysis(**header.get("analysis", {}))
        outcome.frame = frame
        outcome.analysis = analyze(
            frame,
            conditions=conditions,
            baseline=header.get("baseline"),
            metrics=metrics,
            settings=settings,
        )
        self.store.save_analysis(outcome.run_id, outcome.analysis.to_dict())

    def summary(self, outcome: RunOutcome) -> str:
        """The results table of one run and its analysis, for the terminal."""
        from .analysis import format_analysis

        header = outcome.header
        lines = [
            f"{outcome.experiment}  run {outcome.run_id}  ({outcome.status}; "
            f"{outcome.stored}/{header.get('total_trials', '?')} trials stored: "
            f"{len(outcome.ran)} ran now"
            + (f", {outcome.reused} reused from the resumed run" if outcome.resumed else "")
            + ")",
        ]
        if outcome.analysis is None or outcome.frame is None:
            return lines[0]
        lines += [
            format_table(outcome.frame, outcome.analysis),
            "",
            format_analysis(outcome.analysis),
        ]
        return "\n".join(lines)


def _trial_id(result: Mapping[str, Any]) -> str:
    return f"{result['condition']}-{result['item_id']}-r{result['repeat']}"
