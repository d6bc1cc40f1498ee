"""The session's two roles: a controller and a worker, decided once per process; the trial
parameter keeps one type; pytest's internals are reached in session/internals.py only."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import pytest_crucible
from e2e_support import EXPERIMENT, XDIST
from pytest_crucible.session.link import WorkerResults

_PACKAGE = Path(pytest_crucible.__file__).parent

# Each process notes the roles registered in it, and each trial item notes its parameter's
# type and identity at collection, at set-up, in its call and after its teardown.
_PROBE = """
import json, os, pytest

def _note(config, record):
    role = getattr(config, "workerinput", {}).get("workerid", "main")
    with open(os.path.join(str(config.rootpath), f"probe-{role}.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\\n")

def _param(item, when):
    value = item.callspec.params["_crucible_trial"]
    running = getattr(value, "active", None) is not None
    return {"item": item.nodeid, "when": when, "type": type(value).__name__,
            "id": id(value), "running": running}

@pytest.hookimpl(trylast=True)  # after the plugin's own
def pytest_configure(config):
    plugins = config.pluginmanager
    _note(config, {"worker": plugins.has_plugin("crucible-worker"),
                   "controller": plugins.has_plugin("crucible-controller")})

def pytest_collection_modifyitems(config, items):
    for item in items:
        _note(config, _param(item, "collected"))

@pytest.hookimpl(trylast=True)
def pytest_runtest_setup(item):
    _note(item.config, _param(item, "setup"))

def pytest_runtest_call(item):
    _note(item.config, _param(item, "call"))

@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    yield
    _note(item.config, _param(item, "teardown"))
"""


def _probes(pytester: pytest.Pytester) -> dict[str, list[dict[str, object]]]:
    return {
        path.stem.removeprefix("probe-"): [
            json.loads(line) for line in path.read_text().splitlines()
        ]
        for path in sorted(pytester.path.glob("probe-*.jsonl"))
    }


@pytest.mark.parametrize("xdist", XDIST)
def test_each_process_has_its_roles_and_the_trial_parameter_keeps_one_type(
    pytester: pytest.Pytester, calls_file: object, xdist: list[str]
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT, conftest=_PROBE)
    result = pytester.runpytest_subprocess(
        "--crucible", "--crucible-report=none", "-p", "no:cacheprovider", *xdist, timeout=300
    )
    result.assert_outcomes(passed=12)
    probes = _probes(pytester)
    # the roles: the xdist controller runs nothing, a worker stores nothing; one process
    # without xdist is both
    expected = (
        {"main": (False, True), "gw0": (True, False), "gw1": (True, False)}
        if xdist
        else {"main": (True, True)}
    )
    roles = {name: (r[0]["worker"], r[0]["controller"]) for name, r in probes.items()}
    assert roles == expected
    # each item's parameter: one object, a TrialSlot, running only from set-up to teardown
    seen: dict[tuple[str, str], list[dict[str, object]]] = {}
    for process, records in probes.items():
        for record in records[1:]:
            seen.setdefault((process, str(record["item"])), []).append(record)
    ran = [records for records in seen.values() if len(records) > 1]  # collected and run
    assert len(ran) == 12
    for records in ran:
        assert {r["type"] for r in records} == {"TrialSlot"}
        assert len({r["id"] for r in records}) == 1
        running = {str(r["when"]): r["running"] for r in records}
        assert running == {"collected": False, "setup": True, "call": True, "teardown": False}


def test_worker_results_round_trip_through_workeroutput() -> None:
    results = WorkerResults(
        unreported=[{"trial": {"experiment": "demo"}, "header": None, "worker": "gw1"}],
        collected={"demo": 3},
        estimates={"demo": "12 trials"},
    )
    assert WorkerResults.from_json(json.loads(json.dumps(results.to_json()))) == results
    assert WorkerResults.from_json({}) == WorkerResults()  # a worker that died early


def _reaches_in(path: Path) -> list[str]:
    """Places in `path` that use a private name of another object: `x._name`, or
    getattr/setattr with a "_name" (other than self, cls and super())."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        name = None
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            own = isinstance(owner, ast.Name) and owner.id in ("self", "cls")
            inherited = isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super"
            name = None if own or inherited else node.attr
        elif isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("getattr", "setattr"):
            argument = node.args[1] if len(node.args) > 1 else None
            if isinstance(argument, ast.Constant) and _private(str(argument.value)):
                name = str(argument.value)
        if name is not None:
            found.append(f"{path.name}:{node.lineno} {name}")
    return found


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_only_session_internals_reach_into_pytest() -> None:
    """The private attributes of pytest's objects are used in session/internals.py, and in
    the two places of the capture that install the routed streams (output.py)."""
    allowed = {"internals.py", "output.py"}
    files = [*sorted((_PACKAGE / "session").glob("*.py")), _PACKAGE / "plugin.py"]
    reaching = [place for path in files if path.name not in allowed for place in _reaches_in(path)]
    assert reaching == []
    assert _reaches_in(_PACKAGE / "session" / "internals.py")  # the check sees what it seeks
