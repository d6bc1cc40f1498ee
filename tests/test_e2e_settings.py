"""Settings and paths (issue 16, points 4 and 5): every option from the command line, an
environment variable or the ini file (command line > environment > ini > default), checked
with messages naming where a bad value came from; relative paths against the rootdir; the
space form of a path option refused before it moves the rootdir."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_support import EXPERIMENT, XDIST, query, store_path

TRIALS = 12  # EXPERIMENT: 2 conditions x 3 items x 2 repeats
_TIMEOUT_S = 180  # a whole pytest run, on 2 shared cores that may run 3x slower


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """pytest in a subprocess (in the current directory, with this environment), bounded."""
    return pytester.runpytest_subprocess(*args, timeout=_TIMEOUT_S)


def _experiment_in(pytester: pytest.Pytester, folder: str = "experiments") -> Path:
    """EXPERIMENT in a subfolder of the project, whose root has the ini file."""
    sub = pytester.mkdir(folder)
    (sub / "test_demo.py").write_text(EXPERIMENT)
    return sub


def _reports(root: Path, output: str = "crucible-results") -> list[str]:
    return sorted(p.name for p in (root / output).glob("demo/*/report.*"))


def _assert_usage_error(result: pytest.RunResult, *patterns: str) -> str:
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    for pattern in patterns:
        assert pattern in output, f"{pattern!r} not in output:\n{output}"
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    return output


@pytest.mark.parametrize("xdist", XDIST)
def test_a_run_from_a_subfolder_uses_the_rootdir_store_and_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, calls_file: Path, xdist: list[str]
) -> None:
    pytester.makeini("[pytest]\n")
    sub = _experiment_in(pytester)
    monkeypatch.chdir(sub)
    result = _run(
        pytester,
        "--crucible",
        "--crucible-report=md",
        "--crucible-gate=terse.correct.mean >= 0",
        "--crucible-gate-summary=summary.md",
        *xdist,
    )
    result.assert_outcomes(passed=TRIALS + 1)  # the trials and the gate
    assert store_path(pytester).exists()
    assert _reports(pytester.path) == ["report.md"]
    assert "terse.correct.mean" in (pytester.path / "summary.md").read_text()
    assert not (sub / ".crucible").exists() and not (sub / "crucible-results").exists()
    assert not (sub / "summary.md").exists()


@dataclass(frozen=True)
class IniCase:
    """One kind of option set in the ini file alone, and what shows it took effect."""

    ini: str
    check: Callable[[pytest.Pytester, pytest.RunResult], None]
    args: tuple[str, ...] = ("--crucible", "--crucible-report=md")
    runs_before: int = 0  # runs of the experiment before the one with the ini setting


def _experiments_ran(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=TRIALS)
    assert store_path(pytester).exists()


def _only_markdown(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=TRIALS)
    assert _reports(pytester.path) == ["report.md"]


def _seed_stored(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=TRIALS)
    assert {row["seed"] for row in query(pytester, "SELECT seed FROM runs")} == {11}


def _store_beside_the_ini(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    result.assert_outcomes(passed=TRIALS)
    assert (pytester.path / "data" / "results.db").exists()
    assert not store_path(pytester).exists()


def _gate_failed(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=TRIALS, failed=1)
    result.stdout.fnmatch_lines(["*terse.correct.mean >= 2*"])


def _resumed(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    result.stdout.fnmatch_lines([f"*resuming run * of 'demo': {TRIALS} passed trials*"])


INI_CASES = {
    "flag": IniCase("crucible = true", _experiments_ran, args=("--crucible-report=none",)),
    "choice": IniCase("crucible_report = md", _only_markdown, args=("--crucible",)),
    "integer": IniCase("crucible_seed = 11", _seed_stored),
    "path": IniCase("crucible_store = data/results.db", _store_beside_the_ini),
    "list": IniCase("crucible_gate =\n    terse.correct.mean >= 2", _gate_failed),
    "optional": IniCase("crucible_resume = latest", _resumed, runs_before=1),
}


_SLOW_CASES = ("optional", "choice", "flag")  # two runs, or reports: 10-23 s on a busy machine


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(case, id=kind, marks=[pytest.mark.slow] if kind in _SLOW_CASES else [])
        for kind, case in INI_CASES.items()
    ],
)
def test_an_option_set_in_the_ini_file_alone_takes_effect(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, calls_file: Path, case: IniCase
) -> None:
    sub = _experiment_in(pytester)
    monkeypatch.chdir(sub)  # a relative path in the ini file is relative to its folder
    pytester.makeini("[pytest]\n")  # the rootdir: the project's root
    for _ in range(case.runs_before):
        _run(pytester, "--crucible", "--crucible-report=none").assert_outcomes(passed=TRIALS)
    pytester.makeini(f"[pytest]\n{case.ini}\n")
    result = _run(pytester, *case.args)
    assert "Unknown config option" not in result.stdout.str() + result.stderr.str()
    case.check(pytester, result)


@pytest.mark.parametrize("xdist", XDIST)
def test_an_environment_variable_beats_the_ini_file_and_the_command_line_beats_both(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, calls_file: Path, xdist: list[str]
) -> None:
    pytester.makeini("[pytest]\ncrucible_output = from-ini\ncrucible_report = html\n")
    pytester.makepyfile(test_demo=EXPERIMENT)
    monkeypatch.setenv("CRUCIBLE_OUTPUT", "from-env")
    monkeypatch.setenv("CRUCIBLE_REPORT", "md")
    result = _run(pytester, "--crucible", *xdist)
    result.assert_outcomes(passed=TRIALS)
    result.stdout.fnmatch_lines(["crucible: setting environment variable CRUCIBLE_OUTPUT=from-env"])
    assert _reports(pytester.path, "from-env") == ["report.md"]
    result = _run(pytester, "--crucible", "--crucible-output=from-cli", "--crucible-resume", *xdist)
    assert _reports(pytester.path, "from-cli") == ["report.md"]
    assert not (pytester.path / "from-ini").exists()


_ENV = "environment variable"
BAD_VALUES = {
    "env-choice": ("CRUCIBLE_CACHE", "bogus", f"{_ENV} CRUCIBLE_CACHE=bogus: choose one of off"),
    "env-flag": ("CRUCIBLE_REPLAY", "maybe", f"{_ENV} CRUCIBLE_REPLAY=maybe: give true or false"),
    "env-integer": ("CRUCIBLE_SEED", "x1", f"{_ENV} CRUCIBLE_SEED=x1: give an integer"),
    "env-list": ("CRUCIBLE_MARGIN", "correct", f"{_ENV} CRUCIBLE_MARGIN=correct: expected METRIC="),
    "ini-integer": ("crucible_concurrency", "0", "tox.ini: crucible_concurrency = 0: give the"),
    "ini-flag": (
        "crucible_estimate",
        "maybe",
        "tox.ini: crucible_estimate: invalid truth value",
    ),
    "ini-report": (
        "crucible_report",
        "html,pdf",
        "crucible_report = html,pdf: report format 'pdf'",
    ),
    "ini-list": ("crucible_set", "\n    temperature", "crucible_set = temperature: expected KEY="),
}


@pytest.mark.parametrize(("name", "value", "message"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_a_bad_value_in_the_environment_or_the_ini_file_is_a_usage_error_naming_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    if name.isupper():
        pytester.makeini("[pytest]\n")
        monkeypatch.setenv(name, value)
    else:
        pytester.makeini(f"[pytest]\n{name} = {value}\n")
    result = _run(pytester, "--crucible")
    _assert_usage_error(result, message)
    assert not store_path(pytester).exists()


def _outside_store(pytester: pytest.Pytester) -> Path:
    """A store outside the project that exists (made by a run written with '=')."""
    outside = pytester.path.parent / f"{pytester.path.name}-elsewhere" / "store.db"
    result = _run(pytester, "--crucible", "--crucible-report=none", f"--crucible-store={outside}")
    result.assert_outcomes(passed=TRIALS)
    assert outside.exists()
    return outside


SPACE_FORMS = [
    # an existing store outside the project: two runs, 14 s on a busy machine
    pytest.param(
        "--crucible-store", lambda p: str(_outside_store(p)), id="store", marks=pytest.mark.slow
    ),
    pytest.param("--crucible-output", lambda p: str(p.mkdir("reports-elsewhere")), id="output"),
    pytest.param("--crucible-gate-summary", lambda p: "summary.md", id="gate-summary"),
    pytest.param(
        "--crucible-compare", lambda p: str(p.path / "baselines" / "main.json"), id="compare"
    ),
]


@pytest.mark.parametrize(("flag", "make_value"), SPACE_FORMS)
def test_a_path_option_written_with_a_space_is_refused_with_the_equals_form(
    pytester: pytest.Pytester,
    calls_file: Path,
    flag: str,
    make_value: Callable[[pytest.Pytester], str],
) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_demo=EXPERIMENT)
    value = make_value(pytester)
    result = _run(pytester, "--crucible", flag, value, "--junitxml=junit.xml")
    _assert_usage_error(result, f"write {flag}={value} (with '=', no space)")


def test_the_space_form_in_pytest_addopts_is_refused_too(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, calls_file: Path
) -> None:
    pytester.makepyfile(test_demo=EXPERIMENT)
    outside = _outside_store(pytester)
    monkeypatch.setenv("PYTEST_ADDOPTS", f"--crucible-store {outside}")
    result = _run(pytester, "--crucible")
    _assert_usage_error(result, f"write --crucible-store={outside}")
