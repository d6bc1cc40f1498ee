"""What an exception says about itself: an HTTP status code, a Retry-After hint.

Duck-typed so that no SDK has to be imported: httpx, the openai and anthropic SDKs and aiohttp
all expose one of these shapes.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import math
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["retry_after_of", "status_code_of"]

_STATUS_ATTRIBUTES = ("status_code", "status", "http_status")


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status an exception carries, or None.

    Looked up, in order: `exc.status_code` (openai, anthropic, many SDKs), `exc.status`
    (aiohttp's ClientResponseError), `exc.http_status`, then the same names on `exc.response`
    (httpx.HTTPStatusError keeps its `response`). Only integers 100..599 count.
    """
    for owner in (exc, getattr(exc, "response", None)):
        if owner is None:
            continue
        for name in _STATUS_ATTRIBUTES:
            code = _as_status(getattr(owner, name, None))
            if code is not None:
                return code
    return None


def _as_status(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    code = int(value)  # IntEnum (http.HTTPStatus) -> int
    return code if 100 <= code <= 599 else None


def retry_after_of(exc: BaseException, *, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait before retrying, or None.

    Sources, in order: an attribute `exc.retry_after` (seconds, a numeric string or a
    timedelta); the response headers `retry-after-ms` and `retry-after` (seconds or an HTTP
    date, relative to `now`, default the current time) of `exc.response`, as carried by
    httpx.HTTPStatusError and the openai/anthropic SDKs' status errors. Negative, non-finite
    or unparsable hints are ignored.
    """
    direct = _seconds(getattr(exc, "retry_after", None))
    if direct is not None:
        return direct
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None or not hasattr(headers, "items"):
        return None
    lowered = {str(k).lower(): v for k, v in _items(headers)}
    millis = _seconds(lowered.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000.0
    raw = lowered.get("retry-after")
    seconds = _seconds(raw)
    if seconds is not None or not isinstance(raw, str):
        return seconds
    return _http_date_delay(raw, time.time() if now is None else now)


def _items(headers: Any) -> Iterable[tuple[Any, Any]]:
    try:
        return list(headers.items())
    except Exception:  # a headers object we do not understand: no hint
        return []


def _seconds(value: Any) -> float | None:
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    elif isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _http_date_delay(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return max(0.0, when.timestamp() - now)
