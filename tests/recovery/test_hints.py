"""Status codes and Retry-After hints read off exceptions of various shapes."""

from __future__ import annotations

import datetime as dt
import email.utils
from http import HTTPStatus
from types import SimpleNamespace

import httpx
import pytest

from pytest_crucible.run.recovery import retry_after_of, status_code_of


def with_attrs(**attrs: object) -> Exception:
    exc = Exception("boom")
    for name, value in attrs.items():
        setattr(exc, name, value)
    return exc


def http_error(status: int, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/")
    response = httpx.Response(status, headers=headers, request=request)
    return httpx.HTTPStatusError(f"{status}", request=request, response=response)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (with_attrs(status_code=429), 429),  # openai / anthropic SDKs
        (with_attrs(status=503), 503),  # aiohttp ClientResponseError
        (with_attrs(http_status=500), 500),
        (with_attrs(status_code=HTTPStatus.BAD_GATEWAY), 502),
        (http_error(401), 401),  # httpx: on the response
        (with_attrs(response=SimpleNamespace(status=404)), 404),
        (with_attrs(status_code="429"), None),  # strings are not statuses
        (with_attrs(status_code=True), None),
        (with_attrs(status_code=42), None),  # out of range
        (with_attrs(status=-1), None),
        (ValueError("no status"), None),
    ],
)
def test_status_code_of(exc: BaseException, expected: int | None) -> None:
    assert status_code_of(exc) == expected


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (with_attrs(retry_after=3), 3.0),
        (with_attrs(retry_after=2.5), 2.5),
        (with_attrs(retry_after=" 4 "), 4.0),
        (with_attrs(retry_after=dt.timedelta(seconds=90)), 90.0),
        (with_attrs(retry_after=-1), None),
        (with_attrs(retry_after=float("nan")), None),
        (with_attrs(retry_after="soon"), None),
        (with_attrs(retry_after=None), None),
        (http_error(429, {"Retry-After": "12"}), 12.0),
        (http_error(429, {"retry-after-ms": "1500", "retry-after": "12"}), 1.5),
        (http_error(503, {"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}), 30.0),
        (http_error(503, {"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}), 0.0),
        (http_error(503, {"Retry-After": "Someday, never"}), None),
        (http_error(503), None),
        (with_attrs(response=SimpleNamespace(headers={"Retry-After": "5"})), 5.0),
        (with_attrs(response=SimpleNamespace(headers=None)), None),
        (KeyError("x"), None),
    ],
)
def test_retry_after_of(exc: BaseException, expected: float | None) -> None:
    assert retry_after_of(exc, now=NOW) == (pytest.approx(expected) if expected else expected)


def test_the_attribute_wins_over_the_header() -> None:
    exc = http_error(429, {"Retry-After": "12"})
    exc.retry_after = 2  # type: ignore[attr-defined]
    assert retry_after_of(exc) == 2.0
