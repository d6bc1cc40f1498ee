"""End to end: a run with gates keeps numpy, scipy and pandas out of every pytest process.

The pytest process (the controller) and its xdist workers only check the gates; deciding them
is the analysis child's work. A conftest in the pytester project writes, as each process
unconfigures, the modules it has loaded; the test reads one file per process.
"""

from __future__ import annotations

import json

import pytest

from e2e_support import EXPERIMENT, XDIST

_HEAVY = ("numpy", "scipy", "pandas")
_TIMEOUT_S = 300  # two runs with their analysis children, on a busy machine
_PROBE = """
import json, os, sys

def pytest_unconfigure(config):
    role = getattr(config, "workerinput", {}).get("workerid", "controller")
    with open(os.path.join(str(config.rootpath), f"modules-{role}.json"), "w") as f:
        json.dump(sorted(sys.modules), f)
"""
_GATED = EXPERIMENT.replace("seed=7,", 'seed=7, gates=["terse.correct.mean >= 0.5"],')


def _loaded_modules(pytester: pytest.Pytester) -> dict[str, list[str]]:
    """Each process's loaded modules, by role (controller, gw0, gw1, ...); files removed."""
    loaded = {}
    for path in sorted(pytester.path.glob("modules-*.json")):
        loaded[path.stem.removeprefix("modules-")] = json.loads(path.read_text())
        path.unlink()
    return loaded


def _heavy(modules: list[str]) -> list[str]:
    return [name for name in modules if name.split(".")[0] in _HEAVY]


@pytest.mark.parametrize("xdist", XDIST)
def test_gates_and_a_baseline_comparison_load_no_numpy_scipy_or_pandas_into_pytest(
    pytester: pytest.Pytester, calls_file: object, xdist: list[str]
) -> None:
    roles = ["controller", "gw0", "gw1"] if xdist else ["controller"]
    pytester.makepyfile(test_demo=_GATED, conftest=_PROBE)
    collecting = roles[1:] if xdist else roles  # the xdist controller collects nothing
    common = ("--crucible", "--crucible-report=none", "-p", "no:cacheprovider", *xdist)

    saved = pytester.runpytest_subprocess(
        *common, "--crucible-save-baseline=main", timeout=_TIMEOUT_S
    )
    saved.stdout.fnmatch_lines(["*PASS terse.correct.mean >= 0.5*"])
    runs = {"save-baseline": _loaded_modules(pytester)}

    compared = pytester.runpytest_subprocess(
        *common,
        "--crucible-gate",
        "shout.correct.mean >= 0.2",
        "--crucible-compare=main",
        "--crucible-margin",
        "correct=0.1",
        timeout=_TIMEOUT_S,
    )
    compared.stdout.fnmatch_lines(
        ["*PASS terse.correct.mean >= 0.5*", "*PASS shout.correct.mean >= 0.2*"]
    )
    compared.stdout.fnmatch_lines(["*shout.correct noninferior*"])
    runs["compare"] = _loaded_modules(pytester)

    for run, loaded in runs.items():
        assert sorted(loaded) == roles, run
        for role, modules in loaded.items():
            assert _heavy(modules) == [], (run, role)
        for role in collecting:  # checked the gates at collection: the probe saw that path
            assert "pytest_crucible.review.gates._scope" in loaded[role], (run, role)
    assert "pytest_crucible.review.gates._baseline_store" in runs["compare"]["controller"]
