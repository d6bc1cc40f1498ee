"""A finished run's pages: results, one trial, two conditions side by side, two runs compared.

`routes` is included by the app (console/web/app.py), which keeps the open store as
`app.state.store`. Every page has its own address:

- `/runs/{run_id}/results`: the report's results (summary, gates, conditions, comparisons,
  plots, failures) and the trials a page at a time, each linked to its own page;
- `/runs/{run_id}/trials/{trial_key}`: input, expected, output, metrics, results, error,
  logs, artifacts; `.../artifacts/{name}` downloads one (never rendered as a page);
- `/runs/{run_id}/side-by-side?a=COND&b=COND&page=N`: per item, a's and b's outputs;
- `/compare` (a form) and `/compare/{run_a}/{run_b}`: run b against run a, paired per item,
  as `crucible compare` decides it (`?margin=METRIC=M`, `alpha`, `strict`).

Text from runs (outputs, items, names) only reaches a page through jinja2's autoescape.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pytest_crucible.console.web import _results_views as views
from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.reports._format import ci_cell, num, pnum, usd
from pytest_crucible.review.reports._safe import safe_name
from pytest_crucible.review.reports.html import TEMPLATES as REPORT_TEMPLATES
from pytest_crucible.store import ResultStore

if TYPE_CHECKING:
    import jinja2

__all__ = ["routes"]

TEMPLATES = Path(__file__).parent / "templates"
_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# a downloaded artifact is data, never a document: no script, no plugin, no sniffing
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-store",
}


def _store(request: Request) -> ResultStore:
    store: ResultStore = request.app.state.store
    return store


@cache
def _environment() -> jinja2.Environment:
    import jinja2

    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(TEMPLATES), jinja2.FileSystemLoader(REPORT_TEMPLATES)]
    )
    env = jinja2.Environment(loader=loader, autoescape=True)
    env.globals.update(num=num, ci_cell=ci_cell, pnum=pnum, usd=usd, fmt=_fmt, q=_segment)
    return env


def _fmt(value: float | None, digits: int = 3) -> str:
    from pytest_crucible.review.gates._result import fmt

    return fmt(value, digits)


def _segment(text: Any) -> str:
    """User text as one URL path segment (a `/` in it stays inside the segment)."""
    return quote(str(text), safe="")


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _environment().get_template(template).render(request=request, **context)
    return HTMLResponse(html, status_code=status)


def _failed(request: Request, error: CrucibleError) -> HTMLResponse:
    status = 404 if isinstance(error, views.NotFound) else 400
    return _page(request, "results_error.html", status, message=str(error))


def _int(request: Request, name: str, default: int = 1) -> int:
    try:
        return max(1, int(request.query_params.get(name, default)))
    except ValueError:
        return default


def _text(request: Request, name: str) -> str | None:
    return request.query_params.get(name) or None


def results_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    condition, status = _text(request, "condition"), _text(request, "status")
    try:
        report, plots = views.results_view(_store(request), run_id)
        trials, pages = views.trials_listing(
            _store(request), run_id, _int(request, "page"), condition, status
        )
    except CrucibleError as error:
        return _failed(request, error)
    filters = {k: v for k, v in (("condition", condition), ("status", status)) if v}
    return _page(
        request,
        "results_run.html",
        r=report,
        plots=plots,
        run_id=run_id,
        trials=trials,
        pages=pages,
        filters=filters,
        query=urlencode(filters),
    )


def trial_page(request: Request) -> Response:
    run_id, key = request.path_params["run_id"], request.path_params["trial_key"]
    try:
        trial = views.trial_view(_store(request), run_id, key)
    except CrucibleError as error:
        return _failed(request, error)
    return _page(request, "results_trial.html", run_id=run_id, t=trial)


def artifact_download(request: Request) -> Response:
    params = request.path_params
    try:
        entry = views.artifact_of(
            _store(request), params["run_id"], params["trial_key"], params["name"]
        )
    except CrucibleError as error:
        return _failed(request, error)
    return _artifact_response(str(entry.get("name", "artifact")), entry)


def _artifact_response(name: str, entry: dict[str, Any]) -> Response:
    """The artifact's bytes: an image type for an image, text/plain for text, else octet
    bytes; anything but an image comes as an attachment."""
    data = entry.get("data")
    if entry.get("encoding") == "base64" and isinstance(data, str):
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raw = data.encode()
    else:
        raw = (data if isinstance(data, str) else repr(data)).encode()
    guessed = mimetypes.guess_type(name)[0]
    image = guessed in _IMAGES and entry.get("encoding") == "base64"
    media = guessed if image and guessed else _text_or_bytes(raw)
    filename = safe_name(name)
    disposition = "inline" if image else "attachment"
    headers = {
        **_DOWNLOAD_HEADERS,
        "Content-Disposition": f'{disposition}; filename="{filename}"; '
        f"filename*=UTF-8''{quote(name, safe='')}",
    }
    return Response(raw, media_type=media, headers=headers)


def _text_or_bytes(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain; charset=utf-8"


def side_by_side_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    try:
        view = views.side_by_side_view(
            _store(request), run_id, _text(request, "a"), _text(request, "b"), _int(request, "page")
        )
    except CrucibleError as error:
        return _failed(request, error)
    query = urlencode({"a": view["a"], "b": view["b"]})
    return _page(request, "results_side_by_side.html", run_id=run_id, v=view, query=query)


def compare_form(request: Request) -> Response:
    run_a, run_b = _text(request, "a"), _text(request, "b")
    if run_a and run_b:
        kept = request.query_params.multi_items()
        rest = urlencode([(k, v) for k, v in kept if k not in ("a", "b") and v])
        target = f"/compare/{_segment(run_a)}/{_segment(run_b)}" + (f"?{rest}" if rest else "")
        return RedirectResponse(target, status_code=303)
    runs = _store(request).runs()
    return _page(request, "results_compare.html", runs=runs, chosen=(run_a, run_b), view=None)


def compare_page(request: Request) -> Response:
    from pytest_crucible.review.gates.decide import parse_margins

    run_a, run_b = request.path_params["run_a"], request.path_params["run_b"]
    store = _store(request)
    context: dict[str, Any] = {"runs": store.runs(), "chosen": (run_a, run_b), "view": None}
    try:
        margins = parse_margins(request.query_params.getlist("margin"), "margin")
        comparison, title = views.compare_view(
            store, run_a, run_b, margins, _alpha(request), bool(_text(request, "strict"))
        )
    except CrucibleError as error:
        status = 404 if isinstance(error, views.NotFound) else 400
        return _page(request, "results_compare.html", status, error=str(error), **context)
    context["view"] = {"comparison": comparison, "title": title, "run_a": run_a, "run_b": run_b}
    return _page(request, "results_compare.html", **context)


def _alpha(request: Request) -> float | None:
    text = _text(request, "alpha")
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise CrucibleError(f"alpha {text!r}: expected a number such as 0.05") from None


def report_css(request: Request) -> Response:
    """The report's stylesheet: the results page lays out its sections as report.html does."""
    css = (REPORT_TEMPLATES / "report.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css")


routes: list[Route] = [
    Route("/runs/{run_id}/results", results_page),
    Route("/runs/{run_id}/trials/{trial_key}", trial_page),
    Route("/runs/{run_id}/trials/{trial_key}/artifacts/{name:path}", artifact_download),
    Route("/runs/{run_id}/side-by-side", side_by_side_page),
    Route("/compare", compare_form),
    Route("/compare/{run_a}/{run_b}", compare_page),
    Route("/results/report.css", report_css),
]
