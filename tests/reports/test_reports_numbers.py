"""What the reports say about their numbers: the correction family, unadjusted intervals and
why one excludes 0 beside "no difference", the interval methods, too few items."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from pytest_crucible.review.reports import write_reports
from pytest_crucible.store.records import TrialRecord
from pytest_crucible.store.sqlite import Store

CONDITIONS = ("base", "c1", "c2", "c3", "c4")


def _five_condition_run(tmp_path: Path, builders: SimpleNamespace) -> tuple[Store, str]:
    """40 items; c4 solves more than base (raw McNemar p < 0.05), the others do not differ:
    Holm over 4 comparisons x 2 metrics leaves c4 - base short of significance."""
    rng = np.random.default_rng(3)
    base = rng.random(40) < 0.5
    solved = {"base": base}
    for name, shift in (("c1", 0.0), ("c2", 0.0), ("c3", 0.0), ("c4", 0.3)):
        solved[name] = np.where(base, rng.random(40) < 0.9, rng.random(40) < shift + 0.05)
    store = Store(tmp_path / "crucible.db")
    run_id = store.create_run(builders.header("five", CONDITIONS, 40, 1, "base"), {})
    for condition in CONDITIONS:
        for index in range(40):
            result = builders.trial(
                condition,
                f"item-{index}",
                0,
                correct=bool(solved[condition][index]),
                latency=float(rng.random()),
                cost=None,
                output="",
            )
            store.record_trial(run_id, TrialRecord.from_json(result), "main")
    store.finish_run(run_id, "completed")
    return store, run_id


def test_reports_state_the_family_and_explain_an_interval_beside_no_difference(
    tmp_path: Path, builders: SimpleNamespace
) -> None:
    # before: "p_adj adjusted across all comparisons" and c4 - base "+0.20 [+0.03, +0.37]"
    # beside "no difference" with no word of why
    store, run_id = _five_condition_run(tmp_path, builders)
    out = tmp_path / "out"
    write_reports(store, run_id, out, ["html", "md", "latex"])
    family = "p-values Holm-adjusted in one family of 8 comparisons (metrics correct, latency_s)"
    why = "the interval is not adjusted for the 8 comparisons of its family"
    markdown = (out / "report.md").read_text()
    assert family.replace("_", "\\_") in markdown
    assert "| comparison | difference | unadjusted 95% CI | interval |" in markdown
    assert "Tango score" in markdown
    assert "† c4 − base: the 95% interval excludes 0 but the Holm-adjusted p" in markdown
    assert why in markdown
    page = (out / "report.html").read_text()
    assert family in page and why in page
    assert '<th class="num">unadjusted 95% CI</th><th>interval</th>' in page
    tex = next(out.glob("*.tex")).read_text()
    assert "unadjusted 95\\% CIs (each inverts its test)" in tex
    assert "$^\\dagger$" in tex


def test_a_condition_with_one_item_says_too_few_items(
    tmp_path: Path, builders: SimpleNamespace
) -> None:
    store = Store(tmp_path / "crucible.db")
    run_id = store.create_run(builders.header("one", ("terse", "few_shot"), 1, 3, "terse"), {})
    for condition in ("terse", "few_shot"):
        for repeat in range(3):
            result = builders.trial(
                condition, "item-0", repeat, correct=repeat > 0, latency=0.5, cost=None, output=""
            )
            store.record_trial(run_id, TrialRecord.from_json(result), "main")
    store.finish_run(run_id, "completed")
    write_reports(store, run_id, tmp_path / "out", ["html", "md"])
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| 0.67 | too few items | Wilson, effective n |" in markdown
    assert "too few items" in (tmp_path / "out" / "report.html").read_text()


def test_the_terminal_summary_and_the_reports_round_numbers_alike() -> None:
    from pytest_crucible.review.analysis._text import fmt
    from pytest_crucible.review.reports._format import num

    values = (0.0, 5e-4, -0.0123, 0.1, 0.567, 3.14159, -9.999, 10.0, 123.456, 98765.4, 1e9)
    for value in values:
        for binary in (False, True):
            for signed in (False, True):
                assert fmt(value, binary, signed) == num(value, binary, signed)
    assert (fmt(float("nan")), num(float("nan")), num(None)) == ("n/a", "n/a", "n/a")


def test_the_reports_package_loads_without_numpy_scipy_or_pandas() -> None:
    """The pytest process imports it to check --crucible-report (session.finish)."""
    import subprocess
    import sys

    probe = (
        "import sys, pytest_crucible.review.reports\n"
        "print(sorted(m for m in ('numpy', 'scipy', 'pandas') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
