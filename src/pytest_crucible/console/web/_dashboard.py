"""The dashboard's own addresses: the pages of experiments and runs, rendered on the server
by jinja2 with autoescape on (templates/), each at its own address; JSON under /api/ that
mirrors console/watch.py; /api/runs/RUN_ID/events, which streams a live run (live.py) as
server-sent events; and the trial and log filters a page or a call asks for.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pytest_crucible.console import watch
from pytest_crucible.console.errors import ConsoleError, NotFound
from pytest_crucible.console.web._error_pages import unknown_api
from pytest_crucible.console.web._optional_parts import results_module
from pytest_crucible.console.web.access import StoreAccess
from pytest_crucible.console.web.live import Event, Feeds, View
from pytest_crucible.console.web.pages import STRICT_HEADERS, page, query_int, query_text
from pytest_crucible.console.web.steering import Discovery
from pytest_crucible.errors import CrucibleError
from pytest_crucible.store.locations import masked_in

__all__ = ["TRIALS_PER_PAGE", "Dashboard"]

TRIALS_PER_PAGE = 50
_LOG_LEVELS = ("debug", "info", "warning", "error")


class Dashboard:
    """The pages and JSON of the dashboard's own addresses."""

    def __init__(self, access: StoreAccess, feeds: Feeds, discovery: Discovery | None) -> None:
        self._access = access
        self._feeds = feeds
        self._discovery = discovery

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.experiments_page, name="experiments"),
            Route("/experiments/{name:path}", self.experiment_page, name="experiment"),
            Route("/runs", self.runs_page, name="runs"),
            Route("/runs/{run_id}", self.run_page, name="run"),
            Route("/api/experiments", self.api(watch.experiments)),
            Route("/api/experiments/{name:path}", self.api(watch.experiment, "name")),
            Route("/api/runs", self.api_runs),
            Route("/api/runs/{run_id}", self.api(watch.run, "run_id")),
            Route("/api/runs/{run_id}/progress", self.api(watch.progress, "run_id")),
            Route("/api/runs/{run_id}/trials", self.api_trials),
            Route("/api/runs/{run_id}/trials/{trial_key}", self.api_trial),
            Route("/api/runs/{run_id}/logs", self.api_logs),
            Route("/api/runs/{run_id}/events", self.events),
            Route("/api/{rest:path}", unknown_api),
        ]

    # -- pages --------------------------------------------------------------------------

    async def experiments_page(self, request: Request) -> Response:
        stored, note = await self._stored_experiments()
        found, problem = await self._discovered()
        known = {experiment["name"] for experiment in stored}
        return page(
            request,
            "experiments.html",
            headers=STRICT_HEADERS,
            stored=stored,
            discovered=[one for one in found if one.get("name") not in known],
            discovered_all=found,
            steering=self._discovery is not None,
            note=note,
            problem=problem,
            store=self._access.shown,
        )

    async def experiment_page(self, request: Request) -> Response:
        name = request.path_params["name"]
        found, problem = await self._discovered()
        declared = next((one for one in found if one.get("name") == name), None)
        try:
            stored = await self._access.read(watch.experiment, name)
        except NotFound:
            if declared is None:
                raise
            stored = None
        return page(
            request,
            "experiment.html",
            headers=STRICT_HEADERS,
            name=name,
            stored=stored,
            declared=declared,
            problem=problem,
        )

    async def runs_page(self, request: Request) -> Response:
        experiment = query_text(request, "experiment")
        runs, note = [], None
        try:
            runs = await self._access.read(watch.runs, experiment)
        except NotFound as exc:  # no store yet
            note = str(exc)
        return page(
            request,
            "runs.html",
            headers=STRICT_HEADERS,
            runs=runs,
            experiment=experiment,
            note=note,
        )

    async def run_page(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        view = _view(request)
        run = await self._access.read(watch.run, run_id)
        trials = await self._access.read(
            watch.trials, run_id, view.offset, view.limit, view.condition, view.item, view.status
        )
        pages = max(1, -(-trials["total"] // TRIALS_PER_PAGE))
        return page(
            request,
            "run.html",
            headers=STRICT_HEADERS,
            run=run,
            trials=trials,
            view=view,
            page_number=view.offset // TRIALS_PER_PAGE + 1,
            pages=pages,
            levels=_LOG_LEVELS,
            statuses=("passed", "failed", "skipped"),
            events_url=_events_url(request, run_id, view),
            has_results=results_module() is not None,
            steering=self._discovery is not None,
        )

    # -- JSON ---------------------------------------------------------------------------

    def api(self, read: Callable[..., Any], *params: str) -> Callable[[Request], Any]:
        async def answer(request: Request) -> Response:
            args = [request.path_params[name] for name in params]
            return JSONResponse(await self._access.read(read, *args))

        return answer

    async def api_runs(self, request: Request) -> Response:
        return JSONResponse(await self._access.read(watch.runs, query_text(request, "experiment")))

    async def api_trials(self, request: Request) -> Response:
        view = _view(request, by_offset=True)
        found = await self._access.read(
            watch.trials,
            request.path_params["run_id"],
            view.offset,
            view.limit,
            view.condition,
            view.item,
            view.status,
        )
        return JSONResponse(found)

    async def api_trial(self, request: Request) -> Response:
        params = request.path_params
        return JSONResponse(
            await self._access.read(watch.trial, params["run_id"], params["trial_key"])
        )

    async def api_logs(self, request: Request) -> Response:
        view = _view(request)
        found = await self._access.read(
            watch.logs,
            request.path_params["run_id"],
            after_id=query_int(request, "after_id", 0),
            limit=query_int(request, "limit", 200),
            level=view.level,
            condition=view.condition,
            item=view.item,
        )
        return JSONResponse(found)

    async def events(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        view = _view(request, by_offset=True)
        seen = request.headers.get("last-event-id", "").strip()
        if seen.isdigit():
            view = dataclasses.replace(view, after_id=max(view.after_id, int(seen)))
        stream = self._feeds.events(run_id, view)
        first = await anext(stream)  # an unknown run fails here, as a 404, before streaming
        return EventSourceResponse(_sse(first, stream), ping=15)

    # -- helpers ------------------------------------------------------------------------

    async def _stored_experiments(self) -> tuple[list[dict[str, Any]], str | None]:
        try:
            return await self._access.read(watch.experiments), None
        except NotFound as exc:  # no store yet: the page says how to make one
            return [], str(exc)

    async def _discovered(self) -> tuple[list[dict[str, Any]], str | None]:
        """The experiments in the project's test files (none without steering), or why they
        could not be found."""
        if self._discovery is None:
            return [], None
        try:
            return await self._discovery.experiments(), None
        except CrucibleError as exc:
            return [], masked_in(str(exc))


async def _sse(first: Event, stream: AsyncIterator[Event]) -> AsyncIterator[dict[str, str]]:
    yield _sse_message(first)
    async for event in stream:
        yield _sse_message(event)


def _sse_message(event: Event) -> dict[str, str]:
    """An event as SSE; a batch of log lines carries its last id, which the browser sends
    back as Last-Event-ID when it reconnects (so no line is shown twice)."""
    message = {"event": event.kind, "data": json.dumps(event.data)}
    if event.kind == "logs" and event.data:
        message["id"] = str(event.data[-1]["id"])
    return message


def _view(request: Request, *, by_offset: bool = False) -> View:
    """The trials page and log filters a page or a call asks for: `?page=N` (from 1) on
    pages, `?offset=&limit=` on the API; `condition`, `item`, `status`, `level` filters."""
    if by_offset:
        offset = query_int(request, "offset", 0)
        limit = query_int(request, "limit", TRIALS_PER_PAGE)
    else:
        number = query_int(request, "page", 1)
        if number < 1:
            raise ConsoleError(f"page={number}: pages are numbered from 1")
        offset, limit = (number - 1) * TRIALS_PER_PAGE, TRIALS_PER_PAGE
    level = query_text(request, "level")
    if level is not None and level not in _LOG_LEVELS:
        raise ConsoleError(f"level={level!r}: give one of {', '.join(_LOG_LEVELS)}")
    return View(
        offset=offset,
        limit=limit,
        condition=query_text(request, "condition"),
        item=query_text(request, "item"),
        status=query_text(request, "status"),
        level=level,
        after_id=query_int(request, "after_id", 0),
    )


def _events_url(request: Request, run_id: str, view: View) -> str:
    from urllib.parse import quote, urlencode

    query = {
        "offset": view.offset,
        "limit": view.limit,
        **{
            key: value
            for key, value in (
                ("condition", view.condition),
                ("item", view.item),
                ("status", view.status),
                ("level", view.level),
            )
            if value is not None
        },
    }
    return f"/api/runs/{quote(run_id, safe='')}/events?{urlencode(query)}"
