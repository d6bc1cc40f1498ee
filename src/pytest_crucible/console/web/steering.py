"""The dashboard's steering pages (with `crucible serve --project PATH`): instances created and
edited through a form made from the experiment's config schema, runs started from them and
cancelled, the child runs this server started. Every change goes through console/steer.py.

Changes are POSTs of HTML forms. A POST from another site is refused (its Origin or
Sec-Fetch-Site header says so): a page elsewhere cannot start or cancel runs through a
browser that can reach the dashboard.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pytest_crucible.console.errors import ConsoleError, NotFound
from pytest_crucible.console.web.pages import STRICT_HEADERS, page, query_text

__all__ = ["Discovery", "SteeringPages"]

_MAX_FORM_BYTES = 1_000_000
_FRESH_S = 5.0


class Discovery:
    """The project's experiments, found again at most every `fresh_s` seconds: every page
    that lists them would otherwise start a child pytest collection."""

    def __init__(self, steering: Any, fresh_s: float = _FRESH_S) -> None:
        self._steering = steering
        self._fresh_s = fresh_s
        self._found: list[dict[str, Any]] = []
        self._at: float | None = None
        self._lock = asyncio.Lock()

    async def experiments(self) -> list[dict[str, Any]]:
        async with self._lock:  # watchers arriving together share one collection
            if self._at is None or time.monotonic() - self._at > self._fresh_s:
                self._found = list(await run_in_threadpool(self._steering.discover))
                self._at = time.monotonic()
            return self._found


class SteeringPages:
    def __init__(self, steering: Any, discovery: Discovery) -> None:
        self._steering = steering
        self._discovery = discovery

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/instances", self.instances_page, methods=["GET"]),
            Route("/instances", self.save, methods=["POST"]),
            Route("/instances/new", self.new_form, methods=["GET"]),
            Route("/instances/{name}/edit", self.edit_form, methods=["GET"]),
            Route("/instances/{name}/start", self.start, methods=["POST"]),
            Route("/instances/{name}/delete", self.delete, methods=["POST"]),
            Route("/launches/{launch_id}", self.launch_page, methods=["GET"]),
            Route("/runs/{run_id}/cancel", self.cancel, methods=["POST"]),
        ]

    # -- pages ----------------------------------------------------------------------------

    async def instances_page(self, request: Request) -> Response:
        instances = await self._call(self._steering.instances)
        launches = await self._call(self._steering.launches)
        return page(
            request,
            "instances.html",
            headers=STRICT_HEADERS,
            instances=instances,
            launches=sorted(launches, key=lambda launch: launch["started_at"], reverse=True),
        )

    async def new_form(self, request: Request) -> Response:
        name = query_text(request, "experiment")
        declared = await self._declared(name)
        return self._form(request, declared, {"experiment": name, "source": declared["source"]})

    async def edit_form(self, request: Request) -> Response:
        instance = await self._instance(request.path_params["name"])
        declared = await self._declared(instance["experiment"])
        return self._form(request, declared, instance, editing=True)

    async def launch_page(self, request: Request) -> Response:
        """A started run: its live page once the run exists, until then a page that looks
        again every second (a meta refresh: no script)."""
        launch_id = request.path_params["launch_id"]
        launches = await self._call(self._steering.launches)
        launch = next((one for one in launches if one["launch_id"] == launch_id), None)
        if launch is None:
            raise NotFound(f"no launch {launch_id!r}; the runs started here are on /instances")
        if launch["run_id"]:
            return RedirectResponse(f"/runs/{quote(launch['run_id'], safe='')}", 303)
        return page(request, "launch.html", headers=STRICT_HEADERS, launch=launch)

    # -- changes --------------------------------------------------------------------------

    async def save(self, request: Request) -> Response:
        form = await _form_values(request)
        values = _instance_values(form)
        try:
            await self._call(self._steering.save_instance, **values)
        except ConsoleError as exc:
            declared = await self._declared(values["experiment"])
            return self._form(request, declared, values, problem=str(exc), status_code=400)
        return RedirectResponse("/instances", 303)

    async def start(self, request: Request) -> Response:
        await _form_values(request)
        started = await self._call(self._steering.start_run, request.path_params["name"])
        return RedirectResponse(f"/launches/{quote(started['launch_id'], safe='')}", 303)

    async def delete(self, request: Request) -> Response:
        await _form_values(request)
        name = request.path_params["name"]
        if not await self._call(self._steering.delete_instance, name):
            raise NotFound(f"no instance {name!r}; the instances are listed on /instances")
        return RedirectResponse("/instances", 303)

    async def cancel(self, request: Request) -> Response:
        form = await _form_values(request)
        run_id = request.path_params["run_id"]
        reason = form.get("reason", "").strip() or "cancelled from the dashboard"
        await self._call(self._steering.cancel_run, run_id, reason)
        return RedirectResponse(f"/runs/{quote(run_id, safe='')}", 303)

    # -- helpers --------------------------------------------------------------------------

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(method, *args, **kwargs)

    async def _declared(self, experiment: str | None) -> dict[str, Any]:
        found = await self._discovery.experiments()
        declared = next((one for one in found if one["name"] == experiment), None)
        if declared is None:
            names = ", ".join(sorted(one["name"] for one in found)) or "none"
            raise NotFound(
                f"no experiment {experiment!r} in the project's test files; they declare: {names}"
            )
        return dict(declared)

    async def _instance(self, name: str) -> dict[str, Any]:
        instances = await self._call(self._steering.instances)
        found = next((one for one in instances if one["name"] == name), None)
        if found is None:
            raise NotFound(f"no instance {name!r}; the instances are listed on /instances")
        return dict(found)

    def _form(
        self,
        request: Request,
        declared: dict[str, Any],
        values: dict[str, Any],
        *,
        editing: bool = False,
        problem: str | None = None,
        status_code: int = 200,
    ) -> Response:
        return page(
            request,
            "instance_form.html",
            status_code=status_code,
            headers=STRICT_HEADERS,
            declared=declared,
            fields=(declared.get("config_schema") or {}).get("fields") or {},
            values=values,
            config=values.get("config") or {},
            editing=editing,
            problem=problem,
        )


async def _form_values(request: Request) -> dict[str, Any]:
    """An urlencoded form's values (a field given several times: a list), after refusing a
    request from another site."""
    _refuse_other_sites(request)
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise ConsoleError("the form is too large (over 1 MB); give shorter values")
    values: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        if key in values:
            values[key] = [*_as_list(values[key]), value]
        else:
            values[key] = value
    return values


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _refuse_other_sites(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != "null":
        if urlsplit(origin).netloc != request.headers.get("host"):
            raise ConsoleError(f"a change asked by another site ({origin}) is refused")
    elif request.headers.get("sec-fetch-site") == "cross-site" or origin == "null":
        raise ConsoleError("a change asked by another site is refused")


def _instance_values(form: dict[str, Any]) -> dict[str, Any]:
    """Steering.save_instance's arguments from the instance form: config fields are
    `config.NAME` (their type is the schema's: JSON numbers, booleans, lists as written)."""
    config = {
        key.removeprefix("config."): _field_value(form, key)
        for key in form
        if key.startswith("config.")
    }
    conditions = _as_list(form.get("conditions", []))
    return {
        "name": str(form.get("name", "")).strip(),
        "experiment": str(form.get("experiment", "")).strip(),
        "source": str(form.get("source", "")).strip(),
        "config": {key: value for key, value in config.items() if value is not None},
        "conditions": [str(one) for one in conditions] or None,
        "repeats": _number(form.get("repeats"), "repeats"),
        "seed": _number(form.get("seed"), "seed"),
        "description": str(form.get("description", "")),
    }


def _field_value(form: dict[str, Any], key: str) -> Any:
    """A config field as its schema's type (the form says which in `config-type.NAME`)."""
    name = key.removeprefix("config.")
    kind = str(form.get(f"config-type.{name}", "string"))
    text = _as_list(form[key])[-1]  # a checkbox sends its hidden "false" first, then "true"
    if kind == "string":
        return text
    if text == "":
        return None
    if kind == "boolean":
        return text == "true"
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConsoleError(f"config field {name}: {text!r} is not a {kind}; give one") from None


def _number(value: Any, name: str) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ConsoleError(f"{name}={text!r}: give a whole number, or leave it empty") from None
