"""`crucible report RUN`: write a run's reports and exports (HTML, Markdown, LaTeX, notebook)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pytest_crucible.cli._store import open_runs

__all__ = ["add_parser"]


def add_parser(commands: Any, shared: argparse.ArgumentParser) -> None:
    parser = commands.add_parser(
        "report",
        parents=[shared],
        help="write a run's reports and exports (HTML, Markdown, LaTeX, notebook)",
        description=__doc__,
    )
    parser.add_argument(
        "run_id", metavar="RUN", help="a run id, a unique prefix of one, latest[:EXPERIMENT]"
    )
    parser.add_argument(
        "--output",
        default=None,
        metavar="DIR",
        help="where to write (default: crucible-results/<experiment>/<run_id>/)",
    )
    parser.add_argument(
        "--formats",
        default="html,md,tex,ipynb",
        help="comma-separated: html, md, tex, ipynb, all or none (exports are always written)",
    )
    parser.set_defaults(handler=_report)


def _report(options: argparse.Namespace) -> int:
    from pytest_crucible.review.reports import default_output_dir, parse_formats, write_reports

    chosen = parse_formats(options.formats)  # a typo fails before the store is touched
    # writable: a run not analysed yet gets its analysis stored
    with open_runs(options, options.run_id, writable=True) as (store, (run,)):
        output = options.output
        out = Path(output) if output else default_output_dir(run.experiment, run.run_id)
        written = write_reports(store, run.run_id, out, chosen)
    print(f"crucible: wrote {len(written)} files for run {run.run_id} to {out}/")
    for file in written:
        print(f"  {file.name}")
    return 0
