"""What a failure says about retrying it: the HTTP status an exception carries, and how long a
server asked us to wait (Retry-After, from an exception or from response headers).

Duck-typed so that no SDK has to be imported: httpx, the openai and anthropic SDKs and aiohttp
all expose one of these shapes.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["http_date_delay", "parse_retry_after", "retry_after_of", "status_code_of"]

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
    return http_date_delay(raw, now)


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


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from the headers `retry-after-ms` or `retry-after` (delta seconds or an
    HTTP date), keys in lower case; None when absent or unreadable. A negative delay counts as
    0 (a model backend's reading: the server said "now"; `retry_after_of` ignores it)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000.0
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            return max(value, 0.0)
    text = headers.get("retry-after")
    if text is None:
        return None
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        return http_date_delay(text, now)
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def http_date_delay(text: str, now: float | None = None) -> float | None:
    """Seconds from `now` (default: the current time) until an HTTP date, never negative;
    None when `text` is not one."""
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
