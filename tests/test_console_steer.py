"""Steering runs from outside pytest (issue 18): experiments discovered in test files,
instances checked against their config schema, runs started as child pytest processes and
cancelled through the store, and nothing started from outside the project root.

Every test runs real child pytest processes on a real SQLite store in tmp_path; waits are on
events (a file appearing, a launch's state), each bounded by a generous deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel
from pydantic import Field as PydanticField

from pytest_crucible.console.errors import ConsoleError
from pytest_crucible.console.steer import Steering
from pytest_crucible.declare.config import describe_schema, schema_from_description
from pytest_crucible.declare.experiment import Experiment
from pytest_crucible.errors import ConfigError
from pytest_crucible.store import open_store

DEADLINE_S = 240.0  # generous: a shared machine runs 3x slower when busy

# Each trial records the config it ran with. When STEER_GATE names a file, the trials of
# item b write STEER_GATE.started and wait for that file (item a's first trial is stored
# first: a run is in the store from its first stored trial on).
TINY = """
import os, pathlib, time
import pytest_crucible as crucible

tiny = crucible.Experiment(
    name="tiny",
    description="two answers, three ways",
    dataset=[{"id": "a", "input": "1"}, {"id": "b", "input": "2"}],
    conditions={"terse": str, "verbose": lambda x: x * 2, "other": str},
    baseline="terse",
    metrics=["temperature"],
    repeat=2,
    seed=5,
    config=crucible.ConfigSchema(
        temperature=crucible.Field(
            "float", default=0.5, min=0.0, max=2.0, label="Temperature",
            description="sampling temperature",
        ),
        style=crucible.Field("string", default="plain", choices=("plain", "fancy")),
    ),
)

@tiny.trial
def test_tiny(condition, item, trial):
    gate = os.environ.get("STEER_GATE")
    if gate and item.id == "b":
        pathlib.Path(gate + ".started").touch()
        while not os.path.exists(gate):
            time.sleep(0.05)
    condition(item.input)
    trial.record(temperature=trial.config["temperature"])
"""


def wait_for(what: str, found: Callable[[], Any]) -> Any:
    """`found()` once it is truthy; fails naming `what` after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {DEADLINE_S:.0f} s for {what}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "tests").mkdir(parents=True)
    (root / "tests" / "test_tiny.py").write_text(TINY)
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


@pytest.fixture
def steering(project: Path) -> Iterator[Steering]:
    steering = Steering(str(project / ".crucible" / "crucible.db"), project)
    yield steering
    stop_children(steering)


def stop_children(steering: Steering) -> None:
    """After a failed test: no child run of it is left running."""
    for launch in steering.launches():
        if launch["state"] == "running":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launch["pid"], signal.SIGKILL)


def launch_of(steering: Steering, launch_id: str) -> dict[str, Any]:
    return next(x for x in steering.launches() if x["launch_id"] == launch_id)


def exited(steering: Steering, launch_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        launch = launch_of(steering, launch_id)
        return launch if launch["state"] == "exited" else None

    launch: dict[str, Any] = wait_for(f"launch {launch_id} to exit", done)
    return launch


def test_discovery_lists_the_experiment_with_its_config_schema(steering: Steering) -> None:
    [experiment] = steering.discover()
    assert experiment["name"] == "tiny"
    assert experiment["description"] == "two answers, three ways"
    assert experiment["source"] == "tests/test_tiny.py"
    assert experiment["node_ids"] == ["tests/test_tiny.py::test_tiny"]
    assert experiment["conditions"] == ["terse", "verbose", "other"]
    assert (experiment["repeats"], experiment["seed"], experiment["items"]) == (2, 5, 2)
    fields = experiment["config_schema"]["fields"]
    assert fields["temperature"] == {
        "type": "float",
        "default": 0.5,
        "min": 0.0,
        "max": 2.0,
        "label": "Temperature",
        "description": "sampling temperature",
        "required": False,
        "choices": None,
    }
    assert fields["style"]["choices"] == ["plain", "fancy"]
    assert steering.discover("tests/test_tiny.py") == [experiment]


def test_a_test_file_that_does_not_import_is_named(project: Path, steering: Steering) -> None:
    (project / "tests" / "test_broken.py").write_text("raise RuntimeError('no model key')\n")
    with pytest.raises(ConsoleError, match=r"test_broken\.py.*no model key"):
        steering.discover()


BAD_VALUES = [
    ({"config": {"temperature": 5}}, r"'temperature' = 5.0 is above max 2.0"),
    ({"config": {"temperature": "hot"}}, r"'temperature' must be of type float, cannot read"),
    ({"config": {"style": "loud"}}, r"'style' = 'loud' is not one of \['plain', 'fancy'\]"),
    ({"config": {"top_k": 3}}, r"unknown config field\(s\) \['top_k'\]"),
    ({"conditions": ["terse", "nope"]}, r"no condition 'nope'; the conditions are terse"),
    ({"repeats": 0}, r"repeats=0 must be >= 1"),
    ({"seed": "x"}, r"seed='x' must be an integer"),
    ({"config": ["temperature", 1]}, r"config must be an object of field values"),
]


def test_an_instance_with_a_bad_value_is_refused_naming_the_field_and_the_rule(
    steering: Steering,
) -> None:
    for values, message in BAD_VALUES:
        with pytest.raises(ConsoleError, match=message):
            steering.save_instance("hot", "tiny", "tests/test_tiny.py", **values)
    with pytest.raises(ConsoleError, match=r"no experiment 'tinyx' in tests/test_tiny\.py"):
        steering.save_instance("hot", "tinyx", "tests/test_tiny.py")
    with pytest.raises(ConsoleError, match="instance name 'a b'"):
        steering.save_instance("a b", "tiny", "tests/test_tiny.py")
    assert steering.instances() == []
    with pytest.raises(ConsoleError, match="no instance 'hot'"):
        steering.start_run("hot")


def test_start_run_runs_the_instance_with_its_config_and_conditions(
    project: Path, steering: Steering
) -> None:
    saved = steering.save_instance(
        "hot",
        "tiny",
        "tests/test_tiny.py",
        config={"temperature": "1.5"},  # text from a form, typed by the schema
        conditions=["verbose", "other"],
        repeats=1,
        seed=3,
        description="hot sampling",
    )
    assert saved["config"] == {"temperature": 1.5}
    assert [i["name"] for i in steering.instances("tiny")] == ["hot"]

    started = steering.start_run("hot")
    assert "--crucible-set=tiny.temperature=1.5" in started["command"]
    launch = exited(steering, started["launch_id"])
    assert launch["exit_code"] == 0, launch["output_tail"]
    run_id = launch["run_id"]

    store = open_store(project / ".crucible" / "crucible.db", readonly=True)
    try:
        run = store.run(run_id)
        assert run is not None and run.status == "completed"
        header = store.run_header(run_id)
        assert header["config"] == {"temperature": 1.5, "style": "plain"}
        assert (header["conditions"], header["repeat"], header["seed"]) == (
            ["verbose", "other"],
            1,
            3,
        )
        trials = store.stored_trials(run_id)
        assert sorted(t["condition"] for t in trials) == ["other", "other", "verbose", "verbose"]
        assert {t["metrics"]["temperature"] for t in trials} == {1.5}
        assert store.run_record(run_id).environment["instance"] == "hot"
    finally:
        store.close()
    # a server started again on the same store still lists the launch
    again = Steering(str(project / ".crucible" / "crucible.db"), project)
    assert launch_of(again, started["launch_id"])["run_id"] == run_id


def read_run(project: Path, run_id: str) -> tuple[str, list[str], str | None]:
    """A stored run's status, its trials (item-repeat) and its cancel request."""
    store = open_store(project / ".crucible" / "crucible.db", readonly=True)
    try:
        run = store.run(run_id)
        assert run is not None
        trials = sorted(f"{t['item_id']}-r{t['repeat']}" for t in store.stored_trials(run_id))
        return run.status, trials, store.cancel_request(run_id)
    finally:
        store.close()


def start_blocked(steering: Steering, gate: Path) -> tuple[str, str]:
    """Start the instance `slow` and wait until a trial of item b blocks on `gate`: its
    launch id and run id."""
    steering.save_instance("slow", "tiny", "tests/test_tiny.py", conditions=["terse"])
    launch_id = steering.start_run("slow")["launch_id"]
    wait_for("a trial to block", Path(f"{gate}.started").exists)
    run_id = wait_for("the run id", lambda: launch_of(steering, launch_id)["run_id"])
    return launch_id, run_id


def test_cancel_stops_a_running_launched_run_gracefully(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "release"
    monkeypatch.setenv("STEER_GATE", str(gate))
    steering = Steering(str(project / ".crucible" / "crucible.db"), project)
    try:
        launch_id, run_id = start_blocked(steering, gate)
        answer = steering.cancel_run(run_id, reason="enough")
        assert answer["cancel_requested"] and answer["launch_id"] == launch_id
        wait_for(
            "the session to see the request",
            lambda: "cancel requested (enough)" in steering.launcher.output_tail(launch_id, 50),
        )
        gate.touch()  # the running trial finishes; no other starts
        launch = exited(steering, launch_id)
    finally:
        gate.touch()
        stop_children(steering)
    assert (launch["exit_code"], launch["stopped_by"]) == (2, None), launch["output_tail"]
    # a-r0, then b-r0 (blocked, released after the request); no other trial starts
    assert read_run(project, run_id) == ("cancelled", ["a-r0", "b-r0"], "enough")
    with pytest.raises(ConsoleError, match=rf"run {run_id} is cancelled, not running.*resume"):
        steering.cancel_run(run_id)


def test_a_cancelled_child_that_does_not_stop_in_time_is_interrupted(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = tmp_path / "release"  # never released: the blocked trial would wait for ever
    monkeypatch.setenv("STEER_GATE", str(gate))
    steering = Steering(
        str(project / ".crucible" / "crucible.db"), project, cancel_grace_s=1.0, signal_wait_s=10
    )
    try:
        launch_id, run_id = start_blocked(steering, gate)
        steering.cancel_run(run_id, reason="enough")
        launch = exited(steering, launch_id)
    finally:
        gate.touch()
        stop_children(steering)
    # SIGINT first; SIGTERM too when pytest had not ended 10 s later (seen on a busy machine):
    # the session takes it as a second Ctrl-C (session/termination.py), and the run is still
    # marked (before, a SIGTERM killed pytest and left it "running")
    assert launch["stopped_by"] in ("SIGINT", "SIGINT, SIGTERM"), launch["output_tail"]
    status, trials, request = read_run(project, run_id)
    assert (trials, request) == (["a-r0"], "enough")  # what finished is kept
    assert status in ("cancelled", "interrupted")


def test_a_run_started_elsewhere_is_cancelled_through_the_store_never_signalled(
    project: Path, tmp_path: Path, steering: Steering
) -> None:
    gate = tmp_path / "release"
    output = tmp_path / "terminal.log"
    with output.open("w") as terminal:
        child = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "--crucible",
                "--crucible-conditions=terse",
                "-p",
                "no:cacheprovider",
                "tests",
            ],
            cwd=project,
            stdout=terminal,
            stderr=subprocess.STDOUT,
            env={
                **os.environ,
                "STEER_GATE": str(gate),
                "CRUCIBLE_STORE": str(project / ".crucible" / "crucible.db"),
            },
        )
    try:
        wait_for("a trial to block", Path(f"{gate}.started").exists)
        runs = wait_for("the run", lambda: steering_runs(project))
        answer = steering.cancel_run(runs[0], reason="from the dashboard")
        assert answer["launch_id"] is None  # not ours: only the store's request
        wait_for("the session to see it", lambda: "cancel requested" in output.read_text())
        gate.touch()
        assert child.wait(timeout=DEADLINE_S) == 2, output.read_text()
    finally:
        gate.touch()
        if child.poll() is None:
            child.kill()
    assert read_run(project, runs[0])[0] == "cancelled"


def steering_runs(project: Path) -> list[str]:
    store = open_store(project / ".crucible" / "crucible.db")
    try:
        return [run.run_id for run in store.runs()]
    finally:
        store.close()


def test_a_source_outside_the_project_root_is_refused(
    project: Path, tmp_path: Path, steering: Steering
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "test_tiny.py").write_text(TINY)
    (project / "tests" / "test_link.py").symlink_to(outside / "test_tiny.py")
    for source in (
        "../elsewhere/test_tiny.py",
        str(outside / "test_tiny.py"),
        "tests/test_link.py",
    ):
        with pytest.raises(ConsoleError, match="outside the project root"):
            steering.save_instance("evil", "tiny", source)
        with pytest.raises(ConsoleError, match="outside the project root"):
            steering.discover(source)
    assert steering.instances() == []
    assert steering.launches() == []


def test_crucible_conditions_naming_no_condition_is_a_usage_error(project: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--crucible",
            "--crucible-conditions=nope",
            "-p",
            "no:cacheprovider",
            "tests",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        env={**os.environ, "CRUCIBLE_STORE": str(project / "s.db")},
    )
    assert done.returncode == 4, done.stdout + done.stderr
    assert "--crucible-conditions nope: experiment tiny has none of these conditions" in (
        done.stdout + done.stderr
    )


@pytest.mark.slow  # a PostgreSQL database made and dropped, a run against it
def test_no_secret_reaches_a_launch_its_record_or_its_command(
    project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    api_key = "sk-steer-SECRET-5b0e7c"
    monkeypatch.setenv("OPENAI_API_KEY", api_key)
    password = urlsplit(postgres_url).password
    assert password
    steering = Steering(postgres_url, project)
    try:
        steering.save_instance("pg", "tiny", "tests/test_tiny.py", conditions=["terse"], repeats=1)
        started = steering.start_run("pg")
        launch = exited(steering, started["launch_id"])
    finally:
        stop_children(steering)
    assert launch["exit_code"] == 0, launch["output_tail"]
    assert launch["run_id"] is not None  # the run went to the database, named by the variable
    # the launch's record and its output log (the session masks the URL it prints)
    on_disk = "".join(p.read_text() for p in project.glob(".crucible/*.launches/*"))
    shown = json.dumps([started, steering.launches(), steering.instances()]) + on_disk
    assert on_disk and "pytest" in shown
    assert password not in shown and api_key not in shown


def test_a_pydantic_config_is_described_and_checked_like_a_schema() -> None:
    class Settings(BaseModel):
        temperature: float = PydanticField(0.5, ge=0, le=2, title="Temperature")
        style: Literal["plain", "fancy"] = "plain"
        top_k: int | None = None

    described = describe_schema(Settings)
    fields = described["fields"]
    assert described["kind"] == "pydantic" and "properties" in described["json_schema"]
    assert fields["temperature"] | {"description": ""} == {
        "type": "float",
        "default": 0.5,
        "min": 0,
        "max": 2,
        "label": "Temperature",
        "description": "",
        "required": False,
        "choices": None,
    }
    assert (fields["style"]["choices"], fields["top_k"]["type"]) == (["plain", "fancy"], "integer")
    schema = schema_from_description(described)
    assert schema.validate({"temperature": "1.5", "top_k": 3}, "here")["temperature"] == 1.5
    with pytest.raises(ConfigError, match=r"'temperature' = 3\.0 is above max 2"):
        schema.validate({"temperature": 3}, "here")


def test_a_plan_runs_the_chosen_conditions_and_repeats() -> None:
    """What --crucible-conditions and --crucible-repeats make of an experiment's plan."""
    experiment = Experiment(
        name="pure",
        dataset=[{"id": "a", "input": "1"}, {"id": "b", "input": "2"}],
        conditions={"terse": str, "verbose": str, "other": str},
        baseline="terse",
        repeat=2,
    )
    whole = experiment.plan(seed=1)
    part = experiment.plan(seed=1, conditions=("other", "verbose", "nope"), repeat=3)
    assert [(t.condition, t.item.id, t.repeat) for t in part.trials][:5] == [
        ("verbose", "a", 0),  # the experiment's order of conditions, whatever the option's
        ("other", "a", 0),
        ("verbose", "b", 0),
        ("other", "b", 0),
        ("verbose", "a", 1),
    ]
    header = part.header()
    assert (header["conditions"], header["repeat"], header["baseline"]) == (
        ["verbose", "other"],
        3,
        None,  # the baseline was left out
    )
    assert (header["total_trials"], whole.header()["total_trials"]) == (12, 12)
    assert part.fingerprint != whole.fingerprint
    # a trial's key does not depend on what else runs: resume finds it either way
    assert {t.key for t in part.trials if t.repeat < 2} <= {t.key for t in whole.trials}
    assert experiment.plan(seed=1, conditions=("terse", "verbose", "other")) == whole
    with pytest.raises(ConfigError, match="has none of these conditions; its conditions are"):
        experiment.plan(seed=1, conditions=("nope",))
