"""Reports of a stored run: HTML, Markdown, LaTeX, a notebook, and the data as files.

    from pytest_crucible.review.reports import write_reports, FORMATS
    paths = write_reports(store, run_id, out_dir)               # every format
    paths = write_reports(store, run_id, out_dir, ["md"])       # Markdown only

The exports (results.csv, results.jsonl, results.parquet when pyarrow is installed,
analysis.json, config.json, environment.json, dataset.jsonl, manifest.json, README.md) are
always written. A run without a stored analysis is analysed first (and the analysis stored).
Pure: no pytest here; jinja2 (HTML) and nbformat (notebook) come with the `report` extra.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Collection
from pathlib import Path

from pytest_crucible.review.reports._content import Report
from pytest_crucible.review.reports._report_data import ReportError, load_run
from pytest_crucible.review.stored_run import StoredRun
from pytest_crucible.store import ResultStore

__all__ = [
    "FORMATS",
    "ReportError",
    "default_output_dir",
    "parse_formats",
    "summary_html",
    "write_reports",
]

FORMATS = ("html", "md", "tex", "ipynb")
_ALIASES = {"markdown": "md", "latex": "tex", "notebook": "ipynb", "jupyter": "ipynb"}
_NEEDS = {"html": ("jinja2", "jinja2"), "ipynb": ("nbformat", "nbformat")}
DEFAULT_ROOT = Path("crucible-results")


def write_reports(
    store: ResultStore,
    run_id: str,
    out_dir: Path,
    formats: Collection[str] = FORMATS,
    loaded: StoredRun | None = None,
) -> list[Path]:
    """Write the chosen reports and every export of a run into out_dir (created if needed);
    return the paths written, exports first, manifest.json last. With "html", also
    summary.html: the fragment of `summary_html`, for pytest-html's summary section.
    `loaded`: the run's header and trials with outputs, when the caller has loaded them."""
    from pytest_crucible.review.reports._bundle import write_manifest, write_readme
    from pytest_crucible.review.reports._content import build_report
    from pytest_crucible.review.reports.exports import write_exports

    chosen = parse_formats(formats)
    run = load_run(store, run_id, loaded)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_exports(run, store, out_dir)
    report = build_report(run)
    for name in chosen:
        written.append(_write_format(name, report, out_dir))
    if "html" in chosen:  # for a host page (pytest-html's summary), read by another process
        from pytest_crucible.review.reports._io import write_text
        from pytest_crucible.review.reports.html import render_summary

        written.append(write_text(out_dir / "summary.html", render_summary(report)))
    written.append(write_readme(run, out_dir))
    written.append(write_manifest(run, written, out_dir))
    return written


def summary_html(store: ResultStore, run_id: str) -> str:
    """The run's conclusions and per-condition tables as an escaped HTML fragment (no
    script), e.g. for pytest-html's summary section. Analyses the run if needed."""
    from pytest_crucible.review.reports._content import build_report
    from pytest_crucible.review.reports.html import render_summary

    return render_summary(build_report(load_run(store, run_id)))


def _write_format(name: str, report: Report, out_dir: Path) -> Path:
    from pytest_crucible.review.reports._io import write_text

    if name == "html":
        from pytest_crucible.review.reports.html import render_html

        return write_text(out_dir / "report.html", render_html(report))
    if name == "md":
        from pytest_crucible.review.reports.markdown import render_markdown

        return write_text(out_dir / "report.md", render_markdown(report))
    if name == "tex":
        from pytest_crucible.review.reports.latex import render_latex

        return write_text(out_dir / "report.tex", render_latex(report))
    from pytest_crucible.review.reports.notebook import render_notebook

    return write_text(out_dir / "analysis.ipynb", render_notebook(report.run))


def parse_formats(formats: Collection[str] | str) -> list[str]:
    """Formats in FORMATS order from a collection or a comma-separated string ("html,md");
    "all" means every format, "none" or "" none. Raises ReportError naming an unknown format
    or a missing optional dependency."""
    words = formats.split(",") if isinstance(formats, str) else list(formats)
    names: set[str] = set()
    for word in (w.strip().lower() for w in words):
        if word in ("", "none"):
            continue
        if word == "all":
            names.update(FORMATS)
            continue
        name = _ALIASES.get(word, word)
        if name not in FORMATS:
            raise ReportError(
                f"report format {word!r} is unknown; choose from {', '.join(FORMATS)} "
                "(comma-separated, e.g. html,md), 'all' or 'none'"
            )
        names.add(name)
    for name in names:
        module, package = _NEEDS.get(name, ("", ""))
        if module and importlib.util.find_spec(module) is None:
            raise ReportError(
                f"the {name} report needs {package}, which is not installed: "
                f"pip install 'pytest-crucible[report]', or leave {name} out of the formats"
            )
    return [name for name in FORMATS if name in names]


def default_output_dir(experiment: str, run_id: str, root: Path = DEFAULT_ROOT) -> Path:
    """`crucible-results/<experiment>/<run_id>/`, with both names made safe for a path."""
    from pytest_crucible.review.reports._safe import safe_name

    return Path(root) / safe_name(experiment) / safe_name(run_id)
