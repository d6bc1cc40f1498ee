"""Rendering the dashboard's pages: one jinja2 environment with autoescape on for every
template (results.py renders its pages with it too), its filters, and the query values a page
reads."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from pytest_crucible.console.errors import ConsoleError

__all__ = ["STRICT_HEADERS", "page", "query_int", "query_text", "templates"]

_TEMPLATES = Path(__file__).parent / "templates"


def _duration(seconds: Any) -> str:
    """12.3 s, 4 min 05 s, 2 h 03 min."""
    if not isinstance(seconds, int | float):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _when(stamp: Any) -> str:
    """An ISO 8601 UTC time as `2026-12-04 04:34:46 UTC`."""
    if not isinstance(stamp, str):
        return ""
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def _cost(value: Any) -> str:
    return f"${value:.4f}" if isinstance(value, int | float) else ""


def _percent(fraction: Any) -> str:
    return f"{100 * fraction:.0f}%" if isinstance(fraction, int | float) else ""


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,  # every value shown is escaped: item text and outputs are hostile
        undefined=jinja2.ChainableUndefined,
    )
    environment.filters.update(duration=_duration, when=_when, cost=_cost, percent=_percent)
    return environment


templates = Jinja2Templates(env=_environment())


# The dashboard's own pages run no inline script and load nothing from elsewhere: even a value
# that escaped escaping could not run (results.py's pages choose their own headers)
STRICT_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" makes a form's Origin "null"
}


def page(
    request: Request,
    template: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    return templates.TemplateResponse(
        request, template, context, status_code=status_code, headers=headers
    )


def query_text(request: Request, name: str) -> str | None:
    """A query value, None when absent or blank."""
    value = request.query_params.get(name, "").strip()
    return value or None


def query_int(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConsoleError(f"{name}={value!r}: give a whole number") from None
