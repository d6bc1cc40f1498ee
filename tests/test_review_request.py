"""The analysis child's typed request and answers (issue 15, point 4): each has one JSON form
that validates back into the same record, and the session end's modules import downward."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import pytest

import pytest_crucible
from pytest_crucible.cli import main
from pytest_crucible.review.gates._result import GateResult
from pytest_crucible.review.gates.decide import GateSettings
from pytest_crucible.review.request import Review, ReviewRequest

_PACKAGE = Path(pytest_crucible.__file__).parent


def _through_a_pipe(data: dict[str, object]) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(json.dumps(data))
    return loaded


def test_a_review_request_round_trips_through_its_json_form() -> None:
    request = ReviewRequest(
        store="postgresql://lab:secret@db.example:5432/results",  # the child opens it
        side_folder=Path("/work/.crucible"),
        run_ids=("ab12cd34", "ef56ab78"),
        gating=GateSettings(
            gates=("few_shot.correct.mean >= 0.8",),
            compare="main",
            margins={"correct": 0.02, "*": 0.5},
            strict=True,
            save_baseline="next",
            baselines_dir=Path(".crucible/baselines"),
        ),
        reports=Path("/work/crucible-results"),
        formats=("html", "md"),
        gate_summary=Path("summary.md"),
    )
    assert ReviewRequest.from_json(_through_a_pipe(request.to_json())) == request
    bare = ReviewRequest("s.db")
    assert ReviewRequest.from_json(_through_a_pipe(bare.to_json())) == bare


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"run_ids": []}, "missing field store"),
        ({"store": "s.db", "runs": []}, "unknown field(s) runs"),
        ({"store": "s.db", "run_ids": "ab12cd34"}, "run_ids: expected a list, got str"),
        ({"store": "s.db", "gating": {"strict": "yes"}}, "gating.strict: expected bool"),
        ({"store": "s.db", "gating": {"margins": {"correct": "x"}}}, "margins.correct"),
        ({"store": "s.db", "reports": 3}, "reports: expected Path, got int"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_field(
    data: dict[str, object], says: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        ReviewRequest.from_json(data)


def test_a_review_round_trips_with_its_gates_typed() -> None:
    gate = GateResult(
        "few_shot.correct.mean >= 0.8",
        passed=False,
        verdict="fail",
        explanation="mean 0.74 < 0.8",
        test="estimate of 3 items' means, Wilson",
        observed=0.74,
        threshold=0.8,
        p_value=math.nan,  # sent as null, as the stored analysis has it
        warning="only 3 items",
        details={"ci": [0.5, 0.9], "n_items": 3},
    )
    review = Review("ab12cd34", "table", (gate,), "gates: 1 failed", "## Gates", "out/", None)
    sent = review.to_json()
    assert sent["gates"] == [gate.to_dict()]  # the JSON line `crucible analyse` prints
    back = Review.from_json(_through_a_pipe(sent))
    assert back.to_json() == sent
    assert back.gates[0].status == "FAIL" and back.gate_failed
    with pytest.raises(ValueError, match="passed: expected bool"):
        Review.from_json({**sent, "gates": [{**gate.to_dict(), "passed": "no"}]})


def test_crucible_analyse_refuses_a_bad_margin_before_opening_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.db"
    status = main(["--store", str(missing), "analyse", "ab12cd34", "--margin", "correct"])
    assert status == 2
    assert "expected METRIC=NUMBER" in capsys.readouterr().err
    assert not missing.exists()


def _imports(path: Path) -> set[str]:
    """The modules a source file imports (at any depth: lazy imports count)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_session_end_imports_downward_only() -> None:
    """No layer below the front imports `cli`; the analysis does not import the reports
    (they import it: a report of an unanalysed run analyses it first)."""
    below_the_front = [
        path
        for folder in ("review", "session", "store", "run", "declare", "util")
        for path in sorted((_PACKAGE / folder).rglob("*.py"))
    ]
    assert below_the_front
    importing_cli = [p.name for p in below_the_front if "pytest_crucible.cli" in _imports(p)]
    assert importing_cli == []
    analysis_imports = _imports(_PACKAGE / "review" / "analyse_run.py")
    assert not [
        name for name in analysis_imports if name.startswith("pytest_crucible.review.reports")
    ]
    for starter in ("recorder.py", "analysis_child.py"):
        # the pytest process starts the child by module name, never imports its heavy side
        assert "pytest_crucible.review.session_end" not in _imports(_PACKAGE / "session" / starter)
