"""The `crucible` command: list stored runs, analyse a run.

crucible runs [--store PATH] [--experiment NAME]
crucible analyse RUN_ID [RUN_ID ...] [--store PATH] [--json-lines] [--gate EXPR ...]
    [--compare REF] [--margin METRIC=M ...] [--strict] [--save-baseline NAME]
    [--gate-summary FILE] [--reports DIR --formats html,md,tex,ipynb]
crucible report RUN_ID [--store PATH] [--output DIR] [--formats html,md,tex,ipynb]
crucible import [--store PATH]

Exit status: 0 done, 1 a gate failed, 2 a usage error (an unknown run, gate or baseline),
3 an internal error: a run's analysis failed or its reports could not be written (the error
goes to stderr; the other runs are still analysed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.request import Review, ReviewRequest, ReviewStatus
from pytest_crucible.store import DEFAULT_STORE, open_store
from pytest_crucible.store.journal import import_journals, journal_folder

__all__ = ["GATE_FAILED", "INTERNAL_ERROR", "USAGE_ERROR", "main"]

# the exit statuses, under their names of old (`ReviewStatus` owns them)
GATE_FAILED, USAGE_ERROR, INTERNAL_ERROR = (
    ReviewStatus.GATE_FAILED,
    ReviewStatus.USAGE_ERROR,
    ReviewStatus.INTERNAL_ERROR,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crucible", description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(DEFAULT_STORE), help="the SQLite results store")
    commands = parser.add_subparsers(dest="command", required=True)
    runs = commands.add_parser("runs", help="list stored runs, newest first")
    runs.add_argument("--experiment", default=None)
    analyse = commands.add_parser("analyse", help="analyse runs and print their summary")
    analyse.add_argument("run_ids", nargs="+", metavar="RUN_ID")
    analyse.add_argument("--json-lines", action="store_true", help="one JSON object per run")
    analyse.add_argument("--gate", action="append", default=[], metavar="EXPR")
    analyse.add_argument("--compare", default=None, metavar="NAME|RUN_ID|PATH")
    analyse.add_argument("--margin", action="append", default=[], metavar="METRIC=M")
    analyse.add_argument("--strict", action="store_true", help="inconclusive baseline = FAIL")
    analyse.add_argument("--save-baseline", default=None, metavar="NAME")
    analyse.add_argument("--baselines-dir", default=None, metavar="DIR")
    analyse.add_argument(
        "--gate-summary",
        default=None,
        metavar="FILE",
        help="append the gates as Markdown (e.g. $GITHUB_STEP_SUMMARY)",
    )
    analyse.add_argument(
        "--reports",
        default=None,
        metavar="DIR",
        help="write reports under DIR/<experiment>/<run_id>/",
    )
    analyse.add_argument("--formats", default="html,md,tex,ipynb")
    report = commands.add_parser(
        "report", help="write a run's reports and exports (HTML, Markdown, LaTeX, notebook)"
    )
    report.add_argument("run_id", metavar="RUN_ID", help="a run id, or 'latest'")
    report.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="where to write (default: crucible-results/<experiment>/<run_id>/)",
    )
    report.add_argument(
        "--formats",
        default="html,md,tex,ipynb",
        help="comma-separated: html, md, tex, ipynb, all or none (exports are always written)",
    )
    commands.add_parser(
        "import",
        help="store the finished trials that wait in journals (killed runs, refused writes)",
    )
    options = parser.parse_args(argv)
    try:
        if options.command == "import":
            return _import(options.store)
        if options.command == "runs":
            return _runs(options.store, options.experiment)
        if options.command == "report":
            return _report(options.store, options.run_id, options.output, options.formats)
        return _analyse(options)
    except CrucibleError as exc:
        print(f"crucible: {exc}", file=sys.stderr)
        return USAGE_ERROR


def _import(path: str) -> int:
    """Import the journals of the store (`journal.py`); exit 1 when some stay unimported."""
    store = open_store(path, readonly=not Path(path).exists())  # a missing store: say so
    try:
        imported = import_journals(store)
    finally:
        store.close()
    print(f"crucible: {imported.message() or 'no finished trial waited in a journal'}")
    for reason in imported.kept:
        print(f"crucible: not imported: {reason}", file=sys.stderr)
    return 1 if imported.kept else 0


def _runs(path: str, experiment: str | None) -> int:
    store = open_store(path, readonly=True)
    waiting = journal_folder(store.path)
    if any(waiting.glob("*.jsonl")):
        print(
            f"crucible: finished trials wait in journals ({waiting}); "
            f"`crucible --store {path} import` stores them",
            file=sys.stderr,
        )
    try:
        for run in store.runs(experiment):
            print(
                f"{run.run_id}  {run.experiment:<24} {run.status:<11} "
                f"{run.passed_trials}/{run.total_trials} passed  {run.started_at[:19]}"
            )
    finally:
        store.close()
    return 0


def _analyse(options: argparse.Namespace) -> int:
    """Analyse runs (and decide gates, write reports); exit 1 when a gate failed, 3 when a
    run's analysis or reports failed."""
    from pytest_crucible.review.session_end import review_runs

    if options.json_lines:
        return review_runs(_request(options), lambda review: print(json.dumps(review.to_json())))
    return review_runs(_request(options), lambda review: print(_text(review)))


def _request(options: argparse.Namespace) -> ReviewRequest:
    """The command line as a review request: margins and formats checked here."""
    from pytest_crucible.review.gates.decide import GateSettings, parse_margins

    baselines_dir = {"baselines_dir": Path(options.baselines_dir)} if options.baselines_dir else {}
    gating = GateSettings(
        gates=tuple(options.gate),
        compare=options.compare,
        margins=parse_margins(options.margin),
        strict=options.strict,
        save_baseline=options.save_baseline,
        **baselines_dir,
    )
    formats: list[str] = []
    if options.reports:
        from pytest_crucible.review.reports import parse_formats

        formats = parse_formats(options.formats)
    return ReviewRequest(
        store=Path(options.store),
        run_ids=tuple(options.run_ids),
        gating=gating,
        reports=Path(options.reports) if options.reports else None,
        formats=tuple(formats),
        gate_summary=Path(options.gate_summary) if options.gate_summary else None,
    )


def _text(review: Review) -> str:
    return "\n\n".join(part for part in (review.text, review.gate_text) if part)


def _report(path: str, run_id: str, output: str | None, formats: str) -> int:

    from pytest_crucible.review.reports import default_output_dir, parse_formats, write_reports

    chosen = parse_formats(formats)  # a typo fails before the store is touched
    if not Path(path).exists():
        raise CrucibleError(f"store {path} does not exist; run `pytest --crucible` first")
    store = open_store(path)
    try:
        if run_id == "latest":
            runs = store.runs()
            if not runs:
                raise CrucibleError(f"store {path} holds no runs yet")
            run_id = runs[0].run_id
        run = store.run(run_id)
        if run is None:
            known = ", ".join(r.run_id for r in store.runs()[:10]) or "(none)"
            raise CrucibleError(f"store {path} has no run {run_id!r}; runs: {known}")
        out = Path(output) if output else default_output_dir(run.experiment, run_id)
        written = write_reports(store, run_id, out, chosen)
    finally:
        store.close()
    print(f"crucible: wrote {len(written)} files for run {run_id} to {out}/")
    for file in written:
        print(f"  {file.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
