"""`classify(exc, handling)`: is a failed attempt worth retrying?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pytest_crucible.declare.policies._errors import ClassifierError
from pytest_crucible.util.hints import status_code_of

if TYPE_CHECKING:
    from pytest_crucible.declare.policies._error_handling import ErrorHandling

Classification = Literal["retry", "permanent"]

__all__ = ["classify", "is_fatal"]

# Built-in knowledge, by type. The most specific class in an exception's MRO decides.
_BUILTIN: dict[type[BaseException], Classification] = {
    TimeoutError: "retry",  # also asyncio.TimeoutError and socket.timeout
    ConnectionError: "retry",  # refused, reset, aborted, broken pipe
    AssertionError: "permanent",
    TypeError: "permanent",
    ValueError: "permanent",
    LookupError: "permanent",  # KeyError, IndexError
    AttributeError: "permanent",
    NameError: "permanent",
    ArithmeticError: "permanent",  # ZeroDivisionError, OverflowError
    ImportError: "permanent",
    NotImplementedError: "permanent",
}

# Built-in knowledge, by class name, for SDKs we do not import (matched anywhere in the MRO,
# nearest first). Their status errors are covered by the status-code rules.
_BY_NAME: dict[str, Classification] = {
    # httpx, by name so that importing this module does not cost httpx's import (50 ms)
    "httpx.TransportError": "retry",  # timeouts, network errors, remote protocol errors
    "httpx.UnsupportedProtocol": "permanent",  # a bad URL scheme: retrying cannot help
    "httpx.LocalProtocolError": "permanent",  # our request is malformed
    "APITimeoutError": "retry",  # openai, anthropic
    "APIConnectionError": "retry",  # openai, anthropic
    "ClientConnectionError": "retry",  # aiohttp
    "ServerTimeoutError": "retry",  # aiohttp
    "Failed": "permanent",  # pytest.fail (a BaseException: never retried anyway)
    # pytest_crucible.llm's model-call errors (named, not imported: that layer sits below).
    # The backend already retried the HTTP call; "unavailable" may clear up later, the
    # others will not.
    "ModelUnavailableError": "retry",
    "ModelRequestError": "permanent",  # also ModelAuthError
    "ModelConfigError": "permanent",
    "ModelResponseError": "permanent",
}


def is_fatal(exc: BaseException) -> bool:
    """True for exceptions that must propagate at once and are never retried:
    KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit, pytest's outcomes
    (everything that is a BaseException but not an Exception)."""
    return not isinstance(exc, Exception)


def classify(exc: BaseException, handling: ErrorHandling) -> Classification:
    """ "retry" or "permanent", deciding in this order:

    1. fatal exceptions (`is_fatal`) are permanent, whatever the rest says;
    2. the user's `handling.classify(exc)` hook, unless it returns None;
    3. `handling.retry_on` / `handling.permanent` types (most specific match wins);
    4. an explicit boolean `exc.retryable` attribute (e.g. metric validation's retry policy);
    5. the HTTP status the exception carries, against the two status-code lists;
    6. built-in knowledge: timeouts and connection errors retry; programming errors
       (AssertionError, TypeError, ValueError, KeyError, ...) and pytest's `Failed` do not;
    7. otherwise `handling.unknown` ("permanent" by default).
    """
    if is_fatal(exc):
        return "permanent"
    for rule in (_user_rule, _type_rule, _attribute_rule, _status_rule, _builtin_rule):
        decided = rule(exc, handling)
        if decided is not None:
            return decided
    return handling.unknown


def _user_rule(exc: BaseException, handling: ErrorHandling) -> Classification | None:
    hook = handling.classify
    if hook is None:
        return None
    name = getattr(hook, "__qualname__", repr(hook))
    try:
        answer = hook(exc)
    except Exception as err:
        raise ClassifierError(
            f"ErrorHandling(classify={name}) raised {type(err).__name__}: {err} while "
            f"classifying {type(exc).__name__}: {exc}; make the hook return None for "
            "errors it does not know"
        ) from err
    if answer is not None and answer not in ("retry", "permanent"):
        raise ClassifierError(
            f"ErrorHandling(classify={name}) returned {answer!r} for {type(exc).__name__}; "
            "return 'retry', 'permanent' or None (no opinion)"
        )
    return answer


def _type_rule(exc: BaseException, handling: ErrorHandling) -> Classification | None:
    table: dict[type[BaseException], Classification] = dict.fromkeys(handling.retry_on, "retry")
    table.update(dict.fromkeys(handling.permanent, "permanent"))
    return _nearest(exc, table)


def _attribute_rule(exc: BaseException, handling: ErrorHandling) -> Classification | None:
    flag = getattr(exc, "retryable", None)
    if isinstance(flag, bool):
        return "retry" if flag else "permanent"
    return None


def _status_rule(exc: BaseException, handling: ErrorHandling) -> Classification | None:
    code = status_code_of(exc)
    if code is None:
        return None
    if code in handling.retry_status_codes:
        return "retry"
    if code in handling.permanent_status_codes:
        return "permanent"
    return None


def _builtin_rule(exc: BaseException, handling: ErrorHandling) -> Classification | None:
    for cls in type(exc).__mro__:
        if cls in _BUILTIN:
            return _BUILTIN[cls]
        if cls.__name__ in _BY_NAME:
            return _BY_NAME[cls.__name__]
        if cls.__module__.startswith("httpx"):
            rule = _BY_NAME.get(f"httpx.{cls.__name__}")
            if rule is not None:
                return rule
    return None


def _nearest(
    exc: BaseException, table: dict[type[BaseException], Classification]
) -> Classification | None:
    for cls in type(exc).__mro__:
        if cls in table:
            return table[cls]
    return None
