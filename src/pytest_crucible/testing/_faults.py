"""Injected faults: what the mock server does instead of answering, and how often."""

from __future__ import annotations

import math
import threading
from dataclasses import KW_ONLY, asdict, dataclass, replace
from typing import Any, Literal

from pytest_crucible.testing._errors import MockServerError

__all__ = ["Fault", "FaultPlan"]

FaultKind = Literal["status", "timeout", "malformed", "disconnect"]
_KINDS = ("status", "timeout", "malformed", "disconnect")
GENERATION_PATHS = ("/v1/chat/completions", "/v1/messages")
GEMINI_GENERATION = ("/v1beta/models/", ":generateContent")  # prefix and suffix of its path


@dataclass(frozen=True)
class Fault:
    """One injected fault, applied to up to `times` matching requests (None: every one).

    Kinds: `status` (an error response with `status`, and a Retry-After header when
    `retry_after` is set), `timeout` (hold the request `delay` seconds, default 30, then
    answer normally, or close the connection when `then="drop"`), `malformed` (200 with a
    body that is not JSON) and `disconnect` (close the connection without a response).
    `kind` is inferred as "status" when only `status` is given.

    A fault matches a request when `path` (default: every generation endpoint, Gemini's
    too) equals the request's path and `match` (default: anything) is a substring of the last
    user message.
    For kinds other than timeout, `delay` (default 0) is waited before the fault happens.
    """

    status: int | None = None
    _: KW_ONLY
    kind: FaultKind | None = None
    times: int | None = 1
    retry_after: float | None = None
    match: str | None = None
    path: str | None = None
    delay: float | None = None
    then: Literal["answer", "drop"] = "answer"
    message: str | None = None

    def __post_init__(self) -> None:
        kind = self.kind or ("status" if self.status is not None else None)
        if kind is None:
            raise MockServerError(
                "Fault needs status=... (e.g. Fault(status=429)) or kind='timeout', "
                "'malformed' or 'disconnect'"
            )
        if kind not in _KINDS:
            raise MockServerError(f"Fault(kind={kind!r}): unknown kind; use one of {_KINDS}")
        object.__setattr__(self, "kind", kind)
        self._check_status(kind)
        if self.times is not None and (
            isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1
        ):
            raise MockServerError(
                f"Fault(times={self.times!r}): give a count >= 1, or None for every request"
            )
        for name in ("retry_after", "delay"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int | float) or not value >= 0):
                raise MockServerError(f"Fault({name}={value!r}): give seconds >= 0, or None")
            if value is not None and math.isinf(value) and name == "retry_after":
                raise MockServerError(f"Fault(retry_after={value!r}): give a finite number")
        if self.then not in ("answer", "drop"):
            raise MockServerError(f"Fault(then={self.then!r}): use 'answer' or 'drop'")
        if self.path is not None and not self.path.startswith("/"):
            raise MockServerError(
                f"Fault(path={self.path!r}): give a request path such as '/v1/chat/completions'"
            )

    def _check_status(self, kind: str) -> None:
        if kind == "status":
            status = self.status
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
                raise MockServerError(
                    f"Fault(status={status!r}): give an HTTP error status from 400 to 599 "
                    "(429, 500, 502, 503, 504, 400, 401, 403, 404, ...)"
                )
        elif self.status is not None:
            raise MockServerError(
                f"Fault(kind={kind!r}, status={self.status}): status applies only to "
                "kind='status'; drop one of them"
            )
        if self.retry_after is not None and kind != "status":
            raise MockServerError(
                f"Fault(kind={kind!r}): retry_after applies only to status faults"
            )

    @property
    def hold(self) -> float:
        """Seconds to wait before the fault happens."""
        if self.delay is not None:
            return float(self.delay)
        return 30.0 if self.kind == "timeout" else 0.0

    @property
    def label(self) -> str:
        """How the fault is counted in stats: the status code, or the kind."""
        return str(self.status) if self.kind == "status" else str(self.kind)

    def matches(self, path: str, last_user: str) -> bool:
        if self.path is None:
            prefix, suffix = GEMINI_GENERATION
            gemini = path.startswith(prefix) and path.endswith(suffix)
            if path not in GENERATION_PATHS and not gemini:
                return False
        elif path != self.path:
            return False
        return self.match is None or self.match in last_user

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fault:
        if not isinstance(data, dict):
            raise MockServerError(f"a fault must be a JSON object, not {data!r}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise MockServerError(f"invalid fault {data!r}: {exc}") from exc


@dataclass
class _Entry:
    fault: Fault
    left: int | None


class FaultPlan:
    """The faults of one server and how many uses each has left; safe across threads."""

    def __init__(self, faults: list[Fault] | tuple[Fault, ...] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: list[_Entry] = []
        self.replace(faults)

    def replace(self, faults: list[Fault] | tuple[Fault, ...]) -> None:
        entries: list[_Entry] = []
        for fault in faults:
            if not isinstance(fault, Fault):
                raise MockServerError(
                    f"faults: {fault!r} is not a Fault; write e.g. Fault(status=429, times=2)"
                )
            entries.append(_Entry(fault, fault.times))
        with self._lock:
            self._entries = entries

    def take(self, path: str, last_user: str) -> Fault | None:
        """The first matching fault with uses left, using one of them; None if none applies."""
        with self._lock:
            for entry in self._entries:
                if entry.left == 0 or not entry.fault.matches(path, last_user):
                    continue
                if entry.left is not None:
                    entry.left -= 1
                return entry.fault
        return None

    def current(self) -> list[Fault]:
        """The faults with uses left, each with `times` set to what is left."""
        with self._lock:
            entries = [entry for entry in self._entries if entry.left != 0]
            return [replace(entry.fault, times=entry.left) for entry in entries]

    def describe(self) -> list[dict[str, Any]]:
        """Each fault as a dict, with `remaining` uses (None: unlimited)."""
        with self._lock:
            return [{**entry.fault.to_dict(), "remaining": entry.left} for entry in self._entries]
