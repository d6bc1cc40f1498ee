"""The MCP tools on runs: start one from an instance, watch it (progress, logs, trials),
cancel it, and read its results (the stored analysis, a comparison of two runs)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from pytest_crucible.console import watch
from pytest_crucible.console._mcp_tool_base import ToolBase
from pytest_crucible.console._mcp_tool_params import (
    ConditionFilter,
    InstanceName,
    ItemFilter,
    RunId,
)
from pytest_crucible.console.errors import NotFound

__all__ = ["RunTools"]


class RunTools(ToolBase):
    """The tools on runs."""

    def start_run(self, instance: InstanceName) -> dict[str, Any]:
        """Start a run of a saved instance: a child `python -m pytest --crucible` process in
        the project root. Returns {launch_id, pid, run_id, command}; run_id is null until the
        run has registered in the store (call list_launches to learn it). Next: poll
        get_progress(run_id) every few seconds until its status is not "running"."""
        if self._instance(instance) is None:
            raise ToolError(
                f"no instance {instance!r}: call list_instances for the names, or "
                "create_instance to save one"
            )
        return self._steering.start_run(instance)

    def list_launches(self) -> dict[str, Any]:
        """The runs this server started: launch_id, pid, state (running or exited),
        exit_code, run_id (null until known) and the tail of the process's output (read it
        when a launch exited without a run_id: it says why). Next: get_progress(run_id)."""
        return {"launches": self._steering.launches()}

    def list_runs(
        self,
        experiment: Annotated[str | None, Field(description="only this experiment's runs")] = None,
        status: Annotated[
            str | None,
            Field(
                description="only runs with this status: running, completed, interrupted, "
                "cancelled or failed"
            ),
        ] = None,
        limit: Annotated[int, Field(ge=1, le=1000, description="at most this many runs")] = 50,
    ) -> dict[str, Any]:
        """Stored runs, newest first: run_id, experiment, status, started_at and ended_at (ISO
        8601 UTC), duration_s (seconds), total trials, passed, failed, cost_usd (US
        dollars, null when not priced), git_commit. `total_runs` counts the matching runs
        before the limit. Next: get_run, get_progress or get_analysis(run_id)."""
        with self._store() as store:
            runs = watch.runs(store, experiment)
        if status is not None:
            runs = [run for run in runs if run.get("status") == status]
        return {"total_runs": len(runs), "runs": runs[:limit]}

    def get_run(self, run_id: RunId) -> dict[str, Any]:
        """One run: its experiment, status, timings, conditions, metrics, config, progress,
        and (once finished and analysed) its analysis and gate verdicts. For the results
        alone call get_analysis; for a running run, get_progress is cheaper."""
        with self._store() as store:
            self._known_run(store, run_id)
            return watch.run(store, run_id)

    def get_progress(self, run_id: RunId) -> dict[str, Any]:
        """A run's progress, cheap enough to poll every second: status (running, completed,
        interrupted, cancelled, failed), total_trials, stored (trials finished and stored),
        per condition passed/failed/skipped, last_stored_at (ISO 8601 UTC), a pending
        cancel request's reason, and analysis_ready (the session end stores the analysis a
        few seconds after the status leaves "running"). Poll until status is not "running"
        and analysis_ready is true, then call get_analysis."""
        with self._store() as store:
            self._known_run(store, run_id)
            progress = watch.progress(store, run_id)
            analysed = store.run_record(run_id).analysis is not None
        return {**progress, "analysis_ready": analysed}

    def cancel_run(
        self,
        run_id: RunId,
        reason: Annotated[str, Field(description="why (stored with the run)")] = (
            "cancelled by an agent over MCP"
        ),
    ) -> dict[str, Any]:
        """Cancel a running run gracefully: no new trial starts, every finished trial stays
        stored, the run ends with status "cancelled" and can be resumed later
        (`pytest --crucible --crucible-resume=RUN_ID`). Works for runs started anywhere (the
        session polls the store). Next: poll get_progress until the status is "cancelled"."""
        with self._store() as store:
            self._known_run(store, run_id)
        return self._steering.cancel_run(run_id, reason)

    def query_logs(
        self,
        run_id: RunId,
        after_id: Annotated[
            int,
            Field(
                ge=0, description="only lines after this id: pass the previous page's next_after_id"
            ),
        ] = 0,
        limit: Annotated[int, Field(ge=1, le=1000, description="at most this many lines")] = 200,
        level: Annotated[
            str | None,
            Field(description="only this level: debug, info, warning or error"),
        ] = None,
        condition: ConditionFilter = None,
        item: ItemFilter = None,
    ) -> dict[str, Any]:
        """The log lines trials wrote (trial.log), oldest first: id, trial_key, condition,
        item_id, repeat, level, message, created_at (ISO 8601 UTC). Pages by id: call again
        with after_id = next_after_id for the next page (`more` is true when this page was
        full), or later with the same after_id to follow a running run's new lines."""
        with self._store() as store:
            self._known_run(store, run_id)
            page = watch.logs(
                store,
                run_id,
                after_id=after_id,
                limit=limit,
                level=level,
                condition=condition,
                item=item,
            )
        lines = page["lines"]
        return {"lines": lines, "next_after_id": page["after_id"], "more": len(lines) == limit}

    def list_trials(
        self,
        run_id: RunId,
        offset: Annotated[int, Field(ge=0, description="skip this many trials")] = 0,
        limit: Annotated[int, Field(ge=1, le=500, description="at most this many trials")] = 50,
        condition: ConditionFilter = None,
        item: ItemFilter = None,
        status: Annotated[
            str | None, Field(description="only trials with this status: passed, failed, skipped")
        ] = None,
    ) -> dict[str, Any]:
        """A page of a run's stored trials, ordered by condition, item, repeat: `total`
        (matching trials) and `rows` (trial_key, condition, item_id, repeat, status, metrics,
        latency in seconds, tokens, cost_usd, error summary; no outputs). Page with offset +
        limit while offset < total. Next: get_trial(run_id, trial_key) for one trial whole."""
        with self._store() as store:
            self._known_run(store, run_id)
            return watch.trials(
                store,
                run_id,
                offset=offset,
                limit=limit,
                condition=condition,
                item=item,
                status=status,
            )

    def get_trial(
        self,
        run_id: RunId,
        trial_key: Annotated[str, Field(description="a trial_key, as list_trials gives it")],
    ) -> dict[str, Any]:
        """One trial whole: its condition, item (input, expected, metadata, cluster), output,
        metrics, error and traceback summary, artifacts, model usage (tokens, cost_usd),
        latency (seconds) and its log lines."""
        with self._store() as store:
            self._known_run(store, run_id)
            try:
                return watch.trial(store, run_id, trial_key)
            except NotFound:
                raise ToolError(
                    f"run {run_id} has no trial {trial_key!r}: call list_trials(run_id) for "
                    "its trial keys"
                ) from None

    def get_analysis(self, run_id: RunId) -> dict[str, Any]:
        """A finished run's statistics, as the session end computed them: per metric, each
        condition's mean with its confidence interval over items (repeats averaged within an
        item first), the paired comparisons against the baseline (estimate, interval, test,
        Holm-adjusted p, direction), notes, and the gate verdicts (passed, reason). A tool
        error while the run has no analysis yet: poll get_progress until it is finished."""
        with self._store() as store:
            self._known_run(store, run_id)
            record = store.run_record(run_id)
        if record.analysis is None:
            raise ToolError(_no_analysis(run_id, str(record.columns.get("status"))))
        analysis = dict(record.analysis)
        gates = analysis.pop("gates", [])
        return {
            "run_id": run_id,
            "status": record.columns.get("status"),
            **analysis,
            "gates": gates,
        }

    def compare_runs(
        self,
        run_a: Annotated[str, Field(description="the reference (baseline) run's id")],
        run_b: Annotated[str, Field(description="the id of the run compared with it")],
        margins: Annotated[
            dict[str, float] | None,
            Field(
                description="how much worse B may be, in the metric's units: METRIC -> "
                "margin, CONDITION.METRIC -> margin, or * -> margin for every metric "
                "(default 0)"
            ),
        ] = None,
        alpha: Annotated[
            float | None,
            Field(gt=0, lt=1, description="the tests' alpha; null: run B's analysis alpha"),
        ] = None,
        strict: Annotated[
            bool, Field(description="count an inconclusive verdict as a failure")
        ] = False,
    ) -> dict[str, Any]:
        """Run B against run A of the same experiment, paired per item (repeats averaged
        within items), as `crucible compare` and a baseline gate do: per condition and
        metric, both means, the difference d = B - A oriented so d > 0 is better, its
        one-sided lower bound, the Holm-adjusted p of "B is worse by more than the margin",
        and a verdict: regression, noninferior or inconclusive; `passed` is false when a
        regression is shown (or, strict, when inconclusive)."""
        from pytest_crucible.review.compare_runs import compare_runs

        with self._store() as store:
            for run_id in (run_a, run_b):
                self._known_run(store, run_id)
            comparison = compare_runs(
                store, run_a, run_b, margins=margins, alpha=alpha, strict=strict
            )
        return {"run_a": run_a, "run_b": run_b, **comparison.to_dict()}


def _no_analysis(run_id: str, status: str) -> str:
    if status == "running":
        return (
            f"run {run_id} is still running: its analysis is made when it ends; poll "
            "get_progress until analysis_ready is true"
        )
    return (
        f"run {run_id} ({status}) has no analysis stored yet: the session end stores it a "
        "few seconds after the last trial (get_progress says analysis_ready); if it stays "
        f"missing, the session ended without one: `crucible analyse {run_id}` makes it"
    )
