"""Changing things from outside pytest: instances saved, runs started and cancelled.

`Steering` is what the dashboard and the MCP server call. An instance is a named, saved
configuration of an experiment (config values, conditions, repeats, seed), validated against
the experiment's config schema as discovered in its test file (discovery.py) and kept in the
store. Starting an instance spawns `python -m pytest --crucible` in the project root with the
experiment's node ids (built here, never taken from a client) and its values (launcher.py).
Cancelling stores a cancel request, which the run's session polls; a child started here that
has not stopped `cancel_grace_s` after the request gets SIGINT, then SIGTERM.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_crucible.console.discovery import (
    DISCOVERY_TIMEOUT_S,
    discover_experiments,
    inside_root,
)
from pytest_crucible.console.errors import ConsoleError
from pytest_crucible.console.launcher import SIGNAL_WAIT_S, Launch, Launcher, launch_as_dict
from pytest_crucible.declare.config import schema_from_description
from pytest_crucible.errors import ConfigError
from pytest_crucible.store import ResultStore, open_store
from pytest_crucible.store.console_records import Instance
from pytest_crucible.store.locations import is_database_url, masked, masked_words, side_name

__all__ = ["CANCEL_GRACE_S", "Steering"]

CANCEL_GRACE_S = 60.0  # how long a cancelled child may take to stop before it is signalled
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
_RUNS_SEARCHED = 10  # newest runs of an experiment searched for a launch's run


class Steering:
    """Instances, runs started and cancelled, for the store at `store_location` (unmasked:
    it reaches child runs, never a client) and the experiments under `project_root`."""

    def __init__(
        self,
        store_location: str,
        project_root: Path,
        *,
        cancel_grace_s: float = CANCEL_GRACE_S,
        signal_wait_s: float = SIGNAL_WAIT_S,
        discovery_timeout_s: float = DISCOVERY_TIMEOUT_S,
    ) -> None:
        self.location = str(store_location)
        self.root = Path(project_root).resolve()
        self.cancel_grace_s = cancel_grace_s
        self.discovery_timeout_s = discovery_timeout_s
        # a test file's experiments by (file, mtime, size): saving instances of one
        # experiment one after another discovers it once; starting a run always afresh
        self._discovered: dict[tuple[str, int, int], list[dict[str, Any]]] = {}
        # the store's side folder, known without opening it: a dashboard that only reads
        # must not create a store where none is yet
        side = (
            self.root / ".crucible"
            if is_database_url(self.location)
            else Path(self.location).absolute().parent
        )
        folder = side / f"{side_name(self.location)}.launches"
        self.launcher = Launcher(self.root, folder, self._run_of_launch, signal_wait_s)

    # -- experiments in test files

    def discover(self, path: str | None = None) -> list[dict[str, Any]]:
        """The experiments declared in the test files under `path` (default: the root)."""
        return discover_experiments(self.root, path, timeout_s=self.discovery_timeout_s)

    # -- instances

    def save_instance(
        self,
        name: str,
        experiment: str,
        source: str,
        config: dict[str, Any] | None = None,
        conditions: list[str] | None = None,
        repeats: int | None = None,
        seed: int | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        """Create or replace the instance `name`, checked against the experiment as its
        test file declares it now; ConsoleError names the field and the rule broken."""
        _check_name(name)
        if not isinstance(config, dict | None) or not isinstance(source, str):
            raise ConsoleError(
                f"instance {name}: config must be an object of field values and source the "
                f"test file's path, e.g. config={{'temperature': 0.7}}, "
                "source='tests/test_qa.py'"
            )
        source = self._source(source)
        declared = self._experiment(source, experiment, fresh=False)
        where = f"instance {name} of experiment {experiment}"
        now = _now()
        instance = Instance(
            name=name,
            experiment=experiment,
            source=source,
            config=_checked_config(declared, config or {}, where),
            conditions=_checked_conditions(declared, conditions, where),
            repeats=_checked_count("repeats", repeats, where, minimum=1),
            seed=_checked_count("seed", seed, where, minimum=None),
            description=str(description),
            created_at=now,
            updated_at=now,
        )
        with self._store() as store:
            store.save_instance(instance)
            saved = store.instance(name)
        return asdict(saved or instance)

    def instances(self, experiment: str | None = None) -> list[dict[str, Any]]:
        with self._store() as store:
            return [asdict(instance) for instance in store.instances(experiment)]

    def delete_instance(self, name: str) -> bool:
        with self._store() as store:
            return store.delete_instance(name)

    # -- runs

    def start_run(self, instance_name: str) -> dict[str, Any]:
        """Start a run of the instance: a child `pytest --crucible` in the project root."""
        instance = self._instance(instance_name)
        source = self._source(instance.source)
        declared = self._experiment(source, instance.experiment, fresh=True)
        where = f"instance {instance.name} of experiment {instance.experiment}"
        # checked again: the test file may have changed since the instance was saved
        config = _checked_config(declared, instance.config, where)
        conditions = _checked_conditions(declared, instance.conditions, where)
        arguments = _pytest_arguments(declared, config, conditions, instance)
        environment = {"CRUCIBLE_STORE": self.location, "CRUCIBLE_INSTANCE": instance.name}
        launch = self.launcher.start(
            arguments, environment, instance=instance.name, experiment=instance.experiment
        )
        return {
            "launch_id": launch.launch_id,
            "pid": launch.pid,
            "run_id": launch.run_id,
            "command": shlex.join(masked_words(launch.command)),
        }

    def launches(self) -> list[dict[str, Any]]:
        """The child runs this server (or an earlier one on this store) started."""
        return [
            launch_as_dict(launch, self.launcher.output_tail(launch.launch_id))
            | {"command": shlex.join(masked_words(launch.command))}
            for launch in self.launcher.launches()
        ]

    def cancel_run(
        self, run_id: str, reason: str = "cancelled from the dashboard"
    ) -> dict[str, Any]:
        """Ask the run to stop: no new trials start, what finished stays stored, the run
        is marked cancelled (and can be resumed). Works for any running run of the store;
        a child started here is also signalled if it has not stopped in time."""
        with self._store() as store:
            run = store.run(run_id)
            if run is None:
                raise ConsoleError(
                    f"no run {run_id!r} in the store {masked(self.location)}; "
                    "`crucible runs` lists the runs"
                )
            if not store.request_cancel(run_id, reason):
                raise ConsoleError(
                    f"run {run_id} is {run.status}, not running: nothing to cancel"
                    + _resume_hint(run_id, run.status)
                )
        launch = self.launcher.of_run(run_id)
        if launch is not None:
            self.launcher.stop_later(launch.launch_id, self.cancel_grace_s)
        return {
            "run_id": run_id,
            "cancel_requested": True,
            "reason": reason,
            "launch_id": None if launch is None else launch.launch_id,
            "signalled_after_s": None if launch is None else self.cancel_grace_s,
        }

    # -- helpers

    @contextmanager
    def _store(self) -> Iterator[ResultStore]:
        """A store opened for one operation (the server's threads never share one)."""
        store = open_store(self.location, side_folder=self.root / ".crucible")
        try:
            yield store
        finally:
            store.close()

    def _source(self, source: str) -> str:
        relative = inside_root(self.root, source)
        if not (self.root / relative).is_file() or relative.suffix != ".py":
            raise ConsoleError(
                f"source {source!r}: not a Python test file under the project root; "
                "give the test file that declares the experiment, e.g. tests/test_qa.py"
            )
        return relative.as_posix()

    def _experiment(self, source: str, name: str, *, fresh: bool) -> dict[str, Any]:
        found = self._discover_file(source, fresh=fresh)
        for experiment in found:
            if experiment["name"] == name:
                return experiment
        declared = ", ".join(e["name"] for e in found) or "none"
        raise ConsoleError(
            f"no experiment {name!r} in {source}; the experiments declared there: {declared}"
        )

    def _discover_file(self, source: str, *, fresh: bool) -> list[dict[str, Any]]:
        state = (self.root / source).stat()
        key = (source, state.st_mtime_ns, state.st_size)
        if fresh or key not in self._discovered:
            self._discovered[key] = self.discover(source)
        return self._discovered[key]

    def _instance(self, name: str) -> Instance:
        with self._store() as store:
            instance = store.instance(name)
            if instance is None:
                known = ", ".join(i.name for i in store.instances()) or "none yet"
                raise ConsoleError(
                    f"no instance {name!r}; the instances are: {known} (save one first)"
                )
        return instance

    def _run_of_launch(self, launch: Launch) -> str | None:
        """The run whose environment record names this launch (CRUCIBLE_LAUNCH)."""
        with self._store() as store:
            for run in store.runs(launch.experiment)[:_RUNS_SEARCHED]:
                environment = store.run_record(run.run_id).environment
                if isinstance(environment, dict) and environment.get("launch") == launch.launch_id:
                    return run.run_id
        return None


def _pytest_arguments(
    declared: dict[str, Any],
    config: dict[str, Any],
    conditions: list[str] | None,
    instance: Instance,
) -> list[str]:
    """The child's pytest arguments: the experiment's trial functions, its values."""
    name = declared["name"]
    arguments = [*declared["node_ids"], "--crucible", "-p", "no:cacheprovider"]
    for field_name, value in config.items():
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            arguments.append(f"--crucible-set={name}.{field_name}={text}")
    if conditions is not None:
        arguments.append(f"--crucible-conditions={','.join(conditions)}")
    if instance.repeats is not None:
        arguments.append(f"--crucible-repeats={instance.repeats}")
    if instance.seed is not None:
        arguments.append(f"--crucible-seed={instance.seed}")
    return arguments


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConsoleError(
            f"instance name {name!r}: letters, digits, '_', '-' or '.' (at most 100), "
            "starting with a letter or digit, e.g. 'qa-hot'"
        )


def _checked_config(declared: dict[str, Any], values: dict[str, Any], where: str) -> dict[str, Any]:
    """The values given, checked (and typed) by the experiment's ConfigSchema."""
    description = declared["config_schema"]
    if description["kind"] == "none" and values:
        raise ConsoleError(
            f"{where}: the experiment has no config schema, so {sorted(values)} cannot be "
            "set; declare config=crucible.ConfigSchema(...) in its test file"
        )
    try:
        resolved = schema_from_description(description).validate(values, where)
    except ConfigError as exc:
        raise ConsoleError(str(exc)) from None
    return {name: resolved[name] for name in values}


def _checked_conditions(
    declared: dict[str, Any], conditions: list[str] | None, where: str
) -> list[str] | None:
    if conditions is None:
        return None
    known = declared["conditions"]
    if isinstance(conditions, str) or not conditions:
        raise ConsoleError(
            f"{where}: conditions must be a non-empty list of the experiment's conditions "
            f"({', '.join(known)}), or null for all of them"
        )
    unknown = [c for c in conditions if c not in known]
    if unknown:
        raise ConsoleError(
            f"{where}: no condition {unknown[0]!r}; the conditions are {', '.join(known)}"
        )
    return [c for c in known if c in conditions]  # declared order, no repeats


def _checked_count(field_name: str, value: Any, where: str, *, minimum: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConsoleError(f"{where}: {field_name}={value!r} must be an integer or null")
    if minimum is not None and value < minimum:
        raise ConsoleError(f"{where}: {field_name}={value} must be >= {minimum}")
    return value


def _resume_hint(run_id: str, status: str) -> str:
    if status in ("interrupted", "cancelled"):
        return f"; resume it with `pytest --crucible --crucible-resume={run_id}`"
    return ""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
