"""The MCP tools on experiments and instances: the experiments stored and those declared in
the project's test files, and the saved instances (named configurations) created, changed and
deleted through the steering (`steer.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from pytest_crucible.console import watch
from pytest_crucible.console._mcp_tool_base import ToolBase
from pytest_crucible.console._mcp_tool_params import (
    Conditions,
    Config,
    Experiment,
    InstanceName,
    Repeats,
    Seed,
)
from pytest_crucible.store import ResultStore

__all__ = ["ExperimentTools"]


class ExperimentTools(ToolBase):
    """The tools on experiments and instances."""

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


def _stored_experiment(store: ResultStore, name: str) -> dict[str, Any] | None:
    """What the store knows of an experiment, None when it has no run of it."""
    if not store.runs(name):
        return None
    return watch.experiment(store, name)
