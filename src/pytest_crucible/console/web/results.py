"""A finished run's pages: results, one trial, two conditions side by side, two runs compared.

`routes` is included by the app (console/web/app.py), which keeps its store reader as
`app.state.access` (reads run on a worker thread, one at a time). Every page has its own
address:

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
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pytest_crucible.console.errors import ConsoleError, NotFound
from pytest_crucible.console.web import _results_views as views
from pytest_crucible.console.web.access import StoreAccess
from pytest_crucible.console.web.pages import STRICT_HEADERS, query_int, query_text, templates
from pytest_crucible.errors import CrucibleError
from pytest_crucible.review.reports._format import ci_cell, num, pnum, usd
from pytest_crucible.review.reports._safe import safe_name
from pytest_crucible.review.reports.html import TEMPLATES as REPORT_TEMPLATES

if TYPE_CHECKING:
    import jinja2

__all__ = ["routes"]

_IMAGES = {"image/png", "image/jpeg", "image/gif", "image/webp"}
# a downloaded artifact is data, never a document: no script, no plugin, no sniffing
_DOWNLOAD_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-store",
}
# report.css rules for a whole page: the dashboard's own style lays out the page around
_PAGE_RULES = ("body ", "header, main", "nav a", "h1 ", "h2 ", "h3 ")


def _access(request: Request) -> StoreAccess:
    access: StoreAccess = request.app.state.access
    return access


@cache
def _environment() -> jinja2.Environment:
    """The dashboard's environment (autoescape, its filters), also finding the report's
    section templates (_results.html.j2, _failures.html.j2)."""
    import jinja2

    own = templates.env
    loader = jinja2.ChoiceLoader([own.loader, jinja2.FileSystemLoader(REPORT_TEMPLATES)])  # type: ignore[list-item]
    environment = own.overlay(loader=loader)
    environment.globals.update(num=num, ci_cell=ci_cell, pnum=pnum, usd=usd, fmt=_fmt, q=_segment)
    return environment


def _fmt(value: float | None, digits: int = 3) -> str:
    from pytest_crucible.review.gates import fmt

    return fmt(value, digits)


def _segment(text: Any) -> str:
    """User text as one URL path segment (a `/` in it stays inside the segment)."""
    return quote(str(text), safe="")


def _page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    html = _environment().get_template(template).render(request=request, **context)
    return Response(html, status, headers=STRICT_HEADERS, media_type="text/html")


def _page_number(request: Request) -> int:
    return max(1, query_int(request, "page", 1))


async def results_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    condition, status = query_text(request, "condition"), query_text(request, "status")
    report, plots = await _access(request).read(views.results_view, run_id)
    trials, pages = await _access(request).read(
        views.trials_listing, run_id, _page_number(request), condition, status
    )
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


async def trial_page(request: Request) -> Response:
    run_id, key = request.path_params["run_id"], request.path_params["trial_key"]
    trial = await _access(request).read(views.trial_view, run_id, key)
    return _page(request, "results_trial.html", run_id=run_id, t=trial)


async def artifact_download(request: Request) -> Response:
    params = request.path_params
    entry = await _access(request).read(
        views.artifact_of, params["run_id"], params["trial_key"], params["name"]
    )
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


async def side_by_side_page(request: Request) -> Response:
    run_id = request.path_params["run_id"]
    a, b = query_text(request, "a"), query_text(request, "b")
    view = await _access(request).read(views.side_by_side_view, run_id, a, b, _page_number(request))
    query = urlencode({"a": view["a"], "b": view["b"]})
    return _page(request, "results_side_by_side.html", run_id=run_id, v=view, query=query)


async def compare_form(request: Request) -> Response:
    run_a, run_b = query_text(request, "a"), query_text(request, "b")
    if run_a and run_b:
        kept = request.query_params.multi_items()
        rest = urlencode([(k, v) for k, v in kept if k not in ("a", "b") and v])
        target = f"/compare/{_segment(run_a)}/{_segment(run_b)}" + (f"?{rest}" if rest else "")
        return RedirectResponse(target, status_code=303)
    runs = await _access(request).read(_runs)
    return _page(request, "results_compare.html", runs=runs, chosen=(run_a, run_b), view=None)


async def compare_page(request: Request) -> Response:
    from pytest_crucible.review.gates.decide import parse_margins

    run_a, run_b = request.path_params["run_a"], request.path_params["run_b"]
    context: dict[str, Any] = {
        "runs": await _access(request).read(_runs),
        "chosen": (run_a, run_b),
        "view": None,
    }
    try:
        margins = parse_margins(request.query_params.getlist("margin"), "margin")
        comparison, title = await _access(request).read(
            views.compare_view,
            run_a,
            run_b,
            margins,
            _alpha(request),
            bool(query_text(request, "strict")),
        )
    except CrucibleError as error:  # shown above the form, to pick again
        status = 404 if isinstance(error, NotFound) else 400
        return _page(request, "results_compare.html", status, error=str(error), **context)
    context["view"] = {"comparison": comparison, "title": title, "run_a": run_a, "run_b": run_b}
    return _page(request, "results_compare.html", **context)


def _runs(store: Any) -> list[Any]:
    return list(store.runs())


def _alpha(request: Request) -> float | None:
    text = query_text(request, "alpha")
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise ConsoleError(f"alpha {text!r}: give a number such as 0.05") from None


async def report_css(request: Request) -> Response:
    """The report's rules for its tables and plots: the results page lays out the report's
    sections as report.html does, inside the dashboard's frame."""
    return Response(_report_css(), media_type="text/css")


@cache
def _report_css() -> str:
    text = (REPORT_TEMPLATES / "report.css").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith(_PAGE_RULES))


routes: list[Route] = [
    Route("/runs/{run_id}/results", results_page),
    Route("/runs/{run_id}/trials/{trial_key}", trial_page),
    Route("/runs/{run_id}/trials/{trial_key}/artifacts/{name:path}", artifact_download),
    Route("/runs/{run_id}/side-by-side", side_by_side_page),
    Route("/compare", compare_form),
    Route("/compare/{run_a}/{run_b}", compare_page),
    Route("/results/report.css", report_css),
]
