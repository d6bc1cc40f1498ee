"""`crucible analyse RUN [RUN ...]`: analyse runs again, decide their gates, write reports.

The same review the session end runs (`review/session_end.py`), from the command line: the
analysis is stored with each run; exit 1 when a gate failed, 3 when a run's analysis or
reports failed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from pytest_crucible.cli._store import StoreLocation, open_runs
from pytest_crucible.review.request import Review, ReviewRequest

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "analyse",
        parents=[shared],
        help="analyse runs and print their summary (gates, baselines, reports)",
        description=__doc__,
    )
    parser.add_argument(
        "run_ids", nargs="+", metavar="RUN", help="a run id, a unique prefix, latest[:EXPERIMENT]"
    )
    parser.add_argument("--json-lines", action="store_true", help="one JSON object per run")
    parser.add_argument("--gate", action="append", default=[], metavar="EXPR")
    parser.add_argument("--compare", default=None, metavar="NAME|RUN_ID|PATH")
    parser.add_argument("--margin", action="append", default=[], metavar="METRIC=M")
    parser.add_argument("--strict", action="store_true", help="inconclusive baseline = FAIL")
    parser.add_argument("--save-baseline", default=None, metavar="NAME")
    parser.add_argument("--baselines-dir", default=None, metavar="DIR")
    parser.add_argument(
        "--gate-summary",
        default=None,
        metavar="FILE",
        help="append the gates as Markdown (e.g. $GITHUB_STEP_SUMMARY)",
    )
    parser.add_argument(
        "--reports",
        default=None,
        metavar="DIR",
        help="write reports under DIR/<experiment>/<run_id>/",
    )
    parser.add_argument("--formats", default="html,md,tex,ipynb")
    parser.set_defaults(handler=_analyse)


def _analyse(options: argparse.Namespace) -> int:
    from pytest_crucible.review.session_end import review_runs

    request = _request(options)  # a bad margin or format fails before the store is read
    location = StoreLocation.of(getattr(options, "store", None))
    with open_runs(options, *options.run_ids) as (_, runs):
        run_ids = tuple(run.run_id for run in runs)
    request = dataclasses.replace(
        request, store=location.location, side_folder=location.side_folder, run_ids=run_ids
    )
    if options.json_lines:
        return review_runs(request, lambda review: print(json.dumps(review.to_json())))
    return review_runs(request, lambda review: print(_text(review)))


def _request(options: argparse.Namespace) -> ReviewRequest:
    """The command line as a review request (its store and runs set later): margins and
    formats checked here."""
    from pytest_crucible.review.gates.decide import GateSettings, parse_margins

    baselines_dir = {"baselines_dir": Path(options.baselines_dir)} if options.baselines_dir else {}
    gating = GateSettings(
        gates=tuple(options.gate),
        compare=options.compare,
        margins=parse_margins(options.margin, "--margin"),
        strict=options.strict,
        save_baseline=options.save_baseline,
        **baselines_dir,
    )
    formats: list[str] = []
    if options.reports:
        from pytest_crucible.review.reports import parse_formats

        formats = parse_formats(options.formats)
    return ReviewRequest(
        store="",
        gating=gating,
        reports=Path(options.reports) if options.reports else None,
        formats=tuple(formats),
        gate_summary=Path(options.gate_summary) if options.gate_summary else None,
    )


def _text(review: Review) -> str:
    return "\n\n".join(part for part in (review.text, review.gate_text) if part)
