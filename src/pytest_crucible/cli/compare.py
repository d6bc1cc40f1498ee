"""`crucible compare RUN_A RUN_B`: run B against run A, paired on items, as a baseline gate.

Run A is the reference. Per condition and metric: the mean of each run, the per-item
difference d = B - A (repeats averaged within items first, oriented so that d > 0 is better),
its one-sided lower confidence bound, the p value of "B is worse than A by more than the
margin" (Holm-adjusted over the comparisons), and one of three verdicts: regression,
noninferior or inconclusive. The statistics are those of `--crucible-compare` (docs/ci.md).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from pytest_crucible.cli._store import open_runs

if TYPE_CHECKING:
    from pytest_crucible.review.gates import BaselineComparison

__all__ = ["add_parser"]

_RUN_HELP = "a run id, a unique prefix of one, latest[:EXPERIMENT]"
_FAILED = 1  # as a failed gate


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "compare",
        parents=[shared],
        help="run B against run A of one experiment: paired per item, as a baseline gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_a", metavar="RUN_A", help=f"the reference run: {_RUN_HELP}")
    parser.add_argument("run_b", metavar="RUN_B", help=f"the run compared with it: {_RUN_HELP}")
    parser.add_argument(
        "--margin",
        action="append",
        default=[],
        metavar="METRIC=M",
        help="how much worse B may be, in the metric's units (CONDITION.METRIC=M for one "
        "condition, *=M for every metric; default 0); repeatable",
    )
    parser.add_argument(
        "--alpha", type=float, default=None, help="default: the alpha of run B's analysis"
    )
    parser.add_argument("--strict", action="store_true", help="an inconclusive verdict fails")
    parser.add_argument("--format", choices=("text", "json", "md"), default="text")
    parser.add_argument(
        "--fail-on-regression",
        action="store_true",
        help="exit 1 when B is shown worse than A by more than the margin (with --strict, "
        "also when inconclusive), as a gate fails CI",
    )
    parser.set_defaults(handler=_compare)


def _compare(options: argparse.Namespace) -> int:
    from pytest_crucible.review.compare_runs import compare_runs
    from pytest_crucible.review.gates.decide import parse_margins

    margins = parse_margins(options.margin, "--margin")
    with open_runs(options, options.run_a, options.run_b) as (store, (run_a, run_b)):
        reference, current = run_a.run_id, run_b.run_id
        comparison = compare_runs(
            store,
            reference,
            current,
            margins=margins,
            alpha=options.alpha,
            strict=options.strict,
        )
    print(_formatted(comparison, reference, current, options.format))
    return _FAILED if options.fail_on_regression and not comparison.passed else 0


def _formatted(comparison: BaselineComparison, reference: str, current: str, form: str) -> str:
    from pytest_crucible.review.gates import format_markdown, format_text

    if form == "json":
        data = {"run_a": reference, "run_b": current, **comparison.to_dict()}
        return json.dumps(data, indent=2, ensure_ascii=False)
    heading = (
        f"run {current} (B) against run {reference} (A, the baseline) of "
        f"{comparison.experiment}: d = B - A per item, repeats averaged within items"
    )
    if form == "md":
        return f"{heading}\n\n{format_markdown([], comparison)}".rstrip()
    shown = format_text([], comparison)
    if not comparison.verdicts:
        shown += "\n  nothing compared: the runs share no metric with passed values"
    return f"{heading}\n{shown}"
