"""classify(exc, handling): the order of the rules and the built-in knowledge."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_crucible.errors import CrucibleError
from pytest_crucible.run.recovery import ClassifierError, ErrorHandling, classify, is_fatal

DEFAULT = ErrorHandling()


class Failed(BaseException):
    """Stands in for pytest's outcome exception (matched by name, never imported)."""


class APITimeoutError(Exception):
    """Shaped like the openai/anthropic SDK's timeout error."""


class APIConnectionError(Exception):
    pass


class SDKTimeout(APITimeoutError):
    pass


class Weird(Exception):
    pass


class ModelCallError(Exception):
    """Shaped like pytest_crucible.llm's model-call errors (a `status`, maybe None)."""

    def __init__(self, status: int | None = None) -> None:
        super().__init__(f"model call failed (status {status})")
        self.status = status


class ModelUnavailableError(ModelCallError):
    pass


class ModelRequestError(ModelCallError):
    pass


class ModelAuthError(ModelRequestError):
    pass


class ModelResponseError(ModelCallError):
    pass


class StatusError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


class Flagged(Exception):
    def __init__(self, retryable: object) -> None:
        super().__init__("flagged")
        self.retryable = retryable


def http_error(status: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "http://127.0.0.1/")
    response = httpx.Response(status, request=request)
    return httpx.HTTPStatusError(f"{status}", request=request, response=response)


REQUEST = httpx.Request("GET", "http://127.0.0.1/")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # timeouts and connection errors
        (TimeoutError("slow"), "retry"),
        (ConnectionRefusedError(), "retry"),
        (ConnectionResetError(), "retry"),
        (BrokenPipeError(), "retry"),
        (httpx.ReadTimeout("slow", request=REQUEST), "retry"),
        (httpx.ConnectError("refused", request=REQUEST), "retry"),
        (httpx.RemoteProtocolError("server hung up", request=REQUEST), "retry"),
        (httpx.UnsupportedProtocol("ftp://"), "permanent"),
        (httpx.LocalProtocolError("bad header"), "permanent"),
        (APITimeoutError(), "retry"),
        (SDKTimeout(), "retry"),
        (APIConnectionError(), "retry"),
        # model-call errors of pytest_crucible.llm: by status, else by name
        (ModelUnavailableError(None), "retry"),  # timeouts that did not clear up
        (ModelUnavailableError(503), "retry"),
        (ModelAuthError(401), "permanent"),
        (ModelRequestError(409), "permanent"),
        (ModelResponseError(200), "permanent"),
        # status codes
        (http_error(429), "retry"),
        (http_error(503), "retry"),
        (http_error(529), "retry"),
        (http_error(401), "permanent"),
        (http_error(422), "permanent"),
        (http_error(418), "permanent"),  # unlisted -> unknown
        (StatusError(502), "retry"),
        (StatusError(400), "permanent"),
        # programming errors and test outcomes
        (AssertionError("wrong"), "permanent"),
        (TypeError("bad call"), "permanent"),
        (ValueError("bad value"), "permanent"),
        (json.JSONDecodeError("bad", "x", 0), "permanent"),
        (KeyError("missing"), "permanent"),
        (IndexError("missing"), "permanent"),
        (AttributeError("missing"), "permanent"),
        (ZeroDivisionError(), "permanent"),
        (NotImplementedError(), "permanent"),
        (Failed("pytest.fail"), "permanent"),
        # fatal
        (KeyboardInterrupt(), "permanent"),
        (SystemExit(1), "permanent"),
        (asyncio.CancelledError(), "permanent"),
        # unknown
        (Weird(), "permanent"),
        (RuntimeError("?"), "permanent"),
        (CrucibleError("ours"), "permanent"),
        # explicit flag
        (Flagged(True), "retry"),
        (Flagged(False), "permanent"),
        (Flagged("yes"), "permanent"),  # only a real bool counts; Weird-like otherwise
    ],
)
def test_default_classification(exc: BaseException, expected: str) -> None:
    assert classify(exc, DEFAULT) == expected


@pytest.mark.parametrize(
    ("exc", "expected"),
    [(Weird(), "retry"), (RuntimeError(), "retry"), (ValueError(), "permanent")],
)
def test_unknown_exceptions_can_be_retried(exc: BaseException, expected: str) -> None:
    assert classify(exc, ErrorHandling(unknown="retry")) == expected


def test_the_user_classifier_decides_first_and_none_falls_through() -> None:
    seen: list[BaseException] = []

    def hook(exc: BaseException) -> str | None:
        seen.append(exc)
        if isinstance(exc, ValueError):
            return "retry"
        if isinstance(exc, TimeoutError):
            return "permanent"
        return None

    handling = ErrorHandling(classify=hook, permanent=(ValueError,))  # type: ignore[arg-type]
    assert classify(ValueError("flaky parse"), handling) == "retry"
    assert classify(TimeoutError(), handling) == "permanent"
    assert classify(ConnectionResetError(), handling) == "retry"  # fell through to built-ins
    assert len(seen) == 3


def test_the_user_classifier_is_not_asked_about_fatal_exceptions() -> None:
    handling = ErrorHandling(classify=lambda exc: "retry")
    assert classify(KeyboardInterrupt(), handling) == "permanent"
    assert classify(ValueError(), handling) == "retry"


def test_a_classifier_that_raises_is_reported_with_both_errors() -> None:
    def broken(exc: BaseException) -> str | None:
        raise RuntimeError("hook bug")

    handling = ErrorHandling(classify=broken)  # type: ignore[arg-type]
    with pytest.raises(ClassifierError, match=r"broken.*hook bug.*ValueError: x") as info:
        classify(ValueError("x"), handling)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_a_classifier_that_answers_nonsense_is_reported() -> None:
    handling = ErrorHandling(classify=lambda exc: "maybe")  # type: ignore[arg-type,return-value]
    with pytest.raises(ClassifierError, match=r"returned 'maybe'.*'retry', 'permanent' or None"):
        classify(ValueError(), handling)


def test_explicit_types_beat_status_codes_and_builtins() -> None:
    handling = ErrorHandling(retry_on=(ValueError,), permanent=(TimeoutError, StatusError))
    assert classify(ValueError(), handling) == "retry"
    assert classify(TimeoutError(), handling) == "permanent"
    assert classify(StatusError(503), handling) == "permanent"


def test_the_most_specific_explicit_type_wins() -> None:
    handling = ErrorHandling(retry_on=(OSError,), permanent=(FileNotFoundError,))
    assert classify(FileNotFoundError(), handling) == "permanent"
    assert classify(PermissionError(), handling) == "retry"
    handling = ErrorHandling(retry_on=(ConnectionRefusedError,), permanent=(OSError,))
    assert classify(ConnectionRefusedError(), handling) == "retry"
    assert classify(ConnectionResetError(), handling) == "permanent"


def test_status_code_lists_are_settable() -> None:
    handling = ErrorHandling(retry_status_codes=(409,), permanent_status_codes=(429,))
    assert classify(StatusError(409), handling) == "retry"
    assert classify(StatusError(429), handling) == "permanent"
    assert classify(StatusError(503), handling) == "permanent"  # no longer listed: unknown


def test_the_retryable_flag_beats_status_codes() -> None:
    exc = StatusError(400)
    exc.retryable = True  # type: ignore[attr-defined]
    assert classify(exc, DEFAULT) == "retry"


@pytest.mark.parametrize(
    ("exc", "fatal"),
    [
        (KeyboardInterrupt(), True),
        (SystemExit(0), True),
        (asyncio.CancelledError(), True),
        (GeneratorExit(), True),
        (Failed(), True),
        (Exception(), False),
        (TimeoutError(), False),
    ],
)
def test_is_fatal(exc: BaseException, fatal: bool) -> None:
    assert is_fatal(exc) is fatal


EXCEPTIONS = st.sampled_from(
    [
        TimeoutError,
        ConnectionResetError,
        ValueError,
        KeyError,
        RuntimeError,
        Weird,
        KeyboardInterrupt,
        SystemExit,
        asyncio.CancelledError,
        Failed,
    ]
)


@given(
    exc_type=EXCEPTIONS,
    answer=st.sampled_from(["retry", "permanent", None]),
    unknown=st.sampled_from(["retry", "permanent"]),
)
def test_classification_is_total_and_fatal_is_never_retried(
    exc_type: type[BaseException], answer: str | None, unknown: str
) -> None:
    handling = ErrorHandling(classify=lambda exc: answer, unknown=unknown)  # type: ignore[arg-type,return-value]
    result = classify(exc_type(), handling)
    assert result in ("retry", "permanent")
    if is_fatal(exc_type()):
        assert result == "permanent"
    elif answer is not None:
        assert result == answer
