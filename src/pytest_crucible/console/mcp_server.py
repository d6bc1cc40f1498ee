"""The MCP server for agents: the console's read side (`watch.py`) and its steering
(`steer.py`) as Model Context Protocol tools, built with the official SDK (2.x).

`build_server` makes the server; `serve_stdio` runs it over stdin/stdout (`crucible mcp`);
`mcp_asgi_app` serves it over streamable HTTP behind the dashboard's bearer token (`/mcp` of
`crucible serve`). A tool returns a JSON object (structured content); a failure is a tool error
(isError) whose text names the next step (an unknown run: "call list_runs"), never a crash of
the server. Nothing a tool returns carries a database password or an API key (`mcp_scrub.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations
from pydantic import Field

from pytest_crucible.console import steer, watch
from pytest_crucible.console.errors import NotFound
from pytest_crucible.console.mcp_http import McpHttpApp
from pytest_crucible.console.mcp_scrub import Scrubber
from pytest_crucible.errors import CrucibleError
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.locations import masked

__all__ = ["build_server", "mcp_asgi_app", "serve_stdio"]

_log = logging.getLogger("pytest_crucible.mcp")

INSTRUCTIONS = """\
pytest-crucible runs AI experiments (conditions x dataset items x repeats = trials) as pytest \
test suites and stores every trial. Start with list_experiments (runs stored) or \
discover_experiments (experiments in the project's test files, with their config schemas). \
To run one: create_instance (a saved configuration), start_run, then poll get_progress until \
its status is no longer "running"; read results with get_analysis, list_trials, get_trial and \
query_logs; compare two runs of one experiment with compare_runs; stop a run with cancel_run."""

_READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
_WRITE = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
_DESTROY = ToolAnnotations(read_only_hint=False, destructive_hint=True, open_world_hint=False)

# parameter types shared by the tools (their descriptions reach the JSON schema)
RunId = Annotated[str, Field(description="a run id, as list_runs gives it")]
Experiment = Annotated[str, Field(description="an experiment's name, as list_experiments gives it")]
InstanceName = Annotated[str, Field(description="an instance's name, as list_instances gives it")]
ConditionFilter = Annotated[
    str | None, Field(description="only this condition (a name from get_run's conditions)")
]
ItemFilter = Annotated[str | None, Field(description="only this dataset item id")]
Config = Annotated[
    dict[str, Any] | None,
    Field(
        description="config values, field -> value, checked against the experiment's config "
        "schema (describe_experiment); fields left out keep their defaults"
    ),
]
Conditions = Annotated[
    list[str] | None, Field(description="the conditions to run; null runs all of them")
]
Repeats = Annotated[
    int | None, Field(ge=1, description="repeats per item; null keeps the declared number")
]
Seed = Annotated[int | None, Field(description="the run's seed; null keeps the declared seed")]


def build_server(store_location: str, project_root: Path | None) -> MCPServer:
    """The MCP server over the store at `store_location` (a SQLite path or a database URL),
    starting runs of experiments under `project_root` (the current folder when None)."""
    root = (project_root or Path.cwd()).resolve()
    tools = _Tools(store_location, root)
    server: MCPServer = MCPServer(
        name="pytest-crucible",
        title="pytest-crucible experiments",
        instructions=INSTRUCTIONS,
        log_level="WARNING",
    )
    for name, hints in _TOOLS.items():
        server.add_tool(tools.guarded(getattr(tools, name)), name=name, annotations=hints)
    return server


def serve_stdio(store_location: str, project_root: Path | None) -> None:
    """Serve over stdin/stdout until the client closes stdin (`crucible mcp`). While serving,
    the SDK points file descriptor 1 at stderr, so stray output and child processes never
    reach the protocol."""
    build_server(store_location, project_root).run("stdio")


def mcp_asgi_app(store_location: str, project_root: Path | None, token: str | None) -> McpHttpApp:
    """The tools over streamable HTTP, as an ASGI app answering at whatever path it is mounted
    (`Route("/mcp", endpoint=app)`); every request needs `Authorization: Bearer TOKEN` when
    `token` is set (401 otherwise). Its sessions need a task group: enter `app.lifespan()` in
    the parent app's lifespan (served alone, it handles the ASGI lifespan itself; else it
    starts on its first request)."""
    return McpHttpApp(build_server(store_location, project_root), token)


# name -> annotations: the order agents see them in
_TOOLS: dict[str, ToolAnnotations] = {
    "list_experiments": _READ,
    "discover_experiments": _READ,
    "describe_experiment": _READ,
    "list_instances": _READ,
    "create_instance": _WRITE,
    "update_instance": _WRITE,
    "delete_instance": _DESTROY,
    "start_run": _WRITE,
    "list_launches": _READ,
    "list_runs": _READ,
    "get_run": _READ,
    "get_progress": _READ,
    "cancel_run": _DESTROY,
    "query_logs": _READ,
    "list_trials": _READ,
    "get_trial": _READ,
    "get_analysis": _READ,
    "compare_runs": _READ,
}


class _Tools:
    """The tools' bodies: each opens the store for its call (tools run in worker threads,
    and a store connection belongs to one thread) or asks the steering."""

    def __init__(self, store_location: str, project_root: Path) -> None:
        self._location = store_location
        self._steering = steer.Steering(store_location, project_root)
        self._scrubber = Scrubber.from_environment(store_location)

    def guarded(self, tool: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        """`tool` with its errors as tool errors that say what to do, and its result (and
        those errors) without secrets; the signature and docstring stay the tool's."""

        @wraps(tool)
        def call(**arguments: Any) -> dict[str, Any]:
            try:
                result: dict[str, Any] = self._scrubber.scrub(tool(**arguments))
                return result
            except ToolError as exc:
                raise ToolError(self._scrubber.scrub_text(str(exc))) from None
            except CrucibleError as exc:
                raise ToolError(self._scrubber.scrub_text(str(exc))) from None
            except Exception as exc:  # a bug of ours: the agent gets a message, stderr the trace
                _log.exception("tool %s failed", tool.__name__)
                raise ToolError(
                    f"{tool.__name__} failed unexpectedly ({type(exc).__name__}): a bug of "
                    "pytest-crucible; the server's stderr has the traceback, please report it"
                ) from None

        return call

    @contextmanager
    def _store(self) -> Iterator[ResultStore]:
        store = open_store(self._location, readonly=True)
        try:
            yield store
        finally:
            store.close()

    def _known_run(self, store: ResultStore, run_id: str) -> None:
        if store.run(run_id) is None:
            raise ToolError(
                f"no run {run_id!r} in store {masked(self._location)}: call list_runs for the "
                "run ids (newest first)"
            )

    # -- experiments and instances ----------------------------------------------------------

    def list_experiments(self) -> dict[str, Any]:
        """The experiments that have runs in the store: name, description, number of runs,
        the last run (id, status, started_at). Experiments not run yet are not here: call
        discover_experiments. Next: describe_experiment(name) or list_runs(experiment)."""
        with self._store() as store:
            return {"experiments": watch.experiments(store)}

    def discover_experiments(
        self,
        path: Annotated[
            str | None,
            Field(
                description="a test file or folder relative to the project root; null "
                "searches the whole project"
            ),
        ] = None,
    ) -> dict[str, Any]:
        """The experiments declared in the project's test files (run or not): name,
        description, source (the test file, for create_instance), conditions, repeats, seed,
        and the config schema (each field's type, default, limits, label, choices). Next:
        create_instance to save a configuration of one, then start_run."""
        return {"experiments": self._steering.discover(path)}

    def describe_experiment(self, name: Experiment) -> dict[str, Any]:
        """One experiment: its conditions, config schema (types, defaults, limits), repeats,
        seed and source file as declared in the test files (`declared`, null when no test
        file declares it), and what the store knows (`stored`: its runs, newest first, and
        the config of its newest run; null when never run). Next: create_instance, or
        get_run / get_analysis on one of its runs."""
        declared = [e for e in self._steering.discover(None) if e.get("name") == name]
        with self._store() as store:
            stored = _stored_experiment(store, name)
        if not declared and stored is None:
            raise ToolError(
                f"no experiment {name!r}, neither in the store nor in the project's test "
                "files: call list_experiments or discover_experiments for the names"
            )
        return {"name": name, "declared": declared[0] if declared else None, "stored": stored}

    def list_instances(
        self,
        experiment: Annotated[
            str | None, Field(description="only the instances of this experiment")
        ] = None,
    ) -> dict[str, Any]:
        """The saved instances (named configurations of an experiment): name, experiment,
        source, config, conditions, repeats, seed, description, created_at, updated_at (ISO
        8601 UTC). Next: start_run(instance), update_instance or delete_instance."""
        return {"instances": self._steering.instances(experiment)}

    def create_instance(
        self,
        name: Annotated[str, Field(description="a new name, unique in the store")],
        experiment: Experiment,
        source: Annotated[
            str,
            Field(
                description="the test file declaring the experiment, relative to the project "
                "root (discover_experiments gives it), e.g. tests/test_qa.py"
            ),
        ],
        config: Config = None,
        conditions: Conditions = None,
        repeats: Repeats = None,
        seed: Seed = None,
        description: Annotated[str, Field(description="what this configuration is for")] = "",
    ) -> dict[str, Any]:
        """Save a new instance: a named configuration of an experiment (config values,
        conditions, repeats, seed) that start_run runs. The config is checked against the
        experiment's schema; an error names the field and the rule. Refuses an existing name
        (call update_instance). Returns the saved instance. Next: start_run(name)."""
        if self._instance(name) is not None:
            raise ToolError(
                f"instance {name!r} exists already: call update_instance to change it, or "
                "choose another name"
            )
        return self._steering.save_instance(
            name, experiment, source, config or {}, conditions, repeats, seed, description
        )

    def update_instance(
        self,
        name: InstanceName,
        config: Annotated[
            dict[str, Any] | None,
            Field(
                description="config values to change, field -> value (merged into the "
                "instance's config); null changes none"
            ),
        ] = None,
        conditions: Annotated[
            list[str] | None,
            Field(description="the conditions to run from now on; null keeps them"),
        ] = None,
        repeats: Annotated[
            int | None, Field(ge=1, description="repeats per item; null keeps them")
        ] = None,
        seed: Annotated[int | None, Field(description="the seed; null keeps it")] = None,
        description: Annotated[
            str | None, Field(description="a new description; null keeps it")
        ] = None,
    ) -> dict[str, Any]:
        """Change a saved instance: only the values given change (config values are merged
        field by field); the result is checked against the experiment's config schema as
        create_instance checks it. Returns the saved instance. Next: start_run(name)."""
        current = self._instance(name)
        if current is None:
            raise ToolError(
                f"no instance {name!r}: call list_instances for the names, or create_instance"
            )
        return self._steering.save_instance(
            name,
            current["experiment"],
            current["source"],
            {**(current.get("config") or {}), **(config or {})},
            current.get("conditions") if conditions is None else conditions,
            current.get("repeats") if repeats is None else repeats,
            current.get("seed") if seed is None else seed,
            current.get("description", "") if description is None else description,
        )

    def delete_instance(self, name: InstanceName) -> dict[str, Any]:
        """Delete a saved instance (its runs stay in the store). Returns {deleted: true}, or a
        tool error when there is no such instance."""
        if not self._steering.delete_instance(name):
            raise ToolError(f"no instance {name!r}: call list_instances for the names")
        return {"name": name, "deleted": True}

    def _instance(self, name: str) -> dict[str, Any] | None:
        found = [i for i in self._steering.instances(None) if i.get("name") == name]
        return found[0] if found else None

    # -- runs: start, watch, cancel ----------------------------------------------------------

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


def _stored_experiment(store: ResultStore, name: str) -> dict[str, Any] | None:
    """What the store knows of an experiment, None when it has no run of it."""
    if not store.runs(name):
        return None
    return watch.experiment(store, name)
